#!/usr/bin/env python3
"""Compares a copied directory tree with its source, metadata first.

    ci/cmp-tree.py SRC DST               # metadata of every entry
    ci/cmp-tree.py --contents SRC DST    # ... and the bytes of every regular file
    ci/cmp-tree.py --atime SRC DST       # ... and access times too

Walks both trees without following symlinks and compares them entry by
entry (the roots included): presence, type, size (regular files and
symlinks: a directory's size depends on its history, not on its entries),
permission bits (all 12: rwx for all three, setuid, setgid, sticky), owner
uid and gid, mtime in nanoseconds (directories' too), atime in nanoseconds
with --atime, symlink targets, device numbers of device nodes, extended
attributes (names and values, read without following symlinks: user.*,
security.*, trusted.* as root, and ACLs, which are system.* attributes),
hard-link groups (paths of the tree sharing an inode in SRC must share one
in DST, and the other way round; links to inodes outside the tree are not
counted), and with --contents the contents of regular files of equal size
(read in 1 MiB blocks and compared byte for byte).

Prints every difference as `path: what: src vs dst` (path relative to the
roots, "." for the roots themselves), in path order, then one summary line:

    cmp-tree: N entries: identical
    cmp-tree: N entries: M differences (mtime 12, xattr 3)

(the differences counted by kind; a hard-link group that differs counts
once).

Exit status: 0 if the trees match, 1 if they differ, 2 on a usage error or
when a root cannot be read. Entries that vanish or cannot be read during the
walk count as differences ("unreadable"). Python 3 standard library only.
"""

import argparse
import os
import stat
import sys
from collections import Counter

TYPES = {
    stat.S_IFREG: "file",
    stat.S_IFDIR: "dir",
    stat.S_IFLNK: "symlink",
    stat.S_IFIFO: "fifo",
    stat.S_IFSOCK: "socket",
    stat.S_IFCHR: "char device",
    stat.S_IFBLK: "block device",
}

CHUNK = 1 << 20


def walk(root):
    """Maps each path relative to root ("." for root) to its lstat result,
    depth first without following symlinks. Unreadable directories map to
    the OSError raised when listing them (under the directory's path + "/")."""
    entries = {".": os.lstat(root)}
    errors = {}
    stack = ["."]
    while stack:
        rel = stack.pop()
        path = root if rel == "." else os.path.join(root, rel)
        try:
            with os.scandir(path) as it:
                children = list(it)
        except OSError as e:
            errors[rel] = e
            continue
        for entry in children:
            child = entry.name if rel == "." else os.path.join(rel, entry.name)
            try:
                st = entry.stat(follow_symlinks=False)
            except OSError as e:
                errors[child] = e
                continue
            entries[child] = st
            if stat.S_ISDIR(st.st_mode):
                stack.append(child)
    return entries, errors


def xattrs(path):
    """Name -> value of the extended attributes of path (not followed)."""
    out = {}
    for name in os.listxattr(path, follow_symlinks=False):
        try:
            out[name] = os.getxattr(path, name, follow_symlinks=False)
        except OSError as e:
            out[name] = "<unreadable: %s>" % e.strerror
    return out


def link_groups(entries):
    """Path -> sorted tuple of the paths of the tree sharing its inode, for
    every non-directory whose inode is shared inside the tree."""
    by_inode = {}
    for rel, st in entries.items():
        if not stat.S_ISDIR(st.st_mode) and st.st_nlink > 1:
            by_inode.setdefault((st.st_dev, st.st_ino), []).append(rel)
    groups = {}
    for paths in by_inode.values():
        if len(paths) > 1:
            group = tuple(sorted(paths))
            for p in paths:
                groups[p] = group
    return groups


def same_contents(a, b):
    with open(a, "rb") as fa, open(b, "rb") as fb:
        while True:
            x = fa.read(CHUNK)
            y = fb.read(CHUNK)
            if x != y:
                return False
            if not x:
                return True


def short(value, limit=60):
    text = repr(value)
    return text if len(text) <= limit else text[: limit - 3] + "..."


def main():
    ap = argparse.ArgumentParser(
        description="Compare a copied tree with its source (metadata, optionally contents).",
        epilog="Prints `path: what: src vs dst` per difference and a summary; exit 1 if any.",
    )
    ap.add_argument("src")
    ap.add_argument("dst")
    ap.add_argument("--contents", action="store_true", help="compare the bytes of regular files")
    ap.add_argument("--atime", action="store_true", help="compare access times too")
    ap.add_argument("--max-lines", type=int, default=0, metavar="N",
                    help="print at most N differences (all are counted; 0: no limit)")
    args = ap.parse_args()

    try:
        src, src_err = walk(args.src)
        dst, dst_err = walk(args.dst)
    except OSError as e:
        print("cmp-tree: %s" % e, file=sys.stderr)
        return 2

    diffs = []  # (path, kind, src text, dst text)

    def diff(rel, kind, a, b):
        diffs.append((rel, kind, a, b))

    for rel, e in sorted(src_err.items()):
        diff(rel, "unreadable", "error %s" % e.strerror, "-")
    for rel, e in sorted(dst_err.items()):
        diff(rel, "unreadable", "-", "error %s" % e.strerror)

    src_groups = link_groups(src)
    dst_groups = link_groups(dst)
    seen_groups = set()

    for rel in sorted(set(src) | set(dst)):
        if rel not in dst:
            diff(rel, "missing", TYPES.get(stat.S_IFMT(src[rel].st_mode), "?"), "absent")
            continue
        if rel not in src:
            diff(rel, "extra", "absent", TYPES.get(stat.S_IFMT(dst[rel].st_mode), "?"))
            continue
        s, d = src[rel], dst[rel]
        sp = args.src if rel == "." else os.path.join(args.src, rel)
        dp = args.dst if rel == "." else os.path.join(args.dst, rel)
        st_type, dt_type = stat.S_IFMT(s.st_mode), stat.S_IFMT(d.st_mode)
        if st_type != dt_type:
            diff(rel, "type", TYPES.get(st_type, "?"), TYPES.get(dt_type, "?"))
            continue
        if st_type in (stat.S_IFREG, stat.S_IFLNK) and s.st_size != d.st_size:
            diff(rel, "size", s.st_size, d.st_size)
        if stat.S_IMODE(s.st_mode) != stat.S_IMODE(d.st_mode):
            diff(rel, "mode", "%04o" % stat.S_IMODE(s.st_mode), "%04o" % stat.S_IMODE(d.st_mode))
        if s.st_uid != d.st_uid:
            diff(rel, "uid", s.st_uid, d.st_uid)
        if s.st_gid != d.st_gid:
            diff(rel, "gid", s.st_gid, d.st_gid)
        if s.st_mtime_ns != d.st_mtime_ns:
            diff(rel, "mtime", s.st_mtime_ns, d.st_mtime_ns)
        if args.atime and s.st_atime_ns != d.st_atime_ns:
            diff(rel, "atime", s.st_atime_ns, d.st_atime_ns)
        if st_type in (stat.S_IFCHR, stat.S_IFBLK) and s.st_rdev != d.st_rdev:
            diff(rel, "rdev", "%d:%d" % (os.major(s.st_rdev), os.minor(s.st_rdev)),
                 "%d:%d" % (os.major(d.st_rdev), os.minor(d.st_rdev)))
        try:
            if st_type == stat.S_IFLNK:
                a, b = os.readlink(sp), os.readlink(dp)
                if a != b:
                    diff(rel, "symlink target", a, b)
            xs, xd = xattrs(sp), xattrs(dp)
            for name in sorted(set(xs) | set(xd)):
                if xs.get(name) != xd.get(name):
                    diff(rel, "xattr",
                         "%s=%s" % (name, short(xs[name])) if name in xs else "no " + name,
                         "%s=%s" % (name, short(xd[name])) if name in xd else "no " + name)
            if (args.contents and st_type == stat.S_IFREG and s.st_size == d.st_size
                    and not same_contents(sp, dp)):
                diff(rel, "contents", "differ", "differ")
        except OSError as e:
            diff(rel, "unreadable", "-", "error %s on %s" % (e.strerror, e.filename))
        gs, gd = src_groups.get(rel, (rel,)), dst_groups.get(rel, (rel,))
        # One difference per link group (the group in SRC, or in DST for
        # links SRC does not have), reported at its first path.
        key = gs if len(gs) > 1 else gd
        if gs != gd and key not in seen_groups:
            seen_groups.add(key)
            diff(rel, "hard links",
                 "linked with %s" % ", ".join(p for p in gs if p != rel) if len(gs) > 1 else "not linked",
                 "linked with %s" % ", ".join(p for p in gd if p != rel) if len(gd) > 1 else "not linked")

    diffs.sort(key=lambda t: t[0])
    for i, (rel, kind, a, b) in enumerate(diffs):
        if args.max_lines and i >= args.max_lines:
            print("... %d more differences" % (len(diffs) - i))
            break
        print("%s: %s: %s vs %s" % (rel, kind, a, b))
    entries = len(set(src) | set(dst))
    if diffs:
        kinds = Counter(kind for _, kind, _, _ in diffs)
        print("cmp-tree: %d entries: %d difference%s (%s)" % (
            entries, len(diffs), "" if len(diffs) == 1 else "s",
            ", ".join("%s %d" % kv for kv in sorted(kinds.items()))))
        return 1
    print("cmp-tree: %d entries: identical" % entries)
    return 0


if __name__ == "__main__":
    sys.exit(main())
