/**
 * @file
 * JOSE for OKP keys: JSON Web Keys (RFC 7517, RFC 8037) with thumbprints (RFC 7638), compact
 * JWS with EdDSA/Ed25519 (RFC 7515, RFC 8037) and compact JWE with ECDH-ES+A256KW (or, on
 * decryption, ECDH-ES) and A256GCM to X25519 recipients (RFC 7516, RFC 7518, RFC 8037).
 *
 * Scope: only what imsp2p needs, implemented strictly. Keys are OKP with crv Ed25519 or X25519;
 * JWS alg is EdDSA only; JWE alg is ECDH-ES+A256KW (ECDH-ES accepted on decryption), enc
 * A256GCM, no "zip". No extension listed in "crit" is understood, so any "crit" is refused.
 *
 * Input bounds: every text parsed here (compact JWS/JWE, JWK, JWK Set) must be at most
 * jose_max_input_size bytes (errc::jose_too_large otherwise), and JSON nesting deeper than
 * jose_max_json_depth is refused as malformed, so hostile input costs bounded memory and stack.
 *
 * All functions are safe to call concurrently; the value types follow the usual rule (const
 * access from several threads is safe, mutation needs exclusive access).
 */
#pragma once

#include <imsp2p/core/bytes.hpp>
#include <imsp2p/core/crypto.hpp>
#include <imsp2p/core/export.hpp>

#include <nlohmann/json.hpp>

#include <cstddef>
#include <string>
#include <string_view>
#include <system_error>
#include <utility>
#include <vector>

namespace imsp2p::core {

/** Largest JOSE text (compact serialisation, JWK, JWK Set) accepted by the parsers: 1 MiB. */
inline constexpr std::size_t jose_max_input_size = std::size_t{1} << 20;

/** Deepest JSON nesting (objects and arrays) accepted in JOSE headers, JWKs and JWK Sets. */
inline constexpr std::size_t jose_max_json_depth = 16;

// ---------------------------------------------------------------------------------------------
// JSON Web Key

/** The OKP curves supported in JWKs (RFC 8037 §2). */
enum class jwk_curve {
    ed25519,  ///< "Ed25519": signature keys (JWS alg EdDSA).
    x25519    ///< "X25519": key-agreement keys (JWE alg ECDH-ES, ECDH-ES+A256KW).
};

/**
 * A JSON Web Key of type OKP (RFC 8037): an Ed25519 or X25519 public key, optionally with its
 * private part, plus the optional "kid", "use" and "alg" members.
 *
 * A value type (copyable, movable); the private part is held in secret_bytes and wiped on
 * destruction. A default-constructed jwk is empty (empty() is true): to_json() gives an empty
 * object, thumbprint() an empty string and the key accessors errc::jwk_unsupported. Members not
 * listed here ("key_ops", "x5c", ...) are ignored when parsing and not preserved.
 */
class IMSP2P_CORE_EXPORT jwk {
  public:
    /** Creates an empty JWK. */
    jwk() = default;
    /**
     * Makes a public Ed25519 JWK.
     * @param key the key (must not be empty)
     * @throws std::system_error with errc::bad_key if @p key is empty
     */
    explicit jwk(const ed25519_public_key& key);
    /**
     * Makes a private Ed25519 JWK (with "d", the seed).
     * @param key the key (must not be empty)
     * @throws std::system_error with errc::bad_key if @p key is empty
     */
    explicit jwk(const ed25519_private_key& key);
    /**
     * Makes a public X25519 JWK.
     * @param key the key (must not be empty)
     * @throws std::system_error with errc::bad_key if @p key is empty
     */
    explicit jwk(const x25519_public_key& key);
    /**
     * Makes a private X25519 JWK (with "d").
     * @param key the key (must not be empty)
     * @throws std::system_error with errc::bad_key if @p key is empty
     */
    explicit jwk(const x25519_private_key& key);

    /**
     * Reads a JWK from JSON. Requires "kty":"OKP", "crv" ("Ed25519" or "X25519") and "x"
     * (base64url of 32 bytes); "d" when present must be base64url of 32 bytes and match "x";
     * "kid", "use", "alg" when present must be strings.
     * @param json the JWK object
     * @param ec errc::jwk_malformed (not an object, missing or mistyped member, bad base64url,
     *        wrong length, "d" not matching "x"), errc::jwk_unsupported (kty other than OKP,
     *        other curve); cleared on success
     * @return the key, or an empty jwk on error
     */
    static jwk from_json(const nlohmann::json& json, std::error_code& ec);
    /**
     * Reads a JWK from JSON; see the std::error_code overload.
     * @param json the JWK object
     * @return the key
     * @throws std::system_error with the codes of the std::error_code overload
     */
    static jwk from_json(const nlohmann::json& json);
    /**
     * Parses a JWK from JSON text.
     * @param text the JSON text (at most jose_max_input_size bytes)
     * @param ec errc::jose_too_large, errc::jwk_malformed (also for invalid JSON),
     *        errc::jwk_unsupported; cleared on success
     * @return the key, or an empty jwk on error
     */
    static jwk parse(std::string_view text, std::error_code& ec);
    /**
     * Parses a JWK from JSON text; see the std::error_code overload.
     * @param text the JSON text
     * @return the key
     * @throws std::system_error with the codes of the std::error_code overload
     */
    static jwk parse(std::string_view text);

    /**
     * Writes the JWK as JSON: kty, crv, x, then kid/use/alg when set, and "d" only when asked.
     * @param include_private also write the private part "d" if present (handle the result as a
     *        secret)
     * @return the JWK object (empty object for an empty jwk)
     */
    nlohmann::json to_json(bool include_private = false) const;
    /**
     * Serialises to_json(include_private) as compact JSON text.
     * @param include_private also write the private part "d" if present
     * @return the JSON text
     */
    std::string serialize(bool include_private = false) const;

    /**
     * The RFC 7638 thumbprint: base64url(SHA-256 of {"crv":..,"kty":"OKP","x":..}), the same for
     * the public and the private form of a key (RFC 8037 §2).
     * @return the thumbprint (43 characters), or an empty string for an empty jwk
     */
    std::string thumbprint() const;

    /** @return true for a default-constructed jwk */
    bool empty() const noexcept { return x_.empty(); }
    /** @return the curve (meaningless for an empty jwk) */
    jwk_curve curve() const noexcept { return curve_; }
    /** @return true when the private part "d" is present */
    bool has_private_key() const noexcept { return !d_.empty(); }
    /** @return the raw public key "x" (32 bytes; empty for an empty jwk) */
    byte_view public_bytes() const noexcept { return x_; }

    /** @return the "kid" member; empty means absent */
    const std::string& kid() const noexcept { return kid_; }
    /** Sets the "kid" member. @param kid the key id; empty removes it */
    void set_kid(std::string kid) { kid_ = std::move(kid); }
    /** @return the "use" member ("sig", "enc"); empty means absent */
    const std::string& use() const noexcept { return use_; }
    /** Sets the "use" member. @param use the intended use; empty removes it */
    void set_use(std::string use) { use_ = std::move(use); }
    /** @return the "alg" member; empty means absent */
    const std::string& alg() const noexcept { return alg_; }
    /** Sets the "alg" member. @param alg the algorithm; empty removes it */
    void set_alg(std::string alg) { alg_ = std::move(alg); }

    /**
     * @param ec errc::jwk_unsupported if this is not an Ed25519 key (or is empty)
     * @return the Ed25519 public key, or an empty key on error
     */
    ed25519_public_key ed25519_public(std::error_code& ec) const;
    /**
     * @return the Ed25519 public key
     * @throws std::system_error with errc::jwk_unsupported
     */
    ed25519_public_key ed25519_public() const;
    /**
     * @param ec errc::jwk_unsupported if not Ed25519, errc::jwk_no_private_key if public only
     * @return the Ed25519 private key, or an empty key on error
     */
    ed25519_private_key ed25519_private(std::error_code& ec) const;
    /**
     * @return the Ed25519 private key
     * @throws std::system_error with errc::jwk_unsupported or errc::jwk_no_private_key
     */
    ed25519_private_key ed25519_private() const;
    /**
     * @param ec errc::jwk_unsupported if this is not an X25519 key (or is empty)
     * @return the X25519 public key, or an empty key on error
     */
    x25519_public_key x25519_public(std::error_code& ec) const;
    /**
     * @return the X25519 public key
     * @throws std::system_error with errc::jwk_unsupported
     */
    x25519_public_key x25519_public() const;
    /**
     * @param ec errc::jwk_unsupported if not X25519, errc::jwk_no_private_key if public only
     * @return the X25519 private key, or an empty key on error
     */
    x25519_private_key x25519_private(std::error_code& ec) const;
    /**
     * @return the X25519 private key
     * @throws std::system_error with errc::jwk_unsupported or errc::jwk_no_private_key
     */
    x25519_private_key x25519_private() const;

    /**
     * @return a copy without the private part (what to publish in a JWK Set)
     */
    jwk public_only() const;

    /**
     * Compares all members (the private parts in constant time).
     * @param other the key to compare with
     * @return true when curve, x, d, kid, use and alg are all equal
     */
    bool operator==(const jwk& other) const noexcept;

  private:
    jwk_curve curve_ = jwk_curve::ed25519;
    byte_vector x_;
    secret_bytes d_;
    std::string kid_;
    std::string use_;
    std::string alg_;
};

/**
 * A JWK Set (RFC 7517 §5): {"keys":[...]}, as published at /.well-known/jwks.json.
 *
 * A plain value type. When parsing, keys of unsupported types or curves and malformed keys are
 * skipped, as RFC 7517 §5 recommends (so a set that also carries RSA keys still loads).
 */
struct IMSP2P_CORE_EXPORT jwk_set {
    /** The keys, in document order. */
    std::vector<jwk> keys;

    /**
     * Reads a set from JSON.
     * @param json an object with a "keys" array
     * @param ec errc::jwk_malformed if not an object or "keys" is missing or not an array
     * @return the set (possibly with no key), or an empty set on error
     */
    static jwk_set from_json(const nlohmann::json& json, std::error_code& ec);
    /**
     * Reads a set from JSON; see the std::error_code overload.
     * @param json an object with a "keys" array
     * @return the set
     * @throws std::system_error with errc::jwk_malformed
     */
    static jwk_set from_json(const nlohmann::json& json);
    /**
     * Parses a set from JSON text.
     * @param text the JSON text (at most jose_max_input_size bytes)
     * @param ec errc::jose_too_large, errc::jwk_malformed (also for invalid JSON)
     * @return the set, or an empty set on error
     */
    static jwk_set parse(std::string_view text, std::error_code& ec);
    /**
     * Parses a set from JSON text; see the std::error_code overload.
     * @param text the JSON text
     * @return the set
     * @throws std::system_error with errc::jose_too_large or errc::jwk_malformed
     */
    static jwk_set parse(std::string_view text);

    /**
     * Writes {"keys":[...]}.
     * @param include_private also write private parts (never for a published set)
     * @return the JSON object
     */
    nlohmann::json to_json(bool include_private = false) const;
    /**
     * Serialises to_json(include_private) as compact JSON text.
     * @param include_private also write private parts
     * @return the JSON text
     */
    std::string serialize(bool include_private = false) const;

    /**
     * Finds a key by "kid".
     * @param kid the key id (an empty kid matches nothing)
     * @return the first key with that kid, or nullptr; valid until @ref keys changes
     */
    const jwk* find(std::string_view kid) const noexcept;
    /**
     * Finds a key by its RFC 7638 thumbprint.
     * @param thumbprint the base64url thumbprint
     * @return the first matching key, or nullptr; valid until @ref keys changes
     */
    const jwk* find_by_thumbprint(std::string_view thumbprint) const;
};

// ---------------------------------------------------------------------------------------------
// JWS (compact, EdDSA)

/**
 * A compact JWS split into its parts and decoded, not yet verified (see jws_verify()).
 */
struct parsed_jws {
    /** The protected header (a JSON object with at least "alg":"EdDSA"). */
    nlohmann::json header;
    /** The decoded payload (untrusted until verified). */
    byte_vector payload;
    /** The JWS signing input: ASCII(base64url(header) "." base64url(payload)). */
    std::string signing_input;
    /** The decoded signature. */
    byte_vector signature;
};

/**
 * Signs a payload as a compact JWS with alg EdDSA (RFC 8037 §3.1).
 *
 * The protected header is {"alg":"EdDSA"} merged with @p extra_header (e.g. "kid", "typ":"JWT"),
 * serialised as compact JSON with members in lexicographic order. Ed25519 is deterministic, so
 * the same inputs always give the same string.
 * @param payload the payload bytes (e.g. JWT claims as JSON text)
 * @param key the Ed25519 signing key
 * @param extra_header additional header members: a JSON object or null; an "alg" member other
 *        than "EdDSA" and a "crit" member are refused
 * @param ec errc::invalid_argument (bad @p extra_header), errc::bad_key (empty key),
 *        errc::crypto_failure; cleared on success
 * @return the compact JWS, or an empty string on error
 */
IMSP2P_CORE_EXPORT std::string jws_sign(byte_view payload, const ed25519_private_key& key,
                                        const nlohmann::json& extra_header, std::error_code& ec);

/**
 * Signs a payload as a compact JWS with alg EdDSA; see the std::error_code overload.
 * @param payload the payload bytes
 * @param key the Ed25519 signing key
 * @param extra_header additional header members (object or null)
 * @return the compact JWS
 * @throws std::system_error with the codes of the std::error_code overload
 */
IMSP2P_CORE_EXPORT std::string jws_sign(byte_view payload, const ed25519_private_key& key,
                                        const nlohmann::json& extra_header = nullptr);

/**
 * Splits and decodes a compact JWS strictly, without verifying it.
 *
 * Checks: at most jose_max_input_size bytes; exactly three parts; each strict base64url
 * (non-empty header and signature); the header is a JSON object (no deeper than
 * jose_max_json_depth) with a string "alg" equal to "EdDSA" ("none" and every other algorithm
 * are refused); "crit", if present, is refused (no extension is understood).
 * @param compact the compact serialisation
 * @param ec errc::jose_too_large, errc::jose_malformed (part count, base64url),
 *        errc::jose_bad_header (not a JSON object, "alg" missing or not a string, malformed
 *        "crit"), errc::jose_unsupported_algorithm ("alg" not EdDSA),
 *        errc::jose_critical_unsupported; cleared on success
 * @return the parts, or a default parsed_jws on error
 */
IMSP2P_CORE_EXPORT parsed_jws jws_parse(std::string_view compact, std::error_code& ec);

/**
 * Splits and decodes a compact JWS strictly; see the std::error_code overload.
 * @param compact the compact serialisation
 * @return the parts
 * @throws std::system_error with the codes of the std::error_code overload
 */
IMSP2P_CORE_EXPORT parsed_jws jws_parse(std::string_view compact);

/**
 * Verifies the EdDSA signature of a parsed JWS over its signing input.
 * @param jws the output of jws_parse()
 * @param key the expected signer's public key
 * @param ec errc::bad_signature (invalid signature, or not 64 bytes),
 *        errc::jose_unsupported_algorithm (header "alg" not EdDSA), errc::bad_key (empty key);
 *        cleared on success
 * @return true if the signature is valid
 */
IMSP2P_CORE_EXPORT bool jws_verify(const parsed_jws& jws, const ed25519_public_key& key,
                                   std::error_code& ec);

/**
 * Verifies the EdDSA signature of a parsed JWS; see the std::error_code overload.
 * @param jws the output of jws_parse()
 * @param key the expected signer's public key
 * @return true if the signature is valid, false for any failure
 */
IMSP2P_CORE_EXPORT bool jws_verify(const parsed_jws& jws, const ed25519_public_key& key) noexcept;

// ---------------------------------------------------------------------------------------------
// JWE (compact, ECDH-ES+A256KW / A256GCM, X25519)

/**
 * Encrypts to an X25519 recipient as a compact JWE: alg ECDH-ES+A256KW, enc A256GCM.
 *
 * A fresh ephemeral X25519 key goes in "epk"; the key-encryption key is the Concat KDF
 * (RFC 7518 §4.6.2, SHA-256, AlgorithmID "ECDH-ES+A256KW", keydatalen 256, PartyUInfo/PartyVInfo
 * from "apu"/"apv" when the header carries them) of the X25519 shared secret; a random 32-byte
 * CEK is wrapped with A256KW; the AAD is the ASCII base64url of the protected header.
 * @param plaintext the bytes to encrypt
 * @param recipient the recipient's public key
 * @param extra_header additional header members (object or null), e.g. "kid", "typ", "cty",
 *        "apu"/"apv" (base64url strings); "alg", "enc", "epk", "zip" and "crit" are refused
 * @param ec errc::invalid_argument (bad @p extra_header), errc::bad_key (empty recipient or a
 *        degenerate shared secret), errc::crypto_failure; cleared on success
 * @return the compact JWE, or an empty string on error
 */
IMSP2P_CORE_EXPORT std::string jwe_encrypt(byte_view plaintext, const x25519_public_key& recipient,
                                           const nlohmann::json& extra_header, std::error_code& ec);

/**
 * Encrypts to an X25519 recipient as a compact JWE; see the std::error_code overload.
 * @param plaintext the bytes to encrypt
 * @param recipient the recipient's public key
 * @param extra_header additional header members (object or null)
 * @return the compact JWE
 * @throws std::system_error with the codes of the std::error_code overload
 */
IMSP2P_CORE_EXPORT std::string jwe_encrypt(byte_view plaintext, const x25519_public_key& recipient,
                                           const nlohmann::json& extra_header = nullptr);

/**
 * Decrypts a compact JWE addressed to an X25519 key.
 *
 * Accepts alg "ECDH-ES+A256KW" (encrypted key: 40 bytes) and "ECDH-ES" (direct key agreement,
 * empty encrypted key), enc "A256GCM" only, an "epk" that is a public OKP X25519 JWK, optional
 * "apu"/"apv" (base64url), no "zip", no "crit". IV must be 12 bytes and the tag 16 bytes.
 * @param compact the compact serialisation (at most jose_max_input_size bytes, five parts)
 * @param key the recipient's private key
 * @param ec errc::jose_too_large, errc::jose_malformed (part count, base64url, part sizes),
 *        errc::jose_bad_header (not a JSON object, missing/mistyped "alg", "enc", "epk", "apu",
 *        "apv"), errc::jose_unsupported_algorithm (other alg/enc/epk curve, "zip"),
 *        errc::jose_critical_unsupported, errc::bad_key (empty key, degenerate shared secret),
 *        errc::authentication_failed (key unwrap or GCM tag fails: wrong recipient or tampered);
 *        cleared on success
 * @return the plaintext, or empty on error
 */
IMSP2P_CORE_EXPORT secret_bytes jwe_decrypt(std::string_view compact, const x25519_private_key& key,
                                            std::error_code& ec);

/**
 * Decrypts a compact JWE; see the std::error_code overload.
 * @param compact the compact serialisation
 * @param key the recipient's private key
 * @return the plaintext
 * @throws std::system_error with the codes of the std::error_code overload
 */
IMSP2P_CORE_EXPORT secret_bytes jwe_decrypt(std::string_view compact,
                                            const x25519_private_key& key);

/**
 * Decodes the protected header of a compact JWS or JWE without any other check, e.g. to read
 * "kid" and pick the key before calling jws_parse()/jwe_decrypt().
 * @param compact a compact serialisation (three or five parts, at most jose_max_input_size)
 * @param ec errc::jose_too_large, errc::jose_malformed, errc::jose_bad_header; cleared on success
 * @return the header object, or null on error
 */
IMSP2P_CORE_EXPORT nlohmann::json jose_protected_header(std::string_view compact,
                                                        std::error_code& ec);

}  // namespace imsp2p::core
