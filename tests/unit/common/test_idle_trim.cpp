// IdleTrim on a real event loop and glibc's real heap: the heap is trimmed
// only once the process is still idle when the timer fires, and trimming
// gives back the pages a burst freed (what a long-running service keeps
// otherwise) and unmaps clean library pages.
#include <doctest/doctest.h>

#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <vector>

#include "common/event_ptr.hpp"
#include "common/idle_trim.hpp"

using namespace proxy;

namespace {

#if defined(__SANITIZE_ADDRESS__)
constexpr bool kGlibcHeap = false;  // ASan's allocator; malloc_trim does not reach it
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
constexpr bool kGlibcHeap = false;
#else
constexpr bool kGlibcHeap = true;
#endif
#else
constexpr bool kGlibcHeap = true;
#endif

constexpr timeval kShort{0, 20 * 1000};

struct Loop {
    EventBasePtr base{event_base_new()};
    bool idle = true;
    static bool check(void* arg) noexcept { return static_cast<Loop*>(arg)->idle; }
    // Runs the loop until nothing is pending (the trim timer fired or was
    // never armed).
    void run() { event_base_dispatch(base.get()); }
};

long resident_kib() {
    long pages = 0, resident = 0;
    FILE* f = std::fopen("/proc/self/statm", "r");
    REQUIRE(f != nullptr);
    REQUIRE(std::fscanf(f, "%ld %ld", &pages, &resident) == 2);
    std::fclose(f);
    return resident * (sysconf(_SC_PAGESIZE) / 1024);
}

}  // namespace

TEST_CASE("idle trim: fires once after the delay when still idle") {
    Loop loop;
    IdleTrim trim(loop.base.get(), &Loop::check, &loop, kShort);
    trim.went_idle();
    trim.went_idle();  // already armed: still one trim
    loop.run();
    CHECK(trim.trims() == 1);
    // The same moment gave back this program's clean library pages
    // (common/file_pages.hpp; tested there).
    CHECK(trim.last_file_release() > 0);
}

TEST_CASE("idle trim: busy again when the timer fires means no trim") {
    Loop loop;
    IdleTrim trim(loop.base.get(), &Loop::check, &loop, kShort);
    trim.went_idle();
    loop.idle = false;  // a request arrived within the delay
    loop.run();
    CHECK(trim.trims() == 0);
    // The next idle moment arms it again.
    loop.idle = true;
    trim.went_idle();
    loop.run();
    CHECK(trim.trims() == 1);
}

TEST_CASE("idle trim: requests one after another on a kept-alive connection are never trimmed") {
    // Between two requests the process is idle for an instant, and the timer
    // may fire in one of those instants: it must see that requests came and
    // went within the delay and wait, not trim in the middle of the load.
    Loop loop;
    IdleTrim trim(loop.base.get(), &Loop::check, &loop, kShort);
    struct Load {
        IdleTrim* trim = nullptr;
        int requests_left = 40;  // one every 2 ms: 80 ms, four times the delay
        unsigned trims_during_load = 0;
        EventPtr tick;
        static void on_tick(evutil_socket_t, short, void* arg) {
            auto* self = static_cast<Load*>(arg);
            self->trims_during_load += self->trim->trims();
            self->trim->went_idle();  // a request ended
            if (--self->requests_left == 0) event_del(self->tick.get());
        }
    } load;
    load.trim = &trim;
    load.tick.reset(event_new(loop.base.get(), -1, EV_PERSIST, &Load::on_tick, &load));
    const timeval every{0, 2 * 1000};
    event_add(load.tick.get(), &every);
    loop.run();
    CHECK(load.requests_left == 0);
    CHECK(load.trims_during_load == 0);
    CHECK(trim.trims() == 1);  // once the load stopped
}

TEST_CASE("idle trim: never armed, never trims") {
    Loop loop;
    IdleTrim trim(loop.base.get(), &Loop::check, &loop, kShort);
    loop.run();
    CHECK(trim.trims() == 0);
}

TEST_CASE("idle trim: the pages a burst freed go back to the kernel") {
    if (!kGlibcHeap) return;  // sanitizer build: another allocator
    // A burst: 48 MiB in 4 KiB blocks (heap, not mmap), written so they are
    // resident; all freed but the last, which pins the heap's top so that
    // free() cannot give the space back on its own.
    constexpr std::size_t kBlock = 4096, kCount = 48 * 256;
    std::vector<void*> blocks(kCount);
    std::size_t failed = 0;
    for (auto& b : blocks) {
        b = std::malloc(kBlock);
        if (b) std::memset(b, 0x5a, kBlock);
        failed += b == nullptr;
    }
    REQUIRE(failed == 0);
    for (std::size_t i = 0; i + 1 < kCount; ++i) std::free(blocks[i]);
    const long before = resident_kib();

    Loop loop;
    IdleTrim trim(loop.base.get(), &Loop::check, &loop, kShort);
    trim.went_idle();
    loop.run();
    const long after = resident_kib();
    std::free(blocks.back());
    CHECK(trim.trims() == 1);
    INFO("resident before the trim " << before << " KiB, after " << after << " KiB");
    CHECK(before - after > 32 * 1024);
}
