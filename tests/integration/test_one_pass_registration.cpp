// One-pass IMS registration end to end (seed 001 App. A) on loopback: the imsp2p-paa program
// authenticates a PaC with PANA/EAP-TLS and stores the one-pass token in the HSS token store
// (its "token_store" file); the S-CSCF checks the UE's first REGISTER against that store and
// answers 200 at once. The core is the imsp2p-ims-core program (its "hss" setting) in one test
// and the ims_core library with make_one_pass_authenticator() in the others. A relay in front of
// the core counts the REGISTERs it saw: one. The same token again falls back to the Digest AKA
// 401 round: two REGISTERs.
#include <imsp2p/sip/pana_attach.hpp>

#include <imsp2p/sip/aka_credentials.hpp>
#include <imsp2p/sip/ims_core.hpp>
#include <imsp2p/sip/one_pass.hpp>
#include <imsp2p/sip/subscriber_registry.hpp>
#include <imsp2p/sip/user_agent.hpp>

#include <imsp2p/pana/hss.hpp>
#include <imsp2p/pana/pana_endpoint.hpp>
#include <imsp2p/pana/token_store.hpp>
#include <imsp2p/pana/usim.hpp>

#include <imsp2p/core/crypto.hpp>
#include <imsp2p/core/key_file.hpp>
#include "imsp2p_test/child_process.hpp"
#include "imsp2p_test/pana_fixtures.hpp"
#include "imsp2p_test/temporary_directory.hpp"
#include "imsp2p_test/text_files.hpp"
#include "imsp2p_test/udp_relay.hpp"

#include <gtest/gtest.h>

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <spawn.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>
#include <atomic>
#include <chrono>
#include <csignal>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <memory>
#include <string>
#include <thread>
#include <utility>
#include <vector>

namespace sip = imsp2p::sip;
namespace pana = imsp2p::pana;
namespace core = imsp2p::core;
namespace fs = std::filesystem;
using namespace std::chrono_literals;

namespace {

const fs::path paa_program = fs::path(IMSP2P_BINARY_DIR) / "examples" / "paa" / "imsp2p-paa";
constexpr char impi_text[] = "alice@ims.example";
constexpr char realm[] = "ims.example";

/** The AKA subscriber alice of these tests. */
imsp2p_test::aka_subscriber alice() {
    return {impi_text, 11, 12, 3};
}

/** AKA credentials that count the challenges they answer. */
class counting_credentials final : public sip::credentials_provider {
  public:
    explicit counting_credentials(std::shared_ptr<sip::credentials_provider> inner)
        : inner_(std::move(inner)) {}
    std::optional<sip::auth_credentials> answer(const sip::auth_challenge& challenge) override {
        ++answered;
        return inner_->answer(challenge);
    }
    std::atomic<int> answered{0};

  private:
    std::shared_ptr<sip::credentials_provider> inner_;
};

class OnePassRegistration : public ::testing::Test {
  protected:
    void SetUp() override {
        if (!fs::exists(paa_program)) {
            GTEST_SKIP() << "imsp2p-paa is not built: " << paa_program;
        }
        // HSS: the AKA subscriber; core registry: IMPU -> IMPI.
        {
            auto registry = sip::subscriber_registry::open(folder_.path() / "core.sqlite");
            registry.add(core::impu::parse("sip:alice@ims.example"), core::impi::parse(impi_text),
                         "unused");
        }
        subscribers_.create(alice().record());

        // The PAA program, depositing tokens in the HSS file.
        const fs::path config = folder_.path() / "paa.json";
        imsp2p_test::write_paa_config(
            config, parties_,
            R"(,"token_store":")" + hss_file_.string() + R"(","token_lifetime_seconds":120)");
        paa_ = std::make_unique<imsp2p_test::paa_process>(paa_program, config, paa_log_);
        ASSERT_NE(paa_->port(), 0) << paa_->log();
        paa_port_ = paa_->port();

        // The IMS core: one-pass check over the HSS token store, Digest AKA otherwise.
        sip::ims_core_settings settings;
        settings.port = 0;
        settings.realm = realm;
        settings.database = folder_.path() / "core.sqlite";
        core_ = std::make_unique<sip::ims_core>(
            settings, core::logger("ims-core", nullptr, core::log_level::off),
            [this](sip::subscriber_registry& registry) {
                return sip::make_one_pass_authenticator(
                    core_tokens_, sip::make_digest_aka_authenticator(subscribers_, registry, 300s),
                    core::logger("one-pass", nullptr, core::log_level::off));
            });
        core_->start();
        relay_ = std::make_unique<imsp2p_test::udp_relay>(core_->port(), 0us);
        relay_->add_sip_rport();
    }

    void TearDown() override {
        relay_.reset();
        if (core_) {
            core_->stop();
        }
        if (paa_) {
            EXPECT_EQ(paa_->stop(), 0) << paa_->log();
        }
    }

    sip::pana_attach_settings attach_settings() const {
        sip::pana_attach_settings attach;
        attach.paa_address = "127.0.0.1";
        attach.paa_port = paa_port_;
        attach.tls = parties_.client_settings();
        attach.impi = impi_text;
        attach.realm = realm;
        return attach;
    }

    sip::user_agent_settings ua_settings() const {
        sip::user_agent_settings settings;
        settings.aor = "sip:alice@ims.example";
        settings.listen = "sip:127.0.0.1:*;transport=udp";
        settings.registrar = "sip:127.0.0.1:" + std::to_string(relay_->port()) + ";transport=udp";
        return settings;
    }

    std::shared_ptr<counting_credentials> make_aka() const {
        return std::make_shared<counting_credentials>(std::make_shared<sip::aka_credentials>(
            alice().card(), fs::path{}, core::logger("aka", nullptr, core::log_level::off)));
    }

    imsp2p_test::temporary_directory folder_{"imsp2p-one-pass-registration"};
    imsp2p_test::eap_tls_parties parties_{impi_text};
    fs::path hss_file_ = folder_.path() / "hss.sqlite";
    fs::path paa_log_ = folder_.path() / "paa.log";
    pana::subscriber_store subscribers_ = pana::subscriber_store::open(hss_file_);
    pana::token_store core_tokens_ = pana::token_store::open(hss_file_);
    std::unique_ptr<imsp2p_test::paa_process> paa_;
    std::uint16_t paa_port_ = 0;
    std::unique_ptr<sip::ims_core> core_;
    std::unique_ptr<imsp2p_test::udp_relay> relay_;
};

}  // namespace

TEST_F(OnePassRegistration, RegistersInOneRoundTripThenTheSameTokenFallsBackToAka) {
    // Access authentication and one-pass REGISTER in one call.
    pana::pana_client pac;
    const auto aka = make_aka();
    sip::transaction_result registration;
    std::error_code ec;
    auto ua =
        sip::attach_and_register(pac, attach_settings(), ua_settings(), aka, 10s, registration, ec,
                                 core::logger("ua", nullptr, core::log_level::off));
    ASSERT_FALSE(ec) << ec.message();
    ASSERT_TRUE(ua);
    EXPECT_EQ(registration.status, 200) << registration.reason;
    EXPECT_EQ(aka->answered.load(), 0);
    EXPECT_EQ(imsp2p_test::count_sip_requests(relay_->to_server(), "REGISTER"), 1u);
    ASSERT_EQ(relay_->to_client().size(), 1u);  // the 200, through the relay (rport)
    EXPECT_EQ(relay_->to_client().front().rfind("SIP/2.0 200 ", 0), 0u);
    const std::string log =
        imsp2p_test::wait_for_text(paa_log_, "one-pass token stored for alice@ims.example");
    EXPECT_NE(log.find("one-pass token stored for alice@ims.example"), std::string::npos) << log;
    ua.reset();

    // A second access authentication gives a fresh token; a UE that presents it twice gets the
    // AKA 401 the second time.
    pana::pana_client second_pac;
    const sip::pana_attachment attachment = sip::pana_attach(second_pac, attach_settings(), ec);
    ASSERT_FALSE(ec) << ec.message();
    ASSERT_EQ(attachment.token.size(), pana::eap_tls_limits::token_size);
    EXPECT_EQ(attachment.session.msk.size(), 64u);
    for (int round = 0; round < 2; ++round) {
        relay_->clear();
        const auto fallback = make_aka();
        auto settings = ua_settings();
        settings.credentials = std::make_shared<sip::one_pass_credentials>(
            impi_text, realm, attachment.token.view(), fallback);
        sip::user_agent agent(settings, core::logger("ua", nullptr, core::log_level::off));
        const auto result = agent.register_now(10s);
        EXPECT_EQ(result.status, 200) << result.reason;
        if (round == 0) {
            EXPECT_EQ(fallback->answered.load(), 0);
            EXPECT_EQ(imsp2p_test::count_sip_requests(relay_->to_server(), "REGISTER"), 1u);
        } else {
            EXPECT_EQ(fallback->answered.load(), 1);  // the AKA 401 round
            EXPECT_EQ(imsp2p_test::count_sip_requests(relay_->to_server(), "REGISTER"), 2u);
        }
    }
}

TEST_F(OnePassRegistration, AnUnknownCertificateGetsNoTokenAndNoAccess) {
    const auto stranger = parties_.pki().issue_client_from_other_ca(impi_text);
    auto attach = attach_settings();
    attach.tls.certificate_chain_file = stranger.certificate_file;
    attach.tls.private_key_file = stranger.private_key_file;
    attach.timeout = 5s;
    pana::pana_client pac;
    std::error_code ec;
    const sip::pana_attachment attachment = sip::pana_attach(pac, attach, ec);
    EXPECT_TRUE(ec);
    EXPECT_EQ(attachment.token.size(), 0u);
    EXPECT_EQ(imsp2p_test::read_text(paa_log_).find("one-pass token stored"), std::string::npos);
}

namespace {

const fs::path ims_core_program =
    fs::path(IMSP2P_BINARY_DIR) / "examples" / "ims-core" / "imsp2p-ims-core";

std::uint16_t free_udp_port() {
    const int fd = ::socket(AF_INET, SOCK_DGRAM, 0);
    sockaddr_in address{};
    address.sin_family = AF_INET;
    address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t size = sizeof address;
    ::bind(fd, reinterpret_cast<const sockaddr*>(&address), sizeof address);
    ::getsockname(fd, reinterpret_cast<sockaddr*>(&address), &size);
    ::close(fd);
    return ntohs(address.sin_port);
}

bool udp_port_taken(std::uint16_t port) {
    const int fd = ::socket(AF_INET, SOCK_DGRAM, 0);
    sockaddr_in address{};
    address.sin_family = AF_INET;
    address.sin_port = htons(port);
    address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    const bool taken = ::bind(fd, reinterpret_cast<const sockaddr*>(&address), sizeof address) != 0;
    ::close(fd);
    return taken;
}

}  // namespace

/** The imsp2p-ims-core program with alice in its registry and the HSS file as its "hss". */
class ims_core_process {
  public:
    ims_core_process(const fs::path& folder, const fs::path& hss_file,
                     const std::string& extra_hss_settings = {}) {
        const fs::path data = folder / "ims-core-data";
        fs::create_directories(data);
        {
            auto registry = sip::subscriber_registry::open(data / "ims-core.sqlite");
            registry.add(core::impu::parse("sip:alice@ims.example"), core::impi::parse(impi_text),
                         "unused");
        }
        const fs::path config = folder / "ims-core.json";
        std::ofstream(config) << R"({"realm": "ims.example", "hss": {"database": ")"
                              << hss_file.string() << R"(")" << extra_hss_settings << "}}";
        port_ = free_udp_port();
        log_ = folder / "ims-core.log";
        process_ = std::make_unique<imsp2p_test::child_process>(
            std::vector<std::string>{ims_core_program.string(), "--config", config.string(),
                                     "--listen", "127.0.0.1:" + std::to_string(port_), "--data-dir",
                                     data.string()},
            log_.string());
        const auto deadline = std::chrono::steady_clock::now() + 30s;
        while (!udp_port_taken(port_) && std::chrono::steady_clock::now() < deadline) {
            std::this_thread::sleep_for(20ms);
        }
        EXPECT_TRUE(udp_port_taken(port_)) << log();
    }
    ~ims_core_process() {
        process_->signal(SIGTERM);
        EXPECT_EQ(process_->wait(10s), 0) << log();
    }
    ims_core_process(const ims_core_process&) = delete;
    ims_core_process& operator=(const ims_core_process&) = delete;

    [[nodiscard]] std::uint16_t port() const { return port_; }
    [[nodiscard]] std::string log() const { return imsp2p_test::read_text(log_); }

  private:
    std::uint16_t port_ = 0;
    fs::path log_;
    std::unique_ptr<imsp2p_test::child_process> process_;
};

// Both programs: imsp2p-paa deposits the token in the HSS file that imsp2p-ims-core (its "hss"
// setting, one-pass on by default) checks the first REGISTER against.
TEST_F(OnePassRegistration, TheImsCoreProgramAcceptsTheTokenThePaaProgramStored) {
    if (!fs::exists(ims_core_program)) {
        GTEST_SKIP() << "imsp2p-ims-core is not built: " << ims_core_program;
    }
    ims_core_process ims(folder_.path(), hss_file_);
    const std::uint16_t port = ims.port();
    imsp2p_test::udp_relay relay(port, 0us);
    relay.add_sip_rport();

    pana::pana_client pac;
    std::error_code ec;
    const sip::pana_attachment attachment = sip::pana_attach(pac, attach_settings(), ec);
    ASSERT_FALSE(ec) << ec.message();
    for (int round = 0; round < 2; ++round) {
        relay.clear();
        const auto fallback = make_aka();
        auto settings = ua_settings();
        settings.registrar = "sip:127.0.0.1:" + std::to_string(relay.port()) + ";transport=udp";
        settings.credentials = std::make_shared<sip::one_pass_credentials>(
            impi_text, realm, attachment.token.view(), fallback);
        sip::user_agent agent(settings, core::logger("ua", nullptr, core::log_level::off));
        const auto result = agent.register_now(10s);
        EXPECT_EQ(result.status, 200) << result.reason << "\n" << ims.log();
        EXPECT_EQ(fallback->answered.load(), round);  // round 1: the token is used: AKA 401
        EXPECT_EQ(imsp2p_test::count_sip_requests(relay.to_server(), "REGISTER"),
                  static_cast<std::size_t>(round + 1));
    }
}

// The authenticated interface (issue 8): imsp2p-paa seals each token and POSTs it to the HSS
// deposit endpoint that imsp2p-ims-core serves ("hss": {"deposit": ...}); the UE then registers
// in one pass, and only once.
TEST_F(OnePassRegistration, ThePaaProgramDepositsOverHttpIntoTheImsCoreProgram) {
    if (!fs::exists(ims_core_program)) {
        GTEST_SKIP() << "imsp2p-ims-core is not built: " << ims_core_program;
    }
    const fs::path key_file = folder_.path() / "deposit.key";
    std::error_code ec;
    core::write_secret_file(key_file, core::random_bytes(32), ec);
    ASSERT_FALSE(ec) << ec.message();
    ims_core_process ims(
        folder_.path(), hss_file_,
        R"(, "deposit": {"listen": "127.0.0.1:0", "key_file": ")" + key_file.string() + R"("})");
    std::string ims_log;
    const std::string listening = "token deposit listening on 127.0.0.1:";
    for (int i = 0; i < 500 && ims_log.find(listening) == std::string::npos; ++i) {
        std::this_thread::sleep_for(20ms);
        ims_log = ims.log();
    }
    const auto at = ims_log.find(listening);
    ASSERT_NE(at, std::string::npos) << ims_log;
    const int deposit_port = std::stoi(ims_log.substr(at + listening.size()));
    ASSERT_GT(deposit_port, 0);

    // A second PAA program, depositing over HTTP instead of writing the HSS file.
    const fs::path config = folder_.path() / "paa-deposit.json";
    const fs::path log = folder_.path() / "paa-deposit.log";
    imsp2p_test::write_paa_config(config, parties_,
                                  R"(,"hss_deposit_url":"http://127.0.0.1:)" +
                                      std::to_string(deposit_port) +
                                      R"(/v1/one-pass-tokens","hss_deposit_key":")" +
                                      key_file.string() + R"(","token_lifetime_seconds":120)");
    imsp2p_test::paa_process paa(paa_program, config, log);
    auto attach = attach_settings();
    attach.paa_port = paa.port();
    const bool started = paa.port() != 0;
    EXPECT_TRUE(started) << paa.log();

    if (started) {
        imsp2p_test::udp_relay relay(ims.port(), 0us);
        relay.add_sip_rport();
        pana::pana_client pac;
        const sip::pana_attachment attachment = sip::pana_attach(pac, attach, ec);
        EXPECT_FALSE(ec) << ec.message();
        const std::string deposited =
            imsp2p_test::wait_for_text(log, "one-pass token deposited for alice@ims.example");
        EXPECT_NE(deposited.find("one-pass token deposited for alice@ims.example"),
                  std::string::npos)
            << deposited << "\n"
            << ims.log();
        for (int round = 0; round < 2; ++round) {
            relay.clear();
            const auto fallback = make_aka();
            auto settings = ua_settings();
            settings.registrar = "sip:127.0.0.1:" + std::to_string(relay.port()) + ";transport=udp";
            settings.credentials = std::make_shared<sip::one_pass_credentials>(
                impi_text, realm, attachment.token.view(), fallback);
            sip::user_agent agent(settings, core::logger("ua", nullptr, core::log_level::off));
            const auto result = agent.register_now(10s);
            EXPECT_EQ(result.status, 200) << result.reason << "\n" << ims.log();
            EXPECT_EQ(fallback->answered.load(), round);  // round 1: the token is used: AKA 401
            EXPECT_EQ(imsp2p_test::count_sip_requests(relay.to_server(), "REGISTER"),
                      static_cast<std::size_t>(round + 1));
        }
    }
    EXPECT_EQ(paa.stop(), 0) << paa.log();
}

// The client program: `imsp2p-client register --pana` attaches with EAP-TLS through the PAA
// program and registers with the IMS core program in one pass.
TEST_F(OnePassRegistration, TheClientProgramRegistersInOnePassThroughThePaa) {
    const fs::path client_program =
        fs::path(IMSP2P_BINARY_DIR) / "examples" / "client" / "imsp2p-client";
    if (!fs::exists(ims_core_program) || !fs::exists(client_program)) {
        GTEST_SKIP() << "imsp2p-ims-core or imsp2p-client is not built";
    }
    // The core also requires an RFC 3893 identity body signed by a certificate of the test CA
    // on every one-pass REGISTER: the client signs one with its EAP-TLS certificate.
    ims_core_process ims(folder_.path(), hss_file_,
                         R"(, "identity_body": {"ca": ")" + parties_.pki().ca().ca_file().string() +
                             R"(", "required": true})");
    const fs::path usim_file = folder_.path() / "alice-usim.json";
    alice().card().save(usim_file);
    const std::string core_uri = "sip:127.0.0.1:" + std::to_string(ims.port());
    const auto run_client = [&](const std::string& name, bool with_pana,
                                std::vector<std::string> extra = {}) {
        std::vector<std::string> arguments = {client_program.string(),
                                              "register",
                                              "--data-dir",
                                              (folder_.path() / "alice-client").string(),
                                              "--impu",
                                              "sip:alice@ims.example",
                                              "--impi",
                                              impi_text,
                                              "--usim-profile",
                                              usim_file.string(),
                                              "--registrar",
                                              core_uri,
                                              "--outbound-proxy",
                                              core_uri};
        if (with_pana) {
            arguments.insert(arguments.end(),
                             {"--pana", "127.0.0.1:" + std::to_string(paa_port_), "--pana-ca",
                              parties_.pki().ca().ca_file().string(), "--pana-certificate",
                              parties_.client().certificate_file.string(), "--pana-private-key",
                              parties_.client().private_key_file.string(), "--pana-server-name",
                              "paa.ims.example"});
        }
        arguments.insert(arguments.end(), extra.begin(), extra.end());
        const fs::path out = folder_.path() / (name + ".out");
        imsp2p_test::child_process client(arguments, out.string());
        const int status = client.wait(60s);
        return std::pair{status, imsp2p_test::read_text(out)};
    };
    // With --pana: access authentication, token at the HSS, one REGISTER answered 200.
    const auto [one_pass_status, one_pass_output] = run_client("one-pass", true);
    EXPECT_EQ(one_pass_status, 0) << one_pass_output << ims.log();
    EXPECT_NE(one_pass_output.find(R"("one_pass": true)"), std::string::npos) << one_pass_output;
    EXPECT_NE(one_pass_output.find(R"("status": 200)"), std::string::npos) << one_pass_output;
    EXPECT_NE(imsp2p_test::read_text(paa_log_).find("one-pass token stored for alice@ims.example"),
              std::string::npos);
    // Without it: the same client registers with the AKA challenge, not in one pass.
    const auto [aka_status, aka_output] = run_client("aka", false);
    EXPECT_EQ(aka_status, 0) << aka_output << ims.log();
    EXPECT_NE(aka_output.find(R"("one_pass": false)"), std::string::npos) << aka_output;
    // A PAA that is not there: a precise failure, exit 1 (within the request timeout).
    paa_port_ = free_udp_port();
    const fs::path short_timeout = folder_.path() / "short-timeout.json";
    std::ofstream(short_timeout) << R"({"data_dir": "alice-client", "request_timeout": "3s"})";
    const auto [no_paa_status, no_paa_output] =
        run_client("no-paa", true, {"--config", short_timeout.string()});
    EXPECT_EQ(no_paa_status, 1) << no_paa_output;
    EXPECT_NE(no_paa_output.find("PANA access authentication"), std::string::npos) << no_paa_output;
}
