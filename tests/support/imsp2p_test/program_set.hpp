// Test support: the servers of an end-to-end test, each an imsp2p program started with
// `--config <dir>/<name>.json` and logging to `<dir>/<name>.log`; the set SIGTERMs them all on
// destruction (newest first) and waits for each. Also the AS signing key every server trusts.
//
//   imsp2p_test::program_set servers(dir);
//   imsp2p_test::write_as_keys(dir);            // dir/as/as-signing.jwk, dir/as-jwks.json
//   servers.start(drm_program, "drm", drm_port, true);
//   ... servers.logs() in failure messages
#pragma once

#include "imsp2p_test/child_process.hpp"

#include <imsp2p/core/jose.hpp>
#include <imsp2p/core/key_file.hpp>

#include <arpa/inet.h>
#include <netinet/in.h>

#include <chrono>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <memory>
#include <stdexcept>
#include <string>
#include <system_error>
#include <thread>
#include <vector>

namespace imsp2p_test {

#ifdef IMSP2P_BINARY_DIR
/** The reference programs of this build (integration tests get IMSP2P_BINARY_DIR). */
namespace programs {
/** imsp2p-ims-core */
inline const std::string ims_core =
    std::string(IMSP2P_BINARY_DIR) + "/examples/ims-core/imsp2p-ims-core";
/** imsp2p-as */
inline const std::string as = std::string(IMSP2P_BINARY_DIR) + "/examples/as/imsp2p-as";
/** imsp2p-drm */
inline const std::string drm = std::string(IMSP2P_BINARY_DIR) + "/examples/drm/imsp2p-drm";
/** imsp2p-tracker */
inline const std::string tracker =
    std::string(IMSP2P_BINARY_DIR) + "/examples/tracker/imsp2p-tracker";
/** imsp2p-index */
inline const std::string index = std::string(IMSP2P_BINARY_DIR) + "/examples/index/imsp2p-index";
/** imsp2p-client */
inline const std::string client = std::string(IMSP2P_BINARY_DIR) + "/examples/client/imsp2p-client";
}  // namespace programs
#endif

/**
 * Waits until something is bound to address:port ("127.0.0.x"): a listening TCP socket, or a
 * bound UDP socket. @return false after @p timeout
 */
inline bool wait_bound_at(const std::string& address, std::uint16_t port, bool tcp,
                          std::chrono::milliseconds timeout) {
    in_addr parsed{};
    ::inet_pton(AF_INET, address.c_str(), &parsed);
    char needle[32];
    std::snprintf(needle, sizeof needle, "%08X:%04X", parsed.s_addr, port);
    const auto deadline = std::chrono::steady_clock::now() + timeout;
    while (std::chrono::steady_clock::now() < deadline) {
        std::ifstream table(tcp ? "/proc/net/tcp" : "/proc/net/udp");
        std::string line;
        while (std::getline(table, line)) {
            // The local address is the first address column; TCP must be LISTEN (0A).
            const auto at = line.find(needle);
            if (at != std::string::npos && at < 20 + line.find(':') &&
                (!tcp || line.find(" 0A ") != std::string::npos)) {
                return true;
            }
        }
        std::this_thread::sleep_for(std::chrono::milliseconds(20));
    }
    return false;
}

/**
 * Writes the AS signing key (Ed25519, kid "as-1", 0600) to `<dir>/as/as-signing.jwk` and its
 * public JWK Set to `<dir>/as-jwks.json`, the file the DRM server, tracker and index trust.
 */
inline void write_as_keys(const std::filesystem::path& dir) {
    std::filesystem::create_directories(dir / "as");
    const auto key_path = dir / "as" / "as-signing.jwk";
    imsp2p::core::jwk key =
        imsp2p::core::load_or_create_private_key(key_path, imsp2p::core::jwk_curve::ed25519);
    key.set_kid("as-1");
    std::filesystem::remove(key_path);
    std::error_code ec;
    imsp2p::core::write_private_key_file(key_path, key, ec);
    if (ec) {
        throw std::system_error(ec, key_path.string());
    }
    imsp2p::core::jwk_set keys;
    keys.keys.push_back(key.public_only());
    std::ofstream(dir / "as-jwks.json", std::ios::binary | std::ios::trunc) << keys.serialize();
}

/** Programs under test sharing one directory; stopped (SIGTERM) when the set is destroyed. */
class program_set {
  public:
    /** @param dir where the `<name>.json` configurations are and the logs go */
    explicit program_set(std::filesystem::path dir) : dir_(std::move(dir)) {}
    ~program_set() { stop_all(); }
    program_set(const program_set&) = delete;
    program_set& operator=(const program_set&) = delete;

    /**
     * Starts `program --config <dir>/<name>.json` and waits until it listens.
     * @param port the port it will listen on
     * @param tcp wait for a TCP listener (else a UDP socket)
     * @param address the address it binds
     * @throws std::runtime_error with its log when it did not start listening within 20 s
     */
    void start(const std::string& program, const std::string& name, std::uint16_t port, bool tcp,
               const std::string& address = "127.0.0.1") {
        const auto log = (dir_ / (name + ".log")).string();
        auto process = std::make_unique<child_process>(
            std::vector<std::string>{program, "--config", (dir_ / (name + ".json")).string()}, log);
        if (!wait_bound_at(address, port, tcp, std::chrono::seconds(20))) {
            throw std::runtime_error(name + " did not start: " + process->output());
        }
        running_.push_back({name, std::move(process)});
    }

    /** SIGTERMs every program (newest first) and waits for each (15 s at most). */
    void stop_all() {
        for (auto it = running_.rbegin(); it != running_.rend(); ++it) {
            it->process->signal(SIGTERM);
        }
        for (auto& running : running_) {
            running.process->wait(std::chrono::seconds(15));
        }
        running_.clear();
    }

    /** @return every program's log, each under a "--- <name>" line */
    [[nodiscard]] std::string logs() const {
        std::string text;
        for (const auto& running : running_) {
            text += "--- " + running.name + "\n" + running.process->output() + "\n";
        }
        return text;
    }

  private:
    struct started_program {
        std::string name;
        std::unique_ptr<child_process> process;
    };
    std::filesystem::path dir_;
    std::vector<started_program> running_;
};

}  // namespace imsp2p_test
