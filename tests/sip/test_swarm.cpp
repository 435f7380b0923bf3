#include <imsp2p/sip/swarm.hpp>

#include <imsp2p/core/crypto.hpp>
#include <imsp2p/core/encoding.hpp>
#include <imsp2p/core/ticket.hpp>
#include <imsp2p/drm/packager.hpp>
#include <imsp2p/sip/error.hpp>
#include <imsp2p/tracker/tracker_server.hpp>
#include <imsp2p/tracker/tracker_service.hpp>

#include <gtest/gtest.h>

#include <algorithm>
#include <chrono>
#include <filesystem>
#include <fstream>
#include <functional>
#include <iterator>
#include <memory>
#include <optional>
#include <string>
#include <thread>
#include <vector>

namespace sip = imsp2p::sip;
namespace core = imsp2p::core;
namespace drm = imsp2p::drm;
namespace tracker = imsp2p::tracker;
namespace fs = std::filesystem;
using namespace std::chrono_literals;

namespace {

core::byte_vector read_all(const fs::path& path) {
    std::ifstream in(path, std::ios::binary);
    return {std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
}

void write_all(const fs::path& path, core::byte_view bytes) {
    std::ofstream(path, std::ios::binary)
        .write(reinterpret_cast<const char*>(bytes.data()),
               static_cast<std::streamsize>(bytes.size()));
}

/** Polls (bounded, a failure guard rather than a timing assertion) until `done` holds. */
bool eventually(const std::function<bool()>& done, std::chrono::seconds bound = 60s) {
    const auto deadline = std::chrono::steady_clock::now() + bound;
    while (!done()) {
        if (std::chrono::steady_clock::now() > deadline) {
            return false;
        }
        std::this_thread::sleep_for(50ms);
    }
    return true;
}

/**
 * An in-process tracker on 127.0.0.1 that trusts a test AS key, and one packaged container
 * (.ipc + private hybrid torrent) in the publisher's folder, registered with the tracker.
 */
class Swarm : public ::testing::Test {
  protected:
    void SetUp() override {
        directory_ =
            fs::temp_directory_path() / ("imsp2p-swarm-" + core::to_hex(core::random_bytes(6)));
        fs::create_directories(directory_ / "publisher");
        write_all(directory_ / "plain.bin", core::random_bytes(content_size()));
        drm::package_options options;
        package_ =
            drm::package_file(directory_ / "plain.bin", directory_ / "publisher" / "movie.ipc",
                              directory_ / "movie.torrent", options);
        torrent_ = read_all(package_.torrent_path);

        tracker::tracker_settings settings;
        settings.as_keys.keys.push_back(issuer_.public_jwk());
        service_ = tracker::tracker_service::open(settings);
        const auto v1 = core::from_hex(package_.infohash_v1);
        const auto v2 = core::from_hex(package_.infohash_v2);
        service_->register_torrent({std::string(v1.begin(), v1.end()),
                                    std::string(v2.begin(), v2.end()), "10.5555/swarm",
                                    tracker::torrent_state::active});
        tracker::server_settings http;
        http.port = 0;
        server_ = std::make_unique<tracker::tracker_server>(*service_, http,
                                                            core::logger("tracker.test"));
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

    virtual std::size_t content_size() const { return 3 * 1024 * 1024 + 12345; }

    std::string announce_url(core::ticket_role role, core::ticket_issuer* issuer = nullptr) {
        core::ticket_claims claims;
        claims.subject = "sip:peer@ims.example";
        claims.audience = "tracker";
        claims.issued_at =
            std::chrono::time_point_cast<std::chrono::seconds>(std::chrono::system_clock::now());
        claims.expires_at = claims.issued_at + 1h;
        claims.role = role;
        claims.infohashes = {package_.infohash_v1, package_.infohash_v2.substr(0, 40)};
        return "http://127.0.0.1:" + std::to_string(server_->port()) + "/announce/" +
               (issuer != nullptr ? *issuer : issuer_).issue(claims);
    }

    sip::swarm_settings settings_for(const std::string& name, int upload_limit = 0) {
        sip::swarm_settings settings;
        settings.state_dir = directory_ / (name + "-state");
        settings.upload_rate_limit = upload_limit;
        return settings;
    }

    /** A publisher swarm seeding the container (waits until libtorrent has checked it). */
    std::unique_ptr<sip::swarm> start_publisher(int upload_limit = 0,
                                                bool initial_seeding = false) {
        auto settings = settings_for("publisher", upload_limit);
        settings.initial_seeding = initial_seeding;
        auto publisher = std::make_unique<sip::swarm>(settings, core::logger("swarm.publisher"));
        const std::string id = publisher->add(torrent_, directory_ / "publisher",
                                              announce_url(core::ticket_role::seed));
        std::error_code ec;
        EXPECT_TRUE(publisher->wait_complete(id, 60s, {}, ec)) << ec.message();
        return publisher;
    }

    fs::path directory_;
    core::ticket_issuer issuer_{core::ed25519_private_key::generate(), "as-test",
                                "sip:as.ims.example"};
    drm::package_result package_;
    core::byte_vector torrent_;
    std::unique_ptr<tracker::tracker_service> service_;
    std::unique_ptr<tracker::tracker_server> server_;
    std::thread thread_;
};

}  // namespace

TEST_F(Swarm, DownloaderGetsAByteIdenticalContainerFromThePublisher) {
    auto publisher = start_publisher();
    const auto seeding = publisher->all();
    ASSERT_EQ(seeding.size(), 1u);
    EXPECT_EQ(seeding[0].id, package_.infohash_v1);
    EXPECT_EQ(seeding[0].name, "movie.ipc");
    EXPECT_TRUE(seeding[0].complete);
    EXPECT_EQ(seeding[0].total_bytes, package_.container_size);
    EXPECT_EQ(seeding[0].done_bytes, package_.container_size);
    EXPECT_EQ(seeding[0].downloaded_bytes, 0u);
    EXPECT_NE(publisher->listen_port(), 0);

    sip::swarm downloader(settings_for("downloader"), core::logger("swarm.downloader"));
    std::error_code ec;
    const std::string id = downloader.add(torrent_, directory_ / "downloads",
                                          announce_url(core::ticket_role::leech), ec);
    ASSERT_FALSE(ec) << ec.message();
    EXPECT_EQ(id, package_.infohash_v1);
    // Idempotent: a second add keeps one torrent and only changes the announce URL.
    EXPECT_EQ(
        downloader.add(torrent_, directory_ / "elsewhere", announce_url(core::ticket_role::leech)),
        id);
    EXPECT_EQ(downloader.all().size(), 1u);

    int reports = 0;
    ASSERT_TRUE(downloader.wait_complete(
        id, 120s,
        [&](const sip::transfer_progress& progress) {
            ++reports;
            EXPECT_EQ(progress.id, id);
            EXPECT_LE(progress.done_bytes, progress.total_bytes);
        },
        ec, 100ms))
        << ec.message();
    EXPECT_GE(reports, 1);
    const auto done = downloader.progress(id);
    ASSERT_TRUE(done.has_value());
    EXPECT_TRUE(done->complete);
    EXPECT_EQ(done->done_bytes, package_.container_size);
    EXPECT_GE(done->downloaded_bytes, package_.container_size);
    EXPECT_TRUE(done->error.empty()) << done->error;
    EXPECT_FALSE(fs::exists(directory_ / "elsewhere" / "movie.ipc"));
    EXPECT_EQ(read_all(directory_ / "downloads" / "movie.ipc"),
              read_all(directory_ / "publisher" / "movie.ipc"));
    EXPECT_TRUE(eventually(
        [&] { return publisher->progress(id)->uploaded_bytes >= package_.container_size; }));
    EXPECT_TRUE(fs::exists(directory_ / "downloader-state" / (id + ".resume")));
    EXPECT_FALSE(downloader.progress("0000000000000000000000000000000000000000").has_value());
}

TEST_F(Swarm, RestartResumesHalfWayAndDoesNotRecheckACompleteFile) {
    // The publisher's cap keeps the download slow enough to stop it half-way.
    auto publisher = start_publisher(512 * 1024);
    std::string id;
    std::uint64_t done_before = 0;
    {
        sip::swarm downloader(settings_for("downloader"), core::logger("swarm.downloader"));
        id = downloader.add(torrent_, directory_ / "downloads",
                            announce_url(core::ticket_role::leech));
        ASSERT_TRUE(eventually([&] {
            done_before = downloader.progress(id)->done_bytes;
            return done_before >= package_.container_size / 4;
        }));
        ASSERT_LT(done_before, package_.container_size);
    }  // Destroying the swarm saves its resume data.

    std::uint64_t done_after_restart = 0;
    {
        sip::swarm downloader(settings_for("downloader"), core::logger("swarm.downloader"));
        const auto resumed = downloader.progress(id);
        ASSERT_TRUE(resumed.has_value());
        EXPECT_FALSE(resumed->checking);
        EXPECT_GE(resumed->done_bytes, done_before);
        // What came from disk (the torrent may already be downloading the rest).
        done_after_restart =
            resumed->done_bytes - std::min(resumed->done_bytes, resumed->downloaded_bytes);
        std::error_code ec;
        ASSERT_TRUE(downloader.wait_complete(id, 120s, {}, ec)) << ec.message();
        const auto done = downloader.progress(id);
        // Only the missing part came over the wire again (slack: pieces in flight at the stop).
        EXPECT_LE(done->downloaded_bytes,
                  package_.container_size - done_after_restart + 4 * package_.piece_size);
        EXPECT_LT(done->downloaded_bytes, package_.container_size);
    }
    EXPECT_EQ(read_all(directory_ / "downloads" / "movie.ipc"),
              read_all(directory_ / "publisher" / "movie.ipc"));

    // After completion: a restart seeds at once, without hashing the file again.
    publisher.reset();
    sip::swarm downloader(settings_for("downloader"), core::logger("swarm.downloader"));
    const auto resumed = downloader.progress(id);
    ASSERT_TRUE(resumed.has_value());
    EXPECT_FALSE(resumed->checking);
    EXPECT_TRUE(resumed->complete);
    EXPECT_EQ(resumed->done_bytes, package_.container_size);
    EXPECT_EQ(resumed->downloaded_bytes, 0u);
}

TEST_F(Swarm, BadInputGetsAPreciseErrorAndLeavesTheSwarmIntact) {
    sip::swarm downloader(settings_for("downloader"), core::logger("swarm.downloader"));
    const std::string url = announce_url(core::ticket_role::leech);
    std::error_code ec;

    const std::string garbage = "this is not bencoded";
    EXPECT_TRUE(downloader
                    .add(core::byte_view(reinterpret_cast<const std::uint8_t*>(garbage.data()),
                                         garbage.size()),
                         directory_ / "downloads", url, ec)
                    .empty());
    EXPECT_EQ(ec, sip::errc::swarm_bad_torrent);

    const core::byte_view truncated(torrent_.data(), torrent_.size() / 2);
    EXPECT_TRUE(downloader.add(truncated, directory_ / "downloads", url, ec).empty());
    EXPECT_EQ(ec, sip::errc::swarm_bad_torrent);

    // A well-formed public torrent (no "private" key) is refused.
    const std::string pieces(20, 'x');
    const std::string public_torrent =
        "d4:infod6:lengthi5e4:name5:a.bin12:piece lengthi16384e6:"
        "pieces20:" +
        pieces + "ee";
    EXPECT_TRUE(
        downloader
            .add(core::byte_view(reinterpret_cast<const std::uint8_t*>(public_torrent.data()),
                                 public_torrent.size()),
                 directory_ / "downloads", url, ec)
            .empty());
    EXPECT_EQ(ec, sip::errc::swarm_torrent_not_private);

    for (const std::string bad_url : {"", "ftp://127.0.0.1/announce/x", "http://", "announce"}) {
        EXPECT_TRUE(downloader.add(torrent_, directory_ / "downloads", bad_url, ec).empty());
        EXPECT_EQ(ec, sip::errc::swarm_bad_announce_url) << bad_url;
    }
    EXPECT_THROW(downloader.add(truncated, directory_ / "downloads", url), std::system_error);

    EXPECT_TRUE(downloader.all().empty());
    EXPECT_TRUE(fs::is_empty(directory_ / "downloader-state"));

    auto bad_settings = settings_for("other");
    bad_settings.libtorrent_settings = {{"no_such_setting", "1"}};
    EXPECT_THROW(sip::swarm(bad_settings, core::logger("swarm.other")), std::system_error);
    bad_settings.libtorrent_settings = {{"unchoke_slots_limit", "eight"}};
    EXPECT_THROW(sip::swarm(bad_settings, core::logger("swarm.other")), std::system_error);
    bad_settings.libtorrent_settings = {{"strict_end_game_mode", "yes"}};
    EXPECT_THROW(sip::swarm(bad_settings, core::logger("swarm.other")), std::system_error);
    bad_settings.libtorrent_settings = {{"unchoke_slots_limit", "12"},
                                        {"strict_end_game_mode", "false"}};
    EXPECT_NO_THROW(sip::swarm(bad_settings, core::logger("swarm.other")));
    downloader.remove(package_.infohash_v1, ec);
    EXPECT_EQ(ec, sip::errc::swarm_unknown_torrent);
    EXPECT_FALSE(downloader.wait_complete(package_.infohash_v1, 1s, {}, ec));
    EXPECT_EQ(ec, sip::errc::swarm_unknown_torrent);

    // The swarm still works: a good add succeeds, and remove() forgets it but keeps the files.
    const std::string id = downloader.add(torrent_, directory_ / "downloads", url, ec);
    ASSERT_FALSE(ec) << ec.message();
    EXPECT_TRUE(fs::exists(directory_ / "downloader-state" / (id + ".resume")));
    downloader.set_announce_url(id, "not a url");  // ignored
    downloader.remove(id, ec);
    EXPECT_FALSE(ec) << ec.message();
    EXPECT_FALSE(downloader.progress(id).has_value());
    EXPECT_FALSE(fs::exists(directory_ / "downloader-state" / (id + ".resume")));
    EXPECT_TRUE(fs::exists(directory_ / "downloads"));
}

TEST_F(Swarm, WithoutAValidTicketTheDownloadNeverCompletesAndReportsTheTrackerReason) {
    auto publisher = start_publisher();
    core::ticket_issuer stranger{core::ed25519_private_key::generate(), "as-stranger",
                                 "sip:as.ims.example"};
    sip::swarm downloader(settings_for("downloader"), core::logger("swarm.downloader"));
    const std::string id = downloader.add(torrent_, directory_ / "downloads",
                                          announce_url(core::ticket_role::leech, &stranger));
    std::error_code ec;
    std::string last_error;
    EXPECT_FALSE(downloader.wait_complete(
        id, 5s, [&](const sip::transfer_progress& progress) { last_error = progress.error; }, ec,
        100ms));
    EXPECT_EQ(ec, std::errc::timed_out);
    const auto refused = downloader.progress(id);
    ASSERT_TRUE(refused.has_value());
    EXPECT_FALSE(refused->complete);
    EXPECT_EQ(refused->done_bytes, 0u);
    EXPECT_EQ(refused->peers, 0);
    EXPECT_NE(refused->error.find("tracker: ticket rejected"), std::string::npos) << refused->error;
    EXPECT_EQ(last_error, refused->error);

    // A renewed, valid ticket lets the same torrent complete and clears the error.
    downloader.set_announce_url(id, announce_url(core::ticket_role::leech));
    ASSERT_TRUE(downloader.wait_complete(id, 120s, {}, ec)) << ec.message();
    EXPECT_TRUE(eventually([&] { return downloader.progress(id)->error.empty(); }));
}

TEST_F(Swarm, OperatorSeedBoxCopiesAMutedTorrentAndServesItAfterActivation) {
    const auto v1 = core::from_hex(package_.infohash_v1);
    service_->set_state(std::string(v1.begin(), v1.end()), tracker::torrent_state::muted);
    auto publisher = start_publisher();

    // Muted: a consumer gets no peers, so nothing, while the publisher seeds.
    std::error_code ec;
    {
        sip::swarm early(settings_for("early"), core::logger("swarm.early"));
        const std::string early_id =
            early.add(torrent_, directory_ / "early", announce_url(core::ticket_role::leech));
        EXPECT_FALSE(early.wait_complete(early_id, 3s, {}, ec));
        EXPECT_EQ(ec, std::errc::timed_out);
        EXPECT_EQ(early.progress(early_id)->done_bytes, 0u);
        EXPECT_EQ(early.progress(early_id)->peers, 0);
    }

    // Only the operator's seed box gets peers, and it makes a full copy.
    sip::swarm seed_box(settings_for("seed-box"), core::logger("swarm.seed-box"));
    const std::string id = seed_box.add(torrent_, directory_ / "seed-box",
                                        announce_url(core::ticket_role::operator_seed));
    ASSERT_TRUE(seed_box.wait_complete(id, 120s, {}, ec)) << ec.message();
    EXPECT_EQ(read_all(directory_ / "seed-box" / "movie.ipc"),
              read_all(directory_ / "publisher" / "movie.ipc"));

    // The publisher leaves; the operator activates the torrent; a consumer downloads it from the
    // seed box alone.
    publisher.reset();
    service_->set_state(std::string(v1.begin(), v1.end()), tracker::torrent_state::active);
    sip::swarm consumer(settings_for("consumer"), core::logger("swarm.consumer"));
    consumer.add(torrent_, directory_ / "consumer", announce_url(core::ticket_role::leech));
    ASSERT_TRUE(consumer.wait_complete(id, 120s, {}, ec)) << ec.message();
    EXPECT_EQ(read_all(directory_ / "consumer" / "movie.ipc"),
              read_all(directory_ / "publisher" / "movie.ipc"));
    EXPECT_TRUE(eventually(
        [&] { return seed_box.progress(id)->uploaded_bytes >= package_.container_size; }));
}

TEST_F(Swarm, InitialSeedingServesALoneLateDownloaderEveryPiece) {
    auto publisher = start_publisher(0, true);
    const std::string id = package_.infohash_v1;
    const auto before = publisher->progress(id);
    ASSERT_TRUE(before.has_value());
    EXPECT_EQ(before->initial_seeding_pieces_given, 0u);

    // The downloader joins after the publisher completed: nothing is refused for good, it gets
    // every piece from the publisher alone.
    sip::swarm downloader(settings_for("downloader"), core::logger("swarm.downloader"));
    downloader.add(torrent_, directory_ / "downloads", announce_url(core::ticket_role::leech));
    std::error_code ec;
    ASSERT_TRUE(downloader.wait_complete(id, 120s, {}, ec)) << ec.message();
    EXPECT_EQ(read_all(directory_ / "downloads" / "movie.ipc"),
              read_all(directory_ / "publisher" / "movie.ipc"));
    // Every piece counts as given once (the counters are written on libtorrent's thread).
    EXPECT_TRUE(eventually([&] {
        return publisher->progress(id)->initial_seeding_pieces_given == package_.piece_count;
    }));
    EXPECT_GE(publisher->progress(id)->uploaded_bytes, package_.container_size);
    // The downloader, which does not use the policy, reports none.
    EXPECT_EQ(downloader.progress(id)->initial_seeding_pieces_given, 0u);
    EXPECT_EQ(downloader.progress(id)->initial_seeding_rejects, 0u);
}

TEST_F(Swarm, InitialSeedingLetsThreeDownloadersShareWhatThePublisherUploadsAboutOnce) {
    // The publisher's upload is the bottleneck (the downloaders' is not capped), so without the
    // policy the three downloaders fetch many of the same pieces from it.
    auto publisher = start_publisher(1024 * 1024, true);
    const std::string id = package_.infohash_v1;
    std::vector<std::unique_ptr<sip::swarm>> downloaders;
    for (int i = 0; i < 3; ++i) {
        downloaders.push_back(std::make_unique<sip::swarm>(
            settings_for("downloader-" + std::to_string(i)), core::logger("swarm.downloader")));
    }
    for (int i = 0; i < 3; ++i) {
        downloaders[static_cast<std::size_t>(i)]->add(
            torrent_, directory_ / ("downloads-" + std::to_string(i)),
            announce_url(core::ticket_role::leech));
    }
    for (int i = 0; i < 3; ++i) {
        std::error_code ec;
        ASSERT_TRUE(downloaders[static_cast<std::size_t>(i)]->wait_complete(id, 120s, {}, ec))
            << i << ": " << ec.message();
        EXPECT_EQ(read_all(directory_ / ("downloads-" + std::to_string(i)) / "movie.ipc"),
                  read_all(directory_ / "publisher" / "movie.ipc"))
            << i;
    }
    const auto seeded = publisher->progress(id);
    ASSERT_TRUE(seeded.has_value());
    // Each piece left the publisher about once (generous bound: HTTP would be 3 F).
    EXPECT_LT(seeded->uploaded_bytes, 2 * package_.container_size);
    EXPECT_GE(seeded->uploaded_bytes, package_.container_size);
    EXPECT_TRUE(eventually([&] {
        return publisher->progress(id)->initial_seeding_pieces_given == package_.piece_count;
    }));
    // Suggestions steered the downloaders to distinct pieces from the start.
    EXPECT_GT(seeded->initial_seeding_suggestions, 0u);
}
