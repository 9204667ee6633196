// UpstreamTransport, its setting up: construction, name resolution, TCP
// connect (trying each resolved address in turn), the TLS handshake, and the
// BIO that joins OpenSSL to the ciphertext buffers. The data path is in
// upstream_transport.cpp.
#include "parent/upstream/upstream_transport.hpp"

#include <event2/dns.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <openssl/err.h>
#include <sys/socket.h>

#include <cerrno>
#include <cstring>

namespace proxy {

// A lookup that may outlive the transport: evdns calls back even after a
// cancel, so the callback's argument cannot be the transport itself.
struct UpstreamTransport::Resolve {
    UpstreamTransport* owner;
    evdns_getaddrinfo_request* request = nullptr;
};

UpstreamTransport::UpstreamTransport(event_base* base, SslPtr ssl)
    : base_(base), in_(evbuffer_new()), out_(evbuffer_new()), ssl_(std::move(ssl)) {
    deferred_.reset(event_new(base, -1, 0, &UpstreamTransport::on_deferred, this));
    timer_.reset(evtimer_new(base, &UpstreamTransport::on_timer, this));
    evbuffer_add_cb(out_.get(), &UpstreamTransport::on_output_added, this);
    if (ssl_) {
        cipher_in_.reset(evbuffer_new());
        cipher_out_.reset(evbuffer_new());
        BIO* bio = BIO_new(bio_method());
        BIO_set_data(bio, this);
        BIO_set_init(bio, 1);
        SSL_set_bio(ssl_.get(), bio, bio);  // one reference, owned by ssl_ from here
    }
}

UpstreamTransport::~UpstreamTransport() {
    if (alive_) *alive_ = false;
    if (resolve_) {
        resolve_->owner = nullptr;
        if (resolve_->request) evdns_getaddrinfo_cancel(resolve_->request);
    }
    evbuffer_remove_cb(out_.get(), &UpstreamTransport::on_output_added, this);
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

void UpstreamTransport::on_resolved(int result, evutil_addrinfo* ai, void* arg) noexcept {
    const AddrInfoPtr owned(ai);
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
    if (tunnel_request_) {
        start_tunnel();
        return;
    }
    start_session();
}

// TCP is up (to the upstream, or a tunnel to it through a proxy): TLS, or
// for a plain upstream (tests) the connection is ready.
void UpstreamTransport::start_session() {
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
    SSL_set_connect_state(ssl_.get());
    handshake();
}

void UpstreamTransport::handshake() {
    ERR_clear_error();
    int r = SSL_do_handshake(ssl_.get());
    int e = r == 1 ? SSL_ERROR_NONE : SSL_get_error(ssl_.get(), r);
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

int UpstreamTransport::bio_write(BIO* bio, const char* data, int len) noexcept {
    auto* self = static_cast<UpstreamTransport*>(BIO_get_data(bio));
    BIO_clear_retry_flags(bio);
    if (len <= 0) return 0;
    if (evbuffer_add(self->cipher_out_.get(), data, static_cast<std::size_t>(len)) != 0) return -1;
    return len;
}

int UpstreamTransport::bio_read(BIO* bio, char* data, int len) noexcept {
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

long UpstreamTransport::bio_ctrl(BIO*, int cmd, long, void*) noexcept {
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
