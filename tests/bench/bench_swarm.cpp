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
// Then the operator seed box scenario (on a second content of the same size): the torrent is
// muted at the tracker; the publisher (plain seeding, no super seeding) and one operator seed box
// (an operator_seed ticket, upload cap u_box, as many upload slots as downloaders) join; the box
// copies the content from the publisher; the operator activates the torrent; N fresh downloaders
// fetch it (a) with the publisher still seeding, then N other fresh downloaders (b) with the
// publisher stopped. For each: the last completion (and its ratio to that phase's fluid bound, the
// seed box counted as a second source), the publisher's and the box's uploaded payload during the
// phase divided by F, and completion(b)/completion(a) (about 1: the publisher's upload no longer
// matters). These lines come before the main scenario's `origin_upload_ratio` line, which stays
// last.
//
// Environment (all optional): IMSP2P_BENCH_SWARM_MIB (plaintext size, default 32),
// IMSP2P_BENCH_SWARM_N (default 16), IMSP2P_BENCH_SWARM_US_KIB / _D_KIB / _UI_KIB (rates in
// KiB/s, defaults 2048 / 4096 / 2048), IMSP2P_BENCH_SWARM_LT ("name=value,..." libtorrent
// settings for every peer), IMSP2P_BENCH_SWARM_SEED_LT (extra ones for the publisher only),
// IMSP2P_BENCH_SWARM_SEEDING (the publisher's mode: "initial" = swarm_settings::initial_seeding,
// the default; "super" = libtorrent's super seeding; "plain"), IMSP2P_BENCH_SWARM_SUPER_SEED (older
// switch, used when IMSP2P_BENCH_SWARM_SEEDING is unset: 1 = "super", 0 = "plain"),
// IMSP2P_BENCH_SWARM_TRACE=1
// (a line of aggregate rates every second), IMSP2P_BENCH_SWARM_BOX_KIB (seed box upload cap in
// KiB/s, default 8192; 0 skips the seed box scenario).

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
#include <functional>
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

/** The rate caps and settings of a run. */
struct rates {
    int peers = 16;
    double u_s = 0;
    double d = 0;
    double u_i = 0;
    std::map<std::string, std::string> common;
};

/** One packaged content, registered with the tracker. */
struct content_item {
    drm::package_result package;
    core::byte_vector torrent;
    double size = 0;
};

content_item make_content(const fs::path& directory, const std::string& name, long plain_mib,
                          tracker::tracker_service& service, tracker::torrent_state state) {
    fs::create_directories(directory / name);
    const fs::path plain_path = directory / (name + "-plain.bin");
    {
        std::ofstream plain(plain_path, std::ios::binary);
        for (long i = 0; i < plain_mib; ++i) {
            const auto block = core::random_bytes(1024 * 1024);
            plain.write(reinterpret_cast<const char*>(block.data()),
                        static_cast<std::streamsize>(block.size()));
        }
    }
    content_item item;
    item.package = drm::package_file(plain_path, directory / name / "content.ipc",
                                     directory / (name + ".torrent"), drm::package_options{});
    std::ifstream torrent_in(item.package.torrent_path, std::ios::binary);
    item.torrent.assign(std::istreambuf_iterator<char>(torrent_in),
                        std::istreambuf_iterator<char>());
    item.size = static_cast<double>(item.package.container_size);
    const auto v1 = core::from_hex(item.package.infohash_v1);
    const auto v2 = core::from_hex(item.package.infohash_v2);
    service.register_torrent({std::string(v1.begin(), v1.end()), std::string(v2.begin(), v2.end()),
                              "10.5555/bench-" + name, state});
    return item;
}

/** What a wave of downloaders measured. */
struct wave_result {
    std::vector<double> times;  // completion times of those that completed, sorted
    std::optional<double> first_payload;
    double downloaded = 0;
    double uploaded = 0;
};

/**
 * Adds N fresh downloaders at one instant and polls until all complete (at most 600 s).
 * `tick` runs about every second when tracing.
 */
wave_result run_wave(
    const fs::path& directory, const std::string& label, const rates& rate,
    const content_item& item, const std::string& id, const std::function<std::string(int)>& url_for,
    const core::logger& log,
    const std::function<void(double, const std::vector<std::unique_ptr<sip::swarm>>&)>& tick) {
    std::vector<std::unique_ptr<sip::swarm>> downloaders;
    for (int i = 0; i < rate.peers; ++i) {
        sip::swarm_settings settings;
        settings.state_dir = directory / (label + "-state-" + std::to_string(i));
        settings.upload_rate_limit = static_cast<int>(rate.u_i);
        settings.download_rate_limit = static_cast<int>(rate.d);
        settings.libtorrent_settings = rate.common;
        downloaders.push_back(std::make_unique<sip::swarm>(settings, log));
    }
    std::vector<std::string> urls;
    for (int i = 0; i < rate.peers; ++i) {
        urls.push_back(url_for(i + 1));
    }
    const auto start = clock_type::now();
    for (int i = 0; i < rate.peers; ++i) {
        downloaders[static_cast<std::size_t>(i)]->add(
            item.torrent, directory / (label + "-peer-" + std::to_string(i)),
            urls[static_cast<std::size_t>(i)]);
    }
    wave_result result;
    std::vector<std::optional<double>> finished(static_cast<std::size_t>(rate.peers));
    int remaining = rate.peers;
    const auto give_up = start + std::chrono::seconds(600);
    auto next_tick = start + 1s;
    while (remaining > 0 && clock_type::now() < give_up) {
        const double now = std::chrono::duration<double>(clock_type::now() - start).count();
        if (tick && clock_type::now() >= next_tick) {
            next_tick += 1s;
            tick(now, downloaders);
        }
        for (int i = 0; i < rate.peers; ++i) {
            auto& slot = finished[static_cast<std::size_t>(i)];
            const auto progress = downloaders[static_cast<std::size_t>(i)]->progress(id);
            if (!result.first_payload && progress->done_bytes > 0) {
                result.first_payload = now;
            }
            if (!slot && progress->complete) {
                slot = now;
                --remaining;
            }
        }
        std::this_thread::sleep_for(20ms);
    }
    for (const auto& downloader : downloaders) {
        const auto progress = downloader->progress(id);
        result.downloaded += static_cast<double>(progress->downloaded_bytes);
        result.uploaded += static_cast<double>(progress->uploaded_bytes);
    }
    downloaders.clear();
    for (const auto& slot : finished) {
        if (slot) {
            result.times.push_back(*slot);
        }
    }
    std::sort(result.times.begin(), result.times.end());
    return result;
}

double uploaded(const sip::swarm& swarm, const std::string& id) {
    return static_cast<double>(swarm.progress(id)->uploaded_bytes);
}

int run() {
    const long plain_mib = env_number("IMSP2P_BENCH_SWARM_MIB", 32);
    rates rate;
    rate.peers = static_cast<int>(env_number("IMSP2P_BENCH_SWARM_N", 16));
    rate.u_s = static_cast<double>(env_number("IMSP2P_BENCH_SWARM_US_KIB", 2048)) * 1024;
    rate.d = static_cast<double>(env_number("IMSP2P_BENCH_SWARM_D_KIB", 4096)) * 1024;
    rate.u_i = static_cast<double>(env_number("IMSP2P_BENCH_SWARM_UI_KIB", 2048)) * 1024;
    rate.common = env_settings("IMSP2P_BENCH_SWARM_LT");
    const double u_box = static_cast<double>(env_number("IMSP2P_BENCH_SWARM_BOX_KIB", 8192)) * 1024;
    const int peers = rate.peers;
    const double u_s = rate.u_s;
    const double d = rate.d;
    const double u_i = rate.u_i;
    const auto& common = rate.common;
    auto seed_only = common;
    for (const auto& [name, value] : env_settings("IMSP2P_BENCH_SWARM_SEED_LT")) {
        seed_only[name] = value;
    }

    const fs::path directory =
        fs::temp_directory_path() / ("imsp2p-bench-swarm-" + core::to_hex(core::random_bytes(6)));
    fs::create_directories(directory);

    // The tracker, trusting a test AS key.
    core::ticket_issuer issuer{core::ed25519_private_key::generate(), "as-bench",
                               "sip:as.ims.example"};
    tracker::tracker_settings tracker_config;
    tracker_config.as_keys.keys.push_back(issuer.public_jwk());
    auto service = tracker::tracker_service::open(tracker_config);
    const content_item main_content =
        make_content(directory, "publisher", plain_mib, *service, tracker::torrent_state::active);
    const auto& package = main_content.package;
    const auto& torrent = main_content.torrent;
    const double content = main_content.size;
    tracker::server_settings http;
    http.port = 0;
    auto log = core::logger("bench.swarm");
    log.set_level(core::log_level::error);
    tracker::tracker_server server(*service, http, log);
    server.start();
    std::thread server_thread([&server] { server.run(); });

    const auto announce_url = [&](const content_item& item, core::ticket_role role, int peer) {
        core::ticket_claims claims;
        claims.subject = "sip:peer" + std::to_string(peer) + "@ims.example";
        claims.audience = "tracker";
        claims.issued_at =
            std::chrono::time_point_cast<std::chrono::seconds>(std::chrono::system_clock::now());
        claims.expires_at = claims.issued_at + 1h;
        claims.role = role;
        claims.infohashes = {item.package.infohash_v1, item.package.infohash_v2.substr(0, 40)};
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
    std::string seeding_mode = "initial";
    if (const char* mode = std::getenv("IMSP2P_BENCH_SWARM_SEEDING"); mode != nullptr && *mode) {
        seeding_mode = mode;
    } else if (const char* old = std::getenv("IMSP2P_BENCH_SWARM_SUPER_SEED");
               old != nullptr && *old) {
        seeding_mode = env_number("IMSP2P_BENCH_SWARM_SUPER_SEED", 1) != 0 ? "super" : "plain";
    }
    if (seeding_mode != "initial" && seeding_mode != "super" && seeding_mode != "plain") {
        std::fprintf(stderr, "IMSP2P_BENCH_SWARM_SEEDING: expected initial, super or plain\n");
        return 1;
    }
    publisher_settings.initial_seeding = seeding_mode == "initial";
    publisher_settings.super_seeding = seeding_mode == "super";
    auto publisher = std::make_unique<sip::swarm>(publisher_settings, log);
    const std::string id = publisher->add(torrent, directory / "publisher",
                                          announce_url(main_content, core::ticket_role::seed, 0));
    std::error_code ec;
    if (!publisher->wait_complete(id, 120s, {}, ec)) {
        std::fprintf(stderr, "publisher did not get ready: %s\n", ec.message().c_str());
        return 1;
    }

    const bool trace = env_number("IMSP2P_BENCH_SWARM_TRACE", 0) != 0;
    const auto tracer = [&](sip::swarm* origin, const std::string& traced_id, double size) {
        return [origin, traced_id, size, peers](
                   double now, const std::vector<std::unique_ptr<sip::swarm>>& downloaders) {
            double done = 0;
            double rate_sum = 0;
            double peer_count = 0;
            for (const auto& downloader : downloaders) {
                const auto progress = downloader->progress(traced_id);
                done += static_cast<double>(progress->done_bytes);
                rate_sum += progress->download_rate;
                peer_count += progress->peers;
            }
            const auto source = origin != nullptr ? origin->progress(traced_id) : std::nullopt;
            std::printf(
                "t=%5.1f s origin up %.2f MiB/s (%d peers) | downloaders: %.1f%% done, "
                "down %.2f MiB/s total, %.1f peers each\n",
                now, source ? mib(source->upload_rate) : 0.0, source ? source->peers : 0,
                100 * done / (size * peers), mib(rate_sum), peer_count / peers);
        };
    };

    const wave_result main_wave = run_wave(
        directory, "main", rate, main_content, id,
        [&](int peer) { return announce_url(main_content, core::ticket_role::leech, peer); }, log,
        trace ? tracer(publisher.get(), id, content)
              : std::function<void(double, const std::vector<std::unique_ptr<sip::swarm>>&)>{});
    const double publisher_uploaded = uploaded(*publisher, id);
    const auto publisher_final = publisher->progress(id);
    const double peers_downloaded = main_wave.downloaded;
    const double peers_uploaded = main_wave.uploaded;
    const auto& times = main_wave.times;
    publisher.reset();

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
    std::printf("publisher seeding mode: %s", seeding_mode.c_str());
    if (publisher_settings.initial_seeding) {
        std::printf(" (%llu requests refused, %llu pieces suggested, %llu of %llu pieces given)",
                    static_cast<unsigned long long>(publisher_final->initial_seeding_rejects),
                    static_cast<unsigned long long>(publisher_final->initial_seeding_suggestions),
                    static_cast<unsigned long long>(publisher_final->initial_seeding_pieces_given),
                    static_cast<unsigned long long>(package.piece_count));
    }
    std::printf("\n");
    std::printf("fluid bound T* = max(F/u_s %.2f s, F/d %.2f s, N*F/(u_s+N*u_i) %.2f s) = %.2f s\n",
                content / u_s, content / d, n * content / (u_s + n * u_i), bound);
    if (times.size() != static_cast<std::size_t>(peers)) {
        std::printf("only %zu of %d downloaders completed within 600 s\n", times.size(), peers);
    }
    if (!times.empty()) {
        std::printf("completion: first %.2f s, median %.2f s, last %.2f s\n", times.front(),
                    times[times.size() / 2], times.back());
        std::printf("completion_to_bound: %.3f\n", times.back() / bound);
        if (main_wave.first_payload) {
            std::printf(
                "first verified piece at %.2f s; last completion after it %.2f s "
                "(%.3f of the bound)\n",
                *main_wave.first_payload, times.back() - *main_wave.first_payload,
                (times.back() - *main_wave.first_payload) / bound);
        }
    }
    std::printf("downloaders: downloaded %.2f MiB (%.3f F each), uploaded %.2f MiB\n",
                mib(peers_downloaded), peers_downloaded / content / n, mib(peers_uploaded));
    std::printf("publisher uploaded: %.2f MiB (HTTP from the origin: %d F)\n",
                mib(publisher_uploaded), peers);
    bool all_complete = times.size() == static_cast<std::size_t>(peers);

    if (u_box > 0) {
        // The operator seed box scenario, on a second content registered muted.
        const content_item boxed = make_content(directory, "box-publisher", plain_mib, *service,
                                                tracker::torrent_state::muted);
        const double size = boxed.size;
        sip::swarm_settings second_settings = publisher_settings;
        second_settings.state_dir = directory / "state-box-publisher";
        // Plain seeding: the box is the publisher's only peer, and a super seed serves a lone
        // peer at a fraction of its upload (about 100 s instead of 16 s for this copy).
        second_settings.super_seeding = false;
        second_settings.initial_seeding = false;
        auto second = std::make_unique<sip::swarm>(second_settings, log);
        const std::string box_id = second->add(boxed.torrent, directory / "box-publisher",
                                               announce_url(boxed, core::ticket_role::seed, 100));
        if (!second->wait_complete(box_id, 120s, {}, ec)) {
            std::fprintf(stderr, "seed box publisher did not get ready: %s\n",
                         ec.message().c_str());
            return 1;
        }
        sip::swarm_settings box_settings;
        box_settings.state_dir = directory / "state-seed-box";
        box_settings.upload_rate_limit = static_cast<int>(u_box);
        box_settings.upload_slots = peers;
        box_settings.libtorrent_settings = common;
        sip::swarm seed_box(box_settings, log);
        const auto copy_start = clock_type::now();
        seed_box.add(boxed.torrent, directory / "seed-box",
                     announce_url(boxed, core::ticket_role::operator_seed, 101));
        if (!seed_box.wait_complete(box_id, 600s, {}, ec)) {
            std::fprintf(stderr, "the seed box did not copy the content: %s\n",
                         ec.message().c_str());
            return 1;
        }
        const double copy_time =
            std::chrono::duration<double>(clock_type::now() - copy_start).count();
        const double copy_uploaded = uploaded(*second, box_id);
        const auto v1 = core::from_hex(boxed.package.infohash_v1);
        service->set_state(std::string(v1.begin(), v1.end()), tracker::torrent_state::active);

        const auto leech_url = [&](const std::string& phase) {
            return [&, phase](int peer) {
                return announce_url(boxed, core::ticket_role::leech,
                                    (phase == "a" ? 200 : 300) + peer);
            };
        };
        double publisher_before = uploaded(*second, box_id);
        double box_before = uploaded(seed_box, box_id);
        const wave_result with_publisher = run_wave(
            directory, "box-a", rate, boxed, box_id, leech_url("a"), log,
            trace ? tracer(&seed_box, box_id, size)
                  : std::function<void(double, const std::vector<std::unique_ptr<sip::swarm>>&)>{});
        const double a_publisher = uploaded(*second, box_id) - publisher_before;
        const double a_box = uploaded(seed_box, box_id) - box_before;
        second.reset();  // the publisher stops
        box_before = uploaded(seed_box, box_id);
        const wave_result without_publisher = run_wave(
            directory, "box-b", rate, boxed, box_id, leech_url("b"), log,
            trace ? tracer(&seed_box, box_id, size)
                  : std::function<void(double, const std::vector<std::unique_ptr<sip::swarm>>&)>{});
        const double b_box = uploaded(seed_box, box_id) - box_before;

        const double bound_a =
            std::max({size / (u_s + u_box), size / d, n * size / (u_s + u_box + n * u_i)});
        const double bound_b = std::max({size / u_box, size / d, n * size / (u_box + n * u_i)});
        std::printf(
            "seed box: upload cap u_box %.2f MiB/s, %d upload slots; torrent muted until "
            "the box held a full copy\n",
            mib(u_box), peers);
        std::printf("seed box copy: %.2f s, publisher uploaded %.3f F during it\n", copy_time,
                    copy_uploaded / size);
        const auto report = [&](const char* name, const wave_result& wave, double bound_x,
                                double publisher_share, double box_share) {
            if (wave.times.size() != static_cast<std::size_t>(peers)) {
                std::printf("seed box %s: only %zu of %d downloaders completed within 600 s\n",
                            name, wave.times.size(), peers);
                all_complete = false;
            }
            if (wave.times.empty()) {
                return;
            }
            std::printf(
                "seed box %s: last completion %.2f s (bound %.2f s, %.3f of it), first "
                "piece at %.2f s; publisher uploaded %.3f F, seed box uploaded %.3f F\n",
                name, wave.times.back(), bound_x, wave.times.back() / bound_x,
                wave.first_payload.value_or(0), publisher_share / size, box_share / size);
        };
        report("(a) publisher seeding", with_publisher, bound_a, a_publisher, a_box);
        report("(b) publisher stopped", without_publisher, bound_b, 0, b_box);
        if (!with_publisher.times.empty() && !without_publisher.times.empty()) {
            std::printf("seed_box_completion_b_over_a: %.3f\n",
                        without_publisher.times.back() / with_publisher.times.back());
        }
    }
    std::printf("origin_upload_ratio: %.3f\n", publisher_uploaded / content);

    server.stop();
    server_thread.join();
    std::error_code ignored;
    fs::remove_all(directory, ignored);
    return all_complete ? 0 : 1;
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
