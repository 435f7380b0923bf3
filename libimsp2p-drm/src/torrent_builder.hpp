// Torrent building from precomputed piece hashes (private header shared by the packager).
#pragma once

#include <imsp2p/core/bytes.hpp>
#include <imsp2p/core/crypto.hpp>
#include <imsp2p/drm/torrent.hpp>

#include <cstdint>
#include <string>
#include <system_error>
#include <vector>

namespace imsp2p::drm::detail {

/** Builds a private hybrid single-file torrent from v1 piece hashes and v2 piece roots. */
core::byte_vector build_torrent(const std::string& file_name, std::uint64_t file_size,
                                std::uint32_t piece_size,
                                const std::vector<core::sha1_digest>& piece_hashes,
                                const std::vector<core::sha256_digest>& piece_roots,
                                const torrent_options& options, std::error_code& ec);

/** @return true when the piece size is a power of two >= S (and <= 256 MiB). */
bool valid_piece_size(std::uint32_t piece_size, std::uint32_t segment_size);

}  // namespace imsp2p::drm::detail
