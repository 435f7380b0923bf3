/**
 * @file
 * The IMS/P2P client library behind `imsp2p-client`: one object that registers with the IMS,
 * publishes content (package, PUBLISH, wait for the result MESSAGE, seed), buys content
 * (MESSAGE, wait for the ticket document, .torrent from the content index, swarm download,
 * license from the DRM server), plays it within its rights, lists the catalogue and reports
 * its status.
 *
 * Data directory layout (everything the client keeps survives a restart):
 * - `device-key.jwk`: the device's X25519 private JWK (0600, created on first use); licenses
 *   are encrypted to it.
 * - `client-state.json`: the published items, the acquisitions and (seed box) the seed
 *   assignments (0600: the announce URLs carry tickets; replaced atomically).
 * - `published/<stem>-<8 hex>/`: the container, the torrent, `content-key.json` (0600) and
 *   `publish-request.json` (0600, the PUBLISH body, re-sent to renew the seed ticket) of each
 *   publication.
 * - `acquired/<DOI, percent-encoded>/`: the downloaded container, its torrent, `ticket.json`
 *   (0600) and `license.jws` of each acquisition.
 * - `seeded/<DOI, percent-encoded>/`: operator seed box only: the container and torrent of each
 *   seed assignment (see serve_seed_box()).
 * - `swarm/`: libtorrent resume data (see swarm.hpp); `usage.db`: the player's usage store.
 *
 * Threads: every blocking operation runs on the caller's thread and calls its progress
 * callback on that thread. The SIP user agent and the swarm are created on first use and run
 * threads of their own (see user_agent.hpp and swarm.hpp); no user code runs on them. One
 * operation at a time: the public member functions serialise on an internal mutex, except
 * status(), which may be called from any thread while an operation runs.
 */
#pragma once

#include <imsp2p/sip/bodies.hpp>
#include <imsp2p/sip/export.hpp>
#include <imsp2p/sip/message.hpp>
#include <imsp2p/sip/swarm.hpp>
#include <imsp2p/sip/user_agent.hpp>

#include <imsp2p/tracker/content_index.hpp>

#include <imsp2p/core/config.hpp>
#include <imsp2p/core/log.hpp>

#include <chrono>
#include <cstdint>
#include <filesystem>
#include <functional>
#include <memory>
#include <optional>
#include <ostream>
#include <string>
#include <system_error>
#include <vector>

namespace imsp2p::sip {

/**
 * Settings of an ims_client. A plain value type.
 *
 * Configuration keys read by from_config() (JSON pointers; relative paths resolve against the
 * configuration's base directory):
 * - `/data_dir` (required): the client's data directory
 * - `/impu`, `/impi`: the public and private identities (impi defaults to the IMPU without
 *   "sip:"); `/password` (Digest MD5) or `/usim_profile` (a pana::usim profile file: AKA)
 * - `/registrar` (default "sip:" + the IMPU's domain), `/outbound_proxy` (the P-CSCF, e.g.
 *   "sip:127.0.0.1:5060"), `/content_psi` (the content service's PSI, required for publish
 *   and acquire), `/transport` ("tcp" (default) or "udp"; PUBLISH always uses TCP)
 * - `/sip_listen` (default "sip:127.0.0.1:*"), `/register_expires` (duration, default "10m")
 * - `/drm_jwks`: the DRM server's JWK Set, a file or an http(s) URL (required for publish and
 *   play)
 * - `/index_url`: the content index base URL (list; acquire uses the ticket's torrent URL)
 * - `/bittorrent_listen` (default "127.0.0.1:0"), `/upload_rate_limit`,
 *   `/download_rate_limit` (bytes/s, 0 = unlimited)
 * - durations `/request_timeout` (default "40s"), `/result_timeout` (default "60s"),
 *   `/transfer_timeout` (default "1h")
 * - one-pass registration (seed 001 App. A): `/pana` (the PAA, "address" or "address:port";
 *   IPv6 as "[address]:port"), `/pana_ca` (PEM of the CA the PAA's certificate chains to),
 *   `/pana_certificate` and `/pana_private_key` (the UE's EAP-TLS certificate, whose
 *   subjectAltName rfc822Name is the IMPI, and its key), `/pana_server_name` (the DNS name
 *   the PAA's certificate must carry), `/realm` (the home realm of the proof; default: the
 *   IMPU's domain)
 * - `/operator_seed_box` (boolean, default false): this client is an operator seed box that
 *   accepts seed assignments from the content service (serve_seed_box())
 * - durations `/ticket_renewal_margin` (default "1h"; see renew_tickets()) and
 *   `/license_renewal_margin` (default "5m"; see play())
 * - `/initial_seeding` (boolean, default true): see client_settings::initial_seeding
 */
struct IMSP2P_SIP_EXPORT client_settings {
    /** The data directory (keys, state, containers, resume data); created if missing. */
    std::filesystem::path data_dir;
    /** The public identity, e.g. "sip:alice@ims.example". */
    std::string impu;
    /** The private identity (digest user name); empty: the IMPU without its scheme. */
    std::string impi;
    /** The Digest password (ignored when usim_profile is set). */
    std::string password;
    /** A USIM profile file (pana::usim::load()); set: registration answers Digest AKA. */
    std::filesystem::path usim_profile;
    /** The registrar URI; empty: "sip:" + the IMPU's domain. */
    std::string registrar;
    /** The outbound proxy (P-CSCF) URI every request goes through; empty: none. */
    std::string outbound_proxy;
    /** The content service's PSI (Request-URI of PUBLISH and the acquire MESSAGE). */
    std::string content_psi;
    /** The transport of requests through the outbound proxy (PUBLISH always uses TCP). */
    sip::transport transport = sip::transport::tcp;
    /** Where the SIP stack listens (UDP and TCP). */
    std::string sip_listen = "sip:127.0.0.1:*";
    /** The registration lifetime asked for. */
    std::chrono::seconds register_expires{600};
    /** The DRM server's JWK Set: a file path or an http(s) URL (of jwks.json or the server). */
    std::string drm_jwks;
    /** The content index base URL (used by list()); may be empty. */
    std::string index_url;
    /** Where the BitTorrent session listens (libtorrent listen_interfaces syntax). */
    std::string bittorrent_listen = "127.0.0.1:0";
    /** Session upload cap in bytes/s; 0 = unlimited. */
    int upload_rate_limit = 0;
    /** Session download cap in bytes/s; 0 = unlimited. */
    int download_rate_limit = 0;
    /** How long to wait for the final answer to a SIP request. */
    std::chrono::milliseconds request_timeout{40000};
    /** How long to wait for the AS's MESSAGE (ticket document, publish result). */
    std::chrono::milliseconds result_timeout{60000};
    /** How long a download may take. */
    std::chrono::milliseconds transfer_timeout{3600000};
    /**
     * The PAA of the access network, "address" or "address:port" (default port 716); set: the
     * first registration first runs PANA with EAP-TLS and then registers in one pass with the
     * exported token and an RFC 3893 identity body signed with the EAP-TLS certificate
     * (password or USIM credentials answer any challenge); empty: no PANA.
     */
    std::string pana_paa;
    /** PEM file of the CA the PAA's EAP-TLS certificate must chain to. */
    std::filesystem::path pana_ca;
    /** PEM file of the UE's EAP-TLS certificate (chain). */
    std::filesystem::path pana_certificate;
    /** PEM file of the UE's EAP-TLS private key. */
    std::filesystem::path pana_private_key;
    /** The DNS name the PAA's certificate must carry (subjectAltName); empty: any name
     *  chaining to pana_ca. */
    std::string pana_server_name;
    /** The home realm of the one-pass proof; empty: the IMPU's domain. */
    std::string realm;
    /**
     * This client is an operator seed box (seed 000 §7): serve_seed_box() accepts the content
     * service's seed assignments, copies the content and reports it seeded. The IMPU must be
     * one of the AS's configured operator seed boxes.
     */
    bool operator_seed_box = false;
    /**
     * Tickets (seed tickets of published items, leech tickets of complete acquisitions) that
     * expire within this margin are renewed by renew_tickets(); the `seed` daemon calls it
     * periodically, so a long-running seeder is never refused by the tracker.
     */
    std::chrono::seconds ticket_renewal_margin{std::chrono::hours(1)};
    /**
     * play() renews a license that expires within this margin from the DRM server before
     * playing (licenses are short-lived so that revocation takes effect).
     */
    std::chrono::seconds license_renewal_margin{std::chrono::minutes(5)};
    /**
     * Seed with swarm_settings::initial_seeding (the origin gives each piece about once and
     * the downloaders exchange the rest); false: plain seeding.
     */
    bool initial_seeding = true;

    /**
     * Reads the settings from a configuration (see the struct comment for the keys).
     * @param config the configuration
     * @return the settings
     * @throws std::system_error (core config errors) naming a missing or malformed setting
     */
    static client_settings from_config(const core::config& config);
};

/** The stage a long client operation is in (client_progress::stage). */
enum class client_stage {
    packaging,    ///< Encrypting the file and hashing the torrent (bytes of plain content).
    signalling,   ///< Waiting for SIP: registration, PUBLISH/MESSAGE and the AS's answer.
    downloading,  ///< Downloading the container from the swarm (bytes of the container).
    licensing,    ///< Fetching the license from the DRM server.
    decrypting,   ///< Decrypting the container (bytes of plain content).
};

/** @return the stage's name ("packaging", "signalling", ...) @param stage the stage */
IMSP2P_SIP_EXPORT std::string_view to_string(client_stage stage) noexcept;

/** A progress report of a long operation. A plain value type. */
struct client_progress {
    client_stage stage = client_stage::signalling;  ///< What is being done.
    std::uint64_t done_bytes = 0;                   ///< Bytes done (0 when not counted).
    std::uint64_t total_bytes = 0;                  ///< Bytes in all (0 when not counted).
    int rate = 0;                                   ///< Bytes/s (downloading only).
    int peers = 0;                                  ///< Connected peers (downloading only).
    std::string message;                            ///< A short description or error, or "".
};

/** The progress callback type: called on the operation's calling thread. */
using client_progress_callback = std::function<void(const client_progress&)>;

/** Content this client published. A plain value type (kept in client-state.json). */
struct published_item {
    std::string doi;                       ///< The DOI the AS confirmed (canonical form).
    std::string title;                     ///< The title published.
    std::string kid;                       ///< The content key id (32 hex digits).
    std::string infohash_v1;               ///< The torrent's v1 infohash (40 hex digits).
    std::string state;                     ///< "active" or "muted" (from the publish result).
    std::filesystem::path container_path;  ///< The .ipc being seeded.
    std::filesystem::path torrent_path;    ///< The .torrent.
    std::filesystem::path key_path;        ///< The content key file (0600).
    std::string seed_ticket;               ///< The seed ticket (JWT, aud tracker, role seed).
    std::string announce_url;              ///< The announce URL with the seed ticket.
    std::string torrent_url;               ///< Where the content index serves the torrent.
    std::chrono::sys_seconds expires{};    ///< When the seed ticket expires.
};

/** Content this client bought. A plain value type (kept in client-state.json). */
struct acquired_item {
    std::string doi;                       ///< The DOI (canonical form).
    std::string request_id;                ///< The acquire request id (reused on retries).
    bool complete = false;                 ///< Container downloaded and license stored.
    std::filesystem::path container_path;  ///< The downloaded .ipc.
    std::filesystem::path torrent_path;    ///< The .torrent.
    std::filesystem::path license_path;    ///< The license (compact JWS).
    std::string announce_url;              ///< The announce URL with the leech ticket.
    std::chrono::sys_seconds expires{};    ///< When the ticket and grant token expire.
};

/**
 * A seed assignment an operator seed box holds (kept in client-state.json from the moment it
 * arrives, so a restart resumes it). A plain value type.
 *
 * States: "copying" (recorded; the torrent is fetched and the container downloaded),
 * "seeded" (full copy held and seeded; the seed report is being sent), "reported" (the
 * content service answered the seed report with 2xx; seeding goes on), "failed" (refused for
 * good, e.g. the torrent's infohash differs from the assignment's; see error).
 */
struct seed_assignment_record {
    std::string assignment_id;             ///< The content service's assignment id.
    std::string doi;                       ///< The content (canonical form).
    std::string infohash_v1;               ///< The v1 infohash assigned (40 lower hex digits).
    std::string torrent_url;               ///< Where the content index serves the torrent.
    std::string announce_url;              ///< The announce URL with the operator-seed ticket.
    std::chrono::sys_seconds expires{};    ///< When the operator-seed ticket expires.
    std::string state;                     ///< "copying", "seeded", "reported" or "failed".
    std::string error;                     ///< The last error ("" if none).
    std::filesystem::path container_path;  ///< The copied container ("" until the torrent came).
    std::filesystem::path torrent_path;    ///< The fetched torrent ("" until fetched).
};

/** Something that happened to a seed assignment (serve_seed_box()). A plain value type. */
struct seed_box_event {
    /** The assignment as it is after the event. */
    seed_assignment_record assignment;
    /** "assigned", "copying" (download progress), "seeded", "reported", "retrying" (the
     *  seed report or the torrent fetch failed and is retried later) or "failed". */
    std::string kind;
    std::uint64_t done_bytes = 0;   ///< Container bytes held ("copying").
    std::uint64_t total_bytes = 0;  ///< Container size ("copying"; 0 when unknown).
    int download_rate = 0;          ///< Bytes/s ("copying").
    int peers = 0;                  ///< Connected peers ("copying").
    std::string message;            ///< A short description or error, or "".
};

/** The seed box event callback type: called on the thread that calls serve_seed_box(). */
using seed_box_callback = std::function<void(const seed_box_event&)>;

/** What status() reports. A plain value type. */
struct client_status {
    std::string impu;                          ///< The configured IMPU.
    bool sip_started = false;                  ///< The SIP user agent runs.
    bool registered = false;                   ///< The last REGISTER (or refresh) succeeded.
    std::size_t registrations = 0;             ///< Successful REGISTER transactions.
    std::string contact;                       ///< The registered Contact ("" if not started).
    bool swarm_started = false;                ///< The BitTorrent session runs.
    std::uint16_t bittorrent_port = 0;         ///< Its TCP port (0 if not started).
    std::vector<transfer_progress> transfers;  ///< Every torrent of the session.
    std::vector<published_item> published;     ///< Published content (from the state file).
    std::vector<acquired_item> acquired;       ///< Acquisitions (from the state file).
    /** Operator seed assignments (from the state file). */
    std::vector<seed_assignment_record> assignments;
    /** The registration used the one-pass token of a PANA/EAP-TLS access authentication
     *  (answered 200 without a challenge). */
    bool registered_in_one_pass = false;
};

/**
 * The IMS/P2P client. Not copyable or movable (pimpl). See the file comment for the data
 * directory, threads and serialisation of operations.
 *
 * Errors: every operation takes a std::error_code (cleared on success) and an optional
 * `detail` string that receives a one-line human explanation (e.g. "MESSAGE
 * sip:content@ims.example: 404 Unknown content"). SIP answers map to errc:
 * 404 -> unknown_content, 403 -> content_withdrawn (MESSAGE) or publish_not_allowed (PUBLISH),
 * 402 -> payment_declined, 409 -> conflict, 400 -> bad_body, 413 -> body_too_large,
 * 415 -> unsupported_media_type, 408/503/no answer -> dependency_unavailable, other failures
 * -> dependency_refused; an AS MESSAGE that does not come in time is std::errc::timed_out.
 * Failures leave the state file as it was (an acquisition keeps its request id, so a retry
 * is not charged twice).
 */
class IMSP2P_SIP_EXPORT ims_client {
  public:
    /**
     * Creates the data directory and the device key (if missing) and reads the state file.
     * Starts neither SIP nor BitTorrent (they start on first use).
     * @param settings the settings (copied)
     * @param log where the client logs (copied; its children log SIP and swarm events)
     * @throws std::system_error if the data directory, device key or state file is unusable
     * @throws std::invalid_argument if data_dir is empty
     */
    ims_client(client_settings settings, core::logger log);
    /** Stops the swarm (saving its resume data) and the SIP stack. */
    ~ims_client();
    /** Not copyable. */
    ims_client(const ims_client&) = delete;
    /** Not copyable. @return nothing */
    ims_client& operator=(const ims_client&) = delete;

    /** @return the settings in use */
    [[nodiscard]] const client_settings& settings() const noexcept;
    /** @return the device's public X25519 JWK (what acquire requests carry) */
    [[nodiscard]] core::jwk device_public_key() const;

    /**
     * Registers with the IMS now (answering Digest MD5 or AKA challenges); the registration is
     * then refreshed in the background.
     * @param ec errc::dependency_refused (e.g. 403), errc::dependency_unavailable (no answer)
     * @param detail if not null, receives the explanation on failure
     * @return the final result of the REGISTER
     */
    transaction_result register_now(std::error_code& ec, std::string* detail = nullptr);

    /**
     * Publishes a file: packages it into the data directory (new CEK, .ipc, private torrent),
     * seals the CEK to the DRM server's key, sends PUBLISH (Event: imsp2p-content, over TCP),
     * waits for the publish result MESSAGE, records the item and starts seeding it.
     * Registers first if not registered.
     * @param file the plain file
     * @param metadata title, description, content type, price...; size is filled in; an empty
     *        title becomes the file name, an empty content type "application/octet-stream"
     * @param ec see the class comment; also file and packaging errors
     * @param detail if not null, receives the explanation on failure
     * @param progress optional, called on this thread
     * @return the published item (empty doi on error)
     */
    published_item publish(const std::filesystem::path& file, publish_metadata metadata,
                           std::error_code& ec, std::string* detail = nullptr,
                           const client_progress_callback& progress = {});

    /**
     * Buys content: MESSAGE (acquire request with the device key) to the content PSI, waits
     * for the ticket document, fetches the .torrent from the content index, downloads the
     * container from the swarm, fetches the license with the grant token and stores both.
     * Registers first if not registered.
     * @param doi the content (any form core::doi::parse() accepts)
     * @param ec see the class comment; also swarm and DRM errors
     * @param detail if not null, receives the explanation on failure
     * @param progress optional, called on this thread
     * @param request_id the purchase's idempotency key; empty: the one already recorded for
     *        this DOI (so repeating an acquisition is never charged twice), else a new one
     * @return the acquisition (complete on success)
     */
    acquired_item acquire(const std::string& doi, std::error_code& ec,
                          std::string* detail = nullptr,
                          const client_progress_callback& progress = {},
                          const std::string& request_id = {});

    /**
     * Plays acquired content (or, publisher side, own published content with its key): checks
     * the license against the device key and the DRM keys, enforces the rights in the usage
     * store (one call is one play) and writes the plain content.
     *
     * License renewal: a license that expires within settings().license_renewal_margin (or
     * cannot be read) is first renewed from the DRM server with the grant token of the stored
     * ticket document (`ticket.json`); when that token is itself about to expire, the acquire
     * MESSAGE is sent again with the recorded request id for a fresh ticket document (never
     * charged twice). If the DRM server refuses the renewal (e.g. the grant was revoked), the
     * stored license is deleted and play fails with the DRM server's reason; if the server
     * cannot be reached, a license still valid is played (offline play) and an expired one is
     * not.
     * @param doi the content
     * @param out where the plain content goes
     * @param ec errc::unknown_content if neither acquired nor published here; player errors;
     *        DRM client errors of a refused renewal (e.g. drm::errc::grant_revoked)
     * @param detail if not null, receives the explanation on failure
     * @param progress optional, called on this thread
     * @return the plain bytes written
     */
    std::uint64_t play(const std::string& doi, std::ostream& out, std::error_code& ec,
                       std::string* detail = nullptr,
                       const client_progress_callback& progress = {});

    /**
     * Lists the catalogue from the content index's catalog.json (settings.index_url).
     * @param query free text (title or DOI), may be empty
     * @param ec errc::dependency_unavailable (no index URL, index unreachable) or
     *        errc::dependency_refused
     * @param detail if not null, receives the explanation on failure
     * @return the listed entries
     */
    std::vector<tracker::index_entry> list(const std::string& query, std::error_code& ec,
                                           std::string* detail = nullptr);

    /**
     * Starts the swarm (resuming what its resume data holds) and adds every published item,
     * every complete acquisition and every seed assignment whose torrent was fetched again, so
     * they are seeded (assignments still copying continue to download).
     * @param ec the first error met (the other items are still added)
     * @param detail if not null, receives the explanation on failure
     * @return how many torrents the swarm shares afterwards
     */
    std::size_t seed_all(std::error_code& ec, std::string* detail = nullptr);

    /**
     * One round of the operator seed box (settings.operator_seed_box): registers if not
     * registered, waits up to @p wait for the content service's seed assignment MESSAGEs
     * (Content-Type seed_assignment_media_type; other MESSAGEs are left for the other
     * operations) and records each one durably (a repeated assignment id is ignored); fetches
     * the torrent of each assignment from its torrent_url (retried with back-off), checks its
     * v1 infohash against the assignment (a mismatch fails the assignment and is logged as an
     * error, nothing is reported), downloads the container into `seeded/` with the assignment's
     * announce URL, and once it is complete sends the seed report MESSAGE to the content PSI
     * (retried with back-off until a 2xx, also after a restart). Everything assigned keeps
     * being seeded. The host calls it in a loop (the `imsp2p-client seed --operator` daemon);
     * call seed_all() first so that a restart resumes the held assignments.
     * @param wait how long to wait for incoming MESSAGEs in this round
     * @param ec std::errc::operation_not_permitted if operator_seed_box is not set, or the
     *        registration's error (see register_now()); the held assignments are kept
     * @param detail if not null, receives the explanation on failure
     * @param on_event optional, called on this thread for every assignment event
     * @return how many assignments are held (any state)
     */
    std::size_t serve_seed_box(std::chrono::milliseconds wait, std::error_code& ec,
                               std::string* detail = nullptr,
                               const seed_box_callback& on_event = {});

    /**
     * Renews every ticket that expires within settings().ticket_renewal_margin: the seed ticket
     * of each published item (the stored PUBLISH body is sent again; the content service
     * answers with a fresh publish result) and the leech ticket of each complete acquisition
     * (the acquire MESSAGE again with the recorded request id: a fresh ticket document, never a
     * second charge). The new announce URLs are stored and, when the swarm runs, given to it at
     * once. Registers first if not registered. Items whose ticket is not due are left alone.
     * Operator seed assignments are not renewed here (their operator-seed tickets last the
     * content service's operator_seed_ticket_lifetime).
     * @param ec the first error met (the other items are still tried); cleared when every due
     *        renewal succeeded
     * @param detail if not null, receives the explanation of the first error
     * @return how many tickets were renewed
     */
    std::size_t renew_tickets(std::error_code& ec, std::string* detail = nullptr);

    /** Writes the swarm's resume data now (no-op when the swarm has not started). */
    void save_resume_data();

    /** @return a snapshot of registrations, transfers and the recorded items (any thread) */
    [[nodiscard]] client_status status() const;

  private:
    struct impl;
    std::unique_ptr<impl> impl_;
};

}  // namespace imsp2p::sip
