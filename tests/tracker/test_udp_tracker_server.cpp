#include <imsp2p/tracker/udp_tracker_server.hpp>

#include "tracker_test_support.hpp"

#include <imsp2p/tracker/udp_packet.hpp>

#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/udp.hpp>

#include <gtest/gtest.h>

#include <poll.h>

#include <atomic>
#include <memory>
#include <optional>
#include <string>
#include <thread>

namespace tracker = imsp2p::tracker;
namespace udp = imsp2p::tracker::udp;
namespace net = boost::asio;
using imsp2p::core::ticket_role;
using namespace tracker_test;

namespace {

void put(std::string& out, std::uint64_t value, std::size_t size) {
    for (std::size_t i = size; i > 0; --i) {
        out += static_cast<char>((value >> (8 * (i - 1))) & 0xffU);
    }
}

std::uint64_t get(const std::string& in, std::size_t offset, std::size_t size) {
    std::uint64_t value = 0;
    for (std::size_t i = 0; i < size; ++i) {
        value = (value << 8U) | static_cast<unsigned char>(in.at(offset + i));
    }
    return value;
}

/** A UDP tracker client on its own loopback socket. */
class client {
  public:
    explicit client(std::uint16_t server_port, const char* address = "127.0.0.1")
        : socket_(io_, net::ip::udp::endpoint(net::ip::make_address(address), 0)),
          server_(net::ip::make_address(address), server_port) {}

    /** Sends a datagram; returns the answer, or nullopt after `wait` without one. */
    std::optional<std::string> exchange(const std::string& packet, int wait_ms = 2000) {
        socket_.send_to(net::buffer(packet), server_);
        pollfd descriptor{socket_.native_handle(), POLLIN, 0};
        if (::poll(&descriptor, 1, wait_ms) != 1) {
            return std::nullopt;
        }
        std::string buffer(65536, '\0');
        net::ip::udp::endpoint from;
        const std::size_t size = socket_.receive_from(net::buffer(buffer), from);
        buffer.resize(size);
        return buffer;
    }

    std::uint64_t connect() {
        std::string packet;
        put(packet, udp::protocol_id, 8);
        put(packet, 0, 4);
        put(packet, 4242, 4);
        const auto answer = exchange(packet);
        EXPECT_TRUE(answer.has_value());
        if (!answer || answer->size() != 16) {
            return 0;
        }
        EXPECT_EQ(get(*answer, 0, 4), 0u);
        EXPECT_EQ(get(*answer, 4, 4), 4242u);
        return get(*answer, 8, 8);
    }

    static std::string announce(std::uint64_t connection_id, const std::string& ticket, char peer,
                                std::uint64_t left, std::uint16_t port = 6881,
                                const std::string& info_hash = hash_of('a')) {
        std::string out;
        put(out, connection_id, 8);
        put(out, 1, 4);
        put(out, 99, 4);
        out += info_hash;
        out += std::string(20, peer);
        put(out, 0, 8);
        put(out, left, 8);
        put(out, 0, 8);
        put(out, 2, 4);
        put(out, 0, 4);
        put(out, 0, 4);
        put(out, 0xffffffff, 4);
        put(out, port, 2);
        if (!ticket.empty()) {
            // The path split into URL data chunks of at most 100 bytes.
            const std::string path = "/announce/" + ticket;
            for (std::size_t at = 0; at < path.size(); at += 100) {
                const std::string chunk = path.substr(at, 100);
                out += '\x02';
                out += static_cast<char>(chunk.size());
                out += chunk;
            }
            out += '\x00';
        }
        return out;
    }

    static std::string scrape(std::uint64_t connection_id, const std::string& hashes) {
        std::string out;
        put(out, connection_id, 8);
        put(out, 2, 4);
        put(out, 7, 4);
        return out + hashes;
    }

    [[nodiscard]] std::uint16_t port() const { return socket_.local_endpoint().port(); }

  private:
    net::io_context io_;
    net::ip::udp::socket socket_;
    net::ip::udp::endpoint server_;
};

std::string error_text(const std::optional<std::string>& answer) {
    if (!answer || answer->size() < 8 || get(*answer, 0, 4) != 3) {
        return "<not an error response>";
    }
    return answer->substr(8);
}

class UdpTrackerServer : public ::testing::Test {
  protected:
    void SetUp() override { start("127.0.0.1"); }

    void start(const char* address) {
        service_ = tracker::tracker_service::open(settings());
        service_->register_torrent({hash_of('a'), {}, "10.5555/u", tracker::torrent_state::active});
        tracker::udp_server_settings udp_settings;
        udp_settings.bind_address = address;
        udp_settings.port = 0;
        udp_settings.clock = [this] {
            return std::chrono::system_clock::now() + std::chrono::seconds(offset_.load());
        };
        server_ = std::make_unique<tracker::udp_tracker_server>(
            *service_, udp_settings, imsp2p::core::logger("tracker.udp.test"));
        server_->start();
        ASSERT_NE(server_->port(), 0);
        thread_ = std::thread([this] { server_->run(); });
    }

    void TearDown() override {
        server_->stop();
        thread_.join();
        server_.reset();
    }

    std::string leech_ =
        ticket({hex(hash_of('a'))}, ticket_role::leech, std::chrono::system_clock::now());
    std::string seed_ =
        ticket({hex(hash_of('a'))}, ticket_role::seed, std::chrono::system_clock::now());
    std::atomic<std::int64_t> offset_{0};
    std::unique_ptr<tracker::tracker_service> service_;
    std::unique_ptr<tracker::udp_tracker_server> server_;
    std::thread thread_;
};

}  // namespace

TEST_F(UdpTrackerServer, AnnouncesAndScrapesOverIpv4WithTheTicketInSplitUrlData) {
    client seeder(server_->port());
    const auto answer = seeder.exchange(client::announce(seeder.connect(), seed_, 's', 0));
    ASSERT_TRUE(answer.has_value());
    ASSERT_EQ(get(*answer, 0, 4), 1u) << error_text(answer);
    EXPECT_EQ(get(*answer, 4, 4), 99u);
    EXPECT_EQ(get(*answer, 8, 4), 1800u);  // interval
    EXPECT_EQ(get(*answer, 16, 4), 1u);    // seeders

    client leecher(server_->port());
    const auto second = leecher.exchange(client::announce(leecher.connect(), leech_, 'l', 9, 7000));
    ASSERT_TRUE(second.has_value());
    ASSERT_EQ(get(*second, 0, 4), 1u) << error_text(second);
    EXPECT_EQ(get(*second, 12, 4), 1u);  // leechers
    EXPECT_EQ(get(*second, 16, 4), 1u);  // seeders
    ASSERT_EQ(second->size(), 26u);
    EXPECT_EQ(second->substr(20), std::string("\x7f\0\0\x01\x1a\xe1", 6));

    const auto scraped =
        leecher.exchange(client::scrape(leecher.connect(), hash_of('a') + hash_of('q')));
    ASSERT_TRUE(scraped.has_value());
    ASSERT_EQ(get(*scraped, 0, 4), 2u) << error_text(scraped);
    ASSERT_EQ(scraped->size(), 8u + 24u);
    EXPECT_EQ(get(*scraped, 8, 4), 1u);    // seeders
    EXPECT_EQ(get(*scraped, 16, 4), 1u);   // leechers
    EXPECT_EQ(get(*scraped, 20, 12), 0u);  // the unknown hash: zeros
    const auto stats = service_->stats(hash_of('a'), std::chrono::system_clock::now());
    EXPECT_EQ(stats->seeders, 1u);
    EXPECT_EQ(stats->leechers, 1u);
    EXPECT_EQ(server_->counters().scrapes, 1u);
}

TEST_F(UdpTrackerServer, RefusesForgedBorrowedAndExpiredConnectionIds) {
    client peer(server_->port());
    const auto forged = peer.exchange(client::announce(0x0123456789abcdefULL, leech_, 'l', 1));
    EXPECT_EQ(error_text(forged), "connection id is invalid or expired: connect again");
    // An id granted to another client (address and port) is not valid for this one.
    client other(server_->port());
    const std::uint64_t others_id = other.connect();
    const auto borrowed = peer.exchange(client::announce(others_id, leech_, 'l', 1));
    EXPECT_EQ(error_text(borrowed), "connection id is invalid or expired: connect again");
    EXPECT_EQ(service_->stats(hash_of('a'), std::chrono::system_clock::now())->leechers, 0u);

    // Valid in its slot and the next one (slots of 120 s), refused after.
    const std::uint64_t id = peer.connect();
    offset_ = 120;
    const auto next_slot = peer.exchange(client::announce(id, leech_, 'l', 1));
    ASSERT_TRUE(next_slot.has_value());
    EXPECT_EQ(get(*next_slot, 0, 4), 1u) << error_text(next_slot);
    offset_ = 240;
    const auto expired = peer.exchange(client::announce(id, leech_, 'l', 1));
    EXPECT_EQ(error_text(expired), "connection id is invalid or expired: connect again");
    EXPECT_EQ(server_->counters().bad_connection_ids, 3u);
}

TEST_F(UdpTrackerServer, RequiresATicketAndPassesOnTheTrackersRefusals) {
    client peer(server_->port());
    const std::uint64_t id = peer.connect();
    const auto bare = peer.exchange(client::announce(id, "", 'l', 1));
    EXPECT_EQ(error_text(bare).rfind("ticket required", 0), 0u) << error_text(bare);
    const auto other = peer.exchange(client::announce(
        id, ticket({hex(hash_of('z'))}, ticket_role::leech, std::chrono::system_clock::now()), 'l',
        1));
    EXPECT_EQ(error_text(other), "ticket rejected: it does not cover this torrent");
    const auto expired = peer.exchange(
        client::announce(id,
                         ticket({hex(hash_of('a'))}, ticket_role::leech,
                                std::chrono::system_clock::now() - std::chrono::hours(3)),
                         'l', 1));
    EXPECT_EQ(error_text(expired).rfind("ticket rejected", 0), 0u) << error_text(expired);
    const auto scrape = peer.exchange(client::scrape(id, hash_of('a')));
    EXPECT_EQ(error_text(scrape), "ticket required: announce with a ticket before scraping");

    service_->set_state(hash_of('a'), tracker::torrent_state::disabled);
    const auto disabled = peer.exchange(client::announce(id, leech_, 'l', 1));
    EXPECT_EQ(error_text(disabled), "torrent has been disabled by the operator");
    EXPECT_GE(service_->totals(std::chrono::system_clock::now()).refusals, 4u);
}

TEST_F(UdpTrackerServer, AnswersMalformedDatagramsWithAnErrorOrDropsThemAndKeepsState) {
    client seeder(server_->port());
    ASSERT_EQ(get(*seeder.exchange(client::announce(seeder.connect(), seed_, 's', 0)), 0, 4), 1u);
    client peer(server_->port());
    const std::uint64_t id = peer.connect();

    EXPECT_FALSE(peer.exchange(std::string(10, 'x'), 300).has_value());  // dropped
    std::string unknown;
    put(unknown, id, 8);
    put(unknown, 7, 4);
    put(unknown, 1, 4);
    EXPECT_EQ(error_text(peer.exchange(unknown)), "malformed request: unknown action 7");
    std::string truncated = client::announce(id, "", 'l', 1) + "\x02\x30" + "/announce/";
    EXPECT_EQ(error_text(peer.exchange(truncated)),
              "malformed request: option 2 claims 48 bytes, only 10 remain");
    EXPECT_EQ(error_text(peer.exchange(client::announce(id, leech_, 'l', 1, 0))),
              "malformed request: port must be 1..65535");
    std::string bad_connect;
    put(bad_connect, 1, 8);
    put(bad_connect, 0, 4);
    put(bad_connect, 1, 4);
    EXPECT_EQ(error_text(peer.exchange(bad_connect)),
              "malformed request: connect does not carry the protocol id 0x41727101980");

    const auto stats = service_->stats(hash_of('a'), std::chrono::system_clock::now());
    EXPECT_EQ(stats->seeders, 1u);
    EXPECT_EQ(stats->leechers, 0u);
    EXPECT_EQ(server_->counters().dropped, 1u);
    // The server still serves.
    const auto fine = peer.exchange(client::announce(id, leech_, 'l', 1));
    EXPECT_EQ(get(*fine, 0, 4), 1u) << error_text(fine);
}

TEST(UdpTrackerServerIpv6, AnswersIpv6AnnouncesWithEighteenBytePeers) {
    auto service = tracker::tracker_service::open(settings());
    service->register_torrent({hash_of('a'), {}, "", tracker::torrent_state::active});
    tracker::udp_server_settings udp_settings;
    udp_settings.bind_address = "::1";
    udp_settings.port = 0;
    tracker::udp_tracker_server server(*service, udp_settings, imsp2p::core::logger("t"));
    std::error_code ec;
    server.start(ec);
    if (ec) {
        GTEST_SKIP() << "no IPv6 loopback: " << ec.message();
    }
    std::thread runner([&server] { server.run(); });
    const auto now = std::chrono::system_clock::now();
    client seeder(server.port(), "::1");
    const auto first = seeder.exchange(client::announce(
        seeder.connect(), ticket({hex(hash_of('a'))}, ticket_role::seed, now), 's', 0, 6000));
    EXPECT_EQ(get(*first, 0, 4), 1u) << error_text(first);
    client leecher(server.port(), "::1");
    const auto second = leecher.exchange(client::announce(
        leecher.connect(), ticket({hex(hash_of('a'))}, ticket_role::leech, now), 'l', 5));
    ASSERT_TRUE(second.has_value());
    ASSERT_EQ(get(*second, 0, 4), 1u) << error_text(second);
    ASSERT_EQ(second->size(), 20u + 18u);
    EXPECT_EQ(second->substr(20), std::string(15, '\0') + "\x01\x17\x70");
    server.stop();
    runner.join();
}

// Scrapes are admitted by the ticket of the endpoint's last admitted announce: announcing again
// with another ticket of the same size (the common case of a renewed ticket) replaces it.
TEST_F(UdpTrackerServer, ScrapesWithTheTicketOfTheLastAnnounceEvenWhenItHasTheSameSize) {
    service_->register_torrent({hash_of('b'), {}, "10.5555/b", tracker::torrent_state::active});
    const auto now = std::chrono::system_clock::now();
    client seeder(server_->port());
    const auto seeded = seeder.exchange(
        client::announce(seeder.connect(), ticket({hex(hash_of('b'))}, ticket_role::seed, now), 's',
                         0, 6881, hash_of('b')));
    ASSERT_EQ(get(*seeded, 0, 4), 1u) << error_text(seeded);

    const std::string covers_a_c =
        ticket({hex(hash_of('a')), hex(hash_of('c'))}, ticket_role::leech, now);
    const std::string covers_a_b =
        ticket({hex(hash_of('a')), hex(hash_of('b'))}, ticket_role::leech, now);
    ASSERT_EQ(covers_a_c.size(), covers_a_b.size());
    client peer(server_->port());
    const std::uint64_t id = peer.connect();
    const auto seeders_of_b = [&] {
        const auto scraped = peer.exchange(client::scrape(id, hash_of('b')));
        EXPECT_EQ(get(*scraped, 0, 4), 2u) << error_text(scraped);
        return scraped && scraped->size() == 20 ? get(*scraped, 8, 4) : 99u;
    };
    ASSERT_EQ(get(*peer.exchange(client::announce(id, covers_a_c, 'l', 1)), 0, 4), 1u);
    EXPECT_EQ(seeders_of_b(), 0u);  // 'b' is not covered: zeros
    ASSERT_EQ(get(*peer.exchange(client::announce(id, covers_a_b, 'l', 1)), 0, 4), 1u);
    EXPECT_EQ(seeders_of_b(), 1u);
    ASSERT_EQ(get(*peer.exchange(client::announce(id, covers_a_c, 'l', 1)), 0, 4), 1u);
    EXPECT_EQ(seeders_of_b(), 0u);
}
