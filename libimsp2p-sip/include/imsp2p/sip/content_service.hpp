/**
 * @file
 * The SIP Application Server's content service (seed 000 §4.1, §5): pay per download (MESSAGE),
 * content injection (PUBLISH), catalog subscriptions (SUBSCRIBE/NOTIFY) and operator control.
 *
 * Transport independent and embeddable: it consumes incoming_request values and returns
 * outgoing_response / outgoing_request values (imsp2p/sip/message.hpp); it has no thread, no
 * socket and no timer of its own. A host (the Sofia-SIP binding, or a SIP server vendor's stack,
 * see docs/embedding.md) calls handle() for each request, sends what it returns, reports the
 * final status of each sent request to on_outcome(), and calls poll() periodically (every
 * second or so) for retries, subscription expiry and recovery.
 *
 * SIP behaviour:
 * - Trust: a request is served only if it comes from a trusted S-CSCF (its source address is
 *   in service_settings::trusted_addresses, or it arrived over TLS with a verified peer name in
 *   service_settings::trusted_tls_names) AND carries a P-Asserted-Identity that parses as an
 *   IMPU; otherwise 403 with a reason phrase saying which. The From header is never used for
 *   identity.
 * - MESSAGE with application/vnd.imsp2p.acquire+json (acquire): 415 for another type, 413 above
 *   max_body_size, 400 for a malformed body (the reason names the member), 404 unknown DOI,
 *   403 withdrawn content, 402 charging declined, 503 + Retry-After when charging, the DRM
 *   server or the database is unavailable; success: 200 without a body (RFC 3428), then a
 *   MESSAGE to the asserted identity with the ticket document, routed through
 *   service_settings::scscf_route. Idempotent per (user, request_id): a repeat never charges
 *   twice; it completes what is missing and sends the ticket document again, with fresh
 *   tickets and grant token (how a client renews them: ims_client::renew_tickets()). A request_id
 *   reused for another DOI or device key gets 409. Muted content (waiting for
 *   operator seeding) can be bought: the tracker admits the buyer's peers once activate() ran.
 * - PUBLISH Event: imsp2p-content (489 for another event, with Allow-Events): publish or
 *   withdraw (publish_request); publish policy refusals are 403; a proposed DOI already taken
 *   (or already registered with the DRM server under another kid) is 409, outside the accepted
 *   prefixes 403; the same torrent published again by the same publisher is idempotent (same
 *   DOI; another publisher gets 409). Success: 200 with SIP-ETag and Expires (RFC 3903), then a
 *   MESSAGE with the publish_result (a fresh seed ticket each time: how a publisher renews it). A
 * PUBLISH with SIP-If-Match and no body refreshes (new SIP-ETag); with Expires: 0 it withdraws the
 * content (RFC 3903 removal); an unknown entity tag is 412. The publication's expiry does not
 * withdraw content: it only bounds how long the entity tag is valid for refresh and removal.
 * - SUBSCRIBE Event: imsp2p-catalog (489 otherwise), optionally filtered by the Event header
 *   parameters `genre` and `series`: 200 with a To tag and Expires, then a NOTIFY
 *   (Subscription-State: active;expires=N) with the full catalog (newest max_catalog_entries);
 *   NOTIFYs (event published / withdrawn) follow every change; a refresh in the dialog resets
 *   the expiry and sends a full NOTIFY; Expires: 0 ends it with a NOTIFY
 *   "terminated"; poll() ends expired ones with "terminated;reason=timeout"; a NOTIFY answered
 *   with a non-2xx final status below 500 (481, 408, ...) removes the subscription; an in-dialog
 *   SUBSCRIBE for an unknown dialog is 481; an Expires below min_subscription is 423 with
 *   Min-Expires. NOTIFYs carry call_id, tags and route set of the dialog; CSeq numbering within
 *   the dialog is the host stack's task.
 * - Operator seed boxes (seed 000 §7): with mute_until_operator_seeded and at least one IMPU in
 *   operator_seed_boxes, content is registered muted and, once published, the AS sends each
 *   seed box a MESSAGE with a seed_assignment (request-URI and To: the seed box; From: the
 *   content PSI; routed through scscf_route) carrying an operator-seed ticket (subject: the
 *   seed box, lifetime operator_seed_ticket_lifetime). Assignments are stored with the publish
 *   and delivered like publish results: re-sent by poll() until a 2xx, and by recover() after a
 *   restart. A MESSAGE with application/vnd.imsp2p.seed-report+json is a seed_report: 403
 *   "Forbidden (not an operator seed box)" unless the asserted identity is one of
 *   operator_seed_boxes (or when the assignment belongs to another seed box), 400 for a
 *   malformed body or a DOI / infohash that does not match the assignment, 404 for an unknown
 *   assignment, 403 for withdrawn content; otherwise the content is activated exactly like
 *   activate() (tracker and index state "active"; logged "content activated by operator seed
 *   box"), the assignment is recorded as seeded and the answer is 200. A repeated report is 200
 *   without a second activation; a report for content already active only records the
 *   assignment. A gateway failure during the activation is 503 with Retry-After and leaves the
 *   assignment unseeded. With mute_until_operator_seeded and no seed box, content stays muted
 *   until activate().
 * - OPTIONS: 200 with Allow, Allow-Events and Accept. Other methods: 405 with Allow.
 *
 * State (SQLite, WAL, in service_settings::database_path): content (with the publish step),
 * purchases (with a step column), subscriptions, seed assignments (delivery and seeded marks). CDRs
 * are written by the charging backend.
 *
 * Recovery. Every multi-step operation records its progress in the same transaction as each
 * step's effect becomes known, and every remote step is idempotent, so it can be replayed:
 * - purchase steps: `new` (row written, charge id = purchase id) -> `charged` (charging
 *   backend said charged; it is idempotent on the charge id, so re-charging after a crash
 *   returns the stored outcome) -> `granted` (DRM grant, idempotent on request_id = purchase
 *   id; grant id stored) -> `ticketed` (ticket document stored) -> `delivered` (the MESSAGE got
 *   a 2xx). Terminal failures: `declined` (402), `failed` (the DRM server refused; the charge
 *   is refunded). `granted` and `ticketed` are committed together (the ticket is made right
 *   after the grant); a crash before that commit resumes from `charged`. The purchase id is
 *   derived from (issuer, user, request_id), so it stays the same if the purchase row is lost.
 * - Durability: the AS database runs with synchronous=NORMAL (WAL): a process crash loses
 *   nothing; a power cut may lose the last purchase steps, which recovery and the client's
 *   retry redo without a second charge (the charge id is the derived purchase id, and the
 *   default charging backend writes the CDR with synchronous=FULL before the grant).
 * - publish steps: `reserved` (DOI and infohash reserved in one row, with the torrent and the
 *   CEK JWE) -> `key_registered` (DRM, idempotent for the same kid) -> `tracked` (tracker
 *   chosen and stored before the call; a 409 from that tracker counts as done) -> `indexed`
 *   (index PUT, idempotent) -> `published` (CDR written with charge id "publish:<doi>"; result
 *   MESSAGE pending until a 2xx).
 * - withdrawal: the content state becomes `withdrawn` first (so acquires are refused at once),
 *   then the tracker (disabled), DRM (withdrawn) and index calls are pending flags cleared one
 *   by one.
 * On start-up call recover(now) (or just poll(now)): it resumes every charged but unfinished
 * purchase (steps charged, granted, ticketed), every unfinished publish and withdrawal from its
 * recorded step and re-sends undelivered ticket documents and
 * publish results. A purchase is never charged twice because the charge id is the stored
 * purchase id. A purchase still at `new` (charging was unavailable, the client got 503) is not
 * resumed by poll(): the client decides whether to retry it (with the same request_id). A step
 * that fails for an unavailable dependency is retried by poll() with an
 * exponential back-off (retry_interval doubling up to 32 times it), up to max_attempts;
 * a MESSAGE or NOTIFY handed to the host counts as in flight for delivery_timeout.
 *
 * Thread-safety: handle(), on_outcome(), poll(), recover() and the operator methods may be
 * called concurrently from any threads. The single SQLite connection is guarded by a mutex
 * held only for short database work, never across an HTTP call; two requests for the same
 * purchase (user and request_id) or the same content are serialised by a per-key lock, so a
 * retransmission that arrives while the first one is still working waits for it and then sees
 * its result.
 */
#pragma once

#include <imsp2p/sip/charging.hpp>
#include <imsp2p/sip/export.hpp>
#include <imsp2p/sip/gateways.hpp>
#include <imsp2p/sip/message.hpp>

#include <imsp2p/core/content.hpp>
#include <imsp2p/core/crypto.hpp>
#include <imsp2p/core/doi.hpp>
#include <imsp2p/core/jose.hpp>
#include <imsp2p/core/log.hpp>

#include <nlohmann/json.hpp>

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <system_error>
#include <vector>

namespace imsp2p::sip {

/** Who may publish content. */
enum class publish_policy {
    allow_all,   ///< Every (asserted) user may publish.
    allow_list,  ///< Only the IMPUs in service_settings::publishers.
    deny_all,    ///< Nobody (publishing switched off).
};

/** One tracker the AS may register content with. A plain value type. */
struct tracker_endpoint {
    /** The announce base URL peers use, e.g. "http://t1.example:6969/announce". */
    std::string announce_url;
    /** The admin API base URL, e.g. "http://t1.example:6969". */
    std::string admin_url;
};

/** Settings of the content service. A plain value type. */
struct service_settings {
    /** Source IP addresses (literals) of trusted S-CSCFs. */
    std::vector<std::string> trusted_addresses;
    /** Verified TLS peer names of trusted S-CSCFs (requests over TLS only). */
    std::vector<std::string> trusted_tls_names;
    /** The content PSI, e.g. "sip:content@operator.example": purchase URI in the catalog, and
     *  (when not empty) the only Request-URI served (user and host compared, case-insensitive
     *  host; others get 404). */
    std::string content_psi;
    /** From of AS-originated MESSAGEs (empty: content_psi). */
    std::string as_uri;
    /** Route set for AS-originated MESSAGEs (the S-CSCF), e.g. "<sip:scscf.example;lr>". */
    std::vector<std::string> scscf_route;

    /** Who may publish. */
    publish_policy policy = publish_policy::allow_all;
    /** With publish_policy::allow_list: the allowed IMPUs. */
    std::vector<std::string> publishers;
    /** The operator's DOI prefix for minting, e.g. "10.5555". */
    std::string doi_prefix = "10.5555";
    /** Further prefixes a proposed DOI may use (doi_prefix is always accepted). */
    std::vector<std::string> accepted_doi_prefixes;

    /** Lifetime of leech tickets (announce URL in the ticket document). */
    std::chrono::seconds leech_ticket_lifetime{std::chrono::hours(24)};
    /** Lifetime of license grant tokens. */
    std::chrono::seconds grant_token_lifetime{std::chrono::hours(24)};
    /** Lifetime of the publisher's seed ticket. */
    std::chrono::seconds seed_ticket_lifetime{std::chrono::hours(24 * 30)};
    /** Rights granted per purchase (drm rights JSON; `{}` is unconstrained). */
    nlohmann::json default_rights = nlohmann::json::object();
    /** Register new torrents muted (only operator seeders get peers) until activate() or, with
     *  operator_seed_boxes, until a seed box reports a full copy. */
    bool mute_until_operator_seeded = false;
    /** IMPUs of the operator seed boxes (e.g. "sip:seedbox@ims.example"). With
     *  mute_until_operator_seeded, each new content item is assigned to every one of them, and
     *  only they may send seed reports. Each must parse as core::impu (else the constructor
     *  throws invalid_argument). */
    std::vector<std::string> operator_seed_boxes;
    /** Lifetime of the operator-seed ticket in a seed assignment (at least one second). */
    std::chrono::seconds operator_seed_ticket_lifetime{std::chrono::hours(24 * 30)};

    /** Largest request body accepted (413 above). */
    std::size_t max_body_size = 1024 * 1024;
    /** Expires granted to a PUBLISH (requested values are capped to it). */
    std::chrono::seconds publication_expires{3600};
    /** Shortest subscription accepted (423 below). */
    std::chrono::seconds min_subscription{60};
    /** Longest subscription granted (requested values are capped to it; also the default). */
    std::chrono::seconds max_subscription{3600};
    /** Most entries in a full catalog NOTIFY (the newest are sent). */
    std::size_t max_catalog_entries = 100;

    /** The data directory (databases go there unless their paths are set). */
    std::filesystem::path data_dir;
    /** The AS state database (empty: data_dir / "as.sqlite"). */
    std::filesystem::path database_path;
    /** The CDR database of the default charging backend (empty: data_dir / "cdr.sqlite"). */
    std::filesystem::path charging_database_path;

    /** The DRM server's base URL, e.g. "http://127.0.0.1:8081". */
    std::string drm_url;
    /** The license URL put in ticket documents (empty: drm_url + "/v1/licenses"). */
    std::string license_url;
    /** The trackers (at least one). */
    std::vector<tracker_endpoint> trackers;
    /** The content index base URL, e.g. "http://127.0.0.1:8082". */
    std::string index_url;
    /** Time limit of one HTTP call to a dependency. */
    std::chrono::milliseconds http_timeout{5000};

    /** The AS signing key (Ed25519): tickets, grant tokens and service JWTs. */
    core::ed25519_private_key signing_key;
    /** The key id published with it. */
    std::string signing_kid = "as-1";
    /** The "iss" of tickets (empty: as_uri, else content_psi). */
    std::string issuer;
    /** Lifetime of service JWTs (cached and reused until near expiry). */
    std::chrono::seconds service_token_lifetime{300};

    /** Retry-After sent with 503. */
    std::chrono::seconds retry_after{30};
    /** First retry delay of a failed step or delivery (doubles per attempt). */
    std::chrono::seconds retry_interval{5};
    /** Attempts before a pending delivery or step is given up (logged). */
    std::uint32_t max_attempts = 12;
    /** How long a MESSAGE/NOTIFY handed to the host may stay without an outcome. */
    std::chrono::seconds delivery_timeout{64};
};

/** What handle() returns. A plain value type. */
struct service_result {
    /** The final response to send on the request's transaction. */
    outgoing_response response;
    /** Requests to send after the response, in order (ticket MESSAGE, NOTIFYs...). */
    std::vector<outgoing_request> requests;
};

/**
 * Replaceable parts of the service; empty members get the defaults built from the settings
 * (sqlite_charging, HTTP gateways). A plain value type.
 */
struct service_dependencies {
    /** The charging system. */
    std::shared_ptr<charging_backend> charging;
    /** The DRM server. */
    std::shared_ptr<drm_gateway> drm;
    /** The trackers (when set, replaces service_settings::trackers entirely). */
    std::vector<std::shared_ptr<tracker_gateway>> trackers;
    /** The content index. */
    std::shared_ptr<index_gateway> index;
    /** Where the service logs (component "as" by default). */
    std::optional<core::logger> log;
};

/** A purchase as stored (for operators and tests). A plain value type. */
struct purchase_info {
    /** The AS purchase id (also the charge id and the DRM request id). */
    std::string id;
    /** The buyer. */
    std::string user;
    /** The client's request id. */
    std::string request_id;
    /** The content (canonical DOI). */
    std::string doi;
    /** new, charged, granted, ticketed, delivered, declined or failed. */
    std::string step;
    /** The DRM grant id, once granted. */
    std::string grant_id;
    /** Delivery attempts so far. */
    std::uint32_t attempts = 0;
};

/** A seed assignment as stored (for operators and tests). A plain value type. */
struct seed_assignment_info {
    /** The assignment id (seed_assignment::assignment_id). */
    std::string id;
    /** The content (canonical DOI). */
    std::string doi;
    /** The seed box's IMPU (normalised by core::impu). */
    std::string seed_box;
    /** The assignment MESSAGE has not been answered with a 2xx yet (poll() re-sends it). */
    bool delivery_pending = true;
    /** The seed box reported a full copy (seed_report accepted). */
    bool seeded = false;
    /** Delivery attempts so far. */
    std::uint32_t attempts = 0;
};

/**
 * The content service. Not copyable or movable (pimpl). See the file description for the
 * behaviour, the recovery rules and the thread-safety.
 */
class IMSP2P_SIP_EXPORT content_service {
  public:
    /**
     * Opens the state database (creating and migrating it) and builds the default
     * dependencies. Does no network I/O.
     * @param settings the settings
     * @param dependencies replacements for the defaults
     * @throws std::system_error for unusable settings (invalid_argument: no signing key, no
     *         tracker, no DRM or index URL when their gateway is not given, a bad DOI prefix, an
     *         operator seed box that is not an IMPU, an operator-seed ticket lifetime below one
     *         second) or a database that cannot be opened
     */
    explicit content_service(service_settings settings, service_dependencies dependencies = {});
    /** Closes the database. Requests handed out but not reported stay pending for recover(). */
    ~content_service();
    content_service(const content_service&) = delete;
    content_service& operator=(const content_service&) = delete;

    /**
     * Handles one incoming request (any method). Request and dependency errors become SIP
     * responses; an internal failure (an exception from the database or a plugged-in
     * dependency) is logged and answered 500 (503 with Retry-After when the database is busy).
     * @param request the request (copied where needed; not kept)
     * @param now the current time (tickets, expiries and CDRs use it)
     * @return the final response and the requests to send after it
     */
    service_result handle(const incoming_request& request,
                          std::chrono::system_clock::time_point now);

    /**
     * Reports the final status of a request returned earlier.
     * @param correlation_id its outgoing_request::correlation_id (unknown ids are ignored)
     * @param status its final status (2xx delivered; others are retried or end subscriptions)
     * @param now the current time
     */
    void on_outcome(std::string_view correlation_id, int status,
                    std::chrono::system_clock::time_point now = std::chrono::system_clock::now());

    /**
     * Periodic work: resumes unfinished steps whose retry time has come, re-sends undelivered
     * documents, ends expired subscriptions. Call it every second or so.
     * @param now the current time
     * @return the requests to send
     */
    std::vector<outgoing_request> poll(std::chrono::system_clock::time_point now);

    /**
     * Start-up recovery: like poll(), but ignores retry times and in-flight marks, so every
     * unfinished operation is resumed now.
     * @param now the current time
     * @return the requests to send
     */
    std::vector<outgoing_request> recover(std::chrono::system_clock::time_point now);

    /**
     * Operator withdrawal: disables the content everywhere (tracker disabled, DRM withdrawn,
     * index withdrawn; failed calls are retried by poll()) and notifies subscribers.
     * @param doi the content
     * @param now the current time
     * @param ec errc::unknown_content if unknown; cleared otherwise (also when already withdrawn)
     * @return the NOTIFYs to send
     */
    std::vector<outgoing_request> withdraw(const core::doi& doi,
                                           std::chrono::system_clock::time_point now,
                                           std::error_code& ec);

    /**
     * Operator activation of muted content (after operator seeding): tracker and index state
     * "active".
     * @param doi the content
     * @param now the current time
     * @param ec errc::unknown_content, errc::content_withdrawn, or a gateway error (state is
     *        then unchanged)
     */
    void activate(const core::doi& doi, std::chrono::system_clock::time_point now,
                  std::error_code& ec);

    /**
     * @param doi the content
     * @return its published record (with its current state), or nullopt if unknown or not yet
     *         fully published
     */
    [[nodiscard]] std::optional<core::content_record> find_content(const core::doi& doi) const;

    /**
     * @param user the buyer (IMPU as asserted)
     * @param request_id the client's request id
     * @return the stored purchase, or nullopt
     */
    [[nodiscard]] std::optional<purchase_info> find_purchase(std::string_view user,
                                                             std::string_view request_id) const;

    /**
     * @param doi the content
     * @return its seed assignments, one per operator seed box it was assigned to (in the order of
     *         operator_seed_boxes when it was published; empty if unknown or never assigned)
     */
    [[nodiscard]] std::vector<seed_assignment_info> seed_assignments(const core::doi& doi) const;

    /** @return the number of live catalog subscriptions. */
    [[nodiscard]] std::size_t subscription_count() const;

    /** @return the AS public key as a JWK Set (to publish at /.well-known/jwks.json). */
    [[nodiscard]] core::jwk_set public_keys() const;

    /** @return the settings in effect. */
    [[nodiscard]] const service_settings& settings() const noexcept;

  private:
    class impl;
    std::unique_ptr<impl> impl_;
};

}  // namespace imsp2p::sip
