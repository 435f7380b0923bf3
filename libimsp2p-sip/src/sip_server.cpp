#include <imsp2p/sip/sip_server.hpp>

#include <imsp2p/sip/error.hpp>

#include "sofia_support.hpp"

#include <sofia-sip/sip_status.h>

#include <imsp2p/core/crypto.hpp>

#include <boost/asio/post.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/strand.hpp>
#include <boost/asio/thread_pool.hpp>

#include <strings.h>

#include <atomic>
#include <optional>
#include <stdexcept>
#include <thread>
#include <unordered_map>
#include <unordered_set>

// Sofia defines an accessor macro sip_server(sip) that collides with the class name.
#undef sip_server

namespace imsp2p::sip {

request_handler::~request_handler() = default;

void request_handler::on_outcome(const std::string& /*correlation_id*/, int /*status*/,
                                 const std::string& /*reason*/) {}

std::vector<outgoing_request> request_handler::poll(std::chrono::system_clock::time_point) {
    return {};
}

namespace {

constexpr const char* allowed_methods = "MESSAGE, PUBLISH, SUBSCRIBE, NOTIFY, OPTIONS";

}  // namespace

class sip_server::impl {
  public:
    impl(request_handler& handler, sip_server_settings settings, core::logger log)
        : handler_(handler), settings_(std::move(settings)), log_(std::move(log)) {
        if (settings_.worker_threads == 0) {
            settings_.worker_threads = 1;
        }
        if (settings_.listen.empty()) {
            throw std::invalid_argument("sip_server: no listen URI");
        }
    }

    ~impl() { stop(); }

    void start() {
        if (stack_) {
            throw std::logic_error("sip_server::start() called twice");
        }
        detail::extend_sip_parser();
        pool_.emplace(settings_.worker_threads);
        strand_.emplace(boost::asio::make_strand(pool_->get_executor()));
        timer_.emplace(*strand_);
        stack_ = std::make_unique<detail::sofia_thread>("sip-server");
        std::string failure = stack_->call([this] { return create_agent(); });
        if (!failure.empty()) {
            stop();
            throw std::system_error(make_error_code(errc::stack_failure), failure);
        }
        started_ = true;
        arm_poll();
        log_.info("listening", {{"contact", contact_},
                                {"udp", ports_[0]},
                                {"tcp", ports_[1]},
                                {"workers", settings_.worker_threads}});
    }

    void stop() {
        if (!stack_ || stopped_.exchange(true)) {
            return;
        }
        stopping_ = true;
        if (started_) {
            boost::asio::post(*strand_, [this] { timer_->cancel(); });
            const auto deadline = std::chrono::steady_clock::now() + settings_.stop_timeout;
            while ((in_flight_.load() > 0 || outgoing_.load() > 0) &&
                   std::chrono::steady_clock::now() < deadline) {
                std::this_thread::sleep_for(std::chrono::milliseconds(5));
            }
            if (in_flight_.load() > 0 || outgoing_.load() > 0) {
                log_.warning("stopping with work pending",
                             {{"in_flight", in_flight_.load()}, {"outgoing", outgoing_.load()}});
            }
        }
        if (pool_) {
            pool_->join();
        }
        stack_->stop([this] { destroy_agent(); });
        if (started_) {
            log_.info("stopped");
        }
    }

    void send(outgoing_request request) {
        if (!stack_ || stopping_) {
            throw std::system_error(make_error_code(errc::stack_failure), "server not running");
        }
        ++outgoing_;
        if (!stack_->post([this, request = std::move(request)] { send_now(request); })) {
            --outgoing_;
            throw std::system_error(make_error_code(errc::stack_failure), "server not running");
        }
    }

    [[nodiscard]] std::uint16_t port(transport kind) const {
        switch (kind) {
            case transport::udp:
                return ports_[0];
            case transport::tcp:
                return ports_[1];
            case transport::tls:
                return 0;
        }
        return 0;
    }

    [[nodiscard]] const std::string& contact() const { return contact_; }

  private:
    struct outgoing_context {
        impl* self;
        std::string correlation_id;
        std::string method;
    };

    // --- Stack thread -------------------------------------------------------------------------

    std::string create_agent() {
        detail::tag_list agent_tags;
        agent_tags.integer(ntatag_ua, 0).integer(ntatag_server_rport, 1);
        if (!settings_.outbound_proxy.empty()) {
            proxy_ = settings_.outbound_proxy;
            agent_tags.pointer(ntatag_default_proxy, proxy_.c_str());
        }
        agent_ =
            nta_agent_create(stack_->root(), detail::url_string(settings_.listen.front()), nullptr,
                             nullptr, tag_next, agent_tags.next(), detail::tag_end, tag_value_t{0});
        if (agent_ == nullptr) {
            return "cannot listen on " + settings_.listen.front();
        }
        for (std::size_t i = 1; i < settings_.listen.size(); ++i) {
            if (nta_agent_add_tport(agent_, detail::url_string(settings_.listen[i]),
                                    detail::tag_end, tag_value_t{0}) != 0) {
                return "cannot listen on " + settings_.listen[i];
            }
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
            contact_ = detail::url_text(m->m_url);
        }
        return {};
    }

    void destroy_agent() {
        for (auto& [id, irq] : pending_) {
            nta_incoming_treply(irq, 503, "Service Unavailable", detail::tag_end, tag_value_t{0});
            nta_incoming_destroy(irq);
        }
        pending_.clear();
        if (leg_ != nullptr) {
            nta_leg_destroy(leg_);
            leg_ = nullptr;
        }
        if (agent_ != nullptr) {
            nta_agent_destroy(agent_);  // Destroys the outgoing transactions too.
            agent_ = nullptr;
        }
        for (auto* context : contexts_) {
            delete context;
        }
        contexts_.clear();
    }

    static int on_request(nta_leg_magic_t* magic, nta_leg_t* /*leg*/, nta_incoming_t* irq,
                          const sip_t* sip) {
        return reinterpret_cast<impl*>(magic)->request(irq, sip);
    }

    int request(nta_incoming_t* irq, const sip_t* sip) {
        if (sip == nullptr || sip->sip_request == nullptr) {
            return 400;
        }
        switch (sip->sip_request->rq_method) {
            case sip_method_message:
            case sip_method_publish:
            case sip_method_subscribe:
            case sip_method_notify:
            case sip_method_options:
                break;
            case sip_method_ack:
            case sip_method_cancel:
                return 0;
            default: {
                detail::tag_list tags;
                tags.str(siptag_allow_str, allowed_methods)
                    .str(siptag_server_str, settings_.server_name);
                nta_incoming_treply(irq, 405, "Method Not Allowed", tag_next, tags.next(),
                                    detail::tag_end, tag_value_t{0});
                nta_incoming_destroy(irq);
                return 0;
            }
        }
        if (stopping_ || in_flight_.load() >= settings_.max_in_flight) {
            detail::tag_list tags;
            tags.str(siptag_retry_after_str, "5").str(siptag_server_str, settings_.server_name);
            nta_incoming_treply(irq, 503, stopping_ ? "Shutting Down" : "Overloaded", tag_next,
                                tags.next(), detail::tag_end, tag_value_t{0});
            nta_incoming_destroy(irq);
            return 0;
        }
        msg_t* msg = nta_incoming_getrequest(irq);
        incoming_request converted;
        try {
            converted = detail::to_incoming_request(msg, sip);
        } catch (const std::exception& error) {
            msg_destroy(msg);
            log_.error("cannot convert request", {{"error", error.what()}});
            return 500;
        }
        msg_destroy(msg);
        const std::uint64_t id = ++next_id_;
        pending_.emplace(id, irq);
        ++in_flight_;
        log_.debug("request", {{"method", converted.method},
                               {"call_id", converted.call_id},
                               {"source", converted.source_address},
                               {"port", converted.source_port}});
        boost::asio::post(
            *pool_, [this, id, converted = std::move(converted)] { run_handler(id, converted); });
        return 0;
    }

    void reply(std::uint64_t id, const outgoing_response& response) {
        const auto found = pending_.find(id);
        if (found == pending_.end()) {
            return;
        }
        nta_incoming_t* irq = found->second;
        pending_.erase(found);
        int status = response.status;
        std::string reason = response.reason;
        detail::tag_list tags;
        su_home_t home[1] = {SU_HOME_INIT(home)};
        try {
            if (status < 200 || status > 699) {
                throw std::invalid_argument("final status out of range");
            }
            const std::string lines = detail::header_lines(response.headers);
            if (!lines.empty()) {
                tags.str(siptag_header_str, lines);
            }
            if (!response.content_type.empty()) {
                tags.str(siptag_content_type_str, response.content_type);
            }
            if (!response.body.empty()) {
                tags.pointer(siptag_payload,
                             sip_payload_create(home, response.body.data(),
                                                static_cast<isize_t>(response.body.size())));
            }
        } catch (const std::exception& error) {
            log_.error("handler gave an invalid response",
                       {{"status", response.status}, {"error", error.what()}});
            status = 500;
            reason = "Internal Server Error";
            tags = detail::tag_list();
        }
        if (reason.empty() || reason.find_first_of("\r\n") != std::string::npos) {
            reason = sip_status_phrase(status) != nullptr ? sip_status_phrase(status) : "Unknown";
        }
        tags.str(siptag_server_str, settings_.server_name);
        if (nta_incoming_gettag(irq) == nullptr) {
            nta_incoming_tag(irq, response.to_tag.empty() ? nullptr : response.to_tag.c_str());
        }
        if (nta_incoming_treply(irq, status, reason.c_str(), tag_next, tags.next(), detail::tag_end,
                                tag_value_t{0}) != 0) {
            log_.error("cannot send response", {{"status", status}});
        }
        nta_incoming_destroy(irq);
        su_home_deinit(home);
    }

    // Sends one request; `outgoing_` was incremented by the caller and is decremented when the
    // transaction ends (or fails to start).
    void send_now(const outgoing_request& request) {
        if (agent_ == nullptr) {
            --outgoing_;
            return;
        }
        auto fail = [&](const std::string& why) {
            log_.error("cannot send request",
                       {{"method", request.method}, {"to", request.to_uri}, {"error", why}});
            report(request.correlation_id, 503, "Service Unavailable");
            --outgoing_;
        };
        try {
            if (request.method.empty() || request.request_uri.empty()) {
                fail("method and Request-URI are required");
                return;
            }
            detail::request_identity identity;
            identity.from_tag =
                request.from_tag.empty() ? detail::random_token(8) : request.from_tag;
            identity.call_id = request.call_id;
            if (identity.call_id.empty()) {
                identity.call_id = detail::random_token(12);
            } else {
                auto& counter = dialog_cseq_[identity.call_id + "\n" + identity.from_tag];
                if (counter == 0) {
                    counter = 1 + static_cast<std::uint32_t>(core::random_bytes(2)[0]) * 16;
                }
                identity.cseq = ++counter;
            }
            const bool needs_contact = request.method == "NOTIFY" || request.method == "SUBSCRIBE";
            detail::tag_list tags = detail::request_tags(
                request, identity, needs_contact ? contact_ : std::string(), settings_.server_name);
            const std::string first_hop =
                request.route.empty() ? "" : detail::bare(request.route.front());
            auto* context = new outgoing_context{this, request.correlation_id, request.method};
            nta_outgoing_t* orq = nta_outgoing_tcreate(
                nta_default_leg(agent_), &impl::on_response,
                reinterpret_cast<nta_outgoing_magic_t*>(context),
                first_hop.empty() ? nullptr : detail::url_string(first_hop),
                sip_method_code(request.method.c_str()), request.method.c_str(),
                detail::url_string(request.request_uri), tag_next, tags.next(), detail::tag_end,
                tag_value_t{0});
            if (orq == nullptr) {
                delete context;
                fail("nta_outgoing_tcreate failed");
                return;
            }
            contexts_.insert(context);
            // A NOTIFY ending the subscription ends the dialog: forget its CSeq counter.
            for (const auto& field : request.headers) {
                if (!request.call_id.empty() && field.name.size() == 18 &&
                    strncasecmp(field.name.c_str(), "Subscription-State", 18) == 0 &&
                    field.value.rfind("terminated", 0) == 0) {
                    dialog_cseq_.erase(identity.call_id + "\n" + identity.from_tag);
                }
            }
            log_.debug("sent", {{"method", request.method},
                                {"uri", request.request_uri},
                                {"correlation_id", request.correlation_id}});
        } catch (const std::exception& error) {
            fail(error.what());
        }
    }

    static int on_response(nta_outgoing_magic_t* magic, nta_outgoing_t* orq, const sip_t* sip) {
        auto* context = reinterpret_cast<outgoing_context*>(magic);
        const int status = nta_outgoing_status(orq);
        if (status < 200) {
            return 0;
        }
        impl* self = context->self;
        std::string reason;
        if (sip != nullptr && sip->sip_status != nullptr && sip->sip_status->st_phrase != nullptr) {
            reason = sip->sip_status->st_phrase;
        } else if (const char* phrase = sip_status_phrase(status)) {
            reason = phrase;
        }
        self->log_.debug("outcome", {{"method", context->method},
                                     {"status", status},
                                     {"correlation_id", context->correlation_id}});
        self->report(context->correlation_id, status, reason);
        self->contexts_.erase(context);
        delete context;
        nta_outgoing_destroy(orq);
        --self->outgoing_;
        return 0;
    }

    void report(const std::string& correlation_id, int status, const std::string& reason) {
        if (!pool_) {
            return;
        }
        ++in_flight_;
        boost::asio::post(*pool_, [this, correlation_id, status, reason] {
            try {
                handler_.on_outcome(correlation_id, status, reason);
            } catch (const std::exception& error) {
                log_.error("on_outcome failed", {{"error", error.what()}});
            }
            --in_flight_;
        });
    }

    // --- Worker pool --------------------------------------------------------------------------

    void run_handler(std::uint64_t id, const incoming_request& request) {
        handled result;
        try {
            result = handler_.handle(request, std::chrono::system_clock::now());
        } catch (const std::exception& error) {
            log_.error("handler failed", {{"method", request.method}, {"error", error.what()}});
            result = handled{};
            result.response.status = 500;
            result.response.reason = "Internal Server Error";
        }
        outgoing_ += result.requests.size();
        const std::size_t count = result.requests.size();
        if (!stack_->post([this, id, result = std::move(result)] {
                reply(id, result.response);
                for (const auto& outgoing : result.requests) {
                    send_now(outgoing);
                }
                --in_flight_;
            })) {
            outgoing_ -= count;
            --in_flight_;
        }
    }

    void arm_poll() {
        if (stopping_) {
            return;
        }
        timer_->expires_after(settings_.poll_interval);
        timer_->async_wait([this](const boost::system::error_code& ec) {
            if (ec || stopping_) {
                return;
            }
            std::vector<outgoing_request> requests;
            try {
                requests = handler_.poll(std::chrono::system_clock::now());
            } catch (const std::exception& error) {
                log_.error("poll failed", {{"error", error.what()}});
            }
            for (auto& request : requests) {
                ++outgoing_;
                if (!stack_->post([this, request = std::move(request)] { send_now(request); })) {
                    --outgoing_;
                }
            }
            arm_poll();
        });
    }

    request_handler& handler_;
    sip_server_settings settings_;
    core::logger log_;
    std::unique_ptr<detail::sofia_thread> stack_;
    std::optional<boost::asio::thread_pool> pool_;
    std::optional<boost::asio::strand<boost::asio::thread_pool::executor_type>> strand_;
    std::optional<boost::asio::steady_timer> timer_;
    std::atomic<bool> stopping_{false};
    std::atomic<bool> stopped_{false};
    bool started_ = false;
    std::atomic<std::size_t> in_flight_{0};
    std::atomic<std::size_t> outgoing_{0};
    std::uint16_t ports_[2] = {0, 0};
    std::string contact_;
    std::string proxy_;
    // Stack thread only:
    nta_agent_t* agent_ = nullptr;
    nta_leg_t* leg_ = nullptr;
    std::uint64_t next_id_ = 0;
    std::unordered_map<std::uint64_t, nta_incoming_t*> pending_;
    std::unordered_set<outgoing_context*> contexts_;
    std::unordered_map<std::string, std::uint32_t> dialog_cseq_;
};

sip_server::sip_server(request_handler& handler, sip_server_settings settings, core::logger log)
    : impl_(std::make_unique<impl>(handler, std::move(settings), std::move(log))) {}

sip_server::~sip_server() = default;

void sip_server::start() {
    impl_->start();
}

void sip_server::stop() {
    impl_->stop();
}

void sip_server::send(outgoing_request request) {
    impl_->send(std::move(request));
}

std::uint16_t sip_server::port(transport kind) const {
    return impl_->port(kind);
}

std::string sip_server::contact() const {
    return impl_->contact();
}

}  // namespace imsp2p::sip
