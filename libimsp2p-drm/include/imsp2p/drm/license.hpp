/**
 * @file
 * Licenses: issued (signed) by the DRM server, verified and opened by the player.
 *
 * A license is a compact JWS (RFC 7515) with alg EdDSA (RFC 8037) and the protected header
 * `{"alg":"EdDSA","kid":<DRM signing key id>,"typ":"imsp2p-license+jwt"}`. Its payload is a
 * JSON object:
 * ```
 * {"iss":  the DRM server,             "sub": the holder's IMPU,
 *  "doi":  the content's canonical DOI, "kid": the content key id (32 lower-case hex digits),
 *  "iat":  NumericDate,                 "exp": NumericDate (after iat),
 *  "jti":  unique license id,           "rights": {ODRL subset, see rights.hpp},
 *  "cnf":  {"jkt": RFC 7638 thumbprint of the device's X25519 key} (RFC 7800),
 *  "cek":  compact JWE of the 32-byte content key to the device key
 *          (alg ECDH-ES+A256KW, enc A256GCM, header "kid" = the device thumbprint)}
 * ```
 * Any standard JOSE library verifies and decrypts it (see tests/js/license_check.mjs). Members
 * other than these are ignored when verifying (JWT practice), so the format can grow.
 *
 * Thread safety: license_issuer and license_verifier are safe for concurrent const use
 * (issue(), verify()); configuring a verifier (add_key(), set_...()) needs exclusive access.
 */
#pragma once

#include <imsp2p/core/crypto.hpp>
#include <imsp2p/core/jose.hpp>
#include <imsp2p/drm/container.hpp>
#include <imsp2p/drm/export.hpp>
#include <imsp2p/drm/rights.hpp>

#include <nlohmann/json.hpp>

#include <array>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <system_error>
#include <unordered_map>
#include <utility>

namespace imsp2p::drm {

/**
 * The JWS "typ" header of a license (tickets use "JWT", so neither passes for the other).
 * Verification compares it case-insensitively and also accepts "application/imsp2p-license+jwt"
 * (RFC 7515 §4.1.9).
 */
inline constexpr std::string_view license_typ = "imsp2p-license+jwt";

/**
 * The claims of a license (everything but the encrypted content key). A value type.
 */
struct IMSP2P_DRM_EXPORT license_claims {
    /** "iss": the DRM server; license_issuer fills in its own when empty. */
    std::string issuer;
    /** "sub": the holder's IMPU (e.g. "sip:alice@ims.example"). Required. */
    std::string subject;
    /** "doi": the content's DOI in canonical form (core::doi::str()). Required. */
    std::string doi;
    /** "kid": the content key id, as in the container header (hex in JSON). */
    content_kid kid{};
    /** "iat": when the license was issued. */
    std::chrono::sys_seconds issued_at{};
    /** "exp": the license is not valid from this time on; must be after issued_at. */
    std::chrono::sys_seconds expires_at{};
    /** "jti": unique license id; license_issuer fills in 128 random bits when empty. */
    std::string id;
    /** "rights": what the holder may do with the content. */
    drm::rights rights;
    /** "cnf.jkt": RFC 7638 thumbprint of the device's X25519 public key. */
    std::string device_thumbprint;

    /**
     * Writes the payload members except "cek".
     * @return the JSON object
     */
    [[nodiscard]] nlohmann::json to_json() const;

    /**
     * Reads the claims from a license payload ("cek" and unknown members are ignored).
     * @param json the payload object
     * @param ec errc::license_malformed (not an object; a required claim missing, of the wrong
     *        type or empty; "doi" not a canonical DOI; "kid" not 32 hex digits; a NumericDate
     *        that is not an integer in 0..253402300799; exp not after iat; "cnf" without a
     *        43-character "jkt"), errc::rights_malformed (bad "rights"; absent means
     *        unconstrained); cleared on success
     * @return the claims, default-constructed on error
     */
    static license_claims from_json(const nlohmann::json& json, std::error_code& ec);
    /**
     * Throwing form of from_json().
     * @param json the payload object
     * @return the claims
     * @throws std::system_error with the codes above naming the claim
     */
    static license_claims from_json(const nlohmann::json& json);

    /** Compares every member. @param other the claims to compare with @return true if equal */
    bool operator==(const license_claims& other) const = default;
};

/**
 * Issues licenses (the DRM server side): signs the claims and encrypts the content key to the
 * device key.
 *
 * Holds the shared, immutable Ed25519 signing key (copies share it); thread-safe for issue().
 */
class IMSP2P_DRM_EXPORT license_issuer {
  public:
    /**
     * Creates an issuer.
     * @param signing_key the DRM server's Ed25519 signing key (empty: issue() fails, bad_key)
     * @param key_id the "kid" under which its public key is published in the DRM JWK Set
     * @param issuer the "iss" written into licenses whose claims leave it empty
     */
    license_issuer(core::ed25519_private_key signing_key, std::string key_id, std::string issuer);

    /** @return the key id written in the JWS header. */
    [[nodiscard]] const std::string& key_id() const noexcept { return key_id_; }
    /** @return the default issuer. */
    [[nodiscard]] const std::string& issuer() const noexcept { return issuer_; }
    /** @return the public key matching the signing key. */
    [[nodiscard]] core::ed25519_public_key public_key() const;
    /** @return the public key as a JWK with "kid", "use":"sig", "alg":"EdDSA", to publish. */
    [[nodiscard]] core::jwk public_jwk() const;

    /**
     * Issues a license.
     *
     * Fills in "iss" (the default issuer) and "jti" (128 random bits, base64url) when empty and
     * "cnf.jkt" from @p device_public_key when claims.device_thumbprint is empty; writes the DOI
     * in canonical form (a valid canonical string is taken verbatim, as
     * core::doi::parse_canonical() reads it; otherwise any form core::doi::parse() accepts).
     * The caller sets iat and exp.
     * @param claims the claims
     * @param device_public_key the device's X25519 key (public or private JWK; only the public
     *        part is used)
     * @param cek the 32-byte content key, encrypted to @p device_public_key in the "cek" claim
     * @param ec license_wrong_device (the key's thumbprint differs from
     *        claims.device_thumbprint), core::errc::jwk_unsupported (not an X25519 key),
     *        core::errc::bad_key_size (CEK not 32 bytes), core::errc::invalid_argument (empty
     *        subject or issuer, bad DOI, exp not after iat, times outside 0..253402300799, a
     *        string that is not valid UTF-8),
     *        core::errc::bad_key (empty signing key), core::errc::crypto_failure; cleared on
     *        success
     * @return the compact JWS, empty on error
     */
    std::string issue(const license_claims& claims, const core::jwk& device_public_key,
                      const core::secret_bytes& cek, std::error_code& ec) const;
    /**
     * Throwing form of issue().
     * @param claims the claims
     * @param device_public_key the device's X25519 key
     * @param cek the 32-byte content key
     * @return the compact JWS
     * @throws std::system_error with the codes above
     */
    std::string issue(const license_claims& claims, const core::jwk& device_public_key,
                      const core::secret_bytes& cek) const;

  private:
    core::ed25519_private_key key_;
    std::string key_id_;
    std::string issuer_;
};

/** A license that verified, with its opened content key. A value type holding a secret. */
struct IMSP2P_DRM_EXPORT verified_license {
    /** The verified claims. */
    license_claims claims;
    /** The 32-byte content key decrypted with the device key. */
    core::secret_bytes cek;
};

/**
 * Verifies licenses (the player side): the signature by a trusted DRM key chosen by the header
 * "kid", the "typ", the claims, the binding to this device, the validity period (with a leeway),
 * and opens the content key.
 *
 * Checks in this order, each with its own error: structure (license_malformed), signature
 * (license_bad_signature), claims (license_malformed / rights_malformed), issuer
 * (license_bad_signature), device binding (license_wrong_device), time (license_expired,
 * license_not_yet_valid), content key (license_wrong_device when the JWE does not open with the
 * device key, license_malformed when it is not a 32-byte key in a well-formed JWE).
 */
class IMSP2P_DRM_EXPORT license_verifier {
  public:
    /** Creates a verifier without keys (every license then fails with license_bad_signature). */
    license_verifier() = default;
    /**
     * Creates a verifier trusting the Ed25519 keys of the DRM server's JWK Set (add_keys()).
     * @param drm_keys the published keys (e.g. a pinned copy of /.well-known/jwks.json)
     */
    explicit license_verifier(const core::jwk_set& drm_keys);

    /**
     * Trusts a key.
     * @param kid its key id (replaces a key with the same id)
     * @param key the public key (an empty key is ignored)
     */
    void add_key(std::string kid, core::ed25519_public_key key);
    /**
     * Trusts every Ed25519 key of a JWK Set under its "kid" (or its RFC 7638 thumbprint when it
     * has none); X25519 keys and keys whose "use" is set and not "sig" are skipped.
     * @param keys the set
     * @return the number of keys added
     */
    std::size_t add_keys(const core::jwk_set& keys);
    /** Forgets every trusted key. */
    void clear_keys() noexcept { keys_.clear(); }
    /** @return the number of trusted keys. */
    [[nodiscard]] std::size_t key_count() const noexcept { return keys_.size(); }

    /**
     * Requires "iss" to equal this value (default: any issuer signed by a trusted key).
     * @param issuer the expected issuer; empty accepts any
     */
    void set_expected_issuer(std::string issuer) { issuer_ = std::move(issuer); }
    /** @return the expected issuer, empty if any is accepted. */
    [[nodiscard]] const std::string& expected_issuer() const noexcept { return issuer_; }
    /**
     * Sets the clock skew tolerated on exp and iat (default 60 s).
     * @param leeway a non-negative duration (a negative one counts as zero)
     */
    void set_leeway(std::chrono::seconds leeway) noexcept {
        leeway_ = leeway < std::chrono::seconds::zero() ? std::chrono::seconds::zero() : leeway;
    }
    /** @return the clock leeway. */
    [[nodiscard]] std::chrono::seconds leeway() const noexcept { return leeway_; }

    /**
     * Verifies a license and opens its content key.
     * @param compact the license (compact JWS, at most core::jose_max_input_size bytes)
     * @param device_key this device's X25519 private key
     * @param now the current time
     * @param ec license_malformed (not a JWS with alg EdDSA and typ imsp2p-license+jwt, payload
     *        not a JSON object, bad claims, "cek" missing or not a well-formed JWE of 32 bytes),
     *        rights_malformed, license_bad_signature (no trusted key with the header's "kid" (or,
     *        without "kid", not exactly one trusted key), bad signature, unexpected issuer),
     *        license_wrong_device ("cnf.jkt" is not the thumbprint of @p device_key, or the CEK
     *        does not decrypt with it), license_expired (now >= exp + leeway),
     *        license_not_yet_valid (iat > now + leeway); cleared on success
     * @return the claims and CEK, default-constructed on error
     */
    verified_license verify(std::string_view compact, const core::x25519_private_key& device_key,
                            std::chrono::system_clock::time_point now, std::error_code& ec) const;
    /**
     * Throwing form of verify().
     * @param compact the license
     * @param device_key this device's X25519 private key
     * @param now the current time
     * @return the claims and CEK
     * @throws std::system_error with the codes above
     */
    verified_license verify(std::string_view compact, const core::x25519_private_key& device_key,
                            std::chrono::system_clock::time_point now) const;

  private:
    std::string issuer_;
    std::chrono::seconds leeway_{60};
    std::unordered_map<std::string, core::ed25519_public_key> keys_;
};

/**
 * Reads the claims of a license without verifying anything but its structure (e.g. to show
 * what a license is for, or to find the content it belongs to). Never trust the result.
 * @param compact the license
 * @param ec license_malformed, rights_malformed; cleared on success
 * @return the unverified claims, default-constructed on error
 */
IMSP2P_DRM_EXPORT license_claims peek_license_claims(std::string_view compact, std::error_code& ec);

/**
 * Checks that a verified license is for a container: its "kid" equals the header's kid.
 * (The container does not carry the DOI; see the overload to also check it.)
 * @param license the verified license
 * @param header the container header
 * @param ec license_wrong_content on mismatch; cleared on success
 */
IMSP2P_DRM_EXPORT void check_license_matches(const verified_license& license,
                                             const container_header& header, std::error_code& ec);

/**
 * Checks that license claims are for the given content: the content key id, and the DOI when
 * one is given (compared as DOIs: case-insensitive; a valid canonical string is read verbatim,
 * otherwise any form core::doi::parse() accepts).
 * @param claims the verified claims
 * @param doi the expected DOI, empty to skip the DOI check
 * @param kid the expected content key id
 * @param ec license_wrong_content on mismatch (also when @p doi is not a valid DOI); cleared
 *        on success
 */
IMSP2P_DRM_EXPORT void check_license_matches(const license_claims& claims, std::string_view doi,
                                             const content_kid& kid, std::error_code& ec);

}  // namespace imsp2p::drm
