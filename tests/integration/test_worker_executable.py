"""The worker executable: the parent finds it next to itself (a build tree) or
in libexec, refuses one that is easier to replace than itself, and the worker
refuses to run unless a parent of its own version started it."""

import os
import shutil
import stat
import subprocess
import tempfile
import unittest

import harness
from harness import ProxyTestCase, codex_headers

WORKER_NAME = "codex-responses-api-proxy-worker"
# Where the parent looks when no worker sits next to it: the build's install
# prefix (CMake's PROXY_WORKER_PATH; /usr/local/libexec by default, /usr/libexec
# in the Debian package), which ctest passes in.
INSTALLED_WORKER = os.environ.get("PROXY_WORKER_PATH", "")


def worker_bin():
    path = os.path.join(os.path.dirname(harness.proxy_bin() or "/nonexistent"), WORKER_NAME)
    if not os.access(path, os.X_OK):
        raise unittest.SkipTest("no %s next to PROXY_BIN" % WORKER_NAME)
    return path


def run(argv, stdin=b"", timeout=10):
    r = subprocess.run(argv, input=stdin, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                       timeout=timeout)
    return r.returncode, r.stderr.decode("utf-8", "replace")


class WorkerExecutable(ProxyTestCase):

    def setUp(self):
        super().setUp()
        if not harness.proxy_bin():
            self.skipTest("PROXY_BIN not set")
        self.tmp = tempfile.mkdtemp(prefix="proxy-worker-exe-")
        os.chmod(self.tmp, 0o755)
        self.parent_copy = os.path.join(self.tmp, "codex-responses-api-proxy")
        shutil.copy2(harness.proxy_bin(), self.parent_copy)
        os.chmod(self.parent_copy, 0o755)

    def tearDown(self):
        shutil.rmtree(self.tmp, ignore_errors=True)
        super().tearDown()

    def place_worker(self, mode):
        path = os.path.join(self.tmp, WORKER_NAME)
        shutil.copy2(worker_bin(), path)
        os.chmod(path, mode)
        return path

    def start_copy(self):
        """The copied parent, with the usual test arguments and a fake key."""
        p = self.start(start=False)
        p.args[0] = self.parent_copy
        p.start(wait_info=False)
        return p

    def refused(self, why):
        p = self.start_copy()
        try:
            rc = p.proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            self.fail("the parent started with an unsafe worker executable")
        err = p.stderr()
        self.assertEqual(rc, 9, err)
        self.assertIn("worker executable " + os.path.join(self.tmp, WORKER_NAME), err)
        self.assertIn(why, err)
        self.assertNotIn(p.key, err)
        self.assertFalse(os.path.exists(p.info_path), "server info written before the refusal")
        self.check_refused_cleanly(p)

    def check_refused_cleanly(self, p):
        """The harness's own end-of-test checks, for a proxy that exits 9."""
        p.stop()
        p.check_clean(self, expect_status=9)
        p.cleanup()
        self.proxy = None

    def test_worker_next_to_the_parent_is_used(self):
        self.place_worker(0o755)
        p = self.start_copy()
        p.wait_info()
        c = self.client()
        r = c.post(codex_headers(), b'{"model":"gpt-5"}')
        self.assertEqual(r.status, 200, r)
        if os.geteuid() == 0:  # the worker is not dumpable: only root may look
            with open("/proc/%d/task/%d/children" % (p.proc.pid, p.proc.pid)) as f:
                (worker,) = [int(x) for x in f.read().split()]
            self.assertEqual(os.readlink("/proc/%d/exe" % worker),
                             os.path.join(self.tmp, WORKER_NAME))

    def test_world_writable_worker_is_refused(self):
        self.place_worker(0o777)
        self.refused("writable by others")

    def test_group_writable_worker_is_refused(self):
        self.place_worker(0o775)
        self.refused("group-writable, and our own executable is not")

    def test_worker_owned_by_someone_else_is_refused(self):
        if os.geteuid() != 0:
            self.skipTest("needs root to give the file away")
        os.chown(self.place_worker(0o755), 65534, 65534)
        self.refused("owned by uid 65534, neither root nor the owner of our own executable")

    def test_missing_worker_is_refused(self):
        if not INSTALLED_WORKER:
            self.skipTest("PROXY_WORKER_PATH not set (ctest sets it from the build)")
        if os.path.exists(INSTALLED_WORKER):
            self.skipTest("an installed worker at %s would be used" % INSTALLED_WORKER)
        p = self.start_copy()
        rc = p.proc.wait(timeout=15)
        err = p.stderr()
        self.assertEqual(rc, 9, err)
        self.assertIn("worker executable %s: No such file or directory" % INSTALLED_WORKER, err)
        self.check_refused_cleanly(p)


class WorkerByHand(unittest.TestCase):

    def test_worker_refuses_to_run_without_its_parent(self):
        rc, err = run([worker_bin()])
        self.assertEqual(rc, 64, err)
        self.assertEqual(err, WORKER_NAME + ": started by codex-responses-api-proxy only\n")

    def test_worker_of_another_version_refuses(self):
        rc, err = run([worker_bin(), "--worker-mode", "--worker-id=1", "--worker-version=0.0.1"])
        self.assertEqual(rc, 64, err)
        self.assertRegex(err, r"^%s: version \S+ does not match the parent's 0\.0\.1; "
                              r"reinstall the package\n$" % WORKER_NAME)

    def test_parent_refuses_worker_mode(self):
        rc, err = run([harness.proxy_bin(), "--worker-mode"])
        self.assertEqual(rc, 2, err)
        self.assertIn("--worker-mode is for the worker executable", err)


if __name__ == "__main__":
    unittest.main()
