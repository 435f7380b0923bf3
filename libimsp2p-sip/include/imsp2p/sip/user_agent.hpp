/**
 * @file
 * The IMS client user agent of imsp2p-client: registers with digest authentication (and keeps
 * the registration fresh), sends MESSAGE/PUBLISH/SUBSCRIBE, and receives MESSAGE and NOTIFY
 * (answered 200 at once) into a queue the host drains. Built on the Sofia-SIP transaction layer
 * (nta), over UDP and TCP, optionally through an outbound proxy (the P-CSCF).
 *
 * Threads: the SIP stack runs on a thread of its own (the "stack thread"). Every public member
 * function is thread-safe and may be called from any thread except the stack thread; the
 * blocking ones wait for the stack thread. credentials_provider::answer() runs on the stack
 * thread.
 */
#pragma once

#include <imsp2p/sip/export.hpp>
#include <imsp2p/sip/message.hpp>

#include <imsp2p/core/bytes.hpp>
#include <imsp2p/core/log.hpp>

#include <chrono>
#include <cstdint>
#include <functional>
#include <future>
#include <memory>
#include <optional>
#include <string>
#include <vector>

namespace imsp2p::sip {

/** A digest challenge as the user agent received it (401 WWW-Authenticate / 407). */
struct auth_challenge {
    std::string header_value;  ///< The whole header value, "Digest realm=..., nonce=...".
    std::string realm;         ///< The realm.
    std::string nonce;         ///< The nonce (for AKA: base64 of RAND || AUTN ...).
    std::string algorithm;     ///< The algorithm token as sent ("" means MD5).
    std::string method;        ///< The method of the challenged request.
    std::string request_uri;   ///< The Request-URI of the challenged request.
};

/** What a credentials_provider answers to a challenge. */
struct auth_credentials {
    std::string username;      ///< The digest user name (in IMS the IMPI).
    core::byte_vector secret;  ///< The digest password bytes (for AKAv1-MD5 the raw RES).
    /** AKA resynchronisation: AUTS (14 bytes) to send in the auts parameter; empty: none. */
    core::byte_vector auts;
};

/**
 * Supplies digest credentials for a challenge: the hook where AKA plugs in (an implementation
 * that runs the USIM on the nonce). Called on the user agent's stack thread; must not block.
 */
class IMSP2P_SIP_EXPORT credentials_provider {
  public:
    /** Destroys the provider. */
    virtual ~credentials_provider();
    /**
     * Answers a challenge.
     * @param challenge the challenge
     * @return credentials, or std::nullopt to give up (the request then fails with the
     *         challenge's status)
     */
    virtual std::optional<auth_credentials> answer(const auth_challenge& challenge) = 0;
};

/** A credentials_provider for plain Digest MD5 with a user name and a password. */
class IMSP2P_SIP_EXPORT password_credentials final : public credentials_provider {
  public:
    /**
     * @param username the digest user name (the IMPI)
     * @param password the password
     * @param realm the realm to answer; empty answers any realm
     */
    password_credentials(std::string username, std::string password, std::string realm = {});
    /**
     * Answers challenges for MD5 (or no algorithm) in the configured realm.
     * @param challenge the challenge
     * @return the user name and password, or std::nullopt for another algorithm or realm
     */
    std::optional<auth_credentials> answer(const auth_challenge& challenge) override;

  private:
    std::string username_;
    std::string password_;
    std::string realm_;
};

/** The answer a host gives to an incoming MESSAGE or NOTIFY (see user_agent_settings::accept). */
struct incoming_verdict {
    int status = 200;                   ///< Final status (200..699).
    std::string reason = "OK";          ///< Reason phrase.
    std::vector<header_field> headers;  ///< Extra headers of the answer (e.g. Accept with a 415).
};

/** Settings of a user_agent. A plain value type. */
struct user_agent_settings {
    /** The public identity (IMPU) registered and used as From, e.g. "sip:alice@ims.example". */
    std::string aor;
    /** Where the stack listens; a URI without `transport` listens on UDP and TCP; `*` port:
     *  ephemeral. */
    std::string listen = "sip:127.0.0.1:*";
    /** The registrar URI; empty: "sip:" + the domain of the AOR. */
    std::string registrar;
    /**
     * Outbound proxy every request is sent through (the P-CSCF), e.g.
     * "sip:127.0.0.1:5060;transport=tcp"; empty: requests go where their Request-URI points.
     */
    std::string outbound_proxy;
    /** The registration lifetime asked for. */
    std::chrono::seconds register_expires{600};
    /** Re-register when this fraction of the granted lifetime has passed (0.1 .. 0.9). */
    double refresh_fraction = 0.5;
    /** Credentials for 401/407 challenges; null: challenges are not answered. */
    std::shared_ptr<credentials_provider> credentials;
    /** The User-Agent header value. */
    std::string user_agent = "imsp2p-client";
    /** Incoming requests kept in the queue at most (older ones are dropped first). */
    std::size_t max_queue = 1000;
    /**
     * Decides the answer to each incoming MESSAGE and NOTIFY before it is queued: a host can
     * refuse a bad body (400) or an unknown type (415), or store what it must not lose before
     * the sender sees a 2xx. Requests answered with a non-2xx status are not queued; an
     * exception is answered 500. Called on the SIP stack's thread, one request at a time: it
     * must return soon and must not call into this user_agent. Null: every request is answered
     * 200 and queued.
     */
    std::function<incoming_verdict(const incoming_request& request)> accept;
};

/** The final result of a request the user agent sent. A plain value type. */
struct transaction_result {
    int status = 0;                     ///< Final status (408 on timeout, 503 if unreachable).
    std::string reason;                 ///< Reason phrase.
    std::vector<header_field> headers;  ///< The response's headers (empty if generated locally).
    std::string body;                   ///< The response body.
};

/**
 * The IMS client user agent. Not copyable or movable (pimpl).
 *
 * Incoming MESSAGE, NOTIFY and OPTIONS are answered on the stack thread (200, or what
 * user_agent_settings::accept decides for MESSAGE and NOTIFY) and, when accepted, MESSAGE and
 * NOTIFY are queued for the host; other methods get 405.
 */
class IMSP2P_SIP_EXPORT user_agent {
  public:
    /**
     * Starts the stack thread and binds the listen URI.
     * @param settings the settings (aor is required)
     * @param log where the user agent logs
     * @throws std::system_error (errc::stack_failure) if it cannot listen
     * @throws std::invalid_argument if the AOR is not a sip: URI
     */
    user_agent(user_agent_settings settings, core::logger log);
    /** Stops the stack (without unregistering; call unregister() first to be polite). */
    ~user_agent();
    user_agent(const user_agent&) = delete;
    user_agent& operator=(const user_agent&) = delete;

    /**
     * Registers (answering digest challenges) and keeps the registration fresh on the stack
     * thread until unregister() or destruction.
     * @param timeout how long to wait
     * @return the final result (status 0 if the timeout passed first)
     */
    transaction_result register_now(std::chrono::milliseconds timeout = std::chrono::seconds(40));
    /**
     * Removes the registration (Expires: 0) and stops refreshing it.
     * @param timeout how long to wait
     * @return the final result (status 0 if the timeout passed first)
     */
    transaction_result unregister(std::chrono::milliseconds timeout = std::chrono::seconds(40));
    /** @return true while the last REGISTER (or refresh) succeeded and was not undone. */
    [[nodiscard]] bool registered() const;
    /** @return how many REGISTER transactions completed with 2xx (refreshes included). */
    [[nodiscard]] std::size_t registrations() const;

    /**
     * Sends a request (MESSAGE, PUBLISH, SUBSCRIBE, ...) out of dialog, answering digest
     * challenges. Empty from_uri means the AOR; empty to_uri means the Request-URI; the route
     * set is used as given (else the outbound proxy). correlation_id is ignored.
     * @param request the request
     * @return a future for the final result
     */
    std::future<transaction_result> send_async(outgoing_request request);
    /**
     * Sends a request and waits for its final result.
     * @param request the request (see send_async())
     * @param timeout how long to wait
     * @return the final result (status 0 if the timeout passed first)
     */
    transaction_result send(outgoing_request request,
                            std::chrono::milliseconds timeout = std::chrono::seconds(40));

    /**
     * Takes the oldest queued incoming request (MESSAGE or NOTIFY), waiting for one.
     * @param timeout how long to wait
     * @return the request, or std::nullopt on timeout
     */
    std::optional<incoming_request> next_request(std::chrono::milliseconds timeout);
    /**
     * Waits for a MESSAGE whose JSON body has "request_id" equal to @p request_id and takes it
     * from the queue (other requests stay queued, in order).
     * @param request_id the id (e.g. of the ticket request)
     * @param timeout how long to wait
     * @return the MESSAGE, or std::nullopt on timeout
     */
    std::optional<incoming_request> wait_for_message(const std::string& request_id,
                                                     std::chrono::milliseconds timeout);

    /** @return the Contact URI the user agent registers (its bound address). */
    [[nodiscard]] std::string contact() const;
    /**
     * @param kind udp or tcp
     * @return the bound port for that transport, 0 if none
     */
    [[nodiscard]] std::uint16_t port(transport kind) const;

  private:
    class impl;
    std::unique_ptr<impl> impl_;
};

}  // namespace imsp2p::sip
