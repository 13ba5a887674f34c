#!/usr/bin/env bash
# The test command: formatting, lints, and every test (unit, integration,
# doc tests; examples are built). Fails loudly on the first problem.
set -euo pipefail
cd "$(dirname "$0")/.."

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

echo "== cargo test"
cargo test --all-targets
echo "== doc tests"
cargo test --doc

echo "== rustdoc, warnings denied"
RUSTDOCFLAGS="-D warnings" cargo doc --no-deps --quiet

echo "== examples run as written"
cargo run --quiet --example demo -- 1
cargo run --quiet --example fetch
