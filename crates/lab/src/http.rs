//! A minimal blocking HTTP/1.1 GET, for the lab's own HTTP clients (the
//! agent's API, Prometheus's API).
//!
//! No client library on purpose: the lab tests servers, and a one-request,
//! `Connection: close` client whose every step is visible is easier to trust
//! than one more dependency. It reads `Content-Length` and chunked bodies
//! (Go's `net/http`, which Prometheus uses, chunks any response it did not
//! size up front), and nothing fancier: no redirects, no compression, no
//! keep-alive.

use crate::{Error, Result};
use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::time::Duration;

/// How long connecting may take.
pub const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);
/// How long any single read may block.
pub const READ_TIMEOUT: Duration = Duration::from_secs(30);

/// `GET path` from `addr` over a fresh connection: the status code and the
/// body (decoded from chunks when chunked; lossily as UTF-8).
pub fn get(addr: SocketAddr, path: &str) -> Result<(u16, String)> {
    get_from(addr, path, false)
}

/// [`get`], over TLS when `tls` (the certificate is not checked: see
/// [`crate::tls`]).
pub fn get_from(addr: SocketAddr, path: &str, tls: bool) -> Result<(u16, String)> {
    let scheme = if tls { "https" } else { "http" };
    let io = |e| Error::io("http get", format!("{scheme}://{addr}{path}"), e);
    let tcp = TcpStream::connect_timeout(&addr, CONNECT_TIMEOUT).map_err(io)?;
    tcp.set_read_timeout(Some(READ_TIMEOUT)).map_err(io)?;
    let mut s: Box<dyn ReadWrite> = if tls {
        let stream = crate::tls::unverified(tcp, addr).map_err(|e| io(std::io::Error::other(e)))?;
        Box::new(stream)
    } else {
        Box::new(tcp)
    };
    write!(
        s,
        "GET {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n"
    )
    .map_err(io)?;
    let mut raw = Vec::new();
    match s.read_to_end(&mut raw) {
        Ok(_) => {}
        // A TLS peer that closed without close_notify, after its answer.
        Err(e) if tls && e.kind() == std::io::ErrorKind::UnexpectedEof && !raw.is_empty() => {}
        Err(e) => return Err(io(e)),
    }
    let (status, body) = parse_response(&raw)
        .map_err(|detail| Error::parse("http", format!("GET http://{addr}{path}: {detail}")))?;
    Ok((status, String::from_utf8_lossy(&body).into_owned()))
}

trait ReadWrite: Read + Write {}
impl<T: Read + Write> ReadWrite for T {}

/// Splits a complete response (the connection was closed after it) into the
/// status code and the decoded body.
fn parse_response(raw: &[u8]) -> Result<(u16, Vec<u8>), String> {
    let Some(end) = raw.windows(4).position(|w| w == b"\r\n\r\n") else {
        return Err(format!(
            "no end of headers in {} bytes: {}",
            raw.len(),
            String::from_utf8_lossy(raw)
        ));
    };
    let head = String::from_utf8_lossy(&raw[..end]);
    let rest = &raw[end + 4..];
    let mut lines = head.split("\r\n");
    let status_line = lines.next().unwrap_or("");
    let status = status_line
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .ok_or_else(|| format!("bad status line: {status_line}"))?;
    let mut chunked = false;
    let mut length = None;
    for line in lines {
        let Some((name, value)) = line.split_once(':') else {
            continue;
        };
        let value = value.trim();
        if name.eq_ignore_ascii_case("transfer-encoding") {
            chunked = value
                .rsplit(',')
                .next()
                .is_some_and(|last| last.trim().eq_ignore_ascii_case("chunked"));
        } else if name.eq_ignore_ascii_case("content-length") {
            length = Some(
                value
                    .parse::<usize>()
                    .map_err(|_| format!("bad Content-Length: {value}"))?,
            );
        }
    }
    if chunked {
        return dechunk(rest).map(|body| (status, body));
    }
    match length {
        Some(n) if rest.len() < n => Err(format!(
            "body cut short: {} of {n} bytes (Content-Length)",
            rest.len()
        )),
        Some(n) => Ok((status, rest[..n].to_vec())),
        None => Ok((status, rest.to_vec())),
    }
}

/// Decodes a chunked body (trailers, if any, are dropped).
fn dechunk(mut rest: &[u8]) -> Result<Vec<u8>, String> {
    let mut body = Vec::new();
    loop {
        let Some(eol) = rest.windows(2).position(|w| w == b"\r\n") else {
            return Err("chunked body cut short (no chunk size line)".into());
        };
        let line = String::from_utf8_lossy(&rest[..eol]);
        // Chunk extensions (`;name=value`) follow the size.
        let size_text = line.split(';').next().unwrap_or("").trim();
        let size = usize::from_str_radix(size_text, 16)
            .map_err(|_| format!("bad chunk size line: {line}"))?;
        rest = &rest[eol + 2..];
        if size == 0 {
            return Ok(body);
        }
        if rest.len() < size + 2 || &rest[size..size + 2] != b"\r\n" {
            return Err(format!(
                "chunked body cut short: chunk of {size} bytes, {} left",
                rest.len()
            ));
        }
        body.extend_from_slice(&rest[..size]);
        rest = &rest[size + 2..];
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::net::TcpListener;

    #[test]
    fn content_length_body_is_cut_at_its_length() {
        let raw = b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nhelloEXTRA";
        assert_eq!(parse_response(raw).unwrap(), (200, b"hello".to_vec()));
        let short = b"HTTP/1.1 200 OK\r\ncontent-length: 9\r\n\r\nhello";
        assert!(parse_response(short).unwrap_err().contains("cut short"));
    }

    #[test]
    fn chunked_body_is_decoded() {
        let raw = b"HTTP/1.1 503 Service Unavailable\r\nTransfer-Encoding: chunked\r\n\r\n\
                    5\r\nhello\r\n7;ext=1\r\n, world\r\n0\r\nTrailer: x\r\n\r\n";
        assert_eq!(
            parse_response(raw).unwrap(),
            (503, b"hello, world".to_vec())
        );
        let cut = b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhel";
        assert!(parse_response(cut).unwrap_err().contains("cut short"));
    }

    #[test]
    fn body_without_length_runs_to_the_close() {
        let raw = b"HTTP/1.0 404 Not Found\r\n\r\nnope\r\n";
        assert_eq!(parse_response(raw).unwrap(), (404, b"nope\r\n".to_vec()));
        assert!(parse_response(b"HTTP/1.1 200").is_err());
    }

    #[test]
    fn get_talks_to_a_real_socket() {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        let server = std::thread::spawn(move || {
            let (mut s, _) = listener.accept().unwrap();
            let mut req = Vec::new();
            let mut buf = [0u8; 512];
            while !req.ends_with(b"\r\n\r\n") {
                let n = s.read(&mut buf).unwrap();
                assert!(n > 0);
                req.extend_from_slice(&buf[..n]);
            }
            s.write_all(
                b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n2\r\nok\r\n0\r\n\r\n",
            )
            .unwrap();
            String::from_utf8(req).unwrap()
        });
        assert_eq!(get(addr, "/x?y=1").unwrap(), (200, "ok".to_string()));
        let req = server.join().unwrap();
        assert!(req.starts_with("GET /x?y=1 HTTP/1.1\r\n"), "{req}");
        assert!(req.contains("Connection: close\r\n"), "{req}");
    }
}
