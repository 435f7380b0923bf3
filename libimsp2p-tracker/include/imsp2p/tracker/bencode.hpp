/**
 * @file
 * Bencoding (BEP 3): the serialisation of tracker responses and .torrent files.
 *
 * A bencode_value is an integer, a byte string, a list or a dictionary (keys sorted as raw
 * byte strings, as BEP 3 requires). Plain value types; thread-compatible.
 */
#pragma once

#include <imsp2p/tracker/export.hpp>

#include <cstddef>
#include <cstdint>
#include <map>
#include <string>
#include <string_view>
#include <system_error>
#include <variant>
#include <vector>

namespace imsp2p::tracker {

struct bencode_value;

/** A bencoded list. */
using bencode_list = std::vector<bencode_value>;
/** A bencoded dictionary; std::map keeps the keys in the byte order BEP 3 requires. */
using bencode_dict = std::map<std::string, bencode_value, std::less<>>;

/**
 * One bencoded value: integer, byte string (binary-safe std::string), list or dictionary.
 */
struct IMSP2P_TRACKER_EXPORT bencode_value {
    /** The value itself. */
    std::variant<std::int64_t, std::string, bencode_list, bencode_dict> data;

    /** An empty byte string. */
    bencode_value();
    /** An integer. @param integer the value */
    bencode_value(std::int64_t integer);  // NOLINT(google-explicit-constructor)
    /** A byte string. @param bytes the bytes (copied) */
    bencode_value(std::string bytes);  // NOLINT(google-explicit-constructor)
    /** A byte string. @param bytes a NUL-terminated string */
    bencode_value(const char* bytes);  // NOLINT(google-explicit-constructor)
    /** A list. @param list the elements */
    bencode_value(bencode_list list);  // NOLINT(google-explicit-constructor)
    /** A dictionary. @param dict the members */
    bencode_value(bencode_dict dict);  // NOLINT(google-explicit-constructor)

    /** @return true if this is an integer. */
    [[nodiscard]] bool is_integer() const noexcept { return data.index() == 0; }
    /** @return true if this is a byte string. */
    [[nodiscard]] bool is_string() const noexcept { return data.index() == 1; }
    /** @return true if this is a list. */
    [[nodiscard]] bool is_list() const noexcept { return data.index() == 2; }
    /** @return true if this is a dictionary. */
    [[nodiscard]] bool is_dict() const noexcept { return data.index() == 3; }

    /** @return the integer. @throws std::bad_variant_access if not an integer */
    [[nodiscard]] std::int64_t integer() const { return std::get<std::int64_t>(data); }
    /** @return the byte string. @throws std::bad_variant_access if not a string */
    [[nodiscard]] const std::string& string() const { return std::get<std::string>(data); }
    /** @return the list. @throws std::bad_variant_access if not a list */
    [[nodiscard]] const bencode_list& list() const { return std::get<bencode_list>(data); }
    /** @return the dictionary. @throws std::bad_variant_access if not a dictionary */
    [[nodiscard]] const bencode_dict& dict() const { return std::get<bencode_dict>(data); }

    /**
     * Looks up a dictionary member.
     * @param key the member name
     * @return the member, or null if this is not a dictionary or has no such member; the pointer
     *         lives as long as this value is not modified
     */
    [[nodiscard]] const bencode_value* find(std::string_view key) const noexcept;

    /** Compares the values structurally. */
    bool operator==(const bencode_value& other) const;
};

/**
 * Encodes a value (canonical: dictionary keys sorted, integers without leading zeros).
 * @param value the value
 * @return the bencoded bytes
 */
IMSP2P_TRACKER_EXPORT std::string bencode(const bencode_value& value);

/** Bounds for bdecode(). */
struct bencode_limits {
    /** Deepest nesting of lists and dictionaries accepted. */
    std::size_t max_depth = 64;
    /** Most values (of any kind) accepted in one document. */
    std::size_t max_values = 1'000'000;
};

/**
 * Decodes one bencoded document; the whole input must be consumed.
 *
 * Rejects leading zeros and "-0" in integers, integers outside int64, string lengths past the
 * end, duplicate dictionary keys, unsorted keys, trailing bytes, and inputs beyond the limits.
 * @param text the bencoded bytes
 * @param ec errc::bad_bencode on malformed input, cleared otherwise
 * @param limits nesting and size bounds
 * @return the value, an empty string on error
 */
IMSP2P_TRACKER_EXPORT bencode_value bdecode(std::string_view text, std::error_code& ec,
                                            const bencode_limits& limits = {});
/** Throwing form of bdecode(). @throws std::system_error (bad_bencode) naming the offset */
IMSP2P_TRACKER_EXPORT bencode_value bdecode(std::string_view text,
                                            const bencode_limits& limits = {});

}  // namespace imsp2p::tracker
