//! Prometheus metrics: what the traffic did, per workload pair, and how the
//! agent itself is doing.
//!
//! Names follow one rule, `podwire_<what>_<unit>[_total]`, with units true
//! to the name (seconds, bytes). Label values are bounded by design: no
//! client ports, no pod UIDs, no paths, no raw protocol tokens (an HTTP
//! method or DNS type off the wire is mapped onto a fixed list, the rest is
//! `OTHER`). Endpoint labels name workloads, not pods, where the names are
//! known; where they are not (an unnamed external address) the value is the
//! address, and the number of distinct `(src, dst)` pairs is capped
//! ([`MetricsConfig::max_pairs`]): pairs past the cap are counted under
//! `src="other", dst="other"` and in `podwire_metrics_pairs_overflow_total`.
//!
//! Connections are observed when they end, requests when they complete: a
//! counter never goes back, and an open connection's bytes arrive in one step
//! at its end, as k8spacket's do.
//!
//! k8spacket's metric names are available behind [`MetricsConfig::k8spacket`]
//! for dashboards built on them, with `k8s_packet_duration_seconds` in
//! seconds (k8spacket observes milliseconds there). They carry addresses as
//! labels, as k8spacket's do; the same pair cap bounds them.

//!
//! The agent's own counters (packets, drops, the API's refusals...) are
//! not defined here: they come in [`Health`], from the `podwire-telemetry`
//! catalogue. The files: `labels` (bounded label values), `requests` (the
//! families of the other request protocols), `health` (what the agent
//! reports beside the catalogue), `text` (encoding).

use podwire_record::{Body, Close, Record, Transport};
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::registry::{Registry, Unit};
use rustc_hash::{FxHashMap, FxHashSet};
use std::sync::{Arc, Mutex, MutexGuard};

mod health;
mod labels;
mod requests;
#[cfg(test)]
mod tests;
mod text;

pub use health::{Health, KubeHealth, OtlpHealth, OtlpSignalHealth};
pub use labels::endpoint_label;
use labels::*;
pub use podwire_telemetry::catalogue::MetricsCounters;
pub use text::to_prometheus_text;

/// How the metrics are shaped; see the module docs.
#[derive(Clone, Debug)]
pub struct MetricsConfig {
    /// Distinct `(src, dst)` label pairs kept; later ones go to `other`.
    pub max_pairs: usize,
    /// Distinct certificates whose expiry is exported.
    pub max_certificates: usize,
    /// Also export k8spacket's metric names.
    pub k8spacket: bool,
    /// k8spacket's `persistent` label: the connection lived this long.
    pub persistent_ms: f64,
    /// Distinct gRPC `(service, method)` label pairs kept; later ones go to
    /// `other`.
    pub max_grpc_methods: usize,
}

impl Default for MetricsConfig {
    fn default() -> Self {
        MetricsConfig {
            max_pairs: 2000,
            max_certificates: 1000,
            k8spacket: false,
            persistent_ms: 10_000.0,
            max_grpc_methods: 500,
        }
    }
}

/// See the module docs.
pub struct Metrics {
    cfg: MetricsConfig,
    registry: Registry,
    connections: Family<ClosedLabels, Counter>,
    bytes: Family<BytesLabels, Counter>,
    duration: Hist<ConnLabels>,
    rtt: Hist<Pair>,
    retransmits: Family<Pair, Counter>,
    tls: Family<TlsLabels, Counter>,
    http: Family<HttpLabels, Counter>,
    http_latency: Hist<HttpLatencyLabels>,
    dns: Family<DnsLabels, Counter>,
    dns_latency: Hist<Pair>,
    requests: requests::RequestFamilies,
    state: Mutex<State>,
    /// The caps' own counts (in `/metrics` and `/api/v1/status`).
    pub counters: MetricsCounters,
}

/// A certificate's (dst namespace, dst, domain).
type CertKey = (Arc<str>, Arc<str>, Arc<str>);

/// What prometheus-client's families cannot hold: the pair cap, gauges
/// that are replaced (certificate expiry) and k8spacket's summaries.
#[derive(Default)]
struct State {
    pairs: FxHashSet<Pair>,
    /// (dst namespace, dst, domain) -> not_after, Unix seconds.
    certs: FxHashMap<CertKey, f64>,
    caps: requests::LabelCaps,
    k8s: K8sCompat,
}

#[derive(Default)]
struct K8sCompat {
    /// Label values in k8spacket's order -> [sent, received, duration] as
    /// (sum, count).
    conns: FxHashMap<[Arc<str>; 8], [(f64, u64); 3]>,
    tls: FxHashMap<[Arc<str>; 9], u64>,
    certs: FxHashMap<[Arc<str>; 3], f64>,
}

impl Metrics {
    pub fn new(cfg: MetricsConfig) -> Metrics {
        let mut registry = Registry::default();
        let connections = Family::<ClosedLabels, Counter>::default();
        registry.register(
            "podwire_connections",
            "Connections (TCP) and flows (UDP) that ended, by how they ended",
            connections.clone(),
        );
        let bytes = Family::<BytesLabels, Counter>::default();
        registry.register_with_unit(
            "podwire_connection",
            "Frame bytes of ended connections, by direction",
            Unit::Bytes,
            bytes.clone(),
        );
        let duration: Hist<ConnLabels> = Family::new_with_constructor(duration_buckets);
        registry.register_with_unit(
            "podwire_connection_duration",
            "How long ended connections lived",
            Unit::Seconds,
            duration.clone(),
        );
        let rtt: Hist<Pair> = Family::new_with_constructor(latency_buckets);
        registry.register_with_unit(
            "podwire_tcp_handshake_rtt",
            "TCP handshake round-trip time (SYN to the client's ACK)",
            Unit::Seconds,
            rtt.clone(),
        );
        let retransmits = Family::<Pair, Counter>::default();
        registry.register(
            "podwire_tcp_retransmits",
            "TCP segments retransmitted on ended connections",
            retransmits.clone(),
        );
        let tls = Family::<TlsLabels, Counter>::default();
        registry.register(
            "podwire_tls_handshakes",
            "TLS handshakes by negotiated version and cipher suite",
            tls.clone(),
        );
        let http = Family::<HttpLabels, Counter>::default();
        registry.register(
            "podwire_http_requests",
            "HTTP/1.x and HTTP/2 requests by method and response status class (none: no response)",
            http.clone(),
        );
        let http_latency: Hist<HttpLatencyLabels> = Family::new_with_constructor(latency_buckets);
        registry.register_with_unit(
            "podwire_http_request_duration",
            "HTTP request to response latency",
            Unit::Seconds,
            http_latency.clone(),
        );
        let dns = Family::<DnsLabels, Counter>::default();
        registry.register(
            "podwire_dns_requests",
            "DNS queries by type and response code (none: no response)",
            dns.clone(),
        );
        let dns_latency: Hist<Pair> = Family::new_with_constructor(latency_buckets);
        registry.register_with_unit(
            "podwire_dns_request_duration",
            "DNS query to response latency",
            Unit::Seconds,
            dns_latency.clone(),
        );
        let requests = requests::RequestFamilies::register(&mut registry);
        Metrics {
            cfg,
            registry,
            requests,
            connections,
            bytes,
            duration,
            rtt,
            retransmits,
            tls,
            http,
            http_latency,
            dns,
            dns_latency,
            state: Mutex::new(State::default()),
            counters: MetricsCounters::default(),
        }
    }

    fn state(&self) -> MutexGuard<'_, State> {
        podwire_sync::lock(&self.state)
    }

    /// The label pair of a record, within the cap; false when the cap
    /// turned it into `other`.
    fn pair(&self, st: &mut State, rec: &Record) -> (Pair, bool) {
        let (src_namespace, src) = endpoint_label(&rec.client);
        let (dst_namespace, dst) = endpoint_label(&rec.server);
        let p = Pair {
            src_namespace: Name(src_namespace),
            src: Name(src),
            dst_namespace: Name(dst_namespace),
            dst: Name(dst),
        };
        if st.pairs.contains(&p) {
            return (p, true);
        }
        if st.pairs.len() < self.cfg.max_pairs {
            st.pairs.insert(p.clone());
            let c = &self.counters;
            c.set(&c.pairs, st.pairs.len() as u64);
            return (p, true);
        }
        self.counters.add(&self.counters.pairs_overflow, 1);
        let other = Name(Arc::from("other"));
        let empty = Name(Arc::from(""));
        let p = Pair {
            src_namespace: empty.clone(),
            src: other.clone(),
            dst_namespace: empty,
            dst: other,
        };
        (p, false)
    }

    /// Counts one finished record.
    pub fn observe(&self, rec: &Record) {
        // Open connections are counted when they end; until then they
        // take no pair (and no overflow).
        if matches!(&rec.body, Body::Connection(c) if c.close == Close::Open) {
            return;
        }
        let mut st = self.state();
        let (pair, admitted) = self.pair(&mut st, rec);
        match &rec.body {
            Body::Connection(c) => {
                let proto = match c.proto {
                    Transport::Tcp => "tcp",
                    Transport::Udp => "udp",
                };
                let close = match c.close {
                    Close::Fin => "fin",
                    Close::Rst => "rst",
                    _ => "timeout",
                };
                self.connections
                    .get_or_create(&ClosedLabels {
                        pair: pair.clone(),
                        proto,
                        close,
                    })
                    .inc();
                for (direction, n) in [
                    ("client_to_server", c.client_to_server.bytes),
                    ("server_to_client", c.server_to_client.bytes),
                ] {
                    self.bytes
                        .get_or_create(&BytesLabels {
                            pair: pair.clone(),
                            proto,
                            direction,
                        })
                        .inc_by(n);
                }
                self.duration
                    .get_or_create(&ConnLabels {
                        pair: pair.clone(),
                        proto,
                    })
                    .observe(c.duration_ms / 1e3);
                if let Some(rtt) = c.handshake_rtt_ms {
                    self.rtt.get_or_create(&pair).observe(rtt / 1e3);
                }
                let retrans = c
                    .retransmits
                    .max(c.kernel.as_ref().map_or(0, |k| k.retransmits));
                if c.proto == Transport::Tcp {
                    self.retransmits.get_or_create(&pair).inc_by(retrans);
                }
                if self.cfg.k8spacket && c.proto == Transport::Tcp {
                    let persistent = c.duration_ms >= self.cfg.persistent_ms;
                    let key = k8s_conn_labels(rec, persistent, admitted);
                    let e = st.k8s.conns.entry(key).or_default();
                    for (slot, v) in [
                        c.client_to_server.payload_bytes as f64,
                        c.server_to_client.payload_bytes as f64,
                        c.duration_ms / 1e3,
                    ]
                    .into_iter()
                    .enumerate()
                    {
                        e[slot].0 += v;
                        e[slot].1 += 1;
                    }
                }
            }
            Body::Tls(t) => {
                let version = tls_version(t.version.as_deref());
                let cipher = cipher(t.cipher.as_deref());
                self.tls
                    .get_or_create(&TlsLabels {
                        pair: pair.clone(),
                        version: version.clone(),
                        cipher: cipher.clone(),
                    })
                    .inc();
                let domain: Arc<str> = Arc::from(t.sni.as_deref().unwrap_or(""));
                if let Some(not_after) = t.certificate.as_ref().and_then(|c| c.not_after) {
                    let secs = not_after.nanos() as f64 / 1e9;
                    let key = (
                        pair.dst_namespace.0.clone(),
                        pair.dst.0.clone(),
                        domain.clone(),
                    );
                    if st.certs.len() < self.cfg.max_certificates || st.certs.contains_key(&key) {
                        st.certs.insert(key, secs);
                    } else {
                        self.counters.add(&self.counters.certificates_overflow, 1);
                    }
                    if self.cfg.k8spacket {
                        let key = [
                            ip(&rec.server),
                            Arc::from(rec.server.port.to_string()),
                            domain.clone(),
                        ];
                        if st.k8s.certs.len() < self.cfg.max_certificates
                            || st.k8s.certs.contains_key(&key)
                        {
                            st.k8s.certs.insert(key, secs);
                        }
                    }
                }
                if self.cfg.k8spacket {
                    let [ns, src, src_name, _, dst, dst_name, dst_port, _] =
                        k8s_conn_labels(rec, false, admitted);
                    let key = [
                        ns, src, src_name, dst, dst_name, dst_port, domain, version, cipher,
                    ];
                    *st.k8s.tls.entry(key).or_default() += 1;
                }
            }
            Body::Http(h) => {
                let method = http_method(h.method.as_deref());
                let status_class = match h.status {
                    None => "none",
                    Some(100..=199) => "1xx",
                    Some(200..=299) => "2xx",
                    Some(300..=399) => "3xx",
                    Some(400..=499) => "4xx",
                    Some(500..=599) => "5xx",
                    Some(_) => "other",
                };
                self.http
                    .get_or_create(&HttpLabels {
                        pair: pair.clone(),
                        method,
                        status_class,
                    })
                    .inc();
                if let (Some(ms), Some(_)) = (h.latency_ms, h.status) {
                    self.http_latency
                        .get_or_create(&HttpLatencyLabels {
                            pair: pair.clone(),
                            method,
                        })
                        .observe(ms / 1e3);
                }
                if let Some(g) = &h.grpc {
                    let latency = h.latency_ms.filter(|_| h.status.is_some());
                    let max = self.cfg.max_grpc_methods;
                    self.requests
                        .observe_grpc(&mut st.caps, &self.counters, max, pair, g, latency);
                }
            }
            Body::Dns(d) => {
                let rcode = match d.rcode.as_deref() {
                    None => "none",
                    Some(r) => known(r, RCODES),
                };
                self.dns
                    .get_or_create(&DnsLabels {
                        pair: pair.clone(),
                        qtype: known(&d.qtype, QTYPES),
                        rcode,
                    })
                    .inc();
                if let (Some(ms), Some(_)) = (d.latency_ms, &d.rcode) {
                    self.dns_latency.get_or_create(&pair).observe(ms / 1e3);
                }
            }
            body @ (Body::Postgres(_) | Body::Mysql(_) | Body::Redis(_) | Body::Kafka(_)) => {
                if let Some(req) = body.request() {
                    self.requests
                        .observe(&mut st.caps, &self.counters, pair, &req);
                }
            }
        }
    }

    /// Distinct `(src, dst)` pairs admitted so far.
    pub fn pairs(&self) -> usize {
        self.state().pairs.len()
    }
}
