// bench_tracker_udp: a small UDP tracker load generator (BEP 15; with the ticket in BEP 41 URL
// data for imsp2p). Used by tests/bench/bench_tracker; runnable on its own:
//   bench_tracker_udp <host> <port> <file of "infohash-hex ticket" lines> <seconds> <ticketed 0|1>
// It connects once, then keeps a window of 64 announces in flight (numwant 50) for the given
// time, cycling through the same 60 peers per torrent (peer ids "-BE0001-<peer><torrent>", ports
// 10000 + peer) as bench_tracker's HTTP mix, so that the swarms keep 60 members in both. Both
// trackers get byte-identical announces except for the URL data option that carries the ticket. To
// keep the generator from being the bottleneck it takes answers with recvmmsg() and sends one new
// announce per answer in one sendmmsg(). The last line is `udp_announces_per_s: X`.

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <sys/uio.h>
#include <unistd.h>

#include <array>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <iostream>
#include <sstream>
#include <string>
#include <vector>

namespace {

void put32(std::vector<std::uint8_t>& out, std::uint32_t v) {
    for (int shift = 24; shift >= 0; shift -= 8) {
        out.push_back(static_cast<std::uint8_t>(v >> shift));
    }
}
void put64(std::vector<std::uint8_t>& out, std::uint64_t v) {
    put32(out, static_cast<std::uint32_t>(v >> 32));
    put32(out, static_cast<std::uint32_t>(v));
}
std::uint32_t get32(const std::uint8_t* p) {
    return (std::uint32_t{p[0]} << 24) | (std::uint32_t{p[1]} << 16) | (std::uint32_t{p[2]} << 8) |
           std::uint32_t{p[3]};
}

struct target {
    std::string hash;  // 20 raw bytes
    std::string url_data;
};

}  // namespace

int main(int argc, char** argv) {
    if (argc != 6) {
        std::cerr << "usage: bench_tracker_udp host port file seconds ticketed\n";
        return 2;
    }
    std::vector<target> targets;
    std::ifstream file(argv[3]);
    std::string hex;
    std::string ticket;
    while (file >> hex >> ticket) {
        target t;
        for (std::size_t i = 0; i + 1 < hex.size(); i += 2) {
            t.hash.push_back(static_cast<char>(std::stoi(hex.substr(i, 2), nullptr, 16)));
        }
        if (std::string(argv[5]) == "1") {
            t.url_data = "/announce/" + ticket;
        }
        targets.push_back(std::move(t));
    }
    if (targets.empty()) {
        std::cerr << "no targets\n";
        return 2;
    }
    const int fd = ::socket(AF_INET, SOCK_DGRAM, 0);
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_port = htons(static_cast<std::uint16_t>(std::stoi(argv[2])));
    ::inet_pton(AF_INET, argv[1], &addr.sin_addr);
    ::connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr);
    timeval tv{0, 200000};
    ::setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    int buffer_size = 4 << 20;
    ::setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &buffer_size, sizeof buffer_size);

    std::uint8_t in[2048];
    std::uint64_t connection_id = 0;
    for (int attempt = 0; attempt < 10 && connection_id == 0; ++attempt) {
        std::vector<std::uint8_t> req;
        put64(req, 0x41727101980ULL);
        put32(req, 0);
        put32(req, 12345);
        ::send(fd, req.data(), req.size(), 0);
        const ssize_t n = ::recv(fd, in, sizeof in, 0);
        if (n >= 16 && get32(in) == 0 && get32(in + 4) == 12345) {
            connection_id = (std::uint64_t{get32(in + 8)} << 32) | get32(in + 12);
        }
    }
    if (connection_id == 0) {
        std::cerr << "no connect response\n";
        std::cout << "udp_announces_per_s: 0\n";
        return 1;
    }
    constexpr int peers = 60;
    constexpr int window = 64;
    std::uint64_t sequence = 0;
    std::vector<std::vector<std::uint8_t>> outgoing(window);
    std::vector<iovec> outgoing_vectors(window);
    std::vector<mmsghdr> outgoing_messages(window);
    // Builds the next announce in outgoing[slot].
    const auto announce = [&](int slot) {
        const std::size_t index = sequence % (targets.size() * peers);
        const target& t = targets[index % targets.size()];
        const auto peer = static_cast<unsigned>(index / targets.size());
        std::vector<std::uint8_t>& req = outgoing[static_cast<std::size_t>(slot)];
        req.clear();
        put64(req, connection_id);
        put32(req, 1);
        put32(req, static_cast<std::uint32_t>(sequence));
        req.insert(req.end(), t.hash.begin(), t.hash.end());
        char peer_id[64];
        std::snprintf(peer_id, sizeof peer_id, "-BE0001-%06u%06u", peer % 1000000U,
                      static_cast<unsigned>(index % targets.size()) % 1000000U);
        req.insert(req.end(), peer_id, peer_id + 20);
        put64(req, 0);
        put64(req, 1000);
        put64(req, 0);
        put32(req, 0);
        put32(req, 0);
        put32(req, static_cast<std::uint32_t>(index));
        put32(req, 50);
        req.push_back(static_cast<std::uint8_t>((10000 + peer) >> 8));
        req.push_back(static_cast<std::uint8_t>((10000 + peer) & 0xff));
        for (std::size_t at = 0; at < t.url_data.size(); at += 255) {
            const std::size_t len = std::min<std::size_t>(255, t.url_data.size() - at);
            req.push_back(2);
            req.push_back(static_cast<std::uint8_t>(len));
            req.insert(req.end(), t.url_data.begin() + static_cast<std::ptrdiff_t>(at),
                       t.url_data.begin() + static_cast<std::ptrdiff_t>(at + len));
        }
        if (!t.url_data.empty()) {
            req.push_back(0);
        }
        ++sequence;
    };
    // Sends the next @p count announces in one call.
    const auto send_announces = [&](int count) {
        for (int i = 0; i < count; ++i) {
            announce(i);
            outgoing_vectors[static_cast<std::size_t>(i)] = {
                outgoing[static_cast<std::size_t>(i)].data(),
                outgoing[static_cast<std::size_t>(i)].size()};
            outgoing_messages[static_cast<std::size_t>(i)] = mmsghdr{};
            outgoing_messages[static_cast<std::size_t>(i)].msg_hdr.msg_iov =
                &outgoing_vectors[static_cast<std::size_t>(i)];
            outgoing_messages[static_cast<std::size_t>(i)].msg_hdr.msg_iovlen = 1;
        }
        int done = 0;
        while (done < count) {
            const int sent = ::sendmmsg(fd, outgoing_messages.data() + done,
                                        static_cast<unsigned>(count - done), 0);
            if (sent <= 0) {
                break;
            }
            done += sent;
        }
    };
    std::vector<std::array<std::uint8_t, 2048>> incoming(window);
    std::vector<iovec> incoming_vectors(window);
    std::vector<mmsghdr> incoming_messages(window);
    const auto seconds = std::chrono::seconds(std::stoi(argv[4]));
    const auto start = std::chrono::steady_clock::now();
    std::uint64_t answered = 0;
    std::uint64_t errors = 0;
    send_announces(window);
    while (std::chrono::steady_clock::now() - start < seconds) {
        for (std::size_t i = 0; i < incoming.size(); ++i) {
            incoming_vectors[i] = {incoming[i].data(), incoming[i].size()};
            incoming_messages[i] = mmsghdr{};
            incoming_messages[i].msg_hdr.msg_iov = &incoming_vectors[i];
            incoming_messages[i].msg_hdr.msg_iovlen = 1;
        }
        // Blocks for the first answer (up to the 200 ms receive timeout), then takes what is there.
        const int n = ::recvmmsg(fd, incoming_messages.data(), window, MSG_WAITFORONE, nullptr);
        if (n <= 0) {
            send_announces(window);  // lost datagrams: refill the window
            continue;
        }
        for (int i = 0; i < n; ++i) {
            const std::uint8_t* answer = incoming[static_cast<std::size_t>(i)].data();
            if (incoming_messages[static_cast<std::size_t>(i)].msg_len >= 20 &&
                get32(answer) == 1) {
                ++answered;
            } else {
                ++errors;
            }
        }
        send_announces(n);
    }
    const double elapsed =
        std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    ::close(fd);
    std::cerr << "answered " << answered << " errors " << errors << "\n";
    std::cout << "udp_announces_per_s: " << static_cast<double>(answered) / elapsed << "\n";
    return 0;
}
