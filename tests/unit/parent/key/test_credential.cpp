// The Authorization indirection: request heads reference the current page;
// a replaced page lives (unwiped) until the last head referencing it is
// written, then goes.
#include <doctest/doctest.h>
#include <event2/buffer.h>

#include <cstring>
#include <string>

#include "common/event_ptr.hpp"
#include "parent/key/credential.hpp"
#include "tests/unit/support/key_pages.hpp"

using namespace proxy;

namespace {

using test::page_with;

std::string drain(evbuffer* b) {
    std::string s(evbuffer_get_length(b), '\0');
    evbuffer_remove(b, s.data(), s.size());
    return s;
}

}  // namespace

TEST_CASE("Credential: a replaced page outlives the heads that reference it") {
    const long before = Credential::live_pages();
    Credential cred(page_with("Bearer one"));
    CHECK(cred.available());
    EvBufferPtr head(evbuffer_new());
    REQUIRE(cred.append_to(head.get()));
    cred.replace(page_with("Bearer two"));
    CHECK(Credential::live_pages() == before + 2);  // "one" is still referenced
    EvBufferPtr head2(evbuffer_new());
    REQUIRE(cred.append_to(head2.get()));
    CHECK(drain(head.get()) == "Bearer one");  // written after the swap: still intact
    CHECK(Credential::live_pages() == before + 1);
    CHECK(drain(head2.get()) == "Bearer two");
    cred.clear();
    CHECK_FALSE(cred.available());
    EvBufferPtr head3(evbuffer_new());
    CHECK_FALSE(cred.append_to(head3.get()));
    CHECK(evbuffer_get_length(head3.get()) == 0);
    CHECK(Credential::live_pages() == before);
}

TEST_CASE("Credential: freeing a buffer that still references a page releases it") {
    const long before = Credential::live_pages();
    {
        Credential cred(page_with("Bearer k"));
        EvBufferPtr head(evbuffer_new());
        REQUIRE(cred.append_to(head.get()));
        cred.clear();
        CHECK(Credential::live_pages() == before + 1);
    }
    CHECK(Credential::live_pages() == before);
}
