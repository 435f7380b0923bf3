/**
 * @file
 * Home network side of 3GPP AKA (TS 33.102 §6.3): authentication vector generation with
 * Annex C sequence numbers, resynchronisation from AUTS, and an SQLite subscriber store.
 *
 * Layers, from the bottom: vector_generator (pure computation, no storage), subscriber_store
 * (provisioning: IMPI -> K, OPc, AMF, SQN_HE in SQLite), hss (the two combined, with SQN_HE
 * reserved atomically in a transaction before vectors are computed). K and OPc are never
 * logged, printed or returned in an error text.
 */
#pragma once

#include <imsp2p/pana/export.hpp>
#include <imsp2p/pana/milenage.hpp>
#include <imsp2p/pana/sequence.hpp>

#include <imsp2p/core/crypto.hpp>
#include <imsp2p/core/database.hpp>
#include <imsp2p/core/identity.hpp>

#include <cstddef>
#include <filesystem>
#include <memory>
#include <optional>
#include <system_error>
#include <vector>

namespace imsp2p::pana {

/**
 * One UMTS/IMS authentication vector (quintet): RAND, XRES, CK, IK, AUTN.
 *
 * A value type; XRES, CK and IK are wiped when it is destroyed (copies wipe their own).
 */
struct authentication_vector {
    aka_rand rand{};  ///< The random challenge.
    aka_res xres{};   ///< The expected response (f2). Secret.
    aka_ck ck{};      ///< The cipher key (f3). Secret.
    aka_ik ik{};      ///< The integrity key (f4). Secret.
    aka_autn autn{};  ///< (SQN xor AK) || AMF || MAC-A.
    sqn sequence;     ///< The SQN concealed in AUTN (for the HE's records; never sent in clear).

    /** Wipes XRES, CK and IK. */
    ~authentication_vector() {
        wipe(xres);
        wipe(ck);
        wipe(ik);
    }
};

/**
 * Computes authentication vectors and checks AUTS for any subscriber, without storage.
 *
 * Holds one Milenage cipher context (re-keyed per call, no allocation) and a pool of random
 * bytes drawn from the OpenSSL CSPRNG 4 KiB at a time (one RAND_bytes call per 256 RANDs; the
 * pool is discarded in a child process after fork() and wiped on destruction). Movable, not
 * copyable; one object must not be used by two threads at once (use one per thread).
 */
class IMSP2P_PANA_EXPORT vector_generator {
  public:
    /**
     * Creates the cipher context.
     * @throws std::system_error with core::errc::crypto_failure if OpenSSL fails
     */
    vector_generator();
    /** Takes over @p other, which becomes moved-from. @param other the source */
    vector_generator(vector_generator&& other) noexcept;
    /** Takes over @p other. @param other the source @return *this */
    vector_generator& operator=(vector_generator&& other) noexcept;
    /** Wipes the random pool and frees the cipher context. */
    ~vector_generator();
    vector_generator(const vector_generator&) = delete;             ///< Not copyable.
    vector_generator& operator=(const vector_generator&) = delete;  ///< Not copyable.

    /**
     * Generates a vector with a fresh random RAND.
     * @param k the subscriber key
     * @param opc the subscriber's OPc
     * @param amf the AMF to put in AUTN
     * @param sequence the SQN to conceal in AUTN (reserved by the caller, see next_sqn())
     * @return the vector
     * @throws std::system_error with core::errc::crypto_failure if OpenSSL fails
     */
    authentication_vector generate(const aka_key& k, const aka_opc& opc, const aka_amf& amf,
                                   sqn sequence);
    /**
     * Generates a vector for a given RAND (deterministic; for tests and conformance checks).
     * @param k the subscriber key
     * @param opc the subscriber's OPc
     * @param amf the AMF
     * @param sequence the SQN
     * @param rand the challenge
     * @return the vector
     */
    authentication_vector generate(const aka_key& k, const aka_opc& opc, const aka_amf& amf,
                                   sqn sequence, const aka_rand& rand);

    /**
     * Verifies an AUTS and recovers SQN_MS (TS 33.102 §6.3.5): SQN_MS = first 6 bytes xor
     * f5*(RAND), then MAC-S must equal f1*(RAND, SQN_MS, AMF 0000).
     * @param k the subscriber key
     * @param opc the subscriber's OPc
     * @param rand the RAND of the challenge the USIM refused
     * @param auts the AUTS it returned
     * @param ec errc::bad_auts if MAC-S does not verify; cleared on success
     * @return SQN_MS (zero on error)
     */
    sqn verify_auts(const aka_key& k, const aka_opc& opc, const aka_rand& rand,
                    const aka_auts& auts, std::error_code& ec);

  private:
    struct impl;
    std::unique_ptr<impl> impl_;
};

/**
 * A provisioned subscriber: the AKA credentials of one private identity.
 *
 * A value type; K and OPc are wiped when it is destroyed.
 */
struct subscriber_record {
    core::impi impi;          ///< The private user identity (the store's key).
    aka_key k{};              ///< The subscriber key K. Secret.
    aka_opc opc{};            ///< OPc. Secret.
    aka_amf amf{0x80, 0x00};  ///< AMF for new vectors (default 8000: separation bit set).
    sqn last_sqn;             ///< SQN_HE: the last sequence number issued (0 if none).

    /** Wipes K and OPc. */
    ~subscriber_record() {
        wipe(k);
        wipe(opc);
    }
};

/** Options of subscriber_store::open(). */
struct subscriber_store_options {
    /**
     * Master key (32 bytes) that wraps K and OPc at rest with AES-256-GCM (the IMPI is the
     * associated data, so a row cannot be moved to another identity). Empty: K and OPc are
     * stored unwrapped (development only). Rows written without a master key stay readable
     * when one is configured later, and are wrapped on their next update.
     */
    core::secret_bytes master_key;
    /** Options for the SQLite connection (WAL, busy timeout...). */
    core::database_options database;
};

/**
 * The HSS subscriber store: IMPI -> K, OPc, AMF, SQN_HE in an SQLite table `aka_subscriber`
 * (schema created and upgraded by core::migrate()).
 *
 * Movable, not copyable. Like core::database, an object must be used by one thread at a time;
 * several processes or connections may share the file (SQLite WAL).
 */
class IMSP2P_PANA_EXPORT subscriber_store {
  public:
    /**
     * Opens (or creates) the store in a database file and brings its schema up to date.
     * @param file the SQLite file, or ":memory:"
     * @param options the master key and connection options
     * @param ec core::errc::bad_key_size (master key not 0 or 32 bytes), database errors
     * @return the store (unusable on error)
     */
    static subscriber_store open(const std::filesystem::path& file,
                                 subscriber_store_options options, std::error_code& ec);
    /**
     * Throwing form of open().
     * @param file the SQLite file
     * @param options the master key and connection options
     * @return the store
     * @throws std::system_error with the codes of the std::error_code overload
     */
    static subscriber_store open(const std::filesystem::path& file,
                                 subscriber_store_options options = {});

    /** Takes over @p other. @param other the source */
    subscriber_store(subscriber_store&& other) noexcept;
    /** Takes over @p other. @param other the source @return *this */
    subscriber_store& operator=(subscriber_store&& other) noexcept;
    /** Closes the connection and wipes the master key. */
    ~subscriber_store();
    subscriber_store(const subscriber_store&) = delete;             ///< Not copyable.
    subscriber_store& operator=(const subscriber_store&) = delete;  ///< Not copyable.

    /**
     * Provisions a new subscriber.
     * @param record the subscriber (its impi must not be empty)
     * @param ec errc::subscriber_exists, core::errc::invalid_argument (empty impi), database
     *        errors; cleared on success
     */
    void create(const subscriber_record& record, std::error_code& ec);
    /** Throwing form of create(). @param record the subscriber @throws std::system_error */
    void create(const subscriber_record& record);

    /**
     * Replaces the K, OPc, AMF and SQN_HE of an existing subscriber.
     * @param record the new values
     * @param ec errc::unknown_subscriber, database errors; cleared on success
     */
    void update(const subscriber_record& record, std::error_code& ec);
    /** Throwing form of update(). @param record the new values @throws std::system_error */
    void update(const subscriber_record& record);

    /**
     * Sets SQN_HE alone (K, OPc and AMF are left untouched, so a wrapped row is not re-sealed).
     * @param impi the private identity
     * @param last the new last issued sequence number
     * @param ec errc::unknown_subscriber, database errors; cleared on success
     */
    void set_sqn(const core::impi& impi, sqn last, std::error_code& ec);
    /**
     * Throwing form of set_sqn().
     * @param impi the private identity
     * @param last the new last issued sequence number
     * @throws std::system_error with the codes of the std::error_code overload
     */
    void set_sqn(const core::impi& impi, sqn last);

    /**
     * Deletes a subscriber.
     * @param impi the private identity
     * @param ec errc::unknown_subscriber, database errors; cleared on success
     */
    void remove(const core::impi& impi, std::error_code& ec);
    /** Throwing form of remove(). @param impi the private identity @throws std::system_error */
    void remove(const core::impi& impi);

    /**
     * Reads a subscriber.
     * @param impi the private identity
     * @param ec errc::unknown_subscriber; core::errc::bad_key if the row is wrapped and no
     *        master key is configured; core::errc::authentication_failed if unwrapping fails
     *        (wrong master key or a tampered row); database errors
     * @return the record (empty on error)
     */
    subscriber_record find(const core::impi& impi, std::error_code& ec);
    /** Throwing form of find(). @param impi the identity @return the record */
    subscriber_record find(const core::impi& impi);

    /**
     * Lists the provisioned identities in ascending order.
     * @param ec database errors
     * @return the identities
     */
    std::vector<core::impi> list(std::error_code& ec);
    /**
     * Throwing form of list().
     * @return the identities in ascending order
     * @throws std::system_error with a database error
     */
    std::vector<core::impi> list();

    /** @return the underlying connection (for transactions spanning several calls) */
    core::database& database() noexcept;

  private:
    struct impl;
    explicit subscriber_store(std::unique_ptr<impl> state) noexcept;
    std::unique_ptr<impl> impl_;
};

/**
 * The HSS/AuC: authentication vectors for provisioned subscribers, and resynchronisation.
 *
 * Borrows a subscriber_store, which must outlive it. SQN_HE is advanced in an immediate
 * SQLite transaction before the vectors are computed, so concurrent HSS processes sharing the
 * file never issue the same SQN twice (a crash after the commit merely skips numbers). Not
 * safe for concurrent use of one object.
 */
class IMSP2P_PANA_EXPORT hss {
  public:
    /**
     * Creates an HSS over a subscriber store.
     * @param store the subscriber store (borrowed; must outlive this object)
     * @param policy the SQN scheme (the USIMs must use the same ind_bits)
     */
    explicit hss(subscriber_store& store, const sqn_policy& policy = {});

    /**
     * Generates @p count consecutive vectors for a subscriber (a batch, as in a Diameter MAA).
     * @param impi the private identity
     * @param count 1..32 vectors
     * @param ec errc::unknown_subscriber, errc::sqn_exhausted, core::errc::invalid_argument
     *        (count), store and database errors; cleared on success
     * @return the vectors in SQN order (empty on error)
     */
    std::vector<authentication_vector> generate_vectors(const core::impi& impi, std::size_t count,
                                                        std::error_code& ec);
    /**
     * Generates one vector.
     * @param impi the private identity
     * @param ec the codes of generate_vectors()
     * @return the vector (zeros on error)
     */
    authentication_vector generate_vector(const core::impi& impi, std::error_code& ec);
    /**
     * Throwing form of generate_vector().
     * @param impi the private identity
     * @return the vector
     * @throws std::system_error with the codes of generate_vectors()
     */
    authentication_vector generate_vector(const core::impi& impi);

    /**
     * Handles a resynchronisation request: verifies AUTS (MAC-S with f1* and AMF 0000),
     * recovers SQN_MS with f5* and sets SQN_HE per resynchronised_sqn(); the next vector is
     * then acceptable to the USIM.
     * @param impi the private identity
     * @param rand the RAND of the refused challenge
     * @param auts the AUTS the USIM returned
     * @param ec errc::bad_auts (nothing is changed), errc::unknown_subscriber, database errors
     * @return SQN_MS as reported by the USIM (zero on error)
     */
    sqn resynchronise(const core::impi& impi, const aka_rand& rand, const aka_auts& auts,
                      std::error_code& ec);
    /**
     * Throwing form of resynchronise().
     * @param impi the private identity
     * @param rand the RAND of the refused challenge
     * @param auts the AUTS
     * @return SQN_MS
     * @throws std::system_error with the codes of the std::error_code overload
     */
    sqn resynchronise(const core::impi& impi, const aka_rand& rand, const aka_auts& auts);

    /** @return the SQN scheme parameters */
    const sqn_policy& policy() const noexcept { return policy_; }

  private:
    subscriber_store* store_;
    sqn_policy policy_;
    vector_generator generator_;
};

}  // namespace imsp2p::pana
