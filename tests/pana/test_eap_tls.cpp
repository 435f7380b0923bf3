#include <imsp2p/pana/eap_tls.hpp>

#include <imsp2p/pana/error.hpp>
#include <imsp2p/pana/token_store.hpp>

#include <imsp2p/core/error.hpp>

#include <imsp2p_test/certificates.hpp>

#include <gtest/gtest.h>

#include <cstdint>
#include <memory>
#include <stdexcept>
#include <string>
#include <vector>

namespace pana = imsp2p::pana;
using namespace std::chrono_literals;
using imsp2p::core::byte_vector;

namespace {

constexpr char server_name[] = "paa.ims.example.net";
constexpr char alice[] = "alice@ims.example.net";

/** What one in-memory conversation did. */
struct transcript {
    std::size_t round_trips = 0;         // request/response pairs
    std::size_t largest_packet = 0;      // largest EAP packet either way
    std::vector<byte_vector> requests;   // every packet the authenticator sent
    std::vector<byte_vector> responses;  // every packet the peer sent
};

/** Drives authenticator and peer against each other until both stop. */
transcript converse(pana::eap_tls_authenticator& authenticator, pana::eap_tls_peer& peer) {
    transcript t;
    pana::eap_step request = authenticator.start();
    for (int guard = 0; guard < 500; ++guard) {
        t.requests.push_back(request.message);
        t.largest_packet = std::max(t.largest_packet, request.message.size());
        const pana::eap_step response = peer.on_packet(request.message);
        if (request.status != pana::eap_status::in_progress || response.message.empty()) {
            break;
        }
        ++t.round_trips;
        t.responses.push_back(response.message);
        t.largest_packet = std::max(t.largest_packet, response.message.size());
        request = authenticator.on_response(response.message);
        if (request.message.empty()) {
            break;
        }
    }
    return t;
}

class EapTls : public ::testing::Test {
  protected:
    imsp2p_test::test_pki pki;
    imsp2p_test::issued_certificate server = pki.issue_server(server_name);
    imsp2p_test::issued_certificate client = pki.issue_client(alice);

    pana::eap_tls_settings server_settings(pana::tls_version min = pana::tls_version::tls1_2,
                                           pana::tls_version max = pana::tls_version::tls1_3) {
        pana::eap_tls_settings s;
        s.ca_file = pki.ca().ca_file();
        s.certificate_chain_file = server.certificate_file;
        s.private_key_file = server.private_key_file;
        s.min_version = min;
        s.max_version = max;
        return s;
    }

    pana::eap_tls_settings client_settings(pana::tls_version min = pana::tls_version::tls1_2,
                                           pana::tls_version max = pana::tls_version::tls1_3) {
        pana::eap_tls_settings s;
        s.ca_file = pki.ca().ca_file();
        s.certificate_chain_file = client.certificate_file;
        s.private_key_file = client.private_key_file;
        s.min_version = min;
        s.max_version = max;
        s.expected_server_name = server_name;
        return s;
    }

    static std::shared_ptr<const pana::eap_tls_context> server_context(
        const pana::eap_tls_settings& s) {
        return pana::eap_tls_context::create(s, pana::eap_tls_role::server);
    }
    static std::shared_ptr<const pana::eap_tls_context> client_context(
        const pana::eap_tls_settings& s) {
        return pana::eap_tls_context::create(s, pana::eap_tls_role::client);
    }
};

class EapTlsVersion : public EapTls, public ::testing::WithParamInterface<pana::tls_version> {};

TEST_P(EapTlsVersion, SucceedsWithEqualKeysAndTokenOnBothEnds) {
    const pana::tls_version version = GetParam();
    std::string sunk_identity;
    byte_vector sunk_token;
    pana::eap_tls_authenticator authenticator(
        server_context(server_settings(version, version)),
        [&](const std::string& identity, imsp2p::core::byte_view token) {
            sunk_identity = identity;
            sunk_token.assign(token.begin(), token.end());
        });
    pana::eap_tls_peer peer(client_context(client_settings(version, version)), alice);
    const transcript t = converse(authenticator, peer);

    ASSERT_EQ(authenticator.status(), pana::eap_status::success) << authenticator.error().message();
    ASSERT_EQ(peer.status(), pana::eap_status::success) << peer.error().message();
    EXPECT_EQ(authenticator.version(), version);
    EXPECT_EQ(peer.version(), version);
    EXPECT_EQ(authenticator.peer_identity(), alice);
    EXPECT_EQ(authenticator.msk().size(), 64u);
    EXPECT_EQ(authenticator.emsk().size(), 64u);
    EXPECT_EQ(authenticator.token().size(), 64u);
    EXPECT_EQ(authenticator.msk(), peer.msk());
    EXPECT_EQ(authenticator.emsk(), peer.emsk());
    EXPECT_EQ(authenticator.token(), peer.token());
    EXPECT_NE(authenticator.msk(), authenticator.emsk());
    EXPECT_NE(authenticator.msk(), authenticator.token());
    EXPECT_EQ(sunk_identity, alice);
    EXPECT_EQ(sunk_token, peer.token());
    // The last packet is EAP-Success (code 3), and nothing exceeded the default fragment size.
    ASSERT_FALSE(t.requests.empty());
    EXPECT_EQ(t.requests.back().front(), 3);
    EXPECT_LE(t.largest_packet, 1000u + 10u);
}

TEST_P(EapTlsVersion, SmallFragmentsAreReassembledAndAcknowledged) {
    const pana::tls_version version = GetParam();
    auto s = server_settings(version, version);
    auto c = client_settings(version, version);
    s.fragment_size = 100;
    c.fragment_size = 100;
    pana::eap_tls_authenticator authenticator(server_context(s));
    pana::eap_tls_peer peer(client_context(c), alice);
    const transcript t = converse(authenticator, peer);
    ASSERT_EQ(authenticator.status(), pana::eap_status::success) << authenticator.error().message();
    ASSERT_EQ(peer.status(), pana::eap_status::success) << peer.error().message();
    EXPECT_EQ(authenticator.msk(), peer.msk());
    EXPECT_LE(t.largest_packet, 100u + 10u);  // EAP header, type, flags, TLS message length
    EXPECT_GT(t.round_trips, 10u);
    // Some responses are bare acknowledgements: EAP-TLS with flags 0 and no data.
    std::size_t acks = 0;
    for (const byte_vector& r : t.responses) {
        acks += r.size() == 6 && r[4] == 13 && r[5] == 0 ? 1 : 0;
    }
    EXPECT_GT(acks, 3u);
    // The first fragment of a long message carries L and M and the total length.
    bool saw_first_fragment = false;
    for (const byte_vector& r : t.requests) {
        if (r.size() > 9 && r[4] == 13 && (r[5] & 0xc0) == 0xc0) {
            saw_first_fragment = true;
            const std::uint32_t total = (std::uint32_t{r[6]} << 24) | (std::uint32_t{r[7]} << 16) |
                                        (std::uint32_t{r[8]} << 8) | r[9];
            EXPECT_GT(total, 100u);
        }
    }
    EXPECT_TRUE(saw_first_fragment);
}

INSTANTIATE_TEST_SUITE_P(Versions, EapTlsVersion,
                         ::testing::Values(pana::tls_version::tls1_2, pana::tls_version::tls1_3),
                         [](const auto& suite_param) {
                             return suite_param.param == pana::tls_version::tls1_2 ? "Tls12"
                                                                                   : "Tls13";
                         });

TEST_F(EapTls, KeysDifferBetweenVersionsAndSessions) {
    std::vector<byte_vector> msks;
    std::vector<byte_vector> tokens;
    for (auto version :
         {pana::tls_version::tls1_2, pana::tls_version::tls1_3, pana::tls_version::tls1_3}) {
        pana::eap_tls_authenticator authenticator(
            server_context(server_settings(version, version)));
        pana::eap_tls_peer peer(client_context(client_settings(version, version)), alice);
        converse(authenticator, peer);
        ASSERT_EQ(peer.status(), pana::eap_status::success);
        msks.push_back(peer.msk());
        tokens.push_back(peer.token());
    }
    EXPECT_NE(msks[0], msks[1]);
    EXPECT_NE(msks[1], msks[2]);
    EXPECT_NE(tokens[0], tokens[1]);
    EXPECT_NE(tokens[1], tokens[2]);
}

TEST_F(EapTls, TokenSinkStoresTheTokenAtTheHssAndItsFailureDoesNotFailAccess) {
    auto tokens = pana::token_store::open(":memory:");
    pana::eap_tls_authenticator authenticator(server_context(server_settings()),
                                              pana::make_token_store_sink(tokens, 60s));
    pana::eap_tls_peer peer(client_context(client_settings()), alice);
    converse(authenticator, peer);
    ASSERT_EQ(peer.status(), pana::eap_status::success);
    const byte_vector token = peer.token();
    std::error_code ec;
    tokens.consume(
        imsp2p::core::impi::parse(alice),
        [&](imsp2p::core::byte_view stored) {
            return byte_vector(stored.begin(), stored.end()) == token;
        },
        ec);
    EXPECT_FALSE(ec) << ec.message();

    pana::eap_tls_authenticator throwing(
        server_context(server_settings()),
        [](const std::string&, imsp2p::core::byte_view) { throw std::runtime_error("HSS down"); });
    pana::eap_tls_peer second(client_context(client_settings()), alice);
    converse(throwing, second);
    EXPECT_EQ(throwing.status(), pana::eap_status::success);
    EXPECT_EQ(second.status(), pana::eap_status::success);
}

TEST_F(EapTls, BothVersionsOfferedNegotiateTls13) {
    pana::eap_tls_authenticator authenticator(server_context(server_settings()));
    pana::eap_tls_peer peer(client_context(client_settings()), alice);
    converse(authenticator, peer);
    ASSERT_EQ(peer.status(), pana::eap_status::success);
    EXPECT_EQ(peer.version(), pana::tls_version::tls1_3);
}

TEST_F(EapTls, CredentialsMayBeGivenAsPemText) {
    pana::eap_tls_settings s;
    s.ca_pem = pki.ca().ca_pem();
    s.certificate_chain_pem = server.certificate_pem;
    s.private_key_pem = server.private_key_pem;
    pana::eap_tls_settings c;
    c.ca_pem = pki.ca().ca_pem();
    c.certificate_chain_pem = client.certificate_pem;
    c.private_key_pem = client.private_key_pem;
    pana::eap_tls_authenticator authenticator(server_context(s));
    pana::eap_tls_peer peer(client_context(c), alice);
    converse(authenticator, peer);
    EXPECT_EQ(authenticator.status(), pana::eap_status::success);
    EXPECT_EQ(peer.status(), pana::eap_status::success);
}

TEST_F(EapTls, ClientCertificateFromAnotherCaIsRejected) {
    for (auto version : {pana::tls_version::tls1_2, pana::tls_version::tls1_3}) {
        const auto stranger = pki.issue_client_from_other_ca(alice);
        auto c = client_settings(version, version);
        c.certificate_chain_file = stranger.certificate_file;
        c.private_key_file = stranger.private_key_file;
        pana::eap_tls_authenticator authenticator(server_context(server_settings()));
        pana::eap_tls_peer peer(client_context(c), alice);
        const transcript t = converse(authenticator, peer);
        EXPECT_EQ(authenticator.status(), pana::eap_status::failure);
        EXPECT_EQ(authenticator.error(), pana::errc::eap_tls_certificate_rejected);
        EXPECT_EQ(peer.status(), pana::eap_status::failure);
        EXPECT_EQ(t.requests.back(), (byte_vector{4, t.requests.back()[1], 0, 4}));
        EXPECT_TRUE(authenticator.msk().empty());
        EXPECT_TRUE(authenticator.token().empty());
        EXPECT_TRUE(peer.msk().empty());
        EXPECT_TRUE(peer.emsk().empty());
        EXPECT_TRUE(peer.token().empty());
    }
}

TEST_F(EapTls, MissingClientCertificateIsRejected) {
    auto c = client_settings();
    c.certificate_chain_file.clear();
    c.private_key_file.clear();
    pana::eap_tls_authenticator authenticator(server_context(server_settings()));
    pana::eap_tls_peer peer(client_context(c), alice);
    converse(authenticator, peer);
    EXPECT_EQ(authenticator.status(), pana::eap_status::failure);
    EXPECT_EQ(authenticator.error(), pana::errc::eap_tls_certificate_rejected);
    EXPECT_EQ(peer.status(), pana::eap_status::failure);
    EXPECT_TRUE(peer.msk().empty());
}

TEST_F(EapTls, ServerCertificateFromAnotherCaIsRefusedByThePeer) {
    for (auto version : {pana::tls_version::tls1_2, pana::tls_version::tls1_3}) {
        const auto impostor = pki.issue_server_from_other_ca(server_name);
        auto s = server_settings(version, version);
        s.certificate_chain_file = impostor.certificate_file;
        s.private_key_file = impostor.private_key_file;
        pana::eap_tls_authenticator authenticator(server_context(s));
        pana::eap_tls_peer peer(client_context(client_settings(version, version)), alice);
        converse(authenticator, peer);
        EXPECT_EQ(peer.status(), pana::eap_status::failure);
        EXPECT_EQ(peer.error(), pana::errc::eap_tls_certificate_rejected);
        EXPECT_EQ(authenticator.status(), pana::eap_status::failure);
        EXPECT_TRUE(peer.msk().empty());
        EXPECT_TRUE(authenticator.msk().empty());
    }
}

TEST_F(EapTls, ServerCertificateForAnotherNameIsRefusedByThePeer) {
    auto c = client_settings();
    c.expected_server_name = "other.ims.example.net";
    pana::eap_tls_authenticator authenticator(server_context(server_settings()));
    pana::eap_tls_peer peer(client_context(c), alice);
    converse(authenticator, peer);
    EXPECT_EQ(peer.status(), pana::eap_status::failure);
    EXPECT_EQ(peer.error(), pana::errc::eap_tls_certificate_rejected);
    EXPECT_EQ(authenticator.status(), pana::eap_status::failure);
}

TEST_F(EapTls, IdentityThatIsNotInTheCertificateFails) {
    for (auto version : {pana::tls_version::tls1_2, pana::tls_version::tls1_3}) {
        pana::eap_tls_authenticator authenticator(
            server_context(server_settings(version, version)));
        pana::eap_tls_peer peer(client_context(client_settings(version, version)),
                                "bob@ims.example.net");
        converse(authenticator, peer);
        EXPECT_EQ(authenticator.status(), pana::eap_status::failure);
        EXPECT_EQ(authenticator.error(), pana::errc::eap_tls_identity_mismatch);
        EXPECT_EQ(peer.status(), pana::eap_status::failure);
        EXPECT_TRUE(authenticator.msk().empty());
        EXPECT_TRUE(peer.msk().empty());
    }
}

TEST_F(EapTls, CertificateCommonNameAloneDoesNotMatchTheIdentity) {
    // CN = the IMPI but no rfc822Name: the CN is not consulted.
    const auto cn_only = pki.ca().issue("cn-only", alice, "");
    auto c = client_settings();
    c.certificate_chain_file = cn_only.certificate_file;
    c.private_key_file = cn_only.private_key_file;
    pana::eap_tls_authenticator authenticator(server_context(server_settings()));
    pana::eap_tls_peer peer(client_context(c), alice);
    converse(authenticator, peer);
    EXPECT_EQ(authenticator.error(), pana::errc::eap_tls_identity_mismatch);
}

TEST_F(EapTls, DisjointVersionRangesFailWithoutKeys) {
    pana::eap_tls_authenticator authenticator(
        server_context(server_settings(pana::tls_version::tls1_3, pana::tls_version::tls1_3)));
    pana::eap_tls_peer peer(
        client_context(client_settings(pana::tls_version::tls1_2, pana::tls_version::tls1_2)),
        alice);
    converse(authenticator, peer);
    EXPECT_EQ(authenticator.status(), pana::eap_status::failure);
    EXPECT_EQ(authenticator.error(), pana::errc::tls_failure);
    EXPECT_EQ(peer.status(), pana::eap_status::failure);
    EXPECT_TRUE(peer.msk().empty());
}

TEST_F(EapTls, GarbageAndWrongIdentifiersAreIgnoredAndTheConversationGoesOn) {
    pana::eap_tls_authenticator authenticator(server_context(server_settings()));
    pana::eap_tls_peer peer(client_context(client_settings()), alice);
    pana::eap_step request = authenticator.start();
    const std::uint8_t id = request.message[1];

    pana::eap_step ignored = authenticator.on_response(byte_vector{0xde, 0xad});
    EXPECT_TRUE(ignored.message.empty());
    EXPECT_EQ(ignored.status, pana::eap_status::in_progress);
    EXPECT_EQ(authenticator.error(), pana::errc::eap_malformed);

    const byte_vector wrong_id{2, static_cast<std::uint8_t>(id + 1), 0, 6, 1, 'x'};
    ignored = authenticator.on_response(wrong_id);
    EXPECT_TRUE(ignored.message.empty());
    EXPECT_EQ(authenticator.error(), pana::errc::eap_unexpected_message);

    ignored = peer.on_packet(byte_vector{1, 1, 0, 9});
    EXPECT_TRUE(ignored.message.empty());
    EXPECT_EQ(peer.error(), pana::errc::eap_malformed);
    EXPECT_EQ(peer.status(), pana::eap_status::in_progress);

    // The real conversation still succeeds from where it was.
    for (int guard = 0; guard < 100 && request.status == pana::eap_status::in_progress; ++guard) {
        const pana::eap_step response = peer.on_packet(request.message);
        request = authenticator.on_response(response.message);
    }
    peer.on_packet(request.message);
    EXPECT_EQ(authenticator.status(), pana::eap_status::success);
    EXPECT_EQ(peer.status(), pana::eap_status::success);
    EXPECT_EQ(authenticator.msk(), peer.msk());
}

TEST_F(EapTls, RetransmittedRequestGetsTheSameResponse) {
    pana::eap_tls_authenticator authenticator(server_context(server_settings()));
    pana::eap_tls_peer peer(client_context(client_settings()), alice);
    const pana::eap_step identity_request = authenticator.start();
    const pana::eap_step identity_response = peer.on_packet(identity_request.message);
    const pana::eap_step start = authenticator.on_response(identity_response.message);
    const pana::eap_step hello = peer.on_packet(start.message);
    const pana::eap_step again = peer.on_packet(start.message);
    EXPECT_EQ(again.message, hello.message);
    EXPECT_FALSE(hello.message.empty());
}

/** Brings an authenticator to the point where it waits for the ClientHello. */
class EapTlsFraming : public EapTls {
  protected:
    void SetUp() override {
        auto s = server_settings();
        s.max_message_size = 2000;
        authenticator = std::make_unique<pana::eap_tls_authenticator>(server_context(s));
        const pana::eap_step identity = authenticator->start();
        id = identity.message[1];
        byte_vector response{2, id, 0, 0, 1};
        response.insert(response.end(), alice, alice + sizeof alice - 1);
        response[3] = static_cast<std::uint8_t>(response.size());
        const pana::eap_step start = authenticator->on_response(response);
        ASSERT_EQ(start.message.size(), 6u);
        EXPECT_EQ(start.message[5], 0x20);  // S
        id = start.message[1];
    }

    pana::eap_step send_tls(const byte_vector& type_data) {
        byte_vector wire{2, id, 0, 0, 13};
        wire.insert(wire.end(), type_data.begin(), type_data.end());
        wire[2] = static_cast<std::uint8_t>(wire.size() >> 8);
        wire[3] = static_cast<std::uint8_t>(wire.size());
        return authenticator->on_response(wire);
    }

    void expect_failure(const pana::eap_step& step, pana::errc why) {
        EXPECT_EQ(step.status, pana::eap_status::failure);
        ASSERT_EQ(step.message.size(), 4u);
        EXPECT_EQ(step.message[0], 4);
        EXPECT_EQ(authenticator->error(), why);
        EXPECT_TRUE(authenticator->msk().empty());
    }

    std::unique_ptr<pana::eap_tls_authenticator> authenticator;
    std::uint8_t id = 0;
};

TEST_F(EapTlsFraming, DeclaredLengthAboveTheLimitIsTooLarge) {
    expect_failure(send_tls({0xc0, 0, 0, 0x07, 0xd1, 1, 2, 3}), pana::errc::eap_fragment_too_large);
}

TEST_F(EapTlsFraming, UnfragmentedMessageAboveTheLimitIsTooLarge) {
    byte_vector data{0x00};
    data.resize(1 + 2001, 0x16);
    expect_failure(send_tls(data), pana::errc::eap_fragment_too_large);
}

TEST_F(EapTlsFraming, FragmentsBeyondTheDeclaredLengthAreAFramingError) {
    const pana::eap_step ack = send_tls({0xc0, 0, 0, 0, 4, 1, 2, 3});
    ASSERT_EQ(ack.status, pana::eap_status::in_progress);
    ASSERT_EQ(ack.message.size(), 6u);  // an acknowledgement: EAP-TLS, flags 0, no data
    EXPECT_EQ(ack.message[5], 0);
    id = ack.message[1];
    expect_failure(send_tls({0x00, 4, 5}), pana::errc::eap_tls_framing);
}

TEST_F(EapTlsFraming, LastFragmentShortOfTheDeclaredLengthIsAFramingError) {
    const pana::eap_step ack = send_tls({0xc0, 0, 0, 0, 9, 1, 2, 3});
    id = ack.message[1];
    expect_failure(send_tls({0x00, 4, 5}), pana::errc::eap_tls_framing);
}

TEST_F(EapTlsFraming, MoreFragmentsWithoutALengthIsAFramingError) {
    expect_failure(send_tls({0x40, 1, 2, 3}), pana::errc::eap_tls_framing);
}

TEST_F(EapTlsFraming, TruncatedLengthFieldIsAFramingError) {
    expect_failure(send_tls({0x80, 0, 0}), pana::errc::eap_tls_framing);
}

TEST_F(EapTlsFraming, StartFlagFromThePeerIsAFramingError) {
    expect_failure(send_tls({0x20, 0x16}), pana::errc::eap_tls_framing);
}

TEST_F(EapTlsFraming, EmptyTypeDataIsAFramingError) {
    expect_failure(send_tls({}), pana::errc::eap_tls_framing);
}

TEST_F(EapTlsFraming, AcknowledgementWhenNothingWasSentIsAFramingError) {
    expect_failure(send_tls({0x00}), pana::errc::eap_tls_framing);
}

TEST_F(EapTlsFraming, GarbageTlsRecordFailsTheHandshake) {
    expect_failure(send_tls({0x00, 0x99, 0x03, 0x03, 0x00, 0x02, 0xff, 0xff}),
                   pana::errc::tls_failure);
}

TEST_F(EapTlsFraming, PartialTlsFlightIsAFramingError) {
    // A complete EAP-TLS message must hold whole TLS records: half a ClientHello is refused.
    expect_failure(send_tls({0x00, 0x16, 0x03, 0x01, 0x00, 0x02, 0x01, 0x00}),
                   pana::errc::eap_tls_framing);
}

TEST_F(EapTlsFraming, AfterAFailureEveryResponseGetsEapFailure) {
    expect_failure(send_tls({0x40, 1}), pana::errc::eap_tls_framing);
    const pana::eap_step later = send_tls({0x00, 1});
    EXPECT_EQ(later.status, pana::eap_status::failure);
    ASSERT_EQ(later.message.size(), 4u);
    EXPECT_EQ(later.message[0], 4);
}

TEST_F(EapTls, PeerRefusesSuccessBeforeTheHandshake) {
    pana::eap_tls_peer peer(client_context(client_settings()), alice);
    const pana::eap_step step = peer.on_packet(byte_vector{3, 1, 0, 4});
    EXPECT_EQ(step.status, pana::eap_status::failure);
    EXPECT_EQ(peer.error(), pana::errc::eap_unexpected_message);
    EXPECT_TRUE(peer.msk().empty());
}

TEST_F(EapTls, PeerAnswersIdentityAndNaksOtherMethods) {
    pana::eap_tls_peer peer(client_context(client_settings()), alice);
    const pana::eap_step identity = peer.on_packet(byte_vector{1, 5, 0, 5, 1});
    byte_vector expected{2, 5, 0, 0, 1};
    expected.insert(expected.end(), alice, alice + sizeof alice - 1);
    expected[3] = static_cast<std::uint8_t>(expected.size());
    EXPECT_EQ(identity.message, expected);
    const pana::eap_step nak = peer.on_packet(byte_vector{1, 6, 0, 5, 4});  // MD5-Challenge
    EXPECT_EQ(nak.message, (byte_vector{2, 6, 0, 6, 3, 13}));
    EXPECT_EQ(nak.status, pana::eap_status::in_progress);
}

TEST_F(EapTls, ContextSettingsAreChecked) {
    std::error_code ec;
    auto s = server_settings();
    s.fragment_size = 10;
    EXPECT_EQ(pana::eap_tls_context::create(s, pana::eap_tls_role::server, ec), nullptr);
    EXPECT_EQ(ec, imsp2p::core::errc::invalid_argument);

    s = server_settings(pana::tls_version::tls1_3, pana::tls_version::tls1_2);
    EXPECT_EQ(pana::eap_tls_context::create(s, pana::eap_tls_role::server, ec), nullptr);
    EXPECT_EQ(ec, imsp2p::core::errc::invalid_argument);

    s = server_settings();
    s.certificate_chain_file.clear();
    s.private_key_file.clear();
    EXPECT_EQ(pana::eap_tls_context::create(s, pana::eap_tls_role::server, ec), nullptr);
    EXPECT_EQ(ec, imsp2p::core::errc::invalid_argument);

    s = server_settings();
    s.ca_file = pki.directory() / "missing.pem";
    EXPECT_EQ(pana::eap_tls_context::create(s, pana::eap_tls_role::server, ec), nullptr);
    EXPECT_EQ(ec, pana::errc::tls_failure);

    s = server_settings();
    s.private_key_file = client.private_key_file;  // does not match the certificate
    EXPECT_EQ(pana::eap_tls_context::create(s, pana::eap_tls_role::server, ec), nullptr);
    EXPECT_EQ(ec, pana::errc::tls_failure);

    s = server_settings();
    s.ca_pem = "not PEM";
    EXPECT_EQ(pana::eap_tls_context::create(s, pana::eap_tls_role::server, ec), nullptr);
    EXPECT_EQ(ec, pana::errc::tls_failure);

    EXPECT_THROW(pana::eap_tls_authenticator(client_context(client_settings())), std::system_error);
    EXPECT_THROW(pana::eap_tls_peer(server_context(server_settings()), alice), std::system_error);

    EXPECT_NE(pana::eap_tls_context::create(server_settings(), pana::eap_tls_role::server, ec),
              nullptr);
    EXPECT_FALSE(ec);
}

}  // namespace
