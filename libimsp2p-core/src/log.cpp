#include <imsp2p/core/log.hpp>

#include <imsp2p/core/config.hpp>
#include <imsp2p/core/error.hpp>

#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <ctime>

namespace imsp2p::core {

namespace {

char ascii_lower(char c) noexcept {
    return (c >= 'A' && c <= 'Z') ? static_cast<char>(c - 'A' + 'a') : c;
}

bool equals_ignoring_case(std::string_view a, std::string_view b) noexcept {
    return a.size() == b.size() && std::equal(a.begin(), a.end(), b.begin(), [](char x, char y) {
               return ascii_lower(x) == ascii_lower(y);
           });
}

std::string_view upper_name(log_level level) noexcept {
    switch (level) {
        case log_level::trace:
            return "TRACE";
        case log_level::debug:
            return "DEBUG";
        case log_level::info:
            return "INFO";
        case log_level::warning:
            return "WARNING";
        case log_level::error:
            return "ERROR";
        case log_level::critical:
            return "CRITICAL";
        case log_level::off:
            return "OFF";
    }
    return "UNKNOWN";
}

std::string json_text(const nlohmann::json& value) {
    return value.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
}

/** True if a string can be written bare in the text format (printable ASCII, no separators). */
bool is_bare(std::string_view text) noexcept {
    if (text.empty()) {
        return false;
    }
    return std::all_of(text.begin(), text.end(), [](char c) {
        return c > ' ' && c < 0x7f && c != '"' && c != '=' && c != '\\';
    });
}

/** Appends text with control characters escaped, so that a record stays on one line. */
void append_escaped(std::string& out, std::string_view text) {
    static constexpr char hex[] = "0123456789abcdef";
    for (const char c : text) {
        const auto byte = static_cast<unsigned char>(c);
        if (c == '\n') {
            out += "\\n";
        } else if (c == '\r') {
            out += "\\r";
        } else if (c == '\t') {
            out += "\\t";
        } else if (byte < 0x20 || byte == 0x7f) {
            out += "\\x";
            out += hex[byte >> 4];
            out += hex[byte & 0xf];
        } else {
            out += c;
        }
    }
}

void append_text_value(std::string& out, const nlohmann::json& value) {
    if (value.is_string() && is_bare(value.get_ref<const std::string&>())) {
        out += value.get_ref<const std::string&>();
    } else {
        out += json_text(value);
    }
}

bool write_all(int descriptor, std::string_view data) noexcept {
    while (!data.empty()) {
        const ssize_t written = ::write(descriptor, data.data(), data.size());
        if (written < 0) {
            if (errno == EINTR) {
                continue;
            }
            return false;
        }
        data.remove_prefix(static_cast<std::size_t>(written));
    }
    return true;
}

int open_log_file(const std::filesystem::path& path) noexcept {
    int descriptor = -1;
    do {
        descriptor = ::open(path.c_str(), O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0640);
    } while (descriptor < 0 && errno == EINTR);
    return descriptor;
}

constexpr std::array<std::string_view, 8> secret_fragments{
    "password", "secret", "private", "token", "credential", "passphrase", "master_key", "apikey"};
constexpr std::array<std::string_view, 6> secret_names{"key", "k", "d", "cek", "opc", "op"};

bool is_secret_key(std::string_view key) {
    std::string lower(key);
    std::transform(lower.begin(), lower.end(), lower.begin(), ascii_lower);
    for (const auto fragment : secret_fragments) {
        if (lower.find(fragment) != std::string::npos) {
            return true;
        }
    }
    return std::find(secret_names.begin(), secret_names.end(), lower) != secret_names.end();
}

}  // namespace

// --- levels -------------------------------------------------------------------------------

std::string_view to_string(log_level level) noexcept {
    switch (level) {
        case log_level::trace:
            return "trace";
        case log_level::debug:
            return "debug";
        case log_level::info:
            return "info";
        case log_level::warning:
            return "warning";
        case log_level::error:
            return "error";
        case log_level::critical:
            return "critical";
        case log_level::off:
            return "off";
    }
    return "unknown";
}

log_level parse_log_level(std::string_view text, std::error_code& ec) noexcept {
    ec.clear();
    static constexpr std::pair<std::string_view, log_level> names[] = {
        {"trace", log_level::trace},    {"debug", log_level::debug},
        {"info", log_level::info},      {"warning", log_level::warning},
        {"warn", log_level::warning},   {"error", log_level::error},
        {"err", log_level::error},      {"critical", log_level::critical},
        {"fatal", log_level::critical}, {"off", log_level::off},
        {"none", log_level::off},
    };
    for (const auto& [name, level] : names) {
        if (equals_ignoring_case(text, name)) {
            return level;
        }
    }
    ec = errc::invalid_argument;
    return log_level::info;
}

log_level parse_log_level(std::string_view text) {
    std::error_code ec;
    const log_level level = parse_log_level(text, ec);
    if (ec) {
        throw_error(ec, "unknown log level \"" + std::string(text) +
                            "\" (expected trace, debug, info, warning, error, critical or off)");
    }
    return level;
}

// --- redaction ------------------------------------------------------------------------------

nlohmann::json redact_secrets(const nlohmann::json& document) {
    if (document.is_object()) {
        nlohmann::json copy = nlohmann::json::object();
        for (const auto& [key, value] : document.items()) {
            copy[key] = is_secret_key(key) ? nlohmann::json(std::string(redacted_text))
                                           : redact_secrets(value);
        }
        return copy;
    }
    if (document.is_array()) {
        nlohmann::json copy = nlohmann::json::array();
        for (const auto& value : document) {
            copy.push_back(redact_secrets(value));
        }
        return copy;
    }
    return document;
}

// --- formatting -----------------------------------------------------------------------------

std::string format_timestamp(std::chrono::system_clock::time_point time) {
    const auto since_epoch = std::chrono::floor<std::chrono::milliseconds>(time.time_since_epoch());
    const auto seconds = std::chrono::floor<std::chrono::seconds>(since_epoch);
    const auto milliseconds = (since_epoch - seconds).count();
    const std::time_t whole = static_cast<std::time_t>(seconds.count());
    std::tm utc{};
    if (::gmtime_r(&whole, &utc) == nullptr) {
        return "0000-00-00T00:00:00.000Z";
    }
    char buffer[64];
    const int length = std::snprintf(buffer, sizeof buffer, "%04d-%02d-%02dT%02d:%02d:%02d.%03dZ",
                                     utc.tm_year + 1900, utc.tm_mon + 1, utc.tm_mday, utc.tm_hour,
                                     utc.tm_min, utc.tm_sec, static_cast<int>(milliseconds));
    return std::string(buffer, static_cast<std::size_t>(std::max(length, 0)));
}

std::string format_log_record(const log_record& record, log_format format) {
    std::string line;
    line.reserve(128);
    if (format == log_format::text) {
        line += format_timestamp(record.time);
        line += ' ';
        line += upper_name(record.level);
        line += ' ';
        append_escaped(line, record.component);
        line += ": ";
        append_escaped(line, record.message);
        for (const log_field& field : record.fields) {
            line += ' ';
            if (is_bare(field.key)) {
                line += field.key;
            } else {
                line += json_text(field.key);
            }
            line += '=';
            append_text_value(line, field.value);
        }
        return line;
    }
    line += "{\"time\":";
    line += json_text(format_timestamp(record.time));
    line += ",\"level\":";
    line += json_text(std::string(to_string(record.level)));
    line += ",\"component\":";
    line += json_text(std::string(record.component));
    line += ",\"message\":";
    line += json_text(std::string(record.message));
    for (const log_field& field : record.fields) {
        const bool reserved = field.key == "time" || field.key == "level" ||
                              field.key == "component" || field.key == "message";
        line += ',';
        line += json_text(reserved ? "_" + field.key : field.key);
        line += ':';
        line += json_text(field.value);
    }
    line += '}';
    return line;
}

// --- sinks ------------------------------------------------------------------------------------

log_sink::~log_sink() = default;

void log_sink::write(const log_record& record) noexcept {
    try {
        const std::lock_guard lock(mutex_);
        consume(record);
    } catch (...) {  // logging never takes the program down
    }
}

void log_sink::flush() noexcept {
    try {
        const std::lock_guard lock(mutex_);
        do_flush();
    } catch (...) {
    }
}

stderr_sink::stderr_sink(log_format format) noexcept : format_(format) {}

void stderr_sink::consume(const log_record& record) {
    std::string line = format_log_record(record, format_);
    line += '\n';
    write_all(STDERR_FILENO, line);
}

file_sink::file_sink(std::filesystem::path path, log_format format, int descriptor) noexcept
    : path_(std::move(path)), format_(format), descriptor_(descriptor) {}

file_sink::~file_sink() {
    if (descriptor_ >= 0) {
        ::close(descriptor_);
    }
}

std::shared_ptr<file_sink> file_sink::open(const std::filesystem::path& path, log_format format,
                                           std::error_code& ec) {
    ec.clear();
    const int descriptor = open_log_file(path);
    if (descriptor < 0) {
        ec = errc::io_error;
        return nullptr;
    }
    try {
        return std::shared_ptr<file_sink>(new file_sink(path, format, descriptor));
    } catch (...) {
        ::close(descriptor);
        throw;
    }
}

std::shared_ptr<file_sink> file_sink::open(const std::filesystem::path& path, log_format format) {
    const int descriptor = open_log_file(path);
    if (descriptor < 0) {
        throw_error(errc::io_error, path.string() + ": " + std::strerror(errno));
    }
    try {
        return std::shared_ptr<file_sink>(new file_sink(path, format, descriptor));
    } catch (...) {
        ::close(descriptor);
        throw;
    }
}

void file_sink::reopen(std::error_code& ec) noexcept {
    ec.clear();
    const int descriptor = open_log_file(path_);
    if (descriptor < 0) {
        ec = errc::io_error;
        return;
    }
    int previous = -1;
    try {
        const std::lock_guard lock(mutex_);
        previous = descriptor_;
        descriptor_ = descriptor;
    } catch (...) {
        ::close(descriptor);
        ec = errc::io_error;
        return;
    }
    if (previous >= 0) {
        ::close(previous);
    }
}

void file_sink::reopen() {
    std::error_code ec;
    reopen(ec);
    if (ec) {
        throw_error(ec, path_.string() + ": " + std::strerror(errno));
    }
}

void file_sink::consume(const log_record& record) {
    std::string line = format_log_record(record, format_);
    line += '\n';
    write_all(descriptor_, line);
}

callback_sink::callback_sink(callback function) : function_(std::move(function)) {}

void callback_sink::consume(const log_record& record) {
    if (function_) {
        function_(record);
    }
}

std::shared_ptr<log_sink> default_log_sink() {
    static const std::shared_ptr<log_sink> sink = std::make_shared<stderr_sink>();
    return sink;
}

// --- logger -----------------------------------------------------------------------------------

logger::logger(std::string component, std::shared_ptr<log_sink> sink, log_level level)
    : component_(std::move(component)),
      sink_(sink ? std::move(sink) : default_log_sink()),
      level_(level) {}

logger::logger(const logger& other)
    : component_(other.component_), sink_(other.sink_), level_(other.level()) {}

logger& logger::operator=(const logger& other) {
    if (this != &other) {
        component_ = other.component_;
        sink_ = other.sink_;
        level_.store(other.level(), std::memory_order_relaxed);
    }
    return *this;
}

logger::~logger() = default;

logger logger::child(std::string component) const {
    return logger(std::move(component), sink_, level());
}

void logger::write(log_level level, std::string_view message,
                   std::span<const log_field> fields) const noexcept {
    const log_record record{std::chrono::system_clock::now(), level, component_, message, fields};
    sink_->write(record);
}

logger program_logger(const config& config, std::string name, log_level default_level) {
    const std::string format = config.get_or<std::string>("/log/format", "text");
    if (format != "text" && format != "json") {
        throw std::system_error(errc::config_bad_value, config.source_name() +
                                                            ": /log/format: expected text or "
                                                            "json, not \"" +
                                                            format + "\"");
    }
    log_level level = default_level;
    if (const auto text = config.get<std::string>("/log/level")) {
        std::error_code ec;
        level = parse_log_level(*text, ec);
        if (ec) {
            throw std::system_error(errc::config_bad_value,
                                    config.source_name() +
                                        ": /log/level: expected trace, debug, info, warning, "
                                        "error or off, not \"" +
                                        *text + "\"");
        }
    }
    return logger(
        std::move(name),
        std::make_shared<stderr_sink>(format == "json" ? log_format::json : log_format::text),
        level);
}

}  // namespace imsp2p::core
