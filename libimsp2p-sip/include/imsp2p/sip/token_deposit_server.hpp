/**
 * @file
 * The HSS end of the authenticated PAA -> HSS one-pass token interface (seed 001 App. A,
 * imsp2p issue 8): an HTTP endpoint `POST /v1/one-pass-tokens` that accepts deposits sealed
 * with pana::seal_token_deposit() and stores them in the HSS's token store.
 *
 * Request: `Content-Type: application/octet-stream`, body the sealed deposit bytes as they are.
 * Answers: 204 stored; 400 `urn:imsp2p:problem:malformed-deposit` (empty or not a deposit);
 * 401 `urn:imsp2p:problem:deposit-unauthorized` (wrong service key or tampered); 409
 * `urn:imsp2p:problem:deposit-replayed` (its id was already accepted); 410
 * `urn:imsp2p:problem:deposit-expired`; 415 another Content-Type; 404/405 other targets or
 * methods. Errors are RFC 7807 problem documents and leave the store unchanged.
 */
#pragma once

#include <imsp2p/sip/export.hpp>

#include <imsp2p/core/crypto.hpp>
#include <imsp2p/core/log.hpp>

#include <cstdint>
#include <filesystem>
#include <memory>
#include <string>
#include <system_error>

namespace imsp2p::sip {

/** Settings of a token_deposit_server (a value type). */
struct token_deposit_server_settings {
    std::string bind_address = "127.0.0.1";  ///< Address to listen on (IPv4 or IPv6 literal).
    std::uint16_t port = 0;                  ///< TCP port; 0: an ephemeral port.
    /** The 32-byte service key shared with the PAA (pana::token_service_key_size). */
    core::secret_bytes service_key;
    /** The HSS SQLite file holding the token store (its `one_pass_token` table). */
    std::filesystem::path hss_database;
    /** The HSS master key sealing tokens at rest (32 bytes), or empty (tokens in clear). */
    core::secret_bytes master_key;
};

/**
 * Serves `POST /v1/one-pass-tokens` on its own thread. The server owns its io_context, that
 * thread and a token store connection to the HSS file (used only on that thread). Not copyable
 * or movable; destroying it stops it.
 */
class IMSP2P_SIP_EXPORT token_deposit_server {
  public:
    /**
     * Creates a stopped server.
     * @param settings the settings (copied)
     * @param log where requests and refusals are logged (from the server thread)
     */
    token_deposit_server(token_deposit_server_settings settings, core::logger log);
    /** Stops the server and joins its thread. */
    ~token_deposit_server();
    token_deposit_server(const token_deposit_server&) = delete;             ///< Not copyable.
    token_deposit_server& operator=(const token_deposit_server&) = delete;  ///< Not copyable.

    /**
     * Opens the token store, binds and starts serving on a new thread.
     * @param ec core::errc::bad_key_size (service key not 32 bytes, master key neither 0 nor
     *        32), database errors, socket errors; cleared on success
     */
    void start(std::error_code& ec);
    /** Throwing form of start(). @throws std::system_error with the codes of start(ec) */
    void start();
    /** Stops serving and joins the thread; idempotent. Call from any thread but the server's. */
    void stop() noexcept;
    /** @return the bound TCP port after start(), 0 before. */
    [[nodiscard]] std::uint16_t port() const noexcept;

  private:
    struct impl;
    std::shared_ptr<impl> impl_;
};

}  // namespace imsp2p::sip
