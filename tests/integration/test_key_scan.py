"""Key confinement, measured: after 10,000 mixed requests (two workers, two
upstream threads in the parent) the key is in the
parent's memory exactly once (the locked page) and in no worker's memory, and
nowhere else a local user could look: the proxy's log, /proc/<pid>/cmdline,
/proc/<pid>/environ, the --dump-dir files.

Memory is read through /proc/<pid>/maps + /proc/<pid>/mem (readable regions
only), which needs root (the processes are not dumpable): as non-root the
test is skipped. Every copy found is reported with its mapping and offset.

KEY_SCAN_REQUESTS overrides the number of requests (default 10000).
"""

import json
import os
import random
import re
import socket
import sys
import tempfile
import threading
import time
import unittest

import harness
from harness import ProxyTestCase, codex_headers

N_REQUESTS = int(os.environ.get("KEY_SCAN_REQUESTS", "10000"))
N_THREADS = 32  # requests are latency-bound (see README of this test below)
LOAD_BUDGET = 150.0          # seconds for the whole load (it should take well under 60)
MAX_REGION = 1 << 30         # regions above 1 GiB (sanitizer shadow) are not read
CHUNK = 8 << 20

# ---------------------------------------------------------------------------
# /proc helpers


def proxy_pids(parent):
    """The parent and its children (the workers)."""
    kids = set()
    try:
        for tid in os.listdir("/proc/%d/task" % parent):
            try:
                with open("/proc/%d/task/%s/children" % (parent, tid)) as f:
                    kids.update(int(x) for x in f.read().split())
            except OSError:
                pass
    except OSError:
        pass
    if not kids:
        for name in os.listdir("/proc"):
            if not name.isdigit():
                continue
            try:
                with open("/proc/%s/stat" % name, "rb") as f:
                    stat = f.read()
            except OSError:
                continue
            rest = stat[stat.rfind(b")") + 2:].split()
            if int(rest[1]) == parent:
                kids.add(int(name))
    return parent, sorted(kids)


def read_maps(pid):
    regions = []
    with open("/proc/%d/maps" % pid) as f:
        for line in f:
            parts = line.split(None, 5)
            lo, hi = (int(x, 16) for x in parts[0].split("-"))
            perms = parts[1]
            name = parts[5].strip() if len(parts) > 5 else ""
            regions.append((lo, hi, perms, name, line.rstrip("\n")))
    return regions


def scan_memory(pid, needles):
    """Find every occurrence of each needle (bytes) in the readable memory of
    pid. Returns ({needle: [(map line, offset in mapping, address)]},
    [skipped region descriptions])."""
    hits = {n: [] for n in needles}
    skipped = []
    longest = max(len(n) for n in needles)
    fd = os.open("/proc/%d/mem" % pid, os.O_RDONLY)
    try:
        for lo, hi, perms, name, line in read_maps(pid):
            if perms[0] != "r" or name in ("[vvar]", "[vvar_vclock]", "[vsyscall]"):
                continue
            if hi - lo > MAX_REGION:
                skipped.append("too large: " + line)
                continue
            addr = lo
            tail = b""
            while addr < hi:
                n = min(CHUNK, hi - addr)
                try:
                    data = os.pread(fd, n, addr)
                except OSError as e:
                    skipped.append("unreadable (%s): %s" % (e.strerror, line))
                    break
                if not data:
                    break
                buf = tail + data
                base = addr - len(tail)
                for needle in needles:
                    i = buf.find(needle)
                    while i >= 0:
                        # Do not count a hit twice across the chunk seam.
                        if i + len(needle) > len(tail):
                            hits[needle].append((line, base + i - lo, base + i))
                        i = buf.find(needle, i + 1)
                tail = buf[-(longest - 1):] if longest > 1 else b""
                addr += len(data)
    finally:
        os.close(fd)
    return hits, skipped


def describe_hits(pid, hits):
    out = []
    for line, off, addr in hits:
        out.append("    pid %d addr 0x%x (offset 0x%x in mapping) %s" % (pid, addr, off, line))
    return "\n".join(out)


def proc_file(pid, name):
    try:
        with open("/proc/%d/%s" % (pid, name), "rb") as f:
            return f.read()
    except OSError:
        return None


# ---------------------------------------------------------------------------
# Upstream behaviour, chosen by the client with a test header


def scan_handler(key):
    auth_bad = []

    def handler(req, conn):
        if req.header_all("authorization") != ["Bearer " + key]:
            auth_bad.append(req.header_all("authorization"))
        mode = req.header("x-scan-mode") or "ok"
        try:
            if mode == "500":
                conn.json(500, {"error": {"message": "stand-in failure", "type": "server_error",
                                          "code": None}})
            elif mode == "sse":
                conn.start_chunked(200)
                for k in range(40):
                    conn.send_chunk("event: delta\ndata: {\"k\":%d,\"pad\":\"%s\"}\n\n" % (k, "x" * 512))
                    time.sleep(0.005)
                conn.end_chunked()
            else:
                conn.json(200, {"id": "resp_scan", "object": "response", "status": "completed",
                                "received_bytes": len(req.body)})
        except OSError:
            # The client went away mid-response and the proxy dropped this
            # upstream connection: expected for the "disconnect" requests.
            conn.close()

    handler.auth_bad = auth_bad
    return handler


# ---------------------------------------------------------------------------
# The load


def plan(n, seed):
    rnd = random.Random(seed)
    kinds = []
    for i in range(n):
        x = rnd.random()
        if x < 0.01:
            kinds.append("mib")          # 1 MiB body
        elif x < 0.20:
            kinds.append("40k")          # 40 KiB body
        elif x < 0.28:
            kinds.append("chunked")      # chunked upload
        elif x < 0.33:
            kinds.append("403")          # refused by the worker
        elif x < 0.37:
            kinds.append("500")          # upstream error
        elif x < 0.39:
            kinds.append("disconnect")   # client leaves mid-response
        else:
            kinds.append("small")
    return kinds


class Loader:
    def __init__(self, port, kinds):
        self.port = port
        self.kinds = kinds
        self.next = 0
        self.lock = threading.Lock()
        self.counts = {}
        self.failures = []
        self.mib = os.urandom(1 << 20)
        self.k40 = os.urandom(40 * 1024)

    def take(self):
        with self.lock:
            if self.next >= len(self.kinds):
                return None, None
            i = self.next
            self.next += 1
            return i, self.kinds[i]

    def record(self, kind, ok, detail=None):
        with self.lock:
            self.counts[kind] = self.counts.get(kind, 0) + (1 if ok else 0)
            if not ok and len(self.failures) < 50:
                self.failures.append("%s: %s" % (kind, detail))

    def run_thread(self, deadline):
        c = None
        rnd = random.Random()
        while time.monotonic() < deadline:
            i, kind = self.take()
            if i is None:
                break
            if c is None:
                c = harness.Client(self.port, timeout=20)
            try:
                c, ok, detail = self.one(c, kind, rnd)
            except (OSError, EOFError, ValueError) as e:
                ok, detail = False, "%r" % e
                c.close()
                c = None
            self.record(kind, ok, detail)
        if c is not None:
            c.close()

    def one(self, c, kind, rnd):
        hdrs = codex_headers()
        if kind == "403":
            c.request("POST", "/v1/chat/completions", hdrs, b"{}")
            r = c.read_response()
            c.close()  # refusals close the connection
            return None, r.status == 403, r
        if kind == "disconnect":
            c.request("POST", "/v1/responses", hdrs + [("x-scan-mode", "sse")], b'{"stream":true}')
            r = c.read_head()
            ok = r.status == 200
            if ok:
                c.bs.read_until(b"\n\n")  # the first event, then leave
            c.close()
            return None, ok, r
        if kind == "chunked":
            pieces = [os.urandom(rnd.randint(1, 5000)) for _ in range(rnd.randint(1, 8))]
            c.request("POST", "/v1/responses", hdrs, chunks=pieces)
            expect = sum(len(p) for p in pieces)
            r = c.read_response()
        elif kind == "500":
            c.request("POST", "/v1/responses", hdrs + [("x-scan-mode", "500")], b'{"model":"x"}')
            r = c.read_response()
            ok = r.status == 500
            return self.keep(c, r), ok, r
        else:
            body = {"mib": self.mib, "40k": self.k40}.get(kind)
            if body is None:
                body = json.dumps({"model": "gpt-5", "input": "x" * rnd.randint(0, 2000)}).encode()
            c.request("POST", "/v1/responses", hdrs, body)
            expect = len(body)
            r = c.read_response()
        ok = r.status == 200 and r.json().get("received_bytes") == expect
        return self.keep(c, r), ok, r

    @staticmethod
    def keep(c, r):
        if (r.header("connection") or "").lower() == "close":
            c.close()
            return None
        return c


# ---------------------------------------------------------------------------


def is_root():
    return os.geteuid() == 0


class KeyScan(ProxyTestCase):

    def setUp(self):
        super().setUp()
        if not is_root():
            self.skipTest("reading /proc/<pid>/mem of a non-dumpable proxy needs root")
        self.key = harness.fake_key(40)
        self.handler = scan_handler(self.key)

    def test_scanner_finds_a_planted_copy(self):
        """The scanner itself works: it finds a key planted in this process."""
        planted = bytearray(self.key.encode())  # noqa: F841 (kept alive for the scan)
        hits, _ = scan_memory(os.getpid(), [bytes(planted[len(b"sk-test-"):])])
        self.assertGreaterEqual(sum(len(v) for v in hits.values()), 1)

    def scan_all(self, label):
        """Scan parent and workers; return a report and fail on extra copies."""
        key = self.key.encode()
        secret = key[len(b"sk-test-"):]
        parent, workers = proxy_pids(self.proxy.proc.pid)
        self.assertTrue(workers, "no worker process found under parent %d" % parent)
        problems = []
        lines = []
        for pid in [parent] + workers:
            role = "parent" if pid == parent else "worker"
            hits, skipped = scan_memory(pid, [key, secret])
            want = 1 if role == "parent" else 0
            n_key, n_secret = len(hits[key]), len(hits[secret])
            lines.append("%s: %s pid %d: key %d, key body %d, %d regions skipped"
                         % (label, role, pid, n_key, n_secret, len(skipped)))
            for s in skipped:
                lines.append("    skipped " + s)
            if n_key != want or n_secret != want:
                problems.append("%s pid %d holds %d copies of the key (%d of its random part), "
                                "want %d:\n%s" % (role, pid, n_key, n_secret, want,
                                                  describe_hits(pid, hits[secret])))
            for what in ("cmdline", "environ"):
                data = proc_file(pid, what)
                if data is None:
                    problems.append("cannot read /proc/%d/%s" % (pid, what))
                elif secret in data:
                    problems.append("key in /proc/%d/%s" % (pid, what))
        print("\n".join(lines))
        if problems:
            print("KEY CONFINEMENT FAILURES (%s):\n%s" % (label, "\n".join(problems)))
        self.assertEqual(problems, [], "\n".join(problems))

    def run_load(self, n, seed, scan_midway=False):
        kinds = plan(n, seed)
        loader = Loader(self.proxy.port, kinds)
        deadline = time.monotonic() + LOAD_BUDGET
        t0 = time.monotonic()
        threads = [threading.Thread(target=loader.run_thread, args=(deadline,), daemon=True)
                   for _ in range(N_THREADS)]
        for t in threads:
            t.start()
        mid_error = []
        if scan_midway:
            # While requests are in flight: TLS and body buffers are busy.
            while loader.next < n // 2 and any(t.is_alive() for t in threads):
                time.sleep(0.05)
            try:
                self.scan_all("during load (%d requests started)" % loader.next)
            except AssertionError as e:
                mid_error.append(str(e))
        for t in threads:
            t.join(LOAD_BUDGET + 30)
        took = time.monotonic() - t0
        want = {}
        for k in kinds:
            want[k] = want.get(k, 0) + 1
        print("load: %d requests in %.1f s (%.0f/s); by kind (ok/sent): %s"
              % (n, took, n / took if took else 0,
                 ", ".join("%s %d/%d" % (k, loader.counts.get(k, 0), want[k]) for k in sorted(want))))
        self.assertEqual(mid_error, [], "key copies while under load")
        self.assertEqual(loader.next, n, "load did not finish within %.0f s" % LOAD_BUDGET)
        self.assertEqual(loader.failures, [], "requests that did not get the expected answer")
        self.assertEqual(self.handler.auth_bad, [], "upstream saw a wrong Authorization")
        return took

    def check_logs(self):
        secret = self.key[len("sk-test-"):]
        for what, text in (("stderr", self.proxy.stderr()), ("stdout", self.proxy.stdout())):
            self.assertNotIn(secret, text, "key in the proxy's %s" % what)
            self.assertNotIn(secret[:12], text, "key fragment in the proxy's %s" % what)

    def test_key_confined_after_10000_requests(self):
        self.start(handler=self.handler, key=self.key,
                   extra_args=["--workers", "2", "--upstream-threads", "2"])
        self.scan_all("after start")
        self.run_load(N_REQUESTS, seed=1, scan_midway=True)
        time.sleep(0.5)  # let cancelled exchanges settle
        self.scan_all("after %d requests" % N_REQUESTS)
        self.check_logs()

    def test_key_not_in_dump_dir(self):
        tmp = tempfile.mkdtemp(prefix="proxy-keyscan-dump-")
        dump = os.path.join(tmp, "dumps")
        try:
            self.start(handler=self.handler, key=self.key, extra_args=["--dump-dir", dump])
            self.run_load(300, seed=2)
            time.sleep(0.5)
            self.scan_all("with --dump-dir")
            key = self.key.encode()
            secret = key[len(b"sk-test-"):]
            names = os.listdir(dump) if os.path.isdir(dump) else []
            self.assertTrue(names, "--dump-dir %s holds no file after 300 requests" % dump)
            for name in names:
                with open(os.path.join(dump, name), "rb") as f:
                    data = f.read()
                self.assertNotIn(secret, data, "key in dump file %s" % name)
                self.assertNotIn(secret[:12], data, "key fragment in dump file %s" % name)
            self.check_logs()
        finally:
            import shutil
            shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    harness.main(overall_timeout=280)
