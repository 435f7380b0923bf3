#include <imsp2p/drm/torrent.hpp>

#include <imsp2p/core/crypto.hpp>
#include <imsp2p/drm/packager.hpp>

#include <gtest/gtest.h>
#include <imsp2p_test/temporary_directory.hpp>

#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <random>
#include <sstream>
#include <string>

namespace core = imsp2p::core;
namespace drm = imsp2p::drm;
namespace fs = std::filesystem;

namespace {

using temporary_folder = imsp2p_test::temporary_directory;

core::byte_vector read_bytes(const fs::path& path) {
    std::ifstream in(path, std::ios::binary);
    std::ostringstream out;
    out << in.rdbuf();
    return core::to_bytes(out.str());
}

void write_random_file(const fs::path& path, std::size_t size) {
    std::mt19937 generator(42);
    std::string text(size, '\0');
    for (char& c : text)
        c = static_cast<char>(generator() & 0xff);
    std::ofstream(path, std::ios::binary).write(text.data(), static_cast<std::streamsize>(size));
}

}  // namespace

TEST(TorrentPieceSize, RuleKeepsTheTorrentSmallAndHoldsWholeSegments) {
    EXPECT_EQ(drm::choose_piece_size(100, 1u << 14), 1u << 16);
    EXPECT_EQ(drm::choose_piece_size(100, 1u << 22), 1u << 22);
    EXPECT_EQ(drm::choose_piece_size(1500ull << 16, 1u << 16), 1u << 16);
    EXPECT_EQ(drm::choose_piece_size((1500ull << 16) + 1, 1u << 16), 1u << 17);
    EXPECT_EQ(drm::choose_piece_size(1ull << 30, 1u << 16), 1u << 20);  // 1024 pieces
    EXPECT_EQ(drm::choose_piece_size(1ull << 40, 1u << 16), 1u << 24);  // capped
}

TEST(Torrent, PrivateHybridWithPipelineHashesEqualToLibtorrentHashing) {
    const temporary_folder folder;
    // Several pieces of 64 KiB (S = 16 KiB) with a short last piece.
    write_random_file(folder.path() / "movie.mp4", 300000);
    drm::package_options options;
    options.segment_size = 1u << 14;
    options.torrent.web_seed_url = "https://seed.example.net/movie.ipc";
    options.torrent.trackers = {"http://tracker.example.net/announce"};
    const drm::package_result result =
        drm::package_file(folder.path() / "movie.mp4", folder.path() / "movie.ipc",
                          folder.path() / "movie.torrent", options);
    EXPECT_EQ(result.infohash_v1.size(), 40u);
    EXPECT_EQ(result.infohash_v2.size(), 64u);
    EXPECT_EQ(result.piece_size, 1u << 16);

    std::error_code ec;
    const core::byte_vector torrent = read_bytes(result.torrent_path);
    const drm::torrent_summary summary = drm::inspect_torrent(torrent, ec);
    ASSERT_FALSE(ec) << ec.message();
    EXPECT_TRUE(summary.is_private);
    EXPECT_EQ(summary.name, "movie.ipc");
    EXPECT_EQ(summary.total_size, result.container_size);
    EXPECT_EQ(summary.infohash_v1, result.infohash_v1);
    EXPECT_EQ(summary.infohash_v2, result.infohash_v2);
    EXPECT_EQ(summary.piece_count, result.piece_count);
    EXPECT_EQ(summary.piece_count, (result.container_size + (1u << 16) - 1) / (1u << 16));
    ASSERT_EQ(summary.web_seeds.size(), 1u);
    EXPECT_EQ(summary.web_seeds.front(), options.torrent.web_seed_url);
    ASSERT_EQ(summary.trackers.size(), 1u);

    // v1 piece hashes recomputed from the container.
    const core::byte_vector container = read_bytes(result.container_path);
    ASSERT_EQ(summary.piece_hashes.size(), summary.piece_count);
    for (std::size_t piece = 0; piece < summary.piece_count; ++piece) {
        const std::size_t start = piece * summary.piece_size;
        const std::size_t size =
            std::min<std::size_t>(summary.piece_size, container.size() - start);
        EXPECT_EQ(summary.piece_hashes[piece],
                  core::sha1(core::byte_view(container).subspan(start, size)))
            << piece;
    }

    // libtorrent reading and hashing the container itself gives the same torrent identity.
    const core::byte_vector reference =
        drm::make_torrent_by_hashing(result.container_path, options.torrent, ec);
    ASSERT_FALSE(ec) << ec.message();
    const drm::torrent_summary expected = drm::inspect_torrent(reference, ec);
    ASSERT_FALSE(ec);
    EXPECT_TRUE(expected.is_private);
    EXPECT_EQ(expected.infohash_v1, summary.infohash_v1);
    EXPECT_EQ(expected.infohash_v2, summary.infohash_v2);
    EXPECT_EQ(expected.file_root, summary.file_root);
    EXPECT_EQ(expected.piece_hashes, summary.piece_hashes);
}

TEST(Torrent, SinglePieceAndExactPieceMultipleMatchLibtorrent) {
    for (const std::size_t size :
         {std::size_t{1000}, std::size_t{(1u << 16) - (1u << 14)}, std::size_t{3 * (1u << 16)}}) {
        const temporary_folder folder;
        write_random_file(folder.path() / "in.bin", size);
        drm::package_options options;
        options.segment_size = 1u << 14;
        const drm::package_result result =
            drm::package_file(folder.path() / "in.bin", folder.path() / "in.ipc",
                              folder.path() / "in.torrent", options);
        std::error_code ec;
        const drm::torrent_summary expected = drm::inspect_torrent(
            drm::make_torrent_by_hashing(result.container_path, options.torrent, ec), ec);
        ASSERT_FALSE(ec) << ec.message();
        EXPECT_EQ(expected.infohash_v1, result.infohash_v1) << size;
        EXPECT_EQ(expected.infohash_v2, result.infohash_v2) << size;
    }
}

TEST(Torrent, RejectsGarbage) {
    std::error_code ec;
    (void)drm::inspect_torrent(core::as_bytes("d4:infoe"), ec);
    EXPECT_TRUE(ec);
    (void)drm::inspect_torrent(core::as_bytes("not bencode"), ec);
    EXPECT_TRUE(ec);
}
