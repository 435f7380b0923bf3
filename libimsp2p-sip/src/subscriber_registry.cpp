#include <imsp2p/sip/subscriber_registry.hpp>

#include <imsp2p/sip/error.hpp>

#include <imsp2p/core/database.hpp>
#include <imsp2p/core/error.hpp>

#include "ims_md5.hpp"

#include <array>
#include <utility>

namespace imsp2p::sip {
namespace {

const std::array<core::migration, 1> registry_migrations{{
    {1, "IMS core subscribers and registration bindings",
     "CREATE TABLE ims_subscriber ("
     "  impu TEXT PRIMARY KEY,"  // canonical form
     "  impu_text TEXT NOT NULL,"
     "  impi TEXT NOT NULL,"
     "  realm TEXT NOT NULL,"
     "  ha1 TEXT NOT NULL,"
     "  created_at INTEGER NOT NULL);"
     "CREATE INDEX ims_subscriber_impi ON ims_subscriber(impi);"
     "CREATE TABLE ims_binding ("
     "  impu TEXT NOT NULL REFERENCES ims_subscriber(impu) ON DELETE CASCADE,"
     "  contact TEXT NOT NULL,"
     "  impi TEXT NOT NULL,"
     "  received TEXT NOT NULL,"
     "  call_id TEXT NOT NULL,"
     "  cseq INTEGER NOT NULL,"
     "  expires_at INTEGER NOT NULL,"  // milliseconds since the epoch
     "  PRIMARY KEY (impu, contact));"},
}};

std::int64_t to_millis(std::chrono::system_clock::time_point time) {
    return std::chrono::duration_cast<std::chrono::milliseconds>(time.time_since_epoch()).count();
}

std::chrono::system_clock::time_point from_millis(std::int64_t millis) {
    return std::chrono::system_clock::time_point(
        std::chrono::duration_cast<std::chrono::system_clock::duration>(
            std::chrono::milliseconds(millis)));
}

template <class F>
auto or_throw(F&& function) {
    std::error_code ec;
    auto value = function(ec);
    if (ec) {
        throw std::system_error(ec);
    }
    return value;
}

}  // namespace

struct subscriber_registry::impl {
    core::database db;

    std::vector<subscriber> query_subscribers(std::string_view sql, std::string_view key,
                                              std::error_code& ec) {
        std::vector<subscriber> out;
        core::statement query = db.prepare_cached(sql, ec);
        if (ec) {
            return out;
        }
        if (!key.empty()) {
            query.bind(1, key, ec);
        }
        while (!ec && query.step(ec) == core::step_result::row) {
            subscriber entry;
            std::error_code parse_ec;
            entry.impu = core::impu::parse(query.column_text(0), parse_ec);
            entry.impi = core::impi::parse(query.column_text(1), parse_ec);
            entry.realm = query.column_text(2);
            entry.ha1 = query.column_text(3);
            if (!entry.impu.empty() && !entry.impi.empty()) {
                out.push_back(std::move(entry));
            }
        }
        return out;
    }
};

subscriber_registry::subscriber_registry(std::unique_ptr<impl> state) noexcept
    : impl_(std::move(state)) {}
subscriber_registry::subscriber_registry(subscriber_registry&& other) noexcept = default;
subscriber_registry& subscriber_registry::operator=(subscriber_registry&& other) noexcept = default;
subscriber_registry::~subscriber_registry() = default;

subscriber_registry subscriber_registry::open(const std::filesystem::path& file,
                                              std::error_code& ec) {
    auto state = std::make_unique<impl>();
    state->db = core::database::open(file, core::database_options{}, ec);
    if (!ec) {
        core::migrate(state->db, registry_migrations, ec);
    }
    return subscriber_registry(std::move(state));
}

subscriber_registry subscriber_registry::open(const std::filesystem::path& file) {
    std::error_code ec;
    subscriber_registry registry = open(file, ec);
    if (ec) {
        throw std::system_error(ec, "cannot open the subscriber registry " + file.string());
    }
    return registry;
}

std::string subscriber_registry::compute_ha1(std::string_view username, std::string_view realm,
                                             std::string_view password) {
    std::string text;
    text.reserve(username.size() + realm.size() + password.size() + 2);
    text.append(username).append(":").append(realm).append(":").append(password);
    std::string digest = detail::md5_hex(text);
    std::fill(text.begin(), text.end(), '\0');
    return digest;
}

void subscriber_registry::add(const core::impu& impu, const core::impi& impi,
                              std::string_view password, std::string_view realm,
                              std::error_code& ec) {
    ec.clear();
    if (impu.empty() || impi.empty()) {
        ec = core::errc::invalid_argument;
        return;
    }
    const std::string digest_realm = realm.empty() ? std::string(impi.realm()) : std::string(realm);
    core::statement insert = impl_->db.prepare_cached(
        "INSERT INTO ims_subscriber (impu, impu_text, impi, realm, ha1, created_at) "
        "VALUES (?1, ?2, ?3, ?4, ?5, ?6) ON CONFLICT(impu) DO NOTHING",
        ec);
    if (ec) {
        return;
    }
    insert.bind(1, impu.canonical(), ec);
    insert.bind(2, impu.str(), ec);
    insert.bind(3, impi.str(), ec);
    insert.bind(4, digest_realm, ec);
    insert.bind(5, compute_ha1(impi.str(), digest_realm, password), ec);
    insert.bind(6, to_millis(std::chrono::system_clock::now()), ec);
    if (!ec) {
        insert.run(ec);
    }
    if (!ec && impl_->db.changes() == 0) {
        ec = errc::subscriber_exists;
    }
}

void subscriber_registry::add(const core::impu& impu, const core::impi& impi,
                              std::string_view password, std::string_view realm) {
    std::error_code ec;
    add(impu, impi, password, realm, ec);
    if (ec) {
        throw std::system_error(ec, impu.str());
    }
}

void subscriber_registry::remove(const core::impu& impu, std::error_code& ec) {
    ec.clear();
    core::transaction tx(impl_->db, core::transaction_mode::immediate, ec);
    if (ec) {
        return;
    }
    core::statement bindings =
        impl_->db.prepare_cached("DELETE FROM ims_binding WHERE impu = ?1", ec);
    if (!ec) {
        bindings.bind(1, impu.canonical(), ec);
    }
    if (!ec) {
        bindings.run(ec);
    }
    core::statement erase =
        impl_->db.prepare_cached("DELETE FROM ims_subscriber WHERE impu = ?1", ec);
    if (!ec) {
        erase.bind(1, impu.canonical(), ec);
    }
    if (!ec) {
        erase.run(ec);
    }
    if (!ec && impl_->db.changes() == 0) {
        ec = errc::unknown_subscriber;
    }
    if (!ec) {
        tx.commit(ec);
    }
}

void subscriber_registry::remove(const core::impu& impu) {
    std::error_code ec;
    remove(impu, ec);
    if (ec) {
        throw std::system_error(ec, impu.str());
    }
}

std::optional<subscriber> subscriber_registry::find(const core::impu& impu, std::error_code& ec) {
    ec.clear();
    auto found = impl_->query_subscribers(
        "SELECT impu_text, impi, realm, ha1 FROM ims_subscriber WHERE impu = ?1", impu.canonical(),
        ec);
    if (ec || found.empty()) {
        return std::nullopt;
    }
    return std::move(found.front());
}

std::vector<subscriber> subscriber_registry::find_by_impi(const core::impi& impi,
                                                          std::error_code& ec) {
    ec.clear();
    return impl_->query_subscribers(
        "SELECT impu_text, impi, realm, ha1 FROM ims_subscriber WHERE impi = ?1 ORDER BY impu",
        impi.str(), ec);
}

std::vector<subscriber> subscriber_registry::list(std::error_code& ec) {
    ec.clear();
    return impl_->query_subscribers(
        "SELECT impu_text, impi, realm, ha1 FROM ims_subscriber ORDER BY impu", {}, ec);
}

std::vector<subscriber> subscriber_registry::list() {
    return or_throw([this](std::error_code& ec) { return list(ec); });
}

void subscriber_registry::save_binding(const registration_binding& binding, std::error_code& ec) {
    ec.clear();
    core::statement upsert = impl_->db.prepare_cached(
        "INSERT INTO ims_binding (impu, contact, impi, received, call_id, cseq, expires_at) "
        "VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7) ON CONFLICT(impu, contact) DO UPDATE SET "
        "impi = excluded.impi, received = excluded.received, call_id = excluded.call_id, "
        "cseq = excluded.cseq, expires_at = excluded.expires_at",
        ec);
    if (ec) {
        return;
    }
    upsert.bind(1, binding.impu.canonical(), ec);
    upsert.bind(2, binding.contact, ec);
    upsert.bind(3, binding.impi.str(), ec);
    upsert.bind(4, binding.received, ec);
    upsert.bind(5, binding.call_id, ec);
    upsert.bind(6, static_cast<std::int64_t>(binding.cseq), ec);
    upsert.bind(7, to_millis(binding.expires), ec);
    if (!ec) {
        upsert.run(ec);
    }
}

void subscriber_registry::remove_binding(const core::impu& impu, std::string_view contact,
                                         std::error_code& ec) {
    ec.clear();
    core::statement erase =
        impl_->db.prepare_cached("DELETE FROM ims_binding WHERE impu = ?1 AND contact = ?2", ec);
    if (ec) {
        return;
    }
    erase.bind(1, impu.canonical(), ec);
    erase.bind(2, contact, ec);
    if (!ec) {
        erase.run(ec);
    }
}

void subscriber_registry::remove_bindings(const core::impu& impu, std::error_code& ec) {
    ec.clear();
    core::statement erase = impl_->db.prepare_cached("DELETE FROM ims_binding WHERE impu = ?1", ec);
    if (ec) {
        return;
    }
    erase.bind(1, impu.canonical(), ec);
    if (!ec) {
        erase.run(ec);
    }
}

std::vector<registration_binding> subscriber_registry::bindings(std::error_code& ec) {
    ec.clear();
    std::vector<registration_binding> out;
    core::statement query = impl_->db.prepare_cached(
        "SELECT s.impu_text, b.impi, b.contact, b.received, b.call_id, b.cseq, b.expires_at "
        "FROM ims_binding b JOIN ims_subscriber s ON s.impu = b.impu "
        "ORDER BY s.impu, b.expires_at",
        ec);
    while (!ec && query.step(ec) == core::step_result::row) {
        registration_binding binding;
        std::error_code parse_ec;
        binding.impu = core::impu::parse(query.column_text(0), parse_ec);
        binding.impi = core::impi::parse(query.column_text(1), parse_ec);
        binding.contact = query.column_text(2);
        binding.received = query.column_text(3);
        binding.call_id = query.column_text(4);
        binding.cseq = static_cast<std::uint32_t>(query.column_int64(5));
        binding.expires = from_millis(query.column_int64(6));
        if (!binding.impu.empty()) {
            out.push_back(std::move(binding));
        }
    }
    return out;
}

std::vector<registration_binding> subscriber_registry::bindings() {
    return or_throw([this](std::error_code& ec) { return bindings(ec); });
}

std::size_t subscriber_registry::purge_expired(std::chrono::system_clock::time_point now,
                                               std::error_code& ec) {
    ec.clear();
    core::statement erase =
        impl_->db.prepare_cached("DELETE FROM ims_binding WHERE expires_at <= ?1", ec);
    if (ec) {
        return 0;
    }
    erase.bind(1, to_millis(now), ec);
    if (!ec) {
        erase.run(ec);
    }
    return ec ? 0 : static_cast<std::size_t>(impl_->db.changes());
}

}  // namespace imsp2p::sip
