// One-pass IMS registration: the PANA-Token proof of possession, the UE credentials that send
// it, and the S-CSCF authenticator that checks it against the HSS token store.

#include <imsp2p/sip/one_pass.hpp>

#include <imsp2p/pana/error.hpp>
#include <imsp2p/pana/token_store.hpp>

#include <imsp2p/core/encoding.hpp>
#include <imsp2p/core/identity.hpp>

#include <openssl/crypto.h>

#include <array>
#include <cctype>
#include <map>
#include <stdexcept>
#include <string_view>
#include <utility>

namespace imsp2p::sip {
namespace {

constexpr std::size_t max_credentials_size = 4096;

void wipe(std::string& text) {
    if (!text.empty()) {
        OPENSSL_cleanse(text.data(), text.size());
    }
    text.clear();
}

std::string quote(const std::string& value) {
    std::string out = "\"";
    for (char c : value) {
        if (c == '"' || c == '\\') {
            out += '\\';
        }
        out += c;
    }
    out += '"';
    return out;
}

bool iequals(std::string_view a, std::string_view b) {
    if (a.size() != b.size()) {
        return false;
    }
    for (std::size_t i = 0; i < a.size(); ++i) {
        if (std::tolower(static_cast<unsigned char>(a[i])) !=
            std::tolower(static_cast<unsigned char>(b[i]))) {
            return false;
        }
    }
    return true;
}

/**
 * Parses `PANA-Token name="value", name=token, ...` into lower-case names -> values. Returns
 * std::nullopt if the scheme is another one or the syntax is broken (duplicates included).
 */
std::optional<std::map<std::string, std::string>> parse_one_pass(std::string_view text) {
    if (text.size() > max_credentials_size) {
        return std::nullopt;
    }
    const std::string_view scheme(one_pass_scheme);
    if (text.size() <= scheme.size() || !iequals(text.substr(0, scheme.size()), scheme) ||
        (text[scheme.size()] != ' ' && text[scheme.size()] != '\t')) {
        return std::nullopt;
    }
    std::map<std::string, std::string> params;
    std::size_t i = scheme.size();
    const auto skip_space = [&] {
        while (i < text.size() && (text[i] == ' ' || text[i] == '\t')) {
            ++i;
        }
    };
    while (true) {
        skip_space();
        std::string name;
        while (i < text.size() && text[i] != '=' && text[i] != ',' && text[i] != ' ') {
            name += static_cast<char>(std::tolower(static_cast<unsigned char>(text[i])));
            ++i;
        }
        skip_space();
        if (name.empty() || i >= text.size() || text[i] != '=') {
            return std::nullopt;
        }
        ++i;
        skip_space();
        std::string value;
        if (i < text.size() && text[i] == '"') {
            ++i;
            bool closed = false;
            while (i < text.size()) {
                const char c = text[i++];
                if (c == '\\' && i < text.size()) {
                    value += text[i++];
                } else if (c == '"') {
                    closed = true;
                    break;
                } else {
                    value += c;
                }
            }
            if (!closed) {
                return std::nullopt;
            }
        } else {
            while (i < text.size() && text[i] != ',' && text[i] != ' ' && text[i] != '\t') {
                value += text[i++];
            }
        }
        if (!params.emplace(std::move(name), std::move(value)).second) {
            return std::nullopt;
        }
        skip_space();
        if (i == text.size()) {
            return params;
        }
        if (text[i] != ',') {
            return std::nullopt;
        }
        ++i;
    }
}

class one_pass_authenticator final : public authenticator {
  public:
    one_pass_authenticator(pana::token_store& store, std::unique_ptr<authenticator> fallback,
                           std::optional<one_pass_aib_settings> aib, core::logger log)
        : store_(store),
          fallback_(std::move(fallback)),
          aib_(std::move(aib)),
          log_(std::move(log)) {}

    auth_result authenticate(const auth_request& request) override {
        const std::string_view scheme(one_pass_scheme);
        if (request.credentials.size() < scheme.size() ||
            !iequals(std::string_view(request.credentials).substr(0, scheme.size()), scheme)) {
            return fallback_->authenticate(request);  // Digest or no credentials
        }
        const auto params = parse_one_pass(request.credentials);
        std::string reason;
        if (request.method != "REGISTER") {
            reason = "one-pass credentials on a request other than REGISTER";
        } else if (!params) {
            reason = "malformed PANA-Token credentials";
        } else {
            reason = check(request, *params);
        }
        if (!reason.empty()) {
            log_.info("one-pass registration refused, falling back to the challenge",
                      {{"reason", reason}, {"impu", request.public_identity}});
            auth_request without = request;
            without.credentials.clear();
            return fallback_->authenticate(without);
        }
        auth_result result;
        result.verdict = auth_result::outcome::authenticated;
        result.impi = core::impi::parse(params->at("username"));
        log_.info("one-pass registration accepted", {{"impi", result.impi.str()}});
        return result;
    }

  private:
    // Returns why the credentials are not accepted, or an empty string once the token is
    // consumed.
    std::string check(const auth_request& request,
                      const std::map<std::string, std::string>& params) {
        for (const char* name : {"username", "realm", "uri", "cnonce", "response"}) {
            if (params.find(name) == params.end()) {
                return std::string("missing parameter ") + name;
            }
        }
        if (params.at("realm") != request.realm) {
            return "realm differs";
        }
        if (params.at("uri") != request.request_uri) {
            return "uri differs from the Request-URI";
        }
        std::error_code ec;
        const core::impi impi = core::impi::parse(params.at("username"), ec);
        if (ec) {
            return "username is not an IMPI";
        }
        if (std::string reason = check_identity_body(request, impi); !reason.empty()) {
            return reason;
        }
        one_pass_proof_input input;
        input.method = request.method;
        input.request_uri = request.request_uri;
        input.impi = impi.str();
        input.realm = request.realm;
        input.cnonce = params.at("cnonce");
        const std::string& offered = params.at("response");
        store_.consume(
            impi,
            [&](core::byte_view token) {
                const std::string expected = compute_one_pass_proof(token, input);
                return core::constant_time_equal(core::as_bytes(expected), core::as_bytes(offered));
            },
            ec);
        if (ec) {
            return ec.message();
        }
        return {};
    }

    // Returns why the identity body is not accepted, or an empty string (valid, or absent and
    // not required).
    std::string check_identity_body(const auth_request& request, const core::impi& impi) const {
        if (!aib_) {
            return {};
        }
        const bool present =
            !request.body.empty() && iequals(request.content_type, "application/pkcs7-mime");
        if (!present) {
            return aib_->when == one_pass_aib_settings::policy::required
                       ? "identity body required but absent"
                       : std::string();
        }
        identity_body_expectation expected;
        expected.impi = impi.str();
        expected.request.method = request.method;
        expected.request.request_uri = request.request_uri;
        expected.request.from_uri = request.from_uri;
        expected.request.to_uri = request.to_uri;
        expected.request.call_id = request.call_id;
        expected.request.cseq = request.cseq;
        expected.window = aib_->window;
        std::error_code ec;
        if (!verify_identity_body(request.body, aib_->anchors, expected, ec)) {
            return "identity body: " + ec.message();
        }
        return {};
    }

    pana::token_store& store_;
    std::unique_ptr<authenticator> fallback_;
    std::optional<one_pass_aib_settings> aib_;
    core::logger log_;
};

}  // namespace

std::string compute_one_pass_proof(core::byte_view token, const one_pass_proof_input& input) {
    std::string message(one_pass_scheme);
    for (const std::string* field :
         {&input.method, &input.request_uri, &input.impi, &input.realm, &input.cnonce}) {
        message += '\n';
        message += *field;
    }
    const auto mac = core::hmac_sha256(token, core::as_bytes(message));
    return core::base64url_encode(mac);
}

std::string make_one_pass_authorization(core::byte_view token, const std::string& impi,
                                        const std::string& realm, const std::string& method,
                                        const std::string& request_uri) {
    one_pass_proof_input input;
    input.method = method;
    input.request_uri = request_uri;
    input.impi = impi;
    input.realm = realm;
    input.cnonce = core::base64url_encode(core::random_bytes(12));
    const std::string proof = compute_one_pass_proof(token, input);
    return std::string(one_pass_scheme) + " username=" + quote(impi) + ", realm=" + quote(realm) +
           ", uri=" + quote(request_uri) + ", cnonce=" + quote(input.cnonce) +
           ", response=" + quote(proof);
}

initial_authorization_provider::~initial_authorization_provider() = default;

one_pass_credentials::one_pass_credentials(std::string impi, std::string realm,
                                           core::byte_view token,
                                           std::shared_ptr<credentials_provider> fallback)
    : impi_(std::move(impi)),
      realm_(std::move(realm)),
      token_(token),
      fallback_(std::move(fallback)) {}

one_pass_credentials::~one_pass_credentials() = default;

std::optional<std::string> one_pass_credentials::initial_authorization(
    const initial_request& request) {
    std::lock_guard lock(mutex_);
    if (used_ || request.method != "REGISTER" || token_.empty()) {
        return std::nullopt;
    }
    used_ = true;
    std::string value = make_one_pass_authorization(token_.view(), impi_, realm_, request.method,
                                                    request.request_uri);
    token_ = core::secret_bytes();
    return value;
}

std::optional<initial_credentials> initial_authorization_provider::initial_credentials_for(
    const initial_request& request) {
    auto authorization = initial_authorization(request);
    if (!authorization) {
        return std::nullopt;
    }
    initial_credentials out;
    out.authorization = std::move(*authorization);
    return out;
}

void one_pass_credentials::attach_identity_body(std::string certificate_pem,
                                                std::string private_key_pem) {
    std::lock_guard lock(mutex_);
    aib_certificate_pem_ = std::move(certificate_pem);
    aib_private_key_pem_ = core::secret_bytes(core::as_bytes(private_key_pem));
    wipe(private_key_pem);
}

std::optional<initial_credentials> one_pass_credentials::initial_credentials_for(
    const initial_request& request) {
    auto authorization = initial_authorization(request);
    if (!authorization) {
        return std::nullopt;
    }
    initial_credentials out;
    out.authorization = std::move(*authorization);
    std::string certificate_pem;
    std::string key_pem;
    {
        std::lock_guard lock(mutex_);
        certificate_pem = aib_certificate_pem_;
        key_pem.assign(reinterpret_cast<const char*>(aib_private_key_pem_.data()),
                       aib_private_key_pem_.size());
    }
    if (certificate_pem.empty()) {
        return out;
    }
    identity_body_request fields;
    fields.method = request.method;
    fields.request_uri = request.request_uri;
    fields.from_uri = request.from_uri;
    fields.to_uri = request.to_uri;
    fields.call_id = request.call_id;
    fields.cseq = request.cseq;
    fields.contact = request.contact;
    std::error_code ec;
    std::string body = make_identity_body(fields, certificate_pem, key_pem, ec);
    wipe(key_pem);
    if (!ec) {
        out.content_type = identity_body_content_type;
        out.body = std::move(body);
    }
    return out;
}

std::optional<auth_credentials> one_pass_credentials::answer(const auth_challenge& challenge) {
    std::shared_ptr<credentials_provider> fallback;
    {
        std::lock_guard lock(mutex_);
        ++challenges_;
        fallback = fallback_;
    }
    if (!fallback) {
        return std::nullopt;
    }
    return fallback->answer(challenge);
}

bool one_pass_credentials::token_used() const {
    std::lock_guard lock(mutex_);
    return used_;
}

std::size_t one_pass_credentials::challenges_answered() const {
    std::lock_guard lock(mutex_);
    return challenges_;
}

std::unique_ptr<authenticator> make_one_pass_authenticator(pana::token_store& store,
                                                           std::unique_ptr<authenticator> fallback,
                                                           core::logger log) {
    if (!fallback) {
        throw std::invalid_argument("make_one_pass_authenticator needs a fallback authenticator");
    }
    return std::make_unique<one_pass_authenticator>(store, std::move(fallback), std::nullopt,
                                                    std::move(log));
}

std::unique_ptr<authenticator> make_one_pass_authenticator(pana::token_store& store,
                                                           std::unique_ptr<authenticator> fallback,
                                                           one_pass_aib_settings aib,
                                                           core::logger log) {
    if (!fallback) {
        throw std::invalid_argument("make_one_pass_authenticator needs a fallback authenticator");
    }
    return std::make_unique<one_pass_authenticator>(store, std::move(fallback), std::move(aib),
                                                    std::move(log));
}

}  // namespace imsp2p::sip
