#include <imsp2p/pana/pana_session.hpp>

#include <imsp2p/pana/eap.hpp>
#include <imsp2p/pana/eap_tls.hpp>
#include <imsp2p/pana/error.hpp>

#include <imsp2p/core/crypto.hpp>

#include "imsp2p_test/pana_fixtures.hpp"
#include "imsp2p_test/pana_identity_eap.hpp"

#include <gtest/gtest.h>

#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

namespace pana = imsp2p::pana;
using imsp2p::core::byte_vector;
using imsp2p::core::byte_view;
using namespace std::chrono_literals;

namespace {

using imsp2p_test::identity_authenticator;
using imsp2p_test::identity_peer;
using imsp2p_test::test_msk;

pana::pana_timers exact_timers() {
    pana::pana_timers timers;
    timers.jitter = false;
    return timers;
}

// Drives a PaC and a PAA over a simulated link whose filter may drop, replace or duplicate.
struct pana_link {
    pana::pana_paa_settings paa_settings;
    pana::pana_pac_settings pac_settings;
    std::string identity = "alice@ims.example";
    std::unique_ptr<pana::pana_paa_session> paa;
    std::unique_ptr<pana::pana_pac_session> pac;
    pana::pana_clock::time_point now{};
    // Called for every datagram: return false to drop it. `to_paa` gives the direction.
    std::function<bool(bool to_paa, byte_vector& datagram)> filter = [](bool, byte_vector&) {
        return true;
    };
    std::vector<byte_vector> to_paa_log;
    std::vector<byte_vector> to_pac_log;

    pana_link() {
        paa_settings.timers = exact_timers();
        pac_settings.timers = exact_timers();
    }

    void create(pana::eap_authenticator_factory factory = {},
                std::unique_ptr<pana::eap_peer> peer = {}) {
        if (!factory) {
            factory = [] { return std::make_unique<identity_authenticator>(); };
        }
        if (!peer) {
            peer = std::make_unique<identity_peer>(identity);
        }
        paa = std::make_unique<pana::pana_paa_session>(0x1234, std::move(factory), paa_settings);
        pac = std::make_unique<pana::pana_pac_session>(std::move(peer), pac_settings);
    }

    // Delivers datagrams until both sides are quiet; returns how many were delivered.
    int deliver() {
        int delivered = 0;
        for (int round = 0; round < 100; ++round) {
            auto from_pac = pac->take_datagrams();
            auto from_paa = paa->take_datagrams();
            if (from_pac.empty() && from_paa.empty()) {
                break;
            }
            for (auto& d : from_pac) {
                if (filter(true, d)) {
                    to_paa_log.push_back(d);
                    paa->on_datagram(d, now);
                    ++delivered;
                }
            }
            for (auto& d : from_paa) {
                if (filter(false, d)) {
                    to_pac_log.push_back(d);
                    pac->on_datagram(d, now);
                    ++delivered;
                }
            }
        }
        return delivered;
    }

    // Advances the clock to the earliest deadline and fires the timers; false if none.
    bool advance() {
        auto a = paa->next_deadline();
        auto b = pac->next_deadline();
        if (!a && !b) {
            return false;
        }
        now = !a ? *b : (!b ? *a : std::min(*a, *b));
        paa->on_timer(now);
        pac->on_timer(now);
        return true;
    }

    // Delivers and fires timers until quiet or until `done` holds.
    void run(const std::function<bool()>& done, int max_steps = 200) {
        for (int i = 0; i < max_steps; ++i) {
            deliver();
            if (done()) {
                return;
            }
            if (!advance()) {
                return;
            }
        }
    }

    bool both_open() const {
        return paa->state() == pana::pana_session_state::open &&
               pac->state() == pana::pana_session_state::open;
    }
};

std::optional<pana::pana_message> parsed(const byte_vector& wire) {
    std::error_code ec;
    return pana::parse_pana_message(wire, ec);
}

void expect_same_keys(const pana_link& l) {
    EXPECT_EQ(l.pac->info().msk, test_msk(l.identity));
    EXPECT_EQ(l.paa->info().msk, l.pac->info().msk);
    EXPECT_EQ(l.paa->info().auth_key, l.pac->info().auth_key);
    EXPECT_EQ(l.paa->info().key_id, l.pac->info().key_id);
    EXPECT_EQ(l.paa->info().session_id, l.pac->info().session_id);
}

}  // namespace

TEST(PanaPrfPlus, MatchesTheIkev2Construction) {
    const byte_vector key{1, 2, 3};
    const byte_vector seed{9, 8, 7, 6};
    const byte_vector stream = pana::pana_prf_plus(5, key, seed, 40);
    ASSERT_EQ(stream.size(), 40u);
    byte_vector t1_input = seed;
    t1_input.push_back(1);
    const auto t1 = imsp2p::core::hmac_sha256(key, t1_input);
    byte_vector t2_input(t1.begin(), t1.end());
    t2_input.insert(t2_input.end(), seed.begin(), seed.end());
    t2_input.push_back(2);
    const auto t2 = imsp2p::core::hmac_sha256(key, t2_input);
    byte_vector expected(t1.begin(), t1.end());
    expected.insert(expected.end(), t2.begin(), t2.begin() + 8);
    EXPECT_EQ(stream, expected);
    EXPECT_EQ(pana::pana_prf_plus(2, key, seed, 20).size(), 20u);
    EXPECT_TRUE(pana::pana_prf_plus(99, key, seed, 20).empty());
    EXPECT_TRUE(pana::pana_prf_plus(2, key, seed, 20 * 256).empty());
}

TEST(PanaSession, PacInitiatedRunEstablishesEqualKeysAndAuthenticatesEveryMessage) {
    pana_link l;
    l.create();
    EXPECT_EQ(l.pac->state(), pana::pana_session_state::idle);
    l.pac->start(l.now);
    l.run([&] { return l.both_open(); });
    ASSERT_TRUE(l.both_open()) << l.pac->error().message() << " / " << l.paa->error().message();
    expect_same_keys(l);
    EXPECT_EQ(l.paa->info().peer_identity, "alice@ims.example");
    EXPECT_EQ(l.pac->info().prf, 5u);
    EXPECT_EQ(l.pac->info().integrity, 12u);
    EXPECT_EQ(l.pac->info().auth_key.size(), 32u);
    EXPECT_EQ(l.pac->info().lifetime, 3600s);
    EXPECT_EQ(l.pac->info().result, pana::pana_result::success);
    EXPECT_EQ(l.paa->info().authentications, 1u);
    EXPECT_EQ(l.pac->stats().retransmissions + l.paa->stats().retransmissions, 0u);

    // PCI, PAN[S], PAN{nonce, EAP}, PAN[C] from the PaC; PAR[S], PAR{nonce, EAP}, PAR[C].
    ASSERT_EQ(l.to_paa_log.size(), 4u);
    ASSERT_EQ(l.to_pac_log.size(), 3u);
    const auto pci = parsed(l.to_paa_log[0]);
    ASSERT_TRUE(pci);
    EXPECT_EQ(pci->type, pana::pana_message_type::client_initiation);
    EXPECT_EQ(pci->sequence_number, 0u);
    const auto par_start = parsed(l.to_pac_log[0]);
    ASSERT_TRUE(par_start);
    EXPECT_EQ(par_start->flags, pana::pana_flags::request | pana::pana_flags::start);
    EXPECT_EQ(par_start->find_all(pana::pana_avp_code::prf_algorithm).size(), 2u);
    EXPECT_EQ(par_start->find(pana::pana_avp_code::auth), nullptr);
    const auto par_complete = parsed(l.to_pac_log[2]);
    ASSERT_TRUE(par_complete);
    EXPECT_TRUE(par_complete->has_flag(pana::pana_flags::complete));
    EXPECT_EQ(pana::find_u32(*par_complete, pana::pana_avp_code::result_code), 0u);
    ASSERT_NE(par_complete->find(pana::pana_avp_code::auth), nullptr);
    EXPECT_EQ(par_complete->find(pana::pana_avp_code::auth)->value.size(), 16u);
    EXPECT_EQ(par_complete->sequence_number, par_start->sequence_number + 2);
    const auto pan_complete = parsed(l.to_paa_log[3]);
    ASSERT_TRUE(pan_complete);
    EXPECT_FALSE(pan_complete->is_request());
    EXPECT_EQ(pan_complete->sequence_number, par_complete->sequence_number);
    EXPECT_NE(pan_complete->find(pana::pana_avp_code::auth), nullptr);
    EXPECT_EQ(pana::find_u32(*pan_complete, pana::pana_avp_code::key_id), l.paa->info().key_id);
    // No timers run on an open session but the PAA's lifetime.
    EXPECT_FALSE(l.pac->next_deadline());
    EXPECT_EQ(l.paa->next_deadline(), l.now + 3600s);
}

TEST(PanaSession, PaaInitiatedRunWithoutPci) {
    pana_link l;
    l.create();
    l.paa->start(l.now);
    l.run([&] { return l.both_open(); });
    ASSERT_TRUE(l.both_open());
    expect_same_keys(l);
    EXPECT_EQ(parsed(l.to_pac_log[0])->flags, pana::pana_flags::request | pana::pana_flags::start);
    EXPECT_EQ(l.to_paa_log.size(), 3u);
}

TEST(PanaSession, Sha1FallbackWhenThePaaOffersOnlyMandatoryAlgorithms) {
    pana_link l;
    l.paa_settings.prf_algorithms = {2};
    l.paa_settings.integrity_algorithms = {7};
    l.create();
    l.pac->start(l.now);
    l.run([&] { return l.both_open(); });
    ASSERT_TRUE(l.both_open());
    expect_same_keys(l);
    EXPECT_EQ(l.pac->info().prf, 2u);
    EXPECT_EQ(l.paa->info().integrity, 7u);
    EXPECT_EQ(l.pac->info().auth_key.size(), 20u);
    EXPECT_EQ(parsed(l.to_pac_log.back())->find(pana::pana_avp_code::auth)->value.size(), 20u);
}

TEST(PanaSession, Sha1FallbackWhenThePacAcceptsOnlyMandatoryAlgorithms) {
    pana_link l;
    l.pac_settings.prf_algorithms = {2};
    l.pac_settings.integrity_algorithms = {7};
    l.create();
    l.pac->start(l.now);
    l.run([&] { return l.both_open(); });
    ASSERT_TRUE(l.both_open());
    expect_same_keys(l);
    EXPECT_EQ(l.paa->info().prf, 2u);
    EXPECT_EQ(l.paa->info().integrity, 7u);
}

TEST(PanaSession, NoCommonAlgorithmClosesThePac) {
    pana_link l;
    l.paa_settings.prf_algorithms = {5};
    l.pac_settings.prf_algorithms = {2};
    l.create();
    l.pac->start(l.now);
    l.run([&] { return l.pac->state() == pana::pana_session_state::closed; });
    EXPECT_EQ(l.pac->error(), pana::errc::pana_no_common_algorithm);
    // The PAA never gets an answer and gives up after its retransmissions.
    l.run([&] { return l.paa->state() == pana::pana_session_state::closed; });
    EXPECT_EQ(l.paa->error(), pana::errc::pana_timeout);
    EXPECT_EQ(l.paa->stats().retransmissions, 10u);
}

TEST(PanaSession, RejectedAuthenticationEndsBothSessions) {
    pana_link l;
    l.identity = "mallory";
    l.create();
    l.pac->start(l.now);
    l.run([&] {
        return l.pac->state() == pana::pana_session_state::closed &&
               l.paa->state() == pana::pana_session_state::closed;
    });
    EXPECT_EQ(l.pac->error(), pana::errc::pana_authentication_rejected);
    EXPECT_EQ(l.paa->error(), pana::errc::pana_authentication_rejected);
    EXPECT_EQ(l.pac->info().result, pana::pana_result::authentication_rejected);
    EXPECT_TRUE(l.pac->info().msk.empty());
    const auto last = parsed(l.to_pac_log.back());
    EXPECT_EQ(pana::find_u32(*last, pana::pana_avp_code::result_code), 1u);
    EXPECT_EQ(last->find(pana::pana_avp_code::auth), nullptr);
}

TEST(PanaSession, LostPacketsAreRetransmittedWithDoublingTimers) {
    pana_link l;
    l.create();
    // Drop the first PCI, the first two copies of every PAR and the first PAN[C].
    int pci_seen = 0;
    std::map<std::uint32_t, int> par_seen;
    int pan_complete_seen = 0;
    std::vector<pana::pana_clock::time_point> par_times;
    l.filter = [&](bool to_paa, byte_vector& d) {
        const auto m = parsed(d);
        if (!m) {
            return true;
        }
        if (to_paa && m->type == pana::pana_message_type::client_initiation) {
            return ++pci_seen > 1;
        }
        if (!to_paa && m->is_request()) {
            if (par_seen[m->sequence_number] == 0) {
                par_times.push_back(l.now);
            }
            return ++par_seen[m->sequence_number] > 2;
        }
        if (to_paa && m->has_flag(pana::pana_flags::complete)) {
            return ++pan_complete_seen > 1;
        }
        return true;
    };
    const auto start = l.now;
    l.pac->start(l.now);
    l.run([&] { return l.both_open(); });
    ASSERT_TRUE(l.both_open());
    expect_same_keys(l);
    // PCI at 0 s (lost), 1 s and 3 s (the PAA ignores the duplicate; PAR[S] is lost twice).
    EXPECT_EQ(pci_seen, 3);
    EXPECT_EQ(l.paa->stats().duplicates, 1u);
    EXPECT_EQ(par_seen.size(), 3u);
    EXPECT_EQ(l.pac->stats().retransmissions, 2u);
    // 3 PARs sent twice more each, and PAR[C] once more for the lost PAN[C].
    EXPECT_EQ(l.paa->stats().retransmissions, 7u);
    // The PaC answered the PAR[C] retransmission from its cache.
    EXPECT_EQ(l.pac->stats().duplicates, 1u);
    // PCI after 1 s; each PAR is retransmitted after 1 s then 2 s (no jitter configured).
    EXPECT_EQ(par_times.front() - start, 1s);
    EXPECT_EQ(par_times[1] - par_times[0], 3s);
}

TEST(PanaSession, RetransmissionsStopAtTheLimit) {
    pana_link l;
    l.paa_settings.timers.request_max_retransmissions = 3;
    l.create();
    l.filter = [](bool to_paa, byte_vector&) { return !to_paa; };  // the PAA hears nothing
    l.paa->start(l.now);
    const auto start = l.now;
    l.run([&] { return l.paa->state() == pana::pana_session_state::closed; });
    EXPECT_EQ(l.paa->error(), pana::errc::pana_timeout);
    EXPECT_EQ(l.paa->stats().retransmissions, 3u);
    EXPECT_EQ(l.now - start, 1s + 2s + 4s + 8s);
    EXPECT_FALSE(l.paa->next_deadline());
}

TEST(PanaSession, RetransmissionDelayIsCappedAndJittered) {
    pana_link l;
    l.paa_settings.timers.jitter = true;
    l.paa_settings.timers.request_maximum = 5s;
    l.paa_settings.timers.request_max_retransmissions = 6;
    l.create();
    l.filter = [](bool, byte_vector&) { return false; };
    l.paa->start(l.now);
    std::vector<std::chrono::nanoseconds> gaps;
    auto previous = l.now;
    while (l.advance()) {
        gaps.push_back(l.now - previous);
        previous = l.now;
        l.deliver();
    }
    ASSERT_EQ(gaps.size(), 7u);
    EXPECT_GE(gaps[0], 900ms);
    EXPECT_LE(gaps[0], 1100ms);
    for (std::size_t i = 3; i < gaps.size(); ++i) {
        EXPECT_GE(gaps[i], 4500ms) << i;
        EXPECT_LE(gaps[i], 5500ms) << i;
    }
}

TEST(PanaSession, DuplicateRequestIsAnsweredFromTheCacheOnce) {
    pana_link l;
    l.create();
    l.paa->start(l.now);
    l.filter = [](bool to_paa, byte_vector& d) {
        (void)to_paa;
        (void)d;
        return true;
    };
    // Deliver PAR[S] twice to the PaC.
    auto par_start = l.paa->take_datagrams();
    ASSERT_EQ(par_start.size(), 1u);
    l.pac->on_datagram(par_start[0], l.now);
    auto first_answer = l.pac->take_datagrams();
    l.pac->on_datagram(par_start[0], l.now);
    auto second_answer = l.pac->take_datagrams();
    ASSERT_EQ(first_answer.size(), 1u);
    ASSERT_EQ(second_answer.size(), 1u);
    EXPECT_EQ(first_answer[0], second_answer[0]);
    EXPECT_EQ(l.pac->stats().duplicates, 1u);
    // The PAA takes the first answer and ignores the repeated one.
    l.paa->on_datagram(first_answer[0], l.now);
    const auto stats_before = l.paa->stats().bad_sequence;
    l.paa->on_datagram(second_answer[0], l.now);
    EXPECT_EQ(l.paa->stats().bad_sequence, stats_before + 1);
    l.run([&] { return l.both_open(); });
    ASSERT_TRUE(l.both_open());
    expect_same_keys(l);
}

TEST(PanaSession, ReplayedAndOutOfWindowSequenceNumbersAreDropped) {
    pana_link l;
    l.create();
    l.pac->start(l.now);
    l.run([&] { return l.both_open(); });
    ASSERT_TRUE(l.both_open());
    const auto keys_before = l.pac->info().auth_key;
    // Replay the PAR carrying the first EAP request (an old sequence number, no longer the
    // last request, so not a retransmission).
    const byte_vector old_par = l.to_pac_log[1];
    l.pac->on_datagram(old_par, l.now);
    EXPECT_TRUE(l.pac->take_datagrams().empty());
    EXPECT_EQ(l.pac->stats().bad_auth, 1u);  // it was sent before keying: no AUTH
    // A replayed PAR[C] is the last request: it is answered from the cache, nothing changes.
    l.pac->on_datagram(l.to_pac_log[2], l.now);
    EXPECT_EQ(l.pac->take_datagrams().size(), 1u);
    EXPECT_EQ(l.pac->stats().duplicates, 1u);
    // An authenticated-looking ping with a sequence number far ahead: dropped.
    l.paa->ping(l.now);
    auto ping = l.paa->take_datagrams();
    ASSERT_EQ(ping.size(), 1u);
    byte_vector ahead = ping[0];
    ahead[15] = static_cast<std::uint8_t>(ahead[15] + 7);  // AUTH no longer matches either
    l.pac->on_datagram(ahead, l.now);
    EXPECT_EQ(l.pac->stats().bad_auth, 2u);
    EXPECT_TRUE(l.pac->take_datagrams().empty());
    // The genuine ping goes through.
    l.pac->on_datagram(ping[0], l.now);
    auto pong = l.pac->take_datagrams();
    ASSERT_EQ(pong.size(), 1u);
    // The same ping again is a retransmission; a replay of the PAR[C] now is out of window.
    l.pac->on_datagram(ping[0], l.now);
    EXPECT_EQ(l.pac->take_datagrams(), pong);
    const auto bad_sequence = l.pac->stats().bad_sequence;
    l.pac->on_datagram(l.to_pac_log[2], l.now);
    EXPECT_TRUE(l.pac->take_datagrams().empty());
    EXPECT_EQ(l.pac->stats().bad_sequence, bad_sequence + 1);
    EXPECT_EQ(l.pac->state(), pana::pana_session_state::open);
    EXPECT_EQ(l.pac->info().auth_key, keys_before);
    // The answer to the ping clears the PAA's request; replaying it is dropped.
    l.paa->on_datagram(pong[0], l.now);
    EXPECT_FALSE(l.paa->next_deadline() && *l.paa->next_deadline() < l.now + 10s);
    const auto paa_bad_sequence = l.paa->stats().bad_sequence;
    l.paa->on_datagram(pong[0], l.now);
    EXPECT_EQ(l.paa->stats().bad_sequence, paa_bad_sequence + 1);
}

TEST(PanaSession, TamperedAuthIsDroppedAndTheGenuineRetransmissionAccepted) {
    pana_link l;
    l.create();
    bool tampered_once = false;
    l.filter = [&](bool to_paa, byte_vector& d) {
        const auto m = parsed(d);
        if (!to_paa && m && m->has_flag(pana::pana_flags::complete) && !tampered_once) {
            tampered_once = true;
            d[d.size() - 1] ^= 0x01;  // last byte of the AUTH value
        }
        return true;
    };
    l.pac->start(l.now);
    l.run([&] { return l.both_open(); });
    ASSERT_TRUE(l.both_open());
    EXPECT_TRUE(tampered_once);
    EXPECT_EQ(l.pac->stats().bad_auth, 1u);
    expect_same_keys(l);

    // Once keyed, a message with a tampered body or no AUTH is dropped by the PAA.
    l.pac->ping(l.now);
    auto ping = l.pac->take_datagrams();
    ASSERT_EQ(ping.size(), 1u);
    const auto bad_auth = l.paa->stats().bad_auth;
    const auto unexpected = l.paa->stats().unexpected;
    byte_vector body = ping[0];
    body[9] ^= 0x40;  // session identifier
    l.paa->on_datagram(body, l.now);
    EXPECT_EQ(l.paa->stats().unexpected, unexpected + 1);  // no such session
    body = ping[0];
    body[4] ^= 0x18;  // P flag becomes A: a re-authentication request with the ping's AUTH
    l.paa->on_datagram(body, l.now);
    EXPECT_EQ(l.paa->stats().bad_auth, bad_auth + 1);
    EXPECT_TRUE(l.paa->take_datagrams().empty());
    pana::pana_message unauthenticated = *parsed(ping[0]);
    unauthenticated.avps.clear();
    l.paa->on_datagram(pana::serialize(unauthenticated), l.now);
    EXPECT_EQ(l.paa->stats().bad_auth, bad_auth + 2);
    EXPECT_EQ(l.paa->state(), pana::pana_session_state::open);
    l.paa->on_datagram(ping[0], l.now);
    EXPECT_EQ(l.paa->take_datagrams().size(), 1u);
}

TEST(PanaSession, MalformedDatagramsAreCountedAndIgnored) {
    pana_link l;
    l.create();
    l.paa->on_datagram(byte_vector{1, 2, 3}, l.now);
    l.pac->on_datagram(byte_vector(16, 0xFF), l.now);
    EXPECT_EQ(l.paa->stats().malformed, 1u);
    EXPECT_EQ(l.pac->stats().malformed, 1u);
    EXPECT_EQ(l.paa->state(), pana::pana_session_state::idle);
    EXPECT_EQ(l.pac->state(), pana::pana_session_state::idle);
    EXPECT_TRUE(l.paa->take_datagrams().empty());
}

TEST(PanaSession, PingBothWays) {
    pana_link l;
    l.create();
    l.pac->start(l.now);
    l.run([&] { return l.both_open(); });
    ASSERT_TRUE(l.both_open());
    const auto sent = l.to_paa_log.size();
    l.pac->ping(l.now);
    l.deliver();
    l.paa->ping(l.now);
    l.deliver();
    ASSERT_EQ(l.to_paa_log.size(), sent + 2);  // PNR[P] and PNA[P]
    const auto pnr = parsed(l.to_paa_log[sent]);
    EXPECT_EQ(pnr->flags, pana::pana_flags::request | pana::pana_flags::ping);
    EXPECT_EQ(pnr->type, pana::pana_message_type::notification);
    EXPECT_FALSE(l.pac->next_deadline());
    EXPECT_EQ(l.paa->next_deadline(), pana::pana_clock::time_point{} + 3600s);
    EXPECT_EQ(l.pac->stats().bad_auth + l.paa->stats().bad_auth, 0u);
}

TEST(PanaSession, PacInitiatedReauthenticationChangesKeyId) {
    pana_link l;
    l.create();
    l.pac->start(l.now);
    l.run([&] { return l.both_open(); });
    ASSERT_TRUE(l.both_open());
    const auto old_key = l.pac->info().auth_key;
    const auto old_key_id = l.pac->info().key_id;
    l.pac->reauthenticate(std::make_unique<identity_peer>(l.identity), l.now);
    l.deliver();
    ASSERT_TRUE(l.both_open());
    EXPECT_EQ(l.pac->info().authentications, 2u);
    EXPECT_EQ(l.paa->info().authentications, 2u);
    EXPECT_EQ(l.pac->info().key_id, old_key_id + 1);
    EXPECT_NE(l.pac->info().auth_key, old_key);  // new nonces
    expect_same_keys(l);
    // Messages after re-authentication use the new key.
    l.pac->ping(l.now);
    l.deliver();
    EXPECT_EQ(l.paa->stats().bad_auth, 0u);
    EXPECT_FALSE(l.pac->next_deadline());
}

TEST(PanaSession, PaaInitiatedReauthenticationSurvivesLoss) {
    pana_link l;
    l.create();
    l.pac->start(l.now);
    l.run([&] { return l.both_open(); });
    ASSERT_TRUE(l.both_open());
    int dropped = 0;
    l.filter = [&](bool to_paa, byte_vector&) { return !to_paa || ++dropped % 2 == 0; };
    l.paa->reauthenticate(l.now);
    EXPECT_EQ(l.paa->state(), pana::pana_session_state::reauthenticating);
    l.run([&] { return l.both_open() && l.paa->info().authentications == 2; });
    ASSERT_TRUE(l.both_open());
    EXPECT_EQ(l.pac->info().authentications, 2u);
    expect_same_keys(l);
    EXPECT_GT(l.paa->stats().retransmissions, 0u);
}

TEST(PanaSession, PacTerminates) {
    pana_link l;
    l.create();
    l.pac->start(l.now);
    l.run([&] { return l.both_open(); });
    l.pac->terminate(pana::pana_termination_cause::logout, l.now);
    EXPECT_EQ(l.pac->state(), pana::pana_session_state::terminating);
    l.deliver();
    EXPECT_EQ(l.pac->state(), pana::pana_session_state::closed);
    EXPECT_EQ(l.paa->state(), pana::pana_session_state::closed);
    EXPECT_FALSE(l.pac->error());
    EXPECT_FALSE(l.paa->error());
    EXPECT_EQ(l.paa->info().termination_cause, pana::pana_termination_cause::logout);
    EXPECT_FALSE(l.paa->next_deadline());
}

TEST(PanaSession, PaaTerminatesWhenTheLifetimeExpires) {
    pana_link l;
    l.paa_settings.session_lifetime = 60s;
    l.create();
    l.pac->start(l.now);
    l.run([&] { return l.both_open(); });
    ASSERT_TRUE(l.both_open());
    EXPECT_EQ(l.pac->info().lifetime, 60s);
    const auto opened = l.now;
    l.run([&] { return l.pac->state() == pana::pana_session_state::closed; });
    EXPECT_EQ(l.now - opened, 60s);
    EXPECT_EQ(l.pac->error(), pana::errc::pana_session_terminated);
    EXPECT_EQ(l.pac->info().termination_cause, pana::pana_termination_cause::session_timeout);
    EXPECT_EQ(l.paa->state(), pana::pana_session_state::closed);
}

TEST(PanaSession, PaaTerminatesAdministratively) {
    pana_link l;
    l.create();
    l.paa->start(l.now);
    l.run([&] { return l.both_open(); });
    l.paa->terminate(pana::pana_termination_cause::administrative, l.now);
    l.deliver();
    EXPECT_EQ(l.pac->state(), pana::pana_session_state::closed);
    EXPECT_EQ(l.paa->state(), pana::pana_session_state::closed);
    EXPECT_EQ(l.pac->info().termination_cause, pana::pana_termination_cause::administrative);
}

// The full system: PaC and PAA carrying EAP-TLS (certificates on both ends) through PANA, with
// loss on the way; both ends end with the MSK EAP-TLS exported.
TEST(PanaSession, EapTlsRunOverPanaWithLossYieldsTheSameMskOnBothEnds) {
    const imsp2p_test::eap_tls_parties parties("alice@ims.example");
    const auto server_context =
        pana::eap_tls_context::create(parties.server_settings(), pana::eap_tls_role::server);
    const auto client_context =
        pana::eap_tls_context::create(parties.client_settings(), pana::eap_tls_role::client);

    pana_link l;
    l.identity = "alice@ims.example";
    int count = 0;
    l.filter = [&](bool, byte_vector&) { return ++count % 4 != 0; };  // lose every 4th datagram
    std::vector<pana::eap_tls_authenticator*> authenticators;
    auto* client_peer = new pana::eap_tls_peer(client_context, l.identity);
    l.create(
        [&] {
            auto a = std::make_unique<pana::eap_tls_authenticator>(server_context);
            authenticators.push_back(a.get());
            return a;
        },
        std::unique_ptr<pana::eap_peer>(client_peer));
    l.pac->start(l.now);
    l.run([&] { return l.both_open(); }, 1000);
    ASSERT_TRUE(l.both_open()) << l.pac->error().message() << " / " << l.paa->error().message();
    ASSERT_EQ(authenticators.size(), 1u);
    EXPECT_EQ(l.pac->info().msk.size(), 64u);
    EXPECT_EQ(l.pac->info().msk, client_peer->msk());
    EXPECT_EQ(l.paa->info().msk, authenticators[0]->msk());
    EXPECT_EQ(l.paa->info().msk, l.pac->info().msk);
    EXPECT_EQ(l.paa->info().auth_key, l.pac->info().auth_key);
    EXPECT_EQ(l.paa->info().peer_identity, "alice@ims.example");
    EXPECT_EQ(client_peer->token(), authenticators[0]->token());
    EXPECT_GT(l.paa->stats().retransmissions + l.pac->stats().retransmissions, 0u);
    // Every datagram is a valid PANA message.
    for (const auto& d : l.to_paa_log) {
        EXPECT_TRUE(parsed(d));
    }
}

TEST(PanaSession, UnprotectedTerminationBeforeKeyingIsIgnored) {
    pana_link l;
    l.create();
    l.paa->start(l.now);
    auto par_start = l.paa->take_datagrams();
    ASSERT_EQ(par_start.size(), 1u);
    l.pac->on_datagram(par_start[0], l.now);
    ASSERT_EQ(l.pac->state(), pana::pana_session_state::authenticating);
    // A forged PTR with the next sequence number and the right session id, but no AUTH.
    const auto par = parsed(par_start[0]);
    pana::pana_message ptr;
    ptr.type = pana::pana_message_type::termination;
    ptr.flags = pana::pana_flags::request;
    ptr.session_id = par->session_id;
    ptr.sequence_number = par->sequence_number + 1;
    ptr.avps.push_back(pana::make_u32_avp(pana::pana_avp_code::termination_cause, 4));
    l.pac->on_datagram(pana::serialize(ptr), l.now);
    EXPECT_EQ(l.pac->state(), pana::pana_session_state::authenticating);
    EXPECT_EQ(l.pac->stats().unexpected, 1u);
    l.pac->take_datagrams();  // the PAN[S] already sent
    EXPECT_TRUE(l.pac->take_datagrams().empty());
    // The forged PTR did not consume the sequence number: the real exchange goes on.
    l.run([&] { return l.both_open(); });
    EXPECT_TRUE(l.both_open());
}
