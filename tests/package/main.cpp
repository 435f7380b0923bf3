// A consumer of the installed SDK: links imsp2p::core (or the pkg-config flags of imsp2p-core),
// parses a DOI and signs and verifies a JWS; built with IMSP2P_COMPONENT=sip it also links
// imsp2p::sip and runs the client program's --help. Prints "consumer ok" on success.

#include <imsp2p/core/crypto.hpp>
#include <imsp2p/core/doi.hpp>
#include <imsp2p/core/jose.hpp>
#include <imsp2p/core/version.hpp>

#ifdef IMSP2P_CONSUMER_SIP
#include <imsp2p/sip/client_runner.hpp>
#endif

#include <iostream>
#include <string>

int main() {
    namespace core = imsp2p::core;
    const core::doi doi = core::doi::parse("https://doi.org/10.5555/Consumer%2FTest");
    if (doi.str() != "10.5555/Consumer/Test" ||
        doi != core::doi::parse("doi:10.5555/CONSUMER/test")) {
        std::cerr << "unexpected DOI " << doi.str() << "\n";
        return 1;
    }
    const core::ed25519_private_key key = core::ed25519_private_key::generate();
    const std::string token =
        core::jws_sign(core::as_bytes("{\"doi\":\"" + doi.str() + "\"}"), key);
    std::error_code ec;
    const core::parsed_jws parsed = core::jws_parse(token, ec);
    if (ec || !core::jws_verify(parsed, key.public_key(), ec)) {
        std::cerr << "JWS does not verify: " << ec.message() << "\n";
        return 1;
    }
#ifdef IMSP2P_CONSUMER_SIP
    // The whole client program from the library: its overview, without starting anything.
    if (imsp2p::sip::client_runner().run({"--help"}) != 0) {
        std::cerr << "client_runner --help failed\n";
        return 1;
    }
#endif
    std::cout << "consumer ok: imsp2p " << core::version_string() << ", " << doi.url() << ", JWS "
              << token.size() << " bytes\n";
    return 0;
}
