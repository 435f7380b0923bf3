#include <imsp2p/sip/user_agent.hpp>

#include <imsp2p/sip/one_pass.hpp>

#include <imsp2p/sip/error.hpp>

#include "sofia_support.hpp"

#include <imsp2p/pana/digest.hpp>

#include <sofia-sip/sip_status.h>

#include <nlohmann/json.hpp>

#include <algorithm>
#include <condition_variable>
#include <deque>
#include <mutex>
#include <stdexcept>
#include <unordered_set>

namespace imsp2p::sip {

credentials_provider::~credentials_provider() = default;

password_credentials::password_credentials(std::string username, std::string password,
                                           std::string realm)
    : username_(std::move(username)), password_(std::move(password)), realm_(std::move(realm)) {}

std::optional<auth_credentials> password_credentials::answer(const auth_challenge& challenge) {
    if (!challenge.algorithm.empty() && challenge.algorithm != "MD5" &&
        challenge.algorithm != "md5") {
        return std::nullopt;
    }
    if (!realm_.empty() && realm_ != challenge.realm) {
        return std::nullopt;
    }
    auth_credentials credentials;
    credentials.username = username_;
    const auto bytes = core::as_bytes(password_);
    credentials.secret.assign(bytes.begin(), bytes.end());
    return credentials;
}

namespace {

// The user part and host of a sip: URI ("sip:alice@ims.example;x" -> "alice", "ims.example").
std::pair<std::string, std::string> split_aor(const std::string& aor) {
    const std::string uri = detail::bare(aor);
    if (uri.rfind("sip:", 0) != 0 && uri.rfind("sips:", 0) != 0) {
        throw std::invalid_argument("user_agent: the AOR must be a sip: URI: " + aor);
    }
    std::string rest = uri.substr(uri.find(':') + 1);
    rest = rest.substr(0, rest.find_first_of(";?"));
    const auto at = rest.find('@');
    if (at == std::string::npos) {
        return {"", rest};
    }
    return {rest.substr(0, at), rest.substr(at + 1)};
}

}  // namespace

class user_agent::impl {
  public:
    impl(user_agent_settings settings, core::logger log)
        : settings_(std::move(settings)), log_(std::move(log)) {
        const auto [user, host] = split_aor(settings_.aor);
        user_ = user;
        if (settings_.registrar.empty()) {
            settings_.registrar = "sip:" + host;
        }
        settings_.refresh_fraction = std::clamp(settings_.refresh_fraction, 0.1, 0.9);
        register_call_id_ = detail::random_token(12);
        register_tag_ = detail::random_token(8);
        detail::extend_sip_parser();
        stack_ = std::make_unique<detail::sofia_thread>("sip-ua");
        const std::string failure = stack_->call([this] { return create_agent(); });
        if (!failure.empty()) {
            stack_->stop([this] { destroy_agent(); });
            throw std::system_error(make_error_code(errc::stack_failure), failure);
        }
    }

    ~impl() {
        stack_->stop([this] { destroy_agent(); });
    }

    std::future<transaction_result> start(outgoing_request request, bool is_register) {
        auto promise = std::make_shared<std::promise<transaction_result>>();
        auto future = promise->get_future();
        auto* tx = make_tx(std::move(request), promise, is_register);
        if (!stack_->post([this, tx] { begin(tx); })) {
            delete tx;
            promise->set_value(transaction_result{503, "Stopped", {}, {}});
        }
        return future;
    }

    transaction_result do_register(std::chrono::seconds expires,
                                   std::chrono::milliseconds timeout) {
        {
            std::lock_guard lock(mutex_);
            wanted_ = expires.count() > 0;
        }
        auto future = start(register_request(expires), true);
        return wait(future, timeout);
    }

    static transaction_result wait(std::future<transaction_result>& future,
                                   std::chrono::milliseconds timeout) {
        if (future.wait_for(timeout) != std::future_status::ready) {
            return transaction_result{0, "Timeout waiting for the final response", {}, {}};
        }
        return future.get();
    }

    outgoing_request register_request(std::chrono::seconds expires) const {
        outgoing_request request;
        request.method = "REGISTER";
        request.request_uri = settings_.registrar;
        request.from_uri = settings_.aor;
        request.to_uri = settings_.aor;
        request.from_tag = register_tag_;
        request.call_id = register_call_id_;
        request.headers.push_back({"Expires", std::to_string(expires.count())});
        return request;
    }

    bool registered() const {
        std::lock_guard lock(mutex_);
        return registered_;
    }

    std::size_t registrations() const {
        std::lock_guard lock(mutex_);
        return registrations_;
    }

    void push(incoming_request request) {
        {
            std::lock_guard lock(mutex_);
            queue_.push_back(std::move(request));
            while (queue_.size() > settings_.max_queue) {
                queue_.pop_front();
            }
        }
        queued_.notify_all();
    }

    std::optional<incoming_request> next_request(std::chrono::milliseconds timeout) {
        std::unique_lock lock(mutex_);
        if (!queued_.wait_for(lock, timeout, [&] { return !queue_.empty(); })) {
            return std::nullopt;
        }
        auto request = std::move(queue_.front());
        queue_.pop_front();
        return request;
    }

    std::optional<incoming_request> wait_for_message(const std::string& request_id,
                                                     std::chrono::milliseconds timeout) {
        const auto deadline = std::chrono::steady_clock::now() + timeout;
        std::unique_lock lock(mutex_);
        while (true) {
            for (auto it = queue_.begin(); it != queue_.end(); ++it) {
                if (it->method != "MESSAGE") {
                    continue;
                }
                const auto body = nlohmann::json::parse(it->body, nullptr, false);
                if (body.is_object() && body.contains("request_id") &&
                    body["request_id"].is_string() &&
                    body["request_id"].get<std::string>() == request_id) {
                    auto request = std::move(*it);
                    queue_.erase(it);
                    return request;
                }
            }
            if (queued_.wait_until(lock, deadline) == std::cv_status::timeout) {
                return std::nullopt;
            }
        }
    }

    std::string contact() const { return contact_; }

    std::uint16_t port(transport kind) const {
        return kind == transport::udp ? ports_[0] : kind == transport::tcp ? ports_[1] : 0;
    }

    const user_agent_settings& settings() const { return settings_; }

  private:
    struct client_tx {
        impl* self = nullptr;
        outgoing_request request;
        detail::request_identity identity;
        int auth_attempts = 0;
        std::shared_ptr<std::promise<transaction_result>> promise;
        bool is_register = false;
        std::string authorization_name;
        std::string authorization_value;
        std::string initial_content_type;  // a body the initial credentials came with
        std::string initial_body;
        sip_payload_t initial_payload{};  // points into initial_body while sending
    };

    client_tx* make_tx(outgoing_request request,
                       std::shared_ptr<std::promise<transaction_result>> promise,
                       bool is_register) {
        auto* tx = new client_tx;
        tx->self = this;
        tx->request = std::move(request);
        tx->promise = std::move(promise);
        tx->is_register = is_register;
        return tx;
    }

    // --- Stack thread -------------------------------------------------------------------------

    std::string create_agent() {
        detail::tag_list agent_tags;
        agent_tags.integer(ntatag_ua, 1);
        if (!settings_.outbound_proxy.empty()) {
            agent_tags.pointer(ntatag_default_proxy, settings_.outbound_proxy.c_str());
        }
        agent_ =
            nta_agent_create(stack_->root(), detail::url_string(settings_.listen), nullptr, nullptr,
                             tag_next, agent_tags.next(), detail::tag_end, tag_value_t{0});
        if (agent_ == nullptr) {
            return "cannot listen on " + settings_.listen;
        }
        detail::tag_list leg_tags;
        leg_tags.integer(ntatag_no_dialog, 1);
        leg_ = nta_leg_tcreate(agent_, &impl::on_request, reinterpret_cast<nta_leg_magic_t*>(this),
                               tag_next, leg_tags.next(), detail::tag_end, tag_value_t{0});
        if (leg_ == nullptr) {
            return "cannot create the default leg";
        }
        detail::bound_ports(agent_, ports_);
        if (const sip_contact_t* m = nta_agent_contact(agent_); m != nullptr) {
            std::string address = detail::url_text(m->m_url);  // "sip:127.0.0.1:5062"
            contact_ = user_.empty() ? address : "sip:" + user_ + "@" + address.substr(4);
        }
        refresh_timer_ = su_timer_create(su_root_task(stack_->root()), 1000);
        return {};
    }

    void destroy_agent() {
        if (refresh_timer_ != nullptr) {
            su_timer_destroy(refresh_timer_);
            refresh_timer_ = nullptr;
        }
        if (leg_ != nullptr) {
            nta_leg_destroy(leg_);
            leg_ = nullptr;
        }
        if (agent_ != nullptr) {
            nta_agent_destroy(agent_);  // Destroys the outgoing transactions too.
            agent_ = nullptr;
        }
        for (auto* tx : active_) {
            tx->promise->set_value(transaction_result{503, "Stopped", {}, {}});
            delete tx;
        }
        active_.clear();
    }

    void finish(client_tx* tx, transaction_result result) {
        active_.erase(tx);
        tx->promise->set_value(std::move(result));
        delete tx;
    }

    void begin(client_tx* tx) {
        if (agent_ == nullptr) {
            finish(tx, transaction_result{503, "Stopped", {}, {}});
            return;
        }
        active_.insert(tx);
        auto& request = tx->request;
        if (request.from_uri.empty()) {
            request.from_uri = settings_.aor;
        }
        tx->identity.from_tag =
            request.from_tag.empty() ? detail::random_token(8) : request.from_tag;
        if (tx->is_register) {
            tx->identity.call_id = register_call_id_;
            tx->identity.cseq = ++register_cseq_;
            // One-pass registration (one_pass.hpp): credentials before any challenge.
            auto* initial =
                dynamic_cast<initial_authorization_provider*>(settings_.credentials.get());
            if (initial != nullptr && tx->authorization_name.empty()) {
                initial_request about;
                about.method = request.method;
                about.request_uri = request.request_uri;
                about.call_id = tx->identity.call_id;
                about.cseq = tx->identity.cseq;
                about.from_uri = request.from_uri;
                about.to_uri = request.to_uri.empty() ? request.request_uri : request.to_uri;
                about.contact = contact_;
                if (auto value = initial->initial_credentials_for(about)) {
                    tx->authorization_name = "Authorization";
                    tx->authorization_value = std::move(value->authorization);
                    tx->initial_content_type = std::move(value->content_type);
                    tx->initial_body = std::move(value->body);
                }
            }
        } else {
            tx->identity.call_id =
                request.call_id.empty() ? detail::random_token(12) : request.call_id;
            tx->identity.cseq = 1;
        }
        send(tx);
    }

    void send(client_tx* tx) {
        try {
            const auto& request = tx->request;
            const bool needs_contact =
                tx->is_register || request.method == "SUBSCRIBE" || request.method == "NOTIFY";
            detail::tag_list tags = detail::request_tags(request, tx->identity,
                                                         needs_contact ? contact_ : std::string(),
                                                         settings_.user_agent);
            if (!tx->authorization_name.empty()) {
                tags.str(tx->authorization_name == "Authorization" ? siptag_authorization_str
                                                                   : siptag_proxy_authorization_str,
                         tx->authorization_value);
            }
            if (!tx->initial_body.empty() && !tx->initial_content_type.empty()) {
                // Binary-safe (an identity body is DER): a payload header, not a C string.
                sip_payload_init(&tx->initial_payload);
                tx->initial_payload.pl_data = tx->initial_body.data();
                tx->initial_payload.pl_len = tx->initial_body.size();
                tags.str(siptag_content_type_str, tx->initial_content_type);
                tags.pointer(siptag_payload, &tx->initial_payload);
            }
            const std::string first_hop =
                request.route.empty() ? "" : detail::bare(request.route.front());
            nta_outgoing_t* orq = nta_outgoing_tcreate(
                nta_default_leg(agent_), &impl::on_response,
                reinterpret_cast<nta_outgoing_magic_t*>(tx),
                first_hop.empty() ? nullptr : detail::url_string(first_hop),
                sip_method_code(request.method.c_str()), request.method.c_str(),
                detail::url_string(request.request_uri), tag_next, tags.next(), detail::tag_end,
                tag_value_t{0});
            if (orq == nullptr) {
                finish(tx, transaction_result{503, "Cannot Send Request", {}, {}});
            }
        } catch (const std::exception& error) {
            log_.error("cannot send request", {{"error", error.what()}});
            finish(tx, transaction_result{500, error.what(), {}, {}});
        }
    }

    static int on_response(nta_outgoing_magic_t* magic, nta_outgoing_t* orq, const sip_t* sip) {
        auto* tx = reinterpret_cast<client_tx*>(magic);
        const int status = nta_outgoing_status(orq);
        if (status < 200) {
            return 0;
        }
        tx->self->response(tx, orq, status, sip);
        return 0;
    }

    // Builds the Authorization value for a challenge; empty if it cannot be answered.
    std::string answer_challenge(client_tx* tx, const msg_auth_t* au) {
        if (!settings_.credentials || au == nullptr || au->au_scheme == nullptr) {
            return {};
        }
        std::string value = au->au_scheme;
        for (auto* param = au->au_params; param != nullptr && *param != nullptr; ++param) {
            value += (param == au->au_params ? " " : ", ");
            value += *param;
        }
        std::error_code ec;
        const auto challenge = pana::digest_challenge::parse(value, ec);
        if (ec) {
            log_.warning("unparseable challenge", {{"error", ec.message()}});
            return {};
        }
        auth_challenge offered;
        offered.header_value = value;
        offered.realm = challenge.realm;
        offered.nonce = challenge.nonce;
        offered.algorithm = challenge.algorithm.value_or("");
        offered.method = tx->request.method;
        offered.request_uri = tx->request.request_uri;
        const auto credentials = settings_.credentials->answer(offered);
        if (!credentials) {
            return {};
        }
        pana::digest_credentials answer;
        answer.username = credentials->username;
        answer.realm = challenge.realm;
        answer.nonce = challenge.nonce;
        answer.uri = tx->request.request_uri;
        answer.algorithm = challenge.algorithm;
        answer.opaque = challenge.opaque;
        std::string qop;
        std::string cnonce;
        if (std::find(challenge.qop.begin(), challenge.qop.end(), "auth") != challenge.qop.end()) {
            qop = "auth";
            answer.qop = qop;
            cnonce = detail::random_token(8);
            answer.cnonce = cnonce;
            answer.nonce_count = 1;
        }
        if (credentials->auts.size() == pana::aka_auts{}.size()) {
            pana::aka_auts auts{};
            std::copy(credentials->auts.begin(), credentials->auts.end(), auts.begin());
            answer.auts = auts;
        }
        pana::digest_response_input input;
        input.username = answer.username;
        input.realm = answer.realm;
        input.password = credentials->secret;
        input.nonce = answer.nonce;
        input.cnonce = cnonce;
        input.qop = qop;
        input.nonce_count = 1;
        input.method = tx->request.method;
        input.uri = answer.uri;
        input.body = core::as_bytes(tx->request.body);
        answer.response = pana::compute_digest_response(input, ec);
        if (ec) {
            return {};
        }
        std::string text = answer.to_string(ec);
        if (ec) {
            return {};
        }
        return text;
    }

    void response(client_tx* tx, nta_outgoing_t* orq, int status, const sip_t* sip) {
        if ((status == 401 || status == 407) && sip != nullptr && tx->auth_attempts < 2) {
            const msg_auth_t* au =
                status == 401 ? sip->sip_www_authenticate : sip->sip_proxy_authenticate;
            std::string value;
            try {
                value = answer_challenge(tx, au);
            } catch (const std::exception& error) {
                log_.error("credentials failed", {{"error", error.what()}});
            }
            if (!value.empty()) {
                ++tx->auth_attempts;
                tx->authorization_name = status == 401 ? "Authorization" : "Proxy-Authorization";
                tx->authorization_value = std::move(value);
                tx->initial_content_type.clear();  // the identity body went with the first try
                tx->initial_body.clear();
                if (tx->is_register) {
                    tx->identity.cseq = ++register_cseq_;
                } else {
                    ++tx->identity.cseq;
                }
                nta_outgoing_destroy(orq);
                send(tx);
                return;
            }
        }
        transaction_result result;
        result.status = status;
        if (sip != nullptr && sip->sip_status != nullptr && sip->sip_status->st_phrase) {
            result.reason = sip->sip_status->st_phrase;
        } else if (const char* phrase = sip_status_phrase(status)) {
            result.reason = phrase;
        }
        // `sip` belongs to the response message, which the transaction owns: read it before
        // the transaction is destroyed.
        if (tx->is_register) {
            registered_response(status, sip);
        }
        if (msg_t* msg = nta_outgoing_getresponse(orq); msg != nullptr) {
            result.headers = detail::all_headers(msg, sip);
            result.body = detail::payload_text(sip);
            msg_destroy(msg);
        }
        nta_outgoing_destroy(orq);
        log_.debug("final response", {{"method", tx->request.method}, {"status", status}});
        finish(tx, std::move(result));
    }

    void registered_response(int status, const sip_t* sip) {
        bool wanted = false;
        {
            std::lock_guard lock(mutex_);
            wanted = wanted_;
            registered_ = wanted && status >= 200 && status < 300;
            if (registered_) {
                ++registrations_;
            }
        }
        if (!wanted || status >= 300) {
            su_timer_reset(refresh_timer_);
            if (status >= 300) {
                log_.warning("registration failed", {{"status", status}});
            }
            return;
        }
        // The granted lifetime: our Contact's expires, else Expires, else what we asked.
        long granted = static_cast<long>(settings_.register_expires.count());
        if (sip != nullptr) {
            if (sip->sip_expires != nullptr) {
                granted = static_cast<long>(sip->sip_expires->ex_delta);
            }
            for (const sip_contact_t* m = sip->sip_contact; m != nullptr; m = m->m_next) {
                if (m->m_expires != nullptr && detail::url_text(m->m_url) == contact_) {
                    granted = std::strtol(m->m_expires, nullptr, 10);
                }
            }
        }
        const auto delay_ms = std::max<long>(
            500,
            static_cast<long>(static_cast<double>(granted) * 1000.0 * settings_.refresh_fraction));
        su_timer_set_interval(refresh_timer_, &impl::on_refresh,
                              reinterpret_cast<su_timer_arg_t*>(this),
                              static_cast<su_duration_t>(delay_ms));
        log_.info("registered", {{"aor", settings_.aor}, {"expires", granted}});
    }

    static void on_refresh(su_root_magic_t* /*magic*/, su_timer_t* /*timer*/, su_timer_arg_t* arg) {
        auto* self = reinterpret_cast<impl*>(arg);
        {
            std::lock_guard lock(self->mutex_);
            if (!self->wanted_) {
                return;
            }
        }
        auto promise = std::make_shared<std::promise<transaction_result>>();
        auto* tx =
            self->make_tx(self->register_request(self->settings_.register_expires), promise, true);
        self->begin(tx);
    }

    static int on_request(nta_leg_magic_t* magic, nta_leg_t* /*leg*/, nta_incoming_t* irq,
                          const sip_t* sip) {
        return reinterpret_cast<impl*>(magic)->request(irq, sip);
    }

    int request(nta_incoming_t* irq, const sip_t* sip) {
        if (sip == nullptr || sip->sip_request == nullptr) {
            return 400;
        }
        const auto method = sip->sip_request->rq_method;
        if (method == sip_method_ack || method == sip_method_cancel) {
            return 0;
        }
        if (method != sip_method_message && method != sip_method_notify &&
            method != sip_method_options) {
            detail::tag_list tags;
            tags.str(siptag_allow_str, "MESSAGE, NOTIFY, OPTIONS");
            nta_incoming_treply(irq, 405, "Method Not Allowed", tag_next, tags.next(),
                                detail::tag_end, tag_value_t{0});
            nta_incoming_destroy(irq);
            return 0;
        }
        incoming_verdict verdict;
        if (method != sip_method_options) {
            msg_t* msg = nta_incoming_getrequest(irq);
            try {
                incoming_request request = detail::to_incoming_request(msg, sip);
                if (settings_.accept) {
                    verdict = settings_.accept(request);
                    if (verdict.status < 200 || verdict.status > 699) {
                        verdict = {500, "Server Internal Error", {}};
                    }
                }
                if (verdict.status < 300) {
                    push(std::move(request));
                }
            } catch (const std::exception& error) {
                log_.error("cannot take request", {{"error", error.what()}});
                verdict = {500, "Server Internal Error", {}};
            }
            msg_destroy(msg);
        }
        detail::tag_list tags;
        tags.str(siptag_user_agent_str, settings_.user_agent);
        const std::string extra = detail::header_lines(verdict.headers);
        if (!extra.empty()) {
            tags.str(siptag_header_str, extra);
        }
        nta_incoming_tag(irq, nullptr);
        nta_incoming_treply(irq, verdict.status, verdict.reason.c_str(), tag_next, tags.next(),
                            detail::tag_end, tag_value_t{0});
        nta_incoming_destroy(irq);
        return 0;
    }

    user_agent_settings settings_;
    core::logger log_;
    std::string user_;
    std::string register_call_id_;
    std::string register_tag_;
    std::string contact_;
    std::uint16_t ports_[2] = {0, 0};
    std::unique_ptr<detail::sofia_thread> stack_;
    // Shared with the host threads (under mutex_):
    mutable std::mutex mutex_;
    std::condition_variable queued_;
    std::deque<incoming_request> queue_;
    bool wanted_ = false;
    bool registered_ = false;
    std::size_t registrations_ = 0;
    // Stack thread only:
    nta_agent_t* agent_ = nullptr;
    nta_leg_t* leg_ = nullptr;
    su_timer_t* refresh_timer_ = nullptr;
    std::uint32_t register_cseq_ = 0;
    std::unordered_set<client_tx*> active_;
};

user_agent::user_agent(user_agent_settings settings, core::logger log)
    : impl_(std::make_unique<impl>(std::move(settings), std::move(log))) {}

user_agent::~user_agent() = default;

transaction_result user_agent::register_now(std::chrono::milliseconds timeout) {
    return impl_->do_register(impl_->settings().register_expires, timeout);
}

transaction_result user_agent::unregister(std::chrono::milliseconds timeout) {
    return impl_->do_register(std::chrono::seconds(0), timeout);
}

bool user_agent::registered() const {
    return impl_->registered();
}

std::size_t user_agent::registrations() const {
    return impl_->registrations();
}

std::future<transaction_result> user_agent::send_async(outgoing_request request) {
    return impl_->start(std::move(request), false);
}

transaction_result user_agent::send(outgoing_request request, std::chrono::milliseconds timeout) {
    auto future = impl_->start(std::move(request), false);
    return impl::wait(future, timeout);
}

std::optional<incoming_request> user_agent::next_request(std::chrono::milliseconds timeout) {
    return impl_->next_request(timeout);
}

std::optional<incoming_request> user_agent::wait_for_message(const std::string& request_id,
                                                             std::chrono::milliseconds timeout) {
    return impl_->wait_for_message(request_id, timeout);
}

std::string user_agent::contact() const {
    return impl_->contact();
}

std::uint16_t user_agent::port(transport kind) const {
    return impl_->port(kind);
}

}  // namespace imsp2p::sip
