#include <imsp2p/sip/error.hpp>

#include <gtest/gtest.h>

#include <set>
#include <string>

namespace sip = imsp2p::sip;

TEST(SipError, CodesHaveTheCategoryAndDistinctMessages) {
    std::set<std::string> messages;
    for (int value = 1; value <= 16; ++value) {
        const std::error_code ec = sip::make_error_code(static_cast<sip::errc>(value));
        EXPECT_STREQ(ec.category().name(), "imsp2p.sip");
        EXPECT_EQ(ec.message().find("unknown imsp2p."), std::string::npos) << value;
        messages.insert(ec.message());
    }
    EXPECT_EQ(messages.size(), 16u);
    const std::error_code first = sip::errc::untrusted_source;
    EXPECT_EQ(first.message(), "request did not come from a trusted S-CSCF");
    EXPECT_NE(first, std::error_code{});
}
