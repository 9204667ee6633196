// What the hand-run micro benchmarks here share: a file read whole, and the
// CPU time one run of a function takes, measured over half a second of runs.
#pragma once

#include <time.h>

#include <cstddef>
#include <fstream>
#include <sstream>
#include <string>

namespace bench {

// This thread's CPU time: on a shared, loaded machine, wall time measures
// the neighbours.
inline double cpu_seconds() {
    timespec ts{};
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
    return static_cast<double>(ts.tv_sec) + static_cast<double>(ts.tv_nsec) / 1e9;
}

// CPU seconds per call of run(), over at least half a second of calls.
template <typename F>
double seconds_per_run(F&& run) {
    std::size_t rounds = 0;
    const double start = cpu_seconds();
    double now = start;
    do {
        for (int k = 0; k < 20; ++k) run();
        rounds += 20;
        now = cpu_seconds();
    } while (now - start < 0.5);
    return (now - start) / static_cast<double>(rounds);
}

inline std::string read_whole(const char* path) {
    std::ifstream in(path, std::ios::binary);
    std::stringstream ss;
    ss << in.rdbuf();
    return ss.str();
}

}  // namespace bench
