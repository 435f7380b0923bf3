/**
 * @file
 * The HSS side of the one-pass IMS registration (seed 001 App. A): the store of one-pass
 * tokens, and the authenticated deposit message the PAA uses to hand a token to the HSS.
 *
 * Flow: after EAP-TLS succeeds, the PAA (its eap_tls_token_sink) deposits (IMPI, token, expiry)
 * at the HSS; the UE's first REGISTER proves possession of the same token (one_pass.hpp in
 * libimsp2p-sip); the S-CSCF asks the store to consume() the token with a check of that proof.
 * A token is single-use: consume() marks it used in the same SQLite transaction that reads it,
 * so two S-CSCF threads or processes cannot both accept it. It also expires.
 *
 * The token itself (not a hash) is kept, because the S-CSCF must recompute the proof (an HMAC
 * keyed with the token). With a master key it is sealed at rest with AES-256-GCM (associated
 * data: the IMPI, so a row cannot be moved to another identity).
 *
 * Authenticated interface PAA -> HSS: a deposit is a self-contained sealed message
 * (seal_token_deposit(): AES-256-GCM under a 32-byte service key that only the PAA and the HSS
 * hold, e.g. a 0600 key file), so any transport (HTTP body, UDP datagram, a queue) can carry it
 * without being trusted; open_token_deposit() authenticates it and refuses expired deposits.
 * When PAA and HSS run in one process (the development IMS core), the PAA may call
 * token_store::store() directly.
 */
#pragma once

#include <imsp2p/pana/eap_tls.hpp>
#include <imsp2p/pana/export.hpp>

#include <imsp2p/core/bytes.hpp>
#include <imsp2p/core/crypto.hpp>
#include <imsp2p/core/database.hpp>
#include <imsp2p/core/identity.hpp>

#include <array>
#include <chrono>
#include <cstdint>
#include <filesystem>
#include <functional>
#include <memory>
#include <optional>
#include <system_error>

namespace imsp2p::pana {

struct token_deposit;

/** Options of token_store::open(). */
struct token_store_options {
    /**
     * 32-byte master key that seals tokens at rest (AES-256-GCM, IMPI as associated data);
     * empty: tokens are stored in clear (development only).
     */
    core::secret_bytes master_key;
    /** Options for the SQLite connection (WAL, busy timeout...). */
    core::database_options database;
};

/**
 * Checks a proof of possession against the stored token; returns true when it matches. Called
 * by token_store::consume() inside its transaction, on the caller's thread; the view is valid
 * only during the call.
 */
using token_proof_check = std::function<bool(core::byte_view token)>;

/**
 * One-pass tokens at the HSS: an SQLite table `one_pass_token` (IMPI primary key, token, expiry,
 * used flag), created if missing, so it may live in the HSS's subscriber database file.
 *
 * Movable, not copyable; like core::database one object is used by one thread at a time, and
 * several connections (threads, processes) may share the file.
 */
class IMSP2P_PANA_EXPORT token_store {
  public:
    /**
     * Opens (or creates) the store.
     * @param file the SQLite file, or ":memory:"
     * @param options master key and connection options
     * @param ec core::errc::bad_key_size (master key neither 0 nor 32 bytes), database errors
     * @return the store (unusable on error)
     */
    static token_store open(const std::filesystem::path& file, token_store_options options,
                            std::error_code& ec);
    /**
     * Throwing form of open().
     * @param file the SQLite file
     * @param options master key and connection options
     * @return the store
     * @throws std::system_error with the codes of the std::error_code overload
     */
    static token_store open(const std::filesystem::path& file, token_store_options options = {});

    /** Takes over @p other. @param other the source */
    token_store(token_store&& other) noexcept;
    /** Takes over @p other. @param other the source @return *this */
    token_store& operator=(token_store&& other) noexcept;
    /** Closes the connection and wipes the master key. */
    ~token_store();
    token_store(const token_store&) = delete;             ///< Not copyable.
    token_store& operator=(const token_store&) = delete;  ///< Not copyable.

    /**
     * Stores the token of an identity, replacing any earlier one (a new access authentication
     * supersedes the previous token, used or not).
     * @param impi the identity (not empty)
     * @param token the token (16 to 64 bytes; EAP-TLS exports 64)
     * @param expiry when the token stops being accepted
     * @param ec core::errc::invalid_argument (empty IMPI, token size), database errors; cleared
     *        on success; on error nothing is stored
     */
    void store(const core::impi& impi, core::byte_view token,
               std::chrono::system_clock::time_point expiry, std::error_code& ec);
    /**
     * Throwing form of store().
     * @param impi the identity
     * @param token the token
     * @param expiry the expiry
     * @throws std::system_error with the codes of the std::error_code overload
     */
    void store(const core::impi& impi, core::byte_view token,
               std::chrono::system_clock::time_point expiry);

    /**
     * Consumes the token of an identity if @p check accepts it, atomically: in one immediate
     * transaction the row is read, checked and marked used. A token that fails the check stays
     * usable (a wrong proof reveals nothing and must not let anyone burn another's token).
     * @param impi the identity
     * @param check the proof-of-possession check
     * @param now the current time (expiry is compared with it)
     * @param ec errc::token_unknown, token_used, token_expired, token_proof_mismatch, database
     *        errors; cleared when the token is accepted and consumed
     */
    void consume(const core::impi& impi, const token_proof_check& check,
                 std::chrono::system_clock::time_point now, std::error_code& ec);
    /**
     * consume() at the current system time.
     * @param impi the identity
     * @param check the proof-of-possession check
     * @param ec as for the overload with a time
     */
    void consume(const core::impi& impi, const token_proof_check& check, std::error_code& ec);

    /**
     * Deletes used and expired tokens.
     * @param now the current time
     * @param ec database errors
     * @return how many rows were deleted
     */
    std::size_t purge(std::chrono::system_clock::time_point now, std::error_code& ec);

    /**
     * Accepts an opened deposit (see open_token_deposit()) exactly once: in one immediate
     * transaction the deposit id is looked up in the table `one_pass_deposit` (ids are kept
     * until their deposit's expiry, in the same SQLite file, so they survive restarts), recorded,
     * and the token is stored as by store(). A replayed deposit therefore cannot re-arm a token
     * that was used. Ids of expired deposits are deleted on the way.
     * @param deposit the opened deposit
     * @param now the current time (the deposit must not have expired)
     * @param ec errc::token_deposit_replayed (id already accepted), errc::token_expired,
     *        core::errc::invalid_argument, database errors; cleared on success; on error the
     *        store is unchanged
     */
    void accept_deposit(const token_deposit& deposit, std::chrono::system_clock::time_point now,
                        std::error_code& ec);

  private:
    struct impl;
    explicit token_store(std::unique_ptr<impl> state) noexcept;
    std::unique_ptr<impl> impl_;
};

/**
 * Makes the token sink of an in-process PAA: each token an eap_tls_authenticator exports is
 * stored in @p store for the EAP identity (parsed as an IMPI; identities that are not IMPIs are
 * skipped) with expiry now + @p lifetime. The sink throws std::system_error if storing fails
 * (the authenticator catches it).
 * @param store the token store (borrowed; must outlive the sink and be used only on the thread
 *        that runs the authenticators)
 * @param lifetime how long a token stays usable
 * @return the sink
 */
IMSP2P_PANA_EXPORT eap_tls_token_sink make_token_store_sink(token_store& store,
                                                            std::chrono::seconds lifetime);

/** Size of the random id that makes every deposit unique (replay detection). */
inline constexpr std::size_t token_deposit_id_size = 16;

/** A token deposit as opened by the HSS. The token is wiped on destruction. */
struct token_deposit {
    std::array<std::uint8_t, token_deposit_id_size> id{};  ///< Random id of this deposit.
    core::impi impi;                                       ///< Whose token it is.
    core::secret_bytes token;                              ///< The token.
    std::chrono::system_clock::time_point expiry;          ///< When it stops being accepted.
};

/** Size of the service key shared by PAA and HSS for deposits. */
inline constexpr std::size_t token_service_key_size = 32;

/**
 * Seals a deposit for the HSS (PAA side): "IMTD2" || nonce(12) || AES-256-GCM(service key,
 * deposit id (16 random bytes) || expiry seconds since 1970 (8 bytes, big-endian) || token
 * length (1) || token || IMPI), with "IMTD2" as associated data. The id lets the HSS refuse a
 * replayed deposit (token_store::accept_deposit()).
 * @param service_key the 32-byte key shared with the HSS
 * @param impi the identity
 * @param token the token (16 to 64 bytes)
 * @param expiry the expiry
 * @param ec core::errc::bad_key_size, core::errc::invalid_argument; cleared on success
 * @return the sealed message (empty on error)
 */
IMSP2P_PANA_EXPORT core::byte_vector seal_token_deposit(
    core::byte_view service_key, const core::impi& impi, core::byte_view token,
    std::chrono::system_clock::time_point expiry, std::error_code& ec);

/**
 * Opens a deposit (HSS side): checks its authenticity with the service key and that it has not
 * expired.
 * @param service_key the 32-byte key shared with the PAA
 * @param sealed the message from seal_token_deposit()
 * @param now the current time
 * @param ec errc::token_service_unauthorized (wrong key, tampered, not a deposit),
 *        errc::token_expired, core::errc::bad_key_size; cleared on success
 * @return the deposit, or std::nullopt on error
 */
IMSP2P_PANA_EXPORT std::optional<token_deposit> open_token_deposit(
    core::byte_view service_key, core::byte_view sealed, std::chrono::system_clock::time_point now,
    std::error_code& ec);

}  // namespace imsp2p::pana
