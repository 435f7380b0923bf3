#include <imsp2p/core/ticket.hpp>

#include <imsp2p/core/encoding.hpp>
#include <imsp2p/core/error.hpp>

#include <gtest/gtest.h>

#include <algorithm>
#include <array>
#include <atomic>
#include <memory>
#include <string>
#include <thread>
#include <vector>

namespace {

using namespace std::chrono_literals;
using imsp2p::core::ed25519_private_key;
using imsp2p::core::errc;
using imsp2p::core::ticket_claims;
using imsp2p::core::ticket_issuer;
using imsp2p::core::ticket_role;
using imsp2p::core::ticket_time;
using imsp2p::core::ticket_verifier;
using imsp2p::core::verified_ticket_cache;
using nlohmann::json;

std::error_code code(errc e) {
    return imsp2p::core::make_error_code(e);
}

const std::string v1_hash = "0123456789abcdef0123456789abcdef01234567";
const std::string v2_hash = "89abcdef0123456789abcdef0123456789abcdef0123456789abcdef01234567";
const ticket_time issued{1'795'000'000s};
const auto at = [](std::chrono::seconds offset) {
    return std::chrono::system_clock::time_point(issued + offset);
};

ed25519_private_key key_from(std::uint8_t fill) {
    std::array<std::uint8_t, 32> seed{};
    seed.fill(fill);
    return ed25519_private_key::from_seed(seed);
}

ticket_claims leech_claims() {
    ticket_claims claims;
    claims.subject = "sip:alice@ims.example";
    claims.audience = "tracker";
    claims.issued_at = issued;
    claims.expires_at = issued + 1h;
    claims.infohashes = {v1_hash, v2_hash};
    claims.role = ticket_role::leech;
    return claims;
}

class TicketTest : public ::testing::Test {
  protected:
    TicketTest() : issuer_(key_from(7), "as-2026", "sip:as.ims.example"), verifier_("tracker") {
        verifier_.add_key("as-2026", issuer_.public_key());
    }

    /** Signs an arbitrary payload with the trusted key, bypassing the issuer's checks. */
    std::string sign_raw(const json& payload, json header = {{"kid", "as-2026"}}) const {
        return imsp2p::core::jws_sign(imsp2p::core::as_bytes(payload.dump()), key_from(7), header);
    }
    json valid_payload() const { return leech_claims_with_defaults().to_json(); }
    static ticket_claims leech_claims_with_defaults() {
        ticket_claims claims = leech_claims();
        claims.issuer = "sip:as.ims.example";
        claims.id = "ticket-1";
        return claims;
    }
    std::error_code verify_error(const std::string& token, std::chrono::seconds offset = 0s) const {
        std::error_code ec;
        verifier_.verify(token, at(offset), ec);
        return ec;
    }

    ticket_issuer issuer_;
    ticket_verifier verifier_;
};

// --- issue and verify ----------------------------------------------------------------------

TEST_F(TicketTest, IssueVerifyRoundTrip) {
    const std::string token = issuer_.issue(leech_claims());
    EXPECT_EQ(std::count(token.begin(), token.end(), '.'), 2);

    std::error_code ec;
    const json header = imsp2p::core::jose_protected_header(token, ec);
    ASSERT_FALSE(ec);
    EXPECT_EQ(header, (json{{"alg", "EdDSA"}, {"kid", "as-2026"}, {"typ", "JWT"}}));

    const ticket_claims claims = verifier_.verify(token, at(10s), ec);
    ASSERT_FALSE(ec) << ec.message();
    EXPECT_EQ(claims.issuer, "sip:as.ims.example");  // the issuer's default
    EXPECT_EQ(claims.subject, "sip:alice@ims.example");
    EXPECT_EQ(claims.audience, "tracker");
    EXPECT_EQ(claims.issued_at, issued);
    EXPECT_EQ(claims.expires_at, issued + 1h);
    EXPECT_EQ(claims.infohashes, (std::vector<std::string>{v1_hash, v2_hash}));
    EXPECT_EQ(claims.role, ticket_role::leech);
    EXPECT_EQ(claims.id.size(), 22U);  // 128 random bits, base64url
    EXPECT_FALSE(claims.not_before);

    // The JSON claim names and values are the documented ones.
    const auto parsed = imsp2p::core::jws_parse(token);
    const json payload = json::parse(imsp2p::core::as_string_view(parsed.payload));
    EXPECT_EQ(payload["role"], "leech");
    EXPECT_EQ(payload["ih"], json({v1_hash, v2_hash}));
    EXPECT_EQ(payload["iat"], 1795000000);
    EXPECT_EQ(payload["exp"], 1795003600);
}

TEST_F(TicketTest, IssueFillsRandomIdsAndKeepsGivenOnes) {
    const std::string first = issuer_.issue(leech_claims());
    const std::string second = issuer_.issue(leech_claims());
    const auto id = [this](const std::string& token) { return verifier_.verify(token, at(0s)).id; };
    EXPECT_NE(id(first), id(second));
    ticket_claims claims = leech_claims();
    claims.id = "fixed-id";
    claims.issuer = "sip:other-as.ims.example";
    const ticket_claims verified = verifier_.verify(issuer_.issue(claims), at(0s));
    EXPECT_EQ(verified.id, "fixed-id");
    EXPECT_EQ(verified.issuer, "sip:other-as.ims.example");
}

TEST_F(TicketTest, AllOptionalClaimsRoundTrip) {
    ticket_claims claims = leech_claims();
    claims.audience = "drm";
    claims.role = ticket_role::operator_seed;
    claims.not_before = issued - 5s;
    claims.doi = "10.5555/film.42";
    claims.confirmation_thumbprint = "NzbLsXh8uDCcd-6MNwXF4W_7noWXFZAfHkxZsRGC9Xs";
    claims.infohashes = {"ABCDEF0123456789ABCDEF0123456789ABCDEF01"};  // lower-cased on issue
    claims.extra = {{"price", {{"amount", 199}, {"currency", "EUR"}}}, {"request", "r-1"}};
    ticket_verifier drm("drm");
    drm.add_key("as-2026", issuer_.public_key());
    const ticket_claims verified = drm.verify(issuer_.issue(claims), at(0s));
    EXPECT_EQ(verified.role, ticket_role::operator_seed);
    EXPECT_EQ(verified.not_before, issued - 5s);
    EXPECT_EQ(verified.doi, "10.5555/film.42");
    EXPECT_EQ(verified.confirmation_thumbprint, claims.confirmation_thumbprint);
    EXPECT_EQ(verified.infohashes,
              (std::vector<std::string>{"abcdef0123456789abcdef0123456789abcdef01"}));
    EXPECT_EQ(verified.extra, claims.extra);
    EXPECT_EQ(verified.to_json()["cnf"], (json{{"jkt", *claims.confirmation_thumbprint}}));
}

TEST_F(TicketTest, IssueRejectsBadClaims) {
    std::error_code ec;
    const auto expect_invalid = [&](ticket_claims claims) {
        EXPECT_TRUE(issuer_.issue(claims, ec).empty());
        EXPECT_EQ(ec, code(errc::invalid_argument));
    };
    ticket_claims claims = leech_claims();
    claims.subject.clear();
    expect_invalid(claims);
    claims = leech_claims();
    claims.audience.clear();
    expect_invalid(claims);
    claims = leech_claims();
    claims.expires_at = claims.issued_at;
    expect_invalid(claims);
    claims = leech_claims();
    claims.infohashes = {"xyz"};
    expect_invalid(claims);
    claims = leech_claims();
    claims.extra = {{"exp", 5}};
    expect_invalid(claims);
    claims = leech_claims();
    claims.extra = json::array();
    expect_invalid(claims);
    claims = leech_claims();
    claims.confirmation_thumbprint = "not a thumbprint";
    expect_invalid(claims);
    claims = leech_claims();
    claims.subject = std::string("\xff\xfe", 2);  // not UTF-8
    expect_invalid(claims);

    const ticket_issuer anonymous(key_from(7), "kid");  // no default issuer
    anonymous.issue(leech_claims(), ec);
    EXPECT_EQ(ec, code(errc::invalid_argument));
    const ticket_issuer keyless(ed25519_private_key(), "kid", "iss");
    keyless.issue(leech_claims(), ec);
    EXPECT_EQ(ec, code(errc::bad_key));
    try {
        ticket_claims bad = leech_claims();
        bad.subject.clear();
        issuer_.issue(bad);
        FAIL() << "expected an exception";
    } catch (const std::system_error& e) {
        EXPECT_NE(std::string(e.what()).find("\"sub\""), std::string::npos) << e.what();
    }
}

// --- verification failures --------------------------------------------------------------------

TEST_F(TicketTest, MalformedTokens) {
    const std::string good = issuer_.issue(leech_claims());
    for (const std::string& bad :
         {std::string(), std::string("abc"), std::string("a.b.c"), std::string("..."), good + ".x",
          good.substr(0, good.rfind('.'))}) {
        EXPECT_EQ(verify_error(bad), code(errc::ticket_malformed)) << bad;
    }
    // alg "none" is never accepted.
    const std::string unsigned_token =
        imsp2p::core::base64url_encode(
            imsp2p::core::as_bytes(R"({"alg":"none","kid":"as-2026"})")) +
        "." + imsp2p::core::base64url_encode(imsp2p::core::as_bytes(valid_payload().dump())) + ".";
    EXPECT_EQ(verify_error(unsigned_token), code(errc::ticket_malformed));
    // Signed by the trusted key, but not a ticket: wrong typ, non-JSON or non-object payload.
    EXPECT_EQ(verify_error(sign_raw(valid_payload(), {{"kid", "as-2026"}, {"typ", "license+jwt"}})),
              code(errc::ticket_malformed));
    EXPECT_EQ(verify_error(imsp2p::core::jws_sign(imsp2p::core::as_bytes("not json"), key_from(7),
                                                  {{"kid", "as-2026"}})),
              code(errc::ticket_malformed));
    EXPECT_EQ(verify_error(sign_raw(json::array({1, 2}))), code(errc::ticket_malformed));
    EXPECT_EQ(verify_error(sign_raw(valid_payload(), {{"kid", 5}})), code(errc::ticket_malformed));
    EXPECT_FALSE(verify_error(sign_raw(valid_payload(), {{"kid", "as-2026"}, {"typ", "jwt"}})));
}

TEST_F(TicketTest, DuplicateClaimNamesAreRejected) {
    // Two "aud" members: parsers that keep the first or the last would disagree.
    std::string text = valid_payload().dump();
    text.insert(1, "\"aud\":\"drm\",");
    const std::string token =
        imsp2p::core::jws_sign(imsp2p::core::as_bytes(text), key_from(7), {{"kid", "as-2026"}});
    EXPECT_EQ(verify_error(token), code(errc::ticket_malformed));
}

TEST_F(TicketTest, UnknownKeyAndBadSignature) {
    const ticket_issuer stranger(key_from(9), "as-2026", "sip:as.ims.example");
    EXPECT_EQ(verify_error(stranger.issue(leech_claims())), code(errc::ticket_bad_signature));

    const ticket_issuer other_kid(key_from(7), "as-2025", "sip:as.ims.example");
    EXPECT_EQ(verify_error(other_kid.issue(leech_claims())), code(errc::ticket_unknown_key));

    // Without "kid": accepted only while exactly one key is trusted.
    const ticket_issuer no_kid(key_from(7), "", "sip:as.ims.example");
    const std::string token = no_kid.issue(leech_claims());
    EXPECT_FALSE(verify_error(token));
    verifier_.add_key("as-2027", key_from(8).public_key());
    EXPECT_EQ(verify_error(token), code(errc::ticket_unknown_key));

    // Tampered payload with the original signature.
    const std::string good = issuer_.issue(leech_claims());
    json payload = valid_payload();
    payload["role"] = "operator-seed";
    const std::size_t first_dot = good.find('.');
    const std::size_t second_dot = good.find('.', first_dot + 1);
    const std::string tampered =
        good.substr(0, first_dot + 1) +
        imsp2p::core::base64url_encode(imsp2p::core::as_bytes(payload.dump())) +
        good.substr(second_dot);
    EXPECT_EQ(verify_error(tampered), code(errc::ticket_bad_signature));

    ticket_verifier keyless("tracker");
    std::error_code ec;
    keyless.verify(good, at(0s), ec);
    EXPECT_EQ(ec, code(errc::ticket_unknown_key));
}

TEST_F(TicketTest, WrongAudienceAndIssuer) {
    const std::string token = issuer_.issue(leech_claims());
    ticket_verifier drm("drm");
    drm.add_key("as-2026", issuer_.public_key());
    std::error_code ec;
    drm.verify(token, at(0s), ec);
    EXPECT_EQ(ec, code(errc::ticket_wrong_audience));

    verifier_.set_expected_issuer("sip:as.ims.example");
    EXPECT_FALSE(verify_error(token));
    verifier_.set_expected_issuer("sip:as.other.example");
    EXPECT_EQ(verify_error(token), code(errc::ticket_wrong_issuer));
    try {
        verifier_.verify(token, at(0s));
        FAIL() << "expected an exception";
    } catch (const std::system_error& e) {
        EXPECT_EQ(e.code(), code(errc::ticket_wrong_issuer));
        EXPECT_NE(std::string(e.what()).find("sip:as.other.example"), std::string::npos);
    }
}

TEST_F(TicketTest, AudienceArrayIsAccepted) {
    json payload = valid_payload();
    payload["aud"] = {"drm", "tracker"};
    std::error_code ec;
    const ticket_claims claims = verifier_.verify(sign_raw(payload), at(0s), ec);
    ASSERT_FALSE(ec) << ec.message();
    EXPECT_EQ(claims.audience, "tracker");
    payload["aud"] = {"drm", "index"};
    EXPECT_EQ(verify_error(sign_raw(payload)), code(errc::ticket_wrong_audience));
}

TEST_F(TicketTest, ExpiryAtTheLeewayEdge) {
    const std::string token = issuer_.issue(leech_claims());  // exp = issued + 1h
    EXPECT_EQ(verifier_.leeway(), 60s);
    EXPECT_FALSE(verify_error(token, 1h));        // at exp, within the leeway
    EXPECT_FALSE(verify_error(token, 1h + 59s));  // last second within the leeway
    EXPECT_EQ(verify_error(token, 1h + 60s), code(errc::ticket_expired));
    std::error_code ec;
    verifier_.verify(token, at(1h + 59s) + 999ms, ec);  // sub-second: still the same second
    EXPECT_FALSE(ec);

    verifier_.set_leeway(0s);
    EXPECT_FALSE(verify_error(token, 1h - 1s));
    EXPECT_EQ(verify_error(token, 1h), code(errc::ticket_expired));
    verifier_.set_leeway(-5s);  // clamped to zero
    EXPECT_EQ(verifier_.leeway(), 0s);
}

TEST_F(TicketTest, NotBeforeAndIssuedInTheFuture) {
    ticket_claims claims = leech_claims();
    claims.not_before = issued + 10min;
    const std::string token = issuer_.issue(claims);
    EXPECT_EQ(verify_error(token, 10min - 61s), code(errc::ticket_not_yet_valid));
    EXPECT_FALSE(verify_error(token, 10min - 60s));

    // iat ahead of the verifier's clock: accepted within the leeway only.
    const std::string fresh = issuer_.issue(leech_claims());
    EXPECT_FALSE(verify_error(fresh, -60s));
    EXPECT_EQ(verify_error(fresh, -61s), code(errc::ticket_not_yet_valid));
}

TEST_F(TicketTest, MaximumLifetime) {
    ticket_claims claims = leech_claims();
    claims.expires_at = issued + 48h;
    const std::string token = issuer_.issue(claims);
    EXPECT_FALSE(verify_error(token));
    verifier_.set_max_lifetime(24h);
    EXPECT_EQ(verify_error(token), code(errc::ticket_bad_claim));
    verifier_.set_max_lifetime(std::nullopt);
    EXPECT_FALSE(verify_error(token));
}

TEST_F(TicketTest, MissingClaims) {
    for (const char* name : {"iss", "sub", "aud", "iat", "exp", "jti"}) {
        json payload = valid_payload();
        payload.erase(name);
        EXPECT_EQ(verify_error(sign_raw(payload)), code(errc::ticket_missing_claim)) << name;
    }
}

TEST_F(TicketTest, BadClaims) {
    const std::vector<std::pair<const char*, json>> cases{
        {"iss", 5},
        {"sub", ""},
        {"aud", json::array()},
        {"aud", {"tracker", 7}},
        {"iat", "1795000000"},
        {"exp", -1},
        {"exp", 253402300800},
        {"exp", 1795000000},  // not after iat
        {"nbf", nullptr},
        {"jti", json::object()},
        {"ih", v1_hash},                                       // a string, not an array
        {"ih", {"0123456789ABCDEF0123456789ABCDEF01234567"}},  // upper case
        {"ih", {"0123"}},
        {"role", "admin"},
        {"role", 1},
        {"doi", ""},
        {"cnf", {{"kid", "x"}}},
        {"cnf", {{"jkt", "short"}}},
    };
    for (const auto& [name, value] : cases) {
        json payload = valid_payload();
        payload[name] = value;
        EXPECT_EQ(verify_error(sign_raw(payload)), code(errc::ticket_bad_claim))
            << name << " = " << value.dump();
    }
}

TEST_F(TicketTest, FractionalDatesRoundToTheStricterSide) {
    json payload = valid_payload();
    payload["iat"] = 1795000000.5;
    payload["exp"] = 1795003600.9;
    payload["nbf"] = 1795000000.1;
    const ticket_claims claims = verifier_.verify(sign_raw(payload), at(1s));
    EXPECT_EQ(claims.issued_at, issued + 1s);
    EXPECT_EQ(claims.not_before, issued + 1s);
    EXPECT_EQ(claims.expires_at, issued + 1h);
}

TEST_F(TicketTest, FarFutureDatesDoNotOverflow) {
    ticket_claims claims = leech_claims();
    claims.expires_at = ticket_time{253402300799s};  // 9999-12-31T23:59:59Z
    const std::string token = issuer_.issue(claims);
    EXPECT_FALSE(verify_error(token));
    std::error_code ec;
    verifier_.verify(token, std::chrono::system_clock::time_point::max(), ec);
    EXPECT_FALSE(ec);  // year 2262 is still before year 9999
    verifier_.verify(token, std::chrono::system_clock::time_point::min(), ec);
    EXPECT_EQ(ec, code(errc::ticket_not_yet_valid));  // issued long after that
}

TEST_F(TicketTest, VerifierFromJwkSet) {
    imsp2p::core::jwk_set keys;
    keys.keys.push_back(issuer_.public_jwk());
    keys.keys.push_back(
        imsp2p::core::jwk(imsp2p::core::x25519_private_key::generate().public_key()));
    imsp2p::core::jwk no_kid(key_from(9).public_key());
    keys.keys.push_back(no_kid);
    const ticket_verifier from_set("tracker", keys);
    EXPECT_EQ(from_set.key_count(), 2U);  // the X25519 key is skipped
    EXPECT_EQ(issuer_.public_jwk().kid(), "as-2026");
    EXPECT_EQ(issuer_.public_jwk().use(), "sig");

    std::error_code ec;
    from_set.verify(issuer_.issue(leech_claims()), at(0s), ec);
    EXPECT_FALSE(ec);
    // A key published without "kid" is known by its RFC 7638 thumbprint.
    const ticket_issuer by_thumbprint(key_from(9), no_kid.thumbprint(), "sip:as.ims.example");
    from_set.verify(by_thumbprint.issue(leech_claims()), at(0s), ec);
    EXPECT_FALSE(ec);
}

TEST_F(TicketTest, ClaimsJsonRoundTrip) {
    ticket_claims claims = leech_claims_with_defaults();
    claims.doi = "10.1/x";
    claims.extra = {{"n", 1.5}};
    const ticket_claims again = ticket_claims::from_json(claims.to_json());
    EXPECT_EQ(again, claims);
    std::error_code ec;
    ticket_claims::from_json(json::array(), ec);
    EXPECT_EQ(ec, code(errc::ticket_malformed));
    EXPECT_THROW(ticket_claims::from_json(json::object()), std::system_error);
}

// --- infohash and role helpers -------------------------------------------------------------------

TEST(TicketHelpers, CoversInfohash) {
    ticket_claims claims;
    claims.infohashes = {v1_hash, v2_hash};
    EXPECT_TRUE(imsp2p::core::covers_infohash(claims, v1_hash));
    EXPECT_TRUE(imsp2p::core::covers_infohash(claims, v2_hash));
    EXPECT_TRUE(imsp2p::core::covers_infohash(claims, v2_hash.substr(0, 40)));  // BEP 52 view
    EXPECT_TRUE(imsp2p::core::covers_infohash(claims, "0123456789ABCDEF0123456789ABCDEF01234567"));
    EXPECT_FALSE(imsp2p::core::covers_infohash(claims, v1_hash.substr(0, 39) + "8"));
    EXPECT_FALSE(imsp2p::core::covers_infohash(claims, v1_hash.substr(0, 38)));
    EXPECT_FALSE(imsp2p::core::covers_infohash(claims, v1_hash.substr(0, 39) + "g"));
    EXPECT_FALSE(imsp2p::core::covers_infohash(claims, std::string_view()));

    const auto raw_v2 = imsp2p::core::from_hex(v2_hash);
    EXPECT_TRUE(imsp2p::core::covers_infohash(claims, imsp2p::core::byte_view(raw_v2)));
    EXPECT_TRUE(imsp2p::core::covers_infohash(claims, imsp2p::core::byte_view(raw_v2).first(20)));
    EXPECT_FALSE(imsp2p::core::covers_infohash(claims, imsp2p::core::byte_view(raw_v2).first(19)));
    const auto raw_v1 = imsp2p::core::from_hex(v1_hash);
    EXPECT_TRUE(imsp2p::core::covers_infohash(claims, imsp2p::core::byte_view(raw_v1)));

    std::error_code ec;
    imsp2p::core::require_infohash(claims, v1_hash, ec);
    EXPECT_FALSE(ec);
    imsp2p::core::require_infohash(claims, std::string(40, '0'), ec);
    EXPECT_EQ(ec, code(errc::ticket_wrong_infohash));
    EXPECT_FALSE(imsp2p::core::covers_infohash(ticket_claims{}, v1_hash));
}

TEST(TicketHelpers, Roles) {
    EXPECT_EQ(imsp2p::core::to_string(ticket_role::operator_seed), "operator-seed");
    EXPECT_EQ(imsp2p::core::parse_ticket_role("operator-seed"), ticket_role::operator_seed);
    EXPECT_EQ(imsp2p::core::parse_ticket_role("Seed"), std::nullopt);

    ticket_claims claims;
    EXPECT_FALSE(imsp2p::core::may_download(claims));
    claims.role = ticket_role::leech;
    EXPECT_TRUE(imsp2p::core::may_download(claims));
    EXPECT_FALSE(imsp2p::core::may_seed(claims));
    claims.role = ticket_role::seed;
    EXPECT_TRUE(imsp2p::core::may_seed(claims));
    claims.role = ticket_role::service;
    EXPECT_FALSE(imsp2p::core::may_download(claims));

    std::error_code ec;
    imsp2p::core::require_role(claims, {ticket_role::service}, ec);
    EXPECT_FALSE(ec);
    imsp2p::core::require_role(claims, {ticket_role::seed, ticket_role::operator_seed}, ec);
    EXPECT_EQ(ec, code(errc::ticket_role_not_allowed));
    imsp2p::core::require_role(ticket_claims{}, {ticket_role::leech}, ec);
    EXPECT_EQ(ec, code(errc::ticket_role_not_allowed));
}

// --- cache -----------------------------------------------------------------------------------

TEST_F(TicketTest, CacheHitSkipsVerificationButNotClaimChecks) {
    verified_ticket_cache cache(8);
    const std::string token = issuer_.issue(leech_claims());
    const ticket_claims first = cache.verify(verifier_, token, at(0s));
    EXPECT_EQ(cache.misses(), 1U);
    EXPECT_EQ(cache.hits(), 0U);
    const ticket_claims second = cache.verify(verifier_, token, at(1s));
    EXPECT_EQ(cache.hits(), 1U);
    EXPECT_EQ(cache.misses(), 1U);
    EXPECT_EQ(first, second);
    EXPECT_EQ(cache.size(), 1U);

    // A hit still checks the audience of the verifier it is asked with.
    ticket_verifier drm("drm");
    drm.add_key("as-2026", issuer_.public_key());
    std::error_code ec;
    cache.verify(drm, token, at(1s), ec);
    EXPECT_EQ(ec, code(errc::ticket_wrong_audience));

    // Failures are not cached.
    const ticket_issuer stranger(key_from(9), "as-2026", "sip:as.ims.example");
    const std::string forged = stranger.issue(leech_claims());
    cache.verify(verifier_, forged, at(0s), ec);
    EXPECT_EQ(ec, code(errc::ticket_bad_signature));
    cache.verify(verifier_, forged, at(0s), ec);
    EXPECT_EQ(ec, code(errc::ticket_bad_signature));
    EXPECT_EQ(cache.size(), 1U);
    EXPECT_THROW(cache.verify(verifier_, forged, at(0s)), std::system_error);

    // A hit does not check the signature again: it still passes once the key is gone (which is
    // why the cache must be cleared when the trusted keys change).
    ticket_verifier forgetful("tracker");
    EXPECT_EQ(cache.verify(forgetful, token, at(2s)), first);
    cache.clear();
    std::error_code cleared;
    cache.verify(forgetful, token, at(2s), cleared);
    EXPECT_EQ(cleared, code(errc::ticket_unknown_key));
}

TEST_F(TicketTest, CacheEvictsLeastRecentlyUsed) {
    verified_ticket_cache cache(2);
    EXPECT_EQ(cache.capacity(), 2U);
    const std::string a = issuer_.issue(leech_claims());
    const std::string b = issuer_.issue(leech_claims());
    const std::string c = issuer_.issue(leech_claims());
    cache.verify(verifier_, a, at(0s));
    cache.verify(verifier_, b, at(0s));
    cache.verify(verifier_, a, at(0s));  // hit: a is now the most recent
    cache.verify(verifier_, c, at(0s));  // evicts b
    EXPECT_EQ(cache.size(), 2U);
    EXPECT_EQ(cache.hits(), 1U);
    cache.verify(verifier_, a, at(0s));
    EXPECT_EQ(cache.hits(), 2U);
    cache.verify(verifier_, b, at(0s));  // was evicted: verified again
    EXPECT_EQ(cache.hits(), 2U);
    EXPECT_EQ(cache.misses(), 4U);
    cache.clear();
    EXPECT_EQ(cache.size(), 0U);
}

TEST_F(TicketTest, CacheDropsExpiredEntries) {
    verified_ticket_cache cache(4);
    const std::string token = issuer_.issue(leech_claims());
    cache.verify(verifier_, token, at(0s));
    std::error_code ec;
    cache.verify(verifier_, token, at(1h + 59s), ec);  // within the leeway: a hit
    EXPECT_FALSE(ec);
    EXPECT_EQ(cache.hits(), 1U);
    cache.verify(verifier_, token, at(1h + 60s), ec);
    EXPECT_EQ(ec, code(errc::ticket_expired));
    EXPECT_EQ(cache.size(), 0U);
}

TEST_F(TicketTest, CacheWithZeroCapacityOnlyVerifies) {
    verified_ticket_cache cache(0);
    const std::string token = issuer_.issue(leech_claims());
    cache.verify(verifier_, token, at(0s));
    cache.verify(verifier_, token, at(0s));
    EXPECT_EQ(cache.size(), 0U);
    EXPECT_EQ(cache.hits(), 0U);
    EXPECT_EQ(cache.misses(), 2U);
}

TEST_F(TicketTest, CacheNeverServesATokenThatDiffersInAnyByte) {
    verified_ticket_cache cache(64);
    const std::string token = issuer_.issue(leech_claims());
    std::error_code first_ec;
    ASSERT_NE(cache.verify_shared(verifier_, token, at(0s), first_ec), nullptr);
    ASSERT_EQ(cache.size(), 1U);
    // Every single-byte change, in the header, the payload and the signature, plus a token cut
    // short by one character and one with a character appended: never a hit.
    std::vector<std::string> variants;
    for (std::size_t at_byte = 0; at_byte < token.size(); ++at_byte) {
        std::string changed = token;
        changed[at_byte] = changed[at_byte] == 'A' ? 'B' : 'A';
        variants.push_back(std::move(changed));
    }
    variants.push_back(token.substr(0, token.size() - 1));
    variants.push_back(token + "A");
    variants.push_back(token + '\0');
    for (const std::string& variant : variants) {
        const std::uint64_t hits = cache.hits();
        std::error_code ec;
        const auto claims = cache.verify_shared(verifier_, variant, at(0s), ec);
        EXPECT_EQ(cache.hits(), hits) << variant;
        if (ec) {
            EXPECT_EQ(claims, nullptr);
        }
    }
    // The original still hits, and nothing that failed was cached.
    std::error_code ec;
    const auto again = cache.verify_shared(verifier_, token, at(1s), ec);
    ASSERT_FALSE(ec);
    ASSERT_NE(again, nullptr);
    EXPECT_EQ(again->subject, "sip:alice@ims.example");
    EXPECT_LE(cache.size(), 1U + 3U);  // at most a few variants that still verify (none expected)
}

TEST_F(TicketTest, CacheSharesImmutableClaimsThatOutliveTheirEntry) {
    verified_ticket_cache cache(1);
    const std::string token = issuer_.issue(leech_claims());
    std::error_code ec;
    const auto first = cache.verify_shared(verifier_, token, at(0s), ec);
    ASSERT_FALSE(ec);
    ASSERT_NE(first, nullptr);
    const auto second = cache.verify_shared(verifier_, token, at(1s), ec);
    ASSERT_FALSE(ec);
    EXPECT_EQ(first.get(), second.get());  // a hit hands out the cached claims, not a copy
    EXPECT_EQ(cache.hits(), 1U);
    EXPECT_EQ(*first, cache.verify(verifier_, token, at(2s)));
    // Evicted (capacity 1) and cleared: the claims held stay valid.
    const std::string other = issuer_.issue(leech_claims());
    ASSERT_NE(cache.verify_shared(verifier_, other, at(0s), ec), nullptr);
    cache.clear();
    EXPECT_EQ(first->subject, "sip:alice@ims.example");
    EXPECT_EQ(first->infohashes.size(), 2U);

    // Failures: null and the precise error; a hit is checked against the verifier asked.
    EXPECT_EQ(cache.verify_shared(verifier_, "not.a.token", at(0s), ec), nullptr);
    EXPECT_EQ(ec, code(errc::ticket_malformed));
    ASSERT_NE(cache.verify_shared(verifier_, token, at(0s), ec), nullptr);
    ticket_verifier drm("drm");
    drm.add_key("as-2026", issuer_.public_key());
    EXPECT_EQ(cache.verify_shared(drm, token, at(0s), ec), nullptr);
    EXPECT_EQ(ec, code(errc::ticket_wrong_audience));
    ticket_verifier strict("tracker");
    strict.add_key("as-2026", issuer_.public_key());
    strict.set_expected_issuer("sip:other-as.example");
    EXPECT_EQ(cache.verify_shared(strict, token, at(0s), ec), nullptr);
    EXPECT_EQ(ec, code(errc::ticket_wrong_issuer));
    EXPECT_EQ(cache.verify_shared(verifier_, token, at(-2h), ec), nullptr);
    EXPECT_EQ(ec, code(errc::ticket_not_yet_valid));
    EXPECT_EQ(cache.verify_shared(verifier_, token, at(2h), ec), nullptr);
    EXPECT_EQ(ec, code(errc::ticket_expired));
    EXPECT_EQ(cache.size(), 0U);  // the expired entry is dropped

    // Without capacity every call verifies, and still shares nothing it cached.
    verified_ticket_cache none(0);
    const auto verified = none.verify_shared(verifier_, token, at(0s), ec);
    ASSERT_FALSE(ec);
    ASSERT_NE(verified, nullptr);
    EXPECT_EQ(*verified, *first);
    EXPECT_EQ(none.size(), 0U);
}

// Many entries: the index grows, evicts and drops expired entries without losing the others
// (each cached token still hits, each evicted or expired one is verified again).
TEST_F(TicketTest, CacheKeepsItsIndexThroughGrowthEvictionAndExpiry) {
    verified_ticket_cache cache(48);
    std::vector<std::string> short_lived;
    std::vector<std::string> long_lived;
    for (int i = 0; i < 24; ++i) {
        short_lived.push_back(issuer_.issue(leech_claims()));
        ticket_claims longer = leech_claims();
        longer.expires_at = issued + 3h;
        long_lived.push_back(issuer_.issue(longer));
    }
    for (std::size_t i = 0; i < 24; ++i) {
        cache.verify(verifier_, short_lived[i], at(0s));
        cache.verify(verifier_, long_lived[i], at(0s));
    }
    EXPECT_EQ(cache.size(), 48U);
    EXPECT_EQ(cache.misses(), 48U);
    for (std::size_t i = 0; i < 24; ++i) {
        cache.verify(verifier_, long_lived[i], at(1s));
        cache.verify(verifier_, short_lived[i], at(1s));
    }
    EXPECT_EQ(cache.hits(), 48U);
    // Past the short tickets' expiry (and the leeway): each is refused and its entry dropped,
    // the long ones still hit.
    for (std::size_t i = 0; i < 24; ++i) {
        std::error_code ec;
        cache.verify(verifier_, short_lived[i], at(1h + 61s), ec);
        EXPECT_EQ(ec, code(errc::ticket_expired));
    }
    EXPECT_EQ(cache.size(), 24U);
    for (const std::string& token : long_lived) {
        const std::uint64_t hits = cache.hits();
        EXPECT_NO_THROW(cache.verify(verifier_, token, at(1h + 62s)));
        EXPECT_EQ(cache.hits(), hits + 1);
    }
    // More new tokens than the room left: some evicted, never more than the capacity, and a
    // token just verified is cached.
    for (int i = 0; i < 60; ++i) {
        ticket_claims fresh = leech_claims();
        fresh.expires_at = issued + 3h;
        const std::string token = issuer_.issue(fresh);
        cache.verify(verifier_, token, at(2h));
        const std::uint64_t hits = cache.hits();
        cache.verify(verifier_, token, at(2h));
        EXPECT_EQ(cache.hits(), hits + 1);
        EXPECT_LE(cache.size(), 48U);
    }
    std::size_t still_cached = 0;
    for (const std::string& token : long_lived) {
        const std::uint64_t hits = cache.hits();
        cache.verify(verifier_, token, at(2h));
        still_cached += cache.hits() - hits;
    }
    EXPECT_LT(still_cached, 24U);  // 60 new tokens in 48 places pushed some out
    EXPECT_EQ(cache.size(), 48U);
}

TEST_F(TicketTest, CacheIsSafeUnderConcurrentUse) {
    verified_ticket_cache cache(4);
    std::vector<std::string> tokens;
    for (int i = 0; i < 6; ++i) {
        tokens.push_back(issuer_.issue(leech_claims()));
    }
    std::vector<std::thread> workers;
    std::atomic<int> failures{0};
    for (int t = 0; t < 4; ++t) {
        workers.emplace_back([&, t] {
            for (int i = 0; i < 200; ++i) {
                std::error_code ec;
                const auto& token = tokens[static_cast<std::size_t>((i + t) % 6)];
                const ticket_claims claims = cache.verify(verifier_, token, at(0s), ec);
                if (ec || claims.subject != "sip:alice@ims.example") {
                    ++failures;
                }
            }
        });
    }
    for (auto& worker : workers) {
        worker.join();
    }
    EXPECT_EQ(failures.load(), 0);
    EXPECT_LE(cache.size(), 4U);
    EXPECT_EQ(cache.hits() + cache.misses(), 800U);
}

}  // namespace
