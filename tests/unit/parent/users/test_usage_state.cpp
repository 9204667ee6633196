// The --state-file format: round trips, strict refusals, atomic saves.
#include <doctest/doctest.h>

#include <sys/stat.h>
#include <unistd.h>

#include <fstream>
#include <variant>
#include <vector>

#include "parent/users/audit_log.hpp"
#include "parent/users/usage_state.hpp"
#include "parent/users/user_accounts.hpp"
#include "tests/unit/parent/users/accounts_view.hpp"

using namespace proxy;
using proxy::test::day_of;
using proxy::test::day_of_key;

namespace {

UserPeriods periods(std::string day, std::string week, std::string month, UsageCounters c) {
    UserPeriods p;
    p[BudgetPeriod::Day] = {std::move(day), c};
    p[BudgetPeriod::Week] = {std::move(week), c};
    p[BudgetPeriod::Month] = {std::move(month), c};
    return p;
}

}  // namespace

TEST_CASE("usage state: round trip through the text format (version 3)") {
    UsageState s;
    s.users[1000] = periods("2026-12-02", "2026-W49", "2026-12", {12, 1, 3400, 912, 300, 12500});
    s.users[1000][BudgetPeriod::Month].counters.requests = 40;
    s.users[0] = periods("2026-12-02", "2026-W49", "2026-12", {1, 0, 0, 0, 0, 0});
    s.users[kUnknownUid] = UserPeriods{};
    s.users[kUnknownUid][BudgetPeriod::Week] = {"2026-W49", {0, 3, 0, 0, 0, 0}};
    const std::string text = format_usage_state(s);
    CHECK(text.rfind("codex-responses-api-proxy usage 3\n", 0) == 0);
    CHECK(text.find("uid 1000 day 2026-12-02 requests 12 refused 1 tokens_in 3400 tokens_out 912 "
                    "tokens_estimated 300 microdollars 12500\n") != std::string::npos);
    CHECK(text.find("uid 1000 month 2026-12 requests 40 ") != std::string::npos);
    auto back = parse_usage_state(text);
    REQUIRE(std::holds_alternative<UsageState>(back));
    CHECK(std::get<UsageState>(back) == s);
}

TEST_CASE("usage state: version 2 and 1 files still load, their day as day, week and month") {
    // 2026-12-02 is a Wednesday of ISO week 49.
    auto v2 = parse_usage_state(
        "codex-responses-api-proxy usage 2\nday 2026-12-02\n"
        "uid 1000 requests 12 refused 1 tokens_in 3400 tokens_out 912 tokens_estimated 300\n");
    REQUIRE(std::holds_alternative<UsageState>(v2));
    const UserPeriods& p = std::get<UsageState>(v2).users.at(1000);
    CHECK(p == periods("2026-12-02", "2026-W49", "2026-12", {12, 1, 3400, 912, 300, 0}));
    // A day at a year's edge lands in the ISO week of its Thursday.
    auto edge = parse_usage_state(
        "codex-responses-api-proxy usage 2\nday 2024-12-30\n"
        "uid 7 requests 1 refused 0 tokens_in 1 tokens_out 1 tokens_estimated 0\n");
    REQUIRE(std::holds_alternative<UsageState>(edge));
    CHECK(std::get<UsageState>(edge).users.at(7)[BudgetPeriod::Week].key == "2025-W01");
    CHECK(std::get<UsageState>(edge).users.at(7)[BudgetPeriod::Month].key == "2024-12");
    // A v2 file written before anything was used.
    auto none = parse_usage_state("codex-responses-api-proxy usage 2\nday none\n");
    REQUIRE(std::holds_alternative<UsageState>(none));
    CHECK(std::get<UsageState>(none).users.empty());

    auto v1 = parse_usage_state(
        "codex-responses-api-proxy usage 1\nday 2026-12-02\n"
        "uid 1000 requests 12 refused 1 tokens_in 3400 tokens_out 912\n");
    REQUIRE(std::holds_alternative<UsageState>(v1));
    CHECK(std::get<UsageState>(v1).users.at(1000)[BudgetPeriod::Day].counters ==
          UsageCounters{12, 1, 3400, 912, 0, 0});
    // but strictly: a version 1 line has no tokens_estimated, a version 2 line must
    CHECK(std::holds_alternative<std::string>(parse_usage_state(
        "codex-responses-api-proxy usage 1\nday 2026-12-02\n"
        "uid 1 requests 1 refused 0 tokens_in 0 tokens_out 0 tokens_estimated 0\n")));
    CHECK(std::get<std::string>(
              parse_usage_state("codex-responses-api-proxy usage 2\nday 2026-12-02\n"
                                "uid 1 requests 1 refused 0 tokens_in 0 tokens_out 0\n")) ==
          "line 3: bad or missing tokens_estimated");
    CHECK(std::get<std::string>(parse_usage_state(
              "codex-responses-api-proxy usage 2\nday 2026-12-02\n"
              "uid 1 requests 1 refused 0 tokens_in 5 tokens_out 6 tokens_estimated 12\n")) ==
          "line 3: tokens_estimated above tokens_in + tokens_out");
    // Version 2 has no microdollars.
    CHECK(std::holds_alternative<std::string>(
        parse_usage_state("codex-responses-api-proxy usage 2\nday 2026-12-02\n"
                          "uid 1 requests 1 refused 0 tokens_in 0 tokens_out 0 tokens_estimated 0 "
                          "microdollars 0\n")));
}

TEST_CASE("usage state: a damaged file is an error, never an empty state") {
    const std::string ok = "codex-responses-api-proxy usage 3\n";
    const std::string rest =
        " requests 1 refused 0 tokens_in 0 tokens_out 0 tokens_estimated 0 microdollars 0\n";
    for (const char* bad : {"", "hello\n", "codex-responses-api-proxy usage 4\n",
                            "codex-responses-api-proxy usage 1\nday 2026-13-01\n",
                            "codex-responses-api-proxy usage 2\nday 2026-02-30\n",
                            "codex-responses-api-proxy usage 3\nday 2026-12-02\n",
                            "codex-responses-api-proxy usage 1\nuid 1 requests 1 refused 0 "
                            "tokens_in 0 tokens_out 0\n"}) {
        CAPTURE(bad);
        CHECK(std::holds_alternative<std::string>(parse_usage_state(bad)));
    }
    for (const std::string& line : std::vector<std::string>{
             "uid 1 day 2026-12-02 requests x" + rest.substr(10), "uid 1 hour 2026-12-02" + rest,
             "uid 1 day 2026-W49" + rest, "uid 1 week 2026-W54" + rest,
             "uid 1 month 2026-13" + rest,
             std::string("uid 1 month 2026-12 requests 1 refused 0 tokens_in 0 tokens_out 0 "
                         "tokens_estimated 0\n"),
             "uid 1 month 2026-12" + rest.substr(0, rest.size() - 1) + " extra\n",
             "uid 1 month 2026-12" + rest.substr(0, rest.size() - 1),
             "uid -1 month 2026-12" + rest}) {
        CAPTURE(line);
        CHECK(std::holds_alternative<std::string>(parse_usage_state(ok + line)));
    }
    const std::string dup = ok + "uid 1 week 2026-W49" + rest + "uid 1 week 2026-W50" + rest;
    CHECK(std::get<std::string>(parse_usage_state(dup)) == "line 3: duplicate uid and period");
}

TEST_CASE("usage state: files") {
    char dir[] = "/tmp/usage-state-XXXXXX";
    REQUIRE(::mkdtemp(dir) != nullptr);
    const std::string path = std::string(dir) + "/usage.state";
    // Missing: an empty state.
    auto missing = load_usage_state(path);
    REQUIRE(missing);
    CHECK(missing->users.empty());
    UsageState s;
    s.users[7] = periods("2026-12-02", "2026-W49", "2026-12", {1, 2, 3, 4, 5, 6});
    REQUIRE(save_usage_state(path, s));
    struct stat st {};
    REQUIRE(::stat(path.c_str(), &st) == 0);
    CHECK((st.st_mode & 0777) == 0600);
    CHECK(::access((path + ".tmp").c_str(), F_OK) != 0);
    auto loaded = load_usage_state(path);
    REQUIRE(loaded);
    CHECK(*loaded == s);
    std::ofstream(path) << "garbage\n";
    auto bad = load_usage_state(path);
    REQUIRE_FALSE(bad);
    CHECK(bad.error().find(path) == 0);
    ::unlink(path.c_str());
    ::rmdir(dir);
}

TEST_CASE("user accounts: each limit refuses with its code, and a new day starts over") {
    const std::int64_t t0 = 1796169600;  // 2026-12-02 00:00:00 UTC
    UserAccounts acc;
    EffectiveLimits lim;
    lim.max_streams = 1;
    auto v = acc.admit(1000, lim, 0, t0, 0.0);
    CHECK(v.refusal == nullptr);
    v = acc.admit(1000, lim, 0, t0, 0.1);
    REQUIRE(v.refusal != nullptr);
    CHECK(std::string(v.refusal->code) == "too_many_streams");
    CHECK(acc.admit(1001, lim, 0, t0, 0.1).refusal == nullptr);  // another user is served
    acc.stream_ended(1000, 0, TokenCharge{100, 50, false}, t0 + 10);
    CHECK(acc.open_streams(1000) == 0);

    EffectiveLimits budget;
    budget.tokens_per_day = 150;
    v = acc.admit(1000, budget, 0, t0 + 20, 1.0);
    REQUIRE(v.refusal != nullptr);
    CHECK(std::string(v.refusal->code) == "token_budget_exceeded");
    CHECK(v.retry_after == 86400 - 20);
    CHECK(day_of(acc, 1000, t0 + 20).refused == 2);
    // The next UTC day: the budget is fresh.
    CHECK(acc.admit(1000, budget, 0, t0 + 86400, 2.0).refusal == nullptr);
    CHECK(day_of_key(acc, t0 + 86400) == "2026-12-03");

    EffectiveLimits rpm;
    rpm.requests_per_minute = 2;
    UserAccounts r;
    CHECK(r.admit(5, rpm, 0, t0, 10.0).refusal == nullptr);
    r.stream_ended(5, 0, TokenCharge{}, t0);
    CHECK(r.admit(5, rpm, 0, t0, 10.0).refusal == nullptr);
    r.stream_ended(5, 0, TokenCharge{}, t0);
    v = r.admit(5, rpm, 0, t0, 10.0);
    REQUIRE(v.refusal != nullptr);
    CHECK(std::string(v.refusal->code) == "rate_limit_exceeded");
    CHECK(v.retry_after >= 1);
    CHECK(v.retry_after <= 30);
}

TEST_CASE("audit lines: fields, quoting, JSON") {
    AuditRecord r;
    r.uid_known = true;
    r.uid = 1000;
    r.user = "alice";
    r.method = "POST";
    r.path = "/v1/responses";
    r.status = 200;
    r.outcome = "completed";
    r.request_bytes = 12;
    r.response_bytes = 345;
    r.duration_ms = 12.25;
    r.request_id = "req_abc";
    r.tokens_in = 10;
    r.tokens_out = 20;
    CHECK(format_audit_text(r) ==
          "uid=1000 user=alice method=POST path=/v1/responses status=200 outcome=completed "
          "req_bytes=12 resp_bytes=345 duration_ms=12.2 request_id=req_abc tokens_in=10 "
          "tokens_out=20 tokens=reported");
    CHECK(format_audit_json(r, 5).find("\"tokens_out\":20,\"tokens_estimated\":false}") !=
          std::string::npos);
    r.tokens_estimated = true;
    CHECK(format_audit_text(r).ends_with(" tokens_in=10 tokens_out=20 tokens=estimated"));
    CHECK(format_audit_json(r, 5).find("\"tokens_estimated\":true}") != std::string::npos);
    AuditRecord q;
    q.method = "GET";
    q.path = "/x y\"\n";
    q.status = 403;
    q.outcome = "refused";
    q.code = "forbidden";
    const std::string t = format_audit_text(q);
    CHECK(t.find("uid=? user=?") == 0);
    CHECK(t.find("path=\"/x y\\\"\\x0a\"") != std::string::npos);
    CHECK(t.find("code=forbidden") != std::string::npos);
    CHECK(t.find("tokens_in=-") != std::string::npos);
    CHECK(t.ends_with(" tokens=-"));
    const std::string j = format_audit_json(q, 5);
    CHECK(j.find("\"uid\":null") != std::string::npos);
    CHECK(j.find("\"tokens_estimated\":null}") != std::string::npos);
    CHECK(j.find("\"path\":\"/x y\\\"\\u000a\"") != std::string::npos);
}
