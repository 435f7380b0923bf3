#include <imsp2p/tracker/index_client.hpp>

#include <imsp2p/tracker/error.hpp>
#include <imsp2p/tracker/index_server.hpp>

#include <imsp2p_test/index_fixtures.hpp>
#include <imsp2p_test/temporary_directory.hpp>

#include <gtest/gtest.h>

#include <memory>
#include <thread>

namespace tracker = imsp2p::tracker;
namespace core = imsp2p::core;

TEST(IndexClient, PublishesListsFetchesAndWithdraws) {
    const core::ticket_issuer issuer(core::ed25519_private_key::generate(), "as", "sip:as.example");
    imsp2p_test::temporary_directory dir("index-client");
    auto index = tracker::content_index::open(dir.path() / "index.sqlite");
    core::ticket_verifier verifier("index");
    verifier.add_key(issuer.kid(), issuer.public_key());
    tracker::index_server_settings settings;
    settings.port = 0;
    tracker::index_server server(*index, verifier, settings, core::logger("index-test"));
    server.start();
    std::thread thread([&] { server.run(); });

    const tracker::index_client client("http://127.0.0.1:" + std::to_string(server.port()) + "/");
    const std::string token = imsp2p_test::index_service_token(issuer);
    const auto a = imsp2p_test::make_index_fixture("10.5555/a", "Alpha", "a");
    const auto b = imsp2p_test::make_index_fixture("10.5555/b", "Beta", "b");
    std::error_code ec;
    std::string detail;
    EXPECT_TRUE(client.put_entry(a.record, core::as_bytes(a.torrent), "sip:buy@op", token, ec));
    EXPECT_FALSE(ec) << ec.message();
    EXPECT_FALSE(client.put_entry(a.record, core::as_bytes(a.torrent), "sip:buy@op", token, ec));
    EXPECT_FALSE(ec);
    EXPECT_TRUE(client.put_entry(b.record, core::as_bytes(b.torrent), "sip:buy@op", token, ec));
    client.put_entry(b.record, core::as_bytes(b.torrent), "", token, ec, &detail);
    EXPECT_EQ(ec, tracker::errc::bad_admin_request);
    EXPECT_NE(detail.find("purchase_uri"), std::string::npos);
    client.put_entry(b.record, core::as_bytes(b.torrent), "sip:buy@op", "bad", ec);
    EXPECT_EQ(ec, tracker::errc::admin_unauthorized);

    auto catalog = client.fetch_catalog("alp", ec);
    ASSERT_FALSE(ec);
    ASSERT_EQ(catalog.size(), 1u);
    EXPECT_EQ(catalog[0].record, a.record);
    EXPECT_EQ(catalog[0].purchase_uri, "sip:buy@op");
    EXPECT_EQ(core::as_string_view(client.fetch_torrent(a.record.doi, ec)), a.torrent);

    client.withdraw(a.record.doi, token, ec);
    EXPECT_FALSE(ec);
    EXPECT_TRUE(client.fetch_torrent(a.record.doi, ec).empty());
    EXPECT_EQ(ec, tracker::errc::content_withdrawn);
    client.fetch_torrent(core::doi::parse("10.5555/zz"), ec);
    EXPECT_EQ(ec, tracker::errc::unknown_content);
    EXPECT_EQ(client.fetch_catalog("", ec).size(), 1u);
    const auto all = client.list(token, ec);
    ASSERT_EQ(all.size(), 2u);
    server.stop();
    thread.join();
    client.fetch_catalog("", ec);
    EXPECT_TRUE(ec);
    EXPECT_NE(ec.category(), tracker::error_category());
}
