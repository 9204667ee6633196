#!/usr/bin/env python3
"""--dump-dir under load: how late a concurrent stream's SSE events arrive
while a proxy writes a large dump.

For each target (a proxy started with --dump-dir in front of sse_upstream.py
--mode paced), in turn, --rounds times: one stream of --events events 20 ms
apart (lag per event, as bench/sse_lag.py measures it), and 0.5 s into it a
second request whose body is --dump-mib MiB of text that JSON must escape;
its dump is written when its response ends, while the first stream still
runs. Prints, per target, the first stream's lag p50 / p99 / max (ms) over
all rounds, and each round's max. Targets are measured back to back in every
round, so a busy spell of the machine hits them alike.
"""
import argparse
import json
import os
import socket
import sys
import threading
import time
from urllib.parse import urlsplit

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from sse_lag import percentile, run  # noqa: E402


def big_post(url, mib, timeout):
    u = urlsplit(url)
    # Quotes, backslashes and control bytes: every one is escaped in the dump.
    body = (b'\x01"\\x' * (mib * 1024 * 256))[: mib << 20]
    head = (f"POST {u.path} HTTP/1.1\r\nHost: {u.hostname}:{u.port}\r\n"
            f"Content-Type: text/plain\r\nContent-Length: {len(body)}\r\n"
            f"Connection: close\r\n\r\n").encode()
    s = socket.create_connection((u.hostname, u.port), timeout=timeout)
    s.sendall(head + body)
    while s.recv(65536):
        pass
    s.close()


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--target", action="append", required=True, metavar="NAME=URL")
    p.add_argument("--events", type=int, default=300)
    p.add_argument("--dump-mib", type=int, default=32)
    p.add_argument("--rounds", type=int, default=3)
    p.add_argument("--timeout", type=float, default=120.0)
    a = p.parse_args()
    targets = [t.split("=", 1) for t in a.target]
    lags = {name: [] for name, _ in targets}
    round_max = {name: [] for name, _ in targets}
    for _ in range(a.rounds):
        for name, url in targets:
            t = threading.Thread(target=lambda: (time.sleep(0.5), big_post(url, a.dump_mib, a.timeout)))
            t.start()
            got = run(url, None, a.events, 20.0, a.timeout)
            t.join()
            lags[name] += got
            round_max[name].append(round(max(got) / 1000.0, 2))
            time.sleep(1.0)
    out = {}
    for name, _ in targets:
        v = lags[name]
        out[name] = {"events": len(v), "lag_p50_ms": round(percentile(v, 50) / 1000.0, 2),
                     "lag_p99_ms": round(percentile(v, 99) / 1000.0, 2),
                     "lag_max_ms": round(max(v) / 1000.0, 2), "round_max_ms": round_max[name]}
    print(json.dumps(out, indent=1))


if __name__ == "__main__":
    main()
