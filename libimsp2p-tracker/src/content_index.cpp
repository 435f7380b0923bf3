#include <imsp2p/tracker/content_index.hpp>

#include <imsp2p/tracker/error.hpp>

#include <imsp2p/core/database.hpp>

#include <nlohmann/json.hpp>

#include <algorithm>
#include <cctype>
#include <mutex>
#include <utility>

namespace imsp2p::tracker {

namespace {

using json = nlohmann::json;

const core::migration migrations[] = {
    {1, "content index entries",
     "CREATE TABLE index_entries ("
     " doi_key TEXT PRIMARY KEY,"
     " doi TEXT NOT NULL,"
     " record TEXT NOT NULL,"
     " title_folded TEXT NOT NULL,"
     " genre_folded TEXT,"
     " series_folded TEXT,"
     " torrent BLOB NOT NULL,"
     " purchase_uri TEXT NOT NULL,"
     " state TEXT NOT NULL CHECK (state IN ('listed', 'withdrawn')),"
     " created_at INTEGER NOT NULL,"
     " updated_at INTEGER NOT NULL);"
     "CREATE INDEX index_entries_order ON index_entries (created_at DESC, title_folded);"},
};

std::string fold(std::string_view text) {
    std::string out(text);
    std::transform(out.begin(), out.end(), out.begin(),
                   [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
    return out;
}

std::int64_t seconds_of(std::chrono::system_clock::time_point time) {
    return std::chrono::duration_cast<std::chrono::seconds>(time.time_since_epoch()).count();
}

std::string_view trim(std::string_view text) {
    while (!text.empty() && std::isspace(static_cast<unsigned char>(text.front())) != 0) {
        text.remove_prefix(1);
    }
    while (!text.empty() && std::isspace(static_cast<unsigned char>(text.back())) != 0) {
        text.remove_suffix(1);
    }
    return text;
}

constexpr std::string_view columns = "record, purchase_uri, state, updated_at";
constexpr std::string_view columns_with_torrent =
    "record, purchase_uri, state, updated_at, torrent";

}  // namespace

std::string_view to_string(index_entry_state state) noexcept {
    return state == index_entry_state::withdrawn ? "withdrawn" : "listed";
}

struct content_index::impl {
    std::filesystem::path path;
    mutable std::mutex mutex;
    mutable core::database db;

    bool read_row(const core::statement& row, bool with_torrent, index_entry& out,
                  std::error_code& ec) const {
        const json record = json::parse(row.column_text(0), nullptr, false);
        std::error_code error;
        out.record = core::content_record::from_json(record, error);
        if (error) {
            ec = errc::storage_failure;
            return false;
        }
        out.purchase_uri = row.column_text(1);
        out.state = row.column_text(2) == "withdrawn" ? index_entry_state::withdrawn
                                                      : index_entry_state::listed;
        out.updated_at =
            std::chrono::system_clock::time_point(std::chrono::seconds(row.column_int64(3)));
        if (with_torrent) {
            out.torrent = row.column_blob(4);
        }
        return true;
    }
};

content_index::content_index(std::unique_ptr<impl> state) noexcept : impl_(std::move(state)) {}

content_index::~content_index() = default;

std::unique_ptr<content_index> content_index::open(const std::filesystem::path& file,
                                                   std::error_code& ec) {
    ec.clear();
    auto state = std::make_unique<impl>();
    state->path = file;
    std::error_code error;
    state->db = core::database::open(file, {}, error);
    if (!error) {
        core::migrate(state->db, migrations, error);
    }
    if (error) {
        ec = errc::storage_failure;
        return nullptr;
    }
    return std::unique_ptr<content_index>(new content_index(std::move(state)));
}

std::unique_ptr<content_index> content_index::open(const std::filesystem::path& file) {
    std::error_code ec;
    auto index = open(file, ec);
    if (ec) {
        throw std::system_error(ec, "cannot open the content index " + file.string());
    }
    return index;
}

const std::filesystem::path& content_index::path() const noexcept {
    return impl_->path;
}

bool content_index::put(const index_entry& entry, std::chrono::system_clock::time_point now,
                        std::error_code& ec) {
    ec.clear();
    if (entry.record.doi.empty()) {
        ec = errc::bad_admin_request;
        return false;
    }
    const std::string key = entry.record.doi.key();
    const bool withdrawn = entry.record.state == core::content_state::withdrawn;
    std::lock_guard lock(impl_->mutex);
    std::error_code error;
    core::transaction tx(impl_->db, core::transaction_mode::immediate, error);
    bool created = false;
    if (!error) {
        auto exists =
            impl_->db.prepare_cached("SELECT 1 FROM index_entries WHERE doi_key = ?", error);
        if (!error) {
            exists.bind(1, key, error);
        }
        if (!error) {
            created = exists.step(error) != core::step_result::row && !error;
            exists.reset();
        }
    }
    if (!error) {
        auto upsert = impl_->db.prepare_cached(
            "INSERT INTO index_entries (doi_key, doi, record, title_folded, genre_folded,"
            " series_folded, torrent, purchase_uri, state, created_at, updated_at)"
            " VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11)"
            " ON CONFLICT (doi_key) DO UPDATE SET doi = ?2, record = ?3, title_folded = ?4,"
            " genre_folded = ?5, series_folded = ?6, torrent = ?7, purchase_uri = ?8,"
            " state = ?9, created_at = ?10, updated_at = ?11",
            error);
        const std::optional<std::string> genre =
            entry.record.genre ? std::optional(fold(*entry.record.genre)) : std::nullopt;
        const std::optional<std::string> series =
            entry.record.series ? std::optional(fold(*entry.record.series)) : std::nullopt;
        if (!error) {
            upsert.bind(1, key, error);
        }
        if (!error) {
            upsert.bind(2, entry.record.doi.str(), error);
        }
        if (!error) {
            upsert.bind(3, entry.record.to_json().dump(), error);
        }
        if (!error) {
            upsert.bind(4, fold(entry.record.title), error);
        }
        if (!error) {
            upsert.bind(5, genre, error);
        }
        if (!error) {
            upsert.bind(6, series, error);
        }
        if (!error) {
            upsert.bind_blob(7, entry.torrent, error);
        }
        if (!error) {
            upsert.bind(8, entry.purchase_uri, error);
        }
        if (!error) {
            upsert.bind(9,
                        std::string(to_string(withdrawn ? index_entry_state::withdrawn
                                                        : index_entry_state::listed)),
                        error);
        }
        if (!error) {
            upsert.bind(10, seconds_of(entry.record.created_at), error);
        }
        if (!error) {
            upsert.bind(11, seconds_of(now), error);
        }
        if (!error) {
            upsert.run(error);
        }
        upsert.reset();
    }
    if (!error) {
        tx.commit(error);
    }
    if (error) {
        ec = errc::storage_failure;
        return false;
    }
    return created;
}

std::optional<index_entry> content_index::withdraw(const core::doi& doi,
                                                   std::chrono::system_clock::time_point now,
                                                   std::error_code& ec) {
    ec.clear();
    std::lock_guard lock(impl_->mutex);
    std::error_code error;
    auto update = impl_->db.prepare_cached(
        "UPDATE index_entries SET state = 'withdrawn', updated_at = ?2,"
        " record = json_set(record, '$.state', 'withdrawn')"
        " WHERE doi_key = ?1 AND state <> 'withdrawn'",
        error);
    if (!error) {
        update.bind(1, doi.key(), error);
    }
    if (!error) {
        update.bind(2, seconds_of(now), error);
    }
    if (!error) {
        update.run(error);
    }
    update.reset();
    if (error) {
        ec = errc::storage_failure;
        return std::nullopt;
    }
    auto select = impl_->db.prepare_cached(
        "SELECT " + std::string(columns) + " FROM index_entries WHERE doi_key = ?", error);
    if (!error) {
        select.bind(1, doi.key(), error);
    }
    std::optional<index_entry> out;
    if (!error && select.step(error) == core::step_result::row) {
        index_entry entry;
        if (impl_->read_row(select, false, entry, ec)) {
            out = std::move(entry);
        }
    }
    select.reset();
    if (error) {
        ec = errc::storage_failure;
        return std::nullopt;
    }
    if (!out && !ec) {
        ec = errc::unknown_content;
    }
    return out;
}

std::optional<index_entry> content_index::find(const core::doi& doi, bool with_torrent,
                                               std::error_code& ec) const {
    ec.clear();
    std::lock_guard lock(impl_->mutex);
    std::error_code error;
    auto select = impl_->db.prepare_cached(
        "SELECT " + std::string(with_torrent ? columns_with_torrent : columns) +
            " FROM index_entries WHERE doi_key = ?",
        error);
    if (!error) {
        select.bind(1, doi.key(), error);
    }
    std::optional<index_entry> out;
    if (!error && select.step(error) == core::step_result::row) {
        index_entry entry;
        if (impl_->read_row(select, with_torrent, entry, ec)) {
            out = std::move(entry);
        }
    }
    select.reset();
    if (error) {
        ec = errc::storage_failure;
        return std::nullopt;
    }
    return out;
}

std::vector<index_entry> content_index::search(const index_query& query,
                                               std::error_code& ec) const {
    ec.clear();
    const std::string_view text = trim(query.text);
    std::string doi_key;
    if (!text.empty()) {
        std::error_code doi_error;
        const core::doi parsed = core::doi::parse(text, doi_error);
        if (!doi_error) {
            doi_key = parsed.key();
        }
    }
    std::string sql = "SELECT " +
                      std::string(query.with_torrents ? columns_with_torrent : columns) +
                      " FROM index_entries WHERE 1";
    if (!query.include_withdrawn) {
        sql += " AND state = 'listed'";
    }
    if (!text.empty()) {
        sql += " AND (instr(title_folded, :text) > 0 OR doi_key = :doi)";
    }
    if (query.genre) {
        sql += " AND genre_folded = :genre";
    }
    if (query.series) {
        sql += " AND series_folded = :series";
    }
    sql += " ORDER BY created_at DESC, title_folded, doi_key";
    if (query.limit != 0) {
        sql += " LIMIT " + std::to_string(query.limit);
    }
    std::vector<index_entry> out;
    std::lock_guard lock(impl_->mutex);
    std::error_code error;
    auto select = impl_->db.prepare(sql, error);
    if (!error && !text.empty()) {
        select.bind(":text", fold(text), error);
        if (!error) {
            select.bind(":doi", doi_key, error);
        }
    }
    if (!error && query.genre) {
        select.bind(":genre", fold(*query.genre), error);
    }
    if (!error && query.series) {
        select.bind(":series", fold(*query.series), error);
    }
    while (!error && select.step(error) == core::step_result::row) {
        index_entry entry;
        if (!impl_->read_row(select, query.with_torrents, entry, ec)) {
            return {};
        }
        out.push_back(std::move(entry));
    }
    if (error) {
        ec = errc::storage_failure;
        return {};
    }
    return out;
}

index_counts content_index::counts(std::error_code& ec) const {
    ec.clear();
    index_counts out;
    std::lock_guard lock(impl_->mutex);
    std::error_code error;
    auto select =
        impl_->db.prepare_cached("SELECT state, count(*) FROM index_entries GROUP BY state", error);
    while (!error && select.step(error) == core::step_result::row) {
        const auto count = static_cast<std::uint64_t>(select.column_int64(1));
        if (select.column_text(0) == "withdrawn") {
            out.withdrawn = count;
        } else {
            out.listed = count;
        }
    }
    select.reset();
    if (error) {
        ec = errc::storage_failure;
        return {};
    }
    return out;
}

}  // namespace imsp2p::tracker
