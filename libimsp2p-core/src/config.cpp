#include <imsp2p/core/config.hpp>

#include <cerrno>
#include <cstring>
#include <fstream>
#include <set>
#include <utility>

namespace imsp2p::core {

namespace {

constexpr std::size_t max_file_size = 16 * 1024 * 1024;
constexpr int max_nesting_depth = 64;

/** A short, printable rendering of a JSON value for error messages. */
std::string describe(const nlohmann::json& value) {
    std::string text = value.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
    constexpr std::size_t limit = 60;
    if (text.size() > limit) {
        text.resize(limit);
        text += "...";
    }
    return text;
}

std::string display_pointer(std::string_view pointer) {
    return pointer.empty() ? std::string("(top level)") : std::string(pointer);
}

/** Splits a (syntactically valid) JSON pointer into unescaped reference tokens. */
std::vector<std::string> split_pointer(std::string_view pointer) {
    std::vector<std::string> tokens;
    if (pointer.empty()) {
        return tokens;
    }
    std::size_t start = 1;
    while (true) {
        const std::size_t slash = pointer.find('/', start);
        const std::string_view raw = pointer.substr(
            start, slash == std::string_view::npos ? std::string_view::npos : slash - start);
        std::string token;
        for (std::size_t i = 0; i < raw.size(); ++i) {
            if (raw[i] == '~' && i + 1 < raw.size()) {
                token += raw[i + 1] == '1' ? '/' : '~';
                ++i;
            } else {
                token += raw[i];
            }
        }
        tokens.push_back(std::move(token));
        if (slash == std::string_view::npos) {
            break;
        }
        start = slash + 1;
    }
    return tokens;
}

/** Escapes one reference token for a JSON pointer. */
std::string escape_token(std::string_view token) {
    std::string escaped;
    for (const char c : token) {
        if (c == '~') {
            escaped += "~0";
        } else if (c == '/') {
            escaped += "~1";
        } else {
            escaped += c;
        }
    }
    return escaped;
}

/** Parses an RFC 6901 array index ("0" or digits without a leading zero). */
std::optional<std::size_t> array_index(std::string_view token) {
    if (token.empty() || token.size() > 18 || (token.size() > 1 && token[0] == '0')) {
        return std::nullopt;
    }
    std::size_t index = 0;
    for (const char c : token) {
        if (c < '0' || c > '9') {
            return std::nullopt;
        }
        index = index * 10 + static_cast<std::size_t>(c - '0');
    }
    return index;
}

/** RFC 6901 syntax: empty, or "/"-separated tokens where "~" is followed by "0" or "1". */
bool valid_pointer(std::string_view pointer) noexcept {
    if (pointer.empty()) {
        return true;
    }
    if (pointer.front() != '/') {
        return false;
    }
    for (std::size_t i = 0; i < pointer.size(); ++i) {
        if (pointer[i] == '~' &&
            (i + 1 == pointer.size() || (pointer[i + 1] != '0' && pointer[i + 1] != '1'))) {
            return false;
        }
    }
    return true;
}

const char* type_name(const nlohmann::json& value) {
    return value.type_name();
}

}  // namespace

// --- durations ---------------------------------------------------------------------------

std::chrono::milliseconds parse_duration(std::string_view text, std::error_code& ec) noexcept {
    ec.clear();
    const auto bad = [&ec] {
        ec = errc::config_bad_value;
        return std::chrono::milliseconds::zero();
    };
    if (text.empty()) {
        return bad();
    }
    std::int64_t total = 0;
    std::size_t i = 0;
    bool bare_number = true;
    while (i < text.size()) {
        std::int64_t number = 0;
        const std::size_t digits_start = i;
        while (i < text.size() && text[i] >= '0' && text[i] <= '9') {
            if (__builtin_mul_overflow(number, 10, &number) ||
                __builtin_add_overflow(number, text[i] - '0', &number)) {
                return bad();
            }
            ++i;
        }
        if (i == digits_start) {
            return bad();
        }
        const std::size_t unit_start = i;
        while (i < text.size() && text[i] >= 'a' && text[i] <= 'z') {
            ++i;
        }
        const std::string_view unit = text.substr(unit_start, i - unit_start);
        std::int64_t scale = 0;
        if (unit.empty()) {
            // Only a whole text of digits means seconds ("90"); "1h30" is ambiguous.
            if (!bare_number || i != text.size() || digits_start != 0) {
                return bad();
            }
            scale = 1000;
        } else if (unit == "ms") {
            scale = 1;
        } else if (unit == "s") {
            scale = 1000;
        } else if (unit == "m") {
            scale = 60 * 1000;
        } else if (unit == "h") {
            scale = 60 * 60 * 1000;
        } else if (unit == "d") {
            scale = 24 * 60 * 60 * 1000;
        } else {
            return bad();
        }
        bare_number = false;
        std::int64_t part = 0;
        if (__builtin_mul_overflow(number, scale, &part) ||
            __builtin_add_overflow(total, part, &total)) {
            return bad();
        }
    }
    return std::chrono::milliseconds(total);
}

std::chrono::milliseconds parse_duration(std::string_view text) {
    std::error_code ec;
    const auto duration = parse_duration(text, ec);
    if (ec) {
        throw_error(ec,
                    "\"" + std::string(text) +
                        "\" is not a duration (expected e.g. \"30s\", \"5m\", \"1h\", \"500ms\" "
                        "or integer seconds)");
    }
    return duration;
}

// --- loading -----------------------------------------------------------------------------

config::config() = default;

config config::from_json(nlohmann::json document, std::string source_name,
                         std::error_code& ec) noexcept {
    ec.clear();
    config result;
    if (!document.is_object()) {
        ec = errc::config_malformed;
        return result;
    }
    result.document_ = std::move(document);
    result.source_name_ = std::move(source_name);
    return result;
}

config config::from_json(nlohmann::json document, std::string source_name) {
    std::error_code ec;
    config result = from_json(std::move(document), source_name, ec);
    if (ec) {
        throw_error(ec, source_name + ": the top level must be a JSON object");
    }
    return result;
}

config config::parse(std::string_view text, std::string source_name, std::error_code& ec,
                     std::string* detail) {
    ec.clear();
    config result;
    const auto fail = [&](std::string message) {
        ec = errc::config_malformed;
        if (detail != nullptr) {
            *detail = source_name + message;
        }
        return config();
    };

    std::vector<std::set<std::string>> open_objects;
    std::string duplicate_key;
    bool too_deep = false;
    const auto callback = [&](int depth, nlohmann::json::parse_event_t event,
                              nlohmann::json& parsed) {
        using event_type = nlohmann::json::parse_event_t;
        if (depth > max_nesting_depth) {
            too_deep = true;
            return false;  // discard: deep documents are never built
        }
        switch (event) {
            case event_type::object_start:
                open_objects.emplace_back();
                break;
            case event_type::object_end:
                if (!open_objects.empty()) {
                    open_objects.pop_back();
                }
                break;
            case event_type::key:
                if (!open_objects.empty() && parsed.is_string() &&
                    !open_objects.back().insert(parsed.get_ref<const std::string&>()).second &&
                    duplicate_key.empty()) {
                    duplicate_key = parsed.get_ref<const std::string&>();
                }
                break;
            default:
                break;
        }
        return true;
    };

    nlohmann::json document;
    try {
        document = nlohmann::json::parse(text.begin(), text.end(), callback, true, true);
    } catch (const nlohmann::json::parse_error& e) {
        // nlohmann's text: "[json.exception.parse_error.101] parse error at line L, column C:
        // reason". Rewrite it compiler-style: "source:L:C: reason".
        const std::string what = e.what();
        const std::size_t line_at = what.find("at line ");
        const std::size_t column_at = what.find(", column ", line_at);
        const std::size_t reason_at = what.find(": ", column_at);
        if (line_at != std::string::npos && column_at != std::string::npos &&
            reason_at != std::string::npos) {
            const std::string line = what.substr(line_at + 8, column_at - line_at - 8);
            const std::string column = what.substr(column_at + 9, reason_at - column_at - 9);
            return fail(":" + line + ":" + column + ": " + what.substr(reason_at + 2));
        }
        return fail(": " + what);
    } catch (const nlohmann::json::exception& e) {
        return fail(std::string(": ") + e.what());
    }
    if (too_deep) {
        return fail(": nested deeper than " + std::to_string(max_nesting_depth) + " levels");
    }
    if (!duplicate_key.empty()) {
        return fail(": duplicate key \"" + duplicate_key + "\"");
    }
    if (!document.is_object()) {
        return fail(": the top level must be a JSON object, found " +
                    std::string(type_name(document)));
    }
    result.document_ = std::move(document);
    result.source_name_ = std::move(source_name);
    return result;
}

config config::parse(std::string_view text, std::string source_name) {
    std::error_code ec;
    std::string detail;
    config result = parse(text, std::move(source_name), ec, &detail);
    if (ec) {
        raise(ec, detail);
    }
    return result;
}

config config::load_file(const std::filesystem::path& path, std::error_code& ec,
                         std::string* detail) {
    ec.clear();
    const std::string name = path.string();
    const auto fail = [&](const std::string& reason) {
        ec = errc::config_unreadable;
        if (detail != nullptr) {
            *detail = name + ": " + reason;
        }
        return config();
    };
    std::error_code fs_ec;
    if (std::filesystem::is_directory(path, fs_ec)) {
        return fail("is a directory");
    }
    std::ifstream in(path, std::ios::binary);
    if (!in) {
        return fail(std::strerror(errno));
    }
    std::string text;
    char buffer[8192];
    while (in.read(buffer, sizeof buffer) || in.gcount() > 0) {
        text.append(buffer, static_cast<std::size_t>(in.gcount()));
        if (text.size() > max_file_size) {
            return fail("larger than 16 MiB");
        }
    }
    if (in.bad()) {
        return fail("read error");
    }
    config result = parse(text, name, ec, detail);
    if (ec) {
        return result;
    }
    const std::filesystem::path absolute = std::filesystem::absolute(path, fs_ec);
    result.base_directory_ = (fs_ec ? path : absolute).parent_path();
    return result;
}

config config::load_file(const std::filesystem::path& path) {
    std::error_code ec;
    std::string detail;
    config result = load_file(path, ec, &detail);
    if (ec) {
        raise(ec, detail);
    }
    return result;
}

// --- lookup and typed reads ----------------------------------------------------------------

void config::raise(std::error_code ec, const std::string& detail) {
    throw_error(ec, detail);
}

void config::report(std::error_code code, std::string_view pointer, std::string_view reason,
                    std::error_code& ec, std::string* detail) const {
    ec = code;
    if (detail != nullptr) {
        *detail = source_name_ + ": " + display_pointer(pointer) + ": " + std::string(reason);
    }
}

bool config::contains(std::string_view pointer) const noexcept {
    if (!valid_pointer(pointer)) {
        return false;
    }
    try {
        const nlohmann::json::json_pointer parsed{std::string(pointer)};
        return document_.contains(parsed) && !document_.at(parsed).is_null();
    } catch (...) {
        return false;
    }
}

const nlohmann::json* config::lookup(std::string_view pointer, std::error_code& ec,
                                     std::string* detail) const {
    if (!valid_pointer(pointer)) {
        report(errc::invalid_argument, pointer,
               "malformed JSON pointer (it must be empty or start with \"/\")", ec, detail);
        return nullptr;
    }
    try {
        const nlohmann::json::json_pointer parsed{std::string(pointer)};
        if (!document_.contains(parsed)) {
            return nullptr;
        }
        const nlohmann::json& value = document_.at(parsed);
        return value.is_null() ? nullptr : &value;
    } catch (const nlohmann::json::exception&) {
        return nullptr;  // an array index too large to exist: the setting is absent
    }
}

std::optional<std::int64_t> config::read_signed(const nlohmann::json& value,
                                                std::string_view pointer, std::int64_t min,
                                                std::int64_t max, std::error_code& ec,
                                                std::string* detail) const {
    const auto out_of_range = [&] {
        report(errc::config_bad_value, pointer,
               "expected an integer in [" + std::to_string(min) + ", " + std::to_string(max) +
                   "], found " + describe(value),
               ec, detail);
        return std::nullopt;
    };
    std::int64_t number = 0;
    if (value.is_number_unsigned()) {
        const auto unsigned_number = value.get<std::uint64_t>();
        if (unsigned_number >
            static_cast<std::uint64_t>(std::numeric_limits<std::int64_t>::max())) {
            return out_of_range();
        }
        number = static_cast<std::int64_t>(unsigned_number);
    } else if (value.is_number_integer()) {
        number = value.get<std::int64_t>();
    } else if (value.is_number_float()) {
        const double real = value.get<double>();
        // Accept 1e3 style integers; reject fractions and values beyond int64.
        if (!(real >= -9.2233720368547758e18 && real < 9.2233720368547758e18) ||
            real != static_cast<double>(static_cast<std::int64_t>(real))) {
            report(errc::config_bad_value, pointer, "expected an integer, found " + describe(value),
                   ec, detail);
            return std::nullopt;
        }
        number = static_cast<std::int64_t>(real);
    } else {
        report(
            errc::config_bad_value, pointer,
            std::string("expected an integer, found ") + type_name(value) + " " + describe(value),
            ec, detail);
        return std::nullopt;
    }
    if (number < min || number > max) {
        return out_of_range();
    }
    return number;
}

std::optional<std::uint64_t> config::read_unsigned(const nlohmann::json& value,
                                                   std::string_view pointer, std::uint64_t min,
                                                   std::uint64_t max, std::error_code& ec,
                                                   std::string* detail) const {
    const auto out_of_range = [&] {
        report(errc::config_bad_value, pointer,
               "expected an integer in [" + std::to_string(min) + ", " + std::to_string(max) +
                   "], found " + describe(value),
               ec, detail);
        return std::nullopt;
    };
    std::uint64_t number = 0;
    if (value.is_number_unsigned()) {
        number = value.get<std::uint64_t>();
    } else if (value.is_number_integer()) {
        return out_of_range();  // negative
    } else if (value.is_number_float()) {
        const double real = value.get<double>();
        if (real < 0) {
            return out_of_range();
        }
        if (!(real < 1.8446744073709552e19) ||
            real != static_cast<double>(static_cast<std::uint64_t>(real))) {
            report(errc::config_bad_value, pointer, "expected an integer, found " + describe(value),
                   ec, detail);
            return std::nullopt;
        }
        number = static_cast<std::uint64_t>(real);
    } else {
        report(
            errc::config_bad_value, pointer,
            std::string("expected an integer, found ") + type_name(value) + " " + describe(value),
            ec, detail);
        return std::nullopt;
    }
    if (number < min || number > max) {
        return out_of_range();
    }
    return number;
}

std::optional<double> config::read_double(const nlohmann::json& value, std::string_view pointer,
                                          double min, double max, std::error_code& ec,
                                          std::string* detail) const {
    if (!value.is_number()) {
        report(errc::config_bad_value, pointer,
               std::string("expected a number, found ") + type_name(value) + " " + describe(value),
               ec, detail);
        return std::nullopt;
    }
    const double number = value.get<double>();
    if (number < min || number > max) {
        report(errc::config_bad_value, pointer,
               "expected a number in [" + describe(min) + ", " + describe(max) + "], found " +
                   describe(value),
               ec, detail);
        return std::nullopt;
    }
    return number;
}

std::optional<bool> config::read_bool(const nlohmann::json& value, std::string_view pointer,
                                      std::error_code& ec, std::string* detail) const {
    if (!value.is_boolean()) {
        report(errc::config_bad_value, pointer,
               std::string("expected true or false, found ") + type_name(value) + " " +
                   describe(value),
               ec, detail);
        return std::nullopt;
    }
    return value.get<bool>();
}

std::optional<std::string> config::read_string(const nlohmann::json& value,
                                               std::string_view pointer, std::error_code& ec,
                                               std::string* detail) const {
    if (!value.is_string()) {
        report(errc::config_bad_value, pointer,
               std::string("expected a string, found ") + type_name(value) + " " + describe(value),
               ec, detail);
        return std::nullopt;
    }
    return value.get<std::string>();
}

std::optional<std::vector<std::string>> config::read_string_list(const nlohmann::json& value,
                                                                 std::string_view pointer,
                                                                 std::error_code& ec,
                                                                 std::string* detail) const {
    if (!value.is_array()) {
        report(errc::config_bad_value, pointer,
               std::string("expected an array of strings, found ") + type_name(value) + " " +
                   describe(value),
               ec, detail);
        return std::nullopt;
    }
    std::vector<std::string> list;
    list.reserve(value.size());
    for (std::size_t i = 0; i < value.size(); ++i) {
        if (!value[i].is_string()) {
            report(errc::config_bad_value, std::string(pointer) + "/" + std::to_string(i),
                   std::string("expected a string, found ") + type_name(value[i]) + " " +
                       describe(value[i]),
                   ec, detail);
            return std::nullopt;
        }
        list.push_back(value[i].get<std::string>());
    }
    return list;
}

// --- ports, durations, paths ---------------------------------------------------------------

std::uint16_t config::port_or(std::string_view pointer, std::uint16_t fallback, std::error_code& ec,
                              std::string* detail) const {
    const value_range<std::uint16_t> ports{0, 65535};
    return get_or<std::uint16_t>(pointer, fallback, ports, ec, detail);
}

std::uint16_t config::port_or(std::string_view pointer, std::uint16_t fallback) const {
    std::error_code ec;
    std::string detail;
    const std::uint16_t port = port_or(pointer, fallback, ec, &detail);
    if (ec) {
        raise(ec, detail);
    }
    return port;
}

std::uint16_t config::require_port(std::string_view pointer, std::error_code& ec,
                                   std::string* detail) const {
    const value_range<std::uint16_t> ports{0, 65535};
    return require<std::uint16_t>(pointer, ports, ec, detail);
}

std::uint16_t config::require_port(std::string_view pointer) const {
    std::error_code ec;
    std::string detail;
    const std::uint16_t port = require_port(pointer, ec, &detail);
    if (ec) {
        raise(ec, detail);
    }
    return port;
}

std::chrono::milliseconds config::duration_or(std::string_view pointer,
                                              std::chrono::milliseconds fallback,
                                              std::error_code& ec, std::string* detail) const {
    ec.clear();
    const nlohmann::json* value = lookup(pointer, ec, detail);
    if (value == nullptr) {
        return fallback;
    }
    constexpr const char* expected =
        "expected a duration such as \"30s\", \"5m\", \"1h\", \"500ms\" or integer seconds, "
        "found ";
    if (value->is_string()) {
        const auto duration = parse_duration(value->get_ref<const std::string&>(), ec);
        if (ec) {
            report(errc::config_bad_value, pointer, expected + describe(*value), ec, detail);
            return fallback;
        }
        return duration;
    }
    const auto seconds = read_signed(*value, pointer, 0,
                                     std::numeric_limits<std::int64_t>::max() / 1000, ec, detail);
    if (!seconds) {
        report(errc::config_bad_value, pointer, expected + describe(*value), ec, detail);
        return fallback;
    }
    return std::chrono::seconds(*seconds);
}

std::chrono::milliseconds config::duration_or(std::string_view pointer,
                                              std::chrono::milliseconds fallback) const {
    std::error_code ec;
    std::string detail;
    const auto duration = duration_or(pointer, fallback, ec, &detail);
    if (ec) {
        raise(ec, detail);
    }
    return duration;
}

std::chrono::milliseconds config::require_duration(std::string_view pointer, std::error_code& ec,
                                                   std::string* detail) const {
    ec.clear();
    if (lookup(pointer, ec, detail) == nullptr) {
        if (!ec) {
            report(errc::config_missing_value, pointer, "required setting is missing", ec, detail);
        }
        return std::chrono::milliseconds::zero();
    }
    return duration_or(pointer, std::chrono::milliseconds::zero(), ec, detail);
}

std::chrono::milliseconds config::require_duration(std::string_view pointer) const {
    std::error_code ec;
    std::string detail;
    const auto duration = require_duration(pointer, ec, &detail);
    if (ec) {
        raise(ec, detail);
    }
    return duration;
}

std::filesystem::path config::resolve_path(const std::filesystem::path& path) const {
    if (path.empty() || path.is_absolute() || base_directory_.empty()) {
        return path;
    }
    return base_directory_ / path;
}

std::filesystem::path config::path_or(std::string_view pointer,
                                      const std::filesystem::path& fallback, std::error_code& ec,
                                      std::string* detail) const {
    const std::optional<std::string> text = read<std::string>(pointer, nullptr, ec, detail);
    if (ec || !text) {
        return resolve_path(fallback);
    }
    if (text->empty()) {
        report(errc::config_bad_value, pointer, "expected a path, found an empty string", ec,
               detail);
        return resolve_path(fallback);
    }
    return resolve_path(*text);
}

std::filesystem::path config::path_or(std::string_view pointer,
                                      const std::filesystem::path& fallback) const {
    std::error_code ec;
    std::string detail;
    auto path = path_or(pointer, fallback, ec, &detail);
    if (ec) {
        raise(ec, detail);
    }
    return path;
}

std::filesystem::path config::require_path(std::string_view pointer, std::error_code& ec,
                                           std::string* detail) const {
    ec.clear();
    if (lookup(pointer, ec, detail) == nullptr) {
        if (!ec) {
            report(errc::config_missing_value, pointer, "required setting is missing", ec, detail);
        }
        return {};
    }
    auto path = path_or(pointer, {}, ec, detail);
    return ec ? std::filesystem::path() : path;
}

std::filesystem::path config::require_path(std::string_view pointer) const {
    std::error_code ec;
    std::string detail;
    auto path = require_path(pointer, ec, &detail);
    if (ec) {
        raise(ec, detail);
    }
    return path;
}

// --- modification --------------------------------------------------------------------------

void config::set(std::string_view pointer, nlohmann::json value, std::error_code& ec,
                 std::string* detail) {
    ec.clear();
    if (!valid_pointer(pointer)) {
        report(errc::invalid_argument, pointer,
               "malformed JSON pointer (it must be empty or start with \"/\")", ec, detail);
        return;
    }
    if (pointer.empty()) {
        if (!value.is_object()) {
            report(errc::config_bad_value, pointer, "the top level must be a JSON object", ec,
                   detail);
            return;
        }
        document_ = std::move(value);
        return;
    }
    // Check the whole path before touching the document, so a failure changes nothing.
    const std::vector<std::string> tokens = split_pointer(pointer);
    const nlohmann::json* node = &document_;
    std::string walked;
    for (std::size_t i = 0; i < tokens.size() && node != nullptr; ++i) {
        const std::string& token = tokens[i];
        const bool last = i + 1 == tokens.size();
        if (node->is_object()) {
            const auto found = node->find(token);
            node = found == node->end() ? nullptr : &*found;
        } else if (node->is_array()) {
            const std::optional<std::size_t> index = array_index(token);
            if (token == "-" && last) {
                node = nullptr;
            } else if (!index || *index > node->size()) {
                report(errc::config_bad_value, pointer,
                       "cannot set: \"" + token + "\" is not an index of the array at " +
                           display_pointer(walked) + " (size " + std::to_string(node->size()) + ")",
                       ec, detail);
                return;
            } else {
                node = *index < node->size() ? &(*node)[*index] : nullptr;
            }
        } else if (node->is_null()) {
            node = nullptr;  // becomes an object (or an array for a numeric token)
        } else {
            report(errc::config_bad_value, pointer,
                   "cannot set: " + display_pointer(walked) + " is a " + type_name(*node) +
                       ", not an object",
                   ec, detail);
            return;
        }
        walked += "/" + escape_token(token);
    }
    // Created parents can still fail further down (e.g. an index "01" under a new array), so
    // the change is made on a copy: the document is replaced only when it fully succeeds.
    try {
        nlohmann::json updated = document_;
        updated[nlohmann::json::json_pointer(std::string(pointer))] = std::move(value);
        document_ = std::move(updated);
    } catch (const nlohmann::json::exception& e) {
        report(errc::config_bad_value, pointer, std::string("cannot set: ") + e.what(), ec, detail);
    }
}

void config::set(std::string_view pointer, nlohmann::json value) {
    std::error_code ec;
    std::string detail;
    set(pointer, std::move(value), ec, &detail);
    if (ec) {
        raise(ec, detail);
    }
}

void config::apply_override(std::string_view assignment, std::error_code& ec, std::string* detail) {
    ec.clear();
    const auto fail = [&](const std::string& reason) {
        ec = errc::config_bad_value;
        if (detail != nullptr) {
            *detail = "override \"" + std::string(assignment) + "\": " + reason;
        }
    };
    const std::size_t equals = assignment.find('=');
    if (equals == std::string_view::npos) {
        fail("expected key=value");
        return;
    }
    const std::string_view key = assignment.substr(0, equals);
    const std::string_view text = assignment.substr(equals + 1);
    if (key.empty()) {
        fail("the key is empty");
        return;
    }
    std::string pointer;
    if (key.front() == '/') {
        pointer = key;
    } else {
        std::size_t start = 0;
        while (true) {
            const std::size_t dot = key.find('.', start);
            const std::string_view segment = key.substr(
                start, dot == std::string_view::npos ? std::string_view::npos : dot - start);
            if (segment.empty()) {
                fail("empty segment in the dotted key");
                return;
            }
            pointer += "/" + escape_token(segment);
            if (dot == std::string_view::npos) {
                break;
            }
            start = dot + 1;
        }
    }
    nlohmann::json value = nlohmann::json::parse(text.begin(), text.end(), nullptr, false);
    if (value.is_discarded()) {
        value = std::string(text);
    }
    std::string set_detail;
    set(pointer, std::move(value), ec, &set_detail);
    if (ec && detail != nullptr) {
        *detail = "override \"" + std::string(assignment) + "\": " + set_detail;
    }
}

void config::apply_override(std::string_view assignment) {
    std::error_code ec;
    std::string detail;
    apply_override(assignment, ec, &detail);
    if (ec) {
        raise(ec, detail);
    }
}

void config::merge(const nlohmann::json& patch, std::error_code& ec) {
    ec.clear();
    if (!patch.is_object()) {
        ec = errc::config_malformed;
        return;
    }
    document_.merge_patch(patch);
}

void config::merge(const nlohmann::json& patch) {
    std::error_code ec;
    merge(patch, ec);
    if (ec) {
        raise(ec, source_name_ + ": a merge patch must be a JSON object");
    }
}

// --- unknown keys --------------------------------------------------------------------------

namespace {

/** Turns a list of JSON pointers into the schema-object form. */
bool schema_from_pointers(const nlohmann::json& pointers, nlohmann::json& schema) {
    schema = nlohmann::json::object();
    for (const auto& entry : pointers) {
        if (!entry.is_string() || !valid_pointer(entry.get_ref<const std::string&>())) {
            return false;
        }
        nlohmann::json* node = &schema;
        const std::vector<std::string> tokens = split_pointer(entry.get_ref<const std::string&>());
        if (tokens.empty()) {
            schema = true;  // "" accepts everything
            return true;
        }
        for (std::size_t i = 0; i < tokens.size(); ++i) {
            if (!node->is_object()) {
                break;  // a shorter pointer already accepts this subtree
            }
            nlohmann::json& child = (*node)[tokens[i]];
            if (i + 1 == tokens.size()) {
                child = true;  // accepts everything below, even if listed deeper before
            } else if (child.is_null()) {
                child = nlohmann::json::object();
            }
            node = &child;
        }
    }
    return true;
}

/** Finds the schema node for `key` under an object/array schema node, or null. */
const nlohmann::json* schema_child(const nlohmann::json& schema, const std::string& key) {
    if (schema.is_array()) {
        return &schema.front();  // non-empty: checked by the caller
    }
    auto found = schema.find(key);
    if (found != schema.end()) {
        return &*found;
    }
    found = schema.find("*");
    return found != schema.end() ? &*found : nullptr;
}

void find_unknown(const nlohmann::json& value, const nlohmann::json& schema,
                  const std::string& pointer, std::vector<std::string>& unknown) {
    const bool container_schema = schema.is_object() || (schema.is_array() && schema.size() == 1);
    if (!container_schema) {
        return;  // a leaf accepts everything below it
    }
    if (value.is_object()) {
        for (const auto& [key, member] : value.items()) {
            const std::string child_pointer = pointer + "/" + escape_token(key);
            const nlohmann::json* child = schema_child(schema, key);
            if (child == nullptr) {
                unknown.push_back(child_pointer);
            } else {
                find_unknown(member, *child, child_pointer, unknown);
            }
        }
    } else if (value.is_array()) {
        for (std::size_t i = 0; i < value.size(); ++i) {
            const std::string index = std::to_string(i);
            const nlohmann::json* child = schema_child(schema, index);
            if (child == nullptr) {
                unknown.push_back(pointer + "/" + index);
            } else {
                find_unknown(value[i], *child, pointer + "/" + index, unknown);
            }
        }
    }
}

}  // namespace

void config::check_known_keys(const nlohmann::json& known, std::error_code& ec,
                              std::string* detail) const {
    ec.clear();
    nlohmann::json schema;
    if (known.is_array()) {
        if (!schema_from_pointers(known, schema)) {
            report(errc::invalid_argument, "",
                   "the list of known settings must hold valid JSON pointers", ec, detail);
            return;
        }
    } else if (!known.is_object()) {
        report(errc::invalid_argument, "",
               "known settings must be a list of JSON pointers or a schema object", ec, detail);
        return;
    }
    const nlohmann::json& effective = known.is_array() ? schema : known;
    std::vector<std::string> unknown;
    find_unknown(document_, effective, "", unknown);
    if (unknown.empty()) {
        return;
    }
    std::string list;
    for (std::size_t i = 0; i < unknown.size() && i < 10; ++i) {
        list += (i == 0 ? "" : ", ") + unknown[i];
    }
    if (unknown.size() > 10) {
        list += " and " + std::to_string(unknown.size() - 10) + " more";
    }
    ec = errc::config_unknown_key;
    if (detail != nullptr) {
        *detail =
            source_name_ + ": " + list + ": unknown setting" + (unknown.size() > 1 ? "s" : "");
    }
}

void config::check_known_keys(const nlohmann::json& known) const {
    std::error_code ec;
    std::string detail;
    check_known_keys(known, ec, &detail);
    if (ec) {
        raise(ec, detail);
    }
}

}  // namespace imsp2p::core
