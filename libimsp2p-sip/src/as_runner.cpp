#include <imsp2p/sip/as_runner.hpp>

#include <imsp2p/core/jose.hpp>
#include <imsp2p/core/key_file.hpp>

#include <imsp2p/core/identity.hpp>

#include <algorithm>
#include <csignal>
#include <ctime>
#include <string>
#include <vector>

namespace imsp2p::sip {

sip_server_settings server_settings_from(const core::config& config) {
    sip_server_settings settings;
    settings.listen = {"sip:127.0.0.1:5070;transport=udp", "sip:127.0.0.1:5070;transport=tcp"};
    if (config.contains("/sip/listen")) {
        const auto& value = config.require<nlohmann::json>("/sip/listen");
        if (value.is_string()) {
            settings.listen = {value.get<std::string>()};
        } else {
            settings.listen = config.require<std::vector<std::string>>("/sip/listen");
        }
    }
    settings.worker_threads = config.get_or<std::size_t>("/sip/workers", 2, {1, 256});
    settings.poll_interval =
        config.duration_or("/sip/poll_interval", std::chrono::milliseconds(1000));
    settings.outbound_proxy = config.get_or<std::string>("/sip/outbound_proxy", "");
    settings.max_in_flight = config.get_or<std::size_t>("/sip/max_in_flight", 1024, {1, 1000000});
    settings.stop_timeout =
        config.duration_or("/sip/stop_timeout", std::chrono::milliseconds(5000));
    settings.server_name = config.get_or<std::string>("/sip/server_name", "imsp2p-as");
    return settings;
}

namespace {

std::chrono::seconds seconds_or(const core::config& config, const char* pointer,
                                std::chrono::seconds fallback) {
    return std::chrono::duration_cast<std::chrono::seconds>(config.duration_or(pointer, fallback));
}

std::vector<std::string> strings_or(const core::config& config, const char* pointer) {
    return config.get_or<std::vector<std::string>>(pointer, {});
}

[[noreturn]] void bad_value(const core::config& config, const std::string& pointer,
                            const std::string& why) {
    throw std::system_error(make_error_code(core::errc::config_bad_value),
                            config.source_name() + ": " + pointer + ": " + why);
}

/** `/service/operator_seed_boxes`: an array of distinct IMPUs (absent: none). */
std::vector<std::string> seed_boxes_from(const core::config& config) {
    constexpr const char* pointer = "/service/operator_seed_boxes";
    auto boxes = strings_or(config, pointer);
    std::vector<core::impu> seen;
    for (std::size_t i = 0; i < boxes.size(); ++i) {
        const std::string item = std::string(pointer) + "/" + std::to_string(i);
        std::error_code ec;
        auto box = core::impu::parse(boxes[i], ec);
        if (ec) {
            bad_value(config, item,
                      "expected an IMPU such as \"sip:seedbox@ims.example\", found \"" + boxes[i] +
                          "\" (" + ec.message() + ")");
        }
        if (std::find(seen.begin(), seen.end(), box) != seen.end()) {
            bad_value(config, item, "duplicate seed box \"" + boxes[i] + "\"");
        }
        seen.push_back(std::move(box));
    }
    return boxes;
}

/** `/service/operator_seed_ticket_lifetime`: whole seconds, at least one. */
std::chrono::seconds seed_ticket_lifetime_from(const core::config& config,
                                               std::chrono::seconds fallback) {
    constexpr const char* pointer = "/service/operator_seed_ticket_lifetime";
    const auto value = config.duration_or(pointer, fallback);
    if (value < std::chrono::seconds(1) || value % std::chrono::seconds(1) != value.zero()) {
        bad_value(config, pointer,
                  "expected a whole number of seconds, at least 1 (e.g. 2592000 or \"30d\")");
    }
    return std::chrono::duration_cast<std::chrono::seconds>(value);
}

}  // namespace

service_settings service_settings_from(const core::config& config) {
    service_settings settings;
    const service_settings defaults;
    if (config.contains("/data_dir")) {
        settings.data_dir = config.resolve_path(config.require<std::string>("/data_dir"));
    }
    if (config.contains("/service/database_path")) {
        settings.database_path =
            config.resolve_path(config.require<std::string>("/service/database_path"));
    }
    if (config.contains("/service/charging_database_path")) {
        settings.charging_database_path =
            config.resolve_path(config.require<std::string>("/service/charging_database_path"));
    }
    settings.content_psi = config.get_or<std::string>("/service/content_psi", "");
    settings.as_uri = config.get_or<std::string>("/service/as_uri", "");
    settings.scscf_route = strings_or(config, "/service/scscf_route");
    settings.trusted_addresses = strings_or(config, "/service/trusted_addresses");
    settings.trusted_tls_names = strings_or(config, "/service/trusted_tls_names");
    const auto policy = config.get_or<std::string>("/service/publish_policy", "allow_all");
    if (policy == "allow_all") {
        settings.policy = publish_policy::allow_all;
    } else if (policy == "allow_list") {
        settings.policy = publish_policy::allow_list;
    } else if (policy == "deny_all") {
        settings.policy = publish_policy::deny_all;
    } else {
        throw std::system_error(make_error_code(core::errc::config_bad_value),
                                config.source_name() +
                                    ": /service/publish_policy: expected allow_all, allow_list "
                                    "or deny_all, found " +
                                    policy);
    }
    settings.publishers = strings_or(config, "/service/publishers");
    settings.doi_prefix = config.get_or<std::string>("/service/doi_prefix", defaults.doi_prefix);
    settings.accepted_doi_prefixes = strings_or(config, "/service/accepted_doi_prefixes");
    settings.leech_ticket_lifetime =
        seconds_or(config, "/service/leech_ticket_lifetime", defaults.leech_ticket_lifetime);
    settings.grant_token_lifetime =
        seconds_or(config, "/service/grant_token_lifetime", defaults.grant_token_lifetime);
    settings.seed_ticket_lifetime =
        seconds_or(config, "/service/seed_ticket_lifetime", defaults.seed_ticket_lifetime);
    settings.default_rights =
        config.get_or<nlohmann::json>("/service/default_rights", nlohmann::json::object());
    settings.mute_until_operator_seeded =
        config.get_or<bool>("/service/mute_until_operator_seeded", false);
    settings.operator_seed_boxes = seed_boxes_from(config);
    settings.operator_seed_ticket_lifetime =
        seed_ticket_lifetime_from(config, defaults.operator_seed_ticket_lifetime);
    settings.max_body_size =
        config.get_or<std::size_t>("/service/max_body_size", defaults.max_body_size, {1, 1u << 30});
    settings.publication_expires =
        seconds_or(config, "/service/publication_expires", defaults.publication_expires);
    settings.min_subscription =
        seconds_or(config, "/service/min_subscription", defaults.min_subscription);
    settings.max_subscription =
        seconds_or(config, "/service/max_subscription", defaults.max_subscription);
    settings.max_catalog_entries = config.get_or<std::size_t>(
        "/service/max_catalog_entries", defaults.max_catalog_entries, {1, 100000});
    settings.drm_url = config.get_or<std::string>("/drm/url", "");
    settings.license_url = config.get_or<std::string>("/drm/license_url", "");
    settings.index_url = config.get_or<std::string>("/index/url", "");
    if (config.contains("/trackers")) {
        const auto trackers = config.require<nlohmann::json>("/trackers");
        if (!trackers.is_array()) {
            throw std::system_error(make_error_code(core::errc::config_bad_value),
                                    config.source_name() + ": /trackers: expected an array");
        }
        for (std::size_t i = 0; i < trackers.size(); ++i) {
            const std::string base = "/trackers/" + std::to_string(i);
            settings.trackers.push_back(
                tracker_endpoint{config.require<std::string>(base + "/announce_url"),
                                 config.require<std::string>(base + "/admin_url")});
        }
    }
    settings.http_timeout = config.duration_or("/http_timeout", defaults.http_timeout);
    std::filesystem::path key_path;
    if (config.contains("/signing_key")) {
        key_path = config.resolve_path(config.require<std::string>("/signing_key"));
    } else if (!settings.data_dir.empty()) {
        key_path = settings.data_dir / "as-signing.jwk";
    }
    if (!key_path.empty()) {
        if (!key_path.parent_path().empty()) {
            std::filesystem::create_directories(key_path.parent_path());
        }
        const core::jwk key = core::load_or_create_private_key(key_path, core::jwk_curve::ed25519);
        settings.signing_key = key.ed25519_private();
        settings.signing_kid = key.kid().empty() ? defaults.signing_kid : key.kid();
    }
    settings.signing_kid = config.get_or<std::string>("/signing_kid", settings.signing_kid);
    settings.issuer = config.get_or<std::string>("/issuer", "");
    settings.retry_after = seconds_or(config, "/service/retry_after", defaults.retry_after);
    settings.retry_interval =
        seconds_or(config, "/service/retry_interval", defaults.retry_interval);
    settings.max_attempts =
        config.get_or<std::uint32_t>("/service/max_attempts", defaults.max_attempts, {1, 1000});
    settings.delivery_timeout =
        seconds_or(config, "/service/delivery_timeout", defaults.delivery_timeout);
    return settings;
}

as_runner::as_runner(sip_server_settings settings, request_handler& handler, core::logger log)
    : settings_(std::move(settings)), handler_(handler), log_(std::move(log)) {}

as_runner::~as_runner() = default;

void as_runner::request_stop() noexcept {
    stop_requested_.store(true);
}

int as_runner::run(const std::function<void(sip_server&)>& on_started) {
    sigset_t signals;
    sigemptyset(&signals);
    sigaddset(&signals, SIGTERM);
    sigaddset(&signals, SIGINT);
    sigset_t previous;
    pthread_sigmask(SIG_BLOCK, &signals, &previous);

    sip_server server(handler_, settings_, log_.child(log_.component() + ".sip"));
    try {
        server.start();
    } catch (...) {
        pthread_sigmask(SIG_SETMASK, &previous, nullptr);
        throw;
    }
    log_.info("started", {{"udp_port", server.port(transport::udp)},
                          {"tcp_port", server.port(transport::tcp)}});
    if (on_started) {
        on_started(server);
    }
    int received = 0;
    while (!stop_requested_.load()) {
        const timespec wait{0, 200'000'000};
        const int signal_number = sigtimedwait(&signals, nullptr, &wait);
        if (signal_number > 0) {
            received = signal_number;
            break;
        }
    }
    log_.info("stopping", {{"signal", received}});
    server.stop();
    pthread_sigmask(SIG_SETMASK, &previous, nullptr);
    log_.info("stopped");
    return 0;
}

}  // namespace imsp2p::sip
