// One connection to the upstream: TCP (name resolved with evdns) and TLS run
// by OpenSSL over in-memory ciphertext buffers.
//
// Why not bufferevent_openssl: it calls write(2) once per evbuffer chain and
// read(2) once per record (twice without read-ahead), and toggles EV_WRITE in
// epoll for every request. Here each loop turn costs at most one readv and one
// writev whatever the record count, EV_READ stays registered for the life of
// the connection, and EV_WRITE is added only when the socket pushes back.
//
// Callbacks use libevent's BEV_EVENT_* flags. A callback may destroy the
// transport; the transport notices and touches nothing afterwards. Nothing is
// ever reported from inside a call made by the owner.
#pragma once

#include <openssl/ssl.h>

#include <cstdint>
#include <span>
#include <string>
#include <vector>

#include <sys/socket.h>

#include "common/unique_fd.hpp"
#include "parent/parent_ptr.hpp"

namespace proxy {

class UpstreamTransport {
  public:
    // noexcept: they run inside libevent's callbacks, which no exception
    // may unwind through.
    using ReadCb = void (*)(void* arg) noexcept;
    using EventCb = void (*)(short what, void* arg) noexcept;

    // ssl null: plain TCP, for tests.
    UpstreamTransport(event_base* base, SslPtr ssl);
    ~UpstreamTransport();
    UpstreamTransport(const UpstreamTransport&) = delete;
    UpstreamTransport& operator=(const UpstreamTransport&) = delete;

    // Resolve host (dns may be null: blocking lookup) and connect. The event
    // callback later gets BEV_EVENT_CONNECTED once TCP and the TLS handshake
    // (with certificate verification) are done, or BEV_EVENT_ERROR.
    void connect(evdns_base* dns, const std::string& host, int port);
    // The same through an HTTP proxy: connect to it, send connect_request
    // (kept by the caller for the transport's life), and on a 2xx answer run
    // TLS to the upstream inside the tunnel (parent/upstream/upstream_proxy_connect.cpp).
    void connect_via_proxy(evdns_base* dns, const std::string& proxy_host, int proxy_port,
                           const std::string& connect_request);

    void set_callbacks(ReadCb read_cb, EventCb event_cb, void* arg);
    // A locked, never-dumped buffer (the pool's, one per upstream loop) in
    // which encrypt() joins the small pieces of the output, the request
    // head's three among them (before the key, the key by reference, after
    // it), into one TLS record instead of one each. It holds them only for
    // the length of one SSL_write and is wiped at once: at rest the key page
    // is still the key's only copy. Empty: every piece its own record.
    void set_staging(std::span<char> staging) { staging_ = staging; }
    // Inactivity limit while reading is on or output is pending: no bytes
    // moved in that time reports BEV_EVENT_TIMEOUT. 0 turns it off.
    void set_timeout(unsigned seconds);
    // Flow control: while off, no bytes are read from the socket.
    void set_reading(bool on);

    evbuffer* input() const { return in_.get(); }    // plaintext from the upstream
    evbuffer* output() const { return out_.get(); }  // plaintext to it, sent each loop turn
    // Bytes queued but not yet on the wire (plaintext and ciphertext).
    std::size_t unsent() const;
    // While on, whatever a read brought is acknowledged at once (TCP_QUICKACK)
    // instead of after the kernel's delayed-ACK timer. An upstream that keeps
    // Nagle on (plain servers, corporate TLS proxies) sends its next small
    // segment only once the last one is acknowledged; having just written a
    // request, our kernel delays that ACK up to 40 ms hoping to piggyback it on
    // data we will not send while a response streams: one SSE event per
    // stream on a pooled connection arrived 40 ms late. The owner turns it
    // off once a response has ended, so a small answer read whole costs no
    // extra ACK packet (its ACK rides on the next request).
    void set_quick_ack(bool on) { quick_ack_ = on; }

    bool tls() const { return ssl_ != nullptr; }
    SSL* ssl() const { return ssl_.get(); }
    // Why the connection failed, for the log and the error class.
    int dns_error() const { return dns_error_; }                 // EVUTIL_EAI_*, 0 if none
    int socket_error() const { return socket_error_; }           // errno, 0 if none
    const std::string& tls_error() const { return tls_error_; }  // empty if none
    // Through a proxy: whether its tunnel is up, and if it failed, the
    // proxy's answer ("answered CONNECT with 407 ...", never credentials).
    bool via_proxy() const { return tunnel_request_ != nullptr; }
    bool tunnel_open() const { return tunnel_open_; }
    const std::string& proxy_error() const { return proxy_error_; }

  private:
    enum class State { Resolving, Connecting, Tunneling, Handshaking, Open, Failed };
    struct Resolve;

    static void on_resolved(int result, evutil_addrinfo* ai, void* arg) noexcept;
    static void on_socket(evutil_socket_t, short what, void* arg) noexcept;
    static void on_deferred(evutil_socket_t, short, void* arg) noexcept;
    static void on_timer(evutil_socket_t, short, void* arg) noexcept;
    static void on_output_added(evbuffer*, const evbuffer_cb_info* info, void* arg) noexcept;
    static BIO_METHOD* bio_method();
    static int bio_write(BIO* bio, const char* data, int len) noexcept;
    static int bio_read(BIO* bio, char* data, int len) noexcept;
    static long bio_ctrl(BIO* bio, int cmd, long num, void* ptr) noexcept;

    void try_next_address();
    void tcp_connected();
    void start_session();
    void start_tunnel();
    void read_tunnel_answer();
    void handshake();
    void read_socket();
    void ack_now();
    bool decrypt();
    void release_tls_buffers();
    bool finish_eof();
    bool flush();
    bool encrypt();
    std::size_t join_pieces(const evbuffer_iovec* vec, int n);
    bool write_socket();
    void update_write_interest();
    void update_timer();
    void fail(short what);
    void fail_tls(const char* context, int ssl_error);
    void defer();
    // Calls the owner; false if it destroyed this transport meanwhile.
    bool report(short what);
    bool report_read();

    event_base* base_;
    State state_ = State::Resolving;
    struct Address {
        sockaddr_storage storage;
        socklen_t len;
    };
    std::vector<Address> addresses_;  // resolved, tried in order
    std::size_t next_address_ = 0;
    UniqueFd fd_;
    Resolve* resolve_ = nullptr;  // pending lookup; outlives us if cancelled
    EvBufferPtr in_, out_;
    EvBufferPtr cipher_in_, cipher_out_;  // TLS records, only with ssl_
    EventPtr read_ev_, write_ev_, deferred_, timer_;
    bool write_armed_ = false;
    bool reading_ = true;
    bool eof_ = false;
    bool quick_ack_ = false;
    short deferred_event_ = 0;  // an outcome waiting to be reported
    unsigned timeout_s_ = 0;
    std::size_t read_size_ = 16 * 1024;  // adapts to how much each readv finds
    ReadCb read_cb_ = nullptr;
    EventCb event_cb_ = nullptr;
    void* arg_ = nullptr;
    bool* alive_ = nullptr;  // set while a callback runs
    int dns_error_ = 0;
    int socket_error_ = 0;
    std::string tls_error_;
    const std::string* tunnel_request_ = nullptr;  // CONNECT head; null: direct
    std::span<char> staging_;                      // set_staging
    bool tunnel_open_ = false;
    std::string proxy_error_;
    // Last, so it is freed first: before the buffers and events its BIO
    // and callbacks point at.
    SslPtr ssl_;
};

}  // namespace proxy
