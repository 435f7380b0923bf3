#include <imsp2p/core/doi.hpp>

#include <imsp2p/core/error.hpp>

#include <gtest/gtest.h>

#include <algorithm>
#include <chrono>
#include <map>
#include <set>
#include <sstream>
#include <string>
#include <unordered_set>
#include <vector>

namespace {

using imsp2p::core::doi;
using imsp2p::core::errc;

struct valid_case {
    std::string input;
    std::string canonical;
};

// Every accepted form, with the canonical string it must give.
const std::vector<valid_case> valid_cases = {
    {"10.1000/182", "10.1000/182"},
    {"doi:10.1000/182", "10.1000/182"},
    {"DOI:10.1000/182", "10.1000/182"},
    {"Doi:10.1000/182", "10.1000/182"},
    {"urn:doi:10.1000/182", "10.1000/182"},
    {"URN:DOI:10.1000/182", "10.1000/182"},
    {"https://doi.org/10.1000/182", "10.1000/182"},
    {"http://doi.org/10.1000/182", "10.1000/182"},
    {"https://dx.doi.org/10.1000/182", "10.1000/182"},
    {"http://dx.doi.org/10.1000/182", "10.1000/182"},
    {"HTTPS://DOI.ORG/10.1000/182", "10.1000/182"},
    {"https://Dx.Doi.Org/10.1000/182", "10.1000/182"},
    // Query and fragment end the URL path and are not part of the DOI.
    {"https://doi.org/10.1000/182?locatt=mode:legacy", "10.1000/182"},
    {"https://doi.org/10.1000/182#section", "10.1000/182"},
    // ...but in the prefixed forms "?" and "#" are ordinary characters.
    {"doi:10.1000/a?b#c", "10.1000/a?b#c"},
    {"10.1000/a?b#c", "10.1000/a?b#c"},
    // Registrants with sub-parts, suffixes with slashes, case preserved.
    {"10.1000.10/abc", "10.1000.10/abc"},
    {"10.1.2.3/x", "10.1.2.3/x"},
    {"10.1000/abc/def", "10.1000/abc/def"},
    {"10.1000/ABC/Def", "10.1000/ABC/Def"},
    {"10.1002/(SICI)1097-4571(199806)49:8<693::AID-ASI4>3.0.CO;2-O",
     "10.1002/(SICI)1097-4571(199806)49:8<693::AID-ASI4>3.0.CO;2-O"},
    {"10.1000/!$&'()*+,;=:@~-._", "10.1000/!$&'()*+,;=:@~-._"},
    // Percent-decoding in every form; a literal "%" is "%25".
    {"10.1000/100%25", "10.1000/100%"},
    {"10.1000/a%3fb", "10.1000/a?b"},
    {"10.1000/a%3Fb", "10.1000/a?b"},
    {"10.1000%2F182", "10.1000/182"},
    {"10%2E1000/182", "10.1000/182"},
    {"doi:10.1000/%41", "10.1000/A"},
    {"urn:doi:10.1000/a%23b", "10.1000/a#b"},
    {"https://doi.org/10.1000/%C3%84%C3%96", "10.1000/\xC3\x84\xC3\x96"},
    {"https://doi.org/10.1000/a%3Fb%23c", "10.1000/a?b#c"},
    // Non-ASCII as raw UTF-8 (IRI form) or encoded.
    {"10.1000/\xC3\x84\xC3\x96", "10.1000/\xC3\x84\xC3\x96"},
    {"10.1000/\xE6\x97\xA5\xE6\x9C\xAC", "10.1000/\xE6\x97\xA5\xE6\x9C\xAC"},  // 日本
    {"10.1000/\xF0\x9F\x98\x80", "10.1000/\xF0\x9F\x98\x80"},                  // U+1F600
    {"https://doi.org/10.1000/\xC3\x84", "10.1000/\xC3\x84"},
};

struct invalid_case {
    std::string input;
    errc expected;
};

const std::vector<invalid_case> invalid_cases = {
    {"", errc::doi_empty},
    {"doi:", errc::doi_empty},
    {"urn:doi:", errc::doi_empty},
    {"https://doi.org/", errc::doi_empty},
    {"https://doi.org", errc::doi_empty},
    {"https://doi.org?x=1", errc::doi_empty},
    {"https://doi.org/?10.1000/182", errc::doi_empty},
    // Directory indicator.
    {"11.1000/182", errc::doi_missing_prefix},
    {"1000/182", errc::doi_missing_prefix},
    {"abc", errc::doi_missing_prefix},
    {"doi.org/10.1000/182", errc::doi_missing_prefix},
    {"ftp://doi.org/10.1000/182", errc::doi_missing_prefix},
    {"info:doi/10.1000/182", errc::doi_missing_prefix},
    {"doi:doi:10.1000/182", errc::doi_missing_prefix},
    // Resolver hosts.
    {"https://example.com/10.1000/182", errc::doi_bad_resolver},
    {"https://www.doi.org/10.1000/182", errc::doi_bad_resolver},
    {"https://doi.org.example.com/10.1000/182", errc::doi_bad_resolver},
    {"https://doi.org:443/10.1000/182", errc::doi_bad_resolver},
    {"https://user@doi.org/10.1000/182", errc::doi_bad_resolver},
    {"https://doi.org./10.1000/182", errc::doi_bad_resolver},
    {"https:///10.1000/182", errc::doi_bad_resolver},
    // Registrant codes.
    {"10./182", errc::doi_bad_registrant},
    {"10.abc/182", errc::doi_bad_registrant},
    {"10.1000./182", errc::doi_bad_registrant},
    {"10..1000/182", errc::doi_bad_registrant},
    {"10.10a0/182", errc::doi_bad_registrant},
    {"10.-1000/182", errc::doi_bad_registrant},
    {"10.\xD9\xA1\xD9\xA0/182", errc::doi_bad_registrant},  // Arabic-Indic digits
    // Suffix.
    {"10.1000", errc::doi_missing_suffix},
    {"10.1000/", errc::doi_missing_suffix},
    {"https://doi.org/10.1000", errc::doi_missing_suffix},
    {"https://doi.org/10.1000/?x", errc::doi_missing_suffix},
    // Whitespace, raw or decoded, ASCII or not.
    {"10.1000/a b", errc::doi_whitespace},
    {"10.1000/a%20b", errc::doi_whitespace},
    {"10.1000/a\tb", errc::doi_whitespace},
    {" 10.1000/182", errc::doi_whitespace},
    {"10.1000/182\n", errc::doi_whitespace},
    {"doi: 10.1000/182", errc::doi_whitespace},
    {"https://doi.org/10.1000/a%0Ab", errc::doi_whitespace},
    {"10.1000/a\xC2\xA0"
     "b",
     errc::doi_whitespace},  // U+00A0 no-break space
    {"10.1000/a\xC2\x85"
     "b",
     errc::doi_whitespace},  // U+0085 next line
    {"10.1000/a\xE3\x80\x80"
     "b",
     errc::doi_whitespace},  // U+3000 ideographic space
    {"10.1000/a\xE2\x80\xA8"
     "b",
     errc::doi_whitespace},  // U+2028 line separator
    // Control and invisible format characters.
    {std::string("10.1000/a\0b", 11), errc::doi_control_character},
    {"10.1000/a%00b", errc::doi_control_character},
    {"10.1000/a\x01"
     "b",
     errc::doi_control_character},
    {"10.1000/a\x7F"
     "b",
     errc::doi_control_character},
    {"10.1000/a%7Fb", errc::doi_control_character},
    {"10.1000/a\xC2\x80"
     "b",
     errc::doi_control_character},  // U+0080
    {"10.1000/a\xE2\x80\x8B"
     "b",
     errc::doi_control_character},  // U+200B zero width space
    {"10.1000/a\xE2\x80\xAE"
     "b",
     errc::doi_control_character},  // U+202E right-to-left override
    {"10.1000/a\xEF\xBB\xBF"
     "b",
     errc::doi_control_character},  // U+FEFF byte order mark
    {"10.1000/a\xC2\xAD"
     "b",
     errc::doi_control_character},  // U+00AD soft hyphen
    {"10.1000/a\xEF\xBF\xBE"
     "b",
     errc::doi_control_character},  // U+FFFE noncharacter
    // Percent-encoding.
    {"10.1000/100%", errc::doi_bad_percent_encoding},
    {"10.1000/100%2", errc::doi_bad_percent_encoding},
    {"10.1000/%G1", errc::doi_bad_percent_encoding},
    {"10.1000/%%41", errc::doi_bad_percent_encoding},
    {"https://doi.org/10.1000/50%", errc::doi_bad_percent_encoding},
    // UTF-8.
    {"10.1000/\xFF", errc::doi_bad_utf8},
    {"10.1000/%FF", errc::doi_bad_utf8},
    {"10.1000/%C3", errc::doi_bad_utf8},           // truncated sequence
    {"10.1000/%C0%AF", errc::doi_bad_utf8},        // overlong "/"
    {"10.1000/%ED%A0%80", errc::doi_bad_utf8},     // UTF-16 surrogate
    {"10.1000/%F4%90%80%80", errc::doi_bad_utf8},  // beyond U+10FFFF
    {"10.1000/\xC3\x28", errc::doi_bad_utf8},      // bad continuation
    // Length.
    {"10.1000/" + std::string(doi::max_length - 7, 'a'), errc::doi_too_long},
    {"10.1000/" + std::string(doi::max_input_length, 'a'), errc::doi_too_long},
};

// DOIs that exercise every encoding rule, for the url()/urn() round trips.
const std::vector<std::string> tricky_dois = {
    "10.1000/182",
    "10.1002/(SICI)1097-4571(199806)49:8<693::AID-ASI4>3.0.CO;2-O",
    "10.1000/\xC3\x84\xC3\x96",
    "10.1000/100%",
    "10.1000/%41",
    "10.1000/a?b#c",
    "10.1000/\"quoted\"",
    "10.1000/{x}[y]^`|\\",
    "10.1000/a/b/../c",
    "10.1000/+&=;,$@:!*'()~",
    "10.1000.1/\xF0\x9F\x98\x80",
    "10.1000/" + std::string(doi::max_length - 8, '%'),
};

}  // namespace

TEST(Doi, ParsesEveryAcceptedForm) {
    for (const auto& [input, canonical] : valid_cases) {
        SCOPED_TRACE(input);
        std::error_code ec = errc::io_error;  // must be cleared
        const doi parsed = doi::parse(input, ec);
        ASSERT_FALSE(ec) << ec.message();
        EXPECT_FALSE(parsed.empty());
        EXPECT_EQ(parsed.str(), canonical);
        EXPECT_EQ(doi::parse(input).str(), canonical);
    }
}

TEST(Doi, RejectsInvalidInputWithPreciseCode) {
    for (const auto& [input, expected] : invalid_cases) {
        SCOPED_TRACE(input);
        std::error_code ec;
        const doi parsed = doi::parse(input, ec);
        EXPECT_EQ(ec, make_error_code(expected)) << ec.message();
        EXPECT_TRUE(parsed.empty());
        try {
            (void)doi::parse(input);
            ADD_FAILURE() << "no exception";
        } catch (const std::system_error& error) {
            EXPECT_EQ(error.code(), make_error_code(expected));
        }
    }
}

TEST(Doi, AcceptsTheLongestDoi) {
    const std::string longest = "10.1000/" + std::string(doi::max_length - 8, 'a');
    ASSERT_EQ(longest.size(), doi::max_length);
    EXPECT_EQ(doi::parse(longest).str(), longest);
    // The longest DOI fully percent-encoded still fits the input limit.
    const std::string all_encoded = "10.1000/" + std::string(doi::max_length - 8, '%');
    const doi encoded = doi::parse_canonical(all_encoded);
    ASSERT_LE(encoded.url().size(), doi::max_input_length);
    EXPECT_EQ(doi::parse(encoded.url()).str(), all_encoded);
}

TEST(Doi, SplitsPrefixRegistrantAndSuffix) {
    const doi value = doi::parse("https://doi.org/10.1000.5/abc/Def");
    EXPECT_EQ(value.prefix(), "10.1000.5");
    EXPECT_EQ(value.registrant(), "1000.5");
    EXPECT_EQ(value.suffix(), "abc/Def");
    EXPECT_EQ(value.str(), "10.1000.5/abc/Def");
    EXPECT_EQ(value.key(), "10.1000.5/ABC/DEF");
}

TEST(Doi, DefaultIsEmpty) {
    const doi value;
    EXPECT_TRUE(value.empty());
    EXPECT_EQ(value.str(), "");
    EXPECT_EQ(value.prefix(), "");
    EXPECT_EQ(value.registrant(), "");
    EXPECT_EQ(value.suffix(), "");
    EXPECT_EQ(value.key(), "");
    EXPECT_EQ(value.url(), "");
    EXPECT_EQ(value.urn(), "");
    EXPECT_EQ(value, doi());
    EXPECT_NE(value, doi::parse("10.1000/1"));
}

TEST(Doi, UrlEncodesUnsafeCharacters) {
    const std::vector<std::pair<std::string, std::string>> cases = {
        {"10.1000/182", "https://doi.org/10.1000/182"},
        {"10.1000/\xC3\x84\xC3\x96", "https://doi.org/10.1000/%C3%84%C3%96"},
        {"10.1002/(SICI)1097-4571(199806)49:8<693::AID-ASI4>3.0.CO;2-O",
         "https://doi.org/10.1002/(SICI)1097-4571(199806)49:8%3C693::AID-ASI4%3E3.0.CO;2-O"},
        {"10.1000/a?b#c%d", "https://doi.org/10.1000/a%3Fb%23c%25d"},
        {"10.1000/\"{}[]^`|\\<>", "https://doi.org/10.1000/%22%7B%7D%5B%5D%5E%60%7C%5C%3C%3E"},
        {"10.1000/+&=;,$@:!*'()~-._/x", "https://doi.org/10.1000/+&=;,$@:!*'()~-._/x"},
    };
    for (const auto& [canonical, url] : cases) {
        SCOPED_TRACE(canonical);
        EXPECT_EQ(doi::parse_canonical(canonical).url(), url);
    }
    EXPECT_EQ(doi::parse("10.1000/%C3%84%C3%96").urn(), "urn:doi:10.1000/%C3%84%C3%96");
    EXPECT_EQ(doi::parse("10.1000/182").urn(), "urn:doi:10.1000/182");
}

TEST(Doi, UrlAndUrnRoundTrip) {
    for (const auto& canonical : tricky_dois) {
        SCOPED_TRACE(canonical);
        const doi original = doi::parse_canonical(canonical);
        ASSERT_EQ(original.str(), canonical);
        for (const auto& form : {original.url(), original.urn()}) {
            SCOPED_TRACE(form);
            std::error_code ec;
            const doi reparsed = doi::parse(form, ec);
            ASSERT_FALSE(ec) << ec.message();
            EXPECT_EQ(reparsed, original);
            EXPECT_EQ(reparsed.str(), original.str());
        }
    }
}

TEST(Doi, ParseCanonicalReadsStrVerbatim) {
    EXPECT_EQ(doi::parse_canonical("10.1000/a%20b").str(), "10.1000/a%20b");
    EXPECT_EQ(doi::parse_canonical("10.1000/100%").str(), "10.1000/100%");
    for (const auto& [input, canonical] : valid_cases) {
        SCOPED_TRACE(input);
        const doi parsed = doi::parse(input);
        EXPECT_EQ(doi::parse_canonical(parsed.str()).str(), parsed.str());
    }
    const std::vector<std::pair<std::string, errc>> invalid = {
        {"", errc::doi_empty},
        {"doi:10.1000/182", errc::doi_missing_prefix},
        {"https://doi.org/10.1000/182", errc::doi_missing_prefix},
        {"10.x/182", errc::doi_bad_registrant},
        {"10.1000/", errc::doi_missing_suffix},
        {"10.1000/a b", errc::doi_whitespace},
        {"10.1000/a\x01", errc::doi_control_character},
        {"10.1000/\xFF", errc::doi_bad_utf8},
        {"10.1000/" + std::string(doi::max_length, 'a'), errc::doi_too_long},
    };
    for (const auto& [input, expected] : invalid) {
        SCOPED_TRACE(input);
        std::error_code ec;
        EXPECT_TRUE(doi::parse_canonical(input, ec).empty());
        EXPECT_EQ(ec, make_error_code(expected));
        EXPECT_THROW((void)doi::parse_canonical(input), std::system_error);
    }
}

TEST(Doi, ComparesCaseInsensitivelyByAsciiFold) {
    const doi lower = doi::parse("10.1000/abc-xyz");
    const doi upper = doi::parse("doi:10.1000/ABC-XYZ");
    const doi mixed = doi::parse("https://doi.org/10.1000/aBc-XyZ");
    EXPECT_EQ(lower, upper);
    EXPECT_EQ(lower, mixed);
    EXPECT_EQ(lower.key(), "10.1000/ABC-XYZ");
    EXPECT_EQ(lower.key(), upper.key());
    EXPECT_EQ(lower.hash(), upper.hash());
    EXPECT_EQ(std::hash<doi>{}(lower), std::hash<doi>{}(mixed));
    EXPECT_EQ(lower <=> upper, std::weak_ordering::equivalent);
    // Case is preserved in str().
    EXPECT_EQ(upper.str(), "10.1000/ABC-XYZ");

    // Non-ASCII letters are compared exactly: no Unicode case folding.
    const doi a_umlaut_lower = doi::parse("10.1000/\xC3\xA4");  // ä
    const doi a_umlaut_upper = doi::parse("10.1000/\xC3\x84");  // Ä
    EXPECT_NE(a_umlaut_lower, a_umlaut_upper);
    EXPECT_NE(doi::parse("10.1000/1"), doi::parse("10.1000/2"));
    EXPECT_NE(doi::parse("10.1000/1"), doi::parse("10.10001/1"));

    std::unordered_set<doi> set;
    set.insert(lower);
    set.insert(upper);
    set.insert(mixed);
    set.insert(a_umlaut_lower);
    set.insert(a_umlaut_upper);
    EXPECT_EQ(set.size(), 3U);
    EXPECT_TRUE(set.contains(doi::parse("10.1000/Abc-xyz")));
    EXPECT_FALSE(set.contains(doi::parse("10.1000/abc")));
}

TEST(Doi, OrdersByKey) {
    const doi a = doi::parse("10.1000/a");
    const doi b_upper = doi::parse("10.1000/B");
    const doi c = doi::parse("10.1000/c");
    EXPECT_LT(a, b_upper);  // "A" < "B" after folding, although "a" > "B" in ASCII
    EXPECT_LT(b_upper, c);
    EXPECT_LT(doi::parse("10.1000/a"), doi::parse("10.1000/ab"));
    std::map<doi, int> map;
    map[doi::parse("10.1000/X")] = 1;
    map[doi::parse("10.1000/x")] = 2;
    EXPECT_EQ(map.size(), 1U);
    EXPECT_EQ(map.begin()->second, 2);
}

TEST(Doi, WritesStrToStreams) {
    std::ostringstream out;
    out << doi::parse("https://doi.org/10.1000/%C3%84");
    EXPECT_EQ(out.str(), "10.1000/\xC3\x84");
}

TEST(Doi, MintCreatesValidDoisUnderThePrefix) {
    constexpr std::string_view alphabet = "0123456789ABCDEFGHJKMNPQRSTVWXYZ";
    const auto before = std::chrono::duration_cast<std::chrono::milliseconds>(
                            std::chrono::system_clock::now().time_since_epoch())
                            .count();
    std::error_code ec = errc::io_error;
    const doi minted = doi::mint("10.5555", ec);
    const auto after = std::chrono::duration_cast<std::chrono::milliseconds>(
                           std::chrono::system_clock::now().time_since_epoch())
                           .count();
    ASSERT_FALSE(ec) << ec.message();
    EXPECT_EQ(minted.prefix(), "10.5555");
    ASSERT_EQ(minted.suffix().size(), 7U + 26U);
    EXPECT_TRUE(minted.suffix().starts_with("imsp2p."));
    const std::string_view identifier = minted.suffix().substr(7);
    EXPECT_TRUE(std::all_of(identifier.begin(), identifier.end(),
                            [&](char c) { return alphabet.find(c) != std::string_view::npos; }));
    // The first ten characters are the creation time in milliseconds.
    long long timestamp = 0;
    for (const char c : identifier.substr(0, 10)) {
        timestamp = timestamp * 32 + static_cast<long long>(alphabet.find(c));
    }
    EXPECT_GE(timestamp, before);
    EXPECT_LE(timestamp, after);
    // A minted DOI is URL-safe: url() adds no escapes, and it round-trips.
    EXPECT_EQ(minted.url(), "https://doi.org/" + minted.str());
    EXPECT_EQ(doi::parse(minted.url()).str(), minted.str());
    EXPECT_EQ(doi::mint("10.1000.77").prefix(), "10.1000.77");
}

TEST(Doi, MintIsUniqueAndSortable) {
    std::vector<std::string> minted;
    std::set<doi> unique;
    for (int i = 0; i < 2000; ++i) {
        const doi value = doi::mint("10.5555");
        minted.push_back(value.str());
        unique.insert(value);
    }
    EXPECT_EQ(unique.size(), minted.size());
    // Strictly increasing in creation order, by string and by doi ordering.
    for (std::size_t i = 1; i < minted.size(); ++i) {
        ASSERT_LT(minted[i - 1], minted[i]) << i;
    }
    EXPECT_EQ(unique.begin()->str(), minted.front());
    EXPECT_EQ(unique.rbegin()->str(), minted.back());
}

TEST(Doi, MintRejectsBadPrefixes) {
    const std::vector<std::pair<std::string, errc>> cases = {
        {"", errc::doi_empty},
        {"11.5555", errc::doi_missing_prefix},
        {"5555", errc::doi_missing_prefix},
        {"10.", errc::doi_bad_registrant},
        {"10.x", errc::doi_bad_registrant},
        {"10.5555/", errc::doi_bad_registrant},
        {"10.5555/abc", errc::doi_bad_registrant},
        {"10.5555.", errc::doi_bad_registrant},
        {"10." + std::string(doi::max_length, '1'), errc::doi_too_long},
    };
    for (const auto& [prefix, expected] : cases) {
        SCOPED_TRACE(prefix);
        std::error_code ec;
        EXPECT_TRUE(doi::mint(prefix, ec).empty());
        EXPECT_EQ(ec, make_error_code(expected));
        EXPECT_THROW((void)doi::mint(prefix), std::system_error);
    }
}
