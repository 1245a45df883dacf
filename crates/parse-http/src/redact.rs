//! Which headers go into a record, and which values are hidden.
//!
//! Headers are off by default (they cost an allocation each); when asked for,
//! credentials are redacted unless the user explicitly wants them verbatim,
//! because records end up in logs, dashboards and bug reports.

use crate::HeaderCapture;

/// What replaces the value of a credential-bearing header.
pub const REDACTED: &str = "[redacted]";

/// Headers whose values carry credentials (compared case-insensitively).
const SENSITIVE: &[&str] = &[
    "authorization",
    "proxy-authorization",
    "cookie",
    "set-cookie",
];

/// Whether a header's value is a credential that [`HeaderCapture::Redacted`] hides.
pub fn is_sensitive(name: &str) -> bool {
    SENSITIVE.iter().any(|s| s.eq_ignore_ascii_case(name))
}

/// The headers of a head as a record carries them, or `None` when not captured.
pub(crate) fn capture(
    mode: HeaderCapture,
    headers: &[httparse::Header<'_>],
) -> Option<Vec<(String, String)>> {
    capture_with(mode, headers.iter().map(|h| (h.name.as_bytes(), h.value)))
}

/// [`capture`] for fields the tolerant reading (`lenient`) found.
pub(crate) fn capture_raw(
    mode: HeaderCapture,
    headers: &[(&[u8], &[u8])],
) -> Option<Vec<(String, String)>> {
    capture_with(mode, headers.iter().copied())
}

fn capture_with<'a>(
    mode: HeaderCapture,
    headers: impl Iterator<Item = (&'a [u8], &'a [u8])>,
) -> Option<Vec<(String, String)>> {
    let redact = match mode {
        HeaderCapture::None => return None,
        HeaderCapture::Redacted => true,
        HeaderCapture::All => false,
    };
    let captured = headers
        .map(|(name, value)| {
            let name = String::from_utf8_lossy(name).into_owned();
            let value = if redact && is_sensitive(&name) {
                REDACTED.to_owned()
            } else {
                String::from_utf8_lossy(value).into_owned()
            };
            (name, value)
        })
        .collect();
    Some(captured)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers() -> [httparse::Header<'static>; 3] {
        [
            httparse::Header {
                name: "Host",
                value: b"example.com",
            },
            httparse::Header {
                name: "COOKIE",
                value: b"session=1",
            },
            httparse::Header {
                name: "proxy-authorization",
                value: b"Basic eA==",
            },
        ]
    }

    #[test]
    fn none_captures_nothing() {
        assert_eq!(capture(HeaderCapture::None, &headers()), None);
    }

    #[test]
    fn redacted_hides_credentials_whatever_their_case() {
        let got = capture(HeaderCapture::Redacted, &headers()).unwrap_or_default();
        assert_eq!(got[0], ("Host".into(), "example.com".into()));
        assert_eq!(got[1], ("COOKIE".into(), REDACTED.into()));
        assert_eq!(got[2], ("proxy-authorization".into(), REDACTED.into()));
    }

    #[test]
    fn all_keeps_values_verbatim() {
        let got = capture(HeaderCapture::All, &headers()).unwrap_or_default();
        assert_eq!(got[1], ("COOKIE".into(), "session=1".into()));
    }
}
