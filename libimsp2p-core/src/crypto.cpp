#include <imsp2p/core/crypto.hpp>

#include <imsp2p/core/error.hpp>

#include <openssl/core_names.h>
#include <openssl/crypto.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/kdf.h>
#include <openssl/params.h>
#include <openssl/rand.h>

#include <algorithm>
#include <cstring>
#include <utility>

namespace imsp2p::core {
namespace {

// --- RAII for OpenSSL objects ----------------------------------------------------------------

struct md_ctx_deleter {
    void operator()(EVP_MD_CTX* ctx) const noexcept { EVP_MD_CTX_free(ctx); }
};
struct cipher_ctx_deleter {
    void operator()(EVP_CIPHER_CTX* ctx) const noexcept { EVP_CIPHER_CTX_free(ctx); }
};
struct pkey_deleter {
    void operator()(EVP_PKEY* key) const noexcept { EVP_PKEY_free(key); }
};
struct pkey_ctx_deleter {
    void operator()(EVP_PKEY_CTX* ctx) const noexcept { EVP_PKEY_CTX_free(ctx); }
};
struct kdf_ctx_deleter {
    void operator()(EVP_KDF_CTX* ctx) const noexcept { EVP_KDF_CTX_free(ctx); }
};
struct mac_ctx_deleter {
    void operator()(EVP_MAC_CTX* ctx) const noexcept { EVP_MAC_CTX_free(ctx); }
};

using md_ctx_ptr = std::unique_ptr<EVP_MD_CTX, md_ctx_deleter>;
using cipher_ctx_ptr = std::unique_ptr<EVP_CIPHER_CTX, cipher_ctx_deleter>;
using pkey_ptr = std::unique_ptr<EVP_PKEY, pkey_deleter>;
using pkey_ctx_ptr = std::unique_ptr<EVP_PKEY_CTX, pkey_ctx_deleter>;
using kdf_ctx_ptr = std::unique_ptr<EVP_KDF_CTX, kdf_ctx_deleter>;
using mac_ctx_ptr = std::unique_ptr<EVP_MAC_CTX, mac_ctx_deleter>;

/**
 * Algorithms fetched once from the default library context (explicit fetching avoids the
 * per-call implicit fetch of EVP_sha256() and friends). Constructed on first use (thread-safe
 * static initialisation); freed at exit before OpenSSL's own cleanup, which was registered
 * earlier, during the first fetch.
 */
class algorithms {
  public:
    static const algorithms& get() {
        static const algorithms instance;
        return instance;
    }

    EVP_MD* sha1 = nullptr;
    EVP_MD* sha256 = nullptr;
    EVP_CIPHER* aes256gcm = nullptr;
    EVP_CIPHER* aes256wrap = nullptr;
    EVP_MAC* hmac = nullptr;
    EVP_KDF* hkdf = nullptr;

    algorithms(const algorithms&) = delete;
    algorithms& operator=(const algorithms&) = delete;

  private:
    algorithms()
        : sha1(EVP_MD_fetch(nullptr, "SHA1", nullptr)),
          sha256(EVP_MD_fetch(nullptr, "SHA256", nullptr)),
          aes256gcm(EVP_CIPHER_fetch(nullptr, "AES-256-GCM", nullptr)),
          aes256wrap(EVP_CIPHER_fetch(nullptr, "AES-256-WRAP", nullptr)),
          hmac(EVP_MAC_fetch(nullptr, "HMAC", nullptr)),
          hkdf(EVP_KDF_fetch(nullptr, "HKDF", nullptr)) {
        ERR_clear_error();
    }
    ~algorithms() {
        EVP_MD_free(sha1);
        EVP_MD_free(sha256);
        EVP_CIPHER_free(aes256gcm);
        EVP_CIPHER_free(aes256wrap);
        EVP_MAC_free(hmac);
        EVP_KDF_free(hkdf);
    }
};

/** Clears the thread's OpenSSL error queue and returns @p code (for failure paths). */
std::error_code failure(errc code) noexcept {
    ERR_clear_error();
    return code;
}

/** OpenSSL refuses null pointers even for empty inputs; this gives a valid empty buffer. */
const unsigned char* non_null(byte_view bytes) noexcept {
    static const unsigned char empty = 0;
    return bytes.data() != nullptr ? bytes.data() : &empty;
}

/** Largest chunk handed to EVP update functions, which take int lengths. */
constexpr std::size_t max_chunk = std::size_t{1} << 30;

void wipe(mutable_byte_view bytes) noexcept {
    if (!bytes.empty()) {
        OPENSSL_cleanse(bytes.data(), bytes.size());
    }
}

template <std::size_t N>
std::array<std::uint8_t, N> digest_of(EVP_MD* md, byte_view data) {
    std::array<std::uint8_t, N> out{};
    unsigned int size = 0;
    if (md == nullptr ||
        EVP_Digest(non_null(data), data.size(), out.data(), &size, md, nullptr) != 1 || size != N) {
        throw_error(failure(errc::crypto_failure), "digest");
    }
    return out;
}

template <std::size_t N>
std::array<std::uint8_t, N> hmac_of(const char* digest_name, byte_view key, byte_view data) {
    std::array<std::uint8_t, N> out{};
    EVP_MAC* mac = algorithms::get().hmac;
    mac_ctx_ptr ctx(mac != nullptr ? EVP_MAC_CTX_new(mac) : nullptr);
    OSSL_PARAM params[] = {
        OSSL_PARAM_construct_utf8_string(OSSL_MAC_PARAM_DIGEST, const_cast<char*>(digest_name), 0),
        OSSL_PARAM_construct_end()};
    std::size_t size = 0;
    bool ok = ctx != nullptr && EVP_MAC_init(ctx.get(), non_null(key), key.size(), params) == 1;
    for (std::size_t offset = 0; ok && offset < data.size(); offset += max_chunk) {
        const std::size_t chunk = std::min(max_chunk, data.size() - offset);
        ok = EVP_MAC_update(ctx.get(), data.data() + offset, chunk) == 1;
    }
    ok = ok && EVP_MAC_final(ctx.get(), out.data(), &size, out.size()) == 1 && size == N;
    if (!ok) {
        throw_error(failure(errc::crypto_failure), "hmac");
    }
    return out;
}

bool all_zero(byte_view bytes) noexcept {
    std::uint8_t accumulated = 0;
    for (const auto b : bytes) {
        accumulated |= b;
    }
    return accumulated == 0;
}

}  // namespace

// --- secret_bytes ----------------------------------------------------------------------------

secret_bytes::secret_bytes(std::size_t size)
    : data_(size != 0 ? std::make_unique<std::uint8_t[]>(size) : nullptr), size_(size) {}

secret_bytes::secret_bytes(byte_view bytes) : secret_bytes(bytes.size()) {
    if (!bytes.empty()) {
        std::memcpy(data_.get(), bytes.data(), bytes.size());
    }
}

secret_bytes::secret_bytes(const secret_bytes& other) : secret_bytes(other.view()) {}

secret_bytes::secret_bytes(secret_bytes&& other) noexcept
    : data_(std::move(other.data_)), size_(std::exchange(other.size_, 0)) {}

secret_bytes& secret_bytes::operator=(const secret_bytes& other) {
    if (this != &other) {
        secret_bytes copy(other);
        *this = std::move(copy);
    }
    return *this;
}

secret_bytes& secret_bytes::operator=(secret_bytes&& other) noexcept {
    if (this != &other) {
        wipe(mutable_view());
        data_ = std::move(other.data_);
        size_ = std::exchange(other.size_, 0);
    }
    return *this;
}

secret_bytes::~secret_bytes() {
    wipe(mutable_view());
}

bool operator==(const secret_bytes& a, const secret_bytes& b) noexcept {
    return constant_time_equal(a.view(), b.view());
}

// --- random ----------------------------------------------------------------------------------

void random_bytes(mutable_byte_view out, std::error_code& ec) noexcept {
    for (std::size_t offset = 0; offset < out.size(); offset += max_chunk) {
        const std::size_t chunk = std::min(max_chunk, out.size() - offset);
        if (RAND_bytes(out.data() + offset, static_cast<int>(chunk)) != 1) {
            wipe(out);
            ec = failure(errc::crypto_failure);
            return;
        }
    }
    ec.clear();
}

void random_bytes(mutable_byte_view out) {
    std::error_code ec;
    random_bytes(out, ec);
    if (ec) {
        throw_error(ec, "RAND_bytes");
    }
}

byte_vector random_bytes(std::size_t size) {
    byte_vector out(size);
    random_bytes(mutable_byte_view(out));
    return out;
}

// --- hashes ----------------------------------------------------------------------------------

sha1_digest sha1(byte_view data) {
    return digest_of<sha1_digest_size>(algorithms::get().sha1, data);
}

sha256_digest sha256(byte_view data) {
    return digest_of<sha256_digest_size>(algorithms::get().sha256, data);
}

struct hasher::impl {
    md_ctx_ptr ctx;
};

hasher::hasher(hash_algorithm algorithm) : impl_(std::make_unique<impl>()), algorithm_(algorithm) {
    const auto& algos = algorithms::get();
    EVP_MD* md = algorithm == hash_algorithm::sha1 ? algos.sha1 : algos.sha256;
    impl_->ctx.reset(EVP_MD_CTX_new());
    if (md == nullptr || !impl_->ctx || EVP_DigestInit_ex2(impl_->ctx.get(), md, nullptr) != 1) {
        throw_error(failure(errc::crypto_failure), "hasher");
    }
}

hasher::hasher(hasher&& other) noexcept = default;
hasher& hasher::operator=(hasher&& other) noexcept = default;
hasher::~hasher() = default;

void hasher::update(byte_view data) {
    if (!impl_) {
        throw_error(errc::invalid_argument, "hasher::update on a moved-from hasher");
    }
    for (std::size_t offset = 0; offset < data.size(); offset += max_chunk) {
        const std::size_t chunk = std::min(max_chunk, data.size() - offset);
        if (EVP_DigestUpdate(impl_->ctx.get(), data.data() + offset, chunk) != 1) {
            throw_error(failure(errc::crypto_failure), "hasher::update");
        }
    }
}

std::size_t hasher::finish(mutable_byte_view out) {
    if (!impl_) {
        throw_error(errc::invalid_argument, "hasher::finish on a moved-from hasher");
    }
    const std::size_t size = digest_size();
    if (out.size() < size) {
        throw_error(errc::invalid_argument, "hasher::finish: output buffer too small");
    }
    unsigned int written = 0;
    if (EVP_DigestFinal_ex(impl_->ctx.get(), out.data(), &written) != 1 || written != size ||
        EVP_DigestInit_ex2(impl_->ctx.get(), nullptr, nullptr) != 1) {
        throw_error(failure(errc::crypto_failure), "hasher::finish");
    }
    return size;
}

byte_vector hasher::finish() {
    byte_vector out(digest_size());
    finish(mutable_byte_view(out));
    return out;
}

void hasher::reset() {
    if (!impl_) {
        throw_error(errc::invalid_argument, "hasher::reset on a moved-from hasher");
    }
    if (EVP_DigestInit_ex2(impl_->ctx.get(), nullptr, nullptr) != 1) {
        throw_error(failure(errc::crypto_failure), "hasher::reset");
    }
}

sha256_digest hmac_sha256(byte_view key, byte_view data) {
    return hmac_of<sha256_digest_size>("SHA256", key, data);
}

sha1_digest hmac_sha1(byte_view key, byte_view data) {
    return hmac_of<sha1_digest_size>("SHA1", key, data);
}

void hkdf_sha256(byte_view input_key_material, byte_view salt, byte_view info,
                 mutable_byte_view out, std::error_code& ec) {
    if (out.empty() || out.size() > 255 * sha256_digest_size) {
        wipe(out);
        ec = errc::invalid_argument;
        return;
    }
    EVP_KDF* kdf = algorithms::get().hkdf;
    kdf_ctx_ptr ctx(kdf != nullptr ? EVP_KDF_CTX_new(kdf) : nullptr);
    // An empty salt is left unset: OpenSSL then uses HashLen zero bytes, as RFC 5869 says (and
    // HMAC pads a short key with zeros anyway, so both readings agree).
    OSSL_PARAM params[5];
    std::size_t n = 0;
    static char digest_name[] = "SHA256";
    params[n++] = OSSL_PARAM_construct_utf8_string(OSSL_KDF_PARAM_DIGEST, digest_name, 0);
    params[n++] = OSSL_PARAM_construct_octet_string(
        OSSL_KDF_PARAM_KEY, const_cast<unsigned char*>(non_null(input_key_material)),
        input_key_material.size());
    if (!salt.empty()) {
        params[n++] = OSSL_PARAM_construct_octet_string(
            OSSL_KDF_PARAM_SALT, const_cast<unsigned char*>(salt.data()), salt.size());
    }
    if (!info.empty()) {
        params[n++] = OSSL_PARAM_construct_octet_string(
            OSSL_KDF_PARAM_INFO, const_cast<unsigned char*>(info.data()), info.size());
    }
    params[n] = OSSL_PARAM_construct_end();
    if (!ctx || EVP_KDF_derive(ctx.get(), out.data(), out.size(), params) != 1) {
        wipe(out);
        ec = failure(errc::crypto_failure);
        return;
    }
    ec.clear();
}

secret_bytes hkdf_sha256(byte_view input_key_material, byte_view salt, byte_view info,
                         std::size_t length) {
    if (length == 0 || length > 255 * sha256_digest_size) {
        throw_error(errc::invalid_argument, "hkdf_sha256: length must be 1..8160");
    }
    secret_bytes out(length);
    std::error_code ec;
    hkdf_sha256(input_key_material, salt, info, out.mutable_view(), ec);
    if (ec) {
        throw_error(ec, "hkdf_sha256");
    }
    return out;
}

bool constant_time_equal(byte_view a, byte_view b) noexcept {
    if (a.size() != b.size()) {
        return false;
    }
    return a.empty() || CRYPTO_memcmp(a.data(), b.data(), a.size()) == 0;
}

// --- AES-256-GCM -----------------------------------------------------------------------------

struct aes256gcm::impl {
    cipher_ctx_ptr encrypt;
    cipher_ctx_ptr decrypt;
};

aes256gcm::aes256gcm() noexcept = default;

aes256gcm::aes256gcm(byte_view key) {
    set_key(key);
}

aes256gcm::aes256gcm(aes256gcm&& other) noexcept = default;
aes256gcm& aes256gcm::operator=(aes256gcm&& other) noexcept = default;
// EVP_CIPHER_CTX_free cleanses the provider context, key schedule included.
aes256gcm::~aes256gcm() = default;

void aes256gcm::set_key(byte_view key, std::error_code& ec) {
    if (key.size() != aes256_key_size) {
        ec = errc::bad_key_size;
        return;
    }
    EVP_CIPHER* cipher = algorithms::get().aes256gcm;
    auto fresh = std::make_unique<impl>();
    fresh->encrypt.reset(EVP_CIPHER_CTX_new());
    fresh->decrypt.reset(EVP_CIPHER_CTX_new());
    if (cipher == nullptr || !fresh->encrypt || !fresh->decrypt ||
        EVP_EncryptInit_ex2(fresh->encrypt.get(), cipher, key.data(), nullptr, nullptr) != 1 ||
        EVP_DecryptInit_ex2(fresh->decrypt.get(), cipher, key.data(), nullptr, nullptr) != 1) {
        ec = failure(errc::crypto_failure);
        return;
    }
    impl_ = std::move(fresh);
    ec.clear();
}

void aes256gcm::set_key(byte_view key) {
    std::error_code ec;
    set_key(key, ec);
    if (ec) {
        throw_error(ec, "aes256gcm::set_key");
    }
}

bool aes256gcm::has_key() const noexcept {
    return impl_ != nullptr;
}

void aes256gcm::seal(byte_view nonce, byte_view aad, byte_view plaintext,
                     mutable_byte_view ciphertext_out, mutable_byte_view tag_out,
                     std::error_code& ec) {
    const auto fail = [&](std::error_code code) {
        wipe(ciphertext_out.first(std::min(ciphertext_out.size(), plaintext.size())));
        wipe(tag_out);
        ec = code;
    };
    if (!impl_) {
        return fail(errc::bad_key);
    }
    if (nonce.size() != aes_gcm_nonce_size || tag_out.size() != aes_gcm_tag_size ||
        ciphertext_out.size() < plaintext.size()) {
        return fail(errc::bad_key_size);
    }
    EVP_CIPHER_CTX* ctx = impl_->encrypt.get();
    int written = 0;
    if (EVP_EncryptInit_ex2(ctx, nullptr, nullptr, nonce.data(), nullptr) != 1) {
        return fail(failure(errc::crypto_failure));
    }
    for (std::size_t offset = 0; offset < aad.size(); offset += max_chunk) {
        const int chunk = static_cast<int>(std::min(max_chunk, aad.size() - offset));
        if (EVP_EncryptUpdate(ctx, nullptr, &written, aad.data() + offset, chunk) != 1) {
            return fail(failure(errc::crypto_failure));
        }
    }
    for (std::size_t offset = 0; offset < plaintext.size(); offset += max_chunk) {
        const int chunk = static_cast<int>(std::min(max_chunk, plaintext.size() - offset));
        if (EVP_EncryptUpdate(ctx, ciphertext_out.data() + offset, &written,
                              plaintext.data() + offset, chunk) != 1 ||
            written != chunk) {
            return fail(failure(errc::crypto_failure));
        }
    }
    unsigned char final_block[16];
    OSSL_PARAM params[] = {OSSL_PARAM_construct_octet_string(OSSL_CIPHER_PARAM_AEAD_TAG,
                                                             tag_out.data(), tag_out.size()),
                           OSSL_PARAM_construct_end()};
    if (EVP_EncryptFinal_ex(ctx, final_block, &written) != 1 || written != 0 ||
        EVP_CIPHER_CTX_get_params(ctx, params) != 1) {
        return fail(failure(errc::crypto_failure));
    }
    ec.clear();
}

void aes256gcm::seal(byte_view nonce, byte_view aad, byte_view plaintext,
                     mutable_byte_view ciphertext_out, mutable_byte_view tag_out) {
    std::error_code ec;
    seal(nonce, aad, plaintext, ciphertext_out, tag_out, ec);
    if (ec) {
        throw_error(ec, "aes256gcm::seal");
    }
}

bool aes256gcm::open(byte_view nonce, byte_view aad, byte_view ciphertext, byte_view tag,
                     mutable_byte_view plaintext_out, std::error_code& ec) {
    const auto fail = [&](std::error_code code) {
        wipe(plaintext_out.first(std::min(plaintext_out.size(), ciphertext.size())));
        ec = code;
        return false;
    };
    if (!impl_) {
        return fail(errc::bad_key);
    }
    if (nonce.size() != aes_gcm_nonce_size || tag.size() != aes_gcm_tag_size ||
        plaintext_out.size() < ciphertext.size()) {
        return fail(errc::bad_key_size);
    }
    EVP_CIPHER_CTX* ctx = impl_->decrypt.get();
    int written = 0;
    if (EVP_DecryptInit_ex2(ctx, nullptr, nullptr, nonce.data(), nullptr) != 1) {
        return fail(failure(errc::crypto_failure));
    }
    for (std::size_t offset = 0; offset < aad.size(); offset += max_chunk) {
        const int chunk = static_cast<int>(std::min(max_chunk, aad.size() - offset));
        if (EVP_DecryptUpdate(ctx, nullptr, &written, aad.data() + offset, chunk) != 1) {
            return fail(failure(errc::crypto_failure));
        }
    }
    for (std::size_t offset = 0; offset < ciphertext.size(); offset += max_chunk) {
        const int chunk = static_cast<int>(std::min(max_chunk, ciphertext.size() - offset));
        if (EVP_DecryptUpdate(ctx, plaintext_out.data() + offset, &written,
                              ciphertext.data() + offset, chunk) != 1 ||
            written != chunk) {
            return fail(failure(errc::crypto_failure));
        }
    }
    // The provider copies the tag; the parameter API wants a non-const pointer.
    unsigned char expected_tag[aes_gcm_tag_size];
    std::memcpy(expected_tag, tag.data(), aes_gcm_tag_size);
    OSSL_PARAM params[] = {OSSL_PARAM_construct_octet_string(OSSL_CIPHER_PARAM_AEAD_TAG,
                                                             expected_tag, sizeof expected_tag),
                           OSSL_PARAM_construct_end()};
    if (EVP_CIPHER_CTX_set_params(ctx, params) != 1) {
        return fail(failure(errc::crypto_failure));
    }
    unsigned char final_block[16];
    if (EVP_DecryptFinal_ex(ctx, final_block, &written) != 1) {
        return fail(failure(errc::authentication_failed));
    }
    ec.clear();
    return true;
}

void aes256gcm::open(byte_view nonce, byte_view aad, byte_view ciphertext, byte_view tag,
                     mutable_byte_view plaintext_out) {
    std::error_code ec;
    open(nonce, aad, ciphertext, tag, plaintext_out, ec);
    if (ec) {
        throw_error(ec, "aes256gcm::open");
    }
}

byte_vector aes256gcm_seal(byte_view key, byte_view nonce, byte_view aad, byte_view plaintext) {
    aes256gcm cipher(key);
    byte_vector out(plaintext.size() + aes_gcm_tag_size);
    const mutable_byte_view view(out);
    cipher.seal(nonce, aad, plaintext, view.first(plaintext.size()),
                view.subspan(plaintext.size()));
    return out;
}

secret_bytes aes256gcm_open(byte_view key, byte_view nonce, byte_view aad,
                            byte_view ciphertext_and_tag, std::error_code& ec) {
    if (ciphertext_and_tag.size() < aes_gcm_tag_size) {
        ec = errc::bad_key_size;
        return {};
    }
    aes256gcm cipher;
    cipher.set_key(key, ec);
    if (ec) {
        return {};
    }
    const std::size_t size = ciphertext_and_tag.size() - aes_gcm_tag_size;
    secret_bytes out(size);
    if (!cipher.open(nonce, aad, ciphertext_and_tag.first(size), ciphertext_and_tag.subspan(size),
                     out.mutable_view(), ec)) {
        return {};
    }
    return out;
}

secret_bytes aes256gcm_open(byte_view key, byte_view nonce, byte_view aad,
                            byte_view ciphertext_and_tag) {
    std::error_code ec;
    auto out = aes256gcm_open(key, nonce, aad, ciphertext_and_tag, ec);
    if (ec) {
        throw_error(ec, "aes256gcm_open");
    }
    return out;
}

// --- AES key wrap ----------------------------------------------------------------------------

namespace {

/** Runs AES-256-WRAP in one direction; returns false on any OpenSSL failure. */
bool run_key_wrap(bool encrypt, byte_view key_encryption_key, byte_view input,
                  mutable_byte_view output) {
    EVP_CIPHER* cipher = algorithms::get().aes256wrap;
    cipher_ctx_ptr ctx(EVP_CIPHER_CTX_new());
    if (cipher == nullptr || !ctx) {
        return false;
    }
    EVP_CIPHER_CTX_set_flags(ctx.get(), EVP_CIPHER_CTX_FLAG_WRAP_ALLOW);
    int written = 0;
    int final_written = 0;
    if (EVP_CipherInit_ex2(ctx.get(), cipher, key_encryption_key.data(), nullptr, encrypt ? 1 : 0,
                           nullptr) != 1 ||
        EVP_CipherUpdate(ctx.get(), output.data(), &written, input.data(),
                         static_cast<int>(input.size())) != 1 ||
        static_cast<std::size_t>(written) != output.size() ||
        EVP_CipherFinal_ex(ctx.get(), output.data() + written, &final_written) != 1 ||
        final_written != 0) {
        return false;
    }
    return true;
}

/** Largest key data accepted by the key-wrap functions (far above any real key). */
constexpr std::size_t max_key_wrap_input = 1 << 16;

}  // namespace

byte_vector aes256_key_wrap(byte_view key_encryption_key, byte_view key_data, std::error_code& ec) {
    if (key_encryption_key.size() != aes256_key_size || key_data.size() < 16 ||
        key_data.size() % 8 != 0 || key_data.size() > max_key_wrap_input) {
        ec = errc::bad_key_size;
        return {};
    }
    byte_vector out(key_data.size() + 8);
    if (!run_key_wrap(true, key_encryption_key, key_data, mutable_byte_view(out))) {
        ec = failure(errc::crypto_failure);
        return {};
    }
    ec.clear();
    return out;
}

byte_vector aes256_key_wrap(byte_view key_encryption_key, byte_view key_data) {
    std::error_code ec;
    auto out = aes256_key_wrap(key_encryption_key, key_data, ec);
    if (ec) {
        throw_error(ec, "aes256_key_wrap");
    }
    return out;
}

secret_bytes aes256_key_unwrap(byte_view key_encryption_key, byte_view wrapped,
                               std::error_code& ec) {
    if (key_encryption_key.size() != aes256_key_size || wrapped.size() < 24 ||
        wrapped.size() % 8 != 0 || wrapped.size() > max_key_wrap_input + 8) {
        ec = errc::bad_key_size;
        return {};
    }
    secret_bytes out(wrapped.size() - 8);
    if (!run_key_wrap(false, key_encryption_key, wrapped, out.mutable_view())) {
        // Sizes and key were checked above, so a failure here is the integrity check.
        ec = failure(errc::authentication_failed);
        return {};
    }
    ec.clear();
    return out;
}

secret_bytes aes256_key_unwrap(byte_view key_encryption_key, byte_view wrapped) {
    std::error_code ec;
    auto out = aes256_key_unwrap(key_encryption_key, wrapped, ec);
    if (ec) {
        throw_error(ec, "aes256_key_unwrap");
    }
    return out;
}

// --- Ed25519 / X25519 ------------------------------------------------------------------------

namespace {

pkey_ptr import_raw(const char* type, bool is_private, byte_view raw, std::error_code& ec) {
    if (raw.size() != 32) {
        ec = errc::bad_key_size;
        return nullptr;
    }
    pkey_ptr key(
        is_private
            ? EVP_PKEY_new_raw_private_key_ex(nullptr, type, nullptr, raw.data(), raw.size())
            : EVP_PKEY_new_raw_public_key_ex(nullptr, type, nullptr, raw.data(), raw.size()));
    if (!key) {
        ec = failure(errc::bad_key);
        return nullptr;
    }
    ec.clear();
    return key;
}

pkey_ptr generate_key(const char* type) {
    pkey_ptr key(EVP_PKEY_Q_keygen(nullptr, nullptr, type));
    if (!key) {
        throw_error(failure(errc::crypto_failure), "key generation");
    }
    return key;
}

std::array<std::uint8_t, 32> raw_public_of(EVP_PKEY* key) noexcept {
    std::array<std::uint8_t, 32> raw{};
    std::size_t size = raw.size();
    if (key == nullptr || EVP_PKEY_get_raw_public_key(key, raw.data(), &size) != 1 ||
        size != raw.size()) {
        ERR_clear_error();
        raw.fill(0);
    }
    return raw;
}

secret_bytes raw_private_of(EVP_PKEY* key) {
    if (key == nullptr) {
        return {};
    }
    secret_bytes raw(32);
    std::size_t size = raw.size();
    if (EVP_PKEY_get_raw_private_key(key, raw.data(), &size) != 1 || size != raw.size()) {
        throw_error(failure(errc::crypto_failure), "private key export");
    }
    return raw;
}

}  // namespace

struct ed25519_public_key::impl {
    pkey_ptr key;
    ed25519_raw_public_key raw{};
};

ed25519_public_key::ed25519_public_key() noexcept = default;
ed25519_public_key::ed25519_public_key(const ed25519_public_key& other) noexcept = default;
ed25519_public_key::ed25519_public_key(ed25519_public_key&& other) noexcept = default;
ed25519_public_key& ed25519_public_key::operator=(const ed25519_public_key& other) noexcept =
    default;
ed25519_public_key& ed25519_public_key::operator=(ed25519_public_key&& other) noexcept = default;
ed25519_public_key::~ed25519_public_key() = default;

ed25519_public_key ed25519_public_key::from_raw(byte_view raw, std::error_code& ec) {
    auto key = import_raw("ED25519", false, raw, ec);
    if (ec) {
        return {};
    }
    auto state = std::make_shared<impl>();
    state->key = std::move(key);
    std::copy(raw.begin(), raw.end(), state->raw.begin());
    ed25519_public_key result;
    result.impl_ = std::move(state);
    return result;
}

ed25519_public_key ed25519_public_key::from_raw(byte_view raw) {
    std::error_code ec;
    auto key = from_raw(raw, ec);
    if (ec) {
        throw_error(ec, "ed25519_public_key::from_raw");
    }
    return key;
}

bool ed25519_public_key::empty() const noexcept {
    return impl_ == nullptr;
}

ed25519_raw_public_key ed25519_public_key::raw() const noexcept {
    return impl_ ? impl_->raw : ed25519_raw_public_key{};
}

bool ed25519_public_key::verify(byte_view message, byte_view signature) const noexcept {
    std::error_code ec;
    return verify(message, signature, ec);
}

bool ed25519_public_key::verify(byte_view message, byte_view signature,
                                std::error_code& ec) const noexcept {
    if (!impl_) {
        ec = errc::bad_key;
        return false;
    }
    if (signature.size() != ed25519_signature_size) {
        ec = errc::bad_signature;
        return false;
    }
    md_ctx_ptr ctx(EVP_MD_CTX_new());
    if (!ctx || EVP_DigestVerifyInit_ex(ctx.get(), nullptr, nullptr, nullptr, nullptr,
                                        impl_->key.get(), nullptr) != 1) {
        ec = failure(errc::crypto_failure);
        return false;
    }
    const int result = EVP_DigestVerify(ctx.get(), signature.data(), signature.size(),
                                        non_null(message), message.size());
    if (result != 1) {
        ec = failure(errc::bad_signature);
        return false;
    }
    ec.clear();
    return true;
}

bool operator==(const ed25519_public_key& a, const ed25519_public_key& b) noexcept {
    return a.empty() == b.empty() && a.raw() == b.raw();
}

struct ed25519_private_key::impl {
    pkey_ptr key;
};

ed25519_private_key::ed25519_private_key() noexcept = default;
ed25519_private_key::ed25519_private_key(const ed25519_private_key& other) noexcept = default;
ed25519_private_key::ed25519_private_key(ed25519_private_key&& other) noexcept = default;
ed25519_private_key& ed25519_private_key::operator=(const ed25519_private_key& other) noexcept =
    default;
ed25519_private_key& ed25519_private_key::operator=(ed25519_private_key&& other) noexcept = default;
ed25519_private_key::~ed25519_private_key() = default;

ed25519_private_key ed25519_private_key::generate() {
    auto state = std::make_shared<impl>();
    state->key = generate_key("ED25519");
    ed25519_private_key result;
    result.impl_ = std::move(state);
    return result;
}

ed25519_private_key ed25519_private_key::from_seed(byte_view seed, std::error_code& ec) {
    auto key = import_raw("ED25519", true, seed, ec);
    if (ec) {
        return {};
    }
    auto state = std::make_shared<impl>();
    state->key = std::move(key);
    ed25519_private_key result;
    result.impl_ = std::move(state);
    return result;
}

ed25519_private_key ed25519_private_key::from_seed(byte_view seed) {
    std::error_code ec;
    auto key = from_seed(seed, ec);
    if (ec) {
        throw_error(ec, "ed25519_private_key::from_seed");
    }
    return key;
}

bool ed25519_private_key::empty() const noexcept {
    return impl_ == nullptr;
}

secret_bytes ed25519_private_key::seed() const {
    return raw_private_of(impl_ ? impl_->key.get() : nullptr);
}

ed25519_public_key ed25519_private_key::public_key() const {
    if (!impl_) {
        return {};
    }
    const auto raw = raw_public_of(impl_->key.get());
    return ed25519_public_key::from_raw(raw);
}

ed25519_signature ed25519_private_key::sign(byte_view message, std::error_code& ec) const {
    ed25519_signature signature{};
    if (!impl_) {
        ec = errc::bad_key;
        return signature;
    }
    md_ctx_ptr ctx(EVP_MD_CTX_new());
    std::size_t size = signature.size();
    if (!ctx ||
        EVP_DigestSignInit_ex(ctx.get(), nullptr, nullptr, nullptr, nullptr, impl_->key.get(),
                              nullptr) != 1 ||
        EVP_DigestSign(ctx.get(), signature.data(), &size, non_null(message), message.size()) !=
            1 ||
        size != signature.size()) {
        signature.fill(0);
        ec = failure(errc::crypto_failure);
        return signature;
    }
    ec.clear();
    return signature;
}

ed25519_signature ed25519_private_key::sign(byte_view message) const {
    std::error_code ec;
    auto signature = sign(message, ec);
    if (ec) {
        throw_error(ec, "ed25519_private_key::sign");
    }
    return signature;
}

struct x25519_public_key::impl {
    pkey_ptr key;
    x25519_raw_public_key raw{};
};

x25519_public_key::x25519_public_key() noexcept = default;
x25519_public_key::x25519_public_key(const x25519_public_key& other) noexcept = default;
x25519_public_key::x25519_public_key(x25519_public_key&& other) noexcept = default;
x25519_public_key& x25519_public_key::operator=(const x25519_public_key& other) noexcept = default;
x25519_public_key& x25519_public_key::operator=(x25519_public_key&& other) noexcept = default;
x25519_public_key::~x25519_public_key() = default;

x25519_public_key x25519_public_key::from_raw(byte_view raw, std::error_code& ec) {
    auto key = import_raw("X25519", false, raw, ec);
    if (ec) {
        return {};
    }
    auto state = std::make_shared<impl>();
    state->key = std::move(key);
    std::copy(raw.begin(), raw.end(), state->raw.begin());
    x25519_public_key result;
    result.impl_ = std::move(state);
    return result;
}

x25519_public_key x25519_public_key::from_raw(byte_view raw) {
    std::error_code ec;
    auto key = from_raw(raw, ec);
    if (ec) {
        throw_error(ec, "x25519_public_key::from_raw");
    }
    return key;
}

bool x25519_public_key::empty() const noexcept {
    return impl_ == nullptr;
}

x25519_raw_public_key x25519_public_key::raw() const noexcept {
    return impl_ ? impl_->raw : x25519_raw_public_key{};
}

bool operator==(const x25519_public_key& a, const x25519_public_key& b) noexcept {
    return a.empty() == b.empty() && a.raw() == b.raw();
}

struct x25519_private_key::impl {
    pkey_ptr key;
};

x25519_private_key::x25519_private_key() noexcept = default;
x25519_private_key::x25519_private_key(const x25519_private_key& other) noexcept = default;
x25519_private_key::x25519_private_key(x25519_private_key&& other) noexcept = default;
x25519_private_key& x25519_private_key::operator=(const x25519_private_key& other) noexcept =
    default;
x25519_private_key& x25519_private_key::operator=(x25519_private_key&& other) noexcept = default;
x25519_private_key::~x25519_private_key() = default;

x25519_private_key x25519_private_key::generate() {
    auto state = std::make_shared<impl>();
    state->key = generate_key("X25519");
    x25519_private_key result;
    result.impl_ = std::move(state);
    return result;
}

x25519_private_key x25519_private_key::from_raw(byte_view raw, std::error_code& ec) {
    auto key = import_raw("X25519", true, raw, ec);
    if (ec) {
        return {};
    }
    auto state = std::make_shared<impl>();
    state->key = std::move(key);
    x25519_private_key result;
    result.impl_ = std::move(state);
    return result;
}

x25519_private_key x25519_private_key::from_raw(byte_view raw) {
    std::error_code ec;
    auto key = from_raw(raw, ec);
    if (ec) {
        throw_error(ec, "x25519_private_key::from_raw");
    }
    return key;
}

bool x25519_private_key::empty() const noexcept {
    return impl_ == nullptr;
}

secret_bytes x25519_private_key::raw() const {
    return raw_private_of(impl_ ? impl_->key.get() : nullptr);
}

x25519_public_key x25519_private_key::public_key() const {
    if (!impl_) {
        return {};
    }
    const auto raw = raw_public_of(impl_->key.get());
    return x25519_public_key::from_raw(raw);
}

secret_bytes x25519_private_key::derive(const x25519_public_key& peer, std::error_code& ec) const {
    if (!impl_ || !peer.impl_) {
        ec = errc::bad_key;
        return {};
    }
    pkey_ctx_ptr ctx(EVP_PKEY_CTX_new_from_pkey(nullptr, impl_->key.get(), nullptr));
    secret_bytes shared(x25519_key_size);
    std::size_t size = shared.size();
    if (!ctx || EVP_PKEY_derive_init(ctx.get()) != 1) {
        ec = failure(errc::crypto_failure);
        return {};
    }
    // OpenSSL itself refuses an all-zero result (a small-order peer point, RFC 7748 §6.1);
    // either way it is the peer key that is bad.
    if (EVP_PKEY_derive_set_peer(ctx.get(), peer.impl_->key.get()) != 1 ||
        EVP_PKEY_derive(ctx.get(), shared.data(), &size) != 1 || size != shared.size() ||
        all_zero(shared.view())) {
        ec = failure(errc::bad_key);
        return {};
    }
    ec.clear();
    return shared;
}

secret_bytes x25519_private_key::derive(const x25519_public_key& peer) const {
    std::error_code ec;
    auto shared = derive(peer, ec);
    if (ec) {
        throw_error(ec, "x25519_private_key::derive");
    }
    return shared;
}

}  // namespace imsp2p::core
