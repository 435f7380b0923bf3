#include <imsp2p/sip/charging.hpp>

#include <imsp2p/core/crypto.hpp>
#include <imsp2p/core/encoding.hpp>

#include <gtest/gtest.h>

#include <atomic>
#include <filesystem>

namespace sip = imsp2p::sip;
namespace core = imsp2p::core;
namespace fs = std::filesystem;

namespace {

class Charging : public ::testing::Test {
  protected:
    void SetUp() override {
        dir_ = fs::temp_directory_path() / ("imsp2p-cdr-" + core::to_hex(core::random_bytes(8)));
        fs::create_directories(dir_);
    }
    void TearDown() override { fs::remove_all(dir_); }

    static sip::charge_record record(std::string id, std::string user, std::int64_t amount) {
        sip::charge_record out;
        out.charge_id = std::move(id);
        out.user = std::move(user);
        out.provider = "sip:alice@op.example";
        out.doi = "10.5555/x";
        out.price = {amount, "EUR"};
        out.request_id = "r";
        out.time = std::chrono::system_clock::time_point(std::chrono::seconds(1800000000));
        return out;
    }

    fs::path dir_;
};

}  // namespace

TEST_F(Charging, ChargesOncePerChargeIdAndSurvivesReopening) {
    std::atomic<int> ratings{0};
    {
        sip::sqlite_charging charging(dir_ / "cdr.sqlite", [&](const sip::charge_record&) {
            ++ratings;
            return sip::charge_result{sip::charge_outcome::charged, ""};
        });
        EXPECT_EQ(charging.charge(record("p1", "sip:bob@op.example", 199)).outcome,
                  sip::charge_outcome::charged);
        EXPECT_EQ(charging.charge(record("p1", "sip:bob@op.example", 199)).outcome,
                  sip::charge_outcome::charged);
        EXPECT_EQ(ratings.load(), 1);
    }
    sip::sqlite_charging reopened(dir_ / "cdr.sqlite", [&](const sip::charge_record&) {
        ++ratings;
        return sip::charge_result{sip::charge_outcome::declined, "no"};
    });
    EXPECT_EQ(reopened.charge(record("p1", "sip:bob@op.example", 199)).outcome,
              sip::charge_outcome::charged);
    EXPECT_EQ(ratings.load(), 1);
    EXPECT_EQ(reopened.records().size(), 1u);
}

TEST_F(Charging, DeclinedFailedAndRefundedOutcomes) {
    sip::sqlite_charging charging(dir_ / "cdr.sqlite", [](const sip::charge_record& r) {
        if (r.user == "sip:poor@op.example") {
            return sip::charge_result{sip::charge_outcome::declined, "no credit"};
        }
        if (r.user == "sip:offline@op.example") {
            return sip::charge_result{sip::charge_outcome::failed, "OCS down"};
        }
        return sip::charge_result{sip::charge_outcome::charged, ""};
    });
    EXPECT_EQ(charging.charge(record("d", "sip:poor@op.example", 5)).outcome,
              sip::charge_outcome::declined);
    EXPECT_EQ(charging.charge(record("f", "sip:offline@op.example", 5)).outcome,
              sip::charge_outcome::failed);
    EXPECT_EQ(charging.charge(record("c", "sip:bob@op.example", 5)).outcome,
              sip::charge_outcome::charged);
    std::error_code ec;
    charging.refund("c", "DRM refused", std::chrono::system_clock::now(), ec);
    ASSERT_FALSE(ec);
    const auto rows = charging.records();
    ASSERT_EQ(rows.size(), 2u);  // failed attempts are not stored
    EXPECT_EQ(charging.charge(record("c", "sip:bob@op.example", 5)).outcome,
              sip::charge_outcome::charged);  // still not charged twice
    const auto report = charging.report_json();
    EXPECT_TRUE(report["totals"].empty());  // nothing stays charged
    EXPECT_EQ(report["records"][0]["charge_id"], "c");
    EXPECT_EQ(report["records"][0]["outcome"], "refunded");
    EXPECT_EQ(report["records"][1]["outcome"], "declined");
}

TEST_F(Charging, ReportsFilterAndQuoteCsvSafely) {
    sip::sqlite_charging charging(dir_ / "cdr.sqlite");
    charging.charge(record("1", "sip:bob@op.example", 100));
    charging.charge(record("2", "=HYPERLINK(\"x\"),evil", 50));
    auto other = record("3", "sip:bob@op.example", 70);
    other.provider = "sip:zed@op.example";
    charging.charge(other);
    sip::report_filter filter;
    filter.provider = "sip:alice@op.example";
    const auto json = charging.report_json(filter);
    EXPECT_EQ(json["records"].size(), 2u);
    EXPECT_EQ(json["totals"][0]["amount_minor"], 150);
    const auto csv = charging.report_csv(filter);
    EXPECT_NE(csv.find("2027-01-15T08:00:00Z,1,download,sip:alice@op.example,sip:bob@op.example,"
                       "10.5555/x,100,EUR,charged,,r\r\n"),
              std::string::npos)
        << csv;
    EXPECT_NE(csv.find(",\"'=HYPERLINK(\"\"x\"\"),evil\","), std::string::npos) << csv;
    filter.until = std::chrono::system_clock::time_point(std::chrono::seconds(1700000000));
    EXPECT_TRUE(charging.records(filter).empty());
}
