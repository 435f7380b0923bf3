#include <imsp2p/tracker/udp_packet.hpp>

#include <imsp2p/tracker/error.hpp>

#include <gtest/gtest.h>

#include <cstdint>
#include <string>

namespace tracker = imsp2p::tracker;
namespace udp = imsp2p::tracker::udp;

namespace {

void put(std::string& out, std::uint64_t value, std::size_t size) {
    for (std::size_t i = size; i > 0; --i) {
        out += static_cast<char>((value >> (8 * (i - 1))) & 0xffU);
    }
}

std::string header(std::uint64_t connection_id, std::uint32_t action, std::uint32_t tid) {
    std::string out;
    put(out, connection_id, 8);
    put(out, action, 4);
    put(out, tid, 4);
    return out;
}

std::string announce(std::uint32_t event = 2, std::uint16_t port = 6881,
                     std::uint64_t left = 1000) {
    std::string out = header(0x1122334455667788ULL, 1, 77);
    out += std::string(20, 'h');
    out += std::string(20, 'p');
    put(out, 5, 8);     // downloaded
    put(out, left, 8);  // left
    put(out, 7, 8);     // uploaded
    put(out, event, 4);
    put(out, 0, 4);           // ip
    put(out, 0xabcdef, 4);    // key
    put(out, 0xffffffff, 4);  // num_want -1
    put(out, port, 2);
    return out;
}

udp::request parse(const std::string& packet, std::error_code& ec, std::string& reason) {
    return udp::parse_request(imsp2p::core::as_bytes(packet), ec, &reason);
}

/** Expects two parsed requests to be equal in every member. */
void expect_same(const udp::request& a, const udp::request& b) {
    EXPECT_EQ(a.kind, b.kind);
    EXPECT_EQ(a.connection_id, b.connection_id);
    EXPECT_EQ(a.transaction_id, b.transaction_id);
    EXPECT_EQ(a.url_data, b.url_data);
    EXPECT_EQ(a.has_url_data, b.has_url_data);
    EXPECT_EQ(a.ip, b.ip);
    EXPECT_EQ(a.info_hashes, b.info_hashes);
    EXPECT_EQ(a.announce.ticket, b.announce.ticket);
    EXPECT_EQ(a.announce.info_hash, b.announce.info_hash);
    EXPECT_EQ(a.announce.peer_id, b.announce.peer_id);
    EXPECT_EQ(a.announce.port, b.announce.port);
    EXPECT_EQ(a.announce.uploaded, b.announce.uploaded);
    EXPECT_EQ(a.announce.downloaded, b.announce.downloaded);
    EXPECT_EQ(a.announce.left, b.announce.left);
    EXPECT_EQ(a.announce.event, b.announce.event);
    EXPECT_EQ(a.announce.numwant, b.announce.numwant);
    EXPECT_EQ(a.announce.compact, b.announce.compact);
    EXPECT_EQ(a.announce.no_peer_id, b.announce.no_peer_id);
    EXPECT_EQ(a.announce.key, b.announce.key);
}

}  // namespace

TEST(UdpPacket, ParsesConnectStrictly) {
    std::error_code ec;
    std::string reason;
    auto request = parse(header(udp::protocol_id, 0, 0xdeadbeef), ec, reason);
    ASSERT_FALSE(ec) << reason;
    EXPECT_EQ(request.kind, udp::action::connect);
    EXPECT_EQ(request.transaction_id, 0xdeadbeefU);

    request = parse(header(42, 0, 1), ec, reason);
    EXPECT_EQ(ec, tracker::errc::bad_udp_packet);
    EXPECT_NE(reason.find("protocol id"), std::string::npos);
    parse(header(udp::protocol_id, 0, 1) + "x", ec, reason);
    EXPECT_EQ(ec, tracker::errc::bad_udp_packet);
    EXPECT_EQ(reason, "connect is 17 bytes, 16 are required");
    parse(std::string(15, '\0'), ec, reason);
    EXPECT_EQ(ec, tracker::errc::bad_udp_packet);
    EXPECT_FALSE(udp::answerable(imsp2p::core::as_bytes(std::string(15, '\0'))));
    request = parse(header(1, 9, 5), ec, reason);
    EXPECT_EQ(reason, "unknown action 9");
    EXPECT_EQ(request.transaction_id, 5u);
}

TEST(UdpPacket, ParsesAnAnnounceWithTheTicketSplitOverUrlDataOptions) {
    const std::string ticket = std::string(300, 'T') + "%2Dx";
    const std::string path = "/announce/" + ticket + "?ignored=1";
    std::string packet = announce();
    packet += '\x01';  // NOP
    packet += '\x02';
    packet += static_cast<char>(255);
    packet += path.substr(0, 255);
    packet += '\x07';  // unknown option: skipped by its length
    packet += '\x02';
    packet += "zz";
    packet += '\x02';
    packet += static_cast<char>(path.size() - 255);
    packet += path.substr(255);
    packet += '\x00';  // end of options; what follows is ignored
    packet += "garbage";
    std::error_code ec;
    std::string reason;
    const auto request = parse(packet, ec, reason);
    ASSERT_FALSE(ec) << reason;
    EXPECT_EQ(request.kind, udp::action::announce);
    EXPECT_EQ(request.connection_id, 0x1122334455667788ULL);
    EXPECT_EQ(request.transaction_id, 77u);
    EXPECT_EQ(request.url_data, path);
    EXPECT_EQ(request.announce.ticket, std::string(300, 'T') + "-x");
    EXPECT_EQ(request.announce.info_hash, std::string(20, 'h'));
    EXPECT_EQ(request.announce.peer_id, std::string(20, 'p'));
    EXPECT_EQ(request.announce.downloaded, 5u);
    EXPECT_EQ(request.announce.left, 1000u);
    EXPECT_EQ(request.announce.uploaded, 7u);
    EXPECT_EQ(request.announce.event, tracker::announce_event::started);
    EXPECT_FALSE(request.announce.numwant.has_value());
    EXPECT_EQ(request.announce.port, 6881);

    // Without options: no ticket (the server answers "ticket required").
    const auto bare = parse(announce(), ec, reason);
    ASSERT_FALSE(ec);
    EXPECT_FALSE(bare.has_url_data);
    EXPECT_TRUE(bare.announce.ticket.empty());
}

TEST(UdpPacket, GivesAPreciseReasonForEveryMalformedAnnounceAndScrape) {
    std::error_code ec;
    std::string reason;
    const auto expect = [&](const std::string& packet, const std::string& expected) {
        parse(packet, ec, reason);
        EXPECT_EQ(ec, tracker::errc::bad_udp_packet) << expected;
        EXPECT_NE(reason.find(expected), std::string::npos) << reason;
    };
    expect(announce().substr(0, 97), "announce is 97 bytes, at least 98 are required");
    expect(announce(4), "event 4 is not 0..3");
    expect(announce(0, 0), "port must be 1..65535");
    expect(announce(0, 1, ~0ULL), "must not be negative");
    expect(announce() + "\x02", "option 2 lacks its length byte");
    expect(announce() + "\x02\x05" + "abc", "option 2 claims 5 bytes, only 3 remain");
    expect(announce() + "\x02\x04" + "/foo", "URL data must be the path /announce/<ticket>");
    expect(announce() + "\x02\x0c" + "/announcexyz", "URL data must be the path");
    expect(announce() + "\x02\x0c" + "/announce/%z", "percent-encoding");
    std::string long_url;
    for (int i = 0; i < 40; ++i) {
        long_url += std::string("\x02\xff", 2) + std::string(255, 'a');
    }
    expect(announce() + long_url, "URL data exceeds 8192 bytes");

    expect(header(1, 2, 1), "scrape carries 0 bytes");
    expect(header(1, 2, 1) + std::string(21, 'h'), "a positive multiple of 20");
    expect(header(1, 2, 1) + std::string(20 * 75, 'h'), "at most 74");
    const auto scrape =
        parse(header(1, 2, 1) + std::string(20, 'a') + std::string(20, 'b'), ec, reason);
    ASSERT_FALSE(ec);
    ASSERT_EQ(scrape.info_hashes.size(), 2u);
    EXPECT_EQ(scrape.info_hashes[1], std::string(20, 'b'));
}

TEST(UdpPacket, EncodesAnswersInBothAddressFamilies) {
    EXPECT_EQ(udp::encode_connect(0x01020304, 0x1112131415161718ULL),
              std::string("\0\0\0\0\x01\x02\x03\x04\x11\x12\x13\x14\x15\x16\x17\x18", 16));
    tracker::announce_result result;
    result.interval = std::chrono::seconds(1800);
    result.complete = 2;
    result.incomplete = 3;
    result.peers.push_back({std::string("\x7f\0\0\x01", 4), 6881, std::string(20, 'a')});
    result.peers.push_back({std::string(15, '\0') + "\x01", 6882, std::string(20, 'b')});
    const std::string v4 = udp::encode_announce(9, result, false);
    EXPECT_EQ(v4, std::string("\0\0\0\x01\0\0\0\x09\0\0\x07\x08\0\0\0\x03\0\0\0\x02"
                              "\x7f\0\0\x01\x1a\xe1",
                              26));
    const std::string v6 = udp::encode_announce(9, result, true);
    ASSERT_EQ(v6.size(), 20u + 18u);
    EXPECT_EQ(v6.substr(20), std::string(15, '\0') + "\x01\x1a\xe2");

    result.error = tracker::errc::torrent_disabled;
    result.failure_reason = "torrent has been disabled by the operator";
    EXPECT_EQ(udp::encode_announce(9, result, false),
              std::string("\0\0\0\x03\0\0\0\x09", 8) + result.failure_reason);

    tracker::torrent_stats stats;
    stats.seeders = 4;
    stats.completed = 5;
    stats.leechers = 6;
    EXPECT_EQ(udp::encode_scrape(1, {std::string(20, 'x'), std::string(20, 'y')},
                                 {{std::string(20, 'y'), stats}}),
              std::string("\0\0\0\x02\0\0\0\x01"
                          "\0\0\0\0\0\0\0\0\0\0\0\0"
                          "\0\0\0\x04\0\0\0\x05\0\0\0\x06",
                          32));
}

TEST(UdpPacket, ParsesIntoAReusedRequestWithNothingLeftFromTheLastDatagram) {
    const std::string ticket = "eyJhbGciOiJFZERTQSJ9.eyJzdWIiOiJ4In0.c2ln";
    std::string with_ticket = announce();
    const std::string path = "/announce/" + ticket;
    with_ticket += '\x02';
    with_ticket += static_cast<char>(path.size());
    with_ticket += path;
    udp::request request;
    std::error_code ec;
    std::string reason;
    udp::parse_request(imsp2p::core::as_bytes(with_ticket), request, ec, &reason);
    ASSERT_FALSE(ec) << reason;
    EXPECT_EQ(request.announce.ticket, ticket);
    EXPECT_EQ(request.announce.key, std::to_string(0xabcdef));
    expect_same(request, udp::parse_request(imsp2p::core::as_bytes(with_ticket), ec));

    // The next datagram: a bare announce (num_want 50, event none) has no ticket, URL data or
    // anything else of the previous one.
    std::string bare = announce(0);
    bare.replace(bare.size() - 6, 4, std::string("\0\0\0\x32", 4));
    udp::parse_request(imsp2p::core::as_bytes(bare), request, ec, &reason);
    ASSERT_FALSE(ec) << reason;
    EXPECT_TRUE(request.announce.ticket.empty());
    EXPECT_TRUE(request.url_data.empty());
    EXPECT_FALSE(request.has_url_data);
    EXPECT_EQ(request.announce.event, tracker::announce_event::none);
    EXPECT_EQ(request.announce.numwant, 50u);
    expect_same(request, udp::parse_request(imsp2p::core::as_bytes(bare), ec));

    // A scrape, then a malformed announce: every announce member is reset, and the error is
    // precise.
    udp::parse_request(imsp2p::core::as_bytes(header(1, 2, 5) + std::string(20, 'a')), request, ec,
                       &reason);
    ASSERT_FALSE(ec);
    EXPECT_EQ(request.kind, udp::action::scrape);
    EXPECT_TRUE(request.announce.info_hash.empty());
    EXPECT_EQ(request.info_hashes.size(), 1u);
    udp::parse_request(imsp2p::core::as_bytes(announce(9)), request, ec, &reason);
    EXPECT_EQ(ec, tracker::errc::bad_udp_packet);
    EXPECT_EQ(reason, "event 9 is not 0..3");
    EXPECT_TRUE(request.info_hashes.empty());
    udp::parse_request(imsp2p::core::as_bytes(with_ticket), request, ec, &reason);
    ASSERT_FALSE(ec);
    EXPECT_EQ(request.announce.ticket, ticket);
}

TEST(UdpPacket, EncodesAnnouncesIntoAReusedString) {
    tracker::announce_result result;
    result.interval = std::chrono::seconds(-5);  // clamped to 0
    result.complete = 7;
    for (unsigned char last = 1; last <= 50; ++last) {
        result.peers.push_back({std::string("\x0a\0\0", 3) + static_cast<char>(last),
                                static_cast<std::uint16_t>(6000 + last),
                                {}});
    }
    result.peers.push_back({std::string(16, '\x20'), 80, {}});  // another family: left out
    std::string out = "previous content";
    udp::encode_announce(3, result, false, out);
    EXPECT_EQ(out, udp::encode_announce(3, result, false));
    ASSERT_EQ(out.size(), 20u + 50u * 6u);
    EXPECT_EQ(out.substr(8, 4), std::string(4, '\0'));
    EXPECT_EQ(out.substr(out.size() - 6), std::string("\x0a\0\0\x32\x17\xa2", 6));
    udp::encode_announce(3, result, true, out);
    EXPECT_EQ(out.size(), 20u + 18u);
    result.error = tracker::errc::unknown_torrent;
    result.failure_reason = "torrent is not registered with this tracker";
    udp::encode_announce(4, result, false, out);
    EXPECT_EQ(out, udp::encode_error(4, result.failure_reason));
}

// A result in the compact form (peers empty, the compact strings set) encodes to the same
// datagram as the same peers given as entries, in both families; a cut entry is left out.
TEST(UdpPacket, EncodesTheCompactFormAsTheEntriesItStandsFor) {
    tracker::announce_result entries;
    entries.interval = std::chrono::seconds(1800);
    entries.complete = 4;
    entries.incomplete = 9;
    tracker::announce_result compact = entries;
    for (unsigned char last = 1; last <= 50; ++last) {
        const std::string ip = std::string("\x0a\0\0", 3) + static_cast<char>(last);
        const auto port = static_cast<std::uint16_t>(0x1a00 + last);
        entries.peers.push_back({ip, port, {}});
        compact.compact_peers += ip;
        compact.compact_peers += static_cast<char>(port >> 8);
        compact.compact_peers += static_cast<char>(port & 0xff);
    }
    const std::string ip6 = std::string(15, '\x20') + "\x02";
    entries.peers.push_back({ip6, 0x0102, {}});
    compact.compact_peers6 = ip6 + "\x01\x02";
    std::string out = "previous content";
    udp::encode_announce(5, compact, false, out);
    EXPECT_EQ(out, udp::encode_announce(5, entries, false));
    EXPECT_EQ(out.size(), 20u + 50u * 6u);
    udp::encode_announce(5, compact, true, out);
    EXPECT_EQ(out, udp::encode_announce(5, entries, true));
    EXPECT_EQ(out.size(), 20u + 18u);

    compact.compact_peers += "\x0b\x0c\x0d";  // half an entry: never sent
    EXPECT_EQ(udp::encode_announce(5, compact, false), udp::encode_announce(5, entries, false));
    compact.error = tracker::errc::unknown_torrent;
    compact.failure_reason = "torrent is not registered with this tracker";
    EXPECT_EQ(udp::encode_announce(6, compact, false),
              udp::encode_error(6, compact.failure_reason));
}
