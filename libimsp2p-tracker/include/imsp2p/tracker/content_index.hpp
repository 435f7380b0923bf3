/**
 * @file
 * The content index store: the operator's catalogue of published content (one entry per DOI:
 * the content record, the .torrent file, the `sip:` purchase URI, listed/withdrawn state),
 * kept in SQLite so that it survives restarts. index_server serves it over HTTP.
 */
#pragma once

#include <imsp2p/tracker/export.hpp>

#include <imsp2p/core/bytes.hpp>
#include <imsp2p/core/content.hpp>
#include <imsp2p/core/doi.hpp>

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <system_error>
#include <vector>

namespace imsp2p::tracker {

/** Whether an index entry is shown to the public. */
enum class index_entry_state {
    listed,     ///< Shown on the catalogue pages and JSON; its torrent can be downloaded.
    withdrawn,  ///< Hidden from the public (404/410); kept for the operator and audits.
};

/**
 * The JSON name of a state.
 * @param state the state
 * @return "listed" or "withdrawn" (a static string)
 */
IMSP2P_TRACKER_EXPORT std::string_view to_string(index_entry_state state) noexcept;

/** One catalogue entry. A plain value type. */
struct index_entry {
    /** The content's metadata (its doi is the entry's key). */
    core::content_record record;
    /** The .torrent file (bencoded metainfo); may be empty in listings that omit it. */
    core::byte_vector torrent;
    /** Where a consumer buys the content: a `sip:` or `sips:` URI (RFC 3261 §19.1). */
    std::string purchase_uri;
    /** Listed or withdrawn. */
    index_entry_state state = index_entry_state::listed;
    /** When the entry was last created, updated or withdrawn (whole seconds). */
    std::chrono::system_clock::time_point updated_at{};
};

/** A catalogue search. A plain value type; empty members do not filter. */
struct index_query {
    /**
     * Free text: matches entries whose title contains it (ASCII case-insensitive) or whose
     * DOI equals it (in any form core::doi::parse() accepts). Surrounding spaces are ignored.
     */
    std::string text;
    /** Only entries of this genre (ASCII case-insensitive, exact). */
    std::optional<std::string> genre;
    /** Only entries of this series (ASCII case-insensitive, exact). */
    std::optional<std::string> series;
    /** Also return withdrawn entries (the operator's view). */
    bool include_withdrawn = false;
    /** Return the .torrent bytes too (otherwise index_entry::torrent is left empty). */
    bool with_torrents = false;
    /** The most entries returned (0: no limit). */
    std::size_t limit = 0;
};

/** Entry counts by state. */
struct index_counts {
    /** Listed entries. */
    std::uint64_t listed = 0;
    /** Withdrawn entries. */
    std::uint64_t withdrawn = 0;
};

/**
 * The SQLite-backed store of catalogue entries (file `index.sqlite` in the data directory,
 * WAL mode; every change is one transaction).
 *
 * Results are ordered newest first (record created_at descending), then by title.
 * Thread-safe: every member function may be called concurrently (one internal mutex).
 * Not copyable; create it with open().
 */
class IMSP2P_TRACKER_EXPORT content_index {
  public:
    /**
     * Opens (creating if needed) the store.
     * @param file the SQLite file; its directory must exist
     * @param ec errc::storage_failure (with the path) on failure, cleared on success
     * @return the store, or null on failure
     */
    static std::unique_ptr<content_index> open(const std::filesystem::path& file,
                                               std::error_code& ec);
    /**
     * Opens (creating if needed) the store (see the non-throwing overload).
     * @param file the SQLite file
     * @return the store (never null)
     * @throws std::system_error naming the file
     */
    static std::unique_ptr<content_index> open(const std::filesystem::path& file);

    /** Closes the database. */
    ~content_index();
    content_index(const content_index&) = delete;             ///< Not copyable.
    content_index& operator=(const content_index&) = delete;  ///< Not copyable.

    /**
     * Creates or replaces the entry of entry.record.doi; its state becomes listed (a withdrawn
     * entry is listed again) unless record.state is core::content_state::withdrawn.
     * The caller validates the record and the torrent (index_server does).
     * @param entry the entry (updated_at is ignored: @p now is stored)
     * @param now the time of the change
     * @param ec errc::bad_admin_request for an empty DOI, errc::storage_failure
     * @return true if the entry was created, false if it replaced an existing one
     */
    bool put(const index_entry& entry, std::chrono::system_clock::time_point now,
             std::error_code& ec);

    /**
     * Withdraws an entry (it stays stored, with state withdrawn). Withdrawing a withdrawn
     * entry succeeds and changes nothing.
     * @param doi the entry's DOI
     * @param now the time of the change
     * @param ec errc::unknown_content if there is no such entry, errc::storage_failure
     * @return the entry as it is now (without torrent), empty on failure
     */
    std::optional<index_entry> withdraw(const core::doi& doi,
                                        std::chrono::system_clock::time_point now,
                                        std::error_code& ec);

    /**
     * Looks an entry up by DOI (case-insensitive, see core::doi), whatever its state.
     * @param doi the DOI
     * @param with_torrent whether to read the .torrent bytes too
     * @param ec errc::storage_failure; not set when the entry is absent
     * @return the entry, or nullopt if absent
     */
    std::optional<index_entry> find(const core::doi& doi, bool with_torrent,
                                    std::error_code& ec) const;

    /**
     * Searches the catalogue.
     * @param query the filters
     * @param ec errc::storage_failure
     * @return the matching entries (see the class description for the order)
     */
    std::vector<index_entry> search(const index_query& query, std::error_code& ec) const;

    /**
     * Counts entries by state.
     * @param ec errc::storage_failure
     * @return the counts
     */
    index_counts counts(std::error_code& ec) const;

    /** @return the SQLite file. */
    [[nodiscard]] const std::filesystem::path& path() const noexcept;

  private:
    struct impl;
    explicit content_index(std::unique_ptr<impl> state) noexcept;
    std::unique_ptr<impl> impl_;
};

}  // namespace imsp2p::tracker
