#include <imsp2p/core/error.hpp>

namespace imsp2p::core {
namespace {

class core_category final : public std::error_category {
  public:
    const char* name() const noexcept override { return "imsp2p.core"; }

    std::string message(int value) const override {
        switch (static_cast<errc>(value)) {
            case errc::invalid_argument:
                return "invalid argument";
            case errc::io_error:
                return "input/output error";
            case errc::not_found:
                return "not found";
            case errc::insecure_permissions:
                return "secret file is accessible to group or others (chmod 600 it)";
            case errc::content_malformed:
                return "content record field is missing or has a bad type or value";

            case errc::doi_empty:
                return "DOI is empty";
            case errc::doi_missing_prefix:
                return "DOI does not start with the directory indicator \"10.\"";
            case errc::doi_bad_registrant:
                return "DOI registrant code must be digits with optional \".digits\" parts";
            case errc::doi_missing_suffix:
                return "DOI has no suffix after \"/\"";
            case errc::doi_whitespace:
                return "DOI contains whitespace";
            case errc::doi_control_character:
                return "DOI contains a control character";
            case errc::doi_bad_percent_encoding:
                return "DOI has a \"%\" not followed by two hexadecimal digits";
            case errc::doi_bad_utf8:
                return "DOI is not valid UTF-8";
            case errc::doi_too_long:
                return "DOI is too long";
            case errc::doi_bad_resolver:
                return "DOI URL does not name doi.org or dx.doi.org";

            case errc::impu_bad_scheme:
                return "IMPU is not a sip:, sips: or tel: URI";
            case errc::impu_malformed:
                return "IMPU URI is malformed";
            case errc::impi_malformed:
                return "IMPI is not of the form user@realm";

            case errc::bad_hex:
                return "not a valid hexadecimal string";
            case errc::bad_base64:
                return "not valid base64";

            case errc::crypto_failure:
                return "cryptographic operation failed";
            case errc::bad_key:
                return "key is malformed or of the wrong type";
            case errc::bad_key_size:
                return "key, nonce or tag has the wrong length";
            case errc::authentication_failed:
                return "authentication tag does not verify (data tampered or wrong key)";
            case errc::bad_signature:
                return "signature does not verify";

            case errc::jose_malformed:
                return "not a JOSE compact serialisation";
            case errc::jose_bad_header:
                return "JOSE header is invalid";
            case errc::jose_unsupported_algorithm:
                return "JOSE algorithm is not supported";
            case errc::jose_critical_unsupported:
                return "JOSE header has an unsupported critical extension";
            case errc::jwk_malformed:
                return "JWK is malformed";
            case errc::jwk_unsupported:
                return "JWK key type or curve is not supported";
            case errc::jwk_no_private_key:
                return "JWK has no private key";
            case errc::jose_payload_malformed:
                return "JOSE payload is not the expected JSON";
            case errc::jose_too_large:
                return "JOSE text is too large";

            case errc::ticket_malformed:
                return "ticket is not a well-formed JWT";
            case errc::ticket_unknown_key:
                return "ticket is signed by an unknown key";
            case errc::ticket_bad_signature:
                return "ticket signature does not verify";
            case errc::ticket_expired:
                return "ticket has expired";
            case errc::ticket_not_yet_valid:
                return "ticket is not yet valid";
            case errc::ticket_wrong_audience:
                return "ticket is for another audience";
            case errc::ticket_wrong_issuer:
                return "ticket is from an unexpected issuer";
            case errc::ticket_missing_claim:
                return "ticket lacks a required claim";
            case errc::ticket_bad_claim:
                return "ticket has an invalid claim";
            case errc::ticket_wrong_infohash:
                return "ticket does not cover this infohash";
            case errc::ticket_role_not_allowed:
                return "ticket role does not allow this operation";

            case errc::database_error:
                return "database error";
            case errc::database_busy:
                return "database is locked";
            case errc::database_constraint:
                return "database constraint violated";
            case errc::database_corrupt:
                return "database file is corrupt or not a database";
            case errc::database_cant_open:
                return "database file cannot be opened";
            case errc::schema_too_new:
                return "database schema is newer than this program supports";
            case errc::migration_failed:
                return "database schema migration failed";

            case errc::config_unreadable:
                return "configuration file cannot be read";
            case errc::config_malformed:
                return "configuration file is not valid JSON";
            case errc::config_missing_value:
                return "required configuration setting is missing";
            case errc::config_bad_value:
                return "configuration setting has a bad value";
            case errc::config_unknown_key:
                return "unknown configuration setting";
        }
        return "unknown imsp2p.core error " + std::to_string(value);
    }
};

}  // namespace

const std::error_category& error_category() noexcept {
    static const core_category instance;
    return instance;
}

std::error_code make_error_code(errc e) noexcept {
    return {static_cast<int>(e), error_category()};
}

void throw_error(std::error_code ec, const std::string& detail) {
    if (detail.empty()) {
        throw std::system_error(ec);
    }
    throw std::system_error(ec, detail);
}

}  // namespace imsp2p::core
