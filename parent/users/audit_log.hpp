// One line per request, after it ends: who (uid and name, from the kernel),
// what (method, path), how it went (status, outcome, refusal code), how much
// (bytes both ways, duration, tokens charged, and whether they are the
// upstream's count or an estimate) and the upstream's x-request-id. On
// stderr (the journal under systemd) as key=value text, and with --audit-log
// FILE as JSON lines too, reopened on SIGHUP for logrotate. Never a body,
// never a header value other than x-request-id, never the key.
#pragma once

#include <mutex>
#include <thread>
#include <utility>
#include <vector>

#include <sys/types.h>

#include <cstdint>
#include <optional>
#include <string>

#include "common/event_ptr.hpp"
#include "common/result.hpp"
#include "common/unique_fd.hpp"

namespace proxy {

struct AuditRecord {
    bool uid_known = false;
    uid_t uid = 0;
    std::string user;  // name, or empty
    pid_t pid = 0;     // unix socket peers only
    std::string method;
    std::string path;
    unsigned status = 0;
    std::string outcome;  // completed, refused, upstream_error, aborted, client_aborted
    std::string code;     // refusal or error code, or empty
    std::uint64_t request_bytes = 0;
    std::uint64_t response_bytes = 0;
    double duration_ms = 0;
    std::string request_id;  // the upstream's x-request-id, or empty
    std::optional<std::uint64_t> tokens_in, tokens_out;
    bool tokens_estimated = false;  // an estimate, not the upstream's usage
};

// "uid=1000 user=alice method=POST path=/v1/responses status=200 ..."; values
// with spaces, quotes or control bytes are quoted and escaped.
std::string format_audit_text(const AuditRecord& r);
// One JSON object, no newline.
std::string format_audit_json(const AuditRecord& r, long long unix_ms);

// Lines are collected during a loop turn and written together when its
// callbacks are done (one write(2) to stderr and one to the file per turn,
// not one per request), as the IPC channel does with its messages.
//
// Thread-safe: each of the parent's upstream threads writes lines from its
// own loop (bind_loop() gives it a flush event there); whichever loop turn
// ends first writes everyone's pending lines.
class AuditLog {
  public:
    AuditLog() = default;
    ~AuditLog();
    AuditLog(const AuditLog&) = delete;
    AuditLog& operator=(const AuditLog&) = delete;

    // Opens --audit-log (append, 0600); empty path: stderr only. Without a
    // base, every line is written at once.
    Result<void> open(event_base* base, const std::string& path);
    // The calling thread's loop (another upstream thread's): its lines are
    // flushed at the end of its loop turns.
    void bind_loop(event_base* base);
    // Before `base` is freed: its pending lines are written now.
    void unbind_loop(event_base* base);
    // SIGHUP: reopen the same path (after logrotate moved it).
    void reopen();
    void write(const AuditRecord& r);
    void flush();

  private:
    static void on_flush(evutil_socket_t, short, void* arg) noexcept;

    void flush_locked();

    std::mutex mu_;  // guards everything below
    std::string path_;
    UniqueFd file_;
    // One flush event per thread that writes lines, on that thread's loop.
    std::vector<std::pair<std::thread::id, EventPtr>> flush_events_;
    bool flush_pending_ = false;
    std::string stderr_lines_, file_lines_;
};

}  // namespace proxy
