#include <imsp2p/core/content.hpp>

#include <imsp2p/core/error.hpp>

#include <gtest/gtest.h>

#include <chrono>
#include <cstdint>
#include <functional>
#include <limits>
#include <string>
#include <vector>

namespace {

using imsp2p::core::content_record;
using imsp2p::core::content_state;
using imsp2p::core::doi;
using imsp2p::core::errc;
using imsp2p::core::impu;
using json = nlohmann::json;

const std::string infohash_v1 = "0123456789abcdef0123456789abcdef01234567";
const std::string infohash_v2 = "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef";
const std::string kid = "00112233445566778899aabbccddeeff";

content_record sample_record() {
    content_record record;
    record.doi = doi::parse("10.5555/imsp2p.01HV8Z6Q5W3K2J9X7Y4T1R0M8N");
    record.publisher = impu::parse("sip:alice@ims.example.com");
    record.title = "Night of the Living Bytes \xE2\x80\x94 Director's cut";
    record.description = "A film.\nTwo lines, and a\ttab.";
    record.content_type = "video/mp4";
    record.genre = "horror";
    record.series = "Bytes";
    record.size_bytes = 734003200;
    record.price = {199, "EUR"};
    record.infohash_v1 = infohash_v1;
    record.infohash_v2 = infohash_v2;
    record.kid = kid;
    record.state = content_state::muted;
    record.created_at = std::chrono::system_clock::time_point(std::chrono::seconds(1700000000));
    return record;
}

const json sample_json = {
    {"doi", "10.5555/imsp2p.01HV8Z6Q5W3K2J9X7Y4T1R0M8N"},
    {"publisher", "sip:alice@ims.example.com"},
    {"title", "Night of the Living Bytes \xE2\x80\x94 Director's cut"},
    {"description", "A film.\nTwo lines, and a\ttab."},
    {"content_type", "video/mp4"},
    {"genre", "horror"},
    {"series", "Bytes"},
    {"size_bytes", 734003200},
    {"price", {{"amount_minor", 199}, {"currency", "EUR"}}},
    {"infohash_v1", infohash_v1},
    {"infohash_v2", infohash_v2},
    {"kid", kid},
    {"state", "muted"},
    {"created_at", 1700000000},
};

struct invalid_case {
    std::string name;
    std::function<void(json&)> mutate;
    errc expected;
    std::string field;
};

const std::vector<invalid_case> invalid_cases = {
    // doi
    {"doi missing", [](json& j) { j.erase("doi"); }, errc::content_malformed, "doi"},
    {"doi number", [](json& j) { j["doi"] = 10; }, errc::content_malformed, "doi"},
    {"doi empty", [](json& j) { j["doi"] = ""; }, errc::doi_empty, "doi"},
    {"doi url form", [](json& j) { j["doi"] = "https://doi.org/10.1000/1"; },
     errc::doi_missing_prefix, "doi"},
    {"doi registrant", [](json& j) { j["doi"] = "10.x/1"; }, errc::doi_bad_registrant, "doi"},
    {"doi whitespace", [](json& j) { j["doi"] = "10.1000/a b"; }, errc::doi_whitespace, "doi"},
    // publisher
    {"publisher missing", [](json& j) { j.erase("publisher"); }, errc::content_malformed,
     "publisher"},
    {"publisher array", [](json& j) { j["publisher"] = json::array(); }, errc::content_malformed,
     "publisher"},
    {"publisher scheme", [](json& j) { j["publisher"] = "mailto:alice@example.com"; },
     errc::impu_bad_scheme, "publisher"},
    {"publisher malformed", [](json& j) { j["publisher"] = "sip:"; }, errc::impu_malformed,
     "publisher"},
    // title
    {"title missing", [](json& j) { j.erase("title"); }, errc::content_malformed, "title"},
    {"title number", [](json& j) { j["title"] = 1; }, errc::content_malformed, "title"},
    {"title empty", [](json& j) { j["title"] = ""; }, errc::content_malformed, "title"},
    {"title newline", [](json& j) { j["title"] = "a\nb"; }, errc::content_malformed, "title"},
    {"title bidi override",
     [](json& j) {
         j["title"] =
             "a\xE2\x80\xAE"
             "b";
     },
     errc::content_malformed, "title"},
    {"title bad utf-8", [](json& j) { j["title"] = "a\xFF"; }, errc::content_malformed, "title"},
    {"title too long",
     [](json& j) { j["title"] = std::string(content_record::max_title_bytes + 1, 't'); },
     errc::content_malformed, "title"},
    // description
    {"description number", [](json& j) { j["description"] = 1; }, errc::content_malformed,
     "description"},
    {"description control", [](json& j) { j["description"] = "a\x01"; }, errc::content_malformed,
     "description"},
    {"description null", [](json& j) { j["description"] = nullptr; }, errc::content_malformed,
     "description"},
    {"description too long",
     [](json& j) {
         j["description"] = std::string(content_record::max_description_bytes + 1, 'd');
     },
     errc::content_malformed, "description"},
    // content_type
    {"content_type missing", [](json& j) { j.erase("content_type"); }, errc::content_malformed,
     "content_type"},
    {"content_type no subtype", [](json& j) { j["content_type"] = "video"; },
     errc::content_malformed, "content_type"},
    {"content_type empty subtype", [](json& j) { j["content_type"] = "video/"; },
     errc::content_malformed, "content_type"},
    {"content_type empty type", [](json& j) { j["content_type"] = "/mp4"; },
     errc::content_malformed, "content_type"},
    {"content_type space", [](json& j) { j["content_type"] = "video mp4"; },
     errc::content_malformed, "content_type"},
    {"content_type bad first", [](json& j) { j["content_type"] = "+video/mp4"; },
     errc::content_malformed, "content_type"},
    {"content_type two slashes", [](json& j) { j["content_type"] = "video/mp4/x"; },
     errc::content_malformed, "content_type"},
    {"content_type parameter without value",
     [](json& j) { j["content_type"] = "text/plain; charset"; }, errc::content_malformed,
     "content_type"},
    {"content_type unterminated quote", [](json& j) { j["content_type"] = "text/plain; a=\"x"; },
     errc::content_malformed, "content_type"},
    {"content_type non-ascii", [](json& j) { j["content_type"] = "vid\xC3\xA9o/mp4"; },
     errc::content_malformed, "content_type"},
    {"content_type too long", [](json& j) { j["content_type"] = "text/" + std::string(251, 'x'); },
     errc::content_malformed, "content_type"},
    // genre and series
    {"genre number", [](json& j) { j["genre"] = 3; }, errc::content_malformed, "genre"},
    {"genre empty", [](json& j) { j["genre"] = ""; }, errc::content_malformed, "genre"},
    {"genre too long",
     [](json& j) { j["genre"] = std::string(content_record::max_label_bytes + 1, 'g'); },
     errc::content_malformed, "genre"},
    {"series control", [](json& j) { j["series"] = "a\tb"; }, errc::content_malformed, "series"},
    {"series object", [](json& j) { j["series"] = json::object(); }, errc::content_malformed,
     "series"},
    // size_bytes
    {"size missing", [](json& j) { j.erase("size_bytes"); }, errc::content_malformed, "size_bytes"},
    {"size negative", [](json& j) { j["size_bytes"] = -1; }, errc::content_malformed, "size_bytes"},
    {"size fraction", [](json& j) { j["size_bytes"] = 1.5; }, errc::content_malformed,
     "size_bytes"},
    {"size string", [](json& j) { j["size_bytes"] = "5"; }, errc::content_malformed, "size_bytes"},
    // price
    {"price missing", [](json& j) { j.erase("price"); }, errc::content_malformed, "price"},
    {"price number", [](json& j) { j["price"] = 199; }, errc::content_malformed, "price"},
    {"amount missing", [](json& j) { j["price"].erase("amount_minor"); }, errc::content_malformed,
     "price.amount_minor"},
    {"amount negative", [](json& j) { j["price"]["amount_minor"] = -1; }, errc::content_malformed,
     "price.amount_minor"},
    {"amount fraction", [](json& j) { j["price"]["amount_minor"] = 1.99; }, errc::content_malformed,
     "price.amount_minor"},
    {"amount beyond int64",
     [](json& j) {
         j["price"]["amount_minor"] =
             static_cast<std::uint64_t>(std::numeric_limits<std::int64_t>::max()) + 1;
     },
     errc::content_malformed, "price.amount_minor"},
    {"currency missing", [](json& j) { j["price"].erase("currency"); }, errc::content_malformed,
     "price.currency"},
    {"currency number", [](json& j) { j["price"]["currency"] = 978; }, errc::content_malformed,
     "price.currency"},
    {"currency lower case", [](json& j) { j["price"]["currency"] = "eur"; },
     errc::content_malformed, "price.currency"},
    {"currency four letters", [](json& j) { j["price"]["currency"] = "EURO"; },
     errc::content_malformed, "price.currency"},
    {"currency digit", [](json& j) { j["price"]["currency"] = "E1R"; }, errc::content_malformed,
     "price.currency"},
    // infohashes and kid
    {"infohash_v1 missing", [](json& j) { j.erase("infohash_v1"); }, errc::content_malformed,
     "infohash_v1"},
    {"infohash_v1 short", [](json& j) { j["infohash_v1"] = infohash_v1.substr(1); },
     errc::content_malformed, "infohash_v1"},
    {"infohash_v1 long", [](json& j) { j["infohash_v1"] = infohash_v1 + "0"; },
     errc::content_malformed, "infohash_v1"},
    {"infohash_v1 not hex", [](json& j) { j["infohash_v1"] = std::string(40, 'g'); },
     errc::content_malformed, "infohash_v1"},
    {"infohash_v2 v1 length", [](json& j) { j["infohash_v2"] = infohash_v1; },
     errc::content_malformed, "infohash_v2"},
    {"infohash_v2 number", [](json& j) { j["infohash_v2"] = 0; }, errc::content_malformed,
     "infohash_v2"},
    {"kid short", [](json& j) { j["kid"] = kid.substr(2); }, errc::content_malformed, "kid"},
    {"kid with prefix", [](json& j) { j["kid"] = "0x" + kid.substr(2); }, errc::content_malformed,
     "kid"},
    // state
    {"state missing", [](json& j) { j.erase("state"); }, errc::content_malformed, "state"},
    {"state unknown", [](json& j) { j["state"] = "deleted"; }, errc::content_malformed, "state"},
    {"state upper case", [](json& j) { j["state"] = "ACTIVE"; }, errc::content_malformed, "state"},
    {"state number", [](json& j) { j["state"] = 0; }, errc::content_malformed, "state"},
    // created_at
    {"created_at missing", [](json& j) { j.erase("created_at"); }, errc::content_malformed,
     "created_at"},
    {"created_at negative", [](json& j) { j["created_at"] = -1; }, errc::content_malformed,
     "created_at"},
    {"created_at fraction", [](json& j) { j["created_at"] = 1.5; }, errc::content_malformed,
     "created_at"},
    {"created_at string", [](json& j) { j["created_at"] = "2023-11-14T22:13:20Z"; },
     errc::content_malformed, "created_at"},
    {"created_at overflow",
     [](json& j) { j["created_at"] = std::numeric_limits<std::uint64_t>::max(); },
     errc::content_malformed, "created_at"},
};

}  // namespace

TEST(Content, SerialisesToTheDocumentedJson) {
    const content_record record = sample_record();
    std::error_code ec = errc::io_error;
    record.validate(ec);
    EXPECT_FALSE(ec) << ec.message();
    EXPECT_EQ(record.to_json(), sample_json);
}

TEST(Content, JsonRoundTrip) {
    const content_record record = sample_record();
    std::error_code ec = errc::io_error;
    std::string field = "untouched";
    const content_record parsed = content_record::from_json(record.to_json(), ec, &field);
    ASSERT_FALSE(ec) << ec.message() << " in " << field;
    EXPECT_EQ(field, "untouched");
    EXPECT_EQ(parsed, record);
    EXPECT_EQ(parsed.doi.str(), record.doi.str());
    EXPECT_EQ(parsed.publisher.str(), record.publisher.str());

    // Through text, as services exchange it.
    const content_record from_text =
        content_record::from_json(json::parse(record.to_json().dump()));
    EXPECT_EQ(from_text, record);
}

TEST(Content, OptionalMembers) {
    content_record record = sample_record();
    record.genre.reset();
    record.series.reset();
    record.description.clear();
    const json serialised = record.to_json();
    EXPECT_FALSE(serialised.contains("genre"));
    EXPECT_FALSE(serialised.contains("series"));
    EXPECT_EQ(content_record::from_json(serialised), record);

    json minimal = serialised;
    minimal.erase("description");
    minimal["genre"] = nullptr;
    minimal["series"] = nullptr;
    const content_record parsed = content_record::from_json(minimal);
    EXPECT_EQ(parsed.description, "");
    EXPECT_FALSE(parsed.genre.has_value());
    EXPECT_FALSE(parsed.series.has_value());
}

TEST(Content, LenientWhereHarmless) {
    json input = sample_json;
    input["unknown_future_member"] = {1, 2, 3};
    input["infohash_v1"] = "0123456789ABCDEF0123456789ABCDEF01234567";
    input["kid"] = "00112233445566778899AABBCCDDEEFF";
    input["content_type"] = "text/plain; charset=utf-8 ;format=\"flowed \\\"x\\\"\"";
    input["size_bytes"] = std::numeric_limits<std::uint64_t>::max();
    input["publisher"] = "  SIPS:Alice@IMS.Example.com  ";
    const content_record parsed = content_record::from_json(input);
    EXPECT_EQ(parsed.infohash_v1, infohash_v1);
    EXPECT_EQ(parsed.kid, kid);
    EXPECT_EQ(parsed.size_bytes, std::numeric_limits<std::uint64_t>::max());
    EXPECT_EQ(parsed.publisher.str(), "SIPS:Alice@IMS.Example.com");
    EXPECT_EQ(parsed.publisher.canonical(), "sip:Alice@ims.example.com");
    EXPECT_FALSE(parsed.to_json().contains("unknown_future_member"));
}

TEST(Content, KeepsDoisWithPercentSignsVerbatim) {
    content_record record = sample_record();
    record.doi = doi::parse("https://doi.org/10.1000/100%2520%C3%84");
    ASSERT_EQ(record.doi.str(), "10.1000/100%20\xC3\x84");
    const content_record parsed = content_record::from_json(record.to_json());
    EXPECT_EQ(parsed.doi.str(), "10.1000/100%20\xC3\x84");
}

TEST(Content, CreatedAtKeepsWholeSeconds) {
    content_record record = sample_record();
    record.created_at += std::chrono::milliseconds(999);
    EXPECT_EQ(record.to_json()["created_at"], 1700000000);
    const content_record parsed = content_record::from_json(record.to_json());
    EXPECT_EQ(parsed.created_at,
              std::chrono::system_clock::time_point(std::chrono::seconds(1700000000)));
    record.created_at = {};
    EXPECT_EQ(content_record::from_json(record.to_json()).created_at,
              std::chrono::system_clock::time_point());
}

TEST(Content, RejectsEachInvalidMember) {
    for (const auto& [name, mutate, expected, expected_field] : invalid_cases) {
        SCOPED_TRACE(name);
        json input = sample_json;
        mutate(input);
        std::error_code ec;
        std::string field;
        const content_record parsed = content_record::from_json(input, ec, &field);
        EXPECT_EQ(ec, make_error_code(expected)) << ec.message();
        EXPECT_EQ(field, expected_field);
        EXPECT_TRUE(parsed.doi.empty());
        EXPECT_TRUE(parsed.title.empty());
        try {
            (void)content_record::from_json(input);
            ADD_FAILURE() << "no exception";
        } catch (const std::system_error& error) {
            EXPECT_EQ(error.code(), make_error_code(expected));
            EXPECT_NE(std::string(error.what()).find("\"" + expected_field + "\""),
                      std::string::npos)
                << error.what();
        }
    }
}

TEST(Content, RejectsNonObjects) {
    for (const json& input : {json(), json::array({sample_json}), json("record"), json(1)}) {
        SCOPED_TRACE(input.dump());
        std::error_code ec;
        std::string field = "x";
        EXPECT_TRUE(content_record::from_json(input, ec, &field).title.empty());
        EXPECT_EQ(ec, make_error_code(errc::content_malformed));
        EXPECT_EQ(field, "");
    }
    std::error_code ec;
    (void)content_record::from_json(json::object(), ec);  // no field pointer: must not crash
    EXPECT_EQ(ec, make_error_code(errc::content_malformed));
}

TEST(Content, ValidatesRecordsBuiltInCode) {
    std::error_code ec;
    std::string field;
    content_record().validate(ec, &field);
    EXPECT_EQ(ec, make_error_code(errc::doi_empty));
    EXPECT_EQ(field, "doi");

    const std::vector<std::pair<std::function<void(content_record&)>, std::string>> cases = {
        {[](content_record& r) { r.publisher = impu(); }, "publisher"},
        {[](content_record& r) { r.title.clear(); }, "title"},
        {[](content_record& r) { r.content_type = "mp4"; }, "content_type"},
        {[](content_record& r) { r.genre = ""; }, "genre"},
        {[](content_record& r) { r.series = "\x7F"; }, "series"},
        {[](content_record& r) { r.price.amount_minor = -5; }, "price.amount_minor"},
        {[](content_record& r) { r.price.currency = "Eur"; }, "price.currency"},
        {[](content_record& r) { r.infohash_v1 = "0123456789ABCDEF0123456789ABCDEF01234567"; },
         "infohash_v1"},
        {[](content_record& r) { r.infohash_v2.clear(); }, "infohash_v2"},
        {[](content_record& r) { r.kid = "00112233445566778899AABBCCDDEEFF"; }, "kid"},
        {[](content_record& r) { r.state = static_cast<content_state>(7); }, "state"},
        {[](content_record& r) {
             r.created_at = std::chrono::system_clock::time_point(std::chrono::seconds(-1));
         },
         "created_at"},
    };
    for (const auto& [mutate, expected_field] : cases) {
        SCOPED_TRACE(expected_field);
        content_record record = sample_record();
        mutate(record);
        record.validate(ec, &field);
        EXPECT_TRUE(ec);
        EXPECT_EQ(field, expected_field);
        EXPECT_THROW(record.validate(), std::system_error);
    }
    EXPECT_NO_THROW(sample_record().validate());
}

TEST(Content, StateNames) {
    for (const auto state :
         {content_state::active, content_state::muted, content_state::withdrawn}) {
        std::error_code ec = errc::io_error;
        EXPECT_EQ(imsp2p::core::parse_content_state(imsp2p::core::to_string(state), ec), state);
        EXPECT_FALSE(ec);
    }
    EXPECT_EQ(imsp2p::core::to_string(content_state::withdrawn), "withdrawn");
    std::error_code ec;
    EXPECT_EQ(imsp2p::core::parse_content_state("Muted", ec), content_state::active);
    EXPECT_EQ(ec, make_error_code(errc::content_malformed));
}
