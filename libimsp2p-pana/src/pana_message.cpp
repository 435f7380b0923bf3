// PANA (RFC 5191) message codec.

#include <imsp2p/pana/pana_message.hpp>

#include <imsp2p/pana/error.hpp>

#include <system_error>

namespace imsp2p::pana {
namespace {

std::uint16_t read16(core::byte_view b, std::size_t at) noexcept {
    return static_cast<std::uint16_t>((b[at] << 8) | b[at + 1]);
}

std::uint32_t read32(core::byte_view b, std::size_t at) noexcept {
    return (static_cast<std::uint32_t>(b[at]) << 24) |
           (static_cast<std::uint32_t>(b[at + 1]) << 16) |
           (static_cast<std::uint32_t>(b[at + 2]) << 8) | static_cast<std::uint32_t>(b[at + 3]);
}

void write16(core::byte_vector& out, std::uint16_t v) {
    out.push_back(static_cast<std::uint8_t>(v >> 8));
    out.push_back(static_cast<std::uint8_t>(v));
}

void write32(core::byte_vector& out, std::uint32_t v) {
    out.push_back(static_cast<std::uint8_t>(v >> 24));
    out.push_back(static_cast<std::uint8_t>(v >> 16));
    out.push_back(static_cast<std::uint8_t>(v >> 8));
    out.push_back(static_cast<std::uint8_t>(v));
}

constexpr std::size_t padded(std::size_t n) noexcept {
    return (n + 3) & ~std::size_t{3};
}

bool flags_fit_type(std::uint16_t flags, pana_message_type type) noexcept {
    const bool s = (flags & pana_flags::start) != 0;
    const bool c = (flags & pana_flags::complete) != 0;
    const bool a = (flags & pana_flags::reauth) != 0;
    const bool p = (flags & pana_flags::ping) != 0;
    switch (type) {
        case pana_message_type::client_initiation:
            return flags == 0;
        case pana_message_type::auth:
            return !a && !p && !(s && c);
        case pana_message_type::termination:
            return !s && !c && !a && !p;
        case pana_message_type::notification:
            return !s && !c && (a != p);
    }
    return false;
}

}  // namespace

const pana_avp* pana_message::find(pana_avp_code code) const noexcept {
    for (const pana_avp& avp : avps) {
        if (avp.code == static_cast<std::uint16_t>(code) && !avp.vendor_id) {
            return &avp;
        }
    }
    return nullptr;
}

std::vector<const pana_avp*> pana_message::find_all(pana_avp_code code) const {
    std::vector<const pana_avp*> found;
    for (const pana_avp& avp : avps) {
        if (avp.code == static_cast<std::uint16_t>(code) && !avp.vendor_id) {
            found.push_back(&avp);
        }
    }
    return found;
}

std::optional<pana_message> parse_pana_message(core::byte_view wire, std::error_code& ec) {
    ec.clear();
    if (wire.size() < pana_header_size) {
        ec = errc::pana_bad_length;
        return std::nullopt;
    }
    if (read16(wire, 0) != 0) {
        ec = errc::pana_reserved_bits;
        return std::nullopt;
    }
    if (read16(wire, 2) != wire.size()) {
        ec = errc::pana_bad_length;
        return std::nullopt;
    }
    pana_message message;
    message.flags = read16(wire, 4);
    if ((message.flags & ~pana_flags::defined) != 0) {
        ec = errc::pana_reserved_bits;
        return std::nullopt;
    }
    const std::uint16_t type = read16(wire, 6);
    if (type < 1 || type > 4) {
        ec = errc::pana_unknown_message_type;
        return std::nullopt;
    }
    message.type = static_cast<pana_message_type>(type);
    if (!flags_fit_type(message.flags, message.type)) {
        ec = errc::pana_bad_flags;
        return std::nullopt;
    }
    message.session_id = read32(wire, 8);
    message.sequence_number = read32(wire, 12);
    std::size_t at = pana_header_size;
    while (at < wire.size()) {
        if (message.avps.size() == pana_limits::max_avps || wire.size() - at < 8) {
            ec = errc::pana_bad_avp;
            return std::nullopt;
        }
        pana_avp avp;
        avp.code = read16(wire, at);
        const std::uint16_t flags = read16(wire, at + 2);
        const std::size_t length = read16(wire, at + 4);
        if (read16(wire, at + 6) != 0 || (flags & ~pana_avp_flags::defined) != 0) {
            ec = errc::pana_bad_avp;
            return std::nullopt;
        }
        std::size_t header = 8;
        if ((flags & pana_avp_flags::vendor) != 0) {
            if (wire.size() - at < 12) {
                ec = errc::pana_bad_avp;
                return std::nullopt;
            }
            avp.vendor_id = read32(wire, at + 8);
            header = 12;
        }
        avp.flags = static_cast<std::uint16_t>(flags & ~pana_avp_flags::vendor);
        if (wire.size() - at - header < padded(length)) {
            ec = errc::pana_bad_avp;
            return std::nullopt;
        }
        const auto value = wire.subspan(at + header, length);
        avp.value.assign(value.begin(), value.end());
        message.avps.push_back(std::move(avp));
        at += header + padded(length);
    }
    return message;
}

pana_message parse_pana_message(core::byte_view wire) {
    std::error_code ec;
    auto message = parse_pana_message(wire, ec);
    if (ec) {
        throw std::system_error(ec, "parse_pana_message");
    }
    return std::move(*message);
}

core::byte_vector serialize(const pana_message& message, std::error_code& ec) {
    ec.clear();
    std::size_t size = pana_header_size;
    for (const pana_avp& avp : message.avps) {
        if ((avp.flags & ~pana_avp_flags::mandatory) != 0 || avp.value.size() > 0xFFFF) {
            ec = errc::pana_bad_avp;
            return {};
        }
        size += (avp.vendor_id ? 12 : 8) + padded(avp.value.size());
    }
    if (size > pana_limits::max_message_size) {
        ec = errc::pana_bad_length;
        return {};
    }
    core::byte_vector out;
    out.reserve(size);
    write16(out, 0);
    write16(out, static_cast<std::uint16_t>(size));
    write16(out, message.flags);
    write16(out, static_cast<std::uint16_t>(message.type));
    write32(out, message.session_id);
    write32(out, message.sequence_number);
    for (const pana_avp& avp : message.avps) {
        write16(out, avp.code);
        write16(out, static_cast<std::uint16_t>(avp.flags |
                                                (avp.vendor_id ? pana_avp_flags::vendor : 0)));
        write16(out, static_cast<std::uint16_t>(avp.value.size()));
        write16(out, 0);
        if (avp.vendor_id) {
            write32(out, *avp.vendor_id);
        }
        out.insert(out.end(), avp.value.begin(), avp.value.end());
        out.resize(out.size() + padded(avp.value.size()) - avp.value.size(), 0);
    }
    return out;
}

core::byte_vector serialize(const pana_message& message) {
    std::error_code ec;
    auto out = serialize(message, ec);
    if (ec) {
        throw std::system_error(ec, "serialize PANA message");
    }
    return out;
}

pana_avp make_u32_avp(pana_avp_code code, std::uint32_t value, bool mandatory) {
    pana_avp avp;
    avp.code = static_cast<std::uint16_t>(code);
    avp.flags = mandatory ? pana_avp_flags::mandatory : 0;
    write32(avp.value, value);
    return avp;
}

pana_avp make_bytes_avp(pana_avp_code code, core::byte_view value, bool mandatory) {
    pana_avp avp;
    avp.code = static_cast<std::uint16_t>(code);
    avp.flags = mandatory ? pana_avp_flags::mandatory : 0;
    avp.value.assign(value.begin(), value.end());
    return avp;
}

std::optional<std::uint32_t> avp_u32(const pana_avp& avp) noexcept {
    if (avp.value.size() != 4) {
        return std::nullopt;
    }
    return read32(avp.value, 0);
}

std::optional<std::uint32_t> find_u32(const pana_message& message, pana_avp_code code) noexcept {
    const pana_avp* avp = message.find(code);
    if (avp == nullptr) {
        return std::nullopt;
    }
    return avp_u32(*avp);
}

std::size_t auth_value_size(std::uint32_t integrity) noexcept {
    switch (static_cast<pana_integrity>(integrity)) {
        case pana_integrity::hmac_sha1_160:
            return 20;
        case pana_integrity::hmac_sha2_256_128:
            return 16;
    }
    return 0;
}

}  // namespace imsp2p::pana
