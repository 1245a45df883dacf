//! Key derivation: the TLS 1.2 PRF (RFC 5246, 5) and TLS 1.3's
//! `HKDF-Expand-Label` (RFC 8446, 7.1), both on ring's HMAC and HKDF.
//!
//! The key log gives the secrets; these turn them into record keys and IVs
//! (and, for a TLS 1.3 KeyUpdate, into the next traffic secret).

use ring::{hkdf, hmac};

/// The hash a cipher suite's key schedule runs on.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Hash {
    Sha256,
    Sha384,
}

impl Hash {
    pub(crate) fn len(self) -> usize {
        match self {
            Hash::Sha256 => 32,
            Hash::Sha384 => 48,
        }
    }

    fn hmac(self) -> hmac::Algorithm {
        match self {
            Hash::Sha256 => hmac::HMAC_SHA256,
            Hash::Sha384 => hmac::HMAC_SHA384,
        }
    }

    fn hkdf(self) -> hkdf::Algorithm {
        match self {
            Hash::Sha256 => hkdf::HKDF_SHA256,
            Hash::Sha384 => hkdf::HKDF_SHA384,
        }
    }
}

/// TLS 1.2 `PRF(secret, label, seed)` filling `out` (P_hash with the suite's hash).
pub(crate) fn prf12(hash: Hash, secret: &[u8], label: &[u8], seed: &[u8], out: &mut [u8]) {
    let key = hmac::Key::new(hash.hmac(), secret);
    let mut label_seed = Vec::with_capacity(label.len() + seed.len());
    label_seed.extend_from_slice(label);
    label_seed.extend_from_slice(seed);
    // A(1) = HMAC(secret, label + seed)
    let mut a = hmac::sign(&key, &label_seed);
    let mut filled = 0;
    while filled < out.len() {
        let mut ctx = hmac::Context::with_key(&key);
        ctx.update(a.as_ref());
        ctx.update(&label_seed);
        let block = ctx.sign();
        let n = (out.len() - filled).min(block.as_ref().len());
        if let (Some(dst), Some(src)) = (out.get_mut(filled..filled + n), block.as_ref().get(..n)) {
            dst.copy_from_slice(src);
        }
        filled += n;
        a = hmac::sign(&key, a.as_ref());
    }
}

/// An output length for ring's HKDF (which wants it as a type).
struct Len(usize);

impl hkdf::KeyType for Len {
    fn len(&self) -> usize {
        self.0
    }
}

/// TLS 1.3 `HKDF-Expand-Label(secret, label, context, out.len())`. Returns
/// false only for lengths HKDF refuses (over 255 hashes), which no caller asks.
pub(crate) fn expand_label(
    hash: Hash,
    secret: &[u8],
    label: &[u8],
    context: &[u8],
    out: &mut [u8],
) -> bool {
    let (Ok(len), Ok(label_len), Ok(ctx_len)) = (
        u16::try_from(out.len()),
        u8::try_from(6 + label.len()),
        u8::try_from(context.len()),
    ) else {
        return false;
    };
    let mut info = Vec::with_capacity(4 + 6 + label.len() + context.len());
    info.extend_from_slice(&len.to_be_bytes());
    info.push(label_len);
    info.extend_from_slice(b"tls13 ");
    info.extend_from_slice(label);
    info.push(ctx_len);
    info.extend_from_slice(context);
    let prk = hkdf::Prk::new_less_safe(hash.hkdf(), secret);
    let parts = [info.as_slice()];
    match prk.expand(&parts, Len(out.len())) {
        Ok(okm) => okm.fill(out).is_ok(),
        Err(_) => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn unhex(s: &str) -> Vec<u8> {
        let s: String = s.split_whitespace().collect();
        (0..s.len())
            .step_by(2)
            .map(|i| u8::from_str_radix(&s[i..i + 2], 16).unwrap())
            .collect()
    }

    /// RFC 8448, section 3 (Simple 1-RTT Handshake): the server handshake
    /// traffic secret gives the server's handshake write key and IV.
    #[test]
    fn rfc8448_traffic_keys() {
        let s_hs = unhex(
            "b6 7b 7d 69 0c c1 6c 4e 75 e5 42 13 cb 2d 37 b4
             e9 c9 12 bc de d9 10 5d 42 be fd 59 d3 91 ad 38",
        );
        let mut key = [0u8; 16];
        let mut iv = [0u8; 12];
        assert!(expand_label(Hash::Sha256, &s_hs, b"key", b"", &mut key));
        assert!(expand_label(Hash::Sha256, &s_hs, b"iv", b"", &mut iv));
        assert_eq!(
            key.to_vec(),
            unhex("3f ce 51 60 09 c2 17 27 d0 f2 e4 e8 6e e4 03 bc")
        );
        assert_eq!(iv.to_vec(), unhex("5d 31 3e b2 67 12 76 ee 13 00 0b 30"));
    }

    /// The TLS 1.2 PRF test vector for SHA-256 published with the IETF TLS
    /// working group's PRF checks (secret, seed and label as given there).
    #[test]
    fn prf12_sha256_vector() {
        let secret = unhex("9b be 43 6b a9 40 f0 17 b1 76 52 84 9a 71 db 35");
        let seed = unhex("a0 ba 9f 93 6c da 31 18 27 a6 f7 96 ff d5 19 8c");
        let mut out = [0u8; 100];
        prf12(Hash::Sha256, &secret, b"test label", &seed, &mut out);
        assert_eq!(
            out.to_vec(),
            unhex(
                "e3 f2 29 ba 72 7b e1 7b 8d 12 26 20 55 7c d4 53
                 c2 aa b2 1d 07 c3 d4 95 32 9b 52 d4 e6 1e db 5a
                 6b 30 17 91 e9 0d 35 c9 c9 a4 6b 4e 14 ba f9 af
                 0f a0 22 f7 07 7d ef 17 ab fd 37 97 c0 56 4b ab
                 4f bc 91 66 6e 9d ef 9b 97 fc e3 4f 79 67 89 ba
                 a4 80 82 d1 22 ee 42 c5 a7 2e 5a 51 10 ff f7 01
                 87 34 7b 66"
            )
        );
    }
}
