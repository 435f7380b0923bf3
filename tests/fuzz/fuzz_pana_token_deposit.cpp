// Fuzz target for the PAA -> HSS token deposit of libimsp2p-pana (open_token_deposit()). The
// input is tried twice: as a sealed message as it arrives over HTTP (it must be refused with a
// precise error unless it is authentic), and as the plaintext of a deposit sealed here under the
// fuzzer's service key, which exercises the parser behind the AES-GCM check. Whatever opens
// must seal again and open to the same deposit.

#include <imsp2p/pana/error.hpp>
#include <imsp2p/pana/token_store.hpp>

#include <imsp2p/core/crypto.hpp>
#include <imsp2p/core/error.hpp>

#include <algorithm>
#include <array>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string_view>
#include <system_error>

namespace {

namespace core = imsp2p::core;
namespace pana = imsp2p::pana;

const core::byte_vector service_key(pana::token_service_key_size, 0x42);
const auto now = std::chrono::system_clock::time_point(std::chrono::seconds(1'700'000'000));

void check(core::byte_view sealed) {
    std::error_code ec;
    const auto deposit = pana::open_token_deposit(service_key, sealed, now, ec);
    if (!deposit) {
        if (ec != pana::errc::token_service_unauthorized && ec != pana::errc::token_expired) {
            std::abort();  // a refusal is always one of these two
        }
        return;
    }
    if (ec || deposit->impi.empty() || deposit->token.size() < 16 || deposit->token.size() > 64 ||
        deposit->expiry <= now) {
        std::abort();
    }
    const auto again = pana::seal_token_deposit(service_key, deposit->impi, deposit->token.view(),
                                                deposit->expiry, ec);
    if (ec) {
        std::abort();
    }
    const auto reopened = pana::open_token_deposit(service_key, again, now, ec);
    if (!reopened || reopened->impi != deposit->impi || reopened->expiry != deposit->expiry ||
        !std::equal(reopened->token.begin(), reopened->token.end(), deposit->token.begin(),
                    deposit->token.end())) {
        std::abort();
    }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    const core::byte_view input(data, size);
    check(input);

    constexpr std::string_view magic = "IMTD2";
    const std::array<std::uint8_t, core::aes_gcm_nonce_size> nonce{};
    const core::byte_vector body =
        core::aes256gcm_seal(service_key, nonce, core::as_bytes(magic), input);
    // Sized first, then filled: GCC 12 at -O2 mistakes vector::insert here for an
    // out-of-bounds copy (-Warray-bounds).
    core::byte_vector sealed(magic.size() + nonce.size() + body.size());
    auto out = std::copy(magic.begin(), magic.end(), sealed.begin());
    out = std::copy(nonce.begin(), nonce.end(), out);
    std::copy(body.begin(), body.end(), out);
    check(sealed);
    return 0;
}
