#include "parent/upstream/tls_context.hpp"

#include <arpa/inet.h>
#include <dirent.h>
#include <openssl/err.h>
#include <openssl/x509v3.h>

#include "common/c_ptr.hpp"

namespace proxy {

namespace {
bool is_ip_literal(const std::string& host) {
    unsigned char buf[16];
    return inet_pton(AF_INET, host.c_str(), buf) == 1 ||
           inet_pton(AF_INET6, host.c_str(), buf) == 1;
}

// "0123abcd.0": eight lower-case hex digits, a dot, a digit.
bool is_hash_name(const char* name) {
    for (int i = 0; i < 8; ++i) {
        const char c = name[i];
        if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'))) return false;
    }
    return name[8] == '.' && name[9] >= '0' && name[9] <= '9' && name[10] == '\0';
}

bool holds_hashed_certificates(const char* dir) {
    const DirPtr d(opendir(dir));
    if (!d) return false;
    while (const dirent* entry = readdir(d.get())) {
        if (is_hash_name(entry->d_name)) return true;
    }
    return false;
}
}  // namespace

bool use_trust_directory(SSL_CTX* ctx, const char* dir) {
    return dir != nullptr && holds_hashed_certificates(dir) &&
           SSL_CTX_load_verify_dir(ctx, dir) == 1;
}

std::string last_tls_error() {
    unsigned long e = ERR_peek_last_error();
    if (e == 0) return {};
    char buf[256];
    ERR_error_string_n(e, buf, sizeof buf);
    ERR_clear_error();
    return buf;
}

Result<SslCtxPtr> make_upstream_tls_context(const std::string& ca_file) {
    SslCtxPtr ctx(SSL_CTX_new(TLS_client_method()));
    if (!ctx) return Error{"cannot create TLS context: " + last_tls_error()};
    SSL_CTX_set_min_proto_version(ctx.get(), TLS1_2_VERSION);
    SSL_CTX_set_verify(ctx.get(), SSL_VERIFY_PEER, nullptr);
    // Resumption: the pool keeps the newest session and offers it again.
    SSL_CTX_set_session_cache_mode(ctx.get(),
                                   SSL_SESS_CACHE_CLIENT | SSL_SESS_CACHE_NO_INTERNAL_STORE);
    // Smaller per-connection memory when idle in the pool.
    SSL_CTX_set_mode(ctx.get(), SSL_MODE_RELEASE_BUFFERS);
    if (!ca_file.empty()) {
        if (SSL_CTX_load_verify_locations(ctx.get(), ca_file.c_str(), nullptr) != 1)
            return Error{"cannot load --upstream-ca-file " + ca_file + ": " + last_tls_error()};
    } else if (!use_trust_directory(ctx.get(), X509_get_default_cert_dir()) &&
               SSL_CTX_set_default_verify_paths(ctx.get()) != 1) {
        return Error{"cannot load the system trust store: " + last_tls_error()};
    }
    return ctx;
}

SslPtr new_upstream_ssl(SSL_CTX* ctx, const std::string& host) {
    SslPtr ssl(SSL_new(ctx));
    if (!ssl) return nullptr;
    if (is_ip_literal(host)) {
        X509_VERIFY_PARAM_set1_ip_asc(SSL_get0_param(ssl.get()), host.c_str());
    } else {
        SSL_set_tlsext_host_name(ssl.get(), host.c_str());
        SSL_set1_host(ssl.get(), host.c_str());
    }
    return ssl;
}

}  // namespace proxy
