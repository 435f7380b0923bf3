// imsp2p-ims-core: the development IMS core (P-CSCF + S-CSCF + HSS in one process) for
// development and tests. Thin wiring over imsp2p::sip::ims_core and subscriber_registry.
//
//   imsp2p-ims-core [options]                      run the core until SIGTERM / SIGINT
//   imsp2p-ims-core [options] user add <impu> --impi <impi> --password <pw|-> [--realm R]
//   imsp2p-ims-core [options] user list
//   imsp2p-ims-core [options] user remove <impu>
//
// Configuration (JSON, all optional; flags override):
// {
//   "listen": {"address": "127.0.0.1", "port": 5060},   // UDP and TCP
//   "realm": "ims.example",                              // Digest realm of challenges
//   "data_dir": "/var/lib/imsp2p-ims-core",              // ims-core.sqlite lives here
//   "registration": {"default_expires": "1h", "min_expires": "60s", "max_expires": "2h"},
//   "nonce_lifetime": "5m",
//   "trust_registration_flow": true,      // false: challenge every UE request with 407
//   "filter_criteria": [{"name": "content", "psi": "sip:content@ims.example",
//                        "as": "sip:127.0.0.1:5070"}],
//   "trusted_as": ["127.0.0.1:5070"],
//   "log": {"level": "info", "format": "text"}
// }

#include <imsp2p/sip/ims_core.hpp>
#include <imsp2p/sip/subscriber_registry.hpp>

#include <imsp2p/core/config.hpp>
#include <imsp2p/core/identity.hpp>

#include <boost/program_options.hpp>

#include <filesystem>
#include <iostream>
#include <string>
#include <vector>

namespace core = imsp2p::core;
namespace sip = imsp2p::sip;
namespace po = boost::program_options;

namespace {

int user_command(const core::config& config, const std::vector<std::string>& words,
                 const po::variables_map& args) {
    if (!config.contains("/data_dir")) {
        std::cerr << "imsp2p-ims-core: user commands need --data-dir (or data_dir in --config)\n";
        return 2;
    }
    const sip::ims_core_settings settings = sip::ims_core_settings::from_config(config);
    auto registry = sip::subscriber_registry::open(settings.database);
    const std::string verb = words.size() > 1 ? words[1] : "";
    if (verb == "list" && words.size() == 2) {
        for (const auto& user : registry.list()) {
            std::cout << user.impu.str() << "\t" << user.impi.str() << "\t" << user.realm << "\n";
        }
        return 0;
    }
    if (verb == "add" && words.size() == 3) {
        if (!args.count("impi") || !args.count("password")) {
            std::cerr << "imsp2p-ims-core: user add needs --impi and --password\n";
            return 2;
        }
        std::string password = args["password"].as<std::string>();
        if (password == "-") {
            std::getline(std::cin, password);
        }
        const auto impu = core::impu::parse(words[2]);
        const auto impi = core::impi::parse(args["impi"].as<std::string>());
        const std::string realm =
            args.count("realm") ? args["realm"].as<std::string>() : std::string();
        registry.add(impu, impi, password, realm);
        std::cout << "added " << impu.str() << " (" << impi.str() << ")\n";
        return 0;
    }
    if (verb == "remove" && words.size() == 3) {
        const auto impu = core::impu::parse(words[2]);
        registry.remove(impu);
        std::cout << "removed " << impu.str() << "\n";
        return 0;
    }
    std::cerr << "imsp2p-ims-core: usage: user add <impu> --impi <impi> --password <pw|->"
                 " | user list | user remove <impu>\n";
    return 2;
}

}  // namespace

int main(int argc, char** argv) {
    po::options_description options(
        "Usage: imsp2p-ims-core [options] [user add <impu> | user list | user remove <impu>]\n\n"
        "Runs the development IMS core (P-CSCF + S-CSCF + HSS): Digest registration, identity\n"
        "assertion, initial filter criteria to the AS, terminating routing to registered UEs.\n"
        "The user subcommands provision subscribers in the data directory (only the Digest\n"
        "HA1 is stored; --password - reads the password from standard input).\n\nOptions");
    options.add_options()("help,h", "show this help")("config,c", po::value<std::string>(),
                                                      "JSON configuration file")(
        "listen,l", po::value<std::string>(),
        "[address:]port to bind, UDP and TCP (default 127.0.0.1:5060)")(
        "data-dir,d", po::value<std::string>(), "data directory (holds ims-core.sqlite)")(
        "realm", po::value<std::string>(), "Digest realm (challenges; user add: HA1 realm)")(
        "impi", po::value<std::string>(), "user add: the private identity")(
        "password", po::value<std::string>(), "user add: the password, or - for stdin")(
        "log-level", po::value<std::string>(), "trace, debug, info, warning, error")(
        "log-format", po::value<std::string>(), "text or json");
    po::options_description hidden;
    hidden.add_options()("command", po::value<std::vector<std::string>>(), "subcommand");
    po::options_description all;
    all.add(options).add(hidden);
    po::positional_options_description positional;
    positional.add("command", -1);
    po::variables_map args;
    try {
        po::store(po::command_line_parser(argc, argv).options(all).positional(positional).run(),
                  args);
        po::notify(args);
    } catch (const po::error& error) {
        std::cerr << "imsp2p-ims-core: " << error.what() << "\n" << options << "\n";
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
            const std::string listen = args["listen"].as<std::string>();
            const auto colon = listen.rfind(':');
            std::string port = listen;
            if (colon != std::string::npos) {
                std::string address = listen.substr(0, colon);
                if (address.size() > 2 && address.front() == '[' && address.back() == ']') {
                    address = address.substr(1, address.size() - 2);
                }
                config.set("/listen/address", address);
                port = listen.substr(colon + 1);
            }
            config.set("/listen/port", static_cast<unsigned>(std::stoul(port)));
        }
        if (args.count("data-dir")) {
            config.set("/data_dir", std::filesystem::absolute(args["data-dir"].as<std::string>())
                                        .lexically_normal()
                                        .string());
        }
        if (args.count("realm")) {
            config.set("/realm", args["realm"].as<std::string>());
        }
        if (args.count("log-level")) {
            config.set("/log/level", args["log-level"].as<std::string>());
        }
        if (args.count("log-format")) {
            config.set("/log/format", args["log-format"].as<std::string>());
        }
        const auto words = args.count("command") ? args["command"].as<std::vector<std::string>>()
                                                 : std::vector<std::string>{};
        if (!words.empty()) {
            if (words.front() != "user") {
                std::cerr << "imsp2p-ims-core: unknown command " << words.front() << "\n";
                return 2;
            }
            return user_command(config, words, args);
        }
        return sip::ims_core_runner(std::move(config)).run();
    } catch (const std::exception& error) {
        std::cerr << "imsp2p-ims-core: " << error.what() << "\n";
        return 1;
    }
}
