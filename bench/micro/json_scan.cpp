// Throughput of the request-body scanner (common/json_object_scanner.*), the
// cap inserter and, for scale, a plain memchr over the same bytes. Not built
// by CMake; a measurement to run by hand after changing the scanner:
//
//   python3 bench/micro/make_bodies.py /tmp
//   SRC="common/json_object_scanner*.cpp common/json_member_appender.cpp common/json.cpp"
//   c++ -std=c++20 -O2 -I. bench/micro/json_scan.cpp $SRC -o /tmp/json_scan
//   /tmp/json_scan /tmp/codex.json /tmp/pretty.json /tmp/cjk.json
#include <cstdio>
#include <cstring>
#include <string>
#include <string_view>

#include "bench/micro/cpu_timer.hpp"
#include "common/json_member_appender.hpp"
#include "common/json_object_scanner.hpp"

namespace {

constexpr std::string_view kKeys[] = {"model",      "max_output_tokens",    "service_tier",
                                      "background", "previous_response_id", "conversation",
                                      "store"};

template <typename F>
double mb_per_s(const std::string& body, F&& run) {
    return static_cast<double>(body.size()) / bench::seconds_per_run(run) / 1e6;
}

}  // namespace

int main(int argc, char** argv) {
    for (int a = 1; a < argc; ++a) {
        const std::string body = bench::read_whole(argv[a]);
        bool ok = true;
        auto scan = [&](std::size_t piece) {
            return [&, piece] {
                proxy::JsonObjectScanner s(kKeys);
                for (std::size_t off = 0; off < body.size(); off += piece)
                    s.feed(std::string_view(body).substr(off, piece));
                ok = ok && s.finish();
            };
        };
        volatile std::size_t sink = 0;
        const double whole = mb_per_s(body, scan(body.size()));
        const double ipc = mb_per_s(body, scan(64 * 1024));
        const double small = mb_per_s(body, scan(1024));
        const double append = mb_per_s(body, [&] {
            proxy::JsonObjectScanner s(kKeys);
            proxy::JsonMemberAppender app(s, 1, 4096);
            std::size_t out = 0;
            for (std::size_t off = 0; off < body.size(); off += 64 * 1024)
                out += app.feed(std::string_view(body).substr(off, 64 * 1024)).size();
            auto tail = app.finish();
            ok = ok && tail.has_value();
            sink = sink + out;
        });
        const double memchr_rate = mb_per_s(body, [&] {
            const char* p = body.data();
            const char* end = p + body.size();
            std::size_t n = 0;
            while ((p = static_cast<const char*>(
                        std::memchr(p, '"', static_cast<std::size_t>(end - p))))) {
                ++n;
                ++p;
            }
            sink = sink + n;
        });
        std::printf(
            "%-20s %7zu B  valid=%d  whole %6.0f MB/s  64KiB pieces %6.0f  1KiB pieces %6.0f"
            "  +cap inserter %6.0f  (memchr '\"' %6.0f)\n",
            argv[a], body.size(), ok, whole, ipc, small, append, memchr_rate);
    }
}
