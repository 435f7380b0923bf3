#include <imsp2p/drm/error.hpp>

#include <string>

namespace imsp2p::drm {
namespace {

class drm_category final : public std::error_category {
  public:
    const char* name() const noexcept override { return "imsp2p.drm"; }

    std::string message(int value) const override {
        switch (static_cast<errc>(value)) {
            case errc::container_bad_magic:
                return "not an imsp2p protected content container (bad magic)";
            case errc::container_unsupported:
                return "container version or cipher suite is not supported";
            case errc::container_truncated:
                return "container is truncated";
            case errc::container_bad_header:
                return "container header is malformed";
            case errc::segment_tampered:
                return "segment failed authentication (altered or corrupted)";
            case errc::license_malformed:
                return "license is malformed";
            case errc::license_bad_signature:
                return "license signature does not verify";
            case errc::license_wrong_device:
                return "license is bound to another device";
            case errc::license_expired:
                return "license has expired";
            case errc::license_not_yet_valid:
                return "license is not yet valid";
            case errc::license_wrong_content:
                return "license is for other content";
            case errc::rights_exhausted:
                return "play count is exhausted";
            case errc::grant_revoked:
                return "grant has been revoked";
            case errc::container_bad_segment_size:
                return "container segment size is not a power of two between 2^14 and 2^22";
            case errc::container_bad_padding:
                return "container header reserved field or padding is not zero";
            case errc::container_bad_metadata:
                return "container metadata is out of bounds or not a JSON object";
            case errc::container_trailing_data:
                return "container has data after its last segment (appended bytes)";
            case errc::segment_reordered:
                return "segment is out of place (reordered or spliced)";
            case errc::segment_out_of_range:
                return "segment index is out of range";
            case errc::wrong_key:
                return "content key does not open this container (wrong key, or altered header)";
            case errc::key_file_malformed:
                return "content key file is malformed";
            case errc::rights_malformed:
                return "rights are malformed or out of range";
            case errc::rights_not_yet_valid:
                return "rights do not allow play yet (before not_before)";
            case errc::rights_expired:
                return "rights have expired (after not_after)";
            case errc::rights_window_elapsed:
                return "play window after first use has elapsed";
            case errc::clock_rollback:
                return "clock is earlier than a recorded use (clock rolled back)";
            case errc::unknown_content:
                return "no content is registered under this DOI";
            case errc::content_withdrawn:
                return "content has been withdrawn";
            case errc::content_conflict:
                return "DOI is already registered with another content key id";
            case errc::unknown_grant:
                return "no grant has this id";
            case errc::no_grant:
                return "no grant exists for this user, content and device";
            case errc::grant_conflict:
                return "grant request id was already used with other parameters";
            case errc::device_limit_reached:
                return "the grant's device limit is reached for this user";
            case errc::drm_unauthorized:
                return "bearer token is missing, invalid or not allowed for this request";
            case errc::drm_bad_request:
                return "request to the DRM server is malformed";
            case errc::drm_unavailable:
                return "DRM server is unavailable (unreachable or timed out)";
            case errc::drm_server_error:
                return "DRM server failed or answered unexpectedly";
        }
        return "unknown imsp2p.drm error " + std::to_string(value);
    }
};

}  // namespace

const std::error_category& error_category() noexcept {
    static const drm_category instance;
    return instance;
}

std::error_code make_error_code(errc e) noexcept {
    return {static_cast<int>(e), error_category()};
}

}  // namespace imsp2p::drm
