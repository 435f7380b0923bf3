/**
 * @file
 * Error codes of libimsp2p-drm (protected content, licenses and the DRM server).
 */
#pragma once

#include <imsp2p/drm/export.hpp>

#include <system_error>

namespace imsp2p::drm {

/** Error conditions raised by libimsp2p-drm; messages come from error_category(). */
enum class errc {
    container_bad_magic = 1,     ///< Not an imsp2p protected content container (bad magic).
    container_unsupported,       ///< Container version or cipher suite is not supported.
    container_truncated,         ///< Container is truncated.
    container_bad_header,        ///< Container header is malformed.
    segment_tampered,            ///< A segment failed authentication: it was altered or corrupted.
    license_malformed,           ///< License is malformed.
    license_bad_signature,       ///< License signature does not verify.
    license_wrong_device,        ///< License is bound to another device.
    license_expired,             ///< License has expired.
    license_not_yet_valid,       ///< License is not yet valid.
    license_wrong_content,       ///< License is for other content.
    rights_exhausted,            ///< Play count is exhausted.
    grant_revoked,               ///< Grant has been revoked.
    container_bad_segment_size,  ///< Segment size is not a power of two in 2^14..2^22.
    container_bad_padding,       ///< Reserved header field or header padding is not zero.
    container_bad_metadata,      ///< Metadata length is out of bounds or is not a JSON object.
    container_trailing_data,     ///< Container has bytes after its last segment (appended).
    segment_reordered,           ///< A segment was moved: it authenticates at another index.
    segment_out_of_range,        ///< Segment index is not below the segment count.
    wrong_key,                   ///< The content key does not open this container.
    key_file_malformed,          ///< A content key file is not the expected JSON.
    rights_malformed,            ///< Rights (the ODRL subset) are malformed or out of range.
    rights_not_yet_valid,        ///< Rights do not allow play yet (before "not_before").
    rights_expired,              ///< Rights have expired (after "not_after").
    rights_window_elapsed,       ///< The play window after first use has elapsed.
    clock_rollback,              ///< The clock is earlier than a recorded use (rolled back).
    unknown_content,             ///< No content is registered under this DOI.
    content_withdrawn,           ///< The content has been withdrawn (no new grants or licenses).
    content_conflict,            ///< The DOI is registered with another content key id.
    unknown_grant,               ///< No grant has this id.
    no_grant,                    ///< No grant exists for this user, content and device.
    grant_conflict,              ///< A grant request id was reused with other parameters.
    device_limit_reached,        ///< The grant's "devices" limit is reached for this user.
    drm_unauthorized,            ///< The bearer token is missing, invalid or not allowed here.
    drm_bad_request,             ///< The request to the DRM server is malformed.
    drm_unavailable,             ///< The DRM server cannot be reached (down or timed out).
    drm_server_error,            ///< The DRM server failed or answered unexpectedly.
};

/** The error category of imsp2p::drm::errc; its name() is "imsp2p.drm". */
IMSP2P_DRM_EXPORT const std::error_category& error_category() noexcept;

/** Makes an error code of the drm category (found by ADL). */
IMSP2P_DRM_EXPORT std::error_code make_error_code(errc e) noexcept;

}  // namespace imsp2p::drm

/** Lets `std::error_code` be constructed from imsp2p::drm::errc. */
template <>
struct std::is_error_code_enum<imsp2p::drm::errc> : std::true_type {};
