// imsp2p-client: the IMS/P2P client. This slice packages content (container, private torrent,
// key file) and plays a container with a license bound to the device key (or, publisher side,
// with its content key file); the logic lives in libimsp2p-drm.

#include <imsp2p/core/encoding.hpp>
#include <imsp2p/core/jose.hpp>
#include <imsp2p/core/key_file.hpp>
#include <imsp2p/drm/container.hpp>
#include <imsp2p/drm/packager.hpp>
#include <imsp2p/drm/player.hpp>

#include <boost/program_options.hpp>

#include <nlohmann/json.hpp>

#include <chrono>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <iterator>
#include <string>
#include <vector>

namespace core = imsp2p::core;
namespace drm = imsp2p::drm;
namespace po = boost::program_options;

namespace {

const char* const usage =
    "Usage:\n"
    "  imsp2p-client package <file> --out <dir> [options]\n"
    "      writes <dir>/<stem>.ipc, <dir>/<stem>.torrent and <dir>/<stem>.key.json (0600)\n"
    "      and prints the metadata as JSON on stdout\n"
    "  imsp2p-client play <file.ipc> --license <file> --device-key <file> --drm-jwks <file>\n"
    "                     --out <file|-> [--usage-db <path>] [--doi <doi>]\n"
    "      verifies the license (bound to the device key, created 0600 on first use), enforces\n"
    "      its rights in the usage store (default: usage.db next to the device key) and\n"
    "      decrypts the container (- writes to stdout); one run is one play\n"
    "  imsp2p-client play <file.ipc> --key <key file> --out <file|->\n"
    "      publisher-side check: decrypts the container with its content key file\n"
    "  exit status: 0 played, 1 refused or failed (the reason on stderr), 2 usage error\n\nOptions";

/** Progress lines on stderr, at most one per second. */
drm::progress_callback progress_printer(const std::string& what) {
    auto last = std::make_shared<std::chrono::steady_clock::time_point>();
    return [what, last](std::uint64_t done, std::uint64_t total) {
        const auto now = std::chrono::steady_clock::now();
        if (done != total && now - *last < std::chrono::seconds(1))
            return;
        *last = now;
        const double percent =
            total == 0 ? 100.0 : 100.0 * static_cast<double>(done) / static_cast<double>(total);
        std::cerr << "imsp2p-client: " << what << " " << done << "/" << total << " bytes ("
                  << static_cast<int>(percent) << "%)\n";
    };
}

int package(const po::variables_map& args) {
    if (!args.count("out")) {
        std::cerr << "imsp2p-client: package needs --out <dir>\n";
        return 2;
    }
    const std::filesystem::path input = args["input"].as<std::string>();
    const std::filesystem::path out_dir = args["out"].as<std::string>();
    std::error_code ec;
    std::filesystem::create_directories(out_dir, ec);
    const std::string stem =
        input.stem().empty() ? input.filename().string() : input.stem().string();
    drm::package_options options;
    options.segment_size = args["segment-size"].as<std::uint32_t>();
    options.content_type = args["content-type"].as<std::string>();
    options.threads = args["threads"].as<unsigned>();
    if (args.count("web-seed"))
        options.torrent.web_seed_url = args["web-seed"].as<std::string>();
    if (args.count("tracker"))
        options.torrent.trackers = args["tracker"].as<std::vector<std::string>>();
    options.progress = progress_printer("packaged");
    const drm::package_result result = drm::package_file(
        input, out_dir / (stem + ".ipc"), out_dir / (stem + ".torrent"), options, ec);
    if (ec) {
        std::cerr << "imsp2p-client: " << input.string() << ": " << ec.message() << "\n";
        return 1;
    }
    const std::filesystem::path key_path = out_dir / (stem + ".key.json");
    drm::write_content_key_file(key_path, {result.kid, result.cek}, ec);
    if (ec) {
        std::cerr << "imsp2p-client: " << key_path.string() << ": " << ec.message() << "\n";
        return 1;
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

std::string read_text_file(const std::filesystem::path& path, std::error_code& ec) {
    ec.clear();
    std::ifstream stream(path, std::ios::binary);
    if (!stream) {
        ec = std::make_error_code(std::errc::no_such_file_or_directory);
        return {};
    }
    std::string text{std::istreambuf_iterator<char>(stream), {}};
    if (stream.bad())
        ec = std::make_error_code(std::errc::io_error);
    return text;
}

/** Trims ASCII whitespace (a license file usually ends with a newline). */
std::string trimmed(const std::string& text) {
    const auto first = text.find_first_not_of(" \t\r\n");
    if (first == std::string::npos)
        return {};
    return text.substr(first, text.find_last_not_of(" \t\r\n") - first + 1);
}

/** play with a license: verify, enforce the rights, decrypt. */
int play_licensed(const po::variables_map& args) {
    for (const char* required : {"device-key", "drm-jwks", "out"}) {
        if (!args.count(required)) {
            std::cerr << "imsp2p-client: play --license needs --device-key <file>, --drm-jwks "
                         "<file> and --out <file|->\n";
            return 2;
        }
    }
    const std::filesystem::path input = args["input"].as<std::string>();
    const std::filesystem::path device_path = args["device-key"].as<std::string>();
    const std::string license_path = args["license"].as<std::string>();
    const std::string jwks_path = args["drm-jwks"].as<std::string>();
    std::error_code ec;
    const std::string license = trimmed(read_text_file(license_path, ec));
    if (ec) {
        std::cerr << "imsp2p-client: " << license_path << ": " << ec.message() << "\n";
        return 1;
    }
    const std::string jwks_text = read_text_file(jwks_path, ec);
    drm::player_settings settings;
    if (!ec)
        settings.drm_keys = core::jwk_set::parse(jwks_text, ec);
    if (ec) {
        std::cerr << "imsp2p-client: " << jwks_path << ": " << ec.message() << "\n";
        return 1;
    }
    const core::jwk device =
        core::load_or_create_private_key(device_path, core::jwk_curve::x25519, ec);
    if (!ec)
        settings.device_key = device.x25519_private(ec);
    if (ec) {
        std::cerr << "imsp2p-client: " << device_path.string() << ": " << ec.message() << "\n";
        return 1;
    }
    settings.usage_store_path = args.count("usage-db")
                                    ? std::filesystem::path(args["usage-db"].as<std::string>())
                                    : device_path.parent_path() / "usage.db";
    drm::player player = drm::player::create(std::move(settings), ec);
    if (ec) {
        std::cerr << "imsp2p-client: usage store: " << ec.message() << "\n";
        return 1;
    }
    const std::string expected_doi = args.count("doi") ? args["doi"].as<std::string>() : "";
    drm::playback playback =
        player.open(input, license, std::chrono::system_clock::now(), ec, expected_doi);
    if (ec) {
        std::cerr << "imsp2p-client: " << input.string() << ": refused: " << ec.message() << " ("
                  << ec.category().name() << " " << ec.value() << ")\n";
        return 1;
    }
    const drm::usage_record& record = playback.usage();
    const auto& rights = playback.license().rights;
    std::cerr << "imsp2p-client: playing " << playback.license().doi << " (play "
              << record.play_count;
    if (rights.play_count)
        std::cerr << " of " << *rights.play_count;
    std::cerr << ")\n";
    const std::string out = args["out"].as<std::string>();
    if (out == "-")
        playback.decrypt_to(std::cout, ec);
    else
        playback.decrypt_to_file(out, ec, progress_printer("decrypted"));
    if (ec) {
        std::cerr << "imsp2p-client: " << input.string() << ": " << ec.message() << "\n";
        return 1;
    }
    return 0;
}

int play(const po::variables_map& args) {
    if (args.count("license"))
        return play_licensed(args);
    if (!args.count("key") || !args.count("out")) {
        std::cerr << "imsp2p-client: play needs --license <file> (or, publisher side, --key <key "
                     "file>) and --out <file|->\n";
        return 2;
    }
    const std::filesystem::path input = args["input"].as<std::string>();
    std::error_code ec;
    const drm::content_key key = drm::read_content_key_file(args["key"].as<std::string>(), ec);
    if (ec) {
        std::cerr << "imsp2p-client: " << args["key"].as<std::string>() << ": " << ec.message()
                  << "\n";
        return 1;
    }
    drm::container_reader reader = drm::container_reader::open(input, ec);
    if (!ec)
        reader.set_key(key.cek, &key.kid, ec);
    if (!ec) {
        const std::string out = args["out"].as<std::string>();
        if (out == "-")
            reader.decrypt_to(std::cout, ec);
        else
            reader.decrypt_to_file(out, ec, progress_printer("decrypted"));
    }
    if (ec) {
        std::cerr << "imsp2p-client: " << input.string() << ": " << ec.message() << "\n";
        return 1;
    }
    return 0;
}

}  // namespace

int main(int argc, char** argv) {
    po::options_description options(usage);
    options.add_options()("help,h", "show this help")("out,o", po::value<std::string>(),
                                                      "package: output folder; play: output file")(
        "key,k", po::value<std::string>(), "play: content key file (publisher-side check)")(
        "license,l", po::value<std::string>(), "play: license file (compact JWS)")(
        "device-key", po::value<std::string>(),
        "play: device X25519 private JWK file (created 0600 on first use)")(
        "drm-jwks", po::value<std::string>(), "play: the DRM server's JWK Set (pinned copy)")(
        "usage-db", po::value<std::string>(),
        "play: usage store (default: usage.db next to the device key)")(
        "doi", po::value<std::string>(), "play: the DOI the license must be for")(
        "segment-size", po::value<std::uint32_t>()->default_value(drm::default_segment_size),
        "package: segment size, a power of two 16384..4194304")(
        "content-type", po::value<std::string>()->default_value("application/octet-stream"),
        "package: content type stored in the metadata")("web-seed", po::value<std::string>(),
                                                        "package: BEP 19 web seed URL of the .ipc")(
        "tracker", po::value<std::vector<std::string>>(), "package: announce URL (repeatable)")(
        "threads", po::value<unsigned>()->default_value(2), "package: 1 or 2 threads");
    po::options_description hidden;
    hidden.add_options()("command", po::value<std::string>())("input", po::value<std::string>());
    po::options_description all;
    all.add(options).add(hidden);
    po::positional_options_description positional;
    positional.add("command", 1).add("input", 1);
    po::variables_map args;
    try {
        po::store(po::command_line_parser(argc, argv).options(all).positional(positional).run(),
                  args);
        po::notify(args);
    } catch (const po::error& error) {
        std::cerr << "imsp2p-client: " << error.what() << "\n" << options << "\n";
        return 2;
    }
    if (args.count("help")) {
        std::cout << options << "\n";
        return 0;
    }
    if (!args.count("command") || !args.count("input")) {
        std::cerr << "imsp2p-client: a command and a file are required\n" << options << "\n";
        return 2;
    }
    const std::string command = args["command"].as<std::string>();
    try {
        if (command == "package")
            return package(args);
        if (command == "play")
            return play(args);
    } catch (const std::exception& error) {
        std::cerr << "imsp2p-client: " << error.what() << "\n";
        return 1;
    }
    std::cerr << "imsp2p-client: unknown command '" << command << "'\n" << options << "\n";
    return 2;
}
