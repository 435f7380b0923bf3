/**
 * @file
 * Error codes of libimsp2p-core.
 *
 * Every fallible core function has a non-throwing overload that reports through a
 * `std::error_code&` and, where it helps, a throwing overload that raises
 * `std::system_error` carrying the same code (and, in `what()`, the details).
 */
#pragma once

#include <imsp2p/core/export.hpp>

#include <string>
#include <system_error>

namespace imsp2p::core {

/**
 * Error conditions raised by libimsp2p-core.
 *
 * The values are grouped by module; the message of each (see error_category()) is the precise
 * reason shown to users. Zero is never used (it means success in `std::error_code`).
 */
enum class errc {
    // --- generic -----------------------------------------------------------------------
    invalid_argument = 1,  ///< An argument is outside its documented domain.
    io_error,              ///< A file could not be read or written.
    not_found,             ///< The requested item does not exist.
    insecure_permissions,  ///< A secret file is accessible to group or others (must be 0600).
    content_malformed,     ///< A content record field is missing or has a bad type or value.

    // --- DOI (ISO 26324) ---------------------------------------------------------------
    doi_empty = 100,           ///< The DOI text is empty.
    doi_missing_prefix,        ///< The DOI does not start with the directory indicator "10.".
    doi_bad_registrant,        ///< The registrant code is not digits with optional ".digits".
    doi_missing_suffix,        ///< There is no "/" or the suffix after it is empty.
    doi_whitespace,            ///< The DOI contains whitespace.
    doi_control_character,     ///< The DOI contains a control character.
    doi_bad_percent_encoding,  ///< A "%" is not followed by two hexadecimal digits.
    doi_bad_utf8,              ///< The (decoded) DOI is not valid UTF-8.
    doi_too_long,              ///< The DOI exceeds the supported length.
    doi_bad_resolver,          ///< A URL form names a host other than (dx.)doi.org.

    // --- IMS identities ----------------------------------------------------------------
    impu_bad_scheme = 200,  ///< The IMPU is not a sip:, sips: or tel: URI.
    impu_malformed,         ///< The IMPU URI is syntactically invalid.
    impi_malformed,         ///< The IMPI is not a valid NAI (user\@realm).

    // --- encodings ---------------------------------------------------------------------
    bad_hex = 300,  ///< Input is not an even-length string of hexadecimal digits.
    bad_base64,     ///< Input is not valid base64 / base64url.

    // --- cryptography ------------------------------------------------------------------
    crypto_failure = 400,   ///< The crypto library reported an unexpected failure.
    bad_key,                ///< A key is malformed or of the wrong type.
    bad_key_size,           ///< A key, nonce or tag has the wrong length.
    authentication_failed,  ///< AEAD tag or key-unwrap integrity check failed.
    bad_signature,          ///< A signature does not verify with the given key.

    // --- JOSE (RFC 7515/7516/7517/7518/8037) ------------------------------------------
    jose_malformed = 500,        ///< Not a compact serialisation with the right part count.
    jose_bad_header,             ///< The protected header is not valid JSON or misses fields.
    jose_unsupported_algorithm,  ///< The "alg" / "enc" / "crv" is not supported.
    jose_critical_unsupported,   ///< The header lists a "crit" extension we do not know.
    jwk_malformed,               ///< A JWK is not valid JSON or misses members.
    jwk_unsupported,             ///< The JWK key type or curve is not supported.
    jwk_no_private_key,          ///< A private key was needed but the JWK is public only.
    jose_payload_malformed,      ///< The payload is not the JSON object expected.
    jose_too_large,              ///< A JOSE text exceeds jose_max_input_size.

    // --- tickets (JWT) -----------------------------------------------------------------
    ticket_malformed = 600,   ///< The ticket is not a well-formed JWT.
    ticket_unknown_key,       ///< The ticket's signing key is not a trusted key.
    ticket_bad_signature,     ///< The ticket signature does not verify.
    ticket_expired,           ///< The ticket's "exp" is in the past (beyond the leeway).
    ticket_not_yet_valid,     ///< The ticket's "nbf"/"iat" is in the future.
    ticket_wrong_audience,    ///< The ticket's "aud" is not this service.
    ticket_wrong_issuer,      ///< The ticket's "iss" is not the expected issuer.
    ticket_missing_claim,     ///< A required claim is absent.
    ticket_bad_claim,         ///< A claim has the wrong type or value.
    ticket_wrong_infohash,    ///< The ticket does not cover this infohash.
    ticket_role_not_allowed,  ///< The ticket's role does not allow the operation.

    // --- database (SQLite) -------------------------------------------------------------
    database_error = 700,  ///< SQLite reported an error (details in the exception text).
    database_busy,         ///< The database stayed locked beyond the busy timeout.
    database_constraint,   ///< A constraint (unique, foreign key, check) was violated.
    database_corrupt,      ///< The file is not a database or is corrupt.
    database_cant_open,    ///< The database file could not be opened or created.
    schema_too_new,        ///< The file's schema is newer than this program knows.
    migration_failed,      ///< A schema migration failed and was rolled back.

    // --- configuration -----------------------------------------------------------------
    config_unreadable = 800,  ///< The configuration file cannot be read.
    config_malformed,         ///< The configuration file is not valid JSON.
    config_missing_value,     ///< A required setting is absent.
    config_bad_value,         ///< A setting has the wrong type or is out of range.
    config_unknown_key,       ///< A setting is not known (typo protection).
};

/** The error category of imsp2p::core::errc; its name() is "imsp2p.core". */
IMSP2P_CORE_EXPORT const std::error_category& error_category() noexcept;

/** Makes an error code of the core category (found by ADL for `std::error_code ec = errc::x`). */
IMSP2P_CORE_EXPORT std::error_code make_error_code(errc e) noexcept;

/**
 * Throws `std::system_error(ec, detail)`.
 * @param ec the error (must be non-zero)
 * @param detail context appended to the message, e.g. a file name or a field
 */
[[noreturn]] IMSP2P_CORE_EXPORT void throw_error(std::error_code ec,
                                                 const std::string& detail = {});

}  // namespace imsp2p::core

/** Lets `std::error_code` be constructed from imsp2p::core::errc. */
template <>
struct std::is_error_code_enum<imsp2p::core::errc> : std::true_type {};
