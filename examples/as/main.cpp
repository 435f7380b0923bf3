// imsp2p-as: the SIP Application Server (content service) on Sofia-SIP, UDP and TCP. Thin wiring
// over imsp2p::sip (as_runner, content_service, sip_server).
//
// Configuration (JSON, all optional unless the service needs it; flags override):
// {
//   "sip": {"listen": ["sip:127.0.0.1:5070;transport=udp", "sip:127.0.0.1:5070;transport=tcp"],
//           "workers": 2, "poll_interval": "1s", "outbound_proxy": "", "stop_timeout": "5s"},
//   "data_dir": "/var/lib/imsp2p-as",                  // as.sqlite, cdr.sqlite, signing key
//   "service": {"content_psi": "sip:content@operator.example",
//               "scscf_route": ["<sip:127.0.0.1:5060;lr>"], "trusted_addresses": ["127.0.0.1"],
//               "doi_prefix": "10.5555", "publish_policy": "allow_all"},
//   "drm": {"url": "http://127.0.0.1:8081"}, "index": {"url": "http://127.0.0.1:8082"},
//   "trackers": [{"announce_url": "http://127.0.0.1:6969/announce",
//                 "admin_url": "http://127.0.0.1:6969"}],
//   "log": {"level": "info", "format": "text"}
// }
// See imsp2p/sip/as_runner.hpp for every key. `--report json|csv` prints the provider report of
// the charging records (cdr.sqlite) instead of serving.

#include <imsp2p/sip/as_runner.hpp>
#include <imsp2p/sip/charging.hpp>
#include <imsp2p/sip/content_service.hpp>

#include <imsp2p/core/config.hpp>
#include <imsp2p/core/log.hpp>

#include <boost/program_options.hpp>

#include <chrono>
#include <filesystem>
#include <iostream>
#include <string>
#include <vector>

namespace core = imsp2p::core;
namespace sip = imsp2p::sip;
namespace po = boost::program_options;

int main(int argc, char** argv) {
    po::options_description options(
        "Usage: imsp2p-as [--config FILE] [options]\n\n"
        "Runs the content Application Server: MESSAGE (acquire), PUBLISH (content injection)\n"
        "and SUBSCRIBE (catalog) from a trusted S-CSCF; stops cleanly on SIGTERM/SIGINT.\n\n"
        "Options");
    options.add_options()("help,h", "show this help")("config,c", po::value<std::string>(),
                                                      "JSON configuration file")(
        "listen,l", po::value<std::vector<std::string>>(),
        "SIP URI to listen on, repeatable (e.g. 'sip:127.0.0.1:5070;transport=udp')")(
        "data-dir,d", po::value<std::string>(), "data directory (as.sqlite, cdr.sqlite, key)")(
        "log-level", po::value<std::string>(), "trace, debug, info, warning, error")(
        "log-format", po::value<std::string>(), "text or json")(
        "report", po::value<std::string>(),
        "print the charging report (json or csv) of the data directory's CDRs and exit")(
        "doi", po::value<std::string>(), "with --report: only this DOI")(
        "provider", po::value<std::string>(), "with --report: only this provider's content");
    po::variables_map args;
    try {
        po::store(po::parse_command_line(argc, argv, options), args);
        po::notify(args);
    } catch (const po::error& error) {
        std::cerr << "imsp2p-as: " << error.what() << "\n" << options << "\n";
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
        if (args.count("listen")) {
            config.set("/sip/listen", args["listen"].as<std::vector<std::string>>());
        }
        if (args.count("data-dir")) {
            config.set("/data_dir",
                       std::filesystem::absolute(args["data-dir"].as<std::string>()).string());
        }
        if (args.count("log-level")) {
            config.set("/log/level", args["log-level"].as<std::string>());
        }
        if (args.count("log-format")) {
            config.set("/log/format", args["log-format"].as<std::string>());
        }

        const core::logger log = core::program_logger(config, "as");

        sip::service_settings settings = sip::service_settings_from(config);
        if (args.count("report")) {
            const std::string kind = args["report"].as<std::string>();
            if (kind != "json" && kind != "csv") {
                std::cerr << "imsp2p-as: --report takes json or csv\n";
                return 2;
            }
            const auto path = settings.charging_database_path.empty()
                                  ? settings.data_dir / "cdr.sqlite"
                                  : settings.charging_database_path;
            if (!std::filesystem::exists(path)) {
                std::cerr << "imsp2p-as: no charging records at " << path.string() << "\n";
                return 1;
            }
            sip::sqlite_charging charging(path);
            sip::report_filter filter;
            if (args.count("doi")) {
                filter.doi = args["doi"].as<std::string>();
            }
            if (args.count("provider")) {
                filter.provider = args["provider"].as<std::string>();
            }
            if (kind == "json") {
                std::cout << charging.report_json(filter).dump(2) << "\n";
            } else {
                std::cout << charging.report_csv(filter);
            }
            return 0;
        }
        if (!settings.data_dir.empty()) {
            std::filesystem::create_directories(settings.data_dir);
        } else {
            log.warning("no data_dir configured: state lives in the working directory");
        }
        sip::service_dependencies dependencies;
        dependencies.log = log.child("as.service");
        sip::content_service service(settings, dependencies);
        sip::content_service_handler handler(service);
        sip::as_runner runner(sip::server_settings_from(config), handler, log);
        return runner.run([&](sip::sip_server& server) {
            // Resume what a previous run left unfinished (tickets, publish results, NOTIFYs).
            for (auto& request : service.recover(std::chrono::system_clock::now())) {
                server.send(std::move(request));
            }
        });
    } catch (const std::exception& error) {
        std::cerr << "imsp2p-as: " << error.what() << "\n";
        return 1;
    }
}
