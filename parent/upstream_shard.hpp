// One of the parent's upstream event loops (--upstream-threads): an event
// base, a resolver, a pool of upstream connections, and the workers whose
// requests it carries (each worker talks to exactly one loop, so a stream
// never crosses threads). Loop 0 is the parent's main loop; the others run
// on threads of their own, started after the parent dropped its
// capabilities (they are per thread) and held at a gate until its seccomp
// filter (TSYNC) covers them too.
//
// What the loops share is thread-safe: the credential (one locked page, read
// by reference), the per-user access control and audit log (one lock), the
// dump writer (its queue), the upstream TLS context (OpenSSL's own locks).
// The main loop talks to a shard only through its mailbox, and back.
#pragma once

#include <sys/types.h>

#include <atomic>
#include <future>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "common/event_ptr.hpp"
#include "common/result.hpp"
#include "parent/loop_mailbox.hpp"
#include "parent/parent_ptr.hpp"
#include "parent/upstream/upstream_exchange.hpp"
#include "parent/upstream/upstream_pool.hpp"
#include "parent/workers/supervisor.hpp"

namespace proxy {

// What every shard is built from; owned by the parent, outlives the shards.
struct ShardShared {
    const Options& options;
    Credential& credential;
    DumpWriter* dump;
    AccessControl& access;
    UpstreamPool::Config pool;
    int listen_fd = -1;
    int unix_fd = -1;
    int exe_fd = -1;
};

// How many upstream loops, and which workers each supervises.
unsigned upstream_thread_count(const Options& o, unsigned cores);
std::vector<unsigned> shard_worker_ids(unsigned shard, unsigned shards, unsigned workers);

class UpstreamShard {
  public:
    // Commands from the main loop (UpstreamShard::post).
    // kPing: answered by counting pongs (the watchdog: is the loop turning?).
    enum : unsigned { kReload = 1u, kChildExit = 2u, kStop = 4u, kExit = 8u, kPing = 16u };
    // Notes to the main loop (its mailbox): a shard's supervisor wants the
    // proxy to stop (0: GET /shutdown; 1: no worker can run), or a shard
    // has stopped accepting / finished draining, or has done a kReload.
    enum : unsigned { kWantStopOk = 1u, kWantStopFailed = 2u, kProgress = 4u, kReloaded = 8u };

    UpstreamShard(ShardShared& shared, unsigned index, std::vector<unsigned> worker_ids,
                  LoopMailbox& main);
    ~UpstreamShard();
    UpstreamShard(const UpstreamShard&) = delete;
    UpstreamShard& operator=(const UpstreamShard&) = delete;

    // main_base/main_dns: the parent's own loop and resolver for shard 0;
    // null for a loop on a thread of its own.
    Result<void> init(event_base* main_base, evdns_base* main_dns);
    Result<void> start_workers();
    // Shard 0 runs on the caller's loop and needs no thread.
    Result<void> start_thread(std::shared_future<void> gate);
    // From the main loop: through the mailbox once the shard's thread runs,
    // directly before that and always for shard 0 (same thread).
    void command(unsigned commands);
    Supervisor& supervisor() { return *supervisor_; }
    bool threaded() const { return thread_.joinable(); }
    void join();

    unsigned index() const { return index_; }
    bool stop_acknowledged() const { return stop_acked_.load(); }
    bool drained() const { return drained_.load(); }
    unsigned pongs() const { return pongs_.load(); }
    // From the main loop: reload, as the reload numbered `generation`.
    // Mailbox bits coalesce, so a shard behind on several reloads does one,
    // and reloads() says the last generation that one covered.
    void ask_reload(unsigned generation);
    unsigned reloads() const { return reloads_.load(); }
    event_base* base() const { return base_; }

  private:
    void on_commands(unsigned bits);
    void run(std::shared_future<void> gate);

    ShardShared& shared_;
    unsigned index_;
    std::vector<unsigned> worker_ids_;
    LoopMailbox& main_;
    EventBasePtr own_base_;  // null for shard 0
    EvDnsBasePtr own_dns_;
    event_base* base_ = nullptr;
    evdns_base* dns_ = nullptr;
    LoopMailbox mailbox_;
    std::unique_ptr<UpstreamPool> pool_;
    std::unique_ptr<UpstreamEnv> env_;
    std::unique_ptr<Supervisor> supervisor_;
    std::thread thread_;
    std::atomic<bool> stop_acked_{false};
    std::atomic<bool> drained_{false};
    std::atomic<unsigned> pongs_{0};
    std::atomic<unsigned> reload_asked_{0};
    std::atomic<unsigned> reloads_{0};
};

// A resolver for `base`: the system's name servers, or /etc/hosts alone.
EvDnsBasePtr make_resolver(event_base* base);

}  // namespace proxy
