// imsp2p-drm: the DRM server (content key store, grants, revocation, licenses; /health,
// /metrics). Thin wiring over imsp2p::drm::drm_runner, which documents the configuration.

#include <imsp2p/drm/drm_server.hpp>

#include <imsp2p/core/config.hpp>

#include <boost/program_options.hpp>

#include <iostream>
#include <string>

namespace core = imsp2p::core;
namespace drm = imsp2p::drm;
namespace po = boost::program_options;

int main(int argc, char** argv) {
    po::options_description options(
        "Usage: imsp2p-drm [--config FILE] [options]\n\n"
        "Runs the DRM server: the AS registers content keys and grants rights with service\n"
        "JWTs; clients fetch short-lived licenses with grant tokens. Flags override the file.\n\n"
        "Options");
    options.add_options()("help,h", "show this help")("config,c", po::value<std::string>(),
                                                      "JSON configuration file")(
        "listen,l", po::value<std::string>(),
        "listen address:port (default 127.0.0.1:8088; port 0: any free port)")(
        "data-dir,d", po::value<std::string>(),
        "data directory (drm.sqlite, DRM key files, master.key)")(
        "master-key", po::value<std::string>(), "master key file (default <data-dir>/master.key)")(
        "as-jwks", po::value<std::string>(), "JWK Set file with the AS public keys")(
        "as-issuer", po::value<std::string>(), "required issuer (iss) of AS tokens")(
        "issuer", po::value<std::string>(), "issuer (iss) written into licenses")(
        "license-validity", po::value<std::string>(), "license lifetime, e.g. 1h or 300s")(
        "log-level", po::value<std::string>(), "trace, debug, info, warning, error")(
        "log-format", po::value<std::string>(), "text or json");
    po::variables_map args;
    try {
        po::store(po::parse_command_line(argc, argv, options), args);
        po::notify(args);
    } catch (const po::error& error) {
        std::cerr << "imsp2p-drm: " << error.what() << "\n" << options << "\n";
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
        flag("data-dir", "/data_dir");
        flag("master-key", "/master_key");
        flag("as-jwks", "/as_jwks");
        flag("as-issuer", "/as_issuer");
        flag("issuer", "/issuer");
        flag("license-validity", "/license_validity");
        flag("log-level", "/log/level");
        flag("log-format", "/log/format");
        if (args.count("listen")) {
            const std::string listen = args["listen"].as<std::string>();
            const auto colon = listen.rfind(':');
            if (colon == std::string::npos) {
                std::cerr << "imsp2p-drm: --listen expects address:port, not '" << listen << "'\n";
                return 2;
            }
            std::string address = listen.substr(0, colon);
            if (address.size() > 2 && address.front() == '[' && address.back() == ']') {
                address = address.substr(1, address.size() - 2);
            }
            config.set("/listen/address", address);
            config.apply_override("listen.port=" + listen.substr(colon + 1));
        }
        if (!config.contains("/data_dir")) {
            std::cerr << "imsp2p-drm: a data directory is required (--data-dir or data_dir)\n";
            return 2;
        }
        drm::drm_runner runner(config);
        return runner.run();
    } catch (const std::exception& error) {
        std::cerr << "imsp2p-drm: " << error.what() << "\n";
        return 1;
    }
}
