/**
 * @file
 * PANA (RFC 5191) message codec: the 16-byte header, AVPs (with optional vendor ids and 4-byte
 * padding) and typed helpers for the AVPs this implementation uses.
 *
 * Wire format (RFC 5191 §6, §8): header = reserved(16) = 0, message length(16, whole message
 * including every AVP and its padding), flags(16: R 0x8000, S 0x4000, C 0x2000, A 0x1000,
 * P 0x0800, the rest reserved), message type(16), session identifier(32), sequence
 * number(32). AVP = code(16), flags(16: V 0x8000, M 0x4000, the rest reserved), length(16,
 * the value only: no header, no padding), reserved(16) = 0, vendor id(32, only with V), value,
 * then zero padding to a multiple of 4 bytes.
 *
 * All functions are pure and safe to call concurrently; the structs are value types.
 */
#pragma once

#include <imsp2p/pana/export.hpp>

#include <imsp2p/core/bytes.hpp>

#include <cstddef>
#include <cstdint>
#include <optional>
#include <system_error>
#include <vector>

namespace imsp2p::pana {

/** The default UDP port of PANA (RFC 5191 §11), on both PaC and PAA. */
inline constexpr std::uint16_t pana_default_port = 716;

/** Size of the PANA message header in bytes. */
inline constexpr std::size_t pana_header_size = 16;

/** PANA message types (RFC 5191 §7). */
enum class pana_message_type : std::uint16_t {
    client_initiation = 1,  ///< PANA-Client-Initiation (PCI), sent by the PaC, no answer.
    auth = 2,               ///< PANA-Auth-Request / -Answer (PAR / PAN).
    termination = 3,        ///< PANA-Termination-Request / -Answer (PTR / PTA).
    notification = 4,       ///< PANA-Notification-Request / -Answer (PNR / PNA).
};

/** Message header flags (RFC 5191 §6.2). */
struct pana_flags {
    static constexpr std::uint16_t request = 0x8000;   ///< R: a request (clear: an answer).
    static constexpr std::uint16_t start = 0x4000;     ///< S: the start of the session.
    static constexpr std::uint16_t complete = 0x2000;  ///< C: the end of an authentication.
    static constexpr std::uint16_t reauth = 0x1000;    ///< A: re-authentication.
    static constexpr std::uint16_t ping = 0x0800;      ///< P: a ping (Notification only).
    static constexpr std::uint16_t defined = 0xF800;   ///< All defined bits; the rest is reserved.
};

/** AVP codes (RFC 5191 §8). */
enum class pana_avp_code : std::uint16_t {
    auth = 1,                 ///< AUTH: the integrity checksum of the message.
    eap_payload = 2,          ///< EAP-Payload: one EAP packet.
    integrity_algorithm = 3,  ///< Integrity-Algorithm: an IKEv2 integrity transform id.
    key_id = 4,               ///< Key-Id: 32-bit identifier of the MSK.
    nonce = 5,                ///< Nonce: random bytes of each end.
    prf_algorithm = 6,        ///< PRF-Algorithm: an IKEv2 PRF transform id.
    result_code = 7,          ///< Result-Code: outcome of the authentication.
    session_lifetime = 8,     ///< Session-Lifetime: seconds the access is granted for.
    termination_cause = 9,    ///< Termination-Cause: why the session ends.
};

/** AVP flags (RFC 5191 §8.1). */
struct pana_avp_flags {
    static constexpr std::uint16_t vendor = 0x8000;     ///< V: a vendor id follows the header.
    static constexpr std::uint16_t mandatory = 0x4000;  ///< M: the receiver must understand it.
    static constexpr std::uint16_t defined = 0xC000;    ///< All defined bits; the rest reserved.
};

/** PRF algorithms (IKEv2 transform type 2 ids). */
enum class pana_prf : std::uint32_t {
    hmac_sha1 = 2,      ///< PRF_HMAC_SHA1, mandatory in RFC 5191.
    hmac_sha2_256 = 5,  ///< PRF_HMAC_SHA2_256 (RFC 4868), offered first here.
};

/** Integrity algorithms (IKEv2 transform type 3 ids). */
enum class pana_integrity : std::uint32_t {
    hmac_sha1_160 = 7,       ///< AUTH_HMAC_SHA1_160: 20-byte AUTH, mandatory in RFC 5191.
    hmac_sha2_256_128 = 12,  ///< AUTH_HMAC_SHA2_256_128 (RFC 4868): 16-byte AUTH.
};

/** Result-Code values (RFC 5191 §8.8). */
enum class pana_result : std::uint32_t {
    success = 0,                  ///< PANA_SUCCESS.
    authentication_rejected = 1,  ///< PANA_AUTHENTICATION_REJECTED.
    authorization_rejected = 2,   ///< PANA_AUTHORIZATION_REJECTED.
};

/** Termination-Cause values (RFC 5191 §8.10, from Diameter). */
enum class pana_termination_cause : std::uint32_t {
    logout = 1,           ///< The PaC logs out.
    administrative = 4,   ///< The PAA's administrator ends the session.
    session_timeout = 8,  ///< The session lifetime expired.
};

/** One AVP as a value. */
struct pana_avp {
    std::uint16_t code = 0;  ///< The AVP code (pana_avp_code for the standard ones).
    /** The AVP flags without V: serialize() sets V from vendor_id; M may be set. */
    std::uint16_t flags = 0;
    std::optional<std::uint32_t> vendor_id;  ///< The vendor id (V flag), absent for IETF AVPs.
    core::byte_vector value;                 ///< The value, without padding.

    /** Memberwise equality. @param other the other AVP @return true if equal */
    bool operator==(const pana_avp& other) const = default;
};

/** One PANA message as a value. */
struct pana_message {
    std::uint16_t flags = 0;                           ///< pana_flags bits.
    pana_message_type type = pana_message_type::auth;  ///< The message type.
    std::uint32_t session_id = 0;                      ///< The session identifier.
    std::uint32_t sequence_number = 0;                 ///< The sequence number.
    std::vector<pana_avp> avps;                        ///< The AVPs, in order.

    /** @return true when the R flag is set */
    bool is_request() const noexcept { return (flags & pana_flags::request) != 0; }
    /**
     * @param flag one pana_flags bit
     * @return true when it is set
     */
    bool has_flag(std::uint16_t flag) const noexcept { return (flags & flag) != 0; }

    /**
     * Finds the first IETF (no vendor id) AVP with a code.
     * @param code the code
     * @return a pointer into avps (valid while avps is unchanged), or nullptr
     */
    const pana_avp* find(pana_avp_code code) const noexcept;
    /**
     * Finds every IETF AVP with a code.
     * @param code the code
     * @return pointers into avps (valid while avps is unchanged), in order
     */
    std::vector<const pana_avp*> find_all(pana_avp_code code) const;

    /** Memberwise equality. @param other the other message @return true if equal */
    bool operator==(const pana_message& other) const = default;
};

/** Size limits of the codec. */
struct pana_limits {
    /** Largest message: the 16-bit length field. */
    static constexpr std::size_t max_message_size = 65535;
    /** Most AVPs accepted in one message. */
    static constexpr std::size_t max_avps = 64;
};

/**
 * Parses one PANA message with strict checks: the buffer is at least a header; the reserved
 * header field is 0 and reserved flag bits are clear (errc::pana_reserved_bits); the length
 * field equals the buffer size (errc::pana_bad_length); the type is 1..4
 * (errc::pana_unknown_message_type); the flags fit the type (PCI carries none, S and C only on
 * PANA-Auth and never together, a Notification has exactly one of A and P, a Termination none;
 * errc::pana_bad_flags);
 * every AVP has a complete header, a zero reserved field, no reserved flag bits, a value and
 * padding inside the message, at most pana_limits::max_avps AVPs (errc::pana_bad_avp).
 * Padding bytes are not checked (RFC 5191 lets receivers ignore them).
 * @param wire the datagram payload
 * @param ec the error; cleared on success
 * @return the message, or std::nullopt on error
 */
IMSP2P_PANA_EXPORT std::optional<pana_message> parse_pana_message(core::byte_view wire,
                                                                  std::error_code& ec);

/**
 * Parses one PANA message.
 * @param wire the datagram payload
 * @return the message
 * @throws std::system_error with the codes of the std::error_code overload
 */
IMSP2P_PANA_EXPORT pana_message parse_pana_message(core::byte_view wire);

/**
 * Serialises a message (lengths computed, padding zero, V flag from vendor_id).
 * @param message the message
 * @param ec errc::pana_bad_length if the result would exceed 65535 bytes, errc::pana_bad_avp
 *        if an AVP has reserved flag bits; cleared on success
 * @return the wire bytes (empty on error)
 */
IMSP2P_PANA_EXPORT core::byte_vector serialize(const pana_message& message, std::error_code& ec);

/**
 * Serialises a message.
 * @param message the message
 * @return the wire bytes
 * @throws std::system_error with the codes of the std::error_code overload
 */
IMSP2P_PANA_EXPORT core::byte_vector serialize(const pana_message& message);

/**
 * Makes an IETF AVP with a 32-bit unsigned value (network byte order).
 * @param code the code
 * @param value the value
 * @param mandatory whether to set the M flag
 * @return the AVP
 */
IMSP2P_PANA_EXPORT pana_avp make_u32_avp(pana_avp_code code, std::uint32_t value,
                                         bool mandatory = false);

/**
 * Makes an IETF AVP with opaque bytes.
 * @param code the code
 * @param value the bytes (copied)
 * @param mandatory whether to set the M flag
 * @return the AVP
 */
IMSP2P_PANA_EXPORT pana_avp make_bytes_avp(pana_avp_code code, core::byte_view value,
                                           bool mandatory = false);

/**
 * Reads a 32-bit unsigned AVP value.
 * @param avp the AVP
 * @return the value, or std::nullopt unless the value is exactly 4 bytes
 */
IMSP2P_PANA_EXPORT std::optional<std::uint32_t> avp_u32(const pana_avp& avp) noexcept;

/**
 * Reads the 32-bit value of the first IETF AVP with a code.
 * @param message the message
 * @param code the code (Result-Code, Session-Lifetime, Key-Id, PRF-Algorithm, ...)
 * @return the value, or std::nullopt if absent or not 4 bytes
 */
IMSP2P_PANA_EXPORT std::optional<std::uint32_t> find_u32(const pana_message& message,
                                                         pana_avp_code code) noexcept;

/**
 * @param integrity an integrity algorithm id
 * @return the AUTH AVP value size (16 or 20), or 0 for an unknown id
 */
IMSP2P_PANA_EXPORT std::size_t auth_value_size(std::uint32_t integrity) noexcept;

}  // namespace imsp2p::pana
