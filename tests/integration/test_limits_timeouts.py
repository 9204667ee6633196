"""Client-side limits and timeouts: --header-timeout (408 for a slow head, a
silent close for an idle connection), --body-timeout, --keepalive-timeout,
--max-connections (503 overloaded beyond it), --workers N.
(Upstream-side timeouts live in test_upstream_faults.py.)"""

import os
import socket
import time

import harness
from harness import expect_refusal, check_forwarded
from harness import ProxyTestCase, chunk, codex_headers, error_body_ok




def wait_closed_silently(tc, c, within, what):
    """The peer closes the connection within `within` seconds without sending a byte."""
    c.settimeout(within)
    t0 = time.monotonic()
    try:
        data = c.sock.recv(65536)
    except socket.timeout:
        tc.fail("%s: connection still open after %.1f s" % (what, within))
    except ConnectionResetError:
        data = b""
    tc.assertEqual(data, b"", "%s: expected a silent close, got %r" % (what, data[:200]))
    return time.monotonic() - t0


def head_bytes(port, extra=b""):
    return (b"POST /v1/responses HTTP/1.1\r\nHost: 127.0.0.1:%d\r\n"
            b"Content-Type: application/json\r\n" % port) + extra + b"\r\n"


def children_of(pid):
    kids = []
    for d in os.listdir("/proc"):
        if not d.isdigit():
            continue
        try:
            with open("/proc/%s/stat" % d) as f:
                stat = f.read()
        except OSError:
            continue
        ppid = int(stat.rsplit(")", 1)[1].split()[1])
        if ppid == pid:
            kids.append(int(d))
    return sorted(kids)


class HeaderTimeout(ProxyTestCase):

    def setUp(self):
        super().setUp()
        self.start(extra_args=["--header-timeout", "1", "--keepalive-timeout", "1"])

    def test_partial_head_gets_408(self):
        c = self.client(timeout=5)
        t0 = time.monotonic()
        c.send(b"POST /v1/responses HTTP/1.1\r\nHost: 127.0.0.1:%d\r\n" % self.proxy.port)
        expect_refusal(self, c, 408, "request_timeout", what="partial head")
        elapsed = time.monotonic() - t0
        self.assertGreater(elapsed, 0.7, "408 came too early")
        self.assertLess(elapsed, 3.5, "408 came late")

    def test_dripping_head_gets_408_at_the_deadline(self):
        # One byte every 0.2 s: the deadline is for the whole head, not per byte.
        c = self.client(timeout=5)
        data = head_bytes(self.proxy.port, b"X-Slow: " + b"a" * 100 + b"\r\n")
        t0 = time.monotonic()
        answered = None
        for i in range(len(data)):
            try:
                c.send(data[i:i + 1])
            except (BrokenPipeError, ConnectionResetError):
                answered = time.monotonic() - t0
                break
            if c.is_closed_by_peer(0.01) or c.bs.buf:
                answered = time.monotonic() - t0
                break
            time.sleep(0.2)
            if time.monotonic() - t0 > 6:
                break
        self.assertIsNotNone(answered, "dripping head never timed out in 6 s")
        self.assertLess(answered, 3.5, "head deadline not enforced while bytes trickle in")
        if c.bs.buf:
            r = c.read_response()
            self.assertEqual(r.status, 408, r)
            error_body_ok(self, r, code="request_timeout")
        time.sleep(0.2)
        self.assertEqual(self.upstream.requests, [])

    def test_idle_connection_closed_silently(self):
        c = self.client(timeout=5)
        elapsed = wait_closed_silently(self, c, 4.0, "idle connection with no bytes")
        self.assertLess(elapsed, 3.5)

    def test_good_head_well_within_deadline_passes(self):
        c = self.client(timeout=5)
        data = head_bytes(self.proxy.port, b"Content-Length: 2\r\n") + b"{}"
        c.send(data[:20])
        time.sleep(0.4)
        c.send(data[20:])
        c.last_method = "POST"
        r = c.read_response()
        self.assertEqual(r.status, 200, r)


class BodyTimeout(ProxyTestCase):

    def setUp(self):
        super().setUp()
        self.start(extra_args=["--body-timeout", "1"])

    def check_body_stall(self, c, what):
        c.settimeout(5)
        t0 = time.monotonic()
        try:
            raw = c.bs.read_to_eof()
        except socket.timeout:
            self.fail("%s: nothing happened within 5 s of a stalled body" % what)
        elapsed = time.monotonic() - t0
        self.assertLess(elapsed, 4.0, "%s: stalled body not cut off in time" % what)
        if raw:
            self.assertTrue(raw.startswith(b"HTTP/1.1 408 "), "%s: got %r" % (what, raw[:200]))
            self.assertIn(b'"request_timeout"', raw)
        time.sleep(0.3)
        self.assertEqual(self.upstream.requests, [],
                         "%s: upstream saw a complete request from a stalled body" % what)

    def test_stalled_content_length_body(self):
        c = self.client(timeout=5)
        c.send(head_bytes(self.proxy.port, b"Content-Length: 10\r\n") + b'{"a')
        self.check_body_stall(c, "CL body")

    def test_stalled_chunked_body(self):
        c = self.client(timeout=5)
        c.send(head_bytes(self.proxy.port, b"Transfer-Encoding: chunked\r\n") + chunk(b'{"a'))
        self.check_body_stall(c, "chunked body")

    def test_trickling_body_within_idle_limit_passes(self):
        c = self.client(timeout=10)
        body = b'{"ab":1}'
        c.send(head_bytes(self.proxy.port, b"Content-Length: %d\r\n" % len(body)))
        for i in range(len(body)):   # 8 bytes over ~3.2 s, never idle for 1 s
            time.sleep(0.4)
            c.send(body[i:i + 1])
        c.last_method = "POST"
        r = c.read_response()
        self.assertEqual(r.status, 200, r)
        (req,) = self.upstream.wait_requests(1)
        self.assertEqual(req.body, body)
        check_forwarded(self, req, self.proxy, self.upstream)


class KeepaliveTimeout(ProxyTestCase):

    def setUp(self):
        super().setUp()
        self.start(extra_args=["--keepalive-timeout", "1"])

    def test_idle_keepalive_closed(self):
        c = self.client(timeout=5)
        r = c.post(codex_headers(), b"{}")
        self.assertEqual(r.status, 200, r)
        time.sleep(0.3)
        r = c.post(codex_headers(), b'{"n":2}')
        self.assertEqual(r.status, 200, r)
        self.assertEqual(len(self.upstream.wait_requests(2)), 2)
        elapsed = wait_closed_silently(self, c, 4.0, "idle keep-alive connection")
        self.assertGreater(elapsed, 0.6)
        self.assertLess(elapsed, 3.0)


class MaxConnections(ProxyTestCase):

    def setUp(self):
        super().setUp()
        self.start(extra_args=["--max-connections", "2", "--workers", "1"])

    def test_503_beyond_limit(self):
        port = self.proxy.port
        c1 = self.client(timeout=5)
        c2 = self.client(timeout=5)
        c1.send(b"POST /v1/resp")
        c2.send(b"POST /v1/resp")
        time.sleep(0.4)
        c3 = self.client(timeout=5)
        t0 = time.monotonic()
        expect_refusal(self, c3, 503, "overloaded", what="third connection")
        self.assertLess(time.monotonic() - t0, 1.5, "503 not immediate")
        c3.close()
        # the two open ones still work
        c1.send(b"onses HTTP/1.1\r\nHost: 127.0.0.1:%d\r\nContent-Length: 2\r\n\r\n{}" % port)
        c1.last_method = "POST"
        r = c1.read_response()
        self.assertEqual(r.status, 200, r)
        c1.close()
        c2.close()
        time.sleep(0.4)
        c4 = self.client(timeout=5)
        r = c4.post(codex_headers(), b"{}")
        self.assertEqual(r.status, 200, "after the others closed: %r" % r)
        self.assertEqual(len(self.upstream.wait_requests(2)), 2)


class Workers(ProxyTestCase):

    def setUp(self):
        super().setUp()
        self.start(extra_args=["--workers", "3"])

    def test_three_workers_serve(self):
        pid = self.proxy.proc.pid
        deadline = time.monotonic() + 3
        kids = children_of(pid)
        while len(kids) < 3 and time.monotonic() < deadline:
            time.sleep(0.1)
            kids = children_of(pid)
        self.assertGreaterEqual(len(kids), 3, "children of the parent: %r" % kids)
        for i in range(30):
            c = self.client(timeout=5)
            r = c.post(codex_headers(), b'{"i":%d}' % i)
            self.assertEqual(r.status, 200, r)
            c.close()
        reqs = self.upstream.wait_requests(30)
        self.assertEqual(len(reqs), 30)
        for req in reqs:
            check_forwarded(self, req, self.proxy, self.upstream)


class DescriptorBudget(ProxyTestCase):
    def test_max_connections_lowered_to_what_the_descriptor_limit_allows(self):
        # The parent keeps two descriptors per client connection (the client's
        # socket, an upstream connection): 700 - 256 spare = 444, 222 per
        # worker, under a hard limit the proxy cannot raise.
        import resource
        import subprocess
        import tempfile
        d = tempfile.mkdtemp(prefix="nofile-")
        info = os.path.join(d, "info.json")
        up = harness.Upstream()
        try:
            def limit():
                resource.setrlimit(resource.RLIMIT_NOFILE, (700, 700))
            p = subprocess.Popen(
                [harness.proxy_bin(), "--server-info", info, "--upstream-url", up.url,
                 "--upstream-ca-file", up.pki["ca"], "--max-connections", "4096"],
                stdin=subprocess.PIPE, stderr=open(os.path.join(d, "err"), "wb"),
                preexec_fn=limit)
            p.stdin.write((harness.fake_key() + "\n").encode())
            p.stdin.close()
            deadline = time.monotonic() + 10
            while not os.path.exists(info) and time.monotonic() < deadline:
                time.sleep(0.05)
            self.assertTrue(os.path.exists(info), "the proxy did not start")
            p.terminate()
            p.wait(10)
            with open(os.path.join(d, "err")) as f:
                err = f.read()
            self.assertEqual(p.returncode, 0, err)
            self.assertIn("--max-connections lowered from 4096 to 222 per worker", err)
        finally:
            up.stop()


if __name__ == "__main__":
    harness.main(overall_timeout=85)
