// Test support: fixed-size byte arrays from hexadecimal test-vector strings.
#pragma once

#include <imsp2p/core/encoding.hpp>

#include <algorithm>
#include <array>
#include <cstddef>
#include <cstdint>
#include <stdexcept>
#include <string>

namespace imsp2p_test {

/** Decodes @p hex (exactly N bytes) into an array; throws on bad hex or a wrong length. */
template <std::size_t N>
std::array<std::uint8_t, N> array_from_hex(const std::string& hex) {
    const imsp2p::core::byte_vector bytes = imsp2p::core::from_hex(hex);
    if (bytes.size() != N) {
        throw std::invalid_argument("test vector '" + hex + "' is not " + std::to_string(N) +
                                    " bytes");
    }
    std::array<std::uint8_t, N> out{};
    std::copy_n(bytes.begin(), N, out.begin());
    return out;
}

}  // namespace imsp2p_test
