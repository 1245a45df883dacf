//! ClientHello and ServerHello bodies, read by hand.
//!
//! Parsed here rather than with `tls-parser`'s message parsers for two
//! reasons: JA3/JA4 need every extension type in wire order (GREASE and
//! unknown ones included), and one malformed extension must not cost the
//! whole hello: a bad ALPN list still leaves SNI, ciphers and fingerprints.
//! So the hello's framing is strict (a broken frame is not TLS) while the
//! contents of individual extensions are best-effort.

use crate::wire::{u16_list, Reader};

const EXT_SERVER_NAME: u16 = 0x0000;
const EXT_SUPPORTED_GROUPS: u16 = 0x000a;
const EXT_EC_POINT_FORMATS: u16 = 0x000b;
const EXT_SIGNATURE_ALGORITHMS: u16 = 0x000d;
const EXT_ALPN: u16 = 0x0010;
const EXT_SUPPORTED_VERSIONS: u16 = 0x002b;

/// `SHA-256("HelloRetryRequest")`: the ServerHello random that marks a
/// TLS 1.3 HelloRetryRequest (RFC 8446, 4.1.3).
const HELLO_RETRY_RANDOM: [u8; 32] = [
    0xcf, 0x21, 0xad, 0x74, 0xe5, 0x9a, 0x61, 0x11, 0xbe, 0x1d, 0x8c, 0x02, 0x1e, 0x65, 0xb8, 0x91,
    0xc2, 0xa2, 0x11, 0x16, 0x7a, 0xbb, 0x8c, 0x5e, 0x07, 0x9e, 0x09, 0xe2, 0xc8, 0xa8, 0x33, 0x9c,
];

/// What a ClientHello offers. Lists are raw (GREASE included, wire order);
/// consumers filter.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct ClientHello<'a> {
    /// `legacy_version` of the hello body (not the record layer's).
    pub legacy_version: u16,
    pub ciphers: Vec<u16>,
    /// Extension types in wire order.
    pub extensions: Vec<u16>,
    /// First `host_name` of server_name.
    pub sni: Option<&'a [u8]>,
    pub alpn: Vec<&'a [u8]>,
    pub groups: Vec<u16>,
    pub point_formats: &'a [u8],
    pub sig_algs: Vec<u16>,
    /// supported_versions, when present and well-formed.
    pub versions: Option<Vec<u16>>,
}

/// What a ServerHello chose.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct ServerHello<'a> {
    pub legacy_version: u16,
    /// supported_versions of the ServerHello (TLS 1.3 and later).
    pub selected_version: Option<u16>,
    pub cipher: u16,
    pub alpn: Option<&'a [u8]>,
    /// A TLS 1.3 HelloRetryRequest rather than a real ServerHello.
    pub retry: bool,
}

impl ServerHello<'_> {
    /// The negotiated version: supported_versions when present, else the legacy field.
    pub fn version(&self) -> u16 {
        self.selected_version.unwrap_or(self.legacy_version)
    }

    /// Whether the rest of the server's handshake is encrypted (TLS 1.3,
    /// including its pre-RFC drafts `0x7fxx`).
    pub fn is_tls13(&self) -> bool {
        let v = self.version();
        v == 0x0304 || v >> 8 == 0x7f
    }
}

/// Parses a ClientHello body (after the 4-byte handshake header). `None`
/// when its framing is broken.
pub(crate) fn parse_client_hello(body: &[u8]) -> Option<ClientHello<'_>> {
    let mut r = Reader::new(body);
    let legacy_version = r.u16()?;
    r.bytes(32)?; // random
    r.vec8()?; // legacy_session_id
    let ciphers = r.vec16()?;
    r.vec8()?; // legacy_compression_methods
    let mut ch = ClientHello {
        legacy_version,
        ciphers: u16_list(ciphers),
        extensions: Vec::new(),
        sni: None,
        alpn: Vec::new(),
        groups: Vec::new(),
        point_formats: &[],
        sig_algs: Vec::new(),
        versions: None,
    };
    // SSL 3.0 and early TLS clients may end the hello here.
    if r.is_empty() {
        return Some(ch);
    }
    let mut exts = Reader::new(r.vec16()?);
    while !exts.is_empty() {
        let ty = exts.u16()?;
        let data = exts.vec16()?;
        // Only the first occurrence of a duplicated extension counts, as a
        // server would reject the hello anyway.
        let first = !ch.extensions.contains(&ty);
        ch.extensions.push(ty);
        if first {
            read_client_extension(&mut ch, ty, data);
        }
    }
    Some(ch)
}

/// Fills what `ch` needs from one extension; a malformed one is skipped.
fn read_client_extension<'a>(ch: &mut ClientHello<'a>, ty: u16, data: &'a [u8]) {
    let mut r = Reader::new(data);
    match ty {
        EXT_SERVER_NAME => ch.sni = server_name(&mut r),
        EXT_ALPN => ch.alpn = protocol_names(&mut r).unwrap_or_default(),
        EXT_SUPPORTED_GROUPS => ch.groups = r.vec16().map(u16_list).unwrap_or_default(),
        EXT_EC_POINT_FORMATS => ch.point_formats = r.vec8().unwrap_or_default(),
        EXT_SIGNATURE_ALGORITHMS => ch.sig_algs = r.vec16().map(u16_list).unwrap_or_default(),
        EXT_SUPPORTED_VERSIONS => ch.versions = r.vec8().map(u16_list),
        _ => {}
    }
}

/// The first `host_name` entry of a server_name list.
fn server_name<'a>(r: &mut Reader<'a>) -> Option<&'a [u8]> {
    let mut list = Reader::new(r.vec16()?);
    while !list.is_empty() {
        let name_type = list.u8()?;
        let name = list.vec16()?;
        if name_type == 0 {
            return Some(name);
        }
    }
    None
}

/// A `ProtocolNameList` (ALPN).
fn protocol_names<'a>(r: &mut Reader<'a>) -> Option<Vec<&'a [u8]>> {
    let mut list = Reader::new(r.vec16()?);
    let mut names = Vec::new();
    while !list.is_empty() {
        names.push(list.vec8()?);
    }
    Some(names)
}

/// Parses a ServerHello body. `None` when its framing is broken.
pub(crate) fn parse_server_hello(body: &[u8]) -> Option<ServerHello<'_>> {
    let mut r = Reader::new(body);
    let legacy_version = r.u16()?;
    let random = r.bytes(32)?;
    r.vec8()?; // legacy_session_id_echo
    let cipher = r.u16()?;
    r.u8()?; // legacy_compression_method
    let mut sh = ServerHello {
        legacy_version,
        selected_version: None,
        cipher,
        alpn: None,
        retry: random == HELLO_RETRY_RANDOM,
    };
    if r.is_empty() {
        return Some(sh);
    }
    let mut exts = Reader::new(r.vec16()?);
    while !exts.is_empty() {
        let ty = exts.u16()?;
        let mut data = Reader::new(exts.vec16()?);
        match ty {
            EXT_SUPPORTED_VERSIONS => sh.selected_version = data.u16(),
            EXT_ALPN => {
                sh.alpn = protocol_names(&mut data).and_then(|names| names.first().copied())
            }
            _ => {}
        }
    }
    Some(sh)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn client_hello_body(exts: &[u8]) -> Vec<u8> {
        let mut b = vec![0x03, 0x03];
        b.extend_from_slice(&[0x11; 32]);
        b.push(0); // session id
        b.extend_from_slice(&[0x00, 0x04, 0x13, 0x01, 0x00, 0xff]);
        b.extend_from_slice(&[0x01, 0x00]); // compression: null
        if !exts.is_empty() {
            b.extend_from_slice(&u16::try_from(exts.len()).unwrap().to_be_bytes());
            b.extend_from_slice(exts);
        }
        b
    }

    #[test]
    fn hello_without_extensions_is_valid() {
        let body = client_hello_body(&[]);
        let ch = parse_client_hello(&body).unwrap();
        assert_eq!(ch.ciphers, vec![0x1301, 0x00ff]);
        assert!(ch.extensions.is_empty());
    }

    #[test]
    fn malformed_extension_content_keeps_the_rest() {
        // ALPN whose inner list length overruns the extension, then SNI.
        let exts = [
            0x00, 0x10, 0x00, 0x03, 0x00, 0x09, 0x02, // ALPN, broken
            0x00, 0x00, 0x00, 0x08, 0x00, 0x06, 0x00, 0x00, 0x03, b'a', b'.', b'b',
        ];
        let body = client_hello_body(&exts);
        let ch = parse_client_hello(&body).unwrap();
        assert_eq!(ch.extensions, vec![0x0010, 0x0000]);
        assert!(ch.alpn.is_empty());
        assert_eq!(ch.sni, Some(&b"a.b"[..]));
    }

    #[test]
    fn broken_extension_framing_is_rejected() {
        let exts = [0x00, 0x10, 0x00, 0x09, 0x00];
        assert_eq!(parse_client_hello(&client_hello_body(&exts)), None);
    }

    #[test]
    fn hello_retry_request_is_recognised() {
        let mut b = vec![0x03, 0x03];
        b.extend_from_slice(&HELLO_RETRY_RANDOM);
        b.extend_from_slice(&[0x00, 0x13, 0x02, 0x00]);
        b.extend_from_slice(&[0x00, 0x06, 0x00, 0x2b, 0x00, 0x02, 0x03, 0x04]);
        let sh = parse_server_hello(&b).unwrap();
        assert!(sh.retry);
        assert!(sh.is_tls13());
        assert_eq!(sh.cipher, 0x1302);
    }
}
