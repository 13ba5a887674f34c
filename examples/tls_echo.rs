//! A TLS line-echo server: rustls (through tokio-rustls) over curing TCP
//! streams wrapped in `curing::compat::Compat`.
//!
//! ```text
//! cargo run --features tokio-io --example tls_echo -- [CERT.pem KEY.pem] [ADDR]
//! openssl s_client -connect 127.0.0.1:4433 -CAfile CERT.pem -quiet
//! ```
//!
//! Without a certificate it makes a self-signed one for `localhost` and
//! `127.0.0.1` (rcgen) and writes it to `tls_echo_cert.pem` in the temp dir.
//! Each line a client sends comes back; the line `quit` gets `bye` and a
//! clean TLS close.

use curing::compat::Compat;
use curing::net::{TcpListener, TcpStream};
use std::io;
use std::sync::Arc;
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio_rustls::rustls::pki_types::pem::PemObject;
use tokio_rustls::rustls::pki_types::{CertificateDer, PrivateKeyDer};
use tokio_rustls::rustls::{self, ServerConfig};
use tokio_rustls::TlsAcceptor;

#[allow(dead_code)] // tests/compat_tls.rs includes this file for `serve`
#[curing::main]
async fn main() -> io::Result<()> {
    let mut args: Vec<String> = std::env::args().skip(1).collect();
    let (certs, key) = if args.len() >= 2 {
        let (cert, key) = (args.remove(0), args.remove(0));
        let certs = CertificateDer::pem_file_iter(&cert)
            .and_then(|c| c.collect::<Result<Vec<_>, _>>())
            .map_err(io::Error::other)?;
        (
            certs,
            PrivateKeyDer::from_pem_file(&key).map_err(io::Error::other)?,
        )
    } else {
        let (cert_pem, certs, key) = self_signed()?;
        let path = std::env::temp_dir().join("tls_echo_cert.pem");
        std::fs::write(&path, cert_pem)?;
        println!("self-signed certificate: {}", path.display());
        (certs, key)
    };
    let addr = args.first().map_or("127.0.0.1:4433", String::as_str);
    let listener = TcpListener::bind(addr)?;
    println!("listening on {}", listener.local_addr()?);
    serve(listener, acceptor(certs, key)?).await
}

/// A certificate for `localhost` and `127.0.0.1`: its PEM, DER and key.
pub fn self_signed() -> io::Result<(String, Vec<CertificateDer<'static>>, PrivateKeyDer<'static>)> {
    let made = rcgen::generate_simple_self_signed(vec!["localhost".into(), "127.0.0.1".into()])
        .map_err(io::Error::other)?;
    let key =
        PrivateKeyDer::try_from(made.signing_key.serialize_der()).map_err(io::Error::other)?;
    Ok((made.cert.pem(), vec![made.cert.der().clone()], key))
}

/// A rustls acceptor (ring crypto) for `certs` and `key`.
pub fn acceptor(
    certs: Vec<CertificateDer<'static>>,
    key: PrivateKeyDer<'static>,
) -> io::Result<TlsAcceptor> {
    let config =
        ServerConfig::builder_with_provider(Arc::new(rustls::crypto::ring::default_provider()))
            .with_safe_default_protocol_versions()
            .map_err(io::Error::other)?
            .with_no_client_auth()
            .with_single_cert(certs, key)
            .map_err(io::Error::other)?;
    Ok(TlsAcceptor::from(Arc::new(config)))
}

/// Accepts connections forever, each echoed by its own task.
pub async fn serve(listener: TcpListener, acceptor: TlsAcceptor) -> io::Result<()> {
    loop {
        let (stream, peer) = listener.accept().await?;
        let acceptor = acceptor.clone();
        curing::spawn(async move {
            if let Err(e) = echo(acceptor, stream).await {
                eprintln!("{peer}: {e}");
            }
        });
    }
}

async fn echo(acceptor: TlsAcceptor, stream: TcpStream) -> io::Result<()> {
    let tls = acceptor.accept(Compat::new(stream)).await?;
    let mut tls = BufReader::new(tls);
    let mut line = String::new();
    loop {
        line.clear();
        if tls.read_line(&mut line).await? == 0 {
            break;
        }
        if line.trim_end() == "quit" {
            tls.write_all(b"bye\n").await?;
            break;
        }
        tls.write_all(line.as_bytes()).await?;
        tls.flush().await?;
    }
    // close_notify, flush, then TCP shutdown(Write).
    tls.shutdown().await
}
