//! TLS decryption for capture files, from key logs: the bridge that lets the
//! `parse` stage see inside TLS.
//!
//! Almost everything worth looking at is TLS. A capture plus the key log the
//! client wrote (`SSLKEYLOGFILE`, pcapng decryption secrets) is enough to read
//! it, the way Wireshark does: this crate turns the two ciphertext streams of
//! one TCP connection back into the two plaintext streams the protocol
//! parsers already understand. It has the parsers' shape: bytes in,
//! plaintext out, no I/O, no clock, every buffer bounded.
//!
//! - `keylog`: the key log text format and the bounded table of secrets,
//!   indexed by the ClientHello's random ([`KeyLog`], shared as [`KeyStore`]);
//! - `schedule`: the TLS 1.2 PRF and TLS 1.3 `HKDF-Expand-Label` (ring);
//! - `suite`: which cipher suites can be decrypted (AEAD only);
//! - `wire`: record and handshake framing;
//! - `session`: the per-connection state machine ([`Decryptor`]).
//!
//! Secrets never leave this crate except as keys handed to ring; `Debug`
//! of every type holding them prints counts only.

mod keylog;
mod schedule;
mod session;
mod suite;
mod wire;

pub use keylog::{KeyLog, KeyLogConfig, KeyLogStats, KeyStore};
pub use session::{DecryptConfig, DecryptState, Decryptor, Notes};
pub use suite::is_supported;

/// Which way bytes flow, as the tracker says it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Side {
    /// Client to server.
    Client,
    /// Server to client.
    Server,
}

impl Side {
    fn idx(self) -> usize {
        match self {
            Side::Client => 0,
            Side::Server => 1,
        }
    }
}
