/**
 * @file
 * Digital Object Identifiers (ISO 26324): parsing, canonical forms, comparison and minting.
 */
#pragma once

#include <imsp2p/core/export.hpp>

#include <compare>
#include <cstddef>
#include <functional>
#include <iosfwd>
#include <string>
#include <string_view>
#include <system_error>
#include <utility>

namespace imsp2p::core {

/**
 * A Digital Object Identifier (ISO 26324): `10.<registrant>/<suffix>`.
 *
 * A value type holding one DOI in its canonical string form: the directory indicator "10",
 * a registrant code of ASCII digits with optional `.digits` parts, a "/" and a non-empty suffix
 * of printable Unicode (valid UTF-8, no whitespace, no control or invisible format characters),
 * percent-decoded, letter case preserved as given. A default-constructed doi is empty().
 *
 * **Accepted input forms** (parse()):
 * - bare: `10.1000/182`;
 * - prefixed: `doi:10.1000/182`, `urn:doi:10.1000/182` (prefixes are case-insensitive);
 * - resolver URLs: `http://` or `https://` followed by `doi.org/` or `dx.doi.org/` and the DOI
 *   (scheme and host case-insensitive; no user info, no port; any other host is
 *   errc::doi_bad_resolver). A `?query` or `#fragment` ends the URL path and is ignored: a DOI
 *   containing "?" or "#" must percent-encode them in a URL, as url() does.
 *
 * **Percent-encoding.** In every form, including the bare one, a "%" always starts a
 * percent-escape `%XX` (two hexadecimal digits, either case) that is decoded to one byte;
 * a "%" not followed by two hexadecimal digits is errc::doi_bad_percent_encoding. A literal
 * "%" in a DOI is therefore written `%25`. The decoded bytes must be valid UTF-8
 * (errc::doi_bad_utf8). Because str() is decoded, a str() containing "%" does not re-parse
 * with parse(); use parse_canonical() to read back a stored str(), or store url() / urn().
 *
 * **Rejected characters** (checked after decoding): Unicode White_Space (U+0009..U+000D,
 * U+0020, U+0085, U+00A0, U+1680, U+2000..U+200A, U+2028, U+2029, U+202F, U+205F, U+3000) is
 * errc::doi_whitespace; control characters (U+0000..U+001F, U+007F..U+009F), invisible format
 * controls (soft hyphen, zero-width and bidirectional controls, word joiners, byte order mark,
 * tag characters) and noncharacters are errc::doi_control_character. Surrounding whitespace
 * is not trimmed: callers trim user input first if they want to.
 *
 * **Length.** The input text may be at most max_input_length bytes and the decoded DOI at most
 * max_length bytes of UTF-8 (errc::doi_too_long); the url() of a maximal DOI still parses.
 *
 * **Comparison.** operator==, operator<=> and std::hash compare key(), the ASCII upper-case
 * fold of str(), as the DOI system does: `10.1000/ABC` equals `10.1000/abc`; non-ASCII
 * characters compare exactly.
 *
 * Thread-safety: as for standard value types; distinct objects may be used concurrently and
 * const member functions may be called concurrently on the same object.
 */
class IMSP2P_CORE_EXPORT doi {
  public:
    /** The longest accepted DOI, in bytes of its decoded canonical (UTF-8) form. */
    static constexpr std::size_t max_length = 1024;

    /** The longest accepted input text for parse(), in bytes (room for a fully encoded URL). */
    static constexpr std::size_t max_input_length = 4 * max_length;

    /** Creates an empty DOI (empty() is true; every accessor returns an empty string). */
    doi() = default;

    /**
     * Parses a DOI in any accepted form (see the class description).
     * @param text the DOI text; it is not trimmed and need not outlive the call
     * @param ec set to the precise reason on failure (an errc::doi_* value), cleared on success
     * @return the DOI, or an empty doi on failure
     */
    static doi parse(std::string_view text, std::error_code& ec);

    /**
     * Parses a DOI in any accepted form (see the class description).
     * @param text the DOI text
     * @return the DOI
     * @throws std::system_error with an errc::doi_* code on failure
     */
    static doi parse(std::string_view text);

    /**
     * Reads back a canonical string as produced by str(), verbatim: the text must be a bare
     * `10.<registrant>/<suffix>` and is not percent-decoded (a "%" is an ordinary character).
     * Use it for DOIs read from storage or from records written by to_json()-style producers.
     * @param canonical the canonical string
     * @param ec set on failure (an errc::doi_* value), cleared on success
     * @return the DOI (whose str() equals @p canonical), or an empty doi on failure
     */
    static doi parse_canonical(std::string_view canonical, std::error_code& ec);

    /**
     * Reads back a canonical string as produced by str(), verbatim (see the non-throwing
     * overload).
     * @param canonical the canonical string
     * @return the DOI
     * @throws std::system_error with an errc::doi_* code on failure
     */
    static doi parse_canonical(std::string_view canonical);

    /**
     * Mints a new, unique DOI under a prefix.
     *
     * The suffix is `imsp2p.` followed by a ULID-style identifier: 26 characters of Crockford
     * base32 (upper-case, URL-safe) encoding a 48-bit Unix time in milliseconds and 80 bits
     * from the OpenSSL random generator. Within one process mints are strictly increasing in
     * str() order even within the same millisecond (the random part is then incremented), so
     * sorting minted DOIs of one prefix sorts them by creation time.
     *
     * Thread-safe: may be called concurrently from any thread.
     * @param prefix the operator's DOI prefix, `10.<registrant>` (e.g. "10.5555")
     * @param ec set on failure: errc::doi_empty, errc::doi_missing_prefix,
     *        errc::doi_bad_registrant for a bad prefix, errc::crypto_failure if the random
     *        generator fails; cleared on success
     * @return the new DOI, or an empty doi on failure
     */
    static doi mint(std::string_view prefix, std::error_code& ec);

    /**
     * Mints a new, unique DOI under a prefix (see the non-throwing overload). Thread-safe.
     * @param prefix the operator's DOI prefix, `10.<registrant>`
     * @return the new DOI
     * @throws std::system_error on failure
     */
    static doi mint(std::string_view prefix);

    /** @return true for a default-constructed (or failed-to-parse) DOI. */
    [[nodiscard]] bool empty() const noexcept { return text_.empty(); }

    /**
     * The canonical string `10.<registrant>/<suffix>`: percent-decoded, case preserved.
     * @return a reference valid as long as this object is neither modified nor destroyed
     */
    [[nodiscard]] const std::string& str() const noexcept { return text_; }

    /**
     * The prefix `10.<registrant>` (e.g. "10.1000").
     * @return a view into this object, valid until it is modified or destroyed
     */
    [[nodiscard]] std::string_view prefix() const noexcept;

    /**
     * The registrant code (e.g. "1000" of "10.1000/182").
     * @return a view into this object, valid until it is modified or destroyed
     */
    [[nodiscard]] std::string_view registrant() const noexcept;

    /**
     * The suffix after the first "/" (decoded, case preserved).
     * @return a view into this object, valid until it is modified or destroyed
     */
    [[nodiscard]] std::string_view suffix() const noexcept;

    /**
     * The comparison form: str() with ASCII letters folded to upper case (non-ASCII unchanged).
     * Two DOIs are equal exactly when their keys are equal; suitable as a database key.
     * @return a new string
     */
    [[nodiscard]] std::string key() const;

    /**
     * The resolver URL `https://doi.org/<doi>` (DOI Handbook presentation form): characters not
     * safe in a URL path are percent-encoded with upper-case hex: all bytes outside printable
     * ASCII (so non-ASCII characters become their UTF-8 bytes, e.g. "Ä" -> "%C3%84"), space,
     * double quote, hash, percent, less-than, greater-than, question mark, square brackets,
     * backslash, caret, backtick, curly braces and vertical bar (the DOI Handbook's mandatory
     * and recommended set). Everything
     * else, including "/", is kept. parse(url()) gives back an equal DOI with the same str().
     * @return a new string; empty for an empty DOI
     */
    [[nodiscard]] std::string url() const;

    /**
     * The URN form `urn:doi:<doi>`, percent-encoded as url(). parse(urn()) gives back an equal
     * DOI with the same str().
     * @return a new string; empty for an empty DOI
     */
    [[nodiscard]] std::string urn() const;

    /**
     * A hash of key(), consistent with operator==.
     * @return the hash value
     */
    [[nodiscard]] std::size_t hash() const noexcept;

    /**
     * Case-insensitive equality (ASCII fold only; see key()).
     * @param other the DOI to compare with
     * @return true if key() == other.key()
     */
    [[nodiscard]] bool operator==(const doi& other) const noexcept;

    /**
     * Orders DOIs by key() (byte-wise), consistent with operator==.
     * @param other the DOI to compare with
     * @return the ordering of key() against other.key()
     */
    [[nodiscard]] std::weak_ordering operator<=>(const doi& other) const noexcept;

  private:
    doi(std::string text, std::size_t slash) noexcept : text_(std::move(text)), slash_(slash) {}

    std::string text_;       // canonical form; empty for an empty DOI
    std::size_t slash_ = 0;  // index of the "/" between prefix and suffix
};

/**
 * Writes str() to a stream (for logs and test diagnostics).
 * @param out the stream
 * @param value the DOI
 * @return @p out
 */
IMSP2P_CORE_EXPORT std::ostream& operator<<(std::ostream& out, const doi& value);

}  // namespace imsp2p::core

namespace std {

/** Hashes a DOI case-insensitively (ASCII fold), consistent with its operator==. */
template <>
struct hash<imsp2p::core::doi> {
    /**
     * @param value the DOI
     * @return value.hash()
     */
    std::size_t operator()(const imsp2p::core::doi& value) const noexcept { return value.hash(); }
};

}  // namespace std
