//! Request records as OTLP spans, following the OpenTelemetry semantic
//! conventions as Beyla/OBI apply them to traffic they did not instrument.
//!
//! **Which side a span speaks for.** A record describes one exchange seen
//! from the wire; a span describes it from one participant. A side is
//! *local* when this agent observed its process (the kernel probe named a
//! process or pid) or its pod runs on this agent's node. The server side,
//! when local, gets a SERVER span with the server's identity as resource;
//! the client side, when local, a CLIENT span (PRODUCER/CONSUMER for Kafka
//! Produce/Fetch) with the client's. Both local: two spans, as two
//! instrumented services would send. Neither (a capture file, a mirror
//! port): one SERVER span, the server being what the capture watched. So a
//! conversation between pods on two nodes is reported once by each end's
//! agent and never twice for one side.
//!
//! No trace context crosses the wire where podwire sees it, so trace and
//! span ids are random (a thread's fast non-crypto generator, seeded once).

use crate::proto::{
    int_value, kv, kv_int, str_value, AnyValue, Attribute, KeyValue, Resource, Span, SpanKind,
    Status, StatusCode,
};
use podwire_record::{Body, Endpoint, Identity, Outcome, Record};

/// Which participant a span (or log record, or metric point) speaks for.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Side {
    Server,
    Client,
}

/// The sides of `rec` that get a span (see the module comment).
pub fn sides(rec: &Record, local_node: Option<&str>) -> ([Option<Side>; 2], usize) {
    let server = is_local(rec.server.identity.as_deref(), local_node);
    let client = is_local(rec.client.identity.as_deref(), local_node);
    match (server, client) {
        (true, true) => ([Some(Side::Server), Some(Side::Client)], 2),
        (false, true) => ([Some(Side::Client), None], 1),
        _ => ([Some(Side::Server), None], 1),
    }
}

fn is_local(id: Option<&Identity>, local_node: Option<&str>) -> bool {
    id.is_some_and(|i| {
        i.process.is_some()
            || i.pid.is_some()
            || local_node.is_some_and(|n| i.node.as_deref() == Some(n))
    })
}

/// The resource a side's telemetry is reported under: its Kubernetes names
/// and `service.name` from its workload (else pod, Service, process,
/// domain; `unknown_service` when nothing names it).
pub fn resource(ep: &Endpoint) -> Resource {
    let mut attrs = Vec::with_capacity(6);
    let id = ep.identity.as_deref();
    let service = id.and_then(|i| {
        i.workload
            .as_deref()
            .map(|w| w.rsplit('/').next().unwrap_or(w))
            .or(i.pod.as_deref())
            .or(i.service.as_deref())
            .or(i.process.as_deref())
            .or(i.domain.as_deref())
    });
    attrs.push(kv("service.name", service.unwrap_or("unknown_service")));
    if let Some(i) = id {
        if let Some(ns) = &i.namespace {
            attrs.push(kv("k8s.namespace.name", ns.as_str()));
        }
        if let Some(p) = &i.pod {
            attrs.push(kv("k8s.pod.name", p.as_str()));
        }
        if let Some(w) = &i.workload {
            if let Some((kind, name)) = w.split_once('/') {
                let key = match kind {
                    "Deployment" => Some("k8s.deployment.name"),
                    "StatefulSet" => Some("k8s.statefulset.name"),
                    "DaemonSet" => Some("k8s.daemonset.name"),
                    "ReplicaSet" => Some("k8s.replicaset.name"),
                    "Job" => Some("k8s.job.name"),
                    "CronJob" => Some("k8s.cronjob.name"),
                    _ => None,
                };
                if let Some(key) = key {
                    attrs.push(kv(key, name));
                }
            }
        }
        if let Some(n) = &i.node {
            attrs.push(kv("k8s.node.name", n.as_str()));
        }
        if let Some(p) = &i.process {
            attrs.push(kv("process.executable.name", p.as_str()));
        }
        if let Some(pid) = i.pid {
            attrs.push(kv_int("process.pid", i64::from(pid)));
        }
    }
    Resource { attributes: attrs }
}

/// One latency observation for the RED histograms: which histogram, its
/// bounded attributes, the duration in seconds.
#[derive(Clone, Debug, PartialEq)]
pub struct Observation {
    pub metric: &'static str,
    pub attrs: Vec<KeyValue>,
    pub seconds: f64,
}

/// A request record's span from one side, and its histogram observation
/// (when the latency is known). `None` for records that are not requests
/// (connections, TLS handshakes).
pub fn span(rec: &Record, side: Side) -> Option<(Span, Option<Observation>)> {
    let req = rec.body.request()?;
    let start = rec.ts.0;
    let end = match req.latency_ms {
        Some(ms) if ms.is_finite() && ms > 0.0 => start.saturating_add((ms * 1e6) as u64),
        _ => start,
    };
    let mut b = Builder {
        attrs: Vec::with_capacity(16),
        metric_attrs: Vec::with_capacity(5),
    };
    let server_address = rec
        .server
        .identity
        .as_deref()
        .and_then(|i| i.domain.clone())
        .unwrap_or_else(|| rec.server.ip.to_string());
    b.str("server.address", server_address);
    b.int("server.port", i64::from(rec.server.port));
    b.str("client.address", rec.client.ip.to_string());
    b.int("client.port", i64::from(rec.client.port));
    let peer = match side {
        Side::Server => &rec.client,
        Side::Client => &rec.server,
    };
    b.str("network.peer.address", peer.ip.to_string());
    b.int("network.peer.port", i64::from(peer.port));
    let mut kind = match side {
        Side::Server => SpanKind::Server,
        Side::Client => SpanKind::Client,
    };
    let mut error: Option<String> = None;
    let (name, metric) = match &rec.body {
        Body::Http(h) => {
            b.str("network.transport", "tcp");
            let version = match h.version.as_ref() {
                "2" => "2",
                v => v.strip_prefix("HTTP/").unwrap_or(v),
            };
            b.str("network.protocol.version", version);
            b.metric("network.protocol.version", version);
            if let Some(g) = &h.grpc {
                b.both("rpc.system", "grpc");
                b.both("rpc.service", &g.service);
                b.both("rpc.method", &g.method);
                if let Some(s) = g.status {
                    b.int("rpc.grpc.status_code", i64::from(s));
                    b.metric_attrs
                        .push(kv_int("rpc.grpc.status_code", i64::from(s)));
                    // The semantic conventions: a client fails on any code
                    // but OK; a server only on codes that mean it failed.
                    let failed = match side {
                        Side::Client => s != 0,
                        Side::Server => matches!(s, 2 | 4 | 12 | 13 | 14 | 15),
                    };
                    if failed {
                        error = Some(s.to_string());
                    }
                }
                let metric = match side {
                    Side::Server => "rpc.server.call.duration",
                    Side::Client => "rpc.client.call.duration",
                };
                (format!("{}/{}", g.service, g.method), metric)
            } else {
                b.str("url.scheme", "http");
                let method = h.method.as_deref().map(normal_method);
                if let Some(m) = method {
                    b.both("http.request.method", m);
                    if Some(m) != h.method.as_deref() {
                        if let Some(orig) = &h.method {
                            b.str("http.request.method_original", orig.as_str());
                        }
                    }
                }
                if let Some(p) = &h.path {
                    let path = p.split(['?', '#']).next().unwrap_or(p);
                    b.str("url.path", path);
                }
                if let Some(s) = h.status {
                    b.int("http.response.status_code", i64::from(s));
                    b.metric_attrs
                        .push(kv_int("http.response.status_code", i64::from(s)));
                    let failed = match side {
                        Side::Server => s >= 500,
                        Side::Client => s >= 400,
                    };
                    if failed {
                        error = Some(s.to_string());
                    }
                }
                let metric = match side {
                    Side::Server => "http.server.request.duration",
                    Side::Client => "http.client.request.duration",
                };
                (method.unwrap_or("HTTP").to_string(), metric)
            }
        }
        Body::Dns(d) => {
            b.str(
                "network.transport",
                match d.transport {
                    podwire_record::DnsTransport::Udp => "udp",
                    podwire_record::DnsTransport::Tcp => "tcp",
                },
            );
            b.str("dns.question.name", d.name.as_str());
            b.str("podwire.dns.question.type", d.qtype.as_str());
            if let Some(r) = &d.rcode {
                b.str("podwire.dns.response_code", r.as_str());
            }
            if req.outcome == Some(Outcome::Error) {
                error = d.rcode.clone();
            }
            (format!("DNS {}", d.qtype), "dns.lookup.duration")
        }
        Body::Postgres(p) => {
            let name = db(
                &mut b,
                "postgresql",
                &p.operation,
                p.database.as_deref(),
                p.statement.as_deref(),
            );
            error = db_error(&mut b, req.outcome, p.error.as_ref());
            (name, "db.client.operation.duration")
        }
        Body::Mysql(m) => {
            let name = db(
                &mut b,
                "mysql",
                &m.operation,
                m.database.as_deref(),
                m.statement.as_deref(),
            );
            error = db_error(&mut b, req.outcome, m.error.as_ref());
            (name, "db.client.operation.duration")
        }
        Body::Redis(r) => {
            let name = db(&mut b, "redis", &r.operation, None, r.command.as_deref());
            error = db_error(&mut b, req.outcome, r.error.as_ref());
            (name, "db.client.operation.duration")
        }
        Body::Kafka(k) => {
            b.str("network.transport", "tcp");
            b.both("messaging.system", "kafka");
            b.both("messaging.operation.name", &k.operation);
            let topic = k.topics.iter().find_map(|t| t.name.as_deref());
            if let Some(t) = topic {
                b.both("messaging.destination.name", t);
            }
            if side == Side::Client {
                kind = match k.operation.as_str() {
                    "Produce" => SpanKind::Producer,
                    "Fetch" => SpanKind::Consumer,
                    _ => SpanKind::Client,
                };
            }
            match k.operation.as_str() {
                "Produce" => b.str("messaging.operation.type", "send"),
                "Fetch" => b.str("messaging.operation.type", "receive"),
                _ => {}
            }
            if let Some(n) = k.records {
                b.int(
                    "messaging.batch.message_count",
                    i64::try_from(n).unwrap_or(i64::MAX),
                );
            }
            if req.outcome == Some(Outcome::Error) {
                error = Some(
                    k.error
                        .as_ref()
                        .and_then(|e| e.code.clone())
                        .unwrap_or_else(|| "error".into()),
                );
            }
            let name = match topic {
                Some(t) => format!("{} {t}", k.operation),
                None => k.operation.clone(),
            };
            (name, "messaging.client.operation.duration")
        }
        Body::Connection(_) | Body::Tls(_) => return None,
    };
    let status = match &error {
        Some(e) => {
            b.both("error.type", e);
            Some(Status {
                message: String::new(),
                code: StatusCode::Error as i32,
            })
        }
        None => None,
    };
    let observation = req.latency_ms.filter(|ms| ms.is_finite()).map(|ms| {
        let mut attrs = b.metric_attrs;
        attrs.sort();
        Observation {
            metric,
            attrs,
            seconds: (ms / 1e3).max(0.0),
        }
    });
    let span = Span {
        trace_id: random_id::<16>(),
        span_id: random_id::<8>(),
        name,
        kind: kind as i32,
        start_time_unix_nano: start,
        end_time_unix_nano: end,
        attributes: b.attrs,
        status,
        flags: 0,
    };
    Some((span, observation))
}

/// A database span's attributes and name (`{operation} {namespace}` or
/// the operation alone; there is no table name in the records).
fn db(
    b: &mut Builder,
    system: &str,
    operation: &str,
    namespace: Option<&str>,
    text: Option<&str>,
) -> String {
    b.str("network.transport", "tcp");
    b.both("db.system.name", system);
    b.both("db.operation.name", operation);
    if let Some(ns) = namespace {
        b.both("db.namespace", ns);
    }
    // Statements are masked by the parsers unless the operator asked.
    if let Some(t) = text {
        b.str("db.query.text", t);
    }
    match namespace {
        Some(ns) => format!("{operation} {ns}"),
        None => operation.to_string(),
    }
}

fn db_error(
    b: &mut Builder,
    outcome: Option<Outcome>,
    err: Option<&podwire_record::ProtoError>,
) -> Option<String> {
    let code = err.and_then(|e| e.code.as_deref());
    if let Some(c) = code {
        b.both("db.response.status_code", c);
    }
    (outcome == Some(Outcome::Error)).then(|| code.unwrap_or("error").to_string())
}

/// The HTTP methods the semantic conventions name; any other is `_OTHER`
/// (a bounded attribute).
fn normal_method(m: &str) -> &str {
    match m {
        "GET" | "HEAD" | "POST" | "PUT" | "DELETE" | "CONNECT" | "OPTIONS" | "TRACE" | "PATCH"
        | "QUERY" => m,
        _ => "_OTHER",
    }
}

struct Builder {
    attrs: Vec<Attribute>,
    metric_attrs: Vec<KeyValue>,
}

impl Builder {
    fn str(&mut self, key: &str, value: impl Into<String>) {
        self.put(key, str_value(value));
    }
    fn int(&mut self, key: &str, value: i64) {
        self.put(key, int_value(value));
    }
    fn put(&mut self, key: &str, value: AnyValue) {
        self.attrs.push(Attribute {
            key: key.to_string(),
            value: Some(value),
        });
    }
    /// On the span and on its histogram point.
    fn both(&mut self, key: &str, value: &str) {
        self.str(key, value);
        self.metric(key, value);
    }
    fn metric(&mut self, key: &str, value: &str) {
        self.metric_attrs.push(kv(key, value));
    }
}

/// Random bytes, never all zero (an invalid id).
fn random_id<const N: usize>() -> Vec<u8> {
    let mut id = vec![0u8; N];
    loop {
        fastrand::fill(&mut id);
        if id.iter().any(|&b| b != 0) {
            return id;
        }
    }
}
