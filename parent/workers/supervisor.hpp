// Starts, watches and replaces workers (nginx master style). Signal handlers
// only set events; the loop calls in here.
#pragma once

#include <sys/types.h>

#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "common/event_ptr.hpp"
#include "common/idle_trim.hpp"
#include "common/options.hpp"
#include "common/result.hpp"
#include "common/unique_fd.hpp"
#include "parent/upstream/upstream_exchange.hpp"
#include "parent/workers/worker_link.hpp"

namespace proxy {

class Supervisor {
  public:
    // unix_fd: the --listen-unix listener, or -1. worker_ids: the workers
    // this supervisor starts (with upstream threads, each thread's share).
    Supervisor(event_base* base, UpstreamEnv& env, int listen_fd, int unix_fd, int exe_fd,
               std::vector<unsigned> worker_ids);
    ~Supervisor();

    Result<void> start_all();
    void on_child_exit();  // SIGCHLD: reap our own workers (by pid) and respawn
    void reload();         // SIGHUP: new workers, old ones drain
    // Stop: workers drain up to --shutdown-timeout, then `done` runs.
    void begin_shutdown(std::function<void()> done);
    void request_shutdown();  // GET /shutdown via a worker
    // Called when the proxy should stop: /shutdown (status 0), or no worker
    // can run (status 1). The parent then calls begin_shutdown.
    void set_stop_handler(std::function<void(int)> h) { stop_handler_ = std::move(h); }
    std::vector<pid_t> worker_pids() const;
    // A worker link's last open stream ended, or the upstream pool's last
    // idle connection went: perhaps nothing is left in flight.
    void maybe_idle() { idle_trim_.went_idle(); }
    static void pool_emptied(void* arg) noexcept { static_cast<Supervisor*>(arg)->maybe_idle(); }

  private:
    struct Slot {
        unsigned id = 0;
        std::unique_ptr<WorkerLink> link;
        int failures = 0;
        EventPtr respawn_timer;
        Supervisor* owner = nullptr;
    };

    Result<void> spawn(Slot& slot);
    // After the crash-loop backoff of a failed start (parent/workers/respawn_plan.hpp).
    void schedule_respawn(Slot& slot);
    static void on_respawn_timer(evutil_socket_t, short, void* arg) noexcept;
    static void on_deadline(evutil_socket_t, short, void* arg) noexcept;
    void check_all_exited();
    static bool no_open_streams(void* arg) noexcept;

    event_base* base_;
    UpstreamEnv& env_;
    int listen_fd_;
    int unix_fd_;
    int exe_fd_;
    std::vector<unsigned> worker_ids_;
    std::vector<std::unique_ptr<Slot>> slots_;
    std::vector<std::unique_ptr<WorkerLink>> retired_;  // old generation, draining
    bool stopping_ = false;
    std::function<void()> done_;
    std::function<void(int)> stop_handler_;
    EventPtr deadline_;
    IdleTrim idle_trim_;
};

}  // namespace proxy
