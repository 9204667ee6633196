#include "policy/response_owners.hpp"

#include <charconv>
#include <limits>

namespace proxy {

namespace {

bool id_byte(char c) {
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_' ||
           c == '-';
}

// Decimal digits only, no sign, no leading zero (but "0"), within max.
template <typename T>
bool strict_decimal(std::string_view s, T max, T& out) {
    if (s.empty() || (s.size() > 1 && s.front() == '0')) return false;
    for (char c : s) {
        if (c < '0' || c > '9') return false;
    }
    auto [p, ec] = std::from_chars(s.data(), s.data() + s.size(), out);
    return ec == std::errc() && p == s.data() + s.size() && out <= max;
}

// Words of a state-file line: one space between words, none at either end.
std::string_view next_word(std::string_view& line) {
    const std::string_view w = line.substr(0, line.find(' '));
    line.remove_prefix(w.size());
    return w;
}
bool next_space(std::string_view& line) {
    if (line.empty() || line.front() != ' ') return false;
    line.remove_prefix(1);
    return true;
}

}  // namespace

bool valid_response_id(std::string_view id) {
    if (id.empty() || id.size() > kMaxResponseId) return false;
    for (char c : id) {
        if (!id_byte(c)) return false;
    }
    return true;
}

bool ResponseOwners::insert(std::string_view id, uid_t uid, std::int64_t now) {
    if (!valid_response_id(id) || limits_.max_entries == 0) return false;
    expire(now);
    auto [it, added] = entries_.try_emplace(std::string(id), Entry{uid, now});
    if (!added) return true;
    order_.push_back(&it->first);
    while (entries_.size() > limits_.max_entries) {
        entries_.erase(*order_.front());
        order_.pop_front();
    }
    return true;
}

std::optional<uid_t> ResponseOwners::owner_of(std::string_view id, std::int64_t now) const {
    if (!valid_response_id(id)) return std::nullopt;
    const auto it = entries_.find(std::string(id));
    if (it == entries_.end() || expired(it->second, now)) return std::nullopt;
    return it->second.uid;
}

// Oldest first; an entry whose time lies ahead of an older one's (the clock
// was set back) waits behind it, and owner_of() checks each entry's own time.
void ResponseOwners::expire(std::int64_t now) {
    while (!order_.empty()) {
        const auto it = entries_.find(*order_.front());
        if (!expired(it->second, now)) break;
        entries_.erase(it);
        order_.pop_front();
    }
}

std::string ResponseOwners::format() const {
    std::string out;
    out.reserve(order_.size() * 80);
    for (const std::string* id : order_) {
        const Entry& e = entries_.at(*id);
        out += "response ";
        out += *id;
        out += ' ';
        out += std::to_string(e.uid);
        out += ' ';
        out += std::to_string(e.created);
        out += '\n';
    }
    return out;
}

std::string ResponseOwners::load_line(std::string_view line, std::int64_t now) {
    std::string_view fields[4];
    for (std::size_t k = 0; k < 4; ++k) {
        if (k > 0 && !next_space(line)) return "expected \"response ID UID CREATED\"";
        fields[k] = next_word(line);
    }
    if (fields[0] != "response" || !line.empty()) return "expected \"response ID UID CREATED\"";
    const std::string_view id = fields[1], uid_text = fields[2], created_text = fields[3];
    if (!valid_response_id(id)) return "bad response id";
    // uid_t's largest value is (uid_t)-1, which means "no uid" to the kernel.
    uid_t uid = 0;
    if (!strict_decimal<uid_t>(uid_text, std::numeric_limits<uid_t>::max() - 1, uid))
        return "bad uid";
    std::int64_t created = 0;
    if (!strict_decimal<std::int64_t>(created_text, std::numeric_limits<std::int64_t>::max(),
                                      created))
        return "bad creation time";
    if (entries_.find(std::string(id)) != entries_.end()) return "response id given twice";
    if (expired(Entry{uid, created}, now)) return {};
    insert(id, uid, created);
    return {};
}

std::variant<ResponseOwners, std::string> parse_response_owners(std::string_view text,
                                                                ResponseOwnersLimits limits,
                                                                std::int64_t now) {
    ResponseOwners owners(limits);
    unsigned lineno = 0;
    while (!text.empty()) {
        const std::size_t nl = text.find('\n');
        if (nl == std::string_view::npos) return std::string("last line has no newline");
        ++lineno;
        const std::string error = owners.load_line(text.substr(0, nl), now);
        if (!error.empty()) return "line " + std::to_string(lineno) + ": " + error;
        text.remove_prefix(nl + 1);
    }
    return owners;
}

}  // namespace proxy
