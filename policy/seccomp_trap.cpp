// The debug build's SIGSYS reporter (PROXY_SECCOMP_TRAP): with SCMP_ACT_TRAP
// the kernel delivers SIGSYS instead of killing, and this handler names the
// syscall so a missing allowlist entry is found in seconds, not by strace.
#include "policy/seccomp_policy.hpp"

#if defined(PROXY_SECCOMP_TRAP)
#include <seccomp.h>
#include <signal.h>
#include <unistd.h>

#include <cstring>

#include "common/exit_codes.hpp"
#endif

namespace proxy {

#if defined(PROXY_SECCOMP_TRAP)
namespace {

// Names of native syscalls resolved ahead of time: libseccomp's resolver
// allocates, which a signal handler should avoid (the violation may come from
// inside malloc). Foreign-ABI numbers are resolved in the handler, debug only.
constexpr int kNamedSyscalls = 512;
const char* g_native_names[kNamedSyscalls];
std::uint32_t g_native_arch = 0;  // the AUDIT_ARCH_* value, as si_arch reports it
bool g_installed = false;

char* append(char* out, const char* end, const char* s) {
    while (*s != '\0' && out < end) *out++ = *s++;
    return out;
}

char* append_number(char* out, const char* end, long v) {
    char digits[24];
    int n = 0;
    unsigned long u = v < 0 ? static_cast<unsigned long>(-v) : static_cast<unsigned long>(v);
    do {
        digits[n++] = static_cast<char>('0' + u % 10);
        u /= 10;
    } while (u != 0);
    if (v < 0 && out < end) *out++ = '-';
    while (n > 0 && out < end) *out++ = digits[--n];
    return out;
}

void on_sigsys(int, siginfo_t* info, void*) noexcept {
    const int nr = info->si_syscall;
    const std::uint32_t arch = info->si_arch;
    const char* name = nullptr;
    if (arch == g_native_arch && nr >= 0 && nr < kNamedSyscalls) name = g_native_names[nr];
    if (name == nullptr) {
        // x32 calls arrive with the x86_64 audit arch and bit 30 set.
        std::uint32_t resolve_arch = arch;
        if (arch == SCMP_ARCH_X86_64 && (nr & 0x40000000) != 0) resolve_arch = SCMP_ARCH_X32;
        name = seccomp_syscall_resolve_num_arch(resolve_arch, nr);
    }
    char line[160];
    const char* end = line + sizeof line - 1;
    char* p = append(line, end, "codex-responses-api-proxy[");
    p = append_number(p, end, static_cast<long>(::getpid()));
    p = append(p, end, "]: seccomp violation: syscall ");
    p = append(p, end, name != nullptr ? name : "?");
    p = append(p, end, " (");
    p = append_number(p, end, nr);
    p = append(p, end, ")");
    if (arch != g_native_arch || (nr & 0x40000000) != 0) p = append(p, end, " of a foreign ABI");
    *p++ = '\n';
    ssize_t w = ::write(STDERR_FILENO, line, static_cast<std::size_t>(p - line));
    (void)w;
    ::_exit(exit_code::sandbox_failed);
}

}  // namespace

void install_seccomp_trap_reporter() {
    if (!g_installed) {
        for (int nr = 0; nr < kNamedSyscalls; ++nr) {
            g_native_names[nr] = seccomp_syscall_resolve_num_arch(SCMP_ARCH_NATIVE, nr);
        }
        g_native_arch = seccomp_arch_native();
        g_installed = true;
    }
    struct sigaction sa;
    std::memset(&sa, 0, sizeof sa);
    sa.sa_sigaction = on_sigsys;
    sa.sa_flags = SA_SIGINFO;
    sigemptyset(&sa.sa_mask);
    ::sigaction(SIGSYS, &sa, nullptr);
    sigset_t set;
    sigemptyset(&set);
    sigaddset(&set, SIGSYS);
    ::sigprocmask(SIG_UNBLOCK, &set, nullptr);
}
#else
void install_seccomp_trap_reporter() {}
#endif

}  // namespace proxy
