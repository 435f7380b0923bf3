#include <imsp2p/pana/error.hpp>

#include <gtest/gtest.h>

#include <set>
#include <string>

namespace pana = imsp2p::pana;

TEST(PanaError, CodesHaveTheCategoryAndDistinctMessages) {
    std::set<std::string> messages;
    for (int value = 1; value <= 6; ++value) {
        const std::error_code ec = pana::make_error_code(static_cast<pana::errc>(value));
        EXPECT_STREQ(ec.category().name(), "imsp2p.pana");
        EXPECT_EQ(ec.message().find("unknown"), std::string::npos) << value;
        messages.insert(ec.message());
    }
    EXPECT_EQ(messages.size(), 6u);
    const std::error_code first = pana::errc::mac_failure;
    EXPECT_EQ(first.message(), "AKA network authentication failed (MAC mismatch)");
    EXPECT_NE(first, std::error_code{});
}
