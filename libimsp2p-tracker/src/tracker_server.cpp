#include <imsp2p/tracker/tracker_server.hpp>

#include <imsp2p/tracker/bencode.hpp>
#include <imsp2p/tracker/error.hpp>
#include <imsp2p/tracker/request.hpp>

#include <imsp2p/core/bytes.hpp>
#include <imsp2p/core/encoding.hpp>

// GCC 12 warns, falsely, that Beast's boost::optional "may be used uninitialized" in builds
// with sanitizers; the warning is about Boost's code, not ours.
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#endif
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
#include <mutex>
#include <optional>
#include <sstream>
#include <utility>
#include <vector>

namespace imsp2p::tracker {

namespace net = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
using tcp = net::ip::tcp;

namespace {

using http_request = http::request<http::string_body>;

std::string_view to_std(beast::string_view text) noexcept {
    return {text.data(), text.size()};
}
using http_response = http::response<http::string_body>;

http_response make_response(const http_request& request, http::status status,
                            std::string content_type, std::string body) {
    http_response response{status, request.version()};
    response.set(http::field::server, "imsp2p-tracker");
    response.set(http::field::content_type, content_type);
    response.set(http::field::cache_control, "no-store");
    response.keep_alive(request.keep_alive());
    response.body() = std::move(body);
    response.prepare_payload();
    return response;
}

http_response problem(const http_request& request, http::status status, std::string_view title,
                      std::string_view detail) {
    nlohmann::json body = {{"type", "about:blank"},
                           {"title", title},
                           {"status", static_cast<int>(status)},
                           {"detail", detail}};
    return make_response(request, status, "application/problem+json", body.dump());
}

nlohmann::json hex_or_null(const std::string& bytes) {
    if (bytes.empty()) {
        return nullptr;
    }
    return core::to_hex(core::as_bytes(bytes));
}

nlohmann::json torrent_json(const torrent_stats& stats) {
    return {{"info_hash_v1", hex_or_null(stats.torrent.info_hash_v1)},
            {"info_hash_v2", hex_or_null(stats.torrent.info_hash_v2)},
            {"doi", stats.torrent.doi},
            {"state", to_string(stats.torrent.state)},
            {"seeders", stats.seeders},
            {"leechers", stats.leechers},
            {"operator_seeders", stats.operator_seeders},
            {"completed", stats.completed},
            {"uploaded", stats.uploaded},
            {"downloaded", stats.downloaded}};
}

// Decodes an optional hex infohash member of an admin request; false if present but malformed.
bool read_hash(const nlohmann::json& body, const char* name, std::size_t size, std::string& out) {
    const auto found = body.find(name);
    if (found == body.end() || found->is_null()) {
        return true;
    }
    if (!found->is_string() || found->get_ref<const std::string&>().size() != size * 2) {
        return false;
    }
    std::error_code ec;
    out = core::to_string(core::from_hex(found->get_ref<const std::string&>(), ec));
    return !ec;
}

}  // namespace

struct tracker_server::state : std::enable_shared_from_this<tracker_server::state> {
    state(net::io_context& context, tracker_service& tracker, server_settings config,
          core::logger logger)
        : io(context),
          service(tracker),
          settings(std::move(config)),
          log(std::move(logger)),
          acceptor(net::make_strand(context)),
          timer(acceptor.get_executor()) {}

    net::io_context& io;
    tracker_service& service;
    server_settings settings;
    core::logger log;
    tcp::acceptor acceptor;
    net::steady_timer timer;
    std::atomic<std::uint16_t> bound_port{0};
    std::atomic<bool> started{false};
    std::atomic<bool> stopping{false};
    std::atomic<std::uint64_t> requests{0};

    struct session;
    std::mutex sessions_mutex;
    std::vector<std::weak_ptr<session>> sessions;

    void accept();
    void schedule_sweep();
    void close_all();
    http_response handle(const http_request& request, const tcp::endpoint& remote);
    http_response handle_announce(const http_request& request, const tcp::endpoint& remote);
    http_response handle_scrape(const http_request& request);
    http_response handle_admin(const http_request& request, std::string_view path);
    std::string metrics();
};

struct tracker_server::state::session : std::enable_shared_from_this<session> {
    session(tcp::socket socket, std::shared_ptr<state> owner)
        : stream(std::move(socket)), server(std::move(owner)) {}

    beast::tcp_stream stream;
    std::shared_ptr<state> server;
    beast::flat_buffer buffer;
    std::optional<http::request_parser<http::string_body>> parser;
    http_response response;
    tcp::endpoint remote;

    void start() {
        beast::error_code ec;
        remote = stream.socket().remote_endpoint(ec);
        read();
    }

    void read() {
        parser.emplace();
        parser->header_limit(server->settings.max_header_size);
        parser->body_limit(server->settings.max_body_size);
        stream.expires_after(server->settings.request_timeout);
        http::async_read(
            stream, buffer, *parser,
            [self = shared_from_this()](beast::error_code ec, std::size_t) { self->on_read(ec); });
    }

    void on_read(beast::error_code ec) {
        if (ec == http::error::end_of_stream || ec == net::error::operation_aborted ||
            ec == beast::error::timeout || server->stopping) {
            close();
            return;
        }
        if (ec) {
            // Malformed or oversized: answer once, then close.
            http_request dummy;
            dummy.version(11);
            dummy.keep_alive(false);
            const bool too_large = ec == http::error::header_limit || ec == http::error::body_limit;
            response = problem(
                dummy, too_large ? http::status::payload_too_large : http::status::bad_request,
                too_large ? "Request too large" : "Malformed request", ec.message());
            response.keep_alive(false);
            write();
            return;
        }
        server->requests.fetch_add(1, std::memory_order_relaxed);
        const http_request request = parser->release();
        response = server->handle(request, remote);
        write();
    }

    void write() {
        stream.expires_after(server->settings.request_timeout);
        http::async_write(stream, response,
                          [self = shared_from_this()](beast::error_code ec, std::size_t) {
                              if (ec || !self->response.keep_alive() || self->server->stopping) {
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

void tracker_server::state::accept() {
    acceptor.async_accept(net::make_strand(io), [self = shared_from_this()](beast::error_code ec,
                                                                            tcp::socket socket) {
        if (ec || self->stopping) {
            if (ec != net::error::operation_aborted && !self->stopping) {
                self->log.warning("accept failed", {{"error", ec.message()}});
                self->accept();
            }
            return;
        }
        auto connection = std::make_shared<session>(std::move(socket), self);
        {
            std::lock_guard lock(self->sessions_mutex);
            std::erase_if(self->sessions, [](const auto& weak) { return weak.expired(); });
            self->sessions.push_back(connection);
        }
        net::post(connection->stream.get_executor(), [connection] { connection->start(); });
        self->accept();
    });
}

void tracker_server::state::schedule_sweep() {
    timer.expires_after(settings.sweep_period);
    timer.async_wait([self = shared_from_this()](beast::error_code ec) {
        if (ec || self->stopping) {
            return;
        }
        const std::size_t dropped = self->service.expire_peers(std::chrono::system_clock::now());
        if (dropped > 0) {
            self->log.debug("expired peers dropped", {{"count", dropped}});
        }
        self->schedule_sweep();
    });
}

void tracker_server::state::close_all() {
    beast::error_code ignored;
    acceptor.close(ignored);
    timer.cancel();
    std::vector<std::shared_ptr<session>> live;
    {
        std::lock_guard lock(sessions_mutex);
        for (const auto& weak : sessions) {
            if (auto connection = weak.lock()) {
                live.push_back(std::move(connection));
            }
        }
        sessions.clear();
    }
    for (auto& connection : live) {
        net::post(connection->stream.get_executor(), [connection] { connection->close(); });
    }
}

http_response tracker_server::state::handle(const http_request& request,
                                            const tcp::endpoint& remote) {
    const std::string_view target = to_std(request.target());
    const std::string_view path = target.substr(0, target.find('?'));
    try {
        if (path == "/announce" || path.starts_with("/announce/")) {
            if (request.method() != http::verb::get) {
                return problem(request, http::status::method_not_allowed, "Method not allowed",
                               "announce takes GET");
            }
            return handle_announce(request, remote);
        }
        if (path == "/scrape" || path.starts_with("/scrape/")) {
            return handle_scrape(request);
        }
        if (path == "/health") {
            nlohmann::json body = {{"status", "ok"}, {"service", "imsp2p-tracker"}};
            return make_response(request, http::status::ok, "application/json", body.dump());
        }
        if (path == "/metrics") {
            return make_response(request, http::status::ok,
                                 "text/plain; version=0.0.4; charset=utf-8", metrics());
        }
        if (path == "/admin" || path.starts_with("/admin/")) {
            return handle_admin(request, path);
        }
        return problem(request, http::status::not_found, "Not found",
                       "no such resource on this tracker");
    } catch (const std::exception& error) {
        log.error("request failed", {{"error", error.what()}});
        return problem(request, http::status::internal_server_error, "Internal error",
                       "the request could not be handled");
    }
}

http_response tracker_server::state::handle_announce(const http_request& request,
                                                     const tcp::endpoint& remote) {
    std::error_code ec;
    std::string reason;
    const announce_request announce =
        parse_announce(to_std(request.target()), service.settings().limits, ec, &reason);
    if (ec) {
        return make_response(request, http::status::ok, "text/plain",
                             encode_failure("invalid announce: " + reason));
    }
    peer_address from;
    net::ip::address address = remote.address();
    if (address.is_v6() && address.to_v6().is_v4_mapped()) {
        address = net::ip::make_address_v4(net::ip::v4_mapped, address.to_v6());
    }
    if (address.is_v4()) {
        const auto bytes = address.to_v4().to_bytes();
        from.ip.assign(bytes.begin(), bytes.end());
    } else {
        const auto bytes = address.to_v6().to_bytes();
        from.ip.assign(bytes.begin(), bytes.end());
    }
    const announce_result result =
        service.announce(announce, from, std::chrono::system_clock::now());
    if (result.error) {
        log.info("announce refused",
                 {{"reason", result.failure_reason}, {"peer", address.to_string()}});
    }
    return make_response(request, http::status::ok, "text/plain",
                         encode_announce_response(result, announce.compact, !announce.no_peer_id));
}

http_response tracker_server::state::handle_scrape(const http_request& request) {
    std::error_code ec;
    std::string reason;
    const scrape_request scrape =
        parse_scrape(to_std(request.target()), service.settings().limits, ec, &reason);
    if (ec) {
        return make_response(request, http::status::ok, "text/plain",
                             encode_failure("invalid scrape: " + reason));
    }
    const auto files = service.scrape(scrape, std::chrono::system_clock::now(), reason);
    if (!reason.empty()) {
        return make_response(request, http::status::ok, "text/plain", encode_failure(reason));
    }
    bencode_dict entries;
    for (const auto& [hash, stats] : files) {
        bencode_dict one;
        one.emplace("complete", static_cast<std::int64_t>(stats.seeders));
        one.emplace("incomplete", static_cast<std::int64_t>(stats.leechers));
        one.emplace("downloaded", static_cast<std::int64_t>(stats.completed));
        entries.emplace(hash, std::move(one));
    }
    bencode_dict body;
    body.emplace("files", std::move(entries));
    return make_response(request, http::status::ok, "text/plain",
                         bencode(bencode_value(std::move(body))));
}

http_response tracker_server::state::handle_admin(const http_request& request,
                                                  std::string_view path) {
    const auto now = std::chrono::system_clock::now();
    const std::string_view authorization = to_std(request[http::field::authorization]);
    constexpr std::string_view scheme = "Bearer ";
    std::error_code ec;
    if (authorization.size() <= scheme.size() ||
        !beast::iequals(beast::string_view(authorization.data(), scheme.size()),
                        beast::string_view(scheme.data(), scheme.size()))) {
        auto response = problem(request, http::status::unauthorized, "Unauthorized",
                                "an Authorization: Bearer service token is required");
        response.set(http::field::www_authenticate, "Bearer");
        return response;
    }
    const auto claims = service.verify_service_token(authorization.substr(scheme.size()), now, ec);
    if (ec) {
        auto response = problem(request, http::status::unauthorized, "Unauthorized",
                                "the service token is invalid, expired or lacks role service");
        response.set(http::field::www_authenticate, "Bearer error=\"invalid_token\"");
        return response;
    }
    const auto json_body = [&](nlohmann::json& body) {
        body = nlohmann::json::parse(request.body(), nullptr, false);
        return body.is_object();
    };
    const auto ok = [&](http::status status, const nlohmann::json& body) {
        return make_response(request, status, "application/json", body.dump());
    };

    if (path == "/admin/stats") {
        const global_stats totals = service.totals(now);
        return ok(http::status::ok, {{"torrents", totals.torrents},
                                     {"seeders", totals.seeders},
                                     {"leechers", totals.leechers},
                                     {"completed", totals.completed},
                                     {"uploaded", totals.uploaded},
                                     {"downloaded", totals.downloaded},
                                     {"announces", totals.announces},
                                     {"refusals", totals.refusals},
                                     {"scrapes", totals.scrapes}});
    }
    if (path == "/admin/torrents") {
        if (request.method() == http::verb::get) {
            nlohmann::json list = nlohmann::json::array();
            for (const auto& stats : service.list(now)) {
                list.push_back(torrent_json(stats));
            }
            return ok(http::status::ok, {{"torrents", list}});
        }
        if (request.method() != http::verb::post) {
            return problem(request, http::status::method_not_allowed, "Method not allowed",
                           "use GET or POST on /admin/torrents");
        }
        nlohmann::json body;
        if (!json_body(body)) {
            return problem(request, http::status::bad_request, "Bad request",
                           "the body must be a JSON object");
        }
        torrent_registration registration;
        if (!read_hash(body, "info_hash_v1", 20, registration.info_hash_v1) ||
            !read_hash(body, "info_hash_v2", 32, registration.info_hash_v2) ||
            (registration.info_hash_v1.empty() && registration.info_hash_v2.empty())) {
            return problem(request, http::status::bad_request, "Bad request",
                           "info_hash_v1 (40 hex digits) and/or info_hash_v2 (64 hex digits) "
                           "required");
        }
        if (const auto doi = body.find("doi"); doi != body.end() && !doi->is_null()) {
            if (!doi->is_string()) {
                return problem(request, http::status::bad_request, "Bad request",
                               "doi must be a string");
            }
            registration.doi = doi->get<std::string>();
        }
        if (const auto state_member = body.find("state"); state_member != body.end()) {
            const auto parsed = state_member->is_string()
                                    ? parse_torrent_state(state_member->get<std::string>())
                                    : std::nullopt;
            if (!parsed) {
                return problem(request, http::status::bad_request, "Bad request",
                               "state must be active, disabled or muted");
            }
            registration.state = *parsed;
        }
        service.register_torrent(registration, ec);
        if (ec == errc::already_registered) {
            return problem(request, http::status::conflict, "Conflict", ec.message());
        }
        if (ec) {
            return problem(request, http::status::internal_server_error, "Internal error",
                           ec.message());
        }
        const std::string key = registration.info_hash_v1.empty() ? registration.info_hash_v2
                                                                  : registration.info_hash_v1;
        log.info("torrent registered", {{"info_hash", core::to_hex(core::as_bytes(key))},
                                        {"doi", registration.doi},
                                        {"state", to_string(registration.state)},
                                        {"by", claims.subject}});
        return ok(http::status::created, torrent_json(*service.stats(key, now)));
    }
    constexpr std::string_view prefix = "/admin/torrents/";
    if (path.starts_with(prefix)) {
        std::string_view hex = path.substr(prefix.size());
        if (hex.ends_with("/state")) {
            hex.remove_suffix(6);
        }
        const auto bytes = core::from_hex(hex, ec);
        if (ec || (bytes.size() != 20 && bytes.size() != 32)) {
            return problem(request, http::status::bad_request, "Bad request",
                           "the infohash must be 40 or 64 hex digits");
        }
        const std::string key = core::to_string(bytes);
        if (request.method() == http::verb::get) {
            const auto stats = service.stats(key, now);
            if (!stats) {
                return problem(request, http::status::not_found, "Not found",
                               "torrent is not registered with this tracker");
            }
            return ok(http::status::ok, torrent_json(*stats));
        }
        if (request.method() != http::verb::patch && request.method() != http::verb::put) {
            return problem(request, http::status::method_not_allowed, "Method not allowed",
                           "use GET or PATCH on a torrent");
        }
        nlohmann::json body;
        if (!json_body(body) || !body.contains("state") || !body["state"].is_string()) {
            return problem(request, http::status::bad_request, "Bad request",
                           "the body must be {\"state\": \"active\"|\"disabled\"|\"muted\"}");
        }
        const auto parsed = parse_torrent_state(body["state"].get<std::string>());
        if (!parsed) {
            return problem(request, http::status::bad_request, "Bad request",
                           "state must be active, disabled or muted");
        }
        service.set_state(key, *parsed, ec);
        if (ec == errc::unknown_torrent) {
            return problem(request, http::status::not_found, "Not found", ec.message());
        }
        if (ec) {
            return problem(request, http::status::internal_server_error, "Internal error",
                           ec.message());
        }
        log.info("torrent state changed", {{"info_hash", std::string(hex)},
                                           {"state", to_string(*parsed)},
                                           {"by", claims.subject}});
        return ok(http::status::ok, torrent_json(*service.stats(key, now)));
    }
    return problem(request, http::status::not_found, "Not found", "no such admin resource");
}

std::string tracker_server::state::metrics() {
    const global_stats totals = service.totals(std::chrono::system_clock::now());
    std::ostringstream out;
    const auto metric = [&](const char* name, const char* type, const char* help,
                            std::uint64_t value) {
        out << "# HELP " << name << ' ' << help << "\n# TYPE " << name << ' ' << type << '\n'
            << name << ' ' << value << '\n';
    };
    metric("imsp2p_tracker_torrents", "gauge", "Registered torrents.", totals.torrents);
    metric("imsp2p_tracker_seeders", "gauge", "Live seeders.", totals.seeders);
    metric("imsp2p_tracker_leechers", "gauge", "Live leechers.", totals.leechers);
    metric("imsp2p_tracker_completed_total", "counter", "Completed downloads.", totals.completed);
    metric("imsp2p_tracker_announces_total", "counter", "Announces served.", totals.announces);
    metric("imsp2p_tracker_refusals_total", "counter", "Announces and scrapes refused.",
           totals.refusals);
    metric("imsp2p_tracker_scrapes_total", "counter", "Scrapes served.", totals.scrapes);
    metric("imsp2p_tracker_ticket_cache_hits_total", "counter",
           "Ticket verifications answered from the cache.", service.ticket_cache_hits());
    metric("imsp2p_tracker_http_requests_total", "counter", "HTTP requests parsed.",
           requests.load(std::memory_order_relaxed));
    return out.str();
}

tracker_server::tracker_server(tracker_service& service, server_settings settings, core::logger log)
    : owned_io_(std::make_unique<net::io_context>()),
      impl_(std::make_shared<state>(*owned_io_, service, std::move(settings), std::move(log))) {}

tracker_server::tracker_server(net::io_context& io, tracker_service& service,
                               server_settings settings, core::logger log)
    : impl_(std::make_shared<state>(io, service, std::move(settings), std::move(log))) {}

tracker_server::~tracker_server() {
    stop();
    if (owned_io_) {
        owned_io_->restart();
        owned_io_->run();
    }
}

void tracker_server::start(std::error_code& ec) {
    ec.clear();
    if (impl_->started.exchange(true)) {
        return;
    }
    beast::error_code error;
    const auto address = net::ip::make_address(impl_->settings.bind_address, error);
    if (!error) {
        const tcp::endpoint endpoint(address, impl_->settings.port);
        impl_->acceptor.open(endpoint.protocol(), error);
        if (!error) {
            impl_->acceptor.set_option(net::socket_base::reuse_address(true), error);
        }
        if (!error) {
            impl_->acceptor.bind(endpoint, error);
        }
        if (!error) {
            impl_->acceptor.listen(net::socket_base::max_listen_connections, error);
        }
    }
    if (error) {
        beast::error_code ignored;
        impl_->acceptor.close(ignored);
        impl_->started = false;
        ec = error;
        return;
    }
    impl_->bound_port = impl_->acceptor.local_endpoint().port();
    impl_->log.info("tracker listening", {{"address", impl_->settings.bind_address},
                                          {"port", impl_->bound_port.load()}});
    net::post(impl_->acceptor.get_executor(), [impl = impl_] {
        if (!impl->stopping) {
            impl->accept();
            impl->schedule_sweep();
        }
    });
}

void tracker_server::start() {
    std::error_code ec;
    start(ec);
    if (ec) {
        throw std::system_error(ec, "cannot listen on " + impl_->settings.bind_address + ":" +
                                        std::to_string(impl_->settings.port));
    }
}

std::uint16_t tracker_server::port() const noexcept {
    return impl_->bound_port.load();
}

void tracker_server::run() {
    start();
    impl_->io.run();
}

void tracker_server::stop() {
    if (impl_->stopping.exchange(true)) {
        return;
    }
    net::post(impl_->acceptor.get_executor(), [impl = impl_] { impl->close_all(); });
}

net::io_context& tracker_server::context() noexcept {
    return impl_->io;
}

}  // namespace imsp2p::tracker
