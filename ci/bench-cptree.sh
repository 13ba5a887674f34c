#!/usr/bin/env bash
# Benchmarks the tree copy example (examples/cptree/) against `cp -a`,
# xcp and fcp, checks each copy against its source, prints the tables.
#
#   ci/bench-cptree.sh            # trees small, big, system; warm and cold; 5 reps
#   ci/bench-cptree.sh --quick    # trees small and big; 2 reps (FULL=1: all trees)
#   ONLY=cptree ci/bench.sh --quick   # the same, as a part of ci/bench.sh
#
# Tools: `cptree SRC DST --quiet` (built with cargo build --release --example
# cptree), `cp -a SRC DST` (coreutils), `xcp -r -o --no-progress SRC DST`
# (xcp 0.24.9: permissions and timestamps are copied by default, -o adds
# owner and group, as cp -a does as root; 4 workers, its default) and
# `fcp SRC DST` (fcp 0.2.2, which has no options). xcp and fcp come from
# crates.io: `cargo install --locked --root benches/compare/target/peers`,
# only when missing there (or in $PEER_BIN).
#
# Trees, generated once and kept between runs, on a dedicated ext4 file
# system (a sparse image, $CPTREE_DIR/fs.img, loop-mounted at
# $CPTREE_DIR/mnt with noatime; sources and copies both on it). Small, so
# its metadata stays cached: on a big file system every fresh copy touches
# cold inode-table blocks. `small`: 20,000 files with sizes exponential
# around 4 KiB in 210 directories on two levels (fixed seed), with symlinks,
# a hard-link pair, extended attributes, other owners and varied modes and
# times; `big`: 4 files of 256 MiB random bytes; `system`: `cp -a /usr`.
#
# Runs: per tree, per cache state, REPS repetitions of every tool, the order
# rotated each repetition. Before each run: `rm -rf DST; sync; sync`, and
# for cold `echo 3 > /proc/sys/vm/drop_caches`. Warm: the source read once
# (every file's bytes, every entry's metadata) and one discarded copy per
# tool before the first repetition. Measured: wall time and CPU time
# (user + sys of the tool and all its threads: bash's `time`, which reads
# getrusage(RUSAGE_CHILDREN)); also the CPU other processes used meanwhile
# (from /proc/stat; kernel threads doing the loop device's I/O count there).
# After each tool's first copy of a tree, ci/cmp-tree.py --contents compares
# it with the source (type, size, mode, owner, mtime, symlink target,
# xattrs, hard links, bytes): a copy that is not faithful is reported, not
# an error.
#
# Env: REPS (default 5, --quick 2), FULL=1 (--quick with every tree),
# TREES ("small big system"), CACHES ("warm cold"), TOOLS ("cptree cp xcp
# fcp"), PEER_BIN (a directory holding xcp and fcp), CPTREE_DIR (default
# /var/tmp/cptree-bench), IMG_SIZE (default 24G: the sparse image can grow
# to that on /var/tmp during a run; trimmed at the end), KEEP_MOUNT=1
# (leave the file system mounted at exit; otherwise it is unmounted; a run
# finding it mounted, by KEEP_MOUNT=1 or a killed run, uses that mount).
#
# Output: the tables on stdout and in benches/compare/results/cptree.md, raw
# JSON lines in .../cptree.jsonl, the tools' messages in .../cptree.log, each
# tool's differences in .../cptree-cmp-TREE-TOOL.txt. Needs root (mount,
# drop_caches). Exit status 1 if any step fails, or if cptree itself failed
# a copy (a peer that fails is reported in the table).
set -eEuo pipefail
shopt -s inherit_errexit
trap 'echo "bench-cptree.sh: line $LINENO: \"$BASH_COMMAND\" failed" >&2' ERR

cd "$(dirname "$0")/.."
ROOT=$PWD
BENCH=$ROOT/benches/compare
RESULTS=$BENCH/results

QUICK=0
for a in "$@"; do
  case $a in
    --quick) QUICK=1 ;;
    -h | --help) sed -n '2,51p' "$0"; exit 0 ;;
    *) echo "bench-cptree.sh: unknown argument $a" >&2; exit 2 ;;
  esac
done

if ((QUICK)); then
  REPS=${REPS:-2}
  if [[ ${FULL:-0} == 1 ]]; then TREES=${TREES:-small big system}; else TREES=${TREES:-small big}; fi
else
  REPS=${REPS:-5}
  TREES=${TREES:-small big system}
fi
CACHES=${CACHES:-warm cold}
read -r -a TOOLS <<<"${TOOLS:-cptree cp xcp fcp}"
DIR=${CPTREE_DIR:-/var/tmp/cptree-bench}
IMG=$DIR/fs.img
MNT=$DIR/mnt
IMG_SIZE=${IMG_SIZE:-24G}
KEEP_MOUNT=${KEEP_MOUNT:-0}
PEER_ROOT=$BENCH/target/peers
PEER_BIN=${PEER_BIN:-$PEER_ROOT/bin}
XCP_VERSION=0.24.9
FCP_VERSION=0.2.2
# Bump when a generator below changes: the trees are made again.
GEN_VERSION=1

if ((EUID != 0)); then
  echo "bench-cptree.sh: needs root (mount, drop_caches)" >&2
  exit 1
fi
for t in $TREES; do
  case $t in small | big | system) ;; *) echo "bench-cptree.sh: unknown tree $t" >&2; exit 2 ;; esac
done
for c in $CACHES; do
  case $c in warm | cold) ;; *) echo "bench-cptree.sh: unknown cache state $c" >&2; exit 2 ;; esac
done
for t in "${TOOLS[@]}"; do
  case $t in cptree | cp | xcp | fcp) ;; *) echo "bench-cptree.sh: unknown tool $t" >&2; exit 2 ;; esac
done
for c in python3 mkfs.ext4 losetup mountpoint findmnt flock fstrim; do
  command -v "$c" >/dev/null || { echo "bench-cptree.sh: $c is missing" >&2; exit 1; }
done

echo "== building examples/cptree (release)" >&2
cargo build --release --quiet --example cptree
CPTREE=${CARGO_TARGET_DIR:-$ROOT/target}/release/examples/cptree
[[ -x $CPTREE ]] || { echo "bench-cptree.sh: no $CPTREE after the build" >&2; exit 1; }

# peer_version PATH: what PATH --version prints (fcp exits 1 after it).
peer_version() { "$1" --version 2>&1 || true; }
# peer VAR NAME VERSION: sets VAR to the path of a peer binary of that
# version, installed from crates.io when neither PEER_BIN nor the default
# root has it.
peer() {
  local var=$1 name=$2 version=$3 dir
  for dir in "$PEER_BIN" "$PEER_ROOT/bin"; do
    if [[ -x $dir/$name ]] && [[ " $(peer_version "$dir/$name") " == *" $version "* ]]; then
      printf -v "$var" %s "$dir/$name"
      return
    fi
  done
  echo "== installing $name $version from crates.io into $PEER_ROOT" >&2
  cargo install --quiet --locked --root "$PEER_ROOT" "$name@$version"
  if [[ " $(peer_version "$PEER_ROOT/bin/$name") " != *" $version "* ]]; then
    echo "bench-cptree.sh: $PEER_ROOT/bin/$name is not version $version after cargo install" >&2
    exit 1
  fi
  printf -v "$var" %s "$PEER_ROOT/bin/$name"
}
peer XCP xcp "$XCP_VERSION"
peer FCP fcp "$FCP_VERSION"

mkdir -p "$RESULTS"
JSONL=$RESULTS/cptree.jsonl
LOG=$RESULTS/cptree.log
: >"$JSONL"
: >"$LOG"
# No table of an earlier run is left to be taken for this one's.
rm -f "$RESULTS/cptree.md" "$RESULTS"/cptree-cmp-*.txt
TMP=$(mktemp -d)

MOUNTED=0
cleanup() {
  local rc=$?
  rm -rf "$TMP"
  if ((MOUNTED)) && [[ $KEEP_MOUNT != 1 ]]; then
    cd /
    # The loop device was detached lazily right after the mount: unmounting
    # frees it.
    umount "$MNT" || { echo "bench-cptree.sh: could not unmount $MNT" >&2; rc=1; }
  fi
  exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# The file system: made once, mounted unless a mount of this image (left by
# a killed run, or KEEP_MOUNT=1) is there already.
mkdir -p "$DIR" "$MNT"
# One run at a time: two would copy into the same DST.
exec 9>"$DIR/lock"
if ! flock -n 9; then
  echo "bench-cptree.sh: another run holds $DIR/lock" >&2
  exit 1
fi
if mountpoint -q "$MNT"; then
  src=$(findmnt -n -o SOURCE --mountpoint "$MNT")
  back=$(losetup -n -O BACK-FILE "$src" 2>/dev/null || true)
  if [[ $(realpath -m "$back") != $(realpath "$IMG") ]]; then
    echo "bench-cptree.sh: $MNT is mounted from $src, not from $IMG" >&2
    exit 1
  fi
  echo "== reusing the file system mounted at $MNT" >&2
  MOUNTED=1
else
  if [[ ! -f $IMG ]]; then
    echo "== making $IMG ($IMG_SIZE, sparse, ext4)" >&2
    rm -f "$IMG.tmp"
    truncate -s "$IMG_SIZE" "$IMG.tmp"
    # Inode tables and journal written now, not by a kernel thread during
    # the first runs.
    mkfs.ext4 -q -L cptree-bench -E lazy_itable_init=0,lazy_journal_init=0 "$IMG.tmp"
    mv "$IMG.tmp" "$IMG"
  fi
  # Direct I/O on the backing file: the image's blocks are not cached a
  # second time in the page cache of the file system below.
  loop=$(losetup --find --show --direct-io=on "$IMG")
  if ! mount -o noatime "$loop" "$MNT"; then
    losetup -d "$loop"
    exit 1
  fi
  MOUNTED=1
  losetup -d "$loop"
fi
mkdir -p "$MNT/src" "$MNT/dst"
DST=$MNT/dst/copy

gen_small() {
  python3 - "$1" <<'PY'
import os, random, sys

root = sys.argv[1]
rng = random.Random(20240601)
os.makedirs(root)
dirs = []
for i in range(14):
    top = "d%02d" % i
    os.mkdir(os.path.join(root, top))
    dirs.append(top)
    for j in range(14):
        sub = os.path.join(top, "s%02d" % j)
        os.mkdir(os.path.join(root, sub))
        dirs.append(sub)
base = 1_600_000_000 * 10**9
span = 3 * 365 * 86400 * 10**9
def stamp(path):
    t = base + rng.randrange(span)
    os.utime(path, ns=(t + rng.randrange(10**12), t), follow_symlinks=False)
files = []
for n in range(20000):
    d = dirs[rng.randrange(len(dirs))]
    rel = os.path.join(d, "f%05d" % n)
    path = os.path.join(root, rel)
    size = int(rng.expovariate(1 / 4096))
    with open(path, "wb") as f:
        f.write(rng.randbytes(size))
    r = rng.random()
    mode = 0o644 if r < 0.75 else 0o755 if r < 0.85 else 0o600 if r < 0.95 else 0o640
    os.chmod(path, mode)
    if n % 97 == 0:
        os.chown(path, 1000, 1000)
    elif n % 101 == 0:
        os.chown(path, 0, 100)
    if n % 499 == 0:
        os.setxattr(path, "user.comment", b"file %d" % n)
    files.append(rel)
# A few special modes.
os.chmod(os.path.join(root, files[1]), 0o4755)
os.chmod(os.path.join(root, files[2]), 0o2755)
os.chmod(os.path.join(root, "d01"), 0o1777)
os.chmod(os.path.join(root, "d02"), 0o700)
os.chmod(os.path.join(root, "d03/s03"), 0o2775)
os.chown(os.path.join(root, "d04"), 1000, 1000)
os.setxattr(os.path.join(root, "d05"), "user.tag", b"a directory")
os.mkdir(os.path.join(root, "empty"))
# Symlinks: relative to a file and a directory, up and across, dangling,
# absolute.
links = {
    "link-file": files[0],
    "link-dir": "d01",
    "d02/link-up": "../d03/s01",
    "dangling": "nowhere/at/all",
    "abs-link": "/usr/bin/env",
}
for name, target in links.items():
    os.symlink(target, os.path.join(root, name))
os.lchown(os.path.join(root, "link-dir"), 1000, 1000)
# A hard-link pair, in two directories.
os.link(os.path.join(root, files[3]), os.path.join(root, "d05/hard-link"))
for rel in files + list(links):
    stamp(os.path.join(root, rel))
# Directories last, deepest first, so their times stick.
for rel in sorted(dirs + ["empty"], key=lambda p: -p.count("/")):
    stamp(os.path.join(root, rel))
stamp(root)
PY
}

gen_big() {
  mkdir "$1"
  local i
  for i in 0 1 2 3; do head -c 256M /dev/urandom >"$1/file$i"; done
}

gen_system() {
  cp -a /usr "$1"
}

# The source of each tree, made when missing (or made by another GEN_VERSION).
for t in $TREES; do
  mark=$MNT/src/$t.ok
  if [[ ! -f $mark || $(cat "$mark") != "$GEN_VERSION" ]]; then
    echo "== generating tree $t in $MNT/src/$t" >&2
    rm -rf "${MNT:?}/src/$t" "$mark"
    "gen_$t" "$MNT/src/$t"
    sync
    echo "$GEN_VERSION" >"$mark"
  fi
done

settle() {
  rm -rf "$DST"
  sync
  sync
  if [[ $1 == cold ]]; then echo 3 >/proc/sys/vm/drop_caches; fi
  sleep 0.5
}

# copy TOOL SRC DST: one copy, the tool's output to the log.
copy() {
  case $1 in
    cptree) "$CPTREE" "$2" "$3" --quiet ;;
    cp) cp -a "$2" "$3" ;;
    xcp) "$XCP" -r -o --no-progress "$2" "$3" ;;
    fcp) "$FCP" "$2" "$3" ;;
  esac
}

# CPU time all processes used so far, in clock ticks (user, nice, system,
# irq, softirq).
busy_ticks() { awk '/^cpu / { print $2 + $3 + $4 + $7 + $8; exit }' /proc/stat; }
HZ=$(getconf CLK_TCK)
CPTREE_FAILED=0

# run TREE CACHE TOOL REP: one measured copy, appended to the JSON lines.
run() {
  local tree=$1 cache=$2 tool=$3 rep=$4 rc=0 b0 b1 wall user sys
  settle "$cache"
  echo "--- $tree $cache rep $rep $tool" >>"$LOG"
  b0=$(busy_ticks)
  TIMEFORMAT='%3R %3U %3S'
  { time copy "$tool" "$MNT/src/$tree" "$DST" >>"$LOG" 2>&1; } 2>"$TMP/time" || rc=$?
  b1=$(busy_ticks)
  read -r wall user sys <"$TMP/time"
  printf '{"tree":"%s","cache":"%s","tool":"%s","rep":%d,"wall_s":%s,"user_s":%s,"sys_s":%s,"cpu_s":%s,"other_cpu_s":%s,"exit":%d}\n' \
    "$tree" "$cache" "$tool" "$rep" "$wall" "$user" "$sys" \
    "$(awk -v u="$user" -v s="$sys" 'BEGIN { printf "%.3f", u + s }')" \
    "$(awk -v b="$((b1 - b0))" -v hz="$HZ" -v u="$user" -v s="$sys" 'BEGIN { printf "%.2f", b / hz - u - s }')" \
    "$rc" >>"$JSONL"
  printf '== %-6s %-4s rep %d/%d  %-6s %7.3f s wall %7.3f s CPU' "$tree" "$cache" $((rep + 1)) "$REPS" \
    "$tool" "$wall" "$(awk -v u="$user" -v s="$sys" 'BEGIN { print u + s }')" >&2
  if ((rc != 0)); then
    echo "  FAILED: exit $rc (see $LOG)" >&2
    if [[ $tool == cptree ]]; then CPTREE_FAILED=1; fi
  else
    echo >&2
  fi
}

# check TREE TOOL: compares the copy in DST with the source.
check() {
  local tree=$1 tool=$2 out=$RESULTS/cptree-cmp-$1-$2.txt summary rc=0
  if [[ ! -e $DST && ! -L $DST ]]; then
    echo "   $tool: no copy to check" >&2
    printf '{"tree":"%s","tool":"%s","check":"no copy"}\n' "$tree" "$tool" >>"$JSONL"
    return
  fi
  python3 ci/cmp-tree.py --contents "$MNT/src/$tree" "$DST" >"$out" 2>&1 || rc=$?
  if ((rc > 1)); then
    echo "bench-cptree.sh: cmp-tree.py failed on $tree/$tool (exit $rc, see $out)" >&2
    exit 1
  fi
  summary=$(tail -n 1 "$out")
  echo "   $tool: ${summary#cmp-tree: }" >&2
  printf '{"tree":"%s","tool":"%s","check":"%s"}\n' "$tree" "$tool" "${summary#cmp-tree: }" >>"$JSONL"
}

start=$(date +%s)
for tree in $TREES; do
  src=$MNT/src/$tree
  entries=$(find "$src" | wc -l)
  bytes=$(du -s --apparent-size -B1 "$src" | cut -f1)
  printf '{"tree":"%s","entries":%d,"bytes":%d}\n' "$tree" "$entries" "$bytes" >>"$JSONL"
  checked=0
  for cache in $CACHES; do
    if [[ $cache == warm ]]; then
      echo "== $tree: reading the source, one discarded copy per tool" >&2
      find "$src" -type f -exec cat {} + >/dev/null
      find "$src" -printf '' >/dev/null
      for tool in "${TOOLS[@]}"; do
        settle warm
        echo "--- $tree warm-up $tool" >>"$LOG"
        copy "$tool" "$src" "$DST" >>"$LOG" 2>&1 || echo "   warm-up copy: $tool failed (see $LOG)" >&2
      done
    fi
    for ((rep = 0; rep < REPS; rep++)); do
      order=("${TOOLS[@]:rep % ${#TOOLS[@]}}" "${TOOLS[@]:0:rep % ${#TOOLS[@]}}")
      for tool in "${order[@]}"; do
        run "$tree" "$cache" "$tool" "$rep"
        if ((!checked)); then check "$tree" "$tool"; fi
      done
      checked=1
    done
  done
  rm -rf "$DST"
done
elapsed=$(($(date +%s) - start))
# Give the blocks of the deleted copies back to the file system below (the
# image is sparse; without this it keeps every block ever written).
fstrim "$MNT"

mode=$( ((QUICK)) && echo "ci/bench-cptree.sh --quick" || echo "ci/bench-cptree.sh")
header="## Tree copy: cptree vs cp -a, xcp, fcp — $(date -u +%Y-%m-%d)

Command: \`$mode\` (REPS=$REPS, trees: $TREES, cache: $CACHES; took ${elapsed} s).
Machine: $(nproc) cores ($(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //')), $(free -g | awk '/Mem:/ {print $2}') GiB, Linux $(uname -r).
Tools: cptree at $(git rev-parse --short HEAD)$(git diff --quiet HEAD -- examples src || echo '+changes') (\`cptree SRC DST --quiet\`), $(cp --version | head -1) (\`cp -a\`), xcp $XCP_VERSION (\`xcp -r -o --no-progress\`), fcp $FCP_VERSION (\`fcp SRC DST\`).
File system: ext4 on a loop device (direct I/O) over a sparse $IMG_SIZE image on $(df --output=fstype "$DIR" | tail -1 | tr -d ' '), mounted noatime; sources and copies on it.
"
python3 - "$JSONL" "$header" <<'PY' | tee "$RESULTS/cptree.md"
import json, statistics, sys

rows, checks, sizes = [], {}, {}
for line in open(sys.argv[1]):
    r = json.loads(line)
    if "check" in r:
        checks[(r["tree"], r["tool"])] = r["check"]
    elif "entries" in r:
        sizes[r["tree"]] = r
    else:
        rows.append(r)
NAMES = {"cptree": "cptree", "cp": "cp -a", "xcp": "xcp", "fcp": "fcp"}
ORDER = list(NAMES)

def faithful(text):
    if text is None:
        return "-"
    if text.endswith("identical"):
        return "yes"
    return text.split(": ", 1)[1] if ": " in text else text

print(sys.argv[2])
print("Wall and CPU (user + sys, all threads) seconds per copy; *tool/cptree* is the ratio of the median")
print("wall times (> 1: cptree was faster). *faithful*: ci/cmp-tree.py --contents on the tool's first")
print("copy of the tree (differences by kind). *others' CPU*: CPU the rest of the machine used during")
print("the run (the loop device's I/O threads included), median.")
trees = list(dict.fromkeys(r["tree"] for r in rows))
for tree in trees:
    s = sizes.get(tree, {})
    for cache in ["warm", "cold"]:
        runs = [r for r in rows if r["tree"] == tree and r["cache"] == cache]
        if not runs:
            continue
        print()
        print("#### %s (%s entries, %.1f MiB), %s" % (
            tree, format(s.get("entries", 0), ","), s.get("bytes", 0) / 2**20, cache))
        print()
        print("| tool | wall s, median [min–max] | CPU s, median | tool/cptree wall | others' CPU s | faithful |")
        print("|---|---:|---:|---:|---:|---|")
        med = {}
        for tool in ORDER:
            rs = [r for r in runs if r["tool"] == tool]
            if rs:
                med[tool] = statistics.median(r["wall_s"] for r in rs)
        for tool in ORDER:
            rs = [r for r in runs if r["tool"] == tool]
            if not rs:
                continue
            walls = [r["wall_s"] for r in rs]
            failed = [r for r in rs if r["exit"] != 0]
            ratio = "%.2f" % (med[tool] / med["cptree"]) if med.get("cptree") else "-"
            note = " (%d of %d runs failed)" % (len(failed), len(rs)) if failed else ""
            print("| %s%s | %.3f [%.3f–%.3f] | %.3f | %s | %.2f | %s |" % (
                NAMES[tool], note, med[tool], min(walls), max(walls),
                statistics.median(r["cpu_s"] for r in rs), ratio,
                max(0.0, statistics.median(r["other_cpu_s"] for r in rs)),
                faithful(checks.get((tree, tool)))))
PY

if ((CPTREE_FAILED)); then
  echo "bench-cptree.sh: cptree failed at least one copy (see $LOG)" >&2
  exit 1
fi
