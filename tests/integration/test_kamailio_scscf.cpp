// Kamailio 5.6 as the stand-in S-CSCF (tests/integration/kamailio/kamailio.cfg), with sipp as
// the UE and as the stand-in AS: digest registration, identity assertion on a MESSAGE with a
// spoofed P-Asserted-Identity, AS-originated MESSAGE routed by lookup("location"), clean stop.
#include <imsp2p_test/child_process.hpp>
#include <imsp2p_test/temporary_directory.hpp>

#include <gtest/gtest.h>

#include <netinet/in.h>
#include <signal.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <filesystem>
#include <fstream>
#include <memory>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

extern char** environ;

using namespace std::chrono_literals;

namespace {

const std::filesystem::path source_dir(IMSP2P_SOURCE_DIR);
const std::filesystem::path scenarios = source_dir / "tests/sip/sipp";
const std::filesystem::path kamailio_dir = source_dir / "tests/integration/kamailio";

sockaddr_in loopback(std::uint16_t port) {
    sockaddr_in address{};
    address.sin_family = AF_INET;
    address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    address.sin_port = htons(port);
    return address;
}

/** A port free for both UDP and TCP on 127.0.0.1. */
std::uint16_t free_port() {
    for (int attempt = 0; attempt < 50; ++attempt) {
        const int udp = ::socket(AF_INET, SOCK_DGRAM, 0);
        sockaddr_in address = loopback(0);
        socklen_t size = sizeof address;
        ::bind(udp, reinterpret_cast<sockaddr*>(&address), sizeof address);
        ::getsockname(udp, reinterpret_cast<sockaddr*>(&address), &size);
        const int tcp = ::socket(AF_INET, SOCK_STREAM, 0);
        const bool both = ::bind(tcp, reinterpret_cast<sockaddr*>(&address), sizeof address) == 0;
        ::close(tcp);
        ::close(udp);
        if (both) {
            return ntohs(address.sin_port);
        }
    }
    throw std::runtime_error("no free port");
}

/** @return true once something is bound to the UDP port */
bool udp_port_taken(std::uint16_t port) {
    const int udp = ::socket(AF_INET, SOCK_DGRAM, 0);
    sockaddr_in address = loopback(port);
    const bool taken = ::bind(udp, reinterpret_cast<sockaddr*>(&address), sizeof address) != 0;
    ::close(udp);
    return taken;
}

std::string read_file(const std::filesystem::path& file) {
    std::ifstream in(file);
    std::stringstream text;
    text << in.rdbuf();
    return text.str();
}

bool executable_exists(const std::string& name) {
    for (const char* directory : {"/usr/sbin", "/usr/bin", "/sbin", "/bin", "/usr/local/bin"}) {
        if (::access((std::filesystem::path(directory) / name).c_str(), X_OK) == 0) {
            return true;
        }
    }
    return false;
}

/**
 * Starts a program in @p directory, in a process group of its own (Kamailio forks workers),
 * its output in directory/log_name; killed (the whole group) when destroyed.
 */
std::unique_ptr<imsp2p_test::child_process> start_process(const std::vector<std::string>& arguments,
                                                          const std::filesystem::path& directory,
                                                          const std::string& log_name) {
    return std::make_unique<imsp2p_test::child_process>(
        arguments, (directory / log_name).string(), imsp2p_test::process_options{true, directory});
}

class KamailioScscf : public ::testing::Test {
  protected:
    void SetUp() override {
        ASSERT_TRUE(executable_exists("kamailio")) << "kamailio is not installed";
        ASSERT_TRUE(executable_exists("sipp")) << "sipp (package sip-tester) is not installed";
        kamailio_port_ = free_port();
        as_port_ = free_port();
        const auto database = directory_.path() / "kamailio.sqlite";
        const auto create =
            start_process({(kamailio_dir / "create-db.sh").string(), database.string(),
                           "ims.example", "alice", "alice-secret"},
                          directory_.path(), "create-db.out");
        ASSERT_EQ(create->wait(20s), 0) << create->output();

        const std::string listen = "127.0.0.1:" + std::to_string(kamailio_port_);
        kamailio_ = start_process(
            std::vector<std::string>{"kamailio",
                                     "-DD",
                                     "-E",
                                     "-f",
                                     (kamailio_dir / "kamailio.cfg").string(),
                                     "-w",
                                     directory_.path().string(),
                                     "-Y",
                                     directory_.path().string(),
                                     "-m",
                                     "32",
                                     "-M",
                                     "4",
                                     "-l",
                                     "udp:" + listen,
                                     "-l",
                                     "tcp:" + listen,
                                     "-A",
                                     "DBURL=\"sqlite:///" + database.string() + "\"",
                                     "-A",
                                     "AS_URI=\"sip:127.0.0.1:" + std::to_string(as_port_) + "\"",
                                     "-A",
                                     "AS_IP=\"127.0.0.1\"",
                                     "-A",
                                     "AS_PORT=" + std::to_string(as_port_)},
            directory_.path(), "kamailio.log");
        const auto deadline = std::chrono::steady_clock::now() + 10s;
        while (!udp_port_taken(kamailio_port_) && kamailio_->running() &&
               std::chrono::steady_clock::now() < deadline) {
            std::this_thread::sleep_for(50ms);
        }
        ASSERT_TRUE(udp_port_taken(kamailio_port_)) << kamailio_->output();
        // The listener is bound before the children are forked: let them start.
        std::this_thread::sleep_for(500ms);
    }

    std::unique_ptr<imsp2p_test::child_process> sipp(
        const std::string& scenario, std::uint16_t local_port,
        const std::vector<std::pair<std::string, std::string>>& keys,
        const std::vector<std::string>& extra = {}) {
        std::vector<std::string> arguments = {"sipp",
                                              "-sf",
                                              (scenarios / scenario).string(),
                                              "-i",
                                              "127.0.0.1",
                                              "-p",
                                              std::to_string(local_port),
                                              "-m",
                                              "1",
                                              "-t",
                                              "u1",
                                              "-nostdin",
                                              "-trace_err",
                                              "-timeout",
                                              "15s",
                                              "-timeout_error"};
        for (const auto& [name, value] : keys) {
            arguments.insert(arguments.end(), {"-key", name, value});
        }
        arguments.insert(arguments.end(), extra.begin(), extra.end());
        arguments.push_back("127.0.0.1:" + std::to_string(kamailio_port_));
        return start_process(arguments, directory_.path(),
                             scenario + "." + std::to_string(++runs_) + ".out");
    }

    imsp2p_test::temporary_directory directory_{"imsp2p-kamailio"};
    std::uint16_t kamailio_port_ = 0;
    std::uint16_t as_port_ = 0;
    int runs_ = 0;
    std::unique_ptr<imsp2p_test::child_process> kamailio_;
};

TEST_F(KamailioScscf, AssertsTheAuthenticatedIdentityRoutesToUsersAndStopsCleanly) {
    const std::uint16_t ue_port = free_port();
    const std::vector<std::pair<std::string, std::string>> alice = {
        {"user", "alice"}, {"domain", "ims.example"}, {"expires", "600"}};
    const std::vector<std::string> credentials = {"-au", "alice", "-ap", "alice-secret"};

    // A wrong password is refused; the right one registers.
    auto refused =
        sipp("ims_register_refused.xml", ue_port, alice,
             {"-au", "alice", "-ap", "wrong-secret", "-trace_msg", "-message_file", "refused.log"});
    EXPECT_EQ(refused->wait(20s), 0) << refused->output();
    // Kamailio answers a wrong digest with a new 401 challenge (not 403).
    const std::string refused_log = read_file(directory_.path() / "refused.log");
    EXPECT_NE(refused_log.find("CSeq: 2 REGISTER"), std::string::npos) << refused_log;
    EXPECT_EQ(refused_log.find("SIP/2.0 200"), std::string::npos) << refused_log;

    auto registration = sipp("ims_register.xml", ue_port, alice, credentials);
    ASSERT_EQ(registration->wait(20s), 0) << registration->output();

    // MESSAGE with a spoofed P-Asserted-Identity: 407, credentials, the AS sees alice only.
    auto as = sipp("ims_as_uas.xml", as_port_, {}, {"-trace_msg", "-message_file", "as.log"});
    std::this_thread::sleep_for(300ms);
    auto ue = sipp("ims_ue_message_digest.xml", ue_port,
                   {{"user", "alice"},
                    {"domain", "ims.example"},
                    {"psi", "content@ims.example"},
                    {"psi_uri", "sip:content@ims.example"}},
                   credentials);
    EXPECT_EQ(ue->wait(20s), 0) << ue->output();
    EXPECT_EQ(as->wait(20s), 0) << as->output();
    const std::string received = read_file(directory_.path() / "as.log");
    EXPECT_NE(received.find("MESSAGE sip:content@ims.example SIP/2.0"), std::string::npos)
        << received;
    EXPECT_NE(received.find("P-Asserted-Identity: <sip:alice@ims.example>"), std::string::npos)
        << received;
    EXPECT_EQ(received.find("mallory"), std::string::npos) << received;
    EXPECT_EQ(received.find("Proxy-Authorization"), std::string::npos) << received;

    // AS-originated MESSAGE to alice's IMPU reaches her registered contact.
    auto terminating =
        sipp("ims_ue_receive.xml", ue_port, {}, {"-trace_msg", "-message_file", "ue.log"});
    std::this_thread::sleep_for(300ms);
    auto from_as = sipp(
        "ims_as_message_200.xml", as_port_,
        {{"user", "alice"}, {"domain", "ims.example"}, {"psi_uri", "sip:content@ims.example"}});
    EXPECT_EQ(from_as->wait(20s), 0) << from_as->output();
    EXPECT_EQ(terminating->wait(20s), 0) << terminating->output();
    EXPECT_NE(read_file(directory_.path() / "ue.log")
                  .find("MESSAGE sip:alice@127.0.0.1:" + std::to_string(ue_port)),
              std::string::npos);

    // Not registered: 480.
    auto unregistered =
        sipp("ims_as_message_480.xml", as_port_,
             {{"user", "bob"}, {"domain", "ims.example"}, {"psi_uri", "sip:content@ims.example"}});
    EXPECT_EQ(unregistered->wait(20s), 0) << unregistered->output();

    // SUBSCRIBE is record-routed: the AS's in-dialog NOTIFY comes back through Kamailio.
    auto as_subscription =
        sipp("ims_as_subscribe.xml", as_port_, {{"psi_uri", "sip:content@ims.example"}},
             {"-trace_msg", "-message_file", "as-subscribe.log"});
    std::this_thread::sleep_for(300ms);
    auto subscription = sipp(
        "ims_ue_subscribe.xml", ue_port,
        {{"user", "alice"},
         {"domain", "ims.example"},
         {"psi", "content@ims.example"},
         {"psi_uri", "sip:content@ims.example"}},
        {"-au", "alice", "-ap", "alice-secret", "-trace_msg", "-message_file", "ue-subscribe.log"});
    EXPECT_EQ(subscription->wait(20s), 0) << subscription->output();
    EXPECT_EQ(as_subscription->wait(20s), 0) << as_subscription->output();
    const std::string subscribe_at_as = read_file(directory_.path() / "as-subscribe.log");
    EXPECT_NE(subscribe_at_as.find("P-Asserted-Identity: <sip:alice@ims.example>"),
              std::string::npos)
        << subscribe_at_as;
    EXPECT_EQ(subscribe_at_as.find("mallory"), std::string::npos) << subscribe_at_as;
    EXPECT_NE(read_file(directory_.path() / "ue-subscribe.log")
                  .find("NOTIFY sip:alice@127.0.0.1:" + std::to_string(ue_port)),
              std::string::npos);

    // No critical error while serving (at shutdown Kamailio 5.6 may log a benign
    // "CRITICAL: receive_fd(): EOF" from its TCP workers, so look before stopping it).
    const std::string served = kamailio_->output();
    EXPECT_EQ(served.find("CRITICAL"), std::string::npos) << served;

    // SIGTERM: Kamailio and all its children exit.
    kamailio_->signal(SIGTERM);
    EXPECT_EQ(kamailio_->wait(10s), 0) << kamailio_->output();
    const auto deadline = std::chrono::steady_clock::now() + 5s;
    while (kamailio_->group_alive() && std::chrono::steady_clock::now() < deadline) {
        std::this_thread::sleep_for(50ms);
    }
    EXPECT_FALSE(kamailio_->group_alive());
}

}  // namespace
