// The imsp2p-paa program as a process: it reads its JSON configuration, logs the port it
// listens on, authenticates an EAP-TLS PaC over UDP (pana_client) and stops cleanly on SIGTERM.

#include <imsp2p/pana/eap_tls.hpp>
#include <imsp2p/pana/pana_endpoint.hpp>

#include "imsp2p_test/certificates.hpp"
#include "imsp2p_test/temporary_directory.hpp"

#include <gtest/gtest.h>

#include <fcntl.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>
#include <chrono>
#include <csignal>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <string>
#include <thread>

namespace pana = imsp2p::pana;
namespace fs = std::filesystem;
using namespace std::chrono_literals;

extern char** environ;

namespace {

const fs::path program = fs::path(IMSP2P_BINARY_DIR) / "examples" / "paa" / "imsp2p-paa";

std::string read_text(const fs::path& file) {
    std::ifstream in(file, std::ios::binary);
    return {std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
}

// Waits until the log contains @p needle; returns the log.
std::string wait_for_log(const fs::path& log, const std::string& needle) {
    std::string text;
    for (int i = 0; i < 500; ++i) {
        text = read_text(log);
        if (text.find(needle) != std::string::npos) {
            break;
        }
        std::this_thread::sleep_for(20ms);
    }
    return text;
}

}  // namespace

TEST(PaaProgram, AuthenticatesAndStopsOnSigterm) {
    if (!fs::exists(program)) {
        GTEST_SKIP() << "imsp2p-paa is not built: " << program;
    }
    imsp2p_test::test_pki pki;
    const auto server = pki.issue_server("paa.ims.example");
    const auto client = pki.issue_client("alice@ims.example");
    imsp2p_test::temporary_directory folder("imsp2p-paa-program");
    const fs::path config = folder.path() / "paa.json";
    std::ofstream(config) << R"({"listen_address":"127.0.0.1","port":0,"ca_file":")"
                          << pki.ca().ca_file().string() << R"(","certificate_file":")"
                          << server.certificate_file.string() << R"(","private_key_file":")"
                          << server.private_key_file.string() << R"("})";
    const fs::path log = folder.path() / "paa.log";

    posix_spawn_file_actions_t actions;
    posix_spawn_file_actions_init(&actions);
    posix_spawn_file_actions_addopen(&actions, STDERR_FILENO, log.c_str(),
                                     O_WRONLY | O_CREAT | O_TRUNC, 0600);
    const std::string config_argument = "--config=" + config.string();
    std::string program_name = program.string();
    char* argv[] = {program_name.data(), const_cast<char*>(config_argument.c_str()), nullptr};
    pid_t pid = 0;
    ASSERT_EQ(posix_spawn(&pid, program.c_str(), &actions, nullptr, argv, environ), 0);
    posix_spawn_file_actions_destroy(&actions);

    const std::string started = wait_for_log(log, "port ");
    const auto at = started.find("listening on 127.0.0.1 port ");
    if (at == std::string::npos) {
        kill(pid, SIGKILL);
        waitpid(pid, nullptr, 0);
        FAIL() << "no listening line: " << started;
    }
    const int port = std::stoi(started.substr(at + 28));

    pana::eap_tls_settings tls;
    tls.ca_file = pki.ca().ca_file();
    tls.certificate_chain_file = client.certificate_file;
    tls.private_key_file = client.private_key_file;
    tls.expected_server_name = "paa.ims.example";
    const auto context = pana::eap_tls_context::create(tls, pana::eap_tls_role::client);
    pana::pana_client pac;
    std::error_code ec;
    const auto info = pac.authenticate(
        "127.0.0.1", static_cast<std::uint16_t>(port),
        std::make_unique<pana::eap_tls_peer>(context, "alice@ims.example"), 10s, ec);
    EXPECT_FALSE(ec) << ec.message();
    EXPECT_EQ(info.msk.size(), 64u);
    const std::string after = wait_for_log(log, "authenticated alice@ims.example");
    EXPECT_NE(after.find("authenticated alice@ims.example from 127.0.0.1"), std::string::npos)
        << after;

    ASSERT_EQ(kill(pid, SIGTERM), 0);
    int status = 0;
    ASSERT_EQ(waitpid(pid, &status, 0), pid);
    EXPECT_TRUE(WIFEXITED(status));
    EXPECT_EQ(WEXITSTATUS(status), 0);
    EXPECT_NE(read_text(log).find("stopping on SIGTERM"), std::string::npos);
}
