// Helpers for the content service tests: the real servers the AS controls (two trackers, the DRM
// server, the content index) running in-process on 127.0.0.1 with ephemeral ports, packaged
// content, and SIP request builders.
#pragma once

#include <imsp2p/sip/bodies.hpp>
#include <imsp2p/sip/content_service.hpp>
#include <imsp2p/sip/message.hpp>

#include <imsp2p/core/crypto.hpp>
#include <imsp2p/core/encoding.hpp>
#include <imsp2p/core/jose.hpp>
#include <imsp2p/core/ticket.hpp>
#include <imsp2p/drm/drm_server.hpp>
#include <imsp2p/drm/drm_service.hpp>
#include <imsp2p/drm/packager.hpp>
#include <imsp2p/tracker/content_index.hpp>
#include <imsp2p/tracker/index_server.hpp>
#include <imsp2p/tracker/tracker_server.hpp>
#include <imsp2p/tracker/tracker_service.hpp>

#include <chrono>
#include <filesystem>
#include <fstream>
#include <memory>
#include <string>
#include <thread>
#include <vector>

namespace as_test {

namespace core = imsp2p::core;
namespace sip = imsp2p::sip;
namespace fs = std::filesystem;

/** A fresh temporary directory, removed at destruction. */
class temp_dir {
  public:
    temp_dir() {
        path_ = fs::temp_directory_path() / ("imsp2p-as-" + core::to_hex(core::random_bytes(8)));
        fs::create_directories(path_);
    }
    ~temp_dir() {
        std::error_code ignored;
        fs::remove_all(path_, ignored);
    }
    temp_dir(const temp_dir&) = delete;
    temp_dir& operator=(const temp_dir&) = delete;
    [[nodiscard]] const fs::path& path() const { return path_; }

  private:
    fs::path path_;
};

/** A tracker (service + HTTP server on its own thread). */
struct running_tracker {
    std::unique_ptr<imsp2p::tracker::tracker_service> service;
    std::unique_ptr<imsp2p::tracker::tracker_server> server;
    std::thread thread;

    running_tracker(const core::jwk_set& as_keys) {
        imsp2p::tracker::tracker_settings settings;
        settings.as_keys = as_keys;
        service = imsp2p::tracker::tracker_service::open(settings);
        imsp2p::tracker::server_settings http;
        http.port = 0;
        server = std::make_unique<imsp2p::tracker::tracker_server>(*service, http,
                                                                   core::logger("tracker.test"));
        server->start();
        thread = std::thread([this] { server->run(); });
    }
    ~running_tracker() {
        server->stop();
        thread.join();
    }
    running_tracker(const running_tracker&) = delete;
    running_tracker& operator=(const running_tracker&) = delete;

    [[nodiscard]] std::string base() const {
        return "http://127.0.0.1:" + std::to_string(server->port());
    }
    /** The registered state of a torrent ("" if not registered). */
    [[nodiscard]] std::string state_of(const std::string& infohash_v1_hex) const {
        const auto stats = service->stats(core::to_string(core::from_hex(infohash_v1_hex)),
                                          std::chrono::system_clock::now());
        return stats ? std::string(imsp2p::tracker::to_string(stats->torrent.state)) : "";
    }
};

/** The DRM server (service + HTTP server on its own thread); restartable on the same port. */
struct running_drm {
    std::unique_ptr<imsp2p::drm::drm_service> service;
    std::unique_ptr<imsp2p::drm::drm_server> server;
    std::thread thread;
    std::uint16_t port = 0;

    running_drm(const fs::path& dir, const core::jwk_set& as_keys) {
        imsp2p::drm::drm_service_settings settings;
        settings.data_dir = dir;
        settings.as_keys = as_keys;
        service = imsp2p::drm::drm_service::open(settings);
        start();
    }
    ~running_drm() { stop(); }
    running_drm(const running_drm&) = delete;
    running_drm& operator=(const running_drm&) = delete;

    void start() {
        imsp2p::drm::drm_server_settings http;
        http.port = port;
        server =
            std::make_unique<imsp2p::drm::drm_server>(*service, http, core::logger("drm.test"));
        server->start();
        port = server->port();
        thread = std::thread([this] { server->run(); });
    }
    void stop() {
        if (server) {
            server->stop();
            thread.join();
            server.reset();
        }
    }
    [[nodiscard]] std::string base() const { return "http://127.0.0.1:" + std::to_string(port); }
};

/** The content index (store + HTTP server on its own thread). */
struct running_index {
    std::unique_ptr<imsp2p::tracker::content_index> index;
    std::unique_ptr<imsp2p::tracker::index_server> server;
    std::thread thread;

    running_index(const fs::path& file, const core::jwk_set& as_keys) {
        index = imsp2p::tracker::content_index::open(file);
        imsp2p::tracker::index_server_settings http;
        http.port = 0;
        server = std::make_unique<imsp2p::tracker::index_server>(
            *index, core::ticket_verifier("index", as_keys), http, core::logger("index.test"));
        server->start();
        thread = std::thread([this] { server->run(); });
    }
    ~running_index() {
        server->stop();
        thread.join();
    }
    running_index(const running_index&) = delete;
    running_index& operator=(const running_index&) = delete;

    [[nodiscard]] std::string base() const {
        return "http://127.0.0.1:" + std::to_string(server->port());
    }
};

/** A packaged content item: its torrent, and its key as a JWE to the DRM server. */
struct packaged_content {
    core::byte_vector torrent;
    std::string kid;
    std::string cek_jwe;
    std::string infohash_v1;
    std::string infohash_v2;
};

inline packaged_content package(const fs::path& dir, const std::string& name,
                                const core::jwk& drm_encryption_key, std::size_t size = 70000) {
    const fs::path input = dir / (name + ".bin");
    {
        std::ofstream out(input, std::ios::binary);
        const auto bytes = core::random_bytes(size);
        out.write(reinterpret_cast<const char*>(bytes.data()),
                  static_cast<std::streamsize>(bytes.size()));
    }
    imsp2p::drm::package_options options;
    options.content_type = "video/mp4";
    options.threads = 1;
    const auto result =
        imsp2p::drm::package_file(input, dir / (name + ".ipc"), dir / (name + ".torrent"), options);
    packaged_content out;
    std::ifstream in(result.torrent_path, std::ios::binary);
    out.torrent.assign(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
    out.kid = core::to_hex(result.kid);
    out.cek_jwe = core::jwe_encrypt(result.cek.view(), drm_encryption_key.x25519_public());
    out.infohash_v1 = result.infohash_v1;
    out.infohash_v2 = result.infohash_v2;
    return out;
}

/** The address of the trusted S-CSCF in the tests. */
inline constexpr const char* scscf_address = "10.0.0.1";
/** The content PSI in the tests. */
inline constexpr const char* content_psi = "sip:content@op.example";

/** A request as the trusted S-CSCF would relay it. */
inline sip::incoming_request request(std::string method, std::string user, std::string body = {},
                                     std::string content_type = {}, std::string event = {}) {
    sip::incoming_request out;
    out.method = std::move(method);
    out.request_uri = content_psi;
    out.from_uri = user;
    out.from_tag = "ft-" + core::to_hex(core::random_bytes(4));
    out.to_uri = content_psi;
    out.call_id = core::to_hex(core::random_bytes(8)) + "@ue";
    out.cseq = 1;
    out.event = event;
    out.content_type = std::move(content_type);
    out.body = std::move(body);
    out.asserted_identity = "<" + user + ">";
    out.source_address = scscf_address;
    out.source_port = 5060;
    out.via_transport = sip::transport::tcp;
    if (!event.empty()) {
        out.headers.push_back({"Event", event});
    }
    return out;
}

/** The value of a header of an outgoing message ("" if absent). */
template <class Message>
std::string header_of(const Message& message, std::string_view name) {
    for (const auto& field : message.headers) {
        if (field.name == name) {
            return field.value;
        }
    }
    return {};
}

/** A device key pair. */
struct device {
    core::x25519_private_key key = core::x25519_private_key::generate();
    [[nodiscard]] core::jwk public_jwk() const { return core::jwk(key.public_key()); }
};

/** An acquire body. */
inline std::string acquire_body(const std::string& doi, const device& dev,
                                const std::string& request_id) {
    sip::acquire_request body;
    body.doi = core::doi::parse(doi);
    body.device_key = dev.public_jwk();
    body.request_id = request_id;
    return body.serialize();
}

/** A publish body for packaged content. */
inline std::string publish_body(const packaged_content& content, std::string title,
                                std::optional<std::string> proposed_doi = std::nullopt,
                                std::optional<std::string> genre = std::nullopt,
                                std::int64_t price = 199) {
    sip::publish_request body;
    body.metadata.title = std::move(title);
    body.metadata.description = "A test item";
    body.metadata.content_type = "video/mp4";
    body.metadata.genre = std::move(genre);
    body.metadata.price = {price, "EUR"};
    body.metadata.size_bytes = 70000;
    if (proposed_doi) {
        body.metadata.doi = core::doi::parse(*proposed_doi);
    }
    body.torrent = content.torrent;
    body.cek = content.cek_jwe;
    body.kid = content.kid;
    return body.serialize();
}

}  // namespace as_test
