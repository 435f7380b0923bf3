#include <imsp2p/drm/license.hpp>

#include <imsp2p/core/bytes.hpp>
#include <imsp2p/core/doi.hpp>
#include <imsp2p/core/encoding.hpp>
#include <imsp2p/core/error.hpp>
#include <imsp2p/drm/error.hpp>

#include <algorithm>
#include <set>
#include <string>
#include <utility>
#include <vector>

namespace imsp2p::drm {
namespace {

using std::chrono::system_clock;

constexpr std::int64_t max_numeric_date = 253402300799;
constexpr int max_payload_depth = 16;
constexpr std::size_t thumbprint_size = 43;

void set_reason(std::string* reason, std::string text) {
    if (reason != nullptr)
        *reason = std::move(text);
}

[[noreturn]] void throw_error(std::error_code ec, const std::string& reason) {
    if (reason.empty())
        throw std::system_error(ec);
    throw std::system_error(ec, reason);
}

bool in_range(std::chrono::sys_seconds time) noexcept {
    const auto count = time.time_since_epoch().count();
    return count >= 0 && count <= max_numeric_date;
}

/** Reads a NumericDate: a JSON integer in 0..max_numeric_date. */
bool read_time(const nlohmann::json& json, const char* name, std::chrono::sys_seconds& out) {
    const auto found = json.find(name);
    if (found == json.end())
        return false;
    std::int64_t value = 0;
    if (found->is_number_unsigned()) {
        const auto number = found->get<std::uint64_t>();
        if (number > static_cast<std::uint64_t>(max_numeric_date))
            return false;
        value = static_cast<std::int64_t>(number);
    } else if (found->is_number_integer()) {
        value = found->get<std::int64_t>();
    } else {
        return false;
    }
    if (value < 0 || value > max_numeric_date)
        return false;
    out = std::chrono::sys_seconds(std::chrono::seconds(value));
    return true;
}

/** Reads a required non-empty string member. */
bool read_string(const nlohmann::json& json, const char* name, std::string& out) {
    const auto found = json.find(name);
    if (found == json.end() || !found->is_string() || found->get_ref<const std::string&>().empty())
        return false;
    out = found->get<std::string>();
    return true;
}

/** Parses a JWT payload: a JSON object without duplicate names, nested at most 16 deep. */
bool parse_payload(core::byte_view payload, nlohmann::json& out) {
    std::vector<std::set<std::string>> open_objects;
    bool rejected = false;
    const auto callback = [&](int depth, nlohmann::json::parse_event_t event,
                              nlohmann::json& parsed) {
        using event_type = nlohmann::json::parse_event_t;
        if (rejected)
            return false;
        if (depth > max_payload_depth) {
            rejected = true;
            return false;
        }
        if (event == event_type::object_start) {
            open_objects.emplace_back();
        } else if (event == event_type::object_end) {
            if (!open_objects.empty())
                open_objects.pop_back();
        } else if (event == event_type::key) {
            if (!open_objects.empty() && parsed.is_string() &&
                !open_objects.back().insert(parsed.get_ref<const std::string&>()).second) {
                rejected = true;
                return false;
            }
        }
        return true;
    };
    try {
        const std::string_view text = core::as_string_view(payload);
        out = nlohmann::json::parse(text.begin(), text.end(), callback, true, false);
    } catch (const nlohmann::json::exception&) {
        return false;
    }
    return !rejected && out.is_object();
}

license_claims claims_from_json(const nlohmann::json& json, std::error_code& ec,
                                std::string* reason) {
    ec.clear();
    const auto fail = [&](std::string why) {
        ec = errc::license_malformed;
        set_reason(reason, std::move(why));
        return license_claims{};
    };
    if (!json.is_object())
        return fail("the license payload is not a JSON object");
    license_claims claims;
    if (!read_string(json, "iss", claims.issuer))
        return fail("claim \"iss\" is missing or not a non-empty string");
    if (!read_string(json, "sub", claims.subject))
        return fail("claim \"sub\" is missing or not a non-empty string");
    if (!read_string(json, "doi", claims.doi))
        return fail("claim \"doi\" is missing or not a non-empty string");
    {
        std::error_code doi_ec;
        (void)core::doi::parse_canonical(claims.doi, doi_ec);
        if (doi_ec)
            return fail("claim \"doi\" is not a canonical DOI: " + doi_ec.message());
    }
    std::string kid_hex;
    if (!read_string(json, "kid", kid_hex) || kid_hex.size() != 2 * claims.kid.size() ||
        !std::all_of(kid_hex.begin(), kid_hex.end(),
                     [](char c) { return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'); }))
        return fail("claim \"kid\" is not 32 lower-case hexadecimal digits");
    {
        std::error_code hex_ec;
        const core::byte_vector kid = core::from_hex(kid_hex, hex_ec);
        if (hex_ec || kid.size() != claims.kid.size())
            return fail("claim \"kid\" is not 32 lower-case hexadecimal digits");
        std::copy(kid.begin(), kid.end(), claims.kid.begin());
    }
    if (!read_time(json, "iat", claims.issued_at))
        return fail("claim \"iat\" is missing or not an integer NumericDate");
    if (!read_time(json, "exp", claims.expires_at))
        return fail("claim \"exp\" is missing or not an integer NumericDate");
    if (claims.expires_at <= claims.issued_at)
        return fail("claim \"exp\" is not after \"iat\"");
    if (!read_string(json, "jti", claims.id))
        return fail("claim \"jti\" is missing or not a non-empty string");
    const auto cnf = json.find("cnf");
    if (cnf == json.end() || !cnf->is_object() ||
        !read_string(*cnf, "jkt", claims.device_thumbprint) ||
        claims.device_thumbprint.size() != thumbprint_size)
        return fail("claim \"cnf\" is missing or has no 43-character \"jkt\"");
    if (const auto found = json.find("rights"); found != json.end()) {
        claims.rights = rights::from_json(*found, ec);
        if (ec) {
            set_reason(reason, "claim \"rights\" is malformed");
            return {};
        }
    }
    return claims;
}

std::string issue_impl(const core::ed25519_private_key& key, const std::string& key_id,
                       const std::string& default_issuer, const license_claims& input,
                       const core::jwk& device_public_key, const core::secret_bytes& cek,
                       std::error_code& ec, std::string* reason) {
    ec.clear();
    const auto fail = [&](std::error_code code, std::string why) {
        ec = code;
        set_reason(reason, std::move(why));
        return std::string();
    };
    if (cek.size() != content_key_size)
        return fail(core::errc::bad_key_size, "the content key is not 32 bytes");
    if (device_public_key.empty() || device_public_key.curve() != core::jwk_curve::x25519)
        return fail(core::errc::jwk_unsupported, "the device key is not an X25519 key");
    std::error_code key_ec;
    const core::x25519_public_key device_key = device_public_key.x25519_public(key_ec);
    if (key_ec)
        return fail(key_ec, "the device key is not usable");
    const std::string thumbprint = device_public_key.thumbprint();
    license_claims claims = input;
    if (claims.device_thumbprint.empty())
        claims.device_thumbprint = thumbprint;
    else if (claims.device_thumbprint != thumbprint)
        return fail(errc::license_wrong_device,
                    "the device key's thumbprint is not the granted \"cnf.jkt\"");
    if (claims.issuer.empty())
        claims.issuer = default_issuer;
    if (claims.issuer.empty())
        return fail(core::errc::invalid_argument, "no issuer");
    if (claims.subject.empty())
        return fail(core::errc::invalid_argument, "no subject");
    {
        // A stored canonical string first (it may hold a literal "%"), then any input form.
        std::error_code doi_ec;
        core::doi doi = core::doi::parse_canonical(claims.doi, doi_ec);
        if (doi_ec)
            doi = core::doi::parse(claims.doi, doi_ec);
        if (doi_ec)
            return fail(core::errc::invalid_argument, "bad DOI: " + doi_ec.message());
        claims.doi = doi.str();
    }
    if (!in_range(claims.issued_at) || !in_range(claims.expires_at))
        return fail(core::errc::invalid_argument, "\"iat\" or \"exp\" out of range");
    if (claims.expires_at <= claims.issued_at)
        return fail(core::errc::invalid_argument, "\"exp\" is not after \"iat\"");
    if (claims.id.empty()) {
        std::array<std::uint8_t, 16> id{};
        core::random_bytes(id, key_ec);
        if (key_ec)
            return fail(key_ec, "no random license id");
        claims.id = core::base64url_encode(id);
    }
    nlohmann::json payload = claims.to_json();
    const std::string wrapped =
        core::jwe_encrypt(cek.view(), device_key, {{"kid", thumbprint}}, key_ec);
    if (key_ec)
        return fail(key_ec, "cannot encrypt the content key to the device key");
    payload["cek"] = wrapped;
    std::string text;
    try {
        text = payload.dump();
    } catch (const nlohmann::json::type_error&) {
        return fail(core::errc::invalid_argument, "a claim is not valid UTF-8");
    }
    std::string compact =
        core::jws_sign(core::as_bytes(text), key, {{"kid", key_id}, {"typ", license_typ}}, key_ec);
    if (key_ec)
        return fail(key_ec, "cannot sign the license");
    return compact;
}

}  // namespace

// --- license_claims ----------------------------------------------------------------------------

nlohmann::json license_claims::to_json() const {
    return nlohmann::json{{"iss", issuer},
                          {"sub", subject},
                          {"doi", doi},
                          {"kid", core::to_hex(kid)},
                          {"iat", issued_at.time_since_epoch().count()},
                          {"exp", expires_at.time_since_epoch().count()},
                          {"jti", id},
                          {"rights", rights.to_json()},
                          {"cnf", {{"jkt", device_thumbprint}}}};
}

license_claims license_claims::from_json(const nlohmann::json& json, std::error_code& ec) {
    return claims_from_json(json, ec, nullptr);
}

license_claims license_claims::from_json(const nlohmann::json& json) {
    std::error_code ec;
    std::string reason;
    license_claims claims = claims_from_json(json, ec, &reason);
    if (ec)
        throw_error(ec, reason);
    return claims;
}

// --- license_issuer ----------------------------------------------------------------------------

license_issuer::license_issuer(core::ed25519_private_key signing_key, std::string key_id,
                               std::string issuer)
    : key_(std::move(signing_key)), key_id_(std::move(key_id)), issuer_(std::move(issuer)) {}

core::ed25519_public_key license_issuer::public_key() const {
    return key_.public_key();
}

core::jwk license_issuer::public_jwk() const {
    core::jwk key(public_key());
    key.set_kid(key_id_);
    key.set_use("sig");
    key.set_alg("EdDSA");
    return key;
}

std::string license_issuer::issue(const license_claims& claims, const core::jwk& device_public_key,
                                  const core::secret_bytes& cek, std::error_code& ec) const {
    return issue_impl(key_, key_id_, issuer_, claims, device_public_key, cek, ec, nullptr);
}

std::string license_issuer::issue(const license_claims& claims, const core::jwk& device_public_key,
                                  const core::secret_bytes& cek) const {
    std::error_code ec;
    std::string reason;
    std::string compact =
        issue_impl(key_, key_id_, issuer_, claims, device_public_key, cek, ec, &reason);
    if (ec)
        throw_error(ec, "cannot issue the license: " + reason);
    return compact;
}

// --- license_verifier --------------------------------------------------------------------------

namespace {

struct parsed_license {
    core::parsed_jws jws;
    nlohmann::json payload;
    license_claims claims;
    std::string cek_jwe;
};

/**
 * RFC 7515 §4.1.9: "typ" is a media type, compared case-insensitively, and "application/" may
 * be omitted.
 */
bool is_license_typ(std::string_view typ) {
    constexpr std::string_view prefix = "application/";
    const auto equal_folded = [](std::string_view a, std::string_view b) {
        return a.size() == b.size() &&
               std::equal(a.begin(), a.end(), b.begin(), [](char x, char y) {
                   const auto lower = [](char c) {
                       return c >= 'A' && c <= 'Z' ? static_cast<char>(c - 'A' + 'a') : c;
                   };
                   return lower(x) == lower(y);
               });
    };
    if (typ.size() > prefix.size() && equal_folded(typ.substr(0, prefix.size()), prefix))
        typ.remove_prefix(prefix.size());
    return equal_folded(typ, license_typ);
}

/** Structure checks shared by verify() and peek_license_claims(); the signature is not checked. */
bool parse_license(std::string_view compact, parsed_license& out, std::error_code& ec,
                   std::string* reason) {
    ec.clear();
    std::error_code jose_ec;
    out.jws = core::jws_parse(compact, jose_ec);
    if (jose_ec) {
        ec = errc::license_malformed;
        set_reason(reason, "not a compact JWS with alg EdDSA: " + jose_ec.message());
        return false;
    }
    const auto typ = out.jws.header.find("typ");
    if (typ == out.jws.header.end() || !typ->is_string() ||
        !is_license_typ(typ->get_ref<const std::string&>())) {
        ec = errc::license_malformed;
        set_reason(reason, "header \"typ\" is not \"imsp2p-license+jwt\"");
        return false;
    }
    if (const auto kid = out.jws.header.find("kid");
        kid != out.jws.header.end() && !kid->is_string()) {
        ec = errc::license_malformed;
        set_reason(reason, "header \"kid\" is not a string");
        return false;
    }
    return true;
}

bool parse_license_payload(parsed_license& out, std::error_code& ec, std::string* reason) {
    if (!parse_payload(out.jws.payload, out.payload)) {
        ec = errc::license_malformed;
        set_reason(reason,
                   "the payload is not a JSON object (or has duplicate names or deep nesting)");
        return false;
    }
    out.claims = claims_from_json(out.payload, ec, reason);
    if (ec)
        return false;
    const auto cek = out.payload.find("cek");
    if (cek == out.payload.end() || !cek->is_string()) {
        ec = errc::license_malformed;
        set_reason(reason, "claim \"cek\" is missing or not a string");
        return false;
    }
    out.cek_jwe = cek->get<std::string>();
    return true;
}

verified_license verify_impl(const std::unordered_map<std::string, core::ed25519_public_key>& keys,
                             const std::string& expected_issuer, std::chrono::seconds leeway,
                             std::string_view compact, const core::x25519_private_key& device_key,
                             system_clock::time_point now, std::error_code& ec,
                             std::string* reason) {
    parsed_license license;
    if (!parse_license(compact, license, ec, reason))
        return {};
    const core::ed25519_public_key* key = nullptr;
    if (const auto kid = license.jws.header.find("kid"); kid != license.jws.header.end()) {
        const auto found = keys.find(kid->get_ref<const std::string&>());
        if (found != keys.end())
            key = &found->second;
    } else if (keys.size() == 1) {
        key = &keys.begin()->second;
    }
    if (key == nullptr) {
        ec = errc::license_bad_signature;
        set_reason(reason, "no trusted DRM key for the header \"kid\"");
        return {};
    }
    std::error_code jose_ec;
    if (!core::jws_verify(license.jws, *key, jose_ec)) {
        ec = errc::license_bad_signature;
        set_reason(reason, "the signature does not verify with the trusted DRM key");
        return {};
    }
    if (!parse_license_payload(license, ec, reason))
        return {};
    const license_claims& claims = license.claims;
    if (!expected_issuer.empty() && claims.issuer != expected_issuer) {
        ec = errc::license_bad_signature;
        set_reason(reason, "issued by \"" + claims.issuer + "\", not the expected DRM server");
        return {};
    }
    const core::jwk device_jwk(device_key.public_key());
    if (claims.device_thumbprint != device_jwk.thumbprint()) {
        ec = errc::license_wrong_device;
        set_reason(reason, "\"cnf.jkt\" is not the thumbprint of this device's key");
        return {};
    }
    const auto current = std::chrono::time_point_cast<std::chrono::seconds>(now);
    if (current >= claims.expires_at + leeway) {
        ec = errc::license_expired;
        set_reason(reason, "the license expired (\"exp\")");
        return {};
    }
    if (claims.issued_at > current + leeway) {
        ec = errc::license_not_yet_valid;
        set_reason(reason, "the license is issued in the future (\"iat\")");
        return {};
    }
    core::secret_bytes cek = core::jwe_decrypt(license.cek_jwe, device_key, jose_ec);
    if (jose_ec == core::errc::authentication_failed || jose_ec == core::errc::bad_key) {
        ec = errc::license_wrong_device;
        set_reason(reason, "the content key does not decrypt with this device's key");
        return {};
    }
    if (jose_ec || cek.size() != content_key_size) {
        ec = errc::license_malformed;
        set_reason(reason, jose_ec ? "claim \"cek\" is not a valid JWE: " + jose_ec.message()
                                   : std::string("claim \"cek\" does not hold a 32-byte key"));
        return {};
    }
    return {claims, std::move(cek)};
}

}  // namespace

license_verifier::license_verifier(const core::jwk_set& drm_keys) {
    add_keys(drm_keys);
}

void license_verifier::add_key(std::string kid, core::ed25519_public_key key) {
    if (key.empty())
        return;
    keys_.insert_or_assign(std::move(kid), std::move(key));
}

std::size_t license_verifier::add_keys(const core::jwk_set& keys) {
    std::size_t added = 0;
    for (const core::jwk& key : keys.keys) {
        if (key.empty() || key.curve() != core::jwk_curve::ed25519)
            continue;
        if (!key.use().empty() && key.use() != "sig")
            continue;
        std::error_code ec;
        core::ed25519_public_key public_key = key.ed25519_public(ec);
        if (ec)
            continue;
        add_key(key.kid().empty() ? key.thumbprint() : key.kid(), std::move(public_key));
        ++added;
    }
    return added;
}

verified_license license_verifier::verify(std::string_view compact,
                                          const core::x25519_private_key& device_key,
                                          system_clock::time_point now, std::error_code& ec) const {
    return verify_impl(keys_, issuer_, leeway_, compact, device_key, now, ec, nullptr);
}

verified_license license_verifier::verify(std::string_view compact,
                                          const core::x25519_private_key& device_key,
                                          system_clock::time_point now) const {
    std::error_code ec;
    std::string reason;
    verified_license license =
        verify_impl(keys_, issuer_, leeway_, compact, device_key, now, ec, &reason);
    if (ec)
        throw_error(ec, reason);
    return license;
}

license_claims peek_license_claims(std::string_view compact, std::error_code& ec) {
    parsed_license license;
    if (!parse_license(compact, license, ec, nullptr) ||
        !parse_license_payload(license, ec, nullptr))
        return {};
    return license.claims;
}

void check_license_matches(const verified_license& license, const container_header& header,
                           std::error_code& ec) {
    check_license_matches(license.claims, {}, header.kid, ec);
}

void check_license_matches(const license_claims& claims, std::string_view doi,
                           const content_kid& kid, std::error_code& ec) {
    ec.clear();
    if (!core::constant_time_equal(claims.kid, kid)) {
        ec = errc::license_wrong_content;
        return;
    }
    if (doi.empty())
        return;
    std::error_code doi_ec;
    core::doi expected = core::doi::parse_canonical(doi, doi_ec);
    if (doi_ec)
        expected = core::doi::parse(doi, doi_ec);
    if (doi_ec) {
        ec = errc::license_wrong_content;
        return;
    }
    const core::doi actual = core::doi::parse_canonical(claims.doi, doi_ec);
    if (doi_ec || !(actual == expected))
        ec = errc::license_wrong_content;
}

}  // namespace imsp2p::drm
