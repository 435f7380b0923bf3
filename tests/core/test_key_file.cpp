#include <imsp2p/core/key_file.hpp>

#include <imsp2p/core/error.hpp>

#include <gtest/gtest.h>
#include <imsp2p_test/temporary_directory.hpp>

#include <sys/stat.h>

#include <filesystem>
#include <fstream>
#include <string>

namespace core = imsp2p::core;
namespace fs = std::filesystem;

namespace {

class KeyFile : public ::testing::Test {
  protected:
    void SetUp() override { dir_ = temporary_.path(); }
    imsp2p_test::temporary_directory temporary_{"imsp2p-keyfile"};

    static unsigned mode_of(const fs::path& path) {
        struct stat info {};
        EXPECT_EQ(::stat(path.c_str(), &info), 0);
        return info.st_mode & 0777u;
    }

    fs::path dir_;
};

TEST_F(KeyFile, SecretFileIsWrittenOwnerOnlyAndReadBack) {
    const fs::path path = dir_ / "sub" / "master.key";
    const core::byte_vector secret = core::random_bytes(32);
    std::error_code ec;
    core::write_secret_file(path, secret, ec);
    ASSERT_FALSE(ec) << ec.message();
    EXPECT_EQ(mode_of(path), 0600u);
    EXPECT_EQ(mode_of(path.parent_path()), 0700u);
    const core::secret_bytes read = core::read_secret_file(path, ec);
    ASSERT_FALSE(ec) << ec.message();
    EXPECT_EQ(core::byte_vector(read.begin(), read.end()), secret);
    // No temporary file is left behind.
    EXPECT_EQ(std::distance(fs::directory_iterator(path.parent_path()), fs::directory_iterator()),
              1);
}

TEST_F(KeyFile, RefusesFilesOthersCanRead) {
    const fs::path path = dir_ / "loose.key";
    std::ofstream(path) << "secret";
    fs::permissions(path, fs::perms::owner_read | fs::perms::owner_write | fs::perms::group_read);
    std::error_code ec;
    const core::secret_bytes read = core::read_secret_file(path, ec);
    EXPECT_EQ(ec, core::errc::insecure_permissions);
    EXPECT_TRUE(read.empty());
}

TEST_F(KeyFile, MissingFileIsNotFound) {
    std::error_code ec;
    core::read_secret_file(dir_ / "absent", ec);
    EXPECT_EQ(ec, core::errc::not_found);
}

TEST_F(KeyFile, KeyIsCreatedOnFirstUseAndLoadedAfterwards) {
    const fs::path path = dir_ / "device.jwk";
    std::error_code ec;
    const core::jwk created = core::load_or_create_private_key(path, core::jwk_curve::x25519, ec);
    ASSERT_FALSE(ec) << ec.message();
    EXPECT_TRUE(created.has_private_key());
    EXPECT_EQ(created.kid(), created.thumbprint());
    EXPECT_EQ(mode_of(path), 0600u);

    const core::jwk loaded = core::load_or_create_private_key(path, core::jwk_curve::x25519, ec);
    ASSERT_FALSE(ec) << ec.message();
    EXPECT_EQ(loaded, created);

    // The same file asked for as a signing key is refused, not silently replaced.
    const core::jwk wrong = core::load_or_create_private_key(path, core::jwk_curve::ed25519, ec);
    EXPECT_EQ(ec, core::errc::jwk_unsupported);
    EXPECT_TRUE(wrong.empty());
    EXPECT_EQ(core::load_or_create_private_key(path, core::jwk_curve::x25519), created);
}

TEST_F(KeyFile, PublicOnlyKeyFileIsRefused) {
    const fs::path path = dir_ / "public.jwk";
    const core::jwk key(core::ed25519_private_key::generate());
    const std::string text = key.public_only().serialize();
    std::error_code ec;
    core::write_secret_file(path, core::as_bytes(text), ec);
    ASSERT_FALSE(ec);
    core::read_private_key_file(path, ec);
    EXPECT_EQ(ec, core::errc::jwk_no_private_key);
    core::write_private_key_file(path, key.public_only(), ec);
    EXPECT_EQ(ec, core::errc::jwk_no_private_key);
}

TEST_F(KeyFile, GarbageKeyFileIsMalformedAndThrowingFormNamesThePath) {
    const fs::path path = dir_ / "garbage.jwk";
    std::error_code ec;
    core::write_secret_file(path, core::as_bytes("{not json"), ec);
    ASSERT_FALSE(ec);
    core::read_private_key_file(path, ec);
    EXPECT_EQ(ec, core::errc::jwk_malformed);
    try {
        core::load_or_create_private_key(path, core::jwk_curve::ed25519);
        FAIL() << "expected an exception";
    } catch (const std::system_error& error) {
        EXPECT_EQ(error.code(), core::errc::jwk_malformed);
        EXPECT_NE(std::string(error.what()).find("garbage.jwk"), std::string::npos);
    }
}

}  // namespace
