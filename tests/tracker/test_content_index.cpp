#include <imsp2p/tracker/content_index.hpp>

#include <imsp2p/tracker/error.hpp>

#include <imsp2p_test/index_fixtures.hpp>
#include <imsp2p_test/temporary_directory.hpp>

#include <gtest/gtest.h>

#include <chrono>
#include <string>

namespace tracker = imsp2p::tracker;
namespace core = imsp2p::core;

namespace {

const auto t0 = std::chrono::system_clock::time_point(std::chrono::seconds(1'800'000'000));

tracker::index_entry entry_of(const imsp2p_test::index_fixture& fixture) {
    tracker::index_entry entry;
    entry.record = fixture.record;
    entry.torrent = core::to_bytes(fixture.torrent);
    entry.purchase_uri = "sip:content@operator.example?doi=" + fixture.record.doi.str();
    return entry;
}

std::vector<std::string> titles(const std::vector<tracker::index_entry>& entries) {
    std::vector<std::string> out;
    for (const auto& entry : entries) {
        out.push_back(entry.record.title);
    }
    return out;
}

}  // namespace

TEST(ContentIndex, PutCreatesThenUpdatesAndFindIgnoresCase) {
    imsp2p_test::temporary_directory dir("index-store");
    auto index = tracker::content_index::open(dir.path() / "index.sqlite");
    auto fixture = imsp2p_test::make_index_fixture("10.5555/Movie.1", "The Movie", "m1");
    std::error_code ec;
    EXPECT_TRUE(index->put(entry_of(fixture), t0, ec));
    ASSERT_FALSE(ec) << ec.message();
    fixture.record.title = "The Movie (director's cut)";
    EXPECT_FALSE(index->put(entry_of(fixture), t0 + std::chrono::seconds(5), ec));
    ASSERT_FALSE(ec);
    const auto found = index->find(core::doi::parse("10.5555/MOVIE.1"), true, ec);
    ASSERT_FALSE(ec);
    ASSERT_TRUE(found.has_value());
    EXPECT_EQ(found->record, fixture.record);
    EXPECT_EQ(core::as_string_view(found->torrent), fixture.torrent);
    EXPECT_EQ(found->state, tracker::index_entry_state::listed);
    EXPECT_EQ(found->updated_at, t0 + std::chrono::seconds(5));
    EXPECT_FALSE(index->find(core::doi::parse("10.5555/other"), false, ec).has_value());
    EXPECT_FALSE(ec);
}

TEST(ContentIndex, SearchMatchesTitleSubstringDoiGenreAndSeries) {
    imsp2p_test::temporary_directory dir("index-store");
    auto index = tracker::content_index::open(dir.path() / "index.sqlite");
    std::error_code ec;
    index->put(entry_of(imsp2p_test::make_index_fixture("10.5555/a", "Blue Planet", "a",
                                                        "Documentary", "Planets")),
               t0, ec);
    index->put(entry_of(imsp2p_test::make_index_fixture("10.5555/b", "Red Planet", "b", "Drama")),
               t0, ec);
    index->put(entry_of(imsp2p_test::make_index_fixture("10.5555/c", "Ocean", "c", "documentary",
                                                        "Planets")),
               t0, ec);
    ASSERT_FALSE(ec);
    tracker::index_query query;
    EXPECT_EQ(index->search(query, ec).size(), 3u);
    query.text = "  PLANET ";
    EXPECT_EQ(titles(index->search(query, ec)),
              (std::vector<std::string>{"Blue Planet", "Red Planet"}));
    query.text = "https://doi.org/10.5555/C";
    EXPECT_EQ(titles(index->search(query, ec)), std::vector<std::string>{"Ocean"});
    query.text.clear();
    query.genre = "DOCUMENTARY";
    EXPECT_EQ(titles(index->search(query, ec)), (std::vector<std::string>{"Blue Planet", "Ocean"}));
    query.genre.reset();
    query.series = "planets";
    query.text = "ocean";
    EXPECT_EQ(titles(index->search(query, ec)), std::vector<std::string>{"Ocean"});
    query = {};
    query.text = "100%_";  // no LIKE wildcards: matches literally, i.e. nothing here
    EXPECT_TRUE(index->search(query, ec).empty());
    EXPECT_FALSE(ec);
}

TEST(ContentIndex, WithdrawHidesButKeepsAndSurvivesRestart) {
    imsp2p_test::temporary_directory dir("index-store");
    const auto file = dir.path() / "index.sqlite";
    std::error_code ec;
    {
        auto index = tracker::content_index::open(file);
        index->put(entry_of(imsp2p_test::make_index_fixture("10.5555/a", "Alpha", "a")), t0, ec);
        index->put(entry_of(imsp2p_test::make_index_fixture("10.5555/b", "Beta", "b")), t0, ec);
        const auto withdrawn = index->withdraw(core::doi::parse("10.5555/A"), t0, ec);
        ASSERT_FALSE(ec);
        ASSERT_TRUE(withdrawn.has_value());
        EXPECT_EQ(withdrawn->state, tracker::index_entry_state::withdrawn);
        EXPECT_EQ(withdrawn->record.state, core::content_state::withdrawn);
        EXPECT_FALSE(index->withdraw(core::doi::parse("10.5555/zzz"), t0, ec).has_value());
        EXPECT_EQ(ec, tracker::errc::unknown_content);
    }
    auto index = tracker::content_index::open(file);
    tracker::index_query query;
    EXPECT_EQ(titles(index->search(query, ec)), std::vector<std::string>{"Beta"});
    query.include_withdrawn = true;
    EXPECT_EQ(index->search(query, ec).size(), 2u);
    const auto counts = index->counts(ec);
    EXPECT_EQ(counts.listed, 1u);
    EXPECT_EQ(counts.withdrawn, 1u);
    // Publishing again lists it again.
    EXPECT_FALSE(
        index->put(entry_of(imsp2p_test::make_index_fixture("10.5555/a", "Alpha", "a")), t0, ec));
    EXPECT_EQ(index->counts(ec).listed, 2u);
}

TEST(ContentIndex, OpenFailsOnAnUnusablePath) {
    std::error_code ec;
    auto index = tracker::content_index::open("/nonexistent-dir/x/index.sqlite", ec);
    EXPECT_EQ(index, nullptr);
    EXPECT_EQ(ec, tracker::errc::storage_failure);
}
