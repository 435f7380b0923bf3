/**
 * @file
 * Charging for the content service: a pluggable backend interface (an operator plugs its
 * online/offline charging system behind it) and the default backend, which writes durable
 * charging data records (CDRs) to SQLite and reports to content providers who bought what.
 */
#pragma once

#include <imsp2p/sip/export.hpp>

#include <imsp2p/core/content.hpp>

#include <nlohmann/json.hpp>

#include <chrono>
#include <cstdint>
#include <filesystem>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <system_error>
#include <vector>

namespace imsp2p::sip {

/** What a charging record is for. */
enum class charge_kind {
    download,  ///< "download": a consumer bought one download (pay per download).
    publish,   ///< "publish": a publisher injected content (recorded, usually free).
};

/** The outcome of a charge attempt. */
enum class charge_outcome {
    charged,   ///< "charged": the amount was taken (or recorded for later billing).
    declined,  ///< "declined": final refusal (no credit, barred); the AS answers 402.
    failed,    ///< "failed": temporary failure; the AS answers 503 and tries again later.
    refunded,  ///< "refunded": an earlier charge was given back (the service could not deliver).
};

/**
 * @param outcome an outcome
 * @return its name: "charged", "declined", "failed" or "refunded" (a static string)
 */
IMSP2P_SIP_EXPORT std::string_view to_string(charge_outcome outcome) noexcept;
/**
 * @param kind a kind
 * @return its name: "download" or "publish" (a static string)
 */
IMSP2P_SIP_EXPORT std::string_view to_string(charge_kind kind) noexcept;

/** One chargeable event, as the content service submits it. A plain value type. */
struct IMSP2P_SIP_EXPORT charge_record {
    /** Idempotency key: the same id always denotes the same event (the AS's purchase id). */
    std::string charge_id;
    /** What is charged. */
    charge_kind kind = charge_kind::download;
    /** The charged user's IMPU (the asserted identity). */
    std::string user;
    /** The content provider's IMPU (the publisher). */
    std::string provider;
    /** The content's DOI (canonical form). */
    std::string doi;
    /** The price (0 for free content: the record is still written, for the provider report). */
    core::price price;
    /** The client's request id (acquire request_id), for customer care. */
    std::string request_id;
    /** When the event happened. */
    std::chrono::system_clock::time_point time{};
};

/** What a backend answers to charge(). A plain value type. */
struct charge_result {
    /** charged, declined or failed. */
    charge_outcome outcome = charge_outcome::failed;
    /** Why (declined/failed), for the log and the SIP reason phrase. */
    std::string reason;
};

/**
 * A charging system. Implementations must be thread-safe: the content service calls them from
 * any worker thread, concurrently, outside its own locks.
 *
 * Idempotency contract: charge() with a charge_id seen before must not charge again; it returns
 * the first final outcome (charged or declined) of that id. A `failed` outcome is not final: the
 * service calls charge() again later with the same record. refund() of an unknown or already
 * refunded id does nothing.
 */
class IMSP2P_SIP_EXPORT charging_backend {
  public:
    /** Destroys the backend. */
    virtual ~charging_backend();

    /**
     * Charges one event (idempotent on record.charge_id, see the class description).
     * @param record the event
     * @return the outcome
     */
    virtual charge_result charge(const charge_record& record) = 0;

    /**
     * Gives back an earlier charge (the service could not deliver the content).
     * @param charge_id the charge_record::charge_id
     * @param reason why, recorded
     * @param now the current time
     * @param ec set if the refund could not be recorded (the service retries)
     */
    virtual void refund(const std::string& charge_id, std::string_view reason,
                        std::chrono::system_clock::time_point now, std::error_code& ec) = 0;
};

/** A stored charging data record. A plain value type. */
struct charging_data_record {
    /** The event as submitted. */
    charge_record record;
    /** Its outcome (charged, declined or refunded; failed attempts are not stored). */
    charge_outcome outcome = charge_outcome::charged;
    /** The reason given with the outcome (empty when charged). */
    std::string reason;
    /** When the outcome was recorded. */
    std::chrono::system_clock::time_point recorded_at{};
};

/** Which CDRs a report covers. A plain value type; empty members match everything. */
struct report_filter {
    /** Only this provider's content (publisher IMPU). */
    std::optional<std::string> provider;
    /** Only this DOI (canonical form, compared case-insensitively). */
    std::optional<std::string> doi;
    /** Only records at or after this time. */
    std::optional<std::chrono::system_clock::time_point> from;
    /** Only records before this time. */
    std::optional<std::chrono::system_clock::time_point> until;
    /** Only this kind (default: downloads, which is what providers are paid for). */
    std::optional<charge_kind> kind = charge_kind::download;
};

/**
 * The default charging backend: every final outcome becomes a durable CDR row in an SQLite file
 * (WAL, synchronous=FULL: charge() returns only once the row is on disk, so a power cut cannot
 * lose a charge the AS went on to grant); a rating function decides the outcome (default: every
 * event is charged, i.e. offline charging, billed from the CDRs). Group commit: concurrent
 * charge() calls share one transaction and one disk flush.
 *
 * Reports ("who bought what"): records() as values, report_json() and report_csv() as documents
 * for a content provider. Refunded downloads stay listed with outcome "refunded".
 *
 * Thread-safety: all members may be called concurrently (one connection behind a mutex). Not
 * copyable or movable (pimpl).
 */
class IMSP2P_SIP_EXPORT sqlite_charging final : public charging_backend {
  public:
    /**
     * Decides a charge (the operator's rating/credit check). Called without the backend's lock
     * held, possibly concurrently; returning `failed` stores nothing.
     */
    using rating_function = std::function<charge_result(const charge_record&)>;

    /**
     * Opens (creating if needed) the CDR database.
     * @param path the SQLite file (its directory must exist)
     * @param rating the rating function; empty: always charged
     * @throws std::system_error when the database cannot be opened or migrated
     */
    explicit sqlite_charging(const std::filesystem::path& path, rating_function rating = {});
    /** Closes the database. */
    ~sqlite_charging() override;
    sqlite_charging(const sqlite_charging&) = delete;
    sqlite_charging& operator=(const sqlite_charging&) = delete;

    /**
     * Charges an event: returns the stored outcome for a known charge_id, otherwise rates it
     * and stores a CDR for a charged or declined outcome.
     * @param record the event
     * @return the outcome (failed if the database write fails)
     */
    charge_result charge(const charge_record& record) override;

    /**
     * Marks a charged CDR refunded (outcome "refunded", reason and time recorded).
     * @param charge_id the id
     * @param reason why
     * @param now the current time
     * @param ec a database error
     */
    void refund(const std::string& charge_id, std::string_view reason,
                std::chrono::system_clock::time_point now, std::error_code& ec) override;

    /**
     * Lists stored CDRs, oldest first.
     * @param filter which records
     * @return the records
     * @throws std::system_error on a database error
     */
    [[nodiscard]] std::vector<charging_data_record> records(const report_filter& filter = {}) const;

    /**
     * A provider report as JSON:
     * `{"provider": "sip:..."|null, "records": [{"time": unix s, "charge_id", "kind", "user",
     * "provider", "doi", "price": {"amount_minor", "currency"}, "outcome", "reason",
     * "request_id"}...], "totals": [{"currency", "amount_minor", "count"}...]}`; totals count
     * charged (not refunded, not declined) records per currency.
     * @param filter which records
     * @return the document
     * @throws std::system_error on a database error
     */
    [[nodiscard]] nlohmann::json report_json(const report_filter& filter = {}) const;

    /**
     * The same records as CSV (RFC 4180, CRLF line ends, header row
     * `time,charge_id,kind,provider,user,doi,amount_minor,currency,outcome,reason,request_id`;
     * time in ISO 8601 UTC; text cells starting with = + - @ are prefixed with ' so that
     * spreadsheets do not run them as formulas).
     * @param filter which records
     * @return the CSV text
     * @throws std::system_error on a database error
     */
    [[nodiscard]] std::string report_csv(const report_filter& filter = {}) const;

  private:
    struct state;
    std::unique_ptr<state> impl_;
};

}  // namespace imsp2p::sip
