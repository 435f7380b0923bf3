// The development IMS core on real sockets, with sipp processes as the UEs and as a stand-in AS.
#include <imsp2p/sip/ims_core.hpp>

#include <imsp2p/sip/subscriber_registry.hpp>

#include <imsp2p/core/config.hpp>

#include <imsp2p_test/temporary_directory.hpp>

#include <gtest/gtest.h>

#include <netinet/in.h>
#include <signal.h>
#include <spawn.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <fcntl.h>
#include <chrono>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

extern char** environ;

namespace sip = imsp2p::sip;
namespace core = imsp2p::core;
using namespace std::chrono_literals;

namespace {

const std::filesystem::path scenarios = std::filesystem::path(IMSP2P_SOURCE_DIR) / "tests/sip/sipp";

/** A port free for both UDP and TCP on 127.0.0.1 (bound, read back, released). */
std::uint16_t free_port() {
    for (int attempt = 0; attempt < 50; ++attempt) {
        const int udp = ::socket(AF_INET, SOCK_DGRAM, 0);
        sockaddr_in address{};
        address.sin_family = AF_INET;
        address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
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

/** A child process (stdout and stderr to a file), killed if still running when destroyed. */
class process {
  public:
    process(const std::vector<std::string>& arguments, const std::filesystem::path& directory,
            const std::string& log_name) {
        std::vector<char*> argv;
        for (const auto& argument : arguments) {
            argv.push_back(const_cast<char*>(argument.c_str()));
        }
        argv.push_back(nullptr);
        log_ = directory / log_name;
        posix_spawn_file_actions_t actions;
        posix_spawn_file_actions_init(&actions);
        posix_spawn_file_actions_addchdir_np(&actions, directory.c_str());
        posix_spawn_file_actions_addopen(&actions, 1, log_.c_str(), O_WRONLY | O_CREAT | O_TRUNC,
                                         0600);
        posix_spawn_file_actions_adddup2(&actions, 1, 2);
        posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0);
        const int rc = posix_spawnp(&pid_, argv[0], &actions, nullptr, argv.data(), environ);
        posix_spawn_file_actions_destroy(&actions);
        if (rc != 0) {
            throw std::runtime_error("cannot start " + arguments[0]);
        }
    }
    process(const process&) = delete;
    process& operator=(const process&) = delete;
    ~process() {
        if (pid_ > 0) {
            ::kill(pid_, SIGKILL);
            ::waitpid(pid_, nullptr, 0);
        }
    }

    /** Waits for the exit status; -1 (and the process is killed) after @p timeout. */
    int wait(std::chrono::milliseconds timeout = 20s) {
        const auto deadline = std::chrono::steady_clock::now() + timeout;
        while (pid_ > 0) {
            int status = 0;
            if (::waitpid(pid_, &status, WNOHANG) == pid_) {
                pid_ = -1;
                return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
            }
            if (std::chrono::steady_clock::now() > deadline) {
                ::kill(pid_, SIGKILL);
                ::waitpid(pid_, nullptr, 0);
                pid_ = -1;
                return -1;
            }
            std::this_thread::sleep_for(20ms);
        }
        return -1;
    }

    /** @return what the process wrote so far */
    std::string output() const { return read_file(log_); }

    static std::string read_file(const std::filesystem::path& file) {
        std::ifstream in(file);
        std::stringstream text;
        text << in.rdbuf();
        return text.str();
    }

  private:
    pid_t pid_ = -1;
    std::filesystem::path log_;
};

class ImsCore : public ::testing::Test {
  protected:
    void SetUp() override {
        core_port_ = free_port();
        as_port_ = free_port();
        auto registry = sip::subscriber_registry::open(database());
        registry.add(core::impu::parse("sip:alice@ims.example"),
                     core::impi::parse("alice@ims.example"), "alice-secret");
        registry.add(core::impu::parse("sip:carol@ims.example"),
                     core::impi::parse("carol@ims.example"), "carol-secret");
        start_core();
    }

    std::filesystem::path database() const { return directory_.path() / "ims-core.sqlite"; }

    void start_core() {
        sip::ims_core_settings settings;
        settings.port = core_port_;
        settings.realm = "ims.example";
        settings.database = database();
        settings.filter_criteria.push_back({"content", "sip:content@ims.example", "", "",
                                            "sip:127.0.0.1:" + std::to_string(as_port_)});
        settings.trusted_as.push_back({"127.0.0.1", as_port_});
        settings.min_expires = min_expires_;
        core_ = std::make_unique<sip::ims_core>(
            settings, core::logger("ims-core", nullptr, core::log_level::warning));
        core_->start();
        ASSERT_EQ(core_->port(), core_port_);
    }

    void restart_core() {
        core_->stop();
        core_.reset();
        start_core();
    }

    /** Starts sipp with a scenario against the core; keys are -key name value pairs. */
    std::unique_ptr<process> sipp(const std::string& scenario, std::uint16_t local_port,
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
        arguments.push_back("127.0.0.1:" + std::to_string(core_port_));
        return std::make_unique<process>(
            arguments, directory_.path(),
            scenario + "." + std::to_string(local_port) + "." + std::to_string(++runs_) + ".out");
    }

    int register_ue(std::uint16_t port, const std::string& user, const std::string& password,
                    const std::string& expires = "600",
                    const std::string& scenario = "ims_register.xml") {
        auto ue =
            sipp(scenario, port, {{"user", user}, {"domain", "ims.example"}, {"expires", expires}},
                 {"-au", user + "@ims.example", "-ap", password});
        const int status = ue->wait();
        EXPECT_EQ(status, 0) << ue->output();
        return status;
    }

    std::vector<sip::registration_binding> bindings() {
        auto registry = sip::subscriber_registry::open(database());
        return registry.bindings();
    }

    /** Sends a MESSAGE from the stand-in AS to a user; @return sipp's exit status. */
    int as_message(const std::string& user, const std::string& expected_status) {
        auto as = sipp(
            "ims_as_message_" + expected_status + ".xml", as_port_,
            {{"user", user}, {"domain", "ims.example"}, {"psi_uri", "sip:content@ims.example"}});
        const int status = as->wait();
        EXPECT_EQ(status, 0) << as->output();
        return status;
    }

    imsp2p_test::temporary_directory directory_{"imsp2p-ims-core"};
    std::uint16_t core_port_ = 0;
    std::uint16_t as_port_ = 0;
    int runs_ = 0;
    std::chrono::seconds min_expires_{60};
    std::unique_ptr<sip::ims_core> core_;
};

TEST_F(ImsCore, RegistersWithDigestAndStoresTheBinding) {
    const std::uint16_t ue_port = free_port();
    ASSERT_EQ(register_ue(ue_port, "alice", "alice-secret"), 0);
    const auto stored = bindings();
    ASSERT_EQ(stored.size(), 1u);
    EXPECT_EQ(stored[0].impu.str(), "sip:alice@ims.example");
    EXPECT_EQ(stored[0].impi.str(), "alice@ims.example");
    EXPECT_NE(stored[0].contact.find(":" + std::to_string(ue_port)), std::string::npos);
    EXPECT_EQ(stored[0].received, "sip:127.0.0.1:" + std::to_string(ue_port) + ";transport=udp");
    EXPECT_GT(stored[0].expires, std::chrono::system_clock::now() + 500s);
}

TEST_F(ImsCore, WrongPasswordIsRefusedAndNotRegistered) {
    auto ue = sipp("ims_register_refused.xml", free_port(),
                   {{"user", "alice"}, {"domain", "ims.example"}, {"expires", "600"}},
                   {"-au", "alice@ims.example", "-ap", "not-the-password", "-trace_msg",
                    "-message_file", "refused.log"});
    ASSERT_EQ(ue->wait(), 0) << ue->output();
    const std::string log = process::read_file(directory_.path() / "refused.log");
    EXPECT_NE(log.find("SIP/2.0 403 Forbidden (Authentication failed)"), std::string::npos) << log;
    EXPECT_TRUE(bindings().empty());
}

TEST_F(ImsCore, UnknownUserIsRefused) {
    auto ue = sipp("ims_register_refused.xml", free_port(),
                   {{"user", "mallory"}, {"domain", "ims.example"}, {"expires", "600"}},
                   {"-au", "mallory@ims.example", "-ap", "whatever", "-trace_msg", "-message_file",
                    "refused.log"});
    ASSERT_EQ(ue->wait(), 0) << ue->output();
    const std::string log = process::read_file(directory_.path() / "refused.log");
    EXPECT_NE(log.find("SIP/2.0 403 Forbidden (Unknown user)"), std::string::npos) << log;
    EXPECT_TRUE(bindings().empty());
}

TEST_F(ImsCore, SpoofedAssertedIdentityIsReplacedByTheAuthenticatedOne) {
    auto as = sipp("ims_as_uas.xml", as_port_, {}, {"-trace_msg", "-message_file", "as.log"});
    std::this_thread::sleep_for(300ms);
    auto ue = sipp("ims_ue_message.xml", free_port(),
                   {{"user", "alice"},
                    {"domain", "ims.example"},
                    {"expires", "600"},
                    {"psi", "content@ims.example"},
                    {"psi_uri", "sip:content@ims.example"}},
                   {"-au", "alice@ims.example", "-ap", "alice-secret"});
    EXPECT_EQ(ue->wait(), 0) << ue->output();
    EXPECT_EQ(as->wait(), 0) << as->output();
    const std::string received = process::read_file(directory_.path() / "as.log");
    EXPECT_NE(received.find("MESSAGE sip:content@ims.example SIP/2.0"), std::string::npos)
        << received;
    EXPECT_NE(received.find("P-Asserted-Identity: <sip:alice@ims.example>"), std::string::npos)
        << received;
    EXPECT_EQ(received.find("mallory"), std::string::npos) << received;
}

TEST_F(ImsCore, RequestOutsideTheRegistrationFlowIsProxyAuthenticated) {
    // carol is not registered at all: the core challenges with 407 and asserts her identity
    // once she answers it.
    auto as = sipp("ims_as_uas.xml", as_port_, {}, {"-trace_msg", "-message_file", "as.log"});
    std::this_thread::sleep_for(300ms);
    auto ue = sipp("ims_ue_message_digest.xml", free_port(),
                   {{"user", "carol"},
                    {"domain", "ims.example"},
                    {"psi", "content@ims.example"},
                    {"psi_uri", "sip:content@ims.example"}},
                   {"-au", "carol@ims.example", "-ap", "carol-secret"});
    EXPECT_EQ(ue->wait(), 0) << ue->output();
    EXPECT_EQ(as->wait(), 0) << as->output();
    const std::string received = process::read_file(directory_.path() / "as.log");
    EXPECT_NE(received.find("P-Asserted-Identity: <sip:carol@ims.example>"), std::string::npos)
        << received;
    EXPECT_EQ(received.find("mallory"), std::string::npos) << received;
}

TEST_F(ImsCore, SubscribeIsRecordRoutedSoTheNotifyComesBackThroughTheCore) {
    const std::uint16_t ue_port = free_port();
    ASSERT_EQ(register_ue(ue_port, "alice", "alice-secret"), 0);
    auto as = sipp("ims_as_subscribe.xml", as_port_, {{"psi_uri", "sip:content@ims.example"}},
                   {"-trace_msg", "-message_file", "as.log"});
    std::this_thread::sleep_for(300ms);
    auto ue = sipp("ims_ue_subscribe.xml", ue_port,
                   {{"user", "alice"},
                    {"domain", "ims.example"},
                    {"psi", "content@ims.example"},
                    {"psi_uri", "sip:content@ims.example"}},
                   {"-trace_msg", "-message_file", "ue.log"});
    EXPECT_EQ(ue->wait(), 0) << ue->output();
    EXPECT_EQ(as->wait(), 0) << as->output();
    const std::string at_as = process::read_file(directory_.path() / "as.log");
    const std::string own_route = "<sip:127.0.0.1:" + std::to_string(core_port_) + ";lr>";
    EXPECT_NE(at_as.find("Record-Route: " + own_route), std::string::npos) << at_as;
    EXPECT_NE(at_as.find("P-Asserted-Identity: <sip:alice@ims.example>"), std::string::npos)
        << at_as;
    EXPECT_EQ(at_as.find("mallory"), std::string::npos) << at_as;
    // The AS sent its NOTIFY to the core (Route), which delivered it to the UE's contact.
    EXPECT_NE(at_as.find("Route: " + own_route), std::string::npos) << at_as;
    const std::string at_ue = process::read_file(directory_.path() / "ue.log");
    EXPECT_NE(at_ue.find("NOTIFY sip:alice@127.0.0.1:" + std::to_string(ue_port)),
              std::string::npos)
        << at_ue;
}

TEST_F(ImsCore, AsMessageReachesTheRegisteredContact) {
    const std::uint16_t ue_port = free_port();
    ASSERT_EQ(register_ue(ue_port, "alice", "alice-secret"), 0);
    auto ue = sipp("ims_ue_receive.xml", ue_port, {}, {"-trace_msg", "-message_file", "ue.log"});
    std::this_thread::sleep_for(300ms);
    as_message("alice", "200");
    EXPECT_EQ(ue->wait(), 0) << ue->output();
    const std::string received = process::read_file(directory_.path() / "ue.log");
    EXPECT_NE(received.find("MESSAGE sip:alice@127.0.0.1:" + std::to_string(ue_port)),
              std::string::npos)
        << received;
    EXPECT_NE(received.find("P-Asserted-Identity: <sip:content@ims.example>"), std::string::npos)
        << received;
}

TEST_F(ImsCore, WorksOverTcp) {
    const std::uint16_t ue_port = free_port();
    auto registration = sipp("ims_register.xml", ue_port,
                             {{"user", "alice"}, {"domain", "ims.example"}, {"expires", "600"}},
                             {"-t", "t1", "-au", "alice@ims.example", "-ap", "alice-secret"});
    ASSERT_EQ(registration->wait(), 0) << registration->output();
    const auto stored = bindings();
    ASSERT_EQ(stored.size(), 1u);
    EXPECT_NE(stored[0].received.find(";transport=tcp"), std::string::npos) << stored[0].received;
    EXPECT_NE(stored[0].contact.find("transport=TCP"), std::string::npos) << stored[0].contact;
    // The AS (UDP) reaches the UE on its TCP contact.
    auto ue = sipp("ims_ue_receive.xml", ue_port, {}, {"-t", "t1"});
    std::this_thread::sleep_for(300ms);
    as_message("alice", "200");
    EXPECT_EQ(ue->wait(), 0) << ue->output();
}

TEST_F(ImsCore, UnknownUserGets404AndUnregisteredUser480) {
    as_message("bob", "404");
    as_message("alice", "480");
    // Registered, then unregistered with Expires: 0.
    const std::uint16_t ue_port = free_port();
    ASSERT_EQ(register_ue(ue_port, "alice", "alice-secret"), 0);
    ASSERT_EQ(bindings().size(), 1u);
    ASSERT_EQ(register_ue(ue_port, "alice", "alice-secret", "0"), 0);
    EXPECT_TRUE(bindings().empty());
    as_message("alice", "480");
}

TEST_F(ImsCore, RegistrationsExpire) {
    min_expires_ = 1s;
    restart_core();
    const std::uint16_t ue_port = free_port();
    ASSERT_EQ(register_ue(ue_port, "alice", "alice-secret", "1"), 0);
    ASSERT_EQ(bindings().size(), 1u);
    std::this_thread::sleep_for(1200ms);
    as_message("alice", "480");
    EXPECT_TRUE(bindings().empty());
}

TEST_F(ImsCore, RestartKeepsUsersAndRegistrations) {
    const std::uint16_t ue_port = free_port();
    ASSERT_EQ(register_ue(ue_port, "alice", "alice-secret"), 0);
    restart_core();
    auto ue = sipp("ims_ue_receive.xml", ue_port, {});
    std::this_thread::sleep_for(300ms);
    as_message("alice", "200");
    EXPECT_EQ(ue->wait(), 0) << ue->output();
    // Users survive too: carol can still register after the restart.
    EXPECT_EQ(register_ue(free_port(), "carol", "carol-secret"), 0);
}

TEST(ImsCoreSettings, FromConfig) {
    const auto config = core::config::parse(R"({
        "listen": {"address": "127.0.0.1", "port": 5099}, "realm": "ims.example",
        "registration": {"default_expires": "10m", "min_expires": "30s", "max_expires": "1h"},
        "nonce_lifetime": "2m", "trust_registration_flow": false,
        "filter_criteria": [{"name": "content", "psi": "sip:content@ims.example",
                             "as": "sip:127.0.0.1:5070"},
                            {"method": "PUBLISH", "request_uri": "sip:.*", "as": "sip:as"}],
        "trusted_as": ["127.0.0.1:5070", "10.0.0.1"]})");
    const auto settings = sip::ims_core_settings::from_config(config);
    EXPECT_EQ(settings.port, 5099);
    EXPECT_EQ(settings.realm, "ims.example");
    EXPECT_EQ(settings.default_expires, 600s);
    EXPECT_EQ(settings.min_expires, 30s);
    EXPECT_EQ(settings.max_expires, 3600s);
    EXPECT_EQ(settings.nonce_lifetime, 120s);
    EXPECT_FALSE(settings.trust_registration_flow);
    ASSERT_EQ(settings.filter_criteria.size(), 2u);
    EXPECT_EQ(settings.filter_criteria[0].psi, "sip:content@ims.example");
    EXPECT_EQ(settings.filter_criteria[1].method, "PUBLISH");
    EXPECT_EQ(settings.filter_criteria[1].as_uri, "sip:as");
    ASSERT_EQ(settings.trusted_as.size(), 2u);
    EXPECT_EQ(settings.trusted_as[0].port, 5070);
    EXPECT_EQ(settings.trusted_as[1].address, "10.0.0.1");
    EXPECT_EQ(settings.trusted_as[1].port, 0);

    EXPECT_THROW(sip::ims_core_settings::from_config(
                     core::config::parse(R"({"filter_criteria": [{"psi": "sip:x@y"}]})")),
                 std::system_error);
    EXPECT_THROW(sip::ims_core_settings::from_config(core::config::parse(
                     R"({"filter_criteria": [{"request_uri": "(", "as": "sip:as"}]})")),
                 std::system_error);
}

TEST(ImsCoreStart, BusyPortIsReported) {
    const std::uint16_t port = free_port();
    sip::ims_core_settings settings;
    settings.port = port;
    sip::ims_core first(settings, core::logger("first", nullptr, core::log_level::off));
    first.start();
    sip::ims_core second(settings, core::logger("second", nullptr, core::log_level::off));
    EXPECT_THROW(second.start(), std::system_error);
    first.stop();
    first.stop();  // idempotent
}

}  // namespace
