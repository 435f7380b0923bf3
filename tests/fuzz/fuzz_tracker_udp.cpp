// Fuzz target for the UDP tracker datagram parser (BEP 15 with BEP 41 options). The input is a
// datagram; parse_request() must return a value or an error with a reason, never crash, and what
// it accepts must hold the invariants the UDP server relies on: connect is exactly 16 bytes with
// the protocol id; an announce has 20-byte info_hash and peer_id, a port, bounded URL data and a
// ticket no longer than the limit; a scrape carries 1..74 hashes of 20 bytes. The encoders must
// accept whatever the parser produced.

#include <imsp2p/tracker/udp_packet.hpp>

#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string>

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    namespace udp = imsp2p::tracker::udp;
    const imsp2p::core::byte_view packet(data, size);
    std::error_code ec;
    std::string reason;
    const imsp2p::tracker::request_limits limits;
    const udp::request request = udp::parse_request(packet, ec, &reason, limits);
    if (ec) {
        if (reason.empty()) {
            std::abort();
        }
        (void)udp::encode_error(request.transaction_id, reason);
        return 0;
    }
    if (!udp::answerable(packet)) {
        std::abort();
    }
    switch (request.kind) {
        case udp::action::connect:
            if (size != udp::connect_size || request.connection_id != udp::protocol_id) {
                std::abort();
            }
            (void)udp::encode_connect(request.transaction_id, 1);
            break;
        case udp::action::announce:
            if (size < udp::announce_size || request.announce.info_hash.size() != 20 ||
                request.announce.peer_id.size() != 20 || request.announce.port == 0 ||
                request.url_data.size() > udp::max_url_data ||
                request.announce.ticket.size() > limits.max_ticket_size ||
                (!request.has_url_data && !request.announce.ticket.empty())) {
                std::abort();
            }
            break;
        case udp::action::scrape:
            if (request.info_hashes.empty() ||
                request.info_hashes.size() > udp::max_scrape_hashes) {
                std::abort();
            }
            for (const auto& hash : request.info_hashes) {
                if (hash.size() != 20) {
                    std::abort();
                }
            }
            (void)udp::encode_scrape(request.transaction_id, request.info_hashes, {});
            break;
        case udp::action::error:
            std::abort();  // never accepted from a client
    }
    return 0;
}
