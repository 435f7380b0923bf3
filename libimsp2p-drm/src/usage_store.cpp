#include <imsp2p/drm/usage_store.hpp>

#include <imsp2p/core/database.hpp>
#include <imsp2p/core/doi.hpp>
#include <imsp2p/core/error.hpp>
#include <imsp2p/drm/error.hpp>

#include <algorithm>
#include <array>
#include <utility>

namespace imsp2p::drm {
namespace {

using std::chrono::sys_seconds;
using std::chrono::system_clock;

const std::array<core::migration, 1> migrations{{
    {1, "usage records and clock high-water mark",
     "CREATE TABLE usage_record ("
     "  doi_key TEXT NOT NULL,"
     "  device_jkt TEXT NOT NULL,"
     "  doi TEXT NOT NULL,"
     "  first_use INTEGER,"
     "  last_use INTEGER,"
     "  play_count INTEGER NOT NULL DEFAULT 0 CHECK (play_count >= 0),"
     "  revoked_at INTEGER,"
     "  PRIMARY KEY (doi_key, device_jkt)) WITHOUT ROWID;"
     "CREATE TABLE clock ("
     "  id INTEGER PRIMARY KEY CHECK (id = 1),"
     "  latest INTEGER NOT NULL);"},
}};

/** Reads a DOI in canonical or any accepted form. */
bool normalize_doi(std::string_view text, core::doi& out) {
    std::error_code ec;
    out = core::doi::parse_canonical(text, ec);
    if (!ec)
        return true;
    out = core::doi::parse(text, ec);
    return !ec;
}

sys_seconds to_seconds(system_clock::time_point now) {
    return std::chrono::time_point_cast<std::chrono::seconds>(now);
}

std::optional<sys_seconds> optional_time(const core::statement& statement, int column) {
    if (statement.is_null(column))
        return std::nullopt;
    return sys_seconds(std::chrono::seconds(statement.column_int64(column)));
}

std::optional<std::int64_t> to_count(const std::optional<sys_seconds>& time) {
    if (!time)
        return std::nullopt;
    return time->time_since_epoch().count();
}

}  // namespace

struct usage_store::impl {
    core::database db;
    usage_store_options options;

    std::optional<sys_seconds> read_latest(std::error_code& ec) {
        core::statement statement = db.prepare_cached("SELECT latest FROM clock WHERE id = 1", ec);
        if (ec)
            return std::nullopt;
        if (statement.step(ec) != core::step_result::row)
            return std::nullopt;
        return sys_seconds(std::chrono::seconds(statement.column_int64(0)));
    }

    std::optional<usage_record> read(const core::doi& doi, std::string_view device,
                                     std::error_code& ec) {
        core::statement statement = db.prepare_cached(
            "SELECT doi, first_use, last_use, play_count, revoked_at FROM usage_record "
            "WHERE doi_key = ?1 AND device_jkt = ?2",
            ec);
        if (ec)
            return std::nullopt;
        statement.bind(1, doi.key(), ec);
        if (!ec)
            statement.bind(2, device, ec);
        if (ec || statement.step(ec) != core::step_result::row)
            return std::nullopt;
        usage_record record;
        record.doi = statement.column_text(0);
        record.device_thumbprint = std::string(device);
        record.first_use = optional_time(statement, 1);
        record.last_use = optional_time(statement, 2);
        record.play_count = static_cast<std::uint32_t>(
            std::clamp<std::int64_t>(statement.column_int64(3), 0, rights_max_count));
        record.revoked_at = optional_time(statement, 4);
        return record;
    }

    void write(const core::doi& doi, const usage_record& record, std::error_code& ec) {
        core::statement statement = db.prepare_cached(
            "INSERT INTO usage_record (doi_key, device_jkt, doi, first_use, last_use, play_count, "
            "revoked_at) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7) "
            "ON CONFLICT (doi_key, device_jkt) DO UPDATE SET first_use = excluded.first_use, "
            "last_use = excluded.last_use, play_count = excluded.play_count, "
            "revoked_at = excluded.revoked_at",
            ec);
        if (ec)
            return;
        statement.bind(1, doi.key(), ec);
        if (!ec)
            statement.bind(2, record.device_thumbprint, ec);
        if (!ec)
            statement.bind(3, record.doi, ec);
        if (!ec)
            statement.bind(4, to_count(record.first_use), ec);
        if (!ec)
            statement.bind(5, to_count(record.last_use), ec);
        if (!ec)
            statement.bind(6, record.play_count, ec);
        if (!ec)
            statement.bind(7, to_count(record.revoked_at), ec);
        if (!ec)
            statement.run(ec);
    }

    void write_latest(sys_seconds latest, std::error_code& ec) {
        core::statement statement = db.prepare_cached(
            "INSERT INTO clock (id, latest) VALUES (1, ?1) "
            "ON CONFLICT (id) DO UPDATE SET latest = max(latest, excluded.latest)",
            ec);
        if (!ec)
            statement.bind(1, latest.time_since_epoch().count(), ec);
        if (!ec)
            statement.run(ec);
    }
};

usage_store::usage_store() noexcept = default;
usage_store::usage_store(usage_store&& other) noexcept = default;
usage_store& usage_store::operator=(usage_store&& other) noexcept = default;
usage_store::~usage_store() = default;

usage_store usage_store::open(const std::filesystem::path& path, const usage_store_options& options,
                              std::error_code& ec) {
    ec.clear();
    usage_store store;
    if (path.has_parent_path()) {
        std::error_code fs_ec;
        std::filesystem::create_directories(path.parent_path(), fs_ec);
        if (fs_ec) {
            ec = core::errc::io_error;
            return store;
        }
    }
    auto state = std::make_unique<impl>();
    state->options = options;
    state->db = core::database::open(path, {}, ec);
    if (ec)
        return store;
    // What a user played is private: owner-only, like the device key (SQLite gives its WAL
    // and shared-memory files the permissions of the database file).
    std::error_code permissions_ec;
    std::filesystem::permissions(
        path, std::filesystem::perms::owner_read | std::filesystem::perms::owner_write,
        std::filesystem::perm_options::replace, permissions_ec);
    core::migrate(state->db, migrations, ec);
    if (ec)
        return store;
    store.impl_ = std::move(state);
    return store;
}

usage_store usage_store::open(const std::filesystem::path& path,
                              const usage_store_options& options) {
    std::error_code ec;
    usage_store store = open(path, options, ec);
    if (ec)
        throw std::system_error(ec, "usage store " + path.string());
    return store;
}

bool usage_store::is_open() const noexcept {
    return impl_ != nullptr && impl_->db.is_open();
}

usage_record usage_store::begin_play(std::string_view doi_text, std::string_view device_thumbprint,
                                     const rights& rights, system_clock::time_point now,
                                     std::error_code& ec,
                                     std::optional<sys_seconds> license_issued_at) {
    ec.clear();
    core::doi doi;
    if (!is_open() || device_thumbprint.empty() || !normalize_doi(doi_text, doi)) {
        ec = core::errc::invalid_argument;
        return {};
    }
    core::transaction transaction(impl_->db, core::transaction_mode::immediate, ec);
    if (ec)
        return {};
    const sys_seconds requested = to_seconds(now);
    const std::optional<sys_seconds> latest = impl_->read_latest(ec);
    if (ec)
        return {};
    if (latest && requested + impl_->options.clock_tolerance < *latest) {
        ec = errc::clock_rollback;
        return {};
    }
    const sys_seconds t = latest ? std::max(requested, *latest) : requested;
    std::optional<usage_record> found = impl_->read(doi, device_thumbprint, ec);
    if (ec)
        return {};
    usage_record record;
    if (found) {
        record = std::move(*found);
    } else {
        record.doi = doi.str();
        record.device_thumbprint = std::string(device_thumbprint);
    }
    if (record.revoked_at) {
        if (license_issued_at && *license_issued_at > *record.revoked_at) {
            record.revoked_at.reset();
        } else {
            ec = errc::grant_revoked;
            return {};
        }
    }
    if (rights.not_before && t < *rights.not_before) {
        ec = errc::rights_not_yet_valid;
        return {};
    }
    if (rights.not_after && t > *rights.not_after) {
        ec = errc::rights_expired;
        return {};
    }
    if (rights.window_after_first_use && record.first_use &&
        t >= *record.first_use + *rights.window_after_first_use) {
        ec = errc::rights_window_elapsed;
        return {};
    }
    if (rights.play_count && record.play_count >= *rights.play_count) {
        ec = errc::rights_exhausted;
        return {};
    }
    if (!record.first_use)
        record.first_use = t;
    record.last_use = t;
    if (record.play_count < rights_max_count)
        ++record.play_count;
    impl_->write(doi, record, ec);
    if (!ec)
        impl_->write_latest(t, ec);
    if (!ec)
        transaction.commit(ec);
    if (ec)
        return {};
    return record;
}

usage_record usage_store::begin_play(const license_claims& claims, system_clock::time_point now,
                                     std::error_code& ec) {
    return begin_play(claims.doi, claims.device_thumbprint, claims.rights, now, ec,
                      claims.issued_at);
}

void usage_store::mark_revoked(std::string_view doi_text, std::string_view device_thumbprint,
                               system_clock::time_point now, std::error_code& ec) {
    ec.clear();
    core::doi doi;
    if (!is_open() || device_thumbprint.empty() || !normalize_doi(doi_text, doi)) {
        ec = core::errc::invalid_argument;
        return;
    }
    core::transaction transaction(impl_->db, core::transaction_mode::immediate, ec);
    if (ec)
        return;
    std::optional<usage_record> found = impl_->read(doi, device_thumbprint, ec);
    if (ec)
        return;
    usage_record record;
    if (found) {
        record = std::move(*found);
    } else {
        record.doi = doi.str();
        record.device_thumbprint = std::string(device_thumbprint);
    }
    const sys_seconds t = to_seconds(now);
    if (!record.revoked_at || *record.revoked_at < t)
        record.revoked_at = t;
    impl_->write(doi, record, ec);
    if (!ec)
        transaction.commit(ec);
}

std::optional<usage_record> usage_store::find(std::string_view doi_text,
                                              std::string_view device_thumbprint,
                                              std::error_code& ec) {
    ec.clear();
    core::doi doi;
    if (!is_open() || !normalize_doi(doi_text, doi)) {
        ec = core::errc::invalid_argument;
        return std::nullopt;
    }
    return impl_->read(doi, device_thumbprint, ec);
}

std::optional<sys_seconds> usage_store::latest_use(std::error_code& ec) {
    ec.clear();
    if (!is_open()) {
        ec = core::errc::invalid_argument;
        return std::nullopt;
    }
    return impl_->read_latest(ec);
}

}  // namespace imsp2p::drm
