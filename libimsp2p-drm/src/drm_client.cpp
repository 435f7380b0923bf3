#include <imsp2p/drm/drm_client.hpp>

#include <imsp2p/core/crypto.hpp>
#include <imsp2p/core/doi.hpp>
#include <imsp2p/core/error.hpp>
#include <imsp2p/drm/drm_server.hpp>
#include <imsp2p/drm/error.hpp>

#include <imsp2p_internal/http_client.hpp>

#include <utility>

namespace imsp2p::drm {

namespace ih = imsp2p::internal::http;
namespace bhttp = boost::beast::http;
using json = nlohmann::json;

namespace {

std::string percent_encode_segment(std::string_view text) {
    static constexpr char hex[] = "0123456789ABCDEF";
    std::string out;
    for (const char c : text) {
        const auto byte = static_cast<unsigned char>(c);
        if ((byte >= 'A' && byte <= 'Z') || (byte >= 'a' && byte <= 'z') ||
            (byte >= '0' && byte <= '9') || byte == '-' || byte == '.' || byte == '_' ||
            byte == '~') {
            out.push_back(c);
        } else {
            out.push_back('%');
            out.push_back(hex[byte >> 4]);
            out.push_back(hex[byte & 0x0f]);
        }
    }
    return out;
}

// The path segment of a DOI: its canonical form (any accepted form is taken), every byte but
// the unreserved ones percent-encoded, so that the server's core::doi::parse() decodes it once.
std::string doi_segment(std::string_view doi) {
    std::error_code ec;
    const core::doi parsed = core::doi::parse(doi, ec);
    return percent_encode_segment(ec ? doi : std::string_view(parsed.str()));
}

std::error_code error_for_status(int status) {
    switch (status) {
        case 400:
            return errc::drm_bad_request;
        case 401:
            return errc::drm_unauthorized;
        case 404:
            return errc::unknown_content;
        default:
            return errc::drm_server_error;
    }
}

struct exchange {
    int status = 0;
    std::string content_type;
    std::string body;
};

// One exchange; true with the response for a 2xx, false with ec and the problem otherwise.
bool call(const drm_client_settings& settings, bhttp::verb method, const std::string& path,
          const std::string& bearer, const json* body, exchange& out, std::error_code& ec,
          drm_problem* problem) {
    ec.clear();
    drm_problem local;
    drm_problem& doc = problem != nullptr ? *problem : local;
    doc = {};
    ih::client_request request;
    request.method = method;
    std::string base = settings.base_url;
    while (!base.empty() && base.back() == '/') {
        base.pop_back();
    }
    request.url = base + path;
    request.bearer_token = bearer;
    request.timeout = settings.timeout;
    request.headers.emplace_back("Accept", "application/json, application/jose");
    if (body != nullptr) {
        request.content_type = "application/json";
        request.body = body->dump();
    }
    std::error_code transport;
    const ih::client_response response = ih::perform(request, transport);
    if (transport) {
        ec = transport == std::errc::invalid_argument ? make_error_code(errc::drm_bad_request)
                                                      : make_error_code(errc::drm_unavailable);
        doc.detail = "DRM server " + settings.base_url + ": " + transport.message();
        return false;
    }
    out.status = response.status;
    out.content_type = response.content_type;
    out.body = response.body;
    if (response.status >= 200 && response.status < 300) {
        return true;
    }
    doc.status = response.status;
    const json parsed = json::parse(response.body, nullptr, false);
    if (parsed.is_object()) {
        doc.type = parsed.value("type", std::string());
        doc.title = parsed.value("title", std::string());
        doc.detail = parsed.value("detail", std::string());
    }
    if (doc.detail.empty()) {
        doc.detail = "HTTP " + std::to_string(response.status);
    }
    ec = error_from_problem_type(doc.type);
    if (!ec) {
        ec = error_for_status(response.status);
    }
    return false;
}

json parse_json_answer(const exchange& answer, std::error_code& ec, drm_problem* problem) {
    json parsed = json::parse(answer.body, nullptr, false);
    if (!parsed.is_object()) {
        ec = errc::drm_server_error;
        if (problem != nullptr) {
            *problem = {answer.status, {}, {}, "the DRM server's answer is not a JSON object"};
        }
        return json();
    }
    return parsed;
}

std::string service_token(const drm_client_settings& settings) {
    return settings.service_token_provider ? settings.service_token_provider()
                                           : settings.service_token;
}

}  // namespace

drm_client_error::drm_client_error(std::error_code ec, drm_problem problem)
    : std::system_error(ec, problem.detail), problem_(std::move(problem)) {}

std::string seal_content_key(const core::jwk_set& drm_keys, core::byte_view cek,
                             std::error_code& ec) {
    ec.clear();
    if (cek.size() != core::aes256_key_size) {
        ec = core::errc::bad_key_size;
        return {};
    }
    for (const auto& key : drm_keys.keys) {
        if (key.curve() == core::jwk_curve::x25519 && (key.use().empty() || key.use() == "enc")) {
            json header = json::object();
            if (!key.kid().empty()) {
                header["kid"] = key.kid();
            }
            return core::jwe_encrypt(cek, key.x25519_public(), header, ec);
        }
    }
    ec = core::errc::jwk_unsupported;
    return {};
}

drm_client::drm_client(drm_client_settings settings) : settings_(std::move(settings)) {}

core::jwk_set drm_client::fetch_jwks(std::error_code& ec, drm_problem* problem) const {
    exchange answer;
    if (!call(settings_, bhttp::verb::get, "/.well-known/jwks.json", {}, nullptr, answer, ec,
              problem)) {
        return {};
    }
    core::jwk_set keys = core::jwk_set::parse(answer.body, ec);
    if (ec) {
        ec = errc::drm_server_error;
        if (problem != nullptr) {
            *problem = {answer.status, {}, {}, "the DRM server's JWK Set does not parse"};
        }
        return {};
    }
    return keys;
}

core::jwk_set drm_client::fetch_jwks() const {
    std::error_code ec;
    drm_problem problem;
    core::jwk_set keys = fetch_jwks(ec, &problem);
    if (ec) {
        throw drm_client_error(ec, problem);
    }
    return keys;
}

content_registration_result drm_client::register_content(const content_registration& registration,
                                                         std::error_code& ec,
                                                         drm_problem* problem) const {
    exchange answer;
    const json body = registration.to_json();
    if (!call(settings_, bhttp::verb::post, "/v1/contents", service_token(settings_), &body, answer,
              ec, problem)) {
        return {};
    }
    const json parsed = parse_json_answer(answer, ec, problem);
    if (ec) {
        return {};
    }
    content_registration_result result;
    result.content = content_from_json(parsed, ec);
    result.created = answer.status == 201;
    return result;
}

std::optional<content_record> drm_client::set_content_state(std::string_view doi,
                                                            content_state state,
                                                            std::error_code& ec,
                                                            drm_problem* problem) const {
    exchange answer;
    const json body = {{"state", to_string(state)}};
    if (!call(settings_, bhttp::verb::patch, "/v1/contents/" + doi_segment(doi),
              service_token(settings_), &body, answer, ec, problem)) {
        return std::nullopt;
    }
    const json parsed = parse_json_answer(answer, ec, problem);
    if (ec) {
        return std::nullopt;
    }
    content_record record = content_from_json(parsed, ec);
    if (ec) {
        return std::nullopt;
    }
    return record;
}

grant_result drm_client::grant(const grant_request& request, std::error_code& ec,
                               drm_problem* problem) const {
    exchange answer;
    const json body = request.to_json();
    if (!call(settings_, bhttp::verb::post, "/v1/grants", service_token(settings_), &body, answer,
              ec, problem)) {
        return {};
    }
    const json parsed = parse_json_answer(answer, ec, problem);
    if (ec) {
        return {};
    }
    grant_result result;
    result.grant = grant_from_json(parsed, ec);
    result.created = answer.status == 201;
    return result;
}

std::optional<grant_record> drm_client::revoke(std::string_view grant_id, std::error_code& ec,
                                               drm_problem* problem) const {
    exchange answer;
    if (!call(settings_, bhttp::verb::delete_, "/v1/grants/" + percent_encode_segment(grant_id),
              service_token(settings_), nullptr, answer, ec, problem)) {
        return std::nullopt;
    }
    const json parsed = parse_json_answer(answer, ec, problem);
    if (ec) {
        return std::nullopt;
    }
    grant_record grant = grant_from_json(parsed, ec);
    if (ec) {
        return std::nullopt;
    }
    return grant;
}

std::vector<grant_record> drm_client::list_grants(std::string_view doi, std::error_code& ec,
                                                  drm_problem* problem) const {
    exchange answer;
    if (!call(settings_, bhttp::verb::get, "/v1/contents/" + doi_segment(doi) + "/grants",
              service_token(settings_), nullptr, answer, ec, problem)) {
        return {};
    }
    const json parsed = parse_json_answer(answer, ec, problem);
    if (ec) {
        return {};
    }
    std::vector<grant_record> grants;
    const auto list = parsed.find("grants");
    if (list == parsed.end() || !list->is_array()) {
        ec = errc::drm_server_error;
        return {};
    }
    for (const auto& item : *list) {
        grants.push_back(grant_from_json(item, ec));
        if (ec) {
            return {};
        }
    }
    return grants;
}

std::string drm_client::acquire_license(std::string_view grant_token,
                                        const core::jwk& device_public_key, std::error_code& ec,
                                        drm_problem* problem) const {
    exchange answer;
    license_request request;
    request.device_key = device_public_key.public_only();
    const json body = request.to_json();
    if (!call(settings_, bhttp::verb::post, "/v1/licenses", std::string(grant_token), &body, answer,
              ec, problem)) {
        return {};
    }
    if (answer.content_type.find("application/jose") == std::string::npos || answer.body.empty()) {
        ec = errc::drm_server_error;
        if (problem != nullptr) {
            *problem = {answer.status, {}, {}, "the DRM server did not answer with a license"};
        }
        return {};
    }
    return answer.body;
}

std::string drm_client::acquire_license(std::string_view grant_token,
                                        const core::jwk& device_public_key) const {
    std::error_code ec;
    drm_problem problem;
    std::string license = acquire_license(grant_token, device_public_key, ec, &problem);
    if (ec) {
        throw drm_client_error(ec, problem);
    }
    return license;
}

}  // namespace imsp2p::drm
