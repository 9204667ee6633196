// Flow control of one stream in one direction, the same arithmetic at both
// ends of the channel: the request body flows worker -> parent (the worker
// sends, the parent credits what the upstream took: REQ_CREDIT), the response
// body parent -> worker (the parent sends, the worker credits what the client
// took: RESP_CREDIT). Both ends count the same thing, the body bytes sent and
// not yet credited, and each end uses its half of the calls below. A slow
// client thus stops the parent reading the upstream, and a slow upstream stops
// the worker reading the client, with at most about one window per stream and
// direction in memory.
#pragma once

#include <cstdint>

#include "common/ipc.hpp"

namespace proxy {

class StreamWindow {
  public:
    // Body bytes a sender may have uncredited before it stops sending.
    static constexpr std::uint64_t kSize = 256 * 1024;
    // A receiver credits once this much has left, and not before: a credit
    // per piece would cost the sender a wakeup per piece (an SSE event is a
    // piece of a few hundred bytes that leaves at once). A sender is stopped
    // only at kSize, far above it, so the credit that frees it always comes
    // once its receiver's buffer drains.
    static constexpr std::uint64_t kCreditBatch = 16 * 1024;
    // What a receiver takes before it calls the sender hostile: a sender
    // stops at kSize, but its last piece (up to a message) may cross it; the
    // rest is slack, so an honest sender is never near it.
    static constexpr std::uint64_t kMaxUncredited = 2 * kSize + ipc::kMaxPayload;

    // ---- the sending end ----
    void sent(std::uint64_t bytes) { uncredited_ += bytes; }
    // The window is full: send nothing more until credit comes.
    bool full() const { return uncredited_ >= kSize; }
    // Credit from the receiving end. False when it credits more than was
    // sent (nothing changes then): a peer that says so has lost count, or
    // would have us send without bound.
    bool take_credit(std::uint64_t bytes) {
        if (bytes > uncredited_) return false;
        uncredited_ -= bytes;
        return true;
    }

    // ---- the receiving end ----
    // False when the sender went past kMaxUncredited (it ignores the window).
    bool received(std::uint64_t bytes) {
        uncredited_ += bytes;
        return uncredited_ <= kMaxUncredited;
    }
    // The credit to send now, after some of what was received has left;
    // `pending`: how much of it still waits in the outgoing buffer. 0 while
    // less than a batch has left. What it returns counts as credited.
    std::uint64_t grant(std::uint64_t pending) {
        if (uncredited_ <= pending) return 0;
        const std::uint64_t credit = uncredited_ - pending;
        if (credit < kCreditBatch) return 0;
        uncredited_ -= credit;
        return credit;
    }

    // ---- both ----
    std::uint64_t uncredited() const { return uncredited_; }
    // Start over (a new stream), or, at a receiver that has the whole body,
    // owe nothing: no more will come, so no credit is needed.
    void clear() { uncredited_ = 0; }

  private:
    std::uint64_t uncredited_ = 0;
};

}  // namespace proxy
