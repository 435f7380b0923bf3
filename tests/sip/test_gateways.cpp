#include <imsp2p/sip/gateways.hpp>

#include "as_test_support.hpp"

#include <imsp2p/sip/error.hpp>

#include <gtest/gtest.h>

using namespace as_test;

namespace {

core::ticket_issuer issuer(const core::ed25519_private_key& key) {
    return core::ticket_issuer(key, "as-test", "sip:as@op.example");
}

}  // namespace

TEST(Gateways, EncodesDoisAsOnePathSegment) {
    EXPECT_EQ(sip::doi_path_segment(core::doi::parse_canonical("10.5555/a%b?c\xc3\xa9")),
              "10.5555%2Fa%25b%3Fc%C3%A9");
    EXPECT_EQ(sip::doi_path_segment(core::doi::parse("10.5555/x_y-z~1")), "10.5555%2Fx_y-z~1");
}

TEST(Gateways, ServiceTokensAreCachedPerAudience) {
    const auto key = core::ed25519_private_key::generate();
    sip::service_token_source tokens(issuer(key), "sip:as@op.example", std::chrono::seconds(300));
    std::error_code ec;
    const auto drm = tokens.token("drm", ec);
    ASSERT_FALSE(ec);
    EXPECT_EQ(tokens.token("drm", ec), drm);
    const auto tracker = tokens.token("tracker", ec);
    EXPECT_NE(tracker, drm);
    core::jwk_set keys;
    keys.keys.push_back(issuer(key).public_jwk());
    const auto claims = core::ticket_verifier("tracker", keys).verify(tracker, ec);
    ASSERT_FALSE(ec) << ec.message();
    EXPECT_EQ(claims.role, core::ticket_role::service);
    EXPECT_EQ(claims.subject, "sip:as@op.example");
    EXPECT_EQ(claims.expires_at - claims.issued_at, std::chrono::seconds(300));
}

TEST(Gateways, TrackerGatewayDrivesTheRealAdminApi) {
    const auto key = core::ed25519_private_key::generate();
    core::jwk_set keys;
    keys.keys.push_back(issuer(key).public_jwk());
    running_tracker tracker(keys);
    auto tokens = std::make_shared<sip::service_token_source>(issuer(key), "sip:as@op.example");
    auto gateway = sip::make_http_tracker_gateway({tracker.base(), std::chrono::seconds(2)},
                                                  tracker.base() + "/announce/", tokens);
    EXPECT_EQ(gateway->announce_url(), tracker.base() + "/announce");
    std::error_code ec;
    std::string detail;
    EXPECT_EQ(gateway->load(ec, &detail).torrents, 0u);
    ASSERT_FALSE(ec) << detail;

    sip::tracker_torrent torrent;
    torrent.infohash_v1 = std::string(40, 'a');
    torrent.infohash_v2 = std::string(64, 'b');
    torrent.doi = core::doi::parse("10.5555/x");
    torrent.state = "muted";
    gateway->register_torrent(torrent, ec, &detail);
    ASSERT_FALSE(ec) << detail;
    EXPECT_EQ(tracker.state_of(torrent.infohash_v1), "muted");
    gateway->register_torrent(torrent, ec, &detail);
    EXPECT_EQ(ec, sip::errc::conflict);
    gateway->set_torrent_state(torrent.infohash_v1, "disabled", ec, &detail);
    ASSERT_FALSE(ec) << detail;
    EXPECT_EQ(tracker.state_of(torrent.infohash_v1), "disabled");
    EXPECT_EQ(gateway->load(ec, &detail).torrents, 1u);
    gateway->set_torrent_state(std::string(40, 'c'), "active", ec, &detail);
    EXPECT_EQ(ec, sip::errc::dependency_refused);  // 404
    EXPECT_NE(detail.find("404"), std::string::npos) << detail;

    // Another AS key is refused by the tracker (401).
    auto stranger = sip::make_http_tracker_gateway(
        {tracker.base(), std::chrono::seconds(2)}, tracker.base() + "/announce",
        std::make_shared<sip::service_token_source>(issuer(core::ed25519_private_key::generate()),
                                                    "sip:as@op.example"));
    (void)stranger->load(ec, &detail);
    EXPECT_EQ(ec, sip::errc::dependency_refused);

    // Nobody listening: unavailable.
    const auto port = tracker.server->port();
    tracker.server->stop();
    auto dead = sip::make_http_tracker_gateway(
        {"http://127.0.0.1:" + std::to_string(port), std::chrono::seconds(1)}, "x", tokens);
    (void)dead->load(ec, &detail);
    EXPECT_EQ(ec, sip::errc::dependency_unavailable);
}

TEST(Gateways, IndexGatewayBuildsPublicTorrentUrls) {
    const auto key = core::ed25519_private_key::generate();
    auto index = sip::make_http_index_gateway(
        {"http://index.example:8090/", std::chrono::seconds(1)},
        std::make_shared<sip::service_token_source>(issuer(key), "sip:as@op.example"));
    EXPECT_EQ(index->torrent_url(core::doi::parse("10.5555/a/b")),
              "http://index.example:8090/torrents/10.5555%2Fa%2Fb.torrent");
}
