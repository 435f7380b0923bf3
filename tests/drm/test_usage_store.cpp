#include <imsp2p/drm/usage_store.hpp>

#include <imsp2p/core/error.hpp>
#include <imsp2p/drm/error.hpp>

#include <gtest/gtest.h>
#include <imsp2p_test/temporary_directory.hpp>

#include <chrono>
#include <filesystem>
#include <fstream>
#include <string>
#include <system_error>
#include <thread>
#include <vector>

namespace core = imsp2p::core;
namespace drm = imsp2p::drm;
namespace fs = std::filesystem;
using namespace std::chrono_literals;

namespace {

const std::chrono::sys_seconds t0{std::chrono::seconds(1900000000)};
const std::string doi = "10.5555/Film.7";
const std::string device = "NzbLsXh8uDCcd-6MNwXF4W_7noWXFZAfHkxZsRGC9Xs";

std::error_code play(drm::usage_store& store, const drm::rights& rights,
                     std::chrono::system_clock::time_point now) {
    std::error_code ec;
    (void)store.begin_play(doi, device, rights, now, ec);
    return ec;
}

}  // namespace

TEST(UsageStore, CountsPlaysUntilExhaustedAndSurvivesRestart) {
    const imsp2p_test::temporary_directory folder;
    const fs::path path = folder.path() / "sub" / "usage.db";
    drm::rights rights;
    rights.play_count = 3;
    {
        drm::usage_store store = drm::usage_store::open(path);
        EXPECT_TRUE(store.is_open());
        EXPECT_EQ(fs::status(path).permissions() & fs::perms::all,
                  fs::perms::owner_read | fs::perms::owner_write);
        std::error_code ec;
        const drm::usage_record first = store.begin_play(doi, device, rights, t0, ec);
        ASSERT_FALSE(ec) << ec.message();
        EXPECT_EQ(first.play_count, 1u);
        EXPECT_EQ(first.first_use, t0);
        EXPECT_EQ(first.last_use, t0);
        EXPECT_EQ(first.doi, doi);
        EXPECT_EQ(first.device_thumbprint, device);
        EXPECT_FALSE(play(store, rights, t0 + 10s));
    }
    {
        drm::usage_store store = drm::usage_store::open(path);
        std::error_code ec;
        // The DOI compares case-insensitively and in any accepted form.
        const drm::usage_record third =
            store.begin_play("https://doi.org/10.5555/FILM.7", device, rights, t0 + 20s, ec);
        ASSERT_FALSE(ec) << ec.message();
        EXPECT_EQ(third.play_count, 3u);
        EXPECT_EQ(third.first_use, t0);
        EXPECT_EQ(third.last_use, t0 + 20s);
        EXPECT_EQ(play(store, rights, t0 + 30s), drm::errc::rights_exhausted);
    }
    drm::usage_store store = drm::usage_store::open(path);
    EXPECT_EQ(play(store, rights, t0 + 40s), drm::errc::rights_exhausted);
    std::error_code ec;
    const auto record = store.find(doi, device, ec);
    ASSERT_TRUE(record.has_value());
    EXPECT_EQ(record->play_count, 3u);
    EXPECT_EQ(record->last_use, t0 + 20s);  // refusals record nothing
    EXPECT_EQ(store.latest_use(ec), t0 + 20s);
    // Another device and another DOI have their own counts.
    EXPECT_FALSE(store.begin_play(doi, "other-device", rights, t0 + 50s, ec).doi.empty());
    EXPECT_FALSE(ec);
    (void)store.begin_play("10.5555/film.8", device, rights, t0 + 50s, ec);
    EXPECT_FALSE(ec);
    EXPECT_FALSE(store.find("10.5555/none", device, ec).has_value());
    EXPECT_FALSE(ec);
}

TEST(UsageStore, NotBeforeAndNotAfter) {
    const imsp2p_test::temporary_directory folder;
    drm::usage_store store = drm::usage_store::open(folder.path() / "usage.db");
    drm::rights rights;
    rights.not_before = t0;
    rights.not_after = t0 + 100s;
    EXPECT_EQ(play(store, rights, t0 - 1s), drm::errc::rights_not_yet_valid);
    EXPECT_FALSE(play(store, rights, t0));
    EXPECT_FALSE(play(store, rights, t0 + 100s));
    EXPECT_EQ(play(store, rights, t0 + 101s), drm::errc::rights_expired);
}

TEST(UsageStore, WindowAfterFirstUse) {
    const imsp2p_test::temporary_directory folder;
    const fs::path path = folder.path() / "usage.db";
    drm::rights rights;
    rights.window_after_first_use = 3600s;
    {
        drm::usage_store store = drm::usage_store::open(path);
        EXPECT_FALSE(play(store, rights, t0 + 5s));
        EXPECT_FALSE(play(store, rights, t0 + 3604s));
    }
    drm::usage_store store = drm::usage_store::open(path);
    EXPECT_EQ(play(store, rights, t0 + 3605s), drm::errc::rights_window_elapsed);
    EXPECT_EQ(play(store, rights, t0 + 9000s), drm::errc::rights_window_elapsed);
}

TEST(UsageStore, ClockRollbackIsRefusedBeyondTheTolerance) {
    const imsp2p_test::temporary_directory folder;
    drm::usage_store_options options;
    options.clock_tolerance = 300s;
    drm::usage_store store = drm::usage_store::open(folder.path() / "usage.db", options);
    drm::rights window;
    window.window_after_first_use = 3600s;
    EXPECT_FALSE(play(store, window, t0));
    // Another content played later moves the high-water mark.
    std::error_code ec;
    (void)store.begin_play("10.5555/other", device, {}, t0 + 7200s, ec);
    ASSERT_FALSE(ec);
    // Turning the clock back to within the window is refused ...
    EXPECT_EQ(play(store, window, t0 + 1800s), drm::errc::clock_rollback);
    // ... and a small step back is judged at the high-water mark (window elapsed).
    EXPECT_EQ(play(store, window, t0 + 7000s), drm::errc::rights_window_elapsed);
    drm::rights until;
    until.not_after = t0 + 7100s;
    (void)store.begin_play("10.5555/third", device, until, t0 + 7000s, ec);
    EXPECT_EQ(ec, drm::errc::rights_expired);
}

TEST(UsageStore, RevocationBlocksOlderLicensesUntilANewGrant) {
    const imsp2p_test::temporary_directory folder;
    drm::usage_store store = drm::usage_store::open(folder.path() / "usage.db");
    std::error_code ec;
    (void)store.begin_play(doi, device, {}, t0, ec, t0 - 100s);
    ASSERT_FALSE(ec);
    store.mark_revoked(doi, device, t0 + 10s, ec);
    ASSERT_FALSE(ec);
    (void)store.begin_play(doi, device, {}, t0 + 20s, ec, t0 - 100s);
    EXPECT_EQ(ec, drm::errc::grant_revoked);
    (void)store.begin_play(doi, device, {}, t0 + 20s, ec);
    EXPECT_EQ(ec, drm::errc::grant_revoked);
    (void)store.begin_play(doi, device, {}, t0 + 20s, ec, t0 + 10s);
    EXPECT_EQ(ec, drm::errc::grant_revoked);
    const auto record = store.begin_play(doi, device, {}, t0 + 30s, ec, t0 + 25s);
    EXPECT_FALSE(ec);
    EXPECT_FALSE(record.revoked_at.has_value());
    EXPECT_EQ(record.play_count, 2u);
    // Revocation of content never played is recorded too.
    store.mark_revoked("10.5555/never", device, t0 + 40s, ec);
    EXPECT_FALSE(ec);
    EXPECT_EQ(store.find("10.5555/never", device, ec)->revoked_at, t0 + 40s);
    (void)store.begin_play("10.5555/never", device, {}, t0 + 50s, ec, t0);
    EXPECT_EQ(ec, drm::errc::grant_revoked);
}

TEST(UsageStore, BadArgumentsAndClosedStore) {
    drm::usage_store closed;
    EXPECT_FALSE(closed.is_open());
    EXPECT_EQ(play(closed, {}, t0), core::errc::invalid_argument);
    const imsp2p_test::temporary_directory folder;
    drm::usage_store store = drm::usage_store::open(folder.path() / "usage.db");
    std::error_code ec;
    (void)store.begin_play("not a doi", device, {}, t0, ec);
    EXPECT_EQ(ec, core::errc::invalid_argument);
    (void)store.begin_play(doi, "", {}, t0, ec);
    EXPECT_EQ(ec, core::errc::invalid_argument);
    // A file that is not a database.
    std::ofstream(folder.path() / "junk.db") << std::string(4096, 'x');
    (void)drm::usage_store::open(folder.path() / "junk.db", {}, ec);
    EXPECT_TRUE(ec);
    EXPECT_THROW((void)drm::usage_store::open(folder.path() / "junk.db"), std::system_error);
}

TEST(UsageStore, ConcurrentStoresNeverOverspendTheCount) {
    const imsp2p_test::temporary_directory folder;
    const fs::path path = folder.path() / "usage.db";
    (void)drm::usage_store::open(path);
    drm::rights rights;
    rights.play_count = 5;
    std::vector<int> granted(4, 0);
    std::vector<std::thread> threads;
    for (int i = 0; i < 4; ++i) {
        threads.emplace_back([&, i] {
            drm::usage_store store = drm::usage_store::open(path);
            for (int j = 0; j < 5; ++j) {
                std::error_code ec;
                (void)store.begin_play(doi, device, rights, t0 + std::chrono::seconds(j), ec);
                if (!ec)
                    ++granted[static_cast<std::size_t>(i)];
                else
                    EXPECT_EQ(ec, drm::errc::rights_exhausted) << ec.message();
            }
        });
    }
    for (auto& thread : threads)
        thread.join();
    EXPECT_EQ(granted[0] + granted[1] + granted[2] + granted[3], 5);
}
