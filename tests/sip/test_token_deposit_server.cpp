#include <imsp2p/sip/token_deposit_server.hpp>

#include <imsp2p/sip/ims_core.hpp>

#include <imsp2p/pana/error.hpp>
#include <imsp2p/pana/token_store.hpp>

#include <imsp2p/core/config.hpp>
#include <imsp2p/core/error.hpp>

#include "imsp2p_test/temporary_directory.hpp"

#include <boost/asio/connect.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>

#include <gtest/gtest.h>

#include <string>

namespace {

using namespace imsp2p;
using namespace std::chrono_literals;
namespace http = boost::beast::http;

const core::impi alice = core::impi::parse("alice@ims.example");

core::byte_vector token(std::uint8_t seed) {
    core::byte_vector out(64);
    for (std::size_t i = 0; i < out.size(); ++i) {
        out[i] = static_cast<std::uint8_t>(seed + i);
    }
    return out;
}

pana::token_proof_check equals(const core::byte_vector& expected) {
    return
        [expected](core::byte_view t) { return core::byte_vector(t.begin(), t.end()) == expected; };
}

struct answer {
    int status = 0;
    std::string content_type;
    std::string body;
};

answer post(std::uint16_t port, const std::string& body,
            const std::string& content_type = "application/octet-stream") {
    boost::asio::io_context io;
    boost::asio::ip::tcp::resolver resolver(io);
    boost::beast::tcp_stream stream(io);
    stream.connect(resolver.resolve("127.0.0.1", std::to_string(port)));
    http::request<http::string_body> req{http::verb::post, "/v1/one-pass-tokens", 11};
    req.set(http::field::host, "127.0.0.1");
    req.set(http::field::content_type, content_type);
    req.body() = body;
    req.prepare_payload();
    http::write(stream, req);
    boost::beast::flat_buffer buffer;
    http::response<http::string_body> res;
    http::read(stream, buffer, res);
    boost::beast::error_code ignored;
    stream.socket().shutdown(boost::asio::ip::tcp::socket::shutdown_both, ignored);
    return {static_cast<int>(res.result_int()), std::string(res[http::field::content_type]),
            res.body()};
}

std::string as_text(const core::byte_vector& bytes) {
    return {bytes.begin(), bytes.end()};
}

class TokenDepositServer : public ::testing::Test {
  protected:
    void SetUp() override {
        sip::token_deposit_server_settings settings;
        settings.service_key = core::secret_bytes(key_);
        settings.hss_database = file_;
        settings.master_key = core::secret_bytes(core::byte_vector(32, 0x07));
        server_ =
            std::make_unique<sip::token_deposit_server>(std::move(settings), core::logger("test"));
        server_->start();
        ASSERT_NE(server_->port(), 0);
    }

    pana::token_store store() {
        pana::token_store_options options;
        options.master_key = core::secret_bytes(core::byte_vector(32, 0x07));
        return pana::token_store::open(file_, std::move(options));
    }

    std::string seal(const core::byte_vector& key, std::uint8_t seed,
                     std::chrono::system_clock::time_point expiry) {
        std::error_code ec;
        auto sealed = pana::seal_token_deposit(key, alice, token(seed), expiry, ec);
        EXPECT_FALSE(ec) << ec.message();
        return as_text(sealed);
    }

    imsp2p_test::temporary_directory directory_{"imsp2p-token-deposit-server"};
    std::filesystem::path file_ = directory_.path() / "hss.sqlite";
    core::byte_vector key_ = core::byte_vector(32, 0x42);
    std::unique_ptr<sip::token_deposit_server> server_;
};

TEST_F(TokenDepositServer, AGoodDepositIsStoredAndAReplayDoesNotReArmTheUsedToken) {
    const std::string sealed = seal(key_, 1, std::chrono::system_clock::now() + 300s);
    const answer stored = post(server_->port(), sealed);
    EXPECT_EQ(stored.status, 204) << stored.body;
    auto tokens = store();
    std::error_code ec;
    tokens.consume(alice, equals(token(1)), ec);
    EXPECT_FALSE(ec) << ec.message();

    const answer replayed = post(server_->port(), sealed);
    EXPECT_EQ(replayed.status, 409);
    EXPECT_EQ(replayed.content_type, "application/problem+json");
    EXPECT_NE(replayed.body.find("urn:imsp2p:problem:deposit-replayed"), std::string::npos);
    tokens.consume(alice, equals(token(1)), ec);
    EXPECT_EQ(ec, pana::errc::token_used);
}

TEST_F(TokenDepositServer, BadDepositsAreRefusedPreciselyAndLeaveTheStoreIntact) {
    const auto now = std::chrono::system_clock::now();
    ASSERT_EQ(post(server_->port(), seal(key_, 2, now + 300s)).status, 204);

    const answer wrong_key =
        post(server_->port(), seal(core::byte_vector(32, 0x43), 3, now + 300s));
    EXPECT_EQ(wrong_key.status, 401);
    EXPECT_NE(wrong_key.body.find("urn:imsp2p:problem:deposit-unauthorized"), std::string::npos);

    const answer expired = post(server_->port(), seal(key_, 4, now - 1s));
    EXPECT_EQ(expired.status, 410);
    EXPECT_NE(expired.body.find("urn:imsp2p:problem:deposit-expired"), std::string::npos);

    const answer garbage = post(server_->port(), "not a deposit at all, just some text");
    EXPECT_EQ(garbage.status, 400);
    EXPECT_NE(garbage.body.find("urn:imsp2p:problem:malformed-deposit"), std::string::npos);
    EXPECT_EQ(post(server_->port(), "").status, 400);

    EXPECT_EQ(post(server_->port(), seal(key_, 5, now + 300s), "text/plain").status, 415);

    // Still the token of the first, good deposit.
    auto tokens = store();
    std::error_code ec;
    tokens.consume(alice, equals(token(3)), ec);
    EXPECT_EQ(ec, pana::errc::token_proof_mismatch);
    tokens.consume(alice, equals(token(2)), ec);
    EXPECT_FALSE(ec) << ec.message();
}

TEST(TokenDepositServerStart, AServiceKeyOfTheWrongSizeIsRefused) {
    imsp2p_test::temporary_directory directory("imsp2p-token-deposit-server");
    sip::token_deposit_server_settings settings;
    settings.service_key = core::secret_bytes(core::byte_vector(16, 1));
    settings.hss_database = directory.path() / "hss.sqlite";
    sip::token_deposit_server server(std::move(settings), core::logger("test"));
    std::error_code ec;
    server.start(ec);
    EXPECT_EQ(ec, core::errc::bad_key_size);
    EXPECT_EQ(server.port(), 0);
}

TEST(ImsCoreDepositSettings, TheHssDepositKeysAreReadAndBadListenValuesRefused) {
    const auto settings = sip::ims_core_settings::from_config(core::config::parse(
        R"({"hss": {"database": "/srv/hss.sqlite",)"
        R"( "deposit": {"listen": "127.0.0.1:8716", "key_file": "/srv/deposit.key"}}})"));
    EXPECT_EQ(settings.deposit_address, "127.0.0.1");
    EXPECT_EQ(settings.deposit_port, 8716);
    EXPECT_EQ(settings.deposit_key_file, std::filesystem::path("/srv/deposit.key"));
    const auto none = sip::ims_core_settings::from_config(core::config::parse("{}"));
    EXPECT_TRUE(none.deposit_address.empty());
    for (const char* text :
         {R"({"hss": {"database": "h", "deposit": {"listen": "127.0.0.1", "key_file": "k"}}})",
          R"({"hss": {"database": "h", "deposit": {"listen": "127.0.0.1:x", "key_file": "k"}}})",
          R"({"hss": {"database": "h", "deposit": {"listen": "1.2.3.4:70000", "key_file": "k"}}})",
          R"({"hss": {"database": "h", "deposit": {"listen": "127.0.0.1:1"}}})",
          R"({"hss": {"deposit": {"listen": "127.0.0.1:1", "key_file": "k"}}})"}) {
        EXPECT_THROW(sip::ims_core_settings::from_config(core::config::parse(text)),
                     std::system_error)
            << text;
    }
}

}  // namespace
