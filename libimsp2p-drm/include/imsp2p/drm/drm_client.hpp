/**
 * @file
 * A blocking client of the DRM server's HTTP API (drm_server.hpp), for the AS (content
 * registration, grants, revocation, reports) and for the IMS/P2P client (license acquisition).
 *
 * Errors: an RFC 7807 problem document from the server is mapped to the drm errc named by its
 * "type" (e.g. urn:imsp2p:problem:grant-revoked -> errc::grant_revoked; see
 * error_from_problem_type()), or by its status when the type is unknown (400
 * errc::drm_bad_request, 401 errc::drm_unauthorized, 404 errc::unknown_content, other
 * errc::drm_server_error); the document itself is returned in a drm_problem. A server that
 * cannot be reached or does not answer in time gives errc::drm_unavailable.
 *
 * Thread safety: a drm_client is immutable after construction; every call is blocking, runs
 * its own I/O on the calling thread, and may be made from several threads at once. The service
 * token provider is called on the calling thread, possibly concurrently.
 */
#pragma once

#include <imsp2p/core/bytes.hpp>
#include <imsp2p/core/jose.hpp>
#include <imsp2p/drm/drm_service.hpp>
#include <imsp2p/drm/export.hpp>
#include <imsp2p/drm/key_store.hpp>

#include <chrono>
#include <functional>
#include <optional>
#include <string>
#include <string_view>
#include <system_error>
#include <vector>

namespace imsp2p::drm {

/** A problem document (RFC 7807) received from the DRM server. A plain value type. */
struct drm_problem {
    /** The HTTP status (0 when no answer arrived). */
    int status = 0;
    /** The "type" URI, e.g. "urn:imsp2p:problem:grant-revoked" (empty if absent). */
    std::string type;
    /** The "title". */
    std::string title;
    /** The "detail": the server's precise reason (or the transport error's message). */
    std::string detail;
};

/**
 * A std::system_error that also carries the server's problem document (thrown by the
 * throwing overloads of drm_client).
 */
class IMSP2P_DRM_EXPORT drm_client_error : public std::system_error {
  public:
    /**
     * @param ec the mapped error
     * @param problem the problem document (its detail becomes part of what())
     */
    drm_client_error(std::error_code ec, drm_problem problem);
    /** @return the problem document. */
    [[nodiscard]] const drm_problem& problem() const noexcept { return problem_; }

  private:
    drm_problem problem_;
};

/** Settings of a drm_client. A value type. */
struct drm_client_settings {
    /** The server's base URL, `http://host:port` (a path prefix is allowed). */
    std::string base_url = "http://127.0.0.1:8088";
    /** The time limit of one whole exchange (connect, request, response). */
    std::chrono::milliseconds timeout{10000};
    /** A fixed service JWT for service calls (used when service_token_provider is empty). */
    std::string service_token;
    /**
     * Mints a fresh service JWT per call (e.g. the AS's ticket_issuer with aud "drm", role
     * "service"); called on the calling thread, possibly concurrently; must not throw.
     */
    std::function<std::string()> service_token_provider;
};

/**
 * Encrypts a 32-byte content key to the DRM server's X25519 key, as content_registration::cek
 * expects (JWE ECDH-ES+A256KW / A256GCM, header "kid" = the key's kid).
 * @param drm_keys the DRM server's JWK Set (its X25519 key with "use" "enc" or absent is used)
 * @param cek the content key
 * @param ec core::errc::jwk_unsupported (no X25519 key in the set), core::errc::bad_key_size
 *        (CEK not 32 bytes), JWE errors; cleared on success
 * @return the compact JWE, empty on error
 */
IMSP2P_DRM_EXPORT std::string seal_content_key(const core::jwk_set& drm_keys, core::byte_view cek,
                                               std::error_code& ec);

/**
 * The client. Copyable value-like object (it holds only its settings).
 */
class IMSP2P_DRM_EXPORT drm_client {
  public:
    /**
     * Creates a client; nothing is sent until a call.
     * @param settings the server URL, timeout and service token
     */
    explicit drm_client(drm_client_settings settings);

    /** @return the settings. */
    [[nodiscard]] const drm_client_settings& settings() const noexcept { return settings_; }

    /**
     * Fetches the server's public keys (`GET /.well-known/jwks.json`).
     * @param ec as in the file comment; cleared on success
     * @param problem if not null, receives the problem document on error
     * @return the JWK Set, empty on error
     */
    core::jwk_set fetch_jwks(std::error_code& ec, drm_problem* problem = nullptr) const;
    /** Throwing form of fetch_jwks(). @return the JWK Set @throws drm_client_error */
    core::jwk_set fetch_jwks() const;

    /**
     * Registers a content key (`POST /v1/contents`, service call).
     * @param registration the registration (see seal_content_key() for its "cek")
     * @param ec errc::content_conflict, errc::drm_bad_request, errc::drm_unauthorized...
     * @param problem if not null, receives the problem document on error
     * @return the record and whether it was new (201) or already there (200)
     */
    content_registration_result register_content(const content_registration& registration,
                                                 std::error_code& ec,
                                                 drm_problem* problem = nullptr) const;

    /**
     * Activates or withdraws content (`PATCH /v1/contents/{doi}`, service call).
     * @param doi the DOI
     * @param state the new state
     * @param ec errc::unknown_content, errc::drm_unauthorized...
     * @param problem if not null, receives the problem document on error
     * @return the updated record, std::nullopt on error
     */
    std::optional<content_record> set_content_state(std::string_view doi, content_state state,
                                                    std::error_code& ec,
                                                    drm_problem* problem = nullptr) const;

    /**
     * Grants rights (`POST /v1/grants`, service call; idempotent on request_id).
     * @param request the grant request
     * @param ec errc::unknown_content, errc::content_withdrawn, errc::grant_conflict,
     *        errc::device_limit_reached, errc::drm_bad_request...
     * @param problem if not null, receives the problem document on error
     * @return the grant and whether it was new (201) or the earlier one (200)
     */
    grant_result grant(const grant_request& request, std::error_code& ec,
                       drm_problem* problem = nullptr) const;

    /**
     * Revokes a grant (`DELETE /v1/grants/{id}`, service call).
     * @param grant_id the grant id
     * @param ec errc::unknown_grant...
     * @param problem if not null, receives the problem document on error
     * @return the revoked grant, std::nullopt on error
     */
    std::optional<grant_record> revoke(std::string_view grant_id, std::error_code& ec,
                                       drm_problem* problem = nullptr) const;

    /**
     * Lists the grants of a content item (`GET /v1/contents/{doi}/grants`, service call).
     * @param doi the DOI
     * @param ec errc::unknown_content...
     * @param problem if not null, receives the problem document on error
     * @return the grants (device_key left empty), empty on error
     */
    std::vector<grant_record> list_grants(std::string_view doi, std::error_code& ec,
                                          drm_problem* problem = nullptr) const;

    /**
     * Acquires (or renews) a license (`POST /v1/licenses`).
     * @param grant_token the grant token from the AS
     * @param device_public_key the device's X25519 key (only the public part is sent)
     * @param ec errc::drm_unauthorized, errc::grant_revoked, errc::no_grant,
     *        errc::content_withdrawn, errc::unknown_content, errc::license_wrong_device,
     *        errc::drm_unavailable...
     * @param problem if not null, receives the problem document on error
     * @return the license (compact JWS), empty on error
     */
    std::string acquire_license(std::string_view grant_token, const core::jwk& device_public_key,
                                std::error_code& ec, drm_problem* problem = nullptr) const;
    /**
     * Throwing form of acquire_license().
     * @param grant_token the grant token
     * @param device_public_key the device's X25519 key
     * @return the license
     * @throws drm_client_error with the mapped code and the problem document
     */
    std::string acquire_license(std::string_view grant_token,
                                const core::jwk& device_public_key) const;

  private:
    drm_client_settings settings_;
};

}  // namespace imsp2p::drm
