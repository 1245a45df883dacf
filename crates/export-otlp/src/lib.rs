//! OpenTelemetry (OTLP) export: every request record as a span, the RED
//! metrics as histograms, connection (or all) records as log records, sent
//! to a collector over OTLP/HTTP with protobuf bodies.
//!
//! Why no SDK: podwire's records already are finished spans; all an SDK
//! would add is a second data model and its dependency tree. The messages
//! are hand-written `prost` structs ([`proto`]); the transport is the
//! caller's ([`Transport`]: the binary posts with the hyper client it has).
//!
//! Data flow: [`Exporter::export`] (called by any number of pipeline
//! threads, never blocking on the network) maps records to spans and log
//! records into small pending batches and histograms into the
//! [`metrics::Aggregator`]; a full batch is encoded (and gzipped) by the
//! thread that filled it into the byte-bounded [`queue::Queue`]. One
//! delivery thread seals partial batches and metrics on a timer and posts
//! the queue's batches in order, retrying 429/502/503/504 and network
//! errors with exponential backoff (honouring `Retry-After`). Everything
//! dropped on the way is counted in [`Stats`].

pub mod grpc;
pub mod gzip;
pub mod logs;
pub mod metrics;
pub mod proto;
pub mod queue;
pub mod span;

use metrics::{Aggregator, Temporality};
use podwire_record::{Body, Record};
use podwire_sync::lock;
use prost::Message;
use proto::{
    ExportLogsServiceRequest, InstrumentationScope, LogRecord, Resource, ResourceLogs, ScopeLogs,
};
use queue::{Batch, Queue};
use rustc_hash::FxHashMap;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

/// The semantic conventions version the mapping follows.
pub const SCHEMA_URL: &str = "https://opentelemetry.io/schemas/1.37.0";

/// The instrumentation scope every signal is reported under.
pub fn scope() -> InstrumentationScope {
    InstrumentationScope {
        name: "podwire".into(),
        version: env!("CARGO_PKG_VERSION").into(),
    }
}

/// The three OTLP signals.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Signal {
    Traces,
    Metrics,
    Logs,
}

impl Signal {
    pub const ALL: [Signal; 3] = [Signal::Traces, Signal::Metrics, Signal::Logs];

    /// The OTLP/HTTP path, appended to the endpoint's base path.
    pub fn path(self) -> &'static str {
        match self {
            Signal::Traces => "/v1/traces",
            Signal::Metrics => "/v1/metrics",
            Signal::Logs => "/v1/logs",
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            Signal::Traces => "traces",
            Signal::Metrics => "metrics",
            Signal::Logs => "logs",
        }
    }

    fn index(self) -> usize {
        self as usize
    }
}

/// Which records become log records.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum LogRecords {
    Off,
    /// Connection records only.
    Connections,
    /// Every record.
    All,
}

/// The exporter's settings (validated by the binary).
#[derive(Clone, Debug)]
pub struct Config {
    pub traces: bool,
    pub metrics: bool,
    pub logs: LogRecords,
    pub temporality: Temporality,
    /// Bytes of encoded requests the queue holds at most.
    pub queue_bytes: usize,
    /// Spans or log records per request.
    pub batch_items: usize,
    /// A partial batch is sent after this long.
    pub batch_interval: Duration,
    /// Metrics are sent this often.
    pub metrics_interval: Duration,
    /// Metric series (resource, metric, attributes) held at most.
    pub max_series: usize,
    pub gzip: bool,
    /// This agent's node: pods on it are local sides (see [`span`]).
    pub local_node: Option<String>,
    /// Longest wait between retries of one batch.
    pub max_backoff: Duration,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            traces: true,
            metrics: true,
            logs: LogRecords::Connections,
            temporality: Temporality::Cumulative,
            queue_bytes: 16 << 20,
            batch_items: 1024,
            batch_interval: Duration::from_secs(1),
            metrics_interval: Duration::from_secs(10),
            max_series: 10_000,
            // The OTLP exporters' default; gzip costs more CPU than the
            // encoding (see bench/otlp.sh).
            gzip: false,
            local_node: None,
            max_backoff: Duration::from_secs(30),
        }
    }
}

/// What a post came back with.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Response {
    pub status: u16,
    /// The `Retry-After` header, in seconds form.
    pub retry_after: Option<Duration>,
}

/// Why a post failed before any answer came.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct TransportError(pub String);

/// How batches reach the collector (the binary's HTTP client; tests' fakes).
pub trait Transport: Send + 'static {
    /// Posts `body` (gzipped when `gzip`) to the signal's path.
    fn post(&mut self, signal: Signal, body: &[u8], gzip: bool)
        -> Result<Response, TransportError>;
}

/// Counters per signal, for `/metrics` and the summary.
#[derive(Debug, Default)]
pub struct SignalStats {
    /// Items put in the queue (each is later sent, or dropped and counted
    /// as such, or still queued).
    pub queued: AtomicU64,
    /// Items (spans, data points, log records) the collector accepted.
    pub sent: AtomicU64,
    /// Items dropped because the queue was full.
    pub dropped_queue_full: AtomicU64,
    /// Items the collector refused (a status that is not retried).
    pub dropped_rejected: AtomicU64,
    /// Items still queued when the exporter was shut down.
    pub dropped_shutdown: AtomicU64,
    /// Requests answered with a 2xx.
    pub requests_ok: AtomicU64,
    /// Requests that failed (any other status, or no answer).
    pub requests_failed: AtomicU64,
    /// Retries scheduled.
    pub retries: AtomicU64,
    /// Body bytes posted successfully (after compression).
    pub bytes_sent: AtomicU64,
}

/// Everything the exporter counts.
#[derive(Debug, Default)]
pub struct Stats {
    pub signals: [SignalStats; 3],
    /// Metric observations dropped at the series cap.
    pub series_dropped: AtomicU64,
    /// Bytes in the queue now.
    pub queue_bytes: AtomicU64,
}

impl Stats {
    pub fn signal(&self, s: Signal) -> &SignalStats {
        &self.signals[s.index()]
    }
}

#[derive(Default)]
struct Pending {
    /// Each span encoded (see [`proto::ExportTraceServiceRequestEncoded`]).
    spans: Vec<(Arc<Resource>, Vec<u8>)>,
    logs: Vec<(Arc<Resource>, LogRecord)>,
}

/// Resources by identity, built once: records of one workload share one
/// `Arc`, so batches group by pointer and no record builds its resource's
/// strings again. Cleared when it holds [`RESOURCE_CACHE`] entries.
#[derive(Default)]
struct ResourceCache {
    by_identity: FxHashMap<podwire_record::Identity, Arc<Resource>>,
    unknown: Option<Arc<Resource>>,
}

/// Most identities whose resources are kept.
const RESOURCE_CACHE: usize = 4096;

struct Inner {
    cfg: Config,
    pending: Mutex<Pending>,
    agg: Mutex<Aggregator>,
    resources: Mutex<ResourceCache>,
    queue: Mutex<Queue>,
    wake: Condvar,
    stop: AtomicBool,
    /// When the delivery thread gives up after being asked to stop.
    stop_at: Mutex<Option<Instant>>,
    stats: Arc<Stats>,
}

/// The exporter: a handle shared by the pipeline's threads, and its
/// delivery thread.
pub struct Exporter {
    inner: Arc<Inner>,
    thread: Mutex<Option<std::thread::JoinHandle<()>>>,
}

/// Nanoseconds since the epoch, by the wall clock.
fn now_ns() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| u64::try_from(d.as_nanos()).unwrap_or(u64::MAX))
        .unwrap_or(0)
}

impl Exporter {
    /// Starts the delivery thread over `transport`.
    pub fn start(cfg: Config, transport: impl Transport) -> std::io::Result<Exporter> {
        let inner = Arc::new(Inner {
            agg: Mutex::new(Aggregator::new(cfg.temporality, cfg.max_series, now_ns())),
            queue: Mutex::new(Queue::new(cfg.queue_bytes)),
            resources: Mutex::new(ResourceCache::default()),
            cfg,
            pending: Mutex::new(Pending::default()),
            wake: Condvar::new(),
            stop: AtomicBool::new(false),
            stop_at: Mutex::new(None),
            stats: Arc::new(Stats::default()),
        });
        let i = Arc::clone(&inner);
        let thread = std::thread::Builder::new()
            .name("podwire-otlp".into())
            .spawn(move || deliver(&i, transport))?;
        Ok(Exporter {
            inner,
            thread: Mutex::new(Some(thread)),
        })
    }

    /// The counters.
    pub fn stats(&self) -> &Arc<Stats> {
        &self.inner.stats
    }

    /// The queue's byte budget.
    pub fn queue_budget(&self) -> usize {
        self.inner.cfg.queue_bytes
    }

    /// Maps `records` to spans, metric observations and log records. Never
    /// waits for the network: a full batch is encoded into the queue here,
    /// dropping the oldest queued batches if it does not fit.
    pub fn export(&self, records: &[Record]) {
        let cfg = &self.inner.cfg;
        let node = cfg.local_node.as_deref();
        let mut spans = Vec::new();
        let mut logs = Vec::new();
        let now = now_ns();
        let mut agg: Option<MutexGuard<'_, Aggregator>> = None;
        let mut cache: Option<MutexGuard<'_, ResourceCache>> = None;
        for rec in records {
            let (sides, n) = span::sides(rec, node);
            for side in sides.iter().take(n).flatten() {
                let ep = match side {
                    span::Side::Server => &rec.server,
                    span::Side::Client => &rec.client,
                };
                let wants_log = match cfg.logs {
                    LogRecords::Off => false,
                    LogRecords::Connections => matches!(rec.body, Body::Connection(_)),
                    LogRecords::All => true,
                };
                let counts = cfg.metrics && matches!(rec.body, Body::Connection(_));
                let mapped = if cfg.traces || cfg.metrics {
                    span::span(rec, *side)
                } else {
                    None
                };
                if mapped.is_none() && !wants_log && !counts {
                    continue;
                }
                let resource = self.inner.resource(&mut cache, ep);
                if let Some((s, obs)) = mapped {
                    if let (true, Some(obs)) = (cfg.metrics, obs) {
                        agg.get_or_insert_with(|| lock(&self.inner.agg))
                            .observe(&resource, obs);
                    }
                    if cfg.traces {
                        spans.push((resource.clone(), s.encode_to_vec()));
                    }
                }
                if counts {
                    if let Body::Connection(c) = &rec.body {
                        let a = agg.get_or_insert_with(|| lock(&self.inner.agg));
                        connection_counts(a, &resource, c);
                    }
                }
                if wants_log {
                    logs.push((resource, logs::log_record(rec, now)));
                }
            }
        }
        drop(agg);
        drop(cache);
        if spans.is_empty() && logs.is_empty() {
            return;
        }
        let (full_spans, full_logs) = {
            let mut p = lock(&self.inner.pending);
            p.spans.append(&mut spans);
            p.logs.append(&mut logs);
            (
                take_full(&mut p.spans, cfg.batch_items),
                take_full(&mut p.logs, cfg.batch_items),
            )
        };
        for batch in full_spans {
            self.inner.seal_spans(batch);
        }
        for batch in full_logs {
            self.inner.seal_logs(batch);
        }
    }

    /// Sends what is pending and queued, waiting at most `timeout` for the
    /// collector; what is left then is counted as dropped. Ends the
    /// delivery thread.
    pub fn shutdown(&self, timeout: Duration) {
        let deadline = Instant::now() + timeout;
        self.inner.seal_pending();
        self.inner.seal_metrics();
        *lock(&self.inner.stop_at) = Some(deadline);
        self.inner.stop.store(true, Ordering::SeqCst);
        {
            // Wake it under the lock so the notification cannot be missed.
            let _q = lock(&self.inner.queue);
            self.inner.wake.notify_all();
        }
        let handle = lock(&self.thread).take();
        if let Some(h) = handle {
            // The thread gives up at its own deadline; this bounds the wait
            // for a post already under way too.
            while !h.is_finished() && Instant::now() < deadline {
                std::thread::sleep(Duration::from_millis(10));
            }
            if h.is_finished() {
                let _ = h.join();
            }
        }
        let mut q = lock(&self.inner.queue);
        while let Some(b) = q.pop() {
            self.inner
                .stats
                .signal(b.signal)
                .dropped_shutdown
                .fetch_add(b.items, Ordering::Relaxed);
        }
        self.inner.stats.queue_bytes.store(0, Ordering::Relaxed);
    }
}

impl Drop for Exporter {
    fn drop(&mut self) {
        self.inner.stop.store(true, Ordering::SeqCst);
        let _q = lock(&self.inner.queue);
        self.inner.wake.notify_all();
    }
}

fn connection_counts(agg: &mut Aggregator, res: &Resource, c: &podwire_record::Connection) {
    let transport = match c.proto {
        podwire_record::Transport::Tcp => "tcp",
        podwire_record::Transport::Udp => "udp",
    };
    let close = match c.close {
        podwire_record::Close::Fin => "fin",
        podwire_record::Close::Rst => "rst",
        podwire_record::Close::Timeout => "timeout",
        podwire_record::Close::Open => "open",
    };
    agg.add(
        res,
        metrics::CONNECTIONS.0,
        vec![
            proto::kv("network.transport", transport),
            proto::kv("podwire.close", close),
        ],
        1,
    );
    for (dir, stats) in [
        ("client_to_server", &c.client_to_server),
        ("server_to_client", &c.server_to_client),
    ] {
        agg.add(
            res,
            metrics::CONNECTION_BYTES.0,
            vec![
                proto::kv("network.transport", transport),
                proto::kv("podwire.direction", dir),
            ],
            stats.bytes,
        );
    }
}

/// Whole batches of `batch` items from the front of `v`; the rest stays.
fn take_full<T>(v: &mut Vec<T>, batch: usize) -> Vec<Vec<T>> {
    let batch = batch.max(1);
    let mut out = Vec::new();
    while v.len() >= batch {
        let rest = v.split_off(batch);
        out.push(std::mem::replace(v, rest));
    }
    out
}

/// Groups items by resource (the same `Arc`, see [`ResourceCache`]), in
/// first-seen order.
fn group<T>(items: Vec<(Arc<Resource>, T)>) -> Vec<(Resource, Vec<T>)> {
    let mut index: FxHashMap<*const Resource, usize> = FxHashMap::default();
    let mut out: Vec<(Arc<Resource>, Vec<T>)> = Vec::new();
    for (res, item) in items {
        match index.get(&Arc::as_ptr(&res)) {
            Some(&i) => {
                if let Some(slot) = out.get_mut(i) {
                    slot.1.push(item);
                }
            }
            None => {
                index.insert(Arc::as_ptr(&res), out.len());
                out.push((res, vec![item]));
            }
        }
    }
    out.into_iter()
        .map(|(res, items)| (Arc::unwrap_or_clone(res), items))
        .collect()
}

impl Inner {
    /// The resource of `ep`, from the cache (`cache` is locked once per
    /// call of `export`).
    fn resource<'a>(
        &'a self,
        cache: &mut Option<MutexGuard<'a, ResourceCache>>,
        ep: &podwire_record::Endpoint,
    ) -> Arc<Resource> {
        let c = cache.get_or_insert_with(|| lock(&self.resources));
        match ep.identity.as_deref() {
            None => Arc::clone(
                c.unknown
                    .get_or_insert_with(|| Arc::new(span::resource(ep))),
            ),
            Some(id) => {
                if let Some(r) = c.by_identity.get(id) {
                    return Arc::clone(r);
                }
                if c.by_identity.len() >= RESOURCE_CACHE {
                    c.by_identity.clear();
                }
                let r = Arc::new(span::resource(ep));
                c.by_identity.insert(id.clone(), Arc::clone(&r));
                r
            }
        }
    }

    fn seal_spans(&self, spans: Vec<(Arc<Resource>, Vec<u8>)>) {
        if spans.is_empty() {
            return;
        }
        let items = spans.len() as u64;
        let req = proto::ExportTraceServiceRequestEncoded {
            resource_spans: group(spans)
                .into_iter()
                .map(|(res, spans)| proto::ResourceSpansEncoded {
                    resource: Some(res),
                    scope_spans: vec![proto::ScopeSpansEncoded {
                        scope: Some(scope()),
                        spans,
                        schema_url: SCHEMA_URL.into(),
                    }],
                    schema_url: String::new(),
                })
                .collect(),
        };
        self.enqueue(Signal::Traces, req.encode_to_vec(), items);
    }

    fn seal_logs(&self, logs: Vec<(Arc<Resource>, LogRecord)>) {
        if logs.is_empty() {
            return;
        }
        let items = logs.len() as u64;
        let req = ExportLogsServiceRequest {
            resource_logs: group(logs)
                .into_iter()
                .map(|(res, log_records)| ResourceLogs {
                    resource: Some(res),
                    scope_logs: vec![ScopeLogs {
                        scope: Some(scope()),
                        log_records,
                        schema_url: SCHEMA_URL.into(),
                    }],
                    schema_url: String::new(),
                })
                .collect(),
        };
        self.enqueue(Signal::Logs, req.encode_to_vec(), items);
    }

    fn seal_pending(&self) {
        let mut p = std::mem::take(&mut *lock(&self.pending));
        for batch in take_full(&mut p.spans, self.cfg.batch_items) {
            self.seal_spans(batch);
        }
        self.seal_spans(p.spans);
        for batch in take_full(&mut p.logs, self.cfg.batch_items) {
            self.seal_logs(batch);
        }
        self.seal_logs(p.logs);
    }

    fn seal_metrics(&self) {
        if !self.cfg.metrics {
            return;
        }
        let (req, dropped) = {
            let mut a = lock(&self.agg);
            let req = a.collect(now_ns());
            (req, std::mem::take(&mut a.dropped))
        };
        self.stats
            .series_dropped
            .fetch_add(dropped, Ordering::Relaxed);
        if let Some(req) = req {
            let items = req
                .resource_metrics
                .iter()
                .flat_map(|r| &r.scope_metrics)
                .flat_map(|s| &s.metrics)
                .map(|m| match &m.data {
                    Some(proto::MetricData::Histogram(h)) => h.data_points.len(),
                    Some(proto::MetricData::Sum(s)) => s.data_points.len(),
                    None => 0,
                } as u64)
                .sum();
            self.enqueue(Signal::Metrics, req.encode_to_vec(), items);
        }
    }

    fn enqueue(&self, signal: Signal, body: Vec<u8>, items: u64) {
        let body = if self.cfg.gzip {
            gzip::gzip(&body)
        } else {
            body
        };
        self.stats
            .signal(signal)
            .queued
            .fetch_add(items, Ordering::Relaxed);
        let mut q = lock(&self.queue);
        for b in q.push(Batch {
            signal,
            body,
            items,
        }) {
            self.stats
                .signal(b.signal)
                .dropped_queue_full
                .fetch_add(b.items, Ordering::Relaxed);
        }
        self.stats
            .queue_bytes
            .store(q.bytes() as u64, Ordering::Relaxed);
        self.wake.notify_all();
    }
}

/// Statuses worth another try (the OTLP specification's retryable ones).
fn retryable(status: u16) -> bool {
    matches!(status, 429 | 502 | 503 | 504)
}

/// First wait before a retry; doubled per failure up to `max_backoff`.
const FIRST_BACKOFF: Duration = Duration::from_millis(500);

/// The delivery thread (see the crate comment).
fn deliver(inner: &Inner, mut transport: impl Transport) {
    let cfg = &inner.cfg;
    let mut next_batch = Instant::now() + cfg.batch_interval;
    let mut next_metrics = Instant::now() + cfg.metrics_interval;
    let mut backoff = FIRST_BACKOFF;
    let mut retry_at: Option<Instant> = None;
    // Until when the collector asked us to wait (Retry-After, RetryInfo).
    let mut asked_until: Option<Instant> = None;
    // Set when asked to stop: how long the last attempts may take.
    let mut stop_deadline: Option<Instant> = None;
    loop {
        let now = Instant::now();
        if stop_deadline.is_none() && inner.stop.load(Ordering::SeqCst) {
            // `shutdown` sealed everything; try once more without waiting
            // for our own backoff, for as long as the caller waits, but
            // not before the collector said it could take more.
            stop_deadline = Some(lock(&inner.stop_at).unwrap_or(now));
            retry_at = asked_until.filter(|t| *t > now);
        }
        if let Some(d) = stop_deadline {
            if now >= d {
                return;
            }
        }
        if now >= next_batch {
            inner.seal_pending();
            next_batch = now + cfg.batch_interval;
        }
        if now >= next_metrics {
            inner.seal_metrics();
            next_metrics = now + cfg.metrics_interval;
        }
        let batch = {
            let mut q = lock(&inner.queue);
            let ready = retry_at.is_none_or(|t| now >= t);
            if ready {
                q.pop()
            } else {
                None
            }
        };
        let Some(batch) = batch else {
            let q = lock(&inner.queue);
            if stop_deadline.is_some() && q.is_empty() {
                return;
            }
            if stop_deadline.is_none() && inner.stop.load(Ordering::SeqCst) {
                continue;
            }
            let mut until = next_batch.min(next_metrics);
            if let Some(t) = retry_at {
                until = until.min(t);
            }
            if let Some(d) = stop_deadline {
                until = until.min(d);
            }
            let now = Instant::now();
            let ready = !q.is_empty() && retry_at.is_none_or(|t| now >= t);
            let wait = until.saturating_duration_since(now);
            if !ready && !wait.is_zero() {
                let _ = inner.wake.wait_timeout(q, wait);
            }
            continue;
        };
        let stats = inner.stats.signal(batch.signal);
        match transport.post(batch.signal, &batch.body, cfg.gzip) {
            Ok(r) if (200..300).contains(&r.status) => {
                stats.requests_ok.fetch_add(1, Ordering::Relaxed);
                stats.sent.fetch_add(batch.items, Ordering::Relaxed);
                stats
                    .bytes_sent
                    .fetch_add(batch.body.len() as u64, Ordering::Relaxed);
                backoff = FIRST_BACKOFF;
                retry_at = None;
                asked_until = None;
            }
            Ok(r) if !retryable(r.status) => {
                stats.requests_failed.fetch_add(1, Ordering::Relaxed);
                stats
                    .dropped_rejected
                    .fetch_add(batch.items, Ordering::Relaxed);
            }
            res => {
                stats.requests_failed.fetch_add(1, Ordering::Relaxed);
                stats.retries.fetch_add(1, Ordering::Relaxed);
                let asked = res.ok().and_then(|r| r.retry_after).unwrap_or_default();
                // Jitter so that many agents do not retry in step; never
                // below what the collector asked for (Retry-After,
                // RetryInfo), which is a minimum.
                let jittered = backoff.mul_f64(0.75 + fastrand::f64() * 0.5);
                let wait = jittered.max(asked).min(cfg.max_backoff);
                let now = Instant::now();
                retry_at = Some(now + wait);
                asked_until = (!asked.is_zero()).then(|| now + asked.min(cfg.max_backoff));
                backoff = (backoff * 2).min(cfg.max_backoff);
                let mut q = lock(&inner.queue);
                if let Some(b) = q.push_front(batch) {
                    stats
                        .dropped_queue_full
                        .fetch_add(b.items, Ordering::Relaxed);
                }
            }
        }
        inner
            .stats
            .queue_bytes
            .store(lock(&inner.queue).bytes() as u64, Ordering::Relaxed);
    }
}

#[cfg(test)]
mod tests;
