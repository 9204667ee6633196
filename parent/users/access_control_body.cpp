// AccessControl's part in request-body policy (policy/body_rules.hpp): the
// caller's rules, and the owners of stored responses, which live with the
// usage counters in the state file (parent/users/state_file.hpp).
#include <chrono>

#include "parent/users/access_control.hpp"
#include "policy/body_rules.hpp"

namespace proxy {

namespace {
std::int64_t unix_seconds() {
    return std::chrono::duration_cast<std::chrono::seconds>(
               std::chrono::system_clock::now().time_since_epoch())
        .count();
}
}  // namespace

BodyRules AccessControl::body_rules(const PeerIdentity& who) {
    std::lock_guard lock(mu_);
    const Caller c = caller_of(who);
    return body_rules_for(policy_, c, limits_for(policy_, c));
}

std::optional<uid_t> AccessControl::response_owner(std::string_view id) const {
    std::lock_guard lock(mu_);
    return owners_.owner_of(id, unix_seconds());
}

void AccessControl::record_response(const PeerIdentity& who, std::string_view id) {
    if (!who.known) return;
    std::lock_guard lock(mu_);
    if (owners_.insert(id, who.uid, unix_seconds())) owners_dirty_ = true;
}

}  // namespace proxy
