#include <imsp2p/core/ticket.hpp>

#include <imsp2p/core/encoding.hpp>
#include <imsp2p/core/error.hpp>
#include <imsp2p/core/siphash.hpp>

#include <algorithm>
#include <array>
#include <cmath>
#include <cstring>
#include <set>
#include <utility>

namespace imsp2p::core {

namespace {

using std::chrono::seconds;
using std::chrono::system_clock;

/** 9999-12-31T23:59:59Z: the largest NumericDate accepted (keeps all arithmetic in range). */
constexpr std::int64_t max_numeric_date = 253402300799;
/** The leeway is clock-skew tolerance; more than a day would be a configuration mistake. */
constexpr seconds max_leeway{24 * 60 * 60};
/** Deepest JSON nesting accepted in a ticket payload. */
constexpr int max_payload_depth = 16;

constexpr std::array<std::string_view, 11> registered_claims{
    "iss", "sub", "aud", "iat", "nbf", "exp", "jti", "ih", "role", "doi", "cnf"};

bool is_registered(std::string_view name) noexcept {
    return std::find(registered_claims.begin(), registered_claims.end(), name) !=
           registered_claims.end();
}

void set_reason(std::string* reason, std::string text) {
    if (reason != nullptr) {
        *reason = std::move(text);
    }
}

bool is_lower_hex(std::string_view text) noexcept {
    return std::all_of(text.begin(), text.end(),
                       [](char c) { return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'); });
}

bool is_infohash_hex(std::string_view text) noexcept {
    return (text.size() == 40 || text.size() == 64) && is_lower_hex(text);
}

std::string to_lower_ascii(std::string_view text) {
    std::string lower(text);
    std::transform(lower.begin(), lower.end(), lower.begin(), [](char c) {
        return (c >= 'A' && c <= 'Z') ? static_cast<char>(c - 'A' + 'a') : c;
    });
    return lower;
}

/** An RFC 7638 SHA-256 thumbprint: 43 base64url characters. */
bool is_thumbprint(std::string_view text) noexcept {
    return text.size() == 43 && std::all_of(text.begin(), text.end(), [](char c) {
               return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
                      c == '-' || c == '_';
           });
}

/** Reads a NumericDate; fractions round toward `round_up`. */
bool read_numeric_date(const nlohmann::json& value, bool round_up, ticket_time& out) noexcept {
    std::int64_t whole = 0;
    if (value.is_number_unsigned()) {
        const auto number = value.get<std::uint64_t>();
        if (number > static_cast<std::uint64_t>(max_numeric_date)) {
            return false;
        }
        whole = static_cast<std::int64_t>(number);
    } else if (value.is_number_integer()) {
        whole = value.get<std::int64_t>();
        if (whole < 0 || whole > max_numeric_date) {
            return false;
        }
    } else if (value.is_number_float()) {
        const double number = value.get<double>();
        if (!(number >= 0.0 && number <= static_cast<double>(max_numeric_date))) {
            return false;
        }
        whole = static_cast<std::int64_t>(round_up ? std::ceil(number) : std::floor(number));
    } else {
        return false;
    }
    out = ticket_time{seconds{whole}};
    return true;
}

bool in_numeric_date_range(ticket_time time) noexcept {
    const auto count = time.time_since_epoch().count();
    return count >= 0 && count <= max_numeric_date;
}

/** Parses a JWT payload: a JSON object without duplicate names, nested at most 16 deep. */
bool parse_payload(byte_view payload, nlohmann::json& out) {
    std::vector<std::set<std::string>> open_objects;
    bool rejected = false;
    const auto callback = [&](int depth, nlohmann::json::parse_event_t event,
                              nlohmann::json& parsed) {
        using event_type = nlohmann::json::parse_event_t;
        if (rejected) {
            return false;
        }
        if (depth > max_payload_depth) {
            rejected = true;
            return false;
        }
        if (event == event_type::object_start) {
            open_objects.emplace_back();
        } else if (event == event_type::object_end) {
            if (!open_objects.empty()) {
                open_objects.pop_back();
            }
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
        const std::string_view text = as_string_view(payload);
        out = nlohmann::json::parse(text.begin(), text.end(), callback, true, false);
    } catch (const nlohmann::json::exception&) {
        return false;
    }
    return !rejected && out.is_object();
}

/** ticket_claims::from_json() with a preferred audience for "aud" arrays and a reason. */
ticket_claims claims_from_json(const nlohmann::json& json, std::string_view preferred_audience,
                               std::error_code& ec, std::string* reason) {
    ec.clear();
    if (!json.is_object()) {
        ec = errc::ticket_malformed;
        set_reason(reason, "the claims set is not a JSON object");
        return {};
    }
    const auto missing = [&](const char* name) {
        ec = errc::ticket_missing_claim;
        set_reason(reason, std::string("claim \"") + name + "\" is missing");
        return ticket_claims{};
    };
    const auto bad = [&](const char* name, const char* why) {
        ec = errc::ticket_bad_claim;
        set_reason(reason, std::string("claim \"") + name + "\" " + why);
        return ticket_claims{};
    };
    const auto required_string = [&](const char* name, std::string& out) -> int {
        const auto found = json.find(name);
        if (found == json.end()) {
            missing(name);
            return -1;
        }
        if (!found->is_string() || found->get_ref<const std::string&>().empty()) {
            bad(name, "must be a non-empty string");
            return -1;
        }
        out = found->get<std::string>();
        return 0;
    };
    const auto required_date = [&](const char* name, bool round_up, ticket_time& out) -> int {
        const auto found = json.find(name);
        if (found == json.end()) {
            missing(name);
            return -1;
        }
        if (!read_numeric_date(*found, round_up, out)) {
            bad(name, "must be a NumericDate between 0 and 253402300799");
            return -1;
        }
        return 0;
    };

    ticket_claims claims;
    if (required_string("iss", claims.issuer) != 0 || required_string("sub", claims.subject) != 0) {
        return {};
    }
    const auto audience = json.find("aud");
    if (audience == json.end()) {
        return missing("aud");
    }
    if (audience->is_string() && !audience->get_ref<const std::string&>().empty()) {
        claims.audience = audience->get<std::string>();
    } else if (audience->is_array() && !audience->empty()) {
        for (const auto& item : *audience) {
            if (!item.is_string() || item.get_ref<const std::string&>().empty()) {
                return bad("aud", "must be a non-empty string or array of non-empty strings");
            }
            if (item.get_ref<const std::string&>() == preferred_audience) {
                claims.audience = item.get<std::string>();
            }
        }
        if (claims.audience.empty()) {
            claims.audience = audience->front().get<std::string>();
        }
    } else {
        return bad("aud", "must be a non-empty string or array of non-empty strings");
    }
    if (required_date("iat", true, claims.issued_at) != 0 ||
        required_date("exp", false, claims.expires_at) != 0 ||
        required_string("jti", claims.id) != 0) {
        return {};
    }
    if (claims.expires_at <= claims.issued_at) {
        return bad("exp", "must be after \"iat\"");
    }
    if (const auto found = json.find("nbf"); found != json.end()) {
        ticket_time not_before;
        if (!read_numeric_date(*found, true, not_before)) {
            return bad("nbf", "must be a NumericDate between 0 and 253402300799");
        }
        claims.not_before = not_before;
    }
    if (const auto found = json.find("ih"); found != json.end()) {
        if (!found->is_array()) {
            return bad("ih", "must be an array of infohashes");
        }
        for (const auto& item : *found) {
            if (!item.is_string() || !is_infohash_hex(item.get_ref<const std::string&>())) {
                return bad("ih", "must hold lower-case hex infohashes of 40 or 64 digits");
            }
            claims.infohashes.push_back(item.get<std::string>());
        }
    }
    if (const auto found = json.find("role"); found != json.end()) {
        const std::optional<ticket_role> role =
            found->is_string() ? parse_ticket_role(found->get_ref<const std::string&>())
                               : std::nullopt;
        if (!role) {
            return bad("role", "must be \"leech\", \"seed\", \"operator-seed\" or \"service\"");
        }
        claims.role = role;
    }
    if (const auto found = json.find("doi"); found != json.end()) {
        if (!found->is_string() || found->get_ref<const std::string&>().empty()) {
            return bad("doi", "must be a non-empty string");
        }
        claims.doi = found->get<std::string>();
    }
    if (const auto found = json.find("cnf"); found != json.end()) {
        const auto jkt = found->is_object() ? found->find("jkt") : found->end();
        if (!found->is_object() || jkt == found->end() || !jkt->is_string() ||
            !is_thumbprint(jkt->get_ref<const std::string&>())) {
            return bad("cnf", "must be {\"jkt\": a base64url SHA-256 JWK thumbprint}");
        }
        claims.confirmation_thumbprint = jkt->get<std::string>();
    }
    for (const auto& [name, value] : json.items()) {
        if (!is_registered(name)) {
            claims.extra[name] = value;
        }
    }
    return claims;
}

}  // namespace

// --- roles --------------------------------------------------------------------------------

std::string_view to_string(ticket_role role) noexcept {
    switch (role) {
        case ticket_role::leech:
            return "leech";
        case ticket_role::seed:
            return "seed";
        case ticket_role::operator_seed:
            return "operator-seed";
        case ticket_role::service:
            return "service";
    }
    return "unknown";
}

std::optional<ticket_role> parse_ticket_role(std::string_view text) noexcept {
    for (const ticket_role role : {ticket_role::leech, ticket_role::seed,
                                   ticket_role::operator_seed, ticket_role::service}) {
        if (text == to_string(role)) {
            return role;
        }
    }
    return std::nullopt;
}

// --- claims ---------------------------------------------------------------------------------

nlohmann::json ticket_claims::to_json() const {
    nlohmann::json json = nlohmann::json::object();
    json["iss"] = issuer;
    json["sub"] = subject;
    json["aud"] = audience;
    json["iat"] = issued_at.time_since_epoch().count();
    if (not_before) {
        json["nbf"] = not_before->time_since_epoch().count();
    }
    json["exp"] = expires_at.time_since_epoch().count();
    json["jti"] = id;
    if (!infohashes.empty()) {
        json["ih"] = infohashes;
    }
    if (role) {
        json["role"] = std::string(to_string(*role));
    }
    if (doi) {
        json["doi"] = *doi;
    }
    if (confirmation_thumbprint) {
        json["cnf"] = {{"jkt", *confirmation_thumbprint}};
    }
    if (extra.is_object()) {
        for (const auto& [name, value] : extra.items()) {
            if (!is_registered(name)) {
                json[name] = value;
            }
        }
    }
    return json;
}

ticket_claims ticket_claims::from_json(const nlohmann::json& json, std::error_code& ec) {
    return claims_from_json(json, {}, ec, nullptr);
}

ticket_claims ticket_claims::from_json(const nlohmann::json& json) {
    std::error_code ec;
    std::string reason;
    ticket_claims claims = claims_from_json(json, {}, ec, &reason);
    if (ec) {
        throw_error(ec, reason);
    }
    return claims;
}

// --- infohash and role checks -----------------------------------------------------------------

bool covers_infohash(const ticket_claims& claims, std::string_view infohash) noexcept {
    if (infohash.size() != 40 && infohash.size() != 64) {
        return false;
    }
    std::array<char, 64> lower{};
    for (std::size_t i = 0; i < infohash.size(); ++i) {
        const char c = infohash[i];
        lower[i] = (c >= 'A' && c <= 'F') ? static_cast<char>(c - 'A' + 'a') : c;
    }
    const std::string_view wanted(lower.data(), infohash.size());
    if (!is_lower_hex(wanted)) {
        return false;
    }
    return std::any_of(claims.infohashes.begin(), claims.infohashes.end(),
                       [wanted](const std::string& held) {
                           if (held == wanted) {
                               return true;
                           }
                           // A v2 infohash truncated to 20 bytes (BEP 52 tracker view).
                           return wanted.size() == 40 && held.size() == 64 &&
                                  std::string_view(held).substr(0, 40) == wanted;
                       });
}

bool covers_infohash(const ticket_claims& claims, byte_view infohash) noexcept {
    if (infohash.size() != 20 && infohash.size() != 32) {
        return false;
    }
    // The "ih" entries are lower-case hex (checked when the claims were read): compare them
    // with the bytes digit by digit, without building a hex string per call.
    static constexpr char digits[] = "0123456789abcdef";
    const auto matches = [&](const std::string& held) noexcept {
        // A v2 infohash (64 digits) also matches its first 20 bytes (BEP 52 tracker view).
        if (held.size() != 2 * infohash.size() && !(held.size() == 64 && infohash.size() == 20)) {
            return false;
        }
        for (std::size_t i = 0; i < infohash.size(); ++i) {
            if (held[2 * i] != digits[infohash[i] >> 4] ||
                held[2 * i + 1] != digits[infohash[i] & 0x0f]) {
                return false;
            }
        }
        return true;
    };
    return std::any_of(claims.infohashes.begin(), claims.infohashes.end(), matches);
}

void require_infohash(const ticket_claims& claims, std::string_view infohash,
                      std::error_code& ec) noexcept {
    ec.clear();
    if (!covers_infohash(claims, infohash)) {
        ec = errc::ticket_wrong_infohash;
    }
}

bool may_seed(const ticket_claims& claims) noexcept {
    return claims.role == ticket_role::seed || claims.role == ticket_role::operator_seed;
}

bool may_download(const ticket_claims& claims) noexcept {
    return claims.role == ticket_role::leech || may_seed(claims);
}

void require_role(const ticket_claims& claims, std::initializer_list<ticket_role> allowed,
                  std::error_code& ec) noexcept {
    ec.clear();
    if (!claims.role || std::find(allowed.begin(), allowed.end(), *claims.role) == allowed.end()) {
        ec = errc::ticket_role_not_allowed;
    }
}

// --- issuer ------------------------------------------------------------------------------------

ticket_issuer::ticket_issuer(ed25519_private_key key, std::string kid, std::string issuer)
    : key_(std::move(key)), kid_(std::move(kid)), issuer_(std::move(issuer)) {}

ed25519_public_key ticket_issuer::public_key() const {
    return key_.public_key();
}

jwk ticket_issuer::public_jwk() const {
    jwk key(key_.public_key());
    key.set_kid(kid_);
    key.set_use("sig");
    key.set_alg("EdDSA");
    return key;
}

namespace {

/** Validates and completes claims for issuing; returns false with ec/reason set. */
bool prepare_claims(ticket_claims& claims, const std::string& default_issuer, std::error_code& ec,
                    std::string* reason) {
    const auto invalid = [&](std::string why) {
        ec = errc::invalid_argument;
        set_reason(reason, std::move(why));
        return false;
    };
    if (claims.issuer.empty()) {
        claims.issuer = default_issuer;
    }
    if (claims.issuer.empty()) {
        return invalid("claim \"iss\" is empty and the issuer has no default");
    }
    if (claims.subject.empty()) {
        return invalid("claim \"sub\" is empty");
    }
    if (claims.audience.empty()) {
        return invalid("claim \"aud\" is empty");
    }
    if (!in_numeric_date_range(claims.issued_at) || !in_numeric_date_range(claims.expires_at) ||
        (claims.not_before && !in_numeric_date_range(*claims.not_before))) {
        return invalid("a time claim is outside 1970..9999");
    }
    if (claims.expires_at <= claims.issued_at) {
        return invalid("claim \"exp\" must be after \"iat\"");
    }
    if (claims.id.empty()) {
        std::array<std::uint8_t, 16> random{};
        random_bytes(random, ec);
        if (ec) {
            set_reason(reason, "cannot draw a random ticket id");
            return false;
        }
        claims.id = base64url_encode(random);
    }
    for (std::string& infohash : claims.infohashes) {
        infohash = to_lower_ascii(infohash);
        if (!is_infohash_hex(infohash)) {
            return invalid("claim \"ih\": \"" + infohash +
                           "\" is not a hex infohash of 40 or 64 digits");
        }
    }
    if (claims.doi && claims.doi->empty()) {
        return invalid("claim \"doi\" is empty");
    }
    if (claims.confirmation_thumbprint && !is_thumbprint(*claims.confirmation_thumbprint)) {
        return invalid("claim \"cnf\": \"jkt\" is not a base64url SHA-256 thumbprint");
    }
    if (claims.extra.is_null()) {
        claims.extra = nlohmann::json::object();
    }
    if (!claims.extra.is_object()) {
        return invalid("extra claims must be a JSON object");
    }
    for (const auto& [name, value] : claims.extra.items()) {
        if (is_registered(name)) {
            return invalid("extra claim \"" + name + "\" repeats a registered claim");
        }
    }
    return true;
}

std::string issue_impl(const ed25519_private_key& key, const std::string& kid,
                       const std::string& default_issuer, const ticket_claims& input,
                       std::error_code& ec, std::string* reason) {
    ec.clear();
    ticket_claims claims = input;
    if (!prepare_claims(claims, default_issuer, ec, reason)) {
        return {};
    }
    std::string payload;
    try {
        payload = claims.to_json().dump();  // strict: throws on invalid UTF-8
    } catch (const nlohmann::json::type_error&) {
        ec = errc::invalid_argument;
        set_reason(reason, "a claim is not valid UTF-8");
        return {};
    }
    nlohmann::json header = {{"typ", "JWT"}};
    if (!kid.empty()) {
        header["kid"] = kid;
    }
    std::string token = jws_sign(as_bytes(payload), key, header, ec);
    if (ec) {
        set_reason(reason, "signing failed: " + ec.message());
        return {};
    }
    return token;
}

}  // namespace

std::string ticket_issuer::issue(const ticket_claims& claims, std::error_code& ec) const {
    return issue_impl(key_, kid_, issuer_, claims, ec, nullptr);
}

std::string ticket_issuer::issue(const ticket_claims& claims) const {
    std::error_code ec;
    std::string reason;
    std::string token = issue_impl(key_, kid_, issuer_, claims, ec, &reason);
    if (ec) {
        throw_error(ec, reason);
    }
    return token;
}

// --- verifier ----------------------------------------------------------------------------------

ticket_verifier::ticket_verifier(std::string expected_audience)
    : audience_(std::move(expected_audience)) {}

ticket_verifier::ticket_verifier(std::string expected_audience, const jwk_set& keys)
    : audience_(std::move(expected_audience)) {
    add_keys(keys);
}

void ticket_verifier::add_key(std::string kid, ed25519_public_key key) {
    if (key.empty()) {
        return;
    }
    keys_.insert_or_assign(std::move(kid), std::move(key));
}

std::size_t ticket_verifier::add_keys(const jwk_set& keys) {
    std::size_t added = 0;
    for (const jwk& key : keys.keys) {
        if (key.empty() || key.curve() != jwk_curve::ed25519 ||
            (!key.use().empty() && key.use() != "sig")) {
            continue;
        }
        std::error_code ec;
        ed25519_public_key public_key = key.ed25519_public(ec);
        if (ec) {
            continue;
        }
        add_key(key.kid().empty() ? key.thumbprint() : key.kid(), std::move(public_key));
        ++added;
    }
    return added;
}

void ticket_verifier::clear_keys() noexcept {
    keys_.clear();
}

void ticket_verifier::set_leeway(std::chrono::seconds leeway) noexcept {
    leeway_ = std::clamp(leeway, seconds::zero(), max_leeway);
}

void ticket_verifier::check_claims_impl(const ticket_claims& claims, system_clock::time_point now,
                                        std::error_code& ec, std::string* reason) const noexcept {
    ec.clear();
    try {
        if (!issuer_.empty() && claims.issuer != issuer_) {
            ec = errc::ticket_wrong_issuer;
            set_reason(reason, "issuer \"" + claims.issuer + "\" is not \"" + issuer_ + "\"");
            return;
        }
        if (claims.audience != audience_) {
            ec = errc::ticket_wrong_audience;
            set_reason(reason, "audience \"" + claims.audience + "\" is not \"" + audience_ + "\"");
            return;
        }
        if (max_lifetime_ && claims.expires_at - claims.issued_at > *max_lifetime_) {
            ec = errc::ticket_bad_claim;
            set_reason(reason, "lifetime exp - iat exceeds " +
                                   std::to_string(max_lifetime_->count()) + " s");
            return;
        }
        // Compare in seconds: system_clock's nanoseconds cannot represent year 9999.
        const ticket_time current = std::chrono::floor<seconds>(now);
        if (current >= claims.expires_at + leeway_) {
            ec = errc::ticket_expired;
            set_reason(reason, "expired " + std::to_string((current - claims.expires_at).count()) +
                                   " s ago");
            return;
        }
        if (claims.not_before && current < *claims.not_before - leeway_) {
            ec = errc::ticket_not_yet_valid;
            set_reason(reason, "not valid before \"nbf\"");
            return;
        }
        if (claims.issued_at > current + leeway_) {
            ec = errc::ticket_not_yet_valid;
            set_reason(reason, "issued in the future (\"iat\")");
            return;
        }
    } catch (const std::bad_alloc&) {
        // Only the reason text can fail to allocate; the verdict stands.
    }
}

void ticket_verifier::check_claims(const ticket_claims& claims, system_clock::time_point now,
                                   std::error_code& ec) const noexcept {
    check_claims_impl(claims, now, ec, nullptr);
}

ticket_claims ticket_verifier::verify_impl(std::string_view token, system_clock::time_point now,
                                           std::error_code& ec, std::string* reason) const {
    ec.clear();
    std::error_code jose_ec;
    const parsed_jws jws = jws_parse(token, jose_ec);
    if (jose_ec) {
        ec = errc::ticket_malformed;
        set_reason(reason, jose_ec.message());
        return {};
    }
    if (const auto typ = jws.header.find("typ"); typ != jws.header.end()) {
        if (!typ->is_string() || to_lower_ascii(typ->get_ref<const std::string&>()) != "jwt") {
            ec = errc::ticket_malformed;
            set_reason(reason, "header \"typ\" is not \"JWT\"");
            return {};
        }
    }
    const ed25519_public_key* key = nullptr;
    if (const auto kid = jws.header.find("kid"); kid != jws.header.end()) {
        if (!kid->is_string()) {
            ec = errc::ticket_malformed;
            set_reason(reason, "header \"kid\" is not a string");
            return {};
        }
        const auto found = keys_.find(kid->get_ref<const std::string&>());
        if (found != keys_.end()) {
            key = &found->second;
        }
    } else if (keys_.size() == 1) {
        key = &keys_.begin()->second;
    }
    if (key == nullptr) {
        ec = errc::ticket_unknown_key;
        set_reason(reason, "no trusted key for this \"kid\"");
        return {};
    }
    if (!jws_verify(jws, *key, jose_ec)) {
        ec = errc::ticket_bad_signature;
        set_reason(reason, "the signature does not verify with the trusted key");
        return {};
    }
    nlohmann::json payload;
    if (!parse_payload(jws.payload, payload)) {
        ec = errc::ticket_malformed;
        set_reason(reason,
                   "the payload is not a JSON object (or has duplicate names or deep nesting)");
        return {};
    }
    ticket_claims claims = claims_from_json(payload, audience_, ec, reason);
    if (ec) {
        return {};
    }
    check_claims_impl(claims, now, ec, reason);
    if (ec) {
        return {};
    }
    return claims;
}

ticket_claims ticket_verifier::verify(std::string_view token, system_clock::time_point now,
                                      std::error_code& ec) const {
    return verify_impl(token, now, ec, nullptr);
}

ticket_claims ticket_verifier::verify(std::string_view token, std::error_code& ec) const {
    return verify_impl(token, system_clock::now(), ec, nullptr);
}

ticket_claims ticket_verifier::verify(std::string_view token, system_clock::time_point now) const {
    std::error_code ec;
    std::string reason;
    ticket_claims claims = verify_impl(token, now, ec, &reason);
    if (ec) {
        throw_error(ec, reason);
    }
    return claims;
}

// --- cache -------------------------------------------------------------------------------------

verified_ticket_cache::verified_ticket_cache(std::size_t capacity)
    : capacity_(capacity), hand_(entries_.end()) {
    std::array<std::uint8_t, 16> seed{};
    random_bytes(seed);  // throws only when the system has no randomness at all
    std::memcpy(hash_key_, seed.data(), seed.size());
}

verified_ticket_cache::~verified_ticket_cache() = default;

verified_ticket_cache::token_key verified_ticket_cache::key_of(
    std::string_view token) const noexcept {
    // The last 64 characters (the end of the signature, which no one but the AS can choose for
    // a token that verifies) spread the buckets as well as the whole token would; equality
    // is still decided on the whole token.
    constexpr std::size_t hashed = 64;
    const std::string_view tail =
        token.size() > hashed ? token.substr(token.size() - hashed) : token;
    // The low bit set: 0 marks an empty slot of the index.
    const std::uint64_t hash =
        siphash13(siphash_key{hash_key_[0], hash_key_[1]},
                  std::span(reinterpret_cast<const std::uint8_t*>(tail.data()), tail.size()));
    return token_key{token, (hash ^ token.size()) | 1U};
}

std::size_t verified_ticket_cache::find_locked(const token_key& key) const noexcept {
    if (slots_.empty()) {
        return 0;
    }
    const std::size_t mask = slots_.size() - 1;
    for (std::size_t at = key.hash & mask;; at = (at + 1) & mask) {
        const slot& held = slots_[at];
        if (held.hash == 0) {
            return slots_.size();
        }
        // The token is read only when the 64-bit keyed hashes agree; then all of it decides.
        if (held.hash == key.hash && held.position->token == key.token) {
            return at;
        }
    }
}

void verified_ticket_cache::place_locked(entry_list::iterator position) {
    if (entries_.size() * 2 > slots_.size()) {  // the new entry is already in the ring
        std::vector<slot> fresh(std::max<std::size_t>(16, slots_.size() * 2));
        const std::size_t mask = fresh.size() - 1;
        for (const slot& held : slots_) {
            if (held.hash != 0) {
                std::size_t at = held.hash & mask;
                while (fresh[at].hash != 0) {
                    at = (at + 1) & mask;
                }
                fresh[at] = held;
            }
        }
        slots_.swap(fresh);
    }
    const std::size_t mask = slots_.size() - 1;
    std::size_t at = position->hash & mask;
    while (slots_[at].hash != 0) {
        at = (at + 1) & mask;
    }
    slots_[at] = slot{position->hash, position};
}

void verified_ticket_cache::unplace_locked(std::size_t hole) noexcept {
    const std::size_t mask = slots_.size() - 1;
    // An entry probed past the hole moves into it unless its home lies cyclically in
    // (hole, next].
    for (std::size_t next = (hole + 1) & mask; slots_[next].hash != 0; next = (next + 1) & mask) {
        const std::size_t home = slots_[next].hash & mask;
        const bool home_between =
            hole <= next ? (home > hole && home <= next) : (home > hole || home <= next);
        if (!home_between) {
            slots_[hole] = slots_[next];
            hole = next;
        }
    }
    slots_[hole] = slot{};
}

void verified_ticket_cache::forget(const token_key& key) {
    const std::lock_guard lock(mutex_);
    const std::size_t found = find_locked(key);
    if (found < slots_.size()) {
        const entry_list::iterator position = slots_[found].position;
        unplace_locked(found);  // before the entry: the key may view the entry's token
        if (hand_ == position) {
            ++hand_;
        }
        entries_.erase(position);
    }
}

std::shared_ptr<const ticket_claims> verified_ticket_cache::verify_shared(
    const ticket_verifier& verifier, std::string_view token, system_clock::time_point now,
    std::error_code& ec) {
    ec.clear();
    if (capacity_ == 0 || token.size() > jose_max_input_size) {
        {
            const std::lock_guard lock(mutex_);
            ++misses_;
        }
        ticket_claims claims = verifier.verify(token, now, ec);
        if (ec) {
            return nullptr;
        }
        return std::make_shared<const ticket_claims>(std::move(claims));
    }
    const token_key key = key_of(token);  // outside the lock
    std::shared_ptr<const ticket_claims> cached;
    {
        const std::lock_guard lock(mutex_);
        const std::size_t found = find_locked(key);
        if (found < slots_.size()) {
            entry& hit = *slots_[found].position;
            hit.referenced = true;  // no reordering: a hit touches its entry only
            cached = hit.claims;
            ++hits_;
        } else {
            ++misses_;
        }
    }
    if (cached) {
        verifier.check_claims(*cached, now, ec);
        if (ec == make_error_code(errc::ticket_expired)) {
            forget(key);
        }
        if (ec) {
            return nullptr;
        }
        return cached;
    }

    ticket_claims verified = verifier.verify(token, now, ec);  // outside the lock: it is slow
    if (ec) {
        return nullptr;
    }
    auto claims = std::make_shared<const ticket_claims>(std::move(verified));
    // Built before taking the lock: the only allocations of a miss besides the list node.
    entry fresh{std::string(token), key.hash, claims};
    const std::lock_guard lock(mutex_);
    if (find_locked(key) == slots_.size()) {
        // CLOCK: the hand skips (and unmarks) entries hit since its last pass and evicts the
        // first unmarked one; at most two turns of the ring.
        while (!entries_.empty() && entries_.size() >= capacity_) {
            if (hand_ == entries_.end()) {
                hand_ = entries_.begin();
            }
            if (hand_->referenced) {
                hand_->referenced = false;
                ++hand_;
                continue;
            }
            const entry_list::iterator victim = hand_++;
            unplace_locked(find_locked(token_key{victim->token, victim->hash}));
            entries_.erase(victim);
        }
        // Inserted just behind the hand: the last entry it will visit.
        const entry_list::iterator position = entries_.insert(hand_, std::move(fresh));
        try {
            place_locked(position);
        } catch (...) {
            entries_.erase(position);
            throw;
        }
    }
    return claims;
}

ticket_claims verified_ticket_cache::verify(const ticket_verifier& verifier, std::string_view token,
                                            system_clock::time_point now, std::error_code& ec) {
    const std::shared_ptr<const ticket_claims> claims = verify_shared(verifier, token, now, ec);
    return claims ? *claims : ticket_claims{};
}

ticket_claims verified_ticket_cache::verify(const ticket_verifier& verifier, std::string_view token,
                                            system_clock::time_point now) {
    std::error_code ec;
    ticket_claims claims = verify(verifier, token, now, ec);
    if (ec) {
        // Re-run for the reason text: failures are rare and not cached.
        (void)verifier.verify(token, now);
        throw_error(ec);
    }
    return claims;
}

void verified_ticket_cache::clear() noexcept {
    const std::lock_guard lock(mutex_);
    slots_.clear();
    entries_.clear();
    hand_ = entries_.end();
}

std::size_t verified_ticket_cache::size() const {
    const std::lock_guard lock(mutex_);
    return entries_.size();
}

std::uint64_t verified_ticket_cache::hits() const {
    const std::lock_guard lock(mutex_);
    return hits_;
}

std::uint64_t verified_ticket_cache::misses() const {
    const std::lock_guard lock(mutex_);
    return misses_;
}

}  // namespace imsp2p::core
