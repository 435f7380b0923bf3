/**
 * @file
 * Text encodings of binary data: hexadecimal (RFC 4648 §8), base64 and base64url (RFC 4648 §4,
 * §5).
 *
 * All functions are pure: they touch no shared state and are safe to call concurrently. Input
 * size is bounded only by memory. Decoders are strict so that every byte string has exactly one
 * accepted text form (this matters for signatures computed over encoded text).
 */
#pragma once

#include <imsp2p/core/bytes.hpp>
#include <imsp2p/core/export.hpp>

#include <string>
#include <string_view>
#include <system_error>

namespace imsp2p::core {

/**
 * The value of one hexadecimal digit (either case), as percent-decoders and hex parsers need.
 * @param c the character
 * @return 0..15, or -1 when @p c is not a hexadecimal digit
 */
constexpr int hex_digit_value(char c) noexcept {
    if (c >= '0' && c <= '9') {
        return c - '0';
    }
    if (c >= 'a' && c <= 'f') {
        return c - 'a' + 10;
    }
    if (c >= 'A' && c <= 'F') {
        return c - 'A' + 10;
    }
    return -1;
}

/**
 * Encodes bytes as lower-case hexadecimal, two digits per byte.
 * @param bytes the bytes to encode
 * @return the hexadecimal text (twice as long as the input)
 */
IMSP2P_CORE_EXPORT std::string to_hex(byte_view bytes);

/**
 * Decodes hexadecimal text (upper- or lower-case digits, no separators, no "0x" prefix).
 * @param text an even number of hexadecimal digits
 * @param ec set to errc::bad_hex on odd length or a non-hexadecimal character, cleared otherwise
 * @return the decoded bytes, or an empty vector on error
 */
IMSP2P_CORE_EXPORT byte_vector from_hex(std::string_view text, std::error_code& ec);

/**
 * Decodes hexadecimal text; see from_hex(std::string_view, std::error_code&).
 * @param text an even number of hexadecimal digits
 * @return the decoded bytes
 * @throws std::system_error with errc::bad_hex
 */
IMSP2P_CORE_EXPORT byte_vector from_hex(std::string_view text);

/**
 * Encodes bytes as base64url (RFC 4648 §5, alphabet "A-Za-z0-9-_") without padding, as JOSE
 * requires (RFC 7515 §2).
 * @param bytes the bytes to encode
 * @return the encoded text
 */
IMSP2P_CORE_EXPORT std::string base64url_encode(byte_view bytes);

/**
 * Decodes unpadded base64url strictly: no "=" padding, no whitespace, no characters of the
 * standard alphabet ("+", "/"), no impossible length (4n+1), and the unused low bits of the last
 * character must be zero (the canonical encoding), so that exactly one text decodes to a given
 * byte string.
 * @param text the base64url text
 * @param ec set to errc::bad_base64 on any violation, cleared otherwise
 * @return the decoded bytes, or an empty vector on error
 */
IMSP2P_CORE_EXPORT byte_vector base64url_decode(std::string_view text, std::error_code& ec);

/**
 * Decodes unpadded base64url strictly; see base64url_decode(std::string_view, std::error_code&).
 * @param text the base64url text
 * @return the decoded bytes
 * @throws std::system_error with errc::bad_base64
 */
IMSP2P_CORE_EXPORT byte_vector base64url_decode(std::string_view text);

/**
 * Encodes bytes as standard base64 (RFC 4648 §4, alphabet "A-Za-z0-9+/") with "=" padding and
 * no line breaks.
 * @param bytes the bytes to encode
 * @return the encoded text (length a multiple of 4)
 */
IMSP2P_CORE_EXPORT std::string base64_encode(byte_view bytes);

/**
 * Decodes padded standard base64 strictly: the length must be a multiple of 4, padding ("=" or
 * "==") only at the end, no whitespace or line breaks, and zero unused bits in the last
 * character.
 * @param text the base64 text
 * @param ec set to errc::bad_base64 on any violation, cleared otherwise
 * @return the decoded bytes, or an empty vector on error
 */
IMSP2P_CORE_EXPORT byte_vector base64_decode(std::string_view text, std::error_code& ec);

/**
 * Decodes padded standard base64 strictly; see base64_decode(std::string_view, std::error_code&).
 * @param text the base64 text
 * @return the decoded bytes
 * @throws std::system_error with errc::bad_base64
 */
IMSP2P_CORE_EXPORT byte_vector base64_decode(std::string_view text);

}  // namespace imsp2p::core
