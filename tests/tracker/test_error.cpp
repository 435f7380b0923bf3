#include <imsp2p/tracker/error.hpp>

#include <gtest/gtest.h>

#include <set>
#include <string>

namespace tracker = imsp2p::tracker;

TEST(TrackerError, CodesHaveTheCategoryAndDistinctMessages) {
    std::set<std::string> messages;
    for (int value = 1; value <= 15; ++value) {
        const std::error_code ec = tracker::make_error_code(static_cast<tracker::errc>(value));
        EXPECT_STREQ(ec.category().name(), "imsp2p.tracker");
        EXPECT_EQ(ec.message().find("unknown"), std::string::npos) << value;
        messages.insert(ec.message());
    }
    EXPECT_EQ(messages.size(), 15u);
    const std::error_code first = tracker::errc::unknown_torrent;
    EXPECT_EQ(first.message(), "torrent is not registered with this tracker");
    EXPECT_NE(first, std::error_code{});
}
