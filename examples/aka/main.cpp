// imsp2p-aka: 3GPP AKA command-line tool. The logic lives in imsp2p::pana::aka_tool.

#include <imsp2p/pana/aka_tool.hpp>

#include <iostream>
#include <string_view>
#include <vector>

int main(int argc, char** argv) {
    const std::vector<std::string_view> arguments(argv + 1, argv + argc);
    return imsp2p::pana::aka_tool(std::cout, std::cerr).run(arguments);
}
