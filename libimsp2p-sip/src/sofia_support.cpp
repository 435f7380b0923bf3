#include "sofia_support.hpp"

#include <imsp2p/sip/error.hpp>

#include <sofia-sip/msg_header.h>
#include <sofia-sip/nta_tport.h>
#include <sofia-sip/su_log.h>
#include <sofia-sip/tport.h>

#include <imsp2p/core/crypto.hpp>
#include <imsp2p/core/encoding.hpp>

#include <arpa/inet.h>
#include <netinet/in.h>

#include <cstring>
#include <mutex>
#include <stdexcept>
#include <system_error>

namespace imsp2p::sip::detail {

void extend_sip_parser() {
    static std::once_flag once;
    std::call_once(once, [] { sip_update_default_mclass(sip_extend_mclass(nullptr)); });
}

namespace {

using work_pointer = std::function<void()>*;

work_pointer* slot_of(su_msg_arg_t* arg) noexcept {
    return reinterpret_cast<work_pointer*>(arg);
}

void deliver(su_root_magic_t* /*magic*/, su_msg_r /*msg*/, su_msg_arg_t* arg) {
    work_pointer* slot = slot_of(arg);
    std::unique_ptr<std::function<void()>> work(*slot);
    *slot = nullptr;
    if (work && *work) {
        try {
            (*work)();
        } catch (...) {
            // Work items catch their own errors; never let one unwind through Sofia's C loop.
        }
    }
}

void discard(su_msg_arg_t* arg) {
    work_pointer* slot = slot_of(arg);
    delete *slot;
    *slot = nullptr;
}

}  // namespace

sofia_thread::sofia_thread(std::string name) : name_(std::move(name)) {
    std::promise<void> ready;
    auto started = ready.get_future();
    thread_ = std::thread([this, &ready] { run(ready); });
    try {
        started.get();
    } catch (...) {
        thread_.join();
        throw;
    }
}

sofia_thread::~sofia_thread() {
    stop();
}

void sofia_thread::run(std::promise<void>& ready) {
    if (su_init() != 0) {
        ready.set_exception(std::make_exception_ptr(
            std::system_error(make_error_code(errc::stack_failure), "su_init failed")));
        return;
    }
    root_ = su_root_create(nullptr);
    if (root_ == nullptr) {
        su_deinit();
        ready.set_exception(std::make_exception_ptr(
            std::system_error(make_error_code(errc::stack_failure), "su_root_create failed")));
        return;
    }
    ready.set_value();
    su_root_run(root_);
    su_root_destroy(root_);
    su_deinit();
}

bool sofia_thread::post(std::function<void()> work) {
    std::lock_guard lock(mutex_);
    if (stopped_ || root_ == nullptr) {
        return false;
    }
    su_msg_r message = SU_MSG_R_INIT;
    if (su_msg_create(message, su_root_task(root_), su_task_null, deliver, sizeof(work_pointer)) !=
        0) {
        return false;
    }
    su_msg_deinitializer(message, discard);
    *slot_of(su_msg_data(message)) = new std::function<void()>(std::move(work));
    return su_msg_send(message) == 0;
}

void sofia_thread::stop(std::function<void()> cleanup) {
    if (!thread_.joinable()) {
        return;
    }
    if (in_thread()) {
        throw std::logic_error("sofia_thread::stop() called on the SIP stack thread");
    }
    su_root_t* root = root_;
    const bool posted = post([root, cleanup = std::move(cleanup)] {
        if (cleanup) {
            cleanup();
        }
        su_root_break(root);
    });
    {
        std::lock_guard lock(mutex_);
        stopped_ = true;
    }
    if (posted) {
        thread_.join();
    } else {
        thread_.detach();  // Cannot happen after a successful start; never block forever.
    }
}

tag_list& tag_list::str(tag_type_t tag, std::string_view value) {
    strings_.push_back(std::make_unique<std::string>(value));
    items_.back() = tagi_t{tag, reinterpret_cast<tag_value_t>(strings_.back()->c_str())};
    items_.push_back(end());
    return *this;
}

tag_list& tag_list::integer(tag_type_t tag, long value) {
    items_.back() = tagi_t{tag, static_cast<tag_value_t>(value)};
    items_.push_back(end());
    return *this;
}

tag_list& tag_list::pointer(tag_type_t tag, const void* value) {
    items_.back() = tagi_t{tag, reinterpret_cast<tag_value_t>(value)};
    items_.push_back(end());
    return *this;
}

sip_p_asserted_identity_t* asserted_identity(const sip_t* sip) noexcept {
    if (sip == nullptr) {
        return nullptr;
    }
    msg_pub_t* pub = reinterpret_cast<msg_pub_t*>(const_cast<sip_t*>(sip));
    return reinterpret_cast<sip_p_asserted_identity_t*>(
        msg_header_access(pub, sip_p_asserted_identity_class));
}

std::string url_text(const url_t* url) {
    if (url == nullptr) {
        return {};
    }
    char buffer[1024];
    const isize_t length = url_e(buffer, sizeof buffer, url);
    if (length > 0 && static_cast<std::size_t>(length) < sizeof buffer) {
        return std::string(buffer, static_cast<std::size_t>(length));
    }
    su_home_t home[1] = {SU_HOME_INIT(home)};
    char* text = url_as_string(home, url);
    std::string result = text != nullptr ? text : "";
    su_home_deinit(home);
    return result;
}

std::string header_value(const msg_header_t* header) {
    if (header == nullptr) {
        return {};
    }
    std::vector<char> buffer(512);
    for (int attempt = 0; attempt < 8; ++attempt) {
        const issize_t length =
            msg_header_field_e(buffer.data(), static_cast<isize_t>(buffer.size()), header, 0);
        if (length >= 0 && static_cast<std::size_t>(length) < buffer.size()) {
            return std::string(buffer.data(), static_cast<std::size_t>(length));
        }
        buffer.resize(buffer.size() * 4);
    }
    return {};
}

namespace {

std::string_view trim(std::string_view text) {
    while (!text.empty() && (text.front() == ' ' || text.front() == '\t')) {
        text.remove_prefix(1);
    }
    while (!text.empty() && (text.back() == ' ' || text.back() == '\t' || text.back() == '\r' ||
                             text.back() == '\n')) {
        text.remove_suffix(1);
    }
    return text;
}

// Unfolds a raw header line ("Name: value\r\n\tmore\r\n") into name and value.
std::optional<header_field> split_raw_header(std::string_view raw) {
    const auto colon = raw.find(':');
    if (colon == std::string_view::npos) {
        return std::nullopt;
    }
    header_field field;
    field.name = std::string(trim(raw.substr(0, colon)));
    std::string value;
    bool in_space = false;
    for (const char c : trim(raw.substr(colon + 1))) {
        if (c == '\r' || c == '\n' || c == ' ' || c == '\t') {
            in_space = true;
            continue;
        }
        if (in_space && !value.empty()) {
            value += ' ';
        }
        in_space = false;
        value += c;
    }
    field.value = std::move(value);
    if (field.name.empty()) {
        return std::nullopt;
    }
    return field;
}

}  // namespace

std::vector<header_field> all_headers(msg_t* msg, const sip_t* /*sip*/) {
    std::vector<header_field> result;
    msg_header_t** head = msg_chain_head(msg);
    if (head == nullptr) {
        return result;
    }
    for (msg_header_t* h = *head; h != nullptr; h = h->sh_common->h_succ) {
        msg_hclass_t* const cls = h->sh_common->h_class;
        if (cls == sip_request_class || cls == sip_status_class || cls == sip_separator_class ||
            cls == sip_payload_class || cls == sip_error_class) {
            continue;
        }
        if (cls == sip_unknown_class) {
            const msg_unknown_t* unknown = h->sh_unknown;
            if (unknown->un_name != nullptr) {
                const std::string raw = std::string(unknown->un_name) + ": " +
                                        (unknown->un_value != nullptr ? unknown->un_value : "");
                if (auto field = split_raw_header(raw)) {
                    result.push_back(std::move(*field));
                }
            }
            continue;
        }
        const auto* data = static_cast<const char*>(h->sh_common->h_data);
        const std::size_t length = h->sh_common->h_len;
        if (data != nullptr && length > 0) {
            if (auto field = split_raw_header(std::string_view(data, length))) {
                result.push_back(std::move(*field));
            }
        } else if (data == nullptr && cls != nullptr && cls->hc_name != nullptr) {
            // Not from the wire (added locally): encode it.
            if (auto field = split_raw_header(std::string(cls->hc_name) + ": " + header_value(h))) {
                result.push_back(std::move(*field));
            }
        }
    }
    return result;
}

std::string payload_text(const sip_t* sip) {
    if (sip == nullptr || sip->sip_payload == nullptr || sip->sip_payload->pl_data == nullptr) {
        return {};
    }
    return std::string(sip->sip_payload->pl_data, sip->sip_payload->pl_len);
}

incoming_request to_incoming_request(msg_t* msg, const sip_t* sip) {
    incoming_request request;
    if (sip->sip_request != nullptr) {
        request.method =
            sip->sip_request->rq_method_name != nullptr ? sip->sip_request->rq_method_name : "";
        request.request_uri = url_text(sip->sip_request->rq_url);
    }
    if (sip->sip_from != nullptr) {
        request.from_uri = url_text(sip->sip_from->a_url);
        request.from_tag = sip->sip_from->a_tag != nullptr ? sip->sip_from->a_tag : "";
    }
    if (sip->sip_to != nullptr) {
        request.to_uri = url_text(sip->sip_to->a_url);
        request.to_tag = sip->sip_to->a_tag != nullptr ? sip->sip_to->a_tag : "";
    }
    if (sip->sip_call_id != nullptr && sip->sip_call_id->i_id != nullptr) {
        request.call_id = sip->sip_call_id->i_id;
    }
    if (sip->sip_cseq != nullptr) {
        request.cseq = sip->sip_cseq->cs_seq;
    }
    if (sip->sip_event != nullptr && sip->sip_event->o_type != nullptr) {
        request.event = sip->sip_event->o_type;
    }
    if (sip->sip_expires != nullptr) {
        request.expires = static_cast<std::uint32_t>(sip->sip_expires->ex_delta);
    }
    if (sip->sip_content_type != nullptr && sip->sip_content_type->c_type != nullptr) {
        request.content_type = sip->sip_content_type->c_type;
    }
    request.body = payload_text(sip);
    if (const auto* pai = asserted_identity(sip)) {
        request.asserted_identity = url_text(pai->paid_url);
    }
    request.headers = all_headers(msg, sip);

    if (const su_addrinfo_t* info = msg_addrinfo(msg); info != nullptr && info->ai_addr) {
        char text[INET6_ADDRSTRLEN] = {};
        if (info->ai_addr->sa_family == AF_INET) {
            sockaddr_in address{};
            std::memcpy(&address, info->ai_addr, sizeof address);
            inet_ntop(AF_INET, &address.sin_addr, text, sizeof text);
            request.source_port = ntohs(address.sin_port);
        } else if (info->ai_addr->sa_family == AF_INET6) {
            sockaddr_in6 address{};
            std::memcpy(&address, info->ai_addr, sizeof address);
            inet_ntop(AF_INET6, &address.sin6_addr, text, sizeof text);
            request.source_port = ntohs(address.sin6_port);
        }
        request.source_address = text;
        request.via_transport = info->ai_protocol == IPPROTO_TCP ? transport::tcp : transport::udp;
    }
    return request;
}

std::string header_lines(const std::vector<header_field>& headers) {
    std::string lines;
    for (const auto& field : headers) {
        if (field.name.empty() || field.name.find_first_of(":\r\n ") != std::string::npos ||
            field.value.find_first_of("\r\n") != std::string::npos) {
            throw std::system_error(make_error_code(errc::stack_failure),
                                    "malformed extra header " + field.name);
        }
        lines += field.name;
        lines += ": ";
        lines += field.value;
        lines += "\r\n";
    }
    return lines;
}

std::string angle(const std::string& uri) {
    if (!uri.empty() && uri.front() == '<') {
        return uri;
    }
    return "<" + uri + ">";
}

std::string bare(const std::string& uri) {
    if (uri.size() >= 2 && uri.front() == '<') {
        const auto close = uri.find('>');
        return uri.substr(1, close == std::string::npos ? std::string::npos : close - 1);
    }
    return uri;
}

std::string random_token(std::size_t bytes) {
    return core::to_hex(core::random_bytes(bytes));
}

tag_list request_tags(const outgoing_request& request, const request_identity& identity,
                      const std::string& contact, const std::string& user_agent) {
    tag_list tags;
    tags.str(siptag_from_str, angle(request.from_uri) + ";tag=" + identity.from_tag);
    tags.str(siptag_to_str, angle(request.to_uri.empty() ? request.request_uri : request.to_uri) +
                                (request.to_tag.empty() ? "" : ";tag=" + request.to_tag));
    tags.str(siptag_call_id_str, identity.call_id);
    tags.str(siptag_cseq_str, std::to_string(identity.cseq) + " " + request.method);
    for (const auto& hop : request.route) {
        tags.str(siptag_route_str, angle(hop));
    }
    const std::string lines = header_lines(request.headers);
    if (!lines.empty()) {
        tags.str(siptag_header_str, lines);
    }
    if (!contact.empty()) {
        tags.str(siptag_contact_str, angle(contact));
    }
    if (!request.content_type.empty()) {
        tags.str(siptag_content_type_str, request.content_type);
    }
    if (!request.body.empty()) {
        tags.str(siptag_payload_str, request.body);
    }
    if (!user_agent.empty()) {
        tags.str(siptag_user_agent_str, user_agent);
    }
    return tags;
}

void bound_ports(nta_agent_t* agent, std::uint16_t (&ports)[2]) {
    for (tport_t* tp = tport_primaries(nta_agent_tports(agent)); tp != nullptr;
         tp = tport_next(tp)) {
        const tp_name_t* name = tport_name(tp);
        if (name == nullptr || name->tpn_proto == nullptr || name->tpn_port == nullptr) {
            continue;
        }
        const auto number = static_cast<std::uint16_t>(std::stoul(name->tpn_port));
        const std::string_view proto = name->tpn_proto;
        if (proto == "udp" && ports[0] == 0) {
            ports[0] = number;
        } else if (proto == "tcp" && ports[1] == 0) {
            ports[1] = number;
        }
    }
}

}  // namespace imsp2p::sip::detail
