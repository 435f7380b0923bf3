// imsp2p-tracker: the operator-controlled BitTorrent tracker (HTTP announce/scrape with ticket
// admission, admin API for the AS, /health, /metrics; UDP announce/scrape, BEP 15 with the
// ticket in BEP 41 URL data). Thin wiring over imsp2p::tracker::tracker_runner, which
// documents the configuration.

#include <imsp2p/tracker/tracker_runner.hpp>

#include <imsp2p/core/config.hpp>

#include <boost/program_options.hpp>

#include <iostream>
#include <string>

namespace core = imsp2p::core;
namespace tracker = imsp2p::tracker;
namespace po = boost::program_options;

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
        tracker::tracker_runner runner(config);
        return runner.run();
    } catch (const std::exception& error) {
        std::cerr << "imsp2p-tracker: " << error.what() << "\n";
        return 1;
    }
}
