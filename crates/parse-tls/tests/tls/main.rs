//! Integration tests of the TLS parser, from handshakes captured on the wire.
//!
//! The fixtures in `tests/data` are real loopback handshakes between
//! OpenSSL/curl and `openssl s_server` (see `tests/data/README.md`); expected
//! values come from `openssl x509` and tshark on the same captures.

mod captures;
mod fingerprints;
mod robustness;
mod util;
