"""Real local users for the per-user tests: made with useradd (needs root),
and clients that run as them in a forked child (setgroups, setresgid,
setresuid), so the proxy sees real sockets owned by real, different uids.

Users: cpxtest1, cpxtest2 (member of cpxtestgrp), cpxtest3. Created once per
machine and left in place (several test processes run at once)."""

import encodings.idna  # noqa: F401 - the child may not be able to import it after setuid
import fcntl
import grp
import json
import os
import pwd
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
        self.pid = None
        self.rfd = None

    def start(self):
        pw = pwd.getpwnam(self.name) if self.name != "root" else pwd.getpwuid(0)
        groups = os.getgrouplist(pw.pw_name, pw.pw_gid)
        r, w = os.pipe()
        pid = os.fork()
        if pid == 0:
            os.close(r)
            try:
                os.setgroups(groups)
                os.setresgid(pw.pw_gid, pw.pw_gid, pw.pw_gid)
                os.setresuid(pw.pw_uid, pw.pw_uid, pw.pw_uid)
                out = self.action() if self.action else _request_in_child(*self.args)
            except BaseException as e:  # noqa: BLE001 - reported to the parent
                out = {"error": repr(e)}
            os.write(w, json.dumps(out).encode())
            os._exit(0)
        os.close(w)
        self.pid, self.rfd = pid, r
        return self

    def result(self):
        chunks = []
        while True:
            b = os.read(self.rfd, 65536)
            if not b:
                break
            chunks.append(b)
        os.close(self.rfd)
        os.waitpid(self.pid, 0)
        return json.loads(b"".join(chunks) or b'{"error": "no result"}')


def request_as(name, target, **kw):
    return AsUser(name, target, **kw).start().result()


def header(res, name):
    for k, v in res.get("headers", []):
        if k.lower() == name.lower():
            return v
    return None
