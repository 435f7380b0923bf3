/**
 * @file
 * The development IMS core: one process playing P-CSCF, S-CSCF and HSS, for development and
 * tests (production uses a real IMS: Kamailio IMS, Open5GS...). It runs on Sofia-SIP's
 * transaction layer (nta) and is transaction-stateful.
 *
 * What it does:
 * - **Registrar** (S-CSCF + HSS): REGISTER is challenged with HTTP Digest (401,
 *   WWW-Authenticate), verified by an authenticator (MD5 against the subscriber_registry's HA1
 *   by default; an AKA authenticator plugs in through the same interface), and answered 200
 *   with every current binding in Contact (`;expires=`), P-Associated-URI and a Service-Route
 *   to the core (a UE may pre-load it as Route; the core pops its own Route). Expires 0 (or
 *   `Contact: *`) unregisters. Bindings live in memory and in SQLite, so they survive a
 *   restart, and lapse when they expire.
 * - **Originating requests** from UEs (MESSAGE, PUBLISH, SUBSCRIBE...): the UE is identified
 *   either by its registration flow (the request comes from the address, port and transport the
 *   REGISTER came from, as a P-CSCF trusts its security association), or, when it does not,
 *   by HTTP Digest proxy authentication (407, Proxy-Authenticate). Any P-Asserted-Identity the
 *   UE sent is removed and the authenticated IMPU is asserted instead. The request then goes
 *   where the first matching initial filter criterion points (the AS), with a Record-Route for
 *   SUBSCRIBE so in-dialog NOTIFYs come back through the core; without a match it goes to the
 *   registered contact of the Request-URI (UE to UE), else 404.
 * - **Terminating requests** from a trusted AS (by source address and port) to an IMPU go to
 *   that user's registered contact (the most recently refreshed binding; no forking), with the
 *   Request-URI rewritten to it: 404 when the user does not exist, 480 when it is not
 *   registered. The AS's P-Asserted-Identity is kept.
 * - In-dialog requests that carry the core's Route are relayed to their Request-URI.
 *
 * Forwarding is a stateful proxy: each incoming server transaction (nta_incoming_t) gets a
 * copy of its request sent as a client transaction (nta_outgoing_mcreate), and the responses
 * (except 100) are relayed back with the core's Via removed (nta_incoming_mreply).
 *
 * Threads: the Sofia-SIP root runs on a thread of its own, started by start() and joined by
 * stop(); all SIP processing, the subscriber_registry and the authenticator are used on that
 * thread only.
 */
#pragma once

#include <imsp2p/sip/export.hpp>
#include <imsp2p/sip/subscriber_registry.hpp>

#include <imsp2p/core/config.hpp>
#include <imsp2p/core/identity.hpp>
#include <imsp2p/core/log.hpp>

#include <chrono>
#include <cstdint>
#include <filesystem>
#include <functional>
#include <memory>
#include <string>
#include <vector>

namespace imsp2p::pana {
class subscriber_store;
}  // namespace imsp2p::pana

namespace imsp2p::sip {

/**
 * An initial filter criterion: which requests go to which Application Server. A rule matches
 * when its @ref psi equals the Request-URI, or (without a PSI) when the method matches
 * @ref method (empty: any) and the Request-URI matches @ref request_uri_pattern (an ECMAScript
 * regular expression over the whole URI; empty: any).
 */
struct ifc_rule {
    std::string name;    ///< A label for logs.
    std::string psi;     ///< A Public Service Identity, e.g. "sip:content@ims.example".
    std::string method;  ///< The method to match (case-sensitive), or empty.
    std::string request_uri_pattern;  ///< A regular expression for the Request-URI, or empty.
    std::string as_uri;               ///< Where matching requests go, e.g. "sip:127.0.0.1:5070".
};

/** An Application Server trusted to send terminating requests to users. */
struct trusted_peer {
    std::string address;     ///< Its IP address (literal), e.g. "127.0.0.1".
    std::uint16_t port = 0;  ///< Its source port; 0: any port of that address.
};

/** Settings of the IMS core (a value type; see ims_core_settings::from_config()). */
struct ims_core_settings {
    std::string listen_address = "127.0.0.1";  ///< Address to bind (UDP and TCP).
    std::uint16_t port = 5060;                 ///< Port (UDP and TCP); 0: an ephemeral port.
    /** The home network domain; used as the Digest realm of challenges when not empty,
     *  otherwise the To host of the REGISTER is. */
    std::string realm;
    /** The SQLite file of the subscriber registry; empty: in memory (nothing survives). */
    std::filesystem::path database;
    std::vector<ifc_rule> filter_criteria;       ///< Initial filter criteria, first match wins.
    std::vector<trusted_peer> trusted_as;        ///< Application Servers trusted to terminate.
    std::chrono::seconds default_expires{3600};  ///< Registration lifetime when none is asked.
    std::chrono::seconds min_expires{60};        ///< Shorter registrations get 423.
    std::chrono::seconds max_expires{7200};      ///< Longer registrations are shortened.
    std::chrono::seconds nonce_lifetime{300};    ///< Older nonces are answered stale=true.
    /** Trust requests that come over a registration flow (P-CSCF behaviour) instead of
     *  challenging them with 407. */
    bool trust_registration_flow = true;
    /**
     * The HSS subscriber store (the SQLite file `imsp2p-aka provision --db` writes). When set
     * and no authenticator factory is given to ims_core, subscribers provisioned there
     * register with Digest AKAv1-MD5 (3GPP AKA, RFC 3310) and every other subscriber with
     * Digest MD5. Empty: Digest MD5 only.
     */
    std::filesystem::path hss_database;
    /** The 0600 file holding the HSS master key that wraps K and OPc at rest (as given to
     *  `imsp2p-aka --master-key`); empty: the store is read without one. */
    std::filesystem::path hss_master_key_file;
    /**
     * With hss_database: also accept one-pass REGISTERs (seed 001 App. A, see one_pass.hpp):
     * a PANA-Token proof checked against the HSS's token store (the `one_pass_token` table of
     * the same file, where the PAA deposits the tokens of EAP-TLS access authentications); any
     * mismatch falls back to the Digest AKA challenge.
     */
    bool one_pass = true;
    /**
     * With one_pass: the PEM file of the CA(s) of UE certificates (the EAP-TLS CA) that verify
     * RFC 3893 identity bodies on one-pass REGISTERs (identity_body.hpp); empty: identity
     * bodies are not checked.
     */
    std::filesystem::path one_pass_identity_ca;
    /** With one_pass_identity_ca: a one-pass REGISTER without a valid identity body falls back
     *  to the challenge (otherwise only a body that is present must verify). */
    bool one_pass_identity_required = false;
    /**
     * With hss_database: where the HSS serves the authenticated PAA -> HSS token deposit
     * interface (`POST /v1/one-pass-tokens`, see token_deposit_server.hpp), an IPv4 literal
     * address and a port (0: ephemeral); empty: not served.
     */
    std::string deposit_address;
    std::uint16_t deposit_port = 0;  ///< The port of the deposit interface (0: ephemeral).
    /** The 0600 file holding the 32-byte service key shared with the PAA (`imsp2p-keygen
     *  --type secret32`); required when deposit_address is set. */
    std::filesystem::path deposit_key_file;

    /**
     * Reads settings from a configuration document:
     * `{"listen": {"address": "127.0.0.1", "port": 5060}, "realm": "ims.example",
     *   "data_dir": "/var/lib/imsp2p-ims-core",            // ims-core.sqlite lives here
     *   "registration": {"default_expires": "1h", "min_expires": "60s", "max_expires": "2h"},
     *   "nonce_lifetime": "5m", "trust_registration_flow": true,
     *   "filter_criteria": [{"name": "content", "psi": "sip:content@ims.example",
     *                        "as": "sip:127.0.0.1:5070"},
     *                       {"method": "PUBLISH", "request_uri": "sip:.*@ims\\.example",
     *                        "as": "sip:127.0.0.1:5070"}],
     *   "trusted_as": ["127.0.0.1:5070"],
     *   "hss": {"database": "hss.sqlite", "master_key": "hss-master.key", "one_pass": true,
     *           "identity_body": {"ca": "ue-ca.pem", "required": false},
     *           "deposit": {"listen": "127.0.0.1:0", "key_file": "deposit.key"}}}`.
     * `hss/identity_body` (optional) verifies RFC 3893 identity bodies of one-pass REGISTERs
     * against the CA(s) in `ca`; with `required` a one-pass REGISTER must carry one.
     * `hss/deposit` (optional) serves the PAA's token deposits over HTTP on `listen`
     * ("address:port") authenticated by the 32-byte service key in `key_file`.
     * Relative paths are resolved against the configuration file's folder.
     * @param config the configuration
     * @return the settings
     * @throws std::system_error with core configuration errors (wrong type, bad value)
     */
    static ims_core_settings from_config(const core::config& config);
};

/** What an authenticator is asked to check (one request with its credentials). */
struct auth_request {
    std::string method;       ///< The request method, e.g. "REGISTER".
    std::string request_uri;  ///< The Request-URI.
    std::string body;         ///< The body (for qop=auth-int).
    std::string realm;        ///< The realm to challenge with.
    /** The Authorization (REGISTER) or Proxy-Authorization value, "Digest ...", or empty. */
    std::string credentials;
    /** The public identity the request is for (the To URI of a REGISTER, else the From URI),
     *  so that an AKA authenticator can find the IMPI before any credentials arrive. */
    std::string public_identity;
    std::string from_uri;      ///< The From URI (no tag); for RFC 3893 identity bodies.
    std::string to_uri;        ///< The To URI (no tag).
    std::string call_id;       ///< The Call-ID.
    std::uint32_t cseq = 0;    ///< The CSeq number.
    std::string content_type;  ///< The Content-Type of @ref body (type/subtype), or empty.
};

/** An authenticator's verdict. */
struct auth_result {
    /** The outcome. */
    enum class outcome {
        authenticated,  ///< The credentials are right: @ref impi is authenticated.
        challenge,      ///< Send @ref challenge (401/407): no, stale or unusable credentials.
        rejected,       ///< Wrong credentials or unknown user: answer 403 with @ref reason.
    };
    outcome verdict = outcome::rejected;  ///< The outcome.
    core::impi impi;                      ///< The authenticated private identity.
    std::string challenge;                ///< The WWW-/Proxy-Authenticate value to send.
    std::string reason;                   ///< Why it was rejected (a reason phrase).
};

/**
 * Authenticates requests for the IMS core: the hook for Digest MD5 now and Digest AKA later.
 * Called on the core's Sofia thread only, one call at a time.
 */
class IMSP2P_SIP_EXPORT authenticator {
  public:
    /** Destroys the authenticator (on the thread that used it). */
    virtual ~authenticator();
    /**
     * Checks a request's credentials, or says how to challenge.
     * @param request the request and its credentials
     * @return the verdict
     */
    virtual auth_result authenticate(const auth_request& request) = 0;

  protected:
    authenticator() = default;
    authenticator(const authenticator&) = default;             ///< For derived classes.
    authenticator& operator=(const authenticator&) = default;  ///< For derived classes.
};

/**
 * Makes the Digest MD5 authenticator (RFC 2617/7616, qop=auth or none): stateless HMAC nonces
 * that expire after @p nonce_lifetime, responses checked against the HA1 of the
 * subscriber_registry (the Digest username is the IMPI).
 * @param registry the registry (borrowed; must outlive the authenticator and be used on the
 *        same thread)
 * @param nonce_lifetime how long a nonce is accepted
 * @return the authenticator
 */
IMSP2P_SIP_EXPORT std::unique_ptr<authenticator> make_digest_md5_authenticator(
    subscriber_registry& registry, std::chrono::seconds nonce_lifetime);

/**
 * Makes the Digest AKA authenticator (RFC 3310 AKAv1-MD5, qop=auth, TS 33.203 / TS 24.229):
 * a REGISTER without credentials is answered 401 with a challenge built from one HSS vector
 * (nonce = base64(RAND || AUTN)); the answer is verified with XRES as the password; `auts` in
 * the credentials resynchronises SQN_HE at the HSS and brings a fresh challenge; a wrong RES
 * (or the empty password a UE sends after refusing the network's MAC) is rejected (403). Every
 * nonce is single-use: it is forgotten after one answer (right or wrong) and a later answer
 * quoting it is rejected as a replay; unanswered nonces lapse after @p nonce_lifetime.
 *
 * MD5 or AKA is decided **per subscriber**: an IMPI provisioned in @p store authenticates with
 * AKA only (an MD5 answer is challenged again with AKA: no downgrade); any other user goes to
 * @p fallback (typically make_digest_md5_authenticator() over the same registry), or is
 * rejected when there is none. Before credentials arrive the IMPI is the one the registry
 * associates with auth_request::public_identity.
 * @param store the HSS subscriber store (borrowed; must outlive the authenticator and be used
 *        on the core's thread only while it runs)
 * @param registry the core's registry (borrowed, as for the MD5 authenticator)
 * @param nonce_lifetime how long an unanswered challenge is kept
 * @param fallback the authenticator of users not in @p store; null: they are rejected
 * @return the authenticator
 */
IMSP2P_SIP_EXPORT std::unique_ptr<authenticator> make_digest_aka_authenticator(
    pana::subscriber_store& store, subscriber_registry& registry,
    std::chrono::seconds nonce_lifetime, std::unique_ptr<authenticator> fallback = {});

/**
 * Makes the authenticator of an IMS core once its registry is open (on the core's thread).
 * The default makes the Digest MD5 one.
 */
using authenticator_factory =
    std::function<std::unique_ptr<authenticator>(subscriber_registry& registry)>;

/**
 * The IMS core (P-CSCF + S-CSCF + HSS) on Sofia-SIP; see the file comment. A pimpl facade,
 * not copyable or movable.
 */
class IMSP2P_SIP_EXPORT ims_core {
  public:
    /**
     * Prepares the core; nothing is bound before start().
     * @param settings the settings (copied)
     * @param log where to log (copied; records are written from the Sofia thread)
     * @param make_authenticator makes the authenticator on the Sofia thread; empty: Digest MD5
     */
    explicit ims_core(ims_core_settings settings, core::logger log = core::logger("ims-core"),
                      authenticator_factory make_authenticator = {});
    /** Stops the core if it runs (see stop()). */
    ~ims_core();
    ims_core(const ims_core&) = delete;             ///< Not copyable.
    ims_core& operator=(const ims_core&) = delete;  ///< Not copyable.

    /**
     * Opens the registry, binds UDP and TCP and starts the Sofia thread; returns once the core
     * accepts requests.
     * @throws std::system_error with errc::stack_failure (cannot bind: the text says why) or
     *         database errors
     */
    void start();
    /**
     * Stops the Sofia thread (pending forwarded transactions are answered 503) and closes the
     * sockets and the registry. Idempotent; called from any thread but the Sofia thread.
     */
    void stop();
    /** @return the bound port (after start()), else 0 */
    [[nodiscard]] std::uint16_t port() const noexcept;

  private:
    struct impl;
    std::unique_ptr<impl> impl_;
};

/**
 * Runs the `imsp2p-ims-core` server: starts an ims_core from a configuration, waits for
 * SIGINT or SIGTERM, stops cleanly. Keeps the program's main() thin.
 */
class IMSP2P_SIP_EXPORT ims_core_runner {
  public:
    /**
     * @param config the configuration (see ims_core_settings::from_config(); also "log":
     *        {"level": "info", "format": "text"}); flags are applied to it by the caller
     */
    explicit ims_core_runner(core::config config);
    /**
     * Blocks SIGINT and SIGTERM in the calling thread (so every thread started later inherits
     * the mask), starts the core, waits for one of them, stops.
     * @return the exit status: 0 after a clean stop
     * @throws std::system_error if the core cannot start
     */
    int run();

  private:
    core::config config_;
};

}  // namespace imsp2p::sip
