// RAII owners for libevent and OpenSSL objects (Envoy style): nobody calls
// *_free by hand in feature code.
#pragma once

#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/dns.h>
#include <event2/event.h>
#include <event2/listener.h>
#include <openssl/ssl.h>

#include <memory>

namespace proxy {

template <auto Fn>
struct CFree {
    template <typename T>
    void operator()(T* p) const {
        if (p) Fn(p);
    }
};

inline void free_evdns(evdns_base* b) {
    evdns_base_free(b, 0);
}

using EventBasePtr = std::unique_ptr<event_base, CFree<event_base_free>>;
using EventPtr = std::unique_ptr<event, CFree<event_free>>;
using BufferEventPtr = std::unique_ptr<bufferevent, CFree<bufferevent_free>>;
using EvBufferPtr = std::unique_ptr<evbuffer, CFree<evbuffer_free>>;
using EvListenerPtr = std::unique_ptr<evconnlistener, CFree<evconnlistener_free>>;
using EvDnsBasePtr = std::unique_ptr<evdns_base, CFree<free_evdns>>;
using SslCtxPtr = std::unique_ptr<SSL_CTX, CFree<SSL_CTX_free>>;
using SslSessionPtr = std::unique_ptr<SSL_SESSION, CFree<SSL_SESSION_free>>;

}  // namespace proxy
