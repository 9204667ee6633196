#include "policy/capabilities.hpp"

#include <cap-ng.h>
#include <errno.h>
#include <linux/capability.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <array>
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

}  // namespace

std::span<const CapabilityGrant> parent_capabilities() {
    return kParentCapabilities;
}
std::span<const CapabilityGrant> worker_capabilities() {
    return {};
}

bool apply_parent_capabilities(std::string& error) {
    capng_clear(CAPNG_SELECT_ALL);
    for (const CapabilityGrant& g : kParentCapabilities) {
        auto type = static_cast<capng_type_t>(CAPNG_PERMITTED | CAPNG_BOUNDING_SET |
                                              (g.effective ? CAPNG_EFFECTIVE : 0));
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
    return true;
}

bool switch_user_without_capabilities(uid_t uid, gid_t gid, std::string& error) {
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
    __user_cap_header_struct header{};
    header.version = _LINUX_CAPABILITY_VERSION_3;
    header.pid = 0;
    __user_cap_data_struct data[_LINUX_CAPABILITY_U32S_3]{};
    if (::syscall(SYS_capget, &header, data) != 0) {
        error = std::string("capget: ") + std::strerror(errno);
        return false;
    }
    for (const auto& d : data) {
        if (d.effective != 0 || d.permitted != 0 || d.inheritable != 0) {
            error = "capabilities remain after dropping them";
            return false;
        }
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
