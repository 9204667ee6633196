// The parent's per-user layer: who is calling (PeerIdentifier), who may and
// how much (policy/user_policy.hpp and the --policy file), the counters
// (UserAccounts, saved to --state-file), and the audit line of every request.
// WorkerLink asks; nothing here trusts a worker's word about a user.
#pragma once

#include <event2/event.h>

#include <atomic>
#include <cstdint>
#include <memory>
#include <mutex>
#include <optional>
#include <span>
#include <string>
#include <vector>

#include "common/event_ptr.hpp"
#include "common/options.hpp"
#include "common/result.hpp"
#include "parent/users/audit_log.hpp"
#include "parent/users/peer_identity.hpp"
#include "parent/users/usage_view.hpp"
#include "parent/users/user_accounts.hpp"
#include "parent/users/user_directory.hpp"
#include "policy/request_body_policy.hpp"
#include "policy/response_owners.hpp"
#include "policy/user_policy.hpp"

namespace proxy {

class AccessControl {
  public:
    // Builds the policy (parent/users/user_policy_load.hpp), reads the state
    // file, opens the audit log and the sock_diag socket: before the sandbox.
    static Result<std::unique_ptr<AccessControl>> create(event_base* base, const Options& o,
                                                         std::span<const int> listen_fds);
    ~AccessControl();

    // Every member is safe to call from any of the parent's upstream threads
    // (one lock: each call is short; NSS lookups happen once a minute per uid).
    std::optional<PeerIdentity> identify(int fd, std::string& why) const {
        std::lock_guard lock(mu_);
        return identifier_.identify(fd, why);
    }
    // The calling thread's loop: its audit lines are written at the end of
    // each of its turns. unbind_loop() before that loop's base is freed.
    void bind_loop(event_base* base) { audit_.bind_loop(base); }
    void unbind_loop(event_base* base) { audit_.unbind_loop(base); }

    struct Verdict {
        const Refusal* refusal = nullptr;
        std::uint32_t retry_after = 0;
    };
    // Before anything goes upstream. Success opens a stream for the caller's
    // account, holding `reserve` (its tokens given; the dollars filled in
    // here) of its budgets, until stream_ended() with the same figures.
    Verdict admit_request(const PeerIdentity& who, Reservation& reserve);
    // `models`: the names the answer gave (UsageScanner::models()); it is
    // priced by the most expensive (policy/pricing.hpp price_answer()).
    void stream_ended(const PeerIdentity& who, const Reservation& reserve,
                      const TokenCharge& charge, const std::vector<std::string>& models = {});
    // The x-codex-proxy-budget-remaining-* headers for the caller's answer
    // (none without a budget, or for an unidentified caller).
    std::vector<std::pair<std::string, std::string>> budget_headers(const PeerIdentity& who);
    // GET /usage: the caller's own figures; nullopt, and `refused` set, for
    // a caller that is unidentified or that the policy does not admit.
    std::optional<UsageView> usage_of(const PeerIdentity& who, const Refusal*& refused);
    // GET /shutdown: nullptr when granted, else the refusal.
    const Refusal* may_shutdown(const PeerIdentity& who);
    // GET /metrics: nullptr when granted, else the refusal
    // (parent/users/access_metrics.cpp, with render_metrics).
    const Refusal* may_read_metrics(const PeerIdentity& who);
    // The text of GET /metrics: the counters (parent/metrics/) and the
    // per-user gauges, users by name.
    std::string render_metrics();
    void count_refusal(const PeerIdentity& who);
    // An admitted request refused for its body: a refusal, not a request.
    void count_body_refusal(const PeerIdentity& who);

    // Fills in uid, user and pid, and writes the line.
    void audit(const PeerIdentity& who, AuditRecord& r);

    // SIGHUP: the policy file again (a bad one is refused, the old policy
    // stays), fresh user and group data, the audit log reopened.
    void reload();
    // Saves the state file if anything changed (also every few seconds).
    void save();

    // Request bodies (parent/users/access_control_body.cpp): what this
    // caller's body may ask for, and whose stored responses are whose.
    BodyRules body_rules(const PeerIdentity& who);
    std::optional<uid_t> response_owner(std::string_view id) const;
    // The upstream created response `id` for `who` (an unidentified caller
    // owns nothing, so nothing is remembered for it).
    void record_response(const PeerIdentity& who, std::string_view id);

    // A token budget is in force somewhere: responses must be countable, so
    // the parent asks the upstream for an uncompressed body.
    bool counts_tokens() const { return counts_tokens_.load(std::memory_order_relaxed); }

  private:
    AccessControl(const Options& o) : options_(o) {}
    Caller caller_of(const PeerIdentity& who);
    static uid_t account_of(const PeerIdentity& who);
    static void on_save_timer(evutil_socket_t, short, void* arg) noexcept;
    void set_policy(UserPolicy p);

    void save_locked();

    mutable std::mutex mu_;  // guards everything below but audit_ (its own)
    const Options& options_;
    UserPolicy policy_;
    PeerIdentifier identifier_;
    UserDirectory directory_;
    UserAccounts accounts_;
    AuditLog audit_;
    EventPtr save_timer_;
    std::atomic<bool> counts_tokens_ = false;
    bool needs_groups_ = false;  // the policy names a group somewhere
    bool state_loaded_ = false;  // --state-file read: save() may replace it
    ResponseOwners owners_;      // kept in the state file with the usage
    bool owners_dirty_ = false;
};

}  // namespace proxy
