"""Everything that is not exactly POST /v1/responses is answered 403 with an
OpenAI-shaped JSON error, and never reaches the upstream."""

import time

import harness
from harness import ProxyTestCase, codex_headers, error_body_ok

REFUSED = [
    ("GET", "/v1/responses", None),
    ("PUT", "/v1/responses", b"{}"),
    ("DELETE", "/v1/responses", None),
    ("OPTIONS", "/v1/responses", None),
    ("POST", "/v1/responses?x=1", b"{}"),
    ("POST", "/v1/responses?", b"{}"),
    ("POST", "/v1/responses/", b"{}"),
    ("POST", "/v1/Responses", b"{}"),
    ("POST", "/v1/chat/completions", b"{}"),
    ("POST", "/", b"{}"),
    ("GET", "/", None),
    ("GET", "/shutdown", None),
    ("POST", "//v1/responses", b"{}"),
    ("POST", "/v1/%72esponses", b"{}"),
    ("POST", "/v1/./responses", b"{}"),
]


class Refusals(ProxyTestCase):

    def setUp(self):
        super().setUp()
        self.start()

    def check_refused(self, method, target, body):
        c = self.client(timeout=5)
        c.request(method, target, codex_headers(), body)
        r = c.read_response()
        self.assertEqual(r.status, 403, "%s %s -> %r" % (method, target, r))
        err = error_body_ok(self, r, code="forbidden")
        self.assertIsInstance(err["type"], str)
        ctype = r.header("content-type") or ""
        self.assertTrue(ctype.startswith("application/json"), "content-type %r" % ctype)
        c.close()

    def test_each_refused(self):
        for method, target, body in REFUSED:
            with self.subTest(method=method, target=target):
                self.check_refused(method, target, body)
        # a real request afterwards proves the upstream was reachable all along
        time.sleep(0.2)
        self.assertEqual(self.upstream.requests, [], "a refused request reached the upstream")
        c = self.client()
        r = c.post(codex_headers(), b"{}")
        self.assertEqual(r.status, 200, r)
        self.assertEqual(len(self.upstream.wait_requests(1)), 1)

    def test_shutdown_without_flag_is_403_and_process_stays(self):
        c = self.client()
        c.request("GET", "/shutdown", [])
        r = c.read_response()
        self.assertEqual(r.status, 403, r)
        error_body_ok(self, r, code="forbidden")
        time.sleep(0.5)
        self.assertTrue(self.proxy.alive(), "proxy exited after GET /shutdown without --http-shutdown")

    def test_refused_on_keepalive_connection_then_allowed(self):
        # A refusal must not desynchronise the connection: either the proxy
        # closes it, or the next request on it is handled normally.
        c = self.client()
        c.request("GET", "/v1/models", [])
        r = c.read_response()
        self.assertEqual(r.status, 403, r)
        error_body_ok(self, r, code="forbidden")
        if c.is_closed_by_peer(0.3):
            return
        r = c.post(codex_headers(), b'{"after":"refusal"}')
        self.assertEqual(r.status, 200, r)
        (req,) = self.upstream.wait_requests(1)
        self.assertEqual(req.body, b'{"after":"refusal"}')


if __name__ == "__main__":
    harness.main()
