//! [`Skip`] in a real kernel: TCP of listed sockets and loopback's outgoing
//! copies never reach the ring, IPv4 and IPv6, read at the kernel's network
//! header; everything else does, once.

use crate::lab::{root, run, Netns};
use podwire_capture_live::{Ring, RingConfig, Skip, LINKTYPE_ETHERNET};
use std::collections::BTreeMap;
use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::time::{Duration, Instant};

/// The listed port, and another one on the same addresses.
const OWN: u16 = 46676;
const OTHER: u16 = 46677;

/// Frames of the test's connections: (family, port, pkttype) -> count.
type Seen = BTreeMap<(u8, u16, u8), usize>;

/// The TCP ports of an Ethernet-framed IPv4 or IPv6 (no extension header)
/// frame, with the IP version.
fn ports(data: &[u8]) -> Option<(u8, u16, u16)> {
    let ethertype = u16::from_be_bytes([*data.get(12)?, *data.get(13)?]);
    let (version, l4) = match ethertype {
        0x0800 if *data.get(14 + 9)? == 6 => (4, 14 + 4 * usize::from(data.get(14)? & 0xf)),
        0x86dd if *data.get(14 + 6)? == 6 => (6, 14 + 40),
        _ => return None,
    };
    let p = data.get(l4..l4 + 4)?;
    Some((
        version,
        u16::from_be_bytes([p[0], p[1]]),
        u16::from_be_bytes([p[2], p[3]]),
    ))
}

/// One connection to each listener, 64 KiB each way, closed.
fn talk(ns: &Netns, listeners: &[TcpListener]) {
    let servers: Vec<_> = listeners
        .iter()
        .map(|l| {
            let l = l.try_clone().expect("clone listener");
            std::thread::spawn(move || {
                let (mut s, _) = l.accept().expect("accept");
                let mut buf = Vec::new();
                s.read_to_end(&mut buf).expect("read");
                s.write_all(&buf).expect("echo");
            })
        })
        .collect();
    for l in listeners {
        let to: SocketAddr = l.local_addr().expect("addr");
        let mut c = ns.enter(move || TcpStream::connect(to)).expect("connect");
        c.write_all(&[7u8; 65536]).expect("write");
        c.shutdown(std::net::Shutdown::Write).expect("shutdown");
        let mut back = Vec::new();
        c.read_to_end(&mut back).expect("read back");
        assert_eq!(back.len(), 65536);
    }
    for s in servers {
        s.join().expect("server");
    }
}

/// Reads until the ring has been idle for 300 ms (at most 5 s).
fn collect(ring: &mut Ring) -> Seen {
    let mut seen = Seen::new();
    let deadline = Instant::now() + Duration::from_secs(5);
    while Instant::now() < deadline {
        let Some(block) = ring
            .next_block(Duration::from_millis(300))
            .expect("next_block")
        else {
            break;
        };
        for f in &block {
            assert_eq!(f.link, LINKTYPE_ETHERNET, "loopback frames as Ethernet");
            if let Some((v, s, d)) = ports(f.data) {
                for p in [s, d].into_iter().filter(|p| [OWN, OTHER].contains(p)) {
                    *seen.entry((v, p, f.pkttype)).or_default() += 1;
                }
            }
        }
    }
    seen
}

fn count(seen: &Seen, f: impl Fn(u8, u16, u8) -> bool) -> usize {
    seen.iter()
        .filter(|((v, p, t), _)| f(*v, *p, *t))
        .map(|(_, n)| n)
        .sum()
}

#[test]
fn the_skip_prefix_keeps_listed_tcp_and_loopbacks_second_copy_out_of_the_ring() {
    let Some(_serial) = root("opening a packet ring") else {
        return;
    };
    let ns = Netns::new();
    run(
        "ip",
        &[
            "netns",
            "exec",
            &ns.name,
            "sh",
            "-c",
            "echo 0 > /proc/sys/net/ipv6/conf/lo/disable_ipv6",
        ],
    );
    let mut ring = ns
        .enter(|| Ring::open(&RingConfig::default()))
        .expect("open ring");
    let listeners: Vec<TcpListener> = ns
        .enter(|| {
            ["127.0.0.1", "[::1]"]
                .iter()
                .flat_map(|a| [OWN, OTHER].map(|p| format!("{a}:{p}")))
                .map(|a| TcpListener::bind(a.as_str()))
                .collect::<Result<_, _>>()
        })
        .expect("listen");
    let outgoing = libc::PACKET_OUTGOING;

    // Without the prefix: every packet twice, the listed port's included.
    talk(&ns, &listeners);
    let before = collect(&mut ring);
    for v in [4, 6] {
        for p in [OWN, OTHER] {
            let out = count(&before, |fv, fp, t| fv == v && fp == p && t == outgoing);
            let back = count(&before, |fv, fp, t| fv == v && fp == p && t != outgoing);
            assert!(out > 0 && out == back, "IPv{v} port {p}: {before:?}");
        }
    }

    let skip = Skip {
        loopback_outgoing: true,
        addrs: vec!["127.0.0.1".parse().unwrap(), "::1".parse().unwrap()],
        ports: vec![OWN],
    };
    ring.set_filter(&skip, None).expect("set filter");
    talk(&ns, &listeners);
    let after = collect(&mut ring);
    assert_eq!(count(&after, |_, p, _| p == OWN), 0, "{after:?}");
    assert_eq!(count(&after, |_, _, t| t == outgoing), 0, "{after:?}");
    for v in [4, 6] {
        let n = count(&after, |fv, fp, _| fv == v && fp == OTHER);
        let was = count(&before, |fv, fp, t| fv == v && fp == OTHER && t != outgoing);
        // The same exchange again: about as many packets as the first time
        // (acks may coalesce differently), each once.
        assert!(n > 0 && n.abs_diff(was) * 4 <= was, "IPv{v}: {n} vs {was}");
    }
    assert_eq!(ring.stats().expect("stats").drops, 0);
}
