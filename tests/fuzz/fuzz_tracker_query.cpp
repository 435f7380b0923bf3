// Fuzz target for the tracker's HTTP request parsers (announce and scrape targets, percent
// decoding) and the bencode decoder. The input is used as a request target; every parser must
// return a value or an error, never crash, and what parse_announce() accepts must hold the
// invariants the tracker relies on (20-byte info_hash and peer_id, port 1..65535).
// A bencoded input that decodes must re-encode to the same bytes (the decoder is canonical).

#include <imsp2p/tracker/bencode.hpp>
#include <imsp2p/tracker/request.hpp>

#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string>
#include <string_view>

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    const std::string_view input(reinterpret_cast<const char*>(data), size);
    std::error_code ec;
    std::string reason;
    const imsp2p::tracker::request_limits limits;

    const auto announce = imsp2p::tracker::parse_announce(input, limits, ec, &reason);
    if (!ec) {
        if (announce.info_hash.size() != 20 || announce.peer_id.size() != 20 ||
            announce.port == 0 || announce.ticket.size() > limits.max_ticket_size) {
            std::abort();
        }
    } else if (reason.empty()) {
        std::abort();
    }
    const auto scrape = imsp2p::tracker::parse_scrape(input, limits, ec, &reason);
    if (!ec) {
        for (const auto& hash : scrape.info_hashes) {
            if (hash.size() != 20) {
                std::abort();
            }
        }
        if (scrape.info_hashes.size() > limits.max_scrape_hashes) {
            std::abort();
        }
    }
    imsp2p::tracker::percent_decode(input, ec);

    const auto value = imsp2p::tracker::bdecode(input, ec);
    if (!ec && imsp2p::tracker::bencode(value) != input) {
        std::abort();
    }
    return 0;
}
