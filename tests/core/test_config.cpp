#include <imsp2p/core/config.hpp>

#include <imsp2p/core/error.hpp>

#include <gtest/gtest.h>
#include <imsp2p_test/temporary_directory.hpp>

#include <stdlib.h>

#include <filesystem>
#include <fstream>
#include <string>
#include <system_error>
#include <vector>

namespace {

using namespace std::chrono_literals;
using imsp2p::core::config;
using imsp2p::core::errc;
using nlohmann::json;

std::error_code code(errc e) {
    return imsp2p::core::make_error_code(e);
}

bool contains(const std::string& haystack, const std::string& needle) {
    return haystack.find(needle) != std::string::npos;
}

const char* const tracker_config = R"({
  // comments are allowed
  "sip": {"listen": "0.0.0.0:5060", "transports": ["udp", "tcp"]},
  "tracker": {"interval": 900, "min_interval": 1e2, "ratio": 0.75, "private": true,
              "port": 6969, "timeout": "1h30m", "grace": 45, "muted": null},
  "data": {"directory": "state", "absolute": "/var/lib/imsp2p/x.db", "empty": ""},
  /* arbitrary JSON is fine too */
  "extra": {"a": [1, 2, 3]}
})";

config sample() {
    return config::parse(tracker_config, "tracker.json");
}

// --- parsing ----------------------------------------------------------------------------------

TEST(Config, ParsesJsonWithComments) {
    const config cfg = sample();
    EXPECT_EQ(cfg.source_name(), "tracker.json");
    EXPECT_TRUE(cfg.document().is_object());
    EXPECT_TRUE(cfg.contains("/sip/listen"));
    EXPECT_FALSE(cfg.contains("/sip/absent"));
    EXPECT_FALSE(cfg.contains("/tracker/muted"));  // null counts as not set
    EXPECT_FALSE(cfg.contains("no-leading-slash"));
    EXPECT_TRUE(cfg.base_directory().empty());
}

TEST(Config, MalformedTextReportsLineAndColumn) {
    std::error_code ec;
    std::string detail;
    const config cfg = config::parse("{\n  \"a\": 1,\n  \"b\": ?\n}", "broken.json", ec, &detail);
    EXPECT_EQ(ec, code(errc::config_malformed));
    EXPECT_TRUE(contains(detail, "broken.json:3:8: ")) << detail;
    EXPECT_TRUE(contains(detail, "syntax error")) << detail;
    EXPECT_TRUE(cfg.document().empty());

    try {
        config::parse("{\"a\": }", "inline");
        FAIL() << "expected an exception";
    } catch (const std::system_error& e) {
        EXPECT_EQ(e.code(), code(errc::config_malformed));
        EXPECT_TRUE(contains(e.what(), "inline:1:")) << e.what();
    }
}

TEST(Config, RejectsDuplicateKeysNonObjectsAndDeepNesting) {
    std::error_code ec;
    std::string detail;
    config::parse(R"({"tracker": {"interval": 60, "interval": 90}})", "dup.json", ec, &detail);
    EXPECT_EQ(ec, code(errc::config_malformed));
    EXPECT_TRUE(contains(detail, "duplicate key \"interval\"")) << detail;

    config::parse(R"({"a": {"x": 1}, "b": {"x": 2}})", "same-key-elsewhere.json", ec);
    EXPECT_FALSE(ec);

    config::parse("[1, 2]", "array.json", ec, &detail);
    EXPECT_EQ(ec, code(errc::config_malformed));
    EXPECT_TRUE(contains(detail, "top level must be a JSON object")) << detail;

    std::string deep = "{\"a\":";
    for (int i = 0; i < 200; ++i) {
        deep += "[";
    }
    for (int i = 0; i < 200; ++i) {
        deep += "]";
    }
    deep += "}";
    config::parse(deep, "deep.json", ec, &detail);
    EXPECT_EQ(ec, code(errc::config_malformed));
    EXPECT_TRUE(contains(detail, "nested deeper")) << detail;

    config::from_json(json::array(), "x", ec);
    EXPECT_EQ(ec, code(errc::config_malformed));
    const config wrapped = config::from_json(json{{"k", 1}}, "<built-in>");
    EXPECT_EQ(wrapped.require<int>("/k"), 1);
}

class ConfigFileTest : public ::testing::Test {
  protected:
    void SetUp() override { dir_ = temporary_.path(); }
    imsp2p_test::temporary_directory temporary_{"imsp2p-config"};
    std::filesystem::path write(const char* name, const std::string& text) {
        const auto path = dir_ / name;
        std::ofstream(path, std::ios::binary) << text;
        return path;
    }
    std::filesystem::path dir_;
};

TEST_F(ConfigFileTest, LoadsFileAndResolvesPathsAgainstItsFolder) {
    const auto path = write("tracker.json", tracker_config);
    const config cfg = config::load_file(path);
    EXPECT_EQ(cfg.source_name(), path.string());
    EXPECT_EQ(cfg.base_directory(), dir_);
    EXPECT_EQ(cfg.path_or("/data/directory", "unused"), dir_ / "state");
    EXPECT_EQ(cfg.path_or("/data/absolute", "unused"), "/var/lib/imsp2p/x.db");
    EXPECT_EQ(cfg.path_or("/data/absent", "keys/master.key"), dir_ / "keys/master.key");
    EXPECT_EQ(cfg.require_path("/data/directory"), dir_ / "state");

    std::error_code ec;
    std::string detail;
    cfg.require_path("/data/empty", ec, &detail);
    EXPECT_EQ(ec, code(errc::config_bad_value));
    EXPECT_TRUE(contains(detail, path.string() + ": /data/empty: ")) << detail;
    cfg.require_path("/data/none", ec);
    EXPECT_EQ(ec, code(errc::config_missing_value));
    cfg.path_or("/tracker/interval", "x", ec);
    EXPECT_EQ(ec, code(errc::config_bad_value));
}

TEST_F(ConfigFileTest, MissingOrDirectoryOrMalformedFile) {
    std::error_code ec;
    std::string detail;
    config::load_file(dir_ / "absent.json", ec, &detail);
    EXPECT_EQ(ec, code(errc::config_unreadable));
    EXPECT_TRUE(contains(detail, "absent.json: No such file or directory")) << detail;

    config::load_file(dir_, ec, &detail);
    EXPECT_EQ(ec, code(errc::config_unreadable));
    EXPECT_TRUE(contains(detail, "is a directory")) << detail;

    const auto broken = write("broken.json", "{\n\"a\": [1, 2,]\n}");
    config::load_file(broken, ec, &detail);
    EXPECT_EQ(ec, code(errc::config_malformed));
    EXPECT_TRUE(contains(detail, broken.string() + ":2:")) << detail;

    EXPECT_THROW(config::load_file(dir_ / "absent.json"), std::system_error);
}

TEST(Config, ParsedTextResolvesPathsAgainstTheWorkingDirectoryUnlessTold) {
    config cfg = config::parse(R"({"db": "state.db"})", "env");
    EXPECT_EQ(cfg.path_or("/db", ""), "state.db");
    cfg.set_base_directory("/srv/imsp2p");
    EXPECT_EQ(cfg.path_or("/db", ""), "/srv/imsp2p/state.db");
    EXPECT_EQ(cfg.resolve_path(""), "");
}

// --- typed getters -------------------------------------------------------------------------

TEST(Config, TypedGetters) {
    const config cfg = sample();
    EXPECT_EQ(cfg.require<std::string>("/sip/listen"), "0.0.0.0:5060");
    EXPECT_EQ(cfg.require<std::vector<std::string>>("/sip/transports"),
              (std::vector<std::string>{"udp", "tcp"}));
    EXPECT_EQ(cfg.require<int>("/tracker/interval"), 900);
    EXPECT_EQ(cfg.require<std::uint32_t>("/tracker/min_interval"), 100U);  // 1e2 is integral
    EXPECT_DOUBLE_EQ(cfg.require<double>("/tracker/ratio"), 0.75);
    EXPECT_DOUBLE_EQ(cfg.require<double>("/tracker/interval"), 900.0);
    EXPECT_TRUE(cfg.require<bool>("/tracker/private"));
    EXPECT_EQ(cfg.require<json>("/extra/a"), json({1, 2, 3}));
    EXPECT_EQ(cfg.require<int>("/extra/a/1"), 2);

    EXPECT_EQ(cfg.get<int>("/tracker/absent"), std::nullopt);
    EXPECT_EQ(cfg.get<int>("/tracker/muted"), std::nullopt);
    EXPECT_EQ(cfg.get<std::string>("/sip/listen"), "0.0.0.0:5060");
    EXPECT_EQ(cfg.get_or<int>("/tracker/absent", 1800), 1800);
    EXPECT_EQ(cfg.get_or<int>("/tracker/interval", 1800), 900);
    EXPECT_EQ(cfg.get_or<std::string>("/sip/domain", "ims.example"), "ims.example");
}

TEST(Config, WrongTypesAreErrorsNamingSourceAndPointer) {
    const config cfg = sample();
    std::error_code ec;
    std::string detail;
    EXPECT_EQ(cfg.get<std::string>("/tracker/interval", ec, &detail), std::nullopt);
    EXPECT_EQ(ec, code(errc::config_bad_value));
    EXPECT_EQ(detail, "tracker.json: /tracker/interval: expected a string, found number 900");

    EXPECT_EQ(cfg.get_or<int>("/sip/listen", 7, ec, &detail), 7);
    EXPECT_EQ(ec, code(errc::config_bad_value));
    EXPECT_TRUE(contains(detail, "tracker.json: /sip/listen: expected an integer")) << detail;

    cfg.get<int>("/tracker/ratio", ec);  // 0.75 is not an integer
    EXPECT_EQ(ec, code(errc::config_bad_value));
    cfg.get<bool>("/tracker/interval", ec);
    EXPECT_EQ(ec, code(errc::config_bad_value));
    cfg.get<std::vector<std::string>>("/extra/a", ec, &detail);
    EXPECT_EQ(ec, code(errc::config_bad_value));
    EXPECT_TRUE(contains(detail, "/extra/a/0: expected a string")) << detail;

    // A present but wrong value never falls back silently in the throwing form either.
    EXPECT_THROW((void)cfg.get_or<int>("/sip/listen", 5), std::system_error);

    cfg.get<int>("tracker/interval", ec, &detail);
    EXPECT_EQ(ec, code(errc::invalid_argument));
    EXPECT_TRUE(contains(detail, "malformed JSON pointer")) << detail;
}

TEST(Config, IntegerLimitsAndRanges) {
    const config cfg = config::parse(
        R"({"big": 5000000000, "negative": -1, "huge": 18446744073709551615, "five": 5})", "n");
    std::error_code ec;
    std::string detail;
    cfg.get<int>("/big", ec);
    EXPECT_EQ(ec, code(errc::config_bad_value));
    EXPECT_EQ(cfg.get<std::int64_t>("/big", ec), 5000000000);
    cfg.get<unsigned>("/negative", ec);
    EXPECT_EQ(ec, code(errc::config_bad_value));
    cfg.get<std::int64_t>("/huge", ec);
    EXPECT_EQ(ec, code(errc::config_bad_value));
    EXPECT_EQ(cfg.get<std::uint64_t>("/huge", ec), 18446744073709551615ULL);

    EXPECT_EQ(cfg.get_or<int>("/five", 1800, {60, 86400}, ec, &detail), 1800);
    EXPECT_EQ(ec, code(errc::config_bad_value));
    EXPECT_EQ(detail, "n: /five: expected an integer in [60, 86400], found 5");
    EXPECT_EQ(cfg.get_or<int>("/absent", 1800, {60, 86400}), 1800);
    EXPECT_EQ(cfg.require<int>("/five", {1, 5}), 5);
    EXPECT_THROW((void)cfg.require<int>("/five", {6, 10}), std::system_error);
    EXPECT_DOUBLE_EQ(cfg.get_or<double>("/five", 0.0, {0.0, 10.0}), 5.0);
    cfg.get_or<double>("/five", 0.0, {0.0, 1.0}, ec);
    EXPECT_EQ(ec, code(errc::config_bad_value));
}

TEST(Config, RequireReportsMissingSettings) {
    const config cfg = sample();
    std::error_code ec;
    std::string detail;
    EXPECT_EQ(cfg.require<std::string>("/sip/domain", ec, &detail), "");
    EXPECT_EQ(ec, code(errc::config_missing_value));
    EXPECT_EQ(detail, "tracker.json: /sip/domain: required setting is missing");
    cfg.require<int>("/tracker/muted", ec);
    EXPECT_EQ(ec, code(errc::config_missing_value));
    try {
        (void)cfg.require<int>("/tracker/peers");
        FAIL() << "expected an exception";
    } catch (const std::system_error& e) {
        EXPECT_EQ(e.code(), code(errc::config_missing_value));
        EXPECT_TRUE(contains(e.what(), "tracker.json: /tracker/peers")) << e.what();
    }
}

TEST(Config, Ports) {
    const config cfg = config::parse(
        R"({"ok": 5060, "zero": 0, "big": 70000, "text": "5060", "neg": -1})", "ports");
    EXPECT_EQ(cfg.port_or("/ok", 1), 5060);
    EXPECT_EQ(cfg.port_or("/zero", 1), 0);
    EXPECT_EQ(cfg.port_or("/absent", 6969), 6969);
    EXPECT_EQ(cfg.require_port("/ok"), 5060);
    std::error_code ec;
    std::string detail;
    EXPECT_EQ(cfg.port_or("/big", 1, ec, &detail), 1);
    EXPECT_EQ(ec, code(errc::config_bad_value));
    EXPECT_TRUE(contains(detail, "[0, 65535]")) << detail;
    cfg.port_or("/text", 1, ec);
    EXPECT_EQ(ec, code(errc::config_bad_value));
    cfg.port_or("/neg", 1, ec);
    EXPECT_EQ(ec, code(errc::config_bad_value));
    cfg.require_port("/absent", ec);
    EXPECT_EQ(ec, code(errc::config_missing_value));
}

// --- durations --------------------------------------------------------------------------------

TEST(Config, ParseDurationAcceptsUnitsAndSeconds) {
    EXPECT_EQ(imsp2p::core::parse_duration("30s"), 30s);
    EXPECT_EQ(imsp2p::core::parse_duration("5m"), 5min);
    EXPECT_EQ(imsp2p::core::parse_duration("1h"), 1h);
    EXPECT_EQ(imsp2p::core::parse_duration("500ms"), 500ms);
    EXPECT_EQ(imsp2p::core::parse_duration("2d"), 48h);
    EXPECT_EQ(imsp2p::core::parse_duration("1h30m"), 90min);
    EXPECT_EQ(imsp2p::core::parse_duration("1m30s250ms"), 90250ms);
    EXPECT_EQ(imsp2p::core::parse_duration("90"), 90s);
    EXPECT_EQ(imsp2p::core::parse_duration("0"), 0s);
}

TEST(Config, ParseDurationRejectsEverythingElse) {
    for (const char* bad : {"", "s", "-5s", "+5s", "1.5s", "5 m", " 5m", "5m ", "1h30", "5x", "5S",
                            "ms", "10y", "99999999999999999999s", "9999999999999999d", "1h-1m"}) {
        std::error_code ec;
        EXPECT_EQ(imsp2p::core::parse_duration(bad, ec), 0ms) << bad;
        EXPECT_EQ(ec, code(errc::config_bad_value)) << bad;
    }
    EXPECT_THROW(imsp2p::core::parse_duration("soon"), std::system_error);
}

TEST(Config, DurationSettings) {
    const config cfg = sample();
    EXPECT_EQ(cfg.duration_or("/tracker/timeout", 1s), 90min);
    EXPECT_EQ(cfg.duration_or("/tracker/grace", 1s), 45s);  // integer seconds
    EXPECT_EQ(cfg.duration_or("/tracker/absent", 30s), 30s);
    EXPECT_EQ(cfg.require_duration("/tracker/timeout"), 90min);
    std::error_code ec;
    std::string detail;
    EXPECT_EQ(cfg.duration_or("/sip/listen", 30s, ec, &detail), 30s);
    EXPECT_EQ(ec, code(errc::config_bad_value));
    EXPECT_TRUE(contains(detail, "tracker.json: /sip/listen: expected a duration")) << detail;
    cfg.duration_or("/tracker/private", 30s, ec);
    EXPECT_EQ(ec, code(errc::config_bad_value));
    cfg.require_duration("/tracker/absent", ec);
    EXPECT_EQ(ec, code(errc::config_missing_value));
    const config negative = config::parse(R"({"d": -5})", "neg");
    negative.duration_or("/d", 1s, ec);
    EXPECT_EQ(ec, code(errc::config_bad_value));
}

// --- modification ---------------------------------------------------------------------------

TEST(Config, SetCreatesParentsAndLeavesDocumentIntactOnError) {
    config cfg = sample();
    cfg.set("/new/deep/value", 42);
    EXPECT_EQ(cfg.require<int>("/new/deep/value"), 42);
    cfg.set("/sip/transports/2", "tls");
    cfg.set("/sip/transports/-", "ws");
    EXPECT_EQ(cfg.require<std::vector<std::string>>("/sip/transports"),
              (std::vector<std::string>{"udp", "tcp", "tls", "ws"}));

    const json before = cfg.document();
    std::error_code ec;
    std::string detail;
    cfg.set("/sip/listen/port", 5060, ec, &detail);  // the parent is a string
    EXPECT_EQ(ec, code(errc::config_bad_value));
    EXPECT_TRUE(contains(detail, "/sip/listen is a string")) << detail;
    cfg.set("/sip/transports/9", "x", ec, &detail);  // beyond the end
    EXPECT_EQ(ec, code(errc::config_bad_value));
    cfg.set("/sip/transports/x/y", "x", ec);
    EXPECT_EQ(ec, code(errc::config_bad_value));
    cfg.set("/new/list/0/01", "x", ec);  // fails only after creating "/new/list"
    EXPECT_EQ(ec, code(errc::config_bad_value));
    cfg.set("", json::array(), ec);
    EXPECT_EQ(ec, code(errc::config_bad_value));
    cfg.set("bad", 1, ec);
    EXPECT_EQ(ec, code(errc::invalid_argument));
    EXPECT_EQ(cfg.document(), before);
}

TEST(Config, CommandLineOverrides) {
    config cfg = sample();
    cfg.apply_override("tracker.interval=1800");
    EXPECT_EQ(cfg.require<int>("/tracker/interval"), 1800);
    cfg.apply_override("sip.listen=127.0.0.1:5070");  // not JSON: taken as a string
    EXPECT_EQ(cfg.require<std::string>("/sip/listen"), "127.0.0.1:5070");
    cfg.apply_override("/tracker/private=false");
    EXPECT_FALSE(cfg.require<bool>("/tracker/private"));
    cfg.apply_override("tracker.name=\"900\"");
    EXPECT_EQ(cfg.require<std::string>("/tracker/name"), "900");
    cfg.apply_override("tracker.interval=null");  // back to the default
    EXPECT_EQ(cfg.get_or<int>("/tracker/interval", 60), 60);
    cfg.apply_override("paths.a/b=x");  // "/" inside a dotted segment is a plain character
    EXPECT_EQ(cfg.require<std::string>("/paths/a~1b"), "x");
    cfg.apply_override("empty=");
    EXPECT_EQ(cfg.require<std::string>("/empty"), "");
    cfg.apply_override("list=[\"a\",\"b\"]");
    EXPECT_EQ(cfg.require<std::vector<std::string>>("/list").size(), 2U);

    std::error_code ec;
    std::string detail;
    for (const char* bad : {"no-equals", "=5", "a..b=1", ".a=1", "a.=1"}) {
        cfg.apply_override(bad, ec, &detail);
        EXPECT_EQ(ec, code(errc::config_bad_value)) << bad;
        EXPECT_TRUE(contains(detail, std::string("override \"") + bad)) << detail;
    }
    cfg.apply_override("sip.listen.port=1", ec, &detail);
    EXPECT_EQ(ec, code(errc::config_bad_value));
    EXPECT_TRUE(contains(detail, "/sip/listen is a string")) << detail;
}

TEST(Config, MergePatch) {
    config cfg = config::from_json(json{{"a", 1}, {"b", {{"c", 2}, {"d", 3}}}}, "<defaults>");
    cfg.merge(json{{"b", {{"c", 20}, {"d", nullptr}}}, {"e", "x"}});
    EXPECT_EQ(cfg.document(), (json{{"a", 1}, {"b", {{"c", 20}}}, {"e", "x"}}));
    std::error_code ec;
    cfg.merge(json(5), ec);
    EXPECT_EQ(ec, code(errc::config_malformed));
}

// --- unknown keys -----------------------------------------------------------------------------

TEST(Config, CheckKnownKeysWithPointerList) {
    const config cfg = sample();
    const json known = {"/sip/listen",
                        "/sip/transports",
                        "/tracker/interval",
                        "/tracker/min_interval",
                        "/tracker/ratio",
                        "/tracker/private",
                        "/tracker/port",
                        "/tracker/timeout",
                        "/tracker/grace",
                        "/tracker/muted",
                        "/data",
                        "/extra"};
    cfg.check_known_keys(known);

    json incomplete = known;
    incomplete.erase(incomplete.begin() + 2);  // "/tracker/interval"
    incomplete.erase(incomplete.begin());      // "/sip/listen"
    std::error_code ec;
    std::string detail;
    cfg.check_known_keys(incomplete, ec, &detail);
    EXPECT_EQ(ec, code(errc::config_unknown_key));
    EXPECT_EQ(detail, "tracker.json: /sip/listen, /tracker/interval: unknown settings");

    cfg.check_known_keys(json{"/sip/*", "/tracker", "/data", "/extra"}, ec);
    EXPECT_FALSE(ec);
    cfg.check_known_keys(json{""}, ec);  // the root accepts everything
    EXPECT_FALSE(ec);
    cfg.check_known_keys(json{"no-slash"}, ec);
    EXPECT_EQ(ec, code(errc::invalid_argument));
    cfg.check_known_keys(json(3), ec);
    EXPECT_EQ(ec, code(errc::invalid_argument));
}

TEST(Config, CheckKnownKeysWithSchemaObject) {
    const config cfg = config::parse(R"({
        "trackers": [{"url": "http://a/announce", "weight": 2}, {"url": "udp://b:6969", "wieght": 1}],
        "peers": {"p1": {"host": "a"}, "p2": {"host": "b"}},
        "limits": {"anything": {"goes": [1]}}
    })",
                                     "cluster.json");
    const json schema = {
        {"trackers", json::array({{{"url", "announce URL"}, {"weight", true}}})},
        {"peers", {{"*", {{"host", true}}}}},
        {"limits", nullptr},
    };
    std::error_code ec;
    std::string detail;
    cfg.check_known_keys(schema, ec, &detail);
    EXPECT_EQ(ec, code(errc::config_unknown_key));
    EXPECT_EQ(detail, "cluster.json: /trackers/1/wieght: unknown setting");
    EXPECT_THROW(cfg.check_known_keys(schema), std::system_error);

    // An index schema instead of the one-element array form.
    const json by_index = {{"trackers", {{"0", {{"url", true}, {"weight", true}}}}},
                           {"peers", true},
                           {"limits", true}};
    cfg.check_known_keys(by_index, ec, &detail);
    EXPECT_EQ(ec, code(errc::config_unknown_key));
    EXPECT_EQ(detail, "cluster.json: /trackers/1: unknown setting");
}

}  // namespace
