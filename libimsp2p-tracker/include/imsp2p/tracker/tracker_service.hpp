/**
 * @file
 * The operator-controlled tracker, independent of any transport: the registry of torrents the
 * AS registered (persisted in SQLite), the live swarms (in memory), ticket admission and the
 * statistics. The HTTP server (tracker_server.hpp) and the UDP server (udp_tracker_server.hpp) feed
 * it requests.
 *
 * Admission of an announce, in order (each refusal has its own `failure reason`):
 * a ticket in the path; a ticket signed by a configured AS key, audience "tracker", within its
 * time window; whose "ih" claim covers the announced hash (v1, or v2 truncated, BEP 52); whose
 * role is leech, seed or operator-seed; a torrent registered by the AS; not disabled.
 * Muted torrents admit peers but give peers only to operator-seed peers. Operator seeders are
 * always offered first.
 *
 * Thread safety: every member function may be called from any thread concurrently (one
 * internal mutex; ticket verification runs outside it, with a verified_ticket_cache).
 */
#pragma once

#include <imsp2p/tracker/export.hpp>
#include <imsp2p/tracker/request.hpp>

#include <imsp2p/core/jose.hpp>
#include <imsp2p/core/ticket.hpp>

#include <array>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <system_error>
#include <vector>

namespace imsp2p::tracker {

/** The operator's state of a torrent. */
enum class torrent_state {
    active,    ///< Announces are served normally.
    disabled,  ///< Announces are refused and the swarm's peers dropped.
    muted,     ///< Peers are admitted, but only operator-seed peers receive peers.
};

/** @return "active", "disabled" or "muted". @param state a state */
IMSP2P_TRACKER_EXPORT std::string_view to_string(torrent_state state) noexcept;
/** Parses "active", "disabled" or "muted". @param text the text @return the state or nullopt */
IMSP2P_TRACKER_EXPORT std::optional<torrent_state> parse_torrent_state(
    std::string_view text) noexcept;

/** Settings of a tracker_service. A plain value type. */
struct tracker_settings {
    /** The AS public keys that sign tickets and service JWTs. */
    core::jwk_set as_keys;
    /** If not empty, tickets must carry this "iss". */
    std::string expected_issuer;
    /** Clock leeway for ticket time checks. */
    std::chrono::seconds ticket_leeway{60};
    /** Capacity of the verified-ticket cache (0 disables caching). */
    std::size_t ticket_cache_capacity = 65536;
    /** "interval" sent to peers. */
    std::chrono::seconds announce_interval{1800};
    /** "min interval" sent to peers. */
    std::chrono::seconds min_announce_interval{300};
    /** A peer that has not announced for this long is dropped (should exceed the interval). */
    std::chrono::seconds peer_expiry{2700};
    /** Peers returned when the request has no numwant. */
    std::uint32_t default_numwant = 50;
    /** Most peers returned in one response. */
    std::uint32_t max_numwant = 200;
    /** Most live peers per torrent; new peers beyond it are refused. */
    std::size_t max_peers_per_torrent = 100000;
    /** The SQLite file; empty means an in-memory database (nothing survives). */
    std::filesystem::path database_path;
    /** Request parser bounds. */
    request_limits limits;
};

/** A torrent as registered by the AS. */
struct torrent_registration {
    /** v1 infohash (20 bytes) or empty. */
    std::string info_hash_v1;
    /** v2 infohash (32 bytes) or empty. At least one of the two is set. */
    std::string info_hash_v2;
    /** The content's DOI (informative). */
    std::string doi;
    /** The operator state. */
    torrent_state state = torrent_state::active;
};

/** Statistics of one torrent. */
struct torrent_stats {
    /** The registration. */
    torrent_registration torrent;
    /** Live peers with nothing left to download. */
    std::uint64_t seeders = 0;
    /** Live peers still downloading. */
    std::uint64_t leechers = 0;
    /** Live operator-seed peers (included in seeders or leechers). */
    std::uint64_t operator_seeders = 0;
    /** "completed" events ever received (persisted). */
    std::uint64_t completed = 0;
    /** Sum of "uploaded" last reported by the live peers. */
    std::uint64_t uploaded = 0;
    /** Sum of "downloaded" last reported by the live peers. */
    std::uint64_t downloaded = 0;
};

/** Statistics of the whole tracker, for the AS to pick the least-loaded tracker. */
struct global_stats {
    /** Registered torrents. */
    std::uint64_t torrents = 0;
    /** Live seeders over all torrents. */
    std::uint64_t seeders = 0;
    /** Live leechers over all torrents. */
    std::uint64_t leechers = 0;
    /** Completed downloads over all torrents. */
    std::uint64_t completed = 0;
    /** Sum of uploaded bytes reported by live peers. */
    std::uint64_t uploaded = 0;
    /** Sum of downloaded bytes reported by live peers. */
    std::uint64_t downloaded = 0;
    /** Announces answered with peers (since start). */
    std::uint64_t announces = 0;
    /** Announces and scrapes refused (since start). */
    std::uint64_t refusals = 0;
    /** Scrapes answered (since start). */
    std::uint64_t scrapes = 0;
};

/** The address of a peer as seen by the transport. */
struct peer_address {
    /** 4 bytes (IPv4) or 16 bytes (IPv6), network order. IPv4-mapped IPv6 should be unmapped. */
    std::string ip;
};

/** One peer in an announce answer. */
struct peer_entry {
    /** 4 or 16 bytes. */
    std::string ip;
    /** The listening port. */
    std::uint16_t port = 0;
    /** The 20-byte peer id; empty when the request asked for a compact answer (BEP 23/7
     *  strings carry no ids) or sent no_peer_id=1. */
    std::string peer_id;
};

/** The outcome of an announce, before encoding. */
struct announce_result {
    /** Set when refused; failure_reason then says why. */
    std::error_code error;
    /** The `failure reason` for the peer (empty on success). */
    std::string failure_reason;
    /** "interval". */
    std::chrono::seconds interval{};
    /** "min interval". */
    std::chrono::seconds min_interval{};
    /** "complete": live seeders. */
    std::uint64_t complete = 0;
    /** "incomplete": live leechers. */
    std::uint64_t incomplete = 0;
    /** "downloaded": completed count. */
    std::uint64_t downloaded = 0;
    /** The peers handed out (operator seeders first); empty when the result was produced in
     *  the compact form (see peer_list_form). */
    std::vector<peer_entry> peers;
    /** The compact form (peer_list_form::compact) of the IPv4 peers handed out: 6 bytes each
     *  (address, port; network order, BEP 23), in the order they were handed out; empty
     *  otherwise. */
    std::string compact_peers;
    /** The compact form of the IPv6 peers handed out: 18 bytes each (BEP 7); empty otherwise.
     */
    std::string compact_peers6;
};

/** How tracker_service::announce() writes the peers it hands out into an announce_result. */
enum class peer_list_form {
    entries,  ///< One peer_entry each in announce_result::peers (compact strings left empty).
    compact,  ///< Only announce_result::compact_peers / compact_peers6 (peers left empty): for
              ///< a compact answer, with no per-peer copy.
};

/**
 * The tracker state and logic. Owns its SQLite database. Not copyable or movable.
 */
class IMSP2P_TRACKER_EXPORT tracker_service {
  public:
    /**
     * Opens (or creates) the database, migrates it and loads the registered torrents.
     * @param settings the settings (copied)
     * @param ec storage_failure (with the database error logged in the message) on failure
     * @return the service, null on error
     */
    static std::unique_ptr<tracker_service> open(tracker_settings settings, std::error_code& ec);
    /** Throwing form of open(). @throws std::system_error */
    static std::unique_ptr<tracker_service> open(tracker_settings settings);

    /** Closes the database. */
    ~tracker_service();
    tracker_service(const tracker_service&) = delete;
    tracker_service& operator=(const tracker_service&) = delete;

    /** @return the settings. */
    [[nodiscard]] const tracker_settings& settings() const noexcept;
    /** @return the verifier for tickets and service JWTs (audience "tracker"). */
    [[nodiscard]] const core::ticket_verifier& verifier() const noexcept;

    /**
     * Handles an announce.
     * @param request the parsed request
     * @param from the peer's address as seen on the connection
     * @param now the current time
     * @return the result; on refusal, error and failure_reason are set (a peer_id that is not
     *         20 bytes, as both transports' parsers require, is refused with bad_announce)
     */
    announce_result announce(const announce_request& request, const peer_address& from,
                             std::chrono::system_clock::time_point now);

    /**
     * Handles an announce into a result the caller keeps: as the overload above, but the
     * peer list reuses its storage, so a server that keeps one result per thread allocates
     * nothing per announce. The peer_id must be 20 bytes (else bad_announce).
     * @param request the parsed request
     * @param from the peer's address as seen on the connection
     * @param now the current time
     * @param result overwritten with the outcome (every member is set); on refusal, error and
     *        failure_reason are set and peers is empty
     */
    void announce(const announce_request& request, const peer_address& from,
                  std::chrono::system_clock::time_point now, announce_result& result);

    /**
     * As the overload above, with the peers written in the given form: the compact form
     * suits a compact answer (UDP, or HTTP with compact=1), which then needs no per-peer
     * strings. Admission and the choice of peers are the same in both forms.
     * @param request the parsed request
     * @param from the peer's address as seen on the connection
     * @param now the current time
     * @param result overwritten with the outcome (every member is set); on refusal, error and
     *        failure_reason are set and no peers are given in either form
     * @param form entries: `peers` (compact strings emptied); compact: `compact_peers` and
     *        `compact_peers6` (`peers` emptied)
     */
    void announce(const announce_request& request, const peer_address& from,
                  std::chrono::system_clock::time_point now, announce_result& result,
                  peer_list_form form);

    /**
     * Handles a scrape (BEP 48): requires a valid ticket; answers only for registered,
     * not disabled torrents that the ticket covers.
     * @param request the parsed request (no hashes: every torrent the ticket covers)
     * @param now the current time
     * @param failure_reason receives the reason when the scrape is refused
     * @return per 20-byte infohash: its stats; empty when refused
     */
    std::vector<std::pair<std::string, torrent_stats>> scrape(
        const scrape_request& request, std::chrono::system_clock::time_point now,
        std::string& failure_reason);

    /**
     * Verifies a service JWT for the admin API: audience "tracker", role "service".
     * @param token the bearer token
     * @param now the current time
     * @param ec admin_unauthorized, cleared on success
     * @return the claims (subject: the calling service)
     */
    core::ticket_claims verify_service_token(std::string_view token,
                                             std::chrono::system_clock::time_point now,
                                             std::error_code& ec) const;

    /**
     * Registers a torrent (persisted).
     * @param torrent the registration; at least one infohash, of the right size
     * @param ec bad_infohash, already_registered, storage_failure; cleared on success
     */
    void register_torrent(const torrent_registration& torrent, std::error_code& ec);
    /** Throwing form of register_torrent(). @throws std::system_error */
    void register_torrent(const torrent_registration& torrent);

    /**
     * Changes a torrent's state (persisted); disabling drops its peers at once.
     * @param info_hash 20 bytes (v1 or truncated v2) or 32 bytes (v2)
     * @param state the new state
     * @param ec unknown_torrent, storage_failure; cleared on success
     */
    void set_state(std::string_view info_hash, torrent_state state, std::error_code& ec);
    /** Throwing form of set_state(). @throws std::system_error */
    void set_state(std::string_view info_hash, torrent_state state);

    /**
     * Unregisters a torrent: drops its live peers and deletes its row (persisted). Later
     * announces for it are refused with unknown_torrent; it may be registered again.
     * @param info_hash 20 bytes (v1 or truncated v2) or 32 bytes (v2)
     * @param ec unknown_torrent, storage_failure (nothing changed); cleared on success
     */
    void unregister_torrent(std::string_view info_hash, std::error_code& ec);
    /** Throwing form of unregister_torrent(). @param info_hash as above @throws std::system_error
     */
    void unregister_torrent(std::string_view info_hash);

    /**
     * @param info_hash 20 or 32 bytes
     * @param now the current time (expired peers are not counted)
     * @return the torrent's statistics, nullopt if not registered
     */
    std::optional<torrent_stats> stats(std::string_view info_hash,
                                       std::chrono::system_clock::time_point now);
    /** @param now the current time @return every registered torrent's statistics */
    std::vector<torrent_stats> list(std::chrono::system_clock::time_point now);
    /** @param now the current time @return the global statistics */
    global_stats totals(std::chrono::system_clock::time_point now);

    /**
     * Drops peers that have not announced within peer_expiry.
     * @param now the current time
     * @return the number of peers dropped
     */
    std::size_t expire_peers(std::chrono::system_clock::time_point now);

    /** @return how many ticket verifications were answered from the cache. */
    [[nodiscard]] std::uint64_t ticket_cache_hits() const;

  private:
    struct state;
    explicit tracker_service(std::unique_ptr<state> impl);
    std::unique_ptr<state> impl_;
};

/**
 * Encodes an announce result as the bencoded body of the HTTP answer.
 * @param result the result (a refusal becomes {"failure reason": ...}); its peers are taken
 *        from `peers`, or from the compact strings when `peers` is empty
 * @param compact true: "peers" (BEP 23) and "peers6" (BEP 7) strings; false: a list of dicts
 * @param include_peer_id in the non-compact form, include "peer id"
 * @return the bencoded dictionary
 */
IMSP2P_TRACKER_EXPORT std::string encode_announce_response(const announce_result& result,
                                                           bool compact, bool include_peer_id);

/**
 * Encodes a failure as a bencoded dictionary {"failure reason": reason}.
 * @param reason the text
 * @return the bencoded dictionary
 */
IMSP2P_TRACKER_EXPORT std::string encode_failure(std::string_view reason);

}  // namespace imsp2p::tracker
