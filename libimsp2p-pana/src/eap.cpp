// EAP packet codec (RFC 3748 §4) and the method interfaces' out-of-line destructors.

#include <imsp2p/pana/eap.hpp>

#include <imsp2p/pana/error.hpp>

namespace imsp2p::pana {

eap_authenticator::~eap_authenticator() = default;
eap_peer::~eap_peer() = default;

std::optional<eap_packet> parse_eap_packet(core::byte_view wire, std::error_code& ec) {
    ec.clear();
    if (wire.size() < 4) {
        ec = make_error_code(errc::eap_malformed);
        return std::nullopt;
    }
    const std::uint8_t code = wire[0];
    const std::size_t length = (static_cast<std::size_t>(wire[2]) << 8) | wire[3];
    if (code < 1 || code > 4 || length != wire.size()) {
        ec = make_error_code(errc::eap_malformed);
        return std::nullopt;
    }
    eap_packet packet;
    packet.code = static_cast<eap_code>(code);
    packet.identifier = wire[1];
    if (packet.code == eap_code::success || packet.code == eap_code::failure) {
        if (length != 4) {
            ec = make_error_code(errc::eap_malformed);
            return std::nullopt;
        }
        return packet;
    }
    if (length < 5) {
        ec = make_error_code(errc::eap_malformed);
        return std::nullopt;
    }
    packet.type = wire[4];
    packet.type_data.assign(wire.begin() + 5, wire.end());
    return packet;
}

core::byte_vector serialize_eap_packet(const eap_packet& packet) {
    const bool typed = packet.code == eap_code::request || packet.code == eap_code::response;
    const std::size_t length = 4 + (typed ? 1 + packet.type_data.size() : 0);
    core::byte_vector wire;
    wire.reserve(length);
    wire.push_back(static_cast<std::uint8_t>(packet.code));
    wire.push_back(packet.identifier);
    wire.push_back(static_cast<std::uint8_t>(length >> 8));
    wire.push_back(static_cast<std::uint8_t>(length & 0xff));
    if (typed) {
        wire.push_back(packet.type.value_or(0));
        wire.insert(wire.end(), packet.type_data.begin(), packet.type_data.end());
    }
    return wire;
}

}  // namespace imsp2p::pana
