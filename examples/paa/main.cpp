// imsp2p-paa: PANA Authentication Agent (EAP-TLS). The logic lives in imsp2p::pana::paa_runner.

#include <imsp2p/pana/paa_runner.hpp>

#include <iostream>
#include <string_view>
#include <vector>

int main(int argc, char** argv) {
    const std::vector<std::string_view> arguments(argv + 1, argv + argc);
    return imsp2p::pana::paa_runner(std::clog).run(arguments);
}
