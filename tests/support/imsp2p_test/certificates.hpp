// Test support: a throw-away PKI for EAP-TLS tests. Makes P-256 (ECDSA) certificate
// authorities and certificates with OpenSSL's EVP and X509 APIs and writes them as PEM files
// into a private temporary directory that is removed with the object.
//
//   imsp2p_test::test_pki pki;                        // CA "imsp2p test CA" + an unrelated CA
//   auto server = pki.issue_server("paa.example.net"); // SAN dNSName
//   auto client = pki.issue_client("alice@ims.example.net");  // SAN rfc822Name = IMPI
//   auto stranger = pki.issue_client_from_other_ca("alice@ims.example.net");
//
// Test binaries using this header link OpenSSL::SSL and OpenSSL::Crypto.
#pragma once

#include "temporary_directory.hpp"

#include <openssl/bio.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

#include <atomic>
#include <cstdint>
#include <filesystem>
#include <fstream>
#include <memory>
#include <stdexcept>
#include <string>
#include <utility>

namespace imsp2p_test {

/** PEM files (and their text) of one issued certificate and its private key. */
struct issued_certificate {
    std::filesystem::path certificate_file;  ///< The certificate alone.
    std::filesystem::path private_key_file;  ///< Its private key (PKCS#8, unencrypted).
    std::string certificate_pem;             ///< Text of certificate_file.
    std::string private_key_pem;             ///< Text of private_key_file.
};

namespace certificates_detail {

struct pkey_free {
    void operator()(EVP_PKEY* key) const noexcept { EVP_PKEY_free(key); }
};
struct x509_free {
    void operator()(X509* cert) const noexcept { X509_free(cert); }
};
struct bio_free {
    void operator()(BIO* bio) const noexcept { BIO_free(bio); }
};
using pkey_ptr = std::unique_ptr<EVP_PKEY, pkey_free>;
using x509_ptr = std::unique_ptr<X509, x509_free>;
using bio_ptr = std::unique_ptr<BIO, bio_free>;

inline void check(bool ok, const char* what) {
    if (!ok) {
        throw std::runtime_error(std::string("test PKI: OpenSSL failed in ") + what);
    }
}

inline pkey_ptr make_key() {
    pkey_ptr key(EVP_EC_gen("P-256"));
    check(key != nullptr, "EVP_EC_gen");
    return key;
}

inline std::string bio_text(BIO* bio) {
    char* data = nullptr;
    const long size = BIO_ctrl(bio, BIO_CTRL_INFO, 0, static_cast<void*>(&data));
    return std::string(data, static_cast<std::size_t>(size));
}

inline std::string certificate_pem(X509* cert) {
    bio_ptr bio(BIO_new(BIO_s_mem()));
    check(bio && PEM_write_bio_X509(bio.get(), cert) == 1, "PEM_write_bio_X509");
    return bio_text(bio.get());
}

inline std::string private_key_pem(EVP_PKEY* key) {
    bio_ptr bio(BIO_new(BIO_s_mem()));
    check(
        bio && PEM_write_bio_PrivateKey(bio.get(), key, nullptr, nullptr, 0, nullptr, nullptr) == 1,
        "PEM_write_bio_PrivateKey");
    return bio_text(bio.get());
}

inline void write_file(const std::filesystem::path& path, const std::string& text) {
    std::ofstream out(path, std::ios::binary | std::ios::trunc);
    out << text;
    if (!out) {
        throw std::runtime_error("test PKI: cannot write " + path.string());
    }
}

inline void add_extension(X509* cert, X509* issuer, int nid, const char* value) {
    X509V3_CTX context;
    X509V3_set_ctx_nodb(&context);
    X509V3_set_ctx(&context, issuer, cert, nullptr, nullptr, 0);
    X509_EXTENSION* extension = X509V3_EXT_conf_nid(nullptr, &context, nid, value);
    check(extension != nullptr, "X509V3_EXT_conf_nid");
    const int added = X509_add_ext(cert, extension, -1);
    X509_EXTENSION_free(extension);
    check(added == 1, "X509_add_ext");
}

inline long next_serial() {
    static std::atomic<long> serial{1000};
    return ++serial;
}

/** Builds a certificate for @p key signed by @p issuer_key (self-signed when issuer is null). */
inline x509_ptr make_certificate(EVP_PKEY* key, const std::string& common_name, X509* issuer,
                                 EVP_PKEY* issuer_key, bool is_ca,
                                 const std::string& subject_alt_name, long valid_seconds) {
    x509_ptr cert(X509_new());
    check(cert != nullptr, "X509_new");
    check(X509_set_version(cert.get(), 2) == 1, "X509_set_version");
    check(ASN1_INTEGER_set(X509_get_serialNumber(cert.get()), next_serial()) == 1, "serial");
    check(X509_gmtime_adj(X509_getm_notBefore(cert.get()), -3600) != nullptr, "notBefore");
    check(X509_gmtime_adj(X509_getm_notAfter(cert.get()), valid_seconds) != nullptr, "notAfter");
    check(X509_set_pubkey(cert.get(), key) == 1, "X509_set_pubkey");
    X509_NAME* name = X509_get_subject_name(cert.get());
    check(X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_UTF8,
                                     reinterpret_cast<const unsigned char*>(common_name.c_str()),
                                     -1, -1, 0) == 1,
          "X509_NAME_add_entry_by_txt");
    X509* signer = issuer != nullptr ? issuer : cert.get();
    check(X509_set_issuer_name(cert.get(), X509_get_subject_name(signer)) == 1, "issuer name");
    if (is_ca) {
        add_extension(cert.get(), signer, NID_basic_constraints, "critical,CA:TRUE");
        add_extension(cert.get(), signer, NID_key_usage, "critical,keyCertSign,cRLSign");
        add_extension(cert.get(), signer, NID_subject_key_identifier, "hash");
    } else {
        add_extension(cert.get(), signer, NID_basic_constraints, "critical,CA:FALSE");
        add_extension(cert.get(), signer, NID_key_usage, "critical,digitalSignature");
        add_extension(cert.get(), signer, NID_ext_key_usage, "serverAuth,clientAuth");
        add_extension(cert.get(), signer, NID_authority_key_identifier, "keyid:always");
        if (!subject_alt_name.empty()) {
            add_extension(cert.get(), signer, NID_subject_alt_name, subject_alt_name.c_str());
        }
    }
    check(X509_sign(cert.get(), issuer_key != nullptr ? issuer_key : key, EVP_sha256()) > 0,
          "X509_sign");
    return cert;
}

}  // namespace certificates_detail

/** A certificate authority whose key and certificate live in memory; issues PEM files. */
class test_certificate_authority {
  public:
    /**
     * Makes a self-signed CA and writes its certificate to `<directory>/<label>-ca.pem`.
     * @param directory where files go (must exist and outlive the object's files' use)
     * @param label prefix of every file name this CA writes, and part of its CN
     */
    test_certificate_authority(std::filesystem::path directory, std::string label)
        : directory_(std::move(directory)), label_(std::move(label)) {
        namespace d = certificates_detail;
        key_ = d::make_key();
        cert_ = d::make_certificate(key_.get(), "imsp2p test CA " + label_, nullptr, nullptr, true,
                                    "", 10L * 365 * 24 * 3600);
        ca_pem_ = d::certificate_pem(cert_.get());
        ca_file_ = directory_ / (label_ + "-ca.pem");
        d::write_file(ca_file_, ca_pem_);
    }

    /** @return the CA certificate's PEM file */
    const std::filesystem::path& ca_file() const noexcept { return ca_file_; }
    /** @return the CA certificate's PEM text */
    const std::string& ca_pem() const noexcept { return ca_pem_; }

    /**
     * Issues an end-entity certificate.
     * @param file_stem file names: `<label>-<file_stem>.crt.pem` and `.key.pem`
     * @param common_name the subject CN
     * @param subject_alt_name OpenSSL config syntax, e.g. "DNS:paa.example.net" or
     *        "email:alice@ims.example.net"; empty for none
     * @param valid_seconds lifetime from now (negative: already expired)
     * @return the files and their text
     */
    issued_certificate issue(const std::string& file_stem, const std::string& common_name,
                             const std::string& subject_alt_name,
                             long valid_seconds = 365L * 24 * 3600) const {
        namespace d = certificates_detail;
        d::pkey_ptr key = d::make_key();
        d::x509_ptr cert = d::make_certificate(key.get(), common_name, cert_.get(), key_.get(),
                                               false, subject_alt_name, valid_seconds);
        issued_certificate out;
        out.certificate_pem = d::certificate_pem(cert.get());
        out.private_key_pem = d::private_key_pem(key.get());
        out.certificate_file = directory_ / (label_ + "-" + file_stem + ".crt.pem");
        out.private_key_file = directory_ / (label_ + "-" + file_stem + ".key.pem");
        d::write_file(out.certificate_file, out.certificate_pem);
        d::write_file(out.private_key_file, out.private_key_pem);
        std::filesystem::permissions(
            out.private_key_file,
            std::filesystem::perms::owner_read | std::filesystem::perms::owner_write,
            std::filesystem::perm_options::replace);
        return out;
    }

  private:
    std::filesystem::path directory_;
    std::string label_;
    certificates_detail::pkey_ptr key_;
    certificates_detail::x509_ptr cert_;
    std::string ca_pem_;
    std::filesystem::path ca_file_;
};

/**
 * The PKI of an EAP-TLS test: a temporary directory, the trusted CA and an unrelated second CA
 * (for "wrong certificate" cases). Not thread-safe; one per test.
 */
class test_pki {
  public:
    /** Creates the directory and both CAs. */
    test_pki()
        : directory_("imsp2p-pki"),
          trusted_(directory_.path(), "trusted"),
          other_(directory_.path(), "other") {}

    /** @return the directory holding every file */
    const std::filesystem::path& directory() const noexcept { return directory_.path(); }
    /** @return the trusted CA */
    const test_certificate_authority& ca() const noexcept { return trusted_; }
    /** @return the unrelated CA nobody trusts */
    const test_certificate_authority& other_ca() const noexcept { return other_; }

    /** Issues a server certificate (SAN dNSName) from the trusted CA. @param dns_name name */
    issued_certificate issue_server(const std::string& dns_name) const {
        return trusted_.issue("server-" + dns_name, dns_name, "DNS:" + dns_name);
    }
    /** Issues a client certificate (SAN rfc822Name = IMPI) from the trusted CA. @param impi id */
    issued_certificate issue_client(const std::string& impi) const {
        return trusted_.issue("client-" + impi, impi, "email:" + impi);
    }
    /** Issues a server certificate from the unrelated CA. @param dns_name name */
    issued_certificate issue_server_from_other_ca(const std::string& dns_name) const {
        return other_.issue("server-" + dns_name, dns_name, "DNS:" + dns_name);
    }
    /** Issues a client certificate from the unrelated CA. @param impi identity */
    issued_certificate issue_client_from_other_ca(const std::string& impi) const {
        return other_.issue("client-" + impi, impi, "email:" + impi);
    }

  private:
    temporary_directory directory_;
    test_certificate_authority trusted_;
    test_certificate_authority other_;
};

}  // namespace imsp2p_test
