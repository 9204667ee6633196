// The client TLS context for the upstream: TLS 1.2+, peer verification
// against the system store or against --upstream-ca-file alone
// (SSL_CERT_FILE/SSL_CERT_DIR are removed from the environment at start).
#pragma once

#include <string>

#include "common/result.hpp"
#include "parent/parent_ptr.hpp"

namespace proxy {

Result<SslCtxPtr> make_upstream_tls_context(const std::string& ca_file);

// The system store as a hashed directory (OpenSSL's default certificate
// directory; Debian: /etc/ssl/certs, kept by update-ca-certificates), looked
// up lazily: verification opens only the issuer files it needs, and caches
// them. The system bundle file would be parsed whole at start instead (~146
// certificates, ~0.8 MiB of the parent's heap for its whole life). Returns
// false, and changes nothing, if `dir` holds no file named like a subject
// hash ("0123abcd.0"); the caller then loads OpenSSL's default paths.
bool use_trust_directory(SSL_CTX* ctx, const char* dir);

// Prepare one SSL object for a connection to `host`: SNI for names (not for
// IP literals) and host name or IP address verification.
SslPtr new_upstream_ssl(SSL_CTX* ctx, const std::string& host);

// Text of the most recent OpenSSL error on this thread, or empty.
std::string last_tls_error();

}  // namespace proxy
