/**
 * @file
 * 3GPP AKA value types and the Milenage algorithm set (3GPP TS 35.205/35.206): OPc, f1, f1*,
 * f2, f3, f4, f5 and f5*, on OpenSSL's AES-128.
 *
 * The AKA values are plain fixed-size byte arrays (value types; big-endian as on the wire).
 * Secret ones (K, OP, OPc, CK, IK, RES) are not wiped automatically when such an array is
 * destroyed: the classes of this library that hold them (milenage, subscriber_record,
 * usim_profile, authentication_vector) wipe them in their destructors, and callers holding
 * copies should do the same (wipe()).
 */
#pragma once

#include <imsp2p/pana/export.hpp>

#include <imsp2p/core/bytes.hpp>

#include <array>
#include <compare>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <stdexcept>

namespace imsp2p::pana {

/** The subscriber key K (128 bits), shared by the USIM and the HSS/AuC. Secret. */
using aka_key = std::array<std::uint8_t, 16>;
/** The operator variant algorithm configuration field OP (128 bits). Secret. */
using aka_op = std::array<std::uint8_t, 16>;
/** OPc = OP xor E_K(OP), the per-subscriber form of OP stored instead of OP. Secret. */
using aka_opc = std::array<std::uint8_t, 16>;
/** The random challenge RAND (128 bits). */
using aka_rand = std::array<std::uint8_t, 16>;
/** The authentication management field AMF (16 bits). */
using aka_amf = std::array<std::uint8_t, 2>;
/** A 64-bit message authentication code: MAC-A (f1) or MAC-S (f1*). */
using aka_mac = std::array<std::uint8_t, 8>;
/** The response RES / expected response XRES (f2; 64 bits with Milenage). Secret until used. */
using aka_res = std::array<std::uint8_t, 8>;
/** The cipher key CK (f3, 128 bits). Secret. */
using aka_ck = std::array<std::uint8_t, 16>;
/** The integrity key IK (f4, 128 bits). Secret. */
using aka_ik = std::array<std::uint8_t, 16>;
/** An anonymity key AK (f5) or AK* (f5*), 48 bits. */
using aka_ak = std::array<std::uint8_t, 6>;
/** The wire form of a 48-bit sequence number SQN (or SQN xor AK). */
using aka_sqn_bytes = std::array<std::uint8_t, 6>;
/** The network authentication token AUTN = (SQN xor AK) || AMF || MAC-A (128 bits). */
using aka_autn = std::array<std::uint8_t, 16>;
/** The resynchronisation token AUTS = (SQN_MS xor AK*) || MAC-S (112 bits). */
using aka_auts = std::array<std::uint8_t, 14>;

/** The AMF that MAC-S is computed with in AUTS (TS 33.102 §6.3.3: a dummy all-zero AMF). */
inline constexpr aka_amf resynchronisation_amf{0x00, 0x00};

/**
 * Overwrites an array with zeros in a way the compiler cannot elide (OPENSSL_cleanse).
 * @param bytes the bytes to wipe
 */
IMSP2P_PANA_EXPORT void wipe(core::mutable_byte_view bytes) noexcept;

/**
 * A 48-bit AKA sequence number SQN (TS 33.102 §6.3.2, Annex C).
 *
 * A constexpr value type ordered by its numeric value. With the Annex C scheme used by this
 * library the number splits into SEQ (the high 48 - ind_bits bits) and IND (the low ind_bits
 * bits); see sqn_policy in sequence.hpp. Thread-safety as for built-in integers.
 */
class sqn {
  public:
    /** The largest SQN value, 2^48 - 1. */
    static constexpr std::uint64_t max_value = (std::uint64_t{1} << 48) - 1;

    /** The zero sequence number. */
    constexpr sqn() noexcept = default;

    /**
     * Makes a sequence number from its numeric value.
     * @param value 0 .. max_value
     * @throws std::out_of_range if @p value does not fit in 48 bits
     */
    constexpr explicit sqn(std::uint64_t value) : value_(value) {
        if (value > max_value) {
            throw std::out_of_range("AKA SQN does not fit in 48 bits");
        }
    }

    /**
     * Makes a sequence number from SEQ and IND (SQN = SEQ || IND).
     * @param seq the SEQ part, below 2^(48 - ind_bits)
     * @param ind the IND part, below 2^ind_bits
     * @param ind_bits the width of IND, 0..47
     * @return the sequence number
     * @throws std::out_of_range if a part does not fit its width
     */
    static constexpr sqn from_parts(std::uint64_t seq, std::uint64_t ind, unsigned ind_bits) {
        if (ind_bits >= 48 || ind >= (std::uint64_t{1} << ind_bits) ||
            seq > (max_value >> ind_bits)) {
            throw std::out_of_range("AKA SEQ or IND does not fit its width");
        }
        return sqn((seq << ind_bits) | ind);
    }

    /**
     * Reads a sequence number from its 6-byte big-endian wire form.
     * @param bytes the wire form
     * @return the sequence number
     */
    static constexpr sqn from_bytes(const aka_sqn_bytes& bytes) noexcept {
        std::uint64_t value = 0;
        for (const std::uint8_t byte : bytes) {
            value = (value << 8) | byte;
        }
        sqn result;
        result.value_ = value;
        return result;
    }

    /** @return the 6-byte big-endian wire form */
    constexpr aka_sqn_bytes to_bytes() const noexcept {
        aka_sqn_bytes bytes{};
        for (std::size_t i = 0; i < bytes.size(); ++i) {
            bytes[i] = static_cast<std::uint8_t>(value_ >> (8 * (bytes.size() - 1 - i)));
        }
        return bytes;
    }

    /** @return the numeric value, 0 .. max_value */
    constexpr std::uint64_t value() const noexcept { return value_; }
    /**
     * @param ind_bits the width of IND
     * @return the SEQ part (the value shifted right by @p ind_bits)
     */
    constexpr std::uint64_t seq(unsigned ind_bits) const noexcept { return value_ >> ind_bits; }
    /**
     * @param ind_bits the width of IND
     * @return the IND part (the low @p ind_bits bits)
     */
    constexpr std::uint64_t ind(unsigned ind_bits) const noexcept {
        return value_ & ((std::uint64_t{1} << ind_bits) - 1);
    }

    /** Compares numerically. @param other the other SQN @return the ordering */
    constexpr std::strong_ordering operator<=>(const sqn& other) const noexcept = default;

  private:
    std::uint64_t value_ = 0;
};

/**
 * Builds AUTN = (SQN xor AK) || AMF || MAC-A.
 * @param sequence the sequence number
 * @param ak the anonymity key (f5)
 * @param amf the authentication management field
 * @param mac_a the network authentication code (f1)
 * @return AUTN
 */
IMSP2P_PANA_EXPORT aka_autn make_autn(sqn sequence, const aka_ak& ak, const aka_amf& amf,
                                      const aka_mac& mac_a) noexcept;

/**
 * Builds AUTS = (SQN_MS xor AK*) || MAC-S.
 * @param sequence SQN_MS
 * @param ak_star the resynchronisation anonymity key (f5*)
 * @param mac_s the resynchronisation code (f1* with AMF 0000)
 * @return AUTS
 */
IMSP2P_PANA_EXPORT aka_auts make_auts(sqn sequence, const aka_ak& ak_star,
                                      const aka_mac& mac_s) noexcept;

/** The outputs of f2, f3, f4 and f5 for one RAND (what milenage::compute_all() returns). */
struct milenage_keys {
    aka_res res{};  ///< RES / XRES (f2).
    aka_ck ck{};    ///< CK (f3).
    aka_ik ik{};    ///< IK (f4).
    aka_ak ak{};    ///< AK (f5).
};

/** Every Milenage output for one (RAND, SQN, AMF), as listed in the TS 35.207 test data. */
struct milenage_outputs {
    aka_mac mac_a{};   ///< f1: MAC-A.
    aka_mac mac_s{};   ///< f1*: MAC-S.
    aka_res res{};     ///< f2: RES.
    aka_ck ck{};       ///< f3: CK.
    aka_ik ik{};       ///< f4: IK.
    aka_ak ak{};       ///< f5: AK.
    aka_ak ak_star{};  ///< f5*: AK for resynchronisation.
};

/**
 * The Milenage algorithm set for one subscriber (K, OPc), TS 35.206 §4.
 *
 * One AES-128-ECB OpenSSL cipher context is created at construction and reused by every
 * function (and by set_keys()), so computing an authentication vector costs two
 * EVP_EncryptUpdate calls and no allocation. K and OPc are wiped on destruction and when
 * replaced (OpenSSL cleanses its key schedule when the context is freed or re-keyed).
 *
 * Movable, not copyable; a moved-from object may only be destroyed or assigned to. The
 * functions are non-const because they use the shared cipher context: one object must not be
 * used by two threads at once (use one object per thread). Distinct objects are independent.
 * OpenSSL failures (not expected) throw std::system_error with core::errc::crypto_failure.
 */
class IMSP2P_PANA_EXPORT milenage {
  public:
    /**
     * Prepares Milenage for a subscriber.
     * @param k the subscriber key K
     * @param opc the derived operator variant OPc (see compute_opc())
     * @throws std::system_error with core::errc::crypto_failure if OpenSSL fails
     */
    milenage(const aka_key& k, const aka_opc& opc);
    /** Takes over @p other, which becomes moved-from. @param other the source */
    milenage(milenage&& other) noexcept;
    /** Releases this context and takes over @p other. @param other the source @return *this */
    milenage& operator=(milenage&& other) noexcept;
    /** Wipes the keys and frees the cipher context. */
    ~milenage();
    milenage(const milenage&) = delete;             ///< Not copyable (holds OpenSSL state).
    milenage& operator=(const milenage&) = delete;  ///< Not copyable (holds OpenSSL state).

    /**
     * Computes OPc = OP xor E_K(OP) (TS 35.206 §4.1).
     * @param k the subscriber key
     * @param op the operator variant configuration field
     * @return OPc
     * @throws std::system_error with core::errc::crypto_failure if OpenSSL fails
     */
    static aka_opc compute_opc(const aka_key& k, const aka_op& op);

    /**
     * Switches to another subscriber, reusing the cipher context (no allocation): what an
     * HSS does for every request.
     * @param k the new subscriber key
     * @param opc the new OPc
     * @throws std::system_error with core::errc::crypto_failure if OpenSSL fails
     */
    void set_keys(const aka_key& k, const aka_opc& opc);

    /**
     * f1: the network authentication code MAC-A.
     * @param rand the challenge
     * @param sequence the sequence number SQN
     * @param amf the authentication management field
     * @return MAC-A
     */
    aka_mac f1(const aka_rand& rand, sqn sequence, const aka_amf& amf);
    /**
     * f1*: the resynchronisation code MAC-S.
     * @param rand the challenge
     * @param sequence the sequence number (SQN_MS in AUTS)
     * @param amf the AMF (resynchronisation_amf inside AUTS)
     * @return MAC-S
     */
    aka_mac f1star(const aka_rand& rand, sqn sequence, const aka_amf& amf);
    /** f2: the response RES. @param rand the challenge @return RES */
    aka_res f2(const aka_rand& rand);
    /** f3: the cipher key CK. @param rand the challenge @return CK */
    aka_ck f3(const aka_rand& rand);
    /** f4: the integrity key IK. @param rand the challenge @return IK */
    aka_ik f4(const aka_rand& rand);
    /** f5: the anonymity key AK. @param rand the challenge @return AK */
    aka_ak f5(const aka_rand& rand);
    /** f5*: the resynchronisation anonymity key AK*. @param rand the challenge @return AK* */
    aka_ak f5star(const aka_rand& rand);

    /**
     * f2, f3, f4 and f5 at once (one TEMP computation; what a USIM needs before it knows SQN).
     * @param rand the challenge
     * @return RES, CK, IK and AK
     */
    milenage_keys compute_all(const aka_rand& rand);

    /**
     * Every output at once: f1, f1*, f2, f3, f4, f5 and f5* for (RAND, SQN, AMF).
     * @param rand the challenge
     * @param sequence the sequence number
     * @param amf the authentication management field
     * @return all seven outputs
     */
    milenage_outputs compute(const aka_rand& rand, sqn sequence, const aka_amf& amf);

  private:
    struct impl;
    std::unique_ptr<impl> impl_;
};

}  // namespace imsp2p::pana
