"""Identity is never guessed: a local user the policy refuses must not pass
for root (or anyone) by leaving before the parent looks at the connection.

The parent is stopped (SIGSTOP) while the attacker, a real unprivileged
user, connects, sends a request followed by padding (so the worker, which
reads one head at a time, never reads the FIN), half-closes and closes. Its
socket is then a FIN_WAIT2 mini-socket that sock_diag reports with uid 0.
When the parent goes on, it must not take that for root.

Before the fix (2026-12-04, main at 7702cfd): GET /shutdown was granted as
root (the proxy exited 0), and a POST was admitted and audited as uid=0."""

import json
import os
import signal
import socket
import time

from harness import ProxyTestCase, main
from local_users import CallAs, ensure_test_users, request_as
from testenv import LOOPBACK

PADDING = 40 * 1024  # more than a worker reads ahead (one head: 32 KiB)


def send_and_leave(port, request, ready_path):
    s = socket.create_connection((LOOPBACK, port), timeout=10)
    s.sendall(request.encode("latin-1") + b"x" * PADDING)
    # Long enough for the worker to accept, read the head and hand it over.
    time.sleep(0.5)
    s.shutdown(socket.SHUT_WR)
    s.close()
    with open(ready_path, "w") as f:
        f.write("gone")
    return {"left": True}


class IdentityIsNeverGuessed(ProxyTestCase):
    allow_security_events = False

    def setUp(self):
        super().setUp()
        ensure_test_users()

    def leave_while_parent_stopped(self, request):
        ready = "/tmp/cpx-identity-%d-%d" % (os.getpid(), time.monotonic_ns())
        os.kill(self.proxy.pid, signal.SIGSTOP)
        try:
            child = CallAs("cpxtest3", send_and_leave, self.proxy.port, request, ready).start()
            self.assertEqual(child.result(), {"left": True})
            # The client's close is through: its socket is a mini-socket now.
            time.sleep(0.3)
        finally:
            os.kill(self.proxy.pid, signal.SIGCONT)
            if os.path.exists(ready):
                os.unlink(ready)

    def audit(self, path=None, timeout=10.0):
        """The audit lines so far, waiting (up to `timeout`) for one with `path`."""
        deadline = time.monotonic() + timeout
        while True:
            lines = [l for l in self.proxy.stderr().splitlines() if " audit " in l]
            if path is None or any("path=" + path in l for l in lines):
                return lines
            if time.monotonic() > deadline:
                return lines
            time.sleep(0.05)

    def test_shutdown_by_a_user_who_left_is_not_root(self):
        self.start(extra_args=["--http-shutdown", "--allow-user", "cpxtest1"])
        self.leave_while_parent_stopped(
            "GET /shutdown HTTP/1.1\r\nHost: 127.0.0.1:%d\r\n\r\n" % self.proxy.port)
        time.sleep(1.0)
        self.assertTrue(self.proxy.alive(), "the proxy shut down for a user who left:\n"
                        + self.proxy.stderr_tail())
        lines = [l for l in self.audit("/shutdown") if "path=/shutdown" in l]
        self.assertTrue(lines, self.proxy.stderr_tail())
        for l in lines:
            self.assertNotIn("uid=0 ", l)
            self.assertIn("outcome=refused", l)
        # Still serving the user it allows.
        self.assertEqual(request_as("cpxtest1", self.proxy.port).get("status"), 200)

    def test_request_by_a_user_who_left_is_not_admitted_as_root(self):
        self.start(extra_args=["--allow-user", "cpxtest1"])
        body = '{"model":"gpt-5","input":"hi"}'
        self.leave_while_parent_stopped(
            "POST /v1/responses HTTP/1.1\r\nHost: 127.0.0.1:%d\r\nContent-Type: application/json"
            "\r\nContent-Length: %d\r\n\r\n%s" % (self.proxy.port, len(body), body))
        time.sleep(1.0)
        self.assertEqual(len(self.upstream.requests), 0,
                         "a refused user's request went upstream:\n" + self.proxy.stderr_tail())
        for l in self.audit():
            self.assertNotIn("uid=0 ", l)
        self.assertEqual(request_as("cpxtest1", self.proxy.port).get("status"), 200)

    def test_a_denied_user_who_left_is_not_admitted(self):
        # Root would be admitted here; the user who left is denied.
        import tempfile
        d = tempfile.mkdtemp(prefix="cpx-identity-")
        os.chmod(d, 0o755)
        path = os.path.join(d, "policy.toml")
        with open(path, "w") as f:
            f.write('[access]\ndeny_users = ["cpxtest3"]\n')
        self.start(extra_args=["--policy", path])
        body = "{}"
        self.leave_while_parent_stopped(
            "POST /v1/responses HTTP/1.1\r\nHost: 127.0.0.1:%d\r\nContent-Length: %d\r\n\r\n%s"
            % (self.proxy.port, len(body), body))
        time.sleep(1.0)
        self.assertEqual(len(self.upstream.requests), 0,
                         "a denied user's request went upstream:\n" + self.proxy.stderr_tail())
        lines = self.audit("/v1/responses")
        self.assertTrue(lines, self.proxy.stderr_tail())
        for l in lines:
            self.assertNotIn("uid=0 ", l)
            self.assertIn("outcome=refused", l)

    def test_without_rules_a_caller_who_left_is_still_not_root(self):
        # No rule names users: the unidentified may (as the original), but
        # the audit line never says root.
        self.start(extra_args=["--http-shutdown", "--max-streams-per-user", "0"])
        body = "{}"
        self.leave_while_parent_stopped(
            "POST /v1/responses HTTP/1.1\r\nHost: 127.0.0.1:%d\r\nContent-Length: %d\r\n\r\n%s"
            % (self.proxy.port, len(body), body))
        time.sleep(1.0)
        for l in self.audit():
            self.assertNotIn("uid=0 ", l)


if __name__ == "__main__":
    main()
