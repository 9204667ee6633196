"""The proxy under test as a process: PROXY_BIN with a fake key on stdin,
started and stopped, its server-info and stderr checked."""

import json
import os
import re
import shlex
import shutil
import signal
import subprocess
import tempfile
import time
import unittest

from pki import shared_pki
from testenv import fake_key, proxy_bin

CRASH_PATTERNS = re.compile(
    r"SIGSYS|SIGSEGV|SIGABRT|SIGBUS|killed by signal|AddressSanitizer|LeakSanitizer|"
    r"runtime error:|core dumped|stack smashing", re.I)
# A worker killed by the parent for breaking the IPC protocol: a bug when
# only well-behaved clients and a real worker are involved. Tests that
# provoke such events on purpose set ProxyTestCase.allow_security_events.
SECURITY_EVENT = re.compile(r"SECURITY")
PROXY_VARIABLES = {"https_proxy", "all_proxy", "no_proxy", "http_proxy"}


def _die_with_parent():
    """preexec_fn: the proxy gets SIGKILL if the test process dies (for
    instance on the overall timeout), so no proxy outlives its test."""
    try:
        import ctypes
        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(1, int(signal.SIGKILL), 0, 0, 0)  # PR_SET_PDEATHSIG
    except Exception:  # noqa: BLE001
        pass


class ProxyStartError(AssertionError):
    pass


class Proxy:
    """Runs the proxy binary with a fake key.

    upstream_url defaults to the Upstream's URL; ca_file to the test CA.
    key_input (bytes) overrides what is written to stdin (default key + "\\n").
    env (dict) adds to or overrides the test's environment for the proxy.
    """

    def __init__(self, upstream=None, upstream_url=None, ca_file=None, extra_args=(),
                 key=None, key_input=None, server_info=True, pki=None, start=True,
                 wait_info=True, env=None):
        self.bin = proxy_bin()
        if not self.bin:
            raise unittest.SkipTest("PROXY_BIN not set or not executable")
        self.pki = pki or shared_pki()
        self.key = key or fake_key()
        self.key_input = key_input if key_input is not None else (self.key + "\n").encode()
        self.upstream = upstream
        self.upstream_url = upstream_url or (upstream.url if upstream else None)
        self.ca_file = ca_file or self.pki["ca"]
        self.dir = tempfile.mkdtemp(prefix="proxy-it-")
        self.info_path = os.path.join(self.dir, "info.json") if server_info else None
        self.stderr_path = os.path.join(self.dir, "stderr.log")
        self.stdout_path = os.path.join(self.dir, "stdout.log")
        self.args = [self.bin]
        if self.upstream_url:
            self.args += ["--upstream-url", self.upstream_url]
        if self.ca_file:
            self.args += ["--upstream-ca-file", self.ca_file]
        if self.info_path:
            self.args += ["--server-info", self.info_path]
        self.args += list(extra_args)
        self.args += shlex.split(os.environ.get("PROXY_TEST_EXTRA_ARGS", ""))
        # The proxy honours HTTPS_PROXY & co. (test_upstream_proxy.py): the
        # tests' own environment must not route the stand-in's traffic.
        inherited = {k: v for k, v in os.environ.items() if k.lower() not in PROXY_VARIABLES}
        self.env = dict(inherited, **(env or {}))
        self.proc = None
        self.port = None
        self.pid = None
        self.info_raw = None
        self.returncode = None
        self.killed = False
        if start:
            self.start(wait_info=wait_info)

    def __enter__(self):
        return self

    def __exit__(self, *a):
        self.stop()

    def start(self, wait_info=True):
        self._err = open(self.stderr_path, "wb")
        self._out = open(self.stdout_path, "wb")
        self.proc = subprocess.Popen(self.args, stdin=subprocess.PIPE, stdout=self._out,
                                     stderr=self._err, cwd=self.dir, env=self.env,
                                     preexec_fn=_die_with_parent)
        try:
            self.proc.stdin.write(self.key_input)
        except BrokenPipeError:
            pass
        try:
            self.proc.stdin.close()
        except BrokenPipeError:
            pass
        if wait_info and self.info_path:
            self.wait_info()

    def wait_info(self, timeout=10.0):
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if os.path.exists(self.info_path):
                with open(self.info_path, "rb") as f:
                    raw = f.read()
                if raw.endswith(b"\n"):
                    self.info_raw = raw
                    info = json.loads(raw)
                    self.port = info["port"]
                    self.pid = info.get("pid")
                    return info
            rc = self.proc.poll()
            if rc is not None:
                self.returncode = rc
                raise ProxyStartError("proxy exited with %s before writing server info; stderr:\n%s"
                                      % (rc, self.stderr_tail()))
            time.sleep(0.02)
        self.stop()
        raise ProxyStartError("proxy wrote no server info within %.0f s; stderr:\n%s"
                              % (timeout, self.stderr_tail()))

    def stderr(self):
        try:
            with open(self.stderr_path, "rb") as f:
                return f.read().decode("utf-8", "replace")
        except FileNotFoundError:
            return ""

    def stderr_tail(self, limit=3000):
        """stderr for failure messages: runs of identical lines collapsed, last
        `limit` characters only."""
        out = []
        prev, count = None, 0
        for line in self.stderr().splitlines() + [None]:
            if line == prev:
                count += 1
                continue
            if prev is not None:
                out.append(prev if count == 1 else "%s   [x%d]" % (prev, count))
            prev, count = line, 1
        text = "\n".join(out)
        return text if len(text) <= limit else "...\n" + text[-limit:]

    def stdout(self):
        try:
            with open(self.stdout_path, "rb") as f:
                return f.read().decode("utf-8", "replace")
        except FileNotFoundError:
            return ""

    def alive(self):
        return self.proc is not None and self.proc.poll() is None

    def wait_exit(self, timeout):
        try:
            self.returncode = self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            return None
        return self.returncode

    def stop(self, term_timeout=5.0):
        """SIGTERM, then SIGKILL after term_timeout. Returns the exit status."""
        if self.proc is None:
            return None
        if self.proc.poll() is None:
            try:
                self.proc.send_signal(signal.SIGTERM)
            except ProcessLookupError:
                pass
            try:
                self.proc.wait(term_timeout)
            except subprocess.TimeoutExpired:
                self.killed = True
                self.proc.kill()
                self.proc.wait(5)
        self.returncode = self.proc.returncode
        for f in (self._err, self._out):
            try:
                f.close()
            except Exception:  # noqa: BLE001
                pass
        return self.returncode

    def cleanup(self):
        shutil.rmtree(self.dir, ignore_errors=True)

    def check_secret_not_logged(self, tc):
        """The key (and its random part) must appear in neither stderr nor stdout."""
        secret = self.key[len("sk-test-"):] if self.key.startswith("sk-test-") else self.key
        for what, text in (("stderr", self.stderr()), ("stdout", self.stdout())):
            tc.assertNotIn(self.key, text, "API key leaked on proxy %s" % what)
            if len(secret) >= 12:
                tc.assertNotIn(secret[:12], text, "API key fragment leaked on proxy %s" % what)

    def check_clean(self, tc, expect_status=0, allow_security_events=False):
        """After stop(): exited by itself on SIGTERM with expect_status, no crash
        signs in the log, and no key in the log."""
        err = self.stderr_tail()
        tc.assertFalse(self.killed, "proxy ignored SIGTERM for 5 s and had to be killed; stderr:\n" + err)
        tc.assertIsNotNone(self.returncode)
        tc.assertGreaterEqual(self.returncode, 0, "proxy died of signal %s; stderr:\n%s"
                              % (-self.returncode if self.returncode else None, err))
        if expect_status is not None:
            tc.assertEqual(self.returncode, expect_status, "proxy exit status; stderr:\n" + err)
        m = CRASH_PATTERNS.search(self.stderr())
        tc.assertIsNone(m, "crash sign in proxy stderr: %r\n%s" % (m and m.group(0), err))
        if not allow_security_events:
            lines = [l for l in self.stderr().splitlines() if SECURITY_EVENT.search(l)]
            tc.assertEqual(lines, [], "security event logged by the proxy:\n%s" % err)
        self.check_secret_not_logged(tc)
