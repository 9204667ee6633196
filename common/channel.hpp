// One end of a parent<->worker SOCK_SEQPACKET socketpair, driven by libevent.
// Sends never block: messages queue and leave together (sendmmsg) at the end
// of the loop turn that produced them; a full socket resumes on EV_WRITE.
// Receives decode each datagram with the codec and hand it to the owner.
#pragma once

#include <cstddef>
#include <cstdint>
#include <deque>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include <sys/types.h>
#include <sys/uio.h>

#include "common/event_ptr.hpp"
#include "common/ipc.hpp"
#include "common/unique_fd.hpp"

namespace proxy {

// sendmsg(2) of `iov` with `fd` attached as SCM_RIGHTS (none when fd < 0).
ssize_t sendmsg_with_fd(int sock, iovec* iov, int iovcnt, int fd, int flags);

class ChannelOwner {
  public:
    virtual ~ChannelOwner() = default;
    // A well-formed message arrived. The owner may close or destroy the
    // channel from here; the channel checks `alive` before touching itself.
    virtual void on_message(const ipc::MessageView& msg) = 0;
    // The peer closed, an I/O error happened, or a datagram did not decode.
    // `malformed` is true for the latter: the peer is hostile or broken.
    virtual void on_channel_down(const char* why, bool malformed) = 0;
    // The queue has drained to the level asked for with watch_drain().
    virtual void on_channel_drained() {}
};

class Channel {
  public:
    Channel(event_base* base, UniqueFd fd, ChannelOwner& owner);
    ~Channel();
    Channel(const Channel&) = delete;
    Channel& operator=(const Channel&) = delete;

    // Queue one message. Payload over ipc::kMaxPayload is a programming error
    // (callers split data) and returns false; so does a closed channel.
    // Messages of one stream fold into the still-queued one before them: a
    // body piece right after its ReqOpen/RespHead rides on it (kFlagBody) if
    // the datagram stays within the cap, and ReqEnd/RespEnd right after a
    // body piece or a start become ipc::kFlagLast on it. Same meaning, same
    // order, fewer datagrams. `flags` (a MetricsAnswer's kFlagLast): sent as
    // given, never folded.
    bool send(ipc::Type type, std::uint32_t stream, std::string_view payload = {},
              std::uint16_t flags = 0);
    // A message with a descriptor (SCM_RIGHTS; ConnOpen for a connection just
    // accepted). Sent at once when the socket has room, so it may overtake
    // queued messages: only use it for a message nothing queued can depend
    // on. When the socket is full (the peer is behind on a busy channel) it
    // queues behind the others with a duplicate of `fd`, which the channel
    // closes once the message has left. Either way `fd` need only stay open
    // for this call. False when the channel is closed or broken, or `fd`
    // cannot be duplicated: the caller drops what the fd was for.
    bool send_with_fd(ipc::Type type, std::uint32_t stream, std::string_view payload, int fd);
    // Body data of any size, split into kMaxPayload pieces.
    bool send_data(ipc::Type type, std::uint32_t stream, std::string_view data);

    std::size_t queued_bytes() const { return queued_bytes_; }
    // Once: on_channel_drained() when queued_bytes() is at most `low` after
    // a write (at once, from the loop, if it is already).
    void watch_drain(std::size_t low);
    bool is_open() const { return fd_.get() >= 0; }
    int fd() const { return fd_.get(); }
    void close();

  private:
    static void on_readable(evutil_socket_t, short, void* arg) noexcept;
    static void on_writable(evutil_socket_t, short, void* arg) noexcept;
    void read_some();
    bool flush();
    bool mark_last(ipc::Type end, std::uint32_t stream);
    bool ride_on_start(ipc::Type body, std::uint32_t stream, std::string_view payload);
    void enqueue(std::string msg);
    void fail(const char* why, bool malformed);

    UniqueFd fd_;
    ChannelOwner& owner_;
    EventPtr read_event_;
    EventPtr write_event_;
    EventPtr flush_event_;
    bool flush_pending_ = false;  // flush_event_ is active
    bool write_blocked_ = false;  // waiting for EV_WRITE
    std::deque<std::string> queue_;
    std::vector<std::string> spare_;  // sent messages' buffers, for the next ones
    std::size_t queued_bytes_ = 0;
    std::size_t drain_low_ = 0;
    bool drain_watched_ = false;
    // Descriptors of queued messages (send_with_fd on a full socket), each
    // with the number of its message: messages sent so far + its place in
    // queue_ when it was queued. Rare, so kept apart from queue_.
    struct QueuedFd {
        std::uint64_t seq;
        UniqueFd fd;
    };
    std::deque<QueuedFd> queued_fds_;
    std::uint64_t sent_ = 0;  // messages that have left queue_
    // Set to false by the destructor so a callback that destroyed us returns.
    std::shared_ptr<bool> alive_ = std::make_shared<bool>(true);
};

}  // namespace proxy
