"""Header policy toward the upstream: hop-by-hop fields, fields named in
Connection, client credentials and billing-scope fields are dropped; the
operator's --openai-organization / --openai-project replace the client's; the
upstream sees exactly one Authorization (the proxy's key), the Host of the
configured upstream, and framing of the proxy's choosing."""

import time

import harness
from harness import check_forwarded
from harness import ProxyTestCase, codex_headers


def names(req):
    return [k.lower() for k, _ in req.headers]


class HeaderPolicy(ProxyTestCase):

    def setUp(self):
        super().setUp()
        self.start()

    def send(self, headers, body=b'{"model":"gpt-5"}', **kw):
        n = len(self.upstream.requests) + 1
        c = self.client()
        c.request("POST", "/v1/responses", headers, body, **kw)
        r = c.read_response()
        self.assertEqual(r.status, 200, r)
        req = self.upstream.wait_requests(n)[-1]
        check_forwarded(self, req, self.proxy, self.upstream)
        return req

    def test_denied_and_hop_by_hop_dropped(self):
        hdrs = codex_headers() + [
            ("Connection", "keep-alive, X-Foo"),
            ("Connection", "x-bar"),
            ("X-Foo", "1"),
            ("X-Bar", "2"),
            ("Keep-Alive", "timeout=5, max=100"),
            ("Proxy-Connection", "keep-alive"),
            ("TE", "trailers"),
            ("Trailer", "X-Checksum"),
            ("Authorization", "Bearer sk-client-supplied"),
            ("Proxy-Authorization", "Basic dXNlcjpwYXNz"),
            ("Cookie", "session=abc"),
            ("OpenAI-Organization", "org-client"),
            ("OpenAI-Project", "proj-client"),
            ("X-Custom", "kept value"),
        ]
        req = self.send(hdrs)
        have = names(req)
        for name in ("connection", "keep-alive", "proxy-connection", "te", "trailer",
                     "proxy-authorization", "cookie", "openai-organization", "openai-project",
                     "x-foo", "x-bar", "expect"):
            self.assertNotIn(name, have, "%s forwarded upstream: %r" % (name, req.headers))
        self.assertNotIn("sk-client-supplied", req.raw_head.decode("latin-1"))
        self.assertEqual(req.header("x-custom"), "kept value")
        for k, v in codex_headers():
            if k in ("session-id", "x-codex-turn-metadata"):
                continue
            self.assertEqual(req.header(k), v, "%s not forwarded unchanged" % k)
        self.assertEqual(req.body, b'{"model":"gpt-5"}')

    def test_case_variants_dropped(self):
        hdrs = [("content-type", "application/json"),
                ("AUTHORIZATION", "Bearer sk-upper"),
                ("authorization", "Bearer sk-lower"),
                ("cOoKiE", "a=b"),
                ("openai-organization", "org-x"),
                ("OPENAI-PROJECT", "proj-x"),
                ("PROXY-AUTHORIZATION", "Basic eA=="),
                ("connection", "X-Conn-Listed"),
                ("x-conn-listed", "gone")]
        req = self.send(hdrs)
        have = names(req)
        for name in ("cookie", "openai-organization", "openai-project", "proxy-authorization",
                     "x-conn-listed", "connection"):
            self.assertNotIn(name, have, "%s forwarded upstream" % name)
        raw = req.raw_head.decode("latin-1")
        self.assertNotIn("sk-upper", raw)
        self.assertNotIn("sk-lower", raw)

    def test_chunked_client_body_reframed(self):
        hdrs = codex_headers() + [("Transfer-Encoding", "chunked")]
        c = self.client()
        c.request("POST", "/v1/responses", hdrs, None, chunks=[b'{"a":', b'"b"', b"}"])
        r = c.read_response()
        self.assertEqual(r.status, 200, r)
        (req,) = self.upstream.wait_requests(1)
        check_forwarded(self, req, self.proxy, self.upstream)
        self.assertEqual(req.body, b'{"a":"b"}')

    def test_content_length_body_framing(self):
        req = self.send(codex_headers(), body=b"x" * 5000)
        self.assertEqual(req.body, b"x" * 5000)

    def test_smuggled_second_request_not_forwarded_as_one(self):
        # Body bytes that look like a request are only body bytes.
        inner = (b"POST /v1/responses HTTP/1.1\r\nHost: 127.0.0.1:%d\r\nAuthorization: Bearer x\r\n"
                 b"Content-Length: 2\r\n\r\n{}" % self.upstream.port)
        req = self.send(codex_headers(), body=inner)
        self.assertEqual(req.body, inner)
        time.sleep(0.3)
        self.assertEqual(len(self.upstream.requests), 1)


class FixedOrgProject(ProxyTestCase):

    def setUp(self):
        super().setUp()
        self.start(extra_args=["--openai-organization", "org-operator",
                               "--openai-project", "proj_operator"])

    def test_operator_values_replace_client_values(self):
        c = self.client()
        c.request("POST", "/v1/responses", codex_headers() + [
            ("OpenAI-Organization", "org-client"), ("openai-organization", "org-client2"),
            ("OpenAI-Project", "proj-client"), ("Authorization", "Bearer sk-client")], b"{}")
        r = c.read_response()
        self.assertEqual(r.status, 200, r)
        (req,) = self.upstream.wait_requests(1)
        check_forwarded(self, req, self.proxy, self.upstream)
        self.assertEqual(req.header_all("openai-organization"), ["org-operator"])
        self.assertEqual(req.header_all("openai-project"), ["proj_operator"])

    def test_operator_values_sent_when_client_sends_none(self):
        c = self.client()
        r = c.post(codex_headers(), b"{}")
        self.assertEqual(r.status, 200, r)
        (req,) = self.upstream.wait_requests(1)
        check_forwarded(self, req, self.proxy, self.upstream)
        self.assertEqual(req.header_all("openai-organization"), ["org-operator"])
        self.assertEqual(req.header_all("openai-project"), ["proj_operator"])


if __name__ == "__main__":
    harness.main(overall_timeout=85)
