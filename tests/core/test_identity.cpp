#include <imsp2p/core/identity.hpp>

#include <imsp2p/core/error.hpp>

#include <gtest/gtest.h>

#include <optional>
#include <sstream>
#include <string>
#include <unordered_set>
#include <vector>

namespace {

using imsp2p::core::errc;
using imsp2p::core::impi;
using imsp2p::core::impu;
using imsp2p::core::impu_scheme;

struct impu_case {
    std::string input;
    std::string canonical;
    impu_scheme scheme;
    std::string user;
    std::string host;
    std::optional<std::uint16_t> port;
    bool telephone_number;
};

const std::vector<impu_case> valid_impus = {
    // Scheme and host case, trimming.
    {"sip:alice@example.com", "sip:alice@example.com", impu_scheme::sip, "alice", "example.com",
     std::nullopt, false},
    {"  sip:alice@example.com \r\n", "sip:alice@example.com", impu_scheme::sip, "alice",
     "example.com", std::nullopt, false},
    {"SIP:alice@EXAMPLE.COM", "sip:alice@example.com", impu_scheme::sip, "alice", "example.com",
     std::nullopt, false},
    {"sip:alice@example.com.", "sip:alice@example.com", impu_scheme::sip, "alice", "example.com",
     std::nullopt, false},
    // The user part is case-sensitive; unreserved escapes are decoded, others normalised.
    {"sip:Alice@example.com", "sip:Alice@example.com", impu_scheme::sip, "Alice", "example.com",
     std::nullopt, false},
    {"sip:%61lice@example.com", "sip:alice@example.com", impu_scheme::sip, "alice", "example.com",
     std::nullopt, false},
    {"sip:%7Ealice%2dx@example.com", "sip:~alice-x@example.com", impu_scheme::sip, "~alice-x",
     "example.com", std::nullopt, false},
    {"sip:a%2fb%3a@example.com", "sip:a%2Fb%3A@example.com", impu_scheme::sip, "a%2Fb%3A",
     "example.com", std::nullopt, false},
    {"sip:a&b=c+d$e,f;g?h/i@example.com", "sip:a&b=c+d$e,f;g?h/i@example.com", impu_scheme::sip,
     "a&b=c+d$e,f;g?h/i", "example.com", std::nullopt, false},
    // Parameters and headers are dropped.
    {"sip:alice@example.com;transport=tcp", "sip:alice@example.com", impu_scheme::sip, "alice",
     "example.com", std::nullopt, false},
    {"sip:alice@example.com;lr;transport=tcp;user=ip?subject=hi&priority=urgent",
     "sip:alice@example.com", impu_scheme::sip, "alice", "example.com", std::nullopt, false},
    {"sip:alice@example.com;maddr=[::1]", "sip:alice@example.com", impu_scheme::sip, "alice",
     "example.com", std::nullopt, false},
    // Ports are kept; addresses normalised.
    {"sip:alice@example.com:5060", "sip:alice@example.com:5060", impu_scheme::sip, "alice",
     "example.com", 5060, false},
    {"sip:alice@192.168.001.010", "sip:alice@192.168.1.10", impu_scheme::sip, "alice",
     "192.168.1.10", std::nullopt, false},
    {"sip:alice@[2001:DB8:0:0::1]", "sip:alice@[2001:db8::1]", impu_scheme::sip, "alice",
     "[2001:db8::1]", std::nullopt, false},
    {"sip:alice@[::1]:5061", "sip:alice@[::1]:5061", impu_scheme::sip, "alice", "[::1]", 5061,
     false},
    // Host only (e.g. a public service identity).
    {"sip:example.com", "sip:example.com", impu_scheme::sip, "", "example.com", std::nullopt,
     false},
    {"sip:localhost", "sip:localhost", impu_scheme::sip, "", "localhost", std::nullopt, false},
    // sips: is the same identity as sip:.
    {"sips:alice@example.com", "sip:alice@example.com", impu_scheme::sips, "alice", "example.com",
     std::nullopt, false},
    {"SIPS:alice@Example.com;transport=tls", "sip:alice@example.com", impu_scheme::sips, "alice",
     "example.com", std::nullopt, false},
    // user=phone: a telephone-subscriber without visual separators.
    {"sip:+1-212-555-1212@example.com;user=phone", "sip:+12125551212@example.com;user=phone",
     impu_scheme::sip, "+12125551212", "example.com", std::nullopt, true},
    {"sip:+1(212)555.1212;ext=12-3@Example.com;USER=Phone",
     "sip:+12125551212;ext=123@example.com;user=phone", impu_scheme::sip, "+12125551212;ext=123",
     "example.com", std::nullopt, true},
    {"sip:555-1212;phone-context=+1-212@example.com;user=phone;transport=udp",
     "sip:5551212;phone-context=+1212@example.com;user=phone", impu_scheme::sip,
     "5551212;phone-context=+1212", "example.com", std::nullopt, true},
    // tel: (RFC 3966 examples and variants).
    {"tel:+1-201-555-0123", "tel:+12015550123", impu_scheme::tel, "+12015550123", "", std::nullopt,
     true},
    {"TEL:+1.201.555.0123", "tel:+12015550123", impu_scheme::tel, "+12015550123", "", std::nullopt,
     true},
    {"tel:+(1)201.555-0123", "tel:+12015550123", impu_scheme::tel, "+12015550123", "", std::nullopt,
     true},
    {"tel:7042;phone-context=Example.COM", "tel:7042;phone-context=example.com", impu_scheme::tel,
     "7042;phone-context=example.com", "", std::nullopt, true},
    {"tel:863-1234;phone-context=+1-914-555", "tel:8631234;phone-context=+1914555",
     impu_scheme::tel, "8631234;phone-context=+1914555", "", std::nullopt, true},
    {"tel:+1-201-555-0123;npdi;rn=+1-201-555-0000", "tel:+12015550123", impu_scheme::tel,
     "+12015550123", "", std::nullopt, true},
    {"tel:+358-555-1234567;postd=pp22", "tel:+3585551234567", impu_scheme::tel, "+3585551234567",
     "", std::nullopt, true},
    {"tel:+1234;isub=AbC%2f;ext=9", "tel:+1234;ext=9;isub=abc%2F", impu_scheme::tel,
     "+1234;ext=9;isub=abc%2F", "", std::nullopt, true},
    {"tel:*21#;phone-context=example.com", "tel:*21#;phone-context=example.com", impu_scheme::tel,
     "*21#;phone-context=example.com", "", std::nullopt, true},
    {"tel:ABCD;PHONE-CONTEXT=example.com", "tel:abcd;phone-context=example.com", impu_scheme::tel,
     "abcd;phone-context=example.com", "", std::nullopt, true},
};

struct invalid_case {
    std::string input;
    errc expected;
};

const std::vector<invalid_case> invalid_impus = {
    {"", errc::impu_malformed},
    {"   ", errc::impu_malformed},
    {"alice@example.com", errc::impu_bad_scheme},
    {"mailto:alice@example.com", errc::impu_bad_scheme},
    {"http://example.com", errc::impu_bad_scheme},
    {"sipx:alice@example.com", errc::impu_bad_scheme},
    {":alice@example.com", errc::impu_bad_scheme},
    {"im:alice@example.com", errc::impu_bad_scheme},
    {"<sip:alice@example.com>", errc::impu_bad_scheme},
    {"sip:", errc::impu_malformed},
    {"sip:@example.com", errc::impu_malformed},
    {"sip:alice@", errc::impu_malformed},
    {"sip:alice@example.com@evil.com", errc::impu_malformed},
    {"sip:alice:secret@example.com", errc::impu_malformed},
    {"sip:al ice@example.com", errc::impu_malformed},
    {"sip:alice@exa mple.com", errc::impu_malformed},
    {"sip:alice<x>@example.com", errc::impu_malformed},
    {"sip:a%zzb@example.com", errc::impu_malformed},
    {"sip:a%2@example.com", errc::impu_malformed},
    {"sip:\xC3\xA4lice@example.com", errc::impu_malformed},
    {"sip:alice@ex\xC3\xA4mple.com", errc::impu_malformed},
    {"sip:alice@-example.com", errc::impu_malformed},
    {"sip:alice@example-.com", errc::impu_malformed},
    {"sip:alice@example..com", errc::impu_malformed},
    {"sip:alice@exa_mple.com", errc::impu_malformed},
    {"sip:alice@example.123", errc::impu_malformed},
    {"sip:alice@256.1.1.1", errc::impu_malformed},
    {"sip:alice@1.2.3", errc::impu_malformed},
    {"sip:alice@[::g]", errc::impu_malformed},
    {"sip:alice@[::1", errc::impu_malformed},
    {"sip:alice@[fe80::1%25eth0]", errc::impu_malformed},
    {"sip:alice@example.com:", errc::impu_malformed},
    {"sip:alice@example.com:0", errc::impu_malformed},
    {"sip:alice@example.com:70000", errc::impu_malformed},
    {"sip:alice@example.com:50a", errc::impu_malformed},
    {"sip:alice@example.com;=x", errc::impu_malformed},
    {"sip:alice@example.com;a=", errc::impu_malformed},
    {"sip:alice@example.com;a=b c", errc::impu_malformed},
    {"sip:alice@example.com;transport=tcp;transport=udp", errc::impu_malformed},
    {"sip:alice@example.com?novalue", errc::impu_malformed},
    {"sip:alice@example.com?=x", errc::impu_malformed},
    {"sip:alice@example.com;user=phone", errc::impu_malformed},
    {"sip:example.com;user=phone", errc::impu_malformed},
    {"sip:+1234;phone-context=+1@example.com;user=phone", errc::impu_malformed},
    {"sip:alice@example.com\x01", errc::impu_malformed},
    {"tel:", errc::impu_malformed},
    {"tel:+", errc::impu_malformed},
    {"tel:+-(-)", errc::impu_malformed},
    {"tel:5551234", errc::impu_malformed},
    {"tel:+1234;phone-context=+1", errc::impu_malformed},
    {"tel:+12a4", errc::impu_malformed},
    {"tel:+1 234", errc::impu_malformed},
    {"tel:+1234;ext=abc", errc::impu_malformed},
    {"tel:+1234;ext=", errc::impu_malformed},
    {"tel:+1234;ext=1;ext=2", errc::impu_malformed},
    {"tel:+1234;isub", errc::impu_malformed},
    {"tel:+1234;=x", errc::impu_malformed},
    {"tel:+1234;na_me=x", errc::impu_malformed},
    {"tel:1234;phone-context=-bad-", errc::impu_malformed},
    {"tel:1234;phone-context=+", errc::impu_malformed},
    {"tel:+1234@example.com", errc::impu_malformed},
    {"sip:alice@" + std::string(impu::max_length, 'a') + ".com", errc::impu_malformed},
};

struct impi_case {
    std::string input;
    std::string normalised;
    std::string user;
    std::string realm;
};

const std::vector<impi_case> valid_impis = {
    {"alice@ims.example.com", "alice@ims.example.com", "alice", "ims.example.com"},
    {"Alice@IMS.Example.COM", "Alice@ims.example.com", "Alice", "ims.example.com"},
    {" user@realm.org\n", "user@realm.org", "user", "realm.org"},
    {"234150999999999@ims.mnc015.mcc234.3gppnetwork.org",
     "234150999999999@ims.mnc015.mcc234.3gppnetwork.org", "234150999999999",
     "ims.mnc015.mcc234.3gppnetwork.org"},
    {"first.last+tag@example.org", "first.last+tag@example.org", "first.last+tag", "example.org"},
    {"user#1%{x}|~@example.org", "user#1%{x}|~@example.org", "user#1%{x}|~", "example.org"},
    {"homerealm.example.org!user@otherrealm.example.net",
     "homerealm.example.org!user@otherrealm.example.net", "homerealm.example.org!user",
     "otherrealm.example.net"},
    {"jos\xC3\xA9@ex\xC3\xA4mple.org", "jos\xC3\xA9@ex\xC3\xA4mple.org", "jos\xC3\xA9",
     "ex\xC3\xA4mple.org"},
    // Only ASCII letters of the realm are folded.
    {"JOS\xC3\x89@EX\xC3\x84MPLE.ORG", "JOS\xC3\x89@ex\xC3\x84mple.org", "JOS\xC3\x89",
     "ex\xC3\x84mple.org"},
    {"a@b-c.d1", "a@b-c.d1", "a", "b-c.d1"},
};

const std::vector<std::string> invalid_impis = {
    "",
    "   ",
    "alice",
    "@example.com",
    "alice@",
    "alice@example",
    "alice@@example.com",
    "a@b@example.com",
    ".alice@example.com",
    "alice.@example.com",
    "al..ice@example.com",
    "alice@-example.com",
    "alice@example-.com",
    "alice@example..com",
    "alice@example.com.",
    "alice@.example.com",
    "al ice@example.com",
    "alice(x)@example.com",
    "alice@exa_mple.com",
    "alice\x01@example.com",
    "\xFF@example.com",
    "ali\xE2\x80\x8B"
    "ce@example.com",             // zero width space
    "alice@example.com\xC2\xA0",  // trailing no-break space is not trimmed
    std::string(impi::max_length - 11, 'a') + "@example.com",  // one byte too long
};

std::string trimmed(const std::string& text) {
    const std::size_t first = text.find_first_not_of(" \t\r\n");
    return text.substr(first, text.find_last_not_of(" \t\r\n") - first + 1);
}

}  // namespace

TEST(Impu, ParsesAndNormalises) {
    for (const auto& expected : valid_impus) {
        SCOPED_TRACE(expected.input);
        std::error_code ec = errc::io_error;  // must be cleared
        const impu parsed = impu::parse(expected.input, ec);
        ASSERT_FALSE(ec) << ec.message();
        EXPECT_FALSE(parsed.empty());
        EXPECT_EQ(parsed.canonical(), expected.canonical);
        EXPECT_EQ(parsed.scheme(), expected.scheme);
        EXPECT_EQ(parsed.user(), expected.user);
        EXPECT_EQ(parsed.host(), expected.host);
        EXPECT_EQ(parsed.port(), expected.port);
        EXPECT_EQ(parsed.is_telephone_number(), expected.telephone_number);
        EXPECT_EQ(parsed.str(), trimmed(expected.input));
        // The canonical form is itself a valid IMPU with the same canonical form.
        const impu reparsed = impu::parse(parsed.canonical());
        EXPECT_EQ(reparsed.canonical(), parsed.canonical());
        EXPECT_EQ(reparsed, parsed);
        EXPECT_EQ(impu::parse(expected.input).canonical(), expected.canonical);
    }
}

TEST(Impu, RejectsInvalidUrisWithPreciseCode) {
    for (const auto& [input, expected] : invalid_impus) {
        SCOPED_TRACE(input);
        std::error_code ec;
        const impu parsed = impu::parse(input, ec);
        EXPECT_EQ(ec, make_error_code(expected)) << ec.message();
        EXPECT_TRUE(parsed.empty());
        try {
            (void)impu::parse(input);
            ADD_FAILURE() << "no exception";
        } catch (const std::system_error& error) {
            EXPECT_EQ(error.code(), make_error_code(expected));
        }
    }
}

TEST(Impu, EqualityFollowsTheCanonicalForm) {
    const std::vector<std::pair<std::string, std::string>> equal = {
        {"sip:alice@EXAMPLE.com;transport=udp", "sip:alice@example.com"},
        {"sip:alice@example.com?subject=x", "sip:alice@example.com."},
        {"sip:%61lice@example.com", "sip:alice@example.com"},
        {"sip:a%2fb@example.com", "sip:a%2Fb@example.com"},
        {"sips:alice@example.com", "sip:alice@example.com"},
        {"tel:+1-201-555-0123", "tel:+12015550123"},
        {"tel:+1-201-555-0123;ext=1", "tel:+12015550123;EXT=1"},
        {"tel:1234;phone-context=example.com", "tel:12-34;phone-context=EXAMPLE.com"},
        {"sip:+1-201-555-0123@example.com;user=phone", "sip:+12015550123@Example.com;user=phone"},
    };
    for (const auto& [left, right] : equal) {
        SCOPED_TRACE(left + " == " + right);
        EXPECT_EQ(impu::parse(left), impu::parse(right));
        EXPECT_EQ(impu::parse(left).hash(), impu::parse(right).hash());
    }
    const std::vector<std::pair<std::string, std::string>> different = {
        {"sip:alice@example.com", "sip:Alice@example.com"},
        {"sip:alice@example.com", "sip:alice@example.com:5060"},
        {"sip:alice@example.com", "sip:alice@example.org"},
        {"sip:a%2Fb@example.com", "sip:a/b@example.com"},  // reserved: escaped != literal
        {"tel:+12015550123", "sip:+12015550123@example.com;user=phone"},
        {"sip:+12015550123@example.com", "sip:+12015550123@example.com;user=phone"},
        {"tel:+12015550123", "tel:+12015550123;ext=1"},
        {"tel:1234;phone-context=example.com", "tel:1234;phone-context=example.org"},
        {"tel:1234;phone-context=+1", "tel:+11234"},
    };
    for (const auto& [left, right] : different) {
        SCOPED_TRACE(left + " != " + right);
        EXPECT_NE(impu::parse(left), impu::parse(right));
    }

    std::unordered_set<impu> set;
    for (const auto& text :
         {"sip:alice@example.com", "SIP:alice@EXAMPLE.COM", "sips:alice@example.com;lr",
          "sip:bob@example.com", "tel:+1-201-555-0123", "tel:+12015550123"}) {
        set.insert(impu::parse(text));
    }
    EXPECT_EQ(set.size(), 3U);
    EXPECT_TRUE(set.contains(impu::parse("sip:bob@Example.Com")));
}

TEST(Impu, DefaultIsEmpty) {
    const impu value;
    EXPECT_TRUE(value.empty());
    EXPECT_EQ(value.str(), "");
    EXPECT_EQ(value.canonical(), "");
    EXPECT_EQ(value.user(), "");
    EXPECT_EQ(value.host(), "");
    EXPECT_FALSE(value.port().has_value());
    EXPECT_EQ(value, impu());
    EXPECT_EQ(imsp2p::core::to_string(impu_scheme::sip), "sip");
    EXPECT_EQ(imsp2p::core::to_string(impu_scheme::sips), "sips");
    EXPECT_EQ(imsp2p::core::to_string(impu_scheme::tel), "tel");
}

TEST(Impu, WritesStrToStreams) {
    std::ostringstream out;
    out << impu::parse(" sips:Alice@EXAMPLE.com ") << ' ' << impi::parse("Bob@Example.org");
    EXPECT_EQ(out.str(), "sips:Alice@EXAMPLE.com Bob@example.org");
}

TEST(Impi, ParsesAndNormalises) {
    for (const auto& expected : valid_impis) {
        SCOPED_TRACE(expected.input);
        std::error_code ec = errc::io_error;
        const impi parsed = impi::parse(expected.input, ec);
        ASSERT_FALSE(ec) << ec.message();
        EXPECT_EQ(parsed.str(), expected.normalised);
        EXPECT_EQ(parsed.user(), expected.user);
        EXPECT_EQ(parsed.realm(), expected.realm);
        EXPECT_EQ(impi::parse(parsed.str()), parsed);
    }
    const std::string longest = std::string(impi::max_length - 11, 'a') + "@example.co";
    ASSERT_EQ(longest.size(), impi::max_length);
    EXPECT_EQ(impi::parse(longest).str(), longest);
}

TEST(Impi, RejectsMalformedIdentities) {
    for (const auto& input : invalid_impis) {
        SCOPED_TRACE(input);
        std::error_code ec;
        EXPECT_TRUE(impi::parse(input, ec).empty());
        EXPECT_EQ(ec, make_error_code(errc::impi_malformed));
        EXPECT_THROW((void)impi::parse(input), std::system_error);
    }
}

TEST(Impi, ComparesUserCaseSensitivelyAndRealmInsensitively) {
    EXPECT_EQ(impi::parse("alice@IMS.example.com"), impi::parse("alice@ims.EXAMPLE.com"));
    EXPECT_NE(impi::parse("alice@ims.example.com"), impi::parse("Alice@ims.example.com"));
    EXPECT_EQ(impi::parse("alice@IMS.example.com").hash(),
              impi::parse("alice@ims.EXAMPLE.com").hash());
    std::unordered_set<impi> set{impi::parse("a@x.org"), impi::parse("a@X.ORG"),
                                 impi::parse("A@x.org")};
    EXPECT_EQ(set.size(), 2U);
    const impi empty;
    EXPECT_TRUE(empty.empty());
    EXPECT_EQ(empty.user(), "");
    EXPECT_EQ(empty.realm(), "");
}

TEST(Impu, DerivesTheDefaultIdentityFromAnImpi) {
    const std::vector<std::pair<std::string, std::string>> cases = {
        {"alice@ims.example.com", "sip:alice@ims.example.com"},
        {"Alice@IMS.example.com", "sip:Alice@ims.example.com"},
        {"234150999999999@ims.mnc015.mcc234.3gppnetwork.org",
         "sip:234150999999999@ims.mnc015.mcc234.3gppnetwork.org"},
        {"first.last+tag@example.org", "sip:first.last+tag@example.org"},
        {"user#1%{x}|^`@example.org", "sip:user%231%25%7Bx%7D%7C%5E%60@example.org"},
        {"jos\xC3\xA9@example.org", "sip:jos%C3%A9@example.org"},
    };
    for (const auto& [private_identity, public_identity] : cases) {
        SCOPED_TRACE(private_identity);
        std::error_code ec = errc::io_error;
        const impu derived = impu::from_impi(impi::parse(private_identity), ec);
        ASSERT_FALSE(ec) << ec.message();
        EXPECT_EQ(derived.canonical(), public_identity);
        EXPECT_EQ(derived.str(), public_identity);
        EXPECT_EQ(derived.scheme(), impu_scheme::sip);
        EXPECT_EQ(impu::parse(derived.canonical()).canonical(), derived.canonical());
    }
    for (const auto& bad : {"alice@ex\xC3\xA4mple.org", "alice@example.123", "alice@1-2.3"}) {
        SCOPED_TRACE(bad);
        std::error_code ec;
        EXPECT_TRUE(impu::from_impi(impi::parse(bad), ec).empty());
        EXPECT_EQ(ec, make_error_code(errc::impu_malformed));
        EXPECT_THROW((void)impu::from_impi(impi::parse(bad)), std::system_error);
    }
    std::error_code ec;
    EXPECT_TRUE(impu::from_impi(impi(), ec).empty());
    EXPECT_EQ(ec, make_error_code(errc::impu_malformed));
}
