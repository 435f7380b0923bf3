/**
 * @file
 * The DRM server's logic, independent of any transport: content key registration, grants,
 * revocation, the provider report and license issuance, over a key_store.
 *
 * Keys: the DRM server signs licenses with an Ed25519 key and receives content keys on an
 * X25519 key; both are created on first use as 0600 JWK files in the data folder
 * (`drm-signing.jwk`, `drm-encryption.jwk`) and published as a JWK Set (jwks()). Callers
 * authenticate with tickets of the AS (core::ticket_verifier, audience "drm"): service calls
 * with role "service", license requests with a grant token (role "leech", "doi", "cnf.jkt").
 *
 * The request documents of the HTTP API (content_registration, grant_request,
 * license_request) are value types here, so that the server parses and the client writes the
 * same format.
 *
 * Thread safety: every member function of drm_service may be called from any number of threads
 * at once (the key store serialises database access; counters are atomic).
 */
#pragma once

#include <imsp2p/core/jose.hpp>
#include <imsp2p/core/ticket.hpp>
#include <imsp2p/drm/container.hpp>
#include <imsp2p/drm/export.hpp>
#include <imsp2p/drm/key_store.hpp>
#include <imsp2p/drm/rights.hpp>

#include <nlohmann/json.hpp>

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <system_error>
#include <vector>

namespace imsp2p::drm {

/**
 * The body of `POST /v1/contents`: `{"doi", "kid" (32 hex digits), "cek" (compact JWE of the
 * 32-byte CEK to the DRM X25519 key, ECDH-ES+A256KW/A256GCM), "metadata" (object, optional)}`.
 * A plain value type.
 */
struct IMSP2P_DRM_EXPORT content_registration {
    /** The DOI (any form core::doi::parse() accepts). */
    std::string doi;
    /** The content key id, as in the container header. */
    content_kid kid{};
    /** The CEK as a compact JWE to the DRM server's encryption key. */
    std::string cek;
    /** Free metadata (a JSON object; title, content type...). */
    nlohmann::json metadata = nlohmann::json::object();

    /** @return the JSON body */
    [[nodiscard]] nlohmann::json to_json() const;
    /**
     * Reads and checks a body (strict: unknown members are refused).
     * @param json the body
     * @param ec errc::drm_bad_request; cleared on success
     * @param detail if not null, receives what is wrong (e.g. "kid: expected 32 hex digits")
     * @return the registration, default on error
     */
    static content_registration from_json(const nlohmann::json& json, std::error_code& ec,
                                          std::string* detail = nullptr);
};

/**
 * The body of `POST /v1/grants`: `{"request_id", "user" (IMPU), "doi", "device_key" (X25519
 * public JWK), "rights" (ODRL subset, optional: absent is unconstrained)}`. A plain value type.
 */
struct IMSP2P_DRM_EXPORT grant_request {
    /** The AS's request id (1..256 printable ASCII characters); repeating it is idempotent. */
    std::string request_id;
    /** The user's IMPU. */
    std::string user;
    /** The DOI (any accepted form). */
    std::string doi;
    /** The device's X25519 public key. */
    core::jwk device_key;
    /** The rights to grant. */
    drm::rights rights;

    /** @return the JSON body */
    [[nodiscard]] nlohmann::json to_json() const;
    /**
     * Reads and checks a body (strict: unknown members, a private "d" in the device key, a
     * malformed IMPU or DOI are refused).
     * @param json the body
     * @param ec errc::drm_bad_request; cleared on success
     * @param detail if not null, receives what is wrong
     * @return the request, default on error
     */
    static grant_request from_json(const nlohmann::json& json, std::error_code& ec,
                                   std::string* detail = nullptr);
};

/** The body of `POST /v1/licenses`: `{"device_key": X25519 public JWK}`. A value type. */
struct IMSP2P_DRM_EXPORT license_request {
    /** The device's X25519 public key, which the license is encrypted and bound to. */
    core::jwk device_key;

    /** @return the JSON body */
    [[nodiscard]] nlohmann::json to_json() const;
    /**
     * Reads and checks a body (strict).
     * @param json the body
     * @param ec errc::drm_bad_request; cleared on success
     * @param detail if not null, receives what is wrong
     * @return the request, default on error
     */
    static license_request from_json(const nlohmann::json& json, std::error_code& ec,
                                     std::string* detail = nullptr);
};

/**
 * Writes a grant as the API returns it: {"grant_id","request_id","doi","user",
 * "device_thumbprint","rights","created","revoked_at" (only when revoked)}; times are NumericDate.
 * @param grant the grant
 * @return the JSON object
 */
IMSP2P_DRM_EXPORT nlohmann::json to_json(const grant_record& grant);

/**
 * Reads a grant as written by to_json(const grant_record&) (device_key is left empty).
 * @param json the object
 * @param ec errc::drm_server_error if it is not such an object; cleared on success
 * @return the grant, default on error
 */
IMSP2P_DRM_EXPORT grant_record grant_from_json(const nlohmann::json& json, std::error_code& ec);

/**
 * Writes a content record as the API returns it: {"doi","kid","state","metadata","created"}.
 * @param content the record
 * @return the JSON object
 */
IMSP2P_DRM_EXPORT nlohmann::json to_json(const content_record& content);

/**
 * Reads a content record as written by to_json(const content_record&).
 * @param json the object
 * @param ec errc::drm_server_error if it is not such an object; cleared on success
 * @return the record, default on error
 */
IMSP2P_DRM_EXPORT content_record content_from_json(const nlohmann::json& json, std::error_code& ec);

/** Settings of a drm_service. A plain value type. */
struct drm_service_settings {
    /**
     * The data folder (created with mode 0700 if missing; an existing folder keeps its mode):
     * drm.sqlite, the DRM key files, and by default the master key.
     */
    std::filesystem::path data_dir;
    /** The master key file sealing content keys at rest; empty: `<data_dir>/master.key`. */
    std::filesystem::path master_key_path;
    /** The AS's public keys, trusted for service JWTs and grant tokens. */
    core::jwk_set as_keys;
    /** The required "iss" of AS tokens; empty accepts any issuer signed by a trusted key. */
    std::string expected_as_issuer;
    /** The "iss" written into licenses. */
    std::string issuer = "imsp2p-drm";
    /** How long a license is valid (exp - iat); renewal is asking again. */
    std::chrono::seconds license_validity{3600};
    /** Clock skew tolerated on token times. */
    std::chrono::seconds leeway{60};
    /** Verified tokens kept in the cache (0 disables it). */
    std::size_t token_cache_capacity = 1024;
};

/** Outcome of register_content(). */
struct content_registration_result {
    /** The stored record. */
    content_record content;
    /** True when newly registered, false when the same registration was already there. */
    bool created = false;
};

/** Outcome of grant(). */
struct grant_result {
    /** The stored grant. */
    grant_record grant;
    /** True when the grant was made now, false for a repeated request id. */
    bool created = false;
};

/** Counters since the service was opened, and totals from the store, for /metrics. */
struct drm_statistics {
    /** Registered content items. */
    std::uint64_t contents = 0;
    /** Withdrawn content items. */
    std::uint64_t withdrawn_contents = 0;
    /** Grants ever made. */
    std::uint64_t grants = 0;
    /** Revoked grants. */
    std::uint64_t revocations = 0;
    /** Licenses issued since start. */
    std::uint64_t licenses_issued = 0;
    /**
     * Refused license and grant requests since start, by reason: "unauthorized",
     * "bad_request", "unknown_content", "content_withdrawn", "wrong_device", "no_grant",
     * "grant_revoked", "device_limit", "conflict", "internal".
     */
    std::map<std::string, std::uint64_t> refusals;
};

/**
 * @param ec an error of drm_service
 * @return its refusal reason label, as in drm_statistics::refusals ("internal" for others)
 */
IMSP2P_DRM_EXPORT std::string_view refusal_reason(const std::error_code& ec) noexcept;

/**
 * The DRM service. Create with open(); not copyable (pimpl). Thread-safe.
 */
class IMSP2P_DRM_EXPORT drm_service {
  public:
    /**
     * Opens the data folder: key store, master key and DRM keys (created on first use).
     * @param settings the settings
     * @param ec core::errc::invalid_argument (empty data_dir), key file and database errors;
     *        cleared on success
     * @return the service, null on error
     */
    static std::unique_ptr<drm_service> open(drm_service_settings settings, std::error_code& ec);
    /**
     * Throwing form of open().
     * @param settings the settings
     * @return the service
     * @throws std::system_error naming the file
     */
    static std::unique_ptr<drm_service> open(drm_service_settings settings);

    /** Closes the store. */
    ~drm_service();
    drm_service(const drm_service&) = delete;             ///< Not copyable.
    drm_service& operator=(const drm_service&) = delete;  ///< Not copyable.

    /** @return the settings (with master_key_path filled in). */
    [[nodiscard]] const drm_service_settings& settings() const noexcept;
    /**
     * @return the public JWK Set: the Ed25519 signing key ("use":"sig", "alg":"EdDSA") and the
     *         X25519 key-encryption key ("use":"enc", "alg":"ECDH-ES+A256KW"), with their kids
     */
    [[nodiscard]] const core::jwk_set& jwks() const noexcept;
    /** @return the public X25519 key to which CEKs are encrypted at registration. */
    [[nodiscard]] const core::jwk& encryption_key() const noexcept;
    /** @return the public Ed25519 key that signs licenses. */
    [[nodiscard]] const core::jwk& signing_key() const noexcept;
    /** @return the key store (owned by the service; valid while it lives). */
    [[nodiscard]] key_store& store() noexcept;

    /**
     * Verifies a service JWT: an AS ticket with aud "drm" and role "service".
     * @param token the compact JWS
     * @param now the current time
     * @param ec errc::drm_unauthorized; cleared on success
     * @param detail if not null, receives the reason (the ticket error)
     * @return the claims, default on error
     */
    core::ticket_claims verify_service_token(std::string_view token,
                                             std::chrono::system_clock::time_point now,
                                             std::error_code& ec,
                                             std::string* detail = nullptr) const;

    /**
     * Registers a content key: decrypts the JWE with the DRM encryption key and stores the CEK
     * sealed.
     * @param registration the request
     * @param now the current time
     * @param ec errc::drm_bad_request (bad DOI, JWE that does not open, CEK not 32 bytes),
     *        errc::content_conflict, database errors; cleared on success
     * @param detail if not null, receives a precise reason
     * @return the record and whether it is new
     */
    content_registration_result register_content(const content_registration& registration,
                                                 std::chrono::system_clock::time_point now,
                                                 std::error_code& ec,
                                                 std::string* detail = nullptr);

    /**
     * Activates or withdraws content.
     * @param doi the DOI (any accepted form)
     * @param state the new state
     * @param ec errc::drm_bad_request (bad DOI), errc::unknown_content; cleared on success
     * @return the updated record, std::nullopt on error
     */
    std::optional<content_record> set_content_state(std::string_view doi, content_state state,
                                                    std::error_code& ec);

    /**
     * Grants a user the rights to a content item on one device (idempotent on request_id).
     * @param request the grant request
     * @param now the current time
     * @param ec errc::drm_bad_request, errc::unknown_content, errc::content_withdrawn,
     *        errc::grant_conflict, errc::device_limit_reached (the rights' "devices" limit
     *        would be exceeded by this new device); cleared on success
     * @param detail if not null, receives a precise reason
     * @return the grant and whether it is new
     */
    grant_result grant(const grant_request& request, std::chrono::system_clock::time_point now,
                       std::error_code& ec, std::string* detail = nullptr);

    /**
     * Revokes a grant (idempotent). Licenses already issued stay valid until they expire.
     * @param grant_id the grant id
     * @param now the current time
     * @param ec errc::unknown_grant; cleared on success
     * @return the revoked grant, std::nullopt on error
     */
    std::optional<grant_record> revoke(std::string_view grant_id,
                                       std::chrono::system_clock::time_point now,
                                       std::error_code& ec);

    /**
     * The provider report: every grant of a content item, oldest first.
     * @param doi the DOI (any accepted form)
     * @param ec errc::drm_bad_request (bad DOI), errc::unknown_content; cleared on success
     * @return the grants
     */
    std::vector<grant_record> list_grants(std::string_view doi, std::error_code& ec) const;

    /**
     * Issues a license for a grant token (renewal is calling again).
     *
     * Checks in order: the token (AS signature, aud "drm", time, role "leech", "doi", "cnf"):
     * errc::drm_unauthorized; the device key's RFC 7638 thumbprint equals cnf.jkt:
     * errc::license_wrong_device; the content: errc::unknown_content, errc::content_withdrawn;
     * an unrevoked grant for (sub, doi, thumbprint): errc::no_grant, or errc::grant_revoked when
     * only revoked ones exist. The license carries the grant's rights and is valid for
     * settings().license_validity from @p now.
     * @param grant_token the grant token (compact JWS)
     * @param device_key the device's X25519 public key
     * @param now the current time
     * @param ec the codes above, errc::drm_bad_request (not an X25519 public key), store
     *        errors; cleared on success
     * @param detail if not null, receives a precise reason
     * @return the license (compact JWS), empty on error
     */
    std::string issue_license(std::string_view grant_token, const core::jwk& device_key,
                              std::chrono::system_clock::time_point now, std::error_code& ec,
                              std::string* detail = nullptr);

    /**
     * Counts a refusal that happened outside the service (e.g. a malformed HTTP body).
     * @param reason a label as in drm_statistics::refusals
     */
    void count_refusal(std::string_view reason);

    /** @return the counters and store totals (store totals are zero if the store fails). */
    [[nodiscard]] drm_statistics statistics() const;

  private:
    struct impl;
    explicit drm_service(std::unique_ptr<impl> state);
    std::unique_ptr<impl> impl_;
};

}  // namespace imsp2p::drm
