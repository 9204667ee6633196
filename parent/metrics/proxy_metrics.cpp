#include "parent/metrics/proxy_metrics.hpp"

#include <cstdio>

namespace proxy {

namespace {

constexpr const char* kMetricPrefix = "codex_proxy_";

std::string number(double v) {
    char buf[40];
    int n = std::snprintf(buf, sizeof buf, "%.10g", v);
    return std::string(buf, static_cast<std::size_t>(n));
}

std::string number(std::uint64_t v) {
    return std::to_string(v);
}

// Appends "# HELP" and "# TYPE" for one family.
void family(std::string& out, const char* name, const char* type, const char* help) {
    out.append("# HELP ").append(kMetricPrefix).append(name).append(" ").append(help).append("\n");
    out.append("# TYPE ").append(kMetricPrefix).append(name).append(" ").append(type).append("\n");
}

using Labels = std::vector<std::pair<const char*, std::string>>;

void sample(std::string& out, const char* name, const char* suffix, const Labels& labels,
            const std::string& value) {
    out.append(kMetricPrefix).append(name).append(suffix);
    if (!labels.empty()) {
        out.push_back('{');
        bool first = true;
        for (const auto& [key, v] : labels) {
            if (!first) out.push_back(',');
            first = false;
            out.append(key).append("=\"").append(escape_label_value(v)).push_back('"');
        }
        out.push_back('}');
    }
    out.append(" ").append(value).append("\n");
}

void histogram(std::string& out, const char* name, const char* help, const Histogram& h) {
    family(out, name, "histogram", help);
    std::uint64_t cumulative = 0;
    for (std::size_t i = 0; i < kSecondsBuckets.size(); ++i) {
        cumulative += h.buckets[i];
        sample(out, name, "_bucket", {{"le", number(kSecondsBuckets[i])}}, number(cumulative));
    }
    sample(out, name, "_bucket", {{"le", "+Inf"}}, number(h.count));
    sample(out, name, "_sum", {}, number(h.sum));
    sample(out, name, "_count", {}, number(h.count));
}

}  // namespace

void Histogram::observe(double seconds) {
    if (!(seconds >= 0)) seconds = 0;  // a clock step, or NaN
    ++count;
    sum += seconds;
    for (std::size_t i = 0; i < kSecondsBuckets.size(); ++i) {
        if (seconds <= kSecondsBuckets[i]) {
            ++buckets[i];
            return;
        }
    }
}

std::string escape_label_value(std::string_view v) {
    std::string out;
    out.reserve(v.size());
    for (char c : v) {
        if (c == '\\')
            out.append("\\\\");
        else if (c == '"')
            out.append("\\\"");
        else if (c == '\n')
            out.append("\\n");
        else
            out.push_back(c);
    }
    return out;
}

void ProxyMetrics::count_request(uid_t uid, bool known, std::string_view outcome, unsigned status) {
    std::lock_guard lock(mu_);
    ++requests_[{UserKey{known ? uid : 0, known}, std::string(outcome), status}];
}

void ProxyMetrics::add_tokens(uid_t uid, bool known, const TokenCharge& charge) {
    if (charge.total() == 0) return;
    const UserKey who{known ? uid : 0, known};
    const std::string source = charge.estimated ? "estimated" : "reported";
    std::lock_guard lock(mu_);
    if (charge.input != 0) tokens_[{who, "input", source}] += charge.input;
    if (charge.output != 0) tokens_[{who, "output", source}] += charge.output;
}

void ProxyMetrics::add_spend(uid_t uid, bool known, double dollars) {
    std::lock_guard lock(mu_);
    spend_[UserKey{known ? uid : 0, known}] += dollars;
}

void ProxyMetrics::observe_first_byte(double seconds) {
    std::lock_guard lock(mu_);
    first_byte_.observe(seconds);
}

void ProxyMetrics::observe_duration(double seconds) {
    std::lock_guard lock(mu_);
    duration_.observe(seconds);
}

void ProxyMetrics::count_worker_restart(const char* cause) {
    std::lock_guard lock(mu_);
    ++worker_restarts_[cause];
}

void ProxyMetrics::count_key_rotation() {
    std::lock_guard lock(mu_);
    ++key_rotations_;
}

std::string ProxyMetrics::render(const std::vector<MetricsStanding>& standing,
                                 const std::function<std::string(uid_t)>& name_of) const {
    // A copy under the lock; names are looked up and text is built without it.
    decltype(requests_) requests;
    decltype(tokens_) tokens;
    decltype(spend_) spend;
    Histogram first_byte, duration;
    decltype(worker_restarts_) restarts;
    std::uint64_t rotations = 0;
    {
        std::lock_guard lock(mu_);
        requests = requests_;
        tokens = tokens_;
        spend = spend_;
        first_byte = first_byte_;
        duration = duration_;
        restarts = worker_restarts_;
        rotations = key_rotations_;
    }
    std::map<UserKey, std::string> names;
    auto user = [&](const UserKey& k) -> const std::string& {
        auto it = names.find(k);
        if (it != names.end()) return it->second;
        return names.emplace(k, k.known ? name_of(k.uid) : "unidentified").first->second;
    };

    std::string out;
    out.reserve(4096);
    family(out, "build_info", "gauge", "The proxy's version.");
    sample(out, "build_info", "", {{"version", PROXY_VERSION}}, "1");

    family(out, "requests_total", "counter",
           "Requests answered, by user, outcome and the HTTP status the client got.");
    for (const auto& [key, n] : requests) {
        const auto& [who, outcome, status] = key;
        sample(out, "requests_total", "",
               {{"user", user(who)}, {"outcome", outcome}, {"code", std::to_string(status)}},
               number(n));
    }

    family(out, "tokens_total", "counter",
           "Tokens charged, by user, kind (input, output) and source (reported by the upstream, "
           "or estimated).");
    for (const auto& [key, n] : tokens) {
        const auto& [who, kind, source] = key;
        sample(out, "tokens_total", "", {{"user", user(who)}, {"kind", kind}, {"source", source}},
               number(n));
    }

    if (!spend.empty()) {
        family(out, "spend_dollars_total", "counter", "Estimated spend in US dollars, by user.");
        for (const auto& [who, dollars] : spend)
            sample(out, "spend_dollars_total", "", {{"user", user(who)}}, number(dollars));
    }

    family(out, "open_streams", "gauge", "Requests in flight, by user.");
    for (const MetricsStanding& s : standing) {
        sample(out, "open_streams", "", {{"user", user(UserKey{s.known ? s.uid : 0, s.known})}},
               number(static_cast<std::uint64_t>(s.open_streams)));
    }

    family(out, "budget_remaining", "gauge",
           "What is left of a budget, by user, kind and period (only where one is set).");
    for (const MetricsStanding& s : standing) {
        for (const MetricsStanding::Remaining& r : s.remaining) {
            sample(out, "budget_remaining", "",
                   {{"user", user(UserKey{s.known ? s.uid : 0, s.known})},
                    {"kind", std::string(r.kind)},
                    {"period", std::string(r.period)}},
                   r.kind == "dollars" ? number(r.value)
                                       : number(static_cast<std::uint64_t>(r.value)));
        }
    }

    histogram(out, "upstream_first_byte_seconds",
              "Seconds from a request's arrival to the first byte of the upstream's answer.",
              first_byte);
    histogram(out, "request_duration_seconds",
              "Seconds from a request's arrival to its end, however it ended.", duration);

    const long open = upstream_open.load(std::memory_order_relaxed);
    const long idle = upstream_idle.load(std::memory_order_relaxed);
    family(out, "upstream_connections", "gauge",
           "Connections to the upstream, by state (in_use: connecting or carrying a request; "
           "idle: kept alive in a pool).");
    sample(out, "upstream_connections", "", {{"state", "in_use"}},
           number(static_cast<std::uint64_t>(open > idle ? open - idle : 0)));
    sample(out, "upstream_connections", "", {{"state", "idle"}},
           number(static_cast<std::uint64_t>(idle > 0 ? idle : 0)));

    family(out, "worker_restarts_total", "counter",
           "Workers that ended and were started again, by cause.");
    for (const char* cause : {"exited", "signal", "seccomp", "killed_by_parent"}) {
        auto it = restarts.find(cause);
        sample(out, "worker_restarts_total", "", {{"cause", cause}},
               number(it == restarts.end() ? 0 : it->second));
    }

    family(out, "key_rotations_total", "counter",
           "API keys taken in by SIGHUP (a key refused on SIGHUP is not counted).");
    sample(out, "key_rotations_total", "", {}, number(rotations));
    return out;
}

ProxyMetrics& proxy_metrics() {
    static ProxyMetrics metrics;
    return metrics;
}

}  // namespace proxy
