"""Upstream failures become 502 answers with an OpenAI-shaped JSON error:
connection refused, untrusted certificate, certificate for another name."""

import re
import time

import harness
from harness import ProxyTestCase, Upstream, codex_headers, error_body_ok


class UpstreamErrors(ProxyTestCase):

    def post_expect_502(self, code=None):
        c = self.client(timeout=20)
        r = c.post(codex_headers(), b'{"model":"gpt-5"}')
        self.assertEqual(r.status, 502, r)
        err = error_body_ok(self, r, code=code)
        ctype = r.header("content-type") or ""
        self.assertTrue(ctype.startswith("application/json"), ctype)
        return err

    def new_log_lines(self, before):
        time.sleep(0.5)  # let the parent flush its log line
        text = self.proxy.stderr()
        return [l for l in text[len(before):].splitlines() if l.strip()]

    def test_connection_refused(self):
        port = harness.closed_port()
        self.start(upstream_url="https://127.0.0.1:%d/v1/responses" % port)
        before = self.proxy.stderr()
        self.post_expect_502(code="upstream_unreachable")
        lines = self.new_log_lines(before)
        # (the request's audit line, which carries the code, is not about the upstream)
        hits = [l for l in lines if re.search(r"refused|unreachable", l, re.I) and " audit " not in l]
        self.assertEqual(len(hits), 1, "want exactly one log line about the refused upstream, got:\n%s"
                         % "\n".join(lines[-30:]))
        # the proxy is still serving
        before = self.proxy.stderr()
        self.post_expect_502(code="upstream_unreachable")
        self.assertTrue(self.proxy.alive())

    def test_untrusted_certificate(self):
        self.upstream = Upstream(cert="untrusted")
        self.start()
        before = self.proxy.stderr()
        self.post_expect_502(code="upstream_tls_error")
        self.assertEqual(self.upstream.requests, [], "request sent over an unverified TLS connection")
        self.assertGreaterEqual(len(self.upstream.wait_tls_errors(1, timeout=2)), 1)
        lines = self.new_log_lines(before)
        self.assertTrue(any(re.search(r"certif|verif|tls|ssl", l, re.I) for l in lines),
                        "no log line about the TLS failure:\n%s" % "\n".join(lines[-30:]))

    def test_system_store_does_not_trust_the_test_ca(self):
        # Without --upstream-ca-file the system store decides, looked up
        # lazily in its hashed directory: the first handshake opens files
        # under the parent's seccomp filter, which must allow it.
        self.upstream = Upstream(cert="good")
        self.start(start=False)
        i = self.proxy.args.index("--upstream-ca-file")
        del self.proxy.args[i:i + 2]
        self.proxy.start()
        for _ in range(2):
            self.post_expect_502(code="upstream_tls_error")
        self.assertEqual(self.upstream.requests, [], "request sent to an upstream nobody trusts")
        self.assertTrue(self.proxy.alive())
        self.assertRegex(self.proxy.stderr(), r"certificate verification: unable to get local issuer")

    def test_certificate_for_another_ip_name(self):
        # cert only for DNS wrong-name.invalid; upstream URL uses 127.0.0.1
        self.upstream = Upstream(cert="wrong_name")
        self.start()
        self.post_expect_502(code="upstream_tls_error")
        self.assertEqual(self.upstream.requests, [])

    def test_certificate_without_dns_name(self):
        # cert only for IP 127.0.0.1; upstream URL uses the host name localhost
        self.upstream = Upstream(cert="ip_only")
        self.start(upstream_url="https://localhost:%d/v1/responses" % self.upstream.port)
        self.post_expect_502(code="upstream_tls_error")
        self.assertEqual(self.upstream.requests, [])

    def test_localhost_name_with_good_cert_works(self):
        # control for the test above: same URL, cert that names localhost
        self.upstream = Upstream(cert="good")
        self.start(upstream_url="https://localhost:%d/v1/responses" % self.upstream.port)
        c = self.client()
        r = c.post(codex_headers(), b"{}")
        self.assertEqual(r.status, 200, r)
        (req,) = self.upstream.wait_requests(1)
        self.assertEqual(req.header_all("host"), ["localhost:%d" % self.upstream.port])

    def test_upstream_garbage_answer(self):
        def handler(req, conn):
            conn.send(b"this is not HTTP at all\r\n\r\n")
            conn.close()

        self.start(handler=handler)
        c = self.client()
        r = c.post(codex_headers(), b"{}")
        self.assertEqual(r.status, 502, r)
        error_body_ok(self, r)

    def test_upstream_resets_before_answer(self):
        self.start(handler=lambda req, conn: conn.reset())
        c = self.client()
        r = c.post(codex_headers(), b"{}")
        self.assertEqual(r.status, 502, r)
        error_body_ok(self, r)
        self.assertTrue(self.proxy.alive())

    def test_upstream_reset_mid_body(self):
        # head already forwarded, body cut: the client must not see a complete answer
        def handler(req, conn):
            conn.send(b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 1000\r\n\r\n{\"partial\":")
            time.sleep(0.2)
            conn.reset()

        self.start(handler=handler)
        c = self.client()
        c.request("POST", "/v1/responses", codex_headers(), b"{}")
        r = c.read_head()
        self.assertEqual(r.status, 200, r)
        body = b""
        truncated = False
        try:
            for piece in c.iter_body(r):
                body += piece
        except (EOFError, ConnectionResetError, OSError, ValueError):
            truncated = True
        self.assertTrue(truncated, "client saw a complete body although upstream was cut: %r" % body)
        self.assertLess(len(body), 1000)
        self.assertTrue(self.proxy.alive())

    def test_close_delimited_body_without_close_notify_is_truncated(self):
        # A TLS close without close_notify may be an attacker's truncation: the
        # client must not get a properly terminated body.
        def handler(req, conn):
            conn.send(b"HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\n\r\npartial body")
            time.sleep(0.1)
            conn.close()  # no close_notify

        self.start(handler=handler)
        c = self.client()
        c.request("POST", "/v1/responses", codex_headers(), b"{}")
        r = c.read_head()
        self.assertEqual(r.status, 200, r)
        body = b""
        truncated = False
        try:
            for piece in c.iter_body(r):
                body += piece
        except (EOFError, ConnectionResetError, OSError, ValueError):
            truncated = True
        if r.framing == "close":
            self.skipTest("proxy answered close-delimited; truncation cannot be signalled")
        self.assertTrue(truncated, "body ended cleanly although upstream TLS was cut: %r" % body)


if __name__ == "__main__":
    harness.main()
