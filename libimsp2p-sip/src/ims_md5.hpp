// Private: MD5 hex digests for HTTP Digest with a stored HA1 (Sofia-SIP's su_md5).
#pragma once

#include <string>
#include <string_view>

namespace imsp2p::sip::detail {

/** @return MD5 of @p text as 32 lower-case hex digits */
std::string md5_hex(std::string_view text);

}  // namespace imsp2p::sip::detail
