#!/usr/bin/env bash
# Benchmarks curing side by side with tokio (current-thread), monoio, glommio,
# compio and a hand-written io_uring loop, and prints the table.
#
#   ci/bench.sh            # full run: 6 echo points x 6 runtimes x 5 reps, 5 s each (~20-25 min)
#   ci/bench.sh --quick    # 3 echo points, 2 s runs, 3 reps: under 5 minutes
#
# Env: REPS (default 5, --quick 3), DURATION / WARMUP (seconds per run) and
# MACHINE_WARMUP (seconds of discarded load before the first run, default 10),
# FOREIGN_MAX and RETRIES (re-running runs disturbed by other processes, see
# below) override the defaults.
#
# Echo: each server runs pinned to core 0, the curing load generator to core
# 1. The load generator reads the server's utime+stime from /proc/<pid>/stat
# at the start and end of the measured window, giving server CPU per round
# trip. Repetitions are interleaved (every runtime once per point per rep) and
# the runtime order is rotated each repetition.
#
# Output: the table on stdout, raw JSON lines in
# benches/compare/results/latest.jsonl, the table in .../latest.md.
set -euo pipefail

cd "$(dirname "$0")/.."
ROOT=$PWD
BENCH=$ROOT/benches/compare
RESULTS=$BENCH/results
BIN=$BENCH/target/release/curing-compare

QUICK=0
for a in "$@"; do
  case $a in
    --quick) QUICK=1 ;;
    -h | --help) sed -n '2,21p' "$0"; exit 0 ;;
    *) echo "bench.sh: unknown argument $a" >&2; exit 2 ;;
  esac
done

RUNTIMES=(curing tokio monoio glommio compio raw)
if ((QUICK)); then
  POINTS=("1 64" "64 4096" "512 64")
  DURATION=${DURATION:-2}
  WARMUP=${WARMUP:-0.5}
  REPS=${REPS:-3}
else
  POINTS=("1 64" "1 4096" "64 64" "64 4096" "512 64" "512 4096")
  DURATION=${DURATION:-5}
  WARMUP=${WARMUP:-1}
  REPS=${REPS:-5}
fi
MACHINE_WARMUP=${MACHINE_WARMUP:-10}
# A run during which other processes used more than FOREIGN_MAX% of a core is
# run again (at most twice), while the RETRIES budget lasts.
FOREIGN_MAX=${FOREIGN_MAX:-15}
RETRIES=${RETRIES:-$(((QUICK)) && echo 12 || echo 60)}

if (($(nproc) < 2)); then
  echo "bench.sh: needs 2 cores (server on core 0, load generator on core 1)" >&2
  exit 1
fi

echo "== building benches/compare (release)" >&2
cargo build --release --quiet --manifest-path "$BENCH/Cargo.toml"

mkdir -p "$RESULTS"
JSONL=$RESULTS/latest.jsonl
LOG=$RESULTS/latest.log
: >"$JSONL"
: >"$LOG"

SERVER_PID=
cleanup() {
  if [[ -n $SERVER_PID ]]; then
    kill "$SERVER_PID" 2>/dev/null || true
    wait "$SERVER_PID" 2>/dev/null || true
  fi
}
trap cleanup EXIT

# A fresh port per run (below the ephemeral range, 32768+, that the load
# generator's own sockets use): no TIME_WAIT or lingering-listener surprises.
PORT=$((20000 + RANDOM % 10000))

# A number field of a flat JSON line: jget KEY LINE.
jget() { sed -n "s/.*\"$1\":\([^,}]*\).*/\1/p" <<<"$2"; }

# Whether other processes used more than FOREIGN_MAX% of a core during the
# run a JSON line describes.
disturbed() {
  awk -v f="$(jget foreign_cpu_pct "$1")" -v m="$FOREIGN_MAX" 'BEGIN { exit !(f != "" && f != "null" && f + 0 > m) }'
}

# Appends `"rep":N` to a JSON object line.
tag() { sed -e "s/}\$/,\"rep\":$1}/"; }

start=$(date +%s)

# Warm the machine up first. On this kind of VM the first seconds of load
# after an idle spell run at half speed (measured: ~80k rt/s for ~8 s, then a
# steady ~180k for the same server), which would land on rep 1 only.
PORT=$((PORT + 1))
taskset -c 0 "$BIN" serve raw "127.0.0.1:$PORT" 2>>"$LOG" &
SERVER_PID=$!
echo "== warming up for ${MACHINE_WARMUP}s (discarded)" >&2
taskset -c 1 "$BIN" loadgen --addr "127.0.0.1:$PORT" --conns 64 --size 64 \
  --duration "$MACHINE_WARMUP" --warmup 0 >/dev/null 2>>"$LOG" || true
cleanup
SERVER_PID=

for ((rep = 0; rep < REPS; rep++)); do
  # Rotate the runtime order each repetition.
  order=("${RUNTIMES[@]:rep % ${#RUNTIMES[@]}}" "${RUNTIMES[@]:0:rep % ${#RUNTIMES[@]}}")
  for point in "${POINTS[@]}"; do
    read -r conns size <<<"$point"
    for rt in "${order[@]}"; do
      for ((attempt = 0; ; attempt++)); do
        PORT=$((PORT + 1))
        addr=127.0.0.1:$PORT
        taskset -c 0 "$BIN" serve "$rt" "$addr" 2>>"$LOG" &
        SERVER_PID=$!
        printf '== rep %d/%d  %3d conns x %4d B  %-8s ' $((rep + 1)) "$REPS" "$conns" "$size" "$rt" >&2
        ok=1
        line=$(taskset -c 1 "$BIN" loadgen --addr "$addr" --conns "$conns" --size "$size" \
          --duration "$DURATION" --warmup "$WARMUP" --server-pid "$SERVER_PID" --label "$rt" 2>>"$LOG") || ok=0
        cleanup
        SERVER_PID=
        if ((!ok)); then
          echo "FAILED (see $LOG)" >&2
          if [[ -n $line ]]; then echo "$line" | tag "$rep" >>"$JSONL"; fi
          break
        fi
        foreign=$(jget foreign_cpu_pct "$line")
        echo "$(jget rt_per_s "$line") rt/s  $(jget server_cpu_us_per_rt "$line") µs/rt  p99 $(jget p99_us "$line") µs  (others used ${foreign}% CPU)" >&2
        # Another process (a build, say) took more than FOREIGN_MAX% of a
        # core during the window: keep the line marked discarded, run again.
        if disturbed "$line" && ((attempt < 2 && RETRIES > 0)); then
          RETRIES=$((RETRIES - 1))
          echo "$line" | sed -e 's/}$/,"discarded":true}/' | tag "$rep" >>"$JSONL"
          echo "   ... disturbed by other processes; again ($RETRIES retries left)" >&2
          sleep 1
          continue
        fi
        echo "$line" | tag "$rep" >>"$JSONL"
        break
      done
    done
  done
done

# Runtime overhead: one process per measurement, pinned to core 0.
for ((rep = 0; rep < REPS; rep++)); do
  for job in "nop curing" "nop raw" "spawn curing" "spawn tokio" "sleeps curing" "sleeps tokio"; do
    read -r bench rt <<<"$job"
    # Alternate the order of each pair per repetition.
    if ((rep % 2)); then
      case $rt in curing) rt=$([[ $bench == nop ]] && echo raw || echo tokio) ;; *) rt=curing ;; esac
    fi
    for ((attempt = 0; ; attempt++)); do
      printf '== rep %d/%d  %-6s %-8s ' $((rep + 1)) "$REPS" "$bench" "$rt" >&2
      if ! line=$(taskset -c 0 "$BIN" "$bench" "$rt" 2>>"$LOG"); then
        echo "FAILED (see $LOG)" >&2
        break
      fi
      echo "$line" >&2
      if disturbed "$line" && ((attempt < 2 && RETRIES > 0)); then
        RETRIES=$((RETRIES - 1))
        echo "$line" | sed -e 's/}$/,"discarded":true}/' | tag "$rep" >>"$JSONL"
        echo "   ... disturbed by other processes; again ($RETRIES retries left)" >&2
        sleep 1
        continue
      fi
      echo "$line" | tag "$rep" >>"$JSONL"
      break
    done
  done
done
elapsed=$(($(date +%s) - start))

mode=$([[ $QUICK == 1 ]] && echo "ci/bench.sh --quick" || echo "ci/bench.sh")
header="## curing vs peers — $(date -u +%Y-%m-%d)

Command: \`$mode\` (REPS=$REPS, ${DURATION} s runs after ${WARMUP} s warmup; took ${elapsed} s).
Machine: $(nproc) cores ($(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //')), Linux $(uname -r), $(rustc --version).
"
python3 "$BENCH/report.py" "$JSONL" --header "$header" | tee "$RESULTS/latest.md"
