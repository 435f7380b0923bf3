/**
 * @file
 * A blocking client of the content index's HTTP API (see index_server.hpp), for the AS
 * (publishing and withdrawing entries with a service JWT) and for consumers' clients
 * (reading the catalogue and fetching .torrent files).
 */
#pragma once

#include <imsp2p/tracker/content_index.hpp>
#include <imsp2p/tracker/export.hpp>

#include <imsp2p/core/bytes.hpp>
#include <imsp2p/core/content.hpp>
#include <imsp2p/core/doi.hpp>

#include <chrono>
#include <string>
#include <string_view>
#include <system_error>
#include <vector>

namespace imsp2p::tracker {

/**
 * The index API client. Each call is one HTTP/1.1 exchange on its own connection, run on the
 * calling thread with a whole-exchange timeout; the object holds only its settings, so it is
 * thread-safe and cheap to copy.
 *
 * Errors: transport failures are the system error (e.g. connection refused, timed out);
 * HTTP refusals map to errc::admin_unauthorized (401/403), errc::bad_admin_request (400,
 * 413, other 4xx), errc::unknown_content (404), errc::content_withdrawn (410) and
 * errc::storage_failure (5xx or an unreadable answer). @p detail receives the server's
 * problem "detail" (or a description of the failure).
 */
class IMSP2P_TRACKER_EXPORT index_client {
  public:
    /**
     * Creates a client.
     * @param base_url the index's base URL, `http://host:port` (a trailing "/" is ignored)
     * @param timeout the limit of each exchange
     */
    explicit index_client(std::string base_url,
                          std::chrono::milliseconds timeout = std::chrono::seconds(10));

    /** @return the base URL (without trailing "/"). */
    [[nodiscard]] const std::string& base_url() const noexcept { return base_url_; }

    /**
     * Creates or replaces an entry (`PUT /admin/entries/<doi>`).
     * @param record the content record
     * @param torrent the .torrent file
     * @param purchase_uri the `sip:` purchase URI (empty: the server's template applies)
     * @param service_token the AS service JWT (aud "index", role "service")
     * @param ec cleared on success, see the class description
     * @param detail if not null, the reason on failure
     * @return true if created (201), false if updated (200) or on failure
     */
    bool put_entry(const core::content_record& record, core::byte_view torrent,
                   std::string_view purchase_uri, std::string_view service_token,
                   std::error_code& ec, std::string* detail = nullptr) const;

    /**
     * Withdraws an entry (`DELETE /admin/entries/<doi>`).
     * @param doi the entry's DOI
     * @param service_token the AS service JWT
     * @param ec cleared on success (errc::unknown_content for an unknown DOI)
     * @param detail if not null, the reason on failure
     */
    void withdraw(const core::doi& doi, std::string_view service_token, std::error_code& ec,
                  std::string* detail = nullptr) const;

    /**
     * Lists every entry, withdrawn ones included (`GET /admin/entries`).
     * @param service_token the AS service JWT
     * @param ec cleared on success
     * @param detail if not null, the reason on failure
     * @return the entries (torrent left empty)
     */
    std::vector<index_entry> list(std::string_view service_token, std::error_code& ec,
                                  std::string* detail = nullptr) const;

    /**
     * Reads the public catalogue (`GET /catalog.json?q=`): listed entries only.
     * @param query search text (empty: everything); see index_query::text
     * @param ec cleared on success
     * @param detail if not null, the reason on failure
     * @return the entries (torrent left empty)
     */
    std::vector<index_entry> fetch_catalog(std::string_view query, std::error_code& ec,
                                           std::string* detail = nullptr) const;

    /**
     * Downloads an entry's .torrent file (`GET /torrents/<doi>.torrent`).
     * @param doi the entry's DOI
     * @param ec cleared on success (errc::unknown_content, errc::content_withdrawn)
     * @param detail if not null, the reason on failure
     * @return the bencoded metainfo, empty on failure
     */
    core::byte_vector fetch_torrent(const core::doi& doi, std::error_code& ec,
                                    std::string* detail = nullptr) const;

  private:
    std::string base_url_;
    std::chrono::milliseconds timeout_;
};

}  // namespace imsp2p::tracker
