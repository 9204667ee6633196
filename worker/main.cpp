// codex-responses-api-proxy-worker: the sandboxed worker. Only the parent
// starts it (fork + execveat, fds 3 and 4 set up, --worker-mode); it links
// neither OpenSSL nor evdns and never sees the key.
#include <string>

#include "common/cli.hpp"
#include "common/exit_codes.hpp"
#include "common/process_start.hpp"
#include "common/startup_failure.hpp"
#include "policy/seccomp_policy.hpp"
#include "worker/worker_process.hpp"

int main(int argc, char** argv, char** envp) {
    // Before anything else: not dumpable, no core files, no LD_* and
    // friends, umask 077, SIGPIPE ignored (common/process_start.hpp).
    proxy::install_seccomp_trap_reporter();  // debug builds: name a violating syscall
    proxy::start_process(envp);
    proxy::Options options;
    std::string error;
    if (proxy::parse_options(argc, argv, options, error) != proxy::ParseStatus::Ok ||
        !options.worker_mode) {
        if (error.empty()) error = "started by codex-responses-api-proxy only";
        return proxy::startup_failure(proxy::exit_code::worker_no_respawn, error,
                                      proxy::kWorkerProgram);
    }
    if (options.worker_version != PROXY_VERSION) {
        return proxy::startup_failure(proxy::exit_code::worker_no_respawn,
                                      "version " PROXY_VERSION " does not match the parent's " +
                                          options.worker_version + "; reinstall the package",
                                      proxy::kWorkerProgram);
    }
    return proxy::run_worker(options);
}
