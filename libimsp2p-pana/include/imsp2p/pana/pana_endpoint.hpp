/**
 * @file
 * PANA over UDP (RFC 5191, port 716 by default; IPv4 and IPv6): a PAA server running many
 * pana_paa_session objects on its own thread, and a blocking PaC client.
 */
#pragma once

#include <imsp2p/pana/eap.hpp>
#include <imsp2p/pana/export.hpp>
#include <imsp2p/pana/pana_session.hpp>

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <system_error>

namespace imsp2p::pana {

/** PAA server configuration. */
struct pana_paa_server_settings {
    /** Literal IPv4 or IPv6 address to listen on ("::" also accepts IPv4 where the system
     *  maps it; "0.0.0.0" for IPv4 only, "127.0.0.1" or "::1" for loopback). */
    std::string address = "::";
    std::uint16_t port = pana_default_port;  ///< UDP port; 0 picks a free one (tests).
    pana_paa_settings session;               ///< Settings of every session.
    std::size_t max_sessions = 10000;        ///< PCIs beyond this many live sessions are dropped.
    /** How long a closed session is kept to answer retransmissions before it is forgotten. */
    std::chrono::milliseconds closed_linger{10000};
};

/** What the server reports when a PaC (re-)authenticates. */
struct pana_authenticated_session {
    std::string pac_address;     ///< The PaC's IP address, as text.
    std::uint16_t pac_port = 0;  ///< The PaC's UDP port.
    pana_session_info info;      ///< Session id, Key-Id, MSK, lifetime, peer identity... (a copy).
};

/**
 * A PAA on a UDP socket, with its own thread.
 *
 * A PCI from a new address creates a session with a fresh random session identifier;
 * later datagrams are routed by session identifier and must come from the same address. All
 * sessions, the EAP authenticators the factory creates and the handler run on the server's
 * thread. Destroying the server (or stop()) closes the socket and joins the thread; sessions
 * are dropped without PANA termination.
 */
class IMSP2P_PANA_EXPORT pana_paa_server {
  public:
    /**
     * Called on the server's thread after every successful authentication and
     * re-authentication; must not block for long and must not destroy the server.
     */
    using authenticated_handler = std::function<void(const pana_authenticated_session&)>;

    /**
     * Binds the socket and starts the server thread.
     * @param settings the configuration
     * @param factory creates one EAP authenticator per (re-)authentication (on the server's
     *        thread)
     * @param on_authenticated the handler (may be empty)
     * @param ec a socket error (address in use, bad address...), cleared on success
     * @return the running server, or nullptr on error
     */
    static std::unique_ptr<pana_paa_server> start(const pana_paa_server_settings& settings,
                                                  eap_authenticator_factory factory,
                                                  authenticated_handler on_authenticated,
                                                  std::error_code& ec);

    /** Stops the server (see stop()). */
    ~pana_paa_server();
    pana_paa_server(const pana_paa_server&) = delete;             ///< Not copyable.
    pana_paa_server& operator=(const pana_paa_server&) = delete;  ///< Not copyable.

    /** @return the bound UDP port (useful when settings.port was 0) */
    std::uint16_t port() const noexcept;
    /** @return the number of sessions the server holds (any thread) */
    std::size_t session_count() const noexcept;
    /** @return the number of successful (re-)authentications so far (any thread) */
    std::uint64_t authentication_count() const noexcept;
    /**
     * Terminates a session (PTR with the cause), asynchronously on the server's thread; ignored
     * if no open session has this identifier. Callable from any thread.
     * @param session_id the session identifier
     * @param cause the Termination-Cause
     */
    void terminate(std::uint32_t session_id, pana_termination_cause cause);
    /** Closes the socket and joins the thread; idempotent; not from the handler. */
    void stop();

    /** The implementation (private). */
    struct impl;

  private:
    explicit pana_paa_server(std::unique_ptr<impl> state);
    std::unique_ptr<impl> impl_;
};

/**
 * A PaC on its own UDP socket (an ephemeral port), driven by blocking calls.
 *
 * The client has no thread: PANA traffic is handled only while authenticate(), ping() or
 * terminate() runs (a PAA-initiated ping or termination in between is answered at the next
 * call, or not at all). Not safe for concurrent use of one object.
 */
class IMSP2P_PANA_EXPORT pana_client {
  public:
    /**
     * Creates a client.
     * @param settings the PaC settings (copied)
     */
    explicit pana_client(pana_pac_settings settings = {});
    /** Closes the socket (no PANA termination: call terminate() first). */
    ~pana_client();
    pana_client(const pana_client&) = delete;             ///< Not copyable.
    pana_client& operator=(const pana_client&) = delete;  ///< Not copyable.

    /**
     * Runs a PaC-initiated authentication (PCI first) and waits until it succeeds or fails.
     * @param paa_address literal IPv4 or IPv6 address of the PAA
     * @param paa_port its UDP port (pana_default_port normally)
     * @param peer the EAP peer (owned by the session)
     * @param timeout the overall limit
     * @param ec errc::pana_timeout (no answer or too slow), errc::pana_authentication_rejected,
     *        errc::pana_no_common_algorithm, a socket error; cleared on success
     * @return the established session (MSK, Key-Id, lifetime...); empty on error
     */
    pana_session_info authenticate(const std::string& paa_address, std::uint16_t paa_port,
                                   std::unique_ptr<eap_peer> peer,
                                   std::chrono::milliseconds timeout, std::error_code& ec);

    /**
     * Re-authenticates an open session (PNR[A], then a new EAP run) and waits.
     * @param peer a fresh EAP peer for the new conversation
     * @param timeout the limit
     * @param ec as for authenticate(); core::errc::invalid_argument without an open session
     * @return the session after re-authentication (new Key-Id); empty on error
     */
    pana_session_info reauthenticate(std::unique_ptr<eap_peer> peer,
                                     std::chrono::milliseconds timeout, std::error_code& ec);

    /**
     * Pings the PAA (PNR[P]) and waits for the answer.
     * @param timeout the limit
     * @param ec errc::pana_timeout; core::errc::invalid_argument without an open session
     */
    void ping(std::chrono::milliseconds timeout, std::error_code& ec);

    /**
     * Terminates the session (PTR, cause logout) and waits for the PTA.
     * @param timeout the limit
     * @param ec errc::pana_timeout; core::errc::invalid_argument without an open session
     */
    void terminate(std::chrono::milliseconds timeout, std::error_code& ec);

    /** @return the session state (idle before authenticate()) */
    pana_session_state state() const noexcept;
    /** @return the session's counters (all zero before authenticate()) */
    pana_session_stats stats() const noexcept;

    /** The implementation (private). */
    struct impl;

  private:
    std::unique_ptr<impl> impl_;
};

}  // namespace imsp2p::pana
