#include "parent/upstream_transport.hpp"

#include <event2/dns.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <openssl/err.h>
#include <sys/socket.h>
#include <sys/uio.h>

#include <algorithm>
#include <cerrno>
#include <cstring>

namespace proxy {

namespace {
// Reads start small and double while they fill the buffer, up to the max: a
// bulk download reads 128 KiB per wakeup, while thousands of streams that
// trickle events never allocate (and fragment the heap with) big buffers.
constexpr std::size_t kReadMin = 16 * 1024;
constexpr std::size_t kReadMax = 128 * 1024;
constexpr std::size_t kDecryptChunk = 64 * 1024;  // plaintext reserved per SSL_read round, at most
constexpr std::size_t kCipherHigh = 256 * 1024;   // stop encrypting while this much is unsent

bool would_block(int err) {
    return err == EAGAIN || err == EWOULDBLOCK || err == EINTR;
}
}  // namespace

// A lookup that may outlive the transport: evdns calls back even after a
// cancel, so the callback's argument cannot be the transport itself.
struct UpstreamTransport::Resolve {
    UpstreamTransport* owner;
    evdns_getaddrinfo_request* request = nullptr;
};

UpstreamTransport::UpstreamTransport(event_base* base, SSL* ssl)
    : base_(base), ssl_(ssl), in_(evbuffer_new()), out_(evbuffer_new()) {
    deferred_.reset(event_new(base, -1, 0, &UpstreamTransport::on_deferred, this));
    timer_.reset(evtimer_new(base, &UpstreamTransport::on_timer, this));
    evbuffer_add_cb(out_.get(), &UpstreamTransport::on_output_added, this);
    if (ssl_) {
        cipher_in_.reset(evbuffer_new());
        cipher_out_.reset(evbuffer_new());
        BIO* bio = BIO_new(bio_method());
        BIO_set_data(bio, this);
        BIO_set_init(bio, 1);
        SSL_set_bio(ssl_, bio, bio);  // one reference, owned by ssl_ from here
    }
}

UpstreamTransport::~UpstreamTransport() {
    if (alive_) *alive_ = false;
    if (resolve_) {
        resolve_->owner = nullptr;
        if (resolve_->request) evdns_getaddrinfo_cancel(resolve_->request);
    }
    evbuffer_remove_cb(out_.get(), &UpstreamTransport::on_output_added, this);
    if (ssl_) SSL_free(ssl_);
}

// ---- connecting ----

void UpstreamTransport::connect(evdns_base* dns, const std::string& host, int port) {
    evutil_addrinfo hints{};
    hints.ai_family = AF_UNSPEC;
    hints.ai_socktype = SOCK_STREAM;
    hints.ai_protocol = IPPROTO_TCP;
    // No AI_ADDRCONFIG: it asks getifaddrs (a netlink socket the sandbox
    // refuses). Addresses of a family this host cannot reach fail at once
    // and the next one is tried.
    const std::string service = std::to_string(port);
    update_timer();
    if (!dns) {
        evutil_addrinfo* ai = nullptr;
        int r = evutil_getaddrinfo(host.c_str(), service.c_str(), &hints, &ai);
        on_resolved(r, ai, new Resolve{this});
        return;
    }
    auto* resolve = new Resolve{this};
    resolve_ = resolve;
    // Null when the answer came at once (numeric hosts): the callback has
    // run and freed resolve already.
    if (evdns_getaddrinfo_request* req =
            evdns_getaddrinfo(dns, host.c_str(), service.c_str(), &hints, &on_resolved, resolve)) {
        resolve->request = req;
    }
}

void UpstreamTransport::on_resolved(int result, evutil_addrinfo* ai, void* arg) {
    auto* resolve = static_cast<Resolve*>(arg);
    UpstreamTransport* self = resolve->owner;
    delete resolve;
    if (self) {
        self->resolve_ = nullptr;
        if (result != 0 || !ai) {
            self->dns_error_ = result != 0 ? result : EVUTIL_EAI_FAIL;
            self->fail(BEV_EVENT_ERROR);
        } else {
            for (const evutil_addrinfo* a = ai; a; a = a->ai_next) {
                if (a->ai_addrlen > sizeof(sockaddr_storage)) continue;
                Address addr{};
                std::memcpy(&addr.storage, a->ai_addr, a->ai_addrlen);
                addr.len = static_cast<socklen_t>(a->ai_addrlen);
                self->addresses_.push_back(addr);
            }
            self->try_next_address();
        }
    }
    if (ai) evutil_freeaddrinfo(ai);
}

// The next resolved address, after the previous one failed (or first).
void UpstreamTransport::try_next_address() {
    while (next_address_ < addresses_.size()) {
        const Address& addr = addresses_[next_address_++];
        const auto* sa = reinterpret_cast<const sockaddr*>(&addr.storage);
        read_ev_.reset();
        write_ev_.reset();
        write_armed_ = false;
        fd_.reset();
        int fd = ::socket(sa->sa_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, IPPROTO_TCP);
        if (fd < 0) {
            socket_error_ = errno;
            continue;
        }
        fd_.reset(fd);
        // Requests leave as one write, but a body streamed in pieces must not
        // wait for delayed ACKs (Nagle), and neither must the TLS handshake.
        int one = 1;
        setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
        if (::connect(fd, sa, addr.len) != 0 && errno != EINPROGRESS) {
            socket_error_ = errno;
            continue;
        }
        read_ev_.reset(
            event_new(base_, fd, EV_READ | EV_PERSIST, &UpstreamTransport::on_socket, this));
        write_ev_.reset(
            event_new(base_, fd, EV_WRITE | EV_PERSIST, &UpstreamTransport::on_socket, this));
        state_ = State::Connecting;
        // Even an immediate success is reported from the loop, never from here.
        update_write_interest();
        return;
    }
    if (socket_error_ == 0) socket_error_ = EHOSTUNREACH;
    fail(BEV_EVENT_ERROR);
}

void UpstreamTransport::tcp_connected() {
    int err = 0;
    socklen_t len = sizeof err;
    if (getsockopt(fd_.get(), SOL_SOCKET, SO_ERROR, &err, &len) != 0) err = errno;
    if (err != 0) {
        socket_error_ = err;
        try_next_address();
        return;
    }
    addresses_.clear();
    event_add(read_ev_.get(), nullptr);
    if (!ssl_) {
        state_ = State::Open;
        update_write_interest();
        update_timer();
        if (!report(BEV_EVENT_CONNECTED)) return;
        if (!reading_ && state_ == State::Open) event_del(read_ev_.get());
        flush();
        return;
    }
    state_ = State::Handshaking;
    SSL_set_connect_state(ssl_);
    handshake();
}

void UpstreamTransport::handshake() {
    ERR_clear_error();
    int r = SSL_do_handshake(ssl_);
    int e = r == 1 ? SSL_ERROR_NONE : SSL_get_error(ssl_, r);
    if (!write_socket()) return;  // the ClientHello, or our Finished
    if (e == SSL_ERROR_WANT_READ) return;
    if (e != SSL_ERROR_NONE) {
        fail_tls("TLS handshake", e);
        return;
    }
    state_ = State::Open;
    update_timer();
    if (!report(BEV_EVENT_CONNECTED)) return;
    if (state_ != State::Open) return;
    if (!reading_) event_del(read_ev_.get());
    if (!flush()) return;
    // Records that arrived with the server's last flight.
    if (evbuffer_get_length(cipher_in_.get()) > 0) defer();
}

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
    // A TLS 1.2 renegotiation may have stalled a write until now.
    if (ssl_ && state_ == State::Open && evbuffer_get_length(out_.get()) > 0) flush();
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
            ERR_clear_error();
            int r = SSL_read_ex(ssl_, p + filled, vec.iov_len - filled, &n);
            if (r != 1) {
                e = SSL_get_error(ssl_, r);
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
    if (got_any) return report_read();
    return state_ == State::Open;
}

// The peer closed: reported once everything before it was handed over. A TLS
// connection that ends without close_notify may have been cut short by
// someone in between, so that is an error, not an end of body.
bool UpstreamTransport::finish_eof() {
    if (!eof_ || state_ != State::Open || !reading_) return true;
    if (ssl_ && (evbuffer_get_length(cipher_in_.get()) > 0 || SSL_pending(ssl_) > 0)) return true;
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

// ---- writing ----

void UpstreamTransport::on_output_added(evbuffer*, const evbuffer_cb_info* info, void* arg) {
    auto* self = static_cast<UpstreamTransport*>(arg);
    // Everything added in one loop turn leaves in one writev.
    if (info->n_added > 0 && self->state_ == State::Open) self->defer();
}

bool UpstreamTransport::flush() {
    if (state_ != State::Open) return state_ != State::Failed;
    if (ssl_ && !encrypt()) return false;
    return write_socket();
}

bool UpstreamTransport::encrypt() {
    evbuffer* out = out_.get();
    while (evbuffer_get_length(out) > 0 && evbuffer_get_length(cipher_out_.get()) < kCipherHigh) {
        evbuffer_iovec vec[4];
        int n = evbuffer_peek(out, -1, nullptr, vec, 4);
        std::size_t written = 0;
        for (int i = 0; i < std::min(n, 4) && written == 0; ++i) {
            if (vec[i].iov_len == 0) continue;
            ERR_clear_error();
            if (SSL_write_ex(ssl_, vec[i].iov_base, vec[i].iov_len, &written) != 1) {
                int e = SSL_get_error(ssl_, 0);
                if (e == SSL_ERROR_WANT_READ) return true;  // renegotiation: after the next read
                fail_tls("TLS write", e);
                return false;
            }
        }
        if (written == 0) break;
        // Drained = taken upstream; the owner's credit callback runs here.
        evbuffer_drain(out, written);
    }
    return true;
}

bool UpstreamTransport::write_socket() {
    for (;;) {
        evbuffer* src = ssl_ ? cipher_out_.get() : out_.get();
        const std::size_t len = evbuffer_get_length(src);
        if (len == 0) break;
        int n = evbuffer_write(src, fd_.get());
        if (n < 0) {
            if (would_block(errno)) break;
            socket_error_ = errno;
            fail(BEV_EVENT_ERROR | BEV_EVENT_WRITING);
            return false;
        }
        update_timer();
        if (static_cast<std::size_t>(n) < len) break;  // the socket is full
        if (!ssl_ || state_ != State::Open || evbuffer_get_length(out_.get()) == 0) break;
        if (!encrypt()) return false;
    }
    update_write_interest();
    return true;
}

void UpstreamTransport::update_write_interest() {
    bool want = false;
    if (state_ == State::Connecting) {
        want = true;
    } else if (state_ == State::Handshaking || state_ == State::Open) {
        want = evbuffer_get_length(ssl_ ? cipher_out_.get() : out_.get()) > 0;
    }
    if (want == write_armed_ || !write_ev_) return;
    write_armed_ = want;
    if (want)
        event_add(write_ev_.get(), nullptr);
    else
        event_del(write_ev_.get());
}

std::size_t UpstreamTransport::unsent() const {
    return evbuffer_get_length(out_.get()) + (ssl_ ? evbuffer_get_length(cipher_out_.get()) : 0);
}

// ---- events, timer, callbacks ----

void UpstreamTransport::on_socket(evutil_socket_t, short what, void* arg) {
    auto* self = static_cast<UpstreamTransport*>(arg);
    switch (self->state_) {
        case State::Connecting:
            if (what & EV_WRITE) self->tcp_connected();
            return;
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

void UpstreamTransport::on_deferred(evutil_socket_t, short, void* arg) {
    auto* self = static_cast<UpstreamTransport*>(arg);
    if (self->state_ == State::Failed) {
        if (short what = std::exchange(self->deferred_event_, 0)) self->report(what);
        return;
    }
    if (self->state_ != State::Open) return;
    if (!self->flush()) return;
    // Reading resumed over bytes already received.
    if (self->reading_ && self->ssl_ &&
        (evbuffer_get_length(self->cipher_in_.get()) > 0 || SSL_pending(self->ssl_) > 0)) {
        if (!self->decrypt()) return;
    }
    self->finish_eof();
}

void UpstreamTransport::on_timer(evutil_socket_t, short, void* arg) {
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

// ---- the BIO between OpenSSL and the ciphertext buffers ----

BIO_METHOD* UpstreamTransport::bio_method() {
    static BIO_METHOD* method = [] {
        BIO_METHOD* m = BIO_meth_new(BIO_get_new_index() | BIO_TYPE_SOURCE_SINK, "upstream");
        BIO_meth_set_write(m, &UpstreamTransport::bio_write);
        BIO_meth_set_read(m, &UpstreamTransport::bio_read);
        BIO_meth_set_ctrl(m, &UpstreamTransport::bio_ctrl);
        return m;
    }();
    return method;
}

int UpstreamTransport::bio_write(BIO* bio, const char* data, int len) {
    auto* self = static_cast<UpstreamTransport*>(BIO_get_data(bio));
    BIO_clear_retry_flags(bio);
    if (len <= 0) return 0;
    if (evbuffer_add(self->cipher_out_.get(), data, static_cast<std::size_t>(len)) != 0) return -1;
    return len;
}

int UpstreamTransport::bio_read(BIO* bio, char* data, int len) {
    auto* self = static_cast<UpstreamTransport*>(BIO_get_data(bio));
    BIO_clear_retry_flags(bio);
    if (len <= 0) return 0;
    int n = evbuffer_remove(self->cipher_in_.get(), data, static_cast<std::size_t>(len));
    if (n > 0) return n;
    // Nothing buffered: "try again", also after EOF, which the transport
    // itself reports (with or without close_notify).
    BIO_set_retry_read(bio);
    return -1;
}

long UpstreamTransport::bio_ctrl(BIO*, int cmd, long, void*) {
    switch (cmd) {
        case BIO_CTRL_FLUSH:
            return 1;  // writes are flushed once per loop turn by the transport
        case BIO_CTRL_PENDING:
        case BIO_CTRL_WPENDING:
        default:
            return 0;
    }
}

}  // namespace proxy
