//! The TLS client side of talking to agents (peers asking each other,
//! `podwire sniff --agent https://...`): rustls with the ring provider,
//! trusting only the certificate authorities of a given file, never the
//! system's (an agent's certificate comes from its own CA).

use crate::{Error, Result};
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::CertificateDer;
use std::path::Path;
use std::sync::Arc;
use tokio_rustls::TlsConnector;

/// A connector trusting the certificate authorities in `ca` (PEM).
pub fn connector(ca: &Path) -> Result<TlsConnector> {
    connector_for(ca, b"http/1.1")
}

/// The same, offering `alpn` (`h2` for gRPC, which needs it negotiated).
pub fn connector_for(ca: &Path, alpn: &[u8]) -> Result<TlsConnector> {
    let mut roots = rustls::RootCertStore::empty();
    let certs = CertificateDer::pem_file_iter(ca)
        .and_then(|i| i.collect::<Result<Vec<_>, _>>())
        .map_err(|e| Error::tls(ca.display().to_string(), e))?;
    let (added, _) = roots.add_parsable_certificates(certs);
    if added == 0 {
        return Err(Error::tls(ca.display().to_string(), "no certificate in it"));
    }
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let mut config = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| Error::tls("TLS protocol versions", e))?
        .with_root_certificates(roots)
        .with_no_client_auth();
    config.alpn_protocols = vec![alpn.to_vec()];
    Ok(TlsConnector::from(Arc::new(config)))
}
