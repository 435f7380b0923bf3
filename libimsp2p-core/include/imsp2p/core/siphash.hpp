/**
 * @file
 * SipHash (Aumasson and Bernstein, 2012): a keyed 64-bit pseudo-random function that is fast on
 * short inputs. Used where a hash must not be predictable by the peers that choose the input
 * (hash tables keyed by client data, MACs of connection ids). Header-only: it sits on the
 * tracker's announce path.
 */
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <span>

namespace imsp2p::core {

/** A 128-bit SipHash key (two little-endian 64-bit words). A plain value type. */
struct siphash_key {
    /** The first 8 key bytes, little endian. */
    std::uint64_t k0 = 0;
    /** The last 8 key bytes, little endian. */
    std::uint64_t k1 = 0;

    /**
     * @param bytes the 16 key bytes
     * @return the key as SipHash reads them (the reference implementation's byte order)
     */
    [[nodiscard]] static constexpr siphash_key from_bytes(
        std::span<const std::uint8_t, 16> bytes) noexcept {
        return {load(bytes.data()), load(bytes.data() + 8)};
    }

    /** @return the little-endian 64-bit word at @p bytes (8 bytes) */
    [[nodiscard]] static constexpr std::uint64_t load(const std::uint8_t* bytes) noexcept {
        std::uint64_t value = 0;
        for (int i = 7; i >= 0; --i) {
            value = (value << 8U) | bytes[i];
        }
        return value;
    }
};

/**
 * SipHash-c-d of @p data under @p key: c compression rounds per 8-byte word, d finalisation
 * rounds. SipHash-2-4 is the conservative PRF (MACs); SipHash-1-3 is the faster variant for hash
 * tables. Thread-safe, no allocation.
 * @tparam compression_rounds c
 * @tparam finalization_rounds d
 * @param key the secret key
 * @param data the message
 * @return the 64-bit result (the reference implementation's output read little endian)
 */
template <int compression_rounds, int finalization_rounds>
[[nodiscard]] constexpr std::uint64_t siphash(const siphash_key& key,
                                              std::span<const std::uint8_t> data) noexcept {
    std::uint64_t v0 = key.k0 ^ 0x736f6d6570736575ULL;
    std::uint64_t v1 = key.k1 ^ 0x646f72616e646f6dULL;
    std::uint64_t v2 = key.k0 ^ 0x6c7967656e657261ULL;
    std::uint64_t v3 = key.k1 ^ 0x7465646279746573ULL;
    const auto rotate = [](std::uint64_t value, int bits) {
        return (value << bits) | (value >> (64 - bits));
    };
    const auto round = [&] {
        v0 += v1;
        v1 = rotate(v1, 13);
        v1 ^= v0;
        v0 = rotate(v0, 32);
        v2 += v3;
        v3 = rotate(v3, 16);
        v3 ^= v2;
        v0 += v3;
        v3 = rotate(v3, 21);
        v3 ^= v0;
        v2 += v1;
        v1 = rotate(v1, 17);
        v1 ^= v2;
        v2 = rotate(v2, 32);
    };
    const auto absorb = [&](std::uint64_t word) {
        v3 ^= word;
        for (int i = 0; i < compression_rounds; ++i) {
            round();
        }
        v0 ^= word;
    };
    const std::size_t whole = data.size() / 8 * 8;
    for (std::size_t at = 0; at < whole; at += 8) {
        absorb(siphash_key::load(data.data() + at));
    }
    std::uint64_t last = static_cast<std::uint64_t>(data.size() & 0xffU) << 56U;
    for (std::size_t at = whole; at < data.size(); ++at) {
        last |= static_cast<std::uint64_t>(data[at]) << (8 * (at - whole));
    }
    absorb(last);
    v2 ^= 0xffU;
    for (int i = 0; i < finalization_rounds; ++i) {
        round();
    }
    return v0 ^ v1 ^ v2 ^ v3;
}

/** SipHash-2-4 (the PRF for MACs). @param key the key @param data the message @return it */
[[nodiscard]] constexpr std::uint64_t siphash24(const siphash_key& key,
                                                std::span<const std::uint8_t> data) noexcept {
    return siphash<2, 4>(key, data);
}

/** SipHash-1-3 (for hash tables). @param key the key @param data the message @return it */
[[nodiscard]] constexpr std::uint64_t siphash13(const siphash_key& key,
                                                std::span<const std::uint8_t> data) noexcept {
    return siphash<1, 3>(key, data);
}

}  // namespace imsp2p::core
