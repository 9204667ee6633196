#include "parent/descriptor_budget.hpp"

#include <sys/resource.h>

#include <algorithm>

#include "common/log.hpp"

namespace proxy {

void fit_connections_to_descriptors(Options& o) {
    rlimit nofile{};
    if (getrlimit(RLIMIT_NOFILE, &nofile) != 0) return;
    if (nofile.rlim_cur < nofile.rlim_max) {
        nofile.rlim_cur = nofile.rlim_max;
        setrlimit(RLIMIT_NOFILE, &nofile);
    }
    if (nofile.rlim_cur == RLIM_INFINITY) return;
    constexpr rlim_t kSpare = 256;  // listeners, logs, dumps, the resolver, workers' channels
    const rlim_t workers = std::max(1u, o.workers);
    const rlim_t fits = nofile.rlim_cur > kSpare ? (nofile.rlim_cur - kSpare) / (2 * workers) : 1;
    if (o.max_connections <= fits) return;
    LOG_WARN(
        "RLIMIT_NOFILE %llu: --max-connections lowered from %u to %llu per worker (the parent "
        "keeps two descriptors per connection); raise LimitNOFILE= for more",
        static_cast<unsigned long long>(nofile.rlim_cur), o.max_connections,
        static_cast<unsigned long long>(std::max<rlim_t>(fits, 1)));
    o.max_connections = static_cast<std::uint32_t>(std::max<rlim_t>(fits, 1));
}

}  // namespace proxy
