/**
 * @file
 * The SIP server binding of the Application Server: a Sofia-SIP transaction layer (nta) on UDP
 * and TCP that hands every incoming request to a request_handler on a worker pool, sends the
 * handler's response, sends the requests the handler asks for (through the route set) and
 * reports their outcome back to the handler.
 *
 * Threads:
 * - The SIP stack runs on one thread of its own (the "stack thread"), which owns every Sofia
 *   object; nothing else touches them.
 * - The handler runs on a worker pool (boost::asio::thread_pool of
 *   sip_server_settings::worker_threads threads): request_handler::handle(), on_outcome() and
 *   poll() may be called concurrently from several pool threads, so the handler must be
 *   thread-safe. The stack thread never waits for the handler.
 */
#pragma once

#include <imsp2p/sip/export.hpp>
#include <imsp2p/sip/message.hpp>

#include <imsp2p/core/log.hpp>

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

namespace imsp2p::sip {

/** What a request_handler returns for one incoming request. A plain value type. */
struct handled {
    /** The final response (status 200..699) sent back on the request's transaction. */
    outgoing_response response;
    /** Requests to send once the response is out (e.g. the ticket MESSAGE), in order. */
    std::vector<outgoing_request> requests;
};

/**
 * The service logic behind a sip_server (the AS's content service, a test double, ...).
 *
 * Every member is called on a worker-pool thread, possibly concurrently with other calls:
 * implementations must be thread-safe. Exceptions thrown by handle() become a 500 response;
 * exceptions from on_outcome() and poll() are logged and dropped.
 */
class IMSP2P_SIP_EXPORT request_handler {
  public:
    /** Destroys the handler. */
    virtual ~request_handler();

    /**
     * Handles one incoming request (MESSAGE, PUBLISH, SUBSCRIBE, NOTIFY, OPTIONS).
     * @param request the request, fully copied (the handler may keep it)
     * @param now the current time
     * @return the response and the requests to send afterwards
     */
    virtual handled handle(const incoming_request& request,
                           std::chrono::system_clock::time_point now) = 0;

    /**
     * Reports the final outcome of a request the handler asked for.
     * @param correlation_id the outgoing_request::correlation_id it carried
     * @param status the final status: the peer's (200..699), or a status the stack generated
     *        (408 on timeout, 503 when no transport could reach the next hop)
     * @param reason the reason phrase
     */
    virtual void on_outcome(const std::string& correlation_id, int status,
                            const std::string& reason);

    /**
     * Called every sip_server_settings::poll_interval for periodic work (retries, expiring
     * subscriptions). The default does nothing.
     * @param now the current time
     * @return requests to send (e.g. NOTIFYs terminating expired subscriptions)
     */
    virtual std::vector<outgoing_request> poll(std::chrono::system_clock::time_point now);
};

/** Settings of a sip_server. A plain value type. */
struct sip_server_settings {
    /**
     * Where to listen, as SIP URIs. A URI without a `transport` parameter listens on UDP and
     * TCP; `;transport=udp` or `;transport=tcp` listens on one. Port 0 (or `*`) picks an
     * ephemeral port (see sip_server::port()); several URIs add transports.
     */
    std::vector<std::string> listen{"sip:127.0.0.1:5070"};
    /** Worker-pool threads running the handler (at least 1). */
    std::size_t worker_threads = 2;
    /** How often request_handler::poll() runs. */
    std::chrono::milliseconds poll_interval{1000};
    /**
     * Outbound proxy for requests without a route set (e.g. "sip:scscf.example;lr"); empty:
     * requests go where their Request-URI points.
     */
    std::string outbound_proxy;
    /** Requests handed to the handler at once; more get 503 with Retry-After. */
    std::size_t max_in_flight = 1024;
    /** How long stop() waits for in-flight requests and outgoing transactions. */
    std::chrono::milliseconds stop_timeout{5000};
    /** The Server and User-Agent header value. */
    std::string server_name = "imsp2p-as";
};

/**
 * A SIP server driving a request_handler. Not copyable or movable (pimpl).
 *
 * Incoming requests are MESSAGE, PUBLISH, SUBSCRIBE, NOTIFY and OPTIONS (others get 405 with
 * Allow). Requests Sofia cannot parse are dropped; requests lacking a mandatory header get 400.
 * Incoming requests are never dialog-matched: the handler sees each one on its own.
 *
 * Lifetime: the handler must outlive the server (or its stop()).
 */
class IMSP2P_SIP_EXPORT sip_server {
  public:
    /**
     * Creates the server (nothing listens yet).
     * @param handler the service logic (not owned)
     * @param settings the settings
     * @param log where the server logs
     */
    sip_server(request_handler& handler, sip_server_settings settings, core::logger log);
    /** Stops the server (see stop()). */
    ~sip_server();
    sip_server(const sip_server&) = delete;
    sip_server& operator=(const sip_server&) = delete;

    /**
     * Starts the stack thread, binds every listen URI and starts the worker pool and the poll
     * timer. Call once.
     * @throws std::system_error (errc::stack_failure) if a URI cannot be bound
     */
    void start();

    /**
     * Stops gracefully: new requests get 503, in-flight requests finish and their responses
     * and requests are sent, outgoing transactions get up to stop_timeout to complete
     * (outcomes of those still pending then are not reported), then the stack is destroyed on
     * its thread and the threads are joined. Idempotent; call from any thread except the
     * handler's.
     */
    void stop();

    /**
     * Sends a request as if a handler had returned it; its outcome goes to
     * request_handler::on_outcome(). Thread-safe.
     * @param request the request
     */
    void send(outgoing_request request);

    /**
     * @param kind udp or tcp
     * @return the port bound for that transport after start(), 0 if none
     */
    [[nodiscard]] std::uint16_t port(transport kind) const;

    /** @return the contact URI the stack advertises (e.g. "sip:127.0.0.1:5070"). */
    [[nodiscard]] std::string contact() const;

  private:
    class impl;
    std::unique_ptr<impl> impl_;
};

}  // namespace imsp2p::sip
