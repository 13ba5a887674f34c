#!/usr/bin/env bash
# AddressSanitizer (and LeakSanitizer) over the whole test suite, on the
# stable toolchain through RUSTC_BOOTSTRAP (an unsupported switch: this is a
# separate CI step, never the only check). Remember that neither ASan nor
# valgrind sees the kernel writing into freed memory: the guard buffers and
# the EFAULT oracle of tests/common do that part.
#
#   ci/asan.sh                 # every test binary
#   ci/asan.sh --test faults   # extra cargo args select binaries
#   CURING_DRIVER=epoll ci/asan.sh   # the same on the epoll driver
set -euo pipefail
cd "$(dirname "$0")/.."

target="x86_64-unknown-linux-gnu"
export RUSTC_BOOTSTRAP=1
export RUSTFLAGS="${RUSTFLAGS:-} -Zsanitizer=address"
export RUSTDOCFLAGS="${RUSTDOCFLAGS:-} -Zsanitizer=address"
# Separate target dir: sanitized artefacts must not mix with normal ones.
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-target}/asan"
# detect_leaks: LeakSanitizer too. Runtimes deliberately leak what the kernel
# still holds at shutdown (never in these tests: they assert `leaked == 0`).
export ASAN_OPTIONS="${ASAN_OPTIONS:-detect_leaks=1:abort_on_error=0:detect_stack_use_after_return=0}"
# The model test's deliberate shutdown leaks, and nothing else (see the file).
export LSAN_OPTIONS="${LSAN_OPTIONS:-suppressions=$PWD/ci/lsan.supp:print_suppressions=0}"

# Tests excluded under ASan: none. The fork, seccomp, memlock and RSS tests
# were checked to pass under ASan too (the children re-run the sanitized
# binary). Put `--skip <name>` entries here, each with its reason, if a test
# ever has to be left out.
skip=()

echo "== AddressSanitizer: cargo test --target $target $*"
cargo test --target "$target" --tests "$@" -- ${skip[@]+"${skip[@]}"}
echo "== AddressSanitizer: no reports"
