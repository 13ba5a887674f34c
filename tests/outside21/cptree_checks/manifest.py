#!/usr/bin/env python3
"""manifest.py ROOT: one line per entry (lstat, no following), sorted; names as escaped bytes.
Fields: path type mode uid gid size mtime_ns atime_ns(files only) rdev link-target sha256 xattrs hardlink-group sparse
Options: --no-atime (drop atimes), --no-sparse"""
import os, sys, stat, hashlib
root = os.fsencode(sys.argv[1]); opts = set(sys.argv[2:])
ents = {}
for dp, dns, fns in os.walk(root):
    for n in [b''] if dp == root else []: pass
    for n in dns + fns + ([b'.'] if dp == root else []):
        p = os.path.join(dp, n) if n != b'.' else dp
        ents[os.path.relpath(p, root)] = p
groups = {}
out = []
for rel in sorted(ents):
    p = ents[rel]; st = os.lstat(p); m = st.st_mode
    t = 'd' if stat.S_ISDIR(m) else 'l' if stat.S_ISLNK(m) else 'f' if stat.S_ISREG(m) else 'p' if stat.S_ISFIFO(m) else 's' if stat.S_ISSOCK(m) else 'c' if stat.S_ISCHR(m) else 'b'
    f = [repr(rel)[2:-1], t, '%o' % stat.S_IMODE(m), str(st.st_uid), str(st.st_gid)]
    f.append(str(st.st_size) if t in 'fl' else '-')
    f.append(str(st.st_mtime_ns) if '--no-mtime' not in opts else '-')
    f.append(str(st.st_atime_ns) if t == 'f' and '--no-atime' not in opts else '-')
    f.append(str(st.st_rdev) if t in 'cb' else '-')
    f.append(repr(os.readlink(p)) if t == 'l' else '-')
    if t == 'f':
        h = hashlib.sha256()
        fd = os.open(p, os.O_RDONLY | os.O_NOATIME)
        with open(fd, 'rb') as fh:
            for c in iter(lambda: fh.read(1 << 20), b''): h.update(c)
        f.append(h.hexdigest()[:16])
        f.append('sparse' if st.st_blocks * 512 < st.st_size - 65536 and '--no-sparse' not in opts else 'dense')
    else:
        f += ['-', '-']
    try:
        xs = sorted(os.listxattr(p, follow_symlinks=False))
        f.append(','.join('%s=%s' % (x, os.getxattr(p, x, follow_symlinks=False).hex()[:40]) for x in xs) or '-')
    except OSError as e:
        f.append('xattr-err')
    key = (st.st_dev, st.st_ino) if t != 'd' else None
    if key: groups.setdefault(key, []).append(rel)
    out.append((f, key))
lines = []
for f, key in out:
    g = groups.get(key, [])
    f.append('link:' + repr(g[0])[2:-1] if len(g) > 1 else '-')
    lines.append(' '.join(f))
print('\n'.join(lines))
