#include <imsp2p/tracker/index_server.hpp>

#include <imsp2p/tracker/bencode.hpp>
#include <imsp2p/tracker/error.hpp>

#include <imsp2p/core/crypto.hpp>
#include <imsp2p/core/encoding.hpp>
#include <imsp2p/core/error.hpp>
#include <imsp2p/core/jose.hpp>

#include <imsp2p_internal/http_server.hpp>

#include <boost/asio/io_context.hpp>
#include <boost/asio/signal_set.hpp>

#include <atomic>
#include <csignal>
#include <cstdio>
#include <fstream>
#include <sstream>
#include <thread>
#include <utility>
#include <vector>

namespace imsp2p::tracker {

namespace ih = imsp2p::internal::http;
namespace bhttp = boost::beast::http;
using json = nlohmann::json;

namespace {

constexpr std::string_view server_name = "imsp2p-index";
constexpr std::size_t max_purchase_uri = 2048;

void fail(std::error_code& ec, std::string* detail, std::string reason) {
    ec = errc::bad_admin_request;
    if (detail != nullptr) {
        *detail = std::move(reason);
    }
}

bool valid_purchase_uri(std::string_view uri) {
    if (uri.empty() || uri.size() > max_purchase_uri) {
        return false;
    }
    const auto lower_starts = [&](std::string_view prefix) {
        if (uri.size() <= prefix.size()) {
            return false;
        }
        for (std::size_t i = 0; i < prefix.size(); ++i) {
            if (std::tolower(static_cast<unsigned char>(uri[i])) != prefix[i]) {
                return false;
            }
        }
        return true;
    };
    if (!lower_starts("sip:") && !lower_starts("sips:")) {
        return false;
    }
    return std::all_of(uri.begin(), uri.end(), [](char c) {
        const auto u = static_cast<unsigned char>(c);
        return u > 0x20 && u < 0x7f && c != '<' && c != '>' && c != '"';
    });
}

std::string percent_decode_query(std::string_view text) {
    std::string out;
    out.reserve(text.size());
    const auto hex = [](char c) -> int {
        if (c >= '0' && c <= '9') {
            return c - '0';
        }
        if (c >= 'a' && c <= 'f') {
            return c - 'a' + 10;
        }
        if (c >= 'A' && c <= 'F') {
            return c - 'A' + 10;
        }
        return -1;
    };
    for (std::size_t i = 0; i < text.size(); ++i) {
        if (text[i] == '+') {
            out.push_back(' ');
        } else if (text[i] == '%' && i + 2 < text.size() + 0 && hex(text[i + 1]) >= 0 &&
                   hex(text[i + 2]) >= 0) {
            out.push_back(static_cast<char>(hex(text[i + 1]) * 16 + hex(text[i + 2])));
            i += 2;
        } else {
            out.push_back(text[i]);
        }
    }
    return out;
}

std::string percent_encode_query(std::string_view text) {
    static constexpr char digits[] = "0123456789ABCDEF";
    std::string out;
    for (const char c : text) {
        const auto u = static_cast<unsigned char>(c);
        if (std::isalnum(u) != 0 || c == '-' || c == '.' || c == '_' || c == '~') {
            out.push_back(c);
        } else {
            out.push_back('%');
            out.push_back(digits[u >> 4]);
            out.push_back(digits[u & 15]);
        }
    }
    return out;
}

/** The decoded value of a query parameter, or nullopt. */
std::optional<std::string> query_param(const ih::request& req, std::string_view name) {
    const std::string_view target = ih::to_std(req.target());
    const auto question = target.find('?');
    if (question == std::string_view::npos) {
        return std::nullopt;
    }
    std::string_view query = target.substr(question + 1);
    while (!query.empty()) {
        const auto amp = query.find('&');
        const std::string_view pair = query.substr(0, amp);
        const auto eq = pair.find('=');
        if (percent_decode_query(pair.substr(0, eq)) == name) {
            return eq == std::string_view::npos ? std::string()
                                                : percent_decode_query(pair.substr(eq + 1));
        }
        if (amp == std::string_view::npos) {
            break;
        }
        query.remove_prefix(amp + 1);
    }
    return std::nullopt;
}

std::string html_escape(std::string_view text) {
    std::string out;
    out.reserve(text.size());
    for (const char c : text) {
        switch (c) {
            case '&':
                out += "&amp;";
                break;
            case '<':
                out += "&lt;";
                break;
            case '>':
                out += "&gt;";
                break;
            case '"':
                out += "&quot;";
                break;
            case '\'':
                out += "&#39;";
                break;
            default:
                out.push_back(c);
        }
    }
    return out;
}

std::string human_size(std::uint64_t bytes) {
    static constexpr const char* units[] = {"B", "KiB", "MiB", "GiB", "TiB", "PiB", "EiB"};
    if (bytes < 1024) {
        return std::to_string(bytes) + " B";
    }
    double value = static_cast<double>(bytes);
    std::size_t unit = 0;
    while (value >= 1024.0 && unit + 1 < std::size(units)) {
        value /= 1024.0;
        ++unit;
    }
    char buffer[32];
    std::snprintf(buffer, sizeof buffer, "%.1f %s", value, units[unit]);
    return buffer;
}

std::string human_price(const core::price& price) {
    if (price.amount_minor == 0) {
        return "free";
    }
    // ISO 4217: most currencies have two minor-unit digits; those are the ones we expect.
    char buffer[64];
    std::snprintf(buffer, sizeof buffer, "%lld.%02lld",
                  static_cast<long long>(price.amount_minor / 100),
                  static_cast<long long>(price.amount_minor % 100));
    return std::string(buffer) + " " + price.currency;
}

std::string torrent_path(const core::doi& doi) {
    return "/torrents/" + doi_path_segment(doi) + ".torrent";
}

std::string detail_path(const core::doi& doi) {
    return "/content/" + doi_path_segment(doi);
}

json entry_json(const index_entry& entry) {
    return {{"doi", entry.record.doi.str()},
            {"record", entry.record.to_json()},
            {"purchase_uri", entry.purchase_uri},
            {"state", to_string(entry.state)},
            {"updated_at",
             std::chrono::duration_cast<std::chrono::seconds>(entry.updated_at.time_since_epoch())
                 .count()},
            {"torrent_url", torrent_path(entry.record.doi)},
            {"detail_url", detail_path(entry.record.doi)}};
}

ih::response problem(const ih::request& req, bhttp::status status, std::string_view type,
                     std::string_view title, std::string_view detail) {
    const json body = {{"type", "urn:imsp2p:problem:" + std::string(type)},
                       {"title", title},
                       {"status", static_cast<int>(status)},
                       {"detail", detail}};
    ih::response res =
        ih::make_response(req, status, server_name, "application/problem+json", body.dump());
    if (status == bhttp::status::unauthorized) {
        res.set(bhttp::field::www_authenticate, "Bearer error=\"invalid_token\"");
    }
    return res;
}

ih::response method_not_allowed(const ih::request& req, std::string_view allowed) {
    ih::response res =
        problem(req, bhttp::status::method_not_allowed, "method-not-allowed", "Method not allowed",
                std::string(ih::to_std(req.method_string())) + " is not allowed on " +
                    std::string(ih::path_of(req)) + "; use " + std::string(allowed));
    res.set(bhttp::field::allow, std::string(allowed));
    return res;
}

bool is_get(const ih::request& req) {
    return req.method() == bhttp::verb::get || req.method() == bhttp::verb::head;
}

/** Parses the DOI of a path segment (percent-encoded). */
core::doi doi_of_segment(std::string_view segment, std::error_code& ec) {
    if (segment.empty()) {
        ec = core::errc::doi_empty;
        return {};
    }
    return core::doi::parse(segment, ec);
}

}  // namespace

std::string doi_path_segment(const core::doi& doi) {
    constexpr std::string_view resolver = "https://doi.org/";
    std::string url = doi.url();
    if (url.starts_with(resolver)) {
        url.erase(0, resolver.size());
    }
    return url;
}

index_entry parse_admin_entry_body(std::string_view body, std::string_view purchase_uri_template,
                                   std::error_code& ec, std::string* detail) {
    ec.clear();
    const json document = json::parse(body, nullptr, false);
    if (document.is_discarded()) {
        fail(ec, detail, "the body is not valid JSON");
        return {};
    }
    if (!document.is_object()) {
        fail(ec, detail,
             "the body must be a JSON object with \"record\", \"torrent\" and "
             "\"purchase_uri\"");
        return {};
    }
    index_entry entry;
    const auto record = document.find("record");
    if (record == document.end()) {
        fail(ec, detail, "\"record\" is missing");
        return {};
    }
    std::error_code error;
    std::string field;
    entry.record = core::content_record::from_json(*record, error, &field);
    if (error) {
        fail(ec, detail,
             "record" + (field.empty() ? std::string() : "." + field) + ": " + error.message());
        return {};
    }
    const auto torrent = document.find("torrent");
    if (torrent == document.end() || !torrent->is_string()) {
        fail(ec, detail, "\"torrent\" must be the base64 .torrent file (a string)");
        return {};
    }
    entry.torrent = core::base64_decode(torrent->get_ref<const std::string&>(), error);
    if (error) {
        fail(ec, detail, "torrent: not standard padded base64: " + error.message());
        return {};
    }
    const bencode_value metainfo = bdecode(core::as_string_view(entry.torrent), error);
    if (error || !metainfo.is_dict()) {
        fail(ec, detail,
             "torrent: not a bencoded metainfo dictionary" +
                 (error ? ": " + error.message() : std::string()));
        return {};
    }
    const bencode_value* info = metainfo.find("info");
    if (info == nullptr || !info->is_dict()) {
        fail(ec, detail, "torrent: the metainfo has no \"info\" dictionary");
        return {};
    }
    const std::string info_bytes = bencode(*info);
    const std::string v1 = core::to_hex(core::sha1(core::as_bytes(info_bytes)));
    if (v1 != entry.record.infohash_v1) {
        fail(ec, detail,
             "torrent: its v1 infohash " + v1 + " differs from record.infohash_v1 " +
                 entry.record.infohash_v1);
        return {};
    }
    const bencode_value* version = info->find("meta version");
    if (version != nullptr && version->is_integer() && version->integer() == 2) {
        const std::string v2 = core::to_hex(core::sha256(core::as_bytes(info_bytes)));
        if (v2 != entry.record.infohash_v2) {
            fail(ec, detail,
                 "torrent: its v2 infohash " + v2 + " differs from record.infohash_v2 " +
                     entry.record.infohash_v2);
            return {};
        }
    }
    const auto purchase = document.find("purchase_uri");
    if (purchase == document.end() || purchase->is_null()) {
        if (purchase_uri_template.empty()) {
            fail(ec, detail,
                 "\"purchase_uri\" is missing and no purchase URI template is "
                 "configured");
            return {};
        }
        std::string uri(purchase_uri_template);
        const std::string encoded = percent_encode_query(entry.record.doi.str());
        for (auto at = uri.find("{doi}"); at != std::string::npos;
             at = uri.find("{doi}", at + encoded.size())) {
            uri.replace(at, 5, encoded);
        }
        entry.purchase_uri = std::move(uri);
    } else if (!purchase->is_string()) {
        fail(ec, detail, "\"purchase_uri\" must be a string");
        return {};
    } else {
        entry.purchase_uri = purchase->get<std::string>();
    }
    if (!valid_purchase_uri(entry.purchase_uri)) {
        fail(ec, detail,
             "purchase_uri: expected a sip: or sips: URI of at most 2048 printable "
             "ASCII characters without spaces, quotes or angle brackets");
        return {};
    }
    return entry;
}

// ---------------------------------------------------------------------------------------------
// index_server

struct index_server::state {
    state(boost::asio::io_context& io_ref, content_index& store, core::ticket_verifier check,
          index_server_settings config, core::logger logger)
        : io(io_ref),
          index(store),
          verifier(std::move(check)),
          settings(std::move(config)),
          log(std::move(logger)) {}

    boost::asio::io_context& io;
    content_index& index;
    core::ticket_verifier verifier;
    index_server_settings settings;
    core::logger log;
    std::shared_ptr<ih::server> http;

    std::atomic<std::uint64_t> pages{0};
    std::atomic<std::uint64_t> torrents_served{0};
    std::atomic<std::uint64_t> admin_changes{0};
    std::atomic<std::uint64_t> admin_refused{0};
    std::atomic<std::uint64_t> not_found{0};

    ih::response handle(const ih::request& req);
    ih::response handle_admin(const ih::request& req, std::string_view rest);
    ih::response catalogue_page(const ih::request& req);
    ih::response detail_page(const ih::request& req, std::string_view segment);
    ih::response catalogue_json(const ih::request& req);
    ih::response torrent(const ih::request& req, std::string_view segment);
    ih::response storage_problem(const ih::request& req, const std::error_code& ec);
    std::string metrics();
    std::string page(std::string_view title, const std::string& body) const;
    std::string entry_html(const index_entry& entry, bool link_title) const;
    index_query query_of(const ih::request& req) const;
};

ih::response index_server::state::storage_problem(const ih::request& req,
                                                  const std::error_code& ec) {
    log.error("content index storage failed", {{"error", ec.message()}});
    return problem(req, bhttp::status::internal_server_error, "storage-failure", "Storage failure",
                   "the content index database failed: " + ec.message());
}

std::string index_server::state::page(std::string_view title, const std::string& body) const {
    std::string out =
        "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">"
        "<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">"
        "<title>" +
        html_escape(title) +
        "</title><style>body{font-family:sans-serif;max-width:50em;margin:1em auto;padding:0 1em}"
        "article{border-bottom:1px solid #ccc;padding:.5em 0}dt{font-weight:bold}"
        "p.description{white-space:pre-line}</style></head><body>\n<header><h1><a href=\"/\">" +
        html_escape(settings.site_title) +
        "</a></h1><form method=\"get\" action=\"/\" role=\"search\">"
        "<input type=\"search\" name=\"q\" aria-label=\"Search titles or DOI\">"
        "<button type=\"submit\">Search</button></form></header>\n<main>\n";
    out += body;
    out += "</main></body></html>\n";
    return out;
}

std::string index_server::state::entry_html(const index_entry& entry, bool link_title) const {
    const core::content_record& r = entry.record;
    const std::string doi = html_escape(r.doi.str());
    std::string out = "<article class=\"entry\" data-doi=\"" + doi + "\">\n<h2 class=\"title\">";
    if (link_title) {
        out +=
            "<a href=\"" + html_escape(detail_path(r.doi)) + "\">" + html_escape(r.title) + "</a>";
    } else {
        out += html_escape(r.title);
    }
    out += "</h2>\n";
    if (!r.description.empty()) {
        out += "<p class=\"description\">" + html_escape(r.description) + "</p>\n";
    }
    out += "<dl>";
    out += "<dt>Size</dt><dd class=\"size\">" + html_escape(human_size(r.size_bytes)) + "</dd>";
    out += "<dt>Price</dt><dd class=\"price\">" + html_escape(human_price(r.price)) + "</dd>";
    out += "<dt>DOI</dt><dd class=\"doi\">" + doi + "</dd>";
    out += "<dt>Type</dt><dd class=\"type\">" + html_escape(r.content_type) + "</dd>";
    if (r.genre) {
        out += "<dt>Genre</dt><dd class=\"genre\">" + html_escape(*r.genre) + "</dd>";
    }
    if (r.series) {
        out += "<dt>Series</dt><dd class=\"series\">" + html_escape(*r.series) + "</dd>";
    }
    out += "</dl>\n<p><a class=\"purchase\" href=\"" + html_escape(entry.purchase_uri) +
           "\">Buy</a> · <a class=\"torrent\" type=\"application/x-bittorrent\" href=\"" +
           html_escape(torrent_path(r.doi)) + "\">.torrent</a></p>\n</article>\n";
    return out;
}

index_query index_server::state::query_of(const ih::request& req) const {
    index_query query;
    query.text = query_param(req, "q").value_or("");
    query.genre = query_param(req, "genre");
    query.series = query_param(req, "series");
    if (query.genre && query.genre->empty()) {
        query.genre.reset();
    }
    if (query.series && query.series->empty()) {
        query.series.reset();
    }
    return query;
}

ih::response index_server::state::catalogue_page(const ih::request& req) {
    const index_query query = query_of(req);
    std::error_code ec;
    const auto entries = index.search(query, ec);
    if (ec) {
        return storage_problem(req, ec);
    }
    pages.fetch_add(1, std::memory_order_relaxed);
    std::string body;
    if (!query.text.empty()) {
        body += "<p class=\"summary\">" + std::to_string(entries.size()) + " result" +
                (entries.size() == 1 ? "" : "s") + " for “" + html_escape(query.text) + "”</p>\n";
    }
    if (entries.empty()) {
        body += "<p class=\"empty\">No content found.</p>\n";
    }
    for (const auto& entry : entries) {
        body += entry_html(entry, true);
    }
    return ih::make_response(req, bhttp::status::ok, server_name, "text/html; charset=utf-8",
                             page(settings.site_title, body));
}

ih::response index_server::state::detail_page(const ih::request& req, std::string_view segment) {
    std::error_code ec;
    const core::doi doi = doi_of_segment(segment, ec);
    if (ec) {
        return problem(req, bhttp::status::bad_request, "bad-doi", "Bad DOI",
                       "the path does not end with a DOI: " + ec.message());
    }
    const auto entry = index.find(doi, false, ec);
    if (ec) {
        return storage_problem(req, ec);
    }
    if (!entry || entry->state == index_entry_state::withdrawn) {
        not_found.fetch_add(1, std::memory_order_relaxed);
        const bool gone = entry.has_value();
        const std::string text =
            gone ? "This content has been withdrawn." : "No content with this DOI.";
        return ih::make_response(
            req, gone ? bhttp::status::gone : bhttp::status::not_found, server_name,
            "text/html; charset=utf-8",
            page(settings.site_title, "<p class=\"error\">" + html_escape(text) + " (" +
                                          html_escape(doi.str()) + ")</p>\n"));
    }
    pages.fetch_add(1, std::memory_order_relaxed);
    return ih::make_response(
        req, bhttp::status::ok, server_name, "text/html; charset=utf-8",
        page(entry->record.title + " — " + settings.site_title, entry_html(*entry, false)));
}

ih::response index_server::state::catalogue_json(const ih::request& req) {
    std::error_code ec;
    const auto entries = index.search(query_of(req), ec);
    if (ec) {
        return storage_problem(req, ec);
    }
    json list = json::array();
    for (const auto& entry : entries) {
        list.push_back(entry_json(entry));
    }
    return ih::json_response(req, bhttp::status::ok, server_name,
                             {{"count", entries.size()}, {"entries", std::move(list)}});
}

ih::response index_server::state::torrent(const ih::request& req, std::string_view segment) {
    constexpr std::string_view suffix = ".torrent";
    if (!segment.ends_with(suffix)) {
        not_found.fetch_add(1, std::memory_order_relaxed);
        return problem(req, bhttp::status::not_found, "not-found", "Not found",
                       "torrent URLs end with .torrent: /torrents/<doi>.torrent");
    }
    segment.remove_suffix(suffix.size());
    std::error_code ec;
    const core::doi doi = doi_of_segment(segment, ec);
    if (ec) {
        return problem(req, bhttp::status::bad_request, "bad-doi", "Bad DOI",
                       "the path does not name a DOI: " + ec.message());
    }
    const auto entry = index.find(doi, true, ec);
    if (ec) {
        return storage_problem(req, ec);
    }
    if (!entry) {
        not_found.fetch_add(1, std::memory_order_relaxed);
        return problem(req, bhttp::status::not_found, "unknown-content", "Unknown content",
                       "no content with DOI " + doi.str());
    }
    if (entry->state == index_entry_state::withdrawn) {
        not_found.fetch_add(1, std::memory_order_relaxed);
        return problem(req, bhttp::status::gone, "content-withdrawn", "Content withdrawn",
                       "the content " + doi.str() + " has been withdrawn");
    }
    torrents_served.fetch_add(1, std::memory_order_relaxed);
    ih::response res =
        ih::make_response(req, bhttp::status::ok, server_name, "application/x-bittorrent",
                          std::string(core::as_string_view(entry->torrent)));
    std::string file = doi.suffix().empty() ? "content" : std::string(doi.suffix());
    for (char& c : file) {
        const auto u = static_cast<unsigned char>(c);
        if (std::isalnum(u) == 0 && c != '.' && c != '-' && c != '_') {
            c = '_';
        }
    }
    res.set(bhttp::field::content_disposition, "attachment; filename=\"" + file + ".torrent\"");
    return res;
}

ih::response index_server::state::handle_admin(const ih::request& req, std::string_view rest) {
    const auto token = ih::bearer_token(req);
    if (!token) {
        admin_refused.fetch_add(1, std::memory_order_relaxed);
        ih::response res = problem(req, bhttp::status::unauthorized, "unauthorized", "Unauthorized",
                                   "an Authorization: Bearer service token is required");
        res.set(bhttp::field::www_authenticate, "Bearer");
        return res;
    }
    std::error_code ec;
    const core::ticket_claims caller = verifier.verify(*token, ec);
    std::string reason;
    if (ec) {
        reason = "service token: " + ec.message();
    } else if (caller.role != core::ticket_role::service) {
        reason = "service token: role \"service\" required";
    }
    if (!reason.empty()) {
        admin_refused.fetch_add(1, std::memory_order_relaxed);
        log.info("admin call refused",
                 {{"reason", reason}, {"path", std::string(ih::path_of(req))}});
        return problem(req, bhttp::status::unauthorized, "unauthorized", "Unauthorized", reason);
    }
    const auto now = std::chrono::system_clock::now();
    if (rest.empty() || rest == "/") {
        if (!is_get(req)) {
            return method_not_allowed(req, "GET");
        }
        index_query query = query_of(req);
        query.include_withdrawn = true;
        const auto entries = index.search(query, ec);
        if (ec) {
            return storage_problem(req, ec);
        }
        json list = json::array();
        for (const auto& entry : entries) {
            list.push_back(entry_json(entry));
        }
        return ih::json_response(req, bhttp::status::ok, server_name,
                                 {{"count", entries.size()}, {"entries", std::move(list)}});
    }
    const std::string_view segment = rest.substr(1);
    const core::doi doi = doi_of_segment(segment, ec);
    if (ec) {
        return problem(req, bhttp::status::bad_request, "bad-request", "Bad request",
                       "the path does not name a DOI: " + ec.message());
    }
    if (req.method() == bhttp::verb::put) {
        std::string detail;
        index_entry entry =
            parse_admin_entry_body(req.body(), settings.purchase_uri_template, ec, &detail);
        if (ec) {
            log.info("entry refused", {{"doi", doi.str()}, {"reason", detail}});
            return problem(req, bhttp::status::bad_request, "bad-request", "Bad request", detail);
        }
        if (entry.record.doi != doi) {
            return problem(req, bhttp::status::bad_request, "bad-request", "Bad request",
                           "record.doi " + entry.record.doi.str() +
                               " differs from the DOI in the path " + doi.str());
        }
        const bool created = index.put(entry, now, ec);
        if (ec) {
            return storage_problem(req, ec);
        }
        admin_changes.fetch_add(1, std::memory_order_relaxed);
        const auto stored = index.find(doi, false, ec);
        if (ec || !stored) {
            return storage_problem(req, ec ? ec : make_error_code(errc::storage_failure));
        }
        log.info(created ? "entry created" : "entry updated",
                 {{"doi", doi.str()},
                  {"by", caller.subject},
                  {"state", std::string(to_string(stored->state))}});
        ih::response res =
            ih::json_response(req, created ? bhttp::status::created : bhttp::status::ok,
                              server_name, entry_json(*stored));
        if (created) {
            res.set(bhttp::field::location, detail_path(doi));
        }
        return res;
    }
    if (req.method() == bhttp::verb::delete_) {
        const auto entry = index.withdraw(doi, now, ec);
        if (ec == errc::unknown_content) {
            return problem(req, bhttp::status::not_found, "unknown-content", "Unknown content",
                           "no content with DOI " + doi.str());
        }
        if (ec || !entry) {
            return storage_problem(req, ec ? ec : make_error_code(errc::storage_failure));
        }
        admin_changes.fetch_add(1, std::memory_order_relaxed);
        log.info("entry withdrawn", {{"doi", doi.str()}, {"by", caller.subject}});
        return ih::json_response(req, bhttp::status::ok, server_name, entry_json(*entry));
    }
    if (is_get(req)) {
        const auto entry = index.find(doi, false, ec);
        if (ec) {
            return storage_problem(req, ec);
        }
        if (!entry) {
            return problem(req, bhttp::status::not_found, "unknown-content", "Unknown content",
                           "no content with DOI " + doi.str());
        }
        return ih::json_response(req, bhttp::status::ok, server_name, entry_json(*entry));
    }
    return method_not_allowed(req, "GET, PUT, DELETE");
}

std::string index_server::state::metrics() {
    std::string out;
    std::error_code ec;
    const index_counts counts = index.counts(ec);
    ih::append_metric(out, "imsp2p_index_entries_listed", "gauge", "Listed catalogue entries.",
                      counts.listed);
    ih::append_metric(out, "imsp2p_index_entries_withdrawn", "gauge",
                      "Withdrawn catalogue entries.", counts.withdrawn);
    ih::append_metric(out, "imsp2p_index_http_requests_total", "counter", "HTTP requests parsed.",
                      http ? http->requests() : 0);
    ih::append_metric(out, "imsp2p_index_pages_total", "counter", "HTML pages served.",
                      pages.load());
    ih::append_metric(out, "imsp2p_index_torrents_served_total", "counter",
                      ".torrent files served.", torrents_served.load());
    ih::append_metric(out, "imsp2p_index_admin_changes_total", "counter",
                      "Entries created, updated or withdrawn.", admin_changes.load());
    ih::append_metric(out, "imsp2p_index_admin_refused_total", "counter",
                      "Admin calls refused for a missing or bad service token.",
                      admin_refused.load());
    ih::append_metric(out, "imsp2p_index_not_found_total", "counter",
                      "Requests for unknown or withdrawn content.", not_found.load());
    ih::append_metric(out, "imsp2p_index_storage_ok", "gauge",
                      "1 if the database answered the last metrics scrape.", ec ? 0 : 1);
    return out;
}

ih::response index_server::state::handle(const ih::request& req) {
    const std::string_view path = ih::path_of(req);
    if (path == "/admin/entries" || path.starts_with("/admin/entries/")) {
        return handle_admin(req, path.substr(std::string_view("/admin/entries").size()));
    }
    if (!is_get(req)) {
        return method_not_allowed(req, "GET");
    }
    if (path == "/" || path == "/index.html") {
        return catalogue_page(req);
    }
    if (path == "/catalog.json") {
        return catalogue_json(req);
    }
    if (path.starts_with("/content/")) {
        return detail_page(req, path.substr(9));
    }
    if (path.starts_with("/torrents/")) {
        return torrent(req, path.substr(10));
    }
    if (path == "/health") {
        std::error_code ec;
        const index_counts counts = index.counts(ec);
        if (ec) {
            return problem(req, bhttp::status::service_unavailable, "unhealthy", "Unhealthy",
                           "the content index database fails: " + ec.message());
        }
        return ih::json_response(req, bhttp::status::ok, server_name,
                                 {{"status", "ok"},
                                  {"service", server_name},
                                  {"listed", counts.listed},
                                  {"withdrawn", counts.withdrawn}});
    }
    if (path == "/metrics") {
        return ih::make_response(req, bhttp::status::ok, server_name,
                                 "text/plain; version=0.0.4; charset=utf-8", metrics());
    }
    not_found.fetch_add(1, std::memory_order_relaxed);
    return problem(req, bhttp::status::not_found, "not-found", "Not found",
                   "no such resource on this content index: " + std::string(path));
}

index_server::index_server(content_index& index, core::ticket_verifier verifier,
                           index_server_settings settings, core::logger log)
    : owned_io_(std::make_unique<boost::asio::io_context>()),
      impl_(std::make_shared<state>(*owned_io_, index, std::move(verifier), std::move(settings),
                                    std::move(log))) {}

index_server::index_server(boost::asio::io_context& io, content_index& index,
                           core::ticket_verifier verifier, index_server_settings settings,
                           core::logger log)
    : impl_(std::make_shared<state>(io, index, std::move(verifier), std::move(settings),
                                    std::move(log))) {}

index_server::~index_server() {
    stop();
    if (owned_io_) {
        owned_io_->restart();
        owned_io_->run();
    }
}

void index_server::start(std::error_code& ec) {
    ec.clear();
    if (impl_->http) {
        return;
    }
    ih::server_settings http;
    http.bind_address = impl_->settings.bind_address;
    http.port = impl_->settings.port;
    http.max_body_size = impl_->settings.max_body_size;
    http.request_timeout = impl_->settings.request_timeout;
    http.max_connections = impl_->settings.max_connections;
    http.server_name = std::string(server_name);
    auto server = ih::start_server_for(impl_->io, std::move(http), impl_, ec);
    if (!server) {
        return;
    }
    impl_->http = std::move(server);
    impl_->log.info("listening",
                    {{"address", impl_->settings.bind_address}, {"port", impl_->http->port()}});
}

void index_server::start() {
    std::error_code ec;
    start(ec);
    if (ec) {
        throw std::system_error(ec, "cannot listen on " + impl_->settings.bind_address + ":" +
                                        std::to_string(impl_->settings.port));
    }
}

std::uint16_t index_server::port() const noexcept {
    return impl_->http ? impl_->http->port() : 0;
}

void index_server::run() {
    start();
    if (owned_io_) {
        owned_io_->run();
    } else {
        impl_->io.run();
    }
}

void index_server::stop() {
    if (impl_->http) {
        impl_->http->stop();
    }
}

std::uint64_t index_server::requests() const noexcept {
    return impl_->http ? impl_->http->requests() : 0;
}

// ---------------------------------------------------------------------------------------------
// index_runner

struct index_runner::impl {
    core::logger log;
    std::unique_ptr<content_index> index;
    boost::asio::io_context io;
    std::unique_ptr<index_server> server;
    std::unique_ptr<boost::asio::signal_set> signals;
    std::atomic<bool> stopped{false};
    unsigned threads = 1;
};

namespace {

std::string read_text_file(const std::filesystem::path& path) {
    std::ifstream file(path, std::ios::binary);
    std::stringstream text;
    text << file.rdbuf();
    if (!file) {
        throw std::system_error(core::errc::io_error, "cannot read " + path.string());
    }
    return text.str();
}

}  // namespace

index_runner::index_runner(const core::config& config) : impl_(std::make_unique<impl>()) {
    impl_->log = core::program_logger(config, "index");

    const std::filesystem::path data_dir = config.require_path("/data_dir");
    std::error_code fs_error;
    std::filesystem::create_directories(data_dir, fs_error);
    if (fs_error) {
        throw std::system_error(fs_error, "cannot create the data directory " + data_dir.string());
    }
    core::ticket_verifier verifier("index");
    if (config.contains("/as_jwks")) {
        const auto path = config.require_path("/as_jwks");
        std::error_code ec;
        const json document = json::parse(read_text_file(path), nullptr, false);
        const core::jwk_set keys = core::jwk_set::from_json(document, ec);
        if (ec) {
            throw std::system_error(ec, path.string() + ": not a JWK Set");
        }
        verifier.add_keys(keys);
    }
    if (config.contains("/as_public_key")) {
        std::error_code ec;
        const core::jwk key = core::jwk::from_json(config.require<json>("/as_public_key"), ec);
        if (ec || key.curve() != core::jwk_curve::ed25519) {
            throw std::system_error(
                ec ? ec : make_error_code(core::errc::jwk_unsupported),
                config.source_name() + ": /as_public_key: expected an Ed25519 public JWK");
        }
        core::jwk_set keys;
        keys.keys.push_back(key.public_only());
        verifier.add_keys(keys);
    }
    if (verifier.key_count() == 0) {
        impl_->log.warning(
            "no AS key configured (as_jwks, as_public_key): every admin call is refused");
    }
    verifier.set_expected_issuer(config.get_or<std::string>("/as_issuer", ""));
    impl_->threads = config.get_or<unsigned>("/threads", 1, {1, 64});

    index_server_settings http;
    http.bind_address = config.get_or<std::string>("/listen/address", "127.0.0.1");
    http.port = config.port_or("/listen/port", 8090);
    http.site_title = config.get_or<std::string>("/site_title", http.site_title);
    http.purchase_uri_template = config.get_or<std::string>("/purchase_uri_template", "");
    if (!http.purchase_uri_template.empty() && !valid_purchase_uri(http.purchase_uri_template)) {
        throw std::system_error(
            core::errc::config_bad_value,
            config.source_name() + ": /purchase_uri_template: expected a sip: or sips: URI");
    }

    impl_->signals = std::make_unique<boost::asio::signal_set>(impl_->io, SIGINT, SIGTERM);
    impl_->index = content_index::open(data_dir / "index.sqlite");
    impl_->server = std::make_unique<index_server>(impl_->io, *impl_->index, std::move(verifier),
                                                   http, impl_->log.child("index.http"));
    impl_->server->start();
    std::error_code ec;
    const index_counts counts = impl_->index->counts(ec);
    impl_->log.info("started", {{"port", impl_->server->port()},
                                {"data_dir", data_dir.string()},
                                {"listed", counts.listed},
                                {"withdrawn", counts.withdrawn}});
}

index_runner::~index_runner() {
    stop();
    impl_->server.reset();
}

int index_runner::run() {
    if (impl_->stopped) {
        return 0;
    }
    impl_->signals->async_wait([this](const boost::system::error_code& ec, int number) {
        if (!ec) {
            impl_->log.info("stopping", {{"signal", number}});
            stop();
        }
    });
    std::vector<std::thread> workers;
    for (unsigned i = 1; i < impl_->threads; ++i) {
        workers.emplace_back([this] { impl_->io.run(); });
    }
    impl_->io.run();
    for (auto& worker : workers) {
        worker.join();
    }
    impl_->log.info("stopped");
    return 0;
}

void index_runner::stop() {
    impl_->stopped = true;
    impl_->server->stop();
    boost::asio::post(impl_->io, [this] {
        if (impl_->signals) {
            boost::system::error_code ignored;
            impl_->signals->cancel(ignored);
        }
    });
}

std::uint16_t index_runner::port() const noexcept {
    return impl_->server->port();
}

content_index& index_runner::index() noexcept {
    return *impl_->index;
}

}  // namespace imsp2p::tracker
