#include <imsp2p/sip/content_service.hpp>

#include "as_test_support.hpp"

#include <imsp2p/sip/charging.hpp>
#include <imsp2p/sip/error.hpp>
#include <imsp2p/sip/gateways.hpp>

#include <gtest/gtest.h>

#include <algorithm>
#include <map>
#include <mutex>
#include <set>

#include <atomic>
#include <stdexcept>
#include <thread>

using namespace as_test;
using imsp2p::core::ticket_role;
using nlohmann::json;
using std::chrono::system_clock;

namespace {

constexpr const char* alice = "sip:alice@op.example";
constexpr const char* bob = "sip:bob@op.example";

/** Thrown by crashing_drm to simulate a process crash right after a DRM call succeeded (not a
 *  std::exception, so it unwinds through the service like a crash would end it). */
struct simulated_crash {};

/** Wraps the real HTTP DRM gateway; can "crash" right after a successful grant. */
class crashing_drm final : public sip::drm_gateway {
  public:
    explicit crashing_drm(std::shared_ptr<sip::drm_gateway> real) : real_(std::move(real)) {}
    bool crash_after_grant = false;
    void register_content(const sip::drm_content_registration& registration, std::error_code& ec,
                          std::string* detail) override {
        real_->register_content(registration, ec, detail);
    }
    void set_content_active(const core::doi& doi, bool active, std::error_code& ec,
                            std::string* detail) override {
        real_->set_content_active(doi, active, ec, detail);
    }
    std::string grant(const sip::drm_grant_request& request, std::error_code& ec,
                      std::string* detail) override {
        auto id = real_->grant(request, ec, detail);
        if (crash_after_grant && !ec) {
            throw simulated_crash();
        }
        return id;
    }
    void revoke_grant(const std::string& grant_id, std::error_code& ec,
                      std::string* detail) override {
        real_->revoke_grant(grant_id, ec, detail);
    }

  private:
    std::shared_ptr<sip::drm_gateway> real_;
};

class ContentService : public ::testing::Test {
  protected:
    void SetUp() override {
        as_keys_.keys.push_back(core::jwk(signing_key_.public_key()));
        as_keys_.keys.back().set_kid("as-test");
        tracker_a_ = std::make_unique<running_tracker>(as_keys_);
        tracker_b_ = std::make_unique<running_tracker>(as_keys_);
        fs::create_directories(dir_.path() / "drm");
        drm_ = std::make_unique<running_drm>(dir_.path() / "drm", as_keys_);
        index_ = std::make_unique<running_index>(dir_.path() / "index.sqlite", as_keys_);
        fs::create_directories(dir_.path() / "as");
        charging_ = std::make_shared<sip::sqlite_charging>(dir_.path() / "cdr.sqlite");
        content_ = package(dir_.path(), "movie", drm_->service->encryption_key());
    }

    sip::service_settings settings() const {
        sip::service_settings out;
        out.trusted_addresses = {scscf_address};
        out.trusted_tls_names = {"scscf.op.example"};
        out.content_psi = content_psi;
        out.as_uri = "sip:as@op.example";
        out.scscf_route = {"<sip:scscf.op.example;lr>"};
        out.doi_prefix = "10.5555";
        out.data_dir = dir_.path() / "as";
        out.drm_url = drm_->base();
        out.trackers = {{tracker_a_->base() + "/announce", tracker_a_->base()},
                        {tracker_b_->base() + "/announce", tracker_b_->base()}};
        out.index_url = index_->base();
        out.signing_key = signing_key_;
        out.signing_kid = "as-test";
        out.issuer = "sip:as@op.example";
        out.http_timeout = std::chrono::milliseconds(2000);
        return out;
    }

    std::unique_ptr<sip::content_service> make_service(sip::service_settings config,
                                                       sip::service_dependencies deps = {}) {
        if (!deps.charging) {
            deps.charging = charging_;
        }
        return std::make_unique<sip::content_service>(std::move(config), std::move(deps));
    }

    /** Publishes content_ as alice; returns the DOI. */
    std::string publish(sip::content_service& service, const packaged_content& content,
                        std::optional<std::string> genre = std::nullopt) {
        const auto result = service.handle(
            request("PUBLISH", alice, publish_body(content, "A Movie", std::nullopt, genre),
                    std::string(sip::publish_media_type), "imsp2p-content"),
            system_clock::now());
        EXPECT_EQ(result.response.status, 200) << result.response.reason;
        for (const auto& sent : result.requests) {
            if (sent.method == "MESSAGE") {
                const auto parsed = sip::publish_result::parse(sent.body);
                service.on_outcome(sent.correlation_id, 200);
                return parsed.doi.str();
            }
        }
        ADD_FAILURE() << "no publish result MESSAGE";
        return {};
    }

    std::vector<sip::outgoing_request> messages(const sip::service_result& result) {
        std::vector<sip::outgoing_request> out;
        for (const auto& sent : result.requests) {
            if (sent.method == "MESSAGE") {
                out.push_back(sent);
            }
        }
        return out;
    }

    std::size_t download_cdrs() const { return charging_->records().size(); }

    temp_dir dir_;
    core::ed25519_private_key signing_key_ = core::ed25519_private_key::generate();
    core::jwk_set as_keys_;
    std::unique_ptr<running_tracker> tracker_a_;
    std::unique_ptr<running_tracker> tracker_b_;
    std::unique_ptr<running_drm> drm_;
    std::unique_ptr<running_index> index_;
    std::shared_ptr<sip::sqlite_charging> charging_;
    packaged_content content_;
};

}  // namespace

TEST_F(ContentService, RefusesUntrustedSourcesAndRequestsWithoutAssertedIdentity) {
    auto service = make_service(settings());
    const auto now = system_clock::now();
    const auto body = acquire_body("10.5555/x", device{}, "r1");

    auto untrusted = request("MESSAGE", bob, body, std::string(sip::acquire_media_type));
    untrusted.source_address = "192.0.2.66";
    auto result = service->handle(untrusted, now);
    EXPECT_EQ(result.response.status, 403);
    EXPECT_NE(result.response.reason.find("trusted S-CSCF"), std::string::npos);
    EXPECT_TRUE(result.requests.empty());

    // A trusted TLS peer name is enough, over TLS only.
    untrusted.via_transport = sip::transport::tls;
    untrusted.tls_peer_name = "SCSCF.op.example";
    EXPECT_EQ(service->handle(untrusted, now).response.status, 404);  // trusted; unknown DOI
    untrusted.via_transport = sip::transport::tcp;
    EXPECT_EQ(service->handle(untrusted, now).response.status, 403);

    auto anonymous = request("MESSAGE", bob, body, std::string(sip::acquire_media_type));
    anonymous.asserted_identity.clear();
    result = service->handle(anonymous, now);
    EXPECT_EQ(result.response.status, 403);
    EXPECT_NE(result.response.reason.find("P-Asserted-Identity"), std::string::npos);

    auto malformed = request("MESSAGE", bob, body, std::string(sip::acquire_media_type));
    malformed.asserted_identity = "<not a uri>";
    EXPECT_EQ(service->handle(malformed, now).response.status, 403);
}

TEST_F(ContentService, PublishesOnTheLeastLoadedTrackerThenSellsWithVerifiableTickets) {
    // Tracker A carries a live swarm: one seeder.
    const std::string busy_hash(20, 'z');
    tracker_a_->service->register_torrent({busy_hash, {}, "10.1/busy", {}});
    imsp2p::tracker::announce_request announce;
    core::ticket_issuer issuer(signing_key_, "as-test", "sip:as@op.example");
    core::ticket_claims seed_claims;
    seed_claims.subject = "sip:seeder@op.example";
    seed_claims.audience = "tracker";
    seed_claims.issued_at = std::chrono::time_point_cast<std::chrono::seconds>(system_clock::now());
    seed_claims.expires_at = seed_claims.issued_at + std::chrono::hours(1);
    seed_claims.infohashes = {core::to_hex(core::as_bytes(busy_hash))};
    seed_claims.role = ticket_role::seed;
    announce.ticket = issuer.issue(seed_claims);
    announce.info_hash = busy_hash;
    announce.peer_id = std::string(20, 's');
    announce.port = 6881;
    const auto announced = tracker_a_->service->announce(announce, {std::string("\x7f\0\0\x01", 4)},
                                                         system_clock::now());
    ASSERT_FALSE(announced.error) << announced.failure_reason;

    auto service = make_service(settings());
    const auto now = system_clock::now();
    const auto published =
        service->handle(request("PUBLISH", alice, publish_body(content_, "A Movie"),
                                std::string(sip::publish_media_type), "imsp2p-content"),
                        now);
    ASSERT_EQ(published.response.status, 200) << published.response.reason;
    const auto etag = header_of(published.response, "SIP-ETag");
    EXPECT_FALSE(etag.empty());
    EXPECT_EQ(header_of(published.response, "Expires"), "3600");
    const auto result_messages = messages(published);
    ASSERT_EQ(result_messages.size(), 1u);
    EXPECT_EQ(result_messages[0].request_uri, alice);
    EXPECT_EQ(result_messages[0].from_uri, "sip:as@op.example");
    EXPECT_EQ(result_messages[0].route, std::vector<std::string>{"<sip:scscf.op.example;lr>"});
    const auto result = sip::publish_result::parse(result_messages[0].body);
    EXPECT_EQ(result.doi.prefix(), "10.5555");  // minted
    EXPECT_EQ(result.kid, content_.kid);
    EXPECT_EQ(result.state, core::content_state::active);
    EXPECT_TRUE(result.announce_url.starts_with(tracker_b_->base() + "/announce/"));
    core::ticket_verifier tracker_verifier("tracker", as_keys_);
    const auto seed = tracker_verifier.verify(result.seed_ticket, now);
    EXPECT_EQ(seed.role, ticket_role::seed);
    EXPECT_EQ(seed.subject, alice);
    EXPECT_TRUE(core::covers_infohash(seed, content_.infohash_v1));

    // Registered on the idle tracker B only, in the index and with the DRM server.
    EXPECT_EQ(tracker_b_->state_of(content_.infohash_v1), "active");
    EXPECT_EQ(tracker_a_->state_of(content_.infohash_v1), "");
    std::error_code ec;
    const auto entry = index_->index->find(result.doi, false, ec);
    ASSERT_TRUE(entry.has_value()) << ec.message();
    EXPECT_EQ(entry->record.publisher.str(), alice);
    EXPECT_EQ(entry->purchase_uri, content_psi);
    const auto drm_content = drm_->service->store().find_content(result.doi.str(), ec);
    ASSERT_TRUE(drm_content.has_value());
    EXPECT_EQ(drm_content->state, imsp2p::drm::content_state::active);
    ASSERT_TRUE(service->find_content(result.doi).has_value());

    // Bob buys it; his UE claims to be alice in From: ignored.
    device phone;
    auto acquire = request("MESSAGE", bob, acquire_body(result.doi.str(), phone, "req-1"),
                           std::string(sip::acquire_media_type));
    acquire.from_uri = alice;
    const auto bought = service->handle(acquire, now);
    ASSERT_EQ(bought.response.status, 200) << bought.response.reason;
    EXPECT_TRUE(bought.response.body.empty());
    EXPECT_TRUE(bought.response.content_type.empty());
    const auto tickets = messages(bought);
    ASSERT_EQ(tickets.size(), 1u);
    EXPECT_EQ(tickets[0].request_uri, bob);
    EXPECT_EQ(tickets[0].to_uri, bob);
    EXPECT_EQ(tickets[0].content_type, sip::ticket_media_type);
    EXPECT_EQ(tickets[0].route, std::vector<std::string>{"<sip:scscf.op.example;lr>"});
    const auto document = sip::ticket_document::parse(tickets[0].body);
    EXPECT_EQ(document.request_id, "req-1");
    EXPECT_EQ(document.doi, result.doi);
    EXPECT_EQ(document.torrent_url,
              index_->base() + "/torrents/" + sip::doi_path_segment(result.doi) + ".torrent");
    EXPECT_EQ(document.license_url, drm_->base() + "/v1/licenses");
    const std::string prefix = tracker_b_->base() + "/announce/";
    ASSERT_TRUE(document.announce_url.starts_with(prefix));
    const auto leech = tracker_verifier.verify(document.announce_url.substr(prefix.size()), now);
    EXPECT_EQ(leech.subject, bob);
    EXPECT_EQ(leech.role, ticket_role::leech);
    EXPECT_TRUE(core::covers_infohash(leech, content_.infohash_v1));
    EXPECT_TRUE(core::covers_infohash(leech, content_.infohash_v2));
    core::ticket_verifier drm_verifier("drm", as_keys_);
    const auto grant = drm_verifier.verify(document.grant_token, now);
    EXPECT_EQ(grant.doi, result.doi.str());
    EXPECT_EQ(grant.confirmation_thumbprint, phone.public_jwk().thumbprint());
    EXPECT_EQ(grant.role, ticket_role::leech);

    // The DRM server issues a license for that token and device (and only for that device).
    const auto license =
        drm_->service->issue_license(document.grant_token, phone.public_jwk(), now, ec);
    EXPECT_FALSE(ec) << ec.message();
    EXPECT_FALSE(license.empty());
    device other;
    (void)drm_->service->issue_license(document.grant_token, other.public_jwk(), now, ec);
    EXPECT_TRUE(ec);

    // One CDR: bob, the DOI, the price.
    const auto cdrs = charging_->records();
    ASSERT_EQ(cdrs.size(), 1u);
    EXPECT_EQ(cdrs[0].record.user, bob);
    EXPECT_EQ(cdrs[0].record.provider, alice);
    EXPECT_EQ(cdrs[0].record.doi, result.doi.str());
    EXPECT_EQ(cdrs[0].record.price, (core::price{199, "EUR"}));
    EXPECT_EQ(cdrs[0].record.request_id, "req-1");

    service->on_outcome(tickets[0].correlation_id, 200);
    EXPECT_EQ(service->find_purchase(bob, "req-1")->step, "delivered");
    EXPECT_FALSE(service->find_purchase(alice, "req-1").has_value());
}

TEST_F(ContentService, RepeatedAcquireDoesNotChargeTwiceAndResendsTheTicket) {
    auto service = make_service(settings());
    const auto doi = publish(*service, content_);
    device phone;
    const auto body = acquire_body(doi, phone, "req-7");
    const auto first = service->handle(
        request("MESSAGE", bob, body, std::string(sip::acquire_media_type)), system_clock::now());
    ASSERT_EQ(first.response.status, 200);
    service->on_outcome(messages(first).at(0).correlation_id, 200);
    const auto again = service->handle(
        request("MESSAGE", bob, body, std::string(sip::acquire_media_type)), system_clock::now());
    ASSERT_EQ(again.response.status, 200);
    ASSERT_EQ(messages(again).size(), 1u);
    EXPECT_EQ(sip::ticket_document::parse(messages(again)[0].body).request_id, "req-7");
    EXPECT_EQ(download_cdrs(), 1u);
    std::error_code ec;
    EXPECT_EQ(drm_->service->list_grants(doi, ec).size(), 1u);

    // The same request id for another device is a conflict, not a new purchase.
    const auto reused =
        service->handle(request("MESSAGE", bob, acquire_body(doi, device{}, "req-7"),
                                std::string(sip::acquire_media_type)),
                        system_clock::now());
    EXPECT_EQ(reused.response.status, 409);
    // Another user may use the same request id.
    const auto carol = service->handle(
        request("MESSAGE", "sip:carol@op.example", body, std::string(sip::acquire_media_type)),
        system_clock::now());
    EXPECT_EQ(carol.response.status, 200);
    EXPECT_EQ(download_cdrs(), 2u);
}

TEST_F(ContentService, AnswersEveryAcquireErrorWithItsStatus) {
    auto config = settings();
    config.max_body_size = 4096;
    auto service = make_service(config);
    const auto doi = publish(*service, content_);
    const auto now = system_clock::now();
    const auto type = std::string(sip::acquire_media_type);

    EXPECT_EQ(
        service
            ->handle(request("MESSAGE", bob, acquire_body("10.5555/none", device{}, "a"), type),
                     now)
            .response.status,
        404);
    auto bad = service->handle(
        request("MESSAGE", bob, R"({"doi":"10.5555/x","request_id":"a"})", type), now);
    EXPECT_EQ(bad.response.status, 400);
    EXPECT_NE(bad.response.reason.find("device_key"), std::string::npos) << bad.response.reason;
    auto wrong_type = service->handle(
        request("MESSAGE", bob, acquire_body(doi, device{}, "a"), "text/plain"), now);
    EXPECT_EQ(wrong_type.response.status, 415);
    EXPECT_EQ(header_of(wrong_type.response, "Accept"), sip::acquire_media_type);
    EXPECT_EQ(
        service->handle(request("MESSAGE", bob, std::string(5000, ' '), type), now).response.status,
        413);
    EXPECT_EQ(service->handle(request("INVITE", bob), now).response.status, 405);
    auto elsewhere = request("MESSAGE", bob, acquire_body(doi, device{}, "a"), type);
    elsewhere.request_uri = "sip:voicemail@op.example";
    EXPECT_EQ(service->handle(elsewhere, now).response.status, 404);

    // The DRM server is down: 503 with Retry-After, charged once, finished by poll() later.
    drm_->stop();
    const auto down =
        service->handle(request("MESSAGE", bob, acquire_body(doi, device{}, "d1"), type), now);
    EXPECT_EQ(down.response.status, 503);
    EXPECT_EQ(header_of(down.response, "Retry-After"), "30");
    EXPECT_TRUE(down.requests.empty());
    EXPECT_EQ(service->find_purchase(bob, "d1")->step, "charged");
    drm_->start();
    EXPECT_TRUE(service->poll(now).empty());  // not yet due
    const auto later = service->poll(now + std::chrono::minutes(1));
    ASSERT_EQ(later.size(), 1u);
    EXPECT_EQ(sip::ticket_document::parse(later[0].body).request_id, "d1");
    EXPECT_EQ(download_cdrs(), 1u);

    // Withdrawn content: 403.
    std::error_code ec;
    service->withdraw(core::doi::parse(doi), now, ec);
    ASSERT_FALSE(ec);
    EXPECT_EQ(service->handle(request("MESSAGE", bob, acquire_body(doi, device{}, "w"), type), now)
                  .response.status,
              403);
}

TEST_F(ContentService, DeclinedChargingAnswers402) {
    auto decline = std::make_shared<sip::sqlite_charging>(
        dir_.path() / "declining.sqlite", [](const sip::charge_record& record) {
            return record.kind == sip::charge_kind::download
                       ? sip::charge_result{sip::charge_outcome::declined, "no credit"}
                       : sip::charge_result{sip::charge_outcome::charged, ""};
        });
    sip::service_dependencies deps;
    deps.charging = decline;
    auto service = make_service(settings(), deps);
    const auto doi = publish(*service, content_);
    const auto result = service->handle(request("MESSAGE", bob, acquire_body(doi, device{}, "p"),
                                                std::string(sip::acquire_media_type)),
                                        system_clock::now());
    EXPECT_EQ(result.response.status, 402);
    EXPECT_TRUE(result.requests.empty());
    std::error_code ec;
    EXPECT_TRUE(drm_->service->list_grants(doi, ec).empty());
}

TEST_F(ContentService, RecoversAPurchaseAfterACrashBetweenGrantAndTicket) {
    auto drm = std::make_shared<crashing_drm>(sip::make_http_drm_gateway(
        {drm_->base(), std::chrono::milliseconds(2000)},
        std::make_shared<sip::service_token_source>(
            core::ticket_issuer(signing_key_, "as-test", "sip:as@op.example"),
            "sip:as@op.example")));
    sip::service_dependencies deps;
    deps.drm = drm;
    auto service = make_service(settings(), deps);
    const auto doi = publish(*service, content_);
    device phone;
    drm->crash_after_grant = true;
    EXPECT_THROW(service->handle(request("MESSAGE", bob, acquire_body(doi, phone, "crash-1"),
                                         std::string(sip::acquire_media_type)),
                                 system_clock::now()),
                 simulated_crash);
    service.reset();  // the process is gone; the DRM server granted, the AS did not record it

    auto restarted = make_service(settings());
    EXPECT_EQ(restarted->find_purchase(bob, "crash-1")->step, "charged");
    const auto sent = restarted->recover(system_clock::now());
    ASSERT_EQ(sent.size(), 1u);
    EXPECT_EQ(sent[0].request_uri, bob);
    const auto document = sip::ticket_document::parse(sent[0].body);
    EXPECT_EQ(document.request_id, "crash-1");
    EXPECT_EQ(download_cdrs(), 1u);  // charged once
    std::error_code ec;
    EXPECT_EQ(drm_->service->list_grants(doi, ec).size(), 1u);  // granted once
    EXPECT_FALSE(
        drm_->service
            ->issue_license(document.grant_token, phone.public_jwk(), system_clock::now(), ec)
            .empty())
        << ec.message();
    restarted->on_outcome(sent[0].correlation_id, 200);
    EXPECT_EQ(restarted->find_purchase(bob, "crash-1")->step, "delivered");
    EXPECT_TRUE(restarted->recover(system_clock::now()).empty());

    // A failed delivery is retried by poll().
    const auto second =
        restarted->handle(request("MESSAGE", bob, acquire_body(doi, phone, "crash-2"),
                                  std::string(sip::acquire_media_type)),
                          system_clock::now());
    ASSERT_EQ(messages(second).size(), 1u);
    restarted->on_outcome(messages(second)[0].correlation_id, 480);
    const auto retried = restarted->poll(system_clock::now() + std::chrono::minutes(2));
    ASSERT_EQ(retried.size(), 1u);
    EXPECT_EQ(sip::ticket_document::parse(retried[0].body).request_id, "crash-2");
}

TEST_F(ContentService, RefusesBadPublishes) {
    auto config = settings();
    config.policy = sip::publish_policy::allow_list;
    config.publishers = {alice};
    auto service = make_service(config);
    const auto now = system_clock::now();
    const auto type = std::string(sip::publish_media_type);

    auto wrong_event = service->handle(
        request("PUBLISH", alice, publish_body(content_, "x"), type, "presence"), now);
    EXPECT_EQ(wrong_event.response.status, 489);
    EXPECT_EQ(header_of(wrong_event.response, "Allow-Events"), "imsp2p-content");
    EXPECT_EQ(
        service
            ->handle(request("PUBLISH", bob, publish_body(content_, "x"), type, "imsp2p-content"),
                     now)
            .response.status,
        403);
    auto bad = service->handle(
        request("PUBLISH", alice, R"({"metadata":{"title":""}})", type, "imsp2p-content"), now);
    EXPECT_EQ(bad.response.status, 400);
    EXPECT_NE(bad.response.reason.find("metadata.title"), std::string::npos) << bad.response.reason;
    EXPECT_EQ(service
                  ->handle(request("PUBLISH", alice, publish_body(content_, "x", "10.9999/x"), type,
                                   "imsp2p-content"),
                           now)
                  .response.status,
              403);  // prefix not accepted

    // A proposed DOI is used; proposing it again for other content is 409.
    const auto first =
        service->handle(request("PUBLISH", alice, publish_body(content_, "x", "10.5555/my-movie"),
                                type, "imsp2p-content"),
                        now);
    ASSERT_EQ(first.response.status, 200) << first.response.reason;
    const auto other = package(dir_.path(), "other", drm_->service->encryption_key());
    EXPECT_EQ(service
                  ->handle(request("PUBLISH", alice, publish_body(other, "y", "10.5555/MY-MOVIE"),
                                   type, "imsp2p-content"),
                           now)
                  .response.status,
              409);
    // The same torrent again by its publisher is idempotent (same DOI)...
    const auto again = service->handle(
        request("PUBLISH", alice, publish_body(content_, "x"), type, "imsp2p-content"), now);
    ASSERT_EQ(again.response.status, 200);
    EXPECT_EQ(sip::publish_result::parse(messages(again).at(0).body).doi.str(), "10.5555/my-movie");
    // ... and a conflict for anybody else.
    config.policy = sip::publish_policy::allow_all;
    service.reset();
    service = make_service(config);
    EXPECT_EQ(
        service
            ->handle(request("PUBLISH", bob, publish_body(content_, "x"), type, "imsp2p-content"),
                     now)
            .response.status,
        409);
}

TEST_F(ContentService, MutedPublishingAndOperatorActivation) {
    auto config = settings();
    config.mute_until_operator_seeded = true;
    auto service = make_service(config);
    const auto doi = core::doi::parse(publish(*service, content_));
    const std::string tracker_state =
        tracker_a_->state_of(content_.infohash_v1) + tracker_b_->state_of(content_.infohash_v1);
    EXPECT_EQ(tracker_state, "muted");
    EXPECT_EQ(service->find_content(doi)->state, core::content_state::muted);
    std::error_code ec;
    service->activate(doi, system_clock::now(), ec);
    ASSERT_FALSE(ec) << ec.message();
    EXPECT_EQ(
        tracker_a_->state_of(content_.infohash_v1) + tracker_b_->state_of(content_.infohash_v1),
        "active");
    EXPECT_EQ(service->find_content(doi)->state, core::content_state::active);
    EXPECT_EQ(index_->index->find(doi, false, ec)->record.state, core::content_state::active);
}

TEST_F(ContentService, PublisherWithdrawalDisablesTheContentEverywhere) {
    auto service = make_service(settings());
    const auto now = system_clock::now();
    const auto type = std::string(sip::publish_media_type);
    const auto published = service->handle(
        request("PUBLISH", alice, publish_body(content_, "x"), type, "imsp2p-content"), now);
    ASSERT_EQ(published.response.status, 200);
    const auto etag = header_of(published.response, "SIP-ETag");
    const auto doi = sip::publish_result::parse(messages(published).at(0).body).doi;

    // Refresh (SIP-If-Match, no body): a new entity tag.
    auto refresh = request("PUBLISH", alice, "", "", "imsp2p-content");
    refresh.headers.push_back({"SIP-If-Match", etag});
    refresh.expires = 600;
    const auto refreshed = service->handle(refresh, now);
    ASSERT_EQ(refreshed.response.status, 200);
    EXPECT_EQ(header_of(refreshed.response, "Expires"), "600");
    const auto new_etag = header_of(refreshed.response, "SIP-ETag");
    EXPECT_NE(new_etag, etag);
    EXPECT_EQ(service->handle(refresh, now).response.status, 412);  // the old tag is gone

    // Bob may not withdraw alice's content.
    sip::publish_request withdraw;
    withdraw.action = sip::publish_action::withdraw;
    withdraw.withdraw_doi = doi;
    EXPECT_EQ(
        service->handle(request("PUBLISH", bob, withdraw.serialize(), type, "imsp2p-content"), now)
            .response.status,
        403);
    // RFC 3903 removal by alice: Expires: 0 with SIP-If-Match.
    auto removal = request("PUBLISH", alice, "", "", "imsp2p-content");
    removal.headers.push_back({"SIP-If-Match", new_etag});
    removal.expires = 0;
    const auto removed = service->handle(removal, now);
    ASSERT_EQ(removed.response.status, 200);
    EXPECT_EQ(header_of(removed.response, "Expires"), "0");

    EXPECT_EQ(
        tracker_a_->state_of(content_.infohash_v1) + tracker_b_->state_of(content_.infohash_v1),
        "disabled");
    std::error_code ec;
    EXPECT_EQ(drm_->service->store().find_content(doi.str(), ec)->state,
              imsp2p::drm::content_state::withdrawn);
    EXPECT_EQ(index_->index->find(doi, false, ec)->state,
              imsp2p::tracker::index_entry_state::withdrawn);
    EXPECT_EQ(service->find_content(doi)->state, core::content_state::withdrawn);
    // The body form is accepted too (already withdrawn: still 200).
    EXPECT_EQ(
        service
            ->handle(request("PUBLISH", alice, withdraw.serialize(), type, "imsp2p-content"), now)
            .response.status,
        200);
}

TEST_F(ContentService, CatalogSubscriptionsGetNotifications) {
    auto service = make_service(settings());
    auto now = system_clock::now();
    auto subscribe = request("SUBSCRIBE", bob, "", "", "imsp2p-catalog");
    subscribe.expires = 600;
    subscribe.headers.push_back({"Contact", "<sip:bob@192.0.2.7:5070;transport=tcp>"});
    subscribe.headers.push_back({"Record-Route", "<sip:scscf.op.example;lr>"});

    EXPECT_EQ(service->handle(request("SUBSCRIBE", bob, "", "", "presence"), now).response.status,
              489);
    auto too_short = subscribe;
    too_short.expires = 10;
    auto brief = service->handle(too_short, now);
    EXPECT_EQ(brief.response.status, 423);
    EXPECT_EQ(header_of(brief.response, "Min-Expires"), "60");

    const auto accepted = service->handle(subscribe, now);
    ASSERT_EQ(accepted.response.status, 200);
    const auto tag = accepted.response.to_tag;
    EXPECT_FALSE(tag.empty());
    EXPECT_EQ(header_of(accepted.response, "Expires"), "600");
    ASSERT_EQ(accepted.requests.size(), 1u);
    const auto& initial = accepted.requests[0];
    EXPECT_EQ(initial.method, "NOTIFY");
    EXPECT_EQ(initial.request_uri, "sip:bob@192.0.2.7:5070;transport=tcp");
    EXPECT_EQ(initial.call_id, subscribe.call_id);
    EXPECT_EQ(initial.from_tag, tag);
    EXPECT_EQ(initial.to_tag, subscribe.from_tag);
    EXPECT_EQ(initial.route, std::vector<std::string>{"<sip:scscf.op.example;lr>"});
    EXPECT_EQ(header_of(initial, "Event"), "imsp2p-catalog");
    EXPECT_EQ(header_of(initial, "Subscription-State"), "active;expires=600");
    EXPECT_EQ(sip::catalog_notification::parse(initial.body).event, sip::catalog_event::full);
    EXPECT_EQ(service->subscription_count(), 1u);

    // A genre-filtered subscription sees only its genre.
    auto jazz = request("SUBSCRIBE", "sip:carol@op.example", "", "", "imsp2p-catalog");
    jazz.headers.front().value = "imsp2p-catalog;genre=\"Jazz\"";
    ASSERT_EQ(service->handle(jazz, now).response.status, 200);

    // Publishing notifies the matching subscribers.
    const auto published = service->handle(
        request("PUBLISH", alice, publish_body(content_, "A Movie", std::nullopt, "drama"),
                std::string(sip::publish_media_type), "imsp2p-content"),
        now);
    ASSERT_EQ(published.response.status, 200);
    std::vector<sip::outgoing_request> notifies;
    for (const auto& sent : published.requests) {
        if (sent.method == "NOTIFY") {
            notifies.push_back(sent);
        }
    }
    ASSERT_EQ(notifies.size(), 1u);  // bob only, not the jazz subscriber
    EXPECT_EQ(notifies[0].to_tag, subscribe.from_tag);
    const auto event = sip::catalog_notification::parse(notifies[0].body);
    EXPECT_EQ(event.event, sip::catalog_event::published);
    ASSERT_EQ(event.entries.size(), 1u);
    EXPECT_EQ(event.entries[0].record.title, "A Movie");
    EXPECT_EQ(event.entries[0].purchase_uri, content_psi);

    // Refresh in the dialog: full state again.
    auto refresh = subscribe;
    refresh.to_tag = tag;
    refresh.cseq = 2;
    refresh.request_uri = "sip:as@10.0.0.9";  // in-dialog: the AS contact, not the PSI
    const auto refreshed = service->handle(refresh, now);
    ASSERT_EQ(refreshed.response.status, 200);
    const auto full = sip::catalog_notification::parse(refreshed.requests.at(0).body);
    ASSERT_EQ(full.entries.size(), 1u);

    auto unknown = refresh;
    unknown.to_tag = "nope";
    EXPECT_EQ(service->handle(unknown, now).response.status, 481);

    // Withdrawal notifies; unsubscribing ends with "terminated".
    std::error_code ec;
    const auto withdrawn = service->withdraw(event.entries[0].record.doi, now, ec);
    ASSERT_EQ(withdrawn.size(), 1u);
    EXPECT_EQ(sip::catalog_notification::parse(withdrawn[0].body).event,
              sip::catalog_event::withdrawn);
    auto unsubscribe = refresh;
    unsubscribe.expires = 0;
    const auto ended = service->handle(unsubscribe, now);
    ASSERT_EQ(ended.response.status, 200);
    EXPECT_EQ(header_of(ended.requests.at(0), "Subscription-State"), "terminated");
    EXPECT_EQ(service->subscription_count(), 1u);

    // Expiry: the jazz subscription times out in poll().
    const auto expired = service->poll(now + std::chrono::hours(2));
    ASSERT_EQ(expired.size(), 1u);
    EXPECT_EQ(header_of(expired[0], "Subscription-State"), "terminated;reason=timeout");
    EXPECT_EQ(service->subscription_count(), 0u);

    // A NOTIFY answered 481 ends the subscription.
    const auto again = service->handle(subscribe, now);
    ASSERT_EQ(service->subscription_count(), 1u);
    service->on_outcome(again.requests.at(0).correlation_id, 481);
    EXPECT_EQ(service->subscription_count(), 0u);
}

TEST_F(ContentService, ProviderReportListsWhoBoughtWhat) {
    auto service = make_service(settings());
    const auto doi = publish(*service, content_);
    for (const auto* user : {bob, "sip:carol@op.example"}) {
        ASSERT_EQ(service
                      ->handle(request("MESSAGE", user, acquire_body(doi, device{}, "r"),
                                       std::string(sip::acquire_media_type)),
                               system_clock::now())
                      .response.status,
                  200);
    }
    sip::report_filter filter;
    filter.provider = alice;
    const auto report = charging_->report_json(filter);
    ASSERT_EQ(report["records"].size(), 2u);
    EXPECT_EQ(report["records"][0]["doi"], doi);
    EXPECT_EQ(report["totals"][0]["amount_minor"], 398);
    EXPECT_EQ(report["totals"][0]["count"], 2);
    const auto csv = charging_->report_csv(filter);
    EXPECT_TRUE(csv.starts_with("time,charge_id,kind,provider,user,doi,"));
    EXPECT_NE(csv.find(",sip:carol@op.example," + doi + ",199,EUR,charged,"), std::string::npos)
        << csv;
    filter.provider = "sip:nobody@op.example";
    EXPECT_TRUE(charging_->report_json(filter)["records"].empty());
}

TEST_F(ContentService, ConcurrentRetransmissionsChargeOnce) {
    auto service = make_service(settings());
    const auto doi = publish(*service, content_);
    device phone;
    const auto same = acquire_body(doi, phone, "same");
    std::atomic<int> ok{0};
    std::atomic<int> sent{0};
    std::vector<std::thread> workers;
    for (int i = 0; i < 4; ++i) {
        workers.emplace_back([&, i] {
            const auto body =
                i % 2 == 0 ? same : acquire_body(doi, phone, "own-" + std::to_string(i));
            const auto result =
                service->handle(request("MESSAGE", bob, body, std::string(sip::acquire_media_type)),
                                system_clock::now());
            ok += result.response.status == 200 ? 1 : 0;
            sent += static_cast<int>(result.requests.size());
        });
    }
    for (auto& worker : workers) {
        worker.join();
    }
    EXPECT_EQ(ok.load(), 4);
    EXPECT_EQ(sent.load(), 4);       // every request got its ticket document
    EXPECT_EQ(download_cdrs(), 3u);  // "same" charged once, "own-1" and "own-3" once each
    std::error_code ec;
    EXPECT_EQ(drm_->service->list_grants(doi, ec).size(), 3u);
}

TEST_F(ContentService, ConcurrentPollsFinishEachPaidPurchaseOnce) {
    auto service = make_service(settings());
    const auto doi = publish(*service, content_);
    // The DRM server is down: the purchases are charged, answered 503 and left to poll().
    drm_->stop();
    constexpr int purchases = 6;
    std::vector<device> phones(purchases);
    for (int i = 0; i < purchases; ++i) {
        const auto result = service->handle(
            request("MESSAGE", bob, acquire_body(doi, phones[i], "down-" + std::to_string(i)),
                    std::string(sip::acquire_media_type)),
            system_clock::now());
        ASSERT_EQ(result.response.status, 503) << result.response.reason;
    }
    EXPECT_EQ(download_cdrs(), static_cast<std::size_t>(purchases));
    drm_->start();
    // Four threads poll at once: a purchase one thread finishes while another waits for its
    // lock must not be finished (and its ticket sent) a second time.
    const auto later = system_clock::now() + std::chrono::hours(1);
    std::mutex sent_mutex;
    std::map<std::string, int> tickets;  // request id -> ticket MESSAGEs sent
    std::vector<std::thread> pollers;
    for (int t = 0; t < 4; ++t) {
        pollers.emplace_back([&] {
            for (const auto& sent : service->poll(later)) {
                if (sent.method == "MESSAGE" && sent.content_type == sip::ticket_media_type) {
                    const auto document = sip::ticket_document::parse(sent.body);
                    const std::lock_guard lock(sent_mutex);
                    ++tickets[document.request_id];
                }
            }
        });
    }
    for (auto& poller : pollers) {
        poller.join();
    }
    ASSERT_EQ(tickets.size(), static_cast<std::size_t>(purchases));
    for (const auto& [request_id, count] : tickets) {
        EXPECT_EQ(count, 1) << request_id;
    }
    EXPECT_EQ(download_cdrs(), static_cast<std::size_t>(purchases));
    std::error_code ec;
    EXPECT_EQ(drm_->service->list_grants(doi, ec).size(), static_cast<std::size_t>(purchases));
}

TEST_F(ContentService, SkipsUnreachableTrackersAndResumesAPublishLater) {
    const std::string dead = "http://127.0.0.1:9";  // discard port: nothing listens
    auto config = settings();
    config.trackers = {{dead + "/announce", dead}, config.trackers[1]};
    auto service = make_service(config);
    publish(*service, content_);
    EXPECT_EQ(tracker_b_->state_of(content_.infohash_v1), "active");  // the dead one skipped
    service.reset();

    config.trackers = {{dead + "/announce", dead}};
    service = make_service(config);
    const auto other = package(dir_.path(), "other", drm_->service->encryption_key());
    const auto now = system_clock::now();
    const auto down =
        service->handle(request("PUBLISH", alice, publish_body(other, "Later"),
                                std::string(sip::publish_media_type), "imsp2p-content"),
                        now);
    EXPECT_EQ(down.response.status, 503);
    EXPECT_FALSE(header_of(down.response, "Retry-After").empty());
    EXPECT_TRUE(down.requests.empty());
    service.reset();

    // Restarted with a reachable tracker: poll() finishes the publish and delivers the result.
    service = make_service(settings());
    const auto resumed = service->poll(now + std::chrono::minutes(5));
    ASSERT_EQ(resumed.size(), 1u);
    EXPECT_EQ(resumed[0].request_uri, alice);
    const auto result = sip::publish_result::parse(resumed[0].body);
    EXPECT_EQ(result.kid, other.kid);
    EXPECT_EQ(tracker_a_->state_of(other.infohash_v1) + tracker_b_->state_of(other.infohash_v1),
              "active");
    std::error_code ec;
    EXPECT_TRUE(index_->index->find(result.doi, false, ec).has_value());
    service->on_outcome(resumed[0].correlation_id, 200);
    EXPECT_TRUE(service->poll(now + std::chrono::hours(1)).empty());
}

namespace {

constexpr const char* seedbox = "sip:seedbox@ims.example";
constexpr const char* seedbox2 = "sip:seedbox2@ims.example";

/** The content service with operator seed boxes, and helpers for the seed box flow. */
class ContentServiceSeedBox : public ContentService {
  protected:
    sip::service_settings seeded_settings() const {
        auto out = settings();
        out.mute_until_operator_seeded = true;
        out.operator_seed_boxes = {seedbox, seedbox2};
        out.operator_seed_ticket_lifetime = std::chrono::hours(2);
        return out;
    }

    /** Publishes content_ as alice; returns every request the publish sent. */
    std::vector<sip::outgoing_request> publish_all(sip::content_service& service) {
        const auto result =
            service.handle(request("PUBLISH", alice, publish_body(content_, "A Movie"),
                                   std::string(sip::publish_media_type), "imsp2p-content"),
                           system_clock::now());
        EXPECT_EQ(result.response.status, 200) << result.response.reason;
        return messages(result);
    }

    /** The assignment MESSAGEs among @p sent. */
    static std::vector<sip::outgoing_request> assignments(
        const std::vector<sip::outgoing_request>& sent) {
        std::vector<sip::outgoing_request> out;
        for (const auto& message : sent) {
            if (message.content_type == sip::seed_assignment_media_type) {
                out.push_back(message);
            }
        }
        return out;
    }

    /** A seed report MESSAGE from @p from for @p assignment. */
    static sip::incoming_request report(const std::string& from,
                                        const sip::seed_assignment& assignment) {
        sip::seed_report body;
        body.assignment_id = assignment.assignment_id;
        body.doi = assignment.doi;
        body.infohash_v1 = assignment.infohash_v1;
        return request("MESSAGE", from, body.serialize(), std::string(sip::seed_report_media_type));
    }

    /** The tracker that holds content_ (the AS picks one of the two). */
    running_tracker& holding_tracker() const {
        return tracker_a_->state_of(content_.infohash_v1).empty() ? *tracker_b_ : *tracker_a_;
    }

    std::string tracker_state() const { return holding_tracker().state_of(content_.infohash_v1); }

    core::content_state index_state(const core::doi& doi) const {
        std::error_code ec;
        const auto entry = index_->index->find(doi, false, ec);
        EXPECT_FALSE(ec) << ec.message();
        return entry ? entry->record.state : core::content_state::withdrawn;
    }
};

}  // namespace

TEST_F(ContentServiceSeedBox, MutedPublishSendsOneAssignmentPerSeedBoxWithAnOperatorSeedTicket) {
    auto service = make_service(seeded_settings());
    const auto before = system_clock::now();
    const auto sent = publish_all(*service);
    ASSERT_EQ(sent.size(), 3u);
    ASSERT_EQ(sent[0].content_type, sip::publish_result_media_type);
    const auto result = sip::publish_result::parse(sent[0].body);
    EXPECT_EQ(result.state, core::content_state::muted);
    EXPECT_EQ(tracker_state(), "muted");
    EXPECT_EQ(service->find_content(result.doi)->state, core::content_state::muted);
    EXPECT_EQ(index_state(result.doi), core::content_state::muted);

    const auto sent_assignments = assignments(sent);
    ASSERT_EQ(sent_assignments.size(), 2u);
    std::set<std::string> ids;
    std::set<std::string> correlations;
    core::ticket_verifier tracker_verifier("tracker", as_keys_);
    const auto tracker_prefix =
        result.announce_url.substr(0, result.announce_url.size() - result.seed_ticket.size());
    for (std::size_t i = 0; i < sent_assignments.size(); ++i) {
        const auto& message = sent_assignments[i];
        const std::string box = i == 0 ? seedbox : seedbox2;
        EXPECT_EQ(message.method, "MESSAGE");
        EXPECT_EQ(message.request_uri, box);
        EXPECT_EQ(message.to_uri, box);
        EXPECT_EQ(message.from_uri, content_psi);
        EXPECT_EQ(message.route, std::vector<std::string>{"<sip:scscf.op.example;lr>"});
        const auto assignment = sip::seed_assignment::parse(message.body);
        ids.insert(assignment.assignment_id);
        correlations.insert(message.correlation_id);
        EXPECT_EQ(assignment.doi, result.doi);
        EXPECT_EQ(assignment.infohash_v1, content_.infohash_v1);
        EXPECT_EQ(assignment.torrent_url, result.torrent_url);
        ASSERT_TRUE(assignment.announce_url.starts_with(tracker_prefix)) << assignment.announce_url;
        const auto ticket = tracker_verifier.verify(
            assignment.announce_url.substr(tracker_prefix.size()), system_clock::now());
        EXPECT_EQ(ticket.role, ticket_role::operator_seed);
        EXPECT_EQ(ticket.subject, box);
        EXPECT_NE(
            std::find(ticket.infohashes.begin(), ticket.infohashes.end(), content_.infohash_v1),
            ticket.infohashes.end());
        EXPECT_EQ(assignment.expires, ticket.expires_at);
        EXPECT_EQ(ticket.expires_at - ticket.issued_at, std::chrono::hours(2));
        EXPECT_GE(ticket.issued_at + std::chrono::seconds(1), before);
    }
    EXPECT_EQ(ids.size(), 2u);
    EXPECT_EQ(correlations.size(), 2u);
    const auto stored = service->seed_assignments(result.doi);
    ASSERT_EQ(stored.size(), 2u);
    EXPECT_EQ(stored[0].seed_box, seedbox);
    EXPECT_EQ(stored[1].seed_box, seedbox2);
    EXPECT_TRUE(stored[0].delivery_pending);
    EXPECT_FALSE(stored[0].seeded);
    EXPECT_EQ(stored[0].attempts, 1u);
    EXPECT_EQ(ids, (std::set<std::string>{stored[0].id, stored[1].id}));

    // Delivered: nothing more is sent.
    for (const auto& message : sent) {
        service->on_outcome(message.correlation_id, 200);
    }
    EXPECT_FALSE(service->seed_assignments(result.doi)[0].delivery_pending);
    EXPECT_TRUE(service->poll(system_clock::now() + std::chrono::hours(1)).empty());
    EXPECT_TRUE(service->recover(system_clock::now()).empty());
}

TEST_F(ContentServiceSeedBox, OnlyTheAssignedSeedBoxsReportActivatesAndRepeatsAreIdempotent) {
    auto service = make_service(seeded_settings());
    const auto sent = publish_all(*service);
    for (const auto& message : sent) {
        service->on_outcome(message.correlation_id, 200);
    }
    const auto sent_assignments = assignments(sent);
    ASSERT_EQ(sent_assignments.size(), 2u);
    const auto assignment = sip::seed_assignment::parse(sent_assignments[0].body);
    const auto other = sip::seed_assignment::parse(sent_assignments[1].body);
    const auto doi = assignment.doi;
    const auto now = system_clock::now();
    auto unchanged = [&] {
        EXPECT_EQ(tracker_state(), "muted");
        EXPECT_EQ(service->find_content(doi)->state, core::content_state::muted);
        EXPECT_EQ(index_state(doi), core::content_state::muted);
        for (const auto& stored : service->seed_assignments(doi)) {
            EXPECT_FALSE(stored.seeded);
        }
    };

    // Anyone else: 403, nothing changes (the publisher, a buyer, the other seed box).
    for (const char* user : {alice, bob}) {
        const auto refused = service->handle(report(user, assignment), now);
        EXPECT_EQ(refused.response.status, 403);
        EXPECT_EQ(refused.response.reason, "Forbidden (not an operator seed box)");
        EXPECT_TRUE(refused.requests.empty());
    }
    EXPECT_EQ(service->handle(report(seedbox2, assignment), now).response.status, 403);
    unchanged();

    // Unknown assignment: 404; mismatches and bad bodies: 400.
    auto unknown = assignment;
    unknown.assignment_id = "sa-unknown";
    EXPECT_EQ(service->handle(report(seedbox, unknown), now).response.status, 404);
    auto wrong_doi = assignment;
    wrong_doi.doi = core::doi::parse("10.5555/other");
    const auto doi_mismatch = service->handle(report(seedbox, wrong_doi), now).response;
    EXPECT_EQ(doi_mismatch.status, 400);
    EXPECT_NE(doi_mismatch.reason.find("doi"), std::string::npos) << doi_mismatch.reason;
    auto wrong_hash = assignment;
    wrong_hash.infohash_v1 = std::string(40, 'f');
    const auto hash_mismatch = service->handle(report(seedbox, wrong_hash), now).response;
    EXPECT_EQ(hash_mismatch.status, 400);
    EXPECT_NE(hash_mismatch.reason.find("infohash_v1"), std::string::npos) << hash_mismatch.reason;
    auto bad_state = report(seedbox, assignment);
    auto body = json::parse(bad_state.body);
    body["state"] = "seeding";
    bad_state.body = body.dump();
    const auto bad = service->handle(bad_state, now).response;
    EXPECT_EQ(bad.status, 400);
    EXPECT_EQ(bad.reason, "Bad Request (state: must be \"seeded\")");
    unchanged();

    // The assigned seed box: activation.
    const auto accepted = service->handle(report(seedbox, assignment), now);
    EXPECT_EQ(accepted.response.status, 200) << accepted.response.reason;
    EXPECT_TRUE(accepted.requests.empty());
    EXPECT_EQ(tracker_state(), "active");
    EXPECT_EQ(service->find_content(doi)->state, core::content_state::active);
    EXPECT_EQ(index_state(doi), core::content_state::active);
    auto stored = service->seed_assignments(doi);
    ASSERT_EQ(stored.size(), 2u);
    EXPECT_TRUE(stored[0].seeded);
    EXPECT_FALSE(stored[1].seeded);

    // A repeat is 200 without a second activation: put the tracker back to muted behind the
    // AS's back; a second activation would open it again.
    holding_tracker().service->set_state(core::to_string(core::from_hex(content_.infohash_v1)),
                                         imsp2p::tracker::torrent_state::muted);
    EXPECT_EQ(service->handle(report(seedbox, assignment), now).response.status, 200);
    EXPECT_EQ(tracker_state(), "muted");

    // The second seed box reports on content already active: recorded, no activation either.
    EXPECT_EQ(service->handle(report(seedbox2, other), now).response.status, 200);
    EXPECT_EQ(tracker_state(), "muted");
    stored = service->seed_assignments(doi);
    EXPECT_TRUE(stored[0].seeded);
    EXPECT_TRUE(stored[1].seeded);
}

TEST_F(ContentServiceSeedBox, UndeliveredAssignmentIsResentByPollAndAfterARestart) {
    auto config = seeded_settings();
    config.operator_seed_boxes = {seedbox};
    auto service = make_service(config);
    const auto sent = publish_all(*service);
    ASSERT_EQ(sent.size(), 2u);
    service->on_outcome(sent[0].correlation_id, 200);  // the publish result
    const auto first = sip::seed_assignment::parse(sent[1].body);
    const auto doi = first.doi;

    // In flight: poll() waits for the outcome (or the delivery timeout).
    EXPECT_TRUE(service->poll(system_clock::now()).empty());
    service->on_outcome(sent[1].correlation_id, 480);
    const auto resent = service->poll(system_clock::now() + std::chrono::minutes(2));
    ASSERT_EQ(resent.size(), 1u);
    EXPECT_EQ(resent[0].request_uri, seedbox);
    EXPECT_EQ(resent[0].correlation_id, sent[1].correlation_id);
    EXPECT_EQ(sip::seed_assignment::parse(resent[0].body).assignment_id, first.assignment_id);
    EXPECT_EQ(service->seed_assignments(doi)[0].attempts, 2u);

    // The AS restarts on the same database before the outcome: recover() sends it again.
    service.reset();
    service = make_service(config);
    const auto recovered = service->recover(system_clock::now());
    ASSERT_EQ(recovered.size(), 1u);
    EXPECT_EQ(recovered[0].content_type, sip::seed_assignment_media_type);
    const auto again = sip::seed_assignment::parse(recovered[0].body);
    EXPECT_EQ(again.assignment_id, first.assignment_id);
    EXPECT_EQ(again.doi, doi);
    service->on_outcome(recovered[0].correlation_id, 202);
    EXPECT_TRUE(service->recover(system_clock::now()).empty());
    EXPECT_FALSE(service->seed_assignments(doi)[0].delivery_pending);

    // The restarted AS accepts the report.
    EXPECT_EQ(service->handle(report(seedbox, again), system_clock::now()).response.status, 200);
    EXPECT_EQ(tracker_state(), "active");
    EXPECT_TRUE(service->seed_assignments(doi)[0].seeded);
}

TEST_F(ContentServiceSeedBox, ReportedAssignmentIsNotResentEvenIfItsDeliveryWasNotConfirmed) {
    auto config = seeded_settings();
    config.operator_seed_boxes = {seedbox};
    auto service = make_service(config);
    const auto sent = publish_all(*service);
    ASSERT_EQ(sent.size(), 2u);
    service->on_outcome(sent[0].correlation_id, 200);
    const auto assignment = sip::seed_assignment::parse(sent[1].body);
    EXPECT_EQ(service->handle(report(seedbox, assignment), system_clock::now()).response.status,
              200);
    EXPECT_TRUE(service->recover(system_clock::now()).empty());
    service->on_outcome(sent[1].correlation_id, 408);
    EXPECT_TRUE(service->poll(system_clock::now() + std::chrono::hours(1)).empty());
}

TEST_F(ContentServiceSeedBox, ActivationFailureAnswers503AndLeavesTheAssignmentUnseeded) {
    auto config = seeded_settings();
    config.operator_seed_boxes = {seedbox};
    config.http_timeout = std::chrono::milliseconds(500);
    auto service = make_service(config);
    const auto sent = publish_all(*service);
    ASSERT_EQ(sent.size(), 2u);
    const auto assignment = sip::seed_assignment::parse(sent[1].body);
    // The tracker holding the content goes away.
    if (tracker_a_->state_of(content_.infohash_v1).empty()) {
        tracker_b_.reset();
    } else {
        tracker_a_.reset();
    }
    const auto answer = service->handle(report(seedbox, assignment), system_clock::now());
    EXPECT_EQ(answer.response.status, 503);
    EXPECT_EQ(header_of(answer.response, "Retry-After"), "30");
    EXPECT_FALSE(service->seed_assignments(assignment.doi)[0].seeded);
    EXPECT_EQ(service->find_content(assignment.doi)->state, core::content_state::muted);
    EXPECT_EQ(index_state(assignment.doi), core::content_state::muted);
}

TEST_F(ContentServiceSeedBox, WithoutSeedBoxesOrWithoutMutingNoAssignmentIsSent) {
    // Muted, no seed box: as before, muted until an operator activates it; reports are refused.
    auto muted_only = settings();
    muted_only.mute_until_operator_seeded = true;
    {
        auto service = make_service(muted_only);
        const auto sent = publish_all(*service);
        ASSERT_EQ(sent.size(), 1u);
        const auto result = sip::publish_result::parse(sent[0].body);
        EXPECT_EQ(result.state, core::content_state::muted);
        EXPECT_TRUE(service->seed_assignments(result.doi).empty());
        sip::seed_assignment made_up;
        made_up.assignment_id = "sa-x";
        made_up.doi = result.doi;
        made_up.infohash_v1 = content_.infohash_v1;
        EXPECT_EQ(service->handle(report(seedbox, made_up), system_clock::now()).response.status,
                  403);
        EXPECT_EQ(tracker_state(), "muted");
    }
    // Seed boxes without muting: the content is active at once, nobody is assigned.
    auto unmuted = settings();
    unmuted.operator_seed_boxes = {seedbox};
    unmuted.database_path = dir_.path() / "as" / "unmuted.sqlite";
    auto service = make_service(unmuted);
    const auto other = package(dir_.path(), "other", drm_->service->encryption_key());
    const auto result =
        service->handle(request("PUBLISH", alice, publish_body(other, "Other"),
                                std::string(sip::publish_media_type), "imsp2p-content"),
                        system_clock::now());
    ASSERT_EQ(result.response.status, 200) << result.response.reason;
    const auto sent = messages(result);
    ASSERT_EQ(sent.size(), 1u);
    const auto published = sip::publish_result::parse(sent[0].body);
    EXPECT_EQ(published.state, core::content_state::active);
    EXPECT_TRUE(service->seed_assignments(published.doi).empty());
}

TEST_F(ContentServiceSeedBox, RefusesABadSeedBoxSetting) {
    auto config = seeded_settings();
    config.operator_seed_boxes = {"not an impu"};
    EXPECT_THROW((void)make_service(config), std::system_error);
    config = seeded_settings();
    config.operator_seed_ticket_lifetime = std::chrono::seconds(0);
    EXPECT_THROW((void)make_service(config), std::system_error);
}

TEST_F(ContentServiceSeedBox, WithdrawnContentDropsItsAssignmentsAndRefusesReports) {
    auto config = seeded_settings();
    config.operator_seed_boxes = {seedbox};
    auto service = make_service(config);
    const auto sent = publish_all(*service);
    ASSERT_EQ(sent.size(), 2u);
    service->on_outcome(sent[0].correlation_id, 200);
    service->on_outcome(sent[1].correlation_id, 503);
    const auto assignment = sip::seed_assignment::parse(sent[1].body);
    std::error_code ec;
    (void)service->withdraw(assignment.doi, system_clock::now(), ec);
    ASSERT_FALSE(ec) << ec.message();
    EXPECT_TRUE(assignments(service->poll(system_clock::now() + std::chrono::minutes(2))).empty());
    const auto stored = service->seed_assignments(assignment.doi);
    ASSERT_EQ(stored.size(), 1u);
    EXPECT_FALSE(stored[0].delivery_pending);
    const auto refused = service->handle(report(seedbox, assignment), system_clock::now());
    EXPECT_EQ(refused.response.status, 403);
    EXPECT_EQ(refused.response.reason, "Content Withdrawn");
    EXPECT_FALSE(service->seed_assignments(assignment.doi)[0].seeded);
}
