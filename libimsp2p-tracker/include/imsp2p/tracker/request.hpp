/**
 * @file
 * Parsing of HTTP tracker requests: `/announce/<ticket>?...` (BEP 3, 23, 7) and
 * `/scrape/<ticket>?info_hash=...` (BEP 48). The ticket travels in the path, as private
 * trackers' passkeys do. Binary parameters (info_hash, peer_id) are percent-decoded.
 *
 * Every function here is pure and thread-safe; sizes are bounded (see request_limits).
 */
#pragma once

#include <imsp2p/tracker/export.hpp>

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <system_error>
#include <utility>
#include <vector>

namespace imsp2p::tracker {

/** Size bounds applied by the request parsers. */
struct request_limits {
    /** Longest request target (path and query) accepted. */
    std::size_t max_target_size = 8192;
    /** Longest ticket accepted (after percent-decoding). */
    std::size_t max_ticket_size = 4096;
    /** Most query parameters accepted. */
    std::size_t max_parameters = 64;
    /** Most info_hash parameters in one scrape. */
    std::size_t max_scrape_hashes = 64;
    /** Longest "key" parameter accepted. */
    std::size_t max_key_size = 64;
};

/** The "event" of an announce (BEP 3; "paused", BEP 21, counts as none). */
enum class announce_event {
    none,       ///< A regular announce.
    started,    ///< The peer joins the swarm.
    completed,  ///< The peer finished downloading.
    stopped,    ///< The peer leaves the swarm.
};

/** A parsed announce request. A plain value type. */
struct announce_request {
    /** The ticket from the path; empty when the path is plain "/announce". */
    std::string ticket;
    /** info_hash: 20 bytes (v1, or v2 truncated as BEP 52 says). */
    std::string info_hash;
    /** peer_id: 20 bytes. */
    std::string peer_id;
    /** The peer's listening port (1..65535). */
    std::uint16_t port = 0;
    /** Bytes uploaded since "started". */
    std::uint64_t uploaded = 0;
    /** Bytes downloaded since "started". */
    std::uint64_t downloaded = 0;
    /** Bytes still missing; 0 means a seeder. */
    std::uint64_t left = 0;
    /** The event. */
    announce_event event = announce_event::none;
    /** Number of peers wanted, if given (the tracker caps it). */
    std::optional<std::uint32_t> numwant;
    /** compact=1 (BEP 23); the default when absent is compact. */
    bool compact = true;
    /** no_peer_id=1: omit peer ids in the non-compact form. */
    bool no_peer_id = false;
    /** The "key" parameter (opaque to this tracker). */
    std::string key;
};

/** A parsed scrape request (BEP 48). */
struct scrape_request {
    /** The ticket from the path; empty when the path is plain "/scrape". */
    std::string ticket;
    /** The info_hash parameters (20 bytes each), in request order; empty: every covered one. */
    std::vector<std::string> info_hashes;
};

/**
 * Percent-decodes a URL component (RFC 3986; "+" stays "+").
 * @param text the encoded text
 * @param ec errc::bad_announce if a "%" is not followed by two hex digits
 * @return the decoded bytes
 */
IMSP2P_TRACKER_EXPORT std::string percent_decode(std::string_view text, std::error_code& ec);

/**
 * Splits a request target into its path and its decoded query parameters.
 * @param target the HTTP request target, e.g. "/announce/abc?info_hash=%12..."
 * @param limits size bounds
 * @param ec errc::bad_announce when oversized or badly encoded
 * @param reason if not null, receives a precise human-readable reason on error
 * @return the decoded path and the (name, value) pairs, in order
 */
IMSP2P_TRACKER_EXPORT std::pair<std::string, std::vector<std::pair<std::string, std::string>>>
split_target(std::string_view target, const request_limits& limits, std::error_code& ec,
             std::string* reason = nullptr);

/**
 * Parses an announce target: path "/announce" or "/announce/<ticket>", then the query.
 * @param target the HTTP request target
 * @param limits size bounds
 * @param ec errc::bad_announce (malformed, with the reason), cleared on success; a missing
 *        ticket is not an error here (the tracker refuses it with missing_ticket)
 * @param reason if not null, receives e.g. "info_hash must be 20 bytes" on error
 * @return the request, default-constructed on error
 */
IMSP2P_TRACKER_EXPORT announce_request parse_announce(std::string_view target,
                                                      const request_limits& limits,
                                                      std::error_code& ec,
                                                      std::string* reason = nullptr);
/** Throwing form of parse_announce(). @throws std::system_error (bad_announce) with reason */
IMSP2P_TRACKER_EXPORT announce_request parse_announce(std::string_view target,
                                                      const request_limits& limits = {});

/**
 * Parses a scrape target: path "/scrape" or "/scrape/<ticket>", then info_hash parameters.
 * @param target the HTTP request target
 * @param limits size bounds
 * @param ec errc::bad_announce (malformed), cleared on success
 * @param reason if not null, receives a precise reason on error
 * @return the request, default-constructed on error
 */
IMSP2P_TRACKER_EXPORT scrape_request parse_scrape(std::string_view target,
                                                  const request_limits& limits, std::error_code& ec,
                                                  std::string* reason = nullptr);
/** Throwing form of parse_scrape(). @throws std::system_error (bad_announce) with reason */
IMSP2P_TRACKER_EXPORT scrape_request parse_scrape(std::string_view target,
                                                  const request_limits& limits = {});

}  // namespace imsp2p::tracker
