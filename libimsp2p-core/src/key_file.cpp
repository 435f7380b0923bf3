#include <imsp2p/core/key_file.hpp>

#include <imsp2p/core/error.hpp>

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <string>

namespace imsp2p::core {
namespace {

constexpr std::size_t max_secret_file_size = 1u << 20;

// Closes a descriptor on scope exit.
class file_descriptor {
  public:
    explicit file_descriptor(int fd) noexcept : fd_(fd) {}
    file_descriptor(const file_descriptor&) = delete;
    file_descriptor& operator=(const file_descriptor&) = delete;
    ~file_descriptor() {
        if (fd_ >= 0) {
            ::close(fd_);
        }
    }
    int get() const noexcept { return fd_; }
    int release() noexcept { return std::exchange(fd_, -1); }

  private:
    int fd_;
};

bool write_all(int fd, byte_view data) {
    std::size_t done = 0;
    while (done < data.size()) {
        const ssize_t n = ::write(fd, data.data() + done, data.size() - done);
        if (n < 0) {
            if (errno == EINTR) {
                continue;
            }
            return false;
        }
        done += static_cast<std::size_t>(n);
    }
    return true;
}

}  // namespace

void write_secret_file(const std::filesystem::path& path, byte_view contents, std::error_code& ec) {
    ec.clear();
    std::error_code fs_ec;
    const auto parent = path.parent_path();
    if (!parent.empty() && !std::filesystem::exists(parent, fs_ec)) {
        std::filesystem::create_directories(parent, fs_ec);
        if (fs_ec) {
            ec = errc::io_error;
            return;
        }
        std::filesystem::permissions(parent, std::filesystem::perms::owner_all, fs_ec);
    }
    std::string temporary = path.string() + ".tmp.XXXXXX";
    file_descriptor fd(::mkstemp(temporary.data()));  // mkstemp creates the file with 0600
    if (fd.get() < 0) {
        ec = errc::io_error;
        return;
    }
    const bool written = ::fchmod(fd.get(), S_IRUSR | S_IWUSR) == 0 &&
                         write_all(fd.get(), contents) && ::fsync(fd.get()) == 0;
    const bool closed = ::close(fd.release()) == 0;
    if (!written || !closed || ::rename(temporary.c_str(), path.c_str()) != 0) {
        ::unlink(temporary.c_str());
        ec = errc::io_error;
        return;
    }
    if (!parent.empty()) {  // make the rename durable
        file_descriptor dir(::open(parent.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
        if (dir.get() >= 0) {
            ::fsync(dir.get());
        }
    }
}

secret_bytes read_secret_file(const std::filesystem::path& path, std::error_code& ec) {
    ec.clear();
    file_descriptor fd(::open(path.c_str(), O_RDONLY | O_CLOEXEC | O_NOFOLLOW));
    if (fd.get() < 0) {
        ec = errno == ENOENT ? errc::not_found : errc::io_error;
        return {};
    }
    struct stat info {};
    if (::fstat(fd.get(), &info) != 0 || !S_ISREG(info.st_mode)) {
        ec = errc::io_error;
        return {};
    }
    if ((info.st_mode & (S_IRWXG | S_IRWXO)) != 0) {
        ec = errc::insecure_permissions;
        return {};
    }
    if (static_cast<std::size_t>(info.st_size) > max_secret_file_size) {
        ec = errc::io_error;
        return {};
    }
    secret_bytes contents(static_cast<std::size_t>(info.st_size));
    std::size_t done = 0;
    while (done < contents.size()) {
        const ssize_t n = ::read(fd.get(), contents.data() + done, contents.size() - done);
        if (n < 0 && errno == EINTR) {
            continue;
        }
        if (n <= 0) {
            ec = errc::io_error;
            return {};
        }
        done += static_cast<std::size_t>(n);
    }
    return contents;
}

void write_private_key_file(const std::filesystem::path& path, const jwk& key,
                            std::error_code& ec) {
    if (!key.has_private_key()) {
        ec = errc::jwk_no_private_key;
        return;
    }
    const std::string text = key.serialize(true) + "\n";
    secret_bytes bytes(as_bytes(text));
    write_secret_file(path, bytes.view(), ec);
}

jwk read_private_key_file(const std::filesystem::path& path, std::error_code& ec) {
    const secret_bytes contents = read_secret_file(path, ec);
    if (ec) {
        return {};
    }
    jwk key = jwk::parse(as_string_view(contents.view()), ec);
    if (ec) {
        return {};
    }
    if (!key.has_private_key()) {
        ec = errc::jwk_no_private_key;
        return {};
    }
    return key;
}

jwk load_or_create_private_key(const std::filesystem::path& path, jwk_curve curve,
                               std::error_code& ec) {
    jwk key = read_private_key_file(path, ec);
    if (!ec) {
        if (key.curve() != curve) {
            ec = errc::jwk_unsupported;
            return {};
        }
        return key;
    }
    if (ec != errc::not_found) {
        return {};
    }
    key = curve == jwk_curve::ed25519 ? jwk(ed25519_private_key::generate())
                                      : jwk(x25519_private_key::generate());
    key.set_kid(key.thumbprint());
    write_private_key_file(path, key, ec);
    if (ec) {
        return {};
    }
    return key;
}

jwk load_or_create_private_key(const std::filesystem::path& path, jwk_curve curve) {
    std::error_code ec;
    jwk key = load_or_create_private_key(path, curve, ec);
    if (ec) {
        throw_error(ec, path.string());
    }
    return key;
}

}  // namespace imsp2p::core
