#include <imsp2p/pana/token_store.hpp>

#include <imsp2p/pana/error.hpp>

#include <imsp2p/core/error.hpp>

#include "imsp2p_test/temporary_directory.hpp"

#include <gtest/gtest.h>

#include <algorithm>
#include <string>

namespace pana = imsp2p::pana;
namespace core = imsp2p::core;
using namespace std::chrono_literals;

namespace {

const core::impi alice = core::impi::parse("alice@ims.example");

core::byte_vector token(std::uint8_t seed) {
    core::byte_vector t(64);
    for (std::size_t i = 0; i < t.size(); ++i) {
        t[i] = static_cast<std::uint8_t>(seed + i);
    }
    return t;
}

pana::token_proof_check equals(const core::byte_vector& expected) {
    return [expected](core::byte_view offered) {
        return core::constant_time_equal(offered, expected);
    };
}

core::secret_bytes master_key() {
    return core::secret_bytes(core::byte_vector(32, 0x33));
}

class TokenStore : public ::testing::TestWithParam<bool> {
  protected:
    pana::token_store open() {
        pana::token_store_options options;
        if (GetParam()) {
            options.master_key = master_key();
        }
        return pana::token_store::open(directory_.path() / "hss.sqlite", std::move(options));
    }
    imsp2p_test::temporary_directory directory_{"imsp2p-token-store"};
};

TEST_P(TokenStore, ATokenIsConsumedOnceWithTheRightProof) {
    auto store = open();
    const auto now = std::chrono::system_clock::now();
    store.store(alice, token(1), now + 60s);
    std::error_code ec;
    store.consume(alice, equals(token(2)), now, ec);
    EXPECT_EQ(ec, pana::errc::token_proof_mismatch);
    store.consume(alice, equals(token(1)), now, ec);  // a wrong proof did not burn it
    EXPECT_FALSE(ec) << ec.message();
    store.consume(alice, equals(token(1)), now, ec);
    EXPECT_EQ(ec, pana::errc::token_used);
}

TEST_P(TokenStore, ExpiredAndUnknownTokensAreRefused) {
    auto store = open();
    const auto now = std::chrono::system_clock::now();
    store.store(alice, token(1), now + 10s);
    std::error_code ec;
    store.consume(alice, equals(token(1)), now + 10s, ec);
    EXPECT_EQ(ec, pana::errc::token_expired);
    store.consume(core::impi::parse("bob@ims.example"), equals(token(1)), now, ec);
    EXPECT_EQ(ec, pana::errc::token_unknown);
}

TEST_P(TokenStore, ANewTokenReplacesAUsedOneAndSurvivesReopening) {
    const auto now = std::chrono::system_clock::now();
    {
        auto store = open();
        store.store(alice, token(1), now + 60s);
        std::error_code ec;
        store.consume(alice, equals(token(1)), now, ec);
        ASSERT_FALSE(ec);
        store.store(alice, token(5), now + 60s);
    }
    auto store = open();
    std::error_code ec;
    store.consume(alice, equals(token(1)), now, ec);
    EXPECT_EQ(ec, pana::errc::token_proof_mismatch);
    store.consume(alice, equals(token(5)), now, ec);
    EXPECT_FALSE(ec) << ec.message();
}

TEST_P(TokenStore, PurgeRemovesUsedAndExpiredRows) {
    auto store = open();
    const auto now = std::chrono::system_clock::now();
    store.store(alice, token(1), now + 60s);
    store.store(core::impi::parse("bob@ims.example"), token(2), now - 1s);
    store.store(core::impi::parse("carol@ims.example"), token(3), now + 60s);
    std::error_code ec;
    store.consume(alice, equals(token(1)), now, ec);
    ASSERT_FALSE(ec);
    EXPECT_EQ(store.purge(now, ec), 2u);
    EXPECT_FALSE(ec);
    store.consume(core::impi::parse("carol@ims.example"), equals(token(3)), now, ec);
    EXPECT_FALSE(ec);
}

TEST_P(TokenStore, BadInputIsRefusedAndNothingIsStored) {
    auto store = open();
    std::error_code ec;
    const auto later = std::chrono::system_clock::now() + 60s;
    store.store(core::impi{}, token(1), later, ec);
    EXPECT_EQ(ec, core::errc::invalid_argument);
    store.store(alice, core::byte_vector(8, 1), later, ec);
    EXPECT_EQ(ec, core::errc::invalid_argument);
    store.store(alice, core::byte_vector(65, 1), later, ec);
    EXPECT_EQ(ec, core::errc::invalid_argument);
    store.consume(alice, equals(token(1)), ec);
    EXPECT_EQ(ec, pana::errc::token_unknown);
}

INSTANTIATE_TEST_SUITE_P(Sealing, TokenStore, ::testing::Bool(), [](const auto& suite_param) {
    return suite_param.param ? "Sealed" : "Clear";
});

TEST(TokenStoreKeys, SealedTokensNeedTheMasterKeyAndWrongKeySizesAreRefused) {
    imsp2p_test::temporary_directory directory("imsp2p-token-store");
    const auto file = directory.path() / "hss.sqlite";
    const auto now = std::chrono::system_clock::now();
    {
        pana::token_store_options options;
        options.master_key = master_key();
        auto store = pana::token_store::open(file, std::move(options));
        store.store(alice, token(1), now + 60s);
    }
    auto without_key = pana::token_store::open(file);
    std::error_code ec;
    without_key.consume(alice, equals(token(1)), now, ec);
    EXPECT_EQ(ec, core::errc::bad_key);
    pana::token_store_options wrong;
    wrong.master_key = core::secret_bytes(core::byte_vector(16, 1));
    (void)pana::token_store::open(file, std::move(wrong), ec);
    EXPECT_EQ(ec, core::errc::bad_key_size);
    pana::token_store_options other;
    other.master_key = core::secret_bytes(core::byte_vector(32, 9));
    auto other_key = pana::token_store::open(file, std::move(other));
    other_key.consume(alice, equals(token(1)), now, ec);
    EXPECT_EQ(ec, core::errc::authentication_failed);
}

TEST(TokenDeposit, RoundTripsUnderTheServiceKey) {
    const core::byte_vector key(32, 0x42);
    const auto expiry = std::chrono::system_clock::now() + 300s;
    std::error_code ec;
    const auto sealed = pana::seal_token_deposit(key, alice, token(7), expiry, ec);
    ASSERT_FALSE(ec) << ec.message();
    const auto deposit =
        pana::open_token_deposit(key, sealed, std::chrono::system_clock::now(), ec);
    ASSERT_TRUE(deposit) << ec.message();
    EXPECT_EQ(deposit->impi, alice);
    EXPECT_EQ(core::byte_vector(deposit->token.begin(), deposit->token.end()), token(7));
    EXPECT_EQ(std::chrono::duration_cast<std::chrono::seconds>(deposit->expiry.time_since_epoch()),
              std::chrono::duration_cast<std::chrono::seconds>(expiry.time_since_epoch()));
    // The sealed message does not contain the token in clear.
    const auto t = token(7);
    EXPECT_EQ(std::search(sealed.begin(), sealed.end(), t.begin(), t.begin() + 16), sealed.end());
}

TEST(TokenDeposit, WrongKeyTamperingAndExpiryAreRefused) {
    const core::byte_vector key(32, 0x42);
    const auto now = std::chrono::system_clock::now();
    std::error_code ec;
    auto sealed = pana::seal_token_deposit(key, alice, token(7), now + 300s, ec);
    ASSERT_FALSE(ec);
    EXPECT_FALSE(pana::open_token_deposit(core::byte_vector(32, 0x43), sealed, now, ec));
    EXPECT_EQ(ec, pana::errc::token_service_unauthorized);
    auto tampered = sealed;
    tampered[tampered.size() / 2] ^= 1;
    EXPECT_FALSE(pana::open_token_deposit(key, tampered, now, ec));
    EXPECT_EQ(ec, pana::errc::token_service_unauthorized);
    EXPECT_FALSE(pana::open_token_deposit(key, core::byte_vector{1, 2, 3}, now, ec));
    EXPECT_EQ(ec, pana::errc::token_service_unauthorized);
    EXPECT_FALSE(pana::open_token_deposit(key, sealed, now + 301s, ec));
    EXPECT_EQ(ec, pana::errc::token_expired);
    EXPECT_FALSE(pana::open_token_deposit(core::byte_vector(31, 0), sealed, now, ec));
    EXPECT_EQ(ec, core::errc::bad_key_size);
    EXPECT_TRUE(
        pana::seal_token_deposit(core::byte_vector(32, 1), core::impi{}, token(1), now + 1s, ec)
            .empty());
    EXPECT_EQ(ec, core::errc::invalid_argument);
}

}  // namespace

namespace {

TEST(TokenDepositReplay, ADepositIsAcceptedOnceEvenAfterReopeningTheStore) {
    imsp2p_test::temporary_directory dir("imsp2p-token-deposit");
    const auto file = dir.path() / "hss.db";
    const core::byte_vector key(32, 0x42);
    const auto now = std::chrono::system_clock::now();
    std::error_code ec;
    const auto sealed = pana::seal_token_deposit(key, alice, token(3), now + 300s, ec);
    ASSERT_FALSE(ec) << ec.message();
    const auto again = pana::seal_token_deposit(key, alice, token(3), now + 300s, ec);
    ASSERT_FALSE(ec);
    const auto first = pana::open_token_deposit(key, sealed, now, ec);
    const auto second = pana::open_token_deposit(key, again, now, ec);
    ASSERT_TRUE(first && second);
    EXPECT_NE(first->id, second->id);  // every seal has a fresh id
    {
        auto store = pana::token_store::open(file);
        store.accept_deposit(*first, now, ec);
        ASSERT_FALSE(ec) << ec.message();
        store.consume(alice, equals(token(3)), now, ec);
        ASSERT_FALSE(ec) << ec.message();
    }
    auto store = pana::token_store::open(file);
    const auto replayed = pana::open_token_deposit(key, sealed, now + 1s, ec);
    ASSERT_TRUE(replayed);
    store.accept_deposit(*replayed, now + 1s, ec);
    EXPECT_EQ(ec, pana::errc::token_deposit_replayed);
    // The used token was not re-armed.
    store.consume(alice, equals(token(3)), now + 1s, ec);
    EXPECT_EQ(ec, pana::errc::token_used);
    // An expired deposit is refused and stores nothing.
    store.accept_deposit(*second, now + 301s, ec);
    EXPECT_EQ(ec, pana::errc::token_expired);
    store.consume(alice, equals(token(3)), now + 2s, ec);
    EXPECT_EQ(ec, pana::errc::token_used);
}

}  // namespace
