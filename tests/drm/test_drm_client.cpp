#include <imsp2p/drm/drm_client.hpp>

#include <imsp2p/core/crypto.hpp>
#include <imsp2p/core/error.hpp>
#include <imsp2p/core/jose.hpp>
#include <imsp2p/drm/error.hpp>

#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/read_until.hpp>
#include <boost/asio/write.hpp>

#include <gtest/gtest.h>

#include <thread>

namespace core = imsp2p::core;
namespace drm = imsp2p::drm;
namespace net = boost::asio;
using namespace std::chrono_literals;

namespace {

/** A port on 127.0.0.1 where nothing listens (bound, then closed). */
std::uint16_t closed_port() {
    net::io_context io;
    net::ip::tcp::acceptor acceptor(io, {net::ip::make_address("127.0.0.1"), 0});
    return acceptor.local_endpoint().port();
}

/** Answers one connection with a fixed response after reading the request head. */
class canned_server {
  public:
    explicit canned_server(std::string response, std::chrono::milliseconds delay = 0ms)
        : acceptor_(io_, {net::ip::make_address("127.0.0.1"), 0}) {
        thread_ = std::thread([this, response = std::move(response), delay] {
            boost::system::error_code ec;
            net::ip::tcp::socket socket(io_);
            acceptor_.accept(socket, ec);
            if (ec) {
                return;
            }
            std::string head;
            net::read_until(socket, net::dynamic_buffer(head), "\r\n\r\n", ec);
            std::this_thread::sleep_for(delay);
            net::write(socket, net::buffer(response), ec);
        });
    }
    ~canned_server() {
        boost::system::error_code ignored;
        acceptor_.close(ignored);
        thread_.join();
    }
    std::string url() const {
        return "http://127.0.0.1:" + std::to_string(acceptor_.local_endpoint().port());
    }

  private:
    net::io_context io_;
    net::ip::tcp::acceptor acceptor_;
    std::thread thread_;
};

std::string problem_response(int status, const std::string& body) {
    return "HTTP/1.1 " + std::to_string(status) +
           " X\r\nContent-Type: application/problem+json\r\nContent-Length: " +
           std::to_string(body.size()) + "\r\nConnection: close\r\n\r\n" + body;
}

}  // namespace

TEST(DrmClient, AServerThatIsDownIsUnavailable) {
    drm::drm_client client({"http://127.0.0.1:" + std::to_string(closed_port()), 2000ms, {}, {}});
    std::error_code ec;
    drm::drm_problem problem;
    const core::jwk device(core::x25519_private_key::generate());
    EXPECT_TRUE(client.acquire_license("token", device, ec, &problem).empty());
    EXPECT_EQ(ec, drm::errc::drm_unavailable);
    EXPECT_EQ(problem.status, 0);
    EXPECT_NE(problem.detail.find("127.0.0.1"), std::string::npos) << problem.detail;
    EXPECT_THROW((void)client.fetch_jwks(), drm::drm_client_error);
}

TEST(DrmClient, ASlowServerTimesOutAsUnavailable) {
    canned_server server(problem_response(500, "{}"), 1500ms);
    drm::drm_client client({server.url(), 300ms, {}, {}});
    std::error_code ec;
    (void)client.fetch_jwks(ec);
    EXPECT_EQ(ec, drm::errc::drm_unavailable);
}

TEST(DrmClient, ProblemTypesMapToErrorsAndKeepTheDetail) {
    canned_server server(problem_response(
        403, R"({"type":"urn:imsp2p:problem:grant-revoked","title":"Grant revoked","status":403,)"
             R"("detail":"grant g1 was revoked"})"));
    drm::drm_client client({server.url(), 5000ms, {}, {}});
    std::error_code ec;
    drm::drm_problem problem;
    const core::jwk device(core::x25519_private_key::generate());
    client.acquire_license("t", device, ec, &problem);
    EXPECT_EQ(ec, drm::errc::grant_revoked);
    EXPECT_EQ(problem.status, 403);
    EXPECT_EQ(problem.title, "Grant revoked");
    EXPECT_EQ(problem.detail, "grant g1 was revoked");
}

TEST(DrmClient, UnknownProblemTypesMapByStatus) {
    for (const auto& [status, expected] :
         std::vector<std::pair<int, drm::errc>>{{400, drm::errc::drm_bad_request},
                                                {401, drm::errc::drm_unauthorized},
                                                {404, drm::errc::unknown_content},
                                                {502, drm::errc::drm_server_error}}) {
        canned_server server(problem_response(status, R"({"type":"about:blank"})"));
        drm::drm_client client({server.url(), 5000ms, {}, {}});
        std::error_code ec;
        drm::drm_problem problem;
        client.revoke("g", ec, &problem);
        EXPECT_EQ(ec, expected) << status;
        EXPECT_EQ(problem.detail, "HTTP " + std::to_string(status));
    }
}

TEST(DrmClient, ALicenseAnswerMustBeJose) {
    const std::string body = R"({"not":"a license"})";
    canned_server server("HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: " +
                         std::to_string(body.size()) + "\r\nConnection: close\r\n\r\n" + body);
    drm::drm_client client({server.url(), 5000ms, {}, {}});
    std::error_code ec;
    const core::jwk device(core::x25519_private_key::generate());
    EXPECT_TRUE(client.acquire_license("t", device, ec).empty());
    EXPECT_EQ(ec, drm::errc::drm_server_error);
}

TEST(DrmClient, SealsContentKeysToTheDrmEncryptionKey) {
    const core::x25519_private_key drm_key = core::x25519_private_key::generate();
    core::jwk published(drm_key.public_key());
    published.set_kid("enc-1");
    published.set_use("enc");
    core::jwk_set keys;
    keys.keys.push_back(core::jwk(core::ed25519_private_key::generate().public_key()));
    keys.keys.push_back(published);
    const core::secret_bytes cek(core::random_bytes(32));
    std::error_code ec;
    const std::string jwe = drm::seal_content_key(keys, cek, ec);
    ASSERT_FALSE(ec) << ec.message();
    EXPECT_EQ(core::jwe_decrypt(jwe, drm_key), cek);
    EXPECT_EQ(core::jose_protected_header(jwe, ec)["kid"], "enc-1");
    drm::seal_content_key(keys, core::random_bytes(16), ec);
    EXPECT_EQ(ec, core::errc::bad_key_size);
    keys.keys.pop_back();
    drm::seal_content_key(keys, cek, ec);
    EXPECT_EQ(ec, core::errc::jwk_unsupported);
}
