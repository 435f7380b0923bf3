/**
 * @file
 * Private, header-only blocking HTTP/1.1 client (Boost.Beast) shared by the libraries that call
 * other servers' HTTP APIs (the AS calling the DRM server, tracker and content index; the client
 * fetching licenses and torrents). Not installed and not part of the SDK's API.
 *
 * Each call runs a private io_context on the calling thread, so it is safe from any thread and
 * honours a whole-exchange timeout. Plain `http://` only (TLS belongs in front, e.g. a proxy).
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

#include <chrono>
#include <cstdint>
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

/**
 * Performs one exchange (connect, write, read, close).
 * @param ec transport errors (resolve, connect, timeout, malformed response); an HTTP error
 *        status is not an error here: check client_response::status
 */
inline client_response perform(const client_request& req, std::error_code& ec) {
    namespace net = boost::asio;
    namespace beast = boost::beast;
    namespace bhttp = boost::beast::http;
    ec.clear();
    client_response out;
    url_parts parts;
    if (!parse_url(req.url, parts)) {
        ec = std::make_error_code(std::errc::invalid_argument);
        return out;
    }
    net::io_context io;
    net::ip::tcp::resolver resolver(io);
    beast::tcp_stream stream(io);
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
    message.keep_alive(false);
    message.prepare_payload();

    beast::flat_buffer buffer;
    bhttp::response_parser<bhttp::string_body> parser;
    parser.body_limit(req.max_response_body);
    beast::error_code error;
    stream.expires_after(req.timeout);
    resolver.async_resolve(
        parts.host, parts.port,
        [&](beast::error_code resolve_error, net::ip::tcp::resolver::results_type results) {
            if (resolve_error) {
                error = resolve_error;
                return;
            }
            stream.async_connect(
                results, [&](beast::error_code connect_error, const net::ip::tcp::endpoint&) {
                    if (connect_error) {
                        error = connect_error;
                        return;
                    }
                    bhttp::async_write(
                        stream, message, [&](beast::error_code write_error, std::size_t) {
                            if (write_error) {
                                error = write_error;
                                return;
                            }
                            bhttp::async_read(stream, buffer, parser,
                                              [&](beast::error_code read_error, std::size_t) {
                                                  error = read_error;
                                              });
                        });
                });
        });
    io.run();
    beast::error_code ignored;
    stream.socket().shutdown(net::ip::tcp::socket::shutdown_both, ignored);
    if (error) {
        ec = error == beast::error::timeout ? std::make_error_code(std::errc::timed_out)
                                            : std::error_code(error);
        return out;
    }
    const auto& res = parser.get();
    out.status = static_cast<int>(res.result_int());
    out.content_type = std::string(res[bhttp::field::content_type]);
    for (const auto& field : res) {
        out.headers.emplace_back(std::string(field.name_string()), std::string(field.value()));
    }
    out.body = res.body();
    return out;
}

}  // namespace imsp2p::internal::http
