// Fuzz target for the content service's JSON bodies (imsp2p/sip/bodies.hpp). The input is
// parsed as each of the seven documents: no parser may crash, a refusal must name a reason, and
// whatever a parser accepts must serialise and parse back to the same serialisation.
// Seeds: one valid document of each kind plus near misses.

#include <imsp2p/sip/bodies.hpp>

#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string>
#include <string_view>
#include <system_error>

namespace {

template <class T>
void check(std::string_view text) {
    std::error_code ec;
    imsp2p::sip::body_error detail;
    const T parsed = T::parse(text, ec, &detail);
    if (ec) {
        if (detail.reason.empty()) {
            std::abort();  // every refusal says why
        }
        return;
    }
    const std::string once = parsed.serialize();
    const T again = T::parse(once, ec, &detail);
    if (ec || again.serialize() != once) {
        std::abort();  // accepted documents round-trip
    }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    const std::string_view text(reinterpret_cast<const char*>(data), size);
    check<imsp2p::sip::acquire_request>(text);
    check<imsp2p::sip::publish_request>(text);
    check<imsp2p::sip::ticket_document>(text);
    check<imsp2p::sip::publish_result>(text);
    check<imsp2p::sip::catalog_notification>(text);
    check<imsp2p::sip::seed_assignment>(text);
    check<imsp2p::sip::seed_report>(text);
    return 0;
}
