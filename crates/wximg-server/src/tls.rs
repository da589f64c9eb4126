//! TLS for `serve --tls-cert FILE --tls-key FILE`: the listener speaks HTTPS itself, so
//! that clients which hard-code `https://api.weixin.qq.com` reach wximg with no change
//! but a hosts entry and a trusted CA (`wximg tls init` makes both files).
//!
//! Invariant: a server configured for TLS never starts without a usable certificate and
//! key — a missing file, a file with no certificate, or a key that does not match the
//! certificate fails [`acceptor`] with a message naming the file, before the port is
//! bound. The crypto is rustls on the ring provider, as every other TLS use of wximg
//! (README "One TLS crypto provider, ring"); ALPN offers `h2` then `http/1.1`, and the
//! connection limits of [`crate::connections`] bound the handshake like any request head.

use std::path::PathBuf;
use std::sync::Arc;

use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};

/// Where the certificate chain and its private key are (PEM files).
#[derive(Debug, Clone)]
pub struct TlsFiles {
    /// The server's certificate, then any intermediate certificates (PEM).
    pub cert: PathBuf,
    /// The certificate's private key (PEM: PKCS#8, PKCS#1 or SEC1).
    pub key: PathBuf,
}

/// A handshake-ready acceptor for `files`.
pub type Acceptor = tokio_rustls::TlsAcceptor;

/// Reads `files` and builds the acceptor; fails with a message naming the file at fault.
pub fn acceptor(files: &TlsFiles) -> anyhow::Result<Acceptor> {
    let cert_name = files.cert.display();
    let key_name = files.key.display();
    let chain = CertificateDer::pem_file_iter(&files.cert)
        .and_then(|certs| certs.collect::<Result<Vec<_>, _>>())
        .map_err(|e| anyhow::anyhow!("--tls-cert {cert_name}: {e}"))?;
    if chain.is_empty() {
        anyhow::bail!("--tls-cert {cert_name}: no PEM certificate in the file");
    }
    let key = PrivateKeyDer::from_pem_file(&files.key)
        .map_err(|e| anyhow::anyhow!("--tls-key {key_name}: {e}"))?;
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let mut config = rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| anyhow::anyhow!("TLS protocol versions: {e}"))?
        .with_no_client_auth()
        // Checks that the key is the certificate's: a mismatch fails here, not per client.
        .with_single_cert(chain, key)
        .map_err(|e| anyhow::anyhow!("--tls-cert {cert_name} with --tls-key {key_name}: {e}"))?;
    config.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
    Ok(tokio_rustls::TlsAcceptor::from(Arc::new(config)))
}
