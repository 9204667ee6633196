// The counters behind GET /metrics, owned by the parent: the worker never
// sees them, only the text WorkerLink::answer_metrics_ask renders for a
// caller the policy lets read it (policy/user_policy.hpp may_read_metrics).
//
// They are counted where the facts are: requests and tokens where the audit
// line is written (parent/workers/worker_link*.cpp), timings as an exchange
// goes (parent/upstream/), upstream connections in the pool, worker restarts
// in the supervisor, key rotations at SIGHUP. Several of those run on the
// upstream threads at once, so every member takes the one lock (each call is
// a few map operations) or is an atomic; render() copies under the lock and
// formats outside it.
//
// Cardinality: per-user series are keyed by uid, so they are bounded by the
// users of the machine (plus one "unidentified"); outcome and code come from
// the proxy's own fixed sets.
#pragma once

#include <sys/types.h>

#include <array>
#include <atomic>
#include <cstdint>
#include <functional>
#include <map>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <tuple>
#include <vector>

#include "policy/token_budget.hpp"

namespace proxy {

// Seconds; the last bucket is +Inf. A first byte after reasoning can take
// minutes, a whole stream longer.
inline constexpr std::array<double, 12> kSecondsBuckets = {0.05, 0.1, 0.25, 0.5, 1,   2.5,
                                                           5,    10,  30,   60,  120, 300};

struct Histogram {
    std::array<std::uint64_t, kSecondsBuckets.size()> buckets{};  // not cumulative
    std::uint64_t count = 0;
    double sum = 0;
    void observe(double seconds);
};

// What the per-user layer knows right now, for the gauges (AccessControl
// fills it in; the counters below do not know about policy).
struct MetricsStanding {
    uid_t uid = 0;
    bool known = true;  // false: the unidentified callers' shared account
    unsigned open_streams = 0;
    // What is left of each budget that applies to this user (never below 0):
    // kind "tokens" or "dollars", period "day", "week" or "month".
    struct Remaining {
        std::string_view kind;
        std::string_view period;
        double value = 0;
    };
    std::vector<Remaining> remaining;
};

class ProxyMetrics {
  public:
    // `known` false: the caller the kernel could not vouch for.
    void count_request(uid_t uid, bool known, std::string_view outcome, unsigned status);
    void add_tokens(uid_t uid, bool known, const TokenCharge& charge);
    // The hook for spend_dollars_total{user}: the prices (issue 24) call this
    // where a request is charged; the family is shown once anything was added.
    void add_spend(uid_t uid, bool known, double dollars);
    void observe_first_byte(double seconds);
    void observe_duration(double seconds);
    // cause: "exited", "signal", "seccomp", "killed_by_parent".
    void count_worker_restart(const char* cause);
    void count_key_rotation();

    // Upstream connections: open ones (connecting or in use or idle) and
    // idle ones in a pool, kept by the pools of every upstream thread.
    std::atomic<long> upstream_open{0};
    std::atomic<long> upstream_idle{0};

    // The Prometheus text exposition format 0.0.4. `name_of` gives the user
    // label of a uid (the name, or the number when it has none).
    std::string render(const std::vector<MetricsStanding>& standing,
                       const std::function<std::string(uid_t)>& name_of) const;

  private:
    struct UserKey {
        uid_t uid;
        bool known;
        auto operator<=>(const UserKey&) const = default;
    };
    mutable std::mutex mu_;
    std::map<std::tuple<UserKey, std::string, unsigned>, std::uint64_t> requests_;
    // kind: input, output; source: reported, estimated
    std::map<std::tuple<UserKey, std::string, std::string>, std::uint64_t> tokens_;
    std::map<UserKey, double> spend_;
    Histogram first_byte_;
    Histogram duration_;
    std::map<std::string, std::uint64_t> worker_restarts_;
    std::uint64_t key_rotations_ = 0;
};

// The parent's one set of counters.
ProxyMetrics& proxy_metrics();

// A label value as the text format writes it: backslash, double quote and
// line feed escaped (\\, \", \n).
std::string escape_label_value(std::string_view v);

}  // namespace proxy
