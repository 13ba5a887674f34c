#!/usr/bin/env bash
# The long fault tests of docs/reliability.md (rows 4, 24, 25, and the driver's
# model test), run from a clean checkout: the same tests as the normal
# suite, with bigger numbers. The short variants stay in `cargo test`
# (ci/test.sh).
#
#   ci/stress.sh            # all four, about 4 minutes
#   STRESS_SECS=10 ci/stress.sh   # shorter runs
#   STRESS_MODEL_CASES=1000000 ci/stress.sh   # a longer model test
#
# The 10k connections need 20,200 descriptors: the test raises RLIMIT_NOFILE
# (the hard limit too when run as root; otherwise raise `ulimit -Hn` first).
set -euo pipefail
cd "$(dirname "$0")/.."

secs="${STRESS_SECS:-60}"
conns="${STRESS_CONNS:-10000}"
slow="${STRESS_SLOWLORIS:-1000}"
model="${STRESS_MODEL_CASES:-100000}"

echo "== environment"
uname -srm
cargo --version
echo "RLIMIT_NOFILE soft $(ulimit -Sn), hard $(ulimit -Hn)"
ulimit -n "$(ulimit -Hn)" 2>/dev/null || true

echo "== build (release, optimised; the tests' own checks stay on)"
cargo test --release --no-run --lib --test stress --test faults_load 2>&1 | tail -n 3

run() {
  local name="$1"; shift
  echo
  echo "== $name"
  local start end
  start=$(date +%s)
  "$@"
  end=$(date +%s)
  echo "-- $name: ok in $((end - start)) s"
}

# Row 4: cancellation storm (random aborts and read timeouts on an echo
# workload), byte-exact, nothing left in flight.
run "docs/reliability.md row 4: cancellation storm, ${secs} s" \
  env CURING_STRESS_SECS="$secs" \
  cargo test --release -q --test stress -- --nocapture --test-threads=1

# Row 25: 10k concurrent echo connections, byte-exact, bounded RSS and ops
# in flight.
run "docs/reliability.md row 25: ${conns} connections, ${secs} s" \
  env CURING_CONNS="$conns" CURING_CONN_SECS="$secs" \
  cargo test --release -q --test faults_load -- --nocapture --test-threads=1 \
  thousands_of_concurrent_echo_connections

# Row 24: slowloris, 1 byte per second per client, 2 s header timeout.
run "docs/reliability.md row 24: slowloris, ${slow} clients" \
  env CURING_SLOWLORIS_CLIENTS="$slow" CURING_SLOWLORIS_INTERVAL_MS=1000 \
  CURING_SLOWLORIS_TIMEOUT_MS=2000 \
  cargo test --release -q --test faults_load -- --nocapture --test-threads=1 \
  slowloris_clients_time_out_and_good_clients_are_served

# The model-based test of the driver's op state machine (simulated ring,
# no kernel needed), with many more random action sequences than the
# 1,000 of the normal suite.
run "driver model test, ${model} cases" \
  env CURING_MODEL_CASES="$model" \
  cargo test --release -q --lib -- driver::model_tests

echo
echo "== stress: all passed"
