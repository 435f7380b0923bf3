#include <imsp2p/sip/message.hpp>

#include <gtest/gtest.h>

#include <string>

namespace sip = imsp2p::sip;

namespace {

sip::incoming_request with_headers() {
    sip::incoming_request request;
    request.headers = {{"Via", "SIP/2.0/UDP 127.0.0.1:5060;branch=z9hG4bK1"},
                       {"Event", "imsp2p-content"},
                       {"P-Asserted-Identity", "<sip:alice@ims.example>"},
                       {"Route", "<sip:first;lr>"},
                       {"Route", "<sip:second;lr>"},
                       {"X-Empty", ""}};
    return request;
}

}  // namespace

TEST(SipMessage, HeaderFindsByNameCaseInsensitively) {
    const auto request = with_headers();
    EXPECT_EQ(request.header("Event").value_or("-"), "imsp2p-content");
    EXPECT_EQ(request.header("event").value_or("-"), "imsp2p-content");
    EXPECT_EQ(request.header("EVENT").value_or("-"), "imsp2p-content");
    EXPECT_EQ(request.header("p-asserted-identity").value_or("-"), "<sip:alice@ims.example>");
}

TEST(SipMessage, HeaderReturnsTheFirstOfRepeatedHeaders) {
    EXPECT_EQ(with_headers().header("route").value_or("-"), "<sip:first;lr>");
}

TEST(SipMessage, HeaderDistinguishesAbsentFromEmpty) {
    const auto request = with_headers();
    EXPECT_FALSE(request.header("Contact").has_value());
    EXPECT_FALSE(request.header("Even").has_value());    // a prefix is not a match
    EXPECT_FALSE(request.header("Events").has_value());  // nor a longer name
    EXPECT_FALSE(request.header("Evenu").has_value());   // same length, one letter off
    EXPECT_FALSE(request.header("").has_value());
    ASSERT_TRUE(request.header("x-empty").has_value());
    EXPECT_TRUE(request.header("x-empty")->empty());
}

TEST(SipMessage, CompactFormsAreNotMapped) {
    auto request = with_headers();
    request.headers.push_back({"o", "compact-event"});
    EXPECT_EQ(request.header("o").value_or("-"), "compact-event");
    EXPECT_EQ(request.header("Event").value_or("-"), "imsp2p-content");
    EXPECT_FALSE(sip::incoming_request{}.header("Event").has_value());
}

TEST(SipMessage, ValuesHaveUsefulDefaults) {
    const sip::outgoing_response response;
    EXPECT_EQ(response.status, 500);
    EXPECT_TRUE(response.to_tag.empty());
    const sip::incoming_request request;
    EXPECT_EQ(request.via_transport, sip::transport::udp);
    EXPECT_EQ(request.cseq, 0u);
    EXPECT_FALSE(request.expires.has_value());
    const sip::outgoing_request outgoing;
    EXPECT_TRUE(outgoing.route.empty());
    EXPECT_TRUE(outgoing.call_id.empty());
}
