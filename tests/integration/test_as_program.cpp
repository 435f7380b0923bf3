// imsp2p-as as a process: --help, listens on UDP and TCP as configured, answers through the
// content service, stops cleanly (exit 0) on SIGTERM and SIGINT, and keeps its state directory.
#include "../sip/sip_test_support.hpp"
#include "imsp2p_test/temporary_directory.hpp"

#include <gtest/gtest.h>

#include <csignal>
#include <filesystem>
#include <fstream>
#include <string>

using namespace std::chrono_literals;
using imsp2p_test::child_process;
using imsp2p_test::file_text;
using imsp2p_test::header_of;
using imsp2p_test::raw_socket;
using imsp2p_test::status_of;

namespace {

const std::string program = std::string(IMSP2P_BINARY_DIR) + "/examples/as/imsp2p-as";

std::string request(const std::string& method, const std::string& transport,
                    std::uint16_t local_port, const std::string& call_id,
                    const std::string& extra = "") {
    return method + " sip:content@as.example SIP/2.0\r\n" + "Via: SIP/2.0/" + transport +
           " 127.0.0.1:" + std::to_string(local_port) + ";branch=z9hG4bK" + call_id +
           "\r\nMax-Forwards: 70\r\nFrom: <sip:probe@ims.example>;tag=p1\r\n"
           "To: <sip:content@as.example>\r\nCall-ID: " +
           call_id + "\r\nCSeq: 1 " + method + "\r\n" + extra + "Content-Length: 0\r\n\r\n";
}

std::string write_config(const std::filesystem::path& folder, std::uint16_t port) {
    const std::string listen = "sip:127.0.0.1:" + std::to_string(port);
    const auto path = folder / "as.json";
    std::ofstream(path) << R"({
  "sip": {"listen": [")" << listen
                        << R"(;transport=udp", ")" << listen
                        << R"(;transport=tcp"], "poll_interval": "200ms"},
  "data_dir": "data",
  "service": {"content_psi": "sip:content@as.example", "trusted_addresses": ["127.0.0.1"],
              "scscf_route": ["<sip:127.0.0.1:9;lr>"]},
  "drm": {"url": "http://127.0.0.1:9"}, "index": {"url": "http://127.0.0.1:9"},
  "trackers": [{"announce_url": "http://127.0.0.1:9/announce", "admin_url": "http://127.0.0.1:9"}],
  "log": {"level": "info"}
})";
    return path.string();
}

}  // namespace

TEST(AsProgram, HelpDescribesTheOptions) {
    imsp2p_test::temporary_directory folder;
    const auto out = (folder.path() / "help.txt").string();
    child_process help({program, "--help"}, out);
    EXPECT_EQ(help.wait(10s), 0);
    const auto text = file_text(out);
    EXPECT_NE(text.find("Usage: imsp2p-as"), std::string::npos) << text;
    EXPECT_NE(text.find("--listen"), std::string::npos) << text;
    EXPECT_NE(text.find("--config"), std::string::npos) << text;
}

TEST(AsProgram, ServesUdpAndTcpAndStopsCleanlyOnSignals) {
    imsp2p_test::temporary_directory folder;
    const auto port = imsp2p_test::free_port();
    const auto config = write_config(folder.path(), port);
    const auto log = (folder.path() / "as.log").string();
    for (const int stop_signal : {SIGTERM, SIGINT}) {
        child_process as({program, "--config", config}, log);
        ASSERT_TRUE(imsp2p_test::wait_bound(port, false, 10s)) << file_text(log);
        ASSERT_TRUE(imsp2p_test::wait_bound(port, true, 10s)) << file_text(log);

        raw_socket udp(SOCK_DGRAM);
        udp.send_to(port, request("OPTIONS", "UDP", udp.port(), "opt-udp"));
        const auto options = udp.receive(5s);
        ASSERT_TRUE(options.has_value()) << file_text(log);
        EXPECT_EQ(status_of(*options), 200) << *options;
        EXPECT_NE(header_of(*options, "Allow").find("MESSAGE"), std::string::npos) << *options;

        // No P-Asserted-Identity: the service refuses, over TCP.
        raw_socket tcp(SOCK_STREAM);
        tcp.connect(port);
        tcp.send(request("MESSAGE", "TCP", tcp.port(), "msg-tcp",
                         "Content-Type: application/vnd.imsp2p.acquire+json\r\n"));
        const auto refused = tcp.receive_message(5s);
        ASSERT_TRUE(refused.has_value()) << file_text(log);
        EXPECT_EQ(status_of(*refused), 403) << *refused;

        as.signal(stop_signal);
        EXPECT_EQ(as.wait(15s), 0) << file_text(log);
        EXPECT_NE(file_text(log).find("stopped"), std::string::npos) << file_text(log);
        EXPECT_TRUE(std::filesystem::exists(folder.path() / "data" / "as.sqlite"));
    }
}
