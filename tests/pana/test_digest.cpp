#include <imsp2p/pana/digest.hpp>

#include <imsp2p/pana/error.hpp>

#include <imsp2p/core/encoding.hpp>

#include <gtest/gtest.h>

#include <openssl/evp.h>
#include <openssl/hmac.h>

#include <string>
#include <vector>

namespace pana = imsp2p::pana;
namespace core = imsp2p::core;

namespace {

// MD5 straight from OpenSSL, lower-case hex: the independent reference for the wire format.
std::string reference_md5_hex(const std::string& data) {
    unsigned char digest[EVP_MAX_MD_SIZE];
    unsigned int size = 0;
    EXPECT_EQ(EVP_Digest(data.data(), data.size(), digest, &size, EVP_md5(), nullptr), 1);
    return core::to_hex(core::byte_view(digest, size));
}

std::string parse_error(std::string_view challenge_value) {
    std::error_code ec;
    std::string detail;
    pana::digest_challenge::parse(challenge_value, ec, detail);
    EXPECT_EQ(ec, pana::errc::bad_digest_header) << challenge_value;
    return detail;
}

std::string credentials_error(std::string_view value) {
    std::error_code ec;
    std::string detail;
    pana::digest_credentials::parse(value, ec, detail);
    EXPECT_EQ(ec, pana::errc::bad_digest_header) << value;
    return detail;
}

const char* const ims_credentials =
    "Digest username=\"alice@ims.example.net\", realm=\"ims.example.net\", "
    "nonce=\"CjPk9mRqNuT25eRkajM09uTl9nM09uTl9nMz5OX25PZz\", uri=\"sip:ims.example.net\", "
    "response=\"6629fae49393a05397450978507c4ef1\", algorithm=AKAv1-MD5, cnonce=\"0a4f113b\", "
    "opaque=\"5ccc069c403ebaf9f0171e9517f40e41\", qop=auth, nc=00000001, "
    "auts=\"CjPk9mRqNuT25eRkajM=\"";

}  // namespace

TEST(DigestChallenge, ParsesAnAkaChallengeAndRoundTrips) {
    const std::string value =
        "Digest realm=\"ims.example.net\", nonce=\"CjPk9mRqNuT25eRkajM09uTl9nM09uTl9nMz5OX25PZz\", "
        "qop=\"auth,auth-int\", opaque=\"5ccc069c403ebaf9f0171e9517f40e41\", algorithm=AKAv1-MD5, "
        "ik=\"0123\", ck=\"4567\"";
    const pana::digest_challenge challenge = pana::digest_challenge::parse(value);
    EXPECT_EQ(challenge.realm, "ims.example.net");
    EXPECT_EQ(challenge.nonce, "CjPk9mRqNuT25eRkajM09uTl9nM09uTl9nMz5OX25PZz");
    EXPECT_EQ(challenge.qop, (std::vector<std::string>{"auth", "auth-int"}));
    EXPECT_EQ(challenge.algorithm, "AKAv1-MD5");
    EXPECT_EQ(challenge.opaque, "5ccc069c403ebaf9f0171e9517f40e41");
    EXPECT_FALSE(challenge.stale);
    ASSERT_EQ(challenge.extensions.size(), 2u);
    EXPECT_EQ(challenge.extensions[0], (pana::auth_param{"ik", "0123"}));

    const std::string written = challenge.to_string();
    EXPECT_EQ(written,
              "Digest realm=\"ims.example.net\", "
              "nonce=\"CjPk9mRqNuT25eRkajM09uTl9nM09uTl9nMz5OX25PZz\", "
              "opaque=\"5ccc069c403ebaf9f0171e9517f40e41\", algorithm=AKAv1-MD5, "
              "qop=\"auth,auth-int\", ik=\"0123\", ck=\"4567\"");
    EXPECT_EQ(pana::digest_challenge::parse(written), challenge);
}

TEST(DigestChallenge, TokenizerIsTolerantWhereTheGrammarAllows) {
    // Case-insensitive scheme and names, quoted tokens, escapes, empty list elements, folding.
    const pana::digest_challenge challenge = pana::digest_challenge::parse(
        "dIgEsT  ,REALM = \"a \\\"quoted\\\" realm\\\\\" ,, Nonce=abc123,\r\n\tStale=TRUE ,"
        " qop=\" auth , \",algorithm=\"MD5\",");
    EXPECT_EQ(challenge.realm, "a \"quoted\" realm\\");
    EXPECT_EQ(challenge.nonce, "abc123");
    EXPECT_TRUE(challenge.stale);
    EXPECT_EQ(challenge.qop, (std::vector<std::string>{"auth"}));
    EXPECT_EQ(challenge.algorithm, "MD5");
    const std::string written = challenge.to_string();
    EXPECT_NE(written.find("realm=\"a \\\"quoted\\\" realm\\\\\""), std::string::npos);
    EXPECT_EQ(pana::digest_challenge::parse(written), challenge);
    // UTF-8 (obs-text) in quoted strings is kept.
    EXPECT_EQ(pana::digest_challenge::parse("Digest realm=\"r\xc3\xa9\", nonce=\"n\"").realm,
              "r\xc3\xa9");
}

TEST(DigestChallenge, RejectsMalformedHeadersPrecisely) {
    EXPECT_EQ(parse_error(""), "header value is empty");
    EXPECT_EQ(parse_error("Basic realm=\"x\""), "at offset 0: auth scheme \"Basic\" is not Digest");
    EXPECT_EQ(parse_error("Digest"), "the Digest header has no parameters");
    EXPECT_EQ(parse_error("Digest realm=\"x\", nonce=\"a\", REALM=\"y\""),
              "at offset 29: parameter \"realm\" appears twice");
    EXPECT_EQ(parse_error("Digest abc=="),
              "at offset 11: value of parameter \"abc\" is neither a token nor a quoted string "
              "(found '=')");
    EXPECT_EQ(
        parse_error("Digest dGVzdA"),
        "at offset 13: expected '=' after parameter \"dgvzda\" (only name=value parameters are "
        "accepted)");
    EXPECT_EQ(parse_error("Digest realm=\"x"),
              "at offset 13: unterminated quoted string in parameter \"realm\"");
    EXPECT_EQ(parse_error("Digest realm=\"a\nb\", nonce=\"n\""),
              "at offset 15: control character 0x0a in the value of parameter \"realm\"");
    EXPECT_EQ(parse_error("Digest realm=\"x\" nonce=\"n\""),
              "at offset 17: expected ',' after the value of \"realm\", found 'n'");
    EXPECT_EQ(parse_error("Digest realm=\"x\""), "missing required parameter \"nonce\"");
    EXPECT_EQ(parse_error("Digest nonce=\"x\""), "missing required parameter \"realm\"");
    EXPECT_EQ(parse_error("Digest realm=\"x\", nonce=\"n\", stale=maybe"),
              "at offset 29: stale is neither true nor false");
    EXPECT_EQ(parse_error("Digest realm=\"x\", nonce=\"n\", qop=\",,\""),
              "at offset 29: qop lists no option");
    EXPECT_EQ(parse_error("Digest realm=\"x\", nonce=\"n\", qop=\"au th\""),
              "at offset 29: qop option is not a token");
    EXPECT_EQ(parse_error("Digest realm=\"x\", nonce=\"n\", algorithm=\"AKA v1\""),
              "at offset 29: algorithm is not a token");
    EXPECT_EQ(parse_error("Digest realm=\"x\\\n\""),
              "at offset 16: invalid escaped character 0x0a in parameter \"realm\"");
    EXPECT_EQ(parse_error("Digest\trealm=\"x\", nonce=\"n\"\r\nX: y"),
              "at offset 27: expected ',' after the value of \"nonce\", found 0x0d");

    // Size limits.
    EXPECT_EQ(parse_error("Digest realm=\"" + std::string(9000, 'a') + "\""),
              "header value is longer than 8192 bytes");
    EXPECT_EQ(parse_error("Digest realm=\"" + std::string(4097, 'a') + "\", nonce=n"),
              "at offset 13: value of parameter \"realm\" is longer than 4096 bytes");
    EXPECT_EQ(parse_error("Digest " + std::string(65, 'x') + "=1"),
              "at offset 7: parameter name is longer than 64 bytes");
    std::string many = "Digest realm=x, nonce=y";
    for (int i = 0; i < 31; ++i) {
        many += ", p" + std::to_string(i) + "=v";
    }
    EXPECT_EQ(parse_error(many), "at offset 225: more than 32 parameters");

    // The throwing overload carries the detail.
    try {
        pana::digest_challenge::parse("Digest realm=\"x\"");
        FAIL() << "no exception";
    } catch (const std::system_error& error) {
        EXPECT_EQ(error.code(), pana::errc::bad_digest_header);
        EXPECT_NE(std::string(error.what()).find("missing required parameter \"nonce\""),
                  std::string::npos);
    }
}

TEST(DigestChallenge, SerialisationRefusesUnrepresentableValues) {
    pana::digest_challenge challenge;
    challenge.realm = "line\r\nInjected: header";
    challenge.nonce = "n";
    std::error_code ec;
    EXPECT_EQ(challenge.to_string(ec), "");
    EXPECT_EQ(ec, pana::errc::bad_digest_header);
    challenge.realm = "ok";
    challenge.extensions.push_back({"Realm", "again"});
    challenge.to_string(ec);
    EXPECT_EQ(ec, pana::errc::bad_digest_header);
    challenge.extensions = {{"bad name", "v"}};
    EXPECT_THROW(challenge.to_string(), std::system_error);
    challenge.extensions.clear();
    challenge.algorithm = "not a token";
    challenge.to_string(ec);
    EXPECT_EQ(ec, pana::errc::bad_digest_header);
}

TEST(DigestCredentials, ParsesAllFieldsAndRoundTrips) {
    const pana::digest_credentials credentials = pana::digest_credentials::parse(ims_credentials);
    EXPECT_EQ(credentials.username, "alice@ims.example.net");
    EXPECT_EQ(credentials.realm, "ims.example.net");
    EXPECT_EQ(credentials.uri, "sip:ims.example.net");
    EXPECT_EQ(credentials.response, "6629fae49393a05397450978507c4ef1");
    EXPECT_EQ(credentials.algorithm, "AKAv1-MD5");
    EXPECT_EQ(credentials.cnonce, "0a4f113b");
    EXPECT_EQ(credentials.qop, "auth");
    EXPECT_EQ(credentials.nonce_count, 1u);
    ASSERT_TRUE(credentials.auts.has_value());
    EXPECT_EQ(core::base64_encode(*credentials.auts), "CjPk9mRqNuT25eRkajM=");  // 14 bytes
    const std::string written = credentials.to_string();
    EXPECT_EQ(pana::digest_credentials::parse(written), credentials);
    EXPECT_NE(written.find("nc=00000001"), std::string::npos);
    EXPECT_NE(written.find("qop=auth,"), std::string::npos);
}

TEST(DigestCredentials, ChecksFieldSyntax) {
    const std::string base =
        "Digest username=\"u\", realm=\"r\", nonce=\"n\", uri=\"sip:x\", response=\"\"";
    std::error_code ec;
    // An empty response (a UE after a MAC failure) is syntactically fine.
    EXPECT_EQ(pana::digest_credentials::parse(base, ec).response, "");
    EXPECT_FALSE(ec);
    EXPECT_EQ(credentials_error("Digest username=\"u\", realm=\"r\", nonce=\"n\", uri=\"sip:x\""),
              "missing required parameter \"response\"");
    EXPECT_EQ(credentials_error(base + ", qop=auth, nc=00000001"),
              "qop is present but cnonce is missing");
    EXPECT_EQ(credentials_error(base + ", qop=auth, cnonce=\"c\""),
              "qop is present but nc is missing");
    EXPECT_EQ(credentials_error(base + ", nc=1"), "at offset 69: nc is not 8 hexadecimal digits");
    EXPECT_EQ(credentials_error(base + ", auts=\"AAAA\""),
              "at offset 69: auts is not base64 of 14 bytes");
    EXPECT_EQ(credentials_error(base + ", qop=\"a b\""), "at offset 69: qop is not a token");
    EXPECT_EQ(
        credentials_error(
            "Digest username=\"u\", realm=\"r\", nonce=\"n\", uri=\"sip:x\", response=\"xyz\""),
        "at offset 56: response is not a hexadecimal digest");
    EXPECT_EQ(credentials_error("Digest username=\"u\", realm=\"r\", uri=sip:x"),
              "at offset 39: expected ',' after the value of \"uri\", found ':'");
    // nc is hexadecimal and written back in lower case; auts padding is optional.
    const pana::digest_credentials upper = pana::digest_credentials::parse(
        base + ", qop=auth, cnonce=c, nc=0000001A, auts=\"CjPk9mRqNuT25eRkajM\"");
    EXPECT_EQ(upper.nonce_count, 26u);
    EXPECT_TRUE(upper.auts.has_value());
    EXPECT_NE(upper.to_string().find("nc=0000001a"), std::string::npos);
    EXPECT_EQ(pana::digest_credentials::parse(upper.to_string()), upper);
}

TEST(DigestResponse, Rfc2617ExampleWithAPassword) {
    // RFC 2617 §3.5: user Mufasa, password "Circle Of Life".
    const std::string password = "Circle Of Life";
    pana::digest_response_input input;
    input.username = "Mufasa";
    input.realm = "testrealm@host.com";
    input.password = core::as_bytes(password);
    input.nonce = "dcd98b7102dd2f0e8b11d0f600bfb0c093";
    input.cnonce = "0a4f113b";
    input.qop = "auth";
    input.nonce_count = 1;
    input.method = "GET";
    input.uri = "/dir/index.html";
    EXPECT_EQ(pana::compute_digest_response(input), "6629fae49393a05397450978507c4ef1");
    input.qop = "auth-conf";
    std::error_code ec;
    EXPECT_EQ(pana::compute_digest_response(input, ec), "");
    EXPECT_EQ(ec, pana::errc::digest_unsupported);
}

TEST(DigestResponse, AkaV1ByHandFromIndependentMd5Steps) {
    // RES of TS 35.207 set 1 as raw bytes (NOT its hex text) is the password.
    const core::byte_vector res = core::from_hex("a54211d5e3ba50bf");
    const std::string username = "alice@ims.example.net";
    const std::string realm = "ims.example.net";
    const std::string nonce = "I1U8vpY3qJ0hiuZNrke/NVXzKLQ1d7m5Sp/6w1Tfr7M=";
    const std::string uri = "sip:ims.example.net";
    const std::string method = "REGISTER";
    const std::string cnonce = "0a4f113b";

    const std::string a1 = username + ":" + realm + ":" + core::to_string(res);
    const std::string a2 = method + ":" + uri;
    const std::string expected =
        reference_md5_hex(reference_md5_hex(a1) + ":" + nonce + ":00000001:" + cnonce +
                          ":auth:" + reference_md5_hex(a2));
    pana::digest_response_input input;
    input.username = username;
    input.realm = realm;
    input.password = res;
    input.nonce = nonce;
    input.cnonce = cnonce;
    input.qop = "auth";
    input.nonce_count = 1;
    input.method = method;
    input.uri = uri;
    EXPECT_EQ(pana::compute_digest_response(input), expected);

    // Without qop (RFC 2069 compatibility): MD5(HA1:nonce:HA2).
    input.qop = "";
    EXPECT_EQ(pana::compute_digest_response(input),
              reference_md5_hex(reference_md5_hex(a1) + ":" + nonce + ":" + reference_md5_hex(a2)));

    // qop=auth-int: HA2 = MD5(method:uri:MD5(body)).
    const std::string body = "v=0\r\n";
    input.qop = "auth-int";
    input.body = core::as_bytes(body);
    EXPECT_EQ(
        pana::compute_digest_response(input),
        reference_md5_hex(reference_md5_hex(a1) + ":" + nonce + ":00000001:" + cnonce +
                          ":auth-int:" + reference_md5_hex(a2 + ":" + reference_md5_hex(body))));
}

TEST(DigestResponse, AkaPasswords) {
    const pana::aka_res res{0xa5, 0x42, 0x11, 0xd5, 0xe3, 0xba, 0x50, 0xbf};
    pana::aka_ik ik{};
    pana::aka_ck ck{};
    ik.fill(0x11);
    ck.fill(0x22);
    std::error_code ec;
    const core::secret_bytes v1 =
        pana::aka_digest_password(pana::digest_algorithm::akav1_md5, res, ik, ck, ec);
    ASSERT_FALSE(ec);
    EXPECT_EQ(core::byte_vector(v1.begin(), v1.end()), core::byte_vector(res.begin(), res.end()));

    // RFC 4169: base64(HMAC-MD5(key = RES || IK || CK, "http-digest-akav2-password")).
    core::byte_vector key(res.begin(), res.end());
    key.insert(key.end(), ik.begin(), ik.end());
    key.insert(key.end(), ck.begin(), ck.end());
    const std::string label = "http-digest-akav2-password";
    unsigned char mac[EVP_MAX_MD_SIZE];
    unsigned int mac_size = 0;
    ASSERT_NE(
        HMAC(EVP_md5(), key.data(), static_cast<int>(key.size()),
             reinterpret_cast<const unsigned char*>(label.data()), label.size(), mac, &mac_size),
        nullptr);
    unsigned char encoded[64] = {};
    const int encoded_size = EVP_EncodeBlock(encoded, mac, static_cast<int>(mac_size));
    const core::secret_bytes v2 =
        pana::aka_digest_password(pana::digest_algorithm::akav2_md5, res, ik, ck, ec);
    ASSERT_FALSE(ec);
    EXPECT_EQ(core::as_string_view(v2.view()),
              std::string_view(reinterpret_cast<const char*>(encoded),
                               static_cast<std::size_t>(encoded_size)));
    EXPECT_EQ(v2.size(), 24u);

    pana::aka_digest_password(pana::digest_algorithm::md5, res, ik, ck, ec);
    EXPECT_EQ(ec, pana::errc::digest_unsupported);
}

TEST(DigestAlgorithm, NamesAreCaseInsensitive) {
    EXPECT_EQ(pana::digest_algorithm_from_name(""), pana::digest_algorithm::md5);
    EXPECT_EQ(pana::digest_algorithm_from_name("md5"), pana::digest_algorithm::md5);
    EXPECT_EQ(pana::digest_algorithm_from_name("akav1-md5"), pana::digest_algorithm::akav1_md5);
    EXPECT_EQ(pana::digest_algorithm_from_name("AKAv2-MD5"), pana::digest_algorithm::akav2_md5);
    EXPECT_FALSE(pana::digest_algorithm_from_name("SHA-256").has_value());
    EXPECT_FALSE(pana::digest_algorithm_from_name("MD5-sess").has_value());
    EXPECT_EQ(pana::digest_algorithm_name(pana::digest_algorithm::akav1_md5), "AKAv1-MD5");
}

TEST(AkaNonce, EncodesRandAutnAndServerData) {
    pana::aka_nonce nonce;
    nonce.rand.fill(0x23);
    nonce.autn.fill(0x55);
    const std::string plain = nonce.encode();
    EXPECT_EQ(core::base64_decode(plain).size(), 32u);
    EXPECT_EQ(pana::aka_nonce::decode(plain), nonce);
    nonce.server_data = {1, 2, 3};
    const std::string with_data = nonce.encode();
    EXPECT_EQ(pana::aka_nonce::decode(with_data), nonce);
    // Padding may be omitted.
    std::string unpadded = with_data;
    while (!unpadded.empty() && unpadded.back() == '=') {
        unpadded.pop_back();
    }
    EXPECT_EQ(pana::aka_nonce::decode(unpadded), nonce);
    std::error_code ec;
    pana::aka_nonce::decode(core::base64_encode(core::byte_vector(31, 0)), ec);
    EXPECT_EQ(ec, pana::errc::bad_aka_nonce);
    pana::aka_nonce::decode("not base64!", ec);
    EXPECT_EQ(ec, pana::errc::bad_aka_nonce);
    EXPECT_THROW(pana::aka_nonce::decode("A"), std::system_error);
}
