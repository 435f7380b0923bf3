#include <imsp2p/sip/pana_attach.hpp>

#include <imsp2p/pana/paa_runner.hpp>
#include <imsp2p/pana/token_store.hpp>

#include <imsp2p/core/error.hpp>

#include "imsp2p_test/pana_fixtures.hpp"
#include "imsp2p_test/temporary_directory.hpp"

#include <gtest/gtest.h>

#include <algorithm>
#include <sstream>

namespace sip = imsp2p::sip;
namespace pana = imsp2p::pana;
namespace core = imsp2p::core;
using namespace std::chrono_literals;

namespace {

class PanaAttach : public ::testing::Test {
  protected:
    void SetUp() override {
        pana::paa_runner_config config = parties_.paa_config();
        config.token_store_file = folder_.path() / "hss.sqlite";
        std::error_code ec;
        paa_.start(config, ec);
        ASSERT_FALSE(ec) << ec.message();
    }

    sip::pana_attach_settings settings() const {
        sip::pana_attach_settings attach;
        attach.paa_address = "127.0.0.1";
        attach.paa_port = paa_.port();
        attach.tls = parties_.client_settings();
        attach.impi = "alice@ims.example";
        attach.realm = "ims.example";
        attach.timeout = 5s;
        return attach;
    }

    imsp2p_test::eap_tls_parties parties_{"alice@ims.example"};
    imsp2p_test::temporary_directory folder_{"imsp2p-pana-attach"};
    std::ostringstream log_;
    pana::paa_runner paa_{log_};
};

}  // namespace

TEST_F(PanaAttach, ReturnsTheSessionAndTheTokenThePaaStored) {
    pana::pana_client pac;
    std::error_code ec;
    const sip::pana_attachment attachment = sip::pana_attach(pac, settings(), ec);
    ASSERT_FALSE(ec) << ec.message();
    EXPECT_EQ(attachment.session.msk.size(), 64u);
    ASSERT_EQ(attachment.token.size(), pana::eap_tls_limits::token_size);
    EXPECT_EQ(pac.state(), pana::pana_session_state::open);
    // The PAA's HSS deposit is the same token.
    auto hss = pana::token_store::open(folder_.path() / "hss.sqlite");
    const auto token = attachment.token.view();
    hss.consume(
        core::impi::parse("alice@ims.example"),
        [&](core::byte_view stored) {
            return std::equal(stored.begin(), stored.end(), token.begin(), token.end());
        },
        ec);
    EXPECT_FALSE(ec) << ec.message();
    pac.terminate(5s, ec);
}

TEST_F(PanaAttach, FailsWithoutATokenForBadCredentialsOrAWrongServerName) {
    pana::pana_client pac;
    std::error_code ec;
    auto unreadable = settings();
    unreadable.tls.private_key_file = folder_.path() / "missing.pem";
    auto attachment = sip::pana_attach(pac, unreadable, ec);
    EXPECT_TRUE(ec);
    EXPECT_EQ(attachment.token.size(), 0u);

    auto wrong_name = settings();
    wrong_name.tls.expected_server_name = "other.ims.example";
    attachment = sip::pana_attach(pac, wrong_name, ec);
    EXPECT_TRUE(ec);
    EXPECT_EQ(attachment.token.size(), 0u);
    EXPECT_EQ(paa_.tokens_stored(), 0u);

    sip::transaction_result registration;
    sip::user_agent_settings ua;
    ua.aor = "sip:alice@ims.example";
    const auto agent = sip::attach_and_register(pac, wrong_name, ua, nullptr, 1s, registration, ec,
                                                core::logger("ua", nullptr, core::log_level::off));
    EXPECT_TRUE(ec);
    EXPECT_EQ(agent, nullptr);
    EXPECT_EQ(registration.status, 0);
}
