#include "worker/client_connection.hpp"

#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>

#include <algorithm>

#include "common/log.hpp"
#include "policy/header_policy.hpp"
#include "policy/refusal.hpp"
#include "policy/request_policy.hpp"
#include "worker/reason_phrase.hpp"
#include "worker/request_head_parser.hpp"
#include "worker/request_intake.hpp"
#include "worker/worker_process.hpp"

namespace proxy {

namespace {
// After an error answer, keep reading (and discarding) for this long so the
// client sees our answer instead of a reset caused by its unread body.
constexpr int kLingerSeconds = 2;

timeval seconds(unsigned s) {
    return timeval{static_cast<time_t>(s), 0};
}
}  // namespace

ClientConnection::ClientConnection(WorkerProcess& worker, evutil_socket_t fd, std::uint32_t conn_id,
                                   bool unix_peer)
    : worker_(worker),
      conn_id_(conn_id),
      unix_peer_(unix_peer),
      waiting_since_(std::chrono::steady_clock::now()) {
    // SSE events must leave at once; never wait to coalesce small writes.
    int one = 1;
    if (!unix_peer_) setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    bev_.reset(bufferevent_socket_new(worker.base(), fd, BEV_OPT_CLOSE_ON_FREE));
    bufferevent_setcb(bev_.get(), nullptr, &ClientConnection::on_write, &ClientConnection::on_event,
                      this);
    // libevent 2.1 writes at most 16 KiB per wakeup; that caps big responses.
    bufferevent_set_max_single_write(bev_.get(), 256 * 1024);
    evbuffer* out = bufferevent_get_output(bev_.get());
    evbuffer_add_cb(out, &ClientConnection::on_output_drained, this);
    evbuffer_add_cb(out, &ClientConnection::on_output_added, this);
    head_timer_.reset(evtimer_new(worker.base(), &ClientConnection::on_head_timer, this));
    start_head_timer(worker.options().header_timeout_s);
    // EV_WRITE off (a new bufferevent starts with it on): output is written
    // through (flush_output), and libevent's write event only finishes what
    // the socket did not take.
    bufferevent_disable(bev_.get(), EV_READ | EV_WRITE);
    // The socket bufferevent freezes its input's end outside its own read
    // callback, which never runs here: we append to it ourselves.
    evbuffer* in = bufferevent_get_input(bev_.get());
    evbuffer_unfreeze(in, 0);
    evbuffer_add_cb(in, &ClientConnection::on_input_drained, this);
    read_ev_.reset(
        event_new(worker.base(), fd, EV_READ | EV_PERSIST, &ClientConnection::on_readable, this));
    arm_read_event();
}

ClientConnection::~ClientConnection() {
    if (flush_scheduled_) worker_.cancel_flush(this);
}

void ClientConnection::start_head_timer(unsigned s) {
    timeval tv = seconds(s);
    evtimer_add(head_timer_.get(), &tv);
}

// ---- input side: parsing and relaying what was read (reading: client_reading.cpp) ----

void ClientConnection::process_input() {
    while (!closed_ && !closing_) {
        evbuffer* in = bufferevent_get_input(bev_.get());
        std::size_t len = evbuffer_get_length(in);
        if (req_ == ReqState::Body) {
            pump_body();
            return;
        }
        // A pipelined request waits until the current exchange is over.
        if (req_ != ReqState::Head || resp_ != RespState::None || len == 0) return;
        // RFC 9112 2.2: ignore one empty line before a request line (some
        // clients send a CRLF after a body); a second one is malformed.
        if (!skipped_empty_line_ && len >= 2) {
            auto* two = reinterpret_cast<const char*>(evbuffer_pullup(in, 2));
            if (two[0] == '\r' && two[1] == '\n') {
                skipped_empty_line_ = true;
                evbuffer_drain(in, 2);
                continue;
            }
        }
        if (!head_started_) {
            // The keep-alive idle timer becomes the head deadline.
            head_started_ = true;
            start_head_timer(worker_.options().header_timeout_s);
        }
        const std::size_t limit = worker_.options().max_header_bytes;
        std::size_t scan = std::min(len, limit + 4);
        auto* p = reinterpret_cast<const char*>(evbuffer_pullup(in, static_cast<ev_ssize_t>(scan)));
        std::size_t head_len = find_head_end(std::string_view(p, scan));
        if (head_len == 0 || head_len > limit) {
            if (len > limit || head_len > limit) refuse(refusal::kHeaderTooLarge);
            return;
        }
        handle_head(std::string_view(p, head_len));
        evbuffer_drain(in, head_len);
        if (closing_ || closed_) return;
    }
}

void ClientConnection::handle_head(std::string_view block) {
    evtimer_del(head_timer_.get());
    head_started_ = false;
    skipped_empty_line_ = false;
    Intake in = take_request_head(block, worker_.intake_rules(unix_peer_),
                                  draining_ || worker_.draining(), conn_id_);
    head_ = std::move(in.head);
    if (in.kind == Intake::Kind::Refuse) {
        refuse(in.refusal);
        return;
    }
    if (in.kind == Intake::Kind::Shutdown) {
        // The answer comes back as ShutdownAnswer.
        resp_ = RespState::Waiting;
        worker_.parent().ask_shutdown_ask(conn_id_);
        return;
    }
    if (in.kind == Intake::Kind::Usage) {
        // The answer comes back as UsageAnswer.
        resp_ = RespState::Waiting;
        worker_.parent().ask_usage_ask(conn_id_);
        return;
    }
    if (in.kind == Intake::Kind::Metrics) {
        // The answer comes back as MetricsAnswer, in pieces.
        resp_ = RespState::Waiting;
        metrics_asked_ = true;
        metrics_text_.clear();
        worker_.parent().ask_metrics_ask(conn_id_);
        return;
    }
    const std::string& payload = in.open;
    stream_ = worker_.open_stream(this);
    worker_.parent().ask_req_open(stream_, payload);
    resp_ = RespState::Waiting;
    body_remaining_ = head_.content_length;
    body_seen_ = 0;
    req_window_.clear();
    if (head_.framing == BodyFraming::Chunked) chunked_.emplace();
    if (head_.framing == BodyFraming::None ||
        (head_.framing == BodyFraming::Length && head_.content_length == 0)) {
        req_ = ReqState::Done;
        worker_.parent().ask_req_end(stream_);
        return;
    }
    req_ = ReqState::Body;
    if (head_.expect_continue) {
        static constexpr char kContinue[] = "HTTP/1.1 100 Continue\r\n\r\n";
        bufferevent_write(bev_.get(), kContinue, sizeof kContinue - 1);
    }
    set_read_timeout(worker_.options().body_timeout_s);
}

void ClientConnection::pump_body() {
    evbuffer* in = bufferevent_get_input(bev_.get());
    while (req_ == ReqState::Body && !closed_ && !closing_) {
        // Flow control: the upstream has not taken what we sent; stop
        // consuming, and update_reading stops reading the socket at read_cap.
        if (req_window_.full()) return;
        std::size_t len = evbuffer_get_length(in);
        if (len == 0) return;
        std::size_t want = std::min<std::size_t>(len, ipc::kMaxPayload);
        if (head_.framing == BodyFraming::Length) {
            want = static_cast<std::size_t>(std::min<std::uint64_t>(want, body_remaining_));
        }
        auto* p = reinterpret_cast<const char*>(evbuffer_pullup(in, static_cast<ev_ssize_t>(want)));
        std::string_view avail(p, want);
        if (head_.framing == BodyFraming::Length) {
            worker_.parent().ask_req_body(stream_, avail);
            req_window_.sent(want);
            body_remaining_ -= want;
            evbuffer_drain(in, want);
            if (body_remaining_ == 0) request_body_done();
            continue;
        }
        std::size_t consumed = 0;
        std::string_view data;
        auto st = chunked_->feed(avail, consumed, data);
        if (st == ChunkedDecoder::Status::Error) {
            evbuffer_drain(in, consumed);
            body_failed(refusal::kBadRequest);
            return;
        }
        if (!data.empty()) {
            body_seen_ += data.size();
            if (body_seen_ > worker_.options().max_body_bytes) {
                body_failed(refusal::kBodyTooLarge);
                return;
            }
            worker_.parent().ask_req_body(stream_, data);
            req_window_.sent(data.size());
        }
        evbuffer_drain(in, consumed);
        if (st == ChunkedDecoder::Status::Done)
            request_body_done();
        else if (st == ChunkedDecoder::Status::NeedMore && consumed == 0)
            return;
    }
}

void ClientConnection::request_body_done() {
    req_ = ReqState::Done;
    chunked_.reset();
    set_read_timeout(0);
    if (stream_ != 0) worker_.parent().ask_req_end(stream_);
    if (resp_ == RespState::Done) exchange_finished();
}

// The client's body was bad or too large after the request was forwarded.
void ClientConnection::body_failed(const Refusal& r) {
    if (resp_ == RespState::Waiting) {
        cancel_stream();
        refuse(r);
    } else {
        close_now();
    }
}

bool ClientConnection::on_req_credit(std::uint32_t bytes) {
    // The parent credits what the upstream took of what we sent: never more.
    if (!req_window_.take_credit(bytes)) return false;
    if (req_ == ReqState::Body) pump_body();
    return true;
}

// ---- closing ----

void ClientConnection::cancel_stream() {
    if (stream_ == 0) return;
    worker_.parent().ask_req_cancel(stream_);
    worker_.end_stream(stream_);
    stream_ = 0;
}

void ClientConnection::close_after_flush() {
    if (closed_ || closing_) return;
    closing_ = true;
    evtimer_del(head_timer_.get());
    set_read_timeout(0);
    if (evbuffer_get_length(bufferevent_get_output(bev_.get())) == 0) finish_close();
}

void ClientConnection::finish_close() {
    if (shutdown_pending_) {
        shutdown_pending_ = false;
        worker_.parent().ask_shutdown();
    }
    if (!linger_after_flush_) {
        close_now();
        return;
    }
    // Lingering close: half-close our side, discard what the client still
    // sends for a short while, then close. Closing with unread input would
    // send a reset that can destroy our error answer in flight.
    if (read_eof_) {  // the client is gone already
        close_now();
        return;
    }
    lingering_ = true;
    ::shutdown(bufferevent_getfd(bev_.get()), SHUT_WR);
    evbuffer_drain(bufferevent_get_input(bev_.get()), static_cast<size_t>(-1));
    read_timeout_s_ = 0;
    read_paused_ = false;
    arm_read_event();
    timeval tv = seconds(kLingerSeconds);
    evtimer_add(head_timer_.get(), &tv);
}

void ClientConnection::close_now() {
    if (closed_) return;
    closed_ = true;
    if (flush_scheduled_) {
        worker_.cancel_flush(this);
        flush_scheduled_ = false;
    }
    cancel_stream();
    head_timer_.reset();
    read_ev_.reset();
    bev_.reset();
    worker_.connection_closed(this);
}

void ClientConnection::shed() {
    if (head_started_)
        refuse(refusal::kRequestTimeout);
    else
        close_now();
}

void ClientConnection::begin_drain() {
    draining_ = true;
    if (req_ == ReqState::Head && resp_ == RespState::None && !closing_) close_now();
}

void ClientConnection::on_head_timer(evutil_socket_t, short, void* arg) noexcept {
    auto* self = static_cast<ClientConnection*>(arg);
    if (self->lingering_ || self->closing_) {
        self->close_now();
        return;
    }
    if (self->req_ != ReqState::Head || self->resp_ != RespState::None) return;
    if (self->head_started_) {
        self->refuse(refusal::kRequestTimeout);
    } else {
        self->close_now();  // idle keep-alive connection
    }
}

void ClientConnection::on_event(bufferevent*, short what, void* arg) noexcept {
    auto* self = static_cast<ClientConnection*>(arg);
    if (self->lingering_) {
        self->close_now();
        return;
    }
    if (what & BEV_EVENT_TIMEOUT) {
        if ((what & BEV_EVENT_READING) && self->req_ == ReqState::Body) {
            self->body_failed(refusal::kRequestTimeout);
        } else {
            self->close_now();
        }
        return;
    }
    // EOF or a reset: the client is gone. A half-close (FIN after a complete
    // request) cannot be told apart from a full close without writing, and an
    // SSE stream may not write for minutes, so it counts as an abort too, as
    // in nginx (proxy_ignore_client_abort off) and Go's net/http: close_now
    // cancels the stream and the parent closes the upstream connection.
    self->close_now();
}

}  // namespace proxy
