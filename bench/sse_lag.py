#!/usr/bin/env python3
"""SSE lag: how late each event arrives, measured against the upstream's send time.

Connects to URL (http:// through a proxy, or https:// straight to
sse_upstream.py with --cafile), POSTs a streaming request and, for every event
carrying "t_send" (CLOCK_MONOTONIC ns, same machine, same clock), records
lag = receive time - send time.  The receive time is taken as soon as recv()
returns the bytes that complete the event.

Targets (direct and each proxy) are measured in turn, --rounds times, so that
a busy spell of the machine hits all of them alike.  Prints one JSON object
keyed by target name: events, lag_p50_us, lag_p99_us, lag_max_us, lag_mean_us
over the samples of all rounds pooled, and round_p99_us (one per round).  For
every target but "direct": added_p50_us / added_p99_us = its pooled percentile
minus direct's, and added_p99_paired_us = the median over rounds of (its p99
in round i - direct's p99 in round i).  Round i of every target is measured
back to back, so the paired figure compares like with like when the machine
has slow spells (seen here: wakeups late by a 4 ms tick for seconds at a
time, for direct and proxies alike); the pooled p99 counts such spells.
"""
import argparse
import json
import socket
import ssl
import statistics
import sys
import time
from urllib.parse import urlsplit


def percentile(values, pct):
    if not values:
        return None
    s = sorted(values)
    k = max(0, min(len(s) - 1, int(round(pct / 100.0 * len(s) + 0.5)) - 1))
    return s[k]


class Dechunker:
    """Incremental HTTP/1.1 body decoder (chunked, content-length or close)."""

    def __init__(self, headers):
        self.chunked = "chunked" in headers.get("transfer-encoding", "").lower()
        cl = headers.get("content-length")
        self.remaining = int(cl) if (cl is not None and not self.chunked) else None
        self.buf = b""
        self.chunk_left = 0
        self.done = False

    def feed(self, data):
        if not self.chunked:
            if self.remaining is not None:
                data = data[: self.remaining]
                self.remaining -= len(data)
                self.done = self.remaining <= 0
            return data
        self.buf += data
        out = bytearray()
        while True:
            if self.chunk_left > 0:
                take = self.buf[: self.chunk_left]
                out += take
                self.buf = self.buf[len(take):]
                self.chunk_left -= len(take)
                if self.chunk_left > 0:
                    break
                continue
            if self.chunk_left == 0 and self.buf.startswith(b"\r\n"):
                self.buf = self.buf[2:]
            i = self.buf.find(b"\r\n")
            if i < 0:
                break
            line = self.buf[:i]
            if not line:
                self.buf = self.buf[2:]
                continue
            size = int(line.split(b";")[0], 16)
            self.buf = self.buf[i + 2:]
            if size == 0:
                self.done = True
                break
            self.chunk_left = size
        return bytes(out)


def run(url, cafile, events, interval_ms, timeout):
    u = urlsplit(url)
    port = u.port or (443 if u.scheme == "https" else 80)
    sock = socket.create_connection((u.hostname, port), timeout=timeout)
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    if u.scheme == "https":
        ctx = ssl.create_default_context(cafile=cafile)
        sock = ctx.wrap_socket(sock, server_hostname=u.hostname)
    body = json.dumps({"model": "bench", "stream": True, "input": "hello",
                       "bench_events": events, "bench_interval_ms": interval_ms}).encode()
    req = (f"POST {u.path or '/'} HTTP/1.1\r\nHost: {u.hostname}:{port}\r\n"
           f"Content-Type: application/json\r\nAccept: text/event-stream\r\n"
           f"Content-Length: {len(body)}\r\nConnection: close\r\n\r\n").encode() + body
    sock.sendall(req)

    buf = b""
    while b"\r\n\r\n" not in buf:
        d = sock.recv(65536)
        if not d:
            raise RuntimeError(f"connection closed before response head: {buf[:200]!r}")
        buf += d
    head, rest = buf.split(b"\r\n\r\n", 1)
    lines = head.decode("latin-1").split("\r\n")
    status = int(lines[0].split()[1])
    headers = {}
    for line in lines[1:]:
        k, _, v = line.partition(":")
        headers[k.strip().lower()] = v.strip()
    if status != 200:
        raise RuntimeError(f"status {status}: {rest[:300]!r}")
    dec = Dechunker(headers)
    text = b""
    lags = []
    pending = rest
    while True:
        now = time.monotonic_ns()
        text += dec.feed(pending)
        while b"\n\n" in text:
            ev, text = text.split(b"\n\n", 1)
            for line in ev.split(b"\n"):
                if line.startswith(b"data:"):
                    try:
                        obj = json.loads(line[5:])
                    except ValueError:
                        continue
                    if isinstance(obj, dict) and "t_send" in obj:
                        lags.append((now - obj["t_send"]) / 1000.0)
        if dec.done:
            break
        pending = sock.recv(65536)
        if not pending:
            break
    sock.close()
    return lags


def stats(lags, expected):
    out = {"events": len(lags), "expected": expected}
    if lags:
        out.update(lag_p50_us=round(percentile(lags, 50), 1),
                   lag_p99_us=round(percentile(lags, 99), 1),
                   lag_max_us=round(max(lags), 1),
                   lag_mean_us=round(statistics.mean(lags), 1))
    return out


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--target", action="append", required=True, metavar="NAME=URL",
                   help="repeatable; the one named 'direct' is the baseline for added lag")
    p.add_argument("--cafile")
    p.add_argument("--events", type=int, default=200)
    p.add_argument("--interval-ms", type=float, default=20.0)
    p.add_argument("--rounds", type=int, default=3, help="targets are measured in turn, this many times")
    p.add_argument("--timeout", type=float, default=60.0)
    p.add_argument("--warmup", type=int, default=5, help="events in a first, unmeasured request")
    a = p.parse_args()
    targets = [t.split("=", 1) for t in a.target]
    lags = {name: [] for name, _ in targets}
    round_p99 = {name: [] for name, _ in targets}
    errors = {}
    for name, url in targets:
        try:
            if a.warmup:
                run(url, a.cafile, a.warmup, 1.0, a.timeout)
        except Exception as e:
            errors[name] = f"{type(e).__name__}: {e}"
    for _ in range(a.rounds):
        for name, url in targets:
            if name in errors:
                continue
            try:
                got = run(url, a.cafile, a.events, a.interval_ms, a.timeout)
                lags[name] += got
                round_p99[name].append(percentile(got, 99))
            except Exception as e:  # report, don't crash the harness
                errors[name] = f"{type(e).__name__}: {e}"
    out = {}
    for name, _ in targets:
        out[name] = stats(lags[name], a.events * a.rounds)
        out[name]["round_p99_us"] = [None if v is None else round(v, 1) for v in round_p99[name]]
        if name in errors:
            out[name]["error"] = errors[name]
    d = out.get("direct", {})
    for name, st in out.items():
        if name != "direct" and "lag_p50_us" in st and "lag_p50_us" in d:
            st["added_p50_us"] = round(st["lag_p50_us"] - d["lag_p50_us"], 1)
            st["added_p99_us"] = round(st["lag_p99_us"] - d["lag_p99_us"], 1)
            pairs = [o - r for o, r in zip(round_p99[name], round_p99["direct"])
                     if o is not None and r is not None]
            if pairs:
                st["added_p99_paired_us"] = round(statistics.median(pairs), 1)
    print(json.dumps(out))
    return 0 if not errors else 1


if __name__ == "__main__":
    sys.exit(main())
