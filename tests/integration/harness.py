"""Black-box test harness for codex-responses-api-proxy (Python 3 stdlib only).

Tests import everything from here; the pieces live in modules of their own:
  pki.py            make_pki(tmpdir), shared_pki(): throwaway CAs and server
                    certificates made with the openssl CLI
  upstream.py       Upstream: a TLS (or plain) stand-in for api.openai.com on 127.0.0.1:0
  proxy_process.py  Proxy: runs PROXY_BIN with a fake key on stdin, waits for --server-info
  client.py         Client: a raw HTTP/1.1 client over a socket (exact bytes in, exact bytes out)
  http_wire.py      HTTP/1.1 bytes both sides share (buffered reads, heads, chunked bodies)
  testenv.py        the binary under test, fake keys, ports
This file: ProxyTestCase, the checks tests share (error bodies, refusals,
forwarded requests), and main(), which runs the unittest cases of the calling
module and prints "N passed, N failed[, N skipped]"; exit 77 when there is no binary.

Everything listens on and connects to 127.0.0.1 only. Keys are fake.
"""

import faulthandler
import json
import os
import random
import socket
import sys
import time
import unittest

# The pieces live in their own modules; tests import them all from here.
from client import Client, Response, build_request  # noqa: F401
from http_wire import (BufferedSock, REASONS, build_response, chunk, header_all,  # noqa: F401
                       header_one, parse_head, read_chunked)
from pki import make_pki, shared_pki  # noqa: F401
from proxy_process import CRASH_PATTERNS, SECURITY_EVENT, Proxy, ProxyStartError  # noqa: F401
from testenv import DEFAULT_TIMEOUT, LOOPBACK, closed_port, fake_key, free_port, proxy_bin  # noqa: F401
from upstream import (Upstream, UpstreamConn, UpstreamRequest, default_handler,  # noqa: F401
                      stop_accept_thread)


class ProxyTestCase(unittest.TestCase):
    """Base class: self.upstream / self.proxy made by start(); torn down with
    the crash and key-leak checks."""

    upstream = None
    proxy = None
    allow_security_events = False

    def start(self, handler=None, upstream_kw=None, **proxy_kw):
        if self.upstream is None and proxy_kw.get("upstream_url") is None:
            self.upstream = Upstream(handler=handler, **(upstream_kw or {}))
        self.proxy = Proxy(upstream=self.upstream, **proxy_kw)
        return self.proxy

    def client(self, **kw):
        c = Client(self.proxy.port, **kw)
        self._clients.append(c)
        return c

    def serve_ok(self, tries=20):
        """POST until one answers 200 (tries, 0.1 s apart: workers may be
        respawning); fail with the last answer and the proxy's log."""
        last = None
        for _ in range(tries):
            try:
                c = Client(self.proxy.port, timeout=10)
                try:
                    r = c.post(codex_headers(), b'{"model":"gpt-5"}')
                finally:
                    c.close()
                if r.status == 200:
                    return r
                last = r
            except (OSError, EOFError) as e:
                last = e
            time.sleep(0.1)
        self.fail("proxy does not serve: %r; stderr:\n%s" % (last, self.proxy.stderr()))

    def setUp(self):
        self._clients = []
        self.upstream = None
        self.proxy = None

    def tearDown(self):
        for c in self._clients:
            c.close()
        try:
            if self.proxy is not None:
                self.proxy.stop()
                self.proxy.check_clean(self, allow_security_events=self.allow_security_events)
        finally:
            if self.upstream is not None:
                self.upstream.stop()
                errors = list(self.upstream.errors)
            else:
                errors = []
            if self.proxy is not None:
                self.proxy.cleanup()
        self.assertEqual(errors, [], "exceptions in the upstream stand-in's handler")


def codex_headers(session_id=None):
    """Headers the Codex CLI sends to /v1/responses (lower-case, as reqwest does)."""
    sid = session_id or "0199a1b2-c3d4-7e5f-8a9b-%012x" % random.getrandbits(48)
    meta = json.dumps({"turn_id": "t-%d" % random.randint(1, 10**6), "sandbox": "workspace-write"},
                      separators=(",", ":"))
    return [
        ("content-type", "application/json"),
        ("accept", "text/event-stream"),
        ("session-id", sid),
        ("x-codex-turn-metadata", meta),
        ("originator", "codex_cli_rs"),
        ("user-agent", "codex_cli_rs/0.169.0 (Debian 12.0.0; x86_64) xterm-256color (codex-exec; 0.169.0)"),
    ]


def error_body_ok(tc, resp, code=None):
    """Check an OpenAI-shaped JSON error body; returns the error object."""
    try:
        obj = json.loads(resp.body)
    except ValueError:
        tc.fail("error body is not JSON: %r (status %s)" % (resp.body[:200], resp.status))
    tc.assertIsInstance(obj, dict, resp.body)
    tc.assertIn("error", obj, resp.body)
    err = obj["error"]
    tc.assertIsInstance(err, dict, resp.body)
    for k in ("message", "type", "code"):
        tc.assertIn(k, err, "error object lacks %r: %r" % (k, resp.body))
    tc.assertIsInstance(err["message"], str)
    tc.assertTrue(err["message"], "empty error message")
    if code is not None:
        tc.assertEqual(err["code"], code, resp.body)
    return err


# ---------------------------------------------------------------------------
# Runner



def expect_refusal(tc, c, statuses, code=None, what=""):
    """Read one answer; check status, the JSON error body and its type, the
    content type, and that the proxy closes the connection."""
    if isinstance(statuses, int):
        statuses = (statuses,)
    try:
        r = c.read_response()
    except (EOFError, ConnectionResetError, socket.timeout) as e:
        tc.fail("%s: no answer (%r), wanted %s" % (what, e, statuses))
    tc.assertIn(r.status, statuses, "%s: %r" % (what, r))
    err = error_body_ok(tc, r, code=code)
    want_type = "server_error" if r.status >= 500 else "invalid_request_error"
    tc.assertEqual(err["type"], want_type, "%s: %r" % (what, r.body))
    ctype = r.header("content-type") or ""
    tc.assertTrue(ctype.startswith("application/json"), "%s: content-type %r" % (what, ctype))
    tc.assertTrue(c.is_closed_by_peer(3.0), "%s: connection left open after a %d refusal"
                  % (what, r.status))
    return r, err


def check_forwarded(tc, req, proxy, upstream):
    """What the upstream got is canonical: POST to the configured path, one
    Authorization (the proxy's key), the upstream's Host, exactly one framing."""
    tc.assertEqual(req.method, "POST")
    tc.assertEqual(req.target, "/v1/responses")
    tc.assertEqual(req.header_all("authorization"), ["Bearer " + proxy.key])
    tc.assertEqual(req.header_all("host"), ["127.0.0.1:%d" % upstream.port])
    cl = req.header_all("content-length")
    te = req.header_all("transfer-encoding")
    tc.assertEqual(len(cl) + len(te), 1, "framing upstream: CL=%r TE=%r" % (cl, te))
    if te:
        tc.assertEqual([v.lower() for v in te], ["chunked"])


def main(overall_timeout=240):
    """Run the unittest cases of __main__ and print "N passed, N failed"."""
    mod = sys.modules["__main__"]
    suite = unittest.defaultTestLoader.loadTestsFromModule(mod)
    if not proxy_bin():
        n = suite.countTestCases()
        print("PROXY_BIN not set or not executable (%r): skipping" % os.environ.get("PROXY_BIN"))
        print("0 passed, 0 failed, %d skipped" % n)
        sys.exit(77)
    faulthandler.dump_traceback_later(overall_timeout, exit=True)
    runner = unittest.TextTestRunner(stream=sys.stdout, verbosity=2)
    result = runner.run(suite)
    faulthandler.cancel_dump_traceback_later()
    # a test can fail in its body and again in tearDown: count tests, not reports
    def tid(t):  # a subTest reports as its own object; count its parent test
        return getattr(t, "test_case", t).id()
    failed_ids = {tid(t) for t, _ in result.failures + result.errors}
    failed_ids |= {tid(t) for t in result.unexpectedSuccesses}
    skipped_ids = {tid(t) for t, _ in result.skipped} - failed_ids
    failed = len(failed_ids)
    skipped = len(skipped_ids)
    passed = max(0, result.testsRun - failed - skipped)
    line = "%d passed, %d failed" % (passed, failed)
    if skipped:
        line += ", %d skipped" % skipped
    print(line)
    sys.stdout.flush()
    sys.exit(1 if failed else 0)
