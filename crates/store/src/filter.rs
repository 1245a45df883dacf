//! Which records a query wants.
//!
//! One [`Filter`] serves every table, so the agent's API has one query
//! language: keys that do not apply to a record type (a connection `state` on
//! DNS records) match everything. It is matched against records directly, not
//! an index: the tables are small enough (a few tens of thousands of records)
//! for a scan, and the same filter applies to records the store does not hold
//! (open connections the agent snapshots from its trackers).
//!
//! [`Filter::parse_query`](crate::Filter::parse_query) builds one from a URL
//! query string.

use podwire_record::{Body, Close, DnsTransport, Endpoint, Record, Timestamp, Transport};
use std::net::IpAddr;

/// Conditions a record must all meet; `None` (or [`State::Any`]) means "any".
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Filter {
    /// Either endpoint's address. IPv4-mapped IPv6 addresses equal their IPv4
    /// form here and in `client_ip` and `server_ip`.
    pub ip: Option<IpAddr>,
    pub client_ip: Option<IpAddr>,
    pub server_ip: Option<IpAddr>,
    /// Either endpoint's port.
    pub port: Option<u16>,
    pub server_port: Option<u16>,
    /// Connections by `proto`, DNS by `transport`; TLS and HTTP are TCP.
    pub proto: Option<Transport>,
    /// Connections only: open (`close` is `open`) or closed.
    pub state: State,
    /// Substring of an endpoint's `process`.
    pub process: Option<String>,
    /// A DNS name or a parent of it (`example.com` matches `api.example.com`,
    /// not `badexample.com`), ASCII case ignored: an endpoint's `domain`, the
    /// TLS SNI, the HTTP Host (without its port) or the DNS question name.
    pub domain: Option<String>,
    /// Exact `namespace` of an endpoint.
    pub namespace: Option<String>,
    /// Exact `pod` of an endpoint.
    ///
    /// `process`, `namespace`, `pod`, `workload`, `service` and `node` must
    /// hold for the same endpoint, so
    /// `namespace=prod&pod=api-1` is pod `api-1` of namespace `prod`, not a
    /// conversation between some pod in `prod` and some `api-1` elsewhere.
    pub pod: Option<String>,
    /// An endpoint's `workload`: `Deployment/api` exactly, or `api` for any
    /// kind.
    pub workload: Option<String>,
    /// Exact `service` of an endpoint.
    pub service: Option<String>,
    /// Exact `node` of an endpoint.
    pub node: Option<String>,
    /// Records at or after this time. Connections match while active: when
    /// `[first_seen, last_seen]` overlaps `[since, until]`; other records by `ts`.
    pub since: Option<Timestamp>,
    /// Records at or before this time (see `since`).
    pub until: Option<Timestamp>,
    /// At most this many records per answer, newest first.
    pub limit: usize,
    /// Only records listed after this one (the next page of an answer).
    pub after: Option<Cursor>,
    /// Only records node `accounted_by` counts in cluster sums (see
    /// [`accounted_on`]); set by the agent, never parsed from a query.
    pub accounted_by: Option<String>,
}

/// Whether `node` is where `rec` is counted in cluster-wide sums.
///
/// A conversation between pods on two nodes is captured by both nodes'
/// agents; summing their answers would count it twice. It is counted where
/// its client runs; when the client is on no known node (outside the
/// cluster, unnamed), where its server runs; when neither is on a known
/// node, by whoever saw it.
pub fn accounted_on(rec: &Record, node: &str) -> bool {
    fn node_of(ep: &Endpoint) -> Option<&str> {
        ep.identity.as_deref().and_then(|i| i.node.as_deref())
    }
    match (node_of(&rec.client), node_of(&rec.server)) {
        (Some(c), _) => c == node,
        (None, Some(s)) => s == node,
        (None, None) => true,
    }
}

/// A place in the newest-first order of an answer: the `ts` of a record and
/// a hash of what it is, so it stays valid while records are added and
/// dropped (and when an open connection ends and moves into the store).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Cursor {
    pub ts: Timestamp,
    pub key: u64,
}

impl Cursor {
    /// Where `rec` stands in the order.
    pub fn of(rec: &Record) -> Cursor {
        Cursor {
            ts: rec.ts,
            key: record_key(rec),
        }
    }

    /// Parses the `<ts>-<key>` text [`Cursor`]'s `Display` writes.
    pub fn parse(s: &str) -> Option<Cursor> {
        let (ts, key) = s.split_once('-')?;
        Some(Cursor {
            ts: Timestamp(ts.parse().ok()?),
            key: u64::from_str_radix(key, 16).ok()?,
        })
    }
}

impl std::fmt::Display for Cursor {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}-{:016x}", self.ts.0, self.key)
    }
}

/// A hash of a record's identity (type, endpoints and what makes two
/// records of one connection differ), stable for the process's lifetime.
fn record_key(r: &Record) -> u64 {
    use std::hash::{Hash, Hasher};
    // FNV-1a via `Hasher`: deterministic, unlike `RandomState`, so cursors
    // survive across requests.
    struct Fnv(u64);
    impl Hasher for Fnv {
        fn finish(&self) -> u64 {
            self.0
        }
        fn write(&mut self, bytes: &[u8]) {
            for b in bytes {
                self.0 = (self.0 ^ u64::from(*b)).wrapping_mul(0x100_0000_01b3);
            }
        }
    }
    let mut h = Fnv(0xcbf2_9ce4_8422_2325);
    r.kind.hash(&mut h);
    r.client.ip.hash(&mut h);
    r.client.port.hash(&mut h);
    r.server.ip.hash(&mut h);
    r.server.port.hash(&mut h);
    match &r.body {
        Body::Http(x) => (&x.method, &x.path, x.status).hash(&mut h),
        Body::Dns(x) => (x.id, &x.name, &x.qtype).hash(&mut h),
        Body::Tls(x) => (&x.sni, &x.version).hash(&mut h),
        Body::Connection(_) => {}
        Body::Postgres(_) | Body::Mysql(_) | Body::Redis(_) | Body::Kafka(_) => {
            if let Some(req) = r.body.request() {
                (req.operation, req.latency_ms.map(f64::to_bits)).hash(&mut h);
            }
        }
    }
    h.finish()
}

/// Whether a connection is still open.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum State {
    #[default]
    Any,
    /// `close` is `open`: still running when reported.
    Open,
    /// Ended by FIN, RST or idle timeout.
    Closed,
}

impl Default for Filter {
    /// Everything, up to [`Filter::DEFAULT_LIMIT`] records.
    fn default() -> Self {
        Filter {
            ip: None,
            client_ip: None,
            server_ip: None,
            port: None,
            server_port: None,
            proto: None,
            state: State::Any,
            process: None,
            domain: None,
            namespace: None,
            pod: None,
            workload: None,
            service: None,
            node: None,
            since: None,
            until: None,
            limit: Filter::DEFAULT_LIMIT,
            after: None,
            accounted_by: None,
        }
    }
}

impl Filter {
    /// `limit` when the query does not say.
    pub const DEFAULT_LIMIT: usize = 1000;
    /// The largest `limit` a query may ask for.
    pub const MAX_LIMIT: usize = 100_000;

    /// Whether `rec` meets every condition (`limit` and `after` aside).
    pub fn matches(&self, rec: &Record) -> bool {
        self.accounted_by
            .as_deref()
            .is_none_or(|n| accounted_on(rec, n))
            && self.addresses(rec)
            && self.transport(rec)
            && self.identity(rec)
            && self.domain(rec)
            && self.time(rec)
    }

    fn addresses(&self, r: &Record) -> bool {
        let (c, s) = (r.client.ip.to_canonical(), r.server.ip.to_canonical());
        let is = |want: Option<IpAddr>, got: IpAddr| want.is_none_or(|w| w.to_canonical() == got);
        (is(self.ip, c) || is(self.ip, s))
            && is(self.client_ip, c)
            && is(self.server_ip, s)
            && self
                .port
                .is_none_or(|p| r.client.port == p || r.server.port == p)
            && self.server_port.is_none_or(|p| r.server.port == p)
    }

    fn transport(&self, r: &Record) -> bool {
        let (proto, open) = match &r.body {
            Body::Connection(c) => (c.proto, Some(c.close == Close::Open)),
            Body::Dns(d) => match d.transport {
                DnsTransport::Udp => (Transport::Udp, None),
                DnsTransport::Tcp => (Transport::Tcp, None),
            },
            Body::Tls(_)
            | Body::Http(_)
            | Body::Postgres(_)
            | Body::Mysql(_)
            | Body::Redis(_)
            | Body::Kafka(_) => (Transport::Tcp, None),
        };
        let state = match (self.state, open) {
            (State::Any, _) | (_, None) => true,
            (State::Open, Some(open)) => open,
            (State::Closed, Some(open)) => !open,
        };
        state && self.proto.is_none_or(|p| p == proto)
    }

    fn identity(&self, r: &Record) -> bool {
        if self.process.is_none()
            && self.namespace.is_none()
            && self.pod.is_none()
            && self.workload.is_none()
            && self.service.is_none()
            && self.node.is_none()
        {
            return true;
        }
        self.endpoint_identity(&r.client) || self.endpoint_identity(&r.server)
    }

    fn endpoint_identity(&self, ep: &Endpoint) -> bool {
        let Some(id) = ep.identity.as_deref() else {
            return false;
        };
        let exact = |want: &Option<String>, got: &Option<String>| {
            want.as_ref().is_none_or(|w| got.as_ref() == Some(w))
        };
        exact(&self.namespace, &id.namespace)
            && exact(&self.pod, &id.pod)
            && exact(&self.service, &id.service)
            && exact(&self.node, &id.node)
            && self.workload.as_ref().is_none_or(|w| {
                id.workload.as_deref().is_some_and(|got| {
                    got == w || got.rsplit_once('/').is_some_and(|(_, name)| name == w)
                })
            })
            && self.process.as_ref().is_none_or(|w| {
                id.process
                    .as_deref()
                    .is_some_and(|p| p.contains(w.as_str()))
            })
    }

    fn domain(&self, r: &Record) -> bool {
        let Some(want) = self.domain.as_deref() else {
            return true;
        };
        let named = match &r.body {
            Body::Tls(t) => t.sni.as_deref(),
            Body::Http(h) => h.host.as_deref().map(host_name),
            Body::Dns(d) => Some(d.name.as_str()),
            Body::Connection(_)
            | Body::Postgres(_)
            | Body::Mysql(_)
            | Body::Redis(_)
            | Body::Kafka(_) => None,
        };
        [
            identity_domain(&r.client),
            identity_domain(&r.server),
            named,
        ]
        .into_iter()
        .flatten()
        .any(|name| in_domain(name, want))
    }

    fn time(&self, r: &Record) -> bool {
        let (start, end) = match &r.body {
            Body::Connection(c) => (r.ts.min(c.first_seen), r.ts.max(c.last_seen)),
            _ => (r.ts, r.ts),
        };
        self.since.is_none_or(|since| end >= since) && self.until.is_none_or(|until| start <= until)
    }
}

/// The `domain` of an endpoint's identity.
fn identity_domain(ep: &Endpoint) -> Option<&str> {
    ep.identity.as_ref().and_then(|id| id.domain.as_deref())
}

/// Whether `name` is `domain` or a name under it, ASCII case and trailing
/// dots ignored (leading dots of `domain` too).
pub(crate) fn in_domain(name: &str, domain: &str) -> bool {
    let name = name.trim_end_matches('.').as_bytes();
    let domain = domain.trim_matches('.').as_bytes();
    let Some(split) = name.len().checked_sub(domain.len()) else {
        return false;
    };
    name[split..].eq_ignore_ascii_case(domain)
        && (split == 0 || domain.is_empty() || name[split - 1] == b'.')
}

/// The name in an HTTP Host header: without its port, and an IPv6 literal
/// without its brackets.
fn host_name(host: &str) -> &str {
    if let Some(rest) = host.strip_prefix('[') {
        return rest.split(']').next().unwrap_or(rest);
    }
    match host.split_once(':') {
        Some((name, port)) if !port.contains(':') => name,
        _ => host,
    }
}

#[cfg(test)]
mod tests;
