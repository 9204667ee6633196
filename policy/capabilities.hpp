// Capability sets as data, and the functions that apply them (libcap-ng).
//
// Worker: none at all, empty bounding set, after switching to the worker user.
// Parent: after setup, only what supervising and respawning workers needs.
//
// The parent gets to sandbox its workers (chroot, user switch) either as root
// or as an ordinary user holding parent_capabilities() (the packaged unit:
// User= plus AmbientCapabilities=). A non-root parent hands the workers'
// setup capabilities on through its ambient set, since an exec by a non-root
// process keeps only those (capabilities(7)); a root parent needs no ambient
// set, its exec'd worker gets the kept permitted set.
#pragma once

#include <sys/types.h>

#include <span>
#include <string>

namespace proxy {

struct CapabilityGrant {
    int capability;    // CAP_*
    const char* name;  // for messages
    // Used by the parent itself. The others are only kept permitted (and in
    // the bounding set) so that a respawned worker, exec'd under
    // no_new_privs, receives them for its own setup and then drops them: as
    // root by the exec itself, as another user through the ambient set.
    bool effective;
    const char* reason;
};

// What the parent keeps once workers are up.
std::span<const CapabilityGrant> parent_capabilities();
// What a worker keeps: nothing. Here so the two lists can be read side by side.
std::span<const CapabilityGrant> worker_capabilities();

// Whether this process may chroot and setuid workers: as root, or holding
// every capability of parent_capabilities() in `set` (CAPNG_PERMITTED for the
// parent, CAPNG_EFFECTIVE for a worker). `some` when only part of them are
// held: a misconfigured unit, which callers refuse rather than run workers
// unconfined as their own user.
enum class WorkerSetupPrivilege { root, capabilities, some, none };
WorkerSetupPrivilege worker_setup_privilege(bool effective_set);

// Parent, not root but holding parent_capabilities(): make the ambient set
// exactly the non-effective grants (what a worker's setup needs; CAP_KILL
// stays out), raising them into the inheritable set first as the kernel
// requires. Called before the first worker starts. false + error on failure.
bool pass_setup_capabilities_to_workers(std::string& error);

// Parent, root or holding parent_capabilities(): keep exactly
// parent_capabilities() in the permitted and bounding sets, effective only
// where `effective` says so. `ambient` (a non-root parent): the non-effective
// grants also inheritable and ambient, as pass_setup_capabilities_to_workers
// left them; otherwise no inheritable or ambient ones. Read back from the
// kernel. false + error on failure.
bool apply_parent_capabilities(bool ambient, std::string& error);

// Worker, running as root or with the setup capabilities its parent passed
// on: clear the ambient set, drop supplementary groups, switch gid then uid
// (real, effective, saved) and clear every capability and the bounding set,
// in the order the kernel needs (capng_change_id keeps CAP_SETPCAP across the
// uid switch just long enough to empty the bounding set). A switch between
// two non-root uids clears nothing by itself: the explicit clears do.
bool switch_user_without_capabilities(uid_t uid, gid_t gid, std::string& error);

// Not root: clear whatever capabilities we hold. The bounding set can only be
// emptied with CAP_SETPCAP; `note` says so when it could not.
bool drop_all_capabilities(std::string& error, std::string& note);

// Effective, permitted, inheritable and ambient sets empty, bounding set
// empty (only checked when `expect_empty_bounding`). Uses capget/prctl, no /proc (works in
// the chroot).
bool verify_no_capabilities(bool expect_empty_bounding, std::string& error);

}  // namespace proxy
