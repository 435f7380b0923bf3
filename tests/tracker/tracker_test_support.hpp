// Helpers shared by the tracker unit tests: an AS key, tickets, tracker settings.
#pragma once

#include <imsp2p/tracker/tracker_service.hpp>

#include <imsp2p/core/crypto.hpp>
#include <imsp2p/core/encoding.hpp>
#include <imsp2p/core/ticket.hpp>

#include <chrono>
#include <string>
#include <vector>

namespace tracker_test {

using namespace std::chrono_literals;

/** A fixed AS signing key and issuer. */
inline const imsp2p::core::ticket_issuer& as_issuer() {
    static const imsp2p::core::ticket_issuer issuer(imsp2p::core::ed25519_private_key::generate(),
                                                    "as-test", "sip:as.ims.example");
    return issuer;
}

/** The AS public keys as a JWK Set. */
inline imsp2p::core::jwk_set as_keys() {
    imsp2p::core::jwk_set keys;
    keys.keys.push_back(as_issuer().public_jwk());
    return keys;
}

/** A fixed "now" for deterministic tests. */
inline std::chrono::system_clock::time_point test_now() {
    return std::chrono::system_clock::time_point(std::chrono::seconds(1'800'000'000));
}

/** Twenty bytes made of one repeated character. */
inline std::string hash_of(char c) {
    return std::string(20, c);
}

/** Lower-case hex of bytes. */
inline std::string hex(const std::string& bytes) {
    return imsp2p::core::to_hex(imsp2p::core::as_bytes(bytes));
}

/** Issues a ticket. */
inline std::string ticket(std::vector<std::string> hashes_hex,
                          std::optional<imsp2p::core::ticket_role> role,
                          std::chrono::system_clock::time_point now = test_now(),
                          std::string audience = "tracker", std::chrono::seconds life = 3600s,
                          const imsp2p::core::ticket_issuer& issuer = as_issuer()) {
    imsp2p::core::ticket_claims claims;
    claims.subject = "sip:alice@ims.example";
    claims.audience = std::move(audience);
    claims.issued_at = std::chrono::time_point_cast<std::chrono::seconds>(now);
    claims.expires_at = claims.issued_at + life;
    claims.infohashes = std::move(hashes_hex);
    claims.role = role;
    return issuer.issue(claims);
}

/** Settings with the test AS key, an in-memory database unless a path is given. */
inline imsp2p::tracker::tracker_settings settings(std::filesystem::path database = {}) {
    imsp2p::tracker::tracker_settings out;
    out.as_keys = as_keys();
    out.database_path = std::move(database);
    return out;
}

}  // namespace tracker_test
