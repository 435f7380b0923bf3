// One-pass IMS registration over SIP on loopback: the UE's first REGISTER proves possession of
// the token its PaC obtained (deposited at the HSS by the PAA), and the core answers 200 with no
// 401 round; replayed, expired or wrong tokens fall back to the Digest AKA challenge.
#include <imsp2p/sip/one_pass.hpp>

#include <imsp2p/sip/aka_credentials.hpp>
#include <imsp2p/sip/ims_core.hpp>
#include <imsp2p/sip/user_agent.hpp>

#include <imsp2p/pana/eap_tls.hpp>
#include <imsp2p/pana/error.hpp>
#include <imsp2p/pana/hss.hpp>
#include <imsp2p/pana/token_store.hpp>
#include <imsp2p/pana/usim.hpp>

#include <imsp2p/core/crypto.hpp>

#include "imsp2p_test/pana_fixtures.hpp"
#include "imsp2p_test/temporary_directory.hpp"

#include <gtest/gtest.h>

#include <atomic>
#include <memory>
#include <optional>
#include <string>

namespace sip = imsp2p::sip;
namespace pana = imsp2p::pana;
namespace core = imsp2p::core;
using namespace std::chrono_literals;

namespace {

constexpr char impi_text[] = "alice@ims.example";
constexpr char realm[] = "ims.example";

/** The AKA subscriber alice of these tests. */
imsp2p_test::aka_subscriber alice() {
    return {impi_text, 1, 2, 5};
}

// ---- the proof and the header ----------------------------------------------------------------

TEST(OnePassProof, CoversEveryFieldAndIsUnpaddedBase64url) {
    const core::byte_vector token(64, 7);
    sip::one_pass_proof_input input{"REGISTER", "sip:ims.example", impi_text, realm, "abc"};
    const std::string proof = sip::compute_one_pass_proof(token, input);
    EXPECT_EQ(proof.size(), 43u);  // 32 bytes
    EXPECT_EQ(proof.find('='), std::string::npos);
    EXPECT_EQ(proof, sip::compute_one_pass_proof(token, input));
    for (std::string sip::one_pass_proof_input::*field :
         {&sip::one_pass_proof_input::method, &sip::one_pass_proof_input::request_uri,
          &sip::one_pass_proof_input::impi, &sip::one_pass_proof_input::realm,
          &sip::one_pass_proof_input::cnonce}) {
        auto changed = input;
        changed.*field += "x";
        EXPECT_NE(sip::compute_one_pass_proof(token, changed), proof);
    }
    EXPECT_NE(sip::compute_one_pass_proof(core::byte_vector(64, 8), input), proof);
}

TEST(OnePassProof, HeaderCarriesTheProofNotTheToken) {
    const core::byte_vector token(64, 0x41);  // "AAAA..."
    const std::string header =
        sip::make_one_pass_authorization(token, impi_text, realm, "REGISTER", "sip:ims.example");
    EXPECT_EQ(header.rfind("PANA-Token username=\"alice@ims.example\", realm=\"ims.example\", "
                           "uri=\"sip:ims.example\", cnonce=\"",
                           0),
              0u)
        << header;
    EXPECT_EQ(header.find("AAAAAAAA"), std::string::npos);
    EXPECT_NE(header, sip::make_one_pass_authorization(token, impi_text, realm, "REGISTER",
                                                       "sip:ims.example"));  // fresh cnonce
}

sip::initial_request about(const char* method, const char* uri, std::uint32_t cseq) {
    sip::initial_request request;
    request.method = method;
    request.request_uri = uri;
    request.call_id = "c";
    request.cseq = cseq;
    return request;
}

TEST(OnePassCredentials, GiveTheHeaderOnceAndOnlyForRegister) {
    sip::one_pass_credentials credentials(impi_text, realm, core::byte_vector(64, 1), nullptr);
    EXPECT_FALSE(credentials.initial_authorization(about("MESSAGE", "sip:bob@ims.example", 1)));
    EXPECT_FALSE(credentials.token_used());
    EXPECT_TRUE(credentials.initial_authorization(about("REGISTER", "sip:ims.example", 1)));
    EXPECT_TRUE(credentials.token_used());
    EXPECT_FALSE(credentials.initial_authorization(about("REGISTER", "sip:ims.example", 2)));
    EXPECT_FALSE(credentials.answer(sip::auth_challenge{}));  // no fallback
    EXPECT_EQ(credentials.challenges_answered(), 1u);
}

// ---- registration over SIP -------------------------------------------------------------------

/** AKA credentials that count the challenges they answer. */
class counting_credentials final : public sip::credentials_provider {
  public:
    explicit counting_credentials(std::shared_ptr<sip::credentials_provider> inner)
        : inner_(std::move(inner)) {}
    std::optional<sip::auth_credentials> answer(const sip::auth_challenge& challenge) override {
        ++answered;
        last_algorithm = challenge.algorithm;
        return inner_->answer(challenge);
    }
    std::atomic<int> answered{0};
    std::string last_algorithm;  // read after the user agent is gone

  private:
    std::shared_ptr<sip::credentials_provider> inner_;
};

class ImsCoreOnePass : public ::testing::Test {
  protected:
    void SetUp() override {
        {
            auto registry = sip::subscriber_registry::open(directory_.path() / "core.sqlite");
            registry.add(core::impu::parse("sip:alice@ims.example"), core::impi::parse(impi_text),
                         "unused");
        }
        subscribers_.create(alice().record());
        sip::ims_core_settings settings;
        settings.port = 0;
        settings.realm = realm;
        settings.database = directory_.path() / "core.sqlite";
        core_ = std::make_unique<sip::ims_core>(
            settings, core::logger("ims-core", nullptr, core::log_level::off),
            [this](sip::subscriber_registry& registry) {
                auto aka = sip::make_digest_aka_authenticator(subscribers_, registry, 300s);
                core::logger log("one-pass", nullptr, core::log_level::off);
                if (aib_) {
                    return sip::make_one_pass_authenticator(core_tokens_, std::move(aka), *aib_,
                                                            std::move(log));
                }
                return sip::make_one_pass_authenticator(core_tokens_, std::move(aka),
                                                        std::move(log));
            });
        core_->start();
    }

    void TearDown() override { core_->stop(); }

    /** What the PAA does after EAP-TLS: a sealed deposit, opened and stored by the HSS. */
    void deposit(const core::byte_vector& token, std::chrono::system_clock::time_point expiry) {
        const core::byte_vector service_key(pana::token_service_key_size, 0x5a);
        const auto sealed =
            pana::seal_token_deposit(service_key, core::impi::parse(impi_text), token, expiry, ec_);
        ASSERT_FALSE(ec_) << ec_.message();
        // The deposit is checked at "now"; an already-expired token is stored directly.
        if (expiry > std::chrono::system_clock::now()) {
            const auto opened = pana::open_token_deposit(service_key, sealed,
                                                         std::chrono::system_clock::now(), ec_);
            ASSERT_TRUE(opened) << ec_.message();
            paa_tokens_.store(opened->impi, opened->token, opened->expiry);
        } else {
            paa_tokens_.store(core::impi::parse(impi_text), token, expiry);
        }
    }

    sip::transaction_result register_with(std::shared_ptr<sip::credentials_provider> credentials) {
        sip::user_agent_settings settings;
        settings.aor = "sip:alice@ims.example";
        settings.registrar = "sip:127.0.0.1:" + std::to_string(core_->port());
        settings.credentials = std::move(credentials);
        sip::user_agent ua(settings, core::logger("ua", nullptr, core::log_level::off));
        return ua.register_now(8s);
    }

    /** One-pass credentials over counting AKA credentials (or none). */
    std::shared_ptr<sip::one_pass_credentials> one_pass(const core::byte_vector& token,
                                                        bool with_aka = true) {
        aka_ = std::make_shared<counting_credentials>(std::make_shared<sip::aka_credentials>(
            alice().card(), std::filesystem::path{},
            core::logger("aka", nullptr, core::log_level::off)));
        return std::make_shared<sip::one_pass_credentials>(
            impi_text, realm, token,
            with_aka ? std::shared_ptr<sip::credentials_provider>(aka_) : nullptr);
    }

    imsp2p_test::temporary_directory directory_{"imsp2p-ims-core-one-pass"};
    // The HSS database holds subscribers and tokens; the core and the "PAA" (the test thread)
    // use their own connections to it.
    std::filesystem::path hss_file_ = directory_.path() / "hss.sqlite";
    pana::subscriber_store subscribers_ = pana::subscriber_store::open(hss_file_);
    pana::token_store core_tokens_ = pana::token_store::open(hss_file_);
    pana::token_store paa_tokens_ = pana::token_store::open(hss_file_);
    std::unique_ptr<sip::ims_core> core_;
    std::shared_ptr<counting_credentials> aka_;
    std::error_code ec_;
    std::optional<sip::one_pass_aib_settings> aib_;  // set before SetUp() by derived fixtures
};

TEST_F(ImsCoreOnePass, RegistersInOneRoundTripAndConsumesTheToken) {
    const core::byte_vector token = core::random_bytes(64);
    deposit(token, std::chrono::system_clock::now() + 60s);
    auto credentials = one_pass(token);
    const auto result = register_with(credentials);
    EXPECT_EQ(result.status, 200) << result.reason;
    EXPECT_TRUE(credentials->token_used());
    EXPECT_EQ(credentials->challenges_answered(), 0u);  // no 401 round
    EXPECT_EQ(aka_->answered.load(), 0);
    // The token is spent at the HSS.
    paa_tokens_.consume(
        core::impi::parse(impi_text), [](core::byte_view) { return true; }, ec_);
    EXPECT_EQ(ec_, pana::errc::token_used);
}

TEST_F(ImsCoreOnePass, TokenFromARealEapTlsConversationRegistersInOnePass) {
    // PaC and PAA run EAP-TLS (in memory here; PANA carries it on the wire); the PAA's token
    // sink stores the exported token at the HSS; the UE registers with the PaC's copy.
    const imsp2p_test::eap_tls_parties parties(impi_text);
    const pana::eap_tls_settings paa_settings = parties.server_settings();
    const pana::eap_tls_settings pac_settings = parties.client_settings();
    pana::eap_tls_authenticator paa(
        pana::eap_tls_context::create(paa_settings, pana::eap_tls_role::server),
        pana::make_token_store_sink(paa_tokens_, 60s));
    pana::eap_tls_peer pac(pana::eap_tls_context::create(pac_settings, pana::eap_tls_role::client),
                           impi_text);
    pana::eap_step request = paa.start();
    for (int guard = 0; guard < 50 && request.status == pana::eap_status::in_progress; ++guard) {
        request = paa.on_response(pac.on_packet(request.message).message);
    }
    pac.on_packet(request.message);
    ASSERT_EQ(pac.status(), pana::eap_status::success) << pac.error().message();
    auto credentials = one_pass(pac.token());
    const auto result = register_with(credentials);
    EXPECT_EQ(result.status, 200) << result.reason;
    EXPECT_EQ(credentials->challenges_answered(), 0u);
}

TEST_F(ImsCoreOnePass, WithoutAChallengeAnswerTheOnePassRegisterIsStill200) {
    const core::byte_vector token = core::random_bytes(64);
    deposit(token, std::chrono::system_clock::now() + 60s);
    const auto result = register_with(one_pass(token, false));
    EXPECT_EQ(result.status, 200) << result.reason;
}

TEST_F(ImsCoreOnePass, ReplayedTokenGetsTheAkaChallenge) {
    const core::byte_vector token = core::random_bytes(64);
    deposit(token, std::chrono::system_clock::now() + 60s);
    ASSERT_EQ(register_with(one_pass(token)).status, 200);
    // Same token again without a fallback: the 401 AKA challenge is the final answer.
    const auto replay = register_with(one_pass(token, false));
    EXPECT_EQ(replay.status, 401) << replay.reason;
    // With the AKA fallback the UE answers it and registers in two round trips.
    auto credentials = one_pass(token);
    const auto fallback = register_with(credentials);
    EXPECT_EQ(fallback.status, 200) << fallback.reason;
    EXPECT_EQ(credentials->challenges_answered(), 1u);
    EXPECT_EQ(aka_->last_algorithm, "AKAv1-MD5");
}

TEST_F(ImsCoreOnePass, ExpiredTokenGetsTheAkaChallenge) {
    const core::byte_vector token = core::random_bytes(64);
    deposit(token, std::chrono::system_clock::now() - 1s);
    const auto expired = register_with(one_pass(token, false));
    EXPECT_EQ(expired.status, 401) << expired.reason;
    auto credentials = one_pass(token);
    EXPECT_EQ(register_with(credentials).status, 200);
    EXPECT_EQ(credentials->challenges_answered(), 1u);
}

TEST_F(ImsCoreOnePass, WrongProofGetsTheAkaChallengeAndLeavesTheTokenUsable) {
    const core::byte_vector token = core::random_bytes(64);
    deposit(token, std::chrono::system_clock::now() + 60s);
    const auto wrong = register_with(one_pass(core::random_bytes(64), false));
    EXPECT_EQ(wrong.status, 401) << wrong.reason;
    // The genuine holder can still use the token in one pass.
    auto credentials = one_pass(token);
    EXPECT_EQ(register_with(credentials).status, 200);
    EXPECT_EQ(credentials->challenges_answered(), 0u);
}

TEST_F(ImsCoreOnePass, UnknownIdentityWithoutTokenGetsTheAkaChallenge) {
    const auto result = register_with(one_pass(core::random_bytes(64), false));
    EXPECT_EQ(result.status, 401) << result.reason;
}

// ---- with RFC 3893 identity bodies ------------------------------------------------------------

class ImsCoreOnePassAib : public ImsCoreOnePass {
  protected:
    void SetUp() override {
        sip::one_pass_aib_settings aib;
        std::error_code ec;
        aib.anchors = sip::identity_trust_anchors::from_file(pki_.ca().ca_file(), ec);
        ASSERT_FALSE(ec) << ec.message();
        aib.when = sip::one_pass_aib_settings::policy::required;
        aib_ = std::move(aib);
        ImsCoreOnePass::SetUp();
    }

    imsp2p_test::test_pki pki_;
};

TEST_F(ImsCoreOnePassAib, ValidIdentityBodyRegistersInOneRoundTrip) {
    const core::byte_vector token = core::random_bytes(64);
    deposit(token, std::chrono::system_clock::now() + 60s);
    const auto client = pki_.issue_client(impi_text);
    auto credentials = one_pass(token);
    credentials->attach_identity_body(client.certificate_pem, client.private_key_pem);
    const auto result = register_with(credentials);
    EXPECT_EQ(result.status, 200) << result.reason;
    EXPECT_EQ(credentials->challenges_answered(), 0u);
    EXPECT_EQ(aka_->answered.load(), 0);
}

TEST_F(ImsCoreOnePassAib, ForgedIdentityBodyFallsBackToAkaAndKeepsTheToken) {
    const core::byte_vector token = core::random_bytes(64);
    deposit(token, std::chrono::system_clock::now() + 60s);
    // Right token, but the body is signed by a certificate the S-CSCF does not trust.
    const auto forged = pki_.issue_client_from_other_ca(impi_text);
    auto without_fallback = one_pass(token, false);
    without_fallback->attach_identity_body(forged.certificate_pem, forged.private_key_pem);
    EXPECT_EQ(register_with(without_fallback).status, 401);
    auto credentials = one_pass(token);
    credentials->attach_identity_body(forged.certificate_pem, forged.private_key_pem);
    const auto result = register_with(credentials);
    EXPECT_EQ(result.status, 200) << result.reason;
    EXPECT_EQ(credentials->challenges_answered(), 1u);
    EXPECT_EQ(aka_->last_algorithm, "AKAv1-MD5");
    // The token was not consumed by the refused attempts: a genuine body still passes.
    const auto client = pki_.issue_client(impi_text);
    auto genuine = one_pass(token);
    genuine->attach_identity_body(client.certificate_pem, client.private_key_pem);
    EXPECT_EQ(register_with(genuine).status, 200);
    EXPECT_EQ(genuine->challenges_answered(), 0u);
}

TEST_F(ImsCoreOnePassAib, IdentityBodyOfAnotherImpiFallsBackToAka) {
    const core::byte_vector token = core::random_bytes(64);
    deposit(token, std::chrono::system_clock::now() + 60s);
    const auto bob = pki_.issue_client("bob@ims.example");
    auto credentials = one_pass(token, false);
    credentials->attach_identity_body(bob.certificate_pem, bob.private_key_pem);
    EXPECT_EQ(register_with(credentials).status, 401);
}

TEST_F(ImsCoreOnePassAib, RequiredIdentityBodyMissingFallsBackToAka) {
    const core::byte_vector token = core::random_bytes(64);
    deposit(token, std::chrono::system_clock::now() + 60s);
    EXPECT_EQ(register_with(one_pass(token, false)).status, 401);
}

}  // namespace
