#include "common/idle_trim.hpp"

#include <malloc.h>

#include "common/log.hpp"

namespace proxy {

IdleTrim::IdleTrim(event_base* base, IdleCheck is_idle, void* arg, timeval delay)
    : timer_(evtimer_new(base, &IdleTrim::on_timer, this)),
      delay_(delay),
      is_idle_(is_idle),
      arg_(arg) {}

void IdleTrim::went_idle() {
    if (!timer_) return;
    event_base_gettimeofday_cached(event_get_base(timer_.get()), &last_idle_);
    // Already armed: the timer sees last_idle_ when it fires.
    if (!evtimer_pending(timer_.get(), nullptr)) evtimer_add(timer_.get(), &delay_);
}

void IdleTrim::on_timer(evutil_socket_t, short, void* arg) noexcept {
    auto* self = static_cast<IdleTrim*>(arg);
    if (!self->is_idle_(self->arg_)) return;  // busy again: the next idle moment re-arms
    // Idle now, but was it idle all along? A went_idle() within the delay
    // means requests came and went: wait until delay after the latest one.
    timeval now{}, quiet_until{}, rest{};
    event_base_gettimeofday_cached(event_get_base(self->timer_.get()), &now);
    evutil_timeradd(&self->last_idle_, &self->delay_, &quiet_until);
    if (evutil_timercmp(&now, &quiet_until, <)) {
        evutil_timersub(&quiet_until, &now, &rest);
        // A wall clock stepped back must not postpone the trim for longer.
        if (evutil_timercmp(&rest, &self->delay_, >)) rest = self->delay_;
        evtimer_add(self->timer_.get(), &rest);
        return;
    }
    self->last_file_release_ = self->file_pages_.release();
    const bool released = malloc_trim(0) != 0;
    ++self->trims_;
    LOG_DEBUG("idle: %s; %zu KiB of read-only file mappings unmapped",
              released ? "freed heap returned to the kernel" : "heap already trimmed",
              self->last_file_release_ / 1024);
}

}  // namespace proxy
