// Digest AKA registration: the IMS core's AKA authenticator with the HSS of libimsp2p-pana,
// directly and over SIP on loopback with the user agent and its AKA credentials provider.
#include <imsp2p/sip/aka_credentials.hpp>
#include <imsp2p/sip/ims_core.hpp>
#include <imsp2p/sip/user_agent.hpp>

#include <imsp2p/pana/digest_aka.hpp>
#include <imsp2p/pana/hss.hpp>

#include "imsp2p_test/temporary_directory.hpp"

#include <gtest/gtest.h>

#include <memory>
#include <string>

namespace sip = imsp2p::sip;
namespace pana = imsp2p::pana;
namespace core = imsp2p::core;
using namespace std::chrono_literals;

namespace {

pana::aka_key key(std::uint8_t seed) {
    pana::aka_key k{};
    for (std::size_t i = 0; i < k.size(); ++i) {
        k[i] = static_cast<std::uint8_t>(seed + 5 * i);
    }
    return k;
}

pana::usim card(std::uint8_t k_seed = 1) {
    pana::usim_profile profile;
    profile.impi = core::impi::parse("alice@ims.example");
    profile.k = key(k_seed);
    profile.opc = key(2);
    return pana::usim(profile);
}

// ---- the authenticator alone ---------------------------------------------------------------

class DigestAkaAuthenticator : public ::testing::Test {
  protected:
    void SetUp() override {
        registry_.add(core::impu::parse("sip:alice@ims.example"),
                      core::impi::parse("alice@ims.example"), "unused");
        registry_.add(core::impu::parse("sip:bob@ims.example"),
                      core::impi::parse("bob@ims.example"), "bob-secret");
        pana::subscriber_record record;
        record.impi = core::impi::parse("alice@ims.example");
        record.k = key(1);
        record.opc = key(2);
        store_.create(record);
        auth_ = sip::make_digest_aka_authenticator(
            store_, registry_, 300s, sip::make_digest_md5_authenticator(registry_, 300s));
    }

    static sip::auth_request request(const std::string& credentials = {},
                                     const std::string& impu = "sip:alice@ims.example") {
        sip::auth_request r;
        r.method = "REGISTER";
        r.request_uri = "sip:ims.example";
        r.realm = "ims.example";
        r.credentials = credentials;
        r.public_identity = impu;
        return r;
    }

    /** Answers like the user agent does, with @p password and optional AUTS. */
    static std::string answer(const std::string& challenge_text, core::byte_view password,
                              const std::optional<pana::aka_auts>& auts = std::nullopt) {
        const auto challenge = pana::digest_challenge::parse(challenge_text);
        pana::digest_credentials credentials;
        credentials.username = "alice@ims.example";
        credentials.realm = challenge.realm;
        credentials.nonce = challenge.nonce;
        credentials.uri = "sip:ims.example";
        credentials.algorithm = challenge.algorithm;
        credentials.opaque = challenge.opaque;
        credentials.qop = "auth";
        credentials.cnonce = "0a4f113b";
        credentials.nonce_count = 1;
        credentials.auts = auts;
        pana::digest_response_input input;
        input.username = credentials.username;
        input.realm = challenge.realm;
        input.password = password;
        input.nonce = challenge.nonce;
        input.cnonce = "0a4f113b";
        input.qop = "auth";
        input.nonce_count = 1;
        input.method = "REGISTER";
        input.uri = "sip:ims.example";
        credentials.response = pana::compute_digest_response(input);
        return credentials.to_string();
    }

    static core::byte_vector run_usim(pana::usim& usim, const std::string& challenge_text) {
        const auto challenge = pana::digest_challenge::parse(challenge_text);
        const auto nonce = pana::aka_nonce::decode(challenge.nonce);
        const auto result = usim.authenticate(nonce.rand, nonce.autn);
        return {result.res.begin(), result.res.end()};
    }

    sip::subscriber_registry registry_ = sip::subscriber_registry::open(":memory:");
    pana::subscriber_store store_ = pana::subscriber_store::open(":memory:");
    std::unique_ptr<sip::authenticator> auth_;
};

TEST_F(DigestAkaAuthenticator, ChallengesWithAVectorThenAuthenticatesRes) {
    const auto first = auth_->authenticate(request());
    ASSERT_EQ(first.verdict, sip::auth_result::outcome::challenge) << first.reason;
    const auto challenge = pana::digest_challenge::parse(first.challenge);
    EXPECT_EQ(challenge.realm, "ims.example");
    EXPECT_EQ(challenge.algorithm.value_or(""), "AKAv1-MD5");
    EXPECT_EQ(challenge.qop, std::vector<std::string>{"auth"});
    EXPECT_NO_THROW((void)pana::aka_nonce::decode(challenge.nonce));
    pana::usim usim = card();
    const auto res = run_usim(usim, first.challenge);
    const std::string credentials = answer(first.challenge, res);
    const auto ok = auth_->authenticate(request(credentials));
    ASSERT_EQ(ok.verdict, sip::auth_result::outcome::authenticated) << ok.reason;
    EXPECT_EQ(ok.impi.str(), "alice@ims.example");
    // The same credentials again: the nonce was used once and is refused.
    const auto replay = auth_->authenticate(request(credentials));
    EXPECT_EQ(replay.verdict, sip::auth_result::outcome::rejected);
    EXPECT_EQ(replay.reason, "Nonce already used");
}

TEST_F(DigestAkaAuthenticator, WrongResIsRejectedAndTheNonceIsSpent) {
    const auto first = auth_->authenticate(request());
    ASSERT_EQ(first.verdict, sip::auth_result::outcome::challenge);
    const core::byte_vector wrong(8, 0x42);
    const auto rejected = auth_->authenticate(request(answer(first.challenge, wrong)));
    EXPECT_EQ(rejected.verdict, sip::auth_result::outcome::rejected);
    EXPECT_EQ(rejected.reason, "Authentication failed");
    pana::usim usim = card();
    const auto res = run_usim(usim, first.challenge);
    const auto retry = auth_->authenticate(request(answer(first.challenge, res)));
    EXPECT_EQ(retry.verdict, sip::auth_result::outcome::rejected);
}

TEST_F(DigestAkaAuthenticator, UnknownNonceIsChallengedAndMd5IsNotAcceptedForAkaUsers) {
    const auto first = auth_->authenticate(request());
    auto forged = pana::digest_challenge::parse(first.challenge);
    forged.nonce = pana::aka_nonce{}.encode();
    const auto unknown =
        auth_->authenticate(request(answer(forged.to_string(), core::byte_vector(8, 1))));
    ASSERT_EQ(unknown.verdict, sip::auth_result::outcome::challenge);
    EXPECT_EQ(pana::digest_challenge::parse(unknown.challenge).algorithm.value_or(""), "AKAv1-MD5");
    auto md5 = forged;
    md5.algorithm = "MD5";
    const auto downgrade =
        auth_->authenticate(request(answer(md5.to_string(), core::as_bytes("unused"))));
    ASSERT_EQ(downgrade.verdict, sip::auth_result::outcome::challenge);
    EXPECT_EQ(pana::digest_challenge::parse(downgrade.challenge).algorithm.value_or(""),
              "AKAv1-MD5");
}

TEST_F(DigestAkaAuthenticator, UsersWithoutAkaGoToTheFallback) {
    const auto first = auth_->authenticate(request({}, "sip:bob@ims.example"));
    ASSERT_EQ(first.verdict, sip::auth_result::outcome::challenge);
    EXPECT_EQ(pana::digest_challenge::parse(first.challenge).algorithm.value_or(""), "MD5");
    auto alone = sip::make_digest_aka_authenticator(store_, registry_, 300s);
    const auto refused = alone->authenticate(request({}, "sip:bob@ims.example"));
    EXPECT_EQ(refused.verdict, sip::auth_result::outcome::rejected);
}

// ---- registration over SIP -------------------------------------------------------------------

class ImsCoreAka : public ::testing::Test {
  protected:
    void SetUp() override {
        {
            auto registry = sip::subscriber_registry::open(directory_.path() / "core.sqlite");
            registry.add(core::impu::parse("sip:alice@ims.example"),
                         core::impi::parse("alice@ims.example"), "unused");
        }
        pana::subscriber_record record;
        record.impi = core::impi::parse("alice@ims.example");
        record.k = key(1);
        record.opc = key(2);
        store_.create(record);
        sip::ims_core_settings settings;
        settings.port = 0;
        settings.realm = "ims.example";
        settings.database = directory_.path() / "core.sqlite";
        core_ = std::make_unique<sip::ims_core>(
            settings, core::logger("ims-core", nullptr, core::log_level::off),
            [this](sip::subscriber_registry& registry) {
                return sip::make_digest_aka_authenticator(store_, registry, 300s);
            });
        core_->start();
    }

    void TearDown() override { core_->stop(); }

    sip::transaction_result register_with(std::shared_ptr<sip::aka_credentials> credentials) {
        sip::user_agent_settings settings;
        settings.aor = "sip:alice@ims.example";
        settings.registrar = "sip:127.0.0.1:" + std::to_string(core_->port());
        settings.credentials = std::move(credentials);
        sip::user_agent ua(settings, core::logger("ua", nullptr, core::log_level::off));
        return ua.register_now(8s);
    }

    imsp2p_test::temporary_directory directory_{"imsp2p-ims-core-aka"};
    pana::subscriber_store store_ = pana::subscriber_store::open(directory_.path() / "hss.sqlite");
    std::unique_ptr<sip::ims_core> core_;
};

TEST_F(ImsCoreAka, RegistersWithAka) {
    auto credentials = std::make_shared<sip::aka_credentials>(card());
    const auto result = register_with(credentials);
    EXPECT_EQ(result.status, 200) << result.reason;
    EXPECT_GT(credentials->profile().window.highest(), pana::sqn{});
}

TEST_F(ImsCoreAka, UsimAheadOfTheHssResynchronisesOverSip) {
    pana::usim usim = card();
    {
        // The USIM has seen vectors the HSS has since forgotten (e.g. a restored database).
        pana::hss hss(store_);
        for (int i = 0; i < 3; ++i) {
            const auto vector = hss.generate_vector(core::impi::parse("alice@ims.example"));
            (void)usim.authenticate(vector.rand, vector.autn);
        }
        store_.set_sqn(core::impi::parse("alice@ims.example"), pana::sqn{});
    }
    const pana::sqn before = usim.profile().window.highest();
    auto credentials = std::make_shared<sip::aka_credentials>(std::move(usim));
    const auto result = register_with(credentials);
    EXPECT_EQ(result.status, 200) << result.reason;
    // The HSS learnt SQN_MS from the AUTS and the USIM accepted a newer vector.
    auto hss_view = pana::subscriber_store::open(directory_.path() / "hss.sqlite");
    EXPECT_GT(hss_view.find(core::impi::parse("alice@ims.example")).last_sqn, before);
    EXPECT_GT(credentials->profile().window.highest(), before);
}

TEST_F(ImsCoreAka, WrongKeyIsForbidden) {
    auto credentials = std::make_shared<sip::aka_credentials>(
        card(7), std::filesystem::path{}, core::logger("aka", nullptr, core::log_level::off));
    const auto result = register_with(credentials);
    EXPECT_EQ(result.status, 403) << result.reason;
}

}  // namespace
