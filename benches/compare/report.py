#!/usr/bin/env python3
"""Aggregates the JSON lines that ci/bench.sh collected into markdown tables.

usage: report.py RESULTS.jsonl [--header TEXT]

Echo rows: per workload point (connections x message size) and runtime, the
median round trips/s with [min-max] over the repetitions, the median server
CPU time per round trip, median p99 latency, the load generator's CPU use,
and the ratios curing/peer, curing-8k/peer and curing-pooled/peer (round
trips/s: > 1 means curing did more; CPU per round trip: < 1 means curing
spent less). curing-8k is the plain server with an 8 KiB buffer (the README's
server): each 4 KiB message is a short read of it.
curing-pooled is the same server with one multishot receive per connection
into a shared buffer pool (`recv_pooled`), writing the received buffers back.

HTTP rows (wrk): median requests/s [min-max], wrk's p99, server CPU per
request, ratios curing/peer as for echo.

File rows: per workload, median IOPS [min-max], MB/s, CPU µs per op (the
whole process: runtime, its threads, fio's threads), and the ratios
curing/this and curing-fixed/this in IOPS (> 1: curing did more).

Idle rows: bytes of RSS per idle connection, and curing/this (< 1: curing
used less).

Micro rows (nop, spawn, sleeps): median ns/op or wall time [min-max], peak
RSS, and curing/peer (< 1 means curing is faster).

Scaling rows (echo and HTTP lines with a "threads" field, from the scale
workload): per workload, runtime and thread count, the median throughput
(round trips/s or requests/s) [min-max], server CPU per op and in all, the
load generator's CPU, the scaling (throughput with N threads / with 1 of the
same runtime), and curing/peer at the same thread count.
"""

import json
import statistics
import sys
from collections import defaultdict

# A run where other processes used more than this % of a core is suspect
# (ci/bench.sh re-runs those while its retry budget lasts).
FOREIGN_MAX = 15
ECHO_ORDER = ["curing", "curing-8k", "curing-pooled", "tokio", "monoio", "glommio", "compio", "raw"]


def med(xs):
    xs = [x for x in xs if x is not None]
    return statistics.median(xs) if xs else None


def fmt(x, spec):
    return "-" if x is None else format(x, spec)


def ratio(a, b):
    if a is None or b is None or b == 0:
        return "-"
    return f"{a / b:.2f}"


def disturbed(r):
    """Whether other processes took CPU during the run's window."""
    f = r.get("foreign_cpu_pct")
    if f is not None:
        return f > FOREIGN_MAX
    # Older lines: from 64 connections up both cores should be busy.
    if "conns" not in r:
        return False
    return r["conns"] >= 64 and (r.get("server_cpu_pct") or 0) + (r.get("client_cpu_pct") or 0) < 160


def order_key(name):
    return (ECHO_ORDER.index(name) if name in ECHO_ORDER else len(ECHO_ORDER), name)


def echo_table(rows):
    by_point = defaultdict(lambda: defaultdict(list))
    for r in rows:
        by_point[(r["conns"], r["size"])][r["label"]].append(r)
    out = [
        "| conns × size | runtime | round trips/s, median [min–max] | server CPU µs/rt | p99 µs | loadgen CPU | curing/peer rt/s | curing/peer CPU/rt | 8k/peer rt/s | 8k/peer CPU/rt | pooled/peer rt/s | pooled/peer CPU/rt |",
        "|---|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    any_disturbed = False
    for (conns, size) in sorted(by_point):
        runs = by_point[(conns, size)]
        stats = {}
        for label, rs in runs.items():
            rts = [r["rt_per_s"] for r in rs]
            stats[label] = {
                "n": len(rs),
                "rts": med(rts),
                "min": min(rts),
                "max": max(rts),
                "cpu": med([r.get("server_cpu_us_per_rt") for r in rs]),
                "p99": med([r["p99_us"] for r in rs]),
                "gen": med([r.get("client_cpu_pct") for r in rs]),
                "errors": sum(r.get("errors", 0) for r in rs),
                "disturbed": sum(1 for r in rs if disturbed(r)),
            }
        cur = stats.get("curing")
        pool = stats.get("curing-pooled")
        k8 = stats.get("curing-8k")
        for label in sorted(stats, key=order_key):
            s = stats[label]
            peer = not label.startswith("curing")
            note = f" ({s['errors']} conn errors)" if s["errors"] else ""
            if s["disturbed"]:
                note += " †" * s["disturbed"]
                any_disturbed = True
            out.append(
                f"| {conns} × {size} B | {label}{note} | {s['rts']:,.0f} [{s['min']:,.0f}–{s['max']:,.0f}] "
                f"| {fmt(s['cpu'], '.2f')} | {fmt(s['p99'], '.0f')} | {fmt(s['gen'], '.0f')}% "
                f"| {ratio(cur['rts'], s['rts']) if cur and peer else ''} "
                f"| {ratio(cur['cpu'], s['cpu']) if cur and peer else ''} "
                f"| {ratio(k8['rts'], s['rts']) if k8 and peer else ''} "
                f"| {ratio(k8['cpu'], s['cpu']) if k8 and peer else ''} "
                f"| {ratio(pool['rts'], s['rts']) if pool and peer else ''} "
                f"| {ratio(pool['cpu'], s['cpu']) if pool and peer else ''} |"
            )
    if any_disturbed:
        out.append(
            f"\n† one run (each †) during which other processes used more than {FOREIGN_MAX}% of a core "
            "(re-run budget exhausted): its numbers are suspect; medians discount a minority of such runs."
        )
    return "\n".join(out)


MICRO = {
    # bench: (peer it is compared with, what the number is, key, unit, target)
    "nop": ("raw", "ns per NOP, batches of 32", "ns_per_op", "ns", "curing ≤ 100 ns"),
    "spawn": ("tokio", "ns per task, spawn + join of 1M", "ns_per_op", "ns", ""),
    "sleeps": ("tokio", "wall time, 100k concurrent 1 ms sleeps", "wall_ms", "ms", "curing < 200 ms"),
}


def micro_table(rows):
    by = defaultdict(lambda: defaultdict(list))
    for r in rows:
        by[r["bench"]][r["label"]].append(r)
    out = [
        "| bench | runtime | median [min–max] | peak RSS | curing/peer | target |",
        "|---|---|---|---|---|---|",
    ]
    for bench in ["nop", "spawn", "sleeps"]:
        if bench not in by:
            continue
        peer, what, key, unit, target = MICRO[bench]
        meds = {}
        for label in sorted(by[bench], key=order_key):
            rs = by[bench][label]
            vals = [r[key] for r in rs]
            meds[label] = med(vals)
            rss = med([r["max_rss_kb"] for r in rs]) / 1024
            r_ = ratio(meds.get("curing"), meds[label]) if label == peer else ""
            marks = " †" * sum(1 for r in rs if disturbed(r))
            out.append(
                f"| {bench} ({what}) | {label}{marks} | {meds[label]:,.1f} {unit} [{min(vals):,.1f}–{max(vals):,.1f}] "
                f"| {rss:,.1f} MiB | {r_} | {target if label == 'curing' else ''} |"
            )
    return "\n".join(out)


def marks(rs):
    return " †" * sum(1 for r in rs if disturbed(r))


def http_table(rows):
    by = defaultdict(lambda: defaultdict(list))
    for r in rows:
        by[r["conns"]][r["label"]].append(r)
    out = [
        "| conns | server | requests/s, median [min–max] | p99 µs | server CPU µs/req | wrk CPU | curing/peer req/s | curing/peer CPU/req | pooled/peer req/s | pooled/peer CPU/req |",
        "|---|---|---|---|---|---|---|---|---|---|",
    ]
    for conns in sorted(by):
        st = {}
        for label, rs in by[conns].items():
            v = [r["req_per_s"] for r in rs]
            st[label] = (med(v), min(v), max(v), med([r.get("p99_us") for r in rs]),
                         med([r.get("server_cpu_us_per_req") for r in rs]),
                         med([r.get("client_cpu_pct") for r in rs]), rs)
        cur = st.get("curing")
        pool = st.get("curing-pooled")
        for label in sorted(st, key=order_key):
            m, lo, hi, p99, cpu, gen, rs = st[label]
            errs = sum(r.get("errors", 0) for r in rs)
            note = (f" ({errs} errors)" if errs else "") + marks(rs)
            peer = not label.startswith("curing")
            out.append(
                f"| {conns} | {label}{note} | {m:,.0f} [{lo:,.0f}–{hi:,.0f}] | {fmt(p99, '.0f')} | {fmt(cpu, '.2f')} "
                f"| {fmt(gen, '.0f')}% | {ratio(cur[0], m) if cur and peer else ''} | {ratio(cur[4], cpu) if cur and peer else ''} "
                f"| {ratio(pool[0], m) if pool and peer else ''} | {ratio(pool[4], cpu) if pool and peer else ''} |"
            )
    return "\n".join(out)


FILE_ORDER = ["curing", "curing-fixed", "raw", "tokio", "fio-io_uring", "fio-psync"]


def file_table(rows):
    by = defaultdict(lambda: defaultdict(list))
    order = []
    for r in rows:
        if r["workload"] not in order:
            order.append(r["workload"])
        by[r["workload"]][r["label"]].append(r)
    out = [
        "| workload | implementation | IOPS, median [min–max] | MB/s | CPU µs/op | curing/this | curing-fixed/this |",
        "|---|---|---|---|---|---|---|",
    ]
    key = lambda l: (FILE_ORDER.index(l) if l in FILE_ORDER else 99, l)
    for w in order:
        st = {}
        for label, rs in by[w].items():
            v = [r["iops"] for r in rs]
            st[label] = (med(v), min(v), max(v), med([r["mb_per_s"] for r in rs]),
                         med([r.get("cpu_us_per_op") for r in rs]), rs)
        cur, fix = st.get("curing"), st.get("curing-fixed")
        for label in sorted(st, key=key):
            m, lo, hi, mb, cpu, rs = st[label]
            out.append(
                f"| {w} | {label}{marks(rs)} | {m:,.0f} [{lo:,.0f}–{hi:,.0f}] | {mb:,.0f} | {fmt(cpu, '.2f')} "
                f"| {ratio(cur[0], m) if cur and label != 'curing' else ''} "
                f"| {ratio(fix[0], m) if fix and label != 'curing-fixed' else ''} |"
            )
    return "\n".join(out)


IDLE_ORDER = ["curing", "curing-pooled", "tokio", "monoio", "glommio", "compio"]


def idle_table(rows):
    by = defaultdict(list)
    for r in rows:
        by[r["label"]].append(r)
    out = [
        "| server | conns | RSS bytes per idle connection, median [min–max] | RSS with all open | accept time | curing/this | curing-pooled/this |",
        "|---|---|---|---|---|---|---|",
    ]
    key = lambda l: (IDLE_ORDER.index(l) if l in IDLE_ORDER else 99, l)
    meds = {l: med([r["bytes_per_conn"] for r in rs]) for l, rs in by.items()}
    for label in sorted(by, key=key):
        rs = by[label]
        v = [r["bytes_per_conn"] for r in rs]
        out.append(
            f"| {label} | {rs[0]['conns']:,} | {meds[label]:,.0f} [{min(v):,.0f}–{max(v):,.0f}] "
            f"| {med([r['rss_after_kb'] for r in rs]) / 1024:,.1f} MiB | {med([r['accept_ms'] for r in rs]):,.0f} ms "
            f"| {ratio(meds.get('curing'), meds[label]) if label != 'curing' else ''} "
            f"| {ratio(meds.get('curing-pooled'), meds[label]) if label != 'curing-pooled' else ''} |"
        )
    return "\n".join(out)


SCALE_ORDER = ["curing", "tokio", "monoio", "glommio", "compio"]


def scale_table(rows):
    """Echo and HTTP lines of the scale workload (they carry "threads")."""
    by = defaultdict(lambda: defaultdict(list))
    for r in rows:
        # (0, conns, size) for echo points, (1, conns, 0) for wrk: echo first.
        w = (0, r["conns"], r["size"]) if r["bench"] == "echo" else (1, r["conns"], 0)
        by[w][(r["label"], r["threads"])].append(r)
    out = [
        "| workload | runtime | threads | ops/s, median [min–max] | server CPU µs/op | server CPU | load gen CPU "
        "| scaling (N/1 threads) | curing/peer ops/s | curing/peer CPU/op |",
        "|---|---|---|---|---|---|---|---|---|---|",
    ]
    key = lambda k: (SCALE_ORDER.index(k[0]) if k[0] in SCALE_ORDER else 99, k[0], k[1])
    for w in sorted(by):
        kind, conns, size = w
        name = f"echo {conns} × {size} B" if kind == 0 else f"HTTP {conns} conns"
        tp, cpu_key = ("rt_per_s", "server_cpu_us_per_rt") if kind == 0 else ("req_per_s", "server_cpu_us_per_req")
        st = {}
        for k, rs in by[w].items():
            v = [r[tp] for r in rs]
            st[k] = {
                "m": med(v), "lo": min(v), "hi": max(v),
                "cpu": med([r.get(cpu_key) for r in rs]),
                "srv": med([r.get("server_cpu_pct") for r in rs]),
                "gen": med([r.get("client_cpu_pct") for r in rs]),
                "errors": sum(r.get("errors", 0) for r in rs),
                "rs": rs,
            }
        for k in sorted(st, key=key):
            label, threads = k
            s = st[k]
            one = st.get((label, 1))
            cur = st.get(("curing", threads))
            peer = label != "curing"
            note = (f" ({s['errors']} errors)" if s["errors"] else "") + marks(s["rs"])
            out.append(
                f"| {name} | {label}{note} | {threads} | {s['m']:,.0f} [{s['lo']:,.0f}–{s['hi']:,.0f}] "
                f"| {fmt(s['cpu'], '.2f')} | {fmt(s['srv'], '.0f')}% | {fmt(s['gen'], '.0f')}% "
                f"| {ratio(s['m'], one['m']) if one and threads != 1 else ''} "
                f"| {ratio(cur['m'], s['m']) if cur and peer else ''} "
                f"| {ratio(cur['cpu'], s['cpu']) if cur and peer else ''} |"
            )
    return "\n".join(out)


def main():
    args = sys.argv[1:]
    if not args:
        print(__doc__, file=sys.stderr)
        sys.exit(2)
    header = ""
    if "--header" in args:
        i = args.index("--header")
        header = args[i + 1]
        del args[i : i + 2]
    rows = []
    with open(args[0]) as f:
        for line in f:
            line = line.strip()
            if line.startswith("{"):
                rows.append(json.loads(line))
    discarded = [r for r in rows if r.get("discarded")]
    rows = [r for r in rows if not r.get("discarded")]
    scale = [r for r in rows if r["bench"] in ("echo", "http") and "threads" in r]
    rows = [r for r in rows if "threads" not in r]
    echo = [r for r in rows if r["bench"] == "echo"]
    micro = [r for r in rows if r["bench"] in MICRO]
    parts = []
    if header:
        parts.append(header)
    if echo:
        parts.append("### Echo ping-pong (server on core 0, curing load generator on core 1)\n")
        parts.append(echo_table(echo))
    http = [r for r in rows if r["bench"] == "http"]
    if http:
        parts.append("\n### HTTP/1.1 hello world under wrk (server on core 0, `wrk -t1` on core 1)\n")
        parts.append(http_table(http))
    files = [r for r in rows if r["bench"] == "file"]
    if files:
        parts.append("\n### Files (one process pinned to core 0; 1 GiB file for random reads)\n")
        parts.append(file_table(files))
    idle = [r for r in rows if r["bench"] == "idle"]
    if idle:
        parts.append("\n### Idle connections (server on core 0, clients in a process on core 1)\n")
        parts.append(idle_table(idle))
    if scale:
        cpus = " / ".join(sorted({r.get("server_cpus", "0,1") for r in scale}))
        parts.append(
            f"\n### Thread-per-core scaling (server on cores {cpus}, load generator unpinned)\n\n"
            "An op is a round trip (echo) or a request (HTTP, `wrk -t1`). With 2 threads curing, monoio, glommio "
            "and compio run a runtime and a `SO_REUSEPORT` listener per thread; tokio is its current-thread runtime "
            "at 1 thread and its multi-thread runtime (work stealing) at 2. The load generator is one thread "
            "sharing the server's cores with it (on a two-core machine): at 2 server threads they compete. Scaling: ops/s with N "
            "threads / with 1 (same runtime); curing/peer at the same thread count.\n"
        )
        parts.append(scale_table(scale))
    if any(disturbed(r) for r in http + files + micro + scale):
        parts.append(f"\n† a run during which other processes used more than {FOREIGN_MAX}% of a core (re-run budget exhausted).")
    if micro:
        parts.append("\n### Runtime overhead (one process per run, pinned to core 0)\n")
        parts.append(micro_table(micro))
    if discarded:
        parts.append(
            f"\n{len(discarded)} run(s) were disturbed by other processes (> {FOREIGN_MAX}% of a core) "
            "and run again; the tables use the re-runs."
        )
    print("\n".join(parts))


if __name__ == "__main__":
    main()
