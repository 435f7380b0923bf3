#include <imsp2p/sip/sip_server.hpp>

#include "sip_test_support.hpp"

#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <string>
#include <thread>

namespace sip = imsp2p::sip;
using imsp2p_test::header_of;
using imsp2p_test::raw_socket;
using imsp2p_test::recording_handler;
using imsp2p_test::respond;
using imsp2p_test::status_of;
using namespace std::chrono_literals;

namespace {

imsp2p::core::logger quiet_log(std::string name) {
    return imsp2p::core::logger(std::move(name), nullptr, imsp2p::core::log_level::warning);
}

sip::sip_server_settings local_settings() {
    sip::sip_server_settings settings;
    settings.listen = {"sip:127.0.0.1:*"};
    settings.poll_interval = 50ms;
    settings.stop_timeout = 3000ms;
    return settings;
}

std::string message_request(std::uint16_t local_port, const std::string& transport,
                            const std::string& call_id, const std::string& body,
                            const std::string& extra = "") {
    return "MESSAGE sip:content@as.example SIP/2.0\r\n"
           "Via: SIP/2.0/" +
           transport + " 127.0.0.1:" + std::to_string(local_port) + ";branch=z9hG4bK" + call_id +
           ";rport\r\n"
           "Max-Forwards: 70\r\n"
           "From: <sip:alice@ims.example>;tag=f1\r\n"
           "To: <sip:content@as.example>\r\n"
           "Call-ID: " +
           call_id +
           "\r\n"
           "CSeq: 7 MESSAGE\r\n"
           "P-Asserted-Identity: <sip:alice@ims.example>\r\n"
           "X-Imsp2p-Test: folded\r\n value\r\n" +
           extra +
           "Content-Type: application/json\r\n"
           "Content-Length: " +
           std::to_string(body.size()) + "\r\n\r\n" + body;
}

}  // namespace

TEST(SipServer, UdpMessageGetsTheHandlersResponseWithReasonHeadersAndTag) {
    recording_handler handler([](const sip::incoming_request&) {
        auto result = respond(202, "Accepted For Delivery");
        result.response.headers.push_back({"X-Result", "ok"});
        result.response.headers.push_back({"Retry-After", "10"});
        return result;
    });
    sip::sip_server server(handler, local_settings(), quiet_log("test.sip"));
    server.start();
    ASSERT_NE(server.port(sip::transport::udp), 0);
    ASSERT_NE(server.port(sip::transport::tcp), 0);

    raw_socket client(SOCK_DGRAM);
    client.send_to(server.port(sip::transport::udp),
                   message_request(client.port(), "UDP", "udp-1", R"({"request_id":"r1"})"));
    const auto response = client.receive(5s);
    ASSERT_TRUE(response.has_value());
    EXPECT_EQ(status_of(*response), 202) << *response;
    EXPECT_NE(response->find("SIP/2.0 202 Accepted For Delivery\r\n"), std::string::npos);
    EXPECT_EQ(header_of(*response, "X-Result"), "ok");
    EXPECT_EQ(header_of(*response, "Retry-After"), "10");
    EXPECT_NE(header_of(*response, "To").find(";tag="), std::string::npos) << *response;
    EXPECT_EQ(header_of(*response, "Call-ID"), "udp-1");

    ASSERT_TRUE(handler.wait_requests(1, 1s));
    const auto request = handler.requests().front();
    EXPECT_EQ(request.method, "MESSAGE");
    EXPECT_EQ(request.request_uri, "sip:content@as.example");
    EXPECT_EQ(request.from_uri, "sip:alice@ims.example");
    EXPECT_EQ(request.from_tag, "f1");
    EXPECT_EQ(request.to_uri, "sip:content@as.example");
    EXPECT_EQ(request.call_id, "udp-1");
    EXPECT_EQ(request.cseq, 7u);
    EXPECT_EQ(request.asserted_identity, "sip:alice@ims.example");
    EXPECT_EQ(request.content_type, "application/json");
    EXPECT_EQ(request.body, R"({"request_id":"r1"})");
    EXPECT_EQ(request.source_address, "127.0.0.1");
    EXPECT_EQ(request.source_port, client.port());
    EXPECT_EQ(request.via_transport, sip::transport::udp);
    EXPECT_EQ(request.header("x-imsp2p-test").value_or(""), "folded value");
    EXPECT_EQ(request.header("Max-Forwards").value_or(""), "70");
    const auto deadline = std::chrono::steady_clock::now() + 2s;
    while (handler.polls() == 0 && std::chrono::steady_clock::now() < deadline) {
        std::this_thread::sleep_for(10ms);
    }
    EXPECT_GT(handler.polls(), 0) << "poll() never ran";
    server.stop();
}

TEST(SipServer, GarbageIsDroppedMissingHeadersGet400AndTheServerKeepsAnswering) {
    recording_handler handler([](const sip::incoming_request&) { return respond(200, "OK"); });
    sip::sip_server server(handler, local_settings(), quiet_log("test.sip"));
    server.start();
    const auto port = server.port(sip::transport::udp);

    raw_socket client(SOCK_DGRAM);
    std::string garbage;
    for (int i = 0; i < 600; ++i) {
        garbage += static_cast<char>((i * 131 + 7) % 256);
    }
    client.send_to(port, garbage);
    client.send_to(port, "\r\n\r\n");
    client.send_to(port, "NOT SIP AT ALL\r\n\r\n");
    EXPECT_FALSE(client.receive(300ms).has_value());

    // A request without CSeq: answered 400 by the stack, never seen by the handler.
    std::string no_cseq = message_request(client.port(), "UDP", "bad-1", "x");
    const auto at = no_cseq.find("CSeq: 7 MESSAGE\r\n");
    no_cseq.erase(at, std::string("CSeq: 7 MESSAGE\r\n").size());
    client.send_to(port, no_cseq);
    const auto bad = client.receive(2s);
    ASSERT_TRUE(bad.has_value());
    EXPECT_EQ(status_of(*bad), 400) << *bad;
    // A request with a Content-Length beyond the datagram: 400, never handled.
    std::string short_body = message_request(client.port(), "UDP", "bad-2", "abc");
    short_body.replace(short_body.find("Content-Length: 3"), 17, "Content-Length: 99");
    client.send_to(port, short_body);
    const auto truncated = client.receive(2s);
    ASSERT_TRUE(truncated.has_value());
    EXPECT_EQ(status_of(*truncated), 400) << *truncated;

    client.send_to(port, message_request(client.port(), "UDP", "good-1", "{}"));
    const auto good = client.receive(5s);
    ASSERT_TRUE(good.has_value());
    EXPECT_EQ(status_of(*good), 200) << *good;
    ASSERT_TRUE(handler.wait_requests(1, 1s));
    for (const auto& request : handler.requests()) {
        EXPECT_EQ(request.call_id, "good-1");
    }
}

TEST(SipServer, MissingCallIdIsRefusedWith400) {
    recording_handler handler([](const sip::incoming_request&) { return respond(200, "OK"); });
    sip::sip_server server(handler, local_settings(), quiet_log("test.sip"));
    server.start();
    raw_socket client(SOCK_DGRAM);
    std::string request = message_request(client.port(), "UDP", "x", "{}");
    request.erase(request.find("Call-ID: x\r\n"), 12);
    client.send_to(server.port(sip::transport::udp), request);
    const auto reply = client.receive(2s);
    ASSERT_TRUE(reply.has_value()) << "no answer to a request without Call-ID";
    EXPECT_EQ(status_of(*reply), 400) << *reply;
    EXPECT_TRUE(handler.requests().empty());
}

TEST(SipServer, UnsupportedMethodsGet405WithAllow) {
    recording_handler handler([](const sip::incoming_request&) { return respond(200, "OK"); });
    sip::sip_server server(handler, local_settings(), quiet_log("test.sip"));
    server.start();
    raw_socket client(SOCK_DGRAM);
    std::string request = message_request(client.port(), "UDP", "inv-1", "");
    request.replace(0, 7, "REFER");
    request.replace(request.find("CSeq: 7 MESSAGE"), 15, "CSeq: 7 REFER");
    client.send_to(server.port(sip::transport::udp), request);
    const auto reply = client.receive(2s);
    ASSERT_TRUE(reply.has_value());
    EXPECT_EQ(status_of(*reply), 405) << *reply;
    EXPECT_NE(header_of(*reply, "Allow").find("MESSAGE"), std::string::npos);
    EXPECT_TRUE(handler.requests().empty());
}

TEST(SipServer, TcpRequestWithALargeBodyAndAResponseBody) {
    recording_handler handler([](const sip::incoming_request& request) {
        auto result = respond(200, "OK");
        result.response.content_type = "text/plain";
        result.response.body = "length=" + std::to_string(request.body.size());
        return result;
    });
    sip::sip_server server(handler, local_settings(), quiet_log("test.sip"));
    server.start();
    raw_socket client(SOCK_STREAM);
    client.connect(server.port(sip::transport::tcp));
    const std::string body = "{\"blob\":\"" + std::string(3000, 'q') + "\"}";
    std::string request = message_request(client.port(), "TCP", "tcp-1", body);
    request.replace(0, 7, "PUBLISH");
    request.replace(request.find("CSeq: 7 MESSAGE"), 15, "CSeq: 7 PUBLISH");
    client.send(request);
    const auto reply = client.receive_message(5s);
    ASSERT_TRUE(reply.has_value());
    EXPECT_EQ(status_of(*reply), 200) << *reply;
    EXPECT_NE(reply->find("length=" + std::to_string(body.size())), std::string::npos);
    ASSERT_TRUE(handler.wait_requests(1, 1s));
    EXPECT_EQ(handler.requests().front().via_transport, sip::transport::tcp);
    EXPECT_EQ(handler.requests().front().body, body);
    EXPECT_EQ(handler.requests().front().method, "PUBLISH");
}

TEST(SipServer, HandlerRequestsReachASecondStackThroughTheRouteAndOutcomesReturn) {
    recording_handler peer_handler([](const sip::incoming_request& request) {
        return request.body.size() > 2000 ? respond(200, "OK Big") : respond(486, "Busy Here");
    });
    sip::sip_server peer(peer_handler, local_settings(), quiet_log("test.peer"));
    peer.start();
    const auto peer_udp = peer.port(sip::transport::udp);
    const auto peer_tcp = peer.port(sip::transport::tcp);

    recording_handler handler([&](const sip::incoming_request&) {
        auto result = respond(200, "OK");
        sip::outgoing_request small;
        small.method = "MESSAGE";
        small.request_uri = "sip:alice@ims.example";
        small.from_uri = "sip:content@as.example";
        small.to_uri = "sip:alice@ims.example";
        small.route = {"sip:127.0.0.1:" + std::to_string(peer_udp) + ";lr"};
        small.content_type = "application/json";
        small.body = R"({"request_id":"r1"})";
        small.correlation_id = "small";
        result.requests.push_back(small);
        sip::outgoing_request big = small;
        big.route = {"<sip:127.0.0.1:" + std::to_string(peer_tcp) + ";transport=tcp;lr>"};
        big.body = "{\"x\":\"" + std::string(4000, 'b') + "\"}";
        big.correlation_id = "big";
        result.requests.push_back(big);
        return result;
    });
    sip::sip_server server(handler, local_settings(), quiet_log("test.sip"));
    server.start();

    raw_socket client(SOCK_DGRAM);
    client.send_to(server.port(sip::transport::udp),
                   message_request(client.port(), "UDP", "route-1", "{}"));
    const auto reply = client.receive(5s);
    ASSERT_TRUE(reply.has_value());
    EXPECT_EQ(status_of(*reply), 200);

    ASSERT_TRUE(peer_handler.wait_requests(2, 5s));
    ASSERT_TRUE(handler.wait_outcomes(2, 5s));
    bool saw_small = false;
    bool saw_big = false;
    for (const auto& outcome : handler.outcomes()) {
        if (outcome.correlation_id == "small") {
            saw_small = true;
            EXPECT_EQ(outcome.status, 486);
            EXPECT_EQ(outcome.reason, "Busy Here");
        } else if (outcome.correlation_id == "big") {
            saw_big = true;
            EXPECT_EQ(outcome.status, 200);
            EXPECT_EQ(outcome.reason, "OK Big");
        }
    }
    EXPECT_TRUE(saw_small);
    EXPECT_TRUE(saw_big);
    for (const auto& received : peer_handler.requests()) {
        EXPECT_EQ(received.request_uri, "sip:alice@ims.example");
        EXPECT_EQ(received.from_uri, "sip:content@as.example");
        EXPECT_FALSE(received.from_tag.empty());
        EXPECT_EQ(received.header("Route").value_or("").find("sip:127.0.0.1"), 1u);
        EXPECT_EQ(received.via_transport,
                  received.body.size() > 2000 ? sip::transport::tcp : sip::transport::udp);
    }
}

TEST(SipServer, UnreachableDestinationReportsAFailureOutcome) {
    recording_handler handler([](const sip::incoming_request&) { return respond(200, "OK"); });
    auto settings = local_settings();
    sip::sip_server server(handler, settings, quiet_log("test.sip"));
    server.start();
    // A TCP port nobody listens on: the connection is refused at once.
    std::uint16_t closed_port = 0;
    {
        raw_socket probe(SOCK_STREAM);
        closed_port = probe.port();
    }
    sip::outgoing_request request;
    request.method = "MESSAGE";
    request.request_uri = "sip:bob@127.0.0.1:" + std::to_string(closed_port) + ";transport=tcp";
    request.from_uri = "sip:content@as.example";
    request.body = "hello";
    request.content_type = "text/plain";
    request.correlation_id = "nowhere";
    server.send(request);
    ASSERT_TRUE(handler.wait_outcomes(1, 10s));
    EXPECT_EQ(handler.outcomes().front().correlation_id, "nowhere");
    EXPECT_GE(handler.outcomes().front().status, 400);
}

TEST(SipServer, StopFinishesInFlightRequestsAndThenRefusesNewOnes) {
    std::atomic<int> calls{0};
    recording_handler handler([&](const sip::incoming_request&) {
        ++calls;
        std::this_thread::sleep_for(300ms);
        return respond(200, "Done");
    });
    sip::sip_server server(handler, local_settings(), quiet_log("test.sip"));
    server.start();
    raw_socket client(SOCK_DGRAM);
    client.send_to(server.port(sip::transport::udp),
                   message_request(client.port(), "UDP", "slow-1", "{}"));
    ASSERT_TRUE(handler.wait_requests(1, 2s));
    server.stop();
    const auto reply = client.receive(2s);
    ASSERT_TRUE(reply.has_value());
    EXPECT_EQ(status_of(*reply), 200);
    EXPECT_NE(reply->find("200 Done"), std::string::npos);
    EXPECT_EQ(calls.load(), 1);
}

TEST(SipServer, HandlerExceptionsBecome500) {
    recording_handler handler(
        [](const sip::incoming_request&) -> sip::handled { throw std::runtime_error("boom"); });
    sip::sip_server server(handler, local_settings(), quiet_log("test.sip"));
    server.start();
    raw_socket client(SOCK_DGRAM);
    client.send_to(server.port(sip::transport::udp),
                   message_request(client.port(), "UDP", "boom-1", "{}"));
    const auto reply = client.receive(5s);
    ASSERT_TRUE(reply.has_value());
    EXPECT_EQ(status_of(*reply), 500);
}

TEST(SipServer, BindingAnOccupiedPortFails) {
    recording_handler handler([](const sip::incoming_request&) { return respond(200, "OK"); });
    sip::sip_server first(handler, local_settings(), quiet_log("test.sip"));
    first.start();
    auto settings = local_settings();
    settings.listen = {"sip:127.0.0.1:" + std::to_string(first.port(sip::transport::udp)) +
                       ";transport=udp"};
    sip::sip_server second(handler, settings, quiet_log("test.sip"));
    EXPECT_THROW(second.start(), std::system_error);
}

TEST(SipServer, RequestsWithoutARouteGoThroughTheOutboundProxy) {
    recording_handler proxy_handler(
        [](const sip::incoming_request&) { return respond(202, "Proxied"); });
    sip::sip_server proxy(proxy_handler, local_settings(), quiet_log("test.proxy"));
    proxy.start();

    recording_handler handler([](const sip::incoming_request&) { return respond(200, "OK"); });
    auto settings = local_settings();
    settings.outbound_proxy =
        "sip:127.0.0.1:" + std::to_string(proxy.port(sip::transport::udp)) + ";lr";
    sip::sip_server server(handler, settings, quiet_log("test.sip"));
    server.start();

    sip::outgoing_request request;
    request.method = "MESSAGE";
    request.request_uri = "sip:bob@ims.example.invalid";  // resolvable only by the proxy
    request.from_uri = "sip:content@as.example";
    request.content_type = "text/plain";
    request.body = "via the proxy";
    request.correlation_id = "proxied";
    server.send(request);
    ASSERT_TRUE(proxy_handler.wait_requests(1, 5s));
    EXPECT_EQ(proxy_handler.requests().front().request_uri, "sip:bob@ims.example.invalid");
    EXPECT_EQ(proxy_handler.requests().front().body, "via the proxy");
    ASSERT_TRUE(handler.wait_outcomes(1, 5s));
    EXPECT_EQ(handler.outcomes().front().status, 202);
    EXPECT_EQ(handler.outcomes().front().reason, "Proxied");
}
