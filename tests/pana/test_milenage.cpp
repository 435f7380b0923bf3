#include <imsp2p/pana/milenage.hpp>

#include <imsp2p/core/encoding.hpp>

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include <algorithm>
#include <array>
#include <cstdint>
#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

namespace pana = imsp2p::pana;
namespace core = imsp2p::core;

namespace {

// One TS 35.207 conformance test set, fields as lowercase hex.
struct test_set {
    int number = 0;
    std::string k, rand, sqn, amf, op, opc, f1, f1star, f2, f3, f4, f5, f5star;
};

// TS 35.207 test sets 1 and 2, embedded so that the test runs without the shared/ folder.
const std::vector<test_set>& embedded_sets() {
    static const std::vector<test_set> sets = {
        {1, "465b5ce8b199b49faa5f0a2ee238a6bc", "23553cbe9637a89d218ae64dae47bf35", "ff9bb4d0b607",
         "b9b9", "cdc202d5123e20f62b6d676ac72cb318", "cd63cb71954a9f4e48a5994e37a02baf",
         "4a9ffac354dfafb3", "01cfaf9ec4e871e9", "a54211d5e3ba50bf",
         "b40ba9a3c58b2a05bbf0d987b21bf8cb", "f769bcd751044604127672711c6d3441", "aa689c648370",
         "451e8beca43b"},
        {2, "0396eb317b6d1c36f19c1c84cd6ffd16", "c00d603103dcee52c4478119494202e8", "fd8eef40df7d",
         "af17", "ff53bade17df5d4e793073ce9d7579fa", "53c15671c60a4b731c55b4a441c0bde2",
         "5df5b31807e258b0", "a8c016e51ef4a343", "d3a628ed988620f0",
         "58c433ff7a7082acd424220f2b67c556", "21a8c1f929702adb3e738488b9f5c5da", "c47783995f72",
         "30f1197061c1"},
    };
    return sets;
}

template <std::size_t N>
std::array<std::uint8_t, N> array_from_hex(const std::string& hex) {
    const core::byte_vector bytes = core::from_hex(hex);
    EXPECT_EQ(bytes.size(), N) << hex;
    std::array<std::uint8_t, N> out{};
    std::copy_n(bytes.begin(), std::min(N, bytes.size()), out.begin());
    return out;
}

template <std::size_t N>
std::string hex(const std::array<std::uint8_t, N>& bytes) {
    return core::to_hex(bytes);
}

void check_set(const test_set& set) {
    SCOPED_TRACE("TS 35.207 test set " + std::to_string(set.number));
    const auto k = array_from_hex<16>(set.k);
    const auto rand = array_from_hex<16>(set.rand);
    const auto op = array_from_hex<16>(set.op);
    const auto amf = array_from_hex<2>(set.amf);
    const auto sequence = pana::sqn::from_bytes(array_from_hex<6>(set.sqn));

    const pana::aka_opc opc = pana::milenage::compute_opc(k, op);
    EXPECT_EQ(hex(opc), set.opc);

    pana::milenage m(k, opc);
    EXPECT_EQ(hex(m.f1(rand, sequence, amf)), set.f1);
    EXPECT_EQ(hex(m.f1star(rand, sequence, amf)), set.f1star);
    EXPECT_EQ(hex(m.f2(rand)), set.f2);
    EXPECT_EQ(hex(m.f3(rand)), set.f3);
    EXPECT_EQ(hex(m.f4(rand)), set.f4);
    EXPECT_EQ(hex(m.f5(rand)), set.f5);
    EXPECT_EQ(hex(m.f5star(rand)), set.f5star);

    const pana::milenage_keys keys = m.compute_all(rand);
    EXPECT_EQ(hex(keys.res), set.f2);
    EXPECT_EQ(hex(keys.ck), set.f3);
    EXPECT_EQ(hex(keys.ik), set.f4);
    EXPECT_EQ(hex(keys.ak), set.f5);

    const pana::milenage_outputs all = m.compute(rand, sequence, amf);
    EXPECT_EQ(hex(all.mac_a), set.f1);
    EXPECT_EQ(hex(all.mac_s), set.f1star);
    EXPECT_EQ(hex(all.res), set.f2);
    EXPECT_EQ(hex(all.ck), set.f3);
    EXPECT_EQ(hex(all.ik), set.f4);
    EXPECT_EQ(hex(all.ak), set.f5);
    EXPECT_EQ(hex(all.ak_star), set.f5star);
}

}  // namespace

TEST(Milenage, EmbeddedTs35207Sets) {
    for (const test_set& set : embedded_sets()) {
        check_set(set);
    }
}

TEST(Milenage, SharedTestVectorFile) {
    const std::filesystem::path path =
        std::filesystem::path(IMSP2P_SHARED_DIR) / "testvectors" / "milenage.json";
    if (!std::filesystem::exists(path)) {
        GTEST_SKIP() << "no shared test vectors at " << path;
    }
    std::ifstream in(path);
    const nlohmann::json document = nlohmann::json::parse(in);
    ASSERT_TRUE(document.contains("sets"));
    std::size_t count = 0;
    for (const nlohmann::json& entry : document.at("sets")) {
        test_set set;
        set.number = entry.at("set").get<int>();
        set.k = entry.at("k").get<std::string>();
        set.rand = entry.at("rand").get<std::string>();
        set.sqn = entry.at("sqn").get<std::string>();
        set.amf = entry.at("amf").get<std::string>();
        set.op = entry.at("op").get<std::string>();
        set.opc = entry.at("opc").get<std::string>();
        set.f1 = entry.at("f1").get<std::string>();
        set.f1star = entry.at("f1star").get<std::string>();
        set.f2 = entry.at("f2").get<std::string>();
        set.f3 = entry.at("f3").get<std::string>();
        set.f4 = entry.at("f4").get<std::string>();
        set.f5 = entry.at("f5").get<std::string>();
        set.f5star = entry.at("f5star").get<std::string>();
        check_set(set);
        ++count;
    }
    EXPECT_GE(count, 2u);
}

TEST(Milenage, SetKeysSwitchesSubscriberOnTheSameContext) {
    const test_set& one = embedded_sets()[0];
    const test_set& two = embedded_sets()[1];
    pana::milenage m(array_from_hex<16>(one.k), array_from_hex<16>(one.opc));
    EXPECT_EQ(hex(m.f2(array_from_hex<16>(one.rand))), one.f2);
    m.set_keys(array_from_hex<16>(two.k), array_from_hex<16>(two.opc));
    EXPECT_EQ(hex(m.f2(array_from_hex<16>(two.rand))), two.f2);
    EXPECT_EQ(hex(m.f5star(array_from_hex<16>(two.rand))), two.f5star);

    pana::milenage moved(std::move(m));
    EXPECT_EQ(hex(moved.f3(array_from_hex<16>(two.rand))), two.f3);
}

TEST(Sqn, PartsBytesAndBounds) {
    constexpr pana::sqn s = pana::sqn::from_parts(0x123456789, 7, 5);
    static_assert(s.seq(5) == 0x123456789);
    static_assert(s.ind(5) == 7);
    static_assert(pana::sqn::from_bytes(s.to_bytes()) == s);
    EXPECT_EQ(core::to_hex(pana::sqn(0xff9bb4d0b607).to_bytes()), "ff9bb4d0b607");
    EXPECT_EQ(pana::sqn::from_bytes({0, 0, 0, 0, 1, 0}).value(), 256u);
    EXPECT_LT(pana::sqn(1), pana::sqn(2));
    EXPECT_THROW(pana::sqn(pana::sqn::max_value + 1), std::out_of_range);
    EXPECT_THROW(pana::sqn::from_parts(0, 32, 5), std::out_of_range);
    EXPECT_THROW(pana::sqn::from_parts(std::uint64_t{1} << 43, 0, 5), std::out_of_range);
    EXPECT_EQ(pana::sqn::from_parts((std::uint64_t{1} << 43) - 1, 31, 5).value(),
              pana::sqn::max_value);
}

TEST(Milenage, WipeZeroes) {
    pana::aka_key key{};
    key.fill(0xab);
    pana::wipe(key);
    EXPECT_TRUE(std::all_of(key.begin(), key.end(), [](std::uint8_t b) { return b == 0; }));
}
