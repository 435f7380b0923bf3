// bench_swarm: origin offload and completion time of one publisher and N downloaders on
// loopback, each a sip::swarm (its own libtorrent session) in this process, through the
// in-process imsp2p tracker with real tickets.
//
// Every peer has its own rate caps (session limits, applied to loopback peers too): the
// publisher uploads at u_s, each downloader downloads at most d and uploads at most u_i. The
// content is a random file packaged with libimsp2p-drm (private v1+v2 hybrid torrent) of F
// bytes (the .ipc container). All downloaders are added at the same instant t0.
//
// Prints F, N, u_s, d, u_i, the fluid lower bound of the last completion
// T* = max(F/u_s, F/d, N*F/(u_s + N*u_i)), the measured completion of the first, median and last
// downloader, the ratio last/T*, the publisher's uploaded payload divided by F (HTTP from the
// origin would be N), and last `origin_upload_ratio: X`. Not a timed test.
//
// Environment (all optional): IMSP2P_BENCH_SWARM_MIB (plaintext size, default 32),
// IMSP2P_BENCH_SWARM_N (default 16), IMSP2P_BENCH_SWARM_US_KIB / _D_KIB / _UI_KIB (rates in
// KiB/s, defaults 2048 / 4096 / 2048), IMSP2P_BENCH_SWARM_LT ("name=value,..." libtorrent
// settings for every peer), IMSP2P_BENCH_SWARM_SEED_LT (extra ones for the publisher only),
// IMSP2P_BENCH_SWARM_SUPER_SEED (publisher super seeding, default 1), IMSP2P_BENCH_SWARM_TRACE=1
// (a line of aggregate rates every second).

#include <imsp2p/core/crypto.hpp>
#include <imsp2p/core/encoding.hpp>
#include <imsp2p/core/log.hpp>
#include <imsp2p/core/ticket.hpp>
#include <imsp2p/drm/packager.hpp>
#include <imsp2p/sip/swarm.hpp>
#include <imsp2p/tracker/tracker_server.hpp>
#include <imsp2p/tracker/tracker_service.hpp>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <exception>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <map>
#include <memory>
#include <optional>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

namespace core = imsp2p::core;
namespace drm = imsp2p::drm;
namespace sip = imsp2p::sip;
namespace tracker = imsp2p::tracker;
namespace fs = std::filesystem;
using namespace std::chrono_literals;

namespace {

using clock_type = std::chrono::steady_clock;

long env_number(const char* name, long fallback) {
    const char* text = std::getenv(name);
    return text != nullptr && *text != '\0' ? std::strtol(text, nullptr, 10) : fallback;
}

std::map<std::string, std::string> env_settings(const char* name) {
    std::map<std::string, std::string> result;
    const char* text = std::getenv(name);
    if (text == nullptr) {
        return result;
    }
    std::stringstream list(text);
    std::string item;
    while (std::getline(list, item, ',')) {
        const auto equals = item.find('=');
        if (equals != std::string::npos) {
            result[item.substr(0, equals)] = item.substr(equals + 1);
        }
    }
    return result;
}

std::string describe(const std::map<std::string, std::string>& settings) {
    std::string text;
    for (const auto& [name, value] : settings) {
        text += (text.empty() ? "" : ",") + name + "=" + value;
    }
    return text.empty() ? "(swarm defaults)" : text;
}

double mib(double bytes) {
    return bytes / (1024.0 * 1024.0);
}

int run() {
    const long plain_mib = env_number("IMSP2P_BENCH_SWARM_MIB", 32);
    const int peers = static_cast<int>(env_number("IMSP2P_BENCH_SWARM_N", 16));
    const double u_s = static_cast<double>(env_number("IMSP2P_BENCH_SWARM_US_KIB", 2048)) * 1024;
    const double d = static_cast<double>(env_number("IMSP2P_BENCH_SWARM_D_KIB", 4096)) * 1024;
    const double u_i = static_cast<double>(env_number("IMSP2P_BENCH_SWARM_UI_KIB", 2048)) * 1024;
    const auto common = env_settings("IMSP2P_BENCH_SWARM_LT");
    auto seed_only = common;
    for (const auto& [name, value] : env_settings("IMSP2P_BENCH_SWARM_SEED_LT")) {
        seed_only[name] = value;
    }

    const fs::path directory =
        fs::temp_directory_path() / ("imsp2p-bench-swarm-" + core::to_hex(core::random_bytes(6)));
    fs::create_directories(directory / "publisher");
    {
        std::ofstream plain(directory / "plain.bin", std::ios::binary);
        for (long i = 0; i < plain_mib; ++i) {
            const auto block = core::random_bytes(1024 * 1024);
            plain.write(reinterpret_cast<const char*>(block.data()),
                        static_cast<std::streamsize>(block.size()));
        }
    }
    const drm::package_result package =
        drm::package_file(directory / "plain.bin", directory / "publisher" / "content.ipc",
                          directory / "content.torrent", drm::package_options{});
    std::ifstream torrent_in(package.torrent_path, std::ios::binary);
    const core::byte_vector torrent{std::istreambuf_iterator<char>(torrent_in),
                                    std::istreambuf_iterator<char>()};
    const double content = static_cast<double>(package.container_size);

    // The tracker, trusting a test AS key.
    core::ticket_issuer issuer{core::ed25519_private_key::generate(), "as-bench",
                               "sip:as.ims.example"};
    tracker::tracker_settings tracker_config;
    tracker_config.as_keys.keys.push_back(issuer.public_jwk());
    auto service = tracker::tracker_service::open(tracker_config);
    const auto v1 = core::from_hex(package.infohash_v1);
    const auto v2 = core::from_hex(package.infohash_v2);
    service->register_torrent({std::string(v1.begin(), v1.end()), std::string(v2.begin(), v2.end()),
                               "10.5555/bench", tracker::torrent_state::active});
    tracker::server_settings http;
    http.port = 0;
    auto log = core::logger("bench.swarm");
    log.set_level(core::log_level::error);
    tracker::tracker_server server(*service, http, log);
    server.start();
    std::thread server_thread([&server] { server.run(); });

    const auto announce_url = [&](core::ticket_role role, int peer) {
        core::ticket_claims claims;
        claims.subject = "sip:peer" + std::to_string(peer) + "@ims.example";
        claims.audience = "tracker";
        claims.issued_at =
            std::chrono::time_point_cast<std::chrono::seconds>(std::chrono::system_clock::now());
        claims.expires_at = claims.issued_at + 1h;
        claims.role = role;
        claims.infohashes = {package.infohash_v1, package.infohash_v2.substr(0, 40)};
        return "http://127.0.0.1:" + std::to_string(server.port()) + "/announce/" +
               issuer.issue(claims);
    };

    sip::swarm_settings publisher_settings;
    publisher_settings.state_dir = directory / "state-publisher";
    publisher_settings.upload_rate_limit = static_cast<int>(u_s);
    publisher_settings.libtorrent_settings = seed_only;
    // One upload slot per downloader: with super seeding each peer holds at most two revealed
    // pieces, so the origin needs many peers unchoked at once to use its upload.
    publisher_settings.upload_slots = peers;
    publisher_settings.super_seeding = env_number("IMSP2P_BENCH_SWARM_SUPER_SEED", 1) != 0;
    auto publisher = std::make_unique<sip::swarm>(publisher_settings, log);
    const std::string id =
        publisher->add(torrent, directory / "publisher", announce_url(core::ticket_role::seed, 0));
    std::error_code ec;
    if (!publisher->wait_complete(id, 120s, {}, ec)) {
        std::fprintf(stderr, "publisher did not get ready: %s\n", ec.message().c_str());
        return 1;
    }

    std::vector<std::unique_ptr<sip::swarm>> downloaders;
    for (int i = 0; i < peers; ++i) {
        sip::swarm_settings settings;
        settings.state_dir = directory / ("state-" + std::to_string(i));
        settings.upload_rate_limit = static_cast<int>(u_i);
        settings.download_rate_limit = static_cast<int>(d);
        settings.libtorrent_settings = common;
        downloaders.push_back(std::make_unique<sip::swarm>(settings, log));
    }
    std::vector<std::string> urls;
    for (int i = 0; i < peers; ++i) {
        urls.push_back(announce_url(core::ticket_role::leech, i + 1));
    }

    const auto start = clock_type::now();
    for (int i = 0; i < peers; ++i) {
        downloaders[static_cast<std::size_t>(i)]->add(
            torrent, directory / ("peer-" + std::to_string(i)), urls[static_cast<std::size_t>(i)]);
    }
    std::vector<std::optional<double>> finished(static_cast<std::size_t>(peers));
    int remaining = peers;
    const auto give_up = start + std::chrono::seconds(600);
    std::optional<double> first_payload;  // when any downloader first held a verified piece
    const bool trace = env_number("IMSP2P_BENCH_SWARM_TRACE", 0) != 0;
    auto next_trace = start + 1s;
    while (remaining > 0 && clock_type::now() < give_up) {
        if (trace && clock_type::now() >= next_trace) {
            next_trace += 1s;
            const auto origin = publisher->progress(id);
            double done = 0;
            double rate = 0;
            double peer_count = 0;
            for (const auto& downloader : downloaders) {
                const auto progress = downloader->progress(id);
                done += static_cast<double>(progress->done_bytes);
                rate += progress->download_rate;
                peer_count += progress->peers;
            }
            std::printf(
                "t=%5.1f s origin up %.2f MiB/s (%d peers) | downloaders: %.1f%% done, "
                "down %.2f MiB/s total, %.1f peers each\n",
                std::chrono::duration<double>(clock_type::now() - start).count(),
                mib(origin->upload_rate), origin->peers, 100 * done / (content * peers), mib(rate),
                peer_count / peers);
        }
        for (int i = 0; i < peers; ++i) {
            auto& slot = finished[static_cast<std::size_t>(i)];
            const auto progress = downloaders[static_cast<std::size_t>(i)]->progress(id);
            if (!first_payload && progress->done_bytes > 0) {
                first_payload = std::chrono::duration<double>(clock_type::now() - start).count();
            }
            if (!slot && progress->complete) {
                slot = std::chrono::duration<double>(clock_type::now() - start).count();
                --remaining;
            }
        }
        std::this_thread::sleep_for(20ms);
    }
    const double publisher_uploaded = static_cast<double>(publisher->progress(id)->uploaded_bytes);
    double peers_downloaded = 0;
    double peers_uploaded = 0;
    for (const auto& downloader : downloaders) {
        const auto progress = downloader->progress(id);
        peers_downloaded += static_cast<double>(progress->downloaded_bytes);
        peers_uploaded += static_cast<double>(progress->uploaded_bytes);
    }
    downloaders.clear();

    std::vector<double> times;
    for (const auto& slot : finished) {
        if (slot) {
            times.push_back(*slot);
        }
    }
    std::sort(times.begin(), times.end());
    const double n = peers;
    const double bound = std::max({content / u_s, content / d, n * content / (u_s + n * u_i)});
    std::printf("F (container): %.0f bytes = %.2f MiB, piece size %u KiB, %llu pieces\n", content,
                mib(content), package.piece_size / 1024,
                static_cast<unsigned long long>(package.piece_count));
    std::printf("N downloaders: %d\n", peers);
    std::printf("u_s (publisher upload): %.2f MiB/s\n", mib(u_s));
    std::printf("d (downloader download cap): %.2f MiB/s\n", mib(d));
    std::printf("u_i (downloader upload cap): %.2f MiB/s\n", mib(u_i));
    std::printf("libtorrent settings: all %s; publisher %s, %d upload slots, super seeding %s\n",
                describe(common).c_str(), describe(seed_only).c_str(), peers,
                publisher_settings.super_seeding ? "on" : "off");
    std::printf("fluid bound T* = max(F/u_s %.2f s, F/d %.2f s, N*F/(u_s+N*u_i) %.2f s) = %.2f s\n",
                content / u_s, content / d, n * content / (u_s + n * u_i), bound);
    if (times.size() != static_cast<std::size_t>(peers)) {
        std::printf("only %zu of %d downloaders completed within 600 s\n", times.size(), peers);
    }
    if (!times.empty()) {
        std::printf("completion: first %.2f s, median %.2f s, last %.2f s\n", times.front(),
                    times[times.size() / 2], times.back());
        std::printf("completion_to_bound: %.3f\n", times.back() / bound);
        if (first_payload) {
            // Informative only: libtorrent 2.0's super seeding reveals nothing during the
            // handshake, so peers idle until its 10 s re-offer; this isolates that start-up.
            std::printf(
                "first verified piece at %.2f s; last completion after it %.2f s "
                "(%.3f of the bound)\n",
                *first_payload, times.back() - *first_payload,
                (times.back() - *first_payload) / bound);
        }
    }
    std::printf("downloaders: downloaded %.2f MiB (%.3f F each), uploaded %.2f MiB\n",
                mib(peers_downloaded), peers_downloaded / content / n, mib(peers_uploaded));
    std::printf("publisher uploaded: %.2f MiB (HTTP from the origin: %d F)\n",
                mib(publisher_uploaded), peers);
    std::printf("origin_upload_ratio: %.3f\n", publisher_uploaded / content);

    publisher.reset();
    server.stop();
    server_thread.join();
    std::error_code ignored;
    fs::remove_all(directory, ignored);
    return times.size() == static_cast<std::size_t>(peers) ? 0 : 1;
}

}  // namespace

int main() {
    try {
        return run();
    } catch (const std::exception& error) {
        std::fprintf(stderr, "bench_swarm: %s\n", error.what());
        return 1;
    }
}
