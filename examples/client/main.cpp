// imsp2p-client: the IMS/P2P client (register, package, publish, acquire, seed, play, list,
// status). The program is imsp2p::sip::client_runner; `imsp2p-client --help` describes it.

#include <imsp2p/sip/client_runner.hpp>

#include <string>
#include <vector>

int main(int argc, char** argv) {
    return imsp2p::sip::client_runner().run(std::vector<std::string>(argv + 1, argv + argc));
}
