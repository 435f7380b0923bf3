#include <imsp2p/core/encoding.hpp>
#include <imsp2p/tracker/error.hpp>
#include <imsp2p/tracker/request.hpp>

#include <charconv>
#include <limits>

namespace imsp2p::tracker {
namespace {

bool fail(std::error_code& ec, std::string* reason, std::string text) {
    ec = errc::bad_announce;
    if (reason != nullptr) {
        *reason = std::move(text);
    }
    return false;
}

bool parse_unsigned(std::string_view text, std::uint64_t& value) noexcept {
    if (text.empty() || text.size() > 20) {
        return false;
    }
    const auto* end = text.data() + text.size();
    const auto [stop, error] = std::from_chars(text.data(), end, value);
    return error == std::errc() && stop == end;
}

// Splits "/announce/<ticket>" or "/announce" for `verb`; returns false if the path is another.
bool split_path(std::string_view path, std::string_view verb, std::string& ticket) {
    std::string prefix = "/";
    prefix += verb;
    if (path.substr(0, prefix.size()) != prefix) {
        return false;
    }
    std::string_view rest = path.substr(prefix.size());
    if (rest.empty() || rest == "/") {
        ticket.clear();
        return true;
    }
    if (rest.front() != '/') {
        return false;
    }
    rest.remove_prefix(1);
    if (!rest.empty() && rest.back() == '/') {
        rest.remove_suffix(1);
    }
    ticket.assign(rest);
    return ticket.find('/') == std::string::npos;
}

template <class Throwing>
auto throwing(Throwing&& call) {
    std::error_code ec;
    std::string reason;
    auto result = call(ec, reason);
    if (ec) {
        throw std::system_error(ec, reason);
    }
    return result;
}

}  // namespace

std::string percent_decode(std::string_view text, std::error_code& ec) {
    std::string out;
    out.reserve(text.size());
    for (std::size_t i = 0; i < text.size(); ++i) {
        if (text[i] != '%') {
            out += text[i];
            continue;
        }
        if (text.size() - i < 3) {
            ec = errc::bad_announce;
            return {};
        }
        const int high = core::hex_digit_value(text[i + 1]);
        const int low = core::hex_digit_value(text[i + 2]);
        if (high < 0 || low < 0) {
            ec = errc::bad_announce;
            return {};
        }
        out += static_cast<char>(high * 16 + low);
        i += 2;
    }
    ec.clear();
    return out;
}

std::pair<std::string, std::vector<std::pair<std::string, std::string>>> split_target(
    std::string_view target, const request_limits& limits, std::error_code& ec,
    std::string* reason) {
    std::pair<std::string, std::vector<std::pair<std::string, std::string>>> result;
    if (target.size() > limits.max_target_size) {
        fail(ec, reason, "request target too long");
        return {};
    }
    const auto question = target.find('?');
    const std::string_view raw_path = target.substr(0, question);
    result.first = percent_decode(raw_path, ec);
    if (ec) {
        fail(ec, reason, "bad percent-encoding in path");
        return {};
    }
    if (question == std::string_view::npos) {
        return result;
    }
    std::string_view query = target.substr(question + 1);
    const auto fragment = query.find('#');
    query = query.substr(0, fragment);
    while (!query.empty()) {
        const auto amp = query.find('&');
        const std::string_view item = query.substr(0, amp);
        query = amp == std::string_view::npos ? std::string_view() : query.substr(amp + 1);
        if (item.empty()) {
            continue;
        }
        if (result.second.size() >= limits.max_parameters) {
            fail(ec, reason, "too many query parameters");
            return {};
        }
        const auto equals = item.find('=');
        std::string name = percent_decode(item.substr(0, equals), ec);
        if (ec) {
            fail(ec, reason, "bad percent-encoding in a parameter name");
            return {};
        }
        std::string value;
        if (equals != std::string_view::npos) {
            value = percent_decode(item.substr(equals + 1), ec);
            if (ec) {
                fail(ec, reason, "bad percent-encoding in parameter " + name);
                return {};
            }
        }
        result.second.emplace_back(std::move(name), std::move(value));
    }
    ec.clear();
    return result;
}

announce_request parse_announce(std::string_view target, const request_limits& limits,
                                std::error_code& ec, std::string* reason) {
    auto [path, parameters] = split_target(target, limits, ec, reason);
    if (ec) {
        return {};
    }
    announce_request request;
    if (!split_path(path, "announce", request.ticket)) {
        fail(ec, reason, "not an announce path (expected /announce/<ticket>)");
        return {};
    }
    if (request.ticket.size() > limits.max_ticket_size) {
        fail(ec, reason, "ticket too long");
        return {};
    }
    bool have_hash = false;
    bool have_peer = false;
    bool have_port = false;
    for (auto& [name, value] : parameters) {
        std::uint64_t number = 0;
        if (name == "info_hash") {
            if (have_hash) {
                fail(ec, reason, "info_hash given twice");
                return {};
            }
            if (value.size() != 20) {
                fail(ec, reason, "info_hash must be 20 bytes");
                return {};
            }
            request.info_hash = std::move(value);
            have_hash = true;
        } else if (name == "peer_id") {
            if (value.size() != 20) {
                fail(ec, reason, "peer_id must be 20 bytes");
                return {};
            }
            request.peer_id = std::move(value);
            have_peer = true;
        } else if (name == "port") {
            if (!parse_unsigned(value, number) || number == 0 || number > 65535) {
                fail(ec, reason, "port must be 1..65535");
                return {};
            }
            request.port = static_cast<std::uint16_t>(number);
            have_port = true;
        } else if (name == "uploaded" || name == "downloaded" || name == "left") {
            if (!parse_unsigned(value, number)) {
                fail(ec, reason, name + " must be a non-negative integer");
                return {};
            }
            (name == "uploaded"     ? request.uploaded
             : name == "downloaded" ? request.downloaded
                                    : request.left) = number;
        } else if (name == "event") {
            if (value == "started") {
                request.event = announce_event::started;
            } else if (value == "completed") {
                request.event = announce_event::completed;
            } else if (value == "stopped") {
                request.event = announce_event::stopped;
            } else if (value.empty() || value == "paused" || value == "empty") {
                request.event = announce_event::none;
            } else {
                fail(ec, reason, "unknown event");
                return {};
            }
        } else if (name == "numwant") {
            if (!parse_unsigned(value, number)) {
                fail(ec, reason, "numwant must be a non-negative integer");
                return {};
            }
            request.numwant = static_cast<std::uint32_t>(
                std::min<std::uint64_t>(number, std::numeric_limits<std::uint32_t>::max()));
        } else if (name == "compact") {
            request.compact = value != "0";
        } else if (name == "no_peer_id") {
            request.no_peer_id = value == "1";
        } else if (name == "key") {
            if (value.size() > limits.max_key_size) {
                fail(ec, reason, "key too long");
                return {};
            }
            request.key = std::move(value);
        }
        // Other parameters (ip, trackerid, supportcrypto, corrupt, ...) are ignored: the
        // tracker never trusts a client-supplied address.
    }
    if (!have_hash) {
        fail(ec, reason, "missing info_hash");
        return {};
    }
    if (!have_peer) {
        fail(ec, reason, "missing peer_id");
        return {};
    }
    if (!have_port) {
        fail(ec, reason, "missing port");
        return {};
    }
    ec.clear();
    return request;
}

announce_request parse_announce(std::string_view target, const request_limits& limits) {
    return throwing([&](std::error_code& ec, std::string& reason) {
        return parse_announce(target, limits, ec, &reason);
    });
}

scrape_request parse_scrape(std::string_view target, const request_limits& limits,
                            std::error_code& ec, std::string* reason) {
    auto [path, parameters] = split_target(target, limits, ec, reason);
    if (ec) {
        return {};
    }
    scrape_request request;
    if (!split_path(path, "scrape", request.ticket)) {
        fail(ec, reason, "not a scrape path (expected /scrape/<ticket>)");
        return {};
    }
    if (request.ticket.size() > limits.max_ticket_size) {
        fail(ec, reason, "ticket too long");
        return {};
    }
    for (auto& [name, value] : parameters) {
        if (name != "info_hash") {
            continue;
        }
        if (value.size() != 20) {
            fail(ec, reason, "info_hash must be 20 bytes");
            return {};
        }
        if (request.info_hashes.size() >= limits.max_scrape_hashes) {
            fail(ec, reason, "too many info_hash parameters");
            return {};
        }
        request.info_hashes.push_back(std::move(value));
    }
    ec.clear();
    return request;
}

scrape_request parse_scrape(std::string_view target, const request_limits& limits) {
    return throwing([&](std::error_code& ec, std::string& reason) {
        return parse_scrape(target, limits, ec, &reason);
    });
}

}  // namespace imsp2p::tracker
