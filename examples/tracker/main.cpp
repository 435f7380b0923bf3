// imsp2p-tracker: the operator-controlled BitTorrent tracker (HTTP announce/scrape with ticket
// admission, admin API for the AS, /health, /metrics; UDP announce/scrape, BEP 15 with the
// ticket in BEP 41 URL data). Thin wiring over imsp2p::tracker.
//
// Configuration (JSON, all optional; flags override):
// {
//   "listen": {"address": "127.0.0.1", "port": 6969,     // HTTP (TCP)
//              "udp_port": 6969},                        // UDP on the same address; 0:
//                                                        // ephemeral; absent: no UDP
//   "max_connections": 10000,                           // HTTP connections open at once
//   "data_dir": "/var/lib/imsp2p-tracker",            // tracker.sqlite lives here
//   "as_jwks": "as-jwks.json",                          // the AS public keys (JWK Set file);
//                                                        // must hold >= 1 Ed25519 signing key
//   "issuer": "sip:as.ims.example",                     // required "iss", optional
//   "announce": {"interval": "30m", "min_interval": "5m", "peer_expiry": "45m",
//                "default_numwant": 50, "max_numwant": 200},
//   "log": {"level": "info", "format": "text"}
// }

#include <imsp2p/tracker/tracker_server.hpp>
#include <imsp2p/tracker/tracker_service.hpp>
#include <imsp2p/tracker/udp_tracker_server.hpp>

#include <imsp2p/core/config.hpp>
#include <imsp2p/core/jose.hpp>
#include <imsp2p/core/log.hpp>
#include <imsp2p/core/ticket.hpp>

#include <boost/asio/io_context.hpp>
#include <boost/asio/signal_set.hpp>
#include <boost/program_options.hpp>

#include <csignal>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <memory>
#include <optional>
#include <sstream>
#include <string>

namespace core = imsp2p::core;
namespace tracker = imsp2p::tracker;
namespace po = boost::program_options;

namespace {

std::chrono::seconds seconds_of(std::chrono::milliseconds value) {
    return std::chrono::duration_cast<std::chrono::seconds>(value);
}

}  // namespace

int main(int argc, char** argv) {
    po::options_description options(
        "Usage: imsp2p-tracker [--config FILE] [options]\n\n"
        "Runs the operator-controlled tracker: announces carry an AS ticket in the path\n"
        "(/announce/<ticket>), the AS registers torrents through the admin API.\n\nOptions");
    options.add_options()("help,h", "show this help")("config,c", po::value<std::string>(),
                                                      "JSON configuration file")(
        "address", po::value<std::string>(), "listen address (default 127.0.0.1)")(
        "port,p", po::value<unsigned>(), "listen port (default 6969; 0: ephemeral)")(
        "udp-port", po::value<unsigned>(),
        "also serve UDP (BEP 15/41) on this port of the same address (0: ephemeral)")(
        "data-dir,d", po::value<std::string>(), "data directory (holds tracker.sqlite)")(
        "as-jwks", po::value<std::string>(), "JWK Set file with the AS public keys")(
        "issuer", po::value<std::string>(), "required ticket issuer (iss)")(
        "log-level", po::value<std::string>(), "trace, debug, info, warning, error")(
        "log-format", po::value<std::string>(), "text or json");
    po::variables_map args;
    try {
        po::store(po::parse_command_line(argc, argv, options), args);
        po::notify(args);
    } catch (const po::error& error) {
        std::cerr << "imsp2p-tracker: " << error.what() << "\n" << options << "\n";
        return 2;
    }
    if (args.count("help")) {
        std::cout << options << "\n";
        return 0;
    }

    try {
        core::config config = args.count("config")
                                  ? core::config::load_file(args["config"].as<std::string>())
                                  : core::config();
        const auto flag = [&](const char* name, const char* pointer) {
            if (args.count(name)) {
                config.set(pointer, args[name].as<std::string>());
            }
        };
        flag("address", "/listen/address");
        flag("data-dir", "/data_dir");
        flag("as-jwks", "/as_jwks");
        flag("issuer", "/issuer");
        flag("log-level", "/log/level");
        flag("log-format", "/log/format");
        if (args.count("port")) {
            config.set("/listen/port", args["port"].as<unsigned>());
        }
        if (args.count("udp-port")) {
            config.set("/listen/udp_port", args["udp-port"].as<unsigned>());
        }

        const std::string format = config.get_or<std::string>("/log/format", "text");
        const auto sink = std::make_shared<core::stderr_sink>(
            format == "json" ? core::log_format::json : core::log_format::text);
        core::logger log("tracker", sink,
                         core::parse_log_level(config.get_or<std::string>("/log/level", "info")));

        tracker::tracker_settings settings;
        if (config.contains("/as_jwks")) {
            const auto path = config.resolve_path(config.require<std::string>("/as_jwks"));
            std::ifstream file(path, std::ios::binary);
            if (!file) {
                throw std::runtime_error("cannot read the AS keys (as_jwks) " + path.string());
            }
            std::stringstream text;
            text << file.rdbuf();
            std::error_code ec;
            settings.as_keys = core::jwk_set::parse(text.str(), ec);
            if (ec) {
                throw std::runtime_error("the AS keys (as_jwks) " + path.string() +
                                         " are not a valid JWK Set: " + ec.message());
            }
            // Load them the way the tracker will, and refuse to start without a usable key.
            const core::ticket_verifier probe("tracker", settings.as_keys);
            if (probe.key_count() == 0) {
                throw std::runtime_error(
                    "the AS keys (as_jwks) " + path.string() + " hold " +
                    std::to_string(settings.as_keys.keys.size()) +
                    " key(s) but no Ed25519 signing key (kty OKP, crv Ed25519, use sig): every "
                    "ticket would be refused");
            }
        } else {
            log.warning("no as_jwks configured: every ticket will be refused");
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
        settings.max_numwant =
            config.get_or<std::uint32_t>("/announce/max_numwant", 200, {1, 1000});
        if (config.contains("/data_dir")) {
            const auto directory = config.resolve_path(config.require<std::string>("/data_dir"));
            std::filesystem::create_directories(directory);
            settings.database_path = directory / "tracker.sqlite";
        } else {
            log.warning("no data_dir configured: registrations live in memory only");
        }

        tracker::server_settings http;
        http.bind_address = config.get_or<std::string>("/listen/address", "127.0.0.1");
        http.port = config.port_or("/listen/port", 6969);
        http.max_connections = config.get_or<std::uint32_t>("/max_connections", 10000);

        auto service = tracker::tracker_service::open(settings);
        boost::asio::io_context io;
        tracker::tracker_server server(io, *service, http, log.child("tracker.http"));
        server.start();
        std::unique_ptr<tracker::udp_tracker_server> udp_server;
        if (config.contains("/listen/udp_port")) {
            tracker::udp_server_settings udp;
            udp.bind_address = http.bind_address;
            udp.port = config.port_or("/listen/udp_port", 6969);
            udp_server = std::make_unique<tracker::udp_tracker_server>(io, *service, udp,
                                                                       log.child("tracker.udp"));
            udp_server->start();
        }
        boost::asio::signal_set signals(io, SIGINT, SIGTERM);
        signals.async_wait([&](const boost::system::error_code& ec, int signal_number) {
            if (!ec) {
                log.info("stopping", {{"signal", signal_number}});
                server.stop();
                if (udp_server) {
                    udp_server->stop();
                }
            }
        });
        log.info("started", {{"port", server.port()},
                             {"udp_port", udp_server ? udp_server->port() : 0},
                             {"database", settings.database_path.string()},
                             {"as_keys", service->verifier().key_count()}});
        io.run();
        log.info("stopped");
        return 0;
    } catch (const std::exception& error) {
        std::cerr << "imsp2p-tracker: " << error.what() << "\n";
        return 1;
    }
}
