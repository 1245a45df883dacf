//! The record schema: what podwire tells the world.
//!
//! Every output path (`podwire read --format jsonl`, the agent's JSON API, the
//! live stream) serialises these types and nothing else, so the schema is
//! defined once, here, and documented in `docs/records.md`. Field names and
//! meanings are a public contract: add fields freely, never rename or change
//! the meaning of one without bumping [`SCHEMA_VERSION`].
//!
//! Parsers fill the protocol bodies ([`Tls`], [`Http`], [`Dns`]); the tracker
//! wraps them with endpoints and times into a [`Record`].

pub mod json;
pub mod proto;

pub use proto::{
    kafka::Kafka, mysql::Mysql, postgres::Postgres, redis::Redis, Outcome, ProtoError, RequestView,
};

use serde::{Serialize, Serializer};
use std::borrow::Cow;
use std::fmt;
use std::net::IpAddr;
use std::time::{Duration, UNIX_EPOCH};

/// Version of the record schema, written into every record as `"v"`.
pub const SCHEMA_VERSION: u32 = 1;

/// A capture timestamp: nanoseconds since the Unix epoch (UTC).
///
/// Serialises as RFC 3339 with nanosecond precision, e.g.
/// `2024-05-01T12:00:00.123456789Z`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Timestamp(pub u64);

impl Timestamp {
    /// Builds a timestamp from seconds and nanoseconds since the epoch.
    pub fn from_parts(secs: u64, nanos: u32) -> Self {
        Timestamp(
            secs.saturating_mul(1_000_000_000)
                .saturating_add(nanos as u64),
        )
    }

    /// Nanoseconds since the epoch.
    pub fn nanos(self) -> u64 {
        self.0
    }

    /// Milliseconds from `self` to `later`, as a float; 0 when `later` is earlier
    /// (captures can carry timestamps that go backwards).
    pub fn millis_until(self, later: Timestamp) -> f64 {
        later.0.saturating_sub(self.0) as f64 / 1e6
    }
}

impl fmt::Display for Timestamp {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // u64 nanoseconds end in 2554, well inside what humantime formats,
        // so even a corrupt capture timestamp prints.
        let t = UNIX_EPOCH + Duration::from_nanos(self.0);
        write!(f, "{}", humantime::format_rfc3339_nanos(t))
    }
}

impl Serialize for Timestamp {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

/// Reads what `Serialize` writes (any RFC 3339 UTC time), for answers one
/// agent reads from another.
impl<'de> serde::Deserialize<'de> for Timestamp {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = <std::borrow::Cow<'de, str>>::deserialize(d)?;
        let t = humantime::parse_rfc3339_weak(&s).map_err(serde::de::Error::custom)?;
        let ns = t
            .duration_since(UNIX_EPOCH)
            .map_err(serde::de::Error::custom)?
            .as_nanos();
        Ok(Timestamp(u64::try_from(ns).unwrap_or(u64::MAX)))
    }
}

/// Who an endpoint is, where podwire knows. Every field is optional; absent
/// fields are omitted from the JSON.
#[derive(Clone, Debug, Default, PartialEq, Eq, Hash, Serialize)]
pub struct Identity {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub namespace: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub pod: Option<String>,
    /// `kind/name`, e.g. `Deployment/api`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub workload: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub service: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub node: Option<String>,
    /// The owning process's command name (the kernel's `comm`), live only.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub process: Option<String>,
    /// The owning process's id, as the agent's kernel probe saw it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub pid: Option<u32>,
    /// A DNS name this address was seen under (DNS answer or TLS SNI).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub domain: Option<String>,
}

/// One side of a conversation: address, port and (optionally) identity.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Endpoint {
    /// IPv4 or IPv6 address; IPv6 in its canonical (RFC 5952) text form.
    pub ip: IpAddr,
    pub port: u16,
    #[serde(flatten, skip_serializing_if = "Option::is_none")]
    pub identity: Option<Box<Identity>>,
}

impl Endpoint {
    pub fn new(ip: IpAddr, port: u16) -> Self {
        Endpoint {
            ip,
            port,
            identity: None,
        }
    }
}

/// Transport protocol of a connection record.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Transport {
    Tcp,
    Udp,
}

/// How a connection ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Close {
    /// Both sides sent FIN (or one FIN and the capture ended after the other's ACK).
    Fin,
    /// A reset was seen.
    Rst,
    /// No packet for longer than the idle timeout.
    Timeout,
    /// Still open when the capture (or the query) ended.
    Open,
}

/// Packet, frame-byte and payload-byte counts for one direction.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize)]
pub struct DirectionStats {
    pub packets: u64,
    /// Whole frames as on the wire (original frame length), as Wireshark's
    /// conversation statistics count them.
    pub bytes: u64,
    /// TCP or UDP payload bytes.
    pub payload_bytes: u64,
}

/// A TCP connection or UDP flow.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Connection {
    pub proto: Transport,
    pub first_seen: Timestamp,
    pub last_seen: Timestamp,
    pub duration_ms: f64,
    pub close: Close,
    /// SYN to the client's ACK of SYN-ACK, when the handshake was captured.
    pub handshake_rtt_ms: Option<f64>,
    /// Data segments seen again (same sequence range), both directions.
    pub retransmits: u64,
    pub client_to_server: DirectionStats,
    pub server_to_client: DirectionStats,
    /// False when the handshake was not captured and the client/server roles
    /// were inferred (ports, first payload).
    pub handshake_seen: bool,
    /// The kernel's own view of the connection, from the agent's eBPF probe
    /// on one of its sockets; absent when reading files or without eBPF.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub kernel: Option<KernelCounters>,
}

/// Which end of a connection something describes.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Side {
    Client,
    Server,
}

/// A TCP socket's counters as the kernel keeps them (RFC 4898), read by the
/// agent's eBPF probe when the socket closes.
#[derive(Clone, Copy, Debug, PartialEq, Serialize)]
pub struct KernelCounters {
    /// Whose socket: when both ends are on this host, the client's.
    pub side: Side,
    /// Payload bytes this socket sent that the peer acknowledged (the SYN
    /// and FIN the kernel counts in sequence space are taken out).
    pub bytes_acked: u64,
    /// Payload bytes this socket received in order.
    pub bytes_received: u64,
    /// Smoothed round-trip time at close; null while open.
    pub srtt_ms: Option<f64>,
    /// Segments this socket retransmitted.
    pub retransmits: u64,
}

/// Parsed certificate of the server (leaf), when the handshake carried it in
/// the clear (TLS 1.2 and earlier), was decrypted (a key log), or the live
/// agent fetched it itself (`--tls-cert-fetch`, TLS 1.3).
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Certificate {
    pub subject: String,
    pub issuer: String,
    pub sans: Vec<String>,
    pub not_before: Option<Timestamp>,
    pub not_after: Option<Timestamp>,
    /// Not from this connection's handshake: what the server presented to
    /// the agent's own handshake with the same name and address. Present
    /// (true) only then.
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub fetched: bool,
}

/// A TLS handshake: what the client offered and what the server chose.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
pub struct Tls {
    pub sni: Option<String>,
    /// ALPN protocols the client offered, in order.
    pub alpn: Vec<String>,
    /// The ALPN protocol the server selected, when visible.
    pub alpn_selected: Option<String>,
    /// Negotiated version, e.g. `"TLS 1.3"`; null without a ServerHello.
    pub version: Option<String>,
    /// Negotiated cipher suite by IANA name; null without a ServerHello.
    pub cipher: Option<String>,
    /// Versions the client offered (supported_versions, else the legacy field).
    pub client_versions: Vec<String>,
    /// Cipher suites the client offered, by IANA name (GREASE left out).
    pub client_ciphers: Vec<String>,
    pub ja3: Option<String>,
    pub ja4: Option<String>,
    pub certificate: Option<Certificate>,
}

/// One HTTP/1.x request and, when seen, its response; or a response whose
/// request was never seen (the capture began mid-connection, the request was
/// lost, or the server spoke first), with `method`, `host` and `path` `None`.
#[derive(Clone, Debug, Default, PartialEq, Serialize)]
pub struct Http {
    /// As sent; `None` when only the response was seen.
    pub method: Option<String>,
    pub host: Option<String>,
    /// The request target exactly as sent; `None` when only the response
    /// was seen.
    pub path: Option<String>,
    /// `"HTTP/1.0"` or `"HTTP/1.1"` (any other version is reported as
    /// `"HTTP/1.1"`, whose rules were applied), `"HTTP/0.9"` for a request
    /// line without a version; the response's when only it was seen; `"2"`
    /// for HTTP/2. Borrowed: every value is a constant, and a record per
    /// exchange need not allocate it.
    pub version: Cow<'static, str>,
    pub status: Option<u16>,
    /// First packet of the request to first packet of the response; `None`
    /// without a response or without a request.
    pub latency_ms: Option<f64>,
    pub request_body_bytes: u64,
    pub response_body_bytes: Option<u64>,
    /// Request headers, only when asked for (`--http-headers`); values of
    /// credentials (`Authorization`, `Cookie`, ...) are redacted unless asked.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub request_headers: Option<Vec<(String, String)>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub response_headers: Option<Vec<(String, String)>>,
    /// HTTP/2 only: the stream the exchange ran on.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub stream_id: Option<u32>,
    /// gRPC only (HTTP/2 with `content-type: application/grpc*`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub grpc: Option<Box<Grpc>>,
}

/// What a gRPC call adds to its HTTP/2 exchange.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
pub struct Grpc {
    /// Fully qualified service, e.g. `helloworld.Greeter`, from the path.
    pub service: String,
    /// Method name, e.g. `SayHello`, from the path.
    pub method: String,
    /// `grpc-status` from the trailers (or a trailers-only response); null
    /// when the call's end was not seen.
    pub status: Option<u32>,
    /// `grpc-message`, percent-decoded, cut at the configured length.
    pub message: Option<String>,
    /// Length-prefixed messages the client sent.
    pub request_messages: u64,
    /// Length-prefixed messages the server sent.
    pub response_messages: u64,
}

/// One DNS resource record of an answer section.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct DnsAnswer {
    pub name: String,
    /// `"A"`, `"CNAME"`, ... or `"TYPE65"` (RFC 3597) when unnamed.
    #[serde(rename = "type")]
    pub rtype: String,
    pub ttl: u32,
    /// Presentation form: an address, a name, or `\# len hex` for unknown types.
    pub data: String,
}

/// DNS transport.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum DnsTransport {
    Udp,
    Tcp,
}

/// A DNS query and, when seen, its response.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Dns {
    pub transport: DnsTransport,
    pub id: u16,
    pub name: String,
    pub qtype: String,
    /// `"NOERROR"`, `"NXDOMAIN"`, ...; null without a response.
    pub rcode: Option<String>,
    pub answers: Vec<DnsAnswer>,
    /// Query to response, when both were seen.
    pub latency_ms: Option<f64>,
}

/// One output record. Serialises with a `"type"` tag, the schema version
/// `"v"`, the two endpoints and the body's fields at the top level.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Record {
    #[serde(rename = "type")]
    pub kind: &'static str,
    pub v: u32,
    /// When it happened: the first packet of a connection, the ClientHello,
    /// the request, the query (or the response, when only that was seen).
    pub ts: Timestamp,
    pub client: Endpoint,
    pub server: Endpoint,
    /// Parsed from plaintext decrypted out of TLS (`podwire read
    /// --tls-keylog`, pcapng decryption secrets); written only when true.
    #[serde(skip_serializing_if = "is_false")]
    pub inside_tls: bool,
    #[serde(flatten)]
    pub body: Body,
}

fn is_false(b: &bool) -> bool {
    !*b
}

/// The protocol-specific part of a [`Record`].
#[derive(Clone, Debug, PartialEq, Serialize)]
#[serde(untagged)]
pub enum Body {
    Connection(Connection),
    Tls(Tls),
    Http(Http),
    Dns(Dns),
    Postgres(Postgres),
    Mysql(Mysql),
    Redis(Redis),
    Kafka(Kafka),
}

impl Body {
    /// The `"type"` tag of a record with this body.
    pub fn kind(&self) -> &'static str {
        match self {
            Body::Connection(_) => "connection",
            Body::Tls(_) => "tls",
            Body::Http(_) => "http",
            Body::Dns(_) => "dns",
            Body::Postgres(_) => "postgres",
            Body::Mysql(_) => "mysql",
            Body::Redis(_) => "redis",
            Body::Kafka(_) => "kafka",
        }
    }

    /// The request fields every request record shares; `None` for
    /// connection and TLS records. HTTP counts a 5xx status or a gRPC status
    /// other than 0 (OK) as an error; DNS an rcode other than NOERROR and
    /// NXDOMAIN (a name that does not exist is an answer, not a failure).
    pub fn request(&self) -> Option<RequestView<'_>> {
        let view = |protocol, operation, latency_ms, outcome| {
            Some(RequestView {
                protocol,
                operation,
                latency_ms,
                outcome,
            })
        };
        match self {
            Body::Connection(_) | Body::Tls(_) => None,
            Body::Http(h) => {
                let grpc_failed = h
                    .grpc
                    .as_ref()
                    .and_then(|g| g.status)
                    .is_some_and(|s| s != 0);
                let outcome = h.status.map(|s| {
                    if s >= 500 || grpc_failed {
                        Outcome::Error
                    } else {
                        Outcome::Ok
                    }
                });
                view(
                    "http",
                    h.method.as_deref().unwrap_or(""),
                    h.latency_ms,
                    outcome,
                )
            }
            Body::Dns(d) => {
                let outcome = d.rcode.as_deref().map(|r| match r {
                    "NOERROR" | "NXDOMAIN" => Outcome::Ok,
                    _ => Outcome::Error,
                });
                view("dns", &d.qtype, d.latency_ms, outcome)
            }
            Body::Postgres(b) => view("postgres", &b.operation, b.latency_ms, b.outcome),
            Body::Mysql(b) => view("mysql", &b.operation, b.latency_ms, b.outcome),
            Body::Redis(b) => view("redis", &b.operation, b.latency_ms, b.outcome),
            Body::Kafka(b) => view("kafka", &b.operation, b.latency_ms, b.outcome),
        }
    }
}

impl Record {
    /// Wraps a body into a record of the current schema version.
    pub fn new(ts: Timestamp, client: Endpoint, server: Endpoint, body: Body) -> Self {
        Record {
            kind: body.kind(),
            v: SCHEMA_VERSION,
            ts,
            client,
            server,
            inside_tls: false,
            body,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn timestamp_is_rfc3339_utc_with_nanos() {
        let t = Timestamp::from_parts(1_700_000_000, 123_456_789);
        assert_eq!(t.to_string(), "2023-11-14T22:13:20.123456789Z");
    }

    #[test]
    fn largest_timestamp_prints() {
        assert_eq!(
            Timestamp(u64::MAX).to_string(),
            "2554-07-21T23:34:33.709551615Z"
        );
    }

    #[test]
    fn ipv6_endpoint_uses_canonical_form() {
        let ep = Endpoint::new("2001:db8:0:0:0:0:0:1".parse().unwrap(), 443);
        assert_eq!(
            serde_json::to_string(&ep).unwrap(),
            r#"{"ip":"2001:db8::1","port":443}"#
        );
    }

    #[test]
    fn record_puts_type_and_body_fields_at_top_level() {
        let rec = Record::new(
            Timestamp::from_parts(0, 0),
            Endpoint::new("10.0.0.1".parse().unwrap(), 40000),
            Endpoint::new("10.0.0.2".parse().unwrap(), 53),
            Body::Dns(Dns {
                transport: DnsTransport::Udp,
                id: 7,
                name: "example.com".into(),
                qtype: "A".into(),
                rcode: Some("NOERROR".into()),
                answers: vec![],
                latency_ms: Some(1.5),
            }),
        );
        let v: serde_json::Value = serde_json::to_value(&rec).unwrap();
        assert_eq!(v["type"], "dns");
        assert_eq!(v["v"], 1);
        assert_eq!(v["name"], "example.com");
        assert_eq!(v["latency_ms"], 1.5);
        assert_eq!(v["client"]["port"], 40000);
    }
}
