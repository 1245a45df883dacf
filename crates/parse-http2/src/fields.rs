//! What a header block says about its exchange.
//!
//! A block's fields stream out of the HPACK decoder; [`Collected`] keeps
//! only what records use (pseudo-headers, `host`, `content-type`,
//! `grpc-status`, `grpc-message`) and, when [`HeaderCapture`] asks, the
//! regular fields under podwire-http's rules: pseudo-headers are left out,
//! credentials redacted unless all are wanted verbatim. Nothing is
//! allocated for fields that are not kept.

use podwire_http::{is_sensitive, HeaderCapture, REDACTED};

use crate::grpc;
use crate::hpack::Field;

/// The fields of one header block that records use.
#[derive(Debug, Default)]
pub(crate) struct Collected {
    pub method: Option<String>,
    pub path: Option<String>,
    pub authority: Option<String>,
    pub host: Option<String>,
    pub status: Option<u16>,
    /// `content-type` starts with `application/grpc`.
    pub grpc: bool,
    pub grpc_status: Option<u32>,
    pub grpc_message: Option<String>,
    pub headers: Option<Vec<(String, String)>>,
    /// Fields whose name was not known (dynamic table unknown).
    pub unknown: u32,
}

impl Collected {
    pub fn new(capture: HeaderCapture) -> Self {
        Collected {
            headers: (capture != HeaderCapture::None).then(Vec::new),
            ..Collected::default()
        }
    }

    /// Whether a field named `name` matters (else its value need not be
    /// decoded).
    pub fn wanted(name: &[u8], capture: HeaderCapture) -> bool {
        capture != HeaderCapture::None
            || name.first() == Some(&b':')
            || matches!(
                name,
                b"host" | b"content-type" | b"grpc-status" | b"grpc-message"
            )
    }

    /// Takes one decoded field.
    pub fn field(&mut self, field: Field<'_>, capture: HeaderCapture, max_message_chars: usize) {
        let (name, value) = match field {
            Field::Known { name, value } => (name, value),
            Field::Unknown => {
                self.unknown += 1;
                return;
            }
        };
        let text = || match std::str::from_utf8(value) {
            Ok(s) => s.to_owned(),
            Err(_) => String::from_utf8_lossy(value).into_owned(),
        };
        match name {
            b":method" => self.method = Some(text()),
            b":path" => self.path = Some(text()),
            b":authority" => self.authority = Some(text()),
            b":status" => {
                self.status = std::str::from_utf8(value).ok().and_then(|s| s.parse().ok())
            }
            b"host" => self.host = Some(text()),
            b"content-type" => self.grpc = value.starts_with(b"application/grpc"),
            b"grpc-status" => self.grpc_status = grpc::parse_status(value),
            b"grpc-message" => {
                self.grpc_message = Some(grpc::decode_message(value, max_message_chars))
            }
            _ => {}
        }
        if name.first() == Some(&b':') {
            return;
        }
        if let Some(headers) = &mut self.headers {
            let name = String::from_utf8_lossy(name).into_owned();
            let value = if capture == HeaderCapture::Redacted && is_sensitive(&name) {
                REDACTED.to_owned()
            } else {
                text()
            };
            headers.push((name, value));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn field<'a>(name: &'a [u8], value: &'a [u8]) -> Field<'a> {
        Field::Known { name, value }
    }

    #[test]
    fn pseudo_headers_fill_fields_and_stay_out_of_lists() {
        let mut c = Collected::new(HeaderCapture::Redacted);
        for (n, v) in [
            (&b":method"[..], &b"POST"[..]),
            (b":path", b"/a"),
            (b"cookie", b"s=1"),
            (b"content-type", b"application/grpc+proto"),
        ] {
            c.field(field(n, v), HeaderCapture::Redacted, 10);
        }
        c.field(Field::Unknown, HeaderCapture::Redacted, 10);
        assert_eq!(c.method.as_deref(), Some("POST"));
        assert!(c.grpc);
        assert_eq!(c.unknown, 1);
        assert_eq!(
            c.headers.unwrap(),
            [
                ("cookie".to_owned(), REDACTED.to_owned()),
                (
                    "content-type".to_owned(),
                    "application/grpc+proto".to_owned()
                )
            ]
        );
    }

    #[test]
    fn no_capture_keeps_no_list() {
        let mut c = Collected::new(HeaderCapture::None);
        c.field(field(b"x", b"y"), HeaderCapture::None, 10);
        assert!(c.headers.is_none());
    }
}
