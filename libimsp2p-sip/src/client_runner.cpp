// The imsp2p-client program as a class (client_runner.hpp): its command line over
// imsp2p::sip::ims_client (register, publish, acquire, seed, play by DOI, list, status) and
// libimsp2p-drm (package, play of a container file with a license or a content key).
//
// Configuration (JSON, every key optional unless a subcommand needs it; the flags have the
// same names with '-' for '_' and override the file). See imsp2p/sip/client.hpp for the keys:
// {
//   "data_dir": "alice-data",                 // keys, state, containers, resume data
//   "impu": "sip:alice@ims.example", "impi": "alice@ims.example", "password": "secret",
//   "usim_profile": "alice-usim.json",        // instead of password: Digest AKA
//   "outbound_proxy": "sip:127.0.0.1:5060",   // the P-CSCF (the IMS core)
//   "content_psi": "sip:content@ims.example", "transport": "tcp",
//   "drm_jwks": "http://127.0.0.1:8088",      // or a pinned JWK Set file
//   "index_url": "http://127.0.0.1:8090",
//   "sip_listen": "sip:127.0.0.1:*", "bittorrent_listen": "127.0.0.1:0",
//   "operator_seed_box": false,               // true: 'seed' serves seed assignments
//   "log": {"level": "warning", "format": "text"}
// }

#include <imsp2p/sip/client_runner.hpp>

#include <imsp2p/sip/client.hpp>
#include <imsp2p/sip/error.hpp>

#include <imsp2p/core/config.hpp>
#include <imsp2p/core/doi.hpp>
#include <imsp2p/core/encoding.hpp>
#include <imsp2p/core/jose.hpp>
#include <imsp2p/core/key_file.hpp>
#include <imsp2p/drm/container.hpp>
#include <imsp2p/drm/packager.hpp>
#include <imsp2p/drm/player.hpp>

#include <boost/program_options.hpp>

#include <nlohmann/json.hpp>

#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <csignal>
#include <cstdio>
#include <ctime>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <iterator>
#include <map>
#include <sstream>
#include <string>
#include <vector>

namespace core = imsp2p::core;
namespace drm = imsp2p::drm;
namespace sip = imsp2p::sip;
namespace po = boost::program_options;

namespace {

/** The one-line help of each subcommand (also the order of the overview). */
const std::vector<std::pair<std::string, std::string>> commands = {
    {"register", "register with the IMS (Digest or AKA) and print the result"},
    {"package", "package <file> --out <dir>: container, private torrent and key file (offline)"},
    {"publish", "publish <file>: package, PUBLISH, wait for the result, start seeding"},
    {"acquire", "acquire <doi>: buy (MESSAGE), download from the swarm, fetch the license"},
    {"seed",
     "seed everything published or acquired until SIGTERM/SIGINT (resumes, renews\n"
     "            tickets before they expire);\n"
     "            --operator: also serve the AS's seed assignments (operator seed box)"},
    {"play", "play <doi> --out <file|->, or play <file.ipc> --license/--key ... (see --help)"},
    {"list", "list [text]: the catalogue of the content index"},
    {"status", "registrations, torrents, rates and recorded items as JSON"},
};

std::string overview() {
    std::ostringstream text;
    text << "Usage: imsp2p-client <command> [arguments] [options]\n\nCommands:\n";
    for (const auto& [name, help] : commands) {
        text << "  " << name << std::string(10 - name.size(), ' ') << help << "\n";
    }
    text << "\n'imsp2p-client <command> --help' describes a command and its options.\n"
            "Exit status: 0 done, 1 failed (the reason on stderr), 2 usage error.\n";
    return text.str();
}

/** Options every networked command understands (names = configuration keys). */
po::options_description client_options() {
    po::options_description options("Client options (also configuration keys, '-' as '_')");
    options.add_options()("config,c", po::value<std::string>(), "JSON configuration file")(
        "data-dir,d", po::value<std::string>(), "data directory (keys, state, containers)")(
        "impu", po::value<std::string>(), "public identity, e.g. sip:alice@ims.example")(
        "impi", po::value<std::string>(), "private identity (default: IMPU without sip:)")(
        "password", po::value<std::string>(), "Digest password")(
        "usim-profile", po::value<std::string>(), "USIM profile file (Digest AKA)")(
        "registrar", po::value<std::string>(), "registrar URI (default sip:<IMPU domain>)")(
        "outbound-proxy", po::value<std::string>(), "P-CSCF URI, e.g. sip:127.0.0.1:5060")(
        "content-psi", po::value<std::string>(), "content service PSI")(
        "transport", po::value<std::string>(), "tcp (default) or udp")(
        "sip-listen", po::value<std::string>(), "SIP listen URI (default sip:127.0.0.1:*)")(
        "drm-jwks", po::value<std::string>(), "DRM JWK Set: file or http(s) URL")(
        "index-url", po::value<std::string>(), "content index base URL")(
        "bittorrent-listen", po::value<std::string>(), "BitTorrent listen, e.g. 127.0.0.1:0")(
        "result-timeout", po::value<std::string>(), "wait for the AS's MESSAGE (e.g. 60s)")(
        "transfer-timeout", po::value<std::string>(), "longest download (e.g. 1h)")(
        "pana", po::value<std::string>(),
        "PAA address[:port]: PANA/EAP-TLS access authentication, then one-pass REGISTER")(
        "pana-ca", po::value<std::string>(), "PEM of the CA the PAA's certificate chains to")(
        "pana-certificate", po::value<std::string>(), "PEM of the UE's EAP-TLS certificate")(
        "pana-private-key", po::value<std::string>(), "PEM of the UE's EAP-TLS private key")(
        "pana-server-name", po::value<std::string>(), "DNS name the PAA's certificate carries")(
        "realm", po::value<std::string>(), "home realm (default: the IMPI's domain)")(
        "log-level", po::value<std::string>(), "trace, debug, info, warning (default), error")(
        "log-format", po::value<std::string>(), "text or json")("no-progress",
                                                                "no progress output");
    return options;
}

po::options_description command_options(const std::string& command) {
    po::options_description options("Options of " + command);
    options.add_options()("help,h", "show this help");
    if (command == "package") {
        options.add_options()("out,o", po::value<std::string>(), "output folder")(
            "segment-size", po::value<std::uint32_t>()->default_value(drm::default_segment_size),
            "segment size, a power of two 16384..4194304")(
            "content-type", po::value<std::string>()->default_value("application/octet-stream"),
            "content type stored in the metadata")("web-seed", po::value<std::string>(),
                                                   "BEP 19 web seed URL of the .ipc")(
            "tracker", po::value<std::vector<std::string>>(), "announce URL (repeatable)")(
            "threads", po::value<unsigned>()->default_value(2), "1 or 2 threads");
    } else if (command == "publish") {
        options.add_options()("title", po::value<std::string>(), "title (default: file name)")(
            "description", po::value<std::string>(), "description")(
            "content-type", po::value<std::string>(), "media type, e.g. video/mp4")(
            "genre", po::value<std::string>(), "genre")("series", po::value<std::string>(),
                                                        "series")(
            "price", po::value<std::int64_t>()->default_value(0), "price in minor units")(
            "currency", po::value<std::string>()->default_value("EUR"), "ISO 4217 currency")(
            "doi", po::value<std::string>(), "proposed DOI (default: the AS mints one)")(
            "seed", "keep seeding after publishing until SIGTERM/SIGINT");
    } else if (command == "acquire") {
        options.add_options()("request-id", po::value<std::string>(),
                              "purchase id (default: the one recorded for the DOI, else new)");
    } else if (command == "play") {
        options.add_options()("out,o", po::value<std::string>(), "output file, - for stdout")(
            "license,l", po::value<std::string>(), "file mode: license file (compact JWS)")(
            "key,k", po::value<std::string>(), "file mode: content key file (publisher check)")(
            "device-key", po::value<std::string>(),
            "file mode: device X25519 JWK file (created 0600 on first use)")(
            "usage-db", po::value<std::string>(),
            "file mode: usage store (default usage.db next to the device key)")(
            "doi", po::value<std::string>(), "file mode: the DOI the license must be for");
    } else if (command == "seed") {
        options.add_options()(
            "operator",
            "operator seed box: accept the content service's seed assignments, copy and "
            "report them (configuration key operator_seed_box)");
    } else if (command == "status") {
        options.add_options()("register", "also register and report the registration");
    }
    return options;
}

std::string command_usage(const std::string& command) {
    if (command == "package") {
        return "Usage: imsp2p-client package <file> --out <dir> [options]\n"
               "  writes <dir>/<stem>.ipc, <dir>/<stem>.torrent and <dir>/<stem>.key.json (0600)\n"
               "  and prints the metadata as JSON on stdout\n";
    }
    if (command == "publish") {
        return "Usage: imsp2p-client publish <file> [--title T] [--price N --currency C] "
               "[--seed] [options]\n"
               "  packages the file into the data directory, sends PUBLISH (Event:\n"
               "  imsp2p-content) to the content PSI, waits for the result MESSAGE, starts\n"
               "  seeding (with --seed: until SIGTERM/SIGINT; else run 'seed' later) and\n"
               "  prints the result (DOI, state, announce URL) as JSON\n";
    }
    if (command == "acquire") {
        return "Usage: imsp2p-client acquire <doi> [--request-id ID] [options]\n"
               "  sends the acquire MESSAGE, waits for the ticket, downloads the container\n"
               "  from the swarm, fetches the license and prints the paths as JSON; repeating\n"
               "  it reuses the recorded request id, so it is never charged twice\n";
    }
    if (command == "play") {
        return "Usage: imsp2p-client play <doi> --out <file|-> [options]\n"
               "      plays acquired (or own published) content of the data directory\n"
               "  imsp2p-client play <file.ipc> --license <file> --device-key <file> --drm-jwks "
               "<file> --out <file|-> [--usage-db P] [--doi D]\n"
               "      verifies the license, enforces its rights and decrypts the container\n"
               "  imsp2p-client play <file.ipc> --key <key file> --out <file|->\n"
               "      publisher-side check with the content key file\n";
    }
    if (command == "seed") {
        return "Usage: imsp2p-client seed [--operator] [options]\n"
               "  seeds everything published or acquired (resuming from the resume data),\n"
               "  prints progress, and on SIGTERM/SIGINT saves the resume data and exits 0\n"
               "  --operator (or operator_seed_box: true): an operator seed box (seed 000 §7):\n"
               "  stays registered, accepts the content service's seed assignments (recorded\n"
               "  in client-state.json), fetches each torrent from the content index, checks\n"
               "  its infohash, downloads the full copy into seeded/, sends the seed report\n"
               "  (retried until accepted, also after a restart) and keeps seeding it; one\n"
               "  progress line per assignment event. Exit status: 0 after SIGTERM/SIGINT,\n"
               "  1 if the IMS refuses the registration, 2 usage error\n";
    }
    if (command == "list") {
        return "Usage: imsp2p-client list [text] [options]\n"
               "  lists the content index's catalogue (catalog.json), one entry a line:\n"
               "  DOI, title, price, purchase URI (tab separated)\n";
    }
    if (command == "status") {
        return "Usage: imsp2p-client status [--register] [options]\n"
               "  prints the registration, the swarm's torrents (bytes, rates, peers) and the\n"
               "  recorded publications, acquisitions and operator seed assignments as JSON\n";
    }
    return "Usage: imsp2p-client register [--pana <paa-address> --pana-ca F --pana-certificate F\n"
           "                              --pana-private-key F] [options]\n"
           "  registers the IMPU with the registrar and prints the status; with --pana, first\n"
           "  authenticates to the access network's PAA (PANA, EAP-TLS) and registers in one\n"
           "  pass with the exported token (no 401 round; any challenge is still answered)\n";
}

std::string human_bytes(double bytes) {
    const char* units[] = {"B", "KiB", "MiB", "GiB", "TiB"};
    int unit = 0;
    while (bytes >= 1024.0 && unit < 4) {
        bytes /= 1024.0;
        ++unit;
    }
    char text[32];
    std::snprintf(text, sizeof text, unit == 0 ? "%.0f %s" : "%.1f %s", bytes, units[unit]);
    return text;
}

/**
 * Progress on stderr: on a terminal a one-line bar (bytes, rate, peers, ETA) redrawn in place;
 * otherwise a plain line at most every 2 s (and at stage changes and completion).
 */
class progress_display {
  public:
    explicit progress_display(bool enabled) : enabled_(enabled), tty_(::isatty(2) == 1) {}
    ~progress_display() { finish(); }
    progress_display(const progress_display&) = delete;
    progress_display& operator=(const progress_display&) = delete;

    void operator()(const sip::client_progress& progress) {
        if (!enabled_) {
            return;
        }
        const auto now = std::chrono::steady_clock::now();
        const bool stage_changed = !started_ || progress.stage != stage_;
        const bool done = progress.total_bytes != 0 && progress.done_bytes >= progress.total_bytes;
        if (!tty_ && !stage_changed && !done && now - last_ < std::chrono::seconds(2)) {
            return;
        }
        if (tty_ && !stage_changed && !done && now - last_ < std::chrono::milliseconds(100)) {
            return;
        }
        if (!stage_changed && done && done_shown_) {
            return;  // completion already shown for this stage
        }
        if (stage_changed) {
            finish();
            stage_started_ = now;
            done_shown_ = false;
        }
        done_shown_ = done;
        started_ = true;
        stage_ = progress.stage;
        last_ = now;
        const std::string line = render(progress, now);
        if (tty_) {
            std::cerr << "\r" << line << "\033[K" << std::flush;
            open_line_ = true;
        } else {
            std::cerr << line << "\n";
        }
    }

    void finish() {
        if (open_line_) {
            std::cerr << "\n";
            open_line_ = false;
        }
    }

  private:
    std::string render(const sip::client_progress& progress,
                       std::chrono::steady_clock::time_point now) const {
        std::ostringstream line;
        line << "imsp2p-client: " << sip::to_string(progress.stage);
        if (progress.total_bytes == 0) {
            if (!progress.message.empty()) {
                line << ": " << progress.message;
            }
            return line.str();
        }
        const double fraction =
            static_cast<double>(progress.done_bytes) / static_cast<double>(progress.total_bytes);
        if (tty_) {
            const int width = 24;
            const int filled = static_cast<int>(fraction * width);
            line << " [" << std::string(static_cast<std::size_t>(filled), '#')
                 << std::string(static_cast<std::size_t>(width - filled), '.') << "]";
        }
        char percent[16];
        std::snprintf(percent, sizeof percent, " %3d%% ", static_cast<int>(fraction * 100.0));
        line << percent << human_bytes(static_cast<double>(progress.done_bytes)) << "/"
             << human_bytes(static_cast<double>(progress.total_bytes));
        double rate = progress.rate;
        if (progress.stage != sip::client_stage::downloading) {
            const double seconds = std::chrono::duration<double>(now - stage_started_).count();
            rate = seconds > 0.0 ? static_cast<double>(progress.done_bytes) / seconds : 0.0;
        }
        if (rate > 0.0 || progress.stage == sip::client_stage::downloading) {
            line << " " << human_bytes(rate) << "/s";
        }
        if (progress.stage == sip::client_stage::downloading) {
            line << " " << progress.peers << (progress.peers == 1 ? " peer" : " peers");
        }
        if (rate > 0.0 && progress.done_bytes < progress.total_bytes) {
            const auto eta = static_cast<long long>(
                static_cast<double>(progress.total_bytes - progress.done_bytes) / rate);
            char text[32];
            std::snprintf(text, sizeof text, " ETA %lld:%02lld", eta / 60, eta % 60);
            line << text;
        }
        if (!progress.message.empty() && progress.stage == sip::client_stage::downloading) {
            line << " (" << progress.message << ")";
        }
        return line.str();
    }

    bool enabled_;
    bool tty_;
    bool started_ = false;
    bool open_line_ = false;
    bool done_shown_ = false;
    sip::client_stage stage_ = sip::client_stage::signalling;
    std::chrono::steady_clock::time_point last_{};
    std::chrono::steady_clock::time_point stage_started_{};
};

/** Progress lines of the offline package/play commands (at most one per 2 s). */
drm::progress_callback progress_printer(const std::string& what) {
    auto last = std::make_shared<std::chrono::steady_clock::time_point>();
    return [what, last](std::uint64_t done, std::uint64_t total) {
        const auto now = std::chrono::steady_clock::now();
        if (done != total && now - *last < std::chrono::seconds(2)) {
            return;
        }
        *last = now;
        const double percent =
            total == 0 ? 100.0 : 100.0 * static_cast<double>(done) / static_cast<double>(total);
        std::cerr << "imsp2p-client: " << what << " " << done << "/" << total << " bytes ("
                  << static_cast<int>(percent) << "%)\n";
    };
}

std::string read_text_file(const std::filesystem::path& path, std::error_code& ec) {
    ec.clear();
    std::ifstream stream(path, std::ios::binary);
    if (!stream) {
        ec = std::make_error_code(std::errc::no_such_file_or_directory);
        return {};
    }
    std::string text{std::istreambuf_iterator<char>(stream), {}};
    if (stream.bad()) {
        ec = std::make_error_code(std::errc::io_error);
    }
    return text;
}

std::string trimmed(const std::string& text) {
    const auto first = text.find_first_not_of(" \t\r\n");
    if (first == std::string::npos) {
        return {};
    }
    return text.substr(first, text.find_last_not_of(" \t\r\n") - first + 1);
}

int fail(const std::string& what) {
    std::cerr << "imsp2p-client: " << what << "\n";
    return 1;
}

int fail(const std::error_code& ec, const std::string& detail) {
    return fail((detail.empty() ? ec.message() : detail) + " (" + ec.category().name() + " " +
                std::to_string(ec.value()) + ")");
}

// --- offline commands (package, play of a file) -------------------------------------------

int package(const po::variables_map& args, const std::vector<std::string>& words) {
    if (words.size() != 1 || !args.count("out")) {
        std::cerr << "imsp2p-client: package needs <file> and --out <dir>\n";
        return 2;
    }
    const std::filesystem::path input = words[0];
    const std::filesystem::path out_dir = args["out"].as<std::string>();
    std::error_code ec;
    std::filesystem::create_directories(out_dir, ec);
    const std::string stem =
        input.stem().empty() ? input.filename().string() : input.stem().string();
    drm::package_options options;
    options.segment_size = args["segment-size"].as<std::uint32_t>();
    options.content_type = args["content-type"].as<std::string>();
    options.threads = args["threads"].as<unsigned>();
    if (args.count("web-seed")) {
        options.torrent.web_seed_url = args["web-seed"].as<std::string>();
    }
    if (args.count("tracker")) {
        options.torrent.trackers = args["tracker"].as<std::vector<std::string>>();
    }
    options.progress = progress_printer("packaged");
    const drm::package_result result = drm::package_file(
        input, out_dir / (stem + ".ipc"), out_dir / (stem + ".torrent"), options, ec);
    if (ec) {
        return fail(input.string() + ": " + ec.message());
    }
    const std::filesystem::path key_path = out_dir / (stem + ".key.json");
    drm::write_content_key_file(key_path, {result.kid, result.cek}, ec);
    if (ec) {
        return fail(key_path.string() + ": " + ec.message());
    }
    const nlohmann::json metadata = {{"file_name", result.file_name},
                                     {"content_type", result.content_type},
                                     {"plaintext_size", result.plaintext_size},
                                     {"kid", core::base64url_encode(result.kid)},
                                     {"container", result.container_path.string()},
                                     {"container_size", result.container_size},
                                     {"segment_size", result.segment_size},
                                     {"segment_count", result.segment_count},
                                     {"torrent", result.torrent_path.string()},
                                     {"piece_size", result.piece_size},
                                     {"piece_count", result.piece_count},
                                     {"infohash_v1", result.infohash_v1},
                                     {"infohash_v2", result.infohash_v2},
                                     {"key_file", key_path.string()}};
    std::cout << metadata.dump(2) << "\n";
    return 0;
}

int play_licensed_file(const po::variables_map& args, const std::filesystem::path& input) {
    for (const char* required : {"device-key", "drm-jwks", "out"}) {
        if (!args.count(required)) {
            std::cerr << "imsp2p-client: play --license needs --device-key <file>, --drm-jwks "
                         "<file> and --out <file|->\n";
            return 2;
        }
    }
    const std::filesystem::path device_path = args["device-key"].as<std::string>();
    const std::string license_path = args["license"].as<std::string>();
    const std::string jwks_path = args["drm-jwks"].as<std::string>();
    std::error_code ec;
    const std::string license = trimmed(read_text_file(license_path, ec));
    if (ec) {
        return fail(license_path + ": " + ec.message());
    }
    const std::string jwks_text = read_text_file(jwks_path, ec);
    drm::player_settings settings;
    if (!ec) {
        settings.drm_keys = core::jwk_set::parse(jwks_text, ec);
    }
    if (ec) {
        return fail(jwks_path + ": " + ec.message());
    }
    const core::jwk device =
        core::load_or_create_private_key(device_path, core::jwk_curve::x25519, ec);
    if (!ec) {
        settings.device_key = device.x25519_private(ec);
    }
    if (ec) {
        return fail(device_path.string() + ": " + ec.message());
    }
    settings.usage_store_path = args.count("usage-db")
                                    ? std::filesystem::path(args["usage-db"].as<std::string>())
                                    : device_path.parent_path() / "usage.db";
    drm::player player = drm::player::create(std::move(settings), ec);
    if (ec) {
        return fail("usage store: " + ec.message());
    }
    const std::string expected_doi = args.count("doi") ? args["doi"].as<std::string>() : "";
    drm::playback playback =
        player.open(input, license, std::chrono::system_clock::now(), ec, expected_doi);
    if (ec) {
        return fail(input.string() + ": refused: " + ec.message() + " (" + ec.category().name() +
                    " " + std::to_string(ec.value()) + ")");
    }
    const drm::usage_record& record = playback.usage();
    const auto& rights = playback.license().rights;
    std::cerr << "imsp2p-client: playing " << playback.license().doi << " (play "
              << record.play_count;
    if (rights.play_count) {
        std::cerr << " of " << *rights.play_count;
    }
    std::cerr << ")\n";
    const std::string out = args["out"].as<std::string>();
    if (out == "-") {
        playback.decrypt_to(std::cout, ec);
    } else {
        playback.decrypt_to_file(out, ec, progress_printer("decrypted"));
    }
    if (ec) {
        return fail(input.string() + ": " + ec.message());
    }
    return 0;
}

int play_with_key_file(const po::variables_map& args, const std::filesystem::path& input) {
    if (!args.count("out")) {
        std::cerr << "imsp2p-client: play --key needs --out <file|->\n";
        return 2;
    }
    std::error_code ec;
    const drm::content_key key = drm::read_content_key_file(args["key"].as<std::string>(), ec);
    if (ec) {
        return fail(args["key"].as<std::string>() + ": " + ec.message());
    }
    drm::container_reader reader = drm::container_reader::open(input, ec);
    if (!ec) {
        reader.set_key(key.cek, &key.kid, ec);
    }
    if (!ec) {
        const std::string out = args["out"].as<std::string>();
        if (out == "-") {
            reader.decrypt_to(std::cout, ec);
        } else {
            reader.decrypt_to_file(out, ec, progress_printer("decrypted"));
        }
    }
    if (ec) {
        return fail(input.string() + ": " + ec.message());
    }
    return 0;
}

// --- networked commands --------------------------------------------------------------------

/** Builds the configuration: the file, then the flags on top. */
core::config load_config(const po::variables_map& args) {
    core::config config = args.count("config")
                              ? core::config::load_file(args["config"].as<std::string>())
                              : core::config();
    static const std::vector<std::string> keys = {"impu",           "impi",
                                                  "password",       "registrar",
                                                  "outbound-proxy", "content-psi",
                                                  "transport",      "sip-listen",
                                                  "index-url",      "bittorrent-listen",
                                                  "result-timeout", "transfer-timeout",
                                                  "pana",           "pana-server-name",
                                                  "realm"};
    for (const auto& key : keys) {
        if (args.count(key)) {
            std::string pointer = "/" + key;
            for (char& c : pointer) {
                c = c == '-' ? '_' : c;
            }
            config.set(pointer, args[key].as<std::string>());
        }
    }
    const auto absolute = [](const std::string& path) {
        return std::filesystem::absolute(path).lexically_normal().string();
    };
    if (args.count("data-dir")) {
        config.set("/data_dir", absolute(args["data-dir"].as<std::string>()));
    }
    if (args.count("usim-profile")) {
        config.set("/usim_profile", absolute(args["usim-profile"].as<std::string>()));
    }
    for (const std::string key : {"pana-ca", "pana-certificate", "pana-private-key"}) {
        if (args.count(key)) {
            std::string pointer = "/" + key;
            std::replace(pointer.begin(), pointer.end(), '-', '_');
            config.set(pointer, absolute(args[key].as<std::string>()));
        }
    }
    if (args.count("drm-jwks")) {
        const std::string jwks = args["drm-jwks"].as<std::string>();
        config.set("/drm_jwks", jwks.rfind("http", 0) == 0 ? jwks : absolute(jwks));
    }
    if (args.count("log-level")) {
        config.set("/log/level", args["log-level"].as<std::string>());
    }
    if (args.count("operator")) {
        config.set("/operator_seed_box", true);
    }
    if (args.count("log-format")) {
        config.set("/log/format", args["log-format"].as<std::string>());
    }
    return config;
}

core::logger make_logger(const core::config& config) {
    return core::program_logger(config, "client", core::log_level::warning);
}

nlohmann::json item_json(const sip::published_item& item) {
    return {{"doi", item.doi},
            {"title", item.title},
            {"state", item.state},
            {"kid", item.kid},
            {"infohash_v1", item.infohash_v1},
            {"container", item.container_path.string()},
            {"torrent", item.torrent_path.string()},
            {"announce_url", item.announce_url},
            {"torrent_url", item.torrent_url},
            {"expires", item.expires.time_since_epoch().count()}};
}

nlohmann::json item_json(const sip::acquired_item& item) {
    return {{"doi", item.doi},
            {"request_id", item.request_id},
            {"complete", item.complete},
            {"container", item.container_path.string()},
            {"license", item.license_path.string()},
            {"expires", item.expires.time_since_epoch().count()}};
}

nlohmann::json item_json(const sip::seed_assignment_record& item) {
    return {{"assignment_id", item.assignment_id},
            {"doi", item.doi},
            {"infohash_v1", item.infohash_v1},
            {"state", item.state},
            {"error", item.error},
            {"container", item.container_path.string()},
            {"torrent_url", item.torrent_url},
            {"expires", item.expires.time_since_epoch().count()}};
}

nlohmann::json transfer_json(const sip::transfer_progress& transfer) {
    return {{"id", transfer.id},
            {"name", transfer.name},
            {"total_bytes", transfer.total_bytes},
            {"done_bytes", transfer.done_bytes},
            {"uploaded_bytes", transfer.uploaded_bytes},
            {"downloaded_bytes", transfer.downloaded_bytes},
            {"download_rate", transfer.download_rate},
            {"upload_rate", transfer.upload_rate},
            {"peers", transfer.peers},
            {"complete", transfer.complete},
            {"error", transfer.error}};
}

/** Blocks SIGTERM and SIGINT (before any thread starts) so that wait_for_stop() gets them. */
sigset_t block_stop_signals() {
    sigset_t set;
    sigemptyset(&set);
    sigaddset(&set, SIGTERM);
    sigaddset(&set, SIGINT);
    pthread_sigmask(SIG_BLOCK, &set, nullptr);
    return set;
}

/**
 * Renews the tickets that are due (ims_client::renew_tickets()); reports what happened.
 * @return when to check again (sooner after a failure)
 */
std::chrono::steady_clock::time_point renew_due_tickets(sip::ims_client& client) {
    std::error_code ec;
    std::string detail;
    const std::size_t renewed = client.renew_tickets(ec, &detail);
    if (renewed != 0) {
        std::cerr << "imsp2p-client: renewed " << renewed << " ticket(s)\n";
    }
    if (ec) {
        std::cerr << "imsp2p-client: warning: ticket renewal: " << detail
                  << " (retrying in 1 min)\n";
        return std::chrono::steady_clock::now() + std::chrono::minutes(1);
    }
    return std::chrono::steady_clock::now() + std::chrono::minutes(5);
}

/**
 * Seeds until SIGTERM/SIGINT, printing a status line every 10 s (2 s on a terminal) and
 * renewing due tickets every 5 minutes (see ims_client::renew_tickets()).
 */
void seed_until_stopped(sip::ims_client& client, const sigset_t& signals, bool quiet) {
    const bool tty = ::isatty(2) == 1;
    const timespec wait{tty ? 2 : 10, 0};
    auto next_renewal = renew_due_tickets(client);
    while (true) {
        const int received = sigtimedwait(&signals, nullptr, &wait);
        if (received == SIGTERM || received == SIGINT) {
            std::cerr << "imsp2p-client: " << (received == SIGTERM ? "SIGTERM" : "SIGINT")
                      << ": saving resume data and stopping\n";
            return;
        }
        if (std::chrono::steady_clock::now() >= next_renewal) {
            next_renewal = renew_due_tickets(client);
        }
        if (quiet) {
            continue;
        }
        const auto status = client.status();
        std::uint64_t up = 0;
        int rate = 0;
        int peers = 0;
        for (const auto& transfer : status.transfers) {
            up += transfer.uploaded_bytes;
            rate += transfer.upload_rate;
            peers += transfer.peers;
        }
        std::cerr << "imsp2p-client: seeding " << status.transfers.size() << " torrent(s), "
                  << peers << " peer(s), uploaded " << human_bytes(static_cast<double>(up)) << ", "
                  << human_bytes(rate) << "/s\n";
    }
}

/** One progress line of a seed box event (stderr). */
void print_seed_box_event(const sip::seed_box_event& event) {
    std::cerr << "imsp2p-client: assignment " << event.assignment.assignment_id << " ("
              << event.assignment.doi << "): " << event.kind;
    if (event.kind == "copying" && event.total_bytes != 0) {
        char percent[16];
        std::snprintf(percent, sizeof percent, " %3d%% ",
                      static_cast<int>(static_cast<double>(event.done_bytes) * 100.0 /
                                       static_cast<double>(event.total_bytes)));
        std::cerr << percent << human_bytes(static_cast<double>(event.done_bytes)) << "/"
                  << human_bytes(static_cast<double>(event.total_bytes)) << ", "
                  << human_bytes(event.download_rate) << "/s, " << event.peers << " peer(s)";
    }
    if (!event.message.empty()) {
        std::cerr << ": " << event.message;
    }
    std::cerr << "\n";
}

/**
 * The operator seed box daemon: rounds of ims_client::serve_seed_box() until SIGTERM/SIGINT,
 * with a status line every 10 s. @return the exit status
 */
int serve_seed_box_until_stopped(sip::ims_client& client, const sigset_t& signals, bool quiet) {
    const auto on_event = [&](const sip::seed_box_event& event) {
        if (!quiet || event.kind == "failed") {
            print_seed_box_event(event);
        }
    };
    auto next_status = std::chrono::steady_clock::now() + std::chrono::seconds(10);
    auto retry_at = std::chrono::steady_clock::now();
    auto retry_delay = std::chrono::seconds(1);
    bool first = true;
    std::string last_warning;
    while (true) {
        // Between retries the loop waits here (200 ms steps); otherwise in serve_seed_box().
        const bool retrying = std::chrono::steady_clock::now() < retry_at;
        const timespec wait{0, retrying ? 200 * 1000 * 1000 : 0};
        const int received = sigtimedwait(&signals, nullptr, &wait);
        if (received == SIGTERM || received == SIGINT) {
            std::uint64_t uploaded = 0;
            for (const auto& transfer : client.status().transfers) {
                uploaded += transfer.uploaded_bytes;
            }
            std::cerr << "imsp2p-client: " << (received == SIGTERM ? "SIGTERM" : "SIGINT")
                      << ": uploaded " << uploaded
                      << " bytes in this run; saving resume data and stopping\n";
            return 0;
        }
        if (retrying) {
            continue;
        }
        const auto now = std::chrono::steady_clock::now();
        std::error_code ec;
        std::string detail;
        client.serve_seed_box(std::chrono::milliseconds(500), ec, &detail, on_event);
        if (ec) {
            if (first && ec != sip::errc::dependency_unavailable) {
                return fail(ec, detail);  // refused (e.g. 403): a configuration problem
            }
            if (detail != last_warning) {
                std::cerr << "imsp2p-client: warning: " << detail << " (retrying)\n";
                last_warning = detail;
            }
            retry_at = now + retry_delay;
            retry_delay = std::min(retry_delay * 2, std::chrono::seconds(60));
            continue;
        }
        if (first) {
            std::cerr << "imsp2p-client: operator seed box registered as " << client.settings().impu
                      << ", waiting for seed assignments\n";
        }
        first = false;
        last_warning.clear();
        retry_delay = std::chrono::seconds(1);
        if (!quiet && now >= next_status) {
            next_status = now + std::chrono::seconds(10);
            const auto status = client.status();
            std::uint64_t up = 0;
            int peers = 0;
            for (const auto& transfer : status.transfers) {
                up += transfer.uploaded_bytes;
                peers += transfer.peers;
            }
            std::size_t reported = 0;
            for (const auto& item : status.assignments) {
                reported += item.state == "reported" ? 1 : 0;
            }
            std::cerr << "imsp2p-client: seed box: " << status.assignments.size()
                      << " assignment(s), " << reported << " reported; seeding "
                      << status.transfers.size() << " torrent(s), " << peers
                      << " peer(s), uploaded " << human_bytes(static_cast<double>(up)) << "\n";
        }
    }
}

int run_networked(const std::string& command, const po::variables_map& args,
                  const std::vector<std::string>& words) {
    // Long-running commands take SIGTERM/SIGINT over (before any thread starts, so every
    // thread inherits the mask) to stop cleanly; the others just die on them.
    const bool daemon = command == "seed" || (command == "publish" && args.count("seed") != 0);
    sigset_t signals;
    sigemptyset(&signals);
    if (daemon) {
        signals = block_stop_signals();
    }
    const core::config config = load_config(args);
    if (!config.contains("/data_dir")) {
        std::cerr << "imsp2p-client: " << command
                  << " needs --data-dir (or data_dir in --config)\n";
        return 2;
    }
    const sip::client_settings settings = sip::client_settings::from_config(config);
    const core::logger log = make_logger(config);
    sip::ims_client client(settings, log);
    progress_display display(!args.count("no-progress"));
    const auto progress = [&](const sip::client_progress& value) { display(value); };
    std::error_code ec;
    std::string detail;

    if (command == "register") {
        const auto result = client.register_now(ec, &detail);
        if (ec) {
            return fail(ec, detail);
        }
        const auto status = client.status();
        std::cout << nlohmann::json{{"impu", settings.impu},
                                    {"status", result.status},
                                    {"reason", result.reason},
                                    {"contact", status.contact},
                                    {"one_pass", status.registered_in_one_pass}}
                         .dump(2)
                  << "\n";
        return 0;
    }
    if (command == "publish") {
        if (words.size() != 1) {
            std::cerr << "imsp2p-client: publish needs exactly one <file>\n";
            return 2;
        }
        sip::publish_metadata metadata;
        if (args.count("title")) {
            metadata.title = args["title"].as<std::string>();
        }
        if (args.count("description")) {
            metadata.description = args["description"].as<std::string>();
        }
        if (args.count("content-type")) {
            metadata.content_type = args["content-type"].as<std::string>();
        }
        if (args.count("genre")) {
            metadata.genre = args["genre"].as<std::string>();
        }
        if (args.count("series")) {
            metadata.series = args["series"].as<std::string>();
        }
        metadata.price.amount_minor = args["price"].as<std::int64_t>();
        metadata.price.currency = args["currency"].as<std::string>();
        if (args.count("doi")) {
            metadata.doi = core::doi::parse(args["doi"].as<std::string>(), ec);
            if (ec) {
                std::cerr << "imsp2p-client: --doi: " << ec.message() << "\n";
                return 2;
            }
        }
        const auto item = client.publish(words[0], metadata, ec, &detail, progress);
        display.finish();
        if (ec && item.doi.empty()) {
            return fail(ec, detail);
        }
        std::cout << item_json(item).dump(2) << "\n" << std::flush;
        if (ec) {
            return fail(ec, detail);  // published, but not seeding
        }
        if (args.count("seed")) {
            seed_until_stopped(client, signals, args.count("no-progress") != 0);
            client.save_resume_data();
        }
        return 0;
    }
    if (command == "acquire") {
        if (words.size() != 1) {
            std::cerr << "imsp2p-client: acquire needs exactly one <doi>\n";
            return 2;
        }
        const std::string request_id =
            args.count("request-id") ? args["request-id"].as<std::string>() : "";
        const auto item = client.acquire(words[0], ec, &detail, progress, request_id);
        display.finish();
        if (ec) {
            return fail(ec, detail);
        }
        std::cout << item_json(item).dump(2) << "\n";
        return 0;
    }
    if (command == "seed") {
        const std::size_t count = client.seed_all(ec, &detail);
        if (ec) {
            std::cerr << "imsp2p-client: warning: " << detail << "\n";
        }
        std::cerr << "imsp2p-client: seeding " << count << " torrent(s) on port "
                  << client.status().bittorrent_port << "\n";
        if (settings.operator_seed_box) {
            const int status =
                serve_seed_box_until_stopped(client, signals, args.count("no-progress") != 0);
            client.save_resume_data();
            return status;
        }
        seed_until_stopped(client, signals, args.count("no-progress") != 0);
        client.save_resume_data();
        return 0;
    }
    if (command == "play") {
        if (!args.count("out")) {
            std::cerr << "imsp2p-client: play <doi> needs --out <file|->\n";
            return 2;
        }
        const std::string out = args["out"].as<std::string>();
        std::uint64_t bytes = 0;
        if (out == "-") {
            bytes = client.play(words[0], std::cout, ec, &detail, progress);
        } else {
            std::ofstream file(out, std::ios::binary | std::ios::trunc);
            if (!file) {
                return fail(out + ": cannot write");
            }
            bytes = client.play(words[0], file, ec, &detail, progress);
            file.close();
            if (ec) {
                std::error_code ignored;
                std::filesystem::remove(out, ignored);
            }
        }
        display.finish();
        if (ec) {
            return fail(ec, detail);
        }
        std::cerr << "imsp2p-client: played " << words[0] << " (" << bytes << " bytes)\n";
        return 0;
    }
    if (command == "list") {
        const std::string query = words.empty() ? "" : words[0];
        const auto entries = client.list(query, ec, &detail);
        if (ec) {
            return fail(ec, detail);
        }
        for (const auto& entry : entries) {
            std::cout << entry.record.doi.str() << "\t" << entry.record.title << "\t"
                      << entry.record.price.amount_minor << " " << entry.record.price.currency
                      << "\t" << entry.purchase_uri << "\n";
        }
        return 0;
    }
    // status
    if (args.count("register")) {
        client.register_now(ec, &detail);
        if (ec) {
            std::cerr << "imsp2p-client: warning: " << detail << "\n";
        }
    }
    client.seed_all(ec, &detail);  // starts the swarm from its resume data: what is held
    const auto status = client.status();
    nlohmann::json json = {{"impu", status.impu},
                           {"registered", status.registered},
                           {"registrations", status.registrations},
                           {"contact", status.contact},
                           {"bittorrent_port", status.bittorrent_port},
                           {"transfers", nlohmann::json::array()},
                           {"published", nlohmann::json::array()},
                           {"acquired", nlohmann::json::array()},
                           {"assignments", nlohmann::json::array()}};
    for (const auto& transfer : status.transfers) {
        json["transfers"].push_back(transfer_json(transfer));
    }
    for (const auto& item : status.published) {
        json["published"].push_back(item_json(item));
    }
    for (const auto& item : status.acquired) {
        json["acquired"].push_back(item_json(item));
    }
    for (const auto& item : status.assignments) {
        json["assignments"].push_back(item_json(item));
    }
    std::cout << json.dump(2) << "\n";
    return 0;
}

}  // namespace

int imsp2p::sip::client_runner::run(const std::vector<std::string>& arguments) {
    if (arguments.empty()) {
        std::cerr << overview();
        return 2;
    }
    const std::string& command = arguments[0];
    if (command == "--help" || command == "-h" || command == "help") {
        std::cout << overview();
        return 0;
    }
    bool known = false;
    for (const auto& entry : commands) {
        known = known || entry.first == command;
    }
    if (!known) {
        std::cerr << "imsp2p-client: unknown command '" << command << "'\n" << overview();
        return 2;
    }
    po::options_description visible = command_options(command);
    if (command != "package") {
        visible.add(client_options());
    }
    po::options_description hidden;
    hidden.add_options()("words", po::value<std::vector<std::string>>(), "arguments");
    po::options_description all;
    all.add(visible).add(hidden);
    po::positional_options_description positional;
    positional.add("words", -1);
    po::variables_map args;
    try {
        po::store(po::command_line_parser(
                      std::vector<std::string>(arguments.begin() + 1, arguments.end()))
                      .options(all)
                      .positional(positional)
                      .run(),
                  args);
        po::notify(args);
    } catch (const po::error& error) {
        std::cerr << "imsp2p-client: " << error.what() << "\n"
                  << command_usage(command) << "\n"
                  << visible << "\n";
        return 2;
    }
    if (args.count("help")) {
        std::cout << command_usage(command) << "\n" << visible << "\n";
        return 0;
    }
    const std::vector<std::string> words = args.count("words")
                                               ? args["words"].as<std::vector<std::string>>()
                                               : std::vector<std::string>{};
    const std::size_t max_words = command == "list" || command == "package" ||
                                          command == "publish" || command == "acquire" ||
                                          command == "play"
                                      ? 1
                                      : 0;
    if (words.size() > max_words) {
        std::cerr << "imsp2p-client: " << command << ": unexpected argument '" << words[max_words]
                  << "'\n"
                  << command_usage(command);
        return 2;
    }
    try {
        if (command == "package") {
            return package(args, words);
        }
        if (command == "play") {
            if (words.size() != 1) {
                std::cerr << "imsp2p-client: play needs a <doi> or a <file.ipc>\n";
                return 2;
            }
            if (args.count("license")) {
                return play_licensed_file(args, words[0]);
            }
            if (args.count("key")) {
                return play_with_key_file(args, words[0]);
            }
        }
        return run_networked(command, args, words);
    } catch (const std::exception& error) {
        std::cerr << "imsp2p-client: " << error.what() << "\n";
        return 1;
    }
}
