#include <imsp2p/sip/gateways.hpp>

#include <imsp2p/sip/error.hpp>

#include <imsp2p/core/encoding.hpp>

#include <imsp2p_internal/http_client.hpp>

#include <map>
#include <mutex>
#include <utility>

namespace imsp2p::sip {

drm_gateway::~drm_gateway() = default;
tracker_gateway::~tracker_gateway() = default;
index_gateway::~index_gateway() = default;

namespace {

std::string percent_encode(std::string_view text) {
    static constexpr char digits[] = "0123456789ABCDEF";
    std::string out;
    for (const char c : text) {
        const auto byte = static_cast<unsigned char>(c);
        if ((byte >= 'A' && byte <= 'Z') || (byte >= 'a' && byte <= 'z') ||
            (byte >= '0' && byte <= '9') || byte == '-' || byte == '.' || byte == '_' ||
            byte == '~') {
            out += c;
        } else {
            out += '%';
            out += digits[byte >> 4U];
            out += digits[byte & 15U];
        }
    }
    return out;
}

}  // namespace

std::string doi_path_segment(const core::doi& doi) {
    return percent_encode(doi.str());
}

// ---------------------------------------------------------------------------------------------
// service tokens

struct service_token_source::state {
    state(core::ticket_issuer signer, std::string sub, std::chrono::seconds life)
        : issuer(std::move(signer)), subject(std::move(sub)), lifetime(life) {}
    core::ticket_issuer issuer;
    std::string subject;
    std::chrono::seconds lifetime;
    std::mutex mutex;
    struct cached {
        std::string token;
        std::chrono::system_clock::time_point refresh_at;
    };
    std::map<std::string, cached, std::less<>> tokens;
};

service_token_source::service_token_source(core::ticket_issuer issuer, std::string subject,
                                           std::chrono::seconds lifetime)
    : impl_(std::make_unique<state>(std::move(issuer), std::move(subject), lifetime)) {}

service_token_source::~service_token_source() = default;

std::string service_token_source::token(std::string_view audience, std::error_code& ec) {
    ec.clear();
    const auto now = std::chrono::system_clock::now();
    std::lock_guard lock(impl_->mutex);
    if (const auto it = impl_->tokens.find(audience);
        it != impl_->tokens.end() && now < it->second.refresh_at) {
        return it->second.token;
    }
    core::ticket_claims claims;
    claims.subject = impl_->subject;
    claims.audience = std::string(audience);
    claims.issued_at = std::chrono::time_point_cast<std::chrono::seconds>(now);
    claims.expires_at = claims.issued_at + impl_->lifetime;
    claims.role = core::ticket_role::service;
    auto token = impl_->issuer.issue(claims, ec);
    if (ec) {
        return {};
    }
    impl_->tokens[std::string(audience)] = {token, now + impl_->lifetime * 2 / 3};
    return token;
}

namespace {

namespace http = imsp2p::internal::http;
using verb = boost::beast::http::verb;

std::string trim_slash(std::string url) {
    while (!url.empty() && url.back() == '/') {
        url.pop_back();
    }
    return url;
}

/** One JSON call with the error contract of gateways.hpp. */
http::client_response call(const http_gateway_options& options, http::connection_pool& pool,
                           service_token_source& tokens, std::string_view audience, verb method,
                           const std::string& path, const nlohmann::json* body, std::error_code& ec,
                           std::string* detail) {
    http::client_request request;
    request.method = method;
    request.url = trim_slash(options.base_url) + path;
    request.timeout = options.timeout;
    request.bearer_token = tokens.token(audience, ec);
    if (ec) {
        if (detail != nullptr) {
            *detail = "cannot sign a service JWT: " + ec.message();
        }
        ec = errc::dependency_refused;
        return {};
    }
    if (body != nullptr) {
        request.content_type = "application/json";
        request.body = body->dump();
    }
    request.max_response_body = 4 << 20;
    std::error_code transport;
    auto response = pool.perform(request, transport);
    if (transport) {
        ec = errc::dependency_unavailable;
        if (detail != nullptr) {
            *detail = std::string(audience) + " unreachable: " + transport.message();
        }
        return response;
    }
    if (response.status >= 200 && response.status < 300) {
        ec.clear();
        return response;
    }
    if (response.status >= 500 || response.status == 429) {
        ec = errc::dependency_unavailable;
    } else if (response.status == 409) {
        ec = errc::conflict;
    } else {
        ec = errc::dependency_refused;
    }
    if (detail != nullptr) {
        std::string explanation;
        const auto problem = nlohmann::json::parse(response.body, nullptr, false);
        if (problem.is_object()) {
            explanation = problem.value("detail", problem.value("title", std::string()));
        }
        *detail = std::string(audience) + " answered " + std::to_string(response.status) +
                  (explanation.empty() ? std::string() : ": " + explanation);
    }
    return response;
}

nlohmann::json json_of(const http::client_response& response, std::error_code& ec,
                       std::string* detail, std::string_view what) {
    auto parsed = nlohmann::json::parse(response.body, nullptr, false);
    if (!parsed.is_object()) {
        ec = errc::dependency_refused;
        if (detail != nullptr) {
            *detail = std::string(what) + ": the answer is not a JSON object";
        }
        return {};
    }
    return parsed;
}

class http_drm final : public drm_gateway {
  public:
    http_drm(http_gateway_options options, std::shared_ptr<service_token_source> tokens)
        : options_(std::move(options)), tokens_(std::move(tokens)) {}

    void register_content(const drm_content_registration& registration, std::error_code& ec,
                          std::string* detail) override {
        const nlohmann::json body = {{"doi", registration.doi.str()},
                                     {"kid", registration.kid},
                                     {"cek", registration.cek_jwe},
                                     {"metadata", registration.metadata}};
        call(options_, *pool_, *tokens_, "drm", verb::post, "/v1/contents", &body, ec, detail);
    }

    void set_content_active(const core::doi& doi, bool active, std::error_code& ec,
                            std::string* detail) override {
        const nlohmann::json body = {{"state", active ? "active" : "withdrawn"}};
        call(options_, *pool_, *tokens_, "drm", verb::patch,
             "/v1/contents/" + doi_path_segment(doi), &body, ec, detail);
    }

    std::string grant(const drm_grant_request& request, std::error_code& ec,
                      std::string* detail) override {
        const nlohmann::json body = {{"request_id", request.request_id},
                                     {"user", request.user},
                                     {"doi", request.doi.str()},
                                     {"device_key", request.device_key.public_only().to_json()},
                                     {"rights", request.rights}};
        const auto response =
            call(options_, *pool_, *tokens_, "drm", verb::post, "/v1/grants", &body, ec, detail);
        if (ec) {
            return {};
        }
        const auto answer = json_of(response, ec, detail, "drm grant");
        if (ec) {
            return {};
        }
        const auto id = answer.find("grant_id");
        if (id == answer.end() || !id->is_string() || id->get<std::string>().empty()) {
            ec = errc::dependency_refused;
            if (detail != nullptr) {
                *detail = "drm grant: the answer has no grant_id";
            }
            return {};
        }
        return id->get<std::string>();
    }

    void revoke_grant(const std::string& grant_id, std::error_code& ec,
                      std::string* detail) override {
        call(options_, *pool_, *tokens_, "drm", verb::delete_,
             "/v1/grants/" + percent_encode(grant_id), nullptr, ec, detail);
        if (ec == errc::dependency_refused && detail != nullptr &&
            detail->find(" 404") != std::string::npos) {
            ec.clear();
        }
    }

  private:
    http_gateway_options options_;
    std::shared_ptr<service_token_source> tokens_;
    std::unique_ptr<http::connection_pool> pool_ = std::make_unique<http::connection_pool>();
};

class http_tracker final : public tracker_gateway {
  public:
    http_tracker(http_gateway_options options, std::string announce,
                 std::shared_ptr<service_token_source> tokens)
        : options_(std::move(options)),
          announce_(trim_slash(std::move(announce))),
          tokens_(std::move(tokens)) {}

    std::string announce_url() const override { return announce_; }

    tracker_load load(std::error_code& ec, std::string* detail) override {
        const auto response = call(options_, *pool_, *tokens_, "tracker", verb::get, "/admin/stats",
                                   nullptr, ec, detail);
        if (ec) {
            return {};
        }
        const auto stats = json_of(response, ec, detail, "tracker stats");
        if (ec) {
            return {};
        }
        tracker_load out;
        const auto number = [&](const char* name) -> std::uint64_t {
            const auto it = stats.find(name);
            return it != stats.end() && it->is_number_unsigned() ? it->get<std::uint64_t>() : 0;
        };
        out.torrents = number("torrents");
        out.seeders = number("seeders");
        out.leechers = number("leechers");
        return out;
    }

    void register_torrent(const tracker_torrent& torrent, std::error_code& ec,
                          std::string* detail) override {
        nlohmann::json body = {{"info_hash_v1", torrent.infohash_v1},
                               {"doi", torrent.doi.str()},
                               {"state", torrent.state}};
        if (!torrent.infohash_v2.empty()) {
            body["info_hash_v2"] = torrent.infohash_v2;
        }
        call(options_, *pool_, *tokens_, "tracker", verb::post, "/admin/torrents", &body, ec,
             detail);
    }

    void set_torrent_state(const std::string& infohash_v1, const std::string& state,
                           std::error_code& ec, std::string* detail) override {
        const nlohmann::json body = {{"state", state}};
        call(options_, *pool_, *tokens_, "tracker", verb::patch, "/admin/torrents/" + infohash_v1,
             &body, ec, detail);
    }

  private:
    http_gateway_options options_;
    std::string announce_;
    std::shared_ptr<service_token_source> tokens_;
    std::unique_ptr<http::connection_pool> pool_ = std::make_unique<http::connection_pool>();
};

class http_index final : public index_gateway {
  public:
    http_index(http_gateway_options options, std::shared_ptr<service_token_source> tokens)
        : options_(std::move(options)), tokens_(std::move(tokens)) {
        options_.base_url = trim_slash(options_.base_url);
    }

    void put_entry(const core::content_record& record, core::byte_view torrent,
                   const std::string& purchase_uri, std::error_code& ec,
                   std::string* detail) override {
        const nlohmann::json body = {{"record", record.to_json()},
                                     {"torrent", core::base64_encode(torrent)},
                                     {"purchase_uri", purchase_uri}};
        call(options_, *pool_, *tokens_, "index", verb::put,
             "/admin/entries/" + doi_path_segment(record.doi), &body, ec, detail);
    }

    void withdraw_entry(const core::doi& doi, std::error_code& ec, std::string* detail) override {
        call(options_, *pool_, *tokens_, "index", verb::delete_,
             "/admin/entries/" + doi_path_segment(doi), nullptr, ec, detail);
        if (ec == errc::dependency_refused && detail != nullptr &&
            detail->find(" 404") != std::string::npos) {
            ec.clear();
        }
    }

    std::string torrent_url(const core::doi& doi) const override {
        return options_.base_url + "/torrents/" + doi_path_segment(doi) + ".torrent";
    }

  private:
    http_gateway_options options_;
    std::shared_ptr<service_token_source> tokens_;
    std::unique_ptr<http::connection_pool> pool_ = std::make_unique<http::connection_pool>();
};

}  // namespace

std::shared_ptr<drm_gateway> make_http_drm_gateway(http_gateway_options options,
                                                   std::shared_ptr<service_token_source> tokens) {
    return std::make_shared<http_drm>(std::move(options), std::move(tokens));
}

std::shared_ptr<tracker_gateway> make_http_tracker_gateway(
    http_gateway_options options, std::string announce_url,
    std::shared_ptr<service_token_source> tokens) {
    return std::make_shared<http_tracker>(std::move(options), std::move(announce_url),
                                          std::move(tokens));
}

std::shared_ptr<index_gateway> make_http_index_gateway(
    http_gateway_options options, std::shared_ptr<service_token_source> tokens) {
    return std::make_shared<http_index>(std::move(options), std::move(tokens));
}

}  // namespace imsp2p::sip
