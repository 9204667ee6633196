#include "parent/workers/respawn_plan.hpp"

#include <algorithm>

namespace proxy {

namespace {
constexpr std::chrono::milliseconds kMaxBackoff{30000};
constexpr std::chrono::milliseconds kMinLifeOfKilled{100};
}  // namespace

std::chrono::milliseconds backoff_delay(int failures) {
    if (failures <= 0) return std::chrono::milliseconds{0};
    return std::min(kMaxBackoff, std::chrono::milliseconds{100 << std::min(failures, 9)});
}

RespawnPlan plan_respawn(int failures, bool healthy, bool killed_by_parent,
                         std::chrono::milliseconds lived) {
    if (killed_by_parent)
        return {failures,
                lived < kMinLifeOfKilled ? kMinLifeOfKilled : std::chrono::milliseconds{0}};
    const int now = healthy ? 0 : failures + 1;
    return {now, backoff_delay(now)};
}

}  // namespace proxy
