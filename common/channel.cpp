#include "common/channel.hpp"

#include <sys/socket.h>

#include <sys/uio.h>
#include <cerrno>

#include <cstring>
#include <vector>

namespace proxy {

Channel::Channel(event_base* base, UniqueFd fd, ChannelOwner& owner)
    : fd_(std::move(fd)), owner_(owner) {
    evutil_make_socket_nonblocking(fd_.get());
    read_event_.reset(
        event_new(base, fd_.get(), EV_READ | EV_PERSIST, &Channel::on_readable, this));
    write_event_.reset(event_new(base, fd_.get(), EV_WRITE, &Channel::on_writable, this));
    event_add(read_event_.get(), nullptr);
}

Channel::~Channel() {
    *alive_ = false;
}

void Channel::close() {
    read_event_.reset();
    write_event_.reset();
    fd_.reset();
    queue_.clear();
    queued_bytes_ = 0;
}

bool Channel::send(ipc::Type type, std::uint32_t stream, std::string_view payload) {
    if (!is_open() || payload.size() > ipc::kMaxPayload) return false;
    std::uint8_t header[ipc::kHeaderSize];
    ipc::encode_header(type, stream, static_cast<std::uint32_t>(payload.size()), 0, header);
    if (queue_.empty()) {
        // Header and payload gathered straight from where they are: no copy
        // unless the socket is full and the message has to wait.
        iovec iov[2] = {{header, sizeof header},
                        {const_cast<char*>(payload.data()), payload.size()}};
        msghdr mh{};
        mh.msg_iov = iov;
        mh.msg_iovlen = payload.empty() ? 1 : 2;
        ssize_t n = ::sendmsg(fd_.get(), &mh, MSG_DONTWAIT | MSG_NOSIGNAL);
        if (n == static_cast<ssize_t>(sizeof header + payload.size())) return true;
        if (n < 0 && errno != EAGAIN && errno != EWOULDBLOCK && errno != ENOBUFS) {
            // The peer is gone; the read side reports it to the owner.
            return false;
        }
        event_add(write_event_.get(), nullptr);
    }
    std::string queued(reinterpret_cast<const char*>(header), sizeof header);
    queued.append(payload);
    queued_bytes_ += queued.size();
    queue_.push_back(std::move(queued));
    return true;
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
    while (!queue_.empty()) {
        const std::string& m = queue_.front();
        ssize_t n = ::send(fd_.get(), m.data(), m.size(), MSG_DONTWAIT | MSG_NOSIGNAL);
        if (n < 0) {
            if (errno == EAGAIN || errno == EWOULDBLOCK || errno == ENOBUFS) {
                event_add(write_event_.get(), nullptr);
                return true;
            }
            return false;
        }
        queued_bytes_ -= m.size();
        queue_.pop_front();
    }
    return true;
}

void Channel::on_writable(evutil_socket_t, short, void* arg) {
    auto* self = static_cast<Channel*>(arg);
    if (!self->flush()) self->fail("write to peer failed", false);
}

void Channel::on_readable(evutil_socket_t, short, void* arg) {
    static_cast<Channel*>(arg)->read_some();
}

void Channel::fail(const char* why, bool malformed) {
    close();
    owner_.on_channel_down(why, malformed);
}

void Channel::read_some() {
    // One extra byte beyond the cap: with MSG_TRUNC the kernel reports the
    // real datagram size, so an oversized datagram is seen, not silently cut.
    static thread_local std::vector<std::uint8_t> buf(ipc::kMaxMessage + 1);
    auto alive_token = alive_;
    const bool& alive = *alive_token;
    // Bounded batch per wakeup so one busy peer cannot starve the loop.
    for (int i = 0; i < 64 && alive && is_open(); ++i) {
        ssize_t n = ::recv(fd_.get(), buf.data(), buf.size(), MSG_DONTWAIT | MSG_TRUNC);
        if (n < 0) {
            if (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR) break;
            fail("read from peer failed", false);
            break;
        }
        if (n == 0) {
            fail("peer closed the channel", false);
            break;
        }
        if (static_cast<std::size_t>(n) > ipc::kMaxMessage) {
            fail("oversized datagram", true);
            break;
        }
        ipc::MessageView msg;
        auto err = ipc::decode({buf.data(), static_cast<std::size_t>(n)}, msg);
        if (err != ipc::DecodeError::None) {
            fail(ipc::decode_error_name(err), true);
            break;
        }
        owner_.on_message(msg);
    }
}

}  // namespace proxy
