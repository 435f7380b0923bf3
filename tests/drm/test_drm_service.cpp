#include <imsp2p/drm/drm_service.hpp>

#include <imsp2p/core/encoding.hpp>
#include <imsp2p/core/error.hpp>
#include <imsp2p/core/jose.hpp>
#include <imsp2p/core/ticket.hpp>
#include <imsp2p/drm/error.hpp>
#include <imsp2p/drm/license.hpp>

#include <imsp2p_test/temporary_directory.hpp>

#include <gtest/gtest.h>

#include <sys/stat.h>

namespace core = imsp2p::core;
namespace drm = imsp2p::drm;
using json = nlohmann::json;
using namespace std::chrono_literals;

namespace {

const auto now = std::chrono::system_clock::now();

class DrmService : public ::testing::Test {
  protected:
    void SetUp() override {
        settings_.data_dir = folder_.path() / "data";
        settings_.as_keys.keys.push_back(as_.public_jwk());
        settings_.expected_as_issuer = "sip:as.ims.example";
        settings_.license_validity = 600s;
        std::error_code ec;
        service_ = drm::drm_service::open(settings_, ec);
        ASSERT_TRUE(service_) << ec.message();
    }

    std::string ticket(core::ticket_role role, std::string doi, std::string jkt,
                       std::string subject = "sip:alice@ims.example") const {
        core::ticket_claims claims;
        claims.subject = std::move(subject);
        claims.audience = "drm";
        claims.issued_at = std::chrono::floor<std::chrono::seconds>(now);
        claims.expires_at = claims.issued_at + 5min;
        claims.role = role;
        if (!doi.empty()) {
            claims.doi = std::move(doi);
        }
        if (!jkt.empty()) {
            claims.confirmation_thumbprint = std::move(jkt);
        }
        return as_.issue(claims);
    }
    std::string grant_token(const core::jwk& device, std::string doi = "10.5555/movie.1",
                            std::string subject = "sip:alice@ims.example") const {
        return ticket(core::ticket_role::leech, std::move(doi), device.thumbprint(),
                      std::move(subject));
    }

    drm::content_registration registration(std::string doi = "10.5555/Movie.1") const {
        drm::content_registration reg;
        reg.doi = std::move(doi);
        reg.kid = kid_;
        reg.cek = core::jwe_encrypt(cek_, service_->encryption_key().x25519_public(), nullptr);
        reg.metadata = {{"title", "Movie"}};
        return reg;
    }

    drm::grant_request grant_request(const core::jwk& device, std::string request_id = "req-1") {
        drm::grant_request request;
        request.request_id = std::move(request_id);
        request.user = "sip:alice@ims.example";
        request.doi = "10.5555/movie.1";
        request.device_key = device.public_only();
        request.rights.play_count = 2;
        return request;
    }

    void register_and_grant() {
        std::error_code ec;
        service_->register_content(registration(), now, ec);
        ASSERT_FALSE(ec) << ec.message();
        grant_ = service_->grant(grant_request(device_), now, ec).grant;
        ASSERT_FALSE(ec) << ec.message();
    }

    imsp2p_test::temporary_directory folder_{"imsp2p-drm-service"};
    core::ticket_issuer as_{core::ed25519_private_key::generate(), "as-1", "sip:as.ims.example"};
    drm::drm_service_settings settings_;
    std::unique_ptr<drm::drm_service> service_;
    drm::content_kid kid_{9, 8, 7, 6, 5, 4, 3, 2, 1, 0, 1, 2, 3, 4, 5, 6};
    core::secret_bytes cek_{core::random_bytes(32)};
    core::jwk device_{core::x25519_private_key::generate()};
    drm::grant_record grant_;
};

}  // namespace

TEST_F(DrmService, PublishesItsTwoKeysAndKeepsThemAcrossRestarts) {
    const auto& keys = service_->jwks().keys;
    ASSERT_EQ(keys.size(), 2u);
    EXPECT_EQ(keys[0].curve(), core::jwk_curve::ed25519);
    EXPECT_EQ(keys[0].use(), "sig");
    EXPECT_EQ(keys[0].alg(), "EdDSA");
    EXPECT_EQ(keys[1].curve(), core::jwk_curve::x25519);
    EXPECT_EQ(keys[1].use(), "enc");
    EXPECT_EQ(keys[1].alg(), "ECDH-ES+A256KW");
    EXPECT_FALSE(keys[0].has_private_key() || keys[1].has_private_key());
    EXPECT_FALSE(keys[0].kid().empty());
    for (const char* file : {"drm-signing.jwk", "drm-encryption.jwk", "master.key"}) {
        struct stat info {};
        ASSERT_EQ(::stat((settings_.data_dir / file).c_str(), &info), 0) << file;
        EXPECT_EQ(info.st_mode & 0777, 0600u) << file;
    }
    const core::jwk_set before = service_->jwks();
    service_.reset();
    service_ = drm::drm_service::open(settings_);
    EXPECT_EQ(service_->jwks().serialize(), before.serialize());
}

TEST_F(DrmService, RegistersContentFromAJweAndRefusesBadOnes) {
    std::error_code ec;
    std::string detail;
    auto result = service_->register_content(registration(), now, ec, &detail);
    ASSERT_FALSE(ec) << detail;
    EXPECT_TRUE(result.created);
    EXPECT_EQ(result.content.doi, "10.5555/Movie.1");
    EXPECT_EQ(service_->store().content_key("10.5555/movie.1", ec), cek_);
    result = service_->register_content(registration("doi:10.5555/MOVIE.1"), now, ec);
    EXPECT_FALSE(ec);
    EXPECT_FALSE(result.created);

    auto other = registration();
    other.kid[0] ^= 0xff;
    service_->register_content(other, now, ec, &detail);
    EXPECT_EQ(ec, drm::errc::content_conflict);

    auto to_someone_else = registration("10.5555/other");
    to_someone_else.cek =
        core::jwe_encrypt(cek_, core::x25519_private_key::generate().public_key(), nullptr);
    service_->register_content(to_someone_else, now, ec, &detail);
    EXPECT_EQ(ec, drm::errc::drm_bad_request);
    EXPECT_NE(detail.find("cek"), std::string::npos) << detail;

    auto short_key = registration("10.5555/other");
    short_key.cek = core::jwe_encrypt(core::random_bytes(16),
                                      service_->encryption_key().x25519_public(), nullptr);
    service_->register_content(short_key, now, ec, &detail);
    EXPECT_EQ(ec, drm::errc::drm_bad_request);
    EXPECT_NE(detail.find("16 bytes"), std::string::npos) << detail;
}

TEST_F(DrmService, ServiceTokensNeedTheServiceRole) {
    std::error_code ec;
    std::string detail;
    const auto claims =
        service_->verify_service_token(ticket(core::ticket_role::service, "", ""), now, ec);
    EXPECT_FALSE(ec) << ec.message();
    EXPECT_EQ(claims.subject, "sip:alice@ims.example");
    service_->verify_service_token(ticket(core::ticket_role::leech, "", ""), now, ec, &detail);
    EXPECT_EQ(ec, drm::errc::drm_unauthorized);
    EXPECT_NE(detail.find("service"), std::string::npos);
    core::ticket_issuer stranger(core::ed25519_private_key::generate(), "as-1",
                                 "sip:as.ims.example");
    core::ticket_claims forged;
    forged.subject = "sip:mallory@ims.example";
    forged.audience = "drm";
    forged.issued_at = std::chrono::floor<std::chrono::seconds>(now);
    forged.expires_at = forged.issued_at + 1min;
    forged.role = core::ticket_role::service;
    service_->verify_service_token(stranger.issue(forged), now, ec, &detail);
    EXPECT_EQ(ec, drm::errc::drm_unauthorized);
    EXPECT_NE(detail.find("signature"), std::string::npos) << detail;
}

TEST_F(DrmService, GrantsAreIdempotentAndCheckTheContent) {
    std::error_code ec;
    std::string detail;
    service_->grant(grant_request(device_), now, ec, &detail);
    EXPECT_EQ(ec, drm::errc::unknown_content);
    service_->register_content(registration(), now, ec);
    const auto first = service_->grant(grant_request(device_), now, ec);
    ASSERT_FALSE(ec) << ec.message();
    EXPECT_TRUE(first.created);
    EXPECT_EQ(first.grant.device_thumbprint, device_.thumbprint());
    EXPECT_EQ(first.grant.doi, "10.5555/Movie.1");
    const auto again = service_->grant(grant_request(device_), now + 1s, ec);
    EXPECT_FALSE(ec);
    EXPECT_FALSE(again.created);
    EXPECT_EQ(again.grant.grant_id, first.grant.grant_id);

    auto reused = grant_request(core::jwk(core::x25519_private_key::generate()));
    service_->grant(reused, now, ec, &detail);
    EXPECT_EQ(ec, drm::errc::grant_conflict) << detail;

    ASSERT_TRUE(service_->set_content_state("10.5555/movie.1", drm::content_state::withdrawn, ec));
    service_->grant(grant_request(device_, "req-2"), now, ec, &detail);
    EXPECT_EQ(ec, drm::errc::content_withdrawn);
    // A repeated request id still answers with the grant it made.
    EXPECT_EQ(service_->grant(grant_request(device_), now, ec).grant.grant_id,
              first.grant.grant_id);
    EXPECT_FALSE(ec);
}

TEST_F(DrmService, TheDevicesRightLimitsDistinctDevices) {
    std::error_code ec;
    service_->register_content(registration(), now, ec);
    auto request = grant_request(device_, "d-1");
    request.rights.devices = 1;
    service_->grant(request, now, ec);
    ASSERT_FALSE(ec) << ec.message();
    auto second = grant_request(core::jwk(core::x25519_private_key::generate()), "d-2");
    second.rights.devices = 1;
    std::string detail;
    service_->grant(second, now, ec, &detail);
    EXPECT_EQ(ec, drm::errc::device_limit_reached);
    EXPECT_NE(detail.find("limit 1"), std::string::npos) << detail;
    auto same_device = grant_request(device_, "d-3");
    same_device.rights.devices = 1;
    service_->grant(same_device, now, ec);
    EXPECT_FALSE(ec) << ec.message();
}

TEST_F(DrmService, IssuesAVerifiableLicenseWithTheGrantsRights) {
    register_and_grant();
    std::error_code ec;
    std::string detail;
    const std::string license =
        service_->issue_license(grant_token(device_), device_.public_only(), now, ec, &detail);
    ASSERT_FALSE(ec) << detail;
    drm::license_verifier verifier(service_->jwks());
    verifier.set_expected_issuer("imsp2p-drm");
    const auto verified = verifier.verify(license, device_.x25519_private(), now, ec);
    ASSERT_FALSE(ec) << ec.message();
    EXPECT_EQ(verified.cek, cek_);
    EXPECT_EQ(verified.claims.subject, "sip:alice@ims.example");
    EXPECT_EQ(verified.claims.doi, "10.5555/Movie.1");
    EXPECT_EQ(verified.claims.kid, kid_);
    EXPECT_EQ(verified.claims.rights.play_count, 2u);
    EXPECT_EQ(verified.claims.expires_at - verified.claims.issued_at, 600s);
    EXPECT_EQ(verified.claims.device_thumbprint, device_.thumbprint());
    EXPECT_EQ(service_->statistics().licenses_issued, 1u);
    // The license is short-lived: it no longer verifies after its validity.
    verifier.verify(license, device_.x25519_private(), now + 600s + 61s, ec);
    EXPECT_EQ(ec, drm::errc::license_expired);
}

TEST_F(DrmService, RefusesLicensesPrecisely) {
    register_and_grant();
    std::error_code ec;
    std::string detail;
    const auto device = device_.public_only();
    const auto refused = [&](const std::string& token, const core::jwk& key) {
        detail.clear();
        const std::string license = service_->issue_license(token, key, now, ec, &detail);
        EXPECT_TRUE(license.empty());
        return ec;
    };
    EXPECT_EQ(refused("not a token", device), drm::errc::drm_unauthorized);
    EXPECT_EQ(
        refused(ticket(core::ticket_role::seed, "10.5555/movie.1", device.thumbprint()), device),
        drm::errc::drm_unauthorized);
    EXPECT_NE(detail.find("leech"), std::string::npos);
    EXPECT_EQ(refused(ticket(core::ticket_role::leech, "", device.thumbprint()), device),
              drm::errc::drm_unauthorized);
    const core::jwk other(core::x25519_private_key::generate());
    EXPECT_EQ(refused(grant_token(device_), other.public_only()), drm::errc::license_wrong_device);
    EXPECT_EQ(refused(grant_token(other), other.public_only()), drm::errc::no_grant);
    EXPECT_EQ(refused(grant_token(device_, "10.5555/movie.1", "sip:bob@ims.example"), device),
              drm::errc::no_grant);
    EXPECT_EQ(refused(grant_token(device_, "10.5555/unknown"), device), drm::errc::unknown_content);

    ASSERT_TRUE(service_->revoke(grant_.grant_id, now, ec));
    EXPECT_EQ(refused(grant_token(device_), device), drm::errc::grant_revoked);
    EXPECT_NE(detail.find(grant_.grant_id), std::string::npos) << detail;
    // A new grant for the same device lifts the refusal.
    service_->grant(grant_request(device_, "req-again"), now, ec);
    ASSERT_FALSE(ec);
    EXPECT_FALSE(service_->issue_license(grant_token(device_), device, now, ec).empty());

    service_->set_content_state("10.5555/movie.1", drm::content_state::withdrawn, ec);
    EXPECT_EQ(refused(grant_token(device_), device), drm::errc::content_withdrawn);

    const auto stats = service_->statistics();
    EXPECT_EQ(stats.refusals.at("unauthorized"), 3u);
    EXPECT_EQ(stats.refusals.at("wrong_device"), 1u);
    EXPECT_EQ(stats.refusals.at("no_grant"), 2u);
    EXPECT_EQ(stats.refusals.at("unknown_content"), 1u);
    EXPECT_EQ(stats.refusals.at("grant_revoked"), 1u);
    EXPECT_EQ(stats.refusals.at("content_withdrawn"), 1u);
    EXPECT_EQ(stats.revocations, 1u);
    EXPECT_EQ(stats.grants, 2u);
    EXPECT_EQ(stats.withdrawn_contents, 1u);
}

TEST_F(DrmService, ListsGrantsForTheProvider) {
    register_and_grant();
    std::error_code ec;
    const auto list = service_->list_grants("https://doi.org/10.5555/MOVIE.1", ec);
    ASSERT_EQ(list.size(), 1u);
    EXPECT_EQ(list[0].grant_id, grant_.grant_id);
    service_->list_grants("10.5555/none", ec);
    EXPECT_EQ(ec, drm::errc::unknown_content);
    service_->list_grants("garbage", ec);
    EXPECT_EQ(ec, drm::errc::drm_bad_request);
}

TEST(DrmRequests, BodiesAreParsedStrictly) {
    std::error_code ec;
    std::string detail;
    const json good = {{"doi", "10.5555/a"},
                       {"kid", "000102030405060708090a0b0c0d0e0f"},
                       {"cek", "x.y.z.w.v"},
                       {"metadata", {{"title", "A"}}}};
    const auto reg = drm::content_registration::from_json(good, ec, &detail);
    ASSERT_FALSE(ec) << detail;
    EXPECT_EQ(reg.to_json(), good);
    for (const auto& [change, expected] :
         std::vector<std::pair<json, std::string>>{{{{"kid", "00"}}, "kid"},
                                                   {{{"doi", "nope"}}, "doi"},
                                                   {{{"cek", 5}}, "cek"},
                                                   {{{"metadata", "x"}}, "metadata"},
                                                   {{{"extra", 1}}, "extra"}}) {
        json bad = good;
        bad.update(change);
        drm::content_registration::from_json(bad, ec, &detail);
        EXPECT_EQ(ec, drm::errc::drm_bad_request) << bad.dump();
        EXPECT_NE(detail.find(expected), std::string::npos) << detail;
    }

    const core::jwk device(core::x25519_private_key::generate());
    json grant = {{"request_id", "r-1"},
                  {"user", "sip:alice@ims.example"},
                  {"doi", "10.5555/a"},
                  {"device_key", device.public_only().to_json()},
                  {"rights", {{"play", {{"count", 3}}}}}};
    const auto request = drm::grant_request::from_json(grant, ec, &detail);
    ASSERT_FALSE(ec) << detail;
    EXPECT_EQ(request.rights.play_count, 3u);
    EXPECT_EQ(drm::grant_request::from_json(request.to_json(), ec).device_key.thumbprint(),
              device.thumbprint());
    for (const auto& [change, expected] : std::vector<std::pair<json, std::string>>{
             {{{"user", "alice"}}, "user"},
             {{{"request_id", "has space"}}, "request_id"},
             {{{"device_key", device.to_json(true)}}, "private"},
             {{{"device_key", core::jwk(core::ed25519_private_key::generate()).to_json()}},
              "X25519"},
             {{{"rights", {{"play", {{"count", -1}}}}}}, "rights"}}) {
        json bad = grant;
        bad.update(change);
        drm::grant_request::from_json(bad, ec, &detail);
        EXPECT_EQ(ec, drm::errc::drm_bad_request) << bad.dump();
        EXPECT_NE(detail.find(expected), std::string::npos) << detail;
    }
    drm::license_request::from_json(json::array(), ec, &detail);
    EXPECT_EQ(ec, drm::errc::drm_bad_request);
    drm::license_request::from_json({{"device_key", device.public_only().to_json()}}, ec);
    EXPECT_FALSE(ec);
}
