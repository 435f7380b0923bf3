#include <imsp2p/core/content.hpp>

#include "unicode.hpp"

#include <imsp2p/core/error.hpp>

#include <algorithm>
#include <limits>

namespace imsp2p::core {

// Defined in doi.cpp (internal to the library).

namespace {

// JSON member names.
constexpr const char* doi_member = "doi";
constexpr const char* publisher_member = "publisher";
constexpr const char* title_member = "title";
constexpr const char* description_member = "description";
constexpr const char* content_type_member = "content_type";
constexpr const char* genre_member = "genre";
constexpr const char* series_member = "series";
constexpr const char* size_member = "size_bytes";
constexpr const char* price_member = "price";
constexpr const char* amount_member = "amount_minor";
constexpr const char* currency_member = "currency";
constexpr const char* infohash_v1_member = "infohash_v1";
constexpr const char* infohash_v2_member = "infohash_v2";
constexpr const char* kid_member = "kid";
constexpr const char* state_member = "state";
constexpr const char* created_at_member = "created_at";

constexpr std::size_t infohash_v1_hex_length = 40;
constexpr std::size_t infohash_v2_hex_length = 64;
constexpr std::size_t kid_hex_length = 32;
constexpr std::size_t max_media_name_length = 127;  // RFC 6838 §4.2

bool is_alpha(char c) noexcept {
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z');
}

bool is_digit(char c) noexcept {
    return c >= '0' && c <= '9';
}

// UTF-8 text whose characters are printable, or one of allowed_controls.
bool is_text(std::string_view text, std::string_view allowed_controls) noexcept {
    std::size_t position = 0;
    char32_t code_point = 0;
    while (position < text.size()) {
        if (!detail::decode_utf8(text, position, code_point)) {
            return false;
        }
        if (detail::is_unicode_control(code_point) &&
            (code_point >= 0x80 ||
             allowed_controls.find(static_cast<char>(code_point)) == std::string_view::npos)) {
            return false;
        }
    }
    return true;
}

bool is_lower_hex(std::string_view text, std::size_t length) noexcept {
    return text.size() == length && std::all_of(text.begin(), text.end(), [](char c) {
               return is_digit(c) || (c >= 'a' && c <= 'f');
           });
}

// restricted-name = restricted-name-first *126restricted-name-chars (RFC 6838 §4.2)
bool is_restricted_name(std::string_view name) noexcept {
    if (name.empty() || name.size() > max_media_name_length) {
        return false;
    }
    if (!is_alpha(name.front()) && !is_digit(name.front())) {
        return false;
    }
    return std::all_of(name.begin(), name.end(), [](char c) {
        return is_alpha(c) || is_digit(c) ||
               std::string_view("!#$&-^_.+").find(c) != std::string_view::npos;
    });
}

// tchar (RFC 9110 §5.6.2)
bool is_token_char(char c) noexcept {
    return is_alpha(c) || is_digit(c) ||
           std::string_view("!#$%&'*+-.^_`|~").find(c) != std::string_view::npos;
}

// media-type = type "/" subtype parameters (RFC 9110 §8.3.1), ASCII only.
bool is_media_type(std::string_view text) noexcept {
    if (text.empty() || text.size() > content_record::max_content_type_bytes) {
        return false;
    }
    const std::size_t slash = text.find('/');
    if (slash == std::string_view::npos || !is_restricted_name(text.substr(0, slash))) {
        return false;
    }
    std::size_t position = slash + 1;
    const std::size_t subtype_start = position;
    while (position < text.size() && text[position] != ';' && text[position] != ' ' &&
           text[position] != '\t') {
        ++position;
    }
    if (!is_restricted_name(text.substr(subtype_start, position - subtype_start))) {
        return false;
    }
    const auto skip_whitespace = [&] {
        while (position < text.size() && (text[position] == ' ' || text[position] == '\t')) {
            ++position;
        }
    };
    const auto read_token = [&] {
        const std::size_t start = position;
        while (position < text.size() && is_token_char(text[position])) {
            ++position;
        }
        return position > start;
    };
    // parameters = *( OWS ";" OWS [ parameter ] ); parameter = token "=" ( token / quoted-string )
    while (true) {
        skip_whitespace();
        if (position == text.size()) {
            return true;
        }
        if (text[position] != ';') {
            return false;
        }
        ++position;
        skip_whitespace();
        if (position == text.size() || text[position] == ';') {
            continue;
        }
        if (!read_token() || position == text.size() || text[position] != '=') {
            return false;
        }
        ++position;
        if (position < text.size() && text[position] == '"') {
            ++position;
            bool closed = false;
            while (position < text.size()) {
                const char c = text[position++];
                if (c == '"') {
                    closed = true;
                    break;
                }
                if (c == '\\') {
                    if (position == text.size()) {
                        return false;
                    }
                    const char escaped = text[position++];
                    if (escaped != '\t' && (escaped < 0x20 || escaped == 0x7F)) {
                        return false;
                    }
                } else if (c != '\t' && (c < 0x20 || c == 0x7F)) {
                    return false;  // also rejects non-ASCII (obs-text)
                }
            }
            if (!closed) {
                return false;
            }
        } else if (!read_token()) {
            return false;
        }
    }
}

bool is_currency_code(std::string_view text) noexcept {
    return text.size() == 3 &&
           std::all_of(text.begin(), text.end(), [](char c) { return c >= 'A' && c <= 'Z'; });
}

std::int64_t max_representable_seconds() noexcept {
    return std::chrono::duration_cast<std::chrono::seconds>(
               std::chrono::system_clock::duration::max())
        .count();
}

// Reports a failure of one member.
std::error_code fail(std::error_code code, std::string* field, std::string_view name) {
    if (field != nullptr) {
        *field = std::string(name);
    }
    return code;
}

std::error_code check_record(const content_record& record, std::string* field) {
    const auto malformed = [&](std::string_view name) {
        return fail(errc::content_malformed, field, name);
    };
    if (record.doi.empty()) {
        return fail(errc::doi_empty, field, doi_member);
    }
    if (record.publisher.empty()) {
        return fail(errc::impu_malformed, field, publisher_member);
    }
    if (record.title.empty() || record.title.size() > content_record::max_title_bytes ||
        !is_text(record.title, {})) {
        return malformed(title_member);
    }
    if (record.description.size() > content_record::max_description_bytes ||
        !is_text(record.description, "\t\r\n")) {
        return malformed(description_member);
    }
    if (!is_media_type(record.content_type)) {
        return malformed(content_type_member);
    }
    for (const auto& [label, name] :
         {std::pair{&record.genre, genre_member}, std::pair{&record.series, series_member}}) {
        if (label->has_value() &&
            ((*label)->empty() || (*label)->size() > content_record::max_label_bytes ||
             !is_text(**label, {}))) {
            return malformed(name);
        }
    }
    if (record.price.amount_minor < 0) {
        return malformed("price.amount_minor");
    }
    if (!is_currency_code(record.price.currency)) {
        return malformed("price.currency");
    }
    if (!is_lower_hex(record.infohash_v1, infohash_v1_hex_length)) {
        return malformed(infohash_v1_member);
    }
    if (!is_lower_hex(record.infohash_v2, infohash_v2_hex_length)) {
        return malformed(infohash_v2_member);
    }
    if (!is_lower_hex(record.kid, kid_hex_length)) {
        return malformed(kid_member);
    }
    switch (record.state) {
        case content_state::active:
        case content_state::muted:
        case content_state::withdrawn:
            break;
        default:
            return malformed(state_member);
    }
    if (record.created_at.time_since_epoch().count() < 0) {
        return malformed(created_at_member);
    }
    return {};
}

// Reads the JSON members into a record, checking types; values are checked by check_record().
class json_reader {
  public:
    json_reader(const nlohmann::json& json, std::string* field) : json_(json), field_(field) {}

    std::error_code read(content_record& record) {
        if (!json_.is_object()) {
            return fail(errc::content_malformed, field_, "");
        }
        std::error_code ec;
        const nlohmann::json* value = nullptr;

        if (!(value = string_member(doi_member, ec))) {
            return ec;
        }
        record.doi = doi::parse_canonical(value->get_ref<const std::string&>(), ec);
        if (ec) {
            return fail(ec, field_, doi_member);
        }
        if (!(value = string_member(publisher_member, ec))) {
            return ec;
        }
        record.publisher = impu::parse(value->get_ref<const std::string&>(), ec);
        if (ec) {
            return fail(ec, field_, publisher_member);
        }
        for (const auto& [target, name] : {std::pair{&record.title, title_member},
                                           std::pair{&record.content_type, content_type_member}}) {
            if (!(value = string_member(name, ec))) {
                return ec;
            }
            *target = value->get<std::string>();
        }
        if (const auto it = json_.find(description_member); it != json_.end()) {
            if (!it->is_string()) {
                return fail(errc::content_malformed, field_, description_member);
            }
            record.description = it->get<std::string>();
        }
        for (const auto& [target, name] :
             {std::pair{&record.genre, genre_member}, std::pair{&record.series, series_member}}) {
            if (const auto it = json_.find(name); it != json_.end() && !it->is_null()) {
                if (!it->is_string()) {
                    return fail(errc::content_malformed, field_, name);
                }
                *target = it->get<std::string>();
            }
        }
        if (!(value = member(json_, size_member, size_member, ec))) {
            return ec;
        }
        if (!read_non_negative(*value, std::numeric_limits<std::uint64_t>::max(),
                               record.size_bytes)) {
            return fail(errc::content_malformed, field_, size_member);
        }
        if ((ec = read_price(record.price))) {
            return ec;
        }
        for (const auto& [target, name] : {std::pair{&record.infohash_v1, infohash_v1_member},
                                           std::pair{&record.infohash_v2, infohash_v2_member},
                                           std::pair{&record.kid, kid_member}}) {
            if (!(value = string_member(name, ec))) {
                return ec;
            }
            *target = value->get<std::string>();
            std::transform(target->begin(), target->end(), target->begin(), [](char c) {
                return (c >= 'A' && c <= 'F') ? static_cast<char>(c - 'A' + 'a') : c;
            });
        }
        if (!(value = string_member(state_member, ec))) {
            return ec;
        }
        record.state = parse_content_state(value->get_ref<const std::string&>(), ec);
        if (ec) {
            return fail(ec, field_, state_member);
        }
        if (!(value = member(json_, created_at_member, created_at_member, ec))) {
            return ec;
        }
        std::uint64_t seconds = 0;
        if (!read_non_negative(*value, static_cast<std::uint64_t>(max_representable_seconds()),
                               seconds)) {
            return fail(errc::content_malformed, field_, created_at_member);
        }
        record.created_at = std::chrono::system_clock::time_point(
            std::chrono::seconds(static_cast<std::int64_t>(seconds)));
        return {};
    }

  private:
    const nlohmann::json* member(const nlohmann::json& object, const char* name,
                                 std::string_view field_name, std::error_code& ec) {
        const auto it = object.find(name);
        if (it == object.end()) {
            ec = fail(errc::content_malformed, field_, field_name);
            return nullptr;
        }
        return &*it;
    }

    const nlohmann::json* string_member(const char* name, std::error_code& ec) {
        const nlohmann::json* value = member(json_, name, name, ec);
        if (value != nullptr && !value->is_string()) {
            ec = fail(errc::content_malformed, field_, name);
            return nullptr;
        }
        return value;
    }

    // An integer JSON number in [0, maximum].
    static bool read_non_negative(const nlohmann::json& value, std::uint64_t maximum,
                                  std::uint64_t& out) {
        if (value.is_number_unsigned()) {
            out = value.get<std::uint64_t>();
        } else if (value.is_number_integer()) {
            const auto signed_value = value.get<std::int64_t>();
            if (signed_value < 0) {
                return false;
            }
            out = static_cast<std::uint64_t>(signed_value);
        } else {
            return false;
        }
        return out <= maximum;
    }

    std::error_code read_price(core::price& result) {
        std::error_code ec;
        const nlohmann::json* object = member(json_, price_member, price_member, ec);
        if (object == nullptr) {
            return ec;
        }
        if (!object->is_object()) {
            return fail(errc::content_malformed, field_, price_member);
        }
        const nlohmann::json* amount = member(*object, amount_member, "price.amount_minor", ec);
        if (amount == nullptr) {
            return ec;
        }
        std::uint64_t amount_value = 0;
        if (!read_non_negative(*amount,
                               static_cast<std::uint64_t>(std::numeric_limits<std::int64_t>::max()),
                               amount_value)) {
            return fail(errc::content_malformed, field_, "price.amount_minor");
        }
        const nlohmann::json* currency = member(*object, currency_member, "price.currency", ec);
        if (currency == nullptr) {
            return ec;
        }
        if (!currency->is_string()) {
            return fail(errc::content_malformed, field_, "price.currency");
        }
        result.amount_minor = static_cast<std::int64_t>(amount_value);
        result.currency = currency->get<std::string>();
        return {};
    }

    const nlohmann::json& json_;
    std::string* field_;
};

}  // namespace

std::string_view to_string(content_state state) noexcept {
    switch (state) {
        case content_state::active:
            return "active";
        case content_state::muted:
            return "muted";
        case content_state::withdrawn:
            return "withdrawn";
    }
    return "active";
}

content_state parse_content_state(std::string_view text, std::error_code& ec) noexcept {
    for (const auto state :
         {content_state::active, content_state::muted, content_state::withdrawn}) {
        if (text == to_string(state)) {
            ec.clear();
            return state;
        }
    }
    ec = errc::content_malformed;
    return content_state::active;
}

void content_record::validate(std::error_code& ec, std::string* field) const {
    ec = check_record(*this, field);
}

void content_record::validate() const {
    std::string field;
    if (const auto ec = check_record(*this, &field)) {
        throw_error(ec, "content record field \"" + field + "\"");
    }
}

nlohmann::json content_record::to_json() const {
    nlohmann::json json = {
        {doi_member, doi.str()},
        {publisher_member, publisher.str()},
        {title_member, title},
        {description_member, description},
        {content_type_member, content_type},
        {size_member, size_bytes},
        {price_member, {{amount_member, price.amount_minor}, {currency_member, price.currency}}},
        {infohash_v1_member, infohash_v1},
        {infohash_v2_member, infohash_v2},
        {kid_member, kid},
        {state_member, std::string(to_string(state))},
        {created_at_member,
         std::chrono::floor<std::chrono::seconds>(created_at.time_since_epoch()).count()},
    };
    if (genre) {
        json[genre_member] = *genre;
    }
    if (series) {
        json[series_member] = *series;
    }
    return json;
}

content_record content_record::from_json(const nlohmann::json& json, std::error_code& ec,
                                         std::string* field) {
    content_record record;
    json_reader reader(json, field);
    if ((ec = reader.read(record))) {
        return {};
    }
    if ((ec = check_record(record, field))) {
        return {};
    }
    return record;
}

content_record content_record::from_json(const nlohmann::json& json) {
    std::error_code ec;
    std::string field;
    content_record record = from_json(json, ec, &field);
    if (ec) {
        throw_error(ec, "content record field \"" + field + "\"");
    }
    return record;
}

}  // namespace imsp2p::core
