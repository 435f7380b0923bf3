/**
 * @file
 * The DRM server's persistent state: content keys (CEKs) and grants, in SQLite.
 *
 * Content keys are never stored in clear: each CEK is sealed with AES-256-GCM under a 32-byte
 * master key read from a 0600 secret file, with a fresh random nonce and, as additional
 * authenticated data, the content's DOI key and key id, so a sealed key copied to another row
 * does not open. Everything else (DOIs, metadata, grants) is stored in clear.
 *
 * Thread safety: a key_store is safe for concurrent use (one mutex around its single SQLite
 * connection); every write is one transaction, so a failure never leaves half-written state.
 */
#pragma once

#include <imsp2p/core/crypto.hpp>
#include <imsp2p/core/database.hpp>
#include <imsp2p/drm/container.hpp>
#include <imsp2p/drm/export.hpp>
#include <imsp2p/drm/rights.hpp>

#include <nlohmann/json.hpp>

#include <chrono>
#include <cstdint>
#include <filesystem>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <system_error>
#include <vector>

namespace imsp2p::drm {

/** Whether registered content may receive new grants and licenses. */
enum class content_state {
    active,     ///< "active": grants and licenses are issued.
    withdrawn,  ///< "withdrawn": no new grant, no license (existing licenses run out).
};

/**
 * @param state a content state
 * @return "active" or "withdrawn"
 */
IMSP2P_DRM_EXPORT std::string_view to_string(content_state state) noexcept;

/**
 * Parses a content state name (exact, case-sensitive).
 * @param text "active" or "withdrawn"
 * @return the state, std::nullopt for any other text
 */
IMSP2P_DRM_EXPORT std::optional<content_state> parse_content_state(std::string_view text) noexcept;

/** A registered content item (without its key). A plain value type. */
struct content_record {
    /** The canonical DOI (core::doi::str()). */
    std::string doi;
    /** The content key id, as in the container header. */
    content_kid kid{};
    /** Free metadata given at registration (a JSON object). */
    nlohmann::json metadata = nlohmann::json::object();
    /** Whether grants and licenses are issued. */
    content_state state = content_state::active;
    /** When the content was registered. */
    std::chrono::sys_seconds created{};
};

/** A grant: the right of one user to license one content item to one device. A value type. */
struct grant_record {
    /** The grant id (base64url of 128 random bits), chosen by the store. */
    std::string grant_id;
    /** The caller's request id; a repeated request id returns the same grant (idempotency). */
    std::string request_id;
    /** The user's IMPU as given by the AS (compared in canonical form). */
    std::string user;
    /** The content's canonical DOI. */
    std::string doi;
    /** RFC 7638 thumbprint of the device's X25519 public key. */
    std::string device_thumbprint;
    /** The device's X25519 public key as a JWK (public part only). */
    nlohmann::json device_key = nlohmann::json::object();
    /** The rights granted (the ODRL subset). */
    drm::rights rights;
    /** When the grant was made. */
    std::chrono::sys_seconds created{};
    /** When it was revoked; std::nullopt while it is in force. */
    std::optional<std::chrono::sys_seconds> revoked_at;
};

/** Counts over the whole store, for metrics. */
struct key_store_counts {
    /** Registered content items. */
    std::uint64_t contents = 0;
    /** Withdrawn content items. */
    std::uint64_t withdrawn_contents = 0;
    /** Grants ever made (revoked ones included). */
    std::uint64_t grants = 0;
    /** Revoked grants. */
    std::uint64_t revoked_grants = 0;
};

/** Where a key store keeps its state. A plain value type. */
struct key_store_settings {
    /** The SQLite file (created with its folder if missing). */
    std::filesystem::path database_path;
    /**
     * The master key file: 32 raw bytes, mode 0600. Created with a random key when missing; a
     * file readable by group or others is refused (core::errc::insecure_permissions).
     */
    std::filesystem::path master_key_path;
};

/**
 * The SQLite store of content keys and grants. Create with open(); not copyable (pimpl).
 * Thread-safe (see the file comment).
 */
class IMSP2P_DRM_EXPORT key_store {
  public:
    /**
     * Opens (creating if needed) the store and its master key, and brings the schema up to date.
     * @param settings the files
     * @param ec core::errc::insecure_permissions, core::errc::io_error (master key file not 32
     *        bytes or unwritable), database errors; cleared on success
     * @return the store, null on error
     */
    static std::unique_ptr<key_store> open(const key_store_settings& settings, std::error_code& ec);
    /**
     * Throwing form of open().
     * @param settings the files
     * @return the store
     * @throws std::system_error naming the file
     */
    static std::unique_ptr<key_store> open(const key_store_settings& settings);

    /** Closes the database. */
    ~key_store();
    key_store(const key_store&) = delete;             ///< Not copyable.
    key_store& operator=(const key_store&) = delete;  ///< Not copyable.

    /**
     * Registers a content key, or finds the same registration again.
     * @param doi the DOI (any form core::doi::parse() accepts; stored canonical)
     * @param kid the content key id
     * @param cek the 32-byte content key (sealed before it is written)
     * @param metadata a JSON object (anything else is stored as {})
     * @param now the registration time
     * @param ec core::errc::invalid_argument (bad DOI), core::errc::bad_key_size (CEK not 32
     *        bytes), errc::content_conflict (the DOI is registered with another kid, or with the
     *        same kid and another key), database errors; cleared on success
     * @return true when newly registered, false when the same DOI, kid and key already were
     */
    bool put_content(std::string_view doi, const content_kid& kid, const core::secret_bytes& cek,
                     const nlohmann::json& metadata, std::chrono::sys_seconds now,
                     std::error_code& ec);

    /**
     * Looks a content item up.
     * @param doi the DOI (any accepted form)
     * @param ec database errors, core::errc::invalid_argument for a bad DOI; cleared otherwise
     * @return the record, std::nullopt if unknown or on error
     */
    std::optional<content_record> find_content(std::string_view doi, std::error_code& ec) const;

    /**
     * Unseals a content key.
     * @param doi the DOI (any accepted form)
     * @param ec errc::unknown_content, core::errc::authentication_failed (wrong master key or
     *        tampered row), database errors; cleared on success
     * @return the 32-byte CEK, empty on error
     */
    core::secret_bytes content_key(std::string_view doi, std::error_code& ec) const;

    /**
     * Changes the state of a content item.
     * @param doi the DOI (any accepted form)
     * @param state the new state
     * @param ec errc::unknown_content, database errors; cleared on success
     * @return the updated record, std::nullopt on error
     */
    std::optional<content_record> set_content_state(std::string_view doi, content_state state,
                                                    std::error_code& ec);

    /**
     * Records a grant, idempotently on its request id. The grant id and creation time of
     * @p grant are ignored: a new grant gets a random id and @p now.
     * @param grant the grant (request_id, user, doi, device_thumbprint, device_key, rights)
     * @param now the creation time of a new grant
     * @param created set to true when a grant was made, false when the request id was known
     * @param ec errc::grant_conflict (the request id is known with another user, DOI, device or
     *        rights), errc::unknown_content, database errors; cleared on success
     * @return the stored grant (the earlier one for a known request id), std::nullopt on error
     */
    std::optional<grant_record> put_grant(const grant_record& grant, std::chrono::sys_seconds now,
                                          bool& created, std::error_code& ec);

    /**
     * @param grant_id the grant id
     * @param ec database errors; cleared otherwise
     * @return the grant, std::nullopt if unknown or on error
     */
    std::optional<grant_record> find_grant(std::string_view grant_id, std::error_code& ec) const;

    /**
     * Finds the grants of a user for a content item and a device, newest first.
     * @param user the user's IMPU (compared canonically; a malformed IMPU matches nothing)
     * @param doi the DOI (any accepted form)
     * @param device_thumbprint the device key thumbprint
     * @param ec database errors; cleared otherwise
     * @return the grants, revoked ones included
     */
    std::vector<grant_record> find_grants(std::string_view user, std::string_view doi,
                                          std::string_view device_thumbprint,
                                          std::error_code& ec) const;

    /**
     * Finds the grant made for a request id, if it belongs to that holder (one indexed lookup,
     * unlike find_grants(), whose cost grows with the holder's grants).
     * @param request_id the request id the grant was made for
     * @param user the user's IMPU (compared canonically)
     * @param doi the DOI (any accepted form; a malformed DOI matches nothing)
     * @param device_thumbprint the device key thumbprint
     * @param ec database errors; cleared otherwise
     * @return the grant (revoked or not), std::nullopt if the request id is unknown, belongs
     *         to another user, content or device, or on error
     */
    std::optional<grant_record> find_grant_by_request(std::string_view request_id,
                                                      std::string_view user, std::string_view doi,
                                                      std::string_view device_thumbprint,
                                                      std::error_code& ec) const;

    /**
     * Tells whether a device holds an unrevoked grant of a user for a content item.
     * @param user the user's IMPU (compared canonically)
     * @param doi the DOI (any accepted form; a malformed DOI matches nothing)
     * @param device_thumbprint the device key thumbprint
     * @param ec database errors; cleared otherwise
     * @return true if at least one unrevoked grant exists
     */
    bool has_live_grant(std::string_view user, std::string_view doi,
                        std::string_view device_thumbprint, std::error_code& ec) const;

    /**
     * Counts the distinct devices holding an unrevoked grant of a user for a content item.
     * @param user the user's IMPU (compared canonically)
     * @param doi the DOI (any accepted form)
     * @param ec database errors; cleared otherwise
     * @return the number of distinct device thumbprints
     */
    std::uint64_t count_devices(std::string_view user, std::string_view doi,
                                std::error_code& ec) const;

    /**
     * Revokes a grant (idempotent: an already revoked grant keeps its first revocation time).
     * @param grant_id the grant id
     * @param now the revocation time
     * @param ec errc::unknown_grant, database errors; cleared on success
     * @return the revoked grant, std::nullopt on error
     */
    std::optional<grant_record> revoke_grant(std::string_view grant_id,
                                             std::chrono::sys_seconds now, std::error_code& ec);

    /**
     * Lists the grants of a content item (the provider report), oldest first.
     * @param doi the DOI (any accepted form)
     * @param ec errc::unknown_content, database errors; cleared on success
     * @return the grants, revoked ones included
     */
    std::vector<grant_record> list_grants(std::string_view doi, std::error_code& ec) const;

    /**
     * @param ec database errors; cleared otherwise
     * @return the counts (zero on error)
     */
    key_store_counts counts(std::error_code& ec) const;

    /** @return the database file. */
    [[nodiscard]] const std::filesystem::path& database_path() const noexcept;

  private:
    struct impl;
    explicit key_store(std::unique_ptr<impl> state);
    std::unique_ptr<impl> impl_;
};

}  // namespace imsp2p::drm
