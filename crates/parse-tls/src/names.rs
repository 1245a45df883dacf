//! Human names for the numbers a handshake carries.
//!
//! Records show cipher suites and versions by name so that a reader (or a
//! Grafana table) needs no lookup. Cipher names come from the IANA registry
//! that `tls-parser` compiles in; unknown values print as hex so nothing is
//! ever dropped or invented.

use tls_parser::TlsCipherSuite;

/// The IANA name of a cipher suite, e.g. `TLS_AES_128_GCM_SHA256` for
/// `0x1301`; signalling values keep theirs (`TLS_EMPTY_RENEGOTIATION_INFO_SCSV`,
/// `TLS_FALLBACK_SCSV`). Unregistered values (GREASE included) print as
/// lowercase hex, e.g. `0x0a0a`.
pub fn cipher_suite_name(id: u16) -> String {
    match TlsCipherSuite::from_id(id) {
        Some(suite) => suite.name.to_owned(),
        None => hex16(id),
    }
}

/// The name of a protocol version: `"SSL 3.0"`, `"TLS 1.0"` .. `"TLS 1.3"`,
/// `"TLS 1.3 (draft 28)"` for pre-RFC drafts, `"DTLS 1.x"`; anything else
/// (GREASE included) as lowercase hex, e.g. `0x0305`.
pub fn version_name(v: u16) -> String {
    let name = match v {
        0x0002 => "SSL 2.0",
        0x0300 => "SSL 3.0",
        0x0301 => "TLS 1.0",
        0x0302 => "TLS 1.1",
        0x0303 => "TLS 1.2",
        0x0304 => "TLS 1.3",
        0xfeff => "DTLS 1.0",
        0xfefd => "DTLS 1.2",
        0xfefc => "DTLS 1.3",
        // Drafts of TLS 1.3 announced themselves as 0x7f00 + draft number.
        0x7f00..=0x7fff => return format!("TLS 1.3 (draft {})", v & 0xff),
        _ => return hex16(v),
    };
    name.to_owned()
}

fn hex16(v: u16) -> String {
    format!("0x{v:04x}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tls13_and_tls12_suites_have_iana_names() {
        assert_eq!(cipher_suite_name(0x1301), "TLS_AES_128_GCM_SHA256");
        assert_eq!(cipher_suite_name(0x1303), "TLS_CHACHA20_POLY1305_SHA256");
        assert_eq!(
            cipher_suite_name(0xc02c),
            "TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384"
        );
        assert_eq!(cipher_suite_name(0x002f), "TLS_RSA_WITH_AES_128_CBC_SHA");
    }

    #[test]
    fn signalling_suites_keep_their_names() {
        assert_eq!(
            cipher_suite_name(0x00ff),
            "TLS_EMPTY_RENEGOTIATION_INFO_SCSV"
        );
        assert_eq!(cipher_suite_name(0x5600), "TLS_FALLBACK_SCSV");
    }

    #[test]
    fn unknown_suites_and_versions_print_as_hex() {
        assert_eq!(cipher_suite_name(0x0a0a), "0x0a0a");
        assert_eq!(cipher_suite_name(0xffff), "0xffff");
        assert_eq!(version_name(0x0305), "0x0305");
    }

    #[test]
    fn versions() {
        assert_eq!(version_name(0x0300), "SSL 3.0");
        assert_eq!(version_name(0x0301), "TLS 1.0");
        assert_eq!(version_name(0x0303), "TLS 1.2");
        assert_eq!(version_name(0x0304), "TLS 1.3");
        assert_eq!(version_name(0x7f1c), "TLS 1.3 (draft 28)");
    }
}
