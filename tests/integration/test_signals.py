"""Signals with a stream in flight.

SIGTERM / SIGINT: new connections are refused (connect fails or gets no
answer), the in-flight stream finishes (the stand-in sends more events after
the signal; the client gets all of them and the terminating chunk), then the
process exits 0 within --shutdown-timeout. A stream longer than
--shutdown-timeout is cut at the deadline and the process still exits 0.

SIGHUP: the in-flight stream completes; new requests are served by new worker
processes; the parent pid stays."""

import os
import signal
import socket
import threading
import time

import harness
from harness import ProxyTestCase, codex_headers


def children_of(pid):
    kids = []
    for d in os.listdir("/proc"):
        if not d.isdigit():
            continue
        try:
            with open("/proc/%s/stat" % d) as f:
                stat = f.read()
        except OSError:
            continue
        if int(stat.rsplit(")", 1)[1].split()[1]) == pid:
            kids.append(int(d))
    return sorted(kids)


def alive(pid):
    """Running (not gone, not a zombie)."""
    try:
        with open("/proc/%d/stat" % pid) as f:
            return f.read().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return False


def socket_inode(local_port, remote_port):
    """Inode of the TCP socket 127.0.0.1:local_port <-> :remote_port (server side)."""
    with open("/proc/net/tcp") as f:
        next(f)
        for line in f:
            parts = line.split()
            lp = int(parts[1].split(":")[1], 16)
            rp = int(parts[2].split(":")[1], 16)
            if lp == local_port and rp == remote_port:
                return int(parts[9])
    return None


def pids_holding(inode, pids):
    if inode is None:
        return []
    target = "socket:[%d]" % inode
    out = []
    for pid in pids:
        try:
            for fd in os.listdir("/proc/%d/fd" % pid):
                try:
                    if os.readlink("/proc/%d/fd/%s" % (pid, fd)) == target:
                        out.append(pid)
                        break
                except OSError:
                    continue
        except OSError:
            continue
    return out


def streaming_handler(gate, stop, before=2, after=3, delay=0.1):
    """Sends `before` events, waits for gate, then `after` events and the end."""
    def handler(req, conn):
        try:
            conn.start_chunked()
            for i in range(before):
                conn.send_chunk(b"event: e\ndata: before-%d\n\n" % i)
            gate.wait(15)
            if stop.is_set():
                conn.close()
                return
            for i in range(after):
                time.sleep(delay)
                conn.send_chunk(b"event: e\ndata: after-%d\n\n" % i)
            conn.end_chunked()
        except OSError:
            pass
    return handler


def endless_handler(stop, period=0.3):
    def handler(req, conn):
        try:
            conn.start_chunked()
            i = 0
            while not stop.is_set() and i < 100:
                conn.send_chunk(b"data: tick-%d\n\n" % i)
                i += 1
                stop.wait(period)
            conn.close()
        except OSError:
            pass
    return handler


def probe_new_connection(port, wait=1.5):
    """What a new client gets: 'refused', 'silent' (no answer) or the bytes it got."""
    try:
        s = socket.create_connection(("127.0.0.1", port), timeout=wait)
    except (ConnectionRefusedError, socket.timeout, OSError):
        return "refused"
    try:
        s.settimeout(wait)
        try:
            s.sendall(harness.build_request("POST", "/v1/responses", codex_headers(), b"{}",
                                            port=port))
        except OSError:
            return "refused"
        try:
            data = s.recv(4096)
        except socket.timeout:
            return "silent"
        except OSError:
            return "refused"
        return "refused" if not data else data
    finally:
        s.close()


class TermSignals(ProxyTestCase):

    def drain_case(self, sig):
        gate, stop = threading.Event(), threading.Event()
        self.addCleanup(gate.set)
        self.addCleanup(stop.set)
        self.start(handler=streaming_handler(gate, stop), extra_args=["--shutdown-timeout", "5"])
        pid = self.proxy.proc.pid
        self.assertEqual(self.proxy.pid, pid)
        c = self.client(timeout=10)
        c.request("POST", "/v1/responses", codex_headers(), b'{"stream":true}')
        r = c.read_head()
        self.assertEqual(r.status, 200, r)
        self.assertEqual(r.framing, "chunked")
        events = c.iter_sse(r)
        got = [next(events), next(events)]
        workers = children_of(pid)
        t_sig = time.monotonic()
        os.kill(pid, sig)
        time.sleep(0.5)
        probe = probe_new_connection(self.proxy.port)
        print("new connection after %s: %r" % (sig.name, probe))
        self.assertIn(probe, ("refused", "silent"),
                      "a new connection after %s got an answer: %r" % (sig.name, probe))
        gate.set()
        got += list(events)   # ends only after the terminating chunk
        self.assertEqual([e.split(b"data: ")[1].strip() for e in got],
                         [b"before-0", b"before-1", b"after-0", b"after-1", b"after-2"])
        rc = self.proxy.wait_exit(8)
        self.assertIsNotNone(rc, "proxy still running 8 s after %s" % sig.name)
        self.assertEqual(rc, 0, "exit status after %s; stderr:\n%s" % (sig.name, self.proxy.stderr()))
        self.assertLess(time.monotonic() - t_sig, 7.0)
        self.assertEqual(len(self.upstream.requests), 1, "the probe request reached the upstream")
        time.sleep(0.3)
        self.assertEqual([w for w in workers if alive(w)], [], "workers outlived the parent")

    def test_sigterm_drains_in_flight_stream(self):
        self.drain_case(signal.SIGTERM)

    def test_sigint_drains_in_flight_stream(self):
        self.drain_case(signal.SIGINT)

    def test_sigterm_idle_exits_promptly(self):
        self.start(extra_args=["--shutdown-timeout", "5"])
        c = self.client()
        self.assertEqual(c.post(codex_headers(), b"{}").status, 200)  # idle keep-alive connection
        t0 = time.monotonic()
        os.kill(self.proxy.proc.pid, signal.SIGTERM)
        self.assertEqual(self.proxy.wait_exit(6), 0)
        self.assertLess(time.monotonic() - t0, 2.0, "idle keep-alive connection delayed the exit")

    def test_stream_longer_than_shutdown_timeout(self):
        stop = threading.Event()
        self.addCleanup(stop.set)
        self.start(handler=endless_handler(stop), extra_args=["--shutdown-timeout", "2"])
        pid = self.proxy.proc.pid
        c = self.client(timeout=10)
        c.request("POST", "/v1/responses", codex_headers(), b"{}")
        r = c.read_head()
        self.assertEqual(r.status, 200, r)
        events = c.iter_sse(r)
        next(events)
        t0 = time.monotonic()
        os.kill(pid, signal.SIGTERM)
        rc = self.proxy.wait_exit(6)
        elapsed = time.monotonic() - t0
        self.assertIsNotNone(rc, "proxy still running 6 s after SIGTERM with --shutdown-timeout 2")
        self.assertEqual(rc, 0, "exit status at the shutdown deadline; stderr:\n%s"
                         % self.proxy.stderr())
        self.assertGreater(elapsed, 1.5, "the stream was not given its drain time")
        self.assertLess(elapsed, 4.0, "exit came long after the 2 s deadline")
        # the client's stream must end without a terminating chunk
        complete = True
        try:
            for _ in events:
                pass
        except (EOFError, ConnectionResetError, ValueError):
            complete = False
        except socket.timeout:
            self.fail("client connection left open after the proxy exited")
        self.assertFalse(complete, "a cut stream looked complete to the client")
        stop.set()


class Reload(ProxyTestCase):

    def test_sighup_new_workers_stream_completes(self):
        gate, stop = threading.Event(), threading.Event()
        self.addCleanup(gate.set)
        self.addCleanup(stop.set)
        self.start(handler=streaming_handler(gate, stop), extra_args=["--shutdown-timeout", "10"])
        pid = self.proxy.proc.pid
        deadline = time.monotonic() + 3
        old = children_of(pid)
        while not old and time.monotonic() < deadline:
            time.sleep(0.05)
            old = children_of(pid)
        self.assertTrue(old, "no worker processes")
        c = self.client(timeout=10)
        c.request("POST", "/v1/responses", codex_headers(), b'{"stream":true}')
        r = c.read_head()
        self.assertEqual(r.status, 200, r)
        events = c.iter_sse(r)
        got = [next(events), next(events)]
        streaming_worker = pids_holding(socket_inode(self.proxy.port, c.sock.getsockname()[1]), old)
        os.kill(pid, signal.SIGHUP)
        time.sleep(1.0)
        self.assertTrue(self.proxy.alive(), "parent exited on SIGHUP")
        # a new request while the old stream is still open: served by a new worker
        self.upstream.handler = harness.default_handler
        c2 = self.client(timeout=10)
        r2 = c2.post(codex_headers(), b'{"after":"hup"}')
        self.assertEqual(r2.status, 200, r2)
        holders = pids_holding(socket_inode(self.proxy.port, c2.sock.getsockname()[1]),
                               children_of(pid))
        self.assertTrue(holders, "no child of the parent holds the new connection")
        self.assertFalse(set(holders) & set(old),
                         "new request served by an old worker %r (old %r)" % (holders, old))
        # the old stream completes
        gate.set()
        got += list(events)
        self.assertEqual(len(got), 5, got)
        c.close()
        # old workers go away, the parent stays
        deadline = time.monotonic() + 5
        now = children_of(pid)
        while set(now) & set(old) and time.monotonic() < deadline:
            time.sleep(0.1)
            now = children_of(pid)
        self.assertFalse(set(now) & set(old), "old workers %r still running" % (set(now) & set(old)))
        self.assertTrue(now, "no workers after SIGHUP")
        self.assertTrue(self.proxy.alive())
        self.assertEqual(self.proxy.proc.pid, pid)
        c3 = self.client(timeout=10)
        self.assertEqual(c3.post(codex_headers(), b"{}").status, 200)
        print("workers before %r (stream on %r), after %r" % (old, streaming_worker, now))

    def test_sighup_burst_neither_stops_the_proxy_nor_loses_its_workers(self):
        # Each reload retires the workers the one before started, often
        # before they have exec'd. Such a child used to run the parent's
        # signal handlers, which pass the signal to the parent's loop: the
        # SIGTERM that retires it stopped the parent (exit 0, in about half
        # of these bursts). Two workers, so one per upstream loop too.
        for args in (["--workers", "2"], ["--workers", "2", "--upstream-threads", "1"]):
            with self.subTest(args=args):
                self.start(extra_args=args)
                pid = self.proxy.proc.pid
                for _ in range(60):
                    os.kill(pid, signal.SIGHUP)
                    time.sleep(0.003)
                time.sleep(0.3)
                self.assertTrue(self.proxy.alive(), "the parent exited during a SIGHUP burst:\n"
                                + self.proxy.stderr_tail())
                self.assertNotIn("stopping", self.proxy.stderr())
                self.serve_ok()
                self.assertEqual(self.proxy.stop(), 0)
                self.proxy.check_clean(self)
                self.proxy.cleanup()
                self.proxy = None


if __name__ == "__main__":
    harness.main(overall_timeout=88)
