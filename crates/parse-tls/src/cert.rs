//! The server's leaf certificate, from a (TLS 1.2 and earlier) Certificate message.
//!
//! Operators want to see which name and which expiry a service presents
//! without touching it. Only the leaf (first) certificate is decoded; the
//! chain is skipped. A certificate that does not parse is simply absent from
//! the record: it never fails the connection.

use crate::wire::Reader;
use podwire_record::{Certificate, Timestamp};
use std::fmt::Write;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use x509_parser::der_parser::asn1_rs::Tag;
use x509_parser::extensions::GeneralName;
use x509_parser::objects::{oid2abbrev, oid_registry};
use x509_parser::prelude::{X509Certificate, X509Name};
use x509_parser::time::ASN1Time;

/// Decodes the leaf of a Certificate message body (`certificate_list<0..2^24-1>`).
pub(crate) fn leaf_certificate(body: &[u8]) -> Option<Certificate> {
    let mut list = Reader::new(Reader::new(body).vec24()?);
    let der = list.vec24()?;
    let (_, cert) = x509_parser::parse_x509_certificate(der).ok()?;
    Some(describe(&cert))
}

/// Decodes the leaf of a TLS 1.3 Certificate message body, which starts
/// with a `certificate_request_context<0..2^8-1>` and gives each entry its
/// own extensions (which follow the leaf and are not read).
pub fn leaf_certificate_tls13(body: &[u8]) -> Option<Certificate> {
    let mut r = Reader::new(body);
    r.vec8()?;
    let mut list = Reader::new(r.vec24()?);
    let der = list.vec24()?;
    let (_, cert) = x509_parser::parse_x509_certificate(der).ok()?;
    Some(describe(&cert))
}

fn describe(cert: &X509Certificate<'_>) -> Certificate {
    let validity = cert.validity();
    Certificate {
        subject: rfc4514(cert.subject()),
        issuer: rfc4514(cert.issuer()),
        sans: sans(cert),
        not_before: timestamp(&validity.not_before),
        not_after: timestamp(&validity.not_after),
        fetched: false,
    }
}

/// A certificate from its DER bytes (the live agent's own handshake).
pub fn certificate_from_der(der: &[u8]) -> Option<Certificate> {
    let (_, cert) = x509_parser::parse_x509_certificate(der).ok()?;
    Some(describe(&cert))
}

/// DNS names and IP addresses of subjectAltName, in order.
fn sans(cert: &X509Certificate<'_>) -> Vec<String> {
    let Ok(Some(ext)) = cert.subject_alternative_name() else {
        return Vec::new();
    };
    ext.value
        .general_names
        .iter()
        .filter_map(|name| match *name {
            GeneralName::DNSName(dns) => Some(dns.to_owned()),
            GeneralName::IPAddress(ip) => ip_address(ip).map(|ip| ip.to_string()),
            _ => None,
        })
        .collect()
}

fn ip_address(bytes: &[u8]) -> Option<IpAddr> {
    if let Ok(v4) = <[u8; 4]>::try_from(bytes) {
        Some(IpAddr::V4(Ipv4Addr::from(v4)))
    } else if let Ok(v6) = <[u8; 16]>::try_from(bytes) {
        Some(IpAddr::V6(Ipv6Addr::from(v6)))
    } else {
        None
    }
}

/// Seconds since the epoch as a [`Timestamp`]; `None` before 1970 or beyond
/// what the schema's nanosecond clock holds (year 2554).
fn timestamp(t: &ASN1Time) -> Option<Timestamp> {
    let secs = u64::try_from(t.timestamp()).ok()?;
    (secs <= u64::MAX / 1_000_000_000).then(|| Timestamp::from_parts(secs, 0))
}

/// A distinguished name as RFC 4514 writes it: most specific RDN first,
/// `,` between RDNs, `+` inside a multi-valued one, special characters
/// escaped, e.g. `CN=test.example,O=Podwire,C=DE` (what
/// `openssl x509 -nameopt RFC2253` prints).
///
/// Shortcut: a value that is not a string type is written as `#` and the hex
/// of its content octets, where RFC 4514 wants the whole BER encoding.
fn rfc4514(name: &X509Name<'_>) -> String {
    let mut out = String::new();
    for (i, rdn) in name
        .iter_rdn()
        .collect::<Vec<_>>()
        .into_iter()
        .rev()
        .enumerate()
    {
        if i > 0 {
            out.push(',');
        }
        for (j, attr) in rdn.iter().enumerate() {
            if j > 0 {
                out.push('+');
            }
            match oid2abbrev(attr.attr_type(), oid_registry()) {
                Ok(abbrev) => out.push_str(abbrev),
                Err(_) => out.push_str(&attr.attr_type().to_id_string()),
            }
            out.push('=');
            let value = attr.attr_value();
            match attribute_text(value.tag(), value.data) {
                Some(text) => escape_into(&mut out, &text),
                None => {
                    out.push('#');
                    for b in value.data {
                        let _ = write!(out, "{b:02x}");
                    }
                }
            }
        }
    }
    out
}

/// The text of a string-typed attribute value; `None` for other types.
fn attribute_text(tag: Tag, data: &[u8]) -> Option<String> {
    match tag {
        Tag::Utf8String
        | Tag::PrintableString
        | Tag::Ia5String
        | Tag::NumericString
        | Tag::VisibleString
        | Tag::T61String
        | Tag::GeneralString
        | Tag::GraphicString => Some(String::from_utf8_lossy(data).into_owned()),
        // UCS-2 / UTF-16 big-endian.
        Tag::BmpString => {
            let units = data.chunks_exact(2).map(|c| match *c {
                [a, b] => u16::from_be_bytes([a, b]),
                _ => 0xfffd,
            });
            Some(
                char::decode_utf16(units)
                    .map(|c| c.unwrap_or('\u{fffd}'))
                    .collect(),
            )
        }
        _ => None,
    }
}

/// Appends `value` with RFC 4514 (section 2.4) escaping.
fn escape_into(out: &mut String, value: &str) {
    let last = value.chars().count().saturating_sub(1);
    for (i, c) in value.chars().enumerate() {
        match c {
            '"' | '+' | ',' | ';' | '<' | '>' | '\\' => {
                out.push('\\');
                out.push(c);
            }
            '#' if i == 0 => out.push_str("\\#"),
            ' ' if i == 0 || i == last => out.push_str("\\ "),
            '\0' => out.push_str("\\00"),
            _ => out.push(c),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escapes_special_characters() {
        let mut s = String::new();
        escape_into(&mut s, " #a,b+c\"d ");
        assert_eq!(s, "\\ #a\\,b\\+c\\\"d\\ ");
        let mut s = String::new();
        escape_into(&mut s, "#x");
        assert_eq!(s, "\\#x");
    }

    #[test]
    fn bmp_strings_decode() {
        assert_eq!(
            attribute_text(Tag::BmpString, &[0x00, b'h', 0x00, b'i']).as_deref(),
            Some("hi")
        );
    }

    #[test]
    fn timestamps_before_1970_are_dropped() {
        let t = ASN1Time::from_timestamp(-1).unwrap();
        assert_eq!(timestamp(&t), None);
        let t = ASN1Time::from_timestamp(1_700_000_000).unwrap();
        assert_eq!(timestamp(&t), Some(Timestamp::from_parts(1_700_000_000, 0)));
    }

    #[test]
    fn truncated_certificate_list_is_none() {
        assert_eq!(
            leaf_certificate(&[0x00, 0x00, 0x05, 0x00, 0x00, 0x02, 0x30]),
            None
        );
        assert_eq!(leaf_certificate(&[0x00, 0x00, 0x00]), None);
    }
}
