//! The cipher suites this crate decrypts: the AEAD ones, which is what
//! TLS 1.3 has and what TLS 1.2 servers negotiate by default. CBC suites
//! (MAC-then-encrypt) are not supported: their connections are counted as
//! such and stay TLS records.

use crate::schedule::Hash;
use ring::aead;

/// The record protection of a suite.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Aead {
    Aes128Gcm,
    Aes256Gcm,
    Chacha20Poly1305,
}

impl Aead {
    pub(crate) fn algorithm(self) -> &'static aead::Algorithm {
        match self {
            Aead::Aes128Gcm => &aead::AES_128_GCM,
            Aead::Aes256Gcm => &aead::AES_256_GCM,
            Aead::Chacha20Poly1305 => &aead::CHACHA20_POLY1305,
        }
    }

    pub(crate) fn key_len(self) -> usize {
        match self {
            Aead::Aes128Gcm => 16,
            Aead::Aes256Gcm | Aead::Chacha20Poly1305 => 32,
        }
    }

    /// TLS 1.2's fixed (implicit) IV: 4 bytes for GCM, whose other 8 travel
    /// in each record (RFC 5288); all 12 for ChaCha20 (RFC 7905).
    pub(crate) fn fixed_iv_len12(self) -> usize {
        match self {
            Aead::Aes128Gcm | Aead::Aes256Gcm => 4,
            Aead::Chacha20Poly1305 => 12,
        }
    }
}

/// A decryptable suite: its AEAD and the hash of its key schedule.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Suite {
    pub aead: Aead,
    pub hash: Hash,
    pub tls13: bool,
}

/// The suite with this IANA number, if it can be decrypted.
pub(crate) fn suite(id: u16) -> Option<Suite> {
    use Aead::*;
    use Hash::*;
    let (aead, hash, tls13) = match id {
        0x1301 => (Aes128Gcm, Sha256, true),
        0x1302 => (Aes256Gcm, Sha384, true),
        0x1303 => (Chacha20Poly1305, Sha256, true),
        // *_WITH_AES_128_GCM_SHA256: RSA, DHE_RSA, ECDHE_ECDSA, ECDHE_RSA.
        0x009c | 0x009e | 0xc02b | 0xc02f => (Aes128Gcm, Sha256, false),
        // *_WITH_AES_256_GCM_SHA384.
        0x009d | 0x009f | 0xc02c | 0xc030 => (Aes256Gcm, Sha384, false),
        // *_WITH_CHACHA20_POLY1305_SHA256: ECDHE_RSA, ECDHE_ECDSA, DHE_RSA.
        0xcca8..=0xccaa => (Chacha20Poly1305, Sha256, false),
        _ => return None,
    };
    Some(Suite { aead, hash, tls13 })
}

/// Whether connections with this cipher suite can be decrypted.
pub fn is_supported(id: u16) -> bool {
    suite(id).is_some()
}
