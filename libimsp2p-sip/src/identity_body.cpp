// RFC 3893 Authenticated Identity Body: a message/sipfrag signed as CMS SignedData (OpenSSL 3).

#include <imsp2p/sip/identity_body.hpp>

#include <imsp2p/sip/error.hpp>

#include <openssl/bio.h>
#include <openssl/cms.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

#include <cctype>
#include <climits>
#include <ctime>
#include <fstream>
#include <map>
#include <optional>
#include <sstream>
#include <vector>

namespace imsp2p::sip {

struct identity_trust_anchors::state {
    X509_STORE* store = nullptr;
    std::size_t count = 0;
    state() : store(X509_STORE_new()) {}
    ~state() { X509_STORE_free(store); }
    state(const state&) = delete;
    state& operator=(const state&) = delete;
};

namespace {

constexpr std::size_t max_body_size = 64 * 1024;

struct bio_free {
    void operator()(BIO* b) const noexcept { BIO_free(b); }
};
struct x509_free {
    void operator()(X509* x) const noexcept { X509_free(x); }
};
struct pkey_free {
    void operator()(EVP_PKEY* k) const noexcept { EVP_PKEY_free(k); }
};
struct cms_free {
    void operator()(CMS_ContentInfo* c) const noexcept { CMS_ContentInfo_free(c); }
};
struct x509_stack_free {
    void operator()(STACK_OF(X509) * s) const noexcept { sk_X509_pop_free(s, X509_free); }
};
struct store_ctx_free {
    void operator()(X509_STORE_CTX* c) const noexcept { X509_STORE_CTX_free(c); }
};
struct names_free {
    void operator()(GENERAL_NAMES* n) const noexcept { GENERAL_NAMES_free(n); }
};
using bio_ptr = std::unique_ptr<BIO, bio_free>;

bio_ptr memory_bio(std::string_view text) {
    if (text.size() > static_cast<std::size_t>(INT_MAX)) {
        return nullptr;
    }
    return bio_ptr(BIO_new_mem_buf(text.data(), static_cast<int>(text.size())));
}

std::string http_date(std::chrono::system_clock::time_point when) {
    const std::time_t t = std::chrono::system_clock::to_time_t(when);
    std::tm tm{};
    gmtime_r(&t, &tm);
    char buffer[64];
    const std::size_t n = std::strftime(buffer, sizeof buffer, "%a, %d %b %Y %H:%M:%S GMT", &tm);
    return std::string(buffer, n);
}

std::optional<std::chrono::system_clock::time_point> parse_http_date(const std::string& text) {
    std::tm tm{};
    const char* end = strptime(text.c_str(), "%a, %d %b %Y %H:%M:%S GMT", &tm);
    if (end == nullptr || *end != '\0') {
        return std::nullopt;
    }
    const std::time_t t = timegm(&tm);
    if (t == static_cast<std::time_t>(-1)) {
        return std::nullopt;
    }
    return std::chrono::system_clock::from_time_t(t);
}

bool has_line_break(const std::string& s) {
    return s.find_first_of("\r\n") != std::string::npos;
}

std::string angle(const std::string& uri) {
    return "<" + uri + ">";
}

std::string trim(std::string_view s) {
    while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) {
        s.remove_prefix(1);
    }
    while (!s.empty() && (s.back() == ' ' || s.back() == '\t')) {
        s.remove_suffix(1);
    }
    return std::string(s);
}

// The URI of a name-addr or addr-spec header value, without parameters outside <>.
std::string header_uri(const std::string& value) {
    const auto open = value.find('<');
    if (open != std::string::npos) {
        const auto close = value.find('>', open);
        if (close == std::string::npos) {
            return {};
        }
        return value.substr(open + 1, close - open - 1);
    }
    return trim(std::string_view(value).substr(0, value.find(';')));
}

std::string lower(std::string s) {
    for (char& c : s) {
        c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    }
    return s;
}

struct sipfrag {
    std::string method;
    std::string request_uri;
    std::map<std::string, std::string> headers;  // lower-case name -> value
};

std::optional<sipfrag> parse_sipfrag(std::string_view text) {
    sipfrag out;
    bool first = true;
    while (!text.empty()) {
        const auto end = text.find("\r\n");
        if (end == std::string_view::npos) {
            return std::nullopt;
        }
        const std::string_view line = text.substr(0, end);
        text.remove_prefix(end + 2);
        if (line.empty()) {
            break;
        }
        if (first) {
            first = false;
            const auto sp1 = line.find(' ');
            const auto sp2 = line.rfind(' ');
            if (sp1 == std::string_view::npos || sp1 == sp2 || line.substr(sp2 + 1) != "SIP/2.0") {
                return std::nullopt;
            }
            out.method = std::string(line.substr(0, sp1));
            out.request_uri = std::string(line.substr(sp1 + 1, sp2 - sp1 - 1));
            continue;
        }
        const auto colon = line.find(':');
        if (colon == std::string_view::npos || colon == 0) {
            return std::nullopt;
        }
        if (!out.headers.emplace(lower(trim(line.substr(0, colon))), trim(line.substr(colon + 1)))
                 .second) {
            return std::nullopt;  // a duplicated header is ambiguous
        }
    }
    if (first) {
        return std::nullopt;
    }
    return out;
}

bool certificate_has_email(X509* cert, const std::string& impi) {
    std::unique_ptr<GENERAL_NAMES, names_free> names(static_cast<GENERAL_NAMES*>(
        X509_get_ext_d2i(cert, NID_subject_alt_name, nullptr, nullptr)));
    if (!names) {
        return false;
    }
    for (int i = 0; i < sk_GENERAL_NAME_num(names.get()); ++i) {
        const GENERAL_NAME* name = sk_GENERAL_NAME_value(names.get(), i);
        if (name->type != GEN_EMAIL) {
            continue;
        }
        const ASN1_IA5STRING* email = name->d.rfc822Name;
        const std::string value(reinterpret_cast<const char*>(ASN1_STRING_get0_data(email)),
                                static_cast<std::size_t>(ASN1_STRING_length(email)));
        if (lower(value) == lower(impi)) {
            return true;
        }
    }
    return false;
}

}  // namespace

std::string make_identity_body(const identity_body_request& request,
                               const std::string& certificate_pem,
                               const std::string& private_key_pem, std::error_code& ec,
                               std::chrono::system_clock::time_point now) {
    ec.clear();
    for (const std::string* field : {&request.method, &request.request_uri, &request.from_uri,
                                     &request.to_uri, &request.call_id, &request.contact}) {
        if (has_line_break(*field)) {
            ec = errc::identity_body_malformed;
            return {};
        }
    }
    auto cert_bio = memory_bio(certificate_pem);
    auto key_bio = memory_bio(private_key_pem);
    std::unique_ptr<X509, x509_free> cert(
        cert_bio ? PEM_read_bio_X509(cert_bio.get(), nullptr, nullptr, nullptr) : nullptr);
    std::unique_ptr<EVP_PKEY, pkey_free> key(
        key_bio ? PEM_read_bio_PrivateKey(key_bio.get(), nullptr, nullptr, nullptr) : nullptr);
    if (!cert || !key || X509_check_private_key(cert.get(), key.get()) != 1) {
        ERR_clear_error();
        ec = errc::identity_body_bad_signer;
        return {};
    }
    std::string frag = request.method + " " + request.request_uri + " SIP/2.0\r\n";
    frag += "From: " + angle(request.from_uri) + "\r\n";
    frag += "To: " + angle(request.to_uri) + "\r\n";
    frag += "Call-ID: " + request.call_id + "\r\n";
    frag += "CSeq: " + std::to_string(request.cseq) + " " + request.method + "\r\n";
    frag += "Date: " + http_date(now) + "\r\n";
    if (!request.contact.empty()) {
        frag += "Contact: " + angle(request.contact) + "\r\n";
    }
    frag += "\r\n";
    auto data = memory_bio(frag);
    std::unique_ptr<CMS_ContentInfo, cms_free> cms(
        CMS_sign(cert.get(), key.get(), nullptr, data.get(), CMS_BINARY));
    if (!cms) {
        ERR_clear_error();
        ec = errc::identity_body_bad_signer;
        return {};
    }
    unsigned char* der = nullptr;
    const int length = i2d_CMS_ContentInfo(cms.get(), &der);
    if (length <= 0) {
        ERR_clear_error();
        ec = errc::identity_body_bad_signer;
        return {};
    }
    std::string out(reinterpret_cast<const char*>(der), static_cast<std::size_t>(length));
    OPENSSL_free(der);
    return out;
}

std::string make_identity_body(const identity_body_request& request,
                               const std::string& certificate_pem,
                               const std::string& private_key_pem) {
    std::error_code ec;
    std::string body = make_identity_body(request, certificate_pem, private_key_pem, ec);
    if (ec) {
        throw std::system_error(ec, "make_identity_body");
    }
    return body;
}

identity_trust_anchors::identity_trust_anchors() : state_(std::make_shared<const state>()) {}

std::size_t identity_trust_anchors::size() const noexcept {
    return state_->count;
}

identity_trust_anchors identity_trust_anchors::from_pem(std::string_view ca_pem,
                                                        std::error_code& ec) {
    ec.clear();
    auto loaded = std::make_shared<state>();
    auto bio = memory_bio(ca_pem);
    while (bio) {
        std::unique_ptr<X509, x509_free> cert(
            PEM_read_bio_X509(bio.get(), nullptr, nullptr, nullptr));
        if (!cert) {
            break;
        }
        if (X509_STORE_add_cert(loaded->store, cert.get()) == 1) {
            ++loaded->count;
        }
    }
    ERR_clear_error();
    identity_trust_anchors out;
    if (loaded->count == 0) {
        ec = errc::identity_body_bad_signer;
        return out;
    }
    out.state_ = std::move(loaded);
    return out;
}

identity_trust_anchors identity_trust_anchors::from_file(const std::filesystem::path& ca_file,
                                                         std::error_code& ec) {
    std::ifstream in(ca_file, std::ios::binary);
    if (!in) {
        ec = errc::identity_body_bad_signer;
        return {};
    }
    std::ostringstream text;
    text << in.rdbuf();
    return from_pem(text.str(), ec);
}

bool verify_identity_body(std::string_view body, const identity_trust_anchors& anchors,
                          const identity_body_expectation& expected, std::error_code& ec) {
    ec.clear();
    const auto fail = [&ec](errc e) {
        ERR_clear_error();
        ec = e;
        return false;
    };
    if (body.empty() || body.size() > max_body_size) {
        return fail(errc::identity_body_malformed);
    }
    const auto* der = reinterpret_cast<const unsigned char*>(body.data());
    std::unique_ptr<CMS_ContentInfo, cms_free> cms(
        d2i_CMS_ContentInfo(nullptr, &der, static_cast<long>(body.size())));
    if (!cms || der != reinterpret_cast<const unsigned char*>(body.data()) + body.size() ||
        OBJ_obj2nid(CMS_get0_type(cms.get())) != NID_pkcs7_signed) {
        return fail(errc::identity_body_malformed);
    }
    STACK_OF(CMS_SignerInfo)* signer_infos = CMS_get0_SignerInfos(cms.get());
    if (signer_infos == nullptr || sk_CMS_SignerInfo_num(signer_infos) != 1) {
        return fail(errc::identity_body_malformed);
    }
    // 1. The signature alone (chain checked below, with a precise error).
    bio_ptr content(BIO_new(BIO_s_mem()));
    if (!content) {
        return fail(errc::identity_body_malformed);
    }
    if (CMS_verify(cms.get(), nullptr, nullptr, nullptr, content.get(),
                   CMS_NO_SIGNER_CERT_VERIFY | CMS_BINARY) != 1) {
        // A missing signer certificate or content is a structural problem.
        std::unique_ptr<STACK_OF(X509), x509_stack_free> certs(CMS_get1_certs(cms.get()));
        if (!certs || sk_X509_num(certs.get()) == 0 || CMS_get0_content(cms.get()) == nullptr ||
            *CMS_get0_content(cms.get()) == nullptr) {
            return fail(errc::identity_body_malformed);
        }
        return fail(errc::identity_body_bad_signature);
    }
    STACK_OF(X509)* signers = CMS_get0_signers(cms.get());
    if (signers == nullptr || sk_X509_num(signers) != 1) {
        sk_X509_free(signers);
        return fail(errc::identity_body_malformed);
    }
    X509* signer = sk_X509_value(signers, 0);
    sk_X509_free(signers);  // the certificates themselves belong to cms
    // 2. The chain.
    std::unique_ptr<STACK_OF(X509), x509_stack_free> untrusted(CMS_get1_certs(cms.get()));
    std::unique_ptr<X509_STORE_CTX, store_ctx_free> ctx(X509_STORE_CTX_new());
    if (!ctx || X509_STORE_CTX_init(ctx.get(), anchors.shared_state()->store, signer,
                                    untrusted.get()) != 1) {
        return fail(errc::identity_body_untrusted_signer);
    }
    X509_VERIFY_PARAM_set_time(X509_STORE_CTX_get0_param(ctx.get()),
                               std::chrono::system_clock::to_time_t(expected.now));
    if (X509_verify_cert(ctx.get()) != 1) {
        return fail(errc::identity_body_untrusted_signer);
    }
    // 3. The identity.
    if (!certificate_has_email(signer, expected.impi)) {
        return fail(errc::identity_body_identity_mismatch);
    }
    // 4. The sipfrag against the request.
    BUF_MEM* buffer = nullptr;
    BIO_get_mem_ptr(content.get(), &buffer);
    const std::string_view text =
        buffer != nullptr ? std::string_view(buffer->data, buffer->length) : std::string_view();
    const auto frag = parse_sipfrag(text);
    if (!frag) {
        return fail(errc::identity_body_malformed);
    }
    const auto header = [&](const char* name) -> std::string {
        const auto it = frag->headers.find(name);
        return it == frag->headers.end() ? std::string() : it->second;
    };
    const auto& request = expected.request;
    const std::string cseq = std::to_string(request.cseq) + " " + request.method;
    if (frag->method != request.method || frag->request_uri != request.request_uri ||
        header_uri(header("from")) != request.from_uri ||
        header_uri(header("to")) != request.to_uri || header("call-id") != request.call_id ||
        header("cseq") != cseq) {
        return fail(errc::identity_body_request_mismatch);
    }
    // 5. Freshness.
    const auto date = parse_http_date(header("date"));
    if (!date) {
        return fail(errc::identity_body_malformed);
    }
    const auto skew = *date > expected.now ? *date - expected.now : expected.now - *date;
    if (skew > expected.window) {
        return fail(errc::identity_body_stale);
    }
    return true;
}

}  // namespace imsp2p::sip
