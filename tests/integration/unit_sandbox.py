"""Runs a program under the sandbox a systemd service unit would give it, as
far as a machine without systemd as PID 1 can reproduce it, then execs it:

    python3 unit_sandbox.py [--user NAME] UNIT_FILE WRITABLE_DIR -- PROGRAM ARGS...

From the unit's [Service] section, in the order systemd applies them:
  PrivateMounts=yes          a mount namespace of its own (private propagation)
  ProtectProc=, ProcSubset=  a fresh /proc mounted with hidepid=, subset=
  ProtectSystem=strict       / read-only (WRITABLE_DIR stays writable, standing
                             in for the unit's RuntimeDirectory=/ReadWritePaths=)
  LimitMEMLOCK=, LimitCORE=  rlimits
  UMask=                     umask
  CapabilityBoundingSet=     every other capability dropped from the bounding set
  User=, Group=              setgroups, setresgid, setresuid to that user (--user
                             NAME stands in for both where the unit's user does
                             not exist yet, before the package is installed)
  SupplementaryGroups=       the groups kept (none unless listed)
  AmbientCapabilities=       kept across the uid change, made inheritable and
                             ambient: after the exec, the program holds them
                             permitted, effective and ambient, as under systemd
  NoNewPrivileges=yes        PR_SET_NO_NEW_PRIVS
  RestrictAddressFamilies=   socket() of another family fails with EAFNOSUPPORT
  SystemCallFilter=          the allowlist, groups resolved by
                             "systemd-analyze syscall-filter" as systemd does;
                             any other call kills the process (SIGSYS)

Root only (namespaces, mounts, the bounding set). Linux x86-64 and the other
architectures libseccomp knows. Exit 77 with a reason when something needed
is missing, so a test can skip.
"""

import ctypes
import ctypes.util
import errno
import os
import re
import resource
import socket
import subprocess
import sys

MS_RDONLY = 0x1
MS_NOSUID = 0x2
MS_NODEV = 0x4
MS_NOEXEC = 0x8
MS_REMOUNT = 0x20
MS_BIND = 0x1000
MS_REC = 0x4000
MS_PRIVATE = 1 << 18
CLONE_NEWNS = 0x00020000
PR_SET_NO_NEW_PRIVS = 38
PR_CAPBSET_DROP = 24
PR_SET_KEEPCAPS = 8
PR_CAP_AMBIENT = 47
PR_CAP_AMBIENT_RAISE = 2
LINUX_CAPABILITY_VERSION_3 = 0x20080522
# Numbers from linux/capability.h, for the names a unit may name.
CAPABILITY_NUMBERS = {
    "CAP_CHOWN": 0, "CAP_DAC_OVERRIDE": 1, "CAP_DAC_READ_SEARCH": 2, "CAP_FOWNER": 3,
    "CAP_FSETID": 4, "CAP_KILL": 5, "CAP_SETGID": 6, "CAP_SETUID": 7, "CAP_SETPCAP": 8,
    "CAP_NET_BIND_SERVICE": 10, "CAP_NET_ADMIN": 12, "CAP_NET_RAW": 13, "CAP_IPC_LOCK": 14,
    "CAP_SYS_CHROOT": 18, "CAP_SYS_PTRACE": 19, "CAP_SYS_ADMIN": 21, "CAP_SYS_RESOURCE": 24}

SCMP_ACT_KILL_PROCESS = 0x80000000
SCMP_ACT_ALLOW = 0x7FFF0000
SCMP_CMP_EQ = 4
SCMP_CMP_GE = 5
AF_MAX = 46  # linux/socket.h, 5.x-6.x


def SCMP_ACT_ERRNO(e):
    return 0x00050000 | (e & 0xFFFF)


class ScmpArgCmp(ctypes.Structure):
    _fields_ = [("arg", ctypes.c_uint), ("op", ctypes.c_int),
                ("datum_a", ctypes.c_uint64), ("datum_b", ctypes.c_uint64)]


class CapHeader(ctypes.Structure):
    _fields_ = [("version", ctypes.c_uint32), ("pid", ctypes.c_int)]


class CapData(ctypes.Structure):
    _fields_ = [("effective", ctypes.c_uint32), ("permitted", ctypes.c_uint32),
                ("inheritable", ctypes.c_uint32)]


def capability_numbers(names):
    unknown = set(names) - set(CAPABILITY_NUMBERS)
    if unknown:
        raise SystemExit("unit_sandbox: capability numbers unknown here: %s" % sorted(unknown))
    return {CAPABILITY_NUMBERS[n] for n in names}


def switch_user(libc, check, user, group, supplementary, ambient):
    """What systemd does for User=, Group=, SupplementaryGroups= and
    AmbientCapabilities=: the ids changed with the capabilities kept, the
    ambient ones made inheritable and raised into the ambient set."""
    import grp
    import pwd
    pw = pwd.getpwnam(user)
    gid = grp.getgrnam(group).gr_gid if group else pw.pw_gid
    os.setgroups([grp.getgrnam(g).gr_gid for g in supplementary])
    os.setresgid(gid, gid, gid)
    check(libc.prctl(PR_SET_KEEPCAPS, 1, 0, 0, 0), "PR_SET_KEEPCAPS")
    os.setresuid(pw.pw_uid, pw.pw_uid, pw.pw_uid)
    header = CapHeader(LINUX_CAPABILITY_VERSION_3, 0)
    data = (CapData * 2)()
    check(libc.capget(ctypes.byref(header), data), "capget")
    mask = sum(1 << n for n in ambient)
    for i in range(2):
        data[i].inheritable = (mask >> (32 * i)) & 0xFFFFFFFF
    check(libc.capset(ctypes.byref(header), data), "capset")
    for n in sorted(ambient):
        check(libc.prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_RAISE, n, 0, 0),
              "PR_CAP_AMBIENT_RAISE %d" % n)
    check(libc.prctl(PR_SET_KEEPCAPS, 0, 0, 0, 0), "PR_SET_KEEPCAPS 0")


def skip(why):
    print("unit_sandbox: cannot reproduce the unit here: " + why, file=sys.stderr)
    sys.exit(77)


def service_settings(path):
    """[(key, value)] of the [Service] section, in file order."""
    out, section = [], None
    with open(path, encoding="utf-8") as f:
        for raw in f:
            line = raw.strip()
            if not line or line[0] in "#;":
                continue
            if line.startswith("["):
                section = line.strip("[]")
            elif section == "Service":
                key, _, value = line.partition("=")
                out.append((key.strip(), value.strip()))
    return out


def syscall_groups():
    """{"@group": [member, ...]} from systemd's own tables."""
    r = subprocess.run(["systemd-analyze", "syscall-filter", "--no-pager"],
                       stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, check=True)
    groups, current = {}, None
    for line in r.stdout.decode().splitlines():
        if line.startswith("@"):
            current = groups.setdefault(line.split()[0], [])
        elif current is not None and line.strip() and not line.strip().startswith("#"):
            current.append(line.split()[0])
    return groups


def expand(name, groups, seen=None):
    seen = set() if seen is None else seen
    if not name.startswith("@"):
        return {name}
    if name in seen:
        return set()
    seen.add(name)
    if name not in groups:
        raise SystemExit("unit_sandbox: unknown syscall group " + name)
    out = set()
    for member in groups[name]:
        out |= expand(member, groups, seen)
    return out


def resolve_filter(lines, groups):
    """systemd's semantics: the first line decides allow- or deny-list; then
    in an allow-list a plain entry adds and a ~ entry removes. An allow-list
    implicitly holds execve, exit, exit_group, getrlimit, rt_sigreturn,
    sigreturn and the calls that read clocks and sleep (systemd.exec(5))."""
    allowed, mode = None, None
    for value in lines:
        invert = value.startswith("~")
        names = value[1:].split() if invert else value.split()
        if mode is None:
            mode = "deny" if invert else "allow"
            allowed = set() if mode == "deny" else IMPLICIT
        calls = set()
        for n in names:
            calls |= expand(n, groups)
        if (mode == "allow") != invert:
            allowed |= calls
        else:
            allowed -= calls
    if mode == "deny":
        raise SystemExit("unit_sandbox: deny-list SystemCallFilter= not reproduced")
    return allowed


IMPLICIT = {"execve", "exit", "exit_group", "getrlimit", "rt_sigreturn", "sigreturn",
            "clock_gettime", "clock_getres", "gettimeofday", "time", "nanosleep",
            "clock_nanosleep"}


def size(text):
    m = re.fullmatch(r"(\d+)([KMG]?)", text)
    return int(m.group(1)) * {"": 1, "K": 1024, "M": 1024**2, "G": 1024**3}[m.group(2)]


def main():
    args = sys.argv[1:]
    user_override = None
    if args[:1] == ["--user"] and len(args) > 1:
        user_override, args = args[1], args[2:]
    if len(args) < 4 or args[2] != "--":
        raise SystemExit(__doc__)
    unit, writable, argv = args[0], args[1], args[3:]
    if os.geteuid() != 0:
        skip("needs root")
    with open("/proc/sys/kernel/cap_last_cap") as f:  # before ProcSubset= hides it
        last = int(f.read())
    settings = service_settings(unit)
    get = lambda key: [v for k, v in settings if k == key]  # noqa: E731
    libc = ctypes.CDLL(ctypes.util.find_library("c"), use_errno=True)
    seccomp_name = ctypes.util.find_library("seccomp")
    if not seccomp_name:
        skip("libseccomp not found")
    try:
        groups = syscall_groups()
    except (OSError, subprocess.CalledProcessError):
        skip("systemd-analyze syscall-filter unavailable")
    filter_lines = get("SystemCallFilter")
    allowed = resolve_filter(filter_lines, groups) if filter_lines else None

    def check(rc, what):
        if rc != 0:
            e = ctypes.get_errno()
            raise SystemExit("unit_sandbox: %s: %s" % (what, os.strerror(e)))

    if get("PrivateMounts") == ["yes"] or get("ProtectProc") or get("ProtectSystem"):
        check(libc.unshare(CLONE_NEWNS), "unshare(CLONE_NEWNS)")
        check(libc.mount(b"none", b"/", None, MS_REC | MS_PRIVATE, None), "private mounts")
    proc_opts = []
    if get("ProtectProc"):
        proc_opts.append("hidepid=" + get("ProtectProc")[-1])
    if get("ProcSubset"):
        proc_opts.append("subset=" + get("ProcSubset")[-1])
    if proc_opts:
        check(libc.mount(b"proc", b"/proc", b"proc", MS_NOSUID | MS_NODEV | MS_NOEXEC,
                         ",".join(proc_opts).encode()), "mount /proc " + ",".join(proc_opts))
    if get("ProtectSystem") == ["strict"]:
        w = os.path.realpath(writable).encode()
        check(libc.mount(w, w, None, MS_BIND, None), "bind " + writable)
        check(libc.mount(b"/", b"/", None, MS_BIND, None), "bind /")
        check(libc.mount(None, b"/", None, MS_REMOUNT | MS_BIND | MS_RDONLY, None), "/ read-only")
    for key, res in (("LimitMEMLOCK", resource.RLIMIT_MEMLOCK), ("LimitCORE", resource.RLIMIT_CORE)):
        if get(key):
            n = size(get(key)[-1])
            resource.setrlimit(res, (n, n))
    if get("UMask"):
        os.umask(int(get("UMask")[-1], 8))
    if get("CapabilityBoundingSet"):
        keep_nr = capability_numbers(" ".join(get("CapabilityBoundingSet")).split())
        for n in range(last + 1):
            if n not in keep_nr:
                check(libc.prctl(PR_CAPBSET_DROP, n, 0, 0, 0), "PR_CAPBSET_DROP %d" % n)
    if get("User"):
        user = user_override or get("User")[-1]
        group = user_override or (get("Group")[-1] if get("Group") else None)
        supplementary = " ".join(get("SupplementaryGroups")).split()
        ambient = capability_numbers(" ".join(get("AmbientCapabilities")).split())
        try:
            switch_user(libc, check, user, group, supplementary, ambient)
        except KeyError as e:
            raise SystemExit("unit_sandbox: no such user or group: %s" % e)
    if get("NoNewPrivileges") == ["yes"]:
        check(libc.prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0), "PR_SET_NO_NEW_PRIVS")

    scmp = ctypes.CDLL(seccomp_name, use_errno=True)
    scmp.seccomp_init.restype = ctypes.c_void_p
    scmp.seccomp_init.argtypes = [ctypes.c_uint32]
    scmp.seccomp_syscall_resolve_name.argtypes = [ctypes.c_char_p]
    scmp.seccomp_rule_add_array.argtypes = [ctypes.c_void_p, ctypes.c_uint32, ctypes.c_int,
                                            ctypes.c_uint, ctypes.POINTER(ScmpArgCmp)]
    scmp.seccomp_load.argtypes = [ctypes.c_void_p]
    filters = []
    if get("RestrictAddressFamilies"):
        families = [getattr(socket, f) if hasattr(socket, f) else {"AF_NETLINK": 16}[f]
                    for f in " ".join(get("RestrictAddressFamilies")).split()]
        ctx = scmp.seccomp_init(SCMP_ACT_ALLOW)
        nr = scmp.seccomp_syscall_resolve_name(b"socket")
        # One rule per refused family number (libseccomp takes one comparison
        # per argument and rule), and one for everything from AF_MAX up.
        rules = [(SCMP_CMP_EQ, f) for f in range(AF_MAX) if f not in families]
        for op, value in rules + [(SCMP_CMP_GE, AF_MAX)]:
            cond = (ScmpArgCmp * 1)(ScmpArgCmp(0, op, value, 0))
            if scmp.seccomp_rule_add_array(ctx, SCMP_ACT_ERRNO(errno.EAFNOSUPPORT), nr,
                                           1, cond) != 0:
                raise SystemExit("unit_sandbox: RestrictAddressFamilies= rule")
        filters.append(ctx)
    if allowed is not None:
        ctx = scmp.seccomp_init(SCMP_ACT_KILL_PROCESS)
        for name in sorted(allowed):
            nr = scmp.seccomp_syscall_resolve_name(name.encode())
            if nr < 0:
                continue  # another architecture's call (setuid32, ...)
            if scmp.seccomp_rule_add_array(ctx, SCMP_ACT_ALLOW, nr, 0, None) != 0:
                raise SystemExit("unit_sandbox: seccomp rule for " + name)
        filters.append(ctx)
    for ctx in filters:
        if scmp.seccomp_load(ctx) != 0:
            raise SystemExit("unit_sandbox: seccomp_load failed")
    os.execv(argv[0], argv)


if __name__ == "__main__":
    main()
