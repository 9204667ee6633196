// One locked, never-dumped, wiped-on-fork memory page that holds the
// Authorization header value "Bearer <key>". It is the only place the key
// lives: key intake reads straight into it and upstream writers reference it.
#pragma once

#include <cstddef>
#include <optional>
#include <span>
#include <string>
#include <string_view>

namespace proxy {

class KeyPage {
  public:
    // mmap one anonymous page, mlock it, madvise DONTDUMP and WIPEONFORK.
    // Any failure is reported in `error` and nothing is returned: a key page
    // that could be swapped or dumped is not a key page. `min_size` asks for
    // more than one page (rounded up to whole pages): OIDC tokens can be
    // longer than an API key.
    static std::optional<KeyPage> create(std::string& error, std::size_t min_size = 0);

    KeyPage(KeyPage&& other) noexcept;
    KeyPage& operator=(KeyPage&& other) noexcept;
    KeyPage(const KeyPage&) = delete;
    KeyPage& operator=(const KeyPage&) = delete;
    ~KeyPage();

    // The whole page, for intake. Only valid before seal().
    std::span<char> writable();
    std::size_t size() const { return size_; }

    // Length of the header value at the start of the page.
    void set_length(std::size_t length);
    std::size_t length() const { return length_; }
    // "Bearer <key>" (empty until set_length).
    std::string_view header_value() const { return {data_, length_}; }

    // Make the page read-only: a stray write through a bad pointer faults
    // instead of silently changing the key. Returns false if mprotect failed.
    bool seal();
    bool sealed() const { return sealed_; }

    // Zero the whole page and forget the length. Keeps the page mapped and
    // keeps its protection (a sealed page is briefly made writable).
    void wipe();

  private:
    KeyPage(char* data, std::size_t size) : data_(data), size_(size) {}
    void release();

    char* data_ = nullptr;
    std::size_t size_ = 0;
    std::size_t length_ = 0;
    bool sealed_ = false;
};

}  // namespace proxy
