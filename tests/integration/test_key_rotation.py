"""Key rotation by SIGHUP: the parent reads --key-file again into a fresh
locked page. A stream open at that moment completes with the old key, the
next request carries the new one (the stand-in upstream records the
Authorization it got), and afterwards the parent's memory holds the new key
once and the old one nowhere (read through /proc/<pid>/mem, as
test_key_scan.py does). A new key that is unreadable, empty, too long or
outside the charset is kept out with one log line; started with the key on
stdin, SIGHUP says once that it cannot be re-read."""

import os
import re
import signal
import threading
import time

from harness import ProxyTestCase, Client, codex_headers, fake_key, main
from memory_scan import describe_hits, is_root, proxy_pids, scan_memory
from test_per_user import sighup_and_wait, wait_for


def recording_handler(release):
    """200 with a small body; a request with x-test-slow gets its head and a
    first event at once and the rest only after `release`."""
    def serve(req, conn):
        if req.header("x-test-slow"):
            conn.start_chunked()
            conn.send_chunk(b'event: response.created\ndata: {"type":"response.created"}\n\n')
            release.wait(30)
            conn.send_chunk(b'event: response.completed\ndata: {"type":"response.completed"}\n\n')
            conn.end_chunked()
            return
        conn.json(200, {"id": "resp_test", "object": "response", "status": "completed"})
    return serve


def write_key(path, data):
    """Replace the file whole (rename), as an operator's tool would."""
    tmp = path + ".new"
    with open(tmp, "wb") as f:
        f.write(data)
    os.chmod(tmp, 0o600)
    os.replace(tmp, path)



def exited(pid):
    """True once pid is gone or a zombie (its memory released)."""
    try:
        with open("/proc/%d/stat" % pid) as f:
            return f.read().rsplit(")", 1)[1].split()[0] in ("Z", "X")
    except (FileNotFoundError, ProcessLookupError):
        return True

class KeyRotationTest(ProxyTestCase):

    def setUp(self):
        super().setUp()
        self.release = threading.Event()
        self.addCleanup(self.release.set)
        self.old = fake_key(40)
        self.new = fake_key(40)

    def start_with_key_file(self):
        self.upstream_handler = recording_handler(self.release)
        proxy = self.start(handler=self.upstream_handler, key=self.old, key_input=b"",
                           extra_args=["--workers", "1"], start=False)
        self.key_path = os.path.join(proxy.dir, "openai-api-key")
        write_key(self.key_path, (self.old + "\n").encode())
        proxy.args += ["--key-file", self.key_path]
        proxy.start()
        return proxy

    def auth_of_last(self):
        return self.upstream.requests[-1].header("authorization")

    def tearDown(self):
        # Neither key in the log, whichever the proxy holds at the end.
        if self.proxy is not None:
            for key in (self.old, self.new):
                self.assertNotIn(key[len("sk-test-"):], self.proxy.stderr())
        super().tearDown()

    def test_rotation_with_a_stream_open(self):
        proxy = self.start_with_key_file()
        self.serve_ok()
        self.assertEqual(self.auth_of_last(), "Bearer " + self.old)
        # A slow stream: its request (and the old key) has gone upstream.
        slow = self.client()
        slow.send(slow_request(proxy.port))
        head = slow.read_head()
        self.assertEqual(head.status, 200)
        n = len(self.upstream.requests)

        write_key(self.key_path, (self.new + "\n").encode())
        # The old worker drains while the slow stream lasts: no waiting for it.
        os.kill(proxy.pid, signal.SIGHUP)
        self.assertTrue(wait_for(lambda: "key rotated" in proxy.stderr(), 5), proxy.stderr_tail())
        self.serve_ok()
        got = [r.header("authorization") for r in self.upstream.requests[n:]]
        self.assertEqual(set(got), {"Bearer " + self.new}, "requests after the rotation")

        # The open stream completes, with the key it was sent with.
        self.release.set()
        body = b"".join(slow.iter_body(head))
        self.assertIn(b"response.completed", body)
        slow_req = [r for r in self.upstream.requests if r.header("x-test-slow")]
        self.assertEqual([r.header("authorization") for r in slow_req], ["Bearer " + self.old])
        self.serve_ok()
        self.assertEqual(self.auth_of_last(), "Bearer " + self.new)

        c = Client(proxy.port)
        try:
            c.request("GET", "/metrics")
            metrics = c.read_response().body.decode()
        finally:
            c.close()
        self.assertIn("\ncodex_proxy_key_rotations_total 1\n", metrics)

        if not is_root():
            self.skipTest("the memory scan needs root (/proc/<pid>/mem of a non-dumpable proxy)")
        self.scan_keys(proxy)

    def scan_keys(self, proxy):
        old, new = (k[len("sk-test-"):].encode() for k in (self.old, self.new))
        parent, workers = proxy_pids(proxy.proc.pid)
        report = []
        scanned_workers = 0
        for pid in [parent] + workers:
            try:
                hits, _ = scan_memory(pid, [old, new])
            except (FileNotFoundError, ProcessLookupError):
                # The worker drained by the rotation exits once its last
                # stream ends, perhaps between the listing and the scan:
                # gone, it holds nothing. The parent must still be there.
                self.assertNotEqual(pid, parent, "the parent exited")
                self.assertTrue(exited(pid), "pid %d is there but unreadable" % pid)
                continue
            scanned_workers += pid != parent
            want_new = 1 if pid == parent else 0
            report.append("pid %d (%s): new key %d, old key %d"
                          % (pid, "parent" if pid == parent else "worker", len(hits[new]),
                             len(hits[old])))
            print(report[-1])
            self.assertEqual(len(hits[new]), want_new,
                             "new key in pid %d:\n%s" % (pid, describe_hits(pid, hits[new])))
            self.assertEqual(len(hits[old]), 0,
                             "old key in pid %d:\n%s" % (pid, describe_hits(pid, hits[old])))
        self.assertGreaterEqual(scanned_workers, 1, "no worker scanned")

    def test_bad_new_keys_are_kept_out(self):
        proxy = self.start_with_key_file()
        self.serve_ok()
        bad = [("empty", b""), ("only a newline", b"\n"),
               ("outside the charset", b"sk-test-has spaces and $ signs\n"),
               ("too long", b"k" * 2000 + b"\n")]
        for i, (what, data) in enumerate(bad, 1):
            write_key(self.key_path, data)
            self.assertTrue(sighup_and_wait(proxy), proxy.stderr_tail())
            self.assertTrue(wait_for(lambda: len(refusals(proxy)) == i, 5),
                            "%s: %s" % (what, proxy.stderr_tail()))
            self.serve_ok()
            self.assertEqual(self.auth_of_last(), "Bearer " + self.old, what)
        # Unreadable: gone.
        os.unlink(self.key_path)
        self.assertTrue(sighup_and_wait(proxy), proxy.stderr_tail())
        self.assertTrue(wait_for(lambda: len(refusals(proxy)) == len(bad) + 1, 5),
                        proxy.stderr_tail())
        self.assertIn("No such file or directory", refusals(proxy)[-1])
        self.serve_ok()
        self.assertEqual(self.auth_of_last(), "Bearer " + self.old)
        self.assertNotIn("key rotated", proxy.stderr())
        # And a good one after all that is taken.
        write_key(self.key_path, self.new.encode())
        self.assertTrue(sighup_and_wait(proxy), proxy.stderr_tail())
        self.assertTrue(wait_for(lambda: "key rotated" in proxy.stderr(), 5), proxy.stderr_tail())
        self.serve_ok()
        self.assertEqual(self.auth_of_last(), "Bearer " + self.new)

    def test_key_on_stdin_says_once_it_cannot_be_reread(self):
        proxy = self.start(handler=recording_handler(self.release), key=self.old,
                           extra_args=["--workers", "1"])
        for _ in range(2):
            self.assertTrue(sighup_and_wait(proxy), proxy.stderr_tail())
        self.serve_ok()
        lines = [l for l in proxy.stderr().splitlines() if "cannot be read again" in l]
        self.assertEqual(len(lines), 1, proxy.stderr_tail())
        self.assertEqual(self.auth_of_last(), "Bearer " + self.old)


def refusals(proxy):
    return [l for l in proxy.stderr().splitlines() if "key rotation refused" in l]


def slow_request(port):
    headers = codex_headers() + [("x-test-slow", "1")]
    lines = ["POST /v1/responses HTTP/1.1", "Host: 127.0.0.1:%d" % port]
    lines += ["%s: %s" % h for h in headers]
    body = b'{"model":"gpt-5"}'
    lines.append("Content-Length: %d" % len(body))
    return ("\r\n".join(lines) + "\r\n\r\n").encode() + body


if __name__ == "__main__":
    main()
