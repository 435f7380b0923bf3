/**
 * @file
 * User side of 3GPP AKA: a software USIM (TS 33.102 §6.3.3) with Annex C sequence number
 * checking, and its profile file.
 *
 * The profile (IMPI, K, OPc and the SQN state) is kept as a JSON file with owner-only (0600)
 * permissions, written atomically (temporary file in the same folder, fsync, rename) so that a
 * crash never leaves a half-written profile and the SQN state is never rolled back partially.
 * File format (version 1):
 * `{"format":"imsp2p-usim","version":1,"impi":"user@realm","k":"<32 hex>","opc":"<32 hex>",
 *   "sqn":{"ind_bits":5,"delta":N,"age_limit":N,"highest":N,"seq_ms":[N, ...]}}`.
 */
#pragma once

#include <imsp2p/pana/export.hpp>
#include <imsp2p/pana/milenage.hpp>
#include <imsp2p/pana/sequence.hpp>

#include <imsp2p/core/identity.hpp>

#include <filesystem>
#include <string>
#include <system_error>

namespace imsp2p::pana {

/**
 * What a USIM stores: identity, keys and the SQN window. A value type; K and OPc are wiped
 * when it is destroyed.
 */
struct usim_profile {
    core::impi impi;    ///< The private user identity (may be empty).
    aka_key k{};        ///< The subscriber key K. Secret.
    aka_opc opc{};      ///< OPc. Secret.
    sqn_window window;  ///< SEQ_MS array and limits.

    /** Wipes K and OPc. */
    ~usim_profile() {
        wipe(k);
        wipe(opc);
    }
};

/** The outcome of a successful run of the USIM's AKA (a MAC failure is an error instead). */
enum class aka_status {
    authenticated,            ///< AUTN verified and fresh: RES, CK and IK are valid.
    synchronisation_failure,  ///< AUTN genuine but SQN not fresh: AUTS is valid.
};

/** The result of usim::authenticate(). RES, CK and IK are wiped when it is destroyed. */
struct aka_result {
    aka_status status = aka_status::authenticated;  ///< Which fields below are valid.
    aka_res res{};    ///< RES (authenticated only). Secret until sent.
    aka_ck ck{};      ///< CK (authenticated only). Secret.
    aka_ik ik{};      ///< IK (authenticated only). Secret.
    aka_auts auts{};  ///< AUTS (synchronisation_failure only).
    sqn received;     ///< The SQN recovered from AUTN.

    /** Wipes RES, CK and IK. */
    ~aka_result() {
        wipe(res);
        wipe(ck);
        wipe(ik);
    }
};

/**
 * A software USIM: verifies AUTN and answers with RES/CK/IK or AUTS.
 *
 * Holds a Milenage context keyed with the profile's K and OPc. Movable, not copyable; not safe
 * for concurrent use of one object. The SQN window changes only in memory: call save() after
 * authenticate() to persist it (otherwise a restart would accept a replay of the last AUTN).
 */
class IMSP2P_PANA_EXPORT usim {
  public:
    /**
     * Creates a USIM from a profile.
     * @param profile identity, keys and SQN state (copied)
     * @throws std::system_error with core::errc::crypto_failure if OpenSSL fails
     */
    explicit usim(const usim_profile& profile);

    /**
     * Verifies a challenge (TS 33.102 §6.3.3): AK = f5(RAND), SQN = (SQN xor AK) xor AK, then
     * MAC-A against f1(RAND, SQN, AMF); then SQN freshness (sqn_window). On success the SQN is
     * recorded and RES = f2, CK = f3, IK = f4 are returned; on a freshness failure AUTS =
     * (SQN_MS xor f5*(RAND)) || f1*(RAND, SQN_MS, AMF 0000) is returned and nothing changes.
     * @param rand the challenge
     * @param autn the network authentication token
     * @param ec errc::mac_failure if MAC-A is wrong (the network is not genuine; nothing
     *        changes); cleared otherwise
     * @return the result (status tells which fields are valid)
     */
    aka_result authenticate(const aka_rand& rand, const aka_autn& autn, std::error_code& ec);
    /**
     * Throwing form of authenticate().
     * @param rand the challenge
     * @param autn the token
     * @return the result (a synchronisation failure is a result, not an exception)
     * @throws std::system_error with errc::mac_failure
     */
    aka_result authenticate(const aka_rand& rand, const aka_autn& autn);

    /** @return the profile with the current SQN window */
    const usim_profile& profile() const noexcept { return profile_; }

    /**
     * Loads a profile file (see the file comment for the format).
     * @param file the profile
     * @param ec core::errc::not_found, core::errc::insecure_permissions (group or others may
     *        access it), core::errc::io_error, errc::bad_usim_profile (malformed content)
     * @return the USIM (keys zero on error)
     */
    static usim load(const std::filesystem::path& file, std::error_code& ec);
    /**
     * Throwing form of load().
     * @param file the profile
     * @return the USIM
     * @throws std::system_error with the codes of the std::error_code overload
     */
    static usim load(const std::filesystem::path& file);

    /**
     * Saves the profile atomically with permissions 0600, creating missing folders (0700).
     * @param file the profile
     * @param ec core::errc::io_error (the previous file, if any, is kept); cleared on success
     */
    void save(const std::filesystem::path& file, std::error_code& ec) const;
    /** Throwing form of save(). @param file the profile @throws std::system_error */
    void save(const std::filesystem::path& file) const;

    /**
     * @param data_directory a client's data directory
     * @return the conventional profile path in it, `<data_directory>/usim.json`
     */
    static std::filesystem::path profile_path(const std::filesystem::path& data_directory);

    /**
     * Serialises a profile to its JSON text (contains K and OPc: wipe it after use).
     * @param profile the profile
     * @return the JSON text
     */
    static std::string to_json(const usim_profile& profile);
    /**
     * Parses the JSON text of a profile.
     * @param text the JSON text
     * @param ec errc::bad_usim_profile with no detail about the keys; cleared on success
     * @return the profile (keys zero on error)
     */
    static usim_profile from_json(std::string_view text, std::error_code& ec);

  private:
    usim_profile profile_;
    milenage algorithms_;
};

}  // namespace imsp2p::pana
