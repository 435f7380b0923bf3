#include <imsp2p/drm/packager.hpp>

#include <imsp2p/core/encoding.hpp>
#include <imsp2p/core/error.hpp>
#include <imsp2p/core/key_file.hpp>
#include <imsp2p/drm/error.hpp>

#include "torrent_builder.hpp"

#include <nlohmann/json.hpp>

#include <fcntl.h>
#include <sys/stat.h>
#include <sys/uio.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <exception>
#include <fstream>
#include <functional>
#include <mutex>
#include <thread>
#include <vector>

namespace imsp2p::drm {

namespace {

constexpr std::size_t block_size = 16 * 1024;  // BEP 52 merkle leaf size
/** Container bytes per work unit at least (a unit is whole pieces, so units hash on their own). */
constexpr std::uint64_t min_unit_size = 1u << 20;
/** Container bytes read, sealed, hashed and written in one step (stays in the L2 cache). */
constexpr std::size_t min_chunk_size = 256u * 1024u;
/** Most threads a call uses, whatever options.threads says. */
constexpr unsigned max_threads = 16;

class file_descriptor {
  public:
    explicit file_descriptor(int fd) noexcept : fd_(fd) {}
    ~file_descriptor() {
        if (fd_ >= 0)
            ::close(fd_);
    }
    file_descriptor(const file_descriptor&) = delete;
    file_descriptor& operator=(const file_descriptor&) = delete;
    int get() const noexcept { return fd_; }
    bool close() noexcept {
        const int fd = fd_;
        fd_ = -1;
        return ::close(fd) == 0;
    }

  private:
    int fd_;
};

/** Reads exactly the bytes the vectors describe from @p offset; false on error or a short file. */
bool read_vectors_at(int fd, iovec* vectors, int count, std::uint64_t offset) {
    while (count > 0 && vectors->iov_len == 0) {  // an empty input's one segment
        ++vectors;
        --count;
    }
    while (count > 0) {
        const ssize_t got = ::preadv(fd, vectors, count, static_cast<off_t>(offset));
        if (got < 0 && errno == EINTR)
            continue;
        if (got <= 0)
            return false;
        offset += static_cast<std::uint64_t>(got);
        auto left = static_cast<std::size_t>(got);
        while (count > 0 && left >= vectors->iov_len) {
            left -= vectors->iov_len;
            ++vectors;
            --count;
        }
        if (count > 0) {
            vectors->iov_base = static_cast<std::uint8_t*>(vectors->iov_base) + left;
            vectors->iov_len -= left;
        }
    }
    return true;
}

bool write_all_at(int fd, const std::uint8_t* data, std::size_t size, std::uint64_t offset) {
    std::size_t done = 0;
    while (done < size) {
        const ssize_t put =
            ::pwrite(fd, data + done, size - done, static_cast<off_t>(offset + done));
        if (put < 0 && errno == EINTR)
            continue;
        if (put <= 0)
            return false;
        done += static_cast<std::size_t>(put);
    }
    return true;
}

std::filesystem::path temporary_name(const std::filesystem::path& path) {
    std::filesystem::path temporary = path;
    temporary += ".tmp";
    return temporary;
}

/** What every worker needs to know about the container being written; read-only. */
struct package_plan {
    const container_header* header = nullptr;
    core::byte_view header_bytes;
    core::byte_view cek;
    std::uint64_t container_size = 0;
    std::uint32_t piece_size = 0;
    std::uint64_t unit_size = 0;  // whole pieces, a multiple of chunk_size
    std::uint64_t unit_count = 0;
    std::size_t chunk_size = 0;  // whole segment slots, a divisor of unit_size
    bool single_piece = false;   // BEP 52: one piece pads its tree to a power of two only
    int input = -1;
    int output = -1;
};

/** State shared by the workers of one call: the next unit, progress, results, first error. */
struct package_progress {
    std::atomic<std::uint64_t> next_unit{0};
    std::atomic<std::uint64_t> plaintext_done{0};
    std::atomic<bool> failed{false};
    std::mutex error_mutex;
    std::error_code error;
    std::vector<core::sha1_digest> piece_hashes;   // one slot per piece, each written once
    std::vector<core::sha256_digest> piece_roots;  // one slot per piece, each written once

    void fail(std::error_code ec) {
        const std::lock_guard lock(error_mutex);
        if (!error)
            error = ec;
        failed.store(true, std::memory_order_release);
    }
};

/** BEP 52 root of one piece: @p leaves padded with zero hashes to @p width (a power of two). */
core::sha256_digest piece_root(std::vector<core::sha256_digest>& leaves, std::size_t width) {
    leaves.resize(width, core::sha256_digest{});
    std::uint8_t pair[64];
    while (leaves.size() > 1) {
        for (std::size_t index = 0; index < leaves.size() / 2; ++index) {
            std::copy(leaves[2 * index].begin(), leaves[2 * index].end(), pair);
            std::copy(leaves[2 * index + 1].begin(), leaves[2 * index + 1].end(), pair + 32);
            leaves[index] = core::sha256(pair);
        }
        leaves.resize(leaves.size() / 2);
    }
    return leaves.front();
}

/**
 * One packaging thread: takes units (whole pieces of the container) until none is left, and for
 * each step of chunk_size bytes reads the plaintext, seals the segments in place, hashes the
 * stored bytes (SHA-1 of the piece, SHA-256 of each 16 KiB leaf) and writes them at their
 * offset, so each byte is touched while it is in the cache. Holds one chunk of memory.
 */
class package_worker {
  public:
    package_worker(const package_plan& plan, package_progress& progress)
        : plan_(plan),
          progress_(progress),
          cipher_(plan.cek, *plan.header, plan.header_bytes),
          sha1_(core::hash_algorithm::sha1),
          sha256_(core::hash_algorithm::sha256),
          buffer_(plan.chunk_size) {
        leaves_.reserve(plan.piece_size / block_size);
    }

    /** Runs units until done or failed; @p after_unit (may be empty) runs after each unit. */
    void run(const std::function<void()>& after_unit) {
        while (!progress_.failed.load(std::memory_order_acquire)) {
            const std::uint64_t unit = progress_.next_unit.fetch_add(1, std::memory_order_relaxed);
            if (unit >= plan_.unit_count)
                return;
            std::error_code ec;
            process_unit(unit, ec);
            if (ec) {
                progress_.fail(ec);
                return;
            }
            if (after_unit)
                after_unit();
        }
    }

  private:
    void process_unit(std::uint64_t unit, std::error_code& ec) {
        const std::uint64_t begin = unit * plan_.unit_size;
        const std::uint64_t end = std::min(begin + plan_.unit_size, plan_.container_size);
        for (std::uint64_t offset = begin; offset < end && !ec; offset += plan_.chunk_size) {
            const auto size =
                static_cast<std::size_t>(std::min<std::uint64_t>(plan_.chunk_size, end - offset));
            const std::uint64_t plain = fill_chunk(offset, size, ec);
            if (ec)
                return;
            hash_chunk(offset, size);
            if (!write_all_at(plan_.output, buffer_.data(), size, offset)) {
                ec = core::errc::io_error;
                return;
            }
            progress_.plaintext_done.fetch_add(plain, std::memory_order_relaxed);
        }
    }

    /** Puts the stored bytes of container [offset, offset + size) in the buffer.
     *  @return the plaintext bytes it holds */
    std::uint64_t fill_chunk(std::uint64_t offset, std::size_t size, std::error_code& ec) {
        const container_header& header = *plan_.header;
        const std::uint64_t slot_size = header.segment_size;
        const std::uint64_t first_slot = offset / slot_size;
        const std::uint64_t slot_end = (offset + size + slot_size - 1) / slot_size;
        iovec vectors[min_chunk_size / min_segment_size];  // chunk_size / S slots at most
        int vector_count = 0;
        std::uint64_t first_segment = 0;
        std::uint64_t plain_total = 0;
        for (std::uint64_t slot = first_slot; slot < slot_end; ++slot) {
            std::uint8_t* at = buffer_.data() + (slot - first_slot) * slot_size;
            if (slot == 0) {
                std::copy(plan_.header_bytes.begin(), plan_.header_bytes.end(), at);
                continue;
            }
            const std::uint64_t segment = slot - 1;
            if (vector_count == 0)
                first_segment = segment;
            const std::uint64_t plain = header.segment_plaintext_size(segment);
            vectors[vector_count++] = iovec{at, static_cast<std::size_t>(plain)};
            plain_total += plain;
        }
        if (vector_count > 0 && !read_vectors_at(plan_.input, vectors, vector_count,
                                                 first_segment * header.chunk_size())) {
            ec = core::errc::io_error;  // the input shrank while being packaged
            return 0;
        }
        for (std::uint64_t slot = std::max<std::uint64_t>(first_slot, 1); slot < slot_end; ++slot) {
            const std::uint64_t segment = slot - 1;
            std::uint8_t* at = buffer_.data() + (slot - first_slot) * slot_size;
            cipher_.seal(segment, core::mutable_byte_view(at, header.segment_stored_size(segment)),
                         ec);
            if (ec)
                return 0;
        }
        return plain_total;
    }

    /** Hashes container [offset, offset + size), finishing every piece that ends in it. */
    void hash_chunk(std::uint64_t offset, std::size_t size) {
        for (std::size_t at = 0; at < size; at += block_size) {
            const std::size_t take = std::min(block_size, size - at);
            const core::byte_view block(buffer_.data() + at, take);
            sha1_.update(block);
            sha256_.update(block);
            core::sha256_digest leaf{};
            sha256_.finish(leaf);
            leaves_.push_back(leaf);
            const std::uint64_t done = offset + at + take;
            if (done % plan_.piece_size == 0 || done == plan_.container_size)
                finish_piece((done - 1) / plan_.piece_size);
        }
    }

    void finish_piece(std::uint64_t piece) {
        sha1_.finish(progress_.piece_hashes[piece]);
        std::size_t width = plan_.piece_size / block_size;
        if (plan_.single_piece) {
            width = 1;
            while (width < leaves_.size())
                width *= 2;
        }
        progress_.piece_roots[piece] = piece_root(leaves_, width);
        leaves_.clear();
    }

    const package_plan& plan_;
    package_progress& progress_;
    segment_cipher cipher_;
    core::hasher sha1_;
    core::hasher sha256_;
    core::byte_vector buffer_;
    std::vector<core::sha256_digest> leaves_;
};

/** Runs a worker, turning exceptions into the call's first error. */
void run_worker(const package_plan& plan, package_progress& progress,
                const std::function<void()>& after_unit) {
    try {
        package_worker worker(plan, progress);
        worker.run(after_unit);
    } catch (const std::system_error& error) {
        progress.fail(error.code());
    } catch (const std::exception&) {
        progress.fail(core::errc::crypto_failure);
    }
}

/**
 * Packages with @p threads threads (the calling thread included) over units of whole pieces.
 * @return the piece hashes and roots in @p progress; @p ec the first error
 */
void run_package(package_plan& plan, package_progress& progress, unsigned threads,
                 const package_options& options, std::uint64_t plaintext_size,
                 std::error_code& ec) {
    // A unit is whole pieces and whole chunks; a chunk is whole segment slots (S and the piece
    // size are powers of two with S <= piece size).
    plan.unit_size = std::max<std::uint64_t>(plan.piece_size, min_unit_size);
    plan.chunk_size = static_cast<std::size_t>(std::min<std::uint64_t>(
        std::max<std::uint64_t>(plan.header->segment_size, min_chunk_size), plan.unit_size));
    plan.unit_count = (plan.container_size + plan.unit_size - 1) / plan.unit_size;
    plan.single_piece = plan.container_size <= plan.piece_size;
    const std::uint64_t piece_count = (plan.container_size + plan.piece_size - 1) / plan.piece_size;
    progress.piece_hashes.assign(piece_count, core::sha1_digest{});
    progress.piece_roots.assign(piece_count, core::sha256_digest{});

    const unsigned helpers = static_cast<unsigned>(std::min<std::uint64_t>(
                                 std::clamp(threads, 1u, max_threads), plan.unit_count)) -
                             1;
    std::vector<std::thread> pool;
    pool.reserve(helpers);
    try {
        for (unsigned index = 0; index < helpers; ++index)
            pool.emplace_back([&] { run_worker(plan, progress, {}); });
    } catch (const std::system_error& error) {
        progress.fail(error.code());  // no thread: the started ones stop at their next unit
    }
    const std::function<void()> report = [&] {
        if (options.progress)
            options.progress(progress.plaintext_done.load(std::memory_order_relaxed),
                             plaintext_size);
    };
    run_worker(plan, progress, report);
    for (std::thread& thread : pool)
        thread.join();
    ec = progress.error;
    if (!ec) {
        std::uint8_t extra = 0;
        if (::pread(plan.input, &extra, 1, static_cast<off_t>(plaintext_size)) != 0)
            ec = core::errc::io_error;  // the input grew
    }
    if (!ec && options.progress)
        options.progress(plaintext_size, plaintext_size);
}

}  // namespace

package_result package_file(const std::filesystem::path& input,
                            const std::filesystem::path& container_path,
                            const std::filesystem::path& torrent_path,
                            const package_options& options, std::error_code& ec) {
    ec.clear();
    package_result result;
    if (!valid_segment_size(options.segment_size)) {
        ec = errc::container_bad_segment_size;
        return result;
    }
    const file_descriptor source(::open(input.c_str(), O_RDONLY | O_CLOEXEC));
    if (source.get() < 0) {
        ec = errno == ENOENT ? core::errc::not_found : core::errc::io_error;
        return result;
    }
    struct stat info {};
    if (::fstat(source.get(), &info) != 0 || !S_ISREG(info.st_mode)) {
        ec = core::errc::io_error;
        return result;
    }
    ::posix_fadvise(source.get(), 0, 0, POSIX_FADV_SEQUENTIAL);

    container_header header;
    header.segment_size = options.segment_size;
    header.plaintext_size = static_cast<std::uint64_t>(info.st_size);
    header.content_type = options.content_type;
    header.file_name = options.file_name.empty() ? input.filename().string() : options.file_name;
    core::secret_bytes cek(content_key_size);
    try {
        core::random_bytes(cek.mutable_view());
        core::random_bytes(header.kid);
        core::random_bytes(header.salt);
    } catch (const std::system_error& error) {
        ec = error.code();
        return result;
    }
    const core::byte_vector header_bytes = encode_header(header, ec);
    if (ec)
        return result;
    const std::uint64_t container_size = header.container_size();
    const std::uint32_t piece_size = options.torrent.piece_size != 0
                                         ? options.torrent.piece_size
                                         : choose_piece_size(container_size, header.segment_size);
    if (!detail::valid_piece_size(piece_size, header.segment_size)) {
        ec = core::errc::invalid_argument;
        return result;
    }

    const std::filesystem::path container_temporary = temporary_name(container_path);
    const std::filesystem::path torrent_temporary = temporary_name(torrent_path);
    const auto cleanup = [&] {
        std::error_code ignored;
        std::filesystem::remove(container_temporary, ignored);
        std::filesystem::remove(torrent_temporary, ignored);
    };
    file_descriptor sink(
        ::open(container_temporary.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644));
    if (sink.get() < 0) {
        ec = core::errc::io_error;
        return result;
    }
    // Reserve the whole container up front: the workers write their units out of order, and
    // a full disk shows now rather than after most of the work.
    if (::fallocate(sink.get(), 0, 0, static_cast<off_t>(container_size)) != 0 &&
        errno != EOPNOTSUPP && errno != ENOSYS) {
        ec = core::errc::io_error;
        sink.close();
        cleanup();
        return result;
    }
    package_plan plan;
    plan.header = &header;
    plan.header_bytes = header_bytes;
    plan.cek = cek.view();
    plan.container_size = container_size;
    plan.piece_size = piece_size;
    plan.input = source.get();
    plan.output = sink.get();
    package_progress progress;
    run_package(plan, progress, options.threads, options, header.plaintext_size, ec);
    if (!sink.close() && !ec)
        ec = core::errc::io_error;
    if (ec) {
        cleanup();
        return result;
    }

    const core::byte_vector torrent =
        detail::build_torrent(container_path.filename().string(), container_size, piece_size,
                              progress.piece_hashes, progress.piece_roots, options.torrent, ec);
    if (ec) {
        cleanup();
        return result;
    }
    {
        std::ofstream out(torrent_temporary, std::ios::binary | std::ios::trunc);
        out.write(reinterpret_cast<const char*>(torrent.data()),
                  static_cast<std::streamsize>(torrent.size()));
        out.close();
        if (!out)
            ec = core::errc::io_error;
    }
    const torrent_summary summary = ec ? torrent_summary{} : inspect_torrent(torrent, ec);
    if (!ec)
        std::filesystem::rename(container_temporary, container_path, ec);
    if (!ec)
        std::filesystem::rename(torrent_temporary, torrent_path, ec);
    if (ec) {
        ec = core::errc::io_error;
        cleanup();
        return result;
    }

    result.cek = std::move(cek);
    result.kid = header.kid;
    result.container_path = container_path;
    result.torrent_path = torrent_path;
    result.plaintext_size = header.plaintext_size;
    result.container_size = container_size;
    result.segment_size = header.segment_size;
    result.segment_count = header.segment_count();
    result.piece_size = piece_size;
    result.piece_count = progress.piece_hashes.size();
    result.infohash_v1 = summary.infohash_v1;
    result.infohash_v2 = summary.infohash_v2;
    result.content_type = header.content_type;
    result.file_name = header.file_name;
    return result;
}

package_result package_file(const std::filesystem::path& input,
                            const std::filesystem::path& container_path,
                            const std::filesystem::path& torrent_path,
                            const package_options& options) {
    std::error_code ec;
    package_result result = package_file(input, container_path, torrent_path, options, ec);
    if (ec)
        core::throw_error(ec, input.string());
    return result;
}

void write_content_key_file(const std::filesystem::path& path, const content_key& key,
                            std::error_code& ec) {
    const nlohmann::json json = {{"kid", core::base64url_encode(key.kid)},
                                 {"cek", core::base64url_encode(key.cek.view())}};
    std::string text = json.dump();
    core::write_secret_file(path, core::as_bytes(text), ec);
    std::fill(text.begin(), text.end(), '\0');
}

content_key read_content_key_file(const std::filesystem::path& path, std::error_code& ec) {
    content_key key;
    const core::secret_bytes contents = core::read_secret_file(path, ec);
    if (ec)
        return key;
    const auto json = nlohmann::json::parse(core::as_string_view(contents.view()), nullptr, false);
    if (json.is_discarded() || !json.is_object() || !json.contains("kid") ||
        !json.contains("cek") || !json["kid"].is_string() || !json["cek"].is_string()) {
        ec = errc::key_file_malformed;
        return key;
    }
    std::error_code decode_error;
    const core::byte_vector kid =
        core::base64url_decode(json["kid"].get_ref<const std::string&>(), decode_error);
    core::byte_vector cek =
        core::base64url_decode(json["cek"].get_ref<const std::string&>(), decode_error);
    if (decode_error || kid.size() != key.kid.size() || cek.size() != content_key_size) {
        std::fill(cek.begin(), cek.end(), std::uint8_t{0});
        ec = errc::key_file_malformed;
        return key;
    }
    std::copy(kid.begin(), kid.end(), key.kid.begin());
    key.cek = core::secret_bytes(cek);
    std::fill(cek.begin(), cek.end(), std::uint8_t{0});
    ec.clear();
    return key;
}

}  // namespace imsp2p::drm
