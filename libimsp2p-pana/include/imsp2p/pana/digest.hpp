/**
 * @file
 * HTTP Digest authentication headers and responses, transport-independent: the
 * `WWW-Authenticate` / `Proxy-Authenticate` challenge and the `Authorization` /
 * `Proxy-Authorization` credentials (RFC 7235 §2.1, RFC 7616, RFC 2617, SIP's RFC 3261 §22.4),
 * the algorithms MD5, AKAv1-MD5 (RFC 3310) and AKAv2-MD5 (RFC 4169), and the AKA nonce.
 *
 * Parsing takes a header field *value* (starting at the scheme, "Digest ..."). The tokenizer
 * accepts auth-params only (`name=token` or `name="quoted string"`, no token68), compares
 * parameter names case-insensitively, rejects duplicate parameters, tolerates empty list
 * elements and SIP line folding (CRLF followed by a space or tab), and bounds every size
 * (digest_limits). Every rejection is errc::bad_digest_header with a precise detail, e.g.
 * `at offset 17: parameter "nonce" appears twice`.
 *
 * All functions are pure and safe to call concurrently; the structs are value types.
 */
#pragma once

#include <imsp2p/pana/export.hpp>
#include <imsp2p/pana/milenage.hpp>

#include <imsp2p/core/bytes.hpp>
#include <imsp2p/core/crypto.hpp>

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <system_error>
#include <vector>

namespace imsp2p::pana {

/** Size limits of the Digest header parser (inputs beyond them are rejected). */
struct digest_limits {
    /** Longest accepted header field value, in bytes. */
    static constexpr std::size_t max_header_size = 8192;
    /** Most parameters in one header. */
    static constexpr std::size_t max_parameters = 32;
    /** Longest parameter name. */
    static constexpr std::size_t max_name_size = 64;
    /** Longest parameter value (after unquoting). */
    static constexpr std::size_t max_value_size = 4096;
};

/** One auth-param: a lower-case name and its unquoted value. */
struct auth_param {
    std::string name;   ///< The parameter name, ASCII letters folded to lower case.
    std::string value;  ///< The value, with quotes and quoted-pair escapes removed.

    /** Memberwise equality. @param other the other parameter @return true if equal */
    bool operator==(const auth_param& other) const = default;
};

/** The Digest algorithms supported for response computation. */
enum class digest_algorithm {
    md5,        ///< "MD5" (RFC 2617 / RFC 7616), a password; also when no algorithm is given.
    akav1_md5,  ///< "AKAv1-MD5" (RFC 3310): password = the raw RES bytes.
    akav2_md5,  ///< "AKAv2-MD5" (RFC 4169): password = base64(HMAC-MD5(RES||IK||CK, label)).
};

/**
 * Looks up an algorithm by its token (case-insensitive).
 * @param name the algorithm parameter value; empty means "MD5" (the RFC 2617 default)
 * @return the algorithm, or std::nullopt if unsupported (e.g. "SHA-256", "MD5-sess")
 */
IMSP2P_PANA_EXPORT std::optional<digest_algorithm> digest_algorithm_from_name(
    std::string_view name) noexcept;

/**
 * @param algorithm an algorithm
 * @return its canonical token: "MD5", "AKAv1-MD5" or "AKAv2-MD5"
 */
IMSP2P_PANA_EXPORT std::string_view digest_algorithm_name(digest_algorithm algorithm) noexcept;

/**
 * A Digest challenge (the value of WWW-Authenticate or Proxy-Authenticate).
 *
 * Serialisation (to_string()) quotes realm, domain, nonce, opaque and qop as the RFCs require
 * and writes algorithm and stale as tokens; parse(to_string(c)) == c for every parsed c whose
 * serialisation stays within digest_limits::max_header_size (quoting and ", " separators may
 * add a few bytes per parameter to a header that was at the limit).
 */
struct digest_challenge {
    std::string realm;                     ///< The protection space (required).
    std::string nonce;                     ///< The server nonce (required).
    std::optional<std::string> opaque;     ///< Returned unchanged by the client.
    std::optional<std::string> domain;     ///< Space-separated URIs of the protection space.
    std::optional<std::string> algorithm;  ///< The algorithm token as sent (absent: MD5).
    std::vector<std::string> qop;          ///< Offered qop values (e.g. "auth"); empty: none.
    bool stale = false;                    ///< True: the nonce expired, retry without a prompt.
    std::vector<auth_param> extensions;    ///< Other parameters, in order (e.g. "ik", "ck").

    /**
     * Parses a challenge header value.
     * @param value the field value, "Digest realm=..., nonce=..."
     * @param ec errc::bad_digest_header; cleared on success
     * @param detail receives the reason of a failure (cleared on success)
     * @return the challenge (empty on error)
     */
    static digest_challenge parse(std::string_view value, std::error_code& ec, std::string& detail);
    /**
     * Parses a challenge header value; see the overload with a detail.
     * @param value the field value
     * @param ec errc::bad_digest_header; cleared on success
     * @return the challenge (empty on error)
     */
    static digest_challenge parse(std::string_view value, std::error_code& ec);
    /**
     * Parses a challenge header value.
     * @param value the field value
     * @return the challenge
     * @throws std::system_error with errc::bad_digest_header and the detail in what()
     */
    static digest_challenge parse(std::string_view value);

    /**
     * Serialises to a header field value.
     * @param ec errc::bad_digest_header if a value cannot be represented (a control character
     *        other than tab), a name is not a token, or an extension repeats a known name
     * @return the field value (empty on error)
     */
    std::string to_string(std::error_code& ec) const;
    /**
     * Serialises to a header field value.
     * @return the field value
     * @throws std::system_error with errc::bad_digest_header (see the other overload)
     */
    std::string to_string() const;

    /** Memberwise equality. @param other the other challenge @return true if equal */
    bool operator==(const digest_challenge& other) const = default;
};

/**
 * Digest credentials (the value of Authorization or Proxy-Authorization).
 *
 * Parsing requires username, realm, nonce, uri and response, and cnonce and nc when qop is
 * present; nc must be 8 hex digits, response hex digits (or empty, as a UE sends after a MAC
 * failure), auts base64 of exactly 14 bytes (padding optional).
 */
struct digest_credentials {
    std::string username;  ///< The user name; in IMS the private identity (IMPI).
    std::string realm;     ///< The realm of the challenge.
    std::string nonce;     ///< The nonce of the challenge.
    std::string uri;       ///< The digest-uri (in SIP the Request-URI).
    std::string response;  ///< The request digest, 32 lower-case hex digits for MD5.
    std::optional<std::string> algorithm;      ///< The algorithm token (absent: MD5).
    std::optional<std::string> cnonce;         ///< The client nonce (with qop).
    std::optional<std::string> opaque;         ///< The opaque value of the challenge.
    std::optional<std::string> qop;            ///< The chosen qop ("auth" or "auth-int").
    std::optional<std::uint32_t> nonce_count;  ///< nc (with qop), 1 for the first use.
    std::optional<aka_auts> auts;              ///< AKA resynchronisation token (RFC 3310 §3.4).
    std::vector<auth_param> extensions;        ///< Other parameters, in order.

    /**
     * Parses a credentials header value.
     * @param value the field value, "Digest username=..., ..."
     * @param ec errc::bad_digest_header; cleared on success
     * @param detail receives the reason of a failure (cleared on success)
     * @return the credentials (empty on error)
     */
    static digest_credentials parse(std::string_view value, std::error_code& ec,
                                    std::string& detail);
    /**
     * Parses a credentials header value; see the overload with a detail.
     * @param value the field value
     * @param ec errc::bad_digest_header; cleared on success
     * @return the credentials (empty on error)
     */
    static digest_credentials parse(std::string_view value, std::error_code& ec);
    /**
     * Parses a credentials header value.
     * @param value the field value
     * @return the credentials
     * @throws std::system_error with errc::bad_digest_header and the detail in what()
     */
    static digest_credentials parse(std::string_view value);

    /**
     * Serialises to a header field value (username, realm, nonce, uri, response, algorithm,
     * cnonce, opaque, qop, nc, auts, then the extensions).
     * @param ec errc::bad_digest_header if a value cannot be represented
     * @return the field value (empty on error)
     */
    std::string to_string(std::error_code& ec) const;
    /**
     * Serialises to a header field value.
     * @return the field value
     * @throws std::system_error with errc::bad_digest_header
     */
    std::string to_string() const;

    /** Memberwise equality. @param other the other credentials @return true if equal */
    bool operator==(const digest_credentials& other) const = default;
};

/** The inputs of a request digest (RFC 7616 §3.4.1, RFC 2617 §3.2.2.1). */
struct digest_response_input {
    std::string_view username;      ///< unq(username).
    std::string_view realm;         ///< unq(realm).
    core::byte_view password;       ///< The password bytes (for AKAv1-MD5 the raw RES).
    std::string_view nonce;         ///< unq(nonce).
    std::string_view cnonce;        ///< unq(cnonce) (with qop).
    std::string_view qop;           ///< "" (RFC 2069 compatibility), "auth" or "auth-int".
    std::uint32_t nonce_count = 1;  ///< nc (with qop), written as 8 lower-case hex digits.
    std::string_view method;        ///< The request method, e.g. "REGISTER".
    std::string_view uri;           ///< The digest-uri.
    core::byte_view body;           ///< The entity body (for qop=auth-int; may be empty).
};

/**
 * Computes the request digest with MD5: HA1 = MD5(username ":" realm ":" password),
 * HA2 = MD5(method ":" uri [":" MD5(body)]), response = MD5(HA1 ":" nonce ":" nc ":" cnonce ":"
 * qop ":" HA2), or MD5(HA1 ":" nonce ":" HA2) without qop; hashes are lower-case hex. The same
 * formula serves MD5, AKAv1-MD5 and AKAv2-MD5: only the password differs
 * (aka_digest_password()).
 * @param input the inputs
 * @param ec errc::digest_unsupported for a qop other than "", "auth" and "auth-int"
 * @return 32 lower-case hex digits (empty on error)
 */
IMSP2P_PANA_EXPORT std::string compute_digest_response(const digest_response_input& input,
                                                       std::error_code& ec);
/**
 * Throwing form of compute_digest_response().
 * @param input the inputs
 * @return 32 lower-case hex digits
 * @throws std::system_error with errc::digest_unsupported
 */
IMSP2P_PANA_EXPORT std::string compute_digest_response(const digest_response_input& input);

/**
 * The Digest password for an AKA algorithm: RES itself for AKAv1-MD5 (RFC 3310 §3.3);
 * base64(HMAC-MD5(key = RES || IK || CK, "http-digest-akav2-password")) for AKAv2-MD5
 * (RFC 4169 §3).
 * @param algorithm akav1_md5 or akav2_md5
 * @param res RES (client) or XRES (server)
 * @param ik IK
 * @param ck CK
 * @param ec errc::digest_unsupported for md5; cleared on success
 * @return the password bytes (wiped when destroyed; empty on error)
 */
IMSP2P_PANA_EXPORT core::secret_bytes aka_digest_password(digest_algorithm algorithm,
                                                          const aka_res& res, const aka_ik& ik,
                                                          const aka_ck& ck, std::error_code& ec);

/** The contents of a Digest AKA nonce: base64(RAND || AUTN || server data), RFC 3310 §3.2. */
struct aka_nonce {
    aka_rand rand{};                ///< The AKA challenge.
    aka_autn autn{};                ///< The network authentication token.
    core::byte_vector server_data;  ///< Optional server-specific data (may be empty).

    /** @return the nonce text: standard base64 with padding */
    std::string encode() const;
    /**
     * Decodes a nonce (padding may be omitted).
     * @param text the nonce parameter value
     * @param ec errc::bad_aka_nonce if it is not base64 or shorter than 32 bytes; cleared on
     *        success
     * @return the contents (zeros on error)
     */
    static aka_nonce decode(std::string_view text, std::error_code& ec);
    /**
     * Throwing form of decode().
     * @param text the nonce
     * @return the contents
     * @throws std::system_error with errc::bad_aka_nonce
     */
    static aka_nonce decode(std::string_view text);

    /** Memberwise equality. @param other the other nonce @return true if equal */
    bool operator==(const aka_nonce& other) const = default;
};

}  // namespace imsp2p::pana
