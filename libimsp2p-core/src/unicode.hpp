// Private Unicode helpers of libimsp2p-core (defined in doi.cpp; used by the DOI, identity and
// content parsers). Not exported.
#pragma once

#include <cstddef>
#include <string_view>

namespace imsp2p::core::detail {

/**
 * Decodes the UTF-8 sequence at @p position (strict: no overlongs, surrogates or values past
 * U+10FFFF) and advances @p position past it. Returns false on invalid input.
 */
bool decode_utf8(std::string_view text, std::size_t& position, char32_t& code_point) noexcept;

/** True for Unicode White_Space characters. */
bool is_unicode_whitespace(char32_t c) noexcept;

/** True for C0/C1 controls, DEL, invisible format characters and noncharacters. */
bool is_unicode_control(char32_t c) noexcept;

}  // namespace imsp2p::core::detail
