"""Token confinement with --github-oidc, measured like the key's
(test_key_scan.py): after renewals under load, the parent holds the request
token once and the current access token once, and no earlier access token
and no GitHub ID token at all; workers hold none of them; neither do the
proxy's log, /proc/<pid>/cmdline or /proc/<pid>/environ.

Needs root (reads /proc/<pid>/mem of non-dumpable processes)."""

import os
import threading
import time

import harness
from harness import ProxyTestCase, codex_headers
from oidc_standins import ExchangeStandIn, GithubStandIn, fake_token, oidc_args
from memory_scan import describe_hits, is_root, proc_file, proxy_pids, scan_memory

LIFETIME = 8       # seconds: renewed every 4 s
LOAD_SECONDS = 10
N_THREADS = 8


class OidcTokenScan(ProxyTestCase):

    def setUp(self):
        super().setUp()
        if not is_root():
            self.skipTest("reading /proc/<pid>/mem of a non-dumpable proxy needs root")
        self.github = GithubStandIn()
        self.exchange = ExchangeStandIn()
        self.exchange.lifetime = LIFETIME
        self.req_token = fake_token("ghrt-", 60)
        self.seen_auth = set()
        self.lock = threading.Lock()

    def tearDown(self):
        try:
            super().tearDown()
        finally:
            self.github.stop()
            self.exchange.stop()

    def handler(self, req, conn):
        with self.lock:
            self.seen_auth.add(tuple(req.header_all("authorization")))
        conn.json(200, {"id": "resp_scan", "object": "response", "received_bytes": len(req.body)})

    def load(self, seconds):
        failures = []
        done = [0]

        def run():
            c = None
            end = time.monotonic() + seconds
            while time.monotonic() < end:
                try:
                    if c is None:
                        c = harness.Client(self.proxy.port, timeout=20)
                    body = os.urandom(16).hex().encode() * (1 + len(failures) % 50)
                    c.request("POST", "/v1/responses", codex_headers(), body)
                    r = c.read_response()
                    if r.status != 200:
                        failures.append(r.status)
                    with self.lock:
                        done[0] += 1
                except (OSError, EOFError, ValueError) as e:
                    failures.append(repr(e))
                    if c is not None:
                        c.close()
                    c = None
            if c is not None:
                c.close()

        threads = [threading.Thread(target=run, daemon=True) for _ in range(N_THREADS)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(seconds + 30)
        return done[0], failures

    def wait_fresh_token(self):
        """Until the next renewal, whose token lives an hour: no round runs
        while we scan, however slow the scan (ASan builds map much more)."""
        with self.exchange.lock:
            self.exchange.lifetime = 3600
        n = len(self.exchange.tokens())
        deadline = time.monotonic() + LIFETIME
        while len(self.exchange.tokens()) == n and time.monotonic() < deadline:
            time.sleep(0.05)
        self.assertGreater(len(self.exchange.tokens()), n, "no renewal within the lifetime")
        time.sleep(0.5)

    def test_each_token_once_in_the_parent_none_elsewhere(self):
        self.start(handler=self.handler, key=self.req_token,
                   extra_args=oidc_args(self.github, self.exchange) + ["--workers", "2"])
        n, failures = self.load(LOAD_SECONDS)
        self.assertEqual(failures, [], "requests that failed under renewal")
        self.wait_fresh_token()
        t0 = time.monotonic()
        access = [t.encode() for t in self.exchange.tokens()]
        id_tokens = [t.encode() for t in self.github.issued]
        current = access[-1]
        self.assertGreaterEqual(len(access), 3, "renewals during the load")
        needles = [self.req_token.encode()] + access + id_tokens
        parent, workers = proxy_pids(self.proxy.proc.pid)
        self.assertTrue(workers)
        problems, lines = [], []
        for pid in [parent] + workers:
            role = "parent" if pid == parent else "worker"
            hits, skipped = scan_memory(pid, needles)
            for needle in needles:
                if needle == self.req_token.encode():
                    what, want = "request token", 1 if role == "parent" else 0
                elif needle == current:
                    what, want = "current access token", 1 if role == "parent" else 0
                elif needle in access:
                    what, want = "earlier access token", 0
                else:
                    what, want = "GitHub ID token", 0
                got = len(hits[needle])
                if got != want:
                    problems.append("%s pid %d: %s %s...: %d copies, want %d\n%s" % (
                        role, pid, what, needle[:16].decode(), got, want,
                        describe_hits(pid, hits[needle])))
            lines.append("%s pid %d scanned, %d regions skipped" % (role, pid, len(skipped)))
            for what in ("cmdline", "environ"):
                data = proc_file(pid, what) or b""
                for needle in needles:
                    if needle in data:
                        problems.append("token in /proc/%d/%s" % (pid, what))
        took = time.monotonic() - t0
        print("load: %d requests in %d s, %d access tokens, %d ID tokens; scan took %.1f s"
              % (n, LOAD_SECONDS, len(access), len(id_tokens), took))
        print("\n".join(lines))
        self.assertEqual(len(self.exchange.tokens()), len(access), "a renewal ran during the scan")
        self.assertEqual(problems, [], "\n".join(problems))
        # Every forwarded request carried exactly one issued access token.
        with self.lock:
            seen = set(self.seen_auth)
        self.assertTrue(all(len(a) == 1 for a in seen), seen)
        self.assertTrue({a[0] for a in seen} <= {"Bearer " + t.decode() for t in access}, seen)
        for text in (self.proxy.stderr(), self.proxy.stdout()):
            for needle in needles:
                self.assertNotIn(needle.decode(), text)
                self.assertNotIn(needle.decode()[-16:], text)

    def test_scanner_finds_what_the_test_process_holds(self):
        """The scan itself works on these tokens (so a pass is not vacuous)."""
        tok = bytearray(fake_token("oai-wif-").encode())  # noqa: F841 (kept alive)
        hits, _ = scan_memory(os.getpid(), [bytes(tok[8:])])
        self.assertGreaterEqual(sum(len(v) for v in hits.values()), 1)


if __name__ == "__main__":
    harness.main(overall_timeout=200)
