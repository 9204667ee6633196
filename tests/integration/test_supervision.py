"""Worker supervision, seen from outside:

(a) a worker killed by SIGSYS (what a seccomp violation looks like) is
    logged as a security event naming the worker, replaced by a new process,
    and the proxy serves again;
(b) SIGKILL of one worker only loses that worker's connections: streams in
    flight on the other worker complete byte for byte;
(c) a worker that keeps dying young is respawned with a growing delay
    ("respawning worker N in X ms").

Which worker holds a client connection is read from the kernel: the proxy
side of the TCP connection (/proc/net/tcp, local port = proxy port, remote
port = the client's) has a socket inode, and exactly one worker has that
inode among its /proc/<pid>/fd links. Needs root to read a sandboxed
worker's /proc/<pid>/fd (else that part is skipped).
"""

import os
import re
import signal
import threading
import time

import harness
from harness import ProxyTestCase, codex_headers

SSE_EVENTS = 6


def children(parent):
    kids = set()
    try:
        tids = os.listdir("/proc/%d/task" % parent)
    except OSError:
        return []
    for tid in tids:
        try:
            with open("/proc/%d/task/%s/children" % (parent, tid)) as f:
                kids.update(int(x) for x in f.read().split())
        except OSError:
            pass
    return sorted(kids)


def seccomp_mode(pid):
    try:
        with open("/proc/%d/status" % pid) as f:
            for line in f:
                if line.startswith("Seccomp:"):
                    return line.split()[1]
    except OSError:
        return None
    return None


def tcp_inode(local_port, remote_port):
    """Inode of the 127.0.0.1:local_port <-> 127.0.0.1:remote_port socket."""
    with open("/proc/net/tcp") as f:
        next(f)
        for line in f:
            parts = line.split()
            lport = int(parts[1].split(":")[1], 16)
            rport = int(parts[2].split(":")[1], 16)
            if lport == local_port and rport == remote_port:
                return int(parts[9])
    return None


def socket_inodes(pid):
    out = set()
    d = "/proc/%d/fd" % pid
    for fd in os.listdir(d):
        try:
            target = os.readlink(os.path.join(d, fd))
        except OSError:
            continue
        m = re.match(r"socket:\[(\d+)\]", target)
        if m:
            out.add(int(m.group(1)))
    return out


class Supervision(ProxyTestCase):

    def tearDown(self):
        # Not ProxyTestCase's crash check: these tests make workers die of
        # SIGSYS on purpose, and the log must say so. The rest still holds:
        # the proxy exits 0 on SIGTERM and never logs the key.
        for c in self._clients:
            c.close()
        try:
            if self.proxy is not None:
                self.proxy.stop()
                self.assertFalse(self.proxy.killed, "proxy ignored SIGTERM:\n" + self.proxy.stderr())
                self.assertEqual(self.proxy.returncode, 0, "exit status; stderr:\n" + self.proxy.stderr())
                self.proxy.check_secret_not_logged(self)
                for pat in ("AddressSanitizer", "runtime error:", "SIGSEGV", "SIGABRT"):
                    self.assertNotIn(pat, self.proxy.stderr())
        finally:
            if self.upstream is not None:
                self.upstream.stop()
            if self.proxy is not None:
                self.proxy.cleanup()

    # helpers -------------------------------------------------------------
    def workers(self, n=None, timeout=10.0, exclude=(), sandboxed=True):
        """Current worker pids, waiting until there are n (not in exclude),
        each already under seccomp when sandboxed."""
        deadline = time.monotonic() + timeout
        kids = []
        while time.monotonic() < deadline:
            kids = [k for k in children(self.proxy.proc.pid) if k not in exclude]
            if (n is None or len(kids) == n) and kids and \
                    (not sandboxed or all(seccomp_mode(k) == "2" for k in kids)):
                return kids
            time.sleep(0.02)
        self.fail("wanted %s workers (not %r) under parent %d, have %r; stderr:\n%s"
                  % (n, list(exclude), self.proxy.proc.pid, kids, self.proxy.stderr()))

    def wait_log(self, pattern, timeout=5.0):
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            m = re.search(pattern, self.proxy.stderr())
            if m:
                return m
            time.sleep(0.05)
        self.fail("no log line matching %r; stderr:\n%s" % (pattern, self.proxy.stderr()))

    # (a) -------------------------------------------------------------------
    def test_sigsys_worker_logged_and_replaced(self):
        self.start(extra_args=["--workers", "1"])
        self.serve_ok(tries=1)
        (old,) = self.workers(1)
        os.kill(old, signal.SIGSYS)
        line = self.wait_log(r"(?m)^.*worker.*SIGSYS.*$|^.*SIGSYS.*worker.*$").group(0)
        self.assertIn("worker", line)
        self.assertIn("SIGSYS", line)
        self.assertIn(str(old), line, "the security line should name the pid")
        (new,) = self.workers(1, exclude=(old,))
        self.assertNotEqual(new, old)
        self.serve_ok(tries=20)
        self.assertEqual(self.proxy.stderr().count("SIGSYS"), 1, self.proxy.stderr())

    # (b) -------------------------------------------------------------------
    def test_sigkill_one_worker_spares_the_other(self):
        if os.geteuid() != 0:
            self.skipTest("needs root to read the sandboxed workers' /proc/<pid>/fd")
        gates = {}
        gates_lock = threading.Lock()
        events = [("event: delta\ndata: {\"k\":%d,\"pad\":\"%s\"}\n\n" % (k, "y" * 300)).encode()
                  for k in range(SSE_EVENTS)]

        def handler(req, conn):
            sid = req.header("x-stream-id")
            if sid is None:
                harness.default_handler(req, conn)
                return
            with gates_lock:
                gate = gates.setdefault(sid, threading.Event())
            try:
                conn.start_chunked(200)
                conn.send_chunk(events[0])
                gate.wait(30)
                for ev in events[1:]:
                    conn.send_chunk(ev)
                conn.end_chunked()
            except OSError:
                conn.close()  # the proxy dropped this exchange (its worker died)

        self.start(handler=handler, extra_args=["--workers", "2"])
        w1, w2 = self.workers(2)
        self.serve_ok(tries=1)

        # Open streams until both workers hold at least one.
        streams = []  # (client, response head, stream id)
        owner = {}
        for i in range(40):
            c = self.client(timeout=15)
            sid = "s%d" % i
            c.request("POST", "/v1/responses", codex_headers() + [("x-stream-id", sid)], b'{"stream":true}')
            r = c.read_head()
            self.assertEqual(r.status, 200, r)
            sse = c.iter_sse(r)  # one generator per stream: it keeps the chunk state
            first = next(sse)
            self.assertEqual(first, events[0])
            inode = tcp_inode(self.proxy.port, c.sock.getsockname()[1])
            self.assertIsNotNone(inode, "proxy side of the client connection not in /proc/net/tcp")
            who = [w for w in (w1, w2) if inode in socket_inodes(w)]
            self.assertEqual(len(who), 1, "socket inode %d held by %r" % (inode, who))
            owner[sid] = who[0]
            streams.append((c, sse, sid))
            on = set(owner.values())
            if len(on) == 2 and i >= 3:
                break
        self.assertEqual(set(owner.values()), {w1, w2},
                         "40 connections all went to one worker: %r" % owner)
        victim, survivor = w1, w2
        os.kill(victim, signal.SIGKILL)
        self.workers(2, exclude=(victim,), sandboxed=False)  # reaped and respawned
        with gates_lock:
            for sid in owner:
                gates.setdefault(sid, threading.Event()).set()

        for c, sse, sid in streams:
            if owner[sid] == survivor:
                got = [events[0]]
                for ev in sse:
                    got.append(ev)
                self.assertEqual(got, events, "stream %s on the surviving worker was cut" % sid)
            else:
                # The victim's connections are gone: EOF or reset, never more data
                # than was sent before the kill, and never a complete stream.
                got = []
                try:
                    for ev in sse:
                        got.append(ev)
                    self.fail("stream %s on the killed worker completed: %r" % (sid, got))
                except (EOFError, ConnectionResetError, OSError, ValueError):
                    pass
                self.assertEqual(got, [], "data after the worker was killed")
        self.serve_ok(tries=20)
        print("streams: %d on the survivor, %d on the killed worker"
              % (sum(1 for s in owner.values() if s == survivor),
                 sum(1 for s in owner.values() if s == victim)))

    # (c) -------------------------------------------------------------------
    def test_crash_loop_backoff(self):
        self.start(extra_args=["--workers", "1"])
        self.serve_ok(tries=1)
        seen = set()
        (pid,) = self.workers(1)
        for _ in range(5):
            seen.add(pid)
            os.kill(pid, signal.SIGKILL)
            (pid,) = self.workers(1, exclude=seen, sandboxed=False, timeout=20)
        self.serve_ok(tries=50)
        delays = [(int(a), int(b)) for a, b in
                  re.findall(r"respawning worker (\d+) in (\d+) ms", self.proxy.stderr())]
        print("respawn delays logged: %r" % delays)
        self.assertGreaterEqual(len(delays), 4, "too few backoff lines; stderr:\n" + self.proxy.stderr())
        self.assertTrue(all(w == 1 for w, _ in delays), delays)
        ms = [d for _, d in delays]
        self.assertTrue(all(b > a for a, b in zip(ms, ms[1:])),
                        "respawn delay does not grow: %r" % ms)
        self.assertLessEqual(ms[-1], 30000, "delay above the documented 30 s cap")


if __name__ == "__main__":
    harness.main()
