// What the two halves of UpstreamTransport's data path share
// (upstream_transport.cpp reads, upstream_transport_write.cpp writes).
#pragma once

#include <openssl/err.h>

#include <cerrno>

namespace proxy::transport_io {

inline bool would_block(int err) {
    return err == EAGAIN || err == EWOULDBLOCK || err == EINTR;
}

// SSL_get_error judges a failed call by the thread's error queue, so the
// queue must be empty before each call. OpenSSL 3.0's ERR_clear_error walks
// all 16 slots with a free() each even when nothing is queued, and this runs
// five times a request: clear only a queue that holds something.
inline void clear_tls_errors() {
    if (ERR_peek_error() != 0) ERR_clear_error();
}

}  // namespace proxy::transport_io
