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
#include "parent/upstream/upstream_exchange.hpp"
#include "parent/users/audit_log.hpp"
#include "policy/forward_policy.hpp"
#include "policy/rate_limit.hpp"

namespace proxy {

class Supervisor;

class WorkerLink : public ChannelOwner, public StreamSink {
  public:
    WorkerLink(Supervisor& supervisor, UpstreamEnv& env, event_base* base, unsigned id, pid_t pid,
               UniqueFd channel_fd);
    ~WorkerLink() override;

    unsigned id() const { return id_; }
    // The parent killed it for breaking the protocol (hostile()).
    bool killed_by_parent() const { return killed_; }
    pid_t pid() const { return pid_; }
    bool draining = false;
    std::chrono::steady_clock::time_point started;

    // The worker is gone: cancel its upstream exchanges, close the channel.
    void drop_all_streams();
    std::size_t stream_count() const { return streams_.size(); }
    // Bytes queued toward the worker that its socket has not taken yet.
    std::size_t queued_to_worker() const { return channel_.queued_bytes(); }
    // Open streams of all worker links, on every upstream thread.
    static long open_streams_in_process();

    void exchange_done(std::uint32_t stream) override;
    bool backlogged() const override;
    void wait_for_room(std::uint32_t stream) override;

    // What the parent queues toward one worker: exchanges stop reading
    // upstream at kBacklogHigh; past queue_cap_ the worker is killed.
    static constexpr std::size_t kBacklogHigh = 4u << 20;
    // A worker holds at most --max-connections clients; twice that is a
    // worker that forgets to close what it opened. (A ConnOpen leaves at
    // once, so it may overtake a queued ConnClose: the count may run ahead.)
    static std::size_t max_client_conns(const Options& o) {
        return 2 * static_cast<std::size_t>(o.max_connections) + 64;
    }

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
    bool answer_usage_ask(const ipc::MessageView& m, UpstreamExchange* ex);
    bool answer_metrics_ask(const ipc::MessageView& m, UpstreamExchange* ex);

  private:
    void send_to_worker(ipc::Type type, std::uint32_t stream, std::string_view payload) override;
    void send_to_worker(ipc::Type type, std::uint32_t stream, std::string_view payload,
                        std::uint16_t flags);
    // The answer to answer_shutdown_ask, heard by the worker's
    // ParentLink::heard_shutdown_answer (the rest of what the parent says is
    // StreamSink's tell_X).
    void tell_shutdown_answer(std::uint32_t conn, ipc::ShutdownVerdict verdict);
    void tell_usage_answer(const ipc::UsageAnswer& answer);
    // The answer to answer_metrics_ask, in pieces, heard by the worker's
    // ParentLink::heard_metrics_answer.
    void tell_metrics_answer(std::uint32_t conn, ipc::MetricsVerdict verdict,
                             std::string_view text);
    void on_message(const ipc::MessageView& msg) override;
    void on_channel_down(const char* why, bool malformed) override;
    void on_channel_drained() override;
    void hostile(const char* what, const char* why);
    // The request is over: the caller's account and the audit line.
    void account_for(UpstreamExchange& ex);
    void refuse_open(std::uint32_t stream, const PeerIdentity& who, const Refusal& r,
                     std::uint32_t retry_after);
    static void on_reap(evutil_socket_t, short, void* arg) noexcept;
    // The audit line of a refusal this worker brought about (its own, or the
    // parent's answer to its ReqOpen or ShutdownAsk): at most kAuditPerMinute
    // lines, the rest counted and the count written with the next line that
    // goes out. A worker looping on refused requests gets no more than that
    // out of the parent's log; the user's counters still count every one.
    void audit_refusal(const PeerIdentity& who, AuditRecord& a);

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
    // A client connection the worker handed over (ConnOpen): who is at the
    // other end, as the kernel said then, and the socket itself. The parent
    // keeps it (it never reads or writes a byte of it) to see the client
    // leave: from then on the connection is no longer that user's, whatever
    // the worker says, and its streams are cancelled.
    //
    // The sockets are watched for EPOLLRDHUP in an epoll set of the link's
    // own (clients_watch_), not with libevent events: libevent's epoll
    // changelist removes an fd lazily, and a closed socket that the worker
    // still holds would stay in the set and report its close under the fd
    // number of the next connection. Here removal is immediate, and an
    // event names the connection by id, not by fd.
    struct ClientConn {
        std::uint32_t id = 0;
        PeerIdentity who;
        UniqueFd fd;  // -1 once gone
        bool gone = false;
    };
    static void on_clients_closed(evutil_socket_t, short, void* arg) noexcept;
    void client_gone(ClientConn& c);
    void unwatch(ClientConn& c);

    std::unordered_map<std::uint32_t, std::unique_ptr<ClientConn>> conns_;
    UniqueFd clients_watch_;  // epoll set: the kept client sockets, EPOLLRDHUP
    EventPtr clients_watch_event_;
    std::uint32_t max_conn_seen_ = 0;
    bool shutdown_granted_ = false;  // one-shot: a granted ShutdownAsk allows one Shutdown
    bool killed_ = false;
    std::size_t queue_cap_;
    bool overflowed_ = false;  // queue past its cap: killed on the next loop turn
    std::vector<std::uint32_t> waiting_for_room_;
    TokenBucket audit_bucket_;
    std::uint64_t audit_dropped_ = 0;
};

}  // namespace proxy
