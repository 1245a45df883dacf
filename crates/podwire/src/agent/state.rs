//! What the agent's threads share: the store, the kernel socket table, the
//! name cache, counters, and the shard control handle. Records from the
//! shards and from the kernel side all pass through [`Shared::ingest`]:
//! kernel facts merged, names applied, then stored.

use super::kernel::{KernelStats, KernelTable};
use super::names::NameCache;
use crate::pipeline::shard::{Control, Select, Sink, Stopped};
use podwire_record::Record;
use podwire_store::{Filter, Store, Table};
use podwire_track::TrackerStats;
use rustc_hash::FxHashSet;
use serde::Serialize;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};

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
}

/// A poisoned lock means a thread panicked mid-update; the data is still
/// the best there is, so keep serving it.
pub fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

impl Shared {
    /// Merges, names and stores finished records (drains `records`).
    pub fn ingest(&self, records: &mut Vec<Record>) {
        if records.is_empty() {
            return;
        }
        {
            let mut k = lock(&self.kernel);
            for r in records.iter_mut() {
                k.merge(r);
            }
        }
        {
            let mut n = lock(&self.names);
            for r in records.iter_mut() {
                n.process(r);
            }
        }
        let mut s = lock(&self.store);
        for r in records.drain(..) {
            s.insert(r);
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
        let select: Select = Arc::new(move |rec: &mut Record| {
            lock(&shared.kernel).merge(rec);
            lock(&shared.names).process(rec);
            f.matches(rec)
        });
        let mut open = match control {
            Some(c) => c.snapshot(select, filter.limit),
            None => Vec::new(),
        };
        // Lock order: kernel, then names (nothing takes them the other way).
        let only_kernel = lock(&self.kernel).open_records(generation, |r| {
            lock(&self.names).process(r);
            filter.matches(r)
        });
        open.extend(only_kernel);
        open
    }

    /// The trackers' counters (without building any record).
    pub fn tracker_stats(&self) -> TrackerStats {
        let control = lock(&self.control).clone();
        control.map(|c| c.stats()).unwrap_or_default()
    }

    /// A table as a JSON array; for connections, the open ones too.
    pub fn query(self: &Arc<Self>, table: Table, filter: &Filter) -> Vec<u8> {
        let open = match table {
            Table::Connection => self.open_connections(filter),
            _ => Vec::new(),
        };
        let mut out = Vec::with_capacity(64 << 10);
        let store = lock(&self.store);
        // A connection that ended between the snapshot and now is in both.
        let open = if open.is_empty() {
            open
        } else {
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
        };
        store.write_json(table, filter, &open, &mut out);
        out
    }

    pub fn kernel_stats(&self) -> KernelStats {
        lock(&self.kernel).stats()
    }
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
