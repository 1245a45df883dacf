//! IP fragment reassembly with a memory budget.
//!
//! DNS answers over UDP are the common fragmented traffic; tunnels with a
//! small MTU are the other. Wireshark reassembles both IPv4 and IPv6
//! fragments and attributes the packet to the frame that completed it, so
//! podwire does the same. Everything buffered is bounded in bytes, entries
//! and time; what is given up is counted.

use rustc_hash::FxHashMap;
use std::collections::VecDeque;
use std::net::IpAddr;

/// Limits of the fragment reassembler.
#[derive(Clone, Debug)]
pub struct DefragConfig {
    /// Bytes of fragments held at once, all datagrams together.
    pub max_bytes: usize,
    /// Datagrams in reassembly at once.
    pub max_datagrams: usize,
    /// A datagram not completed within this time (capture time) is dropped.
    pub timeout_ns: u64,
}

impl Default for DefragConfig {
    fn default() -> Self {
        DefragConfig {
            max_bytes: 4 << 20,
            max_datagrams: 4096,
            timeout_ns: 30_000_000_000,
        }
    }
}

/// What the reassembler did.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct DefragStats {
    pub reassembled: u64,
    /// Datagrams dropped incomplete: timed out, or pushed out by the budget.
    pub dropped: u64,
    /// Fragments refused: overlapping inconsistently or beyond 64 KiB.
    pub bad_fragments: u64,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub(crate) enum FragKey {
    V4 {
        src: IpAddr,
        dst: IpAddr,
        proto: u8,
        id: u16,
    },
    V6 {
        src: IpAddr,
        dst: IpAddr,
        id: u32,
    },
}

struct Datagram {
    first_ts: u64,
    /// (offset, bytes), in arrival order.
    frags: Vec<(u32, Vec<u8>)>,
    bytes: usize,
    /// Known once the last fragment (more = false) arrived.
    total: Option<u32>,
    /// The payload protocol, from the first fragment (IPv6 carries it per fragment).
    proto: u8,
}

pub(crate) struct Defragmenter {
    cfg: DefragConfig,
    table: FxHashMap<FragKey, Datagram>,
    /// Keys in arrival order, for expiry and eviction (may hold stale keys).
    order: VecDeque<(u64, FragKey)>,
    bytes: usize,
    out: Vec<u8>,
    stats: DefragStats,
}

const MAX_DATAGRAM: u32 = 65_535;
const MAX_FRAGS_PER_DATAGRAM: usize = 256;

impl Defragmenter {
    pub fn new(cfg: DefragConfig) -> Self {
        Defragmenter {
            cfg,
            table: FxHashMap::default(),
            order: VecDeque::new(),
            bytes: 0,
            out: Vec::new(),
            stats: DefragStats::default(),
        }
    }

    pub fn stats(&self) -> DefragStats {
        self.stats
    }

    /// Adds a fragment; returns the payload protocol and the whole datagram
    /// when this fragment completed it.
    pub fn add(
        &mut self,
        key: FragKey,
        ts: u64,
        offset: u32,
        more: bool,
        proto: u8,
        data: &[u8],
    ) -> Option<(u8, &[u8])> {
        self.expire(ts);
        let end = offset + data.len() as u32;
        if end > MAX_DATAGRAM || (more && !data.len().is_multiple_of(8)) {
            self.stats.bad_fragments += 1;
            return None;
        }
        if !self.table.contains_key(&key) {
            while self.table.len() >= self.cfg.max_datagrams
                || self.bytes + data.len() > self.cfg.max_bytes
            {
                if !self.evict_oldest() {
                    break;
                }
            }
            if self.bytes + data.len() > self.cfg.max_bytes {
                self.stats.dropped += 1;
                return None;
            }
            self.table.insert(
                key,
                Datagram {
                    first_ts: ts,
                    frags: Vec::new(),
                    bytes: 0,
                    total: None,
                    proto,
                },
            );
            self.order.push_back((ts, key));
        }
        let dg = self.table.get_mut(&key)?;
        if dg.frags.len() >= MAX_FRAGS_PER_DATAGRAM || self.bytes + data.len() > self.cfg.max_bytes
        {
            self.stats.bad_fragments += 1;
            return None;
        }
        if offset == 0 {
            dg.proto = proto;
        }
        if !more {
            dg.total = Some(end);
        }
        dg.frags.push((offset, data.to_vec()));
        dg.bytes += data.len();
        self.bytes += data.len();
        let total = dg.total?;
        // Complete when the fragments cover 0..total without a hole.
        dg.frags.sort_by_key(|f| f.0);
        let mut covered = 0u32;
        for (o, b) in &dg.frags {
            if *o > covered {
                return None;
            }
            covered = covered.max(o + b.len() as u32);
        }
        if covered < total {
            return None;
        }
        let dg = self.table.remove(&key)?;
        self.bytes -= dg.bytes;
        self.out.clear();
        self.out.resize(total as usize, 0);
        // Later fragments overwrite earlier ones where they overlap (first
        // arrival order is lost by the sort; overlaps are rare and suspicious).
        for (o, b) in &dg.frags {
            let o = *o as usize;
            let n = b.len().min(total as usize - o.min(total as usize));
            if let Some(dst) = self.out.get_mut(o..o + n) {
                dst.copy_from_slice(&b[..n]);
            }
        }
        self.stats.reassembled += 1;
        Some((dg.proto, &self.out))
    }

    fn expire(&mut self, now: u64) {
        while let Some(&(ts, key)) = self.order.front() {
            if now.saturating_sub(ts) < self.cfg.timeout_ns {
                break;
            }
            self.order.pop_front();
            if let Some(dg) = self.table.get(&key) {
                if dg.first_ts == ts {
                    self.bytes -= dg.bytes;
                    self.table.remove(&key);
                    self.stats.dropped += 1;
                }
            }
        }
    }

    fn evict_oldest(&mut self) -> bool {
        while let Some((ts, key)) = self.order.pop_front() {
            if let Some(dg) = self.table.get(&key) {
                if dg.first_ts == ts {
                    self.bytes -= dg.bytes;
                    self.table.remove(&key);
                    self.stats.dropped += 1;
                    return true;
                }
            }
        }
        false
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key() -> FragKey {
        FragKey::V4 {
            src: "10.0.0.1".parse().unwrap(),
            dst: "10.0.0.2".parse().unwrap(),
            proto: 17,
            id: 9,
        }
    }

    #[test]
    fn out_of_order_fragments_reassemble() {
        let mut d = Defragmenter::new(DefragConfig::default());
        assert!(d.add(key(), 0, 8, false, 17, &[2; 4]).is_none());
        let (proto, data) = d.add(key(), 1, 0, true, 17, &[1; 8]).unwrap();
        assert_eq!(proto, 17);
        assert_eq!(data, &[1, 1, 1, 1, 1, 1, 1, 1, 2, 2, 2, 2]);
        assert_eq!(d.stats().reassembled, 1);
    }

    #[test]
    fn budget_evicts_and_counts() {
        let cfg = DefragConfig {
            max_bytes: 16,
            max_datagrams: 10,
            timeout_ns: 1_000,
        };
        let mut d = Defragmenter::new(cfg);
        for id in 0..4u16 {
            let k = FragKey::V4 {
                src: "10.0.0.1".parse().unwrap(),
                dst: "10.0.0.2".parse().unwrap(),
                proto: 17,
                id,
            };
            d.add(k, 0, 0, true, 17, &[0; 8]);
        }
        assert!(d.bytes <= 16);
        assert_eq!(d.stats().dropped, 2);
    }

    #[test]
    fn timeout_drops_incomplete() {
        let cfg = DefragConfig {
            timeout_ns: 10,
            ..Default::default()
        };
        let mut d = Defragmenter::new(cfg);
        d.add(key(), 0, 0, true, 17, &[0; 8]);
        assert!(d.add(key(), 100, 8, false, 17, &[0; 8]).is_none());
        assert_eq!(d.stats().dropped, 1);
    }
}
