/**
 * @file
 * SANS-IO PANA (RFC 5191) state machines of the PaC (client) and the PAA (authentication
 * agent), modelled on RFC 5609.
 *
 * The sessions own no socket, thread or clock: the caller feeds received datagrams
 * (on_datagram()) and timer expiries (on_timer()) together with the current time, collects the
 * datagrams to send (take_datagrams()) and arms one timer for next_deadline(). Tests drive
 * loss, duplication, replay and retransmission deterministically this way; pana_endpoint.hpp
 * binds them to UDP sockets.
 *
 * Exchange (EAP responses piggybacked on answers):
 * `[PCI] -> PAR[S]{PRF-Algorithm*, Integrity-Algorithm*} <- PAN[S]{PRF-Algorithm,
 * Integrity-Algorithm} -> PAR{Nonce, EAP} <- PAN{Nonce, EAP} -> ... PAR[C]{EAP-Success,
 * Result-Code, Key-Id, Session-Lifetime, AUTH} <- PAN[C]{Key-Id, AUTH}`; afterwards every
 * message carries AUTH, and only such a keyed session accepts a PTR. Re-authentication: PNR[A] from
 * the PaC (or the PAA directly) starts a new EAP conversation with new nonces and a new Key-Id.
 * PTR/PTA end the session, PNR[P]/PNA[P] ping it.
 *
 * Sequence numbers (RFC 5191 §5.1): each end sends requests with its own increasing Tx number
 * (random initial value) and accepts only the next expected request; a retransmitted request
 * (the previous number, same bytes) is answered again with the cached answer; anything else is
 * dropped. Answers must carry the number of the outstanding request. Retransmission uses the
 * RFC 5191 §9 timers (RFC 3315 style: IRT, doubling with ±10% jitter, capped by MRT, at most
 * MRC retransmissions).
 *
 * Keys: PANA_AUTH_KEY = prf+(MSK, "IETF PANA" | I_PAR | I_PAN | PaC_nonce | PAA_nonce |
 * Key_ID) with prf+ as in IKEv2 (RFC 7296 §2.13); I_PAR and I_PAN are the first PAR[S] and
 * PAN[S] as sent. Its length is the integrity algorithm's key size (20 bytes for
 * HMAC-SHA1-160, 32 for HMAC-SHA2-256-128). AUTH = truncated HMAC over the whole message with
 * the AUTH value zeroed.
 *
 * Objects are movable, not copyable, and not thread-safe: one thread drives a session and
 * calls its EAP method.
 */
#pragma once

#include <imsp2p/pana/eap.hpp>
#include <imsp2p/pana/export.hpp>
#include <imsp2p/pana/pana_message.hpp>

#include <imsp2p/core/bytes.hpp>

#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <system_error>
#include <vector>

namespace imsp2p::pana {

/** The clock of the state machines. */
using pana_clock = std::chrono::steady_clock;

/** Retransmission parameters (RFC 5191 §9; defaults are the RFC's). */
struct pana_timers {
    std::chrono::milliseconds pci_initial{1000};       ///< PCI_IRT: first PCI retransmission delay.
    std::chrono::milliseconds pci_maximum{120000};     ///< PCI_MRT: largest PCI delay.
    unsigned pci_max_retransmissions = 5;              ///< PCI_MRC.
    std::chrono::milliseconds request_initial{1000};   ///< REQ_IRT: first request delay.
    std::chrono::milliseconds request_maximum{30000};  ///< REQ_MRT: largest request delay.
    unsigned request_max_retransmissions = 10;         ///< REQ_MRC.
    /** Apply the RFC's ±10% random factor (false: exact doubling, for reproducible tests). */
    bool jitter = true;
};

/** Where a session stands. */
enum class pana_session_state {
    idle,              ///< Not started (PaC waiting for a PAR[S], PAA before start()).
    handshake,         ///< PCI sent or PAR[S] outstanding.
    authenticating,    ///< EAP in progress.
    open,              ///< Authenticated; keyed (AUTH on every message).
    reauthenticating,  ///< EAP re-authentication in progress on an open session.
    terminating,       ///< PTR sent, waiting for PTA.
    closed,            ///< Ended: see error() for why (empty after a clean termination).
};

/** Counters of what a session dropped or repeated (for tests and monitoring). */
struct pana_session_stats {
    std::uint64_t malformed = 0;        ///< Datagrams the codec rejected.
    std::uint64_t bad_auth = 0;         ///< Messages with a missing or wrong AUTH AVP.
    std::uint64_t bad_sequence = 0;     ///< Requests or answers with an unexpected number.
    std::uint64_t unexpected = 0;       ///< Well-formed messages the state does not expect.
    std::uint64_t duplicates = 0;       ///< Retransmitted requests answered from the cache.
    std::uint64_t retransmissions = 0;  ///< Requests (or PCIs) this end sent again.
};

/** What a session established. */
struct pana_session_info {
    std::uint32_t session_id = 0;  ///< The session identifier chosen by the PAA.
    std::uint32_t key_id = 0;      ///< The Key-Id of the current MSK.
    /** Session-Lifetime granted by the PAA. The PAA terminates the session (cause
     *  session_timeout) when it runs out; the PaC's owner re-authenticates before that. */
    std::chrono::seconds lifetime{0};
    std::optional<pana_result> result;  ///< Result-Code of the last authentication.
    core::byte_vector msk;              ///< The MSK of the last successful EAP run. Secret.
    core::byte_vector auth_key;         ///< PANA_AUTH_KEY derived from it. Secret.
    std::string peer_identity;          ///< The PaC identity (PAA side, from EAP).
    std::uint32_t prf = 0;              ///< Negotiated PRF algorithm id.
    std::uint32_t integrity = 0;        ///< Negotiated integrity algorithm id.
    std::uint64_t authentications = 0;  ///< Successful (re-)authentications so far.
    std::optional<pana_termination_cause> termination_cause;  ///< Why it was terminated.
};

/** PAA configuration. */
struct pana_paa_settings {
    /** PRF algorithms offered, preferred first. */
    std::vector<std::uint32_t> prf_algorithms{static_cast<std::uint32_t>(pana_prf::hmac_sha2_256),
                                              static_cast<std::uint32_t>(pana_prf::hmac_sha1)};
    /** Integrity algorithms offered, preferred first. */
    std::vector<std::uint32_t> integrity_algorithms{
        static_cast<std::uint32_t>(pana_integrity::hmac_sha2_256_128),
        static_cast<std::uint32_t>(pana_integrity::hmac_sha1_160)};
    std::chrono::seconds session_lifetime{3600};  ///< Session-Lifetime granted on success.
    pana_timers timers;                           ///< Retransmission parameters.
};

/** PaC configuration. */
struct pana_pac_settings {
    /** PRF algorithms accepted, preferred first (the PAA's order wins among these). */
    std::vector<std::uint32_t> prf_algorithms{static_cast<std::uint32_t>(pana_prf::hmac_sha2_256),
                                              static_cast<std::uint32_t>(pana_prf::hmac_sha1)};
    /** Integrity algorithms accepted. */
    std::vector<std::uint32_t> integrity_algorithms{
        static_cast<std::uint32_t>(pana_integrity::hmac_sha2_256_128),
        static_cast<std::uint32_t>(pana_integrity::hmac_sha1_160)};
    pana_timers timers;  ///< Retransmission parameters.
};

/** Creates the EAP authenticator of one (re-)authentication; called on the session's thread. */
using eap_authenticator_factory = std::function<std::unique_ptr<eap_authenticator>()>;

/**
 * Computes prf+ (RFC 7296 §2.13): T1 | T2 | ... truncated, Tn = prf(K, Tn-1 | S | n).
 * @param prf pana_prf::hmac_sha1 or hmac_sha2_256
 * @param key K
 * @param seed S
 * @param size bytes wanted (at most 255 blocks)
 * @return the key stream (empty for an unknown PRF or a too large size)
 */
IMSP2P_PANA_EXPORT core::byte_vector pana_prf_plus(std::uint32_t prf, core::byte_view key,
                                                   core::byte_view seed, std::size_t size);

/**
 * The PAA end of one PANA session.
 */
class IMSP2P_PANA_EXPORT pana_paa_session {
  public:
    /**
     * Creates a session (idle until start() or a PCI arrives through on_datagram()).
     * @param session_id the non-zero session identifier
     * @param factory creates the EAP authenticator of each (re-)authentication; kept
     * @param settings the configuration (copied)
     */
    pana_paa_session(std::uint32_t session_id, eap_authenticator_factory factory,
                     pana_paa_settings settings);
    /** Destroys the session; keys are wiped. */
    ~pana_paa_session();
    /** Moves a session. @param other the source, left empty */
    pana_paa_session(pana_paa_session&& other) noexcept;
    /** Moves a session. @param other the source, left empty @return *this */
    pana_paa_session& operator=(pana_paa_session&& other) noexcept;

    /**
     * Starts the session (PAA-initiated, or after a PCI): sends PAR[S]. Ignored unless idle.
     * @param now the current time
     */
    void start(pana_clock::time_point now);
    /**
     * Handles one received datagram (a PCI starts an idle session). Bad input is counted in
     * stats() and dropped without any state change.
     * @param datagram the UDP payload
     * @param now the current time
     */
    void on_datagram(core::byte_view datagram, pana_clock::time_point now);
    /**
     * Handles timers due at @p now (retransmission, session lifetime expiry).
     * @param now the current time
     */
    void on_timer(pana_clock::time_point now);
    /**
     * Starts a PAA-initiated re-authentication (PAR with a new EAP conversation). Ignored
     * unless open.
     * @param now the current time
     */
    void reauthenticate(pana_clock::time_point now);
    /**
     * Sends a ping (PNR[P]). Ignored unless open and no request is outstanding.
     * @param now the current time
     */
    void ping(pana_clock::time_point now);
    /**
     * Terminates the session (PTR). Ignored unless open.
     * @param cause the Termination-Cause
     * @param now the current time
     */
    void terminate(pana_termination_cause cause, pana_clock::time_point now);

    /** @return the datagrams to send since the last call (moved out), in order */
    std::vector<core::byte_vector> take_datagrams();
    /** @return when on_timer() must be called next, if any timer runs */
    std::optional<pana_clock::time_point> next_deadline() const;
    /** @return the state */
    pana_session_state state() const noexcept;
    /** @return what the session established (valid while the session lives unchanged) */
    const pana_session_info& info() const noexcept;
    /** @return the drop counters */
    const pana_session_stats& stats() const noexcept;
    /** @return why the session closed: errc::pana_timeout, pana_authentication_rejected,
     *  pana_no_common_algorithm; empty while running and after a termination by either end
     *  (info().termination_cause says why) */
    std::error_code error() const noexcept;

    /** The implementation (private). */
    struct impl;

  private:
    std::unique_ptr<impl> impl_;
};

/**
 * The PaC end of one PANA session.
 */
class IMSP2P_PANA_EXPORT pana_pac_session {
  public:
    /**
     * Creates a session, idle: it waits for a PAA-initiated PAR[S] unless start() sends a PCI.
     * @param peer the EAP peer (owned; used for the first authentication and every
     *        re-authentication)
     * @param settings the configuration (copied)
     */
    pana_pac_session(std::unique_ptr<eap_peer> peer, pana_pac_settings settings);
    /** Destroys the session; keys are wiped. */
    ~pana_pac_session();
    /** Moves a session. @param other the source, left empty */
    pana_pac_session(pana_pac_session&& other) noexcept;
    /** Moves a session. @param other the source, left empty @return *this */
    pana_pac_session& operator=(pana_pac_session&& other) noexcept;

    /**
     * PaC-initiated start: sends a PCI (retransmitted until a PAR[S] arrives). Ignored unless
     * idle.
     * @param now the current time
     */
    void start(pana_clock::time_point now);
    /**
     * Handles one received datagram; bad input is counted in stats() and dropped.
     * @param datagram the UDP payload
     * @param now the current time
     */
    void on_datagram(core::byte_view datagram, pana_clock::time_point now);
    /**
     * Handles timers due at @p now (retransmissions).
     * @param now the current time
     */
    void on_timer(pana_clock::time_point now);
    /**
     * Asks for re-authentication (PNR[A]); the PAA then runs EAP again. Ignored unless open.
     * @param peer a fresh EAP peer for the new conversation, or nullptr to reuse the current
     * @param now the current time
     */
    void reauthenticate(std::unique_ptr<eap_peer> peer, pana_clock::time_point now);
    /**
     * Sends a ping (PNR[P]). Ignored unless open and no request is outstanding.
     * @param now the current time
     */
    void ping(pana_clock::time_point now);
    /**
     * Terminates the session (PTR). Ignored unless open.
     * @param cause the Termination-Cause (usually logout)
     * @param now the current time
     */
    void terminate(pana_termination_cause cause, pana_clock::time_point now);

    /** @return the datagrams to send since the last call (moved out), in order */
    std::vector<core::byte_vector> take_datagrams();
    /** @return when on_timer() must be called next, if any timer runs */
    std::optional<pana_clock::time_point> next_deadline() const;
    /** @return the state */
    pana_session_state state() const noexcept;
    /** @return what the session established (valid while the session lives unchanged) */
    const pana_session_info& info() const noexcept;
    /** @return the drop counters */
    const pana_session_stats& stats() const noexcept;
    /** @return why the session closed: errc::pana_timeout, pana_authentication_rejected,
     *  pana_no_common_algorithm, pana_session_terminated (the PAA terminated it, cause in
     *  info().termination_cause); empty while running and after its own terminate() */
    std::error_code error() const noexcept;

    /** The implementation (private). */
    struct impl;

  private:
    std::unique_ptr<impl> impl_;
};

}  // namespace imsp2p::pana
