#include <imsp2p/tracker/tracker_server.hpp>

#include <imsp2p/tracker/bencode.hpp>
#include <imsp2p/tracker/error.hpp>
#include <imsp2p/tracker/request.hpp>

#include <imsp2p/core/bytes.hpp>
#include <imsp2p/core/encoding.hpp>

#include <imsp2p_internal/http_server.hpp>

#include <boost/asio/io_context.hpp>

#include <nlohmann/json.hpp>

#include <atomic>
#include <optional>
#include <utility>

namespace imsp2p::tracker {

namespace net = boost::asio;
namespace ihttp = internal::http;
namespace http = boost::beast::http;
using tcp = net::ip::tcp;

namespace {

using http_request = ihttp::request;
using http_response = ihttp::response;
using ihttp::to_std;

constexpr std::string_view server_name = "imsp2p-tracker";

http_response make_response(const http_request& request, http::status status,
                            std::string content_type, std::string body) {
    return ihttp::make_response(request, status, server_name, std::move(content_type),
                                std::move(body));
}

http_response problem(const http_request& request, http::status status, std::string_view title,
                      std::string_view detail) {
    return ihttp::problem(request, status, server_name, title, detail);
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
        : io(context), service(tracker), settings(std::move(config)), log(std::move(logger)) {}

    net::io_context& io;
    tracker_service& service;
    server_settings settings;
    core::logger log;
    std::shared_ptr<ihttp::server> http_server;
    std::atomic<bool> started{false};
    std::atomic<bool> stopping{false};

    // Creates the scaffold; its handlers hold the state weakly (the state owns the scaffold).
    void create();
    http_response handle(const http_request& request, const tcp::endpoint& remote);
    http_response handle_announce(const http_request& request, const tcp::endpoint& remote);
    http_response handle_scrape(const http_request& request);
    http_response handle_admin(const http_request& request, std::string_view path);
    std::string metrics();
};

void tracker_server::state::create() {
    ihttp::server_settings http_settings;
    http_settings.bind_address = settings.bind_address;
    http_settings.port = settings.port;
    http_settings.max_header_size = settings.max_header_size;
    http_settings.max_body_size = settings.max_body_size;
    http_settings.request_timeout = settings.request_timeout;
    http_settings.max_connections = settings.max_connections;
    http_settings.server_name = std::string(server_name);
    std::weak_ptr<state> weak = weak_from_this();
    http_server = std::make_shared<ihttp::server>(
        io, std::move(http_settings),
        [weak](const http_request& request, const tcp::endpoint& remote) {
            if (auto self = weak.lock()) {
                return self->handle(request, remote);
            }
            return problem(request, http::status::service_unavailable, "Unavailable",
                           "the tracker is shutting down");
        },
        [weak](std::string_view message) {
            if (auto self = weak.lock()) {
                self->log.warning("http server error", {{"error", std::string(message)}});
            }
        });
    http_server->set_tick(settings.sweep_period, [weak] {
        if (auto self = weak.lock()) {
            const std::size_t dropped =
                self->service.expire_peers(std::chrono::system_clock::now());
            if (dropped > 0) {
                self->log.debug("expired peers dropped", {{"count", dropped}});
            }
        }
    });
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
    std::error_code ec;
    const auto token = ihttp::bearer_token(request);
    if (!token) {
        return ihttp::unauthorized(request, server_name,
                                   "an Authorization: Bearer service token is required", false);
    }
    const auto claims = service.verify_service_token(*token, now, ec);
    if (ec) {
        return ihttp::unauthorized(request, server_name,
                                   "the service token is invalid, expired or lacks role service",
                                   true);
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
        if (request.method() == http::verb::delete_) {
            const auto stats = service.stats(key, now);
            service.unregister_torrent(key, ec);
            if (ec == errc::unknown_torrent) {
                return problem(request, http::status::not_found, "Not found", ec.message());
            }
            if (ec) {
                return problem(request, http::status::internal_server_error, "Internal error",
                               ec.message());
            }
            log.info("torrent unregistered",
                     {{"info_hash", std::string(hex)}, {"by", claims.subject}});
            nlohmann::json body = stats ? torrent_json(*stats) : nlohmann::json::object();
            body["state"] = "unregistered";
            return ok(http::status::ok, body);
        }
        if (request.method() != http::verb::patch && request.method() != http::verb::put) {
            return problem(request, http::status::method_not_allowed, "Method not allowed",
                           "use GET, PATCH or DELETE on a torrent");
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
    std::string out;
    const auto metric = [&](std::string_view name, std::string_view type, std::string_view help,
                            std::uint64_t value) {
        ihttp::append_metric(out, name, type, help, value);
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
           http_server->requests());
    metric("imsp2p_tracker_http_connections_open", "gauge", "HTTP connections open.",
           http_server->open_connections());
    metric("imsp2p_tracker_http_connections_refused_total", "counter",
           "HTTP connections closed at accept because max_connections was reached.",
           http_server->refused_connections());
    return out;
}

tracker_server::tracker_server(tracker_service& service, server_settings settings, core::logger log)
    : owned_io_(std::make_unique<net::io_context>()),
      impl_(std::make_shared<state>(*owned_io_, service, std::move(settings), std::move(log))) {
    impl_->create();
}

tracker_server::tracker_server(net::io_context& io, tracker_service& service,
                               server_settings settings, core::logger log)
    : impl_(std::make_shared<state>(io, service, std::move(settings), std::move(log))) {
    impl_->create();
}

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
    if (!impl_->http_server->start(ec)) {
        impl_->started = false;
        return;
    }
    impl_->log.info("tracker listening", {{"address", impl_->settings.bind_address},
                                          {"port", impl_->http_server->port()}});
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
    return impl_->http_server->port();
}

void tracker_server::run() {
    start();
    impl_->io.run();
}

void tracker_server::stop() {
    if (impl_->stopping.exchange(true)) {
        return;
    }
    impl_->http_server->stop();
}

net::io_context& tracker_server::context() noexcept {
    return impl_->io;
}

std::uint64_t tracker_server::refused_connections() const noexcept {
    return impl_->http_server->refused_connections();
}

}  // namespace imsp2p::tracker
