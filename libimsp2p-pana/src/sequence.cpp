// SQN = SEQ || IND management of 3GPP TS 33.102 Annex C.

#include <imsp2p/pana/sequence.hpp>

#include <imsp2p/pana/error.hpp>

#include <imsp2p/core/error.hpp>

#include <algorithm>

namespace imsp2p::pana {

sqn next_sqn(sqn last, const sqn_policy& policy, std::error_code& ec) noexcept {
    if (!policy.valid()) {
        ec = core::errc::invalid_argument;
        return last;
    }
    const unsigned bits = policy.ind_bits;
    const std::uint64_t seq = last.seq(bits);
    if (seq >= policy.max_seq()) {
        ec = errc::sqn_exhausted;
        return last;
    }
    const std::uint64_t ind = (last.ind(bits) + 1) % policy.ind_count();
    ec.clear();
    return sqn::from_parts(seq + 1, ind, bits);
}

sqn resynchronised_sqn(sqn he_last, sqn ms, const sqn_policy& policy) noexcept {
    const unsigned bits = policy.valid() ? policy.ind_bits : sqn_policy{}.ind_bits;
    const std::uint64_t next_seq = he_last.seq(bits) + 1;
    const std::uint64_t ms_seq = ms.seq(bits);
    if (ms_seq < next_seq && next_seq - ms_seq <= policy.delta) {
        return he_last;  // the HE's next vector is already acceptable to the USIM
    }
    return ms;
}

sqn_window::sqn_window(const sqn_policy& policy)
    : policy_(policy.valid() ? policy : sqn_policy{}), seq_ms_(policy_.ind_count(), 0) {}

sqn_window sqn_window::restore(const sqn_policy& policy, std::span<const std::uint64_t> seq_ms,
                               sqn highest, std::error_code& ec) {
    if (!policy.valid() || seq_ms.size() != policy.ind_count()) {
        ec = core::errc::invalid_argument;
        return sqn_window{};
    }
    const unsigned bits = policy.ind_bits;
    const std::uint64_t largest = *std::max_element(seq_ms.begin(), seq_ms.end());
    const bool consistent = largest <= policy.max_seq() && largest == highest.seq(bits) &&
                            seq_ms[highest.ind(bits)] == highest.seq(bits);
    if (!consistent) {
        ec = core::errc::invalid_argument;
        return sqn_window{};
    }
    sqn_window window(policy);
    window.seq_ms_.assign(seq_ms.begin(), seq_ms.end());
    window.highest_ = highest;
    ec.clear();
    return window;
}

bool sqn_window::is_fresh(sqn received) const noexcept {
    const unsigned bits = policy_.ind_bits;
    const std::uint64_t seq = received.seq(bits);
    const std::uint64_t highest_seq = highest_.seq(bits);
    if (seq <= seq_ms_[received.ind(bits)]) {
        return false;  // replay, or older than the last vector used in this IND slot
    }
    if (seq > highest_seq && seq - highest_seq > policy_.delta) {
        return false;  // too far ahead (C.2.2)
    }
    if (policy_.age_limit != 0 && seq < highest_seq && highest_seq - seq >= policy_.age_limit) {
        return false;  // too old (C.2.3)
    }
    return true;
}

void sqn_window::accept(sqn received, std::error_code& ec) noexcept {
    if (!is_fresh(received)) {
        ec = errc::sync_failure;
        return;
    }
    const unsigned bits = policy_.ind_bits;
    seq_ms_[received.ind(bits)] = received.seq(bits);
    if (received.seq(bits) > highest_.seq(bits)) {
        highest_ = received;
    }
    ec.clear();
}

}  // namespace imsp2p::pana
