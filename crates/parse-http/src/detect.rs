//! Is this the start of an HTTP/1.x message?
//!
//! Content detection lets the tracker parse HTTP on any port, and the same
//! checks tell the parser where a damaged stream may pick up again after a
//! gap. They look at a handful of leading bytes only and never allocate, since
//! they run on the first payload of every connection.

/// Request methods recognised at the start of a client stream: RFC 9110's,
/// PATCH, and the WebDAV (RFC 4918, 3253, 4791) ones.
const METHODS: &[&[u8]] = &[
    b"GET",
    b"POST",
    b"PUT",
    b"DELETE",
    b"HEAD",
    b"OPTIONS",
    b"PATCH",
    b"CONNECT",
    b"TRACE",
    b"PROPFIND",
    b"PROPPATCH",
    b"MKCOL",
    b"COPY",
    b"MOVE",
    b"LOCK",
    b"UNLOCK",
    b"REPORT",
    b"MKCALENDAR",
];

/// The prefix of every status line, as Wireshark recognises one (it reads
/// `HTTP/1.2` and `HTTP/2.0` status lines too).
const STATUS_PREFIX: &[u8] = b"HTTP/";

/// What a prefix of a stream says about it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Verdict {
    /// It starts like the message we look for.
    Yes,
    /// It cannot be the message we look for.
    No,
    /// Too short to tell: every byte so far is consistent with it.
    NeedMore,
}

/// Whether `first_client_bytes` starts with a known request method followed by
/// a space, e.g. `GET ` or `PROPFIND `.
///
/// This is content detection for the first payload of a client: it says
/// nothing about the rest of the request line. A prefix too short to hold a
/// whole method and its space (`GE`) is not a request.
pub fn looks_like_http_request(first_client_bytes: &[u8]) -> bool {
    request_start(first_client_bytes) == Verdict::Yes
}

/// Classifies the first bytes of a client stream.
pub(crate) fn request_start(bytes: &[u8]) -> Verdict {
    let mut verdict = Verdict::No;
    for method in METHODS {
        match bytes.get(..method.len()) {
            Some(head) if head == *method => match bytes.get(method.len()) {
                Some(b' ') => return Verdict::Yes,
                Some(_) => {}
                None => verdict = Verdict::NeedMore,
            },
            Some(_) => {}
            None => {
                if method.starts_with(bytes) {
                    verdict = Verdict::NeedMore;
                }
            }
        }
    }
    verdict
}

/// Whether `first_server_bytes` starts with `HTTP/`, the start of every
/// status line.
///
/// This is content detection for a connection whose first payload comes from
/// the server: a capture that began after the request, or lost it. (A server
/// that really speaks first is not speaking HTTP.)
pub fn looks_like_http_response(first_server_bytes: &[u8]) -> bool {
    first_server_bytes.starts_with(STATUS_PREFIX)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn known_methods_followed_by_space_are_requests() {
        assert!(looks_like_http_request(b"GET / HTTP/1.1\r\n"));
        assert!(looks_like_http_request(b"PROPFIND /dav HTTP/1.1\r\n"));
        assert!(looks_like_http_request(b"OPTIONS * HTTP/1.1\r\n"));
    }

    #[test]
    fn other_bytes_are_not_requests() {
        assert!(!looks_like_http_request(b"\x16\x03\x01\x02\x00"));
        assert!(!looks_like_http_request(b"GETX / HTTP/1.1"));
        assert!(!looks_like_http_request(b"get / HTTP/1.1"));
        assert!(!looks_like_http_request(b"GET"));
        assert!(!looks_like_http_request(b""));
    }

    #[test]
    fn short_prefixes_of_a_method_need_more() {
        assert_eq!(request_start(b""), Verdict::NeedMore);
        assert_eq!(request_start(b"P"), Verdict::NeedMore);
        assert_eq!(request_start(b"PROP"), Verdict::NeedMore);
        assert_eq!(request_start(b"POST"), Verdict::NeedMore);
        assert_eq!(request_start(b"POSX"), Verdict::No);
    }

    #[test]
    fn status_lines_start_with_http_slash() {
        assert!(looks_like_http_response(b"HTTP/1.1 200 OK\r\n"));
        assert!(looks_like_http_response(b"HTTP/1.2 200 ok\r\n"));
        assert!(!looks_like_http_response(b"HTTP"));
        assert!(!looks_like_http_response(b"ICY 200 OK\r\n"));
    }
}
