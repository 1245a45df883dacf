//! The lab's standard cluster and traffic, shared by the fixture generator
//! and the live lab tests.
//!
//! One place defines what "HTTP traffic" or "DNS traffic" means in the lab,
//! so the committed fixtures and the tests that regenerate the same traffic
//! live stay the same shape. Every traffic function returns an [`Expected`]:
//! what the clients did and saw (requests, status codes, body sizes, DNS ids,
//! TLS versions), which a test checks podwire's records against, independently
//! of tshark.

use crate::clients::{self, CurlOptions, Query, TlsVersion, Transfer};
use crate::compare::normalize_name;
use crate::netns::{Lab, Pod};
use crate::records::Output;
use crate::servers::{DnsZone, Dnsmasq, Nginx, TlsServer};
use crate::Result;
use serde::{Deserialize, Serialize};
use std::net::{IpAddr, SocketAddr};

/// nginx plain HTTP port (tshark dissects 8080 as HTTP).
pub const HTTP_PORT: u16 = 8080;
/// nginx plain HTTP on a port no dissector knows: content detection only.
pub const HTTP_ODD_PORT: u16 = 18080;
/// nginx HTTPS port (tshark dissects 2443 as TLS).
pub const HTTPS_PORT: u16 = 2443;
/// `openssl s_server` port.
pub const TLS_PORT: u16 = 443;
/// dnsmasq port.
pub const DNS_PORT: u16 = 53;

/// tshark "Decode As" entries for the lab's ports that tshark does not know.
pub const DECODE_AS: &[&str] = &["tcp.port==18080,http"];

/// Web, DNS and TLS server pods plus a client pod on one bridge.
///
/// Field order matters: servers are dropped (stopped) before the lab
/// deletes their namespaces.
#[derive(Debug)]
pub struct Cluster {
    pub nginx: Nginx,
    pub dnsmasq: Dnsmasq,
    pub tls_server: TlsServer,
    pub client: Pod,
    pub web: Pod,
    pub dns: Pod,
    pub tls: Pod,
    pub lab: Lab,
}

/// One HTTP exchange as curl saw it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct HttpExchange {
    pub server: SocketAddr,
    pub method: String,
    pub target: String,
    pub host: String,
    pub status: u16,
    pub request_body_bytes: u64,
    /// Body bytes curl received (chunk framing removed, still compressed).
    pub response_body_bytes: u64,
}

/// One TLS handshake as the client saw it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct TlsHandshake {
    pub server: SocketAddr,
    pub sni: String,
    pub alpn_offered: Vec<String>,
    pub alpn_selected: Option<String>,
    /// `TLS 1.2` or `TLS 1.3` (podwire's spelling).
    pub version: String,
}

/// One DNS transaction as dig saw it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct DnsTransaction {
    pub server: SocketAddr,
    pub tcp: bool,
    pub id: u16,
    pub name: String,
    pub qtype: String,
    pub rcode: String,
    pub answers: usize,
}

/// What the clients did, to be found in podwire's records.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Expected {
    pub http: Vec<HttpExchange>,
    pub tls: Vec<TlsHandshake>,
    pub dns: Vec<DnsTransaction>,
    /// TCP connections the clients opened.
    pub tcp_connections: u64,
}

impl Expected {
    /// Checks podwire's records against what the clients saw; returns one
    /// line per problem (empty: all found and agreeing).
    ///
    /// Every exchange must have a record with the same server, and the same
    /// fields the client knows; the number of TCP connection records must be
    /// the number of connections the clients opened (a capture of the lab
    /// holds nothing else), each with its handshake seen.
    pub fn check(&self, out: &Output) -> Vec<String> {
        let mut problems = Vec::new();

        let mut http: Vec<_> = out.http.iter().collect();
        for e in &self.http {
            let key = |h: &&crate::records::Http| {
                SocketAddr::new(h.server.ip, h.server.port) == e.server
                    && h.method.as_deref() == Some(e.method.as_str())
                    && h.path.as_deref() == Some(e.target.as_str())
                    && h.host.as_deref() == Some(e.host.as_str())
            };
            let full = |h: &&crate::records::Http| {
                key(h)
                    && h.status == Some(e.status)
                    && h.request_body_bytes == Some(e.request_body_bytes)
                    && h.response_body_bytes == Some(e.response_body_bytes)
            };
            let what = format!(
                "http {} {} (host {}) to {}",
                e.method, e.target, e.host, e.server
            );
            if let Some(i) = http.iter().position(full) {
                http.remove(i);
            } else if let Some(i) = http.iter().position(key) {
                let h = http.remove(i);
                problems.push(format!(
                    "{what}: curl saw status {} request body {} response body {}, podwire says status {:?} request body {:?} response body {:?}",
                    e.status, e.request_body_bytes, e.response_body_bytes, h.status, h.request_body_bytes, h.response_body_bytes
                ));
            } else {
                problems.push(format!("{what}: no http record"));
            }
        }

        let mut tls: Vec<_> = out.tls.iter().collect();
        for e in &self.tls {
            let key = |t: &&crate::records::Tls| {
                SocketAddr::new(t.server.ip, t.server.port) == e.server
                    && t.sni.as_deref() == Some(e.sni.as_str())
            };
            // TLS 1.3 sends the server's ALPN choice encrypted: the client
            // knows it, the wire does not show it.
            let visible_alpn = if e.version == "TLS 1.3" {
                None
            } else {
                e.alpn_selected.clone()
            };
            let full = |t: &&crate::records::Tls| {
                key(t)
                    && t.alpn == e.alpn_offered
                    && t.alpn_selected == visible_alpn
                    && t.version.as_deref() == Some(e.version.as_str())
            };
            let what = format!("tls to {} with SNI {}", e.server, e.sni);
            if let Some(i) = tls.iter().position(full) {
                tls.remove(i);
            } else if let Some(i) = tls.iter().position(key) {
                let t = tls.remove(i);
                problems.push(format!(
                    "{what}: client offered ALPN {:?}, got {:?} (visible: {visible_alpn:?}) and {}; podwire says ALPN {:?}, selected {:?}, version {:?}",
                    e.alpn_offered, e.alpn_selected, e.version, t.alpn, t.alpn_selected, t.version
                ));
            } else {
                problems.push(format!("{what}: no tls record"));
            }
        }

        let mut dns: Vec<_> = out.dns.iter().collect();
        for e in &self.dns {
            let key = |d: &&crate::records::Dns| {
                SocketAddr::new(d.server.ip, d.server.port) == e.server
                    && d.id == e.id
                    && normalize_name(&d.name) == normalize_name(&e.name)
                    && d.qtype == e.qtype
            };
            let transport = if e.tcp { "tcp" } else { "udp" };
            let full = |d: &&crate::records::Dns| {
                key(d)
                    && d.rcode.as_deref() == Some(e.rcode.as_str())
                    && d.transport == transport
                    && d.answers == e.answers
            };
            let what = format!(
                "dns id {} {} {} over {transport} to {}",
                e.id, e.name, e.qtype, e.server
            );
            if let Some(i) = dns.iter().position(full) {
                dns.remove(i);
            } else if let Some(i) = dns.iter().position(key) {
                let d = dns.remove(i);
                problems.push(format!(
                    "{what}: dig saw {} with {} answers; podwire says {:?} over {} with {} answers",
                    e.rcode, e.answers, d.rcode, d.transport, d.answers
                ));
            } else {
                problems.push(format!("{what}: no dns record"));
            }
        }

        let tcp: Vec<_> = out.tcp().collect();
        if tcp.len() as u64 != self.tcp_connections {
            problems.push(format!(
                "{} tcp connection records, but the clients opened {} connections",
                tcp.len(),
                self.tcp_connections
            ));
        }
        for c in tcp.iter().filter(|c| !c.handshake_seen) {
            problems.push(format!(
                "tcp {} -> {}: handshake_seen is false in a capture that holds every handshake",
                c.client, c.server
            ));
        }
        problems
    }

    /// Adds what another traffic run expects.
    pub fn extend(&mut self, other: Expected) {
        self.http.extend(other.http);
        self.tls.extend(other.tls);
        self.dns.extend(other.dns);
        self.tcp_connections += other.tcp_connections;
    }
}

/// The zone dnsmasq serves: names for the lab's pods, a TXT and an MX.
pub fn zone(web: &Pod, tls: &Pod) -> DnsZone {
    DnsZone {
        hosts: vec![
            (
                "web.lab.test".into(),
                web.ipv4.to_string(),
                web.ipv6.to_string(),
            ),
            (
                "tls.lab.test".into(),
                tls.ipv4.to_string(),
                tls.ipv6.to_string(),
            ),
        ],
        txt: vec![("txt.lab.test".into(), "podwire lab".into())],
        mx: vec![("lab.test".into(), "mail.lab.test".into(), 10)],
    }
}

impl Cluster {
    /// Builds the lab and starts the servers: nginx on `web`, dnsmasq on
    /// `dns`, s_server on `tls`.
    pub fn start() -> Result<Cluster> {
        let mut lab = Lab::new()?;
        let client = lab.add_pod("client")?;
        let web = lab.add_pod("web")?;
        let dns = lab.add_pod("dns")?;
        let tls = lab.add_pod("tls")?;
        let nginx = Nginx::start(&web, &[HTTP_PORT, HTTP_ODD_PORT], HTTPS_PORT)?;
        let dnsmasq = Dnsmasq::start(&dns, DNS_PORT, &zone(&web, &tls))?;
        let tls_server = TlsServer::start(&tls, TLS_PORT)?;
        Ok(Cluster {
            nginx,
            dnsmasq,
            tls_server,
            client,
            web,
            dns,
            tls,
            lab,
        })
    }

    /// Keep-alive HTTP/1.1 from the client to nginx at `server_ip:port`: a
    /// few GETs of known sizes, a HEAD, a 404, a POST with
    /// `Expect: 100-continue`, and a gzip response nginx sends chunked. One
    /// curl process, so one connection unless the server closes it.
    pub fn http(&self, server_ip: IpAddr, port: u16) -> Result<Expected> {
        let host = format!("web.lab.test:{port}");
        let base = format!("http://{host}");
        let transfers = vec![
            Transfer::get(format!("{base}/small.txt")),
            Transfer::get(format!("{base}/1k.bin")),
            Transfer::get(format!("{base}/16k.bin")),
            Transfer::head(format!("{base}/1k.bin")),
            Transfer::get(format!("{base}/missing")),
            Transfer::post(format!("{base}/post"), 2000).expect_continue(),
            Transfer::get(format!("{base}/chunked/lines.txt")).compressed(),
        ];
        let opts = CurlOptions {
            resolve: vec![format!("{host}:{server_ip}")],
            ..CurlOptions::default()
        };
        let results = clients::curl(&self.client, &transfers, &opts)?;
        let mut exp = Expected::default();
        for (t, r) in transfers.iter().zip(&results) {
            exp.tcp_connections += r.num_connects;
            exp.http.push(HttpExchange {
                server: SocketAddr::new(server_ip, port),
                method: t.method_name().to_string(),
                target: t.target(),
                host: host.clone(),
                status: r.code,
                request_body_bytes: r.size_upload,
                response_body_bytes: r.size_download,
            });
        }
        Ok(exp)
    }

    /// HTTPS to nginx with curl (SNI `web.lab.test`, ALPN h2 and http/1.1
    /// offered, http/1.1 selected): two requests on one connection.
    pub fn https(&self, server_ip: IpAddr) -> Result<Expected> {
        let host = format!("web.lab.test:{HTTPS_PORT}");
        let transfers = vec![
            Transfer::get(format!("https://{host}/small.txt")),
            Transfer::get(format!("https://{host}/1k.bin")),
        ];
        let opts = CurlOptions {
            resolve: vec![format!("{host}:{server_ip}")],
            insecure: true,
            http1_1: false,
        };
        let results = clients::curl(&self.client, &transfers, &opts)?;
        let connects: u64 = results.iter().map(|r| r.num_connects).sum();
        let mut exp = Expected {
            tcp_connections: connects,
            ..Expected::default()
        };
        for _ in 0..connects {
            exp.tls.push(TlsHandshake {
                server: SocketAddr::new(server_ip, HTTPS_PORT),
                sni: "web.lab.test".into(),
                alpn_offered: vec!["h2".into(), "http/1.1".into()],
                alpn_selected: Some("http/1.1".into()),
                version: "TLS 1.3".into(),
            });
        }
        Ok(exp)
    }

    /// Two s_client handshakes with the TLS pod at `server_ip`: TLS 1.2 with
    /// SNI `tls12.lab.test` offering h2 and http/1.1, TLS 1.3 with SNI
    /// `tls13.lab.test` offering http/1.1.
    pub fn tls(&self, server_ip: IpAddr) -> Result<Expected> {
        let server = SocketAddr::new(server_ip, TLS_PORT);
        let mut exp = Expected::default();
        for (sni, version, alpn) in [
            ("tls12.lab.test", TlsVersion::Tls12, &["h2", "http/1.1"][..]),
            ("tls13.lab.test", TlsVersion::Tls13, &["http/1.1"][..]),
        ] {
            let h = clients::s_client(&self.client, server, sni, version, alpn)?;
            exp.tcp_connections += 1;
            exp.tls.push(TlsHandshake {
                server,
                sni: sni.into(),
                alpn_offered: alpn.iter().map(|a| a.to_string()).collect(),
                alpn_selected: h.alpn,
                version: h.protocol.replace("TLSv", "TLS "),
            });
        }
        Ok(exp)
    }

    /// DNS queries to dnsmasq at `server_ip`: A, AAAA, TXT, MX and an
    /// NXDOMAIN over UDP, then A and an NXDOMAIN AAAA over TCP (one TCP
    /// connection per dig).
    pub fn dns(&self, server_ip: IpAddr) -> Result<Expected> {
        let queries = [
            Query::udp("web.lab.test", "A"),
            Query::udp("web.lab.test", "AAAA"),
            Query::udp("txt.lab.test", "TXT"),
            Query::udp("lab.test", "MX"),
            Query::udp("missing.lab.test", "A"),
            Query::tcp("tls.lab.test", "A"),
            Query::tcp("missing.lab.test", "AAAA"),
        ];
        let mut exp = Expected::default();
        for q in &queries {
            let r = clients::dig(&self.client, server_ip, DNS_PORT, q)?;
            if q.tcp {
                exp.tcp_connections += 1;
            }
            exp.dns.push(DnsTransaction {
                server: SocketAddr::new(server_ip, DNS_PORT),
                tcp: q.tcp,
                id: r.id,
                name: q.name.clone(),
                qtype: q.qtype.clone(),
                rcode: r.status,
                answers: r.answers.len(),
            });
        }
        Ok(exp)
    }
}
