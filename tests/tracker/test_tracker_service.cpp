#include <imsp2p/tracker/tracker_service.hpp>

#include "tracker_test_support.hpp"

#include <imsp2p/tracker/bencode.hpp>
#include <imsp2p/tracker/error.hpp>

#include <gtest/gtest.h>

#include <array>
#include <filesystem>
#include <set>
#include <string>

namespace tracker = imsp2p::tracker;
using imsp2p::core::ticket_role;
using namespace tracker_test;

namespace {

tracker::peer_address ipv4(unsigned char last) {
    return {std::string("\x0a\x00\x00", 3) + static_cast<char>(last)};
}

class TrackerService : public ::testing::Test {
  protected:
    void SetUp() override {
        service_ = tracker::tracker_service::open(settings());
        service_->register_torrent({hash_of('a'), {}, "10.5555/a", tracker::torrent_state::active});
    }

    tracker::announce_request request(const std::string& ticket_text, char peer,
                                      std::uint64_t left = 100,
                                      const std::string& info_hash = hash_of('a')) {
        tracker::announce_request out;
        out.ticket = ticket_text;
        out.info_hash = info_hash;
        out.peer_id = std::string(20, peer);
        out.port = 6881;
        out.left = left;
        out.compact = false;  // the tests identify peers by their ids
        return out;
    }

    tracker::announce_result announce(const tracker::announce_request& request,
                                      unsigned char address = 1) {
        return service_->announce(request, ipv4(address), test_now());
    }

    std::string leech_ = ticket({hex(hash_of('a'))}, ticket_role::leech);
    std::string seed_ = ticket({hex(hash_of('a'))}, ticket_role::seed);
    std::string operator_ = ticket({hex(hash_of('a'))}, ticket_role::operator_seed);
    std::unique_ptr<tracker::tracker_service> service_;
};

}  // namespace

TEST_F(TrackerService, AdmitsTicketedPeersAndHandsOutOnlyAdmittedPeers) {
    auto first = announce(request(seed_, 's', 0), 1);
    ASSERT_FALSE(first.error) << first.failure_reason;
    EXPECT_TRUE(first.peers.empty());
    EXPECT_EQ(first.complete, 1u);
    EXPECT_EQ(first.interval, std::chrono::seconds(1800));
    auto second = announce(request(leech_, 'l'), 2);
    ASSERT_FALSE(second.error);
    ASSERT_EQ(second.peers.size(), 1u);
    EXPECT_EQ(second.peers[0].peer_id, std::string(20, 's'));
    EXPECT_EQ(second.peers[0].ip, ipv4(1).ip);
    EXPECT_EQ(second.complete, 1u);
    EXPECT_EQ(second.incomplete, 1u);
    // A refused peer is never recorded.
    announce(request("", 'x'), 3);
    EXPECT_EQ(service_->stats(hash_of('a'), test_now())->leechers, 1u);
}

TEST_F(TrackerService, RefusesEveryInadmissibleAnnounceWithAPreciseReason) {
    const auto expect_refusal = [&](const tracker::announce_request& r, tracker::errc code,
                                    const std::string& reason_part) {
        const auto result = announce(r);
        EXPECT_EQ(result.error, code) << result.failure_reason;
        EXPECT_NE(result.failure_reason.find(reason_part), std::string::npos)
            << result.failure_reason;
        EXPECT_TRUE(result.peers.empty());
    };
    expect_refusal(request("", 'p'), tracker::errc::missing_ticket, "missing ticket");
    expect_refusal(request("not-a-jwt", 'p'), tracker::errc::ticket_rejected, "ticket rejected");
    expect_refusal(
        request(ticket({hex(hash_of('a'))}, ticket_role::leech, test_now() - std::chrono::hours(3)),
                'p'),
        tracker::errc::ticket_rejected, "ticket rejected");
    const imsp2p::core::ticket_issuer stranger(imsp2p::core::ed25519_private_key::generate(),
                                               "other", "sip:evil.example");
    expect_refusal(request(ticket({hex(hash_of('a'))}, ticket_role::leech, test_now(), "tracker",
                                  3600s, stranger),
                           'p'),
                   tracker::errc::ticket_rejected, "ticket rejected");
    expect_refusal(request(ticket({hex(hash_of('a'))}, ticket_role::leech, test_now(), "drm"), 'p'),
                   tracker::errc::ticket_rejected, "ticket rejected");
    expect_refusal(request(ticket({hex(hash_of('b'))}, ticket_role::leech), 'p'),
                   tracker::errc::ticket_rejected, "does not cover this torrent");
    expect_refusal(request(ticket({hex(hash_of('a'))}, ticket_role::service), 'p'),
                   tracker::errc::ticket_rejected, "role");
    expect_refusal(request(ticket({hex(hash_of('a'))}, std::nullopt), 'p'),
                   tracker::errc::ticket_rejected, "role");
    expect_refusal(request(ticket({hex(hash_of('c'))}, ticket_role::leech), 'p', 1, hash_of('c')),
                   tracker::errc::unknown_torrent, "not registered");
    service_->set_state(hash_of('a'), tracker::torrent_state::disabled);
    expect_refusal(request(leech_, 'p'), tracker::errc::torrent_disabled, "disabled");
    EXPECT_GE(service_->totals(test_now()).refusals, 10u);
}

TEST_F(TrackerService, MatchesV2HashesTruncatedAsBep52Says) {
    const std::string v2(32, 'V');
    service_->register_torrent({{}, v2, "10.5555/v2", tracker::torrent_state::active});
    const std::string full_ticket = ticket({hex(v2)}, ticket_role::leech);
    const auto result = announce(request(full_ticket, 'p', 1, v2.substr(0, 20)));
    EXPECT_FALSE(result.error) << result.failure_reason;
    std::error_code ec;
    service_->register_torrent({{}, v2, "", tracker::torrent_state::active}, ec);
    EXPECT_EQ(ec, tracker::errc::already_registered);
    service_->register_torrent({v2.substr(0, 20), {}, "", tracker::torrent_state::active}, ec);
    EXPECT_EQ(ec, tracker::errc::already_registered);
    service_->register_torrent({"short", {}, "", tracker::torrent_state::active}, ec);
    EXPECT_EQ(ec, tracker::errc::bad_infohash);
    service_->register_torrent({}, ec);
    EXPECT_EQ(ec, tracker::errc::bad_infohash);
    service_->set_state(hash_of('z'), tracker::torrent_state::muted, ec);
    EXPECT_EQ(ec, tracker::errc::unknown_torrent);
}

TEST_F(TrackerService, MutedSwarmsGivePeersOnlyToOperatorSeeders) {
    service_->set_state(hash_of('a'), tracker::torrent_state::muted);
    ASSERT_FALSE(announce(request(seed_, 's', 0), 1).error);
    const auto leecher = announce(request(leech_, 'l'), 2);
    EXPECT_FALSE(leecher.error);
    EXPECT_TRUE(leecher.peers.empty());
    const auto box = announce(request(operator_, 'o'), 3);
    EXPECT_FALSE(box.error);
    EXPECT_EQ(box.peers.size(), 2u);
    service_->set_state(hash_of('a'), tracker::torrent_state::active);
    EXPECT_EQ(announce(request(leech_, 'l'), 2).peers.size(), 2u);
}

TEST_F(TrackerService, OffersOperatorSeedersFirstAndCapsNumwant) {
    for (char c = 'a'; c < 'k'; ++c) {
        ASSERT_FALSE(announce(request(leech_, c), 10).error);
    }
    ASSERT_FALSE(announce(request(operator_, 'O', 0), 20).error);
    auto wanting = request(leech_, 'z');
    wanting.numwant = 3;
    const auto result = announce(wanting);
    ASSERT_EQ(result.peers.size(), 3u);
    EXPECT_EQ(result.peers[0].peer_id, std::string(20, 'O'));
    wanting.numwant = 100000;
    EXPECT_EQ(announce(wanting).peers.size(), 11u);
    wanting.compact = true;  // compact answers carry no peer ids, so none are copied
    const auto compact = announce(wanting);
    ASSERT_EQ(compact.peers.size(), 11u);
    EXPECT_TRUE(compact.peers[0].peer_id.empty());
    EXPECT_EQ(compact.peers[0].ip.size(), 4u);
}

TEST_F(TrackerService, CountsCompletionsOncePerPeerAndForgetsStoppedPeers) {
    auto done = request(leech_, 'l', 0);
    done.event = tracker::announce_event::completed;
    announce(done);
    announce(done);
    auto stats = service_->stats(hash_of('a'), test_now());
    EXPECT_EQ(stats->completed, 1u);
    EXPECT_EQ(stats->seeders, 1u);
    done.event = tracker::announce_event::stopped;
    const auto result = announce(done);
    EXPECT_TRUE(result.peers.empty());
    stats = service_->stats(hash_of('a'), test_now());
    EXPECT_EQ(stats->seeders, 0u);
    EXPECT_EQ(stats->completed, 1u);
}

// A swarm stores its peers contiguously and fills the hole a stopped peer leaves with its last
// peer: every other peer must stay findable by its id (no duplicate on its next announce) and
// the stopped one must not be handed out.
TEST_F(TrackerService, StoppingOnePeerKeepsTheOthersFindableByTheirIds) {
    for (const char peer : {'a', 'b', 'c', 'd'}) {
        ASSERT_FALSE(announce(request(leech_, peer), 10).error);
    }
    auto stop = request(leech_, 'a');
    stop.event = tracker::announce_event::stopped;
    ASSERT_FALSE(announce(stop, 10).error);
    for (const char peer : {'d', 'c', 'b'}) {
        ASSERT_FALSE(announce(request(leech_, peer), 10).error);
    }
    EXPECT_EQ(service_->stats(hash_of('a'), test_now())->leechers, 3u);
    const auto result = announce(request(leech_, 'b'), 10);
    ASSERT_EQ(result.peers.size(), 2u);
    for (const auto& handed : result.peers) {
        EXPECT_TRUE(handed.peer_id == std::string(20, 'c') ||
                    handed.peer_id == std::string(20, 'd'))
            << handed.peer_id;
    }
}

TEST_F(TrackerService, KeepsAnotherSubscribersPeerIdFromBeingTakenOverOrStopped) {
    ASSERT_FALSE(announce(request(leech_, 'l'), 1).error);
    imsp2p::core::ticket_claims claims;
    claims.subject = "sip:mallory@ims.example";
    claims.audience = "tracker";
    claims.issued_at = std::chrono::time_point_cast<std::chrono::seconds>(test_now());
    claims.expires_at = claims.issued_at + 3600s;
    claims.infohashes = {hex(hash_of('a'))};
    claims.role = ticket_role::leech;
    auto hijack = request(as_issuer().issue(claims), 'l');
    hijack.event = tracker::announce_event::stopped;
    const auto result = announce(hijack, 66);
    EXPECT_EQ(result.error, tracker::errc::bad_announce);
    EXPECT_EQ(result.failure_reason, "peer_id is in use by another subscriber");
    const auto stats = service_->stats(hash_of('a'), test_now());
    EXPECT_EQ(stats->leechers, 1u);
    // Once the first peer has expired, the peer id is free again.
    hijack.event = tracker::announce_event::started;
    EXPECT_FALSE(service_->announce(hijack, ipv4(66), test_now() + std::chrono::hours(1)).error);
}

TEST_F(TrackerService, AnnouncesIntoAReusedResultAndRefusesBadPeerIds) {
    tracker::announce_result result;
    service_->announce(request(seed_, 's', 0), ipv4(1), test_now(), result);
    ASSERT_FALSE(result.error) << result.failure_reason;
    EXPECT_EQ(result.complete, 1u);
    EXPECT_TRUE(result.peers.empty());
    service_->announce(request(leech_, 'l'), ipv4(2), test_now(), result);
    ASSERT_FALSE(result.error);
    ASSERT_EQ(result.peers.size(), 1u);
    EXPECT_EQ(result.peers[0].peer_id, std::string(20, 's'));
    EXPECT_EQ(result.peers[0].ip, ipv4(1).ip);
    // A refusal into the same result: every member is overwritten.
    auto short_id = request(leech_, 'x');
    short_id.peer_id = "short";
    service_->announce(short_id, ipv4(3), test_now(), result);
    EXPECT_EQ(result.error, tracker::errc::bad_announce);
    EXPECT_EQ(result.failure_reason, "invalid announce: peer_id must be 20 bytes");
    EXPECT_TRUE(result.peers.empty());
    EXPECT_EQ(result.complete, 0u);
    // ... and a success after it clears the refusal.
    service_->announce(request(leech_, 'l'), ipv4(2), test_now(), result);
    EXPECT_FALSE(result.error);
    EXPECT_TRUE(result.failure_reason.empty());
    EXPECT_EQ(result.peers.size(), 1u);
    EXPECT_EQ(service_->stats(hash_of('a'), test_now())->leechers, 1u);
}

TEST_F(TrackerService, HandsOutADistinctRandomSubsetAndOnlyLeechersToSeeders) {
    // 40 leechers and 20 seeders.
    for (int i = 0; i < 60; ++i) {
        auto join = request(i < 40 ? leech_ : seed_, 'p', i < 40 ? 100 : 0);
        join.peer_id = "peer-" + std::to_string(1000 + i) + std::string(11, '-');
        join.port = static_cast<std::uint16_t>(7000 + i);
        ASSERT_FALSE(service_->announce(join, ipv4(10), test_now()).error);
    }
    std::set<std::string> seen;
    for (int round = 0; round < 8; ++round) {
        auto asking = request(leech_, 'p', 100);
        asking.peer_id = "peer-1000" + std::string(11, '-');  // the first leecher
        asking.numwant = 10;
        const auto result = service_->announce(asking, ipv4(10), test_now());
        ASSERT_FALSE(result.error);
        EXPECT_EQ(result.complete, 20u);
        EXPECT_EQ(result.incomplete, 40u);
        ASSERT_EQ(result.peers.size(), 10u);
        std::set<std::string> distinct;
        for (const auto& peer : result.peers) {
            EXPECT_NE(peer.peer_id, asking.peer_id);  // never itself
            distinct.insert(peer.peer_id);
            seen.insert(peer.peer_id);
        }
        EXPECT_EQ(distinct.size(), 10u);
        // A large share (40 of 59): drawn in one ordered pass; still distinct and not itself.
        asking.numwant = 40;
        const auto many = service_->announce(asking, ipv4(10), test_now());
        std::set<std::string> many_distinct;
        for (const auto& peer : many.peers) {
            EXPECT_NE(peer.peer_id, asking.peer_id);
            many_distinct.insert(peer.peer_id);
        }
        EXPECT_EQ(many_distinct.size(), 40u);
    }
    // Eight draws of 10 out of 59: far more than 10 different peers (all equal: ~1e-70).
    EXPECT_GT(seen.size(), 20u);

    auto seeder = request(seed_, 'p', 0);
    seeder.peer_id = "peer-1059" + std::string(11, '-');
    seeder.numwant = 200;
    const auto for_seeder = service_->announce(seeder, ipv4(10), test_now());
    ASSERT_EQ(for_seeder.peers.size(), 40u);  // every leecher, no seeder
    for (const auto& peer : for_seeder.peers) {
        EXPECT_LT(std::stoi(peer.peer_id.substr(5, 4)), 1040) << peer.peer_id;
    }
}

TEST_F(TrackerService, CountsAndHandsOutOnlyLivePeersAcrossExpiries) {
    // a at t, b at t + 30 min, then c at t + 50 min: a (45 min expiry) is gone.
    ASSERT_FALSE(service_->announce(request(leech_, 'a'), ipv4(1), test_now()).error);
    ASSERT_FALSE(
        service_->announce(request(leech_, 'b'), ipv4(2), test_now() + std::chrono::minutes(30))
            .error);
    const auto later =
        service_->announce(request(leech_, 'c'), ipv4(3), test_now() + std::chrono::minutes(50));
    ASSERT_FALSE(later.error);
    EXPECT_EQ(later.incomplete, 2u);
    ASSERT_EQ(later.peers.size(), 1u);
    EXPECT_EQ(later.peers[0].peer_id, std::string(20, 'b'));
    // 'a' comes back: a new peer again, and 'b' is still live.
    const auto back =
        service_->announce(request(leech_, 'a'), ipv4(1), test_now() + std::chrono::minutes(51));
    EXPECT_EQ(back.incomplete, 3u);
    EXPECT_EQ(back.peers.size(), 2u);
    // Many peers leave one by one (stopped) and the rest stay findable by their ids.
    for (char c = 'd'; c <= 'z'; ++c) {
        ASSERT_FALSE(
            service_->announce(request(leech_, c), ipv4(4), test_now() + std::chrono::minutes(52))
                .error);
    }
    for (char c = 'd'; c <= 'z'; c += 2) {
        auto stop = request(leech_, c);
        stop.event = tracker::announce_event::stopped;
        ASSERT_FALSE(
            service_->announce(stop, ipv4(4), test_now() + std::chrono::minutes(53)).error);
    }
    for (char c = 'e'; c <= 'z'; c += 2) {
        // Announcing again finds the same peer (no duplicate is added).
        ASSERT_FALSE(
            service_->announce(request(leech_, c), ipv4(4), test_now() + std::chrono::minutes(54))
                .error);
    }
    const auto stats = service_->stats(hash_of('a'), test_now() + std::chrono::minutes(54));
    EXPECT_EQ(stats->leechers, 3u + 11u);
}

TEST_F(TrackerService, EncodesCompactAnswersCanonically) {
    announce(request(seed_, 's', 0), 1);
    auto compact = request(leech_, 'l');
    compact.compact = true;
    const auto result = announce(compact, 2);
    const std::string body = tracker::encode_announce_response(result, true, false);
    const auto decoded = tracker::bdecode(body);
    EXPECT_EQ(tracker::bencode(decoded), body);  // keys in order, nothing extra
    EXPECT_EQ(decoded.find("peers")->string(), std::string("\x0a\0\0\x01\x1a\xe1", 6));
    EXPECT_EQ(decoded.find("complete")->integer(), 1);
    EXPECT_EQ(decoded.find("incomplete")->integer(), 1);
    EXPECT_EQ(decoded.find("min interval")->integer(), 300);
    EXPECT_EQ(decoded.find("peers6"), nullptr);
}

TEST_F(TrackerService, DropsExpiredPeers) {
    announce(request(leech_, 'l'));
    EXPECT_EQ(service_->expire_peers(test_now() + std::chrono::minutes(10)), 0u);
    EXPECT_EQ(service_->stats(hash_of('a'), test_now() + std::chrono::hours(1))->leechers, 0u);
    EXPECT_EQ(service_->expire_peers(test_now() + std::chrono::hours(1)), 1u);
}

TEST_F(TrackerService, DisablingDropsThePeers) {
    announce(request(leech_, 'l'));
    service_->set_state(hash_of('a'), tracker::torrent_state::disabled);
    service_->set_state(hash_of('a'), tracker::torrent_state::active);
    EXPECT_EQ(service_->stats(hash_of('a'), test_now())->leechers, 0u);
}

TEST_F(TrackerService, ScrapesOnlyCoveredTorrentsWithATicket) {
    announce(request(seed_, 's', 0));
    std::string reason;
    EXPECT_TRUE(service_->scrape({"", {hash_of('a')}}, test_now(), reason).empty());
    EXPECT_NE(reason.find("missing ticket"), std::string::npos);
    auto files = service_->scrape({leech_, {hash_of('a'), hash_of('b')}}, test_now(), reason);
    EXPECT_TRUE(reason.empty());
    ASSERT_EQ(files.size(), 1u);
    EXPECT_EQ(files[0].second.seeders, 1u);
    files = service_->scrape({leech_, {}}, test_now(), reason);
    EXPECT_EQ(files.size(), 1u);
}

TEST_F(TrackerService, EncodesCompactIpv6AndDictionaryPeers) {
    tracker::announce_result result;
    result.interval = std::chrono::seconds(60);
    result.peers.push_back({std::string("\x7f\0\0\x01", 4), 0x1AE1, std::string(20, 'a')});
    result.peers.push_back({std::string(15, '\0') + "\x01", 80, std::string(20, 'b')});
    const auto compact = tracker::bdecode(tracker::encode_announce_response(result, true, true));
    EXPECT_EQ(compact.find("peers")->string(), std::string("\x7f\0\0\x01\x1a\xe1", 6));
    EXPECT_EQ(compact.find("peers6")->string().size(), 18u);
    EXPECT_EQ(compact.find("interval")->integer(), 60);
    const auto full = tracker::bdecode(tracker::encode_announce_response(result, false, true));
    const auto& peers = full.find("peers")->list();
    ASSERT_EQ(peers.size(), 2u);
    EXPECT_EQ(peers[0].find("ip")->string(), "127.0.0.1");
    EXPECT_EQ(peers[0].find("port")->integer(), 6881);
    EXPECT_EQ(peers[1].find("ip")->string(), "0000:0000:0000:0000:0000:0000:0000:0001");
    EXPECT_EQ(peers[1].find("peer id")->string(), std::string(20, 'b'));
    result.error = tracker::errc::torrent_disabled;
    result.failure_reason = "torrent has been disabled by the operator";
    const auto failure = tracker::bdecode(tracker::encode_announce_response(result, true, true));
    EXPECT_EQ(failure.find("failure reason")->string(), result.failure_reason);
    EXPECT_EQ(failure.find("peers"), nullptr);
}

TEST(TrackerServicePersistence, KeepsTorrentsStatesAndCompletionsAcrossRestarts) {
    const auto directory =
        std::filesystem::temp_directory_path() /
        ("imsp2p-tracker-test-" + imsp2p::core::to_hex(imsp2p::core::random_bytes(8)));
    std::filesystem::create_directories(directory);
    const auto database = directory / "tracker.sqlite";
    const std::string leech = ticket({hex(hash_of('a'))}, ticket_role::leech);
    {
        auto service = tracker::tracker_service::open(settings(database));
        service->register_torrent(
            {hash_of('a'), std::string(32, 'B'), "10.5555/p", tracker::torrent_state::muted});
        tracker::announce_request done;
        done.ticket = leech;
        done.info_hash = hash_of('a');
        done.peer_id = std::string(20, 'p');
        done.port = 1;
        done.event = tracker::announce_event::completed;
        ASSERT_FALSE(service->announce(done, {std::string(4, '\x01')}, test_now()).error);
    }
    {
        auto service = tracker::tracker_service::open(settings(database));
        const auto stats = service->stats(hash_of('a'), test_now());
        ASSERT_TRUE(stats.has_value());
        EXPECT_EQ(stats->torrent.state, tracker::torrent_state::muted);
        EXPECT_EQ(stats->torrent.doi, "10.5555/p");
        EXPECT_EQ(stats->torrent.info_hash_v2, std::string(32, 'B'));
        EXPECT_EQ(stats->completed, 1u);
        EXPECT_EQ(stats->leechers + stats->seeders, 0u);  // live peers are not persisted
        EXPECT_TRUE(service->stats(std::string(32, 'B'), test_now()).has_value());
        EXPECT_EQ(service->list(test_now()).size(), 1u);
    }
    std::filesystem::remove_all(directory);
}

TEST(TorrentState, RoundTripsItsNames) {
    for (const auto state : {tracker::torrent_state::active, tracker::torrent_state::disabled,
                             tracker::torrent_state::muted}) {
        EXPECT_EQ(tracker::parse_torrent_state(tracker::to_string(state)), state);
    }
    EXPECT_FALSE(tracker::parse_torrent_state("Active").has_value());
}

TEST(TrackerServicePersistence, UnregisteringRemovesTheTorrentForGoodAndAllowsReRegistration) {
    const auto directory =
        std::filesystem::temp_directory_path() /
        ("imsp2p-tracker-test-" + imsp2p::core::to_hex(imsp2p::core::random_bytes(8)));
    std::filesystem::create_directories(directory);
    const auto database = directory / "tracker.sqlite";
    const std::string leech = ticket({hex(hash_of('a'))}, ticket_role::leech);
    tracker::announce_request join;
    join.ticket = leech;
    join.info_hash = hash_of('a');
    join.peer_id = std::string(20, 'p');
    join.port = 1;
    join.left = 5;
    {
        auto service = tracker::tracker_service::open(settings(database));
        service->register_torrent(
            {hash_of('a'), std::string(32, 'B'), "10.5555/u", tracker::torrent_state::active});
        service->register_torrent({hash_of('k'), {}, "10.5555/k", tracker::torrent_state::active});
        ASSERT_FALSE(service->announce(join, {std::string(4, '\x01')}, test_now()).error);
        // By the v2 hash: both keys go.
        service->unregister_torrent(std::string(32, 'B'));
        EXPECT_FALSE(service->stats(hash_of('a'), test_now()).has_value());
        EXPECT_FALSE(service->stats(std::string(32, 'B'), test_now()).has_value());
        const auto refused = service->announce(join, {std::string(4, '\x01')}, test_now());
        EXPECT_EQ(refused.error, tracker::errc::unknown_torrent);
        std::error_code ec;
        service->unregister_torrent(hash_of('a'), ec);
        EXPECT_EQ(ec, tracker::errc::unknown_torrent);
        service->unregister_torrent("short", ec);
        EXPECT_EQ(ec, tracker::errc::unknown_torrent);
        EXPECT_EQ(service->totals(test_now()).leechers, 0u);
    }
    {
        auto service = tracker::tracker_service::open(settings(database));
        EXPECT_FALSE(service->stats(hash_of('a'), test_now()).has_value());
        ASSERT_EQ(service->list(test_now()).size(), 1u);  // the other torrent stays
        // Registering it again starts from scratch.
        service->register_torrent({hash_of('a'), {}, "10.5555/u", tracker::torrent_state::active});
        const auto admitted = service->announce(join, {std::string(4, '\x01')}, test_now());
        EXPECT_FALSE(admitted.error) << admitted.failure_reason;
        EXPECT_EQ(service->stats(hash_of('a'), test_now())->completed, 0u);
    }
    std::filesystem::remove_all(directory);
}

// The compact form carries the same peers, in the same order, as the list of entries: all of
// them here (numwant above the swarm), so both forms hand out the same set.
TEST_F(TrackerService, GivesTheSamePeersInTheCompactFormAsItsEntriesEncode) {
    for (unsigned char peer = 0; peer < 6; ++peer) {
        ASSERT_FALSE(announce(request(leech_, static_cast<char>('b' + peer)), 20 + peer).error);
    }
    tracker::peer_address ipv6{std::string(15, '\x20') + "\x07"};
    ASSERT_FALSE(service_->announce(request(seed_, 'v', 0), ipv6, test_now()).error);

    auto asking = request(leech_, 'q');
    asking.compact = true;
    asking.numwant = 50;
    tracker::announce_result entries;
    service_->announce(asking, ipv4(99), test_now(), entries, tracker::peer_list_form::entries);
    ASSERT_FALSE(entries.error) << entries.failure_reason;
    ASSERT_EQ(entries.peers.size(), 7u);
    EXPECT_TRUE(entries.compact_peers.empty());
    EXPECT_TRUE(entries.compact_peers6.empty());

    tracker::announce_result compact;
    compact.peers.resize(3);  // leftovers of an earlier use are cleared
    service_->announce(asking, ipv4(99), test_now(), compact, tracker::peer_list_form::compact);
    ASSERT_FALSE(compact.error) << compact.failure_reason;
    EXPECT_TRUE(compact.peers.empty());
    std::string v4;
    std::string v6;
    for (const auto& peer : entries.peers) {
        std::string& out = peer.ip.size() == 4 ? v4 : v6;
        out += peer.ip;
        out += static_cast<char>(peer.port >> 8);
        out += static_cast<char>(peer.port & 0xff);
    }
    EXPECT_EQ(compact.compact_peers, v4);
    EXPECT_EQ(compact.compact_peers.size(), 6u * 6u);
    EXPECT_EQ(compact.compact_peers6, v6);
    EXPECT_EQ(compact.compact_peers6.size(), 18u);
    EXPECT_EQ(compact.complete, entries.complete);
    EXPECT_EQ(compact.incomplete, entries.incomplete);

    // HTTP answers are the same bytes from either form (compact; and the list of dicts,
    // which has no peer ids in a compact request's entries).
    EXPECT_EQ(tracker::encode_announce_response(compact, true, false),
              tracker::encode_announce_response(entries, true, false));
    EXPECT_EQ(tracker::encode_announce_response(compact, false, false),
              tracker::encode_announce_response(entries, false, false));

    // A refusal in the compact form gives no peers in either form.
    auto stranger = asking;
    stranger.info_hash = hash_of('z');
    service_->announce(stranger, ipv4(99), test_now(), compact, tracker::peer_list_form::compact);
    EXPECT_EQ(compact.error, tracker::errc::ticket_rejected);
    EXPECT_TRUE(compact.compact_peers.empty());
    EXPECT_TRUE(compact.compact_peers6.empty());
    EXPECT_TRUE(compact.peers.empty());
}

// With numwant a large share of the swarm, the ranks taken or the ranks left out (whichever
// are fewer) are drawn: every answer holds exactly numwant distinct other peers, and over many
// answers each peer is both handed out and left out (a peer stuck in or out of every answer
// would fail this with probability below 1e-13). 18 of 23 draws the ones left out, 8 of 23
// the ones taken.
TEST_F(TrackerService, DrawsTheLeftOutPeersUniformlyWhenNumwantIsMostOfTheSwarm) {
    constexpr int members = 24;
    for (int peer = 0; peer < members; ++peer) {
        ASSERT_FALSE(announce(request(leech_, static_cast<char>('A' + peer)),
                              static_cast<unsigned char>(peer))
                         .error);
    }
    for (const std::uint32_t numwant : {18U, 8U}) {
        auto asking = request(leech_, 'A');  // a member itself: never handed its own address
        asking.compact = true;
        asking.numwant = numwant;
        std::array<int, members> handed{};
        tracker::announce_result result;
        for (int round = 0; round < 300; ++round) {
            service_->announce(asking, ipv4(0), test_now(), result,
                               tracker::peer_list_form::compact);
            ASSERT_FALSE(result.error) << result.failure_reason;
            ASSERT_EQ(result.compact_peers.size(), numwant * 6u);
            std::set<int> seen;
            for (std::size_t at = 0; at < result.compact_peers.size(); at += 6) {
                const int peer = static_cast<unsigned char>(result.compact_peers[at + 3]);
                ASSERT_LT(peer, members);
                EXPECT_NE(peer, 0) << "the announcing peer got its own address";
                EXPECT_TRUE(seen.insert(peer).second) << "peer " << peer << " twice";
                ++handed[static_cast<std::size_t>(peer)];
            }
        }
        for (int peer = 1; peer < members; ++peer) {
            EXPECT_GT(handed[static_cast<std::size_t>(peer)], 0) << numwant << " " << peer;
            EXPECT_LT(handed[static_cast<std::size_t>(peer)], 300) << numwant << " " << peer;
        }
    }
}

// The index of registered torrents (open addressing): after many registrations and removals
// in between, every registered torrent is found and every removed one is not.
TEST_F(TrackerService, FindsEveryRegisteredTorrentAfterManyRegistrationsAndRemovals) {
    const auto hash_number = [](int number) {
        std::string out(20, '\x5a');
        out[0] = static_cast<char>(number & 0xff);
        out[1] = static_cast<char>(number >> 8);
        return out;
    };
    constexpr int torrents = 400;
    for (int number = 0; number < torrents; ++number) {
        service_->register_torrent({hash_number(number), {}, "", tracker::torrent_state::active});
    }
    for (int number = 0; number < torrents; number += 3) {
        service_->unregister_torrent(hash_number(number));
    }
    for (int number = 0; number < torrents; ++number) {
        EXPECT_EQ(service_->stats(hash_number(number), test_now()).has_value(), number % 3 != 0)
            << number;
    }
    EXPECT_TRUE(service_->stats(hash_of('a'), test_now()).has_value());
    std::error_code ec;
    service_->register_torrent({hash_number(1), {}, "", tracker::torrent_state::active}, ec);
    EXPECT_EQ(ec, tracker::errc::already_registered);
    service_->register_torrent({hash_number(3), {}, "", tracker::torrent_state::active}, ec);
    EXPECT_FALSE(ec);
    EXPECT_TRUE(service_->stats(hash_number(3), test_now()).has_value());
    service_->unregister_torrent(hash_number(0), ec);
    EXPECT_EQ(ec, tracker::errc::unknown_torrent);
}
