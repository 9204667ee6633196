#include "policy/capabilities.hpp"

#include <cap-ng.h>
#include <errno.h>
#include <linux/capability.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <array>
#include <cstdint>
#include <cstdio>
#include <cstring>

namespace proxy {

namespace {

const std::array<CapabilityGrant, 5> kParentCapabilities = {{
    {CAP_KILL, "CAP_KILL", true,
     "signal workers, which run as another uid (SIGTERM to drain, SIGKILL when hostile)"},
    {CAP_SETUID, "CAP_SETUID", false, "a respawned worker switches to the worker user"},
    {CAP_SETGID, "CAP_SETGID", false, "a respawned worker drops groups and switches gid"},
    {CAP_SYS_CHROOT, "CAP_SYS_CHROOT", false, "a respawned worker chroots into the empty dir"},
    {CAP_SETPCAP, "CAP_SETPCAP", false,
     "a respawned worker empties its bounding set (PR_CAPBSET_DROP needs it)"},
}};

std::string capng_failure(const char* what, int rc) {
    return std::string(what) + " failed (libcap-ng code " + std::to_string(rc) + ")";
}

struct CapabilitySets {
    std::uint64_t effective = 0, permitted = 0, inheritable = 0;
};

bool read_sets(CapabilitySets& sets, std::string& error) {
    __user_cap_header_struct header{};
    header.version = _LINUX_CAPABILITY_VERSION_3;
    header.pid = 0;
    __user_cap_data_struct data[_LINUX_CAPABILITY_U32S_3]{};
    if (::syscall(SYS_capget, &header, data) != 0) {
        error = std::string("capget: ") + std::strerror(errno);
        return false;
    }
    sets.effective = data[0].effective | std::uint64_t{data[1].effective} << 32;
    sets.permitted = data[0].permitted | std::uint64_t{data[1].permitted} << 32;
    sets.inheritable = data[0].inheritable | std::uint64_t{data[1].inheritable} << 32;
    return true;
}

bool write_sets(const CapabilitySets& sets, std::string& error) {
    __user_cap_header_struct header{};
    header.version = _LINUX_CAPABILITY_VERSION_3;
    header.pid = 0;
    __user_cap_data_struct data[_LINUX_CAPABILITY_U32S_3]{};
    for (int i = 0; i < 2; ++i) {
        data[i].effective = static_cast<std::uint32_t>(sets.effective >> (32 * i));
        data[i].permitted = static_cast<std::uint32_t>(sets.permitted >> (32 * i));
        data[i].inheritable = static_cast<std::uint32_t>(sets.inheritable >> (32 * i));
    }
    if (::syscall(SYS_capset, &header, data) != 0) {
        error = std::string("capset: ") + std::strerror(errno);
        return false;
    }
    return true;
}

// Bit mask of the parent's grants; only those a worker's setup uses when
// `setup_only` (the non-effective ones).
std::uint64_t grant_mask(bool setup_only) {
    std::uint64_t mask = 0;
    for (const CapabilityGrant& g : kParentCapabilities) {
        if (!setup_only || !g.effective) mask |= std::uint64_t{1} << g.capability;
    }
    return mask;
}

// The ambient set as a mask, read with PR_CAP_AMBIENT_IS_SET (no /proc). A
// capability the kernel cannot answer for, other than one past its last
// (EINVAL), counts as held: a check built on this fails closed.
std::uint64_t ambient_mask() {
    std::uint64_t mask = 0;
    for (unsigned cap = 0; cap < 64; ++cap) {
        const int held = ::prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_IS_SET, cap, 0, 0);
        if (held == 1 || (held < 0 && errno != EINVAL)) mask |= std::uint64_t{1} << cap;
    }
    return mask;
}

// Ambient set := exactly `mask` (each bit must be permitted and inheritable).
bool set_ambient(std::uint64_t mask, std::string& error) {
    if (::prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_CLEAR_ALL, 0, 0, 0) != 0) {
        error = std::string("PR_CAP_AMBIENT_CLEAR_ALL: ") + std::strerror(errno);
        return false;
    }
    for (unsigned cap = 0; cap < 64; ++cap) {
        if ((mask >> cap & 1) != 0 &&
            ::prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_RAISE, cap, 0, 0) != 0) {
            error = "PR_CAP_AMBIENT_RAISE " + std::to_string(cap) + ": " + std::strerror(errno);
            return false;
        }
    }
    if (ambient_mask() != mask) {
        error = "the ambient set is not what was asked for";
        return false;
    }
    return true;
}

}  // namespace

std::span<const CapabilityGrant> parent_capabilities() {
    return kParentCapabilities;
}
std::span<const CapabilityGrant> worker_capabilities() {
    return {};
}

WorkerSetupPrivilege worker_setup_privilege(bool effective_set) {
    if (::geteuid() == 0) return WorkerSetupPrivilege::root;
    CapabilitySets sets;
    std::string error;
    if (!read_sets(sets, error)) return WorkerSetupPrivilege::none;
    // A worker needs only the setup grants; the parent all of them.
    const std::uint64_t want = grant_mask(effective_set);
    const std::uint64_t held = (effective_set ? sets.effective : sets.permitted) & want;
    if (held == want) return WorkerSetupPrivilege::capabilities;
    return held == 0 ? WorkerSetupPrivilege::none : WorkerSetupPrivilege::some;
}

bool pass_setup_capabilities_to_workers(std::string& error) {
    CapabilitySets sets;
    if (!read_sets(sets, error)) return false;
    const std::uint64_t setup = grant_mask(true);
    sets.inheritable |= setup;  // allowed: they are permitted
    return write_sets(sets, error) && set_ambient(setup, error);
}

bool apply_parent_capabilities(bool ambient, std::string& error) {
    capng_clear(CAPNG_SELECT_ALL);
    for (const CapabilityGrant& g : kParentCapabilities) {
        const bool passed_on = ambient && !g.effective;
        auto type = static_cast<capng_type_t>(CAPNG_PERMITTED | CAPNG_BOUNDING_SET |
                                              (g.effective ? CAPNG_EFFECTIVE : 0) |
                                              (passed_on ? CAPNG_INHERITABLE : 0));
        if (capng_update(CAPNG_ADD, type, static_cast<unsigned>(g.capability)) != 0) {
            error = std::string("capng_update ") + g.name + " failed";
            return false;
        }
    }
    int rc = capng_apply(CAPNG_SELECT_ALL);
    if (rc != 0) {
        error = capng_failure("capng_apply", rc);
        return false;
    }
    // Read back: libcap-ng can report success after skipping the bounding set.
    for (unsigned cap = 0;; ++cap) {
        int in_bounding = ::prctl(PR_CAPBSET_READ, cap, 0, 0, 0);
        if (in_bounding < 0) break;  // past the kernel's last capability
        bool wanted = false;
        for (const CapabilityGrant& g : kParentCapabilities) wanted |= g.capability == int(cap);
        if (in_bounding != 0 && !wanted) {
            error = "bounding set still holds capability " + std::to_string(cap);
            return false;
        }
    }
    // libcap-ng's handling of the ambient set varies by version: set it here.
    if (!set_ambient(ambient ? grant_mask(true) : 0, error)) return false;
    CapabilitySets sets;
    if (!read_sets(sets, error)) return false;
    if (sets.permitted != grant_mask(false) ||
        sets.effective != (grant_mask(false) & ~grant_mask(true)) ||
        sets.inheritable != (ambient ? grant_mask(true) : 0)) {
        error = "capability sets are not the parent's after applying them";
        return false;
    }
    return true;
}

bool switch_user_without_capabilities(uid_t uid, gid_t gid, std::string& error) {
    // What a non-root parent passed on must not outlive the switch: a uid
    // change between non-root users keeps every set as it is.
    if (::prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_CLEAR_ALL, 0, 0, 0) != 0) {
        error = std::string("PR_CAP_AMBIENT_CLEAR_ALL: ") + std::strerror(errno);
        return false;
    }
    capng_clear(CAPNG_SELECT_ALL);
    int rc =
        capng_change_id(static_cast<int>(uid), static_cast<int>(gid),
                        static_cast<capng_flags_t>(CAPNG_DROP_SUPP_GRP | CAPNG_CLEAR_BOUNDING));
    if (rc != 0) {
        error = capng_failure("capng_change_id", rc);
        return false;
    }
    return true;
}

bool drop_all_capabilities(std::string& error, std::string& note) {
    capng_get_caps_process();
    const bool can_drop_bounding = capng_have_capability(CAPNG_EFFECTIVE, CAP_SETPCAP) != 0;
    if (::prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_CLEAR_ALL, 0, 0, 0) != 0) {
        error = std::string("PR_CAP_AMBIENT_CLEAR_ALL: ") + std::strerror(errno);
        return false;
    }
    capng_clear(CAPNG_SELECT_ALL);
    int rc = capng_apply(
        can_drop_bounding ? CAPNG_SELECT_ALL
                          : static_cast<capng_select_t>(CAPNG_SELECT_CAPS | CAPNG_SELECT_AMBIENT));
    if (rc != 0) {
        error = capng_failure("capng_apply", rc);
        return false;
    }
    if (!can_drop_bounding) note = "capability bounding set left as inherited (needs CAP_SETPCAP)";
    return true;
}

bool verify_no_capabilities(bool expect_empty_bounding, std::string& error) {
    CapabilitySets sets;
    if (!read_sets(sets, error)) return false;
    if (sets.effective != 0 || sets.permitted != 0 || sets.inheritable != 0) {
        char sets_text[96];
        std::snprintf(sets_text, sizeof sets_text,
                      " (effective %llx, permitted %llx, inheritable %llx)",
                      static_cast<unsigned long long>(sets.effective),
                      static_cast<unsigned long long>(sets.permitted),
                      static_cast<unsigned long long>(sets.inheritable));
        error = std::string("capabilities remain after dropping them") + sets_text;
        return false;
    }
    if (ambient_mask() != 0) {
        error = "ambient capabilities remain after dropping them";
        return false;
    }
    if (expect_empty_bounding) {
        for (unsigned cap = 0;; ++cap) {
            int in_bounding = ::prctl(PR_CAPBSET_READ, cap, 0, 0, 0);
            if (in_bounding < 0) break;
            if (in_bounding != 0) {
                error = "bounding set still holds capability " + std::to_string(cap);
                return false;
            }
        }
    }
    return true;
}

}  // namespace proxy
