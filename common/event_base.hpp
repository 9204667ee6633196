#pragma once

#include <event2/event.h>

namespace proxy {

// An event base for this program: epoll with a changelist, so enabling and
// disabling a bufferevent's write event within one loop turn (every response
// write) costs at most one epoll_ctl instead of two. No locking: each base is
// used by one thread only. The worker has one thread; the parent's upstream
// threads each run a base of their own and reach another loop only through
// its mailbox (parent/loop_mailbox.hpp).
event_base* new_event_base();

}  // namespace proxy
