// UpstreamTransport, writing: plaintext encrypted into TLS records (small
// pieces joined into one), ciphertext written to the socket, the write
// interest kept in step. The rest of the data path is in upstream_transport.cpp.
#include "parent/upstream/upstream_transport.hpp"

#include <string.h>  // explicit_bzero
#include <sys/uio.h>

#include <algorithm>
#include <cstring>

#include "parent/upstream/upstream_transport_io.hpp"

namespace proxy {

using transport_io::clear_tls_errors;
using transport_io::would_block;

namespace {
constexpr std::size_t kCipherHigh = 256 * 1024;   // stop encrypting while this much is unsent
constexpr std::size_t kTlsRecordMax = 16 * 1024;  // the most plaintext one TLS record carries
constexpr int kGatherPieces = 8;
}  // namespace

void UpstreamTransport::on_output_added(evbuffer*, const evbuffer_cb_info* info,
                                        void* arg) noexcept {
    auto* self = static_cast<UpstreamTransport*>(arg);
    // Everything added in one loop turn leaves in one writev.
    if (info->n_added > 0 && self->state_ == State::Open) self->defer();
}

bool UpstreamTransport::flush() {
    if (state_ != State::Open) return state_ != State::Failed;
    if (ssl_ && !encrypt()) return false;
    return write_socket();
}

// Copies the leading whole pieces that fit in one record into the staging
// buffer, when there are at least two of them: the number of bytes staged,
// else 0 (each piece is written as it is).
std::size_t UpstreamTransport::join_pieces(const evbuffer_iovec* vec, int n) {
    const std::size_t cap = std::min(staging_.size(), kTlsRecordMax);
    std::size_t used = 0;
    int joined = 0;
    for (int i = 0; i < n && used + vec[i].iov_len <= cap; ++i, ++joined) {
        if (vec[i].iov_len > 0)
            std::memcpy(staging_.data() + used, vec[i].iov_base, vec[i].iov_len);
        used += vec[i].iov_len;
    }
    if (joined >= 2) return used;
    explicit_bzero(staging_.data(), used);
    return 0;
}

bool UpstreamTransport::encrypt() {
    evbuffer* out = out_.get();
    while (evbuffer_get_length(out) > 0 && evbuffer_get_length(cipher_out_.get()) < kCipherHigh) {
        evbuffer_iovec vec[kGatherPieces];
        const int n = std::min(evbuffer_peek(out, -1, nullptr, vec, kGatherPieces), kGatherPieces);
        std::size_t written = 0;
        if (const std::size_t joined = staging_.empty() ? 0 : join_pieces(vec, n); joined > 0) {
            // A retry after WANT_READ joins the same bytes at the same
            // address again, as SSL_write asks of a retried write.
            clear_tls_errors();
            const int ok = SSL_write_ex(ssl_.get(), staging_.data(), joined, &written);
            explicit_bzero(staging_.data(), joined);
            if (ok != 1) {
                int e = SSL_get_error(ssl_.get(), 0);
                if (e == SSL_ERROR_WANT_READ) return true;  // renegotiation: after the next read
                fail_tls("TLS write", e);
                return false;
            }
        }
        for (int i = 0; i < n && written == 0; ++i) {
            if (vec[i].iov_len == 0) continue;
            clear_tls_errors();
            if (SSL_write_ex(ssl_.get(), vec[i].iov_base, vec[i].iov_len, &written) != 1) {
                int e = SSL_get_error(ssl_.get(), 0);
                if (e == SSL_ERROR_WANT_READ) return true;  // renegotiation: after the next read
                fail_tls("TLS write", e);
                return false;
            }
        }
        if (written == 0) break;
        // Drained = taken upstream; the owner's credit callback runs here.
        evbuffer_drain(out, written);
    }
    return true;
}

bool UpstreamTransport::write_socket() {
    for (;;) {
        evbuffer* src = ssl_ ? cipher_out_.get() : out_.get();
        const std::size_t len = evbuffer_get_length(src);
        if (len == 0) break;
        int n = evbuffer_write(src, fd_.get());
        if (n < 0) {
            if (would_block(errno)) break;
            socket_error_ = errno;
            fail(BEV_EVENT_ERROR | BEV_EVENT_WRITING);
            return false;
        }
        update_timer();
        if (static_cast<std::size_t>(n) < len) break;  // the socket is full
        if (!ssl_ || state_ != State::Open || evbuffer_get_length(out_.get()) == 0) break;
        if (!encrypt()) return false;
    }
    update_write_interest();
    return true;
}

void UpstreamTransport::update_write_interest() {
    bool want = false;
    if (state_ == State::Connecting) {
        want = true;
    } else if (state_ == State::Tunneling || state_ == State::Handshaking ||
               state_ == State::Open) {
        want = evbuffer_get_length(ssl_ ? cipher_out_.get() : out_.get()) > 0;
    }
    if (want == write_armed_ || !write_ev_) return;
    write_armed_ = want;
    if (want)
        event_add(write_ev_.get(), nullptr);
    else
        event_del(write_ev_.get());
}

std::size_t UpstreamTransport::unsent() const {
    return evbuffer_get_length(out_.get()) + (ssl_ ? evbuffer_get_length(cipher_out_.get()) : 0);
}

}  // namespace proxy
