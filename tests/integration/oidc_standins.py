"""Stand-ins for --github-oidc: GitHub's token-request URL and OpenAI's token
exchange endpoint, each a TLS server of its own (test CA), recording every
request and answering from a script the test can change at any time. Tokens
are fake and made up per test."""

import json
import random
import string
import threading
import time

from upstream import Upstream

EXCHANGE_GRANT = "urn:ietf:params:oauth:grant-type:token-exchange"
JWT_TYPE = "urn:ietf:params:oauth:token-type:jwt"
ACCESS_TYPE = "urn:ietf:params:oauth:token-type:access_token"


def fake_token(prefix, n=48, alphabet=string.ascii_letters + string.digits):
    return prefix + "".join(random.choice(alphabet) for _ in range(n))


def fake_jwt():
    """Shaped like GitHub's ID token (three base64url parts), random."""
    part = string.ascii_letters + string.digits + "-_"
    return ".".join(fake_token(p, 40, part) for p in ("eyJhbGciOiJSUzI1NiJ9", "eyJzdWIiOi", ""))


class GithubStandIn:
    """GET <path>?...&audience=...: {"count":N,"value":"<ID token>"} with a new
    ID token each time, unless `status`/`body` say otherwise."""

    def __init__(self, path="/_apis/token"):
        self.path = path
        self.status = 200
        self.body = None          # bytes to answer instead of a fresh token
        self.issued = []          # every ID token handed out, in order
        self.lock = threading.Lock()
        self.server = Upstream(handler=self._handle)

    @property
    def url(self):
        return "https://127.0.0.1:%d%s?api-version=2.0" % (self.server.port, self.path)

    def _handle(self, req, conn):
        with self.lock:
            status, body = self.status, self.body
            if body is None and status == 200:
                token = fake_jwt()
                self.issued.append(token)
                body = json.dumps({"count": 1, "value": token}).encode()
        conn.respond(status, [("Content-Type", "application/json; charset=utf-8")],
                     body if body is not None else b'{"message":"stand-in refusal"}')

    def requests(self):
        return list(self.server.requests)

    def stop(self):
        self.server.stop()


class ExchangeStandIn:
    """POST /oauth/token: a fresh access token living `lifetime` seconds,
    unless `status`/`body` say otherwise. `chunked` answers with chunked
    framing (as a CDN in front may)."""

    def __init__(self):
        self.status = 200
        self.body = None
        self.lifetime = 3600
        self.chunked = False
        self.issued = []          # (time, access token)
        self.lock = threading.Lock()
        self.server = Upstream(handler=self._handle)

    @property
    def url(self):
        return "https://127.0.0.1:%d/oauth/token" % self.server.port

    def _handle(self, req, conn):
        with self.lock:
            status, body, lifetime = self.status, self.body, self.lifetime
            if body is None and status == 200:
                token = fake_token("oai-wif-")
                self.issued.append((time.monotonic(), token))
                body = json.dumps({
                    "access_token": token, "issued_token_type": ACCESS_TYPE,
                    "token_type": "Bearer", "expires_in": lifetime,
                    "expires_at": int(time.time()) + lifetime}).encode()
        if body is None:
            body = b'{"error":"invalid_grant"}'
        headers = [("Content-Type", "application/json")]
        if self.chunked:
            conn.start_chunked(status, headers)
            for i in range(0, len(body), 7):
                conn.send_chunk(body[i:i + 7])
            conn.end_chunked()
        else:
            conn.respond(status, headers, body)

    def tokens(self):
        with self.lock:
            return [t for _, t in self.issued]

    def requests(self):
        return list(self.server.requests)

    def stop(self):
        self.server.stop()


def oidc_args(github, exchange, audience="codex-ci", idp="wip_fake_provider",
              service_account="sa_fake_account"):
    return ["--github-oidc", "--oidc-audience", audience, "--identity-provider-id", idp,
            "--service-account-id", service_account, "--github-oidc-request-url", github.url,
            "--oidc-token-url", exchange.url]
