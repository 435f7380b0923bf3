#include <imsp2p/pana/digest_aka.hpp>

#include <imsp2p/pana/error.hpp>

#include <imsp2p/core/encoding.hpp>

#include <gtest/gtest.h>

#include <string>
#include <vector>

namespace pana = imsp2p::pana;
namespace core = imsp2p::core;

namespace {

constexpr const char* realm = "ims.example.net";
constexpr const char* identity = "alice@ims.example.net";
constexpr const char* register_uri = "sip:ims.example.net";

pana::aka_key key_of(std::uint8_t fill) {
    pana::aka_key k{};
    k.fill(fill);
    return k;
}

// One HSS (SQLite in memory), one subscriber and her USIM with the same K and OPc.
class DigestAkaExchange : public ::testing::Test {
  protected:
    DigestAkaExchange()
        : store_(pana::subscriber_store::open(":memory:")), home_(store_), card_(profile()) {
        pana::subscriber_record record;
        record.impi = impi_;
        record.k = key_of(0x5a);
        record.opc = pana::milenage::compute_opc(record.k, op());
        store_.create(record);
    }

    static pana::aka_op op() {
        pana::aka_op value{};
        value.fill(0xc3);
        return value;
    }

    pana::usim_profile profile() const {
        pana::usim_profile p;
        p.impi = impi_;
        p.k = key_of(0x5a);
        p.opc = pana::milenage::compute_opc(p.k, op());
        return p;
    }

    // Server: a fresh vector and its 401 challenge header value.
    pana::aka_server_challenge challenge(pana::aka_challenge_options options = {}) {
        return pana::aka_server_challenge(home_.generate_vector(impi_), identity, realm,
                                          std::move(options));
    }

    // UE: parses the challenge header, runs the USIM, returns the Authorization header value.
    std::string answer(const std::string& www_authenticate, pana::aka_status expected_status,
                       std::uint32_t nonce_count = 1) {
        const pana::digest_challenge parsed = pana::digest_challenge::parse(www_authenticate);
        pana::digest_client_request request;
        request.username = identity;
        request.request = {"REGISTER", register_uri, body_};
        request.nonce_count = nonce_count;
        std::error_code ec;
        const pana::aka_client_answer reply =
            pana::answer_aka_challenge(card_, parsed, request, ec);
        EXPECT_FALSE(ec) << ec.message();
        EXPECT_EQ(reply.status, expected_status);
        last_ck_ = reply.ck;
        last_ik_ = reply.ik;
        return reply.credentials.to_string();
    }

    // Server: parses the Authorization header value and verifies it.
    pana::aka_verification verify(pana::aka_server_challenge& state,
                                  const std::string& authorization, std::error_code& ec) {
        const pana::digest_credentials credentials = pana::digest_credentials::parse(authorization);
        return state.verify(credentials, {"REGISTER", register_uri, body_}, ec);
    }

    core::impi impi_ = core::impi::parse(identity);
    pana::subscriber_store store_;
    pana::hss home_;
    pana::usim card_;
    core::byte_vector body_;
    pana::aka_ck last_ck_{};
    pana::aka_ik last_ik_{};
};

}  // namespace

TEST_F(DigestAkaExchange, ChallengeResponseSucceeds) {
    pana::aka_server_challenge state = challenge();
    const std::string www_authenticate = state.challenge().to_string();
    EXPECT_NE(www_authenticate.find("algorithm=AKAv1-MD5"), std::string::npos);
    EXPECT_NE(www_authenticate.find("qop=\"auth\""), std::string::npos);
    // The nonce is base64(RAND || AUTN).
    const pana::aka_nonce nonce = pana::aka_nonce::decode(state.challenge().nonce);
    EXPECT_EQ(nonce.rand, state.vector().rand);
    EXPECT_EQ(nonce.autn, state.vector().autn);

    const std::string authorization = answer(www_authenticate, pana::aka_status::authenticated);
    EXPECT_EQ(authorization.find("auts="), std::string::npos);
    std::error_code ec;
    const pana::aka_verification verdict = verify(state, authorization, ec);
    ASSERT_FALSE(ec) << ec.message();
    EXPECT_EQ(verdict.verdict, pana::aka_verdict::authenticated);
    // Both ends hold the same session keys.
    EXPECT_EQ(last_ck_, state.vector().ck);
    EXPECT_EQ(last_ik_, state.vector().ik);

    // A replay of the same Authorization (same nc) is refused.
    verify(state, authorization, ec);
    EXPECT_EQ(ec, pana::errc::digest_nonce_count_reused);
}

TEST_F(DigestAkaExchange, AkaV2WithAuthIntSucceeds) {
    pana::aka_challenge_options options;
    options.algorithm = pana::digest_algorithm::akav2_md5;
    options.offer_auth_int = true;
    options.server_data = {0xde, 0xad};
    pana::aka_server_challenge state = challenge(options);
    EXPECT_EQ(pana::aka_nonce::decode(state.challenge().nonce).server_data,
              (core::byte_vector{0xde, 0xad}));
    body_ = core::to_bytes("v=0\r\n");
    const std::string authorization =
        answer(state.challenge().to_string(), pana::aka_status::authenticated);
    EXPECT_NE(authorization.find("algorithm=AKAv2-MD5"), std::string::npos);
    std::error_code ec;
    EXPECT_EQ(verify(state, authorization, ec).verdict, pana::aka_verdict::authenticated);
    EXPECT_FALSE(ec) << ec.message();
}

TEST_F(DigestAkaExchange, ResynchronisationWhenTheUsimIsAhead) {
    // The USIM has accepted SQNs far beyond the HSS's counter (e.g. the HSS was restored from
    // an old backup): the HSS's next vector is too old for it.
    {
        std::vector<std::uint64_t> seq_ms(32, 0);
        seq_ms[7] = 200000;
        pana::usim_profile ahead = profile();
        std::error_code ec;
        ahead.window =
            pana::sqn_window::restore({}, seq_ms, pana::sqn::from_parts(200000, 7, 5), ec);
        ASSERT_FALSE(ec);
        card_ = pana::usim(ahead);
    }
    pana::aka_server_challenge first = challenge();
    const std::string refused =
        answer(first.challenge().to_string(), pana::aka_status::synchronisation_failure);
    EXPECT_NE(refused.find("auts=\""), std::string::npos);
    std::error_code ec;
    const pana::aka_verification verdict = verify(first, refused, ec);
    ASSERT_FALSE(ec) << ec.message();
    ASSERT_EQ(verdict.verdict, pana::aka_verdict::resynchronise);
    ASSERT_TRUE(verdict.auts.has_value());
    EXPECT_EQ(verdict.rand, first.vector().rand);

    const pana::sqn sqn_ms = home_.resynchronise(impi_, verdict.rand, *verdict.auts);
    EXPECT_EQ(sqn_ms, pana::sqn::from_parts(200000, 7, 5));

    pana::aka_server_challenge second = challenge();
    EXPECT_EQ(second.vector().sequence.seq(5), 200001u);
    const std::string authorization =
        answer(second.challenge().to_string(), pana::aka_status::authenticated);
    EXPECT_EQ(verify(second, authorization, ec).verdict, pana::aka_verdict::authenticated);
    EXPECT_FALSE(ec) << ec.message();
}

TEST_F(DigestAkaExchange, ResynchronisationAfterTheHssCounterWentBack) {
    pana::aka_server_challenge first = challenge();
    std::error_code ec;
    verify(first, answer(first.challenge().to_string(), pana::aka_status::authenticated), ec);
    ASSERT_FALSE(ec);
    // The HSS forgets the SQN it issued: its next vector repeats SEQ 1 / IND 1.
    store_.set_sqn(impi_, pana::sqn{}, ec);
    ASSERT_FALSE(ec);
    pana::aka_server_challenge stale = challenge();
    const pana::aka_verification verdict = verify(
        stale, answer(stale.challenge().to_string(), pana::aka_status::synchronisation_failure),
        ec);
    ASSERT_FALSE(ec);
    ASSERT_EQ(verdict.verdict, pana::aka_verdict::resynchronise);
    home_.resynchronise(impi_, verdict.rand, *verdict.auts);
    pana::aka_server_challenge retry = challenge();
    EXPECT_EQ(
        verify(retry, answer(retry.challenge().to_string(), pana::aka_status::authenticated), ec)
            .verdict,
        pana::aka_verdict::authenticated);
    EXPECT_FALSE(ec);
}

TEST_F(DigestAkaExchange, ReplayedAutnIsRefused) {
    pana::aka_server_challenge state = challenge();
    const std::string www_authenticate = state.challenge().to_string();
    answer(www_authenticate, pana::aka_status::authenticated);
    // An attacker replays the same challenge (RAND, AUTN) to the UE: SQN not fresh.
    const std::string second = answer(www_authenticate, pana::aka_status::synchronisation_failure);
    EXPECT_NE(second.find("auts="), std::string::npos);
}

TEST_F(DigestAkaExchange, WrongMacIsRefusedByTheUe) {
    pana::aka_server_challenge state = challenge();
    pana::digest_challenge forged = state.challenge();
    pana::aka_nonce nonce = pana::aka_nonce::decode(forged.nonce);
    nonce.autn[10] ^= 0x40;  // a bit of MAC-A
    forged.nonce = nonce.encode();
    pana::digest_client_request request;
    request.username = identity;
    request.request = {"REGISTER", register_uri, {}};
    std::error_code ec;
    pana::answer_aka_challenge(card_, forged, request, ec);
    EXPECT_EQ(ec, pana::errc::mac_failure);

    // A network that does not know K fails the same way.
    pana::vector_generator rogue;
    const pana::authentication_vector fake =
        rogue.generate(key_of(0x01), profile().opc, {0x80, 0x00}, pana::sqn::from_parts(50, 2, 5));
    pana::aka_server_challenge impostor(fake, identity, realm);
    pana::answer_aka_challenge(card_, impostor.challenge(), request, ec);
    EXPECT_EQ(ec, pana::errc::mac_failure);

    // Non-AKA challenges and broken nonces are reported.
    pana::digest_challenge md5_only = state.challenge();
    md5_only.algorithm = "MD5";
    pana::answer_aka_challenge(card_, md5_only, request, ec);
    EXPECT_EQ(ec, pana::errc::digest_unsupported);
    pana::digest_challenge short_nonce = state.challenge();
    short_nonce.nonce = "AAAA";
    pana::answer_aka_challenge(card_, short_nonce, request, ec);
    EXPECT_EQ(ec, pana::errc::bad_aka_nonce);
}

TEST_F(DigestAkaExchange, ServerRefusesWrongCredentials) {
    pana::aka_server_challenge state = challenge();
    const pana::digest_credentials good = pana::digest_credentials::parse(
        answer(state.challenge().to_string(), pana::aka_status::authenticated));
    const pana::digest_request request{"REGISTER", register_uri, {}};
    std::error_code ec;

    pana::digest_credentials wrong = good;
    wrong.response[0] = wrong.response[0] == '0' ? '1' : '0';
    state.verify(wrong, request, ec);
    EXPECT_EQ(ec, pana::errc::digest_response_mismatch);

    wrong = good;
    wrong.realm = "other.example.net";
    state.verify(wrong, request, ec);
    EXPECT_EQ(ec, pana::errc::digest_challenge_mismatch);

    wrong = good;
    wrong.username = "bob@ims.example.net";
    state.verify(wrong, request, ec);
    EXPECT_EQ(ec, pana::errc::digest_challenge_mismatch);

    state.verify(good, {"REGISTER", "sip:elsewhere.example.net", {}}, ec);
    EXPECT_EQ(ec, pana::errc::digest_challenge_mismatch);

    wrong = good;
    wrong.algorithm.reset();  // MD5
    state.verify(wrong, request, ec);
    EXPECT_EQ(ec, pana::errc::digest_challenge_mismatch);

    wrong = good;
    wrong.qop = "auth-int";  // not offered
    state.verify(wrong, request, ec);
    EXPECT_EQ(ec, pana::errc::digest_unsupported);

    // A response computed with the right RES but for another method fails.
    state.verify(good, {"INVITE", register_uri, {}}, ec);
    EXPECT_EQ(ec, pana::errc::digest_response_mismatch);

    // The genuine credentials still pass (failed attempts do not consume the nonce count).
    EXPECT_EQ(state.verify(good, request, ec).verdict, pana::aka_verdict::authenticated);
    EXPECT_FALSE(ec);
}
