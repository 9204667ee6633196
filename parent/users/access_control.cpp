#include "parent/users/access_control.hpp"

#include <charconv>
#include <chrono>
#include <variant>

#include "common/log.hpp"
#include "parent/files/trusted_config.hpp"
#include "policy/policy_file.hpp"

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

template <typename Id>
bool resolve_ids(const std::vector<std::string>& names,
                 const std::function<std::optional<Id>(std::string_view)>& lookup, const char* flag,
                 std::vector<Id>& out, std::string& error) {
    for (const std::string& n : names) {
        std::uint64_t v = 0;
        auto [p, ec] = std::from_chars(n.data(), n.data() + n.size(), v);
        if (!n.empty() && ec == std::errc() && p == n.data() + n.size() && v < 0xffffffffull) {
            out.push_back(static_cast<Id>(v));
            continue;
        }
        auto id = lookup(n);
        if (!id) {
            error = std::string(flag) + " " + n + ": no such " +
                    (std::string_view(flag) == "--allow-user" ? "user" : "group");
            return false;
        }
        out.push_back(*id);
    }
    return true;
}

bool any_token_budget(const UserPolicy& p) {
    if (p.defaults.tokens_per_day.value_or(0) != 0) return true;
    for (const auto& [_, l] : p.users)
        if (l.tokens_per_day.value_or(0) != 0) return true;
    for (const auto& [_, l] : p.groups)
        if (l.tokens_per_day.value_or(0) != 0) return true;
    return false;
}

}  // namespace

std::optional<UserPolicy> policy_from_flags(const Options& o, std::string& error) {
    UserPolicy p;
    const NameResolver names = system_name_resolver();
    if (!resolve_ids<uid_t>(o.allow_users, names.user, "--allow-user", p.allow_users, error) ||
        !resolve_ids<gid_t>(o.allow_groups, names.group, "--allow-group", p.allow_groups, error))
        return std::nullopt;
    if (o.max_streams_per_user) p.defaults.max_streams = o.max_streams_per_user;
    if (o.requests_per_minute_per_user)
        p.defaults.requests_per_minute = o.requests_per_minute_per_user;
    if (o.tokens_per_day_per_user) p.defaults.tokens_per_day = o.tokens_per_day_per_user;
    return p;
}

std::unique_ptr<AccessControl> AccessControl::create(event_base* base, const Options& o,
                                                     std::span<const int> listen_fds,
                                                     std::string& error) {
    std::unique_ptr<AccessControl> ac(new AccessControl(o));
    auto flags = policy_from_flags(o, error);
    if (!flags) return nullptr;
    ac->flags_policy_ = *flags;
    UserPolicy policy = *flags;
    if (!o.policy_file.empty()) {
        auto loaded = load_trusted_policy(o.policy_file, *flags);
        if (!loaded) {
            error = "--policy: " + loaded.error();
            return nullptr;
        }
        policy = std::move(*loaded);
    }
    ac->set_policy(std::move(policy));
    if (!o.state_file.empty()) {
        auto state = load_trusted_usage_state(o.state_file);
        if (!state) {
            error = "--state-file: " + state.error();
            return nullptr;
        }
        ac->accounts_ = UserAccounts(std::move(*state));
        ac->state_loaded_ = true;
        // Can we write it? Better to know now than at the first save.
        if (auto saved = save_usage_state(o.state_file, ac->accounts_.today(unix_now())); !saved) {
            error = "--state-file: " + saved.error();
            return nullptr;
        }
        ac->accounts_.mark_saved();
        ac->save_timer_.reset(
            event_new(base, -1, EV_PERSIST, &AccessControl::on_save_timer, ac.get()));
        const timeval tv{kSaveSeconds, 0};
        event_add(ac->save_timer_.get(), &tv);
    } else if (ac->counts_tokens()) {
        LOG_WARN("a token budget without --state-file: today's counts are lost on restart");
    }
    if (auto opened = ac->audit_.open(base, o.audit_log); !opened) {
        error = opened.error();
        return nullptr;
    }
    if (auto ready = ac->identifier_.init(listen_fds); !ready) {
        error = ready.error();
        return nullptr;
    }
    return ac;
}

AccessControl::~AccessControl() {
    save();
}

void AccessControl::set_policy(UserPolicy p) {
    policy_ = std::move(p);
    counts_tokens_.store(any_token_budget(policy_), std::memory_order_relaxed);
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

AccessControl::Verdict AccessControl::admit_request(const PeerIdentity& who,
                                                    std::uint64_t reserve_tokens) {
    std::lock_guard lock(mu_);
    const Admission a = admit(policy_, caller_of(who));
    if (!a.allowed) {
        accounts_.count_refusal(account_of(who), unix_now());
        return {a.unidentified ? &refusal::kUserUnidentified : &refusal::kUserNotAllowed, 0};
    }
    auto v = accounts_.admit(account_of(who), a.limits, reserve_tokens, unix_now(), mono_now());
    return {v.refusal, v.retry_after};
}

void AccessControl::stream_ended(const PeerIdentity& who, std::uint64_t reserve_tokens,
                                 const TokenCharge& charge) {
    std::lock_guard lock(mu_);
    accounts_.stream_ended(account_of(who), reserve_tokens, charge, unix_now());
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
    std::string error;
    auto flags = policy_from_flags(options_, error);
    if (!flags) {
        LOG_ERROR("reload refused, old policy kept: %s", error.c_str());
        return;
    }
    UserPolicy policy = *flags;
    if (!options_.policy_file.empty()) {
        auto loaded = load_trusted_policy(options_.policy_file, *flags);
        if (!loaded) {
            LOG_ERROR("reload refused, old policy kept: --policy: %s", loaded.error().c_str());
            return;
        }
        policy = std::move(*loaded);
    }
    {
        std::lock_guard lock(mu_);
        flags_policy_ = *flags;
        set_policy(std::move(policy));
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
    const UsageDay& day = accounts_.today(unix_now());
    if (!accounts_.dirty()) return;
    if (auto saved = save_usage_state(options_.state_file, day); !saved) {
        LOG_WARN("%s", saved.error().c_str());
        return;
    }
    accounts_.mark_saved();
}

void AccessControl::on_save_timer(evutil_socket_t, short, void* arg) noexcept {
    static_cast<AccessControl*>(arg)->save();
}

}  // namespace proxy
