"""What /proc says about a process's credentials: ids, capability sets,
no_new_privs, seccomp, dumpability. For tests that check the parent and the
workers as the kernel sees them rather than as the proxy reports them."""

import os

# linux/capability.h
CAP_KILL, CAP_SETGID, CAP_SETUID, CAP_SETPCAP, CAP_SYS_CHROOT = 5, 6, 7, 8, 18
PARENT_CAPS = {CAP_KILL, CAP_SETGID, CAP_SETUID, CAP_SETPCAP, CAP_SYS_CHROOT}
WORKER_SETUP_CAPS = PARENT_CAPS - {CAP_KILL}  # what a parent passes on as ambient


def mask(caps):
    return sum(1 << c for c in caps)


def status(pid):
    """{"Uid": [r, e, s, fs], "CapEff": int, "NoNewPrivs": "1", ...}"""
    out = {}
    with open("/proc/%d/status" % pid) as f:
        for line in f:
            key, _, value = line.partition(":")
            value = value.strip()
            if key in ("Uid", "Gid"):
                out[key] = [int(x) for x in value.split()]
            elif key == "Groups":
                out[key] = [int(x) for x in value.split()]
            elif key.startswith("Cap"):
                out[key] = int(value, 16)
            else:
                out[key] = value
    return out


def capability_sets(st):
    return {k: st[k] for k in ("CapInh", "CapPrm", "CapEff", "CapBnd", "CapAmb")}


def mem_owner(pid):
    """Owner of /proc/<pid>/mem: root for a non-dumpable process whatever its
    uid (the kernel's task_dump_owner), so only root can open it."""
    return os.stat("/proc/%d/mem" % pid).st_uid


def open_mem_as(uid, gid, pid):
    """Tries to open /proc/<pid>/mem as uid:gid in a child; returns the errno
    name it failed with, or "opened"."""
    r, w = os.pipe()
    child = os.fork()
    if child == 0:
        os.close(r)
        try:
            os.setgroups([])
            os.setresgid(gid, gid, gid)
            os.setresuid(uid, uid, uid)
            try:
                os.close(os.open("/proc/%d/mem" % pid, os.O_RDONLY))
                msg = b"opened"
            except OSError as e:
                msg = (os.strerror(e.errno) or "error").encode()
            os.write(w, msg)
        finally:
            os._exit(0)
    os.close(w)
    with os.fdopen(r, "rb") as f:
        msg = f.read().decode()
    os.waitpid(child, 0)
    return msg
