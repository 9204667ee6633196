#!/usr/bin/env python3
"""Memory of a process tree, read from /proc.

The C++ proxy is a parent with worker children, so a single pid's RSS says
little: we sum over the pid and all its descendants.  RSS counts shared pages
(the binary, libc) once per process; PSS splits them fairly and is printed too.

Summed RSS counts a page of libc that the parent and a worker share twice,
although there is one copy in RAM. union_kib counts every physical page mapped
by any process of the tree once (the tree's resident set taken as a set, read
from /proc/PID/pagemap). It needs root (the kernel hides page frame numbers
from others); without it union_kib is null.

anon_kib sums RssAnon: the processes' own data (heap, stacks, written
copies of library pages), what no other process shares and what reclaim
cannot drop without swap. The rest of RSS is file pages (code, tables) that
the page cache holds anyway.

CLI: procmem.py PID  ->  {"pids": [...], "rss_kib": N, "pss_kib": N, "union_kib": N|null,
                          "anon_kib": N, "rss_kib_by_pid": {...}}
"""
import json
import os
import struct
import sys

PAGE_KIB = os.sysconf("SC_PAGE_SIZE") // 1024
PRESENT = 1 << 63
PFN_MASK = (1 << 55) - 1


def _ppid_map():
    children = {}
    for name in os.listdir("/proc"):
        if not name.isdigit():
            continue
        try:
            with open(f"/proc/{name}/stat", "rb") as f:
                data = f.read().decode("latin-1")
        except OSError:
            continue
        # comm may contain spaces and parentheses: split after the last ')'.
        rest = data[data.rfind(")") + 2:].split()
        ppid = int(rest[1])
        children.setdefault(ppid, []).append(int(name))
    return children


def tree_pids(root):
    children = _ppid_map()
    out, todo = [], [root]
    while todo:
        pid = todo.pop()
        if not os.path.exists(f"/proc/{pid}"):
            continue
        out.append(pid)
        todo.extend(children.get(pid, []))
    return sorted(out)


def _field_kib(path, field):
    try:
        with open(path) as f:
            for line in f:
                if line.startswith(field + ":"):
                    return int(line.split()[1])
    except OSError:
        pass
    return 0


def _frames(pid):
    """Physical page frame numbers of pid's resident pages; None if hidden."""
    frames = set()
    page = PAGE_KIB * 1024
    with open(f"/proc/{pid}/maps") as maps, open(f"/proc/{pid}/pagemap", "rb") as pagemap:
        for line in maps:
            start, end = (int(x, 16) for x in line.split()[0].split("-"))
            if line.rstrip().endswith("[vsyscall]"):
                continue  # outside what pagemap can be read for
            pagemap.seek(start // page * 8)
            data = pagemap.read((end - start) // page * 8)
            for (entry,) in struct.iter_unpack("<Q", data):
                if entry & PRESENT:
                    frames.add(entry & PFN_MASK)
    if frames and not any(frames):
        return None  # present pages with frame 0: not root
    return frames


def union_kib(pids):
    frames = set()
    try:
        for p in pids:
            f = _frames(p)
            if f is None:
                return None
            frames |= f
    except OSError:
        return None
    return len(frames) * PAGE_KIB


def tree_mem(root):
    pids = tree_pids(root)
    by_pid = {p: _field_kib(f"/proc/{p}/status", "VmRSS") for p in pids}
    pss = sum(_field_kib(f"/proc/{p}/smaps_rollup", "Pss") for p in pids)
    return {"pids": pids, "rss_kib": sum(by_pid.values()), "pss_kib": pss,
            "union_kib": union_kib(pids),
            "anon_kib": sum(_field_kib(f"/proc/{p}/status", "RssAnon") for p in pids),
            "rss_kib_by_pid": {str(p): v for p, v in by_pid.items()}}


if __name__ == "__main__":
    print(json.dumps(tree_mem(int(sys.argv[1]))))
