"""Real local users for the per-user tests: made with useradd (needs root),
and clients that run as them in a forked child (setgroups, setresgid,
setresuid), so the proxy sees real sockets owned by real, different uids;
CallAs runs any function that way (test_file_safety.py: a local attacker).

Users: cpxtest1, cpxtest2 (member of cpxtestgrp), cpxtest3. Created once per
machine and left in place (several test processes run at once)."""

import encodings.idna  # noqa: F401 - the child may not be able to import it after setuid
import fcntl
import grp
import json
import os
import pwd
import select
import signal
import socket
import subprocess
import time
import unittest

from client import build_request
from http_wire import BufferedSock, parse_head, read_chunked, header_one
from testenv import DEFAULT_TIMEOUT, LOOPBACK

USERS = ("cpxtest1", "cpxtest2", "cpxtest3")
GROUP = "cpxtestgrp"
GROUP_MEMBERS = ("cpxtest2",)


def ensure_test_users():
    """Skip the test unless root (useradd); returns {name: (uid, gid)}."""
    if os.geteuid() != 0:
        raise unittest.SkipTest("needs root to create test users and switch to them")
    with open("/tmp/cpxtest-users.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        try:
            grp.getgrnam(GROUP)
        except KeyError:
            subprocess.run(["groupadd", "--system", GROUP], check=True)
        for name in USERS:
            try:
                pwd.getpwnam(name)
            except KeyError:
                cmd = ["useradd", "--system", "--no-create-home", "--shell", "/usr/sbin/nologin"]
                if name in GROUP_MEMBERS:
                    cmd += ["--groups", GROUP]
                subprocess.run(cmd + [name], check=True)
    return {n: (pwd.getpwnam(n).pw_uid, pwd.getpwnam(n).pw_gid) for n in USERS}


def uid_of(name):
    return pwd.getpwnam(name).pw_uid


def _request_in_child(target, method, path, body, headers, timeout, linger):
    if isinstance(target, int):
        s = socket.create_connection((LOOPBACK, target), timeout=timeout)
        host = "127.0.0.1:%d" % target
    else:
        s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        s.settimeout(timeout)
        s.connect(target)
        host = "localhost"
    s.sendall(build_request(method, path, headers=list(headers), body=body, host=host))
    bs = BufferedSock(s)
    start, hdrs = parse_head(bs.read_until(b"\r\n\r\n"))
    status = int(start.split(" ")[1])
    te = (header_one(hdrs, "transfer-encoding") or "").lower()
    cl = header_one(hdrs, "content-length")
    if te == "chunked":
        data = read_chunked(bs)[0]
    elif cl is not None:
        data = bs.read_exact(int(cl))
    else:
        data = b""
    if linger:
        time.sleep(linger)
    s.close()
    return {"status": status, "headers": hdrs, "body": data.decode("utf-8", "replace")}


class AsUser:
    """One HTTP request made by a child running as `name`. start() forks;
    result() waits and returns {"status", "headers", "body"} or {"error"}.
    With `action`, the child runs action() instead and returns its result
    (anything json can write)."""

    def __init__(self, name, target, method="POST", path="/v1/responses", body=b"{}",
                 headers=(("Content-Type", "application/json"),), timeout=DEFAULT_TIMEOUT,
                 linger=0.0, action=None):
        self.name = name
        self.args = (target, method, path, body, headers, timeout, linger)
        self.action = action

    def start(self):
        if self.action:
            self.call = CallAs(self.name, self.action).start()
        else:
            self.call = CallAs(self.name, _request_in_child, *self.args).start()
        return self

    def result(self):
        return self.call.result(timeout=None)


def _become(name):
    pw = pwd.getpwnam(name) if name != "root" else pwd.getpwuid(0)
    os.setgroups(os.getgrouplist(pw.pw_name, pw.pw_gid))
    os.setresgid(pw.pw_gid, pw.pw_gid, pw.pw_gid)
    os.setresuid(pw.pw_uid, pw.pw_uid, pw.pw_uid)


class CallAs:
    """fn(*args) in a forked child that runs as `name`; result() waits and
    returns what fn returned (JSON-able), or {"error": ...}. before_switch()
    runs in the child first, still as root: what the user could not do
    himself (a scheduling policy, say) but keeps after the switch."""

    def __init__(self, name, fn, *args, before_switch=None):
        self.name, self.fn, self.args, self.before_switch = name, fn, args, before_switch
        self.pid = None
        self.rfd = None

    def start(self):
        r, w = os.pipe()
        pid = os.fork()
        if pid == 0:
            os.close(r)
            try:
                if self.before_switch:
                    self.before_switch()
                _become(self.name)
                out = self.fn(*self.args)
            except BaseException as e:  # noqa: BLE001 - reported to the parent
                out = {"error": repr(e)}
            os.write(w, json.dumps(out).encode())
            os._exit(0)
        os.close(w)
        self.pid, self.rfd = pid, r
        return self

    def result(self, timeout=DEFAULT_TIMEOUT * 3):
        chunks = []
        deadline = None if timeout is None else time.monotonic() + timeout
        while True:
            left = None if deadline is None else max(0.0, deadline - time.monotonic())
            if left is not None and not select.select([self.rfd], [], [], left)[0]:
                os.kill(self.pid, signal.SIGKILL)
                chunks = [b'{"error": "no result in time"}']
                break
            b = os.read(self.rfd, 65536)
            if not b:
                break
            chunks.append(b)
        os.close(self.rfd)
        os.waitpid(self.pid, 0)
        return json.loads(b"".join(chunks) or b'{"error": "no result"}')


def call_as(name, fn, *args, **kw):
    """fn(*args) as user `name` (see CallAs); its result."""
    return CallAs(name, fn, *args, **kw).start().result()


def _raw_exchange(port, data, timeout):
    """Send `data` as is, read until the proxy closes or the timeout; the
    status of the first answer (0: none) and everything read."""
    s = socket.create_connection((LOOPBACK, port), timeout=timeout)
    s.sendall(data.encode("latin-1"))
    got = b""
    try:
        while True:
            b = s.recv(65536)
            if not b:
                break
            got += b
            if b"\r\n\r\n" in got:
                head, _, rest = got.partition(b"\r\n\r\n")
                m = [l for l in head.split(b"\r\n") if l.lower().startswith(b"content-length:")]
                if m and len(rest) >= int(m[0].split(b":")[1]):
                    break
    except (socket.timeout, ConnectionResetError):
        pass
    s.close()
    status = int(got.split(b" ")[1]) if got.startswith(b"HTTP/1.") else 0
    return {"status": status, "raw": got.decode("latin-1")}


def raw_as(name, port, data, timeout=DEFAULT_TIMEOUT):
    """Raw request bytes sent by `name`: {"status", "raw"}."""
    return call_as(name, _raw_exchange, port, data.decode("latin-1") if isinstance(data, bytes)
                  else data, timeout)


def request_as(name, target, **kw):
    return AsUser(name, target, **kw).start().result()


def header(res, name):
    for k, v in res.get("headers", []):
        if k.lower() == name.lower():
            return v
    return None
