/**
 * @file
 * The protected content container (`.ipc`, "imsp2p protected content"): header codec, segment
 * cipher and a random-access reader / streaming decryptor.
 *
 * Layout (all integers big-endian; DESIGN.md "Protected content container"):
 * ```
 * offset 0      header: "IMSP2PC1" | u8 version=1 | u8 suite=1 | u16 0 | u32 S | u64 P
 *                       | 16 B kid | 32 B salt | u32 meta_len | meta (JSON object)
 *                       | zero padding up to S bytes
 * offset S*(i+1) segment i (i = 0..n-1): AES-256-GCM ciphertext of plaintext bytes
 *                [i*(S-16), min(P, (i+1)*(S-16))) followed by its 16-byte tag
 * ```
 * - n = max(1, ceil(P / (S-16))): the empty file (P = 0) is one final segment holding only a
 *   16-byte tag, so even an empty content has an authenticated end and truncation is detectable.
 * - When P is a multiple of S-16 the last segment is a full S bytes (no empty extra segment).
 * - The container size is exactly S + P + 16*n; anything shorter is truncated, anything longer
 *   has appended data.
 * - key = HKDF-SHA256(CEK, salt, "imsp2p/v1 segment key"); nonce = be32(0) || be64(i);
 *   AAD = SHA-256(header) || be64(i) || u8 last, where "header" is all S header bytes
 *   (fields, metadata and padding) and last is 1 for segment n-1, else 0.
 * - meta is a JSON object; its optional members "content_type" and "file_name" must be strings.
 */
#pragma once

#include <imsp2p/core/bytes.hpp>
#include <imsp2p/core/crypto.hpp>
#include <imsp2p/drm/export.hpp>

#include <array>
#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <functional>
#include <iosfwd>
#include <memory>
#include <string>
#include <string_view>
#include <system_error>

namespace imsp2p::drm {

/** The 8-byte magic that starts every container. */
inline constexpr std::string_view container_magic = "IMSP2PC1";
/** The container format version this library reads and writes. */
inline constexpr std::uint8_t container_version = 1;
/** Cipher suite 1: AES-256-GCM segments, HKDF-SHA256 segment key. */
inline constexpr std::uint8_t container_suite_aes256gcm = 1;
/** Smallest allowed segment size (2^14). */
inline constexpr std::uint32_t min_segment_size = 1u << 14;
/** Largest allowed segment size (2^22). */
inline constexpr std::uint32_t max_segment_size = 1u << 22;
/** Default segment size (2^16). */
inline constexpr std::uint32_t default_segment_size = 1u << 16;
/** Size of the fixed header fields before the metadata (76 bytes). */
inline constexpr std::size_t container_fixed_header_size = 76;
/** Size of the tag that ends every segment. */
inline constexpr std::size_t segment_tag_size = 16;
/** Size of a content key (CEK). */
inline constexpr std::size_t content_key_size = 32;
/** The HKDF info string of the segment key. */
inline constexpr std::string_view segment_key_info = "imsp2p/v1 segment key";

/** A content key identifier (16 random bytes). */
using content_kid = std::array<std::uint8_t, 16>;
/** The per-container HKDF salt (32 random bytes). */
using content_salt = std::array<std::uint8_t, 32>;

/**
 * @param segment_size a candidate segment size
 * @return true when it is a power of two in [min_segment_size, max_segment_size]
 */
constexpr bool valid_segment_size(std::uint64_t segment_size) noexcept {
    return segment_size >= min_segment_size && segment_size <= max_segment_size &&
           (segment_size & (segment_size - 1)) == 0;
}

/**
 * The decoded header of a container; a value type. The derived sizes assume a header that
 * validated (valid segment size, sizes without overflow).
 */
struct IMSP2P_DRM_EXPORT container_header {
    std::uint32_t segment_size = default_segment_size;  ///< S, a power of two in 2^14..2^22.
    std::uint64_t plaintext_size = 0;                   ///< P, the size of the plain content.
    content_kid kid{};                                  ///< Identifies the CEK.
    content_salt salt{};                                ///< HKDF salt of the segment key.
    std::string content_type;  ///< Metadata "content_type" (empty: not present).
    std::string file_name;     ///< Metadata "file_name" (empty: not present).
    /** The raw metadata JSON as stored (set by parse and encode; encode builds it if empty). */
    std::string metadata_json;

    /** @return S - 16, the plaintext bytes of each full segment */
    std::uint64_t chunk_size() const noexcept { return segment_size - segment_tag_size; }
    /** @return n = max(1, ceil(P / (S-16))) */
    std::uint64_t segment_count() const noexcept;
    /** @return S + P + 16*n, the exact container size */
    std::uint64_t container_size() const noexcept;
    /** @param index a segment index below segment_count() @return its offset S*(index+1) */
    std::uint64_t segment_offset(std::uint64_t index) const noexcept;
    /** @param index a segment index below segment_count() @return its plaintext size */
    std::uint64_t segment_plaintext_size(std::uint64_t index) const noexcept;
    /** @param index a segment index below segment_count() @return its stored size (+16) */
    std::uint64_t segment_stored_size(std::uint64_t index) const noexcept {
        return segment_plaintext_size(index) + segment_tag_size;
    }
};

/**
 * Encodes a header into its S bytes (fields, metadata JSON, zero padding).
 * @param header the header; its metadata_json is used if set, else built from content_type and
 *        file_name
 * @param ec container_bad_segment_size, container_bad_metadata (does not fit in S-76 bytes or
 *        is not a JSON object), container_bad_header (sizes overflow); cleared on success
 * @return the S header bytes, empty on error
 */
IMSP2P_DRM_EXPORT core::byte_vector encode_header(const container_header& header,
                                                  std::error_code& ec);

/**
 * Parses and strictly validates a container header.
 * @param bytes the start of the container: at least the S header bytes (extra bytes ignored)
 * @param ec container_bad_magic, container_unsupported (version or suite), container_bad_padding
 *        (reserved u16 or padding not zero), container_bad_segment_size,
 *        container_bad_metadata (meta_len > S-76, not a JSON object, non-string known member),
 *        container_bad_header (P so large that the container size overflows 64 bits),
 *        container_truncated (fewer than S bytes); cleared on success
 * @return the header (metadata_json holds the stored JSON), default on error
 */
IMSP2P_DRM_EXPORT container_header parse_header(core::byte_view bytes, std::error_code& ec);

/** Throwing form of parse_header(). @param bytes the header bytes @return the header
 * @throws std::system_error with the codes above */
IMSP2P_DRM_EXPORT container_header parse_header(core::byte_view bytes);

/**
 * Seals and opens the segments of one container: holds the derived segment key (AES-256-GCM
 * context) and SHA-256(header). Movable, not copyable; one object must not be used by two
 * threads at once.
 */
class IMSP2P_DRM_EXPORT segment_cipher {
  public:
    /**
     * Derives the segment key.
     * @param cek the 32-byte content key
     * @param header the validated header
     * @param header_bytes its S encoded bytes (hashed into every AAD)
     * @throws std::system_error with core::errc::bad_key_size if the CEK is not 32 bytes
     */
    segment_cipher(core::byte_view cek, const container_header& header,
                   core::byte_view header_bytes);
    /** Move. @param other the source */
    segment_cipher(segment_cipher&& other) noexcept;
    /** Move. @param other the source @return *this */
    segment_cipher& operator=(segment_cipher&& other) noexcept;
    /** Wipes the key. */
    ~segment_cipher();
    segment_cipher(const segment_cipher&) = delete;             ///< Not copyable.
    segment_cipher& operator=(const segment_cipher&) = delete;  ///< Not copyable.

    /**
     * Encrypts segment @p index in place.
     * @param index the segment index (< segment count)
     * @param buffer segment_plaintext_size(index) plaintext bytes followed by 16 bytes of room;
     *        receives the stored segment (ciphertext || tag)
     * @param ec segment_out_of_range, core::errc::invalid_argument (wrong size), crypto errors
     */
    void seal(std::uint64_t index, core::mutable_byte_view buffer, std::error_code& ec);

    /**
     * Verifies and decrypts a stored segment as segment @p index.
     * @param index the position the bytes were read from
     * @param stored ciphertext || tag (segment_stored_size(index) bytes)
     * @param plaintext_out at least stored.size() - 16 bytes
     * @param ec segment_out_of_range, container_truncated (wrong size), segment_tampered when
     *        the tag fails (no diagnosis here; see container_reader), cleared on success
     * @return true on success; on failure @p plaintext_out is zeroed
     */
    bool open(std::uint64_t index, core::byte_view stored, core::mutable_byte_view plaintext_out,
              std::error_code& ec);

  private:
    struct impl;
    std::unique_ptr<impl> impl_;
};

/** Progress of a long operation: bytes done of total. */
using progress_callback = std::function<void(std::uint64_t done, std::uint64_t total)>;

/**
 * Opens a container file for random-access and streaming decryption (the player's decryptor).
 *
 * open() reads and validates the header and checks the file size against it (shorter:
 * container_truncated; longer: container_trailing_data). After set_key(), decrypt_segment()
 * decrypts any segment on its own, and decrypt_to() the whole content, streaming with one
 * segment of memory. A failing segment is diagnosed (only on the failure path):
 * segment_reordered if its bytes authenticate at another index of the same size (up to 4096
 * candidate indices around it are tried), wrong_key if another probed segment (the first or
 * the last) fails too (wrong CEK or an altered header, which changes every AAD), otherwise
 * segment_tampered. A container of a single segment reports wrong_key for any failure.
 *
 * Movable, not copyable; not safe for concurrent use (use one reader per thread).
 */
class IMSP2P_DRM_EXPORT container_reader {
  public:
    /** Creates a closed reader. */
    container_reader() noexcept;
    /** Move. @param other the source */
    container_reader(container_reader&& other) noexcept;
    /** Move. @param other the source @return *this */
    container_reader& operator=(container_reader&& other) noexcept;
    /** Closes the file and wipes the key. */
    ~container_reader();
    container_reader(const container_reader&) = delete;             ///< Not copyable.
    container_reader& operator=(const container_reader&) = delete;  ///< Not copyable.

    /**
     * Opens and validates a container.
     * @param path the .ipc file
     * @param ec core::errc::io_error / not_found, the parse_header() codes,
     *        container_truncated, container_trailing_data
     * @return the reader (closed on error)
     */
    static container_reader open(const std::filesystem::path& path, std::error_code& ec);
    /** Throwing form of open(). @param path the .ipc file @return the reader
     * @throws std::system_error with the codes above and the path */
    static container_reader open(const std::filesystem::path& path);

    /** @return true when a container is open */
    bool is_open() const noexcept;
    /** @return the header (default when closed) */
    const container_header& header() const noexcept;

    /**
     * Sets the content key.
     * @param cek the 32-byte CEK
     * @param kid if given, must equal the container's kid (else wrong_key)
     * @param ec core::errc::bad_key_size, wrong_key, core::errc::invalid_argument if closed
     */
    void set_key(core::byte_view cek, const content_kid* kid, std::error_code& ec);

    /**
     * Decrypts one segment (random access).
     * @param index the segment index
     * @param plaintext_out at least header().chunk_size() bytes
     * @param ec segment_out_of_range, core::errc::io_error, segment_tampered,
     *        segment_reordered, wrong_key, core::errc::invalid_argument (no key / closed)
     * @return the number of plaintext bytes written (0 on error; the output is zeroed)
     */
    std::size_t decrypt_segment(std::uint64_t index, core::mutable_byte_view plaintext_out,
                                std::error_code& ec);

    /**
     * Decrypts the whole content to a stream, segment by segment. On error the bytes of the
     * segments verified so far have been written.
     * @param out the destination
     * @param ec the decrypt_segment() codes, core::errc::io_error if the stream fails
     * @param progress optional; called on the calling thread after each segment
     */
    void decrypt_to(std::ostream& out, std::error_code& ec, const progress_callback& progress = {});

    /**
     * Decrypts the whole content to a file, written as "<path>.part" and renamed at the end;
     * on error the partial file is removed.
     * @param path the output file
     * @param ec as decrypt_to()
     * @param progress optional; called on the calling thread after each segment
     */
    void decrypt_to_file(const std::filesystem::path& path, std::error_code& ec,
                         const progress_callback& progress = {});

  private:
    struct impl;
    std::unique_ptr<impl> impl_;
};

}  // namespace imsp2p::drm
