// The whole system end to end on 127.0.0.1: the real programs imsp2p-ims-core, imsp2p-as,
// imsp2p-drm, imsp2p-tracker and imsp2p-index; users provisioned through the ims-core program;
// alice publishes a generated file with the client library (PUBLISH through the IMS core to the
// AS, seeding from her swarm), bob buys it with the library (MESSAGE, ticket, torrent from the
// index, swarm download from alice, license) and plays it byte-identical; a repeated
// acquisition with the same request id is charged once; an unknown DOI fails with 404; carol
// does the same through the imsp2p-client program.
#include "../sip/sip_test_support.hpp"
#include "imsp2p_test/program_set.hpp"
#include "imsp2p_test/temporary_directory.hpp"
#include "imsp2p_test/text_files.hpp"

#include <imsp2p/sip/client.hpp>
#include <imsp2p/sip/error.hpp>

#include <imsp2p/drm/drm_client.hpp>
#include <imsp2p/drm/error.hpp>

#include <imsp2p/core/crypto.hpp>
#include <imsp2p/core/database.hpp>
#include <imsp2p/core/jose.hpp>
#include <imsp2p/core/key_file.hpp>
#include <imsp2p/core/ticket.hpp>

#include <gtest/gtest.h>

#include <csignal>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <memory>
#include <sstream>
#include <string>
#include <vector>

using namespace std::chrono_literals;
namespace core = imsp2p::core;
namespace sip = imsp2p::sip;
using imsp2p_test::child_process;
using imsp2p_test::file_text;

namespace {

namespace programs = imsp2p_test::programs;

const std::string content_psi = "sip:content@ims.example";

using imsp2p_test::write_text;
/** @param path a file @return its bytes */
std::string read_binary(const std::filesystem::path& path) {
    return imsp2p_test::read_text(path);
}

bool executable_exists(const std::string& name) {
    for (const char* directory : {"/usr/sbin", "/usr/bin", "/sbin", "/bin", "/usr/local/bin"}) {
        if (::access((std::filesystem::path(directory) / name).c_str(), X_OK) == 0) {
            return true;
        }
    }
    return false;
}

/** Which S-CSCF the system uses. */
enum class scscf_kind { ims_core, kamailio };

/**
 * The servers, started once for a suite, stopped by SIGTERM at the end: imsp2p-ims-core (or
 * Kamailio as the S-CSCF), imsp2p-as, imsp2p-drm, imsp2p-tracker, imsp2p-index.
 */
class system_under_test {
  public:
    explicit system_under_test(scscf_kind kind) : kind_(kind) {
        for (const auto& program : {programs::ims_core, programs::as, programs::drm,
                                    programs::tracker, programs::index}) {
            if (!std::filesystem::exists(program)) {
                missing_ = program + " is not built";
                return;
            }
        }
        if (kind_ == scscf_kind::kamailio &&
            (!executable_exists("kamailio") || !executable_exists("sqlite3"))) {
            missing_ = "kamailio or sqlite3 is not installed";
            return;
        }
        const auto& dir = folder_.path();
        ims_port_ = imsp2p_test::free_port();
        as_port_ = imsp2p_test::free_port();
        drm_port_ = imsp2p_test::free_port();
        tracker_port_ = imsp2p_test::free_port();
        index_port_ = imsp2p_test::free_port();

        // The AS signing key (kid "as-1") and its public JWK Set for the other servers.
        imsp2p_test::write_as_keys(dir);

        const std::string host = "127.0.0.1";
        write_text(dir / "drm.json", R"({"listen": {"address": "127.0.0.1", "port": )" +
                                         std::to_string(drm_port_) +
                                         R"(}, "data_dir": "drm", "as_jwks": "as-jwks.json",
             "log": {"level": "info"}})");
        write_text(dir / "tracker.json", R"({"listen": {"address": "127.0.0.1", "port": )" +
                                             std::to_string(tracker_port_) +
                                             R"(}, "data_dir": "tracker", "as_jwks": "as-jwks.json",
             "announce": {"interval": "5s", "min_interval": "1s"}, "log": {"level": "info"}})");
        write_text(dir / "index.json", R"({"listen": {"address": "127.0.0.1", "port": )" +
                                           std::to_string(index_port_) +
                                           R"(}, "data_dir": "index", "as_jwks": "as-jwks.json",
             "purchase_uri_template": "sip:content@ims.example?doi={doi}",
             "log": {"level": "info"}})");
        write_text(dir / "ims-core.json", R"({"listen": {"address": "127.0.0.1", "port": )" +
                                              std::to_string(ims_port_) +
                                              R"(}, "realm": "ims.example", "data_dir": "ims",
             "filter_criteria": [{"name": "content", "psi": "sip:content@ims.example",
                                  "as": "sip:127.0.0.2:)" +
                                              std::to_string(as_port_) + R"(;transport=tcp"}],
             "trusted_as": ["127.0.0.2"], "log": {"level": "debug"}})");
        // The AS has an address of its own (127.0.0.2): the IMS core trusts requests from it
        // whatever their source port (its TCP connections come from ephemeral ports), while
        // every UE is on 127.0.0.1.
        const std::string as_listen = "sip:127.0.0.2:" + std::to_string(as_port_);
        // Kamailio recognises the AS by its source address and port: the AS must reach it
        // over UDP from its listening port.
        const std::string scscf_transport = kind_ == scscf_kind::kamailio ? ";transport=udp" : "";
        write_text(dir / "as.json", R"({"sip": {"listen": [")" + as_listen +
                                        R"(;transport=udp", ")" + as_listen +
                                        R"(;transport=tcp"], "poll_interval": "200ms"},
             "data_dir": "as", "signing_key": "as/as-signing.jwk",
             "service": {"content_psi": "sip:content@ims.example",
                         "trusted_addresses": ["127.0.0.1"],
                         "scscf_route": ["<sip:127.0.0.1:)" +
                                        std::to_string(ims_port_) + scscf_transport + R"(;lr>"],
                         "doi_prefix": "10.5555", "publish_policy": "allow_all"},
             "drm": {"url": "http://127.0.0.1:)" +
                                        std::to_string(drm_port_) + R"("},
             "index": {"url": "http://127.0.0.1:)" +
                                        std::to_string(index_port_) + R"("},
             "trackers": [{"announce_url": "http://127.0.0.1:)" +
                                        std::to_string(tracker_port_) + R"(/announce",
                           "admin_url": "http://127.0.0.1:)" +
                                        std::to_string(tracker_port_) + R"("}],
             "log": {"level": "debug"}})");

        start(programs::drm, "drm", drm_port_, true);
        start(programs::tracker, "tracker", tracker_port_, true);
        start(programs::index, "index", index_port_, true);
        start(programs::as, "as", as_port_, false, "127.0.0.2");
        if (kind_ == scscf_kind::kamailio) {
            start_kamailio();
            return;
        }

        // Subscribers, provisioned through the program.
        for (const std::string user : {"alice", "bob", "carol", "dave"}) {
            const auto out = (dir / ("user-" + user + ".out")).string();
            child_process add(
                {programs::ims_core, "--config", (dir / "ims-core.json").string(), "user", "add",
                 "sip:" + user + "@ims.example", "--impi", user + "@ims.example", "--password",
                 user + "-secret", "--realm", "ims.example"},
                out);
            if (add.wait(20s) != 0) {
                throw std::runtime_error("user add " + user + ": " + file_text(out));
            }
        }

        start(programs::ims_core, "ims-core", ims_port_, false);
        (void)host;
    }

    ~system_under_test() {
        if (kamailio_) {
            kamailio_->stop();
        }
        servers_.stop_all();
    }

    system_under_test(const system_under_test&) = delete;
    system_under_test& operator=(const system_under_test&) = delete;

    const std::string& missing() const { return missing_; }
    /** @return the DRM server's port */
    std::uint16_t drm_port() const { return drm_port_; }

    /** @return a service JWT (aud drm) signed with the AS key, as the AS makes them */
    std::string drm_service_token() const {
        const core::jwk key = core::load_or_create_private_key(dir() / "as" / "as-signing.jwk",
                                                               core::jwk_curve::ed25519);
        const core::ticket_issuer issuer(key.ed25519_private(), "as-1", "sip:as.test");
        core::ticket_claims claims;
        claims.subject = "sip:as.test";
        claims.audience = "drm";
        claims.issued_at =
            std::chrono::floor<std::chrono::seconds>(std::chrono::system_clock::now());
        claims.expires_at = claims.issued_at + 5min;
        claims.role = core::ticket_role::service;
        return issuer.issue(claims);
    }
    const std::filesystem::path& dir() const { return folder_.path(); }

    sip::client_settings client(const std::string& user) const {
        sip::client_settings settings;
        settings.data_dir = dir() / user;
        settings.impu = "sip:" + user + "@ims.example";
        // Kamailio's subscriber table holds the user part as the Digest user name.
        settings.impi = kind_ == scscf_kind::kamailio ? user : user + "@ims.example";
        settings.password = user + "-secret";
        settings.outbound_proxy = "sip:127.0.0.1:" + std::to_string(ims_port_);
        settings.content_psi = content_psi;
        settings.drm_jwks = "http://127.0.0.1:" + std::to_string(drm_port_);
        settings.index_url = "http://127.0.0.1:" + std::to_string(index_port_);
        settings.result_timeout = 30s;
        settings.transfer_timeout = 120s;
        settings.request_timeout = 20s;
        return settings;
    }

    /** Writes the configuration file of a program client. @return its path */
    std::string client_config(const std::string& user) const {
        const auto settings = client(user);
        const auto path = dir() / (user + ".json");
        write_text(path, nlohmann::json{{"data_dir", settings.data_dir.string()},
                                        {"impu", settings.impu},
                                        {"impi", settings.impi},
                                        {"password", settings.password},
                                        {"outbound_proxy", settings.outbound_proxy},
                                        {"content_psi", settings.content_psi},
                                        {"drm_jwks", settings.drm_jwks},
                                        {"index_url", settings.index_url},
                                        {"result_timeout", "30s"},
                                        {"transfer_timeout", "120s"},
                                        {"log", {{"level", "info"}}}}
                             .dump(2));
        return path.string();
    }

    std::string logs() const {
        std::string text = servers_.logs();
        if (kamailio_) {
            text += "--- kamailio\n" + file_text(kamailio_log_) + "\n";
        }
        return text;
    }

    /** @return the download CDRs of a user for a DOI in the AS's charging database */
    std::int64_t download_charges(const std::string& impu, const std::string& doi) const {
        auto database = core::database::open(dir() / "as" / "cdr.sqlite");
        auto statement = database.prepare(
            "SELECT COUNT(*) FROM cdr WHERE kind = 'download' AND user = ?1 AND "
            "doi_key = upper(?2)");
        statement.bind(1, impu);
        statement.bind(2, doi);
        statement.step();
        return statement.column_int64(0);
    }

  private:
    /** Kamailio 5.6 with tests/integration/kamailio/kamailio.cfg as the S-CSCF. */
    void start_kamailio() {
        const std::filesystem::path kamailio_dir =
            std::filesystem::path(IMSP2P_SOURCE_DIR) / "tests/integration/kamailio";
        const auto database = dir() / "kamailio.sqlite";
        const auto create_log = (dir() / "create-db.out").string();
        child_process create(
            {(kamailio_dir / "create-db.sh").string(), database.string(), "ims.example", "alice",
             "alice-secret", "bob", "bob-secret", "carol", "carol-secret"},
            create_log);
        if (create.wait(30s) != 0) {
            throw std::runtime_error("create-db.sh: " + file_text(create_log));
        }
        // The shared configuration recognises the AS by source address and port; the AS's
        // larger MESSAGEs (tickets, publish results) go over TCP (RFC 3261 §18.1.1) from an
        // ephemeral port, so here the AS is recognised by its own address (127.0.0.2) alone.
        std::string cfg = file_text((kamailio_dir / "kamailio.cfg").string());
        const std::string as_check = "$si == AS_IP && $sp == AS_PORT";
        const auto at = cfg.find(as_check);
        if (at == std::string::npos) {
            throw std::runtime_error("kamailio.cfg: no AS check '" + as_check + "'");
        }
        cfg.replace(at, as_check.size(), "$si == AS_IP");
        const auto cfg_path = dir() / "kamailio.cfg";
        write_text(cfg_path, cfg);
        const std::string listen = "127.0.0.1:" + std::to_string(ims_port_);
        const std::string as_port = std::to_string(as_port_);
        kamailio_log_ = (dir() / "kamailio.log").string();
        kamailio_ = std::make_unique<child_process>(
            std::vector<std::string>{"kamailio",
                                     "-DD",
                                     "-E",
                                     "-f",
                                     cfg_path.string(),
                                     "-w",
                                     dir().string(),
                                     "-Y",
                                     dir().string(),
                                     "-m",
                                     "32",
                                     "-M",
                                     "4",
                                     "-l",
                                     "udp:" + listen,
                                     "-l",
                                     "tcp:" + listen,
                                     "-A",
                                     "DBURL=\"sqlite:///" + database.string() + "\"",
                                     "-A",
                                     "AS_URI=\"sip:127.0.0.2:" + as_port + ";transport=tcp\"",
                                     "-A",
                                     "AS_IP=\"127.0.0.2\"",
                                     "-A",
                                     "AS_PORT=" + as_port},
            kamailio_log_, imsp2p_test::process_options{true, {}});
        if (!imsp2p_test::wait_bound(ims_port_, false, 20s)) {
            throw std::runtime_error("kamailio did not start: " + file_text(kamailio_log_));
        }
        // The listener is bound before the workers are forked: let them start.
        std::this_thread::sleep_for(700ms);
    }

    void start(const std::string& program, const std::string& name, std::uint16_t port, bool tcp,
               const std::string& address = "127.0.0.1") {
        servers_.start(program, name, port, tcp, address);
    }

    scscf_kind kind_;
    imsp2p_test::temporary_directory folder_{"imsp2p-sip-flows"};
    std::unique_ptr<child_process> kamailio_;
    std::string kamailio_log_;
    std::string missing_;
    std::uint16_t ims_port_ = 0;
    std::uint16_t as_port_ = 0;
    std::uint16_t drm_port_ = 0;
    std::uint16_t tracker_port_ = 0;
    std::uint16_t index_port_ = 0;
    imsp2p_test::program_set servers_{folder_.path()};
};

class SipFlows : public ::testing::Test {
  protected:
    static void SetUpTestSuite() {
        system_ = std::make_unique<system_under_test>(scscf_kind::ims_core);
        if (!system_->missing().empty()) {
            return;
        }
        // A few MiB of content.
        content_path_ = system_->dir() / "film.bin";
        const auto bytes = core::random_bytes(3 * 1024 * 1024 + 12345);
        content_.assign(bytes.begin(), bytes.end());
        write_text(content_path_, content_);
        alice_ = std::make_unique<sip::ims_client>(
            system_->client("alice"), core::logger("alice", nullptr, core::log_level::info));
    }

    static void TearDownTestSuite() {
        alice_.reset();
        system_.reset();
    }

    void SetUp() override {
        if (!system_->missing().empty()) {
            GTEST_SKIP() << system_->missing();
        }
    }

    /** Alice publishes the file once for the suite. @return the DOI */
    static std::string published_doi() {
        if (doi_.empty()) {
            sip::publish_metadata metadata;
            metadata.title = "A test film";
            metadata.description = "generated";
            metadata.content_type = "video/mp4";
            metadata.price = {199, "EUR"};
            std::error_code ec;
            std::string detail;
            const auto item = alice_->publish(content_path_, metadata, ec, &detail);
            EXPECT_FALSE(ec) << ec.message() << ": " << detail << "\n" << system_->logs();
            doi_ = item.doi;
        }
        return doi_;
    }

    static inline std::unique_ptr<system_under_test> system_;
    static inline std::unique_ptr<sip::ims_client> alice_;
    static inline std::filesystem::path content_path_;
    static inline std::string content_;
    static inline std::string doi_;
};

TEST_F(SipFlows, PublishAcquirePlayAndRepeatWithoutSecondCharge) {
    const std::string doi = published_doi();
    ASSERT_FALSE(doi.empty());
    EXPECT_EQ(doi.rfind("10.5555/", 0), 0U) << doi;

    // Alice's state: registered, one published item seeded.
    const auto alice_status = alice_->status();
    EXPECT_TRUE(alice_status.registered);
    ASSERT_EQ(alice_status.published.size(), 1U);
    EXPECT_EQ(alice_status.published[0].doi, doi);
    EXPECT_TRUE(std::filesystem::exists(alice_status.published[0].container_path));
    ASSERT_EQ(alice_status.transfers.size(), 1U);
    EXPECT_TRUE(alice_status.transfers[0].complete);
    // The device key is kept 0600.
    const auto permissions =
        std::filesystem::status(system_->dir() / "alice" / "device-key.jwk").permissions();
    EXPECT_EQ(permissions & std::filesystem::perms::all,
              std::filesystem::perms::owner_read | std::filesystem::perms::owner_write);

    sip::ims_client bob(system_->client("bob"),
                        core::logger("bob", nullptr, core::log_level::info));
    std::error_code ec;
    std::string detail;
    int download_reports = 0;
    const auto item = bob.acquire(doi, ec, &detail, [&](const sip::client_progress& progress) {
        if (progress.stage == sip::client_stage::downloading) {
            ++download_reports;
        }
    });
    ASSERT_FALSE(ec) << ec.message() << ": " << detail << "\n" << system_->logs();
    EXPECT_TRUE(item.complete);
    EXPECT_GT(download_reports, 0);
    EXPECT_TRUE(std::filesystem::exists(item.license_path));
    EXPECT_NE(read_binary(item.container_path), content_);  // encrypted at rest
    EXPECT_EQ(system_->download_charges("sip:bob@ims.example", doi), 1);

    std::ostringstream played;
    const auto bytes = bob.play(doi, played, ec, &detail);
    ASSERT_FALSE(ec) << ec.message() << ": " << detail;
    EXPECT_EQ(bytes, content_.size());
    EXPECT_TRUE(played.str() == content_) << "played content differs";

    // The same purchase again (the recorded request id): delivered again, charged once.
    const auto again = bob.acquire(doi, ec, &detail);
    ASSERT_FALSE(ec) << ec.message() << ": " << detail << "\n" << system_->logs();
    EXPECT_EQ(again.request_id, item.request_id);
    EXPECT_EQ(system_->download_charges("sip:bob@ims.example", doi), 1);
    // An explicit new request id is a new purchase.
    const auto second = bob.acquire(doi, ec, &detail, {}, "bob-second-purchase");
    ASSERT_FALSE(ec) << ec.message() << ": " << detail;
    EXPECT_EQ(second.request_id, "bob-second-purchase");
    EXPECT_EQ(system_->download_charges("sip:bob@ims.example", doi), 2);
}

TEST_F(SipFlows, UnknownDoiFailsWith404AndLeavesNoRecord) {
    sip::ims_client bob(system_->client("bob"),
                        core::logger("bob", nullptr, core::log_level::info));
    const auto before = bob.status().acquired.size();
    std::error_code ec;
    std::string detail;
    const auto item = bob.acquire("10.5555/no-such-content", ec, &detail);
    EXPECT_EQ(ec, sip::errc::unknown_content) << ec.message() << ": " << detail;
    EXPECT_NE(detail.find("404"), std::string::npos) << detail;
    EXPECT_FALSE(item.complete);
    EXPECT_EQ(bob.status().acquired.size(), before);

    // Not a DOI at all: refused before anything is sent.
    bob.acquire("not a doi", ec, &detail);
    EXPECT_TRUE(ec);
    EXPECT_NE(detail.find("not a DOI"), std::string::npos) << detail;
}

TEST_F(SipFlows, ProgramAcquiresPlaysPublishesAndSeeds) {
    if (!std::filesystem::exists(programs::client)) {
        GTEST_SKIP() << programs::client << " is not built";
    }
    const std::string doi = published_doi();
    ASSERT_FALSE(doi.empty());
    const std::string config = system_->client_config("carol");
    const auto out = [&](const std::string& name) { return (system_->dir() / name).string(); };

    child_process help({programs::client, "acquire", "--help"}, out("carol-help.out"));
    EXPECT_EQ(help.wait(10s), 0);
    EXPECT_NE(file_text(out("carol-help.out")).find("--request-id"), std::string::npos);

    child_process acquire({programs::client, "acquire", doi, "--config", config},
                          out("carol-acquire.out"));
    ASSERT_EQ(acquire.wait(180s), 0) << file_text(out("carol-acquire.out")) << system_->logs();
    child_process play(
        {programs::client, "play", doi, "--config", config, "--out", out("carol-played.bin")},
        out("carol-play.out"));
    ASSERT_EQ(play.wait(60s), 0) << file_text(out("carol-play.out"));
    EXPECT_TRUE(read_binary(out("carol-played.bin")) == content_) << "played content differs";

    child_process unknown({programs::client, "acquire", "10.5555/unknown-here", "--config", config},
                          out("carol-unknown.out"));
    EXPECT_EQ(unknown.wait(60s), 1);
    EXPECT_NE(file_text(out("carol-unknown.out")).find("404"), std::string::npos)
        << file_text(out("carol-unknown.out"));

    child_process usage({programs::client, "acquire"}, out("carol-usage.out"));
    EXPECT_EQ(usage.wait(10s), 2);

    child_process status({programs::client, "status", "--config", config}, out("carol-status.out"));
    EXPECT_EQ(status.wait(60s), 0) << file_text(out("carol-status.out"));
    EXPECT_NE(file_text(out("carol-status.out")).find(doi), std::string::npos);

    // The catalogue of the content index lists the content.
    child_process list({programs::client, "list", "--config", config}, out("carol-list.out"));
    EXPECT_EQ(list.wait(30s), 0) << file_text(out("carol-list.out"));
    EXPECT_NE(file_text(out("carol-list.out")).find(doi + "\tA test film\t199 EUR"),
              std::string::npos)
        << file_text(out("carol-list.out"));

    // Carol publishes through the program, then seeds as a daemon until SIGTERM, which saves
    // the resume data and exits 0; the next run resumes both torrents from it.
    const auto clip = system_->dir() / "carol-clip.bin";
    const auto clip_bytes = core::random_bytes(300 * 1024);
    write_text(clip, std::string(clip_bytes.begin(), clip_bytes.end()));
    child_process publish(
        {programs::client, "publish", clip.string(), "--config", config, "--title", "Carol's clip",
         "--content-type", "video/mp4", "--price", "0"},
        out("carol-publish.out"));
    ASSERT_EQ(publish.wait(120s), 0) << file_text(out("carol-publish.out")) << system_->logs();
    EXPECT_NE(file_text(out("carol-publish.out")).find("\"doi\": \"10.5555/"), std::string::npos)
        << file_text(out("carol-publish.out"));

    for (int run = 1; run <= 2; ++run) {
        const auto seed_out = out("carol-seed-" + std::to_string(run) + ".out");
        child_process seed({programs::client, "seed", "--config", config}, seed_out);
        const auto deadline = std::chrono::steady_clock::now() + 60s;
        while (file_text(seed_out).find("seeding 2 torrent(s)") == std::string::npos &&
               std::chrono::steady_clock::now() < deadline) {
            std::this_thread::sleep_for(50ms);
        }
        ASSERT_NE(file_text(seed_out).find("seeding 2 torrent(s)"), std::string::npos)
            << file_text(seed_out);
        seed.signal(run == 1 ? SIGTERM : SIGINT);
        EXPECT_EQ(seed.wait(30s), 0) << file_text(seed_out);
        std::size_t resume_files = 0;
        for (const auto& entry :
             std::filesystem::directory_iterator(system_->dir() / "carol" / "swarm")) {
            resume_files += entry.path().extension() == ".resume" ? 1 : 0;
        }
        EXPECT_EQ(resume_files, 2U);
    }
}

}  // namespace

namespace {

// The same purchase with Kamailio 5.6 as the S-CSCF (tests/integration/kamailio/kamailio.cfg):
// Digest registration, 407 on PUBLISH and MESSAGE answered by the client, identity asserted
// by Kamailio, the AS's MESSAGEs routed to the registered contacts by lookup("location").
TEST_F(SipFlows, TicketsAndLicenseRenewedAndARevokedGrantEndsPlay) {
    const std::string doi = published_doi();
    ASSERT_FALSE(doi.empty());
    auto settings = system_->client("dave");
    // Both margins above the lifetimes (DRM licenses 1 h, leech tickets 24 h): every play
    // renews the license and renew_tickets() renews the leech ticket.
    settings.license_renewal_margin = 2h;
    settings.ticket_renewal_margin = 48h;
    sip::ims_client dave(settings, core::logger("dave", nullptr, core::log_level::info));
    std::error_code ec;
    std::string detail;
    const auto item = dave.acquire(doi, ec, &detail);
    ASSERT_FALSE(ec) << ec.message() << ": " << detail << "\n" << system_->logs();
    const std::string first_license = read_binary(item.license_path);
    ASSERT_FALSE(first_license.empty());

    // Play renews the license first (a new JWS: a new ephemeral key for the CEK).
    std::ostringstream played;
    EXPECT_EQ(dave.play(doi, played, ec, &detail), content_.size())
        << ec.message() << ": " << detail << "\n"
        << system_->logs();
    EXPECT_TRUE(played.str() == content_) << "played content differs";
    const std::string second_license = read_binary(item.license_path);
    EXPECT_FALSE(second_license.empty());
    EXPECT_NE(second_license, first_license);

    // The leech ticket: a fresh ticket document for the same purchase, charged once.
    const auto ticket_before = read_binary(item.license_path.parent_path() / "ticket.json");
    EXPECT_EQ(dave.renew_tickets(ec, &detail), 1U) << ec.message() << ": " << detail;
    EXPECT_FALSE(ec) << detail;
    const auto status = dave.status();
    ASSERT_EQ(status.acquired.size(), 1U);
    EXPECT_NE(status.acquired[0].announce_url, item.announce_url);
    EXPECT_NE(read_binary(item.license_path.parent_path() / "ticket.json"), ticket_before);
    EXPECT_EQ(system_->download_charges("sip:dave@ims.example", doi), 1);

    // The operator revokes dave's grant: the next renewal is refused, the license deleted.
    imsp2p::drm::drm_client_settings drm_settings;
    drm_settings.base_url = "http://127.0.0.1:" + std::to_string(system_->drm_port());
    drm_settings.timeout = 10s;
    const std::string token = system_->drm_service_token();
    drm_settings.service_token_provider = [token] { return token; };
    const imsp2p::drm::drm_client drm(drm_settings);
    std::string grant_id;
    for (const auto& grant : drm.list_grants(doi, ec)) {
        if (grant.user == "sip:dave@ims.example") {
            grant_id = grant.grant_id;
        }
    }
    ASSERT_FALSE(ec) << ec.message();
    ASSERT_FALSE(grant_id.empty());
    drm.revoke(grant_id, ec);
    ASSERT_FALSE(ec) << ec.message();
    std::ostringstream refused;
    EXPECT_EQ(dave.play(doi, refused, ec, &detail), 0U);
    EXPECT_EQ(ec, imsp2p::drm::errc::grant_revoked) << ec.message() << ": " << detail;
    EXPECT_NE(detail.find("renewal refused"), std::string::npos) << detail;
    EXPECT_TRUE(refused.str().empty());
    EXPECT_FALSE(std::filesystem::exists(item.license_path));
}

TEST_F(SipFlows, PublisherRenewsItsSeedTicketAndKeepsSeeding) {
    const std::string doi = published_doi();
    ASSERT_FALSE(doi.empty());
    const auto before = alice_->status();
    ASSERT_EQ(before.published.size(), 1U);
    // Nothing is due within the default margin (seed tickets last 30 days).
    std::error_code ec;
    std::string detail;
    EXPECT_EQ(alice_->renew_tickets(ec, &detail), 0U);
    EXPECT_FALSE(ec) << detail;

    // A second client on alice's data (hers is stopped meanwhile) with a margin above 30 days.
    const auto data_dir = system_->dir() / "alice";
    alice_.reset();
    {
        auto settings = system_->client("alice");
        settings.ticket_renewal_margin = std::chrono::hours(24 * 40);
        sip::ims_client renewing(settings, core::logger("alice", nullptr, core::log_level::info));
        EXPECT_EQ(renewing.seed_all(ec, &detail), 1U) << ec.message() << ": " << detail;
        EXPECT_EQ(renewing.renew_tickets(ec, &detail), 1U) << ec.message() << ": " << detail;
        EXPECT_FALSE(ec) << detail << "\n" << system_->logs();
        const auto after = renewing.status();
        ASSERT_EQ(after.published.size(), 1U);
        EXPECT_EQ(after.published[0].doi, doi);
        EXPECT_NE(after.published[0].seed_ticket, before.published[0].seed_ticket);
        EXPECT_NE(after.published[0].announce_url, before.published[0].announce_url);
        EXPECT_GE(after.published[0].expires, before.published[0].expires);
        // The swarm announces with the renewed ticket: the tracker admits it.
        ASSERT_EQ(after.transfers.size(), 1U);
        EXPECT_TRUE(after.transfers[0].complete);
        EXPECT_TRUE(after.transfers[0].error.empty()) << after.transfers[0].error;
    }
    alice_ = std::make_unique<sip::ims_client>(
        system_->client("alice"), core::logger("alice", nullptr, core::log_level::info));
    alice_->seed_all(ec, &detail);
    EXPECT_FALSE(ec) << detail;
    (void)data_dir;
}

class SipFlowsThroughKamailio : public ::testing::Test {
  protected:
    static void SetUpTestSuite() {
        system_ = std::make_unique<system_under_test>(scscf_kind::kamailio);
    }
    static void TearDownTestSuite() { system_.reset(); }
    void SetUp() override {
        if (!system_->missing().empty()) {
            GTEST_SKIP() << system_->missing();
        }
    }
    static inline std::unique_ptr<system_under_test> system_;
};

TEST_F(SipFlowsThroughKamailio, PublishAcquireAndPlay) {
    const auto content_path = system_->dir() / "clip.bin";
    const auto bytes = core::random_bytes(2 * 1024 * 1024 + 777);
    const std::string content(bytes.begin(), bytes.end());
    write_text(content_path, content);

    sip::ims_client alice(system_->client("alice"),
                          core::logger("alice", nullptr, core::log_level::info));
    sip::publish_metadata metadata;
    metadata.title = "Through Kamailio";
    metadata.content_type = "video/mp4";
    metadata.price = {99, "EUR"};
    std::error_code ec;
    std::string detail;
    const auto published = alice.publish(content_path, metadata, ec, &detail);
    ASSERT_FALSE(ec) << ec.message() << ": " << detail << "\n" << system_->logs();

    sip::ims_client bob(system_->client("bob"),
                        core::logger("bob", nullptr, core::log_level::info));
    const auto acquired = bob.acquire(published.doi, ec, &detail);
    ASSERT_FALSE(ec) << ec.message() << ": " << detail << "\n" << system_->logs();
    EXPECT_TRUE(acquired.complete);
    std::ostringstream played;
    bob.play(published.doi, played, ec, &detail);
    ASSERT_FALSE(ec) << ec.message() << ": " << detail;
    EXPECT_TRUE(played.str() == content) << "played content differs";
    EXPECT_EQ(system_->download_charges("sip:bob@ims.example", published.doi), 1);

    const auto unknown = bob.acquire("10.5555/not-published", ec, &detail);
    EXPECT_EQ(ec, sip::errc::unknown_content) << ec.message() << ": " << detail;
    EXPECT_FALSE(unknown.complete);
}

}  // namespace

namespace {

// The client's settings and its refusals of bad input, without servers.
TEST(ClientSettings, FromConfigReadsEveryKeyAndResolvesRelativePaths) {
    imsp2p_test::temporary_directory folder("imsp2p-client-settings");
    const auto path = folder.path() / "client.json";
    write_text(path, R"({"data_dir": "data", "impu": "sip:alice@ims.example",
        "impi": "alice@ims.example", "password": "pw", "registrar": "sip:ims.example",
        "outbound_proxy": "sip:127.0.0.1:5060", "content_psi": "sip:content@ims.example",
        "transport": "udp", "sip_listen": "sip:127.0.0.1:5099", "register_expires": "5m",
        "drm_jwks": "drm-jwks.json", "index_url": "http://127.0.0.1:8090",
        "bittorrent_listen": "127.0.0.1:6881", "upload_rate_limit": 1000,
        "download_rate_limit": 2000, "request_timeout": "5s", "result_timeout": "7s",
        "transfer_timeout": "2m", "ticket_renewal_margin": "3h",
        "license_renewal_margin": "90s", "initial_seeding": false})");
    const auto settings = sip::client_settings::from_config(core::config::load_file(path));
    EXPECT_EQ(settings.data_dir, (folder.path() / "data").lexically_normal());
    EXPECT_EQ(settings.impu, "sip:alice@ims.example");
    EXPECT_EQ(settings.impi, "alice@ims.example");
    EXPECT_EQ(settings.password, "pw");
    EXPECT_EQ(settings.registrar, "sip:ims.example");
    EXPECT_EQ(settings.outbound_proxy, "sip:127.0.0.1:5060");
    EXPECT_EQ(settings.content_psi, content_psi);
    EXPECT_EQ(settings.transport, sip::transport::udp);
    EXPECT_EQ(settings.sip_listen, "sip:127.0.0.1:5099");
    EXPECT_EQ(settings.register_expires, std::chrono::seconds(300));
    EXPECT_EQ(settings.drm_jwks, (folder.path() / "drm-jwks.json").lexically_normal().string());
    EXPECT_EQ(settings.index_url, "http://127.0.0.1:8090");
    EXPECT_EQ(settings.bittorrent_listen, "127.0.0.1:6881");
    EXPECT_EQ(settings.upload_rate_limit, 1000);
    EXPECT_EQ(settings.download_rate_limit, 2000);
    EXPECT_EQ(settings.request_timeout, 5s);
    EXPECT_EQ(settings.result_timeout, 7s);
    EXPECT_EQ(settings.transfer_timeout, 120s);
    EXPECT_EQ(settings.ticket_renewal_margin, 3h);
    EXPECT_EQ(settings.license_renewal_margin, 90s);
    EXPECT_FALSE(settings.initial_seeding);

    // A URL stays a URL; a bad transport and a missing data_dir are refused by name.
    auto config = core::config::parse(R"({"data_dir": "/tmp/x", "drm_jwks": "http://drm:8088"})");
    EXPECT_EQ(sip::client_settings::from_config(config).drm_jwks, "http://drm:8088");
    config.set("/transport", "sctp");
    try {
        sip::client_settings::from_config(config);
        ADD_FAILURE() << "sctp accepted";
    } catch (const std::system_error& error) {
        EXPECT_EQ(error.code(), core::errc::config_bad_value);
        EXPECT_NE(std::string(error.what()).find("/transport"), std::string::npos);
    }
    EXPECT_THROW(sip::client_settings::from_config(core::config::parse("{}")), std::system_error);
}

TEST(ClientSettings, BadInputGetsPreciseErrorsAndLeavesStateIntact) {
    imsp2p_test::temporary_directory folder("imsp2p-client-input");
    EXPECT_THROW(sip::ims_client(sip::client_settings{}, core::logger("client")),
                 std::invalid_argument);

    sip::client_settings settings;
    settings.data_dir = folder.path() / "data";
    sip::ims_client client(settings, core::logger("client", nullptr, core::log_level::off));
    // The device key exists at once, 0600.
    const auto key = folder.path() / "data" / "device-key.jwk";
    ASSERT_TRUE(std::filesystem::exists(key));
    EXPECT_EQ(std::filesystem::status(key).permissions() & std::filesystem::perms::all,
              std::filesystem::perms::owner_read | std::filesystem::perms::owner_write);
    EXPECT_FALSE(client.device_public_key().has_private_key());

    std::error_code ec;
    std::string detail;
    // No file, no IMPU, no DOI: refused before anything is sent or written.
    const auto published =
        client.publish(folder.path() / "missing.bin", sip::publish_metadata{}, ec, &detail);
    EXPECT_EQ(ec, std::errc::no_such_file_or_directory);
    EXPECT_NE(detail.find("missing.bin"), std::string::npos) << detail;
    EXPECT_TRUE(published.doi.empty());
    client.acquire("10.5555/x", ec, &detail);
    EXPECT_EQ(ec, std::errc::invalid_argument);
    EXPECT_NE(detail.find("IMPU"), std::string::npos) << detail;
    client.acquire("no doi", ec, &detail);
    EXPECT_TRUE(ec);
    EXPECT_NE(detail.find("is not a DOI"), std::string::npos) << detail;
    std::ostringstream out;
    EXPECT_EQ(client.play("10.5555/never-bought", out, ec, &detail), 0U);
    EXPECT_EQ(ec, sip::errc::unknown_content);
    EXPECT_TRUE(out.str().empty());
    client.list("", ec, &detail);
    EXPECT_EQ(ec, sip::errc::dependency_unavailable);
    EXPECT_NE(detail.find("index_url"), std::string::npos) << detail;

    const auto status = client.status();
    EXPECT_FALSE(status.sip_started);
    EXPECT_TRUE(status.published.empty());
    EXPECT_TRUE(status.acquired.empty());
    EXPECT_FALSE(std::filesystem::exists(folder.path() / "data" / "client-state.json"));
}

}  // namespace
