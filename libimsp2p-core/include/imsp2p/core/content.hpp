/**
 * @file
 * The content record: the catalogue entry for one published item, exchanged as JSON between
 * the SIP AS, the tracker's content index and the DRM server.
 */
#pragma once

#include <imsp2p/core/doi.hpp>
#include <imsp2p/core/export.hpp>
#include <imsp2p/core/identity.hpp>

#include <nlohmann/json.hpp>

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <system_error>

namespace imsp2p::core {

/**
 * A price in the minor unit of a currency (e.g. 199 with "EUR" is 1.99 euro).
 * A plain value type; 0 means free of charge.
 */
struct price {
    /** The amount in the currency's minor unit (cents, pence...); never negative when valid. */
    std::int64_t amount_minor = 0;

    /** The ISO 4217 alphabetic code: three upper-case ASCII letters, e.g. "EUR". */
    std::string currency;

    /**
     * Member-wise equality.
     * @param other the price to compare with
     * @return true if amount and currency are equal
     */
    bool operator==(const price& other) const = default;
};

/** The life-cycle state of published content (operator control, seed 002). */
enum class content_state {
    active,     ///< Listed, downloadable, grantable.
    muted,      ///< Registered, but only operator seeders get peers (upload to them running).
    withdrawn,  ///< Disabled: hidden from the index, refused by the tracker, no new grants.
};

/**
 * The JSON name of a state.
 * @param state the state
 * @return "active", "muted" or "withdrawn" (a static string)
 */
IMSP2P_CORE_EXPORT std::string_view to_string(content_state state) noexcept;

/**
 * Parses the JSON name of a state (exact, lower case).
 * @param text "active", "muted" or "withdrawn"
 * @param ec set to errc::content_malformed for any other text, cleared on success
 * @return the state, or content_state::active on failure
 */
IMSP2P_CORE_EXPORT content_state parse_content_state(std::string_view text,
                                                     std::error_code& ec) noexcept;

/**
 * The catalogue record of one published content item.
 *
 * A plain value type with public members: build it field by field, check it with validate(),
 * exchange it with to_json() / from_json(). The JSON form is an object:
 * ```
 * {"doi": "10.5555/imsp2p.01J...", "publisher": "sip:alice@example.com",
 *  "title": "...", "description": "...", "content_type": "video/mp4",
 *  "genre": "...", "series": "...",            (optional: omitted when absent, null accepted)
 *  "size_bytes": 123, "price": {"amount_minor": 199, "currency": "EUR"},
 *  "infohash_v1": "<40 hex>", "infohash_v2": "<64 hex>", "kid": "<32 hex>",
 *  "state": "active" | "muted" | "withdrawn", "created_at": <unix seconds>}
 * ```
 * "doi" is the canonical doi::str() (read back with doi::parse_canonical(), no
 * percent-decoding); "publisher" is impu::str(). "description" may be omitted (empty).
 * Unknown members are ignored (forward compatibility); every known member is validated.
 *
 * Field rules (validate()): doi and publisher not empty; title 1..max_title_bytes bytes and
 * genre/series (when present) 1..max_label_bytes bytes of UTF-8 without control or invisible
 * format characters; description up to max_description_bytes bytes of UTF-8 whose only
 * control characters are tab, CR and LF; content_type a media type `type/subtype` (RFC 6838
 * restricted names) with optional `; name=value` parameters (RFC 9110 tokens or quoted
 * strings), at most max_content_type_bytes bytes of ASCII; price.amount_minor >= 0 and
 * price.currency three upper-case ASCII letters; infohash_v1 (SHA-1 of the info dictionary,
 * BEP 3), infohash_v2 (SHA-256, BEP 52) and kid (16-byte content key id) exactly 40, 64 and 32
 * lower-case hexadecimal digits (from_json() also accepts upper case and folds it);
 * created_at not before 1970 (JSON keeps whole seconds: to_json() rounds down).
 *
 * Thread-safety: as for standard value types.
 */
struct IMSP2P_CORE_EXPORT content_record {
    /** The longest title in bytes. */
    static constexpr std::size_t max_title_bytes = 1024;
    /** The longest description in bytes. */
    static constexpr std::size_t max_description_bytes = 64 * 1024;
    /** The longest genre or series name in bytes. */
    static constexpr std::size_t max_label_bytes = 256;
    /** The longest content type in bytes. */
    static constexpr std::size_t max_content_type_bytes = 255;

    /** The content's DOI (the catalogue key). */
    core::doi doi;
    /** The publisher's public identity, as asserted by the IMS core. */
    impu publisher;
    /** The human-readable title (UTF-8). */
    std::string title;
    /** A longer description (UTF-8, may be empty, may span lines). */
    std::string description;
    /** The media type of the plain content, e.g. "video/mp4". */
    std::string content_type;
    /** An optional genre for catalogue filtering (SUBSCRIBE imsp2p-catalog). */
    std::optional<std::string> genre;
    /** An optional series name for catalogue filtering. */
    std::optional<std::string> series;
    /** The size of the plain content in bytes. */
    std::uint64_t size_bytes = 0;
    /** The price of one download. */
    core::price price;
    /** The BitTorrent v1 infohash: 40 lower-case hex digits. */
    std::string infohash_v1;
    /** The BitTorrent v2 infohash (full SHA-256): 64 lower-case hex digits. */
    std::string infohash_v2;
    /** The content key identifier of the protected container: 32 lower-case hex digits. */
    std::string kid;
    /** The life-cycle state. */
    content_state state = content_state::active;
    /** When the content was published. */
    std::chrono::system_clock::time_point created_at{};

    /**
     * Checks every field against the rules in the class description.
     * @param ec set to the first failure, cleared if the record is valid: errc::doi_empty or
     *        errc::impu_malformed for an empty doi or publisher, errc::content_malformed for
     *        any other field
     * @param field if not null, receives the JSON name of the failing field (e.g.
     *        "price.currency"); left unchanged on success
     */
    void validate(std::error_code& ec, std::string* field = nullptr) const;

    /**
     * Checks every field (see the non-throwing overload).
     * @throws std::system_error whose what() names the failing field
     */
    void validate() const;

    /**
     * Serialises the record to its JSON object. It does not validate: call validate() first
     * when the record was not produced by from_json().
     * @return a new JSON object
     */
    [[nodiscard]] nlohmann::json to_json() const;

    /**
     * Reads and validates a record from its JSON object.
     * @param json the JSON value (any type; anything but a valid record object fails)
     * @param ec set on failure, cleared on success: the doi::parse_canonical() error for a bad
     *        "doi", the impu::parse() error for a bad "publisher", errc::content_malformed for
     *        a missing member, a member of the wrong type or any other bad value
     * @param field if not null, receives the name of the failing member (e.g. "price.currency",
     *        or "" when @p json is not an object); left unchanged on success
     * @return the record, or a default-constructed record on failure
     */
    static content_record from_json(const nlohmann::json& json, std::error_code& ec,
                                    std::string* field = nullptr);

    /**
     * Reads and validates a record from its JSON object (see the non-throwing overload).
     * @param json the JSON value
     * @return the record
     * @throws std::system_error whose what() names the failing member
     */
    static content_record from_json(const nlohmann::json& json);

    /**
     * Member-wise equality (doi and publisher compare as their own operator== does).
     * @param other the record to compare with
     * @return true if every member is equal
     */
    bool operator==(const content_record& other) const = default;
};

}  // namespace imsp2p::core
