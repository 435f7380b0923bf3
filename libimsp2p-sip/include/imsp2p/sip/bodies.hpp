/**
 * @file
 * The JSON bodies the content service exchanges with IMS clients: the acquire request (MESSAGE),
 * the publish request (PUBLISH), the ticket document and the publish result (MESSAGE from the
 * AS), the catalog notification (NOTIFY), and the operator seed box's seed assignment (MESSAGE
 * from the AS) and seed report (MESSAGE to the content PSI).
 *
 * Parsing is strict: the text must be one JSON object (UTF-8, nesting at most 16 deep, no
 * duplicate member names anywhere), every known member must have its type and pass its rules;
 * unknown members are ignored (forward compatibility). A failure names the member (a dotted
 * path such as "metadata.price.currency", or "" for the document itself) and says why, so the
 * AS can put it in a reason phrase. All functions are thread-safe (no shared state).
 */
#pragma once

#include <imsp2p/sip/export.hpp>

#include <imsp2p/core/bytes.hpp>
#include <imsp2p/core/content.hpp>
#include <imsp2p/core/doi.hpp>
#include <imsp2p/core/jose.hpp>

#include <nlohmann/json.hpp>

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <system_error>
#include <vector>

namespace imsp2p::sip {

/** Media type of the acquire request body (MESSAGE to the content PSI). */
inline constexpr std::string_view acquire_media_type = "application/vnd.imsp2p.acquire+json";
/** Media type of the publish request body (PUBLISH, Event: imsp2p-content). */
inline constexpr std::string_view publish_media_type = "application/vnd.imsp2p.publish+json";
/** Media type of the ticket document (MESSAGE from the AS to the buyer). */
inline constexpr std::string_view ticket_media_type = "application/vnd.imsp2p.ticket+json";
/** Media type of the publish result document (MESSAGE from the AS to the publisher). */
inline constexpr std::string_view publish_result_media_type =
    "application/vnd.imsp2p.publish-result+json";
/** Media type of catalog notifications (NOTIFY, Event: imsp2p-catalog). */
inline constexpr std::string_view catalog_media_type = "application/vnd.imsp2p.catalog+json";
/** Media type of the seed assignment (MESSAGE from the AS to an operator seed box). */
inline constexpr std::string_view seed_assignment_media_type =
    "application/vnd.imsp2p.seed-assignment+json";
/** Media type of the seed report (MESSAGE from an operator seed box to the content PSI). */
inline constexpr std::string_view seed_report_media_type =
    "application/vnd.imsp2p.seed-report+json";
/** Longest assignment id accepted, in bytes (visible ASCII 0x21..0x7E only). */
inline constexpr std::size_t max_assignment_id_bytes = 128;

/** Longest request id accepted, in bytes (visible ASCII 0x21..0x7E only). */
inline constexpr std::size_t max_request_id_bytes = 128;
/** Longest compact JWE accepted for a content key ("cek"), in bytes. */
inline constexpr std::size_t max_cek_jwe_bytes = 4096;

/**
 * Why a body was refused: which member and why. A plain value type.
 */
struct IMSP2P_SIP_EXPORT body_error {
    /** The dotted path of the offending member ("device_key", "metadata.title"); "" for the
     *  document as a whole (not JSON, not an object, duplicate member...). */
    std::string member;
    /** A short English explanation, e.g. "must be a string of 1..128 visible ASCII characters". */
    std::string reason;

    /**
     * @return "member: reason", or only the reason when member is empty (fit for a SIP reason
     *         phrase once control characters are removed)
     */
    [[nodiscard]] std::string message() const;
};

/**
 * The acquire request: `{"doi": "10.5555/x", "device_key": {X25519 public JWK},
 * "request_id": "..."}`.
 *
 * "doi" accepts every form of core::doi::parse(); "device_key" must be an OKP X25519 JWK
 * without a private part ("d" is refused: the device must never send it); "request_id" is
 * 1..max_request_id_bytes visible ASCII characters chosen by the client, unique per purchase
 * (the AS is idempotent on it per user). A plain value type.
 */
struct IMSP2P_SIP_EXPORT acquire_request {
    /** The content to buy. */
    core::doi doi;
    /** The device's X25519 public key; the license's CEK is encrypted to it. */
    core::jwk device_key;
    /** The client's idempotency key for this purchase. */
    std::string request_id;

    /**
     * Parses and checks an acquire body.
     * @param text the body
     * @param ec errc::bad_body on any failure, cleared on success
     * @param detail if not null, receives the member and reason on failure
     * @return the request, default-constructed on failure
     */
    static acquire_request parse(std::string_view text, std::error_code& ec,
                                 body_error* detail = nullptr);
    /**
     * Throwing form of parse().
     * @param text the body
     * @return the parsed value
     * @throws std::system_error with errc::bad_body whose what() is body_error::message()
     */
    static acquire_request parse(std::string_view text);
    /** @return the JSON object (device_key without "d") */
    [[nodiscard]] nlohmann::json to_json() const;
    /** @return to_json() as compact text */
    [[nodiscard]] std::string serialize() const;
};

/** What a PUBLISH body asks for. */
enum class publish_action {
    publish,   ///< "publish": new content (the default when "action" is absent).
    withdraw,  ///< "withdraw": the publisher withdraws its content identified by "doi".
};

/** The metadata of a publish request (the catalogue fields the publisher chooses). */
struct IMSP2P_SIP_EXPORT publish_metadata {
    /** Title (UTF-8, 1..core::content_record::max_title_bytes bytes, no control characters). */
    std::string title;
    /** Description (may be empty). */
    std::string description;
    /** Media type of the plain content, e.g. "video/mp4". */
    std::string content_type;
    /** Optional genre (catalog filtering). */
    std::optional<std::string> genre;
    /** Optional series (catalog filtering). */
    std::optional<std::string> series;
    /** Price of one download. */
    core::price price;
    /** Size of the plain content in bytes ("size"). */
    std::uint64_t size_bytes = 0;
    /** A DOI the publisher proposes ("doi"); absent: the AS mints one. */
    std::optional<core::doi> doi;

    /** Member-wise equality. @param other the value to compare with @return true if equal */
    bool operator==(const publish_metadata& other) const = default;
};

/**
 * The PUBLISH body (Event: imsp2p-content).
 *
 * Publish form:
 * ```
 * {"action": "publish",                      (optional, default)
 *  "metadata": {"title": "...", "description": "...", "content_type": "video/mp4",
 *               "genre": "...", "series": "...", "price": {"amount_minor": 199,
 *               "currency": "EUR"}, "size": 123, "doi": "10.5555/proposed"},
 *  "torrent": "<base64 of the .torrent>",
 *  "cek": "<compact JWE of the content key to the DRM server's X25519 key>",
 *  "kid": "<32 hex digits>"}
 * ```
 * metadata.description, genre, series and doi are optional; the text fields follow the rules
 * of core::content_record. "torrent" is standard base64 (padding required) of a bencoded
 * dictionary; "cek" a compact JWE (five base64url parts) whose protected header has alg
 * "ECDH-ES+A256KW" or "ECDH-ES" and enc "A256GCM" (the AS cannot and does not decrypt it);
 * "kid" 32 hex digits (folded to lower case).
 *
 * Withdraw form: `{"action": "withdraw", "doi": "10.5555/x"}`.
 * A plain value type.
 */
struct IMSP2P_SIP_EXPORT publish_request {
    /** What is asked. */
    publish_action action = publish_action::publish;
    /** Publish: the metadata. */
    publish_metadata metadata;
    /** Publish: the bencoded torrent (decoded from base64). */
    core::byte_vector torrent;
    /** Publish: the content key as a compact JWE to the DRM server. */
    std::string cek;
    /** Publish: the content key id, 32 lower-case hex digits. */
    std::string kid;
    /** Withdraw: the content to withdraw. */
    core::doi withdraw_doi;

    /**
     * Parses and checks a publish body.
     * @param text the body
     * @param ec errc::bad_body on any failure, cleared on success
     * @param detail if not null, receives the member and reason on failure
     * @return the request, default-constructed on failure
     */
    static publish_request parse(std::string_view text, std::error_code& ec,
                                 body_error* detail = nullptr);
    /**
     * Throwing form of parse().
     * @param text the body
     * @return the parsed value
     * @throws std::system_error with errc::bad_body whose what() is body_error::message()
     */
    static publish_request parse(std::string_view text);
    /** @return the JSON object of the request's form */
    [[nodiscard]] nlohmann::json to_json() const;
    /** @return to_json() as compact text */
    [[nodiscard]] std::string serialize() const;
};

/**
 * The ticket document the AS sends to a buyer after a purchase:
 * ```
 * {"request_id": "...", "doi": "10.5555/x",
 *  "torrent_url": "http://index/torrents/10.5555%2Fx.torrent",
 *  "announce_url": "http://tracker:6969/announce/<leech ticket>",
 *  "license_url": "http://drm/v1/licenses", "grant_token": "<JWT>", "expires": 1800000000}
 * ```
 * "expires" (Unix seconds) is when the leech ticket and grant token stop being valid (the
 * earlier of the two). Every member is required; the URLs must be http or https. A plain value
 * type.
 */
struct IMSP2P_SIP_EXPORT ticket_document {
    /** The acquire request's id. */
    std::string request_id;
    /** The content bought (canonical form). */
    core::doi doi;
    /** Where the .torrent is served (content index). */
    std::string torrent_url;
    /** The tracker announce URL with the leech ticket in its path. */
    std::string announce_url;
    /** Where the license is fetched (DRM server). */
    std::string license_url;
    /** The grant token (ticket with aud "drm", the DOI and cnf of the device key). */
    std::string grant_token;
    /** When the tickets expire. */
    std::chrono::sys_seconds expires{};

    /**
     * Parses and checks a ticket document.
     * @param text the body
     * @param ec errc::bad_body on any failure, cleared on success
     * @param detail if not null, receives the member and reason on failure
     * @return the document, default-constructed on failure
     */
    static ticket_document parse(std::string_view text, std::error_code& ec,
                                 body_error* detail = nullptr);
    /**
     * Throwing form of parse().
     * @param text the body
     * @return the parsed value
     * @throws std::system_error with errc::bad_body whose what() is body_error::message()
     */
    static ticket_document parse(std::string_view text);
    /** @return the JSON object */
    [[nodiscard]] nlohmann::json to_json() const;
    /** @return to_json() as compact text */
    [[nodiscard]] std::string serialize() const;
};

/**
 * The publish result the AS sends to a publisher once its content is registered:
 * ```
 * {"doi": "10.5555/imsp2p.01J...", "kid": "<32 hex>", "infohash_v1": "<40 hex>",
 *  "state": "active" | "muted", "seed_ticket": "<JWT, role seed>",
 *  "announce_url": "http://tracker:6969/announce/<seed ticket>",
 *  "torrent_url": "http://index/torrents/....torrent", "expires": 1800000000}
 * ```
 * "expires" (Unix seconds) is the seed ticket's expiry. A plain value type.
 */
struct IMSP2P_SIP_EXPORT publish_result {
    /** The content's DOI (minted or the proposed one). */
    core::doi doi;
    /** The content key id the publish carried. */
    std::string kid;
    /** The torrent's v1 infohash (40 lower-case hex digits). */
    std::string infohash_v1;
    /** The content's state after publishing (muted while waiting for operator seeding). */
    core::content_state state = core::content_state::active;
    /** The publisher's seed ticket (aud tracker, role seed). */
    std::string seed_ticket;
    /** The announce URL with the seed ticket in its path. */
    std::string announce_url;
    /** Where the content index serves the .torrent. */
    std::string torrent_url;
    /** When the seed ticket expires. */
    std::chrono::sys_seconds expires{};

    /**
     * Parses and checks a publish result.
     * @param text the body
     * @param ec errc::bad_body on any failure, cleared on success
     * @param detail if not null, receives the member and reason on failure
     * @return the result, default-constructed on failure
     */
    static publish_result parse(std::string_view text, std::error_code& ec,
                                body_error* detail = nullptr);
    /**
     * Throwing form of parse().
     * @param text the body
     * @return the parsed value
     * @throws std::system_error with errc::bad_body whose what() is body_error::message()
     */
    static publish_result parse(std::string_view text);
    /** @return the JSON object */
    [[nodiscard]] nlohmann::json to_json() const;
    /** @return to_json() as compact text */
    [[nodiscard]] std::string serialize() const;
};

/**
 * The seed assignment the AS sends to an operator seed box when content is published muted:
 * ```
 * {"assignment_id": "...", "doi": "10.5555/x", "infohash_v1": "<40 hex>",
 *  "torrent_url": "http://index/torrents/10.5555%2Fx.torrent",
 *  "announce_url": "http://tracker:6969/announce/<operator-seed ticket>",
 *  "expires": 1800000000}
 * ```
 * "assignment_id" is opaque, 1..max_assignment_id_bytes visible ASCII characters, unique per
 * (DOI, seed box); the seed box echoes it in its seed_report. "doi" must be canonical;
 * "infohash_v1" is 40 hex digits (folded to lower case); "expires" (Unix seconds) is the
 * operator-seed ticket's expiry. Every member is required; the URLs must be http or https;
 * unknown members are ignored. A plain value type.
 */
struct IMSP2P_SIP_EXPORT seed_assignment {
    /** The AS's id of this assignment (echoed in the seed report). */
    std::string assignment_id;
    /** The content to seed (canonical form). */
    core::doi doi;
    /** The torrent's v1 infohash (40 lower-case hex digits); the seed box checks the .torrent. */
    std::string infohash_v1;
    /** Where the content index serves the .torrent. */
    std::string torrent_url;
    /** The tracker announce URL with the operator-seed ticket in its path. */
    std::string announce_url;
    /** When the operator-seed ticket expires. */
    std::chrono::sys_seconds expires{};

    /**
     * Parses and checks a seed assignment.
     * @param text the body
     * @param ec errc::bad_body on any failure, cleared on success
     * @param detail if not null, receives the member and reason on failure
     * @return the assignment, default-constructed on failure
     */
    static seed_assignment parse(std::string_view text, std::error_code& ec,
                                 body_error* detail = nullptr);
    /**
     * Throwing form of parse().
     * @param text the body
     * @return the parsed value
     * @throws std::system_error with errc::bad_body whose what() is body_error::message()
     */
    static seed_assignment parse(std::string_view text);
    /** @return the JSON object */
    [[nodiscard]] nlohmann::json to_json() const;
    /** @return to_json() as compact text */
    [[nodiscard]] std::string serialize() const;
};

/**
 * The seed report an operator seed box sends to the content PSI once it holds a full copy:
 * ```
 * {"assignment_id": "...", "doi": "10.5555/x", "infohash_v1": "<40 hex>", "state": "seeded"}
 * ```
 * "assignment_id" follows the seed_assignment rules; "doi" accepts every form of
 * core::doi::parse() (kept canonical); "infohash_v1" is 40 hex digits (folded to lower case);
 * "state" must be exactly "seeded". Every member is required; unknown members are ignored. A
 * plain value type.
 */
struct IMSP2P_SIP_EXPORT seed_report {
    /** The assignment this reports on (seed_assignment::assignment_id). */
    std::string assignment_id;
    /** The content seeded (canonical form). */
    core::doi doi;
    /** The torrent's v1 infohash (40 lower-case hex digits). */
    std::string infohash_v1;
    /** The seed box's state for the assignment; always "seeded" once parsed. */
    std::string state = "seeded";

    /**
     * Parses and checks a seed report.
     * @param text the body
     * @param ec errc::bad_body on any failure, cleared on success
     * @param detail if not null, receives the member and reason on failure
     * @return the report, default-constructed on failure
     */
    static seed_report parse(std::string_view text, std::error_code& ec,
                             body_error* detail = nullptr);
    /**
     * Throwing form of parse().
     * @param text the body
     * @return the parsed value
     * @throws std::system_error with errc::bad_body whose what() is body_error::message()
     */
    static seed_report parse(std::string_view text);
    /** @return the JSON object */
    [[nodiscard]] nlohmann::json to_json() const;
    /** @return to_json() as compact text */
    [[nodiscard]] std::string serialize() const;
};

/** The kind of a catalog notification. */
enum class catalog_event {
    full,       ///< "full": the current catalog (first NOTIFY of a subscription, refreshes).
    published,  ///< "published": one entry was published.
    withdrawn,  ///< "withdrawn": one entry was withdrawn.
};

/** One catalog entry: the record plus where to get the torrent and how to buy. */
struct IMSP2P_SIP_EXPORT catalog_entry {
    /** The catalogue record. */
    core::content_record record;
    /** Where the content index serves the .torrent. */
    std::string torrent_url;
    /** The SIP URI a client sends the acquire MESSAGE to (the content PSI). */
    std::string purchase_uri;

    /** Member-wise equality. @param other the value to compare with @return true if equal */
    bool operator==(const catalog_entry& other) const = default;
};

/**
 * A catalog NOTIFY body:
 * - full: `{"event": "full", "entries": [entry...], "truncated": false}`; "truncated" is true
 *   when the AS sent only the newest entries;
 * - published / withdrawn: `{"event": "published", "entry": entry}`.
 *
 * An entry is `{"record": core::content_record JSON, "torrent_url": "...", "purchase_uri":
 * "sip:..."}`. A plain value type.
 */
struct IMSP2P_SIP_EXPORT catalog_notification {
    /** The kind. */
    catalog_event event = catalog_event::full;
    /** The entries: any number for full, exactly one otherwise. */
    std::vector<catalog_entry> entries;
    /** Full only: the list was cut to the newest entries. */
    bool truncated = false;

    /**
     * Parses and checks a catalog notification.
     * @param text the body
     * @param ec errc::bad_body on any failure, cleared on success
     * @param detail if not null, receives the member and reason on failure
     * @return the notification, default-constructed on failure
     */
    static catalog_notification parse(std::string_view text, std::error_code& ec,
                                      body_error* detail = nullptr);
    /**
     * Throwing form of parse().
     * @param text the body
     * @return the parsed value
     * @throws std::system_error with errc::bad_body whose what() is body_error::message()
     */
    static catalog_notification parse(std::string_view text);
    /** @return the JSON object */
    [[nodiscard]] nlohmann::json to_json() const;
    /** @return to_json() as compact text */
    [[nodiscard]] std::string serialize() const;
};

}  // namespace imsp2p::sip
