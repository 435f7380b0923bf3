// Test support for the SIP binding tests: raw UDP/TCP sockets on 127.0.0.1 and a recording
// request handler. Real sockets, real Sofia stack; nothing is mocked.
#pragma once

#include <imsp2p/sip/sip_server.hpp>

#include "imsp2p_test/child_process.hpp"

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <cstdio>
#include <fstream>
#include <functional>
#include <mutex>
#include <optional>
#include <sstream>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

namespace imsp2p_test {

/** A socket on 127.0.0.1 (UDP or TCP), closed on destruction. */
class raw_socket {
  public:
    explicit raw_socket(int type) : fd_(::socket(AF_INET, type, 0)) {
        if (fd_ < 0) {
            throw std::runtime_error("socket failed");
        }
        sockaddr_in local{};
        local.sin_family = AF_INET;
        local.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
        if (::bind(fd_, reinterpret_cast<sockaddr*>(&local), sizeof local) != 0) {
            throw std::runtime_error("bind failed");
        }
    }
    ~raw_socket() { ::close(fd_); }
    raw_socket(const raw_socket&) = delete;
    raw_socket& operator=(const raw_socket&) = delete;

    [[nodiscard]] std::uint16_t port() const {
        sockaddr_in local{};
        socklen_t size = sizeof local;
        ::getsockname(fd_, reinterpret_cast<sockaddr*>(&local), &size);
        return ntohs(local.sin_port);
    }

    void connect(std::uint16_t port) {
        const sockaddr_in peer = loopback(port);
        if (::connect(fd_, reinterpret_cast<const sockaddr*>(&peer), sizeof peer) != 0) {
            throw std::runtime_error("connect failed");
        }
    }

    void send_to(std::uint16_t port, const std::string& data) {
        const sockaddr_in peer = loopback(port);
        ::sendto(fd_, data.data(), data.size(), 0, reinterpret_cast<const sockaddr*>(&peer),
                 sizeof peer);
    }

    void send(const std::string& data) {
        std::size_t done = 0;
        while (done < data.size()) {
            const auto n = ::send(fd_, data.data() + done, data.size() - done, MSG_NOSIGNAL);
            if (n <= 0) {
                throw std::runtime_error("send failed");
            }
            done += static_cast<std::size_t>(n);
        }
    }

    /** Receives one datagram / some stream bytes; nullopt on timeout. */
    std::optional<std::string> receive(std::chrono::milliseconds timeout) {
        pollfd item{fd_, POLLIN, 0};
        if (::poll(&item, 1, static_cast<int>(timeout.count())) <= 0) {
            return std::nullopt;
        }
        std::string buffer(65536, '\0');
        const auto n = ::recv(fd_, buffer.data(), buffer.size(), 0);
        if (n <= 0) {
            return std::nullopt;
        }
        buffer.resize(static_cast<std::size_t>(n));
        return buffer;
    }

    /** Receives stream bytes until a full SIP message (headers + Content-Length) is in. */
    std::optional<std::string> receive_message(std::chrono::milliseconds timeout) {
        const auto deadline = std::chrono::steady_clock::now() + timeout;
        std::string data;
        while (std::chrono::steady_clock::now() < deadline) {
            const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
                deadline - std::chrono::steady_clock::now());
            auto chunk = receive(left);
            if (!chunk) {
                break;
            }
            data += *chunk;
            const auto end = data.find("\r\n\r\n");
            if (end == std::string::npos) {
                continue;
            }
            std::size_t length = 0;
            const auto at = data.find("\r\nContent-Length:");
            if (at != std::string::npos && at < end) {
                length = std::stoul(data.substr(at + 17));
            }
            if (data.size() >= end + 4 + length) {
                return data;
            }
        }
        return std::nullopt;
    }

  private:
    static sockaddr_in loopback(std::uint16_t port) {
        sockaddr_in peer{};
        peer.sin_family = AF_INET;
        peer.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
        peer.sin_port = htons(port);
        return peer;
    }
    int fd_;
};

/** @return a port that was free a moment ago on 127.0.0.1 for both UDP and TCP (best effort). */
inline std::uint16_t free_port() {
    for (int attempt = 0; attempt < 20; ++attempt) {
        const int tcp = ::socket(AF_INET, SOCK_STREAM, 0);
        sockaddr_in local{};
        local.sin_family = AF_INET;
        local.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
        ::bind(tcp, reinterpret_cast<sockaddr*>(&local), sizeof local);
        socklen_t size = sizeof local;
        ::getsockname(tcp, reinterpret_cast<sockaddr*>(&local), &size);
        const int udp = ::socket(AF_INET, SOCK_DGRAM, 0);
        const bool udp_free = ::bind(udp, reinterpret_cast<sockaddr*>(&local), sizeof local) == 0;
        ::close(udp);
        ::close(tcp);
        if (udp_free) {
            return ntohs(local.sin_port);
        }
    }
    throw std::runtime_error("no free port");
}

/** Waits until something listens on 127.0.0.1:port (UDP bound or TCP listening). */
inline bool wait_bound(std::uint16_t port, bool tcp, std::chrono::milliseconds timeout) {
    const auto deadline = std::chrono::steady_clock::now() + timeout;
    char needle[32];
    std::snprintf(needle, sizeof needle, "0100007F:%04X", port);
    while (std::chrono::steady_clock::now() < deadline) {
        std::ifstream table(tcp ? "/proc/net/tcp" : "/proc/net/udp");
        std::string line;
        while (std::getline(table, line)) {
            if (line.find(needle) != std::string::npos && line.find(needle) < 20 + line.find(':') &&
                (!tcp || line.find(" 0A ") != std::string::npos)) {
                return true;
            }
        }
        std::this_thread::sleep_for(std::chrono::milliseconds(20));
    }
    return false;
}

/** @return the whole text of a file ("" if missing). */
inline std::string file_text(const std::string& path) {
    std::ifstream file(path);
    std::stringstream text;
    text << file.rdbuf();
    return text.str();
}

/** @return the status line's code of a SIP response text, 0 if none. */
inline int status_of(const std::string& response) {
    if (response.rfind("SIP/2.0 ", 0) != 0 || response.size() < 11) {
        return 0;
    }
    return std::stoi(response.substr(8, 3));
}

/** @return the value of the first header with this name in a message text, or "". */
inline std::string header_of(const std::string& message, const std::string& name) {
    const std::string key = "\r\n" + name + ":";
    const auto at = message.find(key);
    if (at == std::string::npos) {
        return {};
    }
    auto begin = at + key.size();
    while (begin < message.size() && message[begin] == ' ') {
        ++begin;
    }
    return message.substr(begin, message.find("\r\n", begin) - begin);
}

/** A thread-safe request_handler that records what it sees and answers as told. */
class recording_handler : public imsp2p::sip::request_handler {
  public:
    using respond_function =
        std::function<imsp2p::sip::handled(const imsp2p::sip::incoming_request&)>;

    explicit recording_handler(respond_function respond) : respond_(std::move(respond)) {}

    imsp2p::sip::handled handle(const imsp2p::sip::incoming_request& request,
                                std::chrono::system_clock::time_point /*now*/) override {
        {
            std::lock_guard lock(mutex_);
            requests_.push_back(request);
        }
        changed_.notify_all();
        return respond_(request);
    }

    void on_outcome(const std::string& correlation_id, int status,
                    const std::string& reason) override {
        {
            std::lock_guard lock(mutex_);
            outcomes_.push_back({correlation_id, status, reason});
        }
        changed_.notify_all();
    }

    std::vector<imsp2p::sip::outgoing_request> poll(
        std::chrono::system_clock::time_point /*now*/) override {
        std::lock_guard lock(mutex_);
        ++polls_;
        return {};
    }

    struct outcome {
        std::string correlation_id;
        int status;
        std::string reason;
    };

    bool wait_requests(std::size_t count, std::chrono::milliseconds timeout) {
        std::unique_lock lock(mutex_);
        return changed_.wait_for(lock, timeout, [&] { return requests_.size() >= count; });
    }
    bool wait_outcomes(std::size_t count, std::chrono::milliseconds timeout) {
        std::unique_lock lock(mutex_);
        return changed_.wait_for(lock, timeout, [&] { return outcomes_.size() >= count; });
    }
    std::vector<imsp2p::sip::incoming_request> requests() {
        std::lock_guard lock(mutex_);
        return requests_;
    }
    std::vector<outcome> outcomes() {
        std::lock_guard lock(mutex_);
        return outcomes_;
    }
    int polls() {
        std::lock_guard lock(mutex_);
        return polls_;
    }

  private:
    respond_function respond_;
    std::mutex mutex_;
    std::condition_variable changed_;
    std::vector<imsp2p::sip::incoming_request> requests_;
    std::vector<outcome> outcomes_;
    int polls_ = 0;
};

/** A response with a status and reason. */
inline imsp2p::sip::handled respond(int status, std::string reason) {
    imsp2p::sip::handled result;
    result.response.status = status;
    result.response.reason = std::move(reason);
    return result;
}

}  // namespace imsp2p_test
