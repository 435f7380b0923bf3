#include <imsp2p/drm/player.hpp>

#include <imsp2p/core/error.hpp>
#include <imsp2p/drm/error.hpp>
#include <imsp2p/drm/packager.hpp>

#include <gtest/gtest.h>
#include <imsp2p_test/temporary_directory.hpp>

#include <chrono>
#include <cstdint>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <sstream>
#include <string>
#include <system_error>

namespace core = imsp2p::core;
namespace drm = imsp2p::drm;
namespace fs = std::filesystem;
using namespace std::chrono_literals;

namespace {

const std::chrono::sys_seconds t0{std::chrono::seconds(1900000000)};
const std::string content_doi = "10.5555/Show.S01E01";

std::string read_file(const fs::path& path) {
    std::ifstream stream(path, std::ios::binary);
    return {std::istreambuf_iterator<char>(stream), {}};
}

void write_file(const fs::path& path, const std::string& bytes) {
    std::ofstream(path, std::ios::binary | std::ios::trunc) << bytes;
}

/** A packaged content, a DRM server key and a device. */
class Player : public ::testing::Test {
  protected:
    void SetUp() override {
        for (int i = 0; plaintext_.size() < 100000; ++i)
            plaintext_ += "line " + std::to_string(i) + " of the show\n";
        write_file(folder_.path() / "show.txt", plaintext_);
        drm::package_options options;
        options.segment_size = 1u << 14;
        options.threads = 1;
        package_ = drm::package_file(folder_.path() / "show.txt", container(),
                                     folder_.path() / "show.torrent", options);
        ASSERT_GE(package_.segment_count, 7u);
    }

    fs::path container() const { return folder_.path() / "show.ipc"; }

    drm::license_claims claims() const {
        drm::license_claims claims;
        claims.subject = "sip:bob@ims.example";
        claims.doi = content_doi;
        claims.kid = package_.kid;
        claims.issued_at = t0;
        claims.expires_at = t0 + 24h;
        claims.rights.play_count = 2;
        return claims;
    }

    std::string license(const drm::license_claims& claims) const {
        return issuer_.issue(claims, core::jwk(device_.public_key()), package_.cek);
    }
    std::string license() const { return license(claims()); }

    drm::player_settings settings() const {
        drm::player_settings settings;
        settings.drm_keys.keys.push_back(issuer_.public_jwk());
        settings.device_key = device_;
        settings.usage_store_path = folder_.path() / "usage.db";
        return settings;
    }

    drm::player make_player() const { return drm::player::create(settings()); }

    std::error_code open_error(drm::player& player, const std::string& license,
                               std::chrono::system_clock::time_point now = t0 + 1h,
                               const fs::path& file = {}) {
        std::error_code ec;
        (void)player.open(file.empty() ? container() : file, license, now, ec);
        return ec;
    }

    std::uint32_t plays(drm::player& player) {
        std::error_code ec;
        const auto record = player.usage(content_doi, ec);
        return record ? record->play_count : 0;
    }

    imsp2p_test::temporary_directory folder_;
    std::string plaintext_;
    drm::package_result package_;
    drm::license_issuer issuer_{core::ed25519_private_key::generate(), "drm-1", "drm.example"};
    core::x25519_private_key device_ = core::x25519_private_key::generate();
};

}  // namespace

TEST_F(Player, PlaysTheContentToAStreamAndAFile) {
    drm::player player = make_player();
    EXPECT_EQ(player.device_thumbprint(), core::jwk(device_.public_key()).thumbprint());
    drm::playback playback = player.open(container(), license(), t0 + 1h, content_doi);
    ASSERT_TRUE(playback.is_open());
    EXPECT_EQ(playback.license().doi, content_doi);
    EXPECT_EQ(playback.header().plaintext_size, plaintext_.size());
    EXPECT_EQ(playback.usage().play_count, 1u);
    EXPECT_EQ(playback.segment_count(), package_.segment_count);
    std::ostringstream out;
    std::error_code ec;
    std::uint64_t last = 0;
    playback.decrypt_to(out, ec, [&](std::uint64_t done, std::uint64_t) { last = done; });
    ASSERT_FALSE(ec) << ec.message();
    EXPECT_EQ(out.str(), plaintext_);
    EXPECT_EQ(last, plaintext_.size());
    playback.decrypt_to_file(folder_.path() / "out.txt", ec);
    ASSERT_FALSE(ec) << ec.message();
    EXPECT_EQ(read_file(folder_.path() / "out.txt"), plaintext_);
    EXPECT_EQ(plays(player), 1u);  // one open, one play, whatever is decrypted
}

TEST_F(Player, RandomAccessSegmentsAreSlicesOfThePlaintext) {
    drm::player player = make_player();
    drm::playback playback = player.open(container(), license(), t0 + 1h);
    const std::uint64_t chunk = playback.header().chunk_size();
    for (const std::uint64_t index :
         {package_.segment_count - 1, std::uint64_t{3}, std::uint64_t{0}}) {
        std::error_code ec;
        const core::secret_bytes segment = playback.decrypt_segment(index, ec);
        ASSERT_FALSE(ec) << ec.message();
        const std::string expected = plaintext_.substr(index * chunk, chunk);
        EXPECT_EQ(std::string(segment.begin(), segment.end()), expected) << index;
    }
    std::error_code ec;
    (void)playback.decrypt_segment(package_.segment_count, ec);
    EXPECT_EQ(ec, drm::errc::segment_out_of_range);
    drm::playback closed;
    (void)closed.decrypt_segment(0, ec);
    EXPECT_EQ(ec, core::errc::invalid_argument);
}

TEST_F(Player, ExhaustedAfterTheCountAcrossRestarts) {
    {
        drm::player player = make_player();
        EXPECT_FALSE(open_error(player, license()));
    }
    drm::player player = make_player();
    EXPECT_FALSE(open_error(player, license(), t0 + 2h));
    EXPECT_EQ(open_error(player, license(), t0 + 3h), drm::errc::rights_exhausted);
    // A refreshed license of the same grant does not reset the count.
    drm::license_claims refreshed = claims();
    refreshed.issued_at = t0 + 3h;
    refreshed.expires_at = t0 + 27h;
    EXPECT_EQ(open_error(player, license(refreshed), t0 + 3h), drm::errc::rights_exhausted);
    EXPECT_EQ(plays(player), 2u);
}

TEST_F(Player, LicenseFailuresAreDistinct) {
    drm::player player = make_player();
    // Expired / not yet valid.
    EXPECT_EQ(open_error(player, license(), t0 + 25h), drm::errc::license_expired);
    EXPECT_EQ(open_error(player, license(), t0 - 1h), drm::errc::license_not_yet_valid);
    // Another device.
    drm::player_settings other = settings();
    other.device_key = core::x25519_private_key::generate();
    drm::player other_player = drm::player::create(other);
    EXPECT_EQ(open_error(other_player, license()), drm::errc::license_wrong_device);
    // Another DRM server.
    const drm::license_issuer rogue(core::ed25519_private_key::generate(), "drm-1", "drm.example");
    EXPECT_EQ(
        open_error(player, rogue.issue(claims(), core::jwk(device_.public_key()), package_.cek)),
        drm::errc::license_bad_signature);
    // Another content (kid), or another DOI than expected.
    drm::license_claims other_kid = claims();
    other_kid.kid[0] ^= 0xff;
    EXPECT_EQ(open_error(player, license(other_kid)), drm::errc::license_wrong_content);
    std::error_code ec;
    (void)player.open(container(), license(), t0 + 1h, ec, "10.5555/Show.S01E02");
    EXPECT_EQ(ec, drm::errc::license_wrong_content);
    // The right kid with another key.
    const std::string wrong_cek = issuer_.issue(claims(), core::jwk(device_.public_key()),
                                                core::secret_bytes(core::random_bytes(32)));
    EXPECT_EQ(open_error(player, wrong_cek), drm::errc::wrong_key);
    // Rights not yet valid.
    drm::license_claims later = claims();
    later.rights.not_before = t0 + 2h;
    EXPECT_EQ(open_error(player, license(later)), drm::errc::rights_not_yet_valid);
    EXPECT_EQ(open_error(player, "garbage"), drm::errc::license_malformed);
    // None of these counted a play.
    EXPECT_EQ(plays(player), 0u);
    EXPECT_FALSE(open_error(player, license()));
    EXPECT_EQ(plays(player), 1u);
}

TEST_F(Player, RevocationFromTheDrmServerStopsCachedLicenses) {
    drm::player player = make_player();
    const std::string cached = license();
    EXPECT_FALSE(open_error(player, cached));
    std::error_code ec;
    EXPECT_FALSE(player.record_refusal(content_doi, std::make_error_code(std::errc::timed_out),
                                       t0 + 2h, ec));
    EXPECT_FALSE(ec);
    EXPECT_FALSE(open_error(player, cached, t0 + 2h));  // offline: the cached license still plays
    drm::license_claims unlimited = claims();
    unlimited.rights.play_count.reset();
    EXPECT_TRUE(player.record_refusal(content_doi, drm::errc::grant_revoked, t0 + 3h, ec));
    EXPECT_FALSE(ec);
    EXPECT_EQ(open_error(player, license(unlimited), t0 + 3h), drm::errc::grant_revoked);
    drm::player restarted = make_player();
    EXPECT_EQ(open_error(restarted, license(unlimited), t0 + 4h), drm::errc::grant_revoked);
    // A license issued after the revocation (a new grant) plays again.
    unlimited.issued_at = t0 + 5h;
    EXPECT_FALSE(open_error(restarted, license(unlimited), t0 + 5h));
}

TEST_F(Player, TamperedReorderedAndTruncatedContainers) {
    drm::player player = make_player();
    drm::license_claims unlimited = claims();
    unlimited.rights.play_count.reset();
    const std::string lic = license(unlimited);
    const std::string original = read_file(container());
    const std::size_t s = package_.segment_size;

    // A byte flipped in segment 3: the open succeeds, the stream stops at segment 3.
    std::string tampered = original;
    tampered[4 * s + 100] ^= 1;
    write_file(folder_.path() / "tampered.ipc", tampered);
    {
        std::error_code ec;
        drm::playback playback = player.open(folder_.path() / "tampered.ipc", lic, t0 + 1h, ec);
        ASSERT_FALSE(ec) << ec.message();
        std::ostringstream out;
        playback.decrypt_to(out, ec);
        EXPECT_EQ(ec, drm::errc::segment_tampered);
        EXPECT_EQ(out.str(), plaintext_.substr(0, 3 * (s - 16)));
        (void)playback.decrypt_segment(3, ec);
        EXPECT_EQ(ec, drm::errc::segment_tampered);
        (void)playback.decrypt_segment(2, ec);
        EXPECT_FALSE(ec);
    }
    // Segment 0 tampered: refused at open, no play counted.
    tampered = original;
    tampered[s + 7] ^= 0x80;
    write_file(folder_.path() / "first.ipc", tampered);
    const std::uint32_t before = plays(player);
    EXPECT_EQ(open_error(player, lic, t0 + 1h, folder_.path() / "first.ipc"),
              drm::errc::segment_tampered);
    EXPECT_EQ(plays(player), before);
    // Segments 1 and 2 swapped.
    std::string reordered = original;
    std::copy_n(original.begin() + static_cast<std::ptrdiff_t>(2 * s), s,
                reordered.begin() + static_cast<std::ptrdiff_t>(3 * s));
    std::copy_n(original.begin() + static_cast<std::ptrdiff_t>(3 * s), s,
                reordered.begin() + static_cast<std::ptrdiff_t>(2 * s));
    write_file(folder_.path() / "reordered.ipc", reordered);
    {
        std::error_code ec;
        drm::playback playback = player.open(folder_.path() / "reordered.ipc", lic, t0 + 1h, ec);
        ASSERT_FALSE(ec) << ec.message();
        (void)playback.decrypt_segment(1, ec);
        EXPECT_EQ(ec, drm::errc::segment_reordered);
    }
    // Truncated, and with appended bytes.
    write_file(folder_.path() / "truncated.ipc", original.substr(0, original.size() - 1));
    EXPECT_EQ(open_error(player, lic, t0 + 1h, folder_.path() / "truncated.ipc"),
              drm::errc::container_truncated);
    write_file(folder_.path() / "appended.ipc", original + "x");
    EXPECT_EQ(open_error(player, lic, t0 + 1h, folder_.path() / "appended.ipc"),
              drm::errc::container_trailing_data);
    // The salt in the header altered: every segment fails, the key no longer opens it.
    tampered = original;
    tampered[40] ^= 1;
    write_file(folder_.path() / "header.ipc", tampered);
    EXPECT_EQ(open_error(player, lic, t0 + 1h, folder_.path() / "header.ipc"),
              drm::errc::wrong_key);
    EXPECT_EQ(open_error(player, lic, t0 + 1h, folder_.path() / "missing.ipc"),
              core::errc::not_found);
}

TEST_F(Player, SetUpErrors) {
    drm::player_settings no_key = settings();
    no_key.device_key = {};
    std::error_code ec;
    (void)drm::player::create(no_key, ec);
    EXPECT_EQ(ec, core::errc::bad_key);
    drm::player not_set_up;
    EXPECT_EQ(open_error(not_set_up, license()), core::errc::invalid_argument);
    EXPECT_THROW((void)not_set_up.open(container(), license(), t0), std::system_error);
    EXPECT_TRUE(not_set_up.device_thumbprint().empty());
}
