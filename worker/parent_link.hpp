// The worker's side of its channel to the parent, the mirror of
// parent/workers/worker_link (OpenSSH's mm_X / mm_answer_X): every message
// the worker sends leaves from an ask_X here and is taken by the parent's
// WorkerLink::answer_X; every message the parent sends leaves from a tell_X
// there (StreamSink, WorkerLink) and is taken here by heard_X, from one table
// (parent_link.cpp: kHeard). Grep a message's stem (req_open, resp_head,
// shutdown_answer) and both halves come up.
//
// The parent is trusted, but a message from it that breaks the protocol (a
// payload that does not decode, credit for bytes never sent, a stream id
// where none belongs or none where one must be, a type only a worker sends)
// means the two disagree about what is going on: the worker logs one line
// and exits with exit_code::runtime, and the parent respawns it. Expect, or
// die; nothing is argued with.
#pragma once

#include <cstdint>
#include <string_view>

#include "common/channel.hpp"
#include "common/ipc.hpp"
#include "common/unique_fd.hpp"

namespace proxy {

class ClientConnection;
class WorkerProcess;

class ParentLink : public ChannelOwner {
  public:
    ParentLink(event_base* base, UniqueFd fd, WorkerProcess& worker);

    // ---- worker -> parent: one ask_X per message, answered by answer_X ----
    // A client connection just accepted, with its socket (SCM_RIGHTS): the
    // parent learns who is calling from the socket, not from us. False when
    // it could not be handed over; the caller closes the connection.
    bool ask_conn_open(std::uint32_t conn, int fd);
    void ask_conn_close(std::uint32_t conn);
    // `payload`: the encoded ipc::ReqOpen (take_request_head made it).
    void ask_req_open(std::uint32_t stream, std::string_view payload);
    // Body bytes of any size; the channel splits them into pieces.
    void ask_req_body(std::uint32_t stream, std::string_view data);
    void ask_req_end(std::uint32_t stream);
    void ask_req_cancel(std::uint32_t stream);
    void ask_resp_credit(std::uint32_t stream, std::uint32_t bytes);
    void ask_shutdown_ask(std::uint32_t conn);
    void ask_usage_ask(std::uint32_t conn);
    // GET /metrics on this connection: answered by MetricsAnswer.
    void ask_metrics_ask(std::uint32_t conn);
    // Our 200 to a granted GET /shutdown has been flushed.
    void ask_shutdown();
    void ask_refused(const ipc::Refused& note);

    // ---- parent -> worker: kHeard's handlers, one per tell_X ----
    // Each returns false when the message breaks the protocol (fatal).
    bool heard_resp_head(const ipc::MessageView& m);
    bool heard_resp_body(const ipc::MessageView& m);
    bool heard_resp_end(const ipc::MessageView& m);
    bool heard_resp_abort(const ipc::MessageView& m);
    bool heard_resp_error(const ipc::MessageView& m);
    bool heard_req_credit(const ipc::MessageView& m);
    bool heard_shutdown_answer(const ipc::MessageView& m);
    bool heard_usage_answer(const ipc::MessageView& m);
    bool heard_metrics_answer(const ipc::MessageView& m);

  private:
    void on_message(const ipc::MessageView& msg) override;
    void on_channel_down(const char* why, bool malformed) override;
    // The parent broke the protocol: one line, and the worker exits.
    void fatal(ipc::Type type, const char* why);
    // The stream's connection; null for a stream whose client already left
    // (the parent learns that from our ReqCancel: what crossed it is dropped).
    ClientConnection* client_of(std::uint32_t stream) const;
    // After a message has been handed on: the stream is still `conn`'s (a
    // folded end or body may find it ended by what came before it).
    bool still_open(std::uint32_t stream, const ClientConnection* conn) const;

    WorkerProcess& worker_;
    Channel channel_;
};

}  // namespace proxy
