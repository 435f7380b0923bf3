// Fuzz target for the PANA message codec and state machines of libimsp2p-pana: any input is
// parsed; whatever parses must serialise back to a message that parses to an equal value and
// has the same size. Every input is also fed to an idle and a
// started PaC and PAA session, which must not crash and must only count it as dropped or
// handle it.

#include <imsp2p/pana/pana_message.hpp>
#include <imsp2p/pana/pana_session.hpp>

#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <memory>
#include <system_error>

namespace {

namespace pana = imsp2p::pana;

// An EAP peer and authenticator that never succeed: the fuzzer drives PANA, not EAP.
class silent_peer final : public pana::eap_peer {
  public:
    pana::eap_step on_packet(imsp2p::core::byte_view) override { return {}; }
    imsp2p::core::byte_vector msk() const override { return {}; }
    imsp2p::core::byte_vector emsk() const override { return {}; }
};

class silent_authenticator final : public pana::eap_authenticator {
  public:
    pana::eap_step start() override { return {{1, 1, 0, 5, 1}, pana::eap_status::in_progress}; }
    pana::eap_step on_response(imsp2p::core::byte_view) override {
        return {{4, 1, 0, 4}, pana::eap_status::failure};
    }
    imsp2p::core::byte_vector msk() const override { return {}; }
    imsp2p::core::byte_vector emsk() const override { return {}; }
    std::string peer_identity() const override { return {}; }
};

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    const imsp2p::core::byte_view wire(data, size);
    std::error_code ec;
    const auto message = pana::parse_pana_message(wire, ec);
    if (message) {
        if (ec) {
            std::abort();
        }
        const imsp2p::core::byte_vector written = pana::serialize(*message, ec);
        if (ec) {
            std::abort();  // everything parsed must be representable
        }
        const auto again = pana::parse_pana_message(written, ec);
        if (!again || *again != *message || written.size() != size) {
            std::abort();
        }
    } else if (!ec) {
        std::abort();  // every rejection has a reason
    }

    const auto now = pana::pana_clock::time_point{};
    pana::pana_pac_session idle_pac(std::make_unique<silent_peer>(), {});
    idle_pac.on_datagram(wire, now);
    pana::pana_pac_session started_pac(std::make_unique<silent_peer>(), {});
    started_pac.start(now);
    started_pac.on_datagram(wire, now);
    started_pac.on_timer(now + std::chrono::seconds(1));
    pana::pana_paa_session paa(1, [] { return std::make_unique<silent_authenticator>(); }, {});
    paa.on_datagram(wire, now);
    paa.start(now);
    paa.on_datagram(wire, now);
    paa.on_timer(now + std::chrono::seconds(1));
    return 0;
}
