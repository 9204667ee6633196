// common/stream_window.hpp: the flow-control arithmetic both ends share.
#include <doctest/doctest.h>

#include <algorithm>
#include <cstdint>
#include <random>

#include "common/ipc.hpp"
#include "common/stream_window.hpp"

using proxy::StreamWindow;

TEST_CASE("stream window: a sender stops at the window and takes back no more than it sent") {
    StreamWindow w;
    CHECK_FALSE(w.full());
    w.sent(StreamWindow::kSize - 1);
    CHECK_FALSE(w.full());
    w.sent(1);
    CHECK(w.full());
    // Credit above what was sent is refused and changes nothing.
    CHECK_FALSE(w.take_credit(StreamWindow::kSize + 1));
    CHECK(w.uncredited() == StreamWindow::kSize);
    CHECK(w.take_credit(1));
    CHECK_FALSE(w.full());
    CHECK(w.take_credit(StreamWindow::kSize - 1));
    CHECK(w.uncredited() == 0);
    CHECK_FALSE(w.take_credit(1));
    CHECK(w.take_credit(0));
}

TEST_CASE("stream window: a receiver refuses a sender that ignores the window") {
    StreamWindow w;
    CHECK(w.received(StreamWindow::kSize - 1));
    CHECK(w.received(proxy::ipc::kMaxPayload));  // the piece that crossed it
    CHECK(w.received(StreamWindow::kMaxUncredited - w.uncredited()));
    CHECK_FALSE(w.received(1));
}

TEST_CASE("stream window: credit is batched while bytes still wait, whole once none do") {
    StreamWindow w;
    REQUIRE(w.received(40 * 1024));
    // Nothing has left yet, or less than a batch while the rest waits.
    CHECK(w.grant(40 * 1024) == 0);
    CHECK(w.grant(40 * 1024 - (StreamWindow::kCreditBatch - 1)) == 0);
    // A batch has left.
    CHECK(w.grant(40 * 1024 - StreamWindow::kCreditBatch) == StreamWindow::kCreditBatch);
    CHECK(w.uncredited() == 40 * 1024 - StreamWindow::kCreditBatch);
    // The buffer ran empty: whatever is left, however small.
    REQUIRE(w.received(10));
    CHECK(w.grant(0) == 40 * 1024 - StreamWindow::kCreditBatch + 10);
    CHECK(w.uncredited() == 0);
    CHECK(w.grant(0) == 0);
    // More waiting than is owed (bytes of framing around the body): nothing.
    REQUIRE(w.received(5));
    CHECK(w.grant(100) == 0);
    w.clear();
    CHECK(w.uncredited() == 0);
}

TEST_CASE("stream window: both ends together never disagree and never overrun") {
    // A sender and a receiver over a channel that delivers at once, and a
    // receiver's outgoing buffer that drains at random: every credit is
    // taken, the receiver never sees an overrun, and the sender's count and
    // the receiver's agree after each credit.
    std::mt19937 rng(23);
    StreamWindow sender, receiver;
    std::uint64_t waiting = 0;  // received, not yet drained by the receiver
    std::uint64_t total = 0;
    for (int step = 0; step < 20000; ++step) {
        if (!sender.full()) {
            const std::uint64_t piece = 1 + rng() % proxy::ipc::kMaxPayload;
            sender.sent(piece);
            REQUIRE(receiver.received(piece));
            waiting += piece;
            total += piece;
        }
        const std::uint64_t drained = std::min<std::uint64_t>(waiting, rng() % (48 * 1024));
        waiting -= drained;
        if (drained == 0) continue;
        if (const std::uint64_t credit = receiver.grant(waiting)) {
            REQUIRE(sender.take_credit(credit));
            REQUIRE(sender.uncredited() == receiver.uncredited());
        }
        REQUIRE(sender.uncredited() <= StreamWindow::kSize + proxy::ipc::kMaxPayload);
    }
    CHECK(total > 100 * StreamWindow::kSize);  // it kept flowing
}
