#include <imsp2p/tracker/tracker_runner.hpp>

#include "imsp2p_test/temporary_directory.hpp"
#include "tracker_test_support.hpp"

#include <imsp2p/core/error.hpp>

#include <gtest/gtest.h>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <string>
#include <thread>

namespace core = imsp2p::core;
namespace tracker = imsp2p::tracker;

namespace {

/** One HTTP/1.0 GET on 127.0.0.1; @return the whole answer ("" if it cannot connect). */
std::string http_get(std::uint16_t port, const std::string& target) {
    const int fd = ::socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in address{};
    address.sin_family = AF_INET;
    address.sin_port = htons(port);
    address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    std::string answer;
    if (::connect(fd, reinterpret_cast<const sockaddr*>(&address), sizeof address) == 0) {
        const std::string request = "GET " + target + " HTTP/1.0\r\nHost: 127.0.0.1\r\n\r\n";
        if (::send(fd, request.data(), request.size(), 0) == static_cast<ssize_t>(request.size())) {
            char buffer[4096];
            ssize_t got = 0;
            while ((got = ::recv(fd, buffer, sizeof buffer, 0)) > 0) {
                answer.append(buffer, static_cast<std::size_t>(got));
            }
        }
    }
    ::close(fd);
    return answer;
}

/** A configuration on free ports with the test AS keys and a data directory. */
core::config runner_config(const std::filesystem::path& folder) {
    std::ofstream(folder / "as-jwks.json") << tracker_test::as_keys().serialize();
    return core::config::parse(R"({"listen": {"address": "127.0.0.1", "port": 0, "udp_port": 0},
        "data_dir": ")" + (folder / "data").string() +
                               R"(", "as_jwks": ")" + (folder / "as-jwks.json").string() +
                               R"(", "log": {"level": "warning"}})");
}

}  // namespace

TEST(TrackerRunner, ServesHttpAndUdpStopsAndKeepsRegistrationsAcrossARestart) {
    imsp2p_test::temporary_directory folder("imsp2p-tracker-runner");
    const core::config config = runner_config(folder.path());
    {
        tracker::tracker_runner runner(config);
        ASSERT_NE(runner.port(), 0U);
        EXPECT_NE(runner.udp_port(), 0U);
        tracker::torrent_registration torrent;
        torrent.info_hash_v1 = tracker_test::hash_of('r');
        torrent.doi = "10.5555/runner";
        runner.service().register_torrent(torrent);
        std::thread serving([&] { EXPECT_EQ(runner.run(), 0); });
        const std::string health = http_get(runner.port(), "/health");
        EXPECT_NE(health.find(" 200 "), std::string::npos) << health;
        // An announce without a ticket gets the tracker's precise failure reason.
        const std::string refused = http_get(runner.port(), "/announce?info_hash=x");
        EXPECT_NE(refused.find("failure reason"), std::string::npos) << refused;
        runner.stop();
        serving.join();
    }
    // A second runner on the same data directory: the registration survived.
    tracker::tracker_runner again(config);
    const auto listed = again.service().list(std::chrono::system_clock::now());
    ASSERT_EQ(listed.size(), 1U);
    EXPECT_EQ(listed[0].torrent.doi, "10.5555/runner");
}

TEST(TrackerRunner, RefusesKeysItCouldNotVerifyTicketsWithAndBadSettings) {
    imsp2p_test::temporary_directory folder("imsp2p-tracker-runner");
    core::config config = runner_config(folder.path());
    // An X25519 key only: no ticket could ever verify.
    std::ofstream(folder.path() / "as-jwks.json", std::ios::trunc)
        << R"({"keys": [{"kty": "OKP", "crv": "X25519",
                         "x": "hSDwCYkwp1R0i33ctD73Wg2_Og0mOBr066SpjqqbTmo"}]})";
    try {
        tracker::tracker_runner runner(config);
        ADD_FAILURE() << "started without a signing key";
    } catch (const std::system_error& error) {
        EXPECT_NE(std::string(error.what()).find("no Ed25519 signing key"), std::string::npos)
            << error.what();
    }
    std::filesystem::remove(folder.path() / "as-jwks.json");
    try {
        tracker::tracker_runner runner(config);
        ADD_FAILURE() << "started without its AS keys file";
    } catch (const std::system_error& error) {
        EXPECT_EQ(error.code(), core::errc::io_error);
        EXPECT_NE(std::string(error.what()).find("as-jwks.json"), std::string::npos);
    }
    config = runner_config(folder.path());
    config.set("/log/format", "xml");
    try {
        tracker::tracker_runner runner(config);
        ADD_FAILURE() << "log format xml accepted";
    } catch (const std::system_error& error) {
        EXPECT_EQ(error.code(), core::errc::config_bad_value);
        EXPECT_NE(std::string(error.what()).find("/log/format"), std::string::npos);
    }
}
