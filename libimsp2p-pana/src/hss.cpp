// Home network side of 3GPP AKA: vector generation, AUTS verification and the subscriber store.

#include <imsp2p/pana/hss.hpp>

#include <imsp2p/pana/error.hpp>

#include <imsp2p/core/error.hpp>

#include <openssl/crypto.h>
#include <openssl/rand.h>

#include <pthread.h>

#include <algorithm>
#include <array>
#include <atomic>
#include <chrono>
#include <cstring>
#include <mutex>
#include <string>
#include <string_view>
#include <utility>

namespace imsp2p::pana {

// ---------------------------------------------------------------------------------------------
// vector_generator

namespace {

// Incremented in every child process after fork(), so that a random pool filled before the
// fork is never used by both processes.
std::atomic<unsigned> fork_generation{0};

void note_fork_in_child() {
    fork_generation.fetch_add(1, std::memory_order_relaxed);
}

void register_fork_handler() {
    static std::once_flag once;
    std::call_once(once, [] { ::pthread_atfork(nullptr, nullptr, note_fork_in_child); });
}

// Random bytes from the OpenSSL CSPRNG, fetched 4 KiB at a time: one RAND_bytes call costs
// about as much as a whole Milenage vector, so fetching 16 bytes per call would halve the rate.
class random_pool {
  public:
    random_pool() { register_fork_handler(); }
    random_pool(const random_pool&) = delete;
    random_pool& operator=(const random_pool&) = delete;
    ~random_pool() { OPENSSL_cleanse(bytes_.data(), bytes_.size()); }

    void take(std::uint8_t* out, std::size_t size) {
        if (size > bytes_.size()) {
            core::random_bytes(core::mutable_byte_view(out, size));
            return;
        }
        const unsigned generation = fork_generation.load(std::memory_order_relaxed);
        if (used_ + size > bytes_.size() || generation != generation_) {
            core::random_bytes(core::mutable_byte_view(bytes_));  // throws crypto_failure
            used_ = 0;
            generation_ = generation;
        }
        std::memcpy(out, bytes_.data() + used_, size);
        OPENSSL_cleanse(bytes_.data() + used_, size);
        used_ += size;
    }

  private:
    std::array<std::uint8_t, 4096> bytes_{};
    std::size_t used_ = sizeof(bytes_);
    unsigned generation_ = 0;
};

}  // namespace

struct vector_generator::impl {
    milenage algorithms{aka_key{}, aka_opc{}};
    random_pool randomness;
};

vector_generator::vector_generator() : impl_(std::make_unique<impl>()) {}
vector_generator::vector_generator(vector_generator&& other) noexcept = default;
vector_generator& vector_generator::operator=(vector_generator&& other) noexcept = default;
vector_generator::~vector_generator() = default;

authentication_vector vector_generator::generate(const aka_key& k, const aka_opc& opc,
                                                 const aka_amf& amf, sqn sequence) {
    aka_rand rand{};
    impl_->randomness.take(rand.data(), rand.size());
    return generate(k, opc, amf, sequence, rand);
}

authentication_vector vector_generator::generate(const aka_key& k, const aka_opc& opc,
                                                 const aka_amf& amf, sqn sequence,
                                                 const aka_rand& rand) {
    impl_->algorithms.set_keys(k, opc);
    milenage_outputs out = impl_->algorithms.compute(rand, sequence, amf);
    authentication_vector vector;
    vector.rand = rand;
    vector.xres = out.res;
    vector.ck = out.ck;
    vector.ik = out.ik;
    vector.autn = make_autn(sequence, out.ak, amf, out.mac_a);
    vector.sequence = sequence;
    OPENSSL_cleanse(&out, sizeof(out));
    return vector;
}

sqn vector_generator::verify_auts(const aka_key& k, const aka_opc& opc, const aka_rand& rand,
                                  const aka_auts& auts, std::error_code& ec) {
    impl_->algorithms.set_keys(k, opc);
    const aka_ak ak_star = impl_->algorithms.f5star(rand);
    aka_sqn_bytes concealed{};
    for (std::size_t i = 0; i < concealed.size(); ++i) {
        concealed[i] = static_cast<std::uint8_t>(auts[i] ^ ak_star[i]);
    }
    const sqn sqn_ms = sqn::from_bytes(concealed);
    const aka_mac expected = impl_->algorithms.f1star(rand, sqn_ms, resynchronisation_amf);
    if (!core::constant_time_equal(expected, core::byte_view(auts.data() + 6, 8))) {
        ec = errc::bad_auts;
        return sqn{};
    }
    ec.clear();
    return sqn_ms;
}

// ---------------------------------------------------------------------------------------------
// subscriber_store

namespace {

constexpr std::int64_t protection_none = 0;
constexpr std::int64_t protection_aes256gcm = 1;
constexpr std::size_t credentials_size = 32;  // K || OPc
constexpr std::string_view wrap_context = "imsp2p/aka-subscriber/v1:";

const std::array<core::migration, 1>& store_migrations() {
    static const std::array<core::migration, 1> migrations{
        core::migration{1, "AKA subscribers: IMPI -> K, OPc (optionally wrapped), AMF, SQN_HE",
                        "CREATE TABLE aka_subscriber ("
                        "  impi TEXT NOT NULL PRIMARY KEY,"
                        "  protection INTEGER NOT NULL CHECK (protection IN (0, 1)),"
                        "  credentials BLOB NOT NULL,"
                        "  amf BLOB NOT NULL CHECK (length(amf) = 2),"
                        "  sqn INTEGER NOT NULL CHECK (sqn >= 0 AND sqn <= 281474976710655),"
                        "  created_at INTEGER NOT NULL,"
                        "  updated_at INTEGER NOT NULL"
                        ") STRICT;"}};
    return migrations;
}

std::int64_t unix_now() {
    return std::chrono::duration_cast<std::chrono::seconds>(
               std::chrono::system_clock::now().time_since_epoch())
        .count();
}

core::byte_vector wrap_aad(const core::impi& impi) {
    std::string aad(wrap_context);
    aad += impi.str();
    return core::to_bytes(aad);
}

template <std::size_t N>
void copy_out(const std::uint8_t* from, std::array<std::uint8_t, N>& to) {
    std::memcpy(to.data(), from, N);
}

}  // namespace

struct subscriber_store::impl {
    core::database db;
    core::secret_bytes master_key;

    // Serialises K || OPc for the credentials column, wrapped when a master key is set.
    core::byte_vector seal(const subscriber_record& record, std::int64_t& protection,
                           std::error_code& ec) {
        core::secret_bytes plain(credentials_size);
        std::memcpy(plain.data(), record.k.data(), 16);
        std::memcpy(plain.data() + 16, record.opc.data(), 16);
        if (master_key.empty()) {
            protection = protection_none;
            ec.clear();
            return core::byte_vector(plain.begin(), plain.end());  // caller wipes after binding
        }
        protection = protection_aes256gcm;
        core::byte_vector blob(core::aes_gcm_nonce_size);
        core::random_bytes(core::mutable_byte_view(blob), ec);
        if (ec) {
            return {};
        }
        const core::byte_vector aad = wrap_aad(record.impi);
        core::byte_vector sealed;
        try {
            sealed = core::aes256gcm_seal(master_key.view(), blob, aad, plain.view());
        } catch (const std::system_error& error) {
            ec = error.code();
            return {};
        }
        blob.insert(blob.end(), sealed.begin(), sealed.end());
        return blob;
    }

    void open_credentials(const core::impi& impi, std::int64_t protection,
                          const core::byte_vector& blob, subscriber_record& record,
                          std::error_code& ec) {
        if (protection == protection_none) {
            if (blob.size() != credentials_size) {
                ec = core::errc::database_corrupt;
                return;
            }
            copy_out(blob.data(), record.k);
            copy_out(blob.data() + 16, record.opc);
            ec.clear();
            return;
        }
        if (protection != protection_aes256gcm) {
            ec = core::errc::database_corrupt;
            return;
        }
        if (master_key.empty()) {
            ec = core::errc::bad_key;  // the row is wrapped: a master key is needed
            return;
        }
        if (blob.size() != core::aes_gcm_nonce_size + credentials_size + core::aes_gcm_tag_size) {
            ec = core::errc::database_corrupt;
            return;
        }
        const core::byte_view nonce(blob.data(), core::aes_gcm_nonce_size);
        const core::byte_view sealed(blob.data() + core::aes_gcm_nonce_size,
                                     blob.size() - core::aes_gcm_nonce_size);
        const core::secret_bytes plain =
            core::aes256gcm_open(master_key.view(), nonce, wrap_aad(impi), sealed, ec);
        if (ec) {
            return;
        }
        copy_out(plain.data(), record.k);
        copy_out(plain.data() + 16, record.opc);
    }

    void write(const subscriber_record& record, bool insert, std::error_code& ec) {
        if (record.impi.empty()) {
            ec = core::errc::invalid_argument;
            return;
        }
        std::int64_t protection = 0;
        core::byte_vector credentials = seal(record, protection, ec);
        if (ec) {
            return;
        }
        const std::int64_t now = unix_now();
        core::statement statement = db.prepare_cached(
            insert ? std::string_view("INSERT INTO aka_subscriber (impi, protection, credentials, "
                                      "amf, sqn, created_at, updated_at) VALUES (:impi, "
                                      ":protection, :credentials, :amf, :sqn, :now, :now)")
                   : std::string_view("UPDATE aka_subscriber SET protection = :protection, "
                                      "credentials = :credentials, amf = :amf, sqn = :sqn, "
                                      "updated_at = :now WHERE impi = :impi"),
            ec);
        if (!ec) {
            statement.bind(":impi", record.impi.str(), ec);
        }
        if (!ec) {
            statement.bind(":protection", protection, ec);
        }
        if (!ec) {
            statement.bind(":credentials", credentials, ec);
        }
        if (!ec) {
            statement.bind(":amf", core::byte_view(record.amf), ec);
        }
        if (!ec) {
            statement.bind(":sqn", static_cast<std::int64_t>(record.last_sqn.value()), ec);
        }
        if (!ec) {
            statement.bind(":now", now, ec);
        }
        wipe(credentials);
        if (!ec) {
            statement.run(ec);
        }
        if (ec == core::errc::database_constraint && insert) {
            ec = errc::subscriber_exists;
            return;
        }
        if (!ec && !insert && db.changes() == 0) {
            ec = errc::unknown_subscriber;
        }
    }

    subscriber_record read(const core::impi& impi, std::error_code& ec) {
        subscriber_record record;
        core::statement statement = db.prepare_cached(
            "SELECT protection, credentials, amf, sqn FROM aka_subscriber WHERE impi = :impi", ec);
        if (!ec) {
            statement.bind(":impi", impi.str(), ec);
        }
        if (ec) {
            return record;
        }
        if (statement.step(ec) != core::step_result::row) {
            if (!ec) {
                ec = errc::unknown_subscriber;
            }
            return record;
        }
        const auto protection = statement.column<std::int64_t>(0);
        core::byte_vector credentials = statement.column<core::byte_vector>(1);
        const core::byte_vector amf = statement.column<core::byte_vector>(2);
        const auto last = statement.column<std::int64_t>(3);
        statement.reset();
        if (amf.size() != 2 || last < 0 || static_cast<std::uint64_t>(last) > sqn::max_value) {
            wipe(credentials);
            ec = core::errc::database_corrupt;
            return record;
        }
        open_credentials(impi, protection, credentials, record, ec);
        wipe(credentials);
        if (ec) {
            return subscriber_record{};
        }
        record.impi = impi;
        copy_out(amf.data(), record.amf);
        record.last_sqn = sqn(static_cast<std::uint64_t>(last));
        return record;
    }

    void set_sqn(const core::impi& impi, sqn value, std::error_code& ec) {
        core::statement statement = db.prepare_cached(
            "UPDATE aka_subscriber SET sqn = :sqn, updated_at = :now WHERE impi = :impi", ec);
        if (!ec) {
            statement.bind(":sqn", static_cast<std::int64_t>(value.value()), ec);
        }
        if (!ec) {
            statement.bind(":now", unix_now(), ec);
        }
        if (!ec) {
            statement.bind(":impi", impi.str(), ec);
        }
        if (!ec) {
            statement.run(ec);
        }
        if (!ec && db.changes() == 0) {
            ec = errc::unknown_subscriber;
        }
    }
};

namespace {

void throw_if(const std::error_code& ec, const char* what) {
    if (ec) {
        core::throw_error(ec, what);
    }
}

}  // namespace

subscriber_store::subscriber_store(std::unique_ptr<impl> state) noexcept
    : impl_(std::move(state)) {}
subscriber_store::subscriber_store(subscriber_store&& other) noexcept = default;
subscriber_store& subscriber_store::operator=(subscriber_store&& other) noexcept = default;
subscriber_store::~subscriber_store() = default;

subscriber_store subscriber_store::open(const std::filesystem::path& file,
                                        subscriber_store_options options, std::error_code& ec) {
    auto state = std::make_unique<impl>();
    if (!options.master_key.empty() && options.master_key.size() != core::aes256_key_size) {
        ec = core::errc::bad_key_size;
        return subscriber_store(std::move(state));
    }
    state->master_key = std::move(options.master_key);
    state->db = core::database::open(file, options.database, ec);
    if (!ec) {
        core::migrate(state->db, store_migrations(), ec);
    }
    return subscriber_store(std::move(state));
}

subscriber_store subscriber_store::open(const std::filesystem::path& file,
                                        subscriber_store_options options) {
    std::error_code ec;
    subscriber_store store = open(file, std::move(options), ec);
    if (ec) {
        core::throw_error(ec, "subscriber store " + file.string());
    }
    return store;
}

void subscriber_store::create(const subscriber_record& record, std::error_code& ec) {
    impl_->write(record, true, ec);
}

void subscriber_store::create(const subscriber_record& record) {
    std::error_code ec;
    create(record, ec);
    if (ec) {
        core::throw_error(ec, "provisioning " + record.impi.str());
    }
}

void subscriber_store::update(const subscriber_record& record, std::error_code& ec) {
    impl_->write(record, false, ec);
}

void subscriber_store::update(const subscriber_record& record) {
    std::error_code ec;
    update(record, ec);
    if (ec) {
        core::throw_error(ec, "updating " + record.impi.str());
    }
}

void subscriber_store::remove(const core::impi& impi, std::error_code& ec) {
    core::statement statement =
        impl_->db.prepare_cached("DELETE FROM aka_subscriber WHERE impi = :impi", ec);
    if (!ec) {
        statement.bind(":impi", impi.str(), ec);
    }
    if (!ec) {
        statement.run(ec);
    }
    if (!ec && impl_->db.changes() == 0) {
        ec = errc::unknown_subscriber;
    }
}

void subscriber_store::remove(const core::impi& impi) {
    std::error_code ec;
    remove(impi, ec);
    if (ec) {
        core::throw_error(ec, "deleting " + impi.str());
    }
}

subscriber_record subscriber_store::find(const core::impi& impi, std::error_code& ec) {
    return impl_->read(impi, ec);
}

subscriber_record subscriber_store::find(const core::impi& impi) {
    std::error_code ec;
    subscriber_record record = find(impi, ec);
    if (ec) {
        core::throw_error(ec, "reading " + impi.str());
    }
    return record;
}

std::vector<core::impi> subscriber_store::list(std::error_code& ec) {
    std::vector<core::impi> identities;
    core::statement statement =
        impl_->db.prepare_cached("SELECT impi FROM aka_subscriber ORDER BY impi", ec);
    while (!ec && statement.step(ec) == core::step_result::row) {
        core::impi identity = core::impi::parse(statement.column<std::string>(0), ec);
        if (ec) {
            ec = core::errc::database_corrupt;
            break;
        }
        identities.push_back(std::move(identity));
    }
    if (ec) {
        identities.clear();
    }
    return identities;
}

std::vector<core::impi> subscriber_store::list() {
    std::error_code ec;
    std::vector<core::impi> identities = list(ec);
    throw_if(ec, "listing subscribers");
    return identities;
}

void subscriber_store::set_sqn(const core::impi& impi, sqn last) {
    std::error_code ec;
    set_sqn(impi, last, ec);
    if (ec) {
        core::throw_error(ec, "setting the SQN of " + impi.str());
    }
}

core::database& subscriber_store::database() noexcept {
    return impl_->db;
}

void subscriber_store::set_sqn(const core::impi& impi, sqn last, std::error_code& ec) {
    impl_->set_sqn(impi, last, ec);
}

// ---------------------------------------------------------------------------------------------
// hss

hss::hss(subscriber_store& store, const sqn_policy& policy) : store_(&store), policy_(policy) {}

std::vector<authentication_vector> hss::generate_vectors(const core::impi& impi, std::size_t count,
                                                         std::error_code& ec) {
    std::vector<authentication_vector> vectors;
    if (count == 0 || count > 32 || !policy_.valid()) {
        ec = core::errc::invalid_argument;
        return vectors;
    }
    subscriber_record record;
    std::vector<sqn> numbers;
    {
        core::transaction reservation(store_->database(), core::transaction_mode::immediate, ec);
        if (ec) {
            return vectors;
        }
        record = store_->find(impi, ec);
        if (ec) {
            return vectors;
        }
        sqn current = record.last_sqn;
        for (std::size_t i = 0; i < count; ++i) {
            current = next_sqn(current, policy_, ec);
            if (ec) {
                return vectors;
            }
            numbers.push_back(current);
        }
        store_->set_sqn(impi, current, ec);
        if (!ec) {
            reservation.commit(ec);
        }
        if (ec) {
            return vectors;
        }
    }
    vectors.reserve(count);
    try {
        for (const sqn number : numbers) {
            vectors.push_back(generator_.generate(record.k, record.opc, record.amf, number));
        }
    } catch (const std::system_error& error) {
        ec = error.code();
        vectors.clear();
        return vectors;
    }
    ec.clear();
    return vectors;
}

authentication_vector hss::generate_vector(const core::impi& impi, std::error_code& ec) {
    std::vector<authentication_vector> vectors = generate_vectors(impi, 1, ec);
    if (ec) {
        return authentication_vector{};
    }
    return vectors.front();
}

authentication_vector hss::generate_vector(const core::impi& impi) {
    std::error_code ec;
    authentication_vector vector = generate_vector(impi, ec);
    throw_if(ec, "authentication vector");
    return vector;
}

sqn hss::resynchronise(const core::impi& impi, const aka_rand& rand, const aka_auts& auts,
                       std::error_code& ec) {
    core::transaction change(store_->database(), core::transaction_mode::immediate, ec);
    if (ec) {
        return sqn{};
    }
    subscriber_record record = store_->find(impi, ec);
    if (ec) {
        return sqn{};
    }
    sqn sqn_ms;
    try {
        sqn_ms = generator_.verify_auts(record.k, record.opc, rand, auts, ec);
    } catch (const std::system_error& error) {
        ec = error.code();
    }
    if (ec) {
        return sqn{};
    }
    const sqn updated_sqn = resynchronised_sqn(record.last_sqn, sqn_ms, policy_);
    if (updated_sqn != record.last_sqn) {
        store_->set_sqn(impi, updated_sqn, ec);
    }
    if (!ec) {
        change.commit(ec);
    }
    return ec ? sqn{} : sqn_ms;
}

sqn hss::resynchronise(const core::impi& impi, const aka_rand& rand, const aka_auts& auts) {
    std::error_code ec;
    const sqn result = resynchronise(impi, rand, auts, ec);
    throw_if(ec, "resynchronisation");
    return result;
}

}  // namespace imsp2p::pana
