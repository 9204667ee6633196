#include "common/process_start.hpp"

#include <errno.h>
#include <malloc.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstdlib>
#include <cstring>
#include <string>
#include <string_view>
#include <vector>

#include "common/exit_codes.hpp"
#include "common/log.hpp"
#include "common/proxy_config.hpp"

extern char** environ;

namespace proxy {

void hardening_fatal(const char* step, const std::string& detail) {
    LOG_ERROR("sandbox: %s: %s", step, detail.c_str());
    std::exit(exit_code::sandbox_failed);
}

namespace {

// Prefixes: every variable of the dynamic loader and of glibc's malloc.
constexpr std::string_view kDroppedPrefixes[] = {"LD_", "MALLOC_"};
// Exact names: glibc's list of variables it ignores in set-uid programs
// (sysdeps/generic/unsecvars.h), plus OpenSSL's code-loading and trust ones.
constexpr std::string_view kDroppedNames[] = {
    "GLIBC_TUNABLES",  "GCONV_PATH",    "GETCONF_DIR",  "HOSTALIASES",      "LOCALDOMAIN",
    "LOCPATH",         "NIS_PATH",      "NLSPATH",      "RESOLV_HOST_CONF", "RES_OPTIONS",
    "TMPDIR",          "TZDIR",         "OPENSSL_CONF", "OPENSSL_ENGINES",  "OPENSSL_MODULES",
    "OPENSSL_ia32cap", "SSL_CERT_FILE", "SSL_CERT_DIR",
};

bool is_dropped(std::string_view entry) {
    const std::string_view name = entry.substr(0, entry.find('='));
    for (std::string_view prefix : kDroppedPrefixes) {
        if (name.substr(0, prefix.size()) == prefix) return true;
    }
    for (std::string_view dropped : kDroppedNames) {
        if (name == dropped) return true;
    }
    // Read by the parent's main before this runs (common/proxy_config.hpp);
    // from here on the command line and that one reading decide the route.
    return is_proxy_variable(name);
}

void scrub_environment(char** envp) {
    std::vector<std::string> names;
    for (char** e = environ; e != nullptr && *e != nullptr; ++e) {
        std::string_view entry(*e);
        if (is_dropped(entry)) names.emplace_back(entry.substr(0, entry.find('=')));
    }
    for (const std::string& name : names) {
        if (::unsetenv(name.c_str()) != 0)
            hardening_fatal("unsetenv", name + ": " + std::strerror(errno));
    }
    if (envp != nullptr && envp != environ) {
        char** out = envp;
        for (char** in = envp; *in != nullptr; ++in) {
            if (!is_dropped(*in)) *out++ = *in;
        }
        *out = nullptr;
    }
}

}  // namespace

void early_process_hardening(char** envp) {
    if (::prctl(PR_SET_DUMPABLE, 0, 0, 0, 0) != 0) {
        hardening_fatal("PR_SET_DUMPABLE", std::strerror(errno));
    }
    const rlimit zero{0, 0};
    if (::setrlimit(RLIMIT_CORE, &zero) != 0)
        hardening_fatal("setrlimit RLIMIT_CORE", std::strerror(errno));
    scrub_environment(envp);
    ::umask(077);
    // A client or upstream that goes away must be an EPIPE, not a dead process.
    if (::signal(SIGPIPE, SIG_IGN) == SIG_ERR)
        hardening_fatal("ignore SIGPIPE", std::strerror(errno));
}

void tune_malloc() {
    mallopt(M_MMAP_THRESHOLD, 1 << 20);
    mallopt(M_TRIM_THRESHOLD, 4 << 20);
}

void start_process(char** envp) {
    early_process_hardening(envp);
    tune_malloc();
}

}  // namespace proxy
