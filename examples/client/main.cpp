// imsp2p-client: the IMS/P2P client. This slice packages content (container, private torrent,
// key file) and plays a container with its content key file; the logic lives in libimsp2p-drm.

#include <imsp2p/core/encoding.hpp>
#include <imsp2p/drm/container.hpp>
#include <imsp2p/drm/packager.hpp>

#include <boost/program_options.hpp>

#include <nlohmann/json.hpp>

#include <chrono>
#include <filesystem>
#include <iostream>
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
    "  imsp2p-client play <file.ipc> --key <key file> --out <file|->\n"
    "      decrypts the container (- writes to stdout)\n\nOptions";

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

int play(const po::variables_map& args) {
    if (!args.count("key") || !args.count("out")) {
        std::cerr << "imsp2p-client: play needs --key <key file> and --out <file|->\n";
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
        "key,k", po::value<std::string>(), "play: content key file")(
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
