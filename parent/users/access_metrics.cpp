// AccessControl's part in GET /metrics: who may read it, and the per-user
// gauges only the policy and the accounts know (open streams, what is left of
// a budget). The counters themselves are parent/metrics/proxy_metrics.*.
#include <chrono>
#include <set>

#include "parent/metrics/proxy_metrics.hpp"
#include "parent/users/access_control.hpp"

namespace proxy {

const Refusal* AccessControl::may_read_metrics(const PeerIdentity& who) {
    std::lock_guard lock(mu_);
    Caller c;
    c.known = who.known;
    c.uid = who.uid;
    // Always with groups: a metrics group need not appear in any other rule.
    if (who.known && !policy_.metrics_groups.empty()) c.groups = directory_.lookup(who.uid).groups;
    if (proxy::may_read_metrics(policy_, c)) return nullptr;
    return c.known ? &refusal::kMetricsNotAllowed : &refusal::kUserUnidentified;
}

std::string AccessControl::render_metrics() {
    const std::int64_t now = std::chrono::duration_cast<std::chrono::seconds>(
                                 std::chrono::system_clock::now().time_since_epoch())
                                 .count();
    const double mono = std::chrono::duration<double>(
                            std::chrono::steady_clock::now().time_since_epoch())
                            .count();
    std::vector<MetricsStanding> standing;
    {
        std::lock_guard lock(mu_);
        // Users seen today or streaming now, and users the policy gives a
        // budget of their own (their budget is worth seeing before they use it).
        std::set<uid_t> uids;
        for (uid_t uid : accounts_.uids_seen(now)) uids.insert(uid);
        for (const auto& [uid, limits] : policy_.users) {
            if (limits.tokens_per_day.value_or(0) != 0 || limits.tokens_per_week.value_or(0) != 0 ||
                limits.tokens_per_month.value_or(0) != 0 || limits.dollars_per_day.value_or(0) != 0 ||
                limits.dollars_per_week.value_or(0) != 0 || limits.dollars_per_month.value_or(0) != 0)
                uids.insert(uid);
        }
        for (uid_t uid : uids) {
            MetricsStanding s;
            s.uid = uid;
            s.known = uid != kUnknownUid;
            s.open_streams = accounts_.open_streams(uid);
            PeerIdentity who;
            who.known = s.known;
            who.uid = uid;
            const EffectiveLimits limits = limits_for(policy_, caller_of(who));
            const UserStanding used = accounts_.standing(uid, now, mono);
            const struct {
                BudgetPeriod period;
                std::uint64_t tokens;
                MicroDollars dollars;
            } budgets[] = {
                {BudgetPeriod::Day, limits.tokens_per_day, limits.dollars_per_day},
                {BudgetPeriod::Week, limits.tokens_per_week, limits.dollars_per_week},
                {BudgetPeriod::Month, limits.tokens_per_month, limits.dollars_per_month},
            };
            for (const auto& b : budgets) {
                const UsageCounters& c = used.used[b.period].counters;
                if (b.tokens != 0) {
                    const std::uint64_t spent = c.tokens();
                    s.remaining.push_back({"tokens", period_name(b.period),
                                           static_cast<double>(spent >= b.tokens ? 0 : b.tokens - spent)});
                }
                if (b.dollars != 0) {
                    const MicroDollars left = c.dollars >= b.dollars ? 0 : b.dollars - c.dollars;
                    s.remaining.push_back(
                        {"dollars", period_name(b.period), static_cast<double>(left) / 1e6});
                }
            }
            standing.push_back(std::move(s));
        }
    }
    return proxy_metrics().render(standing, [this](uid_t uid) {
        std::lock_guard lock(mu_);
        const std::string& name = directory_.lookup(uid).name;
        return name.empty() ? std::to_string(uid) : name;
    });
}

}  // namespace proxy
