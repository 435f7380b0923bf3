/**
 * @file
 * Private HTTP/1.1 server scaffold (Boost.Beast) shared by the libraries that serve HTTP (the DRM
 * server, the tracker, the content index). Not installed and not part of the SDK's API. The
 * non-template code is compiled once, in internal/http/http_server.cpp (the OBJECT library
 * imsp2p_internal_http_objects), and linked into each library that uses it, with hidden
 * visibility; only start_server_for() is a template.
 *
 * The scaffold owns the acceptor, the connections (one strand each), limits, timeouts, the
 * "answer once and close" rule for malformed or oversized requests, and an optional periodic
 * tick; the owner supplies a handler that maps a parsed request to a response.
 *
 * Threads: every handler runs in a handler of the io_context; the request handler may be called
 * concurrently on several threads if the host runs the io_context on several threads.
 */
#pragma once

// GCC 12 warns, falsely, that Beast's boost::optional "may be used uninitialized" in builds
// with sanitizers; the warning is about Boost's code, not ours.
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#endif
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/strand.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC diagnostic pop
#endif

#include <nlohmann/json.hpp>

#include <atomic>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <system_error>
#include <utility>
#include <vector>

namespace imsp2p::internal::http {

namespace net = boost::asio;
namespace beast = boost::beast;
namespace bhttp = boost::beast::http;
using tcp = net::ip::tcp;

/** A parsed request with its whole body in memory. */
using request = bhttp::request<bhttp::string_body>;
/** A response with its whole body in memory. */
using response = bhttp::response<bhttp::string_body>;

/** @return a Beast string view as a std::string_view. */
inline std::string_view to_std(beast::string_view text) noexcept {
    return {text.data(), text.size()};
}

/** @return the path part of a request target (before '?'). */
inline std::string_view path_of(const request& req) noexcept {
    const std::string_view target = to_std(req.target());
    return target.substr(0, target.find('?'));
}

/** Builds a response with the usual headers (Server, Content-Type, Cache-Control no-store). */
response make_response(const request& req, bhttp::status status, std::string_view server_name,
                       std::string content_type, std::string body);

/** Builds a JSON response. */
response json_response(const request& req, bhttp::status status, std::string_view server_name,
                       const nlohmann::json& body);

/** Builds an RFC 7807 problem document (application/problem+json). */
response problem(const request& req, bhttp::status status, std::string_view server_name,
                 std::string_view title, std::string_view detail);

/**
 * Extracts the token of an `Authorization: Bearer <token>` header.
 * @return the token (a view into @p req), or nullopt when the header is missing or has another
 *         scheme
 */
std::optional<std::string_view> bearer_token(const request& req);

/** A 401 problem with the RFC 6750 WWW-Authenticate header. */
response unauthorized(const request& req, std::string_view server_name, std::string_view detail,
                      bool invalid_token);

/** Writes one Prometheus metric (HELP, TYPE, sample) in text format 0.0.4. */
void append_metric(std::string& out, std::string_view name, std::string_view type,
                   std::string_view help, std::uint64_t value);

/** Settings of the scaffold. A plain value type. */
struct server_settings {
    /** The address to listen on (IPv4 or IPv6 literal). */
    std::string bind_address = "127.0.0.1";
    /** The TCP port; 0 picks an ephemeral port. */
    std::uint16_t port = 0;
    /** Largest request header accepted (bytes). */
    std::uint32_t max_header_size = 16 * 1024;
    /** Largest request body accepted (bytes). */
    std::uint64_t max_body_size = 64 * 1024;
    /** A connection idle or slow for this long is closed. */
    std::chrono::seconds request_timeout{30};
    /** Most connections open at once; further ones are closed at accept (0: unlimited). */
    std::size_t max_connections = 0;
    /** The Server header and the name used in problem documents. */
    std::string server_name = "imsp2p";
};

/** Maps a parsed request and its peer to a response. Must not throw (exceptions become 500). */
using request_handler = std::function<response(const request&, const tcp::endpoint&)>;

/**
 * The scaffold. Shared-owned; create with std::make_shared, then start(); stop() closes
 * everything. The owner keeps the io_context alive until the handlers have finished.
 */
class server : public std::enable_shared_from_this<server> {
  public:
    /**
     * @param io the io_context the server runs on (not owned)
     * @param settings listening address, limits, timeouts
     * @param handler maps requests to responses (called on the io_context)
     * @param on_error called with a message when a handler throws (may be empty)
     */
    server(net::io_context& io, server_settings settings, request_handler handler,
           std::function<void(std::string_view)> on_error = {});
    /** Closes the acceptor and the timers (the last reference is dropped on the io_context). */
    ~server();
    server(const server&) = delete;
    server& operator=(const server&) = delete;

    /** Binds and listens; false with @p ec on failure. Idempotent. */
    bool start(std::error_code& ec);

    /**
     * Calls @p tick every @p period on the io_context until stop(). Call before start().
     */
    void set_tick(std::chrono::milliseconds period, std::function<void()> tick);

    /** Stops accepting and closes every connection (asynchronously). Thread-safe, idempotent. */
    void stop();

    /** @return the bound port after start(), 0 before. */
    [[nodiscard]] std::uint16_t port() const noexcept { return port_.load(); }
    /** @return requests parsed so far. */
    [[nodiscard]] std::uint64_t requests() const noexcept { return requests_.load(); }
    /** @return connections currently open. */
    [[nodiscard]] std::uint64_t open_connections() const noexcept { return open_.load(); }
    /** @return connections refused because max_connections was reached. */
    [[nodiscard]] std::uint64_t refused_connections() const noexcept { return refused_.load(); }
    /** @return the settings. */
    [[nodiscard]] const server_settings& settings() const noexcept { return settings_; }

  private:
    /** One accepted connection (defined in http_server.cpp). */
    struct session;

    void accept();
    void schedule_tick();
    void close_all();

    net::io_context& io_;
    server_settings settings_;
    request_handler handler_;
    std::function<void(std::string_view)> on_error_;
    tcp::acceptor acceptor_;
    net::steady_timer timer_;
    net::steady_timer retry_timer_;
    std::chrono::milliseconds tick_period_{60000};
    std::function<void()> tick_;
    std::atomic<std::uint16_t> port_{0};
    std::atomic<bool> started_{false};
    std::atomic<bool> stopping_{false};
    std::atomic<std::uint64_t> requests_{0};
    std::atomic<std::uint64_t> open_{0};
    std::atomic<std::uint64_t> refused_{0};
    std::mutex sessions_mutex_;
    std::vector<std::weak_ptr<session>> sessions_;
};

/**
 * Creates and starts a scaffold whose handlers reach @p owner weakly (the owner keeps the
 * returned server, so a strong capture would be a reference cycle). `Owner` must have
 * `response handle(const request&)` and a `log` member with `error(message, fields)`. While the
 * owner is gone, requests get 503.
 * @return the started server, or nullptr with @p ec set
 */
template <class Owner>
std::shared_ptr<server> start_server_for(net::io_context& io, server_settings settings,
                                         const std::shared_ptr<Owner>& owner, std::error_code& ec) {
    const std::weak_ptr<Owner> weak = owner;
    const std::string name = settings.server_name;
    auto started = std::make_shared<server>(
        io, std::move(settings),
        [weak, name](const request& req, const tcp::endpoint&) {
            if (auto self = weak.lock()) {
                return self->handle(req);
            }
            return problem(req, bhttp::status::service_unavailable, name, "Unavailable",
                           "the server is shutting down");
        },
        [weak](std::string_view message) {
            if (auto self = weak.lock()) {
                self->log.error("request failed", {{"error", std::string(message)}});
            }
        });
    if (!started->start(ec)) {
        return nullptr;
    }
    return started;
}

}  // namespace imsp2p::internal::http
