#!/usr/bin/env bash
# The issue-21 outside tests (tests/outside21/, written by a tester who read
# only the README and the crate docs): `examples/cptree` against `cp -a`,
# --verify, --no-preserve, a plain user, SIGINT, XFS reflinks
# (cptree_checks/run.sh), and the curing::fs metadata API on ext4, XFS and
# tmpfs (tester/), each on the io_uring and the epoll driver.
#
#   ci/outside21.sh        # run as root; installs acl attr libcap2-bin xfsprogs
#
# Work files go to $WORK (default /var/tmp/curing-outside21); the XFS and
# tmpfs mounts are made there and removed at the end. Fails if any check fails.
set -euo pipefail
cd "$(dirname "$0")/.."
# shellcheck source=ci/lib.sh
. ci/lib.sh
ROOT=$PWD
WORK=${WORK:-/var/tmp/curing-outside21}
if ((EUID != 0)); then
  echo "ci/outside21.sh: needs root (owners, device nodes, mounts)" >&2
  exit 1
fi
need=()
for tool in getfacl:acl getfattr:attr getcap:libcap2-bin mkfs.xfs:xfsprogs; do
  command -v "${tool%%:*}" >/dev/null || need+=("${tool#*:}")
done
apt_install "${need[@]}"

cargo build --release --quiet --example cptree
(cd tests/outside21/tester && CARGO_TARGET_DIR="$ROOT/target/outside21" cargo build --quiet)

mkdir -p "$WORK/xfs" "$WORK/tmp"
cleanup() {
  chattr -R -i "$WORK" 2>/dev/null || true
  umount "$WORK/xfs" 2>/dev/null || true
  umount "$WORK/tmp" 2>/dev/null || true
  rm -rf "$WORK"
}
trap cleanup EXIT
truncate -s 2G "$WORK/xfs.img"
mkfs.xfs -q -f "$WORK/xfs.img"
mount -o loop "$WORK/xfs.img" "$WORK/xfs"
mount -t tmpfs -o size=600m tmpfs "$WORK/tmp"

echo "== cptree against cp -a (both drivers)"
C="$ROOT/target/release/examples/cptree" W="$WORK/cptree" \
  bash tests/outside21/cptree_checks/run.sh uring epoll | tee "$WORK/cptree.txt" | grep -v '^PASS' || true
grep -q '^DONE 0 failed' "$WORK/cptree.txt" || { echo "cptree checks failed" >&2; exit 1; }
echo "$(grep -c '^PASS' "$WORK/cptree.txt") cptree checks passed"

echo "== the curing::fs metadata API (both drivers)"
for d in uring epoll; do
  mkdir -p "$WORK/api-$d" "$WORK/xfs/$d" "$WORK/tmp/$d"
  CURING_DRIVER=$d "$ROOT/target/outside21/debug/tester" "$WORK/api-$d" "$WORK/xfs/$d" "$WORK/tmp/$d" \
    >"$WORK/api-$d.txt" || { grep -v '^PASS' "$WORK/api-$d.txt"; echo "API checks failed on $d" >&2; exit 1; }
  echo "$d: $(grep -c '^PASS' "$WORK/api-$d.txt") API checks passed"
done
