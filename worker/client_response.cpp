// The output half of ClientConnection: the response toward the client
// (status line, mirrored headers, our own framing, every chunk written as it
// arrives), refusals with JSON bodies, and response-body credit to the parent.
#include <algorithm>
#include <cerrno>
#include <cstdio>

#include "policy/refusal.hpp"
#include "worker/client_connection.hpp"
#include "worker/reason_phrase.hpp"
#include "worker/worker_process.hpp"

namespace proxy {

void ClientConnection::write_response_head(int status, const HeaderList& headers,
                                           BodyFraming framing, std::uint64_t length,
                                           bool keep_alive) {
    std::string out;
    out.reserve(256);
    char line[64];
    int n = std::snprintf(line, sizeof line, "HTTP/1.1 %d %s\r\n", status, reason_phrase(status));
    out.append(line, static_cast<std::size_t>(n));
    for (const auto& h : headers) {
        out.append(h.name).append(": ").append(h.value).append("\r\n");
    }
    // 1xx, 204 and 304 carry no body and no framing header (RFC 9110 8.6).
    const bool bodiless = status < 200 || status == 204 || status == 304;
    if (bodiless) {
    } else if (framing == BodyFraming::Length) {
        n = std::snprintf(line, sizeof line, "Content-Length: %llu\r\n",
                          static_cast<unsigned long long>(length));
        out.append(line, static_cast<std::size_t>(n));
    } else if (resp_chunked_) {
        out.append("Transfer-Encoding: chunked\r\n");
    }
    if (!keep_alive) out.append("Connection: close\r\n");
    out.append("\r\n");
    bufferevent_write(bev_.get(), out.data(), out.size());
}

void ClientConnection::send_error(int status, const char* type, const char* code,
                                  std::string_view message, bool note, std::uint32_t retry_after) {
    if (closed_ || closing_) return;
    if (note) {
        ipc::Refused n;
        n.conn = conn_id_;
        n.status = static_cast<std::uint16_t>(status);
        n.code = code;
        n.method = head_.method.substr(0, ipc::kMaxRefusedField);
        n.path = head_.target.substr(0, ipc::kMaxRefusedField);
        worker_.parent().ask_refused(n);
    }
    std::string body = json_error_body(message, type, code);
    HeaderList headers{{"Content-Type", "application/json"}};
    if (retry_after != 0) headers.push_back({"Retry-After", std::to_string(retry_after)});
    resp_chunked_ = false;
    write_response_head(status, headers, BodyFraming::Length, body.size(), false);
    bufferevent_write(bev_.get(), body.data(), body.size());
    linger_after_flush_ = true;
    close_after_flush();
}

void ClientConnection::refuse(const Refusal& r) {
    send_error(r.status, r.type, r.code, r.message);
}

void ClientConnection::on_resp_head(const ipc::RespHead& start) {
    if (resp_ != RespState::Waiting || closed_) return;
    resp_ = RespState::Streaming;
    resp_window_.clear();
    resp_chunked_ = false;
    resp_close_delimited_ = false;
    if (start.framing != BodyFraming::Length) {
        // Unknown length: chunked for HTTP/1.1 clients, close-delimited for 1.0.
        if (head_.version_minor >= 1)
            resp_chunked_ = true;
        else
            resp_close_delimited_ = true;
    }
    if (start.status < 200 || start.status == 204 || start.status == 304) {
        resp_chunked_ = false;
        resp_close_delimited_ = false;
    }
    // A client that half-closed after its request has nothing more to send:
    // the connection ends with this answer.
    keep_alive_ = head_.keep_alive && !resp_close_delimited_ && !draining_ && !worker_.draining() &&
                  req_ == ReqState::Done && !read_eof_;
    write_response_head(start.status, start.headers, start.framing, start.content_length,
                        keep_alive_);
}

void ClientConnection::on_resp_body(std::string_view data) {
    if (resp_ != RespState::Streaming || closed_ || data.empty()) return;
    evbuffer* out = bufferevent_get_output(bev_.get());
    if (resp_chunked_) evbuffer_add_printf(out, "%zx\r\n", data.size());
    evbuffer_add(out, data.data(), data.size());
    if (resp_chunked_) evbuffer_add(out, "\r\n", 2);
    // The parent stops reading the upstream when the window is full; whether
    // it overran is not checked here: the parent is the trusted side.
    (void)resp_window_.received(data.size());
}

void ClientConnection::on_resp_end() {
    if (resp_ != RespState::Streaming || closed_) return;
    if (resp_chunked_) bufferevent_write(bev_.get(), "0\r\n\r\n", 5);
    worker_.end_stream(stream_);
    stream_ = 0;
    resp_ = RespState::Done;
    if (req_ == ReqState::Done) {
        exchange_finished();
    } else {
        // The upstream answered before the request body was complete; the
        // rest of the body cannot be skipped reliably, so the connection ends.
        close_after_flush();
    }
}

void ClientConnection::on_resp_abort() {
    if (closed_) return;
    // No final chunk and no more bytes: the client must see a truncated
    // response, never a complete one.
    worker_.end_stream(stream_);
    stream_ = 0;
    resp_ = RespState::Done;
    close_after_flush();
}

void ClientConnection::on_resp_error(const ipc::RespError& error) {
    if (closed_) return;
    worker_.end_stream(stream_);
    stream_ = 0;
    if (resp_ == RespState::Waiting) {
        resp_ = RespState::Done;
        const char* type = !error.type.empty()   ? error.type.c_str()
                           : error.status >= 500 ? refusal::kServer
                                                 : refusal::kClient;
        send_error(error.status, type, error.code.c_str(), error.message, false, error.retry_after);
    } else {
        resp_ = RespState::Done;
        close_after_flush();
    }
}

void ClientConnection::exchange_finished() {
    // A later refusal on this connection (a head that times out) must not
    // name this request in its audit note.
    head_.method.clear();
    head_.target.clear();
    req_ = ReqState::Head;
    resp_ = RespState::None;
    chunked_.reset();
    if (!keep_alive_ || read_eof_ || draining_ || worker_.draining()) {
        close_after_flush();
        return;
    }
    start_head_timer(worker_.options().keepalive_timeout_s);
    waiting_since_ = std::chrono::steady_clock::now();
    process_input();
}

void ClientConnection::on_output_drained(evbuffer* buf, const evbuffer_cb_info* info,
                                         void* arg) noexcept {
    auto* self = static_cast<ClientConnection*>(arg);
    if (info->n_deleted == 0 || self->stream_ == 0) return;
    // Response credit for what the client took: at most the window and a
    // piece, so it fits the message's u32.
    if (std::uint64_t credit = self->resp_window_.grant(evbuffer_get_length(buf)))
        self->worker_.parent().ask_resp_credit(self->stream_, static_cast<std::uint32_t>(credit));
}

// Every byte added to the output, whatever wrote it, schedules one direct
// write for this loop turn; while libevent's write event finishes a partial
// write, it takes the new bytes too.
void ClientConnection::on_output_added(evbuffer*, const evbuffer_cb_info* info,
                                       void* arg) noexcept {
    auto* self = static_cast<ClientConnection*>(arg);
    if (info->n_added == 0 || self->closed_ || self->flush_scheduled_ || self->write_waiting_)
        return;
    self->flush_scheduled_ = true;
    self->worker_.schedule_flush(self);
}

void ClientConnection::flush_output() {
    flush_scheduled_ = false;
    if (closed_ || write_waiting_) return;
    evbuffer* out = bufferevent_get_output(bev_.get());
    if (evbuffer_get_length(out) == 0) return;
    // One writev; the drain runs on_output_drained (response credit). The
    // socket bufferevent keeps the front of its output frozen and unfreezes it
    // around its own writes; evbuffer_write on a frozen buffer fails at once.
    evbuffer_unfreeze(out, 1);
    int n = evbuffer_write(out, bufferevent_getfd(bev_.get()));
    int err = errno;
    evbuffer_freeze(out, 1);
    if (n < 0) {
        if (err != EAGAIN && err != EWOULDBLOCK && err != EINTR) {
            close_now();  // as a bufferevent write error would
            return;
        }
    }
    if (evbuffer_get_length(out) != 0) {
        // The socket is full: libevent writes the rest when it is writable.
        write_waiting_ = true;
        bufferevent_enable(bev_.get(), EV_WRITE);
        return;
    }
    if (closing_ && !lingering_) finish_close();
}

// libevent drained what flush_output left: back to write-through.
void ClientConnection::on_write(bufferevent* bev, void* arg) noexcept {
    auto* self = static_cast<ClientConnection*>(arg);
    self->write_waiting_ = false;
    bufferevent_disable(bev, EV_WRITE);
    if (self->closing_ && !self->lingering_) self->finish_close();
}

}  // namespace proxy
