// RFC 3893 identity bodies: CMS SignedData message/sipfrag made with a test PKI's client
// certificate (rfc822Name = IMPI) and verified against the CA, with one precise error per check.
#include <imsp2p/sip/identity_body.hpp>

#include <imsp2p/sip/error.hpp>

#include "imsp2p_test/certificates.hpp"

#include <gtest/gtest.h>

#include <string>

namespace sip = imsp2p::sip;
using namespace std::chrono_literals;

namespace {

constexpr char impi[] = "alice@ims.example";

class IdentityBody : public ::testing::Test {
  protected:
    void SetUp() override {
        request_.method = "REGISTER";
        request_.request_uri = "sip:ims.example";
        request_.from_uri = "sip:alice@ims.example";
        request_.to_uri = "sip:alice@ims.example";
        request_.call_id = "a84b4c76e66710";
        request_.cseq = 1;
        request_.contact = "sip:alice@127.0.0.1:5070";
        anchors_ = sip::identity_trust_anchors::from_file(pki_.ca().ca_file(), ec_);
        ASSERT_FALSE(ec_) << ec_.message();
        ASSERT_EQ(anchors_.size(), 1u);
    }

    sip::identity_body_expectation expectation() const {
        sip::identity_body_expectation expected;
        expected.impi = impi;
        expected.request = request_;
        expected.request.contact.clear();  // not compared
        expected.now = now_;
        return expected;
    }

    std::string make(const imsp2p_test::issued_certificate& signer) {
        std::error_code ec;
        std::string body = sip::make_identity_body(request_, signer.certificate_pem,
                                                   signer.private_key_pem, ec, now_);
        EXPECT_FALSE(ec) << ec.message();
        return body;
    }

    std::error_code verify(std::string_view body, const sip::identity_body_expectation& expected) {
        std::error_code ec = sip::errc::stack_failure;  // must be cleared on success
        const bool ok = sip::verify_identity_body(body, anchors_, expected, ec);
        EXPECT_EQ(ok, !ec);
        return ec;
    }

    imsp2p_test::test_pki pki_;
    imsp2p_test::issued_certificate client_ = pki_.issue_client(impi);
    sip::identity_body_request request_;
    sip::identity_trust_anchors anchors_;
    std::chrono::system_clock::time_point now_ = std::chrono::system_clock::now();
    std::error_code ec_;
};

TEST_F(IdentityBody, RoundTripVerifies) {
    const std::string body = make(client_);
    ASSERT_FALSE(body.empty());
    EXPECT_EQ(static_cast<unsigned char>(body[0]), 0x30u);  // DER SEQUENCE
    EXPECT_EQ(verify(body, expectation()), std::error_code{});
    // The IMPI is compared case-insensitively (rfc822Name is an e-mail address).
    auto upper = expectation();
    upper.impi = "ALICE@ims.example";
    EXPECT_EQ(verify(body, upper), std::error_code{});
}

TEST_F(IdentityBody, TamperedSipfragFailsTheSignature) {
    std::string body = make(client_);
    const auto at = body.find("a84b4c76e66710");
    ASSERT_NE(at, std::string::npos);  // the sipfrag is encapsulated in clear
    body[at] = 'b';
    EXPECT_EQ(verify(body, expectation()), sip::errc::identity_body_bad_signature);
}

TEST_F(IdentityBody, SignerFromAnotherCaIsUntrusted) {
    const auto stranger = pki_.issue_client_from_other_ca(impi);
    EXPECT_EQ(verify(make(stranger), expectation()), sip::errc::identity_body_untrusted_signer);
    // And anchors of the other CA do not trust the genuine UE.
    std::error_code ec;
    const auto other = sip::identity_trust_anchors::from_pem(pki_.other_ca().ca_pem(), ec);
    ASSERT_FALSE(ec);
    EXPECT_FALSE(sip::verify_identity_body(make(client_), other, expectation(), ec));
    EXPECT_EQ(ec, sip::errc::identity_body_untrusted_signer);
}

TEST_F(IdentityBody, CertificateOfAnotherImpiIsAMismatch) {
    const auto bob = pki_.issue_client("bob@ims.example");
    EXPECT_EQ(verify(make(bob), expectation()), sip::errc::identity_body_identity_mismatch);
    // A server certificate (dNSName only) names no IMPI either.
    const auto server = pki_.issue_server("pcscf.ims.example");
    EXPECT_EQ(verify(make(server), expectation()), sip::errc::identity_body_identity_mismatch);
}

TEST_F(IdentityBody, EachCoveredFieldMustMatchTheRequest) {
    const std::string body = make(client_);
    for (std::string sip::identity_body_request::*field :
         {&sip::identity_body_request::method, &sip::identity_body_request::request_uri,
          &sip::identity_body_request::from_uri, &sip::identity_body_request::to_uri,
          &sip::identity_body_request::call_id}) {
        auto expected = expectation();
        expected.request.*field += "x";
        EXPECT_EQ(verify(body, expected), sip::errc::identity_body_request_mismatch);
    }
    auto expected = expectation();
    expected.request.cseq = 2;
    EXPECT_EQ(verify(body, expected), sip::errc::identity_body_request_mismatch);
}

TEST_F(IdentityBody, DateOutsideTheWindowIsStale) {
    const std::string body = make(client_);
    auto later = expectation();
    later.now = now_ + 601s;
    EXPECT_EQ(verify(body, later), sip::errc::identity_body_stale);
    auto earlier = expectation();
    earlier.now = now_ - 601s;
    EXPECT_EQ(verify(body, earlier), sip::errc::identity_body_stale);
    auto inside = expectation();
    inside.now = now_ + 599s;
    EXPECT_EQ(verify(body, inside), std::error_code{});
    inside.window = 60s;
    EXPECT_EQ(verify(body, inside), sip::errc::identity_body_stale);
}

TEST_F(IdentityBody, GarbageIsMalformed) {
    EXPECT_EQ(verify("", expectation()), sip::errc::identity_body_malformed);
    EXPECT_EQ(verify("not a CMS object", expectation()), sip::errc::identity_body_malformed);
    const std::string body = make(client_);
    EXPECT_EQ(verify(body.substr(0, body.size() / 2), expectation()),
              sip::errc::identity_body_malformed);
    EXPECT_EQ(verify(body + "trailing", expectation()), sip::errc::identity_body_malformed);
    EXPECT_EQ(verify(std::string(100 * 1024, '\x30'), expectation()),
              sip::errc::identity_body_malformed);
}

TEST_F(IdentityBody, BadSignerMaterialIsRefused) {
    std::error_code ec;
    EXPECT_TRUE(
        sip::make_identity_body(request_, "garbage", client_.private_key_pem, ec, now_).empty());
    EXPECT_EQ(ec, sip::errc::identity_body_bad_signer);
    const auto bob = pki_.issue_client("bob@ims.example");
    EXPECT_TRUE(
        sip::make_identity_body(request_, client_.certificate_pem, bob.private_key_pem, ec, now_)
            .empty());
    EXPECT_EQ(ec, sip::errc::identity_body_bad_signer);
    EXPECT_THROW(sip::make_identity_body(request_, client_.certificate_pem, "x"),
                 std::system_error);
    auto broken = request_;
    broken.call_id = "a\r\nVia: evil";
    EXPECT_TRUE(
        sip::make_identity_body(broken, client_.certificate_pem, client_.private_key_pem, ec, now_)
            .empty());
    EXPECT_EQ(ec, sip::errc::identity_body_malformed);
}

TEST_F(IdentityBody, TrustAnchorsNeedACertificate) {
    std::error_code ec;
    EXPECT_EQ(sip::identity_trust_anchors::from_pem("nothing", ec).size(), 0u);
    EXPECT_EQ(ec, sip::errc::identity_body_bad_signer);
    EXPECT_EQ(sip::identity_trust_anchors::from_file(pki_.directory() / "missing.pem", ec).size(),
              0u);
    EXPECT_EQ(ec, sip::errc::identity_body_bad_signer);
    // Empty anchors trust nobody.
    EXPECT_FALSE(
        sip::verify_identity_body(make(client_), sip::identity_trust_anchors(), expectation(), ec));
    EXPECT_EQ(ec, sip::errc::identity_body_untrusted_signer);
}

}  // namespace
