// Fuzz target for the content index's admin entry body parser (PUT /admin/entries/<doi>):
// JSON, the content record, base64, bencode and the purchase URI. Every input must give an
// entry or an error with a reason, never a crash; an accepted entry must hold the invariants
// the index relies on (a valid record, a non-empty torrent, a sip:/sips: purchase URI).

#include <imsp2p/tracker/index_server.hpp>

#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string>
#include <string_view>

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    const std::string_view input(reinterpret_cast<const char*>(data), size);
    for (const std::string_view templ :
         {std::string_view(), std::string_view("sip:c@op?doi={doi}")}) {
        std::error_code ec;
        std::string detail;
        const auto entry = imsp2p::tracker::parse_admin_entry_body(input, templ, ec, &detail);
        if (ec) {
            if (detail.empty()) {
                std::abort();
            }
            continue;
        }
        std::error_code invalid;
        entry.record.validate(invalid);
        std::string scheme = entry.purchase_uri.substr(0, 5);
        for (char& c : scheme) {
            c = static_cast<char>(c >= 'A' && c <= 'Z' ? c + ('a' - 'A') : c);
        }
        if (invalid || entry.torrent.empty() ||
            !(scheme.starts_with("sip:") || scheme.starts_with("sips:"))) {
            std::abort();
        }
    }
    return 0;
}
