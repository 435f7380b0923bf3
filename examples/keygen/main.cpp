// imsp2p-keygen: creates the key files of the imsp2p servers and devices (private JWK, 0600)
// and prints the public half as a JWK or a JWK Set, ready to pin in a peer's configuration.

#include <imsp2p/core/crypto.hpp>
#include <imsp2p/core/error.hpp>
#include <imsp2p/core/jose.hpp>
#include <imsp2p/core/key_file.hpp>

#include <boost/program_options.hpp>

#include <filesystem>
#include <iostream>
#include <string>

namespace core = imsp2p::core;
namespace po = boost::program_options;

int main(int argc, char** argv) {
    po::options_description options(
        "Usage: imsp2p-keygen --type ed25519|x25519|secret32 --out FILE [options]\n\n"
        "Creates a private key file (JWK, owner-only permissions) unless it exists, and prints\n"
        "the public key. Ed25519 keys sign (AS tickets, DRM licenses); X25519 keys receive\n"
        "encrypted content keys (DRM server, devices). secret32 writes 32 random bytes (a shared\n"
        "service key, e.g. the PAA -> HSS token deposit key) and prints nothing.\n\nOptions");
    options.add_options()("help,h", "show this help")(
        "type,t", po::value<std::string>()->default_value("ed25519"),
        "key type: ed25519, x25519 or secret32")(
        "out,o", po::value<std::string>(), "private key file to create (or read if it exists)")(
        "kid", po::value<std::string>(), "key id (default: the RFC 7638 thumbprint)")(
        "force", "replace an existing key file")("jwks", "print a JWK Set instead of a JWK");
    po::variables_map args;
    try {
        po::store(po::parse_command_line(argc, argv, options), args);
        po::notify(args);
    } catch (const po::error& error) {
        std::cerr << "imsp2p-keygen: " << error.what() << "\n" << options << "\n";
        return 2;
    }
    if (args.count("help")) {
        std::cout << options << "\n";
        return 0;
    }
    if (!args.count("out")) {
        std::cerr << "imsp2p-keygen: --out is required\n" << options << "\n";
        return 2;
    }
    const std::string type = args["type"].as<std::string>();
    if (type == "secret32") {
        const std::filesystem::path secret_path = args["out"].as<std::string>();
        if (std::filesystem::exists(secret_path) && !args.count("force")) {
            std::cerr << "imsp2p-keygen: " << secret_path << " exists; use --force to replace it\n";
            return 1;
        }
        std::error_code secret_error;
        core::secret_bytes secret(32);
        core::random_bytes(secret.mutable_view(), secret_error);
        if (!secret_error) {
            core::write_secret_file(secret_path, secret.view(), secret_error);
        }
        if (secret_error) {
            std::cerr << "imsp2p-keygen: " << secret_path.string() << ": " << secret_error.message()
                      << "\n";
            return 1;
        }
        return 0;
    }
    if (type != "ed25519" && type != "x25519") {
        std::cerr << "imsp2p-keygen: --type must be ed25519, x25519 or secret32, not '" << type
                  << "'\n";
        return 2;
    }
    const core::jwk_curve curve =
        type == "ed25519" ? core::jwk_curve::ed25519 : core::jwk_curve::x25519;
    const std::filesystem::path path = args["out"].as<std::string>();

    std::error_code ec;
    core::jwk key;
    if (args.count("force") || args.count("kid")) {
        if (std::filesystem::exists(path) && !args.count("force")) {
            std::cerr << "imsp2p-keygen: " << path << " exists; use --force to replace it\n";
            return 1;
        }
        key = curve == core::jwk_curve::ed25519 ? core::jwk(core::ed25519_private_key::generate())
                                                : core::jwk(core::x25519_private_key::generate());
        key.set_kid(args.count("kid") ? args["kid"].as<std::string>() : key.thumbprint());
        key.set_use(curve == core::jwk_curve::ed25519 ? "sig" : "enc");
        core::write_private_key_file(path, key, ec);
    } else {
        key = core::load_or_create_private_key(path, curve, ec);
    }
    if (ec) {
        std::cerr << "imsp2p-keygen: " << path.string() << ": "
                  << (ec == core::errc::jwk_unsupported ? "holds a key of another type"
                                                        : ec.message())
                  << "\n";
        return 1;
    }
    const core::jwk public_key = key.public_only();
    if (args.count("jwks")) {
        core::jwk_set set;
        set.keys.push_back(public_key);
        std::cout << set.to_json().dump(2) << "\n";
    } else {
        std::cout << public_key.to_json().dump(2) << "\n";
    }
    return 0;
}
