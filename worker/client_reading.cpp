// ClientConnection's socket reading: one readv per wakeup into the input
// buffer (libevent 2.1 would read 4 KiB after a FIONREAD ioctl), paused at
// read_cap(), with the body timeout as the read event's timeout, and the
// lingering close's discard. Parsing what was read is in client_connection.cpp.
#include <sys/uio.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>

#include "common/ipc.hpp"
#include "worker/client_connection.hpp"
#include "worker/worker_process.hpp"

namespace proxy {

void ClientConnection::on_readable(evutil_socket_t, short what, void* arg) noexcept {
    auto* self = static_cast<ClientConnection*>(arg);
    if (what & EV_TIMEOUT) {
        on_event(self->bev_.get(), BEV_EVENT_TIMEOUT | BEV_EVENT_READING, self);
        return;
    }
    if (self->lingering_) {
        self->discard_input();
        return;
    }
    ReadResult r = self->read_more();
    if (r == ReadResult::Error) {
        on_event(self->bev_.get(), BEV_EVENT_ERROR | BEV_EVENT_READING, self);
        return;
    }
    self->process_input();
    if (self->closed_) return;
    if (r == ReadResult::Eof) {
        on_event(self->bev_.get(), BEV_EVENT_EOF | BEV_EVENT_READING, self);
        return;
    }
    self->update_reading();
}

// One readv per wakeup, of everything the socket holds up to read_cap().
ClientConnection::ReadResult ClientConnection::read_more() {
    evbuffer* in = bufferevent_get_input(bev_.get());
    const std::size_t cap = read_cap();
    const std::size_t have = evbuffer_get_length(in);
    if (have >= cap) return ReadResult::Again;
    evbuffer_iovec vec[2];
    int n = evbuffer_reserve_space(in, static_cast<ev_ssize_t>(cap - have), vec, 2);
    if (n <= 0) return ReadResult::Error;
    iovec iov[2];
    for (int i = 0; i < n; ++i) iov[i] = {vec[i].iov_base, vec[i].iov_len};
    ssize_t got = ::readv(bufferevent_getfd(bev_.get()), iov, n);
    std::size_t left = got > 0 ? static_cast<std::size_t>(got) : 0;
    for (int i = 0; i < n; ++i) {
        vec[i].iov_len = std::min(vec[i].iov_len, left);
        left -= vec[i].iov_len;
    }
    evbuffer_commit_space(in, vec, n);
    if (got > 0) return ReadResult::Data;
    if (got < 0 && (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR))
        return ReadResult::Again;
    // EOF or an error: like a bufferevent, stop reading for good.
    read_eof_ = true;
    read_ev_.reset();
    return got == 0 ? ReadResult::Eof : ReadResult::Error;
}

// Lingering close: read and drop whatever the client still sends.
void ClientConnection::discard_input() {
    static char sink[16 * 1024];
    ssize_t got = ::read(bufferevent_getfd(bev_.get()), sink, sizeof sink);
    if (got == 0 || (got < 0 && errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR))
        close_now();
}

// Never hold more unread client bytes than one head (a flooding or pipelining
// client stalls in its own socket buffer, not in our memory); a body may be
// read a little further ahead, since it leaves for the parent at once.
std::size_t ClientConnection::read_cap() const {
    const std::size_t head_cap = worker_.options().max_header_bytes + 1;
    return req_ == ReqState::Body ? std::max<std::size_t>(head_cap, 2 * ipc::kMaxPayload)
                                  : head_cap;
}

void ClientConnection::update_reading() {
    if (!read_ev_ || closed_ || lingering_) return;
    const bool full = evbuffer_get_length(bufferevent_get_input(bev_.get())) >= read_cap();
    if (full == read_paused_) return;
    read_paused_ = full;
    if (full)
        event_del(read_ev_.get());
    else
        arm_read_event();
}

void ClientConnection::arm_read_event() {
    if (!read_ev_) return;
    // Re-adding a pending event only moves its deadline: no epoll_ctl.
    timeval tv{static_cast<time_t>(read_timeout_s_), 0};
    event_add(read_ev_.get(), read_timeout_s_ ? &tv : nullptr);
}

// Like a bufferevent read timeout: no bytes for this long while we want to
// read reports BEV_EVENT_TIMEOUT. 0 turns it off.
void ClientConnection::set_read_timeout(unsigned s) {
    if (read_timeout_s_ == s) return;
    read_timeout_s_ = s;
    if (read_ev_ && !read_paused_) arm_read_event();
}

void ClientConnection::on_input_drained(evbuffer*, const evbuffer_cb_info* info,
                                        void* arg) noexcept {
    auto* self = static_cast<ClientConnection*>(arg);
    if (info->n_deleted > 0 && self->read_paused_) self->update_reading();
}

}  // namespace proxy
