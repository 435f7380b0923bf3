#include <imsp2p/core/log.hpp>

#include <imsp2p/core/config.hpp>
#include <imsp2p/core/error.hpp>

#include <gtest/gtest.h>
#include <imsp2p_test/temporary_directory.hpp>

#include <stdlib.h>

#include <filesystem>
#include <fstream>
#include <string>
#include <thread>
#include <vector>

namespace {

using namespace std::chrono;
using namespace std::chrono_literals;
using imsp2p::core::errc;
using imsp2p::core::log_field;
using imsp2p::core::log_format;
using imsp2p::core::log_level;
using imsp2p::core::log_record;
using imsp2p::core::logger;
using nlohmann::json;

/** A test sink that keeps copies of the records it receives. */
class capture_sink final : public imsp2p::core::log_sink {
  public:
    struct entry {
        log_level level;
        std::string component;
        std::string message;
        std::vector<log_field> fields;
        std::string text;
        std::string json_line;
    };
    std::vector<entry> entries;

  private:
    void consume(const log_record& record) override {
        entries.push_back({record.level, std::string(record.component), std::string(record.message),
                           std::vector<log_field>(record.fields.begin(), record.fields.end()),
                           imsp2p::core::format_log_record(record, log_format::text),
                           imsp2p::core::format_log_record(record, log_format::json)});
    }
};

const system_clock::time_point sample_time =
    sys_days{2026y / November / 21} + 15h + 16min + 9s + 123ms;

log_record make_record(std::string_view message, std::span<const log_field> fields,
                       log_level level = log_level::info) {
    return log_record{sample_time, level, "tracker", message, fields};
}

std::vector<std::string> read_lines(const std::filesystem::path& path) {
    std::ifstream in(path);
    std::vector<std::string> lines;
    for (std::string line; std::getline(in, line);) {
        lines.push_back(line);
    }
    return lines;
}

// --- levels -------------------------------------------------------------------------------

TEST(Log, LevelNamesRoundTrip) {
    for (const log_level level :
         {log_level::trace, log_level::debug, log_level::info, log_level::warning, log_level::error,
          log_level::critical, log_level::off}) {
        EXPECT_EQ(imsp2p::core::parse_log_level(imsp2p::core::to_string(level)), level);
    }
    EXPECT_EQ(imsp2p::core::to_string(log_level::warning), "warning");
}

TEST(Log, ParseLevelAcceptsAliasesCaseInsensitively) {
    EXPECT_EQ(imsp2p::core::parse_log_level("WARN"), log_level::warning);
    EXPECT_EQ(imsp2p::core::parse_log_level("Debug"), log_level::debug);
    EXPECT_EQ(imsp2p::core::parse_log_level("err"), log_level::error);
    EXPECT_EQ(imsp2p::core::parse_log_level("fatal"), log_level::critical);
    EXPECT_EQ(imsp2p::core::parse_log_level("none"), log_level::off);
    std::error_code ec;
    EXPECT_EQ(imsp2p::core::parse_log_level("verbose", ec), log_level::info);
    EXPECT_EQ(ec, imsp2p::core::make_error_code(errc::invalid_argument));
    imsp2p::core::parse_log_level("", ec);
    EXPECT_EQ(ec, imsp2p::core::make_error_code(errc::invalid_argument));
    try {
        imsp2p::core::parse_log_level("loud");
        FAIL() << "expected an exception";
    } catch (const std::system_error& e) {
        EXPECT_NE(std::string(e.what()).find("\"loud\""), std::string::npos);
    }
}

// --- formatting ---------------------------------------------------------------------------------

TEST(Log, TimestampIsRfc3339UtcWithMilliseconds) {
    EXPECT_EQ(imsp2p::core::format_timestamp(sample_time), "2026-11-21T15:16:09.123Z");
    EXPECT_EQ(imsp2p::core::format_timestamp(system_clock::time_point{}),
              "1970-01-01T00:00:00.000Z");
    EXPECT_EQ(imsp2p::core::format_timestamp(system_clock::time_point{} - 1ms),
              "1969-12-31T23:59:59.999Z");
    // Sub-millisecond parts are truncated, never rounded up into the next second.
    EXPECT_EQ(imsp2p::core::format_timestamp(sys_days{2000y / January / 1} + 59s + 999999us),
              "2000-01-01T00:00:59.999Z");
}

TEST(Log, TextFormat) {
    const std::vector<log_field> fields{{"infohash", "ab12"}, {"peers", 12}};
    EXPECT_EQ(
        imsp2p::core::format_log_record(make_record("announce accepted", fields), log_format::text),
        "2026-11-21T15:16:09.123Z INFO tracker: announce accepted infohash=ab12 peers=12");
}

TEST(Log, TextFormatQuotesAndEscapes) {
    const std::vector<log_field> fields{{"user", "sip:alice@ims.example"},
                                        {"reason", "bad request"},
                                        {"empty", ""},
                                        {"eq", "a=b"},
                                        {"ok", true},
                                        {"none", nullptr},
                                        {"list", json::array({1, "x"})},
                                        {"my key", 1.5}};
    EXPECT_EQ(
        imsp2p::core::format_log_record(
            make_record("line one\nline two\t\x01", fields, log_level::warning), log_format::text),
        "2026-11-21T15:16:09.123Z WARNING tracker: line one\\nline two\\t\\x01 "
        "user=sip:alice@ims.example reason=\"bad request\" empty=\"\" eq=\"a=b\" ok=true "
        "none=null list=[1,\"x\"] \"my key\"=1.5");
}

TEST(Log, JsonFormat) {
    const std::vector<log_field> fields{{"infohash", "ab12"}, {"peers", 12}, {"message", "dup"}};
    const std::string line = imsp2p::core::format_log_record(
        make_record("announce \"accepted\"", fields, log_level::error), log_format::json);
    EXPECT_EQ(line.find('\n'), std::string::npos);
    EXPECT_EQ(line.rfind("{\"time\":\"2026-11-21T15:16:09.123Z\",\"level\":\"error\"", 0), 0U)
        << line;
    const json parsed = json::parse(line);
    EXPECT_EQ(parsed["component"], "tracker");
    EXPECT_EQ(parsed["message"], "announce \"accepted\"");
    EXPECT_EQ(parsed["infohash"], "ab12");
    EXPECT_EQ(parsed["peers"], 12);
    EXPECT_EQ(parsed["_message"], "dup");  // a colliding field key is renamed
}

TEST(Log, InvalidUtf8NeverThrowsAndStaysValidJson) {
    const std::string bad("\xff\xfe broken", 9);
    const std::vector<log_field> fields{{"value", bad}};
    const std::string line =
        imsp2p::core::format_log_record(make_record(bad, fields), log_format::json);
    const json parsed = json::parse(line);  // valid UTF-8 JSON
    EXPECT_NE(parsed["value"].get<std::string>().find("broken"), std::string::npos);
    EXPECT_NO_THROW(imsp2p::core::format_log_record(make_record(bad, fields), log_format::text));
}

// --- loggers and sinks --------------------------------------------------------------------------

TEST(Log, LoggerFiltersByLevelAndPassesFields) {
    auto sink = std::make_shared<capture_sink>();
    logger log("tracker", sink, log_level::info);
    log.debug("dropped");
    log.trace("dropped too");
    log.info("announce accepted", {{"infohash", "ab12"}, {"peers", 12}});
    log.warning("slow peer");
    log.error("failed", {{"code", 500}});
    log.critical("down");
    log.log(log_level::off, "never a record");
    ASSERT_EQ(sink->entries.size(), 4U);
    EXPECT_EQ(sink->entries[0].level, log_level::info);
    EXPECT_EQ(sink->entries[0].component, "tracker");
    EXPECT_EQ(sink->entries[0].message, "announce accepted");
    ASSERT_EQ(sink->entries[0].fields.size(), 2U);
    EXPECT_EQ(sink->entries[0].fields[1].key, "peers");
    EXPECT_EQ(sink->entries[0].fields[1].value, 12);
    EXPECT_EQ(sink->entries[3].level, log_level::critical);

    EXPECT_FALSE(log.enabled(log_level::debug));
    log.set_level(log_level::trace);
    EXPECT_TRUE(log.enabled(log_level::trace));
    log.trace("now kept");
    EXPECT_EQ(sink->entries.size(), 5U);
    log.set_level(log_level::off);
    EXPECT_FALSE(log.enabled(log_level::critical));
    log.critical("silenced");
    EXPECT_EQ(sink->entries.size(), 5U);

    std::vector<log_field> built{{"n", 1}};
    log.set_level(log_level::info);
    log.log(log_level::info, "vector fields", built);
    ASSERT_EQ(sink->entries.size(), 6U);
    EXPECT_EQ(sink->entries[5].text.substr(24), " INFO tracker: vector fields n=1");
}

TEST(Log, ChildLoggerSharesSinkAndLevel) {
    auto sink = std::make_shared<capture_sink>();
    const logger parent("tracker", sink, log_level::warning);
    const logger child = parent.child("tracker.udp");
    EXPECT_EQ(child.sink(), parent.sink());
    EXPECT_EQ(child.level(), log_level::warning);
    child.info("filtered");
    child.warning("kept");
    ASSERT_EQ(sink->entries.size(), 1U);
    EXPECT_EQ(sink->entries[0].component, "tracker.udp");
    const logger copy = child;
    EXPECT_EQ(copy.component(), "tracker.udp");
    EXPECT_EQ(copy.level(), log_level::warning);
}

TEST(Log, DefaultSinkIsSharedStderrSink) {
    const logger a("a");
    const logger b("b");
    EXPECT_EQ(a.sink(), imsp2p::core::default_log_sink());
    EXPECT_EQ(a.sink(), b.sink());
    EXPECT_EQ(a.level(), log_level::info);
}

TEST(Log, CallbackSinkAndThrowingCallbackIsContained) {
    std::vector<std::string> seen;
    auto sink = std::make_shared<imsp2p::core::callback_sink>(
        [&seen](const log_record& record) { seen.emplace_back(record.message); });
    logger log("host", sink);
    log.info("one");
    log.info("two");
    EXPECT_EQ(seen, (std::vector<std::string>{"one", "two"}));

    auto throwing = std::make_shared<imsp2p::core::callback_sink>(
        [](const log_record&) { throw std::runtime_error("host logger broke"); });
    const logger fragile("host", throwing);
    EXPECT_NO_THROW(fragile.error("still fine"));
}

TEST(Log, RedactedHidesSecrets) {
    auto sink = std::make_shared<capture_sink>();
    const logger log("as", sink);
    const std::string password = "hunter2-very-secret";
    log.info("login", {{"user", "alice"}, {"password", imsp2p::core::redacted(password)}});
    ASSERT_EQ(sink->entries.size(), 1U);
    EXPECT_EQ(sink->entries[0].text.find(password), std::string::npos);
    EXPECT_NE(sink->entries[0].text.find("password=[redacted]"), std::string::npos);
    EXPECT_EQ(sink->entries[0].json_line.find(password), std::string::npos);
}

TEST(Log, RedactSecretsInDocuments) {
    const json config = {
        {"sip", {{"listen", "0.0.0.0:5060"}, {"tls", {{"private_key_file", "/k.pem"}}}}},
        {"drm", {{"master_key", "/etc/master.key"}, {"Client-Secret", "s3"}}},
        {"keys", json::array({{{"kty", "OKP"}, {"d", "cHJpdg"}, {"x", "cHVi"}}})},
        {"tokens", json::array({"a", "b"})},
        {"interval", 900}};
    const json redacted = imsp2p::core::redact_secrets(config);
    EXPECT_EQ(redacted["sip"]["listen"], "0.0.0.0:5060");
    EXPECT_EQ(redacted["sip"]["tls"]["private_key_file"], "[redacted]");
    EXPECT_EQ(redacted["drm"]["master_key"], "[redacted]");
    EXPECT_EQ(redacted["drm"]["Client-Secret"], "[redacted]");
    EXPECT_EQ(redacted["keys"][0]["d"], "[redacted]");
    EXPECT_EQ(redacted["keys"][0]["x"], "cHVi");
    EXPECT_EQ(redacted["tokens"], "[redacted]");
    EXPECT_EQ(redacted["interval"], 900);
    EXPECT_EQ(config["drm"]["master_key"], "/etc/master.key");  // the input is untouched
}

class LogFileTest : public ::testing::Test {
  protected:
    void SetUp() override { dir_ = temporary_.path(); }
    imsp2p_test::temporary_directory temporary_{"imsp2p-log"};
    std::filesystem::path dir_;
};

TEST_F(LogFileTest, FileSinkAppendsAndReopensAfterRotation) {
    const auto path = dir_ / "tracker.log";
    { std::ofstream(path) << "existing line\n"; }
    auto sink = imsp2p::core::file_sink::open(path, log_format::json);
    EXPECT_EQ(sink->path(), path);
    const logger log("tracker", sink);
    log.info("before rotation", {{"n", 1}});

    std::filesystem::rename(path, dir_ / "tracker.log.1");  // what logrotate does
    log.info("still the old file", {{"n", 2}});
    sink->reopen();
    log.info("after rotation", {{"n", 3}});

    const auto rotated = read_lines(dir_ / "tracker.log.1");
    ASSERT_EQ(rotated.size(), 3U);
    EXPECT_EQ(rotated[0], "existing line");
    EXPECT_EQ(json::parse(rotated[1])["message"], "before rotation");
    EXPECT_EQ(json::parse(rotated[2])["n"], 2);
    const auto fresh = read_lines(path);
    ASSERT_EQ(fresh.size(), 1U);
    EXPECT_EQ(json::parse(fresh[0])["message"], "after rotation");
    EXPECT_EQ(std::filesystem::status(path).permissions() & std::filesystem::perms::others_read,
              std::filesystem::perms::none);
}

TEST_F(LogFileTest, FileSinkOpenFailure) {
    std::error_code ec;
    auto sink = imsp2p::core::file_sink::open(dir_ / "missing-dir" / "x.log", log_format::text, ec);
    EXPECT_EQ(ec, imsp2p::core::make_error_code(errc::io_error));
    EXPECT_EQ(sink, nullptr);
    try {
        imsp2p::core::file_sink::open(dir_ / "missing-dir" / "x.log");
        FAIL() << "expected an exception";
    } catch (const std::system_error& e) {
        EXPECT_NE(std::string(e.what()).find("missing-dir"), std::string::npos);
    }
}

TEST_F(LogFileTest, ConcurrentWritersNeverInterleaveRecords) {
    const auto path = dir_ / "concurrent.log";
    auto sink = imsp2p::core::file_sink::open(path, log_format::json);
    const logger log("load", sink, log_level::debug);
    constexpr int threads = 4;
    constexpr int records = 250;
    const std::string padding(300, 'p');  // long lines make torn writes visible
    std::vector<std::thread> workers;
    for (int t = 0; t < threads; ++t) {
        workers.emplace_back([&log, &padding, t] {
            for (int i = 0; i < records; ++i) {
                log.debug("record", {{"thread", t}, {"index", i}, {"padding", padding}});
            }
        });
    }
    for (auto& worker : workers) {
        worker.join();
    }
    const auto lines = read_lines(path);
    ASSERT_EQ(lines.size(), static_cast<std::size_t>(threads * records));
    std::vector<int> next(threads, 0);
    for (const auto& line : lines) {
        const json record = json::parse(line);  // throws (fails the test) on a torn line
        const int thread = record["thread"];
        EXPECT_EQ(record["index"], next[static_cast<std::size_t>(thread)]++);  // per-thread order
    }
}

}  // namespace

TEST(Log, ProgramLoggerReadsLevelAndFormatAndNamesBadSettings) {
    namespace core = imsp2p::core;
    const auto json_debug =
        core::config::parse(R"({"log": {"level": "debug", "format": "json"}})", "test.json");
    const core::logger log = core::program_logger(json_debug, "tracker");
    EXPECT_EQ(log.level(), core::log_level::debug);
    EXPECT_EQ(log.component(), "tracker");
    const auto* sink = dynamic_cast<const core::stderr_sink*>(log.sink().get());
    ASSERT_NE(sink, nullptr);

    // Defaults: text, and the program's default level.
    const core::logger quiet =
        core::program_logger(core::config::parse("{}"), "client", core::log_level::warning);
    EXPECT_EQ(quiet.level(), core::log_level::warning);

    for (const char* bad : {R"({"log": {"format": "xml"}})", R"({"log": {"level": "loud"}})"}) {
        try {
            core::program_logger(core::config::parse(bad, "bad.json"), "x");
            ADD_FAILURE() << bad << " accepted";
        } catch (const std::system_error& error) {
            EXPECT_EQ(error.code(), core::errc::config_bad_value) << bad;
            EXPECT_NE(std::string(error.what()).find("bad.json: /log/"), std::string::npos)
                << error.what();
        }
    }
}
