#include <imsp2p/core/version.hpp>

namespace imsp2p::core {

const char* version_string() noexcept {
    return IMSP2P_VERSION_STRING;
}

}  // namespace imsp2p::core
