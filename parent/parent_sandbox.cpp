#include "parent/parent_sandbox.hpp"

#include <errno.h>
#include <sys/prctl.h>

#include <cstring>

#include "common/process_start.hpp"
#include "policy/capabilities.hpp"
#include "policy/seccomp_policy.hpp"

namespace proxy {

std::string drop_parent_privileges() {
    std::string error;
    const WorkerSetupPrivilege privilege = worker_setup_privilege(false);
    if (privilege == WorkerSetupPrivilege::root ||
        privilege == WorkerSetupPrivilege::capabilities) {
        if (!apply_parent_capabilities(privilege == WorkerSetupPrivilege::capabilities, error))
            hardening_fatal("capabilities", error);
        return {};
    }
    std::string note;
    if (!drop_all_capabilities(error, note)) hardening_fatal("capabilities", error);
    std::string result =
        "not started as root or with the capabilities to sandbox workers: workers run as this "
        "user, without chroot or user switch";
    if (!note.empty()) result += "; " + note;
    return result;
}

void apply_parent_sandbox(int exe_fd) {
    if (::prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0) {
        hardening_fatal("PR_SET_NO_NEW_PRIVS", std::strerror(errno));
    }
    if (int rc = apply_parent_seccomp(exe_fd); rc != 0)
        hardening_fatal("seccomp", std::strerror(-rc));
}

}  // namespace proxy
