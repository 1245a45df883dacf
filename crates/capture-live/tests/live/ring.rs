//! The ring against real traffic: which copies of a datagram the kernel
//! delivers, on which interface, with what metadata, and the ifindex filter.

use crate::lab::{marker, payload, root, Netns, PAYLOAD_LEN};
use podwire_capture_live::{Ring, RingConfig, LINKTYPE_ETHERNET};
use std::collections::BTreeMap;
use std::net::UdpSocket;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

const LIMIT: Duration = Duration::from_secs(10);

const HOST: u8 = libc::PACKET_HOST;
const OUTGOING: u8 = libc::PACKET_OUTGOING;
/// Ethernet + IPv4 + UDP headers in front of the payload.
const FRAME_LEN: u32 = 14 + 20 + 8 + PAYLOAD_LEN as u32;

/// What the ring delivered: per (ifindex, pkttype), the marker sequence
/// numbers in arrival order; plus the ifindex of every frame, marked or not.
#[derive(Default)]
struct Capture {
    marked: BTreeMap<(u32, u8), Vec<u32>>,
    all_ifindexes: Vec<u32>,
    blocks: usize,
}

impl Capture {
    fn marked_count(&self) -> usize {
        self.marked.values().map(Vec::len).sum()
    }
}

/// Reads until `want` marked frames arrived (or `limit` passed), then
/// `settle` more so that extra copies would be caught too.
fn collect_settling(
    ring: &mut Ring,
    run: u32,
    want: usize,
    limit: Duration,
    settle_for: Duration,
) -> Capture {
    let mut cap = Capture::default();
    let deadline = Instant::now() + limit;
    let mut settle: Option<Instant> = None;
    loop {
        let now = Instant::now();
        match settle {
            Some(end) if now >= end => break,
            None if now >= deadline => break,
            None if cap.marked_count() >= want => settle = Some(now + settle_for),
            _ => {}
        }
        let Some(block) = ring
            .next_block(Duration::from_millis(50))
            .expect("next_block")
        else {
            continue;
        };
        cap.blocks += 1;
        assert_eq!(
            block.frames().count(),
            block.len(),
            "every frame the kernel counted is walked"
        );
        for frame in &block {
            cap.all_ifindexes.push(frame.ifindex);
            let wall = SystemTime::now()
                .duration_since(UNIX_EPOCH)
                .expect("clock")
                .as_nanos() as u64;
            assert!(
                frame.ts_ns.abs_diff(wall) < 60_000_000_000,
                "timestamp {} vs now {wall}",
                frame.ts_ns
            );
            if let Some(seq) = marker(&frame, run) {
                assert_eq!(frame.link, LINKTYPE_ETHERNET);
                assert_eq!(frame.orig_len, FRAME_LEN, "orig_len of seq {seq}");
                assert_eq!(frame.data.len(), FRAME_LEN as usize, "whole frame captured");
                assert_eq!(frame.vlan_tci, None);
                cap.marked
                    .entry((frame.ifindex, frame.pkttype))
                    .or_default()
                    .push(seq);
            }
        }
    }
    cap
}

fn collect(ring: &mut Ring, run: u32, want: usize, limit: Duration) -> Capture {
    collect_settling(ring, run, want, limit, Duration::from_millis(300))
}

/// Reads and discards until the ring has been idle for 300 ms.
fn drain(ring: &mut Ring) {
    let deadline = Instant::now() + Duration::from_secs(3);
    while Instant::now() < deadline {
        if ring
            .next_block(Duration::from_millis(300))
            .expect("next_block")
            .is_none()
        {
            return;
        }
    }
}

fn send(sock: &UdpSocket, run: u32, seqs: std::ops::Range<u32>, to: &str) {
    for seq in seqs {
        sock.send_to(&payload(run, seq), to).expect("send");
    }
}

/// The lab plus a route that makes 10.77.0.3 a neighbour on `a` whose MAC is
/// `b`'s: datagrams leave through `a` and arrive on `b`. (10.77.0.2 itself
/// is a local address, so traffic to it goes over `lo`; see the loopback test.)
fn through_the_veth() -> Netns {
    let ns = Netns::veth_pair();
    let mac_b = ns.mac("b");
    ns.ip(&["route", "add", "10.77.0.3/32", "dev", "a"]);
    ns.ip(&[
        "neigh",
        "add",
        "10.77.0.3",
        "lladdr",
        &mac_b,
        "dev",
        "a",
        "nud",
        "permanent",
    ]);
    ns
}

#[test]
fn veth_datagram_is_seen_leaving_a_and_arriving_at_b_exactly_once_each() {
    let Some(_serial) = root("opening a packet ring") else {
        return;
    };
    let ns = through_the_veth();
    let (a, b) = (ns.ifindex("a"), ns.ifindex("b"));
    let mut ring = ns
        .enter(|| Ring::open(&RingConfig::default()))
        .expect("open ring");
    let sock = ns.udp("10.77.0.1:0");
    const N: u32 = 500;
    let run = 1;
    send(&sock, run, 0..N, "10.77.0.3:47001");

    let cap = collect(&mut ring, run, 2 * N as usize, LIMIT);
    let every: Vec<u32> = (0..N).collect();
    let expected = BTreeMap::from([((a, OUTGOING), every.clone()), ((b, HOST), every)]);
    assert_eq!(cap.marked, expected, "a={a} b={b}");

    let stats = ring.stats().expect("stats");
    assert_eq!(stats.drops, 0);
    assert!(stats.packets >= 2 * u64::from(N), "{stats:?}");
    // The kernel resets its counters on read; ours accumulate.
    assert_eq!(ring.stats().expect("stats"), stats);
}

#[test]
fn a_small_ring_wraps_many_times_without_loss_or_reordering() {
    let Some(_serial) = root("opening a packet ring") else {
        return;
    };
    let ns = through_the_veth();
    let (a, b) = (ns.ifindex("a"), ns.ifindex("b"));
    // One page per block: a burst of 8 datagrams (16 frames) fills most of one.
    let cfg = RingConfig {
        block_size: 4096,
        block_count: 4,
        block_timeout_ms: 5,
        ..RingConfig::default()
    };
    let mut ring = ns.enter(|| Ring::open(&cfg)).expect("open ring");
    let sock = ns.udp("10.77.0.1:0");
    let mut total = Capture::default();
    for burst in 0..50 {
        send(&sock, 1, burst * 8..burst * 8 + 8, "10.77.0.3:47005");
        let cap = collect_settling(&mut ring, 1, 16, LIMIT, Duration::ZERO);
        total.blocks += cap.blocks;
        for (key, seqs) in cap.marked {
            total.marked.entry(key).or_default().extend(seqs);
        }
    }
    // Late duplicates would show up here.
    let late = collect(&mut ring, 1, 0, Duration::ZERO);
    assert!(late.marked.is_empty(), "{:?}", late.marked);
    let every: Vec<u32> = (0..400).collect();
    assert_eq!(
        total.marked,
        BTreeMap::from([((a, OUTGOING), every.clone()), ((b, HOST), every)])
    );
    assert!(
        total.blocks >= 50,
        "the ring went round {} blocks",
        total.blocks
    );
    assert_eq!(ring.stats().expect("stats").drops, 0);
}

#[test]
fn interface_filter_keeps_only_the_listed_interfaces() {
    let Some(_serial) = root("opening a packet ring") else {
        return;
    };
    let ns = through_the_veth();
    let (a, b) = (ns.ifindex("a"), ns.ifindex("b"));
    let mut ring = ns
        .enter(|| Ring::open(&RingConfig::default()))
        .expect("open ring");
    let sock = ns.udp("10.77.0.1:0");
    const N: u32 = 50;

    // Only b: the outgoing copies on a are filtered in the kernel.
    ring.set_interfaces(Some(&[b])).expect("filter b");
    drain(&mut ring);
    send(&sock, 1, 0..N, "10.77.0.3:47002");
    let cap = collect(&mut ring, 1, N as usize, LIMIT);
    assert_eq!(cap.marked, BTreeMap::from([((b, HOST), (0..N).collect())]));
    assert!(
        cap.all_ifindexes.iter().all(|&i| i == b),
        "{:?}",
        cap.all_ifindexes
    );

    // An empty list: nothing at all.
    ring.set_interfaces(Some(&[])).expect("filter none");
    drain(&mut ring);
    send(&sock, 2, 0..N, "10.77.0.3:47002");
    let cap = collect(&mut ring, 2, usize::MAX, Duration::from_secs(1));
    assert!(cap.all_ifindexes.is_empty(), "{:?}", cap.all_ifindexes);

    // None: every interface again.
    ring.set_interfaces(None).expect("no filter");
    drain(&mut ring);
    send(&sock, 3, 0..N, "10.77.0.3:47002");
    let cap = collect(&mut ring, 3, 2 * N as usize, LIMIT);
    let every: Vec<u32> = (0..N).collect();
    assert_eq!(
        cap.marked,
        BTreeMap::from([((a, OUTGOING), every.clone()), ((b, HOST), every)])
    );

    let list: Vec<u32> = (1..=5000).collect();
    assert!(ring.set_interfaces(Some(&list)).is_err());
}

#[test]
fn loopback_shows_each_datagram_twice_as_ethernet() {
    let Some(_serial) = root("opening a packet ring") else {
        return;
    };
    let ns = Netns::veth_pair();
    let lo = ns.ifindex("lo");
    let mut ring = ns
        .enter(|| Ring::open(&RingConfig::default()))
        .expect("open ring");
    // A receiver, so no ICMP port-unreachable follows each datagram.
    let receiver = ns.udp("10.77.0.2:47003");
    let sock = ns.udp("10.77.0.1:0");
    const N: u32 = 100;
    send(&sock, 1, 0..N, "10.77.0.2:47003");

    let cap = collect(&mut ring, 1, 2 * N as usize, LIMIT);
    let every: Vec<u32> = (0..N).collect();
    assert_eq!(
        cap.marked,
        BTreeMap::from([((lo, HOST), every.clone()), ((lo, OUTGOING), every)])
    );
    let mut buf = [0u8; 128];
    assert_eq!(receiver.recv(&mut buf).expect("delivered"), PAYLOAD_LEN);
}

#[test]
fn snaplen_cuts_frames_but_keeps_orig_len() {
    let Some(_serial) = root("opening a packet ring") else {
        return;
    };
    let ns = through_the_veth();
    let b = ns.ifindex("b");
    let cfg = RingConfig {
        snaplen: Some(20),
        ..RingConfig::default()
    };
    let mut ring = ns.enter(|| Ring::open(&cfg)).expect("open ring");
    ring.set_interfaces(Some(&[b])).expect("filter b");
    let sock = ns.udp("10.77.0.1:0");
    send(&sock, 1, 0..10, "10.77.0.3:47004");
    let mut lens = Vec::new();
    let deadline = Instant::now() + Duration::from_secs(5);
    while lens.len() < 10 && Instant::now() < deadline {
        if let Some(block) = ring
            .next_block(Duration::from_millis(50))
            .expect("next_block")
        {
            lens.extend(block.frames().map(|f| (f.data.len(), f.orig_len)));
        }
    }
    assert_eq!(lens, vec![(20, FRAME_LEN); 10]);
}

#[test]
fn bad_geometry_is_refused_before_any_syscall() {
    let bad = RingConfig {
        block_size: 1000,
        ..RingConfig::default()
    };
    assert!(Ring::open(&bad).is_err());
    let bad = RingConfig {
        frame_size: 100,
        ..RingConfig::default()
    };
    assert!(Ring::open(&bad).is_err());
    let bad = RingConfig {
        block_count: 0,
        ..RingConfig::default()
    };
    assert!(Ring::open(&bad).is_err());
}
