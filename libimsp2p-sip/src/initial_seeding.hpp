/**
 * @file
 * Private to libimsp2p-sip: the initial seeding policy of a swarm
 * (swarm_settings::initial_seeding), a libtorrent torrent plugin with one peer plugin per
 * BitTorrent connection.
 *
 * While the torrent is a seed and some piece has not been given to any peer yet, a request for a
 * piece that is already given to (or being given to) another peer is refused with a fast
 * extension (BEP 6) REJECT REQUEST, and the requesting peer is sent a SUGGEST PIECE for a piece
 * nobody has been given yet, which is then reserved for it. Peers also get two such suggestions
 * when they declare interest, and another one each time a reserved piece has been sent, so they
 * start on distinct pieces at once. The origin thus uploads each piece about once and the peers
 * exchange the rest. Once every piece has been given once (or no piece is left that the
 * requesting peer lacks), requests are served normally. Peers without the fast extension are
 * never refused. Reservations of a peer that disconnects or is choked before receiving its piece
 * go back to the pool.
 *
 * Threads: every plugin callback runs on libtorrent's network thread; only the counters are read
 * from other threads (atomics).
 */
#pragma once

#include <libtorrent/extensions.hpp>
#include <libtorrent/torrent_handle.hpp>

#include <atomic>
#include <cstdint>
#include <functional>
#include <memory>

namespace imsp2p::sip::detail {

/** Counters of one torrent's initial seeding; written on the network thread, read anywhere. */
struct initial_seeding_counters {
    /** REJECT REQUEST messages sent (one per refused block request). */
    std::atomic<std::uint64_t> rejected_requests{0};
    /** SUGGEST PIECE messages sent. */
    std::atomic<std::uint64_t> suggested_pieces{0};
    /** Pieces sent completely to a peer for the first time. */
    std::atomic<std::uint64_t> pieces_given{0};
};

/** The geometry of the torrent the policy applies to. */
struct initial_seeding_geometry {
    /** Number of pieces. */
    int num_pieces = 0;
    /** Nominal piece length in bytes. */
    int piece_length = 0;
    /** Payload bytes of the torrent (the last piece may be shorter). */
    std::int64_t total_size = 0;
};

/**
 * Makes the factory to put in add_torrent_params::extensions.
 * @param geometry the torrent's pieces
 * @param counters where the plugin counts (shared with the caller)
 * @return the factory (called by libtorrent on the network thread when the torrent is added)
 */
std::function<std::shared_ptr<lt::torrent_plugin>(const lt::torrent_handle&, lt::client_data_t)>
make_initial_seeding(initial_seeding_geometry geometry,
                     std::shared_ptr<initial_seeding_counters> counters);

}  // namespace imsp2p::sip::detail
