/**
 * @file
 * EAP-TLS (RFC 5216 with TLS 1.2, RFC 9190 with TLS 1.3) on OpenSSL memory BIOs, and the
 * one-pass IMS token (seed 001 App. A) both TLS ends export.
 *
 * An eap_tls_context holds the OpenSSL configuration of one side (the CA to verify the other
 * end against, the own certificate chain and private key, the TLS version range); it is created
 * once and shared by every conversation. eap_tls_authenticator (the EAP server, run by the PAA
 * as a local authenticator) and eap_tls_peer (run by the PaC) each serve one conversation: no
 * sockets are involved, TLS records travel in EAP-TLS messages that PANA carries.
 *
 * Conversation (authenticator side): EAP-Request/Identity, the peer's identity (an NAI, for
 * IMS the IMPI), EAP-TLS Start, then TLS records in EAP-TLS messages, fragmented to
 * eap_tls_settings::fragment_size with the L (length included), M (more fragments) and S (start)
 * flags; a fragment is acknowledged with an empty EAP-TLS message. The client certificate is
 * required and verified against the CA; the peer identity must equal one of its subjectAltName
 * rfc822Name entries (case-insensitive, the subject CN is never consulted: it is untyped and the
 * IMPI is an NAI, which is what rfc822Name carries). With TLS 1.3 the server ends the handshake
 * with the protected success indication (one byte 0x00 of application data, RFC 9190 §2.5).
 *
 * Keys (NOTES.md, checked on this platform): TLS 1.2 exports 128 bytes with label
 * "client EAP encryption" and no context; TLS 1.3 exports 128 bytes with label
 * "EXPORTER_EAP_TLS_Key_Material" and context 0x0d. MSK is the first 64 bytes, EMSK the last 64.
 * The one-pass token is 64 bytes exported with label "EXPERIMENTAL_IMS_RESUMPTION" and context
 * "CONTEXT-ASSOCIATION" on both TLS versions. Keys exist only after success and are wiped when
 * the object is destroyed.
 */
#pragma once

#include <imsp2p/pana/eap.hpp>
#include <imsp2p/pana/export.hpp>

#include <imsp2p/core/bytes.hpp>

#include <cstddef>
#include <filesystem>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <system_error>

namespace imsp2p::pana {

/** TLS protocol versions EAP-TLS may run. */
enum class tls_version {
    tls1_2,  ///< TLS 1.2 (RFC 5216 key derivation).
    tls1_3,  ///< TLS 1.3 (RFC 9190 key derivation).
};

/** Which end of the TLS session an eap_tls_context configures. */
enum class eap_tls_role {
    server,  ///< The EAP server (authenticator); requires a client certificate.
    client,  ///< The EAP peer; verifies the server certificate.
};

/** Limits of EAP-TLS framing that do not depend on configuration. */
struct eap_tls_limits {
    /** Smallest fragment size accepted in settings (bytes of TLS data per message). */
    static constexpr std::size_t min_fragment_size = 64;
    /** Largest fragment size accepted (an EAP packet's Length is 16 bits). */
    static constexpr std::size_t max_fragment_size = 65000;
    /** Length of MSK and of EMSK. */
    static constexpr std::size_t key_size = 64;
    /** Length of the one-pass token. */
    static constexpr std::size_t token_size = 64;
};

/**
 * Configuration of one side of EAP-TLS (a value type).
 *
 * Each credential may come from a PEM file or from PEM text in memory; when the *_pem string is
 * not empty it is used and the file is ignored.
 */
struct eap_tls_settings {
    std::filesystem::path ca_file;  ///< PEM file of the CA(s) the other end must chain to.
    std::string ca_pem;             ///< Alternative to ca_file: the PEM text itself.
    /** PEM file: the own certificate first, then intermediates (may be empty for a peer). */
    std::filesystem::path certificate_chain_file;
    std::string certificate_chain_pem;              ///< Alternative to certificate_chain_file.
    std::filesystem::path private_key_file;         ///< PEM file of the own private key.
    std::string private_key_pem;                    ///< Alternative to private_key_file.
    tls_version min_version = tls_version::tls1_2;  ///< Lowest TLS version offered/accepted.
    tls_version max_version = tls_version::tls1_3;  ///< Highest TLS version offered/accepted.
    /**
     * Most TLS bytes per EAP-TLS message (default 1000, so that a PANA datagram with its headers
     * stays below a 1280-byte IPv6 MTU). Between eap_tls_limits::min_fragment_size and
     * max_fragment_size.
     */
    std::size_t fragment_size = 1000;
    /** Largest reassembled TLS message accepted from the other end (the L field's limit). */
    std::size_t max_message_size = 64 * 1024;
    /**
     * Client only: the DNS name the server certificate must carry (subjectAltName dNSName);
     * empty means any server certificate chaining to the CA is accepted.
     */
    std::string expected_server_name;
};

/**
 * The OpenSSL configuration of one side (an SSL_CTX with its CA store and credentials).
 *
 * Immutable after creation and safe to share between threads (every conversation creates its
 * own SSL object from it); hold it in a std::shared_ptr. The private key is kept by OpenSSL
 * until the last conversation using the context ends.
 */
class IMSP2P_PANA_EXPORT eap_tls_context {
  public:
    /**
     * Loads the credentials and builds the context.
     * @param settings the configuration (checked: fragment size in range, min <= max version,
     *        a server must have a certificate and key, the key must match the certificate)
     * @param role server (authenticator) or client (peer)
     * @param ec core::errc::invalid_argument for inconsistent settings, errc::tls_failure if a
     *        PEM input cannot be read or the key does not match; cleared on success
     * @return the context, or nullptr on error
     */
    static std::shared_ptr<const eap_tls_context> create(const eap_tls_settings& settings,
                                                         eap_tls_role role, std::error_code& ec);
    /**
     * Throwing form of create().
     * @param settings the configuration
     * @param role server or client
     * @return the context
     * @throws std::system_error with the codes of the std::error_code overload
     */
    static std::shared_ptr<const eap_tls_context> create(const eap_tls_settings& settings,
                                                         eap_tls_role role);

    /** Frees the SSL_CTX (once no conversation holds it). */
    ~eap_tls_context();
    eap_tls_context(const eap_tls_context&) = delete;             ///< Not copyable.
    eap_tls_context& operator=(const eap_tls_context&) = delete;  ///< Not copyable.

    /** @return the settings the context was created from */
    const eap_tls_settings& settings() const noexcept;
    /** @return the role chosen at creation */
    eap_tls_role role() const noexcept;

  private:
    friend class eap_tls_authenticator;
    friend class eap_tls_peer;
    struct impl;
    explicit eap_tls_context(std::unique_ptr<impl> state);
    std::unique_ptr<impl> impl_;
};

/**
 * Called by eap_tls_authenticator once, on success, with the peer identity (the IMPI) and the
 * 64-byte one-pass token; called on the thread that called on_response(), before it returns.
 * The token view is valid only during the call. Typically stores the token at the HSS
 * (token_store.hpp). An exception it throws is caught: the authentication still succeeds (the
 * UE's one-pass REGISTER then falls back to the AKA challenge).
 */
using eap_tls_token_sink = std::function<void(const std::string& identity, core::byte_view token)>;

/**
 * The EAP-TLS server of one conversation (RFC 3748 authenticator, local to the PAA).
 *
 * Not thread-safe: the PAA calls it from the thread running the PANA session. Movable neither
 * way (the PAA owns it through std::unique_ptr<eap_authenticator>). After a failure every
 * further response is answered with EAP-Failure and error() says why the conversation failed.
 */
class IMSP2P_PANA_EXPORT eap_tls_authenticator final : public eap_authenticator {
  public:
    /**
     * Creates a conversation.
     * @param context a server context (eap_tls_role::server); shared, kept alive by this object
     * @param token_sink optional; receives the identity and token on success
     * @throws std::system_error core::errc::invalid_argument if the context is null or a client
     *         context
     */
    explicit eap_tls_authenticator(std::shared_ptr<const eap_tls_context> context,
                                   eap_tls_token_sink token_sink = {});
    /** Wipes MSK, EMSK and token and frees the SSL object. */
    ~eap_tls_authenticator() override;
    eap_tls_authenticator(const eap_tls_authenticator&) = delete;             ///< Not copyable.
    eap_tls_authenticator& operator=(const eap_tls_authenticator&) = delete;  ///< Not copyable.

    /**
     * Starts the conversation.
     * @return EAP-Request/Identity (identifier chosen at random), status in_progress; a second
     *         call returns EAP-Failure with status failure
     */
    eap_step start() override;
    /**
     * Handles one EAP response. A response whose identifier does not match the outstanding
     * request, or that cannot be parsed, is ignored (empty message, status unchanged, error()
     * set to the reason) as RFC 3748 §4.1 asks; a well-formed response that breaks the method
     * (bad framing, oversized L, TLS alert, certificate rejected, identity mismatch) ends the
     * conversation with EAP-Failure.
     * @param response the EAP packet
     * @return the next request, or EAP-Success / EAP-Failure with the final status
     */
    eap_step on_response(core::byte_view response) override;

    /** @return the MSK (64 bytes) after success, empty before or after failure */
    core::byte_vector msk() const override;
    /** @return the EMSK (64 bytes) after success, empty before or after failure */
    core::byte_vector emsk() const override;
    /** @return the NAI from EAP-Identity (empty before it arrives) */
    std::string peer_identity() const override;
    /** @return the one-pass token (64 bytes) after success, empty otherwise */
    core::byte_vector token() const;
    /** @return the TLS version negotiated, once the handshake has finished */
    std::optional<tls_version> version() const;
    /** @return the status after the last step */
    eap_status status() const noexcept;
    /**
     * @return the reason of the failure (errc::eap_tls_certificate_rejected,
     *         eap_tls_identity_mismatch, eap_fragment_too_large, eap_tls_framing, tls_failure,
     *         eap_malformed, eap_unexpected_message), or the reason the last input was
     *         ignored; empty while all went well
     */
    std::error_code error() const noexcept;

  private:
    struct impl;
    std::unique_ptr<impl> impl_;
};

/**
 * The EAP-TLS peer of one conversation (run by the PaC).
 *
 * Answers EAP-Request/Identity with its identity, then runs the TLS client. The server
 * certificate must chain to the CA of the context (and carry expected_server_name when set);
 * otherwise the peer sends a TLS alert and fails. Not thread-safe: the PaC calls it from the
 * thread running its PANA session.
 */
class IMSP2P_PANA_EXPORT eap_tls_peer final : public eap_peer {
  public:
    /**
     * Creates a conversation.
     * @param context a client context (eap_tls_role::client); shared, kept alive by this object
     * @param identity the NAI to answer EAP-Identity with (for IMS the IMPI)
     * @throws std::system_error core::errc::invalid_argument if the context is null or a server
     *         context
     */
    eap_tls_peer(std::shared_ptr<const eap_tls_context> context, std::string identity);
    /** Wipes MSK, EMSK and token and frees the SSL object. */
    ~eap_tls_peer() override;
    eap_tls_peer(const eap_tls_peer&) = delete;             ///< Not copyable.
    eap_tls_peer& operator=(const eap_tls_peer&) = delete;  ///< Not copyable.

    /**
     * Handles one packet from the authenticator. Malformed packets are ignored (empty message,
     * status unchanged, error() set); a TLS failure (e.g. the server certificate is rejected)
     * returns status failure together with the EAP-TLS response carrying OpenSSL's TLS alert,
     * which the caller should still send so the authenticator learns why. EAP-Success counts
     * only once the TLS handshake (and for TLS 1.3 the protected success indication) has
     * completed; before that it is a failure. Once the status is success or failure, further
     * packets change nothing (empty message, same status).
     * @param packet the EAP packet
     * @return the response and the status
     */
    eap_step on_packet(core::byte_view packet) override;

    /** @return the MSK (64 bytes) after success, empty otherwise */
    core::byte_vector msk() const override;
    /** @return the EMSK (64 bytes) after success, empty otherwise */
    core::byte_vector emsk() const override;
    /** @return the one-pass token (64 bytes) after success, empty otherwise */
    core::byte_vector token() const;
    /** @return the TLS version negotiated, once the handshake has finished */
    std::optional<tls_version> version() const;
    /** @return the status after the last step */
    eap_status status() const noexcept;
    /** @return why the conversation failed or the last input was ignored; empty if all well */
    std::error_code error() const noexcept;

  private:
    struct impl;
    std::unique_ptr<impl> impl_;
};

}  // namespace imsp2p::pana
