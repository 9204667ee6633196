#include <doctest/doctest.h>

#include <initializer_list>
#include <string>
#include <vector>

#include "common/cli.hpp"

using proxy::Options;
using proxy::ParseStatus;

namespace {

struct Parsed {
    ParseStatus status;
    Options options;
    std::string error;
};

Parsed parse_cli(std::vector<std::string> args) {
    args.insert(args.begin(), "codex-responses-api-proxy");
    std::vector<char*> argv;
    for (auto& a : args) argv.push_back(a.data());
    argv.push_back(nullptr);
    Parsed p{ParseStatus::Error, {}, {}};
    p.status = proxy::parse_options(static_cast<int>(args.size()), argv.data(), p.options, p.error);
    return p;
}

Options parse_cli_ok(std::initializer_list<std::string> args) {
    Parsed p = parse_cli(args);
    CHECK_MESSAGE(p.status == ParseStatus::Ok, p.error);
    return p.options;
}

std::string parse_cli_error(std::initializer_list<std::string> args) {
    Parsed p = parse_cli(args);
    CHECK(p.status == ParseStatus::Error);
    CHECK(!p.error.empty());
    CHECK(p.error.find('\n') == std::string::npos);
    return p.error;
}

// Options has no operator== (shared header); compare every field here.
void check_equal(const Options& a, const Options& b) {
    CHECK(a.port == b.port);
    CHECK(a.server_info == b.server_info);
    CHECK(a.http_shutdown == b.http_shutdown);
    CHECK(a.upstream_url == b.upstream_url);
    CHECK(a.dump_dir == b.dump_dir);
    CHECK(a.upstream_ca_file == b.upstream_ca_file);
    CHECK(a.allow_insecure_upstream == b.allow_insecure_upstream);
    CHECK(a.worker_user == b.worker_user);
    CHECK(a.chroot_dir == b.chroot_dir);
    CHECK(a.workers == b.workers);
    CHECK(a.allowed_hosts == b.allowed_hosts);
    CHECK(a.openai_organization == b.openai_organization);
    CHECK(a.openai_project == b.openai_project);
    CHECK(a.key_file == b.key_file);
    CHECK(a.header_timeout_s == b.header_timeout_s);
    CHECK(a.body_timeout_s == b.body_timeout_s);
    CHECK(a.upstream_connect_timeout_s == b.upstream_connect_timeout_s);
    CHECK(a.upstream_idle_timeout_s == b.upstream_idle_timeout_s);
    CHECK(a.keepalive_timeout_s == b.keepalive_timeout_s);
    CHECK(a.shutdown_timeout_s == b.shutdown_timeout_s);
    CHECK(a.max_body_bytes == b.max_body_bytes);
    CHECK(a.max_header_bytes == b.max_header_bytes);
    CHECK(a.max_headers == b.max_headers);
    CHECK(a.max_connections == b.max_connections);
    CHECK(a.verbose == b.verbose);
    CHECK(a.worker_mode == b.worker_mode);
    CHECK(a.worker_id == b.worker_id);
    CHECK(a.worker_version == b.worker_version);
}

Options parse_vector(const std::vector<std::string>& args) {
    Parsed p = parse_cli(args);
    CHECK_MESSAGE(p.status == ParseStatus::Ok, p.error);
    return p.options;
}

}  // namespace

TEST_CASE("cli: no arguments gives the defaults") {
    check_equal(parse_cli_ok({}), Options{});
}

TEST_CASE("cli: the original's flags, both value forms") {
    auto o = parse_cli_ok({"--port", "8080", "--server-info=/tmp/info.json", "--http-shutdown",
                           "--upstream-url", "https://example.com/v1/responses", "--dump-dir=d"});
    CHECK(o.port == 8080);
    CHECK(o.server_info == "/tmp/info.json");
    CHECK(o.http_shutdown);
    CHECK(o.upstream_url == "https://example.com/v1/responses");
    CHECK(o.dump_dir == "d");
    CHECK(parse_cli_ok({"--port=0"}).port == 0);
    CHECK(parse_cli_ok({"--port", "65535"}).port == 65535);
    CHECK(!parse_cli_ok({}).port.has_value());
}

TEST_CASE("cli: our flags") {
    auto o = parse_cli_ok({"--upstream-ca-file",
                           "ca.pem",
                           "--worker-user=proxyw",
                           "--chroot-dir",
                           "/var/empty",
                           "--workers=4",
                           "--allow-host",
                           "proxy.local",
                           "--allow-host=[::1]",
                           "--allow-host",
                           "10.0.0.1",
                           "--openai-organization",
                           "org-abc",
                           "--openai-project=proj_x y",
                           "--key-file",
                           "/run/credentials/x/key",
                           "--header-timeout=1",
                           "--body-timeout",
                           "86400",
                           "--upstream-connect-timeout=5",
                           "--upstream-idle-timeout=600",
                           "--keepalive-timeout=10",
                           "--shutdown-timeout=2",
                           "--max-body-size=10M",
                           "--max-header-size",
                           "16K",
                           "--max-headers=50",
                           "--max-connections=1000000",
                           "--verbose"});
    CHECK(o.upstream_ca_file == "ca.pem");
    CHECK(o.worker_user == "proxyw");
    CHECK(o.chroot_dir == "/var/empty");
    CHECK(o.workers == 4);
    CHECK(o.allowed_hosts == std::vector<std::string>{"proxy.local", "[::1]", "10.0.0.1"});
    CHECK(o.openai_organization == "org-abc");
    CHECK(o.openai_project == "proj_x y");
    CHECK(o.key_file == "/run/credentials/x/key");
    CHECK(o.header_timeout_s == 1);
    CHECK(o.body_timeout_s == 86400);
    CHECK(o.upstream_connect_timeout_s == 5);
    CHECK(o.upstream_idle_timeout_s == 600);
    CHECK(o.keepalive_timeout_s == 10);
    CHECK(o.shutdown_timeout_s == 2);
    CHECK(o.max_body_bytes == 10u << 20);
    CHECK(o.max_header_bytes == 16u << 10);
    CHECK(o.max_headers == 50);
    CHECK(o.max_connections == 1000000);
    CHECK(o.verbose);
    CHECK(!o.worker_mode);
}

TEST_CASE("cli: size suffixes") {
    CHECK(parse_cli_ok({"--max-body-size=1"}).max_body_bytes == 1);
    CHECK(parse_cli_ok({"--max-body-size=2k"}).max_body_bytes == 2048);
    CHECK(parse_cli_ok({"--max-body-size=3M"}).max_body_bytes == 3u << 20);
    CHECK(parse_cli_ok({"--max-body-size=4G"}).max_body_bytes == 4ull << 30);
    CHECK(parse_cli_ok({"--max-header-size=1K"}).max_header_bytes == 1024);
    CHECK(parse_cli_ok({"--max-header-size=1048576"}).max_header_bytes == 1048576);
    parse_cli_error({"--max-body-size=0"});
    parse_cli_error({"--max-body-size=5G"});
    parse_cli_error({"--max-body-size=K"});
    parse_cli_error({"--max-body-size=1KB"});
    parse_cli_error({"--max-body-size=18446744073709551615G"});
    parse_cli_error({"--max-header-size=1023"});
    parse_cli_error({"--max-header-size=2M"});
}

TEST_CASE("cli: help and version") {
    CHECK(parse_cli({"--help"}).status == ParseStatus::Help);
    CHECK(parse_cli({"-h"}).status == ParseStatus::Help);
    CHECK(parse_cli({"--port=1", "-V"}).status == ParseStatus::Version);
    CHECK(parse_cli({"--version"}).status == ParseStatus::Version);
    CHECK(std::string(proxy::version_text()) ==
          std::string("codex-responses-api-proxy ") + PROXY_VERSION);
    const std::string usage = proxy::usage_text();
    for (const char* flag : {"--port N",
                             "--server-info FILE",
                             "--http-shutdown",
                             "--upstream-url URL",
                             "--dump-dir DIR",
                             "--upstream-ca-file FILE",
                             "--allow-insecure-upstream",
                             "--worker-user NAME",
                             "--chroot-dir DIR",
                             "--workers N",
                             "--allow-host NAME",
                             "--openai-organization VALUE",
                             "--openai-project VALUE",
                             "--key-file FILE",
                             "--header-timeout S",
                             "--body-timeout S",
                             "--upstream-connect-timeout S",
                             "--upstream-idle-timeout S",
                             "--keepalive-timeout S",
                             "--shutdown-timeout S",
                             "--max-body-size BYTES",
                             "--max-header-size BYTES",
                             "--max-headers N",
                             "--max-connections N",
                             "--verbose",
                             "--help",
                             "--version"}) {
        CHECK_MESSAGE(usage.find(flag) != std::string::npos, flag);
    }
    // Defaults come from Options itself.
    CHECK(usage.find("[default: https://api.openai.com/v1/responses]") != std::string::npos);
    CHECK(usage.find("[default: nobody]") != std::string::npos);
    CHECK(usage.find("[default: /run/codex-responses-api-proxy/empty]") != std::string::npos);
    const Options d;
    const auto has_default = [&usage](const std::string& flag, const std::string& value) {
        const auto line_start = usage.find("  " + flag + " ");
        REQUIRE(line_start != std::string::npos);
        const std::string line =
            usage.substr(line_start, usage.find('\n', line_start) - line_start);
        CHECK_MESSAGE(line.find("[default: " + value + "]") != std::string::npos, line);
    };
    has_default("--max-body-size", std::to_string(d.max_body_bytes >> 20) + "M");
    has_default("--max-header-size", std::to_string(d.max_header_bytes >> 10) + "K");
    has_default("--max-connections", std::to_string(d.max_connections));
    has_default("--upstream-idle-timeout", std::to_string(d.upstream_idle_timeout_s));
    has_default("--header-timeout", std::to_string(d.header_timeout_s));
    has_default("--workers", std::to_string(d.workers));
    CHECK(usage.find("[default: ephemeral]") != std::string::npos);
}

TEST_CASE("cli: error messages are specific") {
    CHECK(parse_cli_error({"--port", "abc"}) ==
          "invalid value for --port: 'abc' (expected 0-65535)");
    CHECK(parse_cli_error({"--port=65536"}) ==
          "invalid value for --port: '65536' (expected 0-65535)");
    CHECK(parse_cli_error({"--port"}) == "missing value for --port N");
    CHECK(parse_cli_error({"--port", "--verbose"}) == "missing value for --port N");
    CHECK(parse_cli_error({"--bogus"}) == "unknown option '--bogus'");
    CHECK(parse_cli_error({"--bogus=secret"}) == "unknown option '--bogus'");
    CHECK(parse_cli_error({"-x"}) == "unknown option '-x'");
    CHECK(parse_cli_error({"--verbose=1"}) == "--verbose does not take a value");
    CHECK(parse_cli_error({"--port=1", "--port=2"}) == "--port given more than once");
    CHECK(parse_cli_error({"--workers=0"}) == "invalid value for --workers: '0' (expected 1-64)");
    CHECK(parse_cli_error({"--workers=65"}).find("1-64") != std::string::npos);
    // A positional argument is never echoed: it might be a pasted key.
    const std::string pos = parse_cli_error({"sk-test-abc123"});
    CHECK(pos.find("sk-test") == std::string::npos);
    CHECK(pos.find("positional") != std::string::npos);
    parse_cli_error({"--"});
    parse_cli_error({"-"});
    // Controls in an echoed value are neutralised.
    CHECK(parse_cli_error({"--port=1\x1b[2J"}).find('\x1b') == std::string::npos);
}

TEST_CASE("cli: numbers are strict") {
    for (const char* bad : {"", "-1", "+1", " 1", "1 ", "1e3", "0x10", "99999999999999999999"}) {
        parse_cli_error({std::string("--header-timeout=") + bad});
    }
    parse_cli_error({"--header-timeout=0"});
    parse_cli_error({"--header-timeout=86401"});
    parse_cli_error({"--max-headers=0"});
    parse_cli_error({"--max-headers=1001"});
    parse_cli_error({"--max-connections=0"});
    parse_cli_error({"--max-connections=1000001"});
    CHECK(parse_cli_ok({"--upstream-idle-timeout=86400"}).upstream_idle_timeout_s == 86400);
}

TEST_CASE("cli: text values") {
    parse_cli_error({"--server-info="});
    parse_cli_error({"--server-info", "a\nb"});
    parse_cli_error({"--chroot-dir=relative/dir"});
    parse_cli_error({"--openai-organization=org\r\nX-Evil: 1"});
    parse_cli_error({"--openai-organization=org\tx"});
    parse_cli_error({"--openai-project="});
    parse_cli_error({"--openai-project= lead"});
    parse_cli_error({"--openai-project=caf\xc3\xa9"});
    parse_cli_error({"--allow-host="});
    parse_cli_error({"--allow-host=[::1"});
    parse_cli_error({"--allow-host=[nope]"});
    parse_cli_error({"--allow-host=a b"});
    // An optional port: 1-65535, digits only, no leading zero.
    CHECK(parse_cli_ok({"--allow-host=localhost:9000", "--allow-host=[::1]:1",
                        "--allow-host=10.0.0.1:65535"})
              .allowed_hosts ==
          std::vector<std::string>{"localhost:9000", "[::1]:1", "10.0.0.1:65535"});
    for (const char* bad : {"--allow-host=a:", "--allow-host=a:0", "--allow-host=a:65536",
                            "--allow-host=a:09000", "--allow-host=a:x", "--allow-host=a:1:2",
                            "--allow-host=:80", "--allow-host=[::1]:", "--allow-host=[::1]x",
                            "--allow-host=::1", "--allow-host=[::1]:+80"}) {
        INFO(bad);
        parse_cli_error({bad});
    }
    // --allow-model: the shape policy/model_pattern.hpp checks for every pattern.
    CHECK(parse_cli_ok({"--allow-model=gpt-5*", "--allow-model", std::string(128, 'm')})
              .allow_models.size() == 2);
    const std::vector<std::string> bad_models = {
        "--allow-model=",       "--allow-model=gpt*5",  "--allow-model=gpt 5",
        "--allow-model=gpt\"5", "--allow-model=gpt\\5", "--allow-model=" + std::string(129, 'm')};
    for (const std::string& bad : bad_models) {
        INFO(bad);
        parse_cli_error({bad});
    }
    // A value may start with a single dash in the separate form.
    CHECK(parse_cli_ok({"--dump-dir", "-odd"}).dump_dir == "-odd");
    CHECK(parse_cli_ok({"--dump-dir=--odd"}).dump_dir == "--odd");
}

TEST_CASE("cli: upstream URL is checked, http needs the insecure flag") {
    CHECK(parse_cli_error({"--upstream-url=http://127.0.0.1:9/v1/responses"})
              .find("--allow-insecure-upstream") != std::string::npos);
    auto o = parse_cli_ok(
        {"--upstream-url=http://127.0.0.1:9/v1/responses", "--allow-insecure-upstream"});
    CHECK(o.allow_insecure_upstream);
    o = parse_cli_ok({"--allow-insecure-upstream", "--upstream-url", "http://[::1]:9/"});
    CHECK(o.upstream_url == "http://[::1]:9/");
    parse_cli_error({"--upstream-url=https://user@h/"});
    parse_cli_error({"--upstream-url=file:///etc/passwd"});
}

TEST_CASE("cli: internal worker flags") {
    auto o = parse_cli_ok({"--worker-mode", "--worker-id", "7"});
    CHECK(o.worker_mode);
    CHECK(o.worker_id == 7);
    CHECK(parse_cli_error({"--worker-id=3"}).find("--worker-mode") != std::string::npos);
    CHECK(parse_cli_error({"--worker-version=1"}).find("--worker-mode") != std::string::npos);
    CHECK(parse_cli_ok({"--worker-mode", "--worker-version=0.0.9"}).worker_version == "0.0.9");
}

TEST_CASE("cli: errors leave the output untouched") {
    Options out;
    out.workers = 9;
    std::string error;
    std::string a0 = "proxy", a1 = "--workers=2", a2 = "--bogus";
    char* argv[] = {a0.data(), a1.data(), a2.data(), nullptr};
    CHECK(proxy::parse_options(3, argv, out, error) == ParseStatus::Error);
    CHECK(out.workers == 9);
}

TEST_CASE("cli: worker_arguments round-trips") {
    SUBCASE("defaults") {
        auto args = proxy::worker_arguments(Options{}, 0);
        CHECK(args == std::vector<std::string>{"--worker-mode", "--worker-id=0",
                                               "--worker-version=" PROXY_VERSION});
        Options expected;
        expected.worker_mode = true;
        expected.worker_version = PROXY_VERSION;
        check_equal(parse_vector(args), expected);
    }
    SUBCASE("everything changed") {
        Options o = parse_cli_ok({"--port=0",
                                  "--server-info=/tmp/i.json",
                                  "--http-shutdown",
                                  "--upstream-url=http://127.0.0.1:9/v1/responses?x=1",
                                  "--dump-dir=--dumps",
                                  "--upstream-ca-file=ca.pem",
                                  "--allow-insecure-upstream",
                                  "--worker-user=w",
                                  "--chroot-dir=/e",
                                  "--workers=3",
                                  "--allow-host=a.example",
                                  "--allow-host=[::1]",
                                  "--allow-host=localhost:9000",
                                  "--openai-organization=org-1",
                                  "--openai-project=p 1",
                                  "--key-file=/k",
                                  "--header-timeout=2",
                                  "--body-timeout=3",
                                  "--upstream-connect-timeout=4",
                                  "--upstream-idle-timeout=5",
                                  "--keepalive-timeout=6",
                                  "--shutdown-timeout=7",
                                  "--max-body-size=1536",
                                  "--max-header-size=2K",
                                  "--max-headers=8",
                                  "--max-connections=9",
                                  "--verbose"});
        auto args = proxy::worker_arguments(o, 5);
        for (const auto& a : args) CHECK_MESSAGE(a.find("/k") == std::string::npos, a);
        Options back = parse_vector(args);
        Options expected = o;
        expected.key_file.clear();  // never handed to a worker
        expected.worker_mode = true;
        expected.worker_id = 5;
        expected.worker_version = PROXY_VERSION;
        check_equal(back, expected);
        CHECK(back.max_body_bytes == 1536);
    }
}
