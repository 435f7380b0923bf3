// Fuzz target for the IMS identity parsers (imsp2p::core::impu and impi): no input may crash
// them, and normalisation must be idempotent: the canonical form of a parsed canonical form is
// the same string.

#include <imsp2p/core/identity.hpp>

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

void check_impu_stable(const imsp2p::core::impu& identity) {
    std::error_code ec;
    const auto from_canonical = imsp2p::core::impu::parse(identity.canonical(), ec);
    check(!ec);
    check(from_canonical.canonical() == identity.canonical());
    check(from_canonical == identity);
    check(from_canonical.hash() == identity.hash());
    check(from_canonical.user() == identity.user());
    check(from_canonical.host() == identity.host());
    check(from_canonical.port() == identity.port());
    check(from_canonical.is_telephone_number() == identity.is_telephone_number());
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    using imsp2p::core::impi;
    using imsp2p::core::impu;
    const std::string_view text(reinterpret_cast<const char*>(data), size);

    std::error_code ec;
    const impu public_identity = impu::parse(text, ec);
    if (ec) {
        check(public_identity.empty());
    } else {
        check(!public_identity.empty());
        check_impu_stable(public_identity);
        const impu from_str = impu::parse(public_identity.str(), ec);
        check(!ec && from_str.str() == public_identity.str() && from_str == public_identity);
    }

    const impi private_identity = impi::parse(text, ec);
    if (ec) {
        check(private_identity.empty());
        return 0;
    }
    check(private_identity.str().size() <= impi::max_length);
    check(std::string(private_identity.user()) + "@" + std::string(private_identity.realm()) ==
          private_identity.str());
    const impi reparsed = impi::parse(private_identity.str(), ec);
    check(!ec && reparsed.str() == private_identity.str() && reparsed == private_identity);

    const impu derived = impu::from_impi(private_identity, ec);
    if (ec) {
        check(derived.empty());
    } else {
        check_impu_stable(derived);
    }
    return 0;
}
