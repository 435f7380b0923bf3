#include <imsp2p/sip/bodies.hpp>

#include <imsp2p/sip/error.hpp>

#include <imsp2p/core/crypto.hpp>
#include <imsp2p/core/encoding.hpp>
#include <imsp2p/core/jose.hpp>

#include <gtest/gtest.h>

#include <string>

namespace sip = imsp2p::sip;
namespace core = imsp2p::core;
using nlohmann::json;

namespace {

json device_jwk() {
    return core::jwk(core::x25519_private_key::generate().public_key()).to_json();
}

/** Parses and returns the error detail (asserting that parsing failed). */
template <class T>
sip::body_error refusal(const std::string& text) {
    std::error_code ec;
    sip::body_error detail;
    (void)T::parse(text, ec, &detail);
    EXPECT_EQ(ec, sip::errc::bad_body) << text;
    return detail;
}

json publish_json() {
    const auto drm_key = core::x25519_private_key::generate();
    return {{"metadata",
             {{"title", "Title"},
              {"content_type", "video/mp4"},
              {"price", {{"amount_minor", 100}, {"currency", "EUR"}}},
              {"size", 42},
              {"genre", "drama"}}},
            {"torrent", core::base64_encode(core::as_bytes("d4:infod4:name1:xee"))},
            {"cek", core::jwe_encrypt(core::random_bytes(32), drm_key.public_key())},
            {"kid", "00112233445566778899AABBCCDDEEFF"}};
}

}  // namespace

TEST(Bodies, AcquireRoundTripsAndNamesTheFailingMember) {
    const json body = {
        {"doi", "doi:10.5555/ABC"}, {"device_key", device_jwk()}, {"request_id", "r-1"}};
    const auto parsed = sip::acquire_request::parse(body.dump());
    EXPECT_EQ(parsed.doi.str(), "10.5555/ABC");
    EXPECT_EQ(parsed.request_id, "r-1");
    EXPECT_EQ(sip::acquire_request::parse(parsed.serialize()).device_key, parsed.device_key);

    EXPECT_EQ(refusal<sip::acquire_request>("[1]").reason, "not a JSON object");
    EXPECT_EQ(refusal<sip::acquire_request>("{").member, "");
    EXPECT_EQ(refusal<sip::acquire_request>(R"({"doi":"10.1/a","doi":"10.1/b"})").reason,
              "duplicate member \"doi\"");
    auto missing = body;
    missing.erase("device_key");
    EXPECT_EQ(refusal<sip::acquire_request>(missing.dump()).member, "device_key");
    auto private_key = body;
    private_key["device_key"] = core::jwk(core::x25519_private_key::generate()).to_json(true);
    EXPECT_NE(refusal<sip::acquire_request>(private_key.dump()).reason.find("\"d\""),
              std::string::npos);
    auto signing_key = body;
    signing_key["device_key"] =
        core::jwk(core::ed25519_private_key::generate().public_key()).to_json();
    EXPECT_EQ(refusal<sip::acquire_request>(signing_key.dump()).member, "device_key");
    auto bad_doi = body;
    bad_doi["doi"] = "11.5/x";
    EXPECT_EQ(refusal<sip::acquire_request>(bad_doi.dump()).member, "doi");
    auto bad_id = body;
    bad_id["request_id"] = "has space";
    EXPECT_EQ(refusal<sip::acquire_request>(bad_id.dump()).member, "request_id");
    bad_id["request_id"] = std::string(129, 'x');
    EXPECT_EQ(refusal<sip::acquire_request>(bad_id.dump()).member, "request_id");
    std::string deep = R"({"doi":)";
    for (int i = 0; i < 20; ++i) {
        deep += "[";
    }
    EXPECT_NE(
        refusal<sip::acquire_request>(deep + std::string(20, ']') + "}").reason.find("nested"),
        std::string::npos);
    EXPECT_THROW((void)sip::acquire_request::parse("{}"), std::system_error);
}

TEST(Bodies, PublishChecksMetadataTorrentAndKey) {
    const auto body = publish_json();
    const auto parsed = sip::publish_request::parse(body.dump());
    EXPECT_EQ(parsed.action, sip::publish_action::publish);
    EXPECT_EQ(parsed.metadata.title, "Title");
    EXPECT_EQ(parsed.metadata.genre, "drama");
    EXPECT_EQ(parsed.metadata.size_bytes, 42u);
    EXPECT_EQ(parsed.kid, "00112233445566778899aabbccddeeff");
    EXPECT_EQ(core::to_string(parsed.torrent), "d4:infod4:name1:xee");
    const auto again = sip::publish_request::parse(parsed.serialize());
    EXPECT_EQ(again.metadata, parsed.metadata);
    EXPECT_EQ(again.torrent, parsed.torrent);

    auto bad = body;
    bad["metadata"]["price"]["currency"] = "eur";
    EXPECT_EQ(refusal<sip::publish_request>(bad.dump()).member, "metadata.price.currency");
    bad = body;
    bad["metadata"]["price"]["amount_minor"] = -1;
    EXPECT_EQ(refusal<sip::publish_request>(bad.dump()).member, "metadata.price.amount_minor");
    bad = body;
    bad["metadata"]["content_type"] = "not a type";
    EXPECT_EQ(refusal<sip::publish_request>(bad.dump()).member, "metadata.content_type");
    bad = body;
    bad["torrent"] = "@@@";
    EXPECT_EQ(refusal<sip::publish_request>(bad.dump()).member, "torrent");
    bad = body;
    bad["cek"] = "a.b.c";
    EXPECT_EQ(refusal<sip::publish_request>(bad.dump()).member, "cek");
    bad = body;
    bad["kid"] = "xyz";
    EXPECT_EQ(refusal<sip::publish_request>(bad.dump()).member, "kid");
    bad = body;
    bad["metadata"]["doi"] = "10.5555/proposed";
    EXPECT_EQ(sip::publish_request::parse(bad.dump()).metadata.doi->str(), "10.5555/proposed");
    bad["action"] = "delete";
    EXPECT_EQ(refusal<sip::publish_request>(bad.dump()).member, "action");

    const auto withdraw = sip::publish_request::parse(R"({"action":"withdraw","doi":"10.5555/x"})");
    EXPECT_EQ(withdraw.action, sip::publish_action::withdraw);
    EXPECT_EQ(withdraw.withdraw_doi.str(), "10.5555/x");
    EXPECT_EQ(refusal<sip::publish_request>(R"({"action":"withdraw"})").member, "doi");
}

TEST(Bodies, TicketDocumentPublishResultAndCatalogRoundTrip) {
    sip::ticket_document ticket;
    ticket.request_id = "r";
    ticket.doi = core::doi::parse("10.5555/x");
    ticket.torrent_url = "http://index/torrents/10.5555%2Fx.torrent";
    ticket.announce_url = "http://t:6969/announce/a.b.c";
    ticket.license_url = "http://drm/v1/licenses";
    ticket.grant_token = "a.b.c";
    ticket.expires = std::chrono::sys_seconds(std::chrono::seconds(1800000000));
    const auto ticket_again = sip::ticket_document::parse(ticket.serialize());
    EXPECT_EQ(ticket_again.serialize(), ticket.serialize());
    auto bad = ticket.to_json();
    bad["announce_url"] = "ftp://x";
    EXPECT_EQ(refusal<sip::ticket_document>(bad.dump()).member, "announce_url");

    sip::publish_result result;
    result.doi = ticket.doi;
    result.kid = std::string(32, 'a');
    result.infohash_v1 = std::string(40, 'b');
    result.state = core::content_state::muted;
    result.seed_ticket = "x.y.z";
    result.announce_url = "http://t/announce/x.y.z";
    result.torrent_url = ticket.torrent_url;
    result.expires = ticket.expires;
    EXPECT_EQ(sip::publish_result::parse(result.serialize()).serialize(), result.serialize());

    core::content_record record;
    record.doi = ticket.doi;
    record.publisher = core::impu::parse("sip:alice@op.example");
    record.title = "T";
    record.content_type = "video/mp4";
    record.price = {1, "EUR"};
    record.infohash_v1 = std::string(40, 'a');
    record.infohash_v2 = std::string(64, 'b');
    record.kid = std::string(32, 'c');
    sip::catalog_notification full;
    full.entries.push_back({record, ticket.torrent_url, "sip:content@op.example"});
    full.truncated = true;
    const auto full_again = sip::catalog_notification::parse(full.serialize());
    EXPECT_EQ(full_again.entries, full.entries);
    EXPECT_TRUE(full_again.truncated);
    sip::catalog_notification published;
    published.event = sip::catalog_event::withdrawn;
    published.entries = full.entries;
    EXPECT_EQ(sip::catalog_notification::parse(published.serialize()).event,
              sip::catalog_event::withdrawn);
    auto broken = full.to_json();
    broken["entries"][0]["record"]["kid"] = "x";
    EXPECT_EQ(refusal<sip::catalog_notification>(broken.dump()).member, "entries.0.record.kid");
}

namespace {

json seed_assignment_json() {
    return {{"assignment_id", "sa-10.5555/x-sip:seedbox@ims.example"},
            {"doi", "10.5555/x"},
            {"infohash_v1", "0123456789ABCDEF0123456789abcdef01234567"},
            {"torrent_url", "http://index/torrents/10.5555%2Fx.torrent"},
            {"announce_url", "https://tracker:6969/announce/a.b.c"},
            {"expires", 1800000000}};
}

json seed_report_json() {
    return {{"assignment_id", "sa-1"},
            {"doi", "doi:10.5555/X"},
            {"infohash_v1", "0123456789ABCDEF0123456789abcdef01234567"},
            {"state", "seeded"}};
}

}  // namespace

TEST(Bodies, SeedAssignmentRoundTripsAndFoldsTheInfohash) {
    const auto parsed = sip::seed_assignment::parse(seed_assignment_json().dump());
    EXPECT_EQ(parsed.assignment_id, "sa-10.5555/x-sip:seedbox@ims.example");
    EXPECT_EQ(parsed.doi.str(), "10.5555/x");
    EXPECT_EQ(parsed.infohash_v1, "0123456789abcdef0123456789abcdef01234567");
    EXPECT_EQ(parsed.torrent_url, "http://index/torrents/10.5555%2Fx.torrent");
    EXPECT_EQ(parsed.announce_url, "https://tracker:6969/announce/a.b.c");
    EXPECT_EQ(parsed.expires, std::chrono::sys_seconds(std::chrono::seconds(1800000000)));
    const auto again = sip::seed_assignment::parse(parsed.serialize());
    EXPECT_EQ(again.serialize(), parsed.serialize());
    EXPECT_EQ(again.to_json()["expires"], 1800000000);
    EXPECT_EQ(sip::seed_assignment_media_type, "application/vnd.imsp2p.seed-assignment+json");
    EXPECT_THROW((void)sip::seed_assignment::parse("{}"), std::system_error);
    try {
        (void)sip::seed_assignment::parse(R"({"assignment_id":"a"})");
        ADD_FAILURE() << "parsed a document without doi";
    } catch (const std::system_error& failure) {
        EXPECT_EQ(failure.code(), sip::errc::bad_body);
        EXPECT_NE(std::string(failure.what()).find("doi: missing"), std::string::npos);
    }
    // Unknown members are ignored (forward compatibility).
    auto extended = seed_assignment_json();
    extended["priority"] = 3;
    EXPECT_EQ(sip::seed_assignment::parse(extended.dump()).serialize(), parsed.serialize());
}

TEST(Bodies, SeedAssignmentNamesEveryMissingOrBadMember) {
    const auto body = seed_assignment_json();
    for (const char* member :
         {"assignment_id", "doi", "infohash_v1", "torrent_url", "announce_url", "expires"}) {
        auto missing = body;
        missing.erase(member);
        const auto detail = refusal<sip::seed_assignment>(missing.dump());
        EXPECT_EQ(detail.member, member);
        EXPECT_EQ(detail.reason, "missing");
        auto null_member = body;
        null_member[member] = nullptr;
        EXPECT_EQ(refusal<sip::seed_assignment>(null_member.dump()).member, member);
    }
    for (const char* url : {"torrent_url", "announce_url"}) {
        for (const char* value : {"ftp://index/x.torrent", "udp://tracker:6969/announce/a.b.c",
                                  "index/x.torrent", "http://has space/x"}) {
            auto bad = body;
            bad[url] = value;
            const auto detail = refusal<sip::seed_assignment>(bad.dump());
            EXPECT_EQ(detail.member, url) << value;
            EXPECT_EQ(detail.reason, "must be an http or https URL") << value;
        }
    }
    for (const char* value : {"0123", "0123456789abcdef0123456789abcdef0123456g",
                              "0123456789abcdef0123456789abcdef012345678"}) {
        auto bad = body;
        bad["infohash_v1"] = value;
        EXPECT_EQ(refusal<sip::seed_assignment>(bad.dump()).member, "infohash_v1") << value;
    }
    auto bad = body;
    bad["infohash_v1"] = 42;
    EXPECT_EQ(refusal<sip::seed_assignment>(bad.dump()).reason, "must be a string");
    bad = body;
    bad["infohash_v1"] = "0123456789abcdef0123456789abcdef0123456g";
    EXPECT_EQ(refusal<sip::seed_assignment>(bad.dump()).reason, "must be 40 hex digits");
    bad = body;
    bad["assignment_id"] = "has space";
    EXPECT_EQ(refusal<sip::seed_assignment>(bad.dump()).member, "assignment_id");
    bad["assignment_id"] = std::string(129, 'a');
    EXPECT_EQ(refusal<sip::seed_assignment>(bad.dump()).member, "assignment_id");
    bad["assignment_id"] = "";
    EXPECT_EQ(refusal<sip::seed_assignment>(bad.dump()).reason, "must not be empty");
    bad = body;
    bad["doi"] = "doi:10.5555/x";  // the AS sends canonical DOIs only
    EXPECT_EQ(refusal<sip::seed_assignment>(bad.dump()).member, "doi");
    bad = body;
    bad["expires"] = -5;
    EXPECT_EQ(refusal<sip::seed_assignment>(bad.dump()).member, "expires");
    bad["expires"] = "1800000000";
    EXPECT_EQ(refusal<sip::seed_assignment>(bad.dump()).member, "expires");
    EXPECT_EQ(refusal<sip::seed_assignment>(R"({"assignment_id":"a","assignment_id":"b"})").reason,
              "duplicate member \"assignment_id\"");
    EXPECT_EQ(refusal<sip::seed_assignment>("[]").reason, "not a JSON object");
}

TEST(Bodies, SeedReportRoundTripsAndAcceptsOnlySeeded) {
    const auto parsed = sip::seed_report::parse(seed_report_json().dump());
    EXPECT_EQ(parsed.assignment_id, "sa-1");
    EXPECT_EQ(parsed.doi.str(), "10.5555/X");
    EXPECT_EQ(parsed.infohash_v1, "0123456789abcdef0123456789abcdef01234567");
    EXPECT_EQ(parsed.state, "seeded");
    const auto again = sip::seed_report::parse(parsed.serialize());
    EXPECT_EQ(again.serialize(), parsed.serialize());
    EXPECT_EQ(again.to_json()["doi"], "10.5555/X");
    EXPECT_EQ(sip::seed_report_media_type, "application/vnd.imsp2p.seed-report+json");
    EXPECT_THROW((void)sip::seed_report::parse(R"({"state":"seeded"})"), std::system_error);

    const auto body = seed_report_json();
    for (const char* member : {"assignment_id", "doi", "infohash_v1", "state"}) {
        auto missing = body;
        missing.erase(member);
        const auto detail = refusal<sip::seed_report>(missing.dump());
        EXPECT_EQ(detail.member, member);
        EXPECT_EQ(detail.reason, "missing");
    }
    for (const char* state : {"seeding", "Seeded", "failed", "active"}) {
        auto bad = body;
        bad["state"] = state;
        const auto detail = refusal<sip::seed_report>(bad.dump());
        EXPECT_EQ(detail.member, "state") << state;
        EXPECT_EQ(detail.reason, "must be \"seeded\"") << state;
    }
    auto bad = body;
    bad["state"] = true;
    EXPECT_EQ(refusal<sip::seed_report>(bad.dump()).member, "state");
    bad = body;
    bad["infohash_v1"] = std::string(64, 'a');  // a v2 hash is not a v1 infohash
    EXPECT_EQ(refusal<sip::seed_report>(bad.dump()).member, "infohash_v1");
    bad["infohash_v1"] = "zz23456789abcdef0123456789abcdef01234567";
    EXPECT_EQ(refusal<sip::seed_report>(bad.dump()).reason, "must be 40 hex digits");
    bad = body;
    bad["doi"] = "11.5/x";
    EXPECT_EQ(refusal<sip::seed_report>(bad.dump()).member, "doi");
    bad = body;
    bad["assignment_id"] = "tab\there";
    EXPECT_EQ(refusal<sip::seed_report>(bad.dump()).member, "assignment_id");
}
