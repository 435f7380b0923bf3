/**
 * @file
 * The content index's HTTP server (Boost.Beast), the admin entry body parser, and
 * index_runner, the whole `imsp2p-index` program as a class.
 *
 * Public routes (no authentication):
 * - `GET /` the HTML catalogue (no JavaScript needed): per entry the title, description,
 *   human-readable size, price, DOI, a `sip:` purchase link and a .torrent link;
 *   `GET /?q=<text>[&genre=..][&series=..]` searches (see index_query).
 * - `GET /content/<doi percent-encoded>` the entry's HTML page (404 unknown, 410 withdrawn).
 * - `GET /catalog.json[?q=..&genre=..&series=..]` -> {"count": n, "entries": [entry JSON]}.
 * - `GET /torrents/<doi percent-encoded>.torrent` -> application/x-bittorrent (404, 410).
 * - `GET /health` -> {"status":"ok",...}; `GET /metrics` -> Prometheus text format 0.0.4.
 *
 * Admin routes (JSON; `Authorization: Bearer <service JWT>`: an AS ticket with aud "index"
 * and role "service"; missing or bad -> 401):
 * - `PUT /admin/entries/<doi>` {"record": content record JSON, "torrent": base64 .torrent,
 *   "purchase_uri": "sip:..."} -> 201 created / 200 updated, body: the entry JSON.
 * - `DELETE /admin/entries/<doi>` -> 200 with the entry, now "withdrawn" (404 unknown).
 * - `GET /admin/entries` -> {"count": n, "entries": [...]} including withdrawn entries;
 *   `GET /admin/entries/<doi>` -> the entry.
 *
 * The entry JSON: {"doi", "record", "purchase_uri", "state": "listed"|"withdrawn",
 * "updated_at": unix seconds, "torrent_url": "/torrents/<doi>.torrent", "detail_url":
 * "/content/<doi>"} (URLs relative to the server).
 *
 * Errors are RFC 7807 application/problem+json documents with a precise "detail".
 *
 * Threads: the server works in handlers of one io_context (its own or the host's); each
 * connection runs on its own strand, so the host may run the io_context on several threads.
 */
#pragma once

#include <imsp2p/tracker/content_index.hpp>
#include <imsp2p/tracker/export.hpp>

#include <imsp2p/core/config.hpp>
#include <imsp2p/core/log.hpp>
#include <imsp2p/core/ticket.hpp>

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <system_error>

namespace boost::asio {
class io_context;
}  // namespace boost::asio

namespace imsp2p::tracker {

/**
 * Parses and validates the body of `PUT /admin/entries/<doi>`: a JSON object with "record"
 * (core::content_record JSON, validated), "torrent" (standard padded base64 of a bencoded
 * metainfo dictionary whose "info" dictionary hashes to record.infohash_v1 with SHA-1, and to
 * record.infohash_v2 with SHA-256 when it has "meta version" 2) and "purchase_uri" (a `sip:`
 * or `sips:` URI of printable ASCII, at most 2048 bytes). "purchase_uri" may be omitted when
 * @p purchase_uri_template is not empty: the template's "{doi}" is then replaced by the
 * percent-encoded DOI.
 * @param body the request body
 * @param purchase_uri_template the default purchase URI template (may be empty)
 * @param ec errc::bad_admin_request on any failure, cleared on success
 * @param detail if not null, receives a precise reason naming the member on failure
 * @return the entry (state listed, updated_at unset), default-constructed on failure
 */
IMSP2P_TRACKER_EXPORT index_entry parse_admin_entry_body(std::string_view body,
                                                         std::string_view purchase_uri_template,
                                                         std::error_code& ec,
                                                         std::string* detail = nullptr);

/**
 * The path segment form of a DOI used in index URLs: core::doi::url() without its
 * "https://doi.org/" prefix (non-ASCII, "%", "?", "#", space and other unsafe bytes
 * percent-encoded; "/" kept).
 * @param doi the DOI
 * @return the encoded text
 */
IMSP2P_TRACKER_EXPORT std::string doi_path_segment(const core::doi& doi);

/** Settings of the index HTTP server. A plain value type. */
struct index_server_settings {
    /** The address to listen on (IPv4 or IPv6 literal). */
    std::string bind_address = "127.0.0.1";
    /** The TCP port; 0 picks a free port (see index_server::port()). */
    std::uint16_t port = 8090;
    /** Largest request body accepted (bytes; admin PUT with a base64 torrent); else 413. */
    std::uint64_t max_body_size = 16ull << 20;
    /** A connection idle or slow for this long is closed. */
    std::chrono::seconds request_timeout{30};
    /** Most connections open at once (0: unlimited). */
    std::size_t max_connections = 1024;
    /** The heading and title of the HTML pages. */
    std::string site_title = "Content catalogue";
    /** Default purchase URI template for PUT bodies without "purchase_uri" (see
     *  parse_admin_entry_body()); empty: "purchase_uri" is required. */
    std::string purchase_uri_template;
};

/**
 * The content index HTTP server. Not copyable or movable (pimpl).
 *
 * Lifetime: the content_index must outlive the server. With a host-owned io_context, the host
 * keeps running it until the handlers have finished after stop(), and the io_context outlives
 * the server.
 */
class IMSP2P_TRACKER_EXPORT index_server {
  public:
    /**
     * Creates a server with its own io_context, driven by run().
     * @param index the store (not owned)
     * @param verifier checks admin service JWTs (copied; its audience should be "index")
     * @param settings the HTTP settings
     * @param log where the server logs (component "index.http" is typical)
     */
    index_server(content_index& index, core::ticket_verifier verifier,
                 index_server_settings settings, core::logger log);
    /**
     * Creates a server on a host-owned io_context.
     * @param io the io_context (not owned)
     * @param index the store (not owned)
     * @param verifier checks admin service JWTs (copied)
     * @param settings the HTTP settings
     * @param log where the server logs
     */
    index_server(boost::asio::io_context& io, content_index& index, core::ticket_verifier verifier,
                 index_server_settings settings, core::logger log);
    /** Stops the server; with its own io_context, also drains its pending handlers. */
    ~index_server();
    index_server(const index_server&) = delete;             ///< Not copyable.
    index_server& operator=(const index_server&) = delete;  ///< Not copyable.

    /**
     * Binds and starts accepting. Idempotent.
     * @param ec the bind error (e.g. address in use); cleared on success
     */
    void start(std::error_code& ec);
    /** Throwing form of start(). @throws std::system_error naming the address */
    void start();
    /** @return the bound port after start(), 0 before. */
    [[nodiscard]] std::uint16_t port() const noexcept;
    /**
     * Starts if needed, then runs the io_context on the calling thread until stop() has taken
     * effect and no work is left.
     */
    void run();
    /** Stops accepting and closes every connection. Thread-safe, idempotent, returns at once. */
    void stop();
    /** @return the HTTP requests parsed so far. */
    [[nodiscard]] std::uint64_t requests() const noexcept;

  private:
    struct state;
    std::unique_ptr<boost::asio::io_context> owned_io_;
    std::shared_ptr<state> impl_;
};

/**
 * The `imsp2p-index` program as a class: reads the configuration, opens the store, listens,
 * logs, and runs until SIGINT/SIGTERM or stop().
 *
 * Configuration (JSON; every member optional except data_dir):
 * ```
 * {"listen": {"address": "127.0.0.1", "port": 8090},
 *  "data_dir": "/var/lib/imsp2p-index",           // index.sqlite
 *  "as_jwks": "as-jwks.json",                     // the AS public keys (JWK Set file), and/or
 *  "as_public_key": {"kty":"OKP","crv":"Ed25519","x":"...","kid":"..."},
 *  "as_issuer": "sip:as.ims.example",             // required "iss" of service JWTs (optional)
 *  "purchase_uri_template": "sip:content@operator.example?subject=buy&doi={doi}",
 *  "site_title": "Content catalogue", "threads": 1,
 *  "log": {"level": "info", "format": "text"}}
 * ```
 * Not copyable (pimpl). run() blocks the calling thread; stop() and port() may be called from
 * any thread.
 */
class IMSP2P_TRACKER_EXPORT index_runner {
  public:
    /**
     * Opens everything, takes over SIGINT and SIGTERM for this process (a signal arriving
     * before run() is kept for it) and starts listening (so port() is known on return).
     * @param config the configuration (relative paths resolve against its base directory)
     * @throws std::system_error naming the setting or file on a bad configuration, a store
     *         that cannot be opened or an address that cannot be bound
     */
    explicit index_runner(const core::config& config);
    /** Stops and closes everything. */
    ~index_runner();
    index_runner(const index_runner&) = delete;             ///< Not copyable.
    index_runner& operator=(const index_runner&) = delete;  ///< Not copyable.

    /**
     * Serves until SIGINT or SIGTERM arrives or stop() is called, then returns.
     * @return the process exit status (0)
     */
    int run();
    /** Asks run() to return. Thread-safe, idempotent. */
    void stop();
    /** @return the bound port. */
    [[nodiscard]] std::uint16_t port() const noexcept;
    /** @return the store (valid while the runner lives). */
    [[nodiscard]] content_index& index() noexcept;

  private:
    struct impl;
    std::unique_ptr<impl> impl_;
};

}  // namespace imsp2p::tracker
