#include <imsp2p/drm/container.hpp>

#include <imsp2p/core/error.hpp>
#include <imsp2p/drm/error.hpp>

#include "byte_order.hpp"

#include <nlohmann/json.hpp>

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <fstream>
#include <limits>
#include <ostream>
#include <vector>

namespace imsp2p::drm {

std::uint64_t container_header::segment_count() const noexcept {
    const std::uint64_t chunk = chunk_size();
    if (plaintext_size == 0)
        return 1;
    return plaintext_size / chunk + (plaintext_size % chunk != 0 ? 1 : 0);
}

std::uint64_t container_header::container_size() const noexcept {
    return segment_size + plaintext_size + segment_tag_size * segment_count();
}

std::uint64_t container_header::segment_offset(std::uint64_t index) const noexcept {
    return static_cast<std::uint64_t>(segment_size) * (index + 1);
}

std::uint64_t container_header::segment_plaintext_size(std::uint64_t index) const noexcept {
    const std::uint64_t start = index * chunk_size();
    if (start >= plaintext_size)
        return 0;
    return std::min(chunk_size(), plaintext_size - start);
}

namespace {

bool sizes_fit(std::uint32_t segment_size, std::uint64_t plaintext_size) {
    // Keep S + P + 16*n (and every segment offset) well inside 64 bits.
    constexpr std::uint64_t limit = std::uint64_t{1} << 62;
    if (plaintext_size > limit)
        return false;
    const std::uint64_t chunk = segment_size - segment_tag_size;
    const std::uint64_t count = plaintext_size / chunk + 1;
    return count < limit / segment_size;
}

bool metadata_valid(const std::string& text, std::string* content_type, std::string* file_name) {
    const auto json = nlohmann::json::parse(text, nullptr, false);
    if (json.is_discarded() || !json.is_object())
        return false;
    for (const auto& [key, target] :
         {std::pair{"content_type", content_type}, std::pair{"file_name", file_name}}) {
        const auto found = json.find(key);
        if (found == json.end())
            continue;
        if (!found->is_string())
            return false;
        if (target != nullptr)
            *target = found->get<std::string>();
    }
    return true;
}

}  // namespace

core::byte_vector encode_header(const container_header& header, std::error_code& ec) {
    ec.clear();
    if (!valid_segment_size(header.segment_size)) {
        ec = errc::container_bad_segment_size;
        return {};
    }
    if (!sizes_fit(header.segment_size, header.plaintext_size)) {
        ec = errc::container_bad_header;
        return {};
    }
    std::string meta = header.metadata_json;
    if (meta.empty()) {
        nlohmann::json json = nlohmann::json::object();
        if (!header.content_type.empty())
            json["content_type"] = header.content_type;
        if (!header.file_name.empty())
            json["file_name"] = header.file_name;
        meta = json.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
    }
    if (meta.size() > header.segment_size - container_fixed_header_size ||
        !metadata_valid(meta, nullptr, nullptr)) {
        ec = errc::container_bad_metadata;
        return {};
    }
    core::byte_vector out(header.segment_size, 0);
    std::memcpy(out.data(), container_magic.data(), container_magic.size());
    out[8] = container_version;
    out[9] = container_suite_aes256gcm;
    // out[10..11]: reserved zero
    detail::store_be32(out.data() + 12, header.segment_size);
    detail::store_be64(out.data() + 16, header.plaintext_size);
    std::copy(header.kid.begin(), header.kid.end(), out.begin() + 24);
    std::copy(header.salt.begin(), header.salt.end(), out.begin() + 40);
    detail::store_be32(out.data() + 72, static_cast<std::uint32_t>(meta.size()));
    std::memcpy(out.data() + container_fixed_header_size, meta.data(), meta.size());
    return out;
}

container_header parse_header(core::byte_view bytes, std::error_code& ec) {
    ec.clear();
    const auto fail = [&ec](errc code) {
        ec = code;
        return container_header{};
    };
    if (bytes.empty())
        return fail(errc::container_truncated);
    const std::size_t magic_bytes = std::min(bytes.size(), container_magic.size());
    if (std::memcmp(bytes.data(), container_magic.data(), magic_bytes) != 0)
        return fail(errc::container_bad_magic);
    if (bytes.size() < container_fixed_header_size)
        return fail(errc::container_truncated);
    if (bytes[8] != container_version || bytes[9] != container_suite_aes256gcm)
        return fail(errc::container_unsupported);
    if (bytes[10] != 0 || bytes[11] != 0)
        return fail(errc::container_bad_padding);
    container_header header;
    header.segment_size = detail::load_be32(bytes.data() + 12);
    if (!valid_segment_size(header.segment_size))
        return fail(errc::container_bad_segment_size);
    header.plaintext_size = detail::load_be64(bytes.data() + 16);
    if (!sizes_fit(header.segment_size, header.plaintext_size))
        return fail(errc::container_bad_header);
    std::copy_n(bytes.begin() + 24, header.kid.size(), header.kid.begin());
    std::copy_n(bytes.begin() + 40, header.salt.size(), header.salt.begin());
    const std::uint32_t meta_len = detail::load_be32(bytes.data() + 72);
    if (meta_len > header.segment_size - container_fixed_header_size)
        return fail(errc::container_bad_metadata);
    if (bytes.size() < header.segment_size)
        return fail(errc::container_truncated);
    const auto meta_begin = bytes.begin() + container_fixed_header_size;
    header.metadata_json.assign(meta_begin, meta_begin + meta_len);
    if (!metadata_valid(header.metadata_json, &header.content_type, &header.file_name))
        return fail(errc::container_bad_metadata);
    if (!std::all_of(meta_begin + meta_len, bytes.begin() + header.segment_size,
                     [](std::uint8_t byte) { return byte == 0; }))
        return fail(errc::container_bad_padding);
    return header;
}

container_header parse_header(core::byte_view bytes) {
    std::error_code ec;
    container_header header = parse_header(bytes, ec);
    if (ec)
        core::throw_error(ec, "container header");
    return header;
}

// ---------------------------------------------------------------------------------------------
// segment_cipher

struct segment_cipher::impl {
    core::aes256gcm aead;
    core::sha256_digest header_hash{};
    container_header header;
    std::uint64_t count = 0;

    void make_nonce_and_aad(std::uint64_t index, std::uint8_t* nonce, std::uint8_t* aad) const {
        detail::store_be32(nonce, 0);
        detail::store_be64(nonce + 4, index);
        std::memcpy(aad, header_hash.data(), header_hash.size());
        detail::store_be64(aad + 32, index);
        aad[40] = index + 1 == count ? 1 : 0;
    }
};

segment_cipher::segment_cipher(core::byte_view cek, const container_header& header,
                               core::byte_view header_bytes)
    : impl_(std::make_unique<impl>()) {
    if (cek.size() != content_key_size)
        core::throw_error(core::errc::bad_key_size, "CEK");
    const core::secret_bytes key =
        core::hkdf_sha256(cek, header.salt, core::as_bytes(segment_key_info), 32);
    impl_->aead = core::aes256gcm(key.view());
    impl_->header_hash = core::sha256(header_bytes);
    impl_->header = header;
    impl_->count = header.segment_count();
}

segment_cipher::segment_cipher(segment_cipher&& other) noexcept = default;
segment_cipher& segment_cipher::operator=(segment_cipher&& other) noexcept = default;
segment_cipher::~segment_cipher() = default;

void segment_cipher::seal(std::uint64_t index, core::mutable_byte_view buffer,
                          std::error_code& ec) {
    ec.clear();
    if (index >= impl_->count) {
        ec = errc::segment_out_of_range;
        return;
    }
    const std::uint64_t plain = impl_->header.segment_plaintext_size(index);
    if (buffer.size() != plain + segment_tag_size) {
        ec = core::errc::invalid_argument;
        return;
    }
    std::uint8_t nonce[12];
    std::uint8_t aad[41];
    impl_->make_nonce_and_aad(index, nonce, aad);
    impl_->aead.seal(nonce, aad, buffer.first(plain), buffer.first(plain),
                     buffer.subspan(plain, segment_tag_size), ec);
}

bool segment_cipher::open(std::uint64_t index, core::byte_view stored,
                          core::mutable_byte_view plaintext_out, std::error_code& ec) {
    ec.clear();
    if (index >= impl_->count) {
        ec = errc::segment_out_of_range;
        return false;
    }
    const std::uint64_t plain = impl_->header.segment_plaintext_size(index);
    if (stored.size() != plain + segment_tag_size || plaintext_out.size() < plain) {
        ec = errc::container_truncated;
        return false;
    }
    std::uint8_t nonce[12];
    std::uint8_t aad[41];
    impl_->make_nonce_and_aad(index, nonce, aad);
    if (!impl_->aead.open(nonce, aad, stored.first(plain), stored.subspan(plain), plaintext_out,
                          ec)) {
        if (ec == core::errc::authentication_failed)
            ec = errc::segment_tampered;
        return false;
    }
    return true;
}

// ---------------------------------------------------------------------------------------------
// container_reader

struct container_reader::impl {
    int fd = -1;
    container_header header;
    core::byte_vector header_bytes;
    std::unique_ptr<segment_cipher> cipher;
    core::byte_vector scratch;  // one stored segment
    core::byte_vector probe;    // plaintext room for diagnosis

    ~impl() {
        if (fd >= 0)
            ::close(fd);
    }

    bool read_at(std::uint64_t offset, core::mutable_byte_view out, std::error_code& ec) const {
        std::size_t done = 0;
        while (done < out.size()) {
            const ssize_t got = ::pread(fd, out.data() + done, out.size() - done,
                                        static_cast<off_t>(offset + done));
            if (got < 0 && errno == EINTR)
                continue;
            if (got < 0) {
                ec = core::errc::io_error;
                return false;
            }
            if (got == 0) {
                ec = errc::container_truncated;
                return false;
            }
            done += static_cast<std::size_t>(got);
        }
        return true;
    }

    bool read_segment(std::uint64_t index, std::error_code& ec) {
        scratch.resize(header.segment_stored_size(index));
        return read_at(header.segment_offset(index), scratch, ec);
    }

    // Decides why segment `index` (whose bytes are in `stored`) failed its tag.
    std::error_code diagnose(std::uint64_t index, core::byte_view stored) {
        const std::uint64_t count = header.segment_count();
        std::error_code ignored;
        probe.resize(header.chunk_size());
        // Reordered or spliced: the bytes authenticate at another index of the same size.
        constexpr std::uint64_t max_candidates = 4096;
        const std::uint64_t first = index > max_candidates / 2 ? index - max_candidates / 2 : 0;
        const std::uint64_t last = std::min(count, first + max_candidates);
        for (std::uint64_t candidate = first; candidate < last; ++candidate) {
            if (candidate == index || header.segment_stored_size(candidate) != stored.size())
                continue;
            if (cipher->open(candidate, stored, probe, ignored))
                return errc::segment_reordered;
        }
        // Wrong key (or altered header, which changes every AAD): another segment fails too.
        if (count > 1) {
            const std::uint64_t other = index == 0 ? count - 1 : 0;
            core::byte_vector other_stored(header.segment_stored_size(other));
            if (read_at(header.segment_offset(other), other_stored, ignored) &&
                !cipher->open(other, other_stored, probe, ignored))
                return errc::wrong_key;
            return errc::segment_tampered;
        }
        return errc::wrong_key;
    }
};

container_reader::container_reader() noexcept = default;
container_reader::container_reader(container_reader&& other) noexcept = default;
container_reader& container_reader::operator=(container_reader&& other) noexcept = default;
container_reader::~container_reader() = default;

container_reader container_reader::open(const std::filesystem::path& path, std::error_code& ec) {
    ec.clear();
    container_reader reader;
    auto state = std::make_unique<impl>();
    state->fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
    if (state->fd < 0) {
        ec = errno == ENOENT ? core::errc::not_found : core::errc::io_error;
        return reader;
    }
    struct stat info {};
    if (::fstat(state->fd, &info) != 0) {
        ec = core::errc::io_error;
        return reader;
    }
    const auto file_size = static_cast<std::uint64_t>(info.st_size);
    core::byte_vector fixed(std::min<std::uint64_t>(file_size, container_fixed_header_size));
    if (!state->read_at(0, fixed, ec))
        return reader;
    (void)parse_header(fixed, ec);
    if (ec != errc::container_truncated || fixed.size() < container_fixed_header_size) {
        if (!ec)
            ec = errc::container_bad_header;  // cannot happen: S > 76
        return reader;
    }
    const std::uint32_t segment_size = detail::load_be32(fixed.data() + 12);
    if (file_size < segment_size) {
        ec = errc::container_truncated;
        return reader;
    }
    state->header_bytes.resize(segment_size);
    if (!state->read_at(0, state->header_bytes, ec))
        return reader;
    state->header = parse_header(state->header_bytes, ec);
    if (ec)
        return reader;
    const std::uint64_t expected = state->header.container_size();
    if (file_size < expected) {
        ec = errc::container_truncated;
        return reader;
    }
    if (file_size > expected) {
        ec = errc::container_trailing_data;
        return reader;
    }
    reader.impl_ = std::move(state);
    return reader;
}

container_reader container_reader::open(const std::filesystem::path& path) {
    std::error_code ec;
    container_reader reader = open(path, ec);
    if (ec)
        core::throw_error(ec, path.string());
    return reader;
}

bool container_reader::is_open() const noexcept {
    return impl_ != nullptr;
}

const container_header& container_reader::header() const noexcept {
    static const container_header empty;
    return impl_ ? impl_->header : empty;
}

void container_reader::set_key(core::byte_view cek, const content_kid* kid, std::error_code& ec) {
    ec.clear();
    if (!impl_) {
        ec = core::errc::invalid_argument;
        return;
    }
    if (cek.size() != content_key_size) {
        ec = core::errc::bad_key_size;
        return;
    }
    if (kid != nullptr && *kid != impl_->header.kid) {
        ec = errc::wrong_key;
        return;
    }
    impl_->cipher = std::make_unique<segment_cipher>(cek, impl_->header, impl_->header_bytes);
}

std::size_t container_reader::decrypt_segment(std::uint64_t index,
                                              core::mutable_byte_view plaintext_out,
                                              std::error_code& ec) {
    ec.clear();
    if (!impl_ || !impl_->cipher) {
        ec = core::errc::invalid_argument;
        return 0;
    }
    if (index >= impl_->header.segment_count()) {
        ec = errc::segment_out_of_range;
        return 0;
    }
    const std::uint64_t plain = impl_->header.segment_plaintext_size(index);
    if (plaintext_out.size() < plain) {
        ec = core::errc::invalid_argument;
        return 0;
    }
    if (!impl_->read_segment(index, ec))
        return 0;
    if (!impl_->cipher->open(index, impl_->scratch, plaintext_out, ec)) {
        if (ec == errc::segment_tampered) {
            const core::byte_vector stored = impl_->scratch;
            ec = impl_->diagnose(index, stored);
        }
        std::fill(plaintext_out.begin(), plaintext_out.end(), std::uint8_t{0});
        return 0;
    }
    return static_cast<std::size_t>(plain);
}

void container_reader::decrypt_to(std::ostream& out, std::error_code& ec,
                                  const progress_callback& progress) {
    ec.clear();
    if (!impl_ || !impl_->cipher) {
        ec = core::errc::invalid_argument;
        return;
    }
    const std::uint64_t count = impl_->header.segment_count();
    core::secret_bytes plaintext(impl_->header.chunk_size());
    std::uint64_t done = 0;
    for (std::uint64_t index = 0; index < count; ++index) {
        const std::size_t size = decrypt_segment(index, plaintext.mutable_view(), ec);
        if (ec)
            return;
        out.write(reinterpret_cast<const char*>(plaintext.data()),
                  static_cast<std::streamsize>(size));
        if (!out) {
            ec = core::errc::io_error;
            return;
        }
        done += size;
        if (progress)
            progress(done, impl_->header.plaintext_size);
    }
    out.flush();
    if (!out)
        ec = core::errc::io_error;
}

void container_reader::decrypt_to_file(const std::filesystem::path& path, std::error_code& ec,
                                       const progress_callback& progress) {
    ec.clear();
    std::filesystem::path partial = path;
    partial += ".part";
    {
        std::ofstream out(partial, std::ios::binary | std::ios::trunc);
        if (!out) {
            ec = core::errc::io_error;
            return;
        }
        decrypt_to(out, ec, progress);
        out.close();
        if (!ec && !out)
            ec = core::errc::io_error;
    }
    std::error_code ignored;
    if (ec) {
        std::filesystem::remove(partial, ignored);
        return;
    }
    std::filesystem::rename(partial, path, ignored);
    if (ignored) {
        std::filesystem::remove(partial, ignored);
        ec = core::errc::io_error;
    }
}

}  // namespace imsp2p::drm
