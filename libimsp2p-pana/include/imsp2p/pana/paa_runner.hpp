/**
 * @file
 * The logic of the `imsp2p-paa` program (its main only forwards the arguments): a PANA
 * Authentication Agent authenticating PaCs with EAP-TLS on UDP (port 716 by default).
 *
 * Usage: `imsp2p-paa --config FILE` (or `--config=FILE`); `--help` prints the usage. The
 * configuration is one JSON object:
 * `{"listen_address":"::", "port":716, "ca_file":"ca.pem", "certificate_file":"paa.crt.pem",
 *   "private_key_file":"paa.key.pem", "session_lifetime_seconds":3600,
 *   "token_store":"hss.sqlite", "token_lifetime_seconds":300,
 *   "hss_deposit_url":"http://127.0.0.1:8716/v1/one-pass-tokens",
 *   "hss_deposit_key":"deposit.key"}`; only the three files
 * are required, relative paths are taken from the configuration file's folder and unknown keys
 * are an error. The program logs one line per event to its log stream ("listening on ...",
 * "authenticated <identity> from <address> session <id> key-id <n>", "one-pass token stored
 * for <identity>") and runs until SIGTERM or SIGINT, then stops cleanly with exit code 0.
 *
 * One-pass IMS registration (seed 001 App. A, token_store.hpp): with `token_store` set, the
 * one-pass token of every successful EAP-TLS authentication is stored, with the EAP identity
 * (the IMPI) and an expiry of now + `token_lifetime_seconds`, in the HSS token store in that
 * SQLite file. That is a development shortcut: the PAA writes the HSS's file directly, and the
 * file's permissions are the only authentication of the interface. Tokens are stored in clear
 * (no master key), as the development core reads them.
 *
 * Authenticated interface (imsp2p issue 8): with `hss_deposit_url` and `hss_deposit_key` (a
 * 0600 file with the 32-byte service key, `imsp2p-keygen --type secret32`) instead of
 * `token_store`, every token is sealed with seal_token_deposit() and POSTed as
 * application/octet-stream to the HSS (sip::token_deposit_server). The POST runs on a worker
 * thread of the runner, never on the PANA thread, so a slow or absent HSS cannot stall PANA;
 * the log says "one-pass token deposited for <identity>" or "cannot deposit the one-pass
 * token of <identity>: <reason>". The authentication succeeds either way (without a token
 * the UE's REGISTER falls back to the Digest AKA challenge).
 *
 * Exit codes: 0 after a signal, 1 run-time failure (unreadable credentials, address in use),
 * 2 usage or configuration error.
 */
#pragma once

#include <imsp2p/pana/export.hpp>
#include <imsp2p/pana/pana_endpoint.hpp>

#include <chrono>
#include <cstdint>
#include <filesystem>
#include <memory>
#include <ostream>
#include <span>
#include <string>
#include <string_view>
#include <system_error>

namespace imsp2p::pana {

/** The configuration of the PAA program (a value type). */
struct paa_runner_config {
    std::string listen_address = "::";            ///< Literal IP address to listen on.
    std::uint16_t port = pana_default_port;       ///< UDP port (0: any free port).
    std::filesystem::path ca_file;                ///< PEM CA(s) client certificates chain to.
    std::filesystem::path certificate_file;       ///< PEM certificate chain of the PAA.
    std::filesystem::path private_key_file;       ///< PEM private key of the PAA.
    std::chrono::seconds session_lifetime{3600};  ///< Session-Lifetime granted to PaCs.
    /**
     * The HSS token store (SQLite file, token_store.hpp) that receives the one-pass token of
     * every successful authentication; empty: tokens are not kept (no one-pass registration).
     */
    std::filesystem::path token_store_file;
    /** How long a stored one-pass token is accepted by the S-CSCF. */
    std::chrono::seconds token_lifetime{300};
    /** The HSS deposit endpoint (`http://host:port/v1/one-pass-tokens`); empty: none. Needs
     *  hss_deposit_key_file; excludes token_store_file. */
    std::string hss_deposit_url;
    /** The 0600 file holding the 32-byte service key shared with the HSS. */
    std::filesystem::path hss_deposit_key_file;

    /**
     * Parses the JSON text of a configuration.
     * @param text the JSON object
     * @param base_directory folder relative paths are resolved against
     * @param ec core::errc::invalid_argument for a malformed configuration; cleared on success
     * @param detail receives the reason of a failure
     * @return the configuration (defaults on error)
     */
    static paa_runner_config from_json(std::string_view text,
                                       const std::filesystem::path& base_directory,
                                       std::error_code& ec, std::string& detail);
};

/**
 * Runs the PAA: parses the command line, loads the configuration and the EAP-TLS
 * credentials, serves until a signal.
 *
 * Borrows the log stream, which must outlive it; the server's thread writes authentication
 * lines to it (serialised by the runner). Not safe for concurrent use of one object.
 */
class IMSP2P_PANA_EXPORT paa_runner {
  public:
    /** Exit code after a clean stop. */
    static constexpr int exit_success = 0;
    /** Exit code of a run-time failure. */
    static constexpr int exit_failure = 1;
    /** Exit code of a usage or configuration error. */
    static constexpr int exit_usage = 2;

    /**
     * Creates a runner.
     * @param log receives the log lines and error messages
     */
    explicit paa_runner(std::ostream& log);
    /** Stops the server if it runs. */
    ~paa_runner();
    paa_runner(const paa_runner&) = delete;             ///< Not copyable.
    paa_runner& operator=(const paa_runner&) = delete;  ///< Not copyable.

    /**
     * Runs the program: blocks SIGTERM and SIGINT in the calling thread (and so in the server
     * thread it starts), starts the server and waits for one of them.
     * @param arguments the arguments after the program name
     * @return exit_success, exit_failure or exit_usage
     */
    int run(std::span<const std::string_view> arguments);

    /**
     * Starts serving a configuration without waiting (what run() does before its wait).
     * @param config the configuration
     * @param ec errc::tls_failure or a file error for the credentials, a socket error, a
     *        database error opening the token store; cleared on success
     */
    void start(const paa_runner_config& config, std::error_code& ec);
    /** @return how many one-pass tokens were stored at the HSS since start() (any thread) */
    std::uint64_t tokens_stored() const noexcept;
    /** @return the bound UDP port once started, else 0 */
    std::uint16_t port() const noexcept;
    /** Stops the server (idempotent). */
    void stop();

    /** @return the usage text printed by `--help` */
    static std::string usage();

    /** The implementation (private). */
    struct impl;

  private:
    std::unique_ptr<impl> impl_;
};

}  // namespace imsp2p::pana
