// Interop: a libtorrent seeder and a libtorrent leecher, each with its own AS ticket in the
// announce URL, exchange a small private (BEP 27) v1+v2 hybrid torrent through the imsp2p
// tracker on loopback; libtorrent peers with a ticket for another torrent, no ticket or an
// expired ticket are refused with a failure reason and get no peers.

#include <imsp2p/tracker/tracker_server.hpp>
#include <imsp2p/tracker/tracker_service.hpp>

#include <imsp2p/core/crypto.hpp>
#include <imsp2p/core/encoding.hpp>
#include <imsp2p/core/ticket.hpp>

#include <libtorrent/add_torrent_params.hpp>
#include <libtorrent/alert_types.hpp>
#include <libtorrent/create_torrent.hpp>
#include <libtorrent/session.hpp>
#include <libtorrent/settings_pack.hpp>
#include <libtorrent/torrent_handle.hpp>
#include <libtorrent/torrent_info.hpp>
#include <libtorrent/torrent_status.hpp>

#include <gtest/gtest.h>

#include <chrono>
#include <filesystem>
#include <fstream>
#include <functional>
#include <iterator>
#include <memory>
#include <string>
#include <thread>
#include <vector>

namespace tracker = imsp2p::tracker;
namespace core = imsp2p::core;
namespace fs = std::filesystem;
using namespace std::chrono_literals;

namespace {

lt::settings_pack session_settings() {
    lt::settings_pack pack;
    pack.set_str(lt::settings_pack::listen_interfaces, "127.0.0.1:0");
    pack.set_bool(lt::settings_pack::enable_dht, false);
    pack.set_bool(lt::settings_pack::enable_lsd, false);
    pack.set_bool(lt::settings_pack::enable_upnp, false);
    pack.set_bool(lt::settings_pack::enable_natpmp, false);
    // The tracker is on loopback with the ticket in the path, which SSRF mitigation forbids.
    pack.set_bool(lt::settings_pack::ssrf_mitigation, false);
    pack.set_bool(lt::settings_pack::allow_multiple_connections_per_ip, true);
    pack.set_int(lt::settings_pack::alert_mask,
                 static_cast<int>(lt::alert_category::status | lt::alert_category::error |
                                  lt::alert_category::tracker));
    return pack;
}

// Waits (bounded, as a failure guard rather than a timing assertion) until `done` is true,
// calling `on_alert` for every alert of the session.
bool wait_until(lt::session& session, const std::function<bool()>& done,
                const std::function<void(lt::alert*)>& on_alert = {}) {
    const auto deadline = std::chrono::steady_clock::now() + 120s;
    while (!done()) {
        if (std::chrono::steady_clock::now() > deadline) {
            return false;
        }
        session.wait_for_alert(500ms);
        std::vector<lt::alert*> alerts;
        session.pop_alerts(&alerts);
        for (lt::alert* alert : alerts) {
            if (on_alert) {
                on_alert(alert);
            }
        }
    }
    return true;
}

class TrackerLibtorrent : public ::testing::Test {
  protected:
    void SetUp() override {
        directory_ = fs::temp_directory_path() /
                     ("imsp2p-tracker-lt-" + core::to_hex(core::random_bytes(6)));
        fs::create_directories(directory_ / "seed");
        fs::create_directories(directory_ / "leech");
        fs::create_directories(directory_ / "intruder");
        const auto payload = core::random_bytes(300 * 1024);
        std::ofstream(directory_ / "seed" / "content.ipc", std::ios::binary)
            .write(reinterpret_cast<const char*>(payload.data()),
                   static_cast<std::streamsize>(payload.size()));

        lt::file_storage files;
        lt::add_files(files, (directory_ / "seed" / "content.ipc").string());
        lt::create_torrent creator(files, 32 * 1024);
        creator.set_priv(true);
        lt::set_piece_hashes(creator, (directory_ / "seed").string());
        std::vector<char> buffer;
        lt::bencode(std::back_inserter(buffer), creator.generate());
        info_ = std::make_shared<lt::torrent_info>(buffer, lt::from_span);
        const lt::info_hash_t hashes = info_->info_hashes();
        v1_.assign(hashes.v1.data(), 20);
        v2_.assign(hashes.v2.data(), 32);

        tracker::tracker_settings settings;
        core::jwk_set keys;
        keys.keys.push_back(issuer_.public_jwk());
        settings.as_keys = keys;
        service_ = tracker::tracker_service::open(settings);
        service_->register_torrent({v1_, v2_, "10.5555/interop", tracker::torrent_state::active});
        tracker::server_settings http;
        http.port = 0;
        server_ = std::make_unique<tracker::tracker_server>(*service_, http,
                                                            core::logger("tracker.interop"));
        server_->start();
        thread_ = std::thread([this] { server_->run(); });
    }

    void TearDown() override {
        server_->stop();
        thread_.join();
        server_.reset();
        std::error_code ignored;
        fs::remove_all(directory_, ignored);
    }

    std::string announce_url(
        const std::vector<std::string>& hashes, core::ticket_role role,
        std::chrono::system_clock::time_point issued = std::chrono::system_clock::now()) {
        core::ticket_claims claims;
        claims.subject = "sip:peer@ims.example";
        claims.audience = "tracker";
        claims.issued_at = std::chrono::time_point_cast<std::chrono::seconds>(issued);
        claims.expires_at = claims.issued_at + 1h;
        claims.role = role;
        for (const auto& hash : hashes) {
            claims.infohashes.push_back(core::to_hex(core::as_bytes(hash)));
        }
        return "http://127.0.0.1:" + std::to_string(server_->port()) + "/announce/" +
               issuer_.issue(claims);
    }

    lt::torrent_handle add(lt::session& session, const std::string& url, const char* folder,
                           bool seed) {
        lt::add_torrent_params params;
        params.ti = info_;
        params.save_path = (directory_ / folder).string();
        params.trackers = {url};
        if (seed) {
            params.flags |= lt::torrent_flags::seed_mode;
        }
        return session.add_torrent(params);
    }

    core::ticket_issuer issuer_{core::ed25519_private_key::generate(), "as-interop",
                                "sip:as.ims.example"};
    fs::path directory_;
    std::shared_ptr<lt::torrent_info> info_;
    std::string v1_;
    std::string v2_;
    std::unique_ptr<tracker::tracker_service> service_;
    std::unique_ptr<tracker::tracker_server> server_;
    std::thread thread_;
};

}  // namespace

TEST_F(TrackerLibtorrent, TicketedPeersExchangeAPrivateTorrentAndOthersGetNoPeers) {
    lt::session seeder_session(session_settings());
    const lt::torrent_handle seeder =
        add(seeder_session, announce_url({v1_, v2_}, core::ticket_role::seed), "seed", true);
    bool seeder_announced = false;
    ASSERT_TRUE(wait_until(
        seeder_session, [&] { return seeder_announced; },
        [&](lt::alert* alert) {
            if (const auto* error = lt::alert_cast<lt::tracker_error_alert>(alert)) {
                ADD_FAILURE() << "seeder refused: " << error->failure_reason() << " "
                              << error->message();
            }
            if (lt::alert_cast<lt::tracker_reply_alert>(alert) != nullptr) {
                seeder_announced = true;
            }
        }));

    lt::session leecher_session(session_settings());
    const lt::torrent_handle leecher =
        add(leecher_session, announce_url({v1_, v2_}, core::ticket_role::leech), "leech", false);
    ASSERT_TRUE(wait_until(leecher_session, [&] { return leecher.status().is_seeding; }))
        << "the leecher did not complete the download";
    const auto downloaded = directory_ / "leech" / "content.ipc";
    ASSERT_TRUE(fs::exists(downloaded));
    EXPECT_EQ(fs::file_size(downloaded), fs::file_size(directory_ / "seed" / "content.ipc"));

    // Peers with a ticket for another torrent, with no ticket, or with an expired ticket:
    // refused with a precise failure reason, never handed out, and they get no peers.
    const std::string base = "http://127.0.0.1:" + std::to_string(server_->port());
    const std::vector<std::pair<std::string, std::string>> refused = {
        {announce_url({std::string(20, 'z')}, core::ticket_role::leech),
         "does not cover this torrent"},
        {base + "/announce", "missing ticket"},
        {announce_url({v1_, v2_}, core::ticket_role::leech, std::chrono::system_clock::now() - 3h),
         "ticket rejected"},
    };
    for (const auto& [url, expected] : refused) {
        lt::session intruder_session(session_settings());
        const lt::torrent_handle intruder = add(intruder_session, url, "intruder", false);
        std::string failure;
        ASSERT_TRUE(wait_until(
            intruder_session, [&] { return !failure.empty(); },
            [&](lt::alert* alert) {
                if (const auto* error = lt::alert_cast<lt::tracker_error_alert>(alert)) {
                    failure = error->failure_reason();
                    if (failure.empty()) {
                        failure = error->message();
                    }
                }
            }));
        EXPECT_NE(failure.find(expected), std::string::npos) << failure;
        EXPECT_EQ(intruder.status().num_peers, 0) << expected;
        EXPECT_FALSE(intruder.status().is_seeding);
    }
    const auto stats = service_->stats(v1_, std::chrono::system_clock::now());
    ASSERT_TRUE(stats.has_value());
    EXPECT_EQ(stats->seeders + stats->leechers, 2u);
    (void)seeder;
}
