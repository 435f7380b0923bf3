#include "ims_md5.hpp"

#include <sofia-sip/su_md5.h>

namespace imsp2p::sip::detail {

std::string md5_hex(std::string_view text) {
    su_md5_t context;
    su_md5_init(&context);
    su_md5_update(&context, text.data(), text.size());
    char digest[SU_MD5_DIGEST_SIZE * 2 + 1] = {};
    su_md5_hexdigest(&context, digest);
    su_md5_deinit(&context);
    return std::string(digest, SU_MD5_DIGEST_SIZE * 2);
}

}  // namespace imsp2p::sip::detail
