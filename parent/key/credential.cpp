#include "parent/key/credential.hpp"

#include <atomic>
#include <utility>

namespace proxy {

namespace {

std::atomic<long> g_live_pages{0};

// Owns one reference while a request head points into the page.
struct PageRef {
    std::shared_ptr<const KeyPage> page;
};

void release_ref(const void*, size_t, void* arg) noexcept {
    delete static_cast<PageRef*>(arg);
}

}  // namespace

void Credential::replace(KeyPage page) {
    g_live_pages.fetch_add(1);
    // The deleter runs when the last reference (ours or a head's) goes:
    // ~KeyPage wipes and unmaps the page.
    std::shared_ptr<const KeyPage> fresh(new KeyPage(std::move(page)), [](const KeyPage* p) {
        delete p;
        g_live_pages.fetch_sub(1);
    });
    std::lock_guard lock(mu_);
    current_.swap(fresh);
    reason_.clear();
    // The old page (now in `fresh`) goes here or with its last reference.
}

void Credential::clear() {
    std::shared_ptr<const KeyPage> old;
    std::lock_guard lock(mu_);
    current_.swap(old);
}

bool Credential::append_to(evbuffer* out) const {
    std::shared_ptr<const KeyPage> page;
    {
        std::lock_guard lock(mu_);
        page = current_;
    }
    return page && append_reference(out, page);
}

bool Credential::append_reference(evbuffer* out, const std::shared_ptr<const KeyPage>& page) {
    const std::string_view value = page->header_value();
    auto* ref = new PageRef{page};
    if (evbuffer_add_reference(out, value.data(), value.size(), &release_ref, ref) != 0) {
        delete ref;
        return false;
    }
    return true;
}

long Credential::live_pages() {
    return g_live_pages.load();
}

}  // namespace proxy
