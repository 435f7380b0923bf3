#include <imsp2p/core/database.hpp>

#include <imsp2p/core/error.hpp>

#include <gtest/gtest.h>
#include <imsp2p_test/temporary_directory.hpp>

#include <stdlib.h>

#include <array>
#include <filesystem>
#include <fstream>
#include <optional>
#include <string>
#include <system_error>
#include <vector>

namespace {

using imsp2p::core::byte_vector;
using imsp2p::core::column_type;
using imsp2p::core::database;
using imsp2p::core::database_options;
using imsp2p::core::errc;
using imsp2p::core::migration;
using imsp2p::core::statement;
using imsp2p::core::step_result;
using imsp2p::core::transaction;
using imsp2p::core::transaction_mode;

std::error_code code(errc e) {
    return imsp2p::core::make_error_code(e);
}

/** A fresh directory under the system temp dir, removed with its content at the end. */
class DatabaseTest : public ::testing::Test {
  protected:
    void SetUp() override { dir_ = temporary_.path(); }
    imsp2p_test::temporary_directory temporary_{"imsp2p-db"};
    std::filesystem::path file(const char* name) const { return dir_ / name; }

    static std::string query_text(database& db, const char* sql) {
        statement stmt = db.prepare(sql);
        EXPECT_EQ(stmt.step(), step_result::row) << sql;
        return stmt.column_text(0);
    }
    static std::int64_t query_int(database& db, const char* sql) {
        statement stmt = db.prepare(sql);
        EXPECT_EQ(stmt.step(), step_result::row) << sql;
        return stmt.column_int64(0);
    }

    std::filesystem::path dir_;
};

TEST_F(DatabaseTest, OpenAppliesWalSynchronousAndForeignKeys) {
    database db = database::open(file("state.db"));
    ASSERT_TRUE(db.is_open());
    EXPECT_EQ(db.path(), file("state.db"));
    EXPECT_FALSE(db.read_only());
    EXPECT_EQ(query_text(db, "PRAGMA journal_mode"), "wal");
    EXPECT_EQ(query_int(db, "PRAGMA synchronous"), 1);  // NORMAL
    EXPECT_EQ(query_int(db, "PRAGMA foreign_keys"), 1);
    EXPECT_EQ(query_int(db, "PRAGMA busy_timeout"), 5000);
    EXPECT_TRUE(std::filesystem::exists(file("state.db")));
}

TEST_F(DatabaseTest, OptionsCanTurnPragmasOff) {
    database_options options;
    options.write_ahead_log = false;
    options.foreign_keys = false;
    options.synchronous = imsp2p::core::synchronous_mode::full;
    options.busy_timeout = std::chrono::milliseconds(250);
    database db = database::open(file("plain.db"), options);
    EXPECT_EQ(query_text(db, "PRAGMA journal_mode"), "delete");
    EXPECT_EQ(query_int(db, "PRAGMA synchronous"), 2);
    EXPECT_EQ(query_int(db, "PRAGMA foreign_keys"), 0);
    EXPECT_EQ(query_int(db, "PRAGMA busy_timeout"), 250);
}

TEST_F(DatabaseTest, InMemoryDatabase) {
    database db = database::open(":memory:");
    db.execute("CREATE TABLE t (x); INSERT INTO t VALUES (1), (2), (3);");
    EXPECT_EQ(query_int(db, "SELECT sum(x) FROM t"), 6);
    EXPECT_EQ(query_text(db, "PRAGMA journal_mode"), "memory");
}

TEST_F(DatabaseTest, DataPersistsAcrossReopen) {
    {
        database db = database::open(file("persist.db"));
        db.execute("CREATE TABLE kv (k TEXT PRIMARY KEY, v BLOB)");
        statement insert = db.prepare("INSERT INTO kv VALUES (?, ?)");
        insert.bind(1, "alpha");
        insert.bind(2, byte_vector{1, 2, 3});
        insert.run();
        EXPECT_EQ(db.changes(), 1);
        EXPECT_EQ(db.last_insert_rowid(), 1);
    }
    database db = database::open(file("persist.db"));
    statement select = db.prepare("SELECT v FROM kv WHERE k = :key");
    select.bind(":key", std::string("alpha"));
    ASSERT_EQ(select.step(), step_result::row);
    EXPECT_EQ(select.column_blob(0), (byte_vector{1, 2, 3}));
    EXPECT_EQ(select.step(), step_result::done);
}

TEST_F(DatabaseTest, BindAndReadEveryType) {
    database db = database::open(":memory:");
    statement stmt = db.prepare("SELECT ?1, ?2, ?3, ?4, ?5, ?6, ?7, :named, ?9");
    EXPECT_EQ(stmt.parameter_count(), 9);
    EXPECT_EQ(stmt.parameter_index(":named"), 8);
    EXPECT_EQ(stmt.parameter_index(":absent"), 0);
    const std::string with_nul("a\0b", 3);
    stmt.bind(1, nullptr);
    stmt.bind(2, std::int64_t{-9007199254740993});
    stmt.bind(3, 2.5);
    stmt.bind(4, with_nul);
    stmt.bind(5, byte_vector{});
    stmt.bind(6, std::optional<int>{});
    stmt.bind(7, std::optional<std::string>{"x"});
    stmt.bind(":named", true);
    stmt.bind(9, std::string());
    ASSERT_EQ(stmt.step(), step_result::row);
    EXPECT_EQ(stmt.column_count(), 9);
    EXPECT_EQ(stmt.type_of(0), column_type::null);
    EXPECT_TRUE(stmt.is_null(0));
    EXPECT_EQ(stmt.type_of(1), column_type::integer);
    EXPECT_EQ(stmt.column_int64(1), -9007199254740993);
    EXPECT_EQ(stmt.type_of(2), column_type::real);
    EXPECT_DOUBLE_EQ(stmt.column_double(2), 2.5);
    EXPECT_EQ(stmt.type_of(3), column_type::text);
    EXPECT_EQ(stmt.column_text(3), with_nul);
    EXPECT_EQ(stmt.type_of(4), column_type::blob);  // an empty blob is not NULL
    EXPECT_TRUE(stmt.column_blob(4).empty());
    EXPECT_EQ(stmt.column<std::optional<int>>(5), std::nullopt);
    EXPECT_EQ(stmt.column<std::optional<std::string>>(6), "x");
    EXPECT_TRUE(stmt.column<bool>(7));
    EXPECT_EQ(stmt.type_of(8), column_type::text);  // an empty string is not NULL
    EXPECT_EQ(stmt.column_name(2), "?3");
    EXPECT_EQ(stmt.type_of(99), column_type::null);
    EXPECT_EQ(stmt.column_int64(-1), 0);
    EXPECT_EQ(stmt.column_name(99), "");
}

TEST_F(DatabaseTest, BindErrors) {
    database db = database::open(":memory:");
    statement stmt = db.prepare("SELECT ?1");
    std::error_code ec;
    stmt.bind(2, 1, ec);
    EXPECT_EQ(ec, code(errc::invalid_argument));
    stmt.bind(":nope", 1, ec);
    EXPECT_EQ(ec, code(errc::invalid_argument));
    stmt.bind(1, std::uint64_t{1} << 63, ec);
    EXPECT_EQ(ec, code(errc::invalid_argument));
    stmt.bind(1, std::uint64_t{42}, ec);
    EXPECT_FALSE(ec);
    EXPECT_THROW(stmt.bind(3, 1), std::system_error);

    statement empty;
    EXPECT_FALSE(empty.valid());
    empty.bind(1, 1, ec);
    EXPECT_EQ(ec, code(errc::invalid_argument));
    EXPECT_EQ(empty.step(ec), step_result::done);
    EXPECT_EQ(ec, code(errc::invalid_argument));
}

TEST_F(DatabaseTest, PrepareErrors) {
    database db = database::open(":memory:");
    std::error_code ec;
    statement bad = db.prepare("SELEC 1", ec);
    EXPECT_EQ(ec, code(errc::database_error));
    EXPECT_FALSE(bad.valid());
    EXPECT_NE(db.last_error_message().find("syntax error"), std::string::npos);

    db.prepare("SELECT 1; SELECT 2", ec);
    EXPECT_EQ(ec, code(errc::invalid_argument));
    db.prepare("   -- only a comment", ec);
    EXPECT_EQ(ec, code(errc::invalid_argument));
    statement trailing = db.prepare("SELECT 1; -- trailing comment\n", ec);
    EXPECT_FALSE(ec);
    EXPECT_TRUE(trailing.valid());

    try {
        db.prepare("SELECT * FROM missing_table");
        FAIL() << "expected an exception";
    } catch (const std::system_error& e) {
        EXPECT_EQ(e.code(), code(errc::database_error));
        EXPECT_NE(std::string(e.what()).find("no such table: missing_table"), std::string::npos);
    }
}

TEST_F(DatabaseTest, StatementCanBeResetAndReused) {
    database db = database::open(":memory:");
    db.execute("CREATE TABLE t (x INTEGER)");
    statement insert = db.prepare("INSERT INTO t VALUES (?)");
    for (int i = 1; i <= 4; ++i) {
        insert.bind(1, i);
        insert.run();
        insert.reset();
    }
    EXPECT_EQ(query_int(db, "SELECT sum(x) FROM t"), 10);
    insert.clear_bindings();
    insert.run();
    EXPECT_EQ(query_int(db, "SELECT count(*) FROM t WHERE x IS NULL"), 1);
}

TEST_F(DatabaseTest, CachedStatementsComeBackResetAndUnbound) {
    database db = database::open(":memory:");
    {
        statement first = db.prepare_cached("SELECT ?1");
        first.bind(1, 5);
        ASSERT_EQ(first.step(), step_result::row);
        EXPECT_EQ(first.column_int64(0), 5);
        // A second user of the same SQL while the first is out gets its own statement.
        statement second = db.prepare_cached("SELECT ?1");
        second.bind(1, 7);
        ASSERT_EQ(second.step(), step_result::row);
        EXPECT_EQ(second.column_int64(0), 7);
        EXPECT_EQ(first.column_int64(0), 5);
    }
    statement again = db.prepare_cached("SELECT ?1");
    EXPECT_EQ(again.sql(), "SELECT ?1");
    ASSERT_EQ(again.step(), step_result::row);
    EXPECT_TRUE(again.is_null(0));  // the bindings were cleared when it went back
}

TEST_F(DatabaseTest, StatementKeepsConnectionAliveAfterDatabaseIsGone) {
    statement stmt;
    {
        database db = database::open(":memory:");
        stmt = db.prepare("SELECT 41 + 1");
    }
    ASSERT_EQ(stmt.step(), step_result::row);
    EXPECT_EQ(stmt.column_int64(0), 42);
}

TEST_F(DatabaseTest, MovedFromDatabaseIsClosed) {
    database db = database::open(":memory:");
    database other = std::move(db);
    EXPECT_TRUE(other.is_open());
    EXPECT_FALSE(db.is_open());  // NOLINT(bugprone-use-after-move): documented state
    std::error_code ec;
    db.execute("SELECT 1", ec);
    EXPECT_EQ(ec, code(errc::invalid_argument));
}

TEST_F(DatabaseTest, TransactionCommitAndRollback) {
    database db = database::open(file("tx.db"));
    db.execute("CREATE TABLE t (x INTEGER)");
    {
        transaction tx(db);
        EXPECT_TRUE(tx.active());
        EXPECT_FALSE(tx.nested());
        EXPECT_TRUE(db.in_transaction());
        db.execute("INSERT INTO t VALUES (1)");
        tx.commit();
        EXPECT_FALSE(tx.active());
    }
    {
        transaction tx(db);
        db.execute("INSERT INTO t VALUES (2)");
    }  // destroyed without commit: rolled back
    EXPECT_FALSE(db.in_transaction());
    {
        transaction tx(db, transaction_mode::deferred);
        db.execute("INSERT INTO t VALUES (3)");
        tx.rollback();
        EXPECT_FALSE(tx.active());
        std::error_code ec;
        tx.commit(ec);
        EXPECT_EQ(ec, code(errc::invalid_argument));
    }
    EXPECT_EQ(query_int(db, "SELECT group_concat(x) FROM t"), 1);
}

TEST_F(DatabaseTest, NestedTransactionsUseSavepoints) {
    database db = database::open(":memory:");
    db.execute("CREATE TABLE t (x INTEGER)");
    {
        transaction outer(db);
        db.execute("INSERT INTO t VALUES (1)");
        {
            transaction inner(db);
            EXPECT_TRUE(inner.nested());
            db.execute("INSERT INTO t VALUES (2)");
        }  // inner rolled back only
        {
            transaction inner(db);
            db.execute("INSERT INTO t VALUES (3)");
            inner.commit();
        }
        EXPECT_TRUE(db.in_transaction());
        outer.commit();
    }
    EXPECT_EQ(query_text(db, "SELECT group_concat(x, ',') FROM (SELECT x FROM t ORDER BY x)"),
              "1,3");

    {
        transaction outer(db);
        transaction inner(db);
        db.execute("INSERT INTO t VALUES (4)");
        inner.commit();
    }  // the outer rollback also undoes the committed savepoint
    EXPECT_EQ(query_int(db, "SELECT count(*) FROM t"), 2);
}

TEST_F(DatabaseTest, ConstraintViolationsMapToConstraintErrc) {
    database db = database::open(file("constraints.db"));
    db.execute(
        "CREATE TABLE parent (id INTEGER PRIMARY KEY, name TEXT UNIQUE NOT NULL);"
        "CREATE TABLE child (parent_id INTEGER NOT NULL REFERENCES parent(id));"
        "INSERT INTO parent (id, name) VALUES (1, 'a');");
    std::error_code ec;
    db.execute("INSERT INTO parent (id, name) VALUES (2, 'a')", ec);
    EXPECT_EQ(ec, code(errc::database_constraint));
    EXPECT_NE(db.last_error_message().find("UNIQUE constraint failed: parent.name"),
              std::string::npos);

    statement insert = db.prepare("INSERT INTO child VALUES (?)");
    insert.bind(1, 99);
    insert.run(ec);
    EXPECT_EQ(ec, code(errc::database_constraint));  // foreign keys are on
    EXPECT_NE(db.last_error_message().find("FOREIGN KEY"), std::string::npos);

    try {
        db.execute("INSERT INTO parent (id, name) VALUES (3, NULL)");
        FAIL() << "expected an exception";
    } catch (const std::system_error& e) {
        EXPECT_EQ(e.code(), code(errc::database_constraint));
        EXPECT_NE(std::string(e.what()).find("NOT NULL constraint failed"), std::string::npos);
        EXPECT_NE(std::string(e.what()).find("constraints.db"), std::string::npos);
    }
}

TEST_F(DatabaseTest, SecondConnectionSeesOnlyCommittedData) {
    database writer = database::open(file("shared.db"));
    writer.execute("CREATE TABLE t (x INTEGER)");
    database reader = database::open(file("shared.db"));

    transaction tx(writer);
    writer.execute("INSERT INTO t VALUES (1)");
    // WAL: the reader is not blocked and does not see the open transaction.
    EXPECT_EQ(query_int(reader, "SELECT count(*) FROM t"), 0);
    tx.commit();
    EXPECT_EQ(query_int(reader, "SELECT count(*) FROM t"), 1);
}

TEST_F(DatabaseTest, ConcurrentWriterGetsBusy) {
    database first = database::open(file("busy.db"));
    first.execute("CREATE TABLE t (x INTEGER)");
    database_options impatient;
    impatient.busy_timeout = std::chrono::milliseconds(0);
    database second = database::open(file("busy.db"), impatient);

    transaction holding(first);
    std::error_code ec;
    transaction blocked(second, transaction_mode::immediate, ec);
    EXPECT_EQ(ec, code(errc::database_busy));
    EXPECT_FALSE(blocked.active());
    holding.commit();
    transaction now(second, transaction_mode::immediate, ec);
    EXPECT_FALSE(ec);
}

TEST_F(DatabaseTest, CorruptFileIsDetected) {
    {
        std::ofstream junk(file("junk.db"), std::ios::binary);
        const std::string text(4096, 'x');
        junk << "this is not an SQLite database" << text;
    }
    std::error_code ec;
    database db = database::open(file("junk.db"), {}, ec);
    EXPECT_EQ(ec, code(errc::database_corrupt));
    EXPECT_FALSE(db.is_open());
    EXPECT_FALSE(db.last_error_message().empty());
    EXPECT_THROW(database::open(file("junk.db")), std::system_error);
}

TEST_F(DatabaseTest, CannotOpenMissingFileOrDirectory) {
    database_options no_create;
    no_create.create = false;
    std::error_code ec;
    database::open(file("absent.db"), no_create, ec);
    EXPECT_EQ(ec, code(errc::database_cant_open));
    EXPECT_FALSE(std::filesystem::exists(file("absent.db")));

    database::open(dir_ / "no-such-dir" / "x.db", {}, ec);
    EXPECT_EQ(ec, code(errc::database_cant_open));
    try {
        database::open(dir_ / "no-such-dir" / "x.db");
        FAIL() << "expected an exception";
    } catch (const std::system_error& e) {
        EXPECT_NE(std::string(e.what()).find("no-such-dir"), std::string::npos);
    }
}

TEST_F(DatabaseTest, ReadOnlyRejectsWrites) {
    {
        database db = database::open(file("ro.db"));
        db.execute("CREATE TABLE t (x); INSERT INTO t VALUES (1);");
    }
    database_options read_only;
    read_only.read_only = true;
    database db = database::open(file("ro.db"), read_only);
    EXPECT_TRUE(db.read_only());
    EXPECT_EQ(query_int(db, "SELECT count(*) FROM t"), 1);
    std::error_code ec;
    db.execute("INSERT INTO t VALUES (2)", ec);
    EXPECT_EQ(ec, code(errc::database_error));
    EXPECT_NE(db.last_error_message().find("readonly"), std::string::npos);
}

// --- migrations -----------------------------------------------------------------------------

const std::array<migration, 3> base_migrations{{
    {1, "users", "CREATE TABLE users (id INTEGER PRIMARY KEY, impu TEXT NOT NULL UNIQUE);"},
    {2, "content",
     "CREATE TABLE content (doi TEXT PRIMARY KEY, owner INTEGER REFERENCES users(id));"},
    {3, "content title",
     "ALTER TABLE content ADD COLUMN title TEXT; CREATE INDEX content_owner ON content(owner);"},
}};

TEST_F(DatabaseTest, MigrateFreshDatabaseAppliesAllInOrder) {
    database db = database::open(file("migrate.db"));
    std::error_code ec;
    EXPECT_EQ(imsp2p::core::schema_version(db, ec), 0);
    EXPECT_FALSE(ec);
    // Given out of order: migrate() sorts by version.
    const std::array<migration, 3> shuffled{base_migrations[2], base_migrations[0],
                                            base_migrations[1]};
    EXPECT_EQ(imsp2p::core::migrate(db, shuffled), 3);
    EXPECT_EQ(imsp2p::core::schema_version(db, ec), 3);
    EXPECT_EQ(query_int(db, "PRAGMA user_version"), 3);
    EXPECT_EQ(query_text(db,
                         "SELECT group_concat(description, '|') FROM "
                         "(SELECT description FROM schema_migrations ORDER BY version)"),
              "users|content|content title");
    const std::string applied_at =
        query_text(db, "SELECT applied_at FROM schema_migrations LIMIT 1");
    EXPECT_EQ(applied_at.size(), 24U);  // 2026-11-21T15:16:09.123Z
    EXPECT_EQ(applied_at.back(), 'Z');
    db.execute("INSERT INTO content (doi, title) VALUES ('10.1/x', 'X')");

    // Running again is a no-op.
    EXPECT_EQ(imsp2p::core::migrate(db, base_migrations), 3);
    EXPECT_EQ(query_int(db, "SELECT count(*) FROM schema_migrations"), 3);
}

TEST_F(DatabaseTest, MigrateAppliesOnlyPendingOnesAfterReopen) {
    {
        database db = database::open(file("upgrade.db"));
        EXPECT_EQ(imsp2p::core::migrate(db, std::span(base_migrations).first(2)), 2);
    }
    database db = database::open(file("upgrade.db"));
    EXPECT_EQ(imsp2p::core::migrate(db, base_migrations), 3);
    EXPECT_EQ(
        query_int(db, "SELECT count(*) FROM pragma_table_info('content') WHERE name = 'title'"), 1);
}

TEST_F(DatabaseTest, MigrateRejectsNewerSchemaWithoutChangingIt) {
    database db = database::open(file("newer.db"));
    imsp2p::core::migrate(db, base_migrations);
    const std::int64_t objects = query_int(db, "SELECT count(*) FROM sqlite_master");

    std::error_code ec;
    const int version = imsp2p::core::migrate(db, std::span(base_migrations).first(2), ec);
    EXPECT_EQ(ec, code(errc::schema_too_new));
    EXPECT_EQ(version, 3);
    EXPECT_NE(db.last_error_message().find("version 3"), std::string::npos);
    EXPECT_EQ(query_int(db, "SELECT count(*) FROM sqlite_master"), objects);
    EXPECT_EQ(query_int(db, "SELECT count(*) FROM schema_migrations"), 3);
    EXPECT_FALSE(db.in_transaction());
}

TEST_F(DatabaseTest, FailingMigrationRollsBackAndKeepsEarlierVersion) {
    database db = database::open(file("failing.db"));
    const std::array<migration, 3> steps{{
        base_migrations[0],
        // The first statement succeeds, the second fails: both must be rolled back.
        {2, "broken", "CREATE TABLE half_done (x); INSERT INTO nowhere VALUES (1);"},
        {3, "never reached", "CREATE TABLE later (x);"},
    }};
    std::error_code ec;
    EXPECT_EQ(imsp2p::core::migrate(db, steps, ec), 1);
    EXPECT_EQ(ec, code(errc::migration_failed));
    const std::string message = db.last_error_message();
    EXPECT_NE(message.find("migration 2 (broken)"), std::string::npos) << message;
    EXPECT_NE(message.find("no such table: nowhere"), std::string::npos) << message;
    EXPECT_EQ(imsp2p::core::schema_version(db, ec), 1);
    EXPECT_EQ(
        query_int(db, "SELECT count(*) FROM sqlite_master WHERE name IN ('half_done', 'later')"),
        0);
    EXPECT_EQ(query_int(db, "PRAGMA user_version"), 1);
    EXPECT_FALSE(db.in_transaction());

    try {
        imsp2p::core::migrate(db, steps);
        FAIL() << "expected an exception";
    } catch (const std::system_error& e) {
        EXPECT_EQ(e.code(), code(errc::migration_failed));
        EXPECT_NE(std::string(e.what()).find("nowhere"), std::string::npos);
    }
}

TEST_F(DatabaseTest, MigrateRejectsBadVersionLists) {
    database db = database::open(":memory:");
    std::error_code ec;
    const std::array<migration, 2> duplicate{
        {{1, "a", "CREATE TABLE a (x)"}, {1, "b", "CREATE TABLE b (x)"}}};
    imsp2p::core::migrate(db, duplicate, ec);
    EXPECT_EQ(ec, code(errc::invalid_argument));
    const std::array<migration, 1> zero{{{0, "zero", "CREATE TABLE z (x)"}}};
    imsp2p::core::migrate(db, zero, ec);
    EXPECT_EQ(ec, code(errc::invalid_argument));
    EXPECT_EQ(query_int(db, "SELECT count(*) FROM sqlite_master"), 0);
}

}  // namespace
