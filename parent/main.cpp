// codex-responses-api-proxy: the privileged parent. It starts its workers from
// a separate executable, codex-responses-api-proxy-worker (worker/main.cpp).
#include <cstdio>
#include <string>

#include "common/cli.hpp"
#include "common/exit_codes.hpp"
#include "common/process_start.hpp"
#include "parent/admin_commands.hpp"
#include "parent/parent_process.hpp"

int main(int argc, char** argv, char** envp) {
    // Before anything else: not dumpable, no core files, no LD_* and
    // friends, umask 077, SIGPIPE ignored (common/process_start.hpp).
    proxy::start_process(envp);
    proxy::Options options;
    std::string error;
    switch (proxy::parse_options(argc, argv, options, error)) {
        case proxy::ParseStatus::Help:
            std::fputs(proxy::usage_text().c_str(), stdout);
            return 0;
        case proxy::ParseStatus::Version:
            std::printf("%s\n", proxy::version_text());
            return 0;
        case proxy::ParseStatus::Error:
            std::fprintf(stderr, "codex-responses-api-proxy: %s (see --help)\n", error.c_str());
            return proxy::exit_code::usage;
        case proxy::ParseStatus::Ok:
            break;
    }
    if (options.worker_mode) {
        std::fputs(
            "codex-responses-api-proxy: --worker-mode is for the worker executable, which "
            "the proxy starts itself (see --help)\n",
            stderr);
        return proxy::exit_code::usage;
    }
    if (!options.check_policy.empty()) return proxy::check_policy_command(options);
    if (options.usage_report) return proxy::usage_command(options);
    return proxy::run_parent(options);
}
