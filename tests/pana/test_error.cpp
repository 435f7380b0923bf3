#include <imsp2p/pana/error.hpp>

#include <gtest/gtest.h>

#include <set>
#include <string>

namespace pana = imsp2p::pana;

TEST(PanaError, CodesHaveTheCategoryAndDistinctMessages) {
    constexpr int last = static_cast<int>(pana::errc::token_deposit_replayed);
    std::set<std::string> messages;
    for (int value = 1; value <= last; ++value) {
        const std::error_code ec = pana::make_error_code(static_cast<pana::errc>(value));
        EXPECT_STREQ(ec.category().name(), "imsp2p.pana");
        EXPECT_EQ(ec.message().find("unknown imsp2p."), std::string::npos) << value;
        messages.insert(ec.message());
    }
    EXPECT_EQ(messages.size(), static_cast<std::size_t>(last));
    const std::error_code first = pana::errc::mac_failure;
    EXPECT_EQ(first.message(), "AKA network authentication failed (MAC mismatch)");
    EXPECT_NE(first, std::error_code{});
    EXPECT_NE(pana::make_error_code(static_cast<pana::errc>(last + 1)).message().find("unknown"),
              std::string::npos);
}
