#include "parent/hardening.hpp"

#include <errno.h>
#include <fcntl.h>
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
#include "policy/capabilities.hpp"
#include "policy/seccomp_policy.hpp"

extern char** environ;

namespace proxy {

namespace {

[[noreturn]] void fatal(const char* step, const std::string& detail) {
    LOG_ERROR("sandbox: %s: %s", step, detail.c_str());
    std::exit(exit_code::sandbox_failed);
}

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
    return false;
}

void scrub_environment(char** envp) {
    std::vector<std::string> names;
    for (char** e = environ; e != nullptr && *e != nullptr; ++e) {
        std::string_view entry(*e);
        if (is_dropped(entry)) names.emplace_back(entry.substr(0, entry.find('=')));
    }
    for (const std::string& name : names) {
        if (::unsetenv(name.c_str()) != 0) fatal("unsetenv", name + ": " + std::strerror(errno));
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
        fatal("PR_SET_DUMPABLE", std::strerror(errno));
    }
    const rlimit zero{0, 0};
    if (::setrlimit(RLIMIT_CORE, &zero) != 0) fatal("setrlimit RLIMIT_CORE", std::strerror(errno));
    scrub_environment(envp);
    ::umask(077);
    // A client or upstream that goes away must be an EPIPE, not a dead process.
    if (::signal(SIGPIPE, SIG_IGN) == SIG_ERR) fatal("ignore SIGPIPE", std::strerror(errno));
}

int open_self_exe() {
    const int fd = ::open("/proc/self/exe", O_PATH | O_CLOEXEC);
    if (fd < 0) fatal("open /proc/self/exe", std::strerror(errno));
    const int high = ::fcntl(fd, F_DUPFD_CLOEXEC, 100);
    const int saved = errno;
    ::close(fd);
    if (high < 0) fatal("move the executable's fd", std::strerror(saved));
    return high;
}

std::string drop_parent_privileges() {
    std::string error;
    if (::geteuid() == 0) {
        if (!apply_parent_capabilities(error)) fatal("capabilities", error);
        return {};
    }
    std::string note;
    if (!drop_all_capabilities(error, note)) fatal("capabilities", error);
    std::string result =
        "not started as root: workers run as this user, without chroot or user switch";
    if (!note.empty()) result += "; " + note;
    return result;
}

void apply_parent_sandbox(int exe_fd) {
    if (::prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0) {
        fatal("PR_SET_NO_NEW_PRIVS", std::strerror(errno));
    }
    if (int rc = apply_parent_seccomp(exe_fd); rc != 0) fatal("seccomp", std::strerror(-rc));
}

}  // namespace proxy
