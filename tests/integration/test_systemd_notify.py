"""The systemd notification protocol against the real binary, with a datagram
socket of the test's own as $NOTIFY_SOCKET: READY=1 with MAINPID once it
listens, WATCHDOG=1 at half of $WATCHDOG_USEC while its loop turns (and only
when the watchdog is ours), STOPPING=1 on SIGTERM."""

import os
import shutil
import signal
import socket
import tempfile
import time

import harness
from harness import ProxyTestCase, Upstream, Proxy


class Notifications:
    """A bound AF_UNIX datagram socket that records every notification."""

    def __init__(self):
        self.dir = tempfile.mkdtemp(prefix="proxy-it-notify-")
        self.path = os.path.join(self.dir, "notify")
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        self.sock.bind(self.path)
        self.got = []  # (monotonic time, text)

    def collect(self, seconds):
        deadline = time.monotonic() + seconds
        while True:
            left = deadline - time.monotonic()
            if left <= 0:
                return self.got
            self.sock.settimeout(left)
            try:
                data = self.sock.recv(4096)
            except socket.timeout:
                return self.got
            self.got.append((time.monotonic(), data.decode()))

    def texts(self):
        return [t for _, t in self.got]

    def close(self):
        self.sock.close()
        shutil.rmtree(self.dir, True)


class SystemdNotify(ProxyTestCase):

    def setUp(self):
        super().setUp()
        self.notify = Notifications()

    def tearDown(self):
        try:
            super().tearDown()
        finally:
            self.notify.close()

    def start_with(self, extra_args=(), **env):
        self.upstream = Upstream()
        env = dict(env, NOTIFY_SOCKET=self.notify.path)
        self.proxy = Proxy(upstream=self.upstream, env=env, extra_args=extra_args)
        return self.proxy

    def test_watchdog_pings_need_every_upstream_thread(self):
        # Two upstream loops: a ping goes out only when the second thread
        # answered the previous one (a hung thread stops the pings).
        self.start_with(extra_args=["--workers", "2", "--upstream-threads", "2"],
                        WATCHDOG_USEC="400000")
        self.notify.collect(1.3)
        pings = [t for (t, text) in self.notify.got if text == "WATCHDOG=1"]
        self.assertGreaterEqual(len(pings), 3, self.notify.texts())
        r = self.client().post(headers=harness.codex_headers())
        self.assertEqual(r.status, 200)
        self.assertNotIn("does not answer", self.proxy.stderr())

    def test_watchdog_pings_at_half_the_interval(self):
        p = self.start_with(WATCHDOG_USEC="400000")
        self.notify.collect(1.3)
        texts = self.notify.texts()
        self.assertTrue(texts, "no notification at all")
        self.assertEqual(texts[0], "READY=1\nMAINPID=%d" % p.proc.pid)
        pings = [t for (t, text) in self.notify.got if text == "WATCHDOG=1"]
        # every 200 ms: about 6 in 1.3 s; 3 leaves room for a busy machine
        self.assertGreaterEqual(len(pings), 3, texts)
        gaps = [b - a for a, b in zip(pings, pings[1:])]
        self.assertLess(min(gaps), 0.4, "pings not at half of WATCHDOG_USEC: %r" % gaps)
        # a proxy that serves while pinging
        r = self.client().post(headers=harness.codex_headers())
        self.assertEqual(r.status, 200)

    def test_no_pings_without_a_watchdog_or_for_another_pid(self):
        for env in ({}, {"WATCHDOG_USEC": "400000", "WATCHDOG_PID": "1"},
                    {"WATCHDOG_USEC": "0"}):
            with self.subTest(env=env):
                p = self.start_with(**env)
                self.notify.collect(1.0)
                texts = self.notify.texts()
                self.assertEqual(texts[:1], ["READY=1\nMAINPID=%d" % p.proc.pid], texts)
                self.assertNotIn("WATCHDOG=1", texts)
                p.stop()
                self.proxy = None
                self.upstream.stop()
                self.upstream = None
                self.notify.collect(0.2)
                self.notify.got = []

    def test_stopping_on_sigterm_and_pings_until_exit(self):
        p = self.start_with(WATCHDOG_USEC="200000")
        self.notify.collect(0.3)
        # a held stream keeps the parent draining for a while after SIGTERM
        c = self.client()
        held = []

        def handler(req, conn):
            held.append(conn)
            conn.start_chunked()
            conn.send_chunk(b"data: 1\n\n")
            time.sleep(1.0)
            conn.end_chunked()
        self.upstream.handler = handler
        c.request("POST", "/v1/responses", harness.codex_headers(), b"{}")
        r = c.read_head()
        self.assertEqual(r.status, 200)
        self.notify.got = []
        os.kill(p.proc.pid, signal.SIGTERM)
        self.notify.collect(0.6)
        texts = self.notify.texts()
        self.assertIn("STOPPING=1", texts)
        after = texts[texts.index("STOPPING=1") + 1:]
        self.assertIn("WATCHDOG=1", after, "no ping while draining: %r" % texts)
        self.assertEqual(p.proc.wait(10), 0)

    def test_reload_is_ready_once_every_upstream_thread_replaced_its_workers(self):
        # SIGHUP: RELOADING=1, then READY=1 only after each loop (the main
        # one and the upstream thread) has started its new worker, so that
        # `systemctl reload` returns on a finished reload. Each loop logs its
        # "reload: replacing workers" with one write before it reports back;
        # the log is read the moment READY=1 arrives.
        p = self.start_with(extra_args=["--workers", "2", "--upstream-threads", "2"])
        self.notify.collect(0.5)
        self.assertEqual(self.notify.texts()[:1], ["READY=1\nMAINPID=%d" % p.proc.pid])
        for round in range(3):
            self.notify.got = []
            os.kill(p.proc.pid, signal.SIGHUP)
            log = None
            deadline = time.monotonic() + 10
            while log is None and time.monotonic() < deadline:
                self.notify.sock.settimeout(max(0.01, deadline - time.monotonic()))
                try:
                    text = self.notify.sock.recv(4096).decode()
                except socket.timeout:
                    break
                self.notify.got.append((time.monotonic(), text))
                if text == "READY=1":
                    log = p.stderr()
            texts = self.notify.texts()
            self.assertTrue(texts and texts[0].startswith("RELOADING=1\nMONOTONIC_USEC="),
                            "%r\n%s" % (texts, p.stderr_tail()))
            self.assertIsNotNone(log, "no READY=1 after the reload: %r" % texts)
            self.assertEqual(log.count("reload: replacing workers"), 2 * (round + 1),
                             "READY=1 before both loops reloaded:\n" + log[-2000:])
            self.assertEqual(log.count("reload: done"), round + 1)
        # A burst: reloads asked for while a thread is still busy with the
        # previous one reach it as one (its mailbox bits coalesce); that one
        # covers them all, and READY=1 still follows the last RELOADING=1.
        self.notify.got = []
        for _ in range(20):
            os.kill(p.proc.pid, signal.SIGHUP)
            time.sleep(0.002)
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            self.notify.collect(0.2)
            texts = self.notify.texts()
            if texts and texts[-1] == "READY=1":
                break
        reloading = [i for i, t in enumerate(texts) if t.startswith("RELOADING=1")]
        self.assertTrue(reloading, texts)
        self.assertIn("READY=1", texts[reloading[-1]:], "no READY=1 after the burst: %r" % texts)
        self.serve_ok()


if __name__ == "__main__":
    harness.main()
