// Capability sets as data, and the functions that apply them (libcap-ng).
//
// Worker: none at all, empty bounding set, after switching to the worker user.
// Parent: after setup, only what supervising and respawning workers needs.
#pragma once

#include <sys/types.h>

#include <span>
#include <string>

namespace proxy {

struct CapabilityGrant {
    int capability;    // CAP_*
    const char* name;  // for messages
    // Used by the parent itself. The others are only kept permitted (and in
    // the bounding set) so that a respawned worker, exec'd as root under
    // no_new_privs, receives them for its own setup and then drops them.
    bool effective;
    const char* reason;
};

// What the parent keeps once workers are up.
std::span<const CapabilityGrant> parent_capabilities();
// What a worker keeps: nothing. Here so the two lists can be read side by side.
std::span<const CapabilityGrant> worker_capabilities();

// Parent, running as root: keep exactly parent_capabilities() in the
// permitted and bounding sets, effective only where `effective` says so, no
// ambient or inheritable ones. false + error on failure.
bool apply_parent_capabilities(std::string& error);

// Worker, running as root: drop supplementary groups, switch gid then uid
// (real, effective, saved) and clear every capability and the bounding set,
// in the order the kernel needs (capng_change_id keeps CAP_SETPCAP across the
// uid switch just long enough to empty the bounding set).
bool switch_user_without_capabilities(uid_t uid, gid_t gid, std::string& error);

// Not root: clear whatever capabilities we hold. The bounding set can only be
// emptied with CAP_SETPCAP; `note` says so when it could not.
bool drop_all_capabilities(std::string& error, std::string& note);

// Effective, permitted and inheritable sets empty, bounding set empty (only
// checked when `expect_empty_bounding`). Uses capget/prctl, no /proc (works in
// the chroot).
bool verify_no_capabilities(bool expect_empty_bounding, std::string& error);

}  // namespace proxy
