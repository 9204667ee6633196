// The arithmetic behind requests_per_minute and tokens_per_day, kept pure so
// the tests can drive the clock. The counters themselves (one bucket and one
// day's total per uid) live with the parent, which passes its own clock in.
#pragma once

#include <cstdint>
#include <string>

namespace proxy {

// A token bucket whose capacity is the per-minute rate: an idle user may
// burst a whole minute's worth, then one request per 60/rate seconds.
struct TokenBucket {
    double tokens = 0;
    double last_s = 0;    // the clock at the last take()
    bool primed = false;  // false: the first take() fills the bucket
};

// Takes one request from the bucket at time now_s (any monotonic seconds).
// per_minute 0 means unlimited: always true, the bucket untouched. On refusal
// retry_after_s is the whole seconds until one request is available (>= 1),
// for a Retry-After header.
bool take(TokenBucket& bucket, double now_s, std::uint32_t per_minute,
          std::uint32_t& retry_after_s);

// Whole seconds to wait for a Retry-After header: wait_s rounded up, at least
// 1 and at most 2^32-1; a hair above a whole second (1e-9) is rounding.
std::uint32_t retry_after_seconds(double wait_s);

}  // namespace proxy
