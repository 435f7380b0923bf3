#include <imsp2p/core/encoding.hpp>

#include <imsp2p/core/error.hpp>

#include <gtest/gtest.h>

#include <cctype>
#include <string>
#include <system_error>
#include <vector>

namespace {

using imsp2p::core::as_bytes;
using imsp2p::core::base64_decode;
using imsp2p::core::base64_encode;
using imsp2p::core::base64url_decode;
using imsp2p::core::base64url_encode;
using imsp2p::core::byte_vector;
using imsp2p::core::errc;
using imsp2p::core::from_hex;
using imsp2p::core::to_bytes;
using imsp2p::core::to_hex;

// RFC 4648 §10 test vectors.
struct rfc4648_vector {
    const char* input;
    const char* base64;
    const char* base64url;
    const char* base16;
};

const rfc4648_vector rfc4648_vectors[] = {
    {"", "", "", ""},
    {"f", "Zg==", "Zg", "66"},
    {"fo", "Zm8=", "Zm8", "666F"},
    {"foo", "Zm9v", "Zm9v", "666F6F"},
    {"foob", "Zm9vYg==", "Zm9vYg", "666F6F62"},
    {"fooba", "Zm9vYmE=", "Zm9vYmE", "666F6F6261"},
    {"foobar", "Zm9vYmFy", "Zm9vYmFy", "666F6F626172"},
};

TEST(EncodingHex, Rfc4648Vectors) {
    for (const auto& v : rfc4648_vectors) {
        std::string lower = v.base16;
        for (auto& c : lower) {
            c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
        }
        EXPECT_EQ(to_hex(as_bytes(v.input)), lower) << v.input;
        EXPECT_EQ(from_hex(v.base16), to_bytes(v.input)) << v.base16;
        EXPECT_EQ(from_hex(lower), to_bytes(v.input)) << lower;
    }
}

TEST(EncodingHex, AllByteValuesRoundTrip) {
    byte_vector all(256);
    for (int i = 0; i < 256; ++i) {
        all[static_cast<std::size_t>(i)] = static_cast<std::uint8_t>(i);
    }
    const auto text = to_hex(all);
    EXPECT_EQ(text.substr(0, 8), "00010203");
    EXPECT_EQ(text.substr(text.size() - 4), "feff");
    EXPECT_EQ(from_hex(text), all);
}

TEST(EncodingHex, RejectsOddLengthAndNonDigits) {
    for (const char* bad : {"0", "abc", "0g", "zz", " 00", "00 ", "0x00", "-1", "\xff\xff"}) {
        std::error_code ec;
        const auto out = from_hex(bad, ec);
        EXPECT_EQ(ec, errc::bad_hex) << bad;
        EXPECT_TRUE(out.empty()) << bad;
    }
    EXPECT_THROW(from_hex("0"), std::system_error);
}

TEST(EncodingHex, ErrorCodeClearedOnSuccess) {
    std::error_code ec = errc::bad_hex;
    EXPECT_EQ(from_hex("00ff", ec), (byte_vector{0x00, 0xFF}));
    EXPECT_FALSE(ec);
}

TEST(EncodingBase64, Rfc4648Vectors) {
    for (const auto& v : rfc4648_vectors) {
        EXPECT_EQ(base64_encode(as_bytes(v.input)), v.base64) << v.input;
        std::error_code ec;
        EXPECT_EQ(base64_decode(v.base64, ec), to_bytes(v.input)) << v.base64;
        EXPECT_FALSE(ec) << v.base64;
    }
}

TEST(EncodingBase64, UsesStandardAlphabet) {
    const byte_vector data{0xFB, 0xFF, 0xBF};
    EXPECT_EQ(base64_encode(data), "+/+/");
    EXPECT_EQ(base64_decode("+/+/"), data);
    std::error_code ec;
    base64_decode("-_-_", ec);
    EXPECT_EQ(ec, errc::bad_base64);
}

TEST(EncodingBase64, RejectsMalformedInput) {
    for (const char* bad : {"Zg", "Zg=", "Zg===", "Z===", "====", "Zm9v\n", " Zm9v", "Zm 9v",
                            "Zm=v", "Zg==Zg==", "Zh==", "Zm9=", "Zm8\x80"}) {
        std::error_code ec;
        const auto out = base64_decode(bad, ec);
        EXPECT_EQ(ec, errc::bad_base64) << bad;
        EXPECT_TRUE(out.empty()) << bad;
    }
    EXPECT_THROW(base64_decode("Zg="), std::system_error);
}

TEST(EncodingBase64Url, Rfc4648Vectors) {
    for (const auto& v : rfc4648_vectors) {
        EXPECT_EQ(base64url_encode(as_bytes(v.input)), v.base64url) << v.input;
        std::error_code ec;
        EXPECT_EQ(base64url_decode(v.base64url, ec), to_bytes(v.input)) << v.base64url;
        EXPECT_FALSE(ec) << v.base64url;
    }
}

TEST(EncodingBase64Url, UsesUrlAlphabet) {
    const byte_vector data{0xFB, 0xFF, 0xBF};
    EXPECT_EQ(base64url_encode(data), "-_-_");
    EXPECT_EQ(base64url_decode("-_-_"), data);
    std::error_code ec;
    base64url_decode("+/+/", ec);
    EXPECT_EQ(ec, errc::bad_base64);
}

TEST(EncodingBase64Url, RejectsPaddingWhitespaceAndBadLength) {
    for (const char* bad : {"Zg==", "Zg=", "Zm8=", "Z", "Zm9vY", "Zm9v\n", " Zm9v", "Zm9v ",
                            "Zm\t9v", "Zm.9", "Zm9v+", "Zm9v/"}) {
        std::error_code ec;
        const auto out = base64url_decode(bad, ec);
        EXPECT_EQ(ec, errc::bad_base64) << bad;
        EXPECT_TRUE(out.empty()) << bad;
    }
    EXPECT_THROW(base64url_decode("Zg=="), std::system_error);
}

TEST(EncodingBase64Url, RejectsNonCanonicalTrailingBits) {
    // "Zg" is the canonical encoding of "f" (0x66); "Zh".."Zv" differ only in the 4 unused bits.
    for (const char* bad : {"Zh", "Zi", "Zv", "Zm9", "Zm-"}) {
        std::error_code ec;
        base64url_decode(bad, ec);
        EXPECT_EQ(ec, errc::bad_base64) << bad;
    }
    EXPECT_EQ(base64url_decode("Zm8"), to_bytes("fo"));
}

TEST(EncodingBase64Url, RoundTripsEveryLength) {
    byte_vector data;
    for (std::size_t size = 0; size < 70; ++size) {
        const auto text = base64url_encode(data);
        EXPECT_EQ(text.find('='), std::string::npos);
        EXPECT_EQ(base64url_decode(text), data) << size;
        EXPECT_EQ(base64_decode(base64_encode(data)), data) << size;
        data.push_back(static_cast<std::uint8_t>(size * 37 + 11));
    }
}

}  // namespace
