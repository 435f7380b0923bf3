#include <imsp2p/drm/key_store.hpp>

#include <imsp2p/core/doi.hpp>
#include <imsp2p/core/encoding.hpp>
#include <imsp2p/core/error.hpp>
#include <imsp2p/core/identity.hpp>
#include <imsp2p/core/key_file.hpp>
#include <imsp2p/drm/error.hpp>

#include <algorithm>
#include <mutex>
#include <utility>

namespace imsp2p::drm {

namespace {

const core::migration schema[] = {
    {1, "contents and grants",
     R"sql(
CREATE TABLE contents (
    doi_key    TEXT PRIMARY KEY,
    doi        TEXT NOT NULL,
    kid        TEXT NOT NULL,
    sealed_cek BLOB NOT NULL,
    metadata   TEXT NOT NULL,
    state      TEXT NOT NULL CHECK (state IN ('active', 'withdrawn')),
    created    INTEGER NOT NULL
);
CREATE TABLE grants (
    grant_id          TEXT PRIMARY KEY,
    request_id        TEXT NOT NULL UNIQUE,
    user              TEXT NOT NULL,
    user_key          TEXT NOT NULL,
    doi_key           TEXT NOT NULL REFERENCES contents (doi_key),
    device_thumbprint TEXT NOT NULL,
    device_key        TEXT NOT NULL,
    rights            TEXT NOT NULL,
    created           INTEGER NOT NULL,
    revoked_at        INTEGER
);
CREATE INDEX grants_by_holder ON grants (user_key, doi_key, device_thumbprint);
CREATE INDEX grants_by_doi ON grants (doi_key, created);
)sql"},
};

constexpr std::string_view grant_columns =
    "g.grant_id, g.request_id, g.user, c.doi, g.device_thumbprint, g.device_key, g.rights, "
    "g.created, g.revoked_at FROM grants g JOIN contents c ON c.doi_key = g.doi_key";

std::int64_t seconds_of(std::chrono::sys_seconds time) {
    return time.time_since_epoch().count();
}

std::chrono::sys_seconds time_of(std::int64_t seconds) {
    return std::chrono::sys_seconds(std::chrono::seconds(seconds));
}

// The DOI as a database key (case-insensitive), or throws invalid_argument.
core::doi parse_doi(std::string_view text) {
    std::error_code ec;
    core::doi parsed = core::doi::parse(text, ec);
    if (ec) {
        throw std::system_error(core::errc::invalid_argument, "malformed DOI");
    }
    return parsed;
}

// The canonical IMPU used to compare users; the text itself when it is not an IMPU.
std::string user_key(std::string_view user) {
    std::error_code ec;
    const core::impu parsed = core::impu::parse(user, ec);
    return ec ? std::string(user) : parsed.canonical();
}

std::string aad_of(const std::string& doi_key, const std::string& kid_hex) {
    std::string aad = "imsp2p-drm sealed cek v1";
    aad.push_back('\0');
    aad += doi_key;
    aad.push_back('\0');
    aad += kid_hex;
    return aad;
}

content_record read_content(const core::statement& row) {
    content_record record;
    record.doi = row.column_text(0);
    std::error_code ec;
    const auto kid = core::from_hex(row.column_text(1), ec);
    if (!ec && kid.size() == record.kid.size()) {
        std::copy(kid.begin(), kid.end(), record.kid.begin());
    }
    record.metadata = nlohmann::json::parse(row.column_text(2), nullptr, false);
    if (!record.metadata.is_object()) {
        record.metadata = nlohmann::json::object();
    }
    record.state = parse_content_state(row.column_text(3)).value_or(content_state::withdrawn);
    record.created = time_of(row.column_int64(4));
    return record;
}

grant_record read_grant(const core::statement& row) {
    grant_record grant;
    grant.grant_id = row.column_text(0);
    grant.request_id = row.column_text(1);
    grant.user = row.column_text(2);
    grant.doi = row.column_text(3);
    grant.device_thumbprint = row.column_text(4);
    grant.device_key = nlohmann::json::parse(row.column_text(5), nullptr, false);
    std::error_code ec;
    grant.rights =
        drm::rights::from_json(nlohmann::json::parse(row.column_text(6), nullptr, false), ec);
    grant.created = time_of(row.column_int64(7));
    if (!row.is_null(8)) {
        grant.revoked_at = time_of(row.column_int64(8));
    }
    return grant;
}

template <class Function>
auto guarded(std::error_code& ec, Function&& function) -> decltype(function()) {
    ec.clear();
    try {
        return function();
    } catch (const std::system_error& error) {
        ec = error.code();
    } catch (const std::bad_alloc&) {
        ec = std::make_error_code(std::errc::not_enough_memory);
    } catch (const std::exception&) {
        ec = core::errc::invalid_argument;
    }
    return {};
}

}  // namespace

std::string_view to_string(content_state state) noexcept {
    return state == content_state::active ? "active" : "withdrawn";
}

std::optional<content_state> parse_content_state(std::string_view text) noexcept {
    if (text == "active") {
        return content_state::active;
    }
    if (text == "withdrawn") {
        return content_state::withdrawn;
    }
    return std::nullopt;
}

struct key_store::impl {
    mutable std::mutex mutex;
    mutable core::database db;
    core::secret_bytes master_key;
    std::filesystem::path path;

    std::optional<content_record> find_content(const core::doi& doi) const {
        auto query = db.prepare_cached(
            "SELECT doi, kid, metadata, state, created FROM contents WHERE doi_key = ?1");
        query.bind(1, doi.key());
        if (query.step() != core::step_result::row) {
            return std::nullopt;
        }
        return read_content(query);
    }

    core::secret_bytes unseal(const core::doi& doi, std::error_code& ec) const {
        auto query = db.prepare_cached("SELECT kid, sealed_cek FROM contents WHERE doi_key = ?1");
        query.bind(1, doi.key());
        if (query.step() != core::step_result::row) {
            ec = errc::unknown_content;
            return {};
        }
        const std::string kid_hex = query.column_text(0);
        const core::byte_vector sealed = query.column_blob(1);
        if (sealed.size() < core::aes_gcm_nonce_size + core::aes_gcm_tag_size) {
            ec = core::errc::authentication_failed;
            return {};
        }
        const std::string aad = aad_of(doi.key(), kid_hex);
        const core::byte_view all(sealed);
        return core::aes256gcm_open(master_key, all.first(core::aes_gcm_nonce_size),
                                    core::as_bytes(aad), all.subspan(core::aes_gcm_nonce_size), ec);
    }

    std::optional<grant_record> find_grant(std::string_view grant_id) const {
        auto query =
            db.prepare_cached("SELECT " + std::string(grant_columns) + " WHERE g.grant_id = ?1");
        query.bind(1, grant_id);
        if (query.step() != core::step_result::row) {
            return std::nullopt;
        }
        return read_grant(query);
    }
};

key_store::key_store(std::unique_ptr<impl> state) : impl_(std::move(state)) {}

key_store::~key_store() = default;

std::unique_ptr<key_store> key_store::open(const key_store_settings& settings,
                                           std::error_code& ec) {
    ec.clear();
    auto state = std::make_unique<impl>();
    state->path = settings.database_path;
    state->master_key = core::read_secret_file(settings.master_key_path, ec);
    if (ec == core::errc::not_found) {
        core::secret_bytes fresh(core::aes256_key_size);
        core::random_bytes(fresh.mutable_view(), ec);
        if (!ec) {
            core::write_secret_file(settings.master_key_path, fresh, ec);
        }
        if (!ec) {
            state->master_key = core::read_secret_file(settings.master_key_path, ec);
        }
    }
    if (ec) {
        return nullptr;
    }
    if (state->master_key.size() != core::aes256_key_size) {
        ec = core::errc::io_error;
        return nullptr;
    }
    if (settings.database_path.has_parent_path()) {
        std::error_code ignored;
        std::filesystem::create_directories(settings.database_path.parent_path(), ignored);
    }
    state->db = core::database::open(settings.database_path, {}, ec);
    if (ec) {
        return nullptr;
    }
    core::migrate(state->db, schema, ec);
    if (ec) {
        return nullptr;
    }
    return std::unique_ptr<key_store>(new key_store(std::move(state)));
}

std::unique_ptr<key_store> key_store::open(const key_store_settings& settings) {
    std::error_code ec;
    auto store = open(settings, ec);
    if (ec) {
        throw std::system_error(ec, "cannot open the DRM key store " +
                                        settings.database_path.string() + " (master key " +
                                        settings.master_key_path.string() + ")");
    }
    return store;
}

bool key_store::put_content(std::string_view doi_text, const content_kid& kid,
                            const core::secret_bytes& cek, const nlohmann::json& metadata,
                            std::chrono::sys_seconds now, std::error_code& ec) {
    return guarded(ec, [&]() -> bool {
        const core::doi doi = parse_doi(doi_text);
        if (cek.size() != core::aes256_key_size) {
            throw std::system_error(core::errc::bad_key_size, "the CEK must be 32 bytes");
        }
        const std::string kid_hex = core::to_hex(kid);
        std::lock_guard lock(impl_->mutex);
        core::transaction transaction(impl_->db);
        if (const auto existing = impl_->find_content(doi)) {
            if (existing->kid != kid) {
                throw std::system_error(errc::content_conflict);
            }
            std::error_code unseal_error;
            const core::secret_bytes stored = impl_->unseal(doi, unseal_error);
            if (unseal_error) {
                throw std::system_error(unseal_error);
            }
            if (!(stored == cek)) {
                throw std::system_error(errc::content_conflict);
            }
            return false;
        }
        core::byte_vector sealed = core::random_bytes(core::aes_gcm_nonce_size);
        const core::byte_vector box = core::aes256gcm_seal(
            impl_->master_key, sealed, core::as_bytes(aad_of(doi.key(), kid_hex)), cek);
        sealed.insert(sealed.end(), box.begin(), box.end());
        auto insert = impl_->db.prepare_cached(
            "INSERT INTO contents (doi_key, doi, kid, sealed_cek, metadata, state, created) "
            "VALUES (?1, ?2, ?3, ?4, ?5, 'active', ?6)");
        insert.bind(1, doi.key());
        insert.bind(2, doi.str());
        insert.bind(3, kid_hex);
        insert.bind(4, sealed);
        insert.bind(5, metadata.is_object() ? metadata.dump() : std::string("{}"));
        insert.bind(6, seconds_of(now));
        insert.run();
        transaction.commit();
        return true;
    });
}

std::optional<content_record> key_store::find_content(std::string_view doi,
                                                      std::error_code& ec) const {
    return guarded(ec, [&]() -> std::optional<content_record> {
        const core::doi parsed = parse_doi(doi);
        std::lock_guard lock(impl_->mutex);
        return impl_->find_content(parsed);
    });
}

core::secret_bytes key_store::content_key(std::string_view doi, std::error_code& ec) const {
    return guarded(ec, [&]() -> core::secret_bytes {
        const core::doi parsed = parse_doi(doi);
        std::lock_guard lock(impl_->mutex);
        std::error_code error;
        core::secret_bytes cek = impl_->unseal(parsed, error);
        if (error) {
            throw std::system_error(error);
        }
        return cek;
    });
}

std::optional<content_record> key_store::set_content_state(std::string_view doi,
                                                           content_state state,
                                                           std::error_code& ec) {
    return guarded(ec, [&]() -> std::optional<content_record> {
        const core::doi parsed = parse_doi(doi);
        std::lock_guard lock(impl_->mutex);
        core::transaction transaction(impl_->db);
        auto update = impl_->db.prepare_cached("UPDATE contents SET state = ?1 WHERE doi_key = ?2");
        update.bind(1, to_string(state));
        update.bind(2, parsed.key());
        update.run();
        if (impl_->db.changes() == 0) {
            throw std::system_error(errc::unknown_content);
        }
        transaction.commit();
        return impl_->find_content(parsed);
    });
}

std::optional<grant_record> key_store::put_grant(const grant_record& grant,
                                                 std::chrono::sys_seconds now, bool& created,
                                                 std::error_code& ec) {
    created = false;
    return guarded(ec, [&]() -> std::optional<grant_record> {
        const core::doi doi = parse_doi(grant.doi);
        const std::string user = user_key(grant.user);
        const std::string rights_text = grant.rights.to_json().dump();
        std::lock_guard lock(impl_->mutex);
        core::transaction transaction(impl_->db);
        {
            auto query = impl_->db.prepare_cached(
                "SELECT grant_id, user_key, doi_key, device_thumbprint, rights FROM grants "
                "WHERE request_id = ?1");
            query.bind(1, grant.request_id);
            if (query.step() == core::step_result::row) {
                const std::string grant_id = query.column_text(0);
                if (query.column_text(1) != user || query.column_text(2) != doi.key() ||
                    query.column_text(3) != grant.device_thumbprint ||
                    query.column_text(4) != rights_text) {
                    throw std::system_error(errc::grant_conflict);
                }
                query.reset();
                return impl_->find_grant(grant_id);
            }
        }
        if (!impl_->find_content(doi)) {
            throw std::system_error(errc::unknown_content);
        }
        const std::string grant_id = core::base64url_encode(core::random_bytes(16));
        auto insert = impl_->db.prepare_cached(
            "INSERT INTO grants (grant_id, request_id, user, user_key, doi_key, device_thumbprint,"
            " device_key, rights, created) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)");
        insert.bind(1, grant_id);
        insert.bind(2, grant.request_id);
        insert.bind(3, grant.user);
        insert.bind(4, user);
        insert.bind(5, doi.key());
        insert.bind(6, grant.device_thumbprint);
        insert.bind(7, grant.device_key.dump());
        insert.bind(8, rights_text);
        insert.bind(9, seconds_of(now));
        insert.run();
        transaction.commit();
        created = true;
        return impl_->find_grant(grant_id);
    });
}

std::optional<grant_record> key_store::find_grant(std::string_view grant_id,
                                                  std::error_code& ec) const {
    return guarded(ec, [&]() -> std::optional<grant_record> {
        std::lock_guard lock(impl_->mutex);
        return impl_->find_grant(grant_id);
    });
}

std::vector<grant_record> key_store::find_grants(std::string_view user, std::string_view doi,
                                                 std::string_view device_thumbprint,
                                                 std::error_code& ec) const {
    return guarded(ec, [&]() -> std::vector<grant_record> {
        std::error_code doi_error;
        const core::doi parsed = core::doi::parse(doi, doi_error);
        if (doi_error) {
            return {};
        }
        std::lock_guard lock(impl_->mutex);
        auto query = impl_->db.prepare_cached(
            "SELECT " + std::string(grant_columns) +
            " WHERE g.user_key = ?1 AND g.doi_key = ?2 AND g.device_thumbprint = ?3"
            " ORDER BY g.created DESC, g.rowid DESC");
        query.bind(1, user_key(user));
        query.bind(2, parsed.key());
        query.bind(3, device_thumbprint);
        std::vector<grant_record> grants;
        while (query.step() == core::step_result::row) {
            grants.push_back(read_grant(query));
        }
        return grants;
    });
}

std::optional<grant_record> key_store::find_grant_by_request(std::string_view request_id,
                                                             std::string_view user,
                                                             std::string_view doi,
                                                             std::string_view device_thumbprint,
                                                             std::error_code& ec) const {
    return guarded(ec, [&]() -> std::optional<grant_record> {
        std::error_code doi_error;
        const core::doi parsed = core::doi::parse(doi, doi_error);
        if (doi_error) {
            return std::nullopt;
        }
        std::lock_guard lock(impl_->mutex);
        auto query = impl_->db.prepare_cached(
            "SELECT " + std::string(grant_columns) +
            " WHERE g.request_id = ?1 AND g.user_key = ?2 AND g.doi_key = ?3"
            " AND g.device_thumbprint = ?4");
        query.bind(1, request_id);
        query.bind(2, user_key(user));
        query.bind(3, parsed.key());
        query.bind(4, device_thumbprint);
        if (query.step() != core::step_result::row) {
            return std::nullopt;
        }
        return read_grant(query);
    });
}

bool key_store::has_live_grant(std::string_view user, std::string_view doi,
                               std::string_view device_thumbprint, std::error_code& ec) const {
    return guarded(ec, [&]() -> bool {
        std::error_code doi_error;
        const core::doi parsed = core::doi::parse(doi, doi_error);
        if (doi_error) {
            return false;
        }
        std::lock_guard lock(impl_->mutex);
        auto query = impl_->db.prepare_cached(
            "SELECT EXISTS (SELECT 1 FROM grants WHERE user_key = ?1 AND doi_key = ?2"
            " AND device_thumbprint = ?3 AND revoked_at IS NULL)");
        query.bind(1, user_key(user));
        query.bind(2, parsed.key());
        query.bind(3, device_thumbprint);
        query.step();
        return query.column_int64(0) != 0;
    });
}

std::uint64_t key_store::count_devices(std::string_view user, std::string_view doi,
                                       std::error_code& ec) const {
    return guarded(ec, [&]() -> std::uint64_t {
        const core::doi parsed = parse_doi(doi);
        std::lock_guard lock(impl_->mutex);
        auto query = impl_->db.prepare_cached(
            "SELECT COUNT(DISTINCT device_thumbprint) FROM grants"
            " WHERE user_key = ?1 AND doi_key = ?2 AND revoked_at IS NULL");
        query.bind(1, user_key(user));
        query.bind(2, parsed.key());
        query.step();
        return static_cast<std::uint64_t>(query.column_int64(0));
    });
}

std::optional<grant_record> key_store::revoke_grant(std::string_view grant_id,
                                                    std::chrono::sys_seconds now,
                                                    std::error_code& ec) {
    return guarded(ec, [&]() -> std::optional<grant_record> {
        std::lock_guard lock(impl_->mutex);
        core::transaction transaction(impl_->db);
        auto update = impl_->db.prepare_cached(
            "UPDATE grants SET revoked_at = COALESCE(revoked_at, ?1) WHERE grant_id = ?2");
        update.bind(1, seconds_of(now));
        update.bind(2, grant_id);
        update.run();
        if (impl_->db.changes() == 0) {
            throw std::system_error(errc::unknown_grant);
        }
        transaction.commit();
        return impl_->find_grant(grant_id);
    });
}

std::vector<grant_record> key_store::list_grants(std::string_view doi, std::error_code& ec) const {
    return guarded(ec, [&]() -> std::vector<grant_record> {
        const core::doi parsed = parse_doi(doi);
        std::lock_guard lock(impl_->mutex);
        if (!impl_->find_content(parsed)) {
            throw std::system_error(errc::unknown_content);
        }
        auto query = impl_->db.prepare_cached("SELECT " + std::string(grant_columns) +
                                              " WHERE g.doi_key = ?1 ORDER BY g.created, g.rowid");
        query.bind(1, parsed.key());
        std::vector<grant_record> grants;
        while (query.step() == core::step_result::row) {
            grants.push_back(read_grant(query));
        }
        return grants;
    });
}

key_store_counts key_store::counts(std::error_code& ec) const {
    return guarded(ec, [&]() -> key_store_counts {
        std::lock_guard lock(impl_->mutex);
        key_store_counts counts;
        auto contents = impl_->db.prepare_cached(
            "SELECT COUNT(*), COALESCE(SUM(state = 'withdrawn'), 0) FROM contents");
        contents.step();
        counts.contents = static_cast<std::uint64_t>(contents.column_int64(0));
        counts.withdrawn_contents = static_cast<std::uint64_t>(contents.column_int64(1));
        auto grants = impl_->db.prepare_cached(
            "SELECT COUNT(*), COALESCE(SUM(revoked_at IS NOT NULL), 0) FROM grants");
        grants.step();
        counts.grants = static_cast<std::uint64_t>(grants.column_int64(0));
        counts.revoked_grants = static_cast<std::uint64_t>(grants.column_int64(1));
        return counts;
    });
}

const std::filesystem::path& key_store::database_path() const noexcept {
    return impl_->path;
}

}  // namespace imsp2p::drm
