"""Upstream answers reach the client unchanged: status, end-to-end headers and
body bytes; Content-Length and chunked answers; hop-by-hop headers removed."""

import json
import os
import time

import harness
from harness import ProxyTestCase, codex_headers

RATE_HEADERS = [
    ("retry-after", "17"),
    ("x-ratelimit-limit-requests", "10000"),
    ("x-ratelimit-remaining-requests", "0"),
    ("x-ratelimit-reset-requests", "6m0s"),
    ("x-ratelimit-limit-tokens", "30000000"),
    ("x-ratelimit-remaining-tokens", "29999000"),
    ("x-ratelimit-reset-tokens", "2ms"),
    ("x-request-id", "req_0123456789abcdef"),
    ("openai-processing-ms", "42"),
]

CASES = [
    (200, {"id": "resp_1", "object": "response", "output": [{"type": "message", "content": "h\u00e9llo"}]}),
    (400, {"error": {"message": "Invalid 'input': bad.", "type": "invalid_request_error",
                     "param": "input", "code": None}}),
    (429, {"error": {"message": "Rate limit reached for gpt-5", "type": "requests",
                     "param": None, "code": "rate_limit_exceeded"}}),
    (500, {"error": {"message": "The server had an error while processing your request.",
                     "type": "server_error", "param": None, "code": None}}),
]


class Mirroring(ProxyTestCase):

    def run_case(self, status, obj, chunked):
        body = json.dumps(obj, ensure_ascii=False).encode()
        headers = [("Content-Type", "application/json; charset=utf-8")] + RATE_HEADERS

        def handler(req, conn):
            conn.respond(status, headers, body, chunked=chunked, chunk_size=7 if chunked else None)

        self.upstream.handler = handler
        c = self.client()
        r = c.post(codex_headers(), b'{"model":"gpt-5","input":"hi"}')
        self.assertEqual(r.status, status, r)
        self.assertEqual(r.body, body, "body differs")
        for k, v in headers:
            self.assertEqual(r.header_all(k), [v], "header %s: %r" % (k, r.headers))
        c.close()

    def test_statuses_content_length(self):
        self.start()
        for status, obj in CASES:
            with self.subTest(status=status):
                self.run_case(status, obj, chunked=False)

    def test_statuses_chunked(self):
        self.start()
        for status, obj in CASES:
            with self.subTest(status=status):
                self.run_case(status, obj, chunked=True)

    def answer_with(self, blob, chunked, chunk_size):
        """The upstream answers every request with blob, in the given framing."""
        if self.proxy is None:
            self.start()
        self.upstream.handler = lambda req, conn: conn.respond(
            200, [("Content-Type", "application/octet-stream")], blob,
            chunked=chunked, chunk_size=chunk_size if chunked else None)

    def test_large_binary_body_both_framings(self):
        blob = os.urandom(300 * 1024 + 3)

        for chunked in (False, True):
            with self.subTest(chunked=chunked):
                self.answer_with(blob, chunked, 16384)
                c = self.client(timeout=20)
                r = c.post(codex_headers(), b"{}")
                self.assertEqual(r.status, 200)
                self.assertEqual(len(r.body), len(blob))
                self.assertTrue(r.body == blob, "large body differs")

    def test_large_body_to_a_slow_reader(self):
        # Far more than the flow-control windows between upstream, parent,
        # worker and client: the parent stops reading the upstream's TLS
        # records while the client lags and resumes over records already
        # received, and not one byte may be lost, duplicated or reordered.
        blob = os.urandom(6 * 1024 * 1024 + 5)
        for chunked in (False, True):
            with self.subTest(chunked=chunked):
                self.answer_with(blob, chunked, 100003)
                c = self.client(timeout=30)
                c.request("POST", "/v1/responses", codex_headers(), b"{}")
                time.sleep(0.5)  # every buffer on the way fills up
                r = c.read_head()
                self.assertEqual(r.status, 200)
                got, pauses = [], 0
                for piece in c.iter_body(r):
                    got.append(piece)
                    if sum(map(len, got)) > (pauses + 1) * 1024 * 1024:
                        pauses += 1
                        time.sleep(0.1)
                body = b"".join(got)
                self.assertEqual(len(body), len(blob))
                self.assertTrue(body == blob, "slowly read body differs")
                c.close()

    def test_hop_by_hop_response_headers_removed(self):
        def handler(req, conn):
            conn.send(b"HTTP/1.1 200 OK\r\n"
                      b"Content-Type: application/json\r\n"
                      b"Connection: x-secret-hop\r\n"
                      b"X-Secret-Hop: 1\r\n"
                      b"Keep-Alive: timeout=5\r\n"
                      b"X-End-To-End: kept\r\n"
                      b"Content-Length: 11\r\n\r\n"
                      b'{"ok":true}')

        self.start(handler=handler)
        c = self.client()
        r = c.post(codex_headers(), b"{}")
        self.assertEqual(r.status, 200, r)
        self.assertEqual(r.body, b'{"ok":true}')
        self.assertEqual(r.header_all("x-secret-hop"), [], r.raw_head)
        self.assertEqual(r.header_all("keep-alive"), [], r.raw_head)
        for v in r.header_all("connection"):
            self.assertNotIn("x-secret-hop", v.lower())
        self.assertEqual(r.header("x-end-to-end"), "kept")

    def test_close_delimited_upstream_body(self):
        # No Content-Length, no chunked: the body ends when upstream closes.
        def handler(req, conn):
            conn.send(b"HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\n\r\nall of it, until close")
            conn.close_graceful()  # TLS close_notify: the body is complete, not truncated

        self.start(handler=handler)
        c = self.client()
        r = c.post(codex_headers(), b"{}")
        self.assertEqual(r.status, 200, r)
        self.assertEqual(r.body, b"all of it, until close")

    def test_repeated_headers_kept_in_order(self):
        def handler(req, conn):
            conn.send(b"HTTP/1.1 200 OK\r\nX-Multi: a\r\nSet-Cookie: a=1\r\nX-Multi: b\r\n"
                      b"Set-Cookie: b=2\r\nContent-Length: 2\r\n\r\nok")

        self.start(handler=handler)
        c = self.client()
        r = c.post(codex_headers(), b"{}")
        self.assertEqual(r.status, 200, r)
        self.assertEqual(r.header_all("x-multi"), ["a", "b"])
        self.assertEqual(r.header_all("set-cookie"), ["a=1", "b=2"])
        self.assertEqual(r.body, b"ok")

    def test_204_no_content(self):
        # RFC 9110 8.6: no Content-Length (and no body) in a 204 answer
        self.start(handler=lambda req, conn: conn.send(
            b"HTTP/1.1 204 No Content\r\nX-Request-Id: req_204\r\n\r\n"))
        c = self.client()
        r = c.post(codex_headers(), b"{}")
        self.assertEqual(r.status, 204, r)
        self.assertEqual(r.header("x-request-id"), "req_204")
        self.assertEqual(r.header_all("transfer-encoding"), [], r.raw_head)
        self.assertEqual(r.header_all("content-length"), [], "Content-Length in a 204: %r" % r.raw_head)
        # the connection is still in sync
        self.upstream.handler = harness.default_handler
        r = c.post(codex_headers(), b"{}")
        self.assertEqual(r.status, 200, r)


if __name__ == "__main__":
    harness.main()
