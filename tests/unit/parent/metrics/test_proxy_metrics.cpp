#include <doctest/doctest.h>

#include <string>

#include "parent/metrics/proxy_metrics.hpp"

using namespace proxy;

namespace {

std::string name_of(uid_t uid) {
    // A name with every character the format escapes.
    return uid == 1001 ? std::string("a\"b\\c\nd") : std::to_string(uid);
}

bool has_line(const std::string& text, const std::string& line) {
    return text.find("\n" + line + "\n") != std::string::npos;
}

}  // namespace

TEST_CASE("metrics: label values are escaped as the text format says") {
    CHECK(escape_label_value("plain") == "plain");
    CHECK(escape_label_value("a\"b\\c\nd") == "a\\\"b\\\\c\\nd");
}

TEST_CASE("metrics: counters by user, outcome and code; tokens by kind and source") {
    ProxyMetrics m;
    m.count_request(1001, true, "completed", 200);
    m.count_request(1001, true, "completed", 200);
    m.count_request(5, false, "refused", 403);  // unidentified: the uid is not used
    m.add_tokens(1001, true, TokenCharge{60, 50, false});
    m.add_tokens(1002, true, TokenCharge{4, 0, true});
    const std::string text = m.render({}, name_of);
    CHECK(has_line(text,
                   "codex_proxy_requests_total{user=\"a\\\"b\\\\c\\nd\",outcome=\"completed\","
                   "code=\"200\"} 2"));
    CHECK(has_line(text,
                   "codex_proxy_requests_total{user=\"unidentified\",outcome=\"refused\","
                   "code=\"403\"} 1"));
    CHECK(has_line(text,
                   "codex_proxy_tokens_total{user=\"1002\",kind=\"input\","
                   "source=\"estimated\"} 4"));
    CHECK(text.find("kind=\"output\",source=\"estimated\"") == std::string::npos);  // 0: no line
    // No prices yet: no spend family; once added, it is there.
    CHECK(text.find("spend_dollars_total") == std::string::npos);
    m.add_spend(1002, true, 0.25);
    CHECK(has_line(m.render({}, name_of), "codex_proxy_spend_dollars_total{user=\"1002\"} 0.25"));
}

TEST_CASE("metrics: histograms are cumulative and end at +Inf with the count") {
    ProxyMetrics m;
    m.observe_duration(0.01);
    m.observe_duration(3);
    m.observe_duration(1000);
    m.observe_duration(-1);  // a clock step counts as 0
    const std::string text = m.render({}, name_of);
    CHECK(has_line(text, "codex_proxy_request_duration_seconds_bucket{le=\"0.05\"} 2"));
    CHECK(has_line(text, "codex_proxy_request_duration_seconds_bucket{le=\"5\"} 3"));
    CHECK(has_line(text, "codex_proxy_request_duration_seconds_bucket{le=\"300\"} 3"));
    CHECK(has_line(text, "codex_proxy_request_duration_seconds_bucket{le=\"+Inf\"} 4"));
    CHECK(has_line(text, "codex_proxy_request_duration_seconds_count 4"));
    CHECK(has_line(text, "codex_proxy_request_duration_seconds_sum 1003.01"));
    CHECK(has_line(text, "codex_proxy_upstream_first_byte_seconds_count 0"));
}

TEST_CASE("metrics: gauges from the standing, budgets only where set") {
    ProxyMetrics m;
    m.upstream_open = 3;
    m.upstream_idle = 1;
    std::vector<MetricsStanding> standing(2);
    standing[0].uid = 1002;
    standing[0].open_streams = 2;
    standing[0].remaining = {{"tokens", "day", 890}, {"dollars", "month", 1.25}};
    standing[1].uid = 1003;
    const std::string text = m.render(standing, name_of);
    CHECK(has_line(text, "codex_proxy_open_streams{user=\"1002\"} 2"));
    CHECK(has_line(text, "codex_proxy_open_streams{user=\"1003\"} 0"));
    CHECK(has_line(text,
                   "codex_proxy_budget_remaining{user=\"1002\",kind=\"tokens\","
                   "period=\"day\"} 890"));
    CHECK(has_line(text,
                   "codex_proxy_budget_remaining{user=\"1002\",kind=\"dollars\","
                   "period=\"month\"} 1.25"));
    CHECK(text.find("budget_remaining{user=\"1003\"") == std::string::npos);
    CHECK(has_line(text, "codex_proxy_upstream_connections{state=\"in_use\"} 2"));
    CHECK(has_line(text, "codex_proxy_upstream_connections{state=\"idle\"} 1"));
    m.count_worker_restart("seccomp");
    m.count_key_rotation();
    const std::string later = m.render({}, name_of);
    CHECK(has_line(later, "codex_proxy_worker_restarts_total{cause=\"seccomp\"} 1"));
    CHECK(has_line(later, "codex_proxy_worker_restarts_total{cause=\"exited\"} 0"));
    CHECK(has_line(later, "codex_proxy_key_rotations_total 1"));
    CHECK(has_line(later, "# TYPE codex_proxy_build_info gauge"));
}
