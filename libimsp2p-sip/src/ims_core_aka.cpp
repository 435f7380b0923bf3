// The Digest AKA (AKAv1-MD5) authenticator of the development IMS core: challenges from HSS
// vectors, RES verification, AUTS resynchronisation, single-use nonces; users not provisioned
// for AKA go to a fallback (MD5) authenticator.

#include <imsp2p/sip/ims_core.hpp>

#include <imsp2p/pana/digest.hpp>
#include <imsp2p/pana/digest_aka.hpp>
#include <imsp2p/pana/error.hpp>
#include <imsp2p/pana/hss.hpp>

#include <deque>
#include <map>
#include <set>

namespace imsp2p::sip {

namespace {

constexpr std::size_t max_pending = 4096;   // Outstanding challenges kept at most.
constexpr std::size_t max_consumed = 4096;  // Answered nonces remembered to refuse replays.

class digest_aka_authenticator final : public authenticator {
  public:
    digest_aka_authenticator(pana::subscriber_store& store, subscriber_registry& registry,
                             std::chrono::seconds lifetime, std::unique_ptr<authenticator> fallback)
        : store_(store),
          registry_(registry),
          hss_(store),
          lifetime_(lifetime),
          fallback_(std::move(fallback)) {}

    auth_result authenticate(const auth_request& request) override {
        purge_expired();
        std::error_code ec;
        if (request.credentials.empty()) {
            const auto impi = impi_of(request.public_identity);
            if (!impi || !is_aka_subscriber(*impi)) {
                return delegate(request);
            }
            return challenge(*impi, request.realm);
        }
        std::string detail;
        const pana::digest_credentials credentials =
            pana::digest_credentials::parse(request.credentials, ec, detail);
        if (ec) {
            return reject("Bad credentials: " + detail);
        }
        const core::impi impi = core::impi::parse(credentials.username, ec);
        if (ec) {
            return reject("Bad username: not an IMPI");
        }
        if (!is_aka_subscriber(impi)) {
            return delegate(request);
        }
        const auto algorithm = pana::digest_algorithm_from_name(credentials.algorithm.value_or(""));
        if (!algorithm || *algorithm != pana::digest_algorithm::akav1_md5) {
            return challenge(impi, request.realm);  // An AKA subscriber: no downgrade to MD5.
        }
        const auto found = pending_.find(credentials.nonce);
        if (found == pending_.end()) {
            if (consumed_set_.count(credentials.nonce) != 0) {
                return reject("Nonce already used");
            }
            return challenge(impi, request.realm);  // Unknown or lapsed nonce.
        }
        // One answer per nonce: the challenge is forgotten whatever the outcome.
        pana::aka_server_challenge server = std::move(found->second.server);
        pending_.erase(found);
        consume(credentials.nonce);
        const pana::digest_request digest{request.method, credentials.uri,
                                          core::as_bytes(request.body)};
        const pana::aka_verification verification = server.verify(credentials, digest, ec);
        if (ec == pana::errc::digest_response_mismatch) {
            return reject("Authentication failed");
        }
        if (ec) {
            return reject("Bad credentials: " + ec.message());
        }
        if (verification.verdict == pana::aka_verdict::resynchronise) {
            hss_.resynchronise(impi, verification.rand, *verification.auts, ec);
            if (ec) {
                return reject("Resynchronisation failed");
            }
            return challenge(impi, request.realm);
        }
        auth_result result;
        result.verdict = auth_result::outcome::authenticated;
        result.impi = impi;
        return result;
    }

  private:
    struct pending {
        pana::aka_server_challenge server;
        std::chrono::steady_clock::time_point issued;
    };

    std::optional<core::impi> impi_of(const std::string& public_identity) {
        std::error_code ec;
        const core::impu impu = core::impu::parse(public_identity, ec);
        if (ec) {
            return std::nullopt;
        }
        const auto user = registry_.find(impu, ec);
        if (ec || !user) {
            return std::nullopt;
        }
        return user->impi;
    }

    bool is_aka_subscriber(const core::impi& impi) {
        std::error_code ec;
        (void)store_.find(impi, ec);
        return !ec;
    }

    auth_result delegate(const auth_request& request) {
        if (fallback_) {
            return fallback_->authenticate(request);
        }
        return reject("Unknown user");
    }

    auth_result challenge(const core::impi& impi, const std::string& realm) {
        std::error_code ec;
        const pana::authentication_vector vector = hss_.generate_vector(impi, ec);
        if (ec) {
            return reject("No authentication vector");
        }
        pana::aka_server_challenge server(vector, impi.str(), realm);
        auth_result result;
        result.verdict = auth_result::outcome::challenge;
        result.challenge = server.challenge().to_string();
        if (pending_.size() >= max_pending) {
            pending_.erase(oldest_pending());
        }
        std::string nonce = server.challenge().nonce;
        pending_.insert_or_assign(std::move(nonce),
                                  pending{std::move(server), std::chrono::steady_clock::now()});
        return result;
    }

    std::map<std::string, pending>::iterator oldest_pending() {
        auto oldest = pending_.begin();
        for (auto it = pending_.begin(); it != pending_.end(); ++it) {
            if (it->second.issued < oldest->second.issued) {
                oldest = it;
            }
        }
        return oldest;
    }

    void purge_expired() {
        const auto now = std::chrono::steady_clock::now();
        for (auto it = pending_.begin(); it != pending_.end();) {
            if (now - it->second.issued > lifetime_) {
                it = pending_.erase(it);
            } else {
                ++it;
            }
        }
    }

    void consume(const std::string& nonce) {
        if (consumed_set_.insert(nonce).second) {
            consumed_order_.push_back(nonce);
        }
        while (consumed_order_.size() > max_consumed) {
            consumed_set_.erase(consumed_order_.front());
            consumed_order_.pop_front();
        }
    }

    static auth_result reject(std::string reason) {
        auth_result result;
        result.verdict = auth_result::outcome::rejected;
        result.reason = std::move(reason);
        return result;
    }

    pana::subscriber_store& store_;
    subscriber_registry& registry_;
    pana::hss hss_;
    std::chrono::seconds lifetime_;
    std::unique_ptr<authenticator> fallback_;
    std::map<std::string, pending> pending_;
    std::set<std::string> consumed_set_;
    std::deque<std::string> consumed_order_;
};

}  // namespace

std::unique_ptr<authenticator> make_digest_aka_authenticator(
    pana::subscriber_store& store, subscriber_registry& registry,
    std::chrono::seconds nonce_lifetime, std::unique_ptr<authenticator> fallback) {
    return std::make_unique<digest_aka_authenticator>(store, registry, nonce_lifetime,
                                                      std::move(fallback));
}

}  // namespace imsp2p::sip
