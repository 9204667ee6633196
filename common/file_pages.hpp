// Gives back the resident pages of this process's clean, read-only file
// mappings: library and executable code, symbol and relocation tables.
//
// Most of an idle proxy's resident memory is such pages, not its own data:
// start-up resolves every symbol of libcrypto (its 788 KiB of dynamic symbol
// and relocation tables stay mapped for good), and one TLS handshake maps
// 3 MiB of libcrypto code that the kernel's fault-around brings in in large
// blocks. Every one of those pages is an unmodified copy of a file that the
// page cache holds anyway, so unmapping them with MADV_DONTNEED loses nothing:
// the next use takes a minor fault that maps the cached page again (no disk
// read unless the system reclaimed it meanwhile). What this frees is this
// process's share of those pages and the page tables mapping them; pages
// other processes map (libc) stay in memory for them. Resident size (RSS, what
// top, ps and the benchmark's target count) falls by the full amount.
//
// Only mappings that are file-backed, private, readable, not writable and
// hold no anonymous (copy-on-write) page are touched: dropping a written copy
// would lose data (RELRO, the GOT after relocation, .data), and shared or
// writable mappings are never ours to discard. /proc/self/smaps says which is
// which; it is opened once, before a sandbox closes off /proc, and read again
// (pread) at every release, so each release decides on the mappings as they
// are at that moment. Nothing may turn a range read as a clean file mapping
// into another mapping before its madvise: the worker is single-threaded; the
// parent's upstream threads each release on their own, concurrently, which is
// safe because after start-up nothing in the parent unmaps a mapping of the
// kind a release picks (libraries and NSS modules stay loaded; what else
// comes and goes, malloc's large blocks or nscd's cache, is anonymous or
// shared, never picked).
#pragma once

#include <cstddef>
#include <cstdint>
#include <string_view>
#include <vector>

#include "common/unique_fd.hpp"

namespace proxy {

struct PageRange {
    std::uintptr_t begin = 0;
    std::uintptr_t end = 0;
};

// The ranges of an smaps text that may be released: see the header comment.
// Mappings with nothing resident are left out (nothing to give back).
std::vector<PageRange> releasable_file_ranges(std::string_view smaps);

class FilePages {
  public:
    // Opens /proc/self/smaps close-on-exec. Without /proc, release() does
    // nothing.
    FilePages();

    // Re-reads the mappings and unmaps the releasable ones. Returns the bytes
    // of address space advised (resident or not within them); 0 when /proc
    // was not available or nothing qualified. Costs a walk of the page
    // tables (0.25-0.5 ms on the benchmark VM): for idle moments, not the
    // hot path.
    std::size_t release();

  private:
    UniqueFd smaps_;
};

}  // namespace proxy
