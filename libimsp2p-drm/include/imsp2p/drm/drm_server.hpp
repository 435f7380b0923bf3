/**
 * @file
 * The DRM server's HTTP API (JSON over HTTP/1.1, Boost.Beast) on top of a drm_service, and
 * drm_runner, the whole `imsp2p-drm` program as a class.
 *
 * Routes (service calls carry `Authorization: Bearer <service JWT>`, an AS ticket with aud
 * "drm" and role "service"):
 * - `GET /.well-known/jwks.json`: the DRM JWK Set (Ed25519 "sig" key, X25519 "enc" key).
 * - `POST /v1/contents` [service] content_registration -> 201 {"doi","kid","state",...};
 *   the same DOI and kid again -> 200; the DOI with another kid -> 409; a bad JWE -> 400.
 * - `GET|PATCH /v1/contents/{doi percent-encoded}` [service]; PATCH {"state":
 *   "active"|"withdrawn"} -> 200 with the content.
 * - `GET /v1/contents/{doi}/grants` [service] -> {"grants":[...]} (the provider report).
 * - `POST /v1/grants` [service] grant_request -> 201 grant; the same request_id -> 200 with
 *   the same grant; unknown DOI 404; withdrawn 403; malformed 400.
 * - `GET|DELETE /v1/grants/{grant_id}` [service]; DELETE revokes -> 200 with the grant.
 * - `POST /v1/licenses` with `Authorization: Bearer <grant token>` and license_request ->
 *   200 `application/jose` (the license); 401 bad token, 403 revoked/withdrawn/no grant/wrong
 *   device, 404 unknown DOI.
 * - `GET /health` -> {"status":"ok",...}; `GET /metrics` -> Prometheus text format 0.0.4.
 *
 * Every error is an RFC 7807 `application/problem+json` document whose "type" names the
 * condition (problem_type()), e.g. `urn:imsp2p:problem:grant-revoked`, with a precise "detail".
 *
 * Threads: the server does its work in handlers of one io_context (its own or the host's);
 * each connection runs on its own strand, so the host may run the io_context on several threads
 * (the drm_service is thread-safe).
 */
#pragma once

#include <imsp2p/core/config.hpp>
#include <imsp2p/core/log.hpp>
#include <imsp2p/drm/drm_service.hpp>
#include <imsp2p/drm/export.hpp>

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <system_error>

namespace boost::asio {
class io_context;
}  // namespace boost::asio

namespace imsp2p::drm {

/** The prefix of the problem "type" URIs of the DRM API. */
inline constexpr std::string_view problem_type_prefix = "urn:imsp2p:problem:";

/**
 * The problem "type" URI the server uses for an error, e.g. errc::grant_revoked ->
 * "urn:imsp2p:problem:grant-revoked".
 * @param ec an error of the drm category (others give "urn:imsp2p:problem:internal")
 * @return the URI
 */
IMSP2P_DRM_EXPORT std::string problem_type(const std::error_code& ec);

/**
 * The inverse of problem_type().
 * @param type a problem "type" URI
 * @return the drm error it names, or an empty error_code if it names none
 */
IMSP2P_DRM_EXPORT std::error_code error_from_problem_type(std::string_view type);

/** Settings of the HTTP server. A plain value type. */
struct drm_server_settings {
    /** The address to listen on (IPv4 or IPv6 literal). */
    std::string bind_address = "127.0.0.1";
    /** The TCP port; 0 picks a free port (see drm_server::port()). */
    std::uint16_t port = 8088;
    /** Largest request body accepted (bytes); larger requests get 413. */
    std::uint64_t max_body_size = 64 * 1024;
    /** A connection idle or slow for this long is closed. */
    std::chrono::seconds request_timeout{30};
    /** Most connections open at once (0: unlimited). */
    std::size_t max_connections = 1024;
};

/**
 * The DRM HTTP server. Not copyable or movable (pimpl).
 *
 * Lifetime: the drm_service must outlive the server. With a host-owned io_context, the host
 * keeps running it until the handlers have finished after stop(), and the io_context outlives
 * the server.
 */
class IMSP2P_DRM_EXPORT drm_server {
  public:
    /**
     * Creates a server with its own io_context, driven by run().
     * @param service the DRM logic (not owned)
     * @param settings the HTTP settings
     * @param log where the server logs (component "drm.http" is typical)
     */
    drm_server(drm_service& service, drm_server_settings settings, core::logger log);
    /**
     * Creates a server on a host-owned io_context.
     * @param io the io_context (not owned)
     * @param service the DRM logic (not owned)
     * @param settings the HTTP settings
     * @param log where the server logs
     */
    drm_server(boost::asio::io_context& io, drm_service& service, drm_server_settings settings,
               core::logger log);
    /** Stops the server; with its own io_context, also drains its pending handlers. */
    ~drm_server();
    drm_server(const drm_server&) = delete;             ///< Not copyable.
    drm_server& operator=(const drm_server&) = delete;  ///< Not copyable.

    /**
     * Binds and starts accepting. Idempotent.
     * @param ec the bind error (e.g. address in use); cleared on success
     */
    void start(std::error_code& ec);
    /** Throwing form of start(). @throws std::system_error naming the address */
    void start();
    /** @return the bound port after start(), 0 before. */
    [[nodiscard]] std::uint16_t port() const noexcept;
    /**
     * Starts if needed, then runs the io_context on the calling thread until stop() has taken
     * effect and no work is left.
     */
    void run();
    /** Stops accepting and closes every connection. Thread-safe, idempotent, returns at once. */
    void stop();
    /** @return the HTTP requests parsed so far. */
    [[nodiscard]] std::uint64_t requests() const noexcept;

  private:
    struct state;
    std::unique_ptr<boost::asio::io_context> owned_io_;
    std::shared_ptr<state> impl_;
};

/**
 * The `imsp2p-drm` program as a class: reads the configuration, opens the drm_service, listens,
 * logs, and runs until SIGINT/SIGTERM or stop().
 *
 * Configuration (JSON; every member optional except data_dir):
 * ```
 * {"listen": {"address": "127.0.0.1", "port": 8088},
 *  "data_dir": "/var/lib/imsp2p-drm",      // drm.sqlite, DRM key files, master.key
 *  "master_key": "/etc/imsp2p/drm-master.key",   // default <data_dir>/master.key (0600)
 *  "as_jwks": "as-jwks.json",              // the AS public keys (JWK Set file), or
 *  "as_public_key": {"kty":"OKP","crv":"Ed25519","x":"...","kid":"..."},  // a pinned key
 *  "as_issuer": "sip:as.ims.example",      // required "iss" of AS tokens
 *  "issuer": "imsp2p-drm",                 // "iss" of licenses
 *  "license_validity": "1h", "threads": 2,
 *  "log": {"level": "info", "format": "text"}}
 * ```
 * Not copyable (pimpl). run() blocks the calling thread; stop() and port() may be called from
 * any thread.
 */
class IMSP2P_DRM_EXPORT drm_runner {
  public:
    /**
     * Opens everything, takes over SIGINT and SIGTERM for this process (a signal arriving
     * before run() is kept for it) and starts listening (so port() is known when this returns).
     * @param config the configuration (relative paths resolve against its base directory)
     * @throws std::system_error (config_missing_value, config_bad_value, key, database or bind
     *         errors) with a message naming the setting or file
     */
    explicit drm_runner(const core::config& config);
    /** Stops and closes everything. */
    ~drm_runner();
    drm_runner(const drm_runner&) = delete;             ///< Not copyable.
    drm_runner& operator=(const drm_runner&) = delete;  ///< Not copyable.

    /**
     * Serves until SIGINT or SIGTERM arrives or stop() is called, then returns.
     * @return the process exit status (0)
     */
    int run();
    /** Asks run() to return. Thread-safe, idempotent. */
    void stop();
    /** @return the bound port. */
    [[nodiscard]] std::uint16_t port() const noexcept;
    /** @return the service (valid while the runner lives). */
    [[nodiscard]] drm_service& service() noexcept;

  private:
    struct impl;
    std::unique_ptr<impl> impl_;
};

}  // namespace imsp2p::drm
