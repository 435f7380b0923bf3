/**
 * @file
 * The AS's view of the servers it controls: the DRM server, the trackers (admin API) and the
 * content index. Abstract gateways keep the content service independent of how they are
 * reached; the HTTP implementations call the servers' REST routes with short-lived service JWTs
 * signed by the AS (core tickets: aud = the service, role "service").
 *
 * Error contract of every gateway call (std::error_code out-parameter, cleared on success):
 * - errc::dependency_unavailable: no answer, a timeout, HTTP 5xx or 429: worth retrying later;
 * - errc::conflict: HTTP 409 (already registered with other values);
 * - errc::dependency_refused: any other refusal (4xx) or an unreadable answer: retrying the
 *   same call will not help.
 * A problem+json "detail" (or the transport error) is put in @p detail when it is not null.
 *
 * Threads: every gateway here may be called from several threads at once (each HTTP call runs
 * its own I/O on the calling thread and blocks it for at most the configured timeout). Each
 * HTTP gateway keeps a small pool of idle keep-alive connections, so a call usually costs no
 * TCP handshake; a pooled connection the server closed meanwhile is replaced and the call sent
 * again (every gateway call is idempotent).
 */
#pragma once

#include <imsp2p/sip/export.hpp>

#include <imsp2p/core/content.hpp>
#include <imsp2p/core/doi.hpp>
#include <imsp2p/core/jose.hpp>
#include <imsp2p/core/ticket.hpp>

#include <nlohmann/json.hpp>

#include <chrono>
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <system_error>

namespace imsp2p::sip {

/**
 * Issues and caches the AS's service JWTs: one per audience, reused until less than a third of
 * its lifetime is left. Thread-safe. Uses the system clock (the servers check it against theirs).
 */
class IMSP2P_SIP_EXPORT service_token_source {
  public:
    /**
     * @param issuer the AS ticket issuer (its key signs the JWTs)
     * @param subject the "sub" of the JWTs (the AS URI)
     * @param lifetime the lifetime of each JWT (at least 30 s is sensible)
     */
    service_token_source(core::ticket_issuer issuer, std::string subject,
                         std::chrono::seconds lifetime = std::chrono::seconds(300));
    /** Destroys the cache. */
    ~service_token_source();
    service_token_source(const service_token_source&) = delete;
    service_token_source& operator=(const service_token_source&) = delete;

    /**
     * @param audience "drm", "tracker" or "index"
     * @param ec set if the JWT cannot be signed
     * @return a valid service JWT for that audience (cached or new)
     */
    std::string token(std::string_view audience, std::error_code& ec);

  private:
    struct state;
    std::unique_ptr<state> impl_;
};

/** Registration of a content key with the DRM server. A plain value type. */
struct drm_content_registration {
    /** The content's DOI. */
    core::doi doi;
    /** The key id (32 lower-case hex digits). */
    std::string kid;
    /** The CEK as a compact JWE to the DRM server's X25519 key (opaque to the AS). */
    std::string cek_jwe;
    /** Catalogue metadata for the DRM server (the content record JSON). */
    nlohmann::json metadata = nlohmann::json::object();
};

/** A grant request to the DRM server. A plain value type. */
struct drm_grant_request {
    /** Idempotency key (the AS purchase id): the same id always yields the same grant. */
    std::string request_id;
    /** The buyer's IMPU. */
    std::string user;
    /** The content's DOI. */
    core::doi doi;
    /** The device's X25519 public key. */
    core::jwk device_key;
    /** The rights granted (drm rights JSON, `{}` for unconstrained). */
    nlohmann::json rights = nlohmann::json::object();
};

/** The DRM server as the AS uses it. Implementations must be thread-safe. */
class IMSP2P_SIP_EXPORT drm_gateway {
  public:
    /** Destroys the gateway. */
    virtual ~drm_gateway();
    /**
     * Registers a content key (idempotent for the same DOI and kid; conflict for another kid).
     * @param registration what to register
     * @param ec see the file description
     * @param detail receives the server's explanation on failure (may be null)
     */
    virtual void register_content(const drm_content_registration& registration, std::error_code& ec,
                                  std::string* detail) = 0;
    /**
     * Sets a content's state ("active" or "withdrawn": no new grants or licenses).
     * @param doi the content
     * @param active true for "active", false for "withdrawn"
     * @param ec see the file description (404 is dependency_refused)
     * @param detail receives the server's explanation on failure (may be null)
     */
    virtual void set_content_active(const core::doi& doi, bool active, std::error_code& ec,
                                    std::string* detail) = 0;
    /**
     * Grants rights to a user and device (idempotent on request_id).
     * @param request the grant
     * @param ec see the file description
     * @param detail receives the server's explanation on failure (may be null)
     * @return the grant id, empty on failure
     */
    virtual std::string grant(const drm_grant_request& request, std::error_code& ec,
                              std::string* detail) = 0;
    /**
     * Revokes a grant (unknown ids succeed).
     * @param grant_id the id grant() returned
     * @param ec see the file description
     * @param detail receives the server's explanation on failure (may be null)
     */
    virtual void revoke_grant(const std::string& grant_id, std::error_code& ec,
                              std::string* detail) = 0;
};

/** A torrent registration on a tracker. A plain value type. */
struct tracker_torrent {
    /** v1 infohash, 40 lower-case hex digits. */
    std::string infohash_v1;
    /** v2 infohash, 64 lower-case hex digits, or empty. */
    std::string infohash_v2;
    /** The content's DOI. */
    core::doi doi;
    /** "active", "muted" or "disabled". */
    std::string state = "active";
};

/** A tracker's load as /admin/stats reports it. A plain value type. */
struct tracker_load {
    /** Registered torrents. */
    std::uint64_t torrents = 0;
    /** Live seeders. */
    std::uint64_t seeders = 0;
    /** Live leechers. */
    std::uint64_t leechers = 0;
};

/** One tracker's admin API as the AS uses it. Implementations must be thread-safe. */
class IMSP2P_SIP_EXPORT tracker_gateway {
  public:
    /** Destroys the gateway. */
    virtual ~tracker_gateway();
    /**
     * @return the announce base URL peers use (e.g. "http://t1:6969/announce"); the ticket is
     *         appended as a path segment ("/announce/<ticket>")
     */
    [[nodiscard]] virtual std::string announce_url() const = 0;
    /**
     * Reads the tracker's load.
     * @param ec see the file description
     * @param detail receives the server's explanation on failure (may be null)
     * @return the load (zeros on failure)
     */
    virtual tracker_load load(std::error_code& ec, std::string* detail) = 0;
    /**
     * Registers a torrent (conflict if already registered).
     * @param torrent the registration
     * @param ec see the file description
     * @param detail receives the server's explanation on failure (may be null)
     */
    virtual void register_torrent(const tracker_torrent& torrent, std::error_code& ec,
                                  std::string* detail) = 0;
    /**
     * Changes a torrent's state.
     * @param infohash_v1 the registered v1 infohash (hex)
     * @param state "active", "muted" or "disabled"
     * @param ec see the file description
     * @param detail receives the server's explanation on failure (may be null)
     */
    virtual void set_torrent_state(const std::string& infohash_v1, const std::string& state,
                                   std::error_code& ec, std::string* detail) = 0;
};

/** The content index as the AS uses it. Implementations must be thread-safe. */
class IMSP2P_SIP_EXPORT index_gateway {
  public:
    /** Destroys the gateway. */
    virtual ~index_gateway();
    /**
     * Creates or replaces an entry (idempotent).
     * @param record the catalogue record
     * @param torrent the bencoded torrent
     * @param purchase_uri the SIP URI clients send the acquire MESSAGE to
     * @param ec see the file description
     * @param detail receives the server's explanation on failure (may be null)
     */
    virtual void put_entry(const core::content_record& record, core::byte_view torrent,
                           const std::string& purchase_uri, std::error_code& ec,
                           std::string* detail) = 0;
    /**
     * Withdraws an entry (hidden from the catalog; unknown DOIs succeed).
     * @param doi the content
     * @param ec see the file description
     * @param detail receives the server's explanation on failure (may be null)
     */
    virtual void withdraw_entry(const core::doi& doi, std::error_code& ec, std::string* detail) = 0;
    /**
     * @param doi the content
     * @return the public URL of its .torrent (`{base}/torrents/{doi pct-encoded}.torrent`)
     */
    [[nodiscard]] virtual std::string torrent_url(const core::doi& doi) const = 0;
};

/** Where an HTTP gateway sends its calls. A plain value type. */
struct http_gateway_options {
    /** The server's base URL, e.g. "http://127.0.0.1:8080" (no trailing slash needed). */
    std::string base_url;
    /** Whole-exchange time limit of one call. */
    std::chrono::milliseconds timeout{5000};
};

/**
 * Makes the HTTP DRM gateway: POST /v1/contents, PATCH /v1/contents/{doi}, POST /v1/grants,
 * DELETE /v1/grants/{id}, with service JWTs of aud "drm".
 * @param options the base URL and timeout
 * @param tokens the service JWT source (shared)
 * @return the gateway
 */
IMSP2P_SIP_EXPORT std::shared_ptr<drm_gateway> make_http_drm_gateway(
    http_gateway_options options, std::shared_ptr<service_token_source> tokens);

/**
 * Makes the HTTP gateway of one tracker: GET /admin/stats, POST /admin/torrents,
 * PATCH /admin/torrents/{hex}, with service JWTs of aud "tracker".
 * @param options the admin base URL and timeout
 * @param announce_url the announce base URL peers use
 * @param tokens the service JWT source (shared)
 * @return the gateway
 */
IMSP2P_SIP_EXPORT std::shared_ptr<tracker_gateway> make_http_tracker_gateway(
    http_gateway_options options, std::string announce_url,
    std::shared_ptr<service_token_source> tokens);

/**
 * Makes the HTTP content index gateway: PUT and DELETE /admin/entries/{doi}, with service JWTs
 * of aud "index".
 * @param options the base URL (also the public base of the torrent URLs) and timeout
 * @param tokens the service JWT source (shared)
 * @return the gateway
 */
IMSP2P_SIP_EXPORT std::shared_ptr<index_gateway> make_http_index_gateway(
    http_gateway_options options, std::shared_ptr<service_token_source> tokens);

/**
 * Percent-encodes a DOI for a URL path segment (RFC 3986 unreserved characters stay, every
 * other byte becomes %XX, "/" included).
 * @param doi the DOI
 * @return the encoded canonical form
 */
IMSP2P_SIP_EXPORT std::string doi_path_segment(const core::doi& doi);

}  // namespace imsp2p::sip
