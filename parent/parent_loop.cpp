#include "parent/parent_loop.hpp"

#include <unistd.h>

#include <csignal>

#include "common/log.hpp"
#include "parent/systemd.hpp"

namespace proxy {

void Parent::command_all(unsigned commands) {
    for (auto& shard : shards) shard->command(commands);
}

void Parent::stop(int status) {
    if (stopping) return;
    stopping = true;
    exit_status = status;
    systemd_notify("STOPPING=1");
    LOG_INFO("stopping: draining open streams (up to %us)", options.shutdown_timeout_s);
    command_all(UpstreamShard::kStop);
    on_progress();
}

void Parent::on_progress() {
    if (!stopping) return;
    bool acked = true, drained = true;
    for (auto& shard : shards) {
        acked = acked && shard->stop_acknowledged();
        drained = drained && shard->drained();
    }
    // Workers close their copies as they drain; once ours is gone too,
    // new connections are refused instead of waiting in the backlog.
    // Not before every supervisor has stopped respawning (it would hand
    // a new worker a closed descriptor).
    if (acked && listen_fd) {
        listen_fd.reset();
        unix_fd.reset();
        if (!options.listen_unix.empty()) ::unlink(options.listen_unix.c_str());
    }
    if (!drained) return;
    for (auto& shard : shards) {
        if (shard->threaded()) shard->command(UpstreamShard::kExit);
    }
    event_base_loopexit(base.get(), nullptr);
}

void Parent::on_note(unsigned bits) {
    if (bits & UpstreamShard::kWantStopFailed) stop(exit_code::runtime);
    if (bits & UpstreamShard::kWantStopOk) stop(exit_code::ok);
    if (bits & UpstreamShard::kProgress) on_progress();
    if (bits & UpstreamShard::kReloaded) on_reloaded();
}

void Parent::on_reloaded() {
    if (!reload_pending) return;
    for (auto& shard : shards) {
        if (shard->reloads() != reloads) return;
    }
    reload_pending = false;
    if (stopping) return;  // STOPPING=1 was said; READY=1 would take it back
    LOG_INFO("reload: done");
    systemd_notify("READY=1");
}

void Parent::on_signal(evutil_socket_t sig, short, void* arg) noexcept {
    auto* self = static_cast<Parent*>(arg);
    switch (sig) {
        case SIGTERM:
        case SIGINT:
            self->stop(exit_code::ok);
            break;
        case SIGHUP:
            systemd_notify(systemd_reloading_state());
            self->key_rotation.on_sighup();
            self->access->reload();
            self->reload_pending = true;
            if (!self->stopping) {
                ++self->reloads;
                for (auto& shard : self->shards) shard->ask_reload(self->reloads);
            }
            self->on_reloaded();  // shard 0 reloads at once; the others post kReloaded
            break;
        case SIGCHLD:
            self->command_all(UpstreamShard::kChildExit);
            break;
        default:
            break;
    }
}

void Parent::on_watchdog(evutil_socket_t, short, void* arg) noexcept {
    auto* self = static_cast<Parent*>(arg);
    bool all = true;
    for (auto& shard : self->shards) {
        if (shard->threaded() && shard->pongs() != self->pings) {
            LOG_WARN("upstream thread %u does not answer: no WATCHDOG=1", shard->index());
            all = false;
        }
    }
    if (!all) return;
    systemd_notify("WATCHDOG=1");
    ++self->pings;
    for (auto& shard : self->shards) {
        if (shard->threaded()) shard->command(UpstreamShard::kPing);
    }
}

void Parent::start_watchdog() {
    const std::uint64_t period = systemd_watchdog_period_usec();
    if (period == 0) return;
    watchdog.reset(event_new(base.get(), -1, EV_PERSIST, &Parent::on_watchdog, this));
    const timeval tv{static_cast<time_t>(period / 1000000),
                     static_cast<suseconds_t>(period % 1000000)};
    if (!watchdog || event_add(watchdog.get(), &tv) != 0) {
        LOG_WARN("systemd: cannot schedule watchdog notifications");
        return;
    }
    LOG_DEBUG("systemd: WATCHDOG=1 every %llu ms", static_cast<unsigned long long>(period / 1000));
}

}  // namespace proxy
