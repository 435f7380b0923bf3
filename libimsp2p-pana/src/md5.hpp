// Private MD5 and HMAC-MD5 helpers over OpenSSL EVP (Digest authentication needs MD5; core
// offers only SHA-1/SHA-256).
#pragma once

#include <imsp2p/core/bytes.hpp>

#include <array>
#include <cstdint>
#include <initializer_list>
#include <string>

namespace imsp2p::pana::detail {

/** An MD5 digest. */
using md5_digest = std::array<std::uint8_t, 16>;

/**
 * MD5 of the concatenation of @p parts.
 * @throws std::system_error with core::errc::crypto_failure if OpenSSL fails
 */
md5_digest md5(std::initializer_list<core::byte_view> parts);

/** Lower-case hex MD5 of the concatenation of @p parts. */
std::string md5_hex(std::initializer_list<core::byte_view> parts);

/**
 * HMAC-MD5 (RFC 2104).
 * @throws std::system_error with core::errc::crypto_failure if OpenSSL fails
 */
md5_digest hmac_md5(core::byte_view key, core::byte_view data);

}  // namespace imsp2p::pana::detail
