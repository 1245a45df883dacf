//! HTTP/1.1 on one connection: reading requests (keep-alive, bodies of at
//! most 1 MiB kept), writing sized responses and chunked streams (watches,
//! relayed pod answers), and counting the bytes both ways.

use super::Shared;
use serde_json::Value;
use std::io::{self, ErrorKind, Read, Write};
use std::net::{IpAddr, TcpStream};
use std::sync::Arc;

/// The most header bytes a request (or a relayed response) may have.
pub(super) const MAX_HEAD: usize = 64 * 1024;
/// The largest request body read; larger ones get 413.
const MAX_BODY: usize = 1 << 20;

/// One parsed request.
#[derive(Debug)]
pub(super) struct Request {
    pub method: String,
    /// The request target as sent (path and query).
    pub target: String,
    /// The path, still percent-encoded.
    pub path: String,
    query: Vec<(String, String)>,
    headers: Vec<(String, String)>,
    /// The body (at most 1 MiB), empty without `Content-Length`.
    pub body: Vec<u8>,
    /// Whether the connection may carry another request after this one.
    pub keep_alive: bool,
}

impl Request {
    /// A decoded query parameter (the first, if repeated).
    pub fn param(&self, name: &str) -> Option<&str> {
        self.query
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }

    /// A header value (the first, if repeated), by case-insensitive name.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    /// Every header as sent, in order.
    pub fn headers(&self) -> impl Iterator<Item = (&str, &str)> {
        self.headers.iter().map(|(k, v)| (k.as_str(), v.as_str()))
    }

    /// The query string as sent (still percent-encoded), if any.
    pub fn raw_query(&self) -> Option<&str> {
        self.target.split_once('?').map(|(_, q)| q)
    }
}

/// Why no request could be read.
#[derive(Debug)]
pub(super) enum ReadError {
    /// The peer closed (or the connection broke) between requests.
    Closed,
    /// Bytes that are not an acceptable HTTP/1.x request.
    Bad(String),
    /// A body over 1 MiB (left unread).
    TooLarge(String),
}

/// A server-side connection with its unread bytes.
pub(super) struct Conn {
    stream: TcpStream,
    buf: Vec<u8>,
    shared: Arc<Shared>,
}

impl Conn {
    pub fn new(stream: TcpStream, shared: Arc<Shared>) -> Conn {
        // Best effort: events must not wait for Nagle.
        let _ = stream.set_nodelay(true);
        Conn {
            stream,
            buf: Vec::new(),
            shared,
        }
    }

    /// Reads the next request and its body.
    pub fn read_request(&mut self) -> Result<Request, ReadError> {
        let end = loop {
            if let Some(end) = find(&self.buf, b"\r\n\r\n") {
                break end;
            }
            if self.buf.len() > MAX_HEAD {
                return Err(ReadError::Bad("request header too large".into()));
            }
            if !self.fill()? {
                return Err(ReadError::Closed);
            }
        };
        let head = String::from_utf8_lossy(&self.buf[..end]).into_owned();
        self.buf.drain(..end + 4);
        let mut req = parse_head(&head).map_err(ReadError::Bad)?;
        req.body = self.read_body(&req)?;
        Ok(req)
    }

    /// Reads more bytes; `false` at end of stream.
    fn fill(&mut self) -> Result<bool, ReadError> {
        let mut chunk = [0u8; 8192];
        loop {
            match self.stream.read(&mut chunk) {
                Ok(0) => return Ok(false),
                Ok(n) => {
                    self.buf.extend_from_slice(&chunk[..n]);
                    self.shared.count(|s| s.bytes_received += n as u64);
                    return Ok(true);
                }
                Err(e) if e.kind() == ErrorKind::Interrupted => continue,
                Err(_) => return Err(ReadError::Closed),
            }
        }
    }

    fn read_body(&mut self, req: &Request) -> Result<Vec<u8>, ReadError> {
        if req.header("transfer-encoding").is_some() {
            return Err(ReadError::Bad(
                "chunked request bodies are not supported".into(),
            ));
        }
        let len = match req.header("content-length") {
            None => 0,
            Some(v) => v
                .trim()
                .parse::<usize>()
                .map_err(|_| ReadError::Bad(format!("bad Content-Length: {v}")))?,
        };
        if len > MAX_BODY {
            return Err(ReadError::TooLarge(format!(
                "Request entity too large: limit is {MAX_BODY}"
            )));
        }
        while self.buf.len() < len {
            if !self.fill()? {
                return Err(ReadError::Closed);
            }
        }
        Ok(self.buf.drain(..len).collect())
    }

    /// The client's address, for `X-Forwarded-For`.
    pub fn peer_ip(&self) -> Option<IpAddr> {
        self.stream.peer_addr().ok().map(|a| a.ip())
    }

    /// Writes all of `bytes`, counting them.
    pub fn send(&mut self, bytes: &[u8]) -> io::Result<()> {
        self.stream.write_all(bytes)?;
        self.stream.flush()?;
        self.shared.count(|s| s.bytes_sent += bytes.len() as u64);
        Ok(())
    }

    /// A complete response with a sized body.
    pub fn respond(
        &mut self,
        code: u16,
        content_type: &str,
        body: &[u8],
        keep_alive: bool,
    ) -> io::Result<()> {
        let connection = if keep_alive {
            ""
        } else {
            "Connection: close\r\n"
        };
        let head = format!(
            "HTTP/1.1 {code} {}\r\nContent-Type: {content_type}\r\nContent-Length: {}\r\n\
             Cache-Control: no-cache, private\r\n{connection}\r\n",
            reason_phrase(code),
            body.len()
        );
        let mut out = head.into_bytes();
        out.extend_from_slice(body);
        self.send(&out)
    }

    pub fn respond_json(&mut self, code: u16, body: &Value, keep_alive: bool) -> io::Result<()> {
        self.respond(
            code,
            "application/json",
            body.to_string().as_bytes(),
            keep_alive,
        )
    }

    /// The head of a chunked `200 OK` stream.
    pub fn start_stream(&mut self) -> io::Result<()> {
        self.send(
            b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n\
              Cache-Control: no-cache, private\r\nTransfer-Encoding: chunked\r\n\r\n",
        )
    }

    /// The head of a relayed response: its status line and `headers`, then
    /// chunked framing unless the status has no body (1xx, 204, 304).
    pub fn start_relay(
        &mut self,
        code: u16,
        reason: &str,
        headers: &[(String, String)],
        keep_alive: bool,
    ) -> io::Result<()> {
        let mut head = format!("HTTP/1.1 {code} {reason}\r\n");
        for (name, value) in headers {
            head.push_str(&format!("{name}: {value}\r\n"));
        }
        if has_body(code) {
            head.push_str("Transfer-Encoding: chunked\r\n");
        }
        if !keep_alive {
            head.push_str("Connection: close\r\n");
        }
        head.push_str("\r\n");
        self.send(head.as_bytes())
    }

    /// One chunk, written (and flushed) at once.
    pub fn send_chunk(&mut self, data: &[u8]) -> io::Result<()> {
        if data.is_empty() {
            return Ok(());
        }
        let mut out = format!("{:x}\r\n", data.len()).into_bytes();
        out.extend_from_slice(data);
        out.extend_from_slice(b"\r\n");
        self.send(&out)
    }

    /// The terminating zero-length chunk: a clean end of the stream.
    pub fn end_stream(&mut self) -> io::Result<()> {
        self.send(b"0\r\n\r\n")
    }

    /// Whether the peer has closed its side (or the connection broke),
    /// checked without blocking or consuming anything.
    pub fn peer_closed(&mut self) -> bool {
        if self.stream.set_nonblocking(true).is_err() {
            return true;
        }
        let mut byte = [0u8; 1];
        let closed = match self.stream.peek(&mut byte) {
            Ok(0) => true,
            Ok(_) => false,
            Err(e) => !matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::Interrupted),
        };
        self.stream.set_nonblocking(false).is_err() || closed
    }
}

/// Whether a response with this status carries a body.
pub(super) fn has_body(code: u16) -> bool {
    !matches!(code, 100..=199 | 204 | 304)
}

pub(super) fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    haystack.windows(needle.len()).position(|w| w == needle)
}

/// Parses the request line and headers.
fn parse_head(head: &str) -> Result<Request, String> {
    let mut lines = head.split("\r\n");
    let line = lines.next().unwrap_or("");
    let mut parts = line.split(' ');
    let (Some(method), Some(target), Some(version), None) =
        (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return Err(format!("malformed request line: {line:?}"));
    };
    let http11 = match version {
        "HTTP/1.1" => true,
        "HTTP/1.0" => false,
        _ => return Err(format!("unsupported protocol: {version:?}")),
    };
    if method.is_empty() || !target.starts_with('/') {
        return Err(format!("malformed request line: {line:?}"));
    }
    let mut headers = Vec::new();
    for line in lines {
        let Some((name, value)) = line.split_once(':') else {
            return Err(format!("malformed header line: {line:?}"));
        };
        headers.push((name.trim().to_string(), value.trim().to_string()));
    }
    let (path, query) = target.split_once('?').unwrap_or((target, ""));
    let mut req = Request {
        method: method.to_string(),
        target: target.to_string(),
        path: path.to_string(),
        query: parse_query(query),
        headers,
        body: Vec::new(),
        keep_alive: false,
    };
    let connection = req.header("connection").unwrap_or("").to_ascii_lowercase();
    req.keep_alive = if http11 {
        !connection.contains("close")
    } else {
        connection.contains("keep-alive")
    };
    Ok(req)
}

/// `a=1&b=x%2Cy` into decoded pairs; empty pairs are skipped.
fn parse_query(query: &str) -> Vec<(String, String)> {
    query
        .split('&')
        .filter(|p| !p.is_empty())
        .map(|p| {
            let (k, v) = p.split_once('=').unwrap_or((p, ""));
            (percent_decode(k, true), percent_decode(v, true))
        })
        .collect()
}

/// Decodes `%XX` escapes (and `+` as a space in query strings); invalid
/// escapes stay as they are.
pub(super) fn percent_decode(s: &str, plus_is_space: bool) -> String {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let hex = |b: u8| (b as char).to_digit(16);
        match bytes[i] {
            b'%' if i + 2 < bytes.len() => match (hex(bytes[i + 1]), hex(bytes[i + 2])) {
                (Some(h), Some(l)) => {
                    out.push((h * 16 + l) as u8);
                    i += 3;
                    continue;
                }
                _ => out.push(b'%'),
            },
            b'+' if plus_is_space => out.push(b' '),
            b => out.push(b),
        }
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

fn reason_phrase(code: u16) -> &'static str {
    match code {
        200 => "OK",
        201 => "Created",
        400 => "Bad Request",
        401 => "Unauthorized",
        403 => "Forbidden",
        404 => "Not Found",
        405 => "Method Not Allowed",
        410 => "Gone",
        413 => "Request Entity Too Large",
        422 => "Unprocessable Entity",
        500 => "Internal Server Error",
        503 => "Service Unavailable",
        504 => "Gateway Timeout",
        _ => "Unknown",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn heads_parse_with_query_and_keep_alive() {
        let req = parse_head(
            "GET /api/v1/pods?&watch=true\
             &fieldSelector=spec.nodeName%3Dn1%2Cstatus.phase%21%3DFailed&x HTTP/1.1\r\n\
             Host: h\r\nAccept: application/json",
        )
        .unwrap();
        assert_eq!(req.path, "/api/v1/pods");
        assert_eq!(req.param("watch"), Some("true"));
        assert_eq!(
            req.param("fieldSelector"),
            Some("spec.nodeName=n1,status.phase!=Failed")
        );
        assert_eq!(req.param("x"), Some(""));
        assert_eq!(req.header("accept"), Some("application/json"));
        assert!(req.keep_alive);
        let old = parse_head("GET / HTTP/1.0").unwrap();
        assert!(!old.keep_alive);
        let closing = parse_head("GET / HTTP/1.1\r\nConnection: close").unwrap();
        assert!(!closing.keep_alive);
        assert_eq!(closing.raw_query(), None);
        let raw = parse_head("GET /p?a=%20&b HTTP/1.1").unwrap();
        assert_eq!(raw.raw_query(), Some("a=%20&b"));
    }

    #[test]
    fn bad_heads_are_rejected() {
        assert!(parse_head("GET /").is_err());
        assert!(parse_head("GET / HTTP/2").is_err());
        assert!(parse_head("GET x HTTP/1.1").is_err());
        assert!(parse_head("GET / HTTP/1.1\r\nno colon").is_err());
        assert!(parse_head("").is_err());
    }

    #[test]
    fn percent_decoding_is_lenient() {
        assert_eq!(percent_decode("a%20b+c", true), "a b c");
        assert_eq!(percent_decode("a+b", false), "a+b");
        assert_eq!(percent_decode("100%", true), "100%");
        assert_eq!(percent_decode("%zz%4", true), "%zz%4");
        assert_eq!(percent_decode("%e2%9c%93", true), "✓");
    }
}
