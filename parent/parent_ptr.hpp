// RAII owners for the parent's own libraries, OpenSSL and evdns (the worker
// links neither; common/event_ptr.hpp has the libevent owners both use).
#pragma once

#include <event2/dns.h>
#include <openssl/ssl.h>

#include <memory>

#include "common/event_ptr.hpp"

namespace proxy {

inline void free_evdns(evdns_base* b) {
    evdns_base_free(b, 0);
}

using EvDnsBasePtr = std::unique_ptr<evdns_base, CFree<free_evdns>>;
using SslCtxPtr = std::unique_ptr<SSL_CTX, CFree<SSL_CTX_free>>;
using SslPtr = std::unique_ptr<SSL, CFree<SSL_free>>;
using SslSessionPtr = std::unique_ptr<SSL_SESSION, CFree<SSL_SESSION_free>>;

}  // namespace proxy
