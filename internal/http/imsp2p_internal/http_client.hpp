/**
 * @file
 * Private, header-only blocking HTTP/1.1 client (Boost.Beast) shared by the libraries that call
 * other servers' HTTP APIs (the AS calling the DRM server, tracker and content index; the client
 * fetching licenses and torrents). Not installed and not part of the SDK's API.
 *
 * Each call runs an io_context on the calling thread, so it is safe from any thread and honours a
 * whole-exchange timeout. perform() opens and closes one connection per exchange;
 * connection_pool::perform() keeps idle keep-alive connections and reuses them (a server that
 * is called many times per second, such as the DRM server by the AS, should not cost a TCP
 * handshake, a TIME_WAIT socket and a resolver thread per call). Plain `http://` only (TLS
 * belongs in front, e.g. a proxy).
 */
#pragma once

#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#endif
#include <boost/asio/connect.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC diagnostic pop
#endif

#include <sys/socket.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cstdint>
#include <iterator>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <system_error>
#include <utility>
#include <vector>

namespace imsp2p::internal::http {

/** The parts of an `http://host[:port][/path]` URL. */
struct url_parts {
    std::string host;          ///< Host name or address (IPv6 without brackets).
    std::string port = "80";   ///< Port as text.
    std::string target = "/";  ///< Path and query.
};

/**
 * Splits an http URL.
 * @return false if the URL is not `http://...` or has an empty host or a bad port
 */
inline bool parse_url(std::string_view url, url_parts& out) {
    constexpr std::string_view scheme = "http://";
    if (url.size() <= scheme.size() || url.substr(0, scheme.size()) != scheme) {
        return false;
    }
    url.remove_prefix(scheme.size());
    const auto slash = url.find('/');
    std::string_view authority = url.substr(0, slash);
    out.target = slash == std::string_view::npos ? "/" : std::string(url.substr(slash));
    if (!authority.empty() && authority.front() == '[') {
        const auto close = authority.find(']');
        if (close == std::string_view::npos) {
            return false;
        }
        out.host = std::string(authority.substr(1, close - 1));
        authority.remove_prefix(close + 1);
        if (!authority.empty()) {
            if (authority.front() != ':') {
                return false;
            }
            out.port = std::string(authority.substr(1));
        }
    } else {
        const auto colon = authority.rfind(':');
        out.host = std::string(authority.substr(0, colon));
        if (colon != std::string_view::npos) {
            out.port = std::string(authority.substr(colon + 1));
        }
    }
    if (out.host.empty() || out.port.empty() || out.port.size() > 5) {
        return false;
    }
    for (const char c : out.port) {
        if (c < '0' || c > '9') {
            return false;
        }
    }
    return std::stoul(out.port) <= 65535;
}

/** One exchange's outcome. */
struct client_response {
    int status = 0;            ///< HTTP status (0 if no response arrived).
    std::string content_type;  ///< Content-Type of the response.
    std::string body;          ///< Response body.
    std::vector<std::pair<std::string, std::string>> headers;  ///< All response headers.

    /** @return the first header with that name (case-insensitive), or "". */
    [[nodiscard]] std::string header(std::string_view name) const {
        for (const auto& [key, value] : headers) {
            if (boost::beast::iequals(key, boost::beast::string_view(name.data(), name.size()))) {
                return value;
            }
        }
        return {};
    }
};

/** Options of one exchange. */
struct client_request {
    boost::beast::http::verb method = boost::beast::http::verb::get;  ///< Method.
    std::string url;                                                  ///< `http://` URL.
    std::string bearer_token;  ///< If not empty, sent as `Authorization: Bearer`.
    std::string content_type;  ///< Content-Type of the body, if any.
    std::string body;          ///< Request body.
    std::vector<std::pair<std::string, std::string>> headers;  ///< Extra request headers.
    std::chrono::milliseconds timeout{10000};                  ///< Whole-exchange time limit.
    std::uint64_t max_response_body = 64ull << 20;             ///< Largest response body accepted.
};

namespace detail {

/** One TCP connection with the io_context it runs on (used by one thread at a time). */
struct client_connection {
    client_connection() : stream(io) {}
    client_connection(const client_connection&) = delete;
    client_connection& operator=(const client_connection&) = delete;
    ~client_connection() {
        boost::beast::error_code ignored;
        stream.socket().shutdown(boost::asio::ip::tcp::socket::shutdown_both, ignored);
        stream.socket().close(ignored);
    }

    boost::asio::io_context io;                        ///< Runs this connection's handlers.
    boost::beast::tcp_stream stream;                   ///< The socket, with its timeout.
    std::string key;                                   ///< "host:port" it is connected to.
    std::chrono::steady_clock::time_point idle_since;  ///< When it went back to the pool.
};

/** @return true if the peer has not closed an idle connection (a non-blocking peek). */
inline bool still_open(client_connection& connection) {
    auto& socket = connection.stream.socket();
    if (!socket.is_open()) {
        return false;
    }
    char byte = 0;
    const auto got = ::recv(socket.native_handle(), &byte, 1, MSG_PEEK | MSG_DONTWAIT);
    // 0: orderly close; > 0: unsolicited data (a protocol error on an idle HTTP/1.1
    // connection); -1 with EAGAIN: alive and quiet.
    return got < 0 && (errno == EAGAIN || errno == EWOULDBLOCK);
}

/** What one exchange on a connection ended with. */
struct exchange_outcome {
    boost::beast::error_code error;  ///< Transport error (none: a whole response arrived).
    bool response_started = false;   ///< At least one byte of a response arrived.
    bool reusable = false;           ///< The connection may carry another exchange.
};

/**
 * Runs one exchange on @p connection: connects first when @p connect is set (an IP literal is
 * used directly; a name is resolved asynchronously), then writes @p message and reads the
 * response into @p out.
 */
inline exchange_outcome run_exchange(
    client_connection& connection, bool connect, const url_parts& parts,
    boost::beast::http::request<boost::beast::http::string_body>& message,
    const client_request& req, client_response& out) {
    namespace net = boost::asio;
    namespace beast = boost::beast;
    namespace bhttp = boost::beast::http;
    exchange_outcome outcome;
    beast::flat_buffer buffer;
    bhttp::response_parser<bhttp::string_body> parser;
    parser.body_limit(req.max_response_body);
    auto& stream = connection.stream;
    net::ip::tcp::resolver resolver(connection.io);
    beast::error_code& error = outcome.error;

    const auto exchange = [&] {
        bhttp::async_write(stream, message, [&](beast::error_code write_error, std::size_t) {
            if (write_error) {
                error = write_error;
                return;
            }
            bhttp::async_read(
                stream, buffer, parser,
                [&](beast::error_code read_error, std::size_t) { error = read_error; });
        });
    };
    const auto on_connect = [&](beast::error_code connect_error) {
        if (connect_error) {
            error = connect_error;
            return;
        }
        beast::error_code ignored;
        stream.socket().set_option(net::ip::tcp::no_delay(true), ignored);
        exchange();
    };

    connection.io.restart();
    stream.expires_after(req.timeout);
    if (!connect) {
        exchange();
    } else {
        beast::error_code literal_error;
        const auto address = net::ip::make_address(parts.host, literal_error);
        if (!literal_error) {
            const net::ip::tcp::endpoint endpoint(
                address, static_cast<unsigned short>(std::stoul(parts.port)));
            stream.async_connect(endpoint, on_connect);
        } else {
            resolver.async_resolve(
                parts.host, parts.port,
                [&](beast::error_code resolve_error, net::ip::tcp::resolver::results_type results) {
                    if (resolve_error) {
                        error = resolve_error;
                        return;
                    }
                    stream.async_connect(
                        results, [&](beast::error_code connect_error,
                                     const net::ip::tcp::endpoint&) { on_connect(connect_error); });
                });
        }
    }
    connection.io.run();
    outcome.response_started = parser.got_some();
    if (error) {
        return outcome;
    }
    const auto& res = parser.get();
    out.status = static_cast<int>(res.result_int());
    out.content_type = std::string(res[bhttp::field::content_type]);
    out.headers.clear();
    for (const auto& field : res) {
        out.headers.emplace_back(std::string(field.name_string()), std::string(field.value()));
    }
    out.body = res.body();
    outcome.reusable = parser.is_done() && res.keep_alive() && message.keep_alive();
    return outcome;
}

/** Builds the request message of an exchange. */
inline boost::beast::http::request<boost::beast::http::string_body> make_message(
    const client_request& req, const url_parts& parts, bool keep_alive) {
    namespace bhttp = boost::beast::http;
    bhttp::request<bhttp::string_body> message{req.method, parts.target, 11};
    message.set(bhttp::field::host, parts.host + ":" + parts.port);
    message.set(bhttp::field::user_agent, "imsp2p");
    if (!req.bearer_token.empty()) {
        message.set(bhttp::field::authorization, "Bearer " + req.bearer_token);
    }
    for (const auto& [name, value] : req.headers) {
        message.set(name, value);
    }
    if (!req.body.empty() || req.method == bhttp::verb::post || req.method == bhttp::verb::put ||
        req.method == bhttp::verb::patch) {
        if (!req.content_type.empty()) {
            message.set(bhttp::field::content_type, req.content_type);
        }
        message.body() = req.body;
    }
    message.keep_alive(keep_alive);
    message.prepare_payload();
    return message;
}

/** Maps a Beast transport error to the error contract of perform(). */
inline std::error_code transport_error(const boost::beast::error_code& error) {
    return error == boost::beast::error::timeout ? std::make_error_code(std::errc::timed_out)
                                                 : std::error_code(error);
}

}  // namespace detail

/**
 * Performs one exchange (connect, write, read, close).
 * @param ec transport errors (resolve, connect, timeout, malformed response); an HTTP error
 *        status is not an error here: check client_response::status
 */
inline client_response perform(const client_request& req, std::error_code& ec) {
    ec.clear();
    client_response out;
    url_parts parts;
    if (!parse_url(req.url, parts)) {
        ec = std::make_error_code(std::errc::invalid_argument);
        return out;
    }
    auto message = detail::make_message(req, parts, false);
    detail::client_connection connection;
    const auto outcome = detail::run_exchange(connection, true, parts, message, req, out);
    if (outcome.error) {
        ec = detail::transport_error(outcome.error);
        return client_response{};
    }
    return out;
}

/**
 * Keeps idle HTTP/1.1 keep-alive connections and reuses them for later exchanges with the same
 * host and port. Thread-safe: any number of threads may call perform() at once (each exchange
 * has a connection to itself; more concurrent exchanges than idle connections open new ones).
 * Owned by its user (e.g. one per gateway); destroying it closes the idle connections.
 */
class connection_pool {
  public:
    /**
     * @param max_idle most idle connections kept (further ones are closed when returned)
     * @param max_idle_time an idle connection older than this is closed instead of reused (keep
     *        it below the server's idle timeout, so reuse rarely races a server-side close)
     */
    explicit connection_pool(std::size_t max_idle = 32,
                             std::chrono::milliseconds max_idle_time = std::chrono::seconds(10))
        : max_idle_(max_idle), max_idle_time_(max_idle_time) {}
    connection_pool(const connection_pool&) = delete;
    connection_pool& operator=(const connection_pool&) = delete;

    /**
     * Performs one exchange on an idle connection to the URL's host and port, or on a new one.
     * A reused connection that fails before any byte of the response arrived (the server
     * closed it while it was idle) is replaced by a new connection and the request is sent
     * once more (RFC 9112 §9.3.1 allows this for idempotent requests; use the pool only for
     * calls that are idempotent, e.g. keyed by a request id). A timeout is not retried.
     * @param req the request
     * @param ec as for perform()
     * @return the response (status 0 on error)
     */
    client_response perform(const client_request& req, std::error_code& ec) {
        ec.clear();
        client_response out;
        url_parts parts;
        if (!parse_url(req.url, parts)) {
            ec = std::make_error_code(std::errc::invalid_argument);
            return out;
        }
        auto message = detail::make_message(req, parts, true);
        const std::string key = parts.host + ":" + parts.port;
        for (int attempt = 0; attempt < 2; ++attempt) {
            std::unique_ptr<detail::client_connection> connection =
                attempt == 0 ? take(key) : nullptr;
            const bool fresh = connection == nullptr;
            if (fresh) {
                connection = std::make_unique<detail::client_connection>();
                connection->key = key;
            }
            const auto outcome = detail::run_exchange(*connection, fresh, parts, message, req, out);
            if (!outcome.error) {
                if (outcome.reusable) {
                    give_back(std::move(connection));
                }
                return out;
            }
            if (fresh || outcome.response_started ||
                outcome.error == boost::beast::error::timeout) {
                ec = detail::transport_error(outcome.error);
                return client_response{};
            }
            // A stale pooled connection: retry once on a new one.
        }
        return out;  // not reached
    }

    /** @return the number of idle connections kept now. */
    [[nodiscard]] std::size_t idle_count() const {
        std::lock_guard lock(mutex_);
        return idle_.size();
    }

  private:
    std::unique_ptr<detail::client_connection> take(const std::string& key) {
        const auto now = std::chrono::steady_clock::now();
        std::vector<std::unique_ptr<detail::client_connection>> expired;
        std::unique_ptr<detail::client_connection> found;
        {
            std::lock_guard lock(mutex_);
            // Newest last: reuse the most recently returned connection first.
            for (auto it = idle_.rbegin(); it != idle_.rend(); ++it) {
                if ((*it)->key == key) {
                    found = std::move(*it);
                    idle_.erase(std::next(it).base());
                    break;
                }
            }
            const auto old = std::remove_if(idle_.begin(), idle_.end(), [&](const auto& item) {
                return now - item->idle_since > max_idle_time_;
            });
            std::move(old, idle_.end(), std::back_inserter(expired));
            idle_.erase(old, idle_.end());
        }
        if (found && (now - found->idle_since > max_idle_time_ || !detail::still_open(*found))) {
            found.reset();
        }
        return found;  // `expired` closes outside the lock
    }

    void give_back(std::unique_ptr<detail::client_connection> connection) {
        connection->idle_since = std::chrono::steady_clock::now();
        std::lock_guard lock(mutex_);
        if (idle_.size() < max_idle_) {
            idle_.push_back(std::move(connection));
        }
    }

    std::size_t max_idle_;
    std::chrono::milliseconds max_idle_time_;
    mutable std::mutex mutex_;
    std::vector<std::unique_ptr<detail::client_connection>> idle_;
};

}  // namespace imsp2p::internal::http
