#include <imsp2p/drm/container.hpp>

#include <imsp2p/core/error.hpp>
#include <imsp2p/drm/error.hpp>
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

constexpr std::uint32_t small_segment = drm::min_segment_size;  // 2^14 keeps tests fast

using temporary_folder = imsp2p_test::temporary_directory;

std::string random_text(std::size_t size, unsigned seed) {
    std::mt19937 generator(seed);
    std::string text(size, '\0');
    for (char& c : text)
        c = static_cast<char>(generator() & 0xff);
    return text;
}

void write_file(const fs::path& path, const std::string& contents) {
    std::ofstream out(path, std::ios::binary | std::ios::trunc);
    out.write(contents.data(), static_cast<std::streamsize>(contents.size()));
}

std::string read_file(const fs::path& path) {
    std::ifstream in(path, std::ios::binary);
    std::ostringstream out;
    out << in.rdbuf();
    return out.str();
}

struct packaged {
    drm::package_result result;
    std::string plaintext;
};

packaged package(const temporary_folder& folder, std::size_t size, unsigned seed = 1) {
    packaged out;
    out.plaintext = random_text(size, seed);
    write_file(folder.path() / "input.bin", out.plaintext);
    drm::package_options options;
    options.segment_size = small_segment;
    options.content_type = "video/mp4";
    out.result = drm::package_file(folder.path() / "input.bin", folder.path() / "input.ipc",
                                   folder.path() / "input.torrent", options);
    return out;
}

std::error_code decrypt_all(const fs::path& container, const core::secret_bytes& cek,
                            std::string* plaintext = nullptr) {
    std::error_code ec;
    drm::container_reader reader = drm::container_reader::open(container, ec);
    if (ec)
        return ec;
    reader.set_key(cek, nullptr, ec);
    if (ec)
        return ec;
    std::ostringstream out;
    reader.decrypt_to(out, ec);
    if (plaintext != nullptr)
        *plaintext = out.str();
    return ec;
}

void flip_byte(const fs::path& path, std::uint64_t offset) {
    std::fstream file(path, std::ios::binary | std::ios::in | std::ios::out);
    file.seekg(static_cast<std::streamoff>(offset));
    char c = 0;
    file.read(&c, 1);
    c = static_cast<char>(c ^ 0x01);
    file.seekp(static_cast<std::streamoff>(offset));
    file.write(&c, 1);
}

}  // namespace

TEST(ContainerHeader, EncodeParseRoundTrip) {
    drm::container_header header;
    header.segment_size = small_segment;
    header.plaintext_size = 123456789;
    header.kid[0] = 7;
    header.salt[31] = 9;
    header.content_type = "video/mp4";
    header.file_name = "film.mp4";
    std::error_code ec;
    const core::byte_vector bytes = drm::encode_header(header, ec);
    ASSERT_FALSE(ec) << ec.message();
    ASSERT_EQ(bytes.size(), small_segment);
    EXPECT_EQ(std::string(bytes.begin(), bytes.begin() + 8), "IMSP2PC1");
    EXPECT_EQ(bytes[8], 1);
    EXPECT_EQ(bytes[9], 1);
    const drm::container_header parsed = drm::parse_header(bytes, ec);
    ASSERT_FALSE(ec) << ec.message();
    EXPECT_EQ(parsed.segment_size, header.segment_size);
    EXPECT_EQ(parsed.plaintext_size, header.plaintext_size);
    EXPECT_EQ(parsed.kid, header.kid);
    EXPECT_EQ(parsed.salt, header.salt);
    EXPECT_EQ(parsed.content_type, "video/mp4");
    EXPECT_EQ(parsed.file_name, "film.mp4");
}

TEST(ContainerHeader, DerivedSizesFollowTheLayout) {
    drm::container_header header;
    header.segment_size = small_segment;
    const std::uint64_t chunk = small_segment - 16;
    for (const std::uint64_t size :
         {std::uint64_t{0}, std::uint64_t{1}, chunk - 1, chunk, chunk + 1, 5 * chunk}) {
        header.plaintext_size = size;
        const std::uint64_t count = size == 0 ? 1 : (size + chunk - 1) / chunk;
        EXPECT_EQ(header.segment_count(), count) << size;
        EXPECT_EQ(header.container_size(), small_segment + size + 16 * count) << size;
        EXPECT_EQ(header.segment_offset(count - 1), small_segment * count);
    }
}

TEST(ContainerHeader, StrictValidationGivesPreciseErrors) {
    drm::container_header header;
    header.segment_size = small_segment;
    header.plaintext_size = 10;
    std::error_code ec;
    const core::byte_vector good = drm::encode_header(header, ec);
    ASSERT_FALSE(ec);
    const auto parse_error = [](core::byte_vector bytes) {
        std::error_code error;
        (void)drm::parse_header(bytes, error);
        return error;
    };
    auto bytes = good;
    bytes[0] = 'X';
    EXPECT_EQ(parse_error(bytes), drm::errc::container_bad_magic);
    bytes = good;
    bytes[8] = 2;
    EXPECT_EQ(parse_error(bytes), drm::errc::container_unsupported);
    bytes = good;
    bytes[9] = 2;
    EXPECT_EQ(parse_error(bytes), drm::errc::container_unsupported);
    bytes = good;
    bytes[11] = 1;
    EXPECT_EQ(parse_error(bytes), drm::errc::container_bad_padding);
    bytes = good;
    bytes[14] = 0xc0;  // S = 2^14 + 2^15: not a power of two
    EXPECT_EQ(parse_error(bytes), drm::errc::container_bad_segment_size);
    bytes = good;
    bytes[14] = 0x20;  // S = 2^13
    EXPECT_EQ(parse_error(bytes), drm::errc::container_bad_segment_size);
    bytes = good;
    bytes[12] = 0x01;
    bytes[13] = 0;
    bytes[14] = 0;  // S = 2^24
    EXPECT_EQ(parse_error(bytes), drm::errc::container_bad_segment_size);
    bytes = good;
    bytes[16] = 0xff;  // P close to 2^64
    EXPECT_EQ(parse_error(bytes), drm::errc::container_bad_header);
    bytes = good;
    bytes[72] = 0x01;  // meta_len beyond S - 76
    EXPECT_EQ(parse_error(bytes), drm::errc::container_bad_metadata);
    bytes = good;
    bytes[76] = '[';  // metadata not an object
    EXPECT_EQ(parse_error(bytes), drm::errc::container_bad_metadata);
    bytes = good;
    bytes.back() = 1;
    EXPECT_EQ(parse_error(bytes), drm::errc::container_bad_padding);
    bytes = good;
    bytes.resize(small_segment - 1);
    EXPECT_EQ(parse_error(bytes), drm::errc::container_truncated);
    bytes.resize(40);
    EXPECT_EQ(parse_error(bytes), drm::errc::container_truncated);
    bytes.resize(3);
    EXPECT_EQ(parse_error(bytes), drm::errc::container_truncated);
    EXPECT_EQ(parse_error({}), drm::errc::container_truncated);

    header.metadata_json = "{\"file_name\":5}";
    (void)drm::encode_header(header, ec);
    EXPECT_EQ(ec, drm::errc::container_bad_metadata);
    header.metadata_json = std::string(small_segment, ' ');
    (void)drm::encode_header(header, ec);
    EXPECT_EQ(ec, drm::errc::container_bad_metadata);
    header.metadata_json.clear();
    header.segment_size = 3 << 14;
    (void)drm::encode_header(header, ec);
    EXPECT_EQ(ec, drm::errc::container_bad_segment_size);
}

class ContainerRoundTrip : public testing::TestWithParam<std::size_t> {};

TEST_P(ContainerRoundTrip, DecryptsToTheInput) {
    const temporary_folder folder;
    const packaged input = package(folder, GetParam());
    const auto& result = input.result;
    EXPECT_EQ(result.plaintext_size, GetParam());
    EXPECT_EQ(fs::file_size(result.container_path), result.container_size);
    std::string plaintext;
    ASSERT_FALSE(decrypt_all(result.container_path, result.cek, &plaintext));
    EXPECT_EQ(plaintext, input.plaintext);

    // To a file, via the key file.
    std::error_code ec;
    drm::write_content_key_file(folder.path() / "key.json", {result.kid, result.cek}, ec);
    ASSERT_FALSE(ec) << ec.message();
    EXPECT_EQ(fs::status(folder.path() / "key.json").permissions() & fs::perms::all,
              fs::perms::owner_read | fs::perms::owner_write);
    const drm::content_key key = drm::read_content_key_file(folder.path() / "key.json", ec);
    ASSERT_FALSE(ec) << ec.message();
    drm::container_reader reader = drm::container_reader::open(result.container_path);
    reader.set_key(key.cek, &key.kid, ec);
    ASSERT_FALSE(ec) << ec.message();
    EXPECT_EQ(reader.header().content_type, "video/mp4");
    EXPECT_EQ(reader.header().file_name, "input.bin");
    reader.decrypt_to_file(folder.path() / "out.bin", ec);
    ASSERT_FALSE(ec) << ec.message();
    EXPECT_EQ(read_file(folder.path() / "out.bin"), input.plaintext);
}

INSTANTIATE_TEST_SUITE_P(Sizes, ContainerRoundTrip,
                         testing::Values(0, 1, small_segment - 17, small_segment - 16,
                                         small_segment - 15, small_segment,
                                         37 * (small_segment - 16) + 1234));

TEST(ContainerReader, RandomAccessToAnySegment) {
    const temporary_folder folder;
    const packaged input = package(folder, 10 * (small_segment - 16) + 99);
    drm::container_reader reader = drm::container_reader::open(input.result.container_path);
    std::error_code ec;
    reader.set_key(input.result.cek, &input.result.kid, ec);
    ASSERT_FALSE(ec);
    ASSERT_EQ(reader.header().segment_count(), 11u);
    core::byte_vector plaintext(small_segment);
    for (const std::uint64_t index : {7u, 0u, 10u, 3u}) {
        const std::size_t size = reader.decrypt_segment(index, plaintext, ec);
        ASSERT_FALSE(ec) << ec.message();
        EXPECT_EQ(size, index == 10 ? 99u : small_segment - 16);
        EXPECT_EQ(std::string(plaintext.begin(), plaintext.begin() + static_cast<long>(size)),
                  input.plaintext.substr(index * (small_segment - 16), size));
    }
    (void)reader.decrypt_segment(11, plaintext, ec);
    EXPECT_EQ(ec, drm::errc::segment_out_of_range);
}

TEST(ContainerTampering, FlippedByteInEveryRegionIsRefused) {
    const temporary_folder folder;
    const packaged input = package(folder, 4 * (small_segment - 16) + 500);
    const fs::path original = input.result.container_path;
    const fs::path copy = folder.path() / "copy.ipc";
    const std::uint64_t segments = 5;
    struct region {
        std::uint64_t offset;
        std::error_code expected;
    };
    std::vector<region> regions = {
        {0, drm::errc::container_bad_magic},
        {8, drm::errc::container_unsupported},
        {10, drm::errc::container_bad_padding},
        {12, drm::errc::container_bad_segment_size},
        {30, drm::errc::wrong_key},
        {50, drm::errc::wrong_key},
        {80, drm::errc::wrong_key},
        {small_segment - 1, drm::errc::container_bad_padding},
    };
    for (std::uint64_t index = 0; index < segments; ++index) {
        const std::uint64_t start = small_segment * (index + 1);
        const std::uint64_t stored = index + 1 == segments ? 516 : small_segment;
        regions.push_back({start, drm::errc::segment_tampered});               // ciphertext
        regions.push_back({start + stored - 1, drm::errc::segment_tampered});  // tag
    }
    for (const region& r : regions) {
        fs::copy_file(original, copy, fs::copy_options::overwrite_existing);
        flip_byte(copy, r.offset);
        EXPECT_EQ(decrypt_all(copy, input.result.cek), r.expected) << "offset " << r.offset;
    }
    // Plaintext size field altered: the file no longer has the announced size.
    fs::copy_file(original, copy, fs::copy_options::overwrite_existing);
    flip_byte(copy, 23);  // P is even: P ^ 1 = P + 1, so the file is now one byte short
    EXPECT_EQ(decrypt_all(copy, input.result.cek), drm::errc::container_truncated);
    fs::copy_file(original, copy, fs::copy_options::overwrite_existing);
    flip_byte(copy, 22);  // P - 256: the file now has bytes after its last segment
    EXPECT_EQ(decrypt_all(copy, input.result.cek), drm::errc::container_trailing_data);
}

TEST(ContainerTampering, SwappedTruncatedAppendedAndWrongKey) {
    const temporary_folder folder;
    const packaged input = package(folder, 4 * (small_segment - 16) + 500);
    const fs::path container = input.result.container_path;
    std::string bytes = read_file(container);
    const fs::path copy = folder.path() / "copy.ipc";

    std::string swapped = bytes;
    std::swap_ranges(swapped.begin() + small_segment, swapped.begin() + 2 * small_segment,
                     swapped.begin() + 3 * small_segment);
    write_file(copy, swapped);
    EXPECT_EQ(decrypt_all(copy, input.result.cek), drm::errc::segment_reordered);

    write_file(copy, bytes.substr(0, bytes.size() - 1));
    EXPECT_EQ(decrypt_all(copy, input.result.cek), drm::errc::container_truncated);
    write_file(copy, bytes.substr(0, bytes.size() - 516));  // whole last segment dropped
    EXPECT_EQ(decrypt_all(copy, input.result.cek), drm::errc::container_truncated);
    write_file(copy, bytes.substr(0, 100));
    EXPECT_EQ(decrypt_all(copy, input.result.cek), drm::errc::container_truncated);
    write_file(copy, bytes + "x");
    EXPECT_EQ(decrypt_all(copy, input.result.cek), drm::errc::container_trailing_data);

    core::secret_bytes other(32);
    other.data()[0] = 1;
    EXPECT_EQ(decrypt_all(container, other), drm::errc::wrong_key);
    drm::container_reader reader = drm::container_reader::open(container);
    std::error_code ec;
    drm::content_kid wrong_kid = input.result.kid;
    wrong_kid[0] ^= 1;
    reader.set_key(input.result.cek, &wrong_kid, ec);
    EXPECT_EQ(ec, drm::errc::wrong_key);
    reader.set_key(core::secret_bytes(16), nullptr, ec);
    EXPECT_EQ(ec, core::errc::bad_key_size);

    // A failed whole-file decryption leaves no output file.
    write_file(copy, swapped);
    drm::container_reader broken = drm::container_reader::open(copy);
    broken.set_key(input.result.cek, nullptr, ec);
    broken.decrypt_to_file(folder.path() / "out.bin", ec);
    EXPECT_EQ(ec, drm::errc::segment_reordered);
    EXPECT_FALSE(fs::exists(folder.path() / "out.bin"));
    EXPECT_FALSE(fs::exists(folder.path() / "out.bin.part"));
}

TEST(ContainerReader, MissingFileAndNotAContainer) {
    const temporary_folder folder;
    std::error_code ec;
    (void)drm::container_reader::open(folder.path() / "absent.ipc", ec);
    EXPECT_EQ(ec, core::errc::not_found);
    write_file(folder.path() / "text.ipc", "hello world, this is not a container");
    (void)drm::container_reader::open(folder.path() / "text.ipc", ec);
    EXPECT_EQ(ec, drm::errc::container_bad_magic);
    EXPECT_THROW((void)drm::container_reader::open(folder.path() / "text.ipc"), std::system_error);
}
