/**
 * @file
 * Access tickets: JWTs (RFC 7519) signed EdDSA/Ed25519 by the Application Server (RFC 8037),
 * verified by the tracker and the DRM server with the AS public key only.
 *
 * Claims: iss, sub (the IMPU), aud ("tracker", "drm" or a service name), iat, nbf (optional),
 * exp, jti, and the imsp2p claims "ih" (infohashes, lower-case hex: 40 digits for v1, 64 for
 * v2), "role" ("leech", "seed", "operator-seed", "service"), "doi" and "cnf" ({"jkt": RFC 7638
 * thumbprint of the device key}, RFC 7800). Times are NumericDate seconds.
 *
 * Thread safety: ticket_issuer and ticket_verifier are safe for concurrent const use (issue(),
 * verify()); configuring a verifier (add_key(), set_...()) needs exclusive access.
 * verified_ticket_cache is fully thread-safe.
 */
#pragma once

#include <imsp2p/core/bytes.hpp>
#include <imsp2p/core/crypto.hpp>
#include <imsp2p/core/error.hpp>
#include <imsp2p/core/export.hpp>
#include <imsp2p/core/jose.hpp>

#include <nlohmann/json.hpp>

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <initializer_list>
#include <list>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <system_error>
#include <unordered_map>
#include <vector>

namespace imsp2p::core {

/** What a ticket allows its holder to do (claim "role"). */
enum class ticket_role {
    leech,          ///< "leech": download the content (a paying consumer).
    seed,           ///< "seed": upload the content (its publisher).
    operator_seed,  ///< "operator-seed": an operator seed box (may also receive muted swarms).
    service,        ///< "service": a service call from the AS (service JWTs).
};

/**
 * @param role a role
 * @return its claim value: "leech", "seed", "operator-seed" or "service"
 */
IMSP2P_CORE_EXPORT std::string_view to_string(ticket_role role) noexcept;

/**
 * Parses a "role" claim value (exact, case-sensitive).
 * @param text the claim value
 * @return the role, or std::nullopt if the text is not one of the four values
 */
IMSP2P_CORE_EXPORT std::optional<ticket_role> parse_ticket_role(std::string_view text) noexcept;

/** A JWT NumericDate: seconds since the Unix epoch, UTC. */
using ticket_time = std::chrono::sys_seconds;

/**
 * The claims of a ticket. A plain value type.
 *
 * Parsing accepts a NumericDate with a fraction (rounded toward the stricter side: exp down,
 * iat/nbf up) and an "aud" array of strings (audience is then the expected audience if listed,
 * else the first element); serialising writes integers and a single "aud" string.
 */
struct IMSP2P_CORE_EXPORT ticket_claims {
    /** "iss": who issued the ticket (the AS). Required. */
    std::string issuer;
    /** "sub": the holder's IMPU (e.g. "sip:alice@ims.example"). Required. */
    std::string subject;
    /** "aud": the service the ticket is for: "tracker", "drm" or a service name. Required. */
    std::string audience;
    /** "iat": when the ticket was issued. Required. */
    ticket_time issued_at{};
    /** "nbf": the ticket is not valid before this time. Optional. */
    std::optional<ticket_time> not_before;
    /** "exp": the ticket is not valid from this time on. Required, after issued_at. */
    ticket_time expires_at{};
    /** "jti": a unique ticket id. Required (ticket_issuer fills in a random one if empty). */
    std::string id;
    /** "ih": infohashes the ticket covers, lower-case hex (40 or 64 digits); empty: absent. */
    std::vector<std::string> infohashes;
    /** "role": what the holder may do; optional (service JWTs may omit it). */
    std::optional<ticket_role> role;
    /** "doi": the content's DOI, e.g. on a license grant token. Optional. */
    std::optional<std::string> doi;
    /** "cnf": {"jkt": thumbprint}: the RFC 7638 thumbprint of the key the holder must prove. */
    std::optional<std::string> confirmation_thumbprint;
    /** Every other claim, as a JSON object (must not repeat the names above). */
    nlohmann::json extra = nlohmann::json::object();

    /**
     * @return the JWT claims set: registered claims, then the members of `extra`
     */
    [[nodiscard]] nlohmann::json to_json() const;

    /**
     * Reads and checks a claims set.
     * @param json the JWT payload object
     * @param ec ticket_malformed (not an object), ticket_missing_claim (iss, sub, aud, iat, exp or
     *        jti absent), ticket_bad_claim (a claim of the wrong type or value: empty strings,
     *        a NumericDate outside 0..253402300799, exp not after iat, an "ih" entry that is not
     *        40/64 lower-case hex, an unknown role, a "cnf" without a "jkt" string)
     * @return the claims, default-constructed on error
     */
    static ticket_claims from_json(const nlohmann::json& json, std::error_code& ec);
    /** Throwing form of from_json(). @throws std::system_error naming the claim */
    static ticket_claims from_json(const nlohmann::json& json);

    /** Compares every member. */
    bool operator==(const ticket_claims& other) const = default;
};

/**
 * Tells whether a ticket covers an infohash.
 * @param claims the verified claims
 * @param infohash hex of a v1 infohash (40 digits), a v2 infohash (64 digits), or a v2
 *        infohash truncated to 20 bytes (40 digits), as BEP 52 trackers see it; either case
 * @return true if one of the ticket's "ih" entries matches; false for malformed input
 */
IMSP2P_CORE_EXPORT bool covers_infohash(const ticket_claims& claims,
                                        std::string_view infohash) noexcept;
/**
 * Tells whether a ticket covers a raw infohash, as found in an announce request.
 * @param claims the verified claims
 * @param infohash 20 bytes (v1, or v2 truncated) or 32 bytes (v2)
 * @return true if one of the ticket's "ih" entries matches
 */
IMSP2P_CORE_EXPORT bool covers_infohash(const ticket_claims& claims, byte_view infohash) noexcept;
/**
 * Checks that a ticket covers an infohash.
 * @param claims the verified claims
 * @param infohash as for covers_infohash(const ticket_claims&, std::string_view)
 * @param ec set to errc::ticket_wrong_infohash if not covered
 */
IMSP2P_CORE_EXPORT void require_infohash(const ticket_claims& claims, std::string_view infohash,
                                         std::error_code& ec) noexcept;

/**
 * @param claims the verified claims
 * @return true if the role lets the holder upload: seed or operator-seed
 */
IMSP2P_CORE_EXPORT bool may_seed(const ticket_claims& claims) noexcept;
/**
 * @param claims the verified claims
 * @return true if the role lets the holder join the swarm to download: leech, seed or
 *         operator-seed (a seeder may need to download to repair or resume)
 */
IMSP2P_CORE_EXPORT bool may_download(const ticket_claims& claims) noexcept;
/**
 * Checks that a ticket's role is one of the allowed ones.
 * @param claims the verified claims
 * @param allowed the acceptable roles
 * @param ec set to errc::ticket_role_not_allowed if the role is absent or not listed
 */
IMSP2P_CORE_EXPORT void require_role(const ticket_claims& claims,
                                     std::initializer_list<ticket_role> allowed,
                                     std::error_code& ec) noexcept;

/**
 * Issues tickets: signs claims as a compact JWS with header {"alg":"EdDSA","kid":..,"typ":"JWT"}.
 *
 * Holds a (shared, immutable) Ed25519 private key; copies share it. Thread-safe for issue().
 */
class IMSP2P_CORE_EXPORT ticket_issuer {
  public:
    /**
     * Creates an issuer.
     * @param key the AS signing key (must not be empty, else issue() fails with bad_key)
     * @param kid the key id published with the public key in the AS's JWK Set
     * @param issuer the "iss" put in claims that leave it empty (e.g. "sip:as.ims.example")
     */
    ticket_issuer(ed25519_private_key key, std::string kid, std::string issuer = {});

    /** @return the key id. */
    [[nodiscard]] const std::string& kid() const noexcept { return kid_; }
    /** @return the default issuer. */
    [[nodiscard]] const std::string& issuer() const noexcept { return issuer_; }
    /** @return the public key matching the signing key. */
    [[nodiscard]] ed25519_public_key public_key() const;
    /** @return the public key as a JWK with "kid", "use":"sig" and "alg":"EdDSA", to publish. */
    [[nodiscard]] jwk public_jwk() const;

    /**
     * Signs claims as a ticket.
     *
     * Fills in "iss" (the default issuer) and "jti" (128 random bits, base64url) when they are
     * empty, and lower-cases the "ih" entries. The caller sets "iat" and "exp".
     * @param claims the claims
     * @param ec invalid_argument (no issuer, subject or audience; exp not after iat; an "ih"
     *        entry that is not 40/64 hex digits; `extra` not an object or repeating a
     *        registered claim), bad_key (empty key), crypto_failure
     * @return the compact JWS, empty on error
     */
    std::string issue(const ticket_claims& claims, std::error_code& ec) const;
    /** Throwing form of issue(). @throws std::system_error naming the offending claim */
    std::string issue(const ticket_claims& claims) const;

  private:
    ed25519_private_key key_;
    std::string kid_;
    std::string issuer_;
};

/**
 * Verifies tickets: signature by a trusted key (selected by "kid"), then the claims against the
 * expected audience, the expected issuer (if set) and the time window with a leeway.
 *
 * The header must carry alg EdDSA, no "crit", and "typ" absent or "JWT" (case-insensitive), so
 * other JWS documents (licenses) are not accepted as tickets. A header without "kid" is accepted
 * only when exactly one key is trusted. The payload must be a JSON object without duplicate
 * member names (nested at most 16 deep).
 */
class IMSP2P_CORE_EXPORT ticket_verifier {
  public:
    /**
     * Creates a verifier without keys.
     * @param expected_audience the "aud" this service accepts, e.g. "tracker"
     */
    explicit ticket_verifier(std::string expected_audience);
    /**
     * Creates a verifier trusting the Ed25519 keys of a JWK Set (see add_keys()).
     * @param expected_audience the "aud" this service accepts
     * @param keys the issuer's published keys
     */
    ticket_verifier(std::string expected_audience, const jwk_set& keys);

    /**
     * Trusts a key.
     * @param kid its key id (replaces a key with the same id)
     * @param key the public key (an empty key is ignored)
     */
    void add_key(std::string kid, ed25519_public_key key);
    /**
     * Trusts every Ed25519 key of a JWK Set, under its "kid" or, if it has none, its RFC 7638
     * thumbprint. X25519 keys and keys with "use" other than "sig" are skipped.
     * @param keys the set
     * @return the number of keys added
     */
    std::size_t add_keys(const jwk_set& keys);
    /** Forgets every trusted key (e.g. before loading a new JWK Set). */
    void clear_keys() noexcept;
    /** @return the number of trusted keys. */
    [[nodiscard]] std::size_t key_count() const noexcept { return keys_.size(); }

    /** @return the accepted audience. */
    [[nodiscard]] const std::string& expected_audience() const noexcept { return audience_; }
    /**
     * Requires "iss" to equal this value (by default any issuer signed by a trusted key).
     * @param issuer the expected issuer; empty accepts any
     */
    void set_expected_issuer(std::string issuer) { issuer_ = std::move(issuer); }
    /** @return the expected issuer, empty if any is accepted. */
    [[nodiscard]] const std::string& expected_issuer() const noexcept { return issuer_; }
    /**
     * Sets the clock skew tolerated on exp, nbf and iat (default 60 s).
     * @param leeway a non-negative duration (a negative one counts as zero)
     */
    void set_leeway(std::chrono::seconds leeway) noexcept;
    /** @return the clock leeway. */
    [[nodiscard]] std::chrono::seconds leeway() const noexcept { return leeway_; }
    /**
     * Rejects tickets whose exp - iat exceeds a limit (ticket_bad_claim); default: no limit.
     * @param limit the longest accepted lifetime, or std::nullopt for none
     */
    void set_max_lifetime(std::optional<std::chrono::seconds> limit) noexcept {
        max_lifetime_ = limit;
    }

    /**
     * Verifies a ticket.
     * @param token the compact JWS
     * @param now the current time (explicit, for testability; see the overload without it)
     * @param ec ticket_malformed (not a JWS with an EdDSA header and a JSON object payload,
     *        wrong "typ"), ticket_unknown_key, ticket_bad_signature, then as check_claims() and
     *        ticket_claims::from_json()
     * @return the claims, default-constructed on error
     */
    ticket_claims verify(std::string_view token, std::chrono::system_clock::time_point now,
                         std::error_code& ec) const;
    /** Verifies against the system clock. @param token the JWS @param ec as above @return claims */
    ticket_claims verify(std::string_view token, std::error_code& ec) const;
    /** Throwing form of verify(). @throws std::system_error naming the failed check */
    ticket_claims verify(std::string_view token, std::chrono::system_clock::time_point now) const;

    /**
     * Checks already-verified claims against this verifier's audience, issuer, lifetime limit
     * and time window (used by verified_ticket_cache on a hit).
     * @param claims the claims
     * @param now the current time
     * @param ec ticket_wrong_issuer, ticket_wrong_audience, ticket_bad_claim (lifetime),
     *        ticket_expired (now >= exp + leeway), ticket_not_yet_valid (now < nbf - leeway, or
     *        iat > now + leeway)
     */
    void check_claims(const ticket_claims& claims, std::chrono::system_clock::time_point now,
                      std::error_code& ec) const noexcept;

  private:
    ticket_claims verify_impl(std::string_view token, std::chrono::system_clock::time_point now,
                              std::error_code& ec, std::string* reason) const;
    void check_claims_impl(const ticket_claims& claims, std::chrono::system_clock::time_point now,
                           std::error_code& ec, std::string* reason) const noexcept;
    std::string audience_;
    std::string issuer_;
    std::chrono::seconds leeway_{60};
    std::optional<std::chrono::seconds> max_lifetime_;
    std::unordered_map<std::string, ed25519_public_key> keys_;
};

/**
 * A bounded cache of verified tickets for the tracker's hot path: a hit skips parsing and the
 * signature check (the claims are still checked against the verifier's audience, issuer and
 * time window). Keyed by the token itself: a keyed 64-bit SipHash of its end (random key per
 * cache, so clients cannot aim collisions) picks the slot of an open-addressing index that keeps
 * the hash next to the entry; the whole token is compared only when the hashes agree, so a
 * token that differs in any byte never hits another token's entry. The cached claims are
 * immutable and shared (verify_shared() hands them out without copying). An entry is dropped once
 * its ticket expires; when full, the least recently used entries go first (CLOCK, the second-chance
 * approximation of LRU: a hit only marks its entry). Failures are not cached. Thread-safe (one
 * mutex, held only for the lookup; hashing and signature checks run outside it).
 *
 * Note: a key removed from the verifier stays effective for tickets already cached; clear() the
 * cache after changing the trusted keys.
 */
class IMSP2P_CORE_EXPORT verified_ticket_cache {
  public:
    /**
     * Creates an empty cache.
     * @param capacity the most entries kept (0 disables caching)
     */
    explicit verified_ticket_cache(std::size_t capacity);
    /** Destroys the cache. */
    ~verified_ticket_cache();
    verified_ticket_cache(const verified_ticket_cache&) = delete;
    verified_ticket_cache& operator=(const verified_ticket_cache&) = delete;

    /**
     * Returns the claims of a ticket, from the cache or by verifying it (then caching it).
     * @param verifier the verifier (use one cache per verifier configuration)
     * @param token the compact JWS
     * @param now the current time
     * @param ec as ticket_verifier::verify()
     * @return the claims, default-constructed on error
     */
    ticket_claims verify(const ticket_verifier& verifier, std::string_view token,
                         std::chrono::system_clock::time_point now, std::error_code& ec);
    /** Throwing form of verify(). @throws std::system_error */
    ticket_claims verify(const ticket_verifier& verifier, std::string_view token,
                         std::chrono::system_clock::time_point now);

    /**
     * As verify(), without copying the claims: the hot path of the tracker.
     * @param verifier the verifier (use one cache per verifier configuration)
     * @param token the compact JWS (not retained; the cache copies it on a miss)
     * @param now the current time
     * @param ec as ticket_verifier::verify(); a hit is checked with
     *        ticket_verifier::check_claims() against @p verifier and @p now
     * @return the immutable claims, shared with the cache (they stay valid for as long as the
     *         caller holds the pointer, even after eviction or clear()); null on error
     */
    std::shared_ptr<const ticket_claims> verify_shared(const ticket_verifier& verifier,
                                                       std::string_view token,
                                                       std::chrono::system_clock::time_point now,
                                                       std::error_code& ec);

    /** Drops every entry. */
    void clear() noexcept;
    /** @return the number of entries (some may have expired but not been dropped yet). */
    [[nodiscard]] std::size_t size() const;
    /** @return the capacity given at construction. */
    [[nodiscard]] std::size_t capacity() const noexcept { return capacity_; }
    /** @return how many verify() calls were answered from the cache. */
    [[nodiscard]] std::uint64_t hits() const;
    /** @return how many verify() calls had to verify the signature. */
    [[nodiscard]] std::uint64_t misses() const;

  private:
    /** A token and its keyed hash (never 0: the low bit is set). */
    struct token_key {
        std::string_view token;
        std::uint64_t hash = 0;
    };
    struct entry {
        std::string token;
        std::uint64_t hash = 0;
        std::shared_ptr<const ticket_claims> claims;
        bool referenced = false;  // hit since the clock hand last passed
    };
    using entry_list = std::list<entry>;
    /** A slot of the index: an entry's hash (0: empty) and its position in the ring. */
    struct slot {
        std::uint64_t hash = 0;
        entry_list::iterator position;
    };

    [[nodiscard]] token_key key_of(std::string_view token) const noexcept;
    void forget(const token_key& key);
    /** @return the slot of the entry of @p key, or slots_.size(); mutex held */
    [[nodiscard]] std::size_t find_locked(const token_key& key) const noexcept;
    /** Indexes a new entry (growing the index first if needed); mutex held. */
    void place_locked(entry_list::iterator position);
    /** Empties slot @p at, shifting back the entries probed past it; mutex held. */
    void unplace_locked(std::size_t at) noexcept;

    std::size_t capacity_;
    std::uint64_t hash_key_[2] = {0, 0};  // SipHash key, random per cache
    mutable std::mutex mutex_;
    entry_list entries_;         // a ring, in the order the clock hand visits it
    entry_list::iterator hand_;  // the next eviction candidate (end(): the first entry)
    // Open addressing with linear probing over a power-of-two number of slots, at most half
    // full: a lookup compares the stored hashes and reads an entry only when one agrees.
    std::vector<slot> slots_;
    std::uint64_t hits_ = 0;
    std::uint64_t misses_ = 0;
};

}  // namespace imsp2p::core
