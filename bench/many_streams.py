#!/usr/bin/env python3
"""Memory per open stream: hold N streams open through a proxy, then measure RSS.

Opens N plain-HTTP connections to the proxy (at most --open-concurrency being
set up at once, i.e. not yet past their first event), each POSTs a streaming request and waits for the response
head and the first SSE event; a stream that gets them counts as served.  All
streams are then kept open (their bytes drained) while the RSS of the proxy's
whole process tree (--pid and its descendants) is read; then all are closed.

The upstream must hold streams open: sse_upstream.py with a /hold path.
RLIMIT_NOFILE must allow N sockets in this process (and in the proxy): the
harness raises it with ulimit -n.

Prints one JSON line: requested, served, failed, errors (by kind), idle and
loaded memory of the tree, per_stream_kib = (loaded RSS - idle RSS) / streams still open then
(open_at_measure: served, less those the proxy closed before the read).
"""
import argparse
import asyncio
import collections
import json
import resource
import sys
import time

import procmem
from sse_lag import Dechunker


def has_event(text):
    i = text.find(b"data:")
    return i >= 0 and text.find(b"\n\n", i) >= 0


async def one(host, port, path, body, sem, ready_timeout, results, stop, held):
    writer = None
    try:
        # At most --open-concurrency streams are being set up at once (until their first
        # event): each one makes the proxy open a TLS connection to the upstream, and a
        # burst of 10,000 handshakes would time out in the (Python) upstream, not the proxy.
        async with sem:
            reader, writer = await asyncio.wait_for(asyncio.open_connection(host, port), ready_timeout)
            req = (f"POST {path} HTTP/1.1\r\nHost: {host}:{port}\r\n"
                   f"Content-Type: application/json\r\nAccept: text/event-stream\r\n"
                   f"Content-Length: {len(body)}\r\n\r\n").encode() + body
            writer.write(req)
            await writer.drain()
            head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), ready_timeout)
            status = int(head.split(b" ", 2)[1])
            if status != 200:
                results[f"status {status}"] += 1
                return
            # the first event: a "data:" line, then a blank line
            hdrs = {}
            for line in head.decode("latin-1").split("\r\n")[1:]:
                k, _, v = line.partition(":")
                hdrs[k.strip().lower()] = v.strip()
            dec = Dechunker(hdrs)
            text = b""
            deadline = time.monotonic() + ready_timeout
            while not has_event(text):
                left = deadline - time.monotonic()
                if left <= 0:
                    raise asyncio.TimeoutError()
                d = await asyncio.wait_for(reader.read(4096), left)
                if not d:
                    raise ConnectionResetError("EOF before first event")
                text += dec.feed(d)
        results["served"] += 1
        held.append(writer)
        # keep draining until told to stop (then the task is cancelled)
        while True:
            d = await reader.read(65536)
            if not d:
                if not stop.is_set():
                    results["closed early"] += 1
                return
    except asyncio.TimeoutError:
        results["timeout"] += 1
    except asyncio.CancelledError:
        pass
    except (ConnectionError, OSError, asyncio.IncompleteReadError, ValueError, IndexError) as e:
        results[type(e).__name__] += 1
    finally:
        if writer is not None and stop.is_set():
            try:
                writer.close()
            except Exception:
                pass


async def main():
    p = argparse.ArgumentParser()
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--port", type=int, required=True)
    p.add_argument("--path", default="/v1/responses")
    p.add_argument("--pid", type=int, required=True, help="root pid of the proxy's process tree")
    p.add_argument("-n", type=int, default=10000)
    p.add_argument("--open-concurrency", type=int, default=64)
    p.add_argument("--ready-timeout", type=float, default=60.0)
    p.add_argument("--settle", type=float, default=2.0)
    a = p.parse_args()

    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft < a.n + 100:
        resource.setrlimit(resource.RLIMIT_NOFILE, (min(hard, a.n + 1000), hard))

    idle = procmem.tree_mem(a.pid)
    results = collections.Counter()
    stop = asyncio.Event()
    held = []
    sem = asyncio.Semaphore(a.open_concurrency)
    body = json.dumps({"model": "bench", "stream": True, "input": "hold"}).encode()
    t0 = time.monotonic()
    tasks = [asyncio.create_task(one(a.host, a.port, a.path, body, sem, a.ready_timeout, results, stop, held))
             for _ in range(a.n)]
    # wait until every stream is either served or failed
    while results["served"] + sum(v for k, v in results.items() if k not in ("served", "closed early")) < a.n:
        await asyncio.sleep(0.2)
        if time.monotonic() - t0 > a.ready_timeout * 4 + a.n / 50:
            break
    open_secs = time.monotonic() - t0
    await asyncio.sleep(a.settle)
    loaded = procmem.tree_mem(a.pid)
    still_open = results["served"] - results["closed early"]
    stop.set()
    for t in tasks:
        t.cancel()
    for w in held:
        try:
            w.close()
        except Exception:
            pass
    await asyncio.wait(tasks, timeout=30)
    served = results.pop("served", 0)
    errors = dict(results)
    out = {
        "requested": a.n,
        "served": served,
        "failed": a.n - served,
        "open_at_measure": still_open,
        "errors": errors,
        "open_secs": round(open_secs, 1),
        "idle_rss_kib": idle["rss_kib"], "idle_pss_kib": idle["pss_kib"],
        "loaded_rss_kib": loaded["rss_kib"], "loaded_pss_kib": loaded["pss_kib"],
        "idle_rss_kib_by_pid": idle.get("rss_kib_by_pid"),
        "loaded_rss_kib_by_pid": loaded.get("rss_kib_by_pid"),
        "processes": len(loaded["pids"]),
        # A tree that died before the read has no loaded memory to divide; the
        # streams it holds are those still open then (the proxy may have closed
        # some it served).
        "per_stream_kib": round((loaded["rss_kib"] - idle["rss_kib"]) / still_open, 2) if still_open > 0 and loaded["pids"] else None,
        "per_stream_pss_kib": round((loaded["pss_kib"] - idle["pss_kib"]) / still_open, 2) if still_open > 0 and loaded["pids"] else None,
    }
    print(json.dumps(out))


if __name__ == "__main__":
    asyncio.run(main())
