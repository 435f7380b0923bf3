/**
 * @file
 * Private, header-only HTTP/1.1 server scaffold (Boost.Beast) shared by the libraries that serve
 * HTTP (the DRM server, the tracker, the content index). Not installed and not part of the SDK's
 * API: each library compiles its own copy, with hidden visibility.
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
inline response make_response(const request& req, bhttp::status status,
                              std::string_view server_name, std::string content_type,
                              std::string body) {
    response res{status, req.version()};
    res.set(bhttp::field::server, std::string(server_name));
    res.set(bhttp::field::content_type, content_type);
    res.set(bhttp::field::cache_control, "no-store");
    res.keep_alive(req.keep_alive());
    res.body() = std::move(body);
    res.prepare_payload();
    return res;
}

/** Builds a JSON response. */
inline response json_response(const request& req, bhttp::status status,
                              std::string_view server_name, const nlohmann::json& body) {
    return make_response(req, status, server_name, "application/json", body.dump());
}

/** Builds an RFC 7807 problem document (application/problem+json). */
inline response problem(const request& req, bhttp::status status, std::string_view server_name,
                        std::string_view title, std::string_view detail) {
    nlohmann::json body = {{"type", "about:blank"},
                           {"title", title},
                           {"status", static_cast<int>(status)},
                           {"detail", detail}};
    return make_response(req, status, server_name, "application/problem+json", body.dump());
}

/**
 * Extracts the token of an `Authorization: Bearer <token>` header.
 * @return the token, or nullopt when the header is missing or has another scheme
 */
inline std::optional<std::string_view> bearer_token(const request& req) {
    const std::string_view authorization = to_std(req[bhttp::field::authorization]);
    constexpr std::string_view scheme = "Bearer ";
    if (authorization.size() <= scheme.size() ||
        !beast::iequals(beast::string_view(authorization.data(), scheme.size()),
                        beast::string_view(scheme.data(), scheme.size()))) {
        return std::nullopt;
    }
    return authorization.substr(scheme.size());
}

/** A 401 problem with the RFC 6750 WWW-Authenticate header. */
inline response unauthorized(const request& req, std::string_view server_name,
                             std::string_view detail, bool invalid_token) {
    response res = problem(req, bhttp::status::unauthorized, server_name, "Unauthorized", detail);
    res.set(bhttp::field::www_authenticate,
            invalid_token ? "Bearer error=\"invalid_token\"" : "Bearer");
    return res;
}

/** Writes one Prometheus metric (HELP, TYPE, sample) in text format 0.0.4. */
inline void append_metric(std::string& out, std::string_view name, std::string_view type,
                          std::string_view help, std::uint64_t value) {
    out.append("# HELP ").append(name).append(" ").append(help).append("\n# TYPE ");
    out.append(name).append(" ").append(type).append("\n");
    out.append(name).append(" ").append(std::to_string(value)).append("\n");
}

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
           std::function<void(std::string_view)> on_error = {})
        : io_(io),
          settings_(std::move(settings)),
          handler_(std::move(handler)),
          on_error_(std::move(on_error)),
          acceptor_(net::make_strand(io)),
          timer_(acceptor_.get_executor()),
          retry_timer_(acceptor_.get_executor()) {}

    /** Binds and listens; false with @p ec on failure. Idempotent. */
    bool start(std::error_code& ec) {
        ec.clear();
        if (started_.exchange(true)) {
            return true;
        }
        beast::error_code error;
        const auto address = net::ip::make_address(settings_.bind_address, error);
        if (!error) {
            const tcp::endpoint endpoint(address, settings_.port);
            acceptor_.open(endpoint.protocol(), error);
            if (!error) {
                acceptor_.set_option(net::socket_base::reuse_address(true), error);
            }
            if (!error) {
                acceptor_.bind(endpoint, error);
            }
            if (!error) {
                acceptor_.listen(net::socket_base::max_listen_connections, error);
            }
        }
        if (error) {
            beast::error_code ignored;
            acceptor_.close(ignored);
            started_ = false;
            ec = error;
            return false;
        }
        port_ = acceptor_.local_endpoint().port();
        net::post(acceptor_.get_executor(), [self = shared_from_this()] {
            if (!self->stopping_) {
                self->accept();
                self->schedule_tick();
            }
        });
        return true;
    }

    /**
     * Calls @p tick every @p period on the io_context until stop(). Call before start().
     */
    void set_tick(std::chrono::milliseconds period, std::function<void()> tick) {
        tick_period_ = period;
        tick_ = std::move(tick);
    }

    /** Stops accepting and closes every connection (asynchronously). Thread-safe, idempotent. */
    void stop() {
        if (stopping_.exchange(true)) {
            return;
        }
        net::post(acceptor_.get_executor(), [self = shared_from_this()] { self->close_all(); });
    }

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
    struct session : std::enable_shared_from_this<session> {
        session(tcp::socket socket, std::shared_ptr<server> owner)
            : stream(std::move(socket)), srv(std::move(owner)) {
            srv->open_.fetch_add(1);
        }
        ~session() { srv->open_.fetch_sub(1); }
        session(const session&) = delete;
        session& operator=(const session&) = delete;

        beast::tcp_stream stream;
        std::shared_ptr<server> srv;
        beast::flat_buffer buffer;
        std::optional<bhttp::request_parser<bhttp::string_body>> parser;
        response res;
        tcp::endpoint remote;

        void start() {
            beast::error_code ec;
            remote = stream.socket().remote_endpoint(ec);
            read();
        }

        void read() {
            parser.emplace();
            parser->header_limit(srv->settings_.max_header_size);
            parser->body_limit(srv->settings_.max_body_size);
            stream.expires_after(srv->settings_.request_timeout);
            bhttp::async_read(stream, buffer, *parser,
                              [self = shared_from_this()](beast::error_code ec, std::size_t) {
                                  self->on_read(ec);
                              });
        }

        void on_read(beast::error_code ec) {
            if (ec == bhttp::error::end_of_stream || ec == net::error::operation_aborted ||
                ec == beast::error::timeout || srv->stopping_) {
                close();
                return;
            }
            if (ec) {
                request dummy;
                dummy.version(11);
                dummy.keep_alive(false);
                const bool too_large =
                    ec == bhttp::error::header_limit || ec == bhttp::error::body_limit;
                res = problem(
                    dummy,
                    too_large ? bhttp::status::payload_too_large : bhttp::status::bad_request,
                    srv->settings_.server_name,
                    too_large ? "Request too large" : "Malformed request", ec.message());
                res.keep_alive(false);
                write();
                return;
            }
            srv->requests_.fetch_add(1, std::memory_order_relaxed);
            const request req = parser->release();
            try {
                res = srv->handler_(req, remote);
            } catch (const std::exception& error) {
                if (srv->on_error_) {
                    srv->on_error_(error.what());
                }
                res = problem(req, bhttp::status::internal_server_error, srv->settings_.server_name,
                              "Internal error", "the request could not be handled");
            }
            write();
        }

        void write() {
            stream.expires_after(srv->settings_.request_timeout);
            bhttp::async_write(stream, res,
                               [self = shared_from_this()](beast::error_code ec, std::size_t) {
                                   if (ec || !self->res.keep_alive() || self->srv->stopping_) {
                                       self->close();
                                       return;
                                   }
                                   self->read();
                               });
        }

        void close() {
            beast::error_code ignored;
            stream.socket().shutdown(tcp::socket::shutdown_both, ignored);
            stream.socket().close(ignored);
        }
    };

    void accept() {
        acceptor_.async_accept(
            net::make_strand(io_),
            [self = shared_from_this()](beast::error_code ec, tcp::socket socket) {
                if (ec || self->stopping_) {
                    if (ec != net::error::operation_aborted && !self->stopping_) {
                        if (self->on_error_) {
                            self->on_error_("accept failed: " + ec.message());
                        }
                        // Errors such as EMFILE persist: retrying at once would spin; wait.
                        self->retry_timer_.expires_after(std::chrono::milliseconds(100));
                        self->retry_timer_.async_wait([self](beast::error_code wait_ec) {
                            if (!wait_ec && !self->stopping_) {
                                self->accept();
                            }
                        });
                    }
                    return;
                }
                if (self->settings_.max_connections != 0 &&
                    self->open_.load() >= self->settings_.max_connections) {
                    self->refused_.fetch_add(1, std::memory_order_relaxed);
                    beast::error_code ignored;
                    socket.close(ignored);
                    self->accept();
                    return;
                }
                auto connection = std::make_shared<session>(std::move(socket), self);
                {
                    std::lock_guard lock(self->sessions_mutex_);
                    std::erase_if(self->sessions_, [](const auto& weak) { return weak.expired(); });
                    self->sessions_.push_back(connection);
                }
                net::post(connection->stream.get_executor(), [connection] { connection->start(); });
                self->accept();
            });
    }

    void schedule_tick() {
        if (!tick_) {
            return;
        }
        timer_.expires_after(tick_period_);
        timer_.async_wait([self = shared_from_this()](beast::error_code ec) {
            if (ec || self->stopping_) {
                return;
            }
            try {
                self->tick_();
            } catch (const std::exception& error) {
                if (self->on_error_) {
                    self->on_error_(error.what());
                }
            }
            self->schedule_tick();
        });
    }

    void close_all() {
        beast::error_code ignored;
        acceptor_.close(ignored);
        timer_.cancel();
        retry_timer_.cancel();
        std::vector<std::shared_ptr<session>> live;
        {
            std::lock_guard lock(sessions_mutex_);
            for (const auto& weak : sessions_) {
                if (auto connection = weak.lock()) {
                    live.push_back(std::move(connection));
                }
            }
            sessions_.clear();
        }
        for (auto& connection : live) {
            net::post(connection->stream.get_executor(), [connection] { connection->close(); });
        }
    }

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
