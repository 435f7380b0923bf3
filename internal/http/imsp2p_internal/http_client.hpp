/**
 * @file
 * Private blocking HTTP/1.1 client (Boost.Beast) shared by the libraries that call other servers'
 * HTTP APIs (the AS calling the DRM server, tracker and content index; the client fetching
 * licenses and torrents). Not installed and not part of the SDK's API. The code is compiled once,
 * in internal/http/http_client.cpp (the OBJECT library imsp2p_internal_http_objects), and linked
 * into each library that uses it, with hidden visibility.
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
bool parse_url(std::string_view url, url_parts& out);

/** One exchange's outcome. */
struct client_response {
    int status = 0;            ///< HTTP status (0 if no response arrived).
    std::string content_type;  ///< Content-Type of the response.
    std::string body;          ///< Response body.
    std::vector<std::pair<std::string, std::string>> headers;  ///< All response headers.

    /** @return the first header with that name (case-insensitive), or "". */
    [[nodiscard]] std::string header(std::string_view name) const;
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
    client_connection();
    client_connection(const client_connection&) = delete;
    client_connection& operator=(const client_connection&) = delete;
    ~client_connection();

    boost::asio::io_context io;                        ///< Runs this connection's handlers.
    boost::beast::tcp_stream stream;                   ///< The socket, with its timeout.
    std::string key;                                   ///< "host:port" it is connected to.
    std::chrono::steady_clock::time_point idle_since;  ///< When it went back to the pool.
};

/** @return true if the peer has not closed an idle connection (a non-blocking peek). */
bool still_open(client_connection& connection);

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
exchange_outcome run_exchange(client_connection& connection, bool connect, const url_parts& parts,
                              boost::beast::http::request<boost::beast::http::string_body>& message,
                              const client_request& req, client_response& out);

/** Builds the request message of an exchange. */
boost::beast::http::request<boost::beast::http::string_body> make_message(const client_request& req,
                                                                          const url_parts& parts,
                                                                          bool keep_alive);

/** Maps a Beast transport error to the error contract of perform(). */
std::error_code transport_error(const boost::beast::error_code& error);

}  // namespace detail

/**
 * Performs one exchange (connect, write, read, close).
 * @param ec transport errors (resolve, connect, timeout, malformed response); an HTTP error
 *        status is not an error here: check client_response::status
 */
client_response perform(const client_request& req, std::error_code& ec);

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
    client_response perform(const client_request& req, std::error_code& ec);

    /** @return the number of idle connections kept now. */
    [[nodiscard]] std::size_t idle_count() const {
        std::lock_guard lock(mutex_);
        return idle_.size();
    }

  private:
    std::unique_ptr<detail::client_connection> take(const std::string& key);
    void give_back(std::unique_ptr<detail::client_connection> connection);

    std::size_t max_idle_;
    std::chrono::milliseconds max_idle_time_;
    mutable std::mutex mutex_;
    std::vector<std::unique_ptr<detail::client_connection>> idle_;
};

}  // namespace imsp2p::internal::http
