#include <imsp2p/core/jose.hpp>

#include <imsp2p/core/encoding.hpp>
#include <imsp2p/core/error.hpp>

#include <gtest/gtest.h>

#include <functional>
#include <string>
#include <system_error>
#include <vector>

namespace {

using namespace imsp2p::core;
using json = nlohmann::json;

// RFC 8037 Appendix A.1 (the RFC 8032 §7.1 test 1 key).
const char* const rfc8037_private_jwk = R"({"kty":"OKP","crv":"Ed25519",)"
                                        R"("d":"nWGxne_9WmC6hEr0kuwsxERJxWl7MmkZcDusAxyuf2A",)"
                                        R"("x":"11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo"})";
// RFC 8037 Appendix A.2.
const char* const rfc8037_public_jwk =
    R"({"kty":"OKP","crv":"Ed25519","x":"11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo"})";
// RFC 8037 Appendix A.3.
const char* const rfc8037_thumbprint = "kPrK_qmxVWaYVA9wwBF6Iuo3vVzz7TxHCTwXBygrS4k";
// RFC 8037 Appendix A.4.
const char* const rfc8037_payload = "Example of Ed25519 signing";
const char* const rfc8037_jws =
    "eyJhbGciOiJFZERTQSJ9.RXhhbXBsZSBvZiBFZDI1NTE5IHNpZ25pbmc."
    "hgyY0il_MGCjP0JzlnLWG1PPOt7-09PGcvMg3AIbQR6dWbhijcNR4ki4iylGjg5BhVsPt9g7sVvpAr_MuM0KAg";

// RFC 7748 §6.1 key pairs (also RFC 8037 Appendix A.6).
const char* const bob_private_hex =
    "5dab087e624a8a4b79e17f8b83800ee66f3bb1292618b6fd1c2f8b27ff88e0eb";
const char* const bob_public_b64u = "3p7bfXt9wbTTW2HC7OQ1Nz-DQ8hbeGdNrfx-FG-IK08";

// Known-answer JWEs produced by an independent implementation (npm jose 5.10, via
// tests/js/jose_check.mjs) for the RFC 7748 Bob key above.
// ECDH-ES+A256KW / A256GCM, kid "bob", apu "Alice", apv "Bob".
const char* const node_jwe_a256kw =
    "eyJraWQiOiJib2IiLCJhbGciOiJFQ0RILUVTK0EyNTZLVyIsImVuYyI6IkEyNTZHQ00iLCJlcGsiOnsieCI6IkdBT28w"
    "Qlg3NkF0aUFNTlFhbHFCUGYtTWlnYnhjRDdzdDgyRGVONHFDeE0iLCJjcnYiOiJYMjU1MTkiLCJrdHkiOiJPS1AifSwi"
    "YXB1IjoiUVd4cFkyVSIsImFwdiI6IlFtOWkifQ.CN-qKr7858ydnTTOhy0N2xpHpopmZ2v6NzwRKzMeTnM-_eR3YMweVA."
    "3kNabPF1J3QYxQQE.4C1kVG01bMw_0FsPZWeyf3Y8JNs7HkAADQrx1I2C2avOtGfP5LQ.bW_90jqgfCfJpkSljIuY0A";
const char* const node_jwe_a256kw_plaintext = "RFC 7748 Bob receives this content key";
// ECDH-ES (direct key agreement) / A256GCM.
const char* const node_jwe_direct =
    "eyJhbGciOiJFQ0RILUVTIiwiZW5jIjoiQTI1NkdDTSIsImVwayI6eyJ4IjoidU9uLWtUWm1rdkNmenMzQXQwRm5veHlJ"
    "Vkxud2RQcVNaNVAwVDVwMk5UMCIsImNydiI6IlgyNTUxOSIsImt0eSI6Ik9LUCJ9fQ..vOuvRSd_5bEKTfxt."
    "xraFbJyPNiSCHqDd7UkBY287Gy0.7ZkGMAB_5YTKzuCsyXy3iQ";
const char* const node_jwe_direct_plaintext = "direct key agreement";

std::vector<std::string> split(const std::string& compact) {
    std::vector<std::string> parts;
    std::size_t start = 0;
    while (true) {
        const auto dot = compact.find('.', start);
        parts.push_back(compact.substr(start, dot - start));
        if (dot == std::string::npos) {
            return parts;
        }
        start = dot + 1;
    }
}

std::string join(const std::vector<std::string>& parts) {
    std::string out;
    for (std::size_t i = 0; i < parts.size(); ++i) {
        out += (i == 0 ? "" : ".") + parts[i];
    }
    return out;
}

/** Replaces part @p index by the base64url of @p bytes. */
std::string with_part(const std::string& compact, std::size_t index, byte_view bytes) {
    auto parts = split(compact);
    parts.at(index) = base64url_encode(bytes);
    return join(parts);
}

/** Replaces the protected header by @p header (serialised as given). */
std::string with_header(const std::string& compact, const std::string& header) {
    return with_part(compact, 0, as_bytes(header));
}

/** Flips one bit of decoded part @p index. */
std::string flip_bit(const std::string& compact, std::size_t index, std::size_t byte = 0) {
    auto bytes = base64url_decode(split(compact).at(index));
    bytes.at(byte) ^= 0x01;
    return with_part(compact, index, bytes);
}

json header_of(const std::string& compact) {
    return json::parse(to_string(base64url_decode(split(compact).at(0))));
}

// --- JWK -----------------------------------------------------------------------------------------

TEST(JoseJwk, Rfc8037PrivateAndPublicKeys) {
    const auto private_jwk = jwk::parse(rfc8037_private_jwk);
    EXPECT_EQ(private_jwk.curve(), jwk_curve::ed25519);
    EXPECT_TRUE(private_jwk.has_private_key());
    const auto key = private_jwk.ed25519_private();
    EXPECT_EQ(to_hex(key.seed().view()),
              "9d61b19deffd5a60ba844af492ec2cc44449c5697b326919703bac031cae7f60");

    const auto public_jwk = jwk::parse(rfc8037_public_jwk);
    EXPECT_FALSE(public_jwk.has_private_key());
    EXPECT_EQ(to_hex(public_jwk.ed25519_public().raw()),
              "d75a980182b10ab7d54bfed3c964073a0ee172f3daa62325af021a68f707511a");
    EXPECT_EQ(public_jwk.ed25519_public(), key.public_key());
    EXPECT_EQ(private_jwk.public_only(), public_jwk);
    EXPECT_EQ(json::parse(rfc8037_public_jwk), private_jwk.to_json());
    EXPECT_EQ(json::parse(rfc8037_private_jwk), private_jwk.to_json(true));
}

TEST(JoseJwk, Rfc8037ThumbprintA3) {
    EXPECT_EQ(jwk::parse(rfc8037_public_jwk).thumbprint(), rfc8037_thumbprint);
    EXPECT_EQ(jwk::parse(rfc8037_private_jwk).thumbprint(), rfc8037_thumbprint);
    // Optional members do not change the thumbprint.
    auto with_kid = jwk::parse(rfc8037_public_jwk);
    with_kid.set_kid("key-1");
    with_kid.set_use("sig");
    EXPECT_EQ(with_kid.thumbprint(), rfc8037_thumbprint);
    EXPECT_EQ(jwk().thumbprint(), "");
}

TEST(JoseJwk, Rfc8037X25519KeysA6) {
    const auto bob = x25519_private_key::from_raw(from_hex(bob_private_hex));
    const jwk bob_public(bob.public_key());
    EXPECT_EQ(bob_public.to_json()["x"], bob_public_b64u);
    EXPECT_EQ(bob_public.to_json()["crv"], "X25519");
    const auto alice = jwk::parse(
        R"({"kty":"OKP","crv":"X25519","x":"hSDwCYkwp1R0i33ctD73Wg2_Og0mOBr066SpjqqbTmo"})");
    EXPECT_EQ(to_hex(alice.x25519_public().raw()),
              "8520f0098930a754748b7ddcb43ef75a0dbf3a0d26381af4eba4a98eaa9b4e6a");
    EXPECT_EQ(to_hex(bob.derive(alice.x25519_public()).view()),
              "4a5d9d5ba4ce2de1728e3bf480350f25e07e21c947d19e3376f09b3c1e161742");
}

TEST(JoseJwk, RoundTripsWithOptionalMembers) {
    jwk key(x25519_private_key::generate());
    key.set_kid("device-1");
    key.set_use("enc");
    key.set_alg("ECDH-ES+A256KW");
    const auto text = key.serialize(true);
    EXPECT_EQ(jwk::parse(text), key);
    const auto public_text = key.serialize();
    EXPECT_EQ(public_text.find("\"d\""), std::string::npos);
    const auto public_key = jwk::parse(public_text);
    EXPECT_EQ(public_key.kid(), "device-1");
    EXPECT_EQ(public_key.use(), "enc");
    EXPECT_EQ(public_key.alg(), "ECDH-ES+A256KW");
    EXPECT_EQ(public_key.thumbprint(), key.thumbprint());
    EXPECT_EQ(public_key, key.public_only());
    EXPECT_FALSE(public_key == key);
}

TEST(JoseJwk, AccessorErrors) {
    const auto ed_public = jwk::parse(rfc8037_public_jwk);
    std::error_code ec;
    EXPECT_TRUE(ed_public.ed25519_private(ec).empty());
    EXPECT_EQ(ec, errc::jwk_no_private_key);
    EXPECT_TRUE(ed_public.x25519_public(ec).empty());
    EXPECT_EQ(ec, errc::jwk_unsupported);
    EXPECT_TRUE(ed_public.x25519_private(ec).empty());
    EXPECT_EQ(ec, errc::jwk_unsupported);
    const jwk x_public(x25519_private_key::generate().public_key());
    x_public.x25519_private(ec);
    EXPECT_EQ(ec, errc::jwk_no_private_key);
    x_public.ed25519_public(ec);
    EXPECT_EQ(ec, errc::jwk_unsupported);
    EXPECT_THROW(jwk().ed25519_public(), std::system_error);
    EXPECT_THROW(jwk{ed25519_public_key{}}, std::system_error);
    EXPECT_TRUE(jwk().to_json().empty());
}

TEST(JoseJwk, RejectsMalformedAndUnsupportedKeys) {
    const std::string x = R"("x":"11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo")";
    const struct {
        std::string text;
        errc expected;
    } cases[] = {
        {R"({"kty":"RSA","n":"AQAB","e":"AQAB"})", errc::jwk_unsupported},
        {R"({"kty":"EC","crv":"P-256","x":"AA","y":"AA"})", errc::jwk_unsupported},
        {R"({"kty":"OKP","crv":"Ed448",)" + x + "}", errc::jwk_unsupported},
        {R"({"kty":"OKP","crv":"Ed25519"})", errc::jwk_malformed},
        {R"({"crv":"Ed25519",)" + x + "}", errc::jwk_malformed},
        {R"({"kty":"OKP",)" + x + "}", errc::jwk_malformed},
        {R"({"kty":1,"crv":"Ed25519",)" + x + "}", errc::jwk_malformed},
        {R"({"kty":"OKP","crv":"Ed25519","x":"11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHUR"})",
         errc::jwk_malformed},
        {R"({"kty":"OKP","crv":"Ed25519","x":"11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo="})",
         errc::jwk_malformed},
        {R"({"kty":"OKP","crv":"Ed25519","x":"11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURp"})",
         errc::jwk_malformed},  // non-canonical last character
        {R"({"kty":"OKP","crv":"Ed25519","x":42})", errc::jwk_malformed},
        {R"({"kty":"OKP","crv":"Ed25519",)" + x + R"(,"kid":7})", errc::jwk_malformed},
        {R"({"kty":"OKP","crv":"Ed25519",)" + x + R"(,"use":null})", errc::jwk_malformed},
        {R"({"kty":"OKP","crv":"Ed25519",)" + x + R"(,"d":5})", errc::jwk_malformed},
        // "d" of another key: does not match "x".
        {R"({"kty":"OKP","crv":"Ed25519",)" + x +
             R"(,"d":"TM0Imyj_ltqdtsNG7BFOD1uKMZ81q6Yk2oz27U-4pvs"})",
         errc::jwk_malformed},
        {R"([1,2,3])", errc::jwk_malformed},
        {R"({"kty":"OKP")", errc::jwk_malformed},
        {"", errc::jwk_malformed},
        {std::string(100, '[') + std::string(100, ']'), errc::jwk_malformed},
        {std::string(jose_max_input_size + 1, ' '), errc::jose_too_large},
    };
    for (const auto& c : cases) {
        std::error_code ec;
        const auto key = jwk::parse(c.text, ec);
        EXPECT_EQ(ec, c.expected) << c.text.substr(0, 120);
        EXPECT_TRUE(key.empty());
    }
    EXPECT_THROW(jwk::parse("{}"), std::system_error);
}

TEST(JoseJwkSet, ParsesSkipsUnsupportedAndFinds) {
    auto signing = jwk(ed25519_private_key::generate()).public_only();
    signing.set_kid("as-2024");
    auto encryption = jwk(x25519_private_key::generate()).public_only();
    encryption.set_kid("drm-enc");
    json document = jwk_set{{signing, encryption}}.to_json();
    document["keys"].insert(document["keys"].begin(),
                            json{{"kty", "RSA"}, {"kid", "legacy"}, {"n", "AQAB"}, {"e", "AQAB"}});
    document["keys"].push_back(json{{"kty", "OKP"}, {"crv", "Ed25519"}, {"kid", "broken"}});
    document["keys"].push_back(42);

    const auto set = jwk_set::parse(document.dump());
    ASSERT_EQ(set.keys.size(), 2u);
    EXPECT_EQ(set.keys[0], signing);
    ASSERT_NE(set.find("drm-enc"), nullptr);
    EXPECT_EQ(*set.find("drm-enc"), encryption);
    EXPECT_EQ(set.find("legacy"), nullptr);
    EXPECT_EQ(set.find(""), nullptr);
    ASSERT_NE(set.find_by_thumbprint(signing.thumbprint()), nullptr);
    EXPECT_EQ(set.find_by_thumbprint(signing.thumbprint())->kid(), "as-2024");
    EXPECT_EQ(set.find_by_thumbprint("nope"), nullptr);
    EXPECT_EQ(jwk_set::parse(set.serialize()).keys, set.keys);
}

TEST(JoseJwkSet, PublicSerialisationOmitsPrivateParts) {
    const jwk_set set{{jwk(ed25519_private_key::generate())}};
    EXPECT_EQ(set.serialize().find("\"d\""), std::string::npos);
    EXPECT_NE(set.serialize(true).find("\"d\""), std::string::npos);
}

TEST(JoseJwkSet, RejectsDocumentsWithoutKeysArray) {
    for (const char* bad : {"{}", R"({"keys":{}})", "[]", "not json", R"({"keys":"x"})"}) {
        std::error_code ec;
        EXPECT_TRUE(jwk_set::parse(bad, ec).keys.empty());
        EXPECT_EQ(ec, errc::jwk_malformed) << bad;
    }
    std::error_code ec;
    jwk_set::parse(std::string(jose_max_input_size + 1, ' '), ec);
    EXPECT_EQ(ec, errc::jose_too_large);
    EXPECT_TRUE(jwk_set::parse(R"({"keys":[]})").keys.empty());
}

// --- JWS -----------------------------------------------------------------------------------------

TEST(JoseJws, Rfc8037A4SignatureIsReproduced) {
    const auto key = jwk::parse(rfc8037_private_jwk).ed25519_private();
    EXPECT_EQ(jws_sign(as_bytes(rfc8037_payload), key), rfc8037_jws);
}

TEST(JoseJws, Rfc8037A5Verification) {
    const auto parsed = jws_parse(rfc8037_jws);
    EXPECT_EQ(parsed.header, json({{"alg", "EdDSA"}}));
    EXPECT_EQ(to_string(parsed.payload), rfc8037_payload);
    EXPECT_EQ(parsed.signing_input, "eyJhbGciOiJFZERTQSJ9.RXhhbXBsZSBvZiBFZDI1NTE5IHNpZ25pbmc");
    EXPECT_EQ(parsed.signature.size(), 64u);
    const auto key = jwk::parse(rfc8037_public_jwk).ed25519_public();
    std::error_code ec;
    EXPECT_TRUE(jws_verify(parsed, key, ec));
    EXPECT_FALSE(ec);
    EXPECT_TRUE(jws_verify(parsed, key));
}

TEST(JoseJws, ExtraHeaderMembersAreProtected) {
    const auto key = ed25519_private_key::generate();
    const auto compact = jws_sign(as_bytes(R"({"sub":"sip:alice@example.com"})"), key,
                                  {{"kid", "as-1"}, {"typ", "JWT"}});
    const auto parsed = jws_parse(compact);
    EXPECT_EQ(parsed.header, json({{"alg", "EdDSA"}, {"kid", "as-1"}, {"typ", "JWT"}}));
    EXPECT_TRUE(jws_verify(parsed, key.public_key()));
    std::error_code ec;
    EXPECT_EQ(jose_protected_header(compact, ec)["kid"], "as-1");
    EXPECT_FALSE(ec);

    // Changing the kid in the header breaks the signature.
    auto header = parsed.header;
    header["kid"] = "as-2";
    const auto tampered = jws_parse(with_header(compact, header.dump()));
    EXPECT_FALSE(jws_verify(tampered, key.public_key(), ec));
    EXPECT_EQ(ec, errc::bad_signature);
}

TEST(JoseJws, TamperedPartsAreRefused) {
    const auto key = ed25519_private_key::generate();
    const auto public_key = key.public_key();
    const std::string compact = jws_sign(as_bytes("payload bytes"), key, {{"kid", "k"}});
    std::error_code ec;
    for (const auto& tampered : {flip_bit(compact, 1, 3), flip_bit(compact, 2, 0),
                                 flip_bit(compact, 2, 63), with_part(compact, 1, {})}) {
        const auto parsed = jws_parse(tampered, ec);
        ASSERT_FALSE(ec) << tampered;
        EXPECT_FALSE(jws_verify(parsed, public_key, ec)) << tampered;
        EXPECT_EQ(ec, errc::bad_signature) << tampered;
    }
    // Truncated signature: still valid base64url, but not 64 bytes.
    auto bytes = base64url_decode(split(compact)[2]);
    bytes.pop_back();
    const auto truncated = jws_parse(with_part(compact, 2, bytes));
    EXPECT_FALSE(jws_verify(truncated, public_key, ec));
    EXPECT_EQ(ec, errc::bad_signature);
    // Wrong key.
    EXPECT_FALSE(jws_verify(jws_parse(compact), ed25519_private_key::generate().public_key(), ec));
    EXPECT_EQ(ec, errc::bad_signature);
    EXPECT_FALSE(jws_verify(jws_parse(compact), ed25519_public_key(), ec));
    EXPECT_EQ(ec, errc::bad_key);
    // A hand-built parsed_jws claiming another algorithm.
    auto forged = jws_parse(compact);
    forged.header["alg"] = "HS256";
    EXPECT_FALSE(jws_verify(forged, public_key, ec));
    EXPECT_EQ(ec, errc::jose_unsupported_algorithm);
}

TEST(JoseJws, ParseRejectsMalformedInput) {
    const std::string compact = rfc8037_jws;
    const auto parts = split(compact);
    const auto b64 = [](const std::string& text) { return base64url_encode(as_bytes(text)); };
    const std::string tail = "." + parts[1] + "." + parts[2];
    const struct {
        std::string text;
        errc expected;
    } cases[] = {
        {"", errc::jose_malformed},
        {parts[0] + "." + parts[1], errc::jose_malformed},
        {compact + ".", errc::jose_malformed},
        {compact + "." + parts[2], errc::jose_malformed},
        {parts[0] + "." + parts[1] + ".", errc::jose_malformed},
        {"." + parts[1] + "." + parts[2], errc::jose_malformed},
        {parts[0] + "=" + tail, errc::jose_malformed},
        {parts[0] + "." + parts[1] + "*." + parts[2], errc::jose_malformed},
        {parts[0] + tail + "=", errc::jose_malformed},
        {b64("not json") + tail, errc::jose_bad_header},
        {b64(R"(["alg","EdDSA"])") + tail, errc::jose_bad_header},
        {b64(R"({"typ":"JWT"})") + tail, errc::jose_bad_header},
        {b64(R"({"alg":1})") + tail, errc::jose_bad_header},
        {b64(R"({"alg":"none"})") + tail, errc::jose_unsupported_algorithm},
        {b64(R"({"alg":"HS256"})") + tail, errc::jose_unsupported_algorithm},
        {b64(R"({"alg":"ES256"})") + tail, errc::jose_unsupported_algorithm},
        {b64(R"({"alg":"EdDSA","crit":["exp"],"exp":1})") + tail, errc::jose_critical_unsupported},
        {b64(R"({"alg":"EdDSA","crit":[]})") + tail, errc::jose_bad_header},
        {b64(R"({"alg":"EdDSA","crit":"b64"})") + tail, errc::jose_bad_header},
        {b64(R"({"alg":"EdDSA","x":)" + std::string(40, '[') + std::string(40, ']') + "}") + tail,
         errc::jose_bad_header},
        {b64("{\"alg\":\"EdDSA\",\"k\":\"\xff\"}") + tail, errc::jose_bad_header},
        {std::string(jose_max_input_size + 1, 'a'), errc::jose_too_large},
    };
    for (const auto& c : cases) {
        std::error_code ec;
        const auto parsed = jws_parse(c.text, ec);
        EXPECT_EQ(ec, c.expected) << c.text.substr(0, 120);
        EXPECT_TRUE(parsed.payload.empty());
        EXPECT_TRUE(parsed.signing_input.empty());
    }
    EXPECT_THROW(jws_parse("a.b"), std::system_error);
}

TEST(JoseJws, SignRefusesBadExtraHeaders) {
    const auto key = ed25519_private_key::generate();
    std::error_code ec;
    for (const auto& bad : {json::array({1}), json("text"), json{{"alg", "HS256"}},
                            json{{"alg", 1}}, json{{"crit", json::array({"x"})}}}) {
        EXPECT_TRUE(jws_sign(as_bytes("p"), key, bad, ec).empty()) << bad.dump();
        EXPECT_EQ(ec, errc::invalid_argument) << bad.dump();
    }
    EXPECT_TRUE(jws_sign(as_bytes("p"), key, json{{"k", "\xff"}}, ec).empty());
    EXPECT_EQ(ec, errc::invalid_argument);
    EXPECT_FALSE(jws_sign(as_bytes("p"), key, json{{"alg", "EdDSA"}}, ec).empty());
    EXPECT_FALSE(ec);
    jws_sign(as_bytes("p"), ed25519_private_key(), nullptr, ec);
    EXPECT_EQ(ec, errc::bad_key);
    EXPECT_THROW(jws_sign(as_bytes("p"), ed25519_private_key()), std::system_error);
}

TEST(JoseJws, BinaryAndEmptyPayloads) {
    const auto key = ed25519_private_key::generate();
    for (const auto& payload : {byte_vector{}, byte_vector{0, 1, 2, 0xFF}}) {
        const auto parsed = jws_parse(jws_sign(payload, key));
        EXPECT_EQ(parsed.payload, payload);
        EXPECT_TRUE(jws_verify(parsed, key.public_key()));
    }
}

// --- JWE -----------------------------------------------------------------------------------------

TEST(JoseJwe, DecryptsIndependentImplementationVectors) {
    const auto bob = x25519_private_key::from_raw(from_hex(bob_private_hex));
    EXPECT_EQ(to_string(jwe_decrypt(node_jwe_a256kw, bob).view()), node_jwe_a256kw_plaintext);
    EXPECT_EQ(to_string(jwe_decrypt(node_jwe_direct, bob).view()), node_jwe_direct_plaintext);
    std::error_code ec;
    EXPECT_EQ(jose_protected_header(node_jwe_a256kw, ec)["kid"], "bob");
    EXPECT_FALSE(ec);
}

TEST(JoseJwe, RoundTripWithHeaderMembers) {
    const auto recipient = x25519_private_key::generate();
    const auto plaintext = random_bytes(32);
    const auto compact = jwe_encrypt(
        plaintext, recipient.public_key(),
        {{"kid", "device-7"}, {"cty", "cek"}, {"apu", base64url_encode(as_bytes("drm"))}});
    const auto parts = split(compact);
    ASSERT_EQ(parts.size(), 5u);
    EXPECT_EQ(base64url_decode(parts[1]).size(), 40u);
    EXPECT_EQ(base64url_decode(parts[2]).size(), 12u);
    EXPECT_EQ(base64url_decode(parts[3]).size(), 32u);
    EXPECT_EQ(base64url_decode(parts[4]).size(), 16u);
    const auto header = header_of(compact);
    EXPECT_EQ(header["alg"], "ECDH-ES+A256KW");
    EXPECT_EQ(header["enc"], "A256GCM");
    EXPECT_EQ(header["kid"], "device-7");
    EXPECT_EQ(header["epk"]["kty"], "OKP");
    EXPECT_EQ(header["epk"]["crv"], "X25519");
    EXPECT_FALSE(header["epk"].contains("d"));
    const auto decrypted = jwe_decrypt(compact, recipient);
    EXPECT_EQ(byte_vector(decrypted.begin(), decrypted.end()), plaintext);
    // Fresh ephemeral key, CEK and IV each time.
    EXPECT_NE(jwe_encrypt(plaintext, recipient.public_key()),
              jwe_encrypt(plaintext, recipient.public_key()));
    EXPECT_TRUE(jwe_decrypt(jwe_encrypt({}, recipient.public_key()), recipient).empty());
}

TEST(JoseJwe, TamperingAndWrongKeyFailAuthentication) {
    const auto recipient = x25519_private_key::generate();
    const std::string compact =
        jwe_encrypt(as_bytes("content key bytes"), recipient.public_key(), {{"kid", "d"}});
    auto header = header_of(compact);
    header["kid"] = "e";
    for (const auto& tampered :
         {with_header(compact, header.dump()), flip_bit(compact, 1, 0), flip_bit(compact, 1, 39),
          flip_bit(compact, 2, 0), flip_bit(compact, 3, 5), flip_bit(compact, 4, 15)}) {
        std::error_code ec;
        EXPECT_TRUE(jwe_decrypt(tampered, recipient, ec).empty());
        EXPECT_EQ(ec, errc::authentication_failed) << tampered;
    }
    std::error_code ec;
    jwe_decrypt(compact, x25519_private_key::generate(), ec);
    EXPECT_EQ(ec, errc::authentication_failed);
    jwe_decrypt(compact, x25519_private_key(), ec);
    EXPECT_EQ(ec, errc::bad_key);
    EXPECT_THROW(jwe_decrypt(flip_bit(compact, 3, 0), recipient), std::system_error);
}

TEST(JoseJwe, DecryptRejectsMalformedInput) {
    const auto recipient = x25519_private_key::generate();
    const std::string compact = jwe_encrypt(as_bytes("x"), recipient.public_key());
    const auto header = header_of(compact);
    const auto modified = [&](const std::function<void(json&)>& change) {
        auto h = header;
        change(h);
        return with_header(compact, h.dump());
    };
    const auto parts = split(compact);
    const struct {
        std::string text;
        errc expected;
    } cases[] = {
        {"", errc::jose_malformed},
        {parts[0] + "." + parts[1] + "." + parts[2] + "." + parts[3], errc::jose_malformed},
        {compact + ".", errc::jose_malformed},
        {with_part(compact, 2, byte_vector(16)), errc::jose_malformed},
        {with_part(compact, 4, byte_vector(12)), errc::jose_malformed},
        {with_part(compact, 1, byte_vector(32)), errc::jose_malformed},
        {compact.substr(0, compact.size() - 1) + "=", errc::jose_malformed},
        {with_header(compact, "[]"), errc::jose_bad_header},
        {with_header(compact, "{"), errc::jose_bad_header},
        {modified([](json& h) { h.erase("alg"); }), errc::jose_bad_header},
        {modified([](json& h) { h.erase("enc"); }), errc::jose_bad_header},
        {modified([](json& h) { h.erase("epk"); }), errc::jose_bad_header},
        {modified([](json& h) { h["epk"] = "key"; }), errc::jose_bad_header},
        {modified([](json& h) { h["epk"].erase("x"); }), errc::jose_bad_header},
        {modified([](json& h) { h["epk"]["d"] = base64url_encode(byte_vector(32, 1)); }),
         errc::jose_bad_header},
        {modified([](json& h) { h["apu"] = 5; }), errc::jose_bad_header},
        {modified([](json& h) { h["apv"] = "a+b"; }), errc::jose_bad_header},
        {modified([](json& h) { h["alg"] = "RSA-OAEP"; }), errc::jose_unsupported_algorithm},
        {modified([](json& h) { h["alg"] = "dir"; }), errc::jose_unsupported_algorithm},
        {modified([](json& h) { h["enc"] = "A128GCM"; }), errc::jose_unsupported_algorithm},
        {modified([](json& h) { h["enc"] = "A256CBC-HS512"; }), errc::jose_unsupported_algorithm},
        {modified([](json& h) { h["zip"] = "DEF"; }), errc::jose_unsupported_algorithm},
        {modified([](json& h) { h["epk"]["crv"] = "Ed25519"; }), errc::jose_unsupported_algorithm},
        {modified([](json& h) {
             h["epk"] = json{{"kty", "EC"}, {"crv", "P-256"}};
         }),
         errc::jose_unsupported_algorithm},
        {modified([](json& h) { h["crit"] = json::array({"zip"}); }),
         errc::jose_critical_unsupported},
        // ECDH-ES (direct) must have an empty encrypted key.
        {modified([](json& h) { h["alg"] = "ECDH-ES"; }), errc::jose_malformed},
        // A small-order ephemeral key gives an all-zero shared secret.
        {modified([](json& h) { h["epk"]["x"] = base64url_encode(byte_vector(32, 0)); }),
         errc::bad_key},
        {std::string(jose_max_input_size + 1, '.'), errc::jose_too_large},
    };
    for (const auto& c : cases) {
        std::error_code ec;
        EXPECT_TRUE(jwe_decrypt(c.text, recipient, ec).empty());
        EXPECT_EQ(ec, c.expected) << c.text.substr(0, 200);
    }
}

TEST(JoseJwe, EncryptRefusesBadArguments) {
    const auto recipient = x25519_private_key::generate().public_key();
    std::error_code ec;
    for (const auto& bad :
         {json::array(), json{{"alg", "ECDH-ES"}}, json{{"enc", "A256GCM"}},
          json{{"epk", json::object()}}, json{{"zip", "DEF"}}, json{{"crit", json::array({"a"})}},
          json{{"apu", "=="}}, json{{"apv", 1}}}) {
        EXPECT_TRUE(jwe_encrypt(as_bytes("x"), recipient, bad, ec).empty()) << bad.dump();
        EXPECT_EQ(ec, errc::invalid_argument) << bad.dump();
    }
    jwe_encrypt(as_bytes("x"), x25519_public_key(), nullptr, ec);
    EXPECT_EQ(ec, errc::bad_key);
    jwe_encrypt(as_bytes("x"), x25519_public_key::from_raw(byte_vector(32, 0)), nullptr, ec);
    EXPECT_EQ(ec, errc::bad_key);
    EXPECT_THROW(jwe_encrypt(as_bytes("x"), x25519_public_key()), std::system_error);
}

TEST(JoseProtectedHeader, RejectsOtherShapes) {
    std::error_code ec;
    EXPECT_TRUE(jose_protected_header("a.b", ec).is_null());
    EXPECT_EQ(ec, errc::jose_malformed);
    EXPECT_TRUE(jose_protected_header("a.b.c.d", ec).is_null());
    EXPECT_EQ(ec, errc::jose_malformed);
    jose_protected_header(base64url_encode(as_bytes("[]")) + "..", ec);
    EXPECT_EQ(ec, errc::jose_bad_header);
    EXPECT_EQ(jose_protected_header(rfc8037_jws, ec), json({{"alg", "EdDSA"}}));
    EXPECT_FALSE(ec);
}

}  // namespace
