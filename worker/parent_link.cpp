#include "worker/parent_link.hpp"

#include "common/exit_codes.hpp"
#include "common/log.hpp"
#include "worker/client_connection.hpp"
#include "worker/worker_process.hpp"

namespace proxy {

namespace {

struct Heard {
    ipc::Type type;
    bool on_stream;  // names a stream (else stream 0: about a connection)
    bool (ParentLink::*handler)(const ipc::MessageView&);
};

// Everything the parent may say. Nothing else is taken.
constexpr Heard kHeard[] = {
    {ipc::Type::RespHead, true, &ParentLink::heard_resp_head},
    {ipc::Type::RespBody, true, &ParentLink::heard_resp_body},
    {ipc::Type::RespEnd, true, &ParentLink::heard_resp_end},
    {ipc::Type::RespAbort, true, &ParentLink::heard_resp_abort},
    {ipc::Type::RespError, true, &ParentLink::heard_resp_error},
    {ipc::Type::ReqCredit, true, &ParentLink::heard_req_credit},
    {ipc::Type::ShutdownAnswer, false, &ParentLink::heard_shutdown_answer},
    {ipc::Type::UsageAnswer, false, &ParentLink::heard_usage_answer},
    {ipc::Type::MetricsAnswer, false, &ParentLink::heard_metrics_answer},
};

}  // namespace

ParentLink::ParentLink(event_base* base, UniqueFd fd, WorkerProcess& worker)
    : worker_(worker), channel_(base, std::move(fd), *this) {}

// ---- asks ----

bool ParentLink::ask_conn_open(std::uint32_t conn, int fd) {
    return channel_.send_with_fd(ipc::Type::ConnOpen, 0, ipc::encode_u32(conn), fd);
}

void ParentLink::ask_conn_close(std::uint32_t conn) {
    channel_.send(ipc::Type::ConnClose, 0, ipc::encode_u32(conn));
}

void ParentLink::ask_req_open(std::uint32_t stream, std::string_view payload) {
    channel_.send(ipc::Type::ReqOpen, stream, payload);
}

void ParentLink::ask_req_body(std::uint32_t stream, std::string_view data) {
    channel_.send_data(ipc::Type::ReqBody, stream, data);
}

void ParentLink::ask_req_end(std::uint32_t stream) {
    channel_.send(ipc::Type::ReqEnd, stream);
}

void ParentLink::ask_req_cancel(std::uint32_t stream) {
    channel_.send(ipc::Type::ReqCancel, stream);
}

void ParentLink::ask_resp_credit(std::uint32_t stream, std::uint32_t bytes) {
    channel_.send(ipc::Type::RespCredit, stream, ipc::encode_u32(bytes));
}

void ParentLink::ask_shutdown_ask(std::uint32_t conn) {
    channel_.send(ipc::Type::ShutdownAsk, 0, ipc::encode_u32(conn));
}

void ParentLink::ask_usage_ask(std::uint32_t conn) {
    channel_.send(ipc::Type::UsageAsk, 0, ipc::encode_u32(conn));
}

void ParentLink::ask_metrics_ask(std::uint32_t conn) {
    channel_.send(ipc::Type::MetricsAsk, 0, ipc::encode_u32(conn));
}

void ParentLink::ask_shutdown() {
    channel_.send(ipc::Type::Shutdown, 0);
}

void ParentLink::ask_refused(const ipc::Refused& note) {
    channel_.send(ipc::Type::Refused, 0, ipc::encode_refused(note));
}

// ---- what the parent says ----

void ParentLink::on_message(const ipc::MessageView& msg) {
    for (const Heard& h : kHeard) {
        if (h.type != msg.type) continue;
        if (h.on_stream != (msg.stream != 0))
            fatal(msg.type, h.on_stream ? "without a stream" : "with a stream");
        else if (!(this->*h.handler)(msg))
            fatal(msg.type, "malformed");
        return;
    }
    fatal(msg.type, "which only a worker sends");
}

void ParentLink::fatal(ipc::Type type, const char* why) {
    LOG_ERROR("parent sent %s (%s); exiting", ipc::type_name(type), why);
    // Nothing more is read (one line, however much else the batch held), and
    // nothing more is said.
    channel_.close();
    worker_.quit(exit_code::runtime);
}

void ParentLink::on_channel_down(const char* why, bool) {
    // Without the parent nothing can be served: leave at once.
    LOG_WARN("channel to parent lost (%s); exiting", why);
    worker_.quit(exit_code::runtime);
}

ClientConnection* ParentLink::client_of(std::uint32_t stream) const {
    return worker_.stream_client(stream);
}

bool ParentLink::still_open(std::uint32_t stream, const ClientConnection* conn) const {
    return worker_.stream_client(stream) == conn;
}

bool ParentLink::heard_resp_head(const ipc::MessageView& m) {
    std::string_view body;  // kFlagBody: the first body bytes ride along
    auto head = ipc::decode_resp_head(m.payload, m.flags, body);
    if (!head) return false;
    ClientConnection* conn = client_of(m.stream);
    if (conn == nullptr) return true;
    conn->on_resp_head(*head);
    if (!body.empty() && still_open(m.stream, conn)) conn->on_resp_body(body);
    if ((m.flags & ipc::kFlagLast) != 0 && still_open(m.stream, conn)) conn->on_resp_end();
    return true;
}

bool ParentLink::heard_resp_body(const ipc::MessageView& m) {
    ClientConnection* conn = client_of(m.stream);
    if (conn == nullptr) return true;
    conn->on_resp_body(m.payload);
    if ((m.flags & ipc::kFlagLast) != 0 && still_open(m.stream, conn)) conn->on_resp_end();
    return true;
}

bool ParentLink::heard_resp_end(const ipc::MessageView& m) {
    if (!m.payload.empty()) return false;
    if (ClientConnection* conn = client_of(m.stream)) conn->on_resp_end();
    return true;
}

bool ParentLink::heard_resp_abort(const ipc::MessageView& m) {
    if (!m.payload.empty()) return false;
    if (ClientConnection* conn = client_of(m.stream)) conn->on_resp_abort();
    return true;
}

bool ParentLink::heard_resp_error(const ipc::MessageView& m) {
    auto error = ipc::decode_resp_error(m.payload);
    if (!error) return false;
    if (ClientConnection* conn = client_of(m.stream)) conn->on_resp_error(*error);
    return true;
}

bool ParentLink::heard_req_credit(const ipc::MessageView& m) {
    auto bytes = ipc::decode_u32(m.payload);
    if (!bytes) return false;
    ClientConnection* conn = client_of(m.stream);
    // Credit for more than we sent: the parent's count and ours disagree.
    return conn == nullptr || conn->on_req_credit(*bytes);
}

bool ParentLink::heard_shutdown_answer(const ipc::MessageView& m) {
    auto answer = ipc::decode_shutdown_answer(m.payload);
    if (!answer) return false;
    // A connection that left meanwhile gets nothing.
    if (ClientConnection* conn = worker_.client(answer->first))
        conn->on_shutdown_answer(answer->second);
    return true;
}

bool ParentLink::heard_usage_answer(const ipc::MessageView& m) {
    auto answer = ipc::decode_usage_answer(m.payload);
    if (!answer) return false;
    if (ClientConnection* conn = worker_.client(answer->conn)) conn->on_usage_answer(*answer);
    return true;
}

bool ParentLink::heard_metrics_answer(const ipc::MessageView& m) {
    auto answer = ipc::decode_metrics_answer(m.payload);
    if (!answer) return false;
    const bool last = (m.flags & ipc::kFlagLast) != 0;
    // A connection that left meanwhile gets nothing; a text longer than the
    // parent may send, or pieces nobody asked for, break the protocol.
    ClientConnection* conn = worker_.client(answer->conn);
    if (conn == nullptr) return true;
    return conn->on_metrics_answer(answer->verdict, answer->text, last);
}

}  // namespace proxy
