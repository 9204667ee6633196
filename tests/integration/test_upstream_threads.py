"""--upstream-threads: the parent's upstream I/O on two event loops.

With --workers 2 --upstream-threads 2 the parent has two threads, each
carrying the upstream traffic of one worker. Seen from outside:

(a) both threads run under the parent's seccomp filter (TSYNC: Seccomp 2,
    NoNewPrivs 1, the same capabilities in every thread), and both carry
    requests: each thread's CPU time (/proc/<pid>/task/<tid>/schedstat) grows
    by a real share of the load, every request answered 200;
(b) supervision: a worker of either loop killed is reaped and respawned by
    its own loop (again and again), and the proxy serves again;
(c) SIGHUP: the workers of both loops are replaced while a stream on each
    old worker completes byte for byte;
(d) SIGTERM: streams open on both loops drain before the parent exits 0;
    GET /shutdown (--http-shutdown) exits 0 too.

Which worker holds a client connection is read from the kernel, as in
test_supervision.py (needs root for the sandboxed workers' /proc/<pid>/fd).
"""

import os
import re
import signal
import threading
import time

import harness
from harness import ProxyTestCase, codex_headers
from test_supervision import children, seccomp_mode, socket_inodes, tcp_inode

ARGS = ["--workers", "2", "--upstream-threads", "2"]
EVENTS = [("event: delta\ndata: {\"k\":%d}\n\n" % k).encode() for k in range(4)]


def task_ids(pid):
    return sorted(int(t) for t in os.listdir("/proc/%d/task" % pid))


def task_status(pid, tid):
    out = {}
    with open("/proc/%d/task/%d/status" % (pid, tid)) as f:
        for line in f:
            k, _, v = line.partition(":")
            out[k] = v.strip()
    return out


def runtime_ns(pid, tid):
    with open("/proc/%d/task/%d/schedstat" % (pid, tid)) as f:
        return int(f.read().split()[0])


class UpstreamThreads(ProxyTestCase):

    def workers(self, n, exclude=(), timeout=10.0):
        deadline = time.monotonic() + timeout
        kids = []
        while time.monotonic() < deadline:
            kids = [k for k in children(self.proxy.proc.pid) if k not in exclude]
            if len(kids) == n and all(seccomp_mode(k) == "2" for k in kids):
                return kids
            time.sleep(0.02)
        self.fail("wanted %d sandboxed workers (not %r), have %r; stderr:\n%s"
                  % (n, list(exclude), kids, self.proxy.stderr()))

    def gated_handler(self):
        """Streams with an x-stream-id header send one event, then wait for
        their gate; anything else gets the default answer."""
        self.gates = {}
        lock = threading.Lock()

        def handler(req, conn):
            sid = req.header("x-stream-id")
            if sid is None:
                harness.default_handler(req, conn)
                return
            with lock:
                gate = self.gates.setdefault(sid, threading.Event())
            conn.start_chunked(200)
            conn.send_chunk(EVENTS[0])
            gate.wait(30)
            for ev in EVENTS[1:]:
                conn.send_chunk(ev)
            conn.end_chunked()
        self.addCleanup(lambda: [g.set() for g in list(self.gates.values())])
        return handler

    def streams_on_both(self, w1, w2):
        """Open gated streams until each worker holds at least one."""
        if os.geteuid() != 0:
            self.skipTest("needs root to read the sandboxed workers' /proc/<pid>/fd")
        streams, owner = [], {}
        for i in range(40):
            c = self.client(timeout=15)
            sid = "s%d" % i
            c.request("POST", "/v1/responses", codex_headers() + [("x-stream-id", sid)],
                      b'{"stream":true}')
            r = c.read_head()
            self.assertEqual(r.status, 200, r)
            sse = c.iter_sse(r)
            self.assertEqual(next(sse), EVENTS[0])
            inode = tcp_inode(self.proxy.port, c.sock.getsockname()[1])
            who = [w for w in (w1, w2) if inode in socket_inodes(w)]
            self.assertEqual(len(who), 1, "socket inode %r held by %r" % (inode, who))
            owner[sid] = who[0]
            streams.append((c, sse, sid))
            if set(owner.values()) == {w1, w2}:
                return streams
        self.fail("40 connections all went to one worker: %r" % owner)

    def finish_streams(self, streams):
        for sid in list(self.gates):
            self.gates[sid].set()
        for c, sse, sid in streams:
            got = [EVENTS[0]] + list(sse)
            self.assertEqual(got, EVENTS, "stream %s was cut" % sid)

    # (a) -------------------------------------------------------------------
    def test_both_loops_carry_requests_under_the_sandbox(self):
        self.start(extra_args=ARGS)
        self.workers(2)
        self.serve_ok()
        self.assertIn("2 upstream threads", self.proxy.stderr())
        pid = self.proxy.proc.pid
        tids = task_ids(pid)
        self.assertEqual(len(tids), 2, "threads of the parent: %r" % tids)
        caps = set()
        for tid in tids:
            st = task_status(pid, tid)
            self.assertEqual(st["Seccomp"], "2", "thread %d not under the filter" % tid)
            self.assertEqual(st["NoNewPrivs"], "1", "thread %d" % tid)
            caps.add((st["CapEff"], st["CapPrm"], st["CapBnd"]))
        self.assertEqual(len(caps), 1, "threads differ in capabilities: %r" % caps)

        before = {t: runtime_ns(pid, t) for t in tids}
        per_client, clients, per_conn = 150, 12, 10
        failures = []

        def load():
            done = 0
            while done < per_client:
                c = harness.Client(self.proxy.port, timeout=10)
                try:
                    for _ in range(per_conn):
                        r = c.post(codex_headers(), b'{"model":"gpt-5"}')
                        if r.status != 200:
                            failures.append(r.status)
                        done += 1
                finally:
                    c.close()
        threads = [threading.Thread(target=load) for _ in range(clients)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(120)
        self.assertEqual(failures, [])
        delta = {t: runtime_ns(pid, t) - before[t] for t in tids}
        total = sum(delta.values())
        shares = {t: d / total for t, d in delta.items()}
        print("CPU of the parent's threads during %d requests: %s"
              % (per_client * clients,
                 ", ".join("%d: %.1f ms (%.0f%%)" % (t, delta[t] / 1e6, 100 * shares[t])
                           for t in tids)))
        self.assertGreaterEqual(min(shares.values()), 0.05,
                                "one upstream thread carried (almost) nothing: %r" % shares)

    # (b) -------------------------------------------------------------------
    def test_workers_of_both_loops_respawn(self):
        self.start(extra_args=ARGS)
        w1, w2 = self.workers(2)
        os.kill(w1, signal.SIGKILL)
        w3 = (set(self.workers(2, exclude=(w1,))) - {w2}).pop()
        self.serve_ok()
        os.kill(w2, signal.SIGKILL)
        self.workers(2, exclude=(w1, w2))
        self.serve_ok()
        # A worker respawned on an upstream thread is as killable (its signal
        # mask is clear) and respawned again.
        os.kill(w3, signal.SIGKILL)
        self.workers(2, exclude=(w1, w2, w3), timeout=15)
        self.serve_ok()
        self.assertEqual(len(task_ids(self.proxy.proc.pid)), 2)

    # (c) -------------------------------------------------------------------
    def test_sighup_replaces_both_loops_workers_while_streams_finish(self):
        self.start(handler=self.gated_handler(), extra_args=ARGS + ["--shutdown-timeout", "20"])
        w1, w2 = self.workers(2)
        streams = self.streams_on_both(w1, w2)
        os.kill(self.proxy.proc.pid, signal.SIGHUP)
        new = self.workers(2, exclude=(w1, w2))
        self.serve_ok()
        self.assertTrue(set(children(self.proxy.proc.pid)) >= {w1, w2},
                        "old workers left before their streams ended")
        self.finish_streams(streams)
        deadline = time.monotonic() + 10
        while set(children(self.proxy.proc.pid)) & {w1, w2} and time.monotonic() < deadline:
            time.sleep(0.05)
        self.assertEqual(sorted(children(self.proxy.proc.pid)), sorted(new))

    # (d) -------------------------------------------------------------------
    def test_sigterm_drains_streams_on_both_loops(self):
        self.start(handler=self.gated_handler(), extra_args=ARGS + ["--shutdown-timeout", "20"])
        w1, w2 = self.workers(2)
        streams = self.streams_on_both(w1, w2)
        os.kill(self.proxy.proc.pid, signal.SIGTERM)
        time.sleep(0.5)
        self.assertTrue(self.proxy.alive(), "exited with streams open on both loops")
        self.finish_streams(streams)
        self.assertEqual(self.proxy.wait_exit(10), 0, self.proxy.stderr())

    def test_http_shutdown_exits_0(self):
        self.start(extra_args=ARGS + ["--http-shutdown"])
        self.workers(2)
        c = self.client(timeout=10)
        c.request("GET", "/shutdown", [], host="127.0.0.1:%d" % self.proxy.port)
        r = c.read_response()
        self.assertEqual(r.status, 200, r)
        self.assertEqual(self.proxy.wait_exit(10), 0, self.proxy.stderr())
        self.assertFalse(re.search(r"SIGSYS|SIGSEGV|SIGABRT", self.proxy.stderr()))


if __name__ == "__main__":
    harness.main()
