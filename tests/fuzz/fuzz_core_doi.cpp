// Fuzz target for imsp2p::core::doi parsing: whatever the input, parsing must not crash, and a
// parsed DOI must survive its url(), urn(), str() and key() forms unchanged.

#include <imsp2p/core/doi.hpp>

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <system_error>

namespace {

void check(bool condition) {
    if (!condition) {
        __builtin_trap();
    }
}

// Parses one presentation form of `original` and checks that it gives back the same DOI.
void check_round_trip(const imsp2p::core::doi& original, const std::string& form) {
    std::error_code ec;
    const auto reparsed = imsp2p::core::doi::parse(form, ec);
    check(!ec);
    check(reparsed == original);
    check(reparsed.str() == original.str());
    check(reparsed.key() == original.key());
    check(reparsed.hash() == original.hash());
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    using imsp2p::core::doi;
    const std::string_view text(reinterpret_cast<const char*>(data), size);

    std::error_code canonical_ec;
    const doi verbatim = doi::parse_canonical(text, canonical_ec);
    check(canonical_ec ? verbatim.empty() : verbatim.str() == text);

    std::error_code ec;
    const doi parsed = doi::parse(text, ec);
    if (ec) {
        check(parsed.empty());
        return 0;
    }
    check(!parsed.empty());
    check(parsed.str().size() <= doi::max_length);
    check(parsed.str().starts_with("10."));
    check(std::string(parsed.prefix()) + "/" + std::string(parsed.suffix()) == parsed.str());

    // The URL and URN forms are printable ASCII and parse back to the same DOI.
    const std::string url = parsed.url();
    for (const char c : url) {
        check(c > 0x20 && c < 0x7F);
    }
    check_round_trip(parsed, url);
    check_round_trip(parsed, parsed.urn());

    // str() reads back verbatim; key() is itself a valid DOI equal to this one, and stable.
    const doi from_str = doi::parse_canonical(parsed.str(), ec);
    check(!ec && from_str.str() == parsed.str());
    const std::string key = parsed.key();
    const doi from_key = doi::parse_canonical(key, ec);
    check(!ec);
    check(from_key == parsed);
    check(from_key.key() == key);
    check(from_key.hash() == parsed.hash());
    return 0;
}
