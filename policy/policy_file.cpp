#include "policy/policy_file.hpp"

#include <toml++/toml.h>

#include <algorithm>
#include <charconv>
#include <limits>
#include <type_traits>
#include <vector>

#include "common/dollars.hpp"
#include "policy/model_pattern.hpp"
#include "policy/request_body_policy.hpp"
#include "policy/time_zone.hpp"

namespace proxy {
namespace {

// (uid_t)-1 means "no id" to chown(2) and setreuid(2); the kernel never
// reports it as anyone's uid, so naming it can only be a typo.
constexpr std::uint64_t kMaxId = std::numeric_limits<std::uint32_t>::max() - 1;
static_assert(std::is_same_v<uid_t, std::uint32_t> && std::is_same_v<gid_t, std::uint32_t>);

// The toml++ parser reports errors by exception already, so the checks below
// do too; parse_policy_text() turns both into the one-line error value and
// nothing escapes it.
struct PolicyError {
    std::string text;
};

enum class IdKind { User, Group };

std::string_view kind_name(IdKind kind) {
    return kind == IdKind::User ? "user" : "group";
}

// Names come from the file and may hold any byte TOML escapes allow; the
// error must stay one printable line.
std::string printable(std::string_view s) {
    std::string out(s);
    for (char& c : out) {
        if (static_cast<unsigned char>(c) < 0x20 || c == 0x7f) c = '?';
    }
    return out;
}

// "FILE:LINE:COL: message", on one line whatever the message holds.
std::string located(std::string_view source_name, const toml::source_region& at,
                    std::string_view message) {
    std::string text(source_name);
    if (at.begin.line != 0) {
        text += ':' + std::to_string(at.begin.line) + ':' + std::to_string(at.begin.column);
    }
    text += ": ";
    text += message;
    std::replace(text.begin(), text.end(), '\n', ' ');
    return text;
}

class PolicyReader {
  public:
    PolicyReader(std::string_view source_name, const NameResolver& names)
        : source_name_(source_name), names_(names) {}

    void merge(const toml::table& root, UserPolicy& policy) const {
        for (const auto& [key, node] : root) {
            const std::string_view name = key.str();
            if (name == "defaults") {
                merge_defaults(table_at(key, node), policy.defaults);
            } else if (name == "access") {
                merge_access(table_at(key, node), policy);
            } else if (name == "users") {
                read_entries(table_at(key, node), IdKind::User, policy.users);
            } else if (name == "groups") {
                read_entries(table_at(key, node), IdKind::Group, policy.groups);
            } else if (name == "prices") {
                read_prices(table_at(key, node), policy.prices);
            } else if (name == "timezone") {
                policy.zone = zone_at(node);
            } else {
                fail(key.source(), "unknown table or key '" + printable(name) +
                                       "' (expected timezone, [defaults], [access], [prices.*], "
                                       "[users.*], [groups.*])");
            }
        }
    }

  private:
    [[noreturn]] void fail(const toml::source_region& at, const std::string& message) const {
        throw PolicyError{located(source_name_, at, message)};
    }

    // Both the key and the value carry a position; the value's is the one a
    // reader wants for a wrong type, the key's for an unknown name.
    const toml::table& table_at(const toml::key& key, const toml::node& node) const {
        const toml::table* t = node.as_table();
        if (t == nullptr) fail(node.source(), "'" + printable(key.str()) + "' must be a table");
        return *t;
    }

    std::uint64_t non_negative(const toml::node& node, std::string_view what) const {
        const auto* n = node.as_integer();
        if (n == nullptr) fail(node.source(), std::string(what) + " must be an integer");
        if (n->get() < 0) fail(node.source(), std::string(what) + " must not be negative");
        return static_cast<std::uint64_t>(n->get());
    }

    std::uint32_t u32(const toml::node& node, std::string_view what) const {
        const std::uint64_t v = non_negative(node, what);
        if (v > std::numeric_limits<std::uint32_t>::max()) {
            fail(node.source(), std::string(what) + " is too large (at most 4294967295)");
        }
        return static_cast<std::uint32_t>(v);
    }

    // Dollars as OpenAI writes prices: 1.25, 10, 0.125; at most 6 decimals.
    MicroDollars dollars(const toml::node& node, std::string_view what) const {
        std::optional<MicroDollars> v;
        if (const auto* i = node.as_integer()) {
            if (i->get() >= 0) v = dollars_from_number(static_cast<double>(i->get()));
        } else if (const auto* f = node.as_floating_point()) {
            v = dollars_from_number(f->get());
        } else {
            fail(node.source(), std::string(what) + " must be a number of dollars");
        }
        if (!v) {
            fail(node.source(), std::string(what) +
                                    " must be a number of dollars from 0 to 1000000000 with at "
                                    "most 6 decimals");
        }
        return *v;
    }

    // The limit keys, shared by [defaults], [users.X] and [groups.X].
    // Only keys present are set, so an absent key keeps the level below.
    void merge_limits(const toml::table& t, std::string_view where, UserLimits& out) const {
        for (const auto& [key, node] : t) {
            const std::string_view name = key.str();
            if (name == "max_streams") {
                out.max_streams = u32(node, name);
            } else if (name == "requests_per_minute") {
                out.requests_per_minute = u32(node, name);
            } else if (name == "tokens_per_day") {
                out.tokens_per_day = non_negative(node, name);
            } else if (name == "tokens_per_week") {
                out.tokens_per_week = non_negative(node, name);
            } else if (name == "tokens_per_month") {
                out.tokens_per_month = non_negative(node, name);
            } else if (name == "tokens_per_minute") {
                out.tokens_per_minute = non_negative(node, name);
            } else if (name == "dollars_per_day") {
                out.dollars_per_day = dollars(node, name);
            } else if (name == "dollars_per_week") {
                out.dollars_per_week = dollars(node, name);
            } else if (name == "dollars_per_month") {
                out.dollars_per_month = dollars(node, name);
            } else if (merge_body_key(key, node, where, out.body)) {
            } else {
                fail(key.source(), "unknown key '" + printable(name) + "' in " +
                                       std::string(where) +
                                       " (expected max_streams, requests_per_minute, "
                                       "tokens_per_day, tokens_per_week, tokens_per_month, "
                                       "tokens_per_minute, dollars_per_day, dollars_per_week, "
                                       "dollars_per_month, models, max_output_tokens, "
                                       "service_tiers; response_ownership in [defaults])");
            }
        }
    }

    // The request-body keys (policy/body_limits.hpp); false for another key.
    bool merge_body_key(const toml::key& key, const toml::node& node, std::string_view where,
                        BodyLimits& out) const {
        const std::string_view name = key.str();
        if (name == "models" || name == "service_tiers") {
            const toml::array* list = node.as_array();
            if (list == nullptr)
                fail(node.source(), std::string(name) + " must be an array of strings");
            std::vector<std::string> values;
            for (const toml::node& element : *list) {
                const auto* s = element.as_string();
                if (s == nullptr) fail(element.source(), std::string(name) + " must hold strings");
                const std::string& v = s->get();
                const std::string error =
                    name == "models" ? model_pattern_error(v) : service_tier_error(v);
                if (!error.empty()) fail(element.source(), error + ": \"" + printable(v) + "\"");
                if (std::find(values.begin(), values.end(), v) == values.end()) values.push_back(v);
            }
            (name == "models" ? out.models : out.service_tiers) = std::move(values);
        } else if (name == "max_output_tokens") {
            out.max_output_tokens = non_negative(node, name);
        } else if (name == "response_ownership") {
            // One switch for the proxy (policy/body_rules.hpp says why).
            if (where != "[defaults]")
                fail(key.source(), "response_ownership may be set only in [defaults]");
            const auto* b = node.as_boolean();
            if (b == nullptr) fail(node.source(), "response_ownership must be true or false");
            out.response_ownership = b->get();
        } else {
            return false;
        }
        return true;
    }

    // [prices."MODEL"]: input and output required, cached_input optional
    // (absent: the input price). The file's table replaces any before it.
    void read_prices(const toml::table& t, PriceTable& out) const {
        PriceTable prices;
        for (const auto& [key, node] : t) {
            const std::string where = "[prices.\"" + printable(key.str()) + "\"]";
            if (!valid_model_pattern(key.str())) {
                fail(key.source(), where + ": not a model name or a name ending in one '*'");
            }
            const toml::table* entry = node.as_table();
            if (entry == nullptr) fail(node.source(), where + " must be a table");
            std::optional<MicroDollars> input, cached, output;
            for (const auto& [k, v] : *entry) {
                const std::string_view name = k.str();
                if (name == "input") {
                    input = dollars(v, name);
                } else if (name == "cached_input") {
                    cached = dollars(v, name);
                } else if (name == "output") {
                    output = dollars(v, name);
                } else {
                    fail(k.source(), "unknown key '" + printable(name) + "' in " + where +
                                         " (expected input, cached_input, output)");
                }
            }
            if (!input || !output) fail(key.source(), where + " needs both input and output");
            prices.set(key.str(), ModelPrice{*input, cached.value_or(*input), *output});
        }
        out = std::move(prices);
    }

    std::shared_ptr<const TimeZone> zone_at(const toml::node& node) const {
        const auto* s = node.as_string();
        if (s == nullptr) fail(node.source(), "timezone must be a string (\"Europe/Berlin\")");
        auto zone = load_time_zone(s->get());
        if (auto* err = std::get_if<std::string>(&zone)) fail(node.source(), "timezone: " + *err);
        return std::get<std::shared_ptr<const TimeZone>>(std::move(zone));
    }

    void merge_defaults(const toml::table& t, UserLimits& defaults) const {
        merge_limits(t, "[defaults]", defaults);
    }

    // Decimal strings are ids: adduser and systemd refuse all-digit names
    // because every tool would read them as ids, so "1001" is uid 1001 and
    // needs no NSS lookup.
    std::uint32_t id_of_name(std::string_view name, IdKind kind,
                             const toml::source_region& at) const {
        const bool decimal = !name.empty() && std::all_of(name.begin(), name.end(), [](char c) {
            return c >= '0' && c <= '9';
        });
        if (decimal) {
            std::uint64_t v = 0;
            const auto [end, ec] = std::from_chars(name.data(), name.data() + name.size(), v);
            if (ec != std::errc{} || end != name.data() + name.size() || v > kMaxId) {
                fail(at, std::string(kind_name(kind)) + " id " + std::string(name) +
                             " is out of range");
            }
            return static_cast<std::uint32_t>(v);
        }
        const auto& resolve = kind == IdKind::User ? names_.user : names_.group;
        std::optional<std::uint32_t> id;
        if (resolve) id = resolve(name);
        if (!id) fail(at, "unknown " + std::string(kind_name(kind)) + " '" + printable(name) + "'");
        return *id;
    }

    std::uint32_t id_of_element(const toml::node& node, IdKind kind) const {
        if (const auto* s = node.as_string()) return id_of_name(s->get(), kind, node.source());
        if (node.is_integer()) {
            const std::uint64_t v = non_negative(node, std::string(kind_name(kind)) + " id");
            if (v > kMaxId) {
                fail(node.source(), std::string(kind_name(kind)) + " id " + std::to_string(v) +
                                        " is out of range");
            }
            return static_cast<std::uint32_t>(v);
        }
        fail(node.source(), std::string(kind_name(kind)) + " must be a name or a numeric id");
    }

    void append_ids(const toml::key& key, const toml::node& node, IdKind kind,
                    std::vector<std::uint32_t>& out) const {
        const toml::array* list = node.as_array();
        if (list == nullptr) {
            fail(node.source(), printable(key.str()) + " must be an array of " +
                                    std::string(kind_name(kind)) + " names and ids");
        }
        for (const toml::node& element : *list) {
            const std::uint32_t id = id_of_element(element, kind);
            if (std::find(out.begin(), out.end(), id) == out.end()) out.push_back(id);
        }
    }

    void merge_access(const toml::table& t, UserPolicy& policy) const {
        for (const auto& [key, node] : t) {
            const std::string_view name = key.str();
            if (name == "allow_users") {
                append_ids(key, node, IdKind::User, policy.allow_users);
            } else if (name == "allow_groups") {
                append_ids(key, node, IdKind::Group, policy.allow_groups);
            } else if (name == "deny_users") {
                append_ids(key, node, IdKind::User, policy.deny_users);
            } else if (name == "deny_groups") {
                append_ids(key, node, IdKind::Group, policy.deny_groups);
            } else if (name == "metrics_users") {
                append_ids(key, node, IdKind::User, policy.metrics_users);
            } else if (name == "metrics_groups") {
                append_ids(key, node, IdKind::Group, policy.metrics_groups);
            } else {
                fail(key.source(), "unknown key '" + printable(name) +
                                       "' in [access] (expected allow_users, allow_groups, "
                                       "deny_users, deny_groups, metrics_users, metrics_groups)");
            }
        }
    }

    // [users.X] / [groups.X]. The file's entries replace the whole map: the
    // flags have no per-user settings that could be in `base`.
    void read_entries(const toml::table& t, IdKind kind,
                      std::map<std::uint32_t, UserLimits>& out) const {
        const std::string section = kind == IdKind::User ? "users" : "groups";
        std::map<std::uint32_t, UserLimits> entries;
        std::map<std::uint32_t, const toml::key*> keys;
        for (const auto& [key, node] : t) {
            const std::string where = "[" + section + "." + printable(key.str()) + "]";
            const toml::table* limits = node.as_table();
            if (limits == nullptr) fail(node.source(), where + " must be a table");
            const std::uint32_t id = id_of_name(key.str(), kind, key.source());
            // "alice" and "1001" may be the same user; two tables for one id
            // would silently depend on their order.
            if (const auto seen = keys.find(id); seen != keys.end()) {
                duplicate_entry(section, kind, id, *seen->second, key);
            }
            keys[id] = &key;
            merge_limits(*limits, where, entries[id]);
        }
        out = std::move(entries);
    }

    // toml++ iterates a table in key order, not file order: blame whichever
    // of the two comes later in the file.
    [[noreturn]] void duplicate_entry(const std::string& section, IdKind kind, std::uint32_t id,
                                      const toml::key& a, const toml::key& b) const {
        const auto position = [](const toml::key& k) {
            return std::pair(k.source().begin.line, k.source().begin.column);
        };
        const bool a_first = position(a) < position(b);
        const toml::key& first = a_first ? a : b;
        const toml::key& second = a_first ? b : a;
        fail(second.source(), "[" + section + "." + printable(second.str()) + "] is " +
                                  std::string(kind_name(kind)) + " id " + std::to_string(id) +
                                  " again (first [" + section + "." + printable(first.str()) +
                                  "], line " + std::to_string(first.source().begin.line) + ")");
    }

    std::string_view source_name_;
    const NameResolver& names_;
};

}  // namespace

std::variant<UserPolicy, std::string> parse_policy_text(std::string_view text,
                                                        std::string_view source_name,
                                                        const UserPolicy& base,
                                                        const NameResolver& names) {
    const PolicyReader reader(source_name, names);
    try {
        const toml::table root = toml::parse(text, source_name);
        UserPolicy merged = base;
        reader.merge(root, merged);
        return merged;
    } catch (const toml::parse_error& e) {
        return located(source_name, e.source(), e.description());
    } catch (const PolicyError& e) {
        return e.text;
    }
}

}  // namespace proxy
