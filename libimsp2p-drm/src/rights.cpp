#include <imsp2p/drm/rights.hpp>

#include <imsp2p/drm/error.hpp>

#include <string>
#include <system_error>

namespace imsp2p::drm {
namespace {

/** Reads a non-negative JSON integer in [low, high]; false if mistyped or out of range. */
bool read_integer(const nlohmann::json& value, std::int64_t low, std::int64_t high,
                  std::int64_t& out) noexcept {
    if (value.is_number_unsigned()) {
        const auto number = value.get<std::uint64_t>();
        if (number > static_cast<std::uint64_t>(high))
            return false;
        out = static_cast<std::int64_t>(number);
    } else if (value.is_number_integer()) {
        out = value.get<std::int64_t>();
    } else {
        return false;
    }
    return out >= low && out <= high;
}

rights parse(const nlohmann::json& json, std::error_code& ec, std::string& reason) {
    ec.clear();
    rights result;
    const auto fail = [&](std::string why) {
        ec = errc::rights_malformed;
        reason = std::move(why);
        return rights{};
    };
    if (!json.is_object())
        return fail("rights are not a JSON object");
    for (const auto& [name, value] : json.items()) {
        std::int64_t number = 0;
        if (name == "devices") {
            if (!read_integer(value, 1, rights_max_count, number))
                return fail("\"devices\" is not an integer in 1..2147483647");
            result.devices = static_cast<std::uint32_t>(number);
        } else if (name == "play") {
            if (!value.is_object())
                return fail("\"play\" is not an object");
            for (const auto& [play_name, play_value] : value.items()) {
                if (play_name == "count") {
                    if (!read_integer(play_value, 1, rights_max_count, number))
                        return fail("\"play.count\" is not an integer in 1..2147483647");
                    result.play_count = static_cast<std::uint32_t>(number);
                } else if (play_name == "not_before" || play_name == "not_after") {
                    if (!read_integer(play_value, 0, rights_max_time, number))
                        return fail("\"play." + play_name +
                                    "\" is not a NumericDate in 0..253402300799");
                    const std::chrono::sys_seconds time{std::chrono::seconds(number)};
                    (play_name == "not_before" ? result.not_before : result.not_after) = time;
                } else if (play_name == "window_after_first_use_s") {
                    if (!read_integer(play_value, 1, rights_max_time, number))
                        return fail(
                            "\"play.window_after_first_use_s\" is not an integer in "
                            "1..253402300799");
                    result.window_after_first_use = std::chrono::seconds(number);
                } else {
                    return fail("unknown member \"play." + play_name + "\"");
                }
            }
        } else {
            return fail("unknown member \"" + name + "\"");
        }
    }
    if (result.not_before && result.not_after && *result.not_before > *result.not_after)
        return fail("\"play.not_before\" is after \"play.not_after\"");
    return result;
}

}  // namespace

nlohmann::json rights::to_json() const {
    nlohmann::json json = nlohmann::json::object();
    nlohmann::json play = nlohmann::json::object();
    if (play_count)
        play["count"] = *play_count;
    if (not_before)
        play["not_before"] = not_before->time_since_epoch().count();
    if (not_after)
        play["not_after"] = not_after->time_since_epoch().count();
    if (window_after_first_use)
        play["window_after_first_use_s"] = window_after_first_use->count();
    if (!play.empty())
        json["play"] = std::move(play);
    if (devices)
        json["devices"] = *devices;
    return json;
}

rights rights::from_json(const nlohmann::json& json, std::error_code& ec) {
    std::string reason;
    return parse(json, ec, reason);
}

rights rights::from_json(const nlohmann::json& json) {
    std::error_code ec;
    std::string reason;
    rights result = parse(json, ec, reason);
    if (ec)
        throw std::system_error(ec, reason);
    return result;
}

}  // namespace imsp2p::drm
