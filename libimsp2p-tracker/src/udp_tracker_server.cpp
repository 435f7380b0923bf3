#include <imsp2p/tracker/udp_tracker_server.hpp>

#include <imsp2p/tracker/error.hpp>
#include <imsp2p/tracker/udp_packet.hpp>

#include <imsp2p/core/bytes.hpp>
#include <imsp2p/core/crypto.hpp>
#include <imsp2p/core/siphash.hpp>

#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/udp.hpp>
#include <boost/asio/ip/v6_only.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/strand.hpp>

#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>

#include <algorithm>
#include <array>
#include <atomic>
#include <cerrno>
#include <cstring>
#include <list>
#include <memory>
#include <mutex>
#include <unordered_map>
#include <utility>
#include <vector>

namespace imsp2p::tracker {

namespace net = boost::asio;
using udp_endpoint = net::ip::udp::endpoint;

namespace {

/** Datagrams taken from the socket in one recvmmsg() call. */
constexpr unsigned batch_size = 32;
/** Batches drained before the handler yields to the io_context's other work. */
constexpr int batches_per_wakeup = 8;
/** Room for one datagram (the largest UDP payload). */
constexpr std::size_t datagram_room = 65536;

// The client address as 16 bytes (IPv4 as IPv4-mapped) and whether it is really IPv6.
std::pair<std::array<std::uint8_t, 16>, bool> address_key(const net::ip::address& address) {
    if (address.is_v4()) {
        return {net::ip::make_address_v6(net::ip::v4_mapped, address.to_v4()).to_bytes(), false};
    }
    const auto v6 = address.to_v6();
    return {v6.to_bytes(), !v6.is_v4_mapped()};
}

/** Address (16 bytes, IPv4 mapped) and port (2 bytes, big endian) of a client. */
using endpoint_bytes = std::array<std::uint8_t, 18>;

endpoint_bytes endpoint_key(const udp_endpoint& remote) {
    const auto [bytes, ipv6] = address_key(remote.address());
    endpoint_bytes key{};
    std::copy(bytes.begin(), bytes.end(), key.begin());
    key[16] = static_cast<std::uint8_t>(remote.port() >> 8U);
    key[17] = static_cast<std::uint8_t>(remote.port() & 0xffU);
    return key;
}

/** @return a fresh random 128-bit SipHash key */
core::siphash_key random_key() {
    std::array<std::uint8_t, 16> bytes{};
    core::random_bytes(bytes);
    return core::siphash_key::from_bytes(bytes);
}

/** Hash of endpoint keys for the admission map (keyed, so clients cannot aim collisions). */
struct endpoint_hash {
    const core::siphash_key* key;
    std::size_t operator()(const endpoint_bytes& endpoint) const noexcept {
        return static_cast<std::size_t>(core::siphash24(*key, endpoint));
    }
};

/** The receive and reply buffers of one batch; allocated once per server. */
struct datagram_batch {
    datagram_batch() : input(static_cast<std::size_t>(batch_size) * datagram_room) {}

    std::vector<std::uint8_t> input;
    std::array<mmsghdr, batch_size> received{};
    std::array<iovec, batch_size> received_vectors{};
    std::array<sockaddr_storage, batch_size> senders{};
    std::array<std::string, batch_size> replies;
    std::array<mmsghdr, batch_size> outgoing{};
    std::array<iovec, batch_size> outgoing_vectors{};
};

}  // namespace

struct udp_tracker_server::state : std::enable_shared_from_this<udp_tracker_server::state> {
    state(net::io_context& context, tracker_service& tracker, udp_server_settings config,
          core::logger logger)
        : io(context),
          service(tracker),
          settings(std::move(config)),
          log(std::move(logger)),
          socket(net::make_strand(context)),
          key(random_key()),
          admissions(16, endpoint_hash{&key}) {
        if (settings.connection_id_slot.count() <= 0) {
            settings.connection_id_slot = std::chrono::seconds(120);
        }
    }

    net::io_context& io;
    tracker_service& service;
    udp_server_settings settings;
    core::logger log;
    net::ip::udp::socket socket;
    const core::siphash_key key;  // the per-process connection id key (SipHash-2-4)
    std::unique_ptr<datagram_batch> batch = std::make_unique<datagram_batch>();
    std::atomic<std::uint16_t> bound_port{0};
    std::atomic<bool> started{false};
    std::atomic<bool> stopping{false};

    // Scrape admission: endpoint -> (ticket, admitted at), LRU-bounded. Strand only.
    struct admission {
        std::string ticket;
        std::chrono::system_clock::time_point at;
        std::list<endpoint_bytes>::iterator order;
    };
    std::unordered_map<endpoint_bytes, admission, endpoint_hash> admissions;
    std::list<endpoint_bytes> admission_order;  // most recent first

    // Scratch of handle(), strand only: reused so that an announce allocates nothing.
    udp::request parsed;
    announce_result outcome;
    peer_address announcer;
    std::string reason;

    std::atomic<std::uint64_t> received{0};
    std::atomic<std::uint64_t> connects{0};
    std::atomic<std::uint64_t> announces{0};
    std::atomic<std::uint64_t> scrapes{0};
    std::atomic<std::uint64_t> errors{0};
    std::atomic<std::uint64_t> bad_ids{0};
    std::atomic<std::uint64_t> dropped{0};

    std::chrono::system_clock::time_point now() const {
        return settings.clock ? settings.clock() : std::chrono::system_clock::now();
    }

    std::int64_t slot_of(std::chrono::system_clock::time_point when) const {
        const auto seconds =
            std::chrono::duration_cast<std::chrono::seconds>(when.time_since_epoch()).count();
        const auto length = settings.connection_id_slot.count();
        return seconds >= 0 ? seconds / length : (seconds - length + 1) / length;
    }

    std::uint64_t connection_id(const endpoint_bytes& from, std::int64_t slot) const {
        std::array<std::uint8_t, 26> message{};
        std::copy(from.begin(), from.end(), message.begin());
        const auto value = static_cast<std::uint64_t>(slot);
        for (std::size_t i = 0; i < 8; ++i) {
            message[18 + i] = static_cast<std::uint8_t>(value >> (56 - 8 * i));
        }
        const std::uint64_t id = core::siphash24(key, message);
        // Never hand out the protocol id itself.
        return id == udp::protocol_id ? id ^ 1U : id;
    }

    bool valid_id(const endpoint_bytes& from, std::uint64_t id,
                  std::chrono::system_clock::time_point when) const {
        // The current slot first; the previous one only when it fails. The time taken then
        // tells whether the id was of the current slot, the previous one or neither, which
        // is no secret: the client knows when it connected and the slot length is public
        // (BEP 15's two minutes), and the id is a MAC of the client's own address and the
        // slot under a key that never leaves the process, so timing reveals nothing of the
        // key or of other clients' ids. (Earlier both were always computed; one SipHash per
        // announce is saved.) The comparison itself is a whole-word XOR, no byte-wise early
        // exit that could help forge an id by parts.
        const std::int64_t slot = slot_of(when);
        if ((connection_id(from, slot) ^ id) == 0) {
            return true;
        }
        return (connection_id(from, slot - 1) ^ id) == 0;
    }

    void remember(const endpoint_bytes& endpoint, const std::string& ticket,
                  std::chrono::system_clock::time_point when) {
        if (settings.scrape_admissions == 0) {
            return;
        }
        if (const auto found = admissions.find(endpoint); found != admissions.end()) {
            // The common case (a client announcing again with the same ticket): no allocation
            // and no full comparison. Both tickets verified, so equal sizes and equal last 16
            // characters (the end of the AS's signature) mean the same ticket; else the ticket
            // is replaced (its storage reused).
            constexpr std::size_t tail = 16;
            const std::string& held = found->second.ticket;
            if (held.size() != ticket.size() || ticket.size() < tail ||
                std::memcmp(held.data() + held.size() - tail, ticket.data() + ticket.size() - tail,
                            tail) != 0) {
                found->second.ticket.assign(ticket);
            }
            found->second.at = when;
            admission_order.splice(admission_order.begin(), admission_order, found->second.order);
            return;
        }
        admission_order.push_front(endpoint);
        admissions.emplace(endpoint, admission{ticket, when, admission_order.begin()});
        while (admissions.size() > settings.scrape_admissions) {
            admissions.erase(admission_order.back());
            admission_order.pop_back();
        }
    }

    void wait();
    void drain();
    void send_replies(unsigned count);
    bool handle(core::byte_view packet, const udp_endpoint& remote,
                std::chrono::system_clock::time_point when, std::string& reply);
    void error_reply(std::uint32_t transaction_id, std::string_view message, std::string& reply);
};

// One wait for readability, then batches of recvmmsg() until the socket is empty (or the
// batch budget is spent, so other handlers of a shared io_context get their turn).
void udp_tracker_server::state::wait() {
    socket.async_wait(net::socket_base::wait_read,
                      [self = shared_from_this()](const boost::system::error_code& ec) {
                          if (self->stopping || ec == net::error::operation_aborted) {
                              return;
                          }
                          if (ec) {
                              self->log.debug("udp wait failed", {{"error", ec.message()}});
                          } else {
                              self->drain();
                          }
                          if (!self->stopping) {
                              self->wait();
                          }
                      });
}

void udp_tracker_server::state::drain() {
    datagram_batch& io_batch = *batch;
    const int fd = socket.native_handle();
    for (int round = 0; round < batches_per_wakeup; ++round) {
        for (unsigned i = 0; i < batch_size; ++i) {
            io_batch.received_vectors[i] = {io_batch.input.data() + i * datagram_room,
                                            datagram_room};
            msghdr& header = io_batch.received[i].msg_hdr;
            header = msghdr{};
            header.msg_name = &io_batch.senders[i];
            header.msg_namelen = sizeof(sockaddr_storage);
            header.msg_iov = &io_batch.received_vectors[i];
            header.msg_iovlen = 1;
            io_batch.received[i].msg_len = 0;
        }
        const int got = ::recvmmsg(fd, io_batch.received.data(), batch_size, MSG_DONTWAIT, nullptr);
        if (got <= 0) {
            if (got < 0 && errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR) {
                log.debug("udp receive failed", {{"error", std::strerror(errno)}});
            }
            return;
        }
        unsigned replies = 0;
        // One clock reading per batch: the datagrams of a batch arrived together.
        const auto when = now();
        for (unsigned i = 0; i < static_cast<unsigned>(got); ++i) {
            const mmsghdr& message = io_batch.received[i];
            udp_endpoint remote;
            const auto name_size = static_cast<std::size_t>(message.msg_hdr.msg_namelen);
            if (name_size > remote.capacity()) {
                continue;
            }
            std::memcpy(remote.data(), &io_batch.senders[i], name_size);
            remote.resize(name_size);
            std::string& reply = io_batch.replies[replies];
            reply.clear();
            bool answer = false;
            try {
                answer = handle(
                    core::byte_view(io_batch.input.data() + i * datagram_room, message.msg_len),
                    remote, when, reply);
            } catch (const std::exception& error) {
                log.error("udp request failed", {{"error", error.what()}});
            }
            if (!answer) {
                continue;
            }
            io_batch.outgoing_vectors[replies] = {reply.data(), reply.size()};
            msghdr& header = io_batch.outgoing[replies].msg_hdr;
            header = msghdr{};
            header.msg_name = &io_batch.senders[i];
            header.msg_namelen = message.msg_hdr.msg_namelen;
            header.msg_iov = &io_batch.outgoing_vectors[replies];
            header.msg_iovlen = 1;
            ++replies;
        }
        send_replies(replies);
        if (static_cast<unsigned>(got) < batch_size) {
            return;
        }
    }
}

void udp_tracker_server::state::send_replies(unsigned count) {
    datagram_batch& io_batch = *batch;
    const int fd = socket.native_handle();
    unsigned done = 0;
    while (done < count) {
        const int sent = ::sendmmsg(fd, io_batch.outgoing.data() + done, count - done, 0);
        if (sent > 0) {
            done += static_cast<unsigned>(sent);
            continue;
        }
        if (sent < 0 && errno == EINTR) {
            continue;
        }
        if (sent < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
            pollfd ready{fd, POLLOUT, 0};
            if (::poll(&ready, 1, 100) > 0) {
                continue;
            }
        }
        // A reply that cannot be sent (unreachable or vanished client) is dropped, as
        // UDP would; the next one is tried.
        ++done;
    }
}

void udp_tracker_server::state::error_reply(std::uint32_t transaction_id, std::string_view message,
                                            std::string& reply) {
    errors.fetch_add(1, std::memory_order_relaxed);
    reply = udp::encode_error(transaction_id, message);
}

bool udp_tracker_server::state::handle(core::byte_view packet, const udp_endpoint& remote,
                                       std::chrono::system_clock::time_point when,
                                       std::string& reply) {
    received.fetch_add(1, std::memory_order_relaxed);
    if (!udp::answerable(packet)) {
        dropped.fetch_add(1, std::memory_order_relaxed);
        return false;
    }
    std::error_code ec;
    reason.clear();
    udp::parse_request(packet, parsed, ec, &reason, service.settings().limits);
    const udp::request& request = parsed;
    const endpoint_bytes client = endpoint_key(remote);
    if (request.kind == udp::action::connect && !ec) {
        connects.fetch_add(1, std::memory_order_relaxed);
        reply = udp::encode_connect(request.transaction_id, connection_id(client, slot_of(when)));
        return true;
    }
    if (request.kind != udp::action::connect && request.kind != udp::action::error &&
        !valid_id(client, request.connection_id, when)) {
        bad_ids.fetch_add(1, std::memory_order_relaxed);
        error_reply(request.transaction_id, "connection id is invalid or expired: connect again",
                    reply);
        return true;
    }
    if (ec) {
        error_reply(request.transaction_id, "malformed request: " + reason, reply);
        return true;
    }
    const bool ipv6 = remote.address().is_v6() && !remote.address().to_v6().is_v4_mapped();
    if (request.kind == udp::action::announce) {
        announces.fetch_add(1, std::memory_order_relaxed);
        if (ipv6) {
            announcer.ip.assign(client.begin(), client.begin() + 16);
        } else {
            announcer.ip.assign(client.begin() + 12, client.begin() + 16);
        }
        // The tracker decides (and counts) every refusal, a missing ticket included.
        announce_result& result = outcome;
        // The compact form: the peers come as the answer's bytes, copied once into it.
        service.announce(request.announce, announcer, when, result, peer_list_form::compact);
        if (result.error == errc::missing_ticket) {
            result.failure_reason =
                "ticket required: announce to udp://<tracker>/announce/<ticket> (BEP 41 URL "
                "data)";
        }
        if (result.error == errc::ticket_rejected && request.url_data.size() == 255) {
            // libtorrent (2.0) sends one URL data option and cuts the URL at 255 bytes.
            result.failure_reason +=
                " (the URL data is exactly 255 bytes: the client probably truncated the ticket)";
        }
        if (result.error) {
            errors.fetch_add(1, std::memory_order_relaxed);
            log.info("announce refused", {{"reason", result.failure_reason},
                                          {"peer", remote.address().to_string()},
                                          {"transport", "udp"}});
        } else {
            remember(client, request.announce.ticket, when);
        }
        udp::encode_announce(request.transaction_id, result, ipv6, reply);
        return true;
    }
    // Scrape: admitted by the ticket of this endpoint's last admitted announce.
    const auto found = admissions.find(client);
    if (found == admissions.end() || slot_of(found->second.at) < slot_of(when) - 1) {
        error_reply(request.transaction_id,
                    "ticket required: announce with a ticket before scraping", reply);
        return true;
    }
    scrape_request scrape;
    scrape.ticket = found->second.ticket;
    scrape.info_hashes = request.info_hashes;
    const auto stats = service.scrape(scrape, when, reason);
    if (!reason.empty()) {
        error_reply(request.transaction_id, reason, reply);
        return true;
    }
    scrapes.fetch_add(1, std::memory_order_relaxed);
    reply = udp::encode_scrape(request.transaction_id, request.info_hashes, stats);
    return true;
}

udp_tracker_server::udp_tracker_server(tracker_service& service, udp_server_settings settings,
                                       core::logger log)
    : owned_io_(std::make_unique<net::io_context>()),
      impl_(std::make_shared<state>(*owned_io_, service, std::move(settings), std::move(log))) {}

udp_tracker_server::udp_tracker_server(net::io_context& io, tracker_service& service,
                                       udp_server_settings settings, core::logger log)
    : impl_(std::make_shared<state>(io, service, std::move(settings), std::move(log))) {}

udp_tracker_server::~udp_tracker_server() {
    stop();
    if (owned_io_) {
        owned_io_->restart();
        owned_io_->run();
    }
}

void udp_tracker_server::start(std::error_code& ec) {
    ec.clear();
    if (impl_->started.exchange(true)) {
        return;
    }
    boost::system::error_code error;
    const auto address = net::ip::make_address(impl_->settings.bind_address, error);
    if (!error) {
        const udp_endpoint endpoint(address, impl_->settings.port);
        impl_->socket.open(endpoint.protocol(), error);
        if (!error && address.is_v6()) {
            impl_->socket.set_option(net::ip::v6_only(false), error);
        }
        if (!error) {
            impl_->socket.bind(endpoint, error);
        }
    }
    if (error) {
        boost::system::error_code ignored;
        impl_->socket.close(ignored);
        impl_->started = false;
        ec = error;
        return;
    }
    impl_->bound_port = impl_->socket.local_endpoint().port();
    impl_->log.info("udp tracker listening", {{"address", impl_->settings.bind_address},
                                              {"port", impl_->bound_port.load()}});
    net::post(impl_->socket.get_executor(), [impl = impl_] {
        if (!impl->stopping) {
            impl->wait();
        }
    });
}

void udp_tracker_server::start() {
    std::error_code ec;
    start(ec);
    if (ec) {
        throw std::system_error(ec, "cannot bind UDP " + impl_->settings.bind_address + ":" +
                                        std::to_string(impl_->settings.port));
    }
}

std::uint16_t udp_tracker_server::port() const noexcept {
    return impl_->bound_port.load();
}

void udp_tracker_server::run() {
    start();
    impl_->io.run();
}

void udp_tracker_server::stop() {
    if (impl_->stopping.exchange(true)) {
        return;
    }
    net::post(impl_->socket.get_executor(), [impl = impl_] {
        boost::system::error_code ignored;
        impl->socket.close(ignored);
    });
}

net::io_context& udp_tracker_server::context() noexcept {
    return impl_->io;
}

udp_server_counters udp_tracker_server::counters() const noexcept {
    udp_server_counters out;
    out.received = impl_->received.load();
    out.connects = impl_->connects.load();
    out.announces = impl_->announces.load();
    out.scrapes = impl_->scrapes.load();
    out.errors = impl_->errors.load();
    out.bad_connection_ids = impl_->bad_ids.load();
    out.dropped = impl_->dropped.load();
    return out;
}

}  // namespace imsp2p::tracker
