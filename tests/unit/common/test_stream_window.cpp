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

TEST_CASE("stream window: credit goes in batches, however fast the bytes leave") {
    StreamWindow w;
    REQUIRE(w.received(40 * 1024));
    // Nothing has left yet, or less than a batch.
    CHECK(w.grant(40 * 1024) == 0);
    CHECK(w.grant(40 * 1024 - (StreamWindow::kCreditBatch - 1)) == 0);
    // A batch has left.
    CHECK(w.grant(40 * 1024 - StreamWindow::kCreditBatch) == StreamWindow::kCreditBatch);
    CHECK(w.uncredited() == 40 * 1024 - StreamWindow::kCreditBatch);
    // The buffer ran empty: all that is owed, being over a batch.
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

TEST_CASE("stream window: paced small pieces cost one credit per batch, not one per piece") {
    // SSE: each event a few hundred bytes that the client takes at once.
    // Before, every drained piece was credited (a message and a wakeup of
    // the sender each); now one credit covers kCreditBatch bytes.
    StreamWindow sender, receiver;
    constexpr std::uint64_t kEvent = 230;
    int credits = 0;
    std::uint64_t total = 0;
    for (int k = 0; k < 1000; ++k) {
        REQUIRE_FALSE(sender.full());
        sender.sent(kEvent);
        REQUIRE(receiver.received(kEvent));
        total += kEvent;
        if (const std::uint64_t credit = receiver.grant(0)) {
            CHECK(credit >= StreamWindow::kCreditBatch);
            REQUIRE(sender.take_credit(credit));
            ++credits;
        }
    }
    // One credit per batch's worth of whole events: 72 of 230 bytes.
    const std::uint64_t events_per_credit = (StreamWindow::kCreditBatch + kEvent - 1) / kEvent;
    CHECK(credits == static_cast<int>(1000 / events_per_credit));
    CHECK(sender.uncredited() < StreamWindow::kCreditBatch);
}

TEST_CASE("stream window: a sender stopped at the window is freed once its receiver drains") {
    StreamWindow sender, receiver;
    while (!sender.full()) {
        sender.sent(proxy::ipc::kMaxPayload);
        REQUIRE(receiver.received(proxy::ipc::kMaxPayload));
    }
    // The client takes the bytes a few at a time: credit comes in batches,
    // and once all have left the sender owes nothing and may send again.
    std::uint64_t waiting = receiver.uncredited();
    while (waiting != 0) {
        waiting -= std::min<std::uint64_t>(waiting, 1000);
        if (const std::uint64_t credit = receiver.grant(waiting))
            REQUIRE(sender.take_credit(credit));
    }
    CHECK(sender.uncredited() < StreamWindow::kCreditBatch);
    CHECK_FALSE(sender.full());
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
