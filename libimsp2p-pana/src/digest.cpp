// HTTP Digest headers (RFC 7235 §2.1, RFC 7616, RFC 2617, RFC 3261 §25.1 LWS), responses
// (MD5, AKAv1-MD5 RFC 3310, AKAv2-MD5 RFC 4169) and the AKA nonce.

#include <imsp2p/pana/digest.hpp>

#include <imsp2p/pana/error.hpp>

#include <imsp2p/core/encoding.hpp>
#include <imsp2p/core/error.hpp>

#include "md5.hpp"

#include <openssl/crypto.h>

#include <algorithm>
#include <array>
#include <cstdio>
#include <span>
#include <string>
#include <utility>

namespace imsp2p::pana {
namespace {

// ---------------------------------------------------------------------------------------------
// Character classes and small helpers

bool is_tchar(unsigned char c) noexcept {
    if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9')) {
        return true;
    }
    constexpr std::string_view specials = "!#$%&'*+-.^_`|~";
    return specials.find(static_cast<char>(c)) != std::string_view::npos;
}

bool is_token(std::string_view text) noexcept {
    return !text.empty() && std::all_of(text.begin(), text.end(), [](char c) {
        return is_tchar(static_cast<unsigned char>(c));
    });
}

bool is_hex_digit(char c) noexcept {
    return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F');
}

char lower(char c) noexcept {
    return (c >= 'A' && c <= 'Z') ? static_cast<char>(c - 'A' + 'a') : c;
}

std::string to_lower(std::string_view text) {
    std::string out(text);
    std::transform(out.begin(), out.end(), out.begin(), lower);
    return out;
}

bool iequals(std::string_view a, std::string_view b) noexcept {
    return a.size() == b.size() && std::equal(a.begin(), a.end(), b.begin(),
                                              [](char x, char y) { return lower(x) == lower(y); });
}

// Describes a character for an error message without echoing control bytes.
std::string describe(char c) {
    const auto byte = static_cast<unsigned char>(c);
    if (byte >= 0x21 && byte <= 0x7e) {
        return std::string("'") + c + "'";
    }
    std::array<char, 8> text{};
    std::snprintf(text.data(), text.size(), "0x%02x", static_cast<unsigned>(byte));
    return text.data();
}

std::string quoted_name(std::string_view name) {
    return "\"" + std::string(name) + "\"";
}

// Decodes standard base64 whose "=" padding may be omitted.
core::byte_vector decode_base64_lenient(std::string_view text, std::error_code& ec) {
    if (text.size() % 4 == 1) {
        ec = core::errc::bad_base64;
        return {};
    }
    std::string padded(text);
    while (padded.size() % 4 != 0) {
        padded.push_back('=');
    }
    return core::base64_decode(padded, ec);
}

// ---------------------------------------------------------------------------------------------
// Tokenizer: auth-scheme 1*SP #auth-param

struct parsed_param {
    auth_param param;
    std::size_t offset = 0;  // where the name starts
};

class tokenizer {
  public:
    tokenizer(std::string_view text, std::string& detail) : text_(text), detail_(detail) {}

    bool run(std::vector<parsed_param>& params) {
        if (text_.size() > digest_limits::max_header_size) {
            return fail_plain("header value is longer than " +
                              std::to_string(digest_limits::max_header_size) + " bytes");
        }
        skip_whitespace();
        const std::size_t scheme_start = position_;
        const std::string_view scheme = read_token();
        if (scheme.empty()) {
            return at_end() ? fail_plain("header value is empty")
                            : fail(scheme_start,
                                   "expected the auth scheme, found " + describe(text_[position_]));
        }
        if (!iequals(scheme, "Digest")) {
            return fail(scheme_start,
                        "auth scheme \"" + std::string(scheme).substr(0, 32) + "\" is not Digest");
        }
        const std::size_t after_scheme = position_;
        skip_whitespace();
        if (!at_end() && position_ == after_scheme) {
            return fail(position_, "expected a space after the auth scheme, found " +
                                       describe(text_[position_]));
        }
        while (true) {
            skip_whitespace();
            if (at_end()) {
                break;
            }
            if (text_[position_] == ',') {  // an empty list element (RFC 7230 §7)
                ++position_;
                continue;
            }
            parsed_param entry;
            if (!read_param(entry, params)) {
                return false;
            }
            params.push_back(std::move(entry));
            skip_whitespace();
            if (at_end()) {
                break;
            }
            if (text_[position_] != ',') {
                return fail(position_, "expected ',' after the value of " +
                                           quoted_name(params.back().param.name) + ", found " +
                                           describe(text_[position_]));
            }
            ++position_;
        }
        if (params.empty()) {
            return fail_plain("the Digest header has no parameters");
        }
        return true;
    }

  private:
    bool at_end() const noexcept { return position_ >= text_.size(); }

    // OWS, and SIP line folding: CRLF followed by SP or HTAB.
    void skip_whitespace() noexcept {
        while (!at_end()) {
            const char c = text_[position_];
            if (c == ' ' || c == '\t') {
                ++position_;
            } else if (c == '\r' && position_ + 2 < text_.size() && text_[position_ + 1] == '\n' &&
                       (text_[position_ + 2] == ' ' || text_[position_ + 2] == '\t')) {
                position_ += 3;
            } else {
                break;
            }
        }
    }

    std::string_view read_token() noexcept {
        const std::size_t start = position_;
        while (!at_end() && is_tchar(static_cast<unsigned char>(text_[position_]))) {
            ++position_;
        }
        return text_.substr(start, position_ - start);
    }

    bool read_param(parsed_param& entry, const std::vector<parsed_param>& previous) {
        entry.offset = position_;
        const std::string_view name = read_token();
        if (name.empty()) {
            return fail(position_,
                        "expected a parameter name, found " + describe(text_[position_]));
        }
        if (name.size() > digest_limits::max_name_size) {
            return fail(entry.offset, "parameter name is longer than " +
                                          std::to_string(digest_limits::max_name_size) + " bytes");
        }
        entry.param.name = to_lower(name);
        skip_whitespace();
        if (at_end() || text_[position_] != '=') {
            return fail(position_, "expected '=' after parameter " + quoted_name(entry.param.name) +
                                       " (only name=value parameters are accepted)");
        }
        ++position_;
        skip_whitespace();
        if (at_end()) {
            return fail(position_, "parameter " + quoted_name(entry.param.name) + " has no value");
        }
        if (text_[position_] == '"') {
            if (!read_quoted(entry.param)) {
                return false;
            }
        } else {
            const std::size_t value_start = position_;
            const std::string_view value = read_token();
            if (value.empty()) {
                return fail(value_start, "value of parameter " + quoted_name(entry.param.name) +
                                             " is neither a token nor a quoted string (found " +
                                             describe(text_[value_start]) + ")");
            }
            entry.param.value = std::string(value);
        }
        if (entry.param.value.size() > digest_limits::max_value_size) {
            return fail(entry.offset, "value of parameter " + quoted_name(entry.param.name) +
                                          " is longer than " +
                                          std::to_string(digest_limits::max_value_size) + " bytes");
        }
        for (const parsed_param& other : previous) {
            if (other.param.name == entry.param.name) {
                return fail(entry.offset,
                            "parameter " + quoted_name(entry.param.name) + " appears twice");
            }
        }
        if (previous.size() >= digest_limits::max_parameters) {
            return fail(entry.offset, "more than " + std::to_string(digest_limits::max_parameters) +
                                          " parameters");
        }
        return true;
    }

    // quoted-string = DQUOTE *( qdtext / quoted-pair ) DQUOTE (RFC 7230 §3.2.6), with SIP
    // line folding allowed inside.
    bool read_quoted(auth_param& param) {
        const std::size_t start = position_;
        ++position_;  // the opening quote
        std::string value;
        while (true) {
            if (at_end()) {
                return fail(start,
                            "unterminated quoted string in parameter " + quoted_name(param.name));
            }
            const char c = text_[position_];
            const auto byte = static_cast<unsigned char>(c);
            if (c == '"') {
                ++position_;
                break;
            }
            if (c == '\\') {
                if (position_ + 1 >= text_.size()) {
                    return fail(start, "unterminated quoted string in parameter " +
                                           quoted_name(param.name));
                }
                const char escaped = text_[position_ + 1];
                const auto escaped_byte = static_cast<unsigned char>(escaped);
                if (escaped_byte < 0x20 ? escaped != '\t' : escaped_byte == 0x7f) {
                    return fail(position_ + 1, "invalid escaped character " + describe(escaped) +
                                                   " in parameter " + quoted_name(param.name));
                }
                value.push_back(escaped);
                position_ += 2;
                continue;
            }
            if (c == '\r' && position_ + 2 < text_.size() && text_[position_ + 1] == '\n' &&
                (text_[position_ + 2] == ' ' || text_[position_ + 2] == '\t')) {
                position_ += 2;  // folding: keep the following space or tab
                continue;
            }
            if ((byte < 0x20 && c != '\t') || byte == 0x7f) {
                return fail(position_, "control character " + describe(c) +
                                           " in the value of parameter " + quoted_name(param.name));
            }
            value.push_back(c);
            ++position_;
            if (value.size() > digest_limits::max_value_size) {
                return fail(start, "value of parameter " + quoted_name(param.name) +
                                       " is longer than " +
                                       std::to_string(digest_limits::max_value_size) + " bytes");
            }
        }
        param.value = std::move(value);
        return true;
    }

    bool fail(std::size_t offset, const std::string& reason) {
        detail_ = "at offset " + std::to_string(offset) + ": " + reason;
        return false;
    }
    bool fail_plain(const std::string& reason) {
        detail_ = reason;
        return false;
    }

    std::string_view text_;
    std::string& detail_;
    std::size_t position_ = 0;
};

// ---------------------------------------------------------------------------------------------
// Serialisation helpers

bool append_quoted(std::string& out, std::string_view name, std::string_view value,
                   std::string& detail) {
    out += name;
    out += "=\"";
    for (const char c : value) {
        const auto byte = static_cast<unsigned char>(c);
        if ((byte < 0x20 && c != '\t') || byte == 0x7f) {
            detail = "value of parameter " + quoted_name(name) + " contains control character " +
                     describe(c);
            return false;
        }
        if (c == '"' || c == '\\') {
            out.push_back('\\');
        }
        out.push_back(c);
    }
    out.push_back('"');
    return true;
}

bool append_token(std::string& out, std::string_view name, std::string_view value,
                  std::string& detail) {
    if (!is_token(value)) {
        detail = "value of parameter " + quoted_name(name) + " is not a token";
        return false;
    }
    out += name;
    out.push_back('=');
    out += value;
    return true;
}

class header_writer {
  public:
    explicit header_writer(std::string& detail) : detail_(detail) { out_ = "Digest "; }

    void quoted(std::string_view name, std::string_view value) {
        if (ok_) {
            separate();
            ok_ = append_quoted(out_, name, value, detail_);
        }
    }
    void token(std::string_view name, std::string_view value) {
        if (ok_) {
            separate();
            ok_ = append_token(out_, name, value, detail_);
        }
    }
    void extensions(const std::vector<auth_param>& params,
                    std::span<const std::string_view> reserved) {
        for (std::size_t i = 0; ok_ && i < params.size(); ++i) {
            const std::string& name = params[i].name;
            if (!is_token(name) || name.size() > digest_limits::max_name_size) {
                detail_ = "extension parameter name " + quoted_name(name.substr(0, 64)) +
                          " is not a token";
                ok_ = false;
                return;
            }
            const bool clashes =
                std::any_of(reserved.begin(), reserved.end(),
                            [&](std::string_view known) { return iequals(known, name); }) ||
                std::any_of(params.begin(), params.begin() + static_cast<std::ptrdiff_t>(i),
                            [&](const auth_param& p) { return iequals(p.name, name); });
            if (clashes) {
                detail_ = "parameter " + quoted_name(name) + " would appear twice";
                ok_ = false;
                return;
            }
            quoted(to_lower(name), params[i].value);
        }
    }
    std::string finish(std::error_code& ec) {
        if (!ok_) {
            ec = errc::bad_digest_header;
            return {};
        }
        ec.clear();
        return std::move(out_);
    }

  private:
    void separate() {
        if (!first_) {
            out_ += ", ";
        }
        first_ = false;
    }

    std::string& detail_;
    std::string out_;
    bool first_ = true;
    bool ok_ = true;
};

// Fails with errc::bad_digest_header and the detail.
template <class T>
T parse_failure(std::error_code& ec) {
    ec = errc::bad_digest_header;
    return T{};
}

constexpr std::array<std::string_view, 7> challenge_names = {
    "realm", "nonce", "opaque", "domain", "algorithm", "qop", "stale"};
constexpr std::array<std::string_view, 11> credentials_names = {
    "username", "realm",  "nonce", "uri", "response", "algorithm",
    "cnonce",   "opaque", "qop",   "nc",  "auts"};

}  // namespace

// ---------------------------------------------------------------------------------------------
// Algorithms

std::optional<digest_algorithm> digest_algorithm_from_name(std::string_view name) noexcept {
    if (name.empty() || iequals(name, "MD5")) {
        return digest_algorithm::md5;
    }
    if (iequals(name, "AKAv1-MD5")) {
        return digest_algorithm::akav1_md5;
    }
    if (iequals(name, "AKAv2-MD5")) {
        return digest_algorithm::akav2_md5;
    }
    return std::nullopt;
}

std::string_view digest_algorithm_name(digest_algorithm algorithm) noexcept {
    switch (algorithm) {
        case digest_algorithm::md5:
            return "MD5";
        case digest_algorithm::akav1_md5:
            return "AKAv1-MD5";
        case digest_algorithm::akav2_md5:
            return "AKAv2-MD5";
    }
    return "MD5";
}

// ---------------------------------------------------------------------------------------------
// Challenge

digest_challenge digest_challenge::parse(std::string_view value, std::error_code& ec,
                                         std::string& detail) {
    detail.clear();
    std::vector<parsed_param> params;
    tokenizer lexer(value, detail);
    if (!lexer.run(params)) {
        return parse_failure<digest_challenge>(ec);
    }
    digest_challenge challenge;
    bool has_realm = false;
    bool has_nonce = false;
    for (parsed_param& entry : params) {
        std::string& name = entry.param.name;
        std::string& text = entry.param.value;
        const std::string where = "at offset " + std::to_string(entry.offset) + ": ";
        if (name == "realm") {
            challenge.realm = std::move(text);
            has_realm = true;
        } else if (name == "nonce") {
            challenge.nonce = std::move(text);
            has_nonce = true;
        } else if (name == "opaque") {
            challenge.opaque = std::move(text);
        } else if (name == "domain") {
            challenge.domain = std::move(text);
        } else if (name == "algorithm") {
            if (!is_token(text)) {
                detail = where + "algorithm is not a token";
                return parse_failure<digest_challenge>(ec);
            }
            challenge.algorithm = std::move(text);
        } else if (name == "qop") {
            std::size_t start = 0;
            while (start <= text.size()) {
                std::size_t end = text.find(',', start);
                if (end == std::string::npos) {
                    end = text.size();
                }
                std::string_view option = std::string_view(text).substr(start, end - start);
                while (!option.empty() && (option.front() == ' ' || option.front() == '\t')) {
                    option.remove_prefix(1);
                }
                while (!option.empty() && (option.back() == ' ' || option.back() == '\t')) {
                    option.remove_suffix(1);
                }
                if (!option.empty()) {
                    if (!is_token(option)) {
                        detail = where + "qop option is not a token";
                        return parse_failure<digest_challenge>(ec);
                    }
                    challenge.qop.emplace_back(option);
                }
                start = end + 1;
            }
            if (challenge.qop.empty()) {
                detail = where + "qop lists no option";
                return parse_failure<digest_challenge>(ec);
            }
        } else if (name == "stale") {
            if (iequals(text, "true")) {
                challenge.stale = true;
            } else if (!iequals(text, "false")) {
                detail = where + "stale is neither true nor false";
                return parse_failure<digest_challenge>(ec);
            }
        } else {
            challenge.extensions.push_back(std::move(entry.param));
        }
    }
    if (!has_realm || !has_nonce) {
        detail =
            std::string("missing required parameter ") + (has_realm ? "\"nonce\"" : "\"realm\"");
        return parse_failure<digest_challenge>(ec);
    }
    ec.clear();
    return challenge;
}

digest_challenge digest_challenge::parse(std::string_view value, std::error_code& ec) {
    std::string detail;
    return parse(value, ec, detail);
}

digest_challenge digest_challenge::parse(std::string_view value) {
    std::error_code ec;
    std::string detail;
    digest_challenge challenge = parse(value, ec, detail);
    if (ec) {
        core::throw_error(ec, detail);
    }
    return challenge;
}

std::string digest_challenge::to_string(std::error_code& ec) const {
    std::string detail;
    header_writer writer(detail);
    writer.quoted("realm", realm);
    if (domain) {
        writer.quoted("domain", *domain);
    }
    writer.quoted("nonce", nonce);
    if (opaque) {
        writer.quoted("opaque", *opaque);
    }
    if (stale) {
        writer.token("stale", "true");
    }
    if (algorithm) {
        writer.token("algorithm", *algorithm);
    }
    if (!qop.empty()) {
        std::string options;
        bool valid = true;
        for (const std::string& option : qop) {
            valid = valid && is_token(option);
            options += (options.empty() ? "" : ",") + option;
        }
        if (valid) {
            writer.quoted("qop", options);
        } else {
            writer.token("qop", "");  // reports "not a token"
        }
    }
    writer.extensions(extensions, challenge_names);
    return writer.finish(ec);
}

std::string digest_challenge::to_string() const {
    std::error_code ec;
    std::string text = to_string(ec);
    if (ec) {
        core::throw_error(ec, "serialising a Digest challenge");
    }
    return text;
}

// ---------------------------------------------------------------------------------------------
// Credentials

digest_credentials digest_credentials::parse(std::string_view value, std::error_code& ec,
                                             std::string& detail) {
    detail.clear();
    std::vector<parsed_param> params;
    tokenizer lexer(value, detail);
    if (!lexer.run(params)) {
        return parse_failure<digest_credentials>(ec);
    }
    digest_credentials credentials;
    unsigned present = 0;  // bits: username, realm, nonce, uri, response
    for (parsed_param& entry : params) {
        std::string& name = entry.param.name;
        std::string& text = entry.param.value;
        const std::string where = "at offset " + std::to_string(entry.offset) + ": ";
        if (name == "username") {
            credentials.username = std::move(text);
            present |= 1u;
        } else if (name == "realm") {
            credentials.realm = std::move(text);
            present |= 2u;
        } else if (name == "nonce") {
            credentials.nonce = std::move(text);
            present |= 4u;
        } else if (name == "uri") {
            credentials.uri = std::move(text);
            present |= 8u;
        } else if (name == "response") {
            if (!std::all_of(text.begin(), text.end(), is_hex_digit) || text.size() > 128) {
                detail = where + "response is not a hexadecimal digest";
                return parse_failure<digest_credentials>(ec);
            }
            credentials.response = std::move(text);
            present |= 16u;
        } else if (name == "algorithm") {
            if (!is_token(text)) {
                detail = where + "algorithm is not a token";
                return parse_failure<digest_credentials>(ec);
            }
            credentials.algorithm = std::move(text);
        } else if (name == "cnonce") {
            credentials.cnonce = std::move(text);
        } else if (name == "opaque") {
            credentials.opaque = std::move(text);
        } else if (name == "qop") {
            if (!is_token(text)) {
                detail = where + "qop is not a token";
                return parse_failure<digest_credentials>(ec);
            }
            credentials.qop = std::move(text);
        } else if (name == "nc") {
            if (text.size() != 8 || !std::all_of(text.begin(), text.end(), is_hex_digit)) {
                detail = where + "nc is not 8 hexadecimal digits";
                return parse_failure<digest_credentials>(ec);
            }
            credentials.nonce_count = static_cast<std::uint32_t>(std::stoul(text, nullptr, 16));
        } else if (name == "auts") {
            std::error_code base64_ec;
            const core::byte_vector bytes = decode_base64_lenient(text, base64_ec);
            if (base64_ec || bytes.size() != aka_auts{}.size()) {
                detail = where + "auts is not base64 of 14 bytes";
                return parse_failure<digest_credentials>(ec);
            }
            aka_auts auts{};
            std::copy(bytes.begin(), bytes.end(), auts.begin());
            credentials.auts = auts;
        } else {
            credentials.extensions.push_back(std::move(entry.param));
        }
    }
    constexpr std::array<const char*, 5> required = {"username", "realm", "nonce", "uri",
                                                     "response"};
    for (std::size_t i = 0; i < required.size(); ++i) {
        if ((present & (1u << i)) == 0) {
            detail = std::string("missing required parameter \"") + required[i] + "\"";
            return parse_failure<digest_credentials>(ec);
        }
    }
    if (credentials.qop && (!credentials.cnonce || !credentials.nonce_count)) {
        detail = credentials.cnonce ? "qop is present but nc is missing"
                                    : "qop is present but cnonce is missing";
        return parse_failure<digest_credentials>(ec);
    }
    ec.clear();
    return credentials;
}

digest_credentials digest_credentials::parse(std::string_view value, std::error_code& ec) {
    std::string detail;
    return parse(value, ec, detail);
}

digest_credentials digest_credentials::parse(std::string_view value) {
    std::error_code ec;
    std::string detail;
    digest_credentials credentials = parse(value, ec, detail);
    if (ec) {
        core::throw_error(ec, detail);
    }
    return credentials;
}

std::string digest_credentials::to_string(std::error_code& ec) const {
    std::string detail;
    header_writer writer(detail);
    writer.quoted("username", username);
    writer.quoted("realm", realm);
    writer.quoted("nonce", nonce);
    writer.quoted("uri", uri);
    writer.quoted("response", response);
    if (algorithm) {
        writer.token("algorithm", *algorithm);
    }
    if (cnonce) {
        writer.quoted("cnonce", *cnonce);
    }
    if (opaque) {
        writer.quoted("opaque", *opaque);
    }
    if (qop) {
        writer.token("qop", *qop);
    }
    if (nonce_count) {
        std::array<char, 16> nc{};
        std::snprintf(nc.data(), nc.size(), "%08x", static_cast<unsigned>(*nonce_count));
        writer.token("nc", nc.data());
    }
    if (auts) {
        writer.quoted("auts", core::base64_encode(*auts));
    }
    writer.extensions(extensions, credentials_names);
    return writer.finish(ec);
}

std::string digest_credentials::to_string() const {
    std::error_code ec;
    std::string text = to_string(ec);
    if (ec) {
        core::throw_error(ec, "serialising Digest credentials");
    }
    return text;
}

// ---------------------------------------------------------------------------------------------
// Responses

std::string compute_digest_response(const digest_response_input& input, std::error_code& ec) {
    const bool auth_int = input.qop == "auth-int";
    if (!input.qop.empty() && input.qop != "auth" && !auth_int) {
        ec = errc::digest_unsupported;
        return {};
    }
    const core::byte_view colon = core::as_bytes(":");
    std::string ha1 = detail::md5_hex({core::as_bytes(input.username), colon,
                                       core::as_bytes(input.realm), colon, input.password});
    const std::string ha2 =
        auth_int
            ? detail::md5_hex({core::as_bytes(input.method), colon, core::as_bytes(input.uri),
                               colon, core::as_bytes(detail::md5_hex({input.body}))})
            : detail::md5_hex({core::as_bytes(input.method), colon, core::as_bytes(input.uri)});
    std::string response;
    if (input.qop.empty()) {
        response = detail::md5_hex(
            {core::as_bytes(ha1), colon, core::as_bytes(input.nonce), colon, core::as_bytes(ha2)});
    } else {
        std::array<char, 16> nc{};
        std::snprintf(nc.data(), nc.size(), "%08x", static_cast<unsigned>(input.nonce_count));
        response = detail::md5_hex({core::as_bytes(ha1), colon, core::as_bytes(input.nonce), colon,
                                    core::as_bytes(std::string_view(nc.data(), 8)), colon,
                                    core::as_bytes(input.cnonce), colon, core::as_bytes(input.qop),
                                    colon, core::as_bytes(ha2)});
    }
    OPENSSL_cleanse(ha1.data(), ha1.size());
    ec.clear();
    return response;
}

std::string compute_digest_response(const digest_response_input& input) {
    std::error_code ec;
    std::string response = compute_digest_response(input, ec);
    if (ec) {
        core::throw_error(ec, "qop \"" + std::string(input.qop) + "\"");
    }
    return response;
}

core::secret_bytes aka_digest_password(digest_algorithm algorithm, const aka_res& res,
                                       const aka_ik& ik, const aka_ck& ck, std::error_code& ec) {
    switch (algorithm) {
        case digest_algorithm::akav1_md5:
            ec.clear();
            return core::secret_bytes(res);
        case digest_algorithm::akav2_md5: {
            core::secret_bytes key(res.size() + ik.size() + ck.size());
            std::copy(res.begin(), res.end(), key.begin());
            std::copy(ik.begin(), ik.end(), key.begin() + res.size());
            std::copy(ck.begin(), ck.end(), key.begin() + res.size() + ik.size());
            detail::md5_digest prf =
                detail::hmac_md5(key.view(), core::as_bytes("http-digest-akav2-password"));
            std::string encoded = core::base64_encode(prf);
            core::secret_bytes password(core::as_bytes(encoded));
            OPENSSL_cleanse(encoded.data(), encoded.size());
            OPENSSL_cleanse(prf.data(), prf.size());
            ec.clear();
            return password;
        }
        case digest_algorithm::md5:
            break;
    }
    ec = errc::digest_unsupported;
    return {};
}

// ---------------------------------------------------------------------------------------------
// AKA nonce

std::string aka_nonce::encode() const {
    core::byte_vector bytes(rand.begin(), rand.end());
    bytes.insert(bytes.end(), autn.begin(), autn.end());
    bytes.insert(bytes.end(), server_data.begin(), server_data.end());
    return core::base64_encode(bytes);
}

aka_nonce aka_nonce::decode(std::string_view text, std::error_code& ec) {
    std::error_code base64_ec;
    const core::byte_vector bytes = decode_base64_lenient(text, base64_ec);
    if (base64_ec || bytes.size() < 32) {
        ec = errc::bad_aka_nonce;
        return aka_nonce{};
    }
    aka_nonce nonce;
    std::copy_n(bytes.begin(), 16, nonce.rand.begin());
    std::copy_n(bytes.begin() + 16, 16, nonce.autn.begin());
    nonce.server_data.assign(bytes.begin() + 32, bytes.end());
    ec.clear();
    return nonce;
}

aka_nonce aka_nonce::decode(std::string_view text) {
    std::error_code ec;
    aka_nonce nonce = decode(text, ec);
    if (ec) {
        core::throw_error(ec, "Digest AKA nonce");
    }
    return nonce;
}

}  // namespace imsp2p::pana
