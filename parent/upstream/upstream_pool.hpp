// Connections to the one configured upstream: new ones (async DNS, TCP, TLS)
// and a keep-alive pool of idle ones. Exchanges borrow a connection and give
// it back when the response ended cleanly.
#pragma once

#include <cstdint>
#include <list>
#include <memory>
#include <optional>
#include <string>

#include "common/options.hpp"
#include "common/secret_page.hpp"
#include "parent/parent_ptr.hpp"
#include "parent/upstream/upstream_proxy_route.hpp"
#include "parent/upstream/upstream_transport.hpp"

namespace proxy {

class UpstreamPool;

// Counts itself in GET /metrics' upstream_connections while it lives.
struct ConnectionCount {
    ConnectionCount();
    ~ConnectionCount();
    ConnectionCount(const ConnectionCount&) = delete;
    ConnectionCount& operator=(const ConnectionCount&) = delete;
};

struct UpstreamConnection {
    ConnectionCount counted;
    std::unique_ptr<UpstreamTransport> transport;
    bool reused = false;
    std::uint64_t id = 0;
    std::list<std::unique_ptr<UpstreamConnection>>::iterator idle_pos;
    UpstreamPool* pool = nullptr;
};

class UpstreamPool {
  public:
    struct Config {
        UpstreamUrl url;
        SSL_CTX* tls = nullptr;     // null for http:// (tests only)
        unsigned idle_keep_s = 30;  // below common server keep-alive timeouts
        std::size_t max_idle = 256;
        // Through an HTTP proxy (outlives the pool), or null: direct.
        const UpstreamProxyRoute* proxy = nullptr;
    };
    UpstreamPool(event_base* base, evdns_base* dns, Config config);
    ~UpstreamPool();

    // An idle pooled connection, or null.
    std::unique_ptr<UpstreamConnection> take_idle();
    // A new connection, connecting now; the caller sets callbacks and waits
    // for BEV_EVENT_CONNECTED (TLS handshake and verification done) or an
    // error. Null only if no TLS session could be made.
    std::unique_ptr<UpstreamConnection> connect_new(std::string& error);
    // Keep a connection whose last response ended cleanly.
    void give_back(std::unique_ptr<UpstreamConnection> conn);

    const UpstreamUrl& url() const { return config_.url; }
    const UpstreamProxyRoute* proxy() const { return config_.proxy; }
    std::size_t idle_count() const { return idle_.size(); }
    // Called when the last idle connection has gone (expired or closed by
    // the server): their TLS state is freed heap the process may give back.
    void set_on_emptied(void (*fn)(void*) noexcept, void* arg) {
        on_emptied_ = fn;
        on_emptied_arg_ = arg;
    }

  private:
    static void on_idle_read(void* arg) noexcept;
    static void on_idle_event(short, void* arg) noexcept;
    static int on_new_session(SSL* ssl, SSL_SESSION* session) noexcept;
    void drop_idle(UpstreamConnection* conn);

    event_base* base_;
    evdns_base* dns_;
    Config config_;
    std::list<std::unique_ptr<UpstreamConnection>> idle_;
    SslSessionPtr session_;  // newest session, offered for resumption
    // Where this loop's transports join small pieces into one TLS record
    // (UpstreamTransport::set_staging): locked, never dumped, wiped on fork,
    // like the key's page, since the request head it joins holds the key.
    // Made now, before the parent's sandbox forbids mlock; none (each piece
    // its own record) if it cannot be made.
    std::optional<KeyPage> staging_;
    std::uint64_t next_id_ = 1;
    void (*on_emptied_)(void*) noexcept = nullptr;
    void* on_emptied_arg_ = nullptr;
};

}  // namespace proxy
