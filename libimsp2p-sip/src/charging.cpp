#include <imsp2p/sip/charging.hpp>

#include <imsp2p/core/database.hpp>

#include <array>
#include <condition_variable>
#include <ctime>
#include <map>
#include <mutex>
#include <utility>
#include <vector>

namespace imsp2p::sip {

charging_backend::~charging_backend() = default;

std::string_view to_string(charge_outcome outcome) noexcept {
    switch (outcome) {
        case charge_outcome::charged:
            return "charged";
        case charge_outcome::declined:
            return "declined";
        case charge_outcome::failed:
            return "failed";
        case charge_outcome::refunded:
            return "refunded";
    }
    return "failed";
}

std::string_view to_string(charge_kind kind) noexcept {
    return kind == charge_kind::publish ? "publish" : "download";
}

namespace {

const std::array<core::migration, 1> cdr_migrations{{
    {1, "charging data records",
     "CREATE TABLE cdr ("
     " charge_id TEXT PRIMARY KEY,"
     " kind TEXT NOT NULL,"
     " user TEXT NOT NULL,"
     " provider TEXT NOT NULL,"
     " doi TEXT NOT NULL,"
     " doi_key TEXT NOT NULL,"
     " amount_minor INTEGER NOT NULL,"
     " currency TEXT NOT NULL,"
     " request_id TEXT NOT NULL,"
     " event_time_ms INTEGER NOT NULL,"
     " outcome TEXT NOT NULL,"
     " reason TEXT NOT NULL DEFAULT '',"
     " recorded_ms INTEGER NOT NULL);"
     "CREATE INDEX cdr_provider ON cdr(provider, event_time_ms);"
     "CREATE INDEX cdr_doi ON cdr(doi_key, event_time_ms);"},
}};

std::int64_t to_ms(std::chrono::system_clock::time_point time) {
    return std::chrono::duration_cast<std::chrono::milliseconds>(time.time_since_epoch()).count();
}

std::chrono::system_clock::time_point from_ms(std::int64_t ms) {
    return std::chrono::system_clock::time_point(
        std::chrono::duration_cast<std::chrono::system_clock::duration>(
            std::chrono::milliseconds(ms)));
}

std::string upper_ascii(std::string text) {
    for (char& c : text) {
        if (c >= 'a' && c <= 'z') {
            c = static_cast<char>(c - 'a' + 'A');
        }
    }
    return text;
}

charge_outcome outcome_from(std::string_view name) {
    if (name == "charged") {
        return charge_outcome::charged;
    }
    if (name == "declined") {
        return charge_outcome::declined;
    }
    if (name == "refunded") {
        return charge_outcome::refunded;
    }
    return charge_outcome::failed;
}

std::string iso8601(std::chrono::system_clock::time_point time) {
    const std::time_t seconds = std::chrono::system_clock::to_time_t(time);
    std::tm parts{};
    gmtime_r(&seconds, &parts);
    std::array<char, 32> buffer{};
    const auto size = std::strftime(buffer.data(), buffer.size(), "%Y-%m-%dT%H:%M:%SZ", &parts);
    return std::string(buffer.data(), size);
}

std::string csv_cell(std::string text) {
    if (!text.empty() && (text.front() == '=' || text.front() == '+' || text.front() == '-' ||
                          text.front() == '@' || text.front() == '\t' || text.front() == '\r')) {
        text.insert(text.begin(), '\'');
    }
    if (text.find_first_of(",\"\r\n") == std::string::npos) {
        return text;
    }
    std::string out = "\"";
    for (const char c : text) {
        if (c == '"') {
            out += '"';
        }
        out += c;
    }
    out += '"';
    return out;
}

std::optional<charge_result> stored_in(core::database& db, const std::string& charge_id) {
    auto query = db.prepare_cached("SELECT outcome, reason FROM cdr WHERE charge_id = ?1");
    query.bind(1, charge_id);
    if (query.step() != core::step_result::row) {
        return std::nullopt;
    }
    charge_result out;
    out.outcome = outcome_from(query.column_text(0));
    // A refunded charge was charged: the purchase it stands for must not be charged again.
    if (out.outcome == charge_outcome::refunded) {
        out.outcome = charge_outcome::charged;
    }
    out.reason = query.column_text(1);
    return out;
}

}  // namespace

struct sqlite_charging::state {
    mutable std::mutex mutex;  // the writing connection
    core::database db;
    // A second, read-only connection: the "already charged?" check must not wait behind a
    // batch's commit (WAL readers never wait for the writer).
    std::mutex reader_mutex;
    core::database reader;
    rating_function rating;

    /** A charge waiting in the group-commit queue (lives on the caller's stack). */
    struct pending_charge {
        const charge_record* record;
        charge_result decision;
        charge_result result;
        bool done = false;
    };
    std::mutex queue_mutex;
    std::condition_variable queue_changed;
    std::vector<pending_charge*> queue;  // guarded by queue_mutex
    bool writing = false;                // a caller is writing a batch (guarded by queue_mutex)

    std::optional<charge_result> stored(const std::string& charge_id) {
        return stored_in(db, charge_id);
    }

    void insert(const charge_record& record, const charge_result& decision) {
        auto statement = db.prepare_cached(
            "INSERT INTO cdr (charge_id, kind, user, provider, doi, doi_key, amount_minor, "
            "currency, request_id, event_time_ms, outcome, reason, recorded_ms) "
            "VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13)");
        statement.bind(1, record.charge_id);
        statement.bind(2, to_string(record.kind));
        statement.bind(3, record.user);
        statement.bind(4, record.provider);
        statement.bind(5, record.doi);
        statement.bind(6, upper_ascii(record.doi));
        statement.bind(7, record.price.amount_minor);
        statement.bind(8, record.price.currency);
        statement.bind(9, record.request_id);
        statement.bind(10, to_ms(record.time));
        statement.bind(11, to_string(decision.outcome));
        statement.bind(12, decision.reason);
        statement.bind(13, to_ms(std::chrono::system_clock::now()));
        statement.run();
    }

    /**
     * Writes a batch in one transaction (one fsync for all of them: group commit). A record
     * whose charge id is already stored (a concurrent call for the same id, earlier in this
     * batch or in an earlier one) gets the stored outcome. If the transaction fails, every
     * record of the batch fails and nothing of it is stored.
     */
    void write_batch(const std::vector<pending_charge*>& batch) {
        try {
            std::lock_guard lock(mutex);
            core::transaction txn(db);
            for (auto* item : batch) {
                if (auto known = stored(item->record->charge_id)) {
                    item->result = *known;
                } else {
                    insert(*item->record, item->decision);
                    item->result = item->decision;
                }
            }
            txn.commit();
        } catch (const std::exception& failure) {
            for (auto* item : batch) {
                item->result = {charge_outcome::failed,
                                std::string("CDR database: ") + failure.what()};
            }
        }
    }

    /**
     * Stores a decided charge durably and returns the stored outcome. Concurrent callers are
     * batched: whoever finds no batch being written writes everything queued so far, while
     * the others wait (and queue up for the next batch).
     */
    charge_result store(const charge_record& record, const charge_result& decision) {
        pending_charge mine{&record, decision, {}, false};
        std::unique_lock lock(queue_mutex);
        queue.push_back(&mine);
        while (!mine.done) {
            if (writing) {
                queue_changed.wait(lock);
                continue;
            }
            writing = true;
            std::vector<pending_charge*> batch;
            batch.swap(queue);
            lock.unlock();
            write_batch(batch);
            lock.lock();
            for (auto* item : batch) {
                item->done = true;
            }
            writing = false;
            queue_changed.notify_all();
        }
        return mine.result;
    }
};

sqlite_charging::sqlite_charging(const std::filesystem::path& path, rating_function rating)
    : impl_(std::make_unique<state>()) {
    // A CDR is money: it must survive a power cut once a purchase goes on to the DRM grant, so
    // every commit waits for the disk (FULL). Concurrent charges share one commit (store()).
    core::database_options options;
    options.synchronous = core::synchronous_mode::full;
    impl_->db = core::database::open(path, options);
    core::migrate(impl_->db, cdr_migrations);
    core::database_options reading;
    reading.read_only = true;
    impl_->reader = core::database::open(path, reading);
    impl_->rating = std::move(rating);
}

sqlite_charging::~sqlite_charging() = default;

charge_result sqlite_charging::charge(const charge_record& record) {
    try {
        {
            std::lock_guard lock(impl_->reader_mutex);
            if (auto known = stored_in(impl_->reader, record.charge_id)) {
                return *known;
            }
        }
        charge_result decision =
            impl_->rating ? impl_->rating(record) : charge_result{charge_outcome::charged, ""};
        if (decision.outcome == charge_outcome::failed ||
            decision.outcome == charge_outcome::refunded) {
            decision.outcome = charge_outcome::failed;
            return decision;
        }
        return impl_->store(record, decision);
    } catch (const std::exception& failure) {
        return {charge_outcome::failed, std::string("CDR database: ") + failure.what()};
    }
}

void sqlite_charging::refund(const std::string& charge_id, std::string_view reason,
                             std::chrono::system_clock::time_point now, std::error_code& ec) {
    ec.clear();
    std::lock_guard lock(impl_->mutex);
    auto update = impl_->db.prepare_cached(
        "UPDATE cdr SET outcome = 'refunded', reason = ?2, recorded_ms = ?3 "
        "WHERE charge_id = ?1 AND outcome = 'charged'",
        ec);
    if (ec) {
        return;
    }
    update.bind(1, charge_id, ec);
    update.bind(2, reason, ec);
    update.bind(3, to_ms(now), ec);
    if (!ec) {
        update.run(ec);
    }
}

std::vector<charging_data_record> sqlite_charging::records(const report_filter& filter) const {
    std::string sql =
        "SELECT charge_id, kind, user, provider, doi, amount_minor, currency, request_id, "
        "event_time_ms, outcome, reason, recorded_ms FROM cdr WHERE 1";
    if (filter.provider) {
        sql += " AND provider = :provider";
    }
    if (filter.doi) {
        sql += " AND doi_key = :doi";
    }
    if (filter.from) {
        sql += " AND event_time_ms >= :from";
    }
    if (filter.until) {
        sql += " AND event_time_ms < :until";
    }
    if (filter.kind) {
        sql += " AND kind = :kind";
    }
    sql += " ORDER BY event_time_ms, charge_id";
    std::lock_guard lock(impl_->mutex);
    auto query = impl_->db.prepare(sql);
    if (filter.provider) {
        query.bind(":provider", *filter.provider);
    }
    if (filter.doi) {
        query.bind(":doi", upper_ascii(*filter.doi));
    }
    if (filter.from) {
        query.bind(":from", to_ms(*filter.from));
    }
    if (filter.until) {
        query.bind(":until", to_ms(*filter.until));
    }
    if (filter.kind) {
        query.bind(":kind", to_string(*filter.kind));
    }
    std::vector<charging_data_record> out;
    while (query.step() == core::step_result::row) {
        charging_data_record row;
        row.record.charge_id = query.column_text(0);
        row.record.kind =
            query.column_text(1) == "publish" ? charge_kind::publish : charge_kind::download;
        row.record.user = query.column_text(2);
        row.record.provider = query.column_text(3);
        row.record.doi = query.column_text(4);
        row.record.price.amount_minor = query.column_int64(5);
        row.record.price.currency = query.column_text(6);
        row.record.request_id = query.column_text(7);
        row.record.time = from_ms(query.column_int64(8));
        row.outcome = outcome_from(query.column_text(9));
        row.reason = query.column_text(10);
        row.recorded_at = from_ms(query.column_int64(11));
        out.push_back(std::move(row));
    }
    return out;
}

nlohmann::json sqlite_charging::report_json(const report_filter& filter) const {
    nlohmann::json rows = nlohmann::json::array();
    std::map<std::string, std::pair<std::int64_t, std::uint64_t>> totals;
    for (const auto& row : records(filter)) {
        rows.push_back({{"time", std::chrono::duration_cast<std::chrono::seconds>(
                                     row.record.time.time_since_epoch())
                                     .count()},
                        {"charge_id", row.record.charge_id},
                        {"kind", to_string(row.record.kind)},
                        {"user", row.record.user},
                        {"provider", row.record.provider},
                        {"doi", row.record.doi},
                        {"price",
                         {{"amount_minor", row.record.price.amount_minor},
                          {"currency", row.record.price.currency}}},
                        {"outcome", to_string(row.outcome)},
                        {"reason", row.reason},
                        {"request_id", row.record.request_id}});
        if (row.outcome == charge_outcome::charged) {
            auto& total = totals[row.record.price.currency];
            total.first += row.record.price.amount_minor;
            ++total.second;
        }
    }
    nlohmann::json sums = nlohmann::json::array();
    for (const auto& [currency, total] : totals) {
        sums.push_back(
            {{"currency", currency}, {"amount_minor", total.first}, {"count", total.second}});
    }
    return {{"provider", filter.provider ? nlohmann::json(*filter.provider) : nlohmann::json()},
            {"records", std::move(rows)},
            {"totals", std::move(sums)}};
}

std::string sqlite_charging::report_csv(const report_filter& filter) const {
    std::string out =
        "time,charge_id,kind,provider,user,doi,amount_minor,currency,outcome,reason,request_id\r\n";
    for (const auto& row : records(filter)) {
        out += iso8601(row.record.time) + "," + csv_cell(row.record.charge_id) + "," +
               std::string(to_string(row.record.kind)) + "," + csv_cell(row.record.provider) + "," +
               csv_cell(row.record.user) + "," + csv_cell(row.record.doi) + "," +
               std::to_string(row.record.price.amount_minor) + "," +
               csv_cell(row.record.price.currency) + "," + std::string(to_string(row.outcome)) +
               "," + csv_cell(row.reason) + "," + csv_cell(row.record.request_id) + "\r\n";
    }
    return out;
}

}  // namespace imsp2p::sip
