#include "parent/upstream/upstream_pool.hpp"

#include <mutex>

#include "common/log.hpp"
#include "parent/metrics/proxy_metrics.hpp"
#include "parent/upstream/tls_context.hpp"

namespace proxy {

namespace {
// SSL ex_data slot pointing back to the pool that made the connection (per
// connection, not per SSL_CTX: the upstream threads' pools share one context).
int g_pool_index = -1;
std::once_flag g_pool_index_once;
// One TLS record's plaintext, the most UpstreamTransport joins.
constexpr std::size_t kStagingSize = 16 * 1024;
}  // namespace

UpstreamPool::UpstreamPool(event_base* base, evdns_base* dns, Config config)
    : base_(base), dns_(dns), config_(std::move(config)) {
    if (config_.tls) {
        std::call_once(g_pool_index_once, [] {
            g_pool_index = SSL_get_ex_new_index(0, nullptr, nullptr, nullptr, nullptr);
        });
        SSL_CTX_sess_set_new_cb(config_.tls, &UpstreamPool::on_new_session);
        std::string error;
        staging_ = KeyPage::create(error, kStagingSize);
        if (!staging_)
            LOG_WARN("upstream: no staging page (%s): a TLS record per piece", error.c_str());
    }
}

UpstreamPool::~UpstreamPool() {
    proxy_metrics().upstream_idle.fetch_sub(static_cast<long>(idle_.size()),
                                            std::memory_order_relaxed);
}

int UpstreamPool::on_new_session(SSL* ssl, SSL_SESSION* session) noexcept {
    auto* pool = static_cast<UpstreamPool*>(SSL_get_ex_data(ssl, g_pool_index));
    if (!pool) return 0;
    pool->session_.reset(session);
    return 1;  // we took the reference
}

ConnectionCount::ConnectionCount() {
    proxy_metrics().upstream_open.fetch_add(1, std::memory_order_relaxed);
}

ConnectionCount::~ConnectionCount() {
    proxy_metrics().upstream_open.fetch_sub(1, std::memory_order_relaxed);
}

std::unique_ptr<UpstreamConnection> UpstreamPool::take_idle() {
    while (!idle_.empty()) {
        auto conn = std::move(idle_.front());
        idle_.pop_front();
        proxy_metrics().upstream_idle.fetch_sub(1, std::memory_order_relaxed);
        if (!conn->transport) continue;
        conn->transport->set_callbacks(nullptr, nullptr, nullptr);
        conn->transport->set_timeout(0);
        conn->reused = true;
        return conn;
    }
    return nullptr;
}

std::unique_ptr<UpstreamConnection> UpstreamPool::connect_new(std::string& error) {
    auto conn = std::make_unique<UpstreamConnection>();
    conn->id = next_id_++;
    conn->pool = this;
    SslPtr ssl;
    if (config_.tls) {
        ssl = new_upstream_ssl(config_.tls, config_.url.host);
        if (!ssl) {
            error = "cannot create TLS session: " + last_tls_error();
            return nullptr;
        }
        SSL_set_ex_data(ssl.get(), g_pool_index, this);
        if (session_) SSL_set_session(ssl.get(), session_.get());
    }
    conn->transport = std::make_unique<UpstreamTransport>(base_, std::move(ssl));
    if (staging_) conn->transport->set_staging(staging_->writable());
    if (const UpstreamProxyRoute* proxy = config_.proxy) {
        conn->transport->connect_via_proxy(dns_, proxy->host, proxy->port, proxy->connect_request);
    } else {
        conn->transport->connect(dns_, config_.url.host, config_.url.port);
    }
    return conn;
}

void UpstreamPool::give_back(std::unique_ptr<UpstreamConnection> conn) {
    if (!conn || !conn->transport || idle_.size() >= config_.max_idle) return;
    UpstreamTransport* t = conn->transport.get();
    UpstreamConnection* raw = conn.get();
    idle_.push_front(std::move(conn));
    proxy_metrics().upstream_idle.fetch_add(1, std::memory_order_relaxed);
    raw->idle_pos = idle_.begin();
    // Any byte or event on an idle connection (the server closing it, most
    // often) ends it; so does sitting idle past idle_keep_s.
    t->set_callbacks(&UpstreamPool::on_idle_read, &UpstreamPool::on_idle_event, raw);
    t->set_timeout(config_.idle_keep_s);
    t->set_reading(true);
}

void UpstreamPool::drop_idle(UpstreamConnection* conn) {
    idle_.erase(conn->idle_pos);
    proxy_metrics().upstream_idle.fetch_sub(1, std::memory_order_relaxed);
    if (idle_.empty() && on_emptied_) on_emptied_(on_emptied_arg_);
}

void UpstreamPool::on_idle_read(void* arg) noexcept {
    auto* conn = static_cast<UpstreamConnection*>(arg);
    conn->pool->drop_idle(conn);
}

void UpstreamPool::on_idle_event(short, void* arg) noexcept {
    auto* conn = static_cast<UpstreamConnection*>(arg);
    conn->pool->drop_idle(conn);
}

}  // namespace proxy
