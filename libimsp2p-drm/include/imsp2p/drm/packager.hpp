/**
 * @file
 * The streaming packager (publisher side): plain file -> .ipc container + private hybrid
 * torrent, in one read of the input with bounded memory; and the content key file.
 *
 * Thread model of package_file(): the call blocks. The container is cut into units of whole
 * pieces (at least 1 MiB); each thread (the calling thread and threads - 1 internal ones, at most
 * 16, never more than there are units) takes the next unit and, for each chunk of max(S, 256 KiB)
 * bytes of it, reads the plaintext, seals the segments in place, hashes the stored bytes (SHA-1
 * of the v1 piece, SHA-256 of each 16 KiB v2 leaf, then the piece root) and writes them at their
 * offset, so each byte is handled while it is in the cache and the threads need no hand-off.
 * Memory stays O(threads * max(S, 256 KiB)) plus 52 bytes per piece whatever the input size;
 * the container's size is reserved up front (fallocate). The internal threads are joined before
 * the call returns (also on error). The progress callback runs on the calling thread.
 */
#pragma once

#include <imsp2p/core/bytes.hpp>
#include <imsp2p/core/crypto.hpp>
#include <imsp2p/drm/container.hpp>
#include <imsp2p/drm/export.hpp>
#include <imsp2p/drm/torrent.hpp>

#include <cstdint>
#include <filesystem>
#include <string>
#include <system_error>

namespace imsp2p::drm {

/** Packaging settings; a value type. */
struct package_options {
    std::uint32_t segment_size = default_segment_size;      ///< S, power of two in 2^14..2^22.
    std::string content_type = "application/octet-stream";  ///< Stored in the metadata.
    std::string file_name;       ///< Stored in the metadata; empty: the input's file name.
    torrent_options torrent;     ///< Piece size, web seed, trackers.
    unsigned threads = 2;        ///< 1: all on the calling thread; n: n threads (caller too).
    progress_callback progress;  ///< Optional; (plaintext bytes done, total), calling thread.
};

/** The outcome of packaging; a value type holding the secret CEK. */
struct package_result {
    core::secret_bytes cek;                ///< The random 32-byte content key.
    content_kid kid{};                     ///< The random key identifier in the header.
    std::filesystem::path container_path;  ///< The .ipc written.
    std::filesystem::path torrent_path;    ///< The .torrent written.
    std::uint64_t plaintext_size = 0;      ///< Input size.
    std::uint64_t container_size = 0;      ///< .ipc size.
    std::uint32_t segment_size = 0;        ///< S.
    std::uint64_t segment_count = 0;       ///< n.
    std::uint32_t piece_size = 0;          ///< Torrent piece size.
    std::uint64_t piece_count = 0;         ///< Torrent piece count.
    std::string infohash_v1;               ///< 40 hex digits.
    std::string infohash_v2;               ///< 64 hex digits (full SHA-256).
    std::string content_type;              ///< As stored in the metadata.
    std::string file_name;                 ///< As stored in the metadata.
};

/**
 * Packages a file: writes the container and its torrent (each via a temporary name in the
 * same folder, renamed when complete; removed on error).
 * @param input a regular file of any size (it must not change while packaged)
 * @param container_path the .ipc to write (replaced if present)
 * @param torrent_path the .torrent to write (replaced if present)
 * @param options the settings
 * @param ec core::errc::not_found / io_error (also when the input changes size),
 *        container_bad_segment_size, container_bad_metadata, core::errc::invalid_argument (bad
 *        piece size), core::errc::crypto_failure; cleared on success
 * @return the result (cek empty on error)
 */
IMSP2P_DRM_EXPORT package_result package_file(const std::filesystem::path& input,
                                              const std::filesystem::path& container_path,
                                              const std::filesystem::path& torrent_path,
                                              const package_options& options, std::error_code& ec);

/** Throwing form of package_file(). @param input the input @param container_path the .ipc
 * @param torrent_path the .torrent @param options settings @return the result
 * @throws std::system_error with the codes above */
IMSP2P_DRM_EXPORT package_result package_file(const std::filesystem::path& input,
                                              const std::filesystem::path& container_path,
                                              const std::filesystem::path& torrent_path,
                                              const package_options& options);

/** A content key with its identifier; a value type. */
struct content_key {
    content_kid kid{};       ///< The key identifier.
    core::secret_bytes cek;  ///< The 32-byte CEK.
};

/**
 * Writes a content key file (0600, atomic): `{"kid":"<base64url>","cek":"<base64url>"}`.
 * @param path the file
 * @param key the key
 * @param ec the core::write_secret_file() codes
 */
IMSP2P_DRM_EXPORT void write_content_key_file(const std::filesystem::path& path,
                                              const content_key& key, std::error_code& ec);

/**
 * Reads a content key file.
 * @param path the file
 * @param ec the core::read_secret_file() codes, key_file_malformed
 * @return the key (empty CEK on error)
 */
IMSP2P_DRM_EXPORT content_key read_content_key_file(const std::filesystem::path& path,
                                                    std::error_code& ec);

}  // namespace imsp2p::drm
