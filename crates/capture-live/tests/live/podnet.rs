//! Finding a pod's host-side veth from its address, and a ring that sees
//! only that interface through a caller's filter.

use crate::lab::{root, Netns};
use podwire_capture_live::podnet::{host_side, HostSide};
use podwire_capture_live::{Ring, RingConfig};
use std::net::IpAddr;
use std::time::{Duration, Instant};

/// A "node" namespace with two "pods": each a namespace whose `eth0` is a
/// veth to the node (`vA`, `vB`) holding 10.66.0.{2,3}, the way a routed
/// CNI wires them (a bridge does not change what the lookup reads).
fn node_with_two_pods() -> (Netns, Netns, Netns) {
    let (node, a, b) = (Netns::new(), Netns::new(), Netns::new());
    for (pod, host, ip) in [(&a, "vA", "10.66.0.2/24"), (&b, "vB", "10.66.0.3/24")] {
        node.ip(&[
            "link", "add", "name", host, "type", "veth", "peer", "name", "eth0", "netns", &pod.name,
        ]);
        node.ip(&["link", "set", "dev", host, "up"]);
        pod.ip(&["addr", "add", ip, "dev", "eth0"]);
        pod.ip(&["link", "set", "dev", "eth0", "up"]);
    }
    node.ip(&["addr", "add", "10.66.0.1/32", "dev", "lo"]);
    (node, a, b)
}

#[test]
fn a_pod_address_leads_to_its_host_side_veth() {
    let Some(_serial) = root("creating network namespaces") else {
        return;
    };
    let (node, _a, _b) = node_with_two_pods();
    let look = |ip: &str| {
        let ip: IpAddr = ip.parse().unwrap();
        node.enter(move || host_side(ip)).expect("lookup")
    };
    match look("10.66.0.2") {
        HostSide::Veth(l) => assert_eq!(l.name, "vA"),
        other => panic!("{other:?}"),
    }
    match look("10.66.0.3") {
        HostSide::Veth(l) => assert_eq!(l.name, "vB"),
        other => panic!("{other:?}"),
    }
    match look("10.66.0.1") {
        HostSide::Local(l) => assert_eq!(l.name, "lo"),
        other => panic!("{other:?}"),
    }
    assert_eq!(look("10.66.0.9"), HostSide::NotFound);
}

#[test]
fn a_ring_on_one_interface_keeps_what_its_program_accepts() {
    let Some(_serial) = root("opening a packet ring") else {
        return;
    };
    let (node, a, b) = node_with_two_pods();
    let va = node.ifindex("vA");
    // Accept UDP (ethertype IPv4, protocol 17) with 64 bytes kept; drop the rest.
    let prog = [
        libc::sock_filter {
            code: 0x28,
            jt: 0,
            jf: 0,
            k: 12,
        },
        libc::sock_filter {
            code: 0x15,
            jt: 0,
            jf: 3,
            k: 0x0800,
        },
        libc::sock_filter {
            code: 0x30,
            jt: 0,
            jf: 0,
            k: 23,
        },
        libc::sock_filter {
            code: 0x15,
            jt: 0,
            jf: 1,
            k: 17,
        },
        libc::sock_filter {
            code: 0x06,
            jt: 0,
            jf: 0,
            k: 64,
        },
        libc::sock_filter {
            code: 0x06,
            jt: 0,
            jf: 0,
            k: 0,
        },
    ];
    let cfg = RingConfig {
        block_size: 1 << 16,
        block_count: 4,
        block_timeout_ms: 10,
        ..RingConfig::default()
    };
    let mut ring = node
        .enter(|| Ring::open_on(&cfg, va, &prog))
        .expect("open ring");
    // Pod A sends UDP and pings (ICMP, filtered out) toward the node, pod B
    // sends UDP on its own veth (another interface: not seen).
    a.ip(&["route", "add", "default", "dev", "eth0"]);
    b.ip(&["route", "add", "default", "dev", "eth0"]);
    let sa = a.udp("10.66.0.2:0");
    let sb = b.udp("10.66.0.3:0");
    for _ in 0..5 {
        sa.send_to(&[7u8; 300], "10.66.0.1:9").expect("send a");
        sb.send_to(&[8u8; 300], "10.66.0.1:9").expect("send b");
    }
    let _ = std::process::Command::new("ip")
        .args([
            "netns",
            "exec",
            &a.name,
            "ping",
            "-c",
            "2",
            "-i",
            "0.2",
            "-W",
            "1",
            "10.66.0.1",
        ])
        .output();
    let (mut seen, mut cut) = (0, 0);
    let start = Instant::now();
    while start.elapsed() < Duration::from_millis(500) {
        if let Some(block) = ring.next_block(Duration::from_millis(50)).expect("read") {
            for f in &block {
                assert_eq!(f.ifindex, va, "only vA");
                assert_eq!(f.data.get(23), Some(&17), "only UDP");
                assert_eq!(f.data[14 + 12..14 + 16], [10, 66, 0, 2], "only pod A's");
                seen += 1;
                cut += usize::from(f.data.len() == 64 && f.orig_len == 342);
            }
        }
    }
    assert_eq!(
        (seen, cut),
        (5, 5),
        "five UDP frames from A, cut to 64 bytes"
    );
    assert!(Ring::open_on(&cfg, 0, &prog).is_err(), "index 0 is refused");
    assert!(
        Ring::open_on(&cfg, va, &[]).is_err(),
        "an empty program is refused"
    );
}
