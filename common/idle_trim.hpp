// Gives freed heap, and the pages of library code and tables that the last
// requests mapped, back to the kernel once a process has gone idle.
//
// glibc keeps what a burst of connections freed: after 256 connections with
// 40 KiB bodies the proxy's processes held ~20 MiB more than at start, for
// good. malloc_trim(0) returns the free pages inside the heap too (not only
// its top), but it walks every free chunk and returns the pages one madvise
// at a time (2-2.5 ms for 20 MiB freed in 4 KiB blocks, 5.5-7 ms for 64 MiB,
// on the 2-core benchmark VM), so it is not for the hot path:
// went_idle() arms a one-shot timer, and the heap is trimmed only when the
// process has been idle for the whole delay: still idle when the timer fires,
// and no went_idle() within the last delay. A client that keeps a connection
// open and sends request after request makes the process "idle" between
// every two of them; each of those moments only notes the (cached) time, and
// a timer that finds one within the delay waits out the rest of it, so a
// steady load is never interrupted by a trim.
//
// The same idle moment unmaps clean, read-only file pages (common/
// file_pages.hpp): an idle proxy's resident memory is mostly library code and
// tables, which the next request maps again from the page cache with minor
// faults (measured: bench/README.md). /proc/self/smaps is opened when the
// IdleTrim is made, so make it before the sandbox; a process that is idle from
// the start (just sandboxed) calls went_idle() too.
#pragma once

#include <event2/event.h>

#include "common/event_ptr.hpp"
#include "common/file_pages.hpp"

namespace proxy {

class IdleTrim {
  public:
    // is_idle: asked when the timer fires; true means nothing is in flight.
    using IdleCheck = bool (*)(void* arg) noexcept;  // runs inside a libevent callback
    IdleTrim(event_base* base, IdleCheck is_idle, void* arg, timeval delay = kDelay);

    // The last connection or stream just ended: trim after delay of quiet.
    // Cheap: called once per request under load.
    void went_idle();
    // How many times the heap was trimmed (for the log and tests).
    unsigned trims() const { return trims_; }
    // Bytes of file mappings advised at the last trim (for tests).
    std::size_t last_file_release() const { return last_file_release_; }

    static constexpr timeval kDelay{2, 0};

  private:
    static void on_timer(evutil_socket_t, short, void* arg) noexcept;

    EventPtr timer_;
    timeval delay_;
    timeval last_idle_{};  // the latest went_idle(), loop-cached time
    IdleCheck is_idle_;
    void* arg_;
    unsigned trims_ = 0;
    FilePages file_pages_;
    std::size_t last_file_release_ = 0;
};

}  // namespace proxy
