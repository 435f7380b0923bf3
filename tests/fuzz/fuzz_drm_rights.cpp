// Fuzz target for imsp2p::drm::rights::from_json (the ODRL subset). The input is parsed as JSON
// (invalid JSON is skipped); from_json() must either refuse it with rights_malformed and return
// unconstrained rights, or accept rights whose to_json() parses back to equal rights.

#include <imsp2p/drm/rights.hpp>

#include <imsp2p/drm/error.hpp>

#include <cstddef>
#include <cstdint>
#include <string_view>

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    namespace drm = imsp2p::drm;
    const std::string_view text(reinterpret_cast<const char*>(data), size);
    const nlohmann::json json = nlohmann::json::parse(text.begin(), text.end(), nullptr, false);
    if (json.is_discarded())
        return 0;
    std::error_code ec;
    const drm::rights rights = drm::rights::from_json(json, ec);
    if (ec) {
        if (ec != drm::errc::rights_malformed || !rights.unconstrained())
            __builtin_trap();
        return 0;
    }
    const drm::rights again = drm::rights::from_json(rights.to_json(), ec);
    if (ec || !(again == rights))
        __builtin_trap();
    if (rights.not_before && rights.not_after && *rights.not_before > *rights.not_after)
        __builtin_trap();
    return 0;
}
