// Fuzz target for imsp2p::drm licenses. The input is tried
// 1. as a compact JWS license, with a verifier trusting a fixed DRM key and a fixed device key:
//    it must never crash; a failure must be a drm error with default claims; a license that
//    verifies must hold a 32-byte CEK and must re-issue (same claims, key and CEK) and re-verify
//    to equal claims;
// 2. as a JSON payload: whatever license_claims::from_json() accepts must serialise and parse
//    back unchanged.
// Seeds are licenses signed with the fixed key below (seed bytes 0x01..0x20, kid "fuzz-drm")
// for the fixed device (X25519 bytes 0x21..0x40), issued at 1900000000.

#include <imsp2p/drm/license.hpp>

#include <imsp2p/drm/error.hpp>

#include <array>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

namespace {

namespace core = imsp2p::core;
namespace drm = imsp2p::drm;

template <std::size_t Offset>
std::array<std::uint8_t, 32> fixed_bytes() {
    std::array<std::uint8_t, 32> bytes{};
    for (std::size_t i = 0; i < bytes.size(); ++i)
        bytes[i] = static_cast<std::uint8_t>(i + Offset);
    return bytes;
}

const core::ed25519_private_key& drm_key() {
    static const core::ed25519_private_key key =
        core::ed25519_private_key::from_seed(fixed_bytes<1>());
    return key;
}

const core::x25519_private_key& device_key() {
    static const core::x25519_private_key key =
        core::x25519_private_key::from_raw(fixed_bytes<0x21>());
    return key;
}

// One minute after the seeds' "iat".
const std::chrono::system_clock::time_point fixed_now{std::chrono::seconds(1'900'000'060)};

void check_license(std::string_view compact) {
    static const drm::license_issuer issuer(drm_key(), "fuzz-drm", "https://drm.fuzz.example");
    static const drm::license_verifier verifier = [] {
        drm::license_verifier v;
        v.add_key("fuzz-drm", drm_key().public_key());
        return v;
    }();
    std::error_code ec;
    const drm::verified_license license = verifier.verify(compact, device_key(), fixed_now, ec);
    if (ec) {
        if (ec.category() != drm::error_category() || !(license.claims == drm::license_claims{}) ||
            !license.cek.empty())
            __builtin_trap();
        std::error_code peek_ec;
        (void)drm::peek_license_claims(compact, peek_ec);
        if (peek_ec && peek_ec.category() != drm::error_category())
            __builtin_trap();
        return;
    }
    if (license.cek.size() != drm::content_key_size)
        __builtin_trap();
    const std::string reissued =
        issuer.issue(license.claims, core::jwk(device_key().public_key()), license.cek, ec);
    if (ec)
        __builtin_trap();
    const drm::verified_license again = verifier.verify(reissued, device_key(), fixed_now, ec);
    if (ec || !(again.claims == license.claims) || !(again.cek == license.cek))
        __builtin_trap();
}

void check_claims_json(std::string_view text) {
    const nlohmann::json json = nlohmann::json::parse(text.begin(), text.end(), nullptr, false);
    if (json.is_discarded())
        return;
    std::error_code ec;
    const drm::license_claims claims = drm::license_claims::from_json(json, ec);
    if (ec) {
        if (ec != drm::errc::license_malformed && ec != drm::errc::rights_malformed)
            __builtin_trap();
        return;
    }
    const drm::license_claims again = drm::license_claims::from_json(claims.to_json(), ec);
    if (ec || !(again == claims))
        __builtin_trap();
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    const std::string_view text(reinterpret_cast<const char*>(data), size);
    check_license(text);
    check_claims_json(text);
    return 0;
}
