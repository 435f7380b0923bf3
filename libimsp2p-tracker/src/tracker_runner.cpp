#include <imsp2p/tracker/tracker_runner.hpp>

#include <imsp2p/tracker/tracker_server.hpp>
#include <imsp2p/tracker/udp_tracker_server.hpp>

#include <imsp2p/core/error.hpp>
#include <imsp2p/core/jose.hpp>
#include <imsp2p/core/log.hpp>
#include <imsp2p/core/ticket.hpp>

#include <boost/asio/io_context.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/signal_set.hpp>

#include <atomic>
#include <csignal>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>
#include <system_error>

namespace imsp2p::tracker {

struct tracker_runner::impl {
    core::logger log;
    std::unique_ptr<tracker_service> service;
    boost::asio::io_context io;
    std::unique_ptr<tracker_server> http;
    std::unique_ptr<udp_tracker_server> udp;
    std::unique_ptr<boost::asio::signal_set> signals;
    std::atomic<bool> stopped{false};
};

namespace {

std::chrono::seconds seconds_of(std::chrono::milliseconds value) {
    return std::chrono::duration_cast<std::chrono::seconds>(value);
}

/** Reads the AS keys and refuses a set the tracker could not verify any ticket with. */
core::jwk_set read_as_keys(const std::filesystem::path& path) {
    std::ifstream file(path, std::ios::binary);
    std::stringstream text;
    text << file.rdbuf();
    if (!file) {
        throw std::system_error(core::errc::io_error,
                                "cannot read the AS keys (as_jwks) " + path.string());
    }
    std::error_code ec;
    core::jwk_set keys = core::jwk_set::parse(text.str(), ec);
    if (ec) {
        throw std::system_error(
            ec, "the AS keys (as_jwks) " + path.string() + " are not a valid JWK Set");
    }
    // Load them the way the tracker will, and refuse to start without a usable key.
    const core::ticket_verifier probe("tracker", keys);
    if (probe.key_count() == 0) {
        throw std::system_error(
            core::errc::config_bad_value,
            "the AS keys (as_jwks) " + path.string() + " hold " + std::to_string(keys.keys.size()) +
                " key(s) but no Ed25519 signing key (kty OKP, crv Ed25519, use sig): every ticket "
                "would be refused");
    }
    return keys;
}

}  // namespace

tracker_runner::tracker_runner(const core::config& config) : impl_(std::make_unique<impl>()) {
    impl_->log = core::program_logger(config, "tracker");

    tracker_settings settings;
    if (config.contains("/as_jwks")) {
        settings.as_keys = read_as_keys(config.require_path("/as_jwks"));
    } else {
        impl_->log.warning("no as_jwks configured: every ticket will be refused");
    }
    settings.expected_issuer = config.get_or<std::string>("/issuer", "");
    settings.announce_interval =
        seconds_of(config.duration_or("/announce/interval", std::chrono::minutes(30)));
    settings.min_announce_interval =
        seconds_of(config.duration_or("/announce/min_interval", std::chrono::minutes(5)));
    settings.peer_expiry =
        seconds_of(config.duration_or("/announce/peer_expiry", std::chrono::minutes(45)));
    settings.default_numwant =
        config.get_or<std::uint32_t>("/announce/default_numwant", 50, {1, 1000});
    settings.max_numwant = config.get_or<std::uint32_t>("/announce/max_numwant", 200, {1, 1000});
    if (config.contains("/data_dir")) {
        const auto directory = config.require_path("/data_dir");
        std::filesystem::create_directories(directory);
        settings.database_path = directory / "tracker.sqlite";
    } else {
        impl_->log.warning("no data_dir configured: registrations live in memory only");
    }

    server_settings http;
    http.bind_address = config.get_or<std::string>("/listen/address", "127.0.0.1");
    http.port = config.port_or("/listen/port", 6969);
    http.max_connections = config.get_or<std::uint32_t>("/max_connections", 10000);

    // Catch SIGINT/SIGTERM from now on (before "started" is logged), so that a signal sent as
    // soon as the process reports it is up ends it cleanly; run() waits for it.
    impl_->signals = std::make_unique<boost::asio::signal_set>(impl_->io, SIGINT, SIGTERM);
    impl_->service = tracker_service::open(settings);
    impl_->http = std::make_unique<tracker_server>(impl_->io, *impl_->service, http,
                                                   impl_->log.child("tracker.http"));
    impl_->http->start();
    if (config.contains("/listen/udp_port")) {
        udp_server_settings udp;
        udp.bind_address = http.bind_address;
        udp.port = config.port_or("/listen/udp_port", 6969);
        impl_->udp = std::make_unique<udp_tracker_server>(impl_->io, *impl_->service, udp,
                                                          impl_->log.child("tracker.udp"));
        impl_->udp->start();
    }
    impl_->log.info("started", {{"port", port()},
                                {"udp_port", udp_port()},
                                {"database", settings.database_path.string()},
                                {"as_keys", impl_->service->verifier().key_count()}});
}

tracker_runner::~tracker_runner() {
    stop();
    impl_->udp.reset();
    impl_->http.reset();
}

int tracker_runner::run() {
    if (impl_->stopped) {
        return 0;
    }
    impl_->signals->async_wait([this](const boost::system::error_code& ec, int number) {
        if (!ec) {
            impl_->log.info("stopping", {{"signal", number}});
            stop();
        }
    });
    impl_->io.run();
    impl_->log.info("stopped");
    return 0;
}

void tracker_runner::stop() {
    impl_->stopped = true;
    impl_->http->stop();
    if (impl_->udp) {
        impl_->udp->stop();
    }
    boost::asio::post(impl_->io, [this] {
        if (impl_->signals) {
            boost::system::error_code ignored;
            impl_->signals->cancel(ignored);
        }
    });
}

std::uint16_t tracker_runner::port() const noexcept {
    return impl_->http->port();
}

std::uint16_t tracker_runner::udp_port() const noexcept {
    return impl_->udp ? impl_->udp->port() : 0;
}

tracker_service& tracker_runner::service() noexcept {
    return *impl_->service;
}

}  // namespace imsp2p::tracker
