/**
 * @file
 * Configuration: a JSON document read from a file, overridden by command-line flags, and read
 * back through typed, range-checked getters addressed by JSON pointer (RFC 6901).
 *
 * Conventions shared by every getter:
 * - A setting that is absent or JSON `null` is "not set" (so `--set key=null` restores the
 *   default). get() then returns std::nullopt, get_or() the fallback, require() fails with
 *   errc::config_missing_value.
 * - A setting of the wrong type or out of range fails with errc::config_bad_value; the fallback
 *   is never silently used for a value that is present but wrong.
 * - A malformed JSON pointer (e.g. without the leading "/") fails with errc::invalid_argument.
 * - Non-throwing overloads report through `std::error_code& ec` and, when `detail` is not null,
 *   store a message naming the configuration source and the JSON pointer, e.g.
 *   `/etc/imsp2p/tracker.json: /tracker/interval: expected an integer in [60, 86400], found 5`.
 *   Throwing overloads raise std::system_error with that message.
 *
 * A `config` is a value type (copyable, movable). Const member functions may be called from
 * several threads at once; a non-const call (set(), apply_override(), merge()) needs exclusive
 * access.
 */
#pragma once

#include <imsp2p/core/error.hpp>
#include <imsp2p/core/export.hpp>

#include <nlohmann/json.hpp>

#include <chrono>
#include <concepts>
#include <cstdint>
#include <filesystem>
#include <limits>
#include <optional>
#include <string>
#include <string_view>
#include <system_error>
#include <type_traits>
#include <vector>

namespace imsp2p::core {

/** A numeric type accepted by the range-checked config getters (integers except bool, floats). */
template <class T>
concept config_number = (std::integral<T> && !std::same_as<T, bool>) || std::floating_point<T>;

/**
 * A type config getters can return: config_number types, bool, std::string,
 * std::vector<std::string> (a JSON array of strings) or nlohmann::json (any value, unchecked).
 */
template <class T>
concept config_value = config_number<T> || std::same_as<T, bool> || std::same_as<T, std::string> ||
    std::same_as<T, std::vector<std::string>> || std::same_as<T, nlohmann::json>;

/** An inclusive range [min, max] that a numeric setting (a config_number) must fall in. */
template <class T>
struct value_range {
    /** The smallest accepted value. */
    T min;
    /** The largest accepted value. */
    T max;
};

/**
 * Parses a duration: integer seconds ("90") or one or more number+unit groups with units ms, s,
 * m, h, d ("500ms", "30s", "5m", "1h30m", "2d"). No sign, spaces or fractions.
 * @param text the duration text
 * @param ec set to errc::config_bad_value if the text is not a duration or overflows
 * @return the duration, zero on error
 */
IMSP2P_CORE_EXPORT std::chrono::milliseconds parse_duration(std::string_view text,
                                                            std::error_code& ec) noexcept;
/** Throwing form of parse_duration(). @throws std::system_error naming the text */
IMSP2P_CORE_EXPORT std::chrono::milliseconds parse_duration(std::string_view text);

/**
 * A configuration document (a JSON object) with the name of where it came from.
 */
class IMSP2P_CORE_EXPORT config {
  public:
    /** An empty configuration (`{}`) named "<defaults>". */
    config();

    /**
     * Wraps an existing JSON document.
     * @param document the settings; must be a JSON object (else errc::config_malformed)
     * @param source_name how errors name this configuration, e.g. "<built-in defaults>"
     * @param ec set on failure; the result is then empty
     * @return the configuration
     */
    static config from_json(nlohmann::json document, std::string source_name,
                            std::error_code& ec) noexcept;
    /** Throwing form of from_json(). @throws std::system_error */
    static config from_json(nlohmann::json document, std::string source_name);

    /**
     * Reads and parses a JSON configuration file (comments `//` and `/ * * /` are allowed).
     * Relative paths inside it are later resolved against the file's (absolute) folder.
     * @param path the file
     * @param ec config_unreadable (missing, unreadable, a directory, over 16 MiB) or
     *           config_malformed (not JSON, duplicate key, top level not an object)
     * @param detail if not null, receives "file:line:column: reason" or "file: reason"
     * @return the configuration, empty on error
     */
    static config load_file(const std::filesystem::path& path, std::error_code& ec,
                            std::string* detail = nullptr);
    /** Throwing form of load_file(). @throws std::system_error */
    static config load_file(const std::filesystem::path& path);

    /**
     * Parses JSON text (comments allowed) as a configuration.
     * @param text the JSON text
     * @param source_name the name errors give for the text (e.g. an environment variable name)
     * @param ec config_malformed on error
     * @param detail if not null, receives "source:line:column: reason"
     * @return the configuration, empty on error
     */
    static config parse(std::string_view text, std::string source_name, std::error_code& ec,
                        std::string* detail = nullptr);
    /** Throwing form of parse(). @throws std::system_error */
    static config parse(std::string_view text, std::string source_name = "<string>");

    /** @return the whole document (always a JSON object). */
    [[nodiscard]] const nlohmann::json& document() const noexcept { return document_; }
    /** @return the name errors use for this configuration (a file path or a given name). */
    [[nodiscard]] const std::string& source_name() const noexcept { return source_name_; }
    /** @return the folder relative paths are resolved against (empty: the working directory). */
    [[nodiscard]] const std::filesystem::path& base_directory() const noexcept {
        return base_directory_;
    }
    /**
     * Sets the folder relative paths are resolved against.
     * @param directory the folder; empty means the process's working directory
     */
    void set_base_directory(std::filesystem::path directory) {
        base_directory_ = std::move(directory);
    }

    /**
     * @param pointer a JSON pointer such as "/sip/listen"
     * @return true if the setting is present and not null (false for a malformed pointer)
     */
    [[nodiscard]] bool contains(std::string_view pointer) const noexcept;

    /**
     * Reads an optional setting.
     * @param pointer JSON pointer of the setting
     * @param ec config_bad_value if present with the wrong type or outside T's range
     * @param detail if not null, receives the error message
     * @return the value, or std::nullopt if absent/null or on error
     */
    template <config_value T>
    std::optional<T> get(std::string_view pointer, std::error_code& ec,
                         std::string* detail = nullptr) const;
    /** Throwing form of get(). @throws std::system_error (config_bad_value) */
    template <config_value T>
    std::optional<T> get(std::string_view pointer) const;

    /**
     * Reads a setting with a default.
     * @param pointer JSON pointer of the setting
     * @param fallback the value when the setting is absent or null
     * @param ec config_bad_value if present but of the wrong type or out of range
     * @param detail if not null, receives the error message
     * @return the value, or `fallback` if absent or on error
     */
    template <config_value T>
    T get_or(std::string_view pointer, T fallback, std::error_code& ec,
             std::string* detail = nullptr) const;
    /** Throwing form of get_or(). @throws std::system_error (config_bad_value) */
    template <config_value T>
    T get_or(std::string_view pointer, T fallback) const;
    /**
     * Reads a numeric setting with a default and an inclusive range (the fallback is not checked).
     * @param pointer JSON pointer of the setting
     * @param fallback the value when the setting is absent or null
     * @param range the accepted values
     * @param ec config_bad_value if present but not a number in the range
     * @param detail if not null, receives the error message
     * @return the value, or `fallback` if absent or on error
     */
    template <config_number T>
    T get_or(std::string_view pointer, T fallback, value_range<T> range, std::error_code& ec,
             std::string* detail = nullptr) const;
    /** Throwing form of the range-checked get_or(). @throws std::system_error */
    template <config_number T>
    T get_or(std::string_view pointer, T fallback, value_range<T> range) const;

    /**
     * Reads a mandatory setting.
     * @param pointer JSON pointer of the setting
     * @param ec config_missing_value if absent or null, config_bad_value if of the wrong type
     * @param detail if not null, receives the error message
     * @return the value, T{} on error
     */
    template <config_value T>
    T require(std::string_view pointer, std::error_code& ec, std::string* detail = nullptr) const;
    /** Throwing form of require(). @throws std::system_error */
    template <config_value T>
    T require(std::string_view pointer) const;
    /**
     * Reads a mandatory numeric setting within an inclusive range.
     * @param pointer JSON pointer of the setting
     * @param range the accepted values
     * @param ec config_missing_value or config_bad_value
     * @param detail if not null, receives the error message
     * @return the value, T{} on error
     */
    template <config_number T>
    T require(std::string_view pointer, value_range<T> range, std::error_code& ec,
              std::string* detail = nullptr) const;
    /** Throwing form of the range-checked require(). @throws std::system_error */
    template <config_number T>
    T require(std::string_view pointer, value_range<T> range) const;

    /**
     * Reads a TCP/UDP port: an integer 0..65535 (0 asks the OS for any free port when listening).
     * @param pointer JSON pointer of the setting
     * @param fallback the port when the setting is absent or null
     * @param ec config_bad_value if present but not a port
     * @param detail if not null, receives the error message
     * @return the port, `fallback` if absent or on error
     */
    std::uint16_t port_or(std::string_view pointer, std::uint16_t fallback, std::error_code& ec,
                          std::string* detail = nullptr) const;
    /** Throwing form of port_or(). @throws std::system_error */
    std::uint16_t port_or(std::string_view pointer, std::uint16_t fallback) const;
    /** Like port_or() but the setting is mandatory (config_missing_value). @return 0 on error */
    std::uint16_t require_port(std::string_view pointer, std::error_code& ec,
                               std::string* detail = nullptr) const;
    /** Throwing form of require_port(). @throws std::system_error */
    std::uint16_t require_port(std::string_view pointer) const;

    /**
     * Reads a duration: a JSON integer (seconds) or a string accepted by parse_duration().
     * @param pointer JSON pointer of the setting
     * @param fallback the duration when the setting is absent or null
     * @param ec config_bad_value if present but not a duration
     * @param detail if not null, receives the error message
     * @return the duration, `fallback` if absent or on error
     */
    std::chrono::milliseconds duration_or(std::string_view pointer,
                                          std::chrono::milliseconds fallback, std::error_code& ec,
                                          std::string* detail = nullptr) const;
    /** Throwing form of duration_or(). @throws std::system_error */
    std::chrono::milliseconds duration_or(std::string_view pointer,
                                          std::chrono::milliseconds fallback) const;
    /** Like duration_or() but mandatory (config_missing_value). @return zero on error */
    std::chrono::milliseconds require_duration(std::string_view pointer, std::error_code& ec,
                                               std::string* detail = nullptr) const;
    /** Throwing form of require_duration(). @throws std::system_error */
    std::chrono::milliseconds require_duration(std::string_view pointer) const;

    /**
     * Resolves a path as written in this configuration: absolute paths and empty paths are
     * returned as they are, relative ones are appended to base_directory().
     * @param path the path from a setting
     * @return the resolved path
     */
    [[nodiscard]] std::filesystem::path resolve_path(const std::filesystem::path& path) const;
    /**
     * Reads a non-empty string setting as a path resolved by resolve_path().
     * @param pointer JSON pointer of the setting
     * @param fallback the path when absent or null (also resolved)
     * @param ec config_bad_value if present but not a non-empty string
     * @param detail if not null, receives the error message
     * @return the resolved path, the resolved fallback if absent or on error
     */
    std::filesystem::path path_or(std::string_view pointer, const std::filesystem::path& fallback,
                                  std::error_code& ec, std::string* detail = nullptr) const;
    /** Throwing form of path_or(). @throws std::system_error */
    std::filesystem::path path_or(std::string_view pointer,
                                  const std::filesystem::path& fallback) const;
    /** Like path_or() but mandatory (config_missing_value). @return empty on error */
    std::filesystem::path require_path(std::string_view pointer, std::error_code& ec,
                                       std::string* detail = nullptr) const;
    /** Throwing form of require_path(). @throws std::system_error */
    std::filesystem::path require_path(std::string_view pointer) const;

    /**
     * Sets a value, creating missing parent objects (a numeric token under a missing parent
     * creates an array). The document is unchanged on error.
     * @param pointer JSON pointer of the setting; "" replaces the whole document (must be an
     *        object)
     * @param value the new value
     * @param ec invalid_argument for a malformed pointer, config_bad_value if a parent is not
     *        an object/array or the array index is out of range
     * @param detail if not null, receives the error message
     */
    void set(std::string_view pointer, nlohmann::json value, std::error_code& ec,
             std::string* detail = nullptr);
    /** Throwing form of set(). @throws std::system_error */
    void set(std::string_view pointer, nlohmann::json value);

    /**
     * Applies a command-line override `key=value`, as given to `--set`.
     * The key is a dotted path ("tracker.interval") or a JSON pointer ("/tracker/interval");
     * the value is parsed as JSON if it is valid JSON (900, true, null, [1,2], "\"900\"") and
     * taken as a plain string otherwise (0.0.0.0:5060).
     * @param assignment the `key=value` text
     * @param ec config_bad_value if there is no "=" or the key is empty, or as set()
     * @param detail if not null, receives the error message
     */
    void apply_override(std::string_view assignment, std::error_code& ec,
                        std::string* detail = nullptr);
    /** Throwing form of apply_override(). @throws std::system_error */
    void apply_override(std::string_view assignment);

    /**
     * Merges a JSON merge patch (RFC 7386) into the document, e.g. a file over built-in
     * defaults: members of `patch` replace those of the document, `null` members delete them.
     * @param patch a JSON object (else config_malformed and the document is unchanged)
     * @param ec set on failure
     */
    void merge(const nlohmann::json& patch, std::error_code& ec);
    /** Throwing form of merge(). @throws std::system_error */
    void merge(const nlohmann::json& patch);

    /**
     * Rejects settings that the program does not know (typos would otherwise be ignored).
     * `known` is either
     * - a JSON array of JSON pointers: ["/sip/listen", "/tracker/peers", "/trackers/&lowast;/url"],
     *   where a listed pointer accepts everything below it, or
     * - a schema object of the document's shape: {"sip": {"listen": true}, "trackers":
     *   [{"url": true}]}, where an object lists the known members, an array of one element gives
     *   the schema of every array item, and any other value (true, null, a description string)
     *   accepts everything below it.
     * A key or array index may be "*" to match any member or item.
     * @param known the known settings as described
     * @param ec config_unknown_key if a setting is not known (every unknown pointer is listed in
     *        the detail), invalid_argument if `known` is neither form
     * @param detail if not null, receives the error message
     */
    void check_known_keys(const nlohmann::json& known, std::error_code& ec,
                          std::string* detail = nullptr) const;
    /** Throwing form of check_known_keys(). @throws std::system_error */
    void check_known_keys(const nlohmann::json& known) const;

  private:
    const nlohmann::json* lookup(std::string_view pointer, std::error_code& ec,
                                 std::string* detail) const;
    void report(std::error_code code, std::string_view pointer, std::string_view reason,
                std::error_code& ec, std::string* detail) const;
    [[noreturn]] static void raise(std::error_code ec, const std::string& detail);
    std::optional<std::int64_t> read_signed(const nlohmann::json& value, std::string_view pointer,
                                            std::int64_t min, std::int64_t max, std::error_code& ec,
                                            std::string* detail) const;
    std::optional<std::uint64_t> read_unsigned(const nlohmann::json& value,
                                               std::string_view pointer, std::uint64_t min,
                                               std::uint64_t max, std::error_code& ec,
                                               std::string* detail) const;
    std::optional<double> read_double(const nlohmann::json& value, std::string_view pointer,
                                      double min, double max, std::error_code& ec,
                                      std::string* detail) const;
    std::optional<bool> read_bool(const nlohmann::json& value, std::string_view pointer,
                                  std::error_code& ec, std::string* detail) const;
    std::optional<std::string> read_string(const nlohmann::json& value, std::string_view pointer,
                                           std::error_code& ec, std::string* detail) const;
    std::optional<std::vector<std::string>> read_string_list(const nlohmann::json& value,
                                                             std::string_view pointer,
                                                             std::error_code& ec,
                                                             std::string* detail) const;
    template <config_value T>
    std::optional<T> read(std::string_view pointer, const value_range<T>* range,
                          std::error_code& ec, std::string* detail) const;
    template <config_value T>
    T read_required(std::string_view pointer, const value_range<T>* range, std::error_code& ec,
                    std::string* detail) const;

    nlohmann::json document_ = nlohmann::json::object();
    std::string source_name_ = "<defaults>";
    std::filesystem::path base_directory_;
};

// ---------------------------------------------------------------------------------------
// Template implementations.

template <config_value T>
std::optional<T> config::read(std::string_view pointer, const value_range<T>* range,
                              std::error_code& ec, std::string* detail) const {
    ec.clear();
    const nlohmann::json* value = lookup(pointer, ec, detail);
    if (value == nullptr) {
        return std::nullopt;
    }
    if constexpr (std::same_as<T, bool>) {
        return read_bool(*value, pointer, ec, detail);
    } else if constexpr (std::same_as<T, std::string>) {
        return read_string(*value, pointer, ec, detail);
    } else if constexpr (std::same_as<T, std::vector<std::string>>) {
        return read_string_list(*value, pointer, ec, detail);
    } else if constexpr (std::same_as<T, nlohmann::json>) {
        return *value;
    } else if constexpr (std::floating_point<T>) {
        const double min = range ? static_cast<double>(range->min)
                                 : static_cast<double>(std::numeric_limits<T>::lowest());
        const double max = range ? static_cast<double>(range->max)
                                 : static_cast<double>(std::numeric_limits<T>::max());
        const auto number = read_double(*value, pointer, min, max, ec, detail);
        return number ? std::optional<T>(static_cast<T>(*number)) : std::nullopt;
    } else if constexpr (std::is_signed_v<T>) {
        const auto min =
            static_cast<std::int64_t>(range ? range->min : std::numeric_limits<T>::min());
        const auto max =
            static_cast<std::int64_t>(range ? range->max : std::numeric_limits<T>::max());
        const auto number = read_signed(*value, pointer, min, max, ec, detail);
        return number ? std::optional<T>(static_cast<T>(*number)) : std::nullopt;
    } else {
        const auto min =
            static_cast<std::uint64_t>(range ? range->min : std::numeric_limits<T>::min());
        const auto max =
            static_cast<std::uint64_t>(range ? range->max : std::numeric_limits<T>::max());
        const auto number = read_unsigned(*value, pointer, min, max, ec, detail);
        return number ? std::optional<T>(static_cast<T>(*number)) : std::nullopt;
    }
}

template <config_value T>
T config::read_required(std::string_view pointer, const value_range<T>* range, std::error_code& ec,
                        std::string* detail) const {
    std::optional<T> value = read<T>(pointer, range, ec, detail);
    if (value) {
        return std::move(*value);
    }
    if (!ec) {
        report(make_error_code(errc::config_missing_value), pointer, "required setting is missing",
               ec, detail);
    }
    return T{};
}

template <config_value T>
std::optional<T> config::get(std::string_view pointer, std::error_code& ec,
                             std::string* detail) const {
    return read<T>(pointer, nullptr, ec, detail);
}

template <config_value T>
std::optional<T> config::get(std::string_view pointer) const {
    std::error_code ec;
    std::string detail;
    std::optional<T> value = read<T>(pointer, nullptr, ec, &detail);
    if (ec) {
        raise(ec, detail);
    }
    return value;
}

template <config_value T>
T config::get_or(std::string_view pointer, T fallback, std::error_code& ec,
                 std::string* detail) const {
    std::optional<T> value = read<T>(pointer, nullptr, ec, detail);
    return value ? std::move(*value) : std::move(fallback);
}

template <config_value T>
T config::get_or(std::string_view pointer, T fallback) const {
    std::error_code ec;
    std::string detail;
    T value = get_or<T>(pointer, std::move(fallback), ec, &detail);
    if (ec) {
        raise(ec, detail);
    }
    return value;
}

template <config_number T>
T config::get_or(std::string_view pointer, T fallback, value_range<T> range, std::error_code& ec,
                 std::string* detail) const {
    const std::optional<T> value = read<T>(pointer, &range, ec, detail);
    return value ? *value : fallback;
}

template <config_number T>
T config::get_or(std::string_view pointer, T fallback, value_range<T> range) const {
    std::error_code ec;
    std::string detail;
    const T value = get_or<T>(pointer, fallback, range, ec, &detail);
    if (ec) {
        raise(ec, detail);
    }
    return value;
}

template <config_value T>
T config::require(std::string_view pointer, std::error_code& ec, std::string* detail) const {
    return read_required<T>(pointer, nullptr, ec, detail);
}

template <config_value T>
T config::require(std::string_view pointer) const {
    std::error_code ec;
    std::string detail;
    T value = read_required<T>(pointer, nullptr, ec, &detail);
    if (ec) {
        raise(ec, detail);
    }
    return value;
}

template <config_number T>
T config::require(std::string_view pointer, value_range<T> range, std::error_code& ec,
                  std::string* detail) const {
    return read_required<T>(pointer, &range, ec, detail);
}

template <config_number T>
T config::require(std::string_view pointer, value_range<T> range) const {
    std::error_code ec;
    std::string detail;
    const T value = read_required<T>(pointer, &range, ec, &detail);
    if (ec) {
        raise(ec, detail);
    }
    return value;
}

}  // namespace imsp2p::core
