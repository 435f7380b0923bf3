#include <imsp2p/drm/drm_server.hpp>

#include <imsp2p/core/jose.hpp>
#include <imsp2p/core/ticket.hpp>
#include <imsp2p/drm/drm_client.hpp>
#include <imsp2p/drm/error.hpp>
#include <imsp2p/drm/license.hpp>

#include <imsp2p_test/temporary_directory.hpp>

#include <boost/asio/connect.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/read.hpp>
#include <boost/asio/write.hpp>

#include <gtest/gtest.h>

#include <thread>

namespace core = imsp2p::core;
namespace drm = imsp2p::drm;
using json = nlohmann::json;
using namespace std::chrono_literals;

namespace {

/** Sends one raw HTTP/1.1 request and returns the whole response text. */
std::string raw_exchange(std::uint16_t port, const std::string& request) {
    namespace net = boost::asio;
    net::io_context io;
    net::ip::tcp::socket socket(io);
    socket.connect({net::ip::make_address("127.0.0.1"), port});
    net::write(socket, net::buffer(request));
    std::string response;
    boost::system::error_code ec;
    net::read(socket, net::dynamic_buffer(response), ec);
    return response;
}

class DrmServer : public ::testing::Test {
  protected:
    void SetUp() override {
        drm::drm_service_settings settings;
        settings.data_dir = folder_.path();
        settings.as_keys.keys.push_back(as_.public_jwk());
        settings.license_validity = 120s;
        service_ = drm::drm_service::open(settings);
        drm::drm_server_settings http;
        http.port = 0;
        server_ = std::make_unique<drm::drm_server>(
            *service_, http, core::logger("drm.http", nullptr, core::log_level::warning));
        server_->start();
        thread_ = std::thread([this] { server_->run(); });
        drm::drm_client_settings client;
        client.base_url = "http://127.0.0.1:" + std::to_string(server_->port());
        client.service_token_provider = [this] { return token(core::ticket_role::service); };
        client_ = std::make_unique<drm::drm_client>(client);
    }
    void TearDown() override {
        server_->stop();
        thread_.join();
        server_.reset();
    }

    std::string token(core::ticket_role role, std::string doi = {}, std::string jkt = {},
                      std::string subject = "sip:alice@ims.example") const {
        core::ticket_claims claims;
        claims.subject = std::move(subject);
        claims.audience = "drm";
        claims.issued_at =
            std::chrono::floor<std::chrono::seconds>(std::chrono::system_clock::now());
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
    std::string grant_token(const core::jwk& device, std::string doi = "10.5555/movie.1") const {
        return token(core::ticket_role::leech, std::move(doi), device.thumbprint());
    }

    drm::content_registration registration(std::string doi = "10.5555/movie.1") {
        drm::content_registration reg;
        reg.doi = std::move(doi);
        reg.kid = kid_;
        std::error_code ec;
        reg.cek = drm::seal_content_key(client_->fetch_jwks(), cek_, ec);
        EXPECT_FALSE(ec) << ec.message();
        return reg;
    }
    drm::grant_request grant_request(std::string request_id = "req-1") const {
        drm::grant_request request;
        request.request_id = std::move(request_id);
        request.user = "sip:alice@ims.example";
        request.doi = "10.5555/movie.1";
        request.device_key = device_.public_only();
        request.rights.play_count = 1;
        return request;
    }

    imsp2p_test::temporary_directory folder_{"imsp2p-drm-server"};
    core::ticket_issuer as_{core::ed25519_private_key::generate(), "as-1", "sip:as.ims.example"};
    std::unique_ptr<drm::drm_service> service_;
    std::unique_ptr<drm::drm_server> server_;
    std::thread thread_;
    std::unique_ptr<drm::drm_client> client_;
    drm::content_kid kid_{1, 1, 2, 3, 5, 8, 13, 21, 34, 55, 89, 144, 233, 0, 0, 1};
    core::secret_bytes cek_{core::random_bytes(32)};
    core::jwk device_{core::x25519_private_key::generate()};
};

}  // namespace

TEST_F(DrmServer, ServesItsJwkSetHealthAndProblemTypes) {
    const core::jwk_set keys = client_->fetch_jwks();
    ASSERT_EQ(keys.keys.size(), 2u);
    EXPECT_EQ(keys.serialize(), service_->jwks().serialize());
    const std::string health = raw_exchange(
        server_->port(), "GET /health HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n");
    EXPECT_NE(health.find("200 OK"), std::string::npos) << health;
    EXPECT_NE(health.find("\"status\":\"ok\""), std::string::npos);
    const std::string missing = raw_exchange(
        server_->port(), "GET /nothing HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n");
    EXPECT_NE(missing.find("404"), std::string::npos);
    EXPECT_NE(missing.find("application/problem+json"), std::string::npos);
    EXPECT_NE(missing.find("urn:imsp2p:problem:not-found"), std::string::npos);
    const std::string wrong_method = raw_exchange(
        server_->port(), "GET /v1/licenses HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n");
    EXPECT_NE(wrong_method.find("405"), std::string::npos);
    EXPECT_NE(wrong_method.find("Allow: POST"), std::string::npos) << wrong_method;
    const std::string post_health = raw_exchange(
        server_->port(),
        "POST /health HTTP/1.1\r\nHost: x\r\nContent-Length: 0\r\nConnection: close\r\n\r\n");
    EXPECT_NE(post_health.find("405"), std::string::npos) << post_health;
    EXPECT_NE(post_health.find("urn:imsp2p:problem:method-not-allowed"), std::string::npos);

    EXPECT_EQ(drm::problem_type(drm::errc::grant_revoked), "urn:imsp2p:problem:grant-revoked");
    EXPECT_EQ(drm::error_from_problem_type("urn:imsp2p:problem:grant-revoked"),
              drm::errc::grant_revoked);
    EXPECT_FALSE(drm::error_from_problem_type("about:blank"));
}

TEST_F(DrmServer, ServiceCallsNeedAServiceToken) {
    drm::drm_client_settings settings = client_->settings();
    settings.service_token_provider = {};
    std::error_code ec;
    drm::drm_problem problem;
    drm::drm_client(settings).register_content(registration(), ec, &problem);
    EXPECT_EQ(ec, drm::errc::drm_unauthorized);
    EXPECT_EQ(problem.status, 401);
    EXPECT_EQ(problem.type, "urn:imsp2p:problem:unauthorized");
    EXPECT_NE(problem.detail.find("Bearer"), std::string::npos) << problem.detail;

    settings.service_token = token(core::ticket_role::leech);  // right issuer, wrong role
    drm::drm_client(settings).register_content(registration(), ec, &problem);
    EXPECT_EQ(ec, drm::errc::drm_unauthorized);
    EXPECT_NE(problem.detail.find("service"), std::string::npos) << problem.detail;

    const std::string raw = raw_exchange(server_->port(),
                                         "POST /v1/grants HTTP/1.1\r\nHost: x\r\nAuthorization: "
                                         "Bearer nope\r\nContent-Length: 2\r\nConnection: "
                                         "close\r\n\r\n{}");
    EXPECT_NE(raw.find("401"), std::string::npos);
    EXPECT_NE(raw.find("WWW-Authenticate: Bearer error=\"invalid_token\""), std::string::npos)
        << raw;
}

TEST_F(DrmServer, ContentRegistrationAnswers201Then200Then409And400) {
    std::error_code ec;
    drm::drm_problem problem;
    auto result = client_->register_content(registration(), ec, &problem);
    ASSERT_FALSE(ec) << problem.detail;
    EXPECT_TRUE(result.created);
    EXPECT_EQ(result.content.doi, "10.5555/movie.1");
    EXPECT_EQ(result.content.kid, kid_);
    EXPECT_EQ(result.content.state, drm::content_state::active);
    result = client_->register_content(registration(), ec, &problem);
    ASSERT_FALSE(ec) << problem.detail;
    EXPECT_FALSE(result.created);

    auto other = registration();
    other.kid[15] ^= 1;
    client_->register_content(other, ec, &problem);
    EXPECT_EQ(ec, drm::errc::content_conflict);
    EXPECT_EQ(problem.status, 409);

    auto bad = registration("10.5555/other");
    bad.cek = "a.b.c.d.e";
    client_->register_content(bad, ec, &problem);
    EXPECT_EQ(ec, drm::errc::drm_bad_request);
    EXPECT_EQ(problem.status, 400);
    EXPECT_NE(problem.detail.find("cek"), std::string::npos) << problem.detail;

    const std::string raw = raw_exchange(
        server_->port(), "POST /v1/contents HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer " +
                             token(core::ticket_role::service) +
                             "\r\nContent-Length: 5\r\nConnection: close\r\n\r\n{nope");
    EXPECT_NE(raw.find("400"), std::string::npos);
    EXPECT_NE(raw.find("not valid JSON"), std::string::npos) << raw;
}

TEST_F(DrmServer, StateChangesGrantsRevocationsAndTheReport) {
    std::error_code ec;
    drm::drm_problem problem;
    client_->grant(grant_request(), ec, &problem);
    EXPECT_EQ(ec, drm::errc::unknown_content);
    EXPECT_EQ(problem.status, 404);
    ASSERT_FALSE((client_->register_content(registration(), ec), ec));

    const auto first = client_->grant(grant_request(), ec, &problem);
    ASSERT_FALSE(ec) << problem.detail;
    EXPECT_TRUE(first.created);
    EXPECT_EQ(first.grant.user, "sip:alice@ims.example");
    EXPECT_EQ(first.grant.device_thumbprint, device_.thumbprint());
    EXPECT_EQ(first.grant.rights.play_count, 1u);
    const auto again = client_->grant(grant_request(), ec, &problem);
    ASSERT_FALSE(ec);
    EXPECT_FALSE(again.created);
    EXPECT_EQ(again.grant.grant_id, first.grant.grant_id);

    auto malformed = grant_request("req-2");
    malformed.user = "alice";
    client_->grant(malformed, ec, &problem);
    EXPECT_EQ(ec, drm::errc::drm_bad_request);
    EXPECT_EQ(problem.status, 400);
    EXPECT_NE(problem.detail.find("user"), std::string::npos);

    const auto report = client_->list_grants("10.5555/MOVIE.1", ec, &problem);
    ASSERT_FALSE(ec) << problem.detail;
    ASSERT_EQ(report.size(), 1u);
    EXPECT_EQ(report[0].grant_id, first.grant.grant_id);
    client_->list_grants("10.5555/none", ec, &problem);
    EXPECT_EQ(ec, drm::errc::unknown_content);

    const auto revoked = client_->revoke(first.grant.grant_id, ec, &problem);
    ASSERT_TRUE(revoked) << problem.detail;
    EXPECT_TRUE(revoked->revoked_at);
    client_->revoke("no-such-grant", ec, &problem);
    EXPECT_EQ(ec, drm::errc::unknown_grant);
    EXPECT_EQ(problem.status, 404);

    const auto withdrawn =
        client_->set_content_state("10.5555/movie.1", drm::content_state::withdrawn, ec, &problem);
    ASSERT_TRUE(withdrawn) << problem.detail;
    EXPECT_EQ(withdrawn->state, drm::content_state::withdrawn);
    client_->grant(grant_request("req-3"), ec, &problem);
    EXPECT_EQ(ec, drm::errc::content_withdrawn);
    EXPECT_EQ(problem.status, 403);
    EXPECT_EQ(problem.type, "urn:imsp2p:problem:content-withdrawn");
    client_->set_content_state("10.5555/none", drm::content_state::active, ec, &problem);
    EXPECT_EQ(ec, drm::errc::unknown_content);
}

TEST_F(DrmServer, LicensesAreIssuedAndRefusedWithEveryStatus) {
    std::error_code ec;
    drm::drm_problem problem;
    ASSERT_FALSE((client_->register_content(registration(), ec), ec));
    const auto grant = client_->grant(grant_request(), ec, &problem);
    ASSERT_FALSE(ec) << problem.detail;

    const std::string license =
        client_->acquire_license(grant_token(device_), device_.public_only(), ec, &problem);
    ASSERT_FALSE(ec) << problem.detail;
    const drm::license_verifier verifier(client_->fetch_jwks());
    const auto verified =
        verifier.verify(license, device_.x25519_private(), std::chrono::system_clock::now(), ec);
    ASSERT_FALSE(ec) << ec.message();
    EXPECT_EQ(verified.cek, cek_);
    EXPECT_EQ(verified.claims.expires_at - verified.claims.issued_at, 120s);

    const auto refusal = [&](const std::string& token, const core::jwk& key, int status) {
        const std::string none = client_->acquire_license(token, key, ec, &problem);
        EXPECT_TRUE(none.empty());
        EXPECT_EQ(problem.status, status) << problem.detail;
        EXPECT_FALSE(problem.detail.empty());
        return ec;
    };
    EXPECT_EQ(refusal("garbage", device_, 401), drm::errc::drm_unauthorized);
    const core::jwk other(core::x25519_private_key::generate());
    EXPECT_EQ(refusal(grant_token(device_), other, 403), drm::errc::license_wrong_device);
    EXPECT_EQ(refusal(grant_token(other), other, 403), drm::errc::no_grant);
    EXPECT_EQ(refusal(grant_token(device_, "10.5555/unknown"), device_, 404),
              drm::errc::unknown_content);
    ASSERT_TRUE(client_->revoke(grant.grant.grant_id, ec));
    EXPECT_EQ(refusal(grant_token(device_), device_, 403), drm::errc::grant_revoked);
    EXPECT_EQ(problem.type, "urn:imsp2p:problem:grant-revoked");
    try {
        (void)client_->acquire_license(grant_token(device_), device_);
        ADD_FAILURE() << "no exception";
    } catch (const drm::drm_client_error& error) {
        EXPECT_EQ(error.code(), drm::errc::grant_revoked);
        EXPECT_EQ(error.problem().status, 403);
        EXPECT_NE(std::string(error.what()).find(grant.grant.grant_id), std::string::npos);
    }
    ASSERT_FALSE((client_->grant(grant_request("req-2"), ec), ec));
    ASSERT_TRUE(client_->set_content_state("10.5555/movie.1", drm::content_state::withdrawn, ec));
    EXPECT_EQ(refusal(grant_token(device_), device_, 403), drm::errc::content_withdrawn);

    const std::string bad_body = raw_exchange(
        server_->port(), "POST /v1/licenses HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer " +
                             grant_token(device_) +
                             "\r\nContent-Length: 2\r\nConnection: close\r\n\r\n[]");
    EXPECT_NE(bad_body.find("400 Bad Request"), std::string::npos) << bad_body;

    const std::string metrics = raw_exchange(
        server_->port(), "GET /metrics HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n");
    EXPECT_NE(metrics.find("imsp2p_drm_licenses_issued_total 1\n"), std::string::npos) << metrics;
    EXPECT_NE(metrics.find("imsp2p_drm_contents 1\n"), std::string::npos);
    EXPECT_NE(metrics.find("imsp2p_drm_contents_withdrawn 1\n"), std::string::npos);
    EXPECT_NE(metrics.find("imsp2p_drm_grants 2\n"), std::string::npos);
    EXPECT_NE(metrics.find("imsp2p_drm_revocations 1\n"), std::string::npos);
    EXPECT_NE(metrics.find("imsp2p_drm_refusals_total{reason=\"grant_revoked\"} 2\n"),
              std::string::npos);
    EXPECT_NE(metrics.find("imsp2p_drm_refusals_total{reason=\"bad_request\"} 1\n"),
              std::string::npos);
    EXPECT_NE(metrics.find("imsp2p_drm_http_requests_total "), std::string::npos);
}

TEST_F(DrmServer, PercentEncodedDoisReachTheirContent) {
    std::error_code ec;
    drm::drm_problem problem;
    ASSERT_FALSE((client_->register_content(registration("10.5555/x/y?z#w:\u00e4"), ec), ec));
    const auto content = client_->set_content_state("doi:10.5555/X/Y?Z#W:\u00e4",
                                                    drm::content_state::withdrawn, ec, &problem);
    ASSERT_TRUE(content) << problem.detail;
    EXPECT_EQ(content->doi, "10.5555/x/y?z#w:\u00e4");
}
