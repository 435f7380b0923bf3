#include <imsp2p/core/identity.hpp>

#include "unicode.hpp"

#include <imsp2p/core/encoding.hpp>
#include <imsp2p/core/error.hpp>

#include <arpa/inet.h>
#include <netinet/in.h>

#include <algorithm>
#include <array>
#include <cstdint>
#include <ostream>
#include <vector>

namespace imsp2p::core {

// Defined in doi.cpp (internal to the library).

namespace {

constexpr std::string_view hex_digits_upper = "0123456789ABCDEF";
constexpr std::size_t max_label_length = 63;
constexpr std::size_t max_host_name_length = 253;

// --- character classes (RFC 3261 §25.1, RFC 3966 §3, RFC 7542 §2.2) -------------------

constexpr bool is_alpha(char c) noexcept {
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z');
}

constexpr bool is_digit(char c) noexcept {
    return c >= '0' && c <= '9';
}

constexpr bool is_alphanumeric(char c) noexcept {
    return is_alpha(c) || is_digit(c);
}

constexpr bool is_non_ascii(char c) noexcept {
    return static_cast<std::uint8_t>(c) >= 0x80;
}

constexpr char ascii_lower(char c) noexcept {
    return (c >= 'A' && c <= 'Z') ? static_cast<char>(c - 'A' + 'a') : c;
}

bool contains(std::string_view set, char c) noexcept {
    return set.find(c) != std::string_view::npos;
}

// unreserved = alphanum / mark
bool is_unreserved(char c) noexcept {
    return is_alphanumeric(c) || contains("-_.!~*'()", c);
}

// user-unreserved
bool is_user_unreserved(char c) noexcept {
    return contains("&=+$,;?/", c);
}

// param-unreserved (RFC 3261 and RFC 3966 agree)
bool is_param_unreserved(char c) noexcept {
    return contains("[]/:&+$", c);
}

// hnv-unreserved
bool is_header_unreserved(char c) noexcept {
    return contains("[]/?:+$", c);
}

// visual-separator (RFC 3966)
bool is_visual_separator(char c) noexcept {
    return contains("-.()", c);
}

bool is_escape_at(std::string_view text, std::size_t i) noexcept {
    return text[i] == '%' && text.size() - i >= 3 && hex_digit_value(text[i + 1]) >= 0 &&
           hex_digit_value(text[i + 2]) >= 0;
}

// True if text is 1*( allowed / escaped ) (or empty when allow_empty).
template <typename Predicate>
bool is_escaped_string(std::string_view text, Predicate allowed, bool allow_empty = false) {
    if (text.empty()) {
        return allow_empty;
    }
    for (std::size_t i = 0; i < text.size(); ++i) {
        if (text[i] == '%') {
            if (!is_escape_at(text, i)) {
                return false;
            }
            i += 2;
        } else if (!allowed(text[i])) {
            return false;
        }
    }
    return true;
}

// Decodes escapes of unreserved characters and upper-cases the hex of the others; with
// fold_case, every other ASCII letter is put in lower case. The input must be well escaped.
std::string normalise_escapes(std::string_view text, bool fold_case) {
    std::string out;
    out.reserve(text.size());
    for (std::size_t i = 0; i < text.size(); ++i) {
        if (text[i] != '%') {
            out.push_back(fold_case ? ascii_lower(text[i]) : text[i]);
            continue;
        }
        const auto decoded =
            static_cast<char>(hex_digit_value(text[i + 1]) * 16 + hex_digit_value(text[i + 2]));
        if (is_unreserved(decoded)) {
            out.push_back(fold_case ? ascii_lower(decoded) : decoded);
        } else {
            const auto byte = static_cast<std::uint8_t>(decoded);
            out.push_back('%');
            out.push_back(hex_digits_upper[byte >> 4]);
            out.push_back(hex_digits_upper[byte & 0x0Fu]);
        }
        i += 2;
    }
    return out;
}

std::string to_lower(std::string_view text) {
    std::string out(text);
    std::transform(out.begin(), out.end(), out.begin(), ascii_lower);
    return out;
}

bool equals_ignoring_case(std::string_view a, std::string_view b) noexcept {
    return a.size() == b.size() && std::equal(a.begin(), a.end(), b.begin(), [](char x, char y) {
               return ascii_lower(x) == ascii_lower(y);
           });
}

std::string_view trim(std::string_view text) noexcept {
    constexpr std::string_view blanks = " \t\r\n";
    const std::size_t first = text.find_first_not_of(blanks);
    if (first == std::string_view::npos) {
        return {};
    }
    return text.substr(first, text.find_last_not_of(blanks) - first + 1);
}

std::vector<std::string_view> split(std::string_view text, char separator) {
    std::vector<std::string_view> parts;
    std::size_t start = 0;
    while (true) {
        const std::size_t end = text.find(separator, start);
        parts.push_back(text.substr(start, end - start));
        if (end == std::string_view::npos) {
            return parts;
        }
        start = end + 1;
    }
}

// --- hosts -------------------------------------------------------------------------------

// domainlabel = alphanum / alphanum *( alphanum / "-" ) alphanum
bool is_domain_label(std::string_view label) noexcept {
    if (label.empty() || label.size() > max_label_length) {
        return false;
    }
    if (!is_alphanumeric(label.front()) || !is_alphanumeric(label.back())) {
        return false;
    }
    return std::all_of(label.begin(), label.end(),
                       [](char c) { return is_alphanumeric(c) || c == '-'; });
}

// hostname = *( domainlabel "." ) toplabel [ "." ]; normalised to lower case without the dot.
bool normalise_host_name(std::string_view host, std::string& out) {
    if (!host.empty() && host.back() == '.') {
        host.remove_suffix(1);
    }
    if (host.empty() || host.size() > max_host_name_length) {
        return false;
    }
    const auto labels = split(host, '.');
    if (!std::all_of(labels.begin(), labels.end(), is_domain_label) ||
        !is_alpha(labels.back().front())) {
        return false;
    }
    out = to_lower(host);
    return true;
}

// IPv4address = 1*3DIGIT "." 1*3DIGIT "." 1*3DIGIT "." 1*3DIGIT, each at most 255.
bool normalise_ipv4(std::string_view host, std::string& out) {
    const auto parts = split(host, '.');
    if (parts.size() != 4) {
        return false;
    }
    std::string result;
    for (const auto part : parts) {
        if (part.empty() || part.size() > 3 || !std::all_of(part.begin(), part.end(), is_digit)) {
            return false;
        }
        int value = 0;
        for (const char c : part) {
            value = value * 10 + (c - '0');
        }
        if (value > 255) {
            return false;
        }
        if (!result.empty()) {
            result.push_back('.');
        }
        result += std::to_string(value);
    }
    out = std::move(result);
    return true;
}

// IPv6reference = "[" IPv6address "]", normalised to RFC 5952 text.
bool normalise_ipv6_reference(std::string_view host, std::string& out) {
    if (host.size() < 3 || host.front() != '[' || host.back() != ']') {
        return false;
    }
    const std::string address(host.substr(1, host.size() - 2));
    in6_addr binary{};
    if (inet_pton(AF_INET6, address.c_str(), &binary) != 1) {
        return false;
    }
    std::array<char, INET6_ADDRSTRLEN> text{};
    if (inet_ntop(AF_INET6, &binary, text.data(), static_cast<socklen_t>(text.size())) == nullptr) {
        return false;
    }
    out = "[";
    out += text.data();
    out += "]";
    return true;
}

bool normalise_host(std::string_view host, std::string& out) {
    if (host.empty()) {
        return false;
    }
    if (host.front() == '[') {
        return normalise_ipv6_reference(host, out);
    }
    std::string_view without_dot = host;
    if (without_dot.back() == '.') {
        without_dot.remove_suffix(1);
    }
    const std::size_t last_dot = without_dot.rfind('.');
    const std::string_view top_label =
        last_dot == std::string_view::npos ? without_dot : without_dot.substr(last_dot + 1);
    if (!top_label.empty() && is_digit(top_label.front())) {
        return normalise_ipv4(host, out);
    }
    return normalise_host_name(host, out);
}

bool parse_port(std::string_view text, std::uint16_t& port) noexcept {
    if (text.empty() || text.size() > 5 || !std::all_of(text.begin(), text.end(), is_digit)) {
        return false;
    }
    unsigned value = 0;
    for (const char c : text) {
        value = value * 10 + static_cast<unsigned>(c - '0');
    }
    if (value == 0 || value > 65535) {
        return false;
    }
    port = static_cast<std::uint16_t>(value);
    return true;
}

// --- telephone numbers (RFC 3966) --------------------------------------------------------

bool is_param_char(char c) noexcept {
    return is_param_unreserved(c) || is_unreserved(c);
}

// pname = 1*( alphanum / "-" )
bool is_tel_parameter_name(std::string_view name) noexcept {
    return !name.empty() && std::all_of(name.begin(), name.end(),
                                        [](char c) { return is_alphanumeric(c) || c == '-'; });
}

// Removes visual separators from 1*phonedigit (or 1*phonedigit-hex when hex is true); false if
// a character is not allowed or no digit remains.
bool strip_visual_separators(std::string_view text, bool hex, std::string& digits) {
    digits.clear();
    for (const char c : text) {
        if (is_visual_separator(c)) {
            continue;
        }
        if (is_digit(c) || (hex && (hex_digit_value(c) >= 0 || c == '*' || c == '#'))) {
            digits.push_back(ascii_lower(c));
        } else {
            return false;
        }
    }
    return !digits.empty();
}

// telephone-subscriber = global-number / local-number, normalised (see impu::canonical()).
bool normalise_telephone_subscriber(std::string_view text, std::string& out) {
    const auto parts = split(text, ';');
    const std::string_view number = parts.front();
    const bool global = !number.empty() && number.front() == '+';

    std::string digits;
    if (!strip_visual_separators(global ? number.substr(1) : number, !global, digits)) {
        return false;
    }
    std::optional<std::string> extension;
    std::optional<std::string> subaddress;
    std::optional<std::string> context;
    std::vector<std::string> seen_names;
    for (std::size_t i = 1; i < parts.size(); ++i) {
        const std::string_view parameter = parts[i];
        const std::size_t equals = parameter.find('=');
        const std::string name = to_lower(parameter.substr(0, equals));
        if (!is_tel_parameter_name(name)) {
            return false;
        }
        if (std::find(seen_names.begin(), seen_names.end(), name) != seen_names.end()) {
            return false;  // a parameter appears at most once
        }
        seen_names.push_back(name);
        if (equals == std::string_view::npos) {
            if (name == "ext" || name == "isub" || name == "phone-context") {
                return false;
            }
            continue;
        }
        const std::string_view value = parameter.substr(equals + 1);
        if (!is_escaped_string(value, is_param_char)) {
            return false;
        }
        if (name == "ext") {
            std::string extension_digits;
            if (!strip_visual_separators(value, false, extension_digits)) {
                return false;
            }
            extension = std::move(extension_digits);
        } else if (name == "isub") {
            subaddress = normalise_escapes(value, true);
        } else if (name == "phone-context") {
            std::string descriptor;
            if (value.front() == '+') {
                if (!strip_visual_separators(value.substr(1), false, descriptor)) {
                    return false;
                }
                descriptor.insert(descriptor.begin(), '+');
            } else if (!normalise_host_name(value, descriptor)) {
                return false;
            }
            context = std::move(descriptor);
        }
        // Other parameters (npdi, rn, cic, tgrp, ...) are validated and dropped.
    }
    // The context is required for local numbers and only allowed for them.
    if (global == context.has_value()) {
        return false;
    }
    out.clear();
    if (global) {
        out.push_back('+');
    }
    out += digits;
    if (extension) {
        out += ";ext=" + *extension;
    }
    if (subaddress) {
        out += ";isub=" + *subaddress;
    }
    if (context) {
        out += ";phone-context=" + *context;
    }
    return true;
}

// --- SIP URIs (RFC 3261 §19.1, §25.1) ----------------------------------------------------

struct sip_fields {
    std::string user;
    std::string host;
    std::optional<std::uint16_t> port;
    bool telephone_number = false;
};

// headers = "?" header *( "&" header ); header = hname "=" hvalue
bool are_valid_headers(std::string_view text) {
    for (const auto header : split(text, '&')) {
        const std::size_t equals = header.find('=');
        if (equals == std::string_view::npos) {
            return false;
        }
        const auto allowed = [](char c) { return is_header_unreserved(c) || is_unreserved(c); };
        if (!is_escaped_string(header.substr(0, equals), allowed) ||
            !is_escaped_string(header.substr(equals + 1), allowed, true)) {
            return false;
        }
    }
    return true;
}

// Parses what follows "sip:" / "sips:".
bool parse_sip_uri(std::string_view rest, sip_fields& fields) {
    std::string_view user_part;
    bool has_user = false;
    const std::size_t at = rest.find('@');
    if (at != std::string_view::npos) {
        if (rest.find('@', at + 1) != std::string_view::npos) {
            return false;
        }
        user_part = rest.substr(0, at);
        rest = rest.substr(at + 1);
        has_user = true;
        // user = 1*( unreserved / escaped / user-unreserved ); a ":" would start a password.
        if (!is_escaped_string(user_part,
                               [](char c) { return is_unreserved(c) || is_user_unreserved(c); })) {
            return false;
        }
    }

    const std::size_t question = rest.find('?');
    if (question != std::string_view::npos && !are_valid_headers(rest.substr(question + 1))) {
        return false;
    }
    const auto segments = split(rest.substr(0, question), ';');
    const std::string_view host_port = segments.front();

    // hostport = host [ ":" port ]
    std::string_view host = host_port;
    std::string_view port;
    bool has_port = false;
    const std::size_t port_colon =
        host_port.find(':', host_port.starts_with('[') ? host_port.find(']') : 0);
    if (port_colon != std::string_view::npos) {
        host = host_port.substr(0, port_colon);
        port = host_port.substr(port_colon + 1);
        has_port = true;
    }
    if (!normalise_host(host, fields.host)) {
        return false;
    }
    if (has_port) {
        std::uint16_t number = 0;
        if (!parse_port(port, number)) {
            return false;
        }
        fields.port = number;
    }

    // uri-parameters = *( ";" pname [ "=" pvalue ] )
    bool user_phone = false;
    std::vector<std::string> seen_names;
    for (std::size_t i = 1; i < segments.size(); ++i) {
        const std::string_view parameter = segments[i];
        const std::size_t equals = parameter.find('=');
        const std::string_view name = parameter.substr(0, equals);
        if (!is_escaped_string(name, is_param_char)) {
            return false;
        }
        if (equals != std::string_view::npos &&
            !is_escaped_string(parameter.substr(equals + 1), is_param_char)) {
            return false;
        }
        std::string lower_name = normalise_escapes(name, true);
        if (std::find(seen_names.begin(), seen_names.end(), lower_name) != seen_names.end()) {
            return false;  // a parameter appears at most once
        }
        if (lower_name == "user" && equals != std::string_view::npos &&
            normalise_escapes(parameter.substr(equals + 1), true) == "phone") {
            user_phone = true;
        }
        seen_names.push_back(std::move(lower_name));
    }

    if (user_phone) {
        if (!has_user || !normalise_telephone_subscriber(user_part, fields.user)) {
            return false;
        }
        fields.telephone_number = true;
    } else if (has_user) {
        fields.user = normalise_escapes(user_part, false);
    }
    return true;
}

bool is_printable_ascii(std::string_view text) noexcept {
    return std::all_of(text.begin(), text.end(), [](char c) { return c > 0x20 && c < 0x7F; });
}

std::size_t fnv1a(std::string_view text) noexcept {
    std::uint64_t value = 0xcbf29ce484222325ull;
    for (const char c : text) {
        value ^= static_cast<std::uint8_t>(c);
        value *= 0x100000001b3ull;
    }
    return static_cast<std::size_t>(value);
}

// --- network access identifiers (RFC 7542) -----------------------------------------------

// utf8-atext (ASCII part)
bool is_nai_atext(char c) noexcept {
    return is_alphanumeric(c) || contains("!#$%&'*+-/=?^_`{|}~", c) || is_non_ascii(c);
}

// utf8-username = dot-string = string *( "." string )
bool is_nai_user(std::string_view user) {
    const auto strings = split(user, '.');
    return std::all_of(strings.begin(), strings.end(), [](std::string_view part) {
        return !part.empty() && std::all_of(part.begin(), part.end(), is_nai_atext);
    });
}

// utf8-realm = 1*( label "." ) label; label = utf8-rtext *( ldh-str )
bool is_nai_realm(std::string_view realm) {
    const auto labels = split(realm, '.');
    if (labels.size() < 2) {
        return false;
    }
    const auto is_rtext = [](char c) { return is_alphanumeric(c) || is_non_ascii(c); };
    return std::all_of(labels.begin(), labels.end(), [&](std::string_view label) {
        return !label.empty() && label.size() <= max_label_length && is_rtext(label.front()) &&
               is_rtext(label.back()) && std::all_of(label.begin(), label.end(), [&](char c) {
                   return is_rtext(c) || c == '-';
               });
    });
}

// Valid UTF-8 without whitespace or control characters.
bool is_printable_utf8(std::string_view text) noexcept {
    std::size_t position = 0;
    char32_t code_point = 0;
    while (position < text.size()) {
        if (!detail::decode_utf8(text, position, code_point) ||
            detail::is_unicode_whitespace(code_point) || detail::is_unicode_control(code_point)) {
            return false;
        }
    }
    return true;
}

}  // namespace

// --- impi --------------------------------------------------------------------------------

impi impi::parse(std::string_view text, std::error_code& ec) {
    const std::string_view trimmed = trim(text);
    const std::size_t at = trimmed.find('@');
    if (trimmed.empty() || trimmed.size() > max_length || !is_printable_utf8(trimmed) ||
        at == std::string_view::npos || !is_nai_user(trimmed.substr(0, at)) ||
        !is_nai_realm(trimmed.substr(at + 1))) {
        ec = errc::impi_malformed;
        return {};
    }
    impi result;
    result.text_ = std::string(trimmed.substr(0, at + 1)) + to_lower(trimmed.substr(at + 1));
    result.at_ = at;
    ec.clear();
    return result;
}

impi impi::parse(std::string_view text) {
    std::error_code ec;
    impi result = parse(text, ec);
    if (ec) {
        throw_error(ec, "impi::parse");
    }
    return result;
}

std::string_view impi::user() const noexcept {
    return std::string_view(text_).substr(0, at_);
}

std::string_view impi::realm() const noexcept {
    if (text_.empty()) {
        return {};
    }
    return std::string_view(text_).substr(at_ + 1);
}

std::size_t impi::hash() const noexcept {
    return fnv1a(text_);
}

// --- impu --------------------------------------------------------------------------------

std::string_view to_string(impu_scheme scheme) noexcept {
    switch (scheme) {
        case impu_scheme::sip:
            return "sip";
        case impu_scheme::sips:
            return "sips";
        case impu_scheme::tel:
            return "tel";
    }
    return "sip";
}

impu impu::parse(std::string_view text, std::error_code& ec) {
    const std::string_view trimmed = trim(text);
    if (trimmed.empty() || trimmed.size() > max_length) {
        ec = errc::impu_malformed;
        return {};
    }
    const std::size_t colon = trimmed.find(':');
    const std::string_view scheme_name = trimmed.substr(0, colon);
    impu result;
    if (colon == std::string_view::npos) {
        ec = errc::impu_bad_scheme;
        return {};
    }
    if (equals_ignoring_case(scheme_name, "sip")) {
        result.scheme_ = impu_scheme::sip;
    } else if (equals_ignoring_case(scheme_name, "sips")) {
        result.scheme_ = impu_scheme::sips;
    } else if (equals_ignoring_case(scheme_name, "tel")) {
        result.scheme_ = impu_scheme::tel;
    } else {
        ec = errc::impu_bad_scheme;
        return {};
    }
    const std::string_view rest = trimmed.substr(colon + 1);
    if (!is_printable_ascii(rest)) {
        ec = errc::impu_malformed;
        return {};
    }

    if (result.scheme_ == impu_scheme::tel) {
        if (!normalise_telephone_subscriber(rest, result.user_)) {
            ec = errc::impu_malformed;
            return {};
        }
        result.telephone_number_ = true;
        result.canonical_ = "tel:" + result.user_;
    } else {
        sip_fields fields;
        if (!parse_sip_uri(rest, fields)) {
            ec = errc::impu_malformed;
            return {};
        }
        result.user_ = std::move(fields.user);
        result.host_ = std::move(fields.host);
        result.port_ = fields.port;
        result.telephone_number_ = fields.telephone_number;
        result.canonical_ = "sip:";  // sips: is the same identity (see the class description)
        if (!result.user_.empty()) {
            result.canonical_ += result.user_ + "@";
        }
        result.canonical_ += result.host_;
        if (result.port_) {
            result.canonical_ += ":" + std::to_string(*result.port_);
        }
        if (result.telephone_number_) {
            result.canonical_ += ";user=phone";
        }
    }
    result.text_ = std::string(trimmed);
    ec.clear();
    return result;
}

impu impu::parse(std::string_view text) {
    std::error_code ec;
    impu result = parse(text, ec);
    if (ec) {
        throw_error(ec, "impu::parse");
    }
    return result;
}

impu impu::from_impi(const impi& identity, std::error_code& ec) {
    if (identity.empty()) {
        ec = errc::impu_malformed;
        return {};
    }
    std::string uri = "sip:";
    for (const char c : identity.user()) {
        if (is_unreserved(c) || is_user_unreserved(c)) {
            uri.push_back(c);
        } else {
            const auto byte = static_cast<std::uint8_t>(c);
            uri.push_back('%');
            uri.push_back(hex_digits_upper[byte >> 4]);
            uri.push_back(hex_digits_upper[byte & 0x0Fu]);
        }
    }
    uri += "@";
    uri += identity.realm();
    impu result = parse(uri, ec);
    if (ec) {
        ec = errc::impu_malformed;
        return {};
    }
    return result;
}

impu impu::from_impi(const impi& identity) {
    std::error_code ec;
    impu result = from_impi(identity, ec);
    if (ec) {
        throw_error(ec, "impu::from_impi");
    }
    return result;
}

std::size_t impu::hash() const noexcept {
    return fnv1a(canonical_);
}

std::ostream& operator<<(std::ostream& out, const impi& value) {
    return out << value.str();
}

std::ostream& operator<<(std::ostream& out, const impu& value) {
    return out << value.str();
}

}  // namespace imsp2p::core
