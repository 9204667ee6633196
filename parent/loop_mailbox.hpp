// A wake-up for one event loop from another thread of the parent: post()
// sets bits and writes an eventfd; the loop's thread reads it and hands the
// accumulated bits to its handler. The bases stay lock-free
// (EVENT_BASE_FLAG_NOLOCK): no thread touches another loop's events.
#pragma once

#include <event2/event.h>

#include <atomic>
#include <functional>
#include <string>

#include "common/event_ptr.hpp"
#include "common/result.hpp"
#include "common/unique_fd.hpp"

namespace proxy {

class LoopMailbox {
  public:
    using Handler = std::function<void(unsigned bits)>;

    // Before the sandbox (eventfd2 is not allowed after it).
    Result<void> open(event_base* base, Handler handler);
    // From any thread: the handler runs on the loop's thread with `bits`
    // or-ed into whatever else is pending.
    void post(unsigned bits);

  private:
    static void on_ready(evutil_socket_t fd, short, void* arg) noexcept;

    UniqueFd fd_;
    EventPtr event_;
    std::atomic<unsigned> bits_{0};
    Handler handler_;
};

}  // namespace proxy
