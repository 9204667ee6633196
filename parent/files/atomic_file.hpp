// Files the parent replaces whole: --server-info and --state-file.
//
// A temporary in the target's own directory, then rename(2), so a reader sees
// the old file or the new one, never half of one. The temporary's name has
// 64 random bits (getrandom) and it is created O_CREAT|O_EXCL|O_NOFOLLOW: a
// file or symbolic link that another user planted at a name we might use, or
// one that a crash left behind, is never opened, written through or reused.
// On failure the temporary is removed and the target left as it was.
#pragma once

#include <sys/types.h>

#include <string>
#include <string_view>

#include "common/result.hpp"

namespace proxy {

// Replaces `path` with `data`, mode `mode` (whatever the umask). The
// directory is opened once, and the temporary created and renamed relative
// to it, so both are in the same directory even if a name on the way to it
// changes in between.
Result<void> replace_file(const std::string& path, std::string_view data, mode_t mode);

// "<name>.tmp.<16 hex digits>", the digits from getrandom; "" if the kernel
// gave no random bytes.
std::string temporary_name(const std::string& name);

}  // namespace proxy
