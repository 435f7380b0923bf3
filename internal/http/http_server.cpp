// The HTTP server scaffold's non-template code, compiled once (see http_server.hpp).
#include "imsp2p_internal/http_server.hpp"

#include <exception>

namespace imsp2p::internal::http {

response make_response(const request& req, bhttp::status status, std::string_view server_name,
                       std::string content_type, std::string body) {
    response res{status, req.version()};
    res.set(bhttp::field::server, std::string(server_name));
    res.set(bhttp::field::content_type, content_type);
    res.set(bhttp::field::cache_control, "no-store");
    res.keep_alive(req.keep_alive());
    res.body() = std::move(body);
    res.prepare_payload();
    return res;
}

response json_response(const request& req, bhttp::status status, std::string_view server_name,
                       const nlohmann::json& body) {
    return make_response(req, status, server_name, "application/json", body.dump());
}

response problem(const request& req, bhttp::status status, std::string_view server_name,
                 std::string_view title, std::string_view detail) {
    nlohmann::json body = {{"type", "about:blank"},
                           {"title", title},
                           {"status", static_cast<int>(status)},
                           {"detail", detail}};
    return make_response(req, status, server_name, "application/problem+json", body.dump());
}

std::optional<std::string_view> bearer_token(const request& req) {
    const std::string_view authorization = to_std(req[bhttp::field::authorization]);
    constexpr std::string_view scheme = "Bearer ";
    if (authorization.size() <= scheme.size() ||
        !beast::iequals(beast::string_view(authorization.data(), scheme.size()),
                        beast::string_view(scheme.data(), scheme.size()))) {
        return std::nullopt;
    }
    return authorization.substr(scheme.size());
}

response unauthorized(const request& req, std::string_view server_name, std::string_view detail,
                      bool invalid_token) {
    response res = problem(req, bhttp::status::unauthorized, server_name, "Unauthorized", detail);
    res.set(bhttp::field::www_authenticate,
            invalid_token ? "Bearer error=\"invalid_token\"" : "Bearer");
    return res;
}

void append_metric(std::string& out, std::string_view name, std::string_view type,
                   std::string_view help, std::uint64_t value) {
    out.append("# HELP ").append(name).append(" ").append(help).append("\n# TYPE ");
    out.append(name).append(" ").append(type).append("\n");
    out.append(name).append(" ").append(std::to_string(value)).append("\n");
}

struct server::session : std::enable_shared_from_this<session> {
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
        bhttp::async_read(
            stream, buffer, *parser,
            [self = shared_from_this()](beast::error_code ec, std::size_t) { self->on_read(ec); });
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
            res = problem(dummy,
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

server::server(net::io_context& io, server_settings settings, request_handler handler,
               std::function<void(std::string_view)> on_error)
    : io_(io),
      settings_(std::move(settings)),
      handler_(std::move(handler)),
      on_error_(std::move(on_error)),
      acceptor_(net::make_strand(io)),
      timer_(acceptor_.get_executor()),
      retry_timer_(acceptor_.get_executor()) {}

server::~server() = default;

bool server::start(std::error_code& ec) {
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

void server::set_tick(std::chrono::milliseconds period, std::function<void()> tick) {
    tick_period_ = period;
    tick_ = std::move(tick);
}

void server::stop() {
    if (stopping_.exchange(true)) {
        return;
    }
    net::post(acceptor_.get_executor(), [self = shared_from_this()] { self->close_all(); });
}

void server::accept() {
    acceptor_.async_accept(net::make_strand(io_), [self = shared_from_this()](beast::error_code ec,
                                                                              tcp::socket socket) {
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

void server::schedule_tick() {
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

void server::close_all() {
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

}  // namespace imsp2p::internal::http
