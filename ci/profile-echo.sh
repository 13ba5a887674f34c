#!/usr/bin/env bash
# Where an echo server's CPU goes, per round trip: profiles one echo point
# (connections × message size) for each runtime named, side by side.
#
#   ci/profile-echo.sh                          # curing tokio raw at 1 × 64 B
#   CONNS=1 SIZE=4096 ci/profile-echo.sh curing curing-pooled tokio
#
# For each runtime (server on core 0, load generator on core 1, as in
# ci/bench.sh) two runs of SECS seconds (default 5):
#   1. `perf record -g` on the server: its CPU per round trip (from /proc),
#      the share in user space, and the share under a few kernel paths
#      (inclusive): the send (which, on loopback, also delivers the bytes and
#      wakes the load generator), waking the peer alone, receiving, sleeping,
#      and io_uring's own submission and task-work machinery;
#   2. the server under callgrind: user-space instructions per round trip.
# Installs perf and valgrind with apt-get when they are missing. A runtime
# valgrind cannot run shows n/a there.
set -euo pipefail

cd "$(dirname "$0")/.."
# shellcheck source=ci/lib.sh
. ci/lib.sh
BENCH=$PWD/benches/compare
BIN=$BENCH/target/release/curing-compare
CONNS=${CONNS:-1}
SIZE=${SIZE:-64}
SECS=${SECS:-5}
RUNTIMES=("$@")
((${#RUNTIMES[@]})) || RUNTIMES=(curing tokio raw)

need=()
command -v perf >/dev/null || need+=(linux-perf)
command -v valgrind >/dev/null || need+=(valgrind)
apt_install "${need[@]}"
echo "== building benches/compare (release)" >&2
cargo build --release --quiet --manifest-path "$BENCH/Cargo.toml"

TMP=$(mktemp -d)
SERVER_PID=
cleanup() {
  [[ -z $SERVER_PID ]] || kill -9 "$SERVER_PID" 2>/dev/null || true
  rm -rf "$TMP"
}
trap cleanup EXIT
PORT=$((20000 + RANDOM % 10000))

# serve RUNTIME [WRAPPER...]: starts the server on core 0, waits for its port.
serve() {
  local rt=$1
  shift
  PORT=$((PORT + 1))
  taskset -c 0 "$@" "$BIN" serve "$rt" "127.0.0.1:$PORT" >/dev/null 2>"$TMP/server.err" &
  SERVER_PID=$!
  for _ in $(seq 100); do
    if (exec 3<>"/dev/tcp/127.0.0.1/$PORT") 2>/dev/null; then return 0; fi
    kill -0 "$SERVER_PID" 2>/dev/null || return 1
    sleep 0.1
  done
  return 1
}

stop() {
  kill -9 "$SERVER_PID" 2>/dev/null || true
  wait "$SERVER_PID" 2>/dev/null || true
  SERVER_PID=
}

loadgen() {
  taskset -c 1 "$BIN" loadgen --addr "127.0.0.1:$PORT" --conns "$CONNS" --size "$SIZE" \
    --duration "$1" --warmup 0 --server-pid "$SERVER_PID" 2>/dev/null | head -1
}

# The kernel paths reported, as perf's inclusive symbol names. `send` is
# io_uring's io_send or the sendto syscall; both end in tcp_sendmsg.
SUMMARY='
import re, sys
rt_s, cpu = float(sys.argv[1]), float(sys.argv[2])
incl, user = {}, 0.0
for line in open(sys.argv[3]):
    m = re.match(r"\s+([\d.]+)%\s+([\d.]+)%\s+\[(.)\]\s+(\S+)", line)
    if not m:
        continue
    if m.group(3) == ".":
        user += float(m.group(2))
    incl.setdefault(m.group(4), float(m.group(1)))
def share(*names):
    return max([incl.get(n, 0.0) for n in names])
cols = [
    share("tcp_sendmsg"),
    share("sock_def_readable"),
    share("tcp_recvmsg"),
    share("schedule"),
    share("io_submit_sqes") - share("io_send", "io_sendmsg"),
    share("__io_run_local_work", "tctx_task_work"),
]
print("%.0f|%.2f|%.1f%%|%s" % (rt_s, cpu, user, "|".join("%.1f%%" % c for c in cols)))
'

echo "| runtime | rt/s | server CPU µs/rt | user | send | wake peer | recv | sleep | io_uring submit | io_uring task work | user instr/rt |"
echo "|---|---|---|---|---|---|---|---|---|---|---|"
for rt in "${RUNTIMES[@]}"; do
  # 1. perf: the kernel paths.
  if ! serve "$rt"; then
    echo "| $rt | did not start: $(head -c 200 "$TMP/server.err" | tr '\n|' '  ') |"
    stop
    continue
  fi
  taskset -c 1 perf record -q -g -F 10000 -p "$SERVER_PID" -o "$TMP/perf.data" -- sleep $((SECS + 1)) 2>/dev/null &
  PERF=$!
  sleep 0.5
  json=$(loadgen "$SECS")
  wait $PERF || true
  stop
  perf report -i "$TMP/perf.data" --children --sort sym --stdio -g none >"$TMP/report" 2>/dev/null
  row=$(python3 -c "$SUMMARY" "$(jget rt_per_s "$json")" "$(jget server_cpu_us_per_rt "$json")" "$TMP/report")

  # 2. callgrind: user instructions per round trip, counted from the load's
  # start (the counters are zeroed once the server listens).
  instr=n/a
  if serve "$rt" valgrind --tool=callgrind --callgrind-out-file="$TMP/cg.out"; then
    callgrind_control -z "$SERVER_PID" >/dev/null 2>&1 || true
    json2=$(loadgen "$SECS")
    callgrind_control -d "$SERVER_PID" >/dev/null 2>&1 || true
    rts=$(jget round_trips "$json2")
    total=$(cat "$TMP"/cg.out.* 2>/dev/null | sed -n 's/^summary: *//p' | head -1)
    if [[ -n $total && -n $rts && $rts -gt 0 ]]; then instr=$((total / rts)); fi
  fi
  stop
  rm -f "$TMP"/cg.out*
  echo "| $rt | ${row//|/ | } | $instr |"
done
echo
echo "Shares are of the server's perf samples (inclusive: a path's share"
echo "contains what it calls). CPU per round trip is from /proc during the"
echo "perf run (perf adds a little). $CONNS × $SIZE B, $SECS s per run."
