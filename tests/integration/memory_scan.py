"""Reading a process's memory for copies of a secret, as the key-scan tests
do: /proc/<pid>/maps and /proc/<pid>/mem (readable regions only), which needs
root, the proxy's processes being non-dumpable. Every copy found is reported
with its mapping and offset."""

import os

MAX_REGION = 1 << 30         # regions above 1 GiB (sanitizer shadow) are not read
CHUNK = 8 << 20


def is_root():
    return os.geteuid() == 0


def proxy_pids(parent):
    """The parent and its children (the workers)."""
    kids = set()
    try:
        for tid in os.listdir("/proc/%d/task" % parent):
            try:
                with open("/proc/%d/task/%s/children" % (parent, tid)) as f:
                    kids.update(int(x) for x in f.read().split())
            except OSError:
                pass
    except OSError:
        pass
    if not kids:
        for name in os.listdir("/proc"):
            if not name.isdigit():
                continue
            try:
                with open("/proc/%s/stat" % name, "rb") as f:
                    stat = f.read()
            except OSError:
                continue
            rest = stat[stat.rfind(b")") + 2:].split()
            if int(rest[1]) == parent:
                kids.add(int(name))
    return parent, sorted(kids)


def read_maps(pid):
    regions = []
    with open("/proc/%d/maps" % pid) as f:
        for line in f:
            parts = line.split(None, 5)
            lo, hi = (int(x, 16) for x in parts[0].split("-"))
            perms = parts[1]
            name = parts[5].strip() if len(parts) > 5 else ""
            regions.append((lo, hi, perms, name, line.rstrip("\n")))
    return regions


def scan_memory(pid, needles):
    """Find every occurrence of each needle (bytes) in the readable memory of
    pid. Returns ({needle: [(map line, offset in mapping, address)]},
    [skipped region descriptions])."""
    hits = {n: [] for n in needles}
    skipped = []
    longest = max(len(n) for n in needles)
    fd = os.open("/proc/%d/mem" % pid, os.O_RDONLY)
    try:
        for lo, hi, perms, name, line in read_maps(pid):
            if perms[0] != "r" or name in ("[vvar]", "[vvar_vclock]", "[vsyscall]"):
                continue
            if hi - lo > MAX_REGION:
                skipped.append("too large: " + line)
                continue
            addr = lo
            tail = b""
            while addr < hi:
                n = min(CHUNK, hi - addr)
                try:
                    data = os.pread(fd, n, addr)
                except OSError as e:
                    skipped.append("unreadable (%s): %s" % (e.strerror, line))
                    break
                if not data:
                    break
                buf = tail + data
                base = addr - len(tail)
                for needle in needles:
                    i = buf.find(needle)
                    while i >= 0:
                        # Do not count a hit twice across the chunk seam.
                        if i + len(needle) > len(tail):
                            hits[needle].append((line, base + i - lo, base + i))
                        i = buf.find(needle, i + 1)
                tail = buf[-(longest - 1):] if longest > 1 else b""
                addr += len(data)
    finally:
        os.close(fd)
    return hits, skipped


def describe_hits(pid, hits):
    out = []
    for line, off, addr in hits:
        out.append("    pid %d addr 0x%x (offset 0x%x in mapping) %s" % (pid, addr, off, line))
    return "\n".join(out)


def proc_file(pid, name):
    try:
        with open("/proc/%d/%s" % (pid, name), "rb") as f:
            return f.read()
    except OSError:
        return None


def secret_ranges(pid):
    """The mappings of pid that are locked and excluded from core dumps
    (VmFlags lo and dd in /proc/<pid>/smaps): the proxy's secret pages, the
    key's own and the staging page that holds a request head with the key for
    the length of one SSL_write. [(lo, hi)]."""
    out = []
    current = None
    with open("/proc/%d/smaps" % pid) as f:
        for line in f:
            first = line.split(None, 1)[0]
            if "-" in first and not first.endswith(":"):
                lo, hi = (int(x, 16) for x in first.split("-"))
                current = (lo, hi)
            elif first == "VmFlags:" and current is not None:
                flags = line.split()[1:]
                if "lo" in flags and "dd" in flags:
                    out.append(current)
    return out
