// ClientConnection: the answers the parent decides for requests that are not
// forwarded (GET /shutdown, GET /usage, GET /metrics), written to the client.
// The rest of the connection is client_connection.cpp.
#include <event2/buffer.h>
#include <event2/bufferevent.h>

#include <string>

#include "policy/refusal.hpp"
#include "worker/client_connection.hpp"
#include "worker/reason_phrase.hpp"
#include "worker/worker_process.hpp"

namespace proxy {

void ClientConnection::on_shutdown_answer(ipc::ShutdownVerdict verdict) {
    if (closed_ || resp_ != RespState::Waiting || stream_ != 0) return;
    resp_ = RespState::Done;
    if (verdict != ipc::ShutdownVerdict::Granted) {
        // The parent audits the refusal itself: no note.
        const Refusal& r = verdict == ipc::ShutdownVerdict::Unidentified
                               ? refusal::kUserUnidentified
                               : refusal::kUserNotAllowed;
        send_error(r.status, r.type, r.code, r.message, false);
        return;
    }
    static constexpr char kOk[] =
        "HTTP/1.1 200 OK\r\nContent-Length: 0\r\nConnection: close\r\n\r\n";
    bufferevent_write(bev_.get(), kOk, sizeof kOk - 1);
    shutdown_pending_ = true;
    close_after_flush();
}

void ClientConnection::on_usage_answer(const ipc::UsageAnswer& answer) {
    if (closed_ || resp_ != RespState::Waiting || stream_ != 0) return;
    resp_ = RespState::Done;
    std::string out = "HTTP/1.1 " + std::to_string(answer.status) + " " +
                      std::string(reason_phrase(answer.status)) +
                      "\r\nContent-Type: application/json\r\nCache-Control: no-store\r\n"
                      "Content-Length: " +
                      std::to_string(answer.body.size()) + "\r\nConnection: close\r\n\r\n";
    out += answer.body;
    bufferevent_write(bev_.get(), out.data(), out.size());
    close_after_flush();
}

bool ClientConnection::on_metrics_answer(ipc::MetricsVerdict verdict, std::string_view text,
                                         bool last) {
    // The parent answers each ask once: pieces with nothing asked, or more
    // text than it may send, mean the two disagree.
    if (!metrics_asked_ || metrics_text_.size() + text.size() > ipc::kMaxMetricsText) return false;
    metrics_text_.append(text);
    if (!last) return true;
    metrics_asked_ = false;
    std::string body;
    body.swap(metrics_text_);
    if (closed_ || resp_ != RespState::Waiting || stream_ != 0) return true;
    resp_ = RespState::Done;
    if (verdict != ipc::MetricsVerdict::Granted) {
        // The parent audits a refusal itself: no note.
        const Refusal& r = verdict == ipc::MetricsVerdict::Unidentified ? refusal::kUserUnidentified
                           : verdict == ipc::MetricsVerdict::Busy       ? refusal::kOverloaded
                                                                  : refusal::kMetricsNotAllowed;
        send_error(r.status, r.type, r.code, r.message, false);
        return true;
    }
    // The Prometheus text exposition format, version 0.0.4. One answer per
    // connection, as for the other answers the parent decides.
    const HeaderList headers{{"Content-Type", "text/plain; version=0.0.4; charset=utf-8"},
                             {"Cache-Control", "no-store"}};
    resp_chunked_ = false;
    write_response_head(200, headers, BodyFraming::Length, body.size(), false);
    bufferevent_write(bev_.get(), body.data(), body.size());
    close_after_flush();
    return true;
}

}  // namespace proxy
