// The crash-loop backoff (parent/workers/respawn_plan.hpp).
#include <doctest/doctest.h>

#include <vector>

#include "parent/workers/respawn_plan.hpp"

using namespace proxy;
using std::chrono::milliseconds;

TEST_CASE("workers that die young wait longer and longer, up to 30 s") {
    int failures = 0;
    std::vector<long long> delays;
    for (int i = 0; i < 12; ++i) {
        RespawnPlan p = plan_respawn(failures, false, false, milliseconds(50));
        failures = p.failures;
        delays.push_back(p.delay.count());
    }
    CHECK(delays.front() == 200);
    CHECK(delays[1] == 400);
    CHECK(delays.back() == 30000);
    for (std::size_t i = 1; i < delays.size(); ++i) CHECK(delays[i] >= delays[i - 1]);
    // A healthy run clears it.
    RespawnPlan healthy = plan_respawn(failures, true, false, milliseconds(5000));
    CHECK(healthy.failures == 0);
    CHECK(healthy.delay.count() == 0);
}

TEST_CASE("kills the parent made are no lever on the backoff") {
    // However many, however fast: replaced within 100 ms, the count untouched.
    for (int before : {0, 3}) {
        CAPTURE(before);
        int failures = before;
        for (int i = 0; i < 50; ++i) {
            RespawnPlan p = plan_respawn(failures, false, true, milliseconds(i % 2 ? 5 : 500));
            CHECK(p.failures == before);
            CHECK(p.delay.count() <= 100);
            failures = p.failures;
        }
    }
    // Killed at once after its start: not a spin either (ten a second at most).
    CHECK(plan_respawn(0, false, true, milliseconds(1)).delay.count() == 100);
    CHECK(plan_respawn(0, false, true, milliseconds(300)).delay.count() == 0);
}
