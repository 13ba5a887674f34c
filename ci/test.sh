#!/usr/bin/env bash
# The test command: formatting, lints, and every test (unit, integration,
# doc tests; examples are built). Fails loudly on the first problem.
set -euo pipefail
cd "$(dirname "$0")/.."
# shellcheck source=ci/lib.sh
. ci/lib.sh

echo "== environment"
uname -srm
cargo --version
if [ -r /proc/sys/kernel/io_uring_disabled ]; then
  echo "kernel.io_uring_disabled = $(cat /proc/sys/kernel/io_uring_disabled)"
fi

echo "== cargo fmt --check"
cargo fmt --all -- --check

echo "== cargo clippy -D warnings"
cargo clippy --all-targets -- -D warnings

# tests/fs_cptree.rs reflinks for real on a loop-mounted XFS image: it
# needs mkfs.xfs (and fails under CI=true without it).
if [ "$(id -u)" = 0 ] && ! command -v mkfs.xfs >/dev/null; then
  apt_install xfsprogs || echo "warning: could not install xfsprogs"
fi

echo "== cargo test"
cargo test --all-targets
echo "== cargo test on the epoll fallback driver (CURING_DRIVER=epoll)"
# Same binaries (no rebuild): the whole suite on the io_uring emulator;
# tests of io_uring-only facts check the epoll equivalent or say why they
# skip (grep 'skipped on the epoll driver').
CURING_DRIVER=epoll cargo test --all-targets
echo "== doc tests"
cargo test --doc

echo "== outside tests of cptree and the fs metadata API (ci/outside21.sh)"
if [ "$(id -u)" = 0 ]; then
  bash ci/outside21.sh
else
  echo "skipped: ci/outside21.sh needs root (owners, device nodes, loop mounts)"
fi

echo "== loom models of the cross-thread wake paths (src/loom_tests/)"
# `--cfg loom` swaps the primitives of those paths for loom's (see
# src/sync_prims.rs); its own target dir keeps the normal build's cache.
# Fails if the models fail, and if none ran (a filter or cfg gone wrong).
loom_log="$(mktemp)"
time RUSTFLAGS="--cfg loom" CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-target}/loom" \
  cargo test --release --lib loom 2>&1 | tee "$loom_log"
if ! grep -Eq '^test result: ok\. [1-9][0-9]* passed' "$loom_log"; then
  echo "error: no loom model ran" >&2
  exit 1
fi
rm -f "$loom_log"

echo "== feature-gated adapters: futures-io, tokio-io, hyper, tracing"
# The hyper and TLS tests also drive curl and openssl s_client; install them
# if missing (CI runs as root). If that fails, those parts print why they skip.
if ! command -v curl >/dev/null || ! command -v openssl >/dev/null; then
  (apt-get update -qq && apt-get install -y -qq curl openssl) >/dev/null 2>&1 \
    || echo "warning: could not install curl/openssl"
fi
cargo clippy --all-targets --all-features -- -D warnings
cargo test --all-features --test 'compat_*' --test outside19_compat
CURING_DRIVER=epoll cargo test --all-features --test 'compat_*' --test outside19_compat
cargo test --doc --all-features
RUSTDOCFLAGS="-D warnings" cargo doc --no-deps --all-features --quiet
# The hyper example as written, with curl as its client.
cargo build --quiet --features hyper --example hyper_server
target_dir="${CARGO_TARGET_DIR:-target}"
"$target_dir/debug/examples/hyper_server" 127.0.0.1:39871 &
server=$!
trap 'kill $server 2>/dev/null || true' EXIT
for _ in $(seq 50); do curl -s -o /dev/null http://127.0.0.1:39871/ && break; sleep 0.1; done
test "$(curl -s --max-time 10 http://127.0.0.1:39871/stream | wc -l)" = 5
kill $server
trap - EXIT

echo "== rustdoc, warnings denied"
RUSTDOCFLAGS="-D warnings" cargo doc --no-deps --quiet

echo "== examples run as written"
cargo run --quiet --example demo -- 1
CURING_DRIVER=epoll cargo run --quiet --example demo -- 1
cargo run --quiet --example fetch
