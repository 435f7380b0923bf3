#include <imsp2p/core/encoding.hpp>

#include <imsp2p/core/error.hpp>

#include <array>
#include <cstdint>

namespace imsp2p::core {
namespace {

constexpr char hex_digits[] = "0123456789abcdef";

constexpr char base64_alphabet[] =
    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
constexpr char base64url_alphabet[] =
    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";

constexpr std::uint8_t invalid = 0xFF;

/** Reverse lookup table of a 64-character alphabet: character -> 6-bit value or `invalid`. */
constexpr std::array<std::uint8_t, 256> make_decode_table(const char (&alphabet)[65]) {
    std::array<std::uint8_t, 256> table{};
    for (auto& entry : table) {
        entry = invalid;
    }
    for (std::uint8_t i = 0; i < 64; ++i) {
        table[static_cast<unsigned char>(alphabet[i])] = i;
    }
    return table;
}

constexpr auto base64_table = make_decode_table(base64_alphabet);
constexpr auto base64url_table = make_decode_table(base64url_alphabet);

/** Encodes with the given alphabet; pads with '=' to a multiple of 4 when @p pad. */
std::string encode(byte_view bytes, const char (&alphabet)[65], bool pad) {
    std::string out;
    out.reserve((bytes.size() + 2) / 3 * 4);
    std::size_t i = 0;
    for (; i + 3 <= bytes.size(); i += 3) {
        const std::uint32_t group =
            (std::uint32_t{bytes[i]} << 16) | (std::uint32_t{bytes[i + 1]} << 8) | bytes[i + 2];
        out.push_back(alphabet[(group >> 18) & 0x3F]);
        out.push_back(alphabet[(group >> 12) & 0x3F]);
        out.push_back(alphabet[(group >> 6) & 0x3F]);
        out.push_back(alphabet[group & 0x3F]);
    }
    const std::size_t rest = bytes.size() - i;
    if (rest == 1) {
        const std::uint32_t group = std::uint32_t{bytes[i]} << 16;
        out.push_back(alphabet[(group >> 18) & 0x3F]);
        out.push_back(alphabet[(group >> 12) & 0x3F]);
        if (pad) {
            out.append("==");
        }
    } else if (rest == 2) {
        const std::uint32_t group =
            (std::uint32_t{bytes[i]} << 16) | (std::uint32_t{bytes[i + 1]} << 8);
        out.push_back(alphabet[(group >> 18) & 0x3F]);
        out.push_back(alphabet[(group >> 12) & 0x3F]);
        out.push_back(alphabet[(group >> 6) & 0x3F]);
        if (pad) {
            out.push_back('=');
        }
    }
    return out;
}

/**
 * Decodes unpadded text (the padding, if any, has already been stripped by the caller) with the
 * given table. Rejects length 4n+1, characters outside the alphabet and non-zero unused bits.
 */
byte_vector decode_unpadded(std::string_view text, const std::array<std::uint8_t, 256>& table,
                            std::error_code& ec) {
    if (text.size() % 4 == 1) {
        ec = errc::bad_base64;
        return {};
    }
    byte_vector out;
    out.reserve(text.size() / 4 * 3 + 2);
    std::uint32_t buffer = 0;
    int bits = 0;
    for (const char c : text) {
        const std::uint8_t value = table[static_cast<unsigned char>(c)];
        if (value == invalid) {
            ec = errc::bad_base64;
            return {};
        }
        buffer = (buffer << 6) | value;
        bits += 6;
        if (bits >= 8) {
            bits -= 8;
            out.push_back(static_cast<std::uint8_t>(buffer >> bits));
            buffer &= (std::uint32_t{1} << bits) - 1;
        }
    }
    // 2 or 4 bits remain after a partial group; they must be zero (canonical encoding).
    if (buffer != 0) {
        ec = errc::bad_base64;
        return {};
    }
    ec.clear();
    return out;
}

}  // namespace

std::string to_hex(byte_view bytes) {
    std::string out;
    out.resize(bytes.size() * 2);
    for (std::size_t i = 0; i < bytes.size(); ++i) {
        out[2 * i] = hex_digits[bytes[i] >> 4];
        out[2 * i + 1] = hex_digits[bytes[i] & 0x0F];
    }
    return out;
}

byte_vector from_hex(std::string_view text, std::error_code& ec) {
    if (text.size() % 2 != 0) {
        ec = errc::bad_hex;
        return {};
    }
    byte_vector out(text.size() / 2);
    for (std::size_t i = 0; i < out.size(); ++i) {
        const int high = hex_digit_value(text[2 * i]);
        const int low = hex_digit_value(text[2 * i + 1]);
        if (high < 0 || low < 0) {
            ec = errc::bad_hex;
            return {};
        }
        out[i] = static_cast<std::uint8_t>((high << 4) | low);
    }
    ec.clear();
    return out;
}

byte_vector from_hex(std::string_view text) {
    std::error_code ec;
    auto out = from_hex(text, ec);
    if (ec) {
        throw_error(ec, "from_hex");
    }
    return out;
}

std::string base64url_encode(byte_view bytes) {
    return encode(bytes, base64url_alphabet, false);
}

byte_vector base64url_decode(std::string_view text, std::error_code& ec) {
    return decode_unpadded(text, base64url_table, ec);
}

byte_vector base64url_decode(std::string_view text) {
    std::error_code ec;
    auto out = base64url_decode(text, ec);
    if (ec) {
        throw_error(ec, "base64url_decode");
    }
    return out;
}

std::string base64_encode(byte_view bytes) {
    return encode(bytes, base64_alphabet, true);
}

byte_vector base64_decode(std::string_view text, std::error_code& ec) {
    if (text.size() % 4 != 0) {
        ec = errc::bad_base64;
        return {};
    }
    std::size_t padding = 0;
    if (!text.empty() && text.back() == '=') {
        padding = 1;
        if (text[text.size() - 2] == '=') {
            padding = 2;
        }
    }
    // Any remaining '=' is not in the alphabet, so decode_unpadded rejects it; a length of
    // 4n+1 after stripping (e.g. "A===") is rejected there too.
    return decode_unpadded(text.substr(0, text.size() - padding), base64_table, ec);
}

byte_vector base64_decode(std::string_view text) {
    std::error_code ec;
    auto out = base64_decode(text, ec);
    if (ec) {
        throw_error(ec, "base64_decode");
    }
    return out;
}

}  // namespace imsp2p::core
