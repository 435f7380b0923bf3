#include <imsp2p/drm/drm_server.hpp>

#include <imsp2p/core/doi.hpp>
#include <imsp2p/core/error.hpp>
#include <imsp2p/drm/error.hpp>

#include <imsp2p_internal/http_server.hpp>

#include <boost/asio/io_context.hpp>
#include <boost/asio/signal_set.hpp>

#include <atomic>
#include <csignal>
#include <fstream>
#include <sstream>
#include <thread>
#include <utility>
#include <vector>

namespace imsp2p::drm {

namespace ih = imsp2p::internal::http;
namespace bhttp = boost::beast::http;
using json = nlohmann::json;

namespace {

constexpr std::string_view server_name = "imsp2p-drm";

struct problem_kind {
    errc code;
    std::string_view name;
    bhttp::status status;
    std::string_view title;
};

constexpr problem_kind problem_kinds[] = {
    {errc::drm_unauthorized, "unauthorized", bhttp::status::unauthorized, "Unauthorized"},
    {errc::drm_bad_request, "bad-request", bhttp::status::bad_request, "Bad request"},
    {errc::unknown_content, "unknown-content", bhttp::status::not_found, "Unknown content"},
    {errc::content_withdrawn, "content-withdrawn", bhttp::status::forbidden, "Content withdrawn"},
    {errc::content_conflict, "content-conflict", bhttp::status::conflict, "Content conflict"},
    {errc::unknown_grant, "unknown-grant", bhttp::status::not_found, "Unknown grant"},
    {errc::no_grant, "no-grant", bhttp::status::forbidden, "No grant"},
    {errc::grant_revoked, "grant-revoked", bhttp::status::forbidden, "Grant revoked"},
    {errc::grant_conflict, "grant-conflict", bhttp::status::conflict, "Grant conflict"},
    {errc::device_limit_reached, "device-limit", bhttp::status::forbidden, "Device limit reached"},
    {errc::license_wrong_device, "wrong-device", bhttp::status::forbidden, "Wrong device"},
    {errc::drm_server_error, "internal", bhttp::status::internal_server_error, "Internal error"},
};

const problem_kind& kind_of(const std::error_code& ec) {
    if (ec.category() == error_category()) {
        for (const auto& kind : problem_kinds) {
            if (static_cast<int>(kind.code) == ec.value()) {
                return kind;
            }
        }
    }
    return problem_kinds[std::size(problem_kinds) - 1];
}

ih::response typed_problem(const ih::request& req, bhttp::status status, std::string_view type,
                           std::string_view title, std::string_view detail) {
    const json body = {{"type", std::string(problem_type_prefix) + std::string(type)},
                       {"title", title},
                       {"status", static_cast<int>(status)},
                       {"detail", detail}};
    ih::response res =
        ih::make_response(req, status, server_name, "application/problem+json", body.dump());
    if (status == bhttp::status::unauthorized) {
        res.set(bhttp::field::www_authenticate, "Bearer error=\"invalid_token\"");
    }
    return res;
}

ih::response error_problem(const ih::request& req, const std::error_code& ec,
                           std::string_view detail) {
    const problem_kind& kind = kind_of(ec);
    return typed_problem(req, kind.status, kind.name, kind.title,
                         detail.empty() ? ec.message() : detail);
}

}  // namespace

std::string problem_type(const std::error_code& ec) {
    return std::string(problem_type_prefix) + std::string(kind_of(ec).name);
}

std::error_code error_from_problem_type(std::string_view type) {
    if (!type.starts_with(problem_type_prefix)) {
        return {};
    }
    type.remove_prefix(problem_type_prefix.size());
    for (const auto& kind : problem_kinds) {
        if (kind.name == type) {
            return kind.code;
        }
    }
    return {};
}

struct drm_server::state {
    state(boost::asio::io_context& io_ref, drm_service& drm, drm_server_settings config,
          core::logger logger)
        : io(io_ref), service(drm), settings(std::move(config)), log(std::move(logger)) {}

    boost::asio::io_context& io;
    drm_service& service;
    drm_server_settings settings;
    core::logger log;
    std::shared_ptr<ih::server> http;

    ih::response handle(const ih::request& req);
    ih::response handle_contents(const ih::request& req, std::string_view rest,
                                 const core::ticket_claims& caller);
    ih::response handle_grants(const ih::request& req, std::string_view rest,
                               const core::ticket_claims& caller);
    ih::response handle_license(const ih::request& req);
    std::string metrics() const;
};

namespace {

ih::response ok_json(const ih::request& req, bhttp::status status, const json& body) {
    return ih::json_response(req, status, server_name, body);
}

ih::response not_found(const ih::request& req) {
    return typed_problem(req, bhttp::status::not_found, "not-found", "Not found",
                         "no such resource on this DRM server: " + std::string(ih::path_of(req)));
}

ih::response method_not_allowed(const ih::request& req, std::string_view allowed) {
    ih::response res = typed_problem(
        req, bhttp::status::method_not_allowed, "method-not-allowed", "Method not allowed",
        std::string(ih::to_std(req.method_string())) + " is not allowed on " +
            std::string(ih::path_of(req)) + "; use " + std::string(allowed));
    res.set(bhttp::field::allow, std::string(allowed));
    return res;
}

bool parse_body(const ih::request& req, json& body, std::string& detail) {
    body = json::parse(req.body(), nullptr, false);
    if (body.is_discarded()) {
        detail = "the body is not valid JSON";
        return false;
    }
    return true;
}

}  // namespace

ih::response drm_server::state::handle(const ih::request& req) {
    const std::string_view path = ih::path_of(req);
    const auto now = std::chrono::system_clock::now();
    if (path == "/.well-known/jwks.json") {
        if (req.method() != bhttp::verb::get) {
            return method_not_allowed(req, "GET");
        }
        ih::response res =
            ih::json_response(req, bhttp::status::ok, server_name, service.jwks().to_json());
        res.set(bhttp::field::content_type, "application/jwk-set+json");
        return res;
    }
    if ((path == "/health" || path == "/metrics") && req.method() != bhttp::verb::get) {
        return method_not_allowed(req, "GET");
    }
    if (path == "/health") {
        std::error_code ec;
        (void)service.store().counts(ec);
        if (ec) {
            return typed_problem(req, bhttp::status::service_unavailable, "unhealthy", "Unhealthy",
                                 "the key store fails: " + ec.message());
        }
        return ok_json(req, bhttp::status::ok, {{"status", "ok"}, {"service", server_name}});
    }
    if (path == "/metrics") {
        return ih::make_response(req, bhttp::status::ok, server_name,
                                 "text/plain; version=0.0.4; charset=utf-8", metrics());
    }
    if (path == "/v1/licenses") {
        if (req.method() != bhttp::verb::post) {
            return method_not_allowed(req, "POST");
        }
        return handle_license(req);
    }
    constexpr std::string_view contents = "/v1/contents";
    constexpr std::string_view grants = "/v1/grants";
    const bool is_contents = path == contents || path.starts_with("/v1/contents/");
    const bool is_grants = path == grants || path.starts_with("/v1/grants/");
    if (!is_contents && !is_grants) {
        return not_found(req);
    }
    const auto token = ih::bearer_token(req);
    if (!token) {
        service.count_refusal("unauthorized");
        return error_problem(req, errc::drm_unauthorized,
                             "an Authorization: Bearer service token is required");
    }
    std::error_code ec;
    std::string detail;
    const core::ticket_claims caller = service.verify_service_token(*token, now, ec, &detail);
    if (ec) {
        service.count_refusal("unauthorized");
        log.info("service call refused", {{"reason", detail}, {"path", std::string(path)}});
        return error_problem(req, ec, detail);
    }
    if (is_contents) {
        return handle_contents(req, path.substr(contents.size()), caller);
    }
    return handle_grants(req, path.substr(grants.size()), caller);
}

ih::response drm_server::state::handle_contents(const ih::request& req, std::string_view rest,
                                                const core::ticket_claims& caller) {
    const auto now = std::chrono::system_clock::now();
    std::error_code ec;
    std::string detail;
    json body;
    if (rest.empty() || rest == "/") {
        if (req.method() != bhttp::verb::post) {
            return method_not_allowed(req, "POST");
        }
        if (!parse_body(req, body, detail)) {
            service.count_refusal("bad_request");
            return error_problem(req, errc::drm_bad_request, detail);
        }
        const auto registration = content_registration::from_json(body, ec, &detail);
        if (ec) {
            service.count_refusal("bad_request");
            return error_problem(req, ec, detail);
        }
        const auto result = service.register_content(registration, now, ec, &detail);
        if (ec) {
            service.count_refusal(refusal_reason(ec));
            log.info("content registration refused",
                     {{"doi", registration.doi}, {"reason", detail}, {"by", caller.subject}});
            return error_problem(req, ec, detail);
        }
        if (result.created) {
            log.info("content registered", {{"doi", result.content.doi},
                                            {"kid", to_json(result.content)["kid"]},
                                            {"by", caller.subject}});
        }
        return ok_json(req, result.created ? bhttp::status::created : bhttp::status::ok,
                       to_json(result.content));
    }
    rest.remove_prefix(1);  // the '/'
    constexpr std::string_view grants_suffix = "/grants";
    if (rest.ends_with(grants_suffix) && req.method() == bhttp::verb::get) {
        const std::string_view doi = rest.substr(0, rest.size() - grants_suffix.size());
        const auto list = service.list_grants(doi, ec);
        if (ec) {
            return error_problem(req, ec,
                                 ec == errc::unknown_content
                                     ? "no content is registered under DOI " + std::string(doi)
                                     : "the path does not hold a valid DOI");
        }
        json grants = json::array();
        for (const auto& grant : list) {
            grants.push_back(to_json(grant));
        }
        return ok_json(req, bhttp::status::ok, {{"grants", grants}});
    }
    std::error_code doi_error;
    const core::doi doi = core::doi::parse(rest, doi_error);
    if (doi_error) {
        return error_problem(req, errc::drm_bad_request,
                             "the path does not hold a valid DOI: " + doi_error.message());
    }
    if (req.method() == bhttp::verb::get) {
        const auto content = service.store().find_content(doi.str(), ec);
        if (!content) {
            return error_problem(req, errc::unknown_content,
                                 "no content is registered under DOI " + doi.str());
        }
        return ok_json(req, bhttp::status::ok, to_json(*content));
    }
    if (req.method() != bhttp::verb::patch) {
        return method_not_allowed(req, "GET, PATCH");
    }
    if (!parse_body(req, body, detail)) {
        return error_problem(req, errc::drm_bad_request, detail);
    }
    const auto state_member = body.is_object() ? body.find("state") : body.end();
    const auto new_state = (body.is_object() && state_member != body.end() &&
                            state_member->is_string() && body.size() == 1)
                               ? parse_content_state(state_member->get<std::string>())
                               : std::nullopt;
    if (!new_state) {
        return error_problem(req, errc::drm_bad_request,
                             "the body must be {\"state\": \"active\"|\"withdrawn\"}");
    }
    const auto content = service.set_content_state(doi.str(), *new_state, ec);
    if (ec) {
        return error_problem(req, ec,
                             ec == errc::unknown_content
                                 ? "no content is registered under DOI " + doi.str()
                                 : std::string());
    }
    log.info("content state changed",
             {{"doi", doi.str()}, {"state", to_string(*new_state)}, {"by", caller.subject}});
    return ok_json(req, bhttp::status::ok, to_json(*content));
}

ih::response drm_server::state::handle_grants(const ih::request& req, std::string_view rest,
                                              const core::ticket_claims& caller) {
    const auto now = std::chrono::system_clock::now();
    std::error_code ec;
    std::string detail;
    if (rest.empty() || rest == "/") {
        if (req.method() != bhttp::verb::post) {
            return method_not_allowed(req, "POST");
        }
        json body;
        if (!parse_body(req, body, detail)) {
            service.count_refusal("bad_request");
            return error_problem(req, errc::drm_bad_request, detail);
        }
        const auto request = grant_request::from_json(body, ec, &detail);
        if (ec) {
            service.count_refusal("bad_request");
            return error_problem(req, ec, detail);
        }
        const auto result = service.grant(request, now, ec, &detail);
        if (ec) {
            log.info("grant refused", {{"request_id", request.request_id},
                                       {"doi", request.doi},
                                       {"reason", detail},
                                       {"by", caller.subject}});
            return error_problem(req, ec, detail);
        }
        if (result.created) {
            log.info("grant made", {{"grant_id", result.grant.grant_id},
                                    {"request_id", result.grant.request_id},
                                    {"user", result.grant.user},
                                    {"doi", result.grant.doi},
                                    {"device", result.grant.device_thumbprint},
                                    {"by", caller.subject}});
        }
        return ok_json(req, result.created ? bhttp::status::created : bhttp::status::ok,
                       to_json(result.grant));
    }
    const std::string_view grant_id = rest.substr(1);
    if (req.method() == bhttp::verb::get) {
        const auto grant = service.store().find_grant(grant_id, ec);
        if (!grant) {
            return error_problem(req, errc::unknown_grant,
                                 "no grant has id " + std::string(grant_id));
        }
        return ok_json(req, bhttp::status::ok, to_json(*grant));
    }
    if (req.method() != bhttp::verb::delete_) {
        return method_not_allowed(req, "GET, DELETE");
    }
    const auto grant = service.revoke(grant_id, now, ec);
    if (ec) {
        return error_problem(
            req, ec,
            ec == errc::unknown_grant ? "no grant has id " + std::string(grant_id) : std::string());
    }
    log.info("grant revoked", {{"grant_id", grant->grant_id},
                               {"user", grant->user},
                               {"doi", grant->doi},
                               {"by", caller.subject}});
    return ok_json(req, bhttp::status::ok, to_json(*grant));
}

ih::response drm_server::state::handle_license(const ih::request& req) {
    const auto token = ih::bearer_token(req);
    if (!token) {
        service.count_refusal("unauthorized");
        return error_problem(req, errc::drm_unauthorized,
                             "an Authorization: Bearer grant token is required");
    }
    json body;
    std::string detail;
    std::error_code ec;
    if (!parse_body(req, body, detail)) {
        service.count_refusal("bad_request");
        return error_problem(req, errc::drm_bad_request, detail);
    }
    const auto request = license_request::from_json(body, ec, &detail);
    if (ec) {
        service.count_refusal("bad_request");
        return error_problem(req, ec, detail);
    }
    const std::string license = service.issue_license(
        *token, request.device_key, std::chrono::system_clock::now(), ec, &detail);
    if (ec) {
        log.info("license refused",
                 {{"reason", detail}, {"code", std::string(refusal_reason(ec))}});
        return error_problem(req, ec, detail);
    }
    log.info("license issued", {{"device", request.device_key.thumbprint()}});
    return ih::make_response(req, bhttp::status::ok, server_name, "application/jose", license);
}

std::string drm_server::state::metrics() const {
    const drm_statistics stats = service.statistics();
    std::string out;
    ih::append_metric(out, "imsp2p_drm_contents", "gauge", "Registered content items.",
                      stats.contents);
    ih::append_metric(out, "imsp2p_drm_contents_withdrawn", "gauge", "Withdrawn content items.",
                      stats.withdrawn_contents);
    ih::append_metric(out, "imsp2p_drm_grants", "gauge", "Grants made (revoked ones included).",
                      stats.grants);
    ih::append_metric(out, "imsp2p_drm_revocations", "gauge", "Revoked grants.", stats.revocations);
    ih::append_metric(out, "imsp2p_drm_licenses_issued_total", "counter",
                      "Licenses issued since start.", stats.licenses_issued);
    out +=
        "# HELP imsp2p_drm_refusals_total Requests refused since start, by reason.\n"
        "# TYPE imsp2p_drm_refusals_total counter\n";
    std::map<std::string, std::uint64_t> refusals = stats.refusals;
    for (const char* reason :
         {"unauthorized", "bad_request", "unknown_content", "content_withdrawn", "wrong_device",
          "no_grant", "grant_revoked", "device_limit", "conflict"}) {
        refusals.emplace(reason, 0);
    }
    for (const auto& [reason, count] : refusals) {
        out +=
            "imsp2p_drm_refusals_total{reason=\"" + reason + "\"} " + std::to_string(count) + "\n";
    }
    ih::append_metric(out, "imsp2p_drm_http_requests_total", "counter", "HTTP requests parsed.",
                      http ? http->requests() : 0);
    return out;
}

drm_server::drm_server(drm_service& service, drm_server_settings settings, core::logger log)
    : owned_io_(std::make_unique<boost::asio::io_context>()),
      impl_(std::make_shared<state>(*owned_io_, service, std::move(settings), std::move(log))) {}

drm_server::drm_server(boost::asio::io_context& io, drm_service& service,
                       drm_server_settings settings, core::logger log)
    : impl_(std::make_shared<state>(io, service, std::move(settings), std::move(log))) {}

drm_server::~drm_server() {
    stop();
    if (owned_io_) {
        owned_io_->restart();
        owned_io_->run();
    }
}

void drm_server::start(std::error_code& ec) {
    ec.clear();
    if (impl_->http) {
        return;
    }
    ih::server_settings http;
    http.bind_address = impl_->settings.bind_address;
    http.port = impl_->settings.port;
    http.max_body_size = impl_->settings.max_body_size;
    http.request_timeout = impl_->settings.request_timeout;
    http.max_connections = impl_->settings.max_connections;
    http.server_name = std::string(server_name);
    auto server = ih::start_server_for(impl_->io, std::move(http), impl_, ec);
    if (!server) {
        return;
    }
    impl_->http = std::move(server);
    impl_->log.info("listening",
                    {{"address", impl_->settings.bind_address}, {"port", impl_->http->port()}});
}

void drm_server::start() {
    std::error_code ec;
    start(ec);
    if (ec) {
        throw std::system_error(ec, "cannot listen on " + impl_->settings.bind_address + ":" +
                                        std::to_string(impl_->settings.port));
    }
}

std::uint16_t drm_server::port() const noexcept {
    return impl_->http ? impl_->http->port() : 0;
}

void drm_server::run() {
    start();
    impl_->io.run();
}

void drm_server::stop() {
    if (impl_->http) {
        impl_->http->stop();
    }
}

std::uint64_t drm_server::requests() const noexcept {
    return impl_->http ? impl_->http->requests() : 0;
}

// ---------------------------------------------------------------------------------------------
// drm_runner

struct drm_runner::impl {
    core::logger log;
    std::unique_ptr<drm_service> service;
    boost::asio::io_context io;
    std::unique_ptr<drm_server> server;
    std::unique_ptr<boost::asio::signal_set> signals;
    std::atomic<bool> stopped{false};
    unsigned threads = 1;
};

namespace {

std::string read_text_file(const std::filesystem::path& path) {
    std::ifstream file(path, std::ios::binary);
    std::stringstream text;
    text << file.rdbuf();
    if (!file) {
        throw std::system_error(core::errc::io_error, "cannot read " + path.string());
    }
    return text.str();
}

}  // namespace

drm_runner::drm_runner(const core::config& config) : impl_(std::make_unique<impl>()) {
    impl_->log = core::program_logger(config, "drm");

    drm_service_settings settings;
    settings.data_dir = config.require_path("/data_dir");
    settings.master_key_path = config.path_or("/master_key", {});
    if (config.contains("/as_jwks")) {
        const auto path = config.require_path("/as_jwks");
        std::error_code ec;
        settings.as_keys = core::jwk_set::parse(read_text_file(path), ec);
        if (ec) {
            throw std::system_error(ec, path.string() + ": not a JWK Set");
        }
    }
    if (config.contains("/as_public_key")) {
        std::error_code ec;
        core::jwk key = core::jwk::from_json(config.require<json>("/as_public_key"), ec);
        if (ec || key.curve() != core::jwk_curve::ed25519) {
            throw std::system_error(
                ec ? ec : make_error_code(core::errc::jwk_unsupported),
                config.source_name() + ": /as_public_key: expected an Ed25519 public JWK");
        }
        settings.as_keys.keys.push_back(key.public_only());
    }
    if (settings.as_keys.keys.empty()) {
        impl_->log.warning("no AS key configured (as_jwks, as_public_key): every token is refused");
    }
    settings.expected_as_issuer = config.get_or<std::string>("/as_issuer", "");
    settings.issuer = config.get_or<std::string>("/issuer", "imsp2p-drm");
    const auto validity = config.duration_or("/license_validity", std::chrono::hours(1));
    settings.license_validity = std::chrono::duration_cast<std::chrono::seconds>(validity);
    if (settings.license_validity < std::chrono::seconds(1)) {
        throw std::system_error(core::errc::config_bad_value,
                                config.source_name() + ": /license_validity: at least 1 s");
    }
    impl_->threads = config.get_or<unsigned>("/threads", 1, {1, 64});

    drm_server_settings http;
    http.bind_address = config.get_or<std::string>("/listen/address", "127.0.0.1");
    http.port = config.port_or("/listen/port", 8088);

    // Catch SIGINT/SIGTERM from now on (before "started" is logged), so that a signal sent as
    // soon as the process reports it is up ends it cleanly; run() waits for it.
    impl_->signals = std::make_unique<boost::asio::signal_set>(impl_->io, SIGINT, SIGTERM);
    impl_->service = drm_service::open(settings);
    impl_->server = std::make_unique<drm_server>(impl_->io, *impl_->service, http,
                                                 impl_->log.child("drm.http"));
    impl_->server->start();
    const drm_statistics stats = impl_->service->statistics();
    impl_->log.info("started", {{"port", impl_->server->port()},
                                {"data_dir", impl_->service->settings().data_dir.string()},
                                {"as_keys", settings.as_keys.keys.size()},
                                {"signing_kid", impl_->service->signing_key().kid()},
                                {"encryption_kid", impl_->service->encryption_key().kid()},
                                {"contents", stats.contents},
                                {"grants", stats.grants}});
}

drm_runner::~drm_runner() {
    stop();
    impl_->server.reset();
}

int drm_runner::run() {
    if (impl_->stopped) {
        return 0;
    }
    impl_->signals->async_wait([this](const boost::system::error_code& ec, int number) {
        if (!ec) {
            impl_->log.info("stopping", {{"signal", number}});
            stop();
        }
    });
    std::vector<std::thread> workers;
    for (unsigned i = 1; i < impl_->threads; ++i) {
        workers.emplace_back([this] { impl_->io.run(); });
    }
    impl_->io.run();
    for (auto& worker : workers) {
        worker.join();
    }
    impl_->log.info("stopped");
    return 0;
}

void drm_runner::stop() {
    impl_->stopped = true;
    impl_->server->stop();
    boost::asio::post(impl_->io, [this] {
        if (impl_->signals) {
            boost::system::error_code ignored;
            impl_->signals->cancel(ignored);
        }
    });
}

std::uint16_t drm_runner::port() const noexcept {
    return impl_->server->port();
}

drm_service& drm_runner::service() noexcept {
    return *impl_->service;
}

}  // namespace imsp2p::drm
