// The failure half of UpstreamExchange: what the transport reports (connect,
// TLS, timeout, lost connection, the egress proxy's answer) turned into one
// refusal and one log line naming the cause; and the two ways an exchange
// ends early, fail() and refuse_body().
#include <openssl/err.h>
#include <openssl/ssl.h>

#include <cstring>
#include <string>

#include "common/http_head.hpp"
#include "common/log.hpp"
#include "parent/upstream/exchange_dump.hpp"
#include "parent/upstream/response_head_parser.hpp"
#include "parent/upstream/upstream_exchange.hpp"
#include "policy/header_policy.hpp"

namespace proxy {

void UpstreamExchange::on_event(short what, void* arg) noexcept {
    auto* self = static_cast<UpstreamExchange*>(arg);
    if (what & BEV_EVENT_CONNECTED) {
        self->connected();
        return;
    }
    const UpstreamUrl& url = self->env_.pool.url();
    if (what & BEV_EVENT_TIMEOUT) {
        const UpstreamTransport& t = *self->conn_->transport;
        std::string detail = self->phase_ != Phase::Connecting
                                 ? "no data from " + url.host_header + " in time"
                             : t.via_proxy() && !t.tunnel_open()
                                 ? "no tunnel to " + url.host_header + " from proxy " +
                                       self->env_.pool.proxy()->display + " in time"
                                 : "connect to " + url.host_header + " timed out";
        self->fail(refusal::kUpstreamTimeout, detail);
        return;
    }
    if ((what & BEV_EVENT_EOF) && self->phase_ == Phase::Body &&
        self->resp_head_.framing == BodyFraming::UntilClose) {
        self->process_input();
        self->response_complete();
        return;
    }
    if (self->phase_ == Phase::Connecting) {
        self->fail_connecting();
        return;
    }
    std::string why = self->got_response_bytes_ ? "upstream connection lost mid-response"
                                                : "upstream closed the connection before answering";
    const UpstreamTransport& t = *self->conn_->transport;
    if (!t.tls_error().empty())
        why += " (" + t.tls_error() + ")";
    else if (t.socket_error() != 0)
        why += std::string(" (") + std::strerror(t.socket_error()) + ")";
    if (self->conn_->reused) why += " on a reused connection";
    self->fail(refusal::kUpstreamUnreachable, why);
}

// Why a new connection never got ready: name, TCP or TLS.
void UpstreamExchange::fail_connecting() {
    const UpstreamUrl& url = env_.pool.url();
    const UpstreamTransport& t = *conn_->transport;
    if (t.via_proxy() && !t.tunnel_open()) {
        fail_proxy();
        return;
    }
    if (int dns = t.dns_error()) {
        fail(refusal::kUpstreamUnreachable,
             "cannot resolve " + url.host + ": " + evutil_gai_strerror(dns));
        return;
    }
    const long verify = t.ssl() ? SSL_get_verify_result(t.ssl()) : X509_V_OK;
    if (verify != X509_V_OK || !t.tls_error().empty()) {
        std::string detail = "TLS handshake with " + url.host_header + " failed: ";
        if (verify != X509_V_OK) {
            detail += "certificate verification: ";
            detail += X509_verify_cert_error_string(verify);
        } else {
            detail += t.tls_error();
        }
        fail(refusal::kUpstreamTls, detail);
        return;
    }
    const int err = t.socket_error();
    fail(refusal::kUpstreamUnreachable,
         "connect to " + url.host_header + " failed: " + (err ? std::strerror(err) : "closed"));
}

// The proxy refused the tunnel, or could not be reached: name the proxy and
// its answer (never its credentials).
void UpstreamExchange::fail_proxy() {
    const UpstreamTransport& t = *conn_->transport;
    const UpstreamProxyRoute& proxy = *env_.pool.proxy();
    std::string detail = "proxy " + proxy.display + " (from " + proxy.source + ") ";
    if (!t.proxy_error().empty()) {
        detail += t.proxy_error();
    } else if (int dns = t.dns_error()) {
        detail += std::string("cannot be resolved: ") + evutil_gai_strerror(dns);
    } else {
        const int err = t.socket_error();
        detail += std::string("cannot be reached: ") + (err ? std::strerror(err) : "closed");
    }
    fail(refusal::kUpstreamProxyError, detail);
}

void UpstreamExchange::fail(const Refusal& r, const std::string& detail) {
    if (phase_ == Phase::Finished) return;
    bool head_sent = phase_ == Phase::Body;
    phase_ = Phase::Finished;
    conn_.reset();
    record_.code = r.code;
    if (head_sent) {
        record_.outcome = "aborted";
        LOG_WARN("stream %u aborted: %s", stream_, detail.c_str());
        sink_.tell_resp_abort(stream_);
    } else {
        record_.outcome = "upstream_error";
        record_.status = r.status;
        LOG_WARN("upstream error (%s, answering %u): %s", r.code, r.status, detail.c_str());
        sink_.tell_resp_error(stream_, {r.status, r.code, r.message, {}, 0});
    }
    if (dump_) dump_->response_done();
    finish(ExchangeEnd::UpstreamError);
}

void UpstreamExchange::refuse_body(const DetailedRefusal& r) {
    if (phase_ == Phase::Finished) return;
    const bool head_sent = phase_ == Phase::Body;
    phase_ = Phase::Finished;
    conn_.reset();  // mid-request: the upstream never gets the last chunk
    record_.code = r.kind.code;
    record_.outcome = "refused";
    LOG_INFO("stream %u request body refused (%s): %s", stream_, r.kind.code, r.message.c_str());
    if (head_sent) {
        // The upstream answered before the body ended; what it began to
        // say cannot be taken back, only cut.
        sink_.tell_resp_abort(stream_);
    } else {
        record_.status = r.kind.status;
        sink_.tell_resp_error(stream_, {r.kind.status, r.kind.code, r.message, r.kind.type, 0});
    }
    if (dump_) dump_->response_done();
    finish(ExchangeEnd::UpstreamError);
}

}  // namespace proxy
