#include <imsp2p/pana/usim.hpp>

#include <imsp2p/pana/error.hpp>
#include <imsp2p/pana/hss.hpp>

#include <imsp2p/core/encoding.hpp>
#include <imsp2p/core/error.hpp>

#include <gtest/gtest.h>
#include <imsp2p_test/hex.hpp>
#include <imsp2p_test/temporary_directory.hpp>

#include <stdlib.h>
#include <sys/stat.h>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <string>

namespace pana = imsp2p::pana;
namespace core = imsp2p::core;
namespace fs = std::filesystem;

namespace {

using imsp2p_test::array_from_hex;

pana::usim_profile test_profile() {
    pana::usim_profile profile;
    profile.impi = core::impi::parse("alice@ims.example.net");
    profile.k = array_from_hex<16>("0396eb317b6d1c36f19c1c84cd6ffd16");
    profile.opc = array_from_hex<16>("53c15671c60a4b731c55b4a441c0bde2");
    return profile;
}

class UsimTest : public ::testing::Test {
  protected:
    void SetUp() override { dir_ = temporary_.path(); }
    imsp2p_test::temporary_directory temporary_{"imsp2p-usim"};
    static unsigned mode_of(const fs::path& path) {
        struct stat info {};
        EXPECT_EQ(::stat(path.c_str(), &info), 0);
        return info.st_mode & 0777u;
    }
    static std::string read(const fs::path& path) {
        std::ifstream in(path);
        return {std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
    }

    // A vector for the test profile's keys, as the HSS would make it.
    pana::authentication_vector vector(pana::sqn sequence, std::uint8_t rand_byte = 0x42) {
        const pana::usim_profile profile = test_profile();
        pana::aka_rand rand{};
        rand.fill(rand_byte);
        return generator_.generate(profile.k, profile.opc, {0x80, 0x00}, sequence, rand);
    }

    fs::path dir_;
    pana::vector_generator generator_;
};

}  // namespace

TEST_F(UsimTest, AuthenticatesAGenuineFreshChallenge) {
    pana::usim card(test_profile());
    const pana::authentication_vector av = vector(pana::sqn::from_parts(1, 1, 5));
    std::error_code ec;
    const pana::aka_result result = card.authenticate(av.rand, av.autn, ec);
    ASSERT_FALSE(ec);
    EXPECT_EQ(result.status, pana::aka_status::authenticated);
    EXPECT_EQ(result.res, av.xres);
    EXPECT_EQ(result.ck, av.ck);
    EXPECT_EQ(result.ik, av.ik);
    EXPECT_EQ(result.received, av.sequence);
    EXPECT_EQ(card.profile().window.highest(), av.sequence);
}

TEST_F(UsimTest, RefusesAWrongMacWithoutChangingState) {
    pana::usim card(test_profile());
    pana::authentication_vector av = vector(pana::sqn::from_parts(1, 1, 5));
    av.autn[15] ^= 0x01;
    std::error_code ec;
    card.authenticate(av.rand, av.autn, ec);
    EXPECT_EQ(ec, pana::errc::mac_failure);
    EXPECT_THROW(card.authenticate(av.rand, av.autn), std::system_error);
    EXPECT_EQ(card.profile().window.highest(), pana::sqn{});
    // A vector of another subscriber fails the same way.
    pana::aka_key other_k{};
    other_k.fill(7);
    const pana::authentication_vector foreign =
        generator_.generate(other_k, test_profile().opc, {0x80, 0x00}, pana::sqn(33), av.rand);
    card.authenticate(foreign.rand, foreign.autn, ec);
    EXPECT_EQ(ec, pana::errc::mac_failure);
}

TEST_F(UsimTest, ReplayGivesAutsThatTheHssAccepts) {
    pana::usim card(test_profile());
    const pana::authentication_vector av = vector(pana::sqn::from_parts(9, 9, 5));
    std::error_code ec;
    ASSERT_EQ(card.authenticate(av.rand, av.autn).status, pana::aka_status::authenticated);
    const pana::aka_result replay = card.authenticate(av.rand, av.autn, ec);
    ASSERT_FALSE(ec);
    EXPECT_EQ(replay.status, pana::aka_status::synchronisation_failure);
    EXPECT_EQ(replay.res, pana::aka_res{});  // no keys on a synchronisation failure
    const pana::usim_profile profile = test_profile();
    const pana::sqn sqn_ms =
        generator_.verify_auts(profile.k, profile.opc, av.rand, replay.auts, ec);
    ASSERT_FALSE(ec);
    EXPECT_EQ(sqn_ms, av.sequence);
}

TEST_F(UsimTest, ProfileIsSavedOwnerOnlyAndRoundTrips) {
    const fs::path file = pana::usim::profile_path(dir_ / "data");
    EXPECT_EQ(file.filename(), "usim.json");
    {
        pana::usim card(test_profile());
        const pana::authentication_vector av = vector(pana::sqn::from_parts(12, 3, 5));
        ASSERT_EQ(card.authenticate(av.rand, av.autn).status, pana::aka_status::authenticated);
        card.save(file);
    }
    EXPECT_EQ(mode_of(file), 0600u);
    EXPECT_EQ(std::distance(fs::directory_iterator(file.parent_path()), fs::directory_iterator()),
              1);
    const std::string text = read(file);
    EXPECT_NE(text.find("\"format\":\"imsp2p-usim\""), std::string::npos);

    pana::usim loaded = pana::usim::load(file);
    EXPECT_EQ(loaded.profile().impi.str(), "alice@ims.example.net");
    EXPECT_EQ(loaded.profile().k, test_profile().k);
    EXPECT_EQ(loaded.profile().window.highest(), pana::sqn::from_parts(12, 3, 5));
    // The SQN state survived: the same AUTN is now a replay.
    const pana::authentication_vector av = vector(pana::sqn::from_parts(12, 3, 5));
    EXPECT_EQ(loaded.authenticate(av.rand, av.autn).status,
              pana::aka_status::synchronisation_failure);
}

TEST_F(UsimTest, LoadRefusesInsecureOrMissingFiles) {
    const fs::path file = dir_ / "usim.json";
    std::error_code ec;
    pana::usim::load(file, ec);
    EXPECT_EQ(ec, core::errc::not_found);
    pana::usim(test_profile()).save(file);
    fs::permissions(file, fs::perms::group_read, fs::perm_options::add);
    pana::usim::load(file, ec);
    EXPECT_EQ(ec, core::errc::insecure_permissions);
}

TEST(UsimProfile, JsonRoundTripAndMalformedInputs) {
    pana::usim_profile profile = test_profile();
    std::error_code ec;
    profile.window.accept(pana::sqn::from_parts(4, 2, 5), ec);
    const std::string text = pana::usim::to_json(profile);
    const pana::usim_profile parsed = pana::usim::from_json(text, ec);
    ASSERT_FALSE(ec);
    EXPECT_EQ(parsed.impi, profile.impi);
    EXPECT_EQ(parsed.k, profile.k);
    EXPECT_EQ(parsed.opc, profile.opc);
    EXPECT_EQ(parsed.window.seq_ms(), profile.window.seq_ms());
    EXPECT_EQ(parsed.window.highest(), profile.window.highest());

    const auto replace = [&](const std::string& from, const std::string& to) {
        std::string changed = text;
        const auto at = changed.find(from);
        EXPECT_NE(at, std::string::npos) << from;
        return changed.replace(at, from.size(), to);
    };
    for (const std::string& bad : {
             std::string("not json"),
             std::string("[]"),
             replace("\"version\":1", "\"version\":2"),
             replace("\"format\":\"imsp2p-usim\"", "\"format\":\"other\""),
             replace("\"k\":\"0396", "\"k\":\"zz96"),
             replace("\"k\":\"0396eb317b6d1c36f19c1c84cd6ffd16\"", "\"k\":\"0396\""),
             replace("\"impi\":\"alice@ims.example.net\"", "\"impi\":\"no-realm\""),
             replace("\"highest\":130", "\"highest\":131"),
             replace("\"ind_bits\":5", "\"ind_bits\":4"),
             replace("{\"format\"", "{\"typo\":1,\"format\""),
         }) {
        pana::usim::from_json(bad, ec);
        EXPECT_EQ(ec, pana::errc::bad_usim_profile) << bad;
    }
}
