#include <imsp2p/sip/as_runner.hpp>

#include "sip_test_support.hpp"

#include <imsp2p/core/config.hpp>
#include <imsp2p/core/error.hpp>

#include <gtest/gtest.h>

#include <future>
#include <thread>

namespace sip = imsp2p::sip;
namespace core = imsp2p::core;
using imsp2p_test::raw_socket;
using imsp2p_test::recording_handler;
using imsp2p_test::respond;
using imsp2p_test::status_of;
using namespace std::chrono_literals;

TEST(AsRunner, ServerSettingsHaveDefaults) {
    const auto settings = sip::server_settings_from(core::config());
    ASSERT_EQ(settings.listen.size(), 2u);
    EXPECT_EQ(settings.listen[0], "sip:127.0.0.1:5070;transport=udp");
    EXPECT_EQ(settings.listen[1], "sip:127.0.0.1:5070;transport=tcp");
    EXPECT_EQ(settings.worker_threads, 2u);
    EXPECT_EQ(settings.poll_interval, 1000ms);
    EXPECT_TRUE(settings.outbound_proxy.empty());
}

TEST(AsRunner, ServerSettingsComeFromTheConfiguration) {
    const auto config = core::config::parse(R"({"sip": {
        "listen": "sip:127.0.0.1:5999", "workers": 4, "poll_interval": "250ms",
        "outbound_proxy": "sip:scscf.example;lr", "stop_timeout": "2s", "server_name": "as-1"}})");
    const auto settings = sip::server_settings_from(config);
    ASSERT_EQ(settings.listen.size(), 1u);
    EXPECT_EQ(settings.listen[0], "sip:127.0.0.1:5999");
    EXPECT_EQ(settings.worker_threads, 4u);
    EXPECT_EQ(settings.poll_interval, 250ms);
    EXPECT_EQ(settings.outbound_proxy, "sip:scscf.example;lr");
    EXPECT_EQ(settings.stop_timeout, 2000ms);
    EXPECT_EQ(settings.server_name, "as-1");
    const auto list = core::config::parse(R"({"sip": {"listen": ["sip:a:1", "sip:b:2"]}})");
    EXPECT_EQ(sip::server_settings_from(list).listen.size(), 2u);
    EXPECT_THROW(sip::server_settings_from(core::config::parse(R"({"sip": {"workers": 0}})")),
                 std::system_error);
    EXPECT_THROW(sip::server_settings_from(core::config::parse(R"({"sip": {"listen": 5}})")),
                 std::system_error);
}

TEST(AsRunner, RunsUntilStopIsRequested) {
    recording_handler handler([](const sip::incoming_request&) { return respond(200, "OK"); });
    sip::sip_server_settings settings;
    settings.listen = {"sip:127.0.0.1:*"};
    sip::as_runner runner(settings, handler,
                          core::logger("test.as", nullptr, core::log_level::warning));
    std::promise<std::uint16_t> port;
    auto result = std::async(std::launch::async, [&] {
        return runner.run(
            [&](sip::sip_server& server) { port.set_value(server.port(sip::transport::udp)); });
    });
    auto port_future = port.get_future();
    ASSERT_EQ(port_future.wait_for(5s), std::future_status::ready);
    const auto udp = port_future.get();
    raw_socket client(SOCK_DGRAM);
    client.send_to(udp,
                   "OPTIONS sip:as@127.0.0.1 SIP/2.0\r\n"
                   "Via: SIP/2.0/UDP 127.0.0.1:" +
                       std::to_string(client.port()) +
                       ";branch=z9hG4bKrun1\r\n"
                       "From: <sip:probe@127.0.0.1>;tag=p1\r\nTo: <sip:as@127.0.0.1>\r\n"
                       "Call-ID: run-1\r\nCSeq: 1 OPTIONS\r\nContent-Length: 0\r\n\r\n");
    const auto reply = client.receive(5s);
    ASSERT_TRUE(reply.has_value());
    EXPECT_EQ(status_of(*reply), 200);
    EXPECT_EQ(result.wait_for(300ms), std::future_status::timeout);
    runner.request_stop();
    ASSERT_EQ(result.wait_for(5s), std::future_status::ready);
    EXPECT_EQ(result.get(), 0);
}

namespace {

/** The config_bad_value message service_settings_from() throws for a document. */
std::string service_settings_refusal(const char* document) {
    try {
        (void)sip::service_settings_from(core::config::parse(document));
    } catch (const std::system_error& failure) {
        EXPECT_EQ(failure.code(), core::errc::config_bad_value) << document;
        return failure.what();
    }
    ADD_FAILURE() << "accepted " << document;
    return {};
}

}  // namespace

TEST(AsRunner, OperatorSeedBoxSettingsComeFromTheConfiguration) {
    const auto defaults = sip::service_settings_from(core::config::parse("{}"));
    EXPECT_TRUE(defaults.operator_seed_boxes.empty());
    EXPECT_EQ(defaults.operator_seed_ticket_lifetime, std::chrono::hours(24 * 30));

    const auto settings = sip::service_settings_from(core::config::parse(R"({"service": {
        "mute_until_operator_seeded": true,
        "operator_seed_boxes": ["sip:seedbox@ims.example", "sip:seedbox2@ims.example"],
        "operator_seed_ticket_lifetime": 86400}})"));
    EXPECT_TRUE(settings.mute_until_operator_seeded);
    EXPECT_EQ(settings.operator_seed_boxes,
              (std::vector<std::string>{"sip:seedbox@ims.example", "sip:seedbox2@ims.example"}));
    EXPECT_EQ(settings.operator_seed_ticket_lifetime, std::chrono::seconds(86400));
    EXPECT_EQ(sip::service_settings_from(
                  core::config::parse(R"({"service": {"operator_seed_ticket_lifetime": "7d"}})"))
                  .operator_seed_ticket_lifetime,
              std::chrono::hours(24 * 7));
}

TEST(AsRunner, OperatorSeedBoxSettingsAreCheckedStrictly) {
    EXPECT_NE(service_settings_refusal(R"({"service": {"operator_seed_boxes": "sip:a@b"}})")
                  .find("/service/operator_seed_boxes"),
              std::string::npos);
    EXPECT_NE(service_settings_refusal(R"({"service": {"operator_seed_boxes": ["sip:a@b", 5]}})")
                  .find("/service/operator_seed_boxes"),
              std::string::npos);
    const auto not_impu = service_settings_refusal(
        R"({"service": {"operator_seed_boxes": ["sip:seedbox@ims.example", "seedbox"]}})");
    EXPECT_NE(not_impu.find("/service/operator_seed_boxes/1"), std::string::npos) << not_impu;
    EXPECT_NE(not_impu.find("\"seedbox\""), std::string::npos) << not_impu;
    const auto duplicate = service_settings_refusal(
        R"({"service": {"operator_seed_boxes": ["sip:seedbox@ims.example",
                                                 "sip:seedbox@ims.example"]}})");
    EXPECT_NE(duplicate.find("/service/operator_seed_boxes/1: duplicate"), std::string::npos)
        << duplicate;
    for (const char* lifetime : {"0", "\"0s\"", "\"1500ms\"", "-5", "\"soon\"", "true"}) {
        const std::string document =
            std::string(R"({"service": {"operator_seed_ticket_lifetime": )") + lifetime + "}}";
        const auto message = service_settings_refusal(document.c_str());
        EXPECT_NE(message.find("/service/operator_seed_ticket_lifetime"), std::string::npos)
            << lifetime << ": " << message;
    }
}
