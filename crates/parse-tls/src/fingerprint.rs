//! JA3 and JA4 client fingerprints of a ClientHello.
//!
//! Both identify the client software (a browser, curl, a Go service, a piece
//! of malware) from what it offers, independent of where it connects. They
//! are compared against other tools' output, so they follow the published
//! algorithms to the letter:
//!
//! - JA3 (Salesforce): `SSLVersion,Ciphers,Extensions,EllipticCurves,EcPointFormats`,
//!   decimal values joined by `-`, GREASE left out (as Wireshark does), MD5 in
//!   lowercase hex.
//! - JA4 (FoxIO, `technical_details/JA4.md`): `t13d1516h2_8daaf6152771_e5627efa2ab1`,
//!   always with the `t` (TLS over TCP) prefix here. GREASE is ignored
//!   everywhere, signature algorithms included (the spec says "anywhere it
//!   sees them"; mainstream clients do not GREASE that list anyway).

use crate::hello::ClientHello;
use md5::Md5;
use sha2::{Digest, Sha256};
use std::fmt::Write;

const EXT_SERVER_NAME: u16 = 0x0000;
const EXT_ALPN: u16 = 0x0010;
const EXT_SUPPORTED_VERSIONS: u16 = 0x002b;

/// Whether `v` is a GREASE value (RFC 8701): `0x0a0a`, `0x1a1a`, .. `0xfafa`.
/// Clients sprinkle these into every list to keep servers tolerant; they are
/// random per connection and so left out of lists and fingerprints.
pub fn is_grease(v: u16) -> bool {
    v & 0x0f0f == 0x0a0a && v >> 8 == v & 0xff
}

fn not_grease(v: &u16) -> bool {
    !is_grease(*v)
}

/// The JA3 string before hashing, e.g. `771,4865-4866,0-11-10,29-23,0`.
pub(crate) fn ja3_string(ch: &ClientHello<'_>) -> String {
    fn join(out: &mut String, values: impl Iterator<Item = u16>) {
        for (i, v) in values.enumerate() {
            if i > 0 {
                out.push('-');
            }
            // Writing to a String cannot fail.
            let _ = write!(out, "{v}");
        }
    }
    let mut s = String::with_capacity(256);
    let _ = write!(s, "{},", ch.legacy_version);
    join(&mut s, ch.ciphers.iter().copied().filter(not_grease));
    s.push(',');
    join(&mut s, ch.extensions.iter().copied().filter(not_grease));
    s.push(',');
    join(&mut s, ch.groups.iter().copied().filter(not_grease));
    s.push(',');
    join(&mut s, ch.point_formats.iter().map(|&f| u16::from(f)));
    s
}

/// JA3: MD5 of [`ja3_string`] in lowercase hex.
pub(crate) fn ja3(ch: &ClientHello<'_>) -> String {
    hex(&Md5::digest(ja3_string(ch).as_bytes()))
}

/// JA4 of a ClientHello seen over TCP.
pub(crate) fn ja4(ch: &ClientHello<'_>) -> String {
    let ciphers: Vec<u16> = ch.ciphers.iter().copied().filter(not_grease).collect();
    let extensions: Vec<u16> = ch.extensions.iter().copied().filter(not_grease).collect();

    let version = if extensions.contains(&EXT_SUPPORTED_VERSIONS) {
        ch.versions
            .as_deref()
            .and_then(|vs| vs.iter().copied().filter(not_grease).max())
            .unwrap_or(ch.legacy_version)
    } else {
        ch.legacy_version
    };
    let sni = if extensions.contains(&EXT_SERVER_NAME) {
        'd'
    } else {
        'i'
    };
    let (alpn_first, alpn_last) = alpn_chars(ch.alpn.first().copied().unwrap_or_default());

    let mut sorted_ciphers = ciphers.clone();
    sorted_ciphers.sort_unstable();
    let cipher_hash = hash12(&hex_list(&sorted_ciphers));

    let mut sorted_exts: Vec<u16> = extensions
        .iter()
        .copied()
        .filter(|&e| e != EXT_SERVER_NAME && e != EXT_ALPN)
        .collect();
    sorted_exts.sort_unstable();
    let ext_hash = if sorted_exts.is_empty() {
        hash12("")
    } else {
        let mut s = hex_list(&sorted_exts);
        let sigs: Vec<u16> = ch.sig_algs.iter().copied().filter(not_grease).collect();
        if !sigs.is_empty() {
            s.push('_');
            s.push_str(&hex_list(&sigs));
        }
        hash12(&s)
    };

    format!(
        "t{}{sni}{:02}{:02}{alpn_first}{alpn_last}_{cipher_hash}_{ext_hash}",
        ja4_version(version),
        ciphers.len().min(99),
        extensions.len().min(99),
    )
}

fn ja4_version(v: u16) -> &'static str {
    match v {
        0x0304 => "13",
        0x0303 => "12",
        0x0302 => "11",
        0x0301 => "10",
        0x0300 => "s3",
        0x0002 => "s2",
        0xfeff => "d1",
        0xfefd => "d2",
        0xfefc => "d3",
        _ => "00",
    }
}

/// First and last character of the first ALPN value: `h2` for "h2", `h1` for
/// "http/1.1", the character twice for a one-byte value, `00` for none; when
/// either end is not ASCII alphanumeric, the first and last nibble of the
/// value's hex form instead (`0xab 0xcd` gives `ad`).
fn alpn_chars(value: &[u8]) -> (char, char) {
    const HEX: &[u8; 16] = b"0123456789abcdef";
    let nibble = |n: u8| char::from(HEX.get(usize::from(n & 0x0f)).copied().unwrap_or(b'0'));
    match (value.first(), value.last()) {
        (Some(&first), Some(&last)) => {
            if first.is_ascii_alphanumeric() && last.is_ascii_alphanumeric() {
                (char::from(first), char::from(last))
            } else {
                (nibble(first >> 4), nibble(last))
            }
        }
        _ => ('0', '0'),
    }
}

/// Comma-joined 4-digit lowercase hex, as JA4 hashes lists.
fn hex_list(values: &[u16]) -> String {
    let mut s = String::with_capacity(values.len() * 5);
    for (i, v) in values.iter().enumerate() {
        if i > 0 {
            s.push(',');
        }
        let _ = write!(s, "{v:04x}");
    }
    s
}

/// First 12 hex digits of SHA-256; `000000000000` for an empty list, as the
/// spec asks, so "nothing offered" is recognisable.
fn hash12(s: &str) -> String {
    if s.is_empty() {
        return "000000000000".to_owned();
    }
    let digest = Sha256::digest(s.as_bytes());
    hex(digest.get(..6).unwrap_or_default())
}

fn hex(bytes: &[u8]) -> String {
    let mut s = String::with_capacity(bytes.len() * 2);
    for b in bytes {
        let _ = write!(s, "{b:02x}");
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The worked example of FoxIO's JA4 specification.
    fn spec_example() -> ClientHello<'static> {
        ClientHello {
            legacy_version: 0x0303,
            ciphers: vec![
                0x1301, 0x1302, 0x1303, 0xc02b, 0xc02f, 0xc02c, 0xc030, 0xcca9, 0xcca8, 0xc013,
                0xc014, 0x009c, 0x009d, 0x002f, 0x0035,
            ],
            extensions: vec![
                0x001b, 0x0000, 0x0033, 0x0010, 0x4469, 0x0017, 0x002d, 0x000d, 0x0005, 0x0023,
                0x0012, 0x002b, 0xff01, 0x000b, 0x000a, 0x0015,
            ],
            sni: Some(b"example.com"),
            alpn: vec![b"h2", b"http/1.1"],
            groups: vec![],
            point_formats: &[],
            sig_algs: vec![
                0x0403, 0x0804, 0x0401, 0x0503, 0x0805, 0x0501, 0x0806, 0x0601,
            ],
            versions: Some(vec![0x0304, 0x0303]),
        }
    }

    #[test]
    fn ja4_matches_the_spec_example() {
        assert_eq!(ja4(&spec_example()), "t13d1516h2_8daaf6152771_e5627efa2ab1");
    }

    #[test]
    fn ja4_ignores_grease_everywhere() {
        let mut ch = spec_example();
        ch.ciphers.insert(0, 0x2a2a);
        ch.extensions.insert(0, 0x8a8a);
        ch.extensions.push(0xfafa);
        ch.sig_algs.insert(0, 0xdada);
        ch.versions = Some(vec![0x4a4a, 0x0304, 0x0303]);
        assert_eq!(ja4(&spec_example()), ja4(&ch));
    }

    #[test]
    fn ja4_without_signature_algorithms_has_no_underscore() {
        let mut ch = spec_example();
        ch.sig_algs.clear();
        // The spec's own value for the extension list alone.
        assert!(ja4(&ch).ends_with("_6d807ffa2a79"), "{}", ja4(&ch));
    }

    #[test]
    fn ja4_empty_lists_hash_to_zeros() {
        let ch = ClientHello {
            legacy_version: 0x0301,
            ciphers: vec![],
            extensions: vec![],
            sni: None,
            alpn: vec![],
            groups: vec![],
            point_formats: &[],
            sig_algs: vec![],
            versions: None,
        };
        assert_eq!(ja4(&ch), "t10i000000_000000000000_000000000000");
    }

    #[test]
    fn ja4_alpn_rules() {
        assert_eq!(alpn_chars(b"http/1.1"), ('h', '1'));
        assert_eq!(alpn_chars(b"h"), ('h', 'h'));
        assert_eq!(alpn_chars(b""), ('0', '0'));
        // The spec's non-alphanumeric examples.
        assert_eq!(alpn_chars(&[0xab]), ('a', 'b'));
        assert_eq!(alpn_chars(&[0xab, 0xcd]), ('a', 'd'));
        assert_eq!(alpn_chars(&[0x30, 0xab]), ('3', 'b'));
        assert_eq!(alpn_chars(&[0x30, 0x31, 0xab, 0xcd]), ('3', 'd'));
        assert_eq!(alpn_chars(&[0x30, 0xab, 0xcd, 0x31]), ('0', '1'));
    }

    #[test]
    fn ja4_version_falls_back_to_the_legacy_field() {
        let mut ch = spec_example();
        ch.extensions.retain(|&e| e != EXT_SUPPORTED_VERSIONS);
        assert!(ja4(&ch).starts_with("t12d1515h2_"), "{}", ja4(&ch));
    }

    #[test]
    fn grease_values() {
        let grease: Vec<u16> = (0..=0xffff).filter(|&v| is_grease(v)).collect();
        assert_eq!(grease.len(), 16);
        assert_eq!(grease.first(), Some(&0x0a0a));
        assert_eq!(grease.last(), Some(&0xfafa));
    }

    #[test]
    fn ja3_string_leaves_grease_out() {
        let mut ch = spec_example();
        ch.ciphers = vec![0x0a0a, 0x1301];
        ch.extensions = vec![0x1a1a, 0x0000, 0x000a];
        ch.groups = vec![0x2a2a, 0x001d];
        ch.point_formats = &[0];
        assert_eq!(ja3_string(&ch), "771,4865,0-10,29,0");
    }
}
