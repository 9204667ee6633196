#include "parent/loop_mailbox.hpp"

#include <sys/eventfd.h>
#include <unistd.h>

#include <cerrno>
#include <cstdint>
#include <cstring>

namespace proxy {

Result<void> LoopMailbox::open(event_base* base, Handler handler) {
    handler_ = std::move(handler);
    fd_.reset(::eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC));
    if (!fd_) return Error{std::string("eventfd: ") + std::strerror(errno)};
    event_.reset(event_new(base, fd_.get(), EV_READ | EV_PERSIST, &LoopMailbox::on_ready, this));
    if (!event_ || event_add(event_.get(), nullptr) != 0)
        return Error{"cannot watch the loop's eventfd"};
    return {};
}

void LoopMailbox::post(unsigned bits) {
    bits_.fetch_or(bits, std::memory_order_acq_rel);
    const std::uint64_t one = 1;
    // EAGAIN only when the counter is near 2^64: the loop is woken anyway.
    while (::write(fd_.get(), &one, sizeof one) < 0 && errno == EINTR) {
    }
}

void LoopMailbox::on_ready(evutil_socket_t fd, short, void* arg) noexcept {
    auto* self = static_cast<LoopMailbox*>(arg);
    std::uint64_t count = 0;
    while (::read(fd, &count, sizeof count) < 0 && errno == EINTR) {
    }
    const unsigned bits = self->bits_.exchange(0, std::memory_order_acq_rel);
    if (bits != 0) self->handler_(bits);
}

}  // namespace proxy
