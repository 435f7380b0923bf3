/**
 * @file
 * tracker_runner: the whole `imsp2p-tracker` program as a class (configuration, tracker service,
 * HTTP and UDP servers, logs, signals), so that the program's `main` only parses its flags.
 */
#pragma once

#include <imsp2p/tracker/export.hpp>
#include <imsp2p/tracker/tracker_service.hpp>

#include <imsp2p/core/config.hpp>

#include <cstdint>
#include <memory>

namespace imsp2p::tracker {

/**
 * The `imsp2p-tracker` program as a class: reads the configuration, opens the tracker_service
 * (its SQLite database), listens on HTTP (announce, scrape, admin API, /health, /metrics) and,
 * when configured, UDP (BEP 15 with the ticket in BEP 41 URL data), logs, and runs until SIGINT,
 * SIGTERM or stop().
 *
 * Configuration (JSON; every member optional):
 * ```
 * {"listen": {"address": "127.0.0.1", "port": 6969,   // HTTP (TCP)
 *             "udp_port": 6969},                      // UDP on the same address; absent: none
 *  "max_connections": 10000,                          // HTTP connections open at once
 *  "data_dir": "/var/lib/imsp2p-tracker",             // tracker.sqlite; absent: in memory
 *  "as_jwks": "as-jwks.json",                         // the AS public keys (JWK Set file); it
 *                                                     // must hold an Ed25519 signing key
 *  "issuer": "sip:as.ims.example",                    // required "iss" of tickets, optional
 *  "announce": {"interval": "30m", "min_interval": "5m", "peer_expiry": "45m",
 *               "default_numwant": 50, "max_numwant": 200},
 *  "log": {"level": "info", "format": "text"}}
 * ```
 * Threads: everything runs on the thread that calls run() (one io_context). Not copyable
 * (pimpl); stop() and the port getters may be called from any thread.
 */
class IMSP2P_TRACKER_EXPORT tracker_runner {
  public:
    /**
     * Opens everything, takes over SIGINT and SIGTERM for this process (a signal arriving before
     * run() is kept for it) and starts listening (so the ports are known when this returns).
     * @param config the configuration (relative paths resolve against its base directory)
     * @throws std::system_error (config_missing_value, config_bad_value, an unreadable or
     *         unusable as_jwks, database or bind errors) with a message naming the setting or
     *         file
     */
    explicit tracker_runner(const core::config& config);
    /** Stops and closes everything (the database last). */
    ~tracker_runner();
    tracker_runner(const tracker_runner&) = delete;             ///< Not copyable.
    tracker_runner& operator=(const tracker_runner&) = delete;  ///< Not copyable.

    /**
     * Serves until SIGINT or SIGTERM arrives or stop() is called, then returns.
     * @return the process exit status (0)
     */
    int run();
    /** Asks run() to return. Thread-safe, idempotent. */
    void stop();
    /** @return the bound HTTP port */
    [[nodiscard]] std::uint16_t port() const noexcept;
    /** @return the bound UDP port, 0 when UDP is not configured */
    [[nodiscard]] std::uint16_t udp_port() const noexcept;
    /** @return the service (valid while the runner lives) */
    [[nodiscard]] tracker_service& service() noexcept;

  private:
    struct impl;
    std::unique_ptr<impl> impl_;
};

}  // namespace imsp2p::tracker
