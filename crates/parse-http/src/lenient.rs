//! Heads `httparse` rejects, read the way Wireshark reads them.
//!
//! Servers and clients in the wild send heads RFC 9112 forbids: `HTTP/1.2`
//! or `HTTP/2.0` on a status line, a status like `2XX`, a bare CR ending a
//! header line, spaces in a header name or a request target, a request line
//! without a version. Wireshark's HTTP dissector still reports the request
//! or the status of most of them, and podwire is held to report at least what
//! Wireshark does, so this second reading follows its rules
//! (`epan/dissectors/packet-http.c`, 4.0):
//!
//! - lines end at CR LF, LF, or a lone CR; the head ends at the first empty
//!   line;
//! - the status line starts with `HTTP/`; its first token is the version, the
//!   second the status, whose first three characters are read as `strtoul`
//!   reads them (`2XX` is 2, `0200` is 20, a tab before the digits is
//!   skipped);
//! - a request line starts with a known method and a space; the target is the
//!   next space-delimited token; whatever follows is the version;
//! - header lines that do not parse (no colon, a name that is not a token)
//!   are skipped; `Content-Length` and `Transfer-Encoding` are read from the
//!   rest as on the fast path.
//!
//! It runs only after `httparse` failed, so well-formed traffic never pays
//! for it. It allocates only the strings a record keeps.

use memchr::memchr2;

use crate::detect::{self, Verdict};
use crate::head::{Framing, Headers, Parsed, RequestHead, ResponseHead};
use crate::redact;
use crate::HeaderCapture;

/// The start of every status line Wireshark recognises.
const STATUS_PREFIX: &[u8] = b"HTTP/";

/// Lines of a head as Wireshark cuts them: ended by CR LF, LF or a lone CR.
struct Lines<'a> {
    bytes: &'a [u8],
    /// Where the next line starts.
    pos: usize,
}

impl<'a> Lines<'a> {
    fn new(bytes: &'a [u8]) -> Self {
        Lines { bytes, pos: 0 }
    }
}

impl<'a> Iterator for Lines<'a> {
    type Item = &'a [u8];

    /// The next complete line, without its ending; `None` when the bytes end
    /// first, or end in a CR that an LF may follow.
    fn next(&mut self) -> Option<&'a [u8]> {
        let rest = self.bytes.get(self.pos..)?;
        let i = memchr2(b'\r', b'\n', rest)?;
        let ending = match (rest.get(i), rest.get(i + 1)) {
            (Some(b'\r'), Some(b'\n')) => 2,
            (Some(b'\r'), None) => return None,
            _ => 1,
        };
        self.pos += i + ending;
        rest.get(..i)
    }
}

/// A head's start line, and its length once its empty line was found.
struct Head<'a> {
    start: &'a [u8],
    len: usize,
}

/// Splits off the start line and walks the header lines to the empty line,
/// handing each parseable field to `field`; `None` if the head has not ended.
fn walk<'a>(bytes: &'a [u8], mut field: impl FnMut(&'a [u8], &'a [u8])) -> Option<Head<'a>> {
    let mut lines = Lines::new(bytes);
    let start = lines.next()?;
    loop {
        let line = lines.next()?;
        if line.is_empty() {
            return Some(Head {
                start,
                len: lines.pos,
            });
        }
        if let Some((name, value)) = split_field(line) {
            field(name, value);
        }
    }
}

/// `name: value` with a token name; `None` for continuation lines (obsolete
/// folding) and lines that are not fields.
fn split_field(line: &[u8]) -> Option<(&[u8], &[u8])> {
    let colon = line.iter().position(|&b| b == b':')?;
    let name = line.get(..colon)?.trim_ascii_end();
    let value = line.get(colon + 1..)?;
    let token = !name.is_empty() && name.iter().all(|&b| is_tchar(b));
    token.then(|| (name, trim_ows(value)))
}

/// RFC 9110 5.6.2 token characters.
fn is_tchar(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b)
}

/// Strips spaces and tabs (RFC 9110 OWS) from both ends.
fn trim_ows(mut s: &[u8]) -> &[u8] {
    while let [b' ' | b'\t', rest @ ..] = s {
        s = rest;
    }
    while let [rest @ .., b' ' | b'\t'] = s {
        s = rest;
    }
    s
}

/// Splits `line` at its first run of spaces, as Wireshark's `get_token_len`:
/// the token, and what follows the spaces.
fn token(line: &[u8]) -> (&[u8], &[u8]) {
    let end = line.iter().position(|&b| b == b' ').unwrap_or(line.len());
    let (token, rest) = line.split_at(end);
    let skip = rest.iter().take_while(|&&b| b == b' ').count();
    (token, rest.get(skip..).unwrap_or_default())
}

/// The status code Wireshark reads from a status token: its first three
/// characters as C's `strtoul` reads them (leading white space skipped, an
/// optional `+`, the digits up to the first non-digit; 0 without digits).
/// `None` for a token shorter than three characters, which Wireshark does
/// not read, or a negative number.
fn status_code(token: &[u8]) -> Option<u16> {
    let mut s = token.get(..3)?;
    while let [b'\t' | b'\x0b' | b'\x0c', rest @ ..] = s {
        s = rest;
    }
    match s {
        [b'-', ..] => return None,
        [b'+', rest @ ..] => s = rest,
        _ => {}
    }
    let digits = s.iter().take_while(|b| b.is_ascii_digit());
    Some(digits.fold(0u16, |n, &d| n * 10 + u16::from(d - b'0')))
}

/// Collects the captured headers of a head (when asked for) and its framing.
struct Fields<'a> {
    capture: HeaderCapture,
    captured: Vec<(&'a [u8], &'a [u8])>,
    framing: Framing,
    host: Option<&'a [u8]>,
}

impl<'a> Fields<'a> {
    fn new(capture: HeaderCapture) -> Self {
        Fields {
            capture,
            captured: Vec::new(),
            framing: Framing::default(),
            host: None,
        }
    }

    fn add(&mut self, name: &'a [u8], value: &'a [u8]) {
        self.framing.add(name, value);
        if self.host.is_none() && name.eq_ignore_ascii_case(b"host") {
            self.host = Some(value);
        }
        if self.capture != HeaderCapture::None {
            self.captured.push((name, value));
        }
    }

    fn headers(&self) -> Headers {
        redact::capture_raw(self.capture, &self.captured)
    }
}

/// Reads a response head `httparse` rejected.
pub(crate) fn response(bytes: &[u8], capture: HeaderCapture) -> Parsed<ResponseHead> {
    if !bytes.starts_with(STATUS_PREFIX) {
        return if STATUS_PREFIX.starts_with(bytes) {
            Parsed::Partial
        } else {
            Parsed::Invalid
        };
    }
    let mut fields = Fields::new(capture);
    let Some(head) = walk(bytes, |n, v| fields.add(n, v)) else {
        return Parsed::Partial;
    };
    let (version, rest) = token(head.start);
    let (status, _) = token(rest);
    let Some(status) = status_code(status) else {
        return Parsed::Invalid;
    };
    let version = if version == b"HTTP/1.0" {
        "HTTP/1.0"
    } else {
        "HTTP/1.1"
    };
    Parsed::Complete(
        ResponseHead {
            status,
            version,
            headers: fields.headers(),
            framing: fields.framing,
        },
        head.len,
    )
}

/// Reads a request head `httparse` rejected.
pub(crate) fn request(bytes: &[u8], capture: HeaderCapture) -> Parsed<RequestHead> {
    match detect::request_start(bytes) {
        Verdict::Yes => {}
        Verdict::NeedMore => return Parsed::Partial,
        Verdict::No => return Parsed::Invalid,
    }
    // Wireshark takes any request line; control characters in it mean
    // binary data that happens to start with a method, most often the
    // middle of a body after a capture gap. Judged before the line ends, so
    // such data is not gathered as a head.
    let line = bytes.get(..memchr2(b'\r', b'\n', bytes).unwrap_or(bytes.len()));
    if line
        .unwrap_or_default()
        .iter()
        .any(|&b| b.is_ascii_control() && b != b'\t')
    {
        return Parsed::Invalid;
    }
    let mut fields = Fields::new(capture);
    let Some(head) = walk(bytes, |n, v| fields.add(n, v)) else {
        return Parsed::Partial;
    };
    let (method, rest) = token(head.start);
    let (target, version) = token(rest);
    if target.is_empty() {
        return Parsed::Invalid;
    }
    let version = match version.rsplit(|&b| b == b' ').next() {
        Some(b"") | None => "HTTP/0.9",
        Some(b"HTTP/1.0") => "HTTP/1.0",
        Some(_) => "HTTP/1.1",
    };
    Parsed::Complete(
        RequestHead {
            method: String::from_utf8_lossy(method).into_owned(),
            path: String::from_utf8_lossy(target).into_owned(),
            version,
            host: fields.host.map(|h| String::from_utf8_lossy(h).into_owned()),
            headers: fields.headers(),
            framing: fields.framing,
        },
        head.len,
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn resp(bytes: &[u8]) -> Option<(ResponseHead, usize)> {
        match response(bytes, HeaderCapture::All) {
            Parsed::Complete(h, n) => Some((h, n)),
            _ => None,
        }
    }

    fn req(bytes: &[u8]) -> Option<(RequestHead, usize)> {
        match request(bytes, HeaderCapture::None) {
            Parsed::Complete(h, n) => Some((h, n)),
            _ => None,
        }
    }

    #[test]
    fn lines_end_at_crlf_lf_or_a_lone_cr() {
        let lines: Vec<&[u8]> = Lines::new(b"a\r\nb\nc\rd\r\n\r").collect();
        assert_eq!(lines, [&b"a"[..], b"b", b"c", b"d"]);
    }

    #[test]
    fn status_codes_read_as_wireshark_reads_them() {
        assert_eq!(status_code(b"200"), Some(200));
        assert_eq!(status_code(b"2XX"), Some(2));
        assert_eq!(status_code(b"20x"), Some(20));
        assert_eq!(status_code(b"0200"), Some(20));
        assert_eq!(status_code(b"2040"), Some(204));
        assert_eq!(status_code(b"\t200"), Some(20));
        assert_eq!(status_code(b"2\x0000"), Some(2));
        assert_eq!(status_code(b"+20"), Some(20));
        assert_eq!(status_code(b"abc"), Some(0));
        assert_eq!(status_code(b"-20"), None);
        assert_eq!(status_code(b"20"), None);
    }

    #[test]
    fn odd_versions_and_bare_crs_still_give_a_status() {
        let (h, n) =
            resp(b"HTTP/1.2 200 ok\r\nContent-Length: 3\r\n\r\nabc").unwrap_or_else(|| panic!());
        assert_eq!((h.status, h.version, n), (200, "HTTP/1.1", 38));
        assert_eq!(h.framing.content_length, Some(3));
        let (h, _) =
            resp(b"HTTP/1.1 200 ok\rTransfer-Encoding:chunked\r\n\r\n").unwrap_or_else(|| panic!());
        assert!(h.framing.chunked);
        let (h, _) = resp(b"HTTP/1.0 2XX OK\nServer: POC\nContent-Length:4\n\ntoto")
            .unwrap_or_else(|| panic!());
        assert_eq!((h.status, h.version), (2, "HTTP/1.0"));
        assert_eq!(h.framing.content_length, Some(4));
    }

    #[test]
    fn a_lone_cr_after_a_line_end_ends_the_head() {
        let (_, n) =
            resp(b"HTTP/1.1 200 ok\r\nA: b\r\n\r\rC: d\r\n\r\n").unwrap_or_else(|| panic!());
        assert_eq!(n, 24);
        // A CR as the last byte may be the start of CR LF: wait.
        assert!(matches!(
            response(b"HTTP/1.1 200 ok\r\n\r", HeaderCapture::None),
            Parsed::Partial
        ));
    }

    #[test]
    fn fields_that_do_not_parse_are_skipped() {
        let (h, _) = resp(
            b"HTTP/1.1 200 ok\r\nFoo Bar: x\r\n: y\r\n\x7f\r\nTransfer\x00-Encoding: chunked\r\nContent-Length: 5\r\n\r\n",
        )
        .unwrap_or_else(|| panic!());
        assert_eq!(h.framing.content_length, Some(5));
        assert!(!h.framing.transfer_encoding);
        assert_eq!(h.headers, Some(vec![("Content-Length".into(), "5".into())]));
    }

    #[test]
    fn not_a_status_line() {
        assert!(matches!(
            response(b"HTT", HeaderCapture::None),
            Parsed::Partial
        ));
        assert!(matches!(
            response(b"ICY 200 OK\r\n\r\n", HeaderCapture::None),
            Parsed::Invalid
        ));
        assert!(matches!(
            response(b"HTTP/1.1 20\r\n\r\n", HeaderCapture::None),
            Parsed::Invalid
        ));
    }

    #[test]
    fn request_target_is_the_second_token_as_in_wireshark() {
        let (h, _) =
            req(b"GET /uri afterspace HTTP/1.1\r\nHost: h\r\n\r\n").unwrap_or_else(|| panic!());
        assert_eq!((h.method.as_str(), h.path.as_str()), ("GET", "/uri"));
        assert_eq!((h.version, h.host.as_deref()), ("HTTP/1.1", Some("h")));
    }

    #[test]
    fn request_line_without_a_version_is_http_0_9() {
        let (h, n) = req(b"GET /a?b\r\nHost: h\r\n\r\nrest").unwrap_or_else(|| panic!());
        assert_eq!((h.path.as_str(), h.version, n), ("/a?b", "HTTP/0.9", 21));
        // Its head still ends at an empty line.
        assert!(matches!(
            request(b"POST abcd12345\nUSER a b\n", HeaderCapture::None),
            Parsed::Partial
        ));
    }

    #[test]
    fn unknown_methods_and_empty_targets_are_not_requests() {
        assert!(matches!(
            request(b"login=foo&password=bar\r\n\r\n", HeaderCapture::None),
            Parsed::Invalid
        ));
        assert!(matches!(
            request(b"GET \r\n\r\n", HeaderCapture::None),
            Parsed::Invalid
        ));
        assert!(matches!(
            request(b"GE", HeaderCapture::None),
            Parsed::Partial
        ));
        assert!(matches!(
            request(b"GET in a body\x00\x01\r\n\r\n", HeaderCapture::None),
            Parsed::Invalid
        ));
    }
}
