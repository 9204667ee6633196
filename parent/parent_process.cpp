#include "parent/parent_process.hpp"

#include <fcntl.h>
#include <pthread.h>
#include <sched.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <csignal>
#include <cstdio>
#include <cstring>
#include <future>
#include <memory>

#include "common/event_base.hpp"
#include "common/exit_codes.hpp"
#include "common/log.hpp"
#include "common/process_start.hpp"
#include "common/secret_page.hpp"
#include "common/startup_failure.hpp"
#include "common/upstream_url.hpp"
#include "parent/descriptor_budget.hpp"
#include "parent/files/filesystem.hpp"
#include "parent/files/server_info.hpp"
#include "parent/key/credential.hpp"
#include "parent/key/key_intake.hpp"
#include "parent/key/key_rotation.hpp"
#include "parent/listener.hpp"
#include "parent/loop_mailbox.hpp"
#include "parent/oidc/oidc_startup.hpp"
#include "parent/parent_sandbox.hpp"
#include "parent/systemd.hpp"
#include "parent/unix_listener.hpp"
#include "parent/upstream/exchange_dump.hpp"
#include "parent/upstream/tls_context.hpp"
#include "parent/upstream/upstream_pool.hpp"
#include "parent/upstream/upstream_proxy_route.hpp"
#include "parent/upstream_shard.hpp"
#include "parent/users/access_control.hpp"
#include "parent/workers/supervisor.hpp"
#include "parent/workers/worker_setup.hpp"

namespace proxy {

namespace {

int read_key(const Options& o, KeyPage& page) {
    UniqueFd file;
    int fd = STDIN_FILENO;
    if (!o.key_file.empty()) {
        file.reset(::open(o.key_file.c_str(), O_RDONLY | O_CLOEXEC));
        if (!file)
            return startup_failure(
                exit_code::key_read_error,
                "cannot open --key-file " + o.key_file + ": " + std::strerror(errno));
        fd = file.get();
    }
    int read_errno = 0;
    KeyIntakeError e = read_key_from_fd(page, fd, &read_errno);
    if (e != KeyIntakeError::None) {
        std::string msg = key_intake_message(e);
        if (e == KeyIntakeError::ReadError) msg += std::strerror(read_errno);
        return startup_failure(key_intake_exit_code(e), msg);
    }
    return exit_code::ok;
}

// Cores this process may run on (its affinity mask, so a CPUQuota= or
// taskset limit counts).
unsigned usable_cores() {
    cpu_set_t set;
    CPU_ZERO(&set);
    if (sched_getaffinity(0, sizeof set, &set) != 0) return 1;
    return static_cast<unsigned>(std::max(1, CPU_COUNT(&set)));
}

struct Parent {
    explicit Parent(const Options& o) : options(o) {}
    const Options& options;
    EventBasePtr base;
    EvDnsBasePtr dns;
    SslCtxPtr tls;
    Credential credential;  // the key's page, or --github-oidc's access token
    KeyRotation key_rotation{options, credential};  // SIGHUP: --key-file again
    SslCtxPtr oidc_tls;
    std::unique_ptr<OidcTokenSource> oidc;
    std::unique_ptr<DumpWriter> dump;
    std::unique_ptr<AccessControl> access;
    std::unique_ptr<ShardShared> shared;
    LoopMailbox mailbox;  // notes from the upstream loops (UpstreamShard)
    // The upstream loops: shard 0 on this loop, the others on threads.
    std::vector<std::unique_ptr<UpstreamShard>> shards;
    UniqueFd listen_fd;
    UniqueFd unix_fd;
    EventPtr sigterm, sigint, sighup, sigchld;
    EventPtr watchdog;  // WATCHDOG=1 to systemd while the loop turns (WatchdogSec=)
    int exit_status = exit_code::ok;
    bool stopping = false;

    void command_all(unsigned commands) {
        for (auto& shard : shards) shard->command(commands);
    }

    void stop(int status) {
        if (stopping) return;
        stopping = true;
        exit_status = status;
        systemd_notify("STOPPING=1");
        LOG_INFO("stopping: draining open streams (up to %us)", options.shutdown_timeout_s);
        command_all(UpstreamShard::kStop);
        on_progress();
    }

    // A shard stopped respawning workers, or finished draining.
    void on_progress() {
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

    void on_note(unsigned bits) {
        if (bits & UpstreamShard::kWantStopFailed) stop(exit_code::runtime);
        if (bits & UpstreamShard::kWantStopOk) stop(exit_code::ok);
        if (bits & UpstreamShard::kProgress) on_progress();
        if (bits & UpstreamShard::kReloaded) on_reloaded();
    }

    unsigned reloads = 0;         // the generation of the last reload asked for
    bool reload_pending = false;  // RELOADING=1 said, READY=1 not yet

    // READY=1 ends a reload once every loop has replaced its workers
    // (`systemctl reload` waits for it), not when the threads were asked to.
    void on_reloaded() {
        if (!reload_pending) return;
        for (auto& shard : shards) {
            if (shard->reloads() != reloads) return;
        }
        reload_pending = false;
        if (stopping) return;  // STOPPING=1 was said; READY=1 would take it back
        LOG_INFO("reload: done");
        systemd_notify("READY=1");
    }

    static void on_signal(evutil_socket_t sig, short, void* arg) noexcept {
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

    unsigned pings = 0;  // kPing sent to each upstream thread so far

    // WATCHDOG=1 only while every loop turns: the main loop (this callback)
    // and each upstream thread, which must have answered the previous ping.
    static void on_watchdog(evutil_socket_t, short, void* arg) noexcept {
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

    // Under WatchdogSec= systemd kills and restarts a parent whose loop has
    // stopped turning; the pings go on while open streams drain at shutdown.
    void start_watchdog() {
        const std::uint64_t period = systemd_watchdog_period_usec();
        if (period == 0) return;
        watchdog.reset(event_new(base.get(), -1, EV_PERSIST, &Parent::on_watchdog, this));
        const timeval tv{static_cast<time_t>(period / 1000000),
                         static_cast<suseconds_t>(period % 1000000)};
        if (!watchdog || event_add(watchdog.get(), &tv) != 0) {
            LOG_WARN("systemd: cannot schedule watchdog notifications");
            return;
        }
        LOG_DEBUG("systemd: WATCHDOG=1 every %llu ms",
                  static_cast<unsigned long long>(period / 1000));
    }
};

// What start-up carries from one phase to the next.
struct Startup {
    OidcStart oidc;           // --github-oidc: the request token, until the first access token
    std::optional<KeyPage> page;  // the key, until the credential takes it
    UpstreamUrl url;
    std::optional<RouteChoice> route;
    UpstreamPool::Config pool;
    unsigned port = 0;
    int exe_fd = -1;          // the worker executable, kept for every respawn
    unsigned loops = 1;
    std::string skipped;      // privileges that could not be dropped, said once serving
};

// The start-up phases, in the order DESIGN.md gives. Each answers
// exit_code::ok or the status the process exits with (one line said).

// 1. The key, into its locked page, before anything else can fail noisily
// (with --github-oidc: the request token; the access token comes later).
int read_credential(const Options& o, Startup& s) {
    if (o.github_oidc) return prepare_github_oidc(o, s.oidc);
    std::string error;
    s.page = KeyPage::create(error);
    if (!s.page) return startup_failure(exit_code::runtime, "cannot set up the key page: " + error);
    if (int st = read_key(o, *s.page); st != exit_code::ok) return st;
    if (!s.page->seal())
        return startup_failure(exit_code::runtime, "cannot make the key page read-only");
    return exit_code::ok;
}

// 2. The upstream side: its URL and route, TLS trust, the dump directory.
int set_up_upstream(const Options& o, const ProxyEnvironment& proxy_env, Parent& p, Startup& s) {
    std::string error;
    if (!parse_upstream_url(o.upstream_url, s.url, error))
        return startup_failure(exit_code::usage, "--upstream-url: " + error);
    auto chosen = choose_upstream_route(o, proxy_env, s.url);
    if (!chosen) return startup_failure(exit_code::config_failed, chosen.error());
    s.route = std::move(*chosen);
    if (s.page) p.credential.replace(std::move(*s.page));
    s.page.reset();
    if (s.url.tls) {
        auto tls = make_upstream_tls_context(o.upstream_ca_file);
        if (!tls) return startup_failure(exit_code::config_failed, tls.error());
        p.tls = std::move(*tls);
    }
    if (!o.dump_dir.empty()) {
        if (!make_directories(o.dump_dir, 0700)) {
            return startup_failure(
                exit_code::config_failed,
                "cannot create --dump-dir " + o.dump_dir + ": " + std::strerror(errno));
        }
        p.dump = std::make_unique<DumpWriter>(o.dump_dir, s.url.host_header);
    }
    s.pool.url = s.url;
    s.pool.tls = p.tls.get();
    if (s.route->proxy) s.pool.proxy = &*s.route->proxy;
    return exit_code::ok;
}

// 3. The workers' sandbox: who they run as, where they are chrooted, the
// capabilities that set-up needs (root, or User= with
// AmbientCapabilities=: parent/workers/worker_setup.hpp), and the worker
// executable, opened once.
int prepare_worker_sandbox(const Options& o, Startup& s) {
    auto privilege = prepare_worker_setup(o.worker_user, o.chroot_dir);
    if (!privilege) return startup_failure(exit_code::config_failed, privilege.error());
    if (auto handed = hand_setup_capabilities_to_workers(*privilege); !handed)
        return startup_failure(exit_code::sandbox_failed, handed.error());
    auto worker_exe = open_worker_exe();
    if (!worker_exe) return startup_failure(exit_code::config_failed, worker_exe.error());
    s.exe_fd = worker_exe->release();
    return exit_code::ok;
}

// 4. The event loop and resolver (resolv.conf and hosts read now, before
// the sandbox), the first OIDC access token (before listening, as the
// original does), then the listeners.
int open_listeners(Options& o, Parent& p, Startup& s) {
    p.base.reset(new_event_base());
    if (!p.base) return startup_failure(exit_code::runtime, "cannot create event base");
    p.dns = make_resolver(p.base.get());
    if (o.github_oidc) {
        if (int st = start_github_oidc(o, s.oidc, p.base.get(), p.dns.get(), p.credential,
                                       p.oidc_tls, p.oidc);
            st != exit_code::ok)
            return st;
    }
    fit_connections_to_descriptors(o);
    auto listener = open_listener(o.port);
    if (!listener) return startup_failure(exit_code::listen_failed, listener.error());
    s.port = listener->port;
    p.listen_fd = std::move(listener->fd);
    if (!o.listen_unix.empty()) {
        auto unix_listener = open_unix_listener(o);
        if (!unix_listener) return startup_failure(exit_code::listen_failed, unix_listener.error());
        p.unix_fd = std::move(*unix_listener);
    }
    return exit_code::ok;
}

// 5. Per-user policy, usage state, audit log, and the sock_diag socket that
// names callers: all opened before the sandbox.
int load_policy_and_state(const Options& o, Parent& p) {
    const int listeners[] = {p.listen_fd.get(), p.unix_fd.get()};
    auto access =
        AccessControl::create(p.base.get(), o, std::span<const int>(listeners, p.unix_fd ? 2 : 1));
    if (!access) return startup_failure(exit_code::config_failed, access.error());
    p.access = std::move(*access);
    return exit_code::ok;
}

// 6. Signals, the upstream loops and their workers (forked while we are
// still one thread).
int start_loops(const Options& o, Parent& p, Startup& s) {
    for (int sig : {SIGTERM, SIGINT, SIGHUP, SIGCHLD}) {
        EventPtr ev(evsignal_new(p.base.get(), sig, &Parent::on_signal, &p));
        event_add(ev.get(), nullptr);
        (sig == SIGTERM  ? p.sigterm
         : sig == SIGINT ? p.sigint
         : sig == SIGHUP ? p.sighup
                         : p.sigchld) = std::move(ev);
    }
    p.shared = std::make_unique<ShardShared>(ShardShared{o, p.credential, p.dump.get(), *p.access,
                                                         s.pool, p.listen_fd.get(),
                                                         p.unix_fd.get(), s.exe_fd});
    if (auto opened = p.mailbox.open(p.base.get(), [&p](unsigned bits) { p.on_note(bits); });
        !opened)
        return startup_failure(exit_code::runtime, opened.error());
    s.loops = upstream_thread_count(o, usable_cores());
    for (unsigned i = 0; i < s.loops; ++i) {
        auto shard = std::make_unique<UpstreamShard>(
            *p.shared, i, shard_worker_ids(i, s.loops, o.workers), p.mailbox);
        const bool main_loop = i == 0;
        if (auto ready =
                shard->init(main_loop ? p.base.get() : nullptr, main_loop ? p.dns.get() : nullptr);
            !ready)
            return startup_failure(exit_code::runtime,
                                   "cannot set up upstream loop: " + ready.error());
        p.shards.push_back(std::move(shard));
    }
    for (auto& shard : p.shards) {
        if (auto started = shard->start_workers(); !started) {
            p.command_all(UpstreamShard::kStop);
            return startup_failure(exit_code::runtime, "cannot start workers: " + started.error());
        }
    }
    return exit_code::ok;
}

// 7. Tell the world: the listener is up and queues connections for the
// workers, so clients may connect from now on. Written before the parent's
// sandbox, which forbids creating directories. The notify socket is opened
// now too: the parent's filter allows sending on it later but not creating
// sockets of that kind.
int announce(const Options& o, Parent& p, const Startup& s) {
    if (!o.server_info.empty()) {
        if (auto written = write_server_info(o.server_info, s.port, getpid()); !written) {
            p.command_all(UpstreamShard::kStop);
            return startup_failure(exit_code::config_failed, written.error());
        }
    }
    systemd_notify_prepare();
    return exit_code::ok;
}

// 8. The parent's own sandbox: privileges dropped, then the upstream
// threads and the dump writer thread started (they inherit the reduced
// capabilities; the filter then covers them too, and allows no thread after
// it; signals are for the main loop, so threads block them), then the
// filter (workers are executed through exe_fd, which it allows and nothing
// else). The threads wait at a gate until the filter is in place.
void enter_sandbox(Parent& p, Startup& s) {
    s.skipped = drop_parent_privileges();
    std::promise<void> gate;
    const std::shared_future<void> opened = gate.get_future().share();
    {
        sigset_t all, old;
        sigfillset(&all);
        pthread_sigmask(SIG_SETMASK, &all, &old);
        for (auto& shard : p.shards) {
            if (auto started = shard->start_thread(opened); !started)
                hardening_fatal("upstream threads", started.error());
        }
        std::string error;
        if (p.dump && !p.dump->start_thread(error))
            LOG_WARN("--dump-dir: no writer thread (%s): dumps are written by the event loop",
                     error.c_str());
        pthread_sigmask(SIG_SETMASK, &old, nullptr);
    }
    apply_parent_sandbox(s.exe_fd);
    gate.set_value();
}

// 9. Serve until stopped; then the upstream threads end and the usage state
// is saved.
int serve(const Options& o, Parent& p, const Startup& s) {
    // Idle from the start: start-up's symbol tables and set-up code are
    // unmapped once nothing has happened for a while (common/idle_trim.hpp).
    p.shards.front()->supervisor().maybe_idle();
    if (!s.skipped.empty()) LOG_WARN("%s", s.skipped.c_str());
    if (!s.route->note.empty()) LOG_INFO("%s", s.route->note.c_str());
    const std::string threads =
        s.loops > 1 ? ", " + std::to_string(s.loops) + " upstream threads" : std::string();
    LOG_INFO("listening on 127.0.0.1:%u%s%s, forwarding to %s%s", s.port,
             o.listen_unix.empty() ? "" : " and ", o.listen_unix.c_str(),
             s.url.host_header.c_str(), threads.c_str());
    systemd_notify("READY=1\nMAINPID=" + std::to_string(getpid()));
    p.start_watchdog();

    event_base_dispatch(p.base.get());
    for (auto& shard : p.shards) {
        if (shard->threaded()) shard->command(UpstreamShard::kExit);
        shard->join();
    }
    p.access->save();
    LOG_INFO("exiting with status %d", p.exit_status);
    return p.exit_status;
}

}  // namespace

int run_parent(Options o, const ProxyEnvironment& proxy_env) {
    log::set_role("parent");
    log::set_verbose(o.verbose);
    Startup s;
    if (int st = read_credential(o, s); st != exit_code::ok) return st;
    Parent p(o);
    if (int st = set_up_upstream(o, proxy_env, p, s); st != exit_code::ok) return st;
    if (int st = prepare_worker_sandbox(o, s); st != exit_code::ok) return st;
    if (int st = open_listeners(o, p, s); st != exit_code::ok) return st;
    if (int st = load_policy_and_state(o, p); st != exit_code::ok) return st;
    if (int st = start_loops(o, p, s); st != exit_code::ok) return st;
    if (int st = announce(o, p, s); st != exit_code::ok) return st;
    enter_sandbox(p, s);
    return serve(o, p, s);
}

}  // namespace proxy
