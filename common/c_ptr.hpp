// One owning pointer per C type (Envoy's libevent.h style): the C library's
// own free function runs when the owner goes, so nobody calls it by hand.
// The libevent owners are in common/event_ptr.hpp, the parent's OpenSSL and
// evdns owners in parent/parent_ptr.hpp (the worker links neither library);
// this file holds the pattern and the owners of libc's types.
#pragma once

#include <dirent.h>

#include <memory>

namespace proxy {

template <auto Fn>
struct CFree {
    template <typename T>
    void operator()(T* p) const {
        if (p) Fn(p);
    }
};

using DirPtr = std::unique_ptr<DIR, CFree<closedir>>;

}  // namespace proxy
