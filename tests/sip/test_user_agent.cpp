#include <imsp2p/sip/user_agent.hpp>

#include <imsp2p/sip/sip_server.hpp>

#include "imsp2p_test/temporary_directory.hpp"
#include "sip_test_support.hpp"

#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <string>
#include <thread>

namespace sip = imsp2p::sip;
using imsp2p_test::child_process;
using imsp2p_test::file_text;
using imsp2p_test::free_port;
using imsp2p_test::recording_handler;
using imsp2p_test::respond;
using imsp2p_test::wait_bound;
using namespace std::chrono_literals;

namespace {

const std::string scenario_dir = std::string(IMSP2P_SOURCE_DIR) + "/tests/sip/sipp/";

imsp2p::core::logger quiet_log(std::string name) {
    return imsp2p::core::logger(std::move(name), nullptr, imsp2p::core::log_level::warning);
}

// sipp as a UAS running one scenario for one call on 127.0.0.1:port, stopping by itself.
struct sipp_peer {
    sipp_peer(const std::string& scenario, std::uint16_t listen_port, bool tcp,
              const std::string& folder)
        : port(listen_port),
          log(folder + "/" + scenario + ".out"),
          errors(folder + "/" + scenario + ".errors"),
          messages(folder + "/" + scenario + ".messages"),
          process({"sipp",
                   "-sf",
                   scenario_dir + scenario,
                   "-i",
                   "127.0.0.1",
                   "-p",
                   std::to_string(listen_port),
                   "-t",
                   tcp ? "t1" : "u1",
                   "-m",
                   "1",
                   "-timeout",
                   "20s",
                   "-timeout_error",
                   "-nostdin",
                   "-trace_err",
                   "-error_file",
                   errors,
                   "-trace_msg",
                   "-message_file",
                   messages},
                  log) {
        bound = wait_bound(listen_port, tcp, 5s);
    }
    std::string report() const { return file_text(errors) + "\n" + file_text(messages); }

    std::uint16_t port;
    std::string log;
    std::string errors;
    std::string messages;
    child_process process;
    bool bound = false;
};

sip::user_agent_settings alice(const std::string& registrar) {
    sip::user_agent_settings settings;
    settings.aor = "sip:alice@ims.example";
    settings.registrar = registrar;
    settings.credentials = std::make_shared<sip::password_credentials>("alice", "secret");
    settings.register_expires = 600s;
    return settings;
}

}  // namespace

TEST(UserAgent, PasswordCredentialsAnswerOnlyMd5InTheirRealm) {
    sip::password_credentials any("alice", "secret");
    sip::auth_challenge challenge;
    challenge.realm = "ims.example";
    ASSERT_TRUE(any.answer(challenge).has_value());
    const auto answer = any.answer(challenge);
    EXPECT_EQ(answer->username, "alice");
    EXPECT_EQ(std::string(answer->secret.begin(), answer->secret.end()), "secret");
    challenge.algorithm = "AKAv1-MD5";
    EXPECT_FALSE(any.answer(challenge).has_value());
    sip::password_credentials scoped("alice", "secret", "other.example");
    challenge.algorithm = "MD5";
    EXPECT_FALSE(scoped.answer(challenge).has_value());
}

TEST(UserAgent, RegistersWithDigestRefreshesAndUnregistersAgainstSippOverUdp) {
    imsp2p_test::temporary_directory folder;
    const auto port = free_port();
    sipp_peer registrar("ua_registrar.xml", port, false, folder.path().string());
    ASSERT_TRUE(registrar.bound) << registrar.report();

    sip::user_agent ua(alice("sip:127.0.0.1:" + std::to_string(port)), quiet_log("test.ua"));
    EXPECT_FALSE(ua.registered());
    const auto result = ua.register_now(10s);
    ASSERT_EQ(result.status, 200) << result.reason << "\n" << registrar.report();
    EXPECT_TRUE(ua.registered());
    EXPECT_NE(ua.contact().find("sip:alice@127.0.0.1:"), std::string::npos) << ua.contact();

    // The registrar grants 2 s: the refresh comes after about 1 s.
    const auto deadline = std::chrono::steady_clock::now() + 8s;
    while (ua.registrations() < 2 && std::chrono::steady_clock::now() < deadline) {
        std::this_thread::sleep_for(50ms);
    }
    EXPECT_GE(ua.registrations(), 2u) << registrar.report();

    const auto removed = ua.unregister(10s);
    EXPECT_EQ(removed.status, 200) << removed.reason << "\n" << registrar.report();
    EXPECT_FALSE(ua.registered());
    EXPECT_EQ(registrar.process.wait(10s), 0) << registrar.report();
}

TEST(UserAgent, RegistersOverTcpThroughAnOutboundProxy) {
    imsp2p_test::temporary_directory folder;
    const auto port = free_port();
    sipp_peer registrar("ua_registrar.xml", port, true, folder.path().string());
    ASSERT_TRUE(registrar.bound) << registrar.report();

    // The registrar URI names a domain that does not resolve; only the proxy leads there.
    auto settings = alice("sip:ims.example.invalid");
    settings.outbound_proxy = "sip:127.0.0.1:" + std::to_string(port) + ";transport=tcp";
    sip::user_agent ua(settings, quiet_log("test.ua"));
    const auto result = ua.register_now(10s);
    ASSERT_EQ(result.status, 200) << result.reason << "\n" << registrar.report();
    const auto deadline = std::chrono::steady_clock::now() + 8s;
    while (ua.registrations() < 2 && std::chrono::steady_clock::now() < deadline) {
        std::this_thread::sleep_for(50ms);
    }
    EXPECT_GE(ua.registrations(), 2u) << registrar.report();
    EXPECT_EQ(ua.unregister(10s).status, 200) << registrar.report();
    EXPECT_EQ(registrar.process.wait(10s), 0) << registrar.report();
}

TEST(UserAgent, AWrongPasswordEndsWith403) {
    imsp2p_test::temporary_directory folder;
    const auto port = free_port();
    sipp_peer registrar("ua_registrar.xml", port, false, folder.path().string());
    ASSERT_TRUE(registrar.bound) << registrar.report();
    auto settings = alice("sip:127.0.0.1:" + std::to_string(port));
    settings.credentials = std::make_shared<sip::password_credentials>("alice", "wrong");
    sip::user_agent ua(settings, quiet_log("test.ua"));
    const auto result = ua.register_now(10s);
    EXPECT_EQ(result.status, 403) << result.reason << "\n" << registrar.report();
    EXPECT_FALSE(ua.registered());
}

TEST(UserAgent, WithoutCredentialsTheChallengeIsTheResult) {
    imsp2p_test::temporary_directory folder;
    const auto port = free_port();
    sipp_peer registrar("ua_registrar.xml", port, false, folder.path().string());
    ASSERT_TRUE(registrar.bound) << registrar.report();
    auto settings = alice("sip:127.0.0.1:" + std::to_string(port));
    settings.credentials = nullptr;
    sip::user_agent ua(settings, quiet_log("test.ua"));
    const auto result = ua.register_now(10s);
    EXPECT_EQ(result.status, 401);
    bool challenged = false;
    for (const auto& field : result.headers) {
        challenged = challenged || (field.name == "WWW-Authenticate" &&
                                    field.value.find("realm=\"ims.example\"") != std::string::npos);
    }
    EXPECT_TRUE(challenged);
}

TEST(UserAgent, AnswersADigestChallengeToAMessage) {
    imsp2p_test::temporary_directory folder;
    const auto port = free_port();
    sipp_peer peer("ua_message_auth.xml", port, false, folder.path().string());
    ASSERT_TRUE(peer.bound) << peer.report();
    sip::user_agent ua(alice("sip:127.0.0.1:" + std::to_string(port)), quiet_log("test.ua"));
    sip::outgoing_request message;
    message.method = "MESSAGE";
    message.request_uri = "sip:content@127.0.0.1:" + std::to_string(port);
    message.content_type = "application/json";
    message.body = R"({"request_id":"a1"})";
    const auto result = ua.send(message, 10s);
    EXPECT_EQ(result.status, 200) << result.reason << "\n" << peer.report();
    EXPECT_NE(file_text(peer.messages).find("opaque=\"op-1\""), std::string::npos) << peer.report();
    EXPECT_EQ(peer.process.wait(10s), 0) << peer.report();
}

class UserAgentMessage : public ::testing::TestWithParam<bool> {};

TEST_P(UserAgentMessage, SendsMessageAndReceivesMessagesFromSipp) {
    const bool tcp = GetParam();
    imsp2p_test::temporary_directory folder;
    const auto port = free_port();
    sipp_peer peer("ua_message.xml", port, tcp, folder.path().string());
    ASSERT_TRUE(peer.bound) << peer.report();

    sip::user_agent ua(alice("sip:127.0.0.1:" + std::to_string(port)), quiet_log("test.ua"));
    sip::outgoing_request message;
    message.method = "MESSAGE";
    message.request_uri =
        "sip:content@127.0.0.1:" + std::to_string(port) + (tcp ? ";transport=tcp" : "");
    message.content_type = "application/json";
    message.body = R"({"request_id":"r42","doi":"10.1234/x","greeting":"hello"})";
    const auto result = ua.send(message, 10s);
    EXPECT_EQ(result.status, 200) << result.reason << "\n" << peer.report();

    const auto ticket = ua.wait_for_message("r42", 10s);
    ASSERT_TRUE(ticket.has_value()) << peer.report();
    EXPECT_EQ(ticket->method, "MESSAGE");
    EXPECT_EQ(ticket->from_uri, "sip:content@as.example");
    EXPECT_NE(ticket->body.find("\"ticket\":\"abc\""), std::string::npos);
    EXPECT_EQ(ticket->via_transport, tcp ? sip::transport::tcp : sip::transport::udp);
    const auto other = ua.next_request(1s);
    ASSERT_TRUE(other.has_value());
    EXPECT_NE(other->body.find("\"other\""), std::string::npos);
    EXPECT_FALSE(ua.next_request(100ms).has_value());
    EXPECT_EQ(peer.process.wait(10s), 0) << peer.report();
}

INSTANTIATE_TEST_SUITE_P(Transports, UserAgentMessage, ::testing::Values(false, true),
                         [](const ::testing::TestParamInfo<bool>& param_info) {
                             return param_info.param ? "Tcp" : "Udp";
                         });

TEST(UserAgent, TalksToTheSipServerBothWays) {
    std::string ua_contact;
    std::mutex contact_mutex;
    recording_handler handler([&](const sip::incoming_request& request) {
        auto result = respond(200, "OK");
        if (request.method == "MESSAGE") {
            std::lock_guard lock(contact_mutex);
            sip::outgoing_request ticket;
            ticket.method = "MESSAGE";
            ticket.request_uri = ua_contact;
            ticket.from_uri = "sip:content@as.example";
            ticket.to_uri = request.from_uri;
            ticket.content_type = "application/json";
            ticket.body = R"({"request_id":"t-1","ticket":"eyJ..."})";
            ticket.correlation_id = "ticket-t-1";
            result.requests.push_back(ticket);
        } else if (request.method == "PUBLISH") {
            result.response.headers.push_back({"SIP-ETag", "etag-1"});
            result.response.headers.push_back({"Expires", "3600"});
        } else if (request.method == "SUBSCRIBE") {
            result.response.status = 202;
            result.response.reason = "Accepted";
            result.response.to_tag = "as-tag-1";
            result.response.headers.push_back({"Expires", "600"});
        }
        return result;
    });
    sip::sip_server_settings server_settings;
    server_settings.listen = {"sip:127.0.0.1:*"};
    sip::sip_server server(handler, server_settings, quiet_log("test.as"));
    server.start();
    const auto udp = server.port(sip::transport::udp);
    const auto tcp = server.port(sip::transport::tcp);

    auto settings = alice("sip:127.0.0.1:" + std::to_string(udp));
    sip::user_agent ua(settings, quiet_log("test.ua"));
    {
        std::lock_guard lock(contact_mutex);
        ua_contact = ua.contact();
    }

    sip::outgoing_request message;
    message.method = "MESSAGE";
    message.request_uri = "sip:content@127.0.0.1:" + std::to_string(udp);
    message.content_type = "application/json";
    message.body = R"({"request_id":"t-1","doi":"10.1234/abc"})";
    const auto sent = ua.send(message, 10s);
    EXPECT_EQ(sent.status, 200) << sent.reason;
    const auto ticket = ua.wait_for_message("t-1", 10s);
    ASSERT_TRUE(ticket.has_value());
    EXPECT_NE(ticket->body.find("eyJ..."), std::string::npos);
    ASSERT_TRUE(handler.wait_outcomes(1, 5s));
    EXPECT_EQ(handler.outcomes().front().correlation_id, "ticket-t-1");
    EXPECT_EQ(handler.outcomes().front().status, 200);

    // PUBLISH over TCP with a body larger than a UDP datagram should carry.
    sip::outgoing_request publish;
    publish.method = "PUBLISH";
    publish.request_uri = "sip:content@127.0.0.1:" + std::to_string(tcp) + ";transport=tcp";
    publish.headers.push_back({"Event", "imsp2p-content"});
    publish.content_type = "application/json";
    publish.body = "{\"torrent\":\"" + std::string(5000, 'T') + "\"}";
    const auto published = ua.send(publish, 10s);
    EXPECT_EQ(published.status, 200) << published.reason;
    bool etag = false;
    for (const auto& field : published.headers) {
        etag = etag || (field.name == "SIP-ETag" && field.value == "etag-1");
    }
    EXPECT_TRUE(etag);

    sip::outgoing_request subscribe;
    subscribe.method = "SUBSCRIBE";
    subscribe.request_uri = "sip:content@127.0.0.1:" + std::to_string(udp);
    subscribe.headers.push_back({"Event", "imsp2p-catalog"});
    subscribe.headers.push_back({"Expires", "600"});
    const auto subscribed = ua.send(subscribe, 10s);
    EXPECT_EQ(subscribed.status, 202);
    ASSERT_TRUE(handler.wait_requests(3, 2s));
    const auto requests = handler.requests();
    EXPECT_EQ(requests[1].method, "PUBLISH");
    EXPECT_EQ(requests[1].event, "imsp2p-content");
    EXPECT_EQ(requests[1].via_transport, sip::transport::tcp);
    EXPECT_EQ(requests[2].method, "SUBSCRIBE");
    EXPECT_EQ(requests[2].event, "imsp2p-catalog");
    EXPECT_EQ(requests[2].expires.value_or(0), 600u);
    EXPECT_FALSE(requests[2].header("Contact").value_or("").empty());

    // A NOTIFY in the subscription dialog reaches the user agent's queue.
    sip::outgoing_request notify;
    notify.method = "NOTIFY";
    notify.request_uri = ua.contact();
    notify.from_uri = "sip:content@127.0.0.1";
    notify.from_tag = "as-tag-1";
    notify.to_uri = "sip:alice@ims.example";
    notify.to_tag = requests[2].from_tag;
    notify.call_id = requests[2].call_id;
    notify.headers.push_back({"Event", "imsp2p-catalog"});
    notify.headers.push_back({"Subscription-State", "active;expires=600"});
    notify.content_type = "application/json";
    notify.body = R"({"added":["10.1234/abc"]})";
    notify.correlation_id = "notify-1";
    server.send(notify);
    const auto received = ua.next_request(5s);
    ASSERT_TRUE(received.has_value());
    EXPECT_EQ(received->method, "NOTIFY");
    EXPECT_EQ(received->event, "imsp2p-catalog");
    EXPECT_EQ(received->call_id, requests[2].call_id);
    EXPECT_EQ(received->header("Subscription-State").value_or(""), "active;expires=600");
    ASSERT_TRUE(handler.wait_outcomes(2, 5s));
    EXPECT_EQ(handler.outcomes()[1].status, 200);
}

namespace {

std::string message_to_ua(std::uint16_t from_port, int cseq, const std::string& content_type,
                          const std::string& body) {
    return "MESSAGE sip:alice@127.0.0.1 SIP/2.0\r\n"
           "Via: SIP/2.0/UDP 127.0.0.1:" +
           std::to_string(from_port) + ";branch=z9hG4bK-accept-" + std::to_string(cseq) +
           "\r\n"
           "Max-Forwards: 70\r\n"
           "From: <sip:content@as.example>;tag=as-1\r\n"
           "To: <sip:alice@ims.example>\r\n"
           "Call-ID: accept-hook-" +
           std::to_string(cseq) +
           "@127.0.0.1\r\n"
           "CSeq: " +
           std::to_string(cseq) +
           " MESSAGE\r\n"
           "Content-Type: " +
           content_type +
           "\r\n"
           "Content-Length: " +
           std::to_string(body.size()) + "\r\n\r\n" + body;
}

}  // namespace

// The host's accept hook decides the answer before a request is queued: refused requests get
// the status, reason and headers it chose and are not queued; accepted ones are queued.
TEST(UserAgent, TheAcceptHookAnswersIncomingMessagesBeforeTheyAreQueued) {
    auto settings = alice("sip:127.0.0.1:9");
    settings.listen = "sip:127.0.0.1:*;transport=udp";
    std::atomic<int> screened{0};
    settings.accept = [&screened](const sip::incoming_request& request) {
        ++screened;
        if (request.content_type != "application/json") {
            return sip::incoming_verdict{
                415, "Unsupported Media Type", {{"Accept", "application/json"}}};
        }
        if (request.body.find("bad") != std::string::npos) {
            return sip::incoming_verdict{400, "Bad Request (member x: bad)", {}};
        }
        return sip::incoming_verdict{};
    };
    sip::user_agent ua(settings, quiet_log("test.ua"));
    const std::uint16_t ua_port = ua.port(sip::transport::udp);
    ASSERT_NE(ua_port, 0);
    imsp2p_test::raw_socket as(SOCK_DGRAM);

    as.send_to(ua_port, message_to_ua(as.port(), 1, "text/plain", "hello"));
    auto answer = as.receive(5s);
    ASSERT_TRUE(answer.has_value());
    EXPECT_EQ(answer->rfind("SIP/2.0 415 Unsupported Media Type\r\n", 0), 0u) << *answer;
    EXPECT_NE(answer->find("\r\nAccept: application/json\r\n"), std::string::npos) << *answer;

    as.send_to(ua_port, message_to_ua(as.port(), 2, "application/json", R"({"x":"bad"})"));
    answer = as.receive(5s);
    ASSERT_TRUE(answer.has_value());
    EXPECT_EQ(answer->rfind("SIP/2.0 400 Bad Request (member x: bad)\r\n", 0), 0u) << *answer;
    EXPECT_FALSE(ua.next_request(200ms).has_value());

    as.send_to(ua_port, message_to_ua(as.port(), 3, "application/json", R"({"x":"good"})"));
    answer = as.receive(5s);
    ASSERT_TRUE(answer.has_value());
    EXPECT_EQ(answer->rfind("SIP/2.0 200 OK\r\n", 0), 0u) << *answer;
    const auto queued = ua.next_request(2s);
    ASSERT_TRUE(queued.has_value());
    EXPECT_EQ(queued->body, R"({"x":"good"})");
    EXPECT_EQ(screened.load(), 3);
}
