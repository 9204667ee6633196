#include "parent/worker_link.hpp"

#include <atomic>
#include <csignal>

#include "common/log.hpp"
#include "parent/access_control.hpp"
#include "parent/supervisor.hpp"
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
};

// A body riding on a ReqOpen must fit the framing it declares, checked before
// anything is written upstream (UpstreamExchange checks again as it goes).
bool opening_body_fits(const ipc::OpenRequest& open, std::string_view body, std::uint16_t flags) {
    if (open.framing == BodyFraming::None) return body.empty();
    if (open.framing != BodyFraming::Length) return true;
    if (body.size() > open.content_length) return false;
    return (flags & ipc::kFlagLast) == 0 || body.size() == open.content_length;
}

// A worker holds at most --max-connections clients; twice that is a worker
// that forgets to close what it opened.
std::size_t max_conns(const Options& o) {
    return 2 * static_cast<std::size_t>(o.max_connections) + 64;
}

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
      channel_(base, std::move(channel_fd), *this) {
    reap_event_.reset(event_new(base, -1, 0, &WorkerLink::on_reap, this));
}

WorkerLink::~WorkerLink() {
    graveyard_.clear();
    g_open_streams.fetch_sub(static_cast<long>(streams_.size()), std::memory_order_relaxed);
    streams_.clear();
}

void WorkerLink::send_to_worker(ipc::Type type, std::uint32_t stream, std::string_view payload) {
    channel_.send(type, stream, payload);
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

void WorkerLink::on_reap(evutil_socket_t, short, void* arg) {
    static_cast<WorkerLink*>(arg)->graveyard_.clear();
}

void WorkerLink::account_for(UpstreamExchange& ex) {
    if (env_.access == nullptr) return;
    const ExchangeRecord& rec = ex.record();
    const TokenCharge charge = ex.charge();
    env_.access->stream_ended(ex.caller, ex.reserved_tokens, charge);
    AuditRecord a;
    a.method = "POST";
    a.path = "/v1/responses";
    a.status = rec.status;
    a.outcome = rec.outcome;
    a.code = rec.code;
    a.request_bytes = rec.request_bytes;
    a.response_bytes = rec.response_bytes;
    a.duration_ms =
        std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - rec.started)
            .count();
    a.request_id = rec.request_id;
    a.tokens_in = charge.input;
    a.tokens_out = charge.output;
    a.tokens_estimated = charge.estimated;
    env_.access->audit(ex.caller, a);
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
    auto open = ipc::decode_open(m.payload, m.flags, body);
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
    const PeerIdentity who = conn->second;
    const std::uint64_t reserve = token_reservation(
        open->framing == BodyFraming::Chunked ? std::nullopt
                                              : std::optional<std::uint64_t>(open->content_length),
        o.max_body_bytes);
    if (env_.access != nullptr) {
        // Nothing reaches the upstream for a caller the policy refuses.
        auto verdict = env_.access->admit_request(who, reserve);
        if (verdict.refusal) {
            refuse_open(m.stream, who, *verdict.refusal, verdict.retry_after);
            return true;
        }
    }
    auto ex = std::make_unique<UpstreamExchange>(env_, *this, m.stream, std::move(*open));
    ex->caller = who;
    ex->reserved_tokens = reserve;
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
    if (ex) ex->on_resp_credit(*n);
    return true;
}

void WorkerLink::refuse_open(std::uint32_t stream, const PeerIdentity& who, const Refusal& r,
                             std::uint32_t retry_after) {
    ipc::ErrorReply e{r.status, r.code, r.message, r.type, retry_after};
    send_to_worker(ipc::Type::RespError, stream, ipc::encode_error(e));
    AuditRecord a;
    a.method = "POST";
    a.path = "/v1/responses";
    a.status = r.status;
    a.outcome = "refused";
    a.code = r.code;
    env_.access->audit(who, a);
}

bool WorkerLink::answer_conn_open(const ipc::MessageView& m, UpstreamExchange*) {
    auto id = ipc::decode_u32(m.payload);
    // Connection ids only grow: an id seen before is a replay.
    if (!id || *id <= max_conn_seen_ || m.fd < 0 || conns_.size() >= max_conns(env_.options))
        return false;
    max_conn_seen_ = *id;
    PeerIdentity who;
    if (env_.access != nullptr) {
        std::string why;
        auto found = env_.access->identify(m.fd, why);
        if (!found) {
            LOG_SECURITY("worker %u handed over %s", id_, why.c_str());
            return false;
        }
        who = *found;
    }
    conns_.emplace(*id, who);
    return true;
}

bool WorkerLink::answer_conn_close(const ipc::MessageView& m, UpstreamExchange*) {
    auto id = ipc::decode_u32(m.payload);
    return id && conns_.erase(*id) == 1;
}

bool WorkerLink::answer_shutdown_ask(const ipc::MessageView& m, UpstreamExchange*) {
    auto id = ipc::decode_u32(m.payload);
    // Only workers of a proxy started with --http-shutdown may ask.
    if (!id || !env_.options.http_shutdown) return false;
    auto conn = conns_.find(*id);
    if (conn == conns_.end()) return false;
    const Refusal* refused = env_.access ? env_.access->may_shutdown(conn->second) : nullptr;
    auto verdict = ipc::ShutdownVerdict::Granted;
    if (refused == nullptr) {
        shutdown_granted_ = true;
    } else {
        verdict = refused == &refusal::kUserUnidentified ? ipc::ShutdownVerdict::Unidentified
                                                         : ipc::ShutdownVerdict::Refused;
        env_.access->count_refusal(conn->second);
        AuditRecord a;
        a.method = "GET";
        a.path = "/shutdown";
        a.status = refused->status;
        a.outcome = "refused";
        a.code = refused->code;
        env_.access->audit(conn->second, a);
    }
    send_to_worker(ipc::Type::ShutdownAnswer, 0, ipc::encode_shutdown_answer(*id, verdict));
    return true;
}

bool WorkerLink::answer_refused(const ipc::MessageView& m, UpstreamExchange*) {
    auto note = ipc::decode_refusal_note(m.payload);
    if (!note) return false;
    if (env_.access == nullptr) return true;
    // A refusal on a connection already closed is still worth a line; it
    // just has nobody to name.
    PeerIdentity who;
    if (auto conn = conns_.find(note->conn); conn != conns_.end()) who = conn->second;
    env_.access->count_refusal(who);
    AuditRecord a;
    a.method = note->method;
    a.path = note->path;
    a.status = note->status;
    a.outcome = "refused";
    a.code = note->code;
    env_.access->audit(who, a);
    return true;
}

bool WorkerLink::answer_shutdown(const ipc::MessageView& m, UpstreamExchange*) {
    // Only after the parent granted a ShutdownAsk, and only once per grant.
    if (!m.payload.empty() || !env_.options.http_shutdown || !shutdown_granted_) return false;
    shutdown_granted_ = false;
    LOG_INFO("shutdown requested over HTTP (worker %u)", id_);
    supervisor_.request_shutdown();
    return true;
}

}  // namespace proxy
