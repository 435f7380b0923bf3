// The content index's HTML catalogue as a real browser renders it: Debian's chromium in
// headless mode dumps the DOM of the index's pages (no JavaScript involved) and the test checks
// titles, sip: purchase links, .torrent links (fetched) and that withdrawn content is absent.

#include <imsp2p/tracker/index_server.hpp>

#include <imsp2p_test/index_fixtures.hpp>
#include <imsp2p_test/temporary_directory.hpp>

#include <gtest/gtest.h>

#include <array>
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <map>
#include <memory>
#include <regex>
#include <set>
#include <string>
#include <thread>
#include <vector>

namespace tracker = imsp2p::tracker;
namespace core = imsp2p::core;
namespace http = boost::beast::http;

namespace {

std::string chromium_path() {
    for (const char* candidate : {"/usr/bin/chromium", "/usr/bin/chromium-browser"}) {
        if (std::filesystem::exists(candidate)) {
            return candidate;
        }
    }
    return {};
}

/** Runs chromium --dump-dom on a URL (a real process, bounded by timeout(1)). */
std::string dump_dom(const std::string& chromium, const std::filesystem::path& profile,
                     const std::string& url) {
    const std::string command = "timeout 20 " + chromium +
                                " --headless --disable-gpu --no-sandbox --no-first-run"
                                " --disable-extensions --user-data-dir='" +
                                profile.string() + "' --dump-dom '" + url + "' 2>/dev/null";
    FILE* pipe = ::popen(command.c_str(), "r");
    if (pipe == nullptr) {
        return {};
    }
    std::string out;
    std::array<char, 4096> buffer{};
    std::size_t n = 0;
    while ((n = std::fread(buffer.data(), 1, buffer.size(), pipe)) > 0) {
        out.append(buffer.data(), n);
    }
    ::pclose(pipe);
    return out;
}

std::string unescape_attribute(std::string text) {
    const std::pair<std::string, std::string> entities[] = {
        {"&quot;", "\""}, {"&#39;", "'"}, {"&lt;", "<"}, {"&gt;", ">"}, {"&amp;", "&"}};
    for (const auto& [entity, plain] : entities) {
        for (auto at = text.find(entity); at != std::string::npos;
             at = text.find(entity, at + plain.size())) {
            text.replace(at, entity.size(), plain);
        }
    }
    return text;
}

std::vector<std::string> hrefs(const std::string& dom) {
    std::vector<std::string> out;
    const std::regex href("href=\"([^\"]*)\"");
    for (auto it = std::sregex_iterator(dom.begin(), dom.end(), href); it != std::sregex_iterator();
         ++it) {
        out.push_back(unescape_attribute((*it)[1].str()));
    }
    return out;
}

}  // namespace

TEST(IndexChromium, RenderedCatalogueHasTitlesSipLinksAndTorrents) {
    const std::string chromium = chromium_path();
    if (chromium.empty()) {
        GTEST_SKIP() << "chromium is not installed";
    }
    const auto started = std::chrono::steady_clock::now();
    imsp2p_test::temporary_directory dir("index-chromium");
    std::filesystem::create_directories(dir.path() / "profile");
    auto index = tracker::content_index::open(dir.path() / "index.sqlite");
    const core::ticket_issuer issuer(core::ed25519_private_key::generate(), "as", "sip:as.example");
    core::ticket_verifier verifier("index");
    verifier.add_key(issuer.kid(), issuer.public_key());
    tracker::index_server_settings settings;
    settings.port = 0;
    settings.purchase_uri_template = "sip:content@operator.example?subject=buy&doi={doi}";
    tracker::index_server server(*index, verifier, settings, core::logger("index-chromium"));
    server.start();
    std::thread thread([&] { server.run(); });
    const std::uint16_t port = server.port();
    const std::string token = imsp2p_test::index_service_token(issuer);

    struct item {
        imsp2p_test::index_fixture fixture;
        std::string purchase_uri;  // as sent ("" = the template)
        std::string expected_uri;
    };
    std::vector<item> items = {
        {imsp2p_test::make_index_fixture("10.5555/blue", "Blue Planet", "blue", "Documentary"),
         "sip:content@operator.example?subject=buy&doi=10.5555%2Fblue", ""},
        {imsp2p_test::make_index_fixture("10.5555/red", "Red Planet", "red"), "", ""},
        {imsp2p_test::make_index_fixture("10.5555/x<y>", "<script>alert(1)</script> Tricky",
                                         "tricky"),
         "sips:shop@operator.example;doi=tricky", ""},
        {imsp2p_test::make_index_fixture("10.5555/gone", "Withdrawn Feature", "gone"),
         "sip:gone@operator.example", ""},
    };
    items[0].expected_uri = items[0].purchase_uri;
    items[1].expected_uri = "sip:content@operator.example?subject=buy&doi=10.5555%2Fred";
    items[2].expected_uri = items[2].purchase_uri;
    items[3].expected_uri = items[3].purchase_uri;
    for (const auto& it : items) {
        const auto res = imsp2p_test::http_exchange(
            port, http::verb::put,
            "/admin/entries/" + tracker::doi_path_segment(it.fixture.record.doi), token,
            imsp2p_test::index_put_body(it.fixture, it.purchase_uri));
        ASSERT_EQ(res.result_int(), 201) << res.body();
    }
    ASSERT_EQ(
        imsp2p_test::http_exchange(port, http::verb::delete_, "/admin/entries/10.5555/gone", token)
            .result_int(),
        200);

    const std::string base = "http://127.0.0.1:" + std::to_string(port);
    const std::string dom = dump_dom(chromium, dir.path() / "profile", base + "/");
    ASSERT_NE(dom.find("<html"), std::string::npos) << "chromium produced no DOM: " << dom;
    // The markup was parsed, not executed: the title's "<script>" is text, not an element.
    EXPECT_EQ(dom.find("<script"), std::string::npos);
    EXPECT_NE(dom.find("&lt;script&gt;alert(1)&lt;/script&gt; Tricky"), std::string::npos);
    EXPECT_NE(dom.find("Blue Planet"), std::string::npos);
    EXPECT_NE(dom.find("Red Planet"), std::string::npos);
    EXPECT_EQ(dom.find("Withdrawn Feature"), std::string::npos);

    const auto links = hrefs(dom);
    std::set<std::string> link_set(links.begin(), links.end());
    std::size_t torrents = 0;
    for (std::size_t i = 0; i < 3; ++i) {
        const auto& it = items[i];
        EXPECT_TRUE(link_set.count(it.expected_uri)) << "missing purchase link " << it.expected_uri;
        const std::string torrent_link =
            "/torrents/" + tracker::doi_path_segment(it.fixture.record.doi) + ".torrent";
        ASSERT_TRUE(link_set.count(torrent_link)) << "missing " << torrent_link;
        const auto res = imsp2p_test::http_exchange(port, http::verb::get, torrent_link);
        EXPECT_EQ(res.result_int(), 200) << torrent_link;
        EXPECT_EQ(res[http::field::content_type], "application/x-bittorrent");
        EXPECT_EQ(res.body(), it.fixture.torrent) << torrent_link;
        ++torrents;
    }
    EXPECT_EQ(torrents, 3u);
    for (const auto& link : links) {
        EXPECT_EQ(link.find("gone"), std::string::npos) << link;
        if (link.starts_with("sip:") || link.starts_with("sips:")) {
            continue;
        }
        if (link.starts_with("/torrents/")) {
            continue;
        }
        // Every other link (detail pages, home) resolves too.
        EXPECT_EQ(imsp2p_test::http_exchange(port, http::verb::get, link).result_int(), 200)
            << link;
    }
    // The withdrawn torrent is refused.
    EXPECT_EQ(imsp2p_test::http_exchange(port, http::verb::get, "/torrents/10.5555/gone.torrent")
                  .result_int(),
              410);

    // A search, as the page's form submits it.
    const std::string found = dump_dom(chromium, dir.path() / "profile", base + "/?q=PLANET");
    EXPECT_NE(found.find("Blue Planet"), std::string::npos) << found;
    EXPECT_NE(found.find("Red Planet"), std::string::npos);
    EXPECT_EQ(found.find("Tricky"), std::string::npos);
    EXPECT_NE(found.find("2 results"), std::string::npos);
    const auto found_links = hrefs(found);
    EXPECT_EQ(std::count(found_links.begin(), found_links.end(), items[1].expected_uri), 1);

    server.stop();
    thread.join();
    EXPECT_LT(std::chrono::steady_clock::now() - started, std::chrono::seconds(30));
}
