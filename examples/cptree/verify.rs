//! cptree's `--verify`: compares a source tree and its copy entry by entry.

use super::{keeps_xattr, open_source, Preserve};
use curing::fs::{self, Metadata};
use std::collections::HashMap;
use std::ffi::OsString;
use std::io;
use std::path::{Path, PathBuf};

/// What `--verify` compares; `Preserve` fields that are off are skipped.
/// Returns every difference found, as `path: what: src vs dst` lines.
pub fn verify_tree(src: &Path, dst: &Path, preserve: Preserve) -> Vec<String> {
    let (src, dst) = (src.to_owned(), dst.to_owned());
    curing::run(async move {
        let mut v = Verifier {
            preserve,
            diffs: Vec::new(),
            links: HashMap::new(),
            back: HashMap::new(),
        };
        v.entry(&src, &dst).await;
        v.diffs
    })
}

struct Verifier {
    preserve: Preserve,
    diffs: Vec<String>,
    /// Source inode → copy inode, and back: hard-link groups must match.
    links: HashMap<(u64, u64), (u64, u64)>,
    back: HashMap<(u64, u64), (u64, u64)>,
}

impl Verifier {
    fn diff(&mut self, path: &Path, what: &str, a: impl std::fmt::Debug, b: impl std::fmt::Debug) {
        self.diffs
            .push(format!("{}: {what}: {a:?} vs {b:?}", path.display()));
    }

    /// Compares one entry (and, for a directory, everything below it).
    async fn entry(&mut self, src: &Path, dst: &Path) {
        let mut stack = vec![(src.to_owned(), dst.to_owned())];
        while let Some((a, b)) = stack.pop() {
            let (ma, mb) = match (
                fs::symlink_metadata(&a).await,
                fs::symlink_metadata(&b).await,
            ) {
                (Ok(ma), Ok(mb)) => (ma, mb),
                (Err(e), _) => {
                    self.diffs
                        .push(format!("{}: cannot read: {e}", a.display()));
                    continue;
                }
                (_, Err(e)) => {
                    self.diffs
                        .push(format!("{}: missing in the copy: {e}", b.display()));
                    continue;
                }
            };
            if !self.compare_meta(&a, &ma, &mb) {
                continue;
            }
            let kind = ma.mode() & libc::S_IFMT;
            if kind == libc::S_IFDIR {
                self.children(&a, &b, &mut stack).await;
            } else if kind == libc::S_IFREG {
                self.contents(&a, &b).await;
            } else if kind == libc::S_IFLNK {
                let (ta, tb) = (fs::read_link(&a).await.ok(), fs::read_link(&b).await.ok());
                if ta != tb {
                    self.diff(&a, "symlink target", ta, tb);
                }
            }
            if self.preserve.xattr || self.preserve.mode {
                let keep = |v: Vec<(OsString, Option<Vec<u8>>)>| -> Vec<_> {
                    v.into_iter()
                        .filter(|(n, _)| keeps_xattr(self.preserve, n))
                        .collect()
                };
                let (xa, xb) = (keep(xattrs(&a).await), keep(xattrs(&b).await));
                if xa != xb {
                    self.diff(&a, "xattrs", xa, xb);
                }
            }
        }
    }

    /// Type, size, mode, owner, times, hard-link group; false if the types
    /// differ (nothing more to compare).
    fn compare_meta(&mut self, a: &Path, ma: &Metadata, mb: &Metadata) -> bool {
        let (ka, kb) = (ma.mode() & libc::S_IFMT, mb.mode() & libc::S_IFMT);
        if ka != kb {
            self.diff(a, "type", ka, kb);
            return false;
        }
        if ka != libc::S_IFDIR && ma.len() != mb.len() {
            self.diff(a, "size", ma.len(), mb.len());
        }
        if self.preserve.mode && ka != libc::S_IFLNK && ma.mode() != mb.mode() {
            self.diff(
                a,
                "mode",
                format!("{:o}", ma.mode()),
                format!("{:o}", mb.mode()),
            );
        }
        if self.preserve.ownership && (ma.uid(), ma.gid()) != (mb.uid(), mb.gid()) {
            self.diff(a, "owner", (ma.uid(), ma.gid()), (mb.uid(), mb.gid()));
        }
        if self.preserve.timestamps {
            if ma.modified() != mb.modified() {
                self.diff(a, "mtime", ma.modified(), mb.modified());
            }
            // Only files: listing a directory or reading a symlink moves
            // the source's own access time (cptree copies the time from
            // before; `cp -a` and this comparison move it too).
            if ka == libc::S_IFREG && ma.accessed() != mb.accessed() {
                self.diff(a, "atime", ma.accessed(), mb.accessed());
            }
        }
        if (ka == libc::S_IFCHR || ka == libc::S_IFBLK) && ma.rdev() != mb.rdev() {
            self.diff(a, "device", ma.rdev(), mb.rdev());
        }
        if self.preserve.links && ka != libc::S_IFDIR && (ma.nlink() > 1 || mb.nlink() > 1) {
            let (ia, ib) = ((ma.dev(), ma.ino()), (mb.dev(), mb.ino()));
            let fwd = *self.links.entry(ia).or_insert(ib);
            let back = *self.back.entry(ib).or_insert(ia);
            if fwd != ib || back != ia {
                self.diffs.push(format!(
                    "{}: hard links: grouped differently in the copy",
                    a.display()
                ));
            }
        }
        true
    }

    /// Queues the children present on both sides; reports the others.
    async fn children(&mut self, a: &Path, b: &Path, stack: &mut Vec<(PathBuf, PathBuf)>) {
        let (na, nb) = (names(a).await, names(b).await);
        let (na, nb) = match (na, nb) {
            (Ok(na), Ok(nb)) => (na, nb),
            (Err(e), _) | (_, Err(e)) => {
                self.diffs
                    .push(format!("{}: cannot list: {e}", a.display()));
                return;
            }
        };
        for name in &na {
            if nb.binary_search(name).is_ok() {
                stack.push((a.join(name), b.join(name)));
            } else {
                self.diffs
                    .push(format!("{}: missing in the copy", a.join(name).display()));
            }
        }
        for name in nb.iter().filter(|n| na.binary_search(n).is_err()) {
            self.diffs
                .push(format!("{}: only in the copy", b.join(name).display()));
        }
    }

    async fn contents(&mut self, a: &Path, b: &Path) {
        let res: io::Result<Option<u64>> = async {
            let (fa, fb) = (open_source(a, None).await?, open_source(b, None).await?);
            let mut pos = 0u64;
            let (mut ba, mut bb) = (Vec::with_capacity(1 << 20), Vec::with_capacity(1 << 20));
            loop {
                let (ra, x) = fa.read_at(ba, pos).await;
                let (rb, y) = fb.read_at(bb, pos).await;
                (ba, bb) = (x, y);
                let (na, nb) = (ra?, rb?);
                if ba[..na] != bb[..nb] {
                    let first = ba
                        .iter()
                        .zip(&bb)
                        .position(|(x, y)| x != y)
                        .unwrap_or(na.min(nb));
                    return Ok(Some(pos + first as u64));
                }
                if na == 0 {
                    return Ok(None);
                }
                pos += na as u64;
                ba.clear();
                bb.clear();
            }
        }
        .await;
        match res {
            Ok(None) => {}
            Ok(Some(at)) => self
                .diffs
                .push(format!("{}: contents differ from byte {at}", a.display())),
            Err(e) => self
                .diffs
                .push(format!("{}: cannot compare contents: {e}", a.display())),
        }
    }
}

/// A directory's entry names, sorted.
async fn names(dir: &Path) -> io::Result<Vec<OsString>> {
    let mut out = Vec::new();
    let mut entries = fs::read_dir(dir).await?;
    while let Some(e) = entries.next_entry().await? {
        out.push(e.file_name());
    }
    out.sort();
    Ok(out)
}

/// Every xattr of `path` itself, sorted by name (empty where the file
/// system keeps none).
async fn xattrs(path: &Path) -> Vec<(OsString, Option<Vec<u8>>)> {
    let mut names = fs::symlink_xattr_names(path).await.unwrap_or_default();
    names.sort();
    let mut out = Vec::new();
    for name in names {
        let value = fs::symlink_xattr(path, &name).await.ok().flatten();
        out.push((name, value));
    }
    out
}
