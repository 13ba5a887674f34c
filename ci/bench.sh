#!/usr/bin/env bash
# Benchmarks curing side by side with tokio (current-thread), monoio, glommio,
# compio and a hand-written io_uring loop, and prints the table.
#
#   ci/bench.sh            # full run: every workload, more points, 5 reps (~40 min, scale ~15 more)
#   ci/bench.sh --quick    # fewer points, shorter runs: under 5 minutes (scale ~4 more), plus the tree copies
#
# Workloads, in order: echo ping-pong; HTTP/1.1 hello world under wrk; 4 KiB
# random file reads (QD 1 and 32, page cache and O_DIRECT) against fio;
# sequential 1 MiB file reads and writes; idle connections (RSS per
# connection with 10,000 open); runtime overhead (nop, spawn, sleeps); tree
# copy (examples/cptree/ against cp -a, xcp and fcp: ci/bench-cptree.sh,
# with REPS2 repetitions, --quick: the small and big trees only);
# thread-per-core scaling (echo and HTTP servers on 1 and 2 threads).
# ONLY="echo http file seq idle micro cptree scale" runs a subset. Installs wrk and fio
# with apt-get when they are missing. Test files live in $FILE_DIR
# (default /var/tmp/curing-bench: not /tmp, which may be tmpfs); the 1 GiB
# random-read file is kept between runs.
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
# Scale: each server of SCALE_RUNTIMES (default: curing tokio monoio glommio)
# with 1 and 2 threads (`--threads N`: thread-per-core, tokio its
# multi-thread runtime), allowed on both cores (taskset -c 0,1), its load
# generator unpinned and competing with it for the two cores: echo at 64 x
# 4096 B and 512 x 64 B (--quick: 512 x 64 B), HTTP with wrk at 256
# connections (--quick: 64); REPS repetitions, interleaved as for echo.
# SCALE_THREADS (default "1 2") and SCALE_CPUS (the server's cores, default
# 0,1) for a bigger machine.
#
# CARGO_TARGET_DIR, when set, is where the binaries are built (default:
# benches/compare/target, and .../target/main for examples/http).
#
# Output: the tables on stdout, raw JSON lines in
# benches/compare/results/latest.jsonl, the tables in .../latest.md (tree
# copy: cptree.jsonl and cptree.md there).
set -euo pipefail

cd "$(dirname "$0")/.."
# shellcheck source=ci/lib.sh
. ci/lib.sh
ROOT=$PWD
BENCH=$ROOT/benches/compare
RESULTS=$BENCH/results
# CARGO_TARGET_DIR (a shared build cache) when set, else the bench crate's.
BIN=${CARGO_TARGET_DIR:-$BENCH/target}/release/curing-compare

QUICK=0
for a in "$@"; do
  case $a in
    --quick) QUICK=1 ;;
    -h | --help) sed -n '2,45p' "$0"; exit 0 ;;
    *) echo "bench.sh: unknown argument $a" >&2; exit 2 ;;
  esac
done

RUNTIMES=(curing curing-pooled tokio monoio glommio compio raw)
# Echo also runs curing-8k: the plain server with an 8 KiB buffer, as the
# README writes it (each 4 KiB message is a short read of it).
ECHO_RUNTIMES=(curing curing-8k curing-pooled tokio monoio glommio compio raw)
DEFAULT_ONLY="echo http file seq idle micro cptree scale"
ONLY=${ONLY:-$DEFAULT_ONLY}
FILE_DIR=${FILE_DIR:-/var/tmp/curing-bench}
if ((QUICK)); then
  POINTS=("1 64" "64 4096" "512 64")
  DURATION=${DURATION:-2}
  WARMUP=${WARMUP:-0.5}
  REPS=${REPS:-3}
  # The other workloads: fewer repetitions and shorter runs.
  REPS2=${REPS2:-2}
  HTTP_CONNS=(64)
  HTTP_SECS=${HTTP_SECS:-2}
  SCALE_POINTS=("512 64")
  SCALE_HTTP_CONNS=64
  FILE_MS=${FILE_MS:-500}
  SEQ_MB=${SEQ_MB:-256}
  IDLE_REPS=${IDLE_REPS:-1}
else
  POINTS=("1 64" "1 4096" "64 64" "64 4096" "512 64" "512 4096")
  DURATION=${DURATION:-5}
  WARMUP=${WARMUP:-1}
  REPS=${REPS:-5}
  REPS2=${REPS2:-$REPS}
  HTTP_CONNS=(16 256)
  HTTP_SECS=${HTTP_SECS:-5}
  SCALE_POINTS=("64 4096" "512 64")
  SCALE_HTTP_CONNS=256
  FILE_MS=${FILE_MS:-3000}
  SEQ_MB=${SEQ_MB:-2048}
  IDLE_REPS=${IDLE_REPS:-3}
fi
IDLE_CONNS=${IDLE_CONNS:-10000}
SCALE_CPUS=${SCALE_CPUS:-0,1}
FILE_SECS=$(awk -v ms="$FILE_MS" 'BEGIN { print ms / 1000 }')
want() { [[ " $ONLY " == *" $1 "* ]]; }
# A workload name that is not one of them is a mistake, not an empty run.
for w in $ONLY; do
  case $w in
    echo | http | file | seq | idle | micro | scale | cptree) ;;
    *) echo "bench.sh: unknown workload '$w' in ONLY (echo http file seq idle micro scale cptree)" >&2; exit 2 ;;
  esac
done
# Whether any workload of benches/compare (all but cptree) runs.
COMPARE=0
for w in echo http file seq idle micro scale; do if want "$w"; then COMPARE=1; fi; done
MACHINE_WARMUP=${MACHINE_WARMUP:-10}
# A run during which other processes used more than FOREIGN_MAX% of a core is
# run again (at most twice), while the RETRIES budget lasts.
FOREIGN_MAX=${FOREIGN_MAX:-15}
RETRIES=${RETRIES:-$( ((QUICK)) && echo 12 || echo 60)}

if want cptree && ((EUID != 0)); then
  echo "bench.sh: the cptree part needs root (mount, drop_caches): run as root, or leave it out of ONLY" >&2
  exit 1
fi

if (($(nproc) < 2)); then
  echo "bench.sh: needs 2 cores (server on core 0, load generator on core 1)" >&2
  exit 1
fi

# Tools from Debian's packages.
need_pkgs=()
if { want http || want scale; } && ! command -v wrk >/dev/null; then need_pkgs+=(wrk); fi
if { want file || want seq; } && ! command -v fio >/dev/null; then need_pkgs+=(fio); fi
apt_install "${need_pkgs[@]}"

if ((COMPARE)); then
  echo "== building benches/compare (release)" >&2
  cargo build --release --quiet --manifest-path "$BENCH/Cargo.toml"
fi
# curing's HTTP server is the main crate's example (its own target dir,
# unless CARGO_TARGET_DIR is set).
HTTP_TARGET=${CARGO_TARGET_DIR:-$BENCH/target/main}
HTTP_BIN=$HTTP_TARGET/release/examples/http
if want http || want scale; then
  echo "== building examples/http (release)" >&2
  cargo build --release --quiet --example http --target-dir "$HTTP_TARGET"
fi

mkdir -p "$RESULTS"
JSONL=$RESULTS/latest.jsonl
LOG=$RESULTS/latest.log
if ((COMPARE)); then
  : >"$JSONL"
  : >"$LOG"
fi

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


# Whether other processes used more than FOREIGN_MAX% of a core during the
# run a JSON line describes.
disturbed() {
  awk -v f="$(jget foreign_cpu_pct "$1")" -v m="$FOREIGN_MAX" 'BEGIN { exit !(f != "" && f != "null" && f + 0 > m) }'
}

# Appends `"rep":N` to a JSON object line.
tag() { sed -e "s/}\$/,\"rep\":$1}/"; }

start=$(date +%s)

# Warm the machine up first. On this kind of VM the first seconds of load
# after an idle spell run slower (figures: benches/compare/README.md,
# "Noise", "A cold VM"), which would land on rep 1 only.
if ((COMPARE)); then
  PORT=$((PORT + 1))
  taskset -c 0 "$BIN" serve raw "127.0.0.1:$PORT" 2>>"$LOG" &
  SERVER_PID=$!
  echo "== warming up for ${MACHINE_WARMUP}s (discarded)" >&2
  taskset -c 1 "$BIN" loadgen --addr "127.0.0.1:$PORT" --conns 64 --size 64 \
    --duration "$MACHINE_WARMUP" --warmup 0 >/dev/null 2>>"$LOG" || true
  cleanup
  SERVER_PID=
fi

# measure DESC FN ARGS...: runs FN (which sets LINE to a JSON line, or
# fails), appends LINE tagged with the repetition $rep, and runs it again
# (at most twice, within RETRIES) when other processes disturbed it.
measure() {
  local desc=$1 attempt
  shift
  for ((attempt = 0; ; attempt++)); do
    printf '== rep %d/%d  %-44s ' $((rep + 1)) "${MEASURE_REPS:-$REPS2}" "$desc" >&2
    LINE=
    if ! "$@" 2>>"$LOG"; then
      echo "FAILED (see $LOG)" >&2
      if [[ -n $LINE ]]; then echo "$LINE" | tag "$rep" >>"$JSONL"; fi
      return 0
    fi
    echo "$LINE" | cut -c1-150 >&2
    if disturbed "$LINE" && ((attempt < 2 && RETRIES > 0)); then
      RETRIES=$((RETRIES - 1))
      echo "$LINE" | sed -e 's/}$/,"discarded":true}/' | tag "$rep" >>"$JSONL"
      echo "   ... disturbed by other processes; again ($RETRIES retries left)" >&2
      sleep 1
      continue
    fi
    echo "$LINE" | tag "$rep" >>"$JSONL"
    return 0
  done
}

# Starts server "$@" pinned to SERVER_CPUS (default core 0) on a fresh port;
# sets ADDR, SERVER_PID.
start_server() {
  PORT=$((PORT + 1))
  ADDR=127.0.0.1:$PORT
  taskset -c "${SERVER_CPUS:-0}" "$@" "$ADDR" 2>>"$LOG" >/dev/null &
  SERVER_PID=$!
}

# wait_listeners N: waits (at most 5 s) until N sockets listen on PORT (a
# server with a SO_REUSEPORT listener per thread binds them one by one, and
# connections made before the last one is there would all land on the
# first ones).
wait_listeners() {
  local hex n i
  hex=$(printf ':%04X' "$PORT")
  for ((i = 0; i < 250; i++)); do
    n=$(awk -v p="$hex" '$4 == "0A" && substr($2, length($2) - 4) == p' /proc/net/tcp | wc -l)
    ((n >= $1)) && return 0
    sleep 0.02
  done
  echo "bench.sh: $n of $1 listeners on port $PORT after 5 s" >>"$LOG"
}
stop_server() {
  cleanup
  SERVER_PID=
}

# One wrk run against runtime $1's HTTP server with $2 connections.
http_run() {
  local ok=0
  case $1 in
    curing) start_server "$HTTP_BIN" ;;
    curing-pooled) start_server "$HTTP_BIN" --pooled ;;
    *) start_server "$BIN" http "$1" ;;
  esac
  LINE=$(taskset -c 1 "$BIN" wrk --url "http://$ADDR/" --conns "$2" --duration "$HTTP_SECS" \
    --server-pid "$SERVER_PID" --label "$1") || ok=1
  stop_server
  return $ok
}

# One file run: file_run WORKLOAD-NAME IMPL ARGS... (curing-compare file, or fio).
file_run() {
  local workload=$1 impl=$2
  shift 2
  case $impl in
    fio-*) LINE=$(taskset -c 0 python3 "$BENCH/fio.py" "$workload" "$impl" "$@") ;;
    *) LINE=$(taskset -c 0 "$BIN" file "$impl" "$@") ;;
  esac
}

# fio arguments for a random-read point: fio_rand ENGINE QD DIRECT.
# --invalidate=0: by default fio drops the file's page cache before a job,
# which would turn the page-cache points into disk reads (for everyone after).
fio_rand() {
  echo --name=rand --filename="$RAND_FILE" --rw=randread --bs=4k --ioengine="$1" --iodepth="$2" \
    --direct="$3" --time_based --runtime="${FILE_MS}ms" --norandommap --randrepeat=0 --invalidate=0
}

idle_run() { LINE=$(taskset -c 0 "$BIN" idle "$1" "$IDLE_CONNS"); }

# Scale runs: the server with $2 threads on SCALE_CPUS, its load generator
# (or wrk) unpinned; the JSON line gets "threads" and "server_cpus".
# tokio's multi-thread server has one listener, the others one per thread.
scale_wait() { wait_listeners "$([[ $1 == tokio ]] && echo 1 || echo "$2")"; }
scale_tag() { LINE=$(sed -e "s/}\$/,\"threads\":$1,\"server_cpus\":\"$SCALE_CPUS\"}/" <<<"$LINE"); }
# scale_echo_run RT THREADS CONNS SIZE
scale_echo_run() {
  local ok=0
  SERVER_CPUS=$SCALE_CPUS start_server "$BIN" serve "$1" --threads "$2"
  scale_wait "$1" "$2"
  LINE=$("$BIN" loadgen --addr "$ADDR" --conns "$3" --size "$4" --duration "$DURATION" \
    --warmup "$WARMUP" --server-pid "$SERVER_PID" --label "$1") || ok=1
  stop_server
  scale_tag "$2"
  return $ok
}
# scale_http_run RT THREADS CONNS
scale_http_run() {
  local ok=0
  case $1 in
    curing) SERVER_CPUS=$SCALE_CPUS start_server "$HTTP_BIN" --threads "$2" ;;
    *) SERVER_CPUS=$SCALE_CPUS start_server "$BIN" http "$1" --threads "$2" ;;
  esac
  scale_wait "$1" "$2"
  LINE=$("$BIN" wrk --url "http://$ADDR/" --conns "$3" --duration "$HTTP_SECS" \
    --server-pid "$SERVER_PID" --label "$1") || ok=1
  stop_server
  scale_tag "$2"
  return $ok
}

for ((rep = 0; rep < REPS; rep++)); do
  want echo || break
  # Rotate the runtime order each repetition.
  order=("${ECHO_RUNTIMES[@]:rep % ${#ECHO_RUNTIMES[@]}}" "${ECHO_RUNTIMES[@]:0:rep % ${#ECHO_RUNTIMES[@]}}")
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

# HTTP/1.1 hello world under wrk (one thread, pinned to core 1; the server
# on core 0). curing: examples/http.rs; the others: src/http.rs.
if want http; then
  for ((rep = 0; rep < REPS2; rep++)); do
    order=("${RUNTIMES[@]:rep % ${#RUNTIMES[@]}}" "${RUNTIMES[@]:0:rep % ${#RUNTIMES[@]}}")
    for conns in "${HTTP_CONNS[@]}"; do
      for rt in "${order[@]}"; do
        measure "http $conns conns  $rt" http_run "$rt" "$conns"
      done
    done
  done
fi

# Files: 4 KiB random reads on a 1 GiB file, sequential 1 MiB reads and
# writes, each implementation pinned to core 0.
if want file || want seq; then
  mkdir -p "$FILE_DIR"
  RAND_FILE=$FILE_DIR/rand-1g.dat
  SEQ_FILE=$FILE_DIR/seq.dat
  if [[ ! -f $RAND_FILE || $(stat -c %s "$RAND_FILE") != 1073741824 ]]; then
    echo "== writing $RAND_FILE (1 GiB of random bytes)" >&2
    head -c 1073741824 /dev/urandom >"$RAND_FILE.tmp" && mv "$RAND_FILE.tmp" "$RAND_FILE"
  fi
  # Page-cache points need the whole file cached.
  cat "$RAND_FILE" >/dev/null
fi
if want file; then
  for ((rep = 0; rep < REPS2; rep++)); do
    for cache in "page cache" O_DIRECT; do
      direct=$([[ $cache == O_DIRECT ]] && echo 1 || echo 0)
      dflag=$([[ $cache == O_DIRECT ]] && echo --direct || true)
      for qd in 1 32; do
        w="rand 4 KiB QD$qd $cache"
        impls=(curing curing-fixed raw fio-io_uring)
        # psync has no queue depth (one pread at a time): QD 1 only. (As
        # numjobs=32 threads on one core its jobs do not run over the same
        # window, and fio's summed rate overstates them.)
        if ((qd == 1)); then impls+=(fio-psync); fi
        # tokio::fs has no O_DIRECT.
        if ((!direct)); then impls+=(tokio); fi
        for impl in "${impls[@]}"; do
          case $impl in
            fio-*)
              # shellcheck disable=SC2046
              measure "$w  $impl" file_run "$w" "$impl" $(fio_rand "${impl#fio-}" "$qd" "$direct") ;;
            *) measure "$w  $impl" file_run "$w" "$impl" --path "$RAND_FILE" --mode rand --qd "$qd" \
              --secs "$FILE_SECS" $dflag ;;
          esac
        done
      done
    done
  done
fi
if want seq; then
  SEQ_BYTES=$((SEQ_MB * 1024 * 1024))
  for ((rep = 0; rep < REPS2; rep++)); do
    for impl in curing curing-fixed tokio raw fio-io_uring fio-psync; do
      # Write a fresh file (the time includes the final fsync), then read it
      # back from the page cache for FILE_SECS.
      rm -f "$SEQ_FILE"
      case $impl in
        fio-*)
          measure "seqwrite $SEQ_MB MiB  $impl" file_run "seqwrite 1024 KiB" "$impl" --name=seqw \
            --filename="$SEQ_FILE" --rw=write --bs=1M --size="$SEQ_BYTES" --ioengine="${impl#fio-}" \
            --iodepth=1 --end_fsync=1 --fallocate=none
          measure "seqread  $impl" file_run "seqread 1024 KiB" "$impl" --name=seqr \
            --filename="$SEQ_FILE" --rw=read --bs=1M --ioengine="${impl#fio-}" --iodepth=1 \
            --time_based --runtime="${FILE_MS}ms" --invalidate=0 ;;
        *)
          measure "seqwrite $SEQ_MB MiB  $impl" file_run "seqwrite" "$impl" --path "$SEQ_FILE" \
            --mode seqwrite --bs 1048576 --size "$SEQ_BYTES"
          measure "seqread  $impl" file_run "seqread" "$impl" --path "$SEQ_FILE" --mode seqread \
            --bs 1048576 --secs "$FILE_SECS" ;;
      esac
    done
  done
  rm -f "$SEQ_FILE"
fi

# Idle connections: RSS per connection with IDLE_CONNS open (the clients in
# a child process on core 1).
if want idle; then
  for ((rep = 0; rep < IDLE_REPS; rep++)); do
    for rt in curing curing-pooled tokio monoio glommio compio; do
      measure "idle $IDLE_CONNS conns  $rt" idle_run "$rt"
    done
  done
fi

# Runtime overhead: one process per measurement, pinned to core 0.
for ((rep = 0; rep < REPS; rep++)); do
  want micro || break
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

# Thread-per-core scaling: echo and HTTP servers on 1 and 2 threads, both
# cores theirs, the load generator unpinned (it competes with them).
if want scale; then
  read -ra SCALE_RTS <<<"${SCALE_RUNTIMES:-curing tokio monoio glommio}"
  read -ra SCALE_TS <<<"${SCALE_THREADS:-1 2}"
  for ((rep = 0; rep < REPS; rep++)); do
    order=("${SCALE_RTS[@]:rep % ${#SCALE_RTS[@]}}" "${SCALE_RTS[@]:0:rep % ${#SCALE_RTS[@]}}")
    # Thread counts ascending in even repetitions, descending in odd ones.
    tcounts=("${SCALE_TS[@]}")
    if ((rep % 2)); then
      tcounts=()
      for ((i = ${#SCALE_TS[@]} - 1; i >= 0; i--)); do tcounts+=("${SCALE_TS[i]}"); done
    fi
    for point in "${SCALE_POINTS[@]}"; do
      read -r conns size <<<"$point"
      for rt in "${order[@]}"; do
        for t in "${tcounts[@]}"; do
          MEASURE_REPS=$REPS measure "scale $conns conns x $size B  $rt x$t" \
            scale_echo_run "$rt" "$t" "$conns" "$size"
        done
      done
    done
    for rt in "${order[@]}"; do
      for t in "${tcounts[@]}"; do
        MEASURE_REPS=$REPS measure "scale http $SCALE_HTTP_CONNS conns  $rt x$t" \
          scale_http_run "$rt" "$t" "$SCALE_HTTP_CONNS"
      done
    done
  done
fi

# Tree copy: its own script (file systems, trees, peers; see its header),
# last, as it drops the page cache. Its tables are printed below with the
# others.
CPTREE_RC=0
if want cptree; then
  quick_flag=()
  if ((QUICK)); then quick_flag=(--quick); fi
  REPS=$REPS2 ci/bench-cptree.sh "${quick_flag[@]}" >/dev/null || CPTREE_RC=$?
fi
elapsed=$(($(date +%s) - start))

if ((COMPARE)); then
  mode=$([[ $QUICK == 1 ]] && echo "ci/bench.sh --quick" || echo "ci/bench.sh")
  [[ $ONLY == "$DEFAULT_ONLY" ]] || mode="ONLY=\"$ONLY\" $mode"
  # (FILE_DIR exists only when a file workload ran.)
  header="## curing vs peers — $(date -u +%Y-%m-%d)

Command: \`$mode\` (echo and scale: REPS=$REPS, ${DURATION} s runs after ${WARMUP} s warmup; http/file/seq: $REPS2 reps, wrk ${HTTP_SECS} s, file ${FILE_SECS} s, seq ${SEQ_MB} MiB; took ${elapsed} s).
Machine: $(nproc) cores ($(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //')), $(free -g | awk '/Mem:/ {print $2}') GiB, Linux $(uname -r), $(rustc --version); files on $({ df --output=source,fstype "${FILE_DIR}" 2>/dev/null || echo "-"; } | tail -1 | tr -s ' ').
"
  python3 "$BENCH/report.py" "$JSONL" --header "$header" | tee "$RESULTS/latest.md"
fi
if want cptree; then
  if [[ -f $RESULTS/cptree.md ]]; then echo; cat "$RESULTS/cptree.md"; fi
  if ((CPTREE_RC)); then
    echo "bench.sh: ci/bench-cptree.sh failed (exit $CPTREE_RC)" >&2
    exit "$CPTREE_RC"
  fi
fi
