#include <imsp2p/drm/drm_service.hpp>

#include <imsp2p/core/doi.hpp>
#include <imsp2p/core/encoding.hpp>
#include <imsp2p/core/error.hpp>
#include <imsp2p/core/identity.hpp>
#include <imsp2p/core/key_file.hpp>
#include <imsp2p/drm/error.hpp>
#include <imsp2p/drm/license.hpp>

#include <algorithm>
#include <atomic>
#include <mutex>
#include <utility>

namespace imsp2p::drm {

namespace {

using json = nlohmann::json;

void fail(std::error_code& ec, std::string* detail, std::error_code code, std::string reason) {
    ec = code;
    if (detail != nullptr) {
        *detail = std::move(reason);
    }
}

// Checks that every member of @p object is one of @p allowed.
bool only_members(const json& object, std::initializer_list<std::string_view> allowed,
                  std::string& unknown) {
    for (const auto& [key, value] : object.items()) {
        if (std::find(allowed.begin(), allowed.end(), key) == allowed.end()) {
            unknown = key;
            return false;
        }
    }
    return true;
}

bool read_string(const json& object, const char* name, std::string& out, std::string& reason) {
    const auto found = object.find(name);
    if (found == object.end() || !found->is_string() ||
        found->get_ref<const std::string&>().empty()) {
        reason = std::string(name) + ": expected a non-empty string";
        return false;
    }
    out = found->get<std::string>();
    return true;
}

bool read_doi(const json& object, std::string& out, std::string& reason) {
    if (!read_string(object, "doi", out, reason)) {
        return false;
    }
    std::error_code ec;
    const core::doi parsed = core::doi::parse(out, ec);
    if (ec) {
        reason = "doi: " + ec.message();
        return false;
    }
    out = parsed.str();
    return true;
}

bool read_device_key(const json& object, core::jwk& out, std::string& reason) {
    const auto found = object.find("device_key");
    if (found == object.end() || !found->is_object()) {
        reason = "device_key: expected an X25519 public JWK object";
        return false;
    }
    std::error_code ec;
    out = core::jwk::from_json(*found, ec);
    if (ec) {
        reason = "device_key: " + ec.message();
        return false;
    }
    if (out.curve() != core::jwk_curve::x25519) {
        reason = "device_key: expected an OKP key on curve X25519";
        return false;
    }
    if (out.has_private_key()) {
        reason = "device_key: must not contain the private key \"d\"";
        return false;
    }
    return true;
}

std::string printable_request_id(const std::string& id) {
    if (id.size() > 256) {
        return "request_id: longer than 256 characters";
    }
    for (const char c : id) {
        if (c < 0x21 || c > 0x7e) {
            return "request_id: only printable ASCII without spaces is allowed";
        }
    }
    return {};
}

std::int64_t seconds_of(std::chrono::sys_seconds time) {
    return time.time_since_epoch().count();
}

std::chrono::sys_seconds floor_seconds(std::chrono::system_clock::time_point time) {
    return std::chrono::floor<std::chrono::seconds>(time);
}

bool parse_kid(const std::string& text, content_kid& kid) {
    if (text.size() != kid.size() * 2) {
        return false;
    }
    std::error_code ec;
    const auto bytes = core::from_hex(text, ec);
    if (ec || bytes.size() != kid.size()) {
        return false;
    }
    std::copy(bytes.begin(), bytes.end(), kid.begin());
    return true;
}

}  // namespace

// ---------------------------------------------------------------------------------------------
// Request documents

json content_registration::to_json() const {
    return {{"doi", doi}, {"kid", core::to_hex(kid)}, {"cek", cek}, {"metadata", metadata}};
}

content_registration content_registration::from_json(const json& body, std::error_code& ec,
                                                     std::string* detail) {
    ec.clear();
    content_registration out;
    std::string reason;
    std::string unknown;
    std::string kid_text;
    if (!body.is_object()) {
        reason = "the body must be a JSON object";
    } else if (!only_members(body, {"doi", "kid", "cek", "metadata"}, unknown)) {
        reason = "unknown member \"" + unknown + "\"";
    } else if (read_doi(body, out.doi, reason) && read_string(body, "kid", kid_text, reason) &&
               read_string(body, "cek", out.cek, reason)) {
        if (!parse_kid(kid_text, out.kid)) {
            reason = "kid: expected 32 hex digits";
        } else if (const auto metadata = body.find("metadata"); metadata != body.end()) {
            if (!metadata->is_object()) {
                reason = "metadata: expected a JSON object";
            } else {
                out.metadata = *metadata;
            }
        }
    }
    if (!reason.empty()) {
        fail(ec, detail, errc::drm_bad_request, reason);
        return {};
    }
    return out;
}

json grant_request::to_json() const {
    return {{"request_id", request_id},
            {"user", user},
            {"doi", doi},
            {"device_key", device_key.public_only().to_json()},
            {"rights", rights.to_json()}};
}

grant_request grant_request::from_json(const json& body, std::error_code& ec, std::string* detail) {
    ec.clear();
    grant_request out;
    std::string reason;
    std::string unknown;
    if (!body.is_object()) {
        reason = "the body must be a JSON object";
    } else if (!only_members(body, {"request_id", "user", "doi", "device_key", "rights"},
                             unknown)) {
        reason = "unknown member \"" + unknown + "\"";
    } else if (read_string(body, "request_id", out.request_id, reason) &&
               (reason = printable_request_id(out.request_id)).empty() &&
               read_string(body, "user", out.user, reason) && read_doi(body, out.doi, reason) &&
               read_device_key(body, out.device_key, reason)) {
        std::error_code parse_error;
        (void)core::impu::parse(out.user, parse_error);
        if (parse_error) {
            reason = "user: not an IMPU (" + parse_error.message() + ")";
        } else if (const auto rights = body.find("rights"); rights != body.end()) {
            out.rights = drm::rights::from_json(*rights, parse_error);
            if (parse_error) {
                reason = "rights: " + parse_error.message();
            }
        }
    }
    if (!reason.empty()) {
        fail(ec, detail, errc::drm_bad_request, reason);
        return {};
    }
    return out;
}

json license_request::to_json() const {
    return {{"device_key", device_key.public_only().to_json()}};
}

license_request license_request::from_json(const json& body, std::error_code& ec,
                                           std::string* detail) {
    ec.clear();
    license_request out;
    std::string reason;
    std::string unknown;
    if (!body.is_object()) {
        reason = "the body must be a JSON object";
    } else if (!only_members(body, {"device_key"}, unknown)) {
        reason = "unknown member \"" + unknown + "\"";
    } else {
        read_device_key(body, out.device_key, reason);
    }
    if (!reason.empty()) {
        fail(ec, detail, errc::drm_bad_request, reason);
        return {};
    }
    return out;
}

json to_json(const grant_record& grant) {
    json out = {{"grant_id", grant.grant_id},
                {"request_id", grant.request_id},
                {"doi", grant.doi},
                {"user", grant.user},
                {"device_thumbprint", grant.device_thumbprint},
                {"rights", grant.rights.to_json()},
                {"created", seconds_of(grant.created)}};
    if (grant.revoked_at) {
        out["revoked_at"] = seconds_of(*grant.revoked_at);
    }
    return out;
}

grant_record grant_from_json(const json& object, std::error_code& ec) {
    ec.clear();
    grant_record grant;
    std::string reason;
    try {
        if (!object.is_object()) {
            throw std::invalid_argument("not an object");
        }
        grant.grant_id = object.at("grant_id").get<std::string>();
        grant.request_id = object.value("request_id", std::string());
        grant.doi = object.at("doi").get<std::string>();
        grant.user = object.at("user").get<std::string>();
        grant.device_thumbprint = object.at("device_thumbprint").get<std::string>();
        grant.created = std::chrono::sys_seconds(
            std::chrono::seconds(object.at("created").get<std::int64_t>()));
        if (const auto revoked = object.find("revoked_at");
            revoked != object.end() && !revoked->is_null()) {
            grant.revoked_at =
                std::chrono::sys_seconds(std::chrono::seconds(revoked->get<std::int64_t>()));
        }
        std::error_code rights_error;
        grant.rights = drm::rights::from_json(object.value("rights", json::object()), rights_error);
        if (rights_error) {
            throw std::invalid_argument("rights");
        }
    } catch (const std::exception&) {
        ec = errc::drm_server_error;
        return {};
    }
    return grant;
}

json to_json(const content_record& content) {
    return {{"doi", content.doi},
            {"kid", core::to_hex(content.kid)},
            {"state", to_string(content.state)},
            {"metadata", content.metadata},
            {"created", seconds_of(content.created)}};
}

content_record content_from_json(const json& object, std::error_code& ec) {
    ec.clear();
    content_record content;
    try {
        content.doi = object.at("doi").get<std::string>();
        if (!parse_kid(object.at("kid").get<std::string>(), content.kid)) {
            throw std::invalid_argument("kid");
        }
        const auto state = parse_content_state(object.at("state").get<std::string>());
        if (!state) {
            throw std::invalid_argument("state");
        }
        content.state = *state;
        content.metadata = object.value("metadata", json::object());
        content.created = std::chrono::sys_seconds(
            std::chrono::seconds(object.value("created", std::int64_t{0})));
    } catch (const std::exception&) {
        ec = errc::drm_server_error;
        return {};
    }
    return content;
}

std::string_view refusal_reason(const std::error_code& ec) noexcept {
    if (ec.category() != error_category()) {
        return "internal";
    }
    switch (static_cast<errc>(ec.value())) {
        case errc::drm_unauthorized:
            return "unauthorized";
        case errc::drm_bad_request:
            return "bad_request";
        case errc::unknown_content:
            return "unknown_content";
        case errc::content_withdrawn:
            return "content_withdrawn";
        case errc::license_wrong_device:
            return "wrong_device";
        case errc::no_grant:
            return "no_grant";
        case errc::grant_revoked:
            return "grant_revoked";
        case errc::device_limit_reached:
            return "device_limit";
        case errc::grant_conflict:
        case errc::content_conflict:
            return "conflict";
        case errc::unknown_grant:
            return "unknown_grant";
        default:
            return "internal";
    }
}

// ---------------------------------------------------------------------------------------------
// drm_service

struct drm_service::impl {
    drm_service_settings settings;
    std::unique_ptr<key_store> store;
    core::jwk signing_private;
    core::jwk encryption_private;
    core::jwk signing_public;
    core::jwk encryption_public;
    core::jwk_set jwks;
    core::ticket_verifier verifier{"drm"};
    std::unique_ptr<core::verified_ticket_cache> cache;
    std::unique_ptr<license_issuer> issuer;
    std::atomic<std::uint64_t> licenses_issued{0};
    mutable std::mutex refusals_mutex;
    std::map<std::string, std::uint64_t> refusals;

    core::ticket_claims verify(std::string_view token, std::chrono::system_clock::time_point now,
                               std::error_code& ec) {
        return cache->verify(verifier, token, now, ec);
    }

    void refuse(const std::error_code& ec) {
        std::lock_guard lock(refusals_mutex);
        ++refusals[std::string(refusal_reason(ec))];
    }
};

drm_service::drm_service(std::unique_ptr<impl> state) : impl_(std::move(state)) {}

drm_service::~drm_service() = default;

std::unique_ptr<drm_service> drm_service::open(drm_service_settings settings, std::error_code& ec) {
    ec.clear();
    if (settings.data_dir.empty()) {
        ec = core::errc::invalid_argument;
        return nullptr;
    }
    const bool created = std::filesystem::create_directories(settings.data_dir, ec);
    if (ec) {
        ec = core::errc::io_error;
        return nullptr;
    }
    if (created) {  // a folder we make holds secrets: owner only (an existing one is left as is)
        std::filesystem::permissions(settings.data_dir, std::filesystem::perms::owner_all,
                                     std::filesystem::perm_options::replace, ec);
        ec.clear();  // the key files themselves are 0600 anyway
    }
    if (settings.master_key_path.empty()) {
        settings.master_key_path = settings.data_dir / "master.key";
    }
    auto state = std::make_unique<impl>();
    state->signing_private = core::load_or_create_private_key(settings.data_dir / "drm-signing.jwk",
                                                              core::jwk_curve::ed25519, ec);
    if (ec) {
        return nullptr;
    }
    state->encryption_private = core::load_or_create_private_key(
        settings.data_dir / "drm-encryption.jwk", core::jwk_curve::x25519, ec);
    if (ec) {
        return nullptr;
    }
    for (core::jwk* key : {&state->signing_private, &state->encryption_private}) {
        if (key->kid().empty()) {
            key->set_kid(key->thumbprint());
        }
    }
    state->signing_public = state->signing_private.public_only();
    state->signing_public.set_use("sig");
    state->signing_public.set_alg("EdDSA");
    state->encryption_public = state->encryption_private.public_only();
    state->encryption_public.set_use("enc");
    state->encryption_public.set_alg("ECDH-ES+A256KW");
    state->jwks.keys = {state->signing_public, state->encryption_public};

    state->store =
        key_store::open({settings.data_dir / "drm.sqlite", settings.master_key_path}, ec);
    if (ec) {
        return nullptr;
    }
    state->verifier.add_keys(settings.as_keys);
    state->verifier.set_expected_issuer(settings.expected_as_issuer);
    state->verifier.set_leeway(settings.leeway);
    state->cache = std::make_unique<core::verified_ticket_cache>(settings.token_cache_capacity);
    state->issuer = std::make_unique<license_issuer>(state->signing_private.ed25519_private(ec),
                                                     state->signing_private.kid(), settings.issuer);
    if (ec) {
        return nullptr;
    }
    state->settings = std::move(settings);
    return std::unique_ptr<drm_service>(new drm_service(std::move(state)));
}

std::unique_ptr<drm_service> drm_service::open(drm_service_settings settings) {
    std::error_code ec;
    const std::string folder = settings.data_dir.string();
    auto service = open(std::move(settings), ec);
    if (ec) {
        throw std::system_error(ec, "cannot open the DRM data folder '" + folder + "'");
    }
    return service;
}

const drm_service_settings& drm_service::settings() const noexcept {
    return impl_->settings;
}

const core::jwk_set& drm_service::jwks() const noexcept {
    return impl_->jwks;
}

const core::jwk& drm_service::encryption_key() const noexcept {
    return impl_->encryption_public;
}

const core::jwk& drm_service::signing_key() const noexcept {
    return impl_->signing_public;
}

key_store& drm_service::store() noexcept {
    return *impl_->store;
}

core::ticket_claims drm_service::verify_service_token(std::string_view token,
                                                      std::chrono::system_clock::time_point now,
                                                      std::error_code& ec,
                                                      std::string* detail) const {
    std::error_code error;
    core::ticket_claims claims = impl_->verify(token, now, error);
    if (error) {
        fail(ec, detail, errc::drm_unauthorized, "service token: " + error.message());
        return {};
    }
    if (claims.role != core::ticket_role::service) {
        fail(ec, detail, errc::drm_unauthorized, "service token: role \"service\" required");
        return {};
    }
    ec.clear();
    return claims;
}

content_registration_result drm_service::register_content(const content_registration& registration,
                                                          std::chrono::system_clock::time_point now,
                                                          std::error_code& ec,
                                                          std::string* detail) {
    ec.clear();
    std::error_code error;
    const core::doi doi = core::doi::parse(registration.doi, error);
    if (error) {
        fail(ec, detail, errc::drm_bad_request, "doi: " + error.message());
        return {};
    }
    const core::secret_bytes cek =
        core::jwe_decrypt(registration.cek, impl_->encryption_private.x25519_private(), error);
    if (error) {
        fail(ec, detail, errc::drm_bad_request,
             "cek: not a JWE to this server's encryption key (kid " +
                 impl_->encryption_public.kid() + "): " + error.message());
        return {};
    }
    if (cek.size() != core::aes256_key_size) {
        fail(ec, detail, errc::drm_bad_request,
             "cek: the decrypted content key has " + std::to_string(cek.size()) +
                 " bytes, expected 32");
        return {};
    }
    content_registration_result result;
    result.created = impl_->store->put_content(doi.str(), registration.kid, cek,
                                               registration.metadata, floor_seconds(now), error);
    if (error == errc::content_conflict) {
        fail(ec, detail, error,
             "DOI " + doi.str() + " is already registered with another content key");
        return {};
    }
    if (error) {
        fail(ec, detail, error, "key store: " + error.message());
        return {};
    }
    result.content = impl_->store->find_content(doi.str(), error).value_or(content_record{});
    return result;
}

std::optional<content_record> drm_service::set_content_state(std::string_view doi,
                                                             content_state state,
                                                             std::error_code& ec) {
    std::error_code error;
    const core::doi parsed = core::doi::parse(doi, error);
    if (error) {
        ec = errc::drm_bad_request;
        return std::nullopt;
    }
    return impl_->store->set_content_state(parsed.str(), state, ec);
}

grant_result drm_service::grant(const grant_request& request,
                                std::chrono::system_clock::time_point now, std::error_code& ec,
                                std::string* detail) {
    ec.clear();
    std::error_code error;
    const auto refuse = [&](std::error_code code, std::string reason) {
        impl_->refuse(code);
        fail(ec, detail, code, std::move(reason));
        return grant_result{};
    };
    const core::doi doi = core::doi::parse(request.doi, error);
    if (error || request.request_id.empty() || request.device_key.empty() ||
        request.device_key.curve() != core::jwk_curve::x25519) {
        return refuse(errc::drm_bad_request, "request_id, doi and an X25519 device_key required");
    }
    const core::impu user = core::impu::parse(request.user, error);
    if (error) {
        return refuse(errc::drm_bad_request, "user: not an IMPU");
    }
    grant_record grant;
    grant.request_id = request.request_id;
    grant.user = user.str();
    grant.doi = doi.str();
    grant.device_thumbprint = request.device_key.thumbprint();
    grant.device_key = request.device_key.public_only().to_json();
    grant.rights = request.rights;

    // A repeated request id answers with the earlier grant, whatever happened since. (One
    // indexed lookup: the cost must not grow with the number of grants the holder has.)
    if (const auto earlier = impl_->store->find_grant_by_request(
            grant.request_id, grant.user, grant.doi, grant.device_thumbprint, error);
        !error && earlier) {
        bool created = false;
        auto again = impl_->store->put_grant(grant, floor_seconds(now), created, error);
        if (error) {
            return refuse(error, "grant request " + grant.request_id + ": " + error.message());
        }
        return {*again, false};
    }
    const auto content = impl_->store->find_content(grant.doi, error);
    if (error) {
        return refuse(error, "key store: " + error.message());
    }
    if (!content) {
        return refuse(errc::unknown_content, "no content is registered under DOI " + grant.doi);
    }
    if (content->state == content_state::withdrawn) {
        return refuse(errc::content_withdrawn, "content " + grant.doi + " has been withdrawn");
    }
    if (grant.rights.devices) {
        const auto devices = impl_->store->count_devices(grant.user, grant.doi, error);
        const bool known_device =
            !error &&
            impl_->store->has_live_grant(grant.user, grant.doi, grant.device_thumbprint, error);
        if (!error && !known_device && devices >= *grant.rights.devices) {
            return refuse(errc::device_limit_reached,
                          grant.user + " already holds grants for " + std::to_string(devices) +
                              " devices of " + grant.doi + " (limit " +
                              std::to_string(*grant.rights.devices) + ")");
        }
    }
    bool created = false;
    auto stored = impl_->store->put_grant(grant, floor_seconds(now), created, error);
    if (error == errc::grant_conflict) {
        return refuse(error, "request_id " + grant.request_id +
                                 " was already used for another user, content, device or rights");
    }
    if (error == errc::unknown_content) {
        return refuse(error, "no content is registered under DOI " + grant.doi);
    }
    if (error || !stored) {
        return refuse(error ? error : make_error_code(errc::drm_server_error),
                      "key store: " + error.message());
    }
    return {*stored, created};
}

std::optional<grant_record> drm_service::revoke(std::string_view grant_id,
                                                std::chrono::system_clock::time_point now,
                                                std::error_code& ec) {
    return impl_->store->revoke_grant(grant_id, floor_seconds(now), ec);
}

std::vector<grant_record> drm_service::list_grants(std::string_view doi,
                                                   std::error_code& ec) const {
    std::error_code error;
    const core::doi parsed = core::doi::parse(doi, error);
    if (error) {
        ec = errc::drm_bad_request;
        return {};
    }
    return impl_->store->list_grants(parsed.str(), ec);
}

std::string drm_service::issue_license(std::string_view grant_token, const core::jwk& device_key,
                                       std::chrono::system_clock::time_point now,
                                       std::error_code& ec, std::string* detail) {
    ec.clear();
    const auto refuse = [&](std::error_code code, std::string reason) {
        impl_->refuse(code);
        fail(ec, detail, code, std::move(reason));
        return std::string();
    };
    std::error_code error;
    const core::ticket_claims claims = impl_->verify(grant_token, now, error);
    if (error) {
        return refuse(errc::drm_unauthorized, "grant token: " + error.message());
    }
    if (claims.role != core::ticket_role::leech) {
        return refuse(errc::drm_unauthorized, "grant token: role \"leech\" required");
    }
    if (!claims.doi || !claims.confirmation_thumbprint) {
        return refuse(errc::drm_unauthorized,
                      "grant token: the \"doi\" and \"cnf\" claims are required");
    }
    const core::doi doi = core::doi::parse(*claims.doi, error);
    if (error) {
        return refuse(errc::drm_unauthorized, "grant token: doi claim: " + error.message());
    }
    if (device_key.empty() || device_key.curve() != core::jwk_curve::x25519) {
        return refuse(errc::drm_bad_request, "device_key: expected an X25519 public JWK");
    }
    const std::string thumbprint = device_key.thumbprint();
    if (!core::constant_time_equal(core::as_bytes(thumbprint),
                                   core::as_bytes(*claims.confirmation_thumbprint))) {
        return refuse(errc::license_wrong_device, "the device key's thumbprint " + thumbprint +
                                                      " is not the grant token's cnf.jkt " +
                                                      *claims.confirmation_thumbprint);
    }
    const auto content = impl_->store->find_content(doi.str(), error);
    if (error) {
        return refuse(error, "key store: " + error.message());
    }
    if (!content) {
        return refuse(errc::unknown_content, "no content is registered under DOI " + doi.str());
    }
    if (content->state == content_state::withdrawn) {
        return refuse(errc::content_withdrawn, "content " + doi.str() + " has been withdrawn");
    }
    const auto grants = impl_->store->find_grants(claims.subject, doi.str(), thumbprint, error);
    if (error) {
        return refuse(error, "key store: " + error.message());
    }
    const auto active = std::find_if(grants.begin(), grants.end(),
                                     [](const grant_record& g) { return !g.revoked_at; });
    if (active == grants.end()) {
        if (!grants.empty()) {
            return refuse(errc::grant_revoked, "the grant " + grants.front().grant_id + " of " +
                                                   claims.subject + " for " + doi.str() +
                                                   " has been revoked");
        }
        return refuse(errc::no_grant, "no grant for " + claims.subject + " on " + doi.str() +
                                          " with device " + thumbprint);
    }
    const core::secret_bytes cek = impl_->store->content_key(doi.str(), error);
    if (error) {
        return refuse(error, "key store: the content key does not open: " + error.message());
    }
    license_claims license;
    license.subject = active->user;
    license.doi = content->doi;  // as registered, whatever form the token used
    license.kid = content->kid;
    license.issued_at = floor_seconds(now);
    license.expires_at = license.issued_at + impl_->settings.license_validity;
    license.rights = active->rights;
    license.device_thumbprint = thumbprint;
    std::string compact = impl_->issuer->issue(license, device_key.public_only(), cek, error);
    if (error) {
        return refuse(error, "license: " + error.message());
    }
    impl_->licenses_issued.fetch_add(1, std::memory_order_relaxed);
    return compact;
}

void drm_service::count_refusal(std::string_view reason) {
    std::lock_guard lock(impl_->refusals_mutex);
    ++impl_->refusals[std::string(reason)];
}

drm_statistics drm_service::statistics() const {
    drm_statistics stats;
    std::error_code ec;
    const key_store_counts counts = impl_->store->counts(ec);
    stats.contents = counts.contents;
    stats.withdrawn_contents = counts.withdrawn_contents;
    stats.grants = counts.grants;
    stats.revocations = counts.revoked_grants;
    stats.licenses_issued = impl_->licenses_issued.load(std::memory_order_relaxed);
    std::lock_guard lock(impl_->refusals_mutex);
    stats.refusals = impl_->refusals;
    return stats;
}

}  // namespace imsp2p::drm
