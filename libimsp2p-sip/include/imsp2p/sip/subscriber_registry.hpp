/**
 * @file
 * The development HSS and location service of the IMS core: subscribers (IMPU, IMPI, realm and
 * the Digest HA1, never the password) and registration bindings (IMPU -> contact), kept in an
 * SQLite file so that both survive a restart of `imsp2p-ims-core`.
 *
 * Thread model: like core::database, a subscriber_registry must be used by one thread at a time
 * (the IMS core uses it on its Sofia-SIP thread only). Several processes may share the file
 * (SQLite WAL): `imsp2p-ims-core user add` works while the core runs, and the core sees the new
 * user at the next REGISTER.
 */
#pragma once

#include <imsp2p/sip/export.hpp>

#include <imsp2p/core/identity.hpp>

#include <chrono>
#include <cstdint>
#include <filesystem>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <system_error>
#include <vector>

namespace imsp2p::sip {

/** A provisioned IMS subscriber: one public identity and the private identity that owns it. */
struct subscriber {
    core::impu impu;    ///< The public user identity (the registry's key, by canonical form).
    core::impi impi;    ///< The private identity that authenticates for @ref impu.
    std::string realm;  ///< The Digest realm of @ref ha1 (by default the IMPI's realm).
    /** MD5(impi ":" realm ":" password) as 32 lower-case hex digits. Secret: never logged. */
    std::string ha1;
};

/** One registration binding of the location service (RFC 3261 §10.3). */
struct registration_binding {
    core::impu impu;      ///< The registered public identity.
    core::impi impi;      ///< The private identity that registered it.
    std::string contact;  ///< The Contact URI the UE registered (without angle brackets).
    /**
     * Where the REGISTER came from, as a SIP URI with its transport, e.g.
     * `sip:127.0.0.1:5071;transport=udp` (for TCP the connection's source port): the core
     * trusts requests that come from this flow as a P-CSCF trusts its security association.
     */
    std::string received;
    std::string call_id;                            ///< The Call-ID of the REGISTER.
    std::uint32_t cseq = 0;                         ///< The CSeq of the REGISTER.
    std::chrono::system_clock::time_point expires;  ///< When the binding lapses.
};

/**
 * Subscribers and registration bindings in SQLite (tables `ims_subscriber` and `ims_binding`,
 * schema managed by core::migrate()).
 *
 * Movable, not copyable; one thread at a time (see the file comment). Errors are
 * imsp2p::sip::errc (unknown_subscriber, subscriber_exists), core identity errors for bad
 * identities, and core database errors.
 */
class IMSP2P_SIP_EXPORT subscriber_registry {
  public:
    /**
     * Opens (or creates) the registry file and brings its schema up to date.
     * @param file the SQLite file, or ":memory:" (nothing survives then)
     * @param ec database errors; cleared on success
     * @return the registry (unusable on error)
     */
    static subscriber_registry open(const std::filesystem::path& file, std::error_code& ec);
    /**
     * Throwing form of open().
     * @param file the SQLite file
     * @return the registry
     * @throws std::system_error with a database error
     */
    static subscriber_registry open(const std::filesystem::path& file);

    /** Takes over @p other. @param other the source */
    subscriber_registry(subscriber_registry&& other) noexcept;
    /** Takes over @p other. @param other the source @return *this */
    subscriber_registry& operator=(subscriber_registry&& other) noexcept;
    /** Closes the connection. */
    ~subscriber_registry();
    subscriber_registry(const subscriber_registry&) = delete;             ///< Not copyable.
    subscriber_registry& operator=(const subscriber_registry&) = delete;  ///< Not copyable.

    /**
     * The Digest HA1 of a password (RFC 2617 §3.2.2.2).
     * @param username the Digest user name (in IMS the IMPI)
     * @param realm the realm
     * @param password the password
     * @return MD5(username ":" realm ":" password), 32 lower-case hex digits
     */
    static std::string compute_ha1(std::string_view username, std::string_view realm,
                                   std::string_view password);

    /**
     * Provisions a subscriber with a password; only its HA1 is stored.
     * @param impu the public identity (must be new)
     * @param impi the private identity
     * @param password the Digest password (not stored)
     * @param realm the Digest realm; empty: the IMPI's realm
     * @param ec errc::subscriber_exists, core::errc::invalid_argument (empty identity),
     *        database errors; cleared on success
     */
    void add(const core::impu& impu, const core::impi& impi, std::string_view password,
             std::string_view realm, std::error_code& ec);
    /**
     * Throwing form of add().
     * @param impu the public identity
     * @param impi the private identity
     * @param password the Digest password
     * @param realm the realm; empty: the IMPI's realm
     * @throws std::system_error with the codes of the std::error_code overload
     */
    void add(const core::impu& impu, const core::impi& impi, std::string_view password,
             std::string_view realm = {});

    /**
     * Deletes a subscriber and its registration bindings.
     * @param impu the public identity
     * @param ec errc::unknown_subscriber, database errors; cleared on success
     */
    void remove(const core::impu& impu, std::error_code& ec);
    /** Throwing form of remove(). @param impu the identity @throws std::system_error */
    void remove(const core::impu& impu);

    /**
     * Looks a subscriber up by public identity.
     * @param impu the public identity (compared by canonical form)
     * @param ec database errors (an unknown identity is not an error)
     * @return the subscriber, or std::nullopt
     */
    std::optional<subscriber> find(const core::impu& impu, std::error_code& ec);
    /**
     * The public identities of a private identity, in ascending order.
     * @param impi the private identity
     * @param ec database errors
     * @return the subscribers (empty if none)
     */
    std::vector<subscriber> find_by_impi(const core::impi& impi, std::error_code& ec);
    /**
     * Every subscriber, ordered by IMPU.
     * @param ec database errors
     * @return the subscribers
     */
    std::vector<subscriber> list(std::error_code& ec);
    /** Throwing form of list(). @return the subscribers @throws std::system_error */
    std::vector<subscriber> list();

    /**
     * Adds or refreshes a binding (keyed by IMPU and contact).
     * @param binding the binding
     * @param ec database errors; cleared on success
     */
    void save_binding(const registration_binding& binding, std::error_code& ec);
    /**
     * Deletes one binding (un-REGISTER of one contact).
     * @param impu the public identity
     * @param contact the contact URI
     * @param ec database errors (a missing binding is not an error)
     */
    void remove_binding(const core::impu& impu, std::string_view contact, std::error_code& ec);
    /**
     * Deletes every binding of an identity (`Contact: *`).
     * @param impu the public identity
     * @param ec database errors
     */
    void remove_bindings(const core::impu& impu, std::error_code& ec);
    /**
     * Every stored binding, expired ones included, ordered by IMPU then expiry.
     * @param ec database errors
     * @return the bindings
     */
    std::vector<registration_binding> bindings(std::error_code& ec);
    /** Throwing form of bindings(). @return the bindings @throws std::system_error */
    std::vector<registration_binding> bindings();
    /**
     * Deletes the bindings that lapsed at or before @p now.
     * @param now the current time
     * @param ec database errors
     * @return how many were deleted
     */
    std::size_t purge_expired(std::chrono::system_clock::time_point now, std::error_code& ec);

  private:
    struct impl;
    explicit subscriber_registry(std::unique_ptr<impl> state) noexcept;
    std::unique_ptr<impl> impl_;
};

}  // namespace imsp2p::sip
