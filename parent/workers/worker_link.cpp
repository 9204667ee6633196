#include "parent/workers/worker_link.hpp"

#include <sys/epoll.h>

#include <atomic>
#include <cerrno>
#include <csignal>
#include <cstring>

#include "common/log.hpp"
#include "parent/metrics/proxy_metrics.hpp"
#include "parent/users/access_control.hpp"
#include "parent/workers/supervisor.hpp"
#include "policy/token_budget.hpp"

namespace proxy {

namespace {

// Where a stream stands, as a bit so the table can list several.
enum StreamState : unsigned {
    kControl = 1u << 0,  // stream 0: not about a stream
    kNew = 1u << 1,      // an id above every id seen so far
    kBody = 1u << 2,     // open, request body still coming
    kDone = 1u << 3,     // open, request body complete
    kStale = 1u << 4,    // an id we saw and already finished (races are legal)
};

struct Answer {
    ipc::Type type;
    unsigned allowed;
    bool (WorkerLink::*handler)(const ipc::MessageView&, UpstreamExchange*);
};

// Everything a worker may say, and when. Nothing else is accepted.
constexpr Answer kAnswers[] = {
    {ipc::Type::ReqOpen, kNew, &WorkerLink::answer_req_open},
    {ipc::Type::ReqBody, kBody | kStale, &WorkerLink::answer_req_body},
    {ipc::Type::ReqEnd, kBody | kStale, &WorkerLink::answer_req_end},
    {ipc::Type::ReqCancel, kBody | kDone | kStale, &WorkerLink::answer_req_cancel},
    {ipc::Type::RespCredit, kBody | kDone | kStale, &WorkerLink::answer_resp_credit},
    {ipc::Type::Shutdown, kControl, &WorkerLink::answer_shutdown},
    {ipc::Type::ConnOpen, kControl, &WorkerLink::answer_conn_open},
    {ipc::Type::ConnClose, kControl, &WorkerLink::answer_conn_close},
    {ipc::Type::ShutdownAsk, kControl, &WorkerLink::answer_shutdown_ask},
    {ipc::Type::Refused, kControl, &WorkerLink::answer_refused},
    {ipc::Type::UsageAsk, kControl, &WorkerLink::answer_usage_ask},
    {ipc::Type::MetricsAsk, kControl, &WorkerLink::answer_metrics_ask},
};

// A body riding on a ReqOpen must fit the framing it declares, checked before
// anything is written upstream (UpstreamExchange checks again as it goes).
bool opening_body_fits(const ipc::ReqOpen& open, std::string_view body, std::uint16_t flags) {
    if (open.framing == BodyFraming::None) return body.empty();
    if (open.framing != BodyFraming::Length) return true;
    if (body.size() > open.content_length) return false;
    return (flags & ipc::kFlagLast) == 0 || body.size() == open.content_length;
}

// Refusal audit lines per worker and minute (audit_refusal).
constexpr std::uint32_t kAuditPerMinute = 6000;

// Open streams of every worker link in the process, all upstream threads'.
std::atomic<long> g_open_streams{0};

}  // namespace

long WorkerLink::open_streams_in_process() {
    return g_open_streams.load(std::memory_order_relaxed);
}

WorkerLink::WorkerLink(Supervisor& supervisor, UpstreamEnv& env, event_base* base, unsigned id,
                       pid_t pid, UniqueFd channel_fd)
    : started(std::chrono::steady_clock::now()),
      supervisor_(supervisor),
      env_(env),
      forward_rules_(make_forward_rules(env.options)),
      id_(id),
      pid_(pid),
      channel_(base, std::move(channel_fd), *this),
      queue_cap_(kBacklogHigh + 2 * ipc::kMaxMessage + max_client_conns(env.options) * 1024) {
    reap_event_.reset(event_new(base, -1, 0, &WorkerLink::on_reap, this));
    clients_watch_.reset(::epoll_create1(EPOLL_CLOEXEC));
    if (clients_watch_) {
        clients_watch_event_.reset(event_new(base, clients_watch_.get(), EV_READ | EV_PERSIST,
                                             &WorkerLink::on_clients_closed, this));
        event_add(clients_watch_event_.get(), nullptr);
    } else {
        LOG_WARN("worker %u: cannot watch client connections (epoll_create1: %s)", id,
                 std::strerror(errno));
    }
}

WorkerLink::~WorkerLink() {
    graveyard_.clear();
    g_open_streams.fetch_sub(static_cast<long>(streams_.size()), std::memory_order_relaxed);
    streams_.clear();
}

void WorkerLink::send_to_worker(ipc::Type type, std::uint32_t stream, std::string_view payload) {
    send_to_worker(type, stream, payload, 0);
}

void WorkerLink::send_to_worker(ipc::Type type, std::uint32_t stream, std::string_view payload,
                                std::uint16_t flags) {
    channel_.send(type, stream, payload, flags);
    // Past the cap the worker is not reading what it asked for (an honest
    // one never gets near it: exchanges wait for room at kBacklogHigh, and
    // the rest is one answer per connection). Killed from the loop, not
    // from inside the exchange that is sending.
    if (channel_.queued_bytes() > queue_cap_ && !killed_ && !overflowed_) {
        overflowed_ = true;
        event_active(reap_event_.get(), 0, 0);
    }
}

bool WorkerLink::backlogged() const {
    return channel_.queued_bytes() >= kBacklogHigh;
}

void WorkerLink::wait_for_room(std::uint32_t stream) {
    waiting_for_room_.push_back(stream);
    channel_.watch_drain(kBacklogHigh / 2);
}

void WorkerLink::on_channel_drained() {
    std::vector<std::uint32_t> waiting;
    waiting.swap(waiting_for_room_);
    for (std::uint32_t stream : waiting) {
        if (killed_) return;
        if (auto it = streams_.find(stream); it != streams_.end()) it->second->on_room();
    }
}

void WorkerLink::exchange_done(std::uint32_t stream) {
    auto it = streams_.find(stream);
    if (it == streams_.end()) return;
    account_for(*it->second);
    graveyard_.push_back(std::move(it->second));
    streams_.erase(it);
    g_open_streams.fetch_sub(1, std::memory_order_relaxed);
    event_active(reap_event_.get(), 0, 0);
    if (streams_.empty()) supervisor_.maybe_idle();
}

void WorkerLink::on_reap(evutil_socket_t, short, void* arg) noexcept {
    auto* self = static_cast<WorkerLink*>(arg);
    if (self->overflowed_) {
        self->overflowed_ = false;
        self->hostile("nothing", "it does not read what the parent sends (queue over its cap)");
    }
    self->graveyard_.clear();
}

void WorkerLink::account_for(UpstreamExchange& ex) {
    const ExchangeRecord& rec = ex.record();
    const TokenCharge charge = ex.charge();
    env_.access.stream_ended(ex.caller, ex.reserved, charge, ex.answer_models());
    // A body the parent refused was admitted as a request and counted so;
    // it is a refusal, in REFUSED, like the 403s and 429s at admission.
    if (std::string_view(rec.outcome) == "refused") env_.access.count_body_refusal(ex.caller);
    AuditRecord a;
    a.method = "POST";
    a.path = "/v1/responses";
    a.status = rec.status;
    a.outcome = rec.outcome;
    a.code = rec.code;
    a.request_bytes = rec.request_bytes;
    a.response_bytes = rec.response_bytes;
    const auto now = std::chrono::steady_clock::now();
    a.duration_ms = std::chrono::duration<double, std::milli>(now - rec.started).count();
    a.request_id = rec.request_id;
    // A body the parent refused never reached the upstream whole: "-", as
    // for every other refusal (it is charged nothing).
    if (std::string_view(rec.outcome) != "refused") {
        a.tokens_in = charge.input;
        a.tokens_out = charge.output;
        a.tokens_estimated = charge.estimated;
    }
    env_.access.audit(ex.caller, a);
    ProxyMetrics& metrics = proxy_metrics();
    metrics.count_request(ex.caller.uid, ex.caller.known, a.outcome, a.status);
    metrics.add_tokens(ex.caller.uid, ex.caller.known, charge);
    metrics.observe_duration(std::chrono::duration<double>(now - rec.started).count());
    if (rec.first_byte)
        metrics.observe_first_byte(
            std::chrono::duration<double>(*rec.first_byte - rec.started).count());
}

void WorkerLink::drop_all_streams() {
    channel_.close();
    for (auto& [id, ex] : streams_) {
        // The worker is gone mid-request: the stream still ends for its user.
        ex->mark_worker_lost();
        account_for(*ex);
        graveyard_.push_back(std::move(ex));
    }
    g_open_streams.fetch_sub(static_cast<long>(streams_.size()), std::memory_order_relaxed);
    streams_.clear();
    graveyard_.clear();
}

void WorkerLink::on_message(const ipc::MessageView& msg) {
    if (killed_) return;
    unsigned state;
    UpstreamExchange* ex = nullptr;
    if (msg.stream == 0) {
        state = kControl;
    } else if (auto it = streams_.find(msg.stream); it != streams_.end()) {
        ex = it->second.get();
        state = ex->request_done() ? kDone : kBody;
    } else {
        state = msg.stream > max_stream_seen_ ? kNew : kStale;
    }
    for (const Answer& a : kAnswers) {
        if (a.type != msg.type) continue;
        if (!(a.allowed & state)) {
            hostile(ipc::type_name(msg.type), "message not allowed in this stream state");
            return;
        }
        if (!(this->*a.handler)(msg, ex)) hostile(ipc::type_name(msg.type), "protocol violation");
        return;
    }
    hostile(ipc::type_name(msg.type), "message type a worker may not send");
}

void WorkerLink::on_channel_down(const char* why, bool malformed) {
    if (malformed) {
        hostile("datagram", why);
        return;
    }
    // The worker exited or closed its end; the supervisor reaps and respawns.
    LOG_DEBUG("worker %u channel closed: %s", id_, why);
    drop_all_streams();
}

void WorkerLink::hostile(const char* what, const char* why) {
    if (killed_) return;
    killed_ = true;
    LOG_SECURITY("worker %u (pid %d) sent %s: %s; killing it", id_, static_cast<int>(pid_), what,
                 why);
    ::kill(pid_, SIGKILL);
    drop_all_streams();
}

bool WorkerLink::answer_req_open(const ipc::MessageView& m, UpstreamExchange*) {
    std::string_view body;  // kFlagBody: the first body bytes ride along
    auto open = ipc::decode_req_open(m.payload, m.flags, body);
    if (!open || !opening_body_fits(*open, body, m.flags)) return false;
    // A request on a connection the worker never handed over has nobody
    // behind it that the kernel vouched for.
    auto conn = conns_.find(open->conn);
    if (conn == conns_.end()) return false;
    const Options& o = env_.options;
    // The check the worker made before it forwarded this (policy/forward_policy.hpp):
    // an honest worker never sends what fails it.
    if (auto fault = check_forwarded_request(*open, forward_rules_)) {
        LOG_SECURITY("worker %u request refused: %s", id_, fault->why.c_str());
        return false;
    }
    if (streams_.size() >= o.max_connections) return false;
    max_stream_seen_ = m.stream;
    if (conn->second->gone) {
        // The client left before we got here (or a worker speaks for one
        // that has): nobody's request, nothing upstream, nobody to charge.
        ipc::RespError e{refusal::kClientGone.status,
                         refusal::kClientGone.code,
                         refusal::kClientGone.message,
                         {},
                         0};
        tell_resp_error(m.stream, e);
        return true;
    }
    const PeerIdentity who = conn->second->who;
    Reservation reserve = token_reservation(
        open->framing == BodyFraming::Chunked ? std::nullopt
                                              : std::optional<std::uint64_t>(open->content_length),
        o.max_body_bytes);
    // Nothing reaches the upstream for a caller the policy refuses.
    auto verdict = env_.access.admit_request(who, reserve);
    if (verdict.refusal) {
        refuse_open(m.stream, who, *verdict.refusal, verdict.retry_after);
        return true;
    }
    auto ex = std::make_unique<UpstreamExchange>(env_, *this, m.stream, std::move(*open));
    ex->caller = who;
    ex->reserved = reserve;
    // What the body may ask for is the parent's to decide, on the bytes it
    // sends upstream (docs/design.md, "Request bodies").
    if (const BodyRules rules = env_.access.body_rules(who); rules.reads_body())
        ex->gate_body(rules);
    UpstreamExchange* raw = ex.get();
    streams_.emplace(m.stream, std::move(ex));
    g_open_streams.fetch_add(1, std::memory_order_relaxed);
    raw->start();
    // As a ReqBody and a ReqEnd would be; all of it leaves in one write. A
    // finished exchange waits in the graveyard until the next loop turn, so
    // `raw` is still valid after a failed start.
    if (!body.empty() && !raw->on_req_body(body)) return false;
    return (m.flags & ipc::kFlagLast) == 0 || raw->on_req_end();
}

bool WorkerLink::answer_req_body(const ipc::MessageView& m, UpstreamExchange* ex) {
    if (ex == nullptr) return true;
    if (!ex->on_req_body(m.payload)) return false;
    // A finished exchange waits in the graveyard until the next loop turn,
    // so `ex` is still valid here.
    return (m.flags & ipc::kFlagLast) == 0 || ex->on_req_end();
}

bool WorkerLink::answer_req_end(const ipc::MessageView& m, UpstreamExchange* ex) {
    return m.payload.empty() && (ex == nullptr || ex->on_req_end());
}

bool WorkerLink::answer_req_cancel(const ipc::MessageView& m, UpstreamExchange* ex) {
    if (!m.payload.empty()) return false;
    if (ex) ex->on_cancel();
    return true;
}

bool WorkerLink::answer_resp_credit(const ipc::MessageView& m, UpstreamExchange* ex) {
    auto n = ipc::decode_u32(m.payload);
    if (!n) return false;
    return ex == nullptr || ex->on_resp_credit(*n);
}

void WorkerLink::audit_refusal(const PeerIdentity& who, AuditRecord& a) {
    // Counted whether or not its line is written.
    proxy_metrics().count_request(who.uid, who.known, a.outcome, a.status);
    std::uint32_t wait = 0;
    const double now =
        std::chrono::duration<double>(std::chrono::steady_clock::now().time_since_epoch()).count();
    if (!take(audit_bucket_, now, kAuditPerMinute, wait)) {
        ++audit_dropped_;
        return;
    }
    if (audit_dropped_ != 0) {
        LOG_WARN("worker %u: %llu audit lines of refusals not written (over %u a minute)", id_,
                 static_cast<unsigned long long>(audit_dropped_), kAuditPerMinute);
        audit_dropped_ = 0;
    }
    env_.access.audit(who, a);
}

void WorkerLink::refuse_open(std::uint32_t stream, const PeerIdentity& who, const Refusal& r,
                             std::uint32_t retry_after) {
    ipc::RespError e{r.status, r.code, r.message, r.type, retry_after};
    tell_resp_error(stream, e);
    AuditRecord a;
    a.method = "POST";
    a.path = "/v1/responses";
    a.status = r.status;
    a.outcome = "refused";
    a.code = r.code;
    audit_refusal(who, a);
}

}  // namespace proxy
