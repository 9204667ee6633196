#!/usr/bin/env python3
"""Memory of a process tree, read from /proc.

The C++ proxy is a parent with worker children, so a single pid's RSS says
little: we sum over the pid and all its descendants.  RSS counts shared pages
(the binary, libc) once per process; PSS splits them fairly and is printed too.

CLI: procmem.py PID  ->  {"pids": [...], "rss_kib": N, "pss_kib": N, "rss_kib_by_pid": {...}}
"""
import json
import os
import sys


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


def tree_mem(root):
    pids = tree_pids(root)
    by_pid = {p: _field_kib(f"/proc/{p}/status", "VmRSS") for p in pids}
    pss = sum(_field_kib(f"/proc/{p}/smaps_rollup", "Pss") for p in pids)
    return {"pids": pids, "rss_kib": sum(by_pid.values()), "pss_kib": pss,
            "rss_kib_by_pid": {str(p): v for p, v in by_pid.items()}}


if __name__ == "__main__":
    print(json.dumps(tree_mem(int(sys.argv[1]))))
