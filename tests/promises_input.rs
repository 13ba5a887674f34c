//! Bad input gets a clear error, the buffer back, and touches nothing:
//! file offsets no file can have, and buffers longer than one read or
//! write may move (over 2 GiB), on both drivers.

mod common;

use curing::fs::File;
use curing::net::{TcpListener, UnixStream};
use std::io::{ErrorKind, Read, Write};
use std::time::Duration;

/// `MAX_RW_COUNT` of Linux: 2 GiB less a page, the most one call moves.
const MAX_RW: usize = 0x7fff_f000;

#[test]
fn offsets_past_i64_max_are_refused_and_change_nothing() {
    common::run(Duration::from_secs(20), || async {
        let dir = std::env::temp_dir().join(format!("curing-offsets-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("f");
        std::fs::write(&path, b"keep me").unwrap();
        let file = File::options()
            .read(true)
            .write(true)
            .open(&path)
            .await
            .unwrap();
        for pos in [u64::MAX, i64::MAX as u64 + 1, u64::MAX - 1] {
            let (res, buf) = file.write_at(b"OVERWRITE".to_vec(), pos).await;
            assert_eq!(
                res.unwrap_err().kind(),
                ErrorKind::InvalidInput,
                "write_at({pos})"
            );
            assert_eq!(buf, b"OVERWRITE", "the buffer comes back");
            let (res, buf) = file.read_at(Vec::with_capacity(16), pos).await;
            assert_eq!(
                res.unwrap_err().kind(),
                ErrorKind::InvalidInput,
                "read_at({pos})"
            );
            assert_eq!(buf.capacity(), 16);
            let (res, _) = file.write_all_at(b"X".to_vec(), pos).await;
            assert_eq!(res.unwrap_err().kind(), ErrorKind::InvalidInput);
            let (res, _) = file.read_exact_at(vec![0u8; 4], pos).await;
            assert_eq!(res.unwrap_err().kind(), ErrorKind::InvalidInput);
            let (res, _) = file.readv_at(vec![Vec::with_capacity(4)], pos).await;
            assert_eq!(res.unwrap_err().kind(), ErrorKind::InvalidInput);
            let (res, _) = file.writev_at(vec![b"X".to_vec()], pos).await;
            assert_eq!(res.unwrap_err().kind(), ErrorKind::InvalidInput);
            let (res, _) = file.read_to_end_at(Vec::new(), pos).await;
            assert_eq!(res.unwrap_err().kind(), ErrorKind::InvalidInput);
        }
        file.close().await.unwrap();
        assert_eq!(
            std::fs::read(&path).unwrap(),
            b"keep me",
            "the file is untouched"
        );
        std::fs::remove_dir_all(&dir).unwrap();
    });
}

/// A buffer of `len` bytes whose memory the kernel may read (zero pages:
/// nothing is touched until the kernel reads it).
fn huge_zeroed(len: usize) -> Vec<u8> {
    vec![0u8; len]
}

#[test]
fn buffers_over_2_gib_give_short_reads_and_writes() {
    common::run(Duration::from_secs(60), || async {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        let peer = std::thread::spawn(move || std::net::TcpStream::connect(addr).unwrap());
        let (stream, _) = listener.accept().await.unwrap();
        let mut peer = peer.join().unwrap();
        for len in [3usize << 30, 5 << 30] {
            // A write takes what the socket has room for, never more than
            // one call may move, and gives the buffer back.
            let (res, buf) = stream.write(huge_zeroed(len)).await;
            let n = res.unwrap_or_else(|e| panic!("write of {len} bytes: {e}"));
            assert!(n > 0 && n <= MAX_RW, "wrote {n} of {len}");
            assert_eq!(buf.len(), len);
            drop(buf);
            // Drain what was sent, so the next write has room.
            drain(&mut peer, n);
            // A read into a huge buffer returns what came.
            peer.write_all(b"hello").unwrap();
            let (res, buf) = stream.read(Vec::with_capacity(len)).await;
            let n = res.unwrap_or_else(|e| panic!("read into {len} bytes: {e}"));
            assert_eq!(&buf[..n], b"hello");
        }
        let (a, b) = UnixStream::pair().unwrap();
        let (res, _) = a.write(huge_zeroed(3 << 30)).await;
        let n = res.unwrap();
        assert!(n > 0 && n <= MAX_RW);
        let (res, buf) = b.read(Vec::with_capacity(3 << 30)).await;
        let got = res.unwrap();
        assert!(got > 0 && got <= n);
        assert!(buf.iter().all(|&x| x == 0));
    });
}

fn drain(peer: &mut std::net::TcpStream, mut n: usize) {
    let mut buf = vec![0u8; 1 << 20];
    while n > 0 {
        let got = peer.read(&mut buf[..n.min(1 << 20)]).unwrap();
        assert!(got > 0);
        n -= got;
    }
}
