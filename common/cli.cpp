#include "common/cli.hpp"

#include <set>
#include <string_view>
#include <utility>

#include "common/cli_flags.hpp"
#include "common/oidc_flags.hpp"
#include "common/upstream_url.hpp"

#ifndef PROXY_VERSION
#define PROXY_VERSION "unknown"
#endif

namespace proxy {

using cli::find_flag;
using cli::FlagSpec;

namespace {

// Echo a user-supplied value safely: no terminal escapes, bounded length.
std::string quote(std::string_view v) {
    std::string out = "'";
    for (char c : v.substr(0, 80)) {
        const auto u = static_cast<unsigned char>(c);
        out += (u < 0x20 || u >= 0x7f) ? '?' : c;
    }
    if (v.size() > 80) out += "...";
    return out + "'";
}

}  // namespace

ParseStatus parse_options(int argc, char* const argv[], Options& out, std::string& error) {
    Options opts;
    std::set<const FlagSpec*> seen;
    for (int i = 1; i < argc; ++i) {
        const std::string_view arg = argv[i];
        if (arg == "-h" || arg == "--help") return ParseStatus::Help;
        if (arg == "-V" || arg == "--version") return ParseStatus::Version;
        if (arg.size() < 3 || arg.substr(0, 2) != "--") {
            // Not echoed: a key pasted here would otherwise land in the journal.
            if (arg.size() >= 2 && arg[0] == '-' && arg[1] != '-') {
                error = "unknown option " + quote(arg.substr(0, 2));
            } else {
                error =
                    "unexpected argument (the proxy takes no positional arguments; "
                    "the API key is read from stdin)";
            }
            return ParseStatus::Error;
        }
        const std::size_t eq = arg.find('=');
        const std::string_view name = arg.substr(0, eq);
        const FlagSpec* flag = find_flag(name);
        if (flag == nullptr) {
            error = "unknown option " + quote(name);
            return ParseStatus::Error;
        }
        if (!flag->repeatable && !seen.insert(flag).second) {
            error = std::string(flag->name) + " given more than once";
            return ParseStatus::Error;
        }
        if (flag->metavar == nullptr) {
            if (eq != std::string_view::npos) {
                error = std::string(flag->name) + " does not take a value";
                return ParseStatus::Error;
            }
            opts.*(flag->toggle) = true;
            continue;
        }
        std::string_view value;
        if (eq != std::string_view::npos) {
            value = arg.substr(eq + 1);
        } else if (i + 1 < argc && std::string_view(argv[i + 1]).substr(0, 2) != "--") {
            value = argv[++i];
        } else {
            error = "missing value for " + std::string(flag->name) + " " + flag->metavar;
            return ParseStatus::Error;
        }
        std::string expected;
        if (!flag->apply(opts, value, expected)) {
            error = "invalid value for " + std::string(flag->name) + ": " +
                    (flag->secret ? std::string("(not shown)") : quote(value)) + " (expected " +
                    expected + ")";
            return ParseStatus::Error;
        }
    }

    for (const char* internal : {"--worker-id", "--worker-version"}) {
        if (seen.count(find_flag(internal)) != 0 && !opts.worker_mode) {
            error = std::string(internal) + " is only valid with --worker-mode";
            return ParseStatus::Error;
        }
    }
    if (!check_github_oidc_flags(opts, error)) return ParseStatus::Error;
    UpstreamUrl url;
    if (!parse_upstream_url(opts.upstream_url, url, error)) return ParseStatus::Error;
    if (!url.tls && !opts.allow_insecure_upstream) {
        error = "refusing http:// upstream URL " + quote(opts.upstream_url) +
                ": the key would travel in clear text (--allow-insecure-upstream is for tests)";
        return ParseStatus::Error;
    }
    out = std::move(opts);
    return ParseStatus::Ok;
}

std::string usage_text() {
    const Options defaults;
    std::string text =
        "Usage: codex-responses-api-proxy [OPTIONS]\n"
        "\n"
        "Forwards POST /v1/responses from local clients to the OpenAI API, adding\n"
        "'Authorization: Bearer <key>'. The key is read from stdin, e.g.\n"
        "  printenv OPENAI_API_KEY | env -u OPENAI_API_KEY codex-responses-api-proxy\n"
        "\n"
        "Options:\n";
    const auto add_line = [&text](std::string left, std::string_view help, std::string_view def) {
        if (left.size() < 36) left.resize(36, ' ');
        text += left + " ";
        text += help;
        if (!def.empty()) text += " [default: " + std::string(def) + "]";
        text += "\n";
    };
    for (const FlagSpec& f : cli::flags()) {
        std::string left = std::string("  ") + f.name;
        if (f.metavar != nullptr) left += std::string(" ") + f.metavar;
        std::string def = f.show != nullptr ? f.show(defaults) : "";
        if (def.empty() && f.unset_note != nullptr) def = f.unset_note;
        add_line(std::move(left), f.help, def);
    }
    add_line("  -h, --help", "print this help", "");
    add_line("  -V, --version", "print the version", "");
    return text;
}

const char* version_text() {
    return "codex-responses-api-proxy " PROXY_VERSION;
}

std::vector<std::string> worker_arguments(const Options& options, unsigned worker_id) {
    const Options defaults;
    std::vector<std::string> args;
    for (const FlagSpec& f : cli::flags()) {
        if (!f.to_worker) continue;
        if (f.metavar == nullptr) {
            if (options.*(f.toggle)) args.emplace_back(f.name);
            continue;
        }
        const std::string value = f.show(options);
        if (value != f.show(defaults)) args.push_back(std::string(f.name) + "=" + value);
    }
    // Repeatable, so the table's single-value show() cannot carry it.
    for (const std::string& host : options.allowed_hosts) {
        args.push_back("--allow-host=" + host);
    }
    args.emplace_back("--worker-mode");
    args.push_back("--worker-id=" + std::to_string(worker_id));
    args.emplace_back("--worker-version=" PROXY_VERSION);
    return args;
}

}  // namespace proxy
