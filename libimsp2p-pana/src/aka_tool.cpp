// The imsp2p-aka command-line tool (examples/aka/main.cpp forwards to aka_tool::run()).

#include <imsp2p/pana/aka_tool.hpp>

#include <imsp2p/pana/error.hpp>
#include <imsp2p/pana/hss.hpp>
#include <imsp2p/pana/milenage.hpp>

#include <imsp2p/core/encoding.hpp>
#include <imsp2p/core/error.hpp>
#include <imsp2p/core/identity.hpp>
#include <imsp2p/core/key_file.hpp>

#include <nlohmann/json.hpp>

#include <algorithm>
#include <array>
#include <charconv>
#include <filesystem>
#include <fstream>
#include <map>
#include <optional>
#include <set>
#include <stdexcept>
#include <string>
#include <vector>

namespace imsp2p::pana {
namespace {

// A malformed command line (exit code 2).
struct usage_error : std::runtime_error {
    using std::runtime_error::runtime_error;
};

// A failure while running a well-formed command (exit code 1).
struct run_failure : std::runtime_error {
    using std::runtime_error::runtime_error;
};

struct command_spec {
    std::string_view name;
    std::vector<std::string_view> value_options;
    std::vector<std::string_view> flags;
};

const std::vector<command_spec>& commands() {
    static const std::vector<command_spec> specs = {
        {"milenage", {"k", "op", "opc", "rand", "sqn", "amf"}, {}},
        {"provision",
         {"config", "db", "master-key", "impi", "k", "op", "opc", "amf", "sqn"},
         {"replace"}},
        {"deprovision", {"config", "db", "master-key", "impi"}, {}},
        {"vector", {"config", "db", "master-key", "impi", "count"}, {}},
        {"resync", {"config", "db", "master-key", "impi", "rand", "auts"}, {}},
    };
    return specs;
}

struct command_line {
    const command_spec* command = nullptr;
    std::map<std::string, std::string, std::less<>> values;
    std::set<std::string, std::less<>> flags;

    const std::string* find(std::string_view name) const {
        const auto found = values.find(name);
        return found == values.end() ? nullptr : &found->second;
    }
    const std::string& require(std::string_view name) const {
        const std::string* value = find(name);
        if (value == nullptr) {
            throw usage_error("missing --" + std::string(name));
        }
        return *value;
    }
};

command_line parse_command_line(std::span<const std::string_view> arguments) {
    command_line line;
    const auto spec = std::find_if(commands().begin(), commands().end(),
                                   [&](const command_spec& c) { return c.name == arguments[0]; });
    if (spec == commands().end()) {
        throw usage_error("unknown command \"" + std::string(arguments[0]) + "\" (see --help)");
    }
    line.command = &*spec;
    for (std::size_t i = 1; i < arguments.size(); ++i) {
        const std::string_view argument = arguments[i];
        if (argument.size() < 3 || argument.substr(0, 2) != "--") {
            throw usage_error("unexpected argument \"" + std::string(argument) + "\"");
        }
        std::string_view name = argument.substr(2);
        std::optional<std::string_view> inline_value;
        if (const auto equals = name.find('='); equals != std::string_view::npos) {
            inline_value = name.substr(equals + 1);
            name = name.substr(0, equals);
        }
        const bool is_value = std::find(spec->value_options.begin(), spec->value_options.end(),
                                        name) != spec->value_options.end();
        const bool is_flag =
            std::find(spec->flags.begin(), spec->flags.end(), name) != spec->flags.end();
        if (!is_value && !is_flag) {
            throw usage_error("unknown option --" + std::string(name) + " for " +
                              std::string(spec->name));
        }
        if (line.values.count(name) != 0 || line.flags.count(name) != 0) {
            throw usage_error("option --" + std::string(name) + " given twice");
        }
        if (is_flag) {
            if (inline_value) {
                throw usage_error("option --" + std::string(name) + " takes no value");
            }
            line.flags.emplace(name);
            continue;
        }
        if (!inline_value) {
            if (i + 1 >= arguments.size()) {
                throw usage_error("option --" + std::string(name) + " needs a value");
            }
            inline_value = arguments[++i];
        }
        line.values.emplace(std::string(name), std::string(*inline_value));
    }
    return line;
}

template <std::size_t N>
std::array<std::uint8_t, N> hex_option(const command_line& line, std::string_view name) {
    const std::string& text = line.require(name);
    std::error_code ec;
    core::byte_vector bytes = core::from_hex(text, ec);
    if (ec || bytes.size() != N) {
        wipe(bytes);
        throw usage_error("--" + std::string(name) + " must be " + std::to_string(2 * N) +
                          " hexadecimal digits");
    }
    std::array<std::uint8_t, N> out{};
    std::copy(bytes.begin(), bytes.end(), out.begin());
    wipe(bytes);
    return out;
}

// OPc from --opc, or computed from --op (exactly one of them).
aka_opc opc_option(const command_line& line, const aka_key& k) {
    const bool has_op = line.find("op") != nullptr;
    const bool has_opc = line.find("opc") != nullptr;
    if (has_op == has_opc) {
        throw usage_error("give exactly one of --op and --opc");
    }
    if (has_opc) {
        return hex_option<16>(line, "opc");
    }
    aka_op op = hex_option<16>(line, "op");
    const aka_opc opc = milenage::compute_opc(k, op);
    wipe(op);
    return opc;
}

core::impi impi_option(const command_line& line) {
    std::error_code ec;
    core::impi identity = core::impi::parse(line.require("impi"), ec);
    if (ec) {
        throw usage_error("--impi is not a private identity (user@realm)");
    }
    return identity;
}

std::string hex(core::byte_view bytes) {
    return core::to_hex(bytes);
}

// Database location and master key from the command line, then the configuration file.
struct store_settings {
    std::filesystem::path db;
    std::optional<std::filesystem::path> master_key;
};

store_settings settings_of(const command_line& line) {
    store_settings settings;
    std::optional<std::filesystem::path> config_db;
    if (const std::string* config = line.find("config")) {
        const std::filesystem::path file(*config);
        std::ifstream in(file);
        if (!in) {
            throw run_failure("cannot read configuration file " + file.string());
        }
        const nlohmann::json document = nlohmann::json::parse(in, nullptr, false);
        if (document.is_discarded() || !document.is_object()) {
            throw run_failure("configuration file " + file.string() + " is not a JSON object");
        }
        const auto relative_to_config = [&](const std::string& value) {
            const std::filesystem::path path(value);
            return path.is_absolute() ? path : file.parent_path() / path;
        };
        for (const auto& [key, value] : document.items()) {
            if (key != "db" && key != "master_key") {
                throw run_failure("configuration file " + file.string() + ": unknown key \"" + key +
                                  "\"");
            }
            if (!value.is_string()) {
                throw run_failure("configuration file " + file.string() + ": \"" + key +
                                  "\" must be a string");
            }
            if (key == "db") {
                config_db = relative_to_config(value.get<std::string>());
            } else {
                settings.master_key = relative_to_config(value.get<std::string>());
            }
        }
    }
    if (const std::string* db = line.find("db")) {
        settings.db = *db;
    } else if (config_db) {
        settings.db = *config_db;
    } else {
        throw usage_error("missing --db (or \"db\" in --config)");
    }
    if (const std::string* key = line.find("master-key")) {
        settings.master_key = *key;
    }
    return settings;
}

subscriber_store open_store(const command_line& line) {
    const store_settings settings = settings_of(line);
    subscriber_store_options options;
    std::error_code ec;
    if (settings.master_key) {
        options.master_key = core::read_secret_file(*settings.master_key, ec);
        if (ec) {
            throw run_failure("master key " + settings.master_key->string() + ": " + ec.message());
        }
    }
    subscriber_store store = subscriber_store::open(settings.db, std::move(options), ec);
    if (ec) {
        throw run_failure("database " + settings.db.string() + ": " + ec.message());
    }
    return store;
}

void check(const std::error_code& ec, const std::string& context) {
    if (ec) {
        throw run_failure(context + ": " + ec.message());
    }
}

nlohmann::ordered_json milenage_command(const command_line& line) {
    aka_key k = hex_option<16>(line, "k");
    const aka_opc opc = opc_option(line, k);
    const aka_rand rand = hex_option<16>(line, "rand");
    const sqn sequence = sqn::from_bytes(hex_option<6>(line, "sqn"));
    const aka_amf amf = hex_option<2>(line, "amf");
    milenage algorithms(k, opc);
    wipe(k);
    const milenage_outputs out = algorithms.compute(rand, sequence, amf);
    nlohmann::ordered_json result;
    result["opc"] = hex(opc);
    result["f1"] = hex(out.mac_a);
    result["f1star"] = hex(out.mac_s);
    result["f2"] = hex(out.res);
    result["f3"] = hex(out.ck);
    result["f4"] = hex(out.ik);
    result["f5"] = hex(out.ak);
    result["f5star"] = hex(out.ak_star);
    return result;
}

nlohmann::ordered_json provision_command(const command_line& line) {
    subscriber_record record;
    record.impi = impi_option(line);
    record.k = hex_option<16>(line, "k");
    record.opc = opc_option(line, record.k);
    if (line.find("amf") != nullptr) {
        record.amf = hex_option<2>(line, "amf");
    }
    if (line.find("sqn") != nullptr) {
        record.last_sqn = sqn::from_bytes(hex_option<6>(line, "sqn"));
    }
    const bool replace = line.flags.count("replace") != 0;
    subscriber_store store = open_store(line);
    std::error_code ec;
    store.create(record, ec);
    bool updated = false;
    if (ec == errc::subscriber_exists && replace) {
        store.update(record, ec);
        updated = true;
    }
    if (ec == errc::subscriber_exists) {
        throw run_failure(record.impi.str() + " is already provisioned (use --replace)");
    }
    check(ec, "provisioning " + record.impi.str());
    nlohmann::ordered_json result;
    result["impi"] = record.impi.str();
    result["action"] = updated ? "updated" : "created";
    return result;
}

nlohmann::ordered_json deprovision_command(const command_line& line) {
    const core::impi identity = impi_option(line);
    subscriber_store store = open_store(line);
    std::error_code ec;
    store.remove(identity, ec);
    check(ec, "deleting " + identity.str());
    nlohmann::ordered_json result;
    result["impi"] = identity.str();
    result["action"] = "deleted";
    return result;
}

nlohmann::ordered_json vector_json(const core::impi& identity, const authentication_vector& v) {
    nlohmann::ordered_json result;
    result["impi"] = identity.str();
    result["sqn"] = hex(v.sequence.to_bytes());
    result["rand"] = hex(v.rand);
    result["xres"] = hex(v.xres);
    result["ck"] = hex(v.ck);
    result["ik"] = hex(v.ik);
    result["autn"] = hex(v.autn);
    return result;
}

nlohmann::ordered_json vector_command(const command_line& line) {
    const core::impi identity = impi_option(line);
    std::size_t count = 1;
    const std::string* count_text = line.find("count");
    if (count_text != nullptr) {
        const char* end = count_text->data() + count_text->size();
        const auto parsed = std::from_chars(count_text->data(), end, count);
        if (parsed.ec != std::errc{} || parsed.ptr != end || count < 1 || count > 32) {
            throw usage_error("--count must be a number from 1 to 32");
        }
    }
    subscriber_store store = open_store(line);
    hss home(store);
    std::error_code ec;
    const std::vector<authentication_vector> vectors = home.generate_vectors(identity, count, ec);
    check(ec, "authentication vector for " + identity.str());
    if (count_text == nullptr) {
        return vector_json(identity, vectors.front());
    }
    nlohmann::ordered_json result = nlohmann::ordered_json::array();
    for (const authentication_vector& v : vectors) {
        result.push_back(vector_json(identity, v));
    }
    return result;
}

nlohmann::ordered_json resync_command(const command_line& line) {
    const core::impi identity = impi_option(line);
    const aka_rand rand = hex_option<16>(line, "rand");
    const aka_auts auts = hex_option<14>(line, "auts");
    subscriber_store store = open_store(line);
    hss home(store);
    std::error_code ec;
    const sqn sqn_ms = home.resynchronise(identity, rand, auts, ec);
    check(ec, "resynchronising " + identity.str());
    nlohmann::ordered_json result;
    result["impi"] = identity.str();
    result["sqn_ms"] = hex(sqn_ms.to_bytes());
    return result;
}

}  // namespace

aka_tool::aka_tool(std::ostream& out, std::ostream& err) noexcept : out_(&out), err_(&err) {}

std::string aka_tool::usage() {
    return "usage: imsp2p-aka COMMAND [OPTIONS]\n"
           "\n"
           "3GPP AKA tools: Milenage (TS 35.206), HSS subscribers and authentication vectors.\n"
           "\n"
           "commands:\n"
           "  milenage --k HEX (--op HEX | --opc HEX) --rand HEX --sqn HEX --amf HEX\n"
           "      print OPc, f1, f1*, f2, f3, f4, f5 and f5* as one JSON object\n"
           "  provision --db FILE --impi ID --k HEX (--op HEX | --opc HEX) [--amf HEX]\n"
           "            [--sqn HEX] [--replace]\n"
           "      store a subscriber (AMF default 8000, SQN default 000000000000)\n"
           "  deprovision --db FILE --impi ID\n"
           "      delete a subscriber\n"
           "  vector --db FILE --impi ID [--count N]\n"
           "      generate authentication vectors (RAND, XRES, CK, IK, AUTN) as JSON\n"
           "  resync --db FILE --impi ID --rand HEX --auts HEX\n"
           "      verify AUTS and resynchronise the subscriber's SQN\n"
           "\n"
           "database options:\n"
           "  --config FILE      JSON object with \"db\" and \"master_key\" (paths relative to "
           "it)\n"
           "  --master-key FILE  32-byte key file (mode 0600) wrapping K and OPc at rest\n"
           "\n"
           "exit status: 0 success, 1 failure, 2 usage error\n";
}

int aka_tool::run(std::span<const std::string_view> arguments) {
    const bool wants_help = std::any_of(arguments.begin(), arguments.end(), [](std::string_view a) {
        return a == "--help" || a == "-h" || a == "help";
    });
    if (wants_help) {
        *out_ << usage();
        return exit_success;
    }
    if (arguments.empty()) {
        *err_ << "imsp2p-aka: missing command (see --help)\n";
        return exit_usage;
    }
    try {
        const command_line line = parse_command_line(arguments);
        const std::string_view name = line.command->name;
        nlohmann::ordered_json result;
        if (name == "milenage") {
            result = milenage_command(line);
        } else if (name == "provision") {
            result = provision_command(line);
        } else if (name == "deprovision") {
            result = deprovision_command(line);
        } else if (name == "vector") {
            result = vector_command(line);
        } else {
            result = resync_command(line);
        }
        *out_ << result.dump() << '\n';
        out_->flush();
        return exit_success;
    } catch (const usage_error& error) {
        *err_ << "imsp2p-aka: " << error.what() << '\n';
        return exit_usage;
    } catch (const std::exception& error) {
        *err_ << "imsp2p-aka: " << error.what() << '\n';
        return exit_failure;
    }
}

}  // namespace imsp2p::pana
