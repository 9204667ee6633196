#include "parent/upstream/upstream_proxy_connect.hpp"

#include <event2/buffer.h>

#include "parent/upstream/upstream_transport.hpp"

namespace proxy {

namespace {
// A proxy's answer to CONNECT is a status line and a few headers; anything
// longer is not an answer we can use.
constexpr std::size_t kMaxAnswerHead = 16 * 1024;
constexpr std::size_t kMaxReason = 80;
}  // namespace

std::optional<ConnectAnswer> parse_connect_answer(std::string_view head) {
    const std::size_t eol = head.find("\r\n");
    const std::string_view line = head.substr(0, eol);
    if (line.size() < 12 || line.substr(0, 7) != "HTTP/1." || line[7] < '0' || line[7] > '9' ||
        line[8] != ' ')
        return std::nullopt;
    ConnectAnswer a;
    for (std::size_t i = 9; i < 12; ++i) {
        if (line[i] < '0' || line[i] > '9') return std::nullopt;
        a.status = a.status * 10 + (line[i] - '0');
    }
    if (a.status < 100 || (line.size() > 12 && line[12] != ' ')) return std::nullopt;
    for (char c : line.substr(std::min<std::size_t>(line.size(), 13))) {
        if (a.reason.size() >= kMaxReason) break;
        a.reason += c >= 0x20 && c < 0x7f ? c : '?';
    }
    return a;
}

void UpstreamTransport::connect_via_proxy(evdns_base* dns, const std::string& proxy_host,
                                          int proxy_port, const std::string& connect_request) {
    tunnel_request_ = &connect_request;
    connect(dns, proxy_host, proxy_port);
}

// TCP to the proxy is up: ask for the tunnel. Plaintext, before any TLS
// record; the TLS handshake starts only once the proxy said yes.
void UpstreamTransport::start_tunnel() {
    state_ = State::Tunneling;
    evbuffer* raw_out = ssl_ ? cipher_out_.get() : out_.get();
    evbuffer_add(raw_out, tunnel_request_->data(), tunnel_request_->size());
    write_socket();
}

void UpstreamTransport::read_tunnel_answer() {
    evbuffer* raw_in = ssl_ ? cipher_in_.get() : in_.get();
    const evbuffer_ptr end = evbuffer_search(raw_in, "\r\n\r\n", 4, nullptr);
    if (end.pos < 0) {
        if (evbuffer_get_length(raw_in) > kMaxAnswerHead) {
            proxy_error_ = "answered CONNECT with a head over 16 KiB";
            fail(BEV_EVENT_ERROR);
        } else if (eof_) {
            proxy_error_ = "closed the connection without answering CONNECT";
            fail(BEV_EVENT_ERROR);
        }
        return;
    }
    const auto head_len = static_cast<std::size_t>(end.pos) + 4;
    const auto* p =
        reinterpret_cast<const char*>(evbuffer_pullup(raw_in, static_cast<ev_ssize_t>(head_len)));
    const auto answer = parse_connect_answer(std::string_view(p, head_len));
    evbuffer_drain(raw_in, head_len);
    if (!answer) {
        proxy_error_ = "answered CONNECT with something that is not HTTP";
        fail(BEV_EVENT_ERROR);
        return;
    }
    if (answer->status < 200 || answer->status > 299) {
        proxy_error_ = "answered CONNECT with " + std::to_string(answer->status) +
                       (answer->reason.empty() ? "" : " " + answer->reason);
        fail(BEV_EVENT_ERROR);
        return;
    }
    // Whatever follows the head already belongs to the upstream (a server
    // that speaks first); it stays in raw_in for TLS or the owner.
    tunnel_open_ = true;
    if (eof_ && evbuffer_get_length(raw_in) == 0) {
        proxy_error_ = "closed the tunnel right after opening it";
        fail(BEV_EVENT_ERROR);
        return;
    }
    start_session();
}

}  // namespace proxy
