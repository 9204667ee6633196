#include "parent/upstream_shard.hpp"

#include <event2/dns.h>

#include <algorithm>

#include "common/event_base.hpp"
#include "common/log.hpp"
#include "parent/users/access_control.hpp"

namespace proxy {

unsigned upstream_thread_count(const Options& o, unsigned cores) {
    // A loop without a worker would carry nothing: never more than workers.
    const unsigned wanted = o.upstream_threads != 0 ? o.upstream_threads : std::max(cores, 1u);
    return std::min(wanted, o.workers);
}

std::vector<unsigned> shard_worker_ids(unsigned shard, unsigned shards, unsigned workers) {
    std::vector<unsigned> ids;
    for (unsigned id = 1; id <= workers; ++id) {
        if ((id - 1) % shards == shard) ids.push_back(id);
    }
    return ids;
}

EvDnsBasePtr make_resolver(event_base* base) {
    EvDnsBasePtr dns(
        evdns_base_new(base, EVDNS_BASE_INITIALIZE_NAMESERVERS | EVDNS_BASE_DISABLE_WHEN_INACTIVE));
    if (!dns) {
        // No resolv.conf: numeric hosts and /etc/hosts still work.
        dns.reset(evdns_base_new(base, 0));
        if (dns) evdns_base_load_hosts(dns.get(), nullptr);
    }
    return dns;
}

UpstreamShard::UpstreamShard(ShardShared& shared, unsigned index, std::vector<unsigned> worker_ids,
                             LoopMailbox& main)
    : shared_(shared), index_(index), worker_ids_(std::move(worker_ids)), main_(main) {}

UpstreamShard::~UpstreamShard() {
    join();
    // Streams and connections go first, on their own base; then that
    // base's audit flush event, before the base itself.
    supervisor_.reset();
    env_.reset();
    pool_.reset();
    if (own_base_) shared_.access.unbind_loop(own_base_.get());
}

Result<void> UpstreamShard::init(event_base* main_base, evdns_base* main_dns) {
    if (main_base != nullptr) {
        base_ = main_base;
        dns_ = main_dns;
    } else {
        own_base_.reset(new_event_base());
        if (!own_base_) return Error{"cannot create an event base"};
        base_ = own_base_.get();
        own_dns_ = make_resolver(base_);
        dns_ = own_dns_.get();
    }
    if (auto opened = mailbox_.open(base_, [this](unsigned bits) { on_commands(bits); }); !opened)
        return opened;
    pool_ = std::make_unique<UpstreamPool>(base_, dns_, shared_.pool);
    env_ = std::make_unique<UpstreamEnv>(
        UpstreamEnv{*pool_, shared_.credential, shared_.options, shared_.dump, shared_.access});
    supervisor_ = std::make_unique<Supervisor>(base_, *env_, shared_.listen_fd, shared_.unix_fd,
                                               shared_.exe_fd, worker_ids_);
    supervisor_->set_stop_handler(
        [this](int status) { main_.post(status == 0 ? kWantStopOk : kWantStopFailed); });
    pool_->set_on_emptied(&Supervisor::pool_emptied, supervisor_.get());
    return {};
}

Result<void> UpstreamShard::start_workers() {
    return supervisor_->start_all();
}

Result<void> UpstreamShard::start_thread(std::shared_future<void> gate) {
    if (!own_base_) return {};
    try {
        thread_ = std::thread([this, gate] { run(gate); });
    } catch (const std::system_error& e) {
        return Error{std::string("cannot start upstream thread: ") + e.what()};
    }
    return {};
}

void UpstreamShard::run(std::shared_future<void> gate) {
    shared_.access.bind_loop(base_);
    gate.wait();  // the parent's seccomp filter is in place
    // Idle from the start, as the main loop: see common/idle_trim.hpp.
    supervisor_->maybe_idle();
    event_base_dispatch(base_);
}

void UpstreamShard::command(unsigned commands) {
    if (thread_.joinable()) {
        mailbox_.post(commands);
    } else {
        on_commands(commands);
    }
}

void UpstreamShard::ask_reload(unsigned generation) {
    reload_asked_.store(generation);
    command(kReload);
}

void UpstreamShard::join() {
    if (thread_.joinable()) thread_.join();
}

void UpstreamShard::on_commands(unsigned bits) {
    if (bits & kChildExit) supervisor_->on_child_exit();
    if (bits & kReload) {
        const unsigned generation = reload_asked_.load();
        supervisor_->reload();
        reloads_.store(generation);
        main_.post(kReloaded);
    }
    if (bits & kStop) {
        supervisor_->begin_shutdown([this] {
            drained_.store(true);
            main_.post(kProgress);
        });
        // No respawn from here on: the parent may close the listeners.
        stop_acked_.store(true);
        main_.post(kProgress);
    }
    if (bits & kPing) pongs_.fetch_add(1);
    if (bits & kExit) event_base_loopexit(base_, nullptr);
}

}  // namespace proxy
