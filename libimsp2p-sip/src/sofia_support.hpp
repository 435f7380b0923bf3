// Private C glue between the imsp2p SIP classes and Sofia-SIP (never installed; no Sofia type
// leaves libimsp2p-sip/src). Sofia's tag macros and header accessors use C casts, so this file
// offers small typed helpers instead, and one class that owns a Sofia root on its own thread.
#pragma once

#include <imsp2p/sip/message.hpp>

#include <sofia-sip/msg.h>
#include <sofia-sip/msg_addr.h>
#include <sofia-sip/nta.h>
#include <sofia-sip/nta_tag.h>
#include <sofia-sip/sip.h>
#include <sofia-sip/sip_extra.h>
#include <sofia-sip/sip_header.h>
#include <sofia-sip/sip_protos.h>
#include <sofia-sip/sip_tag.h>
#include <sofia-sip/su.h>
#include <sofia-sip/su_tag.h>
#include <sofia-sip/su_wait.h>
#include <sofia-sip/url.h>

#include <functional>
#include <future>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <thread>
#include <type_traits>
#include <vector>

namespace imsp2p::sip::detail {

/** Calls sip_update_default_mclass(sip_extend_mclass(NULL)) once per process (thread-safe). */
void extend_sip_parser();

/**
 * A Sofia su_root_t running on a thread of its own. Everything touching the root (and the nta
 * agent on it) runs on that thread: post() queues work asynchronously (su_msg), call() runs
 * it and waits. The destructor runs stop().
 */
class sofia_thread {
  public:
    /** Starts the thread and creates the root there. @throws std::system_error on failure */
    explicit sofia_thread(std::string name);
    ~sofia_thread();
    sofia_thread(const sofia_thread&) = delete;
    sofia_thread& operator=(const sofia_thread&) = delete;

    /** @return the root (use only on the Sofia thread). */
    [[nodiscard]] su_root_t* root() const noexcept { return root_; }
    /** @return true on the Sofia thread. */
    [[nodiscard]] bool in_thread() const noexcept {
        return std::this_thread::get_id() == thread_.get_id();
    }
    /** Queues work for the Sofia thread. @return false if the thread has stopped */
    bool post(std::function<void()> work);
    /** Runs work on the Sofia thread and waits for its result (directly when already there). */
    template <class F>
    auto call(F&& work) -> std::invoke_result_t<F&> {
        using result = std::invoke_result_t<F&>;
        if (in_thread()) {
            return work();
        }
        auto task = std::make_shared<std::packaged_task<result()>>(std::forward<F>(work));
        auto future = task->get_future();
        if (!post([task] { (*task)(); })) {
            throw std::runtime_error("the SIP stack thread has stopped");
        }
        return future.get();
    }
    /** Runs cleanup on the Sofia thread (if given), stops the loop and joins. Idempotent. */
    void stop(std::function<void()> cleanup = {});

  private:
    void run(std::promise<void>& ready);
    std::string name_;
    su_root_t* root_ = nullptr;
    std::thread thread_;
    std::mutex mutex_;
    bool stopped_ = false;
};

/** A tag list built at run time (avoids Sofia's tag macros and their C casts). */
class tag_list {
  public:
    tag_list() { items_.push_back(end()); }
    /** Adds a tag whose value is a C string (copied into the list). */
    tag_list& str(tag_type_t tag, std::string_view value);
    /** Adds a tag with an integer or boolean value. */
    tag_list& integer(tag_type_t tag, long value);
    /** Adds a tag whose value is a pointer (not copied). */
    tag_list& pointer(tag_type_t tag, const void* value);
    /** @return the value for `tag_next` (the list stays owned by this object). */
    [[nodiscard]] tag_value_t next() const noexcept {
        return reinterpret_cast<tag_value_t>(items_.data());
    }

  private:
    static tagi_t end() noexcept { return tagi_t{nullptr, 0}; }
    std::vector<tagi_t> items_;
    std::vector<std::unique_ptr<std::string>> strings_;
};

/** The From tag, Call-ID and CSeq number chosen for an outgoing request. */
struct request_identity {
    std::string from_tag;
    std::string call_id;
    std::uint32_t cseq = 1;
};

/** @return a URI in angle brackets (unchanged if it has them). */
std::string angle(const std::string& uri);
/** @return the URI inside angle brackets (unchanged without them). */
std::string bare(const std::string& uri);
/** @return a fresh random token of 2 * bytes hex digits (tags, Call-IDs, cnonces). */
std::string random_token(std::size_t bytes);
/**
 * Builds the tags of an outgoing request: From (with tag), To, Call-ID, CSeq, Route, extra
 * headers, Contact (if not empty), Content-Type, payload and User-Agent.
 */
tag_list request_tags(const outgoing_request& request, const request_identity& identity,
                      const std::string& contact, const std::string& user_agent);
/** Reads the bound UDP ([0]) and TCP ([1]) ports of an agent. */
void bound_ports(nta_agent_t* agent, std::uint16_t (&ports)[2]);

/** The terminating tag pair for a variadic Sofia call. */
inline constexpr tag_type_t tag_end = nullptr;

/** @return the P-Asserted-Identity header of a message (extended parser), or null. */
sip_p_asserted_identity_t* asserted_identity(const sip_t* sip) noexcept;
/** @return a URL as text ("" for null). */
std::string url_text(const url_t* url);
/** @return a header's value, encoded by Sofia ("" for null). */
std::string header_value(const msg_header_t* header);
/** @return every header of a parsed message, in wire order, as name/value pairs. */
std::vector<header_field> all_headers(msg_t* msg, const sip_t* sip);
/** @return the message body ("" if none). */
std::string payload_text(const sip_t* sip);
/**
 * Fills an incoming_request from a parsed request (source address and transport from the
 * message's address info).
 */
incoming_request to_incoming_request(msg_t* msg, const sip_t* sip);
/** @return "Name: value\r\n" lines for extra headers (values with CR/LF are refused). */
std::string header_lines(const std::vector<header_field>& headers);
/** @return a URL string wrapper for Sofia calls taking url_string_t (points into text). */
inline const url_string_t* url_string(const std::string& text) noexcept {
    return reinterpret_cast<const url_string_t*>(text.c_str());
}
/** @return a msg_header_t pointer view of a concrete header. */
template <class Header>
msg_header_t* as_header(Header* header) noexcept {
    return reinterpret_cast<msg_header_t*>(header);
}

}  // namespace imsp2p::sip::detail
