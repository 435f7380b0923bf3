#include <imsp2p/tracker/tracker_server.hpp>

#include "tracker_test_support.hpp"

#include <imsp2p/tracker/bencode.hpp>

// GCC 12 warns, falsely, that Beast's boost::optional "may be used uninitialized" in builds
// with sanitizers; the warning is about Boost's code, not ours.
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#endif
#include <boost/asio/connect.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC diagnostic pop
#endif

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include <memory>
#include <string>
#include <thread>

namespace tracker = imsp2p::tracker;
namespace net = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
using imsp2p::core::ticket_role;
using namespace tracker_test;

namespace {

std::string escape(const std::string& bytes) {
    static constexpr char digits[] = "0123456789ABCDEF";
    std::string out;
    for (const char c : bytes) {
        const auto byte = static_cast<unsigned char>(c);
        out += '%';
        out += digits[byte >> 4U];
        out += digits[byte & 15U];
    }
    return out;
}

/** A blocking Beast client for one request per connection. */
http::response<http::string_body> send(std::uint16_t port, http::verb method,
                                       const std::string& target, const std::string& token = "",
                                       const std::string& body = "") {
    net::io_context io;
    beast::tcp_stream stream(io);
    stream.connect(net::ip::tcp::endpoint(net::ip::make_address("127.0.0.1"), port));
    http::request<http::string_body> request{method, target, 11};
    request.set(http::field::host, "127.0.0.1");
    if (!token.empty()) {
        request.set(http::field::authorization, "Bearer " + token);
    }
    if (!body.empty()) {
        request.set(http::field::content_type, "application/json");
        request.body() = body;
    }
    request.prepare_payload();
    http::write(stream, request);
    beast::flat_buffer buffer;
    http::response<http::string_body> response;
    http::read(stream, buffer, response);
    beast::error_code ignored;
    stream.socket().shutdown(net::ip::tcp::socket::shutdown_both, ignored);
    return response;
}

class TrackerServer : public ::testing::Test {
  protected:
    void SetUp() override {
        service_ = tracker::tracker_service::open(settings());
        tracker::server_settings http_settings;
        http_settings.port = 0;
        server_ = std::make_unique<tracker::tracker_server>(*service_, http_settings,
                                                            imsp2p::core::logger("tracker.test"));
        server_->start();
        ASSERT_NE(server_->port(), 0);
        thread_ = std::thread([this] { server_->run(); });
    }

    void TearDown() override {
        server_->stop();
        thread_.join();
        server_.reset();
    }

    std::string announce_target(const std::string& ticket_text, char peer, std::uint64_t left,
                                const std::string& extra = "") {
        return "/announce/" + ticket_text + "?info_hash=" + escape(hash_of('a')) +
               "&peer_id=" + escape(std::string(20, peer)) +
               "&port=6881&left=" + std::to_string(left) + extra;
    }

    tracker::bencode_value get_bencoded(const std::string& target) {
        const auto response = send(server_->port(), http::verb::get, target);
        EXPECT_EQ(response.result(), http::status::ok);
        return tracker::bdecode(response.body());
    }

    std::string service_token(ticket_role role = ticket_role::service) {
        return ticket({}, role, std::chrono::system_clock::now());
    }

    std::unique_ptr<tracker::tracker_service> service_;
    std::unique_ptr<tracker::tracker_server> server_;
    std::thread thread_;
};

}  // namespace

TEST_F(TrackerServer, RegistersThroughTheAdminApiThenServesAnnouncesAndScrapes) {
    const auto created =
        send(server_->port(), http::verb::post, "/admin/torrents", service_token(),
             nlohmann::json{
                 {"info_hash_v1", hex(hash_of('a'))}, {"doi", "10.5555/x"}, {"state", "active"}}
                 .dump());
    ASSERT_EQ(created.result(), http::status::created) << created.body();
    EXPECT_EQ(nlohmann::json::parse(created.body())["doi"], "10.5555/x");

    const auto now = std::chrono::system_clock::now();
    const std::string seed = ticket({hex(hash_of('a'))}, ticket_role::seed, now);
    const std::string leech = ticket({hex(hash_of('a'))}, ticket_role::leech, now);
    const auto first = get_bencoded(announce_target(seed, 's', 0, "&event=started"));
    ASSERT_EQ(first.find("failure reason"), nullptr);
    EXPECT_EQ(first.find("interval")->integer(), 1800);
    const auto second = get_bencoded(announce_target(leech, 'l', 10));
    ASSERT_EQ(second.find("failure reason"), nullptr);
    EXPECT_EQ(second.find("peers")->string(), std::string("\x7f\0\0\x01\x1a\xe1", 6));
    const auto dictionary = get_bencoded(announce_target(leech, 'l', 10, "&compact=0"));
    EXPECT_EQ(dictionary.find("peers")->list().at(0).find("ip")->string(), "127.0.0.1");

    const auto scrape = get_bencoded("/scrape/" + leech + "?info_hash=" + escape(hash_of('a')));
    const auto* files = scrape.find("files");
    ASSERT_NE(files, nullptr);
    EXPECT_EQ(files->find(hash_of('a'))->find("complete")->integer(), 1);
    EXPECT_EQ(files->find(hash_of('a'))->find("incomplete")->integer(), 1);

    const auto stats = send(server_->port(), http::verb::get, "/admin/stats", service_token());
    ASSERT_EQ(stats.result(), http::status::ok);
    EXPECT_EQ(nlohmann::json::parse(stats.body())["seeders"], 1);

    const auto metrics = send(server_->port(), http::verb::get, "/metrics");
    EXPECT_NE(metrics.body().find("imsp2p_tracker_torrents 1"), std::string::npos);
    const auto health = send(server_->port(), http::verb::get, "/health");
    EXPECT_EQ(nlohmann::json::parse(health.body())["status"], "ok");
}

TEST_F(TrackerServer, RefusesWithFailureReasonsAndProblemDocuments) {
    service_->register_torrent({hash_of('a'), {}, "", tracker::torrent_state::active});
    const auto missing = get_bencoded(announce_target("", 'x', 1).replace(0, 10, "/announce"));
    EXPECT_NE(missing.find("failure reason")->string().find("missing ticket"), std::string::npos);
    const auto malformed = get_bencoded("/announce/t?info_hash=short");
    EXPECT_NE(malformed.find("failure reason")->string().find("invalid announce"),
              std::string::npos);
    const auto forged = get_bencoded(announce_target("a.b.c", 'x', 1));
    EXPECT_NE(forged.find("failure reason")->string().find("ticket rejected"), std::string::npos);

    // Admin without a token, with a leech ticket, and with bad bodies.
    auto response = send(server_->port(), http::verb::get, "/admin/torrents");
    EXPECT_EQ(response.result(), http::status::unauthorized);
    EXPECT_EQ(response[http::field::content_type], "application/problem+json");
    response = send(server_->port(), http::verb::get, "/admin/torrents",
                    service_token(ticket_role::leech));
    EXPECT_EQ(response.result(), http::status::unauthorized);
    response = send(server_->port(), http::verb::post, "/admin/torrents", service_token(),
                    "{\"info_hash_v1\":\"zz\"}");
    EXPECT_EQ(response.result(), http::status::bad_request);
    EXPECT_EQ(nlohmann::json::parse(response.body())["status"], 400);
    response = send(server_->port(), http::verb::post, "/admin/torrents", service_token(),
                    nlohmann::json{{"info_hash_v1", hex(hash_of('a'))}}.dump());
    EXPECT_EQ(response.result(), http::status::conflict);
    response = send(server_->port(), http::verb::get, "/admin/torrents/" + hex(hash_of('q')),
                    service_token());
    EXPECT_EQ(response.result(), http::status::not_found);
    response = send(server_->port(), http::verb::get, "/nowhere");
    EXPECT_EQ(response.result(), http::status::not_found);
}

TEST_F(TrackerServer, DisablingThroughTheAdminApiStopsTheNextAnnounce) {
    service_->register_torrent({hash_of('a'), {}, "", tracker::torrent_state::active});
    const std::string leech =
        ticket({hex(hash_of('a'))}, ticket_role::leech, std::chrono::system_clock::now());
    ASSERT_EQ(get_bencoded(announce_target(leech, 'l', 1)).find("failure reason"), nullptr);
    const auto changed =
        send(server_->port(), http::verb::patch, "/admin/torrents/" + hex(hash_of('a')),
             service_token(), "{\"state\":\"disabled\"}");
    ASSERT_EQ(changed.result(), http::status::ok) << changed.body();
    EXPECT_EQ(nlohmann::json::parse(changed.body())["state"], "disabled");
    const auto refused = get_bencoded(announce_target(leech, 'l', 1));
    EXPECT_EQ(refused.find("failure reason")->string(),
              "torrent has been disabled by the operator");
    const auto list = send(server_->port(), http::verb::get, "/admin/torrents", service_token());
    EXPECT_EQ(nlohmann::json::parse(list.body())["torrents"].size(), 1u);
}

TEST_F(TrackerServer, AnswersOversizedAndMalformedRequestsWithAnError) {
    const auto huge =
        send(server_->port(), http::verb::get, "/announce/" + std::string(20000, 't'));
    EXPECT_EQ(huge.result(), http::status::payload_too_large);
    net::io_context io;
    beast::tcp_stream stream(io);
    stream.connect(net::ip::tcp::endpoint(net::ip::make_address("127.0.0.1"), server_->port()));
    net::write(stream, net::buffer(std::string("NOT HTTP AT ALL\r\n\r\n")));
    beast::flat_buffer buffer;
    http::response<http::string_body> response;
    http::read(stream, buffer, response);
    EXPECT_EQ(response.result(), http::status::bad_request);
}

TEST(TrackerServerHostContext, RunsOnAHostOwnedIoContext) {
    auto service = tracker::tracker_service::open(settings());
    net::io_context io;
    tracker::server_settings http_settings;
    http_settings.port = 0;
    tracker::tracker_server server(io, *service, http_settings, imsp2p::core::logger("t"));
    server.start();
    std::thread runner([&io] { io.run(); });
    const auto health = send(server.port(), http::verb::get, "/health");
    EXPECT_EQ(health.result(), http::status::ok);
    server.stop();
    runner.join();
}

TEST_F(TrackerServer, DeleteUnregistersTheTorrentAndDropsItsPeers) {
    service_->register_torrent({hash_of('a'), {}, "10.5555/gone", tracker::torrent_state::active});
    const auto now = std::chrono::system_clock::now();
    const std::string leech = ticket({hex(hash_of('a'))}, ticket_role::leech, now);
    ASSERT_EQ(get_bencoded(announce_target(leech, 'l', 1)).find("failure reason"), nullptr);

    auto response =
        send(server_->port(), http::verb::delete_, "/admin/torrents/" + hex(hash_of('a')));
    EXPECT_EQ(response.result(), http::status::unauthorized);
    response = send(server_->port(), http::verb::delete_, "/admin/torrents/" + hex(hash_of('a')),
                    service_token());
    ASSERT_EQ(response.result(), http::status::ok) << response.body();
    const auto body = nlohmann::json::parse(response.body());
    EXPECT_EQ(body["state"], "unregistered");
    EXPECT_EQ(body["leechers"], 1);
    EXPECT_FALSE(service_->stats(hash_of('a'), now).has_value());

    const auto refused = get_bencoded(announce_target(leech, 'l', 1));
    EXPECT_EQ(refused.find("failure reason")->string(),
              "torrent is not registered with this tracker");
    response = send(server_->port(), http::verb::delete_, "/admin/torrents/" + hex(hash_of('a')),
                    service_token());
    EXPECT_EQ(response.result(), http::status::not_found);
    response = send(server_->port(), http::verb::delete_, "/admin/torrents/zz", service_token());
    EXPECT_EQ(response.result(), http::status::bad_request);
    const auto list = send(server_->port(), http::verb::get, "/admin/torrents", service_token());
    EXPECT_TRUE(nlohmann::json::parse(list.body())["torrents"].empty());
}

TEST(TrackerServerLimits, RefusesConnectionsBeyondTheCapAndCountsThem) {
    auto service = tracker::tracker_service::open(settings());
    tracker::server_settings http_settings;
    http_settings.port = 0;
    http_settings.max_connections = 1;
    tracker::tracker_server server(*service, http_settings, imsp2p::core::logger("t"));
    server.start();
    std::thread runner([&server] { server.run(); });

    net::io_context io;
    net::ip::tcp::socket holder(io);
    holder.connect(net::ip::tcp::endpoint(net::ip::make_address("127.0.0.1"), server.port()));
    net::ip::tcp::socket refused(io);
    refused.connect(net::ip::tcp::endpoint(net::ip::make_address("127.0.0.1"), server.port()));
    char byte = 0;
    beast::error_code ec;
    refused.read_some(net::buffer(&byte, 1), ec);  // the server closes it at once
    EXPECT_EQ(ec, net::error::eof);
    EXPECT_EQ(server.refused_connections(), 1u);
    holder.close();

    // Once the held connection is gone, requests are served and /metrics reports the refusal.
    std::string metrics;
    for (int attempt = 0; attempt < 100 && metrics.empty(); ++attempt) {
        try {
            const auto response = send(server.port(), http::verb::get, "/metrics");
            metrics = response.body();
        } catch (const std::exception&) {
            std::this_thread::sleep_for(std::chrono::milliseconds(20));
        }
    }
    // Attempts made before the server noticed the close were refused (and counted) too.
    constexpr std::string_view name = "\nimsp2p_tracker_http_connections_refused_total ";
    const auto at = metrics.find(name);
    ASSERT_NE(at, std::string::npos) << metrics;
    const auto reported = std::stoull(metrics.substr(at + name.size()));
    EXPECT_GE(reported, 1u);
    EXPECT_LE(reported, server.refused_connections());
    server.stop();
    runner.join();
}
