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

use crate::names::workload_name;
use podwire_record::{Body, Close, Endpoint, Record, Transport};
use prometheus_client::encoding::{text, EncodeLabelSet, EncodeLabelValue, LabelValueEncoder};
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::histogram::Histogram;
use prometheus_client::registry::{Registry, Unit};
use rustc_hash::{FxHashMap, FxHashSet};
use std::fmt::Write;
use std::sync::{Arc, Mutex, MutexGuard};

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

/// The agent's own state at scrape time; see [`Metrics::encode`].
#[derive(Clone, Debug, Default)]
pub struct Health {
    pub packets_total: u64,
    /// Packets the kernel dropped because a capture ring was full.
    pub packets_dropped_total: u64,
    /// Copies of a packet already seen on another interface.
    pub packets_duplicate_total: u64,
    pub ebpf_events_total: u64,
    /// Events the kernel could not queue to the agent.
    pub ebpf_events_lost_total: u64,
    /// Connections the tracker is following now.
    pub tracked_connections: u64,
    /// Connections forgotten early because the tracker's table was full.
    pub tracker_evicted_total: u64,
    /// TLS connections decrypted with a key log (`read --serve`).
    pub tls_decrypted_total: u64,
    /// TLS connections the key log had no secrets for.
    pub tls_no_key_total: u64,
    /// TLS records that failed authentication when decrypted.
    pub tls_auth_failed_total: u64,
    /// Per store table: (name, records, bytes, budget bytes, dropped records).
    pub store: Vec<(&'static str, u64, u64, u64, u64)>,
    pub resident_memory_bytes: u64,
    /// Records live-stream clients missed by reading too slowly.
    pub stream_lagged_total: u64,
    /// Request records stored without waiting for the kernel's view of
    /// their connection, because the waiting queue was full.
    pub requests_not_deferred_total: u64,
    /// Kubernetes naming, when the agent watches the API server.
    pub kubernetes: Option<KubeHealth>,
    /// Reverse DNS, when on: (queries sent, lookups not queued because the
    /// queue was full).
    pub reverse_dns: Option<(u64, u64)>,
    /// Packet captures (`/api/v1/capture`), on live agents.
    pub captures: Option<CaptureHealth>,
    /// The API's own guards.
    pub api: ApiHealth,
    /// What of the agent's own API traffic was left out (packets before
    /// analysis, kernel-only records, packets of captures).
    pub own_left_out: OwnLeftOut,
    /// Plaintext from TLS libraries (`--tls-plaintext`), when on.
    pub tls_plaintext: Option<TlsPlaintextHealth>,
    /// OpenTelemetry export, when on.
    pub otlp: Option<OtlpHealth>,
}

/// What the TLS plaintext probe did since start.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct TlsPlaintextHealth {
    /// TLS library files probed now.
    pub libraries: u64,
    /// Library calls whose plaintext was parsed on a tracked connection.
    pub calls_total: u64,
    /// Calls whose connection was not tracked in time (or too much waited).
    pub untracked_total: u64,
    /// Calls whose socket was not found.
    pub unattributed_total: u64,
    /// Records the kernel could not queue (ring full), and calls it could
    /// not follow (too many at once).
    pub lost_total: u64,
}

/// The OTLP exporter's counters since start.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct OtlpHealth {
    /// Per signal (`traces`, `metrics`, `logs`).
    pub signals: Vec<OtlpSignalHealth>,
    /// Metric observations dropped because the series cap was reached.
    pub series_dropped_total: u64,
    /// Encoded requests waiting now, and the queue's budget.
    pub queue_bytes: u64,
    pub queue_budget_bytes: u64,
}

/// One OTLP signal's counters.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct OtlpSignalHealth {
    pub signal: &'static str,
    /// Items put in the export queue.
    pub queued_total: u64,
    /// Items (spans, data points, log records) the collector accepted.
    pub sent_total: u64,
    /// Items dropped: the queue was full, the collector refused them, or
    /// they were still queued at shutdown.
    pub dropped_queue_full_total: u64,
    pub dropped_rejected_total: u64,
    pub dropped_shutdown_total: u64,
    pub requests_ok_total: u64,
    pub requests_failed_total: u64,
    pub retries_total: u64,
}

/// What the API refused since start.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ApiHealth {
    /// Reads refused: no or unknown token (401).
    pub unauthenticated_total: u64,
    /// Reads refused: the caller lacks the grant (403).
    pub forbidden_total: u64,
    /// Reads refused: the token could not be checked (503).
    pub unavailable_total: u64,
    /// Connections closed at once because the most were being served.
    pub connections_refused_total: u64,
    /// TLS handshakes that failed or timed out.
    pub tls_handshake_failures_total: u64,
    /// Times the API certificate was loaded again after its files changed.
    pub certificate_reloads_total: u64,
    /// Requests refused: over the client's rate (429).
    pub rate_limited_total: u64,
    /// Requests refused: the request target too long (414).
    pub target_too_long_total: u64,
    /// Streams refused: as many open as allowed (429).
    pub streams_refused_total: u64,
    /// Streams ended because their client read too slowly for too long.
    pub streams_dropped_slow_total: u64,
}

/// The agent's own API traffic left out since start (`--observe-self`
/// keeps it instead).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct OwnLeftOut {
    pub packets_total: u64,
    pub records_total: u64,
    pub capture_packets_total: u64,
}

/// What packet captures did since start.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct CaptureHealth {
    /// Captures running now.
    pub active: u64,
    pub started_total: u64,
    /// Requests refused (unauthenticated, forbidden, invalid, busy).
    pub refused_total: u64,
    pub packets_total: u64,
    /// pcapng bytes streamed to clients.
    pub bytes_total: u64,
    /// Packets dropped by the kernel or over the rate cap.
    pub dropped_total: u64,
}

/// How the agent's Kubernetes watches are doing.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct KubeHealth {
    /// Per watched resource: (name, events, full lists, errors, synced).
    pub resources: Vec<(&'static str, u64, u64, u64, bool)>,
    /// Per kind: objects (and addresses with history) held.
    pub objects: Vec<(&'static str, u64)>,
    /// Objects refused because a table was full.
    pub refused_total: u64,
    /// ClusterIP copies of conversations also captured rewritten to a pod
    /// on this node, not kept.
    pub rewritten_copies_total: u64,
}

/// A label value made of names (a process may call itself anything, a
/// domain comes off the wire): escaped when encoded, since prometheus-client
/// writes label values as they are.
#[derive(Clone, Debug, Hash, PartialEq, Eq)]
struct Name(Arc<str>);

impl EncodeLabelValue for Name {
    fn encode(&self, e: &mut LabelValueEncoder) -> std::fmt::Result {
        e.write_str(&esc(&self.0))
    }
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct Pair {
    src_namespace: Name,
    src: Name,
    dst_namespace: Name,
    dst: Name,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct ConnLabels {
    #[prometheus(flatten)]
    pair: Pair,
    proto: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct ClosedLabels {
    #[prometheus(flatten)]
    pair: Pair,
    proto: &'static str,
    close: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct BytesLabels {
    #[prometheus(flatten)]
    pair: Pair,
    proto: &'static str,
    direction: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct TlsLabels {
    #[prometheus(flatten)]
    pair: Pair,
    version: Arc<str>,
    cipher: Arc<str>,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct HttpLabels {
    #[prometheus(flatten)]
    pair: Pair,
    method: &'static str,
    status_class: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct HttpLatencyLabels {
    #[prometheus(flatten)]
    pair: Pair,
    method: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct DnsLabels {
    #[prometheus(flatten)]
    pair: Pair,
    qtype: &'static str,
    rcode: &'static str,
}

type Hist<L> = Family<L, Histogram, fn() -> Histogram>;

fn latency_buckets() -> Histogram {
    Histogram::new([
        0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0,
    ])
}

fn duration_buckets() -> Histogram {
    Histogram::new([
        0.001, 0.01, 0.1, 1.0, 10.0, 60.0, 300.0, 1800.0, 3600.0, 21600.0,
    ])
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
}

/// A certificate's (dst namespace, dst, domain).
type CertKey = (Arc<str>, Arc<str>, Arc<str>);

/// What prometheus-client's families cannot hold: the pair cap, gauges
/// that are replaced (certificate expiry) and k8spacket's summaries.
#[derive(Default)]
struct State {
    pairs: FxHashSet<Pair>,
    pairs_overflow: u64,
    /// (dst namespace, dst, domain) -> not_after, Unix seconds.
    certs: FxHashMap<CertKey, f64>,
    certs_overflow: u64,
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
        }
    }

    fn state(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
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
            return (p, true);
        }
        st.pairs_overflow += 1;
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
                        st.certs_overflow += 1;
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
                        .observe_grpc(&mut st.caps, max, pair, g, latency);
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
                    self.requests.observe(&mut st.caps, pair, &req);
                }
            }
        }
    }

    /// The text exposition (OpenMetrics 1.0, which Prometheus reads) of
    /// every metric, with `health` as the agent's own figures.
    pub fn encode(&self, health: &Health) -> String {
        let mut out = String::with_capacity(64 << 10);
        // Writing into a String cannot fail.
        let _ = text::encode_registry(&mut out, &self.registry);
        let st = self.state();
        let _ = self.encode_state(&st, health, &mut out);
        drop(st);
        let _ = text::encode_eof(&mut out);
        out
    }

    fn encode_state(&self, st: &State, h: &Health, out: &mut String) -> std::fmt::Result {
        let family = |out: &mut String, name: &str, kind: &str, unit: Option<&str>, help: &str| {
            let _ = writeln!(out, "# HELP {name} {help}");
            let _ = writeln!(out, "# TYPE {name} {kind}");
            if let Some(u) = unit {
                let _ = writeln!(out, "# UNIT {name} {u}");
            }
        };
        family(
            out,
            "podwire_tls_certificate_expiry_timestamp_seconds",
            "gauge",
            Some("seconds"),
            "When the server certificate seen in a handshake expires (Unix time)",
        );
        let mut certs: Vec<_> = st.certs.iter().collect();
        certs.sort_by(|a, b| a.0.cmp(b.0));
        for ((ns, dst, domain), secs) in certs {
            writeln!(
                out,
                "podwire_tls_certificate_expiry_timestamp_seconds{{dst_namespace=\"{}\",dst=\"{}\",domain=\"{}\"}} {secs}",
                esc(ns),
                esc(dst),
                esc(domain)
            )?;
        }
        let counters: [(&str, &str, u64); 17] = [
            (
                "podwire_own_packets_left_out",
                "Packets of the agent's own API connections left out of analysis after the packet ring; most never reach it, dropped uncounted by the ring's kernel filter (--observe-self keeps them all)",
                h.own_left_out.packets_total,
            ),
            (
                "podwire_own_records_left_out",
                "Kernel-only records of the agent's own API sockets left out",
                h.own_left_out.records_total,
            ),
            (
                "podwire_own_capture_packets_left_out",
                "Packets of the agent's own API connections left out of packet captures",
                h.own_left_out.capture_packets_total,
            ),
            (
                "podwire_requests_not_deferred",
                "Request records stored without waiting for the kernel's view of their connection (the waiting queue was full), so possibly without process names",
                h.requests_not_deferred_total,
            ),
            (
                "podwire_stream_lagged_records",
                "Records live-stream clients missed by reading too slowly",
                h.stream_lagged_total,
            ),
            (
                "podwire_metrics_pairs_overflow",
                "Observations counted under src/dst \"other\" because the pair cap was reached",
                st.pairs_overflow,
            ),
            (
                "podwire_metrics_labels_overflow",
                "Observations counted under operation or gRPC method \"other\" because a label cap was reached",
                st.caps.overflow,
            ),
            (
                "podwire_metrics_certificates_overflow",
                "Certificates not exported because the certificate cap was reached",
                st.certs_overflow,
            ),
            (
                "podwire_capture_packets",
                "Packets read from the capture rings",
                h.packets_total,
            ),
            (
                "podwire_capture_packets_dropped",
                "Packets the kernel dropped because a capture ring was full",
                h.packets_dropped_total,
            ),
            (
                "podwire_capture_packets_duplicate",
                "Copies of a packet already seen on another interface, skipped",
                h.packets_duplicate_total,
            ),
            (
                "podwire_ebpf_events",
                "Connection events read from the eBPF probe",
                h.ebpf_events_total,
            ),
            (
                "podwire_ebpf_events_lost",
                "Connection events the kernel could not queue to the agent",
                h.ebpf_events_lost_total,
            ),
            (
                "podwire_tracker_evicted_connections",
                "Connections forgotten early because the tracker's table was full",
                h.tracker_evicted_total,
            ),
            (
                "podwire_tls_decrypted_connections",
                "TLS connections decrypted with a key log",
                h.tls_decrypted_total,
            ),
            (
                "podwire_tls_no_key_connections",
                "TLS connections the key log had no secrets for",
                h.tls_no_key_total,
            ),
            (
                "podwire_tls_auth_failed_records",
                "TLS records that failed authentication when decrypted",
                h.tls_auth_failed_total,
            ),
        ];
        for (name, help, v) in counters {
            family(out, name, "counter", None, help);
            writeln!(out, "{name}_total {v}")?;
        }
        let api = [
            (
                "podwire_api_connections_refused",
                "API connections closed at once because the most the agent serves were open",
                h.api.connections_refused_total,
            ),
            (
                "podwire_api_tls_handshake_failures",
                "API TLS handshakes that failed or timed out",
                h.api.tls_handshake_failures_total,
            ),
            (
                "podwire_api_certificate_reloads",
                "Times the API certificate was loaded again after its files changed",
                h.api.certificate_reloads_total,
            ),
            (
                "podwire_api_streams_dropped_slow",
                "Live streams ended because their client read too slowly for too long",
                h.api.streams_dropped_slow_total,
            ),
        ];
        for (name, help, v) in api {
            family(out, name, "counter", None, help);
            writeln!(out, "{name}_total {v}")?;
        }
        let name = "podwire_api_requests_refused";
        family(
            out,
            name,
            "counter",
            None,
            "API requests refused, by reason: no or unknown token, no grant, token not checkable, over the client's rate, request target too long, too many streams",
        );
        for (reason, v) in [
            ("unauthenticated", h.api.unauthenticated_total),
            ("forbidden", h.api.forbidden_total),
            ("unavailable", h.api.unavailable_total),
            ("rate_limited", h.api.rate_limited_total),
            ("target_too_long", h.api.target_too_long_total),
            ("streams_full", h.api.streams_refused_total),
        ] {
            writeln!(out, "{name}_total{{reason=\"{reason}\"}} {v}")?;
        }
        for (name, help) in [(
            "podwire_store_dropped_records",
            "Records dropped from a store table (oldest first) to stay within its budget",
        )] {
            family(out, name, "counter", None, help);
            for t in &h.store {
                writeln!(out, "{name}_total{{table=\"{}\"}} {}", t.0, t.4)?;
            }
        }
        if let Some(t) = h.tls_plaintext {
            family(
                out,
                "podwire_tls_plaintext_libraries",
                "gauge",
                None,
                "TLS library files the plaintext probe is attached to",
            );
            writeln!(out, "podwire_tls_plaintext_libraries {}", t.libraries)?;
            let name = "podwire_tls_plaintext_calls";
            family(
                out,
                name,
                "counter",
                None,
                "TLS library calls (SSL_read, SSL_write) read by the plaintext probe, by outcome: parsed on their connection, connection not tracked, socket not found, lost in the kernel",
            );
            for (outcome, v) in [
                ("parsed", t.calls_total),
                ("untracked", t.untracked_total),
                ("unattributed", t.unattributed_total),
                ("lost", t.lost_total),
            ] {
                writeln!(out, "{name}_total{{outcome=\"{outcome}\"}} {v}")?;
            }
        }
        family(
            out,
            "podwire_tracked_connections",
            "gauge",
            None,
            "Connections the tracker follows now",
        );
        writeln!(out, "podwire_tracked_connections {}", h.tracked_connections)?;
        family(
            out,
            "podwire_resident_memory_bytes",
            "gauge",
            Some("bytes"),
            "The agent's resident memory",
        );
        writeln!(
            out,
            "podwire_resident_memory_bytes {}",
            h.resident_memory_bytes
        )?;
        for (name, help, col) in [
            (
                "podwire_store_records",
                "Records held per store table",
                1usize,
            ),
            ("podwire_store_bytes", "Bytes held per store table", 2),
            (
                "podwire_store_budget_bytes",
                "Byte budget per store table",
                3,
            ),
        ] {
            let unit = name.ends_with("_bytes").then_some("bytes");
            family(out, name, "gauge", unit, help);
            for t in &h.store {
                let v = [t.1, t.1, t.2, t.3][col];
                writeln!(out, "{name}{{table=\"{}\"}} {v}", t.0)?;
            }
        }
        if let Some(k) = &h.kubernetes {
            encode_kube(k, out)?;
        }
        if let Some((queries, dropped)) = h.reverse_dns {
            for (name, help, v) in [
                (
                    "podwire_reverse_dns_queries",
                    "PTR queries sent (--reverse-dns)",
                    queries,
                ),
                (
                    "podwire_reverse_dns_dropped",
                    "Addresses not looked up because the lookup queue was full",
                    dropped,
                ),
            ] {
                family(out, name, "counter", None, help);
                writeln!(out, "{name}_total {v}")?;
            }
        }
        if let Some(c) = &h.captures {
            family(
                out,
                "podwire_sniff_active",
                "gauge",
                None,
                "Packet captures streaming now",
            );
            writeln!(out, "podwire_sniff_active {}", c.active)?;
            for (name, help, v) in [
                (
                    "podwire_sniff_started",
                    "Packet captures started",
                    c.started_total,
                ),
                (
                    "podwire_sniff_refused",
                    "Capture requests refused (unauthenticated, forbidden, invalid, too many)",
                    c.refused_total,
                ),
                (
                    "podwire_sniff_packets",
                    "Packets streamed by captures",
                    c.packets_total,
                ),
                (
                    "podwire_sniff_bytes",
                    "pcapng bytes streamed by captures",
                    c.bytes_total,
                ),
                (
                    "podwire_sniff_dropped_packets",
                    "Packets captures lost: ring full, or over the capture rate cap",
                    c.dropped_total,
                ),
            ] {
                family(out, name, "counter", None, help);
                writeln!(out, "{name}_total {v}")?;
            }
        }
        if let Some(o) = &h.otlp {
            encode_otlp(o, out)?;
        }
        if self.cfg.k8spacket {
            self.encode_k8spacket(&st.k8s, out)?;
        }
        Ok(())
    }

    fn encode_k8spacket(&self, k: &K8sCompat, out: &mut String) -> std::fmt::Result {
        const CONN: [&str; 8] = [
            "ns",
            "src",
            "src_name",
            "src_port",
            "dst",
            "dst_name",
            "dst_port",
            "persistent",
        ];
        const TLS: [&str; 9] = [
            "ns",
            "src",
            "src_name",
            "dst",
            "dst_name",
            "dst_port",
            "domain",
            "tls_version",
            "cipher_suite",
        ];
        let labels = |names: &[&str], values: &[Arc<str>]| {
            let mut s = String::new();
            for (i, (n, v)) in names.iter().zip(values).enumerate() {
                if i > 0 {
                    s.push(',');
                }
                let _ = write!(s, "{n}=\"{}\"", esc(v));
            }
            s
        };
        let mut conns: Vec<_> = k.conns.iter().collect();
        conns.sort_by(|a, b| a.0.cmp(b.0));
        for (slot, name, help) in [
            (
                0,
                "k8s_packet_bytes_sent",
                "Bytes sent by the client per closed TCP connection",
            ),
            (
                1,
                "k8s_packet_bytes_received",
                "Bytes received by the client per closed TCP connection",
            ),
            (
                2,
                "k8s_packet_duration_seconds",
                "Duration of closed TCP connections, in seconds",
            ),
        ] {
            writeln!(out, "# HELP {name} {help}")?;
            writeln!(out, "# TYPE {name} summary")?;
            for (key, v) in &conns {
                let l = labels(&CONN, &key[..]);
                writeln!(out, "{name}_sum{{{l}}} {}", v[slot].0)?;
                writeln!(out, "{name}_count{{{l}}} {}", v[slot].1)?;
            }
        }
        // k8spacket's counter has no `_total`; OpenMetrics would require
        // one on a `counter`, so it is exposed untyped under its own name.
        writeln!(
            out,
            "# HELP k8s_packet_tls_record TLS handshakes (k8spacket's name)"
        )?;
        writeln!(out, "# TYPE k8s_packet_tls_record unknown")?;
        let mut tls: Vec<_> = k.tls.iter().collect();
        tls.sort_by(|a, b| a.0.cmp(b.0));
        for (key, n) in tls {
            writeln!(
                out,
                "k8s_packet_tls_record{{{}}} {n}",
                labels(&TLS, &key[..])
            )?;
        }
        writeln!(
            out,
            "# HELP k8s_packet_tls_cert_expiry Certificate expiry, Unix seconds (k8spacket's name)"
        )?;
        writeln!(out, "# TYPE k8s_packet_tls_cert_expiry gauge")?;
        let mut certs: Vec<_> = k.certs.iter().collect();
        certs.sort_by(|a, b| a.0.cmp(b.0));
        for (key, secs) in certs {
            writeln!(
                out,
                "k8s_packet_tls_cert_expiry{{{}}} {secs}",
                labels(&["dst", "dst_port", "domain"], &key[..])
            )?;
        }
        Ok(())
    }

    /// Distinct `(src, dst)` pairs admitted so far.
    pub fn pairs(&self) -> usize {
        self.state().pairs.len()
    }
}

/// The classic Prometheus text format (0.0.4) of an OpenMetrics text from
/// [`Metrics::encode`], for scrapers and tools that do not ask for
/// OpenMetrics (`promtool check metrics`, older Prometheus servers):
/// counter families are named with their `_total` suffix, `unknown` is
/// `untyped`, and the `# UNIT` and `# EOF` lines go.
pub fn to_prometheus_text(openmetrics: &str) -> String {
    let counters: FxHashSet<&str> = openmetrics
        .lines()
        .filter_map(|l| l.strip_prefix("# TYPE "))
        .filter_map(|l| l.strip_suffix(" counter"))
        .collect();
    let mut out = String::with_capacity(openmetrics.len() + 1024);
    for line in openmetrics.lines() {
        if line == "# EOF" || line.starts_with("# UNIT ") {
            continue;
        }
        let meta = ["# HELP ", "# TYPE "]
            .into_iter()
            .find_map(|p| line.strip_prefix(p).map(|rest| (p, rest)));
        match meta {
            Some((p, rest)) => {
                let (name, tail) = rest.split_once(' ').unwrap_or((rest, ""));
                let name = if counters.contains(name) {
                    format!("{name}_total")
                } else {
                    name.to_string()
                };
                let tail = if p == "# TYPE " && tail == "unknown" {
                    "untyped"
                } else {
                    tail
                };
                let _ = writeln!(out, "{p}{name} {tail}");
            }
            None => {
                out.push_str(line);
                out.push('\n');
            }
        }
    }
    out
}

/// An endpoint's `(namespace, name)` label values: workload, service,
/// pod, process or domain; the address when none is known.
pub fn endpoint_label(ep: &Endpoint) -> (Arc<str>, Arc<str>) {
    let id = ep.identity.as_deref();
    let ns = id.and_then(|i| i.namespace.as_deref()).unwrap_or("");
    let name = id.and_then(|i| {
        i.workload
            .as_deref()
            .map(workload_name)
            .or(i.service.as_deref())
            .or(i.pod.as_deref())
            .or(i.process.as_deref())
            .or(i.domain.as_deref())
    });
    let name = match name {
        Some(n) => Arc::from(n),
        None => ip(ep),
    };
    (Arc::from(ns), name)
}

fn ip(ep: &Endpoint) -> Arc<str> {
    Arc::from(ep.ip.to_canonical().to_string())
}

/// k8spacket's connection labels: ns, src, src_name, src_port, dst,
/// dst_name, dst_port, persistent. Client ports are always "dynamic"; a
/// pair past the cap (`admitted` false) is `other`, as podwire's own are.
fn k8s_conn_labels(rec: &Record, persistent: bool, admitted: bool) -> [Arc<str>; 8] {
    let persistent: Arc<str> = Arc::from(if persistent { "true" } else { "false" });
    if !admitted {
        let other: Arc<str> = Arc::from("other");
        return [
            Arc::from(""),
            other.clone(),
            other.clone(),
            Arc::from("dynamic"),
            other.clone(),
            other.clone(),
            other,
            persistent,
        ];
    }
    let (src_ns, src_name) = endpoint_label(&rec.client);
    let (dst_ns, dst_name) = endpoint_label(&rec.server);
    let ns = if src_ns.is_empty() { dst_ns } else { src_ns };
    [
        ns,
        ip(&rec.client),
        src_name,
        Arc::from("dynamic"),
        ip(&rec.server),
        dst_name,
        Arc::from(rec.server.port.to_string()),
        persistent,
    ]
}

/// Label-value escaping of the text formats.
fn esc(s: &str) -> String {
    let mut o = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '\\' => o.push_str("\\\\"),
            '"' => o.push_str("\\\""),
            '\n' => o.push_str("\\n"),
            c => o.push(c),
        }
    }
    o
}

const METHODS: &[&str] = &[
    "GET", "HEAD", "POST", "PUT", "DELETE", "CONNECT", "OPTIONS", "TRACE", "PATCH",
];
const QTYPES: &[&str] = &[
    "A", "AAAA", "CNAME", "MX", "NS", "PTR", "SOA", "SRV", "TXT", "HTTPS", "SVCB", "CAA", "DS",
    "DNSKEY", "NAPTR", "ANY",
];
const RCODES: &[&str] = &[
    "NOERROR", "FORMERR", "SERVFAIL", "NXDOMAIN", "NOTIMP", "REFUSED", "YXDOMAIN", "YXRRSET",
    "NXRRSET", "NOTAUTH", "NOTZONE", "BADVERS",
];

fn known(v: &str, list: &[&'static str]) -> &'static str {
    list.iter().find(|k| **k == v).copied().unwrap_or("OTHER")
}

fn http_method(m: Option<&str>) -> &'static str {
    m.map_or("OTHER", |m| known(m, METHODS))
}

/// Versions as the TLS parser names them; drafts and unknown codes fold.
fn tls_version(v: Option<&str>) -> Arc<str> {
    const VERSIONS: &[&str] = &["SSL 3.0", "TLS 1.0", "TLS 1.1", "TLS 1.2", "TLS 1.3"];
    Arc::from(match v {
        Some(v) => known(v, VERSIONS),
        None => "unknown",
    })
}

/// IANA cipher suite names pass (the parser names every registered suite,
/// a few hundred); codes it could not name fold into `OTHER`.
fn cipher(c: Option<&str>) -> Arc<str> {
    match c {
        Some(c) if (c.starts_with("TLS_") || c.starts_with("SSL_")) && c.len() <= 64 => {
            Arc::from(c)
        }
        Some(_) => Arc::from("OTHER"),
        None => Arc::from("unknown"),
    }
}

mod requests;
#[cfg(test)]
mod tests;

fn encode_kube(k: &KubeHealth, out: &mut String) -> std::fmt::Result {
    let family = |out: &mut String, name: &str, kind: &str, help: &str| {
        let _ = writeln!(out, "# HELP {name} {help}");
        let _ = writeln!(out, "# TYPE {name} {kind}");
    };
    for (name, help, col) in [
        (
            "podwire_kubernetes_watch_events",
            "Objects added, changed or deleted, per watched resource",
            0usize,
        ),
        (
            "podwire_kubernetes_lists",
            "Full lists per watched resource (the first, then after 410 Gone)",
            1,
        ),
        (
            "podwire_kubernetes_watch_errors",
            "Failed list or watch requests per resource (each followed by a backoff)",
            2,
        ),
    ] {
        family(out, name, "counter", help);
        for r in &k.resources {
            let v = [r.1, r.2, r.3][col];
            writeln!(out, "{name}_total{{resource=\"{}\"}} {v}", r.0)?;
        }
    }
    family(
        out,
        "podwire_kubernetes_synced",
        "gauge",
        "1 once a resource has been listed completely",
    );
    for r in &k.resources {
        writeln!(
            out,
            "podwire_kubernetes_synced{{resource=\"{}\"}} {}",
            r.0,
            u8::from(r.4)
        )?;
    }
    family(
        out,
        "podwire_kubernetes_objects",
        "gauge",
        "Kubernetes objects held for naming, per kind",
    );
    for (kind, n) in &k.objects {
        writeln!(out, "podwire_kubernetes_objects{{kind=\"{kind}\"}} {n}")?;
    }
    family(
        out,
        "podwire_kubernetes_refused_objects",
        "counter",
        "Kubernetes objects not held because a table was full",
    );
    writeln!(
        out,
        "podwire_kubernetes_refused_objects_total {}",
        k.refused_total
    )?;
    family(
        out,
        "podwire_kubernetes_rewritten_copies",
        "counter",
        "Records of a conversation to a ClusterIP not kept because this node also captured it rewritten to the backend pod (counted once, there)",
    );
    writeln!(
        out,
        "podwire_kubernetes_rewritten_copies_total {}",
        k.rewritten_copies_total
    )
}

/// `podwire_otlp_*`: what the OTLP exporter sent, retried and lost.
fn encode_otlp(o: &OtlpHealth, out: &mut String) -> std::fmt::Result {
    let family = |out: &mut String, name: &str, kind: &str, help: &str| {
        let _ = writeln!(out, "# HELP {name} {help}");
        let _ = writeln!(out, "# TYPE {name} {kind}");
    };
    family(
        out,
        "podwire_otlp_items_queued",
        "counter",
        "Spans, metric data points and log records put in the export queue",
    );
    for s in &o.signals {
        writeln!(
            out,
            "podwire_otlp_items_queued_total{{signal=\"{}\"}} {}",
            s.signal, s.queued_total
        )?;
    }
    family(
        out,
        "podwire_otlp_items_sent",
        "counter",
        "Spans, metric data points and log records the collector accepted",
    );
    for s in &o.signals {
        writeln!(
            out,
            "podwire_otlp_items_sent_total{{signal=\"{}\"}} {}",
            s.signal, s.sent_total
        )?;
    }
    family(
        out,
        "podwire_otlp_items_dropped",
        "counter",
        "Items lost: queue full (collector slow or away), rejected by the collector, or queued at shutdown",
    );
    for s in &o.signals {
        for (reason, v) in [
            ("queue_full", s.dropped_queue_full_total),
            ("rejected", s.dropped_rejected_total),
            ("shutdown", s.dropped_shutdown_total),
        ] {
            writeln!(
                out,
                "podwire_otlp_items_dropped_total{{signal=\"{}\",reason=\"{reason}\"}} {v}",
                s.signal
            )?;
        }
    }
    family(
        out,
        "podwire_otlp_requests",
        "counter",
        "Export requests by result (ok: a 2xx answer)",
    );
    for s in &o.signals {
        for (result, v) in [
            ("ok", s.requests_ok_total),
            ("failed", s.requests_failed_total),
        ] {
            writeln!(
                out,
                "podwire_otlp_requests_total{{signal=\"{}\",result=\"{result}\"}} {v}",
                s.signal
            )?;
        }
    }
    family(
        out,
        "podwire_otlp_retries",
        "counter",
        "Export requests scheduled again after a 429/502/503/504 or a network error",
    );
    for s in &o.signals {
        writeln!(
            out,
            "podwire_otlp_retries_total{{signal=\"{}\"}} {}",
            s.signal, s.retries_total
        )?;
    }
    family(
        out,
        "podwire_otlp_metric_series_dropped",
        "counter",
        "Metric observations dropped because the series cap was reached",
    );
    writeln!(
        out,
        "podwire_otlp_metric_series_dropped_total {}",
        o.series_dropped_total
    )?;
    for (name, help, v) in [
        (
            "podwire_otlp_queue_bytes",
            "Encoded export requests waiting to be sent",
            o.queue_bytes,
        ),
        (
            "podwire_otlp_queue_budget_bytes",
            "The export queue's byte budget (--otlp-queue-kib)",
            o.queue_budget_bytes,
        ),
    ] {
        family(out, name, "gauge", help);
        writeln!(out, "# UNIT {name} bytes")?;
        writeln!(out, "{name} {v}")?;
    }
    Ok(())
}
