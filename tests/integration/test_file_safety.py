"""Files in places others can write, attacked by a real local user
(cpxtest1, local_users.py) on a shared box:

- the --listen-unix socket: a symbolic link swapped in between bind and the
  chown/chmod, in a directory the attacker can write, must not hand the
  socket's group and mode to a file of his choice: the proxy refuses such a
  directory (a sticky one, like /tmp, is fine: nobody else can rename or
  remove our socket there);
- --server-info and --state-file temporaries: names planted at the old,
  predictable temporary names (a file of the attacker's, or a link to a
  victim) are never opened, and the file put in place is the proxy's own;
- --policy (at start and on SIGHUP) and --state-file (at start): refused
  when anyone but root or the proxy's own user could change them, or a
  directory on their path."""

import ctypes
import json
import os
import pwd
import grp
import select
import shutil
import stat
import struct
import subprocess
import tempfile
import unittest

from harness import ProxyTestCase, main
from local_users import CallAs, call_as, ensure_test_users, request_as, uid_of
from proxy_process import ProxyStartError
from test_per_user import sighup_and_wait, wait_for

ATTACKER = "cpxtest1"
IN_CREATE = 0x100
STATE_HEADER = "codex-responses-api-proxy usage 1\nday none\n"

_libc = ctypes.CDLL(None, use_errno=True)


# --- what the attacker runs (in a child, as ATTACKER) ----------------------

def swap_socket_for_link(directory, name, victim, ready_fd):
    """Waits for the proxy's socket to appear in `directory`, then moves it
    away and puts a symbolic link to `victim` in its place: the proxy's
    next chown/chmod by name lands on the victim. Any other name created
    there ends the wait."""
    ifd = _libc.inotify_init1(os.O_CLOEXEC)
    if ifd < 0 or _libc.inotify_add_watch(ifd, directory.encode(), IN_CREATE) < 0:
        return {"swapped": False, "why": "inotify: errno %d" % ctypes.get_errno()}
    os.write(ready_fd, b"r")
    if not select.select([ifd], [], [], 30)[0]:
        return {"swapped": False, "why": "nothing created"}
    buf = os.read(ifd, 4096)
    _wd, _mask, _cookie, length = struct.unpack_from("iIII", buf)
    created = buf[16:16 + length].rstrip(b"\0").decode()
    if created != name:
        return {"swapped": False, "why": "no socket, %s instead" % created}
    sock = os.path.join(directory, name)
    try:
        os.rename(sock, sock + ".moved")
        os.symlink(victim, sock)
    except OSError as e:
        return {"swapped": False, "why": repr(e)}
    return {"swapped": True}


def plant(directory, names, link_to=None):
    """Files of the attacker's own (mode 0666) or links to `link_to`."""
    for n in names:
        p = os.path.join(directory, n)
        if link_to:
            os.symlink(link_to, p)
        else:
            os.close(os.open(p, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666))
            os.chmod(p, 0o666)
    return len(names)


def write_file(path, text):
    with open(path, "w") as f:
        f.write(text)
    return True


# --- the tests ---------------------------------------------------------------

class FileSafetyCase(ProxyTestCase):
    def setUp(self):
        super().setUp()
        ensure_test_users()
        self.tmp = tempfile.mkdtemp(prefix="file-safety-it-")
        os.chmod(self.tmp, 0o755)
        # Something only root may change: what the attacker aims at.
        private = os.path.join(self.tmp, "private")
        os.mkdir(private, 0o700)
        self.victim = os.path.join(private, "victim")
        with open(self.victim, "w") as f:
            f.write("precious\n")
        os.chmod(self.victim, 0o600)
        self.victim_before = self.victim_state()

    def tearDown(self):
        try:
            super().tearDown()
        finally:
            shutil.rmtree(self.tmp, ignore_errors=True)

    def victim_state(self):
        st = os.lstat(self.victim)
        with open(self.victim) as f:
            return (stat.S_IMODE(st.st_mode), st.st_uid, st.st_gid, f.read())

    def assert_victim_untouched(self):
        self.assertEqual(self.victim_state(), self.victim_before, "the victim file was changed")

    def directory(self, name, mode, owner=None):
        d = os.path.join(self.tmp, name)
        os.mkdir(d)
        os.chmod(d, mode)
        if owner:
            os.chown(d, uid_of(owner), -1)
        return d

    def refused_at_start(self, status, *args):
        """Starts the proxy, expects it to exit with `status` and one line."""
        self.start(extra_args=list(args), wait_info=False)
        self.assertEqual(self.proxy.wait_exit(10), status,
                         "not refused at start: " + self.proxy.stderr_tail())
        err = self.proxy.stderr().strip().splitlines()
        self.proxy.cleanup()
        self.proxy = None
        self.assertEqual(len(err), 1, err)
        return err[0]


class ListenUnixDirectory(FileSafetyCase):
    def attack(self, directory):
        """The proxy starts with --listen-unix in `directory` while the
        attacker waits there to swap its socket for a link to the victim.
        The attacker runs at a real-time priority on the proxy's CPU, so he
        runs the moment bind() creates the socket, before the proxy's next
        call (where the kernel lets root set that up; otherwise he races)."""
        cpu = min(os.sched_getaffinity(0))

        def realtime():
            os.sched_setaffinity(0, {cpu})
            try:
                os.sched_setscheduler(0, os.SCHED_FIFO, os.sched_param(1))
            except OSError:
                pass

        r, w = os.pipe()
        racer = CallAs(ATTACKER, swap_socket_for_link, directory, "proxy.sock", self.victim, w,
                       before_switch=realtime).start()
        os.close(w)
        self.assertTrue(select.select([r], [], [], 10)[0], "the attacker did not get ready")
        os.close(r)
        sock = os.path.join(directory, "proxy.sock")
        args = ["--listen-unix", sock, "--listen-unix-mode", "0666",
                "--listen-unix-group", "cpxtestgrp"]
        mine = os.sched_getaffinity(0)
        os.sched_setaffinity(0, {cpu})  # the proxy inherits it
        try:
            self.start(extra_args=args, wait_info=False)
        finally:
            os.sched_setaffinity(0, mine)
        try:
            self.proxy.wait_info()
            started = True
        except ProxyStartError:
            started = False
        # Whatever happened, the attacker stops waiting.
        write_file(os.path.join(directory, "wake"), "")
        outcome = racer.result()
        print("attacker: %r; proxy %s" % (outcome, "started" if started else
                                          "refused: " + self.proxy.stderr().strip()))
        return sock, started, outcome

    def check_refused(self, started, what):
        self.assertFalse(started, "the proxy started on a socket in a directory others can "
                         "change")
        self.assertEqual(self.proxy.returncode, 7)
        err = self.proxy.stderr().strip().splitlines()
        self.assertEqual(len(err), 1, err)
        self.assertIn("--listen-unix: ", err[0])
        self.assertIn(what, err[0])
        self.proxy.cleanup()
        self.proxy = None

    def test_world_writable_directory_refused(self):
        d = self.directory("shared", 0o777)
        _sock, started, _ = self.attack(d)
        self.assert_victim_untouched()
        self.check_refused(started, d + " on its path is a directory writable by everyone, "
                                    "not sticky (mode 0777)")

    def test_directory_of_another_user_refused(self):
        d = self.directory("his", 0o755, owner=ATTACKER)
        _sock, started, _ = self.attack(d)
        self.assert_victim_untouched()
        self.check_refused(started, "on its path is a directory owned by uid %d"
                           % uid_of(ATTACKER))

    def test_sticky_directory_is_safe(self):
        # Like /tmp: others may add names, not move ours.
        d = self.directory("sticky", 0o1777)
        sock, started, outcome = self.attack(d)
        self.assert_victim_untouched()
        self.assertTrue(started, self.proxy.stderr_tail())
        self.assertFalse(outcome.get("swapped"), outcome)
        st = os.lstat(sock)
        self.assertTrue(stat.S_ISSOCK(st.st_mode))
        self.assertEqual(stat.S_IMODE(st.st_mode), 0o666)
        self.assertEqual(st.st_gid, grp.getgrnam("cpxtestgrp").gr_gid)
        self.assertEqual(request_as("cpxtest2", sock).get("status"), 200)


class PredictableTemporaries(FileSafetyCase):
    """The old names: "<file>.tmp.<pid>" (server info), "<file>.tmp" (state)."""

    def next_pids(self, n):
        """The next n pids the kernel will hand out (in order, wrapping at
        pid_max to 300, as it does), from the pid of a child made now."""
        child = subprocess.Popen(["true"])
        child.wait()
        with open("/proc/sys/kernel/pid_max") as f:
            pid_max = int(f.read())
        out, pid = [], child.pid
        for _ in range(n):
            pid = pid + 1 if pid + 1 < pid_max else 300
            out.append(pid)
        return out

    def check_planted_untouched(self, directory, names, link=False):
        for n in names:
            st = os.lstat(os.path.join(directory, n))
            self.assertEqual(st.st_uid, uid_of(ATTACKER), n)
            if link:
                self.assertTrue(stat.S_ISLNK(st.st_mode), n)
            else:
                self.assertEqual((stat.S_IMODE(st.st_mode), st.st_size), (0o666, 0), n)

    def check_own_file(self, path, mode):
        st = os.lstat(path)
        self.assertTrue(stat.S_ISREG(st.st_mode), path)
        self.assertEqual(st.st_uid, os.geteuid(), "%s is not the proxy's own file" % path)
        self.assertEqual(stat.S_IMODE(st.st_mode), mode)

    def server_info_with(self, link_to):
        # In a sticky directory others can write, as /tmp/info.json is.
        d = self.directory("tmp", 0o1777)
        info = os.path.join(d, "info.json")
        pids = self.next_pids(2000)
        names = ["info.json.tmp.%d" % p for p in pids]
        self.assertEqual(call_as(ATTACKER, plant, d, names, link_to), len(names))
        self.start(server_info=False, extra_args=["--server-info", info], start=False)
        self.proxy.info_path = info
        self.proxy.start(wait_info=False)
        self.assertIn(self.proxy.proc.pid, pids, "the proxy's pid is not among those planted")
        try:
            self.proxy.wait_info()
        except ProxyStartError as e:
            self.fail("the planted temporary stopped the proxy: %s" % e)
        self.check_own_file(info, 0o644)
        self.assertEqual(json.loads(open(info).read())["pid"], self.proxy.proc.pid)
        self.check_planted_untouched(d, names, link=bool(link_to))
        self.assert_victim_untouched()
        self.assertEqual(sorted(set(os.listdir(d)) - set(names)), ["info.json"])

    def test_server_info_file_planted_at_the_old_name(self):
        self.server_info_with(None)

    def test_server_info_link_planted_at_the_old_name(self):
        self.server_info_with(self.victim)

    def state_file_with(self, link_to):
        d = self.directory("tmp", 0o1777)
        state = os.path.join(d, "usage.state")
        self.assertEqual(call_as(ATTACKER, plant, d, ["usage.state.tmp"], link_to), 1)
        self.start(extra_args=["--state-file", state], wait_info=False)
        try:
            self.proxy.wait_info()
        except ProxyStartError as e:
            self.fail("the planted temporary stopped the proxy: %s" % e)
        self.proxy.stop()  # saves again at exit
        self.check_own_file(state, 0o600)
        self.check_planted_untouched(d, ["usage.state.tmp"], link=bool(link_to))
        self.assert_victim_untouched()
        self.assertEqual(sorted(os.listdir(d)), ["usage.state", "usage.state.tmp"])

    def test_state_file_file_planted_at_the_old_name(self):
        self.state_file_with(None)

    def test_state_file_link_planted_at_the_old_name(self):
        self.state_file_with(self.victim)


class PolicyFileTrust(FileSafetyCase):
    def policy(self, text, mode=0o644, directory=None):
        path = os.path.join(directory or self.tmp, "policy.toml")
        write_file(path, text)
        os.chmod(path, mode)
        return path

    def test_group_or_world_writable_refused_at_start(self):
        for mode, what in ((0o664, "writable by its group (mode 0664)"),
                           (0o646, "writable by everyone (mode 0646)")):
            path = self.policy('[access]\nallow_users = ["cpxtest2"]\n', mode)
            line = self.refused_at_start(9, "--policy", path)
            self.assertEqual(line, "codex-responses-api-proxy: --policy: %s: %s; only root may "
                             "be able to change it" % (path, what))

    def test_owned_by_another_user_refused_at_start(self):
        path = self.policy('[access]\nallow_users = ["cpxtest1"]\n')
        os.chown(path, uid_of(ATTACKER), -1)
        line = self.refused_at_start(9, "--policy", path)
        self.assertIn("--policy: %s: owned by uid %d;" % (path, uid_of(ATTACKER)), line)

    def test_in_a_directory_others_can_write_refused_at_start(self):
        d = self.directory("shared", 0o777)
        path = self.policy('[access]\nallow_users = ["cpxtest1"]\n', directory=d)
        line = self.refused_at_start(9, "--policy", path)
        self.assertIn("--policy: %s: %s on its path is a directory writable by everyone, not "
                      "sticky (mode 0777)" % (path, d), line)

    def test_sighup_refuses_a_file_others_can_change_and_keeps_the_old_policy(self):
        path = self.policy('[access]\nallow_users = ["cpxtest2"]\n')
        self.start(extra_args=["--policy", path])
        self.assertEqual(request_as(ATTACKER, self.proxy.port).get("status"), 403)
        # A slip of the operator's: the file is left writable by everyone,
        # and the attacker lets himself in.
        os.chmod(path, 0o666)
        self.assertTrue(call_as(ATTACKER, write_file, path,
                                '[access]\nallow_users = ["cpxtest1", "cpxtest2"]\n'))
        self.assertTrue(sighup_and_wait(self.proxy))
        self.assertTrue(wait_for(lambda: "reload refused, old policy kept: --policy: %s: "
                                 "writable by everyone (mode 0666)" % path in self.proxy.stderr()),
                        self.proxy.stderr_tail())
        self.assertEqual(request_as(ATTACKER, self.proxy.port).get("status"), 403)
        self.assertEqual(request_as("cpxtest2", self.proxy.port).get("status"), 200)
        # Made his: refused too.
        os.chmod(path, 0o644)
        os.chown(path, uid_of(ATTACKER), -1)
        self.assertTrue(sighup_and_wait(self.proxy))
        self.assertTrue(wait_for(lambda: "--policy: %s: owned by uid %d;"
                                 % (path, uid_of(ATTACKER)) in self.proxy.stderr()),
                        self.proxy.stderr_tail())
        self.assertEqual(request_as(ATTACKER, self.proxy.port).get("status"), 403)
        # Root's again: read.
        os.chown(path, 0, -1)
        self.assertTrue(sighup_and_wait(self.proxy))
        self.assertTrue(wait_for(lambda: "policy reloaded" in self.proxy.stderr()))
        self.assertEqual(request_as(ATTACKER, self.proxy.port).get("status"), 200)


class StateFileTrust(FileSafetyCase):
    def state(self, mode=0o600, owner=None):
        path = os.path.join(self.tmp, "usage.state")
        write_file(path, STATE_HEADER + "uid %d requests 9 refused 0 tokens_in 9 tokens_out 9\n"
                   % uid_of(ATTACKER))
        os.chmod(path, mode)
        if owner:
            os.chown(path, uid_of(owner), -1)
        return path

    def check_untouched(self, path, mode):
        st = os.lstat(path)
        self.assertEqual(stat.S_IMODE(st.st_mode), mode)
        with open(path) as f:
            self.assertIn("requests 9", f.read())

    def test_group_writable_refused_at_start(self):
        path = self.state(0o660)
        line = self.refused_at_start(9, "--state-file", path)
        self.assertIn("--state-file: %s: writable by its group (mode 0660)" % path, line)
        self.check_untouched(path, 0o660)

    def test_owned_by_another_user_refused_at_start(self):
        # Say he reset his own count of the day.
        path = self.state(owner=ATTACKER)
        line = self.refused_at_start(9, "--state-file", path)
        self.assertIn("--state-file: %s: owned by uid %d;" % (path, uid_of(ATTACKER)), line)
        self.check_untouched(path, 0o600)

    def test_symbolic_link_refused_at_start(self):
        real = self.state()
        link = os.path.join(self.tmp, "link.state")
        os.symlink(real, link)
        line = self.refused_at_start(9, "--state-file", link)
        self.assertIn("--state-file: %s: a symbolic link" % link, line)

    def test_own_file_in_own_directory_accepted(self):
        path = self.state()
        self.start(extra_args=["--state-file", path])
        self.proxy.stop()
        self.assertEqual(self.proxy.returncode, 0, self.proxy.stderr_tail())


if __name__ == "__main__":
    main()
