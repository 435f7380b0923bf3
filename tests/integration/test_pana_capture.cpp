// PANA on the wire, checked by an independent implementation: a PaC and a PAA run EAP-TLS
// through PANA (authentication, ping both ways, PaC- and PAA-initiated re-authentication,
// termination, one lost datagram), every datagram is written to a pcap file with IPv4/UDP
// headers (port 716), and tshark must decode every packet as PANA, every EAP-Payload as EAP
// (TLS inside), and report nothing malformed and no expert error.

#include <imsp2p/pana/eap_tls.hpp>
#include <imsp2p/pana/pana_session.hpp>

#include "imsp2p_test/pana_fixtures.hpp"
#include "imsp2p_test/temporary_directory.hpp"

#include <gtest/gtest.h>

#include <algorithm>
#include <cstdio>
#include <fstream>
#include <functional>
#include <memory>
#include <sstream>
#include <string>
#include <utility>
#include <vector>

namespace pana = imsp2p::pana;
using imsp2p::core::byte_vector;
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

std::size_t count_lines(const std::string& text) {
    std::size_t lines = 0;
    for (char c : text) {
        lines += c == '\n' ? 1 : 0;
    }
    return lines;
}

// A classic libpcap file (LINKTYPE_RAW: each record is an IPv4 packet).
class pcap_writer {
  public:
    explicit pcap_writer(const std::string& path) : out_(path, std::ios::binary) {
        put32(0xA1B2C3D4);
        put16(2);
        put16(4);
        put32(0);
        put32(0);
        put32(65535);
        put32(101);  // LINKTYPE_RAW
    }

    void add(bool from_pac, const byte_vector& payload) {
        const std::uint32_t pac = 0x0A000002;  // 10.0.0.2
        const std::uint32_t paa = 0x0A000001;  // 10.0.0.1
        byte_vector packet;
        const std::size_t total = 20 + 8 + payload.size();
        const auto push16 = [&](std::uint32_t v) {
            packet.push_back(static_cast<std::uint8_t>(v >> 8));
            packet.push_back(static_cast<std::uint8_t>(v));
        };
        const auto push32 = [&](std::uint32_t v) {
            push16(v >> 16);
            push16(v & 0xFFFF);
        };
        push16(0x4500);
        push16(static_cast<std::uint32_t>(total));
        push16(++ip_id_);
        push16(0x4000);  // don't fragment
        push16(0x4011);  // TTL 64, UDP
        push16(0);       // checksum, below
        push32(from_pac ? pac : paa);
        push32(from_pac ? paa : pac);
        std::uint32_t sum = 0;
        for (std::size_t i = 0; i < 20; i += 2) {
            sum += static_cast<std::uint32_t>((packet[i] << 8) | packet[i + 1]);
        }
        while (sum > 0xFFFF) {
            sum = (sum & 0xFFFF) + (sum >> 16);
        }
        packet[10] = static_cast<std::uint8_t>(~sum >> 8);
        packet[11] = static_cast<std::uint8_t>(~sum);
        push16(716);
        push16(716);
        push16(static_cast<std::uint32_t>(8 + payload.size()));
        push16(0);  // no UDP checksum (allowed on IPv4)
        packet.insert(packet.end(), payload.begin(), payload.end());
        ++seconds_;
        put32(seconds_);
        put32(0);
        put32(static_cast<std::uint32_t>(packet.size()));
        put32(static_cast<std::uint32_t>(packet.size()));
        out_.write(reinterpret_cast<const char*>(packet.data()),
                   static_cast<std::streamsize>(packet.size()));
    }

    /** Flushes the file. @return true when every write succeeded */
    bool flush() {
        out_.flush();
        return out_.good();
    }

  private:
    void put16(std::uint16_t v) { out_.write(reinterpret_cast<const char*>(&v), 2); }
    void put32(std::uint32_t v) { out_.write(reinterpret_cast<const char*>(&v), 4); }
    std::ofstream out_;
    std::uint32_t ip_id_ = 0;
    std::uint32_t seconds_ = 1700000000;
};

}  // namespace

TEST(PanaCapture, TsharkDecodesEveryPanaAndEapPacket) {
    if (run_command("command -v tshark").empty()) {
        GTEST_SKIP() << "tshark is not installed";
    }
    const imsp2p_test::eap_tls_parties parties("alice@ims.example");
    const auto server_context =
        pana::eap_tls_context::create(parties.server_settings(), pana::eap_tls_role::server);
    const auto client_context =
        pana::eap_tls_context::create(parties.client_settings(), pana::eap_tls_role::client);
    const std::string identity = "alice@ims.example";

    pana::pana_paa_settings paa_settings;
    paa_settings.timers.jitter = false;
    pana::pana_pac_settings pac_settings;
    pac_settings.timers.jitter = false;
    pana::pana_paa_session paa(
        0x0D0E0F10, [&] { return std::make_unique<pana::eap_tls_authenticator>(server_context); },
        paa_settings);
    pana::pana_pac_session pac(std::make_unique<pana::eap_tls_peer>(client_context, identity),
                               pac_settings);

    imsp2p_test::temporary_directory folder("imsp2p-pana-capture");
    const std::string capture = (folder.path() / "pana.pcap").string();
    pcap_writer pcap(capture);
    std::size_t packets = 0;
    std::size_t with_eap = 0;
    bool dropped_one = false;
    auto now = pana::pana_clock::time_point{};
    const auto exchange = [&](const std::function<bool()>& done) {
        for (int step = 0; step < 500 && !done(); ++step) {
            auto from_pac = pac.take_datagrams();
            auto from_paa = paa.take_datagrams();
            if (from_pac.empty() && from_paa.empty()) {
                auto a = paa.next_deadline();
                auto b = pac.next_deadline();
                if (!a && !b) {
                    return;
                }
                const auto next = !a ? *b : (!b ? *a : std::min(*a, *b));
                if (next - now > 120s) {
                    return;  // only the session lifetime is left
                }
                now = next;
                paa.on_timer(now);
                pac.on_timer(now);
                continue;
            }
            for (const auto& [datagrams, to_paa] :
                 {std::pair{&from_pac, true}, std::pair{&from_paa, false}}) {
                for (const byte_vector& d : *datagrams) {
                    pcap.add(to_paa, d);
                    ++packets;
                    std::error_code ec;
                    const auto m = pana::parse_pana_message(d, ec);
                    ASSERT_TRUE(m) << ec.message();
                    with_eap += m->find(pana::pana_avp_code::eap_payload) != nullptr ? 1 : 0;
                    if (!dropped_one && !to_paa && packets > 6) {
                        dropped_one = true;  // lost on the way: retransmitted later
                        continue;
                    }
                    if (to_paa) {
                        paa.on_datagram(d, now);
                    } else {
                        pac.on_datagram(d, now);
                    }
                }
            }
        }
    };
    pac.start(now);
    exchange([&] {
        return paa.state() == pana::pana_session_state::open &&
               pac.state() == pana::pana_session_state::open;
    });
    ASSERT_EQ(pac.state(), pana::pana_session_state::open) << pac.error().message();
    ASSERT_EQ(paa.state(), pana::pana_session_state::open) << paa.error().message();
    EXPECT_EQ(pac.info().msk, paa.info().msk);
    EXPECT_EQ(pac.info().msk.size(), 64u);
    EXPECT_TRUE(dropped_one);

    pac.ping(now);
    exchange([&] { return false; });
    paa.ping(now);
    exchange([&] { return false; });
    pac.reauthenticate(std::make_unique<pana::eap_tls_peer>(client_context, identity), now);
    exchange([&] { return paa.info().authentications == 2 && pac.info().authentications == 2; });
    EXPECT_EQ(pac.info().authentications, 2u)
        << static_cast<int>(pac.state()) << " " << static_cast<int>(paa.state()) << " "
        << pac.error().message() << " / " << paa.error().message() << " pac unexpected "
        << pac.stats().unexpected << " bad_auth " << pac.stats().bad_auth << " paa unexpected "
        << paa.stats().unexpected << " bad_auth " << paa.stats().bad_auth;
    pac.terminate(pana::pana_termination_cause::logout, now);
    exchange([&] { return pac.state() == pana::pana_session_state::closed; });
    EXPECT_EQ(pac.state(), pana::pana_session_state::closed);
    EXPECT_EQ(paa.state(), pana::pana_session_state::closed);
    ASSERT_TRUE(pcap.flush());

    const std::string decode = " -d udp.port==716,pana ";
    const std::string all = run_command("tshark -r " + capture + " 2>/dev/null");
    EXPECT_EQ(count_lines(all), packets) << all;
    const std::string as_pana = run_command("tshark -r " + capture + decode +
                                            "-Y pana -T fields -e frame.number 2>/dev/null");
    EXPECT_EQ(count_lines(as_pana), packets) << as_pana;
    const std::string as_eap = run_command("tshark -r " + capture + decode +
                                           "-Y eap -T fields -e frame.number 2>/dev/null");
    EXPECT_EQ(count_lines(as_eap), with_eap) << as_eap;
    const std::string tls = run_command("tshark -r " + capture + decode +
                                        "-Y tls.handshake.type -T fields -e frame.number "
                                        "2>/dev/null");
    EXPECT_GE(count_lines(tls), 2u) << "EAP-TLS handshake not decoded inside PANA";
    const std::string malformed =
        run_command("tshark -r " + capture + decode +
                    "-Y '_ws.malformed || _ws.expert.severity >= error' 2>/dev/null");
    EXPECT_TRUE(malformed.empty()) << malformed;
    const std::string verbose = run_command("tshark -r " + capture + decode + "-V 2>/dev/null");
    EXPECT_EQ(verbose.find("Malformed"), std::string::npos);
    EXPECT_EQ(verbose.find("Expert Info (Error"), std::string::npos);
}
