/**
 * @file
 * IMS identities: public user identities (IMPU: sip:, sips: and tel: URIs) and private user
 * identities (IMPI: network access identifiers), with the normalisation used to compare them.
 */
#pragma once

#include <imsp2p/core/export.hpp>

#include <compare>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <iosfwd>
#include <optional>
#include <string>
#include <string_view>
#include <system_error>

namespace imsp2p::core {

/**
 * An IMS private user identity (IMPI, 3GPP TS 23.003 §13.3): a network access identifier
 * `user@realm` (RFC 7542).
 *
 * The user part is a dot-string of RFC 7542 `utf8-atext` (ASCII letters, digits,
 * the symbols ! \# \$ \% & ' * + - / = ? ^ _ { | } ~ and backtick, and non-ASCII UTF-8; no leading,
 * trailing or doubled dots) and is case-sensitive. The realm is two or more labels of letters,
 * digits, non-ASCII UTF-8 and inner hyphens, separated by dots; it is stored with ASCII letters
 * folded to lower case. Both parts are required. The text is trimmed of surrounding spaces, tabs,
 * CR and LF; the result must be valid UTF-8 without whitespace or control characters and at most
 * max_length bytes. Equality and hashing compare str().
 *
 * Thread-safety: as for standard value types; const member functions may be called
 * concurrently on the same object.
 */
class IMSP2P_CORE_EXPORT impi {
  public:
    /** The longest accepted IMPI in bytes (the NAI limit of RFC 7542 §2.3 / RADIUS). */
    static constexpr std::size_t max_length = 253;

    /** Creates an empty identity (empty() is true; every accessor returns an empty string). */
    impi() = default;

    /**
     * Parses a network access identifier `user@realm`.
     * @param text the identity; surrounding whitespace is ignored; it need not outlive the call
     * @param ec set to errc::impi_malformed on failure, cleared on success
     * @return the identity, or an empty impi on failure
     */
    static impi parse(std::string_view text, std::error_code& ec);

    /**
     * Parses a network access identifier `user@realm`.
     * @param text the identity
     * @return the identity
     * @throws std::system_error with errc::impi_malformed on failure
     */
    static impi parse(std::string_view text);

    /** @return true for a default-constructed (or failed-to-parse) identity. */
    [[nodiscard]] bool empty() const noexcept { return text_.empty(); }

    /**
     * The user part (case preserved).
     * @return a view into this object, valid until it is modified or destroyed
     */
    [[nodiscard]] std::string_view user() const noexcept;

    /**
     * The realm, ASCII letters in lower case.
     * @return a view into this object, valid until it is modified or destroyed
     */
    [[nodiscard]] std::string_view realm() const noexcept;

    /**
     * The normalised identity `user@realm` (realm in lower case).
     * @return a reference valid as long as this object is neither modified nor destroyed
     */
    [[nodiscard]] const std::string& str() const noexcept { return text_; }

    /** @return a hash of str(), consistent with operator==. */
    [[nodiscard]] std::size_t hash() const noexcept;

    /**
     * Compares the normalised forms.
     * @param other the identity to compare with
     * @return true if str() == other.str()
     */
    [[nodiscard]] bool operator==(const impi& other) const noexcept { return text_ == other.text_; }

    /**
     * Orders identities by str() (byte-wise), consistent with operator==.
     * @param other the identity to compare with
     * @return the ordering of str() against other.str()
     */
    [[nodiscard]] std::strong_ordering operator<=>(const impi& other) const noexcept {
        return text_ <=> other.text_;
    }

  private:
    std::string text_;    // normalised user@realm; empty for an empty identity
    std::size_t at_ = 0;  // index of the "@"
};

/** The URI scheme of an IMS public user identity. */
enum class impu_scheme {
    sip,   ///< A SIP URI (RFC 3261 §19.1).
    sips,  ///< A secure SIP URI (RFC 3261 §19.1).
    tel,   ///< A telephone number URI (RFC 3966).
};

/**
 * The lower-case name of a scheme, without the colon.
 * @param scheme the scheme
 * @return "sip", "sips" or "tel" (a static string)
 */
IMSP2P_CORE_EXPORT std::string_view to_string(impu_scheme scheme) noexcept;

/**
 * An IMS public user identity (IMPU, 3GPP TS 23.003 §13.4): a `sip:`, `sips:` or `tel:` URI.
 *
 * parse() validates the URI against the grammars of RFC 3261 §25.1 and RFC 3966 §3 (scheme
 * case-insensitive; surrounding spaces, tabs, CR and LF trimmed; at most max_length bytes; only
 * printable ASCII inside the URI). A password in the user information (`sip:user:pw@host`,
 * deprecated by RFC 3261) is rejected as malformed: identities must not carry credentials.
 * A tel: URI for a local number must carry `phone-context` (RFC 3966 §5.1.5).
 *
 * **Comparison.** Equality, ordering and std::hash use canonical(), which normalises as
 * RFC 3261 §19.1.4 and RFC 3966 §4 prescribe for identities:
 * - scheme and host in lower case; a trailing dot of a host name removed; IPv4 addresses
 *   without leading zeros; IPv6 references in RFC 5952 form; an explicit port is kept (a URI
 *   with the default port is not the same as one without, RFC 3261 §19.1.4);
 * - the SIP user part is case-sensitive; %-escapes of unreserved characters are decoded and
 *   the hex digits of the remaining escapes put in upper case;
 * - URI parameters and headers are dropped, except `user=phone`, which is kept (as
 *   `;user=phone`) and makes the user part a telephone-subscriber, normalised as for tel:;
 * - telephone numbers (tel: and `user=phone` users) lose their visual separators
 *   (`-`, `.`, `(`, `)`) and are compared case-insensitively (letters folded to lower case);
 *   of their parameters only the identity-relevant `ext`, `isub` and `phone-context` are kept,
 *   in that order (RFC 3966 §5.4 order), `phone-context` normalised as a host name or a
 *   global number; routing parameters such as `npdi`, `rn` or `tgrp` are dropped;
 * - **`sips:` is folded to `sip:`**: IMS registers one public identity per user whatever
 *   transport security the URI requests, so `sips:alice@example.com` and
 *   `sip:alice@example.com` are the same identity (scheme() and str() still tell them apart).
 *   This deliberately differs from the RFC 3261 URI comparison, where they never match.
 *
 * Thread-safety: as for standard value types; const member functions may be called
 * concurrently on the same object.
 */
class IMSP2P_CORE_EXPORT impu {
  public:
    /** The longest accepted IMPU text in bytes, after trimming. */
    static constexpr std::size_t max_length = 2048;

    /** Creates an empty identity (empty() is true; every accessor returns an empty string). */
    impu() = default;

    /**
     * Parses a public user identity URI.
     * @param text the URI (not in angle brackets); surrounding whitespace is ignored; it need
     *        not outlive the call
     * @param ec set on failure: errc::impu_bad_scheme when the text has no `sip:`, `sips:` or
     *        `tel:` scheme, errc::impu_malformed when the URI is invalid; cleared on success
     * @return the identity, or an empty impu on failure
     */
    static impu parse(std::string_view text, std::error_code& ec);

    /**
     * Parses a public user identity URI.
     * @param text the URI
     * @return the identity
     * @throws std::system_error with errc::impu_bad_scheme or errc::impu_malformed
     */
    static impu parse(std::string_view text);

    /**
     * The default public identity derived from a private identity, `sip:user@realm`, as the
     * temporary public user identity of 3GPP TS 23.003 §13.4B. Characters of the NAI user part
     * that SIP does not allow unescaped (e.g. `#`, `%`, `{`, non-ASCII) are percent-encoded.
     * @param identity the private identity (not empty)
     * @param ec set to errc::impu_malformed if the identity is empty or its realm is not a
     *        valid SIP host name (e.g. non-ASCII); cleared on success
     * @return the public identity, or an empty impu on failure
     */
    static impu from_impi(const impi& identity, std::error_code& ec);

    /**
     * The default public identity `sip:user@realm` of a private identity (see the
     * non-throwing overload).
     * @param identity the private identity
     * @return the public identity
     * @throws std::system_error with errc::impu_malformed on failure
     */
    static impu from_impi(const impi& identity);

    /** @return true for a default-constructed (or failed-to-parse) identity. */
    [[nodiscard]] bool empty() const noexcept { return text_.empty(); }

    /** @return the URI scheme as given (impu_scheme::sip for an empty identity). */
    [[nodiscard]] impu_scheme scheme() const noexcept { return scheme_; }

    /**
     * The normalised user part, as it appears in canonical(): for sip:/sips: the part before
     * "@" (empty if the URI has none); for tel: and `user=phone` the telephone-subscriber
     * (number and kept parameters, e.g. `+12125551234;ext=42`).
     * @return a view into this object, valid until it is modified or destroyed
     */
    [[nodiscard]] std::string_view user() const noexcept { return user_; }

    /**
     * The normalised host (lower case, no port, IPv6 in brackets); empty for tel:.
     * @return a view into this object, valid until it is modified or destroyed
     */
    [[nodiscard]] std::string_view host() const noexcept { return host_; }

    /** @return the explicit port of a sip:/sips: URI, if any. */
    [[nodiscard]] std::optional<std::uint16_t> port() const noexcept { return port_; }

    /** @return true for tel: URIs and SIP URIs with `user=phone`. */
    [[nodiscard]] bool is_telephone_number() const noexcept { return telephone_number_; }

    /**
     * The URI as given, trimmed of surrounding whitespace.
     * @return a reference valid as long as this object is neither modified nor destroyed
     */
    [[nodiscard]] const std::string& str() const noexcept { return text_; }

    /**
     * The normalised form used for comparison (see the class description), itself a valid
     * IMPU whose canonical() is the same string.
     * @return a reference valid as long as this object is neither modified nor destroyed
     */
    [[nodiscard]] const std::string& canonical() const noexcept { return canonical_; }

    /** @return a hash of canonical(), consistent with operator==. */
    [[nodiscard]] std::size_t hash() const noexcept;

    /**
     * Compares the canonical forms.
     * @param other the identity to compare with
     * @return true if canonical() == other.canonical()
     */
    [[nodiscard]] bool operator==(const impu& other) const noexcept {
        return canonical_ == other.canonical_;
    }

    /**
     * Orders identities by canonical() (byte-wise), consistent with operator==.
     * @param other the identity to compare with
     * @return the ordering of canonical() against other.canonical()
     */
    [[nodiscard]] std::strong_ordering operator<=>(const impu& other) const noexcept {
        return canonical_ <=> other.canonical_;
    }

  private:
    std::string text_;       // as given, trimmed; empty for an empty identity
    std::string canonical_;  // normalised form
    std::string user_;       // normalised user part (or telephone-subscriber)
    std::string host_;       // normalised host; empty for tel:
    std::optional<std::uint16_t> port_;
    impu_scheme scheme_ = impu_scheme::sip;
    bool telephone_number_ = false;
};

/**
 * Writes str() to a stream (for logs and test diagnostics).
 * @param out the stream
 * @param value the identity
 * @return @p out
 */
IMSP2P_CORE_EXPORT std::ostream& operator<<(std::ostream& out, const impi& value);

/**
 * Writes str() to a stream (for logs and test diagnostics).
 * @param out the stream
 * @param value the identity
 * @return @p out
 */
IMSP2P_CORE_EXPORT std::ostream& operator<<(std::ostream& out, const impu& value);

}  // namespace imsp2p::core

namespace std {

/** Hashes an IMPI by its normalised form, consistent with its operator==. */
template <>
struct hash<imsp2p::core::impi> {
    /**
     * @param value the identity
     * @return value.hash()
     */
    std::size_t operator()(const imsp2p::core::impi& value) const noexcept { return value.hash(); }
};

/** Hashes an IMPU by its canonical form, consistent with its operator==. */
template <>
struct hash<imsp2p::core::impu> {
    /**
     * @param value the identity
     * @return value.hash()
     */
    std::size_t operator()(const imsp2p::core::impu& value) const noexcept { return value.hash(); }
};

}  // namespace std
