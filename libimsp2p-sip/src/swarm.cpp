#include <imsp2p/sip/swarm.hpp>

#include <imsp2p/core/encoding.hpp>
#include <imsp2p/core/error.hpp>
#include <imsp2p/sip/error.hpp>

#include "initial_seeding.hpp"

#include <libtorrent/add_torrent_params.hpp>
#include <libtorrent/address.hpp>
#include <libtorrent/alert_types.hpp>
#include <libtorrent/announce_entry.hpp>
#include <libtorrent/error_code.hpp>
#include <libtorrent/ip_filter.hpp>
#include <libtorrent/read_resume_data.hpp>
#include <libtorrent/session.hpp>
#include <libtorrent/settings_pack.hpp>
#include <libtorrent/torrent_handle.hpp>
#include <libtorrent/torrent_info.hpp>
#include <libtorrent/torrent_status.hpp>
#include <libtorrent/write_resume_data.hpp>

#include <algorithm>
#include <atomic>
#include <condition_variable>
#include <fstream>
#include <iterator>
#include <map>
#include <mutex>
#include <stdexcept>
#include <thread>
#include <utility>

namespace imsp2p::sip {
namespace {

namespace fs = std::filesystem;
using namespace std::chrono_literals;

constexpr auto resume_suffix = ".resume";
constexpr auto torrent_suffix = ".torrent";
/** Bound of the blocking waits for libtorrent (resume data, resumed torrents). */
constexpr auto libtorrent_wait_bound = 10s;

std::string id_of(const lt::info_hash_t& hashes) {
    if (hashes.has_v1()) {
        return core::to_hex(core::byte_view(reinterpret_cast<const std::uint8_t*>(hashes.v1.data()),
                                            hashes.v1.size()));
    }
    return core::to_hex(
               core::byte_view(reinterpret_cast<const std::uint8_t*>(hashes.v2.data()), 20))
        .substr(0, 40);
}

bool valid_announce_url(const std::string& url) {
    for (const std::string scheme : {"http://", "https://", "udp://"}) {
        if (url.size() > scheme.size() && url.compare(0, scheme.size(), scheme) == 0) {
            return url.find_first_of(" \t\r\n") == std::string::npos;
        }
    }
    return false;
}

/** Writes a file via a temporary name in the same folder, then renames it. */
bool write_atomically(const fs::path& path, const std::vector<char>& data) {
    const fs::path temporary = path.string() + ".tmp";
    {
        std::ofstream out(temporary, std::ios::binary | std::ios::trunc);
        if (!out) {
            return false;
        }
        out.write(data.data(), static_cast<std::streamsize>(data.size()));
        out.flush();
        if (!out) {
            out.close();
            std::error_code ignored;
            fs::remove(temporary, ignored);
            return false;
        }
    }
    std::error_code ec;
    fs::rename(temporary, path, ec);
    if (ec) {
        fs::remove(temporary, ec);
        return false;
    }
    return true;
}

std::optional<std::vector<char>> read_file(const fs::path& path) {
    std::ifstream in(path, std::ios::binary);
    if (!in) {
        return std::nullopt;
    }
    std::vector<char> data((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
    if (in.bad()) {
        return std::nullopt;
    }
    return data;
}

lt::settings_pack make_settings(const swarm_settings& settings) {
    lt::settings_pack pack;
    pack.set_str(lt::settings_pack::listen_interfaces, settings.listen_interfaces);
    pack.set_str(lt::settings_pack::user_agent, "imsp2p");
    // Private torrents: the tracker is the only way in.
    pack.set_bool(lt::settings_pack::enable_dht, false);
    pack.set_bool(lt::settings_pack::enable_lsd, false);
    pack.set_bool(lt::settings_pack::enable_upnp, false);
    pack.set_bool(lt::settings_pack::enable_natpmp, false);
    // The ticket is in the announce URL's path, which SSRF mitigation refuses for local trackers.
    pack.set_bool(lt::settings_pack::ssrf_mitigation, false);
    // Many clients may share one address (loopback, carrier-grade NAT).
    pack.set_bool(lt::settings_pack::allow_multiple_connections_per_ip, true);
    pack.set_bool(lt::settings_pack::announce_to_all_trackers, true);
    pack.set_bool(lt::settings_pack::announce_to_all_tiers, true);
    // TCP only: rate limits and loopback behave predictably, and operators' networks see one
    // transport.
    pack.set_bool(lt::settings_pack::enable_outgoing_utp, false);
    pack.set_bool(lt::settings_pack::enable_incoming_utp, false);
    pack.set_int(lt::settings_pack::upload_rate_limit, std::max(0, settings.upload_rate_limit));
    pack.set_int(lt::settings_pack::download_rate_limit, std::max(0, settings.download_rate_limit));
    if (settings.upload_slots > 0) {
        pack.set_int(lt::settings_pack::unchoke_slots_limit, settings.upload_slots);
    }
    pack.set_int(lt::settings_pack::stop_tracker_timeout, 1);
    pack.set_int(lt::settings_pack::alert_mask,
                 static_cast<int>(lt::alert_category::status | lt::alert_category::storage |
                                  lt::alert_category::error | lt::alert_category::tracker));
    for (const auto& [name, value] : settings.libtorrent_settings) {
        const int setting = lt::setting_by_name(name);
        const auto bad = [&name = name](const std::string& why) {
            return std::system_error(make_error_code(core::errc::invalid_argument),
                                     "libtorrent setting " + name + ": " + why);
        };
        if (setting < 0) {
            throw bad("unknown name");
        }
        switch (setting & lt::settings_pack::type_mask) {
            case lt::settings_pack::string_type_base:
                pack.set_str(setting, value);
                break;
            case lt::settings_pack::int_type_base: {
                std::size_t used = 0;
                int number = 0;
                try {
                    number = std::stoi(value, &used);
                } catch (const std::exception&) {
                    used = 0;
                }
                if (used == 0 || used != value.size()) {
                    throw bad("not an integer: " + value);
                }
                pack.set_int(setting, number);
                break;
            }
            default:
                if (value != "true" && value != "false" && value != "1" && value != "0") {
                    throw bad("not a boolean: " + value);
                }
                pack.set_bool(setting, value == "true" || value == "1");
                break;
        }
    }
    return pack;
}

/** Puts every IPv4 and IPv6 address in the global peer class only, so rate limits apply. */
lt::ip_filter global_class_only() {
    lt::ip_filter filter;
    const std::uint32_t global = 1u
                                 << static_cast<std::uint32_t>(lt::session::global_peer_class_id);
    filter.add_rule(lt::make_address("0.0.0.0"), lt::make_address("255.255.255.255"), global);
    filter.add_rule(lt::make_address("::"),
                    lt::make_address("ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff"), global);
    return filter;
}

}  // namespace

struct swarm::impl {
    struct entry {
        lt::torrent_handle handle;
        std::string name;
        std::string tracker_error;
        /** Counters of the initial seeding plugin; null without swarm_settings::initial_seeding. */
        std::shared_ptr<detail::initial_seeding_counters> seeding_counters;
    };

    /**
     * Installs the initial seeding plugin on a torrent about to be added, when configured.
     * @return its counters, null when initial seeding is off
     */
    std::shared_ptr<detail::initial_seeding_counters> attach_policy(
        lt::add_torrent_params& params, const lt::torrent_info& info) const {
        if (!settings.initial_seeding) {
            return nullptr;
        }
        auto counters = std::make_shared<detail::initial_seeding_counters>();
        params.extensions.push_back(detail::make_initial_seeding(
            {info.num_pieces(), info.piece_length(), info.total_size()}, counters));
        return counters;
    }

    impl(swarm_settings s, core::logger l) : settings(std::move(s)), log(std::move(l)) {
        if (!settings.state_dir.empty()) {
            std::error_code ec;
            fs::create_directories(settings.state_dir, ec);
            if (ec) {
                throw std::system_error(
                    make_error_code(errc::swarm_storage_failed),
                    "cannot create " + settings.state_dir.string() + ": " + ec.message());
            }
        }
        session = std::make_unique<lt::session>(make_settings(settings));
        session->set_peer_class_filter(global_class_only());
        alert_thread = std::thread([this] { run_alerts(); });
        if (settings.resume_saved && !settings.state_dir.empty()) {
            resume_all();
        }
    }

    ~impl() {
        save_all();
        stopping = true;
        alert_thread.join();
        // The session (and libtorrent's threads) stop when `session` is destroyed.
    }

    impl(const impl&) = delete;
    impl& operator=(const impl&) = delete;

    fs::path state_file(const std::string& id, const char* suffix) const {
        return settings.state_dir / (id + suffix);
    }

    /** Re-adds every torrent of state_dir and waits until libtorrent has loaded its resume data. */
    void resume_all() {
        std::error_code ec;
        std::vector<fs::path> torrents;
        for (const auto& item : fs::directory_iterator(settings.state_dir, ec)) {
            if (item.path().extension() == torrent_suffix) {
                torrents.push_back(item.path());
            }
        }
        std::vector<lt::torrent_handle> added;
        for (const auto& torrent_path : torrents) {
            const std::string id = torrent_path.stem().string();
            const auto torrent_file = read_file(torrent_path);
            const auto resume_file = read_file(state_file(id, resume_suffix));
            if (!torrent_file || !resume_file) {
                log.warning("swarm: skipping unreadable saved torrent",
                            {{"file", torrent_path.string()}});
                continue;
            }
            lt::error_code lt_ec;
            lt::add_torrent_params params = lt::read_resume_data(*resume_file, lt_ec);
            if (lt_ec) {
                log.warning("swarm: skipping bad resume data",
                            {{"id", id}, {"error", lt_ec.message()}});
                continue;
            }
            auto info = std::make_shared<lt::torrent_info>(*torrent_file, lt_ec, lt::from_span);
            if (lt_ec || id_of(info->info_hashes()) != id) {
                log.warning("swarm: skipping bad saved torrent", {{"id", id}});
                continue;
            }
            auto counters = attach_policy(params, *info);
            params.ti = std::move(info);
            params.flags &= ~(lt::torrent_flags::auto_managed | lt::torrent_flags::paused);
            params.flags |= lt::torrent_flags::override_trackers;
            params.max_connections = settings.max_peers_per_torrent;
            lt::torrent_handle handle = session->add_torrent(std::move(params), lt_ec);
            if (lt_ec) {
                log.warning("swarm: cannot resume torrent",
                            {{"id", id}, {"error", lt_ec.message()}});
                continue;
            }
            {
                std::lock_guard lock(mutex);
                torrents_by_id[id] =
                    entry{handle, handle.torrent_file()->name(), {}, std::move(counters)};
            }
            added.push_back(handle);
            log.info("swarm: resumed torrent", {{"id", id}});
        }
        const auto deadline = std::chrono::steady_clock::now() + libtorrent_wait_bound;
        for (const auto& handle : added) {
            while (handle.is_valid() &&
                   handle.status().state == lt::torrent_status::checking_resume_data &&
                   std::chrono::steady_clock::now() < deadline) {
                std::this_thread::sleep_for(10ms);
            }
        }
    }

    void run_alerts() {
        std::vector<lt::alert*> alerts;
        while (!stopping) {
            session->wait_for_alert(100ms);
            session->pop_alerts(&alerts);
            for (lt::alert* alert : alerts) {
                handle_alert(alert);
            }
            changed.notify_all();
        }
    }

    void handle_alert(lt::alert* alert) {
        if (const auto* saved = lt::alert_cast<lt::save_resume_data_alert>(alert)) {
            const std::string id = id_of(saved->handle.info_hashes());
            {
                std::lock_guard lock(mutex);
                // A torrent removed meanwhile keeps no resume data.
                if (torrents_by_id.count(id) != 0 && !settings.state_dir.empty() &&
                    !write_atomically(state_file(id, resume_suffix),
                                      lt::write_resume_data_buf(saved->params))) {
                    log.error("swarm: cannot write resume data", {{"id", id}});
                }
            }
            finish_save();
        } else if (const auto* failed = lt::alert_cast<lt::save_resume_data_failed_alert>(alert)) {
            if (failed->error != lt::errors::resume_data_not_modified) {
                log.warning("swarm: no resume data", {{"error", failed->error.message()}});
            }
            finish_save();
        } else if (const auto* tracker_error = lt::alert_cast<lt::tracker_error_alert>(alert)) {
            std::string reason = tracker_error->failure_reason();
            if (reason.empty()) {
                reason = tracker_error->error.message();
            }
            set_tracker_error(tracker_error->handle, "tracker: " + reason);
            log.warning("swarm: tracker refused the announce", {{"reason", reason}});
        } else if (const auto* state = lt::alert_cast<lt::state_changed_alert>(alert)) {
            if (settings.super_seeding && !settings.initial_seeding &&
                state->state == lt::torrent_status::seeding) {
                state->handle.set_flags(lt::torrent_flags::super_seeding);
            }
        } else if (const auto* reply = lt::alert_cast<lt::tracker_reply_alert>(alert)) {
            set_tracker_error(reply->handle, {});
        } else if (const auto* torrent_error = lt::alert_cast<lt::torrent_error_alert>(alert)) {
            log.error("swarm: torrent failed", {{"error", torrent_error->error.message()},
                                                {"file", torrent_error->filename()}});
        } else if (const auto* listen_failed = lt::alert_cast<lt::listen_failed_alert>(alert)) {
            log.error("swarm: cannot listen", {{"interface", listen_failed->listen_interface()},
                                               {"error", listen_failed->error.message()}});
        }
    }

    void set_tracker_error(const lt::torrent_handle& handle, std::string text) {
        if (!handle.is_valid()) {
            return;
        }
        const std::string id = id_of(handle.info_hashes());
        std::lock_guard lock(mutex);
        const auto found = torrents_by_id.find(id);
        if (found != torrents_by_id.end()) {
            found->second.tracker_error = std::move(text);
        }
    }

    void finish_save() {
        std::lock_guard lock(mutex);
        if (pending_saves > 0) {
            --pending_saves;
        }
        changed.notify_all();
    }

    /** Asks libtorrent for the resume data of one torrent (written by the alert thread). */
    void request_save(const lt::torrent_handle& handle) {
        {
            std::lock_guard lock(mutex);
            ++pending_saves;
        }
        handle.save_resume_data(lt::torrent_handle::flush_disk_cache);
    }

    void save_all() {
        std::vector<lt::torrent_handle> handles;
        {
            std::lock_guard lock(mutex);
            for (const auto& [id, item] : torrents_by_id) {
                handles.push_back(item.handle);
            }
        }
        for (const auto& handle : handles) {
            request_save(handle);
        }
        std::unique_lock lock(mutex);
        changed.wait_for(lock, libtorrent_wait_bound, [this] { return pending_saves == 0; });
    }

    /** @return the snapshot, and whether the torrent stopped with a storage error */
    std::optional<std::pair<transfer_progress, bool>> snapshot(const std::string& id) const {
        lt::torrent_handle handle;
        transfer_progress progress;
        std::shared_ptr<detail::initial_seeding_counters> counters;
        {
            std::lock_guard lock(mutex);
            const auto found = torrents_by_id.find(id);
            if (found == torrents_by_id.end()) {
                return std::nullopt;
            }
            handle = found->second.handle;
            progress.name = found->second.name;
            progress.error = found->second.tracker_error;
            counters = found->second.seeding_counters;
        }
        if (counters) {
            progress.initial_seeding_rejects = counters->rejected_requests.load();
            progress.initial_seeding_suggestions = counters->suggested_pieces.load();
            progress.initial_seeding_pieces_given = counters->pieces_given.load();
        }
        if (!handle.is_valid()) {
            return std::nullopt;
        }
        const lt::torrent_status status = handle.status();
        progress.id = id;
        progress.total_bytes =
            static_cast<std::uint64_t>(std::max<std::int64_t>(0, status.total_wanted));
        progress.done_bytes =
            static_cast<std::uint64_t>(std::max<std::int64_t>(0, status.total_wanted_done));
        progress.uploaded_bytes =
            static_cast<std::uint64_t>(std::max<std::int64_t>(0, status.total_payload_upload));
        progress.downloaded_bytes =
            static_cast<std::uint64_t>(std::max<std::int64_t>(0, status.total_payload_download));
        progress.download_rate = status.download_payload_rate;
        progress.upload_rate = status.upload_payload_rate;
        progress.peers = status.num_peers;
        progress.complete = status.is_seeding;
        progress.checking = status.state == lt::torrent_status::checking_resume_data ||
                            status.state == lt::torrent_status::checking_files;
        const bool failed = static_cast<bool>(status.errc);
        if (failed) {
            progress.error = status.errc.message();
        }
        return std::make_pair(std::move(progress), failed);
    }

    swarm_settings settings;
    core::logger log;
    std::unique_ptr<lt::session> session;
    mutable std::mutex mutex;
    std::condition_variable changed;
    std::map<std::string, entry> torrents_by_id;
    int pending_saves = 0;
    std::atomic<bool> stopping{false};
    std::thread alert_thread;
};

swarm::swarm(swarm_settings settings, core::logger log)
    : impl_(std::make_unique<impl>(std::move(settings), std::move(log))) {}

swarm::~swarm() = default;

std::string swarm::add(core::byte_view torrent_file, const fs::path& save_dir,
                       const std::string& announce_url, std::error_code& ec) {
    ec.clear();
    lt::error_code lt_ec;
    auto info = std::make_shared<lt::torrent_info>(
        lt::span<const char>(reinterpret_cast<const char*>(torrent_file.data()),
                             static_cast<std::ptrdiff_t>(torrent_file.size())),
        lt_ec, lt::from_span);
    if (lt_ec) {
        impl_->log.warning("swarm: bad torrent file", {{"error", lt_ec.message()}});
        ec = errc::swarm_bad_torrent;
        return {};
    }
    if (!info->priv()) {
        ec = errc::swarm_torrent_not_private;
        return {};
    }
    if (!valid_announce_url(announce_url)) {
        ec = errc::swarm_bad_announce_url;
        return {};
    }
    const std::string id = id_of(info->info_hashes());
    bool known = false;
    {
        std::lock_guard lock(impl_->mutex);
        known = impl_->torrents_by_id.count(id) != 0;
    }
    if (known) {
        // Idempotent: only the announce URL changes.
        set_announce_url(id, announce_url);
        return id;
    }

    std::error_code fs_ec;
    fs::create_directories(save_dir, fs_ec);
    const fs::path folder = fs::absolute(save_dir, fs_ec);
    if (fs_ec) {
        impl_->log.warning("swarm: cannot create the save folder",
                           {{"folder", save_dir.string()}, {"error", fs_ec.message()}});
        ec = errc::swarm_storage_failed;
        return {};
    }

    lt::add_torrent_params params;
    auto counters = impl_->attach_policy(params, *info);
    params.ti = info;
    params.save_path = folder.string();
    params.trackers = {announce_url};
    params.flags &= ~(lt::torrent_flags::auto_managed | lt::torrent_flags::paused);
    params.flags |= lt::torrent_flags::override_trackers;
    params.max_connections = impl_->settings.max_peers_per_torrent;

    std::lock_guard lock(impl_->mutex);
    if (impl_->torrents_by_id.count(id) != 0) {
        // Another thread added it meanwhile.
        impl_->torrents_by_id[id].handle.replace_trackers({lt::announce_entry(announce_url)});
        return id;
    }
    if (!impl_->settings.state_dir.empty()) {
        const std::vector<char> torrent_bytes(torrent_file.begin(), torrent_file.end());
        if (!write_atomically(impl_->state_file(id, torrent_suffix), torrent_bytes) ||
            !write_atomically(impl_->state_file(id, resume_suffix),
                              lt::write_resume_data_buf(params))) {
            std::error_code ignored;
            fs::remove(impl_->state_file(id, torrent_suffix), ignored);
            impl_->log.warning("swarm: cannot persist the torrent",
                               {{"state_dir", impl_->settings.state_dir.string()}});
            ec = errc::swarm_storage_failed;
            return {};
        }
    }
    lt::torrent_handle handle = impl_->session->add_torrent(std::move(params), lt_ec);
    if (lt_ec) {
        std::error_code ignored;
        fs::remove(impl_->state_file(id, torrent_suffix), ignored);
        fs::remove(impl_->state_file(id, resume_suffix), ignored);
        impl_->log.warning("swarm: libtorrent refused the torrent", {{"error", lt_ec.message()}});
        ec = errc::swarm_bad_torrent;
        return {};
    }
    impl_->torrents_by_id[id] = impl::entry{handle, info->name(), {}, std::move(counters)};
    impl_->log.info("swarm: added torrent",
                    {{"id", id}, {"name", info->name()}, {"folder", folder.string()}});
    return id;
}

std::string swarm::add(core::byte_view torrent_file, const fs::path& save_dir,
                       const std::string& announce_url) {
    std::error_code ec;
    std::string id = add(torrent_file, save_dir, announce_url, ec);
    if (ec) {
        throw std::system_error(ec, "swarm add");
    }
    return id;
}

std::optional<transfer_progress> swarm::progress(const std::string& id) const {
    auto found = impl_->snapshot(id);
    if (!found) {
        return std::nullopt;
    }
    return std::move(found->first);
}

std::vector<transfer_progress> swarm::all() const {
    std::vector<std::string> ids;
    {
        std::lock_guard lock(impl_->mutex);
        for (const auto& [id, item] : impl_->torrents_by_id) {
            ids.push_back(id);
        }
    }
    std::vector<transfer_progress> result;
    for (const auto& id : ids) {
        if (auto found = impl_->snapshot(id)) {
            result.push_back(std::move(found->first));
        }
    }
    return result;
}

bool swarm::wait_complete(const std::string& id, std::chrono::milliseconds timeout,
                          const std::function<void(const transfer_progress&)>& on_progress,
                          std::error_code& ec, std::chrono::milliseconds progress_interval) {
    ec.clear();
    const auto start = std::chrono::steady_clock::now();
    const auto deadline = start + timeout;
    const auto interval = std::max(progress_interval, std::chrono::milliseconds(1));
    auto next_report = start + interval;
    for (;;) {
        const auto found = impl_->snapshot(id);
        if (!found) {
            ec = errc::swarm_unknown_torrent;
            return false;
        }
        const auto& [progress, failed] = *found;
        const auto now = std::chrono::steady_clock::now();
        if (progress.complete) {
            if (on_progress) {
                on_progress(progress);
            }
            return true;
        }
        if (failed) {
            ec = errc::swarm_transfer_failed;
            return false;
        }
        if (now >= deadline) {
            ec = std::make_error_code(std::errc::timed_out);
            return false;
        }
        if (now >= next_report) {
            if (on_progress) {
                on_progress(progress);
            }
            while (next_report <= now) {
                next_report += interval;
            }
        }
        const auto wake = std::min({deadline, next_report, now + std::chrono::milliseconds(100)});
        std::unique_lock lock(impl_->mutex);
        impl_->changed.wait_until(lock, wake);
    }
}

void swarm::set_announce_url(const std::string& id, const std::string& announce_url) {
    if (!valid_announce_url(announce_url)) {
        impl_->log.warning("swarm: ignoring a bad announce URL", {{"id", id}});
        return;
    }
    lt::torrent_handle handle;
    {
        std::lock_guard lock(impl_->mutex);
        const auto found = impl_->torrents_by_id.find(id);
        if (found == impl_->torrents_by_id.end()) {
            return;
        }
        handle = found->second.handle;
    }
    handle.replace_trackers({lt::announce_entry(announce_url)});
    handle.force_reannounce(0, -1, lt::torrent_handle::ignore_min_interval);
    impl_->request_save(handle);
}

void swarm::remove(const std::string& id, std::error_code& ec) {
    ec.clear();
    lt::torrent_handle handle;
    {
        std::lock_guard lock(impl_->mutex);
        const auto found = impl_->torrents_by_id.find(id);
        if (found == impl_->torrents_by_id.end()) {
            ec = errc::swarm_unknown_torrent;
            return;
        }
        handle = found->second.handle;
        impl_->torrents_by_id.erase(found);
        if (!impl_->settings.state_dir.empty()) {
            std::error_code ignored;
            fs::remove(impl_->state_file(id, resume_suffix), ignored);
            fs::remove(impl_->state_file(id, torrent_suffix), ignored);
        }
    }
    impl_->session->remove_torrent(handle);
    impl_->log.info("swarm: removed torrent", {{"id", id}});
}

void swarm::save_resume_data() {
    impl_->save_all();
}

std::uint16_t swarm::listen_port() const {
    return impl_->session->listen_port();
}

}  // namespace imsp2p::sip
