/**
 * @file
 * The player's local usage store: an SQLite file recording, per (DOI, device key thumbprint),
 * the first and latest play, the play count and a grant revocation, so that the "play" rights of
 * a license (rights.hpp) are enforced across plays and restarts.
 *
 * Each begin_play() checks the rights and records the play in one immediate transaction, so two
 * players sharing the file (threads or processes) never both take the last play.
 *
 * **Clock.** The store keeps a high-water mark: the latest time any play was recorded. A request
 * whose time is earlier than the mark by more than the clock tolerance (default 5 minutes, for
 * NTP steps) is refused with errc::clock_rollback: turning the clock back cannot revive an
 * elapsed window or an expired right. Within the tolerance the checks use the mark instead of
 * the earlier time (never an earlier clock than already seen). Moving the clock forward is not
 * detectable locally; licenses are short-lived, so the DRM server's clock bounds that.
 *
 * **Revocation.** mark_revoked() records that the DRM server refused a grant as revoked;
 * begin_play() then refuses (errc::grant_revoked) any license of that DOI and device issued at
 * or before the revocation, even a still-valid cached one. A license issued later (a new grant)
 * clears the mark.
 *
 * Thread model: a usage_store holds one SQLite connection; use one object per thread (several
 * objects, in threads or processes, may share the file: SQLite WAL with a busy timeout).
 */
#pragma once

#include <imsp2p/drm/export.hpp>
#include <imsp2p/drm/license.hpp>
#include <imsp2p/drm/rights.hpp>

#include <chrono>
#include <cstdint>
#include <filesystem>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <system_error>

namespace imsp2p::drm {

/** Settings of a usage store; a value type. */
struct usage_store_options {
    /** How far the clock may step back behind the latest recorded play before clock_rollback. */
    std::chrono::seconds clock_tolerance{300};
};

/** The recorded use of one content on one device; a value type. */
struct IMSP2P_DRM_EXPORT usage_record {
    /** The content's DOI in canonical form (as first recorded). */
    std::string doi;
    /** The RFC 7638 thumbprint of the device key. */
    std::string device_thumbprint;
    /** When the content was first played (empty: never played). */
    std::optional<std::chrono::sys_seconds> first_use;
    /** When the content was last played (empty: never played). */
    std::optional<std::chrono::sys_seconds> last_use;
    /** How many plays were recorded. */
    std::uint32_t play_count = 0;
    /** When the grant was recorded as revoked (empty: not revoked). */
    std::optional<std::chrono::sys_seconds> revoked_at;

    /** Compares every member. @param other the record to compare with @return true if equal */
    bool operator==(const usage_record& other) const = default;
};

/**
 * The SQLite-backed usage store (pimpl; movable, not copyable).
 */
class IMSP2P_DRM_EXPORT usage_store {
  public:
    /** Creates a closed store (every operation fails with core::errc::invalid_argument). */
    usage_store() noexcept;
    /** Move. @param other the source, closed afterwards */
    usage_store(usage_store&& other) noexcept;
    /** Move. @param other the source, closed afterwards @return *this */
    usage_store& operator=(usage_store&& other) noexcept;
    /** Closes the database. */
    ~usage_store();
    usage_store(const usage_store&) = delete;             ///< Not copyable.
    usage_store& operator=(const usage_store&) = delete;  ///< Not copyable.

    /**
     * Opens (or creates, with missing parent folders) a usage store and brings its schema up to
     * date. The file is made owner-only (0600): what a user played is private.
     * @param path the SQLite file
     * @param options the settings
     * @param ec core database errors (database_cant_open, database_corrupt, schema_too_new,
     *        migration_failed, database_busy, ...), core::errc::io_error (parent folder);
     *        cleared on success
     * @return the store, closed on error
     */
    static usage_store open(const std::filesystem::path& path, const usage_store_options& options,
                            std::error_code& ec);
    /**
     * Throwing form of open().
     * @param path the SQLite file
     * @param options the settings
     * @return the store
     * @throws std::system_error with the codes above and the path
     */
    static usage_store open(const std::filesystem::path& path,
                            const usage_store_options& options = {});

    /** @return true when open */
    [[nodiscard]] bool is_open() const noexcept;

    /**
     * Checks the play rights and records one play, atomically.
     *
     * With t = max(now, high-water mark), checks in this order: revocation (grant_revoked,
     * unless @p license_issued_at is after the revocation, which then clears it), not_before
     * (t < not_before: rights_not_yet_valid), not_after (t > not_after: rights_expired), the
     * window (played before and t >= first_use + window: rights_window_elapsed), the count
     * (play_count >= count: rights_exhausted). On success first_use (if unset) and last_use
     * become t, play_count grows by one and the high-water mark becomes t.
     * @param doi the content's DOI (any form core::doi accepts; compared case-insensitively)
     * @param device_thumbprint the device key's RFC 7638 thumbprint (non-empty)
     * @param rights the license's rights
     * @param now the current time
     * @param ec the rights errors above, clock_rollback, grant_revoked,
     * core::errc::invalid_argument (closed store, bad DOI, empty thumbprint), core database errors;
     * nothing is recorded on error; cleared on success
     * @param license_issued_at the "iat" of the license being played (see Revocation); empty:
     *        any revocation applies
     * @return the record after this play (default on error)
     */
    usage_record begin_play(std::string_view doi, std::string_view device_thumbprint,
                            const rights& rights, std::chrono::system_clock::time_point now,
                            std::error_code& ec,
                            std::optional<std::chrono::sys_seconds> license_issued_at = {});
    /**
     * begin_play() for verified license claims (DOI, "cnf.jkt", rights and "iat" from them).
     * @param claims the verified claims
     * @param now the current time
     * @param ec as the other overload
     * @return the record after this play (default on error)
     */
    usage_record begin_play(const license_claims& claims, std::chrono::system_clock::time_point now,
                            std::error_code& ec);

    /**
     * Records that the DRM server refused the grant of a DOI to a device as revoked.
     * @param doi the content's DOI
     * @param device_thumbprint the device key's thumbprint
     * @param now the current time (the revocation time recorded; a later mark is kept)
     * @param ec core::errc::invalid_argument (closed store, bad DOI, empty thumbprint), core
     *        database errors; cleared on success
     */
    void mark_revoked(std::string_view doi, std::string_view device_thumbprint,
                      std::chrono::system_clock::time_point now, std::error_code& ec);

    /**
     * Reads the record of a DOI and device.
     * @param doi the content's DOI
     * @param device_thumbprint the device key's thumbprint
     * @param ec core::errc::invalid_argument (closed store, bad DOI), core database errors
     * @return the record, or std::nullopt when nothing is recorded (or on error)
     */
    std::optional<usage_record> find(std::string_view doi, std::string_view device_thumbprint,
                                     std::error_code& ec);

    /**
     * @param ec core::errc::invalid_argument (closed store), core database errors
     * @return the high-water mark: the latest time a play was recorded (empty if none)
     */
    std::optional<std::chrono::sys_seconds> latest_use(std::error_code& ec);

  private:
    struct impl;
    std::unique_ptr<impl> impl_;
};

}  // namespace imsp2p::drm
