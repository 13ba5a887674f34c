//! TLS with rustls over the tokio-io adapter: the `tls_echo` example's
//! server with a self-signed certificate made here, talked to by a rustls
//! client on curing and by `openssl s_client`.
#![cfg(feature = "tokio-io")]

mod common;

#[allow(dead_code)]
#[path = "../examples/tls_echo.rs"]
mod tls_echo;

use curing::compat::Compat;
use curing::net::{TcpListener, TcpStream};
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio_rustls::rustls::pki_types::{CertificateDer, ServerName};
use tokio_rustls::rustls::{self, ClientConfig, RootCertStore};
use tokio_rustls::TlsConnector;

const T: Duration = Duration::from_secs(30);

/// Starts the example's server with a fresh self-signed certificate;
/// returns its address, the certificate (DER) and its PEM.
fn start_server() -> (SocketAddr, CertificateDer<'static>, String) {
    let (pem, certs, key) = tls_echo::self_signed().unwrap();
    let cert = certs[0].clone();
    let acceptor = tls_echo::acceptor(certs, key).unwrap();
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    curing::spawn(tls_echo::serve(listener, acceptor));
    (addr, cert, pem)
}

fn connector(cert: CertificateDer<'static>) -> TlsConnector {
    let mut roots = RootCertStore::empty();
    roots.add(cert).unwrap();
    let config =
        ClientConfig::builder_with_provider(Arc::new(rustls::crypto::ring::default_provider()))
            .with_safe_default_protocol_versions()
            .unwrap()
            .with_root_certificates(roots)
            .with_no_client_auth();
    TlsConnector::from(Arc::new(config))
}

#[test]
fn rustls_client_and_server_on_curing() {
    common::run(T, || async {
        let (addr, cert, _) = start_server();
        let tcp = TcpStream::connect(addr).await.unwrap();
        let name = ServerName::try_from("localhost").unwrap();
        let mut tls = connector(cert)
            .connect(name, Compat::new(tcp))
            .await
            .unwrap();
        tls.write_all(b"hello tls\n").await.unwrap();
        tls.flush().await.unwrap();
        let mut buf = [0u8; 10];
        tls.read_exact(&mut buf).await.unwrap();
        assert_eq!(&buf, b"hello tls\n");
        // A large line: many TLS records each way.
        let mut big = vec![b'x'; 1_000_000];
        big.push(b'\n');
        let (mut r, mut w) = tokio::io::split(tls);
        let writer = async {
            w.write_all(&big).await.unwrap();
            w.write_all(b"quit\n").await.unwrap();
            w.flush().await.unwrap();
        };
        let mut echoed = Vec::new();
        let reader = async { r.read_to_end(&mut echoed).await.unwrap() };
        futures_util::future::join(writer, reader).await;
        assert_eq!(echoed.len(), big.len() + 4);
        assert!(echoed.ends_with(b"x\nbye\n"));
    });
}

#[test]
fn wrong_certificate_is_refused() {
    common::run(T, || async {
        let (addr, _cert, _) = start_server();
        let (_, other, _) = tls_echo::self_signed().unwrap();
        let tcp = TcpStream::connect(addr).await.unwrap();
        let name = ServerName::try_from("localhost").unwrap();
        let res = connector(other[0].clone())
            .connect(name, Compat::new(tcp))
            .await;
        let Err(err) = res else {
            panic!("a certificate from another key must be refused")
        };
        assert!(err.to_string().contains("certificate"), "{err}");
    });
}

#[test]
fn openssl_s_client_talks_to_the_example() {
    common::run(T, || async {
        let found = curing::spawn_blocking(|| {
            std::process::Command::new("openssl")
                .arg("version")
                .output()
                .is_ok()
        });
        if !found.await.unwrap() {
            println!("skipped: openssl is not installed (ci/test.sh installs it)");
            return;
        }
        let (addr, _, pem) = start_server();
        let dir = std::env::temp_dir().join(format!("curing-tls-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let ca = dir.join("ca.pem");
        std::fs::write(&ca, pem).unwrap();
        let out = curing::spawn_blocking(move || {
            use std::io::Write;
            use std::process::{Command, Stdio};
            let mut child = Command::new("openssl")
                .args([
                    "s_client",
                    "-quiet",
                    "-verify_return_error",
                    "-servername",
                    "localhost",
                ])
                .arg("-connect")
                .arg(addr.to_string())
                .arg("-CAfile")
                .arg(&ca)
                .stdin(Stdio::piped())
                .stdout(Stdio::piped())
                .stderr(Stdio::piped())
                .spawn()
                .unwrap();
            // -quiet ignores end of input: s_client exits when the server
            // closes, after `quit`.
            child
                .stdin
                .take()
                .unwrap()
                .write_all(b"ping from openssl\nquit\n")
                .unwrap();
            let out = child.wait_with_output().unwrap();
            std::fs::remove_dir_all(ca.parent().unwrap()).unwrap();
            out
        })
        .await
        .unwrap();
        let stdout = String::from_utf8_lossy(&out.stdout);
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(stdout, "ping from openssl\nbye\n", "stderr: {stderr}");
        assert!(stderr.contains("verify return:1"), "{stderr}");
    });
}
