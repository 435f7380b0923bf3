/**
 * @file
 * The RFC 3893 Authenticated Identity Body (AIB) of a one-pass REGISTER: a message/sipfrag
 * (RFC 3420) copy of the request's identity headers, signed by the UE with the certificate and
 * key it used for EAP-TLS (subjectAltName rfc822Name = IMPI), as CMS SignedData.
 *
 * **Format.** The body is `application/pkcs7-mime; smime-type=signed-data` (RFC 8551), the DER
 * SignedData encapsulating the sipfrag (eContentType id-data), binary as SIP allows (RFC 3261
 * §23.4 uses binary S/MIME bodies). This rather than multipart/signed: the S-CSCF gets one
 * opaque object to verify, with no MIME boundary parsing and no canonicalisation question about
 * the signed part, and a proxy cannot strip or re-encode a separate signature part.
 *
 * **Sipfrag.** RFC 3893 §3: the request line and From, To, Call-ID, CSeq, Date and Contact:
 *
 *     REGISTER sip:ims.example.net SIP/2.0
 *     From: <sip:alice@ims.example.net>
 *     To: <sip:alice@ims.example.net>
 *     Call-ID: 5f0c...
 *     CSeq: 1 REGISTER
 *     Date: Sat, 21 Nov 2026 23:06:03 GMT
 *     Contact: <sip:alice@127.0.0.1:5070>
 *
 * **Verification.** verify_identity_body() checks, in this order and with a distinct error each:
 * CMS structure and sipfrag syntax (errc::identity_body_malformed), the signature
 * (errc::identity_body_bad_signature), the signer's chain to the trusted CAs
 * (errc::identity_body_untrusted_signer), the signer certificate's rfc822Name against the IMPI
 * (errc::identity_body_identity_mismatch), the request line, From and To URIs (tags and display
 * names ignored), Call-ID and CSeq against the request (errc::identity_body_request_mismatch) and
 * Date within the window (errc::identity_body_stale).
 */
#pragma once

#include <imsp2p/sip/export.hpp>

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <memory>
#include <string>
#include <string_view>
#include <system_error>

namespace imsp2p::sip {

/** The Content-Type of an identity body. */
inline constexpr char identity_body_content_type[] =
    "application/pkcs7-mime; smime-type=signed-data; name=smime.p7m";

/** The default Date window of verify_identity_body() (RFC 3893 / RFC 4474 suggest 600 s). */
inline constexpr std::chrono::seconds identity_body_default_window{600};

/** The request fields an identity body covers. */
struct identity_body_request {
    std::string method;       ///< The method, e.g. "REGISTER".
    std::string request_uri;  ///< The Request-URI.
    std::string from_uri;     ///< The From URI (no tag, no angle brackets).
    std::string to_uri;       ///< The To URI.
    std::string call_id;      ///< The Call-ID.
    std::uint32_t cseq = 0;   ///< The CSeq number (the CSeq method is @ref method).
    std::string contact;      ///< The Contact URI (signed, not compared); may be empty.
};

/**
 * Builds the identity body of a request: the sipfrag (with Date = @p now) signed as CMS
 * SignedData by @p certificate_pem / @p private_key_pem.
 * @param request the covered fields
 * @param certificate_pem the signer's certificate (PEM text)
 * @param private_key_pem its private key (PEM text, unencrypted)
 * @param ec set to errc::identity_body_bad_signer if either cannot be loaded or they do not
 *        match, to errc::identity_body_malformed if a field holds CR or LF
 * @param now the Date to put in the sipfrag
 * @return the DER SignedData (binary), empty on error
 */
IMSP2P_SIP_EXPORT std::string make_identity_body(
    const identity_body_request& request, const std::string& certificate_pem,
    const std::string& private_key_pem, std::error_code& ec,
    std::chrono::system_clock::time_point now = std::chrono::system_clock::now());

/**
 * Throwing overload of make_identity_body().
 * @param request the covered fields
 * @param certificate_pem the signer's certificate (PEM text)
 * @param private_key_pem its private key (PEM text)
 * @return the DER SignedData
 * @throws std::system_error on the errors listed above
 */
IMSP2P_SIP_EXPORT std::string make_identity_body(const identity_body_request& request,
                                                 const std::string& certificate_pem,
                                                 const std::string& private_key_pem);

/**
 * The CAs an identity body's signer must chain to (an X509_STORE inside). Immutable after
 * construction; verify from any thread. Copies share the store.
 */
class IMSP2P_SIP_EXPORT identity_trust_anchors {
  public:
    /**
     * Loads the CA certificates of a PEM file.
     * @param ca_file the PEM file (one or more certificates)
     * @param ec set to errc::identity_body_bad_signer if no certificate can be read
     * @return the anchors (empty on error: every verification then fails as untrusted)
     */
    static identity_trust_anchors from_file(const std::filesystem::path& ca_file,
                                            std::error_code& ec);
    /**
     * Loads the CA certificates of PEM text.
     * @param ca_pem the PEM text
     * @param ec set to errc::identity_body_bad_signer if no certificate can be read
     * @return the anchors (empty on error)
     */
    static identity_trust_anchors from_pem(std::string_view ca_pem, std::error_code& ec);

    /** Makes empty anchors (nothing is trusted). */
    identity_trust_anchors();
    /** @return the number of CA certificates loaded */
    [[nodiscard]] std::size_t size() const noexcept;

    /** The implementation (OpenSSL store), shared by copies. */
    struct state;
    /** @return the shared state, for verify_identity_body() */
    [[nodiscard]] const std::shared_ptr<const state>& shared_state() const noexcept {
        return state_;
    }

  private:
    std::shared_ptr<const state> state_;
};

/** What a verifier expects of an identity body. */
struct identity_body_expectation {
    std::string impi;               ///< The IMPI claimed: must be the signer's rfc822Name.
    identity_body_request request;  ///< The request's own fields (contact is not compared).
    /** How far the Date may be from @ref now, either way. */
    std::chrono::seconds window = identity_body_default_window;
    /** The verifier's clock. */
    std::chrono::system_clock::time_point now = std::chrono::system_clock::now();
};

/**
 * Verifies an identity body (see the file comment for the checks and their errors). Thread-safe.
 * @param body the DER SignedData as received
 * @param anchors the trusted CAs
 * @param expected the claimed IMPI and the request's fields
 * @param ec set to the first failing check's error, cleared on success
 * @return true if the body is valid for the request
 */
IMSP2P_SIP_EXPORT bool verify_identity_body(std::string_view body,
                                            const identity_trust_anchors& anchors,
                                            const identity_body_expectation& expected,
                                            std::error_code& ec);

}  // namespace imsp2p::sip
