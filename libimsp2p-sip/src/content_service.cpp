#include <imsp2p/sip/content_service.hpp>

#include <imsp2p/sip/bodies.hpp>
#include <imsp2p/sip/error.hpp>

#include <imsp2p/core/crypto.hpp>
#include <imsp2p/core/database.hpp>
#include <imsp2p/core/encoding.hpp>
#include <imsp2p/core/ticket.hpp>
#include <imsp2p/drm/torrent.hpp>

#include <algorithm>
#include <array>
#include <condition_variable>
#include <mutex>
#include <set>
#include <utility>

namespace imsp2p::sip {
namespace {

using clock_type = std::chrono::system_clock;
using time_point = clock_type::time_point;
using json = nlohmann::json;

std::int64_t to_ms(time_point time) {
    return std::chrono::duration_cast<std::chrono::milliseconds>(time.time_since_epoch()).count();
}

std::chrono::sys_seconds to_seconds(time_point time) {
    return std::chrono::time_point_cast<std::chrono::seconds>(time);
}

const std::array<core::migration, 2> migrations{{
    {1, "content service state",
     "CREATE TABLE content ("
     " doi_key TEXT PRIMARY KEY,"
     " doi TEXT NOT NULL,"
     " publisher TEXT NOT NULL,"
     " record TEXT NOT NULL,"
     " infohash_v1 TEXT NOT NULL UNIQUE,"
     " infohash_v2 TEXT NOT NULL,"
     " kid TEXT NOT NULL,"
     " state TEXT NOT NULL,"
     " step TEXT NOT NULL,"
     " cek TEXT NOT NULL DEFAULT '',"
     " torrent BLOB NOT NULL,"
     " tracker TEXT NOT NULL DEFAULT '',"
     " etag TEXT NOT NULL,"
     " etag_expires_ms INTEGER NOT NULL,"
     " result_pending INTEGER NOT NULL DEFAULT 0,"
     " withdraw_pending INTEGER NOT NULL DEFAULT 0,"
     " attempts INTEGER NOT NULL DEFAULT 0,"
     " next_attempt_ms INTEGER NOT NULL DEFAULT 0,"
     " last_error TEXT NOT NULL DEFAULT '',"
     " created_ms INTEGER NOT NULL,"
     " published_seq INTEGER);"
     "CREATE INDEX content_etag ON content(etag);"
     "CREATE TABLE purchases ("
     " id TEXT PRIMARY KEY,"
     " user TEXT NOT NULL,"
     " request_id TEXT NOT NULL,"
     " doi_key TEXT NOT NULL,"
     " device_key TEXT NOT NULL,"
     " device_jkt TEXT NOT NULL,"
     " step TEXT NOT NULL,"
     " grant_id TEXT NOT NULL DEFAULT '',"
     " document TEXT NOT NULL DEFAULT '',"
     " attempts INTEGER NOT NULL DEFAULT 0,"
     " next_attempt_ms INTEGER NOT NULL DEFAULT 0,"
     " last_error TEXT NOT NULL DEFAULT '',"
     " created_ms INTEGER NOT NULL,"
     " UNIQUE (user, request_id));"
     "CREATE INDEX purchases_pending ON purchases(step, next_attempt_ms);"
     "CREATE TABLE subscriptions ("
     " id TEXT PRIMARY KEY,"
     " call_id TEXT NOT NULL,"
     " local_tag TEXT NOT NULL,"
     " remote_tag TEXT NOT NULL,"
     " local_uri TEXT NOT NULL,"
     " remote_uri TEXT NOT NULL,"
     " target TEXT NOT NULL,"
     " route TEXT NOT NULL,"
     " subscriber TEXT NOT NULL,"
     " genre TEXT,"
     " series TEXT,"
     " expires_ms INTEGER NOT NULL,"
     " UNIQUE (call_id, local_tag));"},
    {2, "operator seed box assignments",
     "CREATE TABLE seed_assignments ("
     " id TEXT PRIMARY KEY,"
     " doi_key TEXT NOT NULL,"
     " seed_box TEXT NOT NULL,"
     " delivery_pending INTEGER NOT NULL DEFAULT 1,"
     " seeded_ms INTEGER,"
     " attempts INTEGER NOT NULL DEFAULT 0,"
     " next_attempt_ms INTEGER NOT NULL DEFAULT 0,"
     " last_error TEXT NOT NULL DEFAULT '',"
     " created_ms INTEGER NOT NULL,"
     " UNIQUE (doi_key, seed_box));"
     "CREATE INDEX seed_assignments_pending ON seed_assignments(delivery_pending, "
     "next_attempt_ms);"},
}};

constexpr int withdraw_tracker = 1;
constexpr int withdraw_drm = 2;
constexpr int withdraw_index = 4;

constexpr std::string_view content_event = "imsp2p-content";
constexpr std::string_view catalog_event_name = "imsp2p-catalog";
constexpr std::string_view allow_methods = "MESSAGE, PUBLISH, SUBSCRIBE, OPTIONS";

std::string random_id() {
    return core::base64url_encode(core::random_bytes(16));
}

/**
 * The purchase id of (issuer, user, request_id): derived, not random, so a purchase whose row
 * was lost (a power cut before the AS database reached the disk) gets the same id, hence the
 * same charge id and DRM request id, when the client repeats the request: it cannot be charged
 * or granted twice.
 */
std::string purchase_id_for(std::string_view issuer, std::string_view user,
                            std::string_view request_id) {
    std::string input = "imsp2p purchase v1";
    for (const auto part : {issuer, user, request_id}) {
        input.push_back('\0');
        input.append(part);
    }
    const auto digest = core::sha256(core::as_bytes(input));
    return core::base64url_encode(core::byte_view(digest.data(), 16));
}

/**
 * The id of the seed assignment of (content, seed box): derived, so it is unique per (DOI, seed
 * box) and the same after a restart.
 */
std::string assignment_id_for(std::string_view doi_key, std::string_view seed_box) {
    std::string input = "imsp2p seed assignment v1";
    for (const auto part : {doi_key, seed_box}) {
        input.push_back('\0');
        input.append(part);
    }
    const auto digest = core::sha256(core::as_bytes(input));
    return "sa-" + core::base64url_encode(core::byte_view(digest.data(), 16));
}

char lower_char(char c) {
    return c >= 'A' && c <= 'Z' ? static_cast<char>(c - 'A' + 'a') : c;
}

std::string lower(std::string_view text) {
    std::string out(text);
    std::transform(out.begin(), out.end(), out.begin(), lower_char);
    return out;
}

bool iequals(std::string_view a, std::string_view b) {
    return a.size() == b.size() && lower(a) == lower(b);
}

std::string trim(std::string_view text) {
    const auto first = text.find_first_not_of(" \t");
    if (first == std::string_view::npos) {
        return {};
    }
    const auto last = text.find_last_not_of(" \t");
    return std::string(text.substr(first, last - first + 1));
}

/** A reason phrase: visible ASCII and spaces, at most 160 bytes. */
std::string reason_phrase(std::string_view text) {
    std::string out;
    for (const char c : text) {
        if (out.size() >= 160) {
            break;
        }
        out += (c >= 0x20 && c < 0x7f) ? c : '?';
    }
    return out;
}

outgoing_response reply(int status, std::string_view reason) {
    outgoing_response out;
    out.status = status;
    out.reason = reason_phrase(reason);
    return out;
}

/** The URI of a name-addr or addr-spec header value (first of a comma-separated list). */
std::string uri_of(std::string_view value) {
    const auto open = value.find('<');
    if (open != std::string_view::npos) {
        const auto close = value.find('>', open);
        if (close == std::string_view::npos) {
            return {};
        }
        return trim(value.substr(open + 1, close - open - 1));
    }
    value = value.substr(0, value.find(','));
    return trim(value.substr(0, value.find(';')));
}

/** user@host of a SIP URI (host lower-cased; scheme, port, parameters and headers dropped). */
std::string user_host(std::string_view uri) {
    if (uri.starts_with("sips:")) {
        uri.remove_prefix(5);
    } else if (uri.starts_with("sip:")) {
        uri.remove_prefix(4);
    }
    uri = uri.substr(0, uri.find_first_of(";?"));
    const auto at = uri.rfind('@');
    const std::string user(at == std::string_view::npos ? std::string_view() : uri.substr(0, at));
    std::string_view host = at == std::string_view::npos ? uri : uri.substr(at + 1);
    if (!host.starts_with("[")) {
        host = host.substr(0, host.find(':'));
    }
    return user + "@" + lower(host);
}

/** Splits a header value list on commas outside <> and quotes. */
std::vector<std::string> split_list(std::string_view value) {
    std::vector<std::string> out;
    std::string current;
    bool quoted = false;
    int angle = 0;
    for (const char c : value) {
        if (c == '"') {
            quoted = !quoted;
        } else if (!quoted && c == '<') {
            ++angle;
        } else if (!quoted && c == '>') {
            --angle;
        } else if (!quoted && angle == 0 && c == ',') {
            if (auto item = trim(current); !item.empty()) {
                out.push_back(std::move(item));
            }
            current.clear();
            continue;
        }
        current += c;
    }
    if (auto item = trim(current); !item.empty()) {
        out.push_back(std::move(item));
    }
    return out;
}

/** A parameter (genre, series) of the Event header; quoted strings are unquoted. */
std::optional<std::string> event_parameter(const incoming_request& request, std::string_view name) {
    const auto header = request.header("Event");
    if (!header) {
        return std::nullopt;
    }
    std::string_view rest = *header;
    auto semicolon = rest.find(';');
    while (semicolon != std::string_view::npos) {
        rest.remove_prefix(semicolon + 1);
        // A quoted value may contain ';'.
        std::string item;
        bool quoted = false;
        std::size_t i = 0;
        for (; i < rest.size(); ++i) {
            if (rest[i] == '"') {
                quoted = !quoted;
            } else if (rest[i] == ';' && !quoted) {
                break;
            }
            item += rest[i];
        }
        const auto equals = item.find('=');
        if (equals != std::string::npos && iequals(trim(item.substr(0, equals)), name)) {
            auto value = trim(item.substr(equals + 1));
            if (value.size() >= 2 && value.front() == '"' && value.back() == '"') {
                value = value.substr(1, value.size() - 2);
            }
            return value;
        }
        semicolon = i < rest.size() ? i : std::string_view::npos;
    }
    return std::nullopt;
}

bool label_matches(const std::optional<std::string>& filter,
                   const std::optional<std::string>& value) {
    return !filter || (value && lower(*filter) == lower(*value));
}

/** Outcome of a step runner, turned into a SIP response by interactive callers. */
struct step_status {
    int status = 200;
    std::string reason = "OK";
    bool retry_later = false;  // 503 with Retry-After
};

/** Serialises concurrent work on the same key (purchase or content). */
class key_locks {
  public:
    class guard {
      public:
        guard(key_locks& owner, std::string key) : owner_(&owner), key_(std::move(key)) {}
        guard(const guard&) = delete;
        guard& operator=(const guard&) = delete;
        ~guard() { owner_->release(key_); }

      private:
        key_locks* owner_;
        std::string key_;
    };

    [[nodiscard]] std::unique_ptr<guard> acquire(std::string key) {
        std::unique_lock lock(mutex_);
        released_.wait(lock, [&] { return !busy_.contains(key); });
        busy_.insert(key);
        return std::make_unique<guard>(*this, std::move(key));
    }

  private:
    void release(const std::string& key) {
        {
            std::lock_guard lock(mutex_);
            busy_.erase(key);
        }
        released_.notify_all();
    }
    std::mutex mutex_;
    std::condition_variable released_;
    std::set<std::string> busy_;
};

struct content_row {
    std::string doi_key;
    core::content_record record;
    std::string step;
    std::string cek;
    core::byte_vector torrent;
    std::string tracker;
    std::string etag;
    std::int64_t etag_expires_ms = 0;
    bool result_pending = false;
    int withdraw_pending = 0;
    std::uint32_t attempts = 0;
};

struct purchase_row {
    std::string id;
    std::string user;
    std::string request_id;
    std::string doi_key;
    std::string device_key;
    std::string device_jkt;
    std::string step;
    std::string grant_id;
    std::string document;
    std::uint32_t attempts = 0;
};

struct subscription_row {
    std::string id;
    std::string call_id;
    std::string local_tag;
    std::string remote_tag;
    std::string local_uri;
    std::string remote_uri;
    std::string target;
    std::vector<std::string> route;
    std::string subscriber;
    std::optional<std::string> genre;
    std::optional<std::string> series;
    std::int64_t expires_ms = 0;
};

constexpr std::string_view content_columns =
    "doi_key, record, step, cek, torrent, tracker, etag, etag_expires_ms, result_pending, "
    "withdraw_pending, attempts";

content_row read_content(const core::statement& query) {
    content_row row;
    row.doi_key = query.column_text(0);
    row.record = core::content_record::from_json(json::parse(query.column_text(1)));
    row.step = query.column_text(2);
    row.cek = query.column_text(3);
    row.torrent = query.column_blob(4);
    row.tracker = query.column_text(5);
    row.etag = query.column_text(6);
    row.etag_expires_ms = query.column_int64(7);
    row.result_pending = query.column_int64(8) != 0;
    row.withdraw_pending = static_cast<int>(query.column_int64(9));
    row.attempts = static_cast<std::uint32_t>(query.column_int64(10));
    return row;
}

constexpr std::string_view purchase_columns =
    "id, user, request_id, doi_key, device_key, device_jkt, step, grant_id, document, attempts";

purchase_row read_purchase(const core::statement& query) {
    purchase_row row;
    row.id = query.column_text(0);
    row.user = query.column_text(1);
    row.request_id = query.column_text(2);
    row.doi_key = query.column_text(3);
    row.device_key = query.column_text(4);
    row.device_jkt = query.column_text(5);
    row.step = query.column_text(6);
    row.grant_id = query.column_text(7);
    row.document = query.column_text(8);
    row.attempts = static_cast<std::uint32_t>(query.column_int64(9));
    return row;
}

struct assignment_row {
    std::string id;
    std::string doi_key;
    std::string seed_box;
    bool delivery_pending = true;
    bool seeded = false;
    std::uint32_t attempts = 0;
};

constexpr std::string_view assignment_columns =
    "id, doi_key, seed_box, delivery_pending, seeded_ms IS NOT NULL, attempts";

assignment_row read_assignment(const core::statement& query) {
    assignment_row row;
    row.id = query.column_text(0);
    row.doi_key = query.column_text(1);
    row.seed_box = query.column_text(2);
    row.delivery_pending = query.column_int64(3) != 0;
    row.seeded = query.column_int64(4) != 0;
    row.attempts = static_cast<std::uint32_t>(query.column_int64(5));
    return row;
}

constexpr std::string_view subscription_columns =
    "id, call_id, local_tag, remote_tag, local_uri, remote_uri, target, route, subscriber, "
    "genre, series, expires_ms";

subscription_row read_subscription(const core::statement& query) {
    subscription_row row;
    row.id = query.column_text(0);
    row.call_id = query.column_text(1);
    row.local_tag = query.column_text(2);
    row.remote_tag = query.column_text(3);
    row.local_uri = query.column_text(4);
    row.remote_uri = query.column_text(5);
    row.target = query.column_text(6);
    row.route = json::parse(query.column_text(7)).get<std::vector<std::string>>();
    row.subscriber = query.column_text(8);
    row.genre = query.column<std::optional<std::string>>(9);
    row.series = query.column<std::optional<std::string>>(10);
    row.expires_ms = query.column_int64(11);
    return row;
}

}  // namespace

// =============================================================================================

class content_service::impl {
  public:
    impl(service_settings config, service_dependencies dependencies)
        : settings(std::move(config)),
          log(dependencies.log ? *dependencies.log : core::logger("as")),
          issuer(settings.signing_key, settings.signing_kid,
                 !settings.issuer.empty()   ? settings.issuer
                 : !settings.as_uri.empty() ? settings.as_uri
                                            : settings.content_psi) {
        if (settings.signing_key.empty()) {
            throw std::system_error(std::make_error_code(std::errc::invalid_argument),
                                    "content_service: no AS signing key");
        }
        std::error_code ec;
        (void)core::doi::mint(settings.doi_prefix, ec);
        if (ec) {
            throw std::system_error(
                ec, "content_service: bad doi_prefix \"" + settings.doi_prefix + "\"");
        }
        if (settings.as_uri.empty()) {
            settings.as_uri = settings.content_psi;
        }
        for (const auto& box : settings.operator_seed_boxes) {
            std::error_code impu_ec;
            auto parsed = core::impu::parse(box, impu_ec);
            if (impu_ec) {
                throw std::system_error(std::make_error_code(std::errc::invalid_argument),
                                        "content_service: operator seed box \"" + box +
                                            "\" is not an IMPU (" + impu_ec.message() + ")");
            }
            seed_boxes.push_back(std::move(parsed));
        }
        if (settings.operator_seed_ticket_lifetime < std::chrono::seconds(1)) {
            throw std::system_error(std::make_error_code(std::errc::invalid_argument),
                                    "content_service: operator_seed_ticket_lifetime must be at "
                                    "least one second");
        }
        if (settings.license_url.empty() && !settings.drm_url.empty()) {
            settings.license_url = settings.drm_url + "/v1/licenses";
        }
        auto tokens = std::make_shared<service_token_source>(issuer, issuer.issuer(),
                                                             settings.service_token_lifetime);
        charging = dependencies.charging;
        if (!charging) {
            charging = std::make_shared<sqlite_charging>(settings.charging_database_path.empty()
                                                             ? settings.data_dir / "cdr.sqlite"
                                                             : settings.charging_database_path);
        }
        drm = dependencies.drm;
        if (!drm) {
            if (settings.drm_url.empty()) {
                throw std::system_error(std::make_error_code(std::errc::invalid_argument),
                                        "content_service: no drm_url");
            }
            drm = make_http_drm_gateway({settings.drm_url, settings.http_timeout}, tokens);
        }
        trackers = dependencies.trackers;
        if (trackers.empty()) {
            for (const auto& endpoint : settings.trackers) {
                trackers.push_back(make_http_tracker_gateway(
                    {endpoint.admin_url, settings.http_timeout}, endpoint.announce_url, tokens));
            }
        }
        if (trackers.empty()) {
            throw std::system_error(std::make_error_code(std::errc::invalid_argument),
                                    "content_service: no tracker configured");
        }
        index = dependencies.index;
        if (!index) {
            if (settings.index_url.empty()) {
                throw std::system_error(std::make_error_code(std::errc::invalid_argument),
                                        "content_service: no index_url");
            }
            index = make_http_index_gateway({settings.index_url, settings.http_timeout}, tokens);
        }
        db = core::database::open(settings.database_path.empty() ? settings.data_dir / "as.sqlite"
                                                                 : settings.database_path);
        core::migrate(db, migrations);
    }

    service_settings settings;
    std::vector<core::impu> seed_boxes;  // settings.operator_seed_boxes, parsed
    core::logger log;
    core::ticket_issuer issuer;
    std::shared_ptr<charging_backend> charging;
    std::shared_ptr<drm_gateway> drm;
    std::vector<std::shared_ptr<tracker_gateway>> trackers;
    std::shared_ptr<index_gateway> index;
    mutable std::mutex db_mutex;
    core::database db;
    key_locks locks;

    // ---------------------------------------------------------------------------------------
    // small helpers

    std::chrono::seconds backoff(std::uint32_t attempts) const {
        const auto shift = std::min<std::uint32_t>(attempts, 5);
        return settings.retry_interval * (1U << shift);
    }

    outgoing_response unavailable(std::string_view reason) const {
        auto out = reply(503, reason);
        out.headers.push_back({"Retry-After", std::to_string(settings.retry_after.count())});
        return out;
    }

    std::string purchase_uri() const { return settings.content_psi; }

    /** The "iss" of the tickets this AS signs (as given to `issuer`). */
    std::string issuer_name() const {
        return !settings.issuer.empty()   ? settings.issuer
               : !settings.as_uri.empty() ? settings.as_uri
                                          : settings.content_psi;
    }

    std::shared_ptr<tracker_gateway> tracker_by_announce(const std::string& announce) const {
        for (const auto& tracker : trackers) {
            if (tracker->announce_url() == announce) {
                return tracker;
            }
        }
        return nullptr;
    }

    bool trusted(const incoming_request& request) const {
        std::string address = request.source_address;
        if (address.size() > 2 && address.front() == '[' && address.back() == ']') {
            address = address.substr(1, address.size() - 2);
        }
        for (const auto& allowed : settings.trusted_addresses) {
            if (allowed == address) {
                return true;
            }
        }
        if (request.via_transport == transport::tls && !request.tls_peer_name.empty()) {
            for (const auto& allowed : settings.trusted_tls_names) {
                if (iequals(allowed, request.tls_peer_name)) {
                    return true;
                }
            }
        }
        return false;
    }

    bool may_publish(const core::impu& user) const {
        switch (settings.policy) {
            case publish_policy::allow_all:
                return true;
            case publish_policy::deny_all:
                return false;
            case publish_policy::allow_list:
                for (const auto& allowed : settings.publishers) {
                    std::error_code ec;
                    if (core::impu::parse(allowed, ec) == user && !ec) {
                        return true;
                    }
                }
                return false;
        }
        return false;
    }

    bool doi_prefix_accepted(const core::doi& doi) const {
        if (iequals(doi.prefix(), settings.doi_prefix)) {
            return true;
        }
        return std::any_of(
            settings.accepted_doi_prefixes.begin(), settings.accepted_doi_prefixes.end(),
            [&](const std::string& prefix) { return iequals(doi.prefix(), prefix); });
    }

    // ---------------------------------------------------------------------------------------
    // database access (callers hold db_mutex)

    std::optional<content_row> content_by(std::string_view column, const std::string& value) {
        auto query = db.prepare_cached("SELECT " + std::string(content_columns) +
                                       " FROM content WHERE " + std::string(column) + " = ?1");
        query.bind(1, value);
        if (query.step() != core::step_result::row) {
            return std::nullopt;
        }
        return read_content(query);
    }

    void save_content(const content_row& row, const std::string& last_error,
                      std::int64_t next_attempt_ms) {
        auto update = db.prepare_cached(
            "UPDATE content SET record = ?2, state = ?3, step = ?4, cek = ?5, tracker = ?6, "
            "etag = ?7, etag_expires_ms = ?8, result_pending = ?9, withdraw_pending = ?10, "
            "attempts = ?11, next_attempt_ms = ?12, last_error = ?13 WHERE doi_key = ?1");
        update.bind(1, row.doi_key);
        update.bind(2, row.record.to_json().dump());
        update.bind(3, core::to_string(row.record.state));
        update.bind(4, row.step);
        update.bind(5, row.cek);
        update.bind(6, row.tracker);
        update.bind(7, row.etag);
        update.bind(8, row.etag_expires_ms);
        update.bind(9, row.result_pending);
        update.bind(10, row.withdraw_pending);
        update.bind(11, row.attempts);
        update.bind(12, next_attempt_ms);
        update.bind(13, last_error);
        update.run();
    }

    std::optional<purchase_row> purchase_by(std::string_view where,
                                            const std::vector<std::string>& values) {
        auto query = db.prepare_cached("SELECT " + std::string(purchase_columns) +
                                       " FROM purchases WHERE " + std::string(where));
        for (std::size_t i = 0; i < values.size(); ++i) {
            query.bind(static_cast<int>(i + 1), values[i]);
        }
        if (query.step() != core::step_result::row) {
            return std::nullopt;
        }
        return read_purchase(query);
    }

    void save_purchase(const purchase_row& row, std::int64_t next_attempt_ms,
                       const std::string& last_error) {
        auto update = db.prepare_cached(
            "UPDATE purchases SET step = ?2, grant_id = ?3, document = ?4, attempts = ?5, "
            "next_attempt_ms = ?6, last_error = ?7 WHERE id = ?1");
        update.bind(1, row.id);
        update.bind(2, row.step);
        update.bind(3, row.grant_id);
        update.bind(4, row.document);
        update.bind(5, row.attempts);
        update.bind(6, next_attempt_ms);
        update.bind(7, last_error);
        update.run();
    }

    std::vector<subscription_row> live_subscriptions(time_point now) {
        auto query = db.prepare("SELECT " + std::string(subscription_columns) +
                                " FROM subscriptions WHERE expires_ms > ?1");
        query.bind(1, to_ms(now));
        std::vector<subscription_row> out;
        while (query.step() == core::step_result::row) {
            out.push_back(read_subscription(query));
        }
        return out;
    }

    // ---------------------------------------------------------------------------------------
    // documents and requests

    std::string issue(core::ticket_claims claims) const { return issuer.issue(claims); }

    core::ticket_claims claims_for(const std::string& subject, std::string audience, time_point now,
                                   std::chrono::seconds lifetime) const {
        core::ticket_claims claims;
        claims.subject = subject;
        claims.audience = std::move(audience);
        claims.issued_at = to_seconds(now);
        claims.expires_at = claims.issued_at + lifetime;
        return claims;
    }

    ticket_document make_ticket_document(const purchase_row& purchase, const content_row& content,
                                         time_point now) const {
        auto leech = claims_for(purchase.user, "tracker", now, settings.leech_ticket_lifetime);
        leech.infohashes = {content.record.infohash_v1, content.record.infohash_v2};
        leech.role = core::ticket_role::leech;
        auto grant = claims_for(purchase.user, "drm", now, settings.grant_token_lifetime);
        grant.doi = content.record.doi.str();
        grant.confirmation_thumbprint = purchase.device_jkt;
        grant.role = core::ticket_role::leech;
        grant.extra = {{"grant_id", purchase.grant_id}};
        ticket_document document;
        document.request_id = purchase.request_id;
        document.doi = content.record.doi;
        document.torrent_url = index->torrent_url(content.record.doi);
        document.announce_url = content.tracker + "/" + issue(leech);
        document.license_url = settings.license_url;
        document.grant_token = issue(grant);
        document.expires = std::min(leech.expires_at, grant.expires_at);
        return document;
    }

    outgoing_request message_to(const std::string& user, std::string_view content_type,
                                std::string body, std::string correlation_id) const {
        outgoing_request out;
        out.method = "MESSAGE";
        out.request_uri = user;
        out.from_uri = settings.as_uri;
        out.to_uri = user;
        out.route = settings.scscf_route;
        out.content_type = std::string(content_type);
        out.body = std::move(body);
        out.correlation_id = std::move(correlation_id);
        return out;
    }

    publish_result make_publish_result(const content_row& content, time_point now) const {
        auto seed = claims_for(content.record.publisher.str(), "tracker", now,
                               settings.seed_ticket_lifetime);
        seed.infohashes = {content.record.infohash_v1, content.record.infohash_v2};
        seed.role = core::ticket_role::seed;
        publish_result result;
        result.doi = content.record.doi;
        result.kid = content.record.kid;
        result.infohash_v1 = content.record.infohash_v1;
        result.state = content.record.state;
        result.seed_ticket = issue(seed);
        result.announce_url = content.tracker + "/" + result.seed_ticket;
        result.torrent_url = index->torrent_url(content.record.doi);
        result.expires = seed.expires_at;
        return result;
    }

    // ---------------------------------------------------------------------------------------
    // operator seed boxes

    bool is_seed_box(const core::impu& user) const {
        return std::find(seed_boxes.begin(), seed_boxes.end(), user) != seed_boxes.end();
    }

    std::optional<assignment_row> assignment_by_id(const std::string& id) {
        auto query = db.prepare_cached("SELECT " + std::string(assignment_columns) +
                                       " FROM seed_assignments WHERE id = ?1");
        query.bind(1, id);
        if (query.step() != core::step_result::row) {
            return std::nullopt;
        }
        return read_assignment(query);
    }

    /** Records one seed assignment per configured seed box (caller holds db_mutex and has an
     *  open transaction); existing ones are kept. */
    void insert_assignments(const content_row& content, time_point now) {
        auto insert = db.prepare_cached(
            "INSERT OR IGNORE INTO seed_assignments (id, doi_key, seed_box, created_ms) VALUES "
            "(?1, ?2, ?3, ?4)");
        for (const auto& box : seed_boxes) {
            insert.reset();
            insert.bind(1, assignment_id_for(content.doi_key, box.str()));
            insert.bind(2, content.doi_key);
            insert.bind(3, box.str());
            insert.bind(4, to_ms(now));
            insert.run();
        }
    }

    seed_assignment make_seed_assignment(const assignment_row& assignment,
                                         const content_row& content, time_point now) const {
        auto ticket =
            claims_for(assignment.seed_box, "tracker", now, settings.operator_seed_ticket_lifetime);
        ticket.infohashes = {content.record.infohash_v1, content.record.infohash_v2};
        ticket.role = core::ticket_role::operator_seed;
        seed_assignment document;
        document.assignment_id = assignment.id;
        document.doi = content.record.doi;
        document.infohash_v1 = content.record.infohash_v1;
        document.torrent_url = index->torrent_url(content.record.doi);
        document.announce_url = content.tracker + "/" + issue(ticket);
        document.expires = ticket.expires_at;
        return document;
    }

    /** The assignment MESSAGE (a fresh ticket each time); marks it in flight (caller holds
     *  db_mutex). */
    outgoing_request send_assignment(assignment_row& assignment, const content_row& content,
                                     time_point now) {
        ++assignment.attempts;
        auto update = db.prepare_cached(
            "UPDATE seed_assignments SET attempts = ?2, next_attempt_ms = ?3 WHERE id = ?1");
        update.bind(1, assignment.id);
        update.bind(2, assignment.attempts);
        update.bind(3, to_ms(now + settings.delivery_timeout));
        update.run();
        auto out = message_to(assignment.seed_box, seed_assignment_media_type,
                              make_seed_assignment(assignment, content, now).serialize(),
                              "seed:" + assignment.id);
        out.from_uri = settings.content_psi.empty() ? settings.as_uri : settings.content_psi;
        return out;
    }

    /** Sends every undelivered, unseeded assignment of a content item (caller holds
     *  db_mutex). */
    void send_assignments(const content_row& content, time_point now,
                          std::vector<outgoing_request>& out) {
        std::vector<assignment_row> pending;
        {
            auto query = db.prepare("SELECT " + std::string(assignment_columns) +
                                    " FROM seed_assignments WHERE doi_key = ?1 AND "
                                    "delivery_pending != 0 AND seeded_ms IS NULL ORDER BY rowid");
            query.bind(1, content.doi_key);
            while (query.step() == core::step_result::row) {
                pending.push_back(read_assignment(query));
            }
        }
        for (auto& assignment : pending) {
            out.push_back(send_assignment(assignment, content, now));
        }
    }

    /**
     * Tracker and index state "active" (the content key lock is held by the caller); the row
     * is saved only when both calls succeeded.
     */
    void activate_content(content_row& content, std::error_code& ec, std::string& detail) {
        ec.clear();
        const auto tracker = tracker_by_announce(content.tracker);
        if (tracker) {
            tracker->set_torrent_state(content.record.infohash_v1, "active", ec, &detail);
            if (ec) {
                return;
            }
        }
        auto record = content.record;
        record.state = core::content_state::active;
        index->put_entry(record, content.torrent, purchase_uri(), ec, &detail);
        if (ec) {
            return;
        }
        content.record = record;
        std::lock_guard lock(db_mutex);
        save_content(content, "", 0);
    }

    service_result seed_report_received(const incoming_request& request, const core::impu& user,
                                        time_point now) {
        service_result result;
        if (!is_seed_box(user)) {
            result.response = reply(403, "Forbidden (not an operator seed box)");
            return result;
        }
        std::error_code ec;
        body_error detail;
        const auto report = seed_report::parse(request.body, ec, &detail);
        if (ec) {
            result.response = reply(400, "Bad Request (" + detail.message() + ")");
            return result;
        }
        std::optional<assignment_row> assignment;
        std::optional<content_row> content;
        {
            std::lock_guard lock(db_mutex);
            assignment = assignment_by_id(report.assignment_id);
            if (assignment) {
                content = content_by("doi_key", assignment->doi_key);
            }
        }
        if (!assignment || !content) {
            result.response = reply(404, "Unknown Assignment");
            return result;
        }
        std::error_code box_ec;
        if (core::impu::parse(assignment->seed_box, box_ec) != user || box_ec) {
            result.response = reply(403, "Forbidden (assigned to another operator seed box)");
            return result;
        }
        if (report.doi.key() != assignment->doi_key) {
            result.response = reply(400, "Bad Request (doi: does not match the assignment)");
            return result;
        }
        if (report.infohash_v1 != content->record.infohash_v1) {
            result.response =
                reply(400, "Bad Request (infohash_v1: does not match the assignment)");
            return result;
        }
        const auto guard = locks.acquire("content\n" + content->record.infohash_v1);
        {
            std::lock_guard lock(db_mutex);
            assignment = assignment_by_id(report.assignment_id);
            content = content_by("doi_key", assignment->doi_key);
        }
        if (assignment->seeded) {
            result.response = reply(200, "OK");
            return result;
        }
        if (content->record.state == core::content_state::withdrawn) {
            result.response = reply(403, "Content Withdrawn");
            return result;
        }
        const bool activating = content->record.state == core::content_state::muted;
        if (activating) {
            std::string why;
            activate_content(*content, ec, why);
            if (ec) {
                log.warning("activation after a seed report failed",
                            {{"doi", content->record.doi.str()},
                             {"seed_box", user.str()},
                             {"error", why.empty() ? ec.message() : why}});
                result.response = unavailable("Activation Failed, Retry Later");
                return result;
            }
        }
        {
            std::lock_guard lock(db_mutex);
            auto update = db.prepare_cached(
                "UPDATE seed_assignments SET seeded_ms = ?2, delivery_pending = 0, "
                "last_error = '' WHERE id = ?1");
            update.bind(1, assignment->id);
            update.bind(2, to_ms(now));
            update.run();
        }
        if (activating) {
            log.info("content activated by operator seed box", {{"doi", content->record.doi.str()},
                                                                {"seed_box", user.str()},
                                                                {"assignment", assignment->id}});
        } else {
            log.info("operator seed box holds content already active",
                     {{"doi", content->record.doi.str()},
                      {"seed_box", user.str()},
                      {"assignment", assignment->id}});
        }
        result.response = reply(200, "OK");
        return result;
    }

    catalog_entry entry_of(const core::content_record& record) const {
        return {record, index->torrent_url(record.doi), purchase_uri()};
    }

    outgoing_request notify(const subscription_row& subscription, const std::string& state,
                            const std::optional<catalog_notification>& body) const {
        outgoing_request out;
        out.method = "NOTIFY";
        out.request_uri = subscription.target;
        out.from_uri = subscription.local_uri;
        out.from_tag = subscription.local_tag;
        out.to_uri = subscription.remote_uri;
        out.to_tag = subscription.remote_tag;
        out.call_id = subscription.call_id;
        out.route = subscription.route;
        out.headers.push_back({"Event", std::string(catalog_event_name)});
        out.headers.push_back({"Subscription-State", state});
        if (body) {
            out.content_type = std::string(catalog_media_type);
            out.body = body->serialize();
        }
        out.correlation_id = "notify:" + subscription.id;
        return out;
    }

    std::string active_state(const subscription_row& subscription, time_point now) const {
        const auto left = std::max<std::int64_t>(0, (subscription.expires_ms - to_ms(now)) / 1000);
        return "active;expires=" + std::to_string(left);
    }

    /** The full catalog for a subscription's filter (caller holds db_mutex). */
    catalog_notification full_catalog(const subscription_row& subscription) {
        auto query = db.prepare(
            "SELECT record FROM content WHERE step = 'published' AND state != 'withdrawn' "
            "ORDER BY published_seq DESC");
        catalog_notification out;
        out.event = catalog_event::full;
        while (query.step() == core::step_result::row) {
            auto record = core::content_record::from_json(json::parse(query.column_text(0)));
            if (!label_matches(subscription.genre, record.genre) ||
                !label_matches(subscription.series, record.series)) {
                continue;
            }
            if (out.entries.size() >= settings.max_catalog_entries) {
                out.truncated = true;
                break;
            }
            out.entries.push_back(entry_of(record));
        }
        return out;
    }

    /** NOTIFYs of a change to every matching live subscription (caller holds db_mutex). */
    std::vector<outgoing_request> change_notifications(const core::content_record& record,
                                                       catalog_event event, time_point now) {
        std::vector<outgoing_request> out;
        catalog_notification body;
        body.event = event;
        body.entries.push_back(entry_of(record));
        for (const auto& subscription : live_subscriptions(now)) {
            if (label_matches(subscription.genre, record.genre) &&
                label_matches(subscription.series, record.series)) {
                out.push_back(notify(subscription, active_state(subscription, now), body));
            }
        }
        return out;
    }

    // ---------------------------------------------------------------------------------------
    // purchases

    /**
     * Advances a purchase as far as it goes. Returns the status for an interactive caller and
     * appends the ticket MESSAGE to @p out once the purchase is ticketed.
     */
    step_status advance_purchase(purchase_row& purchase, time_point now,
                                 std::vector<outgoing_request>& out,
                                 std::optional<content_row> content = std::nullopt,
                                 bool requested_again = false) {
        if (!content || content->doi_key != purchase.doi_key) {
            std::lock_guard lock(db_mutex);
            content = content_by("doi_key", purchase.doi_key);
        }
        if (!content) {
            return {404, "Unknown DOI", false};
        }
        auto fail_later = [&](const std::string& why, std::string_view reason) {
            ++purchase.attempts;
            std::lock_guard lock(db_mutex);
            save_purchase(purchase, to_ms(now + backoff(purchase.attempts)), why);
            log.warning("purchase step failed",
                        {{"purchase", purchase.id}, {"step", purchase.step}, {"error", why}});
            return step_status{503, std::string(reason), true};
        };

        if (purchase.step == "new") {
            charge_record record;
            record.charge_id = purchase.id;
            record.kind = charge_kind::download;
            record.user = purchase.user;
            record.provider = content->record.publisher.str();
            record.doi = content->record.doi.str();
            record.price = content->record.price;
            record.request_id = purchase.request_id;
            record.time = now;
            const auto result = charging->charge(record);
            if (result.outcome == charge_outcome::declined) {
                purchase.step = "declined";
                std::lock_guard lock(db_mutex);
                save_purchase(purchase, 0, result.reason);
            } else if (result.outcome != charge_outcome::charged) {
                return fail_later("charging: " + result.reason, "Charging Unavailable");
            } else {
                purchase.step = "charged";
                purchase.attempts = 0;
                std::lock_guard lock(db_mutex);
                save_purchase(purchase, 0, "");
            }
        }
        if (purchase.step == "declined") {
            return {402, "Payment Declined", false};
        }
        if (purchase.step == "failed") {
            return {500, "Content Could Not Be Granted (Charge Refunded)", false};
        }
        if (purchase.step == "charged") {
            drm_grant_request grant;
            grant.request_id = purchase.id;
            grant.user = purchase.user;
            grant.doi = content->record.doi;
            grant.device_key = core::jwk::parse(purchase.device_key);
            grant.rights = settings.default_rights;
            std::error_code ec;
            std::string detail;
            const auto grant_id = drm->grant(grant, ec, &detail);
            if (ec == errc::dependency_unavailable) {
                return fail_later(detail, "DRM Server Unavailable");
            }
            if (ec) {
                std::error_code refund_ec;
                charging->refund(purchase.id, "DRM refused the grant: " + detail, now, refund_ec);
                if (refund_ec) {
                    return fail_later("refund: " + refund_ec.message(), "Charging Unavailable");
                }
                purchase.step = "failed";
                std::lock_guard lock(db_mutex);
                save_purchase(purchase, 0, detail);
                log.error("DRM refused a grant; charge refunded",
                          {{"purchase", purchase.id}, {"detail", detail}});
                return {500, "DRM Refused The Grant (Charge Refunded)", false};
            }
            purchase.grant_id = grant_id;
            purchase.step = "granted";
            purchase.attempts = 0;
            // Not committed on its own: the ticket document is made at once and committed
            // with it below (one commit instead of two). A crash before that commit resumes
            // from "charged", and the DRM grant is idempotent on the request id, so the replay
            // gets the same grant.
        }
        bool fresh_document = false;
        if (purchase.step == "granted") {
            purchase.document = make_ticket_document(purchase, *content, now).serialize();
            purchase.step = "ticketed";
            fresh_document = true;
        }
        // ticketed or delivered: (re-)send the document; refresh it when its tickets are stale
        // or when the user asks again (a client renewing its leech ticket or grant token:
        // fresh tickets, never a second charge).
        if (!fresh_document && requested_again) {
            purchase.document = make_ticket_document(purchase, *content, now).serialize();
        } else if (!fresh_document) {
            std::error_code ec;
            auto document = ticket_document::parse(purchase.document, ec);
            if (ec || document.expires <= to_seconds(now) + std::chrono::minutes(5)) {
                purchase.document = make_ticket_document(purchase, *content, now).serialize();
            }
        }
        ++purchase.attempts;
        {
            std::lock_guard lock(db_mutex);
            save_purchase(purchase, to_ms(now + settings.delivery_timeout), "");
        }
        out.push_back(message_to(purchase.user, ticket_media_type, purchase.document,
                                 "purchase:" + purchase.id));
        return {200, "OK", false};
    }

    service_result acquire(const incoming_request& request, const core::impu& user,
                           time_point now) {
        service_result result;
        if (!iequals(request.content_type, acquire_media_type)) {
            result.response = reply(415, "Unsupported Media Type");
            result.response.headers.push_back({"Accept", std::string(acquire_media_type)});
            return result;
        }
        std::error_code ec;
        body_error detail;
        const auto body = acquire_request::parse(request.body, ec, &detail);
        if (ec) {
            result.response = reply(400, "Bad Request (" + detail.message() + ")");
            return result;
        }
        const auto guard = locks.acquire("purchase\n" + user.str() + "\n" + body.request_id);
        std::optional<content_row> content;
        std::optional<purchase_row> purchase;
        bool requested_again = false;
        {
            std::lock_guard lock(db_mutex);
            content = content_by("doi_key", body.doi.key());
            if (!content || content->step != "published") {
                result.response = reply(404, "Unknown DOI");
                return result;
            }
            if (content->record.state == core::content_state::withdrawn) {
                result.response = reply(403, "Content Withdrawn");
                return result;
            }
            purchase = purchase_by("user = ?1 AND request_id = ?2", {user.str(), body.request_id});
            requested_again = purchase.has_value();
            const std::string jkt = body.device_key.thumbprint();
            if (purchase) {
                if (purchase->doi_key != content->doi_key || purchase->device_jkt != jkt) {
                    result.response =
                        reply(409, "request_id Already Used For Another DOI Or Device Key");
                    return result;
                }
            } else {
                purchase_row row;
                row.id = purchase_id_for(issuer_name(), user.str(), body.request_id);
                row.user = user.str();
                row.request_id = body.request_id;
                row.doi_key = content->doi_key;
                row.device_key = body.device_key.public_only().serialize();
                row.device_jkt = jkt;
                row.step = "new";
                auto insert = db.prepare_cached(
                    "INSERT INTO purchases (id, user, request_id, doi_key, device_key, "
                    "device_jkt, step, created_ms) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)");
                insert.bind(1, row.id);
                insert.bind(2, row.user);
                insert.bind(3, row.request_id);
                insert.bind(4, row.doi_key);
                insert.bind(5, row.device_key);
                insert.bind(6, row.device_jkt);
                insert.bind(7, row.step);
                insert.bind(8, to_ms(now));
                insert.run();
                purchase = row;
            }
        }
        const auto status =
            advance_purchase(*purchase, now, result.requests, std::move(content), requested_again);
        result.response =
            status.retry_later ? unavailable(status.reason) : reply(status.status, status.reason);
        return result;
    }

    // ---------------------------------------------------------------------------------------
    // publishing

    /** Advances a publish as far as it goes; appends the result MESSAGE and NOTIFYs once
     *  published. Returns the status for an interactive caller. */
    step_status advance_publish(content_row& content, time_point now,
                                std::vector<outgoing_request>& out) {
        auto fail_later = [&](const std::string& why, std::string_view reason) {
            ++content.attempts;
            std::lock_guard lock(db_mutex);
            save_content(content, why, to_ms(now + backoff(content.attempts)));
            log.warning(
                "publish step failed",
                {{"doi", content.record.doi.str()}, {"step", content.step}, {"error", why}});
            return step_status{503, std::string(reason), true};
        };
        auto fail_for_good = [&](const std::string& why, int status, std::string_view reason) {
            std::lock_guard lock(db_mutex);
            if (content.step == "reserved") {
                auto remove = db.prepare("DELETE FROM content WHERE doi_key = ?1");
                remove.bind(1, content.doi_key);
                remove.run();
            } else {
                content.step = "failed";
                save_content(content, why, 0);
            }
            log.error("publish refused", {{"doi", content.record.doi.str()}, {"error", why}});
            return step_status{status, std::string(reason), false};
        };

        if (content.step == "reserved") {
            drm_content_registration registration;
            registration.doi = content.record.doi;
            registration.kid = content.record.kid;
            registration.cek_jwe = content.cek;
            registration.metadata = content.record.to_json();
            std::error_code ec;
            std::string detail;
            drm->register_content(registration, ec, &detail);
            if (ec == errc::dependency_unavailable) {
                return fail_later(detail, "DRM Server Unavailable");
            }
            if (ec == errc::conflict) {
                return fail_for_good(detail, 409, "DOI Registered With Another Key");
            }
            if (ec) {
                return fail_for_good(detail, 500, "DRM Server Refused The Content Key");
            }
            content.step = "key_registered";
            content.cek.clear();  // the DRM server holds it now
            content.attempts = 0;
            std::lock_guard lock(db_mutex);
            save_content(content, "", 0);
        }
        if (content.step == "key_registered") {
            std::error_code ec;
            std::string detail;
            if (content.tracker.empty() || !tracker_by_announce(content.tracker)) {
                std::shared_ptr<tracker_gateway> best;
                tracker_load best_load;
                for (const auto& tracker : trackers) {
                    std::error_code load_ec;
                    const auto load = tracker->load(load_ec, &detail);
                    if (load_ec) {
                        log.warning("tracker skipped",
                                    {{"tracker", tracker->announce_url()}, {"error", detail}});
                        continue;
                    }
                    const auto peers = load.seeders + load.leechers;
                    if (!best || peers < best_load.seeders + best_load.leechers ||
                        (peers == best_load.seeders + best_load.leechers &&
                         load.torrents < best_load.torrents)) {
                        best = tracker;
                        best_load = load;
                    }
                }
                if (!best) {
                    return fail_later("no tracker reachable", "No Tracker Available");
                }
                content.tracker = best->announce_url();
                std::lock_guard lock(db_mutex);
                save_content(content, "", 0);
            }
            const auto tracker = tracker_by_announce(content.tracker);
            tracker_torrent torrent;
            torrent.infohash_v1 = content.record.infohash_v1;
            torrent.infohash_v2 = content.record.infohash_v2;
            torrent.doi = content.record.doi;
            torrent.state = content.record.state == core::content_state::muted ? "muted" : "active";
            tracker->register_torrent(torrent, ec, &detail);
            if (ec == errc::dependency_unavailable) {
                return fail_later(detail, "Tracker Unavailable");
            }
            if (ec && ec != errc::conflict) {
                return fail_for_good(detail, 500, "Tracker Refused The Torrent");
            }
            if (ec == errc::conflict) {
                // Registered by an earlier attempt: make sure the state is right.
                tracker->set_torrent_state(torrent.infohash_v1, torrent.state, ec, &detail);
                if (ec) {
                    return fail_later(detail, "Tracker Unavailable");
                }
            }
            content.step = "tracked";
            content.attempts = 0;
            std::lock_guard lock(db_mutex);
            save_content(content, "", 0);
        }
        if (content.step == "tracked") {
            std::error_code ec;
            std::string detail;
            index->put_entry(content.record, content.torrent, purchase_uri(), ec, &detail);
            if (ec == errc::dependency_unavailable) {
                return fail_later(detail, "Content Index Unavailable");
            }
            if (ec) {
                return fail_for_good(detail, 500, "Content Index Refused The Entry");
            }
            content.step = "indexed";
            content.attempts = 0;
            std::lock_guard lock(db_mutex);
            save_content(content, "", 0);
        }
        bool just_published = false;
        if (content.step == "indexed") {
            charge_record record;
            record.charge_id = "publish:" + content.record.doi.str();
            record.kind = charge_kind::publish;
            record.user = content.record.publisher.str();
            record.provider = content.record.publisher.str();
            record.doi = content.record.doi.str();
            record.price = {0, content.record.price.currency};
            record.time = now;
            const auto charged = charging->charge(record);
            if (charged.outcome == charge_outcome::failed) {
                return fail_later("charging: " + charged.reason, "Charging Unavailable");
            }
            content.step = "published";
            content.result_pending = true;
            content.attempts = 0;
            std::lock_guard lock(db_mutex);
            core::transaction txn(db);
            save_content(content, "", 0);
            auto seq = db.prepare(
                "UPDATE content SET published_seq = "
                "(SELECT COALESCE(MAX(published_seq), 0) + 1 FROM content) WHERE doi_key = ?1");
            seq.bind(1, content.doi_key);
            seq.run();
            const bool assign =
                content.record.state == core::content_state::muted && !seed_boxes.empty();
            if (assign) {
                insert_assignments(content, now);
            }
            txn.commit();
            just_published = assign;
            auto notifications =
                change_notifications(content.record, catalog_event::published, now);
            out.insert(out.end(), notifications.begin(), notifications.end());
            log.info("content published", {{"doi", content.record.doi.str()},
                                           {"publisher", content.record.publisher.str()},
                                           {"tracker", content.tracker}});
        }
        if (content.step == "failed") {
            return {500, "Publishing Failed", false};
        }
        if (content.step == "published" && content.record.state != core::content_state::withdrawn) {
            ++content.attempts;
            {
                std::lock_guard lock(db_mutex);
                save_content(content, "", to_ms(now + settings.delivery_timeout));
            }
            out.push_back(message_to(content.record.publisher.str(), publish_result_media_type,
                                     make_publish_result(content, now).serialize(),
                                     "publish:" + content.doi_key));
            if (just_published) {
                std::lock_guard lock(db_mutex);
                send_assignments(content, now, out);
            }
        }
        return {200, "OK", false};
    }

    /** Withdraws content everywhere; returns the NOTIFYs. Holds the content key lock. */
    std::vector<outgoing_request> withdraw_content(content_row& content, time_point now) {
        std::vector<outgoing_request> out;
        if (content.record.state != core::content_state::withdrawn) {
            const bool was_published = content.step == "published";
            const auto steps = std::array<std::string_view, 5>{"reserved", "key_registered",
                                                               "tracked", "indexed", "published"};
            const auto reached =
                std::find(steps.begin(), steps.end(), content.step) - steps.begin();
            int pending = 0;
            if (reached >= 1 || content.step == "failed") {
                pending |= withdraw_drm;
            }
            if (reached >= 2 || content.step == "failed") {
                pending |= withdraw_tracker;
            }
            if (reached >= 3 || content.step == "failed") {
                pending |= withdraw_index;
            }
            content.record.state = core::content_state::withdrawn;
            content.withdraw_pending = pending;
            content.result_pending = false;
            content.attempts = 0;
            std::lock_guard lock(db_mutex);
            save_content(content, "", 0);
            if (was_published) {
                out = change_notifications(content.record, catalog_event::withdrawn, now);
            }
            log.info("content withdrawn", {{"doi", content.record.doi.str()}});
        }
        finish_withdrawal(content, now);
        return out;
    }

    void finish_withdrawal(content_row& content, time_point now) {
        std::string errors;
        std::error_code ec;
        std::string detail;
        if ((content.withdraw_pending & withdraw_tracker) != 0) {
            const auto tracker = tracker_by_announce(content.tracker);
            if (tracker) {
                tracker->set_torrent_state(content.record.infohash_v1, "disabled", ec, &detail);
            }
            if (!ec || ec == errc::dependency_refused) {
                content.withdraw_pending &= ~withdraw_tracker;
            } else {
                errors += detail + "; ";
            }
        }
        if ((content.withdraw_pending & withdraw_drm) != 0) {
            drm->set_content_active(content.record.doi, false, ec, &detail);
            if (!ec || ec == errc::dependency_refused) {
                content.withdraw_pending &= ~withdraw_drm;
            } else {
                errors += detail + "; ";
            }
        }
        if ((content.withdraw_pending & withdraw_index) != 0) {
            index->withdraw_entry(content.record.doi, ec, &detail);
            if (!ec || ec == errc::dependency_refused) {
                content.withdraw_pending &= ~withdraw_index;
            } else {
                errors += detail + "; ";
            }
        }
        if (content.withdraw_pending != 0) {
            ++content.attempts;
        }
        std::lock_guard lock(db_mutex);
        save_content(content, errors,
                     content.withdraw_pending == 0 ? 0 : to_ms(now + backoff(content.attempts)));
    }

    service_result publish(const incoming_request& request, const core::impu& user,
                           time_point now) {
        service_result result;
        if (!iequals(request.event, content_event)) {
            result.response = reply(489, "Bad Event");
            result.response.headers.push_back({"Allow-Events", std::string(content_event)});
            return result;
        }
        if (!may_publish(user)) {
            result.response = reply(403, "Publishing Not Allowed For This User");
            return result;
        }
        const auto if_match = request.header("SIP-If-Match");
        if (if_match && request.body.empty()) {
            return conditional_publish(request, user, trim(*if_match), now);
        }
        if (request.body.empty()) {
            result.response = reply(400, "Bad Request (PUBLISH without body needs SIP-If-Match)");
            return result;
        }
        if (!iequals(request.content_type, publish_media_type)) {
            result.response = reply(415, "Unsupported Media Type");
            result.response.headers.push_back({"Accept", std::string(publish_media_type)});
            return result;
        }
        std::error_code ec;
        body_error detail;
        auto body = publish_request::parse(request.body, ec, &detail);
        if (ec) {
            result.response = reply(400, "Bad Request (" + detail.message() + ")");
            return result;
        }
        if (body.action == publish_action::withdraw) {
            return publisher_withdrawal(body.withdraw_doi.key(), user, now);
        }

        const auto summary = drm::inspect_torrent(body.torrent, ec);
        if (ec) {
            result.response = reply(400, "Bad Request (torrent: not a valid .torrent)");
            return result;
        }
        if (!summary.is_private) {
            result.response = reply(400, "Bad Request (torrent: must be private, BEP 27)");
            return result;
        }
        if (summary.infohash_v1.empty() || summary.infohash_v2.empty()) {
            result.response = reply(400, "Bad Request (torrent: must be a v1+v2 hybrid, BEP 52)");
            return result;
        }

        const auto guard = locks.acquire("content\n" + summary.infohash_v1);
        std::optional<content_row> content;
        {
            std::lock_guard lock(db_mutex);
            content = content_by("infohash_v1", summary.infohash_v1);
            if (content) {
                if (content->record.publisher != user) {
                    result.response = reply(409, "Torrent Already Published By Another User");
                    return result;
                }
                if (content->record.state == core::content_state::withdrawn ||
                    content->step == "failed") {
                    result.response = reply(409, "Torrent Was Withdrawn Or Failed Before");
                    return result;
                }
            } else {
                core::doi doi;
                if (body.metadata.doi) {
                    doi = *body.metadata.doi;
                    if (!doi_prefix_accepted(doi)) {
                        result.response = reply(403, "DOI Prefix Not Allowed");
                        return result;
                    }
                    if (content_by("doi_key", doi.key())) {
                        result.response = reply(409, "DOI Already Taken");
                        return result;
                    }
                } else {
                    doi = core::doi::mint(settings.doi_prefix);
                }
                content_row row;
                row.doi_key = doi.key();
                row.record.doi = doi;
                row.record.publisher = user;
                row.record.title = body.metadata.title;
                row.record.description = body.metadata.description;
                row.record.content_type = body.metadata.content_type;
                row.record.genre = body.metadata.genre;
                row.record.series = body.metadata.series;
                row.record.price = body.metadata.price;
                row.record.size_bytes = body.metadata.size_bytes;
                row.record.infohash_v1 = summary.infohash_v1;
                row.record.infohash_v2 = summary.infohash_v2;
                row.record.kid = body.kid;
                row.record.state = settings.mute_until_operator_seeded
                                       ? core::content_state::muted
                                       : core::content_state::active;
                row.record.created_at = std::chrono::time_point_cast<std::chrono::seconds>(now);
                row.step = "reserved";
                row.cek = body.cek;
                row.torrent = body.torrent;
                row.etag = random_id();
                row.etag_expires_ms = to_ms(now + publication_expiry(request));
                auto insert = db.prepare(
                    "INSERT INTO content (doi_key, doi, publisher, record, infohash_v1, "
                    "infohash_v2, kid, state, step, cek, torrent, etag, etag_expires_ms, "
                    "created_ms) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, "
                    "?14)");
                insert.bind(1, row.doi_key);
                insert.bind(2, doi.str());
                insert.bind(3, user.str());
                insert.bind(4, row.record.to_json().dump());
                insert.bind(5, row.record.infohash_v1);
                insert.bind(6, row.record.infohash_v2);
                insert.bind(7, row.record.kid);
                insert.bind(8, core::to_string(row.record.state));
                insert.bind(9, row.step);
                insert.bind(10, row.cek);
                insert.bind(11, row.torrent);
                insert.bind(12, row.etag);
                insert.bind(13, row.etag_expires_ms);
                insert.bind(14, to_ms(now));
                insert.run(ec);
                if (ec) {
                    result.response = reply(409, "DOI Already Taken");
                    return result;
                }
                content = std::move(row);
            }
        }
        const auto status = advance_publish(*content, now, result.requests);
        if (status.status != 200) {
            result.response = status.retry_later ? unavailable(status.reason)
                                                 : reply(status.status, status.reason);
            return result;
        }
        result.response = publish_ok(*content, request, now);
        return result;
    }

    std::chrono::seconds publication_expiry(const incoming_request& request) const {
        if (request.expires && *request.expires > 0) {
            return std::min(std::chrono::seconds(*request.expires), settings.publication_expires);
        }
        return settings.publication_expires;
    }

    outgoing_response publish_ok(content_row& content, const incoming_request& request,
                                 time_point now) {
        const auto expiry = publication_expiry(request);
        content.etag_expires_ms = to_ms(now + expiry);
        {
            std::lock_guard lock(db_mutex);
            auto update = db.prepare("UPDATE content SET etag_expires_ms = ?2 WHERE doi_key = ?1");
            update.bind(1, content.doi_key);
            update.bind(2, content.etag_expires_ms);
            update.run();
        }
        auto response = reply(200, "OK");
        response.headers.push_back({"SIP-ETag", content.etag});
        response.headers.push_back({"Expires", std::to_string(expiry.count())});
        return response;
    }

    service_result conditional_publish(const incoming_request& request, const core::impu& user,
                                       const std::string& etag, time_point now) {
        service_result result;
        std::optional<content_row> content;
        {
            std::lock_guard lock(db_mutex);
            content = content_by("etag", etag);
        }
        if (!content || content->record.publisher != user || content->step != "published" ||
            content->record.state == core::content_state::withdrawn ||
            content->etag_expires_ms <= to_ms(now)) {
            result.response = reply(412, "Conditional Request Failed");
            return result;
        }
        if (request.expires && *request.expires == 0) {
            return publisher_withdrawal(content->doi_key, user, now);
        }
        // Refresh: a new entity tag (RFC 3903 §4.1).
        content->etag = random_id();
        {
            std::lock_guard lock(db_mutex);
            auto update = db.prepare("UPDATE content SET etag = ?2 WHERE doi_key = ?1");
            update.bind(1, content->doi_key);
            update.bind(2, content->etag);
            update.run();
        }
        result.response = publish_ok(*content, request, now);
        return result;
    }

    service_result publisher_withdrawal(const std::string& doi_key, const core::impu& user,
                                        time_point now) {
        service_result result;
        std::optional<content_row> content;
        {
            std::lock_guard lock(db_mutex);
            content = content_by("doi_key", doi_key);
        }
        if (!content) {
            result.response = reply(404, "Unknown DOI");
            return result;
        }
        const auto guard = locks.acquire("content\n" + content->record.infohash_v1);
        {
            std::lock_guard lock(db_mutex);
            content = content_by("doi_key", doi_key);
        }
        if (content->record.publisher != user) {
            result.response = reply(403, "Only The Publisher May Withdraw This Content");
            return result;
        }
        result.requests = withdraw_content(*content, now);
        result.response = reply(200, "OK");
        result.response.headers.push_back({"Expires", "0"});
        return result;
    }

    // ---------------------------------------------------------------------------------------
    // subscriptions

    service_result subscribe(const incoming_request& request, const core::impu& user,
                             time_point now) {
        service_result result;
        if (!iequals(request.event, catalog_event_name)) {
            result.response = reply(489, "Bad Event");
            result.response.headers.push_back({"Allow-Events", std::string(catalog_event_name)});
            return result;
        }
        auto expires =
            request.expires ? std::chrono::seconds(*request.expires) : settings.max_subscription;
        if (expires.count() > 0 && expires < settings.min_subscription) {
            result.response = reply(423, "Interval Too Brief");
            result.response.headers.push_back(
                {"Min-Expires", std::to_string(settings.min_subscription.count())});
            return result;
        }
        expires = std::min(expires, settings.max_subscription);

        std::lock_guard lock(db_mutex);
        subscription_row subscription;
        if (request.to_tag.empty()) {
            subscription.id = random_id();
            subscription.call_id = request.call_id;
            subscription.local_tag = random_id().substr(0, 16);
            subscription.remote_tag = request.from_tag;
            subscription.local_uri = request.to_uri;
            subscription.remote_uri = request.from_uri;
            const auto contact = request.header("Contact");
            subscription.target = contact ? uri_of(*contact) : std::string();
            if (subscription.target.empty()) {
                subscription.target = user.str();
            }
            for (const auto& field : request.headers) {
                if (iequals(field.name, "Record-Route")) {
                    for (auto& item : split_list(field.value)) {
                        subscription.route.push_back(std::move(item));
                    }
                }
            }
            if (subscription.route.empty()) {
                subscription.route = settings.scscf_route;
            }
            subscription.subscriber = user.str();
            subscription.genre = event_parameter(request, "genre");
            subscription.series = event_parameter(request, "series");
            subscription.expires_ms = to_ms(now + expires);
            if (expires.count() > 0) {
                auto insert = db.prepare(
                    "INSERT INTO subscriptions (id, call_id, local_tag, remote_tag, local_uri, "
                    "remote_uri, target, route, subscriber, genre, series, expires_ms) VALUES "
                    "(?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12)");
                insert.bind(1, subscription.id);
                insert.bind(2, subscription.call_id);
                insert.bind(3, subscription.local_tag);
                insert.bind(4, subscription.remote_tag);
                insert.bind(5, subscription.local_uri);
                insert.bind(6, subscription.remote_uri);
                insert.bind(7, subscription.target);
                insert.bind(8, json(subscription.route).dump());
                insert.bind(9, subscription.subscriber);
                insert.bind(10, subscription.genre);
                insert.bind(11, subscription.series);
                insert.bind(12, subscription.expires_ms);
                insert.run();
            }
        } else {
            auto query = db.prepare("SELECT " + std::string(subscription_columns) +
                                    " FROM subscriptions WHERE call_id = ?1 AND local_tag = ?2");
            query.bind(1, request.call_id);
            query.bind(2, request.to_tag);
            if (query.step() != core::step_result::row) {
                result.response = reply(481, "Subscription Does Not Exist");
                return result;
            }
            subscription = read_subscription(query);
            if (subscription.subscriber != user.str()) {
                result.response = reply(403, "Not The Subscriber");
                return result;
            }
            subscription.expires_ms = to_ms(now + expires);
            if (expires.count() == 0) {
                auto remove = db.prepare("DELETE FROM subscriptions WHERE id = ?1");
                remove.bind(1, subscription.id);
                remove.run();
            } else {
                auto update = db.prepare("UPDATE subscriptions SET expires_ms = ?2 WHERE id = ?1");
                update.bind(1, subscription.id);
                update.bind(2, subscription.expires_ms);
                update.run();
            }
        }
        result.response = reply(200, "OK");
        result.response.to_tag = subscription.local_tag;
        result.response.headers.push_back({"Expires", std::to_string(expires.count())});
        if (expires.count() == 0) {
            result.requests.push_back(notify(
                subscription, "terminated",
                request.to_tag.empty() ? std::optional(full_catalog(subscription)) : std::nullopt));
        } else {
            result.requests.push_back(
                notify(subscription, active_state(subscription, now), full_catalog(subscription)));
        }
        return result;
    }

    // ---------------------------------------------------------------------------------------
    // dispatch

    service_result handle(const incoming_request& request, time_point now) {
        service_result result;
        if (!trusted(request)) {
            result.response = reply(403, "Forbidden (not from a trusted S-CSCF)");
            return result;
        }
        if (iequals(request.method, "OPTIONS")) {
            result.response = reply(200, "OK");
            result.response.headers.push_back({"Allow", std::string(allow_methods)});
            result.response.headers.push_back(
                {"Allow-Events",
                 std::string(content_event) + ", " + std::string(catalog_event_name)});
            result.response.headers.push_back({"Accept", std::string(acquire_media_type) + ", " +
                                                             std::string(publish_media_type) +
                                                             ", " +
                                                             std::string(seed_report_media_type)});
            return result;
        }
        const bool message = iequals(request.method, "MESSAGE");
        const bool publish_method = iequals(request.method, "PUBLISH");
        const bool subscribe_method = iequals(request.method, "SUBSCRIBE");
        if (!message && !publish_method && !subscribe_method) {
            result.response = reply(405, "Method Not Allowed");
            result.response.headers.push_back({"Allow", std::string(allow_methods)});
            return result;
        }
        std::string asserted = request.asserted_identity;
        if (asserted.empty()) {
            if (const auto header = request.header("P-Asserted-Identity")) {
                asserted = std::string(*header);
            }
        }
        if (trim(asserted).empty()) {
            result.response = reply(403, "Forbidden (no P-Asserted-Identity)");
            return result;
        }
        // Prefer a SIP URI when the S-CSCF asserted both a SIP and a tel URI.
        std::string identity_uri;
        for (const auto& item : split_list(asserted)) {
            const auto uri = uri_of(item);
            if (identity_uri.empty() ||
                (!identity_uri.starts_with("sip") && uri.starts_with("sip"))) {
                identity_uri = uri;
            }
        }
        std::error_code ec;
        const auto user = core::impu::parse(identity_uri, ec);
        if (ec) {
            result.response = reply(403, "Forbidden (malformed P-Asserted-Identity)");
            return result;
        }
        if (request.to_tag.empty() && !settings.content_psi.empty() &&
            user_host(request.request_uri) != user_host(settings.content_psi)) {
            result.response = reply(404, "Not Found (not the content service)");
            return result;
        }
        if (request.body.size() > settings.max_body_size) {
            result.response = reply(413, "Request Entity Too Large");
            return result;
        }
        try {
            if (message) {
                if (iequals(request.content_type, seed_report_media_type)) {
                    return seed_report_received(request, user, now);
                }
                return acquire(request, user, now);
            }
            if (publish_method) {
                return publish(request, user, now);
            }
            return subscribe(request, user, now);
        } catch (const std::system_error& failure) {
            log.error("request failed", {{"method", request.method}, {"error", failure.what()}});
            result.requests.clear();
            if (failure.code() == core::errc::database_busy) {
                result.response = unavailable("Service Busy");
            } else {
                result.response = reply(500, "Server Internal Error");
            }
            return result;
        } catch (const std::exception& failure) {
            log.error("request failed", {{"method", request.method}, {"error", failure.what()}});
            result.requests.clear();
            result.response = reply(500, "Server Internal Error");
            return result;
        }
    }

    // ---------------------------------------------------------------------------------------
    // outcomes and periodic work

    void on_outcome(std::string_view correlation_id, int status, time_point now) {
        const bool success = status >= 200 && status < 300;
        const auto colon = correlation_id.find(':');
        if (colon == std::string_view::npos) {
            return;
        }
        const std::string kind(correlation_id.substr(0, colon));
        const std::string key(correlation_id.substr(colon + 1));
        std::lock_guard lock(db_mutex);
        if (kind == "purchase") {
            auto purchase = purchase_by("id = ?1", {key});
            if (!purchase || purchase->step != "ticketed") {
                return;
            }
            if (success) {
                purchase->step = "delivered";
                save_purchase(*purchase, 0, "");
            } else {
                save_purchase(*purchase, to_ms(now + backoff(purchase->attempts)),
                              "ticket MESSAGE answered " + std::to_string(status));
            }
        } else if (kind == "publish") {
            auto content = content_by("doi_key", key);
            if (!content || !content->result_pending) {
                return;
            }
            if (success) {
                content->result_pending = false;
                content->attempts = 0;
                save_content(*content, "", 0);
            } else {
                save_content(*content, "result MESSAGE answered " + std::to_string(status),
                             to_ms(now + backoff(content->attempts)));
            }
        } else if (kind == "seed") {
            auto assignment = assignment_by_id(key);
            if (!assignment || !assignment->delivery_pending) {
                return;
            }
            auto update = db.prepare_cached(
                "UPDATE seed_assignments SET delivery_pending = ?2, next_attempt_ms = ?3, "
                "last_error = ?4 WHERE id = ?1");
            update.bind(1, key);
            update.bind(2, success ? 0 : 1);
            update.bind(3, success ? 0 : to_ms(now + backoff(assignment->attempts)));
            update.bind(4, success ? std::string()
                                   : "assignment MESSAGE answered " + std::to_string(status));
            update.run();
        } else if (kind == "notify") {
            if (!success && status < 500) {
                auto remove = db.prepare("DELETE FROM subscriptions WHERE id = ?1");
                remove.bind(1, key);
                remove.run();
            }
        }
    }

    /** Purchases poll() finishes: paid for, not delivered, due (?1 = now, ?2 = max attempts). */
    static constexpr const char* purchase_due_condition =
        "step IN ('charged', 'granted', 'ticketed') AND next_attempt_ms <= ?1 AND attempts < ?2";
    /** Publications and withdrawals poll() resumes (same parameters). */
    static constexpr const char* content_due_condition =
        "next_attempt_ms <= ?1 AND attempts < ?2 AND "
        "(step IN ('reserved', 'key_registered', 'tracked', 'indexed') OR "
        "result_pending != 0 OR withdraw_pending != 0)";

    /** Seed assignments poll() (re-)sends (same parameters). */
    static constexpr const char* assignment_due_condition =
        "delivery_pending != 0 AND seeded_ms IS NULL AND next_attempt_ms <= ?1 AND attempts < ?2";

    /** @return whether the row @p key of @p table still meets @p condition (db_mutex held) */
    bool still_due(const char* table, const char* key_column, const std::string& key,
                   const char* condition, std::int64_t due, std::int64_t max_attempts) {
        auto query = db.prepare_cached(std::string("SELECT 1 FROM ") + table + " WHERE " +
                                       key_column + " = ?3 AND " + condition);
        query.bind(1, due);
        query.bind(2, max_attempts);
        query.bind(3, key);
        return query.step() == core::step_result::row;
    }

    /** Re-sends one due seed assignment (under its content's lock); gives it up when its
     *  content is gone, unpublished or withdrawn. */
    void resend_assignment(const std::string& id, time_point now, std::int64_t due,
                           std::int64_t max_attempts, std::vector<outgoing_request>& out) {
        std::optional<content_row> content;
        {
            std::lock_guard lock(db_mutex);
            const auto assignment = assignment_by_id(id);
            if (assignment) {
                content = content_by("doi_key", assignment->doi_key);
            }
        }
        std::unique_ptr<key_locks::guard> guard;
        if (content) {
            guard = locks.acquire("content\n" + content->record.infohash_v1);
        }
        std::lock_guard lock(db_mutex);
        if (!still_due("seed_assignments", "id", id, assignment_due_condition, due, max_attempts)) {
            return;  // delivered or reported while this thread waited
        }
        auto assignment = assignment_by_id(id);
        content = content_by("doi_key", assignment->doi_key);
        if (!content || content->step != "published" ||
            content->record.state == core::content_state::withdrawn) {
            auto update = db.prepare_cached(
                "UPDATE seed_assignments SET delivery_pending = 0, last_error = ?2 WHERE id = ?1");
            update.bind(1, id);
            update.bind(2, std::string("content withdrawn or gone; assignment dropped"));
            update.run();
            log.info("seed assignment dropped (content withdrawn or gone)", {{"assignment", id}});
            return;
        }
        out.push_back(send_assignment(*assignment, *content, now));
    }

    std::vector<outgoing_request> poll(time_point now, bool recovering) {
        std::vector<outgoing_request> out;
        const auto due = recovering ? std::numeric_limits<std::int64_t>::max() : to_ms(now);
        const auto max_attempts = static_cast<std::int64_t>(settings.max_attempts);

        // Purchases the user has paid for: finish them. ("new" ones were answered 503 and are
        // left to the client, which may retry with the same request_id.)
        std::vector<std::string> purchase_ids;
        std::vector<std::string> content_keys;
        std::vector<std::string> assignment_ids;
        {
            std::lock_guard lock(db_mutex);
            auto query =
                db.prepare(std::string("SELECT id FROM purchases WHERE ") + purchase_due_condition);
            query.bind(1, due);
            query.bind(2, max_attempts);
            while (query.step() == core::step_result::row) {
                purchase_ids.push_back(query.column_text(0));
            }
            auto pending = db.prepare(std::string("SELECT doi_key FROM content WHERE ") +
                                      content_due_condition);
            pending.bind(1, due);
            pending.bind(2, max_attempts);
            while (pending.step() == core::step_result::row) {
                content_keys.push_back(pending.column_text(0));
            }
            auto assignments = db.prepare(std::string("SELECT id FROM seed_assignments WHERE ") +
                                          assignment_due_condition);
            assignments.bind(1, due);
            assignments.bind(2, max_attempts);
            while (assignments.step() == core::step_result::row) {
                assignment_ids.push_back(assignments.column_text(0));
            }
        }
        for (const auto& id : purchase_ids) {
            std::optional<purchase_row> purchase;
            {
                std::lock_guard lock(db_mutex);
                purchase = purchase_by("id = ?1", {id});
            }
            if (!purchase) {
                continue;
            }
            const auto guard =
                locks.acquire("purchase\n" + purchase->user + "\n" + purchase->request_id);
            {
                // Re-read under the purchase's lock, and only if it is still due: handle() may
                // have advanced it (and sent its ticket) while this thread waited for the lock.
                std::lock_guard lock(db_mutex);
                purchase =
                    still_due("purchases", "id", id, purchase_due_condition, due, max_attempts)
                        ? purchase_by("id = ?1", {id})
                        : std::nullopt;
            }
            if (purchase) {
                try {
                    advance_purchase(*purchase, now, out);
                } catch (const std::exception& failure) {
                    log.error("resuming a purchase failed",
                              {{"purchase", id}, {"error", failure.what()}});
                }
            }
        }
        for (const auto& key : content_keys) {
            std::optional<content_row> content;
            {
                std::lock_guard lock(db_mutex);
                content = content_by("doi_key", key);
            }
            if (!content) {
                continue;
            }
            const auto guard = locks.acquire("content\n" + content->record.infohash_v1);
            {
                // As for purchases: skip what another thread finished while this one waited.
                std::lock_guard lock(db_mutex);
                content =
                    still_due("content", "doi_key", key, content_due_condition, due, max_attempts)
                        ? content_by("doi_key", key)
                        : std::nullopt;
            }
            if (!content) {
                continue;
            }
            try {
                if (content->record.state == core::content_state::withdrawn) {
                    if (content->withdraw_pending != 0) {
                        finish_withdrawal(*content, now);
                    }
                } else if (content->step != "failed") {
                    advance_publish(*content, now, out);
                }
            } catch (const std::exception& failure) {
                log.error("resuming a publish or withdrawal failed",
                          {{"doi", content->record.doi.str()}, {"error", failure.what()}});
            }
        }

        for (const auto& id : assignment_ids) {
            try {
                resend_assignment(id, now, due, max_attempts, out);
            } catch (const std::exception& failure) {
                log.error("re-sending a seed assignment failed",
                          {{"assignment", id}, {"error", failure.what()}});
            }
        }

        // Expired subscriptions end with a last NOTIFY.
        std::lock_guard lock(db_mutex);
        auto expired = db.prepare("SELECT " + std::string(subscription_columns) +
                                  " FROM subscriptions WHERE expires_ms <= ?1");
        expired.bind(1, to_ms(now));
        std::vector<subscription_row> ended;
        while (expired.step() == core::step_result::row) {
            ended.push_back(read_subscription(expired));
        }
        for (const auto& subscription : ended) {
            out.push_back(notify(subscription, "terminated;reason=timeout", std::nullopt));
            auto remove = db.prepare("DELETE FROM subscriptions WHERE id = ?1");
            remove.bind(1, subscription.id);
            remove.run();
        }
        return out;
    }
};

// =============================================================================================

content_service::content_service(service_settings settings, service_dependencies dependencies)
    : impl_(std::make_unique<impl>(std::move(settings), std::move(dependencies))) {}

content_service::~content_service() = default;

service_result content_service::handle(const incoming_request& request,
                                       std::chrono::system_clock::time_point now) {
    return impl_->handle(request, now);
}

void content_service::on_outcome(std::string_view correlation_id, int status,
                                 std::chrono::system_clock::time_point now) {
    impl_->on_outcome(correlation_id, status, now);
}

std::vector<outgoing_request> content_service::poll(std::chrono::system_clock::time_point now) {
    return impl_->poll(now, false);
}

std::vector<outgoing_request> content_service::recover(std::chrono::system_clock::time_point now) {
    return impl_->poll(now, true);
}

std::vector<outgoing_request> content_service::withdraw(const core::doi& doi,
                                                        std::chrono::system_clock::time_point now,
                                                        std::error_code& ec) {
    ec.clear();
    std::optional<content_row> content;
    {
        std::lock_guard lock(impl_->db_mutex);
        content = impl_->content_by("doi_key", doi.key());
    }
    if (!content) {
        ec = errc::unknown_content;
        return {};
    }
    const auto guard = impl_->locks.acquire("content\n" + content->record.infohash_v1);
    {
        std::lock_guard lock(impl_->db_mutex);
        content = impl_->content_by("doi_key", doi.key());
    }
    return impl_->withdraw_content(*content, now);
}

void content_service::activate(const core::doi& doi, std::chrono::system_clock::time_point now,
                               std::error_code& ec) {
    ec.clear();
    std::optional<content_row> content;
    {
        std::lock_guard lock(impl_->db_mutex);
        content = impl_->content_by("doi_key", doi.key());
    }
    if (!content || content->step != "published") {
        ec = errc::unknown_content;
        return;
    }
    const auto guard = impl_->locks.acquire("content\n" + content->record.infohash_v1);
    {
        std::lock_guard lock(impl_->db_mutex);
        content = impl_->content_by("doi_key", doi.key());
    }
    if (content->record.state == core::content_state::withdrawn) {
        ec = errc::content_withdrawn;
        return;
    }
    std::string detail;
    impl_->activate_content(*content, ec, detail);
    if (!ec) {
        impl_->log.info("content activated by the operator", {{"doi", content->record.doi.str()}});
    }
    (void)now;
}

std::vector<seed_assignment_info> content_service::seed_assignments(const core::doi& doi) const {
    std::lock_guard lock(impl_->db_mutex);
    std::vector<seed_assignment_info> out;
    auto content = impl_->content_by("doi_key", doi.key());
    if (!content) {
        return out;
    }
    auto query = impl_->db.prepare("SELECT " + std::string(assignment_columns) +
                                   " FROM seed_assignments WHERE doi_key = ?1 ORDER BY rowid");
    query.bind(1, doi.key());
    while (query.step() == core::step_result::row) {
        const auto row = read_assignment(query);
        out.push_back({row.id, content->record.doi.str(), row.seed_box, row.delivery_pending,
                       row.seeded, row.attempts});
    }
    return out;
}

std::optional<core::content_record> content_service::find_content(const core::doi& doi) const {
    std::lock_guard lock(impl_->db_mutex);
    auto content = impl_->content_by("doi_key", doi.key());
    if (!content || content->step != "published") {
        return std::nullopt;
    }
    return content->record;
}

std::optional<purchase_info> content_service::find_purchase(std::string_view user,
                                                            std::string_view request_id) const {
    std::lock_guard lock(impl_->db_mutex);
    auto row = impl_->purchase_by("user = ?1 AND request_id = ?2",
                                  {std::string(user), std::string(request_id)});
    if (!row) {
        return std::nullopt;
    }
    std::string doi;
    if (auto content = impl_->content_by("doi_key", row->doi_key)) {
        doi = content->record.doi.str();
    }
    return purchase_info{row->id,   row->user,     row->request_id, doi,
                         row->step, row->grant_id, row->attempts};
}

std::size_t content_service::subscription_count() const {
    std::lock_guard lock(impl_->db_mutex);
    auto query = impl_->db.prepare("SELECT COUNT(*) FROM subscriptions");
    query.step();
    return static_cast<std::size_t>(query.column_int64(0));
}

core::jwk_set content_service::public_keys() const {
    core::jwk_set keys;
    keys.keys.push_back(impl_->issuer.public_jwk());
    return keys;
}

const service_settings& content_service::settings() const noexcept {
    return impl_->settings;
}

}  // namespace imsp2p::sip
