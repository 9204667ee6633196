#include "parent/tls_context.hpp"

#include <arpa/inet.h>
#include <openssl/err.h>
#include <openssl/x509v3.h>

namespace proxy {

namespace {
bool is_ip_literal(const std::string& host) {
    unsigned char buf[16];
    return inet_pton(AF_INET, host.c_str(), buf) == 1 ||
           inet_pton(AF_INET6, host.c_str(), buf) == 1;
}
}  // namespace

std::string last_tls_error() {
    unsigned long e = ERR_peek_last_error();
    if (e == 0) return {};
    char buf[256];
    ERR_error_string_n(e, buf, sizeof buf);
    ERR_clear_error();
    return buf;
}

SslCtxPtr make_upstream_tls_context(const std::string& ca_file, std::string& error) {
    SslCtxPtr ctx(SSL_CTX_new(TLS_client_method()));
    if (!ctx) {
        error = "cannot create TLS context: " + last_tls_error();
        return nullptr;
    }
    SSL_CTX_set_min_proto_version(ctx.get(), TLS1_2_VERSION);
    SSL_CTX_set_verify(ctx.get(), SSL_VERIFY_PEER, nullptr);
    // Resumption: the pool keeps the newest session and offers it again.
    SSL_CTX_set_session_cache_mode(ctx.get(),
                                   SSL_SESS_CACHE_CLIENT | SSL_SESS_CACHE_NO_INTERNAL_STORE);
    // Smaller per-connection memory when idle in the pool.
    SSL_CTX_set_mode(ctx.get(), SSL_MODE_RELEASE_BUFFERS);
    if (!ca_file.empty()) {
        if (SSL_CTX_load_verify_locations(ctx.get(), ca_file.c_str(), nullptr) != 1) {
            error = "cannot load --upstream-ca-file " + ca_file + ": " + last_tls_error();
            return nullptr;
        }
    } else if (SSL_CTX_set_default_verify_paths(ctx.get()) != 1) {
        error = "cannot load the system trust store: " + last_tls_error();
        return nullptr;
    }
    return ctx;
}

SSL* new_upstream_ssl(SSL_CTX* ctx, const std::string& host) {
    SSL* ssl = SSL_new(ctx);
    if (!ssl) return nullptr;
    if (is_ip_literal(host)) {
        X509_VERIFY_PARAM_set1_ip_asc(SSL_get0_param(ssl), host.c_str());
    } else {
        SSL_set_tlsext_host_name(ssl, host.c_str());
        SSL_set1_host(ssl, host.c_str());
    }
    return ssl;
}

}  // namespace proxy
