// bench_sip_setup: the content step of tests/bench/bench_sip (not a benchmark by itself).
// Packages a small file, seals its content key to the DRM server's JWK Set and prints the
// PUBLISH body (application/vnd.imsp2p.publish+json) on one line, ready for a sipp scenario.
//
// Usage: bench_sip_setup <drm-jwks.json> <work dir> <doi>
// Writes <work dir>/bench.bin, bench.ipc and bench.torrent. Exit status 0 on success.
// Its last line is the body (it is a setup helper, so it has no `name: value` figure).

#include <imsp2p/core/encoding.hpp>
#include <imsp2p/core/jose.hpp>
#include <imsp2p/drm/drm_client.hpp>
#include <imsp2p/drm/packager.hpp>

#include <nlohmann/json.hpp>

#include <filesystem>
#include <fstream>
#include <iostream>
#include <iterator>
#include <string>
#include <system_error>

namespace core = imsp2p::core;
namespace drm = imsp2p::drm;

int main(int argc, char** argv) {
    if (argc != 4) {
        std::cerr << "usage: bench_sip_setup <drm-jwks.json> <work dir> <doi>\n";
        return 2;
    }
    try {
        const std::filesystem::path folder = argv[2];
        std::ifstream jwks_file(argv[1]);
        const std::string jwks_text((std::istreambuf_iterator<char>(jwks_file)),
                                    std::istreambuf_iterator<char>());
        const core::jwk_set keys = core::jwk_set::parse(jwks_text);

        const std::filesystem::path input = folder / "bench.bin";
        {
            std::ofstream out(input, std::ios::binary);
            for (int i = 0; i < 65536; ++i) {
                out << static_cast<char>((i * 7919) & 0xff);
            }
        }
        drm::package_options options;
        options.content_type = "video/mp4";
        options.threads = 1;
        const auto packaged =
            drm::package_file(input, folder / "bench.ipc", folder / "bench.torrent", options);

        std::error_code ec;
        const std::string cek = drm::seal_content_key(keys, packaged.cek, ec);
        if (ec) {
            std::cerr << "bench_sip_setup: seal: " << ec.message() << "\n";
            return 1;
        }
        std::ifstream torrent_file(folder / "bench.torrent", std::ios::binary);
        const core::byte_vector torrent((std::istreambuf_iterator<char>(torrent_file)),
                                        std::istreambuf_iterator<char>());

        nlohmann::json body = {{"action", "publish"},
                               {"metadata",
                                {{"title", "Bench movie"},
                                 {"description", "bench_sip content"},
                                 {"content_type", "video/mp4"},
                                 {"price", {{"amount_minor", 1}, {"currency", "EUR"}}},
                                 {"size", packaged.plaintext_size},
                                 {"doi", argv[3]}}},
                               {"torrent", core::base64_encode(torrent)},
                               {"cek", cek},
                               {"kid", core::to_hex(packaged.kid)}};
        std::cout << body.dump() << "\n";
        return 0;
    } catch (const std::exception& error) {
        std::cerr << "bench_sip_setup: " << error.what() << "\n";
        return 1;
    }
}
