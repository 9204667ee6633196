// UserAccounts and the token budget: requests in flight reserve, every end
// releases its reservation and charges (reported or estimated), and the
// estimated part is kept apart.
#include <doctest/doctest.h>

#include "parent/users/user_accounts.hpp"
#include "policy/token_budget.hpp"
#include "tests/unit/parent/users/accounts_view.hpp"

using namespace proxy;
using proxy::test::day_of;
using proxy::test::day_of_key;

namespace {
constexpr std::int64_t kAccountsT0 = 1796169600;  // 2026-12-02 00:00:00 UTC
}

TEST_CASE("user accounts: parallel streams reserve, and the reservations fill the budget") {
    UserAccounts acc;
    EffectiveLimits lim;
    lim.tokens_per_day = 10000;
    const std::uint64_t r = token_reservation(41, 64 << 20);  // 11 + 4096
    unsigned admitted = 0;
    for (int i = 0; i < 8; ++i) {
        auto v = acc.admit(1000, lim, r, kAccountsT0, i);
        if (v.refusal == nullptr) {
            ++admitted;
            continue;
        }
        CHECK(std::string(v.refusal->code) == "token_budget_exceeded");
        CHECK(v.refusal == &refusal::kTokenBudgetHeld);
        CHECK(v.retry_after == 1);  // not tomorrow: when a stream ends
    }
    CHECK(admitted == 2);  // 2 * 4107 <= 10000 < 3 * 4107
    CHECK(acc.reserved_tokens(1000) == 2 * r);
    CHECK(day_of(acc, 1000, kAccountsT0).refused == 6);
    // Another user has their own budget.
    CHECK(acc.admit(1001, lim, r, kAccountsT0, 9).refusal == nullptr);

    // A stream ends: its reservation goes, its charge stays.
    acc.stream_ended(1000, r, TokenCharge{11, 20, true}, kAccountsT0 + 1);
    CHECK(acc.reserved_tokens(1000) == r);
    CHECK(acc.open_streams(1000) == 1);
    const UsageCounters c = day_of(acc, 1000, kAccountsT0);
    CHECK(c.tokens_in == 11);
    CHECK(c.tokens_out == 20);
    CHECK(c.tokens_estimated == 31);
    CHECK(acc.admit(1000, lim, r, kAccountsT0 + 1, 10).refusal == nullptr);
    acc.stream_ended(1000, r, TokenCharge{60, 50, false}, kAccountsT0 + 2);
    acc.stream_ended(1000, r, TokenCharge{}, kAccountsT0 + 2);  // never reached the upstream
    CHECK(acc.reserved_tokens(1000) == 0);
    CHECK(acc.open_streams(1000) == 0);
    CHECK(day_of(acc, 1000, kAccountsT0).tokens_estimated == 31);
    CHECK(day_of(acc, 1000, kAccountsT0).tokens_in == 71);
}

TEST_CASE("user accounts: alone, a request starts below the budget whatever it reserves") {
    UserAccounts acc;
    EffectiveLimits lim;
    lim.tokens_per_day = 150;
    const std::uint64_t r = token_reservation(41, 64 << 20);
    // The five-streams attack, one after the other: each is charged its
    // estimate, and the budget ends up refusing.
    int served = 0;
    for (int i = 0; i < 10; ++i) {
        auto v = acc.admit(7, lim, r, kAccountsT0, i);
        if (v.refusal != nullptr) {
            CHECK(v.refusal == &refusal::kTokenBudget);
            CHECK(v.retry_after == 86400);
            break;
        }
        // A second one while the first is in flight: held.
        CHECK(acc.admit(7, lim, r, kAccountsT0, i + 0.5).refusal == &refusal::kTokenBudgetHeld);
        ++served;
        acc.stream_ended(7, r, TokenCharge{11, 20, true}, kAccountsT0);
    }
    CHECK(served == 5);  // 5 * 31 = 155 >= 150
    CHECK(day_of(acc, 7, kAccountsT0).tokens_estimated == 155);
    CHECK(acc.reserved_tokens(7) == 0);
}

TEST_CASE("user accounts: a stream that ends on the next day is charged there") {
    UserAccounts acc;
    EffectiveLimits lim;
    lim.tokens_per_day = 100;
    REQUIRE(acc.admit(3, lim, 4096, kAccountsT0 + 86399, 0).refusal == nullptr);
    acc.stream_ended(3, 4096, TokenCharge{40, 200, true}, kAccountsT0 + 86400 + 5);
    CHECK(day_of_key(acc, kAccountsT0 + 86400 + 5) == "2026-12-03");
    CHECK(day_of(acc, 3, kAccountsT0 + 86400 + 5).tokens_estimated == 240);
    CHECK(acc.reserved_tokens(3) == 0);
    CHECK(acc.admit(3, lim, 4096, kAccountsT0 + 86400 + 6, 1).refusal == &refusal::kTokenBudget);
}

TEST_CASE("user accounts: a request refused for its body counts as a refusal, not a request") {
    UserAccounts acc;
    EffectiveLimits lim;
    lim.tokens_per_day = 10000;
    const std::uint64_t r = token_reservation(41, 64 << 20);
    REQUIRE(acc.admit(1000, lim, r, kAccountsT0, 0).refusal == nullptr);
    REQUIRE(acc.admit(1000, lim, r, kAccountsT0, 1).refusal == nullptr);
    CHECK(day_of(acc, 1000, kAccountsT0).requests == 2);
    // The second one's body names a model the policy refuses.
    acc.stream_ended(1000, r, TokenCharge{}, kAccountsT0 + 1);
    acc.count_body_refusal(1000, kAccountsT0 + 1);
    CHECK(day_of(acc, 1000, kAccountsT0).requests == 1);
    CHECK(day_of(acc, 1000, kAccountsT0).refused == 1);
    CHECK(acc.open_streams(1000) == 1);
    // Never below zero, whatever a period saw (one that began since).
    acc.count_body_refusal(1001, kAccountsT0 + 2);
    CHECK(day_of(acc, 1001, kAccountsT0).requests == 0);
    CHECK(day_of(acc, 1001, kAccountsT0).refused == 1);
}
