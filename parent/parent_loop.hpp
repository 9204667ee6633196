// The parent's main loop once started: what it owns (the key's credential,
// the upstream loops, the listeners, the policy) and how it answers signals,
// the upstream loops' notes and systemd's watchdog. run_parent
// (parent_process.cpp) builds it phase by phase.
#pragma once

#include <event2/util.h>

#include <memory>
#include <vector>

#include "common/event_ptr.hpp"
#include "common/exit_codes.hpp"
#include "common/options.hpp"
#include "common/unique_fd.hpp"
#include "parent/key/credential.hpp"
#include "parent/key/key_rotation.hpp"
#include "parent/loop_mailbox.hpp"
#include "parent/oidc/oidc_token_source.hpp"
#include "parent/parent_ptr.hpp"
#include "parent/upstream/exchange_dump.hpp"
#include "parent/upstream_shard.hpp"
#include "parent/users/access_control.hpp"

namespace proxy {

struct Parent {
    explicit Parent(const Options& o) : options(o) {}
    const Options& options;
    EventBasePtr base;
    EvDnsBasePtr dns;
    SslCtxPtr tls;
    Credential credential;  // the key's page, or --github-oidc's access token
    KeyRotation key_rotation{options, credential};  // SIGHUP: --key-file again
    SslCtxPtr oidc_tls;
    std::unique_ptr<OidcTokenSource> oidc;
    std::unique_ptr<DumpWriter> dump;
    std::unique_ptr<AccessControl> access;
    std::unique_ptr<ShardShared> shared;
    LoopMailbox mailbox;  // notes from the upstream loops (UpstreamShard)
    // The upstream loops: shard 0 on this loop, the others on threads.
    std::vector<std::unique_ptr<UpstreamShard>> shards;
    UniqueFd listen_fd;
    UniqueFd unix_fd;
    EventPtr sigterm, sigint, sighup, sigchld;
    EventPtr watchdog;  // WATCHDOG=1 to systemd while the loop turns (WatchdogSec=)
    int exit_status = exit_code::ok;
    bool stopping = false;

    void command_all(unsigned commands);
    // SIGTERM, SIGINT, GET /shutdown, or no worker can run: drain, then exit.
    void stop(int status);
    // A shard stopped respawning workers, or finished draining.
    void on_progress();
    // Notes from the upstream loops (UpstreamShard::kWantStop... and the rest).
    void on_note(unsigned bits);

    unsigned reloads = 0;         // the generation of the last reload asked for
    bool reload_pending = false;  // RELOADING=1 said, READY=1 not yet

    // READY=1 ends a reload once every loop has replaced its workers
    // (`systemctl reload` waits for it), not when the threads were asked to.
    void on_reloaded();

    static void on_signal(evutil_socket_t sig, short, void* arg) noexcept;

    unsigned pings = 0;  // kPing sent to each upstream thread so far

    // WATCHDOG=1 only while every loop turns: the main loop (this callback)
    // and each upstream thread, which must have answered the previous ping.
    static void on_watchdog(evutil_socket_t, short, void* arg) noexcept;

    // Under WatchdogSec= systemd kills and restarts a parent whose loop has
    // stopped turning; the pings go on while open streams drain at shutdown.
    void start_watchdog();
};

}  // namespace proxy
