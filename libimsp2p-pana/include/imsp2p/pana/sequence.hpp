/**
 * @file
 * AKA sequence number management, 3GPP TS 33.102 Annex C: SQN = SEQ || IND.
 *
 * Home network side (HSS/AuC): the subscriber's SQN_HE is the last sequence number it issued.
 * Each new vector takes SEQ_HE + 1 and the next IND, cyclically: IND := (IND + 1) mod 2^ind_bits
 * (Annex C.1.2 / C.3.4; one counter per subscriber, no per-node IND partition). Storing the
 * full last SQN keeps both SEQ_HE and the IND counter in one 48-bit number.
 *
 * User side (USIM): an array SEQ_MS(i), one entry per IND value (Annex C.2.1). A received
 * SQN = SEQ || IND is fresh when SEQ > SEQ_MS(IND) (a replay or an older vector of the same
 * slot is refused), SEQ - SEQ_MS <= delta (Annex C.2.2, wrap-around protection; SEQ_MS is the
 * highest SEQ accepted so far) and, when an age limit L is set, SEQ_MS - SEQ < L (Annex C.2.3).
 * On a failure the USIM reports SQN_MS, the highest sequence number it accepted, in AUTS.
 *
 * All types here are value types with no hidden state; thread-safety as for standard types.
 */
#pragma once

#include <imsp2p/pana/export.hpp>
#include <imsp2p/pana/milenage.hpp>

#include <cstddef>
#include <cstdint>
#include <span>
#include <system_error>
#include <vector>

namespace imsp2p::pana {

/**
 * Parameters of the Annex C sequence number scheme. The defaults are the TS 33.102 C.3
 * recommendations for IND and delta, and our choice for L (the standard leaves L to the
 * operator; 2^16 tolerates any realistic number of unused vectors held by serving nodes).
 */
struct sqn_policy {
    /** Width of IND in bits (TS 33.102 C.3.4 suggests 5: an array of 32 SEQ_MS values). */
    unsigned ind_bits = 5;
    /** Delta: the largest accepted jump SEQ - SEQ_MS (C.2.2; C.3 suggests 2^28). */
    std::uint64_t delta = std::uint64_t{1} << 28;
    /** L: refuse SEQ with SEQ_MS - SEQ >= L (C.2.3); 0 disables the age check. */
    std::uint64_t age_limit = std::uint64_t{1} << 16;

    /** @return the number of IND values, 2^ind_bits */
    std::size_t ind_count() const noexcept { return std::size_t{1} << ind_bits; }
    /** @return the largest SEQ value, 2^(48 - ind_bits) - 1 */
    std::uint64_t max_seq() const noexcept { return sqn::max_value >> ind_bits; }
    /** @return true when ind_bits is 0..10 and delta is at least 1 */
    bool valid() const noexcept { return ind_bits <= 10 && delta >= 1; }
};

/**
 * HE side: the sequence number of the next vector after @p last (SEQ + 1, IND + 1 cyclically).
 * @param last the last SQN issued (SQN_HE); 0 for a fresh subscriber
 * @param policy the scheme parameters
 * @param ec errc::sqn_exhausted when SEQ would overflow; core::errc::invalid_argument for an
 *        invalid policy; cleared on success
 * @return the next SQN (unchanged @p last on error)
 */
IMSP2P_PANA_EXPORT sqn next_sqn(sqn last, const sqn_policy& policy, std::error_code& ec) noexcept;

/**
 * HE side: the new SQN_HE after a verified resynchronisation request (TS 33.102 §6.3.5).
 * If the next vector the HE would generate is already acceptable to the USIM (SEQ_MS <
 * SEQ_HE + 1 <= SEQ_MS + delta), SQN_HE is kept; otherwise it is reset to SQN_MS, so the next
 * vector uses SEQ_MS + 1.
 * @param he_last the HE's current last issued SQN
 * @param ms the SQN_MS recovered from AUTS
 * @param policy the scheme parameters
 * @return the SQN_HE to store
 */
IMSP2P_PANA_EXPORT sqn resynchronised_sqn(sqn he_last, sqn ms, const sqn_policy& policy) noexcept;

/**
 * USIM side: the SEQ_MS array of Annex C.2 and the freshness check.
 *
 * A value type (copyable); the array has policy.ind_count() entries, all zero at first.
 */
class IMSP2P_PANA_EXPORT sqn_window {
  public:
    /** Creates a fresh window with the default policy. */
    sqn_window() : sqn_window(sqn_policy{}) {}

    /**
     * Creates a fresh window (every SEQ_MS(i) = 0, so the first SQN must have SEQ >= 1).
     * @param policy the scheme parameters; an invalid policy is replaced by the defaults
     */
    explicit sqn_window(const sqn_policy& policy);

    /**
     * Restores a saved window.
     * @param policy the scheme parameters
     * @param seq_ms the SEQ_MS values, one per IND (policy.ind_count() entries)
     * @param highest the highest SQN accepted so far (SQN_MS)
     * @param ec core::errc::invalid_argument when the sizes or values are inconsistent
     * @return the window (a fresh one on error)
     */
    static sqn_window restore(const sqn_policy& policy, std::span<const std::uint64_t> seq_ms,
                              sqn highest, std::error_code& ec);

    /**
     * Checks whether @p received is fresh, without changing the window.
     * @param received the SQN recovered from AUTN
     * @return true when accept() would accept it
     */
    bool is_fresh(sqn received) const noexcept;

    /**
     * Checks freshness and, when fresh, records it (SEQ_MS(IND) := SEQ).
     * @param received the SQN recovered from AUTN
     * @param ec errc::sync_failure when not fresh (replay, too old or too far ahead); cleared
     *        on success
     */
    void accept(sqn received, std::error_code& ec) noexcept;

    /** @return SQN_MS, the highest sequence number accepted so far (0 initially) */
    sqn highest() const noexcept { return highest_; }
    /** @return the SEQ_MS array, indexed by IND */
    const std::vector<std::uint64_t>& seq_ms() const noexcept { return seq_ms_; }
    /** @return the scheme parameters */
    const sqn_policy& policy() const noexcept { return policy_; }

  private:
    sqn_policy policy_;
    std::vector<std::uint64_t> seq_ms_;
    sqn highest_;
};

}  // namespace imsp2p::pana
