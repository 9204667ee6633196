#include "parent/files/trusted_path.hpp"

#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <climits>
#include <cstdio>
#include <cstring>
#include <deque>

namespace proxy {

namespace {

// As the kernel's own limit on symbolic links in one lookup (MAXSYMLINKS).
constexpr int kMaxLinks = 40;

std::string mode_text(mode_t m) {
    char buf[16];
    std::snprintf(buf, sizeof buf, "mode %04o", static_cast<unsigned>(m & 07777));
    return buf;
}

std::string owner_problem(const struct stat& st, uid_t self) {
    if (st.st_uid == 0 || st.st_uid == self) return "";
    return "owned by uid " + std::to_string(st.st_uid);
}

std::string whose(uid_t self) {
    return self == 0 ? "root" : "root or the proxy's own user (uid " + std::to_string(self) + ")";
}

// Walks a path the way the kernel resolves it, one component at a time with
// O_PATH|O_NOFOLLOW, so that what is checked is what is used: a component
// swapped after its check is reached through a directory already found to
// be unchangeable by others.
class Walk {
  public:
    Walk(const std::string& path, std::string& error)
        : path_(path), self_(::geteuid()), error_(error) {}

    bool run(bool follow_last) {
        if (path_.empty()) return fail_text("empty path");
        push_front(path_);
        if (!start(path_.front() == '/')) return false;
        int links = 0;
        for (;;) {
            while (!parts_.empty() && (parts_.front().empty() || parts_.front() == "."))
                parts_.pop_front();
            if (parts_.empty()) return fail_text("names a directory, not a file");
            const std::string name = parts_.front();
            parts_.pop_front();
            const bool last = parts_.empty();
            if (name == "..") {
                if (last) return fail_text("names a directory, not a file");
                if (!enter(UniqueFd(::openat(dir_.get(), "..", kPath | O_DIRECTORY)),
                           join(shown_, "..")))
                    return false;
                continue;
            }
            const std::string here = join(shown_, name);
            UniqueFd fd(::openat(dir_.get(), name.c_str(), kPath | O_NOFOLLOW));
            if (!fd && last && errno == ENOENT) return done(name, here);  // the caller decides
            struct stat st {};
            if (!fd || ::fstat(fd.get(), &st) != 0) return fail_errno();
            if (S_ISLNK(st.st_mode) && (!last || follow_last)) {
                if (++links > kMaxLinks) {
                    errno = ELOOP;
                    return fail_errno();
                }
                if (!check(here, symlink_trust_problem(st, self_))) return false;
                std::string target(PATH_MAX, '\0');
                const ssize_t n = ::readlinkat(fd.get(), "", target.data(), target.size());
                if (n <= 0 || static_cast<std::size_t>(n) >= target.size()) return fail_errno();
                target.resize(static_cast<std::size_t>(n));
                push_front(target);
                if (target.front() == '/' && !start(true)) return false;
                continue;
            }
            if (last) return done(name, here);
            if (!S_ISDIR(st.st_mode)) {
                errno = ENOTDIR;
                return fail_errno();
            }
            if (!check(here, directory_trust_problem(st, self_))) return false;
            dir_ = std::move(fd);
            shown_ = here;
        }
    }

    TrustedParent take() { return std::move(last_); }

  private:
    static constexpr int kPath = O_PATH | O_CLOEXEC;

    static std::string join(const std::string& dir, const std::string& name) {
        if (dir.empty()) return name;
        return (dir == "/" ? "" : dir) + "/" + name;
    }

    void push_front(const std::string& p) {
        std::deque<std::string> more;
        for (std::size_t at = 0; at <= p.size();) {
            const std::size_t slash = std::min(p.find('/', at), p.size());
            more.push_back(p.substr(at, slash - at));
            at = slash + 1;
        }
        parts_.insert(parts_.begin(), more.begin(), more.end());
    }

    // The root, or the working directory and every directory above it.
    bool start(bool absolute) {
        if (absolute) return enter(UniqueFd(::open("/", kPath | O_DIRECTORY)), "/");
        UniqueFd here(::open(".", kPath | O_DIRECTORY));
        if (!here) return fail_errno();
        std::string shown = ".";
        for (;;) {
            struct stat st {};
            UniqueFd up(::openat(here.get(), "..", kPath | O_DIRECTORY));
            struct stat up_st {};
            if (!up || ::fstat(here.get(), &st) != 0 || ::fstat(up.get(), &up_st) != 0)
                return fail_errno();
            if (!check(shown, directory_trust_problem(st, self_))) return false;
            if (up_st.st_dev == st.st_dev && up_st.st_ino == st.st_ino) break;
            here = std::move(up);
            shown += "/..";
        }
        dir_.reset(::open(".", kPath | O_DIRECTORY));
        shown_.clear();  // names below it are shown as the path gives them
        if (!dir_) return fail_errno();
        return true;
    }

    bool enter(UniqueFd fd, std::string shown) {
        struct stat st {};
        if (!fd || ::fstat(fd.get(), &st) != 0) return fail_errno();
        if (!check(shown, directory_trust_problem(st, self_))) return false;
        dir_ = std::move(fd);
        shown_ = std::move(shown);
        return true;
    }

    bool check(const std::string& shown, const std::string& problem) {
        if (problem.empty()) return true;
        error_ = path_ + ": " + (shown == path_ ? "" : shown + " on its path is ") + problem +
                 "; only " + whose(self_) + " may be able to change it or where it leads";
        return false;
    }

    bool fail_text(const std::string& what) {
        error_ = path_ + ": " + what;
        return false;
    }
    bool fail_errno() {
        error_ = path_ + ": " + std::strerror(errno);
        return false;
    }
    bool done(const std::string& name, const std::string& shown) {
        last_ = TrustedParent{std::move(dir_), name, shown};
        return true;
    }

    const std::string& path_;
    const uid_t self_;
    std::string& error_;
    std::deque<std::string> parts_;
    TrustedParent last_;
    UniqueFd dir_;
    std::string shown_;
};

}  // namespace

std::string file_trust_problem(const struct stat& st, uid_t self) {
    if (!S_ISREG(st.st_mode)) return "not a regular file";
    if (auto p = owner_problem(st, self); !p.empty()) return p;
    if (st.st_mode & S_IWOTH) return "writable by everyone (" + mode_text(st.st_mode) + ")";
    if (st.st_mode & S_IWGRP) return "writable by its group (" + mode_text(st.st_mode) + ")";
    return "";
}

std::string directory_trust_problem(const struct stat& st, uid_t self) {
    if (!S_ISDIR(st.st_mode)) return "not a directory";
    if (auto p = owner_problem(st, self); !p.empty()) return "a directory " + p;
    // Sticky: others may add names but not rename or remove ours.
    if (st.st_mode & S_ISVTX) return "";
    if (st.st_mode & S_IWOTH)
        return "a directory writable by everyone, not sticky (" + mode_text(st.st_mode) + ")";
    if (st.st_mode & S_IWGRP)
        return "a directory writable by its group, not sticky (" + mode_text(st.st_mode) + ")";
    return "";
}

std::string symlink_trust_problem(const struct stat& st, uid_t self) {
    if (!S_ISLNK(st.st_mode)) return "not a symbolic link";
    if (auto p = owner_problem(st, self); !p.empty()) return "a symbolic link " + p;
    return "";
}

Result<TrustedParent> open_trusted_parent(const std::string& path, bool follow_last) {
    std::string error;
    Walk walk(path, error);
    if (!walk.run(follow_last)) return Error{std::move(error)};
    return walk.take();
}

Result<UniqueFd> open_trusted_file(const std::string& path, bool follow_last) {
    auto parent = open_trusted_parent(path, follow_last);
    if (!parent) return Error{parent.error()};
    const int dir = parent->dir.get();
    const char* name = parent->name.c_str();
    // Looked at before it is opened: opening a FIFO or a device may block
    // or do something.
    UniqueFd peek(::openat(dir, name, O_PATH | O_NOFOLLOW | O_CLOEXEC));
    struct stat st {};
    if (!peek) {
        if (errno == ENOENT) return UniqueFd();  // missing: the caller decides what that means
        return Error{"cannot read " + path + ": " + std::strerror(errno)};
    }
    if (::fstat(peek.get(), &st) != 0)
        return Error{"cannot read " + path + ": " + std::strerror(errno)};
    const uid_t self = ::geteuid();
    if (S_ISLNK(st.st_mode)) return Error{path + ": a symbolic link; name the file itself"};
    if (auto problem = file_trust_problem(st, self); !problem.empty()) {
        return Error{
            path + ": " + (parent->shown == path ? "" : "it leads to " + parent->shown + ", ") +
            problem +
            (S_ISREG(st.st_mode) ? "; only " + whose(self) + " may be able to change it" : "")};
    }
    UniqueFd fd(::openat(dir, name, O_RDONLY | O_NOFOLLOW | O_NOCTTY | O_CLOEXEC));
    struct stat again {};
    if (!fd || ::fstat(fd.get(), &again) != 0)
        return Error{"cannot read " + path + ": " + std::strerror(errno)};
    if (again.st_dev != st.st_dev || again.st_ino != st.st_ino)
        return Error{path + ": replaced while it was being checked"};
    return fd;
}

}  // namespace proxy
