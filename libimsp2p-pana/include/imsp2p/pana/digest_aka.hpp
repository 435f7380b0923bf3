/**
 * @file
 * HTTP Digest AKA (RFC 3310, RFC 4169) on both ends, independent of the transport: the server
 * (registrar / S-CSCF) turns an authentication vector into a challenge and verifies the answer;
 * the client (UE) runs its USIM on the challenge and builds the credentials.
 *
 * The exchange: the server asks the HSS for a vector, makes an aka_server_challenge and sends
 * challenge() in a 401 (WWW-Authenticate); the client parses it and calls answer_aka_challenge()
 * with its usim; the server parses the Authorization header and calls verify(). When the USIM
 * found the SQN stale, the credentials carry `auts` and verify() says so: the server passes the
 * AUTS and the challenge's RAND to hss::resynchronise(), then challenges again with a fresh
 * vector.
 */
#pragma once

#include <imsp2p/pana/digest.hpp>
#include <imsp2p/pana/export.hpp>
#include <imsp2p/pana/hss.hpp>
#include <imsp2p/pana/usim.hpp>

#include <imsp2p/core/bytes.hpp>

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <system_error>

namespace imsp2p::pana {

/** The request an answer or a verification is about (method, URI and body, as in SIP). */
struct digest_request {
    std::string_view method;  ///< The request method, e.g. "REGISTER".
    std::string_view uri;     ///< The digest-uri (SIP Request-URI), e.g. "sip:ims.example.net".
    core::byte_view body;     ///< The message body (used with qop=auth-int).
};

/** Options of a server challenge. */
struct aka_challenge_options {
    /** AKAv1-MD5 (the IMS default) or AKAv2-MD5. */
    digest_algorithm algorithm = digest_algorithm::akav1_md5;
    /** Also offer qop=auth-int (qop=auth is always offered). */
    bool offer_auth_int = false;
    /** Server data appended to RAND || AUTN in the nonce (makes the nonce unique per server). */
    core::byte_vector server_data;
    /** The opaque value; empty: 16 random bytes, hex. */
    std::string opaque;
};

/** What the server concluded from credentials. */
enum class aka_verdict {
    authenticated,  ///< RES was right: the user is authenticated; CK and IK may be used.
    resynchronise,  ///< The USIM sent AUTS: resynchronise the HSS, then challenge again.
};

/** The result of aka_server_challenge::verify(). */
struct aka_verification {
    aka_verdict verdict = aka_verdict::authenticated;  ///< The conclusion.
    std::optional<aka_auts> auts;                      ///< The AUTS (resynchronise only).
    aka_rand rand{};  ///< The RAND of the challenge (for hss::resynchronise()).
};

/**
 * Server state for one outstanding Digest AKA challenge (what a registrar remembers between
 * the 401 and the next request).
 *
 * A value type holding a copy of the vector (XRES, CK and IK are wiped on destruction). One
 * object is not safe for concurrent use (verify() updates the nonce count).
 */
class IMSP2P_PANA_EXPORT aka_server_challenge {
  public:
    /**
     * Creates a challenge from an authentication vector.
     * @param vector the vector from the HSS
     * @param username the identity the challenge is for (in IMS the IMPI)
     * @param realm the realm
     * @param options algorithm, qop, server data, opaque
     * @throws std::system_error with core::errc::crypto_failure if random generation fails
     */
    aka_server_challenge(const authentication_vector& vector, std::string username,
                         std::string realm, aka_challenge_options options = {});

    /** @return the challenge to send (the WWW-Authenticate value is challenge().to_string()) */
    const digest_challenge& challenge() const noexcept { return challenge_; }
    /** @return the vector the challenge was made from */
    const authentication_vector& vector() const noexcept { return vector_; }
    /** @return the identity the challenge is for */
    const std::string& username() const noexcept { return username_; }

    /**
     * Verifies credentials against this challenge. The realm, nonce, opaque, algorithm and
     * username must match and the uri must equal @p request.uri; with AUTS present the verdict
     * is resynchronise (the response is not checked: RFC 3310 §3.4 computes it with an empty
     * password, so it proves nothing); otherwise qop must be one offered, the nonce count must
     * exceed every count accepted before, and the response must match the one computed from
     * XRES (constant-time comparison).
     * @param credentials the parsed Authorization value
     * @param request the request that carried them
     * @param ec errc::digest_challenge_mismatch, errc::digest_unsupported (qop missing or not
     *        offered), errc::digest_nonce_count_reused, errc::digest_response_mismatch;
     *        cleared on success
     * @return the verdict (meaningful only without error)
     */
    aka_verification verify(const digest_credentials& credentials, const digest_request& request,
                            std::error_code& ec);

  private:
    authentication_vector vector_;
    std::string username_;
    digest_algorithm algorithm_;
    digest_challenge challenge_;
    std::uint32_t last_nonce_count_ = 0;
};

/** The client's side of the request: who it is and what it sends. */
struct digest_client_request {
    std::string username;           ///< The user name (in IMS the IMPI).
    digest_request request;         ///< Method, URI and body of the request being authorised.
    std::string cnonce;             ///< The client nonce; empty: 16 random bytes, hex.
    std::uint32_t nonce_count = 1;  ///< nc to send (1 for the first use of a nonce).
};

/** The client's answer to an AKA challenge. */
struct aka_client_answer {
    aka_status status = aka_status::authenticated;  ///< authenticated or synchronisation_failure.
    digest_credentials credentials;  ///< What to send (Authorization value: to_string()).
    aka_ck ck{};                     ///< CK for IPsec/TLS set-up (authenticated only). Secret.
    aka_ik ik{};                     ///< IK (authenticated only). Secret.

    /** Wipes CK and IK. */
    ~aka_client_answer() {
        wipe(ck);
        wipe(ik);
    }
};

/**
 * Answers a Digest AKA challenge with a USIM: decodes RAND and AUTN from the nonce, runs the
 * USIM and builds credentials. qop "auth" is chosen when offered, else "auth-int", else none.
 * On success the response is computed from RES (AKAv1) or the AKAv2 password; on a
 * synchronisation failure the credentials carry `auts` and a response computed with an empty
 * password (RFC 3310 §3.4). The USIM's SQN window changes on success: save it afterwards.
 * @param card the USIM
 * @param challenge the parsed WWW-Authenticate value
 * @param request who the client is and what it sends
 * @param ec errc::digest_unsupported (algorithm not AKAv1/AKAv2-MD5, or no usable qop),
 *        errc::bad_aka_nonce, errc::mac_failure (the network is not genuine: send nothing that
 *        depends on the keys); cleared on success or synchronisation failure
 * @return the answer (meaningful only without error)
 */
IMSP2P_PANA_EXPORT aka_client_answer answer_aka_challenge(usim& card,
                                                          const digest_challenge& challenge,
                                                          const digest_client_request& request,
                                                          std::error_code& ec);

}  // namespace imsp2p::pana
