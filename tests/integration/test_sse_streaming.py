"""SSE events are passed on one by one without buffering: the stand-in sends
event k only after the client has parsed event k-1 from its socket. A
buffering proxy would deadlock; the gates time out and fail the test instead."""

import json
import socket
import threading
import time

import harness
from harness import ProxyTestCase, codex_headers

OVERALL = 30.0   # the main lockstep test
SHORT = 10.0     # the others: a non-buffering proxy needs milliseconds


def make_events(n, size):
    """n SSE events whose payloads are about `size` bytes."""
    out = []
    for k in range(n):
        if size <= 16:
            ev = "data: %d\n\n" % k
        else:
            delta = ("x%d-" % k) * (size // 4)
            obj = {"type": "response.output_text.delta", "sequence_number": k, "delta": delta[:size]}
            ev = "event: response.output_text.delta\ndata: %s\n\n" % json.dumps(obj)
        out.append(ev.encode())
    return out


class Streaming(ProxyTestCase):

    def lockstep(self, events, chunk_split=None, budget=SHORT):
        n = len(events)
        gates = [threading.Event() for _ in range(n)]
        failure = []
        deadline = time.monotonic() + budget

        def handler(req, conn):
            conn.start_chunked(200, [("Content-Type", "text/event-stream"),
                                     ("x-request-id", "req_sse")])
            for k, ev in enumerate(events):
                if k:
                    left = deadline - time.monotonic()
                    if not gates[k - 1].wait(max(0.0, left)):
                        failure.append("client never received event %d (proxy buffering?)" % (k - 1))
                        conn.reset()
                        return
                if chunk_split:
                    # one event in several chunks
                    for i in range(0, len(ev), chunk_split):
                        conn.send_chunk(ev[i:i + chunk_split])
                else:
                    conn.send_chunk(ev)
            conn.end_chunked()

        self.start(handler=handler)
        c = self.client(timeout=budget + 2)
        c.request("POST", "/v1/responses", codex_headers(), b'{"stream":true}')
        r = c.read_head()
        self.assertEqual(r.status, 200, r)
        self.assertTrue((r.header("content-type") or "").startswith("text/event-stream"), r.headers)
        self.assertEqual(r.header("x-request-id"), "req_sse")
        got = []
        try:
            for ev in c.iter_sse(r):
                got.append(ev)
                if len(got) <= n:
                    gates[len(got) - 1].set()
                if time.monotonic() > deadline:
                    break
        except (EOFError, ConnectionResetError, OSError) as e:
            self.fail("stream broke after %d events: %r; %s" % (len(got), e, failure))
        self.assertEqual(failure, [])
        self.assertEqual(len(got), n, "got %d of %d events" % (len(got), n))
        for k in range(n):
            self.assertEqual(got[k], events[k], "event %d differs" % k)
        # connection stays usable after a streamed answer
        return c

    def test_twenty_events_lockstep(self):
        self.lockstep(make_events(20, 60), budget=OVERALL)

    def test_tiny_events(self):
        self.lockstep(make_events(20, 10))

    def test_8k_events(self):
        self.lockstep(make_events(12, 8 * 1024))

    def test_mixed_sizes_events_split_across_chunks(self):
        sizes = [10, 8 * 1024, 10, 10, 8 * 1024 + 1, 10]
        events = [make_events(k + 1, s)[k] for k, s in enumerate(sizes)]
        self.lockstep(events, chunk_split=3000)

    def test_keepalive_after_stream(self):
        c = self.lockstep(make_events(3, 10))
        self.upstream.handler = harness.default_handler
        r = c.post(codex_headers(), b'{"second":1}')
        self.assertEqual(r.status, 200, r)
        self.assertEqual(r.json()["received_bytes"], 12)

    def test_first_byte_latency(self):
        # the head and the first event must arrive while the upstream keeps the stream open
        release = threading.Event()

        def handler(req, conn):
            conn.start_chunked(200, [("Content-Type", "text/event-stream")])
            conn.send_chunk(b"event: response.created\ndata: {}\n\n")
            release.wait(SHORT)
            conn.send_chunk(b"data: [DONE]\n\n")
            conn.end_chunked()

        self.start(handler=handler)
        c = self.client(timeout=5)
        c.request("POST", "/v1/responses", codex_headers(), b"{}")
        t0 = time.monotonic()
        try:
            r = c.read_head()
            it = c.iter_sse(r)
            first = next(it)
            elapsed = time.monotonic() - t0
        except TimeoutError:
            self.fail("no head/first event within 5 s while the upstream held the stream open "
                      "(proxy buffering?)")
        finally:
            release.set()
        self.assertEqual(first, b"event: response.created\ndata: {}\n\n")
        self.assertLess(elapsed, 3.0, "first event took %.2f s" % elapsed)
        self.assertEqual(list(it), [b"data: [DONE]\n\n"])

    def test_no_delayed_ack_stall_from_a_nagle_upstream(self):
        # The stand-in leaves Nagle on (no TCP_NODELAY, as plain servers and
        # corporate TLS proxies do) and writes the head and each event as
        # separate TLS records: each waits for the previous one's ACK. On a
        # reused pooled connection the parent's kernel used to delay that ACK
        # (it had just sent the request) by up to 40 ms: one event per stream
        # arrived ~40 ms late. The parent now acknowledges at once
        # (TCP_QUICKACK after each read; parent/upstream/upstream_transport.cpp).
        def handler(req, conn):
            nodelay = conn.sock.getsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY)
            assert nodelay == 0, "the stand-in must keep Nagle on"
            conn.start_chunked(200, [("Content-Type", "text/event-stream")])
            for k in range(4):
                time.sleep(0.002 if k == 0 else 0.01)
                ev = "data: %s\n\n" % json.dumps({"k": k, "t": time.monotonic()})
                conn.send_chunk(ev.encode())
            conn.end_chunked()

        self.start(handler=handler)
        c = self.client(timeout=SHORT)
        worst = []
        for n in range(8):
            c.request("POST", "/v1/responses", codex_headers(), b'{"stream":true}')
            r = c.read_head()
            self.assertEqual(r.status, 200, r)
            lags = []
            for ev in c.iter_sse(r):
                lags.append(time.monotonic() - json.loads(ev[len(b"data: "):])["t"])
            self.assertEqual(len(lags), 4)
            if n:  # the first stream opened the connection; the rest reuse it
                worst.append(max(lags) * 1000)
        reqs = self.upstream.wait_requests(8)
        self.assertEqual(len({q.conn_id for q in reqs}), 1, "streams did not share a connection")
        worst.sort()
        print("  worst event lag per pooled stream (ms): %s" % ", ".join("%.1f" % w for w in worst))
        self.assertLess(worst[len(worst) // 2], 20.0,
                        "a delayed ACK held an event back on most pooled streams: %r" % worst)


if __name__ == "__main__":
    harness.main()
