#include <imsp2p/drm/packager.hpp>

#include <imsp2p/core/error.hpp>
#include <imsp2p/core/key_file.hpp>
#include <imsp2p/drm/error.hpp>
#include <imsp2p/drm/torrent.hpp>

#include <gtest/gtest.h>
#include <imsp2p_test/temporary_directory.hpp>

#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
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

}  // namespace

TEST(Packager, OneThreadAndTwoThreadsGiveTheSameLayoutAndBothDecrypt) {
    const temporary_folder folder;
    std::string text;
    for (int i = 0; i < 50000; ++i)
        text += std::to_string(i) + ",";
    std::ofstream(folder.path() / "in.txt") << text;
    for (const unsigned threads : {1u, 2u}) {
        drm::package_options options;
        options.segment_size = 1u << 14;
        options.threads = threads;
        options.content_type = "text/plain";
        std::uint64_t last_done = 0;
        int calls = 0;
        options.progress = [&](std::uint64_t done, std::uint64_t total) {
            EXPECT_EQ(total, text.size());
            EXPECT_GE(done, last_done);
            last_done = done;
            ++calls;
        };
        const std::string name = "out" + std::to_string(threads);
        const drm::package_result result =
            drm::package_file(folder.path() / "in.txt", folder.path() / (name + ".ipc"),
                              folder.path() / (name + ".torrent"), options);
        EXPECT_EQ(last_done, text.size());
        EXPECT_GT(calls, 0);
        EXPECT_EQ(result.cek.size(), 32u);
        EXPECT_EQ(result.segment_count, (text.size() + 16367) / 16368);
        EXPECT_EQ(result.content_type, "text/plain");
        EXPECT_EQ(result.file_name, "in.txt");
        EXPECT_FALSE(fs::exists(folder.path() / (name + ".ipc.tmp")));
        drm::container_reader reader = drm::container_reader::open(result.container_path);
        std::error_code ec;
        reader.set_key(result.cek, &result.kid, ec);
        std::ostringstream out;
        reader.decrypt_to(out, ec);
        ASSERT_FALSE(ec) << ec.message();
        EXPECT_EQ(out.str(), text);
    }
}

// Inputs of several work units (1 MiB of whole pieces each) packaged by 1, 2 and 3 threads:
// the units are written out of order, yet every torrent equals libtorrent's own hashing of the
// container and the content decrypts back.
TEST(Packager, AnyThreadCountGivesLibtorrentsHashesOverManyUnits) {
    const temporary_folder folder;
    std::mt19937 generator(7);
    std::string content((3u << 20) + 12345, '\0');
    for (char& c : content)
        c = static_cast<char>(generator() & 0xff);
    std::ofstream(folder.path() / "in.bin", std::ios::binary)
        .write(content.data(), static_cast<std::streamsize>(content.size()));
    for (const unsigned threads : {1u, 2u, 3u}) {
        drm::package_options options;
        options.segment_size = 1u << 14;
        options.torrent.piece_size = 1u << 16;
        options.threads = threads;
        const std::string name = "out" + std::to_string(threads);
        const drm::package_result result =
            drm::package_file(folder.path() / "in.bin", folder.path() / (name + ".ipc"),
                              folder.path() / (name + ".torrent"), options);
        std::error_code ec;
        const drm::torrent_summary expected = drm::inspect_torrent(
            drm::make_torrent_by_hashing(result.container_path, options.torrent, ec), ec);
        ASSERT_FALSE(ec) << ec.message();
        EXPECT_EQ(expected.infohash_v1, result.infohash_v1) << threads;
        EXPECT_EQ(expected.infohash_v2, result.infohash_v2) << threads;
        EXPECT_EQ(fs::file_size(result.container_path), result.container_size);
        drm::container_reader reader = drm::container_reader::open(result.container_path);
        reader.set_key(result.cek, &result.kid, ec);
        std::ostringstream out;
        reader.decrypt_to(out, ec);
        ASSERT_FALSE(ec) << ec.message();
        EXPECT_TRUE(out.str() == content) << threads;
    }
}

TEST(Packager, ErrorsLeaveNoFiles) {
    const temporary_folder folder;
    std::error_code ec;
    const drm::package_options defaults;
    (void)drm::package_file(folder.path() / "absent", folder.path() / "a.ipc",
                            folder.path() / "a.torrent", defaults, ec);
    EXPECT_EQ(ec, core::errc::not_found);
    std::ofstream(folder.path() / "in") << "data";
    drm::package_options options;
    options.segment_size = 1000;
    (void)drm::package_file(folder.path() / "in", folder.path() / "a.ipc",
                            folder.path() / "a.torrent", options, ec);
    EXPECT_EQ(ec, drm::errc::container_bad_segment_size);
    options.segment_size = 1u << 16;
    options.torrent.piece_size = 1u << 15;  // smaller than a segment
    (void)drm::package_file(folder.path() / "in", folder.path() / "a.ipc",
                            folder.path() / "a.torrent", options, ec);
    EXPECT_EQ(ec, core::errc::invalid_argument);
    (void)drm::package_file(folder.path(), folder.path() / "a.ipc", folder.path() / "a.torrent",
                            defaults, ec);
    EXPECT_EQ(ec, core::errc::io_error);
    EXPECT_THROW((void)drm::package_file(folder.path() / "absent", folder.path() / "a.ipc",
                                         folder.path() / "a.torrent", defaults),
                 std::system_error);
    EXPECT_FALSE(fs::exists(folder.path() / "a.ipc"));
    EXPECT_FALSE(fs::exists(folder.path() / "a.torrent"));
    EXPECT_FALSE(fs::exists(folder.path() / "a.ipc.tmp"));
}

TEST(Packager, KeyFileRejectsMalformedContent) {
    const temporary_folder folder;
    std::error_code ec;
    core::write_secret_file(folder.path() / "key.json", core::as_bytes("{\"kid\":1}"), ec);
    ASSERT_FALSE(ec);
    (void)drm::read_content_key_file(folder.path() / "key.json", ec);
    EXPECT_EQ(ec, drm::errc::key_file_malformed);
    core::write_secret_file(folder.path() / "key.json",
                            core::as_bytes("{\"kid\":\"AAAA\",\"cek\":\"AAAA\"}"), ec);
    (void)drm::read_content_key_file(folder.path() / "key.json", ec);
    EXPECT_EQ(ec, drm::errc::key_file_malformed);
}

// Streams a multi-GiB sparse input with S = 2^22: memory stays bounded (nothing here holds
// the content), sizes follow the layout, and segments across the file decrypt.
TEST(Packager, MultiGibSparseInputStreams) {
    const temporary_folder folder;
    const fs::path input = folder.path() / "sparse.bin";
    constexpr std::uint64_t size = 2ull << 30;
    {
        const int fd = ::open(input.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
        ASSERT_GE(fd, 0);
        ASSERT_EQ(::ftruncate(fd, static_cast<off_t>(size)), 0);
        ::close(fd);
    }
    drm::package_options options;
    options.segment_size = 1u << 22;
    const drm::package_result result = drm::package_file(input, folder.path() / "sparse.ipc",
                                                         folder.path() / "sparse.torrent", options);
    const std::uint64_t segments = (size + (1u << 22) - 17) / ((1u << 22) - 16);
    EXPECT_EQ(result.segment_count, segments);
    EXPECT_EQ(result.container_size, (1ull << 22) + size + 16 * segments);
    EXPECT_EQ(fs::file_size(result.container_path), result.container_size);
    EXPECT_EQ(result.piece_size, 1u << 22);  // 2 GiB / 1500 rounds up to 2 MiB, then >= S
    EXPECT_EQ(result.infohash_v2.size(), 64u);
    fs::remove(input);

    drm::container_reader reader = drm::container_reader::open(result.container_path);
    std::error_code ec;
    reader.set_key(result.cek, &result.kid, ec);
    core::byte_vector plaintext(1u << 22);
    for (const std::uint64_t index : {std::uint64_t{0}, segments / 2, segments - 1}) {
        const std::size_t got = reader.decrypt_segment(index, plaintext, ec);
        ASSERT_FALSE(ec) << ec.message();
        EXPECT_EQ(got, reader.header().segment_plaintext_size(index));
        EXPECT_TRUE(std::all_of(plaintext.begin(), plaintext.begin() + static_cast<long>(got),
                                [](std::uint8_t b) { return b == 0; }));
    }
}
