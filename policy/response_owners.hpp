// Which local user created each stored response the proxy relayed. All users
// share one API key, so the upstream keeps everyone's stored responses under
// one account: a user who learns another's response id could continue that
// conversation with previous_response_id and ask the model to repeat it. The
// parent records the owner of every response id it sees created
// (parent/upstream/response_id_scanner.hpp) and, while the rule is on, refuses a
// request that names a response that is not the caller's own
// (policy/request_body_policy.hpp), including one it does not know.
//
// Bounded: entries older than the retention window (30 days by default, the
// time OpenAI keeps a stored response) are forgotten, and past max_entries the
// oldest go first. Each entry costs about 180 bytes of memory. Kept across
// restarts as lines of the state file, oldest first:
//
//   response resp_67ccd2bed1ec8190b14f964abc0542670bb6a6b452d3795b 1000 1767225600
//
// (the id, the owner's uid, when it was created in Unix seconds). Reading is
// strict: a line that does not parse is an error naming it.
#pragma once

#include <sys/types.h>

#include <cstddef>
#include <cstdint>
#include <deque>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>
#include <variant>

namespace proxy {

// What OpenAI's ids look like (resp_..., conv_...): 1 to kMaxResponseId bytes
// of [A-Za-z0-9_-]. Anything else is never recorded, so never anyone's.
inline constexpr std::size_t kMaxResponseId = 128;
bool valid_response_id(std::string_view id);

struct ResponseOwnersLimits {
    std::int64_t retention_seconds = 30 * 24 * 3600;
    std::size_t max_entries = 50000;
};

class ResponseOwners {
  public:
    explicit ResponseOwners(ResponseOwnersLimits limits = {}) : limits_(limits) {}
    // order_ points into entries_: moving keeps the nodes, copying would not.
    ResponseOwners(ResponseOwners&&) = default;
    ResponseOwners& operator=(ResponseOwners&&) = default;
    ResponseOwners(const ResponseOwners&) = delete;
    ResponseOwners& operator=(const ResponseOwners&) = delete;

    // Remembers that `uid` created `id` at `now` (Unix seconds). False, and
    // nothing remembered, for an id that is not valid. An id already known
    // keeps its first owner: ids are the upstream's, created once.
    bool insert(std::string_view id, uid_t uid, std::int64_t now);
    // Who created `id`, if it is known and within the retention window.
    std::optional<uid_t> owner_of(std::string_view id, std::int64_t now) const;
    // Forgets what is past the retention window (insert() does this too).
    void expire(std::int64_t now);

    std::size_t size() const { return entries_.size(); }
    const ResponseOwnersLimits& limits() const { return limits_; }

    // "response ID UID CREATED\n" per entry, oldest first.
    std::string format() const;
    // One such line (without its newline) from a state file: added as
    // insert() would, unless past the window at `now`. The error, or empty.
    std::string load_line(std::string_view line, std::int64_t now);

  private:
    struct Entry {
        uid_t uid;
        std::int64_t created;
    };
    bool expired(const Entry& e, std::int64_t now) const {
        return now - e.created >= limits_.retention_seconds;
    }

    ResponseOwnersLimits limits_;
    std::unordered_map<std::string, Entry> entries_;
    // Insertion order, oldest first: the keys of entries_ (node-based, so
    // the pointers stay valid as the map grows).
    std::deque<const std::string*> order_;
};

// A whole block of such lines (each ending in a newline), strictly: the
// owners, or an error naming the line.
std::variant<ResponseOwners, std::string> parse_response_owners(std::string_view text,
                                                                ResponseOwnersLimits limits,
                                                                std::int64_t now);

}  // namespace proxy
