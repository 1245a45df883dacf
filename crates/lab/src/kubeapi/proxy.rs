//! The pod proxy: `GET /api/v1/namespaces/{ns}/pods/{name}[:port]/proxy/{path}`
//! relayed to `http://{podIP}:{port}/{path}`, how `podwire sniff` reaches
//! an agent it has no route to.
//!
//! What matters is what a real API server does on the way, because the
//! agent's security and the capture stream rest on it:
//!
//! - the caller is authenticated (401) and authorized for `get` on
//!   `pods/proxy` in the namespace (403) before the pod is looked up;
//! - the caller's `Authorization` header is deleted once authenticated, so
//!   a pod never sees the caller's token (a client that wants the agent to
//!   check it must send it in another header); hop-by-hop headers and
//!   `Host` are not passed on either, and `X-Forwarded-For` gets the
//!   caller's address, as Go's reverse proxy adds it;
//! - the answer keeps its status and headers and is streamed as the pod
//!   writes it, re-framed as chunks, never buffered whole (a capture runs
//!   for minutes);
//! - when the caller goes away (or the test cuts it) the connection to the
//!   pod is closed, so the pod notices; when the pod's answer breaks off,
//!   the caller's connection is closed without the terminating chunk;
//! - a pod that cannot be reached is a 503 "error trying to reach service".
//!
//! The port is the one in the path, else the pod's first declared container
//! port, else 80. Unlike a real server the fake proxies to loopback
//! addresses (tests run pods at 127.0.0.1), proxies only GET, takes only
//! numeric ports, and answers 503 for a pod without an IP where a real
//! server answers 400 ("address not allowed"). `https:NAME:PORT` reaches
//! the pod over TLS without verifying its certificate, as a real server
//! does (see `podtls`).

use super::auth::{self, Attributes, Identity};
use super::podtls::PodStream;
use super::render;
use super::resource::{ProxyPath, PODS, RESOURCES};
use super::serve::{admit, method_not_allowed};
use super::wire::{find, has_body, Conn, Request, MAX_HEAD};
use super::{lock, Shared};
use serde_json::Value;
use std::io::{self, ErrorKind, Read, Write};
use std::net::{IpAddr, SocketAddr, TcpStream};
use std::sync::atomic::Ordering;
use std::time::Duration;

/// How long connecting to (and writing the request to) a pod may take.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);
/// How long a quiet pod is waited for before checking the caller is there.
const POLL: Duration = Duration::from_millis(100);
/// The most bytes read from the pod at once: the largest chunk relayed.
const READ_SIZE: usize = 16 * 1024;
/// The longest chunk-size or trailer line a pod may send.
const MAX_LINE: usize = 4096;
/// The port of a proxy path without one, for a pod that declares none.
const DEFAULT_PORT: u16 = 80;

/// Headers a proxy does not pass on, either way: hop-by-hop ones (Go's
/// list), `Host` (the pod's is set), and what the server consumes or
/// re-frames.
const NOT_PASSED: &[&str] = &[
    "connection",
    "proxy-connection",
    "keep-alive",
    "proxy-authenticate",
    "proxy-authorization",
    "te",
    "trailer",
    "transfer-encoding",
    "upgrade",
    "host",
    "authorization",
    "x-forwarded-for",
];

/// Serves a pod proxy request: a relayed answer or a `Status` failure;
/// whether the connection may go on.
pub(super) fn serve(
    conn: &mut Conn,
    shared: &Shared,
    req: &Request,
    caller: Option<Identity>,
    path: &ProxyPath,
) -> io::Result<bool> {
    shared.count(|s| s.proxied += 1);
    let verb = auth::verb_of(&req.method, false);
    let attrs = Attributes {
        verb: &verb,
        group: "",
        resource: "pods",
        subresource: "proxy",
        namespace: &path.namespace,
        name: &path.id,
    };
    if admit(conn, shared, req, caller, &attrs)?.is_none() {
        return Ok(true);
    }
    if req.method != "GET" {
        let message = format!("the fake API server proxies only GET, not {}", req.method);
        method_not_allowed(conn, req, &message)?;
        return Ok(true);
    }
    let addr = match PodId::parse(&path.id).and_then(|id| locate(shared, &path.namespace, &id)) {
        Ok(addr) => addr,
        Err((code, body)) => {
            conn.respond_json(code, &body, req.keep_alive)?;
            return Ok(true);
        }
    };
    let tls = path.id.starts_with("https:");
    let pod = match open(
        addr,
        tls,
        &upstream_request(addr, req, path, conn.peer_ip()),
    ) {
        Ok(pod) => pod,
        Err(message) => {
            conn.respond_json(503, &unreachable(&message), req.keep_alive)?;
            return Ok(true);
        }
    };
    let relay = Relay {
        cuts: shared.cuts.load(Ordering::SeqCst),
        conn,
        shared,
        pod,
        addr,
        buf: Vec::new(),
    };
    relay.run(req.keep_alive)
}

/// A failure answer: its status code and `Status` body.
type Failure = (u16, Value);

/// What a proxy path's `{name}[:port]` names.
#[derive(Debug, PartialEq, Eq)]
struct PodId<'a> {
    name: &'a str,
    port: Option<u16>,
}

impl PodId<'_> {
    /// `name`, `name:port` or `scheme:name:port`, as a real server splits
    /// it (`SplitSchemeNamePort`).
    fn parse(id: &str) -> Result<PodId<'_>, Failure> {
        let invalid = || {
            let message = format!("invalid pod request {id:?}");
            (400, render::status(400, "BadRequest", &message))
        };
        let parts: Vec<&str> = id.split(':').collect();
        let (scheme, name, port) = match parts.as_slice() {
            [name] => ("", *name, ""),
            [name, port] => ("", *name, *port),
            [scheme, name, port] => (*scheme, *name, *port),
            _ => return Err(invalid()),
        };
        if name.is_empty() || !matches!(scheme, "" | "http" | "https") {
            return Err(invalid());
        }
        let port = match port {
            "" => None,
            p => Some(p.parse::<u16>().map_err(|_| invalid())?),
        };
        Ok(PodId { name, port })
    }
}

/// Where the pod listens: 404 for a pod not in the store, 503 for one
/// without an IP.
fn locate(shared: &Shared, namespace: &str, id: &PodId) -> Result<SocketAddr, Failure> {
    let key = (PODS, namespace.to_string(), id.name.to_string());
    let Some(pod) = lock(&shared.store).get(&key) else {
        return Err((404, render::not_found(&RESOURCES[PODS], id.name)));
    };
    let Some(ip) = pod_ip(&pod) else {
        let message = format!("pod {namespace}/{} has no IP address", id.name);
        return Err((503, unreachable(&message)));
    };
    let port = id
        .port
        .or_else(|| first_container_port(&pod))
        .unwrap_or(DEFAULT_PORT);
    Ok(SocketAddr::new(ip, port))
}

/// `status.podIPs[0].ip`, else `status.podIP`.
fn pod_ip(pod: &Value) -> Option<IpAddr> {
    let status = &pod["status"];
    let ip = status["podIPs"][0]["ip"]
        .as_str()
        .or_else(|| status["podIP"].as_str())?;
    ip.parse().ok()
}

fn first_container_port(pod: &Value) -> Option<u16> {
    let containers = pod["spec"]["containers"].as_array()?;
    containers
        .iter()
        .find_map(|c| c["ports"][0]["containerPort"].as_u64())
        .and_then(|p| u16::try_from(p).ok())
}

/// The 503 of a pod that cannot be reached, in a real server's words.
fn unreachable(detail: &str) -> Value {
    let message = format!("error trying to reach service: {detail}");
    render::status(503, "ServiceUnavailable", &message)
}

/// Whether a header is not passed on: one of [`NOT_PASSED`], or one the
/// `Connection` header names.
fn not_passed(name: &str, connection: Option<&str>) -> bool {
    NOT_PASSED.iter().any(|n| n.eq_ignore_ascii_case(name))
        || connection.is_some_and(|c| c.split(',').any(|n| n.trim().eq_ignore_ascii_case(name)))
}

/// The request the pod gets: the path after `proxy` and the query as sent,
/// the caller's headers less those not passed on, `X-Forwarded-For`, and
/// any body. One request per connection (`Connection: close`).
fn upstream_request(
    addr: SocketAddr,
    req: &Request,
    path: &ProxyPath,
    caller_ip: Option<IpAddr>,
) -> Vec<u8> {
    let target = match req.raw_query().filter(|q| !q.is_empty()) {
        Some(query) => format!("{}?{query}", path.rest),
        None => path.rest.clone(),
    };
    let mut head = format!("GET {target} HTTP/1.1\r\nHost: {addr}\r\n");
    let connection = req.header("connection");
    for (name, value) in req.headers() {
        if !not_passed(name, connection) {
            head.push_str(&format!("{name}: {value}\r\n"));
        }
    }
    let forwarded = match (req.header("x-forwarded-for"), caller_ip) {
        (Some(prior), Some(ip)) => Some(format!("{prior}, {ip}")),
        (prior, ip) => prior.map(str::to_string).or(ip.map(|ip| ip.to_string())),
    };
    if let Some(forwarded) = forwarded {
        head.push_str(&format!("X-Forwarded-For: {forwarded}\r\n"));
    }
    head.push_str("Connection: close\r\n\r\n");
    let mut out = head.into_bytes();
    out.extend_from_slice(&req.body);
    out
}

/// Connects to the pod and sends the request; the error's words if that
/// fails.
fn open(addr: SocketAddr, tls: bool, request: &[u8]) -> Result<PodStream, String> {
    let tcp = TcpStream::connect_timeout(&addr, CONNECT_TIMEOUT)
        .map_err(|e| format!("dial tcp {addr}: {e}"))?;
    tcp.set_read_timeout(Some(CONNECT_TIMEOUT))
        .and_then(|()| tcp.set_write_timeout(Some(CONNECT_TIMEOUT)))
        .and_then(|()| tcp.set_nodelay(true))
        .map_err(|e| format!("dial tcp {addr}: {e}"))?;
    let poll = tcp
        .try_clone()
        .map_err(|e| format!("dial tcp {addr}: {e}"))?;
    let mut pod = PodStream::new(tcp, addr, tls)?;
    pod.write_all(request)
        .and_then(|()| pod.flush())
        .map_err(|e| format!("write tcp {addr}: {e}"))?;
    // The handshake is done; from now on reads wake every POLL to check
    // on the caller.
    poll.set_read_timeout(Some(POLL))
        .map_err(|e| format!("read tcp {addr}: {e}"))?;
    Ok(pod)
}

/// How a pod's answer body is framed.
#[derive(Debug, PartialEq, Eq)]
enum Framing {
    /// No body (1xx, 204, 304).
    Empty,
    Length(u64),
    Chunked,
    /// Until the pod closes.
    UntilClose,
}

/// A pod's answer head, with the headers to relay.
#[derive(Debug)]
struct Head {
    code: u16,
    reason: String,
    headers: Vec<(String, String)>,
    framing: Framing,
}

/// Parses a response head (without its blank line).
fn parse_head(text: &str) -> Result<Head, String> {
    let mut lines = text.split("\r\n");
    let status = lines.next().unwrap_or("");
    let mut parts = status.splitn(3, ' ');
    let (Some(version), Some(code)) = (parts.next(), parts.next()) else {
        return Err(format!("malformed HTTP response {status:?}"));
    };
    let code = code
        .parse::<u16>()
        .ok()
        .filter(|c| (100..1000).contains(c) && version.starts_with("HTTP/1."))
        .ok_or_else(|| format!("malformed HTTP response {status:?}"))?;
    let mut all = Vec::new();
    for line in lines {
        let Some((name, value)) = line.split_once(':') else {
            return Err(format!("malformed MIME header line: {line}"));
        };
        all.push((name.trim().to_string(), value.trim().to_string()));
    }
    let header = |name: &str| {
        all.iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    };
    let framing = if !has_body(code) {
        Framing::Empty
    } else if header("transfer-encoding")
        .is_some_and(|te| te.to_ascii_lowercase().contains("chunked"))
    {
        Framing::Chunked
    } else if let Some(len) = header("content-length") {
        let len = len
            .parse()
            .map_err(|_| format!("bad Content-Length {len:?}"))?;
        Framing::Length(len)
    } else {
        Framing::UntilClose
    };
    let connection = header("connection").map(str::to_string);
    let headers = all
        .into_iter()
        .filter(|(k, _)| {
            !not_passed(k, connection.as_deref()) && !k.eq_ignore_ascii_case("content-length")
        })
        .collect();
    Ok(Head {
        code,
        reason: parts.next().unwrap_or("").to_string(),
        headers,
        framing,
    })
}

/// Why relaying stopped early.
#[derive(Debug)]
enum Stop {
    /// The caller went away, or the test cut the connection.
    Caller,
    /// The pod's connection failed, or its answer broke off or is not HTTP.
    Pod(String),
}

/// One relayed answer: the pod's connection and its unread bytes.
struct Relay<'a> {
    conn: &'a mut Conn,
    shared: &'a Shared,
    /// The server's cut count when the relay began.
    cuts: u64,
    pod: PodStream,
    addr: SocketAddr,
    buf: Vec<u8>,
}

impl Relay<'_> {
    /// Relays the answer; whether the caller's connection may go on. The
    /// pod's connection closes when this returns (it is dropped).
    fn run(mut self, keep_alive: bool) -> io::Result<bool> {
        let head = match self.head() {
            Ok(head) => head,
            Err(Stop::Caller) => return Ok(false),
            Err(Stop::Pod(detail)) => {
                self.conn
                    .respond_json(503, &unreachable(&detail), keep_alive)?;
                return Ok(true);
            }
        };
        self.conn
            .start_relay(head.code, &head.reason, &head.headers, keep_alive)?;
        match self.body(head.framing) {
            Ok(true) => {
                self.conn.end_stream()?;
                Ok(true)
            }
            Ok(false) => Ok(true),
            // Either side broke off: so does the caller's connection.
            Err(_) => Ok(false),
        }
    }

    /// The final answer head (interim 1xx answers are skipped).
    fn head(&mut self) -> Result<Head, Stop> {
        loop {
            let Some(end) = find(&self.buf, b"\r\n\r\n") else {
                if self.buf.len() > MAX_HEAD {
                    return Err(Stop::Pod("response header too large".into()));
                }
                if !self.fill()? {
                    return Err(Stop::Pod("EOF".into()));
                }
                continue;
            };
            let text = String::from_utf8_lossy(&self.buf[..end]).into_owned();
            self.buf.drain(..end + 4);
            let head = parse_head(&text).map_err(Stop::Pod)?;
            if !(100..200).contains(&head.code) {
                return Ok(head);
            }
        }
    }

    /// Relays the body; whether there was one (and so a terminating chunk
    /// is due).
    fn body(&mut self, framing: Framing) -> Result<bool, Stop> {
        match framing {
            Framing::Empty => return Ok(false),
            Framing::Length(len) => self.relay_length(len)?,
            Framing::Chunked => self.relay_chunked()?,
            Framing::UntilClose => self.relay_until_close()?,
        }
        Ok(true)
    }

    fn relay_length(&mut self, mut left: u64) -> Result<(), Stop> {
        while left > 0 {
            if self.buf.is_empty() && !self.fill()? {
                return Err(Stop::Pod("unexpected EOF".into()));
            }
            let n = self
                .buf
                .len()
                .min(usize::try_from(left).unwrap_or(usize::MAX));
            self.forward(n)?;
            left -= n as u64;
        }
        Ok(())
    }

    fn relay_chunked(&mut self) -> Result<(), Stop> {
        loop {
            let line = self.line()?;
            let size = line.split(';').next().unwrap_or("").trim();
            let size = u64::from_str_radix(size, 16)
                .map_err(|_| Stop::Pod(format!("malformed chunk size {line:?}")))?;
            if size == 0 {
                // Trailers are dropped, up to the blank line.
                while !self.line()?.is_empty() {}
                return Ok(());
            }
            self.relay_length(size)?;
            if !self.line()?.is_empty() {
                return Err(Stop::Pod("malformed chunked encoding".into()));
            }
        }
    }

    fn relay_until_close(&mut self) -> Result<(), Stop> {
        loop {
            if !self.buf.is_empty() {
                self.forward(self.buf.len())?;
            }
            if !self.fill()? {
                return Ok(());
            }
        }
    }

    /// The next CRLF-terminated line of a chunked body, without the CRLF.
    fn line(&mut self) -> Result<String, Stop> {
        loop {
            if let Some(at) = find(&self.buf, b"\r\n") {
                let line = String::from_utf8_lossy(&self.buf[..at]).into_owned();
                self.buf.drain(..at + 2);
                return Ok(line);
            }
            if self.buf.len() > MAX_LINE {
                return Err(Stop::Pod("chunk line too long".into()));
            }
            if !self.fill()? {
                return Err(Stop::Pod("unexpected EOF".into()));
            }
        }
    }

    /// Sends the first `n` buffered bytes to the caller as one chunk, at
    /// once.
    fn forward(&mut self, n: usize) -> Result<(), Stop> {
        self.conn
            .send_chunk(&self.buf[..n])
            .map_err(|_| Stop::Caller)?;
        self.buf.drain(..n);
        Ok(())
    }

    /// Reads what the pod has sent; `false` when it has closed. While the
    /// pod is quiet, checks every [`POLL`] that the caller is still there.
    fn fill(&mut self) -> Result<bool, Stop> {
        let mut chunk = [0u8; READ_SIZE];
        loop {
            match self.pod.read(&mut chunk) {
                Ok(0) => return Ok(false),
                Ok(n) => {
                    self.buf.extend_from_slice(&chunk[..n]);
                    return Ok(true);
                }
                Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => {
                    if self.caller_gone() {
                        return Err(Stop::Caller);
                    }
                }
                Err(e) if e.kind() == ErrorKind::Interrupted => {}
                Err(e) => return Err(Stop::Pod(format!("read tcp {}: {e}", self.addr))),
            }
        }
    }

    fn caller_gone(&mut self) -> bool {
        self.shared.stopped.load(Ordering::SeqCst)
            || self.shared.cuts.load(Ordering::SeqCst) != self.cuts
            || self.conn.peer_closed()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pod_ids_split_like_a_real_server() {
        let ok = |id| PodId::parse(id).map_err(|(code, _)| code);
        assert_eq!(
            ok("p"),
            Ok(PodId {
                name: "p",
                port: None
            })
        );
        assert_eq!(
            ok("p:8080"),
            Ok(PodId {
                name: "p",
                port: Some(8080)
            })
        );
        assert_eq!(
            ok("http:p:81"),
            Ok(PodId {
                name: "p",
                port: Some(81)
            })
        );
        assert_eq!(
            ok("http:p:"),
            Ok(PodId {
                name: "p",
                port: None
            })
        );
        assert_eq!(
            ok("https:p:443"),
            Ok(PodId {
                name: "p",
                port: Some(443)
            })
        );
        assert_eq!(ok("ftp:p:21"), Err(400));
        assert_eq!(ok(":80"), Err(400));
        assert_eq!(ok("p:http"), Err(400));
        assert_eq!(ok("a:b:c:d"), Err(400));
    }

    #[test]
    fn response_heads_frame_their_bodies() {
        let head = parse_head(
            "HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: 5\r\n\
             Connection: close, X-Hop\r\nX-Hop: 1\r\nX-Kept: 2",
        )
        .unwrap();
        assert_eq!(head.framing, Framing::Length(5));
        assert_eq!(head.reason, "OK");
        let names: Vec<&str> = head.headers.iter().map(|(k, _)| k.as_str()).collect();
        assert_eq!(names, ["Content-Type", "X-Kept"]);
        let chunked = parse_head("HTTP/1.1 404 Not Found\r\nTransfer-Encoding: chunked").unwrap();
        assert_eq!(chunked.framing, Framing::Chunked);
        assert!(chunked.headers.is_empty());
        assert_eq!(
            parse_head("HTTP/1.0 200 OK").unwrap().framing,
            Framing::UntilClose
        );
        assert_eq!(
            parse_head("HTTP/1.1 204 No Content\r\nContent-Length: 0")
                .unwrap()
                .framing,
            Framing::Empty
        );
        assert!(parse_head("SSH-2.0-OpenSSH").is_err());
        assert!(parse_head("HTTP/1.1 200 OK\r\nContent-Length: x").is_err());
        assert!(parse_head("HTTP/1.1 200 OK\r\nno colon").is_err());
    }
}
