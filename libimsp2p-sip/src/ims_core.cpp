// IMS core settings from configuration, and the program runner (signals).

#include <imsp2p/sip/ims_core.hpp>

#include <imsp2p/sip/token_deposit_server.hpp>

#include <imsp2p/core/key_file.hpp>

#include <imsp2p/core/error.hpp>

#include <pthread.h>
#include <algorithm>
#include <csignal>
#include <memory>
#include <regex>
#include <stdexcept>

namespace imsp2p::sip {
namespace {

std::chrono::seconds seconds_of(std::chrono::milliseconds value) {
    return std::chrono::duration_cast<std::chrono::seconds>(value);
}

[[noreturn]] void bad_config(const std::string& pointer, const std::string& reason) {
    throw std::system_error(core::errc::invalid_argument, pointer + ": " + reason);
}

trusted_peer parse_trusted(const std::string& text, const std::string& pointer) {
    trusted_peer peer;
    std::string address = text;
    std::string port;
    if (!text.empty() && text.front() == '[') {
        const auto close = text.find(']');
        if (close == std::string::npos) {
            bad_config(pointer, "bad address " + text);
        }
        address = text.substr(1, close - 1);
        if (close + 1 < text.size() && text[close + 1] == ':') {
            port = text.substr(close + 2);
        }
    } else if (std::count(text.begin(), text.end(), ':') == 1) {
        address = text.substr(0, text.find(':'));
        port = text.substr(text.find(':') + 1);
    }
    if (address.empty()) {
        bad_config(pointer, "empty address");
    }
    peer.address = address;
    if (!port.empty()) {
        try {
            const int value = std::stoi(port);
            if (value < 0 || value > 65535) {
                throw std::out_of_range(port);
            }
            peer.port = static_cast<std::uint16_t>(value);
        } catch (const std::exception&) {
            bad_config(pointer, "bad port " + port);
        }
    }
    return peer;
}

}  // namespace

ims_core_settings ims_core_settings::from_config(const core::config& config) {
    ims_core_settings settings;
    settings.listen_address =
        config.get_or<std::string>("/listen/address", settings.listen_address);
    settings.port = config.port_or("/listen/port", settings.port);
    settings.realm = config.get_or<std::string>("/realm", "");
    if (config.contains("/data_dir")) {
        const auto directory = config.resolve_path(config.require<std::string>("/data_dir"));
        std::filesystem::create_directories(directory);
        settings.database = directory / "ims-core.sqlite";
    }
    settings.default_expires =
        seconds_of(config.duration_or("/registration/default_expires", settings.default_expires));
    settings.min_expires =
        seconds_of(config.duration_or("/registration/min_expires", settings.min_expires));
    settings.max_expires =
        seconds_of(config.duration_or("/registration/max_expires", settings.max_expires));
    settings.nonce_lifetime =
        seconds_of(config.duration_or("/nonce_lifetime", settings.nonce_lifetime));
    settings.trust_registration_flow =
        config.get_or<bool>("/trust_registration_flow", settings.trust_registration_flow);
    if (config.contains("/filter_criteria")) {
        const auto rules = config.require<nlohmann::json>("/filter_criteria");
        if (!rules.is_array()) {
            bad_config("/filter_criteria", "must be an array");
        }
        for (std::size_t i = 0; i < rules.size(); ++i) {
            const std::string pointer = "/filter_criteria/" + std::to_string(i);
            const auto& rule = rules[i];
            if (!rule.is_object() || !rule.contains("as") || !rule["as"].is_string()) {
                bad_config(pointer, "needs \"as\" (the AS URI)");
            }
            ifc_rule entry;
            entry.name = rule.value("name", "ifc" + std::to_string(i));
            entry.psi = rule.value("psi", "");
            entry.method = rule.value("method", "");
            entry.request_uri_pattern = rule.value("request_uri", "");
            entry.as_uri = rule["as"].get<std::string>();
            if (entry.psi.empty() && entry.method.empty() && entry.request_uri_pattern.empty()) {
                bad_config(pointer, "needs \"psi\", \"method\" or \"request_uri\"");
            }
            try {
                std::regex check(entry.request_uri_pattern);
            } catch (const std::regex_error& error) {
                bad_config(pointer + "/request_uri", error.what());
            }
            settings.filter_criteria.push_back(std::move(entry));
        }
    }
    if (config.contains("/hss/database")) {
        settings.hss_database = config.resolve_path(config.require<std::string>("/hss/database"));
    }
    if (config.contains("/hss/master_key")) {
        settings.hss_master_key_file =
            config.resolve_path(config.require<std::string>("/hss/master_key"));
    }
    settings.one_pass = config.get_or<bool>("/hss/one_pass", settings.one_pass);
    if (config.contains("/hss/identity_body")) {
        settings.one_pass_identity_ca =
            config.resolve_path(config.require<std::string>("/hss/identity_body/ca"));
        settings.one_pass_identity_required =
            config.get_or<bool>("/hss/identity_body/required", false);
    }
    if (config.contains("/hss/deposit")) {
        const auto listen = config.require<std::string>("/hss/deposit/listen");
        const auto colon = listen.rfind(':');
        unsigned long port = 0;
        try {
            std::size_t used = 0;
            port = colon == std::string::npos ? 0 : std::stoul(listen.substr(colon + 1), &used);
            if (colon == std::string::npos || colon == 0 || used != listen.size() - colon - 1 ||
                port > 65535) {
                bad_config("/hss/deposit/listen", "expected \"address:port\"");
            }
        } catch (const std::logic_error&) {
            bad_config("/hss/deposit/listen", "expected \"address:port\"");
        }
        settings.deposit_address = listen.substr(0, colon);
        settings.deposit_port = static_cast<std::uint16_t>(port);
        settings.deposit_key_file =
            config.resolve_path(config.require<std::string>("/hss/deposit/key_file"));
        if (!config.contains("/hss/database")) {
            bad_config("/hss/deposit", "needs \"hss\": {\"database\": ...}");
        }
    }
    if (config.contains("/trusted_as")) {
        const auto peers = config.require<std::vector<std::string>>("/trusted_as");
        for (std::size_t i = 0; i < peers.size(); ++i) {
            settings.trusted_as.push_back(
                parse_trusted(peers[i], "/trusted_as/" + std::to_string(i)));
        }
    }
    return settings;
}

ims_core_runner::ims_core_runner(core::config config) : config_(std::move(config)) {}

int ims_core_runner::run() {
    const core::logger log = core::program_logger(config_, "ims-core");

    sigset_t signals;
    sigemptyset(&signals);
    sigaddset(&signals, SIGINT);
    sigaddset(&signals, SIGTERM);
    pthread_sigmask(SIG_BLOCK, &signals, nullptr);

    const ims_core_settings settings = ims_core_settings::from_config(config_);
    if (settings.database.empty()) {
        log.warning("no data_dir configured: users and registrations live in memory only");
    }
    if (!settings.hss_database.empty()) {
        log.info("HSS store configured: provisioned subscribers register with Digest AKAv1-MD5",
                 {{"hss", settings.hss_database.string()}});
    }
    if (settings.filter_criteria.empty()) {
        log.warning("no filter_criteria configured: originating requests only reach users");
    }
    ims_core core_(settings, log.child("ims-core.sip"));
    core_.start();
    std::unique_ptr<token_deposit_server> deposits;
    if (!settings.deposit_address.empty()) {
        token_deposit_server_settings deposit;
        deposit.bind_address = settings.deposit_address;
        deposit.port = settings.deposit_port;
        deposit.hss_database = settings.hss_database;
        std::error_code ec;
        deposit.service_key = core::read_secret_file(settings.deposit_key_file, ec);
        if (!ec && !settings.hss_master_key_file.empty()) {
            deposit.master_key = core::read_secret_file(settings.hss_master_key_file, ec);
        }
        if (ec) {
            throw std::system_error(ec, "token deposit key " + settings.deposit_key_file.string());
        }
        deposits = std::make_unique<token_deposit_server>(std::move(deposit),
                                                          log.child("ims-core.deposit"));
        deposits->start();
        log.info("token deposit listening on " + settings.deposit_address + ":" +
                     std::to_string(deposits->port()),
                 {{"port", deposits->port()}});
    }
    log.info("started", {{"port", core_.port()}, {"ifc", settings.filter_criteria.size()}});
    int received = 0;
    sigwait(&signals, &received);
    log.info("stopping", {{"signal", received}});
    if (deposits) {
        deposits->stop();
    }
    core_.stop();
    log.info("stopped");
    return 0;
}

}  // namespace imsp2p::sip
