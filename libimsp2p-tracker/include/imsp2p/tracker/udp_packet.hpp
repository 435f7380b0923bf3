/**
 * @file
 * The UDP tracker protocol (BEP 15) with the BEP 41 option extension: strict parsing of request
 * datagrams and encoding of the answers. Used by udp_tracker_server; public so that tests, fuzz
 * targets and tools can build and check datagrams.
 *
 * Requests (all integers big-endian):
 * - connect: u64 protocol id 0x41727101980, u32 action 0, u32 transaction id (exactly 16 bytes);
 * - announce: u64 connection id, u32 action 1, u32 transaction id, 20 B info_hash, 20 B peer_id,
 *   i64 downloaded, i64 left, i64 uploaded, u32 event (0 none, 1 completed, 2 started,
 *   3 stopped), u32 IP (ignored: the source address counts), u32 key, i32 num_want (-1: default),
 *   u16 port (98 bytes), then BEP 41 options: 0 end of options, 1 NOP, 2 URL data (u8 length,
 *   then that many bytes; several are concatenated), any other type: u8 length and data, skipped;
 * - scrape: u64 connection id, u32 action 2, u32 transaction id, 1..74 info_hashes of 20 bytes.
 *
 * The ticket travels in the URL data, which is the path and query of the announce URL
 * (`udp://tracker:port/announce/<ticket>`): the path must be `/announce` or `/announce/<ticket>`
 * (percent-encoded like the HTTP tracker's path; a query is ignored).
 *
 * Every function here is pure and thread-safe.
 */
#pragma once

#include <imsp2p/tracker/export.hpp>
#include <imsp2p/tracker/request.hpp>
#include <imsp2p/tracker/tracker_service.hpp>

#include <imsp2p/core/bytes.hpp>

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <system_error>
#include <vector>

namespace imsp2p::tracker::udp {

/** The magic connection id of a connect request (BEP 15). */
inline constexpr std::uint64_t protocol_id = 0x41727101980ULL;
/** Size of a connect request and of a connect response. */
inline constexpr std::size_t connect_size = 16;
/** Size of an announce request without options. */
inline constexpr std::size_t announce_size = 98;
/** Most info_hashes in one scrape (BEP 15: about 74 fit a datagram). */
inline constexpr std::size_t max_scrape_hashes = 74;
/** Most URL data bytes accepted (after concatenating the option-2 chunks). */
inline constexpr std::size_t max_url_data = 8192;

/** The action field of requests and responses. */
enum class action : std::uint32_t {
    connect = 0,   ///< Obtain a connection id.
    announce = 1,  ///< Announce (BEP 15 + BEP 41 options).
    scrape = 2,    ///< Scrape up to 74 torrents.
    error = 3,     ///< Error response (server to client only).
};

/** A parsed request datagram. A plain value type. */
struct request {
    /** The action (connect, announce or scrape). */
    udp::action kind = action::connect;
    /** The connection id (the protocol id for connect). */
    std::uint64_t connection_id = 0;
    /** The client's transaction id, echoed in the answer. */
    std::uint32_t transaction_id = 0;
    /** announce only: the request, its ticket taken from the URL data. */
    announce_request announce;
    /** announce only: the concatenated BEP 41 URL data (raw, not decoded). */
    std::string url_data;
    /** announce only: whether any URL data option was present. */
    bool has_url_data = false;
    /** announce only: the IP field (ignored by the tracker). */
    std::uint32_t ip = 0;
    /** scrape only: the info_hashes, 20 bytes each, in request order. */
    std::vector<std::string> info_hashes;
};

/**
 * Parses a request datagram strictly: exact sizes, known action, protocol id on connect, valid
 * event and port, non-negative byte counts, bounded options.
 * @param packet the datagram
 * @param ec errc::bad_udp_packet on any violation, cleared on success
 * @param reason if not null, receives a precise reason on error (e.g. "announce is 97 bytes,
 *        at least 98 are required")
 * @param limits the ticket size bound (max_ticket_size) applied to the URL data's ticket
 * @return the request; on error, kind/transaction_id hold what could be read
 */
IMSP2P_TRACKER_EXPORT request parse_request(core::byte_view packet, std::error_code& ec,
                                            std::string* reason = nullptr,
                                            const request_limits& limits = {});

/**
 * Parses a request datagram into a request the caller keeps, as the overload above, reusing the
 * storage of its strings (a server parsing into one request per thread allocates nothing per
 * announce).
 * @param packet the datagram (not retained)
 * @param out overwritten: every member is reset, then filled as far as the datagram could be read
 * @param ec errc::bad_udp_packet on any violation, cleared on success
 * @param reason if not null, receives a precise reason on error
 * @param limits the ticket size bound applied to the URL data's ticket
 */
IMSP2P_TRACKER_EXPORT void parse_request(core::byte_view packet, request& out, std::error_code& ec,
                                         std::string* reason = nullptr,
                                         const request_limits& limits = {});

/**
 * @param packet a datagram
 * @return true when it is long enough to carry a transaction id (16 bytes), i.e. an error
 *         answer can be addressed; shorter datagrams are dropped silently
 */
IMSP2P_TRACKER_EXPORT bool answerable(core::byte_view packet) noexcept;

/**
 * Extracts the ticket from BEP 41 URL data (`/announce/<ticket>[?query]`).
 * @param url_data the concatenated URL data
 * @param limits the ticket size bound
 * @param ec errc::bad_udp_packet when the path is not `/announce[/<ticket>]` or badly encoded
 * @param reason if not null, receives the reason on error
 * @return the decoded ticket (empty for plain "/announce")
 */
IMSP2P_TRACKER_EXPORT std::string ticket_from_url_data(std::string_view url_data,
                                                       const request_limits& limits,
                                                       std::error_code& ec,
                                                       std::string* reason = nullptr);

/**
 * Encodes a connect response.
 * @param transaction_id the request's transaction id
 * @param connection_id the connection id granted
 * @return 16 bytes
 */
IMSP2P_TRACKER_EXPORT std::string encode_connect(std::uint32_t transaction_id,
                                                 std::uint64_t connection_id);

/**
 * Encodes an announce response (action 1): interval, leechers, seeders, then the peers of one
 * address family: 6-byte IPv4 entries, or 18-byte IPv6 entries when the request came over IPv6
 * (BEP 15). Peers of the other family are left out. A refused result becomes an error response.
 * The peers are taken from `result.peers`, or, when it is empty, from the compact string of
 * the family (`compact_peers` or `compact_peers6`, copied as it is).
 * @param transaction_id the request's transaction id
 * @param result the tracker's answer
 * @param ipv6 true when the request came over IPv6 (not IPv4-mapped)
 * @return the datagram
 */
IMSP2P_TRACKER_EXPORT std::string encode_announce(std::uint32_t transaction_id,
                                                  const announce_result& result, bool ipv6);

/**
 * Encodes an announce response into a string the caller keeps, as the overload above (its
 * storage is reused).
 * @param transaction_id the request's transaction id
 * @param result the tracker's answer
 * @param ipv6 true when the request came over IPv6 (not IPv4-mapped)
 * @param out replaced by the datagram
 */
IMSP2P_TRACKER_EXPORT void encode_announce(std::uint32_t transaction_id,
                                           const announce_result& result, bool ipv6,
                                           std::string& out);

/**
 * Encodes a scrape response (action 2): per requested hash, in order, seeders, completed,
 * leechers; unknown or unauthorised hashes get zeros.
 * @param transaction_id the request's transaction id
 * @param hashes the requested hashes, in request order
 * @param found the stats the tracker returned (by 20-byte hash)
 * @return the datagram
 */
IMSP2P_TRACKER_EXPORT std::string encode_scrape(
    std::uint32_t transaction_id, const std::vector<std::string>& hashes,
    const std::vector<std::pair<std::string, torrent_stats>>& found);

/**
 * Encodes an error response (action 3) with a human-readable message.
 * @param transaction_id the request's transaction id
 * @param message the message (UTF-8, not terminated)
 * @return the datagram
 */
IMSP2P_TRACKER_EXPORT std::string encode_error(std::uint32_t transaction_id,
                                               std::string_view message);

}  // namespace imsp2p::tracker::udp
