// Big-endian load/store helpers for the container and torrent code (private header).
#pragma once

#include <cstdint>

namespace imsp2p::drm::detail {

inline void store_be32(std::uint8_t* out, std::uint32_t value) noexcept {
    for (int i = 3; i >= 0; --i) {
        out[i] = static_cast<std::uint8_t>(value & 0xffu);
        value >>= 8;
    }
}

inline void store_be64(std::uint8_t* out, std::uint64_t value) noexcept {
    for (int i = 7; i >= 0; --i) {
        out[i] = static_cast<std::uint8_t>(value & 0xffu);
        value >>= 8;
    }
}

inline std::uint32_t load_be32(const std::uint8_t* in) noexcept {
    std::uint32_t value = 0;
    for (int i = 0; i < 4; ++i)
        value = (value << 8) | in[i];
    return value;
}

inline std::uint64_t load_be64(const std::uint8_t* in) noexcept {
    std::uint64_t value = 0;
    for (int i = 0; i < 8; ++i)
        value = (value << 8) | in[i];
    return value;
}

}  // namespace imsp2p::drm::detail
