// Turning a SeccompPolicy into a loaded libseccomp filter.
#include <errno.h>
#include <seccomp.h>

#include <memory>
#include <set>
#include <string>
#include <utility>

#include "policy/seccomp_policy.hpp"

namespace proxy {

namespace {

struct FilterDeleter {
    void operator()(void* ctx) const { seccomp_release(ctx); }
};
using FilterPtr = std::unique_ptr<void, FilterDeleter>;

std::uint32_t violation_action() {
    return seccomp_violations_trap() ? SCMP_ACT_TRAP : SCMP_ACT_KILL_PROCESS;
}

std::uint32_t rule_action(const SyscallRule& rule) {
    return rule.fail_errno != 0 ? SCMP_ACT_ERRNO(static_cast<std::uint32_t>(rule.fail_errno))
                                : SCMP_ACT_ALLOW;
}

scmp_arg_cmp to_libseccomp(const ArgCondition& c) {
    if (c.op == ArgCondition::Op::MaskedEqual) {
        return scmp_arg_cmp{c.index, SCMP_CMP_MASKED_EQ, c.mask, c.value};
    }
    return scmp_arg_cmp{c.index, SCMP_CMP_EQ, c.value, 0};
}

int add_rule(void* ctx, const SyscallRule& rule) {
    const int nr = seccomp_syscall_resolve_name(rule.name);
    // A name unknown on this architecture is a policy bug, not something to skip.
    if (nr == __NR_SCMP_ERROR || nr < 0) return -EINVAL;
    scmp_arg_cmp cmps[6];
    if (rule.conditions.size() > 6) return -EINVAL;
    unsigned n = 0;
    for (const ArgCondition& c : rule.conditions) cmps[n++] = to_libseccomp(c);
    // _exact: refuse any rewriting of the rule by libseccomp; what is written
    // in the policy is what the kernel checks.
    int rc = seccomp_rule_add_exact_array(ctx, rule_action(rule), nr, n, n ? cmps : nullptr);
    return rc == -EEXIST ? 0 : rc;
}

}  // namespace

int apply_seccomp_policy(const SeccompPolicy& policy) {
    install_seccomp_trap_reporter();

    FilterPtr ctx(seccomp_init(violation_action()));
    if (!ctx) return -ENOMEM;
    // seccomp_init() covers the native ABI only (x86_64: x32 numbers are
    // refused by the generated filter too); a foreign ABI meets this action.
    int rc = seccomp_attr_set(ctx.get(), SCMP_FLTATR_ACT_BADARCH, violation_action());
    if (rc != 0) return rc;
    rc = seccomp_attr_set(ctx.get(), SCMP_FLTATR_CTL_NNP, 1);
    if (rc != 0) return rc;
    // Every thread, not only the caller: the parent's --dump-dir writer
    // thread exists before its filter (parent/upstream/dump_writer.hpp). The kernel
    // also gives those threads no_new_privs.
    rc = seccomp_attr_set(ctx.get(), SCMP_FLTATR_CTL_TSYNC, 1);
    if (rc != 0) return rc;

    // An unconditional rule already covers the conditional ones for the same
    // syscall and action (sets overlap, e.g. the sanitizer set); libseccomp
    // refuses such a mix, so keep only the wider rule.
    std::set<std::pair<std::string, std::uint32_t>> unconditional;
    for (const SyscallRule& rule : policy) {
        if (rule.conditions.empty()) unconditional.emplace(rule.name, rule_action(rule));
    }
    for (const SyscallRule& rule : policy) {
        if (!rule.conditions.empty() && unconditional.count({rule.name, rule_action(rule)}) != 0) {
            continue;
        }
        rc = add_rule(ctx.get(), rule);
        if (rc != 0) return rc;
    }
    rc = seccomp_load(ctx.get());
    return rc > 0 ? -rc : rc;
}

}  // namespace proxy
