#include <imsp2p/tracker/udp_packet.hpp>

#include <imsp2p/tracker/error.hpp>

#include <algorithm>
#include <array>
#include <charconv>
#include <cstring>
#include <limits>
#include <utility>

namespace imsp2p::tracker::udp {
namespace {

class reader {
  public:
    explicit reader(core::byte_view data) noexcept : data_(data) {}

    [[nodiscard]] std::size_t remaining() const noexcept { return data_.size() - offset_; }

    std::uint64_t u64() noexcept { return read(8); }
    std::uint32_t u32() noexcept { return static_cast<std::uint32_t>(read(4)); }
    std::uint16_t u16() noexcept { return static_cast<std::uint16_t>(read(2)); }
    std::uint8_t u8() noexcept { return static_cast<std::uint8_t>(read(1)); }

    std::string bytes(std::size_t size) { return std::string(view(size)); }

    /** @return the next @p size bytes, viewed in the datagram (no copy) */
    std::string_view view(std::size_t size) noexcept {
        const std::string_view out(reinterpret_cast<const char*>(data_.data() + offset_), size);
        offset_ += size;
        return out;
    }

  private:
    // The caller has checked remaining() >= size.
    std::uint64_t read(std::size_t size) noexcept {
        std::uint64_t value = 0;
        for (std::size_t i = 0; i < size; ++i) {
            value = (value << 8U) | data_[offset_ + i];
        }
        offset_ += size;
        return value;
    }

    core::byte_view data_;
    std::size_t offset_ = 0;
};

void put(std::string& out, std::uint64_t value, std::size_t size) {
    for (std::size_t i = size; i > 0; --i) {
        out += static_cast<char>((value >> (8 * (i - 1))) & 0xffU);
    }
}

std::uint32_t clamp32(std::uint64_t value) noexcept {
    return value > std::numeric_limits<std::int32_t>::max()
               ? static_cast<std::uint32_t>(std::numeric_limits<std::int32_t>::max())
               : static_cast<std::uint32_t>(value);
}

bool fail(std::error_code& ec, std::string* reason, std::string text) {
    ec = errc::bad_udp_packet;
    if (reason != nullptr) {
        *reason = std::move(text);
    }
    return false;
}

bool parse_options(reader& in, request& out, std::error_code& ec, std::string* reason) {
    while (in.remaining() > 0) {
        const std::uint8_t type = in.u8();
        if (type == 0) {
            return true;  // end of options; trailing bytes are ignored (BEP 41)
        }
        if (type == 1) {
            continue;  // NOP
        }
        if (in.remaining() < 1) {
            return fail(ec, reason, "option " + std::to_string(type) + " lacks its length byte");
        }
        const std::size_t length = in.u8();
        if (in.remaining() < length) {
            return fail(ec, reason,
                        "option " + std::to_string(type) + " claims " + std::to_string(length) +
                            " bytes, only " + std::to_string(in.remaining()) + " remain");
        }
        const std::string_view data = in.view(length);
        if (type == 2) {
            if (out.url_data.size() + data.size() > max_url_data) {
                return fail(ec, reason,
                            "URL data exceeds " + std::to_string(max_url_data) + " bytes");
            }
            out.url_data += data;
            out.has_url_data = true;
        }
        // Other option types are skipped by their length (BEP 41).
    }
    return true;
}

}  // namespace

bool answerable(core::byte_view packet) noexcept {
    return packet.size() >= connect_size;
}

namespace {

// The ticket of URL data into `ticket` (its storage reused); false with ec/reason on error.
bool ticket_into(std::string_view url_data, const request_limits& limits, std::string& ticket,
                 std::error_code& ec, std::string* reason) {
    ec.clear();
    ticket.clear();
    const std::string_view path = url_data.substr(0, url_data.find('?'));
    constexpr std::string_view prefix = "/announce";
    if (!path.starts_with(prefix)) {
        return fail(ec, reason, "URL data must be the path /announce/<ticket>");
    }
    std::string_view rest = path.substr(prefix.size());
    if (!rest.empty() && rest.front() != '/') {
        return fail(ec, reason, "URL data must be the path /announce/<ticket>");
    }
    if (!rest.empty()) {
        rest.remove_prefix(1);
    }
    if (!rest.empty() && rest.back() == '/') {
        rest.remove_suffix(1);
    }
    // A ticket (a JWT) has no percent-escapes: skip the per-character decode then.
    if (rest.find('%') == std::string_view::npos) {
        if (rest.find('/') != std::string_view::npos) {
            return fail(ec, reason, "URL data must be the path /announce/<ticket>");
        }
        if (rest.size() > limits.max_ticket_size) {
            return fail(ec, reason, "ticket too long");
        }
        ticket.assign(rest);
        return true;
    }
    std::string decoded = percent_decode(rest, ec);
    if (ec) {
        return fail(ec, reason, "URL data has a bad percent-encoding");
    }
    if (decoded.find('/') != std::string::npos) {
        return fail(ec, reason, "URL data must be the path /announce/<ticket>");
    }
    if (decoded.size() > limits.max_ticket_size) {
        return fail(ec, reason, "ticket too long");
    }
    ticket = std::move(decoded);
    return true;
}

}  // namespace

std::string ticket_from_url_data(std::string_view url_data, const request_limits& limits,
                                 std::error_code& ec, std::string* reason) {
    std::string ticket;
    if (!ticket_into(url_data, limits, ticket, ec, reason)) {
        return {};
    }
    return ticket;
}

request parse_request(core::byte_view packet, std::error_code& ec, std::string* reason,
                      const request_limits& limits) {
    request out;
    parse_request(packet, out, ec, reason, limits);
    return out;
}

void parse_request(core::byte_view packet, request& out, std::error_code& ec, std::string* reason,
                   const request_limits& limits) {
    ec.clear();
    // Reset every member, keeping the strings' storage.
    out.kind = action::connect;
    out.connection_id = 0;
    out.transaction_id = 0;
    announce_request& announce = out.announce;
    announce.ticket.clear();
    announce.info_hash.clear();
    announce.peer_id.clear();
    announce.port = 0;
    announce.uploaded = 0;
    announce.downloaded = 0;
    announce.left = 0;
    announce.event = announce_event::none;
    announce.numwant.reset();
    announce.compact = true;
    announce.no_peer_id = false;
    announce.key.clear();
    out.url_data.clear();
    out.has_url_data = false;
    out.ip = 0;
    out.info_hashes.clear();
    if (packet.size() < connect_size) {
        fail(ec, reason,
             "datagram is " + std::to_string(packet.size()) + " bytes, at least 16 are required");
        return;
    }
    reader in(packet);
    out.connection_id = in.u64();
    const std::uint32_t action_value = in.u32();
    out.transaction_id = in.u32();
    switch (action_value) {
        case 0: {
            out.kind = action::connect;
            if (out.connection_id != protocol_id) {
                fail(ec, reason, "connect does not carry the protocol id 0x41727101980");
            } else if (packet.size() != connect_size) {
                fail(ec, reason,
                     "connect is " + std::to_string(packet.size()) + " bytes, 16 are required");
            }
            return;
        }
        case 1: {
            out.kind = action::announce;
            if (packet.size() < announce_size) {
                fail(ec, reason,
                     "announce is " + std::to_string(packet.size()) +
                         " bytes, at least 98 are required");
                return;
            }
            announce.info_hash.assign(in.view(20));
            announce.peer_id.assign(in.view(20));
            const std::uint64_t downloaded = in.u64();
            const std::uint64_t left = in.u64();
            const std::uint64_t uploaded = in.u64();
            constexpr auto max_signed =
                static_cast<std::uint64_t>(std::numeric_limits<std::int64_t>::max());
            if (downloaded > max_signed || left > max_signed || uploaded > max_signed) {
                fail(ec, reason, "downloaded, left and uploaded must not be negative");
                return;
            }
            announce.downloaded = downloaded;
            announce.left = left;
            announce.uploaded = uploaded;
            const std::uint32_t event = in.u32();
            switch (event) {
                case 0:
                    announce.event = announce_event::none;
                    break;
                case 1:
                    announce.event = announce_event::completed;
                    break;
                case 2:
                    announce.event = announce_event::started;
                    break;
                case 3:
                    announce.event = announce_event::stopped;
                    break;
                default:
                    fail(ec, reason, "event " + std::to_string(event) + " is not 0..3");
                    return;
            }
            out.ip = in.u32();
            const std::uint32_t key = in.u32();
            std::array<char, 10> digits{};
            const auto end = std::to_chars(digits.data(), digits.data() + digits.size(), key).ptr;
            announce.key.assign(digits.data(), end);
            const auto num_want = static_cast<std::int32_t>(in.u32());
            if (num_want >= 0) {
                announce.numwant = static_cast<std::uint32_t>(num_want);
            }
            announce.port = in.u16();
            if (announce.port == 0) {
                fail(ec, reason, "port must be 1..65535");
                return;
            }
            if (!parse_options(in, out, ec, reason)) {
                return;
            }
            if (out.has_url_data) {
                ticket_into(out.url_data, limits, announce.ticket, ec, reason);
            }
            return;
        }
        case 2: {
            out.kind = action::scrape;
            const std::size_t body = packet.size() - connect_size;
            if (body == 0 || body % 20 != 0) {
                fail(ec, reason,
                     "scrape carries " + std::to_string(body) +
                         " bytes of info_hashes, a positive multiple of 20 is required");
                return;
            }
            if (body / 20 > max_scrape_hashes) {
                fail(ec, reason,
                     "scrape carries " + std::to_string(body / 20) + " info_hashes, at most " +
                         std::to_string(max_scrape_hashes) + " are allowed");
                return;
            }
            while (in.remaining() > 0) {
                out.info_hashes.push_back(in.bytes(20));
            }
            return;
        }
        default:
            out.kind = action::error;
            fail(ec, reason, "unknown action " + std::to_string(action_value));
            return;
    }
}

std::string encode_connect(std::uint32_t transaction_id, std::uint64_t connection_id) {
    std::string out;
    out.reserve(connect_size);
    put(out, static_cast<std::uint32_t>(action::connect), 4);
    put(out, transaction_id, 4);
    put(out, connection_id, 8);
    return out;
}

std::string encode_announce(std::uint32_t transaction_id, const announce_result& result,
                            bool ipv6) {
    std::string out;
    encode_announce(transaction_id, result, ipv6, out);
    return out;
}

void encode_announce(std::uint32_t transaction_id, const announce_result& result, bool ipv6,
                     std::string& out) {
    out.clear();
    if (result.error) {
        put(out, static_cast<std::uint32_t>(action::error), 4);
        put(out, transaction_id, 4);
        out += result.failure_reason;
        return;
    }
    const std::size_t family = ipv6 ? 16 : 4;
    if (result.peers.empty()) {
        // The compact form: the peers are already the answer's bytes; whole entries only.
        const std::string& compact = ipv6 ? result.compact_peers6 : result.compact_peers;
        const std::size_t size = compact.size() / (family + 2) * (family + 2);
        out.resize(20 + size);
        char* at = out.data();
        const auto write32 = [&at](std::uint32_t value) {
            for (int shift = 24; shift >= 0; shift -= 8) {
                *at++ = static_cast<char>((value >> shift) & 0xffU);
            }
        };
        write32(static_cast<std::uint32_t>(action::announce));
        write32(transaction_id);
        write32(clamp32(
            static_cast<std::uint64_t>(std::max<std::int64_t>(0, result.interval.count()))));
        write32(clamp32(result.incomplete));
        write32(clamp32(result.complete));
        if (size > 0) {
            std::memcpy(at, compact.data(), size);
        }
        return;
    }
    std::size_t count = 0;
    for (const auto& peer : result.peers) {
        count += peer.ip.size() == family ? 1 : 0;
    }
    // Sized once, then written in place.
    out.resize(20 + count * (family + 2));
    char* at = out.data();
    const auto write = [&at](std::uint64_t value, std::size_t size) {
        for (std::size_t i = size; i > 0; --i) {
            *at++ = static_cast<char>((value >> (8 * (i - 1))) & 0xffU);
        }
    };
    write(static_cast<std::uint32_t>(action::announce), 4);
    write(transaction_id, 4);
    write(clamp32(static_cast<std::uint64_t>(std::max<std::int64_t>(0, result.interval.count()))),
          4);
    write(clamp32(result.incomplete), 4);
    write(clamp32(result.complete), 4);
    for (const auto& peer : result.peers) {
        if (peer.ip.size() != family) {
            continue;
        }
        std::memcpy(at, peer.ip.data(), family);
        at += family;
        write(peer.port, 2);
    }
}

std::string encode_scrape(std::uint32_t transaction_id, const std::vector<std::string>& hashes,
                          const std::vector<std::pair<std::string, torrent_stats>>& found) {
    std::string out;
    out.reserve(8 + hashes.size() * 12);
    put(out, static_cast<std::uint32_t>(action::scrape), 4);
    put(out, transaction_id, 4);
    for (const auto& hash : hashes) {
        const torrent_stats* stats = nullptr;
        for (const auto& [key, value] : found) {
            if (key == hash) {
                stats = &value;
                break;
            }
        }
        put(out, stats ? clamp32(stats->seeders) : 0, 4);
        put(out, stats ? clamp32(stats->completed) : 0, 4);
        put(out, stats ? clamp32(stats->leechers) : 0, 4);
    }
    return out;
}

std::string encode_error(std::uint32_t transaction_id, std::string_view message) {
    std::string out;
    out.reserve(8 + message.size());
    put(out, static_cast<std::uint32_t>(action::error), 4);
    put(out, transaction_id, 4);
    out += message;
    return out;
}

}  // namespace imsp2p::tracker::udp
