#include <imsp2p/pana/paa_runner.hpp>

#include <imsp2p/pana/eap_tls.hpp>
#include <imsp2p/pana/error.hpp>

#include <imsp2p/core/error.hpp>
#include <imsp2p/core/key_file.hpp>

#include <imsp2p/pana/token_store.hpp>

#include "imsp2p_test/pana_fixtures.hpp"
#include "imsp2p_test/temporary_directory.hpp"

#include <gtest/gtest.h>

#include <algorithm>
#include <sstream>
#include <string>
#include <vector>

namespace pana = imsp2p::pana;
using namespace std::chrono_literals;

TEST(PaaRunnerConfig, ParsesAndResolvesRelativePaths) {
    std::error_code ec;
    std::string detail;
    const auto config = pana::paa_runner_config::from_json(
        R"({"listen_address":"127.0.0.1","port":7160,"ca_file":"ca.pem",)"
        R"("certificate_file":"/etc/paa.crt","private_key_file":"k.pem",)"
        R"("session_lifetime_seconds":60})",
        "/srv/paa", ec, detail);
    ASSERT_FALSE(ec) << detail;
    EXPECT_EQ(config.listen_address, "127.0.0.1");
    EXPECT_EQ(config.port, 7160);
    EXPECT_EQ(config.ca_file, std::filesystem::path("/srv/paa/ca.pem"));
    EXPECT_EQ(config.certificate_file, std::filesystem::path("/etc/paa.crt"));
    EXPECT_EQ(config.private_key_file, std::filesystem::path("/srv/paa/k.pem"));
    EXPECT_EQ(config.session_lifetime, 60s);
    const auto defaults = pana::paa_runner_config::from_json(
        R"({"ca_file":"a","certificate_file":"b","private_key_file":"c"})", "", ec, detail);
    ASSERT_FALSE(ec) << detail;
    EXPECT_EQ(defaults.port, 716);
    EXPECT_EQ(defaults.listen_address, "::");
}

TEST(PaaRunnerConfig, RejectsBadConfigurations) {
    for (const char* text :
         {"[]", "{", R"({"ca_file":"a","certificate_file":"b"})",
          R"({"ca_file":"a","certificate_file":"b","private_key_file":"c","port":70000})",
          R"({"ca_file":"a","certificate_file":"b","private_key_file":"c","colour":1})",
          R"({"ca_file":"a","certificate_file":"b","private_key_file":"c",)"
          R"("session_lifetime_seconds":0})"}) {
        std::error_code ec;
        std::string detail;
        pana::paa_runner_config::from_json(text, "", ec, detail);
        EXPECT_EQ(ec, imsp2p::core::errc::invalid_argument) << text;
        EXPECT_FALSE(detail.empty()) << text;
    }
}

TEST(PaaRunner, UsageErrors) {
    std::ostringstream log;
    pana::paa_runner runner(log);
    const std::vector<std::string_view> none;
    EXPECT_EQ(runner.run(none), pana::paa_runner::exit_usage);
    const std::vector<std::string_view> missing{"--config", "/nonexistent/paa.json"};
    EXPECT_EQ(runner.run(missing), pana::paa_runner::exit_usage);
    const std::vector<std::string_view> help{"--help"};
    EXPECT_EQ(runner.run(help), pana::paa_runner::exit_success);
    EXPECT_NE(log.str().find("usage: imsp2p-paa"), std::string::npos);
}

TEST(PaaRunner, AuthenticatesAnEapTlsClientOverUdp) {
    const imsp2p_test::eap_tls_parties parties("alice@ims.example");
    const pana::paa_runner_config config = parties.paa_config();
    std::ostringstream log;
    pana::paa_runner runner(log);
    std::error_code ec;
    pana::paa_runner_config broken = config;
    broken.private_key_file = parties.pki().directory() / "missing.pem";
    runner.start(broken, ec);
    EXPECT_TRUE(ec);
    runner.start(config, ec);
    ASSERT_FALSE(ec) << ec.message();
    ASSERT_NE(runner.port(), 0);

    const pana::eap_tls_settings tls = parties.client_settings();
    const auto context = pana::eap_tls_context::create(tls, pana::eap_tls_role::client);
    auto peer = std::make_unique<pana::eap_tls_peer>(context, "alice@ims.example");
    pana::eap_tls_peer* raw = peer.get();
    pana::pana_client pac;
    const auto info = pac.authenticate("127.0.0.1", runner.port(), std::move(peer), 10s, ec);
    ASSERT_FALSE(ec) << ec.message();
    EXPECT_EQ(info.msk, raw->msk());
    EXPECT_EQ(info.msk.size(), 64u);
    pac.terminate(5s, ec);
    EXPECT_FALSE(ec) << ec.message();
    runner.stop();
    EXPECT_EQ(runner.port(), 0);
    EXPECT_NE(log.str().find("listening on 127.0.0.1"), std::string::npos) << log.str();
    EXPECT_NE(log.str().find("authenticated alice@ims.example"), std::string::npos) << log.str();
}

// The whole PaC/PAA/EAP-TLS run over UDP once with each TLS version: the PAA accepts both, the
// PaC pins one; the MSK is equal on both ends and the versions derive different keys.
TEST(PaaRunner, AuthenticatesOverUdpWithTls12AndTls13) {
    const imsp2p_test::eap_tls_parties parties("alice@ims.example");
    const pana::paa_runner_config config = parties.paa_config();
    std::ostringstream log;
    pana::paa_runner runner(log);
    std::error_code ec;
    runner.start(config, ec);
    ASSERT_FALSE(ec) << ec.message();
    std::vector<imsp2p::core::byte_vector> msks;
    for (const auto version : {pana::tls_version::tls1_2, pana::tls_version::tls1_3}) {
        pana::eap_tls_settings tls = parties.client_settings();
        tls.min_version = version;
        tls.max_version = version;
        const auto context = pana::eap_tls_context::create(tls, pana::eap_tls_role::client);
        auto peer = std::make_unique<pana::eap_tls_peer>(context, "alice@ims.example");
        pana::eap_tls_peer* raw = peer.get();
        pana::pana_client pac;
        const auto info = pac.authenticate("127.0.0.1", runner.port(), std::move(peer), 10s, ec);
        ASSERT_FALSE(ec) << ec.message();
        ASSERT_EQ(raw->version(), version);
        EXPECT_EQ(info.msk, raw->msk());
        EXPECT_EQ(info.msk.size(), 64u);
        msks.push_back(info.msk);
        pac.terminate(5s, ec);
        EXPECT_FALSE(ec) << ec.message();
    }
    EXPECT_NE(msks[0], msks[1]);
    runner.stop();
}

TEST(PaaRunnerConfig, ParsesTheHssTokenStore) {
    std::error_code ec;
    std::string detail;
    const auto config = pana::paa_runner_config::from_json(
        R"({"ca_file":"a","certificate_file":"b","private_key_file":"c",)"
        R"("token_store":"hss.sqlite","token_lifetime_seconds":30})",
        "/srv/paa", ec, detail);
    ASSERT_FALSE(ec) << detail;
    EXPECT_EQ(config.token_store_file, std::filesystem::path("/srv/paa/hss.sqlite"));
    EXPECT_EQ(config.token_lifetime, 30s);
    const auto defaults = pana::paa_runner_config::from_json(
        R"({"ca_file":"a","certificate_file":"b","private_key_file":"c"})", "", ec, detail);
    ASSERT_FALSE(ec) << detail;
    EXPECT_TRUE(defaults.token_store_file.empty());
    EXPECT_EQ(defaults.token_lifetime, 300s);
    for (const char* text : {R"({"ca_file":"a","certificate_file":"b","private_key_file":"c",)"
                             R"("token_store":""})",
                             R"({"ca_file":"a","certificate_file":"b","private_key_file":"c",)"
                             R"("token_store":7})",
                             R"({"ca_file":"a","certificate_file":"b","private_key_file":"c",)"
                             R"("token_lifetime_seconds":0})"}) {
        pana::paa_runner_config::from_json(text, "", ec, detail);
        EXPECT_EQ(ec, imsp2p::core::errc::invalid_argument) << text;
        EXPECT_FALSE(detail.empty()) << text;
    }
}

TEST(PaaRunner, StoresTheOnePassTokenOfEachAuthenticationAtTheHss) {
    const imsp2p_test::eap_tls_parties parties("alice@ims.example");
    imsp2p_test::temporary_directory folder("imsp2p-paa-runner-tokens");
    pana::paa_runner_config config = parties.paa_config();
    config.token_store_file = folder.path() / "hss.sqlite";
    config.token_lifetime = 60s;
    std::ostringstream log;
    pana::paa_runner runner(log);
    std::error_code ec;
    runner.start(config, ec);
    ASSERT_FALSE(ec) << ec.message();
    EXPECT_EQ(runner.tokens_stored(), 0u);

    const pana::eap_tls_settings tls = parties.client_settings(false);
    const auto context = pana::eap_tls_context::create(tls, pana::eap_tls_role::client);
    auto peer = std::make_unique<pana::eap_tls_peer>(context, "alice@ims.example");
    pana::eap_tls_peer* raw = peer.get();
    pana::pana_client pac;
    pac.authenticate("127.0.0.1", runner.port(), std::move(peer), 10s, ec);
    ASSERT_FALSE(ec) << ec.message();
    const imsp2p::core::byte_vector token = raw->token();
    ASSERT_EQ(token.size(), pana::eap_tls_limits::token_size);
    EXPECT_EQ(runner.tokens_stored(), 1u);
    EXPECT_NE(log.str().find("one-pass token stored for alice@ims.example"), std::string::npos)
        << log.str();

    // The HSS (another connection to the file) holds exactly that token, once.
    auto hss = pana::token_store::open(config.token_store_file);
    const auto alice = imsp2p::core::impi::parse("alice@ims.example");
    const auto same_token = [&](imsp2p::core::byte_view stored) {
        return std::equal(stored.begin(), stored.end(), token.begin(), token.end());
    };
    hss.consume(
        alice, [](imsp2p::core::byte_view) { return false; }, ec);
    EXPECT_EQ(ec, pana::errc::token_proof_mismatch);
    hss.consume(alice, same_token, ec);
    EXPECT_FALSE(ec) << ec.message();
    hss.consume(alice, same_token, ec);
    EXPECT_EQ(ec, pana::errc::token_used);
    pac.terminate(5s, ec);
    runner.stop();
}

namespace {

TEST(PaaRunnerConfig, ParsesTheHssDepositInterface) {
    std::error_code ec;
    std::string detail;
    const auto config = pana::paa_runner_config::from_json(
        R"({"ca_file":"a","certificate_file":"b","private_key_file":"c",)"
        R"("hss_deposit_url":"http://127.0.0.1:8716/v1/one-pass-tokens",)"
        R"("hss_deposit_key":"deposit.key"})",
        "/srv/paa", ec, detail);
    ASSERT_FALSE(ec) << detail;
    EXPECT_EQ(config.hss_deposit_url, "http://127.0.0.1:8716/v1/one-pass-tokens");
    EXPECT_EQ(config.hss_deposit_key_file, std::filesystem::path("/srv/paa/deposit.key"));
    EXPECT_TRUE(config.token_store_file.empty());
    for (const char* text : {R"({"ca_file":"a","certificate_file":"b","private_key_file":"c",)"
                             R"("hss_deposit_url":"http://127.0.0.1:1/v1/one-pass-tokens"})",
                             R"({"ca_file":"a","certificate_file":"b","private_key_file":"c",)"
                             R"("hss_deposit_key":"k"})",
                             R"({"ca_file":"a","certificate_file":"b","private_key_file":"c",)"
                             R"("hss_deposit_url":"ftp://x/","hss_deposit_key":"k"})",
                             R"({"ca_file":"a","certificate_file":"b","private_key_file":"c",)"
                             R"("hss_deposit_url":"http://h:1/","hss_deposit_key":"k",)"
                             R"("token_store":"hss.sqlite"})"}) {
        pana::paa_runner_config::from_json(text, "", ec, detail);
        EXPECT_EQ(ec, imsp2p::core::errc::invalid_argument) << text;
        EXPECT_FALSE(detail.empty()) << text;
    }
}

TEST(PaaRunner, AnUnreachableHssIsLoggedAndTheAuthenticationStillSucceeds) {
    const imsp2p_test::eap_tls_parties parties("alice@ims.example");
    imsp2p_test::temporary_directory folder("imsp2p-paa-runner-deposit");
    pana::paa_runner_config config = parties.paa_config();
    // Port 9 (discard) on 127.0.0.1 is not served here: the connection is refused.
    config.hss_deposit_url = "http://127.0.0.1:9/v1/one-pass-tokens";
    config.hss_deposit_key_file = folder.path() / "deposit.key";
    std::ostringstream log;
    pana::paa_runner runner(log);
    std::error_code ec;
    runner.start(config, ec);
    EXPECT_EQ(ec, imsp2p::core::errc::not_found);  // no key file yet
    imsp2p::core::write_secret_file(config.hss_deposit_key_file,
                                    imsp2p::core::byte_vector(32, 0x42), ec);
    ASSERT_FALSE(ec);
    runner.start(config, ec);
    ASSERT_FALSE(ec) << ec.message();

    const pana::eap_tls_settings tls = parties.client_settings(false);
    const auto context = pana::eap_tls_context::create(tls, pana::eap_tls_role::client);
    pana::pana_client pac;
    pac.authenticate("127.0.0.1", runner.port(),
                     std::make_unique<pana::eap_tls_peer>(context, "alice@ims.example"), 10s, ec);
    ASSERT_FALSE(ec) << ec.message();
    pac.terminate(5s, ec);
    runner.stop();  // waits for the pending deposit attempt
    EXPECT_EQ(runner.tokens_stored(), 0u);
    EXPECT_NE(log.str().find("cannot deposit the one-pass token of alice@ims.example"),
              std::string::npos)
        << log.str();
}

}  // namespace
