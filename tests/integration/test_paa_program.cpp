// The imsp2p-paa program as a process: it reads its JSON configuration, logs the port it
// listens on, authenticates an EAP-TLS PaC over UDP (pana_client) and stops cleanly on SIGTERM.

#include <imsp2p/pana/eap_tls.hpp>
#include <imsp2p/pana/pana_endpoint.hpp>

#include "imsp2p_test/pana_fixtures.hpp"
#include "imsp2p_test/temporary_directory.hpp"
#include "imsp2p_test/text_files.hpp"

#include <gtest/gtest.h>

#include <chrono>
#include <filesystem>
#include <string>

namespace pana = imsp2p::pana;
namespace fs = std::filesystem;
using namespace std::chrono_literals;

namespace {

const fs::path program = fs::path(IMSP2P_BINARY_DIR) / "examples" / "paa" / "imsp2p-paa";

}  // namespace

TEST(PaaProgram, AuthenticatesAndStopsOnSigterm) {
    if (!fs::exists(program)) {
        GTEST_SKIP() << "imsp2p-paa is not built: " << program;
    }
    const imsp2p_test::eap_tls_parties parties("alice@ims.example");
    imsp2p_test::temporary_directory folder("imsp2p-paa-program");
    const fs::path config = folder.path() / "paa.json";
    const fs::path log = folder.path() / "paa.log";
    imsp2p_test::write_paa_config(config, parties);
    imsp2p_test::paa_process paa(program, config, log);
    ASSERT_NE(paa.port(), 0) << "no listening line: " << paa.log();

    const auto context =
        pana::eap_tls_context::create(parties.client_settings(), pana::eap_tls_role::client);
    pana::pana_client pac;
    std::error_code ec;
    const auto info = pac.authenticate(
        "127.0.0.1", paa.port(), std::make_unique<pana::eap_tls_peer>(context, "alice@ims.example"),
        10s, ec);
    EXPECT_FALSE(ec) << ec.message();
    EXPECT_EQ(info.msk.size(), 64u);
    const std::string after = imsp2p_test::wait_for_text(log, "authenticated alice@ims.example");
    EXPECT_NE(after.find("authenticated alice@ims.example from 127.0.0.1"), std::string::npos)
        << after;

    EXPECT_EQ(paa.stop(), 0);
    EXPECT_NE(imsp2p_test::read_text(log).find("stopping on SIGTERM"), std::string::npos);
}
