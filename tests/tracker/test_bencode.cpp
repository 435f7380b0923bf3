#include <imsp2p/tracker/bencode.hpp>

#include <imsp2p/tracker/error.hpp>

#include <gtest/gtest.h>

#include <string>

namespace tracker = imsp2p::tracker;
using tracker::bencode_dict;
using tracker::bencode_list;
using tracker::bencode_value;

TEST(Bencode, EncodesEveryKindCanonically) {
    EXPECT_EQ(tracker::bencode(bencode_value(std::int64_t{42})), "i42e");
    EXPECT_EQ(tracker::bencode(bencode_value(std::int64_t{-7})), "i-7e");
    EXPECT_EQ(tracker::bencode(bencode_value("spam")), "4:spam");
    EXPECT_EQ(tracker::bencode(bencode_value(std::string("a\0b", 3))), std::string("3:a\0b", 5));
    EXPECT_EQ(tracker::bencode(bencode_value(bencode_list{"a", std::int64_t{1}})), "l1:ai1ee");
    bencode_dict dict;
    dict.emplace("zeta", std::int64_t{1});
    dict.emplace("alpha", "x");
    EXPECT_EQ(tracker::bencode(bencode_value(dict)), "d5:alpha1:x4:zetai1ee");
}

TEST(Bencode, DecodesWhatItEncodes) {
    bencode_dict inner;
    inner.emplace("peers", std::string("\x7f\0\0\x01\x1a\xe1", 6));
    bencode_dict outer;
    outer.emplace("list", bencode_list{std::int64_t{-9223372036854775807LL - 1}, "", inner});
    outer.emplace("n", std::int64_t{9223372036854775807LL});
    const bencode_value value(outer);
    const bencode_value decoded = tracker::bdecode(tracker::bencode(value));
    EXPECT_EQ(decoded, value);
    ASSERT_NE(decoded.find("n"), nullptr);
    EXPECT_EQ(decoded.find("n")->integer(), 9223372036854775807LL);
    EXPECT_EQ(decoded.find("missing"), nullptr);
}

TEST(Bencode, RejectsMalformedInput) {
    for (const std::string bad : {"", "i", "ie", "i-0e", "i03e", "i1", "i9223372036854775808e",
                                  "-1:a", "5:abc", "01:a", "l", "li1e", "d1:ai1e", "d1:b1:x1:a1:ye",
                                  "d1:a1:x1:a1:ye", "i1ei2e", "x", "d i1e e", "di1ei2ee"}) {
        std::error_code ec;
        tracker::bdecode(bad, ec);
        EXPECT_EQ(ec, tracker::errc::bad_bencode) << bad;
    }
    EXPECT_THROW(tracker::bdecode("l"), std::system_error);
}

TEST(Bencode, EnforcesTheDepthLimit) {
    const std::string deep = std::string(100, 'l') + std::string(100, 'e');
    std::error_code ec;
    tracker::bdecode(deep, ec);
    EXPECT_EQ(ec, tracker::errc::bad_bencode);
    tracker::bdecode(deep, ec, {.max_depth = 200, .max_values = 1000});
    EXPECT_FALSE(ec);
}
