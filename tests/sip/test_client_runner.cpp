#include <imsp2p/sip/client_runner.hpp>

#include "imsp2p_test/temporary_directory.hpp"

#include <imsp2p/drm/container.hpp>

#include <nlohmann/json.hpp>

#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <iostream>
#include <sstream>
#include <string>
#include <vector>

namespace sip = imsp2p::sip;

namespace {

/** What one run() printed and returned (standard output and error captured). */
struct run_result {
    int status = -1;
    std::string out;
    std::string err;
};

run_result run_client(const std::vector<std::string>& arguments) {
    std::ostringstream out;
    std::ostringstream err;
    std::streambuf* const saved_out = std::cout.rdbuf(out.rdbuf());
    std::streambuf* const saved_err = std::cerr.rdbuf(err.rdbuf());
    run_result result;
    try {
        result.status = sip::client_runner().run(arguments);
    } catch (...) {
        std::cout.rdbuf(saved_out);
        std::cerr.rdbuf(saved_err);
        throw;
    }
    std::cout.rdbuf(saved_out);
    std::cerr.rdbuf(saved_err);
    result.out = out.str();
    result.err = err.str();
    return result;
}

}  // namespace

TEST(ClientRunner, HelpAndUsageErrors) {
    const auto none = run_client({});
    EXPECT_EQ(none.status, 2);
    EXPECT_NE(none.err.find("Usage: imsp2p-client"), std::string::npos) << none.err;

    const auto help = run_client({"--help"});
    EXPECT_EQ(help.status, 0);
    for (const char* command :
         {"register", "package", "publish", "acquire", "seed", "play", "list", "status"}) {
        EXPECT_NE(help.out.find(command), std::string::npos) << command;
    }

    const auto unknown = run_client({"frobnicate"});
    EXPECT_EQ(unknown.status, 2);
    EXPECT_NE(unknown.err.find("unknown command 'frobnicate'"), std::string::npos) << unknown.err;

    const auto acquire_help = run_client({"acquire", "--help"});
    EXPECT_EQ(acquire_help.status, 0);
    EXPECT_NE(acquire_help.out.find("--config"), std::string::npos) << acquire_help.out;

    const auto bad_option = run_client({"status", "--no-such-option"});
    EXPECT_EQ(bad_option.status, 2);
    EXPECT_NE(bad_option.err.find("no-such-option"), std::string::npos) << bad_option.err;

    const auto extra = run_client({"status", "surplus"});
    EXPECT_EQ(extra.status, 2);
    EXPECT_NE(extra.err.find("unexpected argument 'surplus'"), std::string::npos) << extra.err;
}

TEST(ClientRunner, PackagesAFileOffline) {
    imsp2p_test::temporary_directory folder("imsp2p-client-runner");
    const auto input = folder.path() / "clip.bin";
    std::ofstream(input, std::ios::binary) << std::string(300000, 'x') << "end";
    const auto out_dir = folder.path() / "out";
    const auto packaged = run_client({"package", input.string(), "--out", out_dir.string()});
    ASSERT_EQ(packaged.status, 0) << packaged.err;
    const auto metadata = nlohmann::json::parse(packaged.out);
    EXPECT_EQ(metadata.at("plaintext_size").get<std::uint64_t>(), 300003U);
    EXPECT_EQ(metadata.at("infohash_v1").get<std::string>().size(), 40U);
    EXPECT_TRUE(std::filesystem::exists(out_dir / "clip.ipc"));
    EXPECT_TRUE(std::filesystem::exists(out_dir / "clip.torrent"));
    EXPECT_TRUE(std::filesystem::exists(out_dir / "clip.key.json"));

    // A missing input is a failure with the reason, not a crash.
    const auto missing =
        run_client({"package", (folder.path() / "absent.bin").string(), "--out", out_dir.string()});
    EXPECT_EQ(missing.status, 1);
    EXPECT_NE(missing.err.find("absent.bin"), std::string::npos) << missing.err;
}

TEST(ClientRunner, StatusOfAFreshDataDirectoryIsEmptyJson) {
    imsp2p_test::temporary_directory folder("imsp2p-client-runner");
    const auto status =
        run_client({"status", "--data-dir", (folder.path() / "data").string(), "--no-progress"});
    ASSERT_EQ(status.status, 0) << status.err;
    const auto json = nlohmann::json::parse(status.out);
    EXPECT_TRUE(json.at("published").empty());
    EXPECT_TRUE(json.at("acquired").empty());
    // The device key was created on first use, 0600.
    const auto permissions =
        std::filesystem::status(folder.path() / "data" / "device-key.jwk").permissions();
    EXPECT_EQ(permissions & std::filesystem::perms::all,
              std::filesystem::perms::owner_read | std::filesystem::perms::owner_write);
}
