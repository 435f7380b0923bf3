// bench_drm: packaging throughput against the OpenSSL limit on this machine.
//
// Prints, measured in the same run: packaging MB/s (median of 5) of a 64 MiB and a 256 MiB
// input with one thread and with the pipeline (two hash threads), the limit
// min(AES-256-GCM, SHA-1 + SHA-256) of one core measured with the same OpenSSL wrappers, the
// ratio of the 256 MiB pipelined rate to that limit, and the peak RSS after packaging 64 MiB and a
// sparse 4 GiB input (IMSP2P_BENCH_LARGE_GIB overrides the 4; 0 skips it). Last line:
// `packaging_ratio_to_limit: X`. Not a timed test.
//
// Honesty: each rate is the whole package_file() call (open, read through the page cache,
// encrypt, hash, write, fsync-free close, torrent, renames) over the plaintext size, with the
// input in the page cache (it was just written). The input and the output live in the same
// folder: std::filesystem::temp_directory_path() unless IMSP2P_BENCH_DIR names another; the
// filesystem type (tmpfs or a disk) is printed. The limit is one core's min(AES-256-GCM,
// 1 / (1/SHA-1 + 1/SHA-256)) through the same OpenSSL wrappers the packager uses.

#include <imsp2p/core/crypto.hpp>
#include <imsp2p/drm/packager.hpp>

#include <fcntl.h>
#include <sys/resource.h>
#include <sys/vfs.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <ctime>
#include <filesystem>
#include <string>
#include <vector>

namespace core = imsp2p::core;
namespace drm = imsp2p::drm;
namespace fs = std::filesystem;

namespace {

using clock_type = std::chrono::steady_clock;

double seconds_since(clock_type::time_point start) {
    return std::chrono::duration<double>(clock_type::now() - start).count();
}

/** @return the CPU time of the whole process (all its threads, user and system) so far */
double process_cpu_seconds() {
    timespec now{};
    ::clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &now);
    return static_cast<double>(now.tv_sec) + static_cast<double>(now.tv_nsec) / 1e9;
}

/** A rate by the wall clock and by the CPU time spent (the latter barely moves when other
 *  processes share the cores, so it shows the efficiency on a busy machine). */
struct rate {
    double wall = 0;  ///< MB per wall-clock second.
    double cpu = 0;   ///< MB per CPU second of this process.
};

double mb(std::uint64_t bytes) {
    return static_cast<double>(bytes) / 1e6;
}

long peak_rss_kib() {
    rusage usage{};
    ::getrusage(RUSAGE_SELF, &usage);
    return usage.ru_maxrss;
}

rate aes_gcm_mb_per_s(std::size_t total) {
    core::byte_vector key(32, 7);
    core::aes256gcm aead(key);
    core::byte_vector buffer(64 * 1024 - 16, 1);
    std::uint8_t tag[16];
    std::uint8_t nonce[12] = {};
    std::uint8_t aad[41] = {};
    const auto start = clock_type::now();
    const double cpu_start = process_cpu_seconds();
    for (std::size_t done = 0; done < total; done += buffer.size()) {
        nonce[11] = static_cast<std::uint8_t>(done >> 16);
        aead.seal(nonce, aad, buffer, buffer, tag);
    }
    return {mb(total) / seconds_since(start), mb(total) / (process_cpu_seconds() - cpu_start)};
}

rate hash_mb_per_s(core::hash_algorithm algorithm, std::size_t total) {
    core::hasher hasher(algorithm);
    core::byte_vector buffer(16 * 1024, 3);
    std::uint8_t digest[32];
    const auto start = clock_type::now();
    const double cpu_start = process_cpu_seconds();
    for (std::size_t done = 0; done < total; done += buffer.size()) {
        hasher.update(buffer);
        if (done % (1 << 20) == 0)
            hasher.finish(digest);
    }
    hasher.finish(digest);
    return {mb(total) / seconds_since(start), mb(total) / (process_cpu_seconds() - cpu_start)};
}

/** Median of five runs: the machine is shared, so one run says little. */
rate package_mb_per_s(const fs::path& input, const fs::path& folder, unsigned threads) {
    drm::package_options options;
    options.threads = threads;
    std::vector<double> walls;
    std::vector<double> cpus;
    for (int run = 0; run < 5; ++run) {
        const auto start = clock_type::now();
        const double cpu_start = process_cpu_seconds();
        const drm::package_result result =
            drm::package_file(input, folder / "out.ipc", folder / "out.torrent", options);
        walls.push_back(mb(result.plaintext_size) / seconds_since(start));
        cpus.push_back(mb(result.plaintext_size) / (process_cpu_seconds() - cpu_start));
    }
    std::sort(walls.begin(), walls.end());
    std::sort(cpus.begin(), cpus.end());
    return {walls[walls.size() / 2], cpus[cpus.size() / 2]};
}

/** Limit of one core from the three primitive rates (wall or CPU). */
double limit_of(double aes, double sha1, double sha256) {
    return std::min(aes, 1.0 / (1.0 / sha1 + 1.0 / sha256));
}

void write_random_file(const fs::path& path, int mib) {
    const core::byte_vector chunk = core::random_bytes(1 << 20);
    std::FILE* file = std::fopen(path.c_str(), "wb");
    for (int i = 0; i < mib; ++i)
        std::fwrite(chunk.data(), 1, chunk.size(), file);
    std::fclose(file);
}

/** @return "tmpfs" or "disk" (any other filesystem) for the folder. */
const char* filesystem_kind(const fs::path& folder) {
    struct statfs info {};
    if (::statfs(folder.c_str(), &info) != 0)
        return "unknown";
    constexpr long tmpfs_magic = 0x01021994;
    return static_cast<long>(info.f_type) == tmpfs_magic ? "tmpfs" : "disk";
}

}  // namespace

int main() {
    const char* folder_env = std::getenv("IMSP2P_BENCH_DIR");
    const fs::path base = folder_env != nullptr && *folder_env != '\0' ? fs::path(folder_env)
                                                                       : fs::temp_directory_path();
    const fs::path folder = base / ("imsp2p-bench-drm-" + std::to_string(::getpid()));
    fs::create_directories(folder);
    std::printf("input_and_output_folder: %s (%s)\n", folder.c_str(), filesystem_kind(folder));
    const fs::path input = folder / "input.bin";
    write_random_file(input, 64);
    const std::size_t sample = 256u << 20;
    const rate aes_rate = aes_gcm_mb_per_s(sample);
    const rate sha1_rate = hash_mb_per_s(core::hash_algorithm::sha1, sample);
    const rate sha256_rate = hash_mb_per_s(core::hash_algorithm::sha256, sample);
    const double aes = aes_rate.wall;
    const double sha1 = sha1_rate.wall;
    const double sha256 = sha256_rate.wall;
    const double hashes = 1.0 / (1.0 / sha1 + 1.0 / sha256);
    const double limit = std::min(aes, hashes);
    const double cpu_limit = limit_of(aes_rate.cpu, sha1_rate.cpu, sha256_rate.cpu);
    std::printf("openssl_aes_256_gcm_mb_per_s: %.0f\n", aes);
    std::printf("openssl_sha1_mb_per_s: %.0f\n", sha1);
    std::printf("openssl_sha256_mb_per_s: %.0f\n", sha256);
    std::printf("openssl_sha1_plus_sha256_mb_per_s: %.0f\n", hashes);
    std::printf("limit_mb_per_s: %.0f\n", limit);
    std::printf("limit_mb_per_cpu_s: %.0f\n", cpu_limit);

    const rate one = package_mb_per_s(input, folder, 1);
    const rate two = package_mb_per_s(input, folder, 2);
    std::printf("packaging_64mib_one_thread_mb_per_s: %.0f\n", one.wall);
    std::printf("packaging_64mib_two_threads_mb_per_s: %.0f\n", two.wall);
    std::printf("peak_rss_after_64mib_kib: %ld\n", peak_rss_kib());

    // The ratio uses a 256 MiB input, long enough that thread start-up and the final
    // rename do not dominate (64 MiB packages in ~0.1 s).
    const fs::path longer = folder / "input-256.bin";
    write_random_file(longer, 256);
    const rate steady_one_rate = package_mb_per_s(longer, folder, 1);
    const rate steady_two_rate = package_mb_per_s(longer, folder, 2);
    const double steady_two = steady_two_rate.wall;
    fs::remove(longer);
    std::printf("packaging_256mib_one_thread_mb_per_s: %.0f\n", steady_one_rate.wall);
    std::printf("packaging_256mib_two_threads_mb_per_s: %.0f\n", steady_two);
    // By CPU time: packaging work per byte against the primitives' (1.0 would mean no cost
    // beyond AES, SHA-1 and SHA-256 of one core; file I/O and hashing the tags cost the rest).
    std::printf("packaging_256mib_one_thread_mb_per_cpu_s: %.0f\n", steady_one_rate.cpu);
    std::printf("packaging_256mib_two_threads_mb_per_cpu_s: %.0f\n", steady_two_rate.cpu);
    std::printf("packaging_cpu_efficiency_vs_limit: %.2f\n", steady_two_rate.cpu / cpu_limit);
    std::printf("packaging_256mib_two_threads_cores_used: %.2f\n",
                steady_two_rate.cpu > 0 ? steady_two / steady_two_rate.cpu : 0.0);

    const char* large_env = std::getenv("IMSP2P_BENCH_LARGE_GIB");
    const unsigned long large_gib = large_env != nullptr ? std::strtoul(large_env, nullptr, 10) : 4;
    if (large_gib > 0) {
        const fs::path sparse = folder / "sparse.bin";
        const int fd = ::open(sparse.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
        if (fd >= 0 && ::ftruncate(fd, static_cast<off_t>(large_gib << 30)) == 0) {
            ::close(fd);
            drm::package_options options;
            const auto start = clock_type::now();
            const drm::package_result result = drm::package_file(
                sparse, folder / "sparse.ipc", folder / "sparse.torrent", options);
            std::printf("packaging_%lugib_sparse_two_threads_mb_per_s: %.0f\n", large_gib,
                        mb(result.plaintext_size) / seconds_since(start));
            std::printf("peak_rss_after_%lugib_kib: %ld\n", large_gib, peak_rss_kib());
        }
    }
    std::error_code ignored;
    fs::remove_all(folder, ignored);
    std::printf("packaging_ratio_to_limit: %.2f\n", steady_two / limit);
    return 0;
}
