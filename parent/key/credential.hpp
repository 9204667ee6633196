// The Authorization header value the parent sends upstream, and the one place
// that knows which locked page currently holds it: the API key's page for the
// whole run, or (with --github-oidc) the page of the newest access token.
//
// Request heads reference the page (no copy). A head may wait in a buffer
// while its connection is set up, so each reference holds the page alive: a
// replaced page is wiped and unmapped when the last reference is written, not
// while an older request still points into it.
#pragma once

#include <event2/buffer.h>

#include <memory>
#include <mutex>
#include <string>
#include <string_view>

#include "common/secret_page.hpp"

namespace proxy {

class Credential {
  public:
    Credential() = default;
    explicit Credential(KeyPage page) { replace(std::move(page)); }
    Credential(const Credential&) = delete;
    Credential& operator=(const Credential&) = delete;

    // Make `page` (holding "Bearer <token>", sealed) the current value. The
    // previous page goes when no request head references it any more.
    void replace(KeyPage page);
    // Forget the current value (its page goes as in replace()): requests are
    // answered without forwarding until replace() is called again.
    void clear();

    // Is there a value to send? False only in --github-oidc mode while no
    // unexpired access token is at hand.
    bool available() const {
        std::lock_guard lock(mu_);
        return current_ != nullptr;
    }
    // Append the header value to `out` by reference. Returns false (and
    // appends nothing) when !available().
    bool append_to(evbuffer* out) const;
    // Why !available(), for the 502 a request then gets.
    void set_unavailable_reason(std::string reason) {
        std::lock_guard lock(mu_);
        reason_ = std::move(reason);
    }
    std::string unavailable_reason() const {
        std::lock_guard lock(mu_);
        return reason_;
    }

    // How many pages are alive (current and still referenced); for tests.
    static long live_pages();
    // Append the page's header value by reference; `page` stays alive (and
    // unwiped) until the buffer has let go of those bytes.
    static bool append_reference(evbuffer* out, const std::shared_ptr<const KeyPage>& page);

  private:
    // The parent's upstream threads read the value while --github-oidc's
    // renewal (on the main loop) replaces it.
    mutable std::mutex mu_;
    std::shared_ptr<const KeyPage> current_;
    std::string reason_;
};

}  // namespace proxy
