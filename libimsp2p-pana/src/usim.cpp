// Software USIM: AUTN verification, Annex C freshness, AUTS, and the 0600 JSON profile file.

#include <imsp2p/pana/usim.hpp>

#include <imsp2p/pana/error.hpp>

#include <imsp2p/core/crypto.hpp>
#include <imsp2p/core/encoding.hpp>
#include <imsp2p/core/error.hpp>
#include <imsp2p/core/key_file.hpp>

#include <nlohmann/json.hpp>

#include <algorithm>
#include <cstring>
#include <set>
#include <string>
#include <utility>
#include <vector>

namespace imsp2p::pana {
namespace {

constexpr std::string_view profile_format = "imsp2p-usim";
constexpr int profile_version = 1;

void wipe_string(std::string& text) noexcept {
    wipe(core::mutable_byte_view(reinterpret_cast<std::uint8_t*>(text.data()), text.size()));
}

// Reads a 16-byte key from a JSON string of 32 hex digits, wiping the JSON copy.
bool read_key(nlohmann::json& document, const char* name, std::array<std::uint8_t, 16>& out) {
    auto found = document.find(name);
    if (found == document.end() || !found->is_string()) {
        return false;
    }
    std::string& text = found->get_ref<std::string&>();
    std::error_code ec;
    core::byte_vector bytes = core::from_hex(text, ec);
    wipe_string(text);
    const bool ok = !ec && bytes.size() == out.size();
    if (ok) {
        std::copy(bytes.begin(), bytes.end(), out.begin());
    }
    wipe(bytes);
    return ok;
}

bool read_unsigned(const nlohmann::json& object, const char* name, std::uint64_t& out) {
    auto found = object.find(name);
    if (found == object.end() || !found->is_number_unsigned()) {
        return false;
    }
    out = found->get<std::uint64_t>();
    return true;
}

bool only_keys(const nlohmann::json& object, std::initializer_list<std::string_view> allowed) {
    return std::all_of(object.items().begin(), object.items().end(), [&](const auto& item) {
        return std::find(allowed.begin(), allowed.end(), item.key()) != allowed.end();
    });
}

usim_profile parse_profile(std::string_view text, std::error_code& ec) {
    usim_profile profile;
    ec = errc::bad_usim_profile;
    nlohmann::json document = nlohmann::json::parse(text, nullptr, false);
    if (document.is_discarded() || !document.is_object() ||
        !only_keys(document, {"format", "version", "impi", "k", "opc", "sqn"})) {
        return profile;
    }
    const auto format = document.find("format");
    const auto version = document.find("version");
    if (format == document.end() || *format != profile_format || version == document.end() ||
        *version != profile_version) {
        return profile;
    }
    if (const auto impi = document.find("impi"); impi != document.end()) {
        if (!impi->is_string()) {
            return profile;
        }
        if (!impi->get_ref<const std::string&>().empty()) {
            std::error_code impi_ec;
            profile.impi = core::impi::parse(impi->get_ref<const std::string&>(), impi_ec);
            if (impi_ec) {
                return profile;
            }
        }
    }
    const bool keys_ok =
        read_key(document, "k", profile.k) && read_key(document, "opc", profile.opc);
    if (!keys_ok) {
        return usim_profile{};
    }
    const auto state = document.find("sqn");
    if (state == document.end() || !state->is_object() ||
        !only_keys(*state, {"ind_bits", "delta", "age_limit", "highest", "seq_ms"})) {
        return usim_profile{};
    }
    std::uint64_t ind_bits = 0;
    std::uint64_t highest = 0;
    sqn_policy policy;
    if (!read_unsigned(*state, "ind_bits", ind_bits) ||
        !read_unsigned(*state, "delta", policy.delta) ||
        !read_unsigned(*state, "age_limit", policy.age_limit) ||
        !read_unsigned(*state, "highest", highest) || ind_bits > 10 || highest > sqn::max_value) {
        return usim_profile{};
    }
    policy.ind_bits = static_cast<unsigned>(ind_bits);
    const auto seq_ms = state->find("seq_ms");
    if (seq_ms == state->end() || !seq_ms->is_array()) {
        return usim_profile{};
    }
    std::vector<std::uint64_t> values;
    for (const auto& value : *seq_ms) {
        if (!value.is_number_unsigned()) {
            return usim_profile{};
        }
        values.push_back(value.get<std::uint64_t>());
    }
    std::error_code window_ec;
    profile.window = sqn_window::restore(policy, values, sqn(highest), window_ec);
    if (window_ec) {
        return usim_profile{};
    }
    ec.clear();
    return profile;
}

}  // namespace

usim::usim(const usim_profile& profile) : profile_(profile), algorithms_(profile.k, profile.opc) {}

aka_result usim::authenticate(const aka_rand& rand, const aka_autn& autn, std::error_code& ec) {
    aka_result result;
    milenage_keys keys = algorithms_.compute_all(rand);
    aka_sqn_bytes concealed{};
    for (std::size_t i = 0; i < concealed.size(); ++i) {
        concealed[i] = static_cast<std::uint8_t>(autn[i] ^ keys.ak[i]);
    }
    const sqn received = sqn::from_bytes(concealed);
    const aka_amf amf{autn[6], autn[7]};
    const aka_mac expected = algorithms_.f1(rand, received, amf);
    if (!core::constant_time_equal(expected, core::byte_view(autn.data() + 8, 8))) {
        wipe(keys.res);
        wipe(keys.ck);
        wipe(keys.ik);
        ec = errc::mac_failure;
        return result;
    }
    result.received = received;
    std::error_code freshness;
    profile_.window.accept(received, freshness);
    if (freshness) {
        wipe(keys.res);
        wipe(keys.ck);
        wipe(keys.ik);
        const sqn sqn_ms = profile_.window.highest();
        const aka_ak ak_star = algorithms_.f5star(rand);
        const aka_mac mac_s = algorithms_.f1star(rand, sqn_ms, resynchronisation_amf);
        result.status = aka_status::synchronisation_failure;
        result.auts = make_auts(sqn_ms, ak_star, mac_s);
        ec.clear();
        return result;
    }
    result.status = aka_status::authenticated;
    result.res = keys.res;
    result.ck = keys.ck;
    result.ik = keys.ik;
    wipe(keys.res);
    wipe(keys.ck);
    wipe(keys.ik);
    ec.clear();
    return result;
}

aka_result usim::authenticate(const aka_rand& rand, const aka_autn& autn) {
    std::error_code ec;
    aka_result result = authenticate(rand, autn, ec);
    if (ec) {
        core::throw_error(ec, "AUTN verification");
    }
    return result;
}

std::string usim::to_json(const usim_profile& profile) {
    const sqn_window& window = profile.window;
    std::string k = core::to_hex(profile.k);
    std::string opc = core::to_hex(profile.opc);
    std::string seq_ms;
    for (std::size_t i = 0; i < window.seq_ms().size(); ++i) {
        seq_ms += (i == 0 ? "" : ",") + std::to_string(window.seq_ms()[i]);
    }
    std::string text;
    text.reserve(2048 + seq_ms.size());  // no reallocation: no stray copies of the keys
    text += "{\"format\":\"";
    text += profile_format;
    text += "\",\"version\":" + std::to_string(profile_version);
    text += ",\"impi\":" + nlohmann::json(profile.impi.str()).dump();
    text += ",\"k\":\"";
    text += k;
    text += "\",\"opc\":\"";
    text += opc;
    text += "\"";
    text += ",\"sqn\":{\"ind_bits\":" + std::to_string(window.policy().ind_bits);
    text += ",\"delta\":" + std::to_string(window.policy().delta);
    text += ",\"age_limit\":" + std::to_string(window.policy().age_limit);
    text += ",\"highest\":" + std::to_string(window.highest().value());
    text += ",\"seq_ms\":[" + seq_ms + "]}}\n";
    wipe_string(k);
    wipe_string(opc);
    return text;
}

usim_profile usim::from_json(std::string_view text, std::error_code& ec) {
    return parse_profile(text, ec);
}

usim usim::load(const std::filesystem::path& file, std::error_code& ec) {
    const core::secret_bytes contents = core::read_secret_file(file, ec);
    if (ec) {
        return usim(usim_profile{});
    }
    const usim_profile profile = parse_profile(core::as_string_view(contents.view()), ec);
    return usim(profile);
}

usim usim::load(const std::filesystem::path& file) {
    std::error_code ec;
    usim loaded = load(file, ec);
    if (ec) {
        core::throw_error(ec, "USIM profile " + file.string());
    }
    return loaded;
}

void usim::save(const std::filesystem::path& file, std::error_code& ec) const {
    std::string text = to_json(profile_);
    core::write_secret_file(file, core::as_bytes(text), ec);
    wipe_string(text);
}

void usim::save(const std::filesystem::path& file) const {
    std::error_code ec;
    save(file, ec);
    if (ec) {
        core::throw_error(ec, "USIM profile " + file.string());
    }
}

std::filesystem::path usim::profile_path(const std::filesystem::path& data_directory) {
    return data_directory / "usim.json";
}

}  // namespace imsp2p::pana
