#include <imsp2p/core/siphash.hpp>

#include <gtest/gtest.h>

#include <array>
#include <cstdint>
#include <vector>

namespace core = imsp2p::core;

namespace {

/** The reference key 00 01 .. 0f and message 00 01 .. (n-1) of the SipHash paper's vectors. */
constexpr std::array<std::uint8_t, 16> reference_key_bytes = {0, 1, 2,  3,  4,  5,  6,  7,
                                                              8, 9, 10, 11, 12, 13, 14, 15};

struct known_answer {
    std::size_t length;
    std::uint64_t siphash24;
    std::uint64_t siphash13;
};

// Computed with OpenSSL 3's SIPHASH MAC (an independent implementation): `openssl mac -macopt
// hexkey:000102030405060708090a0b0c0d0e0f -macopt size:8 [-macopt c-rounds:1 -macopt
// d-rounds:3] SIPHASH`, its 8 output bytes read little endian. Lengths 0 and 15 are also the
// SipHash paper's own SipHash-2-4 examples.
constexpr known_answer known_answers[] = {
    {0, 0x726fdb47dd0e0e31ULL, 0xabac0158050fc4dcULL},
    {1, 0x74f839c593dc67fdULL, 0xc9f49bf37d57ca93ULL},
    {7, 0xab0200f58b01d137ULL, 0xd3927d989bb11140ULL},
    {8, 0x93f5f5799a932462ULL, 0x369095118d299a8eULL},
    {15, 0xa129ca6149be45e5ULL, 0xd320d86d2a519956ULL},
    {16, 0x3f2acc7f57c29bdbULL, 0xcc4fdd1a7d908b66ULL},
    {63, 0x958a324ceb064572ULL, 0x9d199062b7bbb3a8ULL},
};

std::vector<std::uint8_t> reference_message(std::size_t length) {
    std::vector<std::uint8_t> message(length);
    for (std::size_t i = 0; i < length; ++i) {
        message[i] = static_cast<std::uint8_t>(i);
    }
    return message;
}

}  // namespace

TEST(SipHash, MatchesOpenSslForEveryTailLength) {
    const auto key = core::siphash_key::from_bytes(reference_key_bytes);
    EXPECT_EQ(key.k0, 0x0706050403020100ULL);
    EXPECT_EQ(key.k1, 0x0f0e0d0c0b0a0908ULL);
    for (const auto& expected : known_answers) {
        const auto message = reference_message(expected.length);
        EXPECT_EQ(core::siphash24(key, message), expected.siphash24) << expected.length;
        EXPECT_EQ(core::siphash13(key, message), expected.siphash13) << expected.length;
    }
}

TEST(SipHash, IsAConstantExpressionAndDependsOnTheKey) {
    constexpr auto key = core::siphash_key::from_bytes(reference_key_bytes);
    static_assert(core::siphash24(key, {}) == 0x726fdb47dd0e0e31ULL);
    const auto message = reference_message(20);
    core::siphash_key other = key;
    other.k1 ^= 1U;
    EXPECT_NE(core::siphash24(key, message), core::siphash24(other, message));
    EXPECT_NE(core::siphash13(key, message), core::siphash13(other, message));
}
