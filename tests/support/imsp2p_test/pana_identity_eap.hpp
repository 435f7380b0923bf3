/**
 * @file
 * A one-round EAP method for PANA tests: the authenticator sends EAP-Request/Identity and
 * answers the response with EAP-Success (or EAP-Failure for the identity "mallory"); both ends
 * derive MSK = SHA-256(identity) || SHA-256("msk" || identity). Not secure: it only exercises
 * PANA's transport of EAP and its key handling.
 */
#pragma once

#include <imsp2p/pana/eap.hpp>

#include <imsp2p/core/bytes.hpp>
#include <imsp2p/core/crypto.hpp>

#include <algorithm>
#include <cstddef>
#include <string>
#include <system_error>
#include <utility>

namespace imsp2p_test {

/** @param identity the peer identity @return the 64-byte MSK both ends derive */
inline imsp2p::core::byte_vector test_msk(const std::string& identity) {
    using imsp2p::core::byte_view;
    const auto first = imsp2p::core::sha256(
        byte_view(reinterpret_cast<const std::uint8_t*>(identity.data()), identity.size()));
    const std::string salted = "msk" + identity;
    const auto second = imsp2p::core::sha256(
        byte_view(reinterpret_cast<const std::uint8_t*>(salted.data()), salted.size()));
    // Sized first, then filled: GCC 12 at -O2 mistakes vector::insert of the second half for
    // an out-of-bounds copy (-Warray-bounds).
    imsp2p::core::byte_vector msk(first.size() + second.size());
    std::copy(first.begin(), first.end(), msk.begin());
    std::copy(second.begin(), second.end(),
              msk.begin() + static_cast<std::ptrdiff_t>(first.size()));
    return msk;
}

/** The authenticator of the one-round method. */
class identity_authenticator final : public imsp2p::pana::eap_authenticator {
  public:
    /** @return EAP-Request/Identity */
    imsp2p::pana::eap_step start() override {
        imsp2p::pana::eap_packet request;
        request.code = imsp2p::pana::eap_code::request;
        request.identifier = 1;
        request.type = static_cast<std::uint8_t>(imsp2p::pana::eap_type::identity);
        return {imsp2p::pana::serialize_eap_packet(request), imsp2p::pana::eap_status::in_progress};
    }
    /** @param response the identity response @return success or failure */
    imsp2p::pana::eap_step on_response(imsp2p::core::byte_view response) override {
        namespace pana = imsp2p::pana;
        std::error_code ec;
        const auto packet = pana::parse_eap_packet(response, ec);
        pana::eap_packet answer;
        answer.identifier = 1;
        if (!packet || packet->code != pana::eap_code::response) {
            answer.code = pana::eap_code::failure;
            return {pana::serialize_eap_packet(answer), pana::eap_status::failure};
        }
        identity_.assign(packet->type_data.begin(), packet->type_data.end());
        if (identity_ == "mallory") {
            answer.code = pana::eap_code::failure;
            return {pana::serialize_eap_packet(answer), pana::eap_status::failure};
        }
        answer.code = pana::eap_code::success;
        msk_ = test_msk(identity_);
        return {pana::serialize_eap_packet(answer), pana::eap_status::success};
    }
    /** @return the MSK after success */
    imsp2p::core::byte_vector msk() const override { return msk_; }
    /** @return nothing (no EMSK) */
    imsp2p::core::byte_vector emsk() const override { return {}; }
    /** @return the identity received */
    std::string peer_identity() const override { return identity_; }

  private:
    std::string identity_;
    imsp2p::core::byte_vector msk_;
};

/** The peer of the one-round method. */
class identity_peer final : public imsp2p::pana::eap_peer {
  public:
    /** @param identity the identity to answer with */
    explicit identity_peer(std::string identity) : identity_(std::move(identity)) {}
    /** @param bytes a request, success or failure @return the response and status */
    imsp2p::pana::eap_step on_packet(imsp2p::core::byte_view bytes) override {
        namespace pana = imsp2p::pana;
        std::error_code ec;
        const auto packet = pana::parse_eap_packet(bytes, ec);
        if (!packet) {
            return {{}, pana::eap_status::failure};
        }
        if (packet->code == pana::eap_code::success) {
            msk_ = test_msk(identity_);
            return {{}, pana::eap_status::success};
        }
        if (packet->code == pana::eap_code::failure) {
            return {{}, pana::eap_status::failure};
        }
        pana::eap_packet response;
        response.code = pana::eap_code::response;
        response.identifier = packet->identifier;
        response.type = static_cast<std::uint8_t>(pana::eap_type::identity);
        response.type_data.assign(identity_.begin(), identity_.end());
        return {pana::serialize_eap_packet(response), pana::eap_status::in_progress};
    }
    /** @return the MSK after success */
    imsp2p::core::byte_vector msk() const override { return msk_; }
    /** @return nothing (no EMSK) */
    imsp2p::core::byte_vector emsk() const override { return {}; }

  private:
    std::string identity_;
    imsp2p::core::byte_vector msk_;
};

}  // namespace imsp2p_test
