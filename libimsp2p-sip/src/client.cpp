// ims_client: the IMS/P2P client operations (register, publish, acquire, play, list, seed,
// status) over the user agent, the swarm, the packager, the DRM client and the index client.

#include <imsp2p/sip/client.hpp>

#include <imsp2p/sip/aka_credentials.hpp>
#include <imsp2p/sip/error.hpp>
#include <imsp2p/sip/one_pass.hpp>
#include <imsp2p/sip/pana_attach.hpp>

#include <imsp2p/drm/container.hpp>
#include <imsp2p/drm/drm_client.hpp>
#include <imsp2p/drm/license.hpp>
#include <imsp2p/drm/packager.hpp>
#include <imsp2p/drm/player.hpp>
#include <imsp2p/drm/torrent.hpp>

#include <imsp2p/tracker/index_client.hpp>

#include <imsp2p/pana/usim.hpp>

#include <imsp2p/core/crypto.hpp>
#include <imsp2p/core/doi.hpp>
#include <imsp2p/core/encoding.hpp>
#include <imsp2p/core/key_file.hpp>

#include <nlohmann/json.hpp>

#include <algorithm>
#include <charconv>
#include <deque>
#include <fstream>
#include <iterator>
#include <map>
#include <mutex>
#include <set>
#include <sstream>
#include <stdexcept>
#include <utility>

namespace imsp2p::sip {

namespace {

using namespace std::chrono_literals;

constexpr std::size_t max_stashed_requests = 100;
/** The stored PUBLISH body of a publication (renew_tickets() sends it again). */
constexpr const char* publish_request_file = "publish-request.json";

std::string lower_ascii(std::string text) {
    for (char& c : text) {
        if (c >= 'A' && c <= 'Z') {
            c = static_cast<char>(c - 'A' + 'a');
        }
    }
    return text;
}

bool starts_with_http(const std::string& text) {
    const std::string lower = lower_ascii(text.substr(0, 8));
    return lower.rfind("http://", 0) == 0 || lower.rfind("https://", 0) == 0;
}

/** Percent-encodes everything but [A-Za-z0-9._-] (a DOI as one folder name). */
std::string path_segment(const std::string& text) {
    static const char* const digits = "0123456789ABCDEF";
    std::string out;
    for (const char c : text) {
        const auto byte = static_cast<unsigned char>(c);
        if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
            c == '.' || c == '-' || c == '_') {
            out.push_back(c);
        } else {
            out.push_back('%');
            out.push_back(digits[byte >> 4]);
            out.push_back(digits[byte & 0x0F]);
        }
    }
    return out;
}

core::byte_vector read_bytes(const std::filesystem::path& path, std::error_code& ec) {
    ec.clear();
    std::ifstream stream(path, std::ios::binary);
    if (!stream) {
        ec = std::make_error_code(std::errc::no_such_file_or_directory);
        return {};
    }
    core::byte_vector bytes{std::istreambuf_iterator<char>(stream), {}};
    if (stream.bad()) {
        ec = std::make_error_code(std::errc::io_error);
    }
    return bytes;
}

/** Writes a file through a temporary name and a rename (never half-written). */
void write_atomically(const std::filesystem::path& path, std::string_view contents,
                      std::error_code& ec) {
    ec.clear();
    const std::filesystem::path temporary = path.string() + ".tmp";
    {
        std::ofstream stream(temporary, std::ios::binary | std::ios::trunc);
        if (!stream) {
            ec = std::make_error_code(std::errc::permission_denied);
            return;
        }
        stream.write(contents.data(), static_cast<std::streamsize>(contents.size()));
        stream.flush();
        if (!stream) {
            ec = std::make_error_code(std::errc::io_error);
            return;
        }
    }
    std::filesystem::rename(temporary, path, ec);
}

/** Adds ";transport=tcp|udp" to a URI that names no transport. */
std::string with_transport(const std::string& uri, transport kind) {
    if (uri.empty() || lower_ascii(uri).find(";transport=") != std::string::npos) {
        return uri;
    }
    std::string bare = uri;
    std::string suffix;
    if (!bare.empty() && bare.front() == '<' && bare.back() == '>') {
        bare = bare.substr(1, bare.size() - 2);
    }
    suffix = kind == transport::udp ? ";transport=udp" : ";transport=tcp";
    return bare + suffix;
}

/** The SIP failure of a request as an error code (see the ims_client class comment). */
std::error_code error_for_status(int status, const std::string& method) {
    switch (status) {
        case 0:
        case 408:
        case 480:
        case 500:
        case 503:
        case 504:
            return errc::dependency_unavailable;
        case 400:
            return errc::bad_body;
        case 402:
            return errc::payment_declined;
        case 403:
            return method == "PUBLISH" ? errc::publish_not_allowed : errc::content_withdrawn;
        case 404:
            return errc::unknown_content;
        case 409:
            return errc::conflict;
        case 413:
            return errc::body_too_large;
        case 415:
            return errc::unsupported_media_type;
        default:
            return errc::dependency_refused;
    }
}

void set_detail(std::string* detail, std::string text) {
    if (detail != nullptr) {
        *detail = std::move(text);
    }
}

/**
 * Runs one operation of the public API: an exception escaping it (a system error, or anything
 * else from the SIP stack or libtorrent) becomes @p ec and @p detail; the result is then a
 * default value.
 */
template <class Operation>
auto guarded(std::error_code& ec, std::string* detail, Operation&& operation)
    -> decltype(operation()) {
    try {
        return std::forward<Operation>(operation)();
    } catch (const std::system_error& error) {
        ec = error.code();
        set_detail(detail, error.what());
    } catch (const std::exception& error) {
        ec = errc::stack_failure;
        set_detail(detail, error.what());
    }
    return {};
}

std::string strip_suffix(std::string url, std::string_view suffix) {
    if (url.size() >= suffix.size() &&
        url.compare(url.size() - suffix.size(), suffix.size(), suffix) == 0) {
        url.resize(url.size() - suffix.size());
    }
    while (!url.empty() && url.back() == '/') {
        url.pop_back();
    }
    return url;
}

std::int64_t unix_seconds(std::chrono::sys_seconds time) {
    return time.time_since_epoch().count();
}

nlohmann::json to_json(const published_item& item) {
    return {{"doi", item.doi},
            {"title", item.title},
            {"kid", item.kid},
            {"infohash_v1", item.infohash_v1},
            {"state", item.state},
            {"container", item.container_path.string()},
            {"torrent", item.torrent_path.string()},
            {"key_file", item.key_path.string()},
            {"seed_ticket", item.seed_ticket},
            {"announce_url", item.announce_url},
            {"torrent_url", item.torrent_url},
            {"expires", unix_seconds(item.expires)}};
}

nlohmann::json to_json(const acquired_item& item) {
    return {{"doi", item.doi},
            {"request_id", item.request_id},
            {"complete", item.complete},
            {"container", item.container_path.string()},
            {"torrent", item.torrent_path.string()},
            {"license", item.license_path.string()},
            {"announce_url", item.announce_url},
            {"expires", unix_seconds(item.expires)}};
}

published_item published_from_json(const nlohmann::json& json) {
    published_item item;
    item.doi = json.at("doi").get<std::string>();
    item.title = json.value("title", "");
    item.kid = json.value("kid", "");
    item.infohash_v1 = json.value("infohash_v1", "");
    item.state = json.value("state", "active");
    item.container_path = json.at("container").get<std::string>();
    item.torrent_path = json.at("torrent").get<std::string>();
    item.key_path = json.value("key_file", "");
    item.seed_ticket = json.value("seed_ticket", "");
    item.announce_url = json.value("announce_url", "");
    item.torrent_url = json.value("torrent_url", "");
    item.expires = std::chrono::sys_seconds(std::chrono::seconds(json.value("expires", 0)));
    return item;
}

acquired_item acquired_from_json(const nlohmann::json& json) {
    acquired_item item;
    item.doi = json.at("doi").get<std::string>();
    item.request_id = json.at("request_id").get<std::string>();
    item.complete = json.value("complete", false);
    item.container_path = json.value("container", "");
    item.torrent_path = json.value("torrent", "");
    item.license_path = json.value("license", "");
    item.announce_url = json.value("announce_url", "");
    item.expires = std::chrono::sys_seconds(std::chrono::seconds(json.value("expires", 0)));
    return item;
}

nlohmann::json to_json(const seed_assignment_record& item) {
    return {{"assignment_id", item.assignment_id},
            {"doi", item.doi},
            {"infohash_v1", item.infohash_v1},
            {"torrent_url", item.torrent_url},
            {"announce_url", item.announce_url},
            {"expires", unix_seconds(item.expires)},
            {"state", item.state},
            {"error", item.error},
            {"container", item.container_path.string()},
            {"torrent", item.torrent_path.string()}};
}

seed_assignment_record assignment_from_json(const nlohmann::json& json) {
    seed_assignment_record item;
    item.assignment_id = json.at("assignment_id").get<std::string>();
    item.doi = json.at("doi").get<std::string>();
    item.infohash_v1 = json.at("infohash_v1").get<std::string>();
    item.torrent_url = json.value("torrent_url", "");
    item.announce_url = json.value("announce_url", "");
    item.expires = std::chrono::sys_seconds(std::chrono::seconds(json.value("expires", 0)));
    item.state = json.value("state", "copying");
    item.error = json.value("error", "");
    item.container_path = json.value("container", "");
    item.torrent_path = json.value("torrent", "");
    return item;
}

bool same_doi(const std::string& left, const std::string& right) {
    std::error_code ec;
    const core::doi a = core::doi::parse(left, ec);
    if (ec) {
        return false;
    }
    const core::doi b = core::doi::parse(right, ec);
    return !ec && a == b;
}

void report(const client_progress_callback& progress, client_stage stage, std::string message,
            std::uint64_t done = 0, std::uint64_t total = 0) {
    if (progress) {
        client_progress value;
        value.stage = stage;
        value.done_bytes = done;
        value.total_bytes = total;
        value.message = std::move(message);
        progress(value);
    }
}

}  // namespace

std::string_view to_string(client_stage stage) noexcept {
    switch (stage) {
        case client_stage::packaging:
            return "packaging";
        case client_stage::signalling:
            return "signalling";
        case client_stage::downloading:
            return "downloading";
        case client_stage::licensing:
            return "licensing";
        case client_stage::decrypting:
            return "decrypting";
    }
    return "unknown";
}

client_settings client_settings::from_config(const core::config& config) {
    client_settings settings;
    const auto resolve = [&](const std::string& text) {
        std::filesystem::path path(text);
        if (path.is_relative() && !config.base_directory().empty()) {
            path = config.base_directory() / path;
        }
        return path.lexically_normal();
    };
    settings.data_dir = resolve(config.require<std::string>("/data_dir"));
    settings.impu = config.get_or<std::string>("/impu", "");
    settings.impi = config.get_or<std::string>("/impi", "");
    settings.password = config.get_or<std::string>("/password", "");
    if (const auto usim = config.get<std::string>("/usim_profile"); usim && !usim->empty()) {
        settings.usim_profile = resolve(*usim);
    }
    settings.registrar = config.get_or<std::string>("/registrar", "");
    settings.outbound_proxy = config.get_or<std::string>("/outbound_proxy", "");
    settings.content_psi = config.get_or<std::string>("/content_psi", "");
    const std::string kind = lower_ascii(config.get_or<std::string>("/transport", "tcp"));
    if (kind == "udp") {
        settings.transport = transport::udp;
    } else if (kind == "tcp") {
        settings.transport = transport::tcp;
    } else {
        throw std::system_error(core::errc::config_bad_value,
                                "/transport: must be \"tcp\" or \"udp\", not \"" + kind + "\"");
    }
    settings.sip_listen = config.get_or<std::string>("/sip_listen", settings.sip_listen);
    settings.register_expires = std::chrono::duration_cast<std::chrono::seconds>(
        config.duration_or("/register_expires", settings.register_expires));
    std::string jwks = config.get_or<std::string>("/drm_jwks", "");
    if (!jwks.empty() && !starts_with_http(jwks)) {
        jwks = resolve(jwks).string();
    }
    settings.drm_jwks = jwks;
    settings.index_url = config.get_or<std::string>("/index_url", "");
    settings.bittorrent_listen =
        config.get_or<std::string>("/bittorrent_listen", settings.bittorrent_listen);
    settings.upload_rate_limit = config.get_or<int>("/upload_rate_limit", 0, {0, 1 << 30});
    settings.download_rate_limit = config.get_or<int>("/download_rate_limit", 0, {0, 1 << 30});
    settings.request_timeout = config.duration_or("/request_timeout", settings.request_timeout);
    settings.result_timeout = config.duration_or("/result_timeout", settings.result_timeout);
    settings.transfer_timeout = config.duration_or("/transfer_timeout", settings.transfer_timeout);
    settings.pana_paa = config.get_or<std::string>("/pana", "");
    for (const auto& [pointer, target] :
         {std::pair{"/pana_ca", &settings.pana_ca},
          std::pair{"/pana_certificate", &settings.pana_certificate},
          std::pair{"/pana_private_key", &settings.pana_private_key}}) {
        if (const auto path = config.get<std::string>(pointer); path && !path->empty()) {
            *target = resolve(*path);
        }
    }
    if (!settings.pana_paa.empty() &&
        (settings.pana_ca.empty() || settings.pana_certificate.empty() ||
         settings.pana_private_key.empty())) {
        throw std::system_error(core::errc::config_bad_value,
                                "/pana: needs /pana_ca, /pana_certificate and /pana_private_key");
    }
    settings.pana_server_name = config.get_or<std::string>("/pana_server_name", "");
    settings.realm = config.get_or<std::string>("/realm", "");
    settings.operator_seed_box = config.get_or<bool>("/operator_seed_box", false);
    settings.ticket_renewal_margin = std::chrono::duration_cast<std::chrono::seconds>(
        config.duration_or("/ticket_renewal_margin", settings.ticket_renewal_margin));
    settings.license_renewal_margin = std::chrono::duration_cast<std::chrono::seconds>(
        config.duration_or("/license_renewal_margin", settings.license_renewal_margin));
    settings.initial_seeding = config.get_or<bool>("/initial_seeding", settings.initial_seeding);
    return settings;
}

struct ims_client::impl {
    impl(client_settings s, core::logger l) : settings(std::move(s)), log(std::move(l)) {}

    client_settings settings;
    core::logger log;
    core::jwk device_key;

    mutable std::mutex state_mutex;
    std::vector<published_item> published;
    std::vector<acquired_item> acquired;
    std::vector<seed_assignment_record> assignments;

    /** What the seed box keeps of an assignment between rounds (not persisted). */
    struct assignment_runtime {
        std::string swarm_id;  // set once the torrent is in the swarm
        std::chrono::steady_clock::time_point next_attempt{};
        std::chrono::milliseconds backoff{0};
        std::chrono::steady_clock::time_point last_progress{};
    };
    std::map<std::string, assignment_runtime> assignment_runtimes;  // operation_mutex

    std::mutex operation_mutex;

    mutable std::mutex component_mutex;
    std::unique_ptr<pana::pana_client> pac;          // the PANA session (one-pass set-up)
    std::shared_ptr<one_pass_credentials> one_pass;  // set when PANA is configured
    std::unique_ptr<user_agent> agent;
    std::unique_ptr<swarm> shares;

    std::optional<core::jwk_set> drm_keys;
    std::deque<incoming_request> stash;
    /** Seed assignment ids announced to the host in this process (host thread). */
    std::set<std::string> announced_assignments;

    std::filesystem::path state_path() const { return settings.data_dir / "client-state.json"; }

    void load_state() {
        std::error_code ec;
        if (!std::filesystem::exists(state_path(), ec)) {
            return;
        }
        const core::byte_vector bytes = read_bytes(state_path(), ec);
        if (ec) {
            throw std::system_error(ec, state_path().string());
        }
        try {
            const auto json = nlohmann::json::parse(core::as_string_view(bytes));
            for (const auto& item : json.value("published", nlohmann::json::array())) {
                published.push_back(published_from_json(item));
            }
            for (const auto& item : json.value("acquired", nlohmann::json::array())) {
                acquired.push_back(acquired_from_json(item));
            }
            for (const auto& item : json.value("assignments", nlohmann::json::array())) {
                assignments.push_back(assignment_from_json(item));
            }
        } catch (const nlohmann::json::exception& error) {
            throw std::system_error(std::make_error_code(std::errc::invalid_argument),
                                    state_path().string() + ": " + error.what());
        }
    }

    /** Saves the state (state_mutex held by the caller). */
    void save_state_locked(std::error_code& ec) const {
        nlohmann::json json = {{"published", nlohmann::json::array()},
                               {"acquired", nlohmann::json::array()}};
        for (const auto& item : published) {
            json["published"].push_back(to_json(item));
        }
        for (const auto& item : acquired) {
            json["acquired"].push_back(to_json(item));
        }
        if (!assignments.empty()) {
            json["assignments"] = nlohmann::json::array();
            for (const auto& item : assignments) {
                json["assignments"].push_back(to_json(item));
            }
        }
        // 0600: the announce URLs carry bearer tickets.
        core::write_secret_file(state_path(), core::as_bytes(json.dump(2) + "\n"), ec);
        if (ec) {
            log.error("cannot save the client state",
                      {{"file", state_path().string()}, {"error", ec.message()}});
        }
    }

    user_agent& ua() {
        std::lock_guard lock(component_mutex);
        if (!agent) {
            user_agent_settings ua_settings;
            ua_settings.aor = settings.impu;
            ua_settings.listen = settings.sip_listen;
            ua_settings.registrar = settings.registrar;
            ua_settings.outbound_proxy =
                with_transport(settings.outbound_proxy, settings.transport);
            ua_settings.register_expires = settings.register_expires;
            if (!settings.usim_profile.empty()) {
                ua_settings.credentials =
                    std::make_shared<aka_credentials>(pana::usim::load(settings.usim_profile),
                                                      settings.usim_profile, log.child("aka"));
            } else {
                ua_settings.credentials =
                    std::make_shared<password_credentials>(impi(), settings.password);
            }
            if (!settings.pana_paa.empty()) {
                ua_settings.credentials = attach(std::move(ua_settings.credentials));
            }
            if (settings.operator_seed_box) {
                // A seed assignment is on disk before the AS sees the 2xx, so a crash cannot
                // lose it; bad ones are refused with 400 and unknown types with 415.
                ua_settings.accept = [this](const incoming_request& request) {
                    return screen_seed_box_request(request);
                };
            }
            agent = std::make_unique<user_agent>(std::move(ua_settings), log.child("sip"));
        }
        return *agent;
    }

    std::string impi() const {
        if (!settings.impi.empty()) {
            return settings.impi;
        }
        return settings.impu.rfind("sip:", 0) == 0 ? settings.impu.substr(4) : settings.impu;
    }

    /**
     * PANA access authentication with EAP-TLS against settings.pana_paa (seed 001 App. A):
     * returns one-pass credentials over @p fallback with the exported token.
     * @throws std::system_error when the access authentication fails
     */
    std::shared_ptr<credentials_provider> attach(std::shared_ptr<credentials_provider> fallback) {
        pana_attach_settings attach_settings;
        // "address", "address:port", "[v6 address]" or "[v6 address]:port".
        std::string address = settings.pana_paa;
        std::string port;
        if (!address.empty() && address.front() == '[') {
            const auto close = address.find(']');
            if (close != std::string::npos && close + 1 < address.size() &&
                address[close + 1] == ':') {
                port = address.substr(close + 2);
            }
            address = address.substr(1, close == std::string::npos ? std::string::npos : close - 1);
        } else if (std::count(address.begin(), address.end(), ':') == 1) {
            port = address.substr(address.find(':') + 1);
            address = address.substr(0, address.find(':'));
        }
        if (!port.empty()) {
            unsigned long number = 0;
            const auto [end, failure] =
                std::from_chars(port.data(), port.data() + port.size(), number);
            if (failure != std::errc() || end != port.data() + port.size() || number == 0 ||
                number > 65535) {
                throw std::system_error(core::errc::config_bad_value,
                                        "/pana: bad port in \"" + settings.pana_paa + "\"");
            }
            attach_settings.paa_port = static_cast<std::uint16_t>(number);
        }
        attach_settings.paa_address = address;
        attach_settings.impi = impi();
        attach_settings.realm = !settings.realm.empty() ? settings.realm
                                : impi().find('@') != std::string::npos
                                    ? impi().substr(impi().find('@') + 1)
                                    : std::string();
        attach_settings.tls.ca_file = settings.pana_ca;
        attach_settings.tls.certificate_chain_file = settings.pana_certificate;
        attach_settings.tls.private_key_file = settings.pana_private_key;
        attach_settings.tls.expected_server_name = settings.pana_server_name;
        attach_settings.timeout = settings.request_timeout;
        pac = std::make_unique<pana::pana_client>();
        std::error_code ec;
        const pana_attachment attachment = pana_attach(*pac, attach_settings, ec);
        if (ec) {
            throw std::system_error(ec, "PANA access authentication with " + settings.pana_paa);
        }
        log.info("access authenticated (PANA/EAP-TLS)",
                 {{"paa", settings.pana_paa}, {"session", attachment.session.session_id}});
        one_pass =
            std::make_shared<one_pass_credentials>(attach_settings.impi, attach_settings.realm,
                                                   attachment.token.view(), std::move(fallback));
        // The first REGISTER also carries an RFC 3893 identity body signed with the same
        // EAP-TLS certificate, for S-CSCFs that check one (harmless to those that do not).
        const auto read_pem = [](const std::filesystem::path& file) {
            std::ifstream in(file, std::ios::binary);
            return std::string(std::istreambuf_iterator<char>(in),
                               std::istreambuf_iterator<char>());
        };
        std::string key_pem = read_pem(settings.pana_private_key);
        one_pass->attach_identity_body(read_pem(settings.pana_certificate), key_pem);
        std::fill(key_pem.begin(), key_pem.end(), '\0');
        return one_pass;
    }

    swarm& bittorrent() {
        std::lock_guard lock(component_mutex);
        if (!shares) {
            swarm_settings swarm_config;
            swarm_config.state_dir = settings.data_dir / "swarm";
            swarm_config.listen_interfaces = settings.bittorrent_listen;
            swarm_config.upload_rate_limit = settings.upload_rate_limit;
            swarm_config.download_rate_limit = settings.download_rate_limit;
            swarm_config.initial_seeding = settings.initial_seeding;
            shares = std::make_unique<swarm>(std::move(swarm_config), log.child("swarm"));
        }
        return *shares;
    }

    bool check_sip_settings(std::error_code& ec, std::string* detail) const {
        if (settings.impu.empty()) {
            ec = std::make_error_code(std::errc::invalid_argument);
            set_detail(detail, "no IMPU configured (impu)");
            return false;
        }
        return true;
    }

    transaction_result do_register(std::error_code& ec, std::string* detail) {
        ec.clear();
        if (!check_sip_settings(ec, detail)) {
            return {};
        }
        transaction_result result;
        try {
            result = ua().register_now(settings.request_timeout);
        } catch (const std::exception& error) {
            ec = errc::stack_failure;
            set_detail(detail, std::string("SIP stack: ") + error.what());
            return {};
        }
        if (result.status < 200 || result.status >= 300) {
            ec = result.status == 0 || result.status == 408 || result.status == 503
                     ? errc::dependency_unavailable
                     : errc::dependency_refused;
            set_detail(detail, "REGISTER " + settings.impu + ": " +
                                   (result.status == 0
                                        ? std::string("no answer")
                                        : std::to_string(result.status) + " " + result.reason));
            return result;
        }
        log.info("registered", {{"impu", settings.impu}, {"contact", ua().contact()}});
        return result;
    }

    bool ensure_registered(std::error_code& ec, std::string* detail) {
        ec.clear();
        if (!check_sip_settings(ec, detail)) {
            return false;
        }
        if (settings.content_psi.empty()) {
            ec = std::make_error_code(std::errc::invalid_argument);
            set_detail(detail, "no content PSI configured (content_psi)");
            return false;
        }
        bool registered = false;
        try {
            registered = ua().registered();
        } catch (const std::exception& error) {
            ec = errc::stack_failure;
            set_detail(detail, std::string("SIP stack: ") + error.what());
            return false;
        }
        if (!registered) {
            do_register(ec, detail);
        }
        return !ec;
    }

    /** Sends a request and checks for a 2xx. */
    bool send_request(outgoing_request request, std::error_code& ec, std::string* detail) {
        const std::string method = request.method;
        const std::string target = request.request_uri;
        const transaction_result result = ua().send(std::move(request), settings.request_timeout);
        if (result.status >= 200 && result.status < 300) {
            ec.clear();
            return true;
        }
        ec = error_for_status(result.status, method);
        set_detail(detail,
                   method + " " + target + ": " +
                       (result.status == 0 ? std::string("no answer")
                                           : std::to_string(result.status) + " " + result.reason));
        return false;
    }

    const core::jwk_set* load_drm_keys(std::error_code& ec, std::string* detail) {
        ec.clear();
        if (drm_keys) {
            return &*drm_keys;
        }
        if (settings.drm_jwks.empty()) {
            ec = std::make_error_code(std::errc::invalid_argument);
            set_detail(detail, "no DRM JWK Set configured (drm_jwks)");
            return nullptr;
        }
        core::jwk_set keys;
        if (starts_with_http(settings.drm_jwks)) {
            drm::drm_client_settings drm_settings;
            drm_settings.base_url = strip_suffix(settings.drm_jwks, "/.well-known/jwks.json");
            drm_settings.timeout = settings.request_timeout;
            drm::drm_problem problem;
            keys = drm::drm_client(drm_settings).fetch_jwks(ec, &problem);
            if (ec) {
                set_detail(detail, settings.drm_jwks + ": " +
                                       (problem.detail.empty() ? ec.message() : problem.detail));
                return nullptr;
            }
        } else {
            const core::byte_vector text = read_bytes(settings.drm_jwks, ec);
            if (!ec) {
                keys = core::jwk_set::parse(core::as_string_view(text), ec);
            }
            if (ec) {
                set_detail(detail, settings.drm_jwks + ": " + ec.message());
                return nullptr;
            }
        }
        drm_keys = std::move(keys);
        return &*drm_keys;
    }

    /** Waits for the publish result with this kid (other requests are stashed). */
    std::optional<publish_result> wait_publish_result(const std::string& kid) {
        const auto matches = [&](const incoming_request& request, publish_result& out) -> bool {
            if (request.content_type != publish_result_media_type) {
                return false;
            }
            std::error_code ec;
            out = publish_result::parse(request.body, ec);
            return !ec && out.kid == kid;
        };
        publish_result result;
        for (auto it = stash.begin(); it != stash.end(); ++it) {
            if (matches(*it, result)) {
                stash.erase(it);
                return result;
            }
        }
        const auto deadline = std::chrono::steady_clock::now() + settings.result_timeout;
        while (true) {
            const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
                deadline - std::chrono::steady_clock::now());
            if (left <= 0ms) {
                return std::nullopt;
            }
            auto request = ua().next_request(left);
            if (!request) {
                return std::nullopt;
            }
            if (matches(*request, result)) {
                return result;
            }
            stash.push_back(std::move(*request));
            while (stash.size() > max_stashed_requests) {
                stash.pop_front();
            }
        }
    }

    std::optional<incoming_request> wait_ticket(const std::string& request_id) {
        for (auto it = stash.begin(); it != stash.end(); ++it) {
            try {
                const auto json = nlohmann::json::parse(it->body);
                if (json.is_object() && json.value("request_id", "") == request_id) {
                    incoming_request found = std::move(*it);
                    stash.erase(it);
                    return found;
                }
            } catch (const nlohmann::json::exception&) {
                continue;
            }
        }
        return ua().wait_for_message(request_id, settings.result_timeout);
    }

    published_item publish(const std::filesystem::path& file, publish_metadata metadata,
                           std::error_code& ec, std::string* detail,
                           const client_progress_callback& progress) {
        ec.clear();
        if (!std::filesystem::is_regular_file(file, ec)) {
            if (!ec) {
                ec = std::make_error_code(std::errc::no_such_file_or_directory);
            }
            set_detail(detail, file.string() + ": not a readable file");
            return {};
        }
        const core::jwk_set* keys = load_drm_keys(ec, detail);
        if (keys == nullptr) {
            return {};
        }
        if (!ensure_registered(ec, detail)) {
            return {};
        }

        // 1. Package into a folder of its own.
        const std::string stem =
            file.stem().empty() ? file.filename().string() : file.stem().string();
        const std::filesystem::path folder =
            settings.data_dir / "published" / (stem + "-" + core::to_hex(core::random_bytes(4)));
        std::filesystem::create_directories(folder, ec);
        if (ec) {
            set_detail(detail, folder.string() + ": " + ec.message());
            return {};
        }
        const auto remove_folder = [&] {
            std::error_code ignored;
            std::filesystem::remove_all(folder, ignored);
        };
        if (metadata.content_type.empty()) {
            metadata.content_type = "application/octet-stream";
        }
        if (metadata.title.empty()) {
            metadata.title = file.filename().string();
        }
        drm::package_options options;
        options.content_type = metadata.content_type;
        options.progress = [&](std::uint64_t done, std::uint64_t total) {
            report(progress, client_stage::packaging, "packaging " + file.filename().string(), done,
                   total);
        };
        const std::string container_name = path_segment(stem) + ".ipc";
        const drm::package_result packaged = drm::package_file(
            file, folder / container_name, folder / (path_segment(stem) + ".torrent"), options, ec);
        if (ec) {
            set_detail(detail, file.string() + ": packaging failed: " + ec.message());
            remove_folder();
            return {};
        }
        const std::filesystem::path key_path = folder / "content-key.json";
        drm::write_content_key_file(key_path, {packaged.kid, packaged.cek}, ec);
        if (ec) {
            set_detail(detail, key_path.string() + ": " + ec.message());
            remove_folder();
            return {};
        }

        // 2. PUBLISH.
        publish_request request;
        request.metadata = std::move(metadata);
        request.metadata.size_bytes = packaged.plaintext_size;
        request.torrent = read_bytes(packaged.torrent_path, ec);
        if (!ec) {
            request.cek = drm::seal_content_key(*keys, packaged.cek, ec);
        }
        if (ec) {
            set_detail(detail, "cannot seal the content key to the DRM server: " + ec.message());
            remove_folder();
            return {};
        }
        request.kid = core::to_hex(packaged.kid);
        report(progress, client_stage::signalling, "PUBLISH " + settings.content_psi);
        outgoing_request sip_request;
        sip_request.method = "PUBLISH";
        sip_request.request_uri = settings.content_psi;
        sip_request.headers = {{"Event", "imsp2p-content"}, {"Expires", "3600"}};
        sip_request.content_type = std::string(publish_media_type);
        sip_request.body = request.serialize();
        // Kept to renew the seed ticket later (renew_tickets() sends it again).
        core::write_secret_file(folder / publish_request_file, core::as_bytes(sip_request.body),
                                ec);
        if (ec) {
            set_detail(detail, (folder / publish_request_file).string() + ": " + ec.message());
            remove_folder();
            return {};
        }
        if (settings.transport == transport::udp && !settings.outbound_proxy.empty()) {
            // Bodies of this size need TCP (RFC 3261 §18.1.1).
            sip_request.route = {"<" + with_transport(settings.outbound_proxy, transport::tcp) +
                                 ";lr>"};
        }
        if (!send_request(std::move(sip_request), ec, detail)) {
            if (ec != errc::dependency_unavailable) {
                remove_folder();  // refused: nothing was published
            } else if (detail != nullptr) {
                *detail += " (the package is kept in " + folder.string() + ")";
            }
            return {};
        }

        // 3. The result MESSAGE.
        report(progress, client_stage::signalling, "waiting for the publish result");
        const auto result = wait_publish_result(request.kid);
        if (!result) {
            ec = std::make_error_code(std::errc::timed_out);
            // The AS accepted the PUBLISH: keep the package (the content may be published).
            set_detail(detail, "no publish result from " + settings.content_psi + " within " +
                                   std::to_string(settings.result_timeout.count()) +
                                   " ms (the package is kept in " + folder.string() + ")");
            return {};
        }
        published_item item;
        item.doi = result->doi.str();
        item.title = request.metadata.title;
        item.kid = request.kid;
        item.infohash_v1 = result->infohash_v1;
        item.state = std::string(core::to_string(result->state));
        item.container_path = packaged.container_path;
        item.torrent_path = packaged.torrent_path;
        item.key_path = key_path;
        item.seed_ticket = result->seed_ticket;
        item.announce_url = result->announce_url;
        item.torrent_url = result->torrent_url;
        item.expires = result->expires;
        {
            std::lock_guard lock(state_mutex);
            const auto same = std::find_if(
                published.begin(), published.end(),
                [&](const published_item& other) { return same_doi(other.doi, item.doi); });
            if (same != published.end()) {
                *same = item;
            } else {
                published.push_back(item);
            }
            save_state_locked(ec);
        }
        if (ec) {
            set_detail(detail, state_path().string() + ": " + ec.message());
            return item;
        }
        log.info("published", {{"doi", item.doi}, {"infohash", item.infohash_v1}});

        // 4. Seed: once libtorrent has checked the container, the swarm has a seeder.
        std::string id;
        try {
            id = bittorrent().add(request.torrent, folder, item.announce_url, ec);
        } catch (const std::system_error& error) {
            ec = error.code();
        }
        if (!ec) {
            bittorrent().wait_complete(
                id, std::min<std::chrono::milliseconds>(settings.transfer_timeout, 120s), {}, ec);
        }
        if (ec) {
            set_detail(detail, "published " + item.doi + " but cannot seed it: " + ec.message());
        }
        return item;
    }

    void forget_pending(const std::string& request_id) {
        std::lock_guard lock(state_mutex);
        const auto it = std::find_if(acquired.begin(), acquired.end(), [&](const auto& item) {
            return item.request_id == request_id && !item.complete;
        });
        if (it != acquired.end()) {
            acquired.erase(it);
            std::error_code ignored;
            save_state_locked(ignored);
        }
    }

    /** @return the folder of an acquisition @param doi the content */
    std::filesystem::path acquisition_folder(const core::doi& doi) const {
        return settings.data_dir / "acquired" / path_segment(lower_ascii(doi.str()));
    }

    /**
     * Sends the acquire MESSAGE (the recorded request id, so a repeat is never charged twice),
     * waits for the ticket document and stores it (0600) as the acquisition's ticket.json.
     * @param forget_on_refusal drop the pending acquisition record when the AS refuses
     * @return the ticket document, or nullopt with ec and detail set
     */
    std::optional<ticket_document> request_ticket(const core::doi& doi,
                                                  const std::string& request_id,
                                                  bool forget_on_refusal,
                                                  const client_progress_callback& progress,
                                                  std::error_code& ec, std::string* detail) {
        acquire_request body;
        body.doi = doi;
        body.device_key = device_key.public_only();
        body.request_id = request_id;
        report(progress, client_stage::signalling, "MESSAGE " + settings.content_psi);
        outgoing_request request;
        request.method = "MESSAGE";
        request.request_uri = settings.content_psi;
        request.content_type = std::string(acquire_media_type);
        request.body = body.serialize();
        if (!send_request(std::move(request), ec, detail)) {
            if (forget_on_refusal && ec != errc::dependency_unavailable) {
                forget_pending(request_id);  // refused: nothing was charged
            }
            return std::nullopt;
        }

        report(progress, client_stage::signalling, "waiting for the ticket");
        const auto message = wait_ticket(request_id);
        if (!message) {
            ec = std::make_error_code(std::errc::timed_out);
            set_detail(detail, "no ticket from " + settings.content_psi + " within " +
                                   std::to_string(settings.result_timeout.count()) + " ms");
            return std::nullopt;
        }
        body_error problem;
        ticket_document ticket = ticket_document::parse(message->body, ec, &problem);
        if (ec) {
            set_detail(detail, "bad ticket document: " + problem.message());
            return std::nullopt;
        }
        if (!(ticket.doi == doi)) {
            ec = errc::bad_body;
            set_detail(detail, "the ticket is for " + ticket.doi.str() + ", not " + doi.str());
            return std::nullopt;
        }
        const std::filesystem::path folder = acquisition_folder(doi);
        std::filesystem::create_directories(folder, ec);
        if (!ec) {
            core::write_secret_file(folder / "ticket.json", core::as_bytes(message->body), ec);
        }
        if (ec) {
            set_detail(detail, folder.string() + ": " + ec.message());
            return std::nullopt;
        }
        return ticket;
    }

    acquired_item acquire(const std::string& doi_text, std::error_code& ec, std::string* detail,
                          const client_progress_callback& progress,
                          const std::string& explicit_request_id) {
        ec.clear();
        const core::doi doi = core::doi::parse(doi_text, ec);
        if (ec) {
            set_detail(detail, "\"" + doi_text + "\" is not a DOI: " + ec.message());
            return {};
        }
        if (!explicit_request_id.empty()) {
            bool valid = explicit_request_id.size() <= max_request_id_bytes;
            for (const char c : explicit_request_id) {
                valid = valid && c >= 0x21 && c <= 0x7E;
            }
            if (!valid) {
                ec = errc::bad_body;
                set_detail(detail, "request id must be 1..128 visible ASCII characters");
                return {};
            }
        }
        if (!ensure_registered(ec, detail)) {
            return {};
        }

        // The purchase's request id: given, recorded for this DOI, or new (recorded before
        // sending, so a retry after a lost answer reuses it and is never charged twice).
        acquired_item item;
        bool new_record = false;
        {
            std::lock_guard lock(state_mutex);
            auto it = std::find_if(acquired.begin(), acquired.end(), [&](const auto& other) {
                return same_doi(other.doi, doi.str()) &&
                       (explicit_request_id.empty() || other.request_id == explicit_request_id);
            });
            if (it == acquired.end()) {
                item.doi = doi.str();
                item.request_id = explicit_request_id.empty()
                                      ? "acq-" + core::to_hex(core::random_bytes(16))
                                      : explicit_request_id;
                acquired.push_back(item);
                new_record = true;
                save_state_locked(ec);
                if (ec) {
                    acquired.pop_back();
                    set_detail(detail, state_path().string() + ": " + ec.message());
                    return {};
                }
            } else {
                item = *it;
            }
        }

        const std::optional<ticket_document> fetched =
            request_ticket(doi, item.request_id, new_record, progress, ec, detail);
        if (!fetched) {
            return {};
        }
        const ticket_document& ticket = *fetched;
        const std::filesystem::path folder = acquisition_folder(doi);

        // The torrent from the content index.
        std::string index_base = ticket.torrent_url;
        if (const auto at = index_base.rfind("/torrents/"); at != std::string::npos) {
            index_base.resize(at);
        } else if (!settings.index_url.empty()) {
            index_base = settings.index_url;
        }
        std::string index_detail;
        const core::byte_vector torrent =
            tracker::index_client(index_base, settings.request_timeout)
                .fetch_torrent(doi, ec, &index_detail);
        if (ec) {
            set_detail(detail, "torrent " + ticket.torrent_url + ": " +
                                   (index_detail.empty() ? ec.message() : index_detail));
            return {};
        }
        const drm::torrent_summary summary = drm::inspect_torrent(torrent, ec);
        if (ec) {
            set_detail(detail, "torrent " + ticket.torrent_url + ": " + ec.message());
            return {};
        }
        const std::filesystem::path torrent_path = folder / "content.torrent";
        write_atomically(torrent_path, core::as_string_view(torrent), ec);
        if (ec) {
            set_detail(detail, torrent_path.string() + ": " + ec.message());
            return {};
        }

        // The container from the swarm.
        std::string id;
        try {
            id = bittorrent().add(torrent, folder, ticket.announce_url, ec);
        } catch (const std::system_error& error) {
            ec = error.code();
        }
        if (ec) {
            set_detail(detail, "swarm: " + ec.message());
            return {};
        }
        const auto on_transfer = [&](const transfer_progress& transfer) {
            if (progress) {
                client_progress value;
                value.stage = client_stage::downloading;
                value.done_bytes = transfer.done_bytes;
                value.total_bytes = transfer.total_bytes;
                value.rate = transfer.download_rate;
                value.peers = transfer.peers;
                value.message = transfer.error;
                progress(value);
            }
        };
        bittorrent().wait_complete(id, settings.transfer_timeout, on_transfer, ec);
        if (ec) {
            const auto state = bittorrent().progress(id);
            set_detail(detail, "download of " + doi.str() + ": " + ec.message() +
                                   (state && !state->error.empty() ? " (" + state->error + ")"
                                                                   : std::string()));
            return {};
        }

        // The license.
        report(progress, client_stage::licensing, "license " + ticket.license_url);
        const std::filesystem::path license_path = folder / "license.jws";
        if (fetch_license(ticket, license_path, ec, detail).empty()) {
            return {};
        }

        item.doi = doi.str();
        item.complete = true;
        item.container_path = folder / summary.name;
        item.torrent_path = torrent_path;
        item.license_path = license_path;
        item.announce_url = ticket.announce_url;
        item.expires = ticket.expires;
        {
            std::lock_guard lock(state_mutex);
            auto it = std::find_if(acquired.begin(), acquired.end(), [&](const auto& other) {
                return other.request_id == item.request_id;
            });
            if (it != acquired.end()) {
                *it = item;
            } else {
                acquired.push_back(item);
            }
            save_state_locked(ec);
        }
        if (ec) {
            set_detail(detail, state_path().string() + ": " + ec.message());
            return {};
        }
        log.info("acquired", {{"doi", item.doi}, {"container", item.container_path.string()}});
        return item;
    }

    /**
     * Fetches a license from the DRM server with the ticket document's grant token and stores
     * it (replaced atomically).
     * @param answer if not null, receives the DRM server's answer (status 0: no answer)
     * @return the license, empty with ec and detail set on failure
     */
    std::string fetch_license(const ticket_document& ticket,
                              const std::filesystem::path& license_path, std::error_code& ec,
                              std::string* detail, drm::drm_problem* answer = nullptr) {
        drm::drm_client_settings drm_settings;
        drm_settings.base_url = strip_suffix(ticket.license_url, "/v1/licenses");
        drm_settings.timeout = settings.request_timeout;
        drm::drm_problem drm_answer;
        std::string license =
            drm::drm_client(drm_settings)
                .acquire_license(ticket.grant_token, device_key.public_only(), ec, &drm_answer);
        if (answer != nullptr) {
            *answer = drm_answer;
        }
        if (ec) {
            set_detail(detail,
                       "license " + ticket.license_url + ": " +
                           (drm_answer.status != 0 ? std::to_string(drm_answer.status) + " " +
                                                         drm_answer.title + ": " + drm_answer.detail
                                                   : ec.message()));
            return {};
        }
        write_atomically(license_path, license + "\n", ec);
        if (ec) {
            set_detail(detail, license_path.string() + ": " + ec.message());
            return {};
        }
        return license;
    }

    /**
     * play()'s license renewal (see ims_client::play()): a fresh license from the DRM server,
     * with a fresh ticket document first when the stored grant token is about to expire.
     * @param refused set when the DRM server (or the AS) answered and refused
     * @return the new license, empty with ec and detail set on failure
     */
    std::string renew_license(const acquired_item& bought, const core::doi& doi, bool& refused,
                              const client_progress_callback& progress, std::error_code& ec,
                              std::string* detail) {
        refused = false;
        const auto now = std::chrono::system_clock::now();
        const std::filesystem::path folder = bought.license_path.parent_path();
        std::optional<ticket_document> ticket;
        {
            std::error_code read_ec;
            const core::byte_vector text = read_bytes(folder / "ticket.json", read_ec);
            if (!read_ec) {
                ticket = ticket_document::parse(core::as_string_view(text), read_ec);
            }
            if (read_ec) {
                ticket.reset();
            }
        }
        // A grant token that expires before the request could complete: a fresh document.
        const auto grant_margin = std::chrono::duration_cast<std::chrono::seconds>(
            settings.request_timeout + std::chrono::seconds(60));
        if (!ticket || ticket->expires <=
                           std::chrono::time_point_cast<std::chrono::seconds>(now) + grant_margin) {
            if (!ensure_registered(ec, detail)) {
                return {};
            }
            ticket = request_ticket(doi, bought.request_id, false, progress, ec, detail);
            if (!ticket) {
                refused = ec == errc::dependency_refused;
                return {};
            }
        }
        report(progress, client_stage::licensing, "renewing the license " + ticket->license_url);
        drm::drm_problem answer;
        std::string license = fetch_license(*ticket, bought.license_path, ec, detail, &answer);
        if (license.empty()) {
            refused = answer.status >= 400 && answer.status < 500;
            return {};
        }
        log.info("license renewed", {{"doi", doi.str()}});
        return license;
    }

    std::uint64_t play(const std::string& doi_text, std::ostream& out, std::error_code& ec,
                       std::string* detail, const client_progress_callback& progress) {
        ec.clear();
        const core::doi doi = core::doi::parse(doi_text, ec);
        if (ec) {
            set_detail(detail, "\"" + doi_text + "\" is not a DOI: " + ec.message());
            return 0;
        }
        std::optional<acquired_item> bought;
        std::optional<published_item> own;
        {
            std::lock_guard lock(state_mutex);
            for (const auto& item : acquired) {
                if (item.complete && same_doi(item.doi, doi.str())) {
                    bought = item;
                }
            }
            for (const auto& item : published) {
                if (same_doi(item.doi, doi.str())) {
                    own = item;
                }
            }
        }
        const drm::progress_callback on_decrypt = [&](std::uint64_t done, std::uint64_t total) {
            report(progress, client_stage::decrypting, "decrypting", done, total);
        };
        if (!bought && own) {
            // Publisher side: the content key file opens the container.
            const drm::content_key key = drm::read_content_key_file(own->key_path, ec);
            if (ec) {
                set_detail(detail, own->key_path.string() + ": " + ec.message());
                return 0;
            }
            drm::container_reader reader = drm::container_reader::open(own->container_path, ec);
            if (!ec) {
                reader.set_key(key.cek, &key.kid, ec);
            }
            if (!ec) {
                reader.decrypt_to(out, ec, on_decrypt);
            }
            if (ec) {
                set_detail(detail, own->container_path.string() + ": " + ec.message());
                return 0;
            }
            return reader.header().plaintext_size;
        }
        if (!bought) {
            ec = errc::unknown_content;
            set_detail(detail, doi.str() + " was neither acquired nor published by this client");
            return 0;
        }
        const core::jwk_set* keys = load_drm_keys(ec, detail);
        if (keys == nullptr) {
            return 0;
        }
        std::error_code read_ec;
        const core::byte_vector license_bytes = read_bytes(bought->license_path, read_ec);
        std::string license(core::as_string_view(license_bytes));
        while (!license.empty() &&
               (license.back() == '\n' || license.back() == '\r' || license.back() == ' ')) {
            license.pop_back();
        }
        // Renew a license that is about to expire (or unreadable) before playing.
        std::optional<std::chrono::sys_seconds> license_expires;
        if (!read_ec) {
            const drm::license_claims claims = drm::peek_license_claims(license, read_ec);
            if (!read_ec) {
                license_expires = claims.expires_at;
            }
        }
        const auto now =
            std::chrono::time_point_cast<std::chrono::seconds>(std::chrono::system_clock::now());
        if (!license_expires || *license_expires <= now + settings.license_renewal_margin) {
            bool refused = false;
            std::string renewal_detail;
            std::string renewed =
                renew_license(*bought, doi, refused, progress, ec, &renewal_detail);
            if (!renewed.empty()) {
                license = std::move(renewed);
            } else if (refused) {
                // The DRM server (or the AS) said no, e.g. the grant was revoked: keep nothing
                // that could still be played offline.
                std::error_code ignored;
                std::filesystem::remove(bought->license_path, ignored);
                log.warning("license renewal refused; license deleted",
                            {{"doi", doi.str()}, {"reason", renewal_detail}});
                set_detail(detail, "license renewal refused: " + renewal_detail);
                return 0;
            } else if (license_expires && *license_expires > now) {
                // Offline: the license in hand is still valid.
                log.warning("license renewal failed; playing with the current license",
                            {{"doi", doi.str()}, {"reason", renewal_detail}});
                ec.clear();
            } else {
                set_detail(detail, "the license " + bought->license_path.string() +
                                       (license_expires ? " has expired" : " cannot be read") +
                                       " and renewing it failed: " + renewal_detail);
                return 0;
            }
        }
        drm::player_settings player_settings;
        player_settings.drm_keys = *keys;
        player_settings.device_key = device_key.x25519_private(ec);
        player_settings.usage_store_path = settings.data_dir / "usage.db";
        if (ec) {
            set_detail(detail, "device key: " + ec.message());
            return 0;
        }
        drm::player player = drm::player::create(std::move(player_settings), ec);
        if (ec) {
            set_detail(detail, "usage store: " + ec.message());
            return 0;
        }
        drm::playback playback = player.open(bought->container_path, license,
                                             std::chrono::system_clock::now(), ec, doi.str());
        if (ec) {
            set_detail(detail, bought->container_path.string() + ": refused: " + ec.message());
            return 0;
        }
        playback.decrypt_to(out, ec, on_decrypt);
        if (ec) {
            set_detail(detail, bought->container_path.string() + ": " + ec.message());
            return 0;
        }
        log.info("played", {{"doi", doi.str()}, {"play", playback.usage().play_count}});
        return playback.header().plaintext_size;
    }

    /** Re-sends the stored PUBLISH of a published item for a fresh seed ticket. */
    bool renew_seed_ticket(published_item& item, std::error_code& ec, std::string* detail) {
        const std::filesystem::path folder = item.container_path.parent_path();
        const core::byte_vector body = read_bytes(folder / publish_request_file, ec);
        if (ec) {
            set_detail(detail, item.doi + ": cannot renew its seed ticket: " +
                                   (folder / publish_request_file).string() + ": " + ec.message());
            return false;
        }
        body_error problem;
        const publish_request request =
            publish_request::parse(core::as_string_view(body), ec, &problem);
        if (ec) {
            set_detail(detail, (folder / publish_request_file).string() + ": " + problem.message());
            return false;
        }
        outgoing_request sip_request;
        sip_request.method = "PUBLISH";
        sip_request.request_uri = settings.content_psi;
        sip_request.headers = {{"Event", "imsp2p-content"}, {"Expires", "3600"}};
        sip_request.content_type = std::string(publish_media_type);
        sip_request.body = std::string(core::as_string_view(body));
        if (settings.transport == transport::udp && !settings.outbound_proxy.empty()) {
            sip_request.route = {"<" + with_transport(settings.outbound_proxy, transport::tcp) +
                                 ";lr>"};
        }
        if (!send_request(std::move(sip_request), ec, detail)) {
            return false;
        }
        const auto result = wait_publish_result(request.kid);
        if (!result) {
            ec = std::make_error_code(std::errc::timed_out);
            set_detail(detail, item.doi + ": no publish result from " + settings.content_psi +
                                   " within " + std::to_string(settings.result_timeout.count()) +
                                   " ms");
            return false;
        }
        item.state = std::string(core::to_string(result->state));
        item.seed_ticket = result->seed_ticket;
        item.announce_url = result->announce_url;
        item.torrent_url = result->torrent_url;
        item.expires = result->expires;
        return true;
    }

    /** Gives a renewed announce URL to the swarm, when it runs. */
    void update_swarm_announce(const std::filesystem::path& torrent_path,
                               const std::filesystem::path& folder,
                               const std::string& announce_url) {
        swarm* session = nullptr;
        {
            std::lock_guard lock(component_mutex);
            session = shares.get();
        }
        if (session == nullptr) {
            return;  // seed_all() adds it with the stored URL
        }
        std::error_code ec;
        const core::byte_vector torrent = read_bytes(torrent_path, ec);
        if (!ec) {
            session->add(torrent, folder, announce_url, ec);  // replaces the announce URL
        }
        if (ec) {
            log.warning("cannot give the renewed ticket to the swarm",
                        {{"torrent", torrent_path.string()}, {"error", ec.message()}});
        }
    }

    std::size_t renew_tickets(std::error_code& ec, std::string* detail) {
        ec.clear();
        const auto due =
            std::chrono::time_point_cast<std::chrono::seconds>(std::chrono::system_clock::now()) +
            settings.ticket_renewal_margin;
        std::vector<published_item> own;
        std::vector<acquired_item> bought;
        {
            std::lock_guard lock(state_mutex);
            for (const auto& item : published) {
                if (item.expires <= due && item.state != "withdrawn") {
                    own.push_back(item);
                }
            }
            for (const auto& item : acquired) {
                if (item.complete && item.expires <= due) {
                    bought.push_back(item);
                }
            }
        }
        if (own.empty() && bought.empty()) {
            return 0;
        }
        if (!ensure_registered(ec, detail)) {
            return 0;
        }
        std::size_t renewed = 0;
        const auto note_error = [&](const std::error_code& item_ec, const std::string& text) {
            log.warning("ticket renewal failed", {{"error", text}});
            if (!ec) {
                ec = item_ec;
                set_detail(detail, text);
            }
        };
        // Stores a renewed item, hands its announce URL to the swarm and counts it.
        const auto finish = [&](auto& items, const auto& item, const char* what, auto same) {
            std::error_code save_ec;
            {
                std::lock_guard lock(state_mutex);
                const auto it = std::find_if(items.begin(), items.end(), same);
                if (it != items.end()) {
                    *it = item;
                }
                save_state_locked(save_ec);
            }
            if (save_ec) {
                note_error(save_ec, state_path().string() + ": " + save_ec.message());
                return;
            }
            update_swarm_announce(item.torrent_path, item.container_path.parent_path(),
                                  item.announce_url);
            log.info(what, {{"doi", item.doi}});
            ++renewed;
        };
        for (auto& item : own) {
            std::error_code item_ec;
            std::string item_detail;
            if (!renew_seed_ticket(item, item_ec, &item_detail)) {
                note_error(item_ec, item_detail);
                continue;
            }
            finish(published, item, "seed ticket renewed",
                   [&](const published_item& other) { return same_doi(other.doi, item.doi); });
        }
        for (auto& item : bought) {
            std::error_code item_ec;
            std::string item_detail;
            const core::doi doi = core::doi::parse(item.doi, item_ec);
            std::optional<ticket_document> ticket;
            if (!item_ec) {
                ticket = request_ticket(doi, item.request_id, false, {}, item_ec, &item_detail);
            }
            if (!ticket) {
                note_error(item_ec, item.doi + ": " + item_detail);
                continue;
            }
            item.announce_url = ticket->announce_url;
            item.expires = ticket->expires;
            finish(acquired, item, "leech ticket renewed",
                   [&](const acquired_item& other) { return other.request_id == item.request_id; });
        }
        return renewed;
    }

    std::size_t seed_all(std::error_code& ec, std::string* detail) {
        ec.clear();
        std::vector<std::pair<std::filesystem::path, std::pair<std::filesystem::path, std::string>>>
            shares_to_add;  // torrent, (folder, announce URL)
        {
            std::lock_guard lock(state_mutex);
            for (const auto& item : published) {
                shares_to_add.push_back(
                    {item.torrent_path, {item.container_path.parent_path(), item.announce_url}});
            }
            for (const auto& item : acquired) {
                if (item.complete) {
                    shares_to_add.push_back(
                        {item.torrent_path,
                         {item.container_path.parent_path(), item.announce_url}});
                }
            }
            for (const auto& item : assignments) {
                if (item.state != "failed" && !item.torrent_path.empty()) {
                    shares_to_add.push_back(
                        {item.torrent_path,
                         {item.container_path.parent_path(), item.announce_url}});
                }
            }
        }
        swarm* session = nullptr;
        try {
            session = &bittorrent();
        } catch (const std::system_error& error) {
            ec = error.code();
            set_detail(detail, std::string("swarm: ") + error.what());
            return 0;
        }
        for (const auto& [torrent_path, where] : shares_to_add) {
            std::error_code item_ec;
            const core::byte_vector torrent = read_bytes(torrent_path, item_ec);
            if (!item_ec) {
                session->add(torrent, where.first, where.second, item_ec);
            }
            if (item_ec) {
                log.warning("cannot seed",
                            {{"torrent", torrent_path.string()}, {"error", item_ec.message()}});
                if (!ec) {
                    ec = item_ec;
                    set_detail(detail, torrent_path.string() + ": " + item_ec.message());
                }
            }
        }
        return session->all().size();
    }

    // --- operator seed box ---------------------------------------------------------------

    /** Replaces the recorded assignment with @p item's id and saves the state. */
    void store_assignment(const seed_assignment_record& item, std::error_code& ec) {
        std::lock_guard lock(state_mutex);
        const auto it = std::find_if(assignments.begin(), assignments.end(), [&](const auto& x) {
            return x.assignment_id == item.assignment_id;
        });
        const std::optional<seed_assignment_record> before =
            it != assignments.end() ? std::optional(*it) : std::nullopt;
        if (it != assignments.end()) {
            *it = item;
        } else {
            assignments.push_back(item);
        }
        save_state_locked(ec);
        if (ec) {  // leave the memory as the file is
            const auto again =
                std::find_if(assignments.begin(), assignments.end(),
                             [&](const auto& x) { return x.assignment_id == item.assignment_id; });
            if (before) {
                *again = *before;
            } else {
                assignments.erase(again);
            }
        }
    }

    static void emit(const seed_box_callback& on_event, const seed_assignment_record& item,
                     std::string kind, std::string message = {}) {
        if (on_event) {
            seed_box_event event;
            event.assignment = item;
            event.kind = std::move(kind);
            event.message = std::move(message);
            on_event(event);
        }
    }

    /** Schedules the next attempt of a failed step (1 s doubling to 2 min). */
    void back_off(assignment_runtime& runtime) {
        runtime.backoff = runtime.backoff.count() == 0
                              ? std::chrono::milliseconds(1000)
                              : std::min<std::chrono::milliseconds>(runtime.backoff * 2, 120s);
        runtime.next_attempt = std::chrono::steady_clock::now() + runtime.backoff;
    }

    /**
     * Records a seed assignment durably unless its id is already recorded (SIP stack thread or
     * host thread).
     * @return the record, or nullopt with @p ec set if it could not be saved
     */
    std::optional<seed_assignment_record> record_assignment(const seed_assignment& assignment,
                                                            std::error_code& ec) {
        ec.clear();
        {
            std::lock_guard lock(state_mutex);
            const auto it = std::find_if(
                assignments.begin(), assignments.end(),
                [&](const auto& x) { return x.assignment_id == assignment.assignment_id; });
            if (it != assignments.end()) {
                return *it;
            }
        }
        seed_assignment_record item;
        item.assignment_id = assignment.assignment_id;
        item.doi = assignment.doi.str();
        item.infohash_v1 = lower_ascii(assignment.infohash_v1);
        item.torrent_url = assignment.torrent_url;
        item.announce_url = assignment.announce_url;
        item.expires = assignment.expires;
        item.state = "copying";
        store_assignment(item, ec);
        if (ec) {
            log.error("cannot record the seed assignment",
                      {{"assignment", item.assignment_id}, {"error", ec.message()}});
            return std::nullopt;
        }
        log.info("seed assignment recorded",
                 {{"assignment", item.assignment_id}, {"doi", item.doi}});
        return item;
    }

    /**
     * The seed box's answer to an incoming MESSAGE or NOTIFY (user_agent_settings::accept; runs
     * on the SIP stack's thread): a seed assignment is recorded before the 200; a bad one gets
     * 400, an unknown MESSAGE type 415.
     */
    incoming_verdict screen_seed_box_request(const incoming_request& request) {
        if (request.method != "MESSAGE") {
            return {};
        }
        if (request.content_type == ticket_media_type ||
            request.content_type == publish_result_media_type) {
            return {};
        }
        if (request.content_type != seed_assignment_media_type) {
            return {415,
                    "Unsupported Media Type",
                    {{"Accept", std::string(seed_assignment_media_type) + ", " +
                                    std::string(ticket_media_type) + ", " +
                                    std::string(publish_result_media_type)}}};
        }
        body_error problem;
        std::error_code ec;
        const seed_assignment assignment = seed_assignment::parse(request.body, ec, &problem);
        if (ec) {
            log.error("bad seed assignment refused",
                      {{"from", request.from_uri}, {"error", problem.message()}});
            return {400, "Bad Request (" + problem.message() + ")", {}};
        }
        if (!record_assignment(assignment, ec)) {
            return {500, "Server Internal Error (cannot record the assignment)", {}};
        }
        return {};
    }

    /** Announces one queued seed assignment MESSAGE (recorded when it was answered). */
    void accept_assignment(const incoming_request& request, const seed_box_callback& on_event) {
        body_error problem;
        std::error_code ec;
        const seed_assignment assignment = seed_assignment::parse(request.body, ec, &problem);
        if (ec) {
            log.error("bad seed assignment ignored",
                      {{"from", request.from_uri}, {"error", problem.message()}});
            return;
        }
        if (!announced_assignments.insert(assignment.assignment_id).second) {
            log.info("seed assignment repeated", {{"assignment", assignment.assignment_id}});
            return;
        }
        const auto item = record_assignment(assignment, ec);
        if (item && item->state == "copying") {
            emit(on_event, *item, "assigned", "from " + request.from_uri);
        } else if (item) {
            log.info("seed assignment repeated", {{"assignment", assignment.assignment_id}});
        }
    }

    /** Fetches the torrent of a copying assignment and adds it to the swarm. */
    void start_copy(seed_assignment_record item, assignment_runtime& runtime,
                    const seed_box_callback& on_event) {
        std::error_code ec;
        const core::doi doi = core::doi::parse(item.doi, ec);
        std::string index_base = item.torrent_url;
        if (const auto at = index_base.rfind("/torrents/"); at != std::string::npos) {
            index_base.resize(at);
        } else if (!settings.index_url.empty()) {
            index_base = settings.index_url;
        }
        std::string index_detail;
        core::byte_vector torrent;
        if (!ec) {
            torrent = tracker::index_client(index_base, settings.request_timeout)
                          .fetch_torrent(doi, ec, &index_detail);
        }
        if (ec) {
            item.error = "torrent " + item.torrent_url + ": " +
                         (index_detail.empty() ? ec.message() : index_detail);
            back_off(runtime);
            std::error_code ignored;
            store_assignment(item, ignored);
            log.warning("cannot fetch the assigned torrent",
                        {{"assignment", item.assignment_id}, {"error", item.error}});
            emit(on_event, item, "retrying", item.error);
            return;
        }
        const drm::torrent_summary summary = drm::inspect_torrent(torrent, ec);
        if (ec || lower_ascii(summary.infohash_v1) != item.infohash_v1) {
            item.state = "failed";
            item.error = ec ? "torrent " + item.torrent_url + ": " + ec.message()
                            : "the torrent's v1 infohash " + summary.infohash_v1 +
                                  " is not the assigned " + item.infohash_v1;
            std::error_code ignored;
            store_assignment(item, ignored);
            log.error("seed assignment refused",
                      {{"assignment", item.assignment_id}, {"error", item.error}});
            emit(on_event, item, "failed", item.error);
            return;
        }
        const std::filesystem::path folder =
            settings.data_dir / "seeded" / path_segment(lower_ascii(item.doi));
        const std::filesystem::path torrent_path = folder / "content.torrent";
        std::filesystem::create_directories(folder, ec);
        if (!ec) {
            write_atomically(torrent_path, core::as_string_view(torrent), ec);
        }
        std::string id;
        if (!ec) {
            id = bittorrent().add(torrent, folder, item.announce_url, ec);
        }
        if (ec) {
            item.error = "swarm: " + ec.message();
            back_off(runtime);
            std::error_code ignored;
            store_assignment(item, ignored);
            emit(on_event, item, "retrying", item.error);
            return;
        }
        item.error.clear();
        item.torrent_path = torrent_path;
        item.container_path = folder / summary.name;
        store_assignment(item, ec);
        runtime.swarm_id = id;
        runtime.backoff = 0ms;
        log.info("copying the assigned content", {{"assignment", item.assignment_id}});
        emit(on_event, item, "copying", "torrent fetched, downloading");
    }

    /** Sends the seed report of a seeded assignment. */
    void send_report(seed_assignment_record item, assignment_runtime& runtime,
                     const seed_box_callback& on_event) {
        std::error_code ec;
        seed_report body;
        body.assignment_id = item.assignment_id;
        body.doi = core::doi::parse(item.doi, ec);
        body.infohash_v1 = item.infohash_v1;
        body.state = "seeded";
        outgoing_request request;
        request.method = "MESSAGE";
        request.request_uri = settings.content_psi;
        request.content_type = std::string(seed_report_media_type);
        request.body = body.serialize();
        std::string why;
        if (ec || !send_request(std::move(request), ec, &why)) {
            item.error = why.empty() ? ec.message() : why;
            back_off(runtime);
            std::error_code ignored;
            store_assignment(item, ignored);
            log.warning("seed report not accepted, retrying later",
                        {{"assignment", item.assignment_id},
                         {"error", item.error},
                         {"retry_ms", std::to_string(runtime.backoff.count())}});
            emit(on_event, item, "retrying", item.error);
            return;
        }
        item.state = "reported";
        item.error.clear();
        store_assignment(item, ec);
        if (ec) {  // stays "seeded": reported again (idempotent at the AS)
            back_off(runtime);
            return;
        }
        log.info("seed report accepted", {{"assignment", item.assignment_id}, {"doi", item.doi}});
        emit(on_event, item, "reported", "the content service accepted the seed report");
    }

    std::size_t serve_seed_box(std::chrono::milliseconds wait, std::error_code& ec,
                               std::string* detail, const seed_box_callback& on_event) {
        ec.clear();
        if (!settings.operator_seed_box) {
            ec = std::make_error_code(std::errc::operation_not_permitted);
            set_detail(detail, "not an operator seed box (operator_seed_box is not set)");
            return 0;
        }
        const bool registered = ensure_registered(ec, detail);
        if (registered) {
            // The assignments that came while another operation waited, then new ones.
            for (auto it = stash.begin(); it != stash.end();) {
                if (it->content_type == seed_assignment_media_type) {
                    accept_assignment(*it, on_event);
                    it = stash.erase(it);
                } else {
                    ++it;
                }
            }
            const auto deadline = std::chrono::steady_clock::now() + wait;
            while (true) {
                const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
                    deadline - std::chrono::steady_clock::now());
                auto request = ua().next_request(std::max<std::chrono::milliseconds>(left, 0ms));
                if (!request) {
                    break;
                }
                if (request->method == "MESSAGE" &&
                    request->content_type == seed_assignment_media_type) {
                    accept_assignment(*request, on_event);
                } else {
                    stash.push_back(std::move(*request));
                    while (stash.size() > max_stashed_requests) {
                        stash.pop_front();
                    }
                }
                if (left <= 0ms) {
                    break;
                }
            }
        }

        std::vector<seed_assignment_record> held;
        {
            std::lock_guard lock(state_mutex);
            held = assignments;
        }
        const auto now = std::chrono::steady_clock::now();
        for (auto& item : held) {
            assignment_runtime& runtime = assignment_runtimes[item.assignment_id];
            if (item.state == "failed" || now < runtime.next_attempt) {
                continue;
            }
            if (item.torrent_path.empty()) {
                start_copy(item, runtime, on_event);
                continue;
            }
            if (runtime.swarm_id.empty()) {  // after a restart: the swarm resumes it
                std::error_code add_ec;
                const core::byte_vector torrent = read_bytes(item.torrent_path, add_ec);
                if (!add_ec) {
                    runtime.swarm_id = bittorrent().add(torrent, item.container_path.parent_path(),
                                                        item.announce_url, add_ec);
                }
                if (add_ec) {
                    item.error = item.torrent_path.string() + ": " + add_ec.message();
                    back_off(runtime);
                    emit(on_event, item, "retrying", item.error);
                    continue;
                }
            }
            if (item.state == "copying") {
                const auto transfer = bittorrent().progress(runtime.swarm_id);
                if (!transfer) {
                    runtime.swarm_id.clear();
                    continue;
                }
                if (!transfer->complete) {
                    if (on_event && now - runtime.last_progress >= 2s) {
                        runtime.last_progress = now;
                        seed_box_event event;
                        event.assignment = item;
                        event.kind = "copying";
                        event.done_bytes = transfer->done_bytes;
                        event.total_bytes = transfer->total_bytes;
                        event.download_rate = transfer->download_rate;
                        event.peers = transfer->peers;
                        event.message = transfer->error;
                        on_event(event);
                    }
                    continue;
                }
                item.state = "seeded";
                item.error.clear();
                std::error_code store_ec;
                store_assignment(item, store_ec);
                if (store_ec) {
                    back_off(runtime);
                    continue;
                }
                log.info("assigned content copied, seeding",
                         {{"assignment", item.assignment_id}, {"doi", item.doi}});
                emit(on_event, item, "seeded", "full copy held");
            }
            if (item.state == "seeded" && registered) {
                send_report(item, runtime, on_event);
            }
        }
        std::lock_guard lock(state_mutex);
        return assignments.size();
    }
};

ims_client::ims_client(client_settings settings, core::logger log)
    : impl_(std::make_unique<impl>(std::move(settings), std::move(log))) {
    if (impl_->settings.data_dir.empty()) {
        throw std::invalid_argument("ims_client: data_dir is empty");
    }
    std::error_code ec;
    std::filesystem::create_directories(impl_->settings.data_dir, ec);
    if (ec) {
        throw std::system_error(ec, impl_->settings.data_dir.string());
    }
    const auto key_path = impl_->settings.data_dir / "device-key.jwk";
    impl_->device_key = core::load_or_create_private_key(key_path, core::jwk_curve::x25519, ec);
    if (ec) {
        throw std::system_error(ec, key_path.string());
    }
    impl_->load_state();
}

ims_client::~ims_client() {
    std::unique_ptr<swarm> shares;
    std::unique_ptr<user_agent> agent;
    {
        std::lock_guard lock(impl_->component_mutex);
        shares = std::move(impl_->shares);
        agent = std::move(impl_->agent);
    }
    shares.reset();  // saves the resume data
    if (agent && agent->registered()) {
        agent->unregister(std::chrono::seconds(5));
    }
}

const client_settings& ims_client::settings() const noexcept {
    return impl_->settings;
}

core::jwk ims_client::device_public_key() const {
    return impl_->device_key.public_only();
}

transaction_result ims_client::register_now(std::error_code& ec, std::string* detail) {
    std::lock_guard lock(impl_->operation_mutex);
    return impl_->do_register(ec, detail);
}

published_item ims_client::publish(const std::filesystem::path& file, publish_metadata metadata,
                                   std::error_code& ec, std::string* detail,
                                   const client_progress_callback& progress) {
    std::lock_guard lock(impl_->operation_mutex);
    return guarded(ec, detail,
                   [&] { return impl_->publish(file, std::move(metadata), ec, detail, progress); });
}

acquired_item ims_client::acquire(const std::string& doi, std::error_code& ec, std::string* detail,
                                  const client_progress_callback& progress,
                                  const std::string& request_id) {
    std::lock_guard lock(impl_->operation_mutex);
    return guarded(ec, detail,
                   [&] { return impl_->acquire(doi, ec, detail, progress, request_id); });
}

std::uint64_t ims_client::play(const std::string& doi, std::ostream& out, std::error_code& ec,
                               std::string* detail, const client_progress_callback& progress) {
    std::lock_guard lock(impl_->operation_mutex);
    return guarded(ec, detail, [&] { return impl_->play(doi, out, ec, detail, progress); });
}

std::vector<tracker::index_entry> ims_client::list(const std::string& query, std::error_code& ec,
                                                   std::string* detail) {
    std::lock_guard lock(impl_->operation_mutex);
    ec.clear();
    if (impl_->settings.index_url.empty()) {
        ec = errc::dependency_unavailable;
        set_detail(detail, "no content index configured (index_url)");
        return {};
    }
    std::string index_detail;
    auto entries = tracker::index_client(impl_->settings.index_url, impl_->settings.request_timeout)
                       .fetch_catalog(query, ec, &index_detail);
    if (ec) {
        set_detail(detail, impl_->settings.index_url + ": " +
                               (index_detail.empty() ? ec.message() : index_detail));
    }
    return entries;
}

std::size_t ims_client::seed_all(std::error_code& ec, std::string* detail) {
    std::lock_guard lock(impl_->operation_mutex);
    return impl_->seed_all(ec, detail);
}

std::size_t ims_client::renew_tickets(std::error_code& ec, std::string* detail) {
    std::lock_guard lock(impl_->operation_mutex);
    return guarded(ec, detail, [&] { return impl_->renew_tickets(ec, detail); });
}

std::size_t ims_client::serve_seed_box(std::chrono::milliseconds wait, std::error_code& ec,
                                       std::string* detail, const seed_box_callback& on_event) {
    std::lock_guard lock(impl_->operation_mutex);
    return guarded(ec, detail, [&] { return impl_->serve_seed_box(wait, ec, detail, on_event); });
}

void ims_client::save_resume_data() {
    std::lock_guard lock(impl_->component_mutex);
    if (impl_->shares) {
        impl_->shares->save_resume_data();
    }
}

client_status ims_client::status() const {
    client_status status;
    status.impu = impl_->settings.impu;
    {
        std::lock_guard lock(impl_->component_mutex);
        if (impl_->agent) {
            status.sip_started = true;
            status.registered = impl_->agent->registered();
            status.registered_in_one_pass = status.registered && impl_->one_pass &&
                                            impl_->one_pass->token_used() &&
                                            impl_->one_pass->challenges_answered() == 0;
            status.registrations = impl_->agent->registrations();
            status.contact = impl_->agent->contact();
        }
        if (impl_->shares) {
            status.swarm_started = true;
            status.bittorrent_port = impl_->shares->listen_port();
            status.transfers = impl_->shares->all();
        }
    }
    std::lock_guard lock(impl_->state_mutex);
    status.published = impl_->published;
    status.acquired = impl_->acquired;
    status.assignments = impl_->assignments;
    return status;
}

}  // namespace imsp2p::sip
