"""The sandbox as the kernel reports it (/proc/<pid>/status, /proc/<pid>/root).

Started as root: every worker runs under seccomp filter mode (Seccomp: 2)
with no_new_privs, no capabilities at all (effective, permitted, bounding,
inheritable, ambient), as an unprivileged user and group with no
supplementary groups, chrooted (its root is not "/"); the parent is under
its own seccomp filter with no_new_privs.

Started as user nobody: it still serves, parent and workers are still
under seccomp with no_new_privs, and the log says once what could not be
done (chroot, user switch).

Needs root (to start as root, and to become nobody): otherwise exit 77.
"""

import os
import re
import shutil
import socket
import sys
import tempfile
import threading
import time

import harness
from harness import ProxyTestCase, codex_headers
from memory_scan import proxy_pids

NOBODY = 65534
ZERO_CAPS = "0000000000000000"


def status(pid):
    out = {}
    with open("/proc/%d/status" % pid) as f:
        for line in f:
            k, _, v = line.partition(":")
            out[k] = v.strip("\n").lstrip("\t")
    return out


def children(parent):
    return proxy_pids(parent)[1]


def sandboxed(st):
    return st.get("Seccomp") == "2" and st.get("NoNewPrivs") == "1"


class SandboxStatus(ProxyTestCase):

    def wait_workers(self, parent, n, timeout=10.0):
        """n children of parent, each already under seccomp (workers apply
        their sandbox right after exec, so give them a moment)."""
        deadline = time.monotonic() + timeout
        kids = []
        while time.monotonic() < deadline:
            kids = children(parent)
            try:
                if len(kids) == n and all(sandboxed(status(k)) for k in kids):
                    return kids
            except OSError:
                pass
            time.sleep(0.05)
        self.fail("wanted %d sandboxed workers under pid %d, have %r: %r"
                  % (n, parent, kids, [status(k) for k in kids if os.path.exists("/proc/%d" % k)]))

    def serve_one(self, port):
        c = harness.Client(port)
        try:
            r = c.post(codex_headers(), b'{"model":"gpt-5"}')
        finally:
            c.close()
        # The proxy's log with it: test_unprivileged_start has failed here
        # now and then (a 502), and the log is what tells why.
        up = self.upstream
        self.assertEqual(r.status, 200, "%r\nproxy stderr:\n%s\nstand-in: %d connections, "
                         "TLS errors %r, read errors %r, handler errors %r"
                         % (r, self.proxy.stderr_tail() if self.proxy else "",
                            up.connections if up else -1, up.tls_errors if up else None,
                            up.read_errors if up else None, up.errors if up else None))
        self.assertEqual(r.json()["received_bytes"], len(b'{"model":"gpt-5"}'))

    def check_worker_common(self, pid, st):
        self.assertEqual(st["Seccomp"], "2", "worker %d Seccomp" % pid)
        self.assertEqual(st["NoNewPrivs"], "1", "worker %d NoNewPrivs" % pid)
        if "Seccomp_filters" in st:
            self.assertGreaterEqual(int(st["Seccomp_filters"]), 1)

    def test_root_start_workers_confined(self):
        if os.geteuid() != 0:
            self.skipTest("needs root")
        p = self.start(extra_args=["--workers", "2"])
        self.serve_one(p.port)
        parent = p.proc.pid
        for pid in self.wait_workers(parent, 2):
            st = status(pid)
            with self.subTest(worker=pid):
                self.check_worker_common(pid, st)
                for cap in ("CapEff", "CapPrm", "CapBnd", "CapInh", "CapAmb"):
                    self.assertEqual(st[cap], ZERO_CAPS, "worker %d %s" % (pid, cap))
                uids = st["Uid"].split()
                gids = st["Gid"].split()
                self.assertEqual(len(uids), 4)
                self.assertTrue(all(u != "0" for u in uids), "worker %d Uid %r" % (pid, uids))
                self.assertTrue(all(g != "0" for g in gids), "worker %d Gid %r" % (pid, gids))
                self.assertEqual(st["Groups"].split(), [], "worker %d supplementary groups" % pid)
                root = os.readlink("/proc/%d/root" % pid)
                self.assertNotEqual(root, "/", "worker %d is not chrooted" % pid)
                # The chroot is empty.
                self.assertEqual(os.listdir("/proc/%d/root/" % pid), [],
                                 "worker %d chroot %s is not empty" % (pid, root))
        st = status(parent)
        self.assertEqual(st["Seccomp"], "2", "parent Seccomp")
        self.assertEqual(st["NoNewPrivs"], "1", "parent NoNewPrivs")
        self.assertEqual(st["CapInh"], ZERO_CAPS, "parent CapInh")
        self.assertEqual(st["CapAmb"], ZERO_CAPS, "parent CapAmb")
        # The parent keeps few capabilities, never CAP_SYS_ADMIN (21),
        # CAP_SYS_PTRACE (19), CAP_DAC_OVERRIDE (1), CAP_NET_ADMIN (12).
        eff = int(st["CapEff"], 16)
        for bit, name in ((21, "CAP_SYS_ADMIN"), (19, "CAP_SYS_PTRACE"), (1, "CAP_DAC_OVERRIDE"),
                          (12, "CAP_NET_ADMIN"), (16, "CAP_SYS_MODULE")):
            self.assertFalse(eff & (1 << bit), "parent keeps %s effective: CapEff %s" % (name, st["CapEff"]))
        print("parent CapEff %s CapPrm %s CapBnd %s" % (st["CapEff"], st["CapPrm"], st["CapBnd"]))
        self.serve_one(p.port)

    def test_worker_maps_no_tls_library(self):
        """The worker is its own executable without OpenSSL: the process that
        parses client HTTP has no TLS or key-handling code mapped at all."""
        p = self.start()
        self.serve_one(p.port)
        parent = p.proc.pid
        (worker,) = self.wait_workers(parent, 1)

        def mapped(pid):
            try:
                with open("/proc/%d/maps" % pid) as f:
                    return {line.split()[-1] for line in f if "/" in line}
            except PermissionError:
                self.skipTest("cannot read the maps of a non-dumpable process (not root)")

        def tls_libraries(paths):
            return sorted(x for x in paths if re.search(r"/lib(ssl|crypto)\.so", x))

        self.assertTrue(tls_libraries(mapped(parent)), "the check reads the parent's maps wrong")
        self.assertEqual(tls_libraries(mapped(worker)), [], "worker %d maps OpenSSL" % worker)
        self.assertTrue(any(x.endswith("/codex-responses-api-proxy-worker") for x in mapped(worker)))

    def test_idle_heap_trim_runs_under_both_filters(self):
        """Once nothing is in flight, parent and worker give freed heap back
        (malloc_trim: brk and madvise under their seccomp filters) and serve
        on; the log says so when --verbose."""
        p = self.start(extra_args=["--verbose"])
        self.serve_one(p.port)
        deadline = time.monotonic() + 10
        said = {}
        while time.monotonic() < deadline and len(said) < 2:
            for line in p.stderr().splitlines():
                m = re.search(r"\] (parent|worker \d+): debug: idle: ", line)
                if m:
                    said[m.group(1).split()[0]] = line
            time.sleep(0.1)
        self.assertEqual(sorted(said), ["parent", "worker"],
                         "no idle trim logged by both processes:\n%s" % p.stderr_tail())
        self.serve_one(p.port)  # still alive and serving after the trim

    def test_idle_from_the_start_unmaps_library_pages(self):
        """Idle from the start, with no request at all, each process unmaps
        its clean library pages (smaps opened before the sandbox, read with
        pread64, released with madvise under the filters), and serves on,
        mapping back what a request needs, chrooted and filtered."""
        p = self.start(extra_args=["--verbose"])
        deadline = time.monotonic() + 10
        released = {}
        while time.monotonic() < deadline and len(released) < 2:
            for m in re.finditer(r"\] (parent|worker \d+): debug: idle: .*?; (\d+) KiB of "
                                 r"read-only file mappings unmapped", p.stderr()):
                released[m.group(1).split()[0]] = int(m.group(2))
            time.sleep(0.1)
        self.assertEqual(sorted(released), ["parent", "worker"],
                         "no idle release logged by both processes:\n%s" % p.stderr_tail())
        # Start-up alone maps megabytes of libraries: something must go.
        self.assertGreater(released["parent"], 1024, p.stderr_tail())
        self.assertGreater(released["worker"], 1024, p.stderr_tail())
        self.serve_one(p.port)
        self.serve_one(p.port)

    def test_idle_trim_again_when_the_pool_empties(self):
        """The upstream closes the kept-alive connection later: the freed TLS
        state is given back too (a second trim in the parent)."""
        def handler(req, conn):
            harness.default_handler(req, conn)
            # shutdown, not close: the stand-in's thread is blocked on it
            threading.Timer(3.0, conn.sock.shutdown, (socket.SHUT_RDWR,)).start()
        p = self.start(handler=handler, extra_args=["--verbose"])
        self.serve_one(p.port)
        deadline = time.monotonic() + 15
        trims = []
        while time.monotonic() < deadline and len(trims) < 2:
            trims = re.findall(r"\] parent: debug: idle: ", p.stderr())
            time.sleep(0.2)
        self.assertEqual(len(trims), 2, "want a trim after the stream and one after the pool "
                         "emptied:\n%s" % p.stderr_tail())

    def test_unprivileged_start(self):
        if os.geteuid() != 0:
            self.skipTest("needs root to become nobody")
        if not shutil.which("setpriv"):
            self.skipTest("setpriv (util-linux) not installed")
        bindir = harness.proxy_bin()
        # Can nobody even run the binary? (every directory on the way must be searchable)
        probe = os.system("setpriv --reuid=%d --regid=%d --clear-groups test -x %s"
                          % (NOBODY, NOBODY, bindir))
        if probe != 0:
            self.skipTest("user nobody cannot execute %s" % bindir)
        home = tempfile.mkdtemp(prefix="proxy-it-nobody-")
        try:
            os.chmod(home, 0o755)
            os.chown(home, NOBODY, NOBODY)
            ca = os.path.join(home, "ca.pem")
            shutil.copy(harness.shared_pki()["ca"], ca)
            os.chmod(ca, 0o644)
            info = os.path.join(home, "info.json")
            self.upstream = harness.Upstream()
            p = harness.Proxy(upstream=self.upstream, ca_file=ca, start=False,
                              extra_args=["--workers", "2"])
            self.proxy = p
            i = p.args.index("--server-info")
            p.args[i + 1] = info
            p.info_path = info
            p.args = ["setpriv", "--reuid=%d" % NOBODY, "--regid=%d" % NOBODY, "--clear-groups",
                      "--inh-caps=-all"] + p.args
            os.chmod(p.dir, 0o755)  # its cwd
            p.start()
            self.serve_one(p.port)
            parent = p.proc.pid
            st = status(parent)
            self.assertEqual(st["Uid"].split(), [str(NOBODY)] * 4)
            self.assertEqual(st["Seccomp"], "2", "parent Seccomp")
            self.assertEqual(st["NoNewPrivs"], "1", "parent NoNewPrivs")
            for pid in self.wait_workers(parent, 2):
                wst = status(pid)
                self.check_worker_common(pid, wst)
                self.assertEqual(wst["Uid"].split(), [str(NOBODY)] * 4)
                self.assertEqual(wst["CapEff"], ZERO_CAPS)
                self.assertEqual(wst["CapPrm"], ZERO_CAPS)
            self.serve_one(p.port)
            time.sleep(0.3)
            err = p.stderr()
            said = [l for l in err.splitlines() if re.search(r"chroot", l, re.I)]
            self.assertEqual(len(said), 1,
                             "the proxy should say once what it could not do (chroot, user "
                             "switch); lines mentioning chroot:\n%s\nwhole stderr:\n%s"
                             % ("\n".join(said) or "(none)", err))
            self.assertRegex(said[0], r"(?i)user")
        finally:
            if self.proxy is not None:
                self.proxy.stop()
            shutil.rmtree(home, ignore_errors=True)


if __name__ == "__main__":
    if harness.proxy_bin() and os.geteuid() != 0:
        print("not root: the sandbox checks need a proxy started as root (and becoming nobody)")
        print("0 passed, 0 failed, 2 skipped")
        sys.exit(77)
    harness.main()
