// A delaying UDP relay for tests and benchmarks: it stands for the path between a client and a
// server in another network (e.g. the UE in a visited network and the home IMS core) and adds a
// one-way delay to every datagram in each direction (RTT/2 each way), counting and keeping what
// it forwards.
//
//   imsp2p_test::udp_relay relay(core_port, 25ms);        // RTT 50 ms
//   client sends to 127.0.0.1:relay.port() instead of the server
//
// One client at a time: answers from the server go to the address the last client datagram came
// from; a new client address gets a new server-side socket (NAT-like). One thread (poll + a queue
// ordered by due time); stops in the destructor.
#pragma once

#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <map>
#include <mutex>
#include <stdexcept>
#include <string>
#include <system_error>
#include <thread>
#include <vector>

namespace imsp2p_test {

class udp_relay {
  public:
    using clock = std::chrono::steady_clock;

    udp_relay(std::uint16_t server_port, std::chrono::microseconds one_way_delay)
        : delay_(one_way_delay) {
        client_side_ = open_socket();
        server_side_ = open_socket();
        server_ = loopback(server_port);
        thread_ = std::thread([this] { run(); });
    }
    ~udp_relay() {
        stopping_ = true;
        thread_.join();
        ::close(client_side_);
        ::close(server_side_);
    }
    udp_relay(const udp_relay&) = delete;
    udp_relay& operator=(const udp_relay&) = delete;

    /** The port clients send to (on 127.0.0.1). */
    std::uint16_t port() const { return port_of(client_side_); }

    /** Datagrams forwarded client -> server so far (copies). */
    std::vector<std::string> to_server() const {
        std::lock_guard lock(mutex_);
        return to_server_;
    }
    /** Datagrams forwarded server -> client so far (copies). */
    std::vector<std::string> to_client() const {
        std::lock_guard lock(mutex_);
        return to_client_;
    }
    /** Forgets the datagrams seen so far. */
    void clear() {
        std::lock_guard lock(mutex_);
        to_server_.clear();
        to_client_.clear();
    }
    /**
     * SIP only: adds `;rport` (RFC 3581) to the top Via of requests going to the server, so
     * that the server answers through the relay (the source address) rather than straight to
     * the Via address, as it does for a client behind a NAT. Call before traffic starts.
     */
    void add_sip_rport() { add_rport_ = true; }
    /** Changes the one-way delay of datagrams received from now on. */
    void set_delay(std::chrono::microseconds one_way_delay) { delay_ = one_way_delay; }

  private:
    struct pending {
        bool to_server = true;
        std::string data;
    };

    static sockaddr_in loopback(std::uint16_t port) {
        sockaddr_in address{};
        address.sin_family = AF_INET;
        address.sin_port = htons(port);
        address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
        return address;
    }
    static int open_socket() {
        const int fd = ::socket(AF_INET, SOCK_DGRAM, 0);
        if (fd < 0) {
            throw std::system_error(errno, std::generic_category(), "socket");
        }
        const sockaddr_in address = loopback(0);
        if (::bind(fd, reinterpret_cast<const sockaddr*>(&address), sizeof address) != 0) {
            ::close(fd);
            throw std::system_error(errno, std::generic_category(), "bind");
        }
        return fd;
    }
    static std::uint16_t port_of(int fd) {
        sockaddr_in address{};
        socklen_t size = sizeof address;
        ::getsockname(fd, reinterpret_cast<sockaddr*>(&address), &size);
        return ntohs(address.sin_port);
    }

    void receive(int fd, bool to_server) {
        char buffer[65536];
        sockaddr_in from{};
        socklen_t size = sizeof from;
        const ssize_t got = ::recvfrom(fd, buffer, sizeof buffer, MSG_DONTWAIT,
                                       reinterpret_cast<sockaddr*>(&from), &size);
        if (got < 0) {
            return;
        }
        if (to_server) {
            if (have_client_ && (from.sin_port != client_.sin_port ||
                                 from.sin_addr.s_addr != client_.sin_addr.s_addr)) {
                // A new client gets a new server-side port, as behind a NAT: the server must
                // not take it for the previous client.
                const int fresh = open_socket();
                ::close(server_side_);
                server_side_ = fresh;
            }
            client_ = from;
            have_client_ = true;
        }
        std::string data(buffer, static_cast<std::size_t>(got));
        if (to_server && add_rport_) {
            const auto via = data.find("\r\nVia: ");
            const auto end = via == std::string::npos ? via : data.find("\r\n", via + 2);
            if (end != std::string::npos &&
                data.substr(via, end - via).find("rport") == std::string::npos) {
                data.insert(end, ";rport");
            }
        }
        queue_.emplace(clock::now() + delay_.load(), pending{to_server, std::move(data)});
    }

    void run() {
        while (!stopping_) {
            const auto now = clock::now();
            while (!queue_.empty() && queue_.begin()->first <= now) {
                const pending& item = queue_.begin()->second;
                if (item.to_server) {
                    ::sendto(server_side_, item.data.data(), item.data.size(), 0,
                             reinterpret_cast<const sockaddr*>(&server_), sizeof server_);
                } else if (have_client_) {
                    ::sendto(client_side_, item.data.data(), item.data.size(), 0,
                             reinterpret_cast<const sockaddr*>(&client_), sizeof client_);
                }
                {
                    std::lock_guard lock(mutex_);
                    (item.to_server ? to_server_ : to_client_).push_back(item.data);
                }
                queue_.erase(queue_.begin());
            }
            int timeout_ms = 5;
            if (!queue_.empty()) {
                const auto wait = std::chrono::duration_cast<std::chrono::milliseconds>(
                    queue_.begin()->first - clock::now());
                timeout_ms = static_cast<int>(
                    std::max<std::int64_t>(0, std::min<std::int64_t>(wait.count(), timeout_ms)));
            }
            pollfd fds[2] = {{client_side_, POLLIN, 0}, {server_side_, POLLIN, 0}};
            if (::poll(fds, 2, timeout_ms) > 0) {
                if ((fds[0].revents & POLLIN) != 0) {
                    receive(client_side_, true);
                }
                if ((fds[1].revents & POLLIN) != 0) {
                    receive(server_side_, false);
                }
            }
        }
    }

    std::atomic<std::chrono::microseconds> delay_;
    int client_side_ = -1;
    int server_side_ = -1;
    sockaddr_in server_{};
    sockaddr_in client_{};
    bool have_client_ = false;
    std::atomic<bool> add_rport_{false};
    std::multimap<clock::time_point, pending> queue_;  // relay thread only
    mutable std::mutex mutex_;
    std::vector<std::string> to_server_;
    std::vector<std::string> to_client_;
    std::atomic<bool> stopping_{false};
    std::thread thread_;
};

/**
 * @param datagrams datagrams a relay forwarded (e.g. udp_relay::to_server())
 * @param method a SIP method, e.g. "REGISTER"
 * @return how many of them are requests of that method
 */
inline std::size_t count_sip_requests(const std::vector<std::string>& datagrams,
                                      const std::string& method) {
    const std::string start = method + " ";
    return static_cast<std::size_t>(
        std::count_if(datagrams.begin(), datagrams.end(),
                      [&](const std::string& datagram) { return datagram.rfind(start, 0) == 0; }));
}

}  // namespace imsp2p_test
