#include <imsp2p/tracker/udp_tracker_server.hpp>

#include <imsp2p/tracker/error.hpp>
#include <imsp2p/tracker/udp_packet.hpp>

#include <imsp2p/core/bytes.hpp>
#include <imsp2p/core/crypto.hpp>

#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/udp.hpp>
#include <boost/asio/ip/v6_only.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/strand.hpp>

#include <algorithm>
#include <array>
#include <atomic>
#include <list>
#include <mutex>
#include <unordered_map>
#include <utility>

namespace imsp2p::tracker {

namespace net = boost::asio;
using udp_endpoint = net::ip::udp::endpoint;

namespace {

// The client address as 16 bytes (IPv4 as IPv4-mapped) and whether it is really IPv6.
std::pair<std::array<std::uint8_t, 16>, bool> address_key(const net::ip::address& address) {
    if (address.is_v4()) {
        return {net::ip::make_address_v6(net::ip::v4_mapped, address.to_v4()).to_bytes(), false};
    }
    const auto v6 = address.to_v6();
    return {v6.to_bytes(), !v6.is_v4_mapped()};
}

std::string endpoint_key(const udp_endpoint& remote) {
    const auto [bytes, ipv6] = address_key(remote.address());
    std::string key(bytes.begin(), bytes.end());
    key += static_cast<char>(remote.port() >> 8U);
    key += static_cast<char>(remote.port() & 0xffU);
    return key;
}

}  // namespace

struct udp_tracker_server::state : std::enable_shared_from_this<udp_tracker_server::state> {
    state(net::io_context& context, tracker_service& tracker, udp_server_settings config,
          core::logger logger)
        : io(context),
          service(tracker),
          settings(std::move(config)),
          log(std::move(logger)),
          socket(net::make_strand(context)),
          key(core::random_bytes(32)) {
        if (settings.connection_id_slot.count() <= 0) {
            settings.connection_id_slot = std::chrono::seconds(120);
        }
    }

    net::io_context& io;
    tracker_service& service;
    udp_server_settings settings;
    core::logger log;
    net::ip::udp::socket socket;
    const core::byte_vector key;
    std::array<std::uint8_t, 65536> buffer{};
    udp_endpoint remote;
    std::atomic<std::uint16_t> bound_port{0};
    std::atomic<bool> started{false};
    std::atomic<bool> stopping{false};

    // Scrape admission: endpoint -> (ticket, admitted at), LRU-bounded. Strand only.
    struct admission {
        std::string ticket;
        std::chrono::system_clock::time_point at;
        std::list<std::string>::iterator order;
    };
    std::unordered_map<std::string, admission> admissions;
    std::list<std::string> admission_order;  // most recent first

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

    std::uint64_t connection_id(const udp_endpoint& from, std::int64_t slot) const {
        const auto [bytes, ipv6] = address_key(from.address());
        std::array<std::uint8_t, 26> message{};
        std::copy(bytes.begin(), bytes.end(), message.begin());
        message[16] = static_cast<std::uint8_t>(from.port() >> 8U);
        message[17] = static_cast<std::uint8_t>(from.port() & 0xffU);
        const auto value = static_cast<std::uint64_t>(slot);
        for (std::size_t i = 0; i < 8; ++i) {
            message[18 + i] = static_cast<std::uint8_t>(value >> (56 - 8 * i));
        }
        const core::sha256_digest mac = core::hmac_sha256(key, message);
        std::uint64_t id = 0;
        for (std::size_t i = 0; i < 8; ++i) {
            id = (id << 8U) | mac[i];
        }
        // Never hand out the protocol id itself.
        return id == udp::protocol_id ? id ^ 1U : id;
    }

    bool valid_id(const udp_endpoint& from, std::uint64_t id,
                  std::chrono::system_clock::time_point when) const {
        const std::int64_t slot = slot_of(when);
        bool ok = false;
        for (const std::int64_t candidate : {slot, slot - 1}) {
            const std::uint64_t expected = connection_id(from, candidate);
            std::array<std::uint8_t, 8> a{};
            std::array<std::uint8_t, 8> b{};
            for (std::size_t i = 0; i < 8; ++i) {
                a[i] = static_cast<std::uint8_t>(expected >> (56 - 8 * i));
                b[i] = static_cast<std::uint8_t>(id >> (56 - 8 * i));
            }
            ok = core::constant_time_equal(a, b) || ok;
        }
        return ok;
    }

    void remember(const std::string& endpoint, const std::string& ticket,
                  std::chrono::system_clock::time_point when) {
        if (settings.scrape_admissions == 0) {
            return;
        }
        if (const auto found = admissions.find(endpoint); found != admissions.end()) {
            admission_order.erase(found->second.order);
            admissions.erase(found);
        }
        admission_order.push_front(endpoint);
        admissions.emplace(endpoint, admission{ticket, when, admission_order.begin()});
        while (admissions.size() > settings.scrape_admissions) {
            admissions.erase(admission_order.back());
            admission_order.pop_back();
        }
    }

    void receive();
    void handle(std::size_t size);
    void send(const std::string& datagram);
    void send_error(std::uint32_t transaction_id, std::string_view message);
};

void udp_tracker_server::state::receive() {
    socket.async_receive_from(
        net::buffer(buffer), remote,
        [self = shared_from_this()](const boost::system::error_code& ec, std::size_t size) {
            if (self->stopping || ec == net::error::operation_aborted) {
                return;
            }
            if (!ec) {
                try {
                    self->handle(size);
                } catch (const std::exception& error) {
                    self->log.error("udp request failed", {{"error", error.what()}});
                }
            } else {
                self->log.debug("udp receive failed", {{"error", ec.message()}});
            }
            self->receive();
        });
}

void udp_tracker_server::state::send(const std::string& datagram) {
    boost::system::error_code ignored;
    socket.send_to(net::buffer(datagram), remote, 0, ignored);
}

void udp_tracker_server::state::send_error(std::uint32_t transaction_id, std::string_view message) {
    errors.fetch_add(1, std::memory_order_relaxed);
    send(udp::encode_error(transaction_id, message));
}

void udp_tracker_server::state::handle(std::size_t size) {
    received.fetch_add(1, std::memory_order_relaxed);
    const core::byte_view packet(buffer.data(), size);
    if (!udp::answerable(packet)) {
        dropped.fetch_add(1, std::memory_order_relaxed);
        return;
    }
    std::error_code ec;
    std::string reason;
    const udp::request request = udp::parse_request(packet, ec, &reason, service.settings().limits);
    const auto when = now();
    if (request.kind == udp::action::connect && !ec) {
        connects.fetch_add(1, std::memory_order_relaxed);
        send(udp::encode_connect(request.transaction_id, connection_id(remote, slot_of(when))));
        return;
    }
    if (request.kind != udp::action::connect && request.kind != udp::action::error &&
        !valid_id(remote, request.connection_id, when)) {
        bad_ids.fetch_add(1, std::memory_order_relaxed);
        send_error(request.transaction_id, "connection id is invalid or expired: connect again");
        return;
    }
    if (ec) {
        send_error(request.transaction_id, "malformed request: " + reason);
        return;
    }
    const auto [address_bytes, ipv6] = address_key(remote.address());
    if (request.kind == udp::action::announce) {
        announces.fetch_add(1, std::memory_order_relaxed);
        peer_address from;
        if (ipv6) {
            from.ip.assign(address_bytes.begin(), address_bytes.end());
        } else {
            from.ip.assign(address_bytes.begin() + 12, address_bytes.end());
        }
        // The tracker decides (and counts) every refusal, a missing ticket included.
        announce_result result = service.announce(request.announce, from, when);
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
            remember(endpoint_key(remote), request.announce.ticket, when);
        }
        send(udp::encode_announce(request.transaction_id, result, ipv6));
        return;
    }
    // Scrape: admitted by the ticket of this endpoint's last admitted announce.
    const auto found = admissions.find(endpoint_key(remote));
    if (found == admissions.end() || slot_of(found->second.at) < slot_of(when) - 1) {
        send_error(request.transaction_id,
                   "ticket required: announce with a ticket before scraping");
        return;
    }
    scrape_request scrape;
    scrape.ticket = found->second.ticket;
    scrape.info_hashes = request.info_hashes;
    const auto stats = service.scrape(scrape, when, reason);
    if (!reason.empty()) {
        send_error(request.transaction_id, reason);
        return;
    }
    scrapes.fetch_add(1, std::memory_order_relaxed);
    send(udp::encode_scrape(request.transaction_id, request.info_hashes, stats));
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
            impl->receive();
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
