#include <doctest/doctest.h>

#include "policy/user_policy.hpp"

using namespace proxy;

namespace {

Caller known(uid_t uid, std::vector<gid_t> groups = {}) {
    return Caller{true, uid, std::move(groups)};
}

Caller unknown() {
    return Caller{};
}

EffectiveLimits limits(std::uint32_t streams, std::uint32_t rpm, std::uint64_t tokens) {
    return EffectiveLimits{streams, rpm, tokens};
}

}  // namespace

TEST_CASE("without rules everyone is admitted, known or not") {
    const UserPolicy p;
    CHECK(admit(p, known(1000)).allowed);
    CHECK(admit(p, known(0)).allowed);
    CHECK(admit(p, unknown()).allowed);
}

TEST_CASE("allow rules admit only the users and groups named") {
    UserPolicy p;
    p.allow_users = {1001};
    p.allow_groups = {50};
    CHECK(admit(p, known(1001)).allowed);
    CHECK(admit(p, known(1002, {7, 50})).allowed);
    CHECK_FALSE(admit(p, known(1002, {7})).allowed);
    CHECK_FALSE(admit(p, known(0)).allowed);  // root is not special for admission
    CHECK_FALSE(admit(p, unknown()).allowed);
}

TEST_CASE("an allow rule of one kind is enough to close the door") {
    UserPolicy only_groups;
    only_groups.allow_groups = {50};
    CHECK_FALSE(admit(only_groups, known(1001)).allowed);
    CHECK_FALSE(admit(only_groups, unknown()).allowed);
    UserPolicy only_users;
    only_users.allow_users = {1001};
    CHECK_FALSE(admit(only_users, known(1002, {50})).allowed);
}

TEST_CASE("deny beats allow, by user and by group") {
    UserPolicy p;
    p.allow_users = {1001, 1002};
    p.allow_groups = {50};
    p.deny_users = {1001};
    p.deny_groups = {66};
    CHECK_FALSE(admit(p, known(1001)).allowed);
    CHECK_FALSE(admit(p, known(1002, {50, 66})).allowed);
    CHECK_FALSE(admit(p, known(1003, {66, 50})).allowed);
    CHECK(admit(p, known(1002, {50})).allowed);
    CHECK(admit(p, known(1003, {50})).allowed);
}

TEST_CASE("deny rules alone leave everyone else in") {
    UserPolicy p;
    p.deny_users = {1001};
    p.deny_groups = {66};
    CHECK_FALSE(admit(p, known(1001)).allowed);
    CHECK_FALSE(admit(p, known(1002, {66})).allowed);
    CHECK(admit(p, known(1002, {67})).allowed);
    // Nothing can show an unidentified caller not to be the one denied.
    CHECK_FALSE(admit(p, unknown()).allowed);
    CHECK(admit(p, unknown()).unidentified);
}

TEST_CASE("an unidentified caller is refused wherever a rule names users") {
    CHECK_FALSE(UserPolicy{}.names_users());
    CHECK(admit(UserPolicy{}, unknown()).allowed);
    UserPolicy zero_limits;  // limits that say "unlimited" name nobody
    zero_limits.defaults = {0, 0, 0};
    CHECK_FALSE(zero_limits.names_users());
    CHECK(admit(zero_limits, unknown()).allowed);

    UserPolicy streams, rpm, tokens, a_user, a_group, deny_group;
    streams.defaults.max_streams = 4;
    rpm.defaults.requests_per_minute = 60;
    tokens.defaults.tokens_per_day = 1000;
    a_user.users[1001] = {};
    a_group.groups[50] = {std::nullopt, std::nullopt, 5};
    deny_group.deny_groups = {66};
    for (const UserPolicy* p : {&streams, &rpm, &tokens, &a_user, &a_group, &deny_group}) {
        CHECK(p->names_users());
        const Admission a = admit(*p, unknown());
        CHECK_FALSE(a.allowed);
        CHECK(a.unidentified);
        CHECK_FALSE(may_shutdown(*p, unknown()));
        // Identified callers are not affected by the rule about the unidentified.
        CHECK_FALSE(admit(*p, known(1002)).unidentified);
    }
}

TEST_CASE("an unknown caller's uid and groups are ignored") {
    UserPolicy p;
    p.allow_users = {0};
    p.deny_users = {1001};
    // Garbage in the fields of an unknown caller must not be trusted either way.
    const Caller c{false, 0, {50}};
    CHECK_FALSE(admit(p, c).allowed);
    CHECK_FALSE(may_shutdown(p, c));
    UserPolicy q;
    q.deny_users = {0};
    CHECK_FALSE(admit(q, Caller{false, 0, {}}).allowed);
    CHECK_FALSE(may_shutdown(q, Caller{false, 0, {}}));  // uid 0 of an unidentified is not root
}

TEST_CASE("limits: defaults, nullopt meaning unlimited") {
    UserPolicy p;
    CHECK(limits_for(p, known(1000)) == limits(0, 0, 0));
    p.defaults = {4, std::nullopt, 1000};
    CHECK(limits_for(p, known(1000)) == limits(4, 0, 1000));
    CHECK(limits_for(p, unknown()) == limits(4, 0, 1000));
}

TEST_CASE("limits: a group replaces the default only for the fields it sets") {
    UserPolicy p;
    p.defaults = {4, 60, 1000};
    p.groups[50] = {std::nullopt, 10, std::nullopt};
    CHECK(limits_for(p, known(1000, {50})) == limits(4, 10, 1000));
    CHECK(limits_for(p, known(1000, {51})) == limits(4, 60, 1000));
}

TEST_CASE("limits: among groups the most generous wins, per field") {
    UserPolicy p;
    p.defaults = {4, 60, 1000};
    p.groups[50] = {2, 10, 500};
    p.groups[51] = {8, 5, std::nullopt};
    p.groups[52] = {1, 0, 100};  // 0: unlimited beats any number
    CHECK(limits_for(p, known(1000, {50, 51})) == limits(8, 10, 500));
    CHECK(limits_for(p, known(1000, {51, 50})) == limits(8, 10, 500));
    CHECK(limits_for(p, known(1000, {50, 52})) == limits(2, 0, 500));
    CHECK(limits_for(p, known(1000, {52, 51})) == limits(8, 0, 100));
    // A group can be stricter than the defaults: it replaces, not merges.
    CHECK(limits_for(p, known(1000, {52})) == limits(1, 0, 100));
}

TEST_CASE("limits: the user's own entry replaces what groups said") {
    UserPolicy p;
    p.defaults = {4, 60, 1000};
    p.groups[50] = {8, 0, 5000};
    p.users[1000] = {1, std::nullopt, 0};
    CHECK(limits_for(p, known(1000, {50})) == limits(1, 0, 0));
    CHECK(limits_for(p, known(1000)) == limits(1, 60, 0));
    CHECK(limits_for(p, known(1001, {50})) == limits(8, 0, 5000));
}

TEST_CASE("limits: an unknown caller gets the defaults only") {
    UserPolicy p;
    p.defaults = {4, 60, 1000};
    p.groups[0] = {9, 9, 9};
    p.users[0] = {7, 7, 7};
    CHECK(limits_for(p, Caller{false, 0, {0}}) == limits(4, 60, 1000));
}

TEST_CASE("admit carries the caller's limits") {
    UserPolicy p;
    p.defaults = {4, 60, 1000};
    p.users[1001] = {std::nullopt, std::nullopt, 5};
    p.allow_users = {1001};
    const Admission a = admit(p, known(1001));
    REQUIRE(a.allowed);
    CHECK(a.limits == limits(4, 60, 5));
}

TEST_CASE("may_shutdown: root always, others as admit says") {
    UserPolicy p;
    p.allow_users = {1001};
    p.deny_users = {0};
    CHECK(may_shutdown(p, known(0)));
    CHECK(may_shutdown(p, known(1001)));
    CHECK_FALSE(may_shutdown(p, known(1002)));
    CHECK_FALSE(may_shutdown(p, unknown()));
    CHECK(may_shutdown(UserPolicy{}, unknown()));
}

// --- the limits of issue 24: periods, rates, dollars ---

TEST_CASE("limits: every new field folds like the old ones") {
    UserPolicy p;
    p.defaults.tokens_per_week = 7000;
    p.defaults.tokens_per_month = 30000;
    p.defaults.tokens_per_minute = 100;
    p.defaults.dollars_per_day = 1'000'000;
    p.defaults.dollars_per_week = 5'000'000;
    p.defaults.dollars_per_month = 20'000'000;
    UserLimits g50;
    g50.tokens_per_week = 9000;
    g50.tokens_per_minute = 50;
    g50.dollars_per_day = 3'000'000;
    g50.dollars_per_month = 0;  // unlimited
    UserLimits g51;
    g51.tokens_per_week = 8000;
    g51.tokens_per_minute = 200;
    g51.dollars_per_day = 2'000'000;
    g51.dollars_per_month = 1;
    p.groups[50] = g50;
    p.groups[51] = g51;

    const EffectiveLimits d = limits_for(p, known(1000));
    CHECK(d.tokens_per_week == 7000);
    CHECK(d.tokens_per_month == 30000);
    CHECK(d.tokens_per_minute == 100);
    CHECK(d.dollars_per_day == 1'000'000);
    CHECK(d.dollars_per_week == 5'000'000);
    CHECK(d.dollars_per_month == 20'000'000);
    CHECK(d.has_dollar_budget());
    CHECK(d.has_token_budget());

    // Most generous per field, in either order; fields no group sets keep
    // the defaults.
    for (const auto& groups : {std::vector<gid_t>{50, 51}, std::vector<gid_t>{51, 50}}) {
        const EffectiveLimits g = limits_for(p, known(1000, groups));
        CHECK(g.tokens_per_week == 9000);
        CHECK(g.tokens_per_month == 30000);
        CHECK(g.tokens_per_minute == 200);
        CHECK(g.dollars_per_day == 3'000'000);
        CHECK(g.dollars_per_week == 5'000'000);
        CHECK(g.dollars_per_month == 0);
    }
    // One group alone replaces the defaults, even when stricter.
    const EffectiveLimits only51 = limits_for(p, known(1000, {51}));
    CHECK(only51.tokens_per_week == 8000);
    CHECK(only51.dollars_per_month == 1);

    // The user's own entry replaces what the groups said, field by field.
    UserLimits own;
    own.tokens_per_minute = 10;
    own.dollars_per_day = 0;
    p.users[1000] = own;
    const EffectiveLimits u = limits_for(p, known(1000, {50, 51}));
    CHECK(u.tokens_per_minute == 10);
    CHECK(u.dollars_per_day == 0);
    CHECK(u.tokens_per_week == 9000);  // not set by the user: the groups'
}

TEST_CASE("names_users counts the new limits") {
    const auto with = [](auto set) {
        UserPolicy p;
        set(p.defaults);
        return p;
    };
    for (const UserPolicy& p : {
             with([](UserLimits& l) { l.tokens_per_week = 1; }),
             with([](UserLimits& l) { l.tokens_per_month = 1; }),
             with([](UserLimits& l) { l.tokens_per_minute = 1; }),
             with([](UserLimits& l) { l.dollars_per_day = 1; }),
             with([](UserLimits& l) { l.dollars_per_week = 1; }),
             with([](UserLimits& l) { l.dollars_per_month = 1; }),
         }) {
        CHECK(p.names_users());
        CHECK_FALSE(admit(p, unknown()).allowed);
        CHECK(admit(p, unknown()).unidentified);
    }
    // A budget of 0 is unlimited: it names nobody.
    const UserPolicy zero = with([](UserLimits& l) { l.dollars_per_day = 0; });
    CHECK_FALSE(zero.names_users());
    CHECK(admit(zero, unknown()).allowed);
    // Prices and a zone name nobody either.
    UserPolicy priced;
    priced.prices.set("gpt-5", ModelPrice{1, 1, 1});
    CHECK_FALSE(priced.names_users());
}

TEST_CASE("has_budgets: any token or dollar budget at any level") {
    CHECK_FALSE(UserPolicy{}.has_budgets());
    UserPolicy rate_only;
    rate_only.defaults.tokens_per_minute = 100;
    rate_only.defaults.requests_per_minute = 10;
    CHECK_FALSE(rate_only.has_budgets());
    UserPolicy in_group;
    in_group.groups[50].dollars_per_week = 5;
    CHECK(in_group.has_budgets());
    UserPolicy in_user;
    in_user.users[1000].tokens_per_month = 5;
    CHECK(in_user.has_budgets());
    UserPolicy zero;
    zero.users[1000].tokens_per_day = 0;
    CHECK_FALSE(zero.has_budgets());
}

TEST_CASE("the budget zone: UTC unless the policy names one") {
    UserPolicy p;
    CHECK(p.budget_zone().name() == "UTC");
    CHECK(p.budget_zone().offset_at(1751328000) == 0);
    auto berlin = load_time_zone("Europe/Berlin");
    REQUIRE(std::holds_alternative<std::shared_ptr<const TimeZone>>(berlin));
    p.zone = std::get<std::shared_ptr<const TimeZone>>(berlin);
    CHECK(p.budget_zone().name() == "Europe/Berlin");
    CHECK(p.budget_zone().offset_at(1751328000) == 7200);  // 2025-07-01
}

TEST_CASE("GET /metrics: root and the users and groups named, never the unidentified") {
    UserPolicy p;
    CHECK(may_read_metrics(p, known(0)));
    CHECK_FALSE(may_read_metrics(p, known(1001)));
    CHECK_FALSE(may_read_metrics(p, unknown()));
    p.metrics_users = {1001};
    p.metrics_groups = {50};
    CHECK(may_read_metrics(p, known(1001)));
    CHECK(may_read_metrics(p, known(1002, {7, 50})));
    CHECK_FALSE(may_read_metrics(p, known(1002, {7})));
    // Being allowed to use the proxy is not being allowed to read its metrics,
    // and the reverse.
    p.allow_users = {1003};
    CHECK_FALSE(may_read_metrics(p, known(1003)));
    CHECK_FALSE(admit(p, known(1001)).allowed);
    CHECK(may_read_metrics(p, known(1001)));
}
