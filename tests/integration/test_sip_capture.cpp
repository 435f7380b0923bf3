// The SIP binding on the wire: a sip_server and a user_agent exchange MESSAGE, PUBLISH (TCP,
// large body), SUBSCRIBE and NOTIFY while tshark captures the loopback interface; tshark's SIP
// dissector must then find every message well-formed (no _ws.malformed). A Digest AKAv1-MD5
// registration with the IMS core is captured too: tshark must show the challenge's and the
// answer's parameters (algorithm, nonce = RAND||AUTN, qop, response).
#include <imsp2p/sip/sip_server.hpp>
#include <imsp2p/sip/user_agent.hpp>

#include <imsp2p/pana/hss.hpp>
#include <imsp2p/pana/usim.hpp>
#include <imsp2p/sip/aka_credentials.hpp>
#include <imsp2p/sip/ims_core.hpp>

#include "../sip/sip_test_support.hpp"
#include "imsp2p_test/temporary_directory.hpp"

#include <gtest/gtest.h>

#include <cstdio>
#include <memory>
#include <string>

namespace sip = imsp2p::sip;
using namespace std::chrono_literals;

namespace {

std::string run_command(const std::string& command) {
    std::string output;
    std::unique_ptr<FILE, int (*)(FILE*)> pipe(::popen(command.c_str(), "r"), ::pclose);
    if (!pipe) {
        return output;
    }
    char buffer[4096];
    while (std::fgets(buffer, sizeof buffer, pipe.get()) != nullptr) {
        output += buffer;
    }
    return output;
}

/** Waits until tshark (writing @p log) captures; false if it cannot. */
bool start_capture(const std::string& log) {
    const auto ready_deadline = std::chrono::steady_clock::now() + 10s;
    while (imsp2p_test::file_text(log).find("Capturing on") == std::string::npos &&
           std::chrono::steady_clock::now() < ready_deadline) {
        std::this_thread::sleep_for(50ms);
    }
    if (imsp2p_test::file_text(log).find("Capturing on") == std::string::npos) {
        return false;
    }
    std::this_thread::sleep_for(300ms);
    return true;
}

/** @return @p text without double quotes (tshark keeps the quotes of quoted values). */
std::string without_quotes(std::string text) {
    std::erase(text, '"');
    return text;
}

std::size_t count_lines(const std::string& text) {
    std::size_t lines = 0;
    for (const char c : text) {
        lines += c == '\n' ? 1 : 0;
    }
    return lines;
}

}  // namespace

TEST(SipCapture, EveryMessageOnTheWireIsWellFormedForTshark) {
    if (run_command("command -v tshark").empty()) {
        GTEST_SKIP() << "tshark is not installed";
    }
    imsp2p_test::temporary_directory folder;
    const std::string capture = (folder.path() / "sip.pcap").string();
    const std::string tshark_log = (folder.path() / "tshark.log").string();

    std::string ua_contact;
    imsp2p_test::recording_handler handler([&](const sip::incoming_request& request) {
        auto result = imsp2p_test::respond(200, "OK");
        if (request.method == "MESSAGE") {
            sip::outgoing_request ticket;
            ticket.method = "MESSAGE";
            ticket.request_uri = ua_contact;
            ticket.from_uri = "sip:content@as.example";
            ticket.to_uri = request.from_uri;
            ticket.content_type = "application/json";
            ticket.body = R"({"request_id":"cap-1","ticket":"eyJhbGciOiJFZERTQSJ9.e30.sig"})";
            ticket.correlation_id = "ticket";
            result.requests.push_back(ticket);
        } else if (request.method == "PUBLISH") {
            result.response.headers.push_back({"SIP-ETag", "e1"});
            result.response.headers.push_back({"Expires", "3600"});
        } else if (request.method == "SUBSCRIBE") {
            result.response.status = 202;
            result.response.reason = "Accepted";
            result.response.headers.push_back({"Expires", "600"});
        }
        return result;
    });
    sip::sip_server_settings settings;
    settings.listen = {"sip:127.0.0.1:*"};
    sip::sip_server server(handler, settings,
                           imsp2p::core::logger("as", nullptr, imsp2p::core::log_level::warning));
    server.start();
    const auto udp = server.port(sip::transport::udp);
    const auto tcp = server.port(sip::transport::tcp);

    const std::string filter = "port " + std::to_string(udp) + " or port " + std::to_string(tcp);
    imsp2p_test::child_process tshark(
        {"tshark", "-i", "lo", "-f", filter, "-a", "duration:25", "-w", capture}, tshark_log);
    if (!start_capture(tshark_log)) {
        GTEST_SKIP() << "tshark cannot capture on lo as this user: "
                     << imsp2p_test::file_text(tshark_log);
    }

    sip::user_agent_settings ua_settings;
    ua_settings.aor = "sip:alice@ims.example";
    sip::user_agent ua(ua_settings,
                       imsp2p::core::logger("ua", nullptr, imsp2p::core::log_level::warning));
    ua_contact = ua.contact();

    sip::outgoing_request message;
    message.method = "MESSAGE";
    message.request_uri = "sip:content@127.0.0.1:" + std::to_string(udp);
    message.content_type = "application/json";
    message.body = R"({"request_id":"cap-1","doi":"10.1234/abc"})";
    EXPECT_EQ(ua.send(message, 10s).status, 200);
    EXPECT_TRUE(ua.wait_for_message("cap-1", 10s).has_value());

    sip::outgoing_request publish;
    publish.method = "PUBLISH";
    publish.request_uri = "sip:content@127.0.0.1:" + std::to_string(tcp) + ";transport=tcp";
    publish.headers.push_back({"Event", "imsp2p-content"});
    publish.content_type = "application/json";
    publish.body = "{\"torrent\":\"" + std::string(4000, 'A') + "\"}";
    EXPECT_EQ(ua.send(publish, 10s).status, 200);

    sip::outgoing_request subscribe;
    subscribe.method = "SUBSCRIBE";
    subscribe.request_uri = "sip:content@127.0.0.1:" + std::to_string(udp);
    subscribe.headers.push_back({"Event", "imsp2p-catalog"});
    subscribe.headers.push_back({"Expires", "600"});
    EXPECT_EQ(ua.send(subscribe, 10s).status, 202);
    ASSERT_TRUE(handler.wait_outcomes(1, 5s));

    std::this_thread::sleep_for(500ms);
    tshark.signal(SIGINT);
    EXPECT_EQ(tshark.wait(10s), 0) << imsp2p_test::file_text(tshark_log);

    const std::string decode = " -d udp.port==" + std::to_string(udp) +
                               ",sip -d tcp.port==" + std::to_string(tcp) + ",sip ";
    const std::string all =
        run_command("tshark -r " + capture + decode + "-Y sip -T fields -e sip.Method -e " +
                    "sip.Status-Code 2>/dev/null");
    // MESSAGE+200, ticket MESSAGE+200, PUBLISH+200, SUBSCRIBE+202 = 8 SIP messages at least.
    EXPECT_GE(count_lines(all), 8u) << all;
    EXPECT_NE(all.find("PUBLISH"), std::string::npos) << all;
    EXPECT_NE(all.find("SUBSCRIBE"), std::string::npos) << all;
    // No peer refused anything it saw (tshark's SIP dissector is lenient, so this and the
    // transport check below add to the malformed check).
    const std::string refused =
        run_command("tshark -r " + capture + decode + "-Y 'sip.Status-Code >= 300' 2>/dev/null");
    EXPECT_TRUE(refused.empty()) << refused;
    const std::string publish_tcp = run_command(
        "tshark -r " + capture + decode + "-Y 'sip.Method == \"PUBLISH\" && tcp' 2>/dev/null");
    EXPECT_EQ(count_lines(publish_tcp), 1u) << publish_tcp;
    const std::string malformed =
        run_command("tshark -r " + capture + decode + "-Y '_ws.malformed || _ws.expert.severity " +
                    ">= error' 2>/dev/null");
    EXPECT_TRUE(malformed.empty()) << malformed;
}

TEST(SipCapture, AkaRegistrationShowsTheDigestAkaParameters) {
    if (run_command("command -v tshark").empty()) {
        GTEST_SKIP() << "tshark is not installed";
    }
    imsp2p_test::temporary_directory folder;
    const std::string capture = (folder.path() / "register.pcap").string();
    const std::string tshark_log = (folder.path() / "tshark.log").string();
    namespace core = imsp2p::core;
    namespace pana = imsp2p::pana;

    // alice is in the registry (her IMPU) and in the HSS (K, OPc): she registers with AKA.
    pana::aka_key k{};
    pana::aka_key opc{};
    for (std::size_t i = 0; i < k.size(); ++i) {
        k[i] = static_cast<std::uint8_t>(0x40 + i);
        opc[i] = static_cast<std::uint8_t>(0x90 + 3 * i);
    }
    {
        auto registry = sip::subscriber_registry::open(folder.path() / "core.sqlite");
        registry.add(core::impu::parse("sip:alice@ims.example"),
                     core::impi::parse("alice@ims.example"), "unused");
        auto store = pana::subscriber_store::open(folder.path() / "hss.sqlite");
        pana::subscriber_record record;
        record.impi = core::impi::parse("alice@ims.example");
        record.k = k;
        record.opc = opc;
        store.create(record);
    }
    sip::ims_core_settings settings;
    settings.port = 0;
    settings.realm = "ims.example";
    settings.database = folder.path() / "core.sqlite";
    settings.hss_database = folder.path() / "hss.sqlite";
    sip::ims_core ims(settings, core::logger("ims-core", nullptr, core::log_level::off));
    ims.start();
    const std::string port = std::to_string(ims.port());

    imsp2p_test::child_process tshark(
        {"tshark", "-i", "lo", "-f", "udp port " + port, "-a", "duration:20", "-w", capture},
        tshark_log);
    if (!start_capture(tshark_log)) {
        GTEST_SKIP() << "tshark cannot capture on lo as this user: "
                     << imsp2p_test::file_text(tshark_log);
    }

    pana::usim_profile profile;
    profile.impi = core::impi::parse("alice@ims.example");
    profile.k = k;
    profile.opc = opc;
    sip::user_agent_settings ua_settings;
    ua_settings.aor = "sip:alice@ims.example";
    ua_settings.registrar = "sip:127.0.0.1:" + port;
    ua_settings.credentials = std::make_shared<sip::aka_credentials>(pana::usim(profile));
    {
        sip::user_agent ua(ua_settings, core::logger("ua", nullptr, core::log_level::off));
        EXPECT_EQ(ua.register_now(8s).status, 200);
    }
    std::this_thread::sleep_for(500ms);
    tshark.signal(SIGINT);
    EXPECT_EQ(tshark.wait(10s), 0) << imsp2p_test::file_text(tshark_log);
    ims.stop();

    const std::string decode = " -d udp.port==" + port + ",sip ";
    // The 401: WWW-Authenticate with algorithm AKAv1-MD5, qop auth and a nonce that is the
    // base64 of RAND (16) || AUTN (16) = 32 bytes = 44 base64 characters.
    const std::string challenge = without_quotes(run_command(
        "tshark -r " + capture + decode +
        "-Y 'sip.Status-Code == 401' -T fields -E separator='|' -e sip.auth.scheme "
        "-e sip.auth.algorithm -e sip.auth.qop -e sip.auth.realm -e sip.auth.nonce 2>/dev/null"));
    ASSERT_EQ(count_lines(challenge), 1u) << challenge;
    EXPECT_NE(challenge.find("Digest|AKAv1-MD5|"), std::string::npos) << challenge;
    EXPECT_NE(challenge.find("|ims.example|"), std::string::npos) << challenge;
    const std::string nonce = challenge.substr(challenge.rfind('|') + 1);
    EXPECT_EQ(nonce.size(), 44u + 1u) << nonce;  // + the newline
    // The answer: a REGISTER with Authorization carrying the same nonce, the IMPI as username,
    // AKAv1-MD5, nc and cnonce, and a 32-hex-digit response; then 200.
    const std::string answer = without_quotes(run_command(
        "tshark -r " + capture + decode +
        "-Y 'sip.Method == \"REGISTER\" && sip.auth.digest.response' -T fields -E separator='|' "
        "-e sip.auth.username -e sip.auth.algorithm -e sip.auth.nc -e sip.auth.digest.response "
        "-e sip.auth.nonce 2>/dev/null"));
    ASSERT_EQ(count_lines(answer), 1u) << answer;
    EXPECT_EQ(answer.rfind("alice@ims.example|AKAv1-MD5|00000001|", 0), 0u) << answer;
    EXPECT_EQ(answer.substr(answer.rfind('|') + 1), nonce) << answer;
    const std::string ok = run_command("tshark -r " + capture + decode +
                                       "-Y 'sip.Status-Code == 200 && sip.CSeq.method == "
                                       "\"REGISTER\"' 2>/dev/null");
    EXPECT_EQ(count_lines(ok), 1u) << ok;
    const std::string malformed =
        run_command("tshark -r " + capture + decode + "-Y '_ws.malformed || _ws.expert.severity " +
                    ">= error' 2>/dev/null");
    EXPECT_TRUE(malformed.empty()) << malformed;
}
