#!/usr/bin/env python3
"""Turn the harness's raw JSON files into the results table.

usage: report.py RESDIR META.json OUT.md OUT.json
Prints the markdown to stdout and writes it to OUT.md; OUT.json gets every raw figure.
"""
import glob
import json
import os
import sys


def load(resdir):
    out = {}
    for path in sorted(glob.glob(os.path.join(resdir, "*.json"))):
        try:
            with open(path) as f:
                out[os.path.basename(path)[:-5]] = json.load(f)
        except (OSError, ValueError):
            pass
    return out


def fmt(v, unit=""):
    if v is None:
        return "n/a"
    if isinstance(v, float):
        if abs(v) >= 100:
            s = f"{v:,.0f}"
        elif abs(v) >= 10:
            s = f"{v:.1f}"
        else:
            s = f"{v:.2f}"
    else:
        s = f"{v:,}"
    return s + unit


def ratio(a, b):
    if a is None or b is None or b == 0:
        return None
    return a / b


def fmt_ratio(r):
    return "n/a" if r is None else f"{r:.2f}x"


TARGETS = ("ours", "baseline", "nginx", "direct")
MIX_WORKLOADS = (("small", "small request, small JSON answer"),
                 ("sseheavy", "SSE-heavy: small request, 150-event answer"),
                 ("codex", "Codex-shaped: 100 KiB request, 150-event answer"))
MIX_TARGETS = ("direct1", "ours1", "nginx1", "directN", "ours", "nginx")


def mix_table(r, meta):
    """The workloads at one worker process each and at one per core each (bench/run's wrk phase)."""
    def get(key, field):
        d = r.get(key)
        return d.get(field) if isinstance(d, dict) else None

    def verdict(ok):
        return "n/a" if ok is None else ("PASS" if ok else "FAIL")

    rows, rounds, ups = [], [], []
    n = meta.get("nproc", "?")
    for w, label in MIX_WORKLOADS:
        for c in (16, 256):
            for suffix, workers in (("1", "1"), ("", f"1 per core ({n})")):
                d = "direct1" if suffix == "1" else "directN"
                key = lambda t: f"mix-{w}-{t}-c{c}"
                o, x, dd = (get(key(t), "rps") for t in (f"ours{suffix}", f"nginx{suffix}", d))
                co, cx, cd = (get(key(t), "cpu_us_per_req") for t in (f"ours{suffix}", f"nginx{suffix}", d))
                if o is None and x is None and dd is None:
                    continue
                ok_r = None if o is None or x is None else o >= x
                ok_c = None if co is None or cx is None else co <= cx
                rows.append(f"| {label} | {c} | {workers} | {fmt(o)} | {fmt(x)} | {fmt_ratio(ratio(o, x))} "
                            f"| {fmt(dd)} | {fmt(co)} | {fmt(cx)} | {fmt_ratio(ratio(co, cx))} | {fmt(cd)} "
                            f"| {verdict(ok_r)}; {verdict(ok_c)} |")
                rr = [(t, get(key(t), "rounds_rps")) for t in (d, f"ours{suffix}", f"nginx{suffix}")]
                rr = [f"{t} " + "/".join(f"{v:,.0f}" for v in vs) for t, vs in rr if vs and len(vs) > 1]
                if rr:
                    rounds.append(f"{w} c{c} w{suffix or 'N'}: " + ", ".join(rr))
                uo, ux = (get(key(t), "upstream_cpu_us_per_req") for t in (f"ours{suffix}", f"nginx{suffix}"))
                if uo is not None or ux is not None:
                    ups.append(f"{w} c{c} w{suffix or 'N'}: ours {fmt(uo)}, nginx {fmt(ux)}")
    if not rows:
        return []
    secs = meta.get("mix_duration", "?")
    out = ["", f"The workloads at one worker process each and at one per core each: ours `{meta.get('ours1_args', '')}` "
           f"and `{meta.get('ours_args', '')}`, the nginx-injector `worker_processes 1` and `auto`, direct: the "
           f"upstream stand-in with `worker_processes 1` and `auto` (the proxies always forward to the one-worker "
           f"stand-in). wrk {secs} s per run, "
           + ("one round (quick)" if meta.get("quick") else "the median of 3 rounds of all targets in turn")
           + "; CPU per request: the whole process tree's user+sys time (direct: the stand-in's). "
           "Target: requests/s >= nginx-injector; CPU per request <= nginx-injector.",
           "", "| workload | conn | workers | ours req/s | nginx req/s | ours/nginx | direct req/s "
           "| ours CPU/req (us) | nginx CPU/req (us) | CPU ours/nginx | direct CPU/req (us) | verdict (req/s; CPU) |",
           "|---|---:|---|---:|---:|---:|---:|---:|---:|---:|---:|---|"] + rows
    if rounds:
        out += ["", "requests/s of each round (direct, ours, nginx; w1 = one worker, wN = one per core): "
                + "; ".join(rounds) + "."]
    if ups:
        out += ["", "CPU time per request of the upstream stand-in (us) for the requests through each proxy: "
                + "; ".join(ups) + "."]
    return out


def main():
    resdir, meta_path, out_md, out_json = sys.argv[1:5]
    r = load(resdir)
    meta = json.load(open(meta_path))
    # (figure, ours, baseline, nginx-injector, direct, ours/baseline, ours/nginx, ours/direct, target, verdict)
    rows = []

    def get(key, field):
        d = r.get(key)
        if not isinstance(d, dict):
            return None
        return d.get(field)

    def wrk_errors(target, body, c):
        d = r.get(f"wrk-{target}-{body}-c{c}")
        if not d:
            return None
        return sum(d.get(k, 0) for k in ("err_connect", "err_read", "err_write", "err_status", "err_timeout"))

    def verdict(ok):
        return "n/a" if ok is None else ("PASS" if ok else "FAIL")

    def add(name, ours, base, nginx, direct, unit="", targets=(), ratios=True):
        """targets: (label, ok) pairs; ok None = not judged in this run."""
        rows.append([name, fmt(ours, unit), fmt(base, unit), fmt(nginx, unit), fmt(direct, unit),
                     fmt_ratio(ratio(ours, base)) if ratios else "n/a",
                     fmt_ratio(ratio(ours, nginx)) if ratios else "n/a",
                     fmt_ratio(ratio(ours, direct)) if ratios else "n/a",
                     "; ".join(t for t, _ in targets), "; ".join(verdict(ok) for _, ok in targets) or "n/a"])

    def cmp(o, x, test):
        return None if o is None or x is None else test(o, x)

    # throughput and latency
    for body, label in (("small", "small body"), ("40k", "40 KiB body")):
        for c in (1, 16, 256):
            o, b, x, d = (get(f"wrk-{t}-{body}-c{c}", "rps") for t in TARGETS)
            targets = []
            name = f"requests/s, {c} conn, {label}"
            if c == 16:
                targets.append((">= 10x baseline", cmp(o, b, lambda o, b: o >= 10 * b)))
                if get(f"wrk-ours-{body}-c{c}", "rounds_rps") or get(f"wrk-direct-{body}-c{c}", "rounds_rps"):
                    name += " (median of 3 rounds)"
            if c in (16, 256):
                targets.append((">= nginx-injector", cmp(o, x, lambda o, x: o >= x)))
            add(name, o, b, x, d, "", targets)
        for pct in (50, 99):
            o, b, x, d = (get(f"wrk-{t}-{body}-c1", f"p{pct}_us") for t in TARGETS)
            o, b, x, d = (None if v is None else v / 1000.0 for v in (o, b, x, d))
            targets = []
            if pct == 50:
                targets = [("<= 1/3 baseline", cmp(o, b, lambda o, b: o * 3 <= b)),
                           ("<= 1.2x nginx-injector", cmp(o, x, lambda o, x: o <= 1.2 * x))]
            add(f"latency p{pct}, 1 conn, {label} (ms)", o, b, x, d, "", targets)
        o, b, x, d = (get(f"wrk-{t}-{body}-c1", "p50_us") for t in TARGETS)
        add(f"added latency p50 vs direct, {label} (ms)",
            *(None if v is None or d is None else (v - d) / 1000.0 for v in (o, b, x)), None)

    # CPU time per request: utime + stime of the proxy's process tree over each
    # wrk run / requests completed (direct: the upstream nginx's own)
    for body, label in (("small", "small body"), ("40k", "40 KiB body")):
        for c in (1, 16, 256):
            o, b, x, d = (get(f"wrk-{t}-{body}-c{c}", "cpu_us_per_req") for t in TARGETS)
            targets = [("<= nginx-injector", cmp(o, x, lambda o, x: o <= x))] if c in (16, 256) else []
            add(f"CPU time per request, {c} conn, {label} (us, user+sys, whole process tree; direct: the upstream's)",
                o, b, x, d, "", targets)

    # SSE lag (sse.json: one object keyed by target)
    noisy_sse = None
    sse = r.get("sse") or {}
    for pct, key, label in ((50, "added_p50_us", "p50"), (99, "added_p99_us", "p99, pooled"),
                            (99, "added_p99_paired_us", "p99, median of paired rounds")):
        d = (sse.get("direct") or {}).get(f"lag_p{pct}_us")
        vals = {}
        for t in ("ours", "baseline", "nginx"):
            v = (sse.get(t) or {}).get(key)
            vals[t] = None if v is None else v / 1000.0
        targets = []
        if key == "added_p99_paired_us":
            targets = [("<= 1 ms", None if vals["ours"] is None else vals["ours"] <= 1.0),
                       ("<= nginx-injector", cmp(vals["ours"], vals["nginx"], lambda o, x: o <= x))]
        # ratios of added lags (differences of two noisy figures) mean little
        add(f"SSE added lag {label}, 20 ms apart (ms; direct: its own lag)", vals["ours"],
            vals["baseline"], vals["nginx"], None if d is None else d / 1000.0, "", targets, ratios=False)
        if targets and vals["ours"] is not None and d is not None and d > 2000:
            # direct's own p99 jitter exceeds the 1 ms being judged (and the
            # tenths of a ms between two proxies): no verdict
            rows[-1][9] = "; ".join("NOISY" for _ in targets)
            noisy_sse = d / 1000.0

    # memory
    mib = lambda k: None if get(k, "rss_kib") is None else get(k, "rss_kib") / 1024.0
    add("RSS, all proxy processes, just after the first request (MiB)", mib("mem-first-ours"),
        mib("mem-first-baseline"), mib("mem-first-nginx"), None)
    o = mib("mem-idle-ours")
    add("RSS, all proxy processes, idle at start (MiB)", o, mib("mem-idle-baseline"), mib("mem-idle-nginx"),
        None, "", [("<= 8 MiB", None if o is None else o <= 8.0)])
    # The same pages counted once (libc shared by parent and worker is one
    # copy in RAM): informative, the target stays on the summed figure.
    umib = lambda k: None if get(k, "union_kib") is None else get(k, "union_kib") / 1024.0
    add("resident memory, all proxy processes, idle at start, each page counted once (MiB)",
        umib("mem-idle-ours"), umib("mem-idle-baseline"), umib("mem-idle-nginx"), None)
    # The processes' own data, without file pages (code, tables): what an
    # idle release cannot lower.
    amib = lambda k: None if get(k, "anon_kib") is None else get(k, "anon_kib") / 1024.0
    add("anonymous memory (own data), all proxy processes, idle at start (MiB)",
        amib("mem-idle-ours"), amib("mem-idle-baseline"), amib("mem-idle-nginx"), None)
    add("RSS, all proxy processes, idle after load (MiB)", mib("mem-after-ours"), mib("mem-after-baseline"),
        mib("mem-after-nginx"), None)
    n = meta.get("streams")
    so, sb, sx = (r.get(f"streams-{t}") or {} for t in ("ours", "baseline", "nginx"))
    def all_held(s_):
        # served, and still open when the memory was read (older results lack the count)
        return s_.get("served") == n and s_.get("open_at_measure", n) == n
    add(f"streams served of {n:,}", so.get("served"), sb.get("served"), sx.get("served"), None, "",
        [(f"all {n:,}", None if not so else all_held(so))])
    for col, s_ in ((2, sb), (3, sx)):
        if s_ and s_.get("requested") != n:
            rows[-1][col] = f"{s_.get('served', 0):,} of {s_['requested']:,}"
    # per stream only from a tree that was still alive when its memory was read
    ps_o, ps_b, ps_x = (s_.get("per_stream_kib") if s_.get("processes") else None for s_ in (so, sb, sx))
    add(f"RSS per open stream at {n:,} streams (KiB)", ps_o, ps_b, ps_x, None, "",
        [("<= 32 KiB", None if ps_o is None else ps_o <= 32.0 and all_held(so))])
    add(f"RSS with {n:,} streams open (MiB)",
        *(None if not s_.get("loaded_rss_kib") else s_["loaded_rss_kib"] / 1024.0 for s_ in (so, sb, sx)), None)

    # 100 MiB
    o, b, x, d = (get(f"big-{t}", "mbps_median") for t in TARGETS)
    add("100 MiB response, MB/s (median of 3)", o, b, x, d, "", [(">= 50% of direct", cmp(o, d, lambda o, d: o >= 0.5 * d))])

    # errors
    errs = []
    for t in TARGETS:
        for body in ("small", "40k"):
            for c in (1, 16, 256):
                e = wrk_errors(t, body, c)
                if e:
                    d = r[f"wrk-{t}-{body}-c{c}"]
                    errs.append(f"- wrk {t} {body} c={c}: {e} errors of {d['requests']} requests "
                                f"(connect {d['err_connect']}, read {d['err_read']}, write {d['err_write']}, "
                                f"status {d['err_status']}, timeout {d['err_timeout']})")
    for w, _ in MIX_WORKLOADS:
        for t in MIX_TARGETS:
            for c in (16, 256):
                d = r.get(f"mix-{w}-{t}-c{c}")
                e = d and sum(d.get(k, 0) for k in ("err_connect", "err_read", "err_write", "err_status", "err_timeout"))
                if e:
                    errs.append(f"- wrk {w} via {t} c={c} (median round): {e} errors of {d['requests']} requests "
                                f"(connect {d['err_connect']}, read {d['err_read']}, write {d['err_write']}, "
                                f"status {d['err_status']}, timeout {d['err_timeout']})")
    for t in ("ours", "baseline", "nginx"):
        s = r.get(f"streams-{t}")
        if s and s.get("errors"):
            errs.append(f"- streams {t}: {s['failed']} of {s['requested']} not served: {s['errors']}")
        e = sse.get(t)
        if e and e.get("error"):
            errs.append(f"- SSE {t}: {e['error']}")
        elif e and e.get("events") != e.get("expected"):
            errs.append(f"- SSE {t}: {e.get('events')} of {e.get('expected')} events received")
        bg = r.get(f"big-{t}")
        if bg and bg.get("ok") != bg.get("runs"):
            errs.append(f"- 100 MiB {t}: {bg['ok']} of {bg['runs']} transfers complete: {bg['raw']}")

    if noisy_sse is not None:
        errs.append(f"- SSE: direct's own lag p99 was {noisy_sse:.1f} ms (machine busy?), more than the 1 ms "
                    f"target it is subtracted from: SSE p99 verdict withheld (NOISY); rerun on an idle machine")
    for t, s_ in (("ours", so), ("baseline", sb), ("nginx", sx)):
        if s_ and s_.get("served") and s_.get("open_at_measure", s_["served"]) < s_["served"]:
            errs.append(f"- streams {t}: {s_['served'] - s_['open_at_measure']:,} of the {s_['served']:,} served "
                        f"streams were closed by the proxy before its memory was read ({s_['open_at_measure']:,} "
                        f"still open): the streams verdicts FAIL, and RSS per stream is over those still open")
        if s_ and s_.get("processes") and s_.get("served") and s_.get("served") != s_.get("requested"):
            errs.append(f"- streams {t}: not all served, so its RSS per stream (loaded - idle) / served "
                        f"also carries the failed attempts' memory")
    if sb and sb.get("requested") != n:
        errs.append(f"- baseline streams test capped at {sb['requested']:,}: RLIMIT_NOFILE is {meta.get('nofile')} "
                    f"and the original holds both sockets of a stream in one process")
    if sx and sx.get("requested") != n:
        errs.append(f"- nginx-injector streams test capped at {sx['requested']:,} (file descriptors per worker)")
    if sx and not sx.get("processes"):
        errs.append("- the nginx-injector was gone when the streams' memory was read (it died)")
    if sb and not sb.get("processes"):
        errs.append("- the baseline proxy process was gone when the streams' memory was read (it died)")
    if so and not so.get("processes"):
        errs.append("- our proxy process was gone when the streams' memory was read (it died)")
    mode = "QUICK smoke run" if meta.get("quick") else "full run"
    lines = [
        f"# Proxy benchmark ({mode})",
        "",
        f"- date: {meta['date']}; machine: {meta['nproc']} CPUs, {meta['cpu']}, {meta['kernel']}",
        f"- ours: `{meta['ours_bin'] or 'not measured'}` at commit {meta['ours_commit']}"
        + (f" ({meta['ours_note']})" if meta.get("ours_note") else ""),
        f"- baseline: {meta['baseline_version'] or 'not measured'}"
        + (f" ({meta['baseline_note']})" if meta.get("baseline_note") else ""),
        (f"- nginx-injector: nginx {meta['nginx']} as a key-injecting reverse proxy (TLS to the same upstream, "
         f"verified; upstream keepalive pool; proxy_buffering and proxy_request_buffering off; "
         f"worker_processes {meta.get('nginx_workers', '?')}"
         + (f", {int(meta['nginx_processes']) - 1} workers" if str(meta.get("nginx_processes", "")).strip().isdigit() else "")
         + "; bench/README.md has the configuration)"
         if "nginx" in meta.get("active", []) else "- nginx-injector: not measured")
        + (f" ({meta['nginx_note']})" if meta.get("nginx_note") else ""),
        f"- direct: nginx {meta['nginx']} over TLS (ECDSA P-256) on 127.0.0.1; wrk {meta['wrk']}, "
        f"{meta['duration']} s per wrk run; SSE: {meta.get('sse_rounds', 1)} rounds of {meta['sse_events']} events 20 ms apart; "
        f"{n:,} held streams",
        "",
        "| figure | ours | baseline | nginx-injector | direct | ours/baseline | ours/nginx | ours/direct | target | verdict |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---|---|",
    ]
    for row in rows:
        if row[1] == row[2] == row[3] == row[4] == "n/a":
            continue  # not measured in this run (e.g. --quick skips some)
        lines.append("| " + " | ".join(row) + " |")
    rounds = []
    for body in ("small", "40k"):
        for t in TARGETS:
            rr = get(f"wrk-{t}-{body}-c16", "rounds_rps")
            if rr:
                rounds.append(f"{t} {body}: " + ", ".join(f"{x:,.0f}" for x in rr))
    if rounds:
        lines += ["", "requests/s of the 3 rounds at 16 connections (sorted): " + "; ".join(rounds) + "."]
    # what the upstream stand-in spent per request, by the way the requests came
    ups = []
    for body in ("small", "40k"):
        for c in (16, 256):
            vals = [(t, get(f"wrk-{t}-{body}-c{c}", "upstream_cpu_us_per_req")) for t in TARGETS]
            vals = [f"{t} {v:.1f}" for t, v in vals if v is not None]
            if vals:
                ups.append(f"{body} body, {c} conn: " + ", ".join(vals))
    if ups:
        lines += ["", "CPU time per request of the upstream nginx stand-in (us), by the route the requests took: "
                  + "; ".join(ups) + "."]
    # The parent's upstream threads (the threads phase): ours, --workers 2.
    trows = []
    for body, label in (("small", "small body"), ("40k", "40 KiB body")):
        one, two = (get(f"wrk-ours{n}t-{body}-c256", "rps") for n in (1, 2))
        c1, c2 = (get(f"wrk-ours{n}t-{body}-c256", "cpu_us_per_req") for n in (1, 2))
        if one is None and two is None:
            continue
        rr = ratio(two, one)
        ok = None if rr is None else rr >= 1.3
        trows.append(f"| requests/s, 256 conn, {label} | {fmt(one)} | {fmt(two)} | {fmt_ratio(rr)} "
                     f"| >= 1.3x | {verdict(ok)} |")
        trows.append(f"| CPU per request, 256 conn, {label} (us) | {fmt(c1)} | {fmt(c2)} "
                     f"| {fmt_ratio(ratio(c2, c1))} |  | n/a |")
        for n in (1, 2):
            rr_rounds = get(f"wrk-ours{n}t-{body}-c256", "rounds_rps")
            if rr_rounds:
                errs_note = ", ".join(f"{x:,.0f}" for x in rr_rounds)
                trows.append(f"| requests/s of each round, {n} thread(s), {label} | {errs_note} |  |  |  | |")
    if trows:
        lines += ["", "Upstream threads in the parent (ours, `--workers 2`, `--upstream-threads 1` and `2`):",
                  "", "| figure | 1 thread | 2 threads | 2/1 | target | verdict |", "|---|---:|---:|---:|---|---|"]
        lines += trows
    lines += mix_table(r, meta)
    lines += ["", "Errors:" if errs else "Errors: none."] + errs
    md = "\n".join(lines) + "\n"
    sys.stdout.write(md)
    with open(out_md, "w") as f:
        f.write(md)
    with open(out_json, "w") as f:
        json.dump({"meta": meta, "results": r}, f, indent=1, sort_keys=True)


if __name__ == "__main__":
    main()
