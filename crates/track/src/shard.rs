//! Tracker shards: the cores' share of the pipeline, for files and live.
//!
//! It lives next to the tracker because it is the tracker's parallel form:
//! nothing in it knows of `podwire read` or the agent, which plug in their
//! own [`Sink`] (and, live, a snapshot [`Select`]).
//!
//! The thread that decodes frames deals packets to shards by a hash of
//! their flow that is the same in both directions, so each connection (and
//! each DNS query with its answer) lives in exactly one shard's tracker.
//! A hash spreads many flows evenly but few flows badly (four connections
//! fell three to one, so one core did three quarters of the work): with
//! [`Shards::balance`] (`podwire read`) the dealer instead gives the first
//! flows it sees to the shards in turn and remembers where each went, up
//! to a bound past which new flows are hashed again. It is not the
//! default because live, [`Control::plaintext`] must find a flow's shard
//! from another thread, by the hash alone. A
//! shard tracks and parses, and hands the records it finishes to its
//! [`Sink`]: `podwire read` encodes and writes them, the agent enriches and
//! stores them. Packets travel in batches: headers in a vector, payloads
//! copied into one byte arena, both reused.
//!
//! Live, shards also take a clock tick (so idle connections end on time
//! when no packets come), snapshot requests (the API's open connections)
//! and the TLS probe's plaintext (to the shard of its connection, by the
//! same hash), through the same queue as packets, so a snapshot never
//! races a batch.

use crate::{Plaintext, Tracker, TrackerConfig, TrackerStats};
use podwire_decode::{Packet, Transport};
use podwire_record::{Record, Timestamp};
use rustc_hash::{FxHashMap, FxHasher};
use std::hash::{Hash, Hasher};
use std::io;
use std::net::{IpAddr, SocketAddr};
use std::ops::Range;
use std::sync::mpsc::{self, Receiver, Sender, SyncSender};
use std::sync::Arc;
use std::thread::JoinHandle;

/// Packets per batch, and payload bytes per batch, before it is sent.
/// Every batch queued, in work or spare keeps its arena, so the bytes bound
/// is most of what the pipeline holds: at 1 MiB it was 12 MiB of the peak
/// RSS with two shards; at 256 KiB a batch is still a few hundred packets
/// and its hand-over cost (a channel message) is lost in their parsing.
const BATCH_PACKETS: usize = 1024;
const BATCH_BYTES: usize = 256 << 10;
/// Messages queued per shard.
const IN_FLIGHT: usize = 4;
/// Connections reported per step when the input ends.
const FLUSH_CHUNK: usize = 4096;
/// Records a shard hands its sink at once. Few, so that they are encoded
/// while still in cache and their strings freed soon after they were
/// allocated (the allocator's per-thread cache then serves the next
/// record's); a sink call costs little more than a check.
const RECORDS_HANDED: usize = 32;
/// Flows the balancing dealer remembers (16 bytes and a control byte
/// each, so about 100 KiB when full). Beyond, new flows are hashed: with
/// that many, a hash spreads them well.
const BALANCED_FLOWS: usize = 4096;

/// A decoded packet, owned, minus its payload (which is in the arena).
struct Meta {
    ts: Timestamp,
    frame_len: u32,
    src: IpAddr,
    dst: IpAddr,
    transport: Transport,
    payload: Range<usize>,
    payload_len: u32,
    count_only: bool,
}

#[derive(Default)]
struct Batch {
    meta: Vec<Meta>,
    bytes: Vec<u8>,
}

impl Batch {
    fn full(&self) -> bool {
        self.meta.len() >= BATCH_PACKETS || self.bytes.len() >= BATCH_BYTES
    }
}

enum Msg {
    Batch(Batch),
    /// Wall-clock time, live only.
    Tick(Timestamp),
    /// Open connections as they stand: those `select` keeps, newest
    /// `limit` of them.
    Snapshot {
        select: Select,
        limit: usize,
        reply: Sender<Vec<Record>>,
    },
    /// The tracker's counters.
    Stats(Sender<TrackerStats>),
    /// Plaintext a TLS library moved, live only.
    Plaintext(Vec<OwnedPlaintext>),
}

/// A [`Plaintext`] that owns its bytes, to cross to a shard.
#[derive(Clone, Debug)]
pub struct OwnedPlaintext {
    pub ts: Timestamp,
    pub local: SocketAddr,
    pub remote: SocketAddr,
    pub sent: bool,
    pub data: Vec<u8>,
    pub missing: u32,
}

impl OwnedPlaintext {
    fn borrow(&self) -> Plaintext<'_> {
        Plaintext {
            ts: self.ts,
            local: self.local,
            remote: self.remote,
            sent: self.sent,
            data: &self.data,
            missing: self.missing,
        }
    }
}

/// Decides which open connections a snapshot returns, and may add to them
/// (names, kernel facts) first. Called once per tracked connection, on the
/// shard's thread.
pub type Select = Arc<dyn Fn(&mut Record) -> bool + Send + Sync>;

/// Where a shard's records go.
pub trait Sink: Send + 'static {
    /// What the sink reports when the shard ends.
    type Report: Send + 'static;
    /// Takes (drains) records the tracker finished. `idle`: the input has
    /// paused (a partial batch or a clock tick), a good moment to write out
    /// what was gathered. An error stops the shard.
    fn records(&mut self, records: &mut Vec<Record>, idle: bool) -> Result<(), Stopped>;
    /// The input ended and everything was flushed.
    fn finish(self, tracker: TrackerStats) -> Self::Report;
}

/// The shards stopped taking packets (their sink failed, or they are gone).
#[derive(Debug)]
pub struct Stopped;

/// A handle that can ask every shard for its open connections; clonable,
/// usable from any thread while the shards run.
#[derive(Clone)]
pub struct Control {
    senders: Vec<SyncSender<Msg>>,
}

impl Control {
    /// Moves every shard's clock to `now` (ends idle connections).
    /// Skips a shard whose queue is full: it is busy with packets, whose
    /// timestamps move its clock anyway.
    pub fn tick(&self, now: Timestamp) {
        for s in &self.senders {
            let _ = s.try_send(Msg::Tick(now));
        }
    }

    /// The open connections `select` keeps, at most `limit` per shard (the
    /// newest), so an answer's memory is bounded by the limit rather than
    /// by the table. Blocks until every live shard answered.
    pub fn snapshot(&self, select: Select, limit: usize) -> Vec<Record> {
        let (tx, rx) = mpsc::channel();
        let asked = self
            .senders
            .iter()
            .filter(|s| {
                s.send(Msg::Snapshot {
                    select: Arc::clone(&select),
                    limit,
                    reply: tx.clone(),
                })
                .is_ok()
            })
            .count();
        drop(tx);
        rx.iter().take(asked).flatten().collect()
    }

    /// Deals plaintext to the shards of its connections. Blocks while a
    /// shard's queue is full (the probe's ring then holds, or counts, the
    /// rest).
    pub fn plaintext(&self, calls: Vec<OwnedPlaintext>) {
        let n = self.senders.len();
        let mut per: Vec<Vec<OwnedPlaintext>> = (0..n).map(|_| Vec::new()).collect();
        for c in calls {
            let i = flow_shard(
                (c.local.ip().to_canonical(), c.local.port()),
                (c.remote.ip().to_canonical(), c.remote.port()),
                n,
            );
            per[i].push(c);
        }
        for (s, calls) in self.senders.iter().zip(per) {
            if !calls.is_empty() {
                let _ = s.send(Msg::Plaintext(calls));
            }
        }
    }

    /// The trackers' counters, summed. Blocks until every live shard answered.
    pub fn stats(&self) -> TrackerStats {
        let (tx, rx) = mpsc::channel();
        let asked = self
            .senders
            .iter()
            .filter(|s| s.send(Msg::Stats(tx.clone())).is_ok())
            .count();
        drop(tx);
        let mut total = TrackerStats::default();
        for s in rx.iter().take(asked) {
            add_stats(&mut total, &s);
        }
        total
    }
}

/// Sums shard counters (gauges too: the shards split one table).
pub fn add_stats(total: &mut TrackerStats, s: &TrackerStats) {
    total.tcp_connections += s.tcp_connections;
    total.udp_flows += s.udp_flows;
    total.evicted += s.evicted;
    total.reassembly_limit_hits += s.reassembly_limit_hits;
    total.reassembly_buffered += s.reassembly_buffered;
    total.dns_malformed += s.dns_malformed;
    total.dns_evicted += s.dns_evicted;
    total.dns_unnamed += s.dns_unnamed;
    total.open += s.open;
    total.tls_plaintext_calls += s.tls_plaintext_calls;
    total.tls_plaintext_dropped += s.tls_plaintext_dropped;
    total.parsers.add(&s.parsers);
}

/// The dealer's handle on the shards.
pub struct Shards<R> {
    control: Control,
    pending: Vec<Batch>,
    free: Receiver<Batch>,
    handles: Vec<JoinHandle<R>>,
    /// Where flows were dealt, when balancing.
    balance: Option<Balance>,
}

/// Flows dealt in turn, remembered by their direction-free hash. Entries
/// are never removed, so a flow first seen while the table had room stays
/// in it, and one first seen when it was full is hashed for its whole
/// life: either way both directions and every packet of a flow reach the
/// same shard. Two flows whose hashes collide share an entry, and a shard.
struct Balance {
    shard_of: FxHashMap<u64, u32>,
    next: u32,
}

impl<R: Send + 'static> Shards<R> {
    /// Starts one shard per sink; each gets `1/n` of the tracker's bounds.
    pub fn start<S: Sink<Report = R>>(
        sinks: Vec<S>,
        tracker: &TrackerConfig,
        name: &str,
    ) -> io::Result<Shards<R>> {
        let n = sinks.len().max(1);
        let (free_tx, free) = mpsc::sync_channel(n * (IN_FLIGHT + 2));
        let mut senders = Vec::with_capacity(n);
        let mut handles = Vec::with_capacity(n);
        for (i, sink) in sinks.into_iter().enumerate() {
            let (tx, rx) = mpsc::sync_channel::<Msg>(IN_FLIGHT);
            let mut t = tracker.clone();
            t.max_connections = (t.max_connections / n).max(1);
            t.max_buffered_total /= n;
            let free_tx = free_tx.clone();
            let handle = std::thread::Builder::new()
                .name(format!("{name}-{i}"))
                .spawn(move || run(rx, free_tx, t, sink))?;
            senders.push(tx);
            handles.push(handle);
        }
        let pending = (0..senders.len()).map(|_| Batch::default()).collect();
        Ok(Shards {
            control: Control { senders },
            pending,
            free,
            handles,
            balance: None,
        })
    }

    /// Deals new flows to the shards in turn rather than by hash (see the
    /// module docs). Only for a dealer whose flows never reach the shards
    /// another way: [`Control::plaintext`] still goes by hash.
    pub fn balance(&mut self) {
        if self.pending.len() > 1 {
            self.balance = Some(Balance {
                shard_of: FxHashMap::default(),
                next: 0,
            });
        }
    }

    /// A handle for ticks and snapshots from other threads.
    pub fn control(&self) -> Control {
        self.control.clone()
    }

    /// Deals one packet to its flow's shard.
    pub fn push(&mut self, ts: Timestamp, frame_len: u32, pkt: &Packet<'_>) -> Result<(), Stopped> {
        let n = self.pending.len();
        let i = match &mut self.balance {
            None => shard_of(pkt, n),
            Some(b) => b.shard(flow_hash_of(pkt), n),
        };
        let Some(batch) = self.pending.get_mut(i) else {
            return Err(Stopped);
        };
        let start = batch.bytes.len();
        // Count-only packets are never read past their headers.
        if !pkt.count_only {
            batch.bytes.extend_from_slice(pkt.payload);
        }
        batch.meta.push(Meta {
            ts,
            frame_len,
            src: pkt.src,
            dst: pkt.dst,
            transport: pkt.transport,
            payload: start..batch.bytes.len(),
            payload_len: pkt.payload_len,
            count_only: pkt.count_only,
        });
        if batch.full() {
            self.send(i)?;
        }
        Ok(())
    }

    /// Sends every partly filled batch (so a slow live input is not held back).
    pub fn flush(&mut self) -> Result<(), Stopped> {
        for i in 0..self.pending.len() {
            if !self.pending[i].meta.is_empty() {
                self.send(i)?;
            }
        }
        Ok(())
    }

    fn send(&mut self, i: usize) -> Result<(), Stopped> {
        let spare = self.free.try_recv().unwrap_or_default();
        let batch = std::mem::replace(&mut self.pending[i], spare);
        self.control.senders[i]
            .send(Msg::Batch(batch))
            .map_err(|_| Stopped)
    }

    /// Sends what is pending, lets the shards finish and collects their
    /// reports. Shards end when every [`Control`] handle is gone too.
    pub fn finish(mut self) -> Vec<R> {
        let _ = self.flush();
        self.control.senders.clear();
        // A shard that panicked reports nothing; its records up to then are out.
        self.handles
            .into_iter()
            .filter_map(|h| h.join().ok())
            .collect()
    }
}

impl Balance {
    /// The shard of the flow hashed `h`, dealing it the next one if new.
    fn shard(&mut self, h: u64, n: usize) -> usize {
        if let Some(&i) = self.shard_of.get(&h) {
            return i as usize;
        }
        if self.shard_of.len() >= BALANCED_FLOWS {
            return hash_shard(h, n);
        }
        let i = self.next % n.max(1) as u32;
        self.next = (i + 1) % n.max(1) as u32;
        self.shard_of.insert(h, i);
        i as usize
    }
}

/// The shard of a packet's flow: the same for both directions.
fn shard_of(pkt: &Packet<'_>, n: usize) -> usize {
    if n <= 1 {
        return 0;
    }
    hash_shard(flow_hash_of(pkt), n)
}

/// The direction-free hash of a packet's flow.
fn flow_hash_of(pkt: &Packet<'_>) -> u64 {
    let (sp, dp) = pkt.transport.ports();
    flow_hash((pkt.src, sp), (pkt.dst, dp))
}

/// The shard of the flow between `a` and `b`, either way round.
fn flow_shard(a: (IpAddr, u16), b: (IpAddr, u16), n: usize) -> usize {
    if n <= 1 {
        return 0;
    }
    hash_shard(flow_hash(a, b), n)
}

/// A hash of the flow between `a` and `b`, the same either way round.
fn flow_hash(a: (IpAddr, u16), b: (IpAddr, u16)) -> u64 {
    let mut h = FxHasher::default();
    if a <= b {
        (a, b).hash(&mut h);
    } else {
        (b, a).hash(&mut h);
    }
    h.finish()
}

fn hash_shard(x: u64, n: usize) -> usize {
    // Fx's low bits are weak; mix the high ones in.
    ((x ^ (x >> 32)) % n.max(1) as u64) as usize
}

fn run<S: Sink>(
    rx: Receiver<Msg>,
    free: SyncSender<Batch>,
    cfg: TrackerConfig,
    mut sink: S,
) -> S::Report {
    let mut tracker = Tracker::new(cfg);
    let mut records = Vec::new();
    for msg in rx {
        let res = match msg {
            Msg::Batch(mut batch) => {
                let partial = !batch.full();
                let res = track_batch(&mut tracker, &batch, &mut records, &mut sink);
                batch.meta.clear();
                batch.bytes.clear();
                // The dealer may already have enough spare batches.
                let _ = free.try_send(batch);
                res.and_then(|()| sink.records(&mut records, partial))
            }
            Msg::Tick(now) => {
                tracker.advance(now, &mut records);
                sink.records(&mut records, true)
            }
            Msg::Snapshot {
                select,
                limit,
                reply,
            } => {
                let _ = reply.send(newest_open(&tracker, &select, limit));
                Ok(())
            }
            Msg::Stats(reply) => {
                let _ = reply.send(tracker.stats());
                Ok(())
            }
            Msg::Plaintext(calls) => {
                for c in &calls {
                    tracker.plaintext(&c.borrow(), &mut records);
                }
                sink.records(&mut records, true)
            }
        };
        if res.is_err() {
            return sink.finish(tracker.stats());
        }
    }
    // A piece at a time, so a full table does not become records all at once.
    loop {
        let more = tracker.flush_some(FLUSH_CHUNK, &mut records);
        if sink.records(&mut records, !more).is_err() || !more {
            break;
        }
    }
    sink.finish(tracker.stats())
}

/// The newest `limit` open connections `select` keeps, holding at most
/// twice `limit` records at a time.
fn newest_open(tracker: &Tracker, select: &Select, limit: usize) -> Vec<Record> {
    let limit = limit.max(1);
    let mut keep: Vec<Record> = Vec::new();
    let trim = |keep: &mut Vec<Record>| {
        keep.sort_unstable_by_key(|r| std::cmp::Reverse(r.ts));
        keep.truncate(limit);
    };
    tracker.for_each_open(|mut rec| {
        if select(&mut rec) {
            keep.push(rec);
            if keep.len() >= 2 * limit {
                trim(&mut keep);
            }
        }
    });
    trim(&mut keep);
    keep
}

fn track_batch<S: Sink>(
    tracker: &mut Tracker,
    batch: &Batch,
    records: &mut Vec<Record>,
    sink: &mut S,
) -> Result<(), Stopped> {
    for m in &batch.meta {
        let payload = batch.bytes.get(m.payload.clone()).unwrap_or(&[]);
        let pkt = Packet {
            src: m.src,
            dst: m.dst,
            transport: m.transport,
            payload,
            payload_len: m.payload_len,
            count_only: m.count_only,
        };
        tracker.packet(m.ts, m.frame_len, &pkt, records);
        if records.len() >= RECORDS_HANDED {
            sink.records(records, false)?;
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn both_directions_of_a_flow_go_to_one_shard() {
        let client: IpAddr = "10.0.0.1".parse().unwrap();
        let server: IpAddr = "fd00::2".parse().unwrap();
        for n in 1..9 {
            for port in 40_000..40_200u16 {
                let there = flow_shard((client, port), (server, 443), n);
                assert_eq!(there, flow_shard((server, 443), (client, port), n));
                assert!(there < n);
            }
        }
    }

    fn udp(src: (IpAddr, u16), dst: (IpAddr, u16)) -> Packet<'static> {
        Packet {
            src: src.0,
            dst: dst.0,
            transport: Transport::Udp {
                src_port: src.1,
                dst_port: dst.1,
            },
            payload: &[],
            payload_len: 0,
            count_only: false,
        }
    }

    #[test]
    fn balancing_deals_few_flows_evenly_and_keeps_each_in_one_shard() {
        let client: IpAddr = "10.0.0.1".parse().unwrap();
        let server: IpAddr = "10.0.0.2".parse().unwrap();
        let mut b = Balance {
            shard_of: FxHashMap::default(),
            next: 0,
        };
        // Four connections, interleaved, both directions: two per shard.
        let mut per = [0u32; 2];
        let mut first = std::collections::HashMap::new();
        for round in 0..3 {
            for port in [50_000u16, 50_001, 50_002, 50_003] {
                let out = b.shard(flow_hash_of(&udp((client, port), (server, 80))), 2);
                let back = b.shard(flow_hash_of(&udp((server, 80), (client, port))), 2);
                assert_eq!(out, back);
                assert_eq!(*first.entry(port).or_insert(out), out);
                if round == 0 {
                    per[out] += 1;
                }
            }
        }
        assert_eq!(per, [2, 2]);
    }

    #[test]
    fn balancing_hashes_flows_beyond_its_bound_for_their_whole_life() {
        let client: IpAddr = "fd00::1".parse().unwrap();
        let server: IpAddr = "fd00::2".parse().unwrap();
        let mut b = Balance {
            shard_of: FxHashMap::default(),
            next: 0,
        };
        let n = 3;
        let flows = BALANCED_FLOWS as u16 + 500;
        let mut dealt = Vec::new();
        for port in 1..=flows {
            dealt.push(b.shard(flow_hash_of(&udp((client, port), (server, 53))), n));
        }
        assert_eq!(b.shard_of.len(), BALANCED_FLOWS);
        for (port, &was) in (1..=flows).zip(&dealt) {
            let again = b.shard(flow_hash_of(&udp((server, 53), (client, port))), n);
            assert_eq!(again, was, "port {port}");
        }
        // The last ones went by hash.
        let last = flow_hash_of(&udp((client, flows), (server, 53)));
        assert_eq!(dealt.last().copied(), Some(hash_shard(last, n)));
    }

    #[test]
    fn flows_spread_over_every_shard() {
        let client: IpAddr = "10.0.0.1".parse().unwrap();
        let server: IpAddr = "10.0.0.2".parse().unwrap();
        let mut per = [0u32; 4];
        for port in 40_000..41_000u16 {
            per[flow_shard((client, port), (server, 80), 4)] += 1;
        }
        // 1,000 flows over 4 shards: none empty, none with half of them.
        assert!(per.iter().all(|&k| k > 100 && k < 500), "{per:?}");
    }
}
