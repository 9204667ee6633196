"""Slowloris: 1,000 connections that send a partial head one byte a second
(half of them) or nothing at all (the other half), while one good client makes
normal requests. The good client must be served, each request answered within
a few seconds, while the slow connections are open.

The proxy is started with RLIMIT_NOFILE soft limit 1024 (the usual default a
login shell or systemd gives a process), then the test raises its own limit
to hold 1,000 sockets. If the proxy's workers run out of descriptors, that is
a finding."""

import resource
import socket
import threading
import time

import harness
from harness import ProxyTestCase, Upstream, codex_headers

N_SLOW = 1000
N_BEYOND = 1200
DURATION = 10.0          # seconds the good client keeps asking
PER_REQUEST_LIMIT = 3.0  # seconds within which each good request must be answered


class Slowloris(ProxyTestCase):

    def setUp(self):
        super().setUp()
        self.slow = []
        soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
        self.saved_limit = (soft, hard)
        # the proxy gets the common default soft limit
        proxy_soft = min(1024, hard) if hard != resource.RLIM_INFINITY else 1024
        resource.setrlimit(resource.RLIMIT_NOFILE, (proxy_soft, hard))
        try:
            self.upstream = Upstream()
            self.start()
        finally:
            resource.setrlimit(resource.RLIMIT_NOFILE, (soft, hard))
        want = N_BEYOND + 500
        if soft != resource.RLIM_INFINITY and soft < want:
            top = want if hard == resource.RLIM_INFINITY else min(hard, want)
            resource.setrlimit(resource.RLIMIT_NOFILE, (top, hard))
        now = resource.getrlimit(resource.RLIMIT_NOFILE)[0]
        if now != resource.RLIM_INFINITY and now < want:
            self.skipTest("RLIMIT_NOFILE hard limit %s too low for %d sockets" % (hard, N_SLOW))
        with open("/proc/%d/limits" % self.proxy.proc.pid) as f:
            self.proxy_limits = [l for l in f if "open files" in l.lower()]

    def tearDown(self):
        for s in self.slow:
            try:
                s.close()
            except OSError:
                pass
        try:
            super().tearDown()
        finally:
            resource.setrlimit(resource.RLIMIT_NOFILE, self.saved_limit)

    def test_good_client_served_among_1000_slow_connections(self):
        self.run_slowloris(N_SLOW)

    def test_good_client_served_beyond_the_default_fd_limit(self):
        # 1,200 > the 1,024 descriptors a worker has under the default soft
        # limit: the proxy must still serve the good client (e.g. by raising
        # its soft limit, capping connections below it, or evicting idle
        # heads), not spin on accept() failing with EMFILE.
        self.run_slowloris(N_BEYOND)

    def run_slowloris(self, n_slow):
        port = self.proxy.port
        partial = (b"POST /v1/responses HTTP/1.1\r\nHost: 127.0.0.1:%d\r\n"
                   b"Content-Type: application/json\r\nX-Slow: " % port) + b"a" * 200
        open_failed = 0
        t0 = time.monotonic()
        for i in range(n_slow):
            if time.monotonic() - t0 > 15:
                open_failed += n_slow - i
                break
            try:
                s = socket.create_connection(("127.0.0.1", port), timeout=2)
            except OSError:
                open_failed += 1
                continue
            s.setblocking(False)
            self.slow.append(s)
        opened_in = time.monotonic() - t0
        drippers = self.slow[::2]
        stop = threading.Event()
        stats = {"sent": 0, "errors": 0, "rounds": 0}

        def drip():
            pos = 0
            while not stop.is_set():
                for s in drippers:
                    try:
                        s.send(partial[pos:pos + 1])
                        stats["sent"] += 1
                    except (BlockingIOError, OSError):
                        stats["errors"] += 1
                pos = (pos + 1) % len(partial)
                stats["rounds"] += 1
                stop.wait(1.0)

        dripper = threading.Thread(target=drip, daemon=True)
        dripper.start()
        time.sleep(1.5)
        latencies = []
        failures = []
        keep = None
        deadline = time.monotonic() + DURATION
        n = 0
        try:
            while time.monotonic() < deadline:
                n += 1
                t = time.monotonic()
                try:
                    if n % 2 and keep is not None:
                        c = keep
                    else:
                        c = harness.Client(port, timeout=PER_REQUEST_LIMIT + 2)
                        if keep is None:
                            keep = c
                    c.request("POST", "/v1/responses", codex_headers(), b'{"n":%d}' % n)
                    r = c.read_response()
                    dt = time.monotonic() - t
                    latencies.append(dt)
                    if r.status != 200:
                        failures.append((n, "status %d %r" % (r.status, r.body[:200])))
                    elif dt > PER_REQUEST_LIMIT:
                        failures.append((n, "answered after %.2f s" % dt))
                    if c is not keep:
                        c.close()
                except (OSError, EOFError, ValueError) as e:
                    failures.append((n, "%s after %.2f s" % (type(e).__name__,
                                                             time.monotonic() - t)))
                    if c is keep:
                        keep = None
                time.sleep(0.3)
        finally:
            stop.set()
            dripper.join(3)
            if keep is not None:
                keep.close()
        still_open = answered = 0
        for s in self.slow:
            try:
                if s.recv(1):
                    answered += 1  # the proxy answered (408? 503?) before its header timeout
            except BlockingIOError:
                still_open += 1
            except OSError:
                pass
        print("proxy limits: %s" % "".join(self.proxy_limits).strip())
        print("slow connections: %d opened in %.1f s (%d failed), %d still open at the end, %d answered; "
              "drip: %r" % (len(self.slow), opened_in, open_failed, still_open, answered, stats))
        if latencies:
            latencies.sort()
            print("good client: %d requests, median %.3f s, max %.3f s"
                  % (len(latencies), latencies[len(latencies) // 2], latencies[-1]))
        log = self.proxy.stderr()
        emfile = [l for l in log.splitlines() if "EMFILE" in l or "Too many open files" in l.lower()
                  or "too many open files" in l.lower()]
        self.assertEqual(open_failed, 0, "could not even open the slow connections")
        print("proxy log lines about descriptors: %d" % len(emfile))
        self.assertEqual(failures[:5], [], "good client not served among %d slow connections "
                         "(%d of %d requests failed; proxy log lines about descriptors: %d, e.g. %r)"
                         % (n_slow, len(failures), n, len(emfile), emfile[:2]))
        self.assertGreater(len(latencies), 10)
        self.assertGreater(still_open, n_slow * 0.9,
                           "the slow connections were not open during the test")
        self.assertEqual(len(self.upstream.requests), len(latencies))


if __name__ == "__main__":
    harness.main(overall_timeout=88)
