// RAII owners for libevent objects (Envoy style): nobody calls *_free by hand
// in feature code. The parent's OpenSSL and evdns owners are in
// parent/parent_ptr.hpp: the worker links neither library.
#pragma once

#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/event.h>
#include <event2/listener.h>

#include <memory>

namespace proxy {

template <auto Fn>
struct CFree {
    template <typename T>
    void operator()(T* p) const {
        if (p) Fn(p);
    }
};

using EventBasePtr = std::unique_ptr<event_base, CFree<event_base_free>>;
using EventPtr = std::unique_ptr<event, CFree<event_free>>;
using BufferEventPtr = std::unique_ptr<bufferevent, CFree<bufferevent_free>>;
using EvBufferPtr = std::unique_ptr<evbuffer, CFree<evbuffer_free>>;
using EvListenerPtr = std::unique_ptr<evconnlistener, CFree<evconnlistener_free>>;

}  // namespace proxy
