// Files the parent trusts, as sshd's StrictModes would have them: the
// --policy file (read at start and on SIGHUP), the --state-file (read at
// start), and the directory that holds the --listen-unix socket.
//
// Trusted means that nobody but root and the parent's own effective user can
// change what the name leads to: the file (or socket) itself, and every
// directory and symbolic link passed on the way there. A directory that
// others may write is refused unless it is sticky (like /tmp): there, others
// can add names but cannot rename or remove ours. Group write counts as
// "others" whatever the group, as for sshd; POSIX ACL entries that grant
// write show in the group bits (the ACL mask), so they are refused too.
#pragma once

#include <sys/stat.h>
#include <sys/types.h>

#include <string>

#include "common/result.hpp"
#include "common/unique_fd.hpp"

namespace proxy {

// What is wrong with a file, a directory or a symbolic link the parent would
// trust (its fstat/lstat), "" when nothing is. `self` is the parent's euid.
std::string file_trust_problem(const struct stat& st, uid_t self);
std::string directory_trust_problem(const struct stat& st, uid_t self);
std::string symlink_trust_problem(const struct stat& st, uid_t self);

// The directory that holds `path`'s last component, reached by checking, in
// the order the kernel resolves them, every directory and symbolic link on
// the way (a relative path: the working directory and every one above it).
// `name` is the last component; `shown` is how messages name it.
struct TrustedParent {
    UniqueFd dir;  // O_PATH
    std::string name;
    std::string shown;
};
// `follow_last`: a symbolic link as the last component is followed (checked
// like the others); otherwise it is returned as is. On refusal, one line:
// "PATH: what is wrong".
Result<TrustedParent> open_trusted_parent(const std::string& path, bool follow_last);

// A regular file to read, checked as above (a symbolic link at the end is
// followed when `follow_last`, else refused). A missing file is no error but
// an empty fd, so the caller decides what missing means.
Result<UniqueFd> open_trusted_file(const std::string& path, bool follow_last);

}  // namespace proxy
