#include <imsp2p/pana/eap.hpp>

#include <imsp2p/pana/error.hpp>

#include <gtest/gtest.h>

#include <cstdint>
#include <vector>

namespace pana = imsp2p::pana;
using imsp2p::core::byte_vector;

namespace {

std::error_code parse_error(const byte_vector& wire) {
    std::error_code ec;
    const auto packet = pana::parse_eap_packet(wire, ec);
    EXPECT_EQ(packet.has_value(), !ec);
    return ec;
}

}  // namespace

TEST(EapPacket, ParsesARequestWithTypeData) {
    const byte_vector wire{1, 7, 0, 8, 13, 0x20, 0xaa, 0xbb};
    std::error_code ec;
    const auto packet = pana::parse_eap_packet(wire, ec);
    ASSERT_TRUE(packet) << ec.message();
    EXPECT_EQ(packet->code, pana::eap_code::request);
    EXPECT_EQ(packet->identifier, 7);
    ASSERT_TRUE(packet->type);
    EXPECT_EQ(*packet->type, 13);
    EXPECT_EQ(packet->type_data, (byte_vector{0x20, 0xaa, 0xbb}));
    EXPECT_EQ(pana::serialize_eap_packet(*packet), wire);
}

TEST(EapPacket, ParsesAResponseWithOnlyAType) {
    const byte_vector wire{2, 0, 0, 5, 1};
    std::error_code ec;
    const auto packet = pana::parse_eap_packet(wire, ec);
    ASSERT_TRUE(packet);
    EXPECT_EQ(packet->code, pana::eap_code::response);
    EXPECT_EQ(packet->type, std::optional<std::uint8_t>(1));
    EXPECT_TRUE(packet->type_data.empty());
    EXPECT_EQ(pana::serialize_eap_packet(*packet), wire);
}

TEST(EapPacket, SuccessAndFailureHaveNoTypeAndRoundTrip) {
    for (std::uint8_t code : {3, 4}) {
        const byte_vector wire{code, 200, 0, 4};
        std::error_code ec;
        const auto packet = pana::parse_eap_packet(wire, ec);
        ASSERT_TRUE(packet) << int{code};
        EXPECT_FALSE(packet->type);
        EXPECT_EQ(pana::serialize_eap_packet(*packet), wire);
    }
    pana::eap_packet success;
    success.code = pana::eap_code::success;
    success.identifier = 9;
    success.type = 13;              // ignored for success
    success.type_data = {1, 2, 3};  // ignored for success
    EXPECT_EQ(pana::serialize_eap_packet(success), (byte_vector{3, 9, 0, 4}));
}

TEST(EapPacket, RejectsBuffersShorterThanTheHeader) {
    EXPECT_EQ(parse_error({}), pana::errc::eap_malformed);
    EXPECT_EQ(parse_error({1}), pana::errc::eap_malformed);
    EXPECT_EQ(parse_error({1, 2, 0}), pana::errc::eap_malformed);
}

TEST(EapPacket, RejectsUnknownCodes) {
    EXPECT_EQ(parse_error({0, 1, 0, 4}), pana::errc::eap_malformed);
    EXPECT_EQ(parse_error({5, 1, 0, 4}), pana::errc::eap_malformed);
    EXPECT_EQ(parse_error({255, 1, 0, 5, 1}), pana::errc::eap_malformed);
}

TEST(EapPacket, RejectsALengthThatDiffersFromTheBuffer) {
    EXPECT_EQ(parse_error({1, 1, 0, 6, 1}), pana::errc::eap_malformed);        // too long
    EXPECT_EQ(parse_error({1, 1, 0, 5, 1, 0}), pana::errc::eap_malformed);     // trailing byte
    EXPECT_EQ(parse_error({1, 1, 1, 5, 1}), pana::errc::eap_malformed);        // high byte
    EXPECT_EQ(parse_error({3, 1, 0, 0}), pana::errc::eap_malformed);           // zero length
    EXPECT_EQ(parse_error({2, 1, 0xff, 0xff, 1}), pana::errc::eap_malformed);  // maximum
}

TEST(EapPacket, RejectsSuccessOrFailureWithData) {
    EXPECT_EQ(parse_error({3, 1, 0, 5, 0}), pana::errc::eap_malformed);
    EXPECT_EQ(parse_error({4, 1, 0, 6, 1, 2}), pana::errc::eap_malformed);
}

TEST(EapPacket, RejectsRequestsAndResponsesWithoutAType) {
    EXPECT_EQ(parse_error({1, 1, 0, 4}), pana::errc::eap_malformed);
    EXPECT_EQ(parse_error({2, 1, 0, 4}), pana::errc::eap_malformed);
}

TEST(EapPacket, AnErrorClearsOnTheNextGoodParse) {
    std::error_code ec = pana::errc::eap_malformed;
    const auto packet = pana::parse_eap_packet(byte_vector{4, 1, 0, 4}, ec);
    EXPECT_TRUE(packet);
    EXPECT_FALSE(ec);
}

TEST(EapPacket, SerialisesALargePacketWithA16BitLength) {
    pana::eap_packet packet;
    packet.code = pana::eap_code::response;
    packet.identifier = 3;
    packet.type = 13;
    packet.type_data.assign(1000, 0x5a);
    const byte_vector wire = pana::serialize_eap_packet(packet);
    ASSERT_EQ(wire.size(), 1005u);
    EXPECT_EQ(wire[2], 0x03);
    EXPECT_EQ(wire[3], 0xed);
    std::error_code ec;
    const auto back = pana::parse_eap_packet(wire, ec);
    ASSERT_TRUE(back);
    EXPECT_EQ(back->type_data, packet.type_data);
}
