/**
 * @file
 * Byte buffer vocabulary shared by every imsp2p library.
 */
#pragma once

#include <cstddef>
#include <cstdint>
#include <span>
#include <string>
#include <string_view>
#include <vector>

namespace imsp2p::core {

/** An owning, growable byte buffer. */
using byte_vector = std::vector<std::uint8_t>;

/** A non-owning view of bytes; the viewed storage must outlive the view. */
using byte_view = std::span<const std::uint8_t>;

/** A non-owning view of writable bytes; the viewed storage must outlive the view. */
using mutable_byte_view = std::span<std::uint8_t>;

/**
 * Views the characters of a string as bytes (no copy).
 * @param text the string; it must outlive the returned view
 */
inline byte_view as_bytes(std::string_view text) noexcept {
    return {reinterpret_cast<const std::uint8_t*>(text.data()), text.size()};
}

/**
 * Views bytes as characters (no copy).
 * @param bytes the bytes; they must outlive the returned view
 */
inline std::string_view as_string_view(byte_view bytes) noexcept {
    return {reinterpret_cast<const char*>(bytes.data()), bytes.size()};
}

/** Copies bytes into a std::string (e.g. to pass binary data through a text API). */
inline std::string to_string(byte_view bytes) {
    return std::string(as_string_view(bytes));
}

/** Copies the characters of a string into a byte vector. */
inline byte_vector to_bytes(std::string_view text) {
    const auto view = as_bytes(text);
    return byte_vector(view.begin(), view.end());
}

}  // namespace imsp2p::core
