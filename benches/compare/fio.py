#!/usr/bin/env python3
"""Runs fio with the given arguments and prints one JSON line in the form
curing-compare's `file` subcommand prints, so ci/bench.sh and report.py treat
fio like the other implementations.

usage: fio.py WORKLOAD LABEL FIO-ARGS...

IOPS and MB/s are fio's own (summed over its jobs, from its JSON output);
CPU per op is fio's user + system time (all its threads, from
getrusage(RUSAGE_CHILDREN)) over the ops; foreign_cpu_pct is the CPU other
processes used meanwhile, in % of a core, from /proc/stat.
"""

import json
import os
import resource
import subprocess
import sys
import time


def busy_ticks():
    with open("/proc/stat") as f:
        v = [int(x) for x in f.readline().split()[1:]]
    return sum(v[i] for i in (0, 1, 2, 5, 6, 7) if i < len(v))


def main():
    workload, label, args = sys.argv[1], sys.argv[2], sys.argv[3:]
    hz = os.sysconf("SC_CLK_TCK")
    r0 = resource.getrusage(resource.RUSAGE_CHILDREN)
    b0, t0 = busy_ticks(), time.monotonic()
    out = subprocess.run(["fio", "--output-format=json", *args], capture_output=True, text=True)
    wall = time.monotonic() - t0
    busy = (busy_ticks() - b0) / hz
    r1 = resource.getrusage(resource.RUSAGE_CHILDREN)
    if out.returncode != 0:
        sys.stderr.write(out.stdout + out.stderr)
        sys.exit(1)
    # fio may print warnings before the JSON document.
    doc = json.loads(out.stdout[out.stdout.index("{"):])
    jobs = doc["jobs"]
    # fio's own rates (with --group_reporting one entry sums all jobs).
    ios = iops = bw = 0
    for j in jobs:
        for d in ("read", "write"):
            ios += j[d]["total_ios"]
            iops += j[d]["iops"]
            bw += j[d]["bw_bytes"]
    cpu = (r1.ru_utime - r0.ru_utime) + (r1.ru_stime - r0.ru_stime)
    secs = ios / iops if iops else wall
    print(json.dumps({
        "bench": "file",
        "workload": workload,
        "label": label,
        "ops": ios,
        "secs": round(secs, 3),
        "iops": round(iops, 1),
        "mb_per_s": round(bw / 1e6, 1),
        "cpu_us_per_op": round(cpu * 1e6 / max(ios, 1), 3),
        "foreign_cpu_pct": round(max(busy - cpu, 0) * 100 / wall, 1),
    }, separators=(",", ":")))


if __name__ == "__main__":
    main()
