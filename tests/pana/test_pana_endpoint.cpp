#include <imsp2p/pana/pana_endpoint.hpp>

#include <imsp2p/pana/error.hpp>

#include "imsp2p_test/pana_identity_eap.hpp"

#include <gtest/gtest.h>

#include <chrono>
#include <condition_variable>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

namespace pana = imsp2p::pana;
using namespace std::chrono_literals;

namespace {

struct recorded {
    std::mutex mutex;
    std::condition_variable changed;
    std::vector<pana::pana_authenticated_session> sessions;
    std::thread::id thread;

    pana::pana_paa_server::authenticated_handler handler() {
        return [this](const pana::pana_authenticated_session& s) {
            std::lock_guard lock(mutex);
            sessions.push_back(s);
            thread = std::this_thread::get_id();
            changed.notify_all();
        };
    }
    std::size_t wait_for(std::size_t count) {
        std::unique_lock lock(mutex);
        changed.wait_for(lock, 10s, [&] { return sessions.size() >= count; });
        return sessions.size();
    }
};

std::unique_ptr<pana::pana_paa_server> start_server(const std::string& address, recorded& r) {
    pana::pana_paa_server_settings settings;
    settings.address = address;
    settings.port = 0;
    std::error_code ec;
    auto server = pana::pana_paa_server::start(
        settings, [] { return std::make_unique<imsp2p_test::identity_authenticator>(); },
        r.handler(), ec);
    EXPECT_FALSE(ec) << ec.message();
    return server;
}

void full_run(const std::string& address) {
    recorded r;
    auto server = start_server(address, r);
    ASSERT_TRUE(server);
    ASSERT_NE(server->port(), 0);
    pana::pana_client client;
    std::error_code ec;
    const pana::pana_session_info info = client.authenticate(
        address, server->port(), std::make_unique<imsp2p_test::identity_peer>("alice@ims.example"),
        10s, ec);
    ASSERT_FALSE(ec) << ec.message();
    EXPECT_EQ(client.state(), pana::pana_session_state::open);
    EXPECT_EQ(info.msk, imsp2p_test::test_msk("alice@ims.example"));
    ASSERT_EQ(r.wait_for(1), 1u);
    {
        std::lock_guard lock(r.mutex);
        const auto& reported = r.sessions[0];
        EXPECT_EQ(reported.info.msk, info.msk);
        EXPECT_EQ(reported.info.session_id, info.session_id);
        EXPECT_EQ(reported.info.key_id, info.key_id);
        EXPECT_EQ(reported.info.peer_identity, "alice@ims.example");
        EXPECT_EQ(reported.pac_address, address);
        EXPECT_NE(reported.pac_port, 0);
        EXPECT_NE(r.thread, std::this_thread::get_id());  // the server's own thread
    }
    EXPECT_EQ(server->session_count(), 1u);

    client.ping(5s, ec);
    EXPECT_FALSE(ec) << ec.message();
    const pana::pana_session_info again = client.reauthenticate(
        std::make_unique<imsp2p_test::identity_peer>("alice@ims.example"), 10s, ec);
    ASSERT_FALSE(ec) << ec.message();
    EXPECT_EQ(again.key_id, info.key_id + 1);
    EXPECT_EQ(r.wait_for(2), 2u);
    EXPECT_EQ(server->authentication_count(), 2u);

    client.terminate(5s, ec);
    EXPECT_FALSE(ec) << ec.message();
    EXPECT_EQ(client.state(), pana::pana_session_state::closed);
    EXPECT_EQ(client.stats().bad_auth, 0u);
}

}  // namespace

TEST(PanaEndpoint, FullRunOverIpv4Loopback) {
    full_run("127.0.0.1");
}

TEST(PanaEndpoint, FullRunOverIpv6Loopback) {
    full_run("::1");
}

TEST(PanaEndpoint, ManyClientsAtOnce) {
    recorded r;
    auto server = start_server("127.0.0.1", r);
    ASSERT_TRUE(server);
    std::vector<std::thread> threads;
    std::vector<std::error_code> errors(8);
    for (std::size_t i = 0; i < errors.size(); ++i) {
        threads.emplace_back([&, i] {
            pana::pana_client client;
            client.authenticate(
                "127.0.0.1", server->port(),
                std::make_unique<imsp2p_test::identity_peer>("user" + std::to_string(i)), 10s,
                errors[i]);
        });
    }
    for (auto& t : threads) {
        t.join();
    }
    for (const auto& ec : errors) {
        EXPECT_FALSE(ec) << ec.message();
    }
    EXPECT_EQ(r.wait_for(errors.size()), errors.size());
    EXPECT_EQ(server->session_count(), errors.size());
}

TEST(PanaEndpoint, RejectedIdentityFails) {
    recorded r;
    auto server = start_server("127.0.0.1", r);
    ASSERT_TRUE(server);
    pana::pana_client client;
    std::error_code ec;
    const auto info =
        client.authenticate("127.0.0.1", server->port(),
                            std::make_unique<imsp2p_test::identity_peer>("mallory"), 10s, ec);
    EXPECT_EQ(ec, pana::errc::pana_authentication_rejected);
    EXPECT_TRUE(info.msk.empty());
    EXPECT_EQ(server->authentication_count(), 0u);
}

TEST(PanaEndpoint, ServerTerminationReachesAClientInItsNextCall) {
    recorded r;
    auto server = start_server("127.0.0.1", r);
    ASSERT_TRUE(server);
    pana::pana_client client;
    std::error_code ec;
    const auto info = client.authenticate(
        "127.0.0.1", server->port(), std::make_unique<imsp2p_test::identity_peer>("bob"), 10s, ec);
    ASSERT_FALSE(ec);
    ASSERT_EQ(r.wait_for(1), 1u);  // the server has taken the PAN[C]: its session is open
    server->terminate(info.session_id, pana::pana_termination_cause::administrative);
    // The PTR waits in the client's socket; the ping call handles it and reports the end.
    for (int attempt = 0; attempt < 50 && !ec; ++attempt) {
        client.ping(5s, ec);  // answered normally until the server's thread has sent the PTR
        if (!ec) {
            std::this_thread::sleep_for(20ms);
        }
    }
    EXPECT_EQ(ec, pana::errc::pana_session_terminated);
    EXPECT_EQ(client.state(), pana::pana_session_state::closed);
}

TEST(PanaEndpoint, NoServerTimesOut) {
    pana::pana_pac_settings settings;
    settings.timers.pci_initial = 50ms;
    pana::pana_client client(settings);
    std::error_code ec;
    // A port nobody listens on (the server is stopped before the client runs).
    std::uint16_t port = 0;
    {
        recorded r;
        auto server = start_server("127.0.0.1", r);
        ASSERT_TRUE(server);
        port = server->port();
    }
    client.authenticate("127.0.0.1", port, std::make_unique<imsp2p_test::identity_peer>("carol"),
                        500ms, ec);
    EXPECT_EQ(ec, pana::errc::pana_timeout);
}

TEST(PanaEndpoint, BadAddressesAreRejected) {
    pana::pana_paa_server_settings settings;
    settings.address = "not an address";
    std::error_code ec;
    EXPECT_FALSE(pana::pana_paa_server::start(settings, {}, {}, ec));
    EXPECT_TRUE(ec);
    pana::pana_client client;
    client.authenticate("nowhere", 716, std::make_unique<imsp2p_test::identity_peer>("x"), 1s, ec);
    EXPECT_TRUE(ec);
    client.ping(1s, ec);
    EXPECT_TRUE(ec);  // no session
}
