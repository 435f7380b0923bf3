// Fuzz target: the protected content container header parser (imsp2p::drm::parse_header).
// Any input must give either a header that re-encodes to the same bytes or a drm error code.

#include <imsp2p/drm/container.hpp>

#include <imsp2p/drm/error.hpp>

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <cstdlib>

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    namespace drm = imsp2p::drm;
    std::error_code ec;
    const drm::container_header header = drm::parse_header({data, size}, ec);
    if (ec) {
        if (ec.category() != drm::error_category())
            std::abort();
        return 0;
    }
    if (header.segment_count() == 0 || header.container_size() < header.segment_size)
        std::abort();
    const imsp2p::core::byte_vector again = drm::encode_header(header, ec);
    if (ec || again.size() != header.segment_size || !std::equal(again.begin(), again.end(), data))
        std::abort();
    return 0;
}
