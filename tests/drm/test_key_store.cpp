#include <imsp2p/drm/key_store.hpp>

#include <imsp2p/core/encoding.hpp>
#include <imsp2p/core/error.hpp>
#include <imsp2p/core/jose.hpp>
#include <imsp2p/core/key_file.hpp>
#include <imsp2p/drm/error.hpp>

#include <imsp2p_test/temporary_directory.hpp>

#include <gtest/gtest.h>

#include <sys/stat.h>
#include <algorithm>
#include <filesystem>
#include <fstream>
#include <iterator>

namespace core = imsp2p::core;
namespace drm = imsp2p::drm;
namespace fs = std::filesystem;
using namespace std::chrono_literals;

namespace {

const std::chrono::sys_seconds t0{std::chrono::seconds(1'790'000'000)};

class KeyStore : public ::testing::Test {
  protected:
    drm::key_store_settings settings() const {
        return {folder_.path() / "db" / "drm.sqlite", folder_.path() / "master.key"};
    }
    std::unique_ptr<drm::key_store> open() {
        std::error_code ec;
        auto store = drm::key_store::open(settings(), ec);
        EXPECT_FALSE(ec) << ec.message();
        return store;
    }
    static drm::grant_record grant(std::string request_id, std::string device = "device-1") {
        drm::grant_record grant;
        grant.request_id = std::move(request_id);
        grant.user = "sip:alice@ims.example";
        grant.doi = "10.5555/movie.1";
        grant.device_thumbprint = std::move(device);
        grant.device_key = {{"kty", "OKP"}, {"crv", "X25519"}, {"x", "abc"}};
        grant.rights.play_count = 3;
        return grant;
    }

    imsp2p_test::temporary_directory folder_{"imsp2p-key-store"};
    drm::content_kid kid_{1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16};
    core::secret_bytes cek_{core::random_bytes(32)};
};

std::string read_all(const fs::path& path) {
    std::ifstream file(path, std::ios::binary);
    return {std::istreambuf_iterator<char>(file), std::istreambuf_iterator<char>()};
}

}  // namespace

TEST_F(KeyStore, ContentRoundTripIsCanonicalAndIdempotent) {
    auto store = open();
    ASSERT_TRUE(store);
    std::error_code ec;
    EXPECT_TRUE(
        store->put_content("doi:10.5555/Movie.1", kid_, cek_, {{"title", "Movie"}}, t0, ec));
    ASSERT_FALSE(ec) << ec.message();
    EXPECT_FALSE(store->put_content("10.5555/MOVIE.1", kid_, cek_, {}, t0 + 5s, ec));
    EXPECT_FALSE(ec) << ec.message();

    const auto content = store->find_content("https://doi.org/10.5555/movie.1", ec);
    ASSERT_TRUE(content);
    EXPECT_EQ(content->doi, "10.5555/Movie.1");
    EXPECT_EQ(content->kid, kid_);
    EXPECT_EQ(content->metadata, nlohmann::json({{"title", "Movie"}}));
    EXPECT_EQ(content->state, drm::content_state::active);
    EXPECT_EQ(content->created, t0);
    EXPECT_EQ(store->content_key("10.5555/movie.1", ec), cek_);
    EXPECT_FALSE(store->find_content("10.5555/other", ec));
    EXPECT_FALSE(ec);
    EXPECT_TRUE(store->content_key("10.5555/other", ec).empty());
    EXPECT_EQ(ec, drm::errc::unknown_content);
}

TEST_F(KeyStore, ConflictsAndBadInputAreRefused) {
    auto store = open();
    std::error_code ec;
    ASSERT_TRUE(store->put_content("10.5555/a", kid_, cek_, {}, t0, ec));
    auto other_kid = kid_;
    other_kid[0] ^= 1;
    store->put_content("10.5555/A", other_kid, cek_, {}, t0, ec);
    EXPECT_EQ(ec, drm::errc::content_conflict);
    store->put_content("10.5555/a", kid_, core::secret_bytes(core::random_bytes(32)), {}, t0, ec);
    EXPECT_EQ(ec, drm::errc::content_conflict);
    store->put_content("not a doi", kid_, cek_, {}, t0, ec);
    EXPECT_EQ(ec, core::errc::invalid_argument);
    store->put_content("10.5555/b", kid_, core::secret_bytes(16), {}, t0, ec);
    EXPECT_EQ(ec, core::errc::bad_key_size);
    store->set_content_state("10.5555/none", drm::content_state::withdrawn, ec);
    EXPECT_EQ(ec, drm::errc::unknown_content);
}

TEST_F(KeyStore, ContentKeysAreSealedAtRestAndTheMasterKeyIsOwnerOnly) {
    {
        auto store = open();
        std::error_code ec;
        ASSERT_TRUE(store->put_content("10.5555/secret", kid_, cek_, {}, t0, ec));
    }
    std::string everything;
    for (const auto& entry : fs::recursive_directory_iterator(folder_.path() / "db")) {
        everything += read_all(entry.path());
    }
    ASSERT_FALSE(everything.empty());
    const std::string raw = core::to_string(cek_);
    const std::string hex = core::to_hex(cek_);
    const std::string b64 = core::base64url_encode(cek_);
    EXPECT_EQ(everything.find(raw), std::string::npos) << "CEK bytes in the database file";
    EXPECT_EQ(everything.find(hex), std::string::npos);
    EXPECT_EQ(everything.find(b64), std::string::npos);
    EXPECT_NE(everything.find("10.5555/secret"), std::string::npos);  // the file is the right one

    struct stat info {};
    ASSERT_EQ(::stat((folder_.path() / "master.key").c_str(), &info), 0);
    EXPECT_EQ(info.st_mode & 0777, 0600u);
    EXPECT_EQ(fs::file_size(folder_.path() / "master.key"), 32u);
}

TEST_F(KeyStore, AnotherMasterKeyDoesNotOpenTheContentKeys) {
    {
        auto store = open();
        std::error_code ec;
        ASSERT_TRUE(store->put_content("10.5555/x", kid_, cek_, {}, t0, ec));
    }
    std::error_code ec;
    core::write_secret_file(folder_.path() / "master.key", core::random_bytes(32), ec);
    ASSERT_FALSE(ec);
    auto store = open();
    EXPECT_TRUE(store->content_key("10.5555/x", ec).empty());
    EXPECT_EQ(ec, core::errc::authentication_failed);
}

TEST_F(KeyStore, MasterKeyReadableByOthersIsRefused) {
    std::error_code ec;
    core::write_secret_file(folder_.path() / "master.key", core::random_bytes(32), ec);
    fs::permissions(folder_.path() / "master.key", fs::perms::group_read, fs::perm_options::add);
    auto store = drm::key_store::open(settings(), ec);
    EXPECT_FALSE(store);
    EXPECT_EQ(ec, core::errc::insecure_permissions);
    EXPECT_THROW(drm::key_store::open(settings()), std::system_error);
}

TEST_F(KeyStore, GrantsAreIdempotentOnTheRequestId) {
    auto store = open();
    std::error_code ec;
    bool created = false;
    store->put_grant(grant("r1"), t0, created, ec);
    EXPECT_EQ(ec, drm::errc::unknown_content);
    ASSERT_TRUE(store->put_content("10.5555/movie.1", kid_, cek_, {}, t0, ec));

    const auto first = store->put_grant(grant("r1"), t0, created, ec);
    ASSERT_TRUE(first) << ec.message();
    EXPECT_TRUE(created);
    EXPECT_EQ(first->grant_id.size(), 22u);
    EXPECT_EQ(first->rights.play_count, 3u);
    EXPECT_EQ(first->created, t0);
    EXPECT_FALSE(first->revoked_at);

    auto same = grant("r1");
    same.user = "sip:alice@IMS.EXAMPLE";  // the same IMPU, canonically
    const auto again = store->put_grant(same, t0 + 10s, created, ec);
    ASSERT_TRUE(again) << ec.message();
    EXPECT_FALSE(created);
    EXPECT_EQ(again->grant_id, first->grant_id);
    EXPECT_EQ(again->created, t0);

    auto changed = grant("r1");
    changed.rights.play_count = 4;
    EXPECT_FALSE(store->put_grant(changed, t0, created, ec));
    EXPECT_EQ(ec, drm::errc::grant_conflict);
    EXPECT_FALSE(store->put_grant(grant("r1", "device-2"), t0, created, ec));
    EXPECT_EQ(ec, drm::errc::grant_conflict);
}

TEST_F(KeyStore, GrantsAreFoundCountedRevokedAndListed) {
    auto store = open();
    std::error_code ec;
    bool created = false;
    ASSERT_TRUE(store->put_content("10.5555/movie.1", kid_, cek_, {}, t0, ec));
    const auto g1 = store->put_grant(grant("r1"), t0, created, ec);
    const auto g2 = store->put_grant(grant("r2", "device-2"), t0 + 1s, created, ec);
    ASSERT_TRUE(g1 && g2);
    EXPECT_EQ(store->count_devices("sip:alice@ims.example", "10.5555/MOVIE.1", ec), 2u);

    const auto found =
        store->find_grants("sip:alice@ims.example", "10.5555/movie.1", "device-1", ec);
    ASSERT_EQ(found.size(), 1u);
    EXPECT_EQ(found[0].grant_id, g1->grant_id);
    EXPECT_TRUE(
        store->find_grants("sip:bob@ims.example", "10.5555/movie.1", "device-1", ec).empty());

    const auto revoked = store->revoke_grant(g1->grant_id, t0 + 20s, ec);
    ASSERT_TRUE(revoked) << ec.message();
    EXPECT_EQ(revoked->revoked_at, t0 + 20s);
    const auto twice = store->revoke_grant(g1->grant_id, t0 + 30s, ec);
    ASSERT_TRUE(twice);
    EXPECT_EQ(twice->revoked_at, t0 + 20s);  // the first revocation time stays
    EXPECT_FALSE(store->revoke_grant("nope", t0, ec));
    EXPECT_EQ(ec, drm::errc::unknown_grant);
    EXPECT_EQ(store->count_devices("sip:alice@ims.example", "10.5555/movie.1", ec), 1u);

    const auto list = store->list_grants("10.5555/movie.1", ec);
    ASSERT_EQ(list.size(), 2u);
    EXPECT_EQ(list[0].grant_id, g1->grant_id);
    EXPECT_EQ(list[1].grant_id, g2->grant_id);
    EXPECT_TRUE(store->list_grants("10.5555/none", ec).empty());
    EXPECT_EQ(ec, drm::errc::unknown_content);

    const auto counts = store->counts(ec);
    EXPECT_EQ(counts.contents, 1u);
    EXPECT_EQ(counts.grants, 2u);
    EXPECT_EQ(counts.revoked_grants, 1u);
}

TEST_F(KeyStore, ARestartKeepsContentsStatesAndGrants) {
    std::string grant_id;
    {
        auto store = open();
        std::error_code ec;
        bool created = false;
        ASSERT_TRUE(store->put_content("10.5555/movie.1", kid_, cek_, {{"a", 1}}, t0, ec));
        ASSERT_TRUE(store->put_content("10.5555/movie.2", kid_, cek_, {}, t0, ec));
        ASSERT_TRUE(store->set_content_state("10.5555/movie.2", drm::content_state::withdrawn, ec));
        const auto g = store->put_grant(grant("r1"), t0, created, ec);
        ASSERT_TRUE(g);
        grant_id = g->grant_id;
        ASSERT_TRUE(store->revoke_grant(grant_id, t0 + 1s, ec));
    }
    auto store = open();
    std::error_code ec;
    EXPECT_EQ(store->content_key("10.5555/movie.1", ec), cek_);
    EXPECT_EQ(store->find_content("10.5555/movie.1", ec)->metadata, nlohmann::json({{"a", 1}}));
    EXPECT_EQ(store->find_content("10.5555/movie.2", ec)->state, drm::content_state::withdrawn);
    const auto g = store->find_grant(grant_id, ec);
    ASSERT_TRUE(g);
    EXPECT_EQ(g->revoked_at, t0 + 1s);
    EXPECT_EQ(g->rights.play_count, 3u);
    EXPECT_EQ(g->device_key["crv"], "X25519");
}

TEST(KeyStoreState, NamesRoundTrip) {
    EXPECT_EQ(drm::to_string(drm::content_state::active), "active");
    EXPECT_EQ(drm::parse_content_state("withdrawn"), drm::content_state::withdrawn);
    EXPECT_FALSE(drm::parse_content_state("Active"));
}
