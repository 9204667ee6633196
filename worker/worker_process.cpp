#include "worker/worker_process.hpp"

#include <netinet/in.h>
#include <sys/resource.h>
#include <sys/socket.h>

#include <cerrno>
#include <csignal>
#include <cstring>

#include "common/event_base.hpp"
#include "common/exit_codes.hpp"
#include "common/log.hpp"
#include "common/socket_address.hpp"
#include "policy/refusal.hpp"
#include "worker/client_connection.hpp"
#include "worker/sandbox.hpp"

namespace proxy {

WorkerProcess::WorkerProcess(const Options& options) : options_(options) {}

WorkerProcess::~WorkerProcess() {
    // Connections reference the base and the parent link: free them first.
    dirty_.clear();
    graveyard_.clear();
    connections_.clear();
}

int WorkerProcess::run() {
    // The parent's terminal may send SIGINT to the whole process group; only
    // the parent decides when workers stop (it sends SIGTERM).
    std::signal(SIGINT, SIG_IGN);
    std::signal(SIGHUP, SIG_IGN);
    std::signal(SIGPIPE, SIG_IGN);

    std::uint16_t port = local_port(kWorkerListenFd);
    request_policy_ = make_request_policy(options_, port);
    unix_request_policy_ = request_policy_;
    unix_request_policy_.any_host = true;
    HeadLimits limits;
    limits.max_head_bytes = options_.max_header_bytes;
    limits.max_headers = options_.max_headers;
    intake_rules_ = IntakeRules{limits, &request_policy_, make_forward_rules(options_)};
    unix_intake_rules_ = intake_rules_;
    unix_intake_rules_.policy = &unix_request_policy_;

    // Everything that needs a new fd or a syscall the sandbox forbids happens
    // before harden_worker(): the event base (epoll fd, signal pipe), the
    // signal handlers, the channel and the listener.
    base_.reset(new_event_base());
    if (!base_) {
        LOG_ERROR("cannot create event base");
        return exit_code::runtime;
    }
    parent_ = std::make_unique<ParentLink>(base_.get(), UniqueFd(kWorkerIpcFd), *this);
    listener_.reset(evconnlistener_new(base_.get(), &WorkerProcess::on_accept, this,
                                       LEV_OPT_CLOSE_ON_FREE | LEV_OPT_CLOSE_ON_EXEC, 0,
                                       kWorkerListenFd));
    if (!listener_) {
        LOG_ERROR("cannot listen on inherited socket");
        return exit_code::runtime;
    }
    evconnlistener_set_error_cb(listener_.get(), &WorkerProcess::on_accept_error);
    if (!options_.listen_unix.empty()) {
        unix_listener_.reset(evconnlistener_new(base_.get(), &WorkerProcess::on_accept, this,
                                                LEV_OPT_CLOSE_ON_FREE | LEV_OPT_CLOSE_ON_EXEC, 0,
                                                kWorkerUnixListenFd));
        if (!unix_listener_) {
            LOG_ERROR("cannot listen on the inherited unix socket");
            return exit_code::runtime;
        }
        evconnlistener_set_error_cb(unix_listener_.get(), &WorkerProcess::on_accept_error);
    }
    accept_pause_.reset(evtimer_new(base_.get(), &WorkerProcess::on_accept_resume, this));
    // Never promise more connections than we have descriptors for.
    rlimit nofile{};
    max_connections_ = options_.max_connections;
    if (getrlimit(RLIMIT_NOFILE, &nofile) == 0 && nofile.rlim_cur != RLIM_INFINITY &&
        nofile.rlim_cur > 64 && nofile.rlim_cur - 32 < max_connections_) {
        max_connections_ = static_cast<std::uint32_t>(nofile.rlim_cur - 32);
    }
    sigterm_.reset(evsignal_new(base_.get(), SIGTERM, &WorkerProcess::on_signal, this));
    event_add(sigterm_.get(), nullptr);
    reap_event_.reset(event_new(base_.get(), -1, 0, &WorkerProcess::on_reap, this));
    flush_event_.reset(event_new(base_.get(), -1, 0, &WorkerProcess::on_flush, this));
    idle_trim_ = std::make_unique<IdleTrim>(base_.get(), &WorkerProcess::no_open_streams, this);

    WorkerSandboxConfig sandbox;
    sandbox.user = options_.worker_user;
    sandbox.chroot_dir = options_.chroot_dir;
    sandbox.keep_fds = {kWorkerListenFd, kWorkerIpcFd};
    if (unix_listener_) sandbox.keep_fds.push_back(kWorkerUnixListenFd);
    std::string skipped = harden_worker(sandbox);
    // The parent already said once what an unprivileged start cannot do.
    if (!skipped.empty()) LOG_DEBUG("%s", skipped.c_str());
    idle_trim_->went_idle();  // idle from the start (common/idle_trim.hpp)

    LOG_DEBUG("serving");
    event_base_dispatch(base_.get());
    return exit_status_;
}

void WorkerProcess::on_accept(evconnlistener*, evutil_socket_t fd, sockaddr* peer, int,
                              void* arg) noexcept {
    auto* self = static_cast<WorkerProcess*>(arg);
    if (self->draining_) {
        evutil_closesocket(fd);
        return;
    }
    if (self->connections_.size() >= self->max_connections_ && !self->shed_one()) {
        // Best effort, never blocks: a full socket buffer just loses the answer.
        static const std::string busy = [] {
            std::string body = refusal_body(refusal::kOverloaded);
            return "HTTP/1.1 503 Service Unavailable\r\nContent-Type: application/json\r\n"
                   "Content-Length: " +
                   std::to_string(body.size()) + "\r\nConnection: close\r\n\r\n" + body;
        }();
        ssize_t w = ::send(fd, busy.data(), busy.size(), MSG_DONTWAIT | MSG_NOSIGNAL);
        (void)w;
        evutil_closesocket(fd);
        return;
    }
    // The parent learns who is calling from the socket itself (the owner of
    // the peer socket, or SO_PEERCRED), not from anything we say.
    const std::uint32_t id = self->next_conn_++;
    if (self->next_conn_ == 0) self->next_conn_ = 1;
    if (!self->parent_->ask_conn_open(id, fd)) {
        LOG_WARN(
            "cannot hand a new connection to the parent (channel down or out of "
            "descriptors); closing it");
        evutil_closesocket(fd);
        return;
    }
    const bool unix_peer = peer != nullptr && peer->sa_family == AF_UNIX;
    auto conn = std::make_unique<ClientConnection>(*self, fd, id, unix_peer);
    ClientConnection* raw = conn.get();
    self->connections_.emplace(raw, std::move(conn));
    self->conn_ids_.emplace(id, raw);
    self->arrival_order_.push_back(raw);
}

// At the connection limit, a connection doing nothing useful (idle
// keep-alive, or a head trickling in) makes room for a new one: slow clients
// cannot lock good ones out. The oldest such connection goes first.
bool WorkerProcess::shed_one() {
    const auto now = std::chrono::steady_clock::now();
    for (auto& conn : arrival_order_) {
        if (conn && conn->sheddable(now)) {
            conn->shed();
            return true;
        }
    }
    return false;
}

void WorkerProcess::on_accept_error(evconnlistener* listener, void* arg) noexcept {
    auto* self = static_cast<WorkerProcess*>(arg);
    int err = EVUTIL_SOCKET_ERROR();
    // Out of descriptors: stop accepting briefly instead of spinning on
    // accept(); log at most once per pause.
    if (err == EMFILE || err == ENFILE || err == ENOBUFS || err == ENOMEM) {
        LOG_WARN("accept: %s; pausing accepts for 100 ms", std::strerror(err));
        evconnlistener_disable(self->listener_.get());
        if (self->unix_listener_) evconnlistener_disable(self->unix_listener_.get());
        (void)listener;
        timeval tv{0, 100 * 1000};
        evtimer_add(self->accept_pause_.get(), &tv);
    }
}

void WorkerProcess::on_accept_resume(evutil_socket_t, short, void* arg) noexcept {
    auto* self = static_cast<WorkerProcess*>(arg);
    if (self->draining_) return;
    if (self->listener_) evconnlistener_enable(self->listener_.get());
    if (self->unix_listener_) evconnlistener_enable(self->unix_listener_.get());
}

std::uint32_t WorkerProcess::open_stream(ClientConnection* conn) {
    std::uint32_t id = next_stream_++;
    if (next_stream_ == 0) next_stream_ = 1;
    streams_[id] = conn;
    return id;
}

void WorkerProcess::end_stream(std::uint32_t stream) {
    streams_.erase(stream);
    if (streams_.empty() && idle_trim_) idle_trim_->went_idle();
}

bool WorkerProcess::no_open_streams(void* arg) noexcept {
    return static_cast<WorkerProcess*>(arg)->streams_.empty();
}

void WorkerProcess::connection_closed(ClientConnection* conn) {
    auto it = connections_.find(conn);
    if (it == connections_.end()) return;
    arrival_order_.remove(conn);
    conn_ids_.erase(conn->conn_id());
    parent_->ask_conn_close(conn->conn_id());
    // The connection is usually deep in its own callback: free it later.
    graveyard_.push_back(std::move(it->second));
    connections_.erase(it);
    event_active(reap_event_.get(), 0, 0);
}

void WorkerProcess::on_reap(evutil_socket_t, short, void* arg) noexcept {
    auto* self = static_cast<WorkerProcess*>(arg);
    self->graveyard_.clear();
    self->maybe_exit();
}

// Write-through instead of libevent's write event: enabling EV_WRITE for each
// response and removing it again costs two epoll_ctl per request. Output added
// during a loop turn (often a whole response from one recvmmsg batch) is
// written with one writev when the turn's callbacks are done; event_active
// costs no syscall and still runs before the next epoll_wait, so an SSE event
// leaves at once.
void WorkerProcess::schedule_flush(ClientConnection* conn) {
    dirty_.push_back(conn);
    if (dirty_.size() == 1) event_active(flush_event_.get(), 0, 0);
}

void WorkerProcess::cancel_flush(ClientConnection* conn) {
    std::erase(dirty_, conn);
}

void WorkerProcess::on_flush(evutil_socket_t, short, void* arg) noexcept {
    auto* self = static_cast<WorkerProcess*>(arg);
    // A flush may close its connection (graveyard, freed by a later on_reap,
    // never during this callback), which edits dirty_: work on a copy. The
    // two vectors trade places and keep their capacity: no allocation per turn.
    std::vector<ClientConnection*>& batch = self->flushing_;
    batch.swap(self->dirty_);
    for (ClientConnection* conn : batch) {
        if (!conn->closed()) conn->flush_output();
    }
    batch.clear();
}

ClientConnection* WorkerProcess::stream_client(std::uint32_t stream) const {
    auto it = streams_.find(stream);
    return it == streams_.end() ? nullptr : it->second;
}

ClientConnection* WorkerProcess::client(std::uint32_t conn_id) const {
    auto it = conn_ids_.find(conn_id);
    return it == conn_ids_.end() ? nullptr : it->second;
}

void WorkerProcess::quit(int status) {
    exit_status_ = status;
    event_base_loopbreak(base_.get());
}

void WorkerProcess::on_signal(evutil_socket_t, short, void* arg) noexcept {
    static_cast<WorkerProcess*>(arg)->begin_drain();
}

void WorkerProcess::begin_drain() {
    if (draining_) return;
    draining_ = true;
    listener_.reset();
    unix_listener_.reset();
    // begin_drain may close connections, which edits connections_.
    std::vector<ClientConnection*> all;
    for (auto& [raw, _] : connections_) all.push_back(raw);
    for (auto* c : all) c->begin_drain();
    maybe_exit();
}

void WorkerProcess::maybe_exit() {
    if (draining_ && connections_.empty()) event_base_loopexit(base_.get(), nullptr);
}

int run_worker(const Options& options) {
    char role[32];
    std::snprintf(role, sizeof role, "worker %u", options.worker_id);
    log::set_role(role);
    log::set_verbose(options.verbose);
    WorkerProcess worker(options);
    return worker.run();
}

}  // namespace proxy
