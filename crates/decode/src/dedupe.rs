//! One packet, seen on several interfaces, counted once.
//!
//! In a node's host namespace a packet between two pods on one bridge shows
//! up twice (leaving one pod's veth, entering the other's), a routed one on
//! the pod's veth and again on the uplink, an overlay one once inside and
//! once in its VXLAN wrapper. Counting each copy would double every
//! connection's packets and look like retransmissions. A packet is a copy
//! when an identical one (addresses, ports, TCP sequence/ack/flags/window,
//! length and leading payload bytes) was seen on a *different* interface
//! within a short window; a repeat on the same interface is the network's
//! own (a retransmission) and is kept.
//!
//! It sits next to decode because it needs nothing but a decoded packet:
//! any capture of several interfaces at once wants it, not only the agent.
//!
//! Loopback is the other source of copies: the kernel hands every packet on
//! `lo` to packet sockets twice, outgoing and incoming; like libpcap, the
//! capture loop keeps only the incoming one before it gets here.

use crate::{Packet, Transport};
use rustc_hash::{FxHashMap, FxHasher};
use std::collections::VecDeque;
use std::hash::{Hash, Hasher};

/// Payload bytes that go into a fingerprint.
const PAYLOAD_PREFIX: usize = 64;

/// Recently seen packets, bounded in time and count.
pub struct Dedupe {
    window_ns: u64,
    max: usize,
    /// fingerprint -> (interface, time)
    seen: FxHashMap<u64, (u64, u64)>,
    order: VecDeque<(u64, u64)>,
    copies: u64,
}

impl Dedupe {
    /// Copies are looked for within `window_ns` of the first packet, among
    /// at most `max` remembered packets (older ones are forgotten first).
    pub fn new(window_ns: u64, max: usize) -> Dedupe {
        Dedupe {
            window_ns,
            max: max.max(1),
            seen: FxHashMap::default(),
            order: VecDeque::new(),
            copies: 0,
        }
    }

    /// Copies found so far.
    pub fn copies(&self) -> u64 {
        self.copies
    }

    /// Whether `pkt`, captured at `ts_ns` on interface `iface` (any number
    /// unique per interface), is a copy of one already seen elsewhere.
    pub fn is_copy(&mut self, iface: u64, ts_ns: u64, pkt: &Packet<'_>) -> bool {
        if self.window_ns == 0 {
            return false;
        }
        while let Some(&(fp, t)) = self.order.front() {
            if ts_ns.saturating_sub(t) <= self.window_ns && self.order.len() < self.max {
                break;
            }
            self.order.pop_front();
            if self.seen.get(&fp).is_some_and(|&(_, seen_at)| seen_at == t) {
                self.seen.remove(&fp);
            }
        }
        let fp = fingerprint(pkt);
        if let Some(&(other, t)) = self.seen.get(&fp) {
            if other != iface && ts_ns.saturating_sub(t) <= self.window_ns {
                self.copies += 1;
                return true;
            }
        }
        self.seen.insert(fp, (iface, ts_ns));
        self.order.push_back((fp, ts_ns));
        false
    }
}

fn fingerprint(pkt: &Packet<'_>) -> u64 {
    let mut h = FxHasher::default();
    pkt.src.hash(&mut h);
    pkt.dst.hash(&mut h);
    match pkt.transport {
        Transport::Tcp(t) => {
            (t.src_port, t.dst_port, t.seq, t.ack, t.flags, t.window).hash(&mut h);
        }
        Transport::Udp { src_port, dst_port } => (src_port, dst_port, 17u8).hash(&mut h),
    }
    pkt.payload_len.hash(&mut h);
    let n = pkt.payload.len().min(PAYLOAD_PREFIX);
    pkt.payload.get(..n).unwrap_or_default().hash(&mut h);
    h.finish()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::TcpHeader;

    fn tcp(seq: u32, payload: &[u8]) -> Packet<'_> {
        Packet {
            src: "10.0.0.1".parse().unwrap(),
            dst: "10.0.0.2".parse().unwrap(),
            transport: Transport::Tcp(TcpHeader {
                src_port: 40000,
                dst_port: 80,
                seq,
                ack: 1,
                flags: 0x18,
                window: 500,
            }),
            payload,
            payload_len: payload.len() as u32,
            count_only: false,
        }
    }

    #[test]
    fn same_packet_on_another_interface_is_a_copy() {
        let mut d = Dedupe::new(2_000_000, 1000);
        assert!(!d.is_copy(1, 100, &tcp(1, b"GET /")));
        assert!(d.is_copy(2, 150, &tcp(1, b"GET /")));
        assert_eq!(d.copies(), 1);
    }

    #[test]
    fn repeat_on_the_same_interface_is_a_retransmission() {
        let mut d = Dedupe::new(2_000_000, 1000);
        assert!(!d.is_copy(1, 100, &tcp(1, b"GET /")));
        assert!(!d.is_copy(1, 200, &tcp(1, b"GET /")));
    }

    #[test]
    fn outside_the_window_is_not_a_copy() {
        let mut d = Dedupe::new(2_000_000, 1000);
        assert!(!d.is_copy(1, 0, &tcp(1, b"x")));
        assert!(!d.is_copy(2, 3_000_000, &tcp(1, b"x")));
    }

    #[test]
    fn different_packets_are_not_copies() {
        let mut d = Dedupe::new(2_000_000, 1000);
        assert!(!d.is_copy(1, 0, &tcp(1, b"x")));
        assert!(!d.is_copy(2, 1, &tcp(2, b"x")));
        assert!(!d.is_copy(2, 2, &tcp(1, b"y")));
    }

    #[test]
    fn bounded_in_count() {
        let mut d = Dedupe::new(u64::MAX, 100);
        for i in 0..10_000 {
            d.is_copy(1, 0, &tcp(i, b""));
        }
        assert!(d.seen.len() <= 100 && d.order.len() <= 100);
    }
}
