#include <doctest/doctest.h>

#include "policy/rate_limit.hpp"

using namespace proxy;

TEST_CASE("rate 0 is unlimited and leaves the bucket alone") {
    TokenBucket b;
    std::uint32_t retry = 77;
    for (int i = 0; i < 1000; ++i) CHECK(take(b, 5.0, 0, retry));
    CHECK_FALSE(b.primed);
    CHECK(retry == 77);
}

TEST_CASE("a fresh bucket allows a burst of one minute's worth, then refuses") {
    TokenBucket b;
    std::uint32_t retry = 0;
    for (int i = 0; i < 3; ++i) CHECK(take(b, 100.0, 3, retry));
    CHECK_FALSE(take(b, 100.0, 3, retry));
    CHECK(retry == 20);  // one request per 20 s at 3/min
}

TEST_CASE("the bucket refills at rate/60 per second, up to the rate") {
    TokenBucket b;
    std::uint32_t retry = 0;
    for (int i = 0; i < 60; ++i) REQUIRE(take(b, 0.0, 60, retry));
    CHECK_FALSE(take(b, 0.5, 60, retry));
    CHECK(retry == 1);  // half a token short: rounds up, never 0
    CHECK(take(b, 1.0, 60, retry));
    CHECK_FALSE(take(b, 1.0, 60, retry));
    // An hour idle refills to the capacity, not beyond.
    int allowed = 0;
    while (take(b, 3601.0, 60, retry)) ++allowed;
    CHECK(allowed == 60);
}

TEST_CASE("retry_after is the ceiling of the wait for one token") {
    TokenBucket b;
    std::uint32_t retry = 0;
    REQUIRE(take(b, 0.0, 1, retry));
    CHECK_FALSE(take(b, 0.0, 1, retry));
    CHECK(retry == 60);
    CHECK_FALSE(take(b, 59.5, 1, retry));
    CHECK(retry == 1);
    CHECK_FALSE(take(b, 30.0, 1, retry));  // clock went back: no refill, no credit
    CHECK(retry == 1);
    CHECK(take(b, 61.0, 1, retry));
    // 7/min: one token per 8.57 s, 9 s to wait from empty.
    TokenBucket c;
    for (int i = 0; i < 7; ++i) REQUIRE(take(c, 0.0, 7, retry));
    CHECK_FALSE(take(c, 0.0, 7, retry));
    CHECK(retry == 9);
}

TEST_CASE("a lowered rate caps the tokens saved at the old rate") {
    TokenBucket b;
    std::uint32_t retry = 0;
    REQUIRE(take(b, 0.0, 100, retry));  // 99 left
    int allowed = 0;
    while (take(b, 0.0, 2, retry)) ++allowed;
    CHECK(allowed == 2);
}
