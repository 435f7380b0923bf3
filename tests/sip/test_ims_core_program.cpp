// The imsp2p-ims-core program: user subcommands, --config/--listen/--data-dir, SIGTERM, and
// state that survives a restart; sipp plays the UE and the AS. The program is looked up in the
// build tree (IMSP2P_BINARY_DIR when defined, else next to this test's build directory).
#include <imsp2p/sip/ims_core.hpp>

#include <imsp2p/pana/hss.hpp>
#include <imsp2p/pana/token_store.hpp>
#include <imsp2p/pana/usim.hpp>
#include <imsp2p/sip/aka_credentials.hpp>
#include <imsp2p/sip/one_pass.hpp>
#include <imsp2p/sip/user_agent.hpp>

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

using namespace std::chrono_literals;

namespace {

const std::filesystem::path scenarios = std::filesystem::path(IMSP2P_SOURCE_DIR) / "tests/sip/sipp";

std::filesystem::path program_path() {
#ifdef IMSP2P_BINARY_DIR
    const std::filesystem::path build(IMSP2P_BINARY_DIR);
#else
    // <build>/tests/imsp2p_sip_tests -> <build>
    const std::filesystem::path build =
        std::filesystem::read_symlink("/proc/self/exe").parent_path().parent_path();
#endif
    return build / "examples/ims-core/imsp2p-ims-core";
}

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

bool udp_port_taken(std::uint16_t port) {
    const int udp = ::socket(AF_INET, SOCK_DGRAM, 0);
    sockaddr_in address{};
    address.sin_family = AF_INET;
    address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    address.sin_port = htons(port);
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

/** A child process (output to a file), killed when destroyed if still running. */
class process {
  public:
    process(const std::vector<std::string>& arguments, const std::filesystem::path& directory,
            const std::string& log_name)
        : log_(directory / log_name) {
        std::vector<char*> argv;
        for (const auto& argument : arguments) {
            argv.push_back(const_cast<char*>(argument.c_str()));
        }
        argv.push_back(nullptr);
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

    void signal(int number) const {
        if (pid_ > 0) {
            ::kill(pid_, number);
        }
    }

    std::string output() const { return read_file(log_); }

  private:
    pid_t pid_ = -1;
    std::filesystem::path log_;
};

class ImsCoreProgram : public ::testing::Test {
  protected:
    void SetUp() override {
        if (!std::filesystem::exists(program_path())) {
            GTEST_SKIP() << program_path() << " is not built (IMSP2P_BUILD_EXAMPLES=OFF?)";
        }
        port_ = free_port();
        as_port_ = free_port();
        std::ofstream config(directory_.path() / "ims-core.json");
        config << R"({"realm": "ims.example",
                      "filter_criteria": [{"name": "content", "psi": "sip:content@ims.example",
                                           "as": "sip:127.0.0.1:)"
               << as_port_ << R"("}],
                      "trusted_as": ["127.0.0.1:)"
               << as_port_ << R"("], "log": {"level": "debug"}})";
    }

    int run(const std::vector<std::string>& arguments, std::string* output = nullptr) {
        std::vector<std::string> argv = {program_path().string(), "--data-dir",
                                         (directory_.path() / "data").string()};
        argv.insert(argv.end(), arguments.begin(), arguments.end());
        process child(argv, directory_.path(), "cli." + std::to_string(++runs_) + ".out");
        const int status = child.wait();
        if (output != nullptr) {
            *output = child.output();
        }
        return status;
    }

    std::unique_ptr<process> start() {
        auto server = std::make_unique<process>(
            std::vector<std::string>{program_path().string(), "--config",
                                     (directory_.path() / "ims-core.json").string(), "--listen",
                                     "127.0.0.1:" + std::to_string(port_), "--data-dir",
                                     (directory_.path() / "data").string()},
            directory_.path(), "server." + std::to_string(++runs_) + ".log");
        // Generous: a loaded CI machine may take seconds to start the program.
        const auto deadline = std::chrono::steady_clock::now() + 30s;
        while (!udp_port_taken(port_) && std::chrono::steady_clock::now() < deadline) {
            std::this_thread::sleep_for(20ms);
        }
        EXPECT_TRUE(udp_port_taken(port_)) << server->output();
        return server;
    }

    int sipp(const std::string& scenario, std::uint16_t local_port,
             const std::vector<std::pair<std::string, std::string>>& keys,
             const std::vector<std::string>& extra = {}) {
        auto child = sipp_start(scenario, local_port, keys, extra);
        const int status = child->wait();
        EXPECT_EQ(status, 0) << child->output();
        return status;
    }

    std::unique_ptr<process> sipp_start(
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
        arguments.push_back("127.0.0.1:" + std::to_string(port_));
        return std::make_unique<process>(arguments, directory_.path(),
                                         scenario + "." + std::to_string(++runs_) + ".out");
    }

    imsp2p_test::temporary_directory directory_{"imsp2p-ims-core-program"};
    std::uint16_t port_ = 0;
    std::uint16_t as_port_ = 0;
    int runs_ = 0;
};

TEST_F(ImsCoreProgram, HelpAndBadUsage) {
    std::string output;
    EXPECT_EQ(run({"--help"}, &output), 0);
    EXPECT_NE(output.find("--listen"), std::string::npos) << output;
    EXPECT_NE(output.find("user add"), std::string::npos) << output;
    EXPECT_EQ(run({"user", "frobnicate"}, &output), 2) << output;
    EXPECT_EQ(run({"nonsense"}, &output), 2) << output;
    EXPECT_EQ(run({"--listen", "127.0.0.1:70000"}, &output), 1) << output;
}

TEST_F(ImsCoreProgram, UsersRegistrationsAndRestart) {
    std::string output;
    ASSERT_EQ(run({"user", "add", "sip:alice@ims.example", "--impi", "alice@ims.example",
                   "--password", "alice-secret"},
                  &output),
              0)
        << output;
    EXPECT_EQ(run({"user", "add", "sip:alice@ims.example", "--impi", "alice@ims.example",
                   "--password", "again"},
                  &output),
              1)
        << output;
    EXPECT_NE(output.find("already exists"), std::string::npos) << output;
    ASSERT_EQ(run({"user", "list"}, &output), 0);
    EXPECT_EQ(output, "sip:alice@ims.example\talice@ims.example\tims.example\n");

    const std::uint16_t ue_port = free_port();
    {
        auto server = start();
        ASSERT_EQ(sipp("ims_register.xml", ue_port,
                       {{"user", "alice"}, {"domain", "ims.example"}, {"expires", "600"}},
                       {"-au", "alice@ims.example", "-ap", "alice-secret"}),
                  0);
        server->signal(SIGTERM);
        EXPECT_EQ(server->wait(10s), 0) << server->output();
        const std::string log = server->output();
        EXPECT_NE(log.find("registered"), std::string::npos) << log;
        EXPECT_NE(log.find("stopped"), std::string::npos) << log;
        EXPECT_EQ(log.find("alice-secret"), std::string::npos) << log;
    }
    {
        // After the restart the registration is still there: the AS reaches the UE.
        auto server = start();
        auto ue = sipp_start("ims_ue_receive.xml", ue_port, {});
        std::this_thread::sleep_for(300ms);
        EXPECT_EQ(sipp("ims_as_message_200.xml", as_port_,
                       {{"user", "alice"},
                        {"domain", "ims.example"},
                        {"psi_uri", "sip:content@ims.example"}}),
                  0);
        EXPECT_EQ(ue->wait(), 0) << ue->output();
        server->signal(SIGTERM);
        EXPECT_EQ(server->wait(10s), 0) << server->output();
    }
    ASSERT_EQ(run({"user", "remove", "sip:alice@ims.example"}, &output), 0) << output;
    EXPECT_EQ(run({"user", "remove", "sip:alice@ims.example"}, &output), 1) << output;
    ASSERT_EQ(run({"user", "list"}, &output), 0);
    EXPECT_EQ(output, "");
}

TEST_F(ImsCoreProgram, HssSubscribersRegisterWithAka) {
    namespace sip = imsp2p::sip;
    namespace core = imsp2p::core;
    namespace pana = imsp2p::pana;
    std::string output;
    ASSERT_EQ(run({"user", "add", "sip:alice@ims.example", "--impi", "alice@ims.example",
                   "--password", "md5-secret"},
                  &output),
              0)
        << output;
    // K and OPc provisioned in the HSS store the config names (relative to the config file).
    pana::usim_profile profile;
    profile.impi = core::impi::parse("alice@ims.example");
    for (std::size_t i = 0; i < profile.k.size(); ++i) {
        profile.k[i] = static_cast<std::uint8_t>(0x11 * (i + 1));
        profile.opc[i] = static_cast<std::uint8_t>(0xa0 + i);
    }
    {
        auto store = pana::subscriber_store::open(directory_.path() / "hss.sqlite");
        pana::subscriber_record record;
        record.impi = profile.impi;
        record.k = profile.k;
        record.opc = profile.opc;
        store.create(record);
    }
    {
        std::ofstream config(directory_.path() / "ims-core.json");
        config << R"({"realm": "ims.example", "hss": {"database": "hss.sqlite"}})";
    }
    auto server = start();
    sip::user_agent_settings settings;
    settings.aor = "sip:alice@ims.example";
    settings.registrar = "sip:127.0.0.1:" + std::to_string(port_);
    settings.credentials = std::make_shared<sip::aka_credentials>(pana::usim(profile));
    {
        sip::user_agent ua(settings, core::logger("ua", nullptr, core::log_level::off));
        EXPECT_EQ(ua.register_now(8s).status, 200);
    }
    // The MD5 password no longer works for an HSS subscriber: the challenge is AKAv1-MD5.
    settings.credentials =
        std::make_shared<sip::password_credentials>("alice@ims.example", "md5-secret");
    {
        sip::user_agent ua(settings, core::logger("ua", nullptr, core::log_level::off));
        EXPECT_NE(ua.register_now(8s).status, 200);
    }
    server->signal(SIGTERM);
    EXPECT_EQ(server->wait(10s), 0) << server->output();
    EXPECT_NE(server->output().find("AKAv1-MD5"), std::string::npos) << server->output();
}

TEST_F(ImsCoreProgram, TokenInTheHssAllowsOnePassRegistrationOnce) {
    namespace sip = imsp2p::sip;
    namespace core = imsp2p::core;
    namespace pana = imsp2p::pana;
    std::string output;
    ASSERT_EQ(run({"user", "add", "sip:bob@ims.example", "--impi", "bob@ims.example", "--password",
                   "unused"},
                  &output),
              0)
        << output;
    pana::usim_profile profile;
    profile.impi = core::impi::parse("bob@ims.example");
    for (std::size_t i = 0; i < profile.k.size(); ++i) {
        profile.k[i] = static_cast<std::uint8_t>(0x21 + 7 * i);
        profile.opc[i] = static_cast<std::uint8_t>(0x35 + i);
    }
    // What the PAA deposits after bob's EAP-TLS access authentication: (IMPI, token, expiry).
    const core::byte_vector token(64, 0x5a);
    {
        auto store = pana::subscriber_store::open(directory_.path() / "hss.sqlite");
        pana::subscriber_record record;
        record.impi = profile.impi;
        record.k = profile.k;
        record.opc = profile.opc;
        store.create(record);
        auto tokens = pana::token_store::open(directory_.path() / "hss.sqlite");
        tokens.store(profile.impi, token, std::chrono::system_clock::now() + 5min);
    }
    {
        std::ofstream config(directory_.path() / "ims-core.json");
        config << R"({"realm": "ims.example", "hss": {"database": "hss.sqlite"}})";
    }
    auto server = start();
    const auto register_with = [&](const std::shared_ptr<sip::one_pass_credentials>& one_pass) {
        sip::user_agent_settings settings;
        settings.aor = "sip:bob@ims.example";
        settings.registrar = "sip:127.0.0.1:" + std::to_string(port_);
        settings.credentials = one_pass;
        sip::user_agent ua(settings, core::logger("ua", nullptr, core::log_level::off));
        return ua.register_now(8s).status;
    };
    auto aka = std::make_shared<sip::aka_credentials>(pana::usim(profile));
    // One pass: 200 without any challenge.
    auto first =
        std::make_shared<sip::one_pass_credentials>("bob@ims.example", "ims.example", token, aka);
    EXPECT_EQ(register_with(first), 200);
    EXPECT_TRUE(first->token_used());
    EXPECT_EQ(first->challenges_answered(), 0u);
    // The token is single-use: the same proof again falls back to the AKA challenge.
    auto again =
        std::make_shared<sip::one_pass_credentials>("bob@ims.example", "ims.example", token, aka);
    EXPECT_EQ(register_with(again), 200);
    EXPECT_EQ(again->challenges_answered(), 1u);
    server->signal(SIGTERM);
    EXPECT_EQ(server->wait(10s), 0) << server->output();
}

}  // namespace
