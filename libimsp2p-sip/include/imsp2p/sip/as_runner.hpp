/**
 * @file
 * The body of the imsp2p-as program: reads the SIP settings from a configuration, runs a
 * sip_server around a request_handler and stops it cleanly on SIGTERM or SIGINT.
 *
 * Configuration (JSON pointers; every member optional):
 * - `/sip/listen`: a SIP URI or an array of them (default
 *   ["sip:127.0.0.1:5070;transport=udp", "sip:127.0.0.1:5070;transport=tcp"])
 * - `/sip/workers`: worker threads (1..256, default 2)
 * - `/sip/poll_interval`: duration (default "1s")
 * - `/sip/outbound_proxy`: SIP URI (default none)
 * - `/sip/max_in_flight`: requests in the handler at once (default 1024)
 * - `/sip/stop_timeout`: duration (default "5s")
 * - `/sip/server_name`: Server/User-Agent value (default "imsp2p-as")
 *
 * Content service settings (service_settings_from()):
 * - `/data_dir` (path, relative to the configuration file), `/service/database_path`,
 *   `/service/charging_database_path`
 * - `/service/content_psi`, `/service/as_uri`, `/service/scscf_route` (array of URIs),
 *   `/service/trusted_addresses`, `/service/trusted_tls_names` (arrays of strings)
 * - `/service/publish_policy` ("allow_all", "allow_list", "deny_all"), `/service/publishers`,
 *   `/service/doi_prefix`, `/service/accepted_doi_prefixes`
 * - durations `/service/leech_ticket_lifetime`, `/service/grant_token_lifetime`,
 *   `/service/seed_ticket_lifetime`, `/service/publication_expires`,
 *   `/service/min_subscription`, `/service/max_subscription`, `/service/retry_after`,
 *   `/service/retry_interval`, `/service/delivery_timeout`, `/http_timeout`
 * - `/service/default_rights` (rights JSON), `/service/mute_until_operator_seeded` (bool),
 *   `/service/operator_seed_boxes` (array of distinct IMPUs),
 * `/service/operator_seed_ticket_lifetime` (whole seconds, at least 1: an integer or a duration
 * string such as "30d"),
 *   `/service/max_body_size`, `/service/max_catalog_entries`, `/service/max_attempts`
 * - `/drm/url`, `/drm/license_url`, `/index/url`, `/trackers` (array of
 *   {"announce_url", "admin_url"})
 * - `/signing_key` (a 0600 Ed25519 JWK file, created on first use; default
 *   data_dir/as-signing.jwk), `/signing_kid` (default: the key's kid, else "as-1"), `/issuer`
 */
#pragma once

#include <imsp2p/sip/content_service.hpp>
#include <imsp2p/sip/export.hpp>
#include <imsp2p/sip/sip_server.hpp>

#include <imsp2p/core/config.hpp>
#include <imsp2p/core/log.hpp>

#include <atomic>
#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>

namespace imsp2p::sip {

/**
 * Reads sip_server_settings from a configuration (see the file comment for the keys).
 * @param config the configuration
 * @return the settings
 * @throws std::system_error (core config errors) naming a malformed setting
 */
IMSP2P_SIP_EXPORT sip_server_settings server_settings_from(const core::config& config);

/**
 * Reads the content service settings from a configuration (see the file comment for the keys);
 * loads the signing key (creating it on first use).
 * @param config the configuration
 * @return the settings
 * @throws std::system_error naming a malformed setting or an unusable key file
 */
IMSP2P_SIP_EXPORT service_settings service_settings_from(const core::config& config);

/**
 * Adapts a content_service to the request_handler interface of sip_server (the service is
 * thread-safe, so the adapter adds no locking). Its members run on the server's worker pool.
 */
class content_service_handler final : public request_handler {
  public:
    /** @param service the service (not owned; must outlive the adapter) */
    explicit content_service_handler(content_service& service) : service_(service) {}

    /**
     * Hands the request to content_service::handle().
     * @param request the request
     * @param now the current time
     * @return the service's response and requests
     */
    handled handle(const incoming_request& request,
                   std::chrono::system_clock::time_point now) override {
        service_result result = service_.handle(request, now);
        return handled{std::move(result.response), std::move(result.requests)};
    }

    /**
     * Reports to content_service::on_outcome().
     * @param correlation_id the request's correlation id
     * @param status its final status
     * @param reason its reason phrase (unused)
     */
    void on_outcome(const std::string& correlation_id, int status,
                    const std::string& reason) override {
        (void)reason;
        service_.on_outcome(correlation_id, status, std::chrono::system_clock::now());
    }

    /**
     * Calls content_service::poll().
     * @param now the current time
     * @return the requests to send
     */
    std::vector<outgoing_request> poll(std::chrono::system_clock::time_point now) override {
        return service_.poll(now);
    }

  private:
    content_service& service_;
};

/**
 * Runs a sip_server until SIGTERM, SIGINT or request_stop(). Not copyable or movable.
 *
 * run() blocks SIGTERM and SIGINT in the calling thread before any SIP thread starts (so every
 * thread it starts inherits the mask) and waits for them with sigtimedwait(); call it from the
 * main thread before other threads exist, so that the signals reach it.
 */
class IMSP2P_SIP_EXPORT as_runner {
  public:
    /**
     * @param settings the server settings
     * @param handler the service logic (not owned; must outlive run())
     * @param log where the runner and the server log
     */
    as_runner(sip_server_settings settings, request_handler& handler, core::logger log);
    /** Destroys the runner (the server has stopped when run() returned). */
    ~as_runner();
    as_runner(const as_runner&) = delete;
    as_runner& operator=(const as_runner&) = delete;

    /**
     * Starts the server, calls @p on_started (on this thread; may be empty) with the server,
     * waits for a stop signal or request_stop(), then stops the server gracefully.
     * @param on_started called once the server listens
     * @return 0 after a clean stop
     * @throws std::system_error if the server cannot start
     */
    int run(const std::function<void(sip_server&)>& on_started = {});

    /** Makes run() stop the server and return. Thread-safe and async-signal-safe. */
    void request_stop() noexcept;

  private:
    sip_server_settings settings_;
    request_handler& handler_;
    core::logger log_;
    std::atomic<bool> stop_requested_{false};
};

}  // namespace imsp2p::sip
