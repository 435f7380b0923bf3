/**
 * @file
 * The HTTP front end of the tracker (Boost.Beast over Asio): announce and scrape for peers,
 * the admin API for the AS, /health and Prometheus /metrics.
 *
 * Routes:
 * - `GET /announce/<ticket>?...` and `GET /scrape/<ticket>?...`: bencoded (BEP 3/23/7/48);
 *   refusals are HTTP 200 with a `failure reason`, as BitTorrent clients expect.
 * - `GET /health`: JSON {"status":"ok",...}. `GET /metrics`: Prometheus text format 0.0.4.
 * - Admin (JSON; `Authorization: Bearer <service JWT>`, aud "tracker", role "service"):
 *   `POST /admin/torrents` {"info_hash_v1"?, "info_hash_v2"?, "doi"?, "state"?} -> 201;
 *   `GET /admin/torrents` -> {"torrents":[...]}; `GET /admin/torrents/<hex>` -> the torrent;
 *   `PATCH /admin/torrents/<hex>` {"state": "active"|"disabled"|"muted"} -> the torrent;
 *   `DELETE /admin/torrents/<hex>` -> 200 with the torrent as it was, "state": "unregistered"
 *   (its peers are dropped and its row deleted; later announces get "not registered");
 *   `GET /admin/stats` -> global statistics. Errors are RFC 7807 application/problem+json.
 *
 * - `GET /metrics` also reports `imsp2p_tracker_http_connections_open` and
 *   `imsp2p_tracker_http_connections_refused_total` (closed at accept: max_connections).
 *
 * Threads: the server does all its work in handlers of one io_context (its own, or the host's).
 * Each connection runs on its own strand, so the host may run the io_context on several threads.
 * The connection handling is the private HTTP scaffold shared with the other HTTP servers.
 */
#pragma once

#include <imsp2p/tracker/export.hpp>
#include <imsp2p/tracker/tracker_service.hpp>

#include <imsp2p/core/log.hpp>

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <system_error>

namespace boost::asio {
class io_context;
}  // namespace boost::asio

namespace imsp2p::tracker {

/** Settings of the HTTP server. A plain value type. */
struct server_settings {
    /** The address to listen on (IPv4 or IPv6 literal). */
    std::string bind_address = "127.0.0.1";
    /** The TCP port; 0 picks an ephemeral port (see tracker_server::port()). */
    std::uint16_t port = 6969;
    /** Largest request header accepted (bytes); larger requests get 431/400 and are closed. */
    std::uint32_t max_header_size = 16 * 1024;
    /** Largest request body accepted (bytes; admin API only). */
    std::uint64_t max_body_size = 64 * 1024;
    /** A connection idle or slow for this long is closed. */
    std::chrono::seconds request_timeout{30};
    /** How often expired peers are swept. */
    std::chrono::seconds sweep_period{60};
    /**
     * Most HTTP connections open at once; a connection accepted beyond it is closed at once and
     * counted (tracker_server::refused_connections(), /metrics). 0 means unlimited.
     */
    std::size_t max_connections = 10000;
};

/**
 * The tracker HTTP server. Not copyable or movable (pimpl).
 *
 * Lifetime: the tracker_service must outlive the server. With a host-owned io_context, the host
 * must keep running it until the server's handlers have finished after stop() (run() returns
 * when they have, if nothing else is queued) and the io_context must outlive the server.
 */
class IMSP2P_TRACKER_EXPORT tracker_server {
  public:
    /**
     * Creates a server with its own io_context, driven by run().
     * @param service the tracker state (not owned)
     * @param settings the HTTP settings
     * @param log where the server logs (component "tracker.http" is typical)
     */
    tracker_server(tracker_service& service, server_settings settings, core::logger log);
    /**
     * Creates a server on a host-owned io_context (the host calls run() on it, or run()).
     * @param io the io_context (not owned)
     * @param service the tracker state (not owned)
     * @param settings the HTTP settings
     * @param log where the server logs
     */
    tracker_server(boost::asio::io_context& io, tracker_service& service, server_settings settings,
                   core::logger log);
    /** Stops the server; with its own io_context, also drains its pending handlers. */
    ~tracker_server();
    tracker_server(const tracker_server&) = delete;
    tracker_server& operator=(const tracker_server&) = delete;

    /**
     * Binds and starts accepting (handlers run on the io_context). Idempotent.
     * @param ec the bind error (e.g. address in use), cleared on success
     */
    void start(std::error_code& ec);
    /** Throwing form of start(). @throws std::system_error naming the address */
    void start();

    /** @return the bound port (after start()), 0 before. */
    [[nodiscard]] std::uint16_t port() const noexcept;

    /**
     * Starts if needed, then runs the io_context on the calling thread until stop() has taken
     * effect and no work is left. May be called from several threads at once.
     */
    void run();

    /**
     * Stops accepting and closes every connection. Thread-safe, idempotent; returns at once
     * (the closing happens in handlers on the io_context).
     */
    void stop();

    /** @return the io_context the server runs on. */
    [[nodiscard]] boost::asio::io_context& context() noexcept;

    /** @return connections closed at accept because server_settings::max_connections was hit. */
    [[nodiscard]] std::uint64_t refused_connections() const noexcept;

  private:
    struct state;
    std::unique_ptr<boost::asio::io_context> owned_io_;
    std::shared_ptr<state> impl_;
};

}  // namespace imsp2p::tracker
