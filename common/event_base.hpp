#pragma once

#include <event2/event.h>

namespace proxy {

// An event base for this program: epoll with a changelist, so enabling and
// disabling a bufferevent's write event within one loop turn (every response
// write) costs at most one epoll_ctl instead of two. No locking: each process
// is single-threaded.
event_base* new_event_base();

}  // namespace proxy
