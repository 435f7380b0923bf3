// Fuzz target for imsp2p::core tickets. The input is tried
// 1. as a compact JWS ticket, with a verifier trusting a fixed key: it must never crash, and a
//    ticket that verifies must re-issue (same claims, same key) and re-verify to equal claims;
// 2. as a JSON claims set: whatever ticket_claims::from_json() accepts must serialise and parse
//    back unchanged, and must issue and verify (with a verifier for its own audience, at its
//    issue time) to the same claims unless its time window is empty.
// Seeds are tickets signed with the fixed key below (seed bytes 0x01..0x20, kid "fuzz-as").

#include <imsp2p/core/ticket.hpp>

#include <array>
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

namespace {

using imsp2p::core::errc;
using imsp2p::core::ticket_claims;

const imsp2p::core::ed25519_private_key& fixed_key() {
    static const imsp2p::core::ed25519_private_key key = [] {
        std::array<std::uint8_t, 32> seed{};
        for (std::size_t i = 0; i < seed.size(); ++i) {
            seed[i] = static_cast<std::uint8_t>(i + 1);
        }
        return imsp2p::core::ed25519_private_key::from_seed(seed);
    }();
    return key;
}

// One minute after the seeds' "iat" (1795000000).
const std::chrono::system_clock::time_point fixed_now{std::chrono::seconds(1'795'000'060)};

void check_token(std::string_view token) {
    static const imsp2p::core::ticket_issuer issuer(fixed_key(), "fuzz-as", "sip:as.fuzz.example");
    static const imsp2p::core::ticket_verifier verifier = [] {
        imsp2p::core::ticket_verifier v("tracker");
        v.add_key("fuzz-as", fixed_key().public_key());
        return v;
    }();
    std::error_code ec;
    const ticket_claims claims = verifier.verify(token, fixed_now, ec);
    if (ec) {
        if (ec.category() != imsp2p::core::error_category() || claims != ticket_claims{}) {
            __builtin_trap();
        }
        return;
    }
    const std::string reissued = issuer.issue(claims, ec);
    if (ec) {
        __builtin_trap();
    }
    const ticket_claims again = verifier.verify(reissued, fixed_now, ec);
    if (ec || again != claims) {
        __builtin_trap();
    }
    (void)imsp2p::core::covers_infohash(claims, token.substr(0, 40));
}

void check_claims_json(std::string_view text) {
    const nlohmann::json json = nlohmann::json::parse(text.begin(), text.end(), nullptr, false);
    if (json.is_discarded()) {
        return;
    }
    std::error_code ec;
    const ticket_claims claims = ticket_claims::from_json(json, ec);
    if (ec) {
        return;
    }
    const ticket_claims round_trip = ticket_claims::from_json(claims.to_json(), ec);
    if (ec || round_trip != claims) {
        __builtin_trap();
    }
    const imsp2p::core::ticket_issuer issuer(fixed_key(), "fuzz-as");
    const std::string token = issuer.issue(claims, ec);
    if (ec) {
        __builtin_trap();  // every claims set from_json() accepts is issuable
    }
    imsp2p::core::ticket_verifier verifier(claims.audience);
    verifier.add_key("fuzz-as", fixed_key().public_key());
    auto now = claims.issued_at;
    if (claims.not_before && *claims.not_before > now) {
        now = *claims.not_before;
    }
    // system_clock counts nanoseconds: it ends in 2262, NumericDates go to 9999.
    if (now >
        std::chrono::floor<std::chrono::seconds>(std::chrono::system_clock::time_point::max())) {
        return;
    }
    const ticket_claims verified =
        verifier.verify(token, std::chrono::system_clock::time_point(now), ec);
    if (ec) {
        // Only an empty validity window (nbf at or after exp + leeway) may fail.
        if (ec != errc::ticket_expired) {
            __builtin_trap();
        }
        return;
    }
    if (verified != claims) {
        __builtin_trap();
    }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    const std::string_view text(reinterpret_cast<const char*>(data), size);
    check_token(text);
    check_claims_json(text);
    return 0;
}
