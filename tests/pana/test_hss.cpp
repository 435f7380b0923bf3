#include <imsp2p/pana/hss.hpp>

#include <imsp2p/pana/error.hpp>

#include <imsp2p/core/encoding.hpp>
#include <imsp2p/core/error.hpp>

#include <gtest/gtest.h>
#include <imsp2p_test/hex.hpp>
#include <imsp2p_test/temporary_directory.hpp>

#include <stdlib.h>

#include <algorithm>
#include <filesystem>
#include <set>
#include <string>

namespace pana = imsp2p::pana;
namespace core = imsp2p::core;

namespace {

using imsp2p_test::array_from_hex;

// TS 35.207 test set 1.
pana::subscriber_record set1_subscriber(const std::string& identity) {
    pana::subscriber_record record;
    record.impi = core::impi::parse(identity);
    record.k = array_from_hex<16>("465b5ce8b199b49faa5f0a2ee238a6bc");
    record.opc = array_from_hex<16>("cd63cb71954a9f4e48a5994e37a02baf");
    record.amf = array_from_hex<2>("b9b9");
    return record;
}

class HssTest : public ::testing::Test {
  protected:
    void SetUp() override { dir_ = temporary_.path(); }
    imsp2p_test::temporary_directory temporary_{"imsp2p-hss"};
    std::filesystem::path dir_;
};

}  // namespace

TEST(VectorGenerator, MatchesTs35207Set1) {
    pana::vector_generator generator;
    const auto record = set1_subscriber("alice@ims.example.net");
    const pana::authentication_vector vector =
        generator.generate(record.k, record.opc, record.amf, pana::sqn(0xff9bb4d0b607),
                           array_from_hex<16>("23553cbe9637a89d218ae64dae47bf35"));
    EXPECT_EQ(core::to_hex(vector.xres), "a54211d5e3ba50bf");
    EXPECT_EQ(core::to_hex(vector.ck), "b40ba9a3c58b2a05bbf0d987b21bf8cb");
    EXPECT_EQ(core::to_hex(vector.ik), "f769bcd751044604127672711c6d3441");
    EXPECT_EQ(core::to_hex(vector.autn), "55f328b43577b9b94a9ffac354dfafb3");
    EXPECT_EQ(vector.sequence, pana::sqn(0xff9bb4d0b607));
}

TEST(VectorGenerator, RandomRandsDiffer) {
    pana::vector_generator generator;
    const auto record = set1_subscriber("alice@ims.example.net");
    std::set<std::string> rands;
    for (int i = 0; i < 600; ++i) {  // crosses several refills of the random pool
        rands.insert(
            core::to_hex(generator.generate(record.k, record.opc, record.amf, pana::sqn(1)).rand));
    }
    EXPECT_EQ(rands.size(), 600u);
}

TEST(VectorGenerator, VerifiesAutsAndRejectsForgery) {
    pana::vector_generator generator;
    const auto record = set1_subscriber("alice@ims.example.net");
    const auto rand = array_from_hex<16>("23553cbe9637a89d218ae64dae47bf35");
    pana::milenage m(record.k, record.opc);
    const pana::sqn sqn_ms(0x0000000012a0);
    const pana::aka_auts auts = pana::make_auts(
        sqn_ms, m.f5star(rand), m.f1star(rand, sqn_ms, pana::resynchronisation_amf));
    std::error_code ec;
    EXPECT_EQ(generator.verify_auts(record.k, record.opc, rand, auts, ec), sqn_ms);
    EXPECT_FALSE(ec);
    pana::aka_auts forged = auts;
    forged[13] ^= 0x01;
    generator.verify_auts(record.k, record.opc, rand, forged, ec);
    EXPECT_EQ(ec, pana::errc::bad_auts);
    // MAC-S computed with a non-zero AMF is refused too.
    const pana::aka_auts wrong_amf =
        pana::make_auts(sqn_ms, m.f5star(rand), m.f1star(rand, sqn_ms, record.amf));
    generator.verify_auts(record.k, record.opc, rand, wrong_amf, ec);
    EXPECT_EQ(ec, pana::errc::bad_auts);
}

TEST_F(HssTest, ProvisioningCreateUpdateDeleteList) {
    pana::subscriber_store store = pana::subscriber_store::open(dir_ / "hss.db");
    const auto alice = set1_subscriber("alice@ims.example.net");
    store.create(alice);
    std::error_code ec;
    store.create(alice, ec);
    EXPECT_EQ(ec, pana::errc::subscriber_exists);

    pana::subscriber_record read = store.find(alice.impi);
    EXPECT_EQ(read.k, alice.k);
    EXPECT_EQ(read.opc, alice.opc);
    EXPECT_EQ(read.amf, alice.amf);
    EXPECT_EQ(read.last_sqn, pana::sqn{});

    pana::subscriber_record changed = alice;
    changed.amf = {0x80, 0x00};
    changed.last_sqn = pana::sqn(77);
    store.update(changed);
    read = store.find(alice.impi);
    EXPECT_EQ(read.amf, changed.amf);
    EXPECT_EQ(read.last_sqn, pana::sqn(77));

    const auto bob = set1_subscriber("bob@ims.example.net");
    store.create(bob);
    const std::vector<core::impi> all = store.list(ec);
    ASSERT_FALSE(ec);
    ASSERT_EQ(all.size(), 2u);
    EXPECT_EQ(all[0].str(), "alice@ims.example.net");

    store.remove(alice.impi);
    store.find(alice.impi, ec);
    EXPECT_EQ(ec, pana::errc::unknown_subscriber);
    store.remove(alice.impi, ec);
    EXPECT_EQ(ec, pana::errc::unknown_subscriber);
    store.update(alice, ec);
    EXPECT_EQ(ec, pana::errc::unknown_subscriber);
    pana::subscriber_record nameless;
    store.create(nameless, ec);
    EXPECT_EQ(ec, core::errc::invalid_argument);
}

TEST_F(HssTest, MasterKeyWrapsCredentialsAtRest) {
    const core::secret_bytes master(core::random_bytes(32));
    const auto alice = set1_subscriber("alice@ims.example.net");
    {
        pana::subscriber_store_options options;
        options.master_key = master;
        pana::subscriber_store store =
            pana::subscriber_store::open(dir_ / "hss.db", std::move(options));
        store.create(alice);
        // The raw row does not contain K.
        core::statement row =
            store.database().prepare("SELECT protection, credentials FROM aka_subscriber");
        ASSERT_EQ(row.step(), core::step_result::row);
        EXPECT_EQ(row.column_int64(0), 1);
        const core::byte_vector blob = row.column_blob(1);
        EXPECT_EQ(std::search(blob.begin(), blob.end(), alice.k.begin(), alice.k.end()),
                  blob.end());
        EXPECT_EQ(store.find(alice.impi).k, alice.k);
    }
    std::error_code ec;
    {
        pana::subscriber_store without_key = pana::subscriber_store::open(dir_ / "hss.db");
        without_key.find(alice.impi, ec);
        EXPECT_EQ(ec, core::errc::bad_key);
    }
    {
        pana::subscriber_store_options options;
        options.master_key = core::secret_bytes(core::random_bytes(32));
        pana::subscriber_store wrong =
            pana::subscriber_store::open(dir_ / "hss.db", std::move(options));
        wrong.find(alice.impi, ec);
        EXPECT_EQ(ec, core::errc::authentication_failed);
    }
    pana::subscriber_store_options bad;
    bad.master_key = core::secret_bytes(core::random_bytes(16));
    pana::subscriber_store::open(dir_ / "hss.db", std::move(bad), ec);
    EXPECT_EQ(ec, core::errc::bad_key_size);
}

TEST_F(HssTest, VectorsAdvanceSqnPersistently) {
    const auto alice = set1_subscriber("alice@ims.example.net");
    {
        pana::subscriber_store store = pana::subscriber_store::open(dir_ / "hss.db");
        store.create(alice);
        pana::hss home(store);
        std::error_code ec;
        const auto batch = home.generate_vectors(alice.impi, 3, ec);
        ASSERT_FALSE(ec);
        ASSERT_EQ(batch.size(), 3u);
        for (std::size_t i = 0; i < batch.size(); ++i) {
            EXPECT_EQ(batch[i].sequence.seq(5), i + 1);
            EXPECT_EQ(batch[i].sequence.ind(5), i + 1);
        }
        home.generate_vectors(alice.impi, 0, ec);
        EXPECT_EQ(ec, core::errc::invalid_argument);
        home.generate_vector(core::impi::parse("nobody@ims.example.net"), ec);
        EXPECT_EQ(ec, pana::errc::unknown_subscriber);
    }
    // After a restart the counter continues.
    pana::subscriber_store store = pana::subscriber_store::open(dir_ / "hss.db");
    pana::hss home(store);
    const pana::authentication_vector next = home.generate_vector(alice.impi);
    EXPECT_EQ(next.sequence.seq(5), 4u);
    EXPECT_EQ(store.find(alice.impi).last_sqn, next.sequence);
    // AUTN conceals that SQN and carries the subscriber's AMF.
    pana::milenage m(alice.k, alice.opc);
    const pana::aka_ak ak = m.f5(next.rand);
    pana::aka_sqn_bytes concealed{};
    for (std::size_t i = 0; i < 6; ++i) {
        concealed[i] = static_cast<std::uint8_t>(next.autn[i] ^ ak[i]);
    }
    EXPECT_EQ(pana::sqn::from_bytes(concealed), next.sequence);
    EXPECT_EQ(next.autn[6], alice.amf[0]);
    EXPECT_EQ(next.xres, m.f2(next.rand));
}

TEST_F(HssTest, ResynchroniseMovesSqnToTheUsim) {
    pana::subscriber_store store = pana::subscriber_store::open(":memory:");
    const auto alice = set1_subscriber("alice@ims.example.net");
    store.create(alice);
    pana::hss home(store);
    const pana::authentication_vector stale = home.generate_vector(alice.impi);

    pana::milenage m(alice.k, alice.opc);
    const pana::sqn sqn_ms = pana::sqn::from_parts(5000, 7, 5);
    const pana::aka_auts auts = pana::make_auts(
        sqn_ms, m.f5star(stale.rand), m.f1star(stale.rand, sqn_ms, pana::resynchronisation_amf));
    std::error_code ec;
    pana::aka_auts forged = auts;
    forged[0] ^= 0x80;
    home.resynchronise(alice.impi, stale.rand, forged, ec);
    EXPECT_EQ(ec, pana::errc::bad_auts);
    EXPECT_EQ(store.find(alice.impi).last_sqn, stale.sequence);  // unchanged

    EXPECT_EQ(home.resynchronise(alice.impi, stale.rand, auts), sqn_ms);
    const pana::authentication_vector fresh = home.generate_vector(alice.impi);
    EXPECT_EQ(fresh.sequence, pana::sqn::from_parts(5001, 8, 5));
}
