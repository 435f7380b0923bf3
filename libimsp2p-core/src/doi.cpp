#include <imsp2p/core/doi.hpp>

#include "unicode.hpp"

#include <imsp2p/core/encoding.hpp>
#include <imsp2p/core/error.hpp>

#include <openssl/rand.h>

#include <algorithm>
#include <array>
#include <chrono>
#include <cstdint>
#include <mutex>
#include <ostream>

namespace imsp2p::core {

// Unicode helpers declared in unicode.hpp (shared with identity.cpp and content.cpp).
namespace detail {

bool decode_utf8(std::string_view text, std::size_t& position, char32_t& code_point) noexcept {
    if (position >= text.size()) {
        return false;
    }
    const auto byte_at = [&](std::size_t index) { return static_cast<std::uint8_t>(text[index]); };
    const std::uint8_t lead = byte_at(position);
    if (lead < 0x80) {
        code_point = lead;
        ++position;
        return true;
    }
    std::size_t length = 0;
    char32_t value = 0;
    char32_t minimum = 0;
    if (lead >= 0xC2 && lead <= 0xDF) {
        length = 2;
        value = lead & 0x1Fu;
        minimum = 0x80;
    } else if (lead >= 0xE0 && lead <= 0xEF) {
        length = 3;
        value = lead & 0x0Fu;
        minimum = 0x800;
    } else if (lead >= 0xF0 && lead <= 0xF4) {
        length = 4;
        value = lead & 0x07u;
        minimum = 0x10000;
    } else {
        return false;
    }
    if (text.size() - position < length) {
        return false;
    }
    for (std::size_t i = 1; i < length; ++i) {
        const std::uint8_t continuation = byte_at(position + i);
        if ((continuation & 0xC0u) != 0x80u) {
            return false;
        }
        value = (value << 6) | (continuation & 0x3Fu);
    }
    if (value < minimum || value > 0x10FFFF || (value >= 0xD800 && value <= 0xDFFF)) {
        return false;
    }
    code_point = value;
    position += length;
    return true;
}

bool is_unicode_whitespace(char32_t c) noexcept {
    return (c >= 0x09 && c <= 0x0D) || c == 0x20 || c == 0x85 || c == 0xA0 || c == 0x1680 ||
           (c >= 0x2000 && c <= 0x200A) || c == 0x2028 || c == 0x2029 || c == 0x202F ||
           c == 0x205F || c == 0x3000;
}

bool is_unicode_control(char32_t c) noexcept {
    // Cc (whitespace controls included: callers test is_unicode_whitespace first).
    if (c <= 0x1F || (c >= 0x7F && c <= 0x9F)) {
        return true;
    }
    // Invisible format controls (Cf): soft hyphen, Arabic letter mark, Mongolian vowel
    // separator, zero-width and directional marks, embeddings and overrides, word joiner and
    // invisible operators, isolates and deprecated format characters, byte order mark,
    // interlinear annotation, tag characters.
    if (c == 0xAD || c == 0x61C || c == 0x180E || (c >= 0x200B && c <= 0x200F) ||
        (c >= 0x202A && c <= 0x202E) || (c >= 0x2060 && c <= 0x2064) ||
        (c >= 0x2066 && c <= 0x206F) || c == 0xFEFF || (c >= 0xFFF9 && c <= 0xFFFB) ||
        c == 0xE0001 || (c >= 0xE0020 && c <= 0xE007F)) {
        return true;
    }
    // Noncharacters.
    return (c >= 0xFDD0 && c <= 0xFDEF) || (c & 0xFFFEu) == 0xFFFEu;
}

}  // namespace detail

namespace {

constexpr std::string_view directory_indicator = "10.";
constexpr std::string_view mint_suffix_prefix = "imsp2p.";
constexpr std::string_view crockford_base32 = "0123456789ABCDEFGHJKMNPQRSTVWXYZ";
constexpr std::string_view hex_digits_upper = "0123456789ABCDEF";

constexpr char ascii_upper(char c) noexcept {
    return (c >= 'a' && c <= 'z') ? static_cast<char>(c - 'a' + 'A') : c;
}

bool starts_with_ignoring_case(std::string_view text, std::string_view prefix) noexcept {
    if (text.size() < prefix.size()) {
        return false;
    }
    for (std::size_t i = 0; i < prefix.size(); ++i) {
        if (ascii_upper(text[i]) != ascii_upper(prefix[i])) {
            return false;
        }
    }
    return true;
}

bool equals_ignoring_case(std::string_view a, std::string_view b) noexcept {
    return a.size() == b.size() && starts_with_ignoring_case(a, b);
}

bool is_digit(char c) noexcept {
    return c >= '0' && c <= '9';
}

// Decodes every %XX escape of text into out.
std::error_code percent_decode(std::string_view text, std::string& out) {
    out.clear();
    out.reserve(text.size());
    for (std::size_t i = 0; i < text.size(); ++i) {
        if (text[i] != '%') {
            out.push_back(text[i]);
            continue;
        }
        if (text.size() - i < 3) {
            return errc::doi_bad_percent_encoding;
        }
        const int high = hex_digit_value(text[i + 1]);
        const int low = hex_digit_value(text[i + 2]);
        if (high < 0 || low < 0) {
            return errc::doi_bad_percent_encoding;
        }
        out.push_back(static_cast<char>(high * 16 + low));
        i += 2;
    }
    return {};
}

// Checks "10.<registrant>" where registrant = 1*DIGIT *("." 1*DIGIT).
std::error_code check_prefix(std::string_view prefix) noexcept {
    if (prefix.empty()) {
        return errc::doi_empty;
    }
    if (!prefix.starts_with(directory_indicator)) {
        return errc::doi_missing_prefix;
    }
    const std::string_view registrant = prefix.substr(directory_indicator.size());
    bool part_has_digit = false;
    for (const char c : registrant) {
        if (is_digit(c)) {
            part_has_digit = true;
        } else if (c == '.' && part_has_digit) {
            part_has_digit = false;
        } else {
            return errc::doi_bad_registrant;
        }
    }
    if (!part_has_digit) {
        return errc::doi_bad_registrant;
    }
    return {};
}

// Checks the characters of a decoded DOI: valid UTF-8, no whitespace, no controls.
std::error_code check_characters(std::string_view text) noexcept {
    std::size_t position = 0;
    char32_t code_point = 0;
    while (position < text.size()) {
        if (!detail::decode_utf8(text, position, code_point)) {
            return errc::doi_bad_utf8;
        }
        if (detail::is_unicode_whitespace(code_point)) {
            return errc::doi_whitespace;
        }
        if (detail::is_unicode_control(code_point)) {
            return errc::doi_control_character;
        }
    }
    return {};
}

// Validates a decoded DOI and finds the "/" that ends its prefix.
std::error_code check_canonical(std::string_view text, std::size_t& slash) noexcept {
    if (text.empty()) {
        return errc::doi_empty;
    }
    if (text.size() > doi::max_length) {
        return errc::doi_too_long;
    }
    if (const auto ec = check_characters(text)) {
        return ec;
    }
    slash = text.find('/');
    if (const auto ec = check_prefix(text.substr(0, slash))) {
        return ec;
    }
    if (slash == std::string_view::npos || slash + 1 == text.size()) {
        return errc::doi_missing_suffix;
    }
    return {};
}

// Selects the DOI part of the accepted input forms (still percent-encoded).
std::error_code strip_form(std::string_view text, std::string_view& body) noexcept {
    for (const std::string_view scheme :
         {std::string_view("https://"), std::string_view("http://")}) {
        if (!starts_with_ignoring_case(text, scheme)) {
            continue;
        }
        const std::string_view rest = text.substr(scheme.size());
        const std::size_t authority_end = rest.find_first_of("/?#");
        const std::string_view authority = rest.substr(0, authority_end);
        if (!equals_ignoring_case(authority, "doi.org") &&
            !equals_ignoring_case(authority, "dx.doi.org")) {
            return errc::doi_bad_resolver;
        }
        if (authority_end == std::string_view::npos || rest[authority_end] != '/') {
            body = {};
            return {};
        }
        const std::string_view path = rest.substr(authority_end + 1);
        body = path.substr(0, path.find_first_of("?#"));
        return {};
    }
    if (starts_with_ignoring_case(text, "urn:doi:")) {
        body = text.substr(8);
    } else if (starts_with_ignoring_case(text, "doi:")) {
        body = text.substr(4);
    } else {
        body = text;
    }
    return {};
}

bool must_percent_encode(std::uint8_t byte) noexcept {
    if (byte <= 0x20 || byte >= 0x7F) {
        return true;
    }
    return std::string_view("\"#%<>?[\\]^`{|}").find(static_cast<char>(byte)) !=
           std::string_view::npos;
}

std::string percent_encode_for_url(std::string_view text) {
    std::string out;
    out.reserve(text.size() + text.size() / 4);
    for (const char c : text) {
        const auto byte = static_cast<std::uint8_t>(c);
        if (must_percent_encode(byte)) {
            out.push_back('%');
            out.push_back(hex_digits_upper[byte >> 4]);
            out.push_back(hex_digits_upper[byte & 0x0Fu]);
        } else {
            out.push_back(c);
        }
    }
    return out;
}

// --- minting ---------------------------------------------------------------------------

constexpr std::size_t mint_random_bytes = 10;  // 80 bits
constexpr std::uint64_t max_timestamp_ms = (std::uint64_t{1} << 48) - 1;

class mint_clock_state {
  public:
    // Produces the next (timestamp, random) pair, strictly increasing within the process.
    std::error_code next(std::uint64_t& timestamp_ms,
                         std::array<std::uint8_t, mint_random_bytes>& random) {
        const auto now = std::chrono::duration_cast<std::chrono::milliseconds>(
                             std::chrono::system_clock::now().time_since_epoch())
                             .count();
        const std::uint64_t now_ms =
            now < 0 ? 0 : std::min(static_cast<std::uint64_t>(now), max_timestamp_ms);

        const std::lock_guard lock(mutex_);
        if (!initialised_ || now_ms > last_ms_) {
            std::array<std::uint8_t, mint_random_bytes> fresh{};
            if (RAND_bytes(fresh.data(), static_cast<int>(fresh.size())) != 1) {
                return errc::crypto_failure;
            }
            last_ms_ = now_ms;
            random_ = fresh;
            initialised_ = true;
        } else if (!increment(random_)) {
            // 2^80 mints in one millisecond: move to the next millisecond instead.
            std::array<std::uint8_t, mint_random_bytes> fresh{};
            if (last_ms_ == max_timestamp_ms ||
                RAND_bytes(fresh.data(), static_cast<int>(fresh.size())) != 1) {
                return errc::crypto_failure;
            }
            ++last_ms_;
            random_ = fresh;
        }
        timestamp_ms = last_ms_;
        random = random_;
        return {};
    }

  private:
    // Big-endian increment; false on wrap-around.
    static bool increment(std::array<std::uint8_t, mint_random_bytes>& value) noexcept {
        for (auto it = value.rbegin(); it != value.rend(); ++it) {
            if (++*it != 0) {
                return true;
            }
        }
        return false;
    }

    std::mutex mutex_;
    bool initialised_ = false;
    std::uint64_t last_ms_ = 0;
    std::array<std::uint8_t, mint_random_bytes> random_{};
};

mint_clock_state& mint_state() {
    static mint_clock_state state;
    return state;
}

// 26 characters of Crockford base32 of (48-bit timestamp || 80-bit random), as in a ULID.
std::string encode_mint_identifier(std::uint64_t timestamp_ms,
                                   const std::array<std::uint8_t, mint_random_bytes>& random) {
    std::string out;
    out.reserve(26);
    for (int shift = 45; shift >= 0; shift -= 5) {
        out.push_back(crockford_base32[(timestamp_ms >> shift) & 0x1Fu]);
    }
    for (std::size_t half = 0; half < 2; ++half) {
        std::uint64_t bits = 0;
        for (std::size_t i = 0; i < 5; ++i) {
            bits = (bits << 8) | random[half * 5 + i];
        }
        for (int shift = 35; shift >= 0; shift -= 5) {
            out.push_back(crockford_base32[(bits >> shift) & 0x1Fu]);
        }
    }
    return out;
}

}  // namespace

doi doi::parse(std::string_view text, std::error_code& ec) {
    if (text.empty()) {
        ec = errc::doi_empty;
        return {};
    }
    if (text.size() > max_input_length) {
        ec = errc::doi_too_long;
        return {};
    }
    std::string_view body;
    if ((ec = strip_form(text, body))) {
        return {};
    }
    if (body.empty()) {
        ec = errc::doi_empty;
        return {};
    }
    std::string decoded;
    if ((ec = percent_decode(body, decoded))) {
        return {};
    }
    std::size_t slash = 0;
    if ((ec = check_canonical(decoded, slash))) {
        return {};
    }
    ec.clear();
    return doi(std::move(decoded), slash);
}

doi doi::parse(std::string_view text) {
    std::error_code ec;
    doi result = parse(text, ec);
    if (ec) {
        throw_error(ec, "doi::parse");
    }
    return result;
}

doi doi::parse_canonical(std::string_view canonical, std::error_code& ec) {
    std::size_t slash = 0;
    if ((ec = check_canonical(canonical, slash))) {
        return {};
    }
    ec.clear();
    return doi(std::string(canonical), slash);
}

doi doi::parse_canonical(std::string_view canonical) {
    std::error_code ec;
    doi result = parse_canonical(canonical, ec);
    if (ec) {
        throw_error(ec, "doi::parse_canonical");
    }
    return result;
}

doi doi::mint(std::string_view prefix, std::error_code& ec) {
    if ((ec = check_prefix(prefix))) {
        return {};
    }
    constexpr std::size_t suffix_length = mint_suffix_prefix.size() + 26;
    if (prefix.size() + 1 + suffix_length > max_length) {
        ec = errc::doi_too_long;
        return {};
    }
    std::uint64_t timestamp_ms = 0;
    std::array<std::uint8_t, mint_random_bytes> random{};
    if ((ec = mint_state().next(timestamp_ms, random))) {
        return {};
    }
    std::string text;
    text.reserve(prefix.size() + 1 + suffix_length);
    text.append(prefix).append("/").append(mint_suffix_prefix);
    text.append(encode_mint_identifier(timestamp_ms, random));
    ec.clear();
    return doi(std::move(text), prefix.size());
}

doi doi::mint(std::string_view prefix) {
    std::error_code ec;
    doi result = mint(prefix, ec);
    if (ec) {
        throw_error(ec, "doi::mint");
    }
    return result;
}

std::string_view doi::prefix() const noexcept {
    return std::string_view(text_).substr(0, slash_);
}

std::string_view doi::registrant() const noexcept {
    if (text_.empty()) {
        return {};
    }
    return std::string_view(text_).substr(directory_indicator.size(),
                                          slash_ - directory_indicator.size());
}

std::string_view doi::suffix() const noexcept {
    if (text_.empty()) {
        return {};
    }
    return std::string_view(text_).substr(slash_ + 1);
}

std::string doi::key() const {
    std::string result(text_);
    for (char& c : result) {
        c = ascii_upper(c);
    }
    return result;
}

std::string doi::url() const {
    if (text_.empty()) {
        return {};
    }
    return "https://doi.org/" + percent_encode_for_url(text_);
}

std::string doi::urn() const {
    if (text_.empty()) {
        return {};
    }
    return "urn:doi:" + percent_encode_for_url(text_);
}

std::size_t doi::hash() const noexcept {
    // FNV-1a (64-bit) over the case-folded bytes.
    std::uint64_t value = 0xcbf29ce484222325ull;
    for (const char c : text_) {
        value ^= static_cast<std::uint8_t>(ascii_upper(c));
        value *= 0x100000001b3ull;
    }
    return static_cast<std::size_t>(value);
}

bool doi::operator==(const doi& other) const noexcept {
    return equals_ignoring_case(text_, other.text_);
}

std::weak_ordering doi::operator<=>(const doi& other) const noexcept {
    const std::size_t common = std::min(text_.size(), other.text_.size());
    for (std::size_t i = 0; i < common; ++i) {
        const auto a = static_cast<std::uint8_t>(ascii_upper(text_[i]));
        const auto b = static_cast<std::uint8_t>(ascii_upper(other.text_[i]));
        if (a != b) {
            return a < b ? std::weak_ordering::less : std::weak_ordering::greater;
        }
    }
    return text_.size() <=> other.text_.size();
}

std::ostream& operator<<(std::ostream& out, const doi& value) {
    return out << value.str();
}

}  // namespace imsp2p::core
