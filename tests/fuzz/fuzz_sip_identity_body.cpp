// Fuzz target for RFC 3893 identity bodies (imsp2p/sip/identity_body.hpp). The input is verified
// as a CMS SignedData identity body against a fixed CA: verification must never crash, must
// fail with an imsp2p.sip identity_body_* error or succeed with a cleared error code, and may
// only succeed for a body signed by the fixed UE certificate (alice@ims.example) over the fixed
// request below, dated within 600 s of the fixed clock (2026-11-21 23:20:00 UTC).
// Seeds: a valid body made with `openssl cms -sign -binary -nodetach` by a certificate of the CA
// below, the same without certificates or signed attributes, and a bare sipfrag.

#include <imsp2p/sip/identity_body.hpp>

#include <imsp2p/sip/error.hpp>

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string_view>
#include <system_error>

namespace {

namespace sip = imsp2p::sip;

constexpr char fixed_ca_pem[] = R"(-----BEGIN CERTIFICATE-----
MIIBkTCCATegAwIBAgIULcTJYvfY+hbs5UuR0BsvFB5QNk8wCgYIKoZIzj0EAwIw
HTEbMBkGA1UEAwwSaW1zcDJwIGZ1enogQUlCIENBMCAXDTI2MTEyMTIzMTUzNloY
DzIxMjYxMDI4MjMxNTM2WjAdMRswGQYDVQQDDBJpbXNwMnAgZnV6eiBBSUIgQ0Ew
WTATBgcqhkjOPQIBBggqhkjOPQMBBwNCAAQ3gy/HMOEHpyYPr5x8Lu64dYvpOeXe
//iIwX6CtjROioQZDsuLoknrElvrRaXr1fOF3zZ7/VhFpgOqtGzalp12o1MwUTAd
BgNVHQ4EFgQU0GC11TpHXXJhgpqLFt24hVxbIRkwHwYDVR0jBBgwFoAU0GC11TpH
XXJhgpqLFt24hVxbIRkwDwYDVR0TAQH/BAUwAwEB/zAKBggqhkjOPQQDAgNIADBF
AiAoD3TcZJTzeCR1uiZcOYjDsW+EBCyriKGogr+q7qTQdwIhAIIJAEuDJnjBPh9b
B9weOaIc4rUYwBMXn2/m0eyLX+mb
-----END CERTIFICATE-----
)";

const sip::identity_trust_anchors& anchors() {
    static const sip::identity_trust_anchors instance = [] {
        std::error_code ec;
        auto loaded = sip::identity_trust_anchors::from_pem(fixed_ca_pem, ec);
        if (ec || loaded.size() != 1) {
            std::abort();
        }
        return loaded;
    }();
    return instance;
}

bool is_identity_body_error(const std::error_code& ec) {
    if (ec.category() != sip::error_category()) {
        return false;
    }
    switch (static_cast<sip::errc>(ec.value())) {
        case sip::errc::identity_body_malformed:
        case sip::errc::identity_body_bad_signature:
        case sip::errc::identity_body_untrusted_signer:
        case sip::errc::identity_body_identity_mismatch:
        case sip::errc::identity_body_request_mismatch:
        case sip::errc::identity_body_stale:
            return true;
        default:
            return false;
    }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    const std::string_view body(reinterpret_cast<const char*>(data), size);
    sip::identity_body_expectation expected;
    expected.impi = "alice@ims.example";
    expected.request.method = "REGISTER";
    expected.request.request_uri = "sip:ims.example";
    expected.request.from_uri = "sip:alice@ims.example";
    expected.request.to_uri = "sip:alice@ims.example";
    expected.request.call_id = "fuzz-call-id";
    expected.request.cseq = 1;
    expected.now = std::chrono::system_clock::from_time_t(1795303200);
    std::error_code ec = sip::errc::stack_failure;
    const bool ok = sip::verify_identity_body(body, anchors(), expected, ec);
    if (ok ? static_cast<bool>(ec) : !is_identity_body_error(ec)) {
        std::abort();
    }
    return 0;
}
