// SANS-IO PANA (RFC 5191) state machines of the PaC and the PAA.

#include <imsp2p/pana/pana_session.hpp>

#include <imsp2p/pana/error.hpp>

#include <imsp2p/core/crypto.hpp>

#include <openssl/crypto.h>

#include <algorithm>
#include <array>
#include <cstring>
#include <random>
#include <utility>

namespace imsp2p::pana {
namespace {

using namespace std::chrono_literals;

constexpr std::size_t nonce_size = 32;
constexpr std::string_view prf_label = "IETF PANA";

void wipe_bytes(core::byte_vector& bytes) noexcept {
    if (!bytes.empty()) {
        OPENSSL_cleanse(bytes.data(), bytes.size());
    }
    bytes.clear();
}

core::byte_vector prf(std::uint32_t algorithm, core::byte_view key, core::byte_view data) {
    if (algorithm == static_cast<std::uint32_t>(pana_prf::hmac_sha2_256)) {
        const auto mac = core::hmac_sha256(key, data);
        return {mac.begin(), mac.end()};
    }
    const auto mac = core::hmac_sha1(key, data);
    return {mac.begin(), mac.end()};
}

bool known_prf(std::uint32_t id) noexcept {
    return id == static_cast<std::uint32_t>(pana_prf::hmac_sha1) ||
           id == static_cast<std::uint32_t>(pana_prf::hmac_sha2_256);
}

bool known_integrity(std::uint32_t id) noexcept {
    return auth_value_size(id) != 0;
}

std::size_t integrity_key_size(std::uint32_t integrity) noexcept {
    return integrity == static_cast<std::uint32_t>(pana_integrity::hmac_sha1_160) ? 20 : 32;
}

core::byte_vector u32_bytes(std::uint32_t v) {
    return {static_cast<std::uint8_t>(v >> 24), static_cast<std::uint8_t>(v >> 16),
            static_cast<std::uint8_t>(v >> 8), static_cast<std::uint8_t>(v)};
}

std::uint32_t random_u32() {
    std::array<std::uint8_t, 4> b{};
    core::random_bytes(b);
    return (static_cast<std::uint32_t>(b[0]) << 24) | (static_cast<std::uint32_t>(b[1]) << 16) |
           (static_cast<std::uint32_t>(b[2]) << 8) | b[3];
}

// Offset of the value of avps[index] in the serialised message.
std::size_t avp_value_offset(const pana_message& message, std::size_t index) noexcept {
    std::size_t at = pana_header_size;
    for (std::size_t i = 0; i < index; ++i) {
        const pana_avp& avp = message.avps[i];
        at += (avp.vendor_id ? 12 : 8) + ((avp.value.size() + 3) & ~std::size_t{3});
    }
    return at + (message.avps[index].vendor_id ? 12 : 8);
}

core::byte_vector compute_auth(std::uint32_t integrity, core::byte_view key,
                               core::byte_view zeroed_message) {
    core::byte_vector mac;
    if (integrity == static_cast<std::uint32_t>(pana_integrity::hmac_sha2_256_128)) {
        const auto full = core::hmac_sha256(key, zeroed_message);
        mac.assign(full.begin(), full.begin() + 16);
    } else {
        const auto full = core::hmac_sha1(key, zeroed_message);
        mac.assign(full.begin(), full.end());
    }
    return mac;
}

// Verifies the AUTH AVP of a received message (exactly one, right size, right MAC).
bool verify_auth(const pana_message& message, core::byte_view wire, std::uint32_t integrity,
                 core::byte_view key) {
    std::optional<std::size_t> index;
    for (std::size_t i = 0; i < message.avps.size(); ++i) {
        if (message.avps[i].code == static_cast<std::uint16_t>(pana_avp_code::auth) &&
            !message.avps[i].vendor_id) {
            if (index) {
                return false;
            }
            index = i;
        }
    }
    const std::size_t size = auth_value_size(integrity);
    if (!index || message.avps[*index].value.size() != size || key.empty()) {
        return false;
    }
    core::byte_vector zeroed(wire.begin(), wire.end());
    const std::size_t offset = avp_value_offset(message, *index);
    std::fill_n(zeroed.begin() + static_cast<std::ptrdiff_t>(offset), size, 0);
    const core::byte_vector expected = compute_auth(integrity, key, zeroed);
    return core::constant_time_equal(expected, message.avps[*index].value);
}

std::uint32_t choose(const std::vector<const pana_avp*>& offered,
                     const std::vector<std::uint32_t>& accepted) {
    for (const pana_avp* avp : offered) {
        const auto id = avp_u32(*avp);
        if (id && std::find(accepted.begin(), accepted.end(), *id) != accepted.end()) {
            return *id;
        }
    }
    return 0;
}

// What both ends share: sequence numbers, retransmission, answer cache, keys.
struct session_core {
    pana_timers timers;
    pana_session_state state = pana_session_state::idle;
    pana_session_info info;
    pana_session_stats stats;
    std::error_code error;
    std::vector<core::byte_vector> out;
    std::mt19937 jitter_random{random_u32()};

    std::uint32_t tx_seq = random_u32();
    struct pending_request {
        core::byte_vector bytes;
        std::uint32_t seq = 0;
        pana_message_type type = pana_message_type::auth;
        bool pci = false;
        pana_clock::time_point deadline;
        pana_clock::duration timeout{};
        unsigned sent_again = 0;
    };
    std::optional<pending_request> pending;

    std::optional<std::uint32_t> rx_expected;
    std::optional<std::uint32_t> last_request_seq;
    core::byte_vector last_request;
    core::byte_vector cached_answer;

    core::byte_vector i_par;
    core::byte_vector i_pan;
    core::byte_vector pac_nonce;
    core::byte_vector paa_nonce;
    bool keyed = false;

    ~session_core() {
        wipe_bytes(info.msk);
        wipe_bytes(info.auth_key);
    }

    pana_clock::duration randomised(pana_clock::duration base) {
        if (!timers.jitter) {
            return base;
        }
        std::uniform_real_distribution<double> factor(-0.1, 0.1);
        return base +
               std::chrono::duration_cast<pana_clock::duration>(base * factor(jitter_random));
    }

    // Serialises a message, adding an AUTH AVP with @p key when given.
    core::byte_vector encode(pana_message message, const core::byte_vector* key) const {
        if (key != nullptr) {
            message.avps.push_back(make_bytes_avp(
                pana_avp_code::auth, core::byte_vector(auth_value_size(info.integrity), 0)));
        }
        core::byte_vector bytes = serialize(message);
        if (key != nullptr) {
            const core::byte_vector mac = compute_auth(info.integrity, *key, bytes);
            std::copy(mac.begin(), mac.end(),
                      bytes.end() - static_cast<std::ptrdiff_t>(mac.size()));
        }
        return bytes;
    }

    const core::byte_vector* current_key() const { return keyed ? &info.auth_key : nullptr; }

    void send_request(pana_message message, pana_clock::time_point now,
                      const core::byte_vector* key) {
        message.flags |= pana_flags::request;
        message.session_id = info.session_id;
        message.sequence_number = tx_seq++;
        pending_request request;
        request.seq = message.sequence_number;
        request.type = message.type;
        request.bytes = encode(std::move(message), key);
        request.timeout = randomised(timers.request_initial);
        request.deadline = now + request.timeout;
        out.push_back(request.bytes);
        pending = std::move(request);
    }

    void send_pci(pana_clock::time_point now) {
        pana_message message;
        message.type = pana_message_type::client_initiation;
        pending_request request;
        request.bytes = serialize(message);
        request.pci = true;
        request.type = message.type;
        request.timeout = randomised(timers.pci_initial);
        request.deadline = now + request.timeout;
        out.push_back(request.bytes);
        pending = std::move(request);
    }

    void send_answer(const pana_message& request, pana_message answer,
                     const core::byte_vector* key) {
        answer.flags = static_cast<std::uint16_t>(answer.flags & ~pana_flags::request);
        answer.type = request.type;
        answer.session_id = info.session_id;
        answer.sequence_number = request.sequence_number;
        cached_answer = encode(std::move(answer), key);
        out.push_back(cached_answer);
    }

    void close(std::error_code why) {
        state = pana_session_state::closed;
        error = why;
        pending.reset();
    }

    // Retransmits the outstanding request when due; closes with pana_timeout when exhausted.
    void on_timer(pana_clock::time_point now) {
        if (!pending || now < pending->deadline) {
            return;
        }
        const unsigned limit =
            pending->pci ? timers.pci_max_retransmissions : timers.request_max_retransmissions;
        const pana_clock::duration maximum = pending->pci
                                                 ? pana_clock::duration(timers.pci_maximum)
                                                 : pana_clock::duration(timers.request_maximum);
        if (pending->sent_again >= limit) {
            close(errc::pana_timeout);
            return;
        }
        ++pending->sent_again;
        ++stats.retransmissions;
        pana_clock::duration next = 2 * pending->timeout;
        next = next > maximum ? maximum : next;
        pending->timeout = randomised(next);
        pending->deadline = now + pending->timeout;
        out.push_back(pending->bytes);
    }

    // Classifies a parsed request: true to process it; false when it was a duplicate (answered
    // again from the cache) or out of window (dropped).
    bool admit_request(const pana_message& message, core::byte_view wire) {
        if (!rx_expected || message.sequence_number == *rx_expected) {
            return true;
        }
        if (last_request_seq && message.sequence_number == *last_request_seq &&
            std::equal(wire.begin(), wire.end(), last_request.begin(), last_request.end())) {
            ++stats.duplicates;
            out.push_back(cached_answer);
            return false;
        }
        ++stats.bad_sequence;
        return false;
    }

    // Records an accepted request (call after its answer is in cached_answer).
    void accepted_request(const pana_message& message, core::byte_view wire) {
        rx_expected = message.sequence_number + 1;
        last_request_seq = message.sequence_number;
        last_request.assign(wire.begin(), wire.end());
    }

    // True if the answer matches the outstanding request.
    bool admit_answer(const pana_message& message) {
        if (pending && !pending->pci && message.sequence_number == pending->seq &&
            message.type == pending->type) {
            return true;
        }
        ++stats.bad_sequence;
        return false;
    }

    core::byte_vector derive_key(core::byte_view msk, std::uint32_t key_id) const {
        core::byte_vector seed(prf_label.begin(), prf_label.end());
        seed.insert(seed.end(), i_par.begin(), i_par.end());
        seed.insert(seed.end(), i_pan.begin(), i_pan.end());
        seed.insert(seed.end(), pac_nonce.begin(), pac_nonce.end());
        seed.insert(seed.end(), paa_nonce.begin(), paa_nonce.end());
        const core::byte_vector id = u32_bytes(key_id);
        seed.insert(seed.end(), id.begin(), id.end());
        return pana_prf_plus(info.prf, msk, seed, integrity_key_size(info.integrity));
    }

    std::optional<pana_clock::time_point> deadline() const {
        if (pending) {
            return pending->deadline;
        }
        return std::nullopt;
    }
};

pana_message make_message(pana_message_type type, std::uint16_t flags = 0) {
    pana_message message;
    message.type = type;
    message.flags = flags;
    return message;
}

}  // namespace

core::byte_vector pana_prf_plus(std::uint32_t prf_id, core::byte_view key, core::byte_view seed,
                                std::size_t size) {
    if (!known_prf(prf_id)) {
        return {};
    }
    const std::size_t block =
        prf_id == static_cast<std::uint32_t>(pana_prf::hmac_sha2_256) ? 32 : 20;
    if (size > 255 * block) {
        return {};
    }
    core::byte_vector result;
    core::byte_vector previous;
    for (std::uint8_t n = 1; result.size() < size; ++n) {
        core::byte_vector input = previous;
        input.insert(input.end(), seed.begin(), seed.end());
        input.push_back(n);
        previous = prf(prf_id, key, input);
        wipe_bytes(input);
        result.insert(result.end(), previous.begin(), previous.end());
    }
    wipe_bytes(previous);
    result.resize(size);
    return result;
}

// ---------------------------------------------------------------------------------------------
// PAA

struct pana_paa_session::impl {
    session_core core;
    eap_authenticator_factory factory;
    pana_paa_settings settings;
    std::unique_ptr<eap_authenticator> authenticator;
    bool completing = false;          // PAR[C] outstanding
    bool completing_success = false;  // ... with PANA_SUCCESS
    core::byte_vector next_msk;
    core::byte_vector next_key;
    std::uint32_t next_key_id = 0;
    std::optional<pana_clock::time_point> lifetime_end;

    ~impl() {
        wipe_bytes(next_msk);
        wipe_bytes(next_key);
    }

    void start(pana_clock::time_point now) {
        if (core.state != pana_session_state::idle) {
            return;
        }
        pana_message par = make_message(pana_message_type::auth, pana_flags::start);
        for (std::uint32_t id : settings.prf_algorithms) {
            par.avps.push_back(make_u32_avp(pana_avp_code::prf_algorithm, id));
        }
        for (std::uint32_t id : settings.integrity_algorithms) {
            par.avps.push_back(make_u32_avp(pana_avp_code::integrity_algorithm, id));
        }
        core.send_request(std::move(par), now, nullptr);
        core.i_par = core.pending->bytes;
        core.state = pana_session_state::handshake;
    }

    // Starts an EAP conversation (first authentication or re-authentication).
    void begin_eap(pana_clock::time_point now) {
        authenticator = factory ? factory() : nullptr;
        if (!authenticator) {
            core.close(errc::pana_authentication_rejected);
            return;
        }
        completing = false;
        core.paa_nonce = core::random_bytes(nonce_size);
        core.pac_nonce.clear();
        const eap_step step = authenticator->start();
        pana_message par = make_message(pana_message_type::auth);
        par.avps.push_back(make_bytes_avp(pana_avp_code::nonce, core.paa_nonce));
        par.avps.push_back(make_bytes_avp(pana_avp_code::eap_payload, step.message));
        core.send_request(std::move(par), now, core.current_key());
    }

    void continue_eap(const eap_step& step, pana_clock::time_point now) {
        if (step.status == eap_status::in_progress && step.message.empty()) {
            return;  // the method ignored the response (RFC 3748 §4.1): nothing to send
        }
        if (step.status == eap_status::in_progress) {
            pana_message par = make_message(pana_message_type::auth);
            par.avps.push_back(make_bytes_avp(pana_avp_code::eap_payload, step.message));
            core.send_request(std::move(par), now, core.current_key());
            return;
        }
        pana_message par = make_message(pana_message_type::auth, pana_flags::complete);
        if (!step.message.empty()) {
            par.avps.push_back(make_bytes_avp(pana_avp_code::eap_payload, step.message));
        }
        completing = true;
        completing_success = step.status == eap_status::success;
        if (completing_success) {
            wipe_bytes(next_msk);
            next_msk = authenticator->msk();
            next_key_id = core.keyed ? core.info.key_id + 1 : random_u32();
            wipe_bytes(next_key);
            next_key = core.derive_key(next_msk, next_key_id);
            par.avps.push_back(make_u32_avp(pana_avp_code::result_code,
                                            static_cast<std::uint32_t>(pana_result::success)));
            par.avps.push_back(make_u32_avp(pana_avp_code::key_id, next_key_id));
            par.avps.push_back(
                make_u32_avp(pana_avp_code::session_lifetime,
                             static_cast<std::uint32_t>(settings.session_lifetime.count())));
            core.send_request(std::move(par), now, &next_key);
        } else {
            par.avps.push_back(
                make_u32_avp(pana_avp_code::result_code,
                             static_cast<std::uint32_t>(pana_result::authentication_rejected)));
            core.send_request(std::move(par), now, core.current_key());
        }
    }

    void on_answer(const pana_message& answer, core::byte_view wire, pana_clock::time_point now) {
        if (answer.type == pana_message_type::auth && answer.has_flag(pana_flags::start)) {
            const auto prfs = answer.find_all(pana_avp_code::prf_algorithm);
            const auto integrities = answer.find_all(pana_avp_code::integrity_algorithm);
            const std::uint32_t prf_id = prfs.size() == 1 ? avp_u32(*prfs[0]).value_or(0) : 0;
            const std::uint32_t integrity_id =
                integrities.size() == 1 ? avp_u32(*integrities[0]).value_or(0) : 0;
            const auto offered = [](const std::vector<std::uint32_t>& list, std::uint32_t id) {
                return std::find(list.begin(), list.end(), id) != list.end();
            };
            if (!offered(settings.prf_algorithms, prf_id) || !known_prf(prf_id) ||
                !offered(settings.integrity_algorithms, integrity_id) ||
                !known_integrity(integrity_id)) {
                ++core.stats.unexpected;
                core.close(errc::pana_no_common_algorithm);
                return;
            }
            core.pending.reset();
            core.info.prf = prf_id;
            core.info.integrity = integrity_id;
            core.i_pan.assign(wire.begin(), wire.end());
            core.state = pana_session_state::authenticating;
            begin_eap(now);
            return;
        }
        if (answer.type == pana_message_type::auth && completing) {
            if (!answer.has_flag(pana_flags::complete)) {
                ++core.stats.unexpected;
                return;
            }
            if (completing_success) {
                if (find_u32(answer, pana_avp_code::key_id) != next_key_id) {
                    ++core.stats.unexpected;
                    return;
                }
                core.pending.reset();
                wipe_bytes(core.info.msk);
                wipe_bytes(core.info.auth_key);
                core.info.msk = std::move(next_msk);
                core.info.auth_key = std::move(next_key);
                next_msk.clear();
                next_key.clear();
                core.info.key_id = next_key_id;
                core.info.result = pana_result::success;
                core.info.lifetime = settings.session_lifetime;
                core.info.peer_identity = authenticator->peer_identity();
                ++core.info.authentications;
                core.keyed = true;
                core.state = pana_session_state::open;
                lifetime_end = now + settings.session_lifetime;
            } else {
                core.pending.reset();
                core.info.result = pana_result::authentication_rejected;
                core.close(errc::pana_authentication_rejected);
            }
            completing = false;
            return;
        }
        if (answer.type == pana_message_type::auth) {
            const pana_avp* eap = answer.find(pana_avp_code::eap_payload);
            const pana_avp* nonce = answer.find(pana_avp_code::nonce);
            if (answer.has_flag(pana_flags::complete) ||
                (core.pac_nonce.empty() && (nonce == nullptr || nonce->value.empty()))) {
                ++core.stats.unexpected;
                return;
            }
            core.pending.reset();
            if (core.pac_nonce.empty()) {
                core.pac_nonce = nonce->value;
            }
            if (eap == nullptr) {
                return;  // the PaC sends the EAP response in a request of its own (unsupported)
            }
            continue_eap(authenticator->on_response(eap->value), now);
            return;
        }
        if (answer.type == pana_message_type::termination) {
            core.pending.reset();
            core.close({});
            return;
        }
        core.pending.reset();  // PNA[P]
    }

    void on_request(const pana_message& request, core::byte_view wire, pana_clock::time_point now) {
        const bool open = core.state == pana_session_state::open;
        if (request.type == pana_message_type::notification && open &&
            (!core.pending || request.has_flag(pana_flags::ping))) {
            const std::uint16_t flag =
                request.has_flag(pana_flags::ping) ? pana_flags::ping : pana_flags::reauth;
            core.send_answer(request, make_message(request.type, flag), core.current_key());
            core.accepted_request(request, wire);
            if (flag == pana_flags::reauth) {
                core.state = pana_session_state::reauthenticating;
                begin_eap(now);
            }
            return;
        }
        // Only an authenticated (keyed) session can be terminated: an unprotected PTR could
        // be forged by anyone on the path.
        if (request.type == pana_message_type::termination && core.keyed &&
            core.state != pana_session_state::closed) {
            core.send_answer(request, make_message(request.type), core.current_key());
            core.accepted_request(request, wire);
            core.info.termination_cause = static_cast<pana_termination_cause>(
                find_u32(request, pana_avp_code::termination_cause).value_or(1));
            core.close({});
            return;
        }
        ++core.stats.unexpected;
    }

    void on_datagram(core::byte_view wire, pana_clock::time_point now) {
        std::error_code ec;
        const auto message = parse_pana_message(wire, ec);
        if (!message) {
            ++core.stats.malformed;
            return;
        }
        if (message->type == pana_message_type::client_initiation) {
            if (core.state == pana_session_state::idle) {
                start(now);
            } else if (core.state == pana_session_state::handshake) {
                ++core.stats.duplicates;  // PAR[S] is retransmitted by its own timer
            } else {
                ++core.stats.unexpected;
            }
            return;
        }
        if (message->session_id != core.info.session_id) {
            ++core.stats.unexpected;
            return;
        }
        // The PAN[C] of a successful authentication is protected with the new key.
        const bool new_key = !message->is_request() && completing && completing_success &&
                             message->has_flag(pana_flags::complete);
        const core::byte_vector* key = new_key ? &next_key : core.current_key();
        if (key != nullptr && !verify_auth(*message, wire, core.info.integrity, *key)) {
            ++core.stats.bad_auth;
            return;
        }
        if (message->is_request()) {
            if (core.admit_request(*message, wire)) {
                on_request(*message, wire, now);
            }
            return;
        }
        if (core.admit_answer(*message)) {
            on_answer(*message, wire, now);
        }
    }

    void on_timer(pana_clock::time_point now) {
        core.on_timer(now);
        if (lifetime_end && now >= *lifetime_end && core.state == pana_session_state::open &&
            !core.pending) {
            lifetime_end.reset();
            terminate(pana_termination_cause::session_timeout, now);
        }
    }

    void terminate(pana_termination_cause cause, pana_clock::time_point now) {
        if (core.state != pana_session_state::open) {
            return;
        }
        pana_message ptr = make_message(pana_message_type::termination);
        ptr.avps.push_back(
            make_u32_avp(pana_avp_code::termination_cause, static_cast<std::uint32_t>(cause)));
        core.info.termination_cause = cause;
        core.send_request(std::move(ptr), now, core.current_key());
        core.state = pana_session_state::terminating;
    }

    std::optional<pana_clock::time_point> next_deadline() const {
        auto deadline = core.deadline();
        if (lifetime_end && core.state == pana_session_state::open &&
            (!deadline || *lifetime_end < *deadline)) {
            deadline = lifetime_end;
        }
        return deadline;
    }
};

pana_paa_session::pana_paa_session(std::uint32_t session_id, eap_authenticator_factory factory,
                                   pana_paa_settings settings)
    : impl_(std::make_unique<impl>()) {
    impl_->core.info.session_id = session_id;
    impl_->core.timers = settings.timers;
    impl_->factory = std::move(factory);
    impl_->settings = std::move(settings);
}

pana_paa_session::~pana_paa_session() = default;
pana_paa_session::pana_paa_session(pana_paa_session&& other) noexcept = default;
pana_paa_session& pana_paa_session::operator=(pana_paa_session&& other) noexcept = default;

void pana_paa_session::start(pana_clock::time_point now) {
    impl_->start(now);
}

void pana_paa_session::on_datagram(core::byte_view datagram, pana_clock::time_point now) {
    impl_->on_datagram(datagram, now);
}

void pana_paa_session::on_timer(pana_clock::time_point now) {
    impl_->on_timer(now);
}

void pana_paa_session::reauthenticate(pana_clock::time_point now) {
    if (impl_->core.state != pana_session_state::open || impl_->core.pending) {
        return;
    }
    impl_->core.state = pana_session_state::reauthenticating;
    impl_->begin_eap(now);
}

void pana_paa_session::ping(pana_clock::time_point now) {
    if (impl_->core.state != pana_session_state::open || impl_->core.pending) {
        return;
    }
    impl_->core.send_request(make_message(pana_message_type::notification, pana_flags::ping), now,
                             impl_->core.current_key());
}

void pana_paa_session::terminate(pana_termination_cause cause, pana_clock::time_point now) {
    impl_->terminate(cause, now);
}

std::vector<core::byte_vector> pana_paa_session::take_datagrams() {
    return std::exchange(impl_->core.out, {});
}

std::optional<pana_clock::time_point> pana_paa_session::next_deadline() const {
    return impl_->next_deadline();
}

pana_session_state pana_paa_session::state() const noexcept {
    return impl_->core.state;
}
const pana_session_info& pana_paa_session::info() const noexcept {
    return impl_->core.info;
}
const pana_session_stats& pana_paa_session::stats() const noexcept {
    return impl_->core.stats;
}
std::error_code pana_paa_session::error() const noexcept {
    return impl_->core.error;
}

// ---------------------------------------------------------------------------------------------
// PaC

struct pana_pac_session::impl {
    session_core core;
    std::unique_ptr<eap_peer> peer;
    pana_pac_settings settings;
    bool peer_succeeded = false;  // EAP-Success already given to the peer in this conversation
    core::byte_vector peer_msk;

    ~impl() { wipe_bytes(peer_msk); }

    void on_start_request(const pana_message& request, core::byte_view wire) {
        const std::uint32_t prf_id =
            choose(request.find_all(pana_avp_code::prf_algorithm), settings.prf_algorithms);
        const std::uint32_t integrity_id = choose(
            request.find_all(pana_avp_code::integrity_algorithm), settings.integrity_algorithms);
        if (!known_prf(prf_id) || !known_integrity(integrity_id)) {
            ++core.stats.unexpected;
            core.close(errc::pana_no_common_algorithm);
            return;
        }
        core.pending.reset();
        core.info.session_id = request.session_id;
        core.info.prf = prf_id;
        core.info.integrity = integrity_id;
        core.i_par.assign(wire.begin(), wire.end());
        pana_message pan = make_message(pana_message_type::auth, pana_flags::start);
        pan.avps.push_back(make_u32_avp(pana_avp_code::prf_algorithm, prf_id));
        pan.avps.push_back(make_u32_avp(pana_avp_code::integrity_algorithm, integrity_id));
        core.send_answer(request, std::move(pan), nullptr);
        core.i_pan = core.cached_answer;
        core.accepted_request(request, wire);
        core.state = pana_session_state::authenticating;
    }

    // A PAR without C: an EAP request (the first of a conversation carries the PAA nonce).
    void on_eap_request(const pana_message& request, core::byte_view wire) {
        const pana_avp* nonce = request.find(pana_avp_code::nonce);
        const bool first = nonce != nullptr && !nonce->value.empty();
        if (core.state == pana_session_state::open && !first) {
            ++core.stats.unexpected;
            return;
        }
        pana_message pan = make_message(pana_message_type::auth);
        if (first) {
            core.paa_nonce = nonce->value;
            core.pac_nonce = core::random_bytes(nonce_size);
            peer_succeeded = false;
            pan.avps.push_back(make_bytes_avp(pana_avp_code::nonce, core.pac_nonce));
            if (core.state == pana_session_state::open) {
                core.state = pana_session_state::reauthenticating;
            }
        }
        if (const pana_avp* eap = request.find(pana_avp_code::eap_payload); eap != nullptr) {
            const eap_step step = peer->on_packet(eap->value);
            if (!step.message.empty()) {
                pan.avps.push_back(make_bytes_avp(pana_avp_code::eap_payload, step.message));
            }
        }
        core.send_answer(request, std::move(pan), core.current_key());
        core.accepted_request(request, wire);
    }

    // The PAR[C] ending an authentication.
    void on_complete_request(const pana_message& request, core::byte_view wire) {
        const auto result = find_u32(request, pana_avp_code::result_code);
        if (!result) {
            ++core.stats.unexpected;
            return;
        }
        if (const pana_avp* eap = request.find(pana_avp_code::eap_payload);
            eap != nullptr && !peer_succeeded) {
            const eap_step step = peer->on_packet(eap->value);
            if (step.status == eap_status::success) {
                peer_succeeded = true;
                wipe_bytes(peer_msk);
                peer_msk = peer->msk();
            }
        }
        if (*result == static_cast<std::uint32_t>(pana_result::success)) {
            const auto key_id = find_u32(request, pana_avp_code::key_id);
            if (!peer_succeeded || !key_id) {
                ++core.stats.unexpected;
                return;
            }
            core::byte_vector key = core.derive_key(peer_msk, *key_id);
            if (!verify_auth(request, wire, core.info.integrity, key)) {
                wipe_bytes(key);
                ++core.stats.bad_auth;
                return;
            }
            wipe_bytes(core.info.auth_key);
            wipe_bytes(core.info.msk);
            core.info.auth_key = std::move(key);
            core.info.msk = peer_msk;
            core.info.key_id = *key_id;
            core.info.lifetime = std::chrono::seconds(
                find_u32(request, pana_avp_code::session_lifetime).value_or(0));
            core.info.result = pana_result::success;
            ++core.info.authentications;
            core.keyed = true;
            pana_message pan = make_message(pana_message_type::auth, pana_flags::complete);
            pan.avps.push_back(make_u32_avp(pana_avp_code::key_id, *key_id));
            core.send_answer(request, std::move(pan), core.current_key());
            core.accepted_request(request, wire);
            core.pending.reset();
            core.state = pana_session_state::open;
            return;
        }
        if (core.keyed && !verify_auth(request, wire, core.info.integrity, core.info.auth_key)) {
            ++core.stats.bad_auth;
            return;
        }
        core.info.result = static_cast<pana_result>(*result);
        core.send_answer(request, make_message(pana_message_type::auth, pana_flags::complete),
                         core.current_key());
        core.accepted_request(request, wire);
        core.close(errc::pana_authentication_rejected);
    }

    void on_request(const pana_message& request, core::byte_view wire) {
        using enum pana_session_state;
        const auto state = core.state;
        if (request.type == pana_message_type::auth) {
            if (request.has_flag(pana_flags::start)) {
                if (state == idle || state == handshake) {
                    on_start_request(request, wire);
                    return;
                }
            } else if (request.has_flag(pana_flags::complete)) {
                if (state == authenticating || state == reauthenticating) {
                    on_complete_request(request, wire);
                    return;
                }
            } else if (state == authenticating || state == reauthenticating || state == open) {
                on_eap_request(request, wire);
                return;
            }
        } else if (request.type == pana_message_type::notification &&
                   request.has_flag(pana_flags::ping) && state == open) {
            core.send_answer(request, make_message(request.type, pana_flags::ping),
                             core.current_key());
            core.accepted_request(request, wire);
            return;
        } else if (request.type == pana_message_type::termination && core.keyed &&
                   state != closed) {
            core.send_answer(request, make_message(request.type), core.current_key());
            core.accepted_request(request, wire);
            core.info.termination_cause = static_cast<pana_termination_cause>(
                find_u32(request, pana_avp_code::termination_cause).value_or(4));
            core.close(errc::pana_session_terminated);
            return;
        }
        ++core.stats.unexpected;
    }

    void on_datagram(core::byte_view wire, pana_clock::time_point now) {
        (void)now;
        std::error_code ec;
        const auto message = parse_pana_message(wire, ec);
        if (!message) {
            ++core.stats.malformed;
            return;
        }
        if (message->type == pana_message_type::client_initiation) {
            ++core.stats.unexpected;
            return;
        }
        const bool first = message->is_request() && message->type == pana_message_type::auth &&
                           message->has_flag(pana_flags::start);
        if (!first && message->session_id != core.info.session_id) {
            ++core.stats.unexpected;
            return;
        }
        if (first && core.state != pana_session_state::idle &&
            core.state != pana_session_state::handshake) {
            // A retransmitted PAR[S]: answered from the cache if it is the same message.
            if (message->session_id == core.info.session_id) {
                core.admit_request(*message, wire);
            } else {
                ++core.stats.unexpected;
            }
            return;
        }
        // The PAR[C] of a successful authentication is verified with the key it establishes.
        const bool deferred = message->is_request() && message->type == pana_message_type::auth &&
                              message->has_flag(pana_flags::complete) &&
                              core.rx_expected == message->sequence_number;
        if (core.keyed && !deferred &&
            !verify_auth(*message, wire, core.info.integrity, core.info.auth_key)) {
            ++core.stats.bad_auth;
            return;
        }
        if (message->is_request()) {
            if (first || core.admit_request(*message, wire)) {
                on_request(*message, wire);
            }
            return;
        }
        if (!core.admit_answer(*message)) {
            return;
        }
        core.pending.reset();
        if (message->type == pana_message_type::termination) {
            core.close({});
        }
    }
};

pana_pac_session::pana_pac_session(std::unique_ptr<eap_peer> peer, pana_pac_settings settings)
    : impl_(std::make_unique<impl>()) {
    impl_->peer = std::move(peer);
    impl_->core.timers = settings.timers;
    impl_->settings = std::move(settings);
}

pana_pac_session::~pana_pac_session() = default;
pana_pac_session::pana_pac_session(pana_pac_session&& other) noexcept = default;
pana_pac_session& pana_pac_session::operator=(pana_pac_session&& other) noexcept = default;

void pana_pac_session::start(pana_clock::time_point now) {
    if (impl_->core.state != pana_session_state::idle) {
        return;
    }
    impl_->core.send_pci(now);
    impl_->core.state = pana_session_state::handshake;
}

void pana_pac_session::on_datagram(core::byte_view datagram, pana_clock::time_point now) {
    impl_->on_datagram(datagram, now);
}

void pana_pac_session::on_timer(pana_clock::time_point now) {
    impl_->core.on_timer(now);
}

void pana_pac_session::reauthenticate(std::unique_ptr<eap_peer> peer, pana_clock::time_point now) {
    if (impl_->core.state != pana_session_state::open || impl_->core.pending) {
        return;
    }
    if (peer) {
        impl_->peer = std::move(peer);
    }
    impl_->core.send_request(make_message(pana_message_type::notification, pana_flags::reauth), now,
                             impl_->core.current_key());
}

void pana_pac_session::ping(pana_clock::time_point now) {
    if (impl_->core.state != pana_session_state::open || impl_->core.pending) {
        return;
    }
    impl_->core.send_request(make_message(pana_message_type::notification, pana_flags::ping), now,
                             impl_->core.current_key());
}

void pana_pac_session::terminate(pana_termination_cause cause, pana_clock::time_point now) {
    if (impl_->core.state != pana_session_state::open) {
        return;
    }
    pana_message ptr = make_message(pana_message_type::termination);
    ptr.avps.push_back(
        make_u32_avp(pana_avp_code::termination_cause, static_cast<std::uint32_t>(cause)));
    impl_->core.info.termination_cause = cause;
    impl_->core.pending.reset();
    impl_->core.send_request(std::move(ptr), now, impl_->core.current_key());
    impl_->core.state = pana_session_state::terminating;
}

std::vector<core::byte_vector> pana_pac_session::take_datagrams() {
    return std::exchange(impl_->core.out, {});
}

std::optional<pana_clock::time_point> pana_pac_session::next_deadline() const {
    return impl_->core.deadline();
}

pana_session_state pana_pac_session::state() const noexcept {
    return impl_->core.state;
}
const pana_session_info& pana_pac_session::info() const noexcept {
    return impl_->core.info;
}
const pana_session_stats& pana_pac_session::stats() const noexcept {
    return impl_->core.stats;
}
std::error_code pana_pac_session::error() const noexcept {
    return impl_->core.error;
}

}  // namespace imsp2p::pana
