/**
 * @file
 * Error codes of libimsp2p-tracker (the operator-controlled tracker and the content index).
 */
#pragma once

#include <imsp2p/tracker/export.hpp>

#include <system_error>

namespace imsp2p::tracker {

/** Error conditions raised by libimsp2p-tracker; messages come from error_category(). */
enum class errc {
    unknown_torrent = 1,  ///< Torrent is not registered with this tracker.
    torrent_disabled,     ///< Torrent has been disabled by the operator.
    missing_ticket,       ///< Announce carries no ticket.
    bad_announce,         ///< Announce request is malformed.
    bad_udp_packet,       ///< UDP tracker packet is malformed.
    bad_connection_id,    ///< UDP connection id is invalid or expired.
    bad_bencode,          ///< Bencoded data is malformed.
    ticket_rejected,      ///< The announce ticket failed verification or does not allow it.
    already_registered,   ///< A torrent with this infohash is already registered.
    bad_infohash,         ///< An infohash is not 20/32 bytes (40/64 hex digits).
    bad_admin_request,    ///< An admin API request is malformed.
    admin_unauthorized,   ///< An admin API request lacks a valid service JWT.
    storage_failure,      ///< The tracker database could not be read or written.
    unknown_content,      ///< No content index entry has this DOI.
    content_withdrawn,    ///< The content index entry has been withdrawn by the operator.
};

/** The error category of imsp2p::tracker::errc; its name() is "imsp2p.tracker". */
IMSP2P_TRACKER_EXPORT const std::error_category& error_category() noexcept;

/** Makes an error code of the tracker category (found by ADL). */
IMSP2P_TRACKER_EXPORT std::error_code make_error_code(errc e) noexcept;

}  // namespace imsp2p::tracker

/** Lets `std::error_code` be constructed from imsp2p::tracker::errc. */
template <>
struct std::is_error_code_enum<imsp2p::tracker::errc> : std::true_type {};
