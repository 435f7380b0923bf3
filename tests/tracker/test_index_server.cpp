#include <imsp2p/tracker/index_server.hpp>

#include <imsp2p/tracker/bencode.hpp>
#include <imsp2p/tracker/error.hpp>

#include <imsp2p_test/index_fixtures.hpp>
#include <imsp2p_test/temporary_directory.hpp>

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include <memory>
#include <string>
#include <thread>

namespace tracker = imsp2p::tracker;
namespace core = imsp2p::core;
namespace http = boost::beast::http;
using json = nlohmann::json;
using imsp2p_test::http_exchange;

namespace {

const core::ticket_issuer& as_issuer() {
    static const core::ticket_issuer issuer(core::ed25519_private_key::generate(), "as-index",
                                            "sip:as.ims.example");
    return issuer;
}

class IndexServer : public ::testing::Test {
  protected:
    void SetUp() override {
        index_ = tracker::content_index::open(dir_.path() / "index.sqlite");
        core::ticket_verifier verifier("index");
        verifier.add_key(as_issuer().kid(), as_issuer().public_key());
        tracker::index_server_settings settings;
        settings.port = 0;
        settings.purchase_uri_template = "sip:content@operator.example?subject=buy&doi={doi}";
        server_ = std::make_unique<tracker::index_server>(*index_, verifier, settings,
                                                          core::logger("index-test"));
        server_->start();
        thread_ = std::thread([this] { server_->run(); });
        token_ = imsp2p_test::index_service_token(as_issuer());
    }
    void TearDown() override {
        server_->stop();
        thread_.join();
        server_.reset();
    }

    http::response<http::string_body> put(const imsp2p_test::index_fixture& fixture,
                                          const std::string& uri = "sip:buy@operator.example") {
        return http_exchange(server_->port(), http::verb::put,
                             "/admin/entries/" + tracker::doi_path_segment(fixture.record.doi),
                             token_, imsp2p_test::index_put_body(fixture, uri));
    }
    http::response<http::string_body> get(const std::string& target) {
        return http_exchange(server_->port(), http::verb::get, target);
    }

    imsp2p_test::temporary_directory dir_{"index-server"};
    std::unique_ptr<tracker::content_index> index_;
    std::unique_ptr<tracker::index_server> server_;
    std::thread thread_;
    std::string token_;
};

json problem_of(const http::response<http::string_body>& res) {
    EXPECT_EQ(res[http::field::content_type], "application/problem+json");
    return json::parse(res.body(), nullptr, false);
}

}  // namespace

TEST_F(IndexServer, AdminRefusesMissingAndBadTokens) {
    const auto fixture = imsp2p_test::make_index_fixture("10.5555/a", "A", "a");
    const std::string target = "/admin/entries/10.5555/a";
    const std::string body = imsp2p_test::index_put_body(fixture, "sip:x@y");
    auto res = http_exchange(server_->port(), http::verb::put, target, "", body);
    EXPECT_EQ(res.result_int(), 401);
    EXPECT_NE(problem_of(res)["detail"].get<std::string>().find("Bearer"), std::string::npos);
    res = http_exchange(server_->port(), http::verb::put, target, "not.a.jwt", body);
    EXPECT_EQ(res.result_int(), 401);
    const core::ticket_issuer stranger(core::ed25519_private_key::generate(), "as-index",
                                       "sip:as.ims.example");
    res = http_exchange(server_->port(), http::verb::put, target,
                        imsp2p_test::index_service_token(stranger), body);
    EXPECT_EQ(res.result_int(), 401);
    res = http_exchange(server_->port(), http::verb::put, target,
                        imsp2p_test::index_service_token(as_issuer(), "tracker"), body);
    EXPECT_EQ(res.result_int(), 401);
    res = http_exchange(
        server_->port(), http::verb::put, target,
        imsp2p_test::index_service_token(as_issuer(), "index", core::ticket_role::leech), body);
    EXPECT_EQ(res.result_int(), 401);
    EXPECT_NE(problem_of(res)["detail"].get<std::string>().find("role"), std::string::npos);
    res = http_exchange(server_->port(), http::verb::get, "/admin/entries");
    EXPECT_EQ(res.result_int(), 401);
    std::error_code ec;
    EXPECT_EQ(index_->counts(ec).listed, 0u);
}

TEST_F(IndexServer, AdminRefusesBadBodiesWithPreciseDetail) {
    const auto fixture = imsp2p_test::make_index_fixture("10.5555/a", "A", "a");
    const auto send = [&](const std::string& body,
                          const std::string& target = "/admin/entries/10.5555/a") {
        return http_exchange(server_->port(), http::verb::put, target, token_, body);
    };
    auto res = send("{not json");
    EXPECT_EQ(res.result_int(), 400);
    EXPECT_EQ(problem_of(res)["detail"], "the body is not valid JSON");
    json body = json::parse(imsp2p_test::index_put_body(fixture, "sip:buy@op"));
    body["record"]["price"]["currency"] = "euro";
    res = send(body.dump());
    EXPECT_EQ(res.result_int(), 400);
    EXPECT_NE(problem_of(res)["detail"].get<std::string>().find("record.price.currency"),
              std::string::npos);
    body = json::parse(imsp2p_test::index_put_body(fixture, "sip:buy@op"));
    body["torrent"] = "%%%";
    res = send(body.dump());
    EXPECT_EQ(res.result_int(), 400);
    EXPECT_NE(problem_of(res)["detail"].get<std::string>().find("base64"), std::string::npos);
    const auto other = imsp2p_test::make_index_fixture("10.5555/a", "A", "other");
    body = json::parse(imsp2p_test::index_put_body(fixture, "sip:buy@op"));
    body["torrent"] = json::parse(imsp2p_test::index_put_body(other, ""))["torrent"];
    res = send(body.dump());
    EXPECT_EQ(res.result_int(), 400);
    EXPECT_NE(problem_of(res)["detail"].get<std::string>().find("infohash"), std::string::npos);
    res = send(imsp2p_test::index_put_body(fixture, "http://not-sip.example/"));
    EXPECT_EQ(res.result_int(), 400);
    EXPECT_NE(problem_of(res)["detail"].get<std::string>().find("purchase_uri"), std::string::npos);
    res = send(imsp2p_test::index_put_body(fixture, "sip:buy@op"), "/admin/entries/10.5555/b");
    EXPECT_EQ(res.result_int(), 400);
    EXPECT_NE(problem_of(res)["detail"].get<std::string>().find("differs"), std::string::npos);
    res = send(imsp2p_test::index_put_body(fixture, "sip:buy@op"), "/admin/entries/nodoi");
    EXPECT_EQ(res.result_int(), 400);
    std::error_code ec;
    EXPECT_EQ(index_->counts(ec).listed, 0u);
}

TEST_F(IndexServer, CreateUpdateWithdrawAndTorrentDownload) {
    auto fixture = imsp2p_test::make_index_fixture("10.5555/Film#1", "Film", "f1");
    auto res = put(fixture, "");  // the configured template applies
    ASSERT_EQ(res.result_int(), 201) << res.body();
    json entry = json::parse(res.body());
    EXPECT_EQ(entry["state"], "listed");
    EXPECT_EQ(entry["purchase_uri"],
              "sip:content@operator.example?subject=buy&doi=10.5555%2FFilm%231");
    EXPECT_EQ(entry["torrent_url"], "/torrents/10.5555/Film%231.torrent");
    fixture.record.title = "Film, remastered";
    res = put(fixture);
    ASSERT_EQ(res.result_int(), 200) << res.body();
    EXPECT_EQ(json::parse(res.body())["record"]["title"], "Film, remastered");

    res = get("/torrents/10.5555/film%231.torrent");
    ASSERT_EQ(res.result_int(), 200);
    EXPECT_EQ(res[http::field::content_type], "application/x-bittorrent");
    EXPECT_EQ(res.body(), fixture.torrent);
    EXPECT_TRUE(tracker::bdecode(res.body()).is_dict());

    res = get("/catalog.json");
    ASSERT_EQ(res.result_int(), 200);
    EXPECT_EQ(json::parse(res.body())["count"], 1);

    res = http_exchange(server_->port(), http::verb::delete_, "/admin/entries/10.5555/Film%231",
                        token_);
    ASSERT_EQ(res.result_int(), 200) << res.body();
    EXPECT_EQ(json::parse(res.body())["state"], "withdrawn");
    EXPECT_EQ(get("/torrents/10.5555/Film%231.torrent").result_int(), 410);
    EXPECT_EQ(get("/content/10.5555/Film%231").result_int(), 410);
    EXPECT_EQ(json::parse(get("/catalog.json").body())["count"], 0);
    EXPECT_EQ(get("/").body().find("Film"), std::string::npos);
    res = http_exchange(server_->port(), http::verb::get, "/admin/entries", token_);
    ASSERT_EQ(res.result_int(), 200);
    EXPECT_EQ(json::parse(res.body())["entries"][0]["state"], "withdrawn");
    EXPECT_EQ(
        http_exchange(server_->port(), http::verb::delete_, "/admin/entries/10.5555/none", token_)
            .result_int(),
        404);
    EXPECT_EQ(get("/torrents/10.5555/none.torrent").result_int(), 404);
    EXPECT_EQ(get("/content/10.5555/none").result_int(), 404);
}

TEST_F(IndexServer, PagesEscapeUserInputAndSearch) {
    const auto evil = imsp2p_test::make_index_fixture("10.5555/evil",
                                                      "<script>alert(\"x\")</script> & co", "evil");
    const auto calm = imsp2p_test::make_index_fixture("10.5555/calm", "Calm Sea", "calm");
    ASSERT_EQ(put(evil, "sip:buy@operator.example?a=1&b='2'").result_int(), 201);
    ASSERT_EQ(put(calm).result_int(), 201);
    auto res = get("/");
    ASSERT_EQ(res.result_int(), 200);
    EXPECT_EQ(res[http::field::content_type], "text/html; charset=utf-8");
    const std::string& html = res.body();
    EXPECT_EQ(html.find("<script>"), std::string::npos);
    EXPECT_NE(html.find("&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt; &amp; co"),
              std::string::npos);
    EXPECT_NE(html.find("Calm Sea"), std::string::npos);
    EXPECT_NE(html.find("1.5 MiB"), std::string::npos);
    EXPECT_NE(html.find("1.99 EUR"), std::string::npos);
    EXPECT_NE(html.find("href=\"/torrents/10.5555/calm.torrent\""), std::string::npos);
    EXPECT_NE(html.find("href=\"sip:buy@operator.example\""), std::string::npos);
    EXPECT_NE(html.find("href=\"sip:buy@operator.example?a=1&amp;b=&#39;2&#39;\""),
              std::string::npos);
    EXPECT_EQ(put(evil, "sip:buy@operator.example?a=\"2\"").result_int(), 400);

    res = get("/?q=calm");
    EXPECT_NE(res.body().find("Calm Sea"), std::string::npos);
    EXPECT_EQ(res.body().find("alert"), std::string::npos);
    res = get("/?q=%3Cscript%3E");
    EXPECT_NE(res.body().find("1 result"), std::string::npos);
    EXPECT_EQ(res.body().find("Calm Sea"), std::string::npos);
    res = get("/catalog.json?q=doi%3A10.5555%2FCALM");
    EXPECT_EQ(json::parse(res.body())["entries"][0]["record"]["title"], "Calm Sea");
    res = get("/content/10.5555/calm");
    ASSERT_EQ(res.result_int(), 200);
    EXPECT_NE(res.body().find("About calm."), std::string::npos);
}

TEST_F(IndexServer, HealthMetricsAndUnknownRoutes) {
    auto res = get("/health");
    ASSERT_EQ(res.result_int(), 200);
    EXPECT_EQ(json::parse(res.body())["status"], "ok");
    ASSERT_EQ(put(imsp2p_test::make_index_fixture("10.5555/m", "M", "m")).result_int(), 201);
    res = get("/metrics");
    ASSERT_EQ(res.result_int(), 200);
    EXPECT_NE(res.body().find("imsp2p_index_entries_listed 1\n"), std::string::npos);
    EXPECT_NE(res.body().find("imsp2p_index_admin_changes_total 1\n"), std::string::npos);
    EXPECT_EQ(get("/nope").result_int(), 404);
    EXPECT_EQ(http_exchange(server_->port(), http::verb::post, "/").result_int(), 405);
}

TEST(IndexEntryBody, TemplateIsRequiredWithoutPurchaseUri) {
    const auto fixture = imsp2p_test::make_index_fixture("10.5555/t", "T", "t");
    std::error_code ec;
    std::string detail;
    tracker::parse_admin_entry_body(imsp2p_test::index_put_body(fixture, ""), "", ec, &detail);
    EXPECT_EQ(ec, tracker::errc::bad_admin_request);
    EXPECT_NE(detail.find("purchase_uri"), std::string::npos);
    const auto entry = tracker::parse_admin_entry_body(imsp2p_test::index_put_body(fixture, ""),
                                                       "sips:shop@op.example;doi={doi}", ec);
    ASSERT_FALSE(ec);
    EXPECT_EQ(entry.purchase_uri, "sips:shop@op.example;doi=10.5555%2Ft");
    EXPECT_EQ(entry.record, fixture.record);
}
