#include "initial_seeding.hpp"

#include <libtorrent/peer_connection_handle.hpp>
#include <libtorrent/peer_request.hpp>
#include <libtorrent/torrent_status.hpp>

#include <algorithm>
#include <array>
#include <map>
#include <set>
#include <utility>
#include <vector>

namespace imsp2p::sip::detail {
namespace {

/** Undelivered pieces a peer is kept suggested (reserved) ahead. */
constexpr std::size_t suggestions_ahead = 2;
/**
 * Refusals without any block sent in between after which a peer's requests are served anyway
 * (bounds a request/reject ping-pong with a peer that ignores suggestions).
 */
constexpr int max_refusals_in_a_row = 2048;
/**
 * Most undelivered pieces reserved for one peer: a refused peer is suggested another free piece
 * until it holds this many, so its request queue to the seed stays filled with distinct pieces.
 */
constexpr std::size_t max_reserved = 8;
/** Seconds a peer may hold reservations without any block sent to it before they return. */
constexpr int max_idle_ticks = 20;
/** BEP 6 message ids. */
constexpr char msg_suggest_piece = 13;
constexpr char msg_reject_request = 16;

/** Where a piece stands in the first round. */
enum class piece_state : std::uint8_t {
    free,      ///< not given to any peer yet, not reserved
    reserved,  ///< reserved for (suggested to or being sent to) one peer
    given,     ///< sent completely to a peer once
};

void put_u32(char* out, std::uint32_t value) {
    out[0] = static_cast<char>((value >> 24) & 0xff);
    out[1] = static_cast<char>((value >> 16) & 0xff);
    out[2] = static_cast<char>((value >> 8) & 0xff);
    out[3] = static_cast<char>(value & 0xff);
}

/** The per-torrent state shared by the peer plugins (network thread only). */
struct piece_pool {
    piece_pool(initial_seeding_geometry g, std::shared_ptr<initial_seeding_counters> c)
        : geometry(g),
          counters(std::move(c)),
          state(static_cast<std::size_t>(std::max(0, g.num_pieces)), piece_state::free),
          owner(state.size(), 0),
          free_count(static_cast<int>(state.size())) {}

    int num_pieces() const { return static_cast<int>(state.size()); }

    std::int64_t piece_size(int piece) const {
        const std::int64_t start = static_cast<std::int64_t>(piece) * geometry.piece_length;
        return std::min<std::int64_t>(geometry.piece_length, geometry.total_size - start);
    }

    /** @return a free piece that the peer lacks, -1 if none; rotates so peers spread */
    int find_free(const lt::peer_connection_handle& peer) {
        const int count = num_pieces();
        if (free_count == 0) {
            return -1;
        }
        for (int k = 0; k < count; ++k) {
            const int piece = (cursor + k) % count;
            if (state[static_cast<std::size_t>(piece)] == piece_state::free &&
                !peer.has_piece(lt::piece_index_t(piece))) {
                cursor = (piece + 1) % count;
                return piece;
            }
        }
        return -1;
    }

    void reserve(int piece, std::uint64_t serial) {
        auto& s = state[static_cast<std::size_t>(piece)];
        if (s == piece_state::free) {
            --free_count;
        }
        s = piece_state::reserved;
        owner[static_cast<std::size_t>(piece)] = serial;
    }

    void release(int piece, std::uint64_t serial) {
        auto& s = state[static_cast<std::size_t>(piece)];
        if (s == piece_state::reserved && owner[static_cast<std::size_t>(piece)] == serial) {
            s = piece_state::free;
            owner[static_cast<std::size_t>(piece)] = 0;
            ++free_count;
        }
    }

    void give(int piece, std::uint64_t serial) {
        auto& s = state[static_cast<std::size_t>(piece)];
        if (s == piece_state::free) {
            --free_count;
        }
        if (s != piece_state::given) {
            ++given_count;
            counters->pieces_given.fetch_add(1, std::memory_order_relaxed);
        }
        s = piece_state::given;
        owner[static_cast<std::size_t>(piece)] = serial;
    }

    initial_seeding_geometry geometry;
    std::shared_ptr<initial_seeding_counters> counters;
    std::vector<piece_state> state;
    std::vector<std::uint64_t> owner;  // serial of the peer a piece is reserved for / given to
    int free_count = 0;
    int given_count = 0;
    int cursor = 0;
    bool seeding = false;
    std::uint64_t next_serial = 1;
};

/** The policy on one BitTorrent connection (network thread only). */
class peer_policy final : public lt::peer_plugin {
  public:
    peer_policy(std::shared_ptr<piece_pool> pool, lt::peer_connection_handle connection)
        : pool_(std::move(pool)),
          connection_(std::move(connection)),
          serial_(pool_->next_serial++) {}

    lt::string_view type() const override { return "imsp2p_initial_seeding"; }

    bool on_handshake(lt::span<char const> reserved) override {
        // BEP 6: bit 0x04 of the last reserved byte.
        supports_fast_ = reserved.size() >= 8 && (reserved[7] & 0x04) != 0;
        return true;
    }

    bool on_interested() override {
        top_up();
        return false;
    }

    void sent_unchoke() override { top_up(); }

    void sent_choke() override { release_all(); }

    void on_disconnect(const lt::error_code&) override { release_all(); }

    void tick() override {
        // Reservations made while the peer waited for an upload slot go back to the pool.
        if (!reserved_.empty() && connection_.is_choked()) {
            release_all();
            return;
        }
        // So are the reservations of a peer that takes nothing (e.g. ignores suggestions).
        if (reserved_.empty()) {
            idle_ticks_ = 0;
        } else if (++idle_ticks_ > max_idle_ticks) {
            idle_ticks_ = 0;
            release_all();
            return;
        }
        // A reserved piece the peer got elsewhere counts as given.
        for (auto it = reserved_.begin(); it != reserved_.end();) {
            if (connection_.has_piece(lt::piece_index_t(*it))) {
                pool_->give(*it, serial_);
                sent_blocks_.erase(*it);
                sent_bytes_.erase(*it);
                it = reserved_.erase(it);
            } else {
                ++it;
            }
        }
        top_up();
    }

    bool on_request(const lt::peer_request& request) override {
        piece_pool& pool = *pool_;
        const int piece = static_cast<int>(request.piece);
        if (!pool.seeding || piece < 0 || piece >= pool.num_pieces() || connection_.is_choked()) {
            return false;  // libtorrent's own handling (invalid, choked, allowed fast)
        }
        const auto index = static_cast<std::size_t>(piece);
        if (pool.state[index] == piece_state::free) {
            pool.reserve(piece, serial_);
            reserved_.insert(piece);
            return false;
        }
        if (pool.owner[index] == serial_) {
            return false;
        }
        if (!supports_fast_ || pool.given_count == pool.num_pieces() ||
            refusals_in_a_row_ >= max_refusals_in_a_row) {
            return false;  // plain seeding: every piece was given once, or a stubborn peer
        }
        if (reserved_.size() < max_reserved) {
            const int offer = pool.find_free(connection_);
            if (offer >= 0) {
                suggest(offer);
            }
        }
        ++refusals_in_a_row_;
        std::array<char, 17> message{};
        put_u32(message.data(), 13);
        message[4] = msg_reject_request;
        put_u32(message.data() + 5, static_cast<std::uint32_t>(piece));
        put_u32(message.data() + 9, static_cast<std::uint32_t>(request.start));
        put_u32(message.data() + 13, static_cast<std::uint32_t>(request.length));
        connection_.send_buffer(message.data(), static_cast<int>(message.size()));
        pool.counters->rejected_requests.fetch_add(1, std::memory_order_relaxed);
        return true;
    }

    void sent_piece(const lt::peer_request& request) override {
        refusals_in_a_row_ = 0;
        idle_ticks_ = 0;
        const int piece = static_cast<int>(request.piece);
        if (reserved_.count(piece) == 0) {
            return;
        }
        auto& blocks = sent_blocks_[piece];
        if (blocks.insert(request.start).second) {
            sent_bytes_[piece] += request.length;
        }
        if (sent_bytes_[piece] >= pool_->piece_size(piece)) {
            reserved_.erase(piece);
            sent_blocks_.erase(piece);
            sent_bytes_.erase(piece);
            pool_->give(piece, serial_);
            top_up();
        }
    }

  private:
    /** Suggests (and reserves) free pieces until the peer has suggestions_ahead undelivered. */
    void top_up() {
        if (!pool_->seeding || !supports_fast_) {
            return;
        }
        while (reserved_.size() < suggestions_ahead) {
            const int offer = pool_->find_free(connection_);
            if (offer < 0) {
                return;
            }
            suggest(offer);
        }
    }

    void suggest(int piece) {
        pool_->reserve(piece, serial_);
        reserved_.insert(piece);
        std::array<char, 9> message{};
        put_u32(message.data(), 5);
        message[4] = msg_suggest_piece;
        put_u32(message.data() + 5, static_cast<std::uint32_t>(piece));
        connection_.send_buffer(message.data(), static_cast<int>(message.size()));
        pool_->counters->suggested_pieces.fetch_add(1, std::memory_order_relaxed);
    }

    /** Gives back the reservations; a piece the peer announced meanwhile counts as given. */
    void release_all() {
        for (const int piece : reserved_) {
            if (connection_.has_piece(lt::piece_index_t(piece))) {
                pool_->give(piece, serial_);
            } else {
                pool_->release(piece, serial_);
            }
        }
        reserved_.clear();
        sent_blocks_.clear();
        sent_bytes_.clear();
    }

    std::shared_ptr<piece_pool> pool_;
    lt::peer_connection_handle connection_;
    std::uint64_t serial_;
    bool supports_fast_ = false;
    int refusals_in_a_row_ = 0;
    int idle_ticks_ = 0;      // seconds with reservations and no block sent
    std::set<int> reserved_;  // pieces reserved for this peer, not yet sent completely
    std::map<int, std::set<int>> sent_blocks_;
    std::map<int, std::int64_t> sent_bytes_;
};

/** The torrent plugin: creates the peer plugins and follows the torrent's state. */
class torrent_policy final : public lt::torrent_plugin {
  public:
    explicit torrent_policy(std::shared_ptr<piece_pool> pool) : pool_(std::move(pool)) {}

    std::shared_ptr<lt::peer_plugin> new_connection(
        const lt::peer_connection_handle& connection) override {
        if (connection.type() != lt::connection_type::bittorrent) {
            return {};
        }
        return std::make_shared<peer_policy>(pool_, connection);
    }

    void on_state(lt::torrent_status::state_t state) override {
        pool_->seeding = state == lt::torrent_status::seeding;
    }

  private:
    std::shared_ptr<piece_pool> pool_;
};

}  // namespace

std::function<std::shared_ptr<lt::torrent_plugin>(const lt::torrent_handle&, lt::client_data_t)>
make_initial_seeding(initial_seeding_geometry geometry,
                     std::shared_ptr<initial_seeding_counters> counters) {
    return [geometry, counters = std::move(counters)](
               const lt::torrent_handle&,
               lt::client_data_t) -> std::shared_ptr<lt::torrent_plugin> {
        return std::make_shared<torrent_policy>(std::make_shared<piece_pool>(geometry, counters));
    };
}

}  // namespace imsp2p::sip::detail
