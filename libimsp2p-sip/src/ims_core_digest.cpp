// The Digest MD5 authenticator of the development IMS core: stateless HMAC nonces, responses
// checked against the stored HA1 (the password is never known to the core).

#include <imsp2p/sip/ims_core.hpp>

#include <imsp2p/pana/digest.hpp>

#include <imsp2p/core/bytes.hpp>
#include <imsp2p/core/crypto.hpp>
#include <imsp2p/core/encoding.hpp>

#include "ims_md5.hpp"

#include <cstring>

namespace imsp2p::sip {

authenticator::~authenticator() = default;

namespace {

constexpr std::size_t nonce_mac_size = 12;

class digest_md5_authenticator final : public authenticator {
  public:
    digest_md5_authenticator(subscriber_registry& registry, std::chrono::seconds lifetime)
        : registry_(registry), lifetime_(lifetime), secret_(core::random_bytes(32)) {}

    auth_result authenticate(const auth_request& request) override {
        if (request.credentials.empty()) {
            return challenge(request.realm, false);
        }
        std::error_code ec;
        std::string detail;
        const pana::digest_credentials credentials =
            pana::digest_credentials::parse(request.credentials, ec, detail);
        if (ec) {
            return reject("Bad credentials: " + detail);
        }
        const auto algorithm = pana::digest_algorithm_from_name(credentials.algorithm.value_or(""));
        if (!algorithm || *algorithm != pana::digest_algorithm::md5) {
            // Another algorithm (e.g. AKAv1-MD5 before AKA is configured): offer MD5.
            return challenge(request.realm, false);
        }
        const core::impi impi = core::impi::parse(credentials.username, ec);
        if (ec) {
            return reject("Bad username: not an IMPI");
        }
        const auto subscribers = registry_.find_by_impi(impi, ec);
        if (ec || subscribers.empty()) {
            return reject("Unknown user");
        }
        const subscriber& user = subscribers.front();
        if (credentials.realm != user.realm) {
            return challenge(user.realm, false);
        }
        const nonce_check freshness = check_nonce(credentials.nonce);
        if (freshness == nonce_check::invalid) {
            return challenge(user.realm, false);
        }
        const std::string ha2 = detail::md5_hex(request.method + ":" + credentials.uri);
        std::string expected;
        if (credentials.qop) {
            if (*credentials.qop != "auth" || !credentials.cnonce || !credentials.nonce_count) {
                return reject("Unsupported qop");
            }
            char nc[9];
            std::snprintf(nc, sizeof nc, "%08x", static_cast<unsigned>(*credentials.nonce_count));
            expected = detail::md5_hex(user.ha1 + ":" + credentials.nonce + ":" + nc + ":" +
                                       *credentials.cnonce + ":auth:" + ha2);
        } else {
            expected = detail::md5_hex(user.ha1 + ":" + credentials.nonce + ":" + ha2);
        }
        if (!equal_lowercase(expected, credentials.response)) {
            return reject("Authentication failed");
        }
        if (freshness == nonce_check::stale) {
            return challenge(user.realm, true);
        }
        auth_result result;
        result.verdict = auth_result::outcome::authenticated;
        result.impi = impi;
        return result;
    }

  private:
    enum class nonce_check { fresh, stale, invalid };

    static bool equal_lowercase(const std::string& expected, const std::string& given) {
        if (expected.size() != given.size()) {
            return false;
        }
        unsigned char difference = 0;
        for (std::size_t i = 0; i < expected.size(); ++i) {
            char c = given[i];
            if (c >= 'A' && c <= 'F') {
                c = static_cast<char>(c - 'A' + 'a');
            }
            difference |= static_cast<unsigned char>(expected[i] ^ c);
        }
        return difference == 0;
    }

    std::string make_nonce() const {
        const auto now = std::chrono::duration_cast<std::chrono::seconds>(
                             std::chrono::system_clock::now().time_since_epoch())
                             .count();
        core::byte_vector data(16);
        for (int i = 0; i < 8; ++i) {
            data[static_cast<std::size_t>(i)] =
                static_cast<std::uint8_t>(static_cast<std::uint64_t>(now) >> (56 - 8 * i));
        }
        const auto random = core::random_bytes(8);
        std::memcpy(data.data() + 8, random.data(), 8);
        const auto mac = core::hmac_sha256(secret_, data);
        data.insert(data.end(), mac.begin(), mac.begin() + nonce_mac_size);
        return core::to_hex(data);
    }

    nonce_check check_nonce(const std::string& nonce) const {
        std::error_code ec;
        const core::byte_vector data = core::from_hex(nonce, ec);
        if (ec || data.size() != 16 + nonce_mac_size) {
            return nonce_check::invalid;
        }
        const auto mac = core::hmac_sha256(secret_, core::byte_view(data.data(), 16));
        unsigned char difference = 0;
        for (std::size_t i = 0; i < nonce_mac_size; ++i) {
            difference |= static_cast<unsigned char>(mac[i] ^ data[16 + i]);
        }
        if (difference != 0) {
            return nonce_check::invalid;
        }
        std::uint64_t issued = 0;
        for (std::size_t i = 0; i < 8; ++i) {
            issued = (issued << 8) | data[i];
        }
        const auto now = std::chrono::duration_cast<std::chrono::seconds>(
                             std::chrono::system_clock::now().time_since_epoch())
                             .count();
        const auto age = now - static_cast<std::int64_t>(issued);
        return age < 0 || age > lifetime_.count() ? nonce_check::stale : nonce_check::fresh;
    }

    auth_result challenge(const std::string& realm, bool stale) const {
        pana::digest_challenge value;
        value.realm = realm;
        value.nonce = make_nonce();
        value.algorithm = "MD5";
        value.qop = {"auth"};
        value.stale = stale;
        auth_result result;
        result.verdict = auth_result::outcome::challenge;
        result.challenge = value.to_string();
        return result;
    }

    static auth_result reject(std::string reason) {
        auth_result result;
        result.verdict = auth_result::outcome::rejected;
        result.reason = std::move(reason);
        return result;
    }

    subscriber_registry& registry_;
    std::chrono::seconds lifetime_;
    core::byte_vector secret_;
};

}  // namespace

std::unique_ptr<authenticator> make_digest_md5_authenticator(subscriber_registry& registry,
                                                             std::chrono::seconds nonce_lifetime) {
    return std::make_unique<digest_md5_authenticator>(registry, nonce_lifetime);
}

}  // namespace imsp2p::sip
