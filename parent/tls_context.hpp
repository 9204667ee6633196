// The client TLS context for the upstream: TLS 1.2+, peer verification
// against the system store (honouring SSL_CERT_FILE/SSL_CERT_DIR as OpenSSL
// does) or against --upstream-ca-file alone.
#pragma once

#include <string>

#include "parent/parent_ptr.hpp"

namespace proxy {

SslCtxPtr make_upstream_tls_context(const std::string& ca_file, std::string& error);

// Prepare one SSL object for a connection to `host`: SNI for names (not for
// IP literals) and host name or IP address verification.
SSL* new_upstream_ssl(SSL_CTX* ctx, const std::string& host);

// Text of the most recent OpenSSL error on this thread, or empty.
std::string last_tls_error();

}  // namespace proxy
