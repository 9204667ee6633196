#include "parent/workers/supervisor.hpp"

#include <fcntl.h>
#include <pthread.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <csignal>
#include <cstring>

#include "common/cli.hpp"
#include "common/exit_codes.hpp"
#include "common/log.hpp"
#include "common/worker_fds.hpp"
#include "parent/metrics/proxy_metrics.hpp"
#include "parent/workers/respawn_plan.hpp"

extern char** environ;

namespace proxy {

namespace {

constexpr auto kHealthyAfter = std::chrono::seconds(2);

const timeval& as_timeval(std::chrono::milliseconds d) {
    static thread_local timeval tv;
    tv = {static_cast<time_t>(d.count() / 1000), static_cast<suseconds_t>(d.count() % 1000) * 1000};
    return tv;
}

// The environment a worker gets: nothing of ours (no secrets can ride along),
// only sanitizer settings so the ASan build can be configured.
std::vector<std::string> worker_environment() {
    std::vector<std::string> env;
    for (char** e = environ; e && *e; ++e) {
        if (std::strncmp(*e, "ASAN_OPTIONS=", 13) == 0 ||
            std::strncmp(*e, "UBSAN_OPTIONS=", 14) == 0 ||
            std::strncmp(*e, "LSAN_OPTIONS=", 13) == 0) {
            env.emplace_back(*e);
        }
    }
    return env;
}

std::vector<char*> c_array(std::vector<std::string>& v) {
    std::vector<char*> out;
    for (auto& s : v) out.push_back(s.data());
    out.push_back(nullptr);
    return out;
}

}  // namespace

Supervisor::Supervisor(event_base* base, UpstreamEnv& env, int listen_fd, int unix_fd, int exe_fd,
                       std::vector<unsigned> worker_ids)
    : base_(base),
      env_(env),
      listen_fd_(listen_fd),
      unix_fd_(unix_fd),
      exe_fd_(exe_fd),
      worker_ids_(std::move(worker_ids)),
      idle_trim_(base, &Supervisor::no_open_streams, this) {}

Supervisor::~Supervisor() = default;

Result<void> Supervisor::start_all() {
    for (unsigned id : worker_ids_) {
        auto slot = std::make_unique<Slot>();
        slot->id = id;
        slot->owner = this;
        slot->respawn_timer.reset(evtimer_new(base_, &Supervisor::on_respawn_timer, slot.get()));
        if (auto spawned = spawn(*slot); !spawned) return spawned;
        slots_.push_back(std::move(slot));
    }
    return {};
}

Result<void> Supervisor::spawn(Slot& slot) {
    int sv[2];
    if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sv) != 0)
        return Error{std::string("socketpair: ") + std::strerror(errno)};
    UniqueFd ours(sv[0]), theirs(sv[1]);
    // One socketpair carries every stream of the worker. With the default
    // send buffer (208 KiB) a few 40 KiB request bodies fill it, and each
    // EAGAIN costs an EV_WRITE round (two epoll_ctl and a wakeup): at 256
    // connections with 40 KiB bodies, 1 MiB gave 20% more requests/s. The
    // kernel caps it at net.core.wmem_max; a smaller buffer only costs speed.
    // The bytes are bounded by the streams' credit windows either way: this
    // moves them from our queue to the kernel's, it does not add any.
    constexpr int kChannelSendBuffer = 1 << 20;
    for (int fd : {sv[0], sv[1]})
        setsockopt(fd, SOL_SOCKET, SO_SNDBUF, &kChannelSendBuffer, sizeof kChannelSendBuffer);
    // Everything the child needs is prepared before fork: after it, only
    // async-signal-safe calls until execveat.
    std::vector<std::string> args = worker_arguments(env_.options, slot.id);
    args.insert(args.begin(), "codex-responses-api-proxy-worker");
    std::vector<std::string> envs = worker_environment();
    std::vector<char*> argv = c_array(args), envp = c_array(envs);
    int listen_fd = listen_fd_, unix_fd = unix_fd_, exe_fd = exe_fd_, chan = theirs.get();

    // Until it execs, the child has the parent's signal handlers, and
    // libevent's write the signal's number to the parent's loop through a
    // socketpair the child shares: a SIGTERM meant for a worker that is
    // still starting (a reload right after a reload retires it) would stop
    // the parent, a SIGHUP reload it. So the fork happens with every signal
    // blocked, and the child puts the handlers back to the default before
    // it takes any (a signal already sent then acts on the child alone).
    sigset_t all, saved;
    sigfillset(&all);
    pthread_sigmask(SIG_SETMASK, &all, &saved);
    pid_t pid = fork();
    if (pid != 0) {
        const int fork_errno = errno;
        pthread_sigmask(SIG_SETMASK, &saved, nullptr);
        errno = fork_errno;
    }
    if (pid < 0) return Error{std::string("fork: ") + std::strerror(errno)};
    if (pid == 0) {
        for (int sig = 1; sig < NSIG; ++sig) {
            struct sigaction was {};
            if (sigaction(sig, nullptr, &was) != 0) continue;
            if (was.sa_handler == SIG_DFL || was.sa_handler == SIG_IGN) continue;
            struct sigaction dfl {};
            dfl.sa_handler = SIG_DFL;
            sigaction(sig, &dfl, nullptr);
        }
        // The worker starts with no signal blocked (a mask survives execve;
        // the parent's upstream threads block every signal).
        sigset_t none;
        sigemptyset(&none);
        sigprocmask(SIG_SETMASK, &none, nullptr);
        // Fixed fd layout: 0 /dev/null, 1-2 inherited, 3 listener, 4 channel,
        // 5 the unix listener (--listen-unix only).
        int l = fcntl(listen_fd, F_DUPFD, 10);
        int c = fcntl(chan, F_DUPFD, 10);
        int u = unix_fd >= 0 ? fcntl(unix_fd, F_DUPFD, 10) : -1;
        int devnull = open("/dev/null", O_RDWR);
        if (l < 0 || c < 0 || devnull < 0 || dup2(devnull, 0) < 0 || dup2(l, kWorkerListenFd) < 0 ||
            dup2(c, kWorkerIpcFd) < 0 ||
            (unix_fd >= 0 && (u < 0 || dup2(u, kWorkerUnixListenFd) < 0))) {
            _exit(exit_code::worker_no_respawn);
        }
        const int last = unix_fd >= 0 ? kWorkerUnixListenFd : kWorkerIpcFd;
        // Keep only exe_fd (CLOEXEC: it vanishes at exec) besides 0-last.
        if (exe_fd > last + 1) syscall(SYS_close_range, last + 1, exe_fd - 1, 0);
        syscall(SYS_close_range, exe_fd + 1, ~0U, 0);
        syscall(SYS_execveat, exe_fd, "", argv.data(), envp.data(), AT_EMPTY_PATH);
        _exit(exit_code::worker_no_respawn);
    }
    slot.link = std::make_unique<WorkerLink>(*this, env_, base_, slot.id, pid, std::move(ours));
    LOG_DEBUG("started worker %u (pid %d)", slot.id, static_cast<int>(pid));
    return {};
}

std::vector<pid_t> Supervisor::worker_pids() const {
    std::vector<pid_t> pids;
    for (auto& s : slots_) {
        if (s->link) pids.push_back(s->link->pid());
    }
    for (auto& r : retired_) pids.push_back(r->pid());
    return pids;
}

// The whole process: trimming the heap and unmapping library pages while
// another upstream thread serves would only slow that thread down.
bool Supervisor::no_open_streams(void*) noexcept {
    return WorkerLink::open_streams_in_process() == 0;
}

void Supervisor::on_child_exit() {
    // Our own workers only, by pid: with upstream threads, each thread's
    // supervisor reaps its own (waitpid(-1) would take another's).
    std::vector<std::pair<pid_t, int>> exited;
    for (pid_t candidate : worker_pids()) {
        int st = 0;
        if (waitpid(candidate, &st, WNOHANG) == candidate) exited.emplace_back(candidate, st);
    }
    for (auto [pid, status] : exited) {
        Slot* slot = nullptr;
        std::unique_ptr<WorkerLink> link;
        for (auto& s : slots_) {
            if (s->link && s->link->pid() == pid) {
                slot = s.get();
                link = std::move(s->link);
            }
        }
        for (auto it = retired_.begin(); !link && it != retired_.end(); ++it) {
            if ((*it)->pid() == pid) {
                link = std::move(*it);
                retired_.erase(it);
                break;
            }
        }
        if (!link) continue;
        unsigned id = link->id();
        if (WIFSIGNALED(status) && WTERMSIG(status) == SIGSYS) {
            LOG_SECURITY("worker %u (pid %d) killed by SIGSYS: seccomp violation", id,
                         static_cast<int>(pid));
        } else if (WIFSIGNALED(status) && WTERMSIG(status) != SIGKILL &&
                   WTERMSIG(status) != SIGTERM) {
            LOG_WARN("worker %u (pid %d) died of signal %d", id, static_cast<int>(pid),
                     WTERMSIG(status));
        } else if (WIFEXITED(status) && WEXITSTATUS(status) != 0 && !stopping_) {
            LOG_WARN("worker %u (pid %d) exited with status %d", id, static_cast<int>(pid),
                     WEXITSTATUS(status));
        }
        const auto lived = std::chrono::steady_clock::now() - link->started;
        const bool healthy = lived > kHealthyAfter;
        const bool killed_by_parent = link->killed_by_parent();
        link->drop_all_streams();
        link.reset();
        if (!slot || stopping_) continue;
        if (WIFEXITED(status) && WEXITSTATUS(status) == exit_code::worker_no_respawn) {
            LOG_ERROR("worker %u cannot start; not respawning it", id);
            continue;
        }
        proxy_metrics().count_worker_restart(killed_by_parent ? "killed_by_parent"
                                             : WIFSIGNALED(status) && WTERMSIG(status) == SIGSYS
                                                 ? "seccomp"
                                             : WIFSIGNALED(status) ? "signal"
                                                                   : "exited");
        const RespawnPlan plan =
            plan_respawn(slot->failures, healthy, killed_by_parent,
                         std::chrono::duration_cast<std::chrono::milliseconds>(lived));
        slot->failures = plan.failures;
        if (plan.delay.count() > 0)
            LOG_WARN("respawning worker %u in %lld ms", slot->id,
                     static_cast<long long>(plan.delay.count()));
        evtimer_add(slot->respawn_timer.get(), &as_timeval(plan.delay));
    }
    check_all_exited();
    // No worker left and none coming back: nothing can be served.
    bool any = !retired_.empty();
    for (auto& s : slots_) any = any || s->link || evtimer_pending(s->respawn_timer.get(), nullptr);
    if (!any && !stopping_) {
        LOG_ERROR("no worker can run; exiting");
        if (stop_handler_) stop_handler_(exit_code::runtime);
    }
}

void Supervisor::schedule_respawn(Slot& slot) {
    const std::chrono::milliseconds delay = backoff_delay(slot.failures);
    if (delay.count() > 0)
        LOG_WARN("respawning worker %u in %lld ms", slot.id, static_cast<long long>(delay.count()));
    evtimer_add(slot.respawn_timer.get(), &as_timeval(delay));
}

void Supervisor::on_respawn_timer(evutil_socket_t, short, void* arg) noexcept {
    auto* slot = static_cast<Slot*>(arg);
    Supervisor* self = slot->owner;
    if (self->stopping_) return;
    if (auto spawned = self->spawn(*slot); !spawned) {
        LOG_ERROR("cannot respawn worker %u: %s", slot->id, spawned.error().c_str());
        slot->failures++;
        self->schedule_respawn(*slot);
    }
}

void Supervisor::reload() {
    if (stopping_) return;
    LOG_INFO("reload: replacing workers");
    for (auto& s : slots_) {
        std::unique_ptr<WorkerLink> old = std::move(s->link);
        if (auto spawned = spawn(*s); !spawned) {
            LOG_ERROR("reload: cannot start worker %u: %s; keeping the old one", s->id,
                      spawned.error().c_str());
            s->link = std::move(old);
            continue;
        }
        if (old) {
            old->draining = true;
            ::kill(old->pid(), SIGTERM);
            retired_.push_back(std::move(old));
        }
    }
}

void Supervisor::request_shutdown() {
    if (stop_handler_) stop_handler_(exit_code::ok);
}

void Supervisor::begin_shutdown(std::function<void()> done) {
    if (stopping_) return;
    stopping_ = true;
    done_ = std::move(done);
    for (auto& s : slots_) {
        evtimer_del(s->respawn_timer.get());
        if (s->link) ::kill(s->link->pid(), SIGTERM);
    }
    for (auto& r : retired_) ::kill(r->pid(), SIGTERM);
    deadline_.reset(evtimer_new(base_, &Supervisor::on_deadline, this));
    timeval tv{static_cast<time_t>(env_.options.shutdown_timeout_s), 0};
    evtimer_add(deadline_.get(), &tv);
    check_all_exited();
}

void Supervisor::on_deadline(evutil_socket_t, short, void* arg) noexcept {
    auto* self = static_cast<Supervisor*>(arg);
    LOG_WARN("shutdown timeout: stopping remaining streams");
    for (pid_t pid : self->worker_pids()) ::kill(pid, SIGKILL);
}

void Supervisor::check_all_exited() {
    if (!stopping_) return;
    for (auto& s : slots_) {
        if (s->link) return;
    }
    if (!retired_.empty()) return;
    if (deadline_) evtimer_del(deadline_.get());
    if (done_) {
        auto done = std::move(done_);
        done_ = nullptr;
        done();
    }
}

}  // namespace proxy
