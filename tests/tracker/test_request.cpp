#include <imsp2p/tracker/request.hpp>

#include <imsp2p/tracker/error.hpp>

#include <gtest/gtest.h>

#include <string>

namespace tracker = imsp2p::tracker;

namespace {

const std::string hash_escaped = "%12%34%56%78%9a%bc%de%f1%23%45%67%89%ab%cd%ef%12%34%56%78%9a";
const std::string hash_bytes =
    "\x12\x34\x56\x78\x9a\xbc\xde\xf1\x23\x45\x67\x89\xab\xcd\xef\x12\x34\x56\x78\x9a";

std::string query(const std::string& extra = "") {
    return "info_hash=" + hash_escaped + "&peer_id=-IM0001-abcdefghijkl&port=6881" + extra;
}

std::string reason_for(const std::string& target) {
    std::error_code ec;
    std::string reason;
    tracker::parse_announce(target, {}, ec, &reason);
    EXPECT_EQ(ec, tracker::errc::bad_announce) << target;
    return reason;
}

}  // namespace

TEST(Request, PercentDecodesBinaryValues) {
    std::error_code ec;
    EXPECT_EQ(tracker::percent_decode("a%00b%FFc+", ec), std::string("a\0b\xff"
                                                                     "c+",
                                                                     6));
    EXPECT_FALSE(ec);
    tracker::percent_decode("%4", ec);
    EXPECT_EQ(ec, tracker::errc::bad_announce);
    tracker::percent_decode("%zz", ec);
    EXPECT_EQ(ec, tracker::errc::bad_announce);
    tracker::percent_decode("abc%", ec);
    EXPECT_EQ(ec, tracker::errc::bad_announce);
}

TEST(Request, ParsesAFullAnnounce) {
    const auto request = tracker::parse_announce(
        "/announce/eyJ.ticket.sig?" +
        query("&uploaded=10&downloaded=20&left=30&event=started&numwant=5&compact=0"
              "&no_peer_id=1&key=k1&ip=6.6.6.6&supportcrypto=1"));
    EXPECT_EQ(request.ticket, "eyJ.ticket.sig");
    EXPECT_EQ(request.info_hash, hash_bytes);
    EXPECT_EQ(request.peer_id, "-IM0001-abcdefghijkl");
    EXPECT_EQ(request.port, 6881);
    EXPECT_EQ(request.uploaded, 10u);
    EXPECT_EQ(request.downloaded, 20u);
    EXPECT_EQ(request.left, 30u);
    EXPECT_EQ(request.event, tracker::announce_event::started);
    EXPECT_EQ(request.numwant, 5u);
    EXPECT_FALSE(request.compact);
    EXPECT_TRUE(request.no_peer_id);
    EXPECT_EQ(request.key, "k1");
}

TEST(Request, AcceptsAPathWithoutTicket) {
    const auto request = tracker::parse_announce("/announce?" + query());
    EXPECT_TRUE(request.ticket.empty());
    EXPECT_TRUE(request.compact);
    EXPECT_EQ(request.event, tracker::announce_event::none);
}

TEST(Request, GivesAPreciseReasonForEveryMalformedAnnounce) {
    EXPECT_EQ(reason_for("/announce/t?peer_id=-IM0001-abcdefghijkl&port=1"), "missing info_hash");
    EXPECT_EQ(reason_for("/announce/t?info_hash=" + hash_escaped + "&port=1"), "missing peer_id");
    EXPECT_EQ(reason_for("/announce/t?info_hash=" + hash_escaped + "&peer_id=-IM0001-abcdefghijkl"),
              "missing port");
    EXPECT_EQ(reason_for("/announce/t?info_hash=abc&peer_id=x&port=1"),
              "info_hash must be 20 bytes");
    EXPECT_EQ(reason_for("/announce/t?" + query("&info_hash=" + hash_escaped)),
              "info_hash given twice");
    EXPECT_EQ(reason_for("/announce/t?" + query("&peer_id=short")), "peer_id must be 20 bytes");
    EXPECT_EQ(reason_for("/announce/t?" + query("&port=0")), "port must be 1..65535");
    EXPECT_EQ(reason_for("/announce/t?" + query("&port=65536")), "port must be 1..65535");
    EXPECT_EQ(reason_for("/announce/t?" + query("&left=-1")),
              "left must be a non-negative integer");
    EXPECT_EQ(reason_for("/announce/t?" + query("&uploaded=99999999999999999999999")),
              "uploaded must be a non-negative integer");
    EXPECT_EQ(reason_for("/announce/t?" + query("&event=exploded")), "unknown event");
    EXPECT_EQ(reason_for("/announce/t?" + query("&numwant=x")),
              "numwant must be a non-negative integer");
    EXPECT_EQ(reason_for("/announce/t?" + query("&key=" + std::string(65, 'k'))), "key too long");
    EXPECT_EQ(reason_for("/announce/t?" + query("&x=%g1")), "bad percent-encoding in parameter x");
    EXPECT_EQ(reason_for("/scrape/t?" + query()),
              "not an announce path (expected /announce/<ticket>)");
    EXPECT_EQ(reason_for("/announce/a/b?" + query()),
              "not an announce path (expected /announce/<ticket>)");
    EXPECT_EQ(reason_for("/announce/" + std::string(5000, 't') + "?" + query()), "ticket too long");
    EXPECT_EQ(reason_for("/announce/t?" + query() + std::string(9000, '&')),
              "request target too long");
    std::string many = "/announce/t?" + query();
    for (int i = 0; i < 70; ++i) {
        many += "&a=" + std::to_string(i);
    }
    EXPECT_EQ(reason_for(many), "too many query parameters");
    EXPECT_THROW(tracker::parse_announce("/nothing"), std::system_error);
}

TEST(Request, ParsesScrapes) {
    const auto request = tracker::parse_scrape("/scrape/tkt?info_hash=" + hash_escaped +
                                               "&info_hash=" + std::string(20, 'a'));
    EXPECT_EQ(request.ticket, "tkt");
    ASSERT_EQ(request.info_hashes.size(), 2u);
    EXPECT_EQ(request.info_hashes[0], hash_bytes);
    EXPECT_TRUE(tracker::parse_scrape("/scrape").info_hashes.empty());
    std::error_code ec;
    std::string reason;
    tracker::parse_scrape("/scrape/t?info_hash=x", {}, ec, &reason);
    EXPECT_EQ(reason, "info_hash must be 20 bytes");
    tracker::parse_scrape("/announce/t", {}, ec, &reason);
    EXPECT_EQ(ec, tracker::errc::bad_announce);
    tracker::request_limits limits;
    limits.max_scrape_hashes = 1;
    tracker::parse_scrape("/scrape/t?info_hash=" + hash_escaped + "&info_hash=" + hash_escaped,
                          limits, ec, &reason);
    EXPECT_EQ(reason, "too many info_hash parameters");
}
