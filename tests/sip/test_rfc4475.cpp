#include <imsp2p/sip/sip_server.hpp>

#include "sip_test_support.hpp"

#include <gtest/gtest.h>

#include <chrono>
#include <optional>
#include <string>
#include <vector>

// RFC 4475 torture messages (tests/sip/rfc4475/*.sip, sections 3.1.1 valid and 3.1.2 invalid)
// sent as raw UDP datagrams to a real sip_server. The server must never crash, valid
// MESSAGE/OPTIONS requests reach the handler or get a response, other valid requests get some
// final response or are dropped, invalid ones get a 4xx or are dropped, responses sent to it are
// dropped, and a normal request afterwards is still answered.

namespace sip = imsp2p::sip;
using imsp2p_test::file_text;
using imsp2p_test::raw_socket;
using imsp2p_test::recording_handler;
using imsp2p_test::respond;
using imsp2p_test::status_of;
using namespace std::chrono_literals;

namespace {

enum class expect {
    handled,   // valid MESSAGE/OPTIONS: reaches the handler or gets a final response
    answered,  // valid request of another method: any final response, or dropped
    invalid,   // invalid request: a 4xx, or dropped
    version,   // unsupported SIP version: 505, a 4xx, or dropped
    lenient,   // invalid, but RFC 4475 lets a parser be liberal: a 4xx, dropped, or handled
    response,  // a response nobody asked for: dropped, no answer
};

struct torture_case {
    const char* name;
    expect expected;
    const char* call_id;  // what the handler would see, "" if no Call-ID check
};

const std::vector<torture_case>& cases() {
    static const std::vector<torture_case> all{
        // 3.1.1 valid
        {"wsinv", expect::answered, ""},
        {"intmeth", expect::answered, ""},
        {"esc01", expect::answered, ""},
        {"lwsdisp", expect::handled, "lwsdisp.1234abcd@funky.example.com"},
        {"longreq", expect::answered, ""},
        {"dblreq", expect::answered, ""},
        {"semiuri", expect::handled, "semiuri.0ha0isndaksdj"},
        {"transports", expect::handled, "transports.kijh4akdnaqjkwendsasfdj"},
        {"mpart01", expect::handled, "mpart01.1-284@192.0.2.1"},
        {"unreason", expect::response, ""},
        {"noreason", expect::response, ""},
        // 3.1.2 invalid
        {"badinv01", expect::invalid, ""},
        {"clerr", expect::invalid, ""},
        {"scalar02", expect::invalid, ""},
        {"quotbal", expect::invalid, ""},
        {"ltgtruri", expect::invalid, ""},
        {"lwsruri", expect::invalid, ""},
        {"lwsstart", expect::invalid, ""},
        {"trws", expect::lenient, "trws.oicu34958239neffasdhr2345"},
        {"bigcode", expect::response, ""},
        {"badaspec", expect::lenient, "badaspec.sdf0234n2nds0a099u23h3hnnw009cdkne3"},
        {"baddate", expect::invalid, ""},
        {"regaux", expect::invalid, ""},
        {"badvers", expect::version, ""},
        {"mismatch01", expect::invalid, ""},
        {"insuf", expect::invalid, ""},
    };
    return all;
}

imsp2p::core::logger quiet_log(std::string name) {
    return imsp2p::core::logger(std::move(name), nullptr, imsp2p::core::log_level::error);
}

void replace_all(std::string& text, const std::string& from, const std::string& to) {
    for (auto at = text.find(from); at != std::string::npos; at = text.find(from, at + to.size())) {
        text.replace(at, from.size(), to);
    }
}

/** The datagram of one case: CRLF line ends, {via} and {len} filled in. */
std::string datagram(const std::string& name, std::uint16_t local_port) {
    const std::string text =
        file_text(std::string(IMSP2P_SOURCE_DIR) + "/tests/sip/rfc4475/" + name + ".sip");
    if (text.empty()) {
        throw std::runtime_error("missing torture message " + name);
    }
    std::string message;
    for (const char c : text) {
        if (c == '\n') {
            message += "\r\n";
        } else {
            message += c;
        }
    }
    replace_all(message, "{via}", "127.0.0.1:" + std::to_string(local_port));
    const auto body = message.find("\r\n\r\n");
    const auto length = body == std::string::npos ? 0 : message.size() - (body + 4);
    replace_all(message, "{len}", std::to_string(length));
    return message;
}

/** The first final (>= 200) response on the socket, skipping 1xx; nullopt on timeout. */
std::optional<std::string> final_response(raw_socket& socket, std::chrono::milliseconds timeout) {
    const auto deadline = std::chrono::steady_clock::now() + timeout;
    while (std::chrono::steady_clock::now() < deadline) {
        const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
            deadline - std::chrono::steady_clock::now());
        auto response = socket.receive(left);
        if (!response) {
            return std::nullopt;
        }
        if (status_of(*response) >= 200 || status_of(*response) == 0) {
            return response;
        }
    }
    return std::nullopt;
}

bool handler_saw(recording_handler& handler, const std::string& call_id) {
    for (const auto& request : handler.requests()) {
        if (request.call_id == call_id) {
            return true;
        }
    }
    return false;
}

sip::sip_server_settings local_settings() {
    sip::sip_server_settings settings;
    settings.listen = {"sip:127.0.0.1:*"};
    settings.poll_interval = 200ms;
    settings.stop_timeout = 3000ms;
    return settings;
}

}  // namespace

TEST(Rfc4475, TortureMessagesNeverBreakTheServerAndANormalRequestIsStillAnswered) {
    recording_handler handler([](const sip::incoming_request&) { return respond(200, "OK"); });
    sip::sip_server server(handler, local_settings(), quiet_log("test.rfc4475"));
    server.start();
    const auto port = server.port(sip::transport::udp);
    ASSERT_NE(port, 0);

    for (const auto& item : cases()) {
        SCOPED_TRACE(item.name);
        raw_socket client(SOCK_DGRAM);
        client.send_to(port, datagram(item.name, client.port()));
        switch (item.expected) {
            case expect::handled: {
                const auto response = final_response(client, 5s);
                if (response) {
                    EXPECT_GE(status_of(*response), 200) << *response;
                } else {
                    EXPECT_TRUE(handler_saw(handler, item.call_id))
                        << "neither handled nor answered";
                }
                if (response && status_of(*response) == 200) {
                    EXPECT_TRUE(handler_saw(handler, item.call_id));
                }
                break;
            }
            case expect::answered: {
                const auto response = final_response(client, 1500ms);
                if (response) {
                    EXPECT_GE(status_of(*response), 200) << *response;
                    EXPECT_LT(status_of(*response), 700) << *response;
                }
                break;
            }
            case expect::invalid: {
                const auto response = final_response(client, 1000ms);
                if (response) {
                    EXPECT_GE(status_of(*response), 400) << *response;
                    EXPECT_LT(status_of(*response), 500) << *response;
                }
                break;
            }
            case expect::version: {
                const auto response = final_response(client, 1000ms);
                if (response) {
                    const int status = status_of(*response);
                    EXPECT_TRUE(status == 505 || (status >= 400 && status < 500)) << *response;
                }
                break;
            }
            case expect::lenient: {
                const auto response = final_response(client, 1000ms);
                if (response && status_of(*response) == 200) {
                    EXPECT_TRUE(handler_saw(handler, item.call_id)) << *response;
                } else if (response) {
                    EXPECT_GE(status_of(*response), 400) << *response;
                    EXPECT_LT(status_of(*response), 500) << *response;
                }
                break;
            }
            case expect::response: {
                const auto response = final_response(client, 500ms);
                EXPECT_FALSE(response.has_value()) << *response;
                break;
            }
        }
    }

    // The server still answers a normal request.
    raw_socket client(SOCK_DGRAM);
    const std::string normal =
        "MESSAGE sip:content@as.example SIP/2.0\r\n"
        "Via: SIP/2.0/UDP 127.0.0.1:" +
        std::to_string(client.port()) +
        ";branch=z9hG4bKafter;rport\r\n"
        "Max-Forwards: 70\r\n"
        "From: <sip:alice@ims.example>;tag=a1\r\n"
        "To: <sip:content@as.example>\r\n"
        "Call-ID: rfc4475-after\r\n"
        "CSeq: 1 MESSAGE\r\n"
        "Content-Type: text/plain\r\n"
        "Content-Length: 5\r\n\r\nhello";
    client.send_to(port, normal);
    const auto response = final_response(client, 5s);
    ASSERT_TRUE(response.has_value());
    EXPECT_EQ(status_of(*response), 200) << *response;
    EXPECT_TRUE(handler_saw(handler, "rfc4475-after"));
    server.stop();
}
