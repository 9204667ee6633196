"""Per-user policy on a shared box, with real local users: who may, how much,
the audit line of every request, usage that survives a restart, the policy
file and SIGHUP, the unix listener (SO_PEERCRED), and who may /shutdown.

Each client runs as a real, different uid (local_users.py: a forked child
that switches user), so the proxy learns identities the way it does in use:
from the kernel, for sockets those users own."""

import json
import os
import re
import signal
import tempfile
import threading
import time
import unittest

from harness import ProxyTestCase, Upstream, main
from local_users import AsUser, ensure_test_users, header, request_as, uid_of
from test_sandbox_status import children

SSE_USAGE = [
    b'event: response.created\ndata: {"type":"response.created","response":{"usage":null}}\n\n',
    b'event: response.output_text.delta\ndata: {"type":"response.output_text.delta","delta":"hi"}\n\n',
    b'event: response.completed\ndata: {"type":"response.completed","response":{"id":"resp_1",'
    b'"usage":{"input_tokens":60,"input_tokens_details":{"cached_tokens":0},'
    b'"output_tokens":50,"total_tokens":110}}}\n\n',
]


def sse_with_usage(req, conn):
    conn.sse(SSE_USAGE, headers=(("Content-Type", "text/event-stream"),
                                 ("x-request-id", "req_test_%d" % len(conn.upstream.requests))))


def audit_lines(proxy):
    return [l for l in proxy.stderr().splitlines() if " audit " in l]


def sandboxed_workers(pid):
    kids = children(pid)
    out = []
    for k in kids:
        try:
            with open("/proc/%d/status" % k) as f:
                if "Seccomp:\t2" in f.read():
                    out.append(k)
        except OSError:
            pass
    return out


def sighup_and_wait(proxy, timeout=15.0):
    """SIGHUP, then wait until only new, sandboxed workers are left: a
    connection that an old, draining worker accepts before it has read a
    request is closed (the draining worker serves no new requests)."""
    before = set(children(proxy.pid))
    os.kill(proxy.pid, signal.SIGHUP)
    return wait_for(lambda: (lambda now: now and not (set(now) & before))(sandboxed_workers(proxy.pid)),
                    timeout)


def wait_for(pred, timeout=5.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if pred():
            return True
        time.sleep(0.05)
    return pred()


class PerUserTestCase(ProxyTestCase):
    def setUp(self):
        super().setUp()
        self.users = ensure_test_users()
        self.tmp = tempfile.mkdtemp(prefix="per-user-it-")
        os.chmod(self.tmp, 0o755)

    def audit_for(self, name, timeout=5.0, **fields):
        """The audit lines of user `name` that have all `fields` (key=value)."""
        uid = uid_of(name)

        def matching():
            out = []
            for l in audit_lines(self.proxy):
                if " uid=%d user=%s " % (uid, name) not in l:
                    continue
                if all(re.search(r"\b%s=%s\b" % (k, re.escape(str(v))), l) for k, v in fields.items()):
                    out.append(l)
            return out

        wait_for(lambda: matching(), timeout)
        return matching()


class WhoMay(PerUserTestCase):
    def test_allowed_and_refused_user(self):
        self.start(extra_args=["--allow-user", "cpxtest1"])
        ok = request_as("cpxtest1", self.proxy.port)
        self.assertEqual(ok.get("status"), 200, ok)
        self.upstream.wait_requests(1)
        no = request_as("cpxtest2", self.proxy.port)
        self.assertEqual(no.get("status"), 403, no)
        self.assertEqual(json.loads(no["body"])["error"]["code"], "user_not_allowed")
        time.sleep(0.2)
        self.assertEqual(len(self.upstream.requests), 1, "a refused user's request went upstream")
        # The audit trail names each, from the kernel's word.
        self.assertTrue(self.audit_for("cpxtest1", status=200, outcome="completed"))
        self.assertTrue(self.audit_for("cpxtest2", status=403, outcome="refused",
                                       code="user_not_allowed"))

    def test_group_rule(self):
        self.start(extra_args=["--allow-group", "cpxtestgrp"])
        self.assertEqual(request_as("cpxtest2", self.proxy.port).get("status"), 200)
        self.assertEqual(request_as("cpxtest1", self.proxy.port).get("status"), 403)

    def test_unknown_user_is_a_startup_error(self):
        self.start(extra_args=["--allow-user", "no-such-user-cpx"], wait_info=False)
        self.assertEqual(self.proxy.proc.wait(10), 9)
        self.proxy.returncode = 9
        err = self.proxy.stderr().strip().splitlines()
        self.assertEqual(len(err), 1, err)
        self.assertIn("--allow-user no-such-user-cpx: no such user", err[0])
        self.proxy.cleanup()
        self.proxy = None

    def test_worker_refusals_are_audited_with_the_caller(self):
        self.start()
        # The client stays connected for a moment after the answer, as clients do:
        # the parent names a connection when it gets to its ConnOpen, and a
        # refusal the worker answered alone may reach a client that has already
        # gone by then (README: such a line says uid=?).
        r = request_as("cpxtest3", self.proxy.port, method="GET", path="/v1/models", body=None,
                       linger=1.0)
        self.assertEqual(r.get("status"), 403, r)
        self.assertTrue(self.audit_for("cpxtest3", method="GET", path="/v1/models", status=403,
                                       outcome="refused", code="forbidden"))


class HowMuch(PerUserTestCase):
    def test_concurrent_streams(self):
        release = threading.Event()

        def held(req, conn):
            release.wait(10)
            conn.json(200, {"ok": True})

        self.start(handler=held, extra_args=["--max-streams-per-user", "1"])
        first = AsUser("cpxtest1", self.proxy.port).start()
        self.upstream.wait_requests(1)
        second = request_as("cpxtest1", self.proxy.port)
        self.assertEqual(second.get("status"), 429, second)
        self.assertEqual(json.loads(second["body"])["error"]["code"], "too_many_streams")
        self.assertIsNotNone(header(second, "retry-after"))
        other = AsUser("cpxtest2", self.proxy.port).start()  # another user is served
        self.upstream.wait_requests(2)
        release.set()
        self.assertEqual(first.result().get("status"), 200)
        self.assertEqual(other.result().get("status"), 200)
        # The first stream ended: the user may open another.
        self.assertEqual(request_as("cpxtest1", self.proxy.port).get("status"), 200)

    def test_requests_per_minute(self):
        self.start(extra_args=["--requests-per-minute-per-user", "2"])
        for _ in range(2):
            self.assertEqual(request_as("cpxtest1", self.proxy.port).get("status"), 200)
        third = request_as("cpxtest1", self.proxy.port)
        self.assertEqual(third.get("status"), 429, third)
        err = json.loads(third["body"])["error"]
        self.assertEqual(err["code"], "rate_limit_exceeded")
        self.assertEqual(err["type"], "requests")
        self.assertTrue(1 <= int(header(third, "retry-after")) <= 30)
        self.assertEqual(request_as("cpxtest2", self.proxy.port).get("status"), 200)
        self.assertEqual(len(self.upstream.requests), 3)

    def test_token_budget_counted_from_the_stream_and_kept_across_restarts(self):
        state = os.path.join(self.tmp, "usage.state")
        args = ["--tokens-per-day-per-user", "100", "--state-file", state]
        self.start(handler=sse_with_usage, extra_args=args)
        first = request_as("cpxtest1", self.proxy.port,
                           headers=(("Content-Type", "application/json"),
                                    ("Accept-Encoding", "gzip, br")))
        self.assertEqual(first.get("status"), 200, first)
        self.assertIn("response.completed", first["body"])
        # A budget needs a countable body: the upstream was asked for identity.
        self.assertEqual(self.upstream.requests[0].header_all("accept-encoding"), ["identity"])
        line = self.audit_for("cpxtest1", status=200, tokens_in=60, tokens_out=50)
        self.assertTrue(line, audit_lines(self.proxy))
        self.assertRegex(line[0], r"request_id=req_test_\d+")
        over = request_as("cpxtest1", self.proxy.port)
        self.assertEqual(over.get("status"), 429, over)
        self.assertEqual(json.loads(over["body"])["error"]["code"], "token_budget_exceeded")
        self.assertEqual(request_as("cpxtest2", self.proxy.port).get("status"), 200)

        # Restart: the count is still there, from the state file.
        self.proxy.stop()
        self.proxy.check_clean(self)
        self.proxy.cleanup()
        self.proxy = None
        self.start(handler=sse_with_usage, extra_args=args)
        again = request_as("cpxtest1", self.proxy.port)
        self.assertEqual(again.get("status"), 429, again)
        # The operator's view of the same file (saved every 5 s and at exit).
        self.proxy.stop()
        import subprocess
        out = subprocess.run([self.proxy.bin, "--usage", "--state-file", state,
                              "--tokens-per-day-per-user", "100"],
                             capture_output=True, text=True, timeout=10)
        self.assertEqual(out.returncode, 0, out.stderr)
        row = [l for l in out.stdout.splitlines()
               if l.split()[:3] == [str(uid_of("cpxtest1")), "cpxtest1", "day"]]
        self.assertEqual(len(row), 1, out.stdout)
        cols = row[0].split()
        # UID USER PERIOD KEY REQUESTS REFUSED TOKENS_IN TOKENS_OUT TOKENS TOKEN_LIMIT
        self.assertEqual(cols[6:10], ["60", "50", "110", "100"], out.stdout)
        self.assertEqual(cols[4:6], ["1", "2"], out.stdout)  # requests, refused

    def test_corrupt_state_file_is_a_startup_error(self):
        state = os.path.join(self.tmp, "usage.state")
        with open(state, "w") as f:
            f.write("codex-responses-api-proxy usage 1\nday yesterday\n")
        os.chmod(state, 0o600)
        self.start(extra_args=["--state-file", state], wait_info=False)
        self.assertEqual(self.proxy.proc.wait(10), 9)
        self.proxy.returncode = 9
        err = self.proxy.stderr().strip().splitlines()
        self.assertEqual(len(err), 1, err)
        self.assertIn("--state-file", err[0])
        self.assertIn("line 2: bad day", err[0])
        # and the file is untouched
        with open(state) as f:
            self.assertIn("yesterday", f.read())
        self.proxy.cleanup()
        self.proxy = None


class PolicyFile(PerUserTestCase):
    def write(self, text, name="policy.toml"):
        path = os.path.join(self.tmp, name)
        with open(path, "w") as f:
            f.write(text)
        os.chmod(path, 0o644)  # whatever the umask: the proxy refuses a group-writable one
        return path

    def test_check_policy(self):
        import subprocess
        from testenv import proxy_bin
        good = self.write('[access]\nallow_users = ["cpxtest1"]\nmetrics_users = ["cpxtest2"]\n'
                          '[defaults]\nmodels = ["gpt-5-mini", "gpt-5*"]\nmax_output_tokens = 4096\n'
                          '[users.cpxtest1]\nmax_streams = 2\n[users.cpxtest2]\nmodels = ["o3"]\n')
        r = subprocess.run([proxy_bin(), "--check-policy", good], capture_output=True, text=True,
                           timeout=10, stdin=subprocess.DEVNULL)
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertIn("ok", r.stdout)
        # The summary shows what the file says, body rules and the metrics readers included.
        self.assertIn("1 metrics users", r.stdout)
        self.assertIn("body rules, defaults: models gpt-5-mini gpt-5*, max_output_tokens 4096, "
                      "service_tiers any\n", r.stdout)
        import pwd
        self.assertIn("body rules, uid %d: models o3\n" % pwd.getpwnam("cpxtest2").pw_uid, r.stdout)
        self.assertNotIn("uid %d" % pwd.getpwnam("cpxtest1").pw_uid, r.stdout)  # says none of its own
        bad = self.write('[access]\nallow_users = ["cpxtest1"]\nfrobnicate = 1\n', "bad.toml")
        r = subprocess.run([proxy_bin(), "--check-policy", bad], capture_output=True, text=True,
                           timeout=10, stdin=subprocess.DEVNULL)
        self.assertEqual(r.returncode, 9)
        self.assertEqual(len(r.stderr.strip().splitlines()), 1, r.stderr)
        self.assertIn(bad + ":3", r.stderr)

    def test_bad_policy_at_start(self):
        bad = self.write('[users.cpxtest1]\nmax_streams = -1\n')
        self.start(extra_args=["--policy", bad], wait_info=False)
        self.assertEqual(self.proxy.proc.wait(10), 9)
        self.proxy.returncode = 9
        err = self.proxy.stderr().strip().splitlines()
        self.assertEqual(len(err), 1, err)
        self.assertIn("--policy: " + bad + ":2", err[0])
        self.proxy.cleanup()
        self.proxy = None

    def test_sighup_rereads_and_refuses_a_bad_file(self):
        path = self.write('[access]\nallow_users = ["cpxtest1", "cpxtest2"]\n')
        self.start(extra_args=["--policy", path])
        self.assertEqual(request_as("cpxtest2", self.proxy.port).get("status"), 200)
        # A bad file: refused with one line, the old policy stays, still serving.
        self.write('[access]\nallow_users = "cpxtest1"\n')
        self.assertTrue(sighup_and_wait(self.proxy))
        self.assertTrue(wait_for(lambda: "reload refused, old policy kept" in self.proxy.stderr()),
                        self.proxy.stderr_tail())
        self.assertEqual(request_as("cpxtest2", self.proxy.port).get("status"), 200)
        # A good one: in force at once.
        self.write('[access]\nallow_users = ["cpxtest1"]\ndeny_users = ["cpxtest2"]\n')
        self.assertTrue(sighup_and_wait(self.proxy))
        self.assertTrue(wait_for(lambda: "policy reloaded" in self.proxy.stderr()))
        self.assertEqual(request_as("cpxtest2", self.proxy.port).get("status"), 403)
        self.assertEqual(request_as("cpxtest1", self.proxy.port).get("status"), 200)

    def test_overrides_per_user_and_group(self):
        path = self.write('[defaults]\nrequests_per_minute = 1\n'
                          '[groups.cpxtestgrp]\nrequests_per_minute = 3\n')
        self.start(extra_args=["--policy", path])
        statuses = [request_as("cpxtest2", self.proxy.port).get("status") for _ in range(4)]
        self.assertEqual(statuses, [200, 200, 200, 429])  # the group's 3
        statuses = [request_as("cpxtest1", self.proxy.port).get("status") for _ in range(2)]
        self.assertEqual(statuses, [200, 429])  # the default 1


class AuditLogFile(PerUserTestCase):
    def test_json_lines_and_reopen_on_sighup(self):
        log = os.path.join(self.tmp, "audit.jsonl")
        self.start(handler=sse_with_usage, extra_args=["--audit-log", log])
        self.assertEqual(request_as("cpxtest1", self.proxy.port).get("status"), 200)
        wait_for(lambda: os.path.exists(log) and os.path.getsize(log) > 0)
        with open(log) as f:
            rec = json.loads(f.readline())
        self.assertEqual(rec["uid"], uid_of("cpxtest1"))
        self.assertEqual(rec["user"], "cpxtest1")
        self.assertEqual(rec["status"], 200)
        self.assertEqual((rec["tokens_in"], rec["tokens_out"]), (60, 50))
        self.assertTrue(rec["request_id"].startswith("req_test_"))
        self.assertEqual(oct(os.stat(log).st_mode & 0o777), "0o600")
        # logrotate: move it away, SIGHUP, the next line goes to a new file.
        os.rename(log, log + ".1")
        self.assertTrue(sighup_and_wait(self.proxy))
        self.assertEqual(request_as("cpxtest2", self.proxy.port).get("status"), 200)
        self.assertTrue(wait_for(lambda: os.path.exists(log) and os.path.getsize(log) > 0))
        with open(log) as f:
            self.assertEqual(json.loads(f.readline())["user"], "cpxtest2")


class UnixListener(PerUserTestCase):
    def test_so_peercred_identity_and_policy(self):
        sock = os.path.join(self.tmp, "proxy.sock")
        self.start(extra_args=["--listen-unix", sock, "--allow-user", "cpxtest1"])
        st = os.stat(sock)
        self.assertEqual(oct(st.st_mode & 0o777), "0o666")
        ok = request_as("cpxtest1", sock)
        self.assertEqual(ok.get("status"), 200, ok)
        no = request_as("cpxtest2", sock)
        self.assertEqual(no.get("status"), 403, no)
        lines = self.audit_for("cpxtest1", status=200)
        self.assertTrue(lines)
        self.assertRegex(lines[0], r" pid=\d+ ")  # SO_PEERCRED names the process too
        self.proxy.stop()
        self.assertFalse(os.path.exists(sock), "the socket file is removed at exit")

    def test_mode_and_group(self):
        sock = os.path.join(self.tmp, "proxy.sock")
        self.start(extra_args=["--listen-unix", sock, "--listen-unix-mode", "0660",
                               "--listen-unix-group", "cpxtestgrp"])
        import grp
        st = os.stat(sock)
        self.assertEqual(oct(st.st_mode & 0o777), "0o660")
        self.assertEqual(st.st_gid, grp.getgrnam("cpxtestgrp").gr_gid)
        self.assertEqual(request_as("cpxtest2", sock).get("status"), 200)  # in the group
        denied = request_as("cpxtest1", sock)  # the file mode keeps it out
        self.assertIn("Permission denied", denied.get("error", ""), denied)


class WhoMayShutdown(PerUserTestCase):
    def test_only_allowed_users_and_root(self):
        self.start(extra_args=["--http-shutdown", "--allow-user", "cpxtest1"])
        no = request_as("cpxtest2", self.proxy.port, method="GET", path="/shutdown", body=None)
        self.assertEqual(no.get("status"), 403, no)
        self.assertEqual(json.loads(no["body"])["error"]["code"], "user_not_allowed")
        time.sleep(0.3)
        self.assertTrue(self.proxy.alive())
        ok = request_as("cpxtest1", self.proxy.port, method="GET", path="/shutdown", body=None)
        self.assertEqual(ok.get("status"), 200, ok)
        self.assertEqual(self.proxy.wait_exit(10), 0)


if __name__ == "__main__":
    main()
