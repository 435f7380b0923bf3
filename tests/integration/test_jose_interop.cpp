// Interoperability of imsp2p's JOSE (JWS EdDSA, JWE ECDH-ES+A256KW/A256GCM on X25519, JWK
// thumbprints) with an independent implementation: the npm package "jose", driven by
// tests/js/jose_check.mjs under node. Both directions are checked with keys generated here.

#include <imsp2p/core/encoding.hpp>
#include <imsp2p/core/error.hpp>
#include <imsp2p/core/jose.hpp>

#include <gtest/gtest.h>

#include <fcntl.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <sstream>
#include <string>
#include <vector>

extern char** environ;

namespace {

using namespace imsp2p::core;
using json = nlohmann::json;
namespace fs = std::filesystem;

const std::string node_executable = IMSP2P_NODE_EXECUTABLE;
const fs::path js_dir = IMSP2P_JS_DIR;

/** A temporary file removed on destruction. */
class temporary_file {
  public:
    temporary_file() {
        std::string pattern = (fs::temp_directory_path() / "imsp2p-jose-XXXXXX").string();
        const int fd = ::mkstemp(pattern.data());
        if (fd >= 0) {
            ::close(fd);
            path_ = pattern;
        }
    }
    ~temporary_file() {
        if (!path_.empty()) {
            std::error_code ec;
            fs::remove(path_, ec);
        }
    }
    temporary_file(const temporary_file&) = delete;
    temporary_file& operator=(const temporary_file&) = delete;
    const fs::path& path() const { return path_; }

  private:
    fs::path path_;
};

class JoseInterop : public ::testing::Test {
  protected:
    void SetUp() override {
        ASSERT_FALSE(node_executable.empty() || node_executable.ends_with("-NOTFOUND") ||
                     !fs::exists(node_executable))
            << "node is required for the JOSE interop test but was not found ('" << node_executable
            << "'); run scripts/setup";
        ASSERT_TRUE(fs::exists(js_dir / "node_modules" / "jose" / "package.json"))
            << "the npm package 'jose' is missing from " << (js_dir / "node_modules")
            << "; run scripts/setup (npm ci in tests/js)";
        ASSERT_TRUE(fs::exists(js_dir / "jose_check.mjs"));
    }

    /**
     * Runs jose_check.mjs with @p requests (a batch) and stores the answers in @p responses.
     * Fails the test on any process or protocol error.
     */
    static void run_node(const json& requests, json& responses) {
        temporary_file input;
        temporary_file output;
        temporary_file errors;
        ASSERT_FALSE(input.path().empty() || output.path().empty() || errors.path().empty())
            << "cannot create temporary files: " << std::strerror(errno);
        {
            std::ofstream stream(input.path(), std::ios::binary);
            stream << json{{"requests", requests}}.dump();
            ASSERT_TRUE(stream.good());
        }
        posix_spawn_file_actions_t actions;
        posix_spawn_file_actions_init(&actions);
        posix_spawn_file_actions_addopen(&actions, STDIN_FILENO, input.path().c_str(), O_RDONLY, 0);
        posix_spawn_file_actions_addopen(&actions, STDOUT_FILENO, output.path().c_str(),
                                         O_WRONLY | O_TRUNC, 0);
        posix_spawn_file_actions_addopen(&actions, STDERR_FILENO, errors.path().c_str(),
                                         O_WRONLY | O_TRUNC, 0);
        const std::string script = (js_dir / "jose_check.mjs").string();
        std::vector<char*> argv{const_cast<char*>(node_executable.c_str()),
                                const_cast<char*>(script.c_str()), nullptr};
        pid_t pid = 0;
        const int spawn_result =
            posix_spawn(&pid, node_executable.c_str(), &actions, nullptr, argv.data(), environ);
        posix_spawn_file_actions_destroy(&actions);
        ASSERT_EQ(spawn_result, 0) << "cannot start node: " << std::strerror(spawn_result);
        int status = 0;
        while (::waitpid(pid, &status, 0) < 0) {
            ASSERT_EQ(errno, EINTR) << "waitpid: " << std::strerror(errno);
        }
        const auto read_all = [](const fs::path& path) {
            std::ifstream stream(path, std::ios::binary);
            return std::string(std::istreambuf_iterator<char>(stream), {});
        };
        ASSERT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0)
            << "jose_check.mjs failed (status " << status << "): " << read_all(errors.path());
        const auto text = read_all(output.path());
        const auto answer = json::parse(text, nullptr, false);
        ASSERT_TRUE(answer.is_object() && answer.contains("responses") &&
                    answer["responses"].is_array() && answer["responses"].size() == requests.size())
            << "unexpected answer from jose_check.mjs: " << text;
        responses = answer["responses"];
    }

    /** Runs one request; stores its answer (which must have "ok": true) in @p response. */
    static void run_one(const json& request, json& response) {
        json responses;
        ASSERT_NO_FATAL_FAILURE(run_node(json::array({request}), responses));
        response = responses[0];
        ASSERT_EQ(response.value("ok", false), true) << response.dump();
    }
};

std::string b64u(std::string_view text) {
    return base64url_encode(as_bytes(text));
}

/** @return @p compact with its last part replaced by the last part of @p other. */
std::string with_signature_of(const std::string& compact, const std::string& other) {
    return compact.substr(0, compact.rfind('.')) + other.substr(other.rfind('.'));
}

TEST_F(JoseInterop, NodeVerifiesOurJws) {
    const auto key = ed25519_private_key::generate();
    jwk public_jwk(key.public_key());
    public_jwk.set_kid("as-test");
    const std::string claims =
        R"({"iss":"sip:as@operator.example","aud":"tracker","exp":4102444800,"sub":"tel:+15550100"})";
    const auto compact = jws_sign(as_bytes(claims), key, {{"kid", "as-test"}, {"typ", "JWT"}});
    const auto other =
        jws_sign(as_bytes("another payload"), key, {{"kid", "as-test"}, {"typ", "JWT"}});

    json responses;
    ASSERT_NO_FATAL_FAILURE(run_node(
        json::array({
            {{"op", "verify_jws"}, {"jws", compact}, {"jwk", public_jwk.to_json()}},
            {{"op", "verify_jws"},
             {"jws", with_signature_of(compact, other)},
             {"jwk", public_jwk.to_json()}},
            {{"op", "verify_jws"}, {"jws", jws_sign({}, key)}, {"jwk", public_jwk.to_json()}},
        }),
        responses));
    ASSERT_TRUE(responses[0]["ok"].get<bool>()) << responses[0].dump();
    EXPECT_EQ(responses[0]["payload"], b64u(claims));
    EXPECT_EQ(responses[0]["header"], json({{"alg", "EdDSA"}, {"kid", "as-test"}, {"typ", "JWT"}}));
    // Control: node refuses a signature made over another payload.
    EXPECT_FALSE(responses[1]["ok"].get<bool>()) << responses[1].dump();
    ASSERT_TRUE(responses[2]["ok"].get<bool>()) << responses[2].dump();
    EXPECT_EQ(responses[2]["payload"], "");
}

TEST_F(JoseInterop, WeVerifyNodeJws) {
    // A key of ours, handed to node as a private JWK, and a key generated by node.
    const auto our_key = ed25519_private_key::generate();
    json generated;
    ASSERT_NO_FATAL_FAILURE(run_one({{"op", "generate"}, {"crv", "Ed25519"}}, generated));
    const auto node_jwk = jwk::from_json(generated["jwk"]);
    ASSERT_TRUE(node_jwk.has_private_key());

    const std::string payload = "license payload \xE2\x9C\x93";
    json responses;
    ASSERT_NO_FATAL_FAILURE(
        run_node(json::array({
                     {{"op", "sign_jws"},
                      {"payload", b64u(payload)},
                      {"jwk", jwk(our_key).to_json(true)},
                      {"header", {{"kid", "drm-1"}, {"typ", "JWT"}}}},
                     {{"op", "sign_jws"}, {"payload", b64u(payload)}, {"jwk", generated["jwk"]}},
                 }),
                 responses));
    ASSERT_TRUE(responses[0]["ok"].get<bool>()) << responses[0].dump();
    ASSERT_TRUE(responses[1]["ok"].get<bool>()) << responses[1].dump();

    const auto first = jws_parse(responses[0]["jws"].get<std::string>());
    EXPECT_EQ(first.header["kid"], "drm-1");
    EXPECT_EQ(to_string(first.payload), payload);
    std::error_code ec;
    EXPECT_TRUE(jws_verify(first, our_key.public_key(), ec)) << ec.message();
    // Ed25519 is deterministic: node's signature equals ours over the same signing input.
    EXPECT_EQ(base64url_encode(our_key.sign(as_bytes(first.signing_input))),
              base64url_encode(first.signature));

    const auto second = jws_parse(responses[1]["jws"].get<std::string>());
    EXPECT_TRUE(jws_verify(second, node_jwk.ed25519_public(), ec)) << ec.message();
    EXPECT_FALSE(jws_verify(second, our_key.public_key()));
}

TEST_F(JoseInterop, NodeDecryptsOurJwe) {
    const auto recipient = x25519_private_key::generate();
    const auto content_key = random_bytes(32);
    const auto with_parties = jwe_encrypt(
        content_key, recipient.public_key(),
        {{"kid", "device-1"}, {"apu", b64u("drm.operator.example")}, {"apv", b64u("device-1")}});
    const auto plain = jwe_encrypt(as_bytes("hello node"), recipient.public_key());
    const auto private_jwk = jwk(recipient).to_json(true);

    json responses;
    ASSERT_NO_FATAL_FAILURE(
        run_node(json::array({
                     {{"op", "decrypt_jwe"}, {"jwe", with_parties}, {"jwk", private_jwk}},
                     {{"op", "decrypt_jwe"}, {"jwe", plain}, {"jwk", private_jwk}},
                     {{"op", "decrypt_jwe"},
                      {"jwe", plain},
                      {"jwk", jwk(x25519_private_key::generate()).to_json(true)}},
                 }),
                 responses));
    ASSERT_TRUE(responses[0]["ok"].get<bool>()) << responses[0].dump();
    EXPECT_EQ(responses[0]["plaintext"], base64url_encode(content_key));
    EXPECT_EQ(responses[0]["header"]["kid"], "device-1");
    EXPECT_EQ(responses[0]["header"]["alg"], "ECDH-ES+A256KW");
    ASSERT_TRUE(responses[1]["ok"].get<bool>()) << responses[1].dump();
    EXPECT_EQ(responses[1]["plaintext"], b64u("hello node"));
    // Control: node cannot decrypt with another key.
    EXPECT_FALSE(responses[2]["ok"].get<bool>()) << responses[2].dump();
}

TEST_F(JoseInterop, WeDecryptNodeJwe) {
    const auto recipient = x25519_private_key::generate();
    const auto public_jwk = jwk(recipient.public_key()).to_json();
    const auto content_key = random_bytes(32);
    json responses;
    ASSERT_NO_FATAL_FAILURE(run_node(json::array({
                                         {{"op", "encrypt_jwe"},
                                          {"plaintext", base64url_encode(content_key)},
                                          {"jwk", public_jwk},
                                          {"header", {{"kid", "device-2"}}}},
                                         {{"op", "encrypt_jwe"},
                                          {"plaintext", b64u("with parties")},
                                          {"jwk", public_jwk},
                                          {"apu", b64u("Alice")},
                                          {"apv", b64u("Bob")}},
                                         {{"op", "encrypt_jwe"},
                                          {"alg", "ECDH-ES"},
                                          {"plaintext", b64u("direct")},
                                          {"jwk", public_jwk}},
                                         {{"op", "encrypt_jwe"},
                                          {"alg", "ECDH-ES"},
                                          {"plaintext", b64u("direct with parties")},
                                          {"jwk", public_jwk},
                                          {"apu", b64u("sender")},
                                          {"apv", b64u("receiver")}},
                                     }),
                                     responses));
    for (const auto& response : responses) {
        ASSERT_TRUE(response["ok"].get<bool>()) << response.dump();
    }
    std::error_code ec;
    const auto first = jwe_decrypt(responses[0]["jwe"].get<std::string>(), recipient, ec);
    ASSERT_FALSE(ec) << ec.message();
    EXPECT_EQ(byte_vector(first.begin(), first.end()), content_key);
    const struct {
        std::size_t index;
        const char* plaintext;
    } others[] = {{1, "with parties"}, {2, "direct"}, {3, "direct with parties"}};
    for (const auto& other : others) {
        const auto decrypted =
            jwe_decrypt(responses[other.index]["jwe"].get<std::string>(), recipient, ec);
        ASSERT_FALSE(ec) << other.plaintext << ": " << ec.message();
        EXPECT_EQ(to_string(decrypted.view()), other.plaintext);
    }
    jwe_decrypt(responses[0]["jwe"].get<std::string>(), x25519_private_key::generate(), ec);
    EXPECT_EQ(ec, errc::authentication_failed);
}

TEST_F(JoseInterop, ThumbprintsAgree) {
    std::vector<jwk> keys{jwk(ed25519_private_key::generate()),
                          jwk(x25519_private_key::generate())};
    keys.push_back(keys[0].public_only());
    keys[2].set_kid("with-optional-members");
    keys[2].set_use("sig");
    json requests = json::array();
    for (const auto& key : keys) {
        requests.push_back({{"op", "thumbprint"}, {"jwk", key.to_json(true)}});
    }
    json responses;
    ASSERT_NO_FATAL_FAILURE(run_node(requests, responses));
    for (std::size_t i = 0; i < keys.size(); ++i) {
        ASSERT_TRUE(responses[i]["ok"].get<bool>()) << responses[i].dump();
        EXPECT_EQ(responses[i]["thumbprint"], keys[i].thumbprint()) << i;
    }
}

}  // namespace
