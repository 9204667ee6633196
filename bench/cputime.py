#!/usr/bin/env python3
"""CPU time of process trees, from /proc/PID/stat.

CLI: cputime.py PID [PID ...]  ->  one line: the ticks of each tree, in order.
A tree's ticks = utime + stime (fields 14 and 15 of /proc/PID/stat, in clock
ticks, sysconf(_SC_CLK_TCK) a second; for a process they cover all its
threads) summed over PID and all its descendants (procmem.tree_pids). The
harness reads them just before and just after a wrk run and divides the
difference by the requests wrk completed: CPU time per request, steadier on a
shared machine than requests/s (time spent waiting for a core is not counted).
The proxies' processes live as long as the run, so no CPU time is lost with a
process that exits in between (its children's times would go to cutime).
"""
import os
import sys

import procmem

CLK_TCK = os.sysconf("SC_CLK_TCK")


def ticks(pid):
    try:
        with open(f"/proc/{pid}/stat", "rb") as f:
            data = f.read().decode("latin-1")
    except OSError:
        return 0
    # comm may hold spaces and parentheses: fields after the last ')' start at field 3
    rest = data[data.rfind(")") + 2:].split()
    return int(rest[11]) + int(rest[12])  # utime, stime


def tree_ticks(root):
    return sum(ticks(p) for p in procmem.tree_pids(root))


if __name__ == "__main__":
    print(*(tree_ticks(int(a)) for a in sys.argv[1:]))
