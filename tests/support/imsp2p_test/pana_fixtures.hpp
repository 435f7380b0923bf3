// Test support: the fixtures of the PANA / EAP-TLS / AKA tests in one place.
//
//   imsp2p_test::eap_tls_parties parties("alice@ims.example");  // test PKI, PAA and UE
//   certificates pana::eap_tls_settings paa = parties.server_settings();       // the PAA's EAP-TLS
//   settings pana::eap_tls_settings ue = parties.client_settings();        // the UE's (checks the
//   PAA name) pana::paa_runner_config config = parties.paa_config();        // 127.0.0.1, port 0
//
//   imsp2p_test::aka_subscriber alice("alice@ims.example", 11, 12, 3);  // K and OPc from seeds
//   subscribers.create(alice.record());  pana::usim card = alice.card();
//
//   imsp2p_test::write_paa_config(config, parties, R"(,"token_store":"hss.sqlite")");
//   imsp2p_test::paa_process paa(program, config, log);  // waits for its listening line
//   paa.port();  paa.stop();                             // SIGTERM, exit status
//
// Test binaries using this header link imsp2p::pana, OpenSSL::SSL and OpenSSL::Crypto.
#pragma once

#include "certificates.hpp"
#include "child_process.hpp"
#include "text_files.hpp"

#include <imsp2p/core/identity.hpp>
#include <imsp2p/pana/eap_tls.hpp>
#include <imsp2p/pana/hss.hpp>
#include <imsp2p/pana/milenage.hpp>
#include <imsp2p/pana/paa_runner.hpp>
#include <imsp2p/pana/usim.hpp>

#include <cctype>
#include <chrono>
#include <csignal>
#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <fstream>
#include <string>

namespace imsp2p_test {

/** The DNS name of the PAA's certificate in these tests. */
inline constexpr char paa_server_name[] = "paa.ims.example";

/**
 * A throw-away PKI with the two parties of an EAP-TLS access authentication: the PAA (server
 * certificate for paa_server_name) and the UE (client certificate whose rfc822Name is its IMPI).
 * Owns the files; they are removed with the object.
 */
class eap_tls_parties {
  public:
    /** @param impi the UE's private identity (its certificate's rfc822Name) */
    explicit eap_tls_parties(const std::string& impi)
        : server_(pki_.issue_server(paa_server_name)), client_(pki_.issue_client(impi)) {}

    /** @return the PKI (for further certificates, e.g. from the other CA) */
    const test_pki& pki() const noexcept { return pki_; }
    /** @return the PAA's certificate and key */
    const issued_certificate& server() const noexcept { return server_; }
    /** @return the UE's certificate and key */
    const issued_certificate& client() const noexcept { return client_; }

    /** @return the PAA's EAP-TLS settings (trusts the test CA) */
    imsp2p::pana::eap_tls_settings server_settings() const {
        imsp2p::pana::eap_tls_settings settings;
        settings.ca_file = pki_.ca().ca_file();
        settings.certificate_chain_file = server_.certificate_file;
        settings.private_key_file = server_.private_key_file;
        return settings;
    }

    /**
     * @param check_server_name whether the UE requires paa_server_name in the PAA's certificate
     * @return the UE's EAP-TLS settings (trusts the test CA)
     */
    imsp2p::pana::eap_tls_settings client_settings(bool check_server_name = true) const {
        imsp2p::pana::eap_tls_settings settings;
        settings.ca_file = pki_.ca().ca_file();
        settings.certificate_chain_file = client_.certificate_file;
        settings.private_key_file = client_.private_key_file;
        if (check_server_name) {
            settings.expected_server_name = paa_server_name;
        }
        return settings;
    }

    /** @return a PAA runner configuration on 127.0.0.1, port 0, with the PAA's certificate */
    imsp2p::pana::paa_runner_config paa_config() const {
        imsp2p::pana::paa_runner_config config;
        config.listen_address = "127.0.0.1";
        config.port = 0;
        config.ca_file = pki_.ca().ca_file();
        config.certificate_file = server_.certificate_file;
        config.private_key_file = server_.private_key_file;
        return config;
    }

  private:
    test_pki pki_;
    issued_certificate server_;
    issued_certificate client_;
};

/** An AKA key whose byte i is seed + step * i (distinct keys from distinct seeds). */
inline imsp2p::pana::aka_key aka_test_key(std::uint8_t seed, std::uint8_t step) {
    imsp2p::pana::aka_key key{};
    for (std::size_t i = 0; i < key.size(); ++i) {
        key[i] = static_cast<std::uint8_t>(seed + step * i);
    }
    return key;
}

/** An AKA subscriber of the tests: the HSS record and the matching USIM. A plain value type. */
struct aka_subscriber {
    /**
     * @param impi_text the private identity
     * @param k_seed seed of K (aka_test_key)
     * @param opc_seed seed of OPc
     * @param step the keys' byte step
     */
    aka_subscriber(const std::string& impi_text, std::uint8_t k_seed, std::uint8_t opc_seed,
                   std::uint8_t step)
        : impi(imsp2p::core::impi::parse(impi_text)),
          k(aka_test_key(k_seed, step)),
          opc(aka_test_key(opc_seed, step)) {}

    imsp2p::core::impi impi;    ///< The private identity.
    imsp2p::pana::aka_key k;    ///< The subscriber key K.
    imsp2p::pana::aka_key opc;  ///< The operator variant OPc.

    /** @return the HSS record (SQN starts at the store's default) */
    imsp2p::pana::subscriber_record record() const {
        imsp2p::pana::subscriber_record result;
        result.impi = impi;
        result.k = k;
        result.opc = opc;
        return result;
    }

    /** @return the USIM profile */
    imsp2p::pana::usim_profile profile() const {
        imsp2p::pana::usim_profile result;
        result.impi = impi;
        result.k = k;
        result.opc = opc;
        return result;
    }

    /** @return a fresh USIM (its own SQN state) */
    imsp2p::pana::usim card() const { return imsp2p::pana::usim(profile()); }
};

/**
 * Writes an imsp2p-paa configuration: 127.0.0.1, port 0, the test CA and the PAA's certificate.
 * @param file where to write it
 * @param parties the PKI and certificates
 * @param extra_members more JSON members, each preceded by a comma (e.g. `,"token_store":"x"`)
 */
inline void write_paa_config(const std::filesystem::path& file, const eap_tls_parties& parties,
                             const std::string& extra_members = {}) {
    std::ofstream(file) << R"({"listen_address":"127.0.0.1","port":0,"ca_file":")"
                        << parties.pki().ca().ca_file().string() << R"(","certificate_file":")"
                        << parties.server().certificate_file.string() << R"(","private_key_file":")"
                        << parties.server().private_key_file.string() << '"' << extra_members
                        << '}';
}

/**
 * The imsp2p-paa program as a child process (stdout and stderr in a log file). The constructor
 * waits up to 10 s for its "listening on 127.0.0.1 port N" line; the process is killed when the
 * object is destroyed while it still runs.
 */
class paa_process {
  public:
    /**
     * @param program the imsp2p-paa executable
     * @param config its configuration file
     * @param log the log file (truncated)
     */
    paa_process(const std::filesystem::path& program, const std::filesystem::path& config,
                const std::filesystem::path& log)
        : log_(log), process_({program.string(), "--config=" + config.string()}, log.string()) {
        static constexpr char listening[] = "listening on 127.0.0.1 port ";
        const std::string text = wait_for_text(log, listening);
        const auto at = text.find(listening);
        if (at != std::string::npos) {
            const std::size_t digits = at + sizeof listening - 1;
            if (digits < text.size() && std::isdigit(static_cast<unsigned char>(text[digits]))) {
                port_ = static_cast<std::uint16_t>(std::stoi(text.substr(digits)));
            }
        }
    }

    /** @return the UDP port it listens on, 0 if it did not start */
    std::uint16_t port() const noexcept { return port_; }
    /** @return its log so far */
    std::string log() const { return read_text(log_); }
    /**
     * Sends SIGTERM and waits for the exit.
     * @param limit how long to wait
     * @return the exit status (0: a clean stop), -1 on timeout or an abnormal end
     */
    int stop(std::chrono::milliseconds limit = std::chrono::seconds(10)) {
        process_.signal(SIGTERM);
        return process_.wait(limit);
    }

  private:
    std::filesystem::path log_;
    child_process process_;
    std::uint16_t port_ = 0;
};

}  // namespace imsp2p_test
