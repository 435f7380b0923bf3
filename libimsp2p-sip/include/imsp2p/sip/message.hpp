/**
 * @file
 * Stack-independent SIP message values: what the AS service logic receives and returns. The
 * Sofia-SIP binding converts to and from them; a SIP server vendor embedding the AS converts its
 * own stack's messages the same way.
 */
#pragma once

#include <imsp2p/sip/export.hpp>

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace imsp2p::sip {

/** One header field as it appears on the wire (name in its canonical or compact form). */
struct header_field {
    std::string name;   ///< Header name, e.g. "Event".
    std::string value;  ///< Header value, unfolded.
};

/** The transport a request arrived on or should leave on. */
enum class transport { udp, tcp, tls };

/**
 * An incoming SIP request, parsed. A plain value type; the logic never keeps references to it.
 *
 * The binding fills the fields it has parsed (from, to, call_id, cseq, event, expires,
 * content_type, asserted_identity) and copies every header into @ref headers as well, so the
 * logic may read any other header with header().
 */
struct incoming_request {
    std::string method;       ///< "MESSAGE", "PUBLISH", "SUBSCRIBE", ...
    std::string request_uri;  ///< The Request-URI, e.g. "sip:content@operator.example".
    std::string from_uri;     ///< The From URI (not trusted for identity).
    std::string from_tag;     ///< The From tag.
    std::string to_uri;       ///< The To URI.
    std::string to_tag;       ///< The To tag (empty outside a dialog).
    std::string call_id;      ///< The Call-ID.
    std::uint32_t cseq = 0;   ///< The CSeq number.
    std::string event;        ///< The Event header value (without parameters), or empty.
    std::optional<std::uint32_t> expires;  ///< The Expires header, if present.
    std::string content_type;              ///< The Content-Type (type/subtype, no parameters).
    std::string body;                      ///< The body.
    /** The P-Asserted-Identity URI as received (empty if absent); only trusted from a trusted
     *  S-CSCF. */
    std::string asserted_identity;
    std::string source_address;                     ///< The peer's IP address (literal, no port).
    std::uint16_t source_port = 0;                  ///< The peer's port.
    sip::transport via_transport = transport::udp;  ///< The transport it arrived on.
    std::string tls_peer_name;  ///< With TLS: the verified peer certificate name, else empty.
    std::vector<header_field> headers;  ///< Every header, in order.

    /**
     * Finds a header by name (case-insensitive; compact forms are not mapped).
     * @return the first value, or std::nullopt
     */
    [[nodiscard]] std::optional<std::string_view> header(std::string_view name) const noexcept {
        for (const auto& field : headers) {
            if (field.name.size() == name.size()) {
                bool same = true;
                for (std::size_t i = 0; i < name.size() && same; ++i) {
                    const auto lower = [](char c) {
                        return c >= 'A' && c <= 'Z' ? static_cast<char>(c - 'A' + 'a') : c;
                    };
                    same = lower(field.name[i]) == lower(name[i]);
                }
                if (same) {
                    return std::string_view(field.value);
                }
            }
        }
        return std::nullopt;
    }
};

/** The final response the logic gives to an incoming request. A plain value type. */
struct outgoing_response {
    int status = 500;    ///< Status code (200..699).
    std::string reason;  ///< Reason phrase; says why for errors.
    /** The To tag for a dialog-creating 2xx (SUBSCRIBE); empty lets the stack choose. */
    std::string to_tag;
    std::vector<header_field> headers;  ///< Extra headers (SIP-ETag, Expires, Retry-After, ...).
    std::string content_type;           ///< Content-Type of the body, if any.
    std::string body;                   ///< Body (none for 2xx to MESSAGE, RFC 3428).
};

/**
 * A request the logic wants sent (the ticket MESSAGE, the publish result, a NOTIFY).
 * Out-of-dialog unless @ref call_id is set (NOTIFY within a subscription dialog).
 */
struct outgoing_request {
    std::string method;                 ///< "MESSAGE" or "NOTIFY".
    std::string request_uri;            ///< Where it goes (the user's IMPU for MESSAGE).
    std::string from_uri;               ///< From (the AS's PSI).
    std::string to_uri;                 ///< To.
    std::string from_tag;               ///< Dialog: our tag (empty: the stack picks one).
    std::string to_tag;                 ///< Dialog: the peer's tag.
    std::string call_id;                ///< Dialog: Call-ID (empty: a new one).
    std::vector<std::string> route;     ///< Route set (the S-CSCF), first hop first.
    std::vector<header_field> headers;  ///< Extra headers (Event, Subscription-State, ...).
    std::string content_type;           ///< Content-Type of the body.
    std::string body;                   ///< Body.
    /** Correlates the eventual outcome with the request (the logic's own id). */
    std::string correlation_id;
};

}  // namespace imsp2p::sip
