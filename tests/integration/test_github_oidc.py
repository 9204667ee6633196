"""--github-oidc against stand-ins of GitHub's token-request URL and OpenAI's
token exchange endpoint (TLS, test CA): the exact requests the parent sends,
renewal before expiry, a failing renewal (502 to clients, retried with
backoff) and its recovery, and the start-up failures with the original's
messages and exit statuses."""

import json
import time
import urllib.parse

import harness
from harness import ProxyTestCase, codex_headers
from oidc_standins import (ACCESS_TYPE, EXCHANGE_GRANT, JWT_TYPE, ExchangeStandIn,
                           GithubStandIn, fake_token, oidc_args)
from proxy_process import Proxy, ProxyStartError


def request_token():
    # b64token characters beyond an API key's, as a GitHub runner token may have
    return fake_token("ghrt.", 60) + "~+/="


class OidcCase(ProxyTestCase):

    def setUp(self):
        super().setUp()
        self.github = GithubStandIn()
        self.exchange = ExchangeStandIn()
        self.req_token = request_token()

    def tearDown(self):
        try:
            super().tearDown()
        finally:
            self.github.stop()
            self.exchange.stop()

    def start_oidc(self, extra=(), **kw):
        args = oidc_args(self.github, self.exchange) + list(extra)
        return self.start(key=self.req_token, extra_args=args, **kw)

    def post_ok(self):
        c = self.client()
        r = c.post(headers=codex_headers(), body=b'{"model":"m","input":"hi"}')
        return r

    def upstream_auth(self, n):
        reqs = self.upstream.wait_requests(n)
        return [r.header_all("authorization") for r in reqs]


class Exchange(OidcCase):

    def test_requests_as_the_original_sends_them(self):
        self.exchange.lifetime = 3600
        self.start_oidc()
        gh = self.github.requests()
        self.assertEqual(len(gh), 1, gh)
        g = gh[0]
        self.assertEqual(g.method, "GET")
        self.assertEqual(g.target, "/_apis/token?api-version=2.0&audience=codex-ci")
        self.assertEqual(g.headers, [("authorization", "Bearer " + self.req_token),
                                     ("accept", "*/*"),
                                     ("host", "127.0.0.1:%d" % self.github.server.port)])
        self.assertEqual(g.body, b"")
        ex = self.exchange.requests()
        self.assertEqual(len(ex), 1, ex)
        e = ex[0]
        self.assertEqual(e.method, "POST")
        self.assertEqual(e.target, "/oauth/token")
        want_body = json.dumps({
            "grant_type": EXCHANGE_GRANT, "subject_token_type": JWT_TYPE,
            "subject_token": self.github.issued[0], "identity_provider_id": "wip_fake_provider",
            "service_account_id": "sa_fake_account"}, separators=(",", ":")).encode()
        self.assertEqual(e.headers, [("content-type", "application/json"), ("accept", "*/*"),
                                     ("host", "127.0.0.1:%d" % self.exchange.server.port),
                                     ("content-length", str(len(want_body)))])
        self.assertEqual(e.body, want_body)
        # The access token is what the upstream gets, and nothing else.
        r = self.post_ok()
        self.assertEqual(r.status, 200)
        self.assertEqual(self.upstream_auth(1), [["Bearer " + self.exchange.tokens()[0]]])

    def test_audience_is_form_encoded_and_appended(self):
        args = oidc_args(self.github, self.exchange, audience="api://Codex CI/x&y=1")
        self.start(key=self.req_token, extra_args=args)
        g = self.github.requests()[0]
        q = g.target.split("?", 1)[1]
        self.assertEqual(q, "api-version=2.0&audience=api%3A%2F%2FCodex+CI%2Fx%26y%3D1")
        self.assertEqual(urllib.parse.parse_qs(q)["audience"], ["api://Codex CI/x&y=1"])

    def test_chunked_exchange_answer(self):
        self.exchange.chunked = True
        self.start_oidc()
        self.assertEqual(self.post_ok().status, 200)
        self.assertEqual(self.upstream_auth(1), [["Bearer " + self.exchange.tokens()[0]]])


class Renewal(OidcCase):

    def test_renewed_before_expiry_without_a_gap(self):
        # 6 s tokens: renewed after 3 s (half the life, under a minute),
        # dropped 1.5 s before the end (a quarter, under 5 s).
        self.exchange.lifetime = 6
        self.start_oidc()
        statuses = []
        t_end = time.monotonic() + 10
        while time.monotonic() < t_end:
            statuses.append(self.post_ok().status)
            time.sleep(0.25)
        self.assertEqual(set(statuses), {200}, statuses)
        tokens = self.exchange.tokens()
        self.assertGreaterEqual(len(tokens), 3, "tokens issued in 10 s of 6 s tokens")
        self.assertEqual(len(set(tokens)), len(tokens))
        # A new GitHub ID token for every exchange, as the original does.
        self.assertEqual(len(self.github.requests()), len(self.exchange.requests()))
        subjects = [json.loads(r.body)["subject_token"] for r in self.exchange.requests()]
        self.assertEqual(subjects, self.github.issued[:len(subjects)])
        # Renewal runs ahead of expiry: spaced by about half the lifetime.
        times = [t for t, _ in self.exchange.issued]
        gaps = [b - a for a, b in zip(times, times[1:])]
        for g in gaps:
            self.assertGreater(g, 2.0, gaps)
            self.assertLess(g, 4.5, gaps)
        # Every forwarded request carried a token that was current then.
        auths = {a[0] for a in self.upstream_auth(len(statuses))}
        self.assertTrue(auths <= {"Bearer " + t for t in tokens}, auths)
        self.assertGreater(len(auths), 1)

    def test_failed_renewal_gives_502_then_recovers(self):
        self.exchange.lifetime = 4   # renewal at 2 s, unusable from 3 s
        self.start_oidc()
        self.assertEqual(self.post_ok().status, 200)
        with self.exchange.lock:
            self.exchange.status = 500
        time.sleep(4.0)
        c = self.client()
        r = c.post(headers=codex_headers(), body=b"{}")
        self.assertEqual(r.status, 502)
        body = r.json()
        self.assertEqual(body["error"]["code"], "workload_identity_unavailable")
        self.assertEqual(body["error"]["message"],
                         "workload identity renewal temporarily unavailable; retry later")
        n_failed = len(self.exchange.requests())
        self.assertGreaterEqual(n_failed, 2, "renewal was not retried")
        # Backoff: retries double (1, 2, 4 s...), so a few, not dozens.
        self.assertLess(n_failed, 8)
        self.assertIn("retrying in", self.proxy.stderr())
        with self.exchange.lock:
            self.exchange.status = 200
            self.exchange.lifetime = 3600
        deadline = time.monotonic() + 12
        status = None
        while time.monotonic() < deadline:
            status = self.post_ok().status
            if status == 200:
                break
            time.sleep(0.3)
        self.assertEqual(status, 200, "no recovery after the exchange came back")
        last = self.upstream.requests[-1]
        self.assertEqual(last.header_all("authorization"), ["Bearer " + self.exchange.tokens()[-1]])
        # No request went upstream without a current token.
        for req in self.upstream.requests:
            self.assertEqual(len(req.header_all("authorization")), 1)


class StartupFailures(OidcCase):

    def start_fails(self, extra=(), key_input=None, args=None):
        args = args if args is not None else oidc_args(self.github, self.exchange) + list(extra)
        p = Proxy(upstream=None, upstream_url=None, extra_args=args,
                  key_input=key_input if key_input is not None else (self.req_token + "\n").encode(),
                  start=True, wait_info=False)
        try:
            rc = p.wait_exit(15)
            return rc, p.stderr()
        finally:
            p.stop()
            p.cleanup()

    def test_github_refusal(self):
        self.github.status = 500
        rc, err = self.start_fails()
        self.assertEqual(rc, 1, err)
        self.assertIn("GitHub OIDC token request rejected (HTTP 500)", err)

    def test_exchange_refusal(self):
        self.exchange.status = 401
        rc, err = self.start_fails()
        self.assertEqual(rc, 1, err)
        self.assertIn("OpenAI workload identity token request rejected (HTTP 401)", err)

    def test_exchange_answers_checked(self):
        now = int(time.time())
        base = {"access_token": "oai-wif-x", "issued_token_type": ACCESS_TYPE,
                "token_type": "Bearer", "expires_in": 60, "expires_at": now + 60}
        cases = [
            ({k: v for k, v in base.items() if k != "expires_at"},
             "OpenAI workload identity returned an invalid token response"),
            (dict(base, token_type="mac"), "OpenAI returned an unsupported workload identity token type"),
            (dict(base, issued_token_type=JWT_TYPE),
             "OpenAI returned an unsupported workload identity token type"),
            (dict(base, expires_in=0), "OpenAI returned an expired workload identity token"),
            (dict(base, expires_at=now - 5), "OpenAI returned an expired workload identity token"),
            (dict(base, expires_in=3601, expires_at=now + 3601), "OpenAI returned an invalid token lifetime"),
            (dict(base, access_token="has space"), "invalid workload identity bearer credential"),
        ]
        for body, message in cases:
            with self.subTest(message=message, body=body):
                self.exchange.body = json.dumps(body).encode()
                rc, err = self.start_fails()
                self.assertEqual(rc, 1, err)
                self.assertIn(message, err)
                self.assertNotIn("oai-wif-x", err)

    def test_github_answers_checked(self):
        for body, message in [(b'{"count":1}', "GitHub OIDC returned an invalid token response"),
                              (b'{"value":""}', "workload identity source returned an invalid subject token")]:
            with self.subTest(message=message):
                self.github.body = body
                rc, err = self.start_fails()
                self.assertEqual(rc, 1, err)
                self.assertIn(message, err)

    def test_request_token_checked(self):
        for key_input, message in [(b"", "invalid workload identity bearer credential"),
                                   (b"has space\n", "invalid workload identity bearer credential"),
                                   (b"a" * 20000 + b"\n", "GitHub OIDC request credential too large")]:
            with self.subTest(message=message, n=len(key_input)):
                rc, err = self.start_fails(key_input=key_input)
                self.assertEqual(rc, 1, err)
                self.assertIn(message, err)
        self.assertEqual(self.github.requests(), [])

    def test_request_url_checked(self):
        base = oidc_args(self.github, self.exchange)
        i = base.index("--github-oidc-request-url") + 1
        for url, message in [
                ("http://127.0.0.1:1/token", "GitHub OIDC request URL must be HTTPS without user info or fragment"),
                ("https://u:p@127.0.0.1:1/token", "GitHub OIDC request URL must be HTTPS without user info or fragment"),
                ("https://127.0.0.1:1/token#x", "GitHub OIDC request URL must be HTTPS without user info or fragment"),
                ("not a url", "invalid GitHub OIDC request URL")]:
            with self.subTest(url=url):
                args = list(base)
                args[i] = url
                rc, err = self.start_fails(args=args)
                self.assertEqual(rc, 1, err)
                self.assertIn(message, err)

    def test_default_upstream_required(self):
        args = oidc_args(self.github, self.exchange)
        j = args.index("--oidc-token-url")
        del args[j:j + 2]
        args += ["--upstream-url", "https://127.0.0.1:1/v1/responses"]
        rc, err = self.start_fails(args=args)
        self.assertEqual(rc, 1, err)
        self.assertIn("workload identity requires the default OpenAI Responses endpoint", err)

    def test_flags_come_together(self):
        for drop in ("--oidc-audience", "--github-oidc-request-url", "--github-oidc"):
            with self.subTest(drop=drop):
                args = oidc_args(self.github, self.exchange)
                j = args.index(drop)
                del args[j:j + (1 if drop == "--github-oidc" else 2)]
                rc, err = self.start_fails(args=args)
                self.assertEqual(rc, 2, err)
                self.assertIn("the following required arguments were not provided", err)
                self.assertIn(drop, err)


if __name__ == "__main__":
    harness.main(overall_timeout=240)
