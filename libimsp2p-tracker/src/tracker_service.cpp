#include <imsp2p/tracker/tracker_service.hpp>

#include <imsp2p/tracker/bencode.hpp>
#include <imsp2p/tracker/error.hpp>

#include <imsp2p/core/bytes.hpp>
#include <imsp2p/core/database.hpp>
#include <imsp2p/core/encoding.hpp>

#include <algorithm>
#include <atomic>
#include <mutex>
#include <random>
#include <unordered_map>
#include <utility>

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

struct peer {
    std::string id;  // the peer id (20 bytes)
    std::string ip;
    std::uint16_t port = 0;
    std::uint64_t uploaded = 0;
    std::uint64_t downloaded = 0;
    std::uint64_t left = 0;
    bool operator_seed = false;
    bool counted_complete = false;
    std::string subject;  // the ticket holder (IMPU) who announced this peer id
    clock_point last_seen{};
};

/**
 * The peers of one torrent, stored contiguously (the announce pass over a whole swarm then
 * reads memory in order instead of chasing one hash node per peer) and indexed by peer id.
 * Removal moves the last peer into the hole, so pointers to peers are valid until the next
 * add() or erase().
 */
class swarm {
  public:
    [[nodiscard]] peer* find(const std::string& id) {
        const auto found = index_.find(id);
        return found == index_.end() ? nullptr : &members_[found->second];
    }
    peer& add(const std::string& id) {
        index_.emplace(id, members_.size());
        try {
            members_.emplace_back();
        } catch (...) {
            index_.erase(id);
            throw;
        }
        members_.back().id = id;
        return members_.back();
    }
    void erase(const peer& member) {
        const auto at = static_cast<std::size_t>(&member - members_.data());
        index_.erase(member.id);
        if (at + 1 != members_.size()) {
            members_[at] = std::move(members_.back());
            index_.find(members_[at].id)->second = at;
        }
        members_.pop_back();
    }
    void clear() noexcept {
        members_.clear();
        index_.clear();
    }
    [[nodiscard]] std::size_t size() const noexcept { return members_.size(); }
    [[nodiscard]] peer& operator[](std::size_t at) noexcept { return members_[at]; }
    [[nodiscard]] std::vector<peer>::const_iterator begin() const noexcept {
        return members_.begin();
    }
    [[nodiscard]] std::vector<peer>::const_iterator end() const noexcept { return members_.end(); }

  private:
    std::vector<peer> members_;
    std::unordered_map<std::string, std::size_t> index_;  // peer id -> position in members_
};

struct torrent {
    std::int64_t id = 0;
    torrent_registration registration;
    std::uint64_t completed = 0;
    swarm peers;
    clock_point last_sweep{};
};

std::string ticket_reason(const std::error_code& ec) {
    return "ticket rejected: " + ec.message();
}

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
    std::unordered_map<std::string, std::int64_t> by_hash;  // 20-byte key -> id
    std::mt19937_64 random{std::random_device{}()};

    std::atomic<std::uint64_t> announces{0};
    std::atomic<std::uint64_t> refusals{0};
    std::atomic<std::uint64_t> scrapes{0};

    core::ticket_claims verify(std::string_view token, clock_point now, std::error_code& ec) {
        if (cache) {
            return cache->verify(verifier, token, now, ec);
        }
        return verifier.verify(token, now, ec);
    }

    torrent* find(std::string_view info_hash) {
        const auto key = std::string(info_hash.substr(0, 20));
        if (info_hash.size() != 20 && info_hash.size() != 32) {
            return nullptr;
        }
        const auto found = by_hash.find(key);
        if (found == by_hash.end()) {
            return nullptr;
        }
        torrent& entry = torrents.at(found->second);
        if (info_hash.size() == 32 && entry.registration.info_hash_v2 != info_hash) {
            return nullptr;
        }
        return &entry;
    }

    void sweep(torrent& entry, clock_point now, std::size_t& dropped) {
        const auto limit = now - settings.peer_expiry;
        for (std::size_t at = 0; at < entry.peers.size();) {
            if (entry.peers[at].last_seen < limit) {
                entry.peers.erase(entry.peers[at]);  // the last peer moves to `at`
                ++dropped;
            } else {
                ++at;
            }
        }
        entry.last_sweep = now;
    }

    torrent_stats stats_of(const torrent& entry, clock_point now) const {
        torrent_stats out;
        out.torrent = entry.registration;
        out.completed = entry.completed;
        const auto limit = now - settings.peer_expiry;
        for (const peer& member : entry.peers) {
            if (member.last_seen < limit) {
                continue;
            }
            (member.left == 0 ? out.seeders : out.leechers) += 1;
            out.operator_seeders += member.operator_seed ? 1 : 0;
            out.uploaded += member.uploaded;
            out.downloaded += member.downloaded;
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
        if (!entry.registration.info_hash_v1.empty()) {
            impl->by_hash[entry.registration.info_hash_v1] = entry.id;
        }
        if (!entry.registration.info_hash_v2.empty()) {
            impl->by_hash[entry.registration.info_hash_v2.substr(0, 20)] = entry.id;
        }
        impl->torrents.emplace(entry.id, std::move(entry));
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
    result.interval = impl_->settings.announce_interval;
    result.min_interval = impl_->settings.min_announce_interval;
    auto refuse = [&](errc code, std::string reason) {
        result.error = code;
        result.failure_reason = std::move(reason);
        result.peers.clear();
        impl_->refusals.fetch_add(1, std::memory_order_relaxed);
        return result;
    };
    if (request.ticket.empty()) {
        return refuse(errc::missing_ticket, "missing ticket: announce to /announce/<ticket>");
    }
    std::error_code ec;
    const core::ticket_claims claims = impl_->verify(request.ticket, now, ec);
    if (ec) {
        return refuse(errc::ticket_rejected, ticket_reason(ec));
    }
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
    const bool is_operator = *claims.role == core::ticket_role::operator_seed;

    std::lock_guard lock(impl_->mutex);
    torrent* entry = impl_->find(request.info_hash);
    if (entry == nullptr) {
        return refuse(errc::unknown_torrent, "torrent is not registered with this tracker");
    }
    if (entry->registration.state == torrent_state::disabled) {
        return refuse(errc::torrent_disabled, "torrent has been disabled by the operator");
    }
    std::size_t dropped = 0;
    if (now - entry->last_sweep > std::chrono::seconds(30)) {
        impl_->sweep(*entry, now, dropped);
    }
    peer* found = entry->peers.find(request.peer_id);
    if (found != nullptr && found->subject != claims.subject &&
        found->last_seen >= now - impl_->settings.peer_expiry) {
        // Another subscriber's live peer: neither take over nor remove it.
        return refuse(errc::bad_announce, "peer_id is in use by another subscriber");
    }
    // The announcing peer's own entry (none once stopped): compared by address in the pass
    // below rather than by peer id, which would cost a string comparison per swarm member.
    const peer* self_member = nullptr;
    if (request.event == announce_event::stopped) {
        if (found != nullptr) {
            entry->peers.erase(*found);
        }
    } else {
        if (found == nullptr) {
            if (entry->peers.size() >= impl_->settings.max_peers_per_torrent) {
                return refuse(errc::bad_announce, "swarm is full: try again later");
            }
            found = &entry->peers.add(request.peer_id);
        }
        self_member = found;
        peer& self = *found;
        self.ip = from.ip;
        self.port = request.port;
        self.uploaded = request.uploaded;
        self.downloaded = request.downloaded;
        self.left = request.left;
        self.operator_seed = is_operator;
        self.last_seen = now;
        if (self.subject != claims.subject) {
            self.subject = claims.subject;
            self.counted_complete = false;
        }
        if (request.event == announce_event::completed && !self.counted_complete) {
            self.counted_complete = true;
            ++entry->completed;
            impl_->persist_completed(*entry);
        }
    }

    // One pass over the swarm both counts live seeders/leechers and collects the candidates;
    // then a partial Fisher-Yates shuffle draws only the peers handed out (operator seeders
    // first). Compact answers (BEP 23/7) carry no peer ids, so none are copied for them.
    const bool receives_peers = request.event != announce_event::stopped &&
                                (entry->registration.state == torrent_state::active || is_operator);
    const bool self_is_seeder = request.left == 0;
    const auto limit = now - impl_->settings.peer_expiry;
    using member_pointer = const peer*;
    thread_local std::vector<member_pointer> first;
    thread_local std::vector<member_pointer> others;
    first.clear();
    others.clear();
    std::uint32_t seeders = 0;
    std::uint32_t leechers = 0;
    for (const peer& member : entry->peers) {
        if (member.last_seen < limit) {
            continue;
        }
        const bool seeder = member.left == 0;
        ++(seeder ? seeders : leechers);
        if (!receives_peers || &member == self_member || (self_is_seeder && seeder)) {
            continue;  // a seeder has no use for other seeders
        }
        (member.operator_seed && seeder ? first : others).push_back(&member);
    }
    result.complete = seeders;
    result.incomplete = leechers;
    result.downloaded = entry->completed;

    if (receives_peers) {
        const std::size_t wanted = std::min(
            request.numwant.value_or(impl_->settings.default_numwant), impl_->settings.max_numwant);
        const bool with_peer_id = !request.compact && !request.no_peer_id;
        result.peers.reserve(std::min(wanted, first.size() + others.size()));
        for (auto* list : {&first, &others}) {
            const std::size_t size = list->size();
            for (std::size_t index = 0; index < size && result.peers.size() < wanted; ++index) {
                std::uniform_int_distribution<std::size_t> pick(index, size - 1);
                std::swap((*list)[index], (*list)[pick(impl_->random)]);
                const auto* member = (*list)[index];
                result.peers.push_back(
                    {member->ip, member->port, with_peer_id ? member->id : std::string()});
            }
        }
    }
    impl_->announces.fetch_add(1, std::memory_order_relaxed);
    return result;
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
    const core::ticket_claims claims = impl_->verify(request.ticket, now, ec);
    if (ec) {
        failure_reason = ticket_reason(ec);
        impl_->refusals.fetch_add(1, std::memory_order_relaxed);
        return out;
    }
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
    if ((!v1.empty() && impl_->by_hash.contains(v1)) ||
        (!v2.empty() && impl_->by_hash.contains(v2.substr(0, 20)))) {
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
    if (!v1.empty()) {
        impl_->by_hash[v1] = entry.id;
    }
    if (!v2.empty()) {
        impl_->by_hash[v2.substr(0, 20)] = entry.id;
    }
    impl_->torrents.emplace(entry.id, std::move(entry));
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
    const std::int64_t id = entry->id;
    if (!entry->registration.info_hash_v1.empty()) {
        impl_->by_hash.erase(entry->registration.info_hash_v1);
    }
    if (!entry->registration.info_hash_v2.empty()) {
        impl_->by_hash.erase(entry->registration.info_hash_v2.substr(0, 20));
    }
    impl_->torrents.erase(id);
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

std::string encode_announce_response(const announce_result& result, bool compact,
                                     bool include_peer_id) {
    if (result.error) {
        return encode_failure(result.failure_reason);
    }
    bencode_dict dict;
    dict.emplace("interval", static_cast<std::int64_t>(result.interval.count()));
    dict.emplace("min interval", static_cast<std::int64_t>(result.min_interval.count()));
    dict.emplace("complete", static_cast<std::int64_t>(result.complete));
    dict.emplace("incomplete", static_cast<std::int64_t>(result.incomplete));
    dict.emplace("downloaded", static_cast<std::int64_t>(result.downloaded));
    if (compact) {
        std::string peers;
        std::string peers6;
        for (const auto& entry : result.peers) {
            std::string& target = entry.ip.size() == 4 ? peers : peers6;
            target += entry.ip;
            target += static_cast<char>(entry.port >> 8);
            target += static_cast<char>(entry.port & 0xff);
        }
        dict.emplace("peers", std::move(peers));
        if (!peers6.empty()) {
            dict.emplace("peers6", std::move(peers6));
        }
    } else {
        bencode_list peers;
        for (const auto& entry : result.peers) {
            bencode_dict one;
            std::string text;
            if (entry.ip.size() == 4) {
                for (std::size_t i = 0; i < 4; ++i) {
                    text +=
                        (i ? "." : "") + std::to_string(static_cast<unsigned char>(entry.ip[i]));
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
    }
    return bencode(bencode_value(std::move(dict)));
}

}  // namespace imsp2p::tracker
