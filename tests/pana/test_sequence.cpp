#include <imsp2p/pana/sequence.hpp>

#include <imsp2p/pana/error.hpp>

#include <imsp2p/core/error.hpp>

#include <gtest/gtest.h>

#include <cstdint>
#include <vector>

namespace pana = imsp2p::pana;
namespace core = imsp2p::core;

namespace {

pana::sqn make(std::uint64_t seq, std::uint64_t ind) {
    return pana::sqn::from_parts(seq, ind, 5);
}

}  // namespace

TEST(NextSqn, IncrementsSeqAndCyclesInd) {
    const pana::sqn_policy policy;
    std::error_code ec;
    pana::sqn current;
    for (std::uint64_t i = 1; i <= 40; ++i) {
        current = pana::next_sqn(current, policy, ec);
        ASSERT_FALSE(ec);
        EXPECT_EQ(current.seq(5), i);
        EXPECT_EQ(current.ind(5), i % 32);
    }
}

TEST(NextSqn, ReportsExhaustionAndInvalidPolicy) {
    std::error_code ec;
    const pana::sqn last = make(pana::sqn_policy{}.max_seq(), 3);
    EXPECT_EQ(pana::next_sqn(last, {}, ec), last);
    EXPECT_EQ(ec, pana::errc::sqn_exhausted);
    pana::sqn_policy bad;
    bad.ind_bits = 20;
    pana::next_sqn(pana::sqn{}, bad, ec);
    EXPECT_EQ(ec, core::errc::invalid_argument);
}

TEST(ResynchronisedSqn, KeepsAnAcceptableCounterAndResetsOtherwise) {
    const pana::sqn_policy policy;
    // HE behind the USIM: reset to SQN_MS, so the next vector is SEQ_MS + 1.
    EXPECT_EQ(pana::resynchronised_sqn(make(5, 5), make(900, 4), policy), make(900, 4));
    // HE's next SEQ (11) is above SEQ_MS (9) and within delta: keep.
    EXPECT_EQ(pana::resynchronised_sqn(make(10, 10), make(9, 9), policy), make(10, 10));
    // HE exactly at SEQ_MS: its next (SEQ_MS + 1) is acceptable: keep.
    EXPECT_EQ(pana::resynchronised_sqn(make(9, 9), make(9, 9), policy), make(9, 9));
    // HE too far ahead (beyond delta): reset to SQN_MS.
    const pana::sqn far = make(9 + policy.delta + 5, 0);
    EXPECT_EQ(pana::resynchronised_sqn(far, make(9, 9), policy), make(9, 9));
}

TEST(SqnWindow, AcceptsFreshAndRefusesReplay) {
    pana::sqn_window window;
    std::error_code ec;
    EXPECT_FALSE(window.is_fresh(make(0, 0)));  // SEQ must exceed SEQ_MS(0) = 0
    window.accept(make(1, 1), ec);
    ASSERT_FALSE(ec);
    EXPECT_EQ(window.highest(), make(1, 1));
    window.accept(make(1, 1), ec);  // replay
    EXPECT_EQ(ec, pana::errc::sync_failure);
    window.accept(make(3, 3), ec);
    ASSERT_FALSE(ec);
    // An older vector of another slot is still acceptable (out-of-order use, Annex C.2.1).
    window.accept(make(2, 2), ec);
    EXPECT_FALSE(ec);
    EXPECT_EQ(window.highest(), make(3, 3));
    // A newer SEQ in the same slot as before is fine; an older one in that slot is not.
    window.accept(make(35, 3), ec);
    EXPECT_FALSE(ec);
    window.accept(make(34, 3), ec);
    EXPECT_EQ(ec, pana::errc::sync_failure);
    EXPECT_EQ(window.seq_ms()[3], 35u);
}

TEST(SqnWindow, EnforcesDeltaAndAgeLimit) {
    pana::sqn_policy policy;
    policy.delta = 100;
    policy.age_limit = 10;
    pana::sqn_window window(policy);
    std::error_code ec;
    window.accept(make(101, 1), ec);  // 101 - 0 > 100
    EXPECT_EQ(ec, pana::errc::sync_failure);
    window.accept(make(100, 1), ec);
    ASSERT_FALSE(ec);
    window.accept(make(90, 2), ec);  // 100 - 90 >= 10: too old
    EXPECT_EQ(ec, pana::errc::sync_failure);
    window.accept(make(91, 2), ec);
    EXPECT_FALSE(ec);
    policy.age_limit = 0;  // disabled
    pana::sqn_window lenient(policy);
    lenient.accept(make(100, 1), ec);
    lenient.accept(make(1, 2), ec);
    EXPECT_FALSE(ec);
}

TEST(SqnWindow, RestoreChecksConsistency) {
    const pana::sqn_policy policy;
    std::vector<std::uint64_t> seq_ms(32, 0);
    seq_ms[4] = 7;
    std::error_code ec;
    pana::sqn_window window = pana::sqn_window::restore(policy, seq_ms, make(7, 4), ec);
    ASSERT_FALSE(ec);
    EXPECT_FALSE(window.is_fresh(make(7, 4)));
    EXPECT_TRUE(window.is_fresh(make(8, 5)));
    pana::sqn_window::restore(policy, seq_ms, make(6, 4), ec);  // highest disagrees
    EXPECT_EQ(ec, core::errc::invalid_argument);
    seq_ms.pop_back();
    pana::sqn_window::restore(policy, seq_ms, make(7, 4), ec);  // wrong size
    EXPECT_EQ(ec, core::errc::invalid_argument);
}
