// The imsp2p-paa program (examples/paa/main.cpp forwards to paa_runner::run()).

#include <imsp2p/pana/paa_runner.hpp>

#include <imsp2p/pana/eap_tls.hpp>
#include <imsp2p/pana/error.hpp>
#include <imsp2p/pana/token_store.hpp>

#include <imsp2p/core/error.hpp>
#include <imsp2p/core/identity.hpp>
#include <imsp2p/core/key_file.hpp>

#include <imsp2p_internal/http_client.hpp>

#include <nlohmann/json.hpp>

#include <pthread.h>
#include <atomic>
#include <condition_variable>
#include <csignal>
#include <deque>
#include <fstream>
#include <iterator>
#include <mutex>
#include <optional>
#include <set>
#include <sstream>
#include <thread>

namespace imsp2p::pana {

paa_runner_config paa_runner_config::from_json(std::string_view text,
                                               const std::filesystem::path& base_directory,
                                               std::error_code& ec, std::string& detail) {
    ec.clear();
    detail.clear();
    paa_runner_config config;
    const auto fail = [&](std::string why) {
        ec = core::errc::invalid_argument;
        detail = std::move(why);
        return paa_runner_config{};
    };
    const nlohmann::json document = nlohmann::json::parse(text, nullptr, false);
    if (document.is_discarded() || !document.is_object()) {
        return fail("the configuration is not a JSON object");
    }
    static const std::set<std::string> known = {"listen_address",   "port",
                                                "ca_file",          "certificate_file",
                                                "private_key_file", "session_lifetime_seconds",
                                                "token_store",      "token_lifetime_seconds",
                                                "hss_deposit_url",  "hss_deposit_key"};
    for (const auto& [key, value] : document.items()) {
        if (known.count(key) == 0) {
            return fail("unknown key \"" + key + "\"");
        }
    }
    const auto path = [&](const char* key, std::filesystem::path& out) {
        const auto found = document.find(key);
        if (found == document.end() || !found->is_string() || found->get<std::string>().empty()) {
            return false;
        }
        out = std::filesystem::path(found->get<std::string>());
        if (out.is_relative()) {
            out = base_directory / out;
        }
        return true;
    };
    if (!path("ca_file", config.ca_file) || !path("certificate_file", config.certificate_file) ||
        !path("private_key_file", config.private_key_file)) {
        return fail("ca_file, certificate_file and private_key_file are required strings");
    }
    if (const auto found = document.find("listen_address"); found != document.end()) {
        if (!found->is_string()) {
            return fail("listen_address must be a string");
        }
        config.listen_address = found->get<std::string>();
    }
    if (const auto found = document.find("port"); found != document.end()) {
        if (!found->is_number_unsigned() || found->get<std::uint64_t>() > 65535) {
            return fail("port must be an integer from 0 to 65535");
        }
        config.port = static_cast<std::uint16_t>(found->get<std::uint64_t>());
    }
    if (const auto found = document.find("session_lifetime_seconds"); found != document.end()) {
        if (!found->is_number_unsigned() || found->get<std::uint64_t>() == 0 ||
            found->get<std::uint64_t>() > 0xFFFFFFFFu) {
            return fail("session_lifetime_seconds must be a positive 32-bit integer");
        }
        config.session_lifetime = std::chrono::seconds(found->get<std::uint64_t>());
    }
    if (document.contains("token_store") && !path("token_store", config.token_store_file)) {
        return fail("token_store must be a non-empty string");
    }
    if (const auto found = document.find("token_lifetime_seconds"); found != document.end()) {
        if (!found->is_number_unsigned() || found->get<std::uint64_t>() == 0 ||
            found->get<std::uint64_t>() > 0xFFFFFFFFu) {
            return fail("token_lifetime_seconds must be a positive 32-bit integer");
        }
        config.token_lifetime = std::chrono::seconds(found->get<std::uint64_t>());
    }
    if (const auto found = document.find("hss_deposit_url"); found != document.end()) {
        if (!found->is_string() || !found->get<std::string>().starts_with("http://")) {
            return fail("hss_deposit_url must be an http:// URL");
        }
        config.hss_deposit_url = found->get<std::string>();
    }
    if (document.contains("hss_deposit_key") &&
        !path("hss_deposit_key", config.hss_deposit_key_file)) {
        return fail("hss_deposit_key must be a non-empty string");
    }
    if (config.hss_deposit_url.empty() != config.hss_deposit_key_file.empty()) {
        return fail("hss_deposit_url and hss_deposit_key go together");
    }
    if (!config.hss_deposit_url.empty() && !config.token_store_file.empty()) {
        return fail("token_store and hss_deposit_url exclude each other");
    }
    return config;
}

struct paa_runner::impl {
    std::ostream* log = nullptr;
    std::mutex log_mutex;
    // Used only on the server's thread (the token sink) while the server runs; declared before
    // the server so that it outlives it.
    std::optional<token_store> tokens;
    std::atomic<std::uint64_t> tokens_stored{0};
    std::unique_ptr<pana_paa_server> server;

    // Deposits over HTTP: sealed on the PANA thread, POSTed by `poster`.
    std::string deposit_url;
    std::mutex queue_mutex;
    std::condition_variable queue_ready;
    std::deque<std::pair<std::string, core::byte_vector>> queue;  // (identity, sealed)
    bool stopping = false;
    std::thread poster;

    void post_deposits() {
        std::unique_lock lock(queue_mutex);
        for (;;) {
            queue_ready.wait(lock, [this] { return stopping || !queue.empty(); });
            if (queue.empty()) {
                return;
            }
            auto [identity, sealed] = std::move(queue.front());
            queue.pop_front();
            lock.unlock();
            internal::http::client_request request;
            request.method = boost::beast::http::verb::post;
            request.url = deposit_url;
            request.content_type = "application/octet-stream";
            request.body.assign(sealed.begin(), sealed.end());
            request.timeout = std::chrono::seconds(5);
            std::error_code ec;
            const auto response = internal::http::perform(request, ec);
            if (!ec && response.status == 204) {
                tokens_stored.fetch_add(1);
                line("one-pass token deposited for " + identity);
            } else {
                line("cannot deposit the one-pass token of " + identity + ": " +
                     (ec ? ec.message()
                         : "HTTP " + std::to_string(response.status) + " " + response.body));
            }
            lock.lock();
        }
    }

    void stop_poster() {
        {
            std::lock_guard lock(queue_mutex);
            stopping = true;
        }
        queue_ready.notify_all();
        if (poster.joinable()) {
            poster.join();
        }
        queue.clear();
        stopping = false;
    }

    void line(const std::string& text) {
        std::lock_guard lock(log_mutex);
        *log << "imsp2p-paa: " << text << std::endl;
    }
};

paa_runner::paa_runner(std::ostream& log) : impl_(std::make_unique<impl>()) {
    impl_->log = &log;
}

paa_runner::~paa_runner() {
    stop();
}

std::string paa_runner::usage() {
    return "usage: imsp2p-paa --config FILE\n"
           "  FILE is a JSON object: listen_address (default \"::\"), port (default 716),\n"
           "  ca_file, certificate_file, private_key_file (required; relative to FILE's\n"
           "  folder), session_lifetime_seconds (default 3600), token_store (the HSS\n"
           "  SQLite file that receives one-pass tokens; default none),\n"
           "  token_lifetime_seconds (default 300), or instead of token_store\n"
           "  hss_deposit_url (http://host:port/v1/one-pass-tokens) with hss_deposit_key\n"
           "  (0600 file, 32-byte service key).\n"
           "  Runs until SIGTERM or SIGINT.\n";
}

void paa_runner::start(const paa_runner_config& config, std::error_code& ec) {
    ec.clear();
    stop();
    eap_tls_settings tls;
    tls.ca_file = config.ca_file;
    tls.certificate_chain_file = config.certificate_file;
    tls.private_key_file = config.private_key_file;
    const auto context = eap_tls_context::create(tls, eap_tls_role::server, ec);
    if (ec) {
        return;
    }
    pana_paa_server_settings settings;
    settings.address = config.listen_address;
    settings.port = config.port;
    settings.session.session_lifetime = config.session_lifetime;
    impl* state = impl_.get();
    eap_tls_token_sink sink;
    impl_->tokens_stored = 0;
    if (!config.token_store_file.empty()) {
        impl_->tokens.emplace(token_store::open(config.token_store_file, {}, ec));
        if (ec) {
            impl_->tokens.reset();
            return;
        }
        sink = [state, store = make_token_store_sink(*impl_->tokens, config.token_lifetime)](
                   const std::string& identity, core::byte_view token) {
            try {
                store(identity, token);
            } catch (const std::system_error& error) {
                state->line("cannot store the one-pass token of " + identity + ": " + error.what());
                throw;
            }
            state->tokens_stored.fetch_add(1);
            state->line("one-pass token stored for " + identity);
        };
    } else if (!config.hss_deposit_url.empty()) {
        core::secret_bytes key = core::read_secret_file(config.hss_deposit_key_file, ec);
        if (!ec && key.size() != token_service_key_size) {
            ec = core::errc::bad_key_size;
        }
        if (ec) {
            return;
        }
        impl_->deposit_url = config.hss_deposit_url;
        impl_->poster = std::thread([state] { state->post_deposits(); });
        sink = [state, key = std::move(key), lifetime = config.token_lifetime](
                   const std::string& identity, core::byte_view token) {
            std::error_code error;
            const core::impi impi = core::impi::parse(identity, error);
            if (error) {
                return;  // not an IMPI: no one-pass registration for it
            }
            auto sealed = seal_token_deposit(key.view(), impi, token,
                                             std::chrono::system_clock::now() + lifetime, error);
            if (error) {
                state->line("cannot seal the one-pass token of " + identity + ": " +
                            error.message());
                return;
            }
            {
                std::lock_guard lock(state->queue_mutex);
                state->queue.emplace_back(identity, std::move(sealed));
            }
            state->queue_ready.notify_one();
        };
    }
    impl_->server = pana_paa_server::start(
        settings,
        [context, sink] { return std::make_unique<eap_tls_authenticator>(context, sink); },
        [state](const pana_authenticated_session& session) {
            state->line("authenticated " + session.info.peer_identity + " from " +
                        session.pac_address + " port " + std::to_string(session.pac_port) +
                        " session " + std::to_string(session.info.session_id) + " key-id " +
                        std::to_string(session.info.key_id));
        },
        ec);
    if (ec) {
        impl_->tokens.reset();
        impl_->stop_poster();
        return;
    }
    {
        impl_->line("listening on " + config.listen_address + " port " +
                    std::to_string(impl_->server->port()));
    }
}

std::uint64_t paa_runner::tokens_stored() const noexcept {
    return impl_->tokens_stored.load();
}

std::uint16_t paa_runner::port() const noexcept {
    return impl_->server ? impl_->server->port() : 0;
}

void paa_runner::stop() {
    if (impl_->server) {
        impl_->server->stop();
        impl_->server.reset();
    }
    impl_->stop_poster();
    impl_->tokens.reset();
}

int paa_runner::run(std::span<const std::string_view> arguments) {
    std::string config_file;
    for (std::size_t i = 0; i < arguments.size(); ++i) {
        const std::string_view argument = arguments[i];
        if (argument == "--help") {
            *impl_->log << usage();
            return exit_success;
        }
        if (argument == "--config" && i + 1 < arguments.size()) {
            config_file = std::string(arguments[++i]);
        } else if (argument.starts_with("--config=")) {
            config_file = std::string(argument.substr(9));
        } else {
            impl_->line("unexpected argument \"" + std::string(argument) + "\" (see --help)");
            return exit_usage;
        }
    }
    if (config_file.empty()) {
        impl_->line("missing --config FILE (see --help)");
        return exit_usage;
    }
    std::ifstream in(config_file, std::ios::binary);
    if (!in) {
        impl_->line("cannot read " + config_file);
        return exit_usage;
    }
    const std::string text((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
    std::error_code ec;
    std::string detail;
    const paa_runner_config config = paa_runner_config::from_json(
        text, std::filesystem::path(config_file).parent_path(), ec, detail);
    if (ec) {
        impl_->line(config_file + ": " + detail);
        return exit_usage;
    }
    sigset_t signals;
    sigemptyset(&signals);
    sigaddset(&signals, SIGTERM);
    sigaddset(&signals, SIGINT);
    pthread_sigmask(SIG_BLOCK, &signals, nullptr);
    start(config, ec);
    if (ec) {
        impl_->line("cannot start: " + ec.message());
        return exit_failure;
    }
    int received = 0;
    sigwait(&signals, &received);
    impl_->line(std::string("stopping on ") + (received == SIGTERM ? "SIGTERM" : "SIGINT"));
    stop();
    return exit_success;
}

}  // namespace imsp2p::pana
