/**
 * @file
 * Cryptographic primitives on top of OpenSSL 3 (EVP APIs only): random bytes, SHA-1/SHA-256,
 * HMAC, HKDF, AES-256-GCM, AES key wrap, Ed25519 and X25519.
 *
 * No OpenSSL type appears in this header; classes that hold OpenSSL objects use pimpl.
 *
 * Thread-safety, unless a class says otherwise: free functions are safe to call concurrently;
 * const member functions of one object may be called concurrently; non-const member functions
 * need exclusive access to their object. Distinct objects are independent.
 *
 * Secrets (keys, seeds, shared secrets) are held in memory that is wiped (OPENSSL_cleanse) when
 * released, and no function here prints or logs them.
 */
#pragma once

#include <imsp2p/core/bytes.hpp>
#include <imsp2p/core/export.hpp>

#include <array>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <system_error>

namespace imsp2p::core {

// ---------------------------------------------------------------------------------------------
// Sizes

/** Size in bytes of a SHA-1 digest. */
inline constexpr std::size_t sha1_digest_size = 20;
/** Size in bytes of a SHA-256 digest. */
inline constexpr std::size_t sha256_digest_size = 32;
/** Size in bytes of an AES-256 key (also the size of an A256KW key-encryption key). */
inline constexpr std::size_t aes256_key_size = 32;
/** Size in bytes of the AES-GCM nonce (IV) this library uses (96 bits, NIST SP 800-38D). */
inline constexpr std::size_t aes_gcm_nonce_size = 12;
/** Size in bytes of the AES-GCM authentication tag (128 bits). */
inline constexpr std::size_t aes_gcm_tag_size = 16;
/** Size in bytes of an Ed25519 public key and of its private seed (RFC 8032). */
inline constexpr std::size_t ed25519_key_size = 32;
/** Size in bytes of an Ed25519 signature (RFC 8032). */
inline constexpr std::size_t ed25519_signature_size = 64;
/** Size in bytes of an X25519 public key, private key and shared secret (RFC 7748). */
inline constexpr std::size_t x25519_key_size = 32;

/** A SHA-1 digest (also an HMAC-SHA-1 value). */
using sha1_digest = std::array<std::uint8_t, sha1_digest_size>;
/** A SHA-256 digest (also an HMAC-SHA-256 value). */
using sha256_digest = std::array<std::uint8_t, sha256_digest_size>;
/** An Ed25519 signature. */
using ed25519_signature = std::array<std::uint8_t, ed25519_signature_size>;
/** A raw Ed25519 public key. */
using ed25519_raw_public_key = std::array<std::uint8_t, ed25519_key_size>;
/** A raw X25519 public key. */
using x25519_raw_public_key = std::array<std::uint8_t, x25519_key_size>;

// ---------------------------------------------------------------------------------------------
// Secret bytes

/**
 * A fixed-size byte buffer for secret material (keys, seeds, shared secrets), wiped with
 * OPENSSL_cleanse when destroyed or overwritten.
 *
 * A value type: copying makes an independent (deep) copy, moving transfers the storage and
 * leaves the source empty. The size is fixed at construction (there is no resize, so no stale
 * copy is ever left in freed memory). It is a contiguous range, so it converts implicitly to
 * byte_view; such a view must not outlive the object. Equality is constant-time in the contents.
 * Nothing prints it.
 */
class IMSP2P_CORE_EXPORT secret_bytes {
  public:
    /** Creates an empty buffer. */
    secret_bytes() noexcept = default;
    /**
     * Creates a zero-filled buffer.
     * @param size number of bytes
     */
    explicit secret_bytes(std::size_t size);
    /**
     * Copies bytes into a new secret buffer. The caller remains responsible for wiping its copy.
     * @param bytes the bytes to copy
     */
    explicit secret_bytes(byte_view bytes);
    /** Deep copy. @param other the buffer to copy */
    secret_bytes(const secret_bytes& other);
    /** Takes the storage of @p other, which becomes empty. @param other the source */
    secret_bytes(secret_bytes&& other) noexcept;
    /** Wipes the current contents, then deep-copies. @param other the buffer to copy @return *this
     */
    secret_bytes& operator=(const secret_bytes& other);
    /** Wipes the current contents, then takes the storage of @p other. @param other the source
     * @return *this */
    secret_bytes& operator=(secret_bytes&& other) noexcept;
    /** Wipes and releases the storage. */
    ~secret_bytes();

    /** @return pointer to the first byte (nullptr when empty) */
    std::uint8_t* data() noexcept { return data_.get(); }
    /** @return pointer to the first byte (nullptr when empty) */
    const std::uint8_t* data() const noexcept { return data_.get(); }
    /** @return number of bytes */
    std::size_t size() const noexcept { return size_; }
    /** @return true when the buffer holds no bytes */
    bool empty() const noexcept { return size_ == 0; }
    /** @return iterator to the first byte */
    std::uint8_t* begin() noexcept { return data_.get(); }
    /** @return iterator past the last byte */
    std::uint8_t* end() noexcept { return data_.get() + size_; }
    /** @return iterator to the first byte */
    const std::uint8_t* begin() const noexcept { return data_.get(); }
    /** @return iterator past the last byte */
    const std::uint8_t* end() const noexcept { return data_.get() + size_; }
    /** @return a read-only view of the bytes, valid while this object lives unchanged */
    byte_view view() const noexcept { return {data_.get(), size_}; }
    /** @return a writable view of the bytes, valid while this object lives unchanged */
    mutable_byte_view mutable_view() noexcept { return {data_.get(), size_}; }

  private:
    std::unique_ptr<std::uint8_t[]> data_;
    std::size_t size_ = 0;
};

/**
 * Constant-time comparison of the contents of two secrets (the sizes are not secret).
 * @param a first buffer
 * @param b second buffer
 * @return true when sizes and contents are equal
 */
IMSP2P_CORE_EXPORT bool operator==(const secret_bytes& a, const secret_bytes& b) noexcept;

// ---------------------------------------------------------------------------------------------
// Random

/**
 * Fills a buffer from the OpenSSL CSPRNG (RAND_bytes).
 * @param out the buffer to fill
 * @param ec set to errc::crypto_failure if the generator fails (then @p out is zeroed)
 */
IMSP2P_CORE_EXPORT void random_bytes(mutable_byte_view out, std::error_code& ec) noexcept;

/**
 * Fills a buffer from the OpenSSL CSPRNG.
 * @param out the buffer to fill
 * @throws std::system_error with errc::crypto_failure if the generator fails
 */
IMSP2P_CORE_EXPORT void random_bytes(mutable_byte_view out);

/**
 * Returns fresh random bytes from the OpenSSL CSPRNG.
 * @param size number of bytes
 * @return @p size random bytes
 * @throws std::system_error with errc::crypto_failure if the generator fails
 */
IMSP2P_CORE_EXPORT byte_vector random_bytes(std::size_t size);

// ---------------------------------------------------------------------------------------------
// Hashes and MACs

/**
 * SHA-1 of a byte string (FIPS 180-4). SHA-1 is only for BitTorrent v1 piece hashes and legacy
 * protocols; do not use it for new security purposes.
 * @param data the input
 * @return the digest
 * @throws std::system_error with errc::crypto_failure if OpenSSL fails (not expected)
 */
IMSP2P_CORE_EXPORT sha1_digest sha1(byte_view data);

/**
 * SHA-256 of a byte string (FIPS 180-4).
 * @param data the input
 * @return the digest
 * @throws std::system_error with errc::crypto_failure if OpenSSL fails (not expected)
 */
IMSP2P_CORE_EXPORT sha256_digest sha256(byte_view data);

/** Hash algorithms of class hasher. */
enum class hash_algorithm {
    sha1,   ///< SHA-1, 20-byte digest.
    sha256  ///< SHA-256, 32-byte digest.
};

/**
 * @param algorithm a hash algorithm
 * @return the size in bytes of its digest
 */
constexpr std::size_t digest_size(hash_algorithm algorithm) noexcept {
    return algorithm == hash_algorithm::sha1 ? sha1_digest_size : sha256_digest_size;
}

/**
 * Incremental hash: update() any number of times, then finish(), after which the hasher is
 * ready for a new message with the same algorithm.
 *
 * The OpenSSL context is allocated once at construction; update() and the span form of
 * finish() do not allocate, so one hasher can digest multi-GiB streams or millions of pieces.
 * Movable, not copyable; a moved-from hasher may only be destroyed or assigned to (other calls
 * throw errc::invalid_argument). Not safe for concurrent use of one object.
 */
class IMSP2P_CORE_EXPORT hasher {
  public:
    /**
     * Starts a new hash.
     * @param algorithm the hash algorithm
     * @throws std::system_error with errc::crypto_failure if OpenSSL fails (not expected)
     */
    explicit hasher(hash_algorithm algorithm);
    /** Takes over @p other, which becomes moved-from. @param other the source */
    hasher(hasher&& other) noexcept;
    /** Releases this context and takes over @p other. @param other the source @return *this */
    hasher& operator=(hasher&& other) noexcept;
    /** Releases the OpenSSL context. */
    ~hasher();
    hasher(const hasher&) = delete;             ///< Not copyable.
    hasher& operator=(const hasher&) = delete;  ///< Not copyable.

    /** @return the algorithm chosen at construction */
    hash_algorithm algorithm() const noexcept { return algorithm_; }
    /** @return the digest size in bytes (20 or 32) */
    std::size_t digest_size() const noexcept { return core::digest_size(algorithm_); }

    /**
     * Feeds more input.
     * @param data the next bytes of the message
     * @throws std::system_error with errc::crypto_failure if OpenSSL fails (not expected)
     */
    void update(byte_view data);

    /**
     * Writes the digest of everything fed since construction or the last finish()/reset(), then
     * resets for a new message. Does not allocate.
     * @param out at least digest_size() bytes; the first digest_size() bytes are written
     * @return digest_size()
     * @throws std::system_error with errc::invalid_argument if @p out is too small (nothing is
     *         written and the state is unchanged), errc::crypto_failure if OpenSSL fails
     */
    std::size_t finish(mutable_byte_view out);

    /**
     * Returns the digest and resets for a new message; see finish(mutable_byte_view).
     * @return the digest (digest_size() bytes)
     */
    byte_vector finish();

    /**
     * Discards the input fed so far and starts a new message.
     * @throws std::system_error with errc::crypto_failure if OpenSSL fails (not expected)
     */
    void reset();

  private:
    struct impl;
    std::unique_ptr<impl> impl_;
    hash_algorithm algorithm_;
};

/**
 * HMAC-SHA-256 (RFC 2104, RFC 4231).
 * @param key the MAC key (any length)
 * @param data the message
 * @return the 32-byte MAC
 * @throws std::system_error with errc::crypto_failure if OpenSSL fails (not expected)
 */
IMSP2P_CORE_EXPORT sha256_digest hmac_sha256(byte_view key, byte_view data);

/**
 * HMAC-SHA-1 (RFC 2104), for legacy protocols that require it.
 * @param key the MAC key (any length)
 * @param data the message
 * @return the 20-byte MAC
 * @throws std::system_error with errc::crypto_failure if OpenSSL fails (not expected)
 */
IMSP2P_CORE_EXPORT sha1_digest hmac_sha1(byte_view key, byte_view data);

/**
 * HKDF-SHA-256 extract-and-expand (RFC 5869) into a caller buffer.
 * @param input_key_material the IKM
 * @param salt the salt (may be empty: then a string of 32 zero bytes is used, per RFC 5869)
 * @param info the context and application specific information (may be empty)
 * @param out receives the output key material; its size is the length L, 1..8160 bytes
 * @param ec errc::invalid_argument when the length is 0 or above 255*32; errc::crypto_failure
 *        if OpenSSL fails; cleared on success. On error @p out is zeroed.
 */
IMSP2P_CORE_EXPORT void hkdf_sha256(byte_view input_key_material, byte_view salt, byte_view info,
                                    mutable_byte_view out, std::error_code& ec);

/**
 * HKDF-SHA-256 (RFC 5869) returning the output keying material as a secret.
 * @param input_key_material the IKM
 * @param salt the salt (may be empty)
 * @param info the context information (may be empty)
 * @param length the output length L, 1..8160 bytes
 * @return the output key material
 * @throws std::system_error with errc::invalid_argument (bad length) or errc::crypto_failure
 */
IMSP2P_CORE_EXPORT secret_bytes hkdf_sha256(byte_view input_key_material, byte_view salt,
                                            byte_view info, std::size_t length);

/**
 * Compares two byte strings in time independent of their contents (CRYPTO_memcmp); use it for
 * MACs, tags and tokens.
 * @param a first byte string
 * @param b second byte string
 * @return true when sizes and contents are equal (the sizes are not treated as secret)
 */
IMSP2P_CORE_EXPORT bool constant_time_equal(byte_view a, byte_view b) noexcept;

// ---------------------------------------------------------------------------------------------
// AES-256-GCM

/**
 * AES-256-GCM authenticated encryption (NIST SP 800-38D) with a key set once and reused.
 *
 * Holds two OpenSSL cipher contexts (one per direction) keyed at construction, so seal() and
 * open() only set the nonce: no allocation and no key schedule per call (suited to encrypting
 * 64 KiB segments at memory speed). Nonces are 12 bytes and tags 16 bytes. Never seal two
 * messages with the same key and nonce. In-place operation (output == input, same address) is
 * allowed; partially overlapping buffers are not.
 *
 * Movable, not copyable; the key schedule is wiped on destruction. A default-constructed or
 * moved-from object has no key (has_key() is false; seal()/open() report errc::bad_key). One
 * object must not be used by two threads at once (each thread should own its own).
 */
class IMSP2P_CORE_EXPORT aes256gcm {
  public:
    /** Creates an object without a key; call set_key() before use. */
    aes256gcm() noexcept;
    /**
     * Creates an object keyed with @p key.
     * @param key 32 bytes
     * @throws std::system_error with errc::bad_key_size or errc::crypto_failure
     */
    explicit aes256gcm(byte_view key);
    /** Takes over @p other, which loses its key. @param other the source */
    aes256gcm(aes256gcm&& other) noexcept;
    /** Wipes this key and takes over @p other. @param other the source @return *this */
    aes256gcm& operator=(aes256gcm&& other) noexcept;
    /** Wipes the key schedule and releases the contexts. */
    ~aes256gcm();
    aes256gcm(const aes256gcm&) = delete;             ///< Not copyable.
    aes256gcm& operator=(const aes256gcm&) = delete;  ///< Not copyable.

    /**
     * Sets (or replaces) the key.
     * @param key 32 bytes
     * @param ec errc::bad_key_size or errc::crypto_failure; on error the object is unchanged
     */
    void set_key(byte_view key, std::error_code& ec);
    /**
     * Sets (or replaces) the key.
     * @param key 32 bytes
     * @throws std::system_error with errc::bad_key_size or errc::crypto_failure
     */
    void set_key(byte_view key);
    /** @return true once a key is set */
    bool has_key() const noexcept;

    /**
     * Encrypts and authenticates.
     * @param nonce 12 bytes, unique per key
     * @param aad additional authenticated data (may be empty)
     * @param plaintext the message (may be empty)
     * @param ciphertext_out at least plaintext.size() bytes; receives the ciphertext (same
     *        length as the plaintext) in its first plaintext.size() bytes
     * @param tag_out exactly 16 bytes; receives the tag
     * @param ec errc::bad_key (no key), errc::bad_key_size (nonce or tag size, or
     *        @p ciphertext_out too small), errc::crypto_failure; on error the outputs are zeroed
     */
    void seal(byte_view nonce, byte_view aad, byte_view plaintext, mutable_byte_view ciphertext_out,
              mutable_byte_view tag_out, std::error_code& ec);
    /**
     * Encrypts and authenticates; see the std::error_code overload.
     * @param nonce 12 bytes
     * @param aad additional authenticated data
     * @param plaintext the message
     * @param ciphertext_out at least plaintext.size() bytes
     * @param tag_out exactly 16 bytes
     * @throws std::system_error with the error code of the std::error_code overload
     */
    void seal(byte_view nonce, byte_view aad, byte_view plaintext, mutable_byte_view ciphertext_out,
              mutable_byte_view tag_out);

    /**
     * Verifies and decrypts.
     * @param nonce 12 bytes
     * @param aad the additional authenticated data given to seal()
     * @param ciphertext the ciphertext
     * @param tag 16 bytes
     * @param plaintext_out at least ciphertext.size() bytes; receives the plaintext
     * @param ec errc::authentication_failed if the tag does not verify (wrong key, nonce, AAD,
     *        or tampered data); errc::bad_key, errc::bad_key_size, errc::crypto_failure as for
     *        seal(). On error the output is zeroed: no unauthenticated plaintext is released.
     * @return true on success
     */
    bool open(byte_view nonce, byte_view aad, byte_view ciphertext, byte_view tag,
              mutable_byte_view plaintext_out, std::error_code& ec);
    /**
     * Verifies and decrypts; see the std::error_code overload.
     * @param nonce 12 bytes
     * @param aad the additional authenticated data given to seal()
     * @param ciphertext the ciphertext
     * @param tag 16 bytes
     * @param plaintext_out at least ciphertext.size() bytes
     * @throws std::system_error with errc::authentication_failed and the other codes above
     */
    void open(byte_view nonce, byte_view aad, byte_view ciphertext, byte_view tag,
              mutable_byte_view plaintext_out);

  private:
    struct impl;
    std::unique_ptr<impl> impl_;
};

/**
 * One-shot AES-256-GCM encryption.
 * @param key 32 bytes
 * @param nonce 12 bytes, unique per key
 * @param aad additional authenticated data
 * @param plaintext the message
 * @return ciphertext || 16-byte tag
 * @throws std::system_error with errc::bad_key_size or errc::crypto_failure
 */
IMSP2P_CORE_EXPORT byte_vector aes256gcm_seal(byte_view key, byte_view nonce, byte_view aad,
                                              byte_view plaintext);

/**
 * One-shot AES-256-GCM decryption.
 * @param key 32 bytes
 * @param nonce 12 bytes
 * @param aad additional authenticated data
 * @param ciphertext_and_tag ciphertext || 16-byte tag, as returned by aes256gcm_seal()
 * @param ec errc::authentication_failed, errc::bad_key_size (also when shorter than a tag),
 *        errc::crypto_failure
 * @return the plaintext, or empty on error
 */
IMSP2P_CORE_EXPORT secret_bytes aes256gcm_open(byte_view key, byte_view nonce, byte_view aad,
                                               byte_view ciphertext_and_tag, std::error_code& ec);

/**
 * One-shot AES-256-GCM decryption; see the std::error_code overload.
 * @param key 32 bytes
 * @param nonce 12 bytes
 * @param aad additional authenticated data
 * @param ciphertext_and_tag ciphertext || 16-byte tag
 * @return the plaintext
 * @throws std::system_error with errc::authentication_failed and the other codes above
 */
IMSP2P_CORE_EXPORT secret_bytes aes256gcm_open(byte_view key, byte_view nonce, byte_view aad,
                                               byte_view ciphertext_and_tag);

// ---------------------------------------------------------------------------------------------
// AES key wrap (RFC 3394; JOSE "A256KW", RFC 7518 §4.4)

/**
 * Wraps key data with AES-256 key wrap (RFC 3394, default IV A6A6A6A6A6A6A6A6).
 * @param key_encryption_key 32 bytes
 * @param key_data the key to wrap: a multiple of 8 bytes, at least 16
 * @param ec errc::bad_key_size (KEK or key data size), errc::crypto_failure
 * @return the wrapped key (key_data.size() + 8 bytes), or empty on error
 */
IMSP2P_CORE_EXPORT byte_vector aes256_key_wrap(byte_view key_encryption_key, byte_view key_data,
                                               std::error_code& ec);

/**
 * Wraps key data with AES-256 key wrap; see the std::error_code overload.
 * @param key_encryption_key 32 bytes
 * @param key_data a multiple of 8 bytes, at least 16
 * @return the wrapped key
 * @throws std::system_error with errc::bad_key_size or errc::crypto_failure
 */
IMSP2P_CORE_EXPORT byte_vector aes256_key_wrap(byte_view key_encryption_key, byte_view key_data);

/**
 * Unwraps key data wrapped with AES-256 key wrap (RFC 3394) and checks its integrity value.
 * @param key_encryption_key 32 bytes
 * @param wrapped the wrapped key: a multiple of 8 bytes, at least 24
 * @param ec errc::authentication_failed if the integrity check fails (wrong KEK or tampered);
 *        errc::bad_key_size (sizes), errc::crypto_failure
 * @return the unwrapped key (wrapped.size() - 8 bytes), or empty on error
 */
IMSP2P_CORE_EXPORT secret_bytes aes256_key_unwrap(byte_view key_encryption_key, byte_view wrapped,
                                                  std::error_code& ec);

/**
 * Unwraps key data; see the std::error_code overload.
 * @param key_encryption_key 32 bytes
 * @param wrapped the wrapped key
 * @return the unwrapped key
 * @throws std::system_error with errc::authentication_failed, errc::bad_key_size or
 *         errc::crypto_failure
 */
IMSP2P_CORE_EXPORT secret_bytes aes256_key_unwrap(byte_view key_encryption_key, byte_view wrapped);

// ---------------------------------------------------------------------------------------------
// Ed25519 (RFC 8032, pure Ed25519)

/**
 * An Ed25519 public key.
 *
 * A value type: copies share the immutable OpenSSL key (reference-counted), so copying is cheap
 * and all const functions may be called concurrently on one object or on copies. A
 * default-constructed or moved-from key is empty (empty() is true): verify() fails on it and
 * raw() returns zeros.
 */
class IMSP2P_CORE_EXPORT ed25519_public_key {
  public:
    /** Creates an empty key. */
    ed25519_public_key() noexcept;
    /** Shares the key of @p other. @param other the source */
    ed25519_public_key(const ed25519_public_key& other) noexcept;
    /** Takes over @p other, which becomes empty. @param other the source */
    ed25519_public_key(ed25519_public_key&& other) noexcept;
    /** Shares the key of @p other. @param other the source @return *this */
    ed25519_public_key& operator=(const ed25519_public_key& other) noexcept;
    /** Takes over @p other, which becomes empty. @param other the source @return *this */
    ed25519_public_key& operator=(ed25519_public_key&& other) noexcept;
    /** Releases this reference to the key. */
    ~ed25519_public_key();

    /**
     * Imports a raw 32-byte public key (RFC 8032 §5.1.5 encoding).
     * @param raw 32 bytes
     * @param ec errc::bad_key_size if not 32 bytes, errc::bad_key if OpenSSL rejects it
     * @return the key, or an empty key on error
     */
    static ed25519_public_key from_raw(byte_view raw, std::error_code& ec);
    /**
     * Imports a raw 32-byte public key.
     * @param raw 32 bytes
     * @return the key
     * @throws std::system_error with errc::bad_key_size or errc::bad_key
     */
    static ed25519_public_key from_raw(byte_view raw);

    /** @return true when no key is held */
    bool empty() const noexcept;
    /** @return the raw 32-byte encoding (zeros if empty) */
    ed25519_raw_public_key raw() const noexcept;

    /**
     * Verifies a signature (RFC 8032 §5.1.7, as implemented by OpenSSL: canonical S required).
     * @param message the signed message
     * @param signature the signature (must be 64 bytes)
     * @return true if the signature is valid for this key and message; false otherwise
     *         (including an empty key or a wrong signature size)
     */
    bool verify(byte_view message, byte_view signature) const noexcept;
    /**
     * Verifies a signature and says why it failed.
     * @param message the signed message
     * @param signature the signature
     * @param ec errc::bad_signature (invalid or wrong size), errc::bad_key (empty key),
     *        errc::crypto_failure; cleared on success
     * @return true if the signature is valid
     */
    bool verify(byte_view message, byte_view signature, std::error_code& ec) const noexcept;

  private:
    friend class ed25519_private_key;
    struct impl;
    std::shared_ptr<const impl> impl_;
};

/**
 * Compares two public keys by their raw encodings.
 * @param a first key
 * @param b second key
 * @return true when both are empty or both hold the same public key
 */
IMSP2P_CORE_EXPORT bool operator==(const ed25519_public_key& a,
                                   const ed25519_public_key& b) noexcept;

/**
 * An Ed25519 private key (the 32-byte seed of RFC 8032 and its expansion, held by OpenSSL).
 *
 * A value type: copies share the immutable OpenSSL key (reference-counted; OpenSSL wipes it when
 * the last copy goes). All const functions may be called concurrently. A default-constructed or
 * moved-from key is empty; signing with it reports errc::bad_key.
 */
class IMSP2P_CORE_EXPORT ed25519_private_key {
  public:
    /** Creates an empty key. */
    ed25519_private_key() noexcept;
    /** Shares the key of @p other. @param other the source */
    ed25519_private_key(const ed25519_private_key& other) noexcept;
    /** Takes over @p other, which becomes empty. @param other the source */
    ed25519_private_key(ed25519_private_key&& other) noexcept;
    /** Shares the key of @p other. @param other the source @return *this */
    ed25519_private_key& operator=(const ed25519_private_key& other) noexcept;
    /** Takes over @p other, which becomes empty. @param other the source @return *this */
    ed25519_private_key& operator=(ed25519_private_key&& other) noexcept;
    /** Releases this reference to the key. */
    ~ed25519_private_key();

    /**
     * Generates a fresh key from the OpenSSL CSPRNG.
     * @return the key
     * @throws std::system_error with errc::crypto_failure
     */
    static ed25519_private_key generate();
    /**
     * Imports a 32-byte seed (the RFC 8032 private key).
     * @param seed 32 bytes
     * @param ec errc::bad_key_size if not 32 bytes, errc::bad_key if OpenSSL rejects it
     * @return the key, or an empty key on error
     */
    static ed25519_private_key from_seed(byte_view seed, std::error_code& ec);
    /**
     * Imports a 32-byte seed.
     * @param seed 32 bytes
     * @return the key
     * @throws std::system_error with errc::bad_key_size or errc::bad_key
     */
    static ed25519_private_key from_seed(byte_view seed);

    /** @return true when no key is held */
    bool empty() const noexcept;
    /**
     * Exports the 32-byte seed (for storage, wrapped). Handle with care.
     * @return the seed (empty if this key is empty)
     */
    secret_bytes seed() const;
    /** @return the matching public key (empty if this key is empty) */
    ed25519_public_key public_key() const;

    /**
     * Signs a message (pure Ed25519: deterministic, no pre-hash).
     * @param message the message
     * @param ec errc::bad_key (empty key), errc::crypto_failure; cleared on success
     * @return the signature, or zeros on error
     */
    ed25519_signature sign(byte_view message, std::error_code& ec) const;
    /**
     * Signs a message.
     * @param message the message
     * @return the signature
     * @throws std::system_error with errc::bad_key or errc::crypto_failure
     */
    ed25519_signature sign(byte_view message) const;

  private:
    struct impl;
    std::shared_ptr<const impl> impl_;
};

// ---------------------------------------------------------------------------------------------
// X25519 (RFC 7748)

/**
 * An X25519 public key. Same value semantics and thread-safety as ed25519_public_key.
 */
class IMSP2P_CORE_EXPORT x25519_public_key {
  public:
    /** Creates an empty key. */
    x25519_public_key() noexcept;
    /** Shares the key of @p other. @param other the source */
    x25519_public_key(const x25519_public_key& other) noexcept;
    /** Takes over @p other, which becomes empty. @param other the source */
    x25519_public_key(x25519_public_key&& other) noexcept;
    /** Shares the key of @p other. @param other the source @return *this */
    x25519_public_key& operator=(const x25519_public_key& other) noexcept;
    /** Takes over @p other, which becomes empty. @param other the source @return *this */
    x25519_public_key& operator=(x25519_public_key&& other) noexcept;
    /** Releases this reference to the key. */
    ~x25519_public_key();

    /**
     * Imports a raw 32-byte public key (u-coordinate, RFC 7748 §5).
     * @param raw 32 bytes
     * @param ec errc::bad_key_size if not 32 bytes, errc::bad_key if OpenSSL rejects it
     * @return the key, or an empty key on error
     */
    static x25519_public_key from_raw(byte_view raw, std::error_code& ec);
    /**
     * Imports a raw 32-byte public key.
     * @param raw 32 bytes
     * @return the key
     * @throws std::system_error with errc::bad_key_size or errc::bad_key
     */
    static x25519_public_key from_raw(byte_view raw);

    /** @return true when no key is held */
    bool empty() const noexcept;
    /** @return the raw 32-byte encoding (zeros if empty) */
    x25519_raw_public_key raw() const noexcept;

  private:
    friend class x25519_private_key;
    struct impl;
    std::shared_ptr<const impl> impl_;
};

/**
 * Compares two public keys by their raw encodings.
 * @param a first key
 * @param b second key
 * @return true when both are empty or both hold the same public key
 */
IMSP2P_CORE_EXPORT bool operator==(const x25519_public_key& a, const x25519_public_key& b) noexcept;

/**
 * An X25519 private key. Same value semantics and thread-safety as ed25519_private_key.
 */
class IMSP2P_CORE_EXPORT x25519_private_key {
  public:
    /** Creates an empty key. */
    x25519_private_key() noexcept;
    /** Shares the key of @p other. @param other the source */
    x25519_private_key(const x25519_private_key& other) noexcept;
    /** Takes over @p other, which becomes empty. @param other the source */
    x25519_private_key(x25519_private_key&& other) noexcept;
    /** Shares the key of @p other. @param other the source @return *this */
    x25519_private_key& operator=(const x25519_private_key& other) noexcept;
    /** Takes over @p other, which becomes empty. @param other the source @return *this */
    x25519_private_key& operator=(x25519_private_key&& other) noexcept;
    /** Releases this reference to the key. */
    ~x25519_private_key();

    /**
     * Generates a fresh key from the OpenSSL CSPRNG.
     * @return the key
     * @throws std::system_error with errc::crypto_failure
     */
    static x25519_private_key generate();
    /**
     * Imports a raw 32-byte private scalar (RFC 7748 §5; clamping is applied when used).
     * @param raw 32 bytes
     * @param ec errc::bad_key_size if not 32 bytes, errc::bad_key if OpenSSL rejects it
     * @return the key, or an empty key on error
     */
    static x25519_private_key from_raw(byte_view raw, std::error_code& ec);
    /**
     * Imports a raw 32-byte private scalar.
     * @param raw 32 bytes
     * @return the key
     * @throws std::system_error with errc::bad_key_size or errc::bad_key
     */
    static x25519_private_key from_raw(byte_view raw);

    /** @return true when no key is held */
    bool empty() const noexcept;
    /**
     * Exports the raw 32-byte private key (for storage, wrapped). Handle with care.
     * @return the private key (empty if this key is empty)
     */
    secret_bytes raw() const;
    /** @return the matching public key (empty if this key is empty) */
    x25519_public_key public_key() const;

    /**
     * Computes the X25519 shared secret with a peer (RFC 7748 §6.1).
     * @param peer the peer's public key
     * @param ec errc::bad_key if either key is empty or the result is all zeros (the peer sent a
     *        small-order point); errc::crypto_failure; cleared on success
     * @return the 32-byte shared secret, or empty on error
     */
    secret_bytes derive(const x25519_public_key& peer, std::error_code& ec) const;
    /**
     * Computes the X25519 shared secret with a peer.
     * @param peer the peer's public key
     * @return the 32-byte shared secret
     * @throws std::system_error with errc::bad_key or errc::crypto_failure
     */
    secret_bytes derive(const x25519_public_key& peer) const;

  private:
    struct impl;
    std::shared_ptr<const impl> impl_;
};

}  // namespace imsp2p::core
