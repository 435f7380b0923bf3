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
