// Fuzz target for the JOSE parsers: jws_parse (+ jws_verify), jwe_decrypt with a fixed X25519
// key (the RFC 7748 §6.1 "Bob" key, which the seed JWEs are encrypted to), jwk::parse,
// jwk_set::parse and jose_protected_header. Every parser sees every input.
//
// Invariants (trap on violation):
// - a parsed JWS re-encodes to the input (base64url is canonical), and its signing input is the
//   input's first two parts;
// - errors leave results empty;
// - a parsed JWK serialises and re-parses to an equal key with the same 43-character thumbprint;
// - a parsed JWK Set round-trips to the same keys.

#include <imsp2p/core/encoding.hpp>
#include <imsp2p/core/jose.hpp>

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <system_error>

namespace {

using namespace imsp2p::core;

const x25519_private_key& recipient_key() {
    static const x25519_private_key key = x25519_private_key::from_raw(
        from_hex("5dab087e624a8a4b79e17f8b83800ee66f3bb1292618b6fd1c2f8b27ff88e0eb"));
    return key;
}

const ed25519_public_key& verification_key() {
    static const ed25519_public_key key = ed25519_public_key::from_raw(
        from_hex("d75a980182b10ab7d54bfed3c964073a0ee172f3daa62325af021a68f707511a"));
    return key;
}

void check(bool condition) {
    if (!condition) {
        __builtin_trap();
    }
}

void fuzz_jws(std::string_view input) {
    std::error_code ec;
    const auto parsed = jws_parse(input, ec);
    if (ec) {
        check(parsed.payload.empty() && parsed.signature.empty() && parsed.signing_input.empty());
        return;
    }
    check(parsed.header.is_object());
    check(input.substr(0, parsed.signing_input.size()) == parsed.signing_input);
    const std::string rebuilt = parsed.signing_input + "." + base64url_encode(parsed.signature);
    check(rebuilt == input);
    const auto dot = parsed.signing_input.find('.');
    check(dot != std::string::npos);
    check(parsed.signing_input.substr(dot + 1) == base64url_encode(parsed.payload));
    std::error_code verify_ec;
    const bool valid = jws_verify(parsed, verification_key(), verify_ec);
    check(valid == !verify_ec);
}

void fuzz_jwe(std::string_view input) {
    std::error_code ec;
    const auto plaintext = jwe_decrypt(input, recipient_key(), ec);
    if (ec) {
        check(plaintext.empty());
    }
}

void fuzz_jwk(std::string_view input) {
    std::error_code ec;
    const auto key = jwk::parse(input, ec);
    if (ec) {
        check(key.empty());
        return;
    }
    check(!key.empty());
    const auto thumbprint = key.thumbprint();
    check(thumbprint.size() == 43);
    std::error_code again_ec;
    const auto again = jwk::parse(key.serialize(true), again_ec);
    check(!again_ec);
    check(again == key);
    check(again.thumbprint() == thumbprint);
    check(jwk::parse(key.serialize(false)).thumbprint() == thumbprint);
}

void fuzz_jwk_set(std::string_view input) {
    std::error_code ec;
    const auto set = jwk_set::parse(input, ec);
    if (ec) {
        check(set.keys.empty());
        return;
    }
    const auto again = jwk_set::parse(set.serialize(true), ec);
    check(!ec);
    check(again.keys == set.keys);
}

void fuzz_header(std::string_view input) {
    std::error_code ec;
    const auto header = jose_protected_header(input, ec);
    check(ec ? header.is_null() : header.is_object());
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    const std::string_view input(reinterpret_cast<const char*>(data), size);
    fuzz_jws(input);
    fuzz_jwe(input);
    fuzz_jwk(input);
    fuzz_jwk_set(input);
    fuzz_header(input);
    return 0;
}
