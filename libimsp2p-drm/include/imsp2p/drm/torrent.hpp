/**
 * @file
 * Private BitTorrent v1+v2 hybrid torrents for protected content containers (libtorrent is
 * used inside the library only; no libtorrent type appears here).
 *
 * Piece size rule (choose_piece_size()): the smallest power of two p >= max(64 KiB, S) such that
 * the container has at most 1500 pieces, capped at 16 MiB (larger contents then have more
 * pieces). Since S and p are powers of two and p >= S, every piece holds whole segments (the
 * header is exactly one segment slot), so each verified piece decrypts on its own.
 */
#pragma once

#include <imsp2p/core/bytes.hpp>
#include <imsp2p/core/crypto.hpp>
#include <imsp2p/drm/export.hpp>

#include <cstdint>
#include <filesystem>
#include <string>
#include <system_error>
#include <vector>

namespace imsp2p::drm {

/** Smallest piece size chosen by the rule (64 KiB). */
inline constexpr std::uint32_t min_piece_size = 1u << 16;
/** Largest piece size chosen by the rule (16 MiB). */
inline constexpr std::uint32_t max_piece_size = 1u << 24;
/** The piece count the rule stays under when the cap allows. */
inline constexpr std::uint64_t target_max_pieces = 1500;

/**
 * Applies the piece size rule of this file's description.
 * @param container_size the size of the .ipc file
 * @param segment_size its segment size S
 * @return the piece size
 */
IMSP2P_DRM_EXPORT std::uint32_t choose_piece_size(std::uint64_t container_size,
                                                  std::uint32_t segment_size) noexcept;

/** Torrent settings; a value type. */
struct torrent_options {
    std::uint32_t piece_size = 0;       ///< 0: choose_piece_size(); else a power of two >= S.
    std::string web_seed_url;           ///< BEP 19 URL of the .ipc file; empty: none.
    std::vector<std::string> trackers;  ///< Announce URLs, one tier each; may be empty.
    std::string creator = "imsp2p";     ///< "created by"; empty: omitted.
};

/** What a torrent file says; a value type filled by inspect_torrent(). */
struct torrent_summary {
    bool is_private = false;                       ///< BEP 27 private flag.
    std::string name;                              ///< The file name.
    std::uint64_t total_size = 0;                  ///< Size of the (single) file.
    std::uint32_t piece_size = 0;                  ///< Piece length.
    std::uint64_t piece_count = 0;                 ///< Number of pieces.
    std::string infohash_v1;                       ///< 40 hex digits; empty if not v1.
    std::string infohash_v2;                       ///< 64 hex digits; empty if not v2.
    std::vector<core::sha1_digest> piece_hashes;   ///< v1 SHA-1 piece hashes.
    core::sha256_digest file_root{};               ///< v2 merkle root of the file.
    std::vector<core::sha256_digest> piece_layer;  ///< v2 piece layer (empty if one piece).
    std::vector<std::string> web_seeds;            ///< BEP 19 URLs.
    std::vector<std::string> trackers;             ///< Announce URLs.
};

/**
 * Parses a torrent with libtorrent (lt::torrent_info) and summarises it.
 * @param torrent the bencoded .torrent
 * @param ec core::errc::invalid_argument when libtorrent refuses it; cleared on success
 * @return the summary
 */
IMSP2P_DRM_EXPORT torrent_summary inspect_torrent(core::byte_view torrent, std::error_code& ec);

/**
 * Creates the torrent of an existing container file by letting libtorrent read and hash it
 * (lt::set_piece_hashes): a second read, unlike the packager's pipeline. Useful to re-create a
 * torrent and as an independent reference for the pipeline's hashes.
 * @param container the .ipc file (its segment size sets the minimum piece size)
 * @param options the torrent settings
 * @param ec core::errc::io_error, the container_reader::open() codes, core::errc::invalid_argument
 * @return the bencoded torrent, empty on error
 */
IMSP2P_DRM_EXPORT core::byte_vector make_torrent_by_hashing(const std::filesystem::path& container,
                                                            const torrent_options& options,
                                                            std::error_code& ec);

}  // namespace imsp2p::drm
