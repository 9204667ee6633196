#!/usr/bin/env python3
"""Cost per request of proxy binaries (and of the nginx-injector), side by side, with perf stat counts.

  bench/cost.py [--conns 1,16] [--workload small|40k|sseheavy|codex] [--workers N]
                [--seconds 5] [--rounds 3] [--record SECS] NAME=BINARY|NAME=nginx [...]

Starts a TLS nginx upstream (the bench's small-JSON route and its 150-event route,
bench/workloads.py) and each target in front of it: a binary with its defaults (a
parent and one worker) or `--workers N`; `NAME=nginx` the bench's nginx-injector
(prepare.sh's configuration) with `worker_processes` 1 or N. The workload picks
the request body and the route: small (~60 B, small JSON answer), 40k (40 KiB,
small JSON answer), sseheavy (~60 B streaming request, the 150-event answer),
codex (100 KiB, the 150-event answer). Then for each round and each connection
count it runs wrk against every target in turn (interleaved, so a busy spell of
the shared machine hits all alike) under
`perf stat --per-thread -p PARENT,WORKERS,UPSTREAM_WORKER`. Prints, per
request: CPU time (task-clock), context switches, system calls, and the
epoll_wait / sendmmsg / recvmmsg / read(v) / write(v) / ... calls, for the parent
(nginx: its master), the worker(s) and the upstream nginx worker; the median of
the rounds (each figure separately). --record SECS then runs wrk once more
against each target at each --conns under `perf record -e cpu-clock
-c 100000 -g` (a sample per 100 us of CPU time) and prints, per process role,
CPU time per request by DSO, by symbol, and the kernel's time by the
user-space function that entered it (the system call's libc wrapper).
Needs root (tracepoints), wrk, nginx, openssl, perf.
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
            "sendmsg", "setsockopt", "epoll_ctl", "futex", "accept4"]
# workload -> (request body file made by workloads.py, upstream path)
WORKLOADS = {"small": ("small.json", "/v1/responses"), "40k": ("40k.json", "/v1/responses"),
             "sseheavy": ("stream-small.json", "/sse150/v1/responses"),
             "codex": ("codex-100k.json", "/sse150/v1/responses")}
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
    subprocess.run([sys.executable, f"{HERE}/workloads.py", t], check=True)
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
    location @answer {{ default_type application/json; return 200 '{answer}'; }}
    location = /sse150/v1/responses {{ mirror /_sink; mirror_request_body on; alias {t}/sse150.txt;
      default_type text/event-stream; etag off; ssi on; ssi_types text/event-stream;
      error_page 405 =200 $uri; }} }} }}
""")
    ngx = subprocess.Popen(["nginx", "-p", f"{t}/nginx", "-c", f"{t}/nginx/nginx.conf"],
                           stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    if not wait_file(f"{t}/nginx/nginx.pid", 10):
        sys.exit("nginx did not start")
    time.sleep(0.3)
    return ngx, port


def start_injector(t, name, up_port, path, workers):
    """The bench's nginx-injector (bench/prepare.sh, write_injector_conf)."""
    d = f"{t}/inj-{name}"
    os.makedirs(f"{d}/logs")
    port = free_port()
    user = "user root;" if os.getuid() == 0 else ""
    with open(f"{d}/nginx.conf", "w") as f:
        f.write(f"""{user}
daemon off; worker_processes {workers or 1}; error_log {d}/logs/error.log warn; pid {d}/nginx.pid;
events {{ worker_connections 4096; }}
http {{ access_log off; client_body_temp_path {d}/body; proxy_temp_path {d}/proxy;
  fastcgi_temp_path {d}/fcgi; uwsgi_temp_path {d}/uwsgi; scgi_temp_path {d}/scgi;
  keepalive_requests 1000000; keepalive_timeout 600s;
  upstream upstream_pool {{ server 127.0.0.1:{up_port}; keepalive 256; keepalive_requests 1000000;
    keepalive_timeout 600s; }}
  server {{ listen 127.0.0.1:{port};
    location = /v1/responses {{ limit_except POST {{ deny all; }}
      proxy_pass https://upstream_pool{path}; proxy_http_version 1.1;
      proxy_set_header Connection ""; proxy_set_header Host 127.0.0.1:{up_port};
      proxy_set_header Authorization "Bearer {KEY}"; proxy_ssl_protocols TLSv1.2 TLSv1.3;
      proxy_ssl_verify on; proxy_ssl_trusted_certificate {t}/ca.pem; proxy_ssl_name localhost;
      proxy_ssl_server_name on; proxy_ssl_session_reuse on; proxy_buffering off;
      proxy_request_buffering off; proxy_read_timeout 3600s; proxy_send_timeout 3600s; }}
    location / {{ return 403; }} }} }}
""")
    p = subprocess.Popen(["nginx", "-p", d, "-c", f"{d}/nginx.conf"], stdout=subprocess.DEVNULL,
                         stderr=subprocess.DEVNULL)
    if not wait_file(f"{d}/nginx.pid", 10):
        sys.exit(f"{name} (nginx) did not start")
    time.sleep(0.3)
    return p, port, p.pid


def start_proxy(t, name, binary, up_port, path, workers):
    if binary == "nginx":
        return start_injector(t, name, up_port, path, workers)
    info = f"info-{name}.json"
    extra = ["--workers", str(workers)] if workers else []
    p = subprocess.Popen([binary, "--upstream-url", f"https://127.0.0.1:{up_port}{path}",
                          "--upstream-ca-file", f"{t}/ca.pem", "--server-info", info] + extra,
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
    ap.add_argument("--workload", "--body", dest="workload", default="small", choices=sorted(WORKLOADS))
    ap.add_argument("--workers", type=int, default=0,
                    help="--workers N for the binaries, worker_processes N for nginx (default: 1)")
    ap.add_argument("--record", type=int, default=0, metavar="SECS",
                    help="then profile each target for SECS with perf record -e cpu-clock -g")
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
            p, port, ppid = start_proxy(t, name, binary, up_port, WORKLOADS[a.workload][1], a.workers)
            procs.append(p)
            time.sleep(0.5)
            targets.append((name, port, ppid, children(ppid)))
        body = f"{t}/{WORKLOADS[a.workload][0]}"
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
        if a.record:
            for conns in [int(c) for c in a.conns.split(",")]:
                for name, port, ppid, workers in targets:
                    profile(t, name, port, ppid, workers, body, conns, a.record)
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
    print(f"\nper request, median of {a.rounds} rounds, workload {a.workload}, workers {a.workers or 1}, "
          f"{a.seconds} s each")
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


PERIOD_NS = 100_000  # perf record -e cpu-clock -c: one sample per 100 us of a thread's CPU time


def profile(t, name, port, ppid, workers, body, conns, secs):
    """perf record -e cpu-clock -g on the target's processes during one wrk run; prints, per
    process role, CPU time per request by DSO and by symbol (the sampled frame), and the
    kernel's share by the user-space function that entered the kernel (the first user frame of
    the call chain: the libc wrapper of the system call). A sample is 100 us of CPU time, so
    samples x 100 us / requests = us per request."""
    data = f"{t}/perf-{name}.data"
    roles = {ppid: "parent"}
    roles.update({w: "worker" for w in workers})
    wrk(port, body, conns, 1)  # warm-up
    rec = subprocess.Popen(["perf", "record", "-q", "-e", "cpu-clock", "-c", str(PERIOD_NS), "-g",
                            "-o", data, "-p", ",".join(map(str, roles))],
                           stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    time.sleep(0.5)
    res = wrk(port, body, conns, secs)
    rec.send_signal(signal.SIGINT)
    rec.wait()
    n = res["requests"] if res else 0
    out = subprocess.run(["perf", "script", "-i", data, "-F", "pid,ip,sym,dso"],
                         capture_output=True, text=True).stdout
    agg = {}  # role -> {"n": samples, "dso": {}, "sym": {}, "entry": {}}
    for block in out.split("\n\n"):
        lines = [ln.strip() for ln in block.strip().splitlines() if ln.strip()]
        if len(lines) < 2 or not lines[0].split()[0].isdigit():
            continue
        role = roles.get(int(lines[0].split()[0]), "other")
        frames = []
        for ln in lines[1:]:
            m = re.match(r"\S+\s+(.*?)\s+\((.*)\)$", ln)
            if m:
                sym = re.sub(r"\+0x[0-9a-f]+$", "", m.group(1))
                frames.append((sym, os.path.basename(m.group(2))))
        if not frames:
            continue
        a_ = agg.setdefault(role, {"n": 0, "dso": {}, "sym": {}, "entry": {}})
        a_["n"] += 1
        sym, dso = frames[0]
        a_["dso"][dso] = a_["dso"].get(dso, 0) + 1
        key = f"{sym} ({dso})"
        a_["sym"][key] = a_["sym"].get(key, 0) + 1
        if dso == "[kernel.kallsyms]":
            entry = next((f"{s_} ({d_})" for s_, d_ in frames if d_ != "[kernel.kallsyms]"), "(kernel only)")
            a_["entry"][entry] = a_["entry"].get(entry, 0) + 1
    us = lambda k: k * PERIOD_NS / 1000.0 / max(n, 1)
    print(f"\n## perf record -e cpu-clock, {name}: {n} requests at {conns} connections in {secs} s; "
          "CPU time per request (us) by where the samples fell")
    for role in ("parent", "worker", "other"):
        a_ = agg.get(role)
        if not a_:
            continue
        print(f"\n### {name} {role}: {us(a_['n']):.1f} us a request")
        print("by DSO: " + ", ".join(f"{d} {us(v):.1f}" for d, v in
                                     sorted(a_["dso"].items(), key=lambda kv: -kv[1]) if us(v) >= 0.5))
        print("top symbols:")
        for k, v in sorted(a_["sym"].items(), key=lambda kv: -kv[1])[:18]:
            print(f"  {us(v):6.1f}  {k}")
        print("kernel time by the user-space function that entered the kernel:")
        for k, v in sorted(a_["entry"].items(), key=lambda kv: -kv[1])[:10]:
            print(f"  {us(v):6.1f}  {k}")


if __name__ == "__main__":
    main()
