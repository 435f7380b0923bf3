#include <imsp2p/pana/pana_message.hpp>

#include <imsp2p/pana/error.hpp>

#include <gtest/gtest.h>

#include <cstdint>
#include <system_error>
#include <vector>

namespace pana = imsp2p::pana;
using imsp2p::core::byte_vector;

namespace {

pana::pana_message sample_message() {
    pana::pana_message message;
    message.flags = pana::pana_flags::request | pana::pana_flags::start;
    message.type = pana::pana_message_type::auth;
    message.session_id = 0x01020304;
    message.sequence_number = 0xA0B0C0D0;
    message.avps.push_back(pana::make_u32_avp(pana::pana_avp_code::prf_algorithm, 5));
    message.avps.push_back(
        pana::make_bytes_avp(pana::pana_avp_code::eap_payload, byte_vector{1, 2, 0, 5, 1}, true));
    pana::pana_avp vendor;
    vendor.code = 77;
    vendor.vendor_id = 10415;
    vendor.value = {0xAA, 0xBB};
    message.avps.push_back(vendor);
    return message;
}

}  // namespace

TEST(PanaMessage, SerialisesTheRfcLayout) {
    const byte_vector wire = pana::serialize(sample_message());
    // header 16 + PRF (8+4) + EAP (8+5+3 padding) + vendor AVP (12+2+2 padding)
    ASSERT_EQ(wire.size(), 16u + 12u + 16u + 16u);
    const byte_vector header{0x00, 0x00, 0x00, 0x3C, 0xC0, 0x00, 0x00, 0x02,
                             0x01, 0x02, 0x03, 0x04, 0xA0, 0xB0, 0xC0, 0xD0};
    EXPECT_EQ(byte_vector(wire.begin(), wire.begin() + 16), header);
    const byte_vector prf{0x00, 0x06, 0x00, 0x00, 0x00, 0x04, 0x00, 0x00, 0x00, 0x00, 0x00, 0x05};
    EXPECT_EQ(byte_vector(wire.begin() + 16, wire.begin() + 28), prf);
    // EAP-Payload: M flag, length 5 (no padding counted), 3 zero padding bytes
    const byte_vector eap{0x00, 0x02, 0x40, 0x00, 0x00, 0x05, 0x00, 0x00,
                          0x01, 0x02, 0x00, 0x05, 0x01, 0x00, 0x00, 0x00};
    EXPECT_EQ(byte_vector(wire.begin() + 28, wire.begin() + 44), eap);
    // Vendor AVP: V flag and the 4-byte vendor id 10415 (0x28AF)
    const byte_vector vendor{0x00, 0x4D, 0x80, 0x00, 0x00, 0x02, 0x00, 0x00,
                             0x00, 0x00, 0x28, 0xAF, 0xAA, 0xBB, 0x00, 0x00};
    EXPECT_EQ(byte_vector(wire.begin() + 44, wire.end()), vendor);
}

TEST(PanaMessage, RoundTrips) {
    const pana::pana_message message = sample_message();
    std::error_code ec;
    const auto parsed = pana::parse_pana_message(pana::serialize(message), ec);
    ASSERT_FALSE(ec) << ec.message();
    ASSERT_TRUE(parsed);
    EXPECT_EQ(*parsed, message);
    EXPECT_TRUE(parsed->is_request());
    EXPECT_TRUE(parsed->has_flag(pana::pana_flags::start));
    EXPECT_EQ(pana::find_u32(*parsed, pana::pana_avp_code::prf_algorithm), 5u);
    ASSERT_NE(parsed->find(pana::pana_avp_code::eap_payload), nullptr);
    EXPECT_EQ(parsed->find(pana::pana_avp_code::eap_payload)->flags,
              pana::pana_avp_flags::mandatory);
    // The vendor AVP is not an IETF AVP with code 77.
    EXPECT_EQ(parsed->find(static_cast<pana::pana_avp_code>(77)), nullptr);
    EXPECT_EQ(parsed->avps[2].vendor_id, 10415u);
}

TEST(PanaMessage, HeaderOnlyMessageParses) {
    pana::pana_message pci;
    pci.type = pana::pana_message_type::client_initiation;
    const byte_vector wire = pana::serialize(pci);
    ASSERT_EQ(wire.size(), 16u);
    EXPECT_EQ(pana::parse_pana_message(wire), pci);
}

TEST(PanaMessage, RejectsBadLengths) {
    const byte_vector wire = pana::serialize(sample_message());
    std::error_code ec;
    EXPECT_FALSE(pana::parse_pana_message(byte_vector(wire.begin(), wire.begin() + 15), ec));
    EXPECT_EQ(ec, pana::errc::pana_bad_length);
    byte_vector longer = wire;
    longer.push_back(0);
    EXPECT_FALSE(pana::parse_pana_message(longer, ec));
    EXPECT_EQ(ec, pana::errc::pana_bad_length);
    byte_vector wrong_field = wire;
    wrong_field[3] = static_cast<std::uint8_t>(wrong_field[3] - 4);
    EXPECT_FALSE(pana::parse_pana_message(wrong_field, ec));
    EXPECT_EQ(ec, pana::errc::pana_bad_length);
}

TEST(PanaMessage, RejectsReservedBits) {
    const byte_vector wire = pana::serialize(sample_message());
    std::error_code ec;
    byte_vector reserved = wire;
    reserved[0] = 1;
    EXPECT_FALSE(pana::parse_pana_message(reserved, ec));
    EXPECT_EQ(ec, pana::errc::pana_reserved_bits);
    byte_vector flag = wire;
    flag[5] = 0x01;  // a reserved header flag bit
    EXPECT_FALSE(pana::parse_pana_message(flag, ec));
    EXPECT_EQ(ec, pana::errc::pana_reserved_bits);
    byte_vector avp_reserved = wire;
    avp_reserved[16 + 7] = 1;  // reserved field of the first AVP
    EXPECT_FALSE(pana::parse_pana_message(avp_reserved, ec));
    EXPECT_EQ(ec, pana::errc::pana_bad_avp);
    byte_vector avp_flag = wire;
    avp_flag[16 + 3] = 0x01;  // a reserved AVP flag bit
    EXPECT_FALSE(pana::parse_pana_message(avp_flag, ec));
    EXPECT_EQ(ec, pana::errc::pana_bad_avp);
}

TEST(PanaMessage, RejectsUnknownTypesAndFlagsThatDoNotFit) {
    const byte_vector wire = pana::serialize(sample_message());
    std::error_code ec;
    byte_vector type = wire;
    type[7] = 5;
    EXPECT_FALSE(pana::parse_pana_message(type, ec));
    EXPECT_EQ(ec, pana::errc::pana_unknown_message_type);
    type[7] = 0;
    EXPECT_FALSE(pana::parse_pana_message(type, ec));
    EXPECT_EQ(ec, pana::errc::pana_unknown_message_type);

    const auto with = [](std::uint16_t flags, pana::pana_message_type t) {
        pana::pana_message m;
        m.flags = flags;
        m.type = t;
        std::error_code error;
        pana::parse_pana_message(pana::serialize(m), error);
        return error;
    };
    using pana::pana_flags;
    using pana::pana_message_type;
    EXPECT_EQ(with(pana_flags::request, pana_message_type::client_initiation),
              pana::errc::pana_bad_flags);
    EXPECT_EQ(with(pana_flags::start | pana_flags::complete, pana_message_type::auth),
              pana::errc::pana_bad_flags);
    EXPECT_EQ(with(pana_flags::ping, pana_message_type::auth), pana::errc::pana_bad_flags);
    EXPECT_EQ(with(pana_flags::start, pana_message_type::termination), pana::errc::pana_bad_flags);
    EXPECT_EQ(with(pana_flags::request, pana_message_type::notification),
              pana::errc::pana_bad_flags);
    EXPECT_EQ(with(pana_flags::ping | pana_flags::reauth, pana_message_type::notification),
              pana::errc::pana_bad_flags);
    EXPECT_FALSE(with(pana_flags::request | pana_flags::ping, pana_message_type::notification));
    EXPECT_FALSE(with(pana_flags::reauth, pana_message_type::notification));
    EXPECT_FALSE(with(pana_flags::complete, pana_message_type::auth));
}

TEST(PanaMessage, RejectsTruncatedAvps) {
    const byte_vector wire = pana::serialize(sample_message());
    std::error_code ec;
    // Cut inside the last AVP and fix the length field: the AVP no longer fits.
    for (std::size_t cut : {4u, 8u, 14u, 15u}) {
        byte_vector shorter(wire.begin(), wire.end() - static_cast<std::ptrdiff_t>(cut));
        shorter[2] = static_cast<std::uint8_t>(shorter.size() >> 8);
        shorter[3] = static_cast<std::uint8_t>(shorter.size());
        EXPECT_FALSE(pana::parse_pana_message(shorter, ec)) << cut;
        EXPECT_EQ(ec, pana::errc::pana_bad_avp) << cut;
    }
    // An AVP length that runs past the end.
    byte_vector overlong = wire;
    overlong[16 + 5] = 0x40;
    EXPECT_FALSE(pana::parse_pana_message(overlong, ec));
    EXPECT_EQ(ec, pana::errc::pana_bad_avp);
    EXPECT_THROW(pana::parse_pana_message(overlong), std::system_error);
}

TEST(PanaMessage, SerializeRejectsWhatCannotBeEncoded) {
    pana::pana_message message;
    pana::pana_avp avp;
    avp.code = 1;
    avp.flags = 0x0001;
    message.avps.push_back(avp);
    std::error_code ec;
    EXPECT_TRUE(pana::serialize(message, ec).empty());
    EXPECT_EQ(ec, pana::errc::pana_bad_avp);
    message.avps[0].flags = 0;
    message.avps[0].value.assign(40000, 1);
    message.avps.push_back(message.avps[0]);
    EXPECT_TRUE(pana::serialize(message, ec).empty());
    EXPECT_EQ(ec, pana::errc::pana_bad_length);
    EXPECT_THROW(pana::serialize(message), std::system_error);
}

TEST(PanaMessage, TypedHelpers) {
    const pana::pana_avp code = pana::make_u32_avp(pana::pana_avp_code::result_code, 1);
    EXPECT_EQ(code.value, (byte_vector{0, 0, 0, 1}));
    EXPECT_EQ(pana::avp_u32(code), 1u);
    EXPECT_EQ(pana::avp_u32(pana::make_bytes_avp(pana::pana_avp_code::nonce, byte_vector{1, 2})),
              std::nullopt);
    EXPECT_EQ(pana::auth_value_size(12), 16u);
    EXPECT_EQ(pana::auth_value_size(7), 20u);
    EXPECT_EQ(pana::auth_value_size(99), 0u);
}
