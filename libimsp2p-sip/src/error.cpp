#include <imsp2p/sip/error.hpp>

#include <string>

namespace imsp2p::sip {
namespace {

class sip_category final : public std::error_category {
  public:
    const char* name() const noexcept override { return "imsp2p.sip"; }

    std::string message(int value) const override {
        switch (static_cast<errc>(value)) {
            case errc::untrusted_source:
                return "request did not come from a trusted S-CSCF";
            case errc::no_asserted_identity:
                return "request carries no P-Asserted-Identity";
            case errc::bad_body:
                return "request body is malformed";
            case errc::unsupported_media_type:
                return "request body has an unsupported content type";
            case errc::body_too_large:
                return "request body is too large";
            case errc::unknown_content:
                return "content is unknown";
            case errc::content_withdrawn:
                return "content has been withdrawn";
            case errc::bad_event:
                return "event package is not supported";
            case errc::stack_failure:
                return "SIP stack failure";
            case errc::unknown_subscriber:
                return "no such IMS subscriber";
            case errc::subscriber_exists:
                return "IMS subscriber already exists";
            case errc::dependency_unavailable:
                return "a server the AS depends on is unavailable";
            case errc::dependency_refused:
                return "a server the AS depends on refused the request";
            case errc::conflict:
                return "the resource exists with other values";
            case errc::publish_not_allowed:
                return "the user may not publish content";
            case errc::payment_declined:
                return "charging declined the purchase";
            case errc::swarm_bad_torrent:
                return "the torrent file is not a valid torrent";
            case errc::swarm_torrent_not_private:
                return "the torrent is not private (BEP 27)";
            case errc::swarm_bad_announce_url:
                return "the announce URL is not an http, https or udp URL";
            case errc::swarm_unknown_torrent:
                return "the swarm has no such torrent";
            case errc::swarm_storage_failed:
                return "a swarm folder or file could not be created, read or written";
            case errc::swarm_transfer_failed:
                return "the transfer failed with a storage error";
            case errc::identity_body_malformed:
                return "the identity body is not a CMS SignedData message/sipfrag";
            case errc::identity_body_bad_signature:
                return "the identity body's signature does not verify";
            case errc::identity_body_untrusted_signer:
                return "the identity body's signer does not chain to a trusted CA";
            case errc::identity_body_identity_mismatch:
                return "the identity body's signer certificate is not for the claimed IMPI";
            case errc::identity_body_request_mismatch:
                return "the identity body's sipfrag does not match the request";
            case errc::identity_body_stale:
                return "the identity body's Date is outside the accepted window";
            case errc::identity_body_bad_signer:
                return "the identity body signer's certificate or key cannot be loaded";
        }
        return "unknown imsp2p.sip error " + std::to_string(value);
    }
};

}  // namespace

const std::error_category& error_category() noexcept {
    static const sip_category instance;
    return instance;
}

std::error_code make_error_code(errc e) noexcept {
    return {static_cast<int>(e), error_category()};
}

}  // namespace imsp2p::sip
