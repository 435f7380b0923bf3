// PANA over UDP: the PAA server (own thread, Boost.Asio) and the blocking PaC client.

#include <imsp2p/pana/pana_endpoint.hpp>

#include <imsp2p/pana/error.hpp>

#include <imsp2p/core/crypto.hpp>
#include <imsp2p/core/error.hpp>

#include <boost/asio/buffer.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/address.hpp>
#include <boost/asio/ip/udp.hpp>
#include <boost/asio/ip/v6_only.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/steady_timer.hpp>

#include <array>
#include <atomic>
#include <map>
#include <optional>
#include <thread>
#include <unordered_map>
#include <utility>

namespace imsp2p::pana {
namespace {

namespace asio = boost::asio;
using udp = asio::ip::udp;

constexpr std::size_t max_datagram = 65536;

std::uint32_t random_session_id() {
    std::array<std::uint8_t, 4> b{};
    core::random_bytes(b);
    return (static_cast<std::uint32_t>(b[0]) << 24) | (static_cast<std::uint32_t>(b[1]) << 16) |
           (static_cast<std::uint32_t>(b[2]) << 8) | b[3];
}

}  // namespace

// ---------------------------------------------------------------------------------------------
// PAA server

struct pana_paa_server::impl {
    pana_paa_server_settings settings;
    eap_authenticator_factory factory;
    authenticated_handler on_authenticated;
    asio::io_context io;
    udp::socket socket{io};
    asio::steady_timer timer{io};
    std::thread thread;
    std::atomic<std::size_t> session_count{0};
    std::atomic<std::uint64_t> authentication_count{0};
    std::uint16_t port = 0;

    struct entry {
        std::unique_ptr<pana_paa_session> session;
        udp::endpoint pac;
        std::uint64_t reported = 0;
        std::optional<pana_clock::time_point> closed_at;
    };
    std::unordered_map<std::uint32_t, entry> sessions;
    std::map<udp::endpoint, std::uint32_t> by_endpoint;
    std::array<std::uint8_t, max_datagram> buffer{};
    udp::endpoint sender;

    void receive() {
        socket.async_receive_from(
            asio::buffer(buffer), sender,
            [this](const boost::system::error_code& ec, std::size_t size) {
                if (ec == asio::error::operation_aborted || !socket.is_open()) {
                    return;
                }
                if (!ec) {
                    on_datagram(size);
                }
                receive();
            });
    }

    void flush(entry& e) {
        for (const core::byte_vector& datagram : e.session->take_datagrams()) {
            boost::system::error_code ignored;
            socket.send_to(asio::buffer(datagram), e.pac, 0, ignored);
        }
    }

    void after_event(entry& e, pana_clock::time_point now) {
        flush(e);
        const pana_session_info& info = e.session->info();
        if (info.authentications > e.reported) {
            e.reported = info.authentications;
            ++authentication_count;
            if (on_authenticated) {
                pana_authenticated_session report;
                report.pac_address = e.pac.address().to_string();
                report.pac_port = e.pac.port();
                report.info = info;
                try {
                    on_authenticated(report);
                } catch (...) {
                    // The handler's failure is its own; the session goes on.
                }
            }
        }
        if (e.session->state() == pana_session_state::closed && !e.closed_at) {
            e.closed_at = now;
        }
    }

    void on_datagram(std::size_t size) {
        const core::byte_view wire(buffer.data(), size);
        if (size < pana_header_size) {
            return;
        }
        const auto now = pana_clock::now();
        const std::uint16_t type = static_cast<std::uint16_t>((wire[6] << 8) | wire[7]);
        std::uint32_t id = (static_cast<std::uint32_t>(wire[8]) << 24) |
                           (static_cast<std::uint32_t>(wire[9]) << 16) |
                           (static_cast<std::uint32_t>(wire[10]) << 8) | wire[11];
        if (type == static_cast<std::uint16_t>(pana_message_type::client_initiation)) {
            const auto known = by_endpoint.find(sender);
            if (known != by_endpoint.end() &&
                sessions.at(known->second).session->state() == pana_session_state::closed) {
                sessions.erase(known->second);  // the same address and port start anew
                by_endpoint.erase(known);
            } else if (known != by_endpoint.end()) {
                id = known->second;
            }
            if (by_endpoint.count(sender) == 0) {
                if (sessions.size() >= settings.max_sessions) {
                    return;
                }
                do {
                    id = random_session_id();
                } while (id == 0 || sessions.count(id) != 0);
                entry e;
                e.session = std::make_unique<pana_paa_session>(id, factory, settings.session);
                e.pac = sender;
                sessions.emplace(id, std::move(e));
                by_endpoint.emplace(sender, id);
                session_count = sessions.size();
            }
        }
        const auto found = sessions.find(id);
        if (found == sessions.end() || found->second.pac != sender) {
            return;
        }
        found->second.session->on_datagram(wire, now);
        after_event(found->second, now);
        schedule();
    }

    void on_timer() {
        const auto now = pana_clock::now();
        for (auto it = sessions.begin(); it != sessions.end();) {
            entry& e = it->second;
            if (const auto due = e.session->next_deadline(); due && *due <= now) {
                e.session->on_timer(now);
                after_event(e, now);
            }
            if (e.closed_at && now - *e.closed_at >= settings.closed_linger) {
                by_endpoint.erase(e.pac);
                it = sessions.erase(it);
            } else {
                ++it;
            }
        }
        session_count = sessions.size();
        schedule();
    }

    void schedule() {
        std::optional<pana_clock::time_point> next;
        for (const auto& [id, e] : sessions) {
            auto due = e.session->next_deadline();
            if (e.closed_at) {
                const auto forget = *e.closed_at + settings.closed_linger;
                due = !due || forget < *due ? forget : *due;
            }
            if (due && (!next || *due < *next)) {
                next = due;
            }
        }
        if (!next) {
            timer.cancel();
            return;
        }
        timer.expires_at(*next);
        timer.async_wait([this](const boost::system::error_code& ec) {
            if (!ec) {
                on_timer();
            }
        });
    }

    void terminate(std::uint32_t id, pana_termination_cause cause) {
        const auto found = sessions.find(id);
        if (found == sessions.end()) {
            return;
        }
        const auto now = pana_clock::now();
        found->second.session->terminate(cause, now);
        after_event(found->second, now);
        schedule();
    }
};

std::unique_ptr<pana_paa_server> pana_paa_server::start(const pana_paa_server_settings& settings,
                                                        eap_authenticator_factory factory,
                                                        authenticated_handler on_authenticated,
                                                        std::error_code& ec) {
    ec.clear();
    auto state = std::make_unique<impl>();
    state->settings = settings;
    state->factory = std::move(factory);
    state->on_authenticated = std::move(on_authenticated);
    boost::system::error_code bec;
    const auto address = asio::ip::make_address(settings.address, bec);
    if (bec) {
        ec = core::errc::invalid_argument;
        return nullptr;
    }
    const udp::endpoint local(address, settings.port);
    state->socket.open(local.protocol(), bec);
    if (!bec && address.is_v6() && address.is_unspecified()) {
        boost::system::error_code ignored;
        state->socket.set_option(asio::ip::v6_only(false), ignored);
    }
    if (!bec) {
        state->socket.bind(local, bec);
    }
    if (bec) {
        ec = std::error_code(bec.value(), std::system_category());
        return nullptr;
    }
    state->port = state->socket.local_endpoint().port();
    state->receive();
    impl* raw = state.get();
    state->thread = std::thread([raw] { raw->io.run(); });
    return std::unique_ptr<pana_paa_server>(new pana_paa_server(std::move(state)));
}

pana_paa_server::pana_paa_server(std::unique_ptr<impl> state) : impl_(std::move(state)) {}

pana_paa_server::~pana_paa_server() {
    stop();
}

std::uint16_t pana_paa_server::port() const noexcept {
    return impl_->port;
}

std::size_t pana_paa_server::session_count() const noexcept {
    return impl_->session_count;
}

std::uint64_t pana_paa_server::authentication_count() const noexcept {
    return impl_->authentication_count;
}

void pana_paa_server::terminate(std::uint32_t session_id, pana_termination_cause cause) {
    impl* raw = impl_.get();
    asio::post(raw->io, [raw, session_id, cause] { raw->terminate(session_id, cause); });
}

void pana_paa_server::stop() {
    if (!impl_->thread.joinable()) {
        return;
    }
    impl_->io.stop();
    impl_->thread.join();
    boost::system::error_code ignored;
    impl_->socket.close(ignored);
}

// ---------------------------------------------------------------------------------------------
// PaC client

struct pana_client::impl {
    pana_pac_settings settings;
    asio::io_context io;
    udp::socket socket{io};
    udp::endpoint paa;
    std::unique_ptr<pana_pac_session> session;
    std::array<std::uint8_t, max_datagram> buffer{};

    void flush() {
        for (const core::byte_vector& datagram : session->take_datagrams()) {
            boost::system::error_code ignored;
            socket.send_to(asio::buffer(datagram), paa, 0, ignored);
        }
    }

    // Runs the session until done() holds (true) or the limit passes (false).
    template <class Done>
    bool drive(Done done, pana_clock::time_point limit) {
        flush();
        while (!done()) {
            if (pana_clock::now() >= limit) {
                return false;
            }
            auto wake = limit;
            if (const auto due = session->next_deadline(); due && *due < wake) {
                wake = *due;
            }
            std::optional<std::size_t> received;
            bool completed = false;
            udp::endpoint from;
            socket.async_receive_from(
                asio::buffer(buffer), from,
                [&received, &completed](const boost::system::error_code& ec, std::size_t size) {
                    completed = true;
                    if (!ec) {
                        received = size;
                    }
                });
            // run_one_until() also counts the reactor's internal operations: loop until the
            // receive handler itself ran or the time is up, then make sure it has run.
            io.restart();
            while (!completed && io.run_one_until(wake) > 0) {
            }
            if (!completed) {
                socket.cancel();
                io.restart();
                io.run();
            }
            const auto now = pana_clock::now();
            if (received && from == paa) {
                session->on_datagram(core::byte_view(buffer.data(), *received), now);
            }
            session->on_timer(now);
            flush();
        }
        return true;
    }

    bool is_open() const { return session && session->state() == pana_session_state::open; }
};

pana_client::pana_client(pana_pac_settings settings) : impl_(std::make_unique<impl>()) {
    impl_->settings = std::move(settings);
}

pana_client::~pana_client() = default;

pana_session_info pana_client::authenticate(const std::string& paa_address, std::uint16_t paa_port,
                                            std::unique_ptr<eap_peer> peer,
                                            std::chrono::milliseconds timeout,
                                            std::error_code& ec) {
    ec.clear();
    boost::system::error_code bec;
    const auto address = asio::ip::make_address(paa_address, bec);
    if (bec || !peer) {
        ec = core::errc::invalid_argument;
        return {};
    }
    impl_->paa = udp::endpoint(address, paa_port);
    if (impl_->socket.is_open()) {
        impl_->socket.close(bec);
    }
    impl_->socket.open(impl_->paa.protocol(), bec);
    if (!bec) {
        impl_->socket.bind(udp::endpoint(impl_->paa.protocol(), 0), bec);
    }
    if (bec) {
        ec = std::error_code(bec.value(), std::system_category());
        return {};
    }
    const auto limit = pana_clock::now() + timeout;
    impl_->session = std::make_unique<pana_pac_session>(std::move(peer), impl_->settings);
    impl_->session->start(pana_clock::now());
    pana_pac_session& session = *impl_->session;
    const bool finished = impl_->drive(
        [&] {
            return session.state() == pana_session_state::open ||
                   session.state() == pana_session_state::closed;
        },
        limit);
    if (!finished) {
        ec = errc::pana_timeout;
        return {};
    }
    if (session.state() != pana_session_state::open) {
        ec = session.error() ? session.error() : make_error_code(errc::pana_session_terminated);
        return {};
    }
    return session.info();
}

pana_session_info pana_client::reauthenticate(std::unique_ptr<eap_peer> peer,
                                              std::chrono::milliseconds timeout,
                                              std::error_code& ec) {
    ec.clear();
    if (!impl_->is_open() || !peer) {
        ec = core::errc::invalid_argument;
        return {};
    }
    pana_pac_session& session = *impl_->session;
    const auto before = session.info().authentications;
    session.reauthenticate(std::move(peer), pana_clock::now());
    const bool finished = impl_->drive(
        [&] {
            return (session.state() == pana_session_state::open &&
                    session.info().authentications > before) ||
                   session.state() == pana_session_state::closed;
        },
        pana_clock::now() + timeout);
    if (!finished) {
        ec = errc::pana_timeout;
        return {};
    }
    if (session.state() != pana_session_state::open) {
        ec = session.error() ? session.error() : make_error_code(errc::pana_session_terminated);
        return {};
    }
    return session.info();
}

void pana_client::ping(std::chrono::milliseconds timeout, std::error_code& ec) {
    ec.clear();
    if (!impl_->is_open() || impl_->session->next_deadline()) {
        ec = core::errc::invalid_argument;
        return;
    }
    pana_pac_session& session = *impl_->session;
    session.ping(pana_clock::now());
    const bool finished = impl_->drive(
        [&] { return !session.next_deadline() || session.state() == pana_session_state::closed; },
        pana_clock::now() + timeout);
    if (!finished) {
        ec = errc::pana_timeout;
    } else if (session.state() == pana_session_state::closed) {
        ec = session.error() ? session.error() : make_error_code(errc::pana_session_terminated);
    }
}

void pana_client::terminate(std::chrono::milliseconds timeout, std::error_code& ec) {
    ec.clear();
    if (!impl_->is_open()) {
        ec = core::errc::invalid_argument;
        return;
    }
    pana_pac_session& session = *impl_->session;
    session.terminate(pana_termination_cause::logout, pana_clock::now());
    const bool finished = impl_->drive(
        [&] { return session.state() == pana_session_state::closed; }, pana_clock::now() + timeout);
    if (!finished) {
        ec = errc::pana_timeout;
    } else if (session.error()) {
        ec = session.error();
    }
}

pana_session_state pana_client::state() const noexcept {
    return impl_->session ? impl_->session->state() : pana_session_state::idle;
}

pana_session_stats pana_client::stats() const noexcept {
    return impl_->session ? impl_->session->stats() : pana_session_stats{};
}

}  // namespace imsp2p::pana
