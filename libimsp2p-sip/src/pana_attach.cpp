// PANA/EAP-TLS access authentication followed by a one-pass REGISTER (pana_attach.hpp).

#include <imsp2p/sip/pana_attach.hpp>

#include <openssl/crypto.h>

#include <utility>

namespace imsp2p::sip {

namespace {

// Lets the caller read the token of an eap_tls_peer that the PANA session owns: the session
// owns this forwarder, the caller and the forwarder share the peer.
class shared_eap_peer final : public pana::eap_peer {
  public:
    explicit shared_eap_peer(std::shared_ptr<pana::eap_tls_peer> peer) : peer_(std::move(peer)) {}
    pana::eap_step on_packet(core::byte_view packet) override { return peer_->on_packet(packet); }
    core::byte_vector msk() const override { return peer_->msk(); }
    core::byte_vector emsk() const override { return peer_->emsk(); }

  private:
    std::shared_ptr<pana::eap_tls_peer> peer_;
};

}  // namespace

pana_attachment pana_attach(pana::pana_client& pac, const pana_attach_settings& settings,
                            std::error_code& ec) {
    ec.clear();
    const auto context =
        pana::eap_tls_context::create(settings.tls, pana::eap_tls_role::client, ec);
    if (ec) {
        return {};
    }
    const auto peer = std::make_shared<pana::eap_tls_peer>(context, settings.impi);
    pana_attachment attachment;
    attachment.session =
        pac.authenticate(settings.paa_address, settings.paa_port,
                         std::make_unique<shared_eap_peer>(peer), settings.timeout, ec);
    if (ec) {
        return {};
    }
    core::byte_vector token = peer->token();
    attachment.token = core::secret_bytes(token);
    OPENSSL_cleanse(token.data(), token.size());
    return attachment;
}

std::unique_ptr<user_agent> attach_and_register(
    pana::pana_client& pac, const pana_attach_settings& attach, user_agent_settings ua,
    std::shared_ptr<credentials_provider> fallback, std::chrono::milliseconds register_timeout,
    transaction_result& registration, std::error_code& ec, core::logger log) {
    registration = {};
    const pana_attachment attachment = pana_attach(pac, attach, ec);
    if (ec) {
        return nullptr;
    }
    ua.credentials = std::make_shared<one_pass_credentials>(
        attach.impi, attach.realm, attachment.token.view(), std::move(fallback));
    auto agent = std::make_unique<user_agent>(std::move(ua), std::move(log));
    registration = agent->register_now(register_timeout);
    return agent;
}

}  // namespace imsp2p::sip
