"""Upstream faults: refused / DNS failure / TLS verification failure -> 502
JSON; TCP accepted but TLS or the answer never comes -> 504 within the
timeout; a response cut short (Content-Length body short, chunked body without
its last chunk, RST, idle mid-body) -> the client's response is aborted, never
complete; redirects are passed back unchanged and never followed."""

import socket
import threading
import time

import harness
from harness import check_forwarded
from harness import ProxyTestCase, Upstream, codex_headers, error_body_ok

SHORT = ["--upstream-connect-timeout", "1", "--upstream-idle-timeout", "1"]


def expect_error(tc, c, statuses, code=None, what=""):
    if isinstance(statuses, int):
        statuses = (statuses,)
    try:
        r = c.read_response()
    except (EOFError, ConnectionResetError, socket.timeout) as e:
        tc.fail("%s: no answer (%r), wanted %s" % (what, e, statuses))
    tc.assertIn(r.status, statuses, "%s: %r" % (what, r))
    err = error_body_ok(tc, r, code=code)
    tc.assertEqual(err["type"], "server_error", r.body)
    ctype = r.header("content-type") or ""
    tc.assertTrue(ctype.startswith("application/json"), "%s: content-type %r" % (what, ctype))
    return r, err



def parse_chunks(raw):
    """Walk chunked framing in raw; returns (payload, saw_terminator)."""
    pos = 0
    payload = b""
    while True:
        eol = raw.find(b"\r\n", pos)
        if eol < 0:
            return payload, False
        size = int(raw[pos:eol].split(b";")[0], 16)
        if size == 0:
            return payload, True
        start = eol + 2
        payload += raw[start:start + size]
        if len(raw) < start + size + 2:
            return payload, False
        pos = start + size + 2


class Silent:
    """A TCP listener that accepts and never says a word (or never accepts)."""

    def __init__(self, accept=True):
        self.lsock = socket.socket()
        self.lsock.bind(("127.0.0.1", 0))
        self.port = self.lsock.getsockname()[1]
        self.held = []
        self.thread = None
        self.stopped = False
        if accept:
            self.lsock.listen(16)
            self.thread = threading.Thread(target=self._loop, daemon=True)
            self.thread.start()
        else:
            # backlog 0 plus fillers: later SYNs are dropped, connect() hangs
            self.lsock.listen(0)
            for _ in range(4):
                s = socket.socket()
                s.setblocking(False)
                try:
                    s.connect(("127.0.0.1", self.port))
                except BlockingIOError:
                    pass
                self.held.append(s)
            time.sleep(0.1)

    def _loop(self):
        while not self.stopped:
            try:
                s, _ = self.lsock.accept()
            except OSError:
                return
            self.held.append(s)

    def close(self):
        self.stopped = True
        harness.stop_accept_thread(self.lsock, self.thread)
        for s in self.held:
            try:
                s.close()
            except OSError:
                pass


class Unreachable(ProxyTestCase):

    def test_connection_refused_502(self):
        self.start(upstream_url="https://127.0.0.1:%d/v1/responses" % harness.closed_port())
        c = self.client(timeout=10)
        r = c.post(codex_headers(), b"{}")
        self.assertEqual(r.status, 502, r)
        err = error_body_ok(self, r)
        self.assertEqual(err["type"], "server_error")

    def test_dns_failure_502(self):
        self.start(upstream_url="https://nonexistent.invalid/v1/responses",
                   extra_args=["--upstream-connect-timeout", "5"])
        c = self.client(timeout=20)
        t0 = time.monotonic()
        c.request("POST", "/v1/responses", codex_headers(), b"{}")
        expect_error(self, c, 502, what="DNS failure")
        self.assertLess(time.monotonic() - t0, 15)

    def test_tls_verification_failure_502(self):
        for cert in ("untrusted", "wrong_name"):
            with self.subTest(cert=cert):
                up = Upstream(cert=cert)
                try:
                    p = harness.Proxy(upstream=up)
                    try:
                        c = harness.Client(p.port, timeout=10)
                        c.request("POST", "/v1/responses", codex_headers(), b"{}")
                        expect_error(self, c, 502, "upstream_tls_error", what=cert)
                        c.close()
                        time.sleep(0.2)
                        self.assertEqual(up.requests, [], "request sent over unverified TLS")
                    finally:
                        p.stop()
                        p.check_clean(self)
                        p.cleanup()
                finally:
                    up.stop()


class Timeouts(ProxyTestCase):

    def tearDown(self):
        try:
            super().tearDown()
        finally:
            if getattr(self, "silent", None):
                self.silent.close()

    def test_tls_never_completes_504(self):
        self.silent = Silent(accept=True)
        self.start(upstream_url="https://127.0.0.1:%d/v1/responses" % self.silent.port,
                   extra_args=SHORT)
        c = self.client(timeout=10)
        t0 = time.monotonic()
        c.request("POST", "/v1/responses", codex_headers(), b"{}")
        expect_error(self, c, 504, "upstream_timeout", what="TLS handshake never answered")
        self.assertLess(time.monotonic() - t0, 4.0)
        self.assertGreaterEqual(len(self.silent.held), 1)

    def test_tcp_connect_hangs_504(self):
        self.silent = Silent(accept=False)
        self.start(upstream_url="https://127.0.0.1:%d/v1/responses" % self.silent.port,
                   extra_args=SHORT)
        c = self.client(timeout=10)
        t0 = time.monotonic()
        c.request("POST", "/v1/responses", codex_headers(), b"{}")
        expect_error(self, c, (502, 504), what="TCP connect never completes")
        self.assertLess(time.monotonic() - t0, 4.0)

    def test_upstream_never_answers_504(self):
        release = threading.Event()
        self.addCleanup(release.set)

        def handler(req, conn):
            release.wait(8)
            conn.close()

        self.start(handler=handler, extra_args=SHORT)
        c = self.client(timeout=10)
        t0 = time.monotonic()
        c.request("POST", "/v1/responses", codex_headers(), b"{}")
        expect_error(self, c, 504, "upstream_timeout", what="no answer")
        elapsed = time.monotonic() - t0
        self.assertGreater(elapsed, 0.8)
        self.assertLess(elapsed, 4.0)
        self.assertEqual(len(self.upstream.requests), 1)
        check_forwarded(self, self.upstream.requests[0], self.proxy, self.upstream)
        release.set()

    def test_upstream_idle_mid_body_aborts(self):
        release = threading.Event()
        self.addCleanup(release.set)

        def handler(req, conn):
            try:
                conn.start_chunked()
                conn.send_chunk(b"event: response.created\ndata: {}\n\n")
                release.wait(8)
                conn.send_chunk(b"data: late\n\n")
                conn.end_chunked()
            except OSError:
                pass

        self.start(handler=handler, extra_args=SHORT)
        c = self.client(timeout=10)
        c.request("POST", "/v1/responses", codex_headers(), b"{}")
        r = c.read_head()
        self.assertEqual(r.status, 200)
        t0 = time.monotonic()
        raw = c.bs.read_to_eof()
        elapsed = time.monotonic() - t0
        self.assertLess(elapsed, 4.0, "idle upstream mid-body not aborted in time")
        self.assertEqual(r.framing, "chunked")
        payload, done = parse_chunks(raw)
        self.assertFalse(done, "client got a terminating chunk for an aborted stream: %r" % raw)
        self.assertEqual(payload, b"event: response.created\ndata: {}\n\n")
        release.set()


def truncating(kind):
    body = b'{"id":"resp_1","output":"' + b"x" * 200 + b'"}'

    def handler(req, conn):
        try:
            if kind == "cl_short_close":
                conn.send(b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n"
                          b"Content-Length: %d\r\n\r\n" % len(body) + body[:60])
                time.sleep(0.2)
                conn.close()
            elif kind == "cl_short_rst":
                conn.send(b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n"
                          b"Content-Length: %d\r\n\r\n" % len(body) + body[:60])
                time.sleep(0.2)
                conn.reset()
            elif kind == "chunked_no_last_close":
                conn.start_chunked()
                conn.send_chunk(b"data: one\n\n")
                conn.send_chunk(b"data: two\n\n")
                time.sleep(0.2)
                conn.close()
            elif kind == "chunked_no_last_rst":
                conn.start_chunked()
                conn.send_chunk(b"data: one\n\n")
                conn.send_chunk(b"data: two\n\n")
                time.sleep(0.2)
                conn.reset()
            elif kind == "chunked_mid_chunk_close":
                conn.start_chunked()
                conn.send_chunk(b"data: one\n\n")
                conn.send(b"40\r\ndata: partial")
                time.sleep(0.2)
                conn.close()
        except OSError:
            pass
    return handler, body


class Truncation(ProxyTestCase):

    def run_kind(self, kind):
        handler, body = truncating(kind)
        self.start(handler=handler, extra_args=SHORT)
        c = self.client(timeout=8)
        c.request("POST", "/v1/responses", codex_headers(), b"{}")
        # The stand-in sent its head and part of the body before the cut: a
        # streaming proxy has already passed the head on.
        r = c.read_head()
        self.assertEqual(r.status, 200, r)
        try:
            raw = c.bs.read_to_eof()
        except socket.timeout:
            self.fail("%s: connection left open after a truncated upstream response" % kind)
        if r.framing == "chunked":
            payload, done = parse_chunks(raw)
            self.assertFalse(done, "%s: client got a complete chunked response %r" % (kind, raw))
        elif r.framing == "content-length":
            declared = int(r.header("content-length"))
            self.assertLess(len(raw), declared,
                            "%s: client got all %d declared bytes" % (kind, declared))
        else:
            self.fail("%s: close-delimited answer to an HTTP/1.1 client hides the truncation: %r"
                      % (kind, r))

    def test_content_length_short_then_close(self):
        self.run_kind("cl_short_close")

    def test_content_length_short_then_rst(self):
        self.run_kind("cl_short_rst")

    def test_chunked_without_last_chunk_close(self):
        self.run_kind("chunked_no_last_close")

    def test_chunked_without_last_chunk_rst(self):
        self.run_kind("chunked_no_last_rst")

    def test_chunked_cut_inside_a_chunk(self):
        self.run_kind("chunked_mid_chunk_close")

    def test_reset_before_head_502(self):
        def handler(req, conn):
            conn.reset()
        self.start(handler=handler, extra_args=SHORT)
        c = self.client(timeout=8)
        c.request("POST", "/v1/responses", codex_headers(), b"{}")
        expect_error(self, c, 502, what="reset before response head")


class Redirects(ProxyTestCase):

    def test_redirects_passed_back_not_followed(self):
        state = {}

        def handler(req, conn):
            if req.target != "/v1/responses":
                conn.json(200, {"followed": True})
                return
            status = state["status"]
            conn.respond(status, [("Location", state["location"]), ("Content-Type", "text/plain")],
                         b"moved")

        self.start(handler=handler)
        for i, status in enumerate((301, 302, 303, 307, 308)):
            with self.subTest(status=status):
                state["status"] = status
                state["location"] = "https://127.0.0.1:%d/v1/elsewhere?s=%d" % (self.upstream.port,
                                                                                  status)
                c = self.client(timeout=8)
                r = c.post(codex_headers(), b'{"r":1}')
                self.assertEqual(r.status, status, r)
                self.assertEqual(r.header_all("location"), [state["location"]])
                self.assertEqual(r.body, b"moved")
                c.close()
                time.sleep(0.3)
                self.assertEqual(len(self.upstream.requests), i + 1,
                                 "redirect followed: %r" % self.upstream.requests)
        self.assertEqual({q.target for q in self.upstream.requests}, {"/v1/responses"})
        for q in self.upstream.requests:
            check_forwarded(self, q, self.proxy, self.upstream)


if __name__ == "__main__":
    harness.main(overall_timeout=88)
