/**
 * @file
 * The client's BitTorrent side: one libtorrent session that shares (seeds or downloads) the
 * encrypted `.ipc` containers of private (BEP 27) v1+v2 hybrid torrents made by libimsp2p-drm,
 * announcing to the imsp2p tracker with the access ticket in the announce URL's path
 * (`http://127.0.0.1:<port>/announce/<ticket JWT>`).
 *
 * Threads: a swarm starts libtorrent's own threads (network, disk and hashing threads) and one
 * internal alert thread that pops libtorrent's alerts, records tracker and storage errors and
 * writes resume data. No user callback runs on those threads: wait_complete() calls its
 * progress callback on the thread that called wait_complete(). Every member function may be
 * called from any thread (an internal mutex serialises the bookkeeping), except that the swarm
 * must not be destroyed while another thread is inside one of its member functions.
 *
 * Persistence: state_dir holds one file per torrent, `<id>.resume` (libtorrent resume data with
 * the info dictionary, the save folder, the announce URL and the pieces held), each replaced
 * atomically (written to a temporary name, then renamed). The set of these files is the list of
 * torrents that a new swarm re-adds when swarm_settings::resume_saved is true.
 *
 * Rate limits apply to every peer, including peers on loopback and local networks (libtorrent
 * exempts those by default; a swarm puts every address in the global peer class).
 */
#pragma once

#include <imsp2p/sip/export.hpp>

#include <imsp2p/core/bytes.hpp>
#include <imsp2p/core/log.hpp>

#include <chrono>
#include <cstdint>
#include <filesystem>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <system_error>
#include <vector>

namespace imsp2p::sip {

/** Settings of a swarm; a value type copied into the swarm at construction. */
struct swarm_settings {
    /**
     * Folder of the resume data (`<id>.resume`, one per torrent); created if missing. Empty:
     * nothing is persisted and nothing is resumed.
     */
    std::filesystem::path state_dir;
    /** Where to accept peers, in libtorrent's listen_interfaces syntax ("127.0.0.1:0"). */
    std::string listen_interfaces = "127.0.0.1:0";
    /** Upload cap of the whole session in bytes/s; 0 = unlimited. */
    int upload_rate_limit = 0;
    /** Download cap of the whole session in bytes/s; 0 = unlimited. */
    int download_rate_limit = 0;
    /** Re-add every torrent found in state_dir when the swarm is constructed. */
    bool resume_saved = true;
    /** Most peers a torrent connects to (libtorrent connections_limit per torrent). */
    int max_peers_per_torrent = 50;
    /** Upload slots of the session (unchoked peers); 0 = libtorrent's default (8). */
    int upload_slots = 0;
    /**
     * libtorrent's super seeding (BEP 16) for the torrents this swarm seeds: a seed reveals one
     * piece at a time to each peer and the next only once that piece shows up at another peer.
     * Applied when a torrent becomes a seed; ignored when initial_seeding is set, which reaches
     * the same goal without the start-up stall below.
     *
     * Start-up cost (libtorrent 2.0): a peer's first offer is made while writing the bitfield at
     * the end of the handshake, where libtorrent drops it, so a peer gets its first piece from
     * the super seed only when libtorrent re-offers to peers uninterested for 10 s: each peer
     * that can only reach the super seed waits about 10 s before any data flows.
     */
    bool super_seeding = false;
    /**
     * Initial seeding for the torrents this swarm seeds (meant for publishers): the origin
     * uploads each piece about once and lets the peers exchange the rest, while every peer gets
     * data from the first second (unlike super_seeding). The seed announces every piece as usual.
     * While some piece has not been given to any peer yet, a request for a piece that another
     * peer already got (or has reserved) is refused with a fast extension (BEP 6) REJECT
     * REQUEST, and the requesting peer is sent a SUGGEST PIECE for a piece nobody has been given
     * yet, which is then reserved for it (at most eight undelivered reservations per peer). Each
     * peer is also suggested two such pieces when it becomes interested, and more as its
     * reserved pieces are sent. Once every piece has been given once, requests are served
     * normally; a lone or late peer is never refused a piece that nobody else holds, so it
     * downloads at full speed. Peers without the fast extension are never refused, nor is a peer
     * after 2048 refusals without any block sent to it. Reservations of a peer that disconnects,
     * is choked, or takes no block for 20 s return to the pool. Implemented as a libtorrent
     * plugin whose callbacks run on libtorrent's network thread (the counters in
     * transfer_progress are read from any thread); takes precedence over super_seeding.
     * Effective while a torrent is a seed: a torrent added for download downloads normally and
     * applies the policy once complete.
     */
    bool initial_seeding = false;
    /**
     * Expert tuning: libtorrent settings by their settings_pack name (e.g.
     * {"seed_choking_algorithm", "1"}), applied after the swarm's own; booleans are "true",
     * "false", "1" or "0", integers decimal. An unknown name or a bad value makes the constructor
     * throw.
     */
    std::map<std::string, std::string> libtorrent_settings;
};

/** A snapshot of one torrent's transfer; a value type. */
struct transfer_progress {
    /** The torrent id: v1 info-hash in 40 lowercase hex (v2-only: first 40 hex of the v2 hash). */
    std::string id;
    /** The torrent's name (the container's file name). */
    std::string name;
    /** Payload bytes of the torrent (the container size). */
    std::uint64_t total_bytes = 0;
    /** Payload bytes held and verified. */
    std::uint64_t done_bytes = 0;
    /** Payload bytes uploaded since the torrent was added to this swarm. */
    std::uint64_t uploaded_bytes = 0;
    /** Payload bytes downloaded since the torrent was added to this swarm. */
    std::uint64_t downloaded_bytes = 0;
    /** Current payload download rate in bytes/s. */
    int download_rate = 0;
    /** Current payload upload rate in bytes/s. */
    int upload_rate = 0;
    /** Connected peers. */
    int peers = 0;
    /** True when every piece is held (the torrent is seeding). */
    bool complete = false;
    /** True while libtorrent checks resume data or hashes existing files. */
    bool checking = false;
    /**
     * The last libtorrent storage error or tracker failure ("tracker: <failure reason>"),
     * empty if none; a tracker failure is cleared by the tracker's next successful reply.
     */
    std::string error;
    /**
     * Block requests this seed refused under swarm_settings::initial_seeding (REJECT REQUEST
     * messages sent); 0 without it.
     */
    std::uint64_t initial_seeding_rejects = 0;
    /** SUGGEST PIECE messages sent under swarm_settings::initial_seeding; 0 without it. */
    std::uint64_t initial_seeding_suggestions = 0;
    /**
     * Pieces given completely to some peer at least once under swarm_settings::initial_seeding
     * (at most the torrent's piece count); 0 without it.
     */
    std::uint64_t initial_seeding_pieces_given = 0;
};

/**
 * A pimpl facade over one libtorrent session (see the file description for threads and
 * persistence). Not copyable or movable.
 */
class IMSP2P_SIP_EXPORT swarm {
  public:
    /**
     * Starts the session (libtorrent's threads and the internal alert thread) and, when
     * settings.resume_saved, re-adds every torrent of settings.state_dir, waiting (at most about
     * 10 s) until libtorrent has loaded their resume data so progress() reports what is held.
     * Unreadable resume files are logged and skipped.
     * @param settings the settings (copied)
     * @param log where the swarm logs (copied; used from the alert thread too)
     * @throws std::system_error errc::swarm_storage_failed when state_dir cannot be created,
     *         core::errc::invalid_argument for a bad swarm_settings::libtorrent_settings entry; a
     *         listen failure is only logged (listen_port() then returns 0)
     */
    swarm(swarm_settings settings, core::logger log);
    /** Saves the resume data of every torrent (bounded wait), then stops the session. */
    ~swarm();
    /** Not copyable. */
    swarm(const swarm&) = delete;
    /** Not copyable. @return nothing */
    swarm& operator=(const swarm&) = delete;

    /**
     * Adds a torrent: libtorrent checks the files present in save_dir, so the swarm seeds if the
     * complete container is there and downloads it otherwise. Idempotent per info-hash: adding a
     * torrent the swarm already has only replaces its announce URL (and re-announces). The
     * torrent is persisted in state_dir at once.
     * @param torrent_file the bencoded .torrent (copied)
     * @param save_dir the folder of the container (created if missing)
     * @param announce_url the tracker URL with the ticket; replaces the torrent's own trackers
     * @param ec errc::swarm_bad_torrent, errc::swarm_torrent_not_private,
     *        errc::swarm_bad_announce_url, errc::swarm_storage_failed; cleared on success
     * @return the torrent id (transfer_progress::id), empty on error
     */
    std::string add(core::byte_view torrent_file, const std::filesystem::path& save_dir,
                    const std::string& announce_url, std::error_code& ec);
    /**
     * Throwing form of add().
     * @param torrent_file the .torrent @param save_dir the folder @param announce_url the URL
     * @return the torrent id
     * @throws std::system_error with the codes of the other overload
     */
    std::string add(core::byte_view torrent_file, const std::filesystem::path& save_dir,
                    const std::string& announce_url);

    /**
     * @param id a torrent id
     * @return a snapshot of the torrent, or nullopt if the swarm has no such torrent
     */
    std::optional<transfer_progress> progress(const std::string& id) const;
    /** @return snapshots of every torrent, ordered by id */
    std::vector<transfer_progress> all() const;

    /**
     * Blocks the calling thread until the torrent is complete, the timeout passes or the torrent
     * fails. A tracker refusal is not a failure (set_announce_url() may bring a valid ticket):
     * it shows in transfer_progress::error until the timeout.
     * @param id the torrent id
     * @param timeout how long to wait at most
     * @param on_progress optional; called on the calling thread about every progress_interval
     *        (and once more on completion)
     * @param ec std::errc::timed_out, errc::swarm_unknown_torrent (also when removed meanwhile),
     *        errc::swarm_transfer_failed (a storage error; the message is in the progress);
     *        cleared on success
     * @param progress_interval the callback period
     * @return true when the torrent is complete
     */
    bool wait_complete(
        const std::string& id, std::chrono::milliseconds timeout,
        const std::function<void(const transfer_progress&)>& on_progress, std::error_code& ec,
        std::chrono::milliseconds progress_interval = std::chrono::milliseconds(500));

    /**
     * Replaces the announce URL of a torrent (e.g. a renewed ticket), persists it and
     * re-announces at once. Does nothing for an unknown id or a URL that is not http(s):// or
     * udp:// (logged).
     * @param id the torrent id
     * @param announce_url the new URL
     */
    void set_announce_url(const std::string& id, const std::string& announce_url);

    /**
     * Stops sharing a torrent and deletes its resume data; the downloaded files stay.
     * @param id the torrent id
     * @param ec errc::swarm_unknown_torrent; cleared on success
     */
    void remove(const std::string& id, std::error_code& ec);

    /** Writes the resume data of every torrent to state_dir; blocks until written (bounded). */
    void save_resume_data();

    /** @return the TCP port the session listens on (0 if it does not listen) */
    std::uint16_t listen_port() const;

  private:
    struct impl;
    std::unique_ptr<impl> impl_;
};

}  // namespace imsp2p::sip
