// The worker process: accepts clients on the inherited listener and relays
// requests to the parent over the IPC channel. Never sees the key.
#pragma once

#include <cstdint>
#include <list>
#include <memory>
#include <unordered_map>
#include <vector>

#include "common/event_ptr.hpp"
#include "common/http_error.hpp"
#include "common/idle_trim.hpp"
#include "common/options.hpp"
#include "common/worker_fds.hpp"
#include "policy/header_policy.hpp"
#include "policy/request_policy.hpp"
#include "worker/parent_link.hpp"
#include "worker/request_intake.hpp"

namespace proxy {

class ClientConnection;

class WorkerProcess {
  public:
    explicit WorkerProcess(const Options& options);
    ~WorkerProcess();
    int run();

    // For ClientConnection.
    event_base* base() const { return base_.get(); }
    const Options& options() const { return options_; }
    // What a head on a TCP or a unix-socket connection is checked against.
    const IntakeRules& intake_rules(bool unix_peer) const {
        return unix_peer ? unix_intake_rules_ : intake_rules_;
    }
    // The one link to the parent: every message to it is an ask_X there.
    ParentLink& parent() { return *parent_; }
    std::uint32_t open_stream(ClientConnection* conn);
    void end_stream(std::uint32_t stream);
    // For ParentLink: the connection a stream or a connection id names, or
    // null once it has ended; and leaving the loop with `status`.
    ClientConnection* stream_client(std::uint32_t stream) const;
    ClientConnection* client(std::uint32_t conn_id) const;
    void quit(int status);
    void connection_closed(ClientConnection* conn);
    // Write-through: conn's output is written once, this loop turn.
    void schedule_flush(ClientConnection* conn);
    void cancel_flush(ClientConnection* conn);
    bool draining() const { return draining_; }

  private:
    static void on_accept(evconnlistener*, evutil_socket_t fd, sockaddr*, int, void* arg) noexcept;
    static void on_signal(evutil_socket_t sig, short, void* arg) noexcept;
    static void on_reap(evutil_socket_t, short, void* arg) noexcept;
    static void on_flush(evutil_socket_t, short, void* arg) noexcept;
    static void on_accept_error(evconnlistener*, void* arg) noexcept;
    static void on_accept_resume(evutil_socket_t, short, void* arg) noexcept;
    bool shed_one();
    void begin_drain();
    void maybe_exit();
    static bool no_open_streams(void* arg) noexcept;

    Options options_;
    EventBasePtr base_;
    std::unique_ptr<ParentLink> parent_;
    EvListenerPtr listener_;
    EventPtr sigterm_, sigint_, sighup_, reap_event_, accept_pause_, flush_event_;
    std::uint32_t max_connections_ = 0;           // --max-connections, capped by RLIMIT_NOFILE
    std::list<ClientConnection*> arrival_order_;  // oldest first, for shedding
    RequestPolicy request_policy_;
    RequestPolicy unix_request_policy_;
    EvListenerPtr unix_listener_;
    IntakeRules intake_rules_;
    IntakeRules unix_intake_rules_;
    std::unordered_map<ClientConnection*, std::unique_ptr<ClientConnection>> connections_;
    std::unordered_map<std::uint32_t, ClientConnection*> streams_;
    std::unordered_map<std::uint32_t, ClientConnection*> conn_ids_;  // ConnOpen'ed, not yet closed
    std::uint32_t next_conn_ = 1;
    std::vector<std::unique_ptr<ClientConnection>> graveyard_;  // freed on the next loop turn
    std::vector<ClientConnection*> dirty_;     // output to write this loop turn; never closed ones
    std::vector<ClientConnection*> flushing_;  // on_flush's batch, kept for its capacity
    std::uint32_t next_stream_ = 1;
    bool draining_ = false;
    int exit_status_ = 0;
    std::unique_ptr<IdleTrim> idle_trim_;  // made with base_
};

int run_worker(const Options& options);

}  // namespace proxy
