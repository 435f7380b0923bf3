// Test support: reading the files programs under test write (logs, state), and writing theirs.
//
//   const std::string log = imsp2p_test::wait_for_text(log_file, "listening on");  // up to 10 s
#pragma once

#include <chrono>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <string>
#include <thread>

namespace imsp2p_test {

/** @param file a file @return its whole content ("" if it cannot be read) */
inline std::string read_text(const std::filesystem::path& file) {
    std::ifstream in(file, std::ios::binary);
    return {std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
}

/** Writes (replaces) a file. @param file the file @param text its new content */
inline void write_text(const std::filesystem::path& file, const std::string& text) {
    std::ofstream(file, std::ios::binary | std::ios::trunc) << text;
}

/**
 * Waits until a file (typically a program's log) contains a text.
 * @param file the file
 * @param needle the text
 * @param limit how long to wait
 * @return the file's content when the text appeared, or at the time limit
 */
inline std::string wait_for_text(const std::filesystem::path& file, const std::string& needle,
                                 std::chrono::milliseconds limit = std::chrono::seconds(10)) {
    const auto deadline = std::chrono::steady_clock::now() + limit;
    std::string text = read_text(file);
    while (text.find(needle) == std::string::npos && std::chrono::steady_clock::now() < deadline) {
        std::this_thread::sleep_for(std::chrono::milliseconds(20));
        text = read_text(file);
    }
    return text;
}

}  // namespace imsp2p_test
