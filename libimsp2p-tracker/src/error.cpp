#include <imsp2p/tracker/error.hpp>

#include <string>

namespace imsp2p::tracker {
namespace {

class tracker_category final : public std::error_category {
  public:
    const char* name() const noexcept override { return "imsp2p.tracker"; }

    std::string message(int value) const override {
        switch (static_cast<errc>(value)) {
            case errc::unknown_torrent:
                return "torrent is not registered with this tracker";
            case errc::torrent_disabled:
                return "torrent has been disabled by the operator";
            case errc::missing_ticket:
                return "announce carries no ticket";
            case errc::bad_announce:
                return "announce request is malformed";
            case errc::bad_udp_packet:
                return "UDP tracker packet is malformed";
            case errc::bad_connection_id:
                return "UDP connection id is invalid or expired";
            case errc::bad_bencode:
                return "bencoded data is malformed";
            case errc::ticket_rejected:
                return "ticket rejected";
            case errc::already_registered:
                return "torrent is already registered";
            case errc::bad_infohash:
                return "infohash must be 20 or 32 bytes (40 or 64 hex digits)";
            case errc::bad_admin_request:
                return "admin request is malformed";
            case errc::admin_unauthorized:
                return "admin request lacks a valid service token";
            case errc::storage_failure:
                return "tracker database could not be read or written";
            case errc::unknown_content:
                return "no content index entry has this DOI";
            case errc::content_withdrawn:
                return "content index entry has been withdrawn";
        }
        return "unknown imsp2p.tracker error " + std::to_string(value);
    }
};

}  // namespace

const std::error_category& error_category() noexcept {
    static const tracker_category instance;
    return instance;
}

std::error_code make_error_code(errc e) noexcept {
    return {static_cast<int>(e), error_category()};
}

}  // namespace imsp2p::tracker
