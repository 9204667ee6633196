#include "common/channel.hpp"

#include <fcntl.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <memory>
#include <vector>

namespace proxy {

namespace {
// Datagrams moved per sendmmsg/recvmmsg call. Syscalls dominate the cost of a
// small request on a VM; batching the messages of one loop turn (open, body,
// end; head, body, end) cuts them several-fold.
constexpr unsigned kBatch = 32;
// Receive buffers of kMaxMessage + 1 bytes each. A loop turn at 16 client
// connections brings about 24 messages (head, body, end per response): with
// 4 buffers that took 6 recvmmsg calls. The buffers are not zeroed, so only
// the pages that messages actually fill become resident.
constexpr unsigned kRecvBatch = 16;
// Room for one descriptor per datagram (ConnOpen). A datagram with more has
// MSG_CTRUNC set, and the kernel closes the ones that did not fit.
constexpr std::size_t kControlSize = CMSG_SPACE(sizeof(int));
// Message buffers up to this size are reused (Channel::spare_); bigger ones,
// body pieces mostly, go back to the heap.
constexpr std::size_t kSpareCapacity = 4096;

// `fd` as the SCM_RIGHTS of `msg`, in `control` (kControlSize bytes).
void attach_fd(msghdr& msg, char* control, int fd) {
    std::memset(control, 0, kControlSize);
    msg.msg_control = control;
    msg.msg_controllen = kControlSize;
    cmsghdr* c = CMSG_FIRSTHDR(&msg);
    c->cmsg_level = SOL_SOCKET;
    c->cmsg_type = SCM_RIGHTS;
    c->cmsg_len = CMSG_LEN(sizeof(int));
    std::memcpy(CMSG_DATA(c), &fd, sizeof fd);
}

// The descriptor a datagram brought, or -1. `extra` is set when its ancillary
// data held anything else (more descriptors, credentials, truncation): a peer
// that sends that is broken or hostile. Every descriptor received is owned by
// the caller, including extra ones, which are closed here.
int take_fd(msghdr& h, bool& extra) {
    int fd = -1;
    extra = (h.msg_flags & MSG_CTRUNC) != 0;
    for (cmsghdr* c = CMSG_FIRSTHDR(&h); c != nullptr; c = CMSG_NXTHDR(&h, c)) {
        if (c->cmsg_level != SOL_SOCKET || c->cmsg_type != SCM_RIGHTS) {
            extra = true;
            continue;
        }
        const std::size_t n = (c->cmsg_len - CMSG_LEN(0)) / sizeof(int);
        for (std::size_t i = 0; i < n; ++i) {
            int got;
            std::memcpy(&got, CMSG_DATA(c) + i * sizeof(int), sizeof got);
            if (fd < 0) {
                fd = got;
            } else {
                UniqueFd unwanted(got);
                extra = true;
            }
        }
    }
    return fd;
}
}  // namespace

Channel::Channel(event_base* base, UniqueFd fd, ChannelOwner& owner)
    : fd_(std::move(fd)), owner_(owner) {
    evutil_make_socket_nonblocking(fd_.get());
    read_event_.reset(
        event_new(base, fd_.get(), EV_READ | EV_PERSIST, &Channel::on_readable, this));
    write_event_.reset(event_new(base, fd_.get(), EV_WRITE, &Channel::on_writable, this));
    // Fired with event_active: runs after the callbacks of this loop turn, so
    // everything they sent leaves in one batch.
    flush_event_.reset(event_new(base, -1, 0, &Channel::on_writable, this));
    event_add(read_event_.get(), nullptr);
}

Channel::~Channel() {
    *alive_ = false;
}

void Channel::close() {
    read_event_.reset();
    write_event_.reset();
    flush_event_.reset();
    fd_.reset();
    queue_.clear();
    queued_fds_.clear();
    queued_bytes_ = 0;
    drain_watched_ = false;
}

bool Channel::send(ipc::Type type, std::uint32_t stream, std::string_view payload,
                   std::uint16_t flags) {
    if (!is_open() || payload.size() > ipc::kMaxPayload) return false;
    if (flags == 0 && payload.empty() && mark_last(type, stream)) return true;
    if (flags == 0 && !payload.empty() && ride_on_start(type, stream, payload)) return true;
    std::uint8_t header[ipc::kHeaderSize];
    ipc::encode_header(type, stream, static_cast<std::uint32_t>(payload.size()), flags, header);
    std::string msg;
    if (!spare_.empty()) {
        msg = std::move(spare_.back());
        spare_.pop_back();
        msg.clear();
    }
    msg.reserve(sizeof header + payload.size());
    msg.append(reinterpret_cast<const char*>(header), sizeof header);
    msg.append(payload);
    enqueue(std::move(msg));
    return true;
}

void Channel::enqueue(std::string msg) {
    queued_bytes_ += msg.size();
    queue_.push_back(std::move(msg));
    if (!flush_pending_ && !write_blocked_) {
        flush_pending_ = true;
        event_active(flush_event_.get(), 0, 0);
    }
}

namespace {
// The header of the last queued message, if it is of `stream` and one of the
// two types, and not yet ended (kFlagLast).
bool open_tail(const std::deque<std::string>& queue, std::uint32_t stream, ipc::Type a, ipc::Type b,
               ipc::MessageView& tail) {
    if (queue.empty()) return false;
    const std::string& bytes = queue.back();
    if (ipc::decode({reinterpret_cast<const std::uint8_t*>(bytes.data()), bytes.size()}, tail) !=
        ipc::DecodeError::None)
        return false;
    return (tail.type == a || tail.type == b) && tail.stream == stream &&
           (tail.flags & ipc::kFlagLast) == 0;
}

void rewrite_header(std::string& msg, const ipc::MessageView& was, std::size_t length,
                    std::uint16_t flags) {
    std::uint8_t header[ipc::kHeaderSize];
    ipc::encode_header(was.type, was.stream, static_cast<std::uint32_t>(length), flags, header);
    msg.replace(0, sizeof header, reinterpret_cast<const char*>(header), sizeof header);
}
}  // namespace

// An End whose stream's last body piece (or its start, when there was no
// body) is still queued becomes kFlagLast on it.
bool Channel::mark_last(ipc::Type end, std::uint32_t stream) {
    auto body = ipc::body_type_ended_by(end);
    ipc::MessageView tail;
    if (!body || !open_tail(queue_, stream, *body, *ipc::start_type_of(*body), tail)) return false;
    rewrite_header(queue_.back(), tail, tail.payload.size(), tail.flags | ipc::kFlagLast);
    return true;
}

// A body piece right after its stream's still-queued start joins that
// datagram (kFlagBody), as long as the datagram stays within the cap.
bool Channel::ride_on_start(ipc::Type body, std::uint32_t stream, std::string_view payload) {
    auto start = ipc::start_type_of(body);
    ipc::MessageView tail;
    if (!start || !open_tail(queue_, stream, *start, *start, tail) ||
        tail.payload.size() + payload.size() > ipc::kMaxPayload)
        return false;
    const std::size_t length = tail.payload.size() + payload.size();
    rewrite_header(queue_.back(), tail, length, tail.flags | ipc::kFlagBody);
    queue_.back().append(payload);
    queued_bytes_ += payload.size();
    return true;
}

bool Channel::send_with_fd(ipc::Type type, std::uint32_t stream, std::string_view payload, int fd) {
    if (!is_open() || payload.size() > ipc::kMaxPayload || !ipc::carries_fd(type)) return false;
    std::uint8_t header[ipc::kHeaderSize];
    ipc::encode_header(type, stream, static_cast<std::uint32_t>(payload.size()), 0, header);
    iovec iov[2] = {{header, sizeof header}, {const_cast<char*>(payload.data()), payload.size()}};
    for (;;) {
        if (sendmsg_with_fd(fd_.get(), iov, payload.empty() ? 1 : 2, fd,
                            MSG_DONTWAIT | MSG_NOSIGNAL) >= 0)
            return true;
        if (errno == EINTR) continue;
        if (errno == EAGAIN || errno == EWOULDBLOCK || errno == ENOBUFS) break;
        return false;
    }
    // The socket is full: the message waits its turn with a descriptor of
    // its own, since the caller's may be closed (and its number reused) by
    // the time the queue drains.
    UniqueFd copy(::fcntl(fd, F_DUPFD_CLOEXEC, 0));
    if (copy.get() < 0) return false;
    queued_fds_.push_back({sent_ + queue_.size(), std::move(copy)});
    std::string msg(reinterpret_cast<const char*>(header), sizeof header);
    msg.append(payload);
    enqueue(std::move(msg));
    return true;
}

ssize_t sendmsg_with_fd(int sock, iovec* iov, int iovcnt, int fd, int flags) {
    alignas(cmsghdr) char control[kControlSize];
    msghdr msg{};
    msg.msg_iov = iov;
    msg.msg_iovlen = static_cast<std::size_t>(iovcnt);
    if (fd >= 0) attach_fd(msg, control, fd);
    return ::sendmsg(sock, &msg, flags);
}

bool Channel::send_data(ipc::Type type, std::uint32_t stream, std::string_view data) {
    do {
        auto piece = data.substr(0, ipc::kMaxPayload);
        if (!send(type, stream, piece)) return false;
        data.remove_prefix(piece.size());
    } while (!data.empty());
    return true;
}

bool Channel::flush() {
    flush_pending_ = false;
    write_blocked_ = false;
    mmsghdr msgs[kBatch];
    iovec iovs[kBatch];
    alignas(cmsghdr) char control[kBatch][kControlSize];
    while (!queue_.empty()) {
        unsigned n = 0;
        auto with_fd = queued_fds_.begin();
        for (auto it = queue_.begin(); it != queue_.end() && n < kBatch; ++it, ++n) {
            iovs[n] = {it->data(), it->size()};
            msgs[n] = {};
            msgs[n].msg_hdr.msg_iov = &iovs[n];
            msgs[n].msg_hdr.msg_iovlen = 1;
            if (with_fd != queued_fds_.end() && with_fd->seq == sent_ + n) {
                attach_fd(msgs[n].msg_hdr, control[n], with_fd->fd.get());
                ++with_fd;
            }
        }
        int sent = ::sendmmsg(fd_.get(), msgs, n, MSG_DONTWAIT | MSG_NOSIGNAL);
        if (sent < 0) {
            if (errno == EAGAIN || errno == EWOULDBLOCK || errno == ENOBUFS) {
                write_blocked_ = true;
                event_add(write_event_.get(), nullptr);
                return true;
            }
            if (errno == EINTR) continue;
            return false;
        }
        for (int i = 0; i < sent; ++i) {
            std::string& done = queue_.front();
            queued_bytes_ -= done.size();
            // Small buffers are kept for the next messages: most messages are
            // small, and a request or response is then no malloc and free here.
            if (done.capacity() <= kSpareCapacity && spare_.size() < kBatch)
                spare_.push_back(std::move(done));
            queue_.pop_front();
        }
        sent_ += static_cast<unsigned>(sent);
        // The kernel holds its own reference to a descriptor sent.
        while (!queued_fds_.empty() && queued_fds_.front().seq < sent_) queued_fds_.pop_front();
    }
    return true;
}

void Channel::watch_drain(std::size_t low) {
    drain_low_ = low;
    drain_watched_ = true;
    // Already there: say so from the loop, as after a write.
    if (queued_bytes_ <= low && !flush_pending_ && !write_blocked_ && flush_event_) {
        flush_pending_ = true;
        event_active(flush_event_.get(), 0, 0);
    }
}

void Channel::on_writable(evutil_socket_t, short, void* arg) noexcept {
    auto* self = static_cast<Channel*>(arg);
    if (!self->is_open()) return;
    if (!self->flush()) {
        self->fail("write to peer failed", false);
        return;
    }
    if (self->drain_watched_ && self->queued_bytes_ <= self->drain_low_) {
        self->drain_watched_ = false;
        self->owner_.on_channel_drained();
    }
}

void Channel::on_readable(evutil_socket_t, short, void* arg) noexcept {
    static_cast<Channel*>(arg)->read_some();
}

void Channel::fail(const char* why, bool malformed) {
    close();
    owner_.on_channel_down(why, malformed);
}

void Channel::read_some() {
    // One extra byte beyond the cap per buffer: MSG_TRUNC reports the real
    // datagram size, so an oversized datagram is seen, not silently cut.
    static thread_local std::unique_ptr<std::uint8_t[]> buf(
        new std::uint8_t[kRecvBatch * (ipc::kMaxMessage + 1)]);
    auto alive_token = alive_;
    const bool& alive = *alive_token;
    // Bounded work per wakeup so one busy peer cannot starve the loop.
    for (int round = 0; round < 16 && alive && is_open(); ++round) {
        mmsghdr msgs[kRecvBatch];
        iovec iovs[kRecvBatch];
        alignas(cmsghdr) char control[kRecvBatch][kControlSize];
        for (unsigned i = 0; i < kRecvBatch; ++i) {
            iovs[i] = {buf.get() + i * (ipc::kMaxMessage + 1), ipc::kMaxMessage + 1};
            msgs[i] = {};
            msgs[i].msg_hdr.msg_iov = &iovs[i];
            msgs[i].msg_hdr.msg_iovlen = 1;
            msgs[i].msg_hdr.msg_control = control[i];
            msgs[i].msg_hdr.msg_controllen = kControlSize;
        }
        int got = ::recvmmsg(fd_.get(), msgs, kRecvBatch, MSG_DONTWAIT | MSG_CMSG_CLOEXEC, nullptr);
        if (got < 0) {
            if (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR) break;
            fail("read from peer failed", false);
            break;
        }
        if (got == 0) {
            fail("peer closed the channel", false);
            break;
        }
        // Descriptors of every datagram received, closed whatever happens.
        UniqueFd fds[kRecvBatch];
        bool fd_extra[kRecvBatch];
        for (int i = 0; i < got; ++i) fds[i].reset(take_fd(msgs[i].msg_hdr, fd_extra[i]));
        for (int i = 0; i < got && alive && is_open(); ++i) {
            std::size_t n = msgs[i].msg_len;
            if (n == 0) {
                fail("peer closed the channel", false);
                break;
            }
            if ((msgs[i].msg_hdr.msg_flags & MSG_TRUNC) || n > ipc::kMaxMessage) {
                fail("oversized datagram", true);
                break;
            }
            ipc::MessageView msg;
            auto err = ipc::decode({static_cast<std::uint8_t*>(iovs[i].iov_base), n}, msg);
            if (err != ipc::DecodeError::None) {
                fail(ipc::decode_error_name(err), true);
                break;
            }
            if (fd_extra[i] || (fds[i].get() >= 0 && !ipc::carries_fd(msg.type))) {
                fail("unexpected ancillary data", true);
                break;
            }
            msg.fd = fds[i].get();
            msg.fd_owner = &fds[i];
            owner_.on_message(msg);
        }
        if (got < static_cast<int>(kRecvBatch)) break;
    }
}

}  // namespace proxy
