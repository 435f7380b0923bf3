// Integration test of the imsp2p-drm program: starts the real process on a free loopback port,
// registers a packaged file's content key, grants, acquires a license and plays the file with
// it; SIGTERMs the process, restarts it on the same data folder, checks that the state and the
// keys survived (a license is still issued), revokes the grant and checks the refusal.

#include <imsp2p/core/encoding.hpp>
#include <imsp2p/core/jose.hpp>
#include <imsp2p/core/key_file.hpp>
#include <imsp2p/core/ticket.hpp>
#include <imsp2p/drm/drm_client.hpp>
#include <imsp2p/drm/drm_server.hpp>
#include <imsp2p/drm/error.hpp>
#include <imsp2p/drm/packager.hpp>
#include <imsp2p/drm/player.hpp>

#include <imsp2p_test/temporary_directory.hpp>

#include <gtest/gtest.h>

#include <fcntl.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>
#include <csignal>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <optional>
#include <regex>
#include <sstream>
#include <thread>

extern char** environ;

namespace core = imsp2p::core;
namespace drm = imsp2p::drm;
namespace fs = std::filesystem;
using namespace std::chrono_literals;

namespace {

const fs::path drm_program = fs::path(IMSP2P_BINARY_DIR) / "examples" / "drm" / "imsp2p-drm";
const fs::path client_program =
    fs::path(IMSP2P_BINARY_DIR) / "examples" / "client" / "imsp2p-client";

std::string read_all(const fs::path& path) {
    std::ifstream file(path, std::ios::binary);
    return {std::istreambuf_iterator<char>(file), std::istreambuf_iterator<char>()};
}

/** A program run as a process (imsp2p-drm by default), its stdout and stderr in a log file. */
class drm_process {
  public:
    drm_process(const std::vector<std::string>& arguments, fs::path log,
                const fs::path& program = drm_program)
        : log_(std::move(log)) {
        std::vector<std::string> args{program.string()};
        args.insert(args.end(), arguments.begin(), arguments.end());
        std::vector<char*> argv;
        for (auto& arg : args) {
            argv.push_back(arg.data());
        }
        argv.push_back(nullptr);
        posix_spawn_file_actions_t actions;
        posix_spawn_file_actions_init(&actions);
        posix_spawn_file_actions_addopen(&actions, STDIN_FILENO, "/dev/null", O_RDONLY, 0);
        posix_spawn_file_actions_addopen(&actions, STDOUT_FILENO, log_.c_str(),
                                         O_WRONLY | O_CREAT | O_APPEND, 0600);
        posix_spawn_file_actions_adddup2(&actions, STDOUT_FILENO, STDERR_FILENO);
        const int rc = posix_spawn(&pid_, argv[0], &actions, nullptr, argv.data(), environ);
        posix_spawn_file_actions_destroy(&actions);
        if (rc != 0) {
            pid_ = 0;
            throw std::runtime_error("cannot start " + program.string() + ": " + std::strerror(rc));
        }
    }
    drm_process(const drm_process&) = delete;
    drm_process& operator=(const drm_process&) = delete;
    ~drm_process() {
        if (pid_ != 0) {
            ::kill(pid_, SIGKILL);
            int status = 0;
            ::waitpid(pid_, &status, 0);
        }
    }

    /** Waits for the "started" record and returns its port (0 if the process failed). */
    std::uint16_t wait_for_port(std::size_t occurrence) {
        const std::regex started(R"(drm: started port=(\d+))");
        for (int i = 0; i < 200; ++i) {
            const std::string text = read_all(log_);
            std::size_t seen = 0;
            for (auto it = std::sregex_iterator(text.begin(), text.end(), started);
                 it != std::sregex_iterator(); ++it) {
                if (++seen == occurrence) {
                    return static_cast<std::uint16_t>(std::stoi((*it)[1].str()));
                }
            }
            int status = 0;
            if (::waitpid(pid_, &status, WNOHANG) == pid_) {
                pid_ = 0;
                return 0;
            }
            std::this_thread::sleep_for(50ms);
        }
        return 0;
    }

    /** Sends SIGTERM and waits (at most 10 s) for the exit; returns the wait status. */
    std::optional<int> terminate() {
        ::kill(pid_, SIGTERM);
        return wait_exit();
    }

    /** Waits (at most 30 s) for the process to exit; returns the wait status. */
    std::optional<int> wait_exit() {
        for (int i = 0; i < 600; ++i) {
            int status = 0;
            if (::waitpid(pid_, &status, WNOHANG) == pid_) {
                pid_ = 0;
                return status;
            }
            std::this_thread::sleep_for(50ms);
        }
        return std::nullopt;
    }

  private:
    fs::path log_;
    pid_t pid_ = 0;
};

class DrmProgram : public ::testing::Test {
  protected:
    void SetUp() override {
        core::jwk_set as_keys;
        as_keys.keys.push_back(as_.public_jwk());
        std::ofstream(folder_.path() / "as-jwks.json") << as_keys.serialize();
        std::ofstream(folder_.path() / "drm.json")
            << R"({"as_issuer": "sip:as.ims.example", "license_validity": "10m",
                   "log": {"level": "info"}})";
        std::ofstream input(folder_.path() / "movie.bin", std::ios::binary);
        for (int i = 0; i < 200000; ++i) {
            input << static_cast<char>((i * 7919) & 0xff);
        }
    }

    std::vector<std::string> arguments() const {
        return {"--config",   (folder_.path() / "drm.json").string(),
                "--data-dir", (folder_.path() / "data").string(),
                "--listen",   "127.0.0.1:0",
                "--as-jwks",  (folder_.path() / "as-jwks.json").string()};
    }

    std::string token(core::ticket_role role, std::string doi = {}, std::string jkt = {}) const {
        core::ticket_claims claims;
        claims.subject = "sip:alice@ims.example";
        claims.audience = "drm";
        claims.issued_at =
            std::chrono::floor<std::chrono::seconds>(std::chrono::system_clock::now());
        claims.expires_at = claims.issued_at + 5min;
        claims.role = role;
        if (!doi.empty()) {
            claims.doi = std::move(doi);
        }
        if (!jkt.empty()) {
            claims.confirmation_thumbprint = std::move(jkt);
        }
        return as_.issue(claims);
    }

    drm::drm_client client(std::uint16_t port) const {
        drm::drm_client_settings settings;
        settings.base_url = "http://127.0.0.1:" + std::to_string(port);
        settings.timeout = 5s;
        settings.service_token_provider = [this] { return token(core::ticket_role::service); };
        return drm::drm_client(settings);
    }

    imsp2p_test::temporary_directory folder_{"imsp2p-drm-program"};
    core::ticket_issuer as_{core::ed25519_private_key::generate(), "as-1", "sip:as.ims.example"};
    core::jwk device_{core::x25519_private_key::generate()};
};

}  // namespace

TEST_F(DrmProgram, HelpDescribesTheOptions) {
    const fs::path log = folder_.path() / "help.log";
    drm_process help({"--help"}, log);
    const auto status = help.wait_exit();
    ASSERT_TRUE(status.has_value());
    EXPECT_TRUE(WIFEXITED(*status) && WEXITSTATUS(*status) == 0) << *status;
    const std::string text = read_all(log);
    EXPECT_NE(text.find("--as-jwks"), std::string::npos) << text;
    EXPECT_NE(text.find("--data-dir"), std::string::npos);
    EXPECT_NE(text.find("--listen"), std::string::npos);
}

TEST_F(DrmProgram, LicensesSurviveARestartAndARevocationIsRefused) {
    const fs::path log = folder_.path() / "drm.log";
    const std::string doi = "10.5555/integration.movie";
    const auto packaged =
        drm::package_file(folder_.path() / "movie.bin", folder_.path() / "movie.ipc",
                          folder_.path() / "movie.torrent", {});
    std::string grant_id;
    std::string jwks_before;
    {
        drm_process process(arguments(), log);
        const std::uint16_t port = process.wait_for_port(1);
        ASSERT_NE(port, 0) << read_all(log);
        const drm::drm_client drm_client = client(port);
        const core::jwk_set keys = drm_client.fetch_jwks();
        jwks_before = keys.serialize();

        drm::content_registration registration;
        registration.doi = doi;
        registration.kid = packaged.kid;
        std::error_code ec;
        registration.cek = drm::seal_content_key(keys, packaged.cek, ec);
        ASSERT_FALSE(ec) << ec.message();
        registration.metadata = {{"title", "Integration movie"}};
        drm::drm_problem problem;
        const auto registered = drm_client.register_content(registration, ec, &problem);
        ASSERT_FALSE(ec) << problem.detail;
        EXPECT_TRUE(registered.created);

        drm::grant_request request;
        request.request_id = "integration-1";
        request.user = "sip:alice@ims.example";
        request.doi = doi;
        request.device_key = device_.public_only();
        request.rights.play_count = 5;
        const auto granted = drm_client.grant(request, ec, &problem);
        ASSERT_FALSE(ec) << problem.detail;
        grant_id = granted.grant.grant_id;

        const std::string license =
            drm_client.acquire_license(token(core::ticket_role::leech, doi, device_.thumbprint()),
                                       device_.public_only(), ec, &problem);
        ASSERT_FALSE(ec) << problem.detail;

        // The license plays the packaged file.
        drm::player_settings player_settings;
        player_settings.drm_keys = keys;
        player_settings.device_key = device_.x25519_private();
        player_settings.usage_store_path = folder_.path() / "usage.sqlite";
        drm::player player = drm::player::create(player_settings);
        drm::playback playback = player.open(folder_.path() / "movie.ipc", license,
                                             std::chrono::system_clock::now(), ec, doi);
        ASSERT_FALSE(ec) << ec.message();
        std::ostringstream plain;
        playback.decrypt_to(plain, ec);
        ASSERT_FALSE(ec) << ec.message();
        EXPECT_EQ(plain.str(), read_all(folder_.path() / "movie.bin"));

        // So does the client program, as a process, with the license and the device key.
        std::ofstream(folder_.path() / "license.jws") << license << "\n";
        std::ofstream(folder_.path() / "drm-jwks.json") << keys.serialize();
        core::write_private_key_file(folder_.path() / "device" / "device.jwk", device_, ec);
        ASSERT_FALSE(ec) << ec.message();
        const fs::path client_log = folder_.path() / "client.log";
        drm_process play({"play", (folder_.path() / "movie.ipc").string(), "--license",
                          (folder_.path() / "license.jws").string(), "--device-key",
                          (folder_.path() / "device" / "device.jwk").string(), "--drm-jwks",
                          (folder_.path() / "drm-jwks.json").string(), "--doi", doi, "--out",
                          (folder_.path() / "played.bin").string()},
                         client_log, client_program);
        const auto played = play.wait_exit();
        ASSERT_TRUE(played.has_value());
        EXPECT_TRUE(WIFEXITED(*played) && WEXITSTATUS(*played) == 0) << read_all(client_log);
        EXPECT_EQ(read_all(folder_.path() / "played.bin"), read_all(folder_.path() / "movie.bin"));

        const auto status = process.terminate();
        ASSERT_TRUE(status.has_value()) << "imsp2p-drm did not stop on SIGTERM";
        EXPECT_TRUE(WIFEXITED(*status) && WEXITSTATUS(*status) == 0) << *status;
    }
    EXPECT_NE(read_all(log).find("drm: stopped"), std::string::npos) << read_all(log);

    drm_process process(arguments(), log);
    const std::uint16_t port = process.wait_for_port(2);
    ASSERT_NE(port, 0) << read_all(log);
    const drm::drm_client drm_client = client(port);
    EXPECT_EQ(drm_client.fetch_jwks().serialize(), jwks_before);
    std::error_code ec;
    drm::drm_problem problem;
    const std::string grant_token = token(core::ticket_role::leech, doi, device_.thumbprint());
    const std::string renewed =
        drm_client.acquire_license(grant_token, device_.public_only(), ec, &problem);
    ASSERT_FALSE(ec) << problem.detail;
    EXPECT_FALSE(renewed.empty());
    const auto report = drm_client.list_grants(doi, ec, &problem);
    ASSERT_EQ(report.size(), 1u) << problem.detail;
    EXPECT_EQ(report[0].grant_id, grant_id);

    ASSERT_TRUE(drm_client.revoke(grant_id, ec, &problem)) << problem.detail;
    EXPECT_TRUE(
        drm_client.acquire_license(grant_token, device_.public_only(), ec, &problem).empty());
    EXPECT_EQ(ec, drm::errc::grant_revoked);
    EXPECT_EQ(problem.status, 403);
    EXPECT_EQ(problem.type, "urn:imsp2p:problem:grant-revoked");

    const auto status = process.terminate();
    ASSERT_TRUE(status.has_value());
    EXPECT_TRUE(WIFEXITED(*status) && WEXITSTATUS(*status) == 0);
    // Nothing secret reached the log.
    const std::string text = read_all(log);
    EXPECT_EQ(text.find(grant_token), std::string::npos);
    EXPECT_EQ(text.find(core::base64url_encode(packaged.cek)), std::string::npos);

    // Once the DRM server is gone, the client says so.
    drm_client.acquire_license(grant_token, device_.public_only(), ec, &problem);
    EXPECT_EQ(ec, drm::errc::drm_unavailable);
}

TEST_F(DrmProgram, BadConfigurationStopsWithAPreciseMessage) {
    const fs::path log = folder_.path() / "bad.log";
    drm_process missing_keys({"--data-dir", (folder_.path() / "data").string(), "--listen",
                              "127.0.0.1:0", "--as-jwks", (folder_.path() / "nope.json").string()},
                             log);
    auto status = missing_keys.wait_exit();
    ASSERT_TRUE(status.has_value());
    EXPECT_TRUE(WIFEXITED(*status) && WEXITSTATUS(*status) == 1) << *status;
    EXPECT_NE(read_all(log).find("nope.json"), std::string::npos) << read_all(log);

    const fs::path usage_log = folder_.path() / "usage.log";
    drm_process no_data_dir({"--listen", "127.0.0.1:0"}, usage_log);
    status = no_data_dir.wait_exit();
    ASSERT_TRUE(status.has_value());
    EXPECT_TRUE(WIFEXITED(*status) && WEXITSTATUS(*status) == 2) << *status;
    EXPECT_NE(read_all(usage_log).find("data directory"), std::string::npos);
}
