// Replay driver for the fuzz targets when libFuzzer is not available (g++ and sanitizer
// builds): runs every seed file of the given directories, then deterministic mutations of each
// seed (bit flips, truncations, duplications, random bytes), so every parser sees malformed
// input on every test run. The input must never crash or trip a sanitizer.

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <random>
#include <vector>

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size);

namespace {

void run(const std::vector<std::uint8_t>& input) {
    // Copy into an exact-size heap block so that ASan sees any read past the end.
    std::vector<std::uint8_t> exact(input);
    exact.shrink_to_fit();
    LLVMFuzzerTestOneInput(exact.empty() ? nullptr : exact.data(), exact.size());
}

}  // namespace

int main(int argc, char** argv) {
    std::vector<std::vector<std::uint8_t>> seeds;
    for (int i = 1; i < argc; ++i) {
        const std::filesystem::path path(argv[i]);
        std::vector<std::filesystem::path> files;
        if (std::filesystem::is_directory(path)) {
            for (const auto& entry : std::filesystem::directory_iterator(path)) {
                if (entry.is_regular_file()) {
                    files.push_back(entry.path());
                }
            }
        } else {
            files.push_back(path);
        }
        std::sort(files.begin(), files.end());
        for (const auto& file : files) {
            std::ifstream in(file, std::ios::binary);
            seeds.emplace_back(std::istreambuf_iterator<char>(in),
                               std::istreambuf_iterator<char>());
        }
    }
    seeds.emplace_back();  // the empty input

    std::mt19937_64 random(0x1A5B2B);
    std::size_t runs = 0;
    for (const auto& seed : seeds) {
        run(seed);
        ++runs;
        for (int round = 0; round < 400; ++round) {
            std::vector<std::uint8_t> mutated = seed;
            const int kind = static_cast<int>(random() % 5);
            if (kind == 0 && !mutated.empty()) {  // flip bits
                for (int k = 0; k < 1 + static_cast<int>(random() % 4); ++k) {
                    mutated[random() % mutated.size()] ^=
                        static_cast<std::uint8_t>(1u << (random() % 8));
                }
            } else if (kind == 1 && !mutated.empty()) {  // truncate
                mutated.resize(random() % mutated.size());
            } else if (kind == 2 && !mutated.empty()) {  // replace a byte with an interesting one
                static constexpr std::uint8_t interesting[] = {
                    0, 0x7f, 0x80, 0xff, '%', '/', '.', ':', '"', '\\', '{', '}', ' ', '\n'};
                mutated[random() % mutated.size()] = interesting[random() % sizeof(interesting)];
            } else if (kind == 3) {  // duplicate a slice
                if (!mutated.empty()) {
                    const std::size_t from = random() % mutated.size();
                    const std::size_t len =
                        std::min<std::size_t>(random() % 64, mutated.size() - from);
                    mutated.insert(
                        mutated.begin() + static_cast<std::ptrdiff_t>(random() % mutated.size()),
                        seed.begin() + static_cast<std::ptrdiff_t>(from),
                        seed.begin() + static_cast<std::ptrdiff_t>(from + len));
                }
            } else {  // random bytes appended
                for (int k = 0; k < 1 + static_cast<int>(random() % 32); ++k) {
                    mutated.push_back(static_cast<std::uint8_t>(random()));
                }
            }
            run(mutated);
            ++runs;
        }
    }
    std::printf("replayed %zu seeds, %zu inputs\n", seeds.size(), runs);
    return 0;
}
