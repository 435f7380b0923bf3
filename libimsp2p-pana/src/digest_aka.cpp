// HTTP Digest AKA (RFC 3310 / RFC 4169) challenge, answer and verification.

#include <imsp2p/pana/digest_aka.hpp>

#include <imsp2p/pana/error.hpp>

#include <imsp2p/core/crypto.hpp>
#include <imsp2p/core/encoding.hpp>

#include <algorithm>
#include <utility>

namespace imsp2p::pana {
namespace {

std::string random_hex(std::size_t bytes) {
    return core::to_hex(core::random_bytes(bytes));
}

char lower(char c) noexcept {
    return (c >= 'A' && c <= 'Z') ? static_cast<char>(c - 'A' + 'a') : c;
}

}  // namespace

aka_server_challenge::aka_server_challenge(const authentication_vector& vector,
                                           std::string username, std::string realm,
                                           aka_challenge_options options)
    : vector_(vector), username_(std::move(username)), algorithm_(options.algorithm) {
    aka_nonce nonce;
    nonce.rand = vector.rand;
    nonce.autn = vector.autn;
    nonce.server_data = std::move(options.server_data);
    challenge_.realm = std::move(realm);
    challenge_.nonce = nonce.encode();
    challenge_.opaque = options.opaque.empty() ? random_hex(16) : std::move(options.opaque);
    challenge_.algorithm = std::string(digest_algorithm_name(algorithm_));
    challenge_.qop.emplace_back("auth");
    if (options.offer_auth_int) {
        challenge_.qop.emplace_back("auth-int");
    }
}

aka_verification aka_server_challenge::verify(const digest_credentials& credentials,
                                              const digest_request& request, std::error_code& ec) {
    aka_verification result;
    result.rand = vector_.rand;
    const std::optional<digest_algorithm> algorithm =
        digest_algorithm_from_name(credentials.algorithm.value_or(""));
    const bool matches = credentials.realm == challenge_.realm &&
                         credentials.nonce == challenge_.nonce &&
                         credentials.opaque == challenge_.opaque && algorithm == algorithm_ &&
                         credentials.username == username_ && credentials.uri == request.uri;
    if (!matches) {
        ec = errc::digest_challenge_mismatch;
        return result;
    }
    if (credentials.auts) {
        result.verdict = aka_verdict::resynchronise;
        result.auts = credentials.auts;
        ec.clear();
        return result;
    }
    if (!credentials.qop || std::find(challenge_.qop.begin(), challenge_.qop.end(),
                                      *credentials.qop) == challenge_.qop.end()) {
        ec = errc::digest_unsupported;
        return result;
    }
    const std::uint32_t nonce_count = credentials.nonce_count.value_or(0);
    if (nonce_count <= last_nonce_count_) {
        ec = errc::digest_nonce_count_reused;
        return result;
    }
    const core::secret_bytes password =
        aka_digest_password(algorithm_, vector_.xres, vector_.ik, vector_.ck, ec);
    if (ec) {
        return result;
    }
    digest_response_input input;
    input.username = credentials.username;
    input.realm = credentials.realm;
    input.password = password.view();
    input.nonce = credentials.nonce;
    input.cnonce = credentials.cnonce ? std::string_view(*credentials.cnonce) : std::string_view();
    input.qop = *credentials.qop;
    input.nonce_count = nonce_count;
    input.method = request.method;
    input.uri = credentials.uri;
    input.body = request.body;
    const std::string expected = compute_digest_response(input, ec);
    if (ec) {
        return result;
    }
    std::string received = credentials.response;
    std::transform(received.begin(), received.end(), received.begin(), lower);
    if (!core::constant_time_equal(core::as_bytes(expected), core::as_bytes(received))) {
        ec = errc::digest_response_mismatch;
        return result;
    }
    last_nonce_count_ = nonce_count;
    result.verdict = aka_verdict::authenticated;
    ec.clear();
    return result;
}

aka_client_answer answer_aka_challenge(usim& card, const digest_challenge& challenge,
                                       const digest_client_request& request, std::error_code& ec) {
    aka_client_answer answer;
    const std::optional<digest_algorithm> algorithm =
        digest_algorithm_from_name(challenge.algorithm.value_or(""));
    if (!algorithm || *algorithm == digest_algorithm::md5) {
        ec = errc::digest_unsupported;
        return answer;
    }
    std::string qop;
    const auto offered = [&](std::string_view option) {
        return std::find(challenge.qop.begin(), challenge.qop.end(), option) != challenge.qop.end();
    };
    if (offered("auth")) {
        qop = "auth";
    } else if (offered("auth-int")) {
        qop = "auth-int";
    } else if (!challenge.qop.empty()) {
        ec = errc::digest_unsupported;
        return answer;
    }
    const aka_nonce nonce = aka_nonce::decode(challenge.nonce, ec);
    if (ec) {
        return answer;
    }
    const aka_result result = card.authenticate(nonce.rand, nonce.autn, ec);
    if (ec) {
        return answer;
    }
    core::secret_bytes password;
    if (result.status == aka_status::authenticated) {
        password = aka_digest_password(*algorithm, result.res, result.ik, result.ck, ec);
        if (ec) {
            return answer;
        }
    }
    digest_credentials& credentials = answer.credentials;
    credentials.username = request.username;
    credentials.realm = challenge.realm;
    credentials.nonce = challenge.nonce;
    credentials.uri = std::string(request.request.uri);
    credentials.algorithm = challenge.algorithm;
    credentials.opaque = challenge.opaque;
    if (!qop.empty()) {
        credentials.qop = qop;
        credentials.cnonce = request.cnonce.empty() ? random_hex(16) : request.cnonce;
        credentials.nonce_count = request.nonce_count;
    }
    digest_response_input input;
    input.username = credentials.username;
    input.realm = credentials.realm;
    input.password = password.view();  // empty on a synchronisation failure (RFC 3310 §3.4)
    input.nonce = credentials.nonce;
    input.cnonce = credentials.cnonce ? std::string_view(*credentials.cnonce) : std::string_view();
    input.qop = qop;
    input.nonce_count = request.nonce_count;
    input.method = request.request.method;
    input.uri = credentials.uri;
    input.body = request.request.body;
    credentials.response = compute_digest_response(input, ec);
    if (ec) {
        return answer;
    }
    answer.status = result.status;
    if (result.status == aka_status::synchronisation_failure) {
        credentials.auts = result.auts;
    } else {
        answer.ck = result.ck;
        answer.ik = result.ik;
    }
    ec.clear();
    return answer;
}

}  // namespace imsp2p::pana
