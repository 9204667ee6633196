#include "parent/upstream_pool.hpp"

#include <event2/bufferevent_ssl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>

#include "parent/tls_context.hpp"

namespace proxy {

namespace {
int g_pool_index = -1;  // SSL_CTX ex_data slot pointing back to the pool
}

UpstreamPool::UpstreamPool(event_base* base, evdns_base* dns, Config config)
    : base_(base), dns_(dns), config_(std::move(config)) {
    if (config_.tls) {
        if (g_pool_index < 0)
            g_pool_index = SSL_CTX_get_ex_new_index(0, nullptr, nullptr, nullptr, nullptr);
        SSL_CTX_set_ex_data(config_.tls, g_pool_index, this);
        SSL_CTX_sess_set_new_cb(config_.tls, &UpstreamPool::on_new_session);
    }
}

UpstreamPool::~UpstreamPool() {
    if (config_.tls) SSL_CTX_sess_set_new_cb(config_.tls, nullptr);
}

int UpstreamPool::on_new_session(SSL* ssl, SSL_SESSION* session) {
    auto* pool =
        static_cast<UpstreamPool*>(SSL_CTX_get_ex_data(SSL_get_SSL_CTX(ssl), g_pool_index));
    if (!pool) return 0;
    pool->session_.reset(session);
    return 1;  // we took the reference
}

std::unique_ptr<UpstreamConnection> UpstreamPool::take_idle() {
    while (!idle_.empty()) {
        auto conn = std::move(idle_.front());
        idle_.pop_front();
        if (!conn->bev) continue;
        bufferevent_setcb(conn->bev.get(), nullptr, nullptr, nullptr, nullptr);
        bufferevent_set_timeouts(conn->bev.get(), nullptr, nullptr);
        conn->reused = true;
        return conn;
    }
    return nullptr;
}

std::unique_ptr<UpstreamConnection> UpstreamPool::connect_new(std::string& error) {
    auto conn = std::make_unique<UpstreamConnection>();
    conn->id = next_id_++;
    conn->pool = this;
    const int opts = BEV_OPT_CLOSE_ON_FREE;
    if (config_.tls) {
        SSL* ssl = new_upstream_ssl(config_.tls, config_.url.host);
        if (!ssl) {
            error = "cannot create TLS session: " + last_tls_error();
            return nullptr;
        }
        if (session_) SSL_set_session(ssl, session_.get());
        conn->bev.reset(
            bufferevent_openssl_socket_new(base_, -1, ssl, BUFFEREVENT_SSL_CONNECTING, opts));
        if (!conn->bev) {
            SSL_free(ssl);
            error = "cannot create TLS connection";
            return nullptr;
        }
        // Dirty shutdowns (no close_notify) are common and harmless here:
        // framing, not TLS shutdown, tells us whether a response is complete.
        bufferevent_openssl_set_allow_dirty_shutdown(conn->bev.get(), 1);
        conn->ssl = ssl;
    } else {
        conn->tls = false;
        conn->bev.reset(bufferevent_socket_new(base_, -1, opts));
        if (!conn->bev) {
            error = "cannot create connection";
            return nullptr;
        }
    }
    bufferevent_set_max_single_read(conn->bev.get(), 64 * 1024);
    if (bufferevent_socket_connect_hostname(conn->bev.get(), dns_, AF_UNSPEC,
                                            config_.url.host.c_str(), config_.url.port) != 0) {
        error = "cannot start connecting to " + config_.url.host_header;
        return nullptr;
    }
    return conn;
}

void UpstreamPool::give_back(std::unique_ptr<UpstreamConnection> conn) {
    if (!conn || !conn->bev || idle_.size() >= config_.max_idle) return;
    bufferevent* bev = conn->bev.get();
    UpstreamConnection* raw = conn.get();
    idle_.push_front(std::move(conn));
    raw->idle_pos = idle_.begin();
    // Any byte or event on an idle connection (the server closing it, most
    // often) ends it; so does sitting idle past idle_keep_s.
    bufferevent_setcb(bev, &UpstreamPool::on_idle_read, nullptr, &UpstreamPool::on_idle_event, raw);
    timeval tv{static_cast<time_t>(config_.idle_keep_s), 0};
    bufferevent_set_timeouts(bev, &tv, nullptr);
    bufferevent_enable(bev, EV_READ);
}

void UpstreamPool::drop_idle(UpstreamConnection* conn) {
    idle_.erase(conn->idle_pos);
}

void UpstreamPool::on_idle_read(bufferevent*, void* arg) {
    auto* conn = static_cast<UpstreamConnection*>(arg);
    conn->pool->drop_idle(conn);
}

void UpstreamPool::on_idle_event(bufferevent*, short, void* arg) {
    auto* conn = static_cast<UpstreamConnection*>(arg);
    conn->pool->drop_idle(conn);
}

}  // namespace proxy
