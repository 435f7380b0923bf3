// Interoperability of imsp2p licenses with an independent JOSE implementation: a license issued
// here is verified (JWT, EdDSA, typ, exp) and its content key decrypted (JWE ECDH-ES+A256KW /
// A256GCM on X25519) by the npm package "jose" under node, driven by tests/js/license_check.mjs,
// with the DRM JWK Set and the device's private JWK written to files as a client would keep them.

#include <imsp2p/core/encoding.hpp>
#include <imsp2p/core/jose.hpp>
#include <imsp2p/core/key_file.hpp>
#include <imsp2p/drm/license.hpp>
#include <imsp2p/drm/packager.hpp>

#include <gtest/gtest.h>
#include <imsp2p_test/temporary_directory.hpp>

#include <fcntl.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <string>
#include <vector>

extern char** environ;

namespace {

namespace core = imsp2p::core;
namespace drm = imsp2p::drm;
namespace fs = std::filesystem;
using json = nlohmann::json;
using namespace std::chrono_literals;

const std::string node_executable = IMSP2P_NODE_EXECUTABLE;
const fs::path js_dir = IMSP2P_JS_DIR;
const std::chrono::sys_seconds issued{std::chrono::seconds(1900000000)};

std::string read_all(const fs::path& path) {
    std::ifstream stream(path, std::ios::binary);
    return {std::istreambuf_iterator<char>(stream), {}};
}

/**
 * Runs a program with stdin from /dev/null and stdout/stderr to files.
 * @return the exit status, or -1 if it did not start or exit normally
 */
int run_program(const std::vector<std::string>& arguments, const fs::path& out,
                const fs::path& err) {
    posix_spawn_file_actions_t actions;
    posix_spawn_file_actions_init(&actions);
    posix_spawn_file_actions_addopen(&actions, STDIN_FILENO, "/dev/null", O_RDONLY, 0);
    posix_spawn_file_actions_addopen(&actions, STDOUT_FILENO, out.c_str(),
                                     O_WRONLY | O_CREAT | O_TRUNC, 0600);
    posix_spawn_file_actions_addopen(&actions, STDERR_FILENO, err.c_str(),
                                     O_WRONLY | O_CREAT | O_TRUNC, 0600);
    std::vector<char*> argv;
    for (const std::string& argument : arguments)
        argv.push_back(const_cast<char*>(argument.c_str()));
    argv.push_back(nullptr);
    pid_t pid = 0;
    const int spawned = posix_spawn(&pid, argv[0], &actions, nullptr, argv.data(), environ);
    posix_spawn_file_actions_destroy(&actions);
    if (spawned != 0)
        return -1;
    int status = 0;
    while (::waitpid(pid, &status, 0) < 0) {
        if (errno != EINTR)
            return -1;
    }
    return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

class LicenseInterop : public ::testing::Test {
  protected:
    void SetUp() override {
        ASSERT_FALSE(node_executable.empty() || node_executable.ends_with("-NOTFOUND") ||
                     !fs::exists(node_executable))
            << "node is required for the license interop test but was not found ('"
            << node_executable << "'); run scripts/setup";
        ASSERT_TRUE(fs::exists(js_dir / "node_modules" / "jose" / "package.json"))
            << "the npm package 'jose' is missing from " << (js_dir / "node_modules")
            << "; run scripts/setup (npm ci in tests/js)";
        ASSERT_TRUE(fs::exists(js_dir / "license_check.mjs"));
        // The device key as the client keeps it: a 0600 private JWK created on first use.
        std::error_code ec;
        device_jwk_ = core::load_or_create_private_key(folder_.path() / "device.jwk",
                                                       core::jwk_curve::x25519, ec);
        ASSERT_FALSE(ec) << ec.message();
        core::jwk_set keys;
        keys.keys.push_back(issuer_.public_jwk());
        std::ofstream(folder_.path() / "drm.jwks.json") << keys.serialize();
    }

    drm::license_claims claims() const {
        drm::license_claims claims;
        claims.subject = "sip:carol@ims.example";
        claims.doi = "10.5555/Interop.Movie";
        claims.kid = {0xde, 0xad, 0xbe, 0xef, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12};
        claims.issued_at = issued;
        claims.expires_at = issued + 2h;
        claims.rights.play_count = 5;
        claims.rights.window_after_first_use = 48h;
        claims.rights.devices = 2;
        return claims;
    }

    /** Runs license_check.mjs on @p license at @p now with @p device_file; returns its answer. */
    json check(const std::string& license, std::chrono::sys_seconds now,
               const fs::path& device_file = {}) {
        const fs::path license_file = folder_.path() / "license.jwt";
        std::ofstream(license_file, std::ios::trunc) << license;
        const fs::path output = folder_.path() / "out.json";
        const fs::path errors = folder_.path() / "err.txt";
        const fs::path device = device_file.empty() ? folder_.path() / "device.jwk" : device_file;
        const int status =
            run_program({node_executable, (js_dir / "license_check.mjs").string(),
                         license_file.string(), (folder_.path() / "drm.jwks.json").string(),
                         device.string(), std::to_string(now.time_since_epoch().count())},
                        output, errors);
        EXPECT_EQ(status, 0) << "license_check.mjs failed: " << read_all(errors);
        const std::string text = read_all(output);
        json answer = json::parse(text, nullptr, false);
        EXPECT_TRUE(answer.is_object() && answer.contains("ok")) << text;
        return answer;
    }

    imsp2p_test::temporary_directory folder_{"imsp2p-license-interop"};
    drm::license_issuer issuer_{core::ed25519_private_key::generate(), "drm-2026",
                                "https://drm.operator.example"};
    core::jwk device_jwk_;
    core::secret_bytes cek_{core::random_bytes(32)};
};

}  // namespace

TEST_F(LicenseInterop, NodeJoseVerifiesOurLicenseAndDecryptsTheContentKey) {
    const std::string license = issuer_.issue(claims(), device_jwk_.public_only(), cek_);
    const json answer = check(license, issued + 10min);
    ASSERT_EQ(answer.value("ok", false), true) << answer.dump();
    EXPECT_EQ(answer["header"],
              json::parse(R"({"alg":"EdDSA","kid":"drm-2026","typ":"imsp2p-license+jwt"})"));
    const json& payload = answer["payload"];
    EXPECT_EQ(payload["iss"], "https://drm.operator.example");
    EXPECT_EQ(payload["sub"], "sip:carol@ims.example");
    EXPECT_EQ(payload["doi"], "10.5555/Interop.Movie");
    EXPECT_EQ(payload["kid"], "deadbeef0102030405060708090a0b0c");
    EXPECT_EQ(payload["exp"], 1900007200);
    EXPECT_EQ(payload["rights"], claims().rights.to_json());
    EXPECT_EQ(answer["thumbprint"], device_jwk_.thumbprint());
    EXPECT_EQ(answer["cnf_matches"], true);
    EXPECT_EQ(answer["cek_header"]["alg"], "ECDH-ES+A256KW");
    EXPECT_EQ(answer["cek_header"]["enc"], "A256GCM");
    EXPECT_EQ(answer["cek"], core::base64url_encode(cek_.view()));

    // And our verifier agrees on the same files.
    drm::license_verifier verifier(
        core::jwk_set::parse(read_all(folder_.path() / "drm.jwks.json")));
    const drm::verified_license ours =
        verifier.verify(license, device_jwk_.x25519_private(), issued + 10min);
    EXPECT_EQ(core::base64url_encode(ours.cek.view()), answer["cek"]);
}

TEST_F(LicenseInterop, NodeJoseRefusesWhatWeRefuse) {
    const std::string license = issuer_.issue(claims(), device_jwk_.public_only(), cek_);
    // Tampered payload (more plays).
    json payload = json::parse(core::as_string_view(core::jws_parse(license).payload));
    payload["rights"]["play"]["count"] = 500;
    const auto first = license.find('.');
    const std::string forged = license.substr(0, first + 1) +
                               core::base64url_encode(core::as_bytes(payload.dump())) +
                               license.substr(license.rfind('.'));
    json answer = check(forged, issued + 10min);
    EXPECT_EQ(answer.value("ok", true), false) << answer.dump();
    EXPECT_EQ(answer.value("stage", ""), "verify");
    // Expired.
    answer = check(license, issued + 3h);
    EXPECT_EQ(answer.value("ok", true), false) << answer.dump();
    EXPECT_EQ(answer.value("stage", ""), "verify");
    // Another device cannot open the content key.
    std::error_code ec;
    (void)core::load_or_create_private_key(folder_.path() / "other.jwk", core::jwk_curve::x25519,
                                           ec);
    ASSERT_FALSE(ec);
    answer = check(license, issued + 10min, folder_.path() / "other.jwk");
    EXPECT_EQ(answer.value("ok", true), false) << answer.dump();
    EXPECT_EQ(answer.value("stage", ""), "decrypt");
}

// The reference client plays a packaged file with a license: it creates the device key (0600)
// on first use, refuses a license bound to another key, plays within the count and then refuses.
TEST_F(LicenseInterop, ClientPlaysWithinTheLicenseAndRefusesBeyondIt) {
    const fs::path client = fs::path(IMSP2P_BINARY_DIR) / "examples" / "client" / "imsp2p-client";
    ASSERT_TRUE(fs::exists(client)) << client << " is not built";
    const fs::path dir = folder_.path();
    std::string plaintext;
    for (int i = 0; plaintext.size() < 200000; ++i)
        plaintext += "frame " + std::to_string(i) + "\n";
    std::ofstream(dir / "film.txt", std::ios::binary) << plaintext;
    drm::package_options options;
    options.segment_size = 1u << 14;
    const drm::package_result package =
        drm::package_file(dir / "film.txt", dir / "film.ipc", dir / "film.torrent", options);

    drm::license_claims claims = this->claims();
    claims.kid = package.kid;
    claims.rights = {};
    claims.rights.play_count = 2;
    const auto now =
        std::chrono::time_point_cast<std::chrono::seconds>(std::chrono::system_clock::now());
    claims.issued_at = now - 1min;
    claims.expires_at = now + 1h;
    const fs::path device_key = dir / "client" / "device.jwk";
    const auto play = [&](const std::string& license, const std::string& out) {
        std::ofstream(dir / "client.jwt", std::ios::trunc) << license << "\n";
        return run_program(
            {client.string(), "play", (dir / "film.ipc").string(), "--license",
             (dir / "client.jwt").string(), "--device-key", device_key.string(), "--drm-jwks",
             (dir / "drm.jwks.json").string(), "--out", (dir / out).string()},
            dir / "client.out", dir / "client.err");
    };
    // First use: the key is created, and a license for another device is refused.
    EXPECT_EQ(play(issuer_.issue(claims, device_jwk_.public_only(), package.cek), "a.txt"), 1);
    EXPECT_NE(read_all(dir / "client.err").find("license is bound to another device"),
              std::string::npos)
        << read_all(dir / "client.err");
    ASSERT_TRUE(fs::exists(device_key));
    EXPECT_EQ(fs::status(device_key).permissions() & fs::perms::all,
              fs::perms::owner_read | fs::perms::owner_write);
    std::error_code ec;
    const core::jwk created = core::read_private_key_file(device_key, ec);
    ASSERT_FALSE(ec) << ec.message();
    claims.device_thumbprint.clear();
    const std::string license = issuer_.issue(claims, created.public_only(), package.cek);
    EXPECT_EQ(play(license, "1.txt"), 0) << read_all(dir / "client.err");
    EXPECT_EQ(read_all(dir / "1.txt"), plaintext);
    EXPECT_EQ(play(license, "2.txt"), 0) << read_all(dir / "client.err");
    EXPECT_EQ(read_all(dir / "2.txt"), plaintext);
    EXPECT_EQ(play(license, "3.txt"), 1);
    EXPECT_NE(read_all(dir / "client.err").find("play count is exhausted"), std::string::npos)
        << read_all(dir / "client.err");
    EXPECT_FALSE(fs::exists(dir / "3.txt"));
    EXPECT_TRUE(fs::exists(dir / "client" / "usage.db"));
}
