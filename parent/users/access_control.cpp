#include "parent/users/access_control.hpp"

#include <algorithm>
#include <chrono>

#include "common/log.hpp"
#include "parent/files/trusted_config.hpp"
#include "parent/metrics/proxy_metrics.hpp"
#include "parent/users/state_file.hpp"
#include "parent/users/user_policy_load.hpp"

namespace proxy {

namespace {

constexpr int kSaveSeconds = 5;

std::int64_t unix_now() {
    return std::chrono::duration_cast<std::chrono::seconds>(
               std::chrono::system_clock::now().time_since_epoch())
        .count();
}

double mono_now() {
    return std::chrono::duration<double>(std::chrono::steady_clock::now().time_since_epoch())
        .count();
}

// Answers must be read for their usage: a token or dollar budget, or a
// tokens-per-minute rate, anywhere.
bool counts_usage(const UserPolicy& p) {
    if (p.has_budgets() || p.defaults.tokens_per_minute.value_or(0) != 0) return true;
    for (const auto* level : {&p.users, &p.groups}) {
        for (const auto& [_, l] : *level)
            if (l.tokens_per_minute.value_or(0) != 0) return true;
    }
    return false;
}

}  // namespace

Result<std::unique_ptr<AccessControl>> AccessControl::create(event_base* base, const Options& o,
                                                             std::span<const int> listen_fds) {
    std::unique_ptr<AccessControl> ac(new AccessControl(o));
    auto policy = load_user_policy(o, o.policy_file, PolicyFileRead::Trusted);
    if (!policy) return Error{policy.error()};
    ac->set_policy(std::move(*policy));
    if (!o.state_file.empty()) {
        auto state = load_trusted_state_file(o.state_file, ResponseOwnersLimits{}, unix_now());
        if (!state) return Error{"--state-file: " + state.error()};
        ac->accounts_ = UserAccounts(std::move(state->usage));
        ac->accounts_.set_zone(ac->policy_.zone);
        ac->owners_ = std::move(state->owners);
        ac->state_loaded_ = true;
        // Can we write it? Better to know now than at the first save.
        if (auto saved =
                save_state_file(o.state_file, ac->accounts_.state(unix_now()), ac->owners_);
            !saved)
            return Error{"--state-file: " + saved.error()};
        ac->accounts_.mark_saved();
        ac->save_timer_.reset(
            event_new(base, -1, EV_PERSIST, &AccessControl::on_save_timer, ac.get()));
        const timeval tv{kSaveSeconds, 0};
        event_add(ac->save_timer_.get(), &tv);
    } else if (ac->counts_tokens()) {
        LOG_WARN("a token budget without --state-file: today's counts are lost on restart");
    }
    if (auto opened = ac->audit_.open(base, o.audit_log); !opened) return Error{opened.error()};
    if (auto ready = ac->identifier_.init(listen_fds); !ready) return Error{ready.error()};
    return ac;
}

AccessControl::~AccessControl() {
    save();
}

void AccessControl::set_policy(UserPolicy p) {
    policy_ = std::move(p);
    counts_tokens_.store(counts_usage(policy_), std::memory_order_relaxed);
    accounts_.set_zone(policy_.zone);
    needs_groups_ =
        !policy_.allow_groups.empty() || !policy_.deny_groups.empty() || !policy_.groups.empty();
}

Caller AccessControl::caller_of(const PeerIdentity& who) {
    Caller c;
    c.known = who.known;
    c.uid = who.uid;
    // Only a policy that names groups needs the caller's (a copy per request).
    if (who.known && needs_groups_) c.groups = directory_.lookup(who.uid).groups;
    return c;
}

uid_t AccessControl::account_of(const PeerIdentity& who) {
    return who.known ? who.uid : kUnknownUid;
}

AccessControl::Verdict AccessControl::admit_request(const PeerIdentity& who, Reservation& reserve) {
    std::lock_guard lock(mu_);
    const Admission a = admit(policy_, caller_of(who));
    if (!a.allowed) {
        accounts_.count_refusal(account_of(who), unix_now());
        return {a.unidentified ? &refusal::kUserUnidentified : &refusal::kUserNotAllowed, 0};
    }
    // The parent has not read the body's model: a dollar budget reserves at
    // the table's highest prices (policy/pricing.hpp).
    reserve.dollars = 0;
    if (a.limits.has_dollar_budget()) {
        const std::uint64_t output = std::min(reserve.tokens, kOutputReserveTokens);
        reserve.dollars =
            reservation_price(policy_.prices.highest(), reserve.tokens - output, output);
    }
    auto v = accounts_.admit(account_of(who), a.limits, reserve, unix_now(), mono_now());
    return {v.refusal, v.retry_after};
}

void AccessControl::stream_ended(const PeerIdentity& who, const Reservation& reserve,
                                 const TokenCharge& charge,
                                 const std::vector<std::string>& models) {
    std::lock_guard lock(mu_);
    const MicroDollars dollars = policy_.prices.price_answer(
        models, AnswerTokens{charge.input, charge.cached_input, charge.output});
    accounts_.stream_ended(account_of(who), reserve, charge, unix_now(), dollars, mono_now());
    if (dollars != 0)
        proxy_metrics().add_spend(who.uid, who.known, static_cast<double>(dollars) / 1e6);
}

std::vector<std::pair<std::string, std::string>> AccessControl::budget_headers(
    const PeerIdentity& who) {
    if (!who.known || !counts_tokens()) return {};
    std::lock_guard lock(mu_);
    UsageView v;
    v.limits = limits_for(policy_, caller_of(who));
    if (!v.limits.has_token_budget() && !v.limits.has_dollar_budget() &&
        v.limits.tokens_per_minute == 0)
        return {};
    v.now = unix_now();
    v.standing = accounts_.standing(who.uid, v.now, mono_now());
    return proxy::budget_headers(v);
}

std::optional<UsageView> AccessControl::usage_of(const PeerIdentity& who, const Refusal*& refused) {
    std::lock_guard lock(mu_);
    // Only an identified caller has figures of their own, and only one the
    // policy lets use the proxy sees them.
    const Admission a = admit(policy_, caller_of(who));
    if (!a.allowed) {
        refused = a.unidentified ? &refusal::kUserUnidentified : &refusal::kUserNotAllowed;
        return std::nullopt;
    }
    if (!who.known) {
        refused = &refusal::kUserUnidentified;
        return std::nullopt;
    }
    UsageView v;
    v.uid = who.uid;
    v.user = directory_.lookup(who.uid).name;
    v.limits = a.limits;
    v.standing = accounts_.standing(who.uid, unix_now(), mono_now());
    v.now = unix_now();
    v.zone = policy_.budget_zone().name();
    return v;
}

const Refusal* AccessControl::may_shutdown(const PeerIdentity& who) {
    std::lock_guard lock(mu_);
    const Caller c = caller_of(who);
    if (proxy::may_shutdown(policy_, c)) return nullptr;
    return c.known ? &refusal::kUserNotAllowed : &refusal::kUserUnidentified;
}

void AccessControl::count_refusal(const PeerIdentity& who) {
    std::lock_guard lock(mu_);
    accounts_.count_refusal(account_of(who), unix_now());
}

void AccessControl::count_body_refusal(const PeerIdentity& who) {
    std::lock_guard lock(mu_);
    accounts_.count_body_refusal(account_of(who), unix_now());
}

void AccessControl::audit(const PeerIdentity& who, AuditRecord& r) {
    std::lock_guard lock(mu_);
    r.uid_known = who.known;
    r.uid = who.uid;
    r.pid = who.pid;
    if (who.known) r.user = directory_.lookup(who.uid).name;
    audit_.write(r);
}

void AccessControl::reload() {
    {
        std::lock_guard lock(mu_);
        directory_.clear();
    }
    audit_.reopen();
    // The files and names are read without the lock; only the swap takes it.
    auto policy = load_user_policy(options_, options_.policy_file, PolicyFileRead::Trusted);
    if (!policy) {
        LOG_ERROR("reload refused, old policy kept: %s", policy.error().c_str());
        return;
    }
    {
        std::lock_guard lock(mu_);
        set_policy(std::move(*policy));
    }
    LOG_INFO("policy reloaded%s%s", options_.policy_file.empty() ? "" : " from ",
             options_.policy_file.c_str());
}

void AccessControl::save() {
    std::lock_guard lock(mu_);
    save_locked();
}

void AccessControl::save_locked() {
    // Never over a file that could not be read: the operator must see it.
    if (!state_loaded_) return;
    const UsageState& state = accounts_.state(unix_now());
    if (!accounts_.dirty() && !owners_dirty_) return;
    if (auto saved = save_state_file(options_.state_file, state, owners_); !saved) {
        LOG_WARN("%s", saved.error().c_str());
        return;
    }
    accounts_.mark_saved();
    owners_dirty_ = false;
}

void AccessControl::on_save_timer(evutil_socket_t, short, void* arg) noexcept {
    static_cast<AccessControl*>(arg)->save();
}

}  // namespace proxy
