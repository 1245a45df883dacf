//! What the agent's threads share: the store, the kernel socket table, the
//! name cache, counters, and the shard control handle. Records from the
//! shards and from the kernel side all pass through [`Shared::ingest`]:
//! kernel facts merged, names applied, then stored.

use super::config::ServeConfig;
use super::host::Host;
use super::kernel::{KernelStats, KernelTable};
use super::kube::Kube;
use super::names::NameCache;
use super::nat::Nat;
use super::own::Own;
use super::peers::Peers;
use super::rdns::ReverseDns;
use podwire_capture_live::conntrack;
use podwire_record::Record;
use podwire_serve::metrics::{Health, Metrics};
use podwire_store::{Cursor, Filter, Store, Table};
use podwire_track::shard::{Control, Select, Sink, Stopped};
use podwire_track::TrackerStats;
use rustc_hash::FxHashSet;
use serde::Serialize;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use tokio::sync::broadcast;

/// Counters the capture side publishes (monotonic unless said otherwise).
#[derive(Default)]
pub struct Counters {
    /// Frames read from the rings.
    pub frames: AtomicU64,
    /// Packets dealt to the trackers.
    pub packets: AtomicU64,
    /// Copies of a packet already seen on another interface.
    pub copies: AtomicU64,
    /// Frames that were not TCP/UDP over IP, or loopback's outgoing copies.
    pub skipped: AtomicU64,
    /// The kernel's count of packets passed to the rings.
    pub ring_packets: AtomicU64,
    /// Packets the kernel dropped because a ring was full.
    pub ring_drops: AtomicU64,
    pub ring_errors: AtomicU64,
    pub netlink_errors: AtomicU64,
    /// Interface filter updates the kernel refused.
    pub filter_errors: AtomicU64,
    pub links_added: AtomicU64,
    pub links_removed: AtomicU64,
    /// IP datagrams whose fragments never completed.
    pub defrag_dropped: AtomicU64,
    /// eBPF events the kernel could not queue (ring buffer full).
    pub ebpf_lost: AtomicU64,
    pub ebpf_events: AtomicU64,
    /// Records a live-stream client missed because it read too slowly.
    pub stream_lagged: AtomicU64,
}

impl Counters {
    pub fn add(&self, c: &AtomicU64, n: u64) {
        if n > 0 {
            c.fetch_add(n, Ordering::Relaxed);
        }
    }

    pub fn set(&self, c: &AtomicU64, n: u64) {
        c.store(n, Ordering::Relaxed);
    }
}

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
    /// Set when the server is shutting down: streams end at once instead
    /// of holding the graceful shutdown open for as long as a client stays.
    pub stopping: tokio::sync::watch::Sender<bool>,
    pub serve: ServeConfig,
    pub peers: Peers,
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
    /// Who may read from the API.
    pub access: super::api::access::ApiAccess,
    /// The API listener's counts.
    pub listener: Arc<super::listener::ListenerCounters>,
    /// What one API client may ask.
    pub limits: super::api::limits::Limits,
    /// The host's addresses and name (live agents only).
    pub host: Arc<Host>,
    /// The agent's own API connections, left out (live agents only).
    pub own: Arc<Own>,
    /// The TLS plaintext thread's counters, when it runs.
    pub tls: Option<Arc<super::tls::TlsCounters>>,
    /// What "now" is for relative times (`since=5m`, the UI's windows).
    pub clock: Clock,
    /// OpenTelemetry export (`--otlp-endpoint`), fed every named record.
    pub otlp: Option<Arc<podwire_otlp::Exporter>>,
}

/// Where relative times count back from: the wall clock when watching
/// live; for capture files (`read --serve`), the end of the capture (its
/// newest packet), so "the last 5 minutes" of a capture made last week are
/// its own last five minutes, not nothing.
pub enum Clock {
    Wall,
    /// Nanoseconds since the epoch, set once the files are read.
    CaptureEnd(AtomicU64),
}

impl Clock {
    /// `live` or `capture`, as `/api/v1/status` says it.
    pub fn mode(&self) -> &'static str {
        match self {
            Clock::Wall => "live",
            Clock::CaptureEnd(_) => "capture",
        }
    }
}

/// A poisoned lock means a thread panicked mid-update; the data is still
/// the best there is, so keep serving it.
pub use podwire_sync::lock;

impl Shared {
    /// State for serving records from elsewhere than live capture
    /// (`podwire read --serve`): no capture sources, no kernel sockets.
    pub fn offline(store: Store, serve: ServeConfig) -> Shared {
        let not_live = Status {
            running: false,
            error: Some("reading capture files".into()),
        };
        let sources = Sources {
            packets: not_live.clone(),
            ebpf: not_live,
            ebpf_hook: None,
            tls_plaintext: Status::default(),
        };
        Shared {
            clock: Clock::CaptureEnd(AtomicU64::new(0)),
            ..Shared::new(
                store,
                KernelTable::new(Default::default(), 0),
                sources,
                serve,
            )
        }
    }

    /// Now, by [`Clock`]: where relative times count back from.
    pub fn now(&self) -> podwire_record::Timestamp {
        match &self.clock {
            Clock::Wall => super::probe::now(),
            Clock::CaptureEnd(t) => podwire_record::Timestamp(t.load(Ordering::Relaxed)),
        }
    }

    /// The capture's end, once its files are read (offline only).
    pub fn set_capture_end(&self, end: podwire_record::Timestamp) {
        if let Clock::CaptureEnd(t) = &self.clock {
            t.store(end.0, Ordering::Relaxed);
        }
    }

    /// Everything empty but the given parts.
    pub fn new(store: Store, kernel: KernelTable, sources: Sources, serve: ServeConfig) -> Shared {
        Shared {
            store: Mutex::new(store),
            kernel: Mutex::new(kernel),
            names: Mutex::new(NameCache::new(super::MAX_NAMES)),
            counters: Counters::default(),
            interfaces: Arc::new(Mutex::new(Vec::new())),
            control: Mutex::new(None),
            sources: Mutex::new(sources),
            metrics: Metrics::new(serve.metrics.clone()),
            stream: broadcast::channel(super::STREAM_BACKLOG).0,
            stopping: tokio::sync::watch::channel(false).0,
            peers: Peers::new(
                serve.peers.clone(),
                serve.peer_timeout,
                serve.peer_concurrency,
            ),
            serve,
            kube: None,
            rdns: None,
            nat: None,
            captures: None,
            access: Default::default(),
            listener: Arc::default(),
            limits: super::api::limits::Limits::new(),
            deferred: Default::default(),
            host: Arc::new(Host::none()),
            own: Arc::new(Own::off()),
            tls: None,
            clock: Clock::Wall,
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

    /// Names endpoints from Kubernetes too.
    pub fn with_kube(mut self, kube: Option<Arc<Kube>>) -> Shared {
        if let Some(k) = &kube {
            let k = Arc::clone(k);
            self.peers
                .set_discover(Arc::new(move |ns, svc| k.service_endpoints(ns, svc)));
        }
        self.kube = kube;
        self
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

    /// The agent's own figures, for `/metrics`.
    pub fn health(&self) -> Health {
        let c = &self.counters;
        let get = |a: &AtomicU64| a.load(Ordering::Relaxed);
        let tracker = self.tracker_stats();
        let store = lock(&self.store).stats();
        Health {
            packets_total: get(&c.packets),
            packets_dropped_total: get(&c.ring_drops),
            packets_duplicate_total: get(&c.copies),
            ebpf_events_total: get(&c.ebpf_events),
            ebpf_events_lost_total: get(&c.ebpf_lost),
            tracked_connections: tracker.open,
            tracker_evicted_total: tracker.evicted,
            tls_decrypted_total: tracker.parsers.tls_decrypted,
            tls_no_key_total: tracker.parsers.tls_no_key,
            tls_auth_failed_total: tracker.parsers.tls_auth_failed,
            store: store
                .tables
                .iter()
                .map(|t| {
                    (
                        t.table.name(),
                        t.records as u64,
                        t.bytes as u64,
                        t.budget_bytes as u64,
                        t.dropped_records_total,
                    )
                })
                .collect(),
            resident_memory_bytes: resident_bytes(),
            stream_lagged_total: get(&c.stream_lagged),
            requests_not_deferred_total: self.deferred.overflow(),
            kubernetes: self.kube.as_ref().map(|k| k.health()),
            reverse_dns: self
                .rdns
                .as_ref()
                .map(|r| (get(&r.queries), get(&r.dropped))),
            captures: self.captures.as_ref().map(|c| c.health()),
            api: self.api_health(),
            own_left_out: self.own.left_out(),
            tls_plaintext: self
                .tls
                .as_ref()
                .map(|t| podwire_serve::metrics::TlsPlaintextHealth {
                    libraries: get(&t.libraries),
                    calls_total: tracker.tls_plaintext_calls,
                    untracked_total: tracker.tls_plaintext_dropped,
                    unattributed_total: get(&t.unattributed),
                    lost_total: get(&t.lost),
                }),
            otlp: self.otlp.as_ref().map(|e| crate::otlp::health(e)),
        }
    }

    fn api_health(&self) -> podwire_serve::metrics::ApiHealth {
        let get = |a: &AtomicU64| a.load(Ordering::Relaxed);
        let (a, l, m) = (&self.access.counters, &self.listener, &self.limits.counters);
        podwire_serve::metrics::ApiHealth {
            unauthenticated_total: get(&a.unauthenticated),
            forbidden_total: get(&a.forbidden),
            unavailable_total: get(&a.unavailable),
            connections_refused_total: get(&l.refused_busy),
            tls_handshake_failures_total: get(&l.tls_handshake_failures),
            certificate_reloads_total: get(&l.certificate_reloads),
            rate_limited_total: get(&m.rate_limited),
            target_too_long_total: get(&m.target_too_long),
            streams_refused_total: get(&m.streams_refused),
            streams_dropped_slow_total: get(&m.streams_dropped_slow),
        }
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

/// Resident set size of this process (0 where /proc cannot tell).
fn resident_bytes() -> u64 {
    let pages = std::fs::read_to_string("/proc/self/statm")
        .ok()
        .and_then(|s| s.split_whitespace().nth(1)?.parse::<u64>().ok())
        .unwrap_or(0);
    // SAFETY: sysconf has no preconditions.
    let page = unsafe { libc::sysconf(libc::_SC_PAGESIZE) };
    pages * u64::try_from(page).unwrap_or(4096)
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
