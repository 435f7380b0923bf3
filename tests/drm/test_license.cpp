#include <imsp2p/drm/license.hpp>

#include <imsp2p/core/encoding.hpp>
#include <imsp2p/core/error.hpp>
#include <imsp2p/drm/error.hpp>

#include <gtest/gtest.h>

#include <chrono>
#include <string>
#include <system_error>

namespace core = imsp2p::core;
namespace drm = imsp2p::drm;
using json = nlohmann::json;
using namespace std::chrono_literals;

namespace {

const std::chrono::sys_seconds issued{std::chrono::seconds(1900000000)};

struct fixture {
    core::ed25519_private_key drm_key = core::ed25519_private_key::generate();
    drm::license_issuer issuer{drm_key, "drm-1", "https://drm.operator.example"};
    core::x25519_private_key device = core::x25519_private_key::generate();
    core::jwk device_public{device.public_key()};
    core::secret_bytes cek{core::random_bytes(32)};

    drm::license_claims claims() const {
        drm::license_claims claims;
        claims.subject = "sip:alice@ims.example";
        claims.doi = "10.5555/Movie.1";
        claims.kid = {1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16};
        claims.issued_at = issued;
        claims.expires_at = issued + 3600s;
        claims.rights.play_count = 3;
        claims.device_thumbprint = device_public.thumbprint();
        return claims;
    }

    drm::license_verifier verifier() const {
        core::jwk_set keys;
        keys.keys.push_back(issuer.public_jwk());
        return drm::license_verifier(keys);
    }

    std::string issue() const { return issuer.issue(claims(), device_public, cek); }
};

std::string b64u(const std::string& text) {
    return core::base64url_encode(core::as_bytes(text));
}

/** Signs an arbitrary payload as a license with the fixture's DRM key. */
std::string sign(const fixture& f, const json& payload, const json& header = nullptr) {
    json extra = header.is_null() ? json{{"kid", "drm-1"}, {"typ", drm::license_typ}} : header;
    return core::jws_sign(core::as_bytes(payload.dump()), f.drm_key, extra);
}

json payload_of(const std::string& compact) {
    const core::parsed_jws jws = core::jws_parse(compact);
    return json::parse(core::as_string_view(jws.payload));
}

std::error_code verify_error(const fixture& f, const std::string& compact,
                             std::chrono::system_clock::time_point now = issued + 10s) {
    std::error_code ec;
    (void)f.verifier().verify(compact, f.device, now, ec);
    return ec;
}

}  // namespace

TEST(License, IssueAndVerifyRoundTrip) {
    const fixture f;
    const std::string compact = f.issue();
    std::error_code ec;
    const json header = core::jose_protected_header(compact, ec);
    ASSERT_FALSE(ec);
    EXPECT_EQ(header, json::parse(R"({"alg":"EdDSA","kid":"drm-1","typ":"imsp2p-license+jwt"})"));

    const json payload = payload_of(compact);
    EXPECT_EQ(payload["kid"], "0102030405060708090a0b0c0d0e0f10");
    EXPECT_EQ(payload["iat"], 1900000000);
    EXPECT_EQ(payload["rights"], json::parse(R"({"play":{"count":3}})"));
    EXPECT_EQ(payload["cnf"]["jkt"], f.device_public.thumbprint());
    EXPECT_TRUE(payload["cek"].is_string());
    EXPECT_EQ(core::jwe_decrypt(payload["cek"].get<std::string>(), f.device), f.cek);
    const json cek_header = core::jose_protected_header(payload["cek"].get<std::string>(), ec);
    EXPECT_EQ(cek_header["alg"], "ECDH-ES+A256KW");
    EXPECT_EQ(cek_header["enc"], "A256GCM");

    const drm::verified_license license = f.verifier().verify(compact, f.device, issued + 10s);
    drm::license_claims expected = f.claims();
    expected.issuer = "https://drm.operator.example";
    expected.id = license.claims.id;
    EXPECT_EQ(license.claims.id.size(), 22u);  // 128 random bits, base64url
    EXPECT_EQ(license.claims, expected);
    EXPECT_EQ(license.cek, f.cek);

    // Two licenses get distinct ids.
    EXPECT_NE(drm::peek_license_claims(f.issue(), ec).id, license.claims.id);
}

TEST(License, IssuerFillsTheThumbprintAndCanonicalisesTheDoi) {
    const fixture f;
    drm::license_claims claims = f.claims();
    claims.device_thumbprint.clear();
    claims.doi = "https://doi.org/10.5555/Movie%2E1";
    claims.issuer = "drm-b";
    claims.id = "license-42";
    const std::string compact = f.issuer.issue(claims, core::jwk(f.device), f.cek);  // private jwk
    const drm::verified_license license = f.verifier().verify(compact, f.device, issued);
    EXPECT_EQ(license.claims.device_thumbprint, f.device_public.thumbprint());
    EXPECT_EQ(license.claims.doi, "10.5555/Movie.1");
    EXPECT_EQ(license.claims.issuer, "drm-b");
    EXPECT_EQ(license.claims.id, "license-42");
}

TEST(License, IssuerRefusesBadInput) {
    const fixture f;
    std::error_code ec;
    const auto other_device = core::jwk(core::x25519_private_key::generate().public_key());
    EXPECT_TRUE(f.issuer.issue(f.claims(), other_device, f.cek, ec).empty());
    EXPECT_EQ(ec, drm::errc::license_wrong_device);
    (void)f.issuer.issue(f.claims(), core::jwk(f.drm_key.public_key()), f.cek, ec);
    EXPECT_EQ(ec, core::errc::jwk_unsupported);
    (void)f.issuer.issue(f.claims(), f.device_public, core::secret_bytes(16), ec);
    EXPECT_EQ(ec, core::errc::bad_key_size);
    auto claims = f.claims();
    claims.expires_at = claims.issued_at;
    (void)f.issuer.issue(claims, f.device_public, f.cek, ec);
    EXPECT_EQ(ec, core::errc::invalid_argument);
    claims = f.claims();
    claims.doi = "11.5555/x";
    (void)f.issuer.issue(claims, f.device_public, f.cek, ec);
    EXPECT_EQ(ec, core::errc::invalid_argument);
    claims = f.claims();
    claims.subject.clear();
    (void)f.issuer.issue(claims, f.device_public, f.cek, ec);
    EXPECT_EQ(ec, core::errc::invalid_argument);
    claims = f.claims();
    claims.subject = "sip:\xff@ims.example";
    (void)f.issuer.issue(claims, f.device_public, f.cek, ec);
    EXPECT_EQ(ec, core::errc::invalid_argument);
    // A canonical DOI with a literal "%" is kept as it is.
    claims = f.claims();
    claims.doi = "10.5555/100%off";
    const std::string percent = f.issuer.issue(claims, f.device_public, f.cek, ec);
    ASSERT_FALSE(ec) << ec.message();
    EXPECT_EQ(f.verifier().verify(percent, f.device, issued).claims.doi, "10.5555/100%off");
    const drm::license_issuer no_issuer(f.drm_key, "k", "");
    (void)no_issuer.issue(f.claims(), f.device_public, f.cek, ec);
    EXPECT_EQ(ec, core::errc::invalid_argument);
    EXPECT_THROW((void)no_issuer.issue(f.claims(), f.device_public, f.cek), std::system_error);
}

TEST(License, TamperedPayloadOrSignatureIsBadSignature) {
    const fixture f;
    const std::string compact = f.issue();
    const auto first_dot = compact.find('.');
    const auto second_dot = compact.rfind('.');
    json payload = payload_of(compact);
    payload["rights"]["play"]["count"] = 1000;
    const std::string forged =
        compact.substr(0, first_dot + 1) + b64u(payload.dump()) + compact.substr(second_dot);
    EXPECT_EQ(verify_error(f, forged), drm::errc::license_bad_signature);

    std::string bad_signature = compact;
    bad_signature[second_dot + 5] = bad_signature[second_dot + 5] == 'A' ? 'B' : 'A';
    EXPECT_EQ(verify_error(f, bad_signature), drm::errc::license_bad_signature);
    EXPECT_FALSE(verify_error(f, compact));
}

TEST(License, OtherDrmKeyOrUnknownKidIsBadSignature) {
    const fixture f;
    const std::string compact = f.issue();
    drm::license_verifier other;
    other.add_key("drm-1", core::ed25519_private_key::generate().public_key());
    std::error_code ec;
    (void)other.verify(compact, f.device, issued, ec);
    EXPECT_EQ(ec, drm::errc::license_bad_signature);

    drm::license_verifier wrong_kid;
    wrong_kid.add_key("drm-2", f.drm_key.public_key());
    wrong_kid.add_key("drm-3", f.drm_key.public_key());
    (void)wrong_kid.verify(compact, f.device, issued, ec);
    EXPECT_EQ(ec, drm::errc::license_bad_signature);

    drm::license_verifier none;
    (void)none.verify(compact, f.device, issued, ec);
    EXPECT_EQ(ec, drm::errc::license_bad_signature);

    // Expected issuer.
    drm::license_verifier pinned = f.verifier();
    pinned.set_expected_issuer("https://drm.other.example");
    (void)pinned.verify(compact, f.device, issued, ec);
    EXPECT_EQ(ec, drm::errc::license_bad_signature);
    pinned.set_expected_issuer("https://drm.operator.example");
    (void)pinned.verify(compact, f.device, issued, ec);
    EXPECT_FALSE(ec);
}

TEST(License, KeySetLoadingSkipsX25519AndEncryptionKeys) {
    const fixture f;
    core::jwk_set keys;
    core::jwk enc(core::x25519_private_key::generate().public_key());
    enc.set_kid("enc");
    keys.keys.push_back(enc);
    core::jwk not_sig(core::ed25519_private_key::generate().public_key());
    not_sig.set_use("enc");
    keys.keys.push_back(not_sig);
    core::jwk no_kid(f.drm_key.public_key());
    keys.keys.push_back(no_kid);
    drm::license_verifier verifier(keys);
    EXPECT_EQ(verifier.key_count(), 1u);
    // The only key is under its thumbprint; the license names "drm-1": unknown.
    std::error_code ec;
    (void)verifier.verify(f.issue(), f.device, issued, ec);
    EXPECT_EQ(ec, drm::errc::license_bad_signature);
    // Without a header kid, a single trusted key is used.
    const std::string no_header_kid =
        sign(f, payload_of(f.issue()), {{"typ", std::string(drm::license_typ)}});
    (void)verifier.verify(no_header_kid, f.device, issued, ec);
    EXPECT_FALSE(ec) << ec.message();
    verifier.clear_keys();
    EXPECT_EQ(verifier.key_count(), 0u);
}

TEST(License, ExpiredAndNotYetValidWithLeeway) {
    const fixture f;
    const std::string compact = f.issue();
    drm::license_verifier verifier = f.verifier();
    EXPECT_EQ(verifier.leeway(), 60s);
    std::error_code ec;
    (void)verifier.verify(compact, f.device, issued + 3600s + 59s, ec);
    EXPECT_FALSE(ec);
    (void)verifier.verify(compact, f.device, issued + 3600s + 60s, ec);
    EXPECT_EQ(ec, drm::errc::license_expired);
    (void)verifier.verify(compact, f.device, issued - 60s, ec);
    EXPECT_FALSE(ec);
    (void)verifier.verify(compact, f.device, issued - 61s, ec);
    EXPECT_EQ(ec, drm::errc::license_not_yet_valid);
    verifier.set_leeway(-5s);
    EXPECT_EQ(verifier.leeway(), 0s);
    (void)verifier.verify(compact, f.device, issued + 3600s, ec);
    EXPECT_EQ(ec, drm::errc::license_expired);
    (void)verifier.verify(compact, f.device, issued - 1s, ec);
    EXPECT_EQ(ec, drm::errc::license_not_yet_valid);
    EXPECT_THROW((void)verifier.verify(compact, f.device, issued + 7200s), std::system_error);
}

TEST(License, OtherDeviceIsWrongDevice) {
    const fixture f;
    const std::string compact = f.issue();
    std::error_code ec;
    (void)f.verifier().verify(compact, core::x25519_private_key::generate(), issued, ec);
    EXPECT_EQ(ec, drm::errc::license_wrong_device);

    // A license whose cnf names device B but whose CEK is encrypted to device A: B cannot open.
    const core::x25519_private_key other = core::x25519_private_key::generate();
    json payload = payload_of(compact);
    payload["cnf"]["jkt"] = core::jwk(other.public_key()).thumbprint();
    (void)f.verifier().verify(sign(f, payload), other, issued, ec);
    EXPECT_EQ(ec, drm::errc::license_wrong_device);
}

TEST(License, MalformedLicensesAreRefusedPrecisely) {
    const fixture f;
    const json good = payload_of(f.issue());
    EXPECT_EQ(verify_error(f, "not a license"), drm::errc::license_malformed);
    EXPECT_EQ(verify_error(f, ""), drm::errc::license_malformed);
    // A ticket-typed JWS is not a license, even when signed by the DRM key.
    EXPECT_EQ(verify_error(f, sign(f, good, {{"kid", "drm-1"}, {"typ", "JWT"}})),
              drm::errc::license_malformed);
    EXPECT_EQ(verify_error(f, sign(f, good, {{"kid", "drm-1"}})), drm::errc::license_malformed);
    EXPECT_FALSE(verify_error(
        f, sign(f, good, {{"kid", "drm-1"}, {"typ", "Application/IMSP2P-License+JWT"}})));
    EXPECT_EQ(verify_error(f, sign(f, good, {{"kid", "drm-1"}, {"typ", "application/"}})),
              drm::errc::license_malformed);
    const auto without = [&](const char* name) {
        json payload = good;
        payload.erase(name);
        return sign(f, payload);
    };
    for (const char* name : {"iss", "sub", "doi", "kid", "iat", "exp", "jti", "cnf", "cek"})
        EXPECT_EQ(verify_error(f, without(name)), drm::errc::license_malformed) << name;
    EXPECT_FALSE(verify_error(f, without("rights")));  // absent rights: unconstrained
    const auto with = [&](const char* name, const json& value) {
        json payload = good;
        payload[name] = value;
        return sign(f, payload);
    };
    EXPECT_EQ(verify_error(f, with("kid", "0102")), drm::errc::license_malformed);
    EXPECT_EQ(verify_error(f, with("kid", "0102030405060708090A0B0C0D0E0F10")),
              drm::errc::license_malformed);
    EXPECT_EQ(verify_error(f, with("doi", "not a doi")), drm::errc::license_malformed);
    EXPECT_EQ(verify_error(f, with("iat", 1900000000.5)), drm::errc::license_malformed);
    EXPECT_EQ(verify_error(f, with("exp", 1900000000)), drm::errc::license_malformed);
    EXPECT_EQ(verify_error(f, with("cnf", json{{"jkt", "short"}})), drm::errc::license_malformed);
    EXPECT_EQ(verify_error(f, with("sub", "")), drm::errc::license_malformed);
    EXPECT_EQ(verify_error(f, with("rights", json{{"play", {{"count", 0}}}})),
              drm::errc::rights_malformed);
    EXPECT_EQ(verify_error(f, with("cek", "a.b.c.d.e")), drm::errc::license_malformed);
    const std::string short_cek = core::jwe_encrypt(core::random_bytes(16), f.device.public_key());
    EXPECT_EQ(verify_error(f, with("cek", short_cek)), drm::errc::license_malformed);
    // Unknown claims are ignored.
    EXPECT_FALSE(verify_error(f, with("x-operator", json{{"a", 1}})));
    // Duplicate member names are refused.
    const std::string text = good.dump();
    const std::string duplicated = "{\"sub\":\"sip:mallory@ims.example\"," + text.substr(1);
    EXPECT_EQ(verify_error(f, core::jws_sign(core::as_bytes(duplicated), f.drm_key,
                                             {{"kid", "drm-1"}, {"typ", drm::license_typ}})),
              drm::errc::license_malformed);
}

TEST(License, ClaimsJsonRoundTripAndPeek) {
    const fixture f;
    drm::license_claims claims = f.claims();
    claims.issuer = "drm";
    claims.id = "j";
    EXPECT_EQ(drm::license_claims::from_json(claims.to_json()), claims);
    std::error_code ec;
    (void)drm::license_claims::from_json(json::array(), ec);
    EXPECT_EQ(ec, drm::errc::license_malformed);
    EXPECT_THROW((void)drm::license_claims::from_json(json::object()), std::system_error);
    const drm::license_claims peeked = drm::peek_license_claims(f.issue(), ec);
    EXPECT_FALSE(ec);
    EXPECT_EQ(peeked.doi, "10.5555/Movie.1");
    (void)drm::peek_license_claims("x.y.z", ec);
    EXPECT_EQ(ec, drm::errc::license_malformed);
}

TEST(License, MatchesContentByKidAndDoi) {
    const fixture f;
    const drm::verified_license license = f.verifier().verify(f.issue(), f.device, issued);
    drm::container_header header;
    header.kid = f.claims().kid;
    std::error_code ec = drm::errc::license_wrong_content;
    drm::check_license_matches(license, header, ec);
    EXPECT_FALSE(ec);
    header.kid[15] ^= 1;
    drm::check_license_matches(license, header, ec);
    EXPECT_EQ(ec, drm::errc::license_wrong_content);

    const drm::content_kid kid = f.claims().kid;
    drm::check_license_matches(license.claims, "doi:10.5555/MOVIE.1", kid, ec);
    EXPECT_FALSE(ec);
    drm::check_license_matches(license.claims, "10.5555/Movie.2", kid, ec);
    EXPECT_EQ(ec, drm::errc::license_wrong_content);
    drm::check_license_matches(license.claims, "garbage", kid, ec);
    EXPECT_EQ(ec, drm::errc::license_wrong_content);
    drm::check_license_matches(license.claims, "", kid, ec);
    EXPECT_FALSE(ec);
}
