#include "parent/users/usage_scanner.hpp"

#include <algorithm>
#include <charconv>
#include <cstdint>
#include <cstring>

#include "common/ascii.hpp"

namespace proxy {

namespace {
// The keys are as long, start with a quote, and differ at their next byte.
constexpr std::string_view kUsageKey = "\"usage\"";
constexpr std::string_view kDeltaKey = "\"delta\"";
constexpr std::string_view kModelKey = "\"model\"";

bool key_letter(unsigned char c) {
    return c == 'u' || c == 'd' || c == 'm';
}

// The first position from i that holds a quote followed by u, d or m (a key
// may start there), or a quote in the last byte (what follows is in the
// next piece); npos if none. Sixteen bytes at a time with GCC's portable
// vector extensions (SSE2 on x86-64, NEON on arm64, plain code elsewhere);
// a block with a hit is searched byte by byte, so byte order never matters.
std::size_t key_candidate(std::string_view data, std::size_t i) {
    using Bytes = unsigned char __attribute__((vector_size(16)));
    using Lanes = std::uint64_t __attribute__((vector_size(16)));
    const auto* p = reinterpret_cast<const unsigned char*>(data.data());
    const std::size_t n = data.size();
    for (; i + 17 <= n; i += 16) {
        Bytes here, next;
        std::memcpy(&here, p + i, sizeof here);
        std::memcpy(&next, p + i + 1, sizeof next);
        const auto hit = (here == '"') & ((next == 'u') | (next == 'd') | (next == 'm'));
        Lanes lanes;
        std::memcpy(&lanes, &hit, sizeof lanes);
        if ((lanes[0] | lanes[1]) != 0) break;  // the byte loop below finds it
    }
    for (; i + 1 < n; ++i) {
        if (p[i] == '"' && key_letter(p[i + 1])) return i;
    }
    if (i < n && p[i] == '"') return i;
    return std::string_view::npos;
}
}  // namespace

void UsageScanner::feed(std::string_view data) {
    std::size_t i = 0;
    while (i < data.size()) {
        if (state_ == State::Delta) {
            i = skip_delta(data, i);
            continue;
        }
        if (state_ == State::Search && matched_ == 0) {
            // Only an unescaped quote followed by u, d or m can start a
            // key, and every other byte here just becomes prev_: skip to the
            // next such quote and compare the key's seven bytes there at
            // once. The profile of an SSE-heavy answer (150 events, ~20
            // strings each) had step() and feed() at 40% of the parent's CPU
            // when each quote and the byte after it went through step(), and
            // a memchr per quote still 23% (bench/HISTORY.md, 2026-12-05).
            const std::size_t q = key_candidate(data, i);
            if (q == std::string_view::npos) {
                prev_ = data.back();
                return;
            }
            const char before = q > 0 ? data[q - 1] : prev_;
            if (q + kUsageKey.size() <= data.size()) {
                const std::string_view word = data.substr(q, kUsageKey.size());
                if (before != '\\' &&
                    (word == kUsageKey || word == kDeltaKey || word == kModelKey)) {
                    key_ = word[1] == 'u' ? kUsageKey : word[1] == 'd' ? kDeltaKey : kModelKey;
                    state_ = State::AfterKey;
                    i = q + word.size();
                    prev_ = '"';
                    continue;
                }
                prev_ = '"';  // no key starts at this quote
                i = q + 1;
                continue;
            }
            // A key that begins here may end in the next piece: byte by byte.
            prev_ = before;
            i = q;
        }
        step(data[i++]);
    }
}

// Inside a delta's string value from data[i]: counts its bytes up to the
// closing quote, one memchr per quote. A quote is escaped when an odd run of
// backslashes precedes it, the run possibly begun in an earlier piece
// (escaped_).
std::size_t UsageScanner::skip_delta(std::string_view data, std::size_t i) {
    const std::size_t start = i;
    bool carried = escaped_;  // data[i] is escaped by the piece before
    for (;;) {
        const std::size_t q = data.find('"', i);
        const std::size_t end = q == std::string_view::npos ? data.size() : q;
        std::size_t k = end;
        while (k > i && data[k - 1] == '\\') --k;
        const bool odd = ((end - k) + (k == i && carried ? 1 : 0)) % 2 == 1;
        if (q == std::string_view::npos) {
            delta_bytes_ += data.size() - start;
            escaped_ = odd;
            prev_ = data.back();
            return data.size();
        }
        if (!odd) {
            delta_bytes_ += q - start;
            escaped_ = false;
            state_ = State::Search;
            prev_ = '"';
            return q + 1;
        }
        i = q + 1;
        carried = false;
    }
}

void UsageScanner::step(char c) {
    switch (state_) {
        case State::Search:
            // Inside a JSON string a quote is escaped (\"), so an unescaped
            // "usage" or "delta" can only be a key (or a whole value, which
            // no colon follows).
            if (matched_ == 1 && (c == 'u' || c == 'd' || c == 'm')) {
                key_ = c == 'u' ? kUsageKey : c == 'd' ? kDeltaKey : kModelKey;
                matched_ = 2;
            } else if (matched_ >= 2 && c == key_[matched_]) {
                if (++matched_ == key_.size()) {
                    matched_ = 0;
                    state_ = State::AfterKey;
                }
            } else {
                matched_ = (c == '"' && prev_ != '\\') ? 1 : 0;
            }
            break;
        case State::AfterKey:
            if (c == ':')
                state_ = State::AfterColon;
            else if (!is_json_space(c))
                state_ = State::Search;
            break;
        case State::AfterColon:
            if (c == '{' && key_ == kUsageKey) {
                state_ = State::Capture;
                object_.assign(1, c);
                depth_ = 1;
                in_string_ = escaped_ = false;
            } else if (c == '"' && key_ == kDeltaKey) {
                state_ = State::Delta;
                escaped_ = false;
            } else if (c == '"' && key_ == kModelKey) {
                state_ = State::Model;
                model_.clear();
                model_bad_ = false;
            } else if (!is_json_space(c)) {
                state_ = State::Search;  // "usage": null, before the response is complete
            }
            break;
        case State::Delta:
            break;  // feed() hands these bytes to skip_delta()
        case State::Model:
            // Names are plain ASCII: an escape, a control byte or a long
            // name is kept as "unpriced" (""), and the string skipped.
            if (c == '"' && prev_ != '\\') {
                note_model(model_bad_ ? std::string() : std::move(model_));
                state_ = State::Search;
            } else if (c == '\\' || static_cast<unsigned char>(c) < 0x20 ||
                       model_.size() >= kMaxModelName) {
                model_bad_ = true;
                // An escaped quote must not end the string: track it by
                // prev_ (a backslash pair is two bytes, so "\\\\" ends it).
                if (c == '\\' && prev_ == '\\') c = 0;
            } else if (!model_bad_) {
                model_.push_back(c);
            }
            break;
        case State::Capture:
            object_.push_back(c);
            if (in_string_) {
                if (escaped_)
                    escaped_ = false;
                else if (c == '\\')
                    escaped_ = true;
                else if (c == '"')
                    in_string_ = false;
            } else if (c == '"') {
                in_string_ = true;
            } else if (c == '{') {
                ++depth_;
            } else if (c == '}' && --depth_ == 0) {
                if (auto u = parse_object(object_)) usage_ = u;
                object_.clear();
                state_ = State::Search;
            }
            if (state_ == State::Capture && object_.size() > kMaxObject) {
                object_.clear();
                state_ = State::Search;
            }
            break;
    }
    prev_ = c;
}

void UsageScanner::note_model(std::string name) {
    if (std::find(models_.begin(), models_.end(), name) != models_.end()) return;
    if (models_.size() >= kMaxModels) name.clear();  // past the cap: unpriced
    if (std::find(models_.begin(), models_.end(), name) != models_.end()) return;
    if (models_.size() < kMaxModels + 1) models_.push_back(std::move(name));
}

// Top-level "input_tokens" and "output_tokens" of one object; nested ones
// (input_tokens_details.cached_tokens, ...) are skipped by depth.
std::optional<TokenUsage> UsageScanner::parse_object(std::string_view s) {
    std::optional<std::uint64_t> in, out;
    std::uint64_t cached = 0;
    int depth = 0;
    for (std::size_t i = 0; i < s.size(); ++i) {
        char c = s[i];
        if (c == '{' || c == '[') {
            ++depth;
            continue;
        }
        if (c == '}' || c == ']') {
            --depth;
            continue;
        }
        if (c != '"') continue;
        std::size_t end = i + 1;
        while (end < s.size() && s[end] != '"') end += s[end] == '\\' ? 2 : 1;
        if (end >= s.size()) break;
        std::string_view key = s.substr(i + 1, end - i - 1);
        i = end;
        if (depth == 2 && key == "cached_tokens") {
            // input_tokens_details.cached_tokens (the only cached_tokens
            // the usage object has): priced at the cached price.
            std::size_t j = end + 1;
            while (j < s.size() && is_json_space(s[j])) ++j;
            if (j < s.size() && s[j] == ':') {
                ++j;
                while (j < s.size() && is_json_space(s[j])) ++j;
                std::uint64_t v = 0;
                auto [p, ec] = std::from_chars(s.data() + j, s.data() + s.size(), v);
                if (ec == std::errc()) cached = v;
            }
            continue;
        }
        if (depth != 1) continue;
        std::size_t j = end + 1;
        while (j < s.size() && is_json_space(s[j])) ++j;
        if (j >= s.size() || s[j] != ':') continue;  // a string value, not a key
        ++j;
        while (j < s.size() && is_json_space(s[j])) ++j;
        std::uint64_t v = 0;
        auto [p, ec] = std::from_chars(s.data() + j, s.data() + s.size(), v);
        if (ec != std::errc()) continue;
        if (key == "input_tokens")
            in = v;
        else if (key == "output_tokens")
            out = v;
        i = static_cast<std::size_t>(p - s.data()) - 1;
    }
    if (!in || !out) return std::nullopt;
    return TokenUsage{*in, *out, cached};
}

}  // namespace proxy
