#include <imsp2p/tracker/tracker_service.hpp>

#include <imsp2p/tracker/bencode.hpp>
#include <imsp2p/tracker/error.hpp>

#include <imsp2p/core/bytes.hpp>
#include <imsp2p/core/database.hpp>
#include <imsp2p/core/encoding.hpp>
#include <imsp2p/core/siphash.hpp>

#include <algorithm>
#include <array>
#include <atomic>
#include <charconv>
#include <cstring>
#include <limits>
#include <memory>
#include <mutex>
#include <random>
#include <tuple>
#include <unordered_map>
#include <utility>
#include <vector>

namespace imsp2p::tracker {

std::string_view to_string(torrent_state state) noexcept {
    switch (state) {
        case torrent_state::active:
            return "active";
        case torrent_state::disabled:
            return "disabled";
        case torrent_state::muted:
            return "muted";
    }
    return "active";
}

std::optional<torrent_state> parse_torrent_state(std::string_view text) noexcept {
    if (text == "active") {
        return torrent_state::active;
    }
    if (text == "disabled") {
        return torrent_state::disabled;
    }
    if (text == "muted") {
        return torrent_state::muted;
    }
    return std::nullopt;
}

namespace {

using clock_point = std::chrono::system_clock::time_point;

const core::migration schema[] = {
    {1, "registered torrents",
     "CREATE TABLE torrents ("
     " id INTEGER PRIMARY KEY,"
     " info_hash_v1 BLOB UNIQUE CHECK (info_hash_v1 IS NULL OR length(info_hash_v1) = 20),"
     " info_hash_v2 BLOB UNIQUE CHECK (info_hash_v2 IS NULL OR length(info_hash_v2) = 32),"
     " doi TEXT NOT NULL DEFAULT '',"
     " state TEXT NOT NULL CHECK (state IN ('active', 'disabled', 'muted')),"
     " completed INTEGER NOT NULL DEFAULT 0,"
     " registered_at INTEGER NOT NULL,"
     " CHECK (info_hash_v1 IS NOT NULL OR info_hash_v2 IS NOT NULL));"},
};

using peer_key = std::array<char, 20>;  // a peer id

/** The process-wide random key of the peer-id hash (so clients cannot aim collisions). */
const core::siphash_key& peer_hash_key() {
    static const core::siphash_key key = [] {
        std::array<std::uint8_t, 16> seed{};
        core::random_bytes(seed);
        return core::siphash_key::from_bytes(seed);
    }();
    return key;
}

/** SipHash-1-3 of a 20-byte peer id under the process key. */
struct peer_key_hash {
    std::size_t operator()(const peer_key& id) const noexcept {
        return static_cast<std::size_t>(core::siphash13(
            peer_hash_key(),
            std::span(reinterpret_cast<const std::uint8_t*>(id.data()), id.size())));
    }
};

/** @return the index key of an infohash: its first 20 bytes (v1, or v2 truncated, BEP 52) */
peer_key hash_key(std::string_view info_hash) noexcept {
    peer_key key{};
    std::memcpy(key.data(), info_hash.data(), std::min(info_hash.size(), key.size()));
    return key;
}

/** A fast non-cryptographic generator (splitmix64) for picking the peers handed out. */
class peer_picker {
  public:
    explicit peer_picker(std::uint64_t seed) noexcept : state_(seed) {}
    /** @return a number in [0, bound) for 0 < bound < 2^32 (bias below bound / 2^32) */
    std::uint32_t below(std::uint32_t bound) noexcept {
        return static_cast<std::uint32_t>(((next() >> 32U) * bound) >> 32U);
    }

  private:
    std::uint64_t next() noexcept {
        std::uint64_t z = (state_ += 0x9e3779b97f4a7c15ULL);
        z = (z ^ (z >> 30U)) * 0xbf58476d1ce4e5b9ULL;
        z = (z ^ (z >> 27U)) * 0x94d049bb133111ebULL;
        return z ^ (z >> 31U);
    }
    std::uint64_t state_;
};

constexpr std::uint8_t seeder_flag = 1;    // left == 0
constexpr std::uint8_t operator_flag = 2;  // announced with an operator-seed ticket
constexpr std::uint8_t operator_seeder_flags = seeder_flag | operator_flag;

/**
 * What the announce path reads of every member: 8 bytes, so that a swarm of 60 peers fits in
 * 8 cache lines. An IPv6 address lives in the cold part.
 */
struct peer_hot {
    std::array<char, 4> ipv4{};  // the IPv4 address (ip_size 4)
    std::uint16_t port = 0;
    std::uint8_t ip_size = 0;  // 4 or 16
    std::uint8_t flags = 0;
};
static_assert(sizeof(peer_hot) == 8);

/** The rest of a peer, read only for the announcing peer itself, IPv6 and statistics. */
struct peer_cold {
    peer_key id{};
    std::uint32_t hash = 0;  // of the id (peer_key_hash), for the swarm's index
    bool counted_complete = false;
    std::array<char, 16> ipv6{};  // the IPv6 address (ip_size 16)
    std::int64_t last_seen = 0;   // clock_point ticks
    std::uint64_t uploaded = 0;
    std::uint64_t downloaded = 0;
    std::uint64_t left = 0;
    // The claims of the ticket this peer id was last announced with (shared with the ticket
    // cache; its subject is the holder (IMPU) who owns the peer id). Null: none yet.
    std::shared_ptr<const core::ticket_claims> admitted;
};

std::int64_t ticks_of(clock_point when) noexcept {
    return when.time_since_epoch().count();
}

/**
 * The peers of one torrent, stored contiguously in two parallel arrays (hot: what every
 * announce reads; cold: the rest) and indexed by peer id. Removal moves the last peer into the
 * hole. Keeps the counts of seeders and operator seeders among the stored peers and a lower
 * bound of their last_seen, so that an announce needs no pass over the swarm while no peer can
 * have expired.
 */
class swarm {
  public:
    static constexpr std::size_t npos = static_cast<std::size_t>(-1);

    [[nodiscard]] std::size_t find(const peer_key& id) const {
        if (slots_.empty()) {
            return npos;
        }
        const auto hash = static_cast<std::uint32_t>(peer_key_hash{}(id));
        const std::size_t mask = slots_.size() - 1;
        for (std::size_t slot = hash & mask;; slot = (slot + 1) & mask) {
            const std::uint64_t held = slots_[slot];
            if (held == 0) {
                return npos;
            }
            const std::size_t at = position_of(held);
            if (hash_of(held) == hash && cold_[at].id == id) {
                return at;
            }
        }
    }
    /** Adds a peer (a leecher seen at @p now) that find() does not know; @return its position */
    std::size_t add(const peer_key& id, std::int64_t now) {
        const std::size_t at = hot_.size();
        if ((at + 1) * 2 > slots_.size()) {
            rehash(std::max<std::size_t>(16, slots_.size() * 2));  // load factor at most 1/2
        }
        hot_.emplace_back();
        try {
            cold_.emplace_back();
        } catch (...) {
            hot_.pop_back();
            throw;
        }
        peer_cold& cold = cold_.back();
        cold.id = id;
        cold.hash = static_cast<std::uint32_t>(peer_key_hash{}(id));
        cold.last_seen = now;
        place(cold.hash, at);
        oldest_ = std::min(oldest_, now);
        return at;
    }
    void erase(std::size_t at) {
        count(hot_[at].flags, -1);
        unplace(cold_[at].hash, at);
        const std::size_t last = hot_.size() - 1;
        if (at != last) {
            hot_[at] = hot_[last];
            cold_[at] = std::move(cold_[last]);
            slots_[slot_of(cold_[at].hash, last)] = entry_of(cold_[at].hash, at);
        }
        hot_.pop_back();
        cold_.pop_back();
    }
    void set_flags(std::size_t at, std::uint8_t flags) noexcept {
        count(hot_[at].flags, -1);
        hot_[at].flags = flags;
        count(flags, 1);
    }
    void touch(std::size_t at, std::int64_t now) noexcept {
        cold_[at].last_seen = now;
        oldest_ = std::min(oldest_, now);
    }
    /** Sets the address of the peer at @p at (4 or 16 bytes). */
    void set_address(std::size_t at, std::string_view ip, std::uint16_t port) noexcept {
        peer_hot& hot = hot_[at];
        if (ip.size() == 4) {
            std::memcpy(hot.ipv4.data(), ip.data(), 4);
        } else {
            std::memcpy(cold_[at].ipv6.data(), ip.data(), 16);
        }
        hot.ip_size = static_cast<std::uint8_t>(ip.size());
        hot.port = port;
    }
    /** @return the address of the peer at @p at (4 or 16 bytes) */
    [[nodiscard]] std::string_view address(std::size_t at) const noexcept {
        const peer_hot& hot = hot_[at];
        return hot.ip_size == 4 ? std::string_view(hot.ipv4.data(), 4)
                                : std::string_view(cold_[at].ipv6.data(), 16);
    }
    /** Drops the peers last seen before @p limit; @return how many */
    std::size_t sweep(std::int64_t limit) {
        std::size_t dropped = 0;
        std::int64_t oldest = std::numeric_limits<std::int64_t>::max();
        for (std::size_t at = 0; at < hot_.size();) {
            if (cold_[at].last_seen < limit) {
                erase(at);  // the last peer moves to `at`
                ++dropped;
            } else {
                oldest = std::min(oldest, cold_[at].last_seen);
                ++at;
            }
        }
        oldest_ = oldest;
        return dropped;
    }
    void clear() noexcept {
        hot_.clear();
        cold_.clear();
        slots_.clear();
        seeders_ = 0;
        operator_seeders_ = 0;
        oldest_ = std::numeric_limits<std::int64_t>::max();
    }
    [[nodiscard]] std::size_t size() const noexcept { return hot_.size(); }
    [[nodiscard]] peer_hot& hot(std::size_t at) noexcept { return hot_[at]; }
    [[nodiscard]] const peer_hot& hot(std::size_t at) const noexcept { return hot_[at]; }
    [[nodiscard]] peer_cold& cold(std::size_t at) noexcept { return cold_[at]; }
    [[nodiscard]] const peer_cold& cold(std::size_t at) const noexcept { return cold_[at]; }
    /** Stored peers with nothing left. */
    [[nodiscard]] std::size_t seeders() const noexcept { return seeders_; }
    /** Stored operator-seed peers with nothing left. */
    [[nodiscard]] std::size_t operator_seeders() const noexcept { return operator_seeders_; }
    /** No stored peer was last seen before this. */
    [[nodiscard]] std::int64_t oldest() const noexcept { return oldest_; }

  private:
    // The index: open addressing with linear probing, a power-of-two number of slots, each
    // 0 (empty) or (the id's 32-bit keyed hash << 32 | position + 1). One probe usually lands
    // on the right slot, and the hash spares comparing the ids of the others.
    static std::uint64_t entry_of(std::uint32_t hash, std::size_t at) noexcept {
        return (static_cast<std::uint64_t>(hash) << 32U) | static_cast<std::uint64_t>(at + 1);
    }
    static std::uint32_t hash_of(std::uint64_t held) noexcept {
        return static_cast<std::uint32_t>(held >> 32U);
    }
    static std::size_t position_of(std::uint64_t held) noexcept {
        return static_cast<std::size_t>(held & 0xffffffffU) - 1;
    }
    /** @return the slot holding position @p at (whose id hashes to @p hash) */
    [[nodiscard]] std::size_t slot_of(std::uint32_t hash, std::size_t at) const noexcept {
        const std::size_t mask = slots_.size() - 1;
        std::size_t slot = hash & mask;
        while (slots_[slot] != entry_of(hash, at)) {
            slot = (slot + 1) & mask;
        }
        return slot;
    }
    void place(std::uint32_t hash, std::size_t at) noexcept {
        const std::size_t mask = slots_.size() - 1;
        std::size_t slot = hash & mask;
        while (slots_[slot] != 0) {
            slot = (slot + 1) & mask;
        }
        slots_[slot] = entry_of(hash, at);
    }
    /** Empties the slot of position @p at, shifting back the entries probed past it. */
    void unplace(std::uint32_t hash, std::size_t at) noexcept {
        const std::size_t mask = slots_.size() - 1;
        std::size_t hole = slot_of(hash, at);
        for (std::size_t next = (hole + 1) & mask; slots_[next] != 0; next = (next + 1) & mask) {
            const std::size_t home = hash_of(slots_[next]) & mask;
            // The entry at `next` may fill the hole unless its home lies cyclically in
            // (hole, next].
            const bool home_between =
                hole <= next ? (home > hole && home <= next) : (home > hole || home <= next);
            if (!home_between) {
                slots_[hole] = slots_[next];
                hole = next;
            }
        }
        slots_[hole] = 0;
    }
    void rehash(std::size_t size) {
        std::vector<std::uint64_t> fresh(size, 0);
        slots_.swap(fresh);
        for (std::size_t at = 0; at < cold_.size(); ++at) {
            place(cold_[at].hash, at);
        }
    }

    void count(std::uint8_t flags, int delta) noexcept {
        if ((flags & seeder_flag) != 0) {
            seeders_ += static_cast<std::size_t>(delta);
        }
        if ((flags & operator_seeder_flags) == operator_seeder_flags) {
            operator_seeders_ += static_cast<std::size_t>(delta);
        }
    }

    std::vector<peer_hot> hot_;
    std::vector<peer_cold> cold_;
    std::vector<std::uint64_t> slots_;  // the index: peer id -> position
    std::size_t seeders_ = 0;
    std::size_t operator_seeders_ = 0;
    std::int64_t oldest_ = std::numeric_limits<std::int64_t>::max();
};

struct torrent {
    std::int64_t id = 0;
    torrent_registration registration;
    std::uint64_t completed = 0;
    swarm peers;
};

std::string ticket_reason(const std::error_code& ec) {
    return "ticket rejected: " + ec.message();
}

/**
 * The registered torrents by the 20-byte key of their infohashes: open addressing with linear
 * probing (a power-of-two number of slots, at most half full), the key and its hash stored in
 * the slot, so that a lookup reads one or two adjacent slots and compares the full key only
 * when the 64-bit hashes agree.
 *
 * The hash is a keyed multiply-fold of the 20 bytes (the process key of the peer-id hash XORed
 * into every word before the 64x64->128-bit multiplications): much cheaper than SipHash and
 * still unknown to clients, so they cannot aim collisions. Only the AS inserts keys
 * (registrations), so a client can at most look up keys that are absent; their probes end at
 * the first empty slot of a table that is at most half full.
 */
class torrent_index {
  public:
    /** @return the torrent indexed under @p key, or null */
    [[nodiscard]] torrent* find(const peer_key& key) const noexcept {
        if (slots_.empty()) {
            return nullptr;
        }
        const std::uint64_t hash = hash_of(key);
        const std::size_t mask = slots_.size() - 1;
        for (std::size_t at = hash & mask;; at = (at + 1) & mask) {
            const slot& held = slots_[at];
            if (held.value == nullptr) {
                return nullptr;
            }
            if (held.hash == hash && same_key(held.key, key)) {
                return held.value;
            }
        }
    }
    /** Indexes @p value under @p key, replacing what was there. */
    void assign(const peer_key& key, torrent* value) {
        if ((size_ + 1) * 2 > slots_.size()) {
            grow();  // before looking: the slot found stays valid
        }
        const std::uint64_t hash = hash_of(key);
        const std::size_t mask = slots_.size() - 1;
        std::size_t at = hash & mask;
        for (; slots_[at].value != nullptr; at = (at + 1) & mask) {
            if (slots_[at].hash == hash && same_key(slots_[at].key, key)) {
                slots_[at].value = value;
                return;
            }
        }
        slots_[at] = slot{hash, key, value};
        ++size_;
    }
    /** Removes @p key if it is indexed to @p value (else nothing changes). */
    void erase(const peer_key& key, const torrent* value) noexcept {
        if (slots_.empty()) {
            return;
        }
        const std::uint64_t hash = hash_of(key);
        const std::size_t mask = slots_.size() - 1;
        std::size_t hole = hash & mask;
        for (;; hole = (hole + 1) & mask) {
            if (slots_[hole].value == nullptr) {
                return;
            }
            if (slots_[hole].hash == hash && same_key(slots_[hole].key, key)) {
                break;
            }
        }
        if (slots_[hole].value != value) {
            return;
        }
        // Backward shift: an entry probed past the hole moves into it unless its home lies
        // cyclically in (hole, next].
        for (std::size_t next = (hole + 1) & mask; slots_[next].value != nullptr;
             next = (next + 1) & mask) {
            const std::size_t home = slots_[next].hash & mask;
            const bool home_between =
                hole <= next ? (home > hole && home <= next) : (home > hole || home <= next);
            if (!home_between) {
                slots_[hole] = slots_[next];
                hole = next;
            }
        }
        slots_[hole] = slot{};
        --size_;
    }

  private:
    struct slot {
        std::uint64_t hash = 0;
        peer_key key{};
        torrent* value = nullptr;  // null: empty
    };

    static std::uint64_t word(const char* bytes) noexcept {
        std::uint64_t value = 0;
        std::memcpy(&value, bytes, sizeof value);
        return value;
    }
    static bool same_key(const peer_key& a, const peer_key& b) noexcept {
        std::uint32_t a_tail = 0;
        std::uint32_t b_tail = 0;
        std::memcpy(&a_tail, a.data() + 16, 4);
        std::memcpy(&b_tail, b.data() + 16, 4);
        return ((word(a.data()) ^ word(b.data())) | (word(a.data() + 8) ^ word(b.data() + 8)) |
                (a_tail ^ b_tail)) == 0;
    }
    static std::uint64_t fold(std::uint64_t a, std::uint64_t b) noexcept {
        __extension__ using wide = unsigned __int128;  // GCC and Clang on 64-bit targets
        const wide product = static_cast<wide>(a) * b;
        return static_cast<std::uint64_t>(product) ^ static_cast<std::uint64_t>(product >> 64U);
    }
    static std::uint64_t hash_of(const peer_key& key) noexcept {
        const auto& secret = peer_hash_key();
        std::uint32_t tail = 0;
        std::memcpy(&tail, key.data() + 16, 4);
        const std::uint64_t first = fold(word(key.data()) ^ secret.k0 ^ 0xa0761d6478bd642fULL,
                                         word(key.data() + 8) ^ secret.k1 ^ 0xe7037ed1a0b428dbULL);
        return fold(first ^ tail ^ secret.k1, secret.k0 ^ 0x8ebc6af09c88c6e3ULL);
    }
    void grow() {
        std::vector<slot> fresh(std::max<std::size_t>(64, slots_.size() * 2));
        const std::size_t mask = fresh.size() - 1;
        for (const slot& held : slots_) {
            if (held.value != nullptr) {
                std::size_t at = held.hash & mask;
                while (fresh[at].value != nullptr) {
                    at = (at + 1) & mask;
                }
                fresh[at] = held;
            }
        }
        slots_.swap(fresh);
    }

    std::vector<slot> slots_;
    std::size_t size_ = 0;
};

}  // namespace

struct tracker_service::state {
    explicit state(tracker_settings config)
        : settings(std::move(config)), verifier("tracker", settings.as_keys) {
        verifier.set_expected_issuer(settings.expected_issuer);
        verifier.set_leeway(settings.ticket_leeway);
        if (settings.ticket_cache_capacity > 0) {
            cache = std::make_unique<core::verified_ticket_cache>(settings.ticket_cache_capacity);
        }
    }

    tracker_settings settings;
    core::ticket_verifier verifier;
    std::unique_ptr<core::verified_ticket_cache> cache;

    std::mutex mutex;  // guards everything below
    core::database db;
    std::unordered_map<std::int64_t, torrent> torrents;
    // 20-byte key (v1, or v2 truncated) -> its torrent (nodes of `torrents`: stable addresses)
    torrent_index by_hash;
    peer_picker random{(static_cast<std::uint64_t>(std::random_device{}()) << 32U) ^
                       std::random_device{}()};
    std::vector<std::uint32_t> candidates;  // scratch of announce(), under the mutex
    std::vector<std::uint64_t> marked;      // scratch of announce() (a bit per rank), ditto

    std::atomic<std::uint64_t> announces{0};
    std::atomic<std::uint64_t> refusals{0};
    std::atomic<std::uint64_t> scrapes{0};

    std::shared_ptr<const core::ticket_claims> verify(std::string_view token, clock_point now,
                                                      std::error_code& ec) {
        if (cache) {
            return cache->verify_shared(verifier, token, now, ec);
        }
        core::ticket_claims claims = verifier.verify(token, now, ec);
        if (ec) {
            return nullptr;
        }
        return std::make_shared<const core::ticket_claims>(std::move(claims));
    }

    torrent* find(std::string_view info_hash) {
        if (info_hash.size() != 20 && info_hash.size() != 32) {
            return nullptr;
        }
        torrent* entry = by_hash.find(hash_key(info_hash));
        if (entry == nullptr) {
            return nullptr;
        }
        if (info_hash.size() == 32 && entry->registration.info_hash_v2 != info_hash) {
            return nullptr;
        }
        return entry;
    }

    /** @return whether a 20- or 32-byte hash (its first 20 bytes) is registered */
    bool indexed(std::string_view info_hash) const {
        return by_hash.find(hash_key(info_hash)) != nullptr;
    }

    /** Adds a torrent (by id) and indexes its hashes. */
    void add(torrent entry) {
        const std::int64_t id = entry.id;
        torrent& stored = torrents.emplace(id, std::move(entry)).first->second;
        try {
            if (!stored.registration.info_hash_v1.empty()) {
                by_hash.assign(hash_key(stored.registration.info_hash_v1), &stored);
            }
            if (!stored.registration.info_hash_v2.empty()) {
                by_hash.assign(hash_key(stored.registration.info_hash_v2), &stored);
            }
        } catch (...) {
            remove(stored);
            throw;
        }
    }

    /** Removes a torrent and its index entries. */
    void remove(const torrent& entry) {
        for (const std::string* hash :
             {&entry.registration.info_hash_v1, &entry.registration.info_hash_v2}) {
            if (!hash->empty()) {
                by_hash.erase(hash_key(*hash), &entry);
            }
        }
        const std::int64_t id = entry.id;  // a copy: erasing destroys `entry`
        torrents.erase(id);
    }

    std::int64_t expiry_limit(clock_point now) const noexcept {
        return ticks_of(now - settings.peer_expiry);
    }

    void sweep(torrent& entry, clock_point now, std::size_t& dropped) {
        dropped += entry.peers.sweep(expiry_limit(now));
    }

    torrent_stats stats_of(const torrent& entry, clock_point now) const {
        torrent_stats out;
        out.torrent = entry.registration;
        out.completed = entry.completed;
        const auto limit = expiry_limit(now);
        for (std::size_t at = 0; at < entry.peers.size(); ++at) {
            const peer_hot& hot = entry.peers.hot(at);
            const peer_cold& cold = entry.peers.cold(at);
            if (cold.last_seen < limit) {
                continue;
            }
            (cold.left == 0 ? out.seeders : out.leechers) += 1;
            out.operator_seeders += (hot.flags & operator_flag) != 0 ? 1 : 0;
            out.uploaded += cold.uploaded;
            out.downloaded += cold.downloaded;
        }
        return out;
    }

    void persist_completed(const torrent& entry) {
        std::error_code ec;
        auto statement = db.prepare_cached("UPDATE torrents SET completed = ?1 WHERE id = ?2", ec);
        if (!ec) {
            statement.bind(1, entry.completed, ec);
        }
        if (!ec) {
            statement.bind(2, entry.id, ec);
        }
        if (!ec) {
            statement.run(ec);
        }
        // A failed counter update is not worth refusing the announce; the count in memory stays.
    }
};

tracker_service::tracker_service(std::unique_ptr<state> impl) : impl_(std::move(impl)) {}
tracker_service::~tracker_service() = default;

std::unique_ptr<tracker_service> tracker_service::open(tracker_settings settings,
                                                       std::error_code& ec) {
    auto impl = std::make_unique<state>(std::move(settings));
    const std::filesystem::path path = impl->settings.database_path.empty()
                                           ? std::filesystem::path(":memory:")
                                           : impl->settings.database_path;
    impl->db = core::database::open(path, {}, ec);
    if (!ec) {
        core::migrate(impl->db, schema, ec);
    }
    if (ec) {
        ec = errc::storage_failure;
        return nullptr;
    }
    auto select = impl->db.prepare(
        "SELECT id, info_hash_v1, info_hash_v2, doi, state, completed FROM torrents", ec);
    while (!ec && select.step(ec) == core::step_result::row) {
        torrent entry;
        entry.id = select.column<std::int64_t>(0);
        entry.registration.info_hash_v1 = core::to_string(select.column<core::byte_vector>(1));
        entry.registration.info_hash_v2 = core::to_string(select.column<core::byte_vector>(2));
        entry.registration.doi = select.column<std::string>(3);
        entry.registration.state =
            parse_torrent_state(select.column<std::string>(4)).value_or(torrent_state::disabled);
        entry.completed = select.column<std::uint64_t>(5);
        impl->add(std::move(entry));
    }
    if (ec) {
        ec = errc::storage_failure;
        return nullptr;
    }
    ec.clear();
    return std::unique_ptr<tracker_service>(new tracker_service(std::move(impl)));
}

std::unique_ptr<tracker_service> tracker_service::open(tracker_settings settings) {
    std::error_code ec;
    const auto path = settings.database_path;
    auto service = open(std::move(settings), ec);
    if (ec) {
        throw std::system_error(ec, "cannot open the tracker database " + path.string());
    }
    return service;
}

const tracker_settings& tracker_service::settings() const noexcept {
    return impl_->settings;
}
const core::ticket_verifier& tracker_service::verifier() const noexcept {
    return impl_->verifier;
}

announce_result tracker_service::announce(const announce_request& request, const peer_address& from,
                                          clock_point now) {
    announce_result result;
    announce(request, from, now, result);
    return result;
}

void tracker_service::announce(const announce_request& request, const peer_address& from,
                               clock_point now, announce_result& result) {
    announce(request, from, now, result, peer_list_form::entries);
}

void tracker_service::announce(const announce_request& request, const peer_address& from,
                               clock_point now, announce_result& result, peer_list_form form) {
    const bool compact_form = form == peer_list_form::compact;
    result.compact_peers.clear();
    result.compact_peers6.clear();
    if (compact_form) {
        result.peers.clear();
    }
    result.error.clear();
    result.failure_reason.clear();
    result.interval = impl_->settings.announce_interval;
    result.min_interval = impl_->settings.min_announce_interval;
    result.complete = 0;
    result.incomplete = 0;
    result.downloaded = 0;
    std::size_t handed = 0;        // entries of result.peers in use
    std::size_t compact_size = 0;  // bytes of result.compact_peers in use (compact form)
    auto refuse = [&](errc code, std::string_view reason) {
        result.error = code;
        result.failure_reason.assign(reason);
        result.peers.clear();
        impl_->refusals.fetch_add(1, std::memory_order_relaxed);
    };
    if (request.ticket.empty()) {
        return refuse(errc::missing_ticket, "missing ticket: announce to /announce/<ticket>");
    }
    std::error_code ec;
    const std::shared_ptr<const core::ticket_claims> verified =
        impl_->verify(request.ticket, now, ec);
    if (ec || !verified) {
        return refuse(errc::ticket_rejected, ticket_reason(ec));
    }
    const core::ticket_claims& claims = *verified;
    if (!claims.role || *claims.role == core::ticket_role::service) {
        return refuse(errc::ticket_rejected,
                      "ticket rejected: its role does not allow joining a swarm");
    }
    if (!core::covers_infohash(claims, core::as_bytes(request.info_hash))) {
        return refuse(errc::ticket_rejected, "ticket rejected: it does not cover this torrent");
    }
    if (from.ip.size() != 4 && from.ip.size() != 16) {
        return refuse(errc::bad_announce, "invalid announce: unknown peer address");
    }
    if (request.peer_id.size() != std::tuple_size_v<peer_key>) {
        return refuse(errc::bad_announce, "invalid announce: peer_id must be 20 bytes");
    }
    peer_key id{};
    std::memcpy(id.data(), request.peer_id.data(), id.size());
    const bool is_operator = *claims.role == core::ticket_role::operator_seed;

    std::lock_guard lock(impl_->mutex);
    torrent* entry = impl_->find(request.info_hash);
    if (entry == nullptr) {
        return refuse(errc::unknown_torrent, "torrent is not registered with this tracker");
    }
    if (entry->registration.state == torrent_state::disabled) {
        return refuse(errc::torrent_disabled, "torrent has been disabled by the operator");
    }
    swarm& peers = entry->peers;
    const std::int64_t limit = impl_->expiry_limit(now);
    if (peers.oldest() < limit) {
        std::size_t dropped = 0;
        impl_->sweep(*entry, now, dropped);  // from here on, every stored peer is live
    }
    std::size_t self = peers.find(id);
    const auto same_holder = [&](const peer_cold& cold) {
        // The same ticket as last time (the cache hands out one object) needs no comparison.
        return cold.admitted == verified ||
               (cold.admitted != nullptr && cold.admitted->subject == claims.subject);
    };
    if (self != swarm::npos && !same_holder(peers.cold(self)) &&
        peers.cold(self).last_seen >= limit) {
        // Another subscriber's live peer: neither take over nor remove it.
        return refuse(errc::bad_announce, "peer_id is in use by another subscriber");
    }
    if (request.event == announce_event::stopped) {
        if (self != swarm::npos) {
            peers.erase(self);
            self = swarm::npos;
        }
    } else {
        if (self == swarm::npos) {
            if (peers.size() >= impl_->settings.max_peers_per_torrent) {
                return refuse(errc::bad_announce, "swarm is full: try again later");
            }
            self = peers.add(id, ticks_of(now));
        }
        peers.set_address(self, from.ip, request.port);
        peers.touch(self, ticks_of(now));
        peers.set_flags(self, static_cast<std::uint8_t>((request.left == 0 ? seeder_flag : 0) |
                                                        (is_operator ? operator_flag : 0)));
        peer_cold& cold = peers.cold(self);
        cold.uploaded = request.uploaded;
        cold.downloaded = request.downloaded;
        cold.left = request.left;
        if (cold.admitted != verified) {
            if (!same_holder(cold)) {
                cold.counted_complete = false;
            }
            cold.admitted = verified;
        }
        if (request.event == announce_event::completed && !cold.counted_complete) {
            cold.counted_complete = true;
            ++entry->completed;
            impl_->persist_completed(*entry);
        }
    }
    // Every stored peer is live (swept above), so the counts kept by the swarm are the answer.
    const std::size_t members = peers.size();
    const std::size_t seeders = peers.seeders();
    result.complete = seeders;
    result.incomplete = members - seeders;
    result.downloaded = entry->completed;

    const bool receives_peers = request.event != announce_event::stopped &&
                                (entry->registration.state == torrent_state::active || is_operator);
    if (receives_peers) {
        const std::size_t wanted = std::min<std::size_t>(
            request.numwant.value_or(impl_->settings.default_numwant), impl_->settings.max_numwant);
        const bool with_peer_id = !request.compact && !request.no_peer_id;
        const bool self_is_seeder = request.left == 0;
        // The compact form: IPv4 peers written in place into a string sized for the most that
        // can be handed out (trimmed below), IPv6 peers (rare) appended.
        if (compact_form) {
            result.compact_peers.resize(wanted * 6 + 6);  // and room for one not taken
        }
        // IPv6 peers of the compact form (rare) and the entries form: kept apart, so that
        // hand_out() stays small enough for the compiler to inline into the loops below.
        const auto hand_out_other = [&](std::size_t at) {
            if (compact_form) {
                const std::uint16_t port = peers.hot(at).port;
                const char port_bytes[2] = {static_cast<char>(port >> 8U),
                                            static_cast<char>(port & 0xffU)};
                result.compact_peers6.append(peers.cold(at).ipv6.data(), 16);
                result.compact_peers6.append(port_bytes, 2);
                ++handed;
                return;
            }
            if (handed == result.peers.size()) {
                result.peers.emplace_back();
            }
            peer_entry& out = result.peers[handed++];
            const std::string_view address = peers.address(at);
            if (out.ip.size() != address.size()) {
                out.ip.resize(address.size());  // within the string's storage after the first
            }
            std::memcpy(out.ip.data(), address.data(), address.size());
            out.port = peers.hot(at).port;
            if (with_peer_id) {
                out.peer_id.assign(peers.cold(at).id.data(), std::tuple_size_v<peer_key>);
            } else {
                out.peer_id.clear();  // compact answers (BEP 23/7) carry no peer ids
            }
        };
        // Hands out the peer at `at` when `take` (branch-free for compact IPv4 peers: the six
        // bytes are always written, into the spare room at the end, and kept only if taken).
        const auto hand_out = [&](std::size_t at, bool take = true) {
            const peer_hot& hot = peers.hot(at);
            if (compact_form && hot.ip_size == 4) {
                char* out = result.compact_peers.data() + compact_size;
                std::memcpy(out, hot.ipv4.data(), 4);
                out[4] = static_cast<char>(hot.port >> 8U);
                out[5] = static_cast<char>(hot.port & 0xffU);
                compact_size += take ? 6 : 0;
                handed += take ? 1 : 0;
            } else if (take) {
                hand_out_other(at);
            }
        };
        // Draws up to `quota` of the `available` members that `eligible` accepts (self aside),
        // uniformly: every one when they fit the quota; else, when the quota is a large share
        // (a quarter or more), a uniform set of ranks (Floyd: the ranks taken or the ranks
        // left out, whichever are fewer) and one pass in storage order (memory read in order,
        // at most available / 2 random draws); else a partial Fisher-Yates shuffle of the
        // positions that stops once the quota is met (reads only about `quota` members).
        const auto draw = [&](std::size_t available, std::size_t quota, auto eligible) {
            if (quota == 0 || available == 0) {
                return;
            }
            if (available <= quota || quota * 4 >= available) {
                // A large share: Floyd's algorithm draws a uniform set of ranks, with one draw
                // per rank, of whichever is smaller, the ones taken or the ones left out; one
                // pass in storage order then hands out the members of the ranks taken.
                const std::size_t left_out = available > quota ? available - quota : 0;
                const bool mark_taken = quota < left_out;
                const std::size_t marks = mark_taken ? quota : left_out;
                std::vector<std::uint64_t>& marked = impl_->marked;
                marked.assign((available + 63) / 64, 0);
                const auto is_marked = [&](std::size_t rank) {
                    return ((marked[rank / 64] >> (rank % 64)) & 1U) != 0;
                };
                for (std::size_t last = available - marks; last < available; ++last) {
                    const std::size_t pick =
                        impl_->random.below(static_cast<std::uint32_t>(last + 1));
                    const std::size_t rank = is_marked(pick) ? last : pick;
                    marked[rank / 64] |= std::uint64_t{1} << (rank % 64);
                }
                std::size_t rank = 0;
                for (std::size_t at = 0; at < members && rank < available; ++at) {
                    if (at == self || !eligible(peers.hot(at).flags)) {
                        continue;
                    }
                    hand_out(at, is_marked(rank) == mark_taken);
                    ++rank;
                }
                return;
            }
            std::vector<std::uint32_t>& order = impl_->candidates;
            order.resize(members);
            for (std::size_t at = 0; at < members; ++at) {
                order[at] = static_cast<std::uint32_t>(at);
            }
            std::size_t taken = 0;
            for (std::size_t index = 0; index < members && taken < quota; ++index) {
                const std::size_t pick =
                    index + impl_->random.below(static_cast<std::uint32_t>(members - index));
                std::swap(order[index], order[pick]);
                const std::size_t at = order[index];
                if (at != self && eligible(peers.hot(at).flags)) {
                    hand_out(at);
                    ++taken;
                }
            }
        };
        const bool self_is_operator_seeder = self != swarm::npos && self_is_seeder && is_operator;
        // Operator seeders first; a seeder has no use for other seeders.
        if (!self_is_seeder) {
            const std::size_t available =
                peers.operator_seeders() - (self_is_operator_seeder ? 1 : 0);
            draw(available, wanted, [](std::uint8_t flags) {
                return (flags & operator_seeder_flags) == operator_seeder_flags;
            });
        }
        const std::size_t first = handed;
        if (self_is_seeder) {
            // Leechers only (self is a seeder, so not among them).
            draw(members - seeders, wanted - first,
                 [](std::uint8_t flags) { return (flags & seeder_flag) == 0; });
        } else {
            // Everyone but the operator seeders (handed out above) and self (a leecher).
            const std::size_t available =
                members - peers.operator_seeders() - (self != swarm::npos ? 1 : 0);
            draw(available, wanted - first, [](std::uint8_t flags) {
                return (flags & operator_seeder_flags) != operator_seeder_flags;
            });
        }
    }
    if (compact_form) {
        result.compact_peers.resize(compact_size);
    } else {
        result.peers.resize(handed);
    }
    impl_->announces.fetch_add(1, std::memory_order_relaxed);
}

std::vector<std::pair<std::string, torrent_stats>> tracker_service::scrape(
    const scrape_request& request, clock_point now, std::string& failure_reason) {
    std::vector<std::pair<std::string, torrent_stats>> out;
    if (request.ticket.empty()) {
        failure_reason = "missing ticket: scrape /scrape/<ticket>";
        impl_->refusals.fetch_add(1, std::memory_order_relaxed);
        return out;
    }
    std::error_code ec;
    const std::shared_ptr<const core::ticket_claims> verified =
        impl_->verify(request.ticket, now, ec);
    if (ec || !verified) {
        failure_reason = ticket_reason(ec);
        impl_->refusals.fetch_add(1, std::memory_order_relaxed);
        return out;
    }
    const core::ticket_claims& claims = *verified;
    std::vector<std::string> hashes = request.info_hashes;
    if (hashes.empty()) {
        for (const auto& hex : claims.infohashes) {
            const auto bytes = core::from_hex(hex, ec);
            if (!ec) {
                hashes.push_back(core::to_string(bytes).substr(0, 20));
            }
        }
    }
    std::lock_guard lock(impl_->mutex);
    for (const auto& hash : hashes) {
        if (!core::covers_infohash(claims, core::as_bytes(hash))) {
            continue;
        }
        const torrent* entry = impl_->find(hash);
        if (entry == nullptr || entry->registration.state == torrent_state::disabled) {
            continue;
        }
        out.emplace_back(hash, impl_->stats_of(*entry, now));
    }
    failure_reason.clear();
    impl_->scrapes.fetch_add(1, std::memory_order_relaxed);
    return out;
}

core::ticket_claims tracker_service::verify_service_token(std::string_view token, clock_point now,
                                                          std::error_code& ec) const {
    core::ticket_claims claims = impl_->verifier.verify(token, now, ec);
    if (ec || claims.role != core::ticket_role::service) {
        ec = errc::admin_unauthorized;
        return {};
    }
    return claims;
}

void tracker_service::register_torrent(const torrent_registration& torrent_in,
                                       std::error_code& ec) {
    const auto& v1 = torrent_in.info_hash_v1;
    const auto& v2 = torrent_in.info_hash_v2;
    if ((v1.empty() && v2.empty()) || (!v1.empty() && v1.size() != 20) ||
        (!v2.empty() && v2.size() != 32)) {
        ec = errc::bad_infohash;
        return;
    }
    std::lock_guard lock(impl_->mutex);
    if ((!v1.empty() && impl_->indexed(v1)) || (!v2.empty() && impl_->indexed(v2))) {
        ec = errc::already_registered;
        return;
    }
    auto insert = impl_->db.prepare_cached(
        "INSERT INTO torrents (info_hash_v1, info_hash_v2, doi, state, completed, registered_at)"
        " VALUES (?1, ?2, ?3, ?4, 0, ?5)",
        ec);
    const auto as_blob = [](const std::string& bytes) -> std::optional<core::byte_vector> {
        if (bytes.empty()) {
            return std::nullopt;
        }
        return core::to_bytes(bytes);
    };
    if (!ec) {
        insert.bind(1, as_blob(v1), ec);
    }
    if (!ec) {
        insert.bind(2, as_blob(v2), ec);
    }
    if (!ec) {
        insert.bind(3, torrent_in.doi, ec);
    }
    if (!ec) {
        insert.bind(4, to_string(torrent_in.state), ec);
    }
    if (!ec) {
        insert.bind(5,
                    std::chrono::duration_cast<std::chrono::seconds>(
                        std::chrono::system_clock::now().time_since_epoch())
                        .count(),
                    ec);
    }
    if (!ec) {
        insert.run(ec);
    }
    if (ec) {
        ec = errc::storage_failure;
        return;
    }
    torrent entry;
    entry.id = impl_->db.last_insert_rowid();
    entry.registration = torrent_in;
    impl_->add(std::move(entry));
    ec.clear();
}

void tracker_service::register_torrent(const torrent_registration& torrent) {
    std::error_code ec;
    register_torrent(torrent, ec);
    if (ec) {
        throw std::system_error(ec, "cannot register torrent");
    }
}

void tracker_service::set_state(std::string_view info_hash, torrent_state new_state,
                                std::error_code& ec) {
    std::lock_guard lock(impl_->mutex);
    torrent* entry = impl_->find(info_hash);
    if (entry == nullptr) {
        ec = errc::unknown_torrent;
        return;
    }
    auto update = impl_->db.prepare_cached("UPDATE torrents SET state = ?1 WHERE id = ?2", ec);
    if (!ec) {
        update.bind(1, to_string(new_state), ec);
    }
    if (!ec) {
        update.bind(2, entry->id, ec);
    }
    if (!ec) {
        update.run(ec);
    }
    if (ec) {
        ec = errc::storage_failure;
        return;
    }
    entry->registration.state = new_state;
    if (new_state == torrent_state::disabled) {
        entry->peers.clear();
    }
    ec.clear();
}

void tracker_service::set_state(std::string_view info_hash, torrent_state new_state) {
    std::error_code ec;
    set_state(info_hash, new_state, ec);
    if (ec) {
        throw std::system_error(ec, "cannot change the torrent state");
    }
}

void tracker_service::unregister_torrent(std::string_view info_hash, std::error_code& ec) {
    std::lock_guard lock(impl_->mutex);
    torrent* entry = impl_->find(info_hash);
    if (entry == nullptr) {
        ec = errc::unknown_torrent;
        return;
    }
    auto remove = impl_->db.prepare_cached("DELETE FROM torrents WHERE id = ?1", ec);
    if (!ec) {
        remove.bind(1, entry->id, ec);
    }
    if (!ec) {
        remove.run(ec);
    }
    if (ec) {
        ec = errc::storage_failure;
        return;
    }
    impl_->remove(*entry);
    ec.clear();
}

void tracker_service::unregister_torrent(std::string_view info_hash) {
    std::error_code ec;
    unregister_torrent(info_hash, ec);
    if (ec) {
        throw std::system_error(ec, "cannot unregister the torrent");
    }
}

std::optional<torrent_stats> tracker_service::stats(std::string_view info_hash, clock_point now) {
    std::lock_guard lock(impl_->mutex);
    const torrent* entry = impl_->find(info_hash);
    if (entry == nullptr) {
        return std::nullopt;
    }
    return impl_->stats_of(*entry, now);
}

std::vector<torrent_stats> tracker_service::list(clock_point now) {
    std::lock_guard lock(impl_->mutex);
    std::vector<torrent_stats> out;
    out.reserve(impl_->torrents.size());
    for (const auto& [id, entry] : impl_->torrents) {
        out.push_back(impl_->stats_of(entry, now));
    }
    std::sort(out.begin(), out.end(), [](const torrent_stats& a, const torrent_stats& b) {
        return std::tie(a.torrent.info_hash_v1, a.torrent.info_hash_v2) <
               std::tie(b.torrent.info_hash_v1, b.torrent.info_hash_v2);
    });
    return out;
}

global_stats tracker_service::totals(clock_point now) {
    global_stats out;
    {
        std::lock_guard lock(impl_->mutex);
        out.torrents = impl_->torrents.size();
        for (const auto& [id, entry] : impl_->torrents) {
            const torrent_stats one = impl_->stats_of(entry, now);
            out.seeders += one.seeders;
            out.leechers += one.leechers;
            out.completed += one.completed;
            out.uploaded += one.uploaded;
            out.downloaded += one.downloaded;
        }
    }
    out.announces = impl_->announces.load(std::memory_order_relaxed);
    out.refusals = impl_->refusals.load(std::memory_order_relaxed);
    out.scrapes = impl_->scrapes.load(std::memory_order_relaxed);
    return out;
}

std::size_t tracker_service::expire_peers(clock_point now) {
    std::lock_guard lock(impl_->mutex);
    std::size_t dropped = 0;
    for (auto& [id, entry] : impl_->torrents) {
        impl_->sweep(entry, now, dropped);
    }
    return dropped;
}

std::uint64_t tracker_service::ticket_cache_hits() const {
    return impl_->cache ? impl_->cache->hits() : 0;
}

std::string encode_failure(std::string_view reason) {
    bencode_dict dict;
    dict.emplace("failure reason", std::string(reason));
    return bencode(bencode_value(std::move(dict)));
}

namespace {

void append_integer(std::string& out, std::string_view key, std::int64_t value) {
    std::array<char, 24> digits{};
    const auto end = std::to_chars(digits.data(), digits.data() + digits.size(), value).ptr;
    out += std::to_string(key.size());
    out += ':';
    out += key;
    out += 'i';
    out.append(digits.data(), end);
    out += 'e';
}

void append_peer_string(std::string& out, std::string_view key, const announce_result& result,
                        std::size_t family, std::size_t count) {
    out += std::to_string(key.size());
    out += ':';
    out += key;
    out += std::to_string(count * (family + 2));
    out += ':';
    for (const auto& entry : result.peers) {
        if (entry.ip.size() == family) {
            out += entry.ip;
            out += static_cast<char>(entry.port >> 8);
            out += static_cast<char>(entry.port & 0xff);
        }
    }
}

/** Appends the answer's counts and intervals (the keys sorted, as bencoding requires). */
void append_counts(std::string& out, const announce_result& result) {
    append_integer(out, "complete", static_cast<std::int64_t>(result.complete));
    append_integer(out, "downloaded", static_cast<std::int64_t>(result.downloaded));
    append_integer(out, "incomplete", static_cast<std::int64_t>(result.incomplete));
    append_integer(out, "interval", static_cast<std::int64_t>(result.interval.count()));
    append_integer(out, "min interval", static_cast<std::int64_t>(result.min_interval.count()));
}

}  // namespace

std::string encode_announce_response(const announce_result& result, bool compact,
                                     bool include_peer_id) {
    if (result.error) {
        return encode_failure(result.failure_reason);
    }
    // A result in the compact form (peers empty): its strings are the answer's as they are.
    const bool from_strings =
        result.peers.empty() && (!result.compact_peers.empty() || !result.compact_peers6.empty());
    if (compact && from_strings) {
        std::string out;
        out.reserve(128 + result.compact_peers.size() + result.compact_peers6.size());
        out += 'd';
        append_counts(out, result);
        out += "5:peers";
        out += std::to_string(result.compact_peers.size());
        out += ':';
        out += result.compact_peers;
        if (!result.compact_peers6.empty()) {
            out += "6:peers6";
            out += std::to_string(result.compact_peers6.size());
            out += ':';
            out += result.compact_peers6;
        }
        out += 'e';
        return out;
    }
    if (from_strings) {
        // The list of dictionaries from the compact strings (no peer ids: they carry none).
        announce_result expanded;
        expanded.interval = result.interval;
        expanded.min_interval = result.min_interval;
        expanded.complete = result.complete;
        expanded.incomplete = result.incomplete;
        expanded.downloaded = result.downloaded;
        for (const auto* list : {&result.compact_peers, &result.compact_peers6}) {
            const std::size_t family = list == &result.compact_peers ? 4 : 16;
            for (std::size_t at = 0; at + family + 2 <= list->size(); at += family + 2) {
                peer_entry entry;
                entry.ip = list->substr(at, family);
                entry.port = static_cast<std::uint16_t>(
                    (static_cast<unsigned char>((*list)[at + family]) << 8U) |
                    static_cast<unsigned char>((*list)[at + family + 1]));
                expanded.peers.push_back(std::move(entry));
            }
        }
        return encode_announce_response(expanded, compact, include_peer_id);
    }
    if (compact) {
        // Written directly (the keys in bencode's sorted order): no dictionary is built.
        std::size_t v4 = 0;
        std::size_t v6 = 0;
        for (const auto& entry : result.peers) {
            v4 += entry.ip.size() == 4 ? 1 : 0;
            v6 += entry.ip.size() == 16 ? 1 : 0;
        }
        std::string out;
        out.reserve(128 + v4 * 6 + v6 * 18);
        out += 'd';
        append_counts(out, result);
        append_peer_string(out, "peers", result, 4, v4);
        if (v6 > 0) {
            append_peer_string(out, "peers6", result, 16, v6);
        }
        out += 'e';
        return out;
    }
    bencode_dict dict;
    dict.emplace("interval", static_cast<std::int64_t>(result.interval.count()));
    dict.emplace("min interval", static_cast<std::int64_t>(result.min_interval.count()));
    dict.emplace("complete", static_cast<std::int64_t>(result.complete));
    dict.emplace("incomplete", static_cast<std::int64_t>(result.incomplete));
    dict.emplace("downloaded", static_cast<std::int64_t>(result.downloaded));
    bencode_list peers;
    for (const auto& entry : result.peers) {
        bencode_dict one;
        std::string text;
        if (entry.ip.size() == 4) {
            for (std::size_t i = 0; i < 4; ++i) {
                text += (i ? "." : "") + std::to_string(static_cast<unsigned char>(entry.ip[i]));
            }
        } else {
            static constexpr char digits[] = "0123456789abcdef";
            for (std::size_t i = 0; i < 16; i += 2) {
                if (i) {
                    text += ':';
                }
                const unsigned high = static_cast<unsigned char>(entry.ip[i]);
                const unsigned low = static_cast<unsigned char>(entry.ip[i + 1]);
                for (const unsigned nibble : {high >> 4U, high & 15U, low >> 4U, low & 15U}) {
                    text += digits[nibble];
                }
            }
        }
        one.emplace("ip", std::move(text));
        one.emplace("port", static_cast<std::int64_t>(entry.port));
        if (include_peer_id) {
            one.emplace("peer id", entry.peer_id);
        }
        peers.emplace_back(std::move(one));
    }
    dict.emplace("peers", std::move(peers));
    return bencode(bencode_value(std::move(dict)));
}

}  // namespace imsp2p::tracker
