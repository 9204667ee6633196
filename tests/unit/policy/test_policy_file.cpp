#include <doctest/doctest.h>

#include <fcntl.h>
#include <stdlib.h>
#include <unistd.h>

#include <cstdlib>
#include <map>
#include <string>
#include <string_view>

#include "common/unique_fd.hpp"
#include "policy/policy_file.hpp"
#include "tests/unit/support/temp_files.hpp"

using namespace proxy;

namespace {

constexpr std::string_view kFile = "pol.toml";

// The user database of these tests; a lookup of a numeric string is a bug
// (the parser reads ids itself), so it is counted.
struct Names {
    std::map<std::string, std::uint32_t, std::less<>> users{{"alice", 1001}, {"mallory", 1666}};
    std::map<std::string, std::uint32_t, std::less<>> groups{
        {"codex", 500}, {"interns", 501}, {"contractors", 502}};
    int numeric_lookups = 0;

    NameResolver resolver() {
        auto find = [this](const auto& table, std::string_view name) -> std::optional<uid_t> {
            if (!name.empty() && name.find_first_not_of("0123456789") == std::string_view::npos) {
                ++numeric_lookups;
            }
            const auto it = table.find(name);
            if (it == table.end()) return std::nullopt;
            return it->second;
        };
        return NameResolver{[this, find](std::string_view n) { return find(users, n); },
                            [this, find](std::string_view n) { return find(groups, n); }};
    }
};

UserPolicy parse_policy_ok(std::string_view text, const UserPolicy& base = {}) {
    Names names;
    auto result = parse_policy_text(text, kFile, base, names.resolver());
    if (const auto* error = std::get_if<std::string>(&result)) {
        FAIL("unexpected error: " << *error);
    }
    CHECK(names.numeric_lookups == 0);
    return std::get<UserPolicy>(std::move(result));
}

std::string parse_policy_error(std::string_view text) {
    Names names;
    auto result = parse_policy_text(text, kFile, UserPolicy{}, names.resolver());
    if (std::holds_alternative<UserPolicy>(result)) {
        FAIL("accepted: " << text);
        return {};
    }
    const std::string error = std::get<std::string>(result);
    CHECK(error.find('\n') == std::string::npos);
    return error;
}

bool same_limits(const UserLimits& a, const UserLimits& b) {
    return a.max_streams == b.max_streams && a.requests_per_minute == b.requests_per_minute &&
           a.tokens_per_day == b.tokens_per_day;
}

using proxy::test::TempFile;

constexpr std::string_view kExample = R"(# the example of policy_file.hpp
[defaults]
max_streams = 4
requests_per_minute = 60
tokens_per_day = 2000000

[access]
allow_users = ["alice", 1001, 1002]
allow_groups = ["codex"]
deny_users = ["mallory"]
deny_groups = ["contractors"]

[users.alice]
tokens_per_day = 5000000

[groups.interns]
tokens_per_day = 100000

[groups.77]
max_streams = 0
)";

}  // namespace

TEST_CASE("the documented example") {
    const UserPolicy p = parse_policy_ok(kExample);
    CHECK(same_limits(p.defaults, {4, 60, 2000000}));
    CHECK(p.allow_users == std::vector<uid_t>{1001, 1002});  // "alice" is 1001: once
    CHECK(p.allow_groups == std::vector<gid_t>{500});
    CHECK(p.deny_users == std::vector<uid_t>{1666});
    CHECK(p.deny_groups == std::vector<gid_t>{502});
    REQUIRE(p.users.size() == 1);
    CHECK(same_limits(p.users.at(1001), {std::nullopt, std::nullopt, 5000000}));
    REQUIRE(p.groups.size() == 2);
    CHECK(same_limits(p.groups.at(501), {std::nullopt, std::nullopt, 100000}));
    CHECK(same_limits(p.groups.at(77), {0, std::nullopt, std::nullopt}));
}

TEST_CASE("an empty file, or only comments, is the base policy") {
    UserPolicy base;
    base.allow_users = {5};
    base.deny_groups = {6};
    base.defaults = {1, 2, 3};
    for (std::string_view text : {"", "# nothing\n\n", "[defaults]\n[access]\n"}) {
        CAPTURE(text);
        const UserPolicy p = parse_policy_ok(text, base);
        CHECK(p.allow_users == base.allow_users);
        CHECK(p.allow_groups.empty());
        CHECK(p.deny_users.empty());
        CHECK(p.deny_groups == base.deny_groups);
        CHECK(same_limits(p.defaults, base.defaults));
        CHECK(p.users.empty());
        CHECK(p.groups.empty());
    }
}

TEST_CASE("[defaults] replaces only the fields it sets") {
    UserPolicy base;
    base.defaults = {4, 60, std::nullopt};
    const UserPolicy p =
        parse_policy_ok("[defaults]\nrequests_per_minute = 0\ntokens_per_day = 9\n", base);
    CHECK(same_limits(p.defaults, {4, 0, 9}));
}

TEST_CASE("[access] lists are added to the flags' lists without duplicates") {
    UserPolicy base;
    base.allow_users = {1001, 7};
    base.allow_groups = {500};
    const UserPolicy p = parse_policy_ok(
        "[access]\nallow_users = [\"alice\", 1002, \"1003\", 1002]\n"
        "allow_groups = [\"codex\", 4000000000]\ndeny_users = []\n",
        base);
    CHECK(p.allow_users == std::vector<uid_t>{1001, 7, 1002, 1003});
    CHECK(p.allow_groups == std::vector<gid_t>{500, 4000000000u});
    CHECK(p.deny_users.empty());
}

TEST_CASE("[access] metrics_users and metrics_groups name who may read GET /metrics") {
    UserPolicy base;
    base.metrics_users = {7};  // --metrics-allow-user
    const UserPolicy p = parse_policy_ok(
        "[access]\nmetrics_users = [\"alice\", 1002, 7]\nmetrics_groups = [\"codex\"]\n", base);
    CHECK(p.metrics_users == std::vector<uid_t>{7, 1001, 1002});
    CHECK(p.metrics_groups.size() == 1);
    // Not an allow rule: nobody is kept out of the proxy by it.
    CHECK_FALSE(p.has_allow_rules());
    CHECK_FALSE(p.names_users());
}

TEST_CASE("limits up to their types' ranges are accepted") {
    const UserPolicy p = parse_policy_ok(
        "[users.0]\nmax_streams = 4294967295\nrequests_per_minute = 0\n"
        "tokens_per_day = 9223372036854775807\n");
    CHECK(same_limits(p.users.at(0), {4294967295u, 0, 9223372036854775807ull}));
}

TEST_CASE("errors name the file, line and column of the offending node") {
    // Each: the text, then the error it must give, exactly.
    const std::pair<std::string_view, std::string_view> cases[] = {
        {"[access]\nallow_users = [\"alice\", \"bob\"]\n", "pol.toml:2:25: unknown user 'bob'"},
        {"[access]\n\ndeny_groups = [\"nope\"]\n", "pol.toml:3:16: unknown group 'nope'"},
        {"[defaults]\nmax_streams = 1\n\n[users.bob]\nmax_streams = 2\n",
         "pol.toml:4:8: unknown user 'bob'"},
        {"[groups.staff]\n", "pol.toml:1:9: unknown group 'staff'"},
        {"[defaults]\nmax_streams = -1\n", "pol.toml:2:15: max_streams must not be negative"},
        {"[defaults]\nrequests_per_minute = 4294967296\n",
         "pol.toml:2:23: requests_per_minute is too large (at most 4294967295)"},
        {"[users.alice]\ntokens_per_day = \"lots\"\n",
         "pol.toml:2:18: tokens_per_day must be an integer"},
        {"[groups.codex]\nmax_streams = 1.0\n", "pol.toml:2:15: max_streams must be an integer"},
        {"[defaults]\nmax_stream = 1\n",
         "pol.toml:2:1: unknown key 'max_stream' in [defaults] (expected max_streams, "
         "requests_per_minute, tokens_per_day, tokens_per_week, tokens_per_month, "
         "tokens_per_minute, dollars_per_day, dollars_per_week, dollars_per_month, models, "
         "max_output_tokens, service_tiers; response_ownership in [defaults])"},
        {"[users.alice]\nmax_streams = 1\ncolour = 2\n",
         "pol.toml:3:1: unknown key 'colour' in [users.alice] (expected max_streams, "
         "requests_per_minute, tokens_per_day, tokens_per_week, tokens_per_month, "
         "tokens_per_minute, dollars_per_day, dollars_per_week, dollars_per_month, models, "
         "max_output_tokens, service_tiers; response_ownership in [defaults])"},
        {"# c\n[access]\nallow = [1]\n",
         "pol.toml:3:1: unknown key 'allow' in [access] (expected allow_users, allow_groups, "
         "deny_users, deny_groups, metrics_users, metrics_groups)"},
        {"\n\n[limits]\n",
         "pol.toml:3:2: unknown table or key 'limits' (expected timezone, [defaults], "
         "[access], [prices.*], [users.*], [groups.*])"},
        {"max_streams = 4\n",
         "pol.toml:1:1: unknown table or key 'max_streams' (expected timezone, [defaults], "
         "[access], [prices.*], [users.*], [groups.*])"},
        {"defaults = 4\n", "pol.toml:1:12: 'defaults' must be a table"},
        {"[access]\nallow_users = \"alice\"\n",
         "pol.toml:2:15: allow_users must be an array of user names and ids"},
        {"[access]\nallow_groups = [500, true]\n",
         "pol.toml:2:22: group must be a name or a numeric id"},
        {"[access]\ndeny_users = [-3]\n", "pol.toml:2:15: user id must not be negative"},
        {"[access]\ndeny_users = [4294967295]\n",
         "pol.toml:2:15: user id 4294967295 is out of range"},
        {"[users]\nalice = 5\n", "pol.toml:2:9: [users.alice] must be a table"},
        {"[users.99999999999]\n", "pol.toml:1:8: user id 99999999999 is out of range"},
        {"[users.alice]\n[users.1001]\n",
         "pol.toml:2:8: [users.1001] is user id 1001 again (first [users.alice], line 1)"},
        {"[groups.500]\n[groups.codex]\n",
         "pol.toml:2:9: [groups.codex] is group id 500 again (first [groups.500], line 1)"},
    };
    for (const auto& [text, want] : cases) {
        CAPTURE(text);
        CHECK(parse_policy_error(text) == want);
    }
}

TEST_CASE("TOML syntax errors keep toml++'s position, on one line") {
    const std::string e = parse_policy_error("[defaults]\nmax_streams = 1\nmax_streams = 2\n");
    CHECK(e.rfind("pol.toml:3:", 0) == 0);
    const std::string unterminated = parse_policy_error("\n[access\n");
    CHECK(unterminated.rfind("pol.toml:2:", 0) == 0);
}

TEST_CASE("names with control characters cannot break the error line") {
    CHECK(parse_policy_error("[access]\nallow_users = [\"a\\nb\\u001b[31m\"]\n") ==
          "pol.toml:2:16: unknown user 'a?b?[31m'");
}

TEST_CASE("a resolver without a function resolves nothing") {
    auto result = parse_policy_text("[access]\nallow_users = [\"alice\", 5]\n", kFile, UserPolicy{},
                                    NameResolver{});
    REQUIRE(std::holds_alternative<std::string>(result));
    CHECK(std::get<std::string>(result) == "pol.toml:2:16: unknown user 'alice'");
    // Numeric ids need no resolver.
    result = parse_policy_text("[access]\nallow_users = [\"5\", 6]\n", kFile, UserPolicy{},
                               NameResolver{});
    REQUIRE(std::holds_alternative<UserPolicy>(result));
    CHECK(std::get<UserPolicy>(result).allow_users == std::vector<uid_t>{5, 6});
}

TEST_CASE("load_policy_file reads the file and names it in errors") {
    Names names;
    const TempFile good("[access]\nallow_users = [\"alice\"]\n");
    auto result = load_policy_file(good.path, UserPolicy{}, names.resolver());
    REQUIRE(std::holds_alternative<UserPolicy>(result));
    CHECK(std::get<UserPolicy>(result).allow_users == std::vector<uid_t>{1001});

    const TempFile bad("[access]\n\nallow_users = [\"bob\"]\n");
    result = load_policy_file(bad.path, UserPolicy{}, names.resolver());
    REQUIRE(std::holds_alternative<std::string>(result));
    CHECK(std::get<std::string>(result) == bad.path + ":3:16: unknown user 'bob'");
}

TEST_CASE("load_policy_file: unreadable and oversized files") {
    Names names;
    const std::string missing = "/nonexistent-dir/policy.toml";
    auto result = load_policy_file(missing, UserPolicy{}, names.resolver());
    REQUIRE(std::holds_alternative<std::string>(result));
    CHECK(std::get<std::string>(result) ==
          "cannot read /nonexistent-dir/policy.toml: No such file or directory");

    result = load_policy_file("/", UserPolicy{}, names.resolver());
    REQUIRE(std::holds_alternative<std::string>(result));
    CHECK(std::get<std::string>(result) == "cannot read /: Is a directory");

    // Exactly 1 MiB of comment is a (useless) policy; one byte more is not.
    std::string text(1024 * 1024, '#');
    text.back() = '\n';
    const TempFile limit(text);
    CHECK(std::holds_alternative<UserPolicy>(load_policy_file(limit.path, {}, names.resolver())));
    text += '\n';
    const TempFile over(text);
    result = load_policy_file(over.path, UserPolicy{}, names.resolver());
    REQUIRE(std::holds_alternative<std::string>(result));
    CHECK(std::get<std::string>(result) == over.path + ": larger than 1 MiB, not a policy file");
}

TEST_CASE("system_name_resolver asks the user database") {
    const NameResolver sys = system_name_resolver();
    REQUIRE(sys.user);
    REQUIRE(sys.group);
    CHECK(sys.user("root") == std::optional<uid_t>(0));
    CHECK(sys.group("root") == std::optional<gid_t>(0));
    CHECK(sys.user("no-such-user-for-policy-tests") == std::nullopt);
    CHECK(sys.group("no-such-group-for-policy-tests") == std::nullopt);
    // Ids are the parser's business, and a NUL would silently cut the name.
    CHECK(sys.user("0") == std::nullopt);
    CHECK(sys.user(std::string_view("root\0x", 6)) == std::nullopt);
}
