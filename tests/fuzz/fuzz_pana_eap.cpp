// Fuzz target for the EAP parser and the EAP-TLS authenticator of libimsp2p-pana: the input is
// parsed as one EAP packet (whatever parses must serialise back to the same bytes), then split
// into EAP-TLS responses fed to a fresh authenticator after its Identity and Start exchange
// (fragment reassembly, L/M/S flags, length limits, the TLS server on memory BIOs). No input may
// crash, and a failed conversation must hold no keys.
//
// The certificate and key below are a throw-away self-signed P-256 pair made for this target
// only (valid until 2126); they protect nothing.

#include <imsp2p/pana/eap.hpp>
#include <imsp2p/pana/eap_tls.hpp>

#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <memory>
#include <string>
#include <system_error>

namespace {

namespace pana = imsp2p::pana;
using imsp2p::core::byte_vector;

const char* const certificate_pem =
    "-----BEGIN CERTIFICATE-----\n"
    "MIIBpzCCAU6gAwIBAgIUJpgplZK1iPvgiIR1ILgdgWhpVi4wCgYIKoZIzj0EAwIw\n"
    "GjEYMBYGA1UEAwwPaW1zcDJwIGZ1enogUEFBMCAXDTI2MTEyMTIxNDgwNloYDzIx\n"
    "MjYxMDI4MjE0ODA2WjAaMRgwFgYDVQQDDA9pbXNwMnAgZnV6eiBQQUEwWTATBgcq\n"
    "hkjOPQIBBggqhkjOPQMBBwNCAARkvMGb25nNzX1cbbhNM1sqy7qvenWEH8AN6BM7\n"
    "E6j3jCzWAqmLAjp/Yv0qi5AorZ9OILn4hggvLnTM9cUuN5C6o3AwbjAdBgNVHQ4E\n"
    "FgQUErppj6ep4HI+NBIl9Xa3Or8GjSQwHwYDVR0jBBgwFoAUErppj6ep4HI+NBIl\n"
    "9Xa3Or8GjSQwDwYDVR0TAQH/BAUwAwEB/zAbBgNVHREEFDASghBwYWEuZnV6ei5p\n"
    "bnZhbGlkMAoGCCqGSM49BAMCA0cAMEQCIHmbpmDBxYOluqbHfXRSRXfssrl+9Jss\n"
    "UNbDBkgDcXPlAiB3dY7m8MfW+HY3z4AOVH8CUs+qQHpfC0gBvuMoKrfPwQ==\n"
    "-----END CERTIFICATE-----\n";

const char* const private_key_pem =
    "-----BEGIN PRIVATE KEY-----\n"
    "MIGHAgEAMBMGByqGSM49AgEGCCqGSM49AwEHBG0wawIBAQQggw7cziCGHH3xL6K8\n"
    "gGaA+C30czZ6X/tUbb7LUlzCdC+hRANCAARkvMGb25nNzX1cbbhNM1sqy7qvenWE\n"
    "H8AN6BM7E6j3jCzWAqmLAjp/Yv0qi5AorZ9OILn4hggvLnTM9cUuN5C6\n"
    "-----END PRIVATE KEY-----\n";

std::shared_ptr<const pana::eap_tls_context> server_context() {
    static const std::shared_ptr<const pana::eap_tls_context> context = [] {
        pana::eap_tls_settings settings;
        settings.ca_pem = certificate_pem;
        settings.certificate_chain_pem = certificate_pem;
        settings.private_key_pem = private_key_pem;
        settings.fragment_size = 200;
        settings.max_message_size = 16 * 1024;
        std::error_code ec;
        auto made = pana::eap_tls_context::create(settings, pana::eap_tls_role::server, ec);
        if (!made) {
            std::abort();
        }
        return made;
    }();
    return context;
}

void parse_round_trip(const std::uint8_t* data, std::size_t size) {
    std::error_code ec;
    const auto packet = pana::parse_eap_packet(imsp2p::core::byte_view(data, size), ec);
    if (!packet) {
        if (!ec) {
            std::abort();
        }
        return;
    }
    const byte_vector again = pana::serialize_eap_packet(*packet);
    if (again != byte_vector(data, data + size)) {
        std::abort();
    }
}

void converse(const std::uint8_t* data, std::size_t size) {
    pana::eap_tls_authenticator authenticator(server_context());
    const pana::eap_step identity = authenticator.start();
    std::uint8_t id = identity.message.at(1);
    const std::string name = "alice@ims.example";
    byte_vector response{2, id, 0, static_cast<std::uint8_t>(5 + name.size()), 1};
    response.insert(response.end(), name.begin(), name.end());
    pana::eap_step step = authenticator.on_response(response);
    // Each chunk: one length byte, then that many bytes of EAP-TLS type data (flags first).
    std::size_t offset = 0;
    while (offset < size && step.status == pana::eap_status::in_progress) {
        if (step.message.size() >= 2) {
            id = step.message[1];
        }
        const std::size_t length = data[offset++];
        const std::size_t take = length < size - offset ? length : size - offset;
        byte_vector wire{2, id, 0, 0, 13};
        wire.insert(wire.end(), data + offset, data + offset + take);
        offset += take;
        wire[2] = static_cast<std::uint8_t>(wire.size() >> 8);
        wire[3] = static_cast<std::uint8_t>(wire.size());
        step = authenticator.on_response(wire);
    }
    if (step.status != pana::eap_status::success && !authenticator.msk().empty()) {
        std::abort();
    }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    parse_round_trip(data, size);
    converse(data, size);
    return 0;
}
