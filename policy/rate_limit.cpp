#include "policy/rate_limit.hpp"

#include <algorithm>
#include <cmath>

namespace proxy {
namespace {

// Rounding (1 - 0.99999999) * 60 / rate can land a hair above a whole
// second; without the slack that would tell the client one second too many.
constexpr double kRoundingSlack = 1e-9;

}  // namespace

bool take(TokenBucket& bucket, double now_s, std::uint32_t per_minute,
          std::uint32_t& retry_after_s) {
    if (per_minute == 0) return true;
    const double capacity = per_minute;
    const double per_second = capacity / 60.0;
    if (!bucket.primed) {
        bucket = TokenBucket{capacity, now_s, true};
    } else if (now_s > bucket.last_s) {
        bucket.tokens = std::min(capacity, bucket.tokens + (now_s - bucket.last_s) * per_second);
        bucket.last_s = now_s;
    } else {
        // A clock that went backwards refills nothing, and last_s stays put so
        // the lost interval is not counted twice when it moves on. A rate
        // lowered by a policy reload caps what was saved at the old rate.
        bucket.tokens = std::min(capacity, bucket.tokens);
    }
    if (bucket.tokens >= 1.0) {
        bucket.tokens -= 1.0;
        return true;
    }
    const double wait = (1.0 - bucket.tokens) / per_second;
    retry_after_s = retry_after_seconds(wait);
    return false;
}

std::uint32_t retry_after_seconds(double wait_s) {
    return static_cast<std::uint32_t>(
        std::min(4294967295.0, std::max(1.0, std::ceil(wait_s - kRoundingSlack))));
}

}  // namespace proxy
