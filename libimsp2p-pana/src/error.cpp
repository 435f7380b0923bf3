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
            case errc::eap_tls_certificate_rejected:
                return "EAP-TLS certificate of the other end failed verification";
            case errc::eap_tls_identity_mismatch:
                return "EAP identity does not match the client certificate's rfc822Name";
            case errc::eap_fragment_too_large:
                return "EAP-TLS message exceeds the reassembly limit";
            case errc::eap_tls_framing:
                return "EAP-TLS flags, length or fragment sequence is invalid";
            case errc::eap_unexpected_message:
                return "EAP message not expected in the current state";
            case errc::token_unknown:
                return "no one-pass token is stored for this identity";
            case errc::token_expired:
                return "one-pass token has expired";
            case errc::token_used:
                return "one-pass token was already used";
            case errc::token_proof_mismatch:
                return "proof of possession of the one-pass token is wrong";
            case errc::token_service_unauthorized:
                return "token service request is not authenticated";
            case errc::pana_unknown_message_type:
                return "PANA message type is unknown";
            case errc::pana_bad_length:
                return "PANA message length disagrees with the datagram size";
            case errc::pana_reserved_bits:
                return "PANA reserved field or flag bit is set";
            case errc::pana_bad_flags:
                return "PANA header flags do not fit the message type";
            case errc::pana_bad_avp:
                return "PANA AVP is truncated, misaligned or has reserved bits set";
            case errc::pana_bad_auth:
                return "PANA AUTH AVP is missing or wrong";
            case errc::pana_bad_sequence:
                return "PANA sequence number is out of window (replay or loss)";
            case errc::pana_no_common_algorithm:
                return "PANA peers share no PRF or integrity algorithm";
            case errc::pana_timeout:
                return "PANA retransmissions exhausted without an answer";
            case errc::pana_authentication_rejected:
                return "PANA authentication was rejected by the PAA";
            case errc::pana_session_terminated:
                return "PANA session was terminated";
            case errc::token_deposit_replayed:
                return "token deposit was already accepted (replay)";
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
