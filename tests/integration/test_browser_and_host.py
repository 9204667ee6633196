"""Host checks (DNS rebinding), browser markers (Origin, Sec-Fetch-Site),
GET /shutdown from browsers, and protocol upgrades (WebSocket 426, h2c 403).
Every refusal: status, JSON error with the expected code, connection closed,
and nothing reaches the upstream stand-in."""

import socket
import time

import harness
from harness import expect_refusal, check_forwarded
from harness import ProxyTestCase, codex_headers, error_body_ok




class HostChecks(ProxyTestCase):

    def setUp(self):
        super().setUp()
        # proxy.fwd:9000: a name and port the proxy is reached by through a
        # forwarded port (ssh -L 9000:127.0.0.1:PORT), and only that port.
        self.start(extra_args=["--allow-host", "proxy.internal", "--allow-host=proxy.fwd:9000"])

    def post_host(self, host, extra=()):
        c = self.client()
        c.request("POST", "/v1/responses", [("Host", host)] + codex_headers() + list(extra), b"{}")
        return c

    def test_foreign_hosts_are_421(self):
        port = self.proxy.port
        bad = ["evil.com", "evil.com:%d" % port, "127.0.0.1", "localhost", "[::1]",
               "localhost:1", "127.0.0.1:1", "127.0.0.2:%d" % port, "127.1:%d" % port,
               "0.0.0.0:%d" % port, "localhost.evil.com:%d" % port, "other.internal",
               "proxy.internal.evil.com", "proxy.internal:1",
               "proxy.fwd", "proxy.fwd:%d" % port, "proxy.fwd:9001", "proxy.fwd:90000",
               "127.0.0.1:%d0" % port, "[::2]:%d" % port, "2130706433:%d" % port]
        for host in bad:
            with self.subTest(host=host):
                c = self.post_host(host)
                expect_refusal(self, c, 421, "misdirected_request", what="Host: %s" % host)
        time.sleep(0.3)
        self.assertEqual(self.upstream.requests, [], "request with a foreign Host reached upstream")

    def test_odd_hosts_refused(self):
        # Not our port in canonical form, or not a host at all: 400 or 421, never forwarded.
        port = self.proxy.port
        for host in ["127.0.0.1:0%d" % port, "127.0.0.1:+%d" % port, "127.0.0.1:%d:%d" % (port, port),
                     "", "127.0.0.1:%d, evil.com" % port, "user@127.0.0.1:%d" % port,
                     "127.0.0.1:%d/x" % port]:
            with self.subTest(host=host):
                c = self.post_host(host)
                expect_refusal(self, c, (400, 421), what="Host: %r" % host)
        time.sleep(0.3)
        self.assertEqual(self.upstream.requests, [])

    def test_our_names_pass(self):
        port = self.proxy.port
        good = ["127.0.0.1:%d" % port, "localhost:%d" % port, "[::1]:%d" % port,
                "LOCALHOST:%d" % port, "proxy.internal", "proxy.internal:%d" % port,
                "proxy.fwd:9000", "PROXY.FWD:9000"]
        for i, host in enumerate(good):
            with self.subTest(host=host):
                c = self.post_host(host)
                r = c.read_response()
                self.assertEqual(r.status, 200, "Host: %s -> %r" % (host, r))
                reqs = self.upstream.wait_requests(i + 1)
                check_forwarded(self, reqs[i], self.proxy, self.upstream)


class BrowserMarkers(ProxyTestCase):

    def setUp(self):
        super().setUp()
        self.start()

    def test_browser_requests_are_403(self):
        port = self.proxy.port
        markers = [
            [("Origin", "https://evil.com")],
            [("Origin", "null")],
            [("Origin", "http://127.0.0.1:%d" % port)],   # even our own origin
            [("Origin", "http://localhost:%d" % port)],
            [("origin", "")],
            [("Sec-Fetch-Site", "cross-site")],
            [("Sec-Fetch-Site", "same-site")],
            [("Sec-Fetch-Site", "same-origin")],
            [("sec-fetch-site", "Cross-Site")],
            [("Sec-Fetch-Site", "cross-site"), ("Sec-Fetch-Mode", "cors"), ("Sec-Fetch-Dest", "empty")],
            [("Sec-Fetch-Site", "none"), ("Origin", "https://evil.com")],
            [("Sec-Fetch-Site", "none"), ("Sec-Fetch-Site", "cross-site")],
        ]
        for extra in markers:
            with self.subTest(headers=extra):
                c = self.client()
                c.request("POST", "/v1/responses", codex_headers() + extra, b"{}")
                _, err = expect_refusal(self, c, 403, "browser_request_refused", what=repr(extra))
                self.assertEqual(err["type"], "invalid_request_error")
        time.sleep(0.3)
        self.assertEqual(self.upstream.requests, [], "a browser request reached the upstream")

    def test_sec_fetch_site_none_passes(self):
        c = self.client()
        c.request("POST", "/v1/responses",
                  codex_headers() + [("Sec-Fetch-Site", "none"), ("Sec-Fetch-User", "?1")], b"{}")
        r = c.read_response()
        self.assertEqual(r.status, 200, r)
        (req,) = self.upstream.wait_requests(1)
        check_forwarded(self, req, self.proxy, self.upstream)

    def test_browser_preflight_refused(self):
        c = self.client()
        c.request("OPTIONS", "/v1/responses",
                  [("Origin", "https://evil.com"), ("Access-Control-Request-Method", "POST"),
                   ("Access-Control-Request-Headers", "content-type")], None)
        r, _ = expect_refusal(self, c, 403, "browser_request_refused", what="CORS preflight")
        for h in ("access-control-allow-origin", "access-control-allow-methods"):
            self.assertIsNone(r.header(h), "preflight answered with %s" % h)


class Upgrades(ProxyTestCase):

    def setUp(self):
        super().setUp()
        self.start()

    def test_websocket_is_426(self):
        c = self.client()
        c.request("GET", "/v1/responses",
                  [("Upgrade", "websocket"), ("Connection", "Upgrade"),
                   ("Sec-WebSocket-Key", "dGhlIHNhbXBsZSBub25jZQ=="), ("Sec-WebSocket-Version", "13"),
                   ("OpenAI-Beta", "responses_websockets=2026-02-04")], None)
        expect_refusal(self, c, 426, "upgrade_required", what="websocket")
        time.sleep(0.2)
        self.assertEqual(self.upstream.requests, [])

    def test_websocket_from_browser_is_403(self):
        c = self.client()
        c.request("GET", "/v1/responses",
                  [("Upgrade", "websocket"), ("Connection", "Upgrade"), ("Origin", "https://evil.com"),
                   ("Sec-WebSocket-Key", "dGhlIHNhbXBsZSBub25jZQ=="), ("Sec-WebSocket-Version", "13")],
                  None)
        expect_refusal(self, c, 403, "browser_request_refused", what="browser websocket")

    def test_h2c_upgrade_is_403(self):
        for method, body in (("GET", None), ("POST", b"{}")):
            with self.subTest(method=method):
                c = self.client()
                c.request(method, "/v1/responses",
                          [("Upgrade", "h2c"), ("Connection", "Upgrade, HTTP2-Settings"),
                           ("HTTP2-Settings", "AAMAAABkAARAAAAAAAIAAAAA")] + codex_headers(), body)
                r, err = expect_refusal(self, c, 403, what="h2c %s" % method)
                self.assertEqual(r.status, 403)
                self.assertNotEqual(r.status, 101)
        time.sleep(0.2)
        self.assertEqual(self.upstream.requests, [])


class ShutdownFromBrowser(ProxyTestCase):

    def setUp(self):
        super().setUp()
        self.start(extra_args=["--http-shutdown"])

    def test_browser_shutdown_refused_and_proxy_keeps_running(self):
        port = self.proxy.port
        attempts = [
            ([("Origin", "https://evil.com")], 403, "browser_request_refused"),
            ([("Origin", "null")], 403, "browser_request_refused"),
            ([("Sec-Fetch-Site", "cross-site"), ("Sec-Fetch-Mode", "no-cors")], 403,
             "browser_request_refused"),
            ([("Sec-Fetch-Site", "same-origin")], 403, "browser_request_refused"),
            ([("Host", "evil.com")], 421, "misdirected_request"),
            ([("Host", "evil.com:%d" % port)], 421, "misdirected_request"),
        ]
        for extra, status, code in attempts:
            with self.subTest(headers=extra):
                c = self.client()
                c.request("GET", "/shutdown", extra, None)
                expect_refusal(self, c, status, code, what="GET /shutdown %r" % extra)
                time.sleep(0.2)
                self.assertTrue(self.proxy.alive(), "proxy exited on a browser's GET /shutdown")
        # still serving
        c = self.client()
        r = c.post(codex_headers(), b"{}")
        self.assertEqual(r.status, 200, r)
        self.assertTrue(self.proxy.alive())
        # an image tag's request (Sec-Fetch-Site: cross-site, no-cors) came and went; a
        # user-typed URL (Sec-Fetch-Site: none) is the operator's own action
        c = self.client()
        c.request("GET", "/shutdown", [("Sec-Fetch-Site", "none"), ("Sec-Fetch-Mode", "navigate")], None)
        r = c.read_response()
        self.assertEqual(r.status, 200, r)
        self.assertEqual(self.proxy.wait_exit(5), 0, "proxy did not exit 0 after GET /shutdown")


if __name__ == "__main__":
    harness.main(overall_timeout=85)
