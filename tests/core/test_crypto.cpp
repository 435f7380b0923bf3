#include <imsp2p/core/crypto.hpp>

#include <imsp2p/core/encoding.hpp>
#include <imsp2p/core/error.hpp>

#include <gtest/gtest.h>

#include <algorithm>
#include <string>
#include <system_error>
#include <thread>
#include <vector>

namespace {

using namespace imsp2p::core;

byte_vector hex(std::string_view text) {
    return from_hex(text);
}

byte_vector repeat(std::uint8_t value, std::size_t count) {
    return byte_vector(count, value);
}

byte_vector sequence(std::uint8_t first, std::size_t count) {
    byte_vector out(count);
    for (std::size_t i = 0; i < count; ++i) {
        out[i] = static_cast<std::uint8_t>(first + i);
    }
    return out;
}

// --- random ------------------------------------------------------------------------------------

TEST(CryptoRandom, FillsBuffersWithDistinctValues) {
    const auto a = random_bytes(32);
    const auto b = random_bytes(32);
    ASSERT_EQ(a.size(), 32u);
    EXPECT_NE(a, b);  // probability of failure 2^-256
    std::array<std::uint8_t, 64> buffer{};
    std::error_code ec = errc::crypto_failure;
    random_bytes(buffer, ec);
    EXPECT_FALSE(ec);
    EXPECT_NE(buffer, (std::array<std::uint8_t, 64>{}));
    EXPECT_TRUE(random_bytes(0).empty());
}

// --- SHA (FIPS 180-4 examples / NIST CAVP short messages) ------------------------------------

const std::string nist_448_bits = "abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq";

TEST(CryptoSha, Sha1KnownAnswers) {
    EXPECT_EQ(to_hex(sha1(as_bytes(""))), "da39a3ee5e6b4b0d3255bfef95601890afd80709");
    EXPECT_EQ(to_hex(sha1(as_bytes("abc"))), "a9993e364706816aba3e25717850c26c9cd0d89d");
    EXPECT_EQ(to_hex(sha1(as_bytes(nist_448_bits))), "84983e441c3bd26ebaae4aa1f95129e5e54670f1");
}

TEST(CryptoSha, Sha256KnownAnswers) {
    EXPECT_EQ(to_hex(sha256(as_bytes(""))),
              "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
    EXPECT_EQ(to_hex(sha256(as_bytes("abc"))),
              "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
    EXPECT_EQ(to_hex(sha256(as_bytes(nist_448_bits))),
              "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1");
}

TEST(CryptoHasher, MillionAInUnevenChunks) {
    // FIPS 180-4 example: one million repetitions of 'a'.
    const byte_vector chunk(997, 'a');
    hasher h1(hash_algorithm::sha1);
    hasher h256(hash_algorithm::sha256);
    std::size_t fed = 0;
    while (fed < 1'000'000) {
        const std::size_t n = std::min<std::size_t>(chunk.size(), 1'000'000 - fed);
        h1.update(byte_view(chunk).first(n));
        h256.update(byte_view(chunk).first(n));
        fed += n;
    }
    EXPECT_EQ(to_hex(h1.finish()), "34aa973cd4c4daa4f61eeb2bdbad27316534016f");
    EXPECT_EQ(to_hex(h256.finish()),
              "cdc76e5c9914fb9281a1c7e284d73e67f1809a48a497200e046d39ccc7112cd0");
}

TEST(CryptoHasher, FinishResetsForTheNextMessage) {
    hasher h(hash_algorithm::sha256);
    EXPECT_EQ(h.algorithm(), hash_algorithm::sha256);
    EXPECT_EQ(h.digest_size(), 32u);
    h.update(as_bytes("ab"));
    h.update(as_bytes("c"));
    std::array<std::uint8_t, 40> out{};
    EXPECT_EQ(h.finish(out), 32u);
    EXPECT_TRUE(std::equal(out.begin(), out.begin() + 32, sha256(as_bytes("abc")).begin()));
    EXPECT_EQ(out[32], 0);  // nothing written past the digest
    h.update(as_bytes("abc"));
    const auto second = h.finish();
    EXPECT_TRUE(std::equal(second.begin(), second.end(), sha256(as_bytes("abc")).begin()));
    h.update(as_bytes("garbage"));
    h.reset();
    const auto empty = h.finish();
    EXPECT_TRUE(std::equal(empty.begin(), empty.end(), sha256(as_bytes("")).begin()));
}

TEST(CryptoHasher, RejectsSmallOutputAndMovedFromUse) {
    hasher h(hash_algorithm::sha1);
    h.update(as_bytes("abc"));
    std::array<std::uint8_t, 19> small{};
    try {
        h.finish(small);
        FAIL() << "expected an exception";
    } catch (const std::system_error& e) {
        EXPECT_EQ(e.code(), errc::invalid_argument);
    }
    // The state is unchanged: the digest of "abc" is still available.
    EXPECT_EQ(to_hex(h.finish()), "a9993e364706816aba3e25717850c26c9cd0d89d");

    hasher moved(std::move(h));
    moved.update(as_bytes("abc"));
    EXPECT_EQ(to_hex(moved.finish()), "a9993e364706816aba3e25717850c26c9cd0d89d");
    EXPECT_THROW(h.update(as_bytes("x")), std::system_error);  // NOLINT(bugprone-use-after-move)
}

// --- HMAC (RFC 4231, RFC 2202) ------------------------------------------------------------------

TEST(CryptoHmac, Rfc4231Sha256) {
    EXPECT_EQ(to_hex(hmac_sha256(repeat(0x0b, 20), as_bytes("Hi There"))),
              "b0344c61d8db38535ca8afceaf0bf12b881dc200c9833da726e9376c2e32cff7");
    EXPECT_EQ(to_hex(hmac_sha256(as_bytes("Jefe"), as_bytes("what do ya want for nothing?"))),
              "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843");
    EXPECT_EQ(to_hex(hmac_sha256(repeat(0xaa, 20), repeat(0xdd, 50))),
              "773ea91e36800e46854db8ebd09181a72959098b3ef8c122d9635514ced565fe");
    EXPECT_EQ(
        to_hex(hmac_sha256(repeat(0xaa, 131),
                           as_bytes("Test Using Larger Than Block-Size Key - Hash Key First"))),
        "60e431591ee0b67f0d8a26aacbf5b77f8e0bc6213728c5140546040f0ee37f54");
}

TEST(CryptoHmac, Rfc2202Sha1) {
    EXPECT_EQ(to_hex(hmac_sha1(repeat(0x0b, 20), as_bytes("Hi There"))),
              "b617318655057264e28bc0b6fb378c8ef146be00");
    EXPECT_EQ(to_hex(hmac_sha1(as_bytes("Jefe"), as_bytes("what do ya want for nothing?"))),
              "effcdf6ae5eb2fa2d27416d5f184df9c259a7c79");
}

TEST(CryptoHmac, EmptyKeyAndMessage) {
    // HMAC-SHA256("", "") is a well-known value.
    EXPECT_EQ(to_hex(hmac_sha256({}, {})),
              "b613679a0814d9ec772f95d778c35fc5ff1697c493715653c6c712144292c5ad");
}

// --- HKDF (RFC 5869 Appendix A) ---------------------------------------------------------------

TEST(CryptoHkdf, Rfc5869Case1) {
    const auto okm = hkdf_sha256(repeat(0x0b, 22), hex("000102030405060708090a0b0c"),
                                 hex("f0f1f2f3f4f5f6f7f8f9"), 42);
    EXPECT_EQ(
        to_hex(okm.view()),
        "3cb25f25faacd57a90434f64d0362f2a2d2d0a90cf1a5a4c5db02d56ecc4c5bf34007208d5b887185865");
}

TEST(CryptoHkdf, Rfc5869Case2LongInputs) {
    const auto okm = hkdf_sha256(sequence(0x00, 80), sequence(0x60, 80), sequence(0xb0, 80), 82);
    EXPECT_EQ(to_hex(okm.view()),
              "b11e398dc80327a1c8e7f78c596a49344f012eda2d4efad8a050cc4c19afa97c"
              "59045a99cac7827271cb41c65e590e09da3275600c2f09b8367793a9aca3db71"
              "cc30c58179ec3e87c14c01d5c1f3434f1d87");
}

TEST(CryptoHkdf, Rfc5869Case3EmptySaltAndInfo) {
    const auto okm = hkdf_sha256(repeat(0x0b, 22), {}, {}, 42);
    EXPECT_EQ(
        to_hex(okm.view()),
        "8da4e775a563c18f715f802a063c5a31b8a11f5c5ee1879ec3454e5f3c738d2d9d201395faa4b61a96c8");
}

TEST(CryptoHkdf, RejectsBadLengths) {
    std::array<std::uint8_t, 4> small{1, 2, 3, 4};
    std::error_code ec;
    hkdf_sha256(repeat(1, 32), {}, {}, mutable_byte_view(small).first(0), ec);
    EXPECT_EQ(ec, errc::invalid_argument);
    byte_vector huge(255 * 32 + 1, 0x55);
    hkdf_sha256(repeat(1, 32), {}, {}, huge, ec);
    EXPECT_EQ(ec, errc::invalid_argument);
    EXPECT_EQ(huge, byte_vector(huge.size(), 0));  // wiped on error
    EXPECT_THROW(hkdf_sha256(repeat(1, 32), {}, {}, 0), std::system_error);
    EXPECT_EQ(hkdf_sha256(repeat(1, 32), {}, {}, 255 * 32).size(), 255u * 32u);
}

// --- constant-time compare, secret_bytes -------------------------------------------------------

TEST(CryptoCompare, ConstantTimeEqual) {
    EXPECT_TRUE(constant_time_equal(as_bytes("abc"), as_bytes("abc")));
    EXPECT_FALSE(constant_time_equal(as_bytes("abc"), as_bytes("abd")));
    EXPECT_FALSE(constant_time_equal(as_bytes("abc"), as_bytes("ab")));
    EXPECT_TRUE(constant_time_equal({}, {}));
}

TEST(CryptoSecretBytes, ValueSemantics) {
    secret_bytes a(as_bytes("key material"));
    secret_bytes copy = a;
    EXPECT_EQ(copy, a);
    EXPECT_NE(copy.data(), a.data());
    copy.data()[0] = 'K';
    EXPECT_NE(copy, a);
    secret_bytes moved = std::move(a);
    EXPECT_TRUE(a.empty());  // NOLINT(bugprone-use-after-move)
    EXPECT_EQ(to_string(moved.view()), "key material");
    const byte_view implicit = moved;  // contiguous range -> byte_view
    EXPECT_EQ(implicit.size(), 12u);
    secret_bytes zeros(4);
    EXPECT_EQ(byte_vector(zeros.begin(), zeros.end()), byte_vector(4, 0));
    zeros = moved;
    EXPECT_EQ(zeros, moved);
}

// --- AES-256-GCM (McGrew & Viega, "The Galois/Counter Mode of Operation", test cases 13-16) ----

const char* const gcm_key16 = "feffe9928665731c6d6a8f9467308308feffe9928665731c6d6a8f9467308308";
const char* const gcm_iv16 = "cafebabefacedbaddecaf888";
const char* const gcm_aad16 = "feedfacedeadbeeffeedfacedeadbeefabaddad2";
const char* const gcm_plaintext16 =
    "d9313225f88406e5a55909c5aff5269a86a7a9531534f7da2e4c303d8a318a72"
    "1c3c0c95956809532fcf0e2449a6b525b16aedf5aa0de657ba637b39";
const char* const gcm_ciphertext16 =
    "522dc1f099567d07f47f37a32a84427d643a8cdcbfe5c0c97598a2bd2555d1aa"
    "8cb08e48590dbb3da7b08b1056828838c5f61e6393ba7a0abcc9f662";
const char* const gcm_tag16 = "76fc6ece0f4e1768cddf8853bb2d551b";

TEST(CryptoAesGcm, GcmSpecTestCases13And14) {
    const byte_vector key(32, 0);
    const byte_vector iv(12, 0);
    EXPECT_EQ(to_hex(aes256gcm_seal(key, iv, {}, {})), "530f8afbc74536b9a963b4f1c4cb738b");
    EXPECT_EQ(to_hex(aes256gcm_seal(key, iv, {}, byte_vector(16, 0))),
              "cea7403d4d606b6e074ec5d3baf39d18d0d1c8a799996bf0265b98b5d48ab919");
}

TEST(CryptoAesGcm, GcmSpecTestCase16SealAndOpen) {
    aes256gcm cipher(hex(gcm_key16));
    ASSERT_TRUE(cipher.has_key());
    const auto plaintext = hex(gcm_plaintext16);
    byte_vector ciphertext(plaintext.size());
    std::array<std::uint8_t, 16> tag{};
    cipher.seal(hex(gcm_iv16), hex(gcm_aad16), plaintext, ciphertext, tag);
    EXPECT_EQ(to_hex(ciphertext), gcm_ciphertext16);
    EXPECT_EQ(to_hex(tag), gcm_tag16);

    byte_vector decrypted(ciphertext.size());
    std::error_code ec;
    EXPECT_TRUE(cipher.open(hex(gcm_iv16), hex(gcm_aad16), ciphertext, tag, decrypted, ec));
    EXPECT_FALSE(ec);
    EXPECT_EQ(decrypted, plaintext);
}

TEST(CryptoAesGcm, ReusedObjectAlternatesDirectionsAndInPlace) {
    aes256gcm cipher(hex(gcm_key16));
    for (int round = 0; round < 3; ++round) {
        auto buffer = hex(gcm_plaintext16);
        std::array<std::uint8_t, 16> tag{};
        cipher.seal(hex(gcm_iv16), hex(gcm_aad16), buffer, buffer, tag);  // in place
        EXPECT_EQ(to_hex(buffer), gcm_ciphertext16);
        cipher.open(hex(gcm_iv16), hex(gcm_aad16), buffer, tag, buffer);
        EXPECT_EQ(to_hex(buffer), gcm_plaintext16);
    }
}

TEST(CryptoAesGcm, TamperingIsRefusedAndOutputWiped) {
    aes256gcm cipher(hex(gcm_key16));
    const auto ciphertext = hex(gcm_ciphertext16);
    const auto tag = hex(gcm_tag16);
    const auto check = [&](byte_view iv, byte_view aad, byte_view ct, byte_view t) {
        byte_vector out(ct.size(), 0xEE);
        std::error_code ec;
        EXPECT_FALSE(cipher.open(iv, aad, ct, t, out, ec));
        EXPECT_EQ(ec, errc::authentication_failed);
        EXPECT_EQ(out, byte_vector(out.size(), 0));
    };
    auto bad_ct = ciphertext;
    bad_ct[5] ^= 0x01;
    check(hex(gcm_iv16), hex(gcm_aad16), bad_ct, tag);
    auto bad_tag = tag;
    bad_tag[15] ^= 0x80;
    check(hex(gcm_iv16), hex(gcm_aad16), ciphertext, bad_tag);
    auto bad_aad = hex(gcm_aad16);
    bad_aad[0] ^= 0x01;
    check(hex(gcm_iv16), bad_aad, ciphertext, tag);
    auto bad_iv = hex(gcm_iv16);
    bad_iv[11] ^= 0x01;
    check(bad_iv, hex(gcm_aad16), ciphertext, tag);
    check(hex(gcm_iv16), hex(gcm_aad16), byte_view(ciphertext).first(59), tag);

    aes256gcm other(byte_vector(32, 7));
    byte_vector out(ciphertext.size());
    std::error_code ec;
    EXPECT_FALSE(other.open(hex(gcm_iv16), hex(gcm_aad16), ciphertext, tag, out, ec));
    EXPECT_EQ(ec, errc::authentication_failed);
    EXPECT_THROW(other.open(hex(gcm_iv16), hex(gcm_aad16), ciphertext, tag, out),
                 std::system_error);
}

TEST(CryptoAesGcm, ArgumentErrors) {
    std::error_code ec;
    aes256gcm cipher;
    EXPECT_FALSE(cipher.has_key());
    byte_vector out(4);
    std::array<std::uint8_t, 16> tag{};
    cipher.seal(byte_vector(12), {}, byte_vector(4), out, tag, ec);
    EXPECT_EQ(ec, errc::bad_key);
    cipher.set_key(byte_vector(16), ec);
    EXPECT_EQ(ec, errc::bad_key_size);
    EXPECT_FALSE(cipher.has_key());
    cipher.set_key(byte_vector(32), ec);
    EXPECT_FALSE(ec);
    cipher.seal(byte_vector(16), {}, byte_vector(4), out, tag, ec);  // nonce size
    EXPECT_EQ(ec, errc::bad_key_size);
    cipher.seal(byte_vector(12), {}, byte_vector(5), out, tag, ec);  // output too small
    EXPECT_EQ(ec, errc::bad_key_size);
    cipher.seal(byte_vector(12), {}, byte_vector(4), out, mutable_byte_view(tag).first(12), ec);
    EXPECT_EQ(ec, errc::bad_key_size);
    cipher.open(byte_vector(12), {}, byte_vector(4), byte_vector(15), out, ec);
    EXPECT_EQ(ec, errc::bad_key_size);
    EXPECT_THROW(aes256gcm(byte_vector(31)), std::system_error);

    aes256gcm moved(std::move(cipher));
    EXPECT_TRUE(moved.has_key());
    EXPECT_FALSE(cipher.has_key());  // NOLINT(bugprone-use-after-move)
}

TEST(CryptoAesGcm, OneShotRoundTrip) {
    const auto key = random_bytes(32);
    const auto nonce = random_bytes(12);
    const auto sealed = aes256gcm_seal(key, nonce, as_bytes("aad"), as_bytes("hello"));
    ASSERT_EQ(sealed.size(), 5u + 16u);
    EXPECT_EQ(to_string(aes256gcm_open(key, nonce, as_bytes("aad"), sealed).view()), "hello");
    std::error_code ec;
    EXPECT_TRUE(aes256gcm_open(key, nonce, as_bytes("AAD"), sealed, ec).empty());
    EXPECT_EQ(ec, errc::authentication_failed);
    aes256gcm_open(key, nonce, {}, byte_view(sealed).first(15), ec);
    EXPECT_EQ(ec, errc::bad_key_size);
}

TEST(CryptoAesGcm, LargeSegmentsRoundTrip) {
    aes256gcm cipher(random_bytes(32));
    const auto plaintext = random_bytes(1 << 16);
    byte_vector ciphertext(plaintext.size());
    std::array<std::uint8_t, 16> tag{};
    const byte_vector nonce(12, 1);
    cipher.seal(nonce, {}, plaintext, ciphertext, tag);
    EXPECT_NE(ciphertext, plaintext);
    byte_vector decrypted(ciphertext.size());
    cipher.open(nonce, {}, ciphertext, tag, decrypted);
    EXPECT_EQ(decrypted, plaintext);
}

// --- AES key wrap (RFC 3394 §4.3, §4.6) ---------------------------------------------------------

TEST(CryptoKeyWrap, Rfc3394Vectors) {
    const auto kek = hex("000102030405060708090A0B0C0D0E0F101112131415161718191A1B1C1D1E1F");
    EXPECT_EQ(to_hex(aes256_key_wrap(kek, hex("00112233445566778899AABBCCDDEEFF"))),
              "64e8c3f9ce0f5ba263e9777905818a2a93c8191e7d6e8ae7");
    const auto key_data = hex("00112233445566778899AABBCCDDEEFF000102030405060708090A0B0C0D0E0F");
    const auto wrapped = aes256_key_wrap(kek, key_data);
    EXPECT_EQ(to_hex(wrapped),
              "28c9f404c4b810f4cbccb35cfb87f8263f5786e2d80ed326cbc7f0e71a99f43bfb988b9b7a02dd21");
    const auto unwrapped = aes256_key_unwrap(kek, wrapped);
    EXPECT_EQ(byte_vector(unwrapped.begin(), unwrapped.end()), key_data);
}

TEST(CryptoKeyWrap, IntegrityAndSizeErrors) {
    const auto kek = sequence(0, 32);
    auto wrapped = aes256_key_wrap(kek, sequence(0x40, 32));
    std::error_code ec;
    auto tampered = wrapped;
    tampered[0] ^= 1;
    EXPECT_TRUE(aes256_key_unwrap(kek, tampered, ec).empty());
    EXPECT_EQ(ec, errc::authentication_failed);
    EXPECT_TRUE(aes256_key_unwrap(sequence(1, 32), wrapped, ec).empty());
    EXPECT_EQ(ec, errc::authentication_failed);
    aes256_key_unwrap(kek, byte_view(wrapped).first(39), ec);
    EXPECT_EQ(ec, errc::bad_key_size);
    aes256_key_unwrap(kek, byte_view(wrapped).first(16), ec);
    EXPECT_EQ(ec, errc::bad_key_size);
    aes256_key_unwrap(sequence(0, 16), wrapped, ec);
    EXPECT_EQ(ec, errc::bad_key_size);
    EXPECT_TRUE(aes256_key_wrap(kek, sequence(0, 8), ec).empty());
    EXPECT_EQ(ec, errc::bad_key_size);
    aes256_key_wrap(kek, sequence(0, 20), ec);
    EXPECT_EQ(ec, errc::bad_key_size);
    EXPECT_THROW(aes256_key_unwrap(kek, tampered), std::system_error);
}

// --- Ed25519 (RFC 8032 §7.1) -------------------------------------------------------------------

TEST(CryptoEd25519, Rfc8032Test1) {
    const auto key = ed25519_private_key::from_seed(
        hex("9d61b19deffd5a60ba844af492ec2cc44449c5697b326919703bac031cae7f60"));
    const auto public_key = key.public_key();
    EXPECT_EQ(to_hex(public_key.raw()),
              "d75a980182b10ab7d54bfed3c964073a0ee172f3daa62325af021a68f707511a");
    const auto signature = key.sign({});
    EXPECT_EQ(to_hex(signature),
              "e5564300c360ac729086e2cc806e828a84877f1eb8e5d974d873e065224901555fb8821590a33bacc61e"
              "39701cf9b46bd25bf5f0595bbe24655141438e7a100b");
    EXPECT_TRUE(public_key.verify({}, signature));
    EXPECT_EQ(to_hex(key.seed().view()),
              "9d61b19deffd5a60ba844af492ec2cc44449c5697b326919703bac031cae7f60");
}

TEST(CryptoEd25519, Rfc8032Test2) {
    const auto key = ed25519_private_key::from_seed(
        hex("4ccd089b28ff96da9db6c346ec114e0f5b8a319f35aba624da8cf6ed4fb8a6fb"));
    const auto public_key = ed25519_public_key::from_raw(
        hex("3d4017c3e843895a92b70aa74d1b7ebc9c982ccf2ec4968cc0cd55f12af4660c"));
    EXPECT_EQ(key.public_key(), public_key);
    const byte_vector message{0x72};
    const auto signature = key.sign(message);
    EXPECT_EQ(to_hex(signature),
              "92a009a9f0d4cab8720e820b5f642540a2b27b5416503f8fb3762223ebdb69da085ac1e43e15996e458f"
              "3613d0f11d8c387b2eaeb4302aeeb00d291612bb0c00");
    std::error_code ec;
    EXPECT_TRUE(public_key.verify(message, signature, ec));
    EXPECT_FALSE(ec);
}

TEST(CryptoEd25519, RejectsTamperingAndWrongKeys) {
    const auto key = ed25519_private_key::generate();
    const auto public_key = key.public_key();
    auto signature = key.sign(as_bytes("message"));
    std::error_code ec;
    EXPECT_FALSE(public_key.verify(as_bytes("messagE"), signature, ec));
    EXPECT_EQ(ec, errc::bad_signature);
    signature[10] ^= 1;
    EXPECT_FALSE(public_key.verify(as_bytes("message"), signature));
    signature[10] ^= 1;
    EXPECT_FALSE(
        ed25519_private_key::generate().public_key().verify(as_bytes("message"), signature));
    EXPECT_FALSE(public_key.verify(as_bytes("message"), byte_view(signature).first(63), ec));
    EXPECT_EQ(ec, errc::bad_signature);
    EXPECT_TRUE(public_key.verify(as_bytes("message"), signature));
}

TEST(CryptoEd25519, KeyImportErrorsAndEmptyKeys) {
    std::error_code ec;
    EXPECT_TRUE(ed25519_private_key::from_seed(byte_vector(31), ec).empty());
    EXPECT_EQ(ec, errc::bad_key_size);
    EXPECT_TRUE(ed25519_public_key::from_raw(byte_vector(33), ec).empty());
    EXPECT_EQ(ec, errc::bad_key_size);
    EXPECT_THROW(ed25519_public_key::from_raw(byte_vector(0)), std::system_error);

    const ed25519_private_key empty;
    EXPECT_TRUE(empty.empty());
    EXPECT_TRUE(empty.public_key().empty());
    EXPECT_TRUE(empty.seed().empty());
    empty.sign(as_bytes("x"), ec);
    EXPECT_EQ(ec, errc::bad_key);
    EXPECT_THROW(empty.sign(as_bytes("x")), std::system_error);
    const ed25519_public_key empty_public;
    EXPECT_FALSE(empty_public.verify(as_bytes("x"), byte_vector(64), ec));
    EXPECT_EQ(ec, errc::bad_key);
    EXPECT_EQ(empty_public, ed25519_public_key());
}

TEST(CryptoEd25519, CopiesShareTheKeyAndSignConcurrently) {
    const auto key = ed25519_private_key::generate();
    const auto copy = key;
    const auto public_key = key.public_key();
    std::vector<std::thread> threads;
    std::vector<int> ok(4, 0);
    for (int t = 0; t < 4; ++t) {
        threads.emplace_back([&, t] {
            const auto& signer = (t % 2 == 0) ? key : copy;
            for (int i = 0; i < 50; ++i) {
                const std::string message = "message " + std::to_string(t * 100 + i);
                ok[static_cast<std::size_t>(t)] +=
                    public_key.verify(as_bytes(message), signer.sign(as_bytes(message))) ? 1 : 0;
            }
        });
    }
    for (auto& thread : threads) {
        thread.join();
    }
    EXPECT_EQ(ok, std::vector<int>(4, 50));
}

// --- X25519 (RFC 7748 §5.2, §6.1) --------------------------------------------------------------

TEST(CryptoX25519, Rfc7748Section6_1) {
    const auto alice = x25519_private_key::from_raw(
        hex("77076d0a7318a57d3c16c17251b26645df4c2f87ebc0992ab177fba51db92c2a"));
    const auto bob = x25519_private_key::from_raw(
        hex("5dab087e624a8a4b79e17f8b83800ee66f3bb1292618b6fd1c2f8b27ff88e0eb"));
    EXPECT_EQ(to_hex(alice.public_key().raw()),
              "8520f0098930a754748b7ddcb43ef75a0dbf3a0d26381af4eba4a98eaa9b4e6a");
    EXPECT_EQ(to_hex(bob.public_key().raw()),
              "de9edb7d7b7dc1b4d35b61c2ece435373f8343c85b78674dadfc7e146f882b4f");
    const char* shared = "4a5d9d5ba4ce2de1728e3bf480350f25e07e21c947d19e3376f09b3c1e161742";
    EXPECT_EQ(to_hex(alice.derive(bob.public_key()).view()), shared);
    EXPECT_EQ(to_hex(bob.derive(alice.public_key()).view()), shared);
    EXPECT_EQ(to_hex(alice.raw().view()),
              "77076d0a7318a57d3c16c17251b26645df4c2f87ebc0992ab177fba51db92c2a");
}

TEST(CryptoX25519, Rfc7748Section5_2ScalarMultiplication) {
    const auto scalar = x25519_private_key::from_raw(
        hex("a546e36bf0527c9d3b16154b82465edd62144c0ac1fc5a18506a2244ba449ac4"));
    const auto point = x25519_public_key::from_raw(
        hex("e6db6867583030db3594c1a424b15f7c726624ec26b3353b10a903a6d0ab1c4c"));
    EXPECT_EQ(to_hex(scalar.derive(point).view()),
              "c3da55379de9c6908e94ea4df28d084f32eccf03491c71f754b4075577a28552");
}

TEST(CryptoX25519, RejectsSmallOrderPointsAndEmptyKeys) {
    const auto key = x25519_private_key::generate();
    std::error_code ec;
    for (const auto& low_order : {byte_vector(32, 0), sequence(1, 1)}) {
        byte_vector raw(32, 0);
        std::copy(low_order.begin(), low_order.end(), raw.begin());
        const auto peer = x25519_public_key::from_raw(raw, ec);
        ASSERT_FALSE(ec);
        EXPECT_TRUE(key.derive(peer, ec).empty());
        EXPECT_EQ(ec, errc::bad_key);
    }
    key.derive(x25519_public_key(), ec);
    EXPECT_EQ(ec, errc::bad_key);
    x25519_private_key().derive(key.public_key(), ec);
    EXPECT_EQ(ec, errc::bad_key);
    EXPECT_THROW(key.derive(x25519_public_key()), std::system_error);
    EXPECT_TRUE(x25519_private_key::from_raw(byte_vector(16), ec).empty());
    EXPECT_EQ(ec, errc::bad_key_size);
}

TEST(CryptoX25519, GeneratedKeysAgree) {
    const auto a = x25519_private_key::generate();
    const auto b = x25519_private_key::generate();
    EXPECT_EQ(a.derive(b.public_key()), b.derive(a.public_key()));
    EXPECT_NE(a.public_key(), b.public_key());
    const auto restored = x25519_private_key::from_raw(a.raw().view());
    EXPECT_EQ(restored.public_key(), a.public_key());
}

}  // namespace
