//! What the agent's threads share: the store, the kernel socket table, the
//! name cache, counters, and the shard control handle. Records from the
//! shards and from the kernel side all pass through [`Shared::ingest`]:
//! kernel facts merged, names applied, then stored.

use super::config::ServeConfig;
use super::host::Host;
use super::kernel::{KernelStats, KernelTable};
use super::kube::Kube;
use super::nat::Nat;
use super::own::Own;
use super::rdns::ReverseDns;
use crate::names::NameCache;
use podwire_capture_live::conntrack;
use podwire_record::Record;
use podwire_serve::metrics::{Health, Metrics};
use podwire_store::{Cursor, Filter, Store, Table};
use podwire_telemetry::catalogue::Sampled;
use podwire_telemetry::Snapshot;
use podwire_track::shard::{Control, Select, Sink, Stopped};
use podwire_track::TrackerStats;
use rustc_hash::FxHashSet;
use serde::Serialize;
use std::sync::{Arc, Mutex};
use tokio::sync::broadcast;

/// Counters the capture side publishes (defined in the telemetry
/// catalogue, with how they are exported).
pub use podwire_telemetry::catalogue::Capture as Counters;

/// One interface of a watched namespace, for `/api/v1/interfaces`.
#[derive(Clone, Debug, Serialize)]
pub struct InterfaceInfo {
    pub netns: String,
    pub index: u32,
    pub name: String,
    pub kind: Option<String>,
    pub up: bool,
    pub loopback: bool,
}

/// Whether each capability started, and why not.
#[derive(Clone, Debug, Default, Serialize)]
pub struct Sources {
    pub packets: Status,
    pub ebpf: Status,
    /// Where the eBPF probe is attached.
    pub ebpf_hook: Option<&'static str>,
    /// Plaintext from TLS libraries (`--tls-plaintext`).
    pub tls_plaintext: Status,
}

/// One capability's state.
#[derive(Clone, Debug, Default, Serialize)]
pub struct Status {
    pub running: bool,
    /// Why it is not running.
    pub error: Option<String>,
}

impl Status {
    pub fn of<T, E: std::fmt::Display>(r: &Result<T, E>) -> Status {
        match r {
            Ok(_) => Status {
                running: true,
                error: None,
            },
            Err(e) => Status {
                running: false,
                error: Some(format!("{e:#}")),
            },
        }
    }
}

/// See the module docs.
pub struct Shared {
    pub store: Mutex<Store>,
    pub kernel: Mutex<KernelTable>,
    pub names: Mutex<NameCache>,
    pub counters: Counters,
    pub interfaces: std::sync::Arc<Mutex<Vec<InterfaceInfo>>>,
    pub control: Mutex<Option<Control>>,
    pub sources: Mutex<Sources>,
    pub metrics: Metrics,
    /// New records for `/api/v1/stream` clients (nothing is cloned while
    /// no client listens).
    pub stream: broadcast::Sender<Arc<Record>>,
    /// Kubernetes names, when the agent watches the API server.
    pub kube: Option<Arc<Kube>>,
    /// Reverse DNS names, when asked for (`--reverse-dns`).
    pub rdns: Option<Arc<ReverseDns>>,
    /// This node's address rewrites (live agents only).
    pub nat: Option<Arc<Nat>>,
    /// Packet captures on demand (live agents only).
    pub captures: Option<Arc<super::capture::Captures>>,
    /// Request records waiting for the probe's next read (see `deferred`).
    pub deferred: super::deferred::Deferred,
    /// The host's addresses and name (live agents only).
    pub host: Arc<Host>,
    /// The agent's own API connections, left out (live agents only).
    pub own: Arc<Own>,
    /// The TLS plaintext thread's counters, when it runs.
    pub tls: Option<Arc<super::tls::TlsCounters>>,
    /// TLS 1.3 certificates fetched (`--tls-cert-fetch on`).
    pub certs: Option<Arc<super::certs::CertFetcher>>,
    /// OpenTelemetry export (`--otlp-endpoint`), fed every named record.
    pub otlp: Option<Arc<podwire_otlp::Exporter>>,
}

/// A poisoned lock means a thread panicked mid-update; the data is still
/// the best there is, so keep serving it.
pub use podwire_sync::lock;

impl Shared {
    /// Everything empty but the given parts.
    pub fn new(store: Store, kernel: KernelTable, sources: Sources, serve: ServeConfig) -> Shared {
        Shared {
            store: Mutex::new(store),
            kernel: Mutex::new(kernel),
            names: Mutex::new(NameCache::new(crate::names::MAX_NAMES)),
            counters: Counters::default(),
            interfaces: Arc::new(Mutex::new(Vec::new())),
            control: Mutex::new(None),
            sources: Mutex::new(sources),
            metrics: Metrics::new(serve.metrics.clone()),
            stream: broadcast::channel(super::STREAM_BACKLOG).0,
            kube: None,
            rdns: None,
            nat: None,
            captures: None,
            deferred: Default::default(),
            host: Arc::new(Host::none()),
            own: Arc::new(Own::off()),
            tls: None,
            certs: None,
            otlp: None,
        }
    }

    /// Merges kernel facts into `rec`, following this node's rewrites.
    fn merge_kernel(&self, k: &mut KernelTable, rec: &mut Record) {
        let nat = self.nat.as_deref();
        k.merge(rec, &mut |c, s| nat?.reply_source(c, s, conntrack::TCP));
    }

    /// The last resort: a reverse DNS name for what nothing else named.
    fn name_reverse(&self, rec: &mut Record) {
        if let Some(r) = &self.rdns {
            r.name(&mut rec.client);
            r.name(&mut rec.server);
        }
    }

    /// Kubernetes names for records the kernel table has merged: its
    /// cgroups name local sockets (lock order: kernel before names).
    /// Drops the ClusterIP copies of conversations counted rewritten (see
    /// [`Kube::name`]).
    fn name_kube(&self, records: &mut Vec<Record>) {
        let Some(kube) = &self.kube else { return };
        let cgroups: Vec<_> = {
            let k = lock(&self.kernel);
            records.iter().map(|r| k.cgroups(r)).collect()
        };
        let packets = self.capturing_packets();
        let before = records.len();
        let mut keep = cgroups.into_iter();
        records.retain_mut(|r| keep.next().is_none_or(|cg| kube.name(r, cg, packets)));
        kube.count_copies((before - records.len()) as u64);
    }

    fn capturing_packets(&self) -> bool {
        lock(&self.sources).packets.running
    }

    /// Merges, names and stores finished records (drains `records`). A
    /// request record whose connection the kernel table does not know yet
    /// waits for the probe's next read (see `deferred`).
    pub fn ingest(&self, records: &mut Vec<Record>) {
        if records.is_empty() {
            return;
        }
        let waiting = self.deferred.active();
        let unnamed = |ep: &podwire_record::Endpoint| {
            ep.identity.as_ref().is_none_or(|id| id.process.is_none())
        };
        {
            let mut k = lock(&self.kernel);
            let mut now = Vec::with_capacity(records.len());
            for mut r in records.drain(..) {
                self.merge_kernel(&mut k, &mut r);
                let wait = waiting
                    && super::kernel::request_over_tcp(&r.body)
                    && unnamed(&r.client)
                    && unnamed(&r.server);
                if wait {
                    // Given back when the queue is full: stored now.
                    now.extend(self.deferred.defer(r));
                } else {
                    now.push(r);
                }
            }
            *records = now;
        }
        self.ingest_merged(records);
    }

    /// Merges and stores the deferred records that waited for a read of
    /// the ring (`read`, from `Deferred::begin_read`) whose events are
    /// applied now; all of them when `read` is `None`.
    pub fn release_deferred(&self, read: Option<u64>) {
        let mut records = Vec::new();
        match read {
            Some(r) => self.deferred.take_ready(r, &mut records),
            None => self.deferred.take_all(&mut records),
        }
        if records.is_empty() {
            return;
        }
        {
            let mut k = lock(&self.kernel);
            for r in records.iter_mut() {
                self.merge_kernel(&mut k, r);
            }
        }
        self.ingest_merged(&mut records);
    }

    /// Names and stores records the kernel table made itself: they carry
    /// all it knows already, and merging them again would only look for
    /// sockets they were built from (and ask conntrack in vain).
    pub fn ingest_merged(&self, records: &mut Vec<Record>) {
        self.own.drop_kernel_records(records);
        if records.is_empty() {
            return;
        }
        {
            let mut n = lock(&self.names);
            for r in records.iter_mut() {
                n.process(r);
            }
        }
        for r in records.iter_mut() {
            self.host.name(r);
        }
        if let Some(c) = &self.certs {
            if self.own.active() {
                c.drop_own(records);
            }
            c.fill(records);
        }
        self.name_kube(records);
        for r in records.iter_mut() {
            self.name_reverse(r);
        }
        if let Some(e) = &self.otlp {
            e.export(records);
        }
        let streaming = self.stream.receiver_count() > 0;
        // Prometheus sums every agent's counters: each conversation is
        // counted on the one node that accounts for it (its client's), as
        // cluster answers do. Records and the stream keep everything seen.
        let node = self.kube.as_ref().and_then(|k| k.node_name());
        for r in records.iter() {
            if node.is_none_or(|n| podwire_store::accounted_on(r, n)) {
                self.metrics.observe(r);
            }
            if streaming {
                // Only fails when every client left meanwhile.
                let _ = self.stream.send(Arc::new(r.clone()));
            }
        }
        let mut s = lock(&self.store);
        for r in records.drain(..) {
            s.insert(r);
        }
    }

    /// Calls `each` with every connection record `filter` selects, open
    /// and stored, each once (`filter.limit` aside: all of them).
    pub fn each_connection(self: &Arc<Self>, filter: &Filter, mut each: impl FnMut(&Record)) {
        let all = Filter {
            limit: Filter::MAX_LIMIT,
            ..filter.clone()
        };
        let open = self.open_connections(&all);
        let store = lock(&self.store);
        let open = not_stored(open, &store);
        for r in &open {
            each(r);
        }
        for r in store.records(Table::Connection) {
            if filter.matches(r) {
                each(r);
            }
        }
    }

    /// Calls `each` with every stored record of `table` that `filter`
    /// selects (`limit` aside).
    pub fn each_stored(&self, table: Table, filter: &Filter, mut each: impl FnMut(&Record)) {
        let store = lock(&self.store);
        for r in store.records(table) {
            if filter.matches(r) {
                each(r);
            }
        }
    }

    /// The agent's own figures, for `/metrics`; `api` holds the API's
    /// counters.
    pub fn health(&self, api: Snapshot) -> Health {
        let tracker = self.tracker_stats();
        Health {
            telemetry: self.telemetry(&tracker, api),
            store: Health::store_rows(&lock(&self.store).stats()),
            kubernetes: self.kube.as_ref().map(|k| k.health()),
            otlp: self.otlp.as_ref().map(|e| crate::otlp::health(e)),
        }
    }

    /// The agent's counters and gauges of the telemetry catalogue, read
    /// now (all but the traffic metrics' own, which `Metrics::encode`
    /// adds): the capture side's atomics, the API's (read by
    /// `podwire_api`, handed in as `api`), and figures kept elsewhere
    /// sampled into [`Sampled`].
    pub fn telemetry(&self, tracker: &TrackerStats, api: Snapshot) -> Snapshot {
        let s = Sampled::default();
        let kernel = self.kernel_stats();
        let (known, forgotten) = {
            let n = lock(&self.names);
            (n.len() as u64, n.forgotten())
        };
        for (a, v) in [
            (&s.tracker_open, tracker.open),
            (&s.tracker_tcp, tracker.tcp_connections),
            (&s.tracker_udp, tracker.udp_flows),
            (&s.tracker_evicted, tracker.evicted),
            (&s.reassembly_limit_hits, tracker.reassembly_limit_hits),
            (&s.reassembly_buffered, tracker.reassembly_buffered as u64),
            (&s.dns_malformed, tracker.dns_malformed),
            (&s.dns_evicted, tracker.dns_evicted),
            (&s.parsers_failed, tracker.parsers.failed),
            (&s.tls_decrypted, tracker.parsers.tls_decrypted),
            (&s.tls_no_key, tracker.parsers.tls_no_key),
            (&s.tls_unsupported, tracker.parsers.tls_unsupported),
            (&s.tls_auth_failed, tracker.parsers.tls_auth_failed),
            (&s.kernel_sockets, kernel.sockets),
            (&s.kernel_evicted, kernel.evicted),
            (&s.kernel_unclaimed, kernel.unclaimed),
            (&s.names_known, known),
            (&s.names_forgotten, forgotten),
            (&s.stream_clients, self.stream.receiver_count() as u64),
            (&s.not_deferred, self.deferred.overflow()),
            (&s.resident_memory, crate::pipeline::resident_bytes()),
        ] {
            s.set(a, v);
        }
        let mut snap = Snapshot::of(&[&self.counters, &s, &self.own.counters]);
        snap.extend(api);
        // The optional parts, when they run.
        if let Some(c) = &self.captures {
            snap.add(&*c.counters);
        }
        if let Some(t) = &self.tls {
            t.set(&t.parsed, tracker.tls_plaintext_calls);
            t.set(&t.untracked, tracker.tls_plaintext_dropped);
            snap.add(&**t);
        }
        if let Some(r) = &self.rdns {
            snap.add(&r.counters);
        }
        if let Some(c) = &self.certs {
            snap.add(&*c.counters);
        }
        snap
    }

    /// The open connections `filter` selects, newest first, at most its
    /// limit: from the trackers (with kernel facts and names, filtered on
    /// the shards so only what is kept is ever held), plus sockets the
    /// kernel knows that no packet showed.
    pub fn open_connections(self: &Arc<Self>, filter: &Filter) -> Vec<Record> {
        let control = lock(&self.control).clone();
        let generation = lock(&self.kernel).begin_snapshot();
        let shared = Arc::clone(self);
        let f = filter.clone();
        let packets = self.capturing_packets();
        let select: Select = Arc::new(move |rec: &mut Record| {
            let cgroups = {
                let mut k = lock(&shared.kernel);
                shared.merge_kernel(&mut k, rec);
                k.cgroups(rec)
            };
            lock(&shared.names).process(rec);
            shared.host.name(rec);
            if let Some(kube) = &shared.kube {
                if !kube.name(rec, cgroups, packets) {
                    return false;
                }
            }
            shared.name_reverse(rec);
            f.matches(rec)
        });
        let mut open = match control {
            Some(c) => c.snapshot(select, filter.limit),
            None => Vec::new(),
        };
        // Lock order: kernel, then names (nothing takes them the other way).
        let mut only_kernel = lock(&self.kernel).open_records(generation, |r| {
            if self.own.kernel_record(r) {
                return false;
            }
            lock(&self.names).process(r);
            self.host.name(r);
            true
        });
        if self.kube.is_some() {
            self.name_kube(&mut only_kernel);
        }
        for r in only_kernel.iter_mut() {
            self.name_reverse(r);
        }
        only_kernel.retain(|r| filter.matches(r));
        open.extend(only_kernel);
        open
    }

    /// The trackers' counters (without building any record).
    pub fn tracker_stats(&self) -> TrackerStats {
        let control = lock(&self.control).clone();
        control.map(|c| c.stats()).unwrap_or_default()
    }

    /// A table as a JSON array, and the next page's cursor; for
    /// connections, the open ones too.
    pub fn query(self: &Arc<Self>, table: Table, filter: &Filter) -> (Vec<u8>, Option<Cursor>) {
        let open = match table {
            Table::Connection => self.open_connections(filter),
            _ => Vec::new(),
        };
        let mut out = Vec::with_capacity(64 << 10);
        let store = lock(&self.store);
        let open = not_stored(open, &store);
        let (_, next) = store.write_json_page(table, filter, &open, &mut out);
        (out, next)
    }

    pub fn kernel_stats(&self) -> KernelStats {
        lock(&self.kernel).stats()
    }
}

/// `open` without the connections that ended between the snapshot and now
/// (those are in the store already).
fn not_stored(open: Vec<Record>, store: &Store) -> Vec<Record> {
    if open.is_empty() {
        return open;
    }
    let key = |r: &Record| (r.client.ip, r.client.port, r.server.ip, r.server.port, r.ts);
    let mut keys: FxHashSet<_> = open.iter().map(key).collect();
    for r in store.records(Table::Connection).rev() {
        if keys.is_empty() {
            break;
        }
        keys.remove(&key(r));
    }
    open.into_iter()
        .filter(|r| keys.contains(&key(r)))
        .collect()
}

/// A shard's sink in the agent: everything goes through [`Shared::ingest`].
pub struct StoreSink(pub std::sync::Arc<Shared>);

impl Sink for StoreSink {
    type Report = ();

    fn records(&mut self, records: &mut Vec<Record>, _idle: bool) -> Result<(), Stopped> {
        self.0.ingest(records);
        Ok(())
    }

    fn finish(self, _tracker: TrackerStats) {}
}
