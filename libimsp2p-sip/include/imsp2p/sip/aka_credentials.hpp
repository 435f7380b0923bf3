/**
 * @file
 * The Digest AKA credentials provider of the user agent: a software USIM answers AKAv1-MD5
 * challenges (RFC 3310, TS 24.229 §5.1.1.5) during IMS registration.
 */
#pragma once

#include <imsp2p/sip/export.hpp>
#include <imsp2p/sip/user_agent.hpp>

#include <imsp2p/pana/usim.hpp>

#include <imsp2p/core/log.hpp>

#include <filesystem>
#include <mutex>
#include <optional>

namespace imsp2p::sip {

/**
 * The cipher and integrity keys of the last successful AKA run (TS 33.102 §6.3.3), for a
 * future IPsec or TLS security association (TS 33.203). Secret: wiped when destroyed.
 */
struct aka_session_keys {
    pana::aka_rand rand{};  ///< The RAND of the challenge the keys were derived from.
    pana::aka_ck ck{};      ///< CK (f3). Secret.
    pana::aka_ik ik{};      ///< IK (f4). Secret.

    /** Wipes CK and IK. */
    ~aka_session_keys() {
        pana::wipe(ck);
        pana::wipe(ik);
    }
};

/**
 * A credentials_provider that runs a pana::usim on AKAv1-MD5 challenges: the nonce is decoded
 * as base64(RAND || AUTN [|| server data]) and given to the USIM, then
 * - AUTN genuine and fresh: the user name is the profile's IMPI and the password the raw RES
 *   bytes; the SQN window advances (and is saved to the profile file when one is set);
 * - AUTN genuine but its SQN not fresh: AUTS is returned with an empty password (RFC 3310
 *   §3.4), so the registrar resynchronises its HSS and challenges again;
 * - MAC-A wrong (the network is not genuine): nothing derived from the keys is sent: the
 *   answer has an empty password and no AUTS, which the registrar refuses (403), as TS 24.229
 *   has a UE answer a network authentication failure; the SQN window is unchanged.
 *
 * Other algorithms (MD5, AKAv2-MD5), a malformed nonce or a profile without IMPI are not
 * answered (std::nullopt). Thread-safe: answer() runs on the user agent's stack thread while
 * profile() may be called from any thread.
 */
class IMSP2P_SIP_EXPORT aka_credentials final : public credentials_provider {
  public:
    /**
     * @param card the USIM (taken over)
     * @param profile_file where to save the profile after each successful authentication (so
     *        the SQN window survives a restart, see pana::usim::save()); empty: never saved
     * @param log where to log (refused networks, save failures); keys are never logged
     */
    explicit aka_credentials(pana::usim card, std::filesystem::path profile_file = {},
                             core::logger log = core::logger("aka-credentials"));
    /**
     * Answers an AKAv1-MD5 challenge with the USIM (see the class comment).
     * @param challenge the challenge
     * @return RES as the password, AUTS with an empty password, an empty password alone after
     *         a MAC failure, or std::nullopt when the challenge is not for this provider
     */
    std::optional<auth_credentials> answer(const auth_challenge& challenge) override;
    /** @return a copy of the USIM's profile with its current SQN window (contains K and OPc) */
    [[nodiscard]] pana::usim_profile profile() const;
    /**
     * @return a copy of CK and IK from the last challenge the USIM accepted (RES sent), or
     *         std::nullopt before any; callable from any thread
     */
    [[nodiscard]] std::optional<aka_session_keys> session_keys() const;

  private:
    mutable std::mutex mutex_;
    pana::usim card_;
    std::filesystem::path profile_file_;
    core::logger log_;
    std::optional<aka_session_keys> keys_;
};

}  // namespace imsp2p::sip
