// The IMS core's Digest MD5 authenticator, driven with RFC 2617 client computations from
// libimsp2p-pana (an independent implementation of the response formula).
#include <imsp2p/sip/ims_core.hpp>

#include <imsp2p/pana/digest.hpp>

#include <imsp2p/core/bytes.hpp>

#include <gtest/gtest.h>

#include <string>
#include <thread>

namespace sip = imsp2p::sip;
namespace pana = imsp2p::pana;
namespace core = imsp2p::core;
using namespace std::chrono_literals;

namespace {

class DigestMd5Authenticator : public ::testing::Test {
  protected:
    void SetUp() override {
        registry_.add(core::impu::parse("sip:alice@ims.example"),
                      core::impi::parse("alice@ims.example"), "alice-secret");
    }

    sip::auth_request request(const std::string& credentials = {}) const {
        sip::auth_request r;
        r.method = "REGISTER";
        r.request_uri = "sip:ims.example";
        r.realm = "ims.example";
        r.credentials = credentials;
        return r;
    }

    /** Answers a challenge as a UE would (qop=auth when offered). */
    static std::string answer(const std::string& challenge_text, const std::string& username,
                              const std::string& password, const std::string& method = "REGISTER",
                              const std::string& uri = "sip:ims.example") {
        const auto challenge = pana::digest_challenge::parse(challenge_text);
        pana::digest_credentials credentials;
        credentials.username = username;
        credentials.realm = challenge.realm;
        credentials.nonce = challenge.nonce;
        credentials.uri = uri;
        credentials.algorithm = "MD5";
        const bool qop = !challenge.qop.empty();
        if (qop) {
            credentials.qop = "auth";
            credentials.cnonce = "0a4f113b";
            credentials.nonce_count = 1;
        }
        pana::digest_response_input input;
        input.username = username;
        input.realm = challenge.realm;
        input.password = core::as_bytes(password);
        input.nonce = challenge.nonce;
        input.cnonce = qop ? "0a4f113b" : "";
        input.qop = qop ? "auth" : "";
        input.nonce_count = 1;
        input.method = method;
        input.uri = uri;
        credentials.response = pana::compute_digest_response(input);
        return credentials.to_string();
    }

    sip::subscriber_registry registry_ = sip::subscriber_registry::open(":memory:");
};

TEST_F(DigestMd5Authenticator, ChallengesThenAuthenticates) {
    auto auth = sip::make_digest_md5_authenticator(registry_, 300s);
    const auto first = auth->authenticate(request());
    ASSERT_EQ(first.verdict, sip::auth_result::outcome::challenge);
    const auto challenge = pana::digest_challenge::parse(first.challenge);
    EXPECT_EQ(challenge.realm, "ims.example");
    EXPECT_EQ(challenge.algorithm.value_or(""), "MD5");
    EXPECT_EQ(challenge.qop, std::vector<std::string>{"auth"});
    EXPECT_FALSE(challenge.stale);

    const auto ok =
        auth->authenticate(request(answer(first.challenge, "alice@ims.example", "alice-secret")));
    ASSERT_EQ(ok.verdict, sip::auth_result::outcome::authenticated) << ok.reason;
    EXPECT_EQ(ok.impi.str(), "alice@ims.example");
}

TEST_F(DigestMd5Authenticator, RejectsWrongPasswordUnknownUserAndOtherMethod) {
    auto auth = sip::make_digest_md5_authenticator(registry_, 300s);
    const std::string challenge = auth->authenticate(request()).challenge;
    const auto wrong = auth->authenticate(request(answer(challenge, "alice@ims.example", "wrong")));
    EXPECT_EQ(wrong.verdict, sip::auth_result::outcome::rejected);
    EXPECT_EQ(wrong.reason, "Authentication failed");
    const auto unknown =
        auth->authenticate(request(answer(challenge, "bob@ims.example", "alice-secret")));
    EXPECT_EQ(unknown.verdict, sip::auth_result::outcome::rejected);
    // A response computed for another method does not verify (HA2 covers the method).
    const auto replayed = auth->authenticate(
        request(answer(challenge, "alice@ims.example", "alice-secret", "MESSAGE")));
    EXPECT_EQ(replayed.verdict, sip::auth_result::outcome::rejected);
    const auto garbage = auth->authenticate(request("Digest username=\"x\""));
    EXPECT_EQ(garbage.verdict, sip::auth_result::outcome::rejected);
}

TEST_F(DigestMd5Authenticator, ForgedAndStaleNoncesAreChallengedAgain) {
    auto auth = sip::make_digest_md5_authenticator(registry_, 0s);
    std::string challenge = auth->authenticate(request()).challenge;
    // A nonce this authenticator did not make (another process's secret) is re-challenged.
    auto other = sip::make_digest_md5_authenticator(registry_, 300s);
    const auto forged = other->authenticate(request(
        answer(auth->authenticate(request()).challenge, "alice@ims.example", "alice-secret")));
    EXPECT_EQ(forged.verdict, sip::auth_result::outcome::challenge);
    EXPECT_FALSE(pana::digest_challenge::parse(forged.challenge).stale);
    // Lifetime 0: after a second the right answer is answered with stale=true.
    std::this_thread::sleep_for(1100ms);
    const auto stale =
        auth->authenticate(request(answer(challenge, "alice@ims.example", "alice-secret")));
    ASSERT_EQ(stale.verdict, sip::auth_result::outcome::challenge);
    EXPECT_TRUE(pana::digest_challenge::parse(stale.challenge).stale);
}

TEST_F(DigestMd5Authenticator, AkaCredentialsAreOfferedMd5) {
    // Until the AKA authenticator is plugged in, AKAv1-MD5 credentials get an MD5 challenge.
    auto auth = sip::make_digest_md5_authenticator(registry_, 300s);
    const auto result = auth->authenticate(
        request("Digest username=\"alice@ims.example\", realm=\"ims.example\", nonce=\"\", "
                "uri=\"sip:ims.example\", response=\"\", algorithm=AKAv1-MD5"));
    ASSERT_EQ(result.verdict, sip::auth_result::outcome::challenge);
    EXPECT_EQ(pana::digest_challenge::parse(result.challenge).algorithm.value_or(""), "MD5");
}

}  // namespace
