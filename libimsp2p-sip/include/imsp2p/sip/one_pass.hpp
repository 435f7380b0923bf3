/**
 * @file
 * One-pass IMS registration (seed 001 App. A): the UE's first REGISTER proves possession of the
 * token that its EAP-TLS access authentication (libimsp2p-pana eap_tls.hpp) exported, and the
 * S-CSCF answers 200 at once, saving the 401 round trip of Digest AKA.
 *
 * **Where the token goes.** The seed put the token itself in the Digest nonce. Here the UE never
 * sends the token: its first REGISTER carries a header of a scheme of its own,
 *
 *     Authorization: PANA-Token username="<IMPI>", realm="<realm>", uri="<Request-URI>",
 *                    cnonce="<random>", response="<proof>"
 *
 * with proof = base64url(HMAC-SHA256(token, "PANA-Token" LF method LF Request-URI LF IMPI LF
 * realm LF cnonce)) (no padding). This is a proof of possession, not a disclosure: someone who
 * reads the REGISTER learns nothing that lets them build another proof, and the token is
 * single-use at the HSS, so the same header cannot be replayed. A separate scheme (rather than
 * abusing Digest's nonce) lets any registrar that does not know it ignore it and challenge as
 * usual, which is exactly the fallback wanted.
 *
 * **Verification.** make_one_pass_authenticator() wraps the core's normal authenticator: a
 * REGISTER with PANA-Token credentials is checked against the HSS token store
 * (pana::token_store::consume(): present, unused, unexpired, proof right, then marked used in
 * the same transaction); on success the IMPI is authenticated with no challenge. Any mismatch
 * (unknown, used or expired token, wrong proof, wrong realm or URI, malformed header) is handed
 * to the wrapped authenticator without credentials, so the UE gets the normal AKA 401 challenge
 * and its fallback credentials provider answers it.
 *
 * Not covered by the proof: Call-ID, CSeq and Contact. The single-use token bounds the
 * exposure to one racing request.
 *
 * **Identity body (RFC 3893, optional).** With one_pass_credentials::attach_identity_body() the
 * first REGISTER also carries a CMS-signed message/sipfrag of its From, To, Call-ID, CSeq, Date
 * and Contact (identity_body.hpp), signed with the UE's EAP-TLS certificate. An S-CSCF given
 * one_pass_aib_settings verifies it (signature, chain, rfc822Name = IMPI, request fields, Date
 * window) before the token; any failure, or a missing body when it is required, falls back to
 * the AKA challenge like any other mismatch, and leaves the token unconsumed.
 */
#pragma once

#include <imsp2p/sip/export.hpp>
#include <imsp2p/sip/identity_body.hpp>
#include <imsp2p/sip/ims_core.hpp>
#include <imsp2p/sip/user_agent.hpp>

#include <imsp2p/core/bytes.hpp>
#include <imsp2p/core/crypto.hpp>
#include <imsp2p/core/log.hpp>

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <mutex>
#include <optional>
#include <string>

namespace imsp2p::pana {
class token_store;
}  // namespace imsp2p::pana

namespace imsp2p::sip {

/** The Authorization scheme of one-pass registration. */
inline constexpr char one_pass_scheme[] = "PANA-Token";

/** The fields a one-pass proof covers. */
struct one_pass_proof_input {
    std::string method;       ///< The request method ("REGISTER").
    std::string request_uri;  ///< The Request-URI, as in the uri parameter.
    std::string impi;         ///< The private identity, as in the username parameter.
    std::string realm;        ///< The home realm, as in the realm parameter.
    std::string cnonce;       ///< The client nonce, as in the cnonce parameter.
};

/**
 * Computes the proof of possession (see the file comment).
 * @param token the one-pass token
 * @param input the covered fields
 * @return base64url (unpadded) of the HMAC-SHA256
 */
IMSP2P_SIP_EXPORT std::string compute_one_pass_proof(core::byte_view token,
                                                     const one_pass_proof_input& input);

/**
 * Builds the whole Authorization value of a first REGISTER, with a fresh random cnonce.
 * @param token the one-pass token
 * @param impi the private identity
 * @param realm the home realm
 * @param method the request method
 * @param request_uri the Request-URI
 * @return `PANA-Token username="...", realm="...", uri="...", cnonce="...", response="..."`
 */
IMSP2P_SIP_EXPORT std::string make_one_pass_authorization(core::byte_view token,
                                                          const std::string& impi,
                                                          const std::string& realm,
                                                          const std::string& method,
                                                          const std::string& request_uri);

/** What the user agent tells an initial_authorization_provider about a request it sends. */
struct initial_request {
    std::string method;       ///< The method.
    std::string request_uri;  ///< The Request-URI.
    std::string call_id;      ///< The Call-ID.
    std::uint32_t cseq = 0;   ///< The CSeq number.
    std::string from_uri;     ///< The From URI (no tag).
    std::string to_uri;       ///< The To URI (no tag).
    std::string contact;      ///< The Contact URI the user agent registers.
};

/** What an initial_authorization_provider puts on a request before any challenge. */
struct initial_credentials {
    std::string authorization;  ///< The Authorization header value.
    std::string content_type;   ///< The Content-Type of @ref body (empty without a body).
    std::string body;           ///< A body to send with it (e.g. an RFC 3893 identity body).
};

/**
 * Supplies an Authorization value for a request before any challenge (the user agent asks a
 * credentials provider that also implements this interface, for every REGISTER it sends
 * without credentials). Called on the user agent's stack thread; must not block.
 */
class IMSP2P_SIP_EXPORT initial_authorization_provider {
  public:
    /** Destroys the provider. */
    virtual ~initial_authorization_provider();
    /**
     * @param request the request about to be sent
     * @return the Authorization header value, or std::nullopt to send none
     */
    virtual std::optional<std::string> initial_authorization(const initial_request& request) = 0;
    /**
     * The Authorization and an optional body (what the user agent asks). The default returns
     * initial_authorization() with no body.
     * @param request the request about to be sent
     * @return the credentials, or std::nullopt to send none
     */
    virtual std::optional<initial_credentials> initial_credentials_for(
        const initial_request& request);

  protected:
    initial_authorization_provider() = default;
    /** For derived classes. */
    initial_authorization_provider(const initial_authorization_provider&) = default;
    /** For derived classes. @return *this */
    initial_authorization_provider& operator=(const initial_authorization_provider&) = default;
};

/**
 * The UE side: credentials of a user agent that registers in one pass with the token its PaC
 * obtained, and answers any challenge with a fallback provider (typically aka_credentials).
 *
 * The token is used once: the first REGISTER carries the proof, later requests none; the token
 * is wiped after use and on destruction. Thread-safe (the user agent calls it on its stack
 * thread; token_used() from any thread).
 */
class IMSP2P_SIP_EXPORT one_pass_credentials final : public credentials_provider,
                                                     public initial_authorization_provider {
  public:
    /**
     * @param impi the private identity (the EAP identity the token was exported for)
     * @param realm the home realm the S-CSCF challenges with
     * @param token the token from the PaC (copied into wiped memory)
     * @param fallback answers 401/407 challenges (e.g. AKA); may be null (then challenges fail)
     */
    one_pass_credentials(std::string impi, std::string realm, core::byte_view token,
                         std::shared_ptr<credentials_provider> fallback);
    /** Wipes the token if it is still unused. */
    ~one_pass_credentials() override;

    /**
     * Returns the PANA-Token Authorization for the first REGISTER, once.
     * @param request the request about to be sent
     * @return the header value, or std::nullopt (not a REGISTER, or the token was used)
     */
    std::optional<std::string> initial_authorization(const initial_request& request) override;
    /**
     * As initial_authorization(), plus the RFC 3893 identity body (identity_body.hpp) once
     * attach_identity_body() was called. If the body cannot be built the REGISTER goes without
     * it (the S-CSCF then decides by its own policy).
     * @param request the request about to be sent
     * @return the credentials, or std::nullopt (not a REGISTER, or the token was used)
     */
    std::optional<initial_credentials> initial_credentials_for(
        const initial_request& request) override;
    /**
     * Makes the first REGISTER carry an RFC 3893 identity body signed with the UE's EAP-TLS
     * certificate and key (subjectAltName rfc822Name = the IMPI).
     * @param certificate_pem the certificate (PEM text; copied)
     * @param private_key_pem its private key (PEM text; copied and wiped on destruction)
     */
    void attach_identity_body(std::string certificate_pem, std::string private_key_pem);
    /**
     * Answers a challenge with the fallback provider.
     * @param challenge the challenge
     * @return the fallback's answer, or std::nullopt without one
     */
    std::optional<auth_credentials> answer(const auth_challenge& challenge) override;

    /** @return true once the token has been put in a request */
    [[nodiscard]] bool token_used() const;
    /** @return how many challenges were handed to the fallback (0 after a one-pass success) */
    [[nodiscard]] std::size_t challenges_answered() const;

  private:
    mutable std::mutex mutex_;
    std::string impi_;
    std::string realm_;
    core::secret_bytes token_;
    bool used_ = false;
    std::size_t challenges_ = 0;
    std::string aib_certificate_pem_;
    core::secret_bytes aib_private_key_pem_;
    std::shared_ptr<credentials_provider> fallback_;
};

/**
 * Makes the S-CSCF authenticator of one-pass registration (see the file comment): PANA-Token
 * credentials on a REGISTER are verified against @p store; everything else, and every failed
 * check, goes to @p fallback without the PANA-Token credentials.
 * @param store the HSS token store (borrowed; must outlive the authenticator and be used only
 *        on the core's thread while it runs)
 * @param fallback the normal authenticator (e.g. make_digest_aka_authenticator()); not null
 * @param log where to log one-pass outcomes (the token and proofs are never logged)
 * @return the authenticator
 * @throws std::invalid_argument if @p fallback is null
 */
IMSP2P_SIP_EXPORT std::unique_ptr<authenticator> make_one_pass_authenticator(
    pana::token_store& store, std::unique_ptr<authenticator> fallback,
    core::logger log = core::logger("one-pass"));

/** How the one-pass authenticator treats RFC 3893 identity bodies. */
struct one_pass_aib_settings {
    /** When an identity body is needed. */
    enum class policy {
        if_present,  ///< Verify a body when the REGISTER has one; accept a REGISTER without.
        required,    ///< A one-pass REGISTER without a valid body falls back to the challenge.
    };
    identity_trust_anchors anchors;    ///< The CAs of UE certificates (e.g. the EAP-TLS CA).
    policy when = policy::if_present;  ///< When a body is needed.
    std::chrono::seconds window = identity_body_default_window;  ///< The Date window.
};

/**
 * As make_one_pass_authenticator() above, and verifies RFC 3893 identity bodies (see the file
 * comment) before the token is consumed.
 * @param store the HSS token store (borrowed, as above)
 * @param fallback the normal authenticator; not null
 * @param aib how identity bodies are verified
 * @param log where to log one-pass outcomes
 * @return the authenticator
 * @throws std::invalid_argument if @p fallback is null
 */
IMSP2P_SIP_EXPORT std::unique_ptr<authenticator> make_one_pass_authenticator(
    pana::token_store& store, std::unique_ptr<authenticator> fallback, one_pass_aib_settings aib,
    core::logger log = core::logger("one-pass"));

}  // namespace imsp2p::sip
