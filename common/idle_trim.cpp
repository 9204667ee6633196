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
    // Already armed: the quiet period counts from the first idle moment; a
    // busy spell in between is caught by the check when it fires.
    if (timer_ && !evtimer_pending(timer_.get(), nullptr)) evtimer_add(timer_.get(), &delay_);
}

void IdleTrim::on_timer(evutil_socket_t, short, void* arg) {
    auto* self = static_cast<IdleTrim*>(arg);
    if (!self->is_idle_(self->arg_)) return;  // busy again: the next idle moment re-arms
    self->last_file_release_ = self->file_pages_.release();
    const bool released = malloc_trim(0) != 0;
    ++self->trims_;
    LOG_DEBUG("idle: %s; %zu KiB of read-only file mappings unmapped",
              released ? "freed heap returned to the kernel" : "heap already trimmed",
              self->last_file_release_ / 1024);
}

}  // namespace proxy
