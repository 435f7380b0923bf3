// The user agent's AKA credentials provider against challenges made by the real HSS and
// aka_server_challenge of libimsp2p-pana.
#include <imsp2p/sip/aka_credentials.hpp>

#include <imsp2p/pana/digest_aka.hpp>
#include <imsp2p/pana/hss.hpp>

#include <gtest/gtest.h>

#include <string>

namespace sip = imsp2p::sip;
namespace pana = imsp2p::pana;
namespace core = imsp2p::core;

namespace {

pana::aka_key key(std::uint8_t seed) {
    pana::aka_key k{};
    for (std::size_t i = 0; i < k.size(); ++i) {
        k[i] = static_cast<std::uint8_t>(seed + 7 * i);
    }
    return k;
}

class AkaCredentials : public ::testing::Test {
  protected:
    void SetUp() override {
        pana::subscriber_record record;
        record.impi = impi_;
        record.k = key(1);
        record.opc = key(2);
        store_.create(record);
    }

    pana::usim card(std::uint8_t k_seed = 1) const {
        pana::usim_profile profile;
        profile.impi = impi_;
        profile.k = key(k_seed);
        profile.opc = key(2);
        return pana::usim(profile);
    }

    /** A challenge from a fresh HSS vector, as the registrar sends it. */
    sip::auth_challenge challenge(pana::authentication_vector& vector) {
        vector = hss_.generate_vector(impi_);
        const pana::aka_server_challenge server(vector, impi_.str(), "ims.example");
        sip::auth_challenge offered;
        offered.header_value = server.challenge().to_string();
        offered.realm = server.challenge().realm;
        offered.nonce = server.challenge().nonce;
        offered.algorithm = server.challenge().algorithm.value_or("");
        offered.method = "REGISTER";
        offered.request_uri = "sip:ims.example";
        return offered;
    }

    core::impi impi_ = core::impi::parse("alice@ims.example");
    pana::subscriber_store store_ = pana::subscriber_store::open(":memory:");
    pana::hss hss_{store_};
};

TEST_F(AkaCredentials, AnswersWithRawResAndAdvancesTheWindow) {
    sip::aka_credentials provider(card());
    pana::authentication_vector vector;
    const auto offered = challenge(vector);
    EXPECT_EQ(offered.algorithm, "AKAv1-MD5");
    const auto answer = provider.answer(offered);
    ASSERT_TRUE(answer);
    EXPECT_EQ(answer->username, "alice@ims.example");
    EXPECT_EQ(answer->secret, core::byte_vector(vector.xres.begin(), vector.xres.end()));
    EXPECT_TRUE(answer->auts.empty());
    EXPECT_EQ(provider.profile().window.highest(), vector.sequence);
    // CK and IK equal the HSS's, for a later security association.
    const auto keys = provider.session_keys();
    ASSERT_TRUE(keys);
    EXPECT_EQ(keys->rand, vector.rand);
    EXPECT_EQ(keys->ck, vector.ck);
    EXPECT_EQ(keys->ik, vector.ik);
    // The same challenge again is a replay for the USIM: AUTS instead of RES, and the keys of
    // the accepted run stay.
    const auto replay = provider.answer(offered);
    ASSERT_TRUE(replay);
    EXPECT_TRUE(replay->secret.empty());
    EXPECT_EQ(replay->auts.size(), 14U);
    ASSERT_TRUE(provider.session_keys());
    EXPECT_EQ(provider.session_keys()->ck, vector.ck);
}

TEST_F(AkaCredentials, SqnAheadOfTheHssGivesAutsTheHssAccepts) {
    sip::aka_credentials provider(card());
    pana::authentication_vector first;
    ASSERT_TRUE(provider.answer(challenge(first)));
    store_.set_sqn(impi_, pana::sqn{});  // The HSS forgets: the USIM is now ahead.
    pana::authentication_vector second;
    const auto offered = challenge(second);
    const auto answer = provider.answer(offered);
    ASSERT_TRUE(answer);
    EXPECT_TRUE(answer->secret.empty());
    ASSERT_EQ(answer->auts.size(), 14U);
    pana::aka_auts auts{};
    std::copy(answer->auts.begin(), answer->auts.end(), auts.begin());
    EXPECT_EQ(hss_.resynchronise(impi_, second.rand, auts), first.sequence);
    pana::authentication_vector third;
    const auto after = provider.answer(challenge(third));
    ASSERT_TRUE(after);
    EXPECT_EQ(after->secret, core::byte_vector(third.xres.begin(), third.xres.end()));
}

TEST_F(AkaCredentials, RefusesANetworkWithABadMac) {
    // Another K than the HSS's.
    sip::aka_credentials provider(card(9), {}, core::logger("aka", nullptr, core::log_level::off));
    const auto before = provider.profile().window.highest();
    pana::authentication_vector vector;
    const auto answer = provider.answer(challenge(vector));
    ASSERT_TRUE(answer);  // Answered with nothing derived from the keys.
    EXPECT_EQ(answer->username, "alice@ims.example");
    EXPECT_TRUE(answer->secret.empty());
    EXPECT_TRUE(answer->auts.empty());
    EXPECT_EQ(provider.profile().window.highest(), before);
    EXPECT_FALSE(provider.session_keys());
}

TEST_F(AkaCredentials, IgnoresOtherAlgorithmsAndBadNonces) {
    sip::aka_credentials provider(card());
    sip::auth_challenge md5;
    md5.realm = "ims.example";
    md5.nonce = "abcdef";
    md5.algorithm = "MD5";
    EXPECT_FALSE(provider.answer(md5));
    md5.algorithm = "";
    EXPECT_FALSE(provider.answer(md5));
    sip::auth_challenge bad = md5;
    bad.algorithm = "AKAv1-MD5";
    bad.nonce = "not base64!";
    EXPECT_FALSE(provider.answer(bad));
}

}  // namespace
