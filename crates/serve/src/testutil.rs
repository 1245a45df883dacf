//! Small record builders for the unit tests.
//!
//! Times are milliseconds after a fixed base (2023-11-14T22:13:20Z), so a
//! test can compute Unix milliseconds itself: `BASE_MS + ms`. Endpoints are
//! written `ip:port` (`[v6]:port` for IPv6).

use podwire_record::{
    Body, Certificate, Close, Connection, DirectionStats, Dns, DnsTransport, Endpoint, Http,
    Identity, KernelCounters, Record, Side, Timestamp, Tls, Transport,
};
use std::net::SocketAddr;

/// 2023-11-14T22:13:20Z, in Unix seconds.
pub const BASE_SECS: u64 = 1_700_000_000;
/// The same, in Unix milliseconds.
pub const BASE_MS: u64 = BASE_SECS * 1000;

/// `ms` milliseconds after the base time.
pub fn at(ms: u64) -> Timestamp {
    Timestamp((BASE_MS + ms) * 1_000_000)
}

/// An endpoint from `ip:port`.
pub fn ep(addr: &str) -> Endpoint {
    let a: SocketAddr = addr.parse().expect("test address ip:port");
    Endpoint::new(a.ip(), a.port())
}

/// A connection record under construction; see [`conn`].
#[derive(Clone, Debug)]
pub struct ConnBuilder {
    client: Endpoint,
    server: Endpoint,
    c: Connection,
}

/// A closed (FIN) TCP connection from `client` to `server`, starting at the
/// base time, 1 s long, no bytes.
pub fn conn(client: &str, server: &str) -> ConnBuilder {
    ConnBuilder {
        client: ep(client),
        server: ep(server),
        c: Connection {
            proto: Transport::Tcp,
            first_seen: at(0),
            last_seen: at(1000),
            duration_ms: 1000.0,
            close: Close::Fin,
            handshake_rtt_ms: None,
            retransmits: 0,
            client_to_server: DirectionStats::default(),
            server_to_client: DirectionStats::default(),
            handshake_seen: true,
            kernel: None,
        },
    }
}

impl ConnBuilder {
    /// Lifetime; the last activity moves with it.
    pub fn duration_ms(mut self, ms: f64) -> Self {
        self.c.duration_ms = ms;
        self.c.last_seen = Timestamp(self.c.first_seen.0 + (ms * 1e6) as u64);
        self
    }

    /// Starts `ms` after the base time (the duration is kept).
    pub fn start(mut self, ms: u64) -> Self {
        self.c.first_seen = at(ms);
        let len = self.c.duration_ms;
        self.duration_ms(len)
    }

    /// Frame bytes client to server and server to client.
    pub fn bytes(mut self, c2s: u64, s2c: u64) -> Self {
        self.c.client_to_server.bytes = c2s;
        self.c.server_to_client.bytes = s2c;
        self
    }

    /// Payload bytes client to server and server to client.
    pub fn payload(mut self, c2s: u64, s2c: u64) -> Self {
        self.c.client_to_server.payload_bytes = c2s;
        self.c.server_to_client.payload_bytes = s2c;
        self
    }

    pub fn close(mut self, close: Close) -> Self {
        self.c.close = close;
        self
    }

    pub fn udp(mut self) -> Self {
        self.c.proto = Transport::Udp;
        self
    }

    pub fn rtt_ms(mut self, ms: f64) -> Self {
        self.c.handshake_rtt_ms = Some(ms);
        self
    }

    /// Retransmits seen in the packets.
    pub fn retransmits(mut self, n: u64) -> Self {
        self.c.retransmits = n;
        self
    }

    /// Retransmits the kernel counted on the client's socket.
    pub fn kernel_retransmits(mut self, n: u64) -> Self {
        self.c.kernel = Some(KernelCounters {
            side: Side::Client,
            bytes_acked: 0,
            bytes_received: 0,
            srtt_ms: None,
            retransmits: n,
        });
        self
    }

    pub fn build(self) -> Record {
        Record::new(
            self.c.first_seen,
            self.client,
            self.server,
            Body::Connection(self.c),
        )
    }
}

/// A TLS handshake at the base time.
pub fn tls(
    client: &str,
    server: &str,
    sni: Option<&str>,
    version: Option<&str>,
    cipher: Option<&str>,
) -> Record {
    Record::new(
        at(0),
        ep(client),
        ep(server),
        Body::Tls(Tls {
            sni: sni.map(str::to_string),
            version: version.map(str::to_string),
            cipher: cipher.map(str::to_string),
            ..Tls::default()
        }),
    )
}

/// A leaf certificate valid between the two times (Unix seconds).
pub fn certificate(subject: &str, not_before_secs: u64, not_after_secs: u64) -> Certificate {
    Certificate {
        subject: subject.to_string(),
        issuer: "Test CA".to_string(),
        sans: vec![subject.to_string(), format!("www.{subject}")],
        not_before: Some(Timestamp::from_parts(not_before_secs, 0)),
        not_after: Some(Timestamp::from_parts(not_after_secs, 0)),
        fetched: false,
    }
}

/// An HTTP/1.1 exchange at the base time; the path is `/`.
pub fn http(
    client: &str,
    server: &str,
    method: Option<&str>,
    status: Option<u16>,
    latency_ms: Option<f64>,
) -> Record {
    Record::new(
        at(0),
        ep(client),
        ep(server),
        Body::Http(Http {
            method: method.map(str::to_string),
            host: Some("example.test".to_string()),
            path: method.map(|_| "/".to_string()),
            version: "HTTP/1.1".into(),
            status,
            latency_ms,
            ..Http::default()
        }),
    )
}

/// A DNS query for `example.test` at the base time.
pub fn dns(
    client: &str,
    server: &str,
    qtype: &str,
    rcode: Option<&str>,
    latency_ms: Option<f64>,
) -> Record {
    Record::new(
        at(0),
        ep(client),
        ep(server),
        Body::Dns(Dns {
            transport: DnsTransport::Udp,
            id: 1,
            name: "example.test".to_string(),
            qtype: qtype.to_string(),
            rcode: rcode.map(str::to_string),
            answers: Vec::new(),
            latency_ms,
        }),
    )
}

/// An identity under construction: `id().ns("prod").pod("api-1")`.
#[derive(Clone, Debug, Default)]
pub struct Id(Identity);

pub fn id() -> Id {
    Id::default()
}

impl Id {
    pub fn ns(mut self, v: &str) -> Self {
        self.0.namespace = Some(v.to_string());
        self
    }
    pub fn pod(mut self, v: &str) -> Self {
        self.0.pod = Some(v.to_string());
        self
    }
    /// `kind/name`, e.g. `Deployment/api`.
    pub fn workload(mut self, v: &str) -> Self {
        self.0.workload = Some(v.to_string());
        self
    }
    pub fn service(mut self, v: &str) -> Self {
        self.0.service = Some(v.to_string());
        self
    }
    pub fn process(mut self, v: &str) -> Self {
        self.0.process = Some(v.to_string());
        self
    }
    pub fn domain(mut self, v: &str) -> Self {
        self.0.domain = Some(v.to_string());
        self
    }
}

impl From<Id> for Identity {
    fn from(i: Id) -> Identity {
        i.0
    }
}

/// Chained changes to a built record.
pub trait RecordExt: Sized {
    /// Names the client.
    fn client_id(self, identity: impl Into<Identity>) -> Self;
    /// Names the server.
    fn server_id(self, identity: impl Into<Identity>) -> Self;
    /// Moves the record to `ms` after the base time (a connection keeps its
    /// duration).
    fn at(self, ms: u64) -> Self;
    /// Adds a server certificate to a TLS record.
    fn with_cert(self, cert: Certificate) -> Self;
}

impl RecordExt for Record {
    fn client_id(mut self, identity: impl Into<Identity>) -> Self {
        self.client.identity = Some(Box::new(identity.into()));
        self
    }

    fn server_id(mut self, identity: impl Into<Identity>) -> Self {
        self.server.identity = Some(Box::new(identity.into()));
        self
    }

    fn at(mut self, ms: u64) -> Self {
        self.ts = at(ms);
        if let Body::Connection(c) = &mut self.body {
            let len = c.last_seen.0 - c.first_seen.0;
            c.first_seen = self.ts;
            c.last_seen = Timestamp(self.ts.0 + len);
        }
        self
    }

    fn with_cert(mut self, cert: Certificate) -> Self {
        match &mut self.body {
            Body::Tls(t) => t.certificate = Some(cert),
            _ => panic!("with_cert on a record that is not TLS"),
        }
        self
    }
}

/// A tiny deterministic PRNG (SplitMix64) for property-style tests.
#[derive(Clone, Debug)]
pub struct Rng(u64);

impl Rng {
    pub fn new(seed: u64) -> Rng {
        Rng(seed)
    }

    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    /// Uniform in `0..n` (n > 0).
    pub fn below(&mut self, n: u64) -> u64 {
        self.next_u64() % n
    }

    /// True with probability `num/den`.
    pub fn chance(&mut self, num: u64, den: u64) -> bool {
        self.below(den) < num
    }

    pub fn pick<'a, T>(&mut self, items: &'a [T]) -> &'a T {
        &items[self.below(items.len() as u64) as usize]
    }

    /// Fisher-Yates.
    pub fn shuffle<T>(&mut self, items: &mut [T]) {
        for i in (1..items.len()).rev() {
            let j = self.below(i as u64 + 1) as usize;
            items.swap(i, j);
        }
    }
}
