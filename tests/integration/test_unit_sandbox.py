"""The proxy still works inside the sandbox its systemd unit gives it.

Where systemd is not PID 1 (containers, CI VMs) the unit cannot be started,
so unit_sandbox.py rebuilds what it can of that sandbox from the unit file
itself (SystemCallFilter= resolved through systemd's own tables, the bounding
set, NoNewPrivileges=, ProtectProc=, ProcSubset=, PrivateMounts=, a read-only
root for ProtectSystem=strict, RestrictAddressFamilies=, the rlimits, the
umask, and User= with AmbientCapabilities=: the parent is not root) and execs
the proxy in it, with the unit's --key-file and --worker-user. The proxy must
serve, respawn a killed worker, reload on SIGHUP and exit 0 on SIGTERM, with
no process killed by SIGSYS; every worker, first, respawned or reloaded, must
run as the worker user, chrooted, with every capability set empty (ambient
included), the parent with only its five capabilities (CAP_KILL effective,
the workers' four ambient), not dumpable, and the key once in its memory.
tests/packaging/check_deb.sh does the same with the installed package, and
starts the real unit where systemd runs.

Root only; skipped (exit 77) where the sandbox cannot be rebuilt."""

import os
import pwd
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import unittest

import harness
import proc_status
from harness import ProxyTestCase, codex_headers
from memory_scan import scan_memory
from test_packaging import SERVICE
from test_supervision import children, seccomp_mode

HERE = os.path.dirname(os.path.abspath(__file__))
SANDBOX = os.path.join(HERE, "unit_sandbox.py")
# Stands in for the unit's User= before the package has created it.
TEST_PARENT_USER = "cpxkeyholder"


def unit_values(key):
    return [l.split("=", 1)[1] for l in open(SERVICE).read().splitlines()
            if l.startswith(key + "=")]


def parent_user():
    """The unit's User=, or a test system user where the package is not
    installed (made with useradd, left in place like local_users.py's)."""
    [user] = unit_values("User")
    for name in (user, TEST_PARENT_USER):
        try:
            pwd.getpwnam(name)
            return name
        except KeyError:
            pass
    subprocess.run(["useradd", "--system", "--no-create-home", "--shell", "/usr/sbin/nologin",
                    TEST_PARENT_USER], check=False)
    pwd.getpwnam(TEST_PARENT_USER)
    return TEST_PARENT_USER


def sandboxed(argv, writable):
    return [sys.executable, SANDBOX, "--user", parent_user(), SERVICE, writable, "--"] + list(argv)


def needs():
    if os.geteuid() != 0:
        raise unittest.SkipTest("needs root (mount namespace, bounding set)")
    if not shutil.which("systemd-analyze"):
        raise unittest.SkipTest("systemd-analyze not installed")
    with tempfile.TemporaryDirectory() as tmp:
        os.chmod(tmp, 0o755)
        r = subprocess.run(sandboxed(["/bin/true"], tmp), stdout=subprocess.PIPE,
                           stderr=subprocess.STDOUT, timeout=30)
    if r.returncode == 77:
        raise unittest.SkipTest(r.stdout.decode().strip())
    return r


class SandboxItself(unittest.TestCase):
    """The rebuilt sandbox is not a no-op: what the unit forbids fails."""

    def setUp(self):
        r = needs()
        self.assertEqual(r.returncode, 0, r.stdout.decode())

    def run_in(self, argv):
        with tempfile.TemporaryDirectory() as tmp:
            return subprocess.run(sandboxed(argv, tmp), stdout=subprocess.PIPE,
                                  stderr=subprocess.PIPE, timeout=30)

    def test_a_call_outside_the_filter_kills(self):
        # sethostname is in @privileged, which the unit removes: SIGSYS, even
        # before the missing CAP_SYS_ADMIN would refuse it.
        r = self.run_in(["/bin/hostname", "unit-sandbox-test"])
        self.assertEqual(r.returncode, -signal.SIGSYS, r.stderr.decode())

    def test_proc_shows_only_processes_no_system_files(self):
        r = self.run_in(["/bin/ls", "/proc"])
        self.assertEqual(r.returncode, 0, r.stderr.decode())
        names = r.stdout.decode().split()
        self.assertNotIn("sys", names)       # ProcSubset=pid
        self.assertNotIn("kcore", names)
        self.assertIn("self", names)

    def test_root_is_read_only(self):
        r = self.run_in(["/usr/bin/touch", "/var/tmp/unit-sandbox-test"])
        self.assertNotEqual(r.returncode, 0)
        self.assertIn(b"Read-only file system", r.stderr)


class UnderTheUnitsSandbox(ProxyTestCase):

    def setUp(self):
        super().setUp()
        r = needs()
        self.assertEqual(r.returncode, 0, r.stdout.decode())
        [exec_start] = unit_values("ExecStart")
        argv = exec_start.split()
        user = argv[argv.index("--worker-user") + 1]
        try:
            pwd.getpwnam(user)
        except KeyError:
            user = "nobody"  # the package's system user is not there before install
        self.worker_user = pwd.getpwnam(user)
        self.parent_user = pwd.getpwnam(parent_user())
        self.assertNotEqual(self.worker_user.pw_uid, self.parent_user.pw_uid)

    def tearDown(self):
        # Not the usual crash check: a worker is SIGKILLed on purpose below.
        for c in self._clients:
            c.close()
        try:
            if self.proxy is not None:
                self.proxy.stop()
                err = self.proxy.stderr()
                self.assertFalse(self.proxy.killed, "ignored SIGTERM:\n" + err)
                self.assertEqual(self.proxy.returncode, 0, "exit status; stderr:\n" + err)
                self.assertNotIn("SIGSYS", err)
                self.assertNotRegex(err, r"signal 31\b")
                self.proxy.check_secret_not_logged(self)
        finally:
            if self.upstream is not None:
                self.upstream.stop()
            if self.proxy is not None:
                self.proxy.cleanup()

    def workers(self, exclude=(), timeout=10.0):
        """The parent's children other than `exclude`, once every one of them
        is set up (check_worker passes; a child that has not exec'd yet has
        the parent's uid and capabilities). Fails with check_worker's
        complaint if one never is."""
        deadline = time.monotonic() + timeout
        kids, problem = [], None
        while time.monotonic() < deadline:
            kids = [k for k in children(self.proxy.proc.pid) if k not in exclude]
            try:
                for k in kids:
                    self.check_worker(k)
                if kids:
                    return kids
            except (AssertionError, OSError) as e:
                problem = e
            time.sleep(0.02)
        self.fail("no sandboxed workers (not %r): %r: %s; stderr:\n%s"
                  % (list(exclude), kids, problem, self.proxy.stderr()))

    def check_worker(self, pid):
        """The worker user's ids, chrooted, no capability in any set: a
        switch between two non-root uids clears nothing by itself."""
        st = proc_status.status(pid)
        w = self.worker_user
        self.assertEqual(st["Uid"], [w.pw_uid] * 4, "worker %d" % pid)
        self.assertEqual(st["Gid"], [w.pw_gid] * 4, "worker %d" % pid)
        self.assertEqual(st["Groups"], [], "worker %d" % pid)
        self.assertEqual(proc_status.capability_sets(st),
                         dict(CapInh=0, CapPrm=0, CapEff=0, CapBnd=0, CapAmb=0), "worker %d" % pid)
        self.assertEqual(st["NoNewPrivs"], "1")
        self.assertEqual(st["Seccomp"], "2")
        self.assertEqual(os.readlink("/proc/%d/root" % pid), self.chroot)
        self.assertEqual(proc_status.mem_owner(pid), 0, "worker %d is dumpable" % pid)

    def check_parent(self, pid):
        """Not root; CAP_KILL effective, the workers' four permitted,
        inheritable and ambient, nothing else; not dumpable."""
        st = proc_status.status(pid)
        u = self.parent_user
        self.assertEqual(st["Uid"], [u.pw_uid] * 4)
        self.assertEqual(st["Groups"], [])  # SupplementaryGroups= (none)
        setup, kept = proc_status.WORKER_SETUP_CAPS, proc_status.PARENT_CAPS
        self.assertEqual(proc_status.capability_sets(st), dict(
            CapInh=proc_status.mask(setup), CapPrm=proc_status.mask(kept),
            CapEff=proc_status.mask({proc_status.CAP_KILL}), CapBnd=proc_status.mask(kept),
            CapAmb=proc_status.mask(setup)))
        self.assertEqual(st["NoNewPrivs"], "1")
        # PR_SET_DUMPABLE 0 holds: another process of the parent's own uid
        # cannot read its memory (nor ptrace it).
        self.assertEqual(proc_status.mem_owner(pid), 0, "the parent is dumpable")
        self.assertIn(proc_status.open_mem_as(u.pw_uid, u.pw_gid, pid),
                      ("Permission denied", "Operation not permitted"))

    def check_key_once(self, key):
        """The key scan of test_key_scan.py: once in the parent, not in a worker."""
        secret = key.encode()[len(b"sk-test-"):]
        parent = self.proxy.proc.pid
        for pid in [parent] + children(parent):
            hits, _ = scan_memory(pid, [secret])
            self.assertEqual(len(hits[secret]), 1 if pid == parent else 0,
                             "copies of the key in %s %d" % (
                                 "parent" if pid == parent else "worker", pid))

    def test_serves_respawns_and_reloads(self):
        key = harness.fake_key()
        p = self.start(start=False, key=key, key_input=b"")
        key_file = os.path.join(p.dir, "openai-api-key")
        with open(os.open(key_file, os.O_WRONLY | os.O_CREAT, 0o600), "w") as f:
            f.write(key + "\n")
        chroot = self.chroot = os.path.join(p.dir, "empty")
        os.mkdir(chroot, 0o755)
        # The parent runs as the unit's User=: it reads its key file (the
        # packaged one is root's, its group's) and RuntimeDirectory= makes
        # its directories (the chroot
        # directory owned by the parent's uid, not root). What it reads
        # from the build (the executables, the CA file, the policy) is
        # copied where it can reach it: a package build's tree is root's only.
        bin_dir = os.path.join(p.dir, "bin")
        os.mkdir(bin_dir, 0o755)
        for exe in (p.bin, p.bin + "-worker"):
            shutil.copy2(exe, bin_dir)
        p.args[0] = os.path.join(bin_dir, os.path.basename(p.bin))
        ca_file = os.path.join(p.dir, "ca.pem")
        shutil.copy(p.args[p.args.index("--upstream-ca-file") + 1], ca_file)
        p.args[p.args.index("--upstream-ca-file") + 1] = ca_file
        policy = os.path.join(p.dir, "policy.toml")
        shutil.copy(os.path.join(os.path.dirname(SERVICE), "..", "policy.toml"), policy)
        os.chmod(policy, 0o644)  # as installed, whatever the checkout's umask was
        for path in (p.dir, key_file, chroot, ca_file, policy):
            os.chown(path, self.parent_user.pw_uid, self.parent_user.pw_gid)
        # The unit's own flags (ExecStart=), with the test's upstream and
        # server-info; the chroot directory stands in for RuntimeDirectory=.
        # The package's policy file and a state file: the per-user layer
        # (sock_diag, NSS group lookups, state saves) runs under the filter too.
        p.args += ["--key-file", key_file, "--worker-user", self.worker_user.pw_name,
                   "--chroot-dir", chroot, "--policy", policy,
                   "--state-file", os.path.join(p.dir, "usage.state"),
                   "--tokens-per-day-per-user", "1000000"]
        p.args = sandboxed(p.args, p.dir)
        p.start()

        # The parent runs under the unit's filter plus its own.
        self.assertEqual(seccomp_mode(p.proc.pid), "2")
        r = self.serve_ok(tries=1)
        # The key came from --key-file, as under the packaged unit.
        harness.check_forwarded(self, self.upstream.requests[-1], p, self.upstream)
        self.check_parent(p.proc.pid)
        self.check_key_once(key)

        # A killed worker is respawned (fork + execveat under both filters).
        before = self.workers()
        os.kill(before[0], signal.SIGKILL)
        self.workers(exclude=before[:1])
        self.serve_ok(tries=50)

        # SIGHUP: new workers, the old ones drain; still serving. The key
        # file is read again under both filters (key rotation, as
        # "systemctl reload" does): the new key goes upstream, the old one
        # is gone from memory.
        new_key = harness.fake_key()
        with open(key_file, "w") as f:
            f.write(new_key + "\n")
        current = self.workers()
        p.proc.send_signal(signal.SIGHUP)
        fresh = self.workers(exclude=current, timeout=15)
        self.assertTrue(fresh)
        self.serve_ok(tries=50)
        self.assertEqual(self.upstream.requests[-1].header("authorization"), "Bearer " + new_key)
        self.check_parent(p.proc.pid)
        self.check_key_once(new_key)
        old = key.encode()[len(b"sk-test-"):]
        for pid in [p.proc.pid] + children(p.proc.pid):
            self.assertEqual(scan_memory(pid, [old])[0][old], [], "old key in %d" % pid)
        self.assertIsNone(re.search(r"SIGSYS|SECURITY", p.stderr()), p.stderr())
        print("workers %r -> respawn -> %r after SIGHUP; %d: %s"
              % (before, fresh, r.status, r.body[:40]))


if __name__ == "__main__":
    harness.main()
