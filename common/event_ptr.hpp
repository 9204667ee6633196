// RAII owners for libevent objects (Envoy style): nobody calls *_free by hand
// in feature code. The pattern and libc's owners are in common/c_ptr.hpp; the
// parent's OpenSSL and evdns owners are in parent/parent_ptr.hpp: the worker
// links neither library.
#pragma once

#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/event.h>
#include <event2/listener.h>
#include <event2/util.h>

#include <memory>

#include "common/c_ptr.hpp"

namespace proxy {

using EventBasePtr = std::unique_ptr<event_base, CFree<event_base_free>>;
using EventPtr = std::unique_ptr<event, CFree<event_free>>;
using BufferEventPtr = std::unique_ptr<bufferevent, CFree<bufferevent_free>>;
using EvBufferPtr = std::unique_ptr<evbuffer, CFree<evbuffer_free>>;
using EvListenerPtr = std::unique_ptr<evconnlistener, CFree<evconnlistener_free>>;
// What evutil_getaddrinfo and evdns_getaddrinfo hand over.
using AddrInfoPtr = std::unique_ptr<evutil_addrinfo, CFree<evutil_freeaddrinfo>>;

}  // namespace proxy
