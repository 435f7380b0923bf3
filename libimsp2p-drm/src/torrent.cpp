#include <imsp2p/drm/torrent.hpp>

#include <imsp2p/core/encoding.hpp>
#include <imsp2p/core/error.hpp>
#include <imsp2p/drm/container.hpp>

#include "torrent_builder.hpp"

#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wshadow"
#pragma GCC diagnostic ignored "-Wold-style-cast"
#pragma GCC diagnostic ignored "-Wnon-virtual-dtor"
#pragma GCC diagnostic ignored "-Wconversion"
#pragma GCC diagnostic ignored "-Wsign-conversion"
#pragma GCC diagnostic ignored "-Wuseless-cast"
#pragma GCC diagnostic ignored "-Wpedantic"
#include <libtorrent/bencode.hpp>
#include <libtorrent/create_torrent.hpp>
#include <libtorrent/file_storage.hpp>
#include <libtorrent/hex.hpp>
#include <libtorrent/torrent_info.hpp>
#pragma GCC diagnostic pop

#include <cstring>
#include <exception>
#include <iterator>

namespace imsp2p::drm {

namespace {

template <typename Digest>
std::string digest_hex(const Digest& digest) {
    return core::to_hex(
        core::byte_view(reinterpret_cast<const std::uint8_t*>(digest.data()), digest.size()));
}

void apply_options(lt::create_torrent& creator, const torrent_options& options) {
    creator.set_priv(true);
    if (!options.web_seed_url.empty())
        creator.add_url_seed(options.web_seed_url);
    int tier = 0;
    for (const std::string& tracker : options.trackers)
        creator.add_tracker(tracker, tier++);
    if (!options.creator.empty())
        creator.set_creator(options.creator.c_str());
}

core::byte_vector encode(const lt::create_torrent& creator) {
    const std::vector<char> buffer = creator.generate_buf();
    return core::byte_vector(buffer.begin(), buffer.end());
}

bool piece_size_ok(std::uint32_t piece_size, std::uint32_t segment_size) {
    return piece_size >= segment_size && piece_size >= min_segment_size &&
           (piece_size & (piece_size - 1)) == 0 && piece_size <= (1u << 28);
}

}  // namespace

std::uint32_t choose_piece_size(std::uint64_t container_size, std::uint32_t segment_size) noexcept {
    std::uint64_t piece = std::max<std::uint64_t>(min_piece_size, segment_size);
    while (piece < max_piece_size && (container_size + piece - 1) / piece > target_max_pieces)
        piece *= 2;
    return static_cast<std::uint32_t>(piece);
}

namespace detail {

core::byte_vector build_torrent(const std::string& file_name, std::uint64_t file_size,
                                std::uint32_t piece_size,
                                const std::vector<core::sha1_digest>& piece_hashes,
                                const std::vector<core::sha256_digest>& piece_roots,
                                const torrent_options& options, std::error_code& ec) {
    ec.clear();
    try {
        lt::file_storage files;
        files.add_file(file_name, static_cast<std::int64_t>(file_size));
        lt::create_torrent creator(files, static_cast<int>(piece_size));
        if (static_cast<std::size_t>(creator.num_pieces()) != piece_hashes.size() ||
            piece_hashes.size() != piece_roots.size()) {
            ec = core::errc::invalid_argument;
            return {};
        }
        apply_options(creator, options);
        for (std::size_t index = 0; index < piece_hashes.size(); ++index) {
            lt::sha1_hash v1;
            std::memcpy(v1.data(), piece_hashes[index].data(), v1.size());
            creator.set_hash(lt::piece_index_t(static_cast<int>(index)), v1);
            lt::sha256_hash v2;
            std::memcpy(v2.data(), piece_roots[index].data(), v2.size());
            creator.set_hash2(lt::file_index_t(0), static_cast<lt::piece_index_t::diff_type>(index),
                              v2);
        }
        return encode(creator);
    } catch (const std::exception&) {
        ec = core::errc::invalid_argument;
        return {};
    }
}

}  // namespace detail

torrent_summary inspect_torrent(core::byte_view torrent, std::error_code& ec) {
    ec.clear();
    torrent_summary summary;
    lt::error_code lt_error;
    const lt::torrent_info info(lt::span<const char>(reinterpret_cast<const char*>(torrent.data()),
                                                     static_cast<std::ptrdiff_t>(torrent.size())),
                                lt_error, lt::from_span);
    if (lt_error) {
        ec = core::errc::invalid_argument;
        return summary;
    }
    summary.is_private = info.priv();
    summary.name = info.name();
    summary.total_size = static_cast<std::uint64_t>(info.total_size());
    summary.piece_size = static_cast<std::uint32_t>(info.piece_length());
    summary.piece_count = static_cast<std::uint64_t>(info.num_pieces());
    if (info.info_hashes().has_v1())
        summary.infohash_v1 = digest_hex(info.info_hashes().v1);
    if (info.info_hashes().has_v2())
        summary.infohash_v2 = digest_hex(info.info_hashes().v2);
    if (info.info_hashes().has_v1()) {
        for (int index = 0; index < info.num_pieces(); ++index) {
            const lt::sha1_hash hash = info.hash_for_piece(lt::piece_index_t(index));
            core::sha1_digest digest{};
            std::memcpy(digest.data(), hash.data(), digest.size());
            summary.piece_hashes.push_back(digest);
        }
    }
    if (info.info_hashes().has_v2() && info.num_files() > 0) {
        const lt::sha256_hash root = info.files().root(lt::file_index_t(0));
        std::memcpy(summary.file_root.data(), root.data(), summary.file_root.size());
        const lt::span<const char> layer = info.piece_layer(lt::file_index_t(0));
        for (std::ptrdiff_t offset = 0; offset + 32 <= layer.size(); offset += 32) {
            core::sha256_digest digest{};
            std::memcpy(digest.data(), layer.data() + offset, digest.size());
            summary.piece_layer.push_back(digest);
        }
    }
    for (const auto& seed : info.web_seeds())
        summary.web_seeds.push_back(seed.url);
    for (const auto& tracker : info.trackers())
        summary.trackers.push_back(tracker.url);
    return summary;
}

core::byte_vector make_torrent_by_hashing(const std::filesystem::path& container,
                                          const torrent_options& options, std::error_code& ec) {
    ec.clear();
    const container_reader reader = container_reader::open(container, ec);
    if (ec)
        return {};
    const container_header& header = reader.header();
    const std::uint32_t piece_size =
        options.piece_size != 0 ? options.piece_size
                                : choose_piece_size(header.container_size(), header.segment_size);
    if (!piece_size_ok(piece_size, header.segment_size)) {
        ec = core::errc::invalid_argument;
        return {};
    }
    try {
        lt::file_storage files;
        files.add_file(container.filename().string(),
                       static_cast<std::int64_t>(header.container_size()));
        lt::create_torrent creator(files, static_cast<int>(piece_size));
        apply_options(creator, options);
        lt::error_code lt_error;
        lt::set_piece_hashes(creator, container.parent_path().string(), lt_error);
        if (lt_error) {
            ec = core::errc::io_error;
            return {};
        }
        return encode(creator);
    } catch (const std::exception&) {
        ec = core::errc::invalid_argument;
        return {};
    }
}

namespace detail {
bool valid_piece_size(std::uint32_t piece_size, std::uint32_t segment_size) {
    return piece_size_ok(piece_size, segment_size);
}
}  // namespace detail

}  // namespace imsp2p::drm
