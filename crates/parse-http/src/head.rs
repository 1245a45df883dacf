//! Request and response heads: finding them, parsing them, reading framing.
//!
//! The hot path is a head that arrives whole inside one segment: it is parsed
//! in place by `httparse` and only the strings a record keeps are copied out.
//! A head split across segments is gathered in a buffer capped at
//! `max_head_bytes`; it is re-parsed only when newly arrived bytes could end
//! it, so feeding a head one byte at a time stays linear.
//!
//! A head `httparse` rejects is not necessarily lost: Wireshark, the
//! reference this project is held to, still reads many of them (an odd
//! version, a bare CR ending a header line, a header name with a space), so
//! such heads get a second, tolerant reading in `lenient`. Framing headers
//! are read tolerantly on both paths: a `Content-Length` that is not a number
//! is ignored, and of several the last one counts, as in Wireshark.

use std::mem::MaybeUninit;

use httparse::{Header, ParserConfig, Request, Response};
use memchr::memchr2_iter;
use podwire_record::Timestamp;

use crate::lenient;
use crate::redact;
use crate::HeaderCapture;

/// Most header fields one head may carry; more is treated as malformed.
const MAX_HEADERS: usize = 128;

/// Captured headers, as the record schema holds them.
pub(crate) type Headers = Option<Vec<(String, String)>>;

/// The outcome of parsing a prefix of a stream as a head.
pub(crate) enum Parsed<T> {
    /// A head of this many bytes.
    Complete(T, usize),
    /// Consistent so far, but the head has not ended.
    Partial,
    /// Not a head.
    Invalid,
}

/// The outcome of feeding bytes to a [`HeadBuf`].
pub(crate) enum Feed<T> {
    /// Every byte was taken; the head has not ended.
    NeedMore,
    /// A head, first seen at `ts`, ending `used` bytes into this input.
    Complete { head: T, ts: Timestamp, used: usize },
    /// The head exceeds `max_head_bytes`.
    TooLong,
    /// Not a head.
    Invalid,
}

/// A head being gathered across segments.
#[derive(Debug, Default)]
pub(crate) struct HeadBuf {
    buf: Vec<u8>,
    /// Capture time of the packet with the head's first byte.
    ts: Timestamp,
}

impl HeadBuf {
    /// Bytes gathered so far.
    pub fn pending(&self) -> &[u8] {
        &self.buf
    }

    /// Forgets a partial head (the stream lost sync).
    pub fn clear(&mut self) {
        self.buf.clear();
    }

    /// Offers `bytes`, carried by a packet captured at `ts`, to `parse`.
    pub fn feed<T>(
        &mut self,
        max: usize,
        ts: Timestamp,
        bytes: &[u8],
        parse: impl FnOnce(&[u8]) -> Parsed<T>,
    ) -> Feed<T> {
        if self.buf.is_empty() {
            // Line ends between messages (RFC 9112 2.2 lets a recipient
            // ignore them) are not the next head: its time is that of its
            // first real byte.
            let skip = bytes
                .iter()
                .take_while(|&&b| b == b'\r' || b == b'\n')
                .count();
            let Some(head) = bytes.get(skip..).filter(|h| !h.is_empty()) else {
                return Feed::NeedMore;
            };
            return match self.feed_in_place(max, ts, head, parse) {
                Feed::Complete { head, ts, used } => Feed::Complete {
                    head,
                    ts,
                    used: used + skip,
                },
                other => other,
            };
        }
        let old = self.buf.len();
        let room = max.saturating_sub(old);
        let taken = bytes.get(..room).unwrap_or(bytes);
        self.buf.extend_from_slice(taken);
        if !ends_head(&self.buf, old.saturating_sub(3)) {
            return if self.buf.len() >= max {
                Feed::TooLong
            } else {
                Feed::NeedMore
            };
        }
        match parse(&self.buf) {
            Parsed::Complete(head, len) => {
                self.buf.clear();
                match len.checked_sub(old) {
                    Some(used) => Feed::Complete {
                        head,
                        ts: self.ts,
                        used,
                    },
                    // The head ended in bytes an earlier call already judged
                    // incomplete: the parser disagrees with itself.
                    None => Feed::Invalid,
                }
            }
            Parsed::Partial if self.buf.len() >= max => Feed::TooLong,
            Parsed::Partial => Feed::NeedMore,
            Parsed::Invalid => Feed::Invalid,
        }
    }

    fn feed_in_place<T>(
        &mut self,
        max: usize,
        ts: Timestamp,
        bytes: &[u8],
        parse: impl FnOnce(&[u8]) -> Parsed<T>,
    ) -> Feed<T> {
        match parse(bytes) {
            Parsed::Complete(_, len) if len > max => Feed::TooLong,
            Parsed::Complete(head, used) => Feed::Complete { head, ts, used },
            Parsed::Partial if bytes.len() >= max => Feed::TooLong,
            Parsed::Partial => {
                self.buf.extend_from_slice(bytes);
                self.ts = ts;
                Feed::NeedMore
            }
            Parsed::Invalid => Feed::Invalid,
        }
    }
}

/// Whether `buf` may hold an empty line ending at or after `from`: a line
/// end (CR, LF) right after another one, CR LF itself excepted. That covers
/// `httparse`'s LF LF and LF CR LF and the tolerant reading's lone CRs.
fn ends_head(buf: &[u8], from: usize) -> bool {
    let Some(tail) = buf.get(from..) else {
        return false;
    };
    memchr2_iter(b'\n', b'\r', tail).any(|i| {
        let at = from + i;
        let prev = at.checked_sub(1).and_then(|p| buf.get(p));
        match (prev, buf.get(at)) {
            (Some(b'\n'), _) | (Some(b'\r'), Some(b'\r')) => true,
            (Some(b'\r'), _) => at.checked_sub(2).and_then(|p| buf.get(p)) == Some(&b'\n'),
            _ => false,
        }
    })
}

/// How a message says its body is delimited.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(crate) struct Framing {
    /// The last valid `Content-Length`.
    pub content_length: Option<u64>,
    /// `Transfer-Encoding` was present (with at least one coding).
    pub transfer_encoding: bool,
    /// ... and `chunked` was its final coding.
    pub chunked: bool,
}

impl Framing {
    /// Takes one header field into account (`name` in any case).
    ///
    /// A `Content-Length` that is not a number (or a list of equal numbers)
    /// is ignored and a later one replaces an earlier one: RFC 9112 would
    /// fail such a message, but Wireshark frames it this way and podwire
    /// must find the messages it finds after it. Empty list elements of
    /// `Transfer-Encoding` (`, chunked,`) are skipped, as RFC 9110 5.6.1 asks.
    pub fn add(&mut self, name: &[u8], value: &[u8]) {
        if name.eq_ignore_ascii_case(b"content-length") {
            if let Some(n) = content_length(value) {
                self.content_length = Some(n);
            }
        } else if name.eq_ignore_ascii_case(b"transfer-encoding") {
            // Only the last coding of the last field line decides.
            if let Some(last) = value
                .rsplit(|&b| b == b',')
                .map(<[u8]>::trim_ascii)
                .find(|c| !c.is_empty())
            {
                self.transfer_encoding = true;
                self.chunked = last.eq_ignore_ascii_case(b"chunked");
            }
        }
    }
}

/// A `Content-Length` value: one number, or a list of equal ones.
fn content_length(value: &[u8]) -> Option<u64> {
    let mut seen = None;
    for item in value.split(|&b| b == b',') {
        let n = parse_decimal(item.trim_ascii())?;
        match seen {
            Some(s) if s != n => return None,
            _ => seen = Some(n),
        }
    }
    seen
}

/// What a record keeps of a request head, plus what framing needs.
#[derive(Debug)]
pub(crate) struct RequestHead {
    pub method: String,
    pub path: String,
    pub version: &'static str,
    pub host: Option<String>,
    pub headers: Headers,
    pub framing: Framing,
}

/// What a record keeps of a response head, plus what framing needs.
#[derive(Debug)]
pub(crate) struct ResponseHead {
    pub status: u16,
    /// For a record of a response whose request was not seen.
    pub version: &'static str,
    pub headers: Headers,
    pub framing: Framing,
}

fn version_name(minor: Option<u8>) -> &'static str {
    match minor {
        Some(0) => "HTTP/1.0",
        _ => "HTTP/1.1",
    }
}

/// Parses a request head at the start of `bytes`.
pub(crate) fn parse_request(bytes: &[u8], capture: HeaderCapture) -> Parsed<RequestHead> {
    let mut slots = [const { MaybeUninit::<Header<'_>>::uninit() }; MAX_HEADERS];
    let mut req = Request::new(&mut []);
    let mut config = ParserConfig::default();
    config.allow_multiple_spaces_in_request_line_delimiters(true);
    let len = match config.parse_request_with_uninit_headers(&mut req, bytes, &mut slots) {
        Ok(httparse::Status::Complete(len)) => len,
        Ok(httparse::Status::Partial) => return Parsed::Partial,
        Err(_) => return lenient::request(bytes, capture),
    };
    let (Some(method), Some(path)) = (req.method, req.path) else {
        return Parsed::Invalid;
    };
    let framing = framing(req.headers);
    let host = req
        .headers
        .iter()
        .find(|h| h.name.eq_ignore_ascii_case("host"))
        .map(|h| String::from_utf8_lossy(h.value).into_owned());
    let head = RequestHead {
        method: method.to_owned(),
        path: path.to_owned(),
        version: version_name(req.version),
        host,
        headers: redact::capture(capture, req.headers),
        framing,
    };
    Parsed::Complete(head, len)
}

/// Parses a response head at the start of `bytes`.
pub(crate) fn parse_response(bytes: &[u8], capture: HeaderCapture) -> Parsed<ResponseHead> {
    let mut slots = [const { MaybeUninit::<Header<'_>>::uninit() }; MAX_HEADERS];
    let mut resp = Response::new(&mut []);
    let mut config = ParserConfig::default();
    config
        .allow_multiple_spaces_in_response_status_delimiters(true)
        .allow_spaces_after_header_name_in_responses(true)
        .allow_obsolete_multiline_headers_in_responses(true);
    let len = match config.parse_response_with_uninit_headers(&mut resp, bytes, &mut slots) {
        Ok(httparse::Status::Complete(len)) => len,
        Ok(httparse::Status::Partial) => return Parsed::Partial,
        Err(_) => return lenient::response(bytes, capture),
    };
    let Some(status) = resp.code else {
        return Parsed::Invalid;
    };
    Parsed::Complete(
        ResponseHead {
            status,
            version: version_name(resp.version),
            headers: redact::capture(capture, resp.headers),
            framing: framing(resp.headers),
        },
        len,
    )
}

/// Reads the framing headers.
fn framing(headers: &[Header<'_>]) -> Framing {
    let mut framing = Framing::default();
    for h in headers {
        framing.add(h.name.as_bytes(), h.value);
    }
    framing
}

fn parse_decimal(digits: &[u8]) -> Option<u64> {
    if digits.is_empty() {
        return None;
    }
    digits.iter().try_fold(0u64, |n, &d| {
        if d.is_ascii_digit() {
            n.checked_mul(10)?.checked_add(u64::from(d - b'0'))
        } else {
            None
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn req(bytes: &[u8]) -> Option<(RequestHead, usize)> {
        match parse_request(bytes, HeaderCapture::None) {
            Parsed::Complete(h, n) => Some((h, n)),
            _ => None,
        }
    }

    #[test]
    fn content_length_list_of_equal_values_is_accepted() {
        let (h, _) = req(b"POST / HTTP/1.1\r\nContent-Length: 5, 5\r\n\r\n")
            .unwrap_or_else(|| panic!("no head"));
        assert_eq!(h.framing.content_length, Some(5));
    }

    fn content_length(head: &[u8]) -> Option<u64> {
        req(head)
            .unwrap_or_else(|| panic!("no head"))
            .0
            .framing
            .content_length
    }

    #[test]
    fn of_conflicting_content_lengths_the_last_counts_as_in_wireshark() {
        assert_eq!(
            content_length(b"POST / HTTP/1.1\r\nContent-Length: 5\r\nContent-Length: 6\r\n\r\n"),
            Some(6)
        );
        assert_eq!(
            content_length(b"POST / HTTP/1.1\r\nContent-Length: 5\r\nContent-Length: x\r\n\r\n"),
            Some(5)
        );
    }

    #[test]
    fn unusable_content_lengths_are_ignored() {
        for value in ["-1", "99999999999999999999999", "68A", "5, 6", ""] {
            let head = format!("POST / HTTP/1.1\r\nContent-Length: {value}\r\n\r\n");
            assert_eq!(content_length(head.as_bytes()), None, "{value:?}");
        }
    }

    #[test]
    fn empty_transfer_coding_list_elements_are_skipped() {
        // http-chunked (Suricata's corpus): curl-like HEAD with `, chunked,`.
        let (h, _) = req(b"HEAD / HTTP/1.1\r\nTransfer-Encoding: ,\tchunked,\r\n\r\n")
            .unwrap_or_else(|| panic!());
        assert!(h.framing.transfer_encoding && h.framing.chunked);
    }

    #[test]
    fn chunked_counts_only_as_the_final_coding() {
        let (h, _) = req(b"POST / HTTP/1.1\r\nTransfer-Encoding: gzip, chunked\r\n\r\n")
            .unwrap_or_else(|| panic!());
        assert!(h.framing.chunked);
        let (h, _) = req(b"POST / HTTP/1.1\r\nTransfer-Encoding: chunked, gzip\r\n\r\n")
            .unwrap_or_else(|| panic!());
        assert!(h.framing.transfer_encoding && !h.framing.chunked);
    }

    #[test]
    fn head_end_is_found_across_the_seam() {
        assert!(ends_head(b"GET / HTTP/1.1\r\n\r\n", 14));
        assert!(ends_head(b"GET / HTTP/1.1\n\n", 14));
        assert!(!ends_head(b"GET / HTTP/1.1\r\nHost: a\r\n", 0));
        // Lone CRs, which the tolerant reading takes as line ends.
        assert!(ends_head(b"HTTP/1.1 200 ok\r\r", 14));
        assert!(ends_head(b"HTTP/1.1 200 ok\n\rX", 14));
        assert!(!ends_head(b"HTTP/1.1 200 ok\rA: b\r\n", 0));
    }

    #[test]
    fn split_head_is_gathered_and_its_first_timestamp_kept() {
        let mut buf = HeadBuf::default();
        let parse = |b: &[u8]| parse_request(b, HeaderCapture::None);
        assert!(matches!(
            buf.feed(1024, Timestamp(1), b"GET /a HT", parse),
            Feed::NeedMore
        ));
        match buf.feed(1024, Timestamp(2), b"TP/1.1\r\n\r\nGET", parse) {
            Feed::Complete { head, ts, used } => {
                assert_eq!(head.path, "/a");
                assert_eq!(ts, Timestamp(1));
                assert_eq!(used, 10);
            }
            _ => panic!("head not complete"),
        }
        assert!(buf.pending().is_empty());
    }
}
