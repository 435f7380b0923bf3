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
                return "segment failed authentication (tampered, reordered or wrong key)";
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
