// Test fixtures for the content index: records with matching .torrent files, service JWTs and
// a blocking HTTP/1.1 exchange on loopback (Beast). Header-only; used by the tracker unit tests
// and the content index integration tests.
#pragma once

#include <imsp2p/tracker/bencode.hpp>

#include <imsp2p/core/bytes.hpp>
#include <imsp2p/core/content.hpp>
#include <imsp2p/core/crypto.hpp>
#include <imsp2p/core/encoding.hpp>
#include <imsp2p/core/identity.hpp>
#include <imsp2p/core/ticket.hpp>

#include <boost/asio/connect.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>

#include <nlohmann/json.hpp>

#include <chrono>
#include <cstdint>
#include <optional>
#include <string>
#include <utility>

namespace imsp2p_test {

/** A record plus its .torrent, whose info dictionary hashes to the record's infohashes. */
struct index_fixture {
    imsp2p::core::content_record record;
    std::string torrent;
};

/**
 * Builds a hybrid-looking (v1 "pieces" + "meta version" 2) torrent and a valid record for it.
 * @param doi the DOI text, @param title the title, @param seed makes the infohash unique
 */
inline index_fixture make_index_fixture(const std::string& doi, const std::string& title,
                                        const std::string& seed,
                                        std::optional<std::string> genre = std::nullopt,
                                        std::optional<std::string> series = std::nullopt) {
    namespace core = imsp2p::core;
    namespace tracker = imsp2p::tracker;
    tracker::bencode_dict info;
    info["name"] = std::string(seed + ".ipc");
    info["length"] = std::int64_t{1'572'864};
    info["piece length"] = std::int64_t{262'144};
    info["pieces"] = std::string(20 * 6, 'x');
    info["meta version"] = std::int64_t{2};
    info["private"] = std::int64_t{1};
    tracker::bencode_dict meta;
    meta["announce"] = "http://127.0.0.1:6969/announce";
    meta["info"] = tracker::bencode_value(info);
    const std::string info_bytes = tracker::bencode(tracker::bencode_value(info));
    index_fixture out;
    out.torrent = tracker::bencode(tracker::bencode_value(meta));
    core::content_record& r = out.record;
    r.doi = core::doi::parse(doi);
    r.publisher = core::impu::parse("sip:publisher@ims.example");
    r.title = title;
    r.description = "About " + seed + ".\nSecond line.";
    r.content_type = "video/mp4";
    r.genre = std::move(genre);
    r.series = std::move(series);
    r.size_bytes = 1'572'864;
    r.price = {199, "EUR"};
    r.infohash_v1 = core::to_hex(core::sha1(core::as_bytes(info_bytes)));
    r.infohash_v2 = core::to_hex(core::sha256(core::as_bytes(info_bytes)));
    r.kid = std::string(32, 'a');
    r.created_at = std::chrono::system_clock::time_point(std::chrono::seconds(1'790'000'000));
    return out;
}

/** The JSON body of PUT /admin/entries/<doi>. */
inline std::string index_put_body(const index_fixture& fixture, const std::string& purchase_uri) {
    nlohmann::json body = {
        {"record", fixture.record.to_json()},
        {"torrent", imsp2p::core::base64_encode(imsp2p::core::as_bytes(fixture.torrent))}};
    if (!purchase_uri.empty()) {
        body["purchase_uri"] = purchase_uri;
    }
    return body.dump();
}

/** Issues a service JWT for the index (aud "index", role "service" unless overridden). */
inline std::string index_service_token(
    const imsp2p::core::ticket_issuer& issuer, std::string audience = "index",
    std::optional<imsp2p::core::ticket_role> role = imsp2p::core::ticket_role::service) {
    imsp2p::core::ticket_claims claims;
    claims.subject = "sip:as.ims.example";
    claims.audience = std::move(audience);
    claims.issued_at =
        std::chrono::time_point_cast<std::chrono::seconds>(std::chrono::system_clock::now());
    claims.expires_at = claims.issued_at + std::chrono::seconds(300);
    claims.role = role;
    return issuer.issue(claims);
}

/** One blocking HTTP/1.1 exchange with 127.0.0.1:port. */
inline boost::beast::http::response<boost::beast::http::string_body> http_exchange(
    std::uint16_t port, boost::beast::http::verb method, const std::string& target,
    const std::string& token = "", const std::string& body = "") {
    namespace net = boost::asio;
    namespace beast = boost::beast;
    namespace http = beast::http;
    net::io_context io;
    beast::tcp_stream stream(io);
    stream.connect(net::ip::tcp::endpoint(net::ip::make_address("127.0.0.1"), port));
    http::request<http::string_body> request{method, target, 11};
    request.set(http::field::host, "127.0.0.1");
    if (!token.empty()) {
        request.set(http::field::authorization, "Bearer " + token);
    }
    if (!body.empty()) {
        request.set(http::field::content_type, "application/json");
        request.body() = body;
    }
    request.prepare_payload();
    http::write(stream, request);
    beast::flat_buffer buffer;
    http::response_parser<http::string_body> parser;
    parser.body_limit(64u << 20);
    http::read(stream, buffer, parser);
    beast::error_code ignored;
    stream.socket().shutdown(net::ip::tcp::socket::shutdown_both, ignored);
    return parser.release();
}

}  // namespace imsp2p_test
