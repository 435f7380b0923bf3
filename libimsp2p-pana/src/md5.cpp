#include "md5.hpp"

#include <imsp2p/core/encoding.hpp>
#include <imsp2p/core/error.hpp>

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>

#include <memory>

namespace imsp2p::pana::detail {
namespace {

[[noreturn]] void crypto_failure(const char* what) {
    core::throw_error(core::errc::crypto_failure, what);
}

// The MD5 implementation, fetched once from the default provider.
const EVP_MD* md5_algorithm() {
    static EVP_MD* const algorithm = EVP_MD_fetch(nullptr, "MD5", nullptr);
    if (algorithm == nullptr) {
        crypto_failure("EVP_MD_fetch MD5");
    }
    return algorithm;
}

struct md_context_deleter {
    void operator()(EVP_MD_CTX* context) const noexcept { EVP_MD_CTX_free(context); }
};

}  // namespace

md5_digest md5(std::initializer_list<core::byte_view> parts) {
    const std::unique_ptr<EVP_MD_CTX, md_context_deleter> context(EVP_MD_CTX_new());
    if (!context || EVP_DigestInit_ex(context.get(), md5_algorithm(), nullptr) != 1) {
        crypto_failure("EVP_DigestInit_ex MD5");
    }
    for (const core::byte_view part : parts) {
        if (!part.empty() && EVP_DigestUpdate(context.get(), part.data(), part.size()) != 1) {
            crypto_failure("EVP_DigestUpdate MD5");
        }
    }
    md5_digest digest{};
    unsigned int size = 0;
    if (EVP_DigestFinal_ex(context.get(), digest.data(), &size) != 1 || size != digest.size()) {
        crypto_failure("EVP_DigestFinal_ex MD5");
    }
    return digest;
}

std::string md5_hex(std::initializer_list<core::byte_view> parts) {
    return core::to_hex(md5(parts));
}

md5_digest hmac_md5(core::byte_view key, core::byte_view data) {
    md5_digest mac{};
    unsigned int size = 0;
    static const std::uint8_t empty = 0;
    if (HMAC(md5_algorithm(), key.empty() ? &empty : key.data(), static_cast<int>(key.size()),
             data.empty() ? &empty : data.data(), data.size(), mac.data(), &size) == nullptr ||
        size != mac.size()) {
        crypto_failure("HMAC-MD5");
    }
    return mac;
}

}  // namespace imsp2p::pana::detail
