// codex-responses-api-proxy: entry point for both the privileged parent and,
// with --worker-mode (set only by the parent), the sandboxed worker.
#include <malloc.h>

#include <cstdio>
#include <string>

#include "common/cli.hpp"
#include "common/exit_codes.hpp"
#include "parent/hardening.hpp"
#include "parent/parent_process.hpp"
#include "policy/seccomp_policy.hpp"
#include "worker/worker_process.hpp"

int main(int argc, char** argv, char** envp) {
    // Before anything else: not dumpable, no core files, no LD_* and
    // friends, umask 077, SIGPIPE ignored.
    proxy::install_seccomp_trap_reporter();  // debug builds: name a violating syscall
    proxy::early_process_hardening(envp);
    // Buffers of 64-256 KiB come and go with every response. By default
    // glibc hands a freed heap top back to the kernel and asks for it again
    // (two brk calls per response); keep up to 4 MiB of it instead.
    mallopt(M_MMAP_THRESHOLD, 1 << 20);
    mallopt(M_TRIM_THRESHOLD, 4 << 20);

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
    if (options.worker_mode) return proxy::run_worker(options);
    return proxy::run_parent(options);
}
