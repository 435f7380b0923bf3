// Test support: a fresh private directory under the system temporary directory, removed with
// everything in it when the object is destroyed.
#pragma once

#include <cstdlib>
#include <filesystem>
#include <stdexcept>
#include <string>
#include <system_error>

namespace imsp2p_test {

/** A directory created by mkdtemp (mode 0700) that removes itself and its contents. */
class temporary_directory {
  public:
    /** Creates `<tmp>/<prefix>-XXXXXX`; throws std::runtime_error if that fails. */
    explicit temporary_directory(const std::string& prefix = "imsp2p-test") {
        std::string pattern =
            (std::filesystem::temp_directory_path() / (prefix + "-XXXXXX")).string();
        if (::mkdtemp(pattern.data()) == nullptr) {
            throw std::runtime_error("mkdtemp failed for " + pattern);
        }
        path_ = pattern;
    }
    temporary_directory(const temporary_directory&) = delete;
    temporary_directory& operator=(const temporary_directory&) = delete;
    ~temporary_directory() {
        std::error_code ignored;
        std::filesystem::remove_all(path_, ignored);
    }

    /** The directory. */
    const std::filesystem::path& path() const noexcept { return path_; }

  private:
    std::filesystem::path path_;
};

}  // namespace imsp2p_test
