// Fuzz target for the JSON request bodies of the DRM server's HTTP API:
// imsp2p::drm::content_registration (POST /v1/contents), grant_request (POST /v1/grants) and
// license_request (POST /v1/licenses). The input is parsed as JSON (invalid JSON is skipped, as
// the server answers it with 400 before any of these parsers); each parser must either refuse
// it with drm_bad_request and a detail, or accept a request whose to_json() parses back to the
// same request.

#include <imsp2p/drm/drm_service.hpp>

#include <imsp2p/drm/error.hpp>

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

namespace {

template <class Request>
void check(const nlohmann::json& json) {
    namespace drm = imsp2p::drm;
    std::error_code ec;
    std::string detail;
    const Request request = Request::from_json(json, ec, &detail);
    if (ec) {
        if (ec != drm::errc::drm_bad_request || detail.empty())
            __builtin_trap();
        return;
    }
    const nlohmann::json written = request.to_json();
    const Request again = Request::from_json(written, ec, &detail);
    if (ec || again.to_json() != written)
        __builtin_trap();
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    namespace drm = imsp2p::drm;
    const std::string_view text(reinterpret_cast<const char*>(data), size);
    const nlohmann::json json = nlohmann::json::parse(text.begin(), text.end(), nullptr, false);
    if (json.is_discarded())
        return 0;
    check<drm::content_registration>(json);
    check<drm::grant_request>(json);
    check<drm::license_request>(json);
    return 0;
}
