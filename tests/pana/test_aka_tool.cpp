#include <imsp2p/pana/aka_tool.hpp>

#include <imsp2p/pana/milenage.hpp>

#include <imsp2p/core/crypto.hpp>
#include <imsp2p/core/encoding.hpp>
#include <imsp2p/core/key_file.hpp>

#include <gtest/gtest.h>
#include <imsp2p_test/temporary_directory.hpp>
#include <nlohmann/json.hpp>

#include <stdlib.h>

#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

namespace pana = imsp2p::pana;
namespace core = imsp2p::core;
namespace fs = std::filesystem;

namespace {

constexpr const char* k1 = "465b5ce8b199b49faa5f0a2ee238a6bc";
constexpr const char* op1 = "cdc202d5123e20f62b6d676ac72cb318";
constexpr const char* opc1 = "cd63cb71954a9f4e48a5994e37a02baf";

class AkaTool : public ::testing::Test {
  protected:
    void SetUp() override {
        dir_ = temporary_.path();
        db_ = (dir_ / "hss.db").string();
    }
    imsp2p_test::temporary_directory temporary_{"imsp2p-akatool"};

    // Runs the tool; the output and error texts land in out_ and err_.
    int run(const std::vector<std::string>& arguments) {
        std::vector<std::string_view> views(arguments.begin(), arguments.end());
        std::ostringstream out;
        std::ostringstream err;
        const int code = pana::aka_tool(out, err).run(views);
        out_ = out.str();
        err_ = err.str();
        return code;
    }
    nlohmann::json output() const { return nlohmann::json::parse(out_); }

    fs::path dir_;
    std::string db_;
    std::string out_;
    std::string err_;
};

}  // namespace

TEST_F(AkaTool, MilenagePrintsTs35207Set1) {
    ASSERT_EQ(run({"milenage", "--k", k1, "--op", op1, "--rand", "23553cbe9637a89d218ae64dae47bf35",
                   "--sqn", "ff9bb4d0b607", "--amf", "b9b9"}),
              pana::aka_tool::exit_success)
        << err_;
    EXPECT_EQ(out_,
              "{\"opc\":\"cd63cb71954a9f4e48a5994e37a02baf\",\"f1\":\"4a9ffac354dfafb3\","
              "\"f1star\":\"01cfaf9ec4e871e9\",\"f2\":\"a54211d5e3ba50bf\","
              "\"f3\":\"b40ba9a3c58b2a05bbf0d987b21bf8cb\","
              "\"f4\":\"f769bcd751044604127672711c6d3441\",\"f5\":\"aa689c648370\","
              "\"f5star\":\"451e8beca43b\"}\n");
    // --opc instead of --op, and --name=value syntax, give the same result.
    ASSERT_EQ(run({"milenage", "--k=465B5CE8B199B49FAA5F0A2EE238A6BC", "--opc", opc1, "--rand",
                   "23553cbe9637a89d218ae64dae47bf35", "--sqn", "ff9bb4d0b607", "--amf", "b9b9"}),
              0);
    EXPECT_EQ(output()["f2"], "a54211d5e3ba50bf");
}

TEST_F(AkaTool, UsageErrorsExitWithTwo) {
    const std::vector<std::pair<std::vector<std::string>, std::string>> cases = {
        {{}, "imsp2p-aka: missing command (see --help)\n"},
        {{"frobnicate"}, "imsp2p-aka: unknown command \"frobnicate\" (see --help)\n"},
        {{"milenage", "--k", k1}, "imsp2p-aka: give exactly one of --op and --opc\n"},
        {{"milenage", "--k", k1, "--op", op1, "--opc", opc1},
         "imsp2p-aka: give exactly one of --op and --opc\n"},
        {{"milenage", "--k", "12"}, "imsp2p-aka: --k must be 32 hexadecimal digits\n"},
        {{"milenage", "--k"}, "imsp2p-aka: option --k needs a value\n"},
        {{"milenage", "--k", k1, "--k", k1}, "imsp2p-aka: option --k given twice\n"},
        {{"milenage", "--db", "x"}, "imsp2p-aka: unknown option --db for milenage\n"},
        {{"milenage", "stray"}, "imsp2p-aka: unexpected argument \"stray\"\n"},
        {{"vector", "--impi", "a@b.example"}, "imsp2p-aka: missing --db (or \"db\" in --config)\n"},
        {{"vector", "--db", "x.db", "--impi", "no-realm"},
         "imsp2p-aka: --impi is not a private identity (user@realm)\n"},
        {{"vector", "--db", "x.db", "--impi", "a@b.example", "--count", "99"},
         "imsp2p-aka: --count must be a number from 1 to 32\n"},
        {{"provision", "--replace=yes"}, "imsp2p-aka: option --replace takes no value\n"},
    };
    for (const auto& [arguments, message] : cases) {
        EXPECT_EQ(run(arguments), pana::aka_tool::exit_usage) << message;
        EXPECT_EQ(err_, message);
        EXPECT_EQ(out_, "");
    }
}

TEST_F(AkaTool, HelpGoesToOutput) {
    EXPECT_EQ(run({"--help"}), 0);
    EXPECT_EQ(out_, pana::aka_tool::usage());
    EXPECT_NE(out_.find("provision --db FILE"), std::string::npos);
    EXPECT_EQ(run({"vector", "-h"}), 0);
}

TEST_F(AkaTool, ProvisionVectorResyncDeprovision) {
    ASSERT_EQ(run({"provision", "--db", db_, "--impi", "alice@ims.example.net", "--k", k1, "--op",
                   op1, "--amf", "b9b9"}),
              0)
        << err_;
    EXPECT_EQ(out_, "{\"impi\":\"alice@ims.example.net\",\"action\":\"created\"}\n");
    EXPECT_EQ(out_.find(k1), std::string::npos);

    EXPECT_EQ(run({"provision", "--db", db_, "--impi", "alice@ims.example.net", "--k", k1, "--opc",
                   opc1}),
              pana::aka_tool::exit_failure);
    EXPECT_EQ(err_, "imsp2p-aka: alice@ims.example.net is already provisioned (use --replace)\n");
    ASSERT_EQ(run({"provision", "--db", db_, "--impi", "alice@ims.example.net", "--k", k1, "--opc",
                   opc1, "--amf", "b9b9", "--sqn", "000000000040", "--replace"}),
              0);
    EXPECT_EQ(output()["action"], "updated");

    // SQN 000000000040 = SEQ 2 / IND 0: the next vector is SEQ 3 / IND 1 = 0x61.
    ASSERT_EQ(run({"vector", "--db", db_, "--impi", "alice@ims.example.net"}), 0) << err_;
    const nlohmann::json vector = output();
    EXPECT_EQ(vector["sqn"], "000000000061");
    // Check the vector with Milenage directly.
    const auto bytes = [](const nlohmann::json& value) {
        return core::from_hex(value.get<std::string>());
    };
    pana::aka_key k{};
    pana::aka_opc opc{};
    pana::aka_rand rand{};
    std::copy_n(core::from_hex(k1).begin(), 16, k.begin());
    std::copy_n(core::from_hex(opc1).begin(), 16, opc.begin());
    std::copy_n(bytes(vector["rand"]).begin(), 16, rand.begin());
    pana::milenage m(k, opc);
    EXPECT_EQ(vector["xres"], core::to_hex(m.f2(rand)));
    EXPECT_EQ(vector["ck"], core::to_hex(m.f3(rand)));
    EXPECT_EQ(vector["ik"], core::to_hex(m.f4(rand)));
    const pana::aka_autn autn = pana::make_autn(pana::sqn(0x61), m.f5(rand), {0xb9, 0xb9},
                                                m.f1(rand, pana::sqn(0x61), {0xb9, 0xb9}));
    EXPECT_EQ(vector["autn"], core::to_hex(autn));

    ASSERT_EQ(run({"vector", "--db", db_, "--impi", "alice@ims.example.net", "--count", "3"}), 0);
    ASSERT_EQ(output().size(), 3u);
    EXPECT_EQ(output()[2]["sqn"], "0000000000c4");  // SEQ 6 / IND 4

    // A USIM that has seen SEQ 1000 / IND 5 resynchronises the HSS.
    const pana::sqn sqn_ms = pana::sqn::from_parts(1000, 5, 5);
    const pana::aka_auts auts = pana::make_auts(
        sqn_ms, m.f5star(rand), m.f1star(rand, sqn_ms, pana::resynchronisation_amf));
    ASSERT_EQ(run({"resync", "--db", db_, "--impi", "alice@ims.example.net", "--rand",
                   core::to_hex(rand), "--auts", core::to_hex(auts)}),
              0)
        << err_;
    EXPECT_EQ(output()["sqn_ms"], core::to_hex(sqn_ms.to_bytes()));
    ASSERT_EQ(run({"vector", "--db", db_, "--impi", "alice@ims.example.net"}), 0);
    EXPECT_EQ(output()["sqn"], core::to_hex(pana::sqn::from_parts(1001, 6, 5).to_bytes()));
    pana::aka_auts forged = auts;
    forged[13] ^= 1;
    EXPECT_EQ(run({"resync", "--db", db_, "--impi", "alice@ims.example.net", "--rand",
                   core::to_hex(rand), "--auts", core::to_hex(forged)}),
              pana::aka_tool::exit_failure);
    EXPECT_NE(err_.find("AUTS"), std::string::npos);

    ASSERT_EQ(run({"deprovision", "--db", db_, "--impi", "alice@ims.example.net"}), 0);
    EXPECT_EQ(run({"vector", "--db", db_, "--impi", "alice@ims.example.net"}),
              pana::aka_tool::exit_failure);
    EXPECT_EQ(err_,
              "imsp2p-aka: authentication vector for alice@ims.example.net: no AKA subscriber is "
              "provisioned with this private identity\n");
}

TEST_F(AkaTool, ConfigFileSuppliesDatabaseAndMasterKey) {
    const fs::path key_file = dir_ / "keys" / "master.key";
    std::error_code ec;
    core::write_secret_file(key_file, core::random_bytes(32), ec);
    ASSERT_FALSE(ec);
    const fs::path config = dir_ / "aka.json";
    std::ofstream(config) << R"({"db": "state/hss.db", "master_key": "keys/master.key"})";
    fs::create_directories(dir_ / "state");
    ASSERT_EQ(run({"provision", "--config", config.string(), "--impi", "bob@ims.example.net", "--k",
                   k1, "--opc", opc1}),
              0)
        << err_;
    EXPECT_TRUE(fs::exists(dir_ / "state" / "hss.db"));
    ASSERT_EQ(run({"vector", "--config", config.string(), "--impi", "bob@ims.example.net"}), 0)
        << err_;
    // Without the master key the wrapped row cannot be read.
    EXPECT_EQ(run({"vector", "--db", (dir_ / "state" / "hss.db").string(), "--impi",
                   "bob@ims.example.net"}),
              pana::aka_tool::exit_failure);

    std::ofstream(config) << R"({"db": "x.db", "typo": 1})";
    EXPECT_EQ(run({"vector", "--config", config.string(), "--impi", "bob@ims.example.net"}),
              pana::aka_tool::exit_failure);
    EXPECT_NE(err_.find("unknown key \"typo\""), std::string::npos);
    std::ofstream(config) << "not json";
    EXPECT_EQ(run({"vector", "--config", config.string(), "--impi", "bob@ims.example.net"}),
              pana::aka_tool::exit_failure);
    EXPECT_EQ(run({"vector", "--config", (dir_ / "absent.json").string(), "--impi",
                   "bob@ims.example.net"}),
              pana::aka_tool::exit_failure);
}
