// When a dead worker is started again: the crash-loop backoff, as a pure
// function (tests/unit/parent/workers/test_respawn_plan.cpp drives it).
//
// A worker that dies young (within 2 s of its start) counts as a failure,
// and failures wait 200 ms, doubling up to 30 s: a worker that cannot start
// (a broken installation, a seccomp kill at start) does not spin. A healthy
// run clears the count. A worker the parent killed for breaking the protocol
// is different: what it was sent caused it, so it must be no lever on the
// backoff (which would keep the proxy down for everyone); it is replaced at
// once, at most ten times a second, and the count stays as it was.
#pragma once

#include <chrono>

namespace proxy {

struct RespawnPlan {
    int failures;                     // the slot's count from now on
    std::chrono::milliseconds delay;  // before the new worker starts
};

// The backoff for a slot with `failures` failed starts in a row.
std::chrono::milliseconds backoff_delay(int failures);

// A worker of the slot exited after living `lived`.
RespawnPlan plan_respawn(int failures, bool healthy, bool killed_by_parent,
                         std::chrono::milliseconds lived);

}  // namespace proxy
