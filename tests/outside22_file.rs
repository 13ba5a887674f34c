//! Outside tests (issue 22): `fs::File::{read, write, write_all}` (the
//! position-based ones) dropped at every point, on regular files and on a
//! pipe wrapped in a `File`, on both drivers.

use std::os::fd::{FromRawFd, OwnedFd};
use std::path::PathBuf;
use std::rc::Rc;
use std::time::Duration;

use curing::fs::File;
use curing::runtime::DriverKind;
use curing::time::timeout;

mod outside22_common;
use outside22_common::{on_both, pattern, poll_once, Rng};

fn scratch(name: &str, kind: DriverKind) -> PathBuf {
    std::env::temp_dir().join(format!("outside22_{name}_{kind:?}_{}", std::process::id()))
}

fn pipe_files() -> (File, File) {
    let mut fds = [0; 2];
    assert_eq!(unsafe { libc::pipe2(fds.as_mut_ptr(), libc::O_CLOEXEC) }, 0);
    let r = unsafe { OwnedFd::from_raw_fd(fds[0]) };
    let w = unsafe { OwnedFd::from_raw_fd(fds[1]) };
    (File::from(r), File::from(w))
}

/// Reads with cut-offs of every kind; returns whether the stream goes on.
async fn storm_read(rng: &mut Rng, f: &File, got: &mut Vec<u8>) -> bool {
    let size = 1 + rng.below(70_000) as usize;
    match rng.below(5) {
        0 => {
            drop(f.read(vec![0u8; size]));
            true
        }
        1 => {
            let mut fut = Box::pin(f.read(vec![0u8; size]));
            match poll_once(&mut fut).await {
                Some((res, buf)) => {
                    let n = res.unwrap();
                    got.extend_from_slice(&buf[..n]);
                    n != 0
                }
                None => true,
            }
        }
        2 | 3 => {
            let d = Duration::from_micros(rng.below(200));
            match timeout(d, f.read(vec![0u8; size])).await {
                Ok((res, buf)) => {
                    let n = res.unwrap();
                    got.extend_from_slice(&buf[..n]);
                    n != 0
                }
                Err(_) => true,
            }
        }
        _ => {
            let (res, buf) = f.read(vec![0u8; size]).await;
            let n = res.unwrap();
            got.extend_from_slice(&buf[..n]);
            n != 0
        }
    }
}

#[test]
fn file_read_storm_regular_file_exact() {
    on_both(|kind| async move {
        let path = scratch("readstorm", kind);
        let data = pattern(4 << 20, 17);
        std::fs::write(&path, &data).unwrap();
        let f = File::open(&path).await.unwrap();
        let mut rng = Rng(2024);
        let mut got = Vec::new();
        while storm_read(&mut rng, &f, &mut got).await {}
        f.close().await.unwrap();
        std::fs::remove_file(&path).unwrap();
        assert_eq!(got.len(), data.len(), "{kind:?}: length");
        assert!(got == data, "{kind:?}: bytes differ");
    });
}

#[test]
fn file_read_storm_pipe_exact() {
    on_both(|kind| async move {
        let (r, w) = pipe_files();
        let data = Rc::new(pattern(2 << 20, 19));
        let d2 = data.clone();
        let writer = curing::spawn(async move {
            let mut rng = Rng(8);
            let mut off = 0;
            while off < d2.len() {
                let n = (1 + rng.below(30_000) as usize).min(d2.len() - off);
                w.write_all(d2[off..off + n].to_vec()).await.0.unwrap();
                off += n;
            }
            w.close().await.unwrap();
        });
        let mut rng = Rng(99);
        let mut got = Vec::new();
        while storm_read(&mut rng, &r, &mut got).await {}
        writer.await.unwrap();
        assert_eq!(got.len(), data.len(), "{kind:?}: length");
        assert!(got == *data, "{kind:?}: bytes differ");
    });
}

/// Several reads of one regular file in flight at once, polled in order:
/// each byte read once; in poll order they are the file from its start.
#[test]
fn file_concurrent_reads_every_byte_once_in_order() {
    on_both(|kind| async move {
        let path = scratch("concread", kind);
        let data = pattern(1 << 20, 23);
        std::fs::write(&path, &data).unwrap();
        let f = File::open(&path).await.unwrap();
        let mut got = Vec::new();
        loop {
            let mut futs: Vec<_> = (0..8)
                .map(|_| Box::pin(f.read(vec![0u8; 10_000])))
                .collect();
            for fut in futs.iter_mut() {
                let _ = poll_once(fut).await; // start them all, in order
            }
            let mut end = false;
            for fut in futs {
                let (res, buf) = fut.await;
                let n = res.unwrap();
                if n == 0 {
                    end = true;
                }
                got.extend_from_slice(&buf[..n]);
            }
            if end {
                break;
            }
        }
        f.close().await.unwrap();
        std::fs::remove_file(&path).unwrap();
        assert_eq!(got.len(), data.len(), "{kind:?}: length");
        assert!(got == data, "{kind:?}: bytes out of order or repeated");
    });
}

/// A big write_all to a regular file cut off by a tiny timeout, then a
/// marker: the file is a prefix of the big buffer then the marker, no hole
/// and no overlap (the position follows what was really written).
#[test]
fn file_write_all_dropped_then_marker() {
    on_both(|kind| async move {
        let path = scratch("wdrop", kind);
        let big = pattern(64 << 20, 29);
        let mut cut = false;
        for us in [0u64, 5, 50, 500, 2000] {
            let f = File::create(&path).await.unwrap();
            let r = timeout(Duration::from_micros(us), f.write_all(big.clone())).await;
            cut |= r.is_err();
            let marker = b"==MARKER==".to_vec();
            f.write_all(marker.clone()).await.0.unwrap();
            f.close().await.unwrap();
            let got = std::fs::read(&path).unwrap();
            assert!(got.len() >= marker.len(), "{kind:?} {us}us: file too short");
            let k = got.len() - marker.len();
            assert!(
                got[k..] == marker[..],
                "{kind:?} {us}us: file does not end with the marker ({} bytes)",
                got.len()
            );
            assert!(k <= big.len(), "{kind:?} {us}us");
            if got[..k] != big[..k] {
                let first = (0..k).find(|&i| got[i] != big[i]).unwrap();
                panic!(
                    "{kind:?} {us}us: {k} bytes before the marker are not a prefix: first difference at {first} (got {}, want {})",
                    got[first], big[first]
                );
            }
        }
        std::fs::remove_file(&path).unwrap();
        eprintln!("{kind:?}: some write_all cut off: {cut}");
    });
}

/// The same through a pipe in a File: what the reader gets is a prefix of
/// the cut-off write, then the marker.
#[test]
fn pipe_file_write_all_dropped_then_marker() {
    on_both(|kind| async move {
        let (r, w) = pipe_files();
        let big = pattern(16 << 20, 31);
        let reader = curing::spawn(async move {
            // Slow start: let the writer fill the pipe.
            curing::time::sleep(Duration::from_millis(20)).await;
            let mut got = Vec::new();
            loop {
                let (res, buf) = r.read(vec![0u8; 65536]).await;
                let n = res.unwrap();
                if n == 0 {
                    break;
                }
                got.extend_from_slice(&buf[..n]);
            }
            got
        });
        let res = timeout(Duration::from_millis(5), w.write_all(big.clone())).await;
        assert!(res.is_err(), "{kind:?}: 16 MiB went through a stalled pipe");
        let marker = b"==PIPE-MARKER==".to_vec();
        w.write_all(marker.clone()).await.0.unwrap();
        w.close().await.unwrap();
        let got = reader.await.unwrap();
        let k = got.len() - marker.len();
        assert!(got[k..] == marker[..], "{kind:?}: marker not last");
        assert!(got[..k] == big[..k], "{kind:?}: not a prefix");
    });
}
