#include <imsp2p/pana/error.hpp>

#include <string>

namespace imsp2p::pana {
namespace {

class pana_category final : public std::error_category {
  public:
    const char* name() const noexcept override { return "imsp2p.pana"; }

    std::string message(int value) const override {
        switch (static_cast<errc>(value)) {
            case errc::mac_failure:
                return "AKA network authentication failed (MAC mismatch)";
            case errc::sync_failure:
                return "AKA sequence number is out of range (resynchronisation needed)";
            case errc::bad_digest_header:
                return "digest authentication header is malformed";
            case errc::pana_malformed:
                return "PANA message is malformed";
            case errc::eap_malformed:
                return "EAP packet is malformed";
            case errc::tls_failure:
                return "TLS handshake failed";
            case errc::bad_auts:
                return "AKA resynchronisation token (AUTS) failed verification (MAC-S mismatch)";
            case errc::unknown_subscriber:
                return "no AKA subscriber is provisioned with this private identity";
            case errc::subscriber_exists:
                return "an AKA subscriber with this private identity is already provisioned";
            case errc::sqn_exhausted:
                return "the subscriber's AKA sequence number space is exhausted";
            case errc::bad_usim_profile:
                return "software USIM profile is malformed";
            case errc::bad_aka_nonce:
                return "digest AKA nonce is not base64 of RAND || AUTN";
            case errc::digest_unsupported:
                return "digest algorithm or quality of protection is not supported";
            case errc::digest_challenge_mismatch:
                return "digest credentials do not answer the challenge (realm, nonce, opaque or "
                       "algorithm differ)";
            case errc::digest_response_mismatch:
                return "digest response is wrong";
            case errc::digest_nonce_count_reused:
                return "digest nonce count did not increase (replayed request)";
        }
        return "unknown imsp2p.pana error " + std::to_string(value);
    }
};

}  // namespace

const std::error_category& error_category() noexcept {
    static const pana_category instance;
    return instance;
}

std::error_code make_error_code(errc e) noexcept {
    return {static_cast<int>(e), error_category()};
}

}  // namespace imsp2p::pana
