#!/bin/bash
# Outside checks of examples/cptree (outside21). Run as root: cptree_checks/run.sh [uring|epoll]...
# Needs: acl attr xfsprogs libcap2-bin e2fsprogs util-linux python3. Prints PASS/FAIL lines.
H=$(cd "$(dirname "$0")" && pwd); W=${W:-/work/outside21/run_cptree}; C=${C:-/work/outside21/curing/target/release/examples/cptree}
M="python3 $H/manifest.py"; FAILS=0
pass() { echo "PASS [$DRV] $*"; }
fail() { echo "FAIL [$DRV] $*"; FAILS=$((FAILS+1)); }
ok() { local name=$1; shift; if "$@"; then pass "$name"; else fail "$name"; fi; }
clean() { chattr -R -i "$@" 2>/dev/null; rm -rf "$@"; }
cpt() { CURING_DRIVER=$DRV timeout 120 "$C" "$@" </dev/null; }
for DRV in ${@:-uring epoll}; do
  R=$W/$DRV; clean $R; mkdir -p $R; cd $R
  $H/mktree.sh $R/src big >/dev/null 2>&1
  $M src > src0.txt
  # 1. faithful copy vs cp -a, silent without a terminal, source atimes untouched
  cpt src out >o.txt 2>e.txt; rc=$?
  ok "copy rc=0 and no output without a terminal (rc=$rc, $(wc -c <o.txt)+$(wc -c <e.txt) bytes)" test $rc = 0 -a ! -s o.txt -a ! -s e.txt
  cpt --verify-only src out >vo.txt 2>ve.txt; rc=$?; ok "--verify-only clean, before anything else reads SRC: rc 0, only the count (rc=$rc: $(head -c 150 vo.txt ve.txt|tr '\n' '|'))" test $rc = 0 -a "$(cat vo.txt)" = "cptree: verify: 0 differences" -a ! -s ve.txt
  $M src > src1.txt; ok "source unchanged by the copy (incl. file atimes, O_NOATIME)" cmp -s src0.txt src1.txt
  cp -a src ref; $M ref > ref.txt; $M out > out.txt
  ok "manifest(cptree) == manifest(cp -a): types modes owners sizes mtimes atimes rdev targets contents xattrs/ACLs/caps hard links sparseness" cmp -s ref.txt out.txt
  diff ref.txt out.txt | head -5
  ok "getfacl -R equal" cmp -s <(cd ref && getfacl -RP . 2>/dev/null) <(cd out && getfacl -RP . 2>/dev/null)
  ok "getcap equal" test "$(cd ref; getcap capfile)" = "$(cd out; getcap capfile)"
  ok "symlink trusted.* kept" test "$(getfattr -h --only-values -n trusted.onlink out/sym 2>/dev/null)" = L
  ok "sparse_all allocates nothing" test "$(stat -c %b out/sparse_all)" = 0
  # 2. --verify on a clean copy
  cpt src out2 --verify >o.txt 2>e.txt; rc=$?; ok "--verify clean copy: rc 0, only the count (rc=$rc: $(cat o.txt e.txt|tr '\n' '|'))" test $rc = 0 -a "$(cat o.txt)" = "cptree: verify: 0 differences" -a ! -s e.txt
  cpt --verify-only src out >o.txt 2>e.txt; rc=$?; echo "INFO [$DRV] --verify-only after cp -a read SRC (moved SRC atimes): rc=$rc, $(wc -l < o.txt) lines"
  # 3. --verify-only finds each damage (small tree)
  clean s; $H/mktree.sh $R/s >/dev/null 2>&1; clean d0; cpt s d0 >/dev/null 2>&1
  damage() { # name, command run inside the copy, expected path in the message
    # A fresh cptree copy each time: cloning d0 with `cp -a` moved the access
    # time of hard-linked files in the clone (cp reads the first path, then
    # takes the second path's moved atime), depending on the listing order.
    clean d; cpt s d >/dev/null 2>&1; (cd d && eval "$2"); cpt --verify-only s d >o.txt 2>e.txt; rc=$?
    if [ $rc = 1 ] && grep -qF -- "$3" o.txt e.txt; then pass "--verify-only finds: $1"; else fail "--verify-only finds: $1 (rc=$rc; out: $(head -c 300 o.txt e.txt | tr '\n' '|'))"; fi
  }
  # flip FILE OFFSET: changes one byte for sure (writing a fixed byte over
  # random data left it unchanged once in 256 runs).
  flip='flip() { python3 -c "import sys; f=open(sys.argv[1],\"r+b\"); o=int(sys.argv[2]); f.seek(o); b=f.read(1); f.seek(o); f.write(bytes([b[0]^1]))" "$1" "$2"; }; '
  damage "one byte, mtime restored" "$flip"'flip medium 1000; touch -r ../s/medium medium' medium
  damage "one byte in a sparse file's data" "$flip"'flip sparse_mid 5242890; touch -r ../s/sparse_mid sparse_mid' sparse_mid
  damage "data written into a hole (zero->nonzero)" 'printf X | dd of=sparse_all bs=1 seek=4000000 conv=notrunc status=none; touch -r ../s/sparse_all sparse_all' sparse_all
  damage "mode" 'chmod 600 plain' plain
  damage "setuid bit dropped" 'chmod u-s suid; touch -r ../s/suid suid' suid
  damage "owner" 'chown 7:7 owned' owned
  damage "mtime nanoseconds" 'touch -m -d "1969-12-31 23:59:59.999999998" plain' plain
  damage "file atime" 'touch -a -d 2011-01-01 empty' empty
  damage "dir mtime" 'touch -m -d 2011-01-01 emptydir' emptydir
  damage "symlink own mtime" 'touch -h -m -d 2011-01-01 sym' sym
  damage "xattr value" 'setfattr -n user.color -v red plain' plain
  damage "xattr removed" 'setfattr -x user.d emptydir' emptydir
  damage "ACL entry" 'setfacl -m u:65534:--- plain' plain
  damage "default ACL removed" 'setfacl -k acl_dir' acl_dir
  damage "capability removed" 'setcap -r capfile' capfile
  damage "trusted.* on symlink removed" 'setfattr -h -x trusted.onlink sym' sym
  damage "broken hard link" 'cp -p hldir/hl2 x && mv x hldir/hl2' hl
  damage "extra hard link to a lone file" 'ln plain hldir/extra_link' extra_link
  damage "extra entry" 'touch -r ../s/emptydir emptydir; echo extra > emptydir/new; touch -r ../s/emptydir emptydir' new
  damage "missing entry" 'chmod u+w ro_dir; rm ro_dir/f; chmod 555 ro_dir; touch -r ../s/ro_dir ro_dir' ro_dir/f
  damage "symlink target" 'ln -sfn plainX sym; touch -h -r ../s/sym sym' sym
  damage "device number" 'rm chr; mknod chr c 1 5; touch -r ../s/chr chr' chr
  damage "type fifo->file" 'rm fifo; touch fifo; chmod 640 fifo; touch -r ../s/fifo fifo' fifo
  damage "size (truncated, mtime kept)" 'truncate -s 10 medium; touch -r ../s/medium medium' medium
  damage "name with newline removed" "rm \$'nl\\nname'" name
  # 4. --no-preserve=X compared with cp -a --no-preserve=X
  for np in mode ownership timestamps links xattr all; do
    clean n1 n2; cpt s n1 --no-preserve=$np >o.txt 2>e.txt; rc=$?
    cpt --verify-only s n1 --no-preserve=$np >vo.txt 2>ve.txt; vrc=$?; ok "--verify-only --no-preserve=$np on its own copy: rc 0 (rc=$vrc $(head -c 200 vo.txt ve.txt|tr '\n' '|'))" test $vrc = 0
    cp -a --no-preserve=$np s n2 2>/dev/null
    a=""; [ $np = timestamps -o $np = all ] && a="--no-mtime --no-atime"
    if [ $rc = 0 ] && cmp -s <($M n2 $a) <($M n1 $a); then pass "--no-preserve=$np == cp -a --no-preserve=$np"
    else fail "--no-preserve=$np differs from cp (rc=$rc): $(diff <($M n2 $a) <($M n1 $a) | head -6 | tr '\n' '|') $(head -c 200 e.txt)"; fi
  done
  cpt s n3 --no-preserve=bogus >o.txt 2>e.txt; rc=$?; ok "--no-preserve=bogus refused (rc=$rc)" test $rc != 0 -a ! -e n3
  # 5. threads/jobs extremes
  for tj in "1 1" "8 1000" "3 2"; do set -- $tj; clean tj; cpt src tj --threads $1 --jobs $2 >o.txt 2>e.txt; rc=$?
    ok "--threads $1 --jobs $2 same copy (rc=$rc)" test $rc = 0 -a "$($M tj | grep -v '^\. ' | md5sum)" = "$($M src | grep -v '^\. ' | md5sum)"; done
  for bad in "--threads 0" "--jobs 0" "--threads x" "--jobs"; do clean b; cpt s b $bad >o.txt 2>e.txt; rc=$?; grep -q usage e.txt; u=$?
    if [ $rc != 0 ]; then pass "bad '$bad': rc=$rc"; else echo "INFO [$DRV] '$bad' accepted: rc=0, copy == source: $(cmp -s <($M b | grep -v '^\. ') <($M s | grep -v '^\. ') && echo yes || echo no)"; fi; done
  # 6. --stats; progress on a terminal only
  clean st; cpt src st --stats >o.txt 2>e.txt; rc=$?; ok "--stats prints a summary (rc=$rc: $(head -c 200 o.txt e.txt | tr '\n' '|'))" test $rc = 0 -a -s o.txt -o $rc = 0 -a -s e.txt
  clean pt; script -qc "CURING_DRIVER=$DRV $C $R/src $R/pt" /dev/null > tty.txt; rc=$?
  ok "progress line on a terminal (rc=$rc: $(tr '\r' '\n' < tty.txt | tail -2 | tr '\n' '|' | head -c 200))" grep -qa . tty.txt
  clean pq; script -qc "CURING_DRIVER=$DRV $C $R/src $R/pq --quiet" /dev/null > ttyq.txt; ok "--quiet: no progress on a terminal" test ! -s ttyq.txt
  # 7. single-entry SRC, DST exists, SRC=DST, DST in SRC
  for e in plain sym fifo chr dangling sock; do clean one; cpt s/$e one >o.txt 2>e.txt; rc=$?; clean oneref; cp -a s/$e oneref
    ok "SRC = single $e like cp -a (rc=$rc $(head -c 120 e.txt))" test $rc = 0 -a "$($M one | cut -d' ' -f2-)" = "$($M oneref | cut -d' ' -f2-)"; done
  mkdir -p exists; cpt s exists >o.txt 2>e.txt; rc=$?; echo "INFO [$DRV] DST exists as dir: rc=$rc $(ls exists | head -3 | tr '\n' ' ') msg: $(head -c 200 e.txt)"
  ok "DST existing dir: either refused (rc 1, message) or copied" test $rc = 1 -a -s e.txt -o $rc = 0
  echo x > existsf; cpt s existsf >o.txt 2>e.txt; rc=$?; ok "DST existing file: refused with a message (rc=$rc $(head -c 150 e.txt))" test $rc != 0 -a -s e.txt
  cpt s s >o.txt 2>e.txt; rc=$?; ok "SRC = DST refused, tree intact (rc=$rc $(head -c 150 e.txt))" test $rc != 0 -a "$($M s | md5sum)" = "$($M s | md5sum)"
  clean s/inner; timeout 60 env CURING_DRIVER=$DRV $C s s/inner >o.txt 2>e.txt </dev/null; rc=$?
  ok "DST inside SRC refused up front like cp -a ('cannot copy a directory into itself')" test $rc != 0 -a ! -e s/inner/inner
  ok "DST inside SRC: ends, no endless recursion (rc=$rc depth=$(find s/inner -type d 2>/dev/null | awk -F/ '{print NF}' | sort -n | tail -1) $(head -c 150 e.txt))" test $rc != 124
  clean s/inner
  # 8. setgid directory as DST's parent
  mkdir -p sg; chown 0:777 sg; chmod 2775 sg; clean sg/c sg/r; cpt s sg/c; cpt --verify-only s sg/c >/dev/null; sgrc=$?; cp -a s sg/r
  # cp -a leaves the inherited setgid bit on directories; cptree gives them the source's mode (documented).
  ok "DST under a setgid parent: the source's modes and groups (--verify-only rc 0; dirs: cp $(stat -c %a sg/r/emptydir) cptree $(stat -c %a sg/c/emptydir))" test $sgrc = 0
  # 9. SIGINT mid-copy
  clean si; r=$(CURING_DRIVER=$DRV python3 $H/sigint.py $C src si 0.05); ok "SIGINT mid-copy (or after a copy that was faster): ends at once, no hang ($r; $(find si | wc -l) entries copied)" sh -c "echo '$r' | grep -Eq 'rc=(-2|0) exit_after=0'"
  # 10. grow/shrink while copied
  clean gs gsd; mkdir gs; dd if=/dev/urandom of=gs/f bs=1M count=64 status=none
  (for i in $(seq 30); do truncate -s $((RANDOM*2000)) gs/f; done) & q=$!
  cpt gs gsd >o.txt 2>e.txt; rc=$?; wait $q; ok "file changing size while copied: ends (rc=$rc $(head -c 150 e.txt))" test $rc -lt 2
  # 11. reflink on XFS, copy_file_range on ext4
  if mountpoint -q /work/outside21/mnt/xfs; then X=/work/outside21/mnt/xfs/ct_$DRV; clean $X; mkdir -p $X/s
    dd if=/dev/urandom of=$X/s/big bs=1M count=20 status=none; cpt $X/s $X/d >o.txt 2>e.txt; rc=$?
    ok "XFS: big file reflinked (shared extents) rc=$rc" sh -c "filefrag -v $X/d/big | grep -q shared && cmp -s $X/s/big $X/d/big"
    ok "ext4: big file copied, not shared" sh -c "! filefrag -v $R/out/big | grep -q shared && cmp -s $R/src/big $R/out/big"
  fi
  # 12. as nobody: unreadable file, setuid owned by others, capabilities
  N=/tmp/outside21_nobody_$DRV; clean $N; mkdir -p $N/s; cp -a $R/s/suid $R/s/capfile $R/s/plain $R/s/owned $N/s/; echo secret > $N/s/unreadable; chmod 600 $N/s/unreadable
  mkdir $N/s/closed; echo c > $N/s/closed/f; chmod 700 $N/s/closed; chmod 755 $N/s; chmod 777 $N
  su nobody -s /bin/sh -c "CURING_DRIVER=$DRV $C $N/s $N/c </dev/null" >o.txt 2>e.txt; rc=$?
  su nobody -s /bin/sh -c "cp -a $N/s $N/r" >/dev/null 2>cpe.txt
  ok "nobody: rc 1 (rc=$rc)" test $rc = 1
  ok "nobody: unreadable file reported with path and reason" grep -q "unreadable.*[Pp]ermission" e.txt
  ok "nobody: unlistable dir reported with path and reason" grep -q "closed.*[Pp]ermission" e.txt
  ok "nobody: setuid/setgid cleared on copy owned by nobody (mode $(stat -c %a $N/c/suid 2>/dev/null) vs cp $(stat -c %a $N/r/suid))" test "$(stat -c %a $N/c/suid 2>/dev/null)" = "$(stat -c %a $N/r/suid)"
  ok "nobody: capability it cannot set is reported" grep -q "capfile" e.txt
  ok "nobody: capfile's mtime still kept after its capability failed (cp -a keeps it)" test "$(stat -c %y $N/c/capfile)" = "$(stat -c %y $N/s/capfile)"
  ok "nobody: unlistable dir not left behind as an empty copy (cp -a creates none)" test ! -e $N/c/closed
  ok "nobody: other files copied like cp -a (plain, owned; atimes not compared: the first reader of a file nobody may not O_NOATIME moves it)" bash -c "cmp -s <($M $N/r --no-atime | grep -v 'unreadable\|closed\|suid\|capfile\|^\. ') <($M $N/c --no-atime | grep -v 'unreadable\|closed\|suid\|capfile\|^\. ')" 
  echo "INFO [$DRV] nobody stderr: $(head -c 800 e.txt | tr '\n' '|')"; echo "INFO [$DRV] cp -a as nobody stderr: $(head -c 500 cpe.txt | tr '\n' '|')"
done
echo "DONE $FAILS failed"; [ $FAILS = 0 ]
