//! Tracker shards: the cores' share of `podwire read`.
//!
//! The reading thread decodes frames and deals packets to shards by a hash
//! of their flow that is the same in both directions, so each connection
//! (and each DNS query with its answer) lives in exactly one shard's
//! tracker. A shard tracks, parses and encodes its records itself and
//! writes whole lines to the shared [`Output`]. Packets travel in batches:
//! headers in a vector, payloads copied into one byte arena, both reused.

use crate::cli::{Format, Kind};
use crate::output::{self, Output};
use podwire_decode::{Packet, Transport};
use podwire_record::{Record, Timestamp};
use podwire_track::{Tracker, TrackerConfig, TrackerStats};
use rustc_hash::FxHasher;
use std::collections::BTreeMap;
use std::hash::{Hash, Hasher};
use std::io;
use std::net::IpAddr;
use std::ops::Range;
use std::sync::mpsc::{self, Receiver, SyncSender};
use std::sync::Arc;
use std::thread::JoinHandle;

/// Packets per batch, and payload bytes per batch, before it is sent.
const BATCH_PACKETS: usize = 2048;
const BATCH_BYTES: usize = 1 << 20;
/// Batches queued per shard.
const IN_FLIGHT: usize = 4;
/// Connections reported per step when the input ends.
const FLUSH_CHUNK: usize = 4096;
/// Encoded output a shard gathers before writing it.
const OUT_BYTES: usize = 256 << 10;

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

/// What a shard saw, for the summary.
#[derive(Default)]
pub struct ShardReport {
    pub records: BTreeMap<&'static str, u64>,
    pub tracker: TrackerStats,
}

/// What every shard is told.
#[derive(Clone)]
pub struct ShardConfig {
    pub tracker: TrackerConfig,
    pub format: Format,
    pub only: Vec<Kind>,
}

/// The reader's handle on the shards.
pub struct Shards {
    senders: Vec<SyncSender<Batch>>,
    pending: Vec<Batch>,
    free: Receiver<Batch>,
    handles: Vec<JoinHandle<ShardReport>>,
}

/// The shards stopped taking packets (output failed).
#[derive(Debug)]
pub struct Stopped;

impl Shards {
    /// Starts `n` shards; each gets `1/n` of the tracker's bounds.
    pub fn start(n: usize, cfg: &ShardConfig, out: Arc<Output>) -> io::Result<Shards> {
        let n = n.max(1);
        let (free_tx, free) = mpsc::sync_channel(n * (IN_FLIGHT + 2));
        let mut senders = Vec::with_capacity(n);
        let mut handles = Vec::with_capacity(n);
        for i in 0..n {
            let (tx, rx) = mpsc::sync_channel::<Batch>(IN_FLIGHT);
            let mut scfg = cfg.clone();
            let t = &mut scfg.tracker;
            t.max_connections = (t.max_connections / n).max(1);
            t.max_buffered_total /= n;
            let out = Arc::clone(&out);
            let free_tx = free_tx.clone();
            let handle = std::thread::Builder::new()
                .name(format!("podwire-shard-{i}"))
                .spawn(move || run(rx, free_tx, scfg, &out))?;
            senders.push(tx);
            handles.push(handle);
        }
        let pending = (0..n).map(|_| Batch::default()).collect();
        Ok(Shards {
            senders,
            pending,
            free,
            handles,
        })
    }

    /// Deals one packet to its flow's shard.
    pub fn push(&mut self, ts: Timestamp, frame_len: u32, pkt: &Packet<'_>) -> Result<(), Stopped> {
        let i = shard_of(pkt, self.senders.len());
        let batch = &mut self.pending[i];
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
        for i in 0..self.senders.len() {
            if !self.pending[i].meta.is_empty() {
                self.send(i)?;
            }
        }
        Ok(())
    }

    fn send(&mut self, i: usize) -> Result<(), Stopped> {
        let spare = self.free.try_recv().unwrap_or_default();
        let batch = std::mem::replace(&mut self.pending[i], spare);
        self.senders[i].send(batch).map_err(|_| Stopped)
    }

    /// Sends what is pending, lets the shards finish and collects their reports.
    pub fn finish(mut self) -> Vec<ShardReport> {
        let _ = self.flush();
        self.senders.clear();
        // A shard that panicked reports nothing; its records up to then are out.
        self.handles
            .into_iter()
            .filter_map(|h| h.join().ok())
            .collect()
    }
}

/// The shard of a packet's flow: the same for both directions.
fn shard_of(pkt: &Packet<'_>, n: usize) -> usize {
    if n == 1 {
        return 0;
    }
    let (sp, dp) = pkt.transport.ports();
    let a = (pkt.src, sp);
    let b = (pkt.dst, dp);
    let mut h = FxHasher::default();
    if a <= b {
        (a, b).hash(&mut h);
    } else {
        (b, a).hash(&mut h);
    }
    // Fx's low bits are weak; mix the high ones in.
    let x = h.finish();
    ((x ^ (x >> 32)) % n as u64) as usize
}

fn run(
    rx: Receiver<Batch>,
    free: SyncSender<Batch>,
    cfg: ShardConfig,
    out: &Output,
) -> ShardReport {
    let mut tracker = Tracker::new(cfg.tracker.clone());
    let mut report = ShardReport::default();
    let mut records = Vec::new();
    let mut buf = Vec::with_capacity(OUT_BYTES + (64 << 10));
    for mut batch in rx {
        let partial = !batch.full();
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
            tracker.packet(m.ts, m.frame_len, &pkt, &mut records);
            if !records.is_empty() {
                encode(&cfg, &mut records, &mut buf, &mut report);
                if buf.len() >= OUT_BYTES && write(out, &mut buf).is_err() {
                    return report;
                }
            }
        }
        batch.meta.clear();
        batch.bytes.clear();
        // The reader may already have enough spare batches.
        let _ = free.try_send(batch);
        if partial && write(out, &mut buf).is_err() {
            return report;
        }
    }
    // A piece at a time, so a full table does not become records all at once.
    loop {
        let more = tracker.flush_some(FLUSH_CHUNK, &mut records);
        encode(&cfg, &mut records, &mut buf, &mut report);
        if write(out, &mut buf).is_err() || !more {
            break;
        }
    }
    report.tracker = tracker.stats();
    report
}

fn encode(
    cfg: &ShardConfig,
    records: &mut Vec<Record>,
    buf: &mut Vec<u8>,
    report: &mut ShardReport,
) {
    for rec in records.drain(..) {
        if wants(&cfg.only, &rec) {
            *report.records.entry(rec.kind).or_default() += 1;
            output::encode(cfg.format, &rec, buf);
        }
    }
}

fn write(out: &Output, buf: &mut Vec<u8>) -> Result<(), output::Stopped> {
    let res = out.write(buf);
    buf.clear();
    res
}

fn wants(only: &[Kind], rec: &Record) -> bool {
    only.is_empty()
        || only.iter().any(|k| {
            rec.kind
                == match k {
                    Kind::Connection => "connection",
                    Kind::Tls => "tls",
                    Kind::Http => "http",
                    Kind::Dns => "dns",
                }
        })
}
