// Interop: independent BitTorrent clients through the imsp2p tracker on loopback. A libtorrent
// seeder (in-process) seeds a private v1+v2 torrent of a packaged .ipc through the in-process
// HTTP tracker; transmission-cli and aria2c (real processes, DHT/LPD/PEX off, loopback only)
// download it with a leech ticket in the .torrent's announce URL and the bytes are compared to
// the source. Neither transmission 3.00 ("Error parsing .torrent file") nor aria2 1.36 (it
// announces a wrong v1 infohash) handles the v1+v2 hybrid torrent that drm::package_file
// writes, so they get a v1-only private torrent of the same .ipc, registered and seeded too. The
// same clients with no ticket, a ticket for another torrent and an expired ticket are refused by
// the tracker (its refusal counter and failure reasons are checked) and never complete. Disabling
// the torrent through the admin API refuses the very next announce. libtorrent also talks to the
// UDP tracker (BEP 15) with the ticket in BEP 41 URL data.

#include "imsp2p_test/child_process.hpp"

#include <imsp2p/tracker/bencode.hpp>
#include <imsp2p/tracker/tracker_server.hpp>
#include <imsp2p/tracker/tracker_service.hpp>
#include <imsp2p/tracker/udp_tracker_server.hpp>

#include <imsp2p/core/crypto.hpp>
#include <imsp2p/core/encoding.hpp>
#include <imsp2p/core/log.hpp>
#include <imsp2p/core/ticket.hpp>
#include <imsp2p/drm/packager.hpp>

#include <libtorrent/add_torrent_params.hpp>
#include <libtorrent/alert_types.hpp>
#include <libtorrent/create_torrent.hpp>
#include <libtorrent/session.hpp>
#include <libtorrent/settings_pack.hpp>
#include <libtorrent/torrent_handle.hpp>
#include <libtorrent/torrent_info.hpp>
#include <libtorrent/torrent_status.hpp>

#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/read.hpp>
#include <boost/asio/write.hpp>

#include <gtest/gtest.h>

#include <arpa/inet.h>
#include <fcntl.h>
#include <ifaddrs.h>
#include <netinet/in.h>
#include <signal.h>
#include <unistd.h>

#include <chrono>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <functional>
#include <iterator>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

extern char** environ;

namespace tracker = imsp2p::tracker;
namespace core = imsp2p::core;
namespace drm = imsp2p::drm;
namespace fs = std::filesystem;
namespace net = boost::asio;
using namespace std::chrono_literals;

namespace {

std::string read_file(const fs::path& path) {
    std::ifstream in(path, std::ios::binary);
    return {std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
}

void write_file(const fs::path& path, const std::string& bytes) {
    std::ofstream(path, std::ios::binary) << bytes;
}

using imsp2p_test::child_process;

/** A free TCP port on loopback (bound then released). */
std::uint16_t free_port() {
    net::io_context io;
    net::ip::tcp::acceptor acceptor(io, {net::ip::make_address("127.0.0.1"), 0});
    return acceptor.local_endpoint().port();
}

/** One blocking HTTP/1.0 exchange; returns the raw response. */
std::string http_exchange(std::uint16_t port, const std::string& request) {
    net::io_context io;
    net::ip::tcp::socket socket(io);
    socket.connect({net::ip::make_address("127.0.0.1"), port});
    net::write(socket, net::buffer(request));
    std::string response;
    boost::system::error_code ec;
    net::read(socket, net::dynamic_buffer(response), ec);
    return response;
}

/** The first IPv4 address of this host that is not loopback, or "". */
std::string non_loopback_ipv4() {
    ifaddrs* list = nullptr;
    if (::getifaddrs(&list) != 0) {
        return {};
    }
    std::string out;
    for (const ifaddrs* entry = list; entry != nullptr && out.empty(); entry = entry->ifa_next) {
        if (entry->ifa_addr == nullptr || entry->ifa_addr->sa_family != AF_INET) {
            continue;
        }
        sockaddr_in address{};
        std::memcpy(&address, entry->ifa_addr, sizeof address);
        char text[INET_ADDRSTRLEN] = {};
        ::inet_ntop(AF_INET, &address.sin_addr, text, sizeof text);
        if (std::string(text).rfind("127.", 0) != 0) {
            out = text;
        }
    }
    ::freeifaddrs(list);
    return out;
}

lt::settings_pack session_settings(const std::string& address = "127.0.0.1") {
    lt::settings_pack pack;
    pack.set_str(lt::settings_pack::listen_interfaces, address + ":0");
    pack.set_bool(lt::settings_pack::enable_dht, false);
    pack.set_bool(lt::settings_pack::enable_lsd, false);
    pack.set_bool(lt::settings_pack::enable_upnp, false);
    pack.set_bool(lt::settings_pack::enable_natpmp, false);
    pack.set_bool(lt::settings_pack::ssrf_mitigation, false);
    pack.set_bool(lt::settings_pack::allow_multiple_connections_per_ip, true);
    pack.set_int(lt::settings_pack::alert_mask,
                 static_cast<int>(lt::alert_category::status | lt::alert_category::error |
                                  lt::alert_category::tracker));
    return pack;
}

class TrackerClients : public ::testing::Test {
  protected:
    void SetUp() override {
        directory_ = fs::temp_directory_path() /
                     ("imsp2p-tracker-clients-" + core::to_hex(core::random_bytes(6)));
        fs::create_directories(directory_ / "seed");
        const auto payload = core::random_bytes(700 * 1024 + 123);
        write_file(directory_ / "movie.mp4", core::to_string(payload));
        drm::package_options options;
        options.content_type = "video/mp4";
        const auto packaged =
            drm::package_file(directory_ / "movie.mp4", directory_ / "seed" / "movie.ipc",
                              directory_ / "movie.torrent", options);
        source_ = read_file(packaged.container_path);
        torrent_ = read_file(packaged.torrent_path);
        v1_hex_ = packaged.infohash_v1;
        v2_hex_ = packaged.infohash_v2;
        std::error_code ec;
        v1_ = core::to_string(core::from_hex(v1_hex_, ec));
        v2_ = core::to_string(core::from_hex(v2_hex_, ec));

        // The v1-only private torrent of the same container, for v1-only clients.
        lt::file_storage files;
        lt::add_files(files, packaged.container_path.string());
        lt::create_torrent creator(files, static_cast<int>(packaged.piece_size),
                                   lt::create_torrent::v1_only);
        creator.set_priv(true);
        lt::set_piece_hashes(creator, (directory_ / "seed").string());
        std::vector<char> legacy;
        lt::bencode(std::back_inserter(legacy), creator.generate());
        legacy_torrent_.assign(legacy.begin(), legacy.end());
        legacy_info_ = std::make_shared<lt::torrent_info>(legacy, lt::from_span);
        legacy_.assign(legacy_info_->info_hashes().v1.data(), 20);
        legacy_hex_ = core::to_hex(core::as_bytes(legacy_));

        auto sink = std::make_shared<core::callback_sink>([this](const core::log_record& record) {
            if (record.message != "announce refused") {
                return;
            }
            for (const auto& field : record.fields) {
                if (field.key == "reason") {
                    std::lock_guard lock(mutex_);
                    reasons_.push_back(field.value.get<std::string>());
                }
            }
        });
        core::jwk_set keys;
        keys.keys.push_back(issuer_.public_jwk());
        tracker::tracker_settings settings;
        settings.as_keys = keys;
        settings.announce_interval = 60s;
        settings.min_announce_interval = 5s;
        service_ = tracker::tracker_service::open(settings);
        service_->register_torrent({v1_, v2_, "10.5555/clients", tracker::torrent_state::active});
        service_->register_torrent(
            {legacy_, {}, "10.5555/clients", tracker::torrent_state::active});
        tracker::server_settings http;
        http.port = 0;
        http_ = std::make_unique<tracker::tracker_server>(io_, *service_, http,
                                                          core::logger("tracker.http", sink));
        http_->start();
        tracker::udp_server_settings udp;
        udp.port = 0;
        udp_ = std::make_unique<tracker::udp_tracker_server>(io_, *service_, udp,
                                                             core::logger("tracker.udp", sink));
        udp_->start();
        // The libtorrent seeder, announced before any client starts.
        seeder_session_ = std::make_unique<lt::session>(session_settings());
        lt::add_torrent_params params;
        params.ti = std::make_shared<lt::torrent_info>(torrent_, lt::from_span);
        params.save_path = (directory_ / "seed").string();
        params.trackers = {
            http_url(ticket({v1_hex_, v2_hex_, legacy_hex_}, core::ticket_role::seed))};
        params.flags |= lt::torrent_flags::seed_mode;
        seeder_ = seeder_session_->add_torrent(params);
        // transmission 3.00 never connects to loopback peers (127/8 is a "martian" address to
        // it), so the v1-only torrent is seeded on a local non-loopback address when the host
        // has one, announced to a second listener of the same tracker on that address.
        public_ip_ = non_loopback_ipv4();
        params.ti = legacy_info_;
        if (!public_ip_.empty()) {
            tracker::server_settings public_http;
            public_http.bind_address = public_ip_;
            public_http.port = 0;
            public_http_ = std::make_unique<tracker::tracker_server>(
                io_, *service_, public_http, core::logger("tracker.http.public", sink));
            public_http_->start();
            legacy_session_ = std::make_unique<lt::session>(session_settings(public_ip_));
            params.trackers = {"http://" + public_ip_ + ":" + std::to_string(public_http_->port()) +
                               "/announce/" + ticket({legacy_hex_}, core::ticket_role::seed)};
            legacy_seeder_ = legacy_session_->add_torrent(params);
        } else {
            legacy_seeder_ = seeder_session_->add_torrent(params);
        }
        thread_ = std::thread([this] { io_.run(); });
        const auto deadline = std::chrono::steady_clock::now() + 20s;
        while ((stats().seeders == 0 || stats(legacy_).seeders == 0) &&
               std::chrono::steady_clock::now() < deadline) {
            std::this_thread::sleep_for(50ms);
        }
        ASSERT_EQ(stats().seeders, 1u) << "the libtorrent seeder did not announce";
        ASSERT_EQ(stats(legacy_).seeders, 1u) << "the libtorrent seeder did not announce";
    }

    void TearDown() override {
        seeder_session_.reset();
        legacy_session_.reset();
        if (public_http_) {
            public_http_->stop();
        }
        http_->stop();
        udp_->stop();
        thread_.join();
        http_.reset();
        public_http_.reset();
        udp_.reset();
        if (std::getenv("IMSP2P_KEEP_TEST_DIR") == nullptr) {
            std::error_code ignored;
            fs::remove_all(directory_, ignored);
        }
    }

    tracker::torrent_stats stats(const std::string& hash = {}) {
        return service_->stats(hash.empty() ? v1_ : hash, std::chrono::system_clock::now())
            .value_or(tracker::torrent_stats{});
    }

    std::uint64_t refusals() { return service_->totals(std::chrono::system_clock::now()).refusals; }

    std::vector<std::string> reasons() {
        std::lock_guard lock(mutex_);
        return reasons_;
    }

    std::string ticket(
        const std::vector<std::string>& hashes_hex, core::ticket_role role,
        std::chrono::system_clock::time_point issued = std::chrono::system_clock::now(),
        const std::string& subject = "sip:consumer@ims.example") {
        core::ticket_claims claims;
        claims.subject = subject;
        claims.audience = "tracker";
        claims.issued_at = std::chrono::time_point_cast<std::chrono::seconds>(issued);
        claims.expires_at = claims.issued_at + 1h;
        claims.role = role;
        claims.infohashes = hashes_hex;
        return issuer_.issue(claims);
    }

    std::string http_url(const std::string& ticket_text) {
        return "http://127.0.0.1:" + std::to_string(http_->port()) + "/announce" +
               (ticket_text.empty() ? "" : "/" + ticket_text);
    }

    /** Writes the v1-only torrent with `announce` as its only tracker. */
    fs::path torrent_with(const std::string& announce, const std::string& name) {
        tracker::bencode_value value = tracker::bdecode(legacy_torrent_);
        auto& dict = std::get<tracker::bencode_dict>(value.data);
        dict.erase("announce-list");
        dict.insert_or_assign("announce", tracker::bencode_value(announce));
        const fs::path path = directory_ / (name + ".torrent");
        write_file(path, tracker::bencode(value));
        return path;
    }

    std::unique_ptr<child_process> transmission(const fs::path& torrent, const std::string& name) {
        const fs::path config = directory_ / (name + "-config");
        const fs::path downloads = directory_ / name;
        fs::create_directories(config);
        fs::create_directories(downloads);
        const std::uint16_t port = free_port();
        write_file(config / "settings.json",
                   "{\"dht-enabled\": false, \"lpd-enabled\": false, \"pex-enabled\": false,"
                   " \"utp-enabled\": false, \"port-forwarding-enabled\": false,"
                   " \"rpc-enabled\": false,"
                   " \"rename-partial-files\": true, \"message-level\": 3, "
                   "\"incomplete-dir-enabled\": false,"
                   " \"peer-port\": " +
                       std::to_string(port) + ", \"download-dir\": \"" + downloads.string() +
                       "\"}");
        return std::make_unique<child_process>(
            std::vector<std::string>{"transmission-cli", "-g", config.string(), "-w",
                                     downloads.string(), "-M", "-p", std::to_string(port), "-D",
                                     "-U", torrent.string()},
            directory_ / (name + ".log"));
    }

    std::unique_ptr<child_process> aria2(const fs::path& torrent, const std::string& name) {
        const fs::path downloads = directory_ / name;
        fs::create_directories(downloads);
        const std::uint16_t port = free_port();
        return std::make_unique<child_process>(
            std::vector<std::string>{
                "aria2c", "--dir=" + downloads.string(), "--enable-dht=false",
                "--enable-dht6=false", "--bt-enable-lpd=false", "--enable-peer-exchange=false",
                "--disable-ipv6=true", "--seed-time=0", "--listen-port=" + std::to_string(port),
                "--bt-tracker-connect-timeout=5", "--bt-tracker-timeout=5",
                "--file-allocation=none", "--summary-interval=0", "--console-log-level=warn",
                "--no-conf=true", "--follow-torrent=false", torrent.string()},
            directory_ / (name + ".log"));
    }

    /** Waits until `file` holds exactly the source bytes (bounded). */
    bool wait_for_content(const fs::path& file, std::chrono::seconds limit) {
        const auto deadline = std::chrono::steady_clock::now() + limit;
        while (std::chrono::steady_clock::now() < deadline) {
            std::error_code ec;
            if (fs::exists(file, ec) && fs::file_size(file, ec) == source_.size() &&
                read_file(file) == source_) {
                return true;
            }
            std::this_thread::sleep_for(100ms);
        }
        return false;
    }

    core::ticket_issuer issuer_{core::ed25519_private_key::generate(), "as-clients",
                                "sip:as.ims.example"};
    fs::path directory_;
    std::string source_;
    std::string torrent_;
    std::string v1_hex_;
    std::string v2_hex_;
    std::string v1_;
    std::string v2_;
    std::string legacy_torrent_;
    std::shared_ptr<lt::torrent_info> legacy_info_;
    std::string legacy_;
    std::string legacy_hex_;
    std::mutex mutex_;
    std::vector<std::string> reasons_;
    net::io_context io_;
    std::unique_ptr<tracker::tracker_service> service_;
    std::unique_ptr<tracker::tracker_server> http_;
    std::unique_ptr<tracker::udp_tracker_server> udp_;
    std::thread thread_;
    std::unique_ptr<tracker::tracker_server> public_http_;
    std::string public_ip_;
    std::unique_ptr<lt::session> legacy_session_;
    std::unique_ptr<lt::session> seeder_session_;
    lt::torrent_handle seeder_;
    lt::torrent_handle legacy_seeder_;
};

}  // namespace

TEST_F(TrackerClients, TransmissionAndAria2DownloadWithALeechTicket) {
    const auto leech_url = [&](const char* who) {
        return http_url(ticket({legacy_hex_}, core::ticket_role::leech,
                               std::chrono::system_clock::now(),
                               std::string("sip:") + who + "@ims.example"));
    };
    if (public_ip_.empty()) {
        GTEST_SKIP() << "no non-loopback IPv4 address: transmission ignores loopback peers";
    }
    const auto transmission_client =
        transmission(torrent_with(leech_url("transmission"), "transmission"), "transmission");
    const auto aria2_client = aria2(torrent_with(leech_url("aria2"), "aria2"), "aria2");
    ASSERT_TRUE(transmission_client->running());
    ASSERT_TRUE(aria2_client->running());

    EXPECT_TRUE(wait_for_content(directory_ / "aria2" / "movie.ipc", 40s))
        << read_file(directory_ / "aria2.log");
    // aria2c exits by itself after completion (--seed-time=0), verified by piece hashes.
    EXPECT_EQ(aria2_client->wait(10s), 0) << read_file(directory_ / "aria2.log");
    EXPECT_TRUE(wait_for_content(directory_ / "transmission" / "movie.ipc", 40s))
        << read_file(directory_ / "transmission.log");
    // transmission announces "completed" (aria2c with --seed-time=0 only "stopped").
    const auto deadline = std::chrono::steady_clock::now() + 10s;
    while (stats(legacy_).completed == 0 && std::chrono::steady_clock::now() < deadline) {
        std::this_thread::sleep_for(100ms);
    }
    EXPECT_GE(stats(legacy_).completed, 1u);
    transmission_client->stop(3s);  // it would keep seeding
    EXPECT_TRUE(reasons().empty()) << reasons().front();
}

TEST_F(TrackerClients, ClientsWithoutAValidTicketAreRefusedAndGetNoPeers) {
    const std::uint64_t before = refusals();
    const std::vector<std::pair<std::string, std::string>> cases = {
        {http_url(""), "missing ticket"},
        {http_url(ticket({std::string(40, 'e')}, core::ticket_role::leech)),
         "ticket rejected: it does not cover this torrent"},
        {http_url(ticket({legacy_hex_}, core::ticket_role::leech,
                         std::chrono::system_clock::now() - 3h)),
         "ticket rejected"},
    };
    std::vector<std::unique_ptr<child_process>> clients;
    for (std::size_t i = 0; i < cases.size(); ++i) {
        const std::string name = "refused" + std::to_string(i);
        clients.push_back(transmission(torrent_with(cases[i].first, name + "-t"), name + "-t"));
        clients.push_back(aria2(torrent_with(cases[i].first, name + "-a"), name + "-a"));
    }
    // Every client announces at least once and is refused (bounded wait, not a timing claim).
    const auto deadline = std::chrono::steady_clock::now() + 15s;
    while (refusals() < before + clients.size() && std::chrono::steady_clock::now() < deadline) {
        std::this_thread::sleep_for(100ms);
    }
    EXPECT_GE(refusals(), before + clients.size());
    std::this_thread::sleep_for(1s);  // would a peer connection have happened, it has started
    for (auto& client : clients) {
        client->stop(3s);
    }
    const auto seen = reasons();
    for (const auto& [url, expected] : cases) {
        std::size_t matches = 0;
        for (const auto& reason : seen) {
            matches += reason.find(expected) != std::string::npos ? 1 : 0;
        }
        EXPECT_GE(matches, 2u) << expected;
    }
    for (std::size_t i = 0; i < cases.size(); ++i) {
        for (const char* suffix : {"-t", "-a"}) {
            const fs::path file =
                directory_ / ("refused" + std::to_string(i) + suffix) / "movie.ipc";
            std::error_code ec;
            EXPECT_FALSE(fs::exists(file, ec) && read_file(file) == source_) << file;
        }
    }
    // Nobody but the seeder was ever admitted, and the seeder uploaded nothing.
    EXPECT_EQ(stats(legacy_).leechers, 0u);
    EXPECT_EQ(legacy_seeder_.status().num_peers, 0);
}

TEST_F(TrackerClients, DisablingThroughTheAdminApiRefusesTheNextAnnounce) {
    const std::string leech = ticket({legacy_hex_}, core::ticket_role::leech);
    const std::string service_token = ticket({}, core::ticket_role::service);
    std::string escaped_hash;
    for (const char c : legacy_) {
        static constexpr char digits[] = "0123456789ABCDEF";
        escaped_hash += '%';
        escaped_hash += digits[static_cast<unsigned char>(c) >> 4U];
        escaped_hash += digits[static_cast<unsigned char>(c) & 15U];
    }
    const std::string announce = "GET /announce/" + leech + "?info_hash=" + escaped_hash +
                                 "&peer_id=-XX0001-abcdefghijkl&port=7000&left=5 HTTP/1.0\r\n\r\n";
    EXPECT_NE(http_exchange(http_->port(), announce).find("8:completei1e"), std::string::npos);

    const std::string body = "{\"state\":\"disabled\"}";
    const std::string patch =
        "PATCH /admin/torrents/" + legacy_hex_ + " HTTP/1.0\r\nAuthorization: Bearer " +
        service_token +
        "\r\nContent-Type: application/json\r\nContent-Length: " + std::to_string(body.size()) +
        "\r\n\r\n" + body;
    const std::string changed = http_exchange(http_->port(), patch);
    ASSERT_EQ(changed.rfind("HTTP/1.0 200", 0), 0u) << changed;
    EXPECT_NE(http_exchange(http_->port(), announce)
                  .find("failure reason41:torrent has been disabled by the operator"),
              std::string::npos);
    EXPECT_EQ(stats(legacy_).seeders + stats(legacy_).leechers, 0u);  // the swarm was dropped

    // A real client is refused too.
    const auto client = aria2(torrent_with(http_url(leech), "after-disable"), "after-disable");
    const auto deadline = std::chrono::steady_clock::now() + 10s;
    const auto has_disabled_refusal = [&] {
        for (const auto& reason : reasons()) {
            if (reason == "torrent has been disabled by the operator") {
                return true;
            }
        }
        return false;
    };
    while (!has_disabled_refusal() && std::chrono::steady_clock::now() < deadline) {
        std::this_thread::sleep_for(100ms);
    }
    EXPECT_TRUE(has_disabled_refusal());
}

// libtorrent 2.0.8 does speak BEP 15 + BEP 41 to the UDP tracker, but it sends a single URL data
// option and cuts the URL at 255 bytes (udp_tracker_connection.cpp: std::min(size, 255)), while
// an AS ticket is a JWT of about 500 characters: the ticket never arrives whole. This test pins
// that down: the exchange works (connect, announce, error response), the tracker refuses the cut
// ticket with a reason that says so, and libtorrent reports a tracker error.
TEST_F(TrackerClients, LibtorrentUdpAnnouncesArriveWithTheTicketCutAt255Bytes) {
    lt::session session(session_settings());
    const std::string leech = ticket({v1_hex_, v2_hex_}, core::ticket_role::leech,
                                     std::chrono::system_clock::now(), "sip:udp@ims.example");
    ASSERT_GT(leech.size() + 10, 255u);
    lt::add_torrent_params params;
    params.ti = std::make_shared<lt::torrent_info>(torrent_, lt::from_span);
    params.save_path = (directory_ / "udp").string();
    params.trackers = {"udp://127.0.0.1:" + std::to_string(udp_->port()) + "/announce/" + leech};
    const lt::torrent_handle handle = session.add_torrent(params);
    bool tracker_error = false;
    bool tracker_reply = false;
    const auto deadline = std::chrono::steady_clock::now() + 20s;
    while (!tracker_error && !tracker_reply && std::chrono::steady_clock::now() < deadline) {
        session.wait_for_alert(500ms);
        std::vector<lt::alert*> alerts;
        session.pop_alerts(&alerts);
        for (lt::alert* alert : alerts) {
            tracker_error = tracker_error || lt::alert_cast<lt::tracker_error_alert>(alert);
            tracker_reply = tracker_reply || lt::alert_cast<lt::tracker_reply_alert>(alert);
        }
    }
    EXPECT_TRUE(tracker_error);
    EXPECT_FALSE(tracker_reply);
    const auto counters = udp_->counters();
    EXPECT_GE(counters.connects, 1u);
    EXPECT_GE(counters.announces, 1u);
    EXPECT_EQ(counters.bad_connection_ids, 0u);
    bool explained = false;
    for (const auto& reason : reasons()) {
        explained =
            explained || reason ==
                             "ticket rejected: ticket is not a well-formed JWT (the URL data is "
                             "exactly 255 bytes: the client probably truncated the ticket)";
    }
    EXPECT_TRUE(explained);
    EXPECT_EQ(handle.status().num_peers, 0);
    EXPECT_EQ(stats().leechers, 0u);
}
