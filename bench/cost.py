#!/usr/bin/env python3
"""Cost per request of proxy binaries, side by side, with perf stat counts.

  bench/cost.py [--conns 1,16] [--body small|40k] [--seconds 5] [--rounds 3]
                NAME=BINARY [NAME=BINARY ...]

Starts a TLS nginx upstream (the bench's small-JSON route) and each binary in
front of it (its defaults: a parent and one worker), then for each round and
each connection count runs wrk against every binary in turn (interleaved, so a
busy spell of the shared machine hits all alike) under
`perf stat --per-thread -p PARENT,WORKERS,UPSTREAM_WORKER`. Prints, per
request: CPU time (task-clock), context switches, system calls, and the
epoll_wait / sendmmsg / recvmmsg / read(v) / write(v) calls, for the parent,
the worker(s) and the upstream nginx worker; the median of the rounds (each
figure separately). Needs root (tracepoints), wrk, nginx, openssl, perf.
--events adds perf events, e.g. uprobes on libc's allocator made with
`perf probe -x /lib/x86_64-linux-gnu/libc.so.6 malloc` (probe_libc:malloc; a
uprobe costs a trap per call, so read CPU time from a run without them).
"""
import argparse
import json
import os
import re
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
KEY = "sk-bench-0123456789abcdefABCDEF_xyz"
SYSCALLS = ["epoll_wait", "sendmmsg", "recvmmsg", "readv", "writev", "read", "write", "recvfrom",
            "sendmsg", "setsockopt"]
EVENTS = ["task-clock", "context-switches", "raw_syscalls:sys_enter"] + [
    f"syscalls:sys_enter_{s}" for s in SYSCALLS]


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


def wait_file(path, secs):
    end = time.time() + secs
    while time.time() < end:
        if os.path.exists(path) and os.path.getsize(path) > 0:
            return True
        time.sleep(0.05)
    return False


def children(pid):
    out = subprocess.run(["ps", "-o", "pid=", "--ppid", str(pid)], capture_output=True, text=True)
    return [int(x) for x in out.stdout.split()]


def setup(t):
    sh = lambda *a: subprocess.run(a, cwd=t, check=True, capture_output=True)
    sh("openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1",
       "-nodes", "-keyout", "ca.key", "-out", "ca.pem", "-days", "2", "-subj", "/CN=cost CA",
       "-addext", "basicConstraints=critical,CA:TRUE")
    sh("openssl", "req", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes",
       "-keyout", "server.key", "-out", "server.csr", "-subj", "/CN=127.0.0.1")
    with open(f"{t}/server.ext", "w") as f:
        f.write("subjectAltName=IP:127.0.0.1,DNS:localhost\nbasicConstraints=critical,CA:FALSE\n")
    sh("openssl", "x509", "-req", "-in", "server.csr", "-CA", "ca.pem", "-CAkey", "ca.key",
       "-CAcreateserial", "-out", "server.pem", "-days", "2", "-extfile", "server.ext")
    with open(f"{t}/small.json", "w") as f:
        json.dump({"model": "gpt-5", "input": "Say hello.", "stream": False}, f)
    base = {"model": "gpt-5", "stream": False, "input": ""}
    pad = 40 * 1024 - len(json.dumps(base))
    base["input"] = ("lorem ipsum dolor sit amet " * 2000)[:pad]
    with open(f"{t}/40k.json", "w") as f:
        f.write(json.dumps(base))
    port = free_port()
    os.makedirs(f"{t}/nginx/logs")
    user = "user root;" if os.getuid() == 0 else ""
    answer = ('{"id":"resp_bench","object":"response","status":"completed","model":"gpt-5",'
              '"output":[{"type":"message","role":"assistant","content":[{"type":"output_text",'
              '"text":"Hello!"}]}]}')
    with open(f"{t}/nginx/nginx.conf", "w") as f:
        f.write(f"""{user}
daemon off; worker_processes 1; error_log {t}/nginx/logs/error.log warn; pid {t}/nginx/nginx.pid;
events {{ worker_connections 4096; }}
http {{ access_log off; client_body_temp_path {t}/nginx/body; proxy_temp_path {t}/nginx/proxy;
  fastcgi_temp_path {t}/nginx/fcgi; uwsgi_temp_path {t}/nginx/uwsgi; scgi_temp_path {t}/nginx/scgi;
  keepalive_requests 100000000; keepalive_timeout 600s; client_body_buffer_size 256k;
  server {{ listen 127.0.0.1:{port} ssl; ssl_certificate {t}/server.pem;
    ssl_certificate_key {t}/server.key; ssl_protocols TLSv1.2 TLSv1.3;
    location = /v1/responses {{ mirror /_sink; mirror_request_body on; root {t}/nginx/www;
      error_page 404 405 = @answer; }}
    location = /_sink {{ internal; return 204; }}
    location @answer {{ default_type application/json; return 200 '{answer}'; }} }} }}
""")
    ngx = subprocess.Popen(["nginx", "-p", f"{t}/nginx", "-c", f"{t}/nginx/nginx.conf"],
                           stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    if not wait_file(f"{t}/nginx/nginx.pid", 10):
        sys.exit("nginx did not start")
    time.sleep(0.3)
    return ngx, port


def start_proxy(t, name, binary, up_port):
    info = f"info-{name}.json"
    p = subprocess.Popen([binary, "--upstream-url", f"https://127.0.0.1:{up_port}/v1/responses",
                          "--upstream-ca-file", f"{t}/ca.pem", "--server-info", info],
                         cwd=t, stdin=subprocess.PIPE, stdout=open(f"{t}/log-{name}.txt", "w"),
                         stderr=subprocess.STDOUT)
    p.stdin.write((KEY + "\n").encode())
    p.stdin.close()
    if not wait_file(f"{t}/{info}", 20):
        sys.exit(f"{name} did not start")
    with open(f"{t}/{info}") as f:
        d = json.load(f)
    return p, d["port"], d.get("pid", p.pid)


def wrk(port, body, conns, secs):
    env = dict(os.environ, BENCH_BODY_FILE=body, BENCH_HOST=f"127.0.0.1:{port}")
    threads = 1 if conns == 1 else 2
    out = subprocess.run(["wrk", f"-t{threads}", f"-c{conns}", f"-d{secs}s", "-s",
                          f"{HERE}/post.lua", f"http://127.0.0.1:{port}/v1/responses"],
                         env=env, capture_output=True, text=True).stdout
    m = re.search(r"BENCHJSON (\{.*\})", out)
    return json.loads(m.group(1)) if m else None


def measure(pids, roles, port, body, conns, secs, events):
    csv = tempfile.mktemp(suffix=".csv")
    perf = subprocess.Popen(["perf", "stat", "--per-thread", "-x", ",", "-o", csv, "-e",
                             ",".join(events), "-p", ",".join(map(str, pids))],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    time.sleep(0.3)
    res = wrk(port, body, conns, secs)
    perf.send_signal(signal.SIGINT)
    perf.wait()
    counts = {}  # role -> event -> value
    with open(csv) as f:
        for line in f:
            parts = line.strip().split(",")
            if len(parts) < 4 or line.startswith("#"):
                continue
            m = re.search(r"-(\d+)$", parts[0])
            if not m or parts[1] in ("<not counted>", "<not supported>", ""):
                continue
            role = roles.get(int(m.group(1)), "other")
            ev = parts[3].replace("syscalls:sys_enter_", "").replace("raw_syscalls:sys_enter",
                                                                     "syscalls")
            ev = ev.replace("probe_libc:", "")
            counts.setdefault(role, {})
            counts[role][ev] = counts[role].get(ev, 0.0) + float(parts[1])
    os.unlink(csv)
    n = res["requests"] if res else 0
    per = {}
    for role, evs in counts.items():
        per[role] = {ev: (v * 1000.0 if ev == "task-clock" else v) / max(n, 1)
                     for ev, v in evs.items()}  # task-clock: msec -> us
    return res, per


def tids(pid):
    try:
        return [int(x) for x in os.listdir(f"/proc/{pid}/task")]
    except OSError:
        return []


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--conns", default="1,16")
    ap.add_argument("--body", default="small")
    ap.add_argument("--seconds", type=int, default=5)
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--keep", action="store_true")
    ap.add_argument("--events", default="", help="extra perf events, comma-separated")
    ap.add_argument("targets", nargs="+")
    a = ap.parse_args()
    t = tempfile.mkdtemp(prefix="cost-")
    ngx, up_port = setup(t)
    procs = [ngx]
    targets = []
    try:
        ngx_workers = children(ngx.pid)
        for spec in a.targets:
            name, binary = spec.split("=", 1)
            p, port, ppid = start_proxy(t, name, binary, up_port)
            procs.append(p)
            time.sleep(0.5)
            targets.append((name, port, ppid, children(ppid)))
        body = f"{t}/{a.body}.json"
        results = {}  # (name, conns) -> list of (res, per)
        for r in range(a.rounds):
            for conns in [int(c) for c in a.conns.split(",")]:
                for name, port, ppid, workers in targets:
                    wrk(port, body, conns, 1)  # warm-up
                    roles = {}
                    for tid in tids(ppid):
                        roles[tid] = "parent"
                    for w in workers:
                        for tid in tids(w):
                            roles[tid] = "worker"
                    for w in ngx_workers:
                        for tid in tids(w):
                            roles[tid] = "upstream"
                    pids = [ppid] + workers + ngx_workers
                    extra = [e for e in a.events.split(",") if e]
                    res, per = measure(pids, roles, port, body, conns, a.seconds, EVENTS + extra)
                    results.setdefault((name, conns), []).append((res, per))
                    rps = res["rps"] if res else 0
                    print(f"round {r + 1} c={conns} {name}: {rps:.0f} req/s, "
                          f"{sum(per.get(x, {}).get('task-clock', 0) for x in ('parent', 'worker')):.1f} us",
                          file=sys.stderr)
        report(results, a)
    finally:
        for p in reversed(procs):
            p.terminate()
        for p in procs:
            try:
                p.wait(timeout=10)
            except subprocess.TimeoutExpired:
                p.kill()
        if a.keep:
            print(f"kept {t}", file=sys.stderr)
        else:
            subprocess.run(["rm", "-rf", t])


def report(results, a):
    cols = ["task-clock", "context-switches", "syscalls"] + SYSCALLS + [
        e.replace("probe_libc:", "") for e in a.events.split(",") if e]
    short = {"task-clock": "cpu us", "context-switches": "cs", "syscalls": "sysc"}
    print(f"\nper request, median of {a.rounds} rounds, body {a.body}, {a.seconds} s each")
    print("| target | conns | req/s | process | " + " | ".join(short.get(c, c) for c in cols) +
          " |")
    print("|---|---:|---:|---|" + "---:|" * len(cols))
    for (name, conns), runs in sorted(results.items(), key=lambda kv: (kv[0][1], kv[0][0])):
        rps = statistics.median([r["rps"] if r else 0 for r, _ in runs])
        for role in ("parent", "worker", "proxy", "upstream"):
            vals = []
            for c in cols:
                if role == "proxy":
                    xs = [p.get("parent", {}).get(c, 0) + p.get("worker", {}).get(c, 0)
                          for _, p in runs]
                else:
                    xs = [p.get(role, {}).get(c, 0) for _, p in runs]
                vals.append(statistics.median(xs))
            fmt = [f"{v:.1f}" if c == "task-clock" else f"{v:.2f}" for c, v in zip(cols, vals)]
            print(f"| {name} | {conns} | {rps:.0f} | {role} | " + " | ".join(fmt) + " |")


if __name__ == "__main__":
    main()
