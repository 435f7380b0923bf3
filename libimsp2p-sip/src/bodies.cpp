#include <imsp2p/sip/bodies.hpp>

#include <imsp2p/sip/error.hpp>

#include <imsp2p/core/encoding.hpp>

#include <algorithm>
#include <limits>
#include <set>
#include <utility>

namespace imsp2p::sip {
namespace {

using json = nlohmann::json;

/** Thrown inside the parsers to unwind with a precise error; caught at the entry points. */
struct refusal {
    body_error error;
};

[[noreturn]] void refuse(std::string member, std::string reason) {
    throw refusal{{std::move(member), std::move(reason)}};
}

std::string join(std::string_view parent, std::string_view member) {
    return parent.empty() ? std::string(member) : std::string(parent) + "." + std::string(member);
}

constexpr std::size_t max_depth = 16;

/** Parses one JSON object: UTF-8, no duplicate member names, nesting at most max_depth. */
json parse_object(std::string_view text) {
    std::vector<std::set<std::string>> open_objects;
    std::string duplicate;
    bool too_deep = false;
    const json::parser_callback_t callback = [&](int depth, json::parse_event_t event,
                                                 json& parsed) {
        if (depth > static_cast<int>(max_depth)) {
            too_deep = true;
        }
        switch (event) {
            case json::parse_event_t::object_start:
                open_objects.emplace_back();
                break;
            case json::parse_event_t::object_end:
                if (!open_objects.empty()) {
                    open_objects.pop_back();
                }
                break;
            case json::parse_event_t::key:
                if (!open_objects.empty() && parsed.is_string() &&
                    !open_objects.back().insert(parsed.get<std::string>()).second &&
                    duplicate.empty()) {
                    duplicate = parsed.get<std::string>();
                }
                break;
            default:
                break;
        }
        return true;
    };
    json document = json::parse(text.begin(), text.end(), callback, false);
    if (document.is_discarded()) {
        refuse("", "not valid JSON (UTF-8)");
    }
    if (too_deep) {
        refuse("", "nested more than 16 levels deep");
    }
    if (!duplicate.empty()) {
        refuse("", "duplicate member \"" + duplicate + "\"");
    }
    if (!document.is_object()) {
        refuse("", "not a JSON object");
    }
    return document;
}

const json* find(const json& object, std::string_view name) {
    const auto it = object.find(name);
    if (it == object.end() || it->is_null()) {
        return nullptr;
    }
    return &*it;
}

const json& require(const json& object, std::string_view parent, std::string_view name) {
    const json* value = find(object, name);
    if (value == nullptr) {
        refuse(join(parent, name), "missing");
    }
    return *value;
}

std::string require_string(const json& object, std::string_view parent, std::string_view name,
                           std::size_t max_bytes = 64 * 1024, bool allow_empty = false) {
    const json& value = require(object, parent, name);
    if (!value.is_string()) {
        refuse(join(parent, name), "must be a string");
    }
    auto text = value.get<std::string>();
    if (text.empty() && !allow_empty) {
        refuse(join(parent, name), "must not be empty");
    }
    if (text.size() > max_bytes) {
        refuse(join(parent, name), "longer than " + std::to_string(max_bytes) + " bytes");
    }
    return text;
}

std::optional<std::string> optional_string(const json& object, std::string_view parent,
                                           std::string_view name) {
    if (find(object, name) == nullptr) {
        return std::nullopt;
    }
    return require_string(object, parent, name);
}

std::uint64_t require_unsigned(const json& object, std::string_view parent, std::string_view name) {
    const json& value = require(object, parent, name);
    if (!value.is_number_unsigned()) {
        refuse(join(parent, name), "must be a non-negative integer");
    }
    return value.get<std::uint64_t>();
}

bool visible_ascii(std::string_view text) {
    return std::all_of(text.begin(), text.end(), [](char c) { return c > 0x20 && c < 0x7f; });
}

std::string require_assignment_id(const json& object) {
    auto id = require_string(object, "", "assignment_id", max_assignment_id_bytes);
    if (!visible_ascii(id)) {
        refuse("assignment_id", "must be 1..128 visible ASCII characters");
    }
    return id;
}

std::string require_request_id(const json& object) {
    auto id = require_string(object, "", "request_id", max_request_id_bytes);
    if (!visible_ascii(id)) {
        refuse("request_id", "must be 1..128 visible ASCII characters");
    }
    return id;
}

core::doi require_doi(const json& object, std::string_view parent, std::string_view name,
                      bool canonical) {
    const auto text = require_string(object, parent, name, core::doi::max_input_length);
    std::error_code ec;
    auto value = canonical ? core::doi::parse_canonical(text, ec) : core::doi::parse(text, ec);
    if (ec) {
        refuse(join(parent, name), "not a DOI (" + ec.message() + ")");
    }
    return value;
}

std::string require_url(const json& object, std::string_view name) {
    auto url = require_string(object, "", name, 16 * 1024);
    if (!(url.starts_with("http://") || url.starts_with("https://")) || !visible_ascii(url)) {
        refuse(std::string(name), "must be an http or https URL");
    }
    return url;
}

std::string require_jwt(const json& object, std::string_view name) {
    auto token = require_string(object, "", name, 16 * 1024);
    if (std::count(token.begin(), token.end(), '.') != 2 || !visible_ascii(token)) {
        refuse(std::string(name), "must be a compact JWS");
    }
    return token;
}

std::chrono::sys_seconds require_time(const json& object, std::string_view name) {
    const auto value = require_unsigned(object, "", name);
    if (value > 253402300799ULL) {
        refuse(std::string(name), "must be a Unix time before year 10000");
    }
    return std::chrono::sys_seconds(std::chrono::seconds(static_cast<std::int64_t>(value)));
}

std::string require_hex(const json& object, std::string_view parent, std::string_view name,
                        std::size_t digits) {
    auto text = require_string(object, parent, name, digits);
    if (text.size() != digits || !std::all_of(text.begin(), text.end(), [](char c) {
            return core::hex_digit_value(c) >= 0;
        })) {
        refuse(join(parent, name), "must be " + std::to_string(digits) + " hex digits");
    }
    std::transform(text.begin(), text.end(), text.begin(),
                   [](char c) { return c >= 'A' && c <= 'F' ? static_cast<char>(c + 32) : c; });
    return text;
}

std::int64_t unix_seconds(std::chrono::sys_seconds time) {
    return time.time_since_epoch().count();
}

template <class T, class F>
T run_parser(std::string_view text, std::error_code& ec, body_error* detail, F&& body) {
    ec.clear();
    try {
        return body(parse_object(text));
    } catch (const refusal& failure) {
        ec = errc::bad_body;
        if (detail != nullptr) {
            *detail = failure.error;
        }
    } catch (const std::exception& failure) {
        // nlohmann type errors cannot happen after the checks above; keep a precise answer anyway.
        ec = errc::bad_body;
        if (detail != nullptr) {
            *detail = {"", failure.what()};
        }
    }
    return T{};
}

std::string_view to_name(catalog_event event) {
    switch (event) {
        case catalog_event::full:
            return "full";
        case catalog_event::published:
            return "published";
        case catalog_event::withdrawn:
            return "withdrawn";
    }
    return "full";
}

json entry_json(const catalog_entry& entry) {
    return {{"record", entry.record.to_json()},
            {"torrent_url", entry.torrent_url},
            {"purchase_uri", entry.purchase_uri}};
}

catalog_entry parse_entry(const json& value, const std::string& path) {
    if (!value.is_object()) {
        refuse(path, "must be an object");
    }
    catalog_entry entry;
    const json& record = require(value, path, "record");
    std::error_code ec;
    std::string field;
    entry.record = core::content_record::from_json(record, ec, &field);
    if (ec) {
        refuse(join(join(path, "record"), field), ec.message());
    }
    entry.torrent_url = require_string(value, path, "torrent_url", 16 * 1024);
    entry.purchase_uri = require_string(value, path, "purchase_uri", 4096);
    return entry;
}

template <class T>
T parse_or_throw(std::string_view text) {
    std::error_code ec;
    body_error detail;
    auto out = T::parse(text, ec, &detail);
    if (ec) {
        throw std::system_error(ec, detail.message());
    }
    return out;
}

}  // namespace

acquire_request acquire_request::parse(std::string_view text) {
    return parse_or_throw<acquire_request>(text);
}

publish_request publish_request::parse(std::string_view text) {
    return parse_or_throw<publish_request>(text);
}

ticket_document ticket_document::parse(std::string_view text) {
    return parse_or_throw<ticket_document>(text);
}

publish_result publish_result::parse(std::string_view text) {
    return parse_or_throw<publish_result>(text);
}

catalog_notification catalog_notification::parse(std::string_view text) {
    return parse_or_throw<catalog_notification>(text);
}

seed_assignment seed_assignment::parse(std::string_view text) {
    return parse_or_throw<seed_assignment>(text);
}

seed_report seed_report::parse(std::string_view text) {
    return parse_or_throw<seed_report>(text);
}

std::string body_error::message() const {
    return member.empty() ? reason : member + ": " + reason;
}

// ---------------------------------------------------------------------------------------------
// acquire

acquire_request acquire_request::parse(std::string_view text, std::error_code& ec,
                                       body_error* detail) {
    return run_parser<acquire_request>(text, ec, detail, [](const json& object) {
        acquire_request out;
        out.doi = require_doi(object, "", "doi", false);
        const json& key = require(object, "", "device_key");
        if (!key.is_object()) {
            refuse("device_key", "must be a JWK object");
        }
        std::error_code key_ec;
        out.device_key = core::jwk::from_json(key, key_ec);
        if (key_ec) {
            refuse("device_key", "not a usable JWK (" + key_ec.message() + ")");
        }
        if (out.device_key.curve() != core::jwk_curve::x25519) {
            refuse("device_key", "must be an X25519 key (crv \"X25519\")");
        }
        if (out.device_key.has_private_key()) {
            refuse("device_key", "must not contain the private key \"d\"");
        }
        out.request_id = require_request_id(object);
        return out;
    });
}

nlohmann::json acquire_request::to_json() const {
    return {{"doi", doi.str()},
            {"device_key", device_key.public_only().to_json()},
            {"request_id", request_id}};
}

std::string acquire_request::serialize() const {
    return to_json().dump();
}

// ---------------------------------------------------------------------------------------------
// publish

publish_request publish_request::parse(std::string_view text, std::error_code& ec,
                                       body_error* detail) {
    return run_parser<publish_request>(text, ec, detail, [](const json& object) {
        publish_request out;
        if (const json* action = find(object, "action"); action != nullptr) {
            if (!action->is_string()) {
                refuse("action", "must be \"publish\" or \"withdraw\"");
            }
            const auto name = action->get<std::string>();
            if (name == "withdraw") {
                out.action = publish_action::withdraw;
            } else if (name != "publish") {
                refuse("action", "must be \"publish\" or \"withdraw\"");
            }
        }
        if (out.action == publish_action::withdraw) {
            out.withdraw_doi = require_doi(object, "", "doi", false);
            return out;
        }

        const json& metadata = require(object, "", "metadata");
        if (!metadata.is_object()) {
            refuse("metadata", "must be an object");
        }
        publish_metadata& meta = out.metadata;
        meta.title = require_string(metadata, "metadata", "title");
        meta.description =
            find(metadata, "description") == nullptr
                ? std::string()
                : require_string(metadata, "metadata", "description", 64 * 1024, true);
        meta.content_type = require_string(metadata, "metadata", "content_type");
        meta.genre = optional_string(metadata, "metadata", "genre");
        meta.series = optional_string(metadata, "metadata", "series");
        const json& price = require(metadata, "metadata", "price");
        if (!price.is_object()) {
            refuse("metadata.price", "must be {\"amount_minor\": n, \"currency\": \"EUR\"}");
        }
        const auto amount = require_unsigned(price, "metadata.price", "amount_minor");
        if (amount > static_cast<std::uint64_t>(std::numeric_limits<std::int64_t>::max())) {
            refuse("metadata.price.amount_minor", "too large");
        }
        meta.price.amount_minor = static_cast<std::int64_t>(amount);
        meta.price.currency = require_string(price, "metadata.price", "currency", 3);
        meta.size_bytes = require_unsigned(metadata, "metadata", "size");
        if (find(metadata, "doi") != nullptr) {
            meta.doi = require_doi(metadata, "metadata", "doi", false);
        }

        // Reuse the catalogue record's field rules for the metadata.
        core::content_record probe;
        probe.doi = core::doi::parse_canonical("10.1/probe");
        probe.publisher = core::impu::parse("sip:probe@probe.invalid");
        probe.title = meta.title;
        probe.description = meta.description;
        probe.content_type = meta.content_type;
        probe.genre = meta.genre;
        probe.series = meta.series;
        probe.price = meta.price;
        probe.size_bytes = meta.size_bytes;
        probe.infohash_v1 = std::string(40, '0');
        probe.infohash_v2 = std::string(64, '0');
        probe.kid = std::string(32, '0');
        std::error_code record_ec;
        std::string field;
        probe.validate(record_ec, &field);
        if (record_ec) {
            refuse(join("metadata", field), "invalid (" + record_ec.message() + ")");
        }

        const auto torrent_text = require_string(object, "", "torrent", 16 * 1024 * 1024);
        std::error_code base64_ec;
        out.torrent = core::base64_decode(torrent_text, base64_ec);
        if (base64_ec) {
            refuse("torrent", "must be standard base64 with padding");
        }
        if (out.torrent.empty() || out.torrent.front() != 'd' || out.torrent.back() != 'e') {
            refuse("torrent", "must be a bencoded dictionary (a .torrent file)");
        }

        out.cek = require_string(object, "", "cek", max_cek_jwe_bytes);
        if (std::count(out.cek.begin(), out.cek.end(), '.') != 4) {
            refuse("cek", "must be a compact JWE (five parts)");
        }
        std::error_code header_ec;
        const json header = core::jose_protected_header(out.cek, header_ec);
        if (header_ec || !header.is_object()) {
            refuse("cek", "the JWE protected header is unreadable");
        }
        const auto alg = header.value("alg", std::string());
        const auto enc = header.value("enc", std::string());
        if (alg != "ECDH-ES+A256KW" && alg != "ECDH-ES") {
            refuse("cek", "JWE alg must be ECDH-ES+A256KW or ECDH-ES");
        }
        if (enc != "A256GCM") {
            refuse("cek", "JWE enc must be A256GCM");
        }
        out.kid = require_hex(object, "", "kid", 32);
        return out;
    });
}

nlohmann::json publish_request::to_json() const {
    if (action == publish_action::withdraw) {
        return {{"action", "withdraw"}, {"doi", withdraw_doi.str()}};
    }
    json meta = {
        {"title", metadata.title},
        {"description", metadata.description},
        {"content_type", metadata.content_type},
        {"price",
         {{"amount_minor", metadata.price.amount_minor}, {"currency", metadata.price.currency}}},
        {"size", metadata.size_bytes}};
    if (metadata.genre) {
        meta["genre"] = *metadata.genre;
    }
    if (metadata.series) {
        meta["series"] = *metadata.series;
    }
    if (metadata.doi) {
        meta["doi"] = metadata.doi->str();
    }
    return {{"action", "publish"},
            {"metadata", std::move(meta)},
            {"torrent", core::base64_encode(torrent)},
            {"cek", cek},
            {"kid", kid}};
}

std::string publish_request::serialize() const {
    return to_json().dump();
}

// ---------------------------------------------------------------------------------------------
// ticket document

ticket_document ticket_document::parse(std::string_view text, std::error_code& ec,
                                       body_error* detail) {
    return run_parser<ticket_document>(text, ec, detail, [](const json& object) {
        ticket_document out;
        out.request_id = require_request_id(object);
        out.doi = require_doi(object, "", "doi", true);
        out.torrent_url = require_url(object, "torrent_url");
        out.announce_url = require_url(object, "announce_url");
        out.license_url = require_url(object, "license_url");
        out.grant_token = require_jwt(object, "grant_token");
        out.expires = require_time(object, "expires");
        return out;
    });
}

nlohmann::json ticket_document::to_json() const {
    return {{"request_id", request_id},        {"doi", doi.str()},
            {"torrent_url", torrent_url},      {"announce_url", announce_url},
            {"license_url", license_url},      {"grant_token", grant_token},
            {"expires", unix_seconds(expires)}};
}

std::string ticket_document::serialize() const {
    return to_json().dump();
}

// ---------------------------------------------------------------------------------------------
// publish result

publish_result publish_result::parse(std::string_view text, std::error_code& ec,
                                     body_error* detail) {
    return run_parser<publish_result>(text, ec, detail, [](const json& object) {
        publish_result out;
        out.doi = require_doi(object, "", "doi", true);
        out.kid = require_hex(object, "", "kid", 32);
        out.infohash_v1 = require_hex(object, "", "infohash_v1", 40);
        std::error_code state_ec;
        out.state = core::parse_content_state(require_string(object, "", "state", 32), state_ec);
        if (state_ec) {
            refuse("state", "must be \"active\", \"muted\" or \"withdrawn\"");
        }
        out.seed_ticket = require_jwt(object, "seed_ticket");
        out.announce_url = require_url(object, "announce_url");
        out.torrent_url = require_url(object, "torrent_url");
        out.expires = require_time(object, "expires");
        return out;
    });
}

nlohmann::json publish_result::to_json() const {
    return {{"doi", doi.str()},           {"kid", kid},
            {"infohash_v1", infohash_v1}, {"state", core::to_string(state)},
            {"seed_ticket", seed_ticket}, {"announce_url", announce_url},
            {"torrent_url", torrent_url}, {"expires", unix_seconds(expires)}};
}

std::string publish_result::serialize() const {
    return to_json().dump();
}

// ---------------------------------------------------------------------------------------------
// seed assignment

seed_assignment seed_assignment::parse(std::string_view text, std::error_code& ec,
                                       body_error* detail) {
    return run_parser<seed_assignment>(text, ec, detail, [](const json& object) {
        seed_assignment out;
        out.assignment_id = require_assignment_id(object);
        out.doi = require_doi(object, "", "doi", true);
        out.infohash_v1 = require_hex(object, "", "infohash_v1", 40);
        out.torrent_url = require_url(object, "torrent_url");
        out.announce_url = require_url(object, "announce_url");
        out.expires = require_time(object, "expires");
        return out;
    });
}

nlohmann::json seed_assignment::to_json() const {
    return {{"assignment_id", assignment_id}, {"doi", doi.str()},
            {"infohash_v1", infohash_v1},     {"torrent_url", torrent_url},
            {"announce_url", announce_url},   {"expires", unix_seconds(expires)}};
}

std::string seed_assignment::serialize() const {
    return to_json().dump();
}

// ---------------------------------------------------------------------------------------------
// seed report

seed_report seed_report::parse(std::string_view text, std::error_code& ec, body_error* detail) {
    return run_parser<seed_report>(text, ec, detail, [](const json& object) {
        seed_report out;
        out.assignment_id = require_assignment_id(object);
        out.doi = require_doi(object, "", "doi", false);
        out.infohash_v1 = require_hex(object, "", "infohash_v1", 40);
        out.state = require_string(object, "", "state", 32);
        if (out.state != "seeded") {
            refuse("state", "must be \"seeded\"");
        }
        return out;
    });
}

nlohmann::json seed_report::to_json() const {
    return {{"assignment_id", assignment_id},
            {"doi", doi.str()},
            {"infohash_v1", infohash_v1},
            {"state", state}};
}

std::string seed_report::serialize() const {
    return to_json().dump();
}

// ---------------------------------------------------------------------------------------------
// catalog

catalog_notification catalog_notification::parse(std::string_view text, std::error_code& ec,
                                                 body_error* detail) {
    return run_parser<catalog_notification>(text, ec, detail, [](const json& object) {
        catalog_notification out;
        const auto event = require_string(object, "", "event", 32);
        if (event == "full") {
            out.event = catalog_event::full;
            const json& entries = require(object, "", "entries");
            if (!entries.is_array()) {
                refuse("entries", "must be an array");
            }
            for (std::size_t i = 0; i < entries.size(); ++i) {
                out.entries.push_back(parse_entry(entries[i], "entries." + std::to_string(i)));
            }
            if (const json* truncated = find(object, "truncated"); truncated != nullptr) {
                if (!truncated->is_boolean()) {
                    refuse("truncated", "must be true or false");
                }
                out.truncated = truncated->get<bool>();
            }
        } else if (event == "published" || event == "withdrawn") {
            out.event = event == "published" ? catalog_event::published : catalog_event::withdrawn;
            out.entries.push_back(parse_entry(require(object, "", "entry"), "entry"));
        } else {
            refuse("event", "must be \"full\", \"published\" or \"withdrawn\"");
        }
        return out;
    });
}

nlohmann::json catalog_notification::to_json() const {
    json out = {{"event", to_name(event)}};
    if (event == catalog_event::full) {
        json list = json::array();
        for (const auto& entry : entries) {
            list.push_back(entry_json(entry));
        }
        out["entries"] = std::move(list);
        out["truncated"] = truncated;
    } else {
        out["entry"] = this->entries.empty() ? json::object() : entry_json(this->entries.front());
    }
    return out;
}

std::string catalog_notification::serialize() const {
    return to_json().dump();
}

}  // namespace imsp2p::sip
