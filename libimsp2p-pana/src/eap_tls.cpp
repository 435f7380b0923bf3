// EAP-TLS (RFC 5216, RFC 9190) on OpenSSL memory BIOs: contexts, fragmentation and
// reassembly, the authenticator and peer state machines, MSK/EMSK and the one-pass token.

#include <imsp2p/pana/eap_tls.hpp>

#include <imsp2p/pana/error.hpp>

#include <imsp2p/core/crypto.hpp>
#include <imsp2p/core/error.hpp>

#include <openssl/bio.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

#include <algorithm>
#include <array>
#include <fstream>
#include <iterator>
#include <sstream>
#include <utility>

namespace imsp2p::pana {
namespace {

constexpr std::uint8_t flag_length = 0x80;  // L
constexpr std::uint8_t flag_more = 0x40;    // M
constexpr std::uint8_t flag_start = 0x20;   // S
constexpr std::size_t max_identity_size = 1024;

constexpr char label_tls12[] = "client EAP encryption";
constexpr char label_tls13[] = "EXPORTER_EAP_TLS_Key_Material";
constexpr std::uint8_t context_tls13[] = {0x0d};
constexpr char label_token[] = "EXPERIMENTAL_IMS_RESUMPTION";
constexpr char context_token[] = "CONTEXT-ASSOCIATION";

struct bio_free {
    void operator()(BIO* bio) const noexcept { BIO_free(bio); }
};
struct x509_free {
    void operator()(X509* cert) const noexcept { X509_free(cert); }
};
struct pkey_free {
    void operator()(EVP_PKEY* key) const noexcept { EVP_PKEY_free(key); }
};
struct ssl_ctx_free {
    void operator()(SSL_CTX* ctx) const noexcept { SSL_CTX_free(ctx); }
};
struct ssl_free {
    void operator()(SSL* ssl) const noexcept { SSL_free(ssl); }
};
using bio_ptr = std::unique_ptr<BIO, bio_free>;
using x509_ptr = std::unique_ptr<X509, x509_free>;
using pkey_ptr = std::unique_ptr<EVP_PKEY, pkey_free>;
using ssl_ctx_ptr = std::unique_ptr<SSL_CTX, ssl_ctx_free>;
using ssl_ptr = std::unique_ptr<SSL, ssl_free>;

int openssl_version(tls_version version) {
    return version == tls_version::tls1_3 ? TLS1_3_VERSION : TLS1_2_VERSION;
}

/** Reads a PEM input: the inline text when given, otherwise the file. */
bool read_pem(const std::string& inline_pem, const std::filesystem::path& file, std::string& out) {
    if (!inline_pem.empty()) {
        out = inline_pem;
        return true;
    }
    if (file.empty()) {
        out.clear();
        return true;
    }
    std::ifstream in(file, std::ios::binary);
    if (!in) {
        return false;
    }
    std::ostringstream text;
    text << in.rdbuf();
    out = text.str();
    return static_cast<bool>(in) || in.eof();
}

bio_ptr memory_bio(const std::string& text) {
    return bio_ptr(BIO_new_mem_buf(text.data(), static_cast<int>(text.size())));
}

/** Parses every certificate of a PEM text, in order. */
std::vector<x509_ptr> read_certificates(const std::string& text) {
    std::vector<x509_ptr> out;
    bio_ptr bio = memory_bio(text);
    if (!bio) {
        return out;
    }
    while (X509* cert = PEM_read_bio_X509(bio.get(), nullptr, nullptr, nullptr)) {
        out.emplace_back(cert);
    }
    ERR_clear_error();  // the loop ends on "no start line"
    return out;
}

std::error_code tls_error() {
    return make_error_code(errc::tls_failure);
}

}  // namespace

// --- eap_tls_context ---------------------------------------------------------------------

struct eap_tls_context::impl {
    eap_tls_settings settings;
    eap_tls_role role = eap_tls_role::server;
    ssl_ctx_ptr ctx;
};

eap_tls_context::eap_tls_context(std::unique_ptr<impl> state) : impl_(std::move(state)) {}
eap_tls_context::~eap_tls_context() = default;

const eap_tls_settings& eap_tls_context::settings() const noexcept {
    return impl_->settings;
}
eap_tls_role eap_tls_context::role() const noexcept {
    return impl_->role;
}

std::shared_ptr<const eap_tls_context> eap_tls_context::create(const eap_tls_settings& settings,
                                                               eap_tls_role role,
                                                               std::error_code& ec) {
    ec.clear();
    if (settings.fragment_size < eap_tls_limits::min_fragment_size ||
        settings.fragment_size > eap_tls_limits::max_fragment_size ||
        settings.min_version > settings.max_version || settings.max_message_size == 0 ||
        settings.max_message_size > 0xffffffffu) {
        ec = make_error_code(core::errc::invalid_argument);
        return nullptr;
    }
    std::string ca_text;
    std::string chain_text;
    std::string key_text;
    if (!read_pem(settings.ca_pem, settings.ca_file, ca_text) ||
        !read_pem(settings.certificate_chain_pem, settings.certificate_chain_file, chain_text) ||
        !read_pem(settings.private_key_pem, settings.private_key_file, key_text)) {
        ec = tls_error();
        return nullptr;
    }
    if (ca_text.empty() || (chain_text.empty() != key_text.empty()) ||
        (role == eap_tls_role::server && chain_text.empty())) {
        ec = make_error_code(core::errc::invalid_argument);
        return nullptr;
    }

    auto state = std::make_unique<impl>();
    state->settings = settings;
    state->role = role;
    state->ctx.reset(
        SSL_CTX_new(role == eap_tls_role::server ? TLS_server_method() : TLS_client_method()));
    SSL_CTX* ctx = state->ctx.get();
    if (ctx == nullptr ||
        SSL_CTX_set_min_proto_version(ctx, openssl_version(settings.min_version)) != 1 ||
        SSL_CTX_set_max_proto_version(ctx, openssl_version(settings.max_version)) != 1) {
        ERR_clear_error();
        ec = tls_error();
        return nullptr;
    }

    // Trust anchors.
    const std::vector<x509_ptr> anchors = read_certificates(ca_text);
    X509_STORE* store = SSL_CTX_get_cert_store(ctx);
    if (anchors.empty()) {
        ec = tls_error();
        return nullptr;
    }
    for (const x509_ptr& anchor : anchors) {
        if (X509_STORE_add_cert(store, anchor.get()) != 1) {
            ERR_clear_error();
            ec = tls_error();
            return nullptr;
        }
    }

    // Own credentials.
    if (!chain_text.empty()) {
        std::vector<x509_ptr> chain = read_certificates(chain_text);
        bio_ptr key_bio = memory_bio(key_text);
        pkey_ptr key(key_bio ? PEM_read_bio_PrivateKey(key_bio.get(), nullptr, nullptr, nullptr)
                             : nullptr);
        if (chain.empty() || !key || SSL_CTX_use_certificate(ctx, chain.front().get()) != 1 ||
            SSL_CTX_use_PrivateKey(ctx, key.get()) != 1 || SSL_CTX_check_private_key(ctx) != 1) {
            ERR_clear_error();
            ec = tls_error();
            return nullptr;
        }
        for (std::size_t i = 1; i < chain.size(); ++i) {
            if (SSL_CTX_add1_chain_cert(ctx, chain[i].get()) != 1) {
                ERR_clear_error();
                ec = tls_error();
                return nullptr;
            }
        }
    }

    // Every conversation is a full handshake: no tickets, no session cache, no renegotiation.
    SSL_CTX_set_session_cache_mode(ctx, SSL_SESS_CACHE_OFF);
    SSL_CTX_set_options(ctx, SSL_OP_NO_TICKET | SSL_OP_NO_RENEGOTIATION);
    if (role == eap_tls_role::server) {
        SSL_CTX_set_num_tickets(ctx, 0);
        SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER | SSL_VERIFY_FAIL_IF_NO_PEER_CERT, nullptr);
    } else {
        SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER, nullptr);
    }
    return std::shared_ptr<const eap_tls_context>(new eap_tls_context(std::move(state)));
}

std::shared_ptr<const eap_tls_context> eap_tls_context::create(const eap_tls_settings& settings,
                                                               eap_tls_role role) {
    std::error_code ec;
    auto context = create(settings, role, ec);
    if (ec) {
        throw std::system_error(ec, "eap_tls_context::create");
    }
    return context;
}

namespace {

// --- fragmentation and reassembly ----------------------------------------------------------

/** The TLS side of one conversation: SSL object, memory BIOs, fragment buffers, keys. */
struct tls_conversation {
    ssl_ptr ssl;
    BIO* network_in = nullptr;   // owned by ssl: bytes from the other end
    BIO* network_out = nullptr;  // owned by ssl: bytes for the other end
    std::size_t fragment_size = 1000;
    std::size_t max_message_size = 64 * 1024;

    core::byte_vector outgoing;  // the TLS message being sent in fragments
    std::size_t outgoing_offset = 0;
    core::byte_vector incoming;  // the TLS message being reassembled
    std::optional<std::uint32_t> incoming_length;
    bool handshake_done = false;

    core::secret_bytes msk;
    core::secret_bytes emsk;
    core::secret_bytes token;

    bool sending() const noexcept { return outgoing_offset < outgoing.size(); }

    /** Creates the SSL object on memory BIOs. */
    bool open(SSL_CTX* ctx, bool server, const std::string& server_name) {
        ssl.reset(SSL_new(ctx));
        if (!ssl) {
            return false;
        }
        BIO* in = BIO_new(BIO_s_mem());
        BIO* out = BIO_new(BIO_s_mem());
        if (in == nullptr || out == nullptr) {
            BIO_free(in);
            BIO_free(out);
            return false;
        }
        BIO_set_mem_eof_return(in, -1);  // "no data yet", not end of file
        BIO_set_mem_eof_return(out, -1);
        SSL_set_bio(ssl.get(), in, out);
        network_in = in;
        network_out = out;
        if (server) {
            SSL_set_accept_state(ssl.get());
        } else {
            if (!server_name.empty() &&
                (SSL_set1_host(ssl.get(), server_name.c_str()) != 1 ||
                 SSL_ctrl(ssl.get(), SSL_CTRL_SET_TLSEXT_HOSTNAME, TLSEXT_NAMETYPE_host_name,
                          const_cast<char*>(server_name.c_str())) != 1)) {
                return false;
            }
            SSL_set_connect_state(ssl.get());
        }
        return true;
    }

    /** Moves whatever OpenSSL wrote into the outgoing buffer (after what is pending). */
    void collect_output() {
        if (!sending()) {
            outgoing.clear();
            outgoing_offset = 0;
        }
        std::array<std::uint8_t, 4096> chunk{};
        for (;;) {
            const int n = BIO_read(network_out, chunk.data(), static_cast<int>(chunk.size()));
            if (n <= 0) {
                break;
            }
            outgoing.insert(outgoing.end(), chunk.begin(), chunk.begin() + n);
        }
    }

    /** The next EAP-TLS type-data to send: flags [length] fragment. */
    core::byte_vector next_fragment(std::uint8_t extra_flags) {
        const std::size_t remaining = outgoing.size() - outgoing_offset;
        const bool first = outgoing_offset == 0;
        const bool more = remaining > fragment_size;
        const std::size_t take = more ? fragment_size : remaining;
        std::uint8_t flags = extra_flags;
        core::byte_vector data;
        if (more) {
            flags |= flag_more;
        }
        if (first && more) {
            flags |= flag_length;
        }
        data.push_back(flags);
        if ((flags & flag_length) != 0) {
            const auto total = static_cast<std::uint32_t>(outgoing.size());
            data.push_back(static_cast<std::uint8_t>(total >> 24));
            data.push_back(static_cast<std::uint8_t>(total >> 16));
            data.push_back(static_cast<std::uint8_t>(total >> 8));
            data.push_back(static_cast<std::uint8_t>(total));
        }
        const auto begin = outgoing.begin() + static_cast<std::ptrdiff_t>(outgoing_offset);
        data.insert(data.end(), begin, begin + static_cast<std::ptrdiff_t>(take));
        outgoing_offset += take;
        if (!sending()) {
            outgoing.clear();
            outgoing_offset = 0;
        }
        return data;
    }

    enum class accept_result { fragment, complete, ack };

    /**
     * Takes one received EAP-TLS type-data. An empty message (flags only, no L, M or data) is
     * an acknowledgement. Errors: eap_tls_framing, eap_fragment_too_large.
     */
    accept_result accept(core::byte_view type_data, bool allow_start, std::error_code& ec) {
        ec.clear();
        if (type_data.empty()) {
            ec = make_error_code(errc::eap_tls_framing);
            return accept_result::fragment;
        }
        const std::uint8_t flags = type_data[0];
        std::size_t offset = 1;
        if ((flags & flag_start) != 0 && !allow_start) {
            ec = make_error_code(errc::eap_tls_framing);
            return accept_result::fragment;
        }
        std::optional<std::uint32_t> declared;
        if ((flags & flag_length) != 0) {
            if (type_data.size() < 5) {
                ec = make_error_code(errc::eap_tls_framing);
                return accept_result::fragment;
            }
            declared = (static_cast<std::uint32_t>(type_data[1]) << 24) |
                       (static_cast<std::uint32_t>(type_data[2]) << 16) |
                       (static_cast<std::uint32_t>(type_data[3]) << 8) |
                       static_cast<std::uint32_t>(type_data[4]);
            offset = 5;
            if (*declared > max_message_size) {
                ec = make_error_code(errc::eap_fragment_too_large);
                return accept_result::fragment;
            }
            if (*declared == 0 || (incoming_length && *incoming_length != *declared) ||
                (!incoming_length && !incoming.empty())) {
                ec = make_error_code(errc::eap_tls_framing);
                return accept_result::fragment;
            }
        }
        const core::byte_view fragment = type_data.subspan(offset);
        const bool more = (flags & flag_more) != 0;
        if (fragment.empty()) {
            if (more || declared || !incoming.empty()) {
                ec = make_error_code(errc::eap_tls_framing);
                return accept_result::fragment;
            }
            return accept_result::ack;
        }
        if (more && incoming.empty() && !declared) {
            ec = make_error_code(errc::eap_tls_framing);  // L is mandatory on the first fragment
            return accept_result::fragment;
        }
        const std::size_t limit = incoming_length ? *incoming_length
                                  : declared      ? *declared
                                                  : max_message_size;
        if (fragment.size() > limit - incoming.size()) {
            ec = make_error_code(incoming_length || declared ? errc::eap_tls_framing
                                                             : errc::eap_fragment_too_large);
            return accept_result::fragment;
        }
        if (declared) {
            incoming_length = declared;
        }
        incoming.insert(incoming.end(), fragment.begin(), fragment.end());
        if (more) {
            return accept_result::fragment;
        }
        if (incoming_length && *incoming_length != incoming.size()) {
            ec = make_error_code(errc::eap_tls_framing);
            return accept_result::fragment;
        }
        return accept_result::complete;
    }

    /** Hands the reassembled message to OpenSSL. */
    bool feed_incoming() {
        const int size = static_cast<int>(incoming.size());
        const bool ok = BIO_write(network_in, incoming.data(), size) == size;
        incoming.clear();
        incoming_length.reset();
        return ok;
    }

    /** Why the handshake failed (after an SSL_ERROR_SSL). */
    std::error_code handshake_failure() const {
        const unsigned long code = ERR_peek_error();
        const int reason = ERR_GET_REASON(code);
        ERR_clear_error();
        if (SSL_get_verify_result(ssl.get()) != X509_V_OK ||
            reason == SSL_R_PEER_DID_NOT_RETURN_A_CERTIFICATE ||
            reason == SSL_R_CERTIFICATE_VERIFY_FAILED ||
            reason == SSL_R_TLSV13_ALERT_CERTIFICATE_REQUIRED ||
            reason == SSL_R_SSLV3_ALERT_BAD_CERTIFICATE || reason == SSL_R_TLSV1_ALERT_UNKNOWN_CA) {
            return make_error_code(errc::eap_tls_certificate_rejected);
        }
        return tls_error();
    }

    std::optional<tls_version> version() const {
        if (!ssl || !handshake_done) {
            return std::nullopt;
        }
        return SSL_version(ssl.get()) == TLS1_3_VERSION ? tls_version::tls1_3 : tls_version::tls1_2;
    }

    /** Exports MSK, EMSK and the token (NOTES.md). */
    bool derive_keys() {
        core::secret_bytes material(2 * eap_tls_limits::key_size);
        const bool tls13 = SSL_version(ssl.get()) == TLS1_3_VERSION;
        int ok = 0;
        if (tls13) {
            ok = SSL_export_keying_material(ssl.get(), material.data(), material.size(),
                                            label_tls13, sizeof label_tls13 - 1, context_tls13,
                                            sizeof context_tls13, 1);
        } else {
            ok = SSL_export_keying_material(ssl.get(), material.data(), material.size(),
                                            label_tls12, sizeof label_tls12 - 1, nullptr, 0, 0);
        }
        core::secret_bytes exported_token(eap_tls_limits::token_size);
        if (ok == 1) {
            ok = SSL_export_keying_material(ssl.get(), exported_token.data(), exported_token.size(),
                                            label_token, sizeof label_token - 1,
                                            reinterpret_cast<const unsigned char*>(context_token),
                                            sizeof context_token - 1, 1);
        }
        if (ok != 1) {
            ERR_clear_error();
            return false;
        }
        msk = core::secret_bytes(material.view().first(eap_tls_limits::key_size));
        emsk = core::secret_bytes(material.view().subspan(eap_tls_limits::key_size));
        token = std::move(exported_token);
        return true;
    }

    void clear_keys() {
        msk = core::secret_bytes();
        emsk = core::secret_bytes();
        token = core::secret_bytes();
    }
};

core::byte_vector to_vector(const core::secret_bytes& secret) {
    return core::byte_vector(secret.begin(), secret.end());
}

core::byte_vector make_packet(eap_code code, std::uint8_t identifier, std::optional<eap_type> type,
                              core::byte_vector type_data = {}) {
    eap_packet packet;
    packet.code = code;
    packet.identifier = identifier;
    if (type) {
        packet.type = static_cast<std::uint8_t>(*type);
    }
    packet.type_data = std::move(type_data);
    return serialize_eap_packet(packet);
}

std::uint8_t random_identifier() {
    std::array<std::uint8_t, 1> byte{};
    core::random_bytes(byte);
    return byte[0];
}

}  // namespace

// --- eap_tls_authenticator -----------------------------------------------------------------

struct eap_tls_authenticator::impl {
    enum class state { idle, wait_identity, handshake, wait_final_ack, done };

    std::shared_ptr<const eap_tls_context> context;
    eap_tls_token_sink sink;
    state current = state::idle;
    eap_status status = eap_status::in_progress;
    std::uint8_t identifier = 0;
    std::string identity;
    tls_conversation tls;
    std::error_code error;

    eap_step request(core::byte_vector type_data) {
        ++identifier;
        return {make_packet(eap_code::request, identifier, eap_type::tls, std::move(type_data)),
                eap_status::in_progress};
    }

    eap_step fail(std::error_code why) {
        error = why;
        current = state::done;
        status = eap_status::failure;
        tls.clear_keys();
        ++identifier;
        return {make_packet(eap_code::failure, identifier, std::nullopt), eap_status::failure};
    }

    eap_step succeed() {
        if (!tls.derive_keys()) {
            return fail(tls_error());
        }
        if (sink) {
            try {
                sink(identity, tls.token.view());
            } catch (...) {
                // The access authentication stands; without a stored token the UE's one-pass
                // REGISTER simply falls back to the AKA challenge.
            }
        }
        current = state::done;
        status = eap_status::success;
        ++identifier;
        return {make_packet(eap_code::success, identifier, std::nullopt), eap_status::success};
    }

    /** Runs OpenSSL on a complete incoming message and answers. */
    eap_step progress() {
        if (!tls.feed_incoming()) {
            return fail(tls_error());
        }
        const int result = SSL_do_handshake(tls.ssl.get());
        if (result != 1) {
            const int reason = SSL_get_error(tls.ssl.get(), result);
            if (reason != SSL_ERROR_WANT_READ) {
                return fail(tls.handshake_failure());
            }
            tls.collect_output();
            if (!tls.sending()) {
                return fail(make_error_code(errc::eap_tls_framing));  // a partial flight
            }
            return request(tls.next_fragment(0));
        }
        tls.handshake_done = true;
        // The client certificate verified against the CA (SSL_VERIFY_FAIL_IF_NO_PEER_CERT); now
        // the EAP identity must be one of its rfc822Name subjectAltNames.
        X509* peer = SSL_get0_peer_certificate(tls.ssl.get());
        if (peer == nullptr || identity.empty() ||
            X509_check_email(peer, identity.data(), identity.size(),
                             X509_CHECK_FLAG_NEVER_CHECK_SUBJECT) != 1) {
            return fail(make_error_code(errc::eap_tls_identity_mismatch));
        }
        if (SSL_version(tls.ssl.get()) == TLS1_3_VERSION) {
            // RFC 9190 §2.5: the protected success indication, one byte 0x00.
            const std::uint8_t indication = 0;
            std::size_t written = 0;
            if (SSL_write_ex(tls.ssl.get(), &indication, 1, &written) != 1 || written != 1) {
                return fail(tls_error());
            }
        }
        tls.collect_output();
        current = state::wait_final_ack;
        if (!tls.sending()) {
            return fail(tls_error());
        }
        return request(tls.next_fragment(0));
    }
};

eap_tls_authenticator::eap_tls_authenticator(std::shared_ptr<const eap_tls_context> context,
                                             eap_tls_token_sink token_sink)
    : impl_(std::make_unique<impl>()) {
    if (!context || context->role() != eap_tls_role::server) {
        throw std::system_error(make_error_code(core::errc::invalid_argument),
                                "eap_tls_authenticator needs a server context");
    }
    impl_->context = std::move(context);
    impl_->sink = std::move(token_sink);
    impl_->tls.fragment_size = impl_->context->settings().fragment_size;
    impl_->tls.max_message_size = impl_->context->settings().max_message_size;
}

eap_tls_authenticator::~eap_tls_authenticator() = default;

eap_step eap_tls_authenticator::start() {
    impl& self = *impl_;
    if (self.current != impl::state::idle) {
        return self.fail(make_error_code(errc::eap_unexpected_message));
    }
    self.identifier = random_identifier();
    self.current = impl::state::wait_identity;
    return {make_packet(eap_code::request, self.identifier, eap_type::identity),
            eap_status::in_progress};
}

eap_step eap_tls_authenticator::on_response(core::byte_view response) {
    impl& self = *impl_;
    if (self.current == impl::state::done) {
        if (self.status == eap_status::success) {
            return {{}, eap_status::success};  // late duplicate: nothing changes
        }
        return {make_packet(eap_code::failure, self.identifier, std::nullopt), eap_status::failure};
    }
    std::error_code ec;
    const std::optional<eap_packet> packet = parse_eap_packet(response, ec);
    if (!packet) {
        self.error = ec;
        return {{}, eap_status::in_progress};  // silently discarded (RFC 3748 §4.1)
    }
    if (self.current == impl::state::idle || packet->code != eap_code::response ||
        packet->identifier != self.identifier) {
        self.error = make_error_code(errc::eap_unexpected_message);
        return {{}, eap_status::in_progress};
    }
    const auto type = static_cast<eap_type>(*packet->type);
    if (type == eap_type::nak) {
        return self.fail(make_error_code(errc::eap_unexpected_message));  // no EAP-TLS
    }

    if (self.current == impl::state::wait_identity) {
        if (type != eap_type::identity) {
            return self.fail(make_error_code(errc::eap_unexpected_message));
        }
        if (packet->type_data.empty() || packet->type_data.size() > max_identity_size ||
            std::find(packet->type_data.begin(), packet->type_data.end(), 0) !=
                packet->type_data.end()) {
            return self.fail(make_error_code(errc::eap_tls_identity_mismatch));
        }
        self.identity.assign(packet->type_data.begin(), packet->type_data.end());
        if (!self.tls.open(self.context->impl_->ctx.get(), true, {})) {
            ERR_clear_error();
            return self.fail(tls_error());
        }
        self.current = impl::state::handshake;
        self.error.clear();
        return self.request({flag_start});
    }

    if (type != eap_type::tls) {
        return self.fail(make_error_code(errc::eap_unexpected_message));
    }
    const auto accepted = self.tls.accept(packet->type_data, false, ec);
    if (ec) {
        return self.fail(ec);
    }
    using result = tls_conversation::accept_result;
    if (self.tls.sending()) {
        if (accepted != result::ack) {
            return self.fail(make_error_code(errc::eap_tls_framing));
        }
        return self.request(self.tls.next_fragment(0));
    }
    if (self.current == impl::state::wait_final_ack) {
        if (accepted != result::ack) {
            return self.fail(tls_error());  // an alert instead of the acknowledgement
        }
        return self.succeed();
    }
    switch (accepted) {
        case result::fragment:
            return self.request({0});  // acknowledge the fragment
        case result::ack:
            return self.fail(make_error_code(errc::eap_tls_framing));
        case result::complete:
            break;
    }
    return self.progress();
}

core::byte_vector eap_tls_authenticator::msk() const {
    return to_vector(impl_->tls.msk);
}
core::byte_vector eap_tls_authenticator::emsk() const {
    return to_vector(impl_->tls.emsk);
}
std::string eap_tls_authenticator::peer_identity() const {
    return impl_->identity;
}
core::byte_vector eap_tls_authenticator::token() const {
    return to_vector(impl_->tls.token);
}
std::optional<tls_version> eap_tls_authenticator::version() const {
    return impl_->tls.version();
}
eap_status eap_tls_authenticator::status() const noexcept {
    return impl_->status;
}
std::error_code eap_tls_authenticator::error() const noexcept {
    return impl_->error;
}

// --- eap_tls_peer --------------------------------------------------------------------------

struct eap_tls_peer::impl {
    std::shared_ptr<const eap_tls_context> context;
    std::string identity;
    eap_status status = eap_status::in_progress;
    tls_conversation tls;
    bool started = false;
    bool success_indicated = false;  // TLS 1.2: handshake done; TLS 1.3: 0x00 received
    std::optional<std::uint8_t> last_identifier;
    core::byte_vector last_request;
    core::byte_vector last_response;
    std::error_code error;

    eap_step respond(std::uint8_t identifier, eap_type type, core::byte_vector type_data,
                     eap_status state = eap_status::in_progress) {
        last_response = make_packet(eap_code::response, identifier, type, std::move(type_data));
        return {last_response, state};
    }

    eap_step fail(std::error_code why, core::byte_vector message = {}) {
        error = why;
        status = eap_status::failure;
        tls.clear_keys();
        return {std::move(message), eap_status::failure};
    }

    /** Runs OpenSSL on a complete incoming message and answers. */
    eap_step progress(std::uint8_t identifier) {
        if (!tls.feed_incoming()) {
            return fail(tls_error());
        }
        SSL* ssl = tls.ssl.get();
        if (!tls.handshake_done) {
            const int result = SSL_do_handshake(ssl);
            if (result != 1) {
                const int reason = SSL_get_error(ssl, result);
                if (reason != SSL_ERROR_WANT_READ) {
                    const std::error_code why = tls.handshake_failure();
                    tls.collect_output();  // the alert, if any
                    core::byte_vector alert;
                    if (tls.sending()) {
                        alert = respond(identifier, eap_type::tls, tls.next_fragment(0)).message;
                    }
                    return fail(why, std::move(alert));
                }
                tls.collect_output();
                return respond(identifier, eap_type::tls,
                               tls.sending() ? tls.next_fragment(0) : core::byte_vector{0});
            }
            tls.handshake_done = true;
            if (SSL_version(ssl) != TLS1_3_VERSION) {
                success_indicated = true;  // TLS 1.2: the server's Finished has arrived
            }
        }
        if (SSL_version(ssl) == TLS1_3_VERSION && !success_indicated) {
            // Application data after the handshake: only the protected success indication.
            std::array<std::uint8_t, 16> data{};
            std::size_t read = 0;
            const int result = SSL_read_ex(ssl, data.data(), data.size(), &read);
            if (result == 1) {
                if (read != 1 || data[0] != 0) {
                    return fail(make_error_code(errc::eap_unexpected_message));
                }
                success_indicated = true;
            } else if (SSL_get_error(ssl, result) != SSL_ERROR_WANT_READ) {
                ERR_clear_error();
                return fail(tls_error());
            }
        }
        tls.collect_output();
        return respond(identifier, eap_type::tls,
                       tls.sending() ? tls.next_fragment(0) : core::byte_vector{0});
    }
};

eap_tls_peer::eap_tls_peer(std::shared_ptr<const eap_tls_context> context, std::string identity)
    : impl_(std::make_unique<impl>()) {
    if (!context || context->role() != eap_tls_role::client) {
        throw std::system_error(make_error_code(core::errc::invalid_argument),
                                "eap_tls_peer needs a client context");
    }
    impl_->context = std::move(context);
    impl_->identity = std::move(identity);
    impl_->tls.fragment_size = impl_->context->settings().fragment_size;
    impl_->tls.max_message_size = impl_->context->settings().max_message_size;
}

eap_tls_peer::~eap_tls_peer() = default;

eap_step eap_tls_peer::on_packet(core::byte_view packet_bytes) {
    impl& self = *impl_;
    if (self.status != eap_status::in_progress) {
        return {{}, self.status};  // the conversation is over; nothing changes
    }
    std::error_code ec;
    const std::optional<eap_packet> packet = parse_eap_packet(packet_bytes, ec);
    if (!packet) {
        self.error = ec;
        return {{}, eap_status::in_progress};
    }
    switch (packet->code) {
        case eap_code::response:
            self.error = make_error_code(errc::eap_unexpected_message);
            return {{}, eap_status::in_progress};
        case eap_code::failure:
            return self.fail(self.error ? self.error : make_error_code(errc::tls_failure));
        case eap_code::success:
            if (!self.tls.handshake_done || !self.success_indicated || self.tls.sending()) {
                return self.fail(make_error_code(errc::eap_unexpected_message));
            }
            if (!self.tls.derive_keys()) {
                return self.fail(tls_error());
            }
            self.status = eap_status::success;
            self.error.clear();
            return {{}, eap_status::success};
        case eap_code::request:
            break;
    }
    // A retransmitted request gets the same response again (RFC 3748 §4.1).
    if (self.last_identifier == packet->identifier &&
        std::equal(packet_bytes.begin(), packet_bytes.end(), self.last_request.begin(),
                   self.last_request.end())) {
        return {self.last_response, eap_status::in_progress};
    }
    const auto type = static_cast<eap_type>(*packet->type);
    eap_step step;
    switch (type) {
        case eap_type::identity:
            step =
                self.respond(packet->identifier, eap_type::identity, core::to_bytes(self.identity));
            break;
        case eap_type::notification:
            step = self.respond(packet->identifier, eap_type::notification, {});
            break;
        case eap_type::tls: {
            const bool start = !packet->type_data.empty() &&
                               (packet->type_data[0] & flag_start) != 0 && !self.started;
            if (start) {
                if (packet->type_data.size() != 1) {
                    self.error = make_error_code(errc::eap_tls_framing);
                    return {{}, eap_status::in_progress};
                }
                const auto& settings = self.context->settings();
                if (!self.tls.open(self.context->impl_->ctx.get(), false,
                                   settings.expected_server_name)) {
                    ERR_clear_error();
                    return self.fail(tls_error());
                }
                self.started = true;
                const int result = SSL_do_handshake(self.tls.ssl.get());
                if (result == 1 ||
                    SSL_get_error(self.tls.ssl.get(), result) != SSL_ERROR_WANT_READ) {
                    ERR_clear_error();
                    return self.fail(tls_error());
                }
                self.tls.collect_output();
                step = self.respond(packet->identifier, eap_type::tls, self.tls.next_fragment(0));
                break;
            }
            if (!self.started) {
                self.error = make_error_code(errc::eap_unexpected_message);
                return {{}, eap_status::in_progress};
            }
            const auto accepted = self.tls.accept(packet->type_data, false, ec);
            if (ec) {
                return self.fail(ec);
            }
            using result = tls_conversation::accept_result;
            if (self.tls.sending()) {
                if (accepted != result::ack) {
                    return self.fail(make_error_code(errc::eap_tls_framing));
                }
                step = self.respond(packet->identifier, eap_type::tls, self.tls.next_fragment(0));
            } else if (accepted == result::fragment) {
                step = self.respond(packet->identifier, eap_type::tls, {0});
            } else if (accepted == result::ack) {
                return self.fail(make_error_code(errc::eap_tls_framing));
            } else {
                step = self.progress(packet->identifier);
                if (step.status == eap_status::failure) {
                    return step;
                }
            }
            break;
        }
        default:
            // Legacy Nak: the only method offered is EAP-TLS.
            step = self.respond(packet->identifier, eap_type::nak,
                                {static_cast<std::uint8_t>(eap_type::tls)});
            break;
    }
    self.last_identifier = packet->identifier;
    self.last_request.assign(packet_bytes.begin(), packet_bytes.end());
    return step;
}

core::byte_vector eap_tls_peer::msk() const {
    return to_vector(impl_->tls.msk);
}
core::byte_vector eap_tls_peer::emsk() const {
    return to_vector(impl_->tls.emsk);
}
core::byte_vector eap_tls_peer::token() const {
    return to_vector(impl_->tls.token);
}
std::optional<tls_version> eap_tls_peer::version() const {
    return impl_->tls.version();
}
eap_status eap_tls_peer::status() const noexcept {
    return impl_->status;
}
std::error_code eap_tls_peer::error() const noexcept {
    return impl_->error;
}

}  // namespace imsp2p::pana
