// The imsp2p-index program as a real process: --help, start-up with flags, admin calls through
// index_client with a service JWT, clean exit on SIGTERM, and state that survives a restart.

#include <imsp2p/tracker/index_client.hpp>

#include <imsp2p/tracker/error.hpp>

#include <imsp2p_test/index_fixtures.hpp>
#include <imsp2p_test/temporary_directory.hpp>

#include <gtest/gtest.h>

#include <netinet/in.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <fstream>
#include <string>
#include <thread>
#include <vector>

namespace tracker = imsp2p::tracker;
namespace core = imsp2p::core;

namespace {

const std::string program = std::string(IMSP2P_BINARY_DIR) + "/examples/index/imsp2p-index";

std::uint16_t free_port() {
    const int fd = ::socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    ::bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr);
    socklen_t length = sizeof addr;
    ::getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &length);
    ::close(fd);
    return ntohs(addr.sin_port);
}

pid_t spawn(const std::vector<std::string>& args) {
    const pid_t pid = ::fork();
    if (pid == 0) {
        std::vector<char*> argv;
        for (const auto& arg : args) {
            argv.push_back(const_cast<char*>(arg.c_str()));
        }
        argv.push_back(nullptr);
        ::execv(argv[0], argv.data());
        ::_exit(127);
    }
    return pid;
}

int stop(pid_t pid) {
    ::kill(pid, SIGTERM);
    int status = 0;
    for (int i = 0; i < 100; ++i) {
        if (::waitpid(pid, &status, WNOHANG) == pid) {
            return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
        }
        std::this_thread::sleep_for(std::chrono::milliseconds(50));
    }
    ::kill(pid, SIGKILL);
    ::waitpid(pid, &status, 0);
    return -2;
}

bool wait_ready(const tracker::index_client& client) {
    for (int i = 0; i < 100; ++i) {
        std::error_code ec;
        client.fetch_catalog("", ec);
        if (!ec) {
            return true;
        }
        std::this_thread::sleep_for(std::chrono::milliseconds(50));
    }
    return false;
}

}  // namespace

TEST(IndexProgram, HelpExitsZero) {
    const std::string command = program + " --help";
    FILE* pipe = ::popen(command.c_str(), "r");
    ASSERT_NE(pipe, nullptr);
    std::string out;
    char buffer[512];
    std::size_t n = 0;
    while ((n = std::fread(buffer, 1, sizeof buffer, pipe)) > 0) {
        out.append(buffer, n);
    }
    EXPECT_EQ(::pclose(pipe), 0);
    EXPECT_NE(out.find("--purchase-uri-template"), std::string::npos);
    EXPECT_NE(out.find("--data-dir"), std::string::npos);
}

TEST(IndexProgram, ServesStopsOnSigtermAndKeepsState) {
    imsp2p_test::temporary_directory dir("index-program");
    const core::ticket_issuer issuer(core::ed25519_private_key::generate(), "as-prog",
                                     "sip:as.example");
    core::jwk_set keys;
    keys.keys.push_back(issuer.public_jwk());
    std::ofstream(dir.path() / "as-jwks.json") << keys.to_json().dump();
    const std::uint16_t port = free_port();
    const std::vector<std::string> args = {program,
                                           "--listen",
                                           "127.0.0.1:" + std::to_string(port),
                                           "--data-dir",
                                           (dir.path() / "data").string(),
                                           "--as-jwks",
                                           (dir.path() / "as-jwks.json").string(),
                                           "--purchase-uri-template",
                                           "sip:content@operator.example?doi={doi}",
                                           "--log-level",
                                           "warning"};
    const tracker::index_client client("http://127.0.0.1:" + std::to_string(port));
    const std::string token = imsp2p_test::index_service_token(issuer);
    const auto a = imsp2p_test::make_index_fixture("10.5555/prog-a", "Program A", "pa");
    const auto b = imsp2p_test::make_index_fixture("10.5555/prog-b", "Program B", "pb");

    pid_t pid = spawn(args);
    ASSERT_TRUE(wait_ready(client));
    std::error_code ec;
    std::string detail;
    EXPECT_TRUE(client.put_entry(a.record, core::as_bytes(a.torrent), "", token, ec, &detail))
        << detail;
    EXPECT_TRUE(client.put_entry(b.record, core::as_bytes(b.torrent), "", token, ec, &detail))
        << detail;
    client.withdraw(b.record.doi, token, ec);
    EXPECT_FALSE(ec);
    EXPECT_EQ(stop(pid), 0);

    pid = spawn(args);
    ASSERT_TRUE(wait_ready(client));
    const auto catalog = client.fetch_catalog("", ec);
    ASSERT_EQ(catalog.size(), 1u);
    EXPECT_EQ(catalog[0].record, a.record);
    EXPECT_EQ(catalog[0].purchase_uri, "sip:content@operator.example?doi=10.5555%2Fprog-a");
    EXPECT_EQ(core::as_string_view(client.fetch_torrent(a.record.doi, ec)), a.torrent);
    client.fetch_torrent(b.record.doi, ec);
    EXPECT_EQ(ec, tracker::errc::content_withdrawn);
    EXPECT_EQ(client.list(token, ec).size(), 2u);
    EXPECT_EQ(stop(pid), 0);
}
