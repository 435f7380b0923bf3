// Fuzz target for imsp2p::core::config: parsing arbitrary text as a configuration must never
// crash, every getter must be safe on whatever document comes out, and a parsed document must
// survive serialise -> parse unchanged. Also feeds the text to parse_duration() and, as a
// command-line override, to apply_override().

#include <imsp2p/core/config.hpp>

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace {

using imsp2p::core::config;

void exercise_getters(const config& cfg, const std::string& pointer) {
    std::error_code ec;
    std::string detail;
    (void)cfg.contains(pointer);
    (void)cfg.get<int>(pointer, ec, &detail);
    (void)cfg.get<std::uint16_t>(pointer, ec);
    (void)cfg.get<std::int64_t>(pointer, ec);
    (void)cfg.get<std::uint64_t>(pointer, ec);
    (void)cfg.get<double>(pointer, ec);
    (void)cfg.get<bool>(pointer, ec);
    (void)cfg.get<std::string>(pointer, ec, &detail);
    (void)cfg.get<std::vector<std::string>>(pointer, ec, &detail);
    (void)cfg.get<nlohmann::json>(pointer, ec);
    (void)cfg.get_or<int>(pointer, 7, {1, 100}, ec, &detail);
    (void)cfg.require<std::string>(pointer, ec, &detail);
    (void)cfg.port_or(pointer, 5060, ec, &detail);
    (void)cfg.duration_or(pointer, std::chrono::seconds(30), ec, &detail);
    (void)cfg.path_or(pointer, "default", ec, &detail);
    if (ec && ec.category() != imsp2p::core::error_category()) {
        __builtin_trap();  // only imsp2p.core codes are reported
    }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    const std::string_view text(reinterpret_cast<const char*>(data), size);

    std::error_code ec;
    (void)imsp2p::core::parse_duration(text, ec);

    std::string detail;
    config cfg = config::parse(text, "fuzz.json", ec, &detail);
    if (ec) {
        if (ec != imsp2p::core::errc::config_malformed || detail.empty()) {
            __builtin_trap();
        }
        cfg = config::parse(R"({"a": {"b": [1, "x"]}, "c": "5m"})", "seed");
    } else if (!cfg.document().is_object()) {
        __builtin_trap();
    }

    // Round trip: what we parsed must serialise and parse back identically.
    const std::string dumped = cfg.document().dump();
    const config again = config::parse(dumped, "again", ec);
    if (ec || again.document() != cfg.document()) {
        __builtin_trap();
    }

    // Getters on fixed pointers, on the text as a pointer, and on every top-level member.
    for (const char* pointer :
         {"", "/a", "/a/b", "/a/b/0", "/a/b/1", "/c", "/0", "/-", "/~", "a"}) {
        exercise_getters(cfg, pointer);
    }
    exercise_getters(cfg, std::string(text.substr(0, 64)));
    for (const auto& [key, value] : cfg.document().items()) {
        std::string pointer = "/";
        for (const char c : key) {
            pointer += c == '~'   ? std::string("~0")
                       : c == '/' ? std::string("~1")
                                  : std::string(1, c);
        }
        exercise_getters(cfg, pointer);
    }

    (void)cfg.check_known_keys(nlohmann::json{"/a/b", "/c", "/x/*/y"}, ec, &detail);
    (void)cfg.check_known_keys(nlohmann::json{{"a", {{"*", true}}}, {"c", nullptr}}, ec, &detail);
    (void)cfg.check_known_keys(cfg.document(), ec, &detail);  // a document knows its own keys
    if (ec) {
        __builtin_trap();
    }

    // The text as a --set override: the document changes only on success.
    const nlohmann::json before = cfg.document();
    cfg.apply_override(text.substr(0, 256), ec, &detail);
    if (ec && cfg.document() != before) {
        __builtin_trap();
    }
    if (!cfg.document().is_object()) {
        __builtin_trap();
    }
    return 0;
}
