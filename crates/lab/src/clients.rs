//! Real clients for the lab: curl, dig and `openssl s_client`.
//!
//! The lab tests check podwire against two witnesses: tshark (what was on
//! the wire) and the clients themselves (what was meant to happen: how many
//! requests, which status codes, how many bytes, which DNS ids). So every
//! client here returns what it observed, parsed from its own output.

use crate::netns::Pod;
use crate::{cmd, Error, Result};
use std::net::{IpAddr, SocketAddr};
use std::time::Duration;

/// Upper bound for one client invocation.
pub const CLIENT_TIMEOUT: Duration = Duration::from_secs(30);

/// The HTTP method of a curl transfer.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Method {
    Get,
    Head,
    /// POST with a body of this many bytes.
    Post(usize),
}

/// One request of a curl invocation.
#[derive(Clone, Debug)]
pub struct Transfer {
    pub method: Method,
    pub url: String,
    /// Send `Expect: 100-continue` (else curl is told not to).
    pub expect_continue: bool,
    /// Ask for gzip (`--compressed`); nginx then answers `/chunked/` chunked.
    pub compressed: bool,
}

impl Transfer {
    pub fn get(url: impl Into<String>) -> Transfer {
        Transfer {
            method: Method::Get,
            url: url.into(),
            expect_continue: false,
            compressed: false,
        }
    }

    pub fn head(url: impl Into<String>) -> Transfer {
        Transfer {
            method: Method::Head,
            ..Transfer::get(url)
        }
    }

    pub fn post(url: impl Into<String>, body_bytes: usize) -> Transfer {
        Transfer {
            method: Method::Post(body_bytes),
            ..Transfer::get(url)
        }
    }

    pub fn expect_continue(mut self) -> Transfer {
        self.expect_continue = true;
        self
    }

    pub fn compressed(mut self) -> Transfer {
        self.compressed = true;
        self
    }

    /// The method as it appears on the request line.
    pub fn method_name(&self) -> &'static str {
        match self.method {
            Method::Get => "GET",
            Method::Head => "HEAD",
            Method::Post(_) => "POST",
        }
    }

    /// The request target as curl sends it (path and query of the URL).
    pub fn target(&self) -> String {
        let after_scheme = self
            .url
            .split_once("://")
            .map_or(self.url.as_str(), |(_, r)| r);
        match after_scheme.find('/') {
            Some(i) => after_scheme[i..].to_string(),
            None => "/".to_string(),
        }
    }
}

/// What curl reported for one transfer (`-w`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TransferResult {
    pub code: u16,
    /// Body bytes received (after content decoding is NOT applied: curl
    /// counts what it read, compressed).
    pub size_download: u64,
    pub size_upload: u64,
    /// New connections this transfer opened (0 when it reused one).
    pub num_connects: u64,
    pub remote: Option<SocketAddr>,
    /// curl's own end of the connection.
    pub local: Option<SocketAddr>,
}

/// Options shared by every transfer of one curl invocation.
#[derive(Clone, Debug, Default)]
pub struct CurlOptions {
    /// `host:port:addr` entries for `--resolve` (https with a real SNI).
    pub resolve: Vec<String>,
    /// Accept the lab's self-signed certificate.
    pub insecure: bool,
    /// Force HTTP/1.1 (on TLS, curl would otherwise offer h2 in ALPN).
    pub http1_1: bool,
}

/// Runs one curl process doing `transfers` in order (`--next` between them,
/// so curl reuses its connection where it can: keep-alive), inside `pod`.
pub fn curl(pod: &Pod, transfers: &[Transfer], opts: &CurlOptions) -> Result<Vec<TransferResult>> {
    let dir = tempfile::tempdir().map_err(|e| Error::io("create temp dir", "/tmp", e))?;
    let mut c = pod.command("curl");
    c.args(["-sS", "--max-time", "10"]);
    for (i, t) in transfers.iter().enumerate() {
        if i > 0 {
            c.arg("--next");
        }
        for r in &opts.resolve {
            c.args(["--resolve", r]);
        }
        if opts.insecure {
            c.arg("-k");
        }
        if opts.http1_1 {
            c.arg("--http1.1");
        }
        c.args(["-o", "/dev/null", "-w", "%{http_code} %{size_download} %{size_upload} %{num_connects} %{remote_ip} %{remote_port} %{local_ip} %{local_port}\\n"]);
        match t.method {
            Method::Get => {}
            Method::Head => {
                c.arg("-I");
            }
            Method::Post(n) => {
                let body = dir.path().join(format!("body{i}"));
                let data: Vec<u8> = (0..n).map(|k| b'a' + (k % 26) as u8).collect();
                std::fs::write(&body, data).map_err(|e| Error::io("write", &body, e))?;
                c.arg("--data-binary").arg(format!("@{}", body.display()));
                c.args(["-H", "Content-Type: application/octet-stream"]);
            }
        }
        c.args([
            "-H",
            if t.expect_continue {
                "Expect: 100-continue"
            } else {
                "Expect:"
            },
        ]);
        if t.compressed {
            c.arg("--compressed");
        }
        c.arg(&t.url);
    }
    let out = cmd::run_ok(&mut c, CLIENT_TIMEOUT)?;
    let text = String::from_utf8_lossy(&out.stdout);
    let results: Vec<TransferResult> = text.lines().filter_map(parse_write_out).collect();
    if results.len() != transfers.len() {
        return Err(Error::parse(
            "curl",
            format!(
                "{} transfers but {} result lines: {text}",
                transfers.len(),
                results.len()
            ),
        ));
    }
    Ok(results)
}

fn parse_write_out(line: &str) -> Option<TransferResult> {
    let f: Vec<&str> = line.split_whitespace().collect();
    let addr = |i: usize| match (f.get(i), f.get(i + 1)) {
        (Some(ip), Some(port)) => Some(SocketAddr::new(ip.parse().ok()?, port.parse().ok()?)),
        _ => None,
    };
    let remote = addr(4);
    let local = addr(6);
    Some(TransferResult {
        code: f.first()?.parse().ok()?,
        size_download: f.get(1)?.parse().ok()?,
        size_upload: f.get(2)?.parse().ok()?,
        num_connects: f.get(3)?.parse().ok()?,
        remote,
        local,
    })
}

/// A DNS question for dig.
#[derive(Clone, Debug)]
pub struct Query {
    pub name: String,
    pub qtype: String,
    pub tcp: bool,
}

impl Query {
    pub fn udp(name: &str, qtype: &str) -> Query {
        Query {
            name: name.to_string(),
            qtype: qtype.to_string(),
            tcp: false,
        }
    }

    pub fn tcp(name: &str, qtype: &str) -> Query {
        Query {
            tcp: true,
            ..Query::udp(name, qtype)
        }
    }
}

/// What dig saw: the message id, the response status and the answer lines.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DigResult {
    pub id: u16,
    /// `NOERROR`, `NXDOMAIN`, ...
    pub status: String,
    pub answers: Vec<String>,
}

/// Runs one dig query (exactly one attempt, so one query on the wire) from
/// `pod` to `server:port`.
pub fn dig(pod: &Pod, server: IpAddr, port: u16, q: &Query) -> Result<DigResult> {
    let mut c = pod.command("dig");
    c.arg(format!("@{server}"))
        .args(["-p", &port.to_string(), "+tries=1", "+time=3"]);
    if q.tcp {
        c.arg("+tcp");
    }
    c.args([
        q.name.as_str(),
        q.qtype.as_str(),
        "+noall",
        "+comments",
        "+answer",
    ]);
    let out = cmd::run_ok(&mut c, CLIENT_TIMEOUT)?;
    parse_dig(&String::from_utf8_lossy(&out.stdout))
}

fn parse_dig(text: &str) -> Result<DigResult> {
    let header = text
        .lines()
        .find(|l| l.contains("->>HEADER<<-"))
        .ok_or_else(|| Error::parse("dig", format!("no header line in {text:?}")))?;
    let field = |key: &str| {
        header
            .split(key)
            .nth(1)
            .map(|r| r.split(',').next().unwrap_or("").trim().to_string())
    };
    let status = field("status:").ok_or_else(|| Error::parse("dig", header.to_string()))?;
    let id = field("id:")
        .and_then(|s| s.parse().ok())
        .ok_or_else(|| Error::parse("dig", header.to_string()))?;
    let answers = text
        .lines()
        .filter(|l| !l.starts_with(';') && !l.trim().is_empty())
        .map(str::to_string)
        .collect();
    Ok(DigResult {
        id,
        status,
        answers,
    })
}

/// TLS protocol version to force in s_client.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TlsVersion {
    Tls12,
    Tls13,
}

/// The outcome of an s_client handshake.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Handshake {
    /// `TLSv1.2` or `TLSv1.3`.
    pub protocol: String,
    pub cipher: String,
    pub alpn: Option<String>,
}

/// Runs `openssl s_client` from `pod` to `server` with SNI `sni` and the
/// given ALPN offer; it completes the handshake and closes (stdin is empty).
pub fn s_client(
    pod: &Pod,
    server: SocketAddr,
    sni: &str,
    version: TlsVersion,
    alpn: &[&str],
) -> Result<Handshake> {
    let mut c = pod.command("openssl");
    c.args([
        "s_client",
        "-connect",
        &server.to_string(),
        "-servername",
        sni,
    ]);
    c.arg(match version {
        TlsVersion::Tls12 => "-tls1_2",
        TlsVersion::Tls13 => "-tls1_3",
    });
    if !alpn.is_empty() {
        c.args(["-alpn", &alpn.join(",")]);
    }
    let out = cmd::run_ok(&mut c, CLIENT_TIMEOUT)?;
    parse_s_client(&String::from_utf8_lossy(&out.stdout))
}

fn parse_s_client(text: &str) -> Result<Handshake> {
    // "New, TLSv1.3, Cipher is TLS_AES_256_GCM_SHA384"
    let line = text
        .lines()
        .find(|l| l.starts_with("New, "))
        .ok_or_else(|| {
            Error::parse(
                "openssl s_client",
                format!("no handshake summary in {text:?}"),
            )
        })?;
    let mut parts = line.split(", ");
    parts.next();
    let protocol = parts.next().unwrap_or("").to_string();
    let cipher = parts
        .next()
        .and_then(|c| c.strip_prefix("Cipher is "))
        .unwrap_or("")
        .to_string();
    let alpn = text
        .lines()
        .find_map(|l| l.strip_prefix("ALPN protocol: "))
        .map(|s| s.trim().to_string());
    Ok(Handshake {
        protocol,
        cipher,
        alpn,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dig_output_is_parsed() {
        let text = ";; Got answer:\n;; ->>HEADER<<- opcode: QUERY, status: NXDOMAIN, id: 40829\n;; flags: qr aa rd ra; QUERY: 1\n\nweb.lab.test.\t\t0\tIN\tA\t10.88.0.11\n";
        let r = parse_dig(text).unwrap();
        assert_eq!(
            r,
            DigResult {
                id: 40829,
                status: "NXDOMAIN".into(),
                answers: vec!["web.lab.test.\t\t0\tIN\tA\t10.88.0.11".into()]
            }
        );
    }

    #[test]
    fn s_client_summary_is_parsed() {
        let text = "---\nNew, TLSv1.3, Cipher is TLS_AES_256_GCM_SHA384\nServer public key is 256 bit\nALPN protocol: http/1.1\n";
        let h = parse_s_client(text).unwrap();
        assert_eq!(h.protocol, "TLSv1.3");
        assert_eq!(h.cipher, "TLS_AES_256_GCM_SHA384");
        assert_eq!(h.alpn.as_deref(), Some("http/1.1"));
    }

    #[test]
    fn curl_write_out_and_targets() {
        let r = parse_write_out("200 1000 0 1 fd00:88::11 8080").unwrap();
        assert_eq!((r.code, r.size_download, r.num_connects), (200, 1000, 1));
        assert_eq!(r.remote, Some("[fd00:88::11]:8080".parse().unwrap()));
        assert_eq!(
            Transfer::get("http://[fd00::1]:8080/a/b?c=d").target(),
            "/a/b?c=d"
        );
        assert_eq!(Transfer::get("http://10.0.0.1:8080").target(), "/");
    }
}
