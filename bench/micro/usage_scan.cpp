// Throughput of the parent's token-usage scanner (parent/users/usage_scanner.*)
// over the bench's 150-event answer, fed in 16 KiB pieces (TLS records) and
// whole, with a plain memchr for '"' over the same bytes for scale. Not built
// by CMake; a measurement to run by hand after changing the scanner, old and
// new side by side (build one binary per version of usage_scanner.cpp):
//
//   python3 bench/workloads.py /tmp/wl        # writes /tmp/wl/sse150.txt
//   SRC=parent/users/usage_scanner.cpp
//   c++ -std=c++20 -O2 -I. bench/micro/usage_scan.cpp $SRC -o /tmp/usage_scan
//   /tmp/usage_scan /tmp/wl/sse150.txt
#include <cstdio>
#include <cstring>
#include <string>
#include <string_view>

#include "bench/micro/cpu_timer.hpp"
#include "parent/users/usage_scanner.hpp"

namespace {

// CPU microseconds per pass of run() over the body, the best of 5 half-second tries.
template <typename F>
double us_per_pass(F&& run) {
    double best = 1e30;
    for (int attempt = 0; attempt < 5; ++attempt)
        best = std::min(best, bench::seconds_per_run(run) * 1e6);
    return best;
}

}  // namespace

int main(int argc, char** argv) {
    for (int a = 1; a < argc; ++a) {
        const std::string body = bench::read_whole(argv[a]);
        std::uint64_t check = 0;
        auto scan = [&](std::size_t piece) {
            return [&, piece] {
                proxy::UsageScanner s;
                for (std::size_t off = 0; off < body.size(); off += piece)
                    s.feed(std::string_view(body).substr(off, piece));
                check += s.delta_bytes() + (s.usage() ? s.usage()->output : 0);
            };
        };
        const double pieces = us_per_pass(scan(16384));
        const double whole = us_per_pass(scan(body.size()));
        const double quotes = us_per_pass([&] {
            for (const char* p = body.data();
                 (p = static_cast<const char*>(std::memchr(p, '"', body.data() + body.size() - p)));
                 ++p)
                ++check;
        });
        std::printf(
            "%s: %zu bytes; usage scanner %.1f us a pass in 16 KiB pieces, %.1f whole; "
            "memchr for every quote %.1f us (check %llu)\n",
            argv[a], body.size(), pieces, whole, quotes,
            static_cast<unsigned long long>(check % 1000));
    }
}
