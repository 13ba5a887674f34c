//! Direct I/O: aligned buffers sized from `statx(STATX_DIOALIGN)`, round
//! trips that bypass the page cache, and clear errors for misaligned
//! offsets and lengths.

mod common;

use curing::buf::AlignedBuf;
use curing::fs::{File, OpenOptions};
use std::io::ErrorKind;
use std::path::PathBuf;
use std::time::Duration;

const T: Duration = Duration::from_secs(20);

fn path(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_TARGET_TMPDIR"))
        .join(format!("fs-direct-{}-{name}", std::process::id()))
}

#[test]
fn aligned_buffer_basics() {
    // The caught panic below may open fds (backtrace symbolization).
    let _fd = common::fd_lock();
    let mut b = AlignedBuf::new(1000, 512);
    assert_eq!((b.capacity(), b.alignment(), b.len()), (1024, 512, 0));
    assert_eq!(b.as_ptr() as usize % 512, 0);
    b.extend_from_slice(b"abc");
    assert_eq!(&b[..], b"abc");
    b.set_len(1024);
    assert_eq!(b[1023], 0, "zeroed memory");
    b.clear();
    assert!(b.is_empty());
    let big = AlignedBuf::new(1, 1 << 16);
    assert_eq!(big.as_ptr() as usize % (1 << 16), 0);
    assert!(std::panic::catch_unwind(|| AlignedBuf::new(10, 3)).is_err());
}

#[test]
fn direct_round_trip_and_misalignment() {
    let p = path("rt");
    common::run(T, move || async move {
        let opened = OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .direct(true)
            .open(&p)
            .await;
        let file = match opened {
            Ok(f) => f,
            Err(e) if e.raw_os_error() == Some(libc::EINVAL) => {
                eprintln!("SKIPPED: O_DIRECT not supported on this file system: {e}");
                return;
            }
            Err(e) => panic!("open O_DIRECT: {e}"),
        };
        let meta = file.metadata().await.unwrap();
        let (mem, off) = meta
            .dio_alignment()
            .expect("Linux 6.1+ reports STATX_DIOALIGN on ext4");
        assert!(mem > 0 && off > 0, "{mem} {off}");
        let mut buf = AlignedBuf::for_file(&file, 64 << 10).await.unwrap();
        let align = buf.alignment();
        assert_eq!(align, mem.max(off) as usize);
        assert_eq!(buf.as_ptr() as usize % align, 0);

        let data: Vec<u8> = (0..64u32 << 10).map(|i| (i % 251) as u8).collect();
        buf.extend_from_slice(&data);
        let (res, buf) = file.write_direct_at(buf, align as u64 * 4).await;
        assert_eq!(res.unwrap(), 64 << 10);
        let mut buf = buf;
        buf.clear();
        let (res, buf) = file.read_direct_at(buf, align as u64 * 4).await;
        assert_eq!(res.unwrap(), 64 << 10);
        assert!(buf[..] == data[..]);
        // At the end of the file: fewer bytes.
        let (res, mut buf) = file
            .read_direct_at(buf, (align as u64 * 4) + (32 << 10))
            .await;
        assert_eq!(res.unwrap(), 32 << 10);

        // Misaligned offset and length: clear errors, buffer back.
        buf.set_len(align);
        let (res, buf) = file.write_direct_at(buf, 1).await;
        let e = res.unwrap_err();
        assert_eq!(e.kind(), ErrorKind::InvalidInput);
        assert!(e.to_string().contains("offset 1"), "{e}");
        assert_eq!(buf.len(), align, "buffer back unchanged");
        let mut buf = buf;
        buf.set_len(align - 1);
        let (res, buf) = file.write_direct_at(buf, 0).await;
        let e = res.unwrap_err();
        assert!(
            e.to_string().contains(&format!("length {}", align - 1)),
            "{e}"
        );
        let (res, _) = file.read_direct_at(buf, align as u64 + 3).await;
        assert!(res.unwrap_err().to_string().contains("not a multiple"));

        // What the check saves us from: the kernel's bare EINVAL.
        let (res, _) = file.read_at(vec![0u8; 4096], 1).await;
        assert_eq!(res.unwrap_err().raw_os_error(), Some(libc::EINVAL));
        file.close().await.unwrap();

        // A buffered file is fine with the same calls.
        let plain = File::open(&p).await.unwrap();
        let (res, _) = plain.read_direct_at(AlignedBuf::new(4096, 4096), 0).await;
        assert_eq!(res.unwrap(), 4096);
        drop(plain);
        std::fs::remove_file(&p).unwrap();
    });
}
