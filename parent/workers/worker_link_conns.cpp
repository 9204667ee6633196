// WorkerLink's answers about client connections rather than streams: a
// connection handed over (ConnOpen) and closed (ConnClose), the client
// leaving on its own (seen on the socket the parent keeps), GET /shutdown
// (ShutdownAsk, Shutdown), GET /metrics (MetricsAsk) and the worker's own
// refusals (Refused).
#include <sys/epoll.h>

#include <cerrno>
#include <csignal>
#include <cstring>

#include "common/json.hpp"
#include "common/log.hpp"
#include "parent/users/access_control.hpp"
#include "parent/workers/supervisor.hpp"
#include "parent/workers/worker_link.hpp"

namespace proxy {

bool WorkerLink::answer_conn_open(const ipc::MessageView& m, UpstreamExchange*) {
    auto id = ipc::decode_u32(m.payload);
    // Connection ids only grow: an id seen before is a replay.
    if (!id || *id <= max_conn_seen_ || m.fd < 0 || m.fd_owner == nullptr ||
        conns_.size() >= max_client_conns(env_.options))
        return false;
    max_conn_seen_ = *id;
    auto c = std::make_unique<ClientConn>();
    c->id = *id;
    std::string why;
    auto found = env_.access.identify(m.fd, why);
    if (!found) {
        LOG_SECURITY("worker %u handed over %s", id_, why.c_str());
        return false;
    }
    c->who = *found;
    // Kept, never read or written: EPOLLRDHUP says when the client has gone.
    if (clients_watch_) {
        epoll_event ev{};
        ev.events = EPOLLRDHUP;
        ev.data.u64 = *id;
        if (::epoll_ctl(clients_watch_.get(), EPOLL_CTL_ADD, m.fd, &ev) == 0) {
            c->fd = std::move(*m.fd_owner);
        } else {
            LOG_WARN("worker %u: cannot watch a client connection: %s", id_, std::strerror(errno));
        }
    }
    conns_.emplace(*id, std::move(c));
    return true;
}

void WorkerLink::unwatch(ClientConn& c) {
    // Out of the set before the descriptor closes: the worker still holds
    // the socket, so closing ours alone would leave it registered.
    if (c.fd) ::epoll_ctl(clients_watch_.get(), EPOLL_CTL_DEL, c.fd.get(), nullptr);
    c.fd.reset();
}

void WorkerLink::on_clients_closed(evutil_socket_t, short, void* arg) noexcept {
    auto* self = static_cast<WorkerLink*>(arg);
    epoll_event evs[64];
    int n = ::epoll_wait(self->clients_watch_.get(), evs, 64, 0);
    for (int i = 0; i < n && !self->killed_; ++i) {
        auto it = self->conns_.find(static_cast<std::uint32_t>(evs[i].data.u64));
        if (it != self->conns_.end() && !it->second->gone) self->client_gone(*it->second);
    }
}

// The client closed (or half-closed, which the worker takes for an abort
// too). Its streams end as client aborts, charged to the user for what the
// upstream did until now, whether or not the worker says so; a request the
// worker opens on this connection from now on is nobody's.
void WorkerLink::client_gone(ClientConn& c) {
    c.gone = true;
    unwatch(c);
    std::vector<UpstreamExchange*> mine;
    for (auto& [stream, ex] : streams_)
        if (ex->conn_id() == c.id) mine.push_back(ex.get());
    // A finished exchange moves to the graveyard: the pointers stay valid.
    for (UpstreamExchange* ex : mine) ex->on_client_gone();
}

bool WorkerLink::answer_conn_close(const ipc::MessageView& m, UpstreamExchange*) {
    auto id = ipc::decode_u32(m.payload);
    if (!id) return false;
    auto it = conns_.find(*id);
    if (it == conns_.end()) return false;
    unwatch(*it->second);
    conns_.erase(it);
    return true;
}

bool WorkerLink::answer_shutdown_ask(const ipc::MessageView& m, UpstreamExchange*) {
    auto id = ipc::decode_u32(m.payload);
    // Only workers of a proxy started with --http-shutdown may ask.
    if (!id || !env_.options.http_shutdown) return false;
    auto conn = conns_.find(*id);
    if (conn == conns_.end()) return false;
    const ClientConn& c = *conn->second;
    const Refusal* refused = nullptr;
    if (c.gone)
        refused = &refusal::kClientGone;  // nobody is asking any more
    else
        refused = env_.access.may_shutdown(c.who);
    auto verdict = ipc::ShutdownVerdict::Granted;
    if (refused == nullptr) {
        shutdown_granted_ = true;
    } else if (refused == &refusal::kClientGone) {
        verdict = ipc::ShutdownVerdict::Refused;
    } else {
        verdict = refused == &refusal::kUserUnidentified ? ipc::ShutdownVerdict::Unidentified
                                                         : ipc::ShutdownVerdict::Refused;
        env_.access.count_refusal(c.who);
        AuditRecord a;
        a.method = "GET";
        a.path = "/shutdown";
        a.status = refused->status;
        a.outcome = "refused";
        a.code = refused->code;
        audit_refusal(c.who, a);
    }
    tell_shutdown_answer(*id, verdict);
    return true;
}

void WorkerLink::tell_shutdown_answer(std::uint32_t conn, ipc::ShutdownVerdict verdict) {
    send_to_worker(ipc::Type::ShutdownAnswer, 0, ipc::encode_shutdown_answer(conn, verdict));
}

// GET /usage: the figures of the caller the kernel vouched for on this
// connection, never of anyone the worker names.
bool WorkerLink::answer_usage_ask(const ipc::MessageView& m, UpstreamExchange*) {
    auto id = ipc::decode_u32(m.payload);
    if (!id) return false;
    auto conn = conns_.find(*id);
    if (conn == conns_.end()) return false;
    const ClientConn& c = *conn->second;
    ipc::UsageAnswer answer;
    answer.conn = *id;
    const Refusal* refused = nullptr;
    if (c.gone) {
        refused = &refusal::kClientGone;
    } else if (auto view = env_.access.usage_of(c.who, refused)) {
        answer.status = 200;
        answer.body = usage_json(*view);
    }
    if (refused != nullptr) {
        answer.status = refused->status >= 400 && refused->status < 500 ? refused->status : 403;
        answer.body = json_error_body(refused->message, refused->type, refused->code);
    }
    AuditRecord a;
    a.method = "GET";
    a.path = "/usage";
    a.status = answer.status;
    a.outcome = refused ? "refused" : "ok";
    if (refused) a.code = refused->code;
    audit_refusal(c.who, a);
    tell_usage_answer(answer);
    return true;
}

void WorkerLink::tell_usage_answer(const ipc::UsageAnswer& answer) {
    send_to_worker(ipc::Type::UsageAnswer, 0, ipc::encode_usage_answer(answer));
}

bool WorkerLink::answer_metrics_ask(const ipc::MessageView& m, UpstreamExchange*) {
    auto id = ipc::decode_u32(m.payload);
    if (!id) return false;
    auto conn = conns_.find(*id);
    if (conn == conns_.end()) return false;
    const ClientConn& c = *conn->second;
    if (c.gone) {
        tell_metrics_answer(*id, ipc::MetricsVerdict::Refused, {});  // nobody is asking any more
        return true;
    }
    if (const Refusal* refused = env_.access.may_read_metrics(c.who)) {
        env_.access.count_refusal(c.who);
        AuditRecord a;
        a.method = "GET";
        a.path = "/metrics";
        a.status = refused->status;
        a.outcome = "refused";
        a.code = refused->code;
        audit_refusal(c.who, a);
        tell_metrics_answer(*id,
                            refused == &refusal::kUserUnidentified
                                ? ipc::MetricsVerdict::Unidentified
                                : ipc::MetricsVerdict::Refused,
                            {});
        return true;
    }
    std::string text = env_.access.render_metrics();
    // Bounded by the users of the machine; past the cap (a machine with
    // tens of thousands of active users) the text is cut at a line, which a
    // scraper still parses, and the operator hears of it.
    if (text.size() > ipc::kMaxMetricsText) {
        text.resize(text.rfind('\n', ipc::kMaxMetricsText - 1) + 1);
        LOG_WARN("GET /metrics: text over %zu bytes, cut", ipc::kMaxMetricsText);
    }
    // The text rides on the worker's queue like any answer; a worker that
    // has not read what it got (or many scrapes at once) gets a 503 rather
    // than a queue over its cap, which would be its death.
    if (channel_.queued_bytes() + text.size() + ipc::kMaxMessage > queue_cap_) {
        tell_metrics_answer(*id, ipc::MetricsVerdict::Busy, {});
        return true;
    }
    tell_metrics_answer(*id, ipc::MetricsVerdict::Granted, text);
    return true;
}

void WorkerLink::tell_metrics_answer(std::uint32_t conn, ipc::MetricsVerdict verdict,
                                     std::string_view text) {
    // One datagram per piece; the last (or only, and for a refusal empty)
    // one carries kFlagLast.
    std::string piece;
    do {
        const std::string_view part = text.substr(0, ipc::kMaxMetricsPiece);
        text.remove_prefix(part.size());
        piece = ipc::encode_metrics_answer(conn, verdict, part);
        send_to_worker(ipc::Type::MetricsAnswer, 0, piece, text.empty() ? ipc::kFlagLast : 0);
    } while (!text.empty());
}

bool WorkerLink::answer_refused(const ipc::MessageView& m, UpstreamExchange*) {
    auto note = ipc::decode_refused(m.payload);
    if (!note) return false;
    // A refusal on a connection already closed is still worth a line; it
    // just has nobody to name.
    PeerIdentity who;
    if (auto conn = conns_.find(note->conn); conn != conns_.end()) who = conn->second->who;
    env_.access.count_refusal(who);
    AuditRecord a;
    a.method = note->method;
    a.path = note->path;
    a.status = note->status;
    a.outcome = "refused";
    a.code = note->code;
    audit_refusal(who, a);
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
