"""Egress through an HTTP proxy with CONNECT, as the original's reqwest does:
HTTPS_PROXY / https_proxy, ALL_PROXY as the fallback, NO_PROXY to go direct,
--upstream-proxy URL (overrides them; none disables). TLS with verification
runs to the upstream inside the tunnel, the upstream sees the same canonical
request, pooled connections reuse the tunnel, Basic credentials go to the
proxy only and are never logged, and a proxy that refuses gives the client a
502 upstream_proxy_error with one log line naming the proxy's answer."""

import base64
import os
import tempfile
import time

import harness
from connect_proxy import ConnectProxy
from harness import ProxyTestCase, Upstream, check_forwarded, closed_port, codex_headers
from test_upstream_faults import expect_error

USER, PASSWORD = "alice", "s3cret:p@ss"  # ':' and '@' must survive URL encoding
PASSWORD_URL = "s3cret%3Ap%40ss"


class UpstreamProxy(ProxyTestCase):

    def setUp(self):
        super().setUp()
        self.cp = None

    def tearDown(self):
        try:
            super().tearDown()
        finally:
            if self.cp is not None:
                self.cp.stop()

    def post_ok(self):
        c = self.client()
        r = c.post(codex_headers(), b'{"model":"gpt-5"}')
        self.assertEqual(r.status, 200, "%r\n%s" % (r, self.proxy.stderr_tail()))
        return c

    def assert_tunnelled(self, n_connects=1):
        target = "127.0.0.1:%d" % self.upstream.port
        self.assertEqual(len(self.cp.heads), n_connects, self.cp.heads)
        for line, headers in self.cp.heads:
            self.assertEqual(line, "CONNECT %s HTTP/1.1" % target)
            self.assertEqual([v for k, v in headers if k.lower() == "host"], [target])
        # Inside the tunnel everything is TLS: the proxy never sees the key.
        self.assertNotIn(self.proxy.key.encode(), bytes(self.cp.relayed))
        self.assertNotIn(b"/v1/responses", bytes(self.cp.relayed))

    def assert_logged(self, *texts):
        log = self.proxy.stderr()
        for t in texts:
            self.assertIn(t, log)
        self.assertNotIn(PASSWORD, log)
        self.assertNotIn(PASSWORD_URL, log)

    # --- the route ---------------------------------------------------------

    def test_https_proxy_env_same_canonical_request_and_pooled_tunnel(self):
        self.upstream = Upstream()
        self.cp = ConnectProxy()
        self.start(env={"HTTPS_PROXY": self.cp.url})
        c = self.post_ok()
        r = c.post(codex_headers(), b"{}")
        self.assertEqual(r.status, 200, r)
        reqs = self.upstream.wait_requests(2)
        for req in reqs:
            check_forwarded(self, req, self.proxy, self.upstream)
            self.assertIsNone(req.header("proxy-authorization"))
        self.assertEqual(reqs[0].conn_id, reqs[1].conn_id, "second request not pooled")
        self.assert_tunnelled(1)
        self.assertEqual(self.cp.heads[0][1], [("Host", "127.0.0.1:%d" % self.upstream.port)])
        self.assert_logged("through the HTTP proxy %s (from HTTPS_PROXY)" % self.cp.url)

    def test_lowercase_and_all_proxy(self):
        for var in ("https_proxy", "ALL_PROXY", "all_proxy"):
            with self.subTest(var=var):
                self.upstream = Upstream()
                self.cp = ConnectProxy()
                try:
                    self.start(env={var: self.cp.url})
                    self.post_ok()
                    self.assert_tunnelled(1)
                    self.assert_logged("(from %s)" % var)
                finally:
                    self.proxy.stop()
                    self.proxy.check_clean(self)
                    self.cp.stop()
                    self.upstream.stop()
                    self.cp = None

    def test_https_proxy_wins_over_all_proxy(self):
        self.upstream = Upstream()
        self.cp = ConnectProxy()
        self.start(env={"HTTPS_PROXY": self.cp.url,
                        "ALL_PROXY": "http://127.0.0.1:%d" % closed_port()})
        self.post_ok()
        self.assert_tunnelled(1)

    def test_no_proxy_bypasses(self):
        for no_proxy in ("127.0.0.1", "localhost, 127.0.0.0/8", "*", "example.com,127.0.0.1"):
            with self.subTest(no_proxy=no_proxy):
                self.upstream = Upstream()
                self.cp = ConnectProxy()
                try:
                    self.start(env={"HTTPS_PROXY": self.cp.url, "NO_PROXY": no_proxy})
                    self.post_ok()
                    self.assertEqual(self.cp.heads, [], "went through the proxy despite NO_PROXY")
                    self.assert_logged("NO_PROXY matches 127.0.0.1")
                finally:
                    self.proxy.stop()
                    self.proxy.check_clean(self)
                    self.cp.stop()
                    self.upstream.stop()
                    self.cp = None

    def test_no_proxy_that_does_not_match(self):
        self.upstream = Upstream()
        self.cp = ConnectProxy()
        self.start(env={"HTTPS_PROXY": self.cp.url, "no_proxy": "localhost,.example.com,10.0.0.0/8"})
        self.post_ok()
        self.assert_tunnelled(1)

    def test_flag_overrides_environment(self):
        self.upstream = Upstream()
        self.cp = ConnectProxy()
        dead = "http://127.0.0.1:%d" % closed_port()
        # --upstream-proxy wins over HTTPS_PROXY and ignores NO_PROXY.
        self.start(env={"HTTPS_PROXY": dead, "NO_PROXY": "127.0.0.1"},
                   extra_args=["--upstream-proxy", self.cp.url])
        self.post_ok()
        self.assert_tunnelled(1)
        self.assert_logged("(from --upstream-proxy)")

    def test_flag_none_disables(self):
        self.upstream = Upstream()
        self.start(env={"HTTPS_PROXY": "http://127.0.0.1:%d" % closed_port()},
                   extra_args=["--upstream-proxy", "none"])
        self.post_ok()

    def test_tls_is_verified_inside_the_tunnel(self):
        self.upstream = Upstream(cert="untrusted")
        self.cp = ConnectProxy()
        self.start(env={"HTTPS_PROXY": self.cp.url})
        c = self.client()
        c.request("POST", "/v1/responses", codex_headers(), b"{}")
        expect_error(self, c, 502, "upstream_tls_error")
        self.assertEqual(self.upstream.requests, [])
        self.assertEqual(len(self.cp.heads), 1)

    # --- credentials ---------------------------------------------------------

    def test_credentials_in_the_url(self):
        self.upstream = Upstream()
        self.cp = ConnectProxy(credentials=(USER, PASSWORD))
        url = "http://%s:%s@127.0.0.1:%d" % (USER, PASSWORD_URL, self.cp.port)
        self.start(extra_args=["--upstream-proxy", url, "--verbose"])
        self.post_ok()
        self.assert_tunnelled(1)
        want = "Basic " + base64.b64encode(("%s:%s" % (USER, PASSWORD)).encode()).decode()
        self.assertEqual([v for k, v in self.cp.heads[0][1] if k == "Proxy-Authorization"], [want])
        self.assertIsNone(self.upstream.requests[0].header("proxy-authorization"))
        self.assert_logged("with credentials")
        # The parent blanks the password in its own command line (ps shows
        # it to every user), and workers never get the URL at all.
        with open("/proc/%d/cmdline" % self.proxy.pid, "rb") as f:
            cmd = f.read()
        self.assertNotIn(PASSWORD_URL.encode(), cmd)
        self.assertIn(b"--upstream-proxy", cmd)
        for pid in os.listdir("/proc"):
            if not pid.isdigit():
                continue
            try:
                with open("/proc/%s/cmdline" % pid, "rb") as f:
                    cmd = f.read()
            except OSError:
                continue
            if b"--worker-mode" in cmd:
                self.assertNotIn(PASSWORD_URL.encode(), cmd)

    def test_credentials_file(self):
        self.upstream = Upstream()
        self.cp = ConnectProxy(credentials=(USER, PASSWORD))
        with tempfile.NamedTemporaryFile("w", suffix=".cred", delete=False) as f:
            f.write("%s:%s\n" % (USER, PASSWORD))
        try:
            self.start(env={"HTTPS_PROXY": self.cp.url},
                       extra_args=["--upstream-proxy-credentials-file", f.name])
            self.post_ok()
            self.assert_tunnelled(1)
        finally:
            os.unlink(f.name)

    # --- refusals --------------------------------------------------------------

    def refused(self, expect_in_log):
        c = self.client()
        c.request("POST", "/v1/responses", codex_headers(), b"{}")
        expect_error(self, c, 502, "upstream_proxy_error")
        self.assertEqual(self.upstream.requests, [])
        deadline = time.monotonic() + 3
        while time.monotonic() < deadline and expect_in_log not in self.proxy.stderr():
            time.sleep(0.05)
        # One line about the proxy (the request's audit line carries the code too)
        lines = [l for l in self.proxy.stderr().splitlines()
                 if "upstream_proxy_error" in l and " audit " not in l]
        self.assertEqual(len(lines), 1, self.proxy.stderr_tail())
        self.assertIn(expect_in_log, lines[0])
        self.assert_logged()

    def test_wrong_credentials_407(self):
        self.cp = ConnectProxy(credentials=(USER, PASSWORD))
        url = "http://%s:wrong@127.0.0.1:%d" % (USER, self.cp.port)
        self.upstream = Upstream()
        self.start(extra_args=["--upstream-proxy", url])
        self.refused("answered CONNECT with 407 Proxy Authentication Required")

    def test_no_credentials_407(self):
        self.cp = ConnectProxy(credentials=(USER, PASSWORD))
        self.upstream = Upstream()
        self.start(env={"HTTPS_PROXY": self.cp.url})
        self.refused("answered CONNECT with 407")

    def test_forbidden_403(self):
        self.cp = ConnectProxy(refuse=(403, "Forbidden"))
        self.upstream = Upstream()
        self.start(env={"HTTPS_PROXY": self.cp.url})
        self.refused("proxy %s (from HTTPS_PROXY) answered CONNECT with 403 Forbidden" % self.cp.url)

    def test_proxy_cannot_reach_upstream_502(self):
        self.cp = ConnectProxy()
        self.start(upstream_url="https://127.0.0.1:%d/v1/responses" % closed_port(),
                   env={"HTTPS_PROXY": self.cp.url})
        c = self.client()
        c.request("POST", "/v1/responses", codex_headers(), b"{}")
        expect_error(self, c, 502, "upstream_proxy_error")
        self.assertIn("answered CONNECT with 502", self.proxy.stderr())

    def test_dead_proxy_port(self):
        self.upstream = Upstream()
        self.start(env={"HTTPS_PROXY": "http://127.0.0.1:%d" % closed_port()})
        self.refused("cannot be reached: Connection refused")

    # --- configuration ---------------------------------------------------------

    def test_unsupported_proxy_kinds_are_refused_at_start(self):
        self.upstream = Upstream()
        for env, args, status in (({"HTTPS_PROXY": "socks5://127.0.0.1:1080"}, [], 9),
                                  ({}, ["--upstream-proxy", "https://127.0.0.1:3128"], 2),
                                  ({}, ["--upstream-proxy", "http://u:pw@"], 2)):
            with self.subTest(env=env, args=args):
                p = harness.Proxy(upstream=self.upstream, env=env, extra_args=args, start=False)
                try:
                    p.start(wait_info=False)
                    self.assertEqual(p.wait_exit(10), status, p.stderr())
                    self.assertIn("proxy", p.stderr())
                    self.assertNotIn(":pw", p.stderr())
                finally:
                    p.stop()
                    p.cleanup()


if __name__ == "__main__":
    harness.main()
