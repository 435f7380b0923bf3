/**
 * @file
 * The player (consumer side): opens a protected container with a license, enforcing it, and
 * decrypts the content as a stream or segment by segment (progressive playback).
 *
 * player::open() does, in this order: open and validate the container (container errors);
 * verify the license (license_verifier: license_malformed, license_bad_signature,
 * license_wrong_device, license_expired, license_not_yet_valid); match its content key id to
 * the container, and its DOI to the expected one when given (license_wrong_content); check that
 * the content key opens the container by decrypting its first segment (wrong_key,
 * segment_tampered); then enforce the rights in the usage store (usage_store::begin_play():
 * grant_revoked, rights_not_yet_valid, rights_expired, rights_window_elapsed, rights_exhausted,
 * clock_rollback). Only a successful open counts as a play (one open = one play), so a
 * license that does not fit the container never consumes a play.
 *
 * A revocation learnt from the DRM server (its refusal to renew a license, errc::grant_revoked,
 * as produced by the DRM client) is handed to record_refusal(); it is persisted, so a cached
 * license issued before it no longer plays.
 *
 * Thread model: a player holds a usage store connection and a playback an open file with a
 * segment key; neither is safe for concurrent use (use one per thread). Progress callbacks run
 * on the calling thread.
 */
#pragma once

#include <imsp2p/core/bytes.hpp>
#include <imsp2p/core/crypto.hpp>
#include <imsp2p/core/jose.hpp>
#include <imsp2p/drm/container.hpp>
#include <imsp2p/drm/export.hpp>
#include <imsp2p/drm/license.hpp>
#include <imsp2p/drm/usage_store.hpp>

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <iosfwd>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <system_error>

namespace imsp2p::drm {

/** Settings of a player; a value type (it holds the device private key: keep it private). */
struct player_settings {
    /** The DRM server's published signing keys (its JWK Set), trusted for licenses. */
    core::jwk_set drm_keys;
    /** The expected license issuer; empty accepts any issuer signed by a trusted key. */
    std::string expected_issuer;
    /** Clock skew tolerated on the license's exp and iat. */
    std::chrono::seconds leeway{60};
    /** This device's X25519 private key (licenses are bound and encrypted to it). */
    core::x25519_private_key device_key;
    /** The usage store file (SQLite), created on first use. */
    std::filesystem::path usage_store_path;
    /** Usage store settings (clock tolerance). */
    usage_store_options usage;
};

/**
 * An opened, licensed container: decrypts it within the play that open() recorded.
 *
 * Movable, not copyable (pimpl); holds the open file and the segment key (wiped on
 * destruction). Not safe for concurrent use.
 */
class IMSP2P_DRM_EXPORT playback {
  public:
    /** Creates a closed playback (every decryption fails with core::errc::invalid_argument). */
    playback() noexcept;
    /** Move. @param other the source, closed afterwards */
    playback(playback&& other) noexcept;
    /** Move. @param other the source, closed afterwards @return *this */
    playback& operator=(playback&& other) noexcept;
    /** Closes the file and wipes the key. */
    ~playback();
    playback(const playback&) = delete;             ///< Not copyable.
    playback& operator=(const playback&) = delete;  ///< Not copyable.

    /** @return true when open */
    [[nodiscard]] bool is_open() const noexcept;
    /** @return the container header (default when closed) */
    [[nodiscard]] const container_header& header() const noexcept;
    /** @return the verified license claims (default when closed) */
    [[nodiscard]] const license_claims& license() const noexcept;
    /** @return the usage record after this play (default when closed) */
    [[nodiscard]] const usage_record& usage() const noexcept;
    /** @return the number of segments (0 when closed) */
    [[nodiscard]] std::uint64_t segment_count() const noexcept;

    /**
     * Decrypts one segment (random access).
     * @param index the segment index, below segment_count()
     * @param plaintext_out at least header().chunk_size() bytes
     * @param ec segment_out_of_range, segment_tampered, segment_reordered, wrong_key,
     *        core::errc::io_error, core::errc::invalid_argument (closed); cleared on success
     * @return the number of plaintext bytes written (0 on error, the output zeroed)
     */
    std::size_t decrypt_segment(std::uint64_t index, core::mutable_byte_view plaintext_out,
                                std::error_code& ec);
    /**
     * Decrypts one segment into a new buffer.
     * @param index the segment index
     * @param ec as the other overload
     * @return the plaintext of the segment (empty on error)
     */
    core::secret_bytes decrypt_segment(std::uint64_t index, std::error_code& ec);

    /**
     * Decrypts the whole content to a stream with one segment of memory. On error the segments
     * verified so far have been written.
     * @param out the destination
     * @param ec the decrypt_segment() codes, core::errc::io_error if the stream fails
     * @param progress optional; (plaintext bytes done, total) after each segment
     */
    void decrypt_to(std::ostream& out, std::error_code& ec, const progress_callback& progress = {});
    /**
     * Decrypts the whole content to a file, written as "<path>.part" and renamed when complete
     * (removed on error).
     * @param path the output file
     * @param ec as decrypt_to()
     * @param progress optional; (plaintext bytes done, total) after each segment
     */
    void decrypt_to_file(const std::filesystem::path& path, std::error_code& ec,
                         const progress_callback& progress = {});

  private:
    friend class player;
    struct impl;
    std::unique_ptr<impl> impl_;
};

/**
 * The player: license verification, rights enforcement and decryption (pimpl; movable, not
 * copyable). See the file comment for the order of the checks.
 */
class IMSP2P_DRM_EXPORT player {
  public:
    /** Creates a player that is not set up (open() fails with core::errc::invalid_argument). */
    player() noexcept;
    /** Move. @param other the source, not set up afterwards */
    player(player&& other) noexcept;
    /** Move. @param other the source, not set up afterwards @return *this */
    player& operator=(player&& other) noexcept;
    /** Closes the usage store. */
    ~player();
    player(const player&) = delete;             ///< Not copyable.
    player& operator=(const player&) = delete;  ///< Not copyable.

    /**
     * Sets up a player: trusts the DRM keys and opens (creates) the usage store.
     * @param settings the settings (the device key must not be empty)
     * @param ec core::errc::bad_key (empty device key), the usage_store::open() codes; cleared
     *        on success
     * @return the player (not set up on error)
     */
    static player create(player_settings settings, std::error_code& ec);
    /**
     * Throwing form of create().
     * @param settings the settings
     * @return the player
     * @throws std::system_error with the codes above
     */
    static player create(player_settings settings);

    /** @return the RFC 7638 thumbprint of the device key (what grants and licenses bind to) */
    [[nodiscard]] std::string device_thumbprint() const;

    /**
     * Opens a container with a license and records one play.
     * @param container the .ipc file
     * @param license the license (compact JWS)
     * @param now the current time
     * @param ec see the file comment; cleared on success
     * @param expected_doi the DOI the caller expects (e.g. from its ticket document); empty
     *        skips the DOI check (the container does not carry the DOI)
     * @return the playback (closed on error)
     */
    playback open(const std::filesystem::path& container, std::string_view license,
                  std::chrono::system_clock::time_point now, std::error_code& ec,
                  std::string_view expected_doi = {});
    /**
     * Throwing form of open().
     * @param container the .ipc file
     * @param license the license
     * @param now the current time
     * @param expected_doi the expected DOI, empty to skip the check
     * @return the playback
     * @throws std::system_error with the codes above
     */
    playback open(const std::filesystem::path& container, std::string_view license,
                  std::chrono::system_clock::time_point now, std::string_view expected_doi = {});

    /**
     * Hands the player a refusal from the DRM server for a DOI (e.g. when renewing a license).
     * errc::grant_revoked is recorded in the usage store (cached licenses issued until @p now
     * stop playing); any other code (network failure, ...) changes nothing, so a still-valid
     * cached license keeps playing offline.
     * @param doi the content's DOI
     * @param refusal the error the DRM client reported
     * @param now the current time
     * @param ec usage_store::mark_revoked() codes, core::errc::invalid_argument (not set up);
     *        cleared on success
     * @return true if the refusal was a revocation and was recorded
     */
    bool record_refusal(std::string_view doi, const std::error_code& refusal,
                        std::chrono::system_clock::time_point now, std::error_code& ec);

    /**
     * Reads the usage record of a DOI on this device.
     * @param doi the content's DOI
     * @param ec usage_store::find() codes, core::errc::invalid_argument (not set up)
     * @return the record, or std::nullopt if none (or on error)
     */
    std::optional<usage_record> usage(std::string_view doi, std::error_code& ec);

  private:
    struct impl;
    std::unique_ptr<impl> impl_;
};

}  // namespace imsp2p::drm
