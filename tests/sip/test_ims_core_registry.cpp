// The IMS core's subscriber registry (HSS + location service) in SQLite.
#include <imsp2p/sip/subscriber_registry.hpp>

#include <imsp2p/sip/error.hpp>

#include <imsp2p_test/temporary_directory.hpp>

#include <gtest/gtest.h>

#include <fstream>
#include <iterator>
#include <string>

namespace sip = imsp2p::sip;
namespace core = imsp2p::core;
using namespace std::chrono_literals;

namespace {

TEST(SubscriberRegistry, Ha1IsTheRfc2617Digest) {
    // RFC 2617 §3.5: HA1 of Mufasa / testrealm@host.com / "Circle Of Life".
    EXPECT_EQ(
        sip::subscriber_registry::compute_ha1("Mufasa", "testrealm@host.com", "Circle Of Life"),
        "939e7578ed9e3c518a452acee763bce9");
}

TEST(SubscriberRegistry, AddListFindRemove) {
    imsp2p_test::temporary_directory directory;
    const auto file = directory.path() / "ims.sqlite";
    const auto alice = core::impu::parse("sip:alice@ims.example");
    const auto alice_tel = core::impu::parse("tel:+15551234");
    const auto impi = core::impi::parse("alice@ims.example");
    {
        auto registry = sip::subscriber_registry::open(file);
        registry.add(alice, impi, "very-secret-password");
        registry.add(alice_tel, impi, "very-secret-password", "other.realm");
        std::error_code ec;
        registry.add(alice, impi, "again", "", ec);
        EXPECT_EQ(ec, sip::errc::subscriber_exists);
        registry.add(core::impu(), impi, "x", "", ec);
        EXPECT_TRUE(ec);
    }
    auto registry = sip::subscriber_registry::open(file);
    const auto users = registry.list();
    ASSERT_EQ(users.size(), 2u);
    std::error_code ec;
    const auto found = registry.find(core::impu::parse("sip:alice@IMS.example"), ec);
    ASSERT_TRUE(found);
    EXPECT_EQ(found->impi, impi);
    EXPECT_EQ(found->realm, "ims.example");
    EXPECT_EQ(found->ha1, sip::subscriber_registry::compute_ha1("alice@ims.example", "ims.example",
                                                                "very-secret-password"));
    const auto by_impi = registry.find_by_impi(impi, ec);
    ASSERT_EQ(by_impi.size(), 2u);
    EXPECT_FALSE(registry.find(core::impu::parse("sip:bob@ims.example"), ec));
    EXPECT_FALSE(ec);

    // Only the HA1 is stored, never the password.
    std::ifstream raw(file, std::ios::binary);
    const std::string bytes((std::istreambuf_iterator<char>(raw)),
                            std::istreambuf_iterator<char>());
    std::ifstream wal(file.string() + "-wal", std::ios::binary);
    const std::string wal_bytes((std::istreambuf_iterator<char>(wal)),
                                std::istreambuf_iterator<char>());
    EXPECT_EQ((bytes + wal_bytes).find("very-secret-password"), std::string::npos);

    registry.remove(alice_tel);
    registry.remove(alice_tel, ec);
    EXPECT_EQ(ec, sip::errc::unknown_subscriber);
    EXPECT_EQ(registry.list().size(), 1u);
}

TEST(SubscriberRegistry, BindingsPersistAndExpire) {
    imsp2p_test::temporary_directory directory;
    const auto file = directory.path() / "ims.sqlite";
    const auto alice = core::impu::parse("sip:alice@ims.example");
    const auto impi = core::impi::parse("alice@ims.example");
    const auto now = std::chrono::system_clock::now();
    {
        auto registry = sip::subscriber_registry::open(file);
        registry.add(alice, impi, "pw");
        sip::registration_binding binding;
        binding.impu = alice;
        binding.impi = impi;
        binding.contact = "sip:alice@127.0.0.1:5071";
        binding.received = "sip:127.0.0.1:5071;transport=udp";
        binding.call_id = "call-1";
        binding.cseq = 2;
        binding.expires = now + 600s;
        std::error_code ec;
        registry.save_binding(binding, ec);
        ASSERT_FALSE(ec);
        binding.contact = "sip:alice@127.0.0.1:5072";
        binding.expires = now - 1s;
        registry.save_binding(binding, ec);
        ASSERT_FALSE(ec);
        // Refresh of the first one (same IMPU + contact): one row, new values.
        binding.contact = "sip:alice@127.0.0.1:5071";
        binding.cseq = 3;
        binding.expires = now + 900s;
        registry.save_binding(binding, ec);
        ASSERT_FALSE(ec);
    }
    auto registry = sip::subscriber_registry::open(file);
    std::error_code ec;
    auto stored = registry.bindings(ec);
    ASSERT_FALSE(ec);
    ASSERT_EQ(stored.size(), 2u);
    EXPECT_EQ(registry.purge_expired(now, ec), 1u);
    stored = registry.bindings(ec);
    ASSERT_EQ(stored.size(), 1u);
    EXPECT_EQ(stored[0].contact, "sip:alice@127.0.0.1:5071");
    EXPECT_EQ(stored[0].cseq, 3u);
    EXPECT_EQ(stored[0].received, "sip:127.0.0.1:5071;transport=udp");
    // Stored with millisecond precision.
    EXPECT_LT(std::chrono::abs(stored[0].expires - (now + 900s)), 2ms);
    registry.remove_binding(alice, "sip:alice@127.0.0.1:5071", ec);
    EXPECT_TRUE(registry.bindings(ec).empty());
    // Removing a subscriber removes its bindings.
    sip::registration_binding binding = stored[0];
    registry.save_binding(binding, ec);
    registry.remove(alice);
    EXPECT_TRUE(registry.bindings(ec).empty());
}

}  // namespace
