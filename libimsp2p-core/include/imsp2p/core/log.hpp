/**
 * @file
 * Structured logging for servers: records with a UTC timestamp, a level, a component, a message
 * and key/value fields, written as text lines or JSON lines to stderr, a file, or a sink that
 * the host application supplies.
 *
 * Thread safety: a `logger` may be used from any number of threads at once (its level is an
 * atomic; its sink is shared). Every `log_sink` serialises its own writes with a mutex held for
 * one record, so records are never interleaved. Formatting happens only when the level passes
 * the filter.
 *
 * Never log secrets: wrap such values in redacted(), and pass configuration documents through
 * redact_secrets() before logging them.
 */
#pragma once

#include <imsp2p/core/error.hpp>
#include <imsp2p/core/export.hpp>

#include <nlohmann/json.hpp>

#include <atomic>
#include <chrono>
#include <cstdint>
#include <filesystem>
#include <functional>
#include <initializer_list>
#include <memory>
#include <mutex>
#include <span>
#include <string>
#include <string_view>
#include <system_error>
#include <vector>

namespace imsp2p::core {

/** Severity of a log record, in increasing order; `off` as a filter level disables logging. */
enum class log_level {
    trace,     ///< Very detailed diagnostics (per packet, per message).
    debug,     ///< Diagnostics useful when investigating a problem.
    info,      ///< Normal operation worth recording (start-up, accepted requests).
    warning,   ///< Something unexpected that the program handled.
    error,     ///< An operation failed.
    critical,  ///< The program cannot continue or a security-relevant failure occurred.
    off,       ///< Used as a filter: log nothing. Never the level of a record.
};

/**
 * @param level a level
 * @return its lower-case name: "trace", "debug", "info", "warning", "error", "critical", "off"
 */
IMSP2P_CORE_EXPORT std::string_view to_string(log_level level) noexcept;

/**
 * Parses a level name, case-insensitively; accepts the names of to_string() and the aliases
 * "warn", "err", "fatal" (critical) and "none" (off).
 * @param text the name
 * @param ec set to errc::invalid_argument for any other text
 * @return the level, log_level::info on error
 */
IMSP2P_CORE_EXPORT log_level parse_log_level(std::string_view text, std::error_code& ec) noexcept;
/** Throwing form of parse_log_level(). @throws std::system_error naming the text */
IMSP2P_CORE_EXPORT log_level parse_log_level(std::string_view text);

/** One key/value pair attached to a log record. */
struct log_field {
    /** The key, e.g. "infohash"; should be a short identifier without spaces or "=". */
    std::string key;
    /** The value; strings, numbers, booleans, null, arrays and objects are all allowed. */
    nlohmann::json value;
};

/** The text that redacted() puts in place of a secret. */
inline constexpr std::string_view redacted_text = "[redacted]";

/**
 * Stands in for a secret value in a log field: `{"password", redacted(password)}`. The value is
 * never read, so nothing about it (not even its length) reaches the log.
 * @return the JSON string "[redacted]"
 */
template <class T>
nlohmann::json redacted(const T& /*secret*/) {
    return std::string(redacted_text);
}

/**
 * Returns a copy of a JSON document with the values of secret-looking members replaced by
 * "[redacted]", at any depth: members whose key, compared case-insensitively, contains
 * "password", "secret", "private", "token", "credential", "passphrase", "master_key" or
 * equals "key", "k", "d" (JWK private parts), "cek", "opc", "op".
 * Use it before logging a configuration or a request body.
 * @param document any JSON value
 * @return the redacted copy
 */
IMSP2P_CORE_EXPORT nlohmann::json redact_secrets(const nlohmann::json& document);

/**
 * A log record as handed to a sink. The views point into the logging call's arguments and are
 * valid only during log_sink::write(); copy what must be kept.
 */
struct log_record {
    /** When the record was made (system clock). */
    std::chrono::system_clock::time_point time;
    /** The record's level (never log_level::off). */
    log_level level = log_level::info;
    /** The component name of the logger, e.g. "tracker". */
    std::string_view component;
    /** The human-readable message. */
    std::string_view message;
    /** The key/value fields, in the order given. */
    std::span<const log_field> fields;
};

/** Output format of the built-in sinks. */
enum class log_format {
    /**
     * One line per record: `2026-11-21T15:16:09.123Z INFO tracker: announce accepted
     * infohash=ab12.. peers=12`. String values without spaces, quotes, "=" or control
     * characters are written bare, other values as JSON; control characters in the message are
     * escaped so a record is always one line.
     */
    text,
    /**
     * One JSON object per line: {"time":"...","level":"info","component":"tracker",
     * "message":"...", fields...}. A field whose key collides with one of those four names is
     * written with a leading underscore. Invalid UTF-8 is replaced by U+FFFD.
     */
    json,
};

/**
 * Formats a record as one line, without the trailing newline.
 * @param record the record
 * @param format text or JSON
 * @return the line
 */
IMSP2P_CORE_EXPORT std::string format_log_record(const log_record& record, log_format format);

/**
 * Formats a time point as RFC 3339 UTC with milliseconds, e.g. "2026-11-21T15:16:09.123Z".
 * @param time the time
 * @return the text
 */
IMSP2P_CORE_EXPORT std::string format_timestamp(std::chrono::system_clock::time_point time);

/**
 * Where log records go. Implement consume() to embed imsp2p's logs in a host's logging.
 *
 * write() holds the sink's mutex while it calls consume(), so consume() never runs twice at
 * once for one sink and needs no locking of its own. consume() must not throw (exceptions are
 * swallowed) and must not log through a logger that uses this same sink (deadlock).
 */
class IMSP2P_CORE_EXPORT log_sink {
  public:
    /** Destroys the sink. */
    virtual ~log_sink();
    /**
     * Writes one record (serialised with other writes to this sink).
     * @param record the record; its views are valid during the call only
     */
    void write(const log_record& record) noexcept;
    /** Flushes buffered output, if the sink buffers (serialised with writes). */
    void flush() noexcept;

  protected:
    /** Constructs the sink. */
    log_sink() = default;
    /**
     * Handles one record; called with the sink's mutex held.
     * @param record the record; its views are valid during the call only
     */
    virtual void consume(const log_record& record) = 0;
    /** Flushes; called with the sink's mutex held. The default does nothing. */
    virtual void do_flush() {}
    /** The mutex held around consume() and do_flush(); derived sinks may lock it elsewhere. */
    std::mutex mutex_;
};

/** Writes formatted lines to standard error, one write(2) per record. */
class IMSP2P_CORE_EXPORT stderr_sink final : public log_sink {
  public:
    /**
     * Creates the sink.
     * @param format text or JSON lines
     */
    explicit stderr_sink(log_format format = log_format::text) noexcept;

  private:
    void consume(const log_record& record) override;
    log_format format_;
};

/**
 * Appends formatted lines to a file, one write(2) per record (O_APPEND, so several processes
 * may share the file). reopen() closes and reopens the path, for logrotate: call it from a
 * normal thread after the SIGHUP handler has set a flag (it is not async-signal-safe).
 * New files are created with mode 0640.
 */
class IMSP2P_CORE_EXPORT file_sink final : public log_sink {
  public:
    /** Closes the file. */
    ~file_sink() override;
    file_sink(const file_sink&) = delete;
    file_sink& operator=(const file_sink&) = delete;

    /**
     * Opens (creating if needed) a log file for appending.
     * @param path the file
     * @param format text or JSON lines
     * @param ec errc::io_error if the file cannot be opened (the result is then null)
     * @return the sink, shared so that several loggers can use it
     */
    static std::shared_ptr<file_sink> open(const std::filesystem::path& path, log_format format,
                                           std::error_code& ec);
    /** Throwing form of open(). @throws std::system_error naming the path and the reason */
    static std::shared_ptr<file_sink> open(const std::filesystem::path& path,
                                           log_format format = log_format::text);

    /**
     * Closes and reopens the file (e.g. after logrotate renamed it). On failure the old file
     * stays in use.
     * @param ec errc::io_error on failure
     */
    void reopen(std::error_code& ec) noexcept;
    /** Throwing form of reopen(). @throws std::system_error */
    void reopen();
    /** @return the path given to open(). */
    [[nodiscard]] const std::filesystem::path& path() const noexcept { return path_; }

  private:
    file_sink(std::filesystem::path path, log_format format, int descriptor) noexcept;
    void consume(const log_record& record) override;
    std::filesystem::path path_;
    log_format format_;
    int descriptor_;
};

/**
 * Hands each record to a function (e.g. a bridge to syslog, journald or the host's logger).
 */
class IMSP2P_CORE_EXPORT callback_sink final : public log_sink {
  public:
    /** The function type; it runs with the sink's mutex held. */
    using callback = std::function<void(const log_record&)>;
    /**
     * Creates the sink.
     * @param function called once per record; must not throw
     */
    explicit callback_sink(callback function);

  private:
    void consume(const log_record& record) override;
    callback function_;
};

/**
 * @return the process-wide stderr sink (text format) that loggers use by default; it lives
 * until the end of the program.
 */
IMSP2P_CORE_EXPORT std::shared_ptr<log_sink> default_log_sink();

/**
 * A named source of log records, e.g. `logger log("tracker"); log.info("announce accepted",
 * {{"infohash", hex}, {"peers", 12}});`.
 *
 * Copyable (copies share the sink; each copy has its own level). Safe to use from several
 * threads at once; set_level() may race with logging calls harmlessly.
 */
class IMSP2P_CORE_EXPORT logger {
  public:
    /**
     * Creates a logger.
     * @param component the component name shown in every record
     * @param sink where records go; null means the default_log_sink()
     * @param level the minimum level written
     */
    explicit logger(std::string component = "imsp2p", std::shared_ptr<log_sink> sink = nullptr,
                    log_level level = log_level::info);
    /** Copies the component, sink and current level. @param other the logger to copy */
    logger(const logger& other);
    /** Copies the component, sink and current level. @param other the logger to copy */
    logger& operator=(const logger& other);
    /** Destroys the logger (the sink lives on while shared). */
    ~logger();

    /**
     * @param component the child's component name (e.g. "tracker.udp")
     * @return a logger with the same sink and level and another component name
     */
    [[nodiscard]] logger child(std::string component) const;

    /** @return the component name. */
    [[nodiscard]] const std::string& component() const noexcept { return component_; }
    /** @return the sink. */
    [[nodiscard]] const std::shared_ptr<log_sink>& sink() const noexcept { return sink_; }
    /** @return the minimum level written. */
    [[nodiscard]] log_level level() const noexcept {
        return level_.load(std::memory_order_relaxed);
    }
    /** Sets the minimum level written. @param level the new level (off silences the logger) */
    void set_level(log_level level) noexcept { level_.store(level, std::memory_order_relaxed); }
    /**
     * @param level a record level
     * @return true if records of this level are written (check it before building costly fields)
     */
    [[nodiscard]] bool enabled(log_level level) const noexcept {
        return level != log_level::off && level >= this->level();
    }

    /**
     * Writes a record if its level is enabled. Never throws.
     * @param level the record's level (off is ignored)
     * @param message the message
     * @param fields key/value fields
     */
    void log(log_level level, std::string_view message,
             std::initializer_list<log_field> fields = {}) const noexcept {
        if (enabled(level)) {
            write(level, message, std::span<const log_field>(fields.begin(), fields.size()));
        }
    }
    /** Like log(log_level, std::string_view, std::initializer_list<log_field>) with a vector. */
    void log(log_level level, std::string_view message,
             const std::vector<log_field>& fields) const noexcept {
        if (enabled(level)) {
            write(level, message, fields);
        }
    }
    /** Writes a trace record. @param message the message @param fields key/value fields */
    void trace(std::string_view message,
               std::initializer_list<log_field> fields = {}) const noexcept {
        log(log_level::trace, message, fields);
    }
    /** Writes a debug record. @param message the message @param fields key/value fields */
    void debug(std::string_view message,
               std::initializer_list<log_field> fields = {}) const noexcept {
        log(log_level::debug, message, fields);
    }
    /** Writes an info record. @param message the message @param fields key/value fields */
    void info(std::string_view message,
              std::initializer_list<log_field> fields = {}) const noexcept {
        log(log_level::info, message, fields);
    }
    /** Writes a warning record. @param message the message @param fields key/value fields */
    void warning(std::string_view message,
                 std::initializer_list<log_field> fields = {}) const noexcept {
        log(log_level::warning, message, fields);
    }
    /** Writes an error record. @param message the message @param fields key/value fields */
    void error(std::string_view message,
               std::initializer_list<log_field> fields = {}) const noexcept {
        log(log_level::error, message, fields);
    }
    /** Writes a critical record. @param message the message @param fields key/value fields */
    void critical(std::string_view message,
                  std::initializer_list<log_field> fields = {}) const noexcept {
        log(log_level::critical, message, fields);
    }

  private:
    void write(log_level level, std::string_view message,
               std::span<const log_field> fields) const noexcept;
    std::string component_;
    std::shared_ptr<log_sink> sink_;
    std::atomic<log_level> level_;
};

class config;

/**
 * The standard-error logger of a program, made from its configuration: `/log/format` ("text",
 * the default, or "json": one JSON object per line) and `/log/level` (trace, debug, info,
 * warning, error or off).
 * @param config the program's configuration
 * @param name the logger's component name, e.g. "tracker"
 * @param default_level the level when `/log/level` is absent
 * @return the logger, writing through a new stderr_sink (the sink lives as long as the logger
 *         or any child of it)
 * @throws std::system_error errc::config_bad_value naming the setting and the configuration
 *         for an unknown format or level
 */
IMSP2P_CORE_EXPORT logger program_logger(const config& config, std::string name,
                                         log_level default_level = log_level::info);

}  // namespace imsp2p::core
