/**
 * @file
 * The UDP front end of the tracker (BEP 15 with BEP 41 URL data), serving the same
 * tracker_service (swarms, tickets, operator states, counters) as the HTTP tracker_server.
 *
 * Announce URL: `udp://<host>:<port>/announce/<ticket>`; the client sends the path in BEP 41
 * URL data options (several chunks of up to 255 bytes are concatenated). An announce without
 * URL data, or with "/announce" alone, is answered with the error "ticket required". Every
 * refusal is an error response (action 3) carrying the tracker's precise failure reason.
 * Note: libtorrent 2.0 sends a single URL data option and cuts the URL at 255 bytes, so an AS
 * ticket (a JWT of 400+ characters) does not reach the tracker whole from libtorrent; a refused
 * ticket that arrived in exactly 255 bytes of URL data gets a reason saying so.
 *
 * Connection ids cannot be forged or replayed from elsewhere: a connection id is
 * SipHash-2-4(key, client address (16 bytes, IPv4 as IPv4-mapped) || client port (2 bytes) ||
 * time slot (8 bytes, big endian)), a keyed 64-bit PRF, the slot being
 * floor(now / connection_id_slot), with a random 128-bit key created when the server is
 * constructed (so ids do not survive a restart).
 * An id is accepted during the slot it was issued in and the next one, i.e. between one and two
 * slots (2 to 4 minutes by default; BEP 15 asks clients to reuse an id for at most one minute).
 * Datagrams with a wrong or expired id get the error "connection id is invalid or expired".
 *
 * Scrape: BEP 15 scrapes have no room for a ticket. A scrape is answered for the hashes that
 * the ticket of the client's last admitted announce (same address and port, within the
 * connection id lifetime) covers; other hashes get zeros. Without such an announce the answer
 * is the error "ticket required: announce with a ticket before scraping".
 *
 * Datagrams shorter than 16 bytes are dropped (no transaction id to answer); other malformed
 * datagrams get an error response with the parser's reason. Nothing malformed changes state.
 *
 * Threads: all work happens in handlers of one io_context (its own or the host's), on one
 * strand; the host may run the io_context on several threads. When the socket is readable, a
 * handler takes up to 32 datagrams per recvmmsg() call and sends their answers with one
 * sendmmsg(), for at most 8 such batches before it yields to the io_context's other handlers.
 */
#pragma once

#include <imsp2p/tracker/export.hpp>
#include <imsp2p/tracker/tracker_service.hpp>

#include <imsp2p/core/log.hpp>

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <system_error>

namespace boost::asio {
class io_context;
}  // namespace boost::asio

namespace imsp2p::tracker {

/** Settings of the UDP server. A value type. */
struct udp_server_settings {
    /** The address to bind (IPv4 or IPv6 literal; "::" also receives IPv4 as mapped). */
    std::string bind_address = "127.0.0.1";
    /** The UDP port; 0 picks an ephemeral port (see udp_tracker_server::port()). */
    std::uint16_t port = 6969;
    /** Length of a connection id time slot; ids are valid for this slot and the next. */
    std::chrono::seconds connection_id_slot{120};
    /** Most endpoints remembered for scrape admission (oldest forgotten first). */
    std::size_t scrape_admissions = 65536;
    /**
     * The clock for connection ids and tracker decisions; empty: std::chrono::system_clock.
     * Called on the io_context's threads. For tests.
     */
    std::function<std::chrono::system_clock::time_point()> clock;
};

/** Counters of the UDP server (since start). */
struct udp_server_counters {
    /** Datagrams received. */
    std::uint64_t received = 0;
    /** Connect requests answered with a connection id. */
    std::uint64_t connects = 0;
    /** Announces answered (admitted or refused by the tracker). */
    std::uint64_t announces = 0;
    /** Scrapes answered with counts. */
    std::uint64_t scrapes = 0;
    /** Error responses sent (malformed, bad connection id, refusals). */
    std::uint64_t errors = 0;
    /** Datagrams with a bad or expired connection id. */
    std::uint64_t bad_connection_ids = 0;
    /** Datagrams dropped without an answer (shorter than 16 bytes). */
    std::uint64_t dropped = 0;
};

/**
 * The tracker UDP server. Not copyable or movable (pimpl).
 *
 * Lifetime: the tracker_service must outlive the server. With a host-owned io_context, the host
 * keeps running it until the server's handlers have finished after stop(), and the io_context
 * outlives the server.
 */
class IMSP2P_TRACKER_EXPORT udp_tracker_server {
  public:
    /**
     * Creates a server with its own io_context, driven by run().
     * @param service the tracker state (not owned)
     * @param settings the UDP settings
     * @param log where the server logs (component "tracker.udp" is typical)
     */
    udp_tracker_server(tracker_service& service, udp_server_settings settings, core::logger log);
    /**
     * Creates a server on a host-owned io_context.
     * @param io the io_context (not owned)
     * @param service the tracker state (not owned)
     * @param settings the UDP settings
     * @param log where the server logs
     */
    udp_tracker_server(boost::asio::io_context& io, tracker_service& service,
                       udp_server_settings settings, core::logger log);
    /** Stops the server; with its own io_context, also drains its pending handlers. */
    ~udp_tracker_server();
    udp_tracker_server(const udp_tracker_server&) = delete;
    udp_tracker_server& operator=(const udp_tracker_server&) = delete;

    /**
     * Binds and starts receiving. Idempotent.
     * @param ec the bind error, cleared on success
     */
    void start(std::error_code& ec);
    /** Throwing form of start(). @throws std::system_error naming the address */
    void start();

    /** @return the bound port after start(), 0 before. */
    [[nodiscard]] std::uint16_t port() const noexcept;

    /** Starts if needed, then runs the io_context on the calling thread until stopped. */
    void run();

    /** Closes the socket. Thread-safe, idempotent; returns at once. */
    void stop();

    /** @return the io_context the server runs on. */
    [[nodiscard]] boost::asio::io_context& context() noexcept;

    /** @return a snapshot of the counters. Thread-safe. */
    [[nodiscard]] udp_server_counters counters() const noexcept;

  private:
    struct state;
    std::unique_ptr<boost::asio::io_context> owned_io_;
    std::shared_ptr<state> impl_;
};

}  // namespace imsp2p::tracker
