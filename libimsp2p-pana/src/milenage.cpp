// Milenage (3GPP TS 35.206 §4) on OpenSSL AES-128-ECB with one reusable cipher context.

#include <imsp2p/pana/milenage.hpp>

#include <imsp2p/core/error.hpp>

#include <openssl/crypto.h>
#include <openssl/evp.h>

#include <algorithm>
#include <array>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <utility>

namespace imsp2p::pana {

void wipe(core::mutable_byte_view bytes) noexcept {
    if (!bytes.empty()) {
        OPENSSL_cleanse(bytes.data(), bytes.size());
    }
}

namespace {

using block = std::array<std::uint8_t, 16>;

constexpr std::size_t block_size = 16;
// The rotation amounts r1..r5 of TS 35.206 §4.1 are 64, 0, 32, 64 and 96 bits (impl uses them
// as 2, 0, 1, 2 and 3 words).
// Last byte of the constants c1..c5 (all other bytes are zero).
constexpr std::array<std::uint8_t, 5> constant_last_byte{0x00, 0x01, 0x02, 0x04, 0x08};

// Output selection bits for compute_blocks(): OUT1 .. OUT5.
constexpr unsigned out1 = 1u << 0;
constexpr unsigned out2 = 1u << 1;
constexpr unsigned out3 = 1u << 2;
constexpr unsigned out4 = 1u << 3;
constexpr unsigned out5 = 1u << 4;

[[noreturn]] void crypto_failure(const char* what) {
    core::throw_error(core::errc::crypto_failure, what);
}

template <std::size_t N, std::size_t M>
void copy_prefix(const std::array<std::uint8_t, M>& from, std::size_t offset,
                 std::array<std::uint8_t, N>& to) noexcept {
    static_assert(N <= M);
    std::copy_n(from.begin() + static_cast<std::ptrdiff_t>(offset), N, to.begin());
}

}  // namespace

struct milenage::impl {
    EVP_CIPHER_CTX* context = nullptr;
    aka_opc opc{};
    aka_key current_k{};
    bool keyed = false;

    impl() {
        context = EVP_CIPHER_CTX_new();
        if (context == nullptr) {
            crypto_failure("EVP_CIPHER_CTX_new (Milenage)");
        }
    }
    impl(const impl&) = delete;
    impl& operator=(const impl&) = delete;
    ~impl() {
        wipe(opc);
        wipe(current_k);
        EVP_CIPHER_CTX_free(context);  // cleanses the AES key schedule
    }

    void set_keys(const aka_key& k, const aka_opc& new_opc) {
        if (keyed && CRYPTO_memcmp(k.data(), current_k.data(), k.size()) == 0) {
            opc = new_opc;  // same K (a batch for one subscriber): keep the key schedule
            return;
        }
        if (!keyed) {
            // The first call selects the cipher and disables padding (padding only matters to
            // EVP_EncryptFinal, which is never called: every update is whole blocks).
            if (EVP_EncryptInit_ex(context, EVP_aes_128_ecb(), nullptr, k.data(), nullptr) != 1 ||
                EVP_CIPHER_CTX_set_padding(context, 0) != 1) {
                crypto_failure("EVP_EncryptInit_ex AES-128-ECB (Milenage)");
            }
            keyed = true;
        } else if (EVP_EncryptInit_ex(context, nullptr, nullptr, k.data(), nullptr) != 1) {
            // Re-keying keeps the cipher and settings and only replaces the key schedule.
            crypto_failure("EVP_EncryptInit_ex AES-128-ECB (Milenage)");
        }
        opc = new_opc;
        current_k = k;
    }

    // Encrypts `count` consecutive blocks in place with one EVP call.
    void encrypt(std::uint8_t* data, std::size_t count) {
        int written = 0;
        const int length = static_cast<int>(count * block_size);
        if (EVP_EncryptUpdate(context, data, &written, data, length) != 1 || written != length) {
            crypto_failure("EVP_EncryptUpdate AES-128-ECB (Milenage)");
        }
    }

    // Computes the selected OUTi blocks (TS 35.206 §4.1) into out[0..4]. IN1 is needed for OUT1.
    void compute_blocks(const aka_rand& rand, const block* in1, unsigned which,
                        std::array<block, 5>& out) {
        // Every rotation is a whole number of 32-bit words, so the blocks are handled as four
        // words each (byte order within a word is irrelevant for rotations and xor).
        struct scratch_space {
            words temp;                   // TEMP
            words masked;                 // TEMP xor OPc, or IN1 xor OPc
            std::array<words, 5> inputs;  // the blocks to encrypt, contiguous
        } scratch{};
        const words key = load(opc);
        scratch.temp = xor_words(load(rand), key);
        encrypt(bytes_of(scratch.temp), 1);

        std::array<std::size_t, 5> slot_of{};
        std::size_t count = 0;
        for (std::size_t i = 0; i < 5; ++i) {
            if ((which & (1u << i)) == 0) {
                continue;
            }
            words& x = scratch.inputs[count];
            if (i == 0) {
                // TEMP xor rot(IN1 xor OPc, r1) xor c1 (c1 = 0)
                scratch.masked = xor_words(load(*in1), key);
                x = xor_words(rotate(scratch.masked, rotation_words[0]), scratch.temp);
            } else {
                // rot(TEMP xor OPc, ri) xor ci
                scratch.masked = xor_words(scratch.temp, key);
                x = rotate(scratch.masked, rotation_words[i]);
                bytes_of(x)[block_size - 1] ^= constant_last_byte[i];
            }
            slot_of[count] = i;
            ++count;
        }
        encrypt(bytes_of(scratch.inputs[0]), count);
        for (std::size_t n = 0; n < count; ++n) {
            const words result = xor_words(scratch.inputs[n], key);
            std::memcpy(out[slot_of[n]].data(), result.data(), block_size);
        }
        OPENSSL_cleanse(&scratch, sizeof(scratch));
    }

  private:
    using words = std::array<std::uint32_t, 4>;
    static constexpr std::array<std::size_t, 5> rotation_words{2, 0, 1, 2, 3};

    static words load(const std::array<std::uint8_t, 16>& bytes) noexcept {
        words w{};
        std::memcpy(w.data(), bytes.data(), block_size);
        return w;
    }
    static std::uint8_t* bytes_of(words& w) noexcept {
        return reinterpret_cast<std::uint8_t*>(w.data());
    }
    static words xor_words(const words& a, const words& b) noexcept {
        return {a[0] ^ b[0], a[1] ^ b[1], a[2] ^ b[2], a[3] ^ b[3]};
    }
    // rot(x, r) for r a multiple of 32 bits: output word i is input word (i + r/32) mod 4.
    static words rotate(const words& x, std::size_t by) noexcept {
        return {x[by % 4], x[(by + 1) % 4], x[(by + 2) % 4], x[(by + 3) % 4]};
    }
};

static_assert(sizeof(std::array<block, 5>) == 5 * 16, "blocks must be contiguous");

namespace {

block make_in1(sqn sequence, const aka_amf& amf) noexcept {
    const aka_sqn_bytes s = sequence.to_bytes();
    block in1{};
    std::copy(s.begin(), s.end(), in1.begin());
    std::copy(amf.begin(), amf.end(), in1.begin() + 6);
    std::copy(in1.begin(), in1.begin() + 8, in1.begin() + 8);
    return in1;
}

}  // namespace

aka_autn make_autn(sqn sequence, const aka_ak& ak, const aka_amf& amf,
                   const aka_mac& mac_a) noexcept {
    aka_autn autn{};
    const aka_sqn_bytes s = sequence.to_bytes();
    for (std::size_t i = 0; i < s.size(); ++i) {
        autn[i] = static_cast<std::uint8_t>(s[i] ^ ak[i]);
    }
    std::copy(amf.begin(), amf.end(), autn.begin() + 6);
    std::copy(mac_a.begin(), mac_a.end(), autn.begin() + 8);
    return autn;
}

aka_auts make_auts(sqn sequence, const aka_ak& ak_star, const aka_mac& mac_s) noexcept {
    aka_auts auts{};
    const aka_sqn_bytes s = sequence.to_bytes();
    for (std::size_t i = 0; i < s.size(); ++i) {
        auts[i] = static_cast<std::uint8_t>(s[i] ^ ak_star[i]);
    }
    std::copy(mac_s.begin(), mac_s.end(), auts.begin() + 6);
    return auts;
}

milenage::milenage(const aka_key& k, const aka_opc& opc) : impl_(std::make_unique<impl>()) {
    impl_->set_keys(k, opc);
}

milenage::milenage(milenage&& other) noexcept = default;
milenage& milenage::operator=(milenage&& other) noexcept = default;
milenage::~milenage() = default;

aka_opc milenage::compute_opc(const aka_key& k, const aka_op& op) {
    impl state;
    state.set_keys(k, aka_opc{});
    block encrypted = op;
    state.encrypt(encrypted.data(), 1);
    aka_opc opc{};
    for (std::size_t i = 0; i < block_size; ++i) {
        opc[i] = static_cast<std::uint8_t>(op[i] ^ encrypted[i]);
    }
    wipe(encrypted);
    return opc;
}

void milenage::set_keys(const aka_key& k, const aka_opc& opc) {
    impl_->set_keys(k, opc);
}

aka_mac milenage::f1(const aka_rand& rand, sqn sequence, const aka_amf& amf) {
    const block in1 = make_in1(sequence, amf);
    std::array<block, 5> out{};
    impl_->compute_blocks(rand, &in1, out1, out);
    aka_mac mac{};
    copy_prefix(out[0], 0, mac);
    return mac;
}

aka_mac milenage::f1star(const aka_rand& rand, sqn sequence, const aka_amf& amf) {
    const block in1 = make_in1(sequence, amf);
    std::array<block, 5> out{};
    impl_->compute_blocks(rand, &in1, out1, out);
    aka_mac mac{};
    copy_prefix(out[0], 8, mac);
    return mac;
}

aka_res milenage::f2(const aka_rand& rand) {
    std::array<block, 5> out{};
    impl_->compute_blocks(rand, nullptr, out2, out);
    aka_res res{};
    copy_prefix(out[1], 8, res);
    wipe(out[1]);
    return res;
}

aka_ck milenage::f3(const aka_rand& rand) {
    std::array<block, 5> out{};
    impl_->compute_blocks(rand, nullptr, out3, out);
    return out[2];
}

aka_ik milenage::f4(const aka_rand& rand) {
    std::array<block, 5> out{};
    impl_->compute_blocks(rand, nullptr, out4, out);
    return out[3];
}

aka_ak milenage::f5(const aka_rand& rand) {
    std::array<block, 5> out{};
    impl_->compute_blocks(rand, nullptr, out2, out);
    aka_ak ak{};
    copy_prefix(out[1], 0, ak);
    wipe(out[1]);
    return ak;
}

aka_ak milenage::f5star(const aka_rand& rand) {
    std::array<block, 5> out{};
    impl_->compute_blocks(rand, nullptr, out5, out);
    aka_ak ak{};
    copy_prefix(out[4], 0, ak);
    return ak;
}

milenage_keys milenage::compute_all(const aka_rand& rand) {
    std::array<block, 5> out{};
    impl_->compute_blocks(rand, nullptr, out2 | out3 | out4, out);
    milenage_keys keys;
    copy_prefix(out[1], 8, keys.res);
    copy_prefix(out[1], 0, keys.ak);
    keys.ck = out[2];
    keys.ik = out[3];
    wipe(core::mutable_byte_view(out[0].data(), out.size() * block_size));
    return keys;
}

milenage_outputs milenage::compute(const aka_rand& rand, sqn sequence, const aka_amf& amf) {
    const block in1 = make_in1(sequence, amf);
    std::array<block, 5> out{};
    impl_->compute_blocks(rand, &in1, out1 | out2 | out3 | out4 | out5, out);
    milenage_outputs result;
    copy_prefix(out[0], 0, result.mac_a);
    copy_prefix(out[0], 8, result.mac_s);
    copy_prefix(out[1], 8, result.res);
    copy_prefix(out[1], 0, result.ak);
    result.ck = out[2];
    result.ik = out[3];
    copy_prefix(out[4], 0, result.ak_star);
    wipe(core::mutable_byte_view(out[0].data(), out.size() * block_size));
    return result;
}

}  // namespace imsp2p::pana
