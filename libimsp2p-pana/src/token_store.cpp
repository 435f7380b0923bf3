// One-pass token store at the HSS (SQLite) and the sealed PAA -> HSS deposit message.

#include <imsp2p/pana/token_store.hpp>

#include <imsp2p/pana/error.hpp>

#include <imsp2p/core/error.hpp>

#include <array>
#include <cstdint>
#include <string>
#include <utility>

namespace imsp2p::pana {
namespace {

constexpr std::size_t min_token_size = 16;
constexpr std::size_t max_token_size = 64;
constexpr char deposit_magic[] = "IMTD2";
constexpr std::size_t deposit_magic_size = sizeof deposit_magic - 1;
constexpr char seal_context[] = "imsp2p one-pass token v1|";

constexpr char schema[] =
    "CREATE TABLE IF NOT EXISTS one_pass_token ("
    " impi TEXT PRIMARY KEY NOT NULL,"
    " token BLOB NOT NULL,"          // the token, or nonce || AES-256-GCM(token) || tag
    " sealed INTEGER NOT NULL,"      // 0: clear, 1: sealed with the master key
    " expires_at INTEGER NOT NULL,"  // seconds since 1970
    " used INTEGER NOT NULL DEFAULT 0,"
    " stored_at INTEGER NOT NULL);"
    "CREATE TABLE IF NOT EXISTS one_pass_deposit ("
    " id BLOB PRIMARY KEY NOT NULL,"  // the 16-byte deposit id
    " expires_at INTEGER NOT NULL)";  // seconds since 1970; the id is kept until then

std::int64_t unix_seconds(std::chrono::system_clock::time_point t) {
    return std::chrono::duration_cast<std::chrono::seconds>(t.time_since_epoch()).count();
}

core::byte_vector seal_aad(const core::impi& impi) {
    return core::to_bytes(std::string(seal_context) + impi.str());
}

}  // namespace

struct token_store::impl {
    core::database db;
    core::secret_bytes master_key;
};

token_store::token_store(std::unique_ptr<impl> state) noexcept : impl_(std::move(state)) {}
token_store::token_store(token_store&& other) noexcept = default;
token_store& token_store::operator=(token_store&& other) noexcept = default;
token_store::~token_store() = default;

token_store token_store::open(const std::filesystem::path& file, token_store_options options,
                              std::error_code& ec) {
    ec.clear();
    auto state = std::make_unique<impl>();
    if (!options.master_key.empty() && options.master_key.size() != core::aes256_key_size) {
        ec = core::errc::bad_key_size;
        return token_store(std::move(state));
    }
    state->master_key = std::move(options.master_key);
    state->db = core::database::open(file, options.database, ec);
    if (!ec) {
        state->db.execute(schema, ec);
    }
    return token_store(std::move(state));
}

token_store token_store::open(const std::filesystem::path& file, token_store_options options) {
    std::error_code ec;
    token_store store = open(file, std::move(options), ec);
    if (ec) {
        core::throw_error(ec, "token store " + file.string());
    }
    return store;
}

void token_store::store(const core::impi& impi, core::byte_view token,
                        std::chrono::system_clock::time_point expiry, std::error_code& ec) {
    ec.clear();
    if (!impl_ || !impl_->db.is_open()) {
        ec = core::errc::invalid_argument;
        return;
    }
    if (impi.empty() || token.size() < min_token_size || token.size() > max_token_size) {
        ec = core::errc::invalid_argument;
        return;
    }
    core::byte_vector blob;
    bool sealed = false;
    if (impl_->master_key.empty()) {
        blob.assign(token.begin(), token.end());
    } else {
        sealed = true;
        blob.resize(core::aes_gcm_nonce_size);
        core::random_bytes(core::mutable_byte_view(blob), ec);
        if (ec) {
            return;
        }
        try {
            const core::byte_vector body =
                core::aes256gcm_seal(impl_->master_key.view(), blob, seal_aad(impi), token);
            blob.insert(blob.end(), body.begin(), body.end());
        } catch (const std::system_error& error) {
            ec = error.code();
            return;
        }
    }
    core::statement insert = impl_->db.prepare_cached(
        "INSERT INTO one_pass_token (impi, token, sealed, expires_at, used, stored_at) "
        "VALUES (?1, ?2, ?3, ?4, 0, ?5) ON CONFLICT (impi) DO UPDATE SET token = excluded.token,"
        " sealed = excluded.sealed, expires_at = excluded.expires_at, used = 0,"
        " stored_at = excluded.stored_at",
        ec);
    if (!ec) {
        insert.bind(1, impi.str(), ec);
    }
    if (!ec) {
        insert.bind(2, blob, ec);
    }
    if (!ec) {
        insert.bind(3, sealed, ec);
    }
    if (!ec) {
        insert.bind(4, unix_seconds(expiry), ec);
    }
    if (!ec) {
        insert.bind(5, unix_seconds(std::chrono::system_clock::now()), ec);
    }
    if (!ec) {
        insert.run(ec);
    }
    std::fill(blob.begin(), blob.end(), std::uint8_t{0});
}

void token_store::store(const core::impi& impi, core::byte_view token,
                        std::chrono::system_clock::time_point expiry) {
    std::error_code ec;
    store(impi, token, expiry, ec);
    if (ec) {
        core::throw_error(ec, "storing the one-pass token of " + impi.str());
    }
}

void token_store::consume(const core::impi& impi, const token_proof_check& check,
                          std::chrono::system_clock::time_point now, std::error_code& ec) {
    ec.clear();
    if (!impl_ || !impl_->db.is_open() || impi.empty() || !check) {
        ec = core::errc::invalid_argument;
        return;
    }
    core::transaction tx(impl_->db, core::transaction_mode::immediate, ec);
    if (ec) {
        return;
    }
    core::statement select = impl_->db.prepare_cached(
        "SELECT token, sealed, expires_at, used FROM one_pass_token WHERE impi = ?1", ec);
    if (!ec) {
        select.bind(1, impi.str(), ec);
    }
    if (ec) {
        return;
    }
    const core::step_result row = select.step(ec);
    if (ec) {
        return;
    }
    if (row != core::step_result::row) {
        ec = errc::token_unknown;
        return;
    }
    core::byte_vector blob = select.column_blob(0);
    const bool sealed = select.column_int64(1) != 0;
    const std::int64_t expires_at = select.column_int64(2);
    const bool used = select.column_int64(3) != 0;
    select.reset();
    if (used) {
        ec = errc::token_used;
        return;
    }
    if (unix_seconds(now) >= expires_at) {
        ec = errc::token_expired;
        return;
    }
    core::secret_bytes token;
    if (sealed) {
        if (impl_->master_key.empty() ||
            blob.size() < core::aes_gcm_nonce_size + core::aes_gcm_tag_size) {
            ec = core::errc::bad_key;
            return;
        }
        const core::byte_view nonce(blob.data(), core::aes_gcm_nonce_size);
        const core::byte_view body(blob.data() + core::aes_gcm_nonce_size,
                                   blob.size() - core::aes_gcm_nonce_size);
        token = core::aes256gcm_open(impl_->master_key.view(), nonce, seal_aad(impi), body, ec);
        if (ec) {
            return;
        }
    } else {
        token = core::secret_bytes(blob);
        std::fill(blob.begin(), blob.end(), std::uint8_t{0});
    }
    if (!check(token.view())) {
        ec = errc::token_proof_mismatch;
        return;  // rolled back: the token stays usable
    }
    core::statement mark =
        impl_->db.prepare_cached("UPDATE one_pass_token SET used = 1 WHERE impi = ?1", ec);
    if (!ec) {
        mark.bind(1, impi.str(), ec);
    }
    if (!ec) {
        mark.run(ec);
    }
    if (!ec) {
        tx.commit(ec);
    }
}

void token_store::consume(const core::impi& impi, const token_proof_check& check,
                          std::error_code& ec) {
    consume(impi, check, std::chrono::system_clock::now(), ec);
}

std::size_t token_store::purge(std::chrono::system_clock::time_point now, std::error_code& ec) {
    ec.clear();
    if (!impl_ || !impl_->db.is_open()) {
        ec = core::errc::invalid_argument;
        return 0;
    }
    core::statement count = impl_->db.prepare_cached(
        "SELECT count(*) FROM one_pass_token WHERE used = 1 OR expires_at <= ?1", ec);
    if (!ec) {
        count.bind(1, unix_seconds(now), ec);
    }
    std::size_t removed = 0;
    if (!ec && count.step(ec) == core::step_result::row && !ec) {
        removed = static_cast<std::size_t>(count.column_int64(0));
    }
    count.reset();
    if (ec) {
        return 0;
    }
    core::statement erase = impl_->db.prepare_cached(
        "DELETE FROM one_pass_token WHERE used = 1 OR expires_at <= ?1", ec);
    if (!ec) {
        erase.bind(1, unix_seconds(now), ec);
    }
    if (!ec) {
        erase.run(ec);
    }
    return ec ? 0 : removed;
}

void token_store::accept_deposit(const token_deposit& deposit,
                                 std::chrono::system_clock::time_point now, std::error_code& ec) {
    ec.clear();
    if (!impl_ || !impl_->db.is_open()) {
        ec = core::errc::invalid_argument;
        return;
    }
    if (deposit.expiry <= now) {
        ec = errc::token_expired;
        return;
    }
    core::transaction tx(impl_->db, core::transaction_mode::immediate, ec);
    if (ec) {
        return;
    }
    const core::byte_vector id(deposit.id.begin(), deposit.id.end());
    core::statement forget =
        impl_->db.prepare_cached("DELETE FROM one_pass_deposit WHERE expires_at <= ?1", ec);
    if (!ec) {
        forget.bind(1, unix_seconds(now), ec);
    }
    if (!ec) {
        forget.run(ec);
    }
    if (ec) {
        return;
    }
    core::statement seen =
        impl_->db.prepare_cached("SELECT 1 FROM one_pass_deposit WHERE id = ?1", ec);
    if (!ec) {
        seen.bind(1, id, ec);
    }
    if (ec) {
        return;
    }
    const core::step_result row = seen.step(ec);
    seen.reset();
    if (ec) {
        return;
    }
    if (row == core::step_result::row) {
        ec = errc::token_deposit_replayed;
        return;
    }
    core::statement remember = impl_->db.prepare_cached(
        "INSERT INTO one_pass_deposit (id, expires_at) VALUES (?1, ?2)", ec);
    if (!ec) {
        remember.bind(1, id, ec);
    }
    if (!ec) {
        remember.bind(2, unix_seconds(deposit.expiry), ec);
    }
    if (!ec) {
        remember.run(ec);
    }
    if (!ec) {
        store(deposit.impi, deposit.token.view(), deposit.expiry, ec);
    }
    if (!ec) {
        tx.commit(ec);
    }
}

eap_tls_token_sink make_token_store_sink(token_store& store, std::chrono::seconds lifetime) {
    return [&store, lifetime](const std::string& identity, core::byte_view token) {
        std::error_code ec;
        const core::impi impi = core::impi::parse(identity, ec);
        if (ec) {
            return;
        }
        store.store(impi, token, std::chrono::system_clock::now() + lifetime);
    };
}

// --- deposits --------------------------------------------------------------------------------

core::byte_vector seal_token_deposit(core::byte_view service_key, const core::impi& impi,
                                     core::byte_view token,
                                     std::chrono::system_clock::time_point expiry,
                                     std::error_code& ec) {
    ec.clear();
    if (service_key.size() != token_service_key_size) {
        ec = core::errc::bad_key_size;
        return {};
    }
    if (impi.empty() || token.size() < min_token_size || token.size() > max_token_size) {
        ec = core::errc::invalid_argument;
        return {};
    }
    const auto seconds = static_cast<std::uint64_t>(unix_seconds(expiry));
    core::secret_bytes plain(token_deposit_id_size + 8 + 1 + token.size() + impi.str().size());
    std::uint8_t* out = plain.data();
    core::random_bytes(core::mutable_byte_view(out, token_deposit_id_size), ec);
    if (ec) {
        return {};
    }
    out += token_deposit_id_size;
    for (int shift = 56; shift >= 0; shift -= 8) {
        *out++ = static_cast<std::uint8_t>(seconds >> shift);
    }
    *out++ = static_cast<std::uint8_t>(token.size());
    out = std::copy(token.begin(), token.end(), out);
    const std::string& name = impi.str();
    std::copy(name.begin(), name.end(), out);

    core::byte_vector message(deposit_magic, deposit_magic + deposit_magic_size);
    std::array<std::uint8_t, core::aes_gcm_nonce_size> nonce{};
    core::random_bytes(nonce, ec);
    if (ec) {
        return {};
    }
    message.insert(message.end(), nonce.begin(), nonce.end());
    try {
        const core::byte_vector body = core::aes256gcm_seal(
            service_key, nonce, core::as_bytes(std::string_view(deposit_magic)), plain.view());
        message.insert(message.end(), body.begin(), body.end());
    } catch (const std::system_error& error) {
        ec = error.code();
        return {};
    }
    return message;
}

std::optional<token_deposit> open_token_deposit(core::byte_view service_key, core::byte_view sealed,
                                                std::chrono::system_clock::time_point now,
                                                std::error_code& ec) {
    ec.clear();
    if (service_key.size() != token_service_key_size) {
        ec = core::errc::bad_key_size;
        return std::nullopt;
    }
    const std::size_t header = deposit_magic_size + core::aes_gcm_nonce_size;
    constexpr std::size_t fixed = token_deposit_id_size + 9;
    if (sealed.size() < header + core::aes_gcm_tag_size + fixed + min_token_size + 1 ||
        !std::equal(sealed.begin(), sealed.begin() + deposit_magic_size, deposit_magic)) {
        ec = errc::token_service_unauthorized;
        return std::nullopt;
    }
    std::error_code open_error;
    const core::secret_bytes plain = core::aes256gcm_open(
        service_key, sealed.subspan(deposit_magic_size, core::aes_gcm_nonce_size),
        core::as_bytes(std::string_view(deposit_magic)), sealed.subspan(header), open_error);
    if (open_error) {
        ec = errc::token_service_unauthorized;
        return std::nullopt;
    }
    if (plain.size() < fixed + min_token_size + 1) {
        ec = errc::token_service_unauthorized;
        return std::nullopt;
    }
    token_deposit deposit;
    const std::uint8_t* in = plain.data();
    std::copy(in, in + token_deposit_id_size, deposit.id.begin());
    in += token_deposit_id_size;
    std::uint64_t seconds = 0;
    for (int i = 0; i < 8; ++i) {
        seconds = (seconds << 8) | *in++;
    }
    const std::size_t token_size = *in++;
    // An expiry the clock cannot represent (past year 2262 with nanosecond ticks) is malformed.
    const auto max_seconds = static_cast<std::uint64_t>(
        std::chrono::duration_cast<std::chrono::seconds>(std::chrono::system_clock::duration::max())
            .count());
    if (seconds > max_seconds || token_size < min_token_size || token_size > max_token_size ||
        plain.size() < fixed + token_size + 1) {
        ec = errc::token_service_unauthorized;
        return std::nullopt;
    }
    deposit.token = core::secret_bytes(core::byte_view(in, token_size));
    in += token_size;
    deposit.impi = core::impi::parse(
        std::string_view(reinterpret_cast<const char*>(in),
                         static_cast<std::size_t>(plain.data() + plain.size() - in)),
        ec);
    if (ec) {
        ec = errc::token_service_unauthorized;
        return std::nullopt;
    }
    deposit.expiry = std::chrono::system_clock::time_point(
        std::chrono::seconds(static_cast<std::int64_t>(seconds)));
    if (deposit.expiry <= now) {
        ec = errc::token_expired;
        return std::nullopt;
    }
    return deposit;
}

}  // namespace imsp2p::pana
