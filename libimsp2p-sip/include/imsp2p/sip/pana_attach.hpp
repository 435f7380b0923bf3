/**
 * @file
 * The UE's whole attachment with one-pass IMS registration (seed 001 App. A): PANA access
 * authentication with EAP-TLS (the PaC), which yields the one-pass token, then a user agent
 * whose first REGISTER proves possession of it (one_pass.hpp), so that the S-CSCF answers 200
 * with no 401 round; any challenge is answered by a fallback provider (e.g. aka_credentials).
 *
 * Usage (e.g. `imsp2p-client register --pana <paa-address>`):
 *
 *     imsp2p::pana::pana_client pac;
 *     sip::pana_attach_settings attach;  // PAA address, EAP-TLS client credentials, IMPI, realm
 *     sip::transaction_result registration;
 *     std::error_code ec;
 *     auto ua = sip::attach_and_register(pac, attach, ua_settings, aka, 30s, registration, ec);
 */
#pragma once

#include <imsp2p/sip/export.hpp>
#include <imsp2p/sip/one_pass.hpp>
#include <imsp2p/sip/user_agent.hpp>

#include <imsp2p/pana/eap_tls.hpp>
#include <imsp2p/pana/pana_endpoint.hpp>
#include <imsp2p/pana/pana_session.hpp>

#include <imsp2p/core/crypto.hpp>
#include <imsp2p/core/log.hpp>

#include <chrono>
#include <cstdint>
#include <memory>
#include <string>
#include <system_error>

namespace imsp2p::sip {

/** Settings of the PANA/EAP-TLS access authentication of a UE (a value type). */
struct pana_attach_settings {
    std::string paa_address;                           ///< Literal IP address of the PAA.
    std::uint16_t paa_port = pana::pana_default_port;  ///< UDP port of the PAA.
    /** The PaC's EAP-TLS credentials: the CA of the PAA, the UE certificate and its key. */
    pana::eap_tls_settings tls;
    /** The IMPI: the EAP identity, which the UE certificate carries as rfc822Name. */
    std::string impi;
    /** The home realm the S-CSCF challenges with (covered by the one-pass proof). */
    std::string realm;
    /** Limit of the whole PANA authentication. */
    std::chrono::milliseconds timeout{std::chrono::seconds(10)};
};

/** The outcome of pana_attach(): the PANA session and the one-pass token. */
struct pana_attachment {
    pana::pana_session_info session;  ///< Session id, Key-Id, MSK (secret), lifetime.
    core::secret_bytes token;         ///< The 64-byte one-pass token (wiped on destruction).
};

/**
 * Runs the PANA access authentication with EAP-TLS on @p pac and returns the one-pass token
 * the TLS session exported. Blocks the calling thread until success, failure or the timeout.
 * @param pac the PaC (borrowed; keeps the PANA session afterwards, so keep it alive while
 *        attached and call terminate() on detach)
 * @param settings the PAA, credentials and identity
 * @param ec errc::tls_failure / core::errc::invalid_argument for unusable credentials, the PANA
 *        errors of pana_client::authenticate(); cleared on success
 * @return the attachment (empty session and token on error)
 */
IMSP2P_SIP_EXPORT pana_attachment pana_attach(pana::pana_client& pac,
                                              const pana_attach_settings& settings,
                                              std::error_code& ec);

/**
 * Attaches with pana_attach(), then starts a user agent that registers in one pass with the
 * token (one_pass_credentials over @p fallback) and waits for the registration's result.
 * @param pac the PaC (borrowed, as for pana_attach())
 * @param attach the access authentication settings (its impi and realm are also those of the
 *        one-pass proof)
 * @param ua the user agent settings; its credentials are replaced by the one-pass credentials
 * @param fallback answers a challenge (the AKA 401 when the core refuses the token); may be null
 * @param register_timeout the limit of the registration
 * @param registration receives the registration's final result (status 0 on a timeout)
 * @param ec as for pana_attach(); the registration's outcome is in @p registration
 * @param log the user agent's logger
 * @return the user agent (it keeps the registration fresh until destroyed), or nullptr when the
 *         access authentication failed
 * @throws std::system_error if the user agent cannot listen (as user_agent's constructor)
 */
IMSP2P_SIP_EXPORT std::unique_ptr<user_agent> attach_and_register(
    pana::pana_client& pac, const pana_attach_settings& attach, user_agent_settings ua,
    std::shared_ptr<credentials_provider> fallback, std::chrono::milliseconds register_timeout,
    transaction_result& registration, std::error_code& ec, core::logger log = core::logger("ua"));

}  // namespace imsp2p::sip
