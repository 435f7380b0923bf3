#include <imsp2p/core/jose.hpp>

#include <imsp2p/core/encoding.hpp>
#include <imsp2p/core/error.hpp>

#include <openssl/crypto.h>

#include <algorithm>
#include <array>
#include <cstdint>
#include <optional>

namespace imsp2p::core {
namespace {

using json = nlohmann::json;

constexpr std::string_view alg_eddsa = "EdDSA";
constexpr std::string_view alg_ecdh_es = "ECDH-ES";
constexpr std::string_view alg_ecdh_es_a256kw = "ECDH-ES+A256KW";
constexpr std::string_view enc_a256gcm = "A256GCM";
constexpr std::size_t okp_key_size = 32;
constexpr std::size_t wrapped_cek_size = aes256_key_size + 8;

/**
 * True when the JSON text nests objects/arrays no deeper than @p max_depth. Brackets inside
 * strings are skipped (honouring backslash escapes). Malformed text may pass; the JSON parser
 * rejects it afterwards. This keeps the recursive parts of nlohmann::json (comparison, dump)
 * away from hostile nesting.
 */
bool nesting_within(std::string_view text, std::size_t max_depth) noexcept {
    std::size_t depth = 0;
    bool in_string = false;
    bool escaped = false;
    for (const char c : text) {
        if (in_string) {
            if (escaped) {
                escaped = false;
            } else if (c == '\\') {
                escaped = true;
            } else if (c == '"') {
                in_string = false;
            }
            continue;
        }
        if (c == '"') {
            in_string = true;
        } else if (c == '{' || c == '[') {
            if (++depth > max_depth) {
                return false;
            }
        } else if ((c == '}' || c == ']') && depth > 0) {
            --depth;
        }
    }
    return true;
}

/** Parses bounded JSON text; returns a discarded value on any error. */
json parse_json(std::string_view text) {
    if (!nesting_within(text, jose_max_json_depth)) {
        return json(json::value_t::discarded);
    }
    return json::parse(text.begin(), text.end(), nullptr, /*allow_exceptions=*/false);
}

/** Splits a compact serialisation at '.'; returns false unless it has exactly @p count parts. */
template <std::size_t Count>
bool split_compact(std::string_view compact, std::array<std::string_view, Count>& parts) noexcept {
    std::size_t start = 0;
    for (std::size_t i = 0; i < Count; ++i) {
        const std::size_t dot = compact.find('.', start);
        if (i + 1 < Count) {
            if (dot == std::string_view::npos) {
                return false;
            }
            parts[i] = compact.substr(start, dot - start);
            start = dot + 1;
        } else {
            if (dot != std::string_view::npos) {
                return false;
            }
            parts[i] = compact.substr(start);
        }
    }
    return true;
}

/** Decodes and parses a protected header part: jose_malformed or jose_bad_header on error. */
json decode_header(std::string_view part, std::error_code& ec) {
    if (part.empty()) {
        ec = errc::jose_malformed;
        return nullptr;
    }
    const auto bytes = base64url_decode(part, ec);
    if (ec) {
        ec = errc::jose_malformed;
        return nullptr;
    }
    auto header = parse_json(as_string_view(bytes));
    if (header.is_discarded() || !header.is_object()) {
        ec = errc::jose_bad_header;
        return nullptr;
    }
    ec.clear();
    return header;
}

/**
 * Checks "crit": absent is fine; present must be a non-empty array of strings (else
 * jose_bad_header) and, since no extension is understood, is then refused.
 */
std::error_code check_crit(const json& header) {
    const auto crit = header.find("crit");
    if (crit == header.end()) {
        return {};
    }
    if (!crit->is_array() || crit->empty() ||
        !std::all_of(crit->begin(), crit->end(), [](const json& v) { return v.is_string(); })) {
        return errc::jose_bad_header;
    }
    return errc::jose_critical_unsupported;
}

/** Returns the string member @p name; nullopt (and ec) when absent or not a string. */
std::optional<std::string> string_member(const json& object, const char* name) {
    const auto it = object.find(name);
    if (it == object.end() || !it->is_string()) {
        return std::nullopt;
    }
    return it->get<std::string>();
}

/** Dumps JSON compactly; invalid UTF-8 in strings is an invalid argument. */
std::string dump_json(const json& value, std::error_code& ec) {
    try {
        auto text = value.dump();
        ec.clear();
        return text;
    } catch (const json::exception&) {
        ec = errc::invalid_argument;
        return {};
    }
}

/** Validates an extra header: null or object, without the members listed in @p reserved. */
bool extra_header_ok(const json& extra, std::initializer_list<const char*> reserved) {
    if (extra.is_null()) {
        return true;
    }
    if (!extra.is_object()) {
        return false;
    }
    return std::none_of(reserved.begin(), reserved.end(),
                        [&](const char* name) { return extra.contains(name); });
}

/** Decodes an optional base64url string member ("apu", "apv"); false when malformed. */
bool optional_base64url_member(const json& header, const char* name, byte_vector& out) {
    out.clear();
    const auto it = header.find(name);
    if (it == header.end()) {
        return true;
    }
    if (!it->is_string()) {
        return false;
    }
    std::error_code ec;
    out = base64url_decode(it->get_ref<const std::string&>(), ec);
    return !ec;
}

void hash_length_prefixed(hasher& hash, byte_view data) {
    const auto size = static_cast<std::uint32_t>(data.size());
    const std::array<std::uint8_t, 4> length{
        static_cast<std::uint8_t>(size >> 24), static_cast<std::uint8_t>(size >> 16),
        static_cast<std::uint8_t>(size >> 8), static_cast<std::uint8_t>(size)};
    hash.update(length);
    hash.update(data);
}

/**
 * Concat KDF (NIST SP 800-56A §5.8.1 as profiled by RFC 7518 §4.6.2) with SHA-256 for a
 * 256-bit output: one round, SHA-256(be32(1) || Z || AlgorithmID || PartyUInfo || PartyVInfo ||
 * SuppPubInfo), where the first three are length-prefixed and SuppPubInfo is be32(256).
 */
secret_bytes concat_kdf(byte_view shared_secret, std::string_view algorithm_id, byte_view apu,
                        byte_view apv) {
    hasher hash(hash_algorithm::sha256);
    static constexpr std::array<std::uint8_t, 4> round{0, 0, 0, 1};
    static constexpr std::array<std::uint8_t, 4> key_bits{0, 0, 1, 0};  // 256
    hash.update(round);
    hash.update(shared_secret);
    hash_length_prefixed(hash, as_bytes(algorithm_id));
    hash_length_prefixed(hash, apu);
    hash_length_prefixed(hash, apv);
    hash.update(key_bits);
    secret_bytes key(sha256_digest_size);
    hash.finish(key.mutable_view());
    return key;
}

const char* curve_name(jwk_curve curve) noexcept {
    return curve == jwk_curve::ed25519 ? "Ed25519" : "X25519";
}

}  // namespace

// --- jwk -------------------------------------------------------------------------------------

jwk::jwk(const ed25519_public_key& key) : curve_(jwk_curve::ed25519) {
    if (key.empty()) {
        throw_error(errc::bad_key, "jwk from an empty Ed25519 public key");
    }
    const auto raw = key.raw();
    x_.assign(raw.begin(), raw.end());
}

jwk::jwk(const ed25519_private_key& key) : curve_(jwk_curve::ed25519) {
    if (key.empty()) {
        throw_error(errc::bad_key, "jwk from an empty Ed25519 private key");
    }
    const auto raw = key.public_key().raw();
    x_.assign(raw.begin(), raw.end());
    d_ = key.seed();
}

jwk::jwk(const x25519_public_key& key) : curve_(jwk_curve::x25519) {
    if (key.empty()) {
        throw_error(errc::bad_key, "jwk from an empty X25519 public key");
    }
    const auto raw = key.raw();
    x_.assign(raw.begin(), raw.end());
}

jwk::jwk(const x25519_private_key& key) : curve_(jwk_curve::x25519) {
    if (key.empty()) {
        throw_error(errc::bad_key, "jwk from an empty X25519 private key");
    }
    const auto raw = key.public_key().raw();
    x_.assign(raw.begin(), raw.end());
    d_ = key.raw();
}

jwk jwk::from_json(const nlohmann::json& object, std::error_code& ec) {
    if (!object.is_object()) {
        ec = errc::jwk_malformed;
        return {};
    }
    const auto kty = string_member(object, "kty");
    const auto crv = string_member(object, "crv");
    if (!kty) {
        ec = errc::jwk_malformed;
        return {};
    }
    if (*kty != "OKP") {
        ec = errc::jwk_unsupported;
        return {};
    }
    if (!crv) {
        ec = errc::jwk_malformed;
        return {};
    }
    jwk result;
    if (*crv == "Ed25519") {
        result.curve_ = jwk_curve::ed25519;
    } else if (*crv == "X25519") {
        result.curve_ = jwk_curve::x25519;
    } else {
        ec = errc::jwk_unsupported;
        return {};
    }
    const auto x = string_member(object, "x");
    if (!x) {
        ec = errc::jwk_malformed;
        return {};
    }
    result.x_ = base64url_decode(*x, ec);
    if (ec || result.x_.size() != okp_key_size) {
        ec = errc::jwk_malformed;
        return {};
    }
    if (object.contains("d")) {
        const auto d_text = string_member(object, "d");
        if (!d_text) {
            ec = errc::jwk_malformed;
            return {};
        }
        auto d_bytes = base64url_decode(*d_text, ec);
        result.d_ = secret_bytes(d_bytes);
        if (!d_bytes.empty()) {
            OPENSSL_cleanse(d_bytes.data(), d_bytes.size());
        }
        if (ec || result.d_.size() != okp_key_size) {
            ec = errc::jwk_malformed;
            return {};
        }
        // The private part must match the public part, or signatures and key agreement would
        // silently use a key other than the one identified by "x" (and its thumbprint).
        std::array<std::uint8_t, okp_key_size> derived{};
        if (result.curve_ == jwk_curve::ed25519) {
            const auto key = ed25519_private_key::from_seed(result.d_.view(), ec);
            if (!ec) {
                derived = key.public_key().raw();
            }
        } else {
            const auto key = x25519_private_key::from_raw(result.d_.view(), ec);
            if (!ec) {
                derived = key.public_key().raw();
            }
        }
        if (ec || !std::equal(derived.begin(), derived.end(), result.x_.begin(), result.x_.end())) {
            ec = errc::jwk_malformed;
            return {};
        }
    }
    for (const auto& [name, member] :
         {std::pair{"kid", &result.kid_}, std::pair{"use", &result.use_},
          std::pair{"alg", &result.alg_}}) {
        if (object.contains(name)) {
            const auto value = string_member(object, name);
            if (!value) {
                ec = errc::jwk_malformed;
                return {};
            }
            *member = *value;
        }
    }
    ec.clear();
    return result;
}

jwk jwk::from_json(const nlohmann::json& object) {
    std::error_code ec;
    auto key = from_json(object, ec);
    if (ec) {
        throw_error(ec, "jwk::from_json");
    }
    return key;
}

jwk jwk::parse(std::string_view text, std::error_code& ec) {
    if (text.size() > jose_max_input_size) {
        ec = errc::jose_too_large;
        return {};
    }
    const auto object = parse_json(text);
    if (object.is_discarded()) {
        ec = errc::jwk_malformed;
        return {};
    }
    return from_json(object, ec);
}

jwk jwk::parse(std::string_view text) {
    std::error_code ec;
    auto key = parse(text, ec);
    if (ec) {
        throw_error(ec, "jwk::parse");
    }
    return key;
}

nlohmann::json jwk::to_json(bool include_private) const {
    json object = json::object();
    if (empty()) {
        return object;
    }
    object["kty"] = "OKP";
    object["crv"] = curve_name(curve_);
    object["x"] = base64url_encode(x_);
    if (include_private && has_private_key()) {
        object["d"] = base64url_encode(d_.view());
    }
    if (!kid_.empty()) {
        object["kid"] = kid_;
    }
    if (!use_.empty()) {
        object["use"] = use_;
    }
    if (!alg_.empty()) {
        object["alg"] = alg_;
    }
    return object;
}

std::string jwk::serialize(bool include_private) const {
    std::error_code ec;
    auto text = dump_json(to_json(include_private), ec);
    if (ec) {
        throw_error(ec, "jwk::serialize: kid, use or alg is not valid UTF-8");
    }
    return text;
}

std::string jwk::thumbprint() const {
    if (empty()) {
        return {};
    }
    // RFC 7638 §3.2: the required members only, lexicographic order, no whitespace. None of the
    // values needs escaping.
    std::string canonical = R"({"crv":")";
    canonical += curve_name(curve_);
    canonical += R"(","kty":"OKP","x":")";
    canonical += base64url_encode(x_);
    canonical += "\"}";
    return base64url_encode(sha256(as_bytes(canonical)));
}

ed25519_public_key jwk::ed25519_public(std::error_code& ec) const {
    if (empty() || curve_ != jwk_curve::ed25519) {
        ec = errc::jwk_unsupported;
        return {};
    }
    return ed25519_public_key::from_raw(x_, ec);
}

ed25519_public_key jwk::ed25519_public() const {
    std::error_code ec;
    auto key = ed25519_public(ec);
    if (ec) {
        throw_error(ec, "jwk::ed25519_public");
    }
    return key;
}

ed25519_private_key jwk::ed25519_private(std::error_code& ec) const {
    if (empty() || curve_ != jwk_curve::ed25519) {
        ec = errc::jwk_unsupported;
        return {};
    }
    if (!has_private_key()) {
        ec = errc::jwk_no_private_key;
        return {};
    }
    return ed25519_private_key::from_seed(d_.view(), ec);
}

ed25519_private_key jwk::ed25519_private() const {
    std::error_code ec;
    auto key = ed25519_private(ec);
    if (ec) {
        throw_error(ec, "jwk::ed25519_private");
    }
    return key;
}

x25519_public_key jwk::x25519_public(std::error_code& ec) const {
    if (empty() || curve_ != jwk_curve::x25519) {
        ec = errc::jwk_unsupported;
        return {};
    }
    return x25519_public_key::from_raw(x_, ec);
}

x25519_public_key jwk::x25519_public() const {
    std::error_code ec;
    auto key = x25519_public(ec);
    if (ec) {
        throw_error(ec, "jwk::x25519_public");
    }
    return key;
}

x25519_private_key jwk::x25519_private(std::error_code& ec) const {
    if (empty() || curve_ != jwk_curve::x25519) {
        ec = errc::jwk_unsupported;
        return {};
    }
    if (!has_private_key()) {
        ec = errc::jwk_no_private_key;
        return {};
    }
    return x25519_private_key::from_raw(d_.view(), ec);
}

x25519_private_key jwk::x25519_private() const {
    std::error_code ec;
    auto key = x25519_private(ec);
    if (ec) {
        throw_error(ec, "jwk::x25519_private");
    }
    return key;
}

jwk jwk::public_only() const {
    jwk copy;
    copy.curve_ = curve_;
    copy.x_ = x_;
    copy.kid_ = kid_;
    copy.use_ = use_;
    copy.alg_ = alg_;
    return copy;
}

bool jwk::operator==(const jwk& other) const noexcept {
    return curve_ == other.curve_ && x_ == other.x_ && d_ == other.d_ && kid_ == other.kid_ &&
           use_ == other.use_ && alg_ == other.alg_;
}

// --- jwk_set ---------------------------------------------------------------------------------

jwk_set jwk_set::from_json(const nlohmann::json& object, std::error_code& ec) {
    if (!object.is_object()) {
        ec = errc::jwk_malformed;
        return {};
    }
    const auto keys = object.find("keys");
    if (keys == object.end() || !keys->is_array()) {
        ec = errc::jwk_malformed;
        return {};
    }
    jwk_set set;
    set.keys.reserve(keys->size());
    for (const auto& entry : *keys) {
        std::error_code key_ec;
        auto key = jwk::from_json(entry, key_ec);
        if (!key_ec) {
            set.keys.push_back(std::move(key));
        }
    }
    ec.clear();
    return set;
}

jwk_set jwk_set::from_json(const nlohmann::json& object) {
    std::error_code ec;
    auto set = from_json(object, ec);
    if (ec) {
        throw_error(ec, "jwk_set::from_json");
    }
    return set;
}

jwk_set jwk_set::parse(std::string_view text, std::error_code& ec) {
    if (text.size() > jose_max_input_size) {
        ec = errc::jose_too_large;
        return {};
    }
    const auto object = parse_json(text);
    if (object.is_discarded()) {
        ec = errc::jwk_malformed;
        return {};
    }
    return from_json(object, ec);
}

jwk_set jwk_set::parse(std::string_view text) {
    std::error_code ec;
    auto set = parse(text, ec);
    if (ec) {
        throw_error(ec, "jwk_set::parse");
    }
    return set;
}

nlohmann::json jwk_set::to_json(bool include_private) const {
    json array = json::array();
    for (const auto& key : keys) {
        array.push_back(key.to_json(include_private));
    }
    return json{{"keys", std::move(array)}};
}

std::string jwk_set::serialize(bool include_private) const {
    std::error_code ec;
    auto text = dump_json(to_json(include_private), ec);
    if (ec) {
        throw_error(ec, "jwk_set::serialize: a kid, use or alg is not valid UTF-8");
    }
    return text;
}

const jwk* jwk_set::find(std::string_view kid) const noexcept {
    if (kid.empty()) {
        return nullptr;
    }
    const auto it =
        std::find_if(keys.begin(), keys.end(), [&](const jwk& key) { return key.kid() == kid; });
    return it == keys.end() ? nullptr : &*it;
}

const jwk* jwk_set::find_by_thumbprint(std::string_view thumbprint) const {
    const auto it = std::find_if(keys.begin(), keys.end(), [&](const jwk& key) {
        return !key.empty() && key.thumbprint() == thumbprint;
    });
    return it == keys.end() ? nullptr : &*it;
}

// --- JWS -------------------------------------------------------------------------------------

std::string jws_sign(byte_view payload, const ed25519_private_key& key,
                     const nlohmann::json& extra_header, std::error_code& ec) {
    if (!extra_header_ok(extra_header, {"crit"})) {
        ec = errc::invalid_argument;
        return {};
    }
    json header = extra_header.is_null() ? json::object() : extra_header;
    const auto alg = header.find("alg");
    if (alg != header.end() && !(alg->is_string() && *alg == alg_eddsa)) {
        ec = errc::invalid_argument;
        return {};
    }
    if (key.empty()) {
        ec = errc::bad_key;
        return {};
    }
    header["alg"] = alg_eddsa;
    const auto header_text = dump_json(header, ec);
    if (ec) {
        return {};
    }
    std::string compact = base64url_encode(as_bytes(header_text));
    compact += '.';
    compact += base64url_encode(payload);
    const auto signature = key.sign(as_bytes(compact), ec);
    if (ec) {
        return {};
    }
    compact += '.';
    compact += base64url_encode(signature);
    return compact;
}

std::string jws_sign(byte_view payload, const ed25519_private_key& key,
                     const nlohmann::json& extra_header) {
    std::error_code ec;
    auto compact = jws_sign(payload, key, extra_header, ec);
    if (ec) {
        throw_error(ec, "jws_sign");
    }
    return compact;
}

parsed_jws jws_parse(std::string_view compact, std::error_code& ec) {
    if (compact.size() > jose_max_input_size) {
        ec = errc::jose_too_large;
        return {};
    }
    std::array<std::string_view, 3> parts;
    if (!split_compact(compact, parts) || parts[2].empty()) {
        ec = errc::jose_malformed;
        return {};
    }
    parsed_jws result;
    result.header = decode_header(parts[0], ec);
    if (ec) {
        return {};
    }
    result.payload = base64url_decode(parts[1], ec);
    if (ec) {
        ec = errc::jose_malformed;
        return {};
    }
    result.signature = base64url_decode(parts[2], ec);
    if (ec) {
        ec = errc::jose_malformed;
        return {};
    }
    const auto alg = string_member(result.header, "alg");
    if (!alg) {
        ec = errc::jose_bad_header;
        return {};
    }
    if (*alg != alg_eddsa) {
        ec = errc::jose_unsupported_algorithm;
        return {};
    }
    ec = check_crit(result.header);
    if (ec) {
        return {};
    }
    result.signing_input = std::string(compact.substr(0, parts[0].size() + 1 + parts[1].size()));
    return result;
}

parsed_jws jws_parse(std::string_view compact) {
    std::error_code ec;
    auto result = jws_parse(compact, ec);
    if (ec) {
        throw_error(ec, "jws_parse");
    }
    return result;
}

bool jws_verify(const parsed_jws& jws, const ed25519_public_key& key, std::error_code& ec) {
    const auto alg = jws.header.find("alg");
    if (alg == jws.header.end() || !alg->is_string() || *alg != alg_eddsa) {
        ec = errc::jose_unsupported_algorithm;
        return false;
    }
    return key.verify(as_bytes(jws.signing_input), jws.signature, ec);
}

bool jws_verify(const parsed_jws& jws, const ed25519_public_key& key) noexcept {
    try {
        std::error_code ec;
        return jws_verify(jws, key, ec);
    } catch (...) {
        return false;
    }
}

// --- JWE -------------------------------------------------------------------------------------

std::string jwe_encrypt(byte_view plaintext, const x25519_public_key& recipient,
                        const nlohmann::json& extra_header, std::error_code& ec) {
    if (!extra_header_ok(extra_header, {"alg", "enc", "epk", "zip", "crit"})) {
        ec = errc::invalid_argument;
        return {};
    }
    byte_vector apu;
    byte_vector apv;
    if (!extra_header.is_null() && (!optional_base64url_member(extra_header, "apu", apu) ||
                                    !optional_base64url_member(extra_header, "apv", apv))) {
        ec = errc::invalid_argument;
        return {};
    }
    if (recipient.empty()) {
        ec = errc::bad_key;
        return {};
    }
    const auto ephemeral = x25519_private_key::generate();
    const auto shared_secret = ephemeral.derive(recipient, ec);
    if (ec) {
        return {};
    }
    json header = extra_header.is_null() ? json::object() : extra_header;
    header["alg"] = alg_ecdh_es_a256kw;
    header["enc"] = enc_a256gcm;
    header["epk"] = jwk(ephemeral.public_key()).to_json();
    const auto header_text = dump_json(header, ec);
    if (ec) {
        return {};
    }
    const std::string protected_header = base64url_encode(as_bytes(header_text));

    const auto key_encryption_key = concat_kdf(shared_secret.view(), alg_ecdh_es_a256kw, apu, apv);
    secret_bytes content_key(aes256_key_size);
    random_bytes(content_key.mutable_view(), ec);
    if (ec) {
        return {};
    }
    const auto wrapped_key = aes256_key_wrap(key_encryption_key.view(), content_key.view(), ec);
    if (ec) {
        return {};
    }
    std::array<std::uint8_t, aes_gcm_nonce_size> iv{};
    random_bytes(iv, ec);
    if (ec) {
        return {};
    }
    byte_vector ciphertext(plaintext.size());
    std::array<std::uint8_t, aes_gcm_tag_size> tag{};
    aes256gcm cipher;
    cipher.set_key(content_key.view(), ec);
    if (ec) {
        return {};
    }
    cipher.seal(iv, as_bytes(protected_header), plaintext, ciphertext, tag, ec);
    if (ec) {
        return {};
    }
    std::string compact = protected_header;
    for (const byte_view part :
         {byte_view(wrapped_key), byte_view(iv), byte_view(ciphertext), byte_view(tag)}) {
        compact += '.';
        compact += base64url_encode(part);
    }
    return compact;
}

std::string jwe_encrypt(byte_view plaintext, const x25519_public_key& recipient,
                        const nlohmann::json& extra_header) {
    std::error_code ec;
    auto compact = jwe_encrypt(plaintext, recipient, extra_header, ec);
    if (ec) {
        throw_error(ec, "jwe_encrypt");
    }
    return compact;
}

secret_bytes jwe_decrypt(std::string_view compact, const x25519_private_key& key,
                         std::error_code& ec) {
    if (compact.size() > jose_max_input_size) {
        ec = errc::jose_too_large;
        return {};
    }
    std::array<std::string_view, 5> parts;
    if (!split_compact(compact, parts)) {
        ec = errc::jose_malformed;
        return {};
    }
    const auto header = decode_header(parts[0], ec);
    if (ec) {
        return {};
    }
    const auto alg = string_member(header, "alg");
    const auto enc = string_member(header, "enc");
    if (!alg || !enc) {
        ec = errc::jose_bad_header;
        return {};
    }
    const bool key_wrap = *alg == alg_ecdh_es_a256kw;
    if ((!key_wrap && *alg != alg_ecdh_es) || *enc != enc_a256gcm || header.contains("zip")) {
        ec = errc::jose_unsupported_algorithm;
        return {};
    }
    ec = check_crit(header);
    if (ec) {
        return {};
    }
    const auto epk_member = header.find("epk");
    if (epk_member == header.end() || !epk_member->is_object()) {
        ec = errc::jose_bad_header;
        return {};
    }
    const auto epk = jwk::from_json(*epk_member, ec);
    if (ec == errc::jwk_unsupported || (!ec && epk.curve() != jwk_curve::x25519)) {
        ec = errc::jose_unsupported_algorithm;
        return {};
    }
    if (ec || epk.has_private_key()) {
        ec = errc::jose_bad_header;
        return {};
    }
    byte_vector apu;
    byte_vector apv;
    if (!optional_base64url_member(header, "apu", apu) ||
        !optional_base64url_member(header, "apv", apv)) {
        ec = errc::jose_bad_header;
        return {};
    }

    const auto encrypted_key = base64url_decode(parts[1], ec);
    if (ec || encrypted_key.size() != (key_wrap ? wrapped_cek_size : 0)) {
        ec = errc::jose_malformed;
        return {};
    }
    const auto iv = base64url_decode(parts[2], ec);
    if (ec || iv.size() != aes_gcm_nonce_size) {
        ec = errc::jose_malformed;
        return {};
    }
    const auto ciphertext = base64url_decode(parts[3], ec);
    if (ec) {
        ec = errc::jose_malformed;
        return {};
    }
    const auto tag = base64url_decode(parts[4], ec);
    if (ec || tag.size() != aes_gcm_tag_size) {
        ec = errc::jose_malformed;
        return {};
    }

    if (key.empty()) {
        ec = errc::bad_key;
        return {};
    }
    const auto shared_secret = key.derive(epk.x25519_public(), ec);
    if (ec) {
        return {};
    }
    secret_bytes content_key;
    if (key_wrap) {
        const auto key_encryption_key =
            concat_kdf(shared_secret.view(), alg_ecdh_es_a256kw, apu, apv);
        content_key = aes256_key_unwrap(key_encryption_key.view(), encrypted_key, ec);
        if (ec) {
            return {};
        }
        if (content_key.size() != aes256_key_size) {
            ec = errc::jose_malformed;
            return {};
        }
    } else {
        // Direct key agreement: the AlgorithmID is the "enc" value (RFC 7518 §4.6.2).
        content_key = concat_kdf(shared_secret.view(), enc_a256gcm, apu, apv);
    }
    aes256gcm cipher;
    cipher.set_key(content_key.view(), ec);
    if (ec) {
        return {};
    }
    secret_bytes plaintext(ciphertext.size());
    if (!cipher.open(iv, as_bytes(parts[0]), ciphertext, tag, plaintext.mutable_view(), ec)) {
        return {};
    }
    return plaintext;
}

secret_bytes jwe_decrypt(std::string_view compact, const x25519_private_key& key) {
    std::error_code ec;
    auto plaintext = jwe_decrypt(compact, key, ec);
    if (ec) {
        throw_error(ec, "jwe_decrypt");
    }
    return plaintext;
}

nlohmann::json jose_protected_header(std::string_view compact, std::error_code& ec) {
    if (compact.size() > jose_max_input_size) {
        ec = errc::jose_too_large;
        return nullptr;
    }
    std::array<std::string_view, 3> jws_parts;
    std::array<std::string_view, 5> jwe_parts;
    std::string_view first;
    if (split_compact(compact, jws_parts)) {
        first = jws_parts[0];
    } else if (split_compact(compact, jwe_parts)) {
        first = jwe_parts[0];
    } else {
        ec = errc::jose_malformed;
        return nullptr;
    }
    return decode_header(first, ec);
}

}  // namespace imsp2p::core
