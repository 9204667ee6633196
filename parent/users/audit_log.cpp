#include "parent/users/audit_log.hpp"

#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstdio>
#include <cstring>

#include "common/json.hpp"
#include "common/log.hpp"

namespace proxy {

namespace {

// Plain tokens stay bare; anything else is quoted with \" \\ and \xNN.
void put_value(std::string& out, std::string_view v) {
    bool bare = !v.empty();
    for (unsigned char c : v)
        if (c <= ' ' || c >= 0x7f || c == '"' || c == '\\' || c == '=') bare = false;
    if (bare) {
        out.append(v);
        return;
    }
    out.push_back('"');
    for (unsigned char c : v) {
        if (c == '"' || c == '\\') {
            out.push_back('\\');
            out.push_back(static_cast<char>(c));
        } else if (c < ' ' || c >= 0x7f) {
            char hex[5];
            std::snprintf(hex, sizeof hex, "\\x%02x", c);
            out.append(hex);
        } else {
            out.push_back(static_cast<char>(c));
        }
    }
    out.push_back('"');
}

void put_field(std::string& out, const char* key, std::string_view v) {
    if (!out.empty()) out.push_back(' ');
    out.append(key);
    out.push_back('=');
    put_value(out, v);
}

std::string uid_text(const AuditRecord& r) {
    return r.uid_known ? std::to_string(r.uid) : "?";
}

std::string ms_text(double ms) {
    char buf[32];
    std::snprintf(buf, sizeof buf, "%.1f", ms);
    return buf;
}

}  // namespace

std::string format_audit_text(const AuditRecord& r) {
    std::string out;
    put_field(out, "uid", uid_text(r));
    put_field(out, "user", r.user.empty() ? "?" : r.user);
    if (r.pid != 0) put_field(out, "pid", std::to_string(r.pid));
    put_field(out, "method", r.method.empty() ? "-" : r.method);
    put_field(out, "path", r.path.empty() ? "-" : r.path);
    put_field(out, "status", std::to_string(r.status));
    put_field(out, "outcome", r.outcome);
    if (!r.code.empty()) put_field(out, "code", r.code);
    put_field(out, "req_bytes", std::to_string(r.request_bytes));
    put_field(out, "resp_bytes", std::to_string(r.response_bytes));
    put_field(out, "duration_ms", ms_text(r.duration_ms));
    put_field(out, "request_id", r.request_id.empty() ? "-" : r.request_id);
    put_field(out, "tokens_in", r.tokens_in ? std::to_string(*r.tokens_in) : "-");
    put_field(out, "tokens_out", r.tokens_out ? std::to_string(*r.tokens_out) : "-");
    put_field(out, "tokens", !r.tokens_in ? "-" : r.tokens_estimated ? "estimated" : "reported");
    return out;
}

std::string format_audit_json(const AuditRecord& r, long long unix_ms) {
    auto str = [](std::string_view v) { return "\"" + json_escape(v) + "\""; };
    std::string out = "{\"time_ms\":" + std::to_string(unix_ms);
    out += ",\"uid\":" + (r.uid_known ? std::to_string(r.uid) : std::string("null"));
    out += ",\"user\":" + (r.user.empty() ? std::string("null") : str(r.user));
    if (r.pid != 0) out += ",\"pid\":" + std::to_string(r.pid);
    out += ",\"method\":" + str(r.method) + ",\"path\":" + str(r.path);
    out += ",\"status\":" + std::to_string(r.status) + ",\"outcome\":" + str(r.outcome);
    out += ",\"code\":" + (r.code.empty() ? std::string("null") : str(r.code));
    out += ",\"request_bytes\":" + std::to_string(r.request_bytes);
    out += ",\"response_bytes\":" + std::to_string(r.response_bytes);
    out += ",\"duration_ms\":" + ms_text(r.duration_ms);
    out += ",\"request_id\":" + (r.request_id.empty() ? std::string("null") : str(r.request_id));
    out += ",\"tokens_in\":" + (r.tokens_in ? std::to_string(*r.tokens_in) : std::string("null"));
    out +=
        ",\"tokens_out\":" + (r.tokens_out ? std::to_string(*r.tokens_out) : std::string("null"));
    out += ",\"tokens_estimated\":" +
           std::string(!r.tokens_in         ? "null"
                       : r.tokens_estimated ? "true"
                                            : "false") +
           "}";
    return out;
}

AuditLog::~AuditLog() {
    flush();
}

Result<void> AuditLog::open(event_base* base, const std::string& path) {
    if (base != nullptr) bind_loop(base);
    std::lock_guard lock(mu_);
    path_ = path;
    if (path.empty()) return {};
    file_.reset(::open(path.c_str(), O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0600));
    if (!file_) return Error{"cannot open --audit-log " + path + ": " + std::strerror(errno)};
    return {};
}

void AuditLog::bind_loop(event_base* base) {
    EventPtr ev(event_new(base, -1, 0, &AuditLog::on_flush, this));
    if (!ev) return;  // that thread's lines are then written at once
    std::lock_guard lock(mu_);
    flush_events_.emplace_back(std::this_thread::get_id(), std::move(ev));
}

void AuditLog::unbind_loop(event_base* base) {
    std::lock_guard lock(mu_);
    flush_locked();
    std::erase_if(flush_events_,
                  [base](auto& entry) { return event_get_base(entry.second.get()) == base; });
}

void AuditLog::reopen() {
    std::lock_guard lock(mu_);
    if (path_.empty()) return;
    flush_locked();  // what was written before the rotation belongs in the old file
    UniqueFd fresh(
        ::open(path_.c_str(), O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0600));
    if (!fresh) {
        LOG_WARN("cannot reopen --audit-log %s: %s; keeping the old file", path_.c_str(),
                 std::strerror(errno));
        return;
    }
    file_ = std::move(fresh);
}

namespace {
// Whole lines only: a short write is finished, never left half a line.
void write_all(int fd, const std::string& data) {
    std::size_t off = 0;
    while (off < data.size()) {
        ssize_t n = ::write(fd, data.data() + off, data.size() - off);
        if (n < 0 && errno == EINTR) continue;
        if (n <= 0) return;
        off += static_cast<std::size_t>(n);
    }
}
}  // namespace

void AuditLog::write(const AuditRecord& r) {
    std::lock_guard lock(mu_);
    if (log::enabled(log::Level::Info))
        log::append_line(stderr_lines_, log::Level::Info, "audit " + format_audit_text(r));
    if (file_) {
        const auto now = std::chrono::system_clock::now().time_since_epoch();
        file_lines_ += format_audit_json(
            r, std::chrono::duration_cast<std::chrono::milliseconds>(now).count());
        file_lines_.push_back('\n');
    }
    if (flush_pending_) return;  // another loop turn writes these lines too
    event* ours = nullptr;
    for (auto& [thread, ev] : flush_events_) {
        if (thread == std::this_thread::get_id()) ours = ev.get();
    }
    if (ours == nullptr) {
        flush_locked();
    } else {
        flush_pending_ = true;
        event_active(ours, 0, 0);
    }
}

void AuditLog::on_flush(evutil_socket_t, short, void* arg) noexcept {
    static_cast<AuditLog*>(arg)->flush();
}

void AuditLog::flush() {
    std::lock_guard lock(mu_);
    flush_locked();
}

// Under mu_: lines of different threads never interleave mid-line.
void AuditLog::flush_locked() {
    flush_pending_ = false;
    if (!stderr_lines_.empty()) write_all(STDERR_FILENO, stderr_lines_);
    if (file_ && !file_lines_.empty()) write_all(file_.get(), file_lines_);
    stderr_lines_.clear();
    file_lines_.clear();
}

}  // namespace proxy
