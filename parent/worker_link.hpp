// The parent's side of one worker: its IPC channel, its streams, and the
// dispatch table that answers its messages. The worker may be compromised:
// every message is checked against the table's allowed states, and anything
// malformed, unknown or out of state gets the worker killed.
#pragma once

#include <sys/types.h>

#include <chrono>
#include <cstdint>
#include <memory>
#include <unordered_map>
#include <vector>

#include "common/channel.hpp"
#include "parent/upstream_exchange.hpp"
#include "policy/forward_policy.hpp"

namespace proxy {

class Supervisor;

class WorkerLink : public ChannelOwner, public StreamSink {
  public:
    WorkerLink(Supervisor& supervisor, UpstreamEnv& env, event_base* base, unsigned id, pid_t pid,
               UniqueFd channel_fd);
    ~WorkerLink() override;

    unsigned id() const { return id_; }
    pid_t pid() const { return pid_; }
    bool draining = false;
    std::chrono::steady_clock::time_point started;

    // The worker is gone: cancel its upstream exchanges, close the channel.
    void drop_all_streams();
    std::size_t stream_count() const { return streams_.size(); }
    // Open streams of all worker links, on every upstream thread.
    static long open_streams_in_process();

    void send_to_worker(ipc::Type type, std::uint32_t stream, std::string_view payload) override;
    void exchange_done(std::uint32_t stream) override;

    // Dispatch table entries (OpenSSH monitor style): the worker's ask_X is
    // answered by answer_X. Each returns false when the message breaks the
    // protocol.
    bool answer_req_open(const ipc::MessageView& m, UpstreamExchange* ex);
    bool answer_req_body(const ipc::MessageView& m, UpstreamExchange* ex);
    bool answer_req_end(const ipc::MessageView& m, UpstreamExchange* ex);
    bool answer_req_cancel(const ipc::MessageView& m, UpstreamExchange* ex);
    bool answer_resp_credit(const ipc::MessageView& m, UpstreamExchange* ex);
    bool answer_shutdown(const ipc::MessageView& m, UpstreamExchange* ex);
    bool answer_conn_open(const ipc::MessageView& m, UpstreamExchange* ex);
    bool answer_conn_close(const ipc::MessageView& m, UpstreamExchange* ex);
    bool answer_shutdown_ask(const ipc::MessageView& m, UpstreamExchange* ex);
    bool answer_refused(const ipc::MessageView& m, UpstreamExchange* ex);

  private:
    void on_message(const ipc::MessageView& msg) override;
    void on_channel_down(const char* why, bool malformed) override;
    void hostile(const char* what, const char* why);
    // The request is over: the caller's account and the audit line.
    void account_for(UpstreamExchange& ex);
    void refuse_open(std::uint32_t stream, const PeerIdentity& who, const Refusal& r,
                     std::uint32_t retry_after);
    static void on_reap(evutil_socket_t, short, void* arg);

    Supervisor& supervisor_;
    UpstreamEnv& env_;
    ForwardRules forward_rules_;
    unsigned id_;
    pid_t pid_;
    Channel channel_;
    std::unordered_map<std::uint32_t, std::unique_ptr<UpstreamExchange>> streams_;
    std::vector<std::unique_ptr<UpstreamExchange>> graveyard_;
    EventPtr reap_event_;
    std::uint32_t max_stream_seen_ = 0;
    // Connections the worker handed over (ConnOpen), and who is at the other
    // end of each, as the kernel said when it was handed over.
    std::unordered_map<std::uint32_t, PeerIdentity> conns_;
    std::uint32_t max_conn_seen_ = 0;
    bool shutdown_granted_ = false;  // one-shot: a granted ShutdownAsk allows one Shutdown
    bool killed_ = false;
};

}  // namespace proxy
