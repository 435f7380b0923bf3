#include <imsp2p/drm/packager.hpp>

#include <imsp2p/core/encoding.hpp>
#include <imsp2p/core/error.hpp>
#include <imsp2p/core/key_file.hpp>
#include <imsp2p/drm/error.hpp>

#include "torrent_builder.hpp"

#include <nlohmann/json.hpp>

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <condition_variable>
#include <deque>
#include <exception>
#include <fstream>
#include <mutex>
#include <thread>
#include <vector>

namespace imsp2p::drm {

namespace {

constexpr std::size_t block_size = 16 * 1024;  // BEP 52 merkle leaf size
constexpr std::size_t batch_count = 6;
constexpr std::size_t min_batch_size = 1024 * 1024;

/** v1 SHA-1 piece hashes of one single-file torrent, fed in order. */
class v1_piece_hasher {
  public:
    explicit v1_piece_hasher(std::uint32_t piece_size)
        : sha1_(core::hash_algorithm::sha1), piece_size_(piece_size) {}

    void update(core::byte_view data) {
        while (!data.empty()) {
            const std::size_t take =
                static_cast<std::size_t>(std::min<std::uint64_t>(data.size(), piece_size_ - fill_));
            sha1_.update(data.first(take));
            fill_ += take;
            data = data.subspan(take);
            if (fill_ == piece_size_)
                finish_piece();
        }
    }

    void finish() {
        if (fill_ > 0)
            finish_piece();
    }

    std::vector<core::sha1_digest> piece_hashes;

  private:
    void finish_piece() {
        core::sha1_digest digest{};
        sha1_.finish(digest);
        piece_hashes.push_back(digest);
        fill_ = 0;
    }

    core::hasher sha1_;
    std::uint32_t piece_size_;
    std::uint64_t fill_ = 0;
};

/** v2 (BEP 52) SHA-256 piece roots of one single-file torrent, fed in order. */
class v2_piece_hasher {
  public:
    v2_piece_hasher(std::uint32_t piece_size, std::uint64_t total_size)
        : sha256_(core::hash_algorithm::sha256),
          piece_size_(piece_size),
          single_piece_(total_size <= piece_size) {}

    void update(core::byte_view data) {
        while (!data.empty()) {
            const std::size_t take = std::min(data.size(), block_size - block_fill_);
            sha256_.update(data.first(take));
            block_fill_ += take;
            piece_fill_ += take;
            data = data.subspan(take);
            if (block_fill_ == block_size)
                finish_block();
            if (piece_fill_ == piece_size_)
                finish_piece();
        }
    }

    void finish() {
        if (block_fill_ > 0)
            finish_block();
        if (piece_fill_ > 0)
            finish_piece();
    }

    std::vector<core::sha256_digest> piece_roots;

  private:
    void finish_block() {
        core::sha256_digest leaf{};
        sha256_.finish(leaf);
        leaves_.push_back(leaf);
        block_fill_ = 0;
    }

    void finish_piece() {
        // BEP 52: leaves past the end of the file are zero hashes. A piece of a multi-piece
        // file is a full subtree of piece_size/16 KiB leaves; a file of one piece is padded
        // to the next power of two only.
        std::size_t width = 1;
        while (width < leaves_.size())
            width *= 2;
        if (!single_piece_)
            width = piece_size_ / block_size;
        leaves_.resize(width, core::sha256_digest{});
        while (leaves_.size() > 1) {
            for (std::size_t index = 0; index < leaves_.size() / 2; ++index) {
                std::uint8_t pair[64];
                std::copy(leaves_[2 * index].begin(), leaves_[2 * index].end(), pair);
                std::copy(leaves_[2 * index + 1].begin(), leaves_[2 * index + 1].end(), pair + 32);
                leaves_[index] = core::sha256(pair);
            }
            leaves_.resize(leaves_.size() / 2);
        }
        piece_roots.push_back(leaves_.front());
        leaves_.clear();
        piece_fill_ = 0;
    }

    core::hasher sha256_;
    std::uint32_t piece_size_;
    bool single_piece_;
    std::size_t block_fill_ = 0;
    std::uint64_t piece_fill_ = 0;
    std::vector<core::sha256_digest> leaves_;
};

/** Both hashes of a hybrid torrent. */
struct piece_hasher {
    piece_hasher(std::uint32_t piece_size, std::uint64_t total_size)
        : v1(piece_size), v2(piece_size, total_size) {}
    v1_piece_hasher v1;
    v2_piece_hasher v2;
};

struct batch {
    core::byte_vector data;
    std::size_t size = 0;
    std::atomic<int> pending{0};  // hash workers still reading it
};

/** A closable blocking queue of batch pointers. */
class batch_queue {
  public:
    void push(batch* item) {
        {
            const std::lock_guard lock(mutex_);
            items_.push_back(item);
        }
        ready_.notify_one();
    }
    /** @return the next batch, or nullptr once closed and drained */
    batch* pop() {
        std::unique_lock lock(mutex_);
        ready_.wait(lock, [this] { return !items_.empty() || closed_; });
        if (items_.empty())
            return nullptr;
        batch* item = items_.front();
        items_.pop_front();
        return item;
    }
    void close() {
        {
            const std::lock_guard lock(mutex_);
            closed_ = true;
        }
        ready_.notify_all();
    }

  private:
    std::mutex mutex_;
    std::condition_variable ready_;
    std::deque<batch*> items_;
    bool closed_ = false;
};

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

bool read_exactly(int fd, std::uint8_t* out, std::size_t size) {
    std::size_t done = 0;
    while (done < size) {
        const ssize_t got = ::read(fd, out + done, size - done);
        if (got < 0 && errno == EINTR)
            continue;
        if (got <= 0)
            return false;
        done += static_cast<std::size_t>(got);
    }
    return true;
}

bool write_all(int fd, const std::uint8_t* data, std::size_t size) {
    std::size_t done = 0;
    while (done < size) {
        const ssize_t put = ::write(fd, data + done, size - done);
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

/** Runs the encrypt/write (calling thread) and hash (two workers) pipeline. */
void run_pipeline(int input, int output, const container_header& header,
                  const core::byte_vector& header_bytes, segment_cipher& cipher,
                  piece_hasher& hashes, const package_options& options, std::error_code& ec) {
    const std::size_t batch_size = std::max<std::size_t>(header.segment_size, min_batch_size);
    std::vector<batch> storage(batch_count);
    batch_queue free_batches;
    for (batch& item : storage) {
        item.data.resize(batch_size);
        free_batches.push(&item);
    }
    // Two hash workers (SHA-1 for v1, SHA-256 for v2) read every batch; the last one to
    // finish with a batch returns it to the free list. The calling thread encrypts and writes.
    const bool pipelined = options.threads >= 2;
    std::exception_ptr hasher_errors[2];
    batch_queue full_batches[2];
    std::thread workers[2];
    const auto release = [&](batch* item) {
        if (item->pending.fetch_sub(1, std::memory_order_acq_rel) == 1)
            free_batches.push(item);
    };
    const auto hash_loop = [&](int which) {
        while (batch* item = full_batches[which].pop()) {
            if (!hasher_errors[which]) {
                try {
                    const core::byte_view data = core::byte_view(item->data).first(item->size);
                    if (which == 0)
                        hashes.v1.update(data);
                    else
                        hashes.v2.update(data);
                } catch (...) {
                    hasher_errors[which] = std::current_exception();
                }
            }
            release(item);
        }
    };
    const auto stop_workers = [&] {
        if (!pipelined)
            return;
        for (int which = 0; which < 2; ++which) {
            full_batches[which].close();
            workers[which].join();
        }
    };
    if (pipelined) {
        workers[0] = std::thread(hash_loop, 0);
        workers[1] = std::thread(hash_loop, 1);
    }
    const auto flush = [&](batch* item) {
        if (!write_all(output, item->data.data(), item->size)) {
            ec = core::errc::io_error;
            free_batches.push(item);
            return;
        }
        if (pipelined) {
            item->pending.store(2, std::memory_order_release);
            full_batches[0].push(item);
            full_batches[1].push(item);
        } else {
            const core::byte_view data = core::byte_view(item->data).first(item->size);
            hashes.v1.update(data);
            hashes.v2.update(data);
            free_batches.push(item);
        }
    };

    batch* current = free_batches.pop();
    std::copy(header_bytes.begin(), header_bytes.end(), current->data.begin());
    current->size = header_bytes.size();
    const std::uint64_t count = header.segment_count();
    std::uint64_t done = 0;
    try {
        for (std::uint64_t index = 0; index < count && !ec; ++index) {
            const std::size_t plain = header.segment_plaintext_size(index);
            const std::size_t stored = plain + segment_tag_size;
            if (current->size + stored > current->data.size()) {
                flush(current);
                if (ec)
                    break;
                current = free_batches.pop();
                current->size = 0;
                if (options.progress)
                    options.progress(done, header.plaintext_size);
            }
            std::uint8_t* slot = current->data.data() + current->size;
            if (!read_exactly(input, slot, plain)) {
                ec = core::errc::io_error;  // the input shrank while being packaged
                break;
            }
            cipher.seal(index, core::mutable_byte_view(slot, stored), ec);
            current->size += stored;
            done += plain;
        }
        if (!ec) {
            std::uint8_t extra = 0;
            if (::read(input, &extra, 1) != 0)
                ec = core::errc::io_error;  // the input grew
        }
        if (!ec)
            flush(current);
    } catch (...) {
        stop_workers();
        throw;
    }
    stop_workers();
    for (const auto& error : hasher_errors) {
        if (error)
            std::rethrow_exception(error);
    }
    if (!ec) {
        hashes.v1.finish();
        hashes.v2.finish();
        if (options.progress)
            options.progress(done, header.plaintext_size);
    }
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
    piece_hasher hashes(piece_size, container_size);
    try {
        segment_cipher cipher(cek, header, header_bytes);
        run_pipeline(source.get(), sink.get(), header, header_bytes, cipher, hashes, options, ec);
    } catch (const std::system_error& error) {
        ec = error.code();
    } catch (const std::exception&) {
        ec = core::errc::crypto_failure;
    }
    if (!sink.close() && !ec)
        ec = core::errc::io_error;
    if (ec) {
        cleanup();
        return result;
    }

    const core::byte_vector torrent =
        detail::build_torrent(container_path.filename().string(), container_size, piece_size,
                              hashes.v1.piece_hashes, hashes.v2.piece_roots, options.torrent, ec);
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
    result.piece_count = hashes.v1.piece_hashes.size();
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
