/**
 * @file
 * SQLite 3 database handle, prepared statements, RAII transactions and schema migrations.
 *
 * Thread model: SQLite is opened in "multi-thread" mode (`SQLITE_OPEN_NOMUTEX`): a `database`
 * and every `statement` and `transaction` made from it must be used by one thread at a time.
 * Open one `database` per thread (SQLite's WAL journal lets connections in several threads and
 * processes read while one writes); no object of this header is safe for concurrent use.
 *
 * Errors are reported as imsp2p::core::errc values: database_busy (SQLITE_BUSY/LOCKED beyond
 * the busy timeout), database_constraint, database_corrupt (SQLITE_CORRUPT/NOTADB),
 * database_cant_open, otherwise database_error; the SQLite message is in the exception text of
 * the throwing overloads and in database::last_error_message().
 */
#pragma once

#include <imsp2p/core/bytes.hpp>
#include <imsp2p/core/error.hpp>
#include <imsp2p/core/export.hpp>

#include <chrono>
#include <concepts>
#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <limits>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <system_error>
#include <type_traits>

namespace imsp2p::core {

namespace detail {
struct database_connection;
struct database_access;
}  // namespace detail

/** SQLite's `PRAGMA synchronous` setting: how often SQLite waits for data to reach the disk. */
enum class synchronous_mode {
    off,     ///< Never sync (fast; a power loss may corrupt the file).
    normal,  ///< Sync at WAL checkpoints (durable against application crashes; the WAL default).
    full,    ///< Sync at every commit.
    extra,   ///< Like full, and also sync the directory after deleting a rollback journal.
};

/** Options for database::open(). The defaults suit a server's state file. */
struct database_options {
    /** Open read-only; writes fail with errc::database_error. */
    bool read_only = false;
    /** Create the file if it does not exist (ignored when read_only). */
    bool create = true;
    /** How long a statement waits for a lock held by another connection before database_busy. */
    std::chrono::milliseconds busy_timeout{5000};
    /** Use the write-ahead log journal (`PRAGMA journal_mode=WAL`); not applied in memory. */
    bool write_ahead_log = true;
    /** The `PRAGMA synchronous` level. */
    synchronous_mode synchronous = synchronous_mode::normal;
    /** Enforce foreign keys (`PRAGMA foreign_keys=ON`). */
    bool foreign_keys = true;
    /** How many idle prepared statements database::prepare_cached() keeps (0 disables). */
    std::size_t statement_cache_capacity = 32;
};

/** The storage class of a column value in the current row (SQLite's fundamental types). */
enum class column_type {
    integer,  ///< A 64-bit signed integer.
    real,     ///< An IEEE 754 double.
    text,     ///< A UTF-8 string.
    blob,     ///< A byte string.
    null,     ///< SQL NULL (also reported for a column index out of range).
};

/** The outcome of statement::step(). */
enum class step_result {
    row,   ///< A result row is available through the column getters.
    done,  ///< The statement has finished (or failed, when an error code is set).
};

/**
 * A prepared SQL statement.
 *
 * Made by database::prepare() or database::prepare_cached(); movable, not copyable. It keeps its
 * connection alive (shared ownership), so it may outlive the `database` object, but like the
 * connection it must be used by one thread at a time. On destruction it is finalised, or — when
 * it came from prepare_cached() — reset, its bindings cleared, and returned to the cache.
 *
 * Parameters are numbered from 1 (SQLite's convention) or named (`:name`, `@name`, `$name`,
 * given with their prefix). Column indices start at 0. Text and blob parameters are copied by
 * SQLite at bind time. Views returned by the column getters are not offered: getters copy.
 */
class IMSP2P_CORE_EXPORT statement {
  public:
    /** An empty statement (valid() is false); every operation on it fails with invalid_argument. */
    statement() noexcept;
    /** Finalises the statement or returns it to its connection's statement cache. */
    ~statement();
    /** Moves the statement; `other` becomes empty. */
    statement(statement&& other) noexcept;
    /** Releases this statement, then takes over `other`, which becomes empty. */
    statement& operator=(statement&& other) noexcept;
    statement(const statement&) = delete;
    statement& operator=(const statement&) = delete;

    /** @return true if this object holds a prepared statement. */
    [[nodiscard]] bool valid() const noexcept;
    /** @return the SQL text the statement was prepared from (empty if not valid). */
    [[nodiscard]] std::string sql() const;

    /**
     * @return the number of parameters of the statement (the largest index), 0 if not valid.
     */
    [[nodiscard]] int parameter_count() const noexcept;
    /**
     * Looks up a named parameter.
     * @param name the name with its prefix character, e.g. ":user"
     * @return its 1-based index, or 0 if the statement has no such parameter (or the name is
     *         255 bytes or longer)
     */
    [[nodiscard]] int parameter_index(std::string_view name) const noexcept;

    /**
     * Binds SQL NULL to a parameter.
     * @param index 1-based parameter index
     * @param ec set to invalid_argument (index out of range) or a database error
     */
    void bind_null(int index, std::error_code& ec) noexcept;
    /** Binds a 64-bit integer; see bind_null() for the parameters and errors. */
    void bind_int64(int index, std::int64_t value, std::error_code& ec) noexcept;
    /** Binds a double; see bind_null() for the parameters and errors. */
    void bind_double(int index, double value, std::error_code& ec) noexcept;
    /** Binds UTF-8 text (copied); see bind_null() for the parameters and errors. */
    void bind_text(int index, std::string_view value, std::error_code& ec) noexcept;
    /** Binds a blob (copied; an empty view binds a zero-length blob, not NULL). */
    void bind_blob(int index, byte_view value, std::error_code& ec) noexcept;

    /**
     * Binds a value chosen by its C++ type: std::nullptr_t (NULL), bool and other integers
     * (integer; an unsigned value above INT64_MAX is rejected with invalid_argument), floating
     * point (real), anything convertible to std::string_view (text), byte_view / byte_vector
     * (blob), or std::optional of one of these (NULL when empty).
     * @param index 1-based parameter index
     * @param value the value
     * @param ec set on failure (the statement is unchanged)
     */
    template <class T>
    void bind(int index, const T& value, std::error_code& ec) noexcept;
    /**
     * Binds a value to a named parameter; see bind(int, const T&, std::error_code&).
     * @param name the parameter name with its prefix, e.g. ":user"; unknown -> invalid_argument
     * @param value the value
     * @param ec set on failure
     */
    template <class T>
    void bind(std::string_view name, const T& value, std::error_code& ec) noexcept;
    /** Throwing form of bind(int, const T&, std::error_code&). @throws std::system_error */
    template <class T>
    void bind(int index, const T& value);
    /** Throwing form of bind(std::string_view, const T&, std::error_code&). */
    template <class T>
    void bind(std::string_view name, const T& value);

    /**
     * Runs the statement to its next row.
     * @param ec set to the mapped SQLite error on failure (the statement then needs reset())
     * @return step_result::row when a row is available, otherwise step_result::done
     */
    step_result step(std::error_code& ec) noexcept;
    /** Throwing form of step(std::error_code&). @throws std::system_error */
    step_result step();
    /**
     * Steps until done, discarding rows (for INSERT/UPDATE/DELETE).
     * @param ec set on failure
     */
    void run(std::error_code& ec) noexcept;
    /** Throwing form of run(std::error_code&). @throws std::system_error */
    void run();
    /** Rewinds the statement so it can be stepped again; keeps the bindings. */
    void reset() noexcept;
    /** Sets every parameter back to NULL. */
    void clear_bindings() noexcept;

    /** @return the number of columns of the result (0 for statements without a result). */
    [[nodiscard]] int column_count() const noexcept;
    /** @return the name of a result column, empty if the index is out of range. */
    [[nodiscard]] std::string column_name(int index) const;
    /** @return the storage class of a column of the current row (null if out of range). */
    [[nodiscard]] column_type type_of(int index) const noexcept;
    /** @return true if the column of the current row is NULL (or the index is out of range). */
    [[nodiscard]] bool is_null(int index) const noexcept;
    /** @return the column as an integer (SQLite's conversions apply; NULL -> 0). */
    [[nodiscard]] std::int64_t column_int64(int index) const noexcept;
    /** @return the column as a double (SQLite's conversions apply; NULL -> 0.0). */
    [[nodiscard]] double column_double(int index) const noexcept;
    /** @return a copy of the column as text (NULL -> empty). */
    [[nodiscard]] std::string column_text(int index) const;
    /** @return a copy of the column as bytes (NULL -> empty). */
    [[nodiscard]] byte_vector column_blob(int index) const;
    /**
     * Reads a column as T: std::int64_t (or any integer type, narrowed as static_cast does),
     * double, bool, std::string, byte_vector, or std::optional of one of these (empty when NULL).
     * @param index 0-based column index
     */
    template <class T>
    [[nodiscard]] T column(int index) const;

  private:
    friend class database;
    struct state;
    explicit statement(std::unique_ptr<state> impl) noexcept;
    void fail_invalid_argument(const char* reason, std::error_code& ec) noexcept;
    [[noreturn]] void throw_last_error(std::error_code ec) const;
    std::unique_ptr<state> impl_;
};

/**
 * A connection to an SQLite database file.
 *
 * Movable, not copyable; the underlying connection is closed when the `database` and every
 * statement made from it are gone. Not thread-safe: see the file comment.
 */
class IMSP2P_CORE_EXPORT database {
  public:
    /** A closed database (is_open() is false); operations on it fail with invalid_argument. */
    database() noexcept;
    /** Closes the connection (after the last statement made from it is gone). */
    ~database();
    /** Moves the connection; `other` becomes closed. */
    database(database&& other) noexcept;
    /** Closes this connection, then takes over `other`, which becomes closed. */
    database& operator=(database&& other) noexcept;
    database(const database&) = delete;
    database& operator=(const database&) = delete;

    /**
     * Opens (or creates) a database file and applies the options' pragmas.
     * @param path the file, or ":memory:" for a private in-memory database
     * @param options open mode and pragmas
     * @param ec database_cant_open, database_corrupt (not a database), database_busy, or
     *           database_error; the returned object is then closed
     * @return the open database
     */
    static database open(const std::filesystem::path& path, const database_options& options,
                         std::error_code& ec);
    /** Throwing form of open(); the exception text names the file and SQLite's message. */
    static database open(const std::filesystem::path& path, const database_options& options = {});

    /** @return true if the connection is open. */
    [[nodiscard]] bool is_open() const noexcept;
    /** @return the path given to open() (empty if closed). */
    [[nodiscard]] const std::filesystem::path& path() const noexcept;
    /** @return true if the connection was opened read-only. */
    [[nodiscard]] bool read_only() const noexcept;

    /**
     * Executes one or more `;`-separated SQL statements (a script), discarding result rows.
     * Statements before a failing one stay executed unless they run in a transaction.
     * @param sql the SQL text
     * @param ec set on failure
     */
    void execute(std::string_view sql, std::error_code& ec) noexcept;
    /** Throwing form of execute(). @throws std::system_error with the SQLite message */
    void execute(std::string_view sql);

    /**
     * Prepares a single SQL statement.
     * @param sql one statement; trailing text other than whitespace/comments -> invalid_argument
     * @param ec set on failure (e.g. database_error for a syntax error)
     * @return the statement, empty on failure
     */
    statement prepare(std::string_view sql, std::error_code& ec) noexcept;
    /** Throwing form of prepare(). @throws std::system_error with the SQLite message */
    statement prepare(std::string_view sql);
    /**
     * Like prepare(), but reuses an idle statement with the same SQL text from this connection's
     * bounded LRU cache; the returned statement goes back to the cache when destroyed.
     * @param sql one statement
     * @param ec set on failure
     * @return the statement, empty on failure
     */
    statement prepare_cached(std::string_view sql, std::error_code& ec) noexcept;
    /** Throwing form of prepare_cached(). @throws std::system_error */
    statement prepare_cached(std::string_view sql);

    /** @return the rowid of the last successful INSERT on this connection (0 if none). */
    [[nodiscard]] std::int64_t last_insert_rowid() const noexcept;
    /** @return the number of rows changed by the last INSERT/UPDATE/DELETE. */
    [[nodiscard]] std::int64_t changes() const noexcept;
    /** @return true if a transaction is open on this connection. */
    [[nodiscard]] bool in_transaction() const noexcept;
    /**
     * @return the message of the last error on this connection (SQLite's or ours), or empty;
     * for a database returned closed by a failed open(), the reason it failed.
     */
    [[nodiscard]] std::string last_error_message() const;

  private:
    friend struct detail::database_access;
    std::shared_ptr<detail::database_connection> connection_;
    std::string open_failure_;
};

/** How a top-level transaction takes its locks (SQLite's BEGIN variants). */
enum class transaction_mode {
    deferred,   ///< Take locks on first read / write (may fail with database_busy later).
    immediate,  ///< Take the write lock at once (the default: fail early rather than mid-way).
    exclusive,  ///< Like immediate; in WAL mode the same, otherwise also blocks readers.
};

/**
 * An RAII transaction: BEGIN on construction, ROLLBACK on destruction unless committed.
 *
 * When the connection is already inside a transaction, this one becomes a SAVEPOINT, so
 * functions can open their own transaction without knowing whether their caller did; a nested
 * rollback undoes only the nested work. Transactions must end in the reverse order of their
 * creation. Not movable; must not outlive its database; one thread at a time.
 */
class IMSP2P_CORE_EXPORT transaction {
  public:
    /**
     * Begins a transaction (or a savepoint if one is open).
     * @param db an open database; it must outlive the transaction
     * @param mode locking mode of a top-level transaction
     * @param ec set on failure (e.g. database_busy); active() is then false
     */
    transaction(database& db, transaction_mode mode, std::error_code& ec) noexcept;
    /** Throwing form. @throws std::system_error */
    explicit transaction(database& db, transaction_mode mode = transaction_mode::immediate);
    /** Rolls back unless committed or rolled back; errors are ignored. */
    ~transaction();
    transaction(const transaction&) = delete;
    transaction& operator=(const transaction&) = delete;

    /**
     * Commits (or releases the savepoint). On failure (e.g. database_busy) the transaction stays
     * active: retry, or let the destructor roll back.
     * @param ec set on failure; invalid_argument if not active
     */
    void commit(std::error_code& ec) noexcept;
    /** Throwing form of commit(). @throws std::system_error */
    void commit();
    /**
     * Rolls back now (or to the savepoint) and ends the transaction.
     * @param ec set on failure; invalid_argument if not active
     */
    void rollback(std::error_code& ec) noexcept;
    /** Throwing form of rollback(). @throws std::system_error */
    void rollback();
    /** @return true until commit() or rollback() succeeds. */
    [[nodiscard]] bool active() const noexcept;
    /** @return true if this transaction is a savepoint inside another transaction. */
    [[nodiscard]] bool nested() const noexcept;

  private:
    void begin(transaction_mode mode, std::error_code& ec) noexcept;
    std::shared_ptr<detail::database_connection> connection_;
    std::string savepoint_;  // empty for a top-level transaction
    bool active_ = false;
};

/** One step of a schema's history, applied by migrate(). */
struct migration {
    /** Positive version number; migrations apply in increasing order. */
    int version = 0;
    /** A short human-readable summary, recorded in schema_migrations. */
    std::string description;
    /** The SQL script; it must not contain BEGIN/COMMIT (migrate() wraps it in a transaction). */
    std::string sql;
};

/**
 * Reads the schema version recorded by migrate().
 * @param db an open database
 * @param ec set on failure
 * @return the highest applied migration version, 0 for a database without migrations
 */
IMSP2P_CORE_EXPORT int schema_version(database& db, std::error_code& ec) noexcept;

/**
 * Brings a database's schema up to date.
 *
 * Every migration whose version is above the database's current version is applied in version
 * order, each in its own immediate transaction together with its row in
 * `schema_migrations(version, description, applied_at)` and `PRAGMA user_version`.
 * @param db an open, writable database
 * @param migrations the known history, in any order; versions must be positive and unique
 *        (else invalid_argument)
 * @param ec schema_too_new if the database records a version above every known one (nothing is
 *        changed); migration_failed if a migration fails (it is rolled back; the earlier ones
 *        stay applied); database_busy or another database error
 * @return the schema version after the call (on failure: the version that is in effect)
 */
IMSP2P_CORE_EXPORT int migrate(database& db, std::span<const migration> migrations,
                               std::error_code& ec) noexcept;
/** Throwing form of migrate(); the text names the failing version and the SQLite message. */
IMSP2P_CORE_EXPORT int migrate(database& db, std::span<const migration> migrations);

// ---------------------------------------------------------------------------------------
// Template implementations.

namespace detail {
template <class T>
struct is_optional : std::false_type {};
template <class T>
struct is_optional<std::optional<T>> : std::true_type {};
}  // namespace detail

// GCC 12 warns, falsely, that the storage of an empty std::optional "may be used
// uninitialized" once bind() is inlined into a caller built with sanitizers.
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#endif
template <class T>
void statement::bind(int index, const T& value, std::error_code& ec) noexcept {
    if constexpr (detail::is_optional<T>::value) {
        if (value.has_value()) {
            bind(index, *value, ec);
        } else {
            bind_null(index, ec);
        }
    } else if constexpr (std::is_same_v<T, std::nullptr_t> || std::is_same_v<T, std::nullopt_t>) {
        bind_null(index, ec);
    } else if constexpr (std::is_same_v<T, bool>) {
        bind_int64(index, value ? 1 : 0, ec);
    } else if constexpr (std::is_integral_v<T>) {
        if constexpr (std::is_unsigned_v<T> && sizeof(T) >= sizeof(std::int64_t)) {
            if (value > static_cast<T>(std::numeric_limits<std::int64_t>::max())) {
                fail_invalid_argument("unsigned value above INT64_MAX", ec);
                return;
            }
        }
        bind_int64(index, static_cast<std::int64_t>(value), ec);
    } else if constexpr (std::is_floating_point_v<T>) {
        bind_double(index, static_cast<double>(value), ec);
    } else if constexpr (std::is_convertible_v<const T&, byte_view>) {
        bind_blob(index, byte_view(value), ec);
    } else if constexpr (std::is_convertible_v<const T&, std::string_view>) {
        bind_text(index, std::string_view(value), ec);
    } else {
        static_assert(sizeof(T) == 0, "statement::bind: unsupported type");
    }
}

#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC diagnostic pop
#endif

template <class T>
void statement::bind(std::string_view name, const T& value, std::error_code& ec) noexcept {
    const int index = parameter_index(name);
    if (index == 0) {
        fail_invalid_argument("no parameter of that name", ec);
        return;
    }
    bind(index, value, ec);
}

template <class T>
void statement::bind(int index, const T& value) {
    std::error_code ec;
    bind(index, value, ec);
    if (ec) {
        throw_last_error(ec);
    }
}

template <class T>
void statement::bind(std::string_view name, const T& value) {
    std::error_code ec;
    bind(name, value, ec);
    if (ec) {
        throw_last_error(ec);
    }
}

template <class T>
T statement::column(int index) const {
    if constexpr (detail::is_optional<T>::value) {
        if (is_null(index)) {
            return std::nullopt;
        }
        return column<typename T::value_type>(index);
    } else if constexpr (std::is_same_v<T, bool>) {
        return column_int64(index) != 0;
    } else if constexpr (std::is_integral_v<T>) {
        return static_cast<T>(column_int64(index));
    } else if constexpr (std::is_floating_point_v<T>) {
        return static_cast<T>(column_double(index));
    } else if constexpr (std::is_same_v<T, std::string>) {
        return column_text(index);
    } else if constexpr (std::is_same_v<T, byte_vector>) {
        return column_blob(index);
    } else {
        static_assert(sizeof(T) == 0, "statement::column: unsupported type");
    }
}

}  // namespace imsp2p::core
