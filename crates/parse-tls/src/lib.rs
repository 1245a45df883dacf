//! TLS handshake parser: who a client talked to, how, and with what software.
//!
//! Almost everything on a cluster network is TLS, so the handshake is the
//! only place podwire can still learn the server name (SNI), the application
//! protocol (ALPN), the negotiated version and cipher, fingerprints of the
//! client software (JA3, JA4) and, up to TLS 1.2, the server's certificate.
//! This crate reads those from the two byte streams of one TCP connection and
//! emits one [`TlsEvent`] per connection; everything after the handshake is
//! ciphertext and is not looked at.
//!
//! The pieces, in the order bytes flow through them:
//!
//! - `record`: cuts each direction into record fragments (buffers at most a
//!   5-byte header) and [`looks_like_tls`] for detection by content;
//! - `handshake`: reassembles handshake messages across records and
//!   segments, copying only messages that are actually cut;
//! - `hello`: reads ClientHello and ServerHello;
//! - `fingerprint`: JA3 and JA4;
//! - `cert`: the server's leaf certificate;
//! - `names`: IANA names of cipher suites and versions;
//! - `parser`: the per-connection state machine behind [`TlsParser`].
//!
//! Not supported: SSLv2-compatible ClientHellos (the tracker is told
//! [`Status::Failed`](podwire_parse::Status::Failed)), renegotiation (only the
//! first handshake is reported), and encrypted ClientHello (the outer,
//! public hello is what gets reported).

mod cert;
mod fingerprint;
mod handshake;
mod hello;
mod names;
mod parser;
mod record;
mod wire;

pub use cert::{certificate_from_der, leaf_certificate_tls13};
pub use fingerprint::is_grease;
pub use names::{cipher_suite_name, version_name};
pub use parser::TlsParser;
pub use record::looks_like_tls;

use podwire_record::{Timestamp, Tls};

/// Limits of a [`TlsParser`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TlsConfig {
    /// Most bytes of one handshake message buffered per direction, when the
    /// message is cut across records or segments (messages that arrive whole
    /// are never copied). A message that would need more (a huge certificate
    /// chain) ends parsing: the handshake is reported with what was seen and
    /// the connection is marked failed. Default: 64 KiB, comfortably above
    /// real certificate chains.
    pub max_handshake_bytes: usize,
}

impl Default for TlsConfig {
    fn default() -> Self {
        TlsConfig {
            max_handshake_bytes: 64 * 1024,
        }
    }
}

/// One observed TLS handshake: the body of a `"tls"` record, plus the time
/// the tracker needs to place it.
#[derive(Clone, Debug, PartialEq)]
pub struct TlsEvent {
    /// Capture time of the packet carrying the start of the ClientHello, or
    /// of the ServerHello when no ClientHello was seen.
    pub ts: Timestamp,
    /// ClientHello to ServerHello (or HelloRetryRequest), when both were seen.
    pub latency_ms: Option<f64>,
    /// What was offered and chosen; fields stay empty/null where the
    /// handshake did not show them (e.g. `alpn_selected` and `certificate`
    /// under TLS 1.3, which encrypts them).
    pub tls: Tls,
}
