// The HSS end of the PAA -> HSS one-pass token deposit interface (HTTP).

#include <imsp2p/sip/token_deposit_server.hpp>

#include <imsp2p/pana/error.hpp>
#include <imsp2p/pana/token_store.hpp>

#include <imsp2p/core/error.hpp>

#include <imsp2p_internal/http_server.hpp>

#include <boost/asio/executor_work_guard.hpp>

#include <optional>
#include <thread>
#include <utility>

namespace imsp2p::sip {

namespace ih = imsp2p::internal::http;

namespace {

constexpr std::string_view deposit_path = "/v1/one-pass-tokens";
constexpr std::string_view server_name = "imsp2p-hss";
constexpr std::string_view deposit_magic = "IMTD2";
// magic || nonce || tag at least
constexpr std::size_t min_sealed_size = 5 + 12 + 16;

ih::response typed_problem(const ih::request& req, ih::bhttp::status status, std::string_view type,
                           std::string_view title, std::string_view detail) {
    nlohmann::json body = {{"type", std::string("urn:imsp2p:problem:") + std::string(type)},
                           {"title", title},
                           {"status", static_cast<int>(status)},
                           {"detail", detail}};
    return ih::make_response(req, status, server_name, "application/problem+json", body.dump());
}

}  // namespace

struct token_deposit_server::impl {
    impl(token_deposit_server_settings config, core::logger logger)
        : settings(std::move(config)), log(std::move(logger)) {}

    token_deposit_server_settings settings;
    core::logger log;
    boost::asio::io_context io;
    std::optional<boost::asio::executor_work_guard<boost::asio::io_context::executor_type>> work;
    std::optional<pana::token_store> tokens;  // used on the server thread only
    std::shared_ptr<ih::server> server;
    std::thread thread;

    ih::response handle(const ih::request& req) {
        if (ih::path_of(req) != deposit_path) {
            return typed_problem(req, ih::bhttp::status::not_found, "not-found", "Not Found",
                                 "only " + std::string(deposit_path) + " is served");
        }
        if (req.method() != ih::bhttp::verb::post) {
            ih::response res =
                typed_problem(req, ih::bhttp::status::method_not_allowed, "method-not-allowed",
                              "Method Not Allowed", "deposits are POSTed");
            res.set(ih::bhttp::field::allow, "POST");
            return res;
        }
        const std::string_view type = ih::to_std(req[ih::bhttp::field::content_type]);
        if (type.substr(0, type.find(';')) != "application/octet-stream") {
            return typed_problem(req, ih::bhttp::status::unsupported_media_type,
                                 "unsupported-media-type", "Unsupported Media Type",
                                 "the body must be application/octet-stream");
        }
        const std::string& body = req.body();
        if (body.size() < min_sealed_size || body.compare(0, deposit_magic.size(), deposit_magic)) {
            log.info("deposit refused", {{"reason", "malformed"}});
            return typed_problem(req, ih::bhttp::status::bad_request, "malformed-deposit",
                                 "Malformed Deposit", "the body is not a sealed token deposit");
        }
        const auto now = std::chrono::system_clock::now();
        std::error_code ec;
        const auto deposit = pana::open_token_deposit(
            settings.service_key.view(), core::as_bytes(std::string_view(body)), now, ec);
        if (!deposit) {
            log.info("deposit refused", {{"reason", ec.message()}});
            if (ec == pana::errc::token_expired) {
                return typed_problem(req, ih::bhttp::status::gone, "deposit-expired",
                                     "Deposit Expired", "the deposit has expired");
            }
            ih::response res =
                typed_problem(req, ih::bhttp::status::unauthorized, "deposit-unauthorized",
                              "Unauthorized", "the deposit is not sealed with the service key");
            res.set(ih::bhttp::field::www_authenticate, "IMSP2P-Sealed-Deposit");
            return res;
        }
        tokens->accept_deposit(*deposit, now, ec);
        if (ec == pana::errc::token_deposit_replayed) {
            log.info("deposit refused", {{"reason", "replayed"}, {"impi", deposit->impi.str()}});
            return typed_problem(req, ih::bhttp::status::conflict, "deposit-replayed",
                                 "Deposit Replayed", "this deposit was already accepted");
        }
        if (ec == pana::errc::token_expired) {
            return typed_problem(req, ih::bhttp::status::gone, "deposit-expired", "Deposit Expired",
                                 "the deposit has expired");
        }
        if (ec) {
            log.error("deposit not stored", {{"error", ec.message()}});
            return typed_problem(req, ih::bhttp::status::internal_server_error, "store-failed",
                                 "Internal Server Error", "the token could not be stored");
        }
        log.info("one-pass token deposited", {{"impi", deposit->impi.str()}});
        return ih::make_response(req, ih::bhttp::status::no_content, server_name, "text/plain", {});
    }
};

token_deposit_server::token_deposit_server(token_deposit_server_settings settings, core::logger log)
    : impl_(std::make_shared<impl>(std::move(settings), std::move(log))) {}

token_deposit_server::~token_deposit_server() {
    stop();
}

void token_deposit_server::start(std::error_code& ec) {
    ec.clear();
    if (impl_->server) {
        return;
    }
    if (impl_->settings.service_key.size() != pana::token_service_key_size) {
        ec = core::errc::bad_key_size;
        return;
    }
    pana::token_store_options options;
    options.master_key = impl_->settings.master_key;
    pana::token_store store =
        pana::token_store::open(impl_->settings.hss_database, std::move(options), ec);
    if (ec) {
        return;
    }
    impl_->tokens.emplace(std::move(store));
    ih::server_settings http;
    http.bind_address = impl_->settings.bind_address;
    http.port = impl_->settings.port;
    http.max_body_size = 4096;
    http.request_timeout = std::chrono::seconds(10);
    http.server_name = std::string(server_name);
    impl_->server = ih::start_server_for(impl_->io, std::move(http), impl_, ec);
    if (ec || !impl_->server) {
        impl_->server.reset();
        impl_->tokens.reset();
        return;
    }
    impl_->work.emplace(impl_->io.get_executor());
    impl_->thread = std::thread([state = impl_] { state->io.run(); });
}

void token_deposit_server::start() {
    std::error_code ec;
    start(ec);
    if (ec) {
        core::throw_error(ec, "token deposit server");
    }
}

void token_deposit_server::stop() noexcept {
    if (!impl_ || !impl_->server) {
        return;
    }
    impl_->server->stop();
    impl_->work.reset();
    impl_->io.stop();
    if (impl_->thread.joinable()) {
        impl_->thread.join();
    }
    impl_->server.reset();
    impl_->tokens.reset();
}

std::uint16_t token_deposit_server::port() const noexcept {
    return impl_->server ? impl_->server->port() : 0;
}

}  // namespace imsp2p::sip
