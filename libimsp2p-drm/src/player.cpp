#include <imsp2p/drm/player.hpp>

#include <imsp2p/core/error.hpp>
#include <imsp2p/drm/error.hpp>

#include <algorithm>
#include <utility>

namespace imsp2p::drm {

// --- playback ----------------------------------------------------------------------------------

struct playback::impl {
    container_reader reader;
    license_claims claims;
    usage_record record;
};

playback::playback() noexcept = default;
playback::playback(playback&& other) noexcept = default;
playback& playback::operator=(playback&& other) noexcept = default;
playback::~playback() = default;

bool playback::is_open() const noexcept {
    return impl_ != nullptr && impl_->reader.is_open();
}

const container_header& playback::header() const noexcept {
    static const container_header closed;
    return impl_ ? impl_->reader.header() : closed;
}

const license_claims& playback::license() const noexcept {
    static const license_claims closed;
    return impl_ ? impl_->claims : closed;
}

const usage_record& playback::usage() const noexcept {
    static const usage_record closed;
    return impl_ ? impl_->record : closed;
}

std::uint64_t playback::segment_count() const noexcept {
    return is_open() ? impl_->reader.header().segment_count() : 0;
}

std::size_t playback::decrypt_segment(std::uint64_t index, core::mutable_byte_view plaintext_out,
                                      std::error_code& ec) {
    ec.clear();
    if (!is_open()) {
        ec = core::errc::invalid_argument;
        return 0;
    }
    return impl_->reader.decrypt_segment(index, plaintext_out, ec);
}

core::secret_bytes playback::decrypt_segment(std::uint64_t index, std::error_code& ec) {
    ec.clear();
    if (!is_open()) {
        ec = core::errc::invalid_argument;
        return {};
    }
    if (index >= segment_count()) {
        ec = errc::segment_out_of_range;
        return {};
    }
    core::secret_bytes buffer(static_cast<std::size_t>(header().chunk_size()));
    const std::size_t size = impl_->reader.decrypt_segment(index, buffer.mutable_view(), ec);
    if (ec)
        return {};
    return core::secret_bytes(buffer.view().first(size));
}

void playback::decrypt_to(std::ostream& out, std::error_code& ec,
                          const progress_callback& progress) {
    ec.clear();
    if (!is_open()) {
        ec = core::errc::invalid_argument;
        return;
    }
    impl_->reader.decrypt_to(out, ec, progress);
}

void playback::decrypt_to_file(const std::filesystem::path& path, std::error_code& ec,
                               const progress_callback& progress) {
    ec.clear();
    if (!is_open()) {
        ec = core::errc::invalid_argument;
        return;
    }
    impl_->reader.decrypt_to_file(path, ec, progress);
}

// --- player ------------------------------------------------------------------------------------

struct player::impl {
    license_verifier verifier;
    core::x25519_private_key device_key;
    std::string device_thumbprint;
    usage_store usage;
};

player::player() noexcept = default;
player::player(player&& other) noexcept = default;
player& player::operator=(player&& other) noexcept = default;
player::~player() = default;

player player::create(player_settings settings, std::error_code& ec) {
    ec.clear();
    player result;
    if (settings.device_key.empty()) {
        ec = core::errc::bad_key;
        return result;
    }
    auto state = std::make_unique<impl>();
    state->verifier.add_keys(settings.drm_keys);
    state->verifier.set_expected_issuer(settings.expected_issuer);
    state->verifier.set_leeway(settings.leeway);
    state->device_thumbprint = core::jwk(settings.device_key.public_key()).thumbprint();
    state->device_key = std::move(settings.device_key);
    state->usage = usage_store::open(settings.usage_store_path, settings.usage, ec);
    if (ec)
        return result;
    result.impl_ = std::move(state);
    return result;
}

player player::create(player_settings settings) {
    std::error_code ec;
    const std::filesystem::path path = settings.usage_store_path;
    player result = create(std::move(settings), ec);
    if (ec)
        throw std::system_error(ec, "cannot set up the player (usage store " + path.string() + ")");
    return result;
}

std::string player::device_thumbprint() const {
    return impl_ ? impl_->device_thumbprint : std::string();
}

playback player::open(const std::filesystem::path& container, std::string_view license,
                      std::chrono::system_clock::time_point now, std::error_code& ec,
                      std::string_view expected_doi) {
    ec.clear();
    if (!impl_) {
        ec = core::errc::invalid_argument;
        return {};
    }
    auto state = std::make_unique<playback::impl>();
    state->reader = container_reader::open(container, ec);
    if (ec)
        return {};
    verified_license verified = impl_->verifier.verify(license, impl_->device_key, now, ec);
    if (ec)
        return {};
    check_license_matches(verified.claims, expected_doi, state->reader.header().kid, ec);
    if (ec)
        return {};
    state->reader.set_key(verified.cek.view(), &verified.claims.kid, ec);
    if (ec)
        return {};
    {
        // Prove the key opens this container before a play is counted.
        core::secret_bytes probe(static_cast<std::size_t>(state->reader.header().chunk_size()));
        state->reader.decrypt_segment(0, probe.mutable_view(), ec);
        if (ec)
            return {};
    }
    state->record = impl_->usage.begin_play(verified.claims, now, ec);
    if (ec)
        return {};
    state->claims = std::move(verified.claims);
    playback result;
    result.impl_ = std::move(state);
    return result;
}

playback player::open(const std::filesystem::path& container, std::string_view license,
                      std::chrono::system_clock::time_point now, std::string_view expected_doi) {
    std::error_code ec;
    playback result = open(container, license, now, ec, expected_doi);
    if (ec)
        throw std::system_error(ec, container.string());
    return result;
}

bool player::record_refusal(std::string_view doi, const std::error_code& refusal,
                            std::chrono::system_clock::time_point now, std::error_code& ec) {
    ec.clear();
    if (!impl_) {
        ec = core::errc::invalid_argument;
        return false;
    }
    if (refusal != errc::grant_revoked)
        return false;
    impl_->usage.mark_revoked(doi, impl_->device_thumbprint, now, ec);
    return !ec;
}

std::optional<usage_record> player::usage(std::string_view doi, std::error_code& ec) {
    ec.clear();
    if (!impl_) {
        ec = core::errc::invalid_argument;
        return std::nullopt;
    }
    return impl_->usage.find(doi, impl_->device_thumbprint, ec);
}

}  // namespace imsp2p::drm
