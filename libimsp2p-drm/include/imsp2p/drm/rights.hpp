/**
 * @file
 * Usage rights carried in a license: the ODRL subset of DESIGN.md "Rights".
 *
 * JSON form (every member optional; absent means unconstrained):
 * ```
 * {"play":{"count":N, "not_before":t, "not_after":t, "window_after_first_use_s":s},
 *  "devices":N}
 * ```
 * t is a JWT NumericDate (integer seconds since the Unix epoch, UTC). Parsing is strict: no
 * unknown member, integers only (no fraction, no string), ranges checked, not_before <=
 * not_after. The player enforces "play" with its local usage store (see usage_store.hpp);
 * "devices" (how many distinct device keys one grant may be licensed to) is enforced by the DRM
 * server when it issues licenses, not by the player.
 *
 * Thread safety: a plain value type.
 */
#pragma once

#include <imsp2p/drm/export.hpp>

#include <nlohmann/json.hpp>

#include <chrono>
#include <cstdint>
#include <optional>
#include <system_error>

namespace imsp2p::drm {

/** Largest accepted "count" and "devices" value (2^31 - 1). */
inline constexpr std::uint32_t rights_max_count = 0x7fffffffu;
/** Largest accepted NumericDate (9999-12-31T23:59:59Z), as for tickets. */
inline constexpr std::int64_t rights_max_time = 253402300799;

/**
 * The rights of a license: constraints on playing and on the number of devices.
 *
 * A value type; a default-constructed value is unconstrained and serialises to `{}`.
 */
struct IMSP2P_DRM_EXPORT rights {
    /** "play.count": how many times the content may be played (1..rights_max_count). */
    std::optional<std::uint32_t> play_count;
    /** "play.not_before": no play before this time (NumericDate). */
    std::optional<std::chrono::sys_seconds> not_before;
    /** "play.not_after": no play after this time (NumericDate; play at exactly t is allowed). */
    std::optional<std::chrono::sys_seconds> not_after;
    /** "play.window_after_first_use_s": plays allowed for this long after the first play. */
    std::optional<std::chrono::seconds> window_after_first_use;
    /** "devices": how many device keys the grant may be licensed to (DRM server enforced). */
    std::optional<std::uint32_t> devices;

    /** @return true when no constraint is set */
    [[nodiscard]] bool unconstrained() const noexcept {
        return !play_count && !not_before && !not_after && !window_after_first_use && !devices;
    }

    /**
     * Writes the JSON form: "play" only when a play constraint is set, "devices" when set.
     * @return the rights object (`{}` when unconstrained)
     */
    [[nodiscard]] nlohmann::json to_json() const;

    /**
     * Reads and strictly checks the JSON form.
     * @param json the rights object
     * @param ec errc::rights_malformed when @p json is not an object, has an unknown member
     *        (also inside "play"), a member of the wrong type (not a non-negative integer, "play"
     *        not an object), a value out of range (count and devices 1..rights_max_count, times
     *        0..rights_max_time, window 1..rights_max_time) or not_before > not_after; cleared on
     *        success
     * @return the rights, unconstrained on error
     */
    static rights from_json(const nlohmann::json& json, std::error_code& ec);
    /**
     * Throwing form of from_json().
     * @param json the rights object
     * @return the rights
     * @throws std::system_error with errc::rights_malformed naming the offending member
     */
    static rights from_json(const nlohmann::json& json);

    /** Compares every member. @param other the rights to compare with @return true if equal */
    bool operator==(const rights& other) const = default;
};

}  // namespace imsp2p::drm
