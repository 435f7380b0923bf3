/**
 * @file
 * Error codes of libimsp2p-pana (3GPP AKA, HTTP Digest AKA, PANA and EAP-TLS).
 *
 * Functions of this library report failures either through a `std::error_code&` (non-throwing
 * overloads) or by throwing `std::system_error` carrying the same code; the exception text adds
 * the precise detail (for example which Digest parameter is malformed and where). Codes of
 * imsp2p::core::errc (database, encoding, key sizes) are passed through unchanged.
 */
#pragma once

#include <imsp2p/pana/export.hpp>

#include <system_error>

namespace imsp2p::pana {

/** Error conditions raised by libimsp2p-pana; messages come from error_category(). */
enum class errc {
    mac_failure = 1,    ///< AKA network authentication failed (MAC mismatch).
    sync_failure,       ///< AKA sequence number is out of range (resynchronisation needed).
    bad_digest_header,  ///< Digest authentication header is malformed.
    pana_malformed,     ///< PANA message is malformed.
    eap_malformed,      ///< EAP packet is malformed.
    tls_failure,        ///< TLS handshake failed.

    // --- 3GPP AKA (TS 33.102) ------------------------------------------------------------
    bad_auts,            ///< The AUTS of a resynchronisation request fails its MAC-S check.
    unknown_subscriber,  ///< No subscriber with this private identity is provisioned.
    subscriber_exists,   ///< A subscriber with this private identity is already provisioned.
    sqn_exhausted,       ///< The subscriber's sequence number space (SEQ) is used up.
    bad_usim_profile,    ///< A software USIM profile file is malformed.

    // --- HTTP Digest (RFC 2617, RFC 7616, RFC 3310, RFC 4169) ----------------------------
    bad_aka_nonce,              ///< A Digest AKA nonce is not base64 of RAND || AUTN [|| data].
    digest_unsupported,         ///< The Digest algorithm or quality of protection is unknown.
    digest_challenge_mismatch,  ///< Credentials name another realm, nonce, opaque or algorithm.
    digest_response_mismatch,   ///< The Digest response is wrong (bad password or RES).
    digest_nonce_count_reused,  ///< The nonce count did not increase (a replayed request).

    // --- EAP-TLS (RFC 5216, RFC 9190) and the one-pass token ------------------------------
    eap_tls_certificate_rejected,  ///< The other end's certificate failed verification.
    eap_tls_identity_mismatch,     ///< The EAP identity is not in the client certificate.
    eap_fragment_too_large,        ///< An EAP-TLS message exceeds the reassembly limit.
    eap_tls_framing,               ///< EAP-TLS flags, length or fragment sequence is invalid.
    eap_unexpected_message,        ///< An EAP message arrived that the state does not expect.
    token_unknown,                 ///< No one-pass token is stored for this identity.
    token_expired,                 ///< The one-pass token has expired.
    token_used,                    ///< The one-pass token was already consumed (single use).
    token_proof_mismatch,          ///< The proof of possession of the token is wrong.
    token_service_unauthorized,    ///< A token service request is not authenticated.

    // --- PANA (RFC 5191) -------------------------------------------------------------------
    pana_unknown_message_type,     ///< A PANA message type is not 1..4.
    pana_bad_length,               ///< A PANA length field disagrees with the datagram.
    pana_reserved_bits,            ///< A PANA reserved field or flag bit is set.
    pana_bad_flags,                ///< PANA header flags do not fit the message type.
    pana_bad_avp,                  ///< A PANA AVP is truncated, misaligned or has reserved bits.
    pana_bad_auth,                 ///< A PANA AUTH AVP is missing or wrong.
    pana_bad_sequence,             ///< A PANA sequence number is out of window (replay).
    pana_no_common_algorithm,      ///< PaC and PAA share no PRF or integrity algorithm.
    pana_timeout,                  ///< PANA retransmissions are exhausted without an answer.
    pana_authentication_rejected,  ///< The PAA rejected the authentication (Result-Code).
    pana_session_terminated,       ///< The PANA session was terminated.
    token_deposit_replayed,        ///< A token deposit with this id was already accepted.
};

/** The error category of imsp2p::pana::errc; its name() is "imsp2p.pana". */
IMSP2P_PANA_EXPORT const std::error_category& error_category() noexcept;

/**
 * Makes an error code of the pana category (found by ADL).
 * @param e the error condition
 * @return the error code
 */
IMSP2P_PANA_EXPORT std::error_code make_error_code(errc e) noexcept;

}  // namespace imsp2p::pana

/** Lets `std::error_code` be constructed from imsp2p::pana::errc. */
template <>
struct std::is_error_code_enum<imsp2p::pana::errc> : std::true_type {};
