#!/bin/bash
# mktree.sh DIR [big]: builds a source tree with odd things in DIR (root only). "big" adds 20,000 entries + 200 levels.
set -e
S=$1; mkdir -p "$S"; cd "$S"
printf 'hello\n' > plain
: > empty
mkdir -p 'with space/sub' emptydir ro_dir setgid_dir sticky_dir
printf 'x' > 'with space/a file'
python3 - <<'PY'
import os
open(b'nl\nname', 'w').write('n')
open(b'bad\xff\xfebytes', 'w').write('b')
os.mkdir(b'dir\xc3(\n'); open(b'dir\xc3(\n/inner', 'w').write('i')
open(b'-leading-dash', 'w').write('d')
import socket; s = socket.socket(socket.AF_UNIX); s.bind('sock'); s.close()
PY
mkfifo fifo; chmod 640 fifo
mknod chr c 1 3; mknod blk b 7 9; chmod 600 blk
printf 'ro' > ro_dir/f; chmod 555 ro_dir
chmod 2775 setgid_dir; chown 0:1234 setgid_dir; printf s > setgid_dir/f
chmod 1777 sticky_dir
printf 'suid' > suid; chown 4321:4321 suid; chmod 6755 suid
printf 'other' > owned; chown 1000:2000 owned; chmod 640 owned
# hard links across dirs, hard-linked symlink, link whose other path is outside SRC
printf 'hl' > hl1; mkdir -p hldir; ln hl1 hldir/hl2; ln hl1 'with space/hl3'
ln -s plain sym; ln -P sym hldir/sym_hard
printf 'out' > "$S.outside_link_target"; ln "$S.outside_link_target" half_link
ln -s /nonexistent/target dangling; ln -s loop_b loop_a; ln -s loop_a loop_b; ln -s with\ space dirsym; ln -s /etc/hostname abssym
# sparse files
truncate -s 8M sparse_all
dd if=/dev/urandom of=sparse_start bs=1M seek=4 count=1 status=none
dd if=/dev/urandom of=sparse_mid bs=1M count=1 status=none; dd if=/dev/urandom of=sparse_mid bs=1M seek=5 count=1 conv=notrunc status=none
dd if=/dev/urandom of=sparse_end bs=1M count=1 status=none; truncate -s 9M sparse_end
dd if=/dev/urandom of=big bs=1M count=12 status=none
dd if=/dev/urandom of=medium bs=1K count=300 status=none
# xattrs, ACLs, capability, trusted on symlink
setfattr -n user.color -v blue plain; setfattr -n user.bin -v 0x00ff00 empty
setfattr -n trusted.secret -v 42 plain
setfacl -m u:65534:r-x,g:1234:rw plain
mkdir acl_dir; setfacl -m u:65534:rwx acl_dir; setfacl -d -m u:65534:rwx,g::r-x acl_dir; printf a > acl_dir/inherits
cp /bin/true capfile; setcap 'cap_net_bind_service,cap_net_raw+ep' capfile
setfattr -h -n trusted.onlink -v L sym
setfattr -n user.d -v dirattr emptydir
# immutable
printf imm > immutable; chattr +i immutable || true
# times (before 1970, nanoseconds) on files, dirs and symlinks
touch -h -d '1960-02-03 04:05:06.123456789' sym dangling
touch -d '1969-12-31 23:59:59.999999999' plain
touch -a -d '2001-01-01 00:00:00.5' plain
touch -d '2030-05-05 05:05:05.000000001' empty
touch -d '1970-01-01 00:00:00.000000001' emptydir
if [ "$2" = big ]; then
  mkdir many; (cd many && seq 1 20000 | xargs touch)
  p=deep; for i in $(seq 200); do p=$p/d$i; done; mkdir -p "$p"; printf deep > "$p/leaf"
fi
# all file atimes old, so that a read moves them (relatime) unless O_NOATIME
find . -type f ! -name immutable -newer "$S/plain" -exec touch -a -d '2000-01-01 00:00:00.25' {} + 2>/dev/null || true
touch -a -d '2000-01-01' big medium sparse_mid hl1
# directory times last
find . -depth -type d ! -path . -exec touch -d '1965-06-06 06:06:06.606060606' {} + ; touch -d '1965-06-06 06:06:06.606060606' ro_dir acl_dir
