// The development IMS core on Sofia-SIP nta: registrar, identity assertion, iFC routing and
// terminating routing as a transaction-stateful proxy. Everything below runs on the Sofia
// thread, except ims_core::start()/stop(), which hand over to it.

struct imsp2p_ims_core_state;
struct imsp2p_ims_forward;

#define SU_ROOT_MAGIC_T struct imsp2p_ims_core_state
#define SU_TIMER_ARG_T struct imsp2p_ims_core_state
#define NTA_LEG_MAGIC_T struct imsp2p_ims_core_state
#define NTA_OUTGOING_MAGIC_T struct imsp2p_ims_forward

#include <imsp2p/sip/ims_core.hpp>

#include <imsp2p/sip/error.hpp>

#include <imsp2p/core/key_file.hpp>
#include <imsp2p/pana/hss.hpp>
#include <imsp2p/pana/token_store.hpp>
#include <imsp2p/sip/identity_body.hpp>
#include <imsp2p/sip/one_pass.hpp>

#include "sofia_support.hpp"

#include <sofia-sip/msg_addr.h>
#include <sofia-sip/nta.h>
#include <sofia-sip/sip_extra.h>
#include <sofia-sip/sip_header.h>
#include <sofia-sip/sip_status.h>
#include <sofia-sip/sip_tag.h>
#include <sofia-sip/sip_util.h>
#include <sofia-sip/su.h>
#include <sofia-sip/su_wait.h>
#include <sofia-sip/tport.h>
#include <sofia-sip/url.h>

#include <netdb.h>
#include <netinet/in.h>
#include <sys/socket.h>

#include <algorithm>
#include <cstdint>
#include <future>
#include <map>
#include <mutex>
#include <optional>
#include <regex>
#include <set>
#include <string>
#include <thread>
#include <utility>
#include <vector>

namespace core = imsp2p::core;
namespace sip = imsp2p::sip;
namespace pana = imsp2p::pana;

namespace {

// Small wrappers around Sofia-SIP's C idioms (casts that -Wold-style-cast would flag in our
// code).
const url_string_t* as_url_string(const char* text) {
    return reinterpret_cast<const url_string_t*>(text);
}
const url_string_t* no_url() {
    return reinterpret_cast<const url_string_t*>(static_cast<std::intptr_t>(-1));
}
template <class H>
msg_header_t* as_header(H* header) {
    return reinterpret_cast<msg_header_t*>(header);
}
msg_pub_t* as_pub(sip_t* sip) {
    return reinterpret_cast<msg_pub_t*>(sip);
}

std::string url_text(su_home_t* home, const url_t* url) {
    if (url == nullptr) {
        return {};
    }
    char* text = url_as_string(home, url);
    std::string out = text != nullptr ? text : "";
    su_free(home, text);
    return out;
}

/** The peer of a received message: address, port and transport. */
struct peer_address {
    std::string address;
    std::uint16_t port = 0;
    std::string transport = "udp";

    [[nodiscard]] std::string uri() const {
        const bool v6 = address.find(':') != std::string::npos;
        return "sip:" + (v6 ? "[" + address + "]" : address) + ":" + std::to_string(port) +
               ";transport=" + transport;
    }
};

peer_address peer_of(msg_t* msg) {
    peer_address peer;
    const su_addrinfo_t* info = msg_addrinfo(msg);
    if (info == nullptr || info->ai_addr == nullptr) {
        return peer;
    }
    char host[NI_MAXHOST] = {};
    char service[NI_MAXSERV] = {};
    if (::getnameinfo(reinterpret_cast<const sockaddr*>(info->ai_addr),
                      static_cast<socklen_t>(info->ai_addrlen), host, sizeof host, service,
                      sizeof service, NI_NUMERICHOST | NI_NUMERICSERV) == 0) {
        peer.address = host;
        peer.port = static_cast<std::uint16_t>(std::stoi(service));
    }
    peer.transport = info->ai_protocol == IPPROTO_TCP ? "tcp" : "udp";
    return peer;
}

std::string lower(std::string text) {
    for (char& c : text) {
        if (c >= 'A' && c <= 'Z') {
            c = static_cast<char>(c - 'A' + 'a');
        }
    }
    return text;
}

}  // namespace

/** A request relayed as a client transaction; lives until its final response. */
struct imsp2p_ims_forward {
    imsp2p_ims_core_state* state = nullptr;
    nta_incoming_t* irq = nullptr;
    nta_outgoing_t* orq = nullptr;
    std::string summary;  // for logs
};

/** The state of the core on the Sofia thread. */
struct imsp2p_ims_core_state {
    sip::ims_core_settings settings;
    core::logger log;
    sip::authenticator_factory make_authenticator;

    su_root_t* root = nullptr;
    nta_agent_t* agent = nullptr;
    nta_leg_t* leg = nullptr;
    su_timer_t* timer = nullptr;
    su_home_t home[1] = {};
    std::optional<sip::subscriber_registry> registry;
    std::optional<pana::subscriber_store> hss_store;  // declared first: auth borrows it
    std::optional<pana::token_store> tokens;          // one-pass tokens (auth borrows it)
    std::unique_ptr<sip::authenticator> auth;
    std::uint16_t port = 0;
    std::set<imsp2p_ims_forward*> pending;
    std::multimap<std::string, sip::registration_binding> location;  // by canonical IMPU
    std::vector<std::regex> patterns;  // parallel to settings.filter_criteria
    bool kept = false;                 // the request being handled was forwarded

    imsp2p_ims_core_state(sip::ims_core_settings s, core::logger l, sip::authenticator_factory f)
        : settings(std::move(s)), log(std::move(l)), make_authenticator(std::move(f)) {}

    // ---- set-up and tear-down -------------------------------------------------------------

    void open() {
        sip::detail::extend_sip_parser();  // once per process, shared with the UA and the AS
                                           // binding
        su_home_init(home);
        for (const auto& rule : settings.filter_criteria) {
            patterns.emplace_back(rule.request_uri_pattern.empty() ? std::string(".*")
                                                                   : rule.request_uri_pattern);
        }
        const std::filesystem::path file =
            settings.database.empty() ? std::filesystem::path(":memory:") : settings.database;
        registry.emplace(sip::subscriber_registry::open(file));
        if (make_authenticator) {
            auth = make_authenticator(*registry);
        } else if (!settings.hss_database.empty()) {
            pana::subscriber_store_options options;
            if (!settings.hss_master_key_file.empty()) {
                std::error_code ec;
                options.master_key = core::read_secret_file(settings.hss_master_key_file, ec);
                if (ec) {
                    throw std::system_error(
                        ec, "HSS master key " + settings.hss_master_key_file.string());
                }
            }
            pana::token_store_options token_options;
            token_options.master_key = options.master_key;
            hss_store.emplace(
                pana::subscriber_store::open(settings.hss_database, std::move(options)));
            auth = sip::make_digest_aka_authenticator(
                *hss_store, *registry, settings.nonce_lifetime,
                sip::make_digest_md5_authenticator(*registry, settings.nonce_lifetime));
            if (settings.one_pass) {
                tokens.emplace(
                    pana::token_store::open(settings.hss_database, std::move(token_options)));
                if (settings.one_pass_identity_ca.empty()) {
                    auth = sip::make_one_pass_authenticator(*tokens, std::move(auth),
                                                            log.child("one-pass"));
                } else {
                    sip::one_pass_aib_settings identity;
                    std::error_code ec;
                    identity.anchors =
                        sip::identity_trust_anchors::from_file(settings.one_pass_identity_ca, ec);
                    if (ec) {
                        throw std::system_error(
                            ec, "identity body CA " + settings.one_pass_identity_ca.string());
                    }
                    identity.when = settings.one_pass_identity_required
                                        ? sip::one_pass_aib_settings::policy::required
                                        : sip::one_pass_aib_settings::policy::if_present;
                    auth = sip::make_one_pass_authenticator(
                        *tokens, std::move(auth), std::move(identity), log.child("one-pass"));
                }
            }
        } else {
            auth = sip::make_digest_md5_authenticator(*registry, settings.nonce_lifetime);
        }
        load_location();

        root = su_root_create(this);
        if (root == nullptr) {
            throw std::system_error(sip::errc::stack_failure, "su_root_create failed");
        }
        const std::string host = settings.listen_address.find(':') != std::string::npos
                                     ? "[" + settings.listen_address + "]"
                                     : settings.listen_address;
        // UDP and TCP share one port number. With port 0 the UDP port is chosen first; if its TCP
        // twin is taken by another process, start again with another port (a few times).
        for (int attempt = 0;; ++attempt) {
            agent = nta_agent_create(root, no_url(), nullptr, nullptr, NTATAG_UA(0),
                                     NTATAG_SERVER_RPORT(1), TAG_END());
            if (agent == nullptr) {
                throw std::system_error(sip::errc::stack_failure, "nta_agent_create failed");
            }
            std::string udp =
                "sip:" + host + ":" + std::to_string(settings.port) + ";transport=udp";
            if (nta_agent_add_tport(agent, as_url_string(udp.c_str()), TAG_END()) < 0) {
                throw std::system_error(sip::errc::stack_failure, "cannot bind UDP " + udp);
            }
            port = settings.port;
            if (port == 0) {
                const sip_contact_t* contact = nta_agent_contact(agent);
                if (contact != nullptr && contact->m_url->url_port != nullptr) {
                    port = static_cast<std::uint16_t>(std::stoi(contact->m_url->url_port));
                }
            }
            std::string tcp = "sip:" + host + ":" + std::to_string(port) + ";transport=tcp";
            if (nta_agent_add_tport(agent, as_url_string(tcp.c_str()), TAG_END()) >= 0) {
                break;
            }
            if (settings.port != 0 || attempt >= 16) {
                throw std::system_error(sip::errc::stack_failure, "cannot bind TCP " + tcp);
            }
            nta_agent_destroy(agent);
            agent = nullptr;
        }
        leg = nta_leg_tcreate(agent, &on_request, this, NTATAG_NO_DIALOG(1), TAG_END());
        if (leg == nullptr) {
            throw std::system_error(sip::errc::stack_failure, "nta_leg_tcreate failed");
        }
        timer = su_timer_create(su_root_task(root), 10000);
        su_timer_run(timer, &on_timer, this);
    }

    void close() {
        for (imsp2p_ims_forward* forward : pending) {
            if (forward->orq != nullptr) {
                nta_outgoing_destroy(forward->orq);
            }
            if (forward->irq != nullptr) {
                nta_incoming_treply(forward->irq, 503, "Service Unavailable (shutting down)",
                                    TAG_END());
                nta_incoming_destroy(forward->irq);
            }
            delete forward;
        }
        pending.clear();
        if (timer != nullptr) {
            su_timer_destroy(timer);
            timer = nullptr;
        }
        if (leg != nullptr) {
            nta_leg_destroy(leg);
            leg = nullptr;
        }
        if (agent != nullptr) {
            nta_agent_destroy(agent);
            agent = nullptr;
        }
        if (root != nullptr) {
            su_root_destroy(root);
            root = nullptr;
        }
        auth.reset();
        registry.reset();
        hss_store.reset();
        tokens.reset();
        su_home_deinit(home);
    }

    // ---- location service -----------------------------------------------------------------

    void load_location() {
        std::error_code ec;
        registry->purge_expired(std::chrono::system_clock::now(), ec);
        for (auto& binding : registry->bindings(ec)) {
            location.emplace(binding.impu.canonical(), std::move(binding));
        }
        log.info("location service loaded", {{"bindings", location.size()}});
    }

    void purge_expired() {
        const auto now = std::chrono::system_clock::now();
        std::size_t removed = 0;
        for (auto it = location.begin(); it != location.end();) {
            if (it->second.expires <= now) {
                log.info("registration expired",
                         {{"impu", it->second.impu.str()}, {"contact", it->second.contact}});
                it = location.erase(it);
                ++removed;
            } else {
                ++it;
            }
        }
        if (removed > 0) {
            std::error_code ec;
            registry->purge_expired(now, ec);
        }
    }

    std::vector<sip::registration_binding> bindings_of(const core::impu& impu) {
        purge_expired();
        std::vector<sip::registration_binding> out;
        auto [first, last] = location.equal_range(impu.canonical());
        for (auto it = first; it != last; ++it) {
            out.push_back(it->second);
        }
        // Most recently refreshed (longest remaining) first.
        std::sort(out.begin(), out.end(),
                  [](const auto& a, const auto& b) { return a.expires > b.expires; });
        return out;
    }

    static void on_timer(imsp2p_ims_core_state* self, su_timer_t*, imsp2p_ims_core_state*) {
        self->purge_expired();
    }

    // ---- helpers --------------------------------------------------------------------------

    bool is_own(const url_t* url) const {
        if (url == nullptr || url->url_host == nullptr) {
            return false;
        }
        std::string url_host = url->url_host;
        if (url_host.size() > 2 && url_host.front() == '[') {
            url_host = url_host.substr(1, url_host.size() - 2);
        }
        const std::uint16_t url_port = url->url_port != nullptr && url->url_port[0] != '\0'
                                           ? static_cast<std::uint16_t>(std::atoi(url->url_port))
                                           : 5060;
        return lower(url_host) == lower(settings.listen_address) && url_port == port;
    }

    std::string own_uri() const {
        const std::string host = settings.listen_address.find(':') != std::string::npos
                                     ? "[" + settings.listen_address + "]"
                                     : settings.listen_address;
        return "sip:" + host + ":" + std::to_string(port);
    }

    bool is_trusted_as(const peer_address& peer) const {
        return std::any_of(settings.trusted_as.begin(), settings.trusted_as.end(),
                           [&](const sip::trusted_peer& trusted) {
                               return trusted.address == peer.address &&
                                      (trusted.port == 0 || trusted.port == peer.port);
                           });
    }

    const sip::ifc_rule* match_ifc(const std::string& method, const std::string& request_uri) {
        for (std::size_t i = 0; i < settings.filter_criteria.size(); ++i) {
            const auto& rule = settings.filter_criteria[i];
            if (!rule.psi.empty()) {
                std::error_code ec;
                const auto psi = core::impu::parse(rule.psi, ec);
                const auto target = core::impu::parse(request_uri, ec);
                if (!psi.empty() && !target.empty() && psi == target) {
                    return &rule;
                }
                continue;
            }
            if (!rule.method.empty() && rule.method != method) {
                continue;
            }
            if (std::regex_match(request_uri, patterns[i])) {
                return &rule;
            }
        }
        return nullptr;
    }

    static int reply(nta_incoming_t* irq, int status, const std::string& phrase) {
        nta_incoming_treply(irq, status, phrase.c_str(), TAG_END());
        return 0;
    }

    // ---- request dispatch -----------------------------------------------------------------

    static int on_request(imsp2p_ims_core_state* self, nta_leg_t*, nta_incoming_t* irq,
                          const sip_t* sip) {
        self->kept = false;
        int status = 500;
        try {
            status = self->handle(irq, sip);
        } catch (const std::exception& error) {
            self->log.error("request failed", {{"error", error.what()}});
            if (self->kept) {
                return 0;  // already forwarded: the response callback owns it
            }
            status = 500;
        }
        const bool ack_or_cancel = sip != nullptr && sip->sip_request != nullptr &&
                                   (sip->sip_request->rq_method == sip_method_ack ||
                                    sip->sip_request->rq_method == sip_method_cancel);
        if (status == 0 && !self->kept && !ack_or_cancel) {
            // Answered locally with nta_incoming_treply(): release our reference (nta keeps the
            // transaction for retransmissions until it terminates).
            nta_incoming_destroy(irq);
        }
        return status;
    }

    int handle(nta_incoming_t* irq, const sip_t* sip) {
        if (sip == nullptr || sip->sip_request == nullptr) {
            return 400;
        }
        const sip_method_t method = sip->sip_request->rq_method;
        if (method == sip_method_ack || method == sip_method_cancel) {
            return 0;
        }
        if (method == sip_method_invite) {
            return reply(irq, 501, "Not Implemented (no sessions in the development IMS core)");
        }
        if (sip->sip_max_forwards != nullptr && sip->sip_max_forwards->mf_count == 0) {
            return reply(irq, 483, "Too Many Hops");
        }
        msg_t* request = nta_incoming_getrequest(irq);
        const peer_address peer = peer_of(request);
        msg_destroy(request);

        // In-dialog (or pre-loaded) route through us: pop our Route and relay.
        const bool routed_to_us = sip->sip_route != nullptr && is_own(sip->sip_route->r_url);
        const std::string method_name = sip->sip_request->rq_method_name;
        const std::string request_uri = url_text(home, sip->sip_request->rq_url);
        log.debug("request", {{"method", method_name}, {"uri", request_uri}, {"from", peer.uri()}});

        // REGISTER for us: no Route, or only ours (a UE that pre-loads the core as its route).
        const bool more_routes =
            routed_to_us ? sip->sip_route->r_next != nullptr : sip->sip_route != nullptr;
        if (method == sip_method_register && !more_routes) {
            return handle_register(irq, sip, peer);
        }
        if (is_trusted_as(peer)) {
            return handle_from_as(irq, sip, peer, routed_to_us, request_uri);
        }
        return handle_from_ue(irq, sip, peer, routed_to_us, request_uri);
    }

    // ---- registrar ------------------------------------------------------------------------

    std::string realm_for(const sip_t* sip) const {
        if (!settings.realm.empty()) {
            return settings.realm;
        }
        if (sip->sip_to != nullptr && sip->sip_to->a_url->url_host != nullptr) {
            return sip->sip_to->a_url->url_host;
        }
        return "ims";
    }

    sip::auth_result authenticate(const sip_t* sip, bool proxy);

    int handle_register(nta_incoming_t* irq, const sip_t* sip, const peer_address& peer);
    int handle_from_as(nta_incoming_t* irq, const sip_t* sip, const peer_address& peer,
                       bool routed_to_us, const std::string& request_uri);
    int handle_from_ue(nta_incoming_t* irq, const sip_t* sip, const peer_address& peer,
                       bool routed_to_us, const std::string& request_uri);
    int forward(nta_incoming_t* irq, const std::string& asserted, bool strip_identity,
                bool record_route, bool pop_route, const std::string& new_request_uri,
                const std::string& next_hop, const std::string& summary);
    static int on_response(imsp2p_ims_forward* forward, nta_outgoing_t* orq, const sip_t* sip);
};

// ---- authentication ---------------------------------------------------------------------

sip::auth_result imsp2p_ims_core_state::authenticate(const sip_t* sip, bool proxy) {
    sip::auth_request request;
    request.method = sip->sip_request->rq_method_name;
    request.request_uri = url_text(home, sip->sip_request->rq_url);
    if (sip->sip_payload != nullptr && sip->sip_payload->pl_data != nullptr) {
        request.body.assign(sip->sip_payload->pl_data, sip->sip_payload->pl_len);
    }
    request.realm = realm_for(sip);
    const sip_addr_t* identity = proxy ? sip->sip_from : sip->sip_to;
    if (identity != nullptr) {
        request.public_identity = url_text(home, identity->a_url);
    }
    if (sip->sip_from != nullptr) {
        request.from_uri = url_text(home, sip->sip_from->a_url);
    }
    if (sip->sip_to != nullptr) {
        request.to_uri = url_text(home, sip->sip_to->a_url);
    }
    if (sip->sip_call_id != nullptr && sip->sip_call_id->i_id != nullptr) {
        request.call_id = sip->sip_call_id->i_id;
    }
    if (sip->sip_cseq != nullptr) {
        request.cseq = sip->sip_cseq->cs_seq;
    }
    if (sip->sip_content_type != nullptr && sip->sip_content_type->c_type != nullptr) {
        request.content_type = sip->sip_content_type->c_type;
    }
    const msg_auth_t* credentials = proxy ? sip->sip_proxy_authorization : sip->sip_authorization;
    if (credentials != nullptr && credentials->au_scheme != nullptr) {
        // Rebuilt from the parsed parameters: sip_header_as_string() can drop the last
        // parameter of a long Authorization value (seen with AKA nonces: nc went missing).
        std::string value = credentials->au_scheme;
        for (auto* param = credentials->au_params; param != nullptr && *param != nullptr; ++param) {
            value += (param == credentials->au_params ? " " : ", ");
            value += *param;
        }
        request.credentials = std::move(value);
    }
    return auth->authenticate(request);
}

// ---- registrar ----------------------------------------------------------------------------

int imsp2p_ims_core_state::handle_register(nta_incoming_t* irq, const sip_t* sip,
                                           const peer_address& peer) {
    const sip::auth_result result = authenticate(sip, false);
    if (result.verdict == sip::auth_result::outcome::challenge) {
        nta_incoming_treply(irq, SIP_401_UNAUTHORIZED,
                            SIPTAG_WWW_AUTHENTICATE_STR(result.challenge.c_str()), TAG_END());
        return 0;
    }
    if (result.verdict == sip::auth_result::outcome::rejected) {
        log.warning("registration refused", {{"reason", result.reason}, {"from", peer.uri()}});
        return reply(irq, 403, "Forbidden (" + result.reason + ")");
    }
    std::error_code ec;
    const core::impu impu = core::impu::parse(
        url_text(home, sip->sip_to != nullptr ? sip->sip_to->a_url : nullptr), ec);
    if (ec) {
        return reply(irq, 400, "Bad Request (To is not a public user identity)");
    }
    const auto user = registry->find(impu, ec);
    if (ec) {
        return reply(irq, 500, "Server Internal Error (subscriber database)");
    }
    if (!user || user->impi != result.impi) {
        log.warning("registration refused: IMPU not owned by IMPI",
                    {{"impu", impu.str()}, {"impi", result.impi.str()}});
        return reply(irq, 403, "Forbidden (public identity not provisioned for this user)");
    }

    const auto default_expires = sip->sip_expires != nullptr
                                     ? static_cast<long long>(sip->sip_expires->ex_delta)
                                     : static_cast<long long>(settings.default_expires.count());
    struct change {
        std::string contact;
        long long expires;
    };
    std::vector<change> changes;
    bool wildcard = false;
    for (const sip_contact_t* m = sip->sip_contact; m != nullptr; m = m->m_next) {
        if (m->m_url->url_type == url_any) {
            wildcard = true;
            continue;
        }
        long long expires = default_expires;
        if (m->m_expires != nullptr) {
            expires = std::atoll(m->m_expires);
        }
        if (expires != 0 && expires < settings.min_expires.count()) {
            const std::string minimum = std::to_string(settings.min_expires.count());
            nta_incoming_treply(irq, SIP_423_INTERVAL_TOO_BRIEF,
                                SIPTAG_MIN_EXPIRES_STR(minimum.c_str()), TAG_END());
            return 0;
        }
        expires = std::min<long long>(expires, settings.max_expires.count());
        changes.push_back({url_text(home, m->m_url), expires});
    }
    if (wildcard) {
        if (default_expires != 0 || !changes.empty()) {
            return reply(irq, 400,
                         "Bad Request (Contact: * needs Expires: 0 and no other contact)");
        }
        registry->remove_bindings(impu, ec);
        location.erase(impu.canonical());
        log.info("unregistered", {{"impu", impu.str()}, {"contacts", "*"}});
    }
    const auto now = std::chrono::system_clock::now();
    for (const auto& item : changes) {
        auto [first, last] = location.equal_range(impu.canonical());
        for (auto it = first; it != last;) {
            it = it->second.contact == item.contact ? location.erase(it) : std::next(it);
        }
        if (item.expires == 0) {
            registry->remove_binding(impu, item.contact, ec);
            log.info("unregistered", {{"impu", impu.str()}, {"contact", item.contact}});
            continue;
        }
        sip::registration_binding binding;
        binding.impu = impu;
        binding.impi = result.impi;
        binding.contact = item.contact;
        binding.received = peer.uri();
        binding.call_id = sip->sip_call_id != nullptr ? sip->sip_call_id->i_id : "";
        binding.cseq = sip->sip_cseq != nullptr ? sip->sip_cseq->cs_seq : 0;
        binding.expires = now + std::chrono::seconds(item.expires);
        registry->save_binding(binding, ec);
        if (ec) {
            log.error("cannot store a binding", {{"error", ec.message()}});
            return reply(irq, 500, "Server Internal Error (location database)");
        }
        location.emplace(impu.canonical(), binding);
        log.info("registered", {{"impu", impu.str()},
                                {"impi", result.impi.str()},
                                {"contact", item.contact},
                                {"received", binding.received},
                                {"expires", item.expires}});
    }

    std::string contacts;
    for (const auto& binding : bindings_of(impu)) {
        const auto remaining =
            std::chrono::duration_cast<std::chrono::seconds>(binding.expires - now).count();
        if (!contacts.empty()) {
            contacts += ", ";
        }
        contacts += "<" + binding.contact +
                    ">;expires=" + std::to_string(std::max<long long>(remaining, 1));
    }
    const std::string associated = "P-Associated-URI: <" + impu.str() + ">";
    // As an S-CSCF: the UE pre-loads this Route on its originating requests (TS 24.229).
    const std::string service_route = "<" + own_uri() + ";lr>";
    nta_incoming_treply(irq, SIP_200_OK,
                        SIPTAG_CONTACT_STR(contacts.empty() ? nullptr : contacts.c_str()),
                        SIPTAG_HEADER_STR(associated.c_str()),
                        SIPTAG_SERVICE_ROUTE_STR(service_route.c_str()), TAG_END());
    return 0;
}

// ---- routing ------------------------------------------------------------------------------

int imsp2p_ims_core_state::handle_from_as(nta_incoming_t* irq, const sip_t* sip,
                                          const peer_address& peer, bool routed_to_us,
                                          const std::string& request_uri) {
    const std::string method = sip->sip_request->rq_method_name;
    const bool in_dialog = sip->sip_to != nullptr && sip->sip_to->a_tag != nullptr;
    if (in_dialog) {
        return forward(irq, {}, false, false, routed_to_us, {}, {},
                       method + " in dialog from AS " + peer.uri());
    }
    std::error_code ec;
    const core::impu target = core::impu::parse(request_uri, ec);
    if (ec) {
        return reply(irq, 404, "Not Found (Request-URI is not a public user identity)");
    }
    const auto user = registry->find(target, ec);
    if (ec) {
        return reply(irq, 500, "Server Internal Error (subscriber database)");
    }
    if (!user) {
        log.info("terminating request for an unknown user",
                 {{"method", method}, {"impu", target.str()}});
        return reply(irq, 404, "Not Found (no such user)");
    }
    const auto bindings = bindings_of(target);
    if (bindings.empty()) {
        log.info("terminating request for an unregistered user",
                 {{"method", method}, {"impu", target.str()}});
        return reply(irq, 480, "Temporarily Unavailable (user not registered)");
    }
    const auto& binding = bindings.front();
    return forward(irq, {}, false, method == "SUBSCRIBE", routed_to_us, binding.contact, {},
                   method + " from AS " + peer.uri() + " to " + target.str());
}

int imsp2p_ims_core_state::handle_from_ue(nta_incoming_t* irq, const sip_t* sip,
                                          const peer_address& peer, bool routed_to_us,
                                          const std::string& request_uri) {
    const std::string method = sip->sip_request->rq_method_name;
    std::error_code ec;
    const core::impu claimed = core::impu::parse(
        url_text(home, sip->sip_from != nullptr ? sip->sip_from->a_url : nullptr), ec);

    // Who is it? The registration flow first (P-CSCF), else Digest proxy authentication.
    std::optional<core::impu> identity;
    std::string how;
    if (settings.trust_registration_flow) {
        purge_expired();
        const std::string flow = peer.uri();
        for (const auto& [key, binding] : location) {
            if (binding.received == flow) {
                if (!identity || (!claimed.empty() && binding.impu == claimed)) {
                    identity = binding.impu;
                }
            }
        }
        how = "registration flow";
    }
    if (!identity) {
        const sip::auth_result result = authenticate(sip, true);
        if (result.verdict == sip::auth_result::outcome::challenge) {
            nta_incoming_treply(irq, SIP_407_PROXY_AUTH_REQUIRED,
                                SIPTAG_PROXY_AUTHENTICATE_STR(result.challenge.c_str()), TAG_END());
            return 0;
        }
        if (result.verdict == sip::auth_result::outcome::rejected) {
            log.warning("request refused",
                        {{"method", method}, {"reason", result.reason}, {"from", peer.uri()}});
            return reply(irq, 403, "Forbidden (" + result.reason + ")");
        }
        const auto users = registry->find_by_impi(result.impi, ec);
        if (ec || users.empty()) {
            return reply(irq, 403, "Forbidden (no public identity for this user)");
        }
        identity = users.front().impu;
        for (const auto& user : users) {
            if (!claimed.empty() && user.impu == claimed) {
                identity = user.impu;
            }
        }
        how = "digest";
    }
    const std::string asserted = "<" + identity->str() + ">";
    const bool in_dialog = sip->sip_to != nullptr && sip->sip_to->a_tag != nullptr;
    if (in_dialog) {
        return forward(irq, asserted, true, false, routed_to_us, {}, {},
                       method + " in dialog from " + identity->str());
    }
    if (const sip::ifc_rule* rule = match_ifc(method, request_uri)) {
        log.info("originating request to AS", {{"method", method},
                                               {"asserted", identity->str()},
                                               {"identified_by", how},
                                               {"ifc", rule->name},
                                               {"as", rule->as_uri}});
        return forward(irq, asserted, true, method == "SUBSCRIBE", routed_to_us, {}, rule->as_uri,
                       method + " from " + identity->str() + " to AS " + rule->as_uri);
    }
    const core::impu target = core::impu::parse(request_uri, ec);
    if (!ec) {
        const auto bindings = bindings_of(target);
        if (!bindings.empty()) {
            return forward(irq, asserted, true, method == "SUBSCRIBE", routed_to_us,
                           bindings.front().contact, {},
                           method + " from " + identity->str() + " to " + target.str());
        }
        const auto user = registry->find(target, ec);
        if (user) {
            return reply(irq, 480, "Temporarily Unavailable (user not registered)");
        }
    }
    return reply(irq, 404, "Not Found (no filter criterion and no registered user)");
}

int imsp2p_ims_core_state::forward(nta_incoming_t* irq, const std::string& asserted,
                                   bool strip_identity, bool record_route, bool pop_route,
                                   const std::string& new_request_uri, const std::string& next_hop,
                                   const std::string& summary) {
    msg_t* original = nta_incoming_getrequest(irq);
    msg_t* msg = msg_copy(original);
    msg_destroy(original);
    if (msg == nullptr) {
        return reply(irq, 500, "Server Internal Error (out of memory)");
    }
    sip_t* fs = sip_object(msg);
    if (pop_route && fs->sip_route != nullptr) {
        sip_route_remove(msg, fs);
    }
    if (strip_identity) {
        while (sip_p_asserted_identity_t* h = sip_p_asserted_identity(fs)) {
            msg_header_remove(msg, as_pub(fs), as_header(h));
        }
        while (sip_p_preferred_identity_t* h = sip_p_preferred_identity(fs)) {
            msg_header_remove(msg, as_pub(fs), as_header(h));
        }
    }
    if (!asserted.empty()) {
        msg_header_add_make(msg, as_pub(fs), sip_p_asserted_identity_class, asserted.c_str());
    }
    unsigned long hops = 70;
    if (fs->sip_max_forwards != nullptr) {
        hops = fs->sip_max_forwards->mf_count;
        msg_header_remove(msg, as_pub(fs), as_header(fs->sip_max_forwards));
    }
    msg_header_add_make(msg, as_pub(fs), sip_max_forwards_class,
                        std::to_string(hops > 0 ? hops - 1 : 0).c_str());
    if (record_route) {
        const std::string value = "<" + own_uri() + ";lr>";
        sip_header_t* rr = sip_header_make(msg_home(msg), sip_record_route_class, value.c_str());
        msg_header_prepend(msg, as_pub(fs), reinterpret_cast<msg_header_t**>(&fs->sip_record_route),
                           as_header(rr));
    }
    if (!new_request_uri.empty()) {
        sip_request_t* rq = sip_request_create(msg_home(msg), fs->sip_request->rq_method,
                                               fs->sip_request->rq_method_name,
                                               as_url_string(new_request_uri.c_str()), nullptr);
        if (rq == nullptr) {
            msg_destroy(msg);
            return reply(irq, 500, "Server Internal Error (bad contact)");
        }
        msg_header_replace(msg, as_pub(fs), as_header(fs->sip_request), as_header(rq));
    }
    auto* relay = new imsp2p_ims_forward{this, irq, nullptr, summary};
    relay->orq = nta_outgoing_mcreate(agent, &on_response, relay,
                                      next_hop.empty() ? nullptr : as_url_string(next_hop.c_str()),
                                      msg, TAG_END());
    if (relay->orq == nullptr) {
        msg_destroy(msg);
        delete relay;
        log.error("cannot forward", {{"request", summary}});
        return reply(irq, 503, "Service Unavailable (cannot forward)");
    }
    pending.insert(relay);
    kept = true;
    log.debug("forwarded", {{"request", summary}});
    return 0;
}

int imsp2p_ims_core_state::on_response(imsp2p_ims_forward* relay, nta_outgoing_t* orq,
                                       const sip_t* sip) {
    imsp2p_ims_core_state* self = relay->state;
    const int status = sip != nullptr && sip->sip_status != nullptr ? sip->sip_status->st_status
                                                                    : nta_outgoing_status(orq);
    if (status <= 100) {
        return 0;
    }
    bool relayed = false;
    if (msg_t* response = nta_outgoing_getresponse(orq)) {
        msg_t* copy = msg_copy(response);
        msg_destroy(response);
        if (copy != nullptr) {
            sip_t* rs = sip_object(copy);
            sip_via_remove(copy, rs);
            if (rs->sip_via != nullptr) {
                if (rs->sip_to != nullptr && rs->sip_to->a_tag != nullptr) {
                    nta_incoming_tag(relay->irq, rs->sip_to->a_tag);
                }
                relayed = nta_incoming_mreply(relay->irq, copy) == 0;
            } else {
                msg_destroy(copy);
            }
        }
    }
    if (!relayed) {
        const char* phrase = sip != nullptr && sip->sip_status != nullptr
                                 ? sip->sip_status->st_phrase
                                 : "Service Unavailable";
        nta_incoming_treply(relay->irq, status, phrase, TAG_END());
    }
    if (status >= 200) {
        self->log.info("relayed final response", {{"request", relay->summary}, {"status", status}});
        nta_outgoing_destroy(relay->orq);
        nta_incoming_destroy(relay->irq);
        self->pending.erase(relay);
        delete relay;
    }
    return 0;
}

// ---- the facade ---------------------------------------------------------------------------

struct sip::ims_core::impl {
    ims_core_settings settings;
    core::logger log;
    authenticator_factory factory;
    std::unique_ptr<imsp2p_ims_core_state> state;
    std::thread thread;
    std::uint16_t port = 0;
};

sip::ims_core::ims_core(ims_core_settings settings, core::logger log,
                        authenticator_factory make_authenticator)
    : impl_(std::make_unique<impl>()) {
    impl_->settings = std::move(settings);
    impl_->log = std::move(log);
    impl_->factory = std::move(make_authenticator);
}

sip::ims_core::~ims_core() {
    stop();
}

void sip::ims_core::start() {
    if (impl_->thread.joinable()) {
        return;
    }
    impl_->state =
        std::make_unique<imsp2p_ims_core_state>(impl_->settings, impl_->log, impl_->factory);
    std::promise<void> ready;
    std::future<void> started = ready.get_future();
    imsp2p_ims_core_state* state = impl_->state.get();
    impl_->thread = std::thread([state, &ready] {
        su_init();
        try {
            state->open();
        } catch (...) {
            state->close();
            su_deinit();
            ready.set_exception(std::current_exception());
            return;
        }
        ready.set_value();
        su_root_run(state->root);
        state->close();
        su_deinit();
    });
    try {
        started.get();
    } catch (...) {
        impl_->thread.join();
        impl_->state.reset();
        throw;
    }
    impl_->port = state->port;
    impl_->log.info("IMS core started", {{"address", impl_->settings.listen_address},
                                         {"port", impl_->port},
                                         {"database", impl_->settings.database.string()}});
}

void sip::ims_core::stop() {
    if (!impl_ || !impl_->thread.joinable()) {
        return;
    }
    su_task_execute(
        su_root_task(impl_->state->root),
        [](void* root) -> int {
            su_root_break(static_cast<su_root_t*>(root));
            return 0;
        },
        impl_->state->root, nullptr);
    impl_->thread.join();
    impl_->state.reset();
    impl_->port = 0;
    impl_->log.info("IMS core stopped");
}

std::uint16_t sip::ims_core::port() const noexcept {
    return impl_->port;
}
