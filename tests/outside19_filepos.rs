//! Outside tester's tests (issue 19): mixed sequential File operations keep
//! the same file position as std.
//! Written as a separate crate from the README and the crate docs alone;
//! every test holds the fd lock and a hard timeout (`outside19_common::guard`).
#[path = "outside19_common/mod.rs"]
mod outside19_common;
#[allow(unused_imports)]
use outside19_common::*;
#[test]
fn mixed_sequential_ops_match_std() {
    let _guard = guard();
    let p = tmp("o19-pos");
    std::fs::write(p, b"0123456789").unwrap();
    let got = curing::run(async {
        let f = curing::fs::File::options()
            .read(true)
            .write(true)
            .open(p)
            .await
            .unwrap();
        let (r, b) = f.read(vec![0u8; 3]).await;
        let a = b[..r.unwrap()].to_vec();
        let (r, _) = f.write(b"XY".to_vec()).await;
        r.unwrap();
        let (r, _) = f.read_at(vec![0u8; 2], 0).await; // must not move position
        r.unwrap();
        let (r, b) = f.read(vec![0u8; 3]).await;
        let c = b[..r.unwrap()].to_vec();
        f.set_len(20).await.unwrap();
        let (r, b) = f.read_to_end(Vec::new()).await;
        r.unwrap();
        (a, c, b, std::fs::read(p).unwrap())
    });
    std::fs::write(p, b"0123456789").unwrap();
    use std::io::{Read, Write};
    use std::os::unix::fs::FileExt;
    let mut f = std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .open(p)
        .unwrap();
    let mut a = [0u8; 3];
    let n = f.read(&mut a).unwrap();
    f.write_all(b"XY").unwrap();
    let mut z = [0u8; 2];
    f.read_at(&mut z, 0).unwrap();
    let mut c = [0u8; 3];
    let m = f.read(&mut c).unwrap();
    f.set_len(20).unwrap();
    let mut rest = Vec::new();
    f.read_to_end(&mut rest).unwrap();
    let exp = (
        a[..n].to_vec(),
        c[..m].to_vec(),
        rest,
        std::fs::read(p).unwrap(),
    );
    assert_eq!(got, exp);
}
