/**
 * @file
 * EAP (RFC 3748): the packet codec and the two interfaces that PANA carries EAP through.
 *
 * PANA (pana_session.hpp) is only a lower layer for EAP: the PAA hands every EAP-Payload it
 * receives to an eap_authenticator and sends back what it returns; the PaC does the same with
 * an eap_peer. EAP-TLS (eap_tls.hpp) implements both; a RADIUS or Diameter AAA client could
 * implement eap_authenticator later (pass-through authenticator, RFC 3748 §1.2) without any
 * change to PANA.
 */
#pragma once

#include <imsp2p/pana/export.hpp>

#include <imsp2p/core/bytes.hpp>

#include <cstdint>
#include <optional>
#include <string>
#include <system_error>

namespace imsp2p::pana {

/** EAP codes (RFC 3748 §4). */
enum class eap_code : std::uint8_t {
    request = 1,   ///< Sent by the authenticator.
    response = 2,  ///< Sent by the peer.
    success = 3,   ///< Authentication succeeded (no type, no data).
    failure = 4,   ///< Authentication failed (no type, no data).
};

/** EAP method types used here (RFC 3748 §5, RFC 5216). */
enum class eap_type : std::uint8_t {
    identity = 1,      ///< EAP-Identity.
    notification = 2,  ///< EAP-Notification.
    nak = 3,           ///< Legacy Nak (response only).
    tls = 13,          ///< EAP-TLS (RFC 5216, RFC 9190).
};

/**
 * One EAP packet as a value.
 *
 * For request and response packets `type` is set and `type_data` holds the bytes after the
 * type octet; for success and failure both are empty.
 */
struct eap_packet {
    eap_code code = eap_code::request;  ///< The code.
    std::uint8_t identifier = 0;        ///< Matches responses to requests.
    std::optional<std::uint8_t> type;   ///< The method type (requests and responses only).
    core::byte_vector type_data;        ///< The method's data after the type octet.
};

/**
 * Parses one EAP packet, checking that the Length field equals the buffer size, that success
 * and failure carry no data and that requests and responses carry a type.
 * @param wire the packet bytes
 * @param ec set to errc::eap_malformed (nothing else changes) on any violation
 * @return the packet, or std::nullopt on error
 */
IMSP2P_PANA_EXPORT std::optional<eap_packet> parse_eap_packet(core::byte_view wire,
                                                              std::error_code& ec);

/**
 * Serialises an EAP packet (Length computed).
 * @param packet the packet; its type_data must fit a 16-bit length
 * @return the wire bytes
 */
IMSP2P_PANA_EXPORT core::byte_vector serialize_eap_packet(const eap_packet& packet);

/** Where an EAP conversation stands after one step. */
enum class eap_status {
    in_progress,  ///< More messages follow.
    success,      ///< Authentication succeeded; keys are available.
    failure,      ///< Authentication failed.
};

/** What one step of an EAP method produced. */
struct eap_step {
    core::byte_vector message;                    ///< The EAP packet to send (may be empty).
    eap_status status = eap_status::in_progress;  ///< The state after this step.
};

/**
 * The authenticator (server) end of an EAP conversation, as the PAA drives it.
 *
 * One object serves one conversation (one PANA session) and is not thread-safe; the PAA
 * calls it from the thread that runs its session. Owned by the PAA session that created it
 * through the factory the PAA is given.
 */
class IMSP2P_PANA_EXPORT eap_authenticator {
  public:
    /** Destroys the authenticator; secrets it holds are wiped. */
    virtual ~eap_authenticator();

    /** Starts the conversation: returns the first EAP request (usually EAP-Identity). */
    virtual eap_step start() = 0;

    /**
     * Handles one EAP response from the peer.
     * @param response the EAP packet bytes as received (already parsed once by the caller is
     *        allowed; the method re-validates)
     * @return the next request, or the final success/failure packet with its status
     */
    virtual eap_step on_response(core::byte_view response) = 0;

    /** The MSK (64 bytes) once the status is success; empty before. */
    virtual core::byte_vector msk() const = 0;

    /** The EMSK (64 bytes) once the status is success; empty before. */
    virtual core::byte_vector emsk() const = 0;

    /** The peer's identity (from EAP-Identity or its certificate); empty if unknown. */
    virtual std::string peer_identity() const = 0;
};

/**
 * The peer (client) end of an EAP conversation, as the PaC drives it.
 *
 * One object serves one conversation and is not thread-safe; the PaC calls it from the thread
 * that runs its session.
 */
class IMSP2P_PANA_EXPORT eap_peer {
  public:
    /** Destroys the peer; secrets it holds are wiped. */
    virtual ~eap_peer();

    /**
     * Handles one EAP packet from the authenticator (a request, success or failure).
     * @param packet the EAP packet bytes as received
     * @return the response to send (empty message for success/failure) and the state
     */
    virtual eap_step on_packet(core::byte_view packet) = 0;

    /** The MSK (64 bytes) once the status is success; empty before. */
    virtual core::byte_vector msk() const = 0;

    /** The EMSK (64 bytes) once the status is success; empty before. */
    virtual core::byte_vector emsk() const = 0;
};

}  // namespace imsp2p::pana
