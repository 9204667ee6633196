// The response head of UpstreamExchange: parsed for framing only, mirrored to
// the worker, and what the audit line needs (status, x-request-id, whether the
// body can be scanned for token usage).
#include <openssl/err.h>
#include <openssl/ssl.h>

#include <cstring>
#include <string>

#include "common/http_head.hpp"
#include "common/log.hpp"
#include "parent/upstream/exchange_dump.hpp"
#include "parent/upstream/response_head_parser.hpp"
#include "parent/upstream/upstream_exchange.hpp"
#include "parent/users/access_control.hpp"
#include "policy/header_policy.hpp"

namespace proxy {

namespace {
constexpr std::size_t kMaxResponseHead = 64 * 1024;
constexpr std::size_t kMaxResponseHeaders = 256;
}  // namespace

bool UpstreamExchange::parse_head() {
    evbuffer* in = conn_->transport->input();
    std::size_t len = evbuffer_get_length(in);
    std::size_t scan = std::min(len, kMaxResponseHead + 4);
    auto* p = reinterpret_cast<const char*>(evbuffer_pullup(in, static_cast<ev_ssize_t>(scan)));
    std::size_t head_len = http::find_head_end(std::string_view(p, scan));
    if (head_len == 0) {
        if (len > kMaxResponseHead)
            fail(refusal::kUpstreamProtocol, "upstream response head too large");
        return false;
    }
    HeadLimits limits;
    limits.max_head_bytes = kMaxResponseHead;
    limits.max_headers = kMaxResponseHeaders;
    resp_head_ = ResponseHead{};
    if (auto err = parse_response_head(std::string_view(p, head_len), limits, resp_head_)) {
        fail(refusal::kUpstreamProtocol,
             std::string("bad response head from upstream: ") + err->message);
        return false;
    }
    evbuffer_drain(in, head_len);
    if (resp_head_.status < 200) {
        if (resp_head_.status == 101) {
            fail(refusal::kUpstreamProtocol, "upstream tried to switch protocols");
            return false;
        }
        return true;  // 100 Continue, 103 Early Hints: wait for the final head
    }
    ipc::RespHead start;
    start.status = static_cast<std::uint16_t>(resp_head_.status);
    start.framing = resp_head_.framing == BodyFraming::Length ? BodyFraming::Length
                    : resp_head_.framing == BodyFraming::None ? BodyFraming::Length
                                                              : BodyFraming::Chunked;
    start.content_length =
        resp_head_.framing == BodyFraming::Length ? resp_head_.content_length : 0;
    start.headers = filter_response_headers(resp_head_.headers);
    // What the caller has left, where a budget is in force (usage_view.hpp).
    for (auto& [name, value] : env_.access.budget_headers(caller))
        start.headers.push_back(Header{std::move(name), std::move(value)});
    record_.status = resp_head_.status;
    bool compressed = false;
    for (const auto& h : resp_head_.headers) {
        if (iequals(h.name, "x-request-id")) {
            // Only a printable token goes into the audit line.
            std::string id = h.value.substr(0, 128);
            bool ok = !id.empty();
            for (char c : id) ok = ok && c > ' ' && c < 0x7f && c != '"' && c != '\\';
            if (ok) record_.request_id = std::move(id);
        } else if (iequals(h.name, "content-encoding") && !iequals(h.value, "identity")) {
            compressed = true;
        } else if (iequals(h.name, "content-type")) {
            // Decides how a stream without usage is estimated (token_budget.hpp).
            constexpr std::string_view kSse = "text/event-stream";
            event_stream_ = h.value.size() >= kSse.size() &&
                            iequals(std::string_view(h.value).substr(0, kSse.size()), kSse);
        }
    }
    if (!compressed) usage_.emplace();
    // Only a response the upstream created and will store is worth an owner.
    if (gate_ && !compressed && resp_head_.status >= 200 && resp_head_.status < 300 &&
        gate_->remembers_response())
        response_ids_.emplace();
    HeaderList().swap(resp_head_.headers);  // sent on; only the framing is needed from here
    std::string payload = ipc::encode_resp_head(start);
    if (payload.empty() || payload.size() > ipc::kMaxPayload) {
        fail(refusal::kUpstreamProtocol, "upstream response head too large");
        return false;
    }
    if (dump_) dump_->response_head(resp_head_.status, start.headers);
    sink_.tell_resp_head(stream_, payload);
    phase_ = Phase::Body;
    resp_remaining_ = resp_head_.content_length;
    if (resp_head_.framing == BodyFraming::Chunked) chunked_.emplace();
    if (resp_head_.framing == BodyFraming::None ||
        (resp_head_.framing == BodyFraming::Length && resp_head_.content_length == 0)) {
        response_complete();
    }
    return true;
}

}  // namespace proxy
