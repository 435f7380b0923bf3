#include <imsp2p/drm/rights.hpp>

#include <imsp2p/drm/error.hpp>

#include <gtest/gtest.h>

#include <chrono>
#include <string>
#include <system_error>

namespace drm = imsp2p::drm;
using json = nlohmann::json;

namespace {

std::error_code parse_error(const std::string& text) {
    std::error_code ec;
    (void)drm::rights::from_json(json::parse(text), ec);
    return ec;
}

}  // namespace

TEST(Rights, EmptyIsUnconstrainedBothWays) {
    const drm::rights none;
    EXPECT_TRUE(none.unconstrained());
    EXPECT_EQ(none.to_json(), json::object());
    std::error_code ec = drm::errc::rights_malformed;
    EXPECT_EQ(drm::rights::from_json(json::object(), ec), none);
    EXPECT_FALSE(ec);
    EXPECT_EQ(drm::rights::from_json(json::parse(R"({"play":{}})"), ec), none);
    EXPECT_FALSE(ec);
}

TEST(Rights, FullRoundTrip) {
    drm::rights rights;
    rights.play_count = 3;
    rights.not_before = std::chrono::sys_seconds(std::chrono::seconds(1700000000));
    rights.not_after = std::chrono::sys_seconds(std::chrono::seconds(1800000000));
    rights.window_after_first_use = std::chrono::hours(48);
    rights.devices = 2;
    const json expected = json::parse(
        R"({"play":{"count":3,"not_before":1700000000,"not_after":1800000000,
            "window_after_first_use_s":172800},"devices":2})");
    EXPECT_EQ(rights.to_json(), expected);
    EXPECT_FALSE(rights.unconstrained());
    EXPECT_EQ(drm::rights::from_json(expected), rights);
    // Each member alone.
    EXPECT_EQ(drm::rights::from_json(json::parse(R"({"devices":1})")).devices, 1u);
    EXPECT_EQ(drm::rights::from_json(json::parse(R"({"play":{"count":2147483647}})")).play_count,
              2147483647u);
    EXPECT_EQ(drm::rights::from_json(json::parse(R"({"play":{"not_before":0,"not_after":0}})"))
                  .not_after->time_since_epoch()
                  .count(),
              0);
}

TEST(Rights, RefusesUnknownMistypedAndOutOfRange) {
    for (const char* text : {
             R"([])",
             R"("play")",
             R"(null)",
             R"({"copy":{}})",
             R"({"play":{"count":1,"print":true}})",
             R"({"play":[]})",
             R"({"play":{"count":0}})",
             R"({"play":{"count":-1}})",
             R"({"play":{"count":2147483648}})",
             R"({"play":{"count":1.5}})",
             R"({"play":{"count":"3"}})",
             R"({"play":{"count":true}})",
             R"({"play":{"not_before":-1}})",
             R"({"play":{"not_after":253402300800}})",
             R"({"play":{"not_after":18446744073709551615}})",
             R"({"play":{"not_before":1000.0}})",
             R"({"play":{"window_after_first_use_s":0}})",
             R"({"play":{"not_before":20,"not_after":10}})",
             R"({"devices":0})",
             R"({"devices":null})",
         }) {
        EXPECT_EQ(parse_error(text), drm::errc::rights_malformed) << text;
    }
    EXPECT_FALSE(parse_error(R"({"play":{"not_before":10,"not_after":10}})"));
}

TEST(Rights, ThrowingFormNamesTheMember) {
    try {
        (void)drm::rights::from_json(json::parse(R"({"play":{"count":0}})"));
        FAIL() << "no exception";
    } catch (const std::system_error& error) {
        EXPECT_EQ(error.code(), drm::errc::rights_malformed);
        EXPECT_NE(std::string(error.what()).find("play.count"), std::string::npos) << error.what();
    }
}
