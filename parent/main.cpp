// codex-responses-api-proxy: the privileged parent. It starts its workers from
// a separate executable, codex-responses-api-proxy-worker (worker/main.cpp).
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>

#include "common/cli.hpp"
#include "common/exit_codes.hpp"
#include "common/process_start.hpp"
#include "common/proxy_config.hpp"
#include "common/startup_failure.hpp"
#include "parent/admin_commands.hpp"
#include "parent/parent_process.hpp"
#include "policy/seccomp_policy.hpp"

namespace {

// A password in --upstream-proxy URL would stay readable by every local user
// in /proc/PID/cmdline for the life of the proxy: blank it once parsed. (It
// was visible until now; --upstream-proxy-credentials-file never is.)
void hide_proxy_password(int argc, char** argv) {
    static constexpr char kFlag[] = "--upstream-proxy";
    for (int i = 1; i < argc; ++i) {
        char* value = nullptr;
        if (std::strncmp(argv[i], kFlag, sizeof kFlag - 1) == 0 && argv[i][sizeof kFlag - 1] == '=')
            value = argv[i] + sizeof kFlag;
        else if (std::strcmp(argv[i], kFlag) == 0 && i + 1 < argc)
            value = argv[++i];
        if (value == nullptr) continue;
        char* at = std::strrchr(value, '@');
        if (at == nullptr) continue;
        char* scheme_end = std::strstr(value, "://");
        for (char* p = scheme_end && scheme_end < at ? scheme_end + 3 : value; p < at; ++p)
            *p = '*';
    }
}

}  // namespace

int main(int argc, char** argv, char** envp) {
    // HTTPS_PROXY and friends, read once: start_process removes them.
    const proxy::ProxyEnvironment proxy_env = proxy::read_proxy_environment(
        [](const char* name) -> const char* { return std::getenv(name); });
    // Before anything else: not dumpable, no core files, no LD_* and
    // friends, umask 077, SIGPIPE ignored (common/process_start.hpp).
    proxy::install_seccomp_trap_reporter();  // debug builds: name a violating syscall
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
            return proxy::startup_failure(proxy::exit_code::usage, error + " (see --help)");
        case proxy::ParseStatus::Ok:
            break;
    }
    hide_proxy_password(argc, argv);
    if (options.worker_mode) {
        return proxy::startup_failure(proxy::exit_code::usage,
                                      "--worker-mode is for the worker executable, which the "
                                      "proxy starts itself (see --help)");
    }
    if (!options.check_policy.empty()) return proxy::check_policy_command(options);
    if (options.usage_report) return proxy::usage_command(options);
    return proxy::run_parent(options, proxy_env);
}
