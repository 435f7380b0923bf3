#include <imsp2p/core/database.hpp>

#include <imsp2p/core/error.hpp>

#include <sqlite3.h>

#include <algorithm>
#include <array>
#include <climits>
#include <list>
#include <unordered_map>
#include <utility>
#include <vector>

namespace imsp2p::core {

namespace {

std::error_code map_sqlite_result(int result) noexcept {
    switch (result & 0xff) {
        case SQLITE_BUSY:
        case SQLITE_LOCKED:
            return errc::database_busy;
        case SQLITE_CONSTRAINT:
            return errc::database_constraint;
        case SQLITE_CORRUPT:
        case SQLITE_NOTADB:
            return errc::database_corrupt;
        case SQLITE_CANTOPEN:
            return errc::database_cant_open;
        case SQLITE_RANGE:
            return errc::invalid_argument;
        default:
            return errc::database_error;
    }
}

const std::filesystem::path& empty_path() noexcept {
    static const std::filesystem::path empty;
    return empty;
}

}  // namespace

namespace detail {

/** The shared state of one SQLite connection: owned by the database and its statements. */
struct database_connection {
    sqlite3* handle = nullptr;
    std::filesystem::path path;
    bool read_only = false;
    std::string last_error;
    std::size_t cache_capacity = 0;
    // Idle cached statements, most recently returned first, indexed by SQL text.
    std::list<std::pair<std::string, sqlite3_stmt*>> cache;
    std::unordered_map<std::string, std::list<std::pair<std::string, sqlite3_stmt*>>::iterator>
        cache_index;
    unsigned savepoint_counter = 0;

    database_connection() = default;
    database_connection(const database_connection&) = delete;
    database_connection& operator=(const database_connection&) = delete;

    ~database_connection() {
        for (auto& entry : cache) {
            sqlite3_finalize(entry.second);
        }
        // close_v2 defers the close until every statement is finalised; none are left here.
        sqlite3_close_v2(handle);
    }

    /** Records SQLite's current message (prefixed by context) and maps the result code. */
    std::error_code fail(int result, std::string_view context = {}) {
        last_error.assign(context);
        if (!last_error.empty()) {
            last_error += ": ";
        }
        const char* message = handle != nullptr ? sqlite3_errmsg(handle) : sqlite3_errstr(result);
        last_error += message != nullptr ? message : sqlite3_errstr(result);
        return map_sqlite_result(result);
    }

    /** Records one of our own errors. */
    std::error_code fail_with(errc code, std::string message) {
        last_error = std::move(message);
        return code;
    }

    /** Runs a script; see database::execute(). */
    void execute(std::string_view sql, std::error_code& ec) noexcept {
        ec.clear();
        if (sql.size() > static_cast<std::size_t>(INT_MAX)) {
            ec = fail_with(errc::invalid_argument, "SQL text too long");
            return;
        }
        const char* cursor = sql.data();
        const char* const end = sql.data() + sql.size();
        while (cursor != nullptr && cursor < end) {
            sqlite3_stmt* stmt = nullptr;
            const char* next = nullptr;
            int result =
                sqlite3_prepare_v2(handle, cursor, static_cast<int>(end - cursor), &stmt, &next);
            if (result != SQLITE_OK) {
                ec = fail(result);
                return;
            }
            if (stmt == nullptr) {  // only whitespace or comments were left
                break;
            }
            do {
                result = sqlite3_step(stmt);
            } while (result == SQLITE_ROW);
            if (result != SQLITE_DONE) {
                ec = fail(result);
                sqlite3_finalize(stmt);
                return;
            }
            sqlite3_finalize(stmt);
            cursor = next;
        }
    }

    /** Takes an idle statement for `sql` out of the cache, or returns nullptr. */
    sqlite3_stmt* take_cached(const std::string& sql) noexcept {
        const auto found = cache_index.find(sql);
        if (found == cache_index.end()) {
            return nullptr;
        }
        sqlite3_stmt* stmt = found->second->second;
        cache.erase(found->second);
        cache_index.erase(found);
        return stmt;
    }

    /** Returns a statement to the cache (finalising it or the least recently used one). */
    void give_back(std::string sql, sqlite3_stmt* stmt) noexcept {
        sqlite3_reset(stmt);
        sqlite3_clear_bindings(stmt);
        if (cache_capacity == 0 || cache_index.contains(sql)) {
            sqlite3_finalize(stmt);
            return;
        }
        try {
            cache.emplace_front(std::move(sql), stmt);
            try {
                cache_index.emplace(cache.front().first, cache.begin());
            } catch (...) {
                cache.pop_front();
                throw;
            }
        } catch (...) {
            sqlite3_finalize(stmt);
            return;
        }
        while (cache.size() > cache_capacity) {
            sqlite3_finalize(cache.back().second);
            cache_index.erase(cache.back().first);
            cache.pop_back();
        }
    }
};

}  // namespace detail

// --- statement ----------------------------------------------------------------------------

struct statement::state {
    std::shared_ptr<detail::database_connection> connection;
    sqlite3_stmt* handle = nullptr;
    std::string cache_key;  // non-empty when the statement returns to the cache
    bool cached = false;

    state(std::shared_ptr<detail::database_connection> owner, sqlite3_stmt* stmt) noexcept
        : connection(std::move(owner)), handle(stmt) {}
    state(const state&) = delete;
    state& operator=(const state&) = delete;

    ~state() {
        if (cached) {
            connection->give_back(std::move(cache_key), handle);
        } else {
            sqlite3_finalize(handle);
        }
    }

    /** True if `index` names a column of the current row. */
    bool has_value(int index) const noexcept {
        return index >= 0 && index < sqlite3_data_count(handle);
    }

    void check_bind(int result, std::error_code& ec) {
        if (result != SQLITE_OK) {
            ec = connection->fail(result, "bind");
        }
    }
};

statement::statement() noexcept = default;
statement::~statement() = default;
statement::statement(statement&& other) noexcept = default;
statement& statement::operator=(statement&& other) noexcept = default;
statement::statement(std::unique_ptr<state> impl) noexcept : impl_(std::move(impl)) {}

bool statement::valid() const noexcept {
    return impl_ != nullptr;
}

std::string statement::sql() const {
    if (!impl_) {
        return {};
    }
    const char* text = sqlite3_sql(impl_->handle);
    return text != nullptr ? std::string(text) : std::string();
}

int statement::parameter_count() const noexcept {
    return impl_ ? sqlite3_bind_parameter_count(impl_->handle) : 0;
}

int statement::parameter_index(std::string_view name) const noexcept {
    // SQLite wants a NUL-terminated name; parameter names are short, so no allocation.
    std::array<char, 256> terminated{};
    if (!impl_ || name.size() >= terminated.size() || name.find('\0') != std::string_view::npos) {
        return 0;
    }
    std::copy(name.begin(), name.end(), terminated.begin());
    return sqlite3_bind_parameter_index(impl_->handle, terminated.data());
}

void statement::fail_invalid_argument(const char* reason, std::error_code& ec) noexcept {
    ec = errc::invalid_argument;
    if (impl_) {
        try {
            impl_->connection->last_error = reason;
        } catch (...) {
            impl_->connection->last_error.clear();
        }
    }
}

void statement::throw_last_error(std::error_code ec) const {
    throw_error(ec, impl_ ? impl_->connection->last_error : std::string("empty statement"));
}

void statement::bind_null(int index, std::error_code& ec) noexcept {
    ec.clear();
    if (!impl_) {
        ec = errc::invalid_argument;
        return;
    }
    impl_->check_bind(sqlite3_bind_null(impl_->handle, index), ec);
}

void statement::bind_int64(int index, std::int64_t value, std::error_code& ec) noexcept {
    ec.clear();
    if (!impl_) {
        ec = errc::invalid_argument;
        return;
    }
    impl_->check_bind(sqlite3_bind_int64(impl_->handle, index, value), ec);
}

void statement::bind_double(int index, double value, std::error_code& ec) noexcept {
    ec.clear();
    if (!impl_) {
        ec = errc::invalid_argument;
        return;
    }
    impl_->check_bind(sqlite3_bind_double(impl_->handle, index, value), ec);
}

void statement::bind_text(int index, std::string_view value, std::error_code& ec) noexcept {
    ec.clear();
    if (!impl_) {
        ec = errc::invalid_argument;
        return;
    }
    // A null pointer would bind NULL; an empty string must stay an empty string.
    const char* data = value.data() != nullptr ? value.data() : "";
    impl_->check_bind(sqlite3_bind_text64(impl_->handle, index, data, value.size(),
                                          SQLITE_TRANSIENT, SQLITE_UTF8),
                      ec);
}

void statement::bind_blob(int index, byte_view value, std::error_code& ec) noexcept {
    ec.clear();
    if (!impl_) {
        ec = errc::invalid_argument;
        return;
    }
    if (value.empty()) {
        impl_->check_bind(sqlite3_bind_zeroblob(impl_->handle, index, 0), ec);
        return;
    }
    impl_->check_bind(
        sqlite3_bind_blob64(impl_->handle, index, value.data(), value.size(), SQLITE_TRANSIENT),
        ec);
}

step_result statement::step(std::error_code& ec) noexcept {
    ec.clear();
    if (!impl_) {
        ec = errc::invalid_argument;
        return step_result::done;
    }
    const int result = sqlite3_step(impl_->handle);
    if (result == SQLITE_ROW) {
        return step_result::row;
    }
    if (result != SQLITE_DONE) {
        ec = impl_->connection->fail(result);
    }
    return step_result::done;
}

step_result statement::step() {
    std::error_code ec;
    const step_result result = step(ec);
    if (ec) {
        throw_last_error(ec);
    }
    return result;
}

void statement::run(std::error_code& ec) noexcept {
    while (step(ec) == step_result::row) {
    }
}

void statement::run() {
    std::error_code ec;
    run(ec);
    if (ec) {
        throw_last_error(ec);
    }
}

void statement::reset() noexcept {
    if (impl_) {
        sqlite3_reset(impl_->handle);
    }
}

void statement::clear_bindings() noexcept {
    if (impl_) {
        sqlite3_clear_bindings(impl_->handle);
    }
}

int statement::column_count() const noexcept {
    return impl_ ? sqlite3_column_count(impl_->handle) : 0;
}

std::string statement::column_name(int index) const {
    if (!impl_ || index < 0 || index >= sqlite3_column_count(impl_->handle)) {
        return {};
    }
    const char* name = sqlite3_column_name(impl_->handle, index);
    return name != nullptr ? std::string(name) : std::string();
}

column_type statement::type_of(int index) const noexcept {
    if (!impl_ || !impl_->has_value(index)) {
        return column_type::null;
    }
    switch (sqlite3_column_type(impl_->handle, index)) {
        case SQLITE_INTEGER:
            return column_type::integer;
        case SQLITE_FLOAT:
            return column_type::real;
        case SQLITE_TEXT:
            return column_type::text;
        case SQLITE_BLOB:
            return column_type::blob;
        default:
            return column_type::null;
    }
}

bool statement::is_null(int index) const noexcept {
    return type_of(index) == column_type::null;
}

std::int64_t statement::column_int64(int index) const noexcept {
    if (!impl_ || !impl_->has_value(index)) {
        return 0;
    }
    return sqlite3_column_int64(impl_->handle, index);
}

double statement::column_double(int index) const noexcept {
    if (!impl_ || !impl_->has_value(index)) {
        return 0.0;
    }
    return sqlite3_column_double(impl_->handle, index);
}

std::string statement::column_text(int index) const {
    if (!impl_ || !impl_->has_value(index)) {
        return {};
    }
    const unsigned char* text = sqlite3_column_text(impl_->handle, index);
    const int size = sqlite3_column_bytes(impl_->handle, index);
    if (text == nullptr || size <= 0) {
        return {};
    }
    return std::string(reinterpret_cast<const char*>(text), static_cast<std::size_t>(size));
}

byte_vector statement::column_blob(int index) const {
    if (!impl_ || !impl_->has_value(index)) {
        return {};
    }
    const auto* data = static_cast<const std::uint8_t*>(sqlite3_column_blob(impl_->handle, index));
    const int size = sqlite3_column_bytes(impl_->handle, index);
    if (data == nullptr || size <= 0) {
        return {};
    }
    return byte_vector(data, data + size);
}

// --- database ------------------------------------------------------------------------------

database::database() noexcept = default;
database::~database() = default;
database::database(database&& other) noexcept = default;
database& database::operator=(database&& other) noexcept = default;

namespace {

const char* synchronous_pragma(synchronous_mode mode) noexcept {
    switch (mode) {
        case synchronous_mode::off:
            return "PRAGMA synchronous=OFF";
        case synchronous_mode::normal:
            return "PRAGMA synchronous=NORMAL";
        case synchronous_mode::full:
            return "PRAGMA synchronous=FULL";
        case synchronous_mode::extra:
            return "PRAGMA synchronous=EXTRA";
    }
    return "PRAGMA synchronous=NORMAL";
}

bool is_memory_path(const std::filesystem::path& path) {
    return path.empty() || path.native() == ":memory:";
}

/** Opens the SQLite handle of `connection` and applies the options' pragmas. */
void open_connection(detail::database_connection& connection, const database_options& options,
                     std::error_code& ec) {
    int flags = SQLITE_OPEN_NOMUTEX;
    if (options.read_only) {
        flags |= SQLITE_OPEN_READONLY;
    } else {
        flags |= SQLITE_OPEN_READWRITE;
        if (options.create) {
            flags |= SQLITE_OPEN_CREATE;
        }
    }
    const int opened = sqlite3_open_v2(connection.path.c_str(), &connection.handle, flags, nullptr);
    if (opened != SQLITE_OK) {
        ec = connection.fail(opened);
        return;
    }
    sqlite3_extended_result_codes(connection.handle, 1);
    const auto timeout = std::clamp<std::chrono::milliseconds::rep>(
        options.busy_timeout.count(), 0, std::chrono::milliseconds::rep{INT_MAX});
    sqlite3_busy_timeout(connection.handle, static_cast<int>(timeout));

    // Reading the schema makes SQLite check the file header: a non-database fails here.
    connection.execute("PRAGMA schema_version", ec);
    if (ec) {
        return;
    }
    if (!options.read_only && options.write_ahead_log && !is_memory_path(connection.path)) {
        sqlite3_stmt* stmt = nullptr;
        int step =
            sqlite3_prepare_v2(connection.handle, "PRAGMA journal_mode=WAL", -1, &stmt, nullptr);
        if (step == SQLITE_OK) {
            step = sqlite3_step(stmt);
        }
        if (step != SQLITE_ROW) {
            ec = connection.fail(step, "cannot enable the WAL journal");
            sqlite3_finalize(stmt);
            return;
        }
        const auto* mode = sqlite3_column_text(stmt, 0);
        const bool wal =
            mode != nullptr && std::string_view(reinterpret_cast<const char*>(mode)) == "wal";
        sqlite3_finalize(stmt);
        if (!wal) {
            ec = connection.fail_with(errc::database_error,
                                      "cannot enable the WAL journal on this file system");
            return;
        }
    }
    if (!options.read_only) {
        connection.execute(synchronous_pragma(options.synchronous), ec);
        if (ec) {
            return;
        }
    }
    connection.execute(options.foreign_keys ? "PRAGMA foreign_keys=ON" : "PRAGMA foreign_keys=OFF",
                       ec);
}

}  // namespace

database database::open(const std::filesystem::path& path, const database_options& options,
                        std::error_code& ec) {
    ec.clear();
    database result;
    try {
        auto connection = std::make_shared<detail::database_connection>();
        connection->path = path;
        connection->read_only = options.read_only;
        connection->cache_capacity = options.statement_cache_capacity;
        open_connection(*connection, options, ec);
        if (ec) {
            result.open_failure_ = std::move(connection->last_error);
            return result;
        }
        result.connection_ = std::move(connection);
    } catch (const std::bad_alloc&) {
        ec = std::make_error_code(std::errc::not_enough_memory);
    }
    return result;
}

database database::open(const std::filesystem::path& path, const database_options& options) {
    std::error_code ec;
    database result = open(path, options, ec);
    if (ec) {
        throw_error(ec, path.string() + ": " + result.open_failure_);
    }
    return result;
}

bool database::is_open() const noexcept {
    return connection_ != nullptr;
}

const std::filesystem::path& database::path() const noexcept {
    return connection_ ? connection_->path : empty_path();
}

bool database::read_only() const noexcept {
    return connection_ && connection_->read_only;
}

void database::execute(std::string_view sql, std::error_code& ec) noexcept {
    if (!connection_) {
        ec = errc::invalid_argument;
        return;
    }
    connection_->execute(sql, ec);
}

void database::execute(std::string_view sql) {
    std::error_code ec;
    execute(sql, ec);
    if (ec) {
        throw_error(ec, path().string() + ": " + last_error_message());
    }
}

namespace {

/** Prepares exactly one statement; returns nullptr with ec set otherwise. */
sqlite3_stmt* prepare_one(detail::database_connection& connection, std::string_view sql,
                          unsigned flags, std::error_code& ec) {
    ec.clear();
    if (sql.size() > static_cast<std::size_t>(INT_MAX)) {
        ec = connection.fail_with(errc::invalid_argument, "SQL text too long");
        return nullptr;
    }
    sqlite3_stmt* stmt = nullptr;
    const char* tail = nullptr;
    const int result = sqlite3_prepare_v3(connection.handle, sql.data(),
                                          static_cast<int>(sql.size()), flags, &stmt, &tail);
    if (result != SQLITE_OK) {
        ec = connection.fail(result);
        return nullptr;
    }
    if (stmt == nullptr) {
        ec = connection.fail_with(errc::invalid_argument, "no SQL statement in the text");
        return nullptr;
    }
    // Anything after the first statement must be whitespace or comments.
    const char* const end = sql.data() + sql.size();
    if (tail != nullptr && tail < end) {
        sqlite3_stmt* extra = nullptr;
        const int rest = sqlite3_prepare_v2(connection.handle, tail, static_cast<int>(end - tail),
                                            &extra, nullptr);
        if (rest != SQLITE_OK || extra != nullptr) {
            sqlite3_finalize(extra);
            sqlite3_finalize(stmt);
            ec = connection.fail_with(errc::invalid_argument,
                                      "more than one SQL statement; use execute() for scripts");
            return nullptr;
        }
    }
    return stmt;
}

}  // namespace

statement database::prepare(std::string_view sql, std::error_code& ec) noexcept {
    if (!connection_) {
        ec = errc::invalid_argument;
        return {};
    }
    try {
        sqlite3_stmt* stmt = prepare_one(*connection_, sql, 0, ec);
        if (stmt == nullptr) {
            return {};
        }
        return statement(std::make_unique<statement::state>(connection_, stmt));
    } catch (const std::bad_alloc&) {
        ec = std::make_error_code(std::errc::not_enough_memory);
        return {};
    }
}

statement database::prepare(std::string_view sql) {
    std::error_code ec;
    statement result = prepare(sql, ec);
    if (ec) {
        throw_error(ec, path().string() + ": " + last_error_message());
    }
    return result;
}

statement database::prepare_cached(std::string_view sql, std::error_code& ec) noexcept {
    ec.clear();
    if (!connection_) {
        ec = errc::invalid_argument;
        return {};
    }
    try {
        std::string key(sql);
        sqlite3_stmt* stmt = connection_->take_cached(key);
        if (stmt == nullptr) {
            stmt = prepare_one(*connection_, sql, SQLITE_PREPARE_PERSISTENT, ec);
            if (stmt == nullptr) {
                return {};
            }
        }
        auto impl = std::make_unique<statement::state>(connection_, stmt);
        impl->cache_key = std::move(key);
        impl->cached = true;
        return statement(std::move(impl));
    } catch (const std::bad_alloc&) {
        ec = std::make_error_code(std::errc::not_enough_memory);
        return {};
    }
}

statement database::prepare_cached(std::string_view sql) {
    std::error_code ec;
    statement result = prepare_cached(sql, ec);
    if (ec) {
        throw_error(ec, path().string() + ": " + last_error_message());
    }
    return result;
}

std::int64_t database::last_insert_rowid() const noexcept {
    return connection_ ? sqlite3_last_insert_rowid(connection_->handle) : 0;
}

std::int64_t database::changes() const noexcept {
    return connection_ ? sqlite3_changes64(connection_->handle) : 0;
}

bool database::in_transaction() const noexcept {
    return connection_ && sqlite3_get_autocommit(connection_->handle) == 0;
}

std::string database::last_error_message() const {
    return connection_ ? connection_->last_error : open_failure_;
}

namespace detail {

/** Lets the free functions of this file reach a database's connection. */
struct database_access {
    static database_connection* connection(database& db) noexcept { return db.connection_.get(); }
    static std::shared_ptr<database_connection> shared(database& db) noexcept {
        return db.connection_;
    }
};

}  // namespace detail

// --- transaction ---------------------------------------------------------------------------

transaction::transaction(database& db, transaction_mode mode, std::error_code& ec) noexcept
    : connection_(detail::database_access::shared(db)) {
    begin(mode, ec);
}

transaction::transaction(database& db, transaction_mode mode)
    : connection_(detail::database_access::shared(db)) {
    std::error_code ec;
    begin(mode, ec);
    if (ec) {
        throw_error(ec, connection_ ? connection_->last_error : std::string("database is closed"));
    }
}

void transaction::begin(transaction_mode mode, std::error_code& ec) noexcept {
    ec.clear();
    if (!connection_) {
        ec = errc::invalid_argument;
        return;
    }
    try {
        if (sqlite3_get_autocommit(connection_->handle) == 0) {
            savepoint_ = "imsp2p_savepoint_" + std::to_string(++connection_->savepoint_counter);
            connection_->execute("SAVEPOINT " + savepoint_, ec);
        } else {
            switch (mode) {
                case transaction_mode::deferred:
                    connection_->execute("BEGIN DEFERRED", ec);
                    break;
                case transaction_mode::immediate:
                    connection_->execute("BEGIN IMMEDIATE", ec);
                    break;
                case transaction_mode::exclusive:
                    connection_->execute("BEGIN EXCLUSIVE", ec);
                    break;
            }
        }
    } catch (const std::bad_alloc&) {
        ec = std::make_error_code(std::errc::not_enough_memory);
    }
    active_ = !ec;
}

transaction::~transaction() {
    if (active_) {
        std::error_code ignored;
        rollback(ignored);
    }
}

void transaction::commit(std::error_code& ec) noexcept {
    ec.clear();
    if (!active_) {
        ec = errc::invalid_argument;
        return;
    }
    try {
        connection_->execute(savepoint_.empty() ? std::string("COMMIT") : "RELEASE " + savepoint_,
                             ec);
    } catch (const std::bad_alloc&) {
        ec = std::make_error_code(std::errc::not_enough_memory);
    }
    if (!ec) {
        active_ = false;
    }
}

void transaction::commit() {
    std::error_code ec;
    commit(ec);
    if (ec) {
        throw_error(ec, connection_ ? connection_->last_error : std::string());
    }
}

void transaction::rollback(std::error_code& ec) noexcept {
    ec.clear();
    if (!active_) {
        ec = errc::invalid_argument;
        return;
    }
    try {
        if (savepoint_.empty()) {
            // SQLite may already have rolled back by itself (e.g. after SQLITE_FULL).
            if (sqlite3_get_autocommit(connection_->handle) == 0) {
                connection_->execute("ROLLBACK", ec);
            }
        } else {
            connection_->execute("ROLLBACK TO " + savepoint_, ec);
            if (!ec) {
                connection_->execute("RELEASE " + savepoint_, ec);
            }
        }
    } catch (const std::bad_alloc&) {
        ec = std::make_error_code(std::errc::not_enough_memory);
    }
    if (!ec) {
        active_ = false;
    }
}

void transaction::rollback() {
    std::error_code ec;
    rollback(ec);
    if (ec) {
        throw_error(ec, connection_ ? connection_->last_error : std::string());
    }
}

bool transaction::active() const noexcept {
    return active_;
}

bool transaction::nested() const noexcept {
    return !savepoint_.empty();
}

// --- migrations ----------------------------------------------------------------------------

namespace {

constexpr std::string_view create_migrations_table =
    "CREATE TABLE IF NOT EXISTS schema_migrations ("
    " version INTEGER PRIMARY KEY,"
    " description TEXT NOT NULL,"
    " applied_at TEXT NOT NULL)";

/** Reads max(version) from schema_migrations, which must exist. */
int recorded_version(database& db, std::error_code& ec) {
    statement query = db.prepare("SELECT coalesce(max(version), 0) FROM schema_migrations", ec);
    if (ec) {
        return 0;
    }
    if (query.step(ec) != step_result::row) {
        return 0;
    }
    return query.column<int>(0);
}

}  // namespace

int schema_version(database& db, std::error_code& ec) noexcept {
    ec.clear();
    if (!db.is_open()) {
        ec = errc::invalid_argument;
        return 0;
    }
    try {
        statement exists = db.prepare(
            "SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'schema_migrations'", ec);
        if (ec) {
            return 0;
        }
        const step_result found = exists.step(ec);
        if (ec || found != step_result::row) {
            return 0;
        }
        return recorded_version(db, ec);
    } catch (const std::bad_alloc&) {
        ec = std::make_error_code(std::errc::not_enough_memory);
        return 0;
    }
}

int migrate(database& db, std::span<const migration> migrations, std::error_code& ec) noexcept {
    ec.clear();
    detail::database_connection* connection = detail::database_access::connection(db);
    if (connection == nullptr) {
        ec = errc::invalid_argument;
        return 0;
    }
    try {
        std::vector<const migration*> ordered;
        ordered.reserve(migrations.size());
        for (const migration& step : migrations) {
            ordered.push_back(&step);
        }
        std::stable_sort(
            ordered.begin(), ordered.end(),
            [](const migration* a, const migration* b) { return a->version < b->version; });
        for (std::size_t i = 0; i < ordered.size(); ++i) {
            if (ordered[i]->version <= 0 ||
                (i > 0 && ordered[i]->version == ordered[i - 1]->version)) {
                ec = connection->fail_with(
                    errc::invalid_argument,
                    "migration versions must be positive and unique (version " +
                        std::to_string(ordered[i]->version) + ")");
                return 0;
            }
        }
        const int latest = ordered.empty() ? 0 : ordered.back()->version;

        int current = 0;
        {
            transaction check(db, transaction_mode::immediate, ec);
            if (ec) {
                return 0;
            }
            db.execute(create_migrations_table, ec);
            if (ec) {
                return 0;
            }
            current = recorded_version(db, ec);
            if (ec) {
                return 0;
            }
            if (current > latest) {
                ec = connection->fail_with(
                    errc::schema_too_new,
                    "the database is at schema version " + std::to_string(current) +
                        ", this program knows versions up to " + std::to_string(latest));
                return current;  // the transaction rolls back: nothing changed
            }
            check.commit(ec);
            if (ec) {
                return current;
            }
        }

        for (const migration* step : ordered) {
            if (step->version <= current) {
                continue;
            }
            transaction apply(db, transaction_mode::immediate, ec);
            if (ec) {
                return current;
            }
            // Another connection may have migrated since we looked.
            const int now = recorded_version(db, ec);
            if (ec) {
                return current;
            }
            if (now >= step->version) {
                current = now;
                continue;
            }
            db.execute(step->sql, ec);
            if (!ec) {
                statement record = db.prepare(
                    "INSERT INTO schema_migrations (version, description, applied_at) VALUES "
                    "(?1, ?2, strftime('%Y-%m-%dT%H:%M:%fZ', 'now'))",
                    ec);
                if (!ec) {
                    record.bind(1, step->version, ec);
                }
                if (!ec) {
                    record.bind(2, step->description, ec);
                }
                if (!ec) {
                    record.run(ec);
                }
            }
            if (!ec) {
                db.execute("PRAGMA user_version = " + std::to_string(step->version), ec);
            }
            if (!ec) {
                apply.commit(ec);
            }
            if (ec) {
                std::string reason = "migration " + std::to_string(step->version) + " (" +
                                     step->description + "): " + connection->last_error;
                std::error_code ignored;
                apply.rollback(ignored);
                ec = connection->fail_with(errc::migration_failed, std::move(reason));
                return current;
            }
            current = step->version;
        }
        return current;
    } catch (const std::bad_alloc&) {
        ec = std::make_error_code(std::errc::not_enough_memory);
        return 0;
    }
}

int migrate(database& db, std::span<const migration> migrations) {
    std::error_code ec;
    const int version = migrate(db, migrations, ec);
    if (ec) {
        throw_error(ec, db.path().string() + ": " + db.last_error_message());
    }
    return version;
}

}  // namespace imsp2p::core
