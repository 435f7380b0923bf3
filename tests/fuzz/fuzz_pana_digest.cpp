// Fuzz target for the Digest header parser of libimsp2p-pana: any input is parsed as a
// challenge and as credentials; whatever parses must serialise, and the serialisation must
// parse back to an equal value (when it stays within the size limit). The AKA nonce decoder
// runs on every parsed nonce.

#include <imsp2p/pana/digest.hpp>

#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string>
#include <string_view>
#include <system_error>

namespace {

namespace pana = imsp2p::pana;

template <class Header>
void round_trip(std::string_view text) {
    std::error_code ec;
    std::string detail;
    const Header first = Header::parse(text, ec, detail);
    if (ec) {
        if (detail.empty()) {
            std::abort();  // every rejection must say why
        }
        return;
    }
    const std::string written = first.to_string(ec);
    if (ec) {
        std::abort();  // a parsed header must always be representable
    }
    if (written.size() > pana::digest_limits::max_header_size) {
        return;  // quoting and separators may grow a header that was at the limit
    }
    const Header second = Header::parse(written, ec, detail);
    if (ec || !(second == first)) {
        std::abort();
    }
    pana::aka_nonce::decode(first.nonce, ec);
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    const std::string_view text(reinterpret_cast<const char*>(data), size);
    round_trip<pana::digest_challenge>(text);
    round_trip<pana::digest_credentials>(text);
    return 0;
}
