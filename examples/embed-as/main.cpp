// imsp2p-embed-as: how a SIP server vendor embeds the AS content service without our event loop
// (docs/embedding.md). It builds a content_service, converts "its own" parsed requests into
// incoming_request values, and prints what the service answers and asks to send. It needs no
// running DRM server, tracker or index: the requests below are answered from local state.
//
// Usage: imsp2p-embed-as [data-dir]   (default: a fresh directory under the system temp dir)

#include <imsp2p/sip/bodies.hpp>
#include <imsp2p/sip/content_service.hpp>

#include <imsp2p/core/crypto.hpp>
#include <imsp2p/core/encoding.hpp>

#include <chrono>
#include <filesystem>
#include <iostream>
#include <string>

namespace sip = imsp2p::sip;
namespace core = imsp2p::core;

namespace {

void print(const std::string& title, const sip::service_result& result) {
    std::cout << "== " << title << "\n"
              << "   response: " << result.response.status << " " << result.response.reason << "\n";
    for (const auto& header : result.response.headers) {
        std::cout << "     " << header.name << ": " << header.value << "\n";
    }
    for (const auto& request : result.requests) {
        std::cout << "   send " << request.method << " " << request.request_uri << " (correlation "
                  << request.correlation_id << ")\n";
        for (const auto& header : request.headers) {
            std::cout << "     " << header.name << ": " << header.value << "\n";
        }
        if (!request.body.empty()) {
            std::cout << "     body: " << request.body.substr(0, 200)
                      << (request.body.size() > 200 ? "..." : "") << "\n";
        }
    }
}

/** What the host's own SIP stack would fill in from a parsed request. */
sip::incoming_request from_my_stack(std::string method, std::string event = {}) {
    sip::incoming_request request;
    request.method = std::move(method);
    request.request_uri = "sip:content@operator.example";
    request.from_uri = "sip:alice@operator.example";
    request.from_tag = "a1b2";
    request.to_uri = "sip:content@operator.example";
    request.call_id = "c0ffee@192.0.2.10";
    request.cseq = 1;
    request.event = event;
    if (!event.empty()) {
        request.headers.push_back({"Event", event});
    }
    request.asserted_identity = "<sip:alice@operator.example>";  // from P-Asserted-Identity
    request.source_address = "192.0.2.1";                        // the S-CSCF
    request.source_port = 5060;
    request.via_transport = sip::transport::tcp;
    return request;
}

}  // namespace

int main(int argc, char** argv) {
    const std::filesystem::path data_dir =
        argc > 1 ? std::filesystem::path(argv[1])
                 : std::filesystem::temp_directory_path() /
                       ("imsp2p-embed-as-" + core::to_hex(core::random_bytes(4)));
    std::filesystem::create_directories(data_dir);

    sip::service_settings settings;
    settings.trusted_addresses = {"192.0.2.1"};
    settings.content_psi = "sip:content@operator.example";
    settings.as_uri = "sip:as@operator.example";
    settings.scscf_route = {"<sip:scscf.operator.example;lr>"};
    settings.data_dir = data_dir;
    settings.drm_url = "http://127.0.0.1:8088";
    settings.index_url = "http://127.0.0.1:8090";
    settings.trackers = {{"http://127.0.0.1:6969/announce", "http://127.0.0.1:6969"}};
    settings.signing_key = core::ed25519_private_key::generate();  // load yours from a key file

    sip::content_service service(settings);
    const auto now = std::chrono::system_clock::now();

    // Start-up: finish whatever a previous run left unfinished, and send it.
    const auto pending = service.recover(now);
    std::cout << "recover(): " << pending.size() << " request(s) to send\n";

    print("OPTIONS", service.handle(from_my_stack("OPTIONS"), now));

    auto spoofed = from_my_stack("MESSAGE");
    spoofed.source_address = "203.0.113.9";  // not the S-CSCF
    print("MESSAGE from an untrusted address", service.handle(spoofed, now));

    auto acquire = from_my_stack("MESSAGE");
    acquire.content_type = std::string(sip::acquire_media_type);
    sip::acquire_request body;
    body.doi = core::doi::parse("10.5555/not-published");
    body.device_key = core::jwk(core::x25519_private_key::generate().public_key());
    body.request_id = "req-1";
    acquire.body = body.serialize();
    print("MESSAGE acquire of an unknown DOI", service.handle(acquire, now));

    auto subscribe = from_my_stack("SUBSCRIBE", "imsp2p-catalog");
    subscribe.expires = 600;
    subscribe.headers.push_back({"Contact", "<sip:alice@192.0.2.10:5062>"});
    const auto subscribed = service.handle(subscribe, now);
    print("SUBSCRIBE imsp2p-catalog", subscribed);

    // The host sends each request and reports its final status.
    for (const auto& request : subscribed.requests) {
        service.on_outcome(request.correlation_id, 200, now);
    }
    // The host's timer: poll() about once a second.
    const auto later = service.poll(now + std::chrono::minutes(11));
    std::cout << "poll() 11 minutes later: " << later.size() << " request(s) to send";
    if (!later.empty()) {
        for (const auto& header : later.front().headers) {
            if (header.name == "Subscription-State") {
                std::cout << " (" << header.value << ")";
            }
        }
    }
    std::cout << "\n";
    return 0;
}
