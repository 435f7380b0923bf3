// Buy, download and play content from your own program: the SDK example of docs/tutorial.md.
//
//   imsp2p-example-buy-and-play <client.json> <doi> <output file>
//
// client.json holds the ims_client settings (see imsp2p/sip/client.hpp, the same keys as
// `imsp2p-client --config`). The program registers with the IMS, sends the acquire MESSAGE
// to the content PSI, waits for the ticket, downloads the encrypted container from the swarm,
// fetches the license bound to this device and plays the content into the output file.
#include <imsp2p/sip/client.hpp>

#include <imsp2p/core/config.hpp>
#include <imsp2p/core/log.hpp>

#include <fstream>
#include <functional>
#include <iostream>
#include <string>

namespace core = imsp2p::core;
namespace sip = imsp2p::sip;

namespace {

/** Prints one line per stage change and every 10 % of bytes (called on the main thread). */
class progress_printer {
  public:
    void operator()(const sip::client_progress& progress) {
        const int percent =
            progress.total_bytes == 0
                ? -1
                : static_cast<int>(100 * progress.done_bytes / progress.total_bytes);
        if (progress.stage == last_stage_ && percent / 10 == last_percent_ / 10) {
            return;
        }
        last_stage_ = progress.stage;
        last_percent_ = percent;
        std::cerr << "  " << sip::to_string(progress.stage);
        if (percent >= 0) {
            std::cerr << " " << percent << "% (" << progress.peers << " peers)";
        }
        if (!progress.message.empty()) {
            std::cerr << ": " << progress.message;
        }
        std::cerr << "\n";
    }

  private:
    sip::client_stage last_stage_ = sip::client_stage::packaging;
    int last_percent_ = -100;
};

}  // namespace

int main(int argc, char** argv) {
    if (argc != 4) {
        std::cerr << "Usage: imsp2p-example-buy-and-play <client.json> <doi> <output file>\n";
        return 2;
    }
    try {
        // 1. Settings from a configuration file; the client keeps its device key and state in
        //    the data directory it names.
        const auto settings = sip::client_settings::from_config(core::config::load_file(argv[1]));
        sip::ims_client client(settings,
                               core::logger("example", nullptr, core::log_level::warning));

        // 2. Buy and download: one blocking call; progress comes back on this thread.
        progress_printer progress;
        std::error_code ec;
        std::string detail;
        const sip::acquired_item item = client.acquire(argv[2], ec, &detail, std::ref(progress));
        if (ec) {
            std::cerr << "acquire failed: " << ec.message() << " (" << detail << ")\n";
            return 1;
        }
        std::cerr << "downloaded " << item.container_path << ", license " << item.license_path
                  << "\n";

        // 3. Play within the rights: the license is checked against this device's key and the
        //    DRM server's keys, and the play is counted in the usage store.
        std::ofstream out(argv[3], std::ios::binary);
        const std::uint64_t bytes = client.play(item.doi, out, ec, &detail, std::ref(progress));
        if (ec) {
            std::cerr << "play refused: " << ec.message() << " (" << detail << ")\n";
            return 1;
        }
        std::cout << "played " << bytes << " bytes of " << item.doi << " into " << argv[3] << "\n";
        return 0;
    } catch (const std::exception& error) {
        std::cerr << "error: " << error.what() << "\n";
        return 1;
    }
}
