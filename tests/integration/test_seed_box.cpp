// The operator seed box end to end on 127.0.0.1 (seed 000 §7), with the real programs
// imsp2p-ims-core, imsp2p-as, imsp2p-drm, imsp2p-tracker, imsp2p-index and imsp2p-client: the
// AS registers new content muted and assigns it to the seed box (sip:seedbox@ims.example);
// alice publishes with --seed; `imsp2p-client seed --operator` copies the content from alice
// alone (the muted swarm), reports it seeded and the AS activates it (the content index lists
// it active); alice stops; bob buys and downloads from the seed box alone and plays the content
// byte-identical; the seed box, restarted from its state file (configuration key instead of
// the flag), keeps seeding: carol downloads from it too. The seed box's status lists the
// assignment as reported; each run of the daemon says how many bytes it uploaded.
#include "../sip/sip_test_support.hpp"
#include "imsp2p_test/program_set.hpp"
#include "imsp2p_test/temporary_directory.hpp"
#include "imsp2p_test/text_files.hpp"

#include <imsp2p/sip/client.hpp>

#include <imsp2p/tracker/index_client.hpp>

#include <imsp2p/core/crypto.hpp>
#include <imsp2p/core/doi.hpp>
#include <imsp2p/core/jose.hpp>
#include <imsp2p/core/key_file.hpp>

#include <nlohmann/json.hpp>

#include <gtest/gtest.h>

#include <csignal>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <memory>
#include <regex>
#include <string>
#include <vector>

using namespace std::chrono_literals;
namespace core = imsp2p::core;
namespace sip = imsp2p::sip;
namespace tracker = imsp2p::tracker;
using imsp2p_test::child_process;
using imsp2p_test::file_text;

namespace {

namespace programs = imsp2p_test::programs;

const std::string seed_box_impu = "sip:seedbox@ims.example";

using imsp2p_test::write_text;
/** @param path a file @return its bytes */
std::string read_binary(const std::filesystem::path& path) {
    return imsp2p_test::read_text(path);
}

/** Waits until @p file contains @p text. @return whether it did within @p timeout */
bool wait_for_text(const std::string& file, const std::string& text,
                   std::chrono::milliseconds timeout) {
    const auto deadline = std::chrono::steady_clock::now() + timeout;
    while (std::chrono::steady_clock::now() < deadline) {
        if (file_text(file).find(text) != std::string::npos) {
            return true;
        }
        std::this_thread::sleep_for(100ms);
    }
    return file_text(file).find(text) != std::string::npos;
}

/** The JSON document a program printed (from the line "{" to the last line "}"). */
nlohmann::json printed_json(const std::string& output) {
    const auto begin = output.find("{\n");
    const auto end = output.rfind("\n}");
    if (begin == std::string::npos || end == std::string::npos || end < begin) {
        return nlohmann::json();
    }
    return nlohmann::json::parse(output.substr(begin, end + 2 - begin), nullptr, false);
}

/** The servers of the seed box scenario, stopped by SIGTERM when destroyed. */
class seed_box_system {
  public:
    seed_box_system() {
        for (const auto& program : {programs::ims_core, programs::as, programs::drm,
                                    programs::tracker, programs::index, programs::client}) {
            if (!std::filesystem::exists(program)) {
                missing_ = program + " is not built";
                return;
            }
        }
        const auto& dir = folder_.path();
        ims_port_ = imsp2p_test::free_port();
        as_port_ = imsp2p_test::free_port();
        drm_port_ = imsp2p_test::free_port();
        tracker_port_ = imsp2p_test::free_port();
        index_port_ = imsp2p_test::free_port();

        imsp2p_test::write_as_keys(dir);  // as/as-signing.jwk (kid "as-1"), as-jwks.json

        const auto listen = [](std::uint16_t port) {
            return R"({"listen": {"address": "127.0.0.1", "port": )" + std::to_string(port) + "}, ";
        };
        write_text(dir / "drm.json", listen(drm_port_) + R"("data_dir": "drm",
             "as_jwks": "as-jwks.json", "log": {"level": "info"}})");
        write_text(dir / "tracker.json", listen(tracker_port_) + R"("data_dir": "tracker",
             "as_jwks": "as-jwks.json", "announce": {"interval": "2s", "min_interval": "1s"},
             "log": {"level": "info"}})");
        write_text(dir / "index.json", listen(index_port_) + R"("data_dir": "index",
             "as_jwks": "as-jwks.json",
             "purchase_uri_template": "sip:content@ims.example?doi={doi}",
             "log": {"level": "info"}})");
        write_text(dir / "ims-core.json", listen(ims_port_) + R"("realm": "ims.example",
             "data_dir": "ims",
             "filter_criteria": [{"name": "content", "psi": "sip:content@ims.example",
                                  "as": "sip:127.0.0.2:)" +
                                              std::to_string(as_port_) + R"(;transport=tcp"}],
             "trusted_as": ["127.0.0.2"], "log": {"level": "info"}})");
        const std::string as_listen = "sip:127.0.0.2:" + std::to_string(as_port_);
        write_text(dir / "as.json", R"({"sip": {"listen": [")" + as_listen +
                                        R"(;transport=udp", ")" + as_listen +
                                        R"(;transport=tcp"], "poll_interval": "200ms"},
             "data_dir": "as", "signing_key": "as/as-signing.jwk",
             "service": {"content_psi": "sip:content@ims.example",
                         "trusted_addresses": ["127.0.0.1"],
                         "scscf_route": ["<sip:127.0.0.1:)" +
                                        std::to_string(ims_port_) + R"(;lr>"],
                         "doi_prefix": "10.5555", "publish_policy": "allow_all",
                         "mute_until_operator_seeded": true,
                         "operator_seed_boxes": [")" +
                                        seed_box_impu + R"("]},
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
        for (const std::string user : {"alice", "seedbox", "bob", "carol"}) {
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
    }

    seed_box_system(const seed_box_system&) = delete;
    seed_box_system& operator=(const seed_box_system&) = delete;

    const std::string& missing() const { return missing_; }
    const std::filesystem::path& dir() const { return folder_.path(); }
    std::string index_url() const { return "http://127.0.0.1:" + std::to_string(index_port_); }

    /** Writes the configuration file of a user's imsp2p-client. @return its path */
    std::string client_config(const std::string& user, bool operator_seed_box = false) const {
        nlohmann::json config = {{"data_dir", (dir() / user).string()},
                                 {"impu", "sip:" + user + "@ims.example"},
                                 {"impi", user + "@ims.example"},
                                 {"password", user + "-secret"},
                                 {"outbound_proxy", "sip:127.0.0.1:" + std::to_string(ims_port_)},
                                 {"content_psi", "sip:content@ims.example"},
                                 {"drm_jwks", "http://127.0.0.1:" + std::to_string(drm_port_)},
                                 {"index_url", index_url()},
                                 {"result_timeout", "30s"},
                                 {"transfer_timeout", "120s"},
                                 {"log", {{"level", "info"}}}};
        if (operator_seed_box) {
            config["operator_seed_box"] = true;
        }
        const auto path = dir() / (user + (operator_seed_box ? "-operator" : "") + ".json");
        write_text(path, config.dump(2));
        return path.string();
    }

    std::string logs() const { return servers_.logs(); }

  private:
    void start(const std::string& program, const std::string& name, std::uint16_t port, bool tcp,
               const std::string& address = "127.0.0.1") {
        servers_.start(program, name, port, tcp, address);
    }

    imsp2p_test::temporary_directory folder_{"imsp2p-seed-box"};
    std::string missing_;
    std::uint16_t ims_port_ = 0;
    std::uint16_t as_port_ = 0;
    std::uint16_t drm_port_ = 0;
    std::uint16_t tracker_port_ = 0;
    std::uint16_t index_port_ = 0;
    imsp2p_test::program_set servers_{folder_.path()};
};

/** The content index's state of @p doi ("muted", "active", ... or "" if not listed). */
std::string index_state(const std::string& index_url, const std::string& doi) {
    std::error_code ec;
    const auto entries = tracker::index_client(index_url, 5s).fetch_catalog("", ec);
    if (ec) {
        return "";
    }
    const core::doi wanted = core::doi::parse(doi, ec);
    for (const auto& entry : entries) {
        if (!ec && entry.record.doi == wanted) {
            return std::string(core::to_string(entry.record.state));
        }
    }
    return "";
}

/** The bytes a stopped seed box daemon says it uploaded in its run (0 if it did not say). */
std::uint64_t uploaded_in_run(const std::string& output) {
    std::smatch match;
    if (!std::regex_search(output, match, std::regex(": uploaded ([0-9]+) bytes in this run"))) {
        return 0;
    }
    return std::stoull(match[1]);
}

/** A client program's `status` JSON (the daemon of that user must be stopped). */
nlohmann::json client_status(const seed_box_system& system, const std::string& config,
                             const std::string& name) {
    const auto out = (system.dir() / (name + ".out")).string();
    child_process status({programs::client, "status", "--config", config, "--log-level", "error"},
                         out);
    EXPECT_EQ(status.wait(60s), 0) << file_text(out);
    return printed_json(file_text(out));
}

/** Buys, downloads and plays @p doi as @p user through the program. @return the plain bytes */
std::string buy_and_play(const seed_box_system& system, const std::string& user,
                         const std::string& doi) {
    const std::string config = system.client_config(user);
    const auto out = [&](const std::string& name) {
        return (system.dir() / (user + "-" + name)).string();
    };
    child_process acquire({programs::client, "acquire", doi, "--config", config},
                          out("acquire.out"));
    EXPECT_EQ(acquire.wait(180s), 0) << file_text(out("acquire.out")) << system.logs();
    child_process play({programs::client, "play", doi, "--config", config, "--out", out("played")},
                       out("play.out"));
    EXPECT_EQ(play.wait(60s), 0) << file_text(out("play.out"));
    return read_binary(out("played"));
}

TEST(SeedBox, CopiesMutedContentGetsItActivatedAndServesItAloneAcrossARestart) {
    seed_box_system system;
    if (!system.missing().empty()) {
        GTEST_SKIP() << system.missing();
    }
    const auto out = [&](const std::string& name) { return (system.dir() / name).string(); };
    const auto content_path = system.dir() / "film.bin";
    const auto bytes = core::random_bytes(2 * 1024 * 1024 + 4321);
    const std::string content(bytes.begin(), bytes.end());
    write_text(content_path, content);

    // The seed box, registered before anything is published (--operator flag).
    const std::string seed_box_config = system.client_config("seedbox");
    auto seed_box = std::make_unique<child_process>(
        std::vector<std::string>{programs::client, "seed", "--operator", "--config",
                                 seed_box_config},
        out("seedbox-1.out"));
    ASSERT_TRUE(wait_for_text(out("seedbox-1.out"), "waiting for seed assignments", 60s))
        << file_text(out("seedbox-1.out")) << system.logs();

    // Alice publishes and keeps seeding: the content is muted.
    child_process alice({programs::client, "publish", content_path.string(), "--config",
                         system.client_config("alice"), "--title", "Seeded by the operator",
                         "--content-type", "video/mp4", "--price", "150", "--seed"},
                        out("alice.out"));
    ASSERT_TRUE(wait_for_text(out("alice.out"), "\"torrent_url\"", 120s))
        << file_text(out("alice.out")) << system.logs();
    ASSERT_TRUE(wait_for_text(out("alice.out"), "\n}", 10s)) << file_text(out("alice.out"));
    std::smatch match;
    const std::string alice_output = file_text(out("alice.out"));
    ASSERT_TRUE(std::regex_search(alice_output, match, std::regex("\"doi\": \"([^\"]+)\"")))
        << alice_output;
    const std::string doi = match[1];
    EXPECT_NE(alice_output.find("\"state\": \"muted\""), std::string::npos) << alice_output;

    // The seed box copies it from alice and reports it; the AS activates it.
    ASSERT_TRUE(wait_for_text(out("seedbox-1.out"), "): reported", 120s))
        << file_text(out("seedbox-1.out")) << system.logs();
    const auto deadline = std::chrono::steady_clock::now() + 60s;
    while (index_state(system.index_url(), doi) != "active" &&
           std::chrono::steady_clock::now() < deadline) {
        std::this_thread::sleep_for(200ms);
    }
    ASSERT_EQ(index_state(system.index_url(), doi), "active") << system.logs();
    EXPECT_NE(file_text((system.dir() / "as.log").string())
                  .find("content activated by operator seed box"),
              std::string::npos);
    // One progress line per assignment event.
    const std::string seed_box_output = file_text(out("seedbox-1.out"));
    for (const std::string event : {"): assigned", "): copying", "): seeded"}) {
        EXPECT_NE(seed_box_output.find(event), std::string::npos) << event << seed_box_output;
    }

    // Alice stops: from now on only the seed box holds the content.
    alice.signal(SIGTERM);
    EXPECT_EQ(alice.wait(30s), 0) << file_text(out("alice.out"));

    const std::string played_by_bob = buy_and_play(system, "bob", doi);
    EXPECT_EQ(played_by_bob.size(), content.size());
    EXPECT_TRUE(played_by_bob == content) << "bob's played content differs";

    // The seed box stops cleanly; its status: the assignment reported, the content held and
    // uploaded to bob (alice was gone).
    seed_box->signal(SIGTERM);
    EXPECT_EQ(seed_box->wait(30s), 0) << file_text(out("seedbox-1.out"));
    seed_box.reset();
    EXPECT_GE(uploaded_in_run(file_text(out("seedbox-1.out"))), content.size())
        << file_text(out("seedbox-1.out"));
    nlohmann::json status = client_status(system, seed_box_config, "seedbox-status-1");
    ASSERT_TRUE(status.is_object()) << file_text(out("seedbox-status-1.out"));
    ASSERT_EQ(status["assignments"].size(), 1U) << status.dump(2);
    EXPECT_EQ(status["assignments"][0]["doi"], doi);
    EXPECT_EQ(status["assignments"][0]["state"], "reported");
    const std::string container = status["assignments"][0]["container"].get<std::string>();
    EXPECT_GT(std::filesystem::file_size(container), content.size());
    EXPECT_EQ(status["transfers"].size(), 1U) << status.dump(2);
    // The state file holds the assignment, 0600 (it carries the operator-seed ticket).
    const auto state_file = system.dir() / "seedbox" / "client-state.json";
    EXPECT_EQ(std::filesystem::status(state_file).permissions() & std::filesystem::perms::all,
              std::filesystem::perms::owner_read | std::filesystem::perms::owner_write);

    // Restarted (configuration key instead of the flag), it resumes and serves carol alone.
    seed_box = std::make_unique<child_process>(
        std::vector<std::string>{programs::client, "seed", "--config",
                                 system.client_config("seedbox", true)},
        out("seedbox-2.out"));
    ASSERT_TRUE(wait_for_text(out("seedbox-2.out"), "waiting for seed assignments", 60s))
        << file_text(out("seedbox-2.out"));
    EXPECT_NE(file_text(out("seedbox-2.out")).find("seeding 1 torrent(s)"), std::string::npos)
        << file_text(out("seedbox-2.out"));
    const std::string played_by_carol = buy_and_play(system, "carol", doi);
    EXPECT_TRUE(played_by_carol == content) << "carol's played content differs";
    seed_box->signal(SIGINT);
    EXPECT_EQ(seed_box->wait(30s), 0) << file_text(out("seedbox-2.out"));
    seed_box.reset();
    // No second report after the restart: the assignment was already reported.
    EXPECT_EQ(file_text(out("seedbox-2.out")).find("): reported"), std::string::npos);
    EXPECT_GE(uploaded_in_run(file_text(out("seedbox-2.out"))), content.size())
        << file_text(out("seedbox-2.out"));
    status = client_status(system, seed_box_config, "seedbox-status-2");
    ASSERT_TRUE(status.is_object());
    EXPECT_EQ(status["assignments"][0]["state"], "reported");
}

TEST(SeedBox, ProgramRefusesOperatorFlagElsewhereAndDocumentsIt) {
    if (!std::filesystem::exists(programs::client)) {
        GTEST_SKIP() << programs::client << " is not built";
    }
    imsp2p_test::temporary_directory folder("imsp2p-seed-box-usage");
    const auto out = (folder.path() / "help.out").string();
    child_process help({programs::client, "seed", "--help"}, out);
    EXPECT_EQ(help.wait(10s), 0);
    EXPECT_NE(file_text(out).find("--operator"), std::string::npos) << file_text(out);
    // --operator belongs to seed only: elsewhere it is a usage error (exit 2).
    const auto misuse = (folder.path() / "misuse.out").string();
    child_process acquire({programs::client, "acquire", "10.5555/x", "--operator"}, misuse);
    EXPECT_EQ(acquire.wait(10s), 2) << file_text(misuse);
    // A seed box without an IMS to register with does not pretend to run: it keeps retrying
    // and says so, and still stops cleanly on SIGTERM.
    const auto config = folder.path() / "seedbox.json";
    write_text(config, nlohmann::json{{"data_dir", (folder.path() / "data").string()},
                                      {"impu", seed_box_impu},
                                      {"password", "x"},
                                      {"outbound_proxy",
                                       "sip:127.0.0.1:" + std::to_string(imsp2p_test::free_port())},
                                      {"content_psi", "sip:content@ims.example"},
                                      {"request_timeout", "1s"},
                                      {"operator_seed_box", true}}
                           .dump());
    const auto daemon_out = (folder.path() / "daemon.out").string();
    child_process daemon({programs::client, "seed", "--config", config.string()}, daemon_out);
    EXPECT_TRUE(wait_for_text(daemon_out, "(retrying)", 30s)) << file_text(daemon_out);
    daemon.signal(SIGTERM);
    EXPECT_EQ(daemon.wait(30s), 0) << file_text(daemon_out);
    EXPECT_EQ(file_text(daemon_out).find("waiting for seed assignments"), std::string::npos);
}

// The library without servers: the setting, the refusal outside seed box mode, and the
// assignments read back from the state file.
TEST(SeedBox, LibraryServesAssignmentsOnlyAsSeedBoxAndReadsThemBack) {
    imsp2p_test::temporary_directory folder("imsp2p-seed-box-library");
    const auto config = core::config::parse(R"({"data_dir": "/tmp/x", "operator_seed_box": true})");
    EXPECT_TRUE(sip::client_settings::from_config(config).operator_seed_box);
    EXPECT_FALSE(sip::client_settings::from_config(core::config::parse(R"({"data_dir": "/tmp/x"})"))
                     .operator_seed_box);

    sip::client_settings settings;
    settings.data_dir = folder.path() / "plain";
    settings.impu = seed_box_impu;
    {
        sip::ims_client client(settings, core::logger("client", nullptr, core::log_level::off));
        std::error_code ec;
        std::string detail;
        EXPECT_EQ(client.serve_seed_box(0ms, ec, &detail), 0U);
        EXPECT_EQ(ec, std::errc::operation_not_permitted);
        EXPECT_NE(detail.find("operator_seed_box"), std::string::npos) << detail;
        EXPECT_FALSE(client.status().sip_started);  // refused before anything started
        EXPECT_TRUE(client.status().assignments.empty());
    }
    EXPECT_FALSE(std::filesystem::exists(settings.data_dir / "client-state.json"));

    // A state file with a failed and a copying assignment (as a seed box leaves it).
    settings.data_dir = folder.path() / "box";
    std::filesystem::create_directories(settings.data_dir);
    write_text(settings.data_dir / "client-state.json", R"({"published": [], "acquired": [],
        "assignments": [
          {"assignment_id": "a-1", "doi": "10.5555/one", "infohash_v1": "00112233445566778899aabbccddeeff00112233",
           "torrent_url": "http://127.0.0.1:1/torrents/10.5555%2Fone.torrent",
           "announce_url": "http://127.0.0.1:1/announce/t", "expires": 1800000000,
           "state": "failed", "error": "infohash mismatch", "container": "", "torrent": ""},
          {"assignment_id": "a-2", "doi": "10.5555/two", "infohash_v1": "ffeeddccbbaa99887766554433221100ffeeddcc",
           "torrent_url": "http://127.0.0.1:1/torrents/10.5555%2Ftwo.torrent",
           "announce_url": "http://127.0.0.1:1/announce/t", "expires": 1800000000,
           "state": "copying", "container": "", "torrent": ""}]})");
    sip::ims_client box(settings, core::logger("box", nullptr, core::log_level::off));
    const auto held = box.status().assignments;
    ASSERT_EQ(held.size(), 2U);
    EXPECT_EQ(held[0].assignment_id, "a-1");
    EXPECT_EQ(held[0].state, "failed");
    EXPECT_EQ(held[0].error, "infohash mismatch");
    EXPECT_EQ(held[1].doi, "10.5555/two");
    EXPECT_EQ(held[1].state, "copying");
    EXPECT_EQ(held[1].expires.time_since_epoch().count(), 1800000000);
    EXPECT_TRUE(held[1].torrent_path.empty());
    // Nothing fetched yet: seed_all() has nothing of theirs to add.
    std::error_code ec;
    EXPECT_EQ(box.seed_all(ec), 0U);
    EXPECT_FALSE(ec) << ec.message();
}

}  // namespace
