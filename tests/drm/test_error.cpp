#include <imsp2p/drm/error.hpp>

#include <gtest/gtest.h>

#include <set>
#include <string>

namespace drm = imsp2p::drm;

TEST(DrmError, CodesHaveTheCategoryAndDistinctMessages) {
    std::set<std::string> messages;
    for (int value = 1; value <= 37; ++value) {
        const std::error_code ec = drm::make_error_code(static_cast<drm::errc>(value));
        EXPECT_STREQ(ec.category().name(), "imsp2p.drm");
        EXPECT_EQ(ec.message().find("unknown"), std::string::npos) << value;
        messages.insert(ec.message());
    }
    EXPECT_EQ(messages.size(), 37u);
    const std::error_code first = drm::errc::container_bad_magic;
    EXPECT_EQ(first.message(), "not an imsp2p protected content container (bad magic)");
    EXPECT_NE(first, std::error_code{});
}
