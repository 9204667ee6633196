#include "common/secret_page.hpp"

#include <sys/mman.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <utility>

namespace proxy {

namespace {

// AddressSanitizer intercepts mlock/munlock and turns them into no-ops; the
// raw syscalls keep the key locked in sanitizer builds too.
int lock_pages(void* addr, std::size_t len) {
    return static_cast<int>(syscall(SYS_mlock, addr, len));
}
int unlock_pages(void* addr, std::size_t len) {
    return static_cast<int>(syscall(SYS_munlock, addr, len));
}

std::string describe(const char* what) {
    return std::string(what) + ": " + std::strerror(errno);
}

}  // namespace

std::optional<KeyPage> KeyPage::create(std::string& error, std::size_t min_size) {
    const long page = sysconf(_SC_PAGESIZE);
    if (page <= 0) {
        error = describe("sysconf(_SC_PAGESIZE) failed");
        return std::nullopt;
    }
    const auto page_size = static_cast<std::size_t>(page);
    const std::size_t size =
        min_size <= page_size ? page_size : (min_size + page_size - 1) / page_size * page_size;
    void* mem = mmap(nullptr, size, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (mem == MAP_FAILED) {
        error = describe("mmap of the key page failed");
        return std::nullopt;
    }
    // From here on the KeyPage owns the mapping, so every early return unmaps it.
    KeyPage result(static_cast<char*>(mem), size);
    if (lock_pages(mem, size) != 0) {
        error =
            describe("mlock of the key page failed (raise RLIMIT_MEMLOCK or grant CAP_IPC_LOCK)");
        return std::nullopt;
    }
    if (madvise(mem, size, MADV_DONTDUMP) != 0) {
        error = describe("madvise(MADV_DONTDUMP) on the key page failed");
        return std::nullopt;
    }
    // Workers are fork+exec'd; between fork and exec the child must not hold
    // a copy of the key.
    if (madvise(mem, size, MADV_WIPEONFORK) != 0) {
        error = describe("madvise(MADV_WIPEONFORK) on the key page failed");
        return std::nullopt;
    }
    return result;
}

KeyPage::KeyPage(KeyPage&& other) noexcept
    : data_(std::exchange(other.data_, nullptr)),
      size_(std::exchange(other.size_, 0)),
      length_(std::exchange(other.length_, 0)),
      sealed_(std::exchange(other.sealed_, false)) {}

KeyPage& KeyPage::operator=(KeyPage&& other) noexcept {
    if (this != &other) {
        release();
        data_ = std::exchange(other.data_, nullptr);
        size_ = std::exchange(other.size_, 0);
        length_ = std::exchange(other.length_, 0);
        sealed_ = std::exchange(other.sealed_, false);
    }
    return *this;
}

KeyPage::~KeyPage() {
    release();
}

void KeyPage::release() {
    if (data_ == nullptr) return;
    // The page must be writable to be wiped; if mprotect failed we could not
    // zero it, but munmap still drops the only mapping.
    if (sealed_ && mprotect(data_, size_, PROT_READ | PROT_WRITE) == 0) sealed_ = false;
    if (!sealed_) explicit_bzero(data_, size_);
    unlock_pages(data_, size_);
    munmap(data_, size_);
    data_ = nullptr;
    size_ = 0;
    length_ = 0;
    sealed_ = false;
}

std::span<char> KeyPage::writable() {
    if (data_ == nullptr || sealed_) return {};
    return {data_, size_};
}

void KeyPage::set_length(std::size_t length) {
    length_ = length <= size_ ? length : size_;
}

bool KeyPage::seal() {
    if (data_ == nullptr) return false;
    if (sealed_) return true;
    if (mprotect(data_, size_, PROT_READ) == 0) sealed_ = true;
    return sealed_;
}

void KeyPage::wipe() {
    if (data_ == nullptr) return;
    const bool was_sealed = sealed_;
    if (was_sealed) {
        if (mprotect(data_, size_, PROT_READ | PROT_WRITE) != 0) return;
        sealed_ = false;
    }
    explicit_bzero(data_, size_);
    length_ = 0;
    if (was_sealed) seal();
}

}  // namespace proxy
