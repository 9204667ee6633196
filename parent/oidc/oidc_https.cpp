#include "parent/oidc/oidc_https.hpp"

#include <event2/bufferevent.h>
#include <event2/event.h>
#include <openssl/ssl.h>

#include <cstring>
#include <utility>
#include <vector>

#include "common/chunked_decoder.hpp"
#include "parent/upstream/response_head_parser.hpp"
#include "parent/upstream/tls_context.hpp"

namespace proxy {

namespace {

std::string describe_failure(const UpstreamTransport& t, short what) {
    if (what & BEV_EVENT_TIMEOUT) return "timed out";
    if (t.dns_error() != 0)
        return std::string("cannot resolve host: ") + evutil_gai_strerror(t.dns_error());
    if (!t.tls_error().empty()) return "TLS: " + t.tls_error();
    if (t.socket_error() != 0)
        return std::string("connection failed: ") + strerror(t.socket_error());
    return "connection closed";
}

}  // namespace

OidcHttpsRequest::OidcHttpsRequest(event_base* base, evdns_base* dns, SSL_CTX* tls)
    : base_(base), dns_(dns), tls_(tls) {}

OidcHttpsRequest::~OidcHttpsRequest() {
    if (transport_) transport_->set_callbacks(nullptr, nullptr, nullptr);
}

void OidcHttpsRequest::start(const HttpsTarget& target, evbuffer* request, unsigned timeout_s,
                             DoneFn done) {
    done_ = std::move(done);
    deferred_.reset(evtimer_new(base_, &OidcHttpsRequest::on_deferred, this));
    std::string error;
    scratch_ = KeyPage::create(error, kMaxResponse);
    if (!scratch_) {
        finish(Outcome::Transport, "cannot set up a locked page: " + error);
        return;
    }
    SslPtr ssl = new_upstream_ssl(tls_, target.host);
    if (!ssl) {
        finish(Outcome::Transport, "cannot create TLS session: " + last_tls_error());
        return;
    }
    // Received plaintext (tokens) is wiped from OpenSSL's record buffer as
    // soon as it has been copied out.
    SSL_set_options(ssl.get(), SSL_OP_CLEANSE_PLAINTEXT);
    transport_ = std::make_unique<UpstreamTransport>(base_, std::move(ssl));
    transport_->set_callbacks(&OidcHttpsRequest::on_read, &OidcHttpsRequest::on_event, this);
    transport_->set_timeout(timeout_s);
    // Queued now, sent once the handshake is done (the transport holds
    // plaintext until then); references into locked pages move along.
    evbuffer_add_buffer(transport_->output(), request);
    transport_->connect(dns_, target.host, target.port);
}

void OidcHttpsRequest::on_read(void* arg) noexcept {
    auto* self = static_cast<OidcHttpsRequest*>(arg);
    self->absorb();
    if (!self->finished_) self->check_complete(false);
}

void OidcHttpsRequest::on_event(short what, void* arg) noexcept {
    auto* self = static_cast<OidcHttpsRequest*>(arg);
    if (self->finished_ || (what & BEV_EVENT_CONNECTED)) return;
    self->absorb();
    if (self->finished_) return;
    if ((what & BEV_EVENT_EOF) && self->check_complete(true)) return;
    // A close-delimited body over TLS ends with close_notify, which the
    // transport reports as EOF; an error may still follow a complete answer.
    if (self->check_complete(false)) return;
    self->finish(Outcome::Transport, describe_failure(*self->transport_, what));
}

// Every plaintext byte moves into the locked page; the transport's copy is
// zeroed before the buffer lets go of it.
void OidcHttpsRequest::absorb() {
    evbuffer* in = transport_->input();
    const std::size_t len = evbuffer_get_length(in);
    if (len == 0) return;
    const int n = evbuffer_peek(in, -1, nullptr, nullptr, 0);
    std::vector<evbuffer_iovec> vec(static_cast<std::size_t>(n > 0 ? n : 0));
    evbuffer_peek(in, -1, nullptr, vec.data(), n);
    auto room = scratch_->writable();
    bool overflow = false;
    for (const evbuffer_iovec& v : vec) {
        if (!overflow && used_ + v.iov_len <= room.size()) {
            std::memcpy(room.data() + used_, v.iov_base, v.iov_len);
            used_ += v.iov_len;
        } else {
            overflow = true;
        }
        explicit_bzero(v.iov_base, v.iov_len);
    }
    evbuffer_drain(in, len);
    if (overflow) finish(Outcome::Transport, "response larger than 64 KiB");
}

bool OidcHttpsRequest::check_complete(bool eof) {
    auto room = scratch_->writable();
    const std::string_view have(room.data(), used_);
    const std::size_t head_len = http::find_head_end(have);
    if (head_len == 0) {
        if (eof) finish(Outcome::Transport, "connection closed before a response");
        return eof;
    }
    HeadLimits limits;
    limits.max_head_bytes = kMaxResponse;
    limits.max_headers = 256;
    ResponseHead head;
    if (auto err = parse_response_head(have.substr(0, head_len), limits, head)) {
        finish(Outcome::Transport, std::string("bad response head: ") + err->message);
        return true;
    }
    if (head.status < 200) {
        finish(Outcome::Transport, "unexpected interim response");
        return true;
    }
    status_ = head.status;
    char* const body = room.data() + head_len;
    const std::size_t raw = used_ - head_len;
    if (head.framing == BodyFraming::Length) {
        if (raw < head.content_length) {
            if (eof) finish(Outcome::Transport, "response body cut short");
            return eof;
        }
        body_ = {body, static_cast<std::size_t>(head.content_length)};
    } else if (head.framing == BodyFraming::Chunked) {
        // Decoded anew each time (the response is small); chunk data is
        // moved down over the framing only once the whole body is there.
        ChunkedDecoder decoder;
        std::vector<std::string_view> pieces;
        std::string_view rest(body, raw);
        ChunkedDecoder::Status st = ChunkedDecoder::Status::NeedMore;
        while (!rest.empty()) {
            std::size_t consumed = 0;
            std::string_view data;
            st = decoder.feed(rest, consumed, data);
            rest.remove_prefix(consumed);
            if (st == ChunkedDecoder::Status::Data) pieces.push_back(data);
            if (st != ChunkedDecoder::Status::Data) break;
        }
        if (st == ChunkedDecoder::Status::Error) {
            finish(Outcome::Transport, "bad chunked response body");
            return true;
        }
        if (st != ChunkedDecoder::Status::Done) {
            if (eof) finish(Outcome::Transport, "response body cut short");
            return eof;
        }
        std::size_t out = 0;
        for (std::string_view p : pieces) {
            std::memmove(body + out, p.data(), p.size());
            out += p.size();
        }
        explicit_bzero(body + out, raw - out);
        body_ = {body, out};
    } else {
        if (!eof) return false;
        body_ = {body, raw};
    }
    finish(Outcome::Answered, {});
    return true;
}

void OidcHttpsRequest::finish(Outcome outcome, std::string error) {
    if (finished_) return;
    finished_ = true;
    outcome_ = outcome;
    error_ = std::move(error);
    if (transport_) transport_->set_callbacks(nullptr, nullptr, nullptr);
    // Reported from the loop: the owner may destroy this request in done_.
    if (deferred_) {
        const timeval now{0, 0};
        evtimer_add(deferred_.get(), &now);
    }
}

void OidcHttpsRequest::on_deferred(evutil_socket_t, short, void* arg) noexcept {
    auto* self = static_cast<OidcHttpsRequest*>(arg);
    // The connection is not reused: close it now, before the owner looks.
    self->transport_.reset();
    // The owner usually destroys this request from `done`: call a local
    // copy, and touch nothing of ours afterwards.
    DoneFn done = std::move(self->done_);
    if (done) done(*self);
}

}  // namespace proxy
