#include "parent/users/usage_view.hpp"

#include <algorithm>
#include <cmath>

#include "common/dollars.hpp"
#include "common/json.hpp"
#include "policy/spend_budget.hpp"

namespace proxy {

namespace {

constexpr const char* kHeaderPrefix = "x-codex-proxy-budget-remaining-";

std::uint64_t left(std::uint64_t limit, std::uint64_t used) {
    return used >= limit ? 0 : limit - used;
}

void period_json(std::string& out, const UsageView& v, BudgetPeriod p) {
    const PeriodUsage& u = v.standing.used[p];
    const PeriodSpan& span = v.standing.spans[static_cast<std::size_t>(p)];
    const UsageCounters& c = u.counters;
    const std::uint64_t token_limit = token_budgets(v.limits)[p];
    const MicroDollars dollar_limit = dollar_budgets(v.limits)[p];
    out += "\"" + std::string(period_name(p)) + "\":{\"period\":\"" + json_escape(span.key) +
           "\",\"resets_at\":" + std::to_string(span.reset) +
           ",\"resets_in_s\":" + std::to_string(seconds_until_reset(span, v.now)) +
           ",\"requests\":" + std::to_string(c.requests) +
           ",\"refused\":" + std::to_string(c.refused) +
           ",\"tokens\":" + std::to_string(c.tokens()) +
           ",\"tokens_estimated\":" + std::to_string(c.tokens_estimated) +
           ",\"dollars\":" + dollars_text(c.dollars) +
           ",\"token_limit\":" + (token_limit ? std::to_string(token_limit) : "null") +
           ",\"tokens_remaining\":" +
           (token_limit ? std::to_string(left(token_limit, c.tokens())) : "null") +
           ",\"dollar_limit\":" + (dollar_limit ? dollars_text(dollar_limit) : "null") +
           ",\"dollars_remaining\":" +
           (dollar_limit ? dollars_text(left(dollar_limit, c.dollars)) : "null") + "}";
}

std::uint64_t minute_left(const UsageView& v) {
    const double level = v.standing.tokens_this_minute_left.value_or(
        static_cast<double>(v.limits.tokens_per_minute));
    return level <= 0 ? 0 : static_cast<std::uint64_t>(std::floor(level));
}

}  // namespace

std::string usage_json(const UsageView& v) {
    std::string out = "{\"uid\":" + std::to_string(v.uid) + ",\"user\":\"" + json_escape(v.user) +
                      "\",\"timezone\":\"" + json_escape(v.zone) + "\",\"periods\":{";
    bool first = true;
    for (const BudgetPeriod p : kBudgetPeriods) {
        if (!first) out += ',';
        first = false;
        period_json(out, v, p);
    }
    out += "},\"tokens_per_minute\":";
    if (v.limits.tokens_per_minute == 0) {
        out += "null";
    } else {
        out += "{\"limit\":" + std::to_string(v.limits.tokens_per_minute) +
               ",\"remaining\":" + std::to_string(minute_left(v)) + "}";
    }
    out += ",\"in_flight\":{\"streams\":" + std::to_string(v.standing.streams) +
           ",\"reserved_tokens\":" + std::to_string(v.standing.reserved.tokens) +
           ",\"reserved_dollars\":" + dollars_text(v.standing.reserved.dollars) + "}}\n";
    return out;
}

std::vector<std::pair<std::string, std::string>> budget_headers(const UsageView& v) {
    std::vector<std::pair<std::string, std::string>> out;
    const PeriodAmounts tokens = token_budgets(v.limits);
    const PeriodAmounts dollars = dollar_budgets(v.limits);
    for (const BudgetPeriod p : kBudgetPeriods) {
        const UsageCounters& c = v.standing.used[p].counters;
        const std::string name(period_name(p));
        if (tokens[p] != 0) {
            out.emplace_back(kHeaderPrefix + std::string("tokens-") + name,
                             std::to_string(left(tokens[p], c.tokens())));
        }
        if (dollars[p] != 0) {
            out.emplace_back(kHeaderPrefix + std::string("dollars-") + name,
                             dollars_text(left(dollars[p], c.dollars)));
        }
    }
    if (v.limits.tokens_per_minute != 0)
        out.emplace_back(kHeaderPrefix + std::string("tokens-minute"),
                         std::to_string(minute_left(v)));
    return out;
}

}  // namespace proxy
