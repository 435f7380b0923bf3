// The user agent's Digest AKA credentials provider: a software USIM on AKAv1-MD5 nonces.

#include <imsp2p/sip/aka_credentials.hpp>

#include <imsp2p/pana/digest.hpp>
#include <imsp2p/pana/error.hpp>

namespace imsp2p::sip {

aka_credentials::aka_credentials(pana::usim card, std::filesystem::path profile_file,
                                 core::logger log)
    : card_(std::move(card)), profile_file_(std::move(profile_file)), log_(std::move(log)) {}

std::optional<auth_credentials> aka_credentials::answer(const auth_challenge& challenge) {
    const auto algorithm = pana::digest_algorithm_from_name(challenge.algorithm);
    if (!algorithm || *algorithm != pana::digest_algorithm::akav1_md5) {
        return std::nullopt;
    }
    std::error_code ec;
    const pana::aka_nonce nonce = pana::aka_nonce::decode(challenge.nonce, ec);
    if (ec) {
        log_.warning("unusable AKA nonce", {{"error", ec.message()}});
        return std::nullopt;
    }
    const std::lock_guard lock(mutex_);
    if (card_.profile().impi.str().empty()) {
        return std::nullopt;
    }
    auth_credentials credentials;
    credentials.username = card_.profile().impi.str();
    const pana::aka_result result = card_.authenticate(nonce.rand, nonce.autn, ec);
    if (ec == pana::errc::mac_failure) {
        log_.warning("network authentication failed (MAC-A)", {{"realm", challenge.realm}});
        return credentials;  // Empty password, no AUTS: the registrar answers 403.
    }
    if (ec) {
        log_.warning("USIM failed", {{"error", ec.message()}});
        return std::nullopt;
    }
    if (result.status == pana::aka_status::synchronisation_failure) {
        credentials.auts.assign(result.auts.begin(), result.auts.end());
        return credentials;
    }
    credentials.secret.assign(result.res.begin(), result.res.end());
    keys_.emplace();
    keys_->rand = nonce.rand;
    keys_->ck = result.ck;
    keys_->ik = result.ik;
    if (!profile_file_.empty()) {
        card_.save(profile_file_, ec);
        if (ec) {
            log_.warning("cannot save the USIM profile", {{"error", ec.message()}});
        }
    }
    return credentials;
}

pana::usim_profile aka_credentials::profile() const {
    const std::lock_guard lock(mutex_);
    return card_.profile();
}

std::optional<aka_session_keys> aka_credentials::session_keys() const {
    const std::lock_guard lock(mutex_);
    return keys_;
}

}  // namespace imsp2p::sip
