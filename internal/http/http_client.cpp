// The blocking HTTP client's code, compiled once (see http_client.hpp).
#include "imsp2p_internal/http_client.hpp"

namespace imsp2p::internal::http {

bool parse_url(std::string_view url, url_parts& out) {
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

std::string client_response::header(std::string_view name) const {
    for (const auto& [key, value] : headers) {
        if (boost::beast::iequals(key, boost::beast::string_view(name.data(), name.size()))) {
            return value;
        }
    }
    return {};
}

namespace detail {

client_connection::client_connection() : stream(io) {}

client_connection::~client_connection() {
    boost::beast::error_code ignored;
    stream.socket().shutdown(boost::asio::ip::tcp::socket::shutdown_both, ignored);
    stream.socket().close(ignored);
}

bool still_open(client_connection& connection) {
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

exchange_outcome run_exchange(client_connection& connection, bool connect, const url_parts& parts,
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

boost::beast::http::request<boost::beast::http::string_body> make_message(const client_request& req,
                                                                          const url_parts& parts,
                                                                          bool keep_alive) {
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

std::error_code transport_error(const boost::beast::error_code& error) {
    return error == boost::beast::error::timeout ? std::make_error_code(std::errc::timed_out)
                                                 : std::error_code(error);
}

}  // namespace detail

client_response perform(const client_request& req, std::error_code& ec) {
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

client_response connection_pool::perform(const client_request& req, std::error_code& ec) {
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
        std::unique_ptr<detail::client_connection> connection = attempt == 0 ? take(key) : nullptr;
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
        if (fresh || outcome.response_started || outcome.error == boost::beast::error::timeout) {
            ec = detail::transport_error(outcome.error);
            return client_response{};
        }
        // A stale pooled connection: retry once on a new one.
    }
    return out;  // not reached
}

std::unique_ptr<detail::client_connection> connection_pool::take(const std::string& key) {
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

void connection_pool::give_back(std::unique_ptr<detail::client_connection> connection) {
    connection->idle_since = std::chrono::steady_clock::now();
    std::lock_guard lock(mutex_);
    if (idle_.size() < max_idle_) {
        idle_.push_back(std::move(connection));
    }
}

}  // namespace imsp2p::internal::http
