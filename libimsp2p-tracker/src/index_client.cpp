#include <imsp2p/tracker/index_client.hpp>

#include <imsp2p/tracker/error.hpp>
#include <imsp2p/tracker/index_server.hpp>

#include <imsp2p/core/encoding.hpp>

#include <imsp2p_internal/http_client.hpp>

#include <nlohmann/json.hpp>

#include <utility>

namespace imsp2p::tracker {

namespace ih = imsp2p::internal::http;
namespace bhttp = boost::beast::http;
using json = nlohmann::json;

namespace {

void set_detail(std::string* detail, std::string text) {
    if (detail != nullptr) {
        *detail = std::move(text);
    }
}

/** Maps a non-2xx answer to an error and its detail. */
void http_failure(const ih::client_response& res, std::error_code& ec, std::string* detail) {
    const json body = json::parse(res.body, nullptr, false);
    std::string text = "HTTP " + std::to_string(res.status);
    if (body.is_object() && body.contains("detail") && body["detail"].is_string()) {
        text += ": " + body["detail"].get<std::string>();
    }
    set_detail(detail, std::move(text));
    if (res.status == 401 || res.status == 403) {
        ec = errc::admin_unauthorized;
    } else if (res.status == 404) {
        ec = errc::unknown_content;
    } else if (res.status == 410) {
        ec = errc::content_withdrawn;
    } else if (res.status >= 400 && res.status < 500) {
        ec = errc::bad_admin_request;
    } else {
        ec = errc::storage_failure;
    }
}

std::string encode_query(std::string_view text) {
    static constexpr char digits[] = "0123456789ABCDEF";
    std::string out;
    for (const char c : text) {
        const auto u = static_cast<unsigned char>(c);
        if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
            c == '-' || c == '.' || c == '_' || c == '~') {
            out.push_back(c);
        } else {
            out.push_back('%');
            out.push_back(digits[u >> 4]);
            out.push_back(digits[u & 15]);
        }
    }
    return out;
}

std::vector<index_entry> read_entries(const std::string& body, std::error_code& ec,
                                      std::string* detail) {
    const json document = json::parse(body, nullptr, false);
    if (!document.is_object() || !document.contains("entries") || !document["entries"].is_array()) {
        ec = errc::storage_failure;
        set_detail(detail, "the answer is not a JSON object with an \"entries\" array");
        return {};
    }
    std::vector<index_entry> out;
    for (const auto& item : document["entries"]) {
        index_entry entry;
        std::error_code error;
        std::string field;
        if (!item.is_object() || !item.contains("record")) {
            ec = errc::storage_failure;
            set_detail(detail, "an entry without \"record\"");
            return {};
        }
        entry.record = core::content_record::from_json(item["record"], error, &field);
        if (error) {
            ec = errc::storage_failure;
            set_detail(detail, "an entry's record." + field + ": " + error.message());
            return {};
        }
        entry.purchase_uri = item.value("purchase_uri", "");
        entry.state = item.value("state", "listed") == "withdrawn" ? index_entry_state::withdrawn
                                                                   : index_entry_state::listed;
        if (item.contains("updated_at") && item["updated_at"].is_number_integer()) {
            entry.updated_at = std::chrono::system_clock::time_point(
                std::chrono::seconds(item["updated_at"].get<std::int64_t>()));
        }
        out.push_back(std::move(entry));
    }
    return out;
}

}  // namespace

index_client::index_client(std::string base_url, std::chrono::milliseconds timeout)
    : base_url_(std::move(base_url)), timeout_(timeout) {
    while (!base_url_.empty() && base_url_.back() == '/') {
        base_url_.pop_back();
    }
}

bool index_client::put_entry(const core::content_record& record, core::byte_view torrent,
                             std::string_view purchase_uri, std::string_view service_token,
                             std::error_code& ec, std::string* detail) const {
    ec.clear();
    json body = {{"record", record.to_json()}, {"torrent", core::base64_encode(torrent)}};
    if (!purchase_uri.empty()) {
        body["purchase_uri"] = std::string(purchase_uri);
    }
    ih::client_request req;
    req.method = bhttp::verb::put;
    req.url = base_url_ + "/admin/entries/" + doi_path_segment(record.doi);
    req.bearer_token = std::string(service_token);
    req.content_type = "application/json";
    req.body = body.dump();
    req.timeout = timeout_;
    const auto res = ih::perform(req, ec);
    if (ec) {
        set_detail(detail, "PUT " + req.url + ": " + ec.message());
        return false;
    }
    if (res.status != 200 && res.status != 201) {
        http_failure(res, ec, detail);
        return false;
    }
    return res.status == 201;
}

void index_client::withdraw(const core::doi& doi, std::string_view service_token,
                            std::error_code& ec, std::string* detail) const {
    ec.clear();
    ih::client_request req;
    req.method = bhttp::verb::delete_;
    req.url = base_url_ + "/admin/entries/" + doi_path_segment(doi);
    req.bearer_token = std::string(service_token);
    req.timeout = timeout_;
    const auto res = ih::perform(req, ec);
    if (ec) {
        set_detail(detail, "DELETE " + req.url + ": " + ec.message());
        return;
    }
    if (res.status != 200) {
        http_failure(res, ec, detail);
    }
}

std::vector<index_entry> index_client::list(std::string_view service_token, std::error_code& ec,
                                            std::string* detail) const {
    ec.clear();
    ih::client_request req;
    req.url = base_url_ + "/admin/entries";
    req.bearer_token = std::string(service_token);
    req.timeout = timeout_;
    const auto res = ih::perform(req, ec);
    if (ec) {
        set_detail(detail, "GET " + req.url + ": " + ec.message());
        return {};
    }
    if (res.status != 200) {
        http_failure(res, ec, detail);
        return {};
    }
    return read_entries(res.body, ec, detail);
}

std::vector<index_entry> index_client::fetch_catalog(std::string_view query, std::error_code& ec,
                                                     std::string* detail) const {
    ec.clear();
    ih::client_request req;
    req.url = base_url_ + "/catalog.json";
    if (!query.empty()) {
        req.url += "?q=" + encode_query(query);
    }
    req.timeout = timeout_;
    const auto res = ih::perform(req, ec);
    if (ec) {
        set_detail(detail, "GET " + req.url + ": " + ec.message());
        return {};
    }
    if (res.status != 200) {
        http_failure(res, ec, detail);
        return {};
    }
    return read_entries(res.body, ec, detail);
}

core::byte_vector index_client::fetch_torrent(const core::doi& doi, std::error_code& ec,
                                              std::string* detail) const {
    ec.clear();
    ih::client_request req;
    req.url = base_url_ + "/torrents/" + doi_path_segment(doi) + ".torrent";
    req.timeout = timeout_;
    const auto res = ih::perform(req, ec);
    if (ec) {
        set_detail(detail, "GET " + req.url + ": " + ec.message());
        return {};
    }
    if (res.status != 200) {
        http_failure(res, ec, detail);
        return {};
    }
    return core::to_bytes(res.body);
}

}  // namespace imsp2p::tracker
