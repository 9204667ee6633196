// UpstreamTransport, its data path: reading and decrypting, the events, the
// inactivity timer and the owner's callbacks. Encrypting and writing are in
// upstream_transport_write.cpp; setting up (resolve, connect, handshake, the
// BIO) in upstream_transport_setup.cpp.
#include "parent/upstream/upstream_transport.hpp"

#include <netinet/in.h>
#include <netinet/tcp.h>
#include <openssl/err.h>
#include <sys/socket.h>
#include <sys/uio.h>

#include <algorithm>
#include <cerrno>
#include <cstring>

#include "parent/upstream/upstream_transport_io.hpp"

namespace proxy {

using transport_io::clear_tls_errors;
using transport_io::would_block;

namespace {
// Reads start small and double while they fill the buffer, up to the max: a
// bulk download reads 128 KiB per wakeup, while thousands of streams that
// trickle events never allocate (and fragment the heap with) big buffers.
constexpr std::size_t kReadMin = 16 * 1024;
constexpr std::size_t kReadMax = 128 * 1024;
constexpr std::size_t kDecryptChunk = 64 * 1024;  // plaintext reserved per SSL_read round, at most
}  // namespace

// ---- reading ----

void UpstreamTransport::read_socket() {
    evbuffer* dst = ssl_ ? cipher_in_.get() : in_.get();
    evbuffer_iovec vec[2];
    int n = evbuffer_reserve_space(dst, static_cast<ev_ssize_t>(read_size_), vec, 2);
    if (n <= 0) {
        socket_error_ = ENOMEM;
        fail(BEV_EVENT_ERROR | BEV_EVENT_READING);
        return;
    }
    iovec iov[2];
    for (int i = 0; i < n; ++i) iov[i] = {vec[i].iov_base, vec[i].iov_len};
    ssize_t got = ::readv(fd_.get(), iov, n);
    std::size_t left = got > 0 ? static_cast<std::size_t>(got) : 0;
    for (int i = 0; i < n; ++i) {
        vec[i].iov_len = std::min(vec[i].iov_len, left);
        left -= vec[i].iov_len;
    }
    evbuffer_commit_space(dst, vec, n);
    if (got < 0) {
        if (would_block(errno)) return;
        socket_error_ = errno;
        fail(BEV_EVENT_ERROR | BEV_EVENT_READING);
        return;
    }
    if (got > 0) {
        const auto size = static_cast<std::size_t>(got);
        if (size >= read_size_)
            read_size_ = std::min(read_size_ * 2, kReadMax);
        else if (size < read_size_ / 4)
            read_size_ = std::max(read_size_ / 2, kReadMin);
    }
    if (got == 0) {
        eof_ = true;
        event_del(read_ev_.get());
    } else {
        update_timer();
    }
    if (state_ == State::Tunneling) {
        read_tunnel_answer();
        return;
    }
    if (state_ == State::Handshaking) {
        if (eof_) {
            tls_error_ = "the server closed the connection during the TLS handshake";
            fail(BEV_EVENT_ERROR);
            return;
        }
        handshake();
        return;
    }
    if (ssl_) {
        if (!decrypt()) return;
    } else if (got > 0) {
        if (!report_read()) return;
    }
    if (!finish_eof()) return;
    // After the owner has seen the data: it may have ended its response.
    // Also after a read that completed no TLS record: the rest of the record
    // may be what the upstream's Nagle holds back.
    if (got > 0 && quick_ack_) ack_now();
    // A TLS 1.2 renegotiation may have stalled a write until now.
    if (ssl_ && state_ == State::Open && evbuffer_get_length(out_.get()) > 0) flush();
}

// The kernel drops quick-ACK mode again by itself, so it is asked each time
// (one setsockopt per read while a response is open).
void UpstreamTransport::ack_now() {
    int one = 1;
    setsockopt(fd_.get(), IPPROTO_TCP, TCP_QUICKACK, &one, sizeof one);
}

// Plaintext out of every complete record held; reports it once. False when
// the transport failed or was destroyed.
bool UpstreamTransport::decrypt() {
    bool got_any = false;
    while (reading_ && state_ == State::Open) {
        evbuffer_iovec vec;
        // Plaintext is never longer than the records it came in.
        const std::size_t want =
            std::clamp<std::size_t>(evbuffer_get_length(cipher_in_.get()), 1024, kDecryptChunk);
        if (evbuffer_reserve_space(in_.get(), static_cast<ev_ssize_t>(want), &vec, 1) != 1) break;
        auto* p = static_cast<unsigned char*>(vec.iov_base);
        std::size_t filled = 0;
        int e = SSL_ERROR_NONE;
        while (filled < vec.iov_len) {
            std::size_t n = 0;
            clear_tls_errors();
            int r = SSL_read_ex(ssl_.get(), p + filled, vec.iov_len - filled, &n);
            if (r != 1) {
                e = SSL_get_error(ssl_.get(), r);
                break;
            }
            filled += n;
        }
        vec.iov_len = filled;
        evbuffer_commit_space(in_.get(), &vec, 1);
        got_any |= filled > 0;
        if (e == SSL_ERROR_NONE) continue;  // the reservation filled up: more to come
        if (e == SSL_ERROR_WANT_READ) break;
        if (got_any && !report_read()) return false;
        if (e == SSL_ERROR_ZERO_RETURN) {  // close_notify: a clean end
            if (state_ != State::Open) return false;
            state_ = State::Failed;
            event_del(read_ev_.get());
            update_write_interest();
            update_timer();
            report(BEV_EVENT_EOF | BEV_EVENT_READING);
            return false;
        }
        fail_tls("TLS read", e);
        return false;
    }
    release_tls_buffers();
    if (got_any) return report_read();
    return state_ == State::Open;
}

// OpenSSL 3.0 keeps a TLS 1.3 connection's 16 KiB read buffer even with
// SSL_MODE_RELEASE_BUFFERS; a held stream that sits between events would pay
// for it all the time. It refuses (a no-op) while a partial record is held.
void UpstreamTransport::release_tls_buffers() {
    if (ssl_ && evbuffer_get_length(cipher_in_.get()) == 0) SSL_free_buffers(ssl_.get());
}

// The peer closed: reported once everything before it was handed over. A TLS
// connection that ends without close_notify may have been cut short by
// someone in between, so that is an error, not an end of body.
bool UpstreamTransport::finish_eof() {
    if (!eof_ || state_ != State::Open || !reading_) return true;
    if (ssl_ && (evbuffer_get_length(cipher_in_.get()) > 0 || SSL_pending(ssl_.get()) > 0))
        return true;
    state_ = State::Failed;
    update_write_interest();
    update_timer();
    if (ssl_) {
        tls_error_ = "connection closed without a TLS close_notify";
        report(BEV_EVENT_ERROR | BEV_EVENT_READING);
    } else {
        report(BEV_EVENT_EOF | BEV_EVENT_READING);
    }
    return false;
}

// ---- events, timer, callbacks ----

void UpstreamTransport::on_socket(evutil_socket_t, short what, void* arg) noexcept {
    auto* self = static_cast<UpstreamTransport*>(arg);
    switch (self->state_) {
        case State::Connecting:
            if (what & EV_WRITE) self->tcp_connected();
            return;
        case State::Tunneling:
        case State::Handshaking:
            if ((what & EV_WRITE) && !self->write_socket()) return;
            if (what & EV_READ) self->read_socket();
            return;
        case State::Open:
            if ((what & EV_WRITE) && !self->flush()) return;
            if ((what & EV_READ) && self->state_ == State::Open && self->reading_)
                self->read_socket();
            return;
        default:
            return;
    }
}

void UpstreamTransport::on_deferred(evutil_socket_t, short, void* arg) noexcept {
    auto* self = static_cast<UpstreamTransport*>(arg);
    if (self->state_ == State::Failed) {
        if (short what = std::exchange(self->deferred_event_, 0)) self->report(what);
        return;
    }
    if (self->state_ != State::Open) return;
    if (!self->flush()) return;
    // Reading resumed over bytes already received.
    if (self->reading_ && self->ssl_ &&
        (evbuffer_get_length(self->cipher_in_.get()) > 0 || SSL_pending(self->ssl_.get()) > 0)) {
        if (!self->decrypt()) return;
    }
    self->finish_eof();
}

void UpstreamTransport::on_timer(evutil_socket_t, short, void* arg) noexcept {
    auto* self = static_cast<UpstreamTransport*>(arg);
    short what = BEV_EVENT_TIMEOUT | (self->reading_ ? BEV_EVENT_READING : BEV_EVENT_WRITING);
    self->state_ = State::Failed;
    if (self->read_ev_) event_del(self->read_ev_.get());
    self->update_write_interest();
    self->report(what);
}

void UpstreamTransport::set_callbacks(ReadCb read_cb, EventCb event_cb, void* arg) {
    read_cb_ = read_cb;
    event_cb_ = event_cb;
    arg_ = arg;
}

void UpstreamTransport::set_timeout(unsigned seconds) {
    timeout_s_ = seconds;
    update_timer();
}

void UpstreamTransport::set_reading(bool on) {
    if (reading_ == on) return;
    reading_ = on;
    if (state_ == State::Open && read_ev_ && !eof_) {
        if (on)
            event_add(read_ev_.get(), nullptr);
        else
            event_del(read_ev_.get());
    }
    if (on && state_ == State::Open) defer();
    update_timer();
}

void UpstreamTransport::update_timer() {
    const bool active =
        state_ != State::Failed && (state_ != State::Open || reading_ || unsent() > 0);
    if (timeout_s_ == 0 || !active) {
        evtimer_del(timer_.get());
        return;
    }
    // A common timeout keeps re-arming O(1) with thousands of connections.
    timeval tv{static_cast<time_t>(timeout_s_), 0};
    const timeval* common = event_base_init_common_timeout(base_, &tv);
    evtimer_add(timer_.get(), common ? common : &tv);
}

void UpstreamTransport::fail(short what) {
    if (state_ == State::Failed) return;
    state_ = State::Failed;
    if (read_ev_) event_del(read_ev_.get());
    update_write_interest();
    evtimer_del(timer_.get());
    deferred_event_ = what;
    defer();
}

void UpstreamTransport::fail_tls(const char* context, int ssl_error) {
    if (unsigned long code = ERR_peek_error()) {
        char buf[256];
        ERR_error_string_n(code, buf, sizeof buf);
        tls_error_ = buf;
    } else {
        tls_error_ = std::string(context) + " failed (SSL error " + std::to_string(ssl_error) + ")";
    }
    ERR_clear_error();
    fail(BEV_EVENT_ERROR);
}

void UpstreamTransport::defer() {
    event_active(deferred_.get(), EV_TIMEOUT, 0);
}

bool UpstreamTransport::report(short what) {
    if (!event_cb_) return true;
    bool alive = true;
    alive_ = &alive;
    event_cb_(what, arg_);
    if (!alive) return false;
    alive_ = nullptr;
    return true;
}

bool UpstreamTransport::report_read() {
    if (!read_cb_) return state_ == State::Open;
    bool alive = true;
    alive_ = &alive;
    read_cb_(arg_);
    if (!alive) return false;
    alive_ = nullptr;
    return state_ == State::Open;
}

}  // namespace proxy
